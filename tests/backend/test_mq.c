/* SPDX-License-Identifier: MIT */
/* mq: backend tests beyond the contract: priority order, the held message
 * of a short buffer, the OS limits matrix, deadlines and clocks, private
 * pairs, several processes at each end, receivers hearing that every
 * sender is gone. */
#include <time.h> /* struct timespec, used by ipc_int.h prototypes */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends.h"
#include "check.h"

#include "ipc_int.h"
#include "testutil.h"

/* posixmq.c: wait in the kernel's timed calls instead of poll(). */

#define RECV_NEW  (IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV)
#define LATE_MS   3000
#define NS_PER_MS 1000000LL

struct fx {
    char addr[128]; /* "mq:/name" */
    ipc_channel *ends[8];
    pid_t kids[8];
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    tu_row_addr(tu_row_find("mq"), tu_tmpdir(), "ipcm", fx->addr,
                sizeof fx->addr, NULL);
    ipc__mq_timed_waits = false;
    *state = fx;
    tu_watchdog(60); /* a hang is a failure */
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;
    int rc = 0;
    tu_watchdog(0);
    ipc__mq_timed_waits = false;
    tu_kill_live();
    for (size_t i = 0; i < sizeof fx->ends / sizeof fx->ends[0]; i++)
        ipc_close(fx->ends[i]);
    if (ipc_unlink(fx->addr) == IPC_OK) {
        print_error("left behind: %s\n", fx->addr);
        rc = -1;
    }
    free(fx);
    return rc;
}

static void took_at_least(int64_t t0, int ms)
{
    double took = tu_elapsed_ms(t0);
    if (took < ms || took > ms + LATE_MS)
        fail_msg("a wait of %d ms took %.1f ms", ms, took);
}

static long proc_long(const char *name)
{
    char path[96];
    long v = -1;
    snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", name);
    FILE *f = fopen(path, "re");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* In a child: give up root for an unused uid, so that the limits that
 * bind ordinary users bind us (and RLIMIT_MSGQUEUE counts only our own
 * queues). Returns 0 or an exit code. */
static int become_user(void)
{
    if (geteuid() != 0)
        return 0;
    uid_t uid = (uid_t)(0x7ff00000u + ((unsigned)getpid() & 0xffff));
    if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
        return 90;
    return 0;
}

static int wait_child(pid_t pid)
{
    int status = 0;
    if (!tu_wait(pid, 30000, &status))
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ------------------------------------------------------- priorities */

/* Higher priority first, FIFO within one priority, whatever the order of
 * sending; 0..31 accepted, 32 refused. */
static void test_priority_order(void **state)
{
    struct fx *fx = *state;
    char addr[160];
    ipc_info info;
    snprintf(addr, sizeof addr, "%s?capacity=10&max_msg=64", fx->addr);
    assert_ipc_err(ipc_open(addr, RECV_NEW, 0, &fx->ends[0]), IPC_OK);
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 0, &fx->ends[1]), IPC_OK);
    assert_ipc_err(ipc_query(fx->ends[1], &info), IPC_OK);
    assert_int_equal(info.max_prio, 31);
    assert_true(info.caps & IPC_CAP_PRIORITY);
    assert_ipc_err(ipc_send(fx->ends[1], "x", 1, 32, 0), IPC_EINVAL);

    for (uint32_t round = 0; round < 60; round++) {
        unsigned prios[10];
        for (uint32_t i = 0; i < 10; i++) {
            /* Few distinct priorities, so that ties are common. */
            prios[i] = (unsigned)(tu_rand() % 4) * 10 + (round % 2);
            if (prios[i] > 31)
                prios[i] = 31;
            uint32_t seq = round * 10 + i;
            assert_ipc_err(ipc_send(fx->ends[1], &seq, sizeof seq, prios[i], 0),
                           IPC_OK);
        }
        unsigned last_prio = 99;
        uint32_t last_seq = 0;
        for (uint32_t i = 0; i < 10; i++) {
            uint32_t seq;
            size_t len;
            unsigned prio;
            assert_ipc_err(
                ipc_recv(fx->ends[0], &seq, sizeof seq, &len, &prio, 0),
                IPC_OK);
            assert_int_equal(len, sizeof seq);
            assert_true(seq >= round * 10 && seq < round * 10 + 10);
            assert_int_equal(prio, prios[seq - round * 10]);
            if (prio > last_prio)
                fail_msg("priority %u after %u", prio, last_prio);
            if (prio == last_prio && seq < last_seq)
                fail_msg("priority %u: seq %u after %u (not FIFO)", prio, seq,
                         last_seq);
            last_prio = prio;
            last_seq = seq;
        }
    }
}

/* ------------------------------------------------------- held message */

static int child_takes_nothing(ipc_channel *rx)
{
    char buf[300];
    size_t len;
    unsigned prio;
    /* The parent holds the message: the child must not deliver it too. */
    ipc_err err = ipc_recv(rx, buf, sizeof buf, &len, &prio, 0);
    return err == IPC_EAGAIN ? 0 : 1 + (int)err;
}

/* A buffer smaller than the queue's max_msg: IPC_EMSGSIZE with the length,
 * and the message is kept for the next receive, which delivers it before
 * anything else, even a higher priority sent meanwhile. */
static void test_held_message(void **state)
{
    struct fx *fx = *state;
    unsigned char buf[300], msg[100];
    size_t len;
    unsigned prio;

    assert_ipc_err(ipc_pair("mq:?max_msg=256&capacity=4", 0, fx->ends), IPC_OK);
    ipc_channel *tx = fx->ends[0], *rx = fx->ends[1];
    tu_pattern(msg, sizeof msg, 1);
    assert_ipc_err(ipc_send(tx, msg, 100, 1, 0), IPC_OK);
    len = 0;
    assert_ipc_err(ipc_recv(rx, buf, 10, &len, &prio, 1000), IPC_EMSGSIZE);
    assert_int_equal(len, 100);
    assert_non_null(strstr(ipc_last_detail(), "kept"));
    len = 0;
    assert_ipc_err(ipc_recv(rx, buf, 0, &len, &prio, 0), IPC_EMSGSIZE);
    assert_int_equal(len, 100);
    assert_ipc_err(ipc_send(tx, "high", 4, 9, 0), IPC_OK);
    assert_ipc_err(ipc_recv(rx, buf, 100, &len, &prio, 0), IPC_OK);
    assert_int_equal(len, 100);
    assert_int_equal(prio, 1);
    assert_int_equal(tu_pattern_check(buf, 100, 1), 100);
    assert_ipc_err(ipc_recv(rx, buf, 10, &len, &prio, 0),
                   IPC_OK); /* fits: copied */
    assert_int_equal(len, 4);
    assert_int_equal(prio, 9);
    assert_memory_equal(buf, "high", 4);
    /* Zero bytes fit a zero-byte buffer. */
    assert_ipc_err(ipc_send(tx, "", 0, 0, 0), IPC_OK);
    assert_ipc_err(ipc_recv(rx, NULL, 0, &len, &prio, 0), IPC_OK);
    assert_int_equal(len, 0);
    assert_ipc_err(ipc_recv(rx, buf, 10, &len, &prio, 0), IPC_EAGAIN);

    /* A forked child does not deliver the parent's held message. */
    assert_ipc_err(ipc_send(tx, msg, 100, 2, 0), IPC_OK);
    assert_ipc_err(ipc_recv(rx, buf, 10, &len, &prio, 0), IPC_EMSGSIZE);
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_takes_nothing(rx));
    assert_int_equal(wait_child(pid), 0);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, &prio, 0), IPC_OK);
    assert_int_equal(len, 100);
    assert_int_equal(prio, 2);
    /* Closing with a message held drops it, without a leak (valgrind). */
    assert_ipc_err(ipc_send(tx, msg, 100, 0, 0), IPC_OK);
    assert_ipc_err(ipc_recv(rx, buf, 10, &len, &prio, 0), IPC_EMSGSIZE);
}

/* ipc_recv without prio: the backend then does not ask the kernel for it
 * (recv_prio_null), on every path: in place, copied out of the end's
 * buffer, held and delivered later; and a later call with prio gets the
 * right one. */
static void test_prio_null(void **state)
{
    struct fx *fx = *state;
    unsigned char buf[300], msg[100];
    size_t len;
    unsigned prio = 77;

    assert_ipc_err(ipc_pair("mq:?max_msg=256&capacity=4", 0, fx->ends), IPC_OK);
    ipc_channel *tx = fx->ends[0], *rx = fx->ends[1];
    tu_pattern(msg, sizeof msg, 3);
    assert_ipc_err(ipc_send(tx, msg, 100, 5, 0), IPC_OK);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_OK); /* in place */
    assert_int_equal(len, 100);
    assert_int_equal(tu_pattern_check(buf, 100, 3), 100);
    assert_ipc_err(ipc_send(tx, "abc", 3, 6, 0), IPC_OK);
    assert_ipc_err(ipc_recv(rx, buf, 10, &len, NULL, 0), IPC_OK); /* copied */
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "abc", 3);
    assert_ipc_err(ipc_send(tx, msg, 100, 7, 0), IPC_OK);
    assert_ipc_err(ipc_recv(rx, buf, 10, &len, NULL, 0),
                   IPC_EMSGSIZE); /* held */
    assert_int_equal(len, 100);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_OK);
    assert_int_equal(len, 100);
    assert_int_equal(tu_pattern_check(buf, 100, 3), 100);
    assert_ipc_err(ipc_send(tx, "x", 1, 8, 0), IPC_OK);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, &prio, 0), IPC_OK);
    assert_int_equal(prio, 8);
}

/* ------------------------------------------------------- limits */

#define LIM_FAIL(code, ...)                                                    \
    do {                                                                       \
        fprintf(stderr, "[limits child] " __VA_ARGS__);                        \
        fprintf(stderr, " (detail: \"%s\")\n", ipc_last_detail());             \
        return code;                                                           \
    } while (0)

static int lim_open(const char *name, const char *opts, ipc_err want,
                    const char *detail_has, ipc_channel **keep)
{
    char addr[256];
    ipc_channel *ch = NULL;
    snprintf(addr, sizeof addr, "%s%s%s", name, opts[0] ? "?" : "", opts);
    ipc_err err = ipc_open(addr, RECV_NEW, 0, &ch);
    if (err != want)
        LIM_FAIL(1, "%s: %s, expected %s", addr, ipc_errname(err),
                 ipc_errname(want));
    if (detail_has && !strstr(ipc_last_detail(), detail_has))
        LIM_FAIL(2, "%s: detail lacks \"%s\"", addr, detail_has);
    if (keep)
        *keep = ch;
    else
        ipc_close(ch);
    if (!keep && ipc_unlink(name) != IPC_ENOENT)
        LIM_FAIL(3, "%s left behind", addr);
    return 0;
}

static int limits_child(const char *name)
{
    int rc = become_user();
    if (rc)
        return rc;
    long msg_max = proc_long("msg_max"), size_max = proc_long("msgsize_max");
    char opts[128], want[128];
    if (msg_max <= 0 || size_max <= 0)
        LIM_FAIL(4, "cannot read /proc/sys/fs/mqueue");

    /* max_msg: 0, the limit, one more. */
    if ((rc = lim_open(name, "max_msg=0", IPC_EINVAL, "max_msg", NULL)))
        return rc;
    snprintf(opts, sizeof opts, "capacity=1&max_msg=%ld", size_max);
    if ((rc = lim_open(name, opts, IPC_OK, NULL, NULL)))
        return 10 + rc;
    snprintf(opts, sizeof opts, "capacity=1&max_msg=%ld", size_max + 1);
    snprintf(want, sizeof want, "msgsize_max (%ld)", size_max);
    if ((rc = lim_open(name, opts, IPC_ELIMIT, want, NULL)))
        return 20 + rc;
    /* capacity: 0 (no rendezvous), the limit, one more. */
    if ((rc = lim_open(name, "capacity=0", IPC_ENOTSUP, "capacity", NULL)))
        return 30 + rc;
    snprintf(opts, sizeof opts, "capacity=%ld&max_msg=16", msg_max);
    if ((rc = lim_open(name, opts, IPC_OK, NULL, NULL)))
        return 40 + rc;
    snprintf(opts, sizeof opts, "capacity=%ld&max_msg=16", msg_max + 1);
    snprintf(want, sizeof want, "msg_max (%ld)", msg_max);
    if ((rc = lim_open(name, opts, IPC_ELIMIT, want, NULL)))
        return 50 + rc;
    /* A pair obeys the same limits. */
    ipc_channel *ends[2];
    snprintf(opts, sizeof opts, "mq:?max_msg=%ld", size_max + 1);
    if (ipc_pair(opts, 0, ends) != IPC_ELIMIT)
        LIM_FAIL(60, "pair %s not IPC_ELIMIT", opts);

    /* The defaults: 10 and 8192, lowered to the limits. */
    ipc_channel *ch = NULL;
    if ((rc = lim_open(name, "", IPC_OK, NULL, &ch)))
        return 70 + rc;
    ipc_info info;
    ipc_query(ch, &info);
    ipc_close(ch);
    if (info.capacity != (size_t)(msg_max < 10 ? msg_max : 10) ||
        info.max_msg != (size_t)(size_max < 8192 ? size_max : 8192))
        LIM_FAIL(75, "defaults: capacity %zu, max_msg %zu", info.capacity,
                 info.max_msg);

    /* Too many queues: RLIMIT_MSGQUEUE lowered to about three queues of
     * 10 x 1024 bytes. */
    const rlim_t budget = 3 * (10 * 1024 + 1000);
    struct rlimit rl = {budget, budget};
    if (setrlimit(RLIMIT_MSGQUEUE, &rl) < 0)
        LIM_FAIL(80, "setrlimit");
    ipc_channel *qs[32] = {NULL};
    int n = 0;
    ipc_err err = IPC_OK;
    for (; n < 32; n++) {
        char addr[160];
        snprintf(addr, sizeof addr, "%s-%d?capacity=10&max_msg=1024", name, n);
        if ((err = ipc_open(addr, RECV_NEW, 0, &qs[n])) != IPC_OK)
            break;
    }
    snprintf(want, sizeof want, "RLIMIT_MSGQUEUE (%llu bytes",
             (unsigned long long)budget);
    bool detail_ok = strstr(ipc_last_detail(), want) != NULL;
    char detail[256];
    snprintf(detail, sizeof detail, "%s", ipc_last_detail());
    for (int i = 0; i < n; i++)
        ipc_close(qs[i]);
    for (int i = 0; i <= n && i < 32; i++) {
        char addr[160];
        snprintf(addr, sizeof addr, "%s-%d", name, i);
        if (ipc_unlink(addr) != IPC_ENOENT)
            LIM_FAIL(81, "%s left behind", addr);
    }
    if (err != IPC_ELIMIT || n < 1 || n > 3 || !detail_ok)
        LIM_FAIL(82, "queue %d: %s, detail \"%s\"", n, ipc_errname(err),
                 detail);
    return 0;
}

/* The matrix of OS limits, as an ordinary user (a child under an unused
 * uid when we are root, whom the /proc limits do not bind). */
static void test_limits_matrix(void **state)
{
    struct fx *fx = *state;
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(limits_child(fx->addr));
    int rc = wait_child(pid);
    if (rc != 0)
        fail_msg("limits child: exit %d (see its message above)", rc);
}

/* ------------------------------------------------------- clocks */

/* ipc__deadline_realtime: the realtime instant is now_realtime plus the
 * monotonic time left, bounded by the clock reads around the call. */
static void test_clock_conversion(void **state)
{
    (void)state;
    struct ipc_deadline dl;
    for (int i = 0; i < 100; i++) {
        int ms = 1 + (int)(tu_rand() % 5000);
        ipc__deadline_init(&dl, ms);
        struct timespec r0, r1, ts;
        int64_t m0 = ipc__now_ns();
        clock_gettime(CLOCK_REALTIME, &r0);
        ipc__deadline_realtime(&dl, &ts);
        clock_gettime(CLOCK_REALTIME, &r1);
        int64_t m1 = ipc__now_ns();
        assert_in_range(ts.tv_nsec, 0, 999999999);
        int64_t got = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        int64_t lo =
            (int64_t)r0.tv_sec * 1000000000LL + r0.tv_nsec + (dl.at_ns - m1);
        int64_t hi =
            (int64_t)r1.tv_sec * 1000000000LL + r1.tv_nsec + (dl.at_ns - m0);
        if (got < lo || got > hi)
            fail_msg("realtime instant %lld outside [%lld, %lld]",
                     (long long)got, (long long)lo, (long long)hi);
    }
    /* Passed: now, never in the past of the call. */
    ipc__deadline_init(&dl, 1);
    dl.at_ns = ipc__now_ns() - 5 * NS_PER_MS;
    struct timespec r0, ts;
    clock_gettime(CLOCK_REALTIME, &r0);
    ipc__deadline_realtime(&dl, &ts);
    assert_true(ts.tv_sec > r0.tv_sec ||
                (ts.tv_sec == r0.tv_sec && ts.tv_nsec >= r0.tv_nsec));
    /* Forever: far ahead (a year). */
    ipc__deadline_init(&dl, -1);
    ipc__deadline_realtime(&dl, &ts);
    assert_true(ts.tv_sec > r0.tv_sec + 300 * 24 * 3600);
}

struct late_send {
    ipc_channel *tx;
    int delay_ms;
    ipc_err err;
};

static void *send_late(void *arg)
{
    struct late_send *ls = arg;
    tu_sleep_ms(ls->delay_ms);
    ls->err = ipc_send(ls->tx, "late", 4, 3, 1000);
    return NULL;
}

static volatile sig_atomic_t usr1_count;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_count++;
}

struct pest {
    pthread_t target;
    int shots;
};

static void *pester(void *arg)
{
    struct pest *p = arg;
    for (int i = 0; i < p->shots; i++) {
        tu_sleep_ms(25);
        pthread_kill(p->target, SIGUSR1);
    }
    return NULL;
}

/* Deadlines with both ways of waiting: poll() on the monotonic clock, and
 * the kernel's realtime timed calls re-converted on every retry. Never
 * early, 0 never waits, -1 and > 0 take a message sent meanwhile, and
 * signals (no SA_RESTART) end nothing early. */
static void run_deadlines(struct fx *fx, bool timed)
{
    char buf[16];
    size_t len;
    unsigned prio;
    ipc_channel *ends[2];
    ipc__mq_timed_waits = timed;
    assert_ipc_err(ipc_pair("mq:?capacity=2&max_msg=16", 0, ends), IPC_OK);
    fx->ends[timed ? 2 : 0] = ends[0];
    fx->ends[timed ? 3 : 1] = ends[1];

    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_recv(ends[1], buf, sizeof buf, &len, &prio, 0),
                   IPC_EAGAIN);
    assert_true(tu_elapsed_ms(t0) < 500);
    static const int waits[] = {1, 30, 150};
    for (size_t i = 0; i < 3; i++) {
        t0 = tu_now_ns();
        assert_ipc_err(
            ipc_recv(ends[1], buf, sizeof buf, &len, &prio, waits[i]),
            IPC_ETIMEDOUT);
        took_at_least(t0, waits[i]);
    }
    assert_ipc_err(ipc_send(ends[0], "a", 1, 0, 0), IPC_OK);
    assert_ipc_err(ipc_send(ends[0], "b", 1, 0, 0), IPC_OK);
    assert_ipc_err(ipc_send(ends[0], "c", 1, 0, 0), IPC_EAGAIN);
    t0 = tu_now_ns();
    assert_ipc_err(ipc_send(ends[0], "c", 1, 0, 120), IPC_ETIMEDOUT);
    took_at_least(t0, 120);
    assert_ipc_err(ipc_recv(ends[1], buf, sizeof buf, &len, &prio, 0), IPC_OK);
    assert_ipc_err(ipc_recv(ends[1], buf, sizeof buf, &len, &prio, 0), IPC_OK);

    static const int timeouts[] = {-1, 3000};
    for (size_t i = 0; i < 2; i++) {
        struct late_send ls = {.tx = ends[0], .delay_ms = 100};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, send_late, &ls), 0);
        t0 = tu_now_ns();
        ipc_err err =
            ipc_recv(ends[1], buf, sizeof buf, &len, &prio, timeouts[i]);
        double took = tu_elapsed_ms(t0);
        pthread_join(th, NULL);
        assert_ipc_err(err, IPC_OK);
        assert_ipc_err(ls.err, IPC_OK);
        assert_int_equal(len, 4);
        assert_int_equal(prio, 3);
        assert_true(took >= 50 && took < 2500);
    }

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: every wait sees EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    usr1_count = 0;
    struct pest p = {pthread_self(), 6};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pester, &p), 0);
    t0 = tu_now_ns();
    ipc_err err = ipc_recv(ends[1], buf, sizeof buf, &len, &prio, 300);
    pthread_join(th, NULL);
    sigaction(SIGUSR1, &old, NULL);
    assert_ipc_err(err, IPC_ETIMEDOUT);
    took_at_least(t0, 300);
    assert_true(usr1_count > 0);
}

static void test_deadlines_poll(void **state)
{
    run_deadlines(*state, false);
}

static void test_deadlines_timed(void **state)
{
    run_deadlines(*state, true);
}

/* ------------------------------------------------------- pairs, names */

static bool fd_unlinked(int fd)
{
    char link[64], target[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strstr(target, "(deleted)") != NULL;
}

/* The queue's descriptor behind ipc_pollfd(): a receiving end hands out an
 * epoll set of it and an eventfd (issue 12, defect 6), whose fdinfo lists
 * them ("tfd: N"); the queue is the one that is not an anonymous inode. */
static int mq_queue_fd(ipc_channel *ch)
{
    int fd = -1;
    short events;
    char path[64], link[256];
    assert_ipc_err(ipc_pollfd(ch, &fd, &events), IPC_OK);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    assert_true(n > 0);
    link[n] = '\0';
    if (strcmp(link, "anon_inode:[eventpoll]") != 0)
        return fd;
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    char line[256];
    int queue = -1, tfd;
    while (queue < 0 && fgets(line, sizeof line, f)) {
        if (sscanf(line, "tfd: %d", &tfd) != 1)
            continue;
        snprintf(path, sizeof path, "/proc/self/fd/%d", tfd);
        n = readlink(path, link, sizeof link - 1);
        if (n > 0 && strncmp(link, "anon_inode:", 11) != 0)
            queue = tfd;
    }
    fclose(f);
    assert_true(queue >= 0);
    return queue;
}

/* A pair is a private queue: its name is gone as soon as it is made. */
static void test_private_pair(void **state)
{
    struct fx *fx = *state;
    int fd;
    short events;
    char buf[8];
    size_t len;
    assert_ipc_err(ipc_pair("mq:", 0, fx->ends), IPC_OK);
    for (int i = 0; i < 2; i++) {
        fd = mq_queue_fd(fx->ends[i]);
        assert_true(fd_unlinked(fd));
        assert_int_equal(tu_fd_cloexec(fd), 1);
    }
    assert_ipc_err(ipc_send(fx->ends[0], "pair", 4, 0, 0), IPC_OK);
    assert_ipc_err(ipc_recv(fx->ends[1], buf, sizeof buf, &len, NULL, 0),
                   IPC_OK);
    assert_int_equal(len, 4);
    ipc_info info;
    assert_ipc_err(ipc_query(fx->ends[0], &info), IPC_OK);
    assert_false(info.caps & IPC_CAP_NAMED);
    assert_false(info.caps & IPC_CAP_PEER_CLOSED);
    assert_int_equal(info.capacity, 10);
    assert_int_equal(info.max_msg, 8192);
    /* A named queue's name stays until its creator closes. */
    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 0, &fx->ends[2]), IPC_OK);
    fd = mq_queue_fd(fx->ends[2]);
    assert_false(fd_unlinked(fd));
    /* INHERIT clears close-on-exec (Linux sets it on every mqd). */
    assert_ipc_err(
        ipc_pair("mq:?capacity=1&max_msg=8", IPC_F_INHERIT, fx->ends + 4),
        IPC_OK);
    assert_ipc_err(ipc_pollfd(fx->ends[4], &fd, &events), IPC_OK);
    assert_int_equal(tu_fd_cloexec(fd), 0);
}

/* An existing queue: a new end adopts its sizes; options that disagree are
 * refused; plain IPC_F_CREATE opens it without owning it. */
static void test_existing_attrs(void **state)
{
    struct fx *fx = *state;
    char addr[192];
    ipc_channel *ch = NULL;
    ipc_info info;
    snprintf(addr, sizeof addr, "%s?capacity=3&max_msg=100", fx->addr);
    assert_ipc_err(ipc_open(addr, RECV_NEW, 0, &fx->ends[0]), IPC_OK);
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 0, &fx->ends[1]), IPC_OK);
    assert_ipc_err(ipc_query(fx->ends[1], &info), IPC_OK);
    assert_int_equal(info.capacity, 3);
    assert_int_equal(info.max_msg, 100);
    snprintf(addr, sizeof addr, "%s?max_msg=200", fx->addr);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 0, &ch), IPC_EINVAL);
    assert_non_null(strstr(ipc_last_detail(), "max_msg 100"));
    snprintf(addr, sizeof addr, "%s?capacity=4", fx->addr);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 0, &ch), IPC_EINVAL);
    assert_null(ch);
    assert_ipc_err(ipc_open(fx->addr, IPC_F_CREATE | IPC_F_SEND, 0, &ch),
                   IPC_OK);
    ipc_close(ch); /* not its creator: the queue stays */
    ch = NULL;
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 0, &ch), IPC_OK);
    ipc_close(ch);
    /* Names: one slash, then no other. */
    assert_ipc_err(ipc_open("mq:noslash", RECV_NEW, 0, &ch), IPC_EINVAL);
    assert_ipc_err(ipc_open("mq:/a/b", RECV_NEW, 0, &ch), IPC_EINVAL);
    assert_ipc_err(ipc_open("mq:/", RECV_NEW, 0, &ch), IPC_EINVAL);
    assert_ipc_err(ipc_unlink("mq:/a/b"), IPC_EINVAL);
}

static int crash_with_queue(const char *addr)
{
    int rc = become_user();
    ipc_channel *ch = NULL;
    if (rc)
        return rc;
    if (ipc_open(addr, RECV_NEW, 0, &ch) != IPC_OK)
        return 1;
    _exit(0); /* no close: the queue stays, owned by that uid */
}

/* Mode: 0600 whatever the umask, or ?mode= exactly. Plain IPC_F_CREATE on
 * a queue of another uid: IPC_EACCES. */
static void test_mode_owner(void **state)
{
    struct fx *fx = *state;
    char addr[192];
    int fd;
    struct stat st;
    mode_t old = umask(0);
    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 0, &fx->ends[0]), IPC_OK);
    umask(old);
    fd = mq_queue_fd(fx->ends[0]);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    ipc_close(fx->ends[0]);
    fx->ends[0] = NULL;
    old = umask(077);
    snprintf(addr, sizeof addr, "%s?mode=0640", fx->addr);
    assert_ipc_err(ipc_open(addr, RECV_NEW, 0, &fx->ends[0]), IPC_OK);
    umask(old);
    fd = mq_queue_fd(fx->ends[0]);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    ipc_close(fx->ends[0]);
    fx->ends[0] = NULL;

    if (geteuid() != 0)
        return; /* needs another uid */
    snprintf(addr, sizeof addr, "%s?mode=0666", fx->addr);
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(crash_with_queue(addr));
    assert_int_equal(wait_child(pid), 0);
    ipc_channel *ch = NULL;
    ipc_err err = ipc_open(fx->addr, IPC_F_CREATE | IPC_F_RECV, 0, &ch);
    assert_ipc_err(ipc_unlink(fx->addr), IPC_OK);
    assert_ipc_err(err, IPC_EACCES);
    assert_null(ch);
}

/* ------------------------------------------------------- processes */

#define MP_SENDERS   3
#define MP_RECEIVERS 3
#define MP_EACH      200

static int mp_sender(const char *addr, uint32_t id)
{
    ipc_channel *tx = NULL;
    if (ipc_open(addr, IPC_F_SEND, 0, &tx) != IPC_OK)
        return 1;
    for (uint32_t seq = 0; seq < MP_EACH; seq++) {
        uint32_t m[2] = {id, seq};
        if (ipc_send(tx, m, sizeof m, 0, 10000) != IPC_OK)
            return 2;
    }
    ipc_close(tx);
    return 0;
}

/* Receive until a zero-length message; report (sender, seq) records. */
static int mp_receiver(const char *addr, int out)
{
    ipc_channel *rx = NULL;
    if (ipc_open(addr, IPC_F_RECV, 0, &rx) != IPC_OK)
        return 1;
    for (;;) {
        uint32_t m[2];
        size_t len;
        if (ipc_recv(rx, m, sizeof m, &len, NULL, 10000) != IPC_OK)
            return 2;
        if (len == 0)
            break;
        if (len != sizeof m || write(out, m, sizeof m) != (ssize_t)sizeof m)
            return 3;
    }
    ipc_close(rx);
    return 0;
}

/* Several sender and receiver processes on one queue: every message is
 * received exactly once, and each receiver sees each sender's messages in
 * order. */
static void test_many_processes(void **state)
{
    struct fx *fx = *state;
    char addr[192];
    int pipes[MP_RECEIVERS][2];
    snprintf(addr, sizeof addr, "%s?capacity=10&max_msg=64", fx->addr);
    assert_ipc_err(ipc_open(addr, RECV_NEW, 0, &fx->ends[0]), IPC_OK);
    for (int r = 0; r < MP_RECEIVERS; r++) {
        assert_int_equal(pipe(pipes[r]), 0);
        pid_t pid = tu_fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pipes[r][0]);
            _exit(mp_receiver(fx->addr, pipes[r][1]));
        }
        close(pipes[r][1]);
        fx->kids[r] = pid;
    }
    /* The stop messages' sender, open before the others exit: receivers
     * would hear IPC_ECLOSED once every sender is gone. */
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 0, &tx), IPC_OK);
    fx->ends[1] = tx;
    for (uint32_t s = 0; s < MP_SENDERS; s++) {
        pid_t pid = tu_fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(mp_sender(fx->addr, s));
        fx->kids[MP_RECEIVERS + s] = pid;
    }
    for (int s = 0; s < MP_SENDERS; s++) {
        assert_int_equal(wait_child(fx->kids[MP_RECEIVERS + s]), 0);
        fx->kids[MP_RECEIVERS + s] = 0;
    }
    for (int r = 0; r < MP_RECEIVERS; r++)
        assert_ipc_err(ipc_send(tx, "", 0, 0, 10000), IPC_OK);
    static unsigned char seen[MP_SENDERS][MP_EACH];
    memset(seen, 0, sizeof seen);
    unsigned total = 0;
    for (int r = 0; r < MP_RECEIVERS; r++) {
        int32_t last[MP_SENDERS] = {-1, -1, -1};
        uint32_t m[2];
        ssize_t n;
        while ((n = read(pipes[r][0], m, sizeof m)) == (ssize_t)sizeof m) {
            if (m[0] >= MP_SENDERS || m[1] >= MP_EACH)
                fail_msg("bad record %u/%u", m[0], m[1]);
            if ((int32_t)m[1] <= last[m[0]])
                fail_msg("receiver %d: sender %u seq %u after %d", r, m[0],
                         m[1], last[m[0]]);
            last[m[0]] = (int32_t)m[1];
            if (seen[m[0]][m[1]]++)
                fail_msg("sender %u seq %u received twice", m[0], m[1]);
            total++;
        }
        close(pipes[r][0]);
        assert_int_equal(wait_child(fx->kids[r]), 0);
        fx->kids[r] = 0;
    }
    assert_int_equal(total, MP_SENDERS * MP_EACH);
}

/* ------------------------------------------------------- senders gone */

/* A named sender in a child: sends "m", says so on the pipe, then closes
 * and leaves (stay false) or waits to be stopped and killed. */
static int gone_sender(const char *addr, int ready_fd, bool stay)
{
    ipc_channel *tx = NULL;
    if (ipc_open(addr, IPC_F_SEND, 1000, &tx) != IPC_OK ||
        ipc_send(tx, "m", 1, 0, 1000) != IPC_OK)
        return 2;
    if (write(ready_fd, "r", 1) != 1)
        return 3;
    if (stay)
        for (;;)
            pause();
    ipc_close(tx);
    return 0;
}

static pid_t gone_spawn(const char *addr, bool stay)
{
    int p[2];
    char c;
    assert_int_equal(pipe(p), 0);
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        _exit(gone_sender(addr, p[1], stay));
    }
    close(p[1]);
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    return pid;
}

static void recv_m(ipc_channel *rx)
{
    char buf[8192];
    size_t len = 0;
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 2000), IPC_OK);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 'm');
}

/* Issue 16: a named receiver hears IPC_ECLOSED once the queue is drained
 * and every sender is gone: one that closed, and the last one killed
 * (-9) while stopped. A stopped sender is not gone: the receiver waits
 * out its timeout while it lives. */
static void test_senders_gone(void **state)
{
    struct fx *fx = *state;
    char buf[8192];
    size_t len;
    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 0, &fx->ends[0]), IPC_OK);
    ipc_channel *rx = fx->ends[0];
    /* No sender yet: nothing to be gone. */
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    pid_t stays = gone_spawn(fx->addr, true);
    pid_t leaves = gone_spawn(fx->addr, false);
    assert_int_equal(wait_child(leaves), 0);
    recv_m(rx);
    recv_m(rx);
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 300),
                   IPC_ETIMEDOUT);
    took_at_least(t0, 300);
    assert_int_equal(kill(stays, SIGSTOP), 0);
    t0 = tu_now_ns();
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 300),
                   IPC_ETIMEDOUT);
    took_at_least(t0, 300);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    /* Killed while the receiver waits forever: it wakes. */
    struct timespec nap = {0, 100 * NS_PER_MS};
    pid_t killer = tu_fork();
    assert_true(killer >= 0);
    if (killer == 0) {
        nanosleep(&nap, NULL);
        _exit(kill(stays, SIGKILL) == 0 ? 0 : 1);
    }
    t0 = tu_now_ns();
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, -1), IPC_ECLOSED);
    if (tu_elapsed_ms(t0) > LATE_MS)
        fail_msg("IPC_ECLOSED %.1f ms after the wait began", tu_elapsed_ms(t0));
    assert_int_equal(wait_child(killer), 0);
    assert_int_equal(wait_child(stays), 128 + SIGKILL);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_ECLOSED);
    /* A new sender reopens the mailbox. */
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 0, &tx), IPC_OK);
    fx->ends[1] = tx;
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    assert_ipc_err(ipc_send(tx, "m", 1, 0, 0), IPC_OK);
    recv_m(rx);
}

static bool pollfd_ready(ipc_channel *rx, int timeout_ms)
{
    int fd = -1;
    short events = 0;
    assert_ipc_err(ipc_pollfd(rx, &fd, &events), IPC_OK);
    struct pollfd pfd = {.fd = fd, .events = events};
    int n = poll(&pfd, 1, timeout_ms);
    assert_true(n >= 0);
    return n > 0;
}

/* Issue 16: a pair's sender shared with a forked child lives while the
 * child holds it (the parent's close is not the end); the child's kill -9
 * makes the receiver's poll descriptor ready, and it stays ready while
 * receives answer IPC_ECLOSED. */
static void test_senders_gone_poll(void **state)
{
    struct fx *fx = *state;
    char buf[8192];
    size_t len;
    int p[2];
    char c;
    assert_ipc_err(ipc_pair("mq:", 0, fx->ends), IPC_OK);
    ipc_channel *rx = fx->ends[1];
    assert_false(pollfd_ready(rx, 0));
    assert_int_equal(pipe(p), 0);
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (ipc_send(fx->ends[0], "m", 1, 0, 1000) != IPC_OK ||
            write(p[1], "r", 1) != 1)
            _exit(2);
        for (;;)
            pause();
    }
    close(p[1]);
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    ipc_close(fx->ends[0]);
    fx->ends[0] = NULL;
    assert_true(pollfd_ready(rx, 2000));
    recv_m(rx);
    assert_false(pollfd_ready(rx, 200));
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    tu_kill(pid);
    assert_true(pollfd_ready(rx, LATE_MS));
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_ECLOSED);
    assert_true(pollfd_ready(rx, 0));
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 100), IPC_ECLOSED);
}

/* Issue 12, defect 6: a message held after IPC_EMSGSIZE is ready, yet the
 * queue is empty: poll() on ipc_pollfd() used to sleep beside it. Both
 * orders: the descriptor taken before the hold, and after it. */
static int held_poll_ready(ipc_channel *rx)
{
    int fd = -1;
    short events = 0;
    assert_ipc_err(ipc_pollfd(rx, &fd, &events), IPC_OK);
    assert_int_equal(events, POLLIN);
    struct pollfd pfd = {.fd = fd, .events = events};
    int n = poll(&pfd, 1, 0);
    assert_true(n >= 0);
    return n > 0 && (pfd.revents & POLLIN);
}

static void held_poll_round(ipc_channel *ends[2], bool poll_first)
{
    char big[100], small[10];
    size_t len = 0;
    memset(big, 'h', sizeof big);
    if (poll_first)
        assert_false(held_poll_ready(ends[1]));
    assert_ipc_err(ipc_send(ends[0], big, sizeof big, 0, 1000), IPC_OK);
    assert_true(held_poll_ready(ends[1]));
    assert_ipc_err(ipc_recv(ends[1], small, sizeof small, &len, NULL, 0),
                   IPC_EMSGSIZE);
    assert_int_equal(len, sizeof big);
    /* The queue is empty; the end holds the message: ready. */
    assert_true(held_poll_ready(ends[1]));
    assert_true(held_poll_ready(ends[1])); /* a look does not consume it */
    char out[200];
    assert_ipc_err(ipc_recv(ends[1], out, sizeof out, &len, NULL, 0), IPC_OK);
    assert_int_equal(len, sizeof big);
    assert_memory_equal(out, big, sizeof big);
    assert_false(held_poll_ready(ends[1]));
    assert_ipc_err(ipc_recv(ends[1], out, sizeof out, &len, NULL, 0),
                   IPC_EAGAIN);
}

static void test_held_pollfd(void **state)
{
    struct fx *fx = *state;
    assert_ipc_err(ipc_pair("mq:?max_msg=128&capacity=4", 0, fx->ends), IPC_OK);
    held_poll_round(fx->ends, false); /* the set made with a hold on */
    held_poll_round(fx->ends, true);
    /* A named receiver too, and a send-only end still polls POLLOUT. */
    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 0, &fx->ends[3]), IPC_OK);
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 0, &fx->ends[2]), IPC_OK);
    held_poll_round(&fx->ends[2], true);
    int fd = -1;
    short events = 0;
    assert_ipc_err(ipc_pollfd(fx->ends[2], &fd, &events), IPC_OK);
    struct pollfd pfd = {.fd = fd, .events = events};
    assert_int_equal(events, POLLOUT);
    assert_int_equal(poll(&pfd, 1, 0), 1);
}

/* Issue 12, defect 7 (fixed in 376187f): under a umask that takes the
 * owner's write bit (0277) or every bit (0777), a non-root user's mq pair
 * failed with IPC_EACCES: the queue was made 0400 and the sender could not
 * open it. A child drops to uid 65534 and sends and receives on a pair. */
static int umask_pair_child(mode_t mask)
{
    if (geteuid() == 0 &&
        (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
        return 90;
    umask(mask);
    ipc_channel *ends[2] = {NULL, NULL};
    ipc_err err = ipc_pair("mq:?max_msg=64&capacity=2", 0, ends);
    if (err != IPC_OK) {
        fprintf(stderr, "umask %04o: ipc_pair: %s (%s)\n", (unsigned)mask,
                ipc_errname(err), ipc_last_detail());
        return 1;
    }
    char out[64];
    size_t len = 0;
    int rc = ipc_send(ends[0], "umask", 5, 0, 1000) == IPC_OK &&
                     ipc_recv(ends[1], out, sizeof out, &len, NULL, 1000) ==
                         IPC_OK &&
                     len == 5 && memcmp(out, "umask", 5) == 0
                 ? 0
                 : 2;
    ipc_close(ends[0]);
    ipc_close(ends[1]);
    return rc;
}

static void test_umask_pair(void **state)
{
    struct fx *fx = *state;
    const mode_t masks[] = {0277, 0777};
    for (size_t i = 0; i < 2; i++) {
        fx->kids[i] = fork();
        assert_true(fx->kids[i] >= 0);
        if (fx->kids[i] == 0)
            _exit(umask_pair_child(masks[i]));
        int rc = wait_child(fx->kids[i]);
        fx->kids[i] = 0;
        if (rc != 0)
            fail_msg("umask %04o: child exited %d", (unsigned)masks[i], rc);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_priority_order, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_held_message, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_limits_matrix, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_clock_conversion, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_deadlines_poll, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_deadlines_timed, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_private_pair, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_existing_attrs, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_mode_owner, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_many_processes, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_prio_null, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_held_pollfd, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_umask_pair, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_senders_gone, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_senders_gone_poll, fx_setup,
                                        fx_teardown),
    };
    return tu_run_tests("mq", tests, argc, argv);
}
