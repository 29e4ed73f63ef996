/* SPDX-License-Identifier: MIT */
/* ipc/proc.h: a process's exit as a level-triggered descriptor (killed,
 * exec'd in between, a zombie, a reused pid), and notifications by queued
 * real-time signals (order, payload, sender, bad signals, a full queue, a
 * process that has exited). */
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "check.h"

#include "ipc/ipc.h"

#define NOTICE_SIG (SIGRTMIN + 3)

/* Is fd readable now, by poll()? */
static bool pr_ready(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n;
    while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR)
        ;
    return n == 1 && (p.revents & POLLIN);
}

/* Is fd readable now, by epoll (level-triggered: asked twice)? */
static bool pr_epoll_ready(int fd)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    assert_true(ep >= 0);
    struct epoll_event ev = {.events = EPOLLIN}, out;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
    int first = epoll_wait(ep, &out, 1, 0);
    int second = epoll_wait(ep, &out, 1, 0);
    close(ep);
    assert_int_equal(first, second);
    return first == 1;
}

static int pr_sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0;
}

/* A child that runs until killed: not ready; killed: ready, to poll and
 * epoll, again and again, before and after it is reaped. */
static void test_watch_kill(void **state)
{
    (void)state;
    pid_t pid = tu_spawn(pr_sleeper, NULL);
    int fd = -1;
    assert_ipc_err(ipc_proc_watch(pid, 0, &fd), IPC_OK);
    assert_true(tu_fd_cloexec(fd));
    assert_ipc_err(ipc_proc_exited(fd, 0), IPC_EAGAIN);
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_proc_exited(fd, 100), IPC_ETIMEDOUT);
    assert_true(tu_elapsed_ms(t0) >= 99);
    assert_false(pr_ready(fd));
    assert_false(pr_epoll_ready(fd));
    kill(pid, SIGKILL);
    assert_ipc_err(ipc_proc_exited(fd, 5000), IPC_OK);
    /* A zombie now: exited, not reaped. */
    assert_true(pr_ready(fd));
    assert_true(pr_epoll_ready(fd));
    int status = 0;
    assert_true(tu_wait(pid, 5000, &status));
    assert_true(WIFSIGNALED(status));
    assert_true(pr_ready(fd));
    assert_ipc_err(ipc_proc_exited(fd, 0), IPC_OK);
    close(fd);
}

/* Stopped is not exited; fork and exec in between keep the watch on the
 * same process (exec keeps the pid), and its exit is seen. */
static void test_watch_stop_exec(void **state)
{
    (void)state;
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        raise(SIGSTOP);
        execl("/bin/sh", "sh", "-c", "exec sleep 30", (char *)NULL);
        _exit(127);
    }
    int fd = -1;
    assert_ipc_err(ipc_proc_watch(pid, 0, &fd), IPC_OK);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
    assert_true(WIFSTOPPED(status));
    assert_ipc_err(ipc_proc_exited(fd, 50), IPC_ETIMEDOUT);
    kill(pid, SIGCONT);
    tu_sleep_ms(100); /* it execs sh, then sleep */
    assert_ipc_err(ipc_proc_exited(fd, 0), IPC_EAGAIN);
    kill(pid, SIGTERM);
    assert_ipc_err(ipc_proc_exited(fd, 5000), IPC_OK);
    assert_true(tu_wait(pid, 5000, &status));
    close(fd);
}

static int pr_exit_now(void *arg)
{
    (void)arg;
    return 0;
}

/* A pid that names nothing (reaped) is IPC_ENOENT; a pid whose start time
 * is not the one asked (another process has it) too; bad arguments are
 * IPC_EINVAL. */
static void test_watch_gone_or_reused(void **state)
{
    (void)state;
    pid_t pid = tu_spawn(pr_exit_now, NULL);
    int status = 0;
    assert_true(tu_wait(pid, 5000, &status));
    int fd = -1;
    assert_ipc_err(ipc_proc_watch(pid, 0, &fd), IPC_ENOENT);
    unsigned long long start = 0;
    assert_ipc_err(ipc_proc_start_time(pid, &start), IPC_ENOENT);

    assert_ipc_err(ipc_proc_start_time(getpid(), &start), IPC_OK);
    assert_true(start > 0);
    assert_ipc_err(ipc_proc_watch(getpid(), start + 1, &fd), IPC_ENOENT);
    assert_non_null(strstr(ipc_last_detail(), "another process"));
    assert_ipc_err(ipc_proc_watch(getpid(), start, &fd), IPC_OK);
    assert_ipc_err(ipc_proc_exited(fd, 0), IPC_EAGAIN);
    close(fd);

    assert_ipc_err(ipc_proc_watch(0, 0, &fd), IPC_EINVAL);
    assert_ipc_err(ipc_proc_watch(-5, 0, &fd), IPC_EINVAL);
    assert_ipc_err(ipc_proc_exited(-1, 0), IPC_EINVAL);
}

/* The receiving child: opens its notice descriptor, says so on the pipe,
 * then checks what arrives against what the parent sends. */
struct pr_recv_job {
    int ready_w; /* write end: one byte once the descriptor is open */
    int count;
    pid_t sender;
};

static int pr_receiver(void *arg)
{
    const struct pr_recv_job *j = arg;
    int fd = -1;
    if (ipc_notice_open(NOTICE_SIG, &fd) != IPC_OK)
        return tu_child_fail(2, "ipc_notice_open");
    if (write(j->ready_w, "r", 1) != 1)
        return tu_child_fail(3, "write ready");
    for (int i = 0; i < j->count; i++) {
        ipc_notice n;
        ipc_err err = ipc_notice_recv(fd, &n, 5000);
        if (err != IPC_OK)
            return tu_child_fail(4, "notice %d: %s", i, ipc_errname(err));
        if (n.signo != NOTICE_SIG || n.value != 1000 + i ||
            n.pid != j->sender || n.uid != getuid())
            return tu_child_fail(5, "notice %d: signo %d value %d pid %ld "
                                    "uid %ld",
                                 i, n.signo, n.value, (long)n.pid,
                                 (long)n.uid);
    }
    ipc_notice extra;
    if (ipc_notice_recv(fd, &extra, 0) != IPC_EAGAIN)
        return tu_child_fail(6, "a notice nobody sent");
    close(fd);
    return 0;
}

static void pr_wait_ready(int ready_r)
{
    char c;
    struct pollfd p = {.fd = ready_r, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(read(ready_r, &c, 1), 1);
}

/* Every notice arrives, in order, with its payload and the true sender;
 * none is merged (real-time signals queue). */
static void test_notice_order(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct pr_recv_job j = {.ready_w = p[1], .count = 20, .sender = getpid()};
    pid_t pid = tu_spawn(pr_receiver, &j);
    pr_wait_ready(p[0]);
    int fd = -1;
    assert_ipc_err(ipc_proc_watch(pid, 0, &fd), IPC_OK);
    for (int i = 0; i < j.count; i++)
        assert_ipc_err(ipc_notice_send(fd, NOTICE_SIG, 1000 + i), IPC_OK);
    assert_child_ok(pid, 10000);
    close(fd);
    close(p[0]);
    close(p[1]);
}

/* Sending to a process that has exited (a zombie, then reaped) is
 * IPC_ECLOSED, never a silent success. */
static void test_notice_exited(void **state)
{
    (void)state;
    pid_t pid = tu_spawn(pr_exit_now, NULL);
    int fd = -1;
    assert_ipc_err(ipc_proc_watch(pid, 0, &fd), IPC_OK);
    assert_ipc_err(ipc_proc_exited(fd, 5000), IPC_OK);
    assert_ipc_err(ipc_notice_send(fd, NOTICE_SIG, 1), IPC_ECLOSED);
    int status = 0;
    assert_true(tu_wait(pid, 5000, &status));
    assert_ipc_err(ipc_notice_send(fd, NOTICE_SIG, 1), IPC_ECLOSED);
    close(fd);
}

/* Standard signals merge and kill by default: refused. A descriptor that
 * is not a process's is IPC_EINVAL. A wait with nothing sent keeps its
 * timeout. */
static void test_notice_bad_input(void **state)
{
    (void)state;
    int fd = -1, me = -1;
    assert_ipc_err(ipc_notice_open(SIGTERM, &fd), IPC_EINVAL);
    assert_ipc_err(ipc_notice_open(SIGRTMAX + 1, &fd), IPC_EINVAL);
    assert_ipc_err(ipc_proc_watch(getpid(), 0, &me), IPC_OK);
    assert_ipc_err(ipc_notice_send(me, SIGUSR1, 1), IPC_EINVAL);
    close(me);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_ipc_err(ipc_notice_send(p[0], NOTICE_SIG, 1), IPC_EINVAL);
    close(p[0]);
    close(p[1]);

    /* A forked child, so that the signal mask stays the child's. */
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int sfd = -1;
        ipc_notice n;
        assert_ipc_err(ipc_notice_open(NOTICE_SIG, &sfd), IPC_OK);
        assert_ipc_err(ipc_notice_recv(sfd, &n, 0), IPC_EAGAIN);
        int64_t t0 = tu_now_ns();
        assert_ipc_err(ipc_notice_recv(sfd, &n, 60), IPC_ETIMEDOUT);
        if (tu_elapsed_ms(t0) < 59)
            tu_child_exit(4, "returned before its timeout");
        _exit(0);
    }
    assert_child_ok(pid, 5000);
}

/* A receiver that never reads: its queue fills (RLIMIT_SIGPENDING, set
 * low in it), and the sender gets IPC_ELIMIT, not a lost notice. */
static int pr_hoarder(void *arg)
{
    const struct pr_recv_job *j = arg;
    struct rlimit rl = {8, 8};
    if (setrlimit(RLIMIT_SIGPENDING, &rl) != 0)
        return tu_child_fail(2, "setrlimit");
    int fd = -1;
    if (ipc_notice_open(NOTICE_SIG, &fd) != IPC_OK)
        return tu_child_fail(3, "ipc_notice_open");
    if (write(j->ready_w, "r", 1) != 1)
        return tu_child_fail(4, "write ready");
    pause(); /* killed by the parent */
    return 0;
}

static void test_notice_queue_full(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct pr_recv_job j = {.ready_w = p[1]};
    pid_t pid = tu_spawn(pr_hoarder, &j);
    pr_wait_ready(p[0]);
    int fd = -1;
    assert_ipc_err(ipc_proc_watch(pid, 0, &fd), IPC_OK);
    ipc_err err = IPC_OK;
    int sent = 0;
    while (sent < 100000 && (err = ipc_notice_send(fd, NOTICE_SIG, sent)) ==
                                IPC_OK)
        sent++;
    print_message("  %d notices queued before IPC_ELIMIT\n", sent);
    assert_ipc_err(err, IPC_ELIMIT);
    kill(pid, SIGKILL);
    int status = 0;
    assert_true(tu_wait(pid, 5000, &status));
    close(fd);
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_kill),
        cmocka_unit_test(test_watch_stop_exec),
        cmocka_unit_test(test_watch_gone_or_reused),
        cmocka_unit_test(test_notice_order),
        cmocka_unit_test(test_notice_exited),
        cmocka_unit_test(test_notice_bad_input),
        cmocka_unit_test(test_notice_queue_full),
    };
    return tu_run_tests("proc", tests, argc, argv);
}
