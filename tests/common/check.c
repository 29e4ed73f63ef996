/* SPDX-License-Identifier: MIT */
/* The shared assertions' out-of-line halves (check.h). */
#include "check.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

void tu_err_mismatch(ipc_err got, ipc_err want, const char *what,
                     const char *file, int line)
{
    if (!tu_in_child())
        return;
    fprintf(stderr,
            "[%s child %ld] %s:%d: %s\n  returned %s (%d), expected %s (%d)\n"
            "  detail: \"%s\"\n",
            tu_test_name, (long)getpid(), file, line, what, ipc_errname(got),
            (int)got, ipc_errname(want), (int)want, ipc_last_detail());
    fflush(stderr);
    _exit(TU_CHILD_FAILED);
}

static void tu_child_say(const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "[%s child %ld, uid %d] %s (detail: \"%s\")\n",
            tu_test_name, (long)getpid(), (int)geteuid(), msg,
            ipc_last_detail());
    fflush(stderr);
}

int tu_child_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tu_child_say(fmt, ap);
    va_end(ap);
    return code;
}

void tu_child_exit(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tu_child_say(fmt, ap);
    va_end(ap);
    _exit(code);
}

int tu_reap_at(pid_t pid, int ms, const char *file, int line)
{
    int status = 0;
    if (!tu_wait(pid, ms, &status))
        fail_msg("%s:%d: child %ld hung: killed after %d ms", file, line,
                 (long)pid, ms);
    return status;
}

void tu_test_start(const char *group, int argc, char **argv)
{
    signal(SIGPIPE, SIG_DFL);
    uint64_t seed = tu_seed_from_env();
    printf("%s: seed %llu (IPC_TEST_SEED to repeat)\n", group,
           (unsigned long long)seed);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
}

pid_t tu_spawn(int (*fn)(void *), void *arg)
{
    pid_t pid = tu_fork();
    if (pid == 0)
        _exit(fn(arg));
    assert_true(pid > 0);
    return pid;
}
