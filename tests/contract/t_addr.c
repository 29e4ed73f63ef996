/* SPDX-License-Identifier: MIT */
/* Contract: bad addresses are IPC_EINVAL (with a detail) before any object
 * is made. */
#include "contract.h"

#include <stdio.h>
#include <string.h>

/* Try opts on the test's mode (pair, or a fresh name as creator) and expect
 * want; a failure makes nothing. Mismatches are printed and counted, so
 * that one run lists them all. */
static int try_opts(struct ct_fx *fx, const char *opts, ipc_err want)
{
    char addr[CT_ADDR_MAX], path[CT_ADDR_MAX];
    ipc_err got;
    if (ct_named(fx)) {
        const char *name = ct_new_name(fx);
        ipc_channel *ch = NULL;
        ct_addr_opts(addr, sizeof addr, name, opts);
        got = ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &ch);
        if (got == IPC_OK)
            ipc_close(ch);
        else
            assert_null(ch);
        if (got != IPC_OK && ct_fs_path(fx, name, path, sizeof path) &&
            tu_path_exists(path))
            fail_msg("failed open of %s made %s", addr, path);
        bool left = ipc_unlink(name) == IPC_OK;
        ct_drop_last_name(fx); /* reuse the slot: the name is checked here */
        if (left)
            fail_msg("left behind by %s", addr);
    } else {
        ipc_channel *ends[2] = {NULL, NULL};
        ct_pair_addr(fx, addr, sizeof addr, opts);
        got = ipc_pair(addr, 0, ends);
        if (got == IPC_OK) {
            ipc_close(ends[0]);
            ipc_close(ends[1]);
        } else {
            assert_null(ends[0]);
            assert_null(ends[1]);
        }
    }
    if (got != want) {
        print_error("address \"%s\": %s, expected %s (detail \"%s\")\n", addr,
                    ipc_errname(got), ipc_errname(want),
                    got == IPC_OK ? "" : ipc_last_detail());
        return 1;
    }
    if (want != IPC_OK && ipc_last_detail()[0] == '\0') {
        print_error("address \"%s\": no detail\n", addr);
        return 1;
    }
    return 0;
}

/* Unknown options, bad numbers, values out of range, control characters,
 * duplicate keys: IPC_EINVAL. */
static void test_bad_options(void **state)
{
    struct ct_fx *fx = *state;
    const struct ct_backend *be = fx->be;
    char opts[128];
    int bad_count = 0;

    static const char *const bad[] = {
        "bogus=1",
        "max_msg",
        "max_msg=",
        "max_msg=12x",
        "max_msg=-1",
        "max_msg=+1",
        "max_msg= 1",
        "max_msg=0x10",
        "max_msg=0",
        "max_msg=99999999999999999999999",
        "max_msg=64&max_msg=64",
        "max_msg=64&",
        "&max_msg=64",
        "max_msg=64&&max_msg=32",
        "max_msg=6\x01\x34", /* "6", a control character, "4" */
        "MAX_MSG=64",
        "max_msgs=64",
        "=64",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        bad_count += try_opts(fx, bad[i], IPC_EINVAL);

    snprintf(opts, sizeof opts, "max_msg=%zu", be->max_msg_max + 1);
    bad_count += try_opts(fx, opts, IPC_EINVAL);
    bad_count += try_opts(fx, "max_msg=64", IPC_OK);

    /* Options a backend does not take are unknown to it. */
    if (!be->takes_mode) {
        bad_count += try_opts(fx, "mode=0600", IPC_EINVAL);
    } else if (ct_named(fx)) {
        bad_count += try_opts(fx, "mode=0680", IPC_EINVAL);
        bad_count += try_opts(fx, "mode=01000", IPC_EINVAL);
        bad_count += try_opts(fx, "mode=", IPC_EINVAL);
    }
    if (!be->takes_peer_uid)
        bad_count += try_opts(fx, "peer_uid=0", IPC_EINVAL);
    else
        bad_count += try_opts(fx, "peer_uid=1x", IPC_EINVAL);
    if (!be->takes_capacity)
        bad_count += try_opts(fx, "capacity=4", IPC_EINVAL);
    else
        bad_count += try_opts(fx, "capacity=x", IPC_EINVAL);
    if (bad_count)
        fail_msg("%d address(es) answered wrongly (listed above)", bad_count);
}

/* ---------------------------------------------------------------- once */

/* An unknown or misspelt scheme is IPC_EINVAL everywhere. */
static void test_unknown_scheme(void **state)
{
    struct ct_fx *fx = *state;
    char addr[CT_ADDR_MAX];
    ipc_channel *ends[2] = {NULL, NULL}, *ch = NULL;

    snprintf(addr, sizeof addr, "%sx:", fx->be->scheme);
    assert_ipc_err(ipc_pair(addr, 0, ends), IPC_EINVAL);
    ct_detail_set();
    snprintf(addr, sizeof addr, "%sx:%s/ipct-none", fx->be->scheme,
             tu_tmpdir());
    assert_ipc_err(ipc_open(addr, IPC_F_CREATE | IPC_F_RECV, 0, &ch),
                   IPC_EINVAL);
    ct_detail_set();
    assert_ipc_err(ipc_unlink(addr), IPC_EINVAL);
    snprintf(addr, sizeof addr, "%s", fx->be->scheme); /* no colon */
    assert_ipc_err(ipc_pair(addr, 0, ends), IPC_EINVAL);
    snprintf(addr, sizeof addr, "%c%s:", fx->be->scheme[0] - 'a' + 'A',
             fx->be->scheme + 1);
    assert_ipc_err(ipc_pair(addr, 0, ends), IPC_EINVAL);
    assert_ipc_err(ipc_pair("", 0, ends), IPC_EINVAL);
    assert_ipc_err(ipc_pair(NULL, 0, ends), IPC_EINVAL);
    assert_ipc_err(ipc_open(NULL, IPC_F_SEND, 0, &ch), IPC_EINVAL);
    assert_ipc_err(ipc_unlink(NULL), IPC_EINVAL);
}

/* A pair takes no name: "scheme:/path" to ipc_pair is IPC_EINVAL. */
static void test_pair_named(void **state)
{
    struct ct_fx *fx = *state;
    char addr[CT_ADDR_MAX];
    ipc_channel *ends[2] = {NULL, NULL};

    snprintf(addr, sizeof addr, "%s:%s/ipct-pair", fx->be->scheme, tu_tmpdir());
    ipc_err want = fx->be->pair_caps ? IPC_EINVAL : IPC_ENOTSUP;
    assert_ipc_err(ipc_pair(addr, 0, ends), want);
    ct_detail_set();
    assert_null(ends[0]);
}

const struct ct_test ct_tests_addr[] = {
    {"bad_options", test_bad_options, CT_EACH_MODE},
    {"unknown_scheme", test_unknown_scheme, CT_ONCE},
    {"pair_named", test_pair_named, CT_ONCE},
    {NULL, NULL, CT_ONCE},
};
