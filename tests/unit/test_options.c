/* SPDX-License-Identifier: MIT */
/* Options that do not apply fail instead of being ignored: named-only
 * options given to a pair, and an adopted descriptor that is not open. */
#include <time.h> /* struct timespec, used by ipc_int.h prototypes */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc_int.h"

/* A value each key accepts when it does apply. */
static const char *options_value(enum ipc__key k)
{
    return k == IPC_KEY_MODE ? "0600" : k == IPC_KEY_PEER_UID ? "0" : "1";
}

/* Every built backend with pairs: each named-only key makes ipc_pair fail
 * with IPC_EINVAL naming the key, and nothing is made. */
static void test_named_keys_refused_by_pairs(void **state)
{
    (void)state;
    int refused = 0;
    for (size_t i = 0; ipc__backends[i]; i++) {
        const struct ipc_backend *be = ipc__backends[i];
        if (be->built_out || !(be->caps & IPC_CAP_PAIR))
            continue;
        for (int k = 0; k < IPC_KEY_COUNT; k++) {
            if (!(be->named_keys & IPC_KEYBIT(k)))
                continue;
            char addr[64];
            const char *key = ipc__key_name((enum ipc__key)k);
            snprintf(addr, sizeof addr, "%s:?%s=%s", be->scheme, key,
                     options_value((enum ipc__key)k));
            ipc_channel *ends[2] = {NULL, NULL};
            ipc_err err = ipc_pair(addr, 0, ends);
            if (err != IPC_EINVAL)
                fail_msg("%s: %s, not IPC_EINVAL", addr, ipc_errname(err));
            assert_non_null(strstr(ipc_last_detail(), key));
            assert_null(ends[0]);
            assert_null(ends[1]);
            refused++;
        }
    }
#if IPC_WITH_UNIX && IPC_WITH_MQ
    /* unix: mode and peer_uid; mq: mode. */
    assert_true(refused >= 3);
#endif
}

/* The same options still work where they apply: a SysV pair's queue is
 * reachable by its id, so its mode matters and is accepted. */
static void test_pair_mode_where_it_applies(void **state)
{
    (void)state;
#if IPC_WITH_SYSV
    ipc_channel *ends[2];
    ipc_err err = ipc_pair("sysv:?mode=0600", 0, ends);
    if (err != IPC_OK)
        fail_msg("sysv:?mode=0600: %s: %s", ipc_errname(err),
                 ipc_last_detail());
    ipc_close(ends[0]);
    ipc_close(ends[1]);
#else
    skip();
#endif
}

/* pipe:?fd=N of a descriptor that is not open: the caller's mistake,
 * IPC_EINVAL with a hint, not IPC_EIO. */
static void test_pipe_fd_not_open(void **state)
{
    (void)state;
#if IPC_WITH_PIPE
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    close(fds[1]);
    char addr[64];
    snprintf(addr, sizeof addr, "pipe:?fd=%d", fds[0]);
    ipc_channel *ch = NULL;
    ipc_err err = ipc_open(addr, IPC_F_RECV, 0, &ch);
    if (err != IPC_EINVAL)
        fail_msg("%s: %s, not IPC_EINVAL", addr, ipc_errname(err));
    assert_non_null(strstr(ipc_last_detail(), "not open"));
    assert_null(ch);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_keys_refused_by_pairs),
        cmocka_unit_test(test_pair_mode_where_it_applies),
        cmocka_unit_test(test_pipe_fd_not_open),
    };
    return cmocka_run_group_tests_name("unit.options", tests, NULL, NULL);
}
