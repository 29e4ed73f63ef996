/* SPDX-License-Identifier: MIT */
/* The test toolkit itself (tests/common): a failed assert_ipc_err in a
 * child ends the child with TU_CHILD_FAILED, tu_child_end says how a child
 * ended, tu_kill_live ends what a test left, the leak scanner finds and
 * removes, a row's fs path follows its template. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends.h"
#include "check.h"
#include "leakscan.h"

static int child_fails_assert(void *arg)
{
    (void)arg;
    assert_ipc_err(IPC_EAGAIN, IPC_OK); /* exits TU_CHILD_FAILED */
    return 0;
}

static int child_segv(void *arg)
{
    (void)arg;
    raise(SIGSEGV);
    return 0;
}

static int child_sleeps(void *arg)
{
    (void)arg;
    sleep(60); /* killed long before */
    return 0;
}

static void test_child_assert_exits(void **state)
{
    (void)state;
    const char *end = tu_child_end(tu_spawn(child_fails_assert, NULL), 20000);
    assert_non_null(end);
    assert_non_null(strstr(end, "exit 97"));
    assert_false(tu_in_child());
}

static void test_child_end_says_how(void **state)
{
    (void)state;
    const char *end = tu_child_end(tu_spawn(child_segv, NULL), 20000);
    assert_non_null(end);
    assert_non_null(strstr(end, "signal SIGSEGV"));
    end = tu_child_end(tu_spawn(child_sleeps, NULL), 100);
    assert_non_null(end);
    assert_non_null(strstr(end, "hung: killed after 100 ms"));
    assert_non_null(tu_child_end(-1, 100));
}

static void test_kill_live(void **state)
{
    (void)state;
    pid_t pid = tu_spawn(child_sleeps, NULL);
    assert_true(tu_forked(pid));
    tu_kill_live();
    int st;
    /* Killed and reaped: no longer this process's child. */
    assert_int_equal(waitpid(pid, &st, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static bool ours_prefix(const char *what, void *arg)
{
    return strstr(what, arg) != NULL;
}

static void test_leak_scan(void **state)
{
    (void)state;
    char name[64], path[256];
    tu_unique(name, sizeof name, "ipctk");
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    assert_int_equal(mkfifo(path, 0600), 0);
    struct tu_leak_scan scan = {
        .ours = ours_prefix, .arg = name, .dirs = {tu_tmpdir(), NULL}};
    assert_int_equal(tu_leak_scan(&scan), 1);
    scan.remove = true;
    assert_int_equal(tu_leak_scan(&scan), 1);
    assert_false(tu_path_exists(path));
    assert_int_equal(tu_leak_scan(&scan), 0);
}

static void test_row_fs(void **state)
{
    (void)state;
    char buf[256];
    const struct tu_row *shm = tu_row_find("shm");
    assert_non_null(shm);
    assert_true(tu_row_fs(shm, "shm:/ipct-1?capacity=4", buf, sizeof buf));
    assert_string_equal(buf, "/dev/shm/ipct-1");
    assert_false(tu_row_fs(shm, "mq:/ipct-1", buf, sizeof buf));
    assert_false(tu_row_fs(tu_row_find("pipe"), "pipe:", buf, sizeof buf));
    uint32_t key = 0;
    tu_row_addr(tu_row_find("sysv"), "/tmp", "ipct", buf, sizeof buf, &key);
    assert_true(key != 0 && key >> 24 != 'I');
    char want[32];
    snprintf(want, sizeof want, "sysv:0x%08x", (unsigned)key);
    assert_string_equal(buf, want);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_assert_exits),
        cmocka_unit_test(test_child_end_says_how),
        cmocka_unit_test(test_kill_live),
        cmocka_unit_test(test_leak_scan),
        cmocka_unit_test(test_row_fs),
    };
    return tu_run_tests("unit.toolkit", tests, argc, argv);
}
