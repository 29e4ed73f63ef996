/* SPDX-License-Identifier: MIT */
/* The assertions every test program shares: an ipc_err with libipc's
 * detail, a child that must exit with 0. cmocka's public macros only;
 * usable in children made by tu_fork() too. */
#ifndef IPC_TEST_CHECK_H
#define IPC_TEST_CHECK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ipc/ipc.h"
#include "testutil.h"

/* Assert that expr (an ipc_err) is want. On a mismatch the call, both
 * codes by name and number, libipc's detail and the caller's file:line are
 * printed; the test fails (cmocka's fail_msg), or in a child of tu_fork()
 * the child leaves with TU_CHILD_FAILED, which its reaper reports. */
#define assert_ipc_err(expr, want)                                             \
    do {                                                                       \
        ipc_err tu_got_ = (expr), tu_want_ = (want);                           \
        if (tu_got_ != tu_want_) {                                             \
            tu_err_mismatch(tu_got_, tu_want_, #expr, __FILE__, __LINE__);     \
            fail_msg("%s:%d: %s\n  returned %s (%d), expected %s (%d)\n"       \
                     "  detail: \"%s\"",                                       \
                     __FILE__, __LINE__, #expr, ipc_errname(tu_got_),          \
                     (int)tu_got_, ipc_errname(tu_want_), (int)tu_want_,       \
                     ipc_last_detail());                                       \
        }                                                                      \
    } while (0)

/* Assert that a child ended with exit 0 within ms (else it is killed):
 * the failure says how it ended (exit code, signal by name, hung). */
#define assert_child_ok(pid, ms)                                               \
    do {                                                                       \
        pid_t tu_pid_ = (pid);                                                 \
        const char *tu_end_ = tu_child_end(tu_pid_, (ms));                     \
        if (tu_end_)                                                           \
            fail_msg("%s:%d: child %ld: %s", __FILE__, __LINE__,               \
                     (long)tu_pid_, tu_end_);                                  \
    } while (0)

/* In a child of tu_fork(): print the mismatch and _exit(TU_CHILD_FAILED).
 * In the test process: nothing (the caller fails the test). */
void tu_err_mismatch(ipc_err got, ipc_err want, const char *what,
                     const char *file, int line);

/* In a child: print "[<test> child <pid>, uid <uid>] <message> (detail:
 * ...)" and
 * return code, for `return tu_child_fail(3, "...")` or _exit(). */
int tu_child_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* In a child: the same, then _exit(code). */
void tu_child_exit(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Wait for a child at most ms and return its wait status, for a test that
 * expects a particular end (a signal); the test fails, at the caller's
 * line, if the child hung (it is killed then). */
#define tu_reap(pid, ms) tu_reap_at((pid), (ms), __FILE__, __LINE__)
int tu_reap_at(pid_t pid, int ms, const char *file, int line);

/* The body of a test program's main(): SIGPIPE fatal (one the library lets
 * through must show), the seed of tu_rand() printed (IPC_TEST_SEED repeats
 * it), argv[1] a cmocka filter (how ctest runs one test), then the group. */
#define tu_run_tests(group, tests, argc, argv)                                 \
    (tu_test_start((group), (argc), (argv)),                                   \
     cmocka_run_group_tests_name((group), (tests), NULL, NULL))
void tu_test_start(const char *group, int argc, char **argv);

/* Run fn(arg) in a child of tu_fork() that leaves with _exit(fn's result);
 * the test fails if fork() does. */
pid_t tu_spawn(int (*fn)(void *), void *arg);

#endif /* IPC_TEST_CHECK_H */
