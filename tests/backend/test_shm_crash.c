/* SPDX-License-Identifier: MIT */
/* shm: senders and receivers killed (SIGKILL) at random instants, in a
 * loop: the survivors never wait past their timeout, never receive a half
 * message, and the ring goes on. Plus the holders that die on purpose:
 * a loan never committed, a view never released, a zombie, a reused pid. */
#include "shm_test.h"

#include <poll.h>
#include <stdatomic.h>

#define CR_CAP     4
#define CR_MAX_MSG 65536
#define CR_OPTS    "capacity=4&max_msg=65536"
#define CR_HDR     16
#define CR_MARK    UINT64_MAX
/* Rounds per scenario and mode, unless time runs out first (valgrind). */
#define CR_ROUNDS     150
#define CR_BUDGET_MS  12000
#define CR_MIN_ROUNDS 20

struct cr_hdr {
    uint64_t seq;
    uint64_t len;
};

/* Mostly large messages, so that a kill lands inside a copy. */
static size_t cr_len(uint64_t seed, uint64_t seq)
{
    uint64_t r = tu_mix(seed ^ (seq * 0x9e3779b97f4a7c15ull));
    if (r & 3)
        return CR_MAX_MSG - (size_t)((r >> 8) % 4096);
    return CR_HDR + (size_t)((r >> 8) % (CR_MAX_MSG - CR_HDR + 1));
}

static void cr_fill(void *buf, uint64_t seed, uint64_t seq)
{
    struct cr_hdr h = {seq, cr_len(seed, seq)};
    memcpy(buf, &h, sizeof h);
    tu_pattern((char *)buf + CR_HDR, h.len - CR_HDR, seed ^ seq);
}

/* The sequence number of a whole message, or a complaint. */
static const char *cr_check(const void *buf, size_t len, uint64_t seed,
                            uint64_t *seq)
{
    struct cr_hdr h;
    if (len < CR_HDR)
        return "a message shorter than its header";
    memcpy(&h, buf, sizeof h);
    *seq = h.seq;
    if (h.seq == CR_MARK)
        return len == CR_HDR ? NULL : "a marker of the wrong length";
    if (h.len != len || len != cr_len(seed, h.seq))
        return "a message of the wrong length (cut or merged)";
    if (tu_pattern_check((const char *)buf + CR_HDR, len - CR_HDR,
                         seed ^ h.seq) != len - CR_HDR)
        return "a half-written or corrupted payload";
    return NULL;
}

/* Shared with the children (anonymous shared mapping). */
struct cr_board {
    _Atomic int64_t last; /* receiver child: last message checked whole */
};

struct cr_ctx {
    const char *addr; /* named ring, or NULL for the pair ends */
    ipc_channel *tx, *rx;
    uint64_t seed;
    int ready_fd;
    bool zero_copy;
    struct cr_board *board;
};

static void cr_ready(int fd)
{
    ssize_t r = write(fd, "r", 1);
    (void)r;
}

static void cr_wait_ready(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char c;
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    assert_int_equal(read(fd, &c, 1), 1);
}

/* Child: send messages 0, 1, 2, ... until killed. */
static int cr_sender(void *arg)
{
    struct cr_ctx *c = arg;
    ipc_channel *tx = c->tx;
    static unsigned char buf[CR_MAX_MSG];
    if (c->addr) {
        if (ipc_open(c->addr, IPC_F_SEND, 5000, &tx) != IPC_OK)
            return 3;
    } else {
        ipc_close(c->rx); /* pair, fork, close the end you do not use */
    }
    cr_ready(c->ready_fd);
    for (uint64_t seq = 0;; seq++) {
        ipc_err err;
        size_t len = cr_len(c->seed, seq);
        if (c->zero_copy) {
            /* Filled in place: the slot is held the whole time. */
            void *loan;
            if ((err = ipc_loan(tx, len, &loan, 10000)) == IPC_OK) {
                cr_fill(loan, c->seed, seq);
                /* A producer that takes its time with its loan. */
                int64_t hold = tu_now_ns() + 100000;
                while (tu_now_ns() < hold)
                    ;
                err = ipc_commit(tx, loan, len, 0);
            }
        } else {
            cr_fill(buf, c->seed, seq);
            err = ipc_send(tx, buf, len, 0, 10000);
        }
        if (err != IPC_OK) {
            fprintf(stderr, "[sender] %s: %s\n", ipc_errname(err),
                    ipc_last_detail());
            return 4;
        }
    }
}

/* Child: receive and check messages until killed. */
static int cr_receiver(void *arg)
{
    struct cr_ctx *c = arg;
    ipc_channel *rx = c->rx;
    static unsigned char buf[CR_MAX_MSG];
    if (c->addr) {
        if (ipc_open(c->addr, IPC_F_RECV, 5000, &rx) != IPC_OK)
            return 3;
    } else {
        ipc_close(c->tx);
    }
    cr_ready(c->ready_fd);
    for (uint64_t i = 0;; i++) {
        const void *view = NULL;
        const void *msg = buf;
        size_t len = 0;
        uint64_t seq = 0;
        ipc_err err;
        if (c->zero_copy) {
            /* Checked in place: the slot is held the whole time. */
            err = ipc_view(rx, &view, &len, NULL, 10000);
            msg = view;
        } else {
            err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 10000);
        }
        if (err != IPC_OK)
            return 4;
        (void)i;
        const char *bad = cr_check(msg, len, c->seed, &seq);
        if (bad) {
            fprintf(stderr, "[receiver] %s (seq %llu)\n", bad,
                    (unsigned long long)seq);
            return 5;
        }
        if ((int64_t)seq != atomic_load(&c->board->last) + 1) {
            fprintf(stderr, "[receiver] seq %llu after %lld\n",
                    (unsigned long long)seq,
                    (long long)atomic_load(&c->board->last));
            return 6;
        }
        atomic_store(&c->board->last, (int64_t)seq);
        if (!view)
            continue;
        /* A consumer that takes its time with a message it views: most
         * kills then land while it holds a slot. */
        int64_t hold = tu_now_ns() + 100000;
        while (tu_now_ns() < hold)
            ;
        if (ipc_release(rx, view) != IPC_OK)
            return 7;
    }
}

/* Count the slots held (WRITING or READING) in the ring of an end. */
static int cr_held(const ipc_channel *ch, unsigned kind)
{
    void *base = ipc__shmring_test_base(ch);
    int n = 0;
    for (size_t i = 0; i < CR_CAP; i++)
        n += st_kind(__atomic_load_n(st_slot_state(base, CR_MAX_MSG, i),
                                     __ATOMIC_ACQUIRE)) == kind;
    return n;
}

struct cr_stats {
    int rounds;
    int held; /* rounds where the victim died holding a slot (named) */
};

struct cr_link {
    char name[96], addr[160];
    ipc_channel *tx, *rx;
};

static void cr_link_open(struct cr_link *l, bool named)
{
    if (!named) {
        ipc_channel *ends[2];
        assert_ipc_err(ipc_pair("shm:?" CR_OPTS, 0, ends), IPC_OK);
        l->tx = ends[0];
        l->rx = ends[1];
        l->addr[0] = '\0';
        return;
    }
    st_name(l->name, sizeof l->name, l->addr, sizeof l->addr, CR_OPTS);
    assert_ipc_err(
        ipc_open(l->addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &l->rx),
        IPC_OK);
    assert_ipc_err(ipc_open(l->addr, IPC_F_SEND, 1000, &l->tx), IPC_OK);
}

static void cr_link_close(struct cr_link *l)
{
    ipc_close(l->tx);
    ipc_close(l->rx);
    l->tx = l->rx = NULL;
    if (l->addr[0] && st_exists(l->name))
        fail_msg("%s left behind", l->name);
}

/* Receive whatever is there; every message whole and in sequence (from
 * *next; from any first one when *next < 0, noted in *first). */
static ipc_err cr_drain_from(ipc_channel *rx, uint64_t seed, int64_t *next,
                             int64_t *first, int timeout_ms)
{
    static unsigned char buf[CR_MAX_MSG];
    for (;;) {
        size_t len = 0;
        uint64_t seq = 0;
        ipc_err err = ipc_recv(rx, buf, sizeof buf, &len, NULL, timeout_ms);
        if (err != IPC_OK)
            return err;
        const char *bad = cr_check(buf, len, seed, &seq);
        if (bad)
            fail_msg("%s (seq %llu, %zu bytes)", bad, (unsigned long long)seq,
                     len);
        if (seq == CR_MARK)
            return IPC_OK; /* the caller's marker */
        if (*next >= 0 && (int64_t)seq != *next)
            fail_msg("seq %llu, expected %lld (lost, doubled or reordered)",
                     (unsigned long long)seq, (long long)*next);
        if (*first < 0)
            *first = (int64_t)seq;
        *next = (int64_t)seq + 1;
    }
}

static ipc_err cr_drain(ipc_channel *rx, uint64_t seed, int64_t *next,
                        int timeout_ms)
{
    int64_t first = 0;
    return cr_drain_from(rx, seed, next, &first, timeout_ms);
}

/* Receive at most one message (waiting up to timeout_ms), checked. */
static void cr_recv_one(ipc_channel *rx, uint64_t seed, int64_t *next,
                        int timeout_ms)
{
    static unsigned char buf[CR_MAX_MSG];
    size_t len = 0;
    uint64_t seq = 0;
    ipc_err err = ipc_recv(rx, buf, sizeof buf, &len, NULL, timeout_ms);
    if (err == IPC_ETIMEDOUT || err == IPC_EAGAIN)
        return;
    if (err != IPC_OK)
        fail_msg("receive before the kill: %s", ipc_errname(err));
    const char *bad = cr_check(buf, len, seed, &seq);
    if (bad || (int64_t)seq != *next)
        fail_msg("%s (seq %llu, expected %lld)", bad ? bad : "out of order",
                 (unsigned long long)seq, (long long)*next);
    *next = (int64_t)seq + 1;
}

/* Wait until a killed child has exited, and leave it unreaped (a zombie):
 * its descriptors are closed then, and its entries are a dead process's.
 * A fixed nap was not enough on a loaded machine: a child still exiting
 * 20 ms after SIGKILL is not gone yet, and its peer rightly waits. */
static void cr_until_dead(pid_t pid)
{
    siginfo_t si;
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 &&
           errno == EINTR)
        ;
}

static void cr_mark(ipc_channel *tx)
{
    struct cr_hdr h = {CR_MARK, CR_HDR};
    assert_ipc_err(ipc_send(tx, &h, sizeof h, 0, 2000), IPC_OK);
}

/* One round: a sender child killed at a random instant while this process
 * receives. Afterwards: only whole messages 0..m-1, then the end the mode
 * promises within the timeout, and (when we still can send) a marker
 * passes the dead reservation. */
static void cr_round_sender(bool named, struct cr_stats *st)
{
    struct cr_link l;
    int fds[2];
    cr_link_open(&l, named);
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    uint64_t r = tu_rand();
    bool keep_tx = named || (r & 1); /* pair: the child may be the only one */
    bool zombie = (r >> 1) & 1;      /* judge the holder before it is reaped */
    struct cr_ctx c = {.addr = named ? l.addr : NULL,
                       .tx = l.tx,
                       .rx = l.rx,
                       .seed = tu_rand(),
                       .ready_fd = fds[1],
                       .zero_copy = ((r >> 2) & 3) != 0};
    pid_t pid = tu_spawn(cr_sender, &c);
    if (!keep_tx) {
        ipc_close(l.tx);
        l.tx = NULL;
    }
    cr_wait_ready(fds[0]);
    int64_t next = 0;
    int64_t until = tu_now_ns() + (int64_t)tu_rand_range(0, 3000) * 1000;
    /* A short wait, not 0: keep up with the sender so that it is rarely
     * blocked on a full ring when the kill comes. */
    while (tu_now_ns() < until)
        cr_recv_one(l.rx, c.seed, &next, 1);
    kill(pid, SIGKILL);
    if (!zombie)
        tu_kill(pid);
    else
        cr_until_dead(pid);
    st->held += cr_held(l.rx, ST_WRITING) > 0;

    int64_t t0 = tu_now_ns();
    ipc_err end = cr_drain(l.rx, c.seed, &next, 20);
    double took = tu_elapsed_ms(t0);
    ipc_err want = keep_tx ? IPC_ETIMEDOUT : IPC_ECLOSED;
    if (end != want)
        fail_msg("after the kill: %s, expected %s (%s)", ipc_errname(end),
                 ipc_errname(want), ipc_last_detail());
    if (took > 5000)
        fail_msg("the receiver waited %.0f ms for a dead sender", took);
    if (keep_tx) {
        /* The ring moves past a dead reservation: the marker arrives. */
        cr_mark(l.tx);
        t0 = tu_now_ns();
        assert_ipc_err(cr_drain(l.rx, c.seed, &next, 2000), IPC_OK);
        if (tu_elapsed_ms(t0) > 1500)
            fail_msg("the marker took %.0f ms", tu_elapsed_ms(t0));
    }
    if (zombie)
        tu_kill(pid);
    close(fds[0]);
    close(fds[1]);
    cr_link_close(&l);
    st->rounds++;
}

/* One round: a receiver child killed at a random instant while this
 * process sends. Afterwards we receive: the first message follows the
 * child's last at most one further on (the one it was taking), then all
 * in order; and the sender passes the dead reader's slot. */
static void cr_round_receiver(bool named, struct cr_stats *st,
                              struct cr_board *board)
{
    struct cr_link l;
    int fds[2];
    static unsigned char buf[CR_MAX_MSG];
    cr_link_open(&l, named);
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    uint64_t r = tu_rand();
    bool zombie = r & 1;
    atomic_store(&board->last, -1);
    struct cr_ctx c = {.addr = named ? l.addr : NULL,
                       .tx = l.tx,
                       .rx = l.rx,
                       .seed = tu_rand(),
                       .ready_fd = fds[1],
                       .zero_copy = ((r >> 1) & 3) != 0,
                       .board = board};
    pid_t pid = tu_spawn(cr_receiver, &c);
    cr_wait_ready(fds[0]);
    uint64_t seq = 0;
    int64_t until = tu_now_ns() + (int64_t)tu_rand_range(0, 3000) * 1000;
    while (tu_now_ns() < until) {
        size_t len = cr_len(c.seed, seq);
        cr_fill(buf, c.seed, seq);
        ipc_err err = ipc_send(l.tx, buf, len, 0, 0);
        if (err == IPC_OK)
            seq++;
        else if (err != IPC_EAGAIN)
            fail_msg("send before the kill: %s", ipc_errname(err));
    }
    kill(pid, SIGKILL);
    if (!zombie)
        tu_kill(pid);
    else
        cr_until_dead(pid);
    st->held += cr_held(l.rx, ST_READING) > 0;
    int64_t last = atomic_load(&board->last);

    /* What is left is whole and in order, and starts right after the
     * child's last message, or one later: the one it died taking. Then 3
     * laps more through the ring, one message at a time: each send must
     * find room, which needs the dead reader's slot back. */
    int64_t next = -1, first = -1;
    assert_ipc_err(cr_drain_from(l.rx, c.seed, &next, &first, 0), IPC_EAGAIN);
    for (int i = 0; i < 3 * CR_CAP; i++, seq++) {
        cr_fill(buf, c.seed, seq);
        int64_t t0 = tu_now_ns();
        assert_ipc_err(ipc_send(l.tx, buf, cr_len(c.seed, seq), 0, 2000),
                       IPC_OK);
        if (tu_elapsed_ms(t0) > 1500)
            fail_msg("a send waited %.0f ms for a dead reader",
                     tu_elapsed_ms(t0));
        assert_ipc_err(cr_drain_from(l.rx, c.seed, &next, &first, 0),
                       IPC_EAGAIN);
    }
    if (first != last + 1 && first != last + 2)
        fail_msg("the child took up to %lld, we got %lld first (lost or "
                 "doubled)",
                 (long long)last, (long long)first);
    if (next != (int64_t)seq)
        fail_msg("received up to %lld, sent %llu", (long long)next,
                 (unsigned long long)seq);
    if (zombie)
        tu_kill(pid);
    close(fds[0]);
    close(fds[1]);
    cr_link_close(&l);
    st->rounds++;
}

static void cr_report(const char *what, const struct cr_stats *st, bool named)
{
    print_message("  %s, %s: %d rounds, %d killed holding a slot\n", what,
                  named ? "named" : "pair", st->rounds, st->held);
    if (st->rounds < CR_MIN_ROUNDS)
        fail_msg("only %d rounds in the time budget", st->rounds);
}

static void test_kill_senders(void **state)
{
    (void)state;
    for (int named = 1; named >= 0; named--) {
        struct cr_stats st = {0, 0};
        int64_t t0 = tu_now_ns();
        while ((st.rounds < CR_ROUNDS || st.held < 3) &&
               tu_elapsed_ms(t0) < CR_BUDGET_MS)
            cr_round_sender(named, &st);
        cr_report("senders killed", &st, named);
        if (st.held == 0)
            fail_msg("%s", "no kill landed inside a send: the test proved "
                           "nothing about dead reservations");
    }
}

static void test_kill_receivers(void **state)
{
    (void)state;
    struct cr_board *board = mmap(NULL, sizeof *board, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(board != MAP_FAILED);
    for (int named = 1; named >= 0; named--) {
        struct cr_stats st = {0, 0};
        int64_t t0 = tu_now_ns();
        while ((st.rounds < CR_ROUNDS || st.held < 3) &&
               tu_elapsed_ms(t0) < CR_BUDGET_MS)
            cr_round_receiver(named, &st, board);
        cr_report("receivers killed", &st, named);
        if (st.held == 0)
            fail_msg("%s", "no kill landed inside a receive: the test "
                           "proved nothing about dead readers");
    }
    munmap(board, sizeof *board);
}

/* ------------------------------------------------ holders that die */

struct hold_ctx {
    const char *addr;
    int ready_fd;
    bool view; /* receive and hold a view; else hold a loan */
};

/* Child: take a loan (or a view), say so, and wait to be killed. */
static int hold_child(void *arg)
{
    struct hold_ctx *h = arg;
    ipc_channel *ch = NULL;
    const void *view;
    void *loan;
    size_t len;
    if (ipc_open(h->addr, h->view ? IPC_F_RECV : IPC_F_SEND, 5000, &ch))
        return 3;
    if (h->view ? ipc_view(ch, &view, &len, NULL, 5000)
                : ipc_loan(ch, 16, &loan, 5000))
        return 4;
    if (!h->view)
        memcpy(loan, "half-written....", 16);
    cr_ready(h->ready_fd);
    for (;;)
        pause();
}

static pid_t hold_start(const char *addr, bool view, int fds[2])
{
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    static struct hold_ctx h;
    h = (struct hold_ctx){addr, fds[1], view};
    pid_t pid = tu_spawn(hold_child, &h);
    cr_wait_ready(fds[0]);
    return pid;
}

static void expect_msg(ipc_channel *rx, const char *want, int timeout_ms)
{
    char buf[64];
    size_t len = 0;
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, timeout_ms),
                   IPC_OK);
    if (len != strlen(want) || memcmp(buf, want, len) != 0)
        fail_msg("received \"%.*s\", expected \"%s\"", (int)len, buf, want);
}

/* A sender killed holding a loan it never committed: the message behind
 * it waits while the holder lives (order), then passes within the
 * timeout; the loaned bytes are never delivered. Reaped or zombie. */
static void test_dead_loan(void **state)
{
    (void)state;
    for (int zombie = 0; zombie < 2; zombie++) {
        char name[96], addr[160];
        ipc_channel *rx, *tx;
        int fds[2];
        char buf[64];
        size_t len;
        st_name(name, sizeof name, addr, sizeof addr, "capacity=4&max_msg=64");
        assert_ipc_err(
            ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &rx),
            IPC_OK);
        assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
        pid_t pid = hold_start(addr, false, fds);
        assert_ipc_err(ipc_send(tx, "after", 5, 0, 1000), IPC_OK);
        int64_t t0 = tu_now_ns();
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 200),
                       IPC_ETIMEDOUT);
        assert_true(tu_elapsed_ms(t0) >= 200);
        kill(pid, SIGKILL);
        if (!zombie)
            tu_kill(pid);
        t0 = tu_now_ns();
        expect_msg(rx, "after", 2000);
        if (tu_elapsed_ms(t0) > 1000)
            fail_msg("passing a dead loan took %.0f ms", tu_elapsed_ms(t0));
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0),
                       IPC_EAGAIN);
        if (zombie)
            tu_kill(pid);
        close(fds[0]);
        close(fds[1]);
        ipc_close(tx);
        ipc_close(rx);
        assert_false(st_exists(name));
    }
}

/* A receiver killed holding a view: senders wait for that slot while the
 * holder lives, then get it back within their timeout. */
static void test_dead_view(void **state)
{
    (void)state;
    for (int zombie = 0; zombie < 2; zombie++) {
        char name[96], addr[160];
        ipc_channel *rx, *tx;
        int fds[2];
        st_name(name, sizeof name, addr, sizeof addr, "capacity=2&max_msg=64");
        assert_ipc_err(
            ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &rx),
            IPC_OK);
        assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
        assert_ipc_err(ipc_send(tx, "m0", 2, 0, 1000), IPC_OK);
        assert_ipc_err(ipc_send(tx, "m1", 2, 0, 1000), IPC_OK);
        pid_t pid = hold_start(addr, true, fds); /* views m0 */
        expect_msg(rx, "m1", 1000);
        int64_t t0 = tu_now_ns();
        assert_ipc_err(ipc_send(tx, "m2", 2, 0, 200), IPC_ETIMEDOUT);
        assert_true(tu_elapsed_ms(t0) >= 200);
        kill(pid, SIGKILL);
        if (!zombie)
            tu_kill(pid);
        t0 = tu_now_ns();
        assert_ipc_err(ipc_send(tx, "m2", 2, 0, 2000), IPC_OK);
        if (tu_elapsed_ms(t0) > 1000)
            fail_msg("taking back a dead view took %.0f ms", tu_elapsed_ms(t0));
        expect_msg(rx, "m2", 1000);
        if (zombie)
            tu_kill(pid);
        close(fds[0]);
        close(fds[1]);
        ipc_close(tx);
        ipc_close(rx);
        assert_false(st_exists(name));
    }
}

/* Hand-written holders (white box): slot 0 reserved by peer entry 255
 * with the given pid, start time and pid namespace; our real message
 * goes to slot 1. */
static void fake_holder(ipc_channel *rx, ipc_channel *tx, uint32_t pid,
                        uint64_t start, uint64_t pidns, uint32_t gen_ref)
{
    void *base = ipc__shmring_test_base(rx);
    char *peer = (char *)base + st_off("peers") + 255 * st_off("peer_size");
    __atomic_store_n((uint64_t *)(peer + 8), start, __ATOMIC_RELAXED);
    __atomic_store_n((uint64_t *)(peer + 16), pidns, __ATOMIC_RELAXED);
    __atomic_store_n((uint64_t *)peer,
                     ipc__shmring_test_peer(pid, 1, ST_PEER_LIVE, ST_ROLE_TX),
                     __ATOMIC_RELEASE);
    uint64_t pos = __atomic_load_n(st_u64(base, "tail"), __ATOMIC_ACQUIRE);
    __atomic_store_n(
        st_slot_state(base, 64, pos % 4),
        ipc__shmring_test_state(pos, ST_WRITING, 255u | gen_ref << 8),
        __ATOMIC_RELEASE);
    __atomic_store_n(st_u64(base, "tail"), pos + 1, __ATOMIC_RELEASE);
    assert_ipc_err(ipc_send(tx, "after", 5, 0, 1000), IPC_OK);
}

static uint64_t our_pidns(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static void test_judged_holders(void **state)
{
    (void)state;
    char name[96], addr[160];
    ipc_channel *rx, *tx;
    char buf[64];
    size_t len;
    uint64_t ns = our_pidns();
    st_name(name, sizeof name, addr, sizeof addr, "capacity=4&max_msg=64");
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &rx),
        IPC_OK);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    /* A live pid (ours) with another start time: the pid was reused, the
     * holder is dead. */
    fake_holder(rx, tx, (uint32_t)getpid(), 1, ns, 1);
    expect_msg(rx, "after", 2000);
    /* pids no process can have: garbage, dead, never passed to kill(). */
    fake_holder(rx, tx, 0, 0, ns, 1);
    expect_msg(rx, "after", 2000);
    fake_holder(rx, tx, (1u << 22) - 1, 0, ns, 1);
    expect_msg(rx, "after", 2000);
    /* The entry has moved on (another generation): that holder is gone. */
    fake_holder(rx, tx, (uint32_t)getpid(), 0, ns, 2);
    expect_msg(rx, "after", 2000);
    /* A process in another pid namespace cannot be judged: the ring waits
     * for it rather than risk taking a slot a live process writes. */
    if (ns) {
        fake_holder(rx, tx, (uint32_t)getpid(), 1, ns + 1, 1);
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 300),
                       IPC_ETIMEDOUT);
        /* Same namespace after all: now the start time tells. */
        void *base = ipc__shmring_test_base(rx);
        char *peer = (char *)base + st_off("peers") + 255 * st_off("peer_size");
        __atomic_store_n((uint64_t *)(peer + 16), ns, __ATOMIC_RELAXED);
        expect_msg(rx, "after", 2000);
    }
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    ipc_close(tx);
    ipc_close(rx);
}

/* Child: open to receive, say so, wait to be killed. */
static int cr_idle_receiver(void *arg)
{
    struct hold_ctx *h = arg;
    ipc_channel *rx = NULL;
    if (ipc_open(h->addr, IPC_F_RECV, 5000, &rx) != IPC_OK)
        return 3;
    cr_ready(h->ready_fd);
    for (;;)
        pause();
}

/* Every receiver of a named ring killed: a sender hears IPC_ECLOSED
 * within its timeout at the latest once the ring is full (the dead are
 * swept while it waits), and says so at once after. A new receiver makes
 * sends work again; the stale object goes with ipc_unlink. */
static void test_receivers_killed_named(void **state)
{
    (void)state;
    char name[96], addr[160];
    ipc_channel *tx = NULL, *rx = NULL;
    int fds[2];
    st_name(name, sizeof name, addr, sizeof addr, "capacity=2&max_msg=64");
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    static struct hold_ctx h;
    h = (struct hold_ctx){addr, fds[1], true};
    /* The creator is a sender here; the receiver is another process. */
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_SEND, 1000, &tx),
        IPC_OK);
    /* No receiver yet: a send waits for one, it is not "closed". */
    assert_ipc_err(ipc_send(tx, "0", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(tx, "0", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(tx, "0", 1, 0, 100), IPC_ETIMEDOUT);
    assert_ipc_err(ipc_open(addr, IPC_F_RECV, 1000, &rx), IPC_OK);
    char buf[8];
    size_t len;
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
    ipc_close(rx);

    pid_t pid = tu_spawn(cr_idle_receiver, &h);
    cr_wait_ready(fds[0]);
    tu_kill(pid);
    int64_t t0 = tu_now_ns();
    ipc_err err;
    int sent = 0;
    while ((err = ipc_send(tx, "1", 1, 0, 5000)) == IPC_OK)
        sent++;
    assert_ipc_err(err, IPC_ECLOSED);
    if (sent > 2 || tu_elapsed_ms(t0) > 2000)
        fail_msg("%d sends and %.0f ms before IPC_ECLOSED", sent,
                 tu_elapsed_ms(t0));
    assert_ipc_err(ipc_send(tx, "2", 1, 0, 0), IPC_ECLOSED);
    /* A receiver comes back: the ring works again. */
    assert_ipc_err(ipc_open(addr, IPC_F_RECV, 1000, &rx), IPC_OK);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
    assert_ipc_err(ipc_send(tx, "3", 1, 0, 1000), IPC_OK);
    ipc_close(rx);
    close(fds[0]);
    close(fds[1]);
    ipc_close(tx);
    assert_false(st_exists(name));
}

static int cr_pair_idle_receiver(void *arg)
{
    ipc_channel **ends = arg;
    ipc_close(ends[0]);
    for (;;)
        pause();
    return 0;
}

/* The only receiver of a pair killed: a sender hears IPC_ECLOSED at the
 * latest when the ring is full, within its timeout (the kernel closed the
 * dead receiver's sockets), and never SIGPIPE. */
static void test_receiver_killed_pair(void **state)
{
    (void)state;
    static ipc_channel *ends[2];
    assert_ipc_err(ipc_pair("shm:?capacity=4&max_msg=64", 0, ends), IPC_OK);
    pid_t pid = tu_spawn(cr_pair_idle_receiver, ends);
    ipc_close(ends[1]);
    tu_sleep_ms(20);
    tu_kill(pid);
    int64_t t0 = tu_now_ns();
    ipc_err err = IPC_OK;
    int sent = 0;
    while ((err = ipc_send(ends[0], "x", 1, 0, 2000)) == IPC_OK)
        sent++;
    assert_ipc_err(err, IPC_ECLOSED);
    if (sent > 4 || tu_elapsed_ms(t0) > 1500)
        fail_msg("%d sends and %.0f ms before IPC_ECLOSED", sent,
                 tu_elapsed_ms(t0));
    ipc_close(ends[0]);
}

/* A receiver forks a child that execs (issue 12, defect 3): the child no
 * longer holds the receive end, so once the receiver closes, a sender
 * hears IPC_ECLOSED, not a timeout. The atfork handler used to count the
 * child's copy for as long as the child lived. */
static void test_receiver_child_execs(void **state)
{
    (void)state;
    struct cr_link l;
    cr_link_open(&l, true);
    int gate[2];
    assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
    pid_t child = tu_fork();
    assert_true(child >= 0);
    if (child == 0) {
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    close(gate[1]);
    char c;
    /* The write end closes at exec: then the child holds no end. */
    assert_int_equal(read(gate[0], &c, 1), 0);
    close(gate[0]);
    ipc_close(l.rx);
    l.rx = NULL;
    int64_t t0 = tu_now_ns();
    ipc_err err = IPC_OK;
    for (int i = 0; i < 64 && err == IPC_OK; i++)
        err = ipc_send(l.tx, "m", 1, 0, 2000);
    tu_kill(child);
    if (err != IPC_ECLOSED)
        fail_msg("send after the receiver closed (its child exec'd): %s, "
                 "after %.0f ms; want IPC_ECLOSED",
                 ipc_strerror(err), tu_elapsed_ms(t0));
    assert_true(tu_elapsed_ms(t0) < 1000);
    cr_link_close(&l);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kill_senders, st_cleanup),
        cmocka_unit_test_teardown(test_kill_receivers, st_cleanup),
        cmocka_unit_test_teardown(test_dead_loan, st_cleanup),
        cmocka_unit_test_teardown(test_dead_view, st_cleanup),
        cmocka_unit_test_teardown(test_judged_holders, st_cleanup),
        cmocka_unit_test_teardown(test_receivers_killed_named, st_cleanup),
        cmocka_unit_test_teardown(test_receiver_killed_pair, st_cleanup),
        cmocka_unit_test_teardown(test_receiver_child_execs, st_cleanup),
    };
    return tu_run_tests("shm.crash", tests, argc, argv);
}
