/* SPDX-License-Identifier: MIT */
/* kill -9 at random instants: a sender or a receiver process SIGKILLed
 * mid-stream (often mid-message: most messages are near max_msg), hundreds
 * of rounds. The survivor never waits past its timeout, never takes a
 * partial or corrupted message, only ever messages the sender sent, in
 * order, and the channel (or a fresh one at the same address) works after.
 *
 *   ipc_rel_kill9 <row>        IPC_REL_ROUNDS=N rounds per direction
 *                              (default 200; IPC_REL_LONG=1: 5000) */
#include "rel.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Largest message asked for: big enough to span many pipe pages, so that
 * a kill lands inside a write. The backend's own limits may lower it. */
#define K9_BIG_MAX_MSG (1u << 20)
/* The longest random delay before the kill, microseconds. */
#define K9_DELAY_US 25000

/* How long a survivor that cannot hear of the kill (no
 * IPC_CAP_PEER_CLOSED) waits before its timeout ends the round: any
 * positive bound proves the same (never early, never much late), and a
 * short one keeps 200 rounds per direction short. */
#define K9_UNSEEN_MS 50

struct k9_stats {
    unsigned rounds;
    unsigned long long msgs;    /* messages received and checked */
    unsigned torn;              /* partial messages discarded at a kill */
    unsigned mid_send;          /* the killed sender was inside a send */
    unsigned before_open;       /* the sender died before its open returned */
    unsigned closed, timed_out; /* how the survivor learnt of the kill */
};

static size_t k9_max_msg;
static char k9_opts[64];

static void k9_setup_size(void)
{
    if (k9_max_msg == 0) {
        k9_max_msg = rel_max_msg_upto(K9_BIG_MAX_MSG);
        snprintf(k9_opts, sizeof k9_opts, "max_msg=%zu", k9_max_msg);
    }
}

static unsigned k9_rounds(void)
{
    return (unsigned)rel_env("IPC_REL_ROUNDS", 200, 5000);
}

/* A random instant: often within half a millisecond (the child is still
 * opening or sending its first message), else anywhere in 25 ms. */
static int64_t k9_delay_ns(uint64_t *rng)
{
    uint64_t r = rel_rand(rng);
    uint64_t us = (r & 3) == 0 ? (r >> 8) % 500 : (r >> 8) % K9_DELAY_US;
    return (int64_t)us * 1000;
}

static void k9_check_status(pid_t pid)
{
    char what[64];
    int status = tu_reap(pid, REL_CHILD_MS);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        return;
    /* The child leaves on its own only when it found something wrong. */
    fail_msg("child was to be killed, but ended: %s",
             tu_status_str(status, what, sizeof what));
}

/* ------------------------------------------------------ the sender dies */

/* In the child: send checked messages until killed. Status bytes in a
 * shared page say whether its open had returned and whether it was inside
 * ipc_send when the kill came. */
struct k9_child_state {
    unsigned char opened;
    unsigned char in_send;
};
static volatile struct k9_child_state *k9_child;

static void k9_sender_child(struct rel_link *l, bool forever, uint64_t rng)
{
    ipc_channel *tx = l->tx;
    if (rel.named) {
        ipc_close(l->rx); /* our copy of the parent's receiver */
        ipc_err err = ipc_open(l->addr, IPC_F_SEND, 5000, &tx);
        if (err != IPC_OK)
            tu_child_exit(3, "open %s: %s", l->addr, ipc_errname(err));
    } else {
        ipc_close(l->rx);
    }
    k9_child->opened = 1;
    unsigned char *buf = malloc(k9_max_msg);
    if (!buf)
        tu_child_exit(3, "malloc");
    for (uint64_t seq = 0;; seq++) {
        size_t len = rel_msg_len(&rng, k9_max_msg, 3);
        rel_msg_fill(buf, len, 0, seq);
        k9_child->in_send = 1;
        ipc_err err = ipc_send(tx, buf, len, 0, forever ? -1 : 20000);
        k9_child->in_send = 0;
        if (err != IPC_OK)
            tu_child_exit(4, "send seq %llu: %s", (unsigned long long)seq,
                          ipc_errname(err));
    }
}

/* Receive one message or an error, checking the wait and the message. */
static ipc_err k9_recv(ipc_channel *rx, unsigned char *buf, int timeout_ms,
                       uint64_t *next_seq, struct k9_stats *st)
{
    size_t len = 0;
    int64_t t0 = tu_now_ns();
    ipc_err err = ipc_recv(rx, buf, k9_max_msg, &len, NULL, timeout_ms);
    const char *late = rel_wait_check(t0, timeout_ms, err);
    if (late)
        fail_msg("receive: %s", late);
    if (err == IPC_ECLOSED && strstr(ipc_last_detail(), "mid-frame"))
        st->torn++;
    if (err != IPC_OK)
        return err;
    uint32_t producer;
    uint64_t seq;
    const char *bad = rel_msg_check(buf, len, 1, &producer, &seq);
    if (bad)
        fail_msg("message %llu (%zu bytes): %s", (unsigned long long)*next_seq,
                 len, bad);
    /* One sender that never saw an error: nothing may be missing. */
    if (seq != *next_seq)
        fail_msg("sequence %llu, expected %llu (lost, doubled or reordered)",
                 (unsigned long long)seq, (unsigned long long)*next_seq);
    (*next_seq)++;
    st->msgs++;
    return IPC_OK;
}

/* After the kill the channel, or a fresh one at the same address, works. */
static void k9_works_after(const struct rel_link *l, bool same_rx)
{
    unsigned char msg[REL_MSG_HDR + 40], got[sizeof msg];
    size_t len;
    uint32_t producer;
    uint64_t seq;
    struct rel_link fresh = {0};

    if (same_rx) {
        /* The receiver lives on: a new sender at the same address. */
        ipc_channel *tx = NULL;
        assert_ipc_err(ipc_open(l->addr, IPC_F_SEND, 5000, &tx), IPC_OK);
        rel_msg_fill(msg, sizeof msg, 0, 7);
        assert_ipc_err(ipc_send(tx, msg, sizeof msg, 0, 5000), IPC_OK);
        assert_ipc_err(ipc_recv(l->rx, got, sizeof got, &len, NULL, 5000),
                       IPC_OK);
        ipc_close(tx);
    } else if (rel.named) {
        /* The creator died: take the stale name over and use it. */
        assert_ipc_err(ipc_open(l->addr,
                                IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV, 5000,
                                &fresh.rx),
                       IPC_OK);
        assert_ipc_err(ipc_open(l->addr, IPC_F_SEND, 5000, &fresh.tx), IPC_OK);
        rel_msg_fill(msg, sizeof msg, 0, 7);
        assert_ipc_err(ipc_send(fresh.tx, msg, sizeof msg, 0, 5000), IPC_OK);
        assert_ipc_err(ipc_recv(fresh.rx, got, sizeof got, &len, NULL, 5000),
                       IPC_OK);
        rel_link_close(&fresh);
    } else {
        assert_ipc_err(rel_link_open(&fresh, NULL), IPC_OK);
        rel_msg_fill(msg, sizeof msg, 0, 7);
        assert_ipc_err(ipc_send(fresh.tx, msg, sizeof msg, 0, 5000), IPC_OK);
        assert_ipc_err(ipc_recv(fresh.rx, got, sizeof got, &len, NULL, 5000),
                       IPC_OK);
        rel_link_close(&fresh);
    }
    assert_int_equal(len, sizeof msg);
    assert_null(rel_msg_check(got, len, 1, &producer, &seq));
    assert_int_equal(seq, 7);
}

static void k9_sender_round(unsigned round, unsigned char *buf,
                            struct k9_stats *st)
{
    struct rel_link l = {0};
    uint64_t rng = tu_mix(rel.seed ^ (0x5e00000000ull + round));
    if (rel.named)
        assert_ipc_err(rel_link_open_rx(&l, k9_opts), IPC_OK);
    else
        assert_ipc_err(rel_link_open(&l, k9_opts), IPC_OK);
    ipc_info info;
    assert_ipc_err(ipc_query(l.rx, &info), IPC_OK);
    bool peer_closed = info.caps & IPC_CAP_PEER_CLOSED;

    k9_child->in_send = 0;
    k9_child->opened = 0;
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0)
        k9_sender_child(&l, round & 1, rng ^ 1);
    ipc_close(l.tx); /* the child holds the only sender */
    l.tx = NULL;

    /* Until the instant: read along (or stall, so that the child fills the
     * channel and blocks inside a write), then kill. */
    uint64_t next_seq = 0;
    int64_t kill_at = tu_now_ns() + k9_delay_ns(&rng);
    bool stall = rel_rand(&rng) & 1;
    while (!stall && tu_now_ns() < kill_at) {
        int left = (int)((kill_at - tu_now_ns()) / 1000000) + 1;
        ipc_err err = k9_recv(l.rx, buf, left, &next_seq, st);
        if (err != IPC_OK && err != IPC_ETIMEDOUT)
            fail_msg("receive before the kill: %s (%s)", ipc_errname(err),
                     ipc_last_detail());
    }
    while (stall && tu_now_ns() < kill_at)
        tu_sleep_ms(1);
    kill(pid, SIGKILL);
    bool was_sending = k9_child->in_send;
    k9_check_status(pid);
    /* A pair's sender holds its end from the fork on. */
    bool opened = !rel.named || k9_child->opened;
    st->mid_send += was_sending;
    st->before_open += !opened;

    /* Drain: every whole message, then closed (or the timeout). A named
     * receiver whose sender died before its open returned may never have
     * had a sender: "every sender is gone" presumes one came, so it may
     * wait out its timeout (FIFO: it cannot tell "none yet" from "one came
     * and went" unless one came); if the open got as far as the kernel,
     * it hears IPC_ECLOSED. Either way, never early and never much late. */
    bool unsure = peer_closed && !opened;
    int timeout = peer_closed && opened ? 5000 : K9_UNSEEN_MS;
    for (;;) {
        ipc_err err = k9_recv(l.rx, buf, timeout, &next_seq, st);
        if (err == IPC_OK)
            continue;
        if (peer_closed && err == IPC_ECLOSED) {
            st->closed++;
            break;
        }
        if ((!peer_closed || unsure) && err == IPC_ETIMEDOUT) {
            st->timed_out++;
            break;
        }
        fail_msg("receive after the sender's kill (%s its open returned): "
                 "%s, expected %s (%s)",
                 opened ? "after" : "before", ipc_errname(err),
                 unsure        ? "IPC_ECLOSED or a timeout"
                 : peer_closed ? "IPC_ECLOSED"
                               : "a timeout",
                 ipc_last_detail());
    }
    k9_works_after(&l, rel.named);
    rel_link_close(&l);
    st->rounds++;
}

static void test_sender_killed(void **state)
{
    (void)state;
    struct k9_stats st = {0};
    unsigned rounds = k9_rounds();
    k9_setup_size();
    k9_child = rel_shared(sizeof *k9_child);
    unsigned char *buf = malloc(k9_max_msg);
    assert_non_null(buf);
    int64_t t0 = tu_now_ns();
    for (unsigned r = 0; r < rounds; r++)
        k9_sender_round(r, buf, &st);
    free(buf);
    rel_figure("sender killed: %u/%u rounds survived, %llu messages checked, "
               "%u kills inside a send, %u before its open returned, %u "
               "partial messages discarded, survivor saw IPC_ECLOSED %u / "
               "timeout %u, max_msg %zu, %.1f s",
               st.rounds, rounds, st.msgs, st.mid_send, st.before_open, st.torn,
               st.closed, st.timed_out, k9_max_msg, tu_elapsed_ms(t0) / 1000);
}

/* ---------------------------------------------------- the receiver dies */

static void k9_receiver_child(struct rel_link *l, struct rel_sync *sync)
{
    ipc_channel *rx = l->rx;
    if (rel.named) {
        ipc_err err = ipc_open(l->addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV,
                               5000, &rx);
        if (err != IPC_OK)
            tu_child_exit(3, "create %s: %s", l->addr, ipc_errname(err));
        rel_sync_post(sync);
    } else {
        ipc_close(l->tx);
    }
    unsigned char *buf = malloc(k9_max_msg);
    if (!buf)
        tu_child_exit(3, "malloc");
    uint64_t last = 0;
    for (bool first = true;; first = false) {
        size_t len;
        uint32_t producer;
        uint64_t seq;
        ipc_err err = ipc_recv(rx, buf, k9_max_msg, &len, NULL, -1);
        if (err != IPC_OK)
            tu_child_exit(4, "receive: %s", ipc_errname(err));
        const char *bad = rel_msg_check(buf, len, 1, &producer, &seq);
        if (bad)
            tu_child_exit(5, "message after seq %llu: %s",
                          (unsigned long long)last, bad);
        /* The parent skips a sequence number after a timed-out send. */
        if (!first && seq <= last)
            tu_child_exit(6, "seq %llu after %llu", (unsigned long long)seq,
                          (unsigned long long)last);
        last = seq;
    }
}

static void k9_receiver_round(unsigned round, unsigned char *buf,
                              struct k9_stats *st)
{
    struct rel_link l = {0};
    struct rel_sync sync = {{-1, -1}};
    uint64_t rng = tu_mix(rel.seed ^ (0x7e00000000ull + round));
    if (rel.named) {
        rel_addr(l.addr, sizeof l.addr, k9_opts);
        rel_sync_init(&sync);
    } else {
        assert_ipc_err(rel_link_open(&l, k9_opts), IPC_OK);
    }
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0)
        k9_receiver_child(&l, &sync);
    if (rel.named) {
        bool ready = rel_sync_wait(&sync, REL_CHILD_MS);
        rel_sync_close(&sync);
        if (!ready) {
            tu_kill(pid);
            fail_msg("the receiver child did not create %s", l.addr);
        }
        assert_ipc_err(ipc_open(l.addr, IPC_F_SEND, 5000, &l.tx), IPC_OK);
    } else {
        ipc_close(l.rx);
        l.rx = NULL;
    }
    ipc_info info;
    assert_ipc_err(ipc_query(l.tx, &info), IPC_OK);
    /* With PEER_CLOSED the end comes as IPC_ECLOSED at once; without it
     * the channel fills and a send times out. A named object that outlives
     * its killed creator (the receiver here) is still there for another
     * receiver to read: its sender rightly waits out its timeout. */
    bool peer_closed = (info.caps & IPC_CAP_PEER_CLOSED) &&
                       !(rel.named && (rel.row->flags & TU_R_OUTLIVES_CREATOR));
    int timeout = peer_closed ? 5000 : K9_UNSEEN_MS;

    int64_t kill_at = tu_now_ns() + k9_delay_ns(&rng);
    bool killed = false;
    ipc_err err = IPC_OK;
    for (uint64_t seq = 0;; seq++) {
        if (!killed && tu_now_ns() >= kill_at) {
            kill(pid, SIGKILL);
            k9_check_status(pid);
            killed = true;
        }
        size_t len = rel_msg_len(&rng, k9_max_msg, 3);
        rel_msg_fill(buf, len, 0, seq);
        int64_t t0 = tu_now_ns();
        err = ipc_send(l.tx, buf, len, 0, killed ? timeout : 20);
        const char *late = rel_wait_check(t0, killed ? timeout : 20, err);
        if (late)
            fail_msg("send: %s", late);
        if (err == IPC_OK || (!killed && err == IPC_ETIMEDOUT))
            continue;
        if (killed && err == (peer_closed ? IPC_ECLOSED : IPC_ETIMEDOUT))
            break;
        if (!killed) {
            /* Closed while the receiver lived: it must have failed. */
            kill(pid, SIGKILL);
            char what[64];
            int status = tu_reap(pid, REL_CHILD_MS);
            fail_msg("send before the kill: %s (%s); receiver child: %s",
                     ipc_errname(err), ipc_last_detail(),
                     tu_status_str(status, what, sizeof what));
        }
        fail_msg("send after the receiver's kill: %s, expected %s (%s)",
                 ipc_errname(err), peer_closed ? "IPC_ECLOSED" : "a timeout",
                 ipc_last_detail());
    }
    if (err == IPC_ECLOSED)
        st->closed++;
    else
        st->timed_out++;
    /* It stays closed, and says so at once. */
    if (peer_closed)
        assert_ipc_err(ipc_send(l.tx, buf, REL_MSG_HDR, 0, 0), IPC_ECLOSED);
    ipc_close(l.tx);
    l.tx = NULL;
    k9_works_after(&l, false);
    rel_link_close(&l);
    st->rounds++;
}

static void test_receiver_killed(void **state)
{
    (void)state;
    struct k9_stats st = {0};
    unsigned rounds = k9_rounds();
    k9_setup_size();
    unsigned char *buf = malloc(k9_max_msg);
    assert_non_null(buf);
    int64_t t0 = tu_now_ns();
    for (unsigned r = 0; r < rounds; r++)
        k9_receiver_round(r, buf, &st);
    free(buf);
    rel_figure("receiver killed: %u/%u rounds survived, sender saw "
               "IPC_ECLOSED %u / timeout %u, no SIGPIPE, max_msg %zu, %.1f s",
               st.rounds, rounds, st.closed, st.timed_out, k9_max_msg,
               tu_elapsed_ms(t0) / 1000);
}

static const struct rel_test k9_tests[] = {
    {"sender_killed", test_sender_killed, REL_ANY},
    {"receiver_killed", test_receiver_killed, REL_ANY},
    {NULL, NULL, REL_ANY},
};

int main(int argc, char **argv)
{
    return rel_main(argc, argv, "kill9", k9_tests);
}
