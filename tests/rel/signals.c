/* SPDX-License-Identifier: MIT */
/* Signals: a storm of SIGUSR1 (handler installed without SA_RESTART) at the
 * threads that block in ipc_send and ipc_recv. Nothing may show: no
 * spurious error, nothing lost or doubled, and a timed wait never returns
 * before its deadline (nor long after it).
 *
 *   ipc_rel_signals <row>   IPC_REL_SIGNAL_MS=N per phase (1500; long 30000) */
#include "rel.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_ulong sg_delivered;

static void sg_on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&sg_delivered, 1);
}

static void sg_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sg_on_usr1;
    sa.sa_flags = 0; /* no SA_RESTART: every blocked call sees EINTR */
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

/* ---------------------------------------------------------------- storm */

#define SG_MAX_TARGETS 4

struct sg_storm {
    pthread_t targets[SG_MAX_TARGETS];
    int n_targets;
    atomic_bool stop;
    unsigned long sent;
    pthread_t thread;
};

static void *sg_storm_main(void *arg)
{
    struct sg_storm *st = arg;
    uint64_t rng = rel.seed ^ 0x5167;
    while (!atomic_load(&st->stop)) {
        for (int i = 0; i < st->n_targets; i++) {
            pthread_kill(st->targets[i], SIGUSR1);
            st->sent++;
        }
        /* 20 to 300 us apart: many signals per blocked call, yet room
         * for the calls to make progress. */
        struct timespec ts = {0, (long)(20000 + rel_rand(&rng) % 280000)};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Targets must stay unjoined until sg_storm_stop (pthread_kill on a
 * joined thread is undefined). */
static void sg_storm_start(struct sg_storm *st)
{
    atomic_store(&st->stop, false);
    st->sent = 0;
    assert_int_equal(pthread_create(&st->thread, NULL, sg_storm_main, st), 0);
}

static void sg_storm_stop(struct sg_storm *st)
{
    atomic_store(&st->stop, true);
    pthread_join(st->thread, NULL);
}

static long sg_phase_ms(void)
{
    return rel_env("IPC_REL_SIGNAL_MS", 1500, 30000);
}

/* ---------------------------------------------------------------- flow */

struct sg_flow {
    struct rel_link link;
    size_t max_msg;
    int64_t end_ns;
    atomic_bool done[2]; /* sender, receiver */
    uint64_t sent, received;
    char error[256]; /* first failure, "" if none */
    pthread_mutex_t lock;
};

static void sg_fail(struct sg_flow *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sg_fail(struct sg_flow *f, const char *fmt, ...)
{
    pthread_mutex_lock(&f->lock);
    if (!f->error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->error, sizeof f->error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&f->lock);
}

static void sg_nap(uint64_t *rng, unsigned every, unsigned max_us)
{
    uint64_t r = rel_rand(rng);
    if (r % every == 0) {
        struct timespec ts = {0, (long)((r >> 16) % max_us) * 1000};
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
}

/* The sender: checked messages until the end of the phase, then an end
 * marker (producer 1). Timeouts alternate between -1 and 10 s: both must
 * ride out the storm. */
static void *sg_flow_send(void *arg)
{
    struct sg_flow *f = arg;
    unsigned char *buf = malloc(f->max_msg);
    uint64_t rng = rel.seed ^ 0xf10;
    if (!buf)
        return NULL;
    uint64_t seq = 0;
    for (; tu_now_ns() < f->end_ns && !f->error[0]; seq++) {
        size_t len = rel_msg_len(&rng, f->max_msg, 1);
        rel_msg_fill(buf, len, 0, seq);
        int timeout = (seq & 1) ? -1 : 10000;
        int64_t t0 = tu_now_ns();
        ipc_err err = ipc_send(f->link.tx, buf, len, 0, timeout);
        const char *late = rel_wait_check(t0, timeout, err);
        if (err != IPC_OK || late) {
            sg_fail(f, "send seq %llu: %s %s (%s)", (unsigned long long)seq,
                    ipc_errname(err), late ? late : "", ipc_last_detail());
            break;
        }
        sg_nap(&rng, 97, 3000); /* now and then the receiver waits */
    }
    f->sent = seq;
    rel_msg_fill(buf, REL_MSG_HDR, 1, seq);
    ipc_err err = ipc_send(f->link.tx, buf, REL_MSG_HDR, 0, -1);
    if (err != IPC_OK)
        sg_fail(f, "end marker: %s", ipc_errname(err));
    free(buf);
    atomic_store(&f->done[0], true);
    return NULL;
}

static void *sg_flow_recv(void *arg)
{
    struct sg_flow *f = arg;
    unsigned char *buf = malloc(f->max_msg);
    uint64_t rng = rel.seed ^ 0xf11;
    if (!buf)
        return NULL;
    for (uint64_t next = 0;; next++) {
        size_t len = 0;
        uint32_t producer;
        uint64_t seq;
        int timeout = (next & 1) ? -1 : 10000;
        int64_t t0 = tu_now_ns();
        ipc_err err =
            ipc_recv(f->link.rx, buf, f->max_msg, &len, NULL, timeout);
        const char *late = rel_wait_check(t0, timeout, err);
        if (err != IPC_OK || late) {
            sg_fail(f, "receive %llu: %s %s (%s)", (unsigned long long)next,
                    ipc_errname(err), late ? late : "", ipc_last_detail());
            break;
        }
        const char *bad = rel_msg_check(buf, len, 2, &producer, &seq);
        if (bad) {
            sg_fail(f, "message %llu: %s", (unsigned long long)next, bad);
            break;
        }
        if (seq != next) {
            sg_fail(f, "seq %llu, expected %llu (lost or doubled)",
                    (unsigned long long)seq, (unsigned long long)next);
            break;
        }
        if (producer == 1) { /* the end marker carries the count */
            f->received = next;
            break;
        }
        sg_nap(&rng, 61, 3000); /* now and then the sender waits */
    }
    free(buf);
    atomic_store(&f->done[1], true);
    return NULL;
}

static void test_flow(void **state)
{
    (void)state;
    struct sg_flow f;
    struct sg_storm storm;
    memset(&f, 0, sizeof f);
    memset(&storm, 0, sizeof storm);
    pthread_mutex_init(&f.lock, NULL);
    sg_install();
    assert_ipc_err(rel_link_open(&f.link, NULL), IPC_OK);
    ipc_info info;
    assert_ipc_err(ipc_query(f.link.rx, &info), IPC_OK);
    f.max_msg = info.max_msg;
    unsigned long before = atomic_load(&sg_delivered);
    f.end_ns = tu_now_ns() + sg_phase_ms() * 1000000;

    pthread_t s, r;
    assert_int_equal(pthread_create(&s, NULL, sg_flow_send, &f), 0);
    assert_int_equal(pthread_create(&r, NULL, sg_flow_recv, &f), 0);
    storm.targets[0] = s;
    storm.targets[1] = r;
    storm.n_targets = 2;
    sg_storm_start(&storm);
    /* Both threads end on their own (the sender at the end of the phase,
     * the receiver at the end marker); the storm ends after them. */
    int64_t limit = f.end_ns + (int64_t)REL_CHILD_MS * 1000000;
    while (!(atomic_load(&f.done[0]) && atomic_load(&f.done[1]))) {
        if (tu_now_ns() > limit) {
            sg_storm_stop(&storm);
            fail_msg("flow hung (%s)", f.error[0] ? f.error : "no error");
        }
        tu_sleep_ms(10);
    }
    sg_storm_stop(&storm);
    pthread_join(s, NULL);
    pthread_join(r, NULL);
    rel_link_close(&f.link);
    pthread_mutex_destroy(&f.lock);
    if (f.error[0])
        fail_msg("%s", f.error);
    assert_int_equal(f.received, f.sent);
    rel_figure("flow under SIGUSR1 storm: %llu messages exactly once and in "
               "order, %lu signals sent, %lu handled, no spurious error",
               (unsigned long long)f.received, storm.sent,
               atomic_load(&sg_delivered) - before);
}

/* ------------------------------------------------------------ deadlines */

struct sg_dl {
    struct rel_link empty; /* nobody sends: receives time out */
    struct rel_link full;  /* nobody receives: sends time out */
    int64_t end_ns;
    unsigned long waits;
    char error[256];
};

static const int sg_timeouts[] = {1, 3, 7, 20, 50};
#define SG_N_TIMEOUTS (int)(sizeof sg_timeouts / sizeof sg_timeouts[0])

static void *sg_dl_recv(void *arg)
{
    struct sg_dl *d = arg;
    unsigned char buf[64];
    for (unsigned i = 0; tu_now_ns() < d->end_ns; i++) {
        size_t len;
        int timeout = (i % 8 == 7) ? 0 : sg_timeouts[i % SG_N_TIMEOUTS];
        int64_t t0 = tu_now_ns();
        ipc_err err =
            ipc_recv(d->empty.rx, buf, sizeof buf, &len, NULL, timeout);
        const char *late = rel_wait_check(t0, timeout, err);
        ipc_err want = timeout ? IPC_ETIMEDOUT : IPC_EAGAIN;
        if (err != want || late) {
            snprintf(d->error, sizeof d->error,
                     "receive on an empty channel, timeout %d: %s, expected "
                     "%s %s",
                     timeout, ipc_errname(err), ipc_errname(want),
                     late ? late : "");
            return NULL;
        }
        d->waits++;
    }
    return NULL;
}

static void *sg_dl_send(void *arg)
{
    struct sg_dl *d = arg;
    ipc_info info;
    ipc_query(d->full.tx, &info);
    unsigned char *buf = malloc(info.max_msg);
    if (!buf)
        return NULL;
    memset(buf, 0x5a, info.max_msg);
    for (unsigned i = 0; tu_now_ns() < d->end_ns && !d->error[0]; i++) {
        /* Fill: whole messages until the channel says it would block. */
        unsigned queued = 0;
        ipc_err err;
        while ((err = ipc_send(d->full.tx, buf, info.max_msg, 0, 0)) == IPC_OK)
            queued++;
        if (err != IPC_EAGAIN) {
            snprintf(d->error, sizeof d->error, "filling: %s",
                     ipc_errname(err));
            break;
        }
        for (int k = 0; k < SG_N_TIMEOUTS && !d->error[0]; k++) {
            int timeout = sg_timeouts[(i + (unsigned)k) % SG_N_TIMEOUTS];
            int64_t t0 = tu_now_ns();
            err = ipc_send(d->full.tx, buf, info.max_msg, 0, timeout);
            const char *late = rel_wait_check(t0, timeout, err);
            if (err != IPC_ETIMEDOUT || late)
                snprintf(d->error, sizeof d->error,
                         "send on a full channel, timeout %d: %s %s", timeout,
                         ipc_errname(err), late ? late : "");
            d->waits++;
        }
        /* Drain: exactly what went in, nothing from the timed-out sends. */
        unsigned drained = 0;
        size_t len;
        while (ipc_recv(d->full.rx, buf, info.max_msg, &len, NULL, 0) == IPC_OK)
            drained++;
        if (drained != queued && !d->error[0])
            snprintf(d->error, sizeof d->error,
                     "queued %u messages, drained %u: a timed-out send "
                     "delivered something, or one was lost",
                     queued, drained);
    }
    free(buf);
    return NULL;
}

static void test_deadlines(void **state)
{
    (void)state;
    struct sg_dl d;
    struct sg_storm storm;
    memset(&d, 0, sizeof d);
    memset(&storm, 0, sizeof storm);
    sg_install();
    /* A small max_msg keeps the fill short on deep channels. */
    assert_ipc_err(rel_link_open(&d.empty, "max_msg=4096"), IPC_OK);
    assert_ipc_err(rel_link_open(&d.full, "max_msg=4096"), IPC_OK);
    unsigned long before = atomic_load(&sg_delivered);
    d.end_ns = tu_now_ns() + sg_phase_ms() * 1000000;
    pthread_t r, s;
    assert_int_equal(pthread_create(&r, NULL, sg_dl_recv, &d), 0);
    assert_int_equal(pthread_create(&s, NULL, sg_dl_send, &d), 0);
    storm.targets[0] = r;
    storm.targets[1] = s;
    storm.n_targets = 2;
    sg_storm_start(&storm);
    /* Both threads end by the deadline of the phase. */
    while (tu_now_ns() < d.end_ns)
        tu_sleep_ms(10);
    tu_sleep_ms(200);
    sg_storm_stop(&storm);
    pthread_join(r, NULL);
    pthread_join(s, NULL);
    rel_link_close(&d.empty);
    rel_link_close(&d.full);
    if (d.error[0])
        fail_msg("%s", d.error);
    rel_figure("deadlines under SIGUSR1 storm: %lu timed waits, none early, "
               "none late by more than %d ms, %lu signals handled",
               d.waits, REL_LATE_MS, atomic_load(&sg_delivered) - before);
}

static const struct rel_test sg_tests[] = {
    {"flow", test_flow, REL_ANY},
    {"deadlines", test_deadlines, REL_ANY},
    {NULL, NULL, REL_ANY},
};

int main(int argc, char **argv)
{
    return rel_main(argc, argv, "signals", sg_tests);
}
