/* SPDX-License-Identifier: MIT */
/* White-box tests of error codes, names, messages, details, errno map. */
#include <time.h> /* struct timespec, used by ipc_int.h prototypes */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "ipc_int.h"

/* The numbers are ABI: written out here so that a renumbering fails. */
static void test_numbers(void **state)
{
    (void)state;
    assert_int_equal(IPC_OK, 0);
    assert_int_equal(IPC_EINVAL, 1);
    assert_int_equal(IPC_ENOTSUP, 2);
    assert_int_equal(IPC_EAGAIN, 3);
    assert_int_equal(IPC_ETIMEDOUT, 4);
    assert_int_equal(IPC_EMSGSIZE, 5);
    assert_int_equal(IPC_ECLOSED, 6);
    assert_int_equal(IPC_EEXIST, 7);
    assert_int_equal(IPC_ENOENT, 8);
    assert_int_equal(IPC_EACCES, 9);
    assert_int_equal(IPC_ENOMEM, 10);
    assert_int_equal(IPC_ELIMIT, 11);
    assert_int_equal(IPC_EPROTO, 12);
    assert_int_equal(IPC_EBUSY, 13);
    assert_int_equal(IPC_EIO, 14);
    assert_int_equal(IPC_EOWNERDEAD, 15);
    assert_int_equal(IPC_ENOTRECOVERABLE, 16);
    assert_int_equal(IPC_EBROKEN, 17);
    assert_int_equal(IPC_ENOTOWNER, 18);
    assert_int_equal(IPC_ELOST, 19);
}

/* Every code of IPC_ERRNO_MAP has its name and its message. */
static void test_names_messages(void **state)
{
    (void)state;
    static const struct {
        ipc_err code;
        const char *name;
        const char *msg;
    } map[] = {
#define ROW_(name, num, msg) {IPC_##name, "IPC_" #name, msg},
        IPC_ERRNO_MAP(ROW_)
#undef ROW_
    };
    size_t n = sizeof map / sizeof map[0];
    assert_int_equal(n, 20);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ipc_errname(map[i].code), map[i].name);
        assert_string_equal(ipc_strerror(map[i].code), map[i].msg);
        assert_true(strlen(map[i].msg) > 0);
        /* Names and messages are distinct across codes. */
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(map[i].code, map[j].code);
            assert_string_not_equal(map[i].msg, map[j].msg);
        }
    }
}

static void test_unknown_code(void **state)
{
    (void)state;
    static const int unknown[] = {999, 99, 1000, -1, -100};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ipc_err e = (ipc_err)unknown[i];
        const char *msg = ipc_strerror(e);
        const char *name = ipc_errname(e);
        assert_non_null(msg);
        assert_non_null(name);
        assert_true(msg[0] != '\0');
        assert_string_equal(name, "IPC_E?");
    }
}

static void test_errno_map(void **state)
{
    (void)state;
    static const struct {
        int errnum;
        ipc_err code;
    } map[] = {
        {EAGAIN, IPC_EAGAIN},
        {EWOULDBLOCK, IPC_EAGAIN},
        {ETIMEDOUT, IPC_ETIMEDOUT},
        {EPIPE, IPC_ECLOSED},
        {ECONNRESET, IPC_ECLOSED},
        {EIDRM, IPC_ECLOSED},
        {EEXIST, IPC_EEXIST},
        {EADDRINUSE, IPC_EEXIST},
        {ENOENT, IPC_ENOENT},
        {EACCES, IPC_EACCES},
        {EPERM, IPC_EACCES},
        {ENOMEM, IPC_ENOMEM},
        {EMFILE, IPC_ELIMIT},
        {ENFILE, IPC_ELIMIT},
        {ENOSPC, IPC_ELIMIT},
        {EMSGSIZE, IPC_EMSGSIZE},
        {ENAMETOOLONG, IPC_EINVAL},
        {EINVAL, IPC_EINVAL},
        /* The library's own additions (error.c). */
        {ECONNREFUSED, IPC_ECLOSED},
        {ENOBUFS, IPC_ENOMEM},
        {EFBIG, IPC_ELIMIT},
        {EBUSY, IPC_EBUSY},
        {ENOTSUP, IPC_ENOTSUP},
        {0, IPC_OK},
        /* Anything else is unexpected: IPC_EIO. */
        {EBADF, IPC_EIO},
        {EFAULT, IPC_EIO},
        {EXDEV, IPC_EIO},
        {ESPIPE, IPC_EIO},
        {ENOTDIR, IPC_EIO},
        {EISDIR, IPC_EIO},
        {EROFS, IPC_EIO},
        {ELOOP, IPC_EIO},
        {ENOTSOCK, IPC_EIO},
        {EDOM, IPC_EIO},
        {12345, IPC_EIO},
        {-1, IPC_EIO},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        ipc_err got = ipc__errno_code(map[i].errnum);
        if (got != map[i].code)
            fail_msg("errno %d (%s): %s, expected %s", map[i].errnum,
                     strerror(map[i].errnum), ipc_errname(got),
                     ipc_errname(map[i].code));
    }
    /* EINTR is retried inside the library and never mapped to a result a
     * caller could take for success or for "try again". */
    assert_int_not_equal(ipc__errno_code(EINTR), IPC_OK);
    assert_int_not_equal(ipc__errno_code(EINTR), IPC_EAGAIN);
}

static void test_detail(void **state)
{
    (void)state;
    ipc__clear_detail();
    assert_string_equal(ipc_last_detail(), "");
    assert_int_equal(ipc__fail(IPC_ELIMIT, "mq: %s %d", "limit", 42),
                     IPC_ELIMIT);
    assert_string_equal(ipc_last_detail(), "mq: limit 42");
    ipc__clear_detail();
    assert_string_equal(ipc_last_detail(), "");

    /* ipc__errno: mapped code, and a detail naming the call and errno. */
    assert_int_equal(ipc__errno(EACCES, "unix: connect %s", "/x"), IPC_EACCES);
    const char *d = ipc_last_detail();
    assert_true(strncmp(d, "unix: connect /x", 16) == 0);
    assert_non_null(strstr(d, strerror(EACCES)));

    /* Out of descriptors: the detail names the limit and its value. */
    struct rlimit rl;
    char want[64];
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_int_equal(ipc__errno(EMFILE, "pipe: pipe2"), IPC_ELIMIT);
    if (rl.rlim_cur == RLIM_INFINITY)
        snprintf(want, sizeof want, "(RLIMIT_NOFILE unlimited)");
    else
        snprintf(want, sizeof want, "(RLIMIT_NOFILE %llu)",
                 (unsigned long long)rl.rlim_cur);
    assert_non_null(strstr(ipc_last_detail(), want));
    assert_int_equal(ipc__errno(ENFILE, "unix: socket"), IPC_ELIMIT);
    assert_non_null(strstr(ipc_last_detail(), "/proc/sys/fs/file-max"));

    /* A long detail is cut, never overflows. */
    static char longmsg[4000];
    memset(longmsg, 'x', sizeof longmsg - 1);
    assert_int_equal(ipc__fail(IPC_EIO, "%s", longmsg), IPC_EIO);
    assert_true(strlen(ipc_last_detail()) > 0);
    assert_true(strlen(ipc_last_detail()) < sizeof longmsg - 1);
}

static char seen_by_thread[64];

static void *other_thread(void *arg)
{
    (void)arg;
    /* A new thread starts with no detail, whatever the others did. */
    snprintf(seen_by_thread, sizeof seen_by_thread, "[%s]", ipc_last_detail());
    ipc__fail(IPC_EBUSY, "set in another thread");
    return NULL;
}

/* The detail is per thread. */
static void test_detail_thread(void **state)
{
    (void)state;
    pthread_t th;
    ipc__fail(IPC_EIO, "mine");
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    pthread_join(th, NULL);
    assert_string_equal(ipc_last_detail(), "mine");
    assert_string_equal(seen_by_thread, "[]");
}

/* A failing public call leaves a detail. */
static void test_public_detail(void **state)
{
    (void)state;
    ipc_channel *ch = NULL;
    ipc__clear_detail();
    assert_int_equal(ipc_open("nosuchscheme:/x", IPC_F_SEND, 0, &ch),
                     IPC_EINVAL);
    assert_true(ipc_last_detail()[0] != '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_names_messages),
        cmocka_unit_test(test_unknown_code),
        cmocka_unit_test(test_errno_map),
        cmocka_unit_test(test_detail),
        cmocka_unit_test(test_detail_thread),
        cmocka_unit_test(test_public_detail),
    };
    return cmocka_run_group_tests_name("unit.error", tests, NULL, NULL);
}
