/* SPDX-License-Identifier: MIT */
/* What a build without an OS feature answers (cmake/Backends.cmake): the
 * backend, or the one address form, that needs it is IPC_ENOTSUP "built
 * without ..." naming the feature, and the rest still works.
 *
 *   ipc_unit_built_out SCHEME WHY         a backend built out
 *   ipc_unit_built_out --form ADDR WHY    one address form cut (ADDR is a
 *                                         prefix, e.g. "unix:@")
 * WHY is the sentence the build recorded; the detail must contain it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <ipc/ipc.h>

static const char *bo_target; /* SCHEME, or ADDR with --form */
static const char *bo_why;

/* err is IPC_ENOTSUP and the thread's detail says why; an end opened by
 * mistake is closed (which removes what it made). */
static void bo_expect_enotsup(ipc_err err, ipc_channel *ch, const char *what)
{
    if (ch)
        ipc_close(ch);
    if (err != IPC_ENOTSUP)
        fail_msg("%s: %s, not IPC_ENOTSUP (%s)", what, ipc_errname(err),
                 ipc_last_detail());
    if (!strstr(ipc_last_detail(), "built without") ||
        !strstr(ipc_last_detail(), bo_why))
        fail_msg("%s: detail \"%s\" does not say \"%s\"", what,
                 ipc_last_detail(), bo_why);
}

/* A receiver, a sender and ipc_unlink of addr: each refused, saying why. */
static void bo_expect_named(const char *addr)
{
    ipc_channel *ch = NULL;
    bo_expect_enotsup(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &ch), ch,
        "ipc_open receiver");
    ch = NULL;
    bo_expect_enotsup(ipc_open(addr, IPC_F_SEND, 0, &ch), ch,
                      "ipc_open sender");
    bo_expect_enotsup(ipc_unlink(addr), NULL, "ipc_unlink");
}

/* Every entry point of a built-out backend refuses, and says why. */
static void test_backend_built_out(void **state)
{
    (void)state;
    char addr[128];
    unsigned caps = 1;
    ipc_channel *ends[2] = {NULL, NULL};

    bo_expect_enotsup(ipc_scheme_caps(bo_target, &caps), NULL,
                      "ipc_scheme_caps");
    assert_int_equal(caps, 0);
    snprintf(addr, sizeof addr, "%s:", bo_target);
    ipc_err err = ipc_pair(addr, 0, ends);
    if (err == IPC_OK)
        ipc_close(ends[1]);
    bo_expect_enotsup(err, ends[0], "ipc_pair");
    snprintf(addr, sizeof addr, "%s:/libipc-built-out-%ld", bo_target,
             (long)getpid());
    bo_expect_named(addr);
    /* Still a known scheme: ipc_scheme() lists it. */
    size_t i = 0;
    while (ipc_scheme(i) && strcmp(ipc_scheme(i), bo_target) != 0)
        i++;
    assert_non_null(ipc_scheme(i));
}

/* The form is refused everywhere; the backend's other forms still work. */
static void test_form_cut(void **state)
{
    (void)state;
    char addr[128], scheme[32], buf[8];
    ipc_channel *ends[2];
    size_t len = 0;
    unsigned caps = 0;

    snprintf(addr, sizeof addr, "%slibipc-built-out-%ld", bo_target,
             (long)getpid());
    bo_expect_named(addr);

    size_t n = strcspn(bo_target, ":");
    assert_true(n + 2 <= sizeof scheme);
    memcpy(scheme, bo_target, n);
    scheme[n] = '\0';
    assert_int_equal(ipc_scheme_caps(scheme, &caps), IPC_OK);
    assert_true(caps & IPC_CAP_PAIR); /* the cut forms are named ones */
    memcpy(scheme + n, ":", 2);
    assert_int_equal(ipc_pair(scheme, 0, ends), IPC_OK);
    assert_int_equal(ipc_send(ends[0], "ok", 2, 0, 1000), IPC_OK);
    assert_int_equal(ipc_recv(ends[1], buf, sizeof buf, &len, NULL, 1000),
                     IPC_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "ok", 2);
    ipc_close(ends[0]);
    ipc_close(ends[1]);
}

int main(int argc, char **argv)
{
    bool form = argc == 4 && strcmp(argv[1], "--form") == 0;
    if (argc != 3 && !form) {
        fprintf(stderr, "usage: %s SCHEME WHY | --form ADDR WHY\n", argv[0]);
        return 2;
    }
    bo_target = argv[argc - 2];
    bo_why = argv[argc - 1];
    const struct CMUnitTest backend[] = {
        cmocka_unit_test(test_backend_built_out),
    };
    const struct CMUnitTest cut[] = {
        cmocka_unit_test(test_form_cut),
    };
    if (form)
        return cmocka_run_group_tests_name("unit.built_out", cut, NULL, NULL);
    return cmocka_run_group_tests_name("unit.built_out", backend, NULL, NULL);
}
