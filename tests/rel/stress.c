/* SPDX-License-Identifier: MIT */
/* Stress: P producer processes x C consumer processes x M messages of
 * random sizes up to max_msg, at capacities 1, small and default where the
 * backend takes ?capacity=. Several producers only where the end has
 * IPC_CAP_MULTI_SENDER, several consumers only with IPC_CAP_MULTI_RECEIVER.
 * Every message arrives exactly once (a shared bitmap), each producer's
 * sequence strictly increases at each consumer, no payload is corrupt.
 *
 *   ipc_rel_stress <row>   IPC_REL_STRESS_MSGS=M per producer (10000; long
 *                          1000000), IPC_REL_STRESS_PRODUCERS=P (4; long 8),
 *                          IPC_REL_STRESS_CONSUMERS=C (2; long 4) */
#include "rel.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define ST_MAX_PROCS 64
/* No message anywhere for this long: the run is stuck. */
#define ST_STALL_MS 30000

struct st_shared {
    _Atomic uint64_t received;
    _Atomic int64_t last_progress_ns;
    _Atomic uint32_t producers_done; /* producers that sent all and closed */
    _Atomic uint64_t bits[];         /* one per (producer, seq) */
};

struct st_run {
    const char *addr; /* named address; "" for a pair */
    struct rel_link *link;
    uint32_t producers, consumers;
    uint64_t msgs; /* per producer */
    size_t max_msg;
    struct st_shared *sh;
};

static void st_producer(const struct st_run *run, uint32_t id)
{
    ipc_channel *tx = run->link->tx;
    if (rel.named) {
        ipc_close(run->link->rx);
        ipc_err err = ipc_open(run->addr, IPC_F_SEND, 10000, &tx);
        if (err != IPC_OK)
            tu_child_exit(3, "producer %u: open: %s", id, ipc_errname(err));
    } else {
        ipc_close(run->link->rx);
    }
    unsigned char *buf = malloc(run->max_msg);
    uint64_t rng = tu_mix(rel.seed ^ ((uint64_t)id << 32) ^ 0x57);
    if (!buf)
        tu_child_exit(3, "malloc");
    for (uint64_t seq = 0; seq < run->msgs; seq++) {
        size_t len = rel_msg_len(&rng, run->max_msg, 1);
        rel_msg_fill(buf, len, id, seq);
        ipc_err err = ipc_send(tx, buf, len, 0, REL_CHILD_MS);
        if (err != IPC_OK)
            tu_child_exit(4, "producer %u seq %llu: %s", id,
                          (unsigned long long)seq, ipc_errname(err));
    }
    free(buf);
    ipc_close(tx);
    atomic_fetch_add(&run->sh->producers_done, 1);
    _exit(0);
}

/* Consume until every message has been taken by some consumer. Returns
 * NULL or what went wrong. */
static const char *st_consume(const struct st_run *run, ipc_channel *rx,
                              uint64_t *taken)
{
    static char why[256];
    uint64_t total = (uint64_t)run->producers * run->msgs;
    int64_t last[ST_MAX_PROCS];
    unsigned char *buf = malloc(run->max_msg);
    ipc_info info;
    if (!buf || ipc_query(rx, &info) != IPC_OK)
        return "malloc or query failed";
    for (uint32_t p = 0; p < run->producers; p++)
        last[p] = -1;
    *taken = 0;
    bool gone = false; /* the last receive said IPC_ECLOSED */
    while (atomic_load(&run->sh->received) < total) {
        size_t len = 0;
        uint32_t producer;
        uint64_t seq;
        int64_t t0 = tu_now_ns();
        ipc_err err = ipc_recv(rx, buf, run->max_msg, &len, NULL, 200);
        const char *late = rel_wait_check(t0, 200, err);
        if (late) {
            snprintf(why, sizeof why, "receive: %s", late);
            goto out;
        }
        /* "Closed" means no sender has the channel open now. On a named
         * channel that also happens before the producers have opened it
         * (after the parent's own sender closed), and a new sender revives
         * it: it ends the run only once every producer is done. */
        if (err == IPC_ECLOSED && (info.caps & IPC_CAP_PEER_CLOSED)) {
            if (atomic_load(&run->sh->producers_done) == run->producers)
                break; /* the bitmap says if all came */
            tu_sleep_ms(1);
            err = IPC_ETIMEDOUT; /* nothing yet: the stall check below */
            gone = true;
        } else {
            gone = false;
        }
        if (err == IPC_ETIMEDOUT) {
            int64_t idle =
                tu_now_ns() - atomic_load(&run->sh->last_progress_ns);
            if (idle > (int64_t)ST_STALL_MS * 1000000) {
                /* "Closed" with producers unfinished: they died without a
                 * word (killed: by their alarm, on a starved machine). */
                snprintf(why, sizeof why,
                         "no message for %d ms with %llu of "
                         "%llu received%s%u of %u producers done",
                         ST_STALL_MS,
                         (unsigned long long)atomic_load(&run->sh->received),
                         (unsigned long long)total,
                         gone ? "; every sender is gone, " : "; ",
                         (unsigned)atomic_load(&run->sh->producers_done),
                         (unsigned)run->producers);
                goto out;
            }
            continue;
        }
        if (err != IPC_OK) {
            snprintf(why, sizeof why, "receive: %s (%s)", ipc_errname(err),
                     ipc_last_detail());
            goto out;
        }
        const char *bad =
            rel_msg_check(buf, len, run->producers, &producer, &seq);
        if (bad) {
            snprintf(why, sizeof why, "a message of %zu bytes: %s", len, bad);
            goto out;
        }
        if (seq >= run->msgs || (int64_t)seq <= last[producer]) {
            snprintf(why, sizeof why,
                     "producer %u: seq %llu after %lld "
                     "(order broken or out of range)",
                     producer, (unsigned long long)seq,
                     (long long)last[producer]);
            goto out;
        }
        last[producer] = (int64_t)seq;
        uint64_t bit = (uint64_t)producer * run->msgs + seq;
        uint64_t old =
            atomic_fetch_or(&run->sh->bits[bit / 64], 1ull << (bit % 64));
        if (old & (1ull << (bit % 64))) {
            snprintf(why, sizeof why, "producer %u seq %llu received twice",
                     producer, (unsigned long long)seq);
            goto out;
        }
        atomic_fetch_add(&run->sh->received, 1);
        atomic_store(&run->sh->last_progress_ns, tu_now_ns());
        (*taken)++;
    }
    free(buf);
    return NULL;
out:
    free(buf);
    return why;
}

/* A consumer of a named channel opens its own receiver; one of a pair
 * receives on the end it inherited (a pair has no address: ipc.h's fork
 * rule, shared receive ends need IPC_CAP_MULTI_RECEIVER). */
static void st_consumer(const struct st_run *run, uint32_t id)
{
    ipc_channel *rx = run->link->rx;
    uint64_t taken;
    if (rel.named) {
        ipc_err err = ipc_open(run->addr, IPC_F_RECV, 10000, &rx);
        if (err != IPC_OK)
            tu_child_exit(3, "consumer %u: open: %s", id, ipc_errname(err));
        ipc_close(run->link->rx); /* our copy of the creator's end */
    }
    const char *why = st_consume(run, rx, &taken);
    ipc_close(rx);
    if (why)
        tu_child_exit(5, "consumer %u: %s", id, why);
    _exit(0);
}

/* One configuration: returns the number of messages checked. */
static uint64_t st_run_one(const char *opts, uint32_t producers,
                           uint32_t consumers, uint64_t msgs)
{
    struct rel_link l = {0};
    struct st_run run = {.link = &l, .msgs = msgs};
    ipc_info info;
    pid_t kids[ST_MAX_PROCS];
    int n_kids = 0;

    assert_ipc_err(rel_link_open(&l, opts), IPC_OK);
    assert_ipc_err(ipc_query(l.rx, &info), IPC_OK);
    run.addr = l.addr;
    run.max_msg = info.max_msg;
    run.producers = producers;
    run.consumers = consumers;
    uint64_t total = (uint64_t)producers * msgs;
    size_t words = (size_t)(total + 63) / 64;
    run.sh = rel_shared(sizeof *run.sh + words * sizeof(uint64_t));
    atomic_store(&run.sh->last_progress_ns, tu_now_ns());
    /* This process's own sender: the producers have their own. */
    if (rel.named) {
        ipc_close(l.tx);
        l.tx = NULL;
    }

    for (uint32_t p = 0; p < producers; p++) {
        pid_t pid = tu_fork();
        assert_true(pid >= 0);
        if (pid == 0)
            st_producer(&run, p);
        kids[n_kids++] = pid;
    }
    if (!rel.named) {
        ipc_close(l.tx); /* the producer holds the only sender */
        l.tx = NULL;
    }
    for (uint32_t c = 1; c < consumers; c++) {
        pid_t pid = tu_fork();
        assert_true(pid >= 0);
        if (pid == 0)
            st_consumer(&run, c);
        kids[n_kids++] = pid;
    }
    uint64_t taken;
    const char *why = st_consume(&run, l.rx, &taken);
    if (why)
        fail_msg("consumer 0: %s", why);
    for (int i = 0; i < n_kids; i++)
        assert_child_ok(kids[i], REL_CHILD_MS);

    /* Exactly once: every bit set (no duplicate was seen on the way). */
    uint64_t missing = 0;
    for (uint64_t b = 0; b < total; b++)
        if (!(atomic_load(&run.sh->bits[b / 64]) & (1ull << (b % 64))))
            missing++;
    if (missing)
        fail_msg("%llu of %llu messages never arrived",
                 (unsigned long long)missing, (unsigned long long)total);
    size_t len;
    unsigned char probe[REL_MSG_HDR];
    ipc_err err = ipc_recv(l.rx, probe, sizeof probe, &len, NULL, 0);
    if (err != IPC_EAGAIN && err != IPC_ECLOSED)
        fail_msg("after the last message: %s, expected nothing more",
                 ipc_errname(err));
    rel_link_close(&l);
    munmap(run.sh, sizeof *run.sh + words * sizeof(uint64_t));
    return total;
}

static void test_stress(void **state)
{
    (void)state;
    struct rel_link l = {0};
    ipc_info txi, rxi;
    assert_ipc_err(rel_link_open(&l, NULL), IPC_OK);
    assert_ipc_err(ipc_query(l.tx, &txi), IPC_OK);
    assert_ipc_err(ipc_query(l.rx, &rxi), IPC_OK);
    rel_link_close(&l);

    uint64_t msgs = (uint64_t)rel_env("IPC_REL_STRESS_MSGS", 10000, 1000000);
    uint32_t producers =
        (txi.caps & IPC_CAP_MULTI_SENDER)
            ? (uint32_t)rel_env("IPC_REL_STRESS_PRODUCERS", 4, 8)
            : 1;
    uint32_t consumers =
        (rxi.caps & IPC_CAP_MULTI_RECEIVER)
            ? (uint32_t)rel_env("IPC_REL_STRESS_CONSUMERS", 2, 4)
            : 1;
    assert_true(producers + consumers <= ST_MAX_PROCS);

    /* Capacities 1, small and the default where the backend takes them. */
    char caps[3][32] = {"", "", ""};
    int n_caps = 1;
    if (rel_takes(IPC_KEY_CAPACITY)) {
        snprintf(caps[0], sizeof caps[0], "capacity=1");
        snprintf(caps[1], sizeof caps[1], "capacity=4");
        n_caps = 3;
    }
    uint64_t checked = 0;
    int64_t t0 = tu_now_ns();
    for (int c = 0; c < n_caps; c++) {
        int64_t t1 = tu_now_ns();
        uint64_t n = st_run_one(caps[c], producers, consumers, msgs);
        checked += n;
        rel_figure("%u producers x %u consumers x %llu messages (up to "
                   "max_msg %zu), %s: %llu checked in %.1f s",
                   producers, consumers, (unsigned long long)msgs, rxi.max_msg,
                   caps[c][0] ? caps[c] : "default capacity",
                   (unsigned long long)n, tu_elapsed_ms(t1) / 1000);
    }
    rel_figure("stress total: %llu messages checked, each exactly once, in "
               "order per producer, none corrupt (%.1f s)",
               (unsigned long long)checked, tu_elapsed_ms(t0) / 1000);
}

static const struct rel_test st_tests[] = {
    {"stress", test_stress, REL_ANY},
    {NULL, NULL, REL_ANY},
};

int main(int argc, char **argv)
{
    return rel_main(argc, argv, "stress", st_tests);
}
