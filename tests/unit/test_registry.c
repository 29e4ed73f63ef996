/* SPDX-License-Identifier: MIT */
/* White-box tests of the backend registry: every table agrees with its
 * capability bits; the version. */
#include <time.h> /* struct timespec, used by ipc_int.h prototypes */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ipc_int.h"

/* An optional op is present exactly when its capability bit is set. */
static void op_iff_cap(const struct ipc_backend *be, bool has_op, unsigned cap,
                       const char *op_name, const char *cap_name)
{
    bool has_cap = (be->caps & cap) != 0;
    if (has_op != has_cap)
        fail_msg("%s: op %s is %s but IPC_CAP_%s is %s", be->scheme, op_name,
                 has_op ? "set" : "NULL", cap_name, has_cap ? "set" : "clear");
}

#define OP_IFF_CAP(be, op, cap)                                                \
    op_iff_cap((be), (be)->op != NULL, IPC_CAP_##cap, #op, #cap)

static void test_backends(void **state)
{
    (void)state;
    size_t n = 0;
    for (; ipc__backends[n]; n++) {
        const struct ipc_backend *be = ipc__backends[n];
        assert_non_null(be->scheme);
        assert_true(strlen(be->scheme) > 0);
        assert_true(strlen(be->scheme) <= IPC_ADDR_SCHEME_MAX);
        /* Found by its scheme, and the only one with it. */
        assert_ptr_equal(ipc__backend_find(be->scheme), be);
        for (size_t j = 0; j < n; j++)
            assert_string_not_equal(ipc__backends[j]->scheme, be->scheme);

        if (be->built_out) {
            /* Owns its scheme and says why it is missing; does nothing. */
            char addr[64];
            ipc_channel *ends[2], *ch;
            assert_true(strlen(be->built_out) > 0);
            assert_int_equal(be->caps, 0);
            snprintf(addr, sizeof addr, "%s:", be->scheme);
            assert_int_equal(ipc_pair(addr, 0, ends), IPC_ENOTSUP);
            assert_non_null(strstr(ipc_last_detail(), "built without"));
            snprintf(addr, sizeof addr, "%s:/x", be->scheme);
            assert_int_equal(ipc_open(addr, IPC_F_SEND, 0, &ch), IPC_ENOTSUP);
            assert_int_equal(ipc_unlink(addr), IPC_ENOTSUP);
            continue;
        }
        assert_non_null(be->close);
        assert_non_null(be->send);
        assert_non_null(be->recv);
        /* open serves named channels, and the adoption of an inherited
         * end by an exec'd child ("pipe:?fd=N"): it exists exactly when
         * one of the two caps is set. */
        bool opens = be->caps & (IPC_CAP_NAMED | IPC_CAP_INHERIT);
        if ((be->open != NULL) != opens)
            fail_msg("%s: op open is %s but IPC_CAP_NAMED|INHERIT are %s",
                     be->scheme, be->open ? "set" : "NULL",
                     opens ? "set" : "clear");
        /* An end to adopt needs an address to hand the child. */
        if (be->caps & IPC_CAP_INHERIT)
            assert_non_null(be->address);
        OP_IFF_CAP(be, pair, PAIR);
        OP_IFF_CAP(be, pollfd, POLLABLE);
        OP_IFF_CAP(be, peer_uid, PEER_UID);
        OP_IFF_CAP(be, loan, ZERO_COPY);
        OP_IFF_CAP(be, commit, ZERO_COPY);
        OP_IFF_CAP(be, view, ZERO_COPY);
        OP_IFF_CAP(be, release, ZERO_COPY);
        /* A named backend can remove its objects by address. */
        if (be->caps & IPC_CAP_NAMED)
            assert_non_null(be->unlink);
        if ((be->max_prio == 0) != !(be->caps & IPC_CAP_PRIORITY))
            fail_msg("%s: max_prio %u with IPC_CAP_PRIORITY %s", be->scheme,
                     be->max_prio,
                     (be->caps & IPC_CAP_PRIORITY) ? "set" : "clear");
        /* A backend that can do capacity 0 must accept the key. */
        if (be->caps & IPC_CAP_RENDEZVOUS)
            assert_true(be->keys & IPC_KEYBIT(IPC_KEY_CAPACITY));
        /* Every backend takes max_msg, with a sane range. */
        assert_true(be->keys & IPC_KEYBIT(IPC_KEY_MAX_MSG));
        assert_true(be->limits.max_msg_default >= 1);
        assert_true(be->limits.max_msg_default <= be->limits.max_msg_max);
        if (be->keys & IPC_KEYBIT(IPC_KEY_CAPACITY))
            assert_true(be->limits.capacity_default <= be->limits.capacity_max);
        /* Only keys that exist. */
        assert_int_equal(be->keys & ~(IPC_KEYBIT(IPC_KEY_COUNT) - 1), 0);
        if (be->caps & IPC_CAP_NAMED)
            assert_true(be->limits.name_max > 0);
    }
    assert_true(n > 0);
    assert_null(ipc__backend_find("nosuch"));
    assert_null(ipc__backend_find(""));
}

/* The schemes the project ships all have a table entry, built or not. */
static void test_known_schemes(void **state)
{
    (void)state;
    assert_non_null(ipc__backend_find("pipe"));
    assert_non_null(ipc__backend_find("unix"));
    assert_non_null(ipc__backend_find("fifo"));
    assert_non_null(ipc__backend_find("mq"));
    assert_non_null(ipc__backend_find("sysv"));
    assert_non_null(ipc__backend_find("shm"));
}

static void test_version(void **state)
{
    (void)state;
    char want[32];
    assert_int_equal(ipc_version(), IPC_VERSION_NUM);
    assert_int_equal(IPC_VERSION_NUM, IPC_VERSION_MAJOR * 10000 +
                                          IPC_VERSION_MINOR * 100 +
                                          IPC_VERSION_PATCH);
    snprintf(want, sizeof want, "%d.%d.%d", IPC_VERSION_MAJOR,
             IPC_VERSION_MINOR, IPC_VERSION_PATCH);
    assert_string_equal(ipc_version_string(), want);
}

/* ipc_scheme() lists exactly the registry, in its order; ipc_scheme_caps()
 * reports each built backend's bits and refuses the rest. */
static void test_public_schemes(void **state)
{
    (void)state;
    size_t n = 0;
    for (; ipc__backends[n]; n++) {
        const struct ipc_backend *be = ipc__backends[n];
        assert_string_equal(ipc_scheme(n), be->scheme);
        unsigned caps = 0xdead;
        ipc_err err = ipc_scheme_caps(be->scheme, &caps);
        if (be->built_out) {
            assert_int_equal(err, IPC_ENOTSUP);
            assert_non_null(strstr(ipc_last_detail(), be->built_out));
            assert_int_equal(caps, 0);
        } else {
            assert_int_equal(err, IPC_OK);
            assert_int_equal(caps, be->caps);
        }
    }
    assert_null(ipc_scheme(n));
    assert_null(ipc_scheme(n + 1000));
    unsigned caps = 1;
    assert_int_equal(ipc_scheme_caps("nosuch", &caps), IPC_EINVAL);
    assert_non_null(strstr(ipc_last_detail(), "nosuch"));
    assert_int_equal(caps, 0);
    assert_int_equal(ipc_scheme_caps(NULL, &caps), IPC_EINVAL);
    assert_int_equal(ipc_scheme_caps("pipe", NULL), IPC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backends),
        cmocka_unit_test(test_known_schemes),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_public_schemes),
    };
    return cmocka_run_group_tests_name("unit.registry", tests, NULL, NULL);
}
