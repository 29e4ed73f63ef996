/* SPDX-License-Identifier: MIT */
/* Contract: timeouts, full channels, waiting forever, signals. */
#include "contract.h"

#include <poll.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

/* Messages that fill a channel: 4080 bytes + a 16-byte frame header is one
 * 4 KiB pipe page, so taking one message out frees room for one more on
 * stream backends too (a pipe frees space by whole pages). */
#define FILL_LEN   4080
#define FILL_OPTS  "max_msg=4080"
#define FILL_BOUND 100000

/* Timeout 0 on an empty channel: IPC_EAGAIN at once. */
static void test_timeout_zero(void **state)
{
    struct ct_fx *fx = *state;
    char buf[8];
    size_t len;

    ct_link(fx, "max_msg=64");
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN);
    assert_true(tu_elapsed_ms(t0) < 1000);
    ct_send_pat(fx->tx, 8, 1, 0);
    if (fx->be->async) { /* TU_S_ASYNC: the message is on its way */
        struct pollfd pfd = {.fd = -1};
        assert_ipc_err(ipc_pollfd(fx->rx, &pfd.fd, &pfd.events), IPC_OK);
        assert_int_equal(poll(&pfd, 1, 2000), 1);
    }
    ct_recv_pat(fx->rx, 8, 1, 0);
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN);
}

/* Timeout > 0 on an empty channel: IPC_ETIMEDOUT, never before the time. */
static void test_timeout_recv(void **state)
{
    struct ct_fx *fx = *state;
    char buf[8];
    size_t len;

    ct_link(fx, "max_msg=64");
    static const int waits[] = {1, 20, 150};
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        int64_t t0 = tu_now_ns();
        assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, waits[i]),
                       IPC_ETIMEDOUT);
        ct_took(t0, waits[i]);
    }
    ct_detail_set();
    /* A queued message is taken at once, whatever the timeout. */
    ct_send_pat(fx->tx, 8, 2, CT_ARRIVE_MS);
    int64_t t0 = tu_now_ns();
    ct_recv_pat(fx->rx, 8, 2, 5000);
    assert_true(tu_elapsed_ms(t0) < 1000);
}

/* Send FILL_LEN messages with timeout 0 until IPC_EAGAIN; message i has
 * pattern seed i, from `first` on. Returns the seed of the refused one.
 * TU_S_ASYNC: timeout 0 is refused while the connection is busy, so the
 * sends wait 100 ms each, and full is the first that times out.
 * TU_S_WINDOWED: room still comes after a refusal, with nobody reading:
 * ACKs free the sender's buffer, and a receiver out of buffer memory
 * compacts its queue and opens its window to the next zero-window probe
 * (200 ms on loopback; measured: 1010 frames of 4 KiB at once, 20 more
 * within 42 ms, 6 more at 254 ms, then none in 2 s). So those sends wait
 * 500 ms, and full is the first that gets no room in that time. */
static size_t fill_from(const struct ct_fx *fx, size_t first)
{
    static unsigned char buf[FILL_LEN];
    size_t n = first;
    int wait = fx->be->windowed ? 500 : fx->be->async ? 100 : 0;
    for (; n < first + FILL_BOUND; n++) {
        tu_pattern(buf, FILL_LEN, n);
        ipc_err err = ipc_send(fx->tx, buf, FILL_LEN, 0, wait);
        if (err == (wait ? IPC_ETIMEDOUT : IPC_EAGAIN))
            break;
        assert_ipc_err(err, IPC_OK);
    }
    if (n == first + FILL_BOUND)
        fail_msg("channel never full after %d messages", FILL_BOUND);
    return n;
}

static size_t fill(const struct ct_fx *fx)
{
    size_t n = fill_from(fx, 0);
    assert_true(n > 0);
    return n;
}

static void drain(ipc_channel *rx, size_t from, size_t to)
{
    char buf[8];
    size_t len;
    for (size_t i = from; i < to; i++)
        ct_recv_pat(rx, FILL_LEN, i, 2000);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
}

struct taker {
    ipc_channel *rx;
    int delay_ms;
    uint64_t seed;
    ipc_err err;
    int64_t at;
    atomic_bool sent; /* set by the waiting sender when its send returned */
    bool stuck;       /* the send still waited 2 s after room was made */
    bool windowed;    /* TU_S_WINDOWED: take until the send returns */
    size_t extra;     /* messages taken after the first (windowed) */
};

/* Take one message after a delay; if the waiting sender has not finished
 * 2 s later, take everything so that it returns (and the test fails with a
 * clear message instead of hanging). */
static void take_one(struct taker *t)
{
    static unsigned char buf[FILL_LEN + 1];
    size_t len = 0;
    tu_sleep_ms(t->delay_ms);
    t->at = tu_now_ns();
    t->err = ipc_recv(t->rx, buf, sizeof buf, &len, NULL, 5000);
    if (t->err == IPC_OK &&
        (len != FILL_LEN || tu_pattern_check(buf, len, t->seed) != len))
        t->err = IPC_EPROTO; /* wrong message: reported as a mismatch */
    /* A TCP window opens once the receiver has read enough (an MSS, 64
     * KiB on loopback): keep taking, in order, until the waiting send
     * returns; slow under valgrind on a loaded machine, so 10 s. */
    int64_t limit = tu_now_ns() + (t->windowed ? 10000 : 2000) * 1000000LL;
    while (t->windowed && !atomic_load(&t->sent) && tu_now_ns() < limit) {
        if (ipc_recv(t->rx, buf, sizeof buf, &len, NULL, 5) != IPC_OK)
            continue;
        t->extra++;
        if (len != FILL_LEN ||
            tu_pattern_check(buf, len, t->seed + t->extra) != len)
            t->err = IPC_EPROTO;
    }
    while (!atomic_load(&t->sent) && tu_now_ns() < limit)
        tu_sleep_ms(5);
    if (atomic_load(&t->sent))
        return;
    t->stuck = true;
    while (!atomic_load(&t->sent))
        if (ipc_recv(t->rx, buf, sizeof buf, &len, NULL, 10) != IPC_OK)
            tu_sleep_ms(1);
}

static void *take_one_run(void *arg)
{
    take_one(arg);
    return NULL;
}

static void check_taker(const struct taker *t)
{
    if (t->stuck)
        fail_msg("%s", "a -1 send on a full channel was still waiting 2 s "
                       "after a receiver took a message (10 s of takes on "
                       "a windowed backend)");
    assert_ipc_err(t->err, IPC_OK);
}

/* Lossy (TU_S_LOSSY): never full. LOSSY_SENDS sends with timeout 0 all
 * succeed without a receive; what arrives (at least one) are whole
 * messages, in the sender's order, none twice. */
#define LOSSY_SENDS 2000

static void test_never_full(struct ct_fx *fx)
{
    static unsigned char buf[FILL_LEN + 1];
    ct_link(fx, FILL_OPTS);
    for (size_t i = 0; i < LOSSY_SENDS; i++) {
        tu_pattern(buf, FILL_LEN, i);
        assert_ipc_err(ipc_send(fx->tx, buf, FILL_LEN, 0, 0), IPC_OK);
    }
    size_t next = 0, got = 0, len;
    ipc_err err;
    while ((err = ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 200)) ==
           IPC_OK) {
        assert_int_equal(len, FILL_LEN);
        while (next < LOSSY_SENDS &&
               tu_pattern_check(buf, FILL_LEN, next) != FILL_LEN)
            next++;
        if (next++ == LOSSY_SENDS)
            fail_msg("message %zu received: none of those sent after the "
                     "last one",
                     got);
        got++;
    }
    assert_ipc_err(err, IPC_ETIMEDOUT);
    assert_true(got > 0);
}

/* A full channel: timeout 0 gives IPC_EAGAIN, > 0 IPC_ETIMEDOUT in time,
 * and nothing of a refused send is queued. Taking one message makes room
 * for one; -1 waits until a receiver makes room. */
static void test_full(void **state)
{
    struct ct_fx *fx = *state;

    if (fx->be->lossy) {
        test_never_full(fx);
        return;
    }
    ct_link(fx, FILL_OPTS);
    size_t n = fill(fx);
    static unsigned char buf[FILL_LEN];
    tu_pattern(buf, FILL_LEN, 999999);
    assert_ipc_err(ipc_send(fx->tx, buf, FILL_LEN, 0, 0), IPC_EAGAIN);
    ct_detail_set();
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_send(fx->tx, buf, FILL_LEN, 0, 150), IPC_ETIMEDOUT);
    ct_took(t0, 150);

    tu_pattern(buf, FILL_LEN, n);
    size_t taken = 1; /* messages taken before the second fill */
    if (fx->be->async || fx->be->windowed) {
        /* TU_S_ASYNC: nng's queues and TCP's window lie between the take
         * and the sender; TU_S_WINDOWED: a receiver window smaller than
         * the MSS (64 KiB on loopback) is not announced (silly-window
         * avoidance), so one 4 KiB take may give the sender no room at
         * all. Take, in order, until the send goes through. */
        struct taker first = {.rx = fx->rx, .seed = 0, .windowed = true};
        pthread_t th0;
        atomic_init(&first.sent, false);
        assert_int_equal(pthread_create(&th0, NULL, take_one_run, &first), 0);
        ipc_err err0 = ipc_send(fx->tx, buf, FILL_LEN, 0, 5000);
        atomic_store(&first.sent, true);
        pthread_join(th0, NULL);
        assert_ipc_err(err0, IPC_OK);
        check_taker(&first);
        taken += first.extra;
    } else {
        ct_recv_pat(fx->rx, FILL_LEN, 0, CT_ARRIVE_MS);
        assert_ipc_err(ipc_send(fx->tx, buf, FILL_LEN, 0, 0), IPC_OK);
    }

    /* Full again; a thread takes one message after 200 ms while this one
     * waits with -1. */
    size_t m = fill_from(fx, n + 1);
    struct taker t = {.rx = fx->rx,
                      .delay_ms = 200,
                      .seed = taken,
                      .windowed = fx->be->windowed};
    pthread_t th;
    atomic_init(&t.sent, false);
    assert_int_equal(pthread_create(&th, NULL, take_one_run, &t), 0);
    tu_pattern(buf, FILL_LEN, m);
    ipc_err err = ipc_send(fx->tx, buf, FILL_LEN, 0, -1);
    int64_t sent = tu_now_ns();
    atomic_store(&t.sent, true);
    pthread_join(th, NULL);
    assert_ipc_err(err, IPC_OK);
    check_taker(&t);
    if (sent < t.at)
        fail_msg("%s", "a send on a full channel returned before any room");
    drain(fx->rx, taken + 1 + t.extra, m + 1);
}

static int send_after(struct ct_fx *fx, void *arg)
{
    int delay = *(int *)arg;
    ipc_channel *tx = ct_child_sender(fx);
    if (!tx)
        return 1;
    tu_sleep_ms(delay);
    unsigned char buf[33];
    tu_pattern(buf, sizeof buf, 33);
    ipc_err err = ipc_send(tx, buf, sizeof buf, 0, 5000);
    ct_child_release(fx, tx);
    if (err != IPC_OK)
        return tu_child_fail(2, "send: %s", ipc_errname(err));
    return 0;
}

/* Timeout -1 waits until another process sends. */
static void test_wait_forever(void **state)
{
    struct ct_fx *fx = *state;
    static int delay = 200;

    ct_link(fx, "max_msg=64");
    if (ct_fork_refused(fx, fx->addr))
        return;
    int64_t t0 = tu_now_ns();
    pid_t pid = ct_spawn(fx, send_after, &delay);
    ct_recv_pat(fx->rx, 33, 33, -1);
    double took = tu_elapsed_ms(t0);
    assert_child_ok(pid, CT_CHILD_MS);
    if (took < delay / 2)
        fail_msg("received after %.1f ms, before the child sent (%d ms)", took,
                 delay);
}

/* ---------------------------------------------------------------- signals */

static volatile sig_atomic_t sig_count;

static void on_usr1(int sig)
{
    (void)sig;
    sig_count++;
}

struct pest {
    pthread_t target;
    int shots;
    int every_ms;
    ipc_channel *tx;     /* then send one message, if not NULL */
    struct taker *taker; /* then take one message, if not NULL */
    ipc_err err;
};

static void *pest_run(void *arg)
{
    struct pest *p = arg;
    for (int i = 0; i < p->shots; i++) {
        tu_sleep_ms(p->every_ms);
        pthread_kill(p->target, SIGUSR1);
    }
    tu_sleep_ms(p->every_ms);
    p->err = IPC_OK;
    if (p->tx) {
        unsigned char buf[40];
        tu_pattern(buf, sizeof buf, 40);
        p->err = ipc_send(p->tx, buf, sizeof buf, 0, 5000);
    }
    if (p->taker)
        take_one(p->taker);
    return NULL;
}

struct sig_guard {
    struct sigaction old;
};

/* SIGUSR1 with a handler and no SA_RESTART: every blocking system call it
 * hits fails with EINTR, which the library must absorb. */
static void sig_install(struct sig_guard *g)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    sig_count = 0;
    assert_int_equal(sigaction(SIGUSR1, &sa, &g->old), 0);
}

static void sig_restore(struct sig_guard *g)
{
    sigaction(SIGUSR1, &g->old, NULL);
}

static void pest_start(pthread_t *th, struct pest *p)
{
    p->target = pthread_self();
    assert_int_equal(pthread_create(th, NULL, pest_run, p), 0);
}

/* A signal never ends a receive early: a 300 ms wait still ends with
 * IPC_ETIMEDOUT after 300 ms, and a -1 wait still gets the message. */
static void test_signal_recv(void **state)
{
    struct ct_fx *fx = *state;
    struct sig_guard g;
    pthread_t th;
    char buf[64];
    size_t len;

    ct_link(fx, "max_msg=64");
    sig_install(&g);
    struct pest p = {.shots = 6, .every_ms = 30};
    pest_start(&th, &p);
    int64_t t0 = tu_now_ns();
    ipc_err err = ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 300);
    pthread_join(th, NULL);
    int shots = sig_count;
    assert_ipc_err(err, IPC_ETIMEDOUT);
    ct_took(t0, 300);

    sig_count = 0;
    struct pest p2 = {.shots = 5, .every_ms = 40, .tx = fx->tx};
    pest_start(&th, &p2);
    err = ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, -1);
    pthread_join(th, NULL);
    sig_restore(&g);
    assert_ipc_err(err, IPC_OK);
    assert_ipc_err(p2.err, IPC_OK);
    assert_int_equal(len, 40);
    assert_int_equal(tu_pattern_check(buf, 40, 40), 40);
    /* The signals did arrive while the calls waited. */
    assert_true(shots > 0);
    assert_true(sig_count > 0);
}

/* A signal never ends a send early either (full channel). */
static void test_signal_send(void **state)
{
    struct ct_fx *fx = *state;
    struct sig_guard g;
    pthread_t th;
    static unsigned char buf[FILL_LEN];

    if (fx->be->lossy) {
        /* Never full (test_full): no wait for a signal to cut short. */
        ct_link(fx, FILL_OPTS);
        sig_install(&g);
        struct pest p = {.shots = 6, .every_ms = 30};
        pest_start(&th, &p);
        for (size_t i = 0; i < 200; i++) {
            tu_pattern(buf, FILL_LEN, i);
            ipc_err err = ipc_send(fx->tx, buf, FILL_LEN, 0, -1);
            if (err != IPC_OK) {
                pthread_join(th, NULL);
                sig_restore(&g);
                assert_ipc_err(err, IPC_OK);
            }
            tu_sleep_ms(1);
        }
        pthread_join(th, NULL);
        sig_restore(&g);
        assert_true(sig_count > 0);
        return;
    }
    ct_link(fx, FILL_OPTS);
    size_t n = fill(fx);
    sig_install(&g);
    struct pest p = {.shots = 6, .every_ms = 30};
    pest_start(&th, &p);
    tu_pattern(buf, FILL_LEN, n);
    int64_t t0 = tu_now_ns();
    ipc_err err = ipc_send(fx->tx, buf, FILL_LEN, 0, 300);
    pthread_join(th, NULL);
    int shots = sig_count;
    assert_ipc_err(err, IPC_ETIMEDOUT);
    ct_took(t0, 300);

    sig_count = 0;
    /* TU_S_ASYNC, TU_S_WINDOWED: take until the send goes through
     * (test_full). */
    struct taker t = {.rx = fx->rx,
                      .delay_ms = 0,
                      .seed = 0,
                      .windowed = fx->be->async || fx->be->windowed};
    atomic_init(&t.sent, false);
    struct pest p2 = {.shots = 5, .every_ms = 40, .taker = &t};
    pest_start(&th, &p2);
    err = ipc_send(fx->tx, buf, FILL_LEN, 0, -1);
    atomic_store(&t.sent, true);
    pthread_join(th, NULL);
    sig_restore(&g);
    assert_ipc_err(err, IPC_OK);
    check_taker(&t);
    assert_true(shots > 0);
    assert_true(sig_count > 0);
    drain(fx->rx, 1 + t.extra, n + 1);
}

const struct ct_test ct_tests_time[] = {
    {"timeout_zero", test_timeout_zero, CT_EACH_MODE},
    {"timeout_recv", test_timeout_recv, CT_EACH_MODE},
    {"full", test_full, CT_EACH_MODE},
    {"wait_forever", test_wait_forever, CT_EACH_MODE},
    {"signal_recv", test_signal_recv, CT_EACH_MODE},
    {"signal_send", test_signal_send, CT_EACH_MODE},
    {NULL, NULL, CT_ONCE},
};
