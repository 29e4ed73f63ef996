/* SPDX-License-Identifier: MIT */
/* shm: several senders and several receivers on one ring, as processes
 * and as threads: every message exactly once, whole, in order per sender. */
#include "shm_test.h"

#include <pthread.h>
#include <stdatomic.h>

#define MP_SENDERS    3
#define MP_RECEIVERS  3
#define MP_PER_SENDER 20000
#define MP_MAX_MSG    1024
#define MP_HDR        16
#define MP_STOP       0xffffffffu

struct mp_hdr {
    uint32_t sender;
    uint32_t seq;
    uint32_t len;
    uint32_t sum;
};

/* Shared by every process of a run (an anonymous shared mapping). */
struct mp_board {
    _Atomic uint32_t got[MP_SENDERS][MP_PER_SENDER];
    _Atomic uint32_t taken[MP_RECEIVERS];
};

struct mp_run {
    const char *addr; /* named ring, or NULL: use the pair ends */
    ipc_channel *tx;  /* pair: the send end (inherited) */
    ipc_channel *rx;  /* pair: the receive end (inherited) */
    bool is_rx;       /* pair: this child receives */
    bool zero_copy;   /* loan/commit and view/release */
    struct mp_board *board;
    uint32_t id;
};

static uint64_t mp_seed(uint32_t sender, uint32_t seq)
{
    return tu_mix(((uint64_t)sender << 32) | seq);
}

static size_t mp_len(uint32_t sender, uint32_t seq)
{
    /* Mostly small, some large: small messages share cache lines with
     * the next slot's state, large ones take long enough to overlap. */
    uint64_t r = mp_seed(sender, seq);
    return MP_HDR + (size_t)((r & 7) ? (r >> 8) % 64
                                     : (r >> 8) % (MP_MAX_MSG - MP_HDR + 1));
}

static void mp_fill(unsigned char *buf, uint32_t sender, uint32_t seq)
{
    size_t len = mp_len(sender, seq);
    tu_pattern(buf + MP_HDR, len - MP_HDR, mp_seed(sender, seq));
    struct mp_hdr h = {sender, seq, (uint32_t)len,
                       tu_checksum(buf + MP_HDR, len - MP_HDR)};
    memcpy(buf, &h, sizeof h);
}

static int mp_fail(const struct mp_run *run, const char *what, ipc_err err)
{
    fprintf(stderr, "[%s %u, pid %ld] %s: %s (%s)\n",
            run->addr ? run->addr : "pair", run->id, (long)getpid(), what,
            ipc_errname(err), ipc_last_detail());
    return 1;
}

static ipc_err mp_send_one(ipc_channel *tx, bool zero_copy, uint32_t sender,
                           uint32_t seq)
{
    unsigned char buf[MP_MAX_MSG];
    size_t len = mp_len(sender, seq);
    if (!zero_copy) {
        mp_fill(buf, sender, seq);
        return ipc_send(tx, buf, len, 0, 20000);
    }
    void *loan = NULL;
    ipc_err err = ipc_loan(tx, MP_MAX_MSG, &loan, 20000);
    if (err != IPC_OK)
        return err;
    mp_fill(loan, sender, seq);
    return ipc_commit(tx, loan, len, 0);
}

static int mp_sender(void *arg)
{
    const struct mp_run *run = arg;
    ipc_channel *tx = run->tx;
    ipc_err err;
    if (run->addr && (err = ipc_open(run->addr, IPC_F_SEND, 5000, &tx)))
        return mp_fail(run, "open to send", err);
    for (uint32_t seq = 0; seq < MP_PER_SENDER; seq++)
        if ((err = mp_send_one(tx, run->zero_copy, run->id, seq)) != IPC_OK)
            return mp_fail(run, "send", err);
    ipc_close(tx);
    return 0;
}

/* Check one message; 0 if right, else a reason. */
static const char *mp_check(const unsigned char *buf, size_t len,
                            int64_t last[MP_SENDERS], struct mp_hdr *h)
{
    if (len < MP_HDR)
        return "a message shorter than its header: a piece of one";
    memcpy(h, buf, sizeof *h);
    if (h->sender == MP_STOP)
        return NULL;
    if (h->sender >= MP_SENDERS || h->seq >= MP_PER_SENDER || h->len != len ||
        len != mp_len(h->sender, h->seq))
        return "a header that no sender wrote (merged or cut message)";
    if ((int64_t)h->seq <= last[h->sender])
        return "a sender's messages out of order (or twice)";
    if (tu_checksum(buf + MP_HDR, len - MP_HDR) != h->sum ||
        tu_pattern_check(buf + MP_HDR, len - MP_HDR,
                         mp_seed(h->sender, h->seq)) != len - MP_HDR)
        return "a corrupted payload";
    last[h->sender] = h->seq;
    return NULL;
}

static int mp_receiver(void *arg)
{
    const struct mp_run *run = arg;
    ipc_channel *rx = run->rx;
    ipc_err err;
    int64_t last[MP_SENDERS];
    unsigned char copy[MP_MAX_MSG];
    for (int i = 0; i < MP_SENDERS; i++)
        last[i] = -1;
    if (run->addr && (err = ipc_open(run->addr, IPC_F_RECV, 5000, &rx)))
        return mp_fail(run, "open to receive", err);
    for (;;) {
        const void *view = NULL;
        const unsigned char *msg = copy;
        size_t len = 0;
        if (run->zero_copy) {
            err = ipc_view(rx, &view, &len, NULL, 20000);
            msg = view;
        } else {
            err = ipc_recv(rx, copy, sizeof copy, &len, NULL, 20000);
        }
        if (err != IPC_OK)
            return mp_fail(run, "receive", err);
        struct mp_hdr h = {0, 0, 0, 0};
        const char *bad = mp_check(msg, len, last, &h);
        if (view && (err = ipc_release(rx, view)) != IPC_OK)
            return mp_fail(run, "release", err);
        if (bad) {
            fprintf(stderr, "[receiver %u] %s (sender %u seq %u len %zu)\n",
                    run->id, bad, h.sender, h.seq, len);
            return 2;
        }
        if (h.sender == MP_STOP)
            break;
        atomic_fetch_add(&run->board->got[h.sender][h.seq], 1);
        atomic_fetch_add(&run->board->taken[run->id], 1);
    }
    ipc_close(rx);
    return 0;
}

static void mp_verify(struct mp_board *board, bool every_receiver)
{
    size_t lost = 0, twice = 0;
    for (int s = 0; s < MP_SENDERS; s++) {
        for (int q = 0; q < MP_PER_SENDER; q++) {
            uint32_t n = atomic_load(&board->got[s][q]);
            lost += n == 0;
            twice += n > 1;
        }
    }
    if (lost || twice)
        fail_msg("%zu messages lost, %zu delivered more than once", lost,
                 twice);
    for (int r = 0; every_receiver && r < MP_RECEIVERS; r++)
        print_message("  receiver %d took %u messages\n", r,
                      atomic_load(&board->taken[r]));
}

static struct mp_board *mp_board_new(void)
{
    void *p = mmap(NULL, sizeof(struct mp_board), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    return p;
}

static void mp_stop_all(ipc_channel *tx)
{
    struct mp_hdr stop = {MP_STOP, 0, MP_HDR, 0};
    for (int r = 0; r < MP_RECEIVERS; r++)
        assert_ipc_err(ipc_send(tx, &stop, sizeof stop, 0, 20000), IPC_OK);
}

/* Processes on a named ring: senders and receivers open it by name. */
static void mp_named(bool zero_copy)
{
    char name[96], addr[160];
    struct mp_board *board = mp_board_new();
    struct mp_run runs[MP_SENDERS + MP_RECEIVERS];
    pid_t pids[MP_SENDERS + MP_RECEIVERS];
    ipc_channel *tx = NULL;
    /* 8 slots: the ring wraps hundreds of times, and both sides wait. */
    st_name(name, sizeof name, addr, sizeof addr, "capacity=8&max_msg=1024");
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_SEND, 1000, &tx),
        IPC_OK);
    for (int i = 0; i < MP_SENDERS + MP_RECEIVERS; i++) {
        bool rx = i < MP_RECEIVERS;
        runs[i] = (struct mp_run){.addr = addr,
                                  .zero_copy = zero_copy,
                                  .board = board,
                                  .id = (uint32_t)(rx ? i : i - MP_RECEIVERS)};
        pids[i] = tu_spawn(rx ? mp_receiver : mp_sender, &runs[i]);
    }
    for (int i = MP_RECEIVERS; i < MP_SENDERS + MP_RECEIVERS; i++)
        assert_child_ok(pids[i], 60000);
    mp_stop_all(tx);
    for (int i = 0; i < MP_RECEIVERS; i++)
        assert_child_ok(pids[i], 60000);
    ipc_close(tx);
    assert_false(st_exists(name));
    mp_verify(board, true);
    munmap(board, sizeof *board);
}

static int mp_pair_child(void *arg)
{
    struct mp_run *run = arg;
    /* Pair, fork, close the end you do not use. */
    ipc_close(run->is_rx ? run->tx : run->rx);
    return run->is_rx ? mp_receiver(run) : mp_sender(run);
}

/* Processes on a pair: forked children share the inherited ends. */
static void mp_pair(bool zero_copy)
{
    ipc_channel *ends[2];
    struct mp_board *board = mp_board_new();
    struct mp_run runs[MP_SENDERS + MP_RECEIVERS];
    pid_t pids[MP_SENDERS + MP_RECEIVERS];
    assert_ipc_err(ipc_pair("shm:?capacity=8&max_msg=1024", 0, ends), IPC_OK);
    for (int i = 0; i < MP_SENDERS + MP_RECEIVERS; i++) {
        bool rx = i < MP_RECEIVERS;
        runs[i] = (struct mp_run){.tx = ends[0],
                                  .rx = ends[1],
                                  .is_rx = rx,
                                  .zero_copy = zero_copy,
                                  .board = board,
                                  .id = (uint32_t)(rx ? i : i - MP_RECEIVERS)};
        pids[i] = tu_spawn(mp_pair_child, &runs[i]);
    }
    /* The parent keeps only its send end, for the stop messages. */
    ipc_close(ends[1]);
    for (int i = MP_RECEIVERS; i < MP_SENDERS + MP_RECEIVERS; i++)
        assert_child_ok(pids[i], 60000);
    mp_stop_all(ends[0]);
    for (int i = 0; i < MP_RECEIVERS; i++)
        assert_child_ok(pids[i], 60000);
    /* Every receiver has closed its end: the pair says so. */
    assert_ipc_err(ipc_send(ends[0], "x", 1, 0, 2000), IPC_ECLOSED);
    ipc_close(ends[0]);
    mp_verify(board, true);
    munmap(board, sizeof *board);
}

static void test_named_processes(void **state)
{
    (void)state;
    mp_named(false);
}

static void test_named_processes_zero_copy(void **state)
{
    (void)state;
    mp_named(true);
}

static void test_pair_processes(void **state)
{
    (void)state;
    mp_pair(false);
}

static void test_pair_processes_zero_copy(void **state)
{
    (void)state;
    mp_pair(true);
}

static void *mp_thread(void *arg)
{
    struct mp_run *run = arg;
    bool rx = run->id >= 100;
    if (rx)
        run->id -= 100;
    intptr_t rc = rx ? mp_receiver(run) : mp_sender(run);
    return (void *)rc;
}

/* Threads, each with its own end of one named ring. */
static void test_named_threads(void **state)
{
    char name[96], addr[160];
    struct mp_board *board = mp_board_new();
    struct mp_run runs[MP_SENDERS + MP_RECEIVERS];
    pthread_t th[MP_SENDERS + MP_RECEIVERS];
    ipc_channel *tx = NULL;
    (void)state;
    st_name(name, sizeof name, addr, sizeof addr, "capacity=4&max_msg=1024");
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_SEND, 1000, &tx),
        IPC_OK);
    for (int i = 0; i < MP_SENDERS + MP_RECEIVERS; i++) {
        bool rx = i < MP_RECEIVERS;
        runs[i] =
            (struct mp_run){.addr = addr,
                            .board = board,
                            .zero_copy = i % 2,
                            .id = (uint32_t)(rx ? 100 + i : i - MP_RECEIVERS)};
        assert_int_equal(pthread_create(&th[i], NULL, mp_thread, &runs[i]), 0);
    }
    void *rc;
    for (int i = MP_RECEIVERS; i < MP_SENDERS + MP_RECEIVERS; i++) {
        pthread_join(th[i], &rc);
        assert_null(rc);
    }
    mp_stop_all(tx);
    for (int i = 0; i < MP_RECEIVERS; i++) {
        pthread_join(th[i], &rc);
        assert_null(rc);
    }
    ipc_close(tx);
    mp_verify(board, false);
    munmap(board, sizeof *board);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_named_processes, st_cleanup),
        cmocka_unit_test_teardown(test_named_processes_zero_copy, st_cleanup),
        cmocka_unit_test_teardown(test_pair_processes, st_cleanup),
        cmocka_unit_test_teardown(test_pair_processes_zero_copy, st_cleanup),
        cmocka_unit_test_teardown(test_named_threads, st_cleanup),
    };
    return tu_run_tests("shm.mpmc", tests, argc, argv);
}
