/* SPDX-License-Identifier: MIT */
/* shm: blocked ends sleep. A receiver on an empty ring, a sender on a full
 * one, and both sides behind a loan held for long use (almost) no CPU once
 * their short spin is over: measured as the CPU time of the blocking call,
 * not wall time, so a busy machine does not change the verdict. */
#include "shm_test.h"

#include <stdatomic.h>
#include <time.h>

#define WT_WAIT_MS 400
/* CPU a wait of WT_WAIT_MS may use: the spin (~0.2 ms), slices behind a
 * holder (a few dozen wake-ups), process start-up and exit. */
#define WT_CPU_MS 40.0

struct wt_job {
    const char *addr;   /* named ring, or NULL */
    ipc_channel *end;   /* pair: the inherited end to block on */
    ipc_channel *other; /* pair: the inherited end to close */
    bool send;          /* block in a send (full ring), else a receive */
    bool loan;          /* block in a loan instead of a send */
    int timeout_ms;
    _Atomic int64_t *cpu_ns; /* shared: CPU the blocking call used */
};

static int64_t wt_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int wt_block(void *arg)
{
    struct wt_job *j = arg;
    ipc_channel *ch = j->end;
    char buf[64];
    size_t len;
    void *p;
    if (j->addr && ipc_open(j->addr, j->send ? IPC_F_SEND : IPC_F_RECV, 1000,
                            &ch) != IPC_OK)
        return 3;
    if (!j->addr)
        ipc_close(j->other);
    int64_t t0 = wt_cpu_now();
    ipc_err err = !j->send
                      ? ipc_recv(ch, buf, sizeof buf, &len, NULL, j->timeout_ms)
                  : j->loan ? ipc_loan(ch, 8, &p, j->timeout_ms)
                            : ipc_send(ch, "x", 1, 0, j->timeout_ms);
    atomic_store(j->cpu_ns, wt_cpu_now() - t0);
    if (j->addr)
        ipc_close(ch);
    return err == IPC_ETIMEDOUT ? 0 : 4;
}

static _Atomic int64_t *wt_board(void)
{
    void *p = mmap(NULL, 2 * sizeof(int64_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    return p;
}

/* Wait for a blocking child; the CPU its blocking call used, in ms. */
static double wt_join(pid_t pid, const struct wt_job *j)
{
    assert_child_ok(pid, 10000);
    return (double)atomic_load(j->cpu_ns) / 1e6;
}

static double wt_cpu_ms(struct wt_job *j)
{
    return wt_join(tu_spawn(wt_block, j), j);
}

static void wt_check(const char *what, double cpu)
{
    print_message("  %s: %.1f ms of CPU in a %d ms wait\n", what, cpu,
                  WT_WAIT_MS);
    if (cpu > WT_CPU_MS)
        fail_msg("%s used %.1f ms of CPU while blocked", what, cpu);
}

static void wt_fill(ipc_channel *tx)
{
    while (ipc_send(tx, "f", 1, 0, 0) == IPC_OK)
        ;
}

/* An idle receiver (empty ring) and an idle sender (full ring) sleep. */
static void test_idle_ends(void **state)
{
    (void)state;
    for (int named = 0; named < 2; named++) {
        char name[96], addr[160];
        ipc_channel *tx = NULL, *rx = NULL, *ends[2];
        if (named) {
            st_name(name, sizeof name, addr, sizeof addr,
                    "capacity=4&max_msg=64");
            assert_ipc_err(ipc_open(addr,
                                    IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV,
                                    1000, &rx),
                           IPC_OK);
            assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
        } else {
            assert_ipc_err(ipc_pair("shm:?capacity=4&max_msg=64", 0, ends),
                           IPC_OK);
            tx = ends[0];
            rx = ends[1];
        }
        _Atomic int64_t *board = wt_board();
        struct wt_job j = {.addr = named ? addr : NULL,
                           .end = rx,
                           .other = tx,
                           .timeout_ms = WT_WAIT_MS,
                           .cpu_ns = board};
        wt_check(named ? "named receiver, empty ring"
                       : "pair receiver, "
                         "empty ring",
                 wt_cpu_ms(&j));
        wt_fill(tx);
        j = (struct wt_job){.addr = named ? addr : NULL,
                            .end = tx,
                            .other = rx,
                            .send = true,
                            .timeout_ms = WT_WAIT_MS,
                            .cpu_ns = board};
        wt_check(named ? "named sender, full ring" : "pair sender, full ring",
                 wt_cpu_ms(&j));
        munmap(board, 2 * sizeof(int64_t));
        ipc_close(tx);
        ipc_close(rx);
    }
}

/* A loan held at the head for long, the rest of the ring full: the
 * receiver waits for that writer, and so does another sender (the slot it
 * needs is that one); both sleep in slices, judging the holder now and
 * then, and use next to no CPU. */
static void test_behind_a_held_loan(void **state)
{
    (void)state;
    for (int named = 0; named < 2; named++) {
        char name[96], addr[160];
        ipc_channel *tx = NULL, *rx = NULL, *ends[2];
        void *held = NULL;
        if (named) {
            st_name(name, sizeof name, addr, sizeof addr,
                    "capacity=4&max_msg=64");
            assert_ipc_err(ipc_open(addr,
                                    IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV,
                                    1000, &rx),
                           IPC_OK);
            assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
        } else {
            assert_ipc_err(ipc_pair("shm:?capacity=4&max_msg=64", 0, ends),
                           IPC_OK);
            tx = ends[0];
            rx = ends[1];
        }
        assert_ipc_err(ipc_loan(tx, 8, &held, 1000), IPC_OK);
        wt_fill(tx);
        /* Both wait at once: one child receives, one loans. */
        _Atomic int64_t *board = wt_board();
        struct wt_job jr = {.addr = named ? addr : NULL,
                            .end = rx,
                            .other = tx,
                            .timeout_ms = WT_WAIT_MS,
                            .cpu_ns = &board[0]};
        struct wt_job js = {.addr = named ? addr : NULL,
                            .end = tx,
                            .other = rx,
                            .send = true,
                            .loan = true,
                            .timeout_ms = WT_WAIT_MS,
                            .cpu_ns = &board[1]};
        pid_t ps = tu_spawn(wt_block, &js);
        double cpu_r = wt_cpu_ms(&jr);
        double cpu_s = wt_join(ps, &js);
        munmap(board, 2 * sizeof(int64_t));
        wt_check(named ? "named receiver behind a held loan"
                       : "pair receiver behind a held loan",
                 cpu_r);
        wt_check(named ? "named sender, full ring, held loan"
                       : "pair sender, full ring, held loan",
                 cpu_s);
        /* Committed, the loan's message comes first. */
        memcpy(held, "held", 4);
        assert_ipc_err(ipc_commit(tx, held, 4, 0), IPC_OK);
        char buf[64];
        size_t len;
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
        assert_int_equal(len, 4);
        assert_memory_equal(buf, "held", 4);
        ipc_close(tx);
        ipc_close(rx);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_idle_ends, st_cleanup),
        cmocka_unit_test_teardown(test_behind_a_held_loan, st_cleanup),
    };
    return tu_run_tests("shm.wait", tests, argc, argv);
}
