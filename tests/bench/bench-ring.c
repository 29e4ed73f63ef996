/* SPDX-License-Identifier: MIT */
/* The raw shared-memory baseline: a minimal SPSC ring, spin then futex. */
#include "bench.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The least a correct shared-memory channel between two processes must do,
 * and nothing more (no names, no crash recovery, no validation of a hostile
 * peer): the yardstick for the shm backend.
 *
 * Each slot carries its own sequence word in the cache line that also holds
 * the start of the payload, so a message moves the slot's lines and nothing
 * else: no shared head or tail index (PERFORMANCE.md: per-slot sequence ~20 M
 * msgs/s, shared indices 8-14 M). Slot i starts with seq = i; the producer at
 * position p waits for seq == p (free), fills the slot, stores p + 1; the
 * consumer waits for p + 1, copies out, stores p + slots (free for the next
 * lap). The payload sits 16 bytes into a 64-byte aligned slot.
 *
 * Waiting: a bounded spin (a sleeping receiver costs 30-50 us to wake on
 * these VMs), then announce in a flag and sleep on the slot's sequence word
 * with a futex. The other side wakes only when the flag is set: it pays a
 * full fence per message (the announce-then-check handshake needs one on
 * both sides) and no system call while its peer is awake.
 */

#define RING_SPIN     4000 /* ~20-40 us of polling before sleeping */
#define RING_SLOT_HDR 16

struct ring_slot {
    atomic_uint seq;
    uint32_t len;
    uint64_t pad;
    unsigned char data[];
};

struct bench_ring {
    alignas(64) atomic_uint rx_sleeping; /* consumer waits for a message */
    alignas(64) atomic_uint tx_sleeping; /* producer waits for a free slot */
    /* BENCH_RING_VYUKOV: the shared claim indices. BENCH_RING_SPSC: the
     * consumer's head and the producer's tail, each with the other side's
     * index as last seen (written only by its owner, on its own line). */
    alignas(64) atomic_uint enq; /* VYUKOV: next to claim; SPSC: tail */
    unsigned tx_seen_head;       /* SPSC: the producer's cache */
    alignas(64) atomic_uint deq; /* VYUKOV: next to take; SPSC: head */
    unsigned rx_seen_tail;       /* SPSC: the consumer's cache */
    alignas(64) enum bench_ring_kind kind;
    size_t slots;
    size_t stride;
    size_t max_msg;
    alignas(64) unsigned char slot_area[];
};

static size_t ring_stride(size_t max_msg)
{
    return (RING_SLOT_HDR + max_msg + 63) & ~(size_t)63;
}

size_t bench_ring_bytes(size_t slots, size_t max_msg)
{
    return sizeof(struct bench_ring) + slots * ring_stride(max_msg);
}

static struct ring_slot *ring_slot(struct bench_ring *r, uint64_t pos)
{
    return (struct ring_slot *)(r->slot_area + (pos % r->slots) * r->stride);
}

void bench_ring_init(struct bench_ring *r, enum bench_ring_kind kind,
                     size_t slots, size_t max_msg)
{
    r->kind = kind;
    atomic_init(&r->enq, 0);
    atomic_init(&r->deq, 0);
    r->tx_seen_head = r->rx_seen_tail = 0;
    r->slots = slots;
    r->stride = ring_stride(max_msg);
    r->max_msg = max_msg;
    atomic_init(&r->rx_sleeping, 0);
    atomic_init(&r->tx_sleeping, 0);
    for (size_t i = 0; i < slots; i++)
        atomic_init(&ring_slot(r, i)->seq, (unsigned)i);
}

static void ring_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Not FUTEX_PRIVATE: the word is shared between processes. */
static void ring_futex_wait(atomic_uint *word, unsigned val)
{
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void ring_futex_wake(atomic_uint *word)
{
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * Only the sleeper writes its flag: set before it looks a last time and
 * sleeps, cleared once it has what it waited for. A waker that cleared it
 * could wipe the announcement of the sleeper's next wait (it woke, moved on
 * and announced again meanwhile) and the wake-up after that would be lost.
 * The price: a waker may make a needless futex_wake between the sleeper's
 * wake-up and its clearing the flag.
 */
static void ring_wait(atomic_uint *word, unsigned want, atomic_uint *sleeping)
{
    for (int i = 0; i < RING_SPIN; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) == want)
            return;
        ring_relax();
    }
    /* Announce, then look again: the waker's fence orders its store of
     * the word before its load of the flag, our seq_cst store and load the
     * other way round, so at least one of us sees the other. */
    atomic_store(sleeping, 1);
    for (;;) {
        unsigned cur = atomic_load(word);
        if (cur == want)
            break;
        ring_futex_wait(word, cur);
    }
    atomic_store_explicit(sleeping, 0, memory_order_relaxed);
}

static void ring_wake(atomic_uint *word, atomic_uint *sleeping)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(sleeping, memory_order_relaxed))
        ring_futex_wake(word);
}

/* As ring_wait, until the word differs from old (an index that moves). */
static unsigned ring_wait_change(atomic_uint *word, unsigned old,
                                 atomic_uint *sleeping)
{
    unsigned cur;
    for (int i = 0; i < RING_SPIN; i++) {
        if ((cur = atomic_load_explicit(word, memory_order_acquire)) != old)
            return cur;
        ring_relax();
    }
    atomic_store(sleeping, 1);
    while ((cur = atomic_load(word)) == old)
        ring_futex_wait(word, cur);
    atomic_store_explicit(sleeping, 0, memory_order_relaxed);
    return cur;
}

static int seq_send(struct bench_ring *r, uint64_t *pos, const void *buf,
                    size_t len)
{
    struct ring_slot *s = ring_slot(r, *pos);
    unsigned want = (unsigned)*pos;
    if (atomic_load_explicit(&s->seq, memory_order_acquire) != want)
        ring_wait(&s->seq, want, &r->tx_sleeping);
    memcpy(s->data, buf, len);
    s->len = (uint32_t)len;
    atomic_store_explicit(&s->seq, want + 1, memory_order_release);
    ring_wake(&s->seq, &r->rx_sleeping);
    (*pos)++;
    return 0;
}

static int seq_recv(struct bench_ring *r, uint64_t *pos, void *buf,
                    size_t cap, size_t *len)
{
    struct ring_slot *s = ring_slot(r, *pos);
    unsigned want = (unsigned)*pos + 1;
    if (atomic_load_explicit(&s->seq, memory_order_acquire) != want)
        ring_wait(&s->seq, want, &r->rx_sleeping);
    size_t n = s->len;
    if (n > cap || n > r->max_msg)
        return -1;
    memcpy(buf, s->data, n);
    *len = n;
    atomic_store_explicit(&s->seq, (unsigned)(*pos + r->slots),
                          memory_order_release);
    ring_wake(&s->seq, &r->tx_sleeping);
    (*pos)++;
    return 0;
}

/*
 * Dmitry Vyukov's bounded MPMC queue: a per-slot sequence word as above,
 * and shared enqueue and dequeue indices that producers and consumers claim
 * with a compare-and-swap before they touch the slot. Used here by one
 * producer and one consumer, it pays what the algorithm pays: the claim.
 * Positions are 32-bit, compared by signed difference.
 */
static int vy_send(struct bench_ring *r, const void *buf, size_t len)
{
    unsigned pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
    struct ring_slot *s;
    for (;;) {
        s = ring_slot(r, pos);
        unsigned seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        int dif = (int)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(
                    &r->enq, &pos, pos + 1, memory_order_relaxed,
                    memory_order_relaxed))
                break;
        } else if (dif < 0) { /* full: wait for the consumer to free it */
            ring_wait(&s->seq, pos, &r->tx_sleeping);
        } else {
            pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
        }
    }
    memcpy(s->data, buf, len);
    s->len = (uint32_t)len;
    atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
    ring_wake(&s->seq, &r->rx_sleeping);
    return 0;
}

static int vy_recv(struct bench_ring *r, void *buf, size_t cap, size_t *len)
{
    unsigned pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
    struct ring_slot *s;
    for (;;) {
        s = ring_slot(r, pos);
        unsigned seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        int dif = (int)(seq - (pos + 1));
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(
                    &r->deq, &pos, pos + 1, memory_order_relaxed,
                    memory_order_relaxed))
                break;
        } else if (dif < 0) { /* empty: wait for the producer */
            ring_wait(&s->seq, pos + 1, &r->rx_sleeping);
        } else {
            pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
        }
    }
    size_t n = s->len;
    if (n > cap || n > r->max_msg)
        return -1;
    memcpy(buf, s->data, n);
    *len = n;
    atomic_store_explicit(&s->seq, pos + (unsigned)r->slots,
                          memory_order_release);
    ring_wake(&s->seq, &r->tx_sleeping);
    return 0;
}

/*
 * A single-producer single-consumer ring with cached indices: the producer
 * owns the tail, the consumer the head; each reads the other's index only
 * when its cached copy says full (or empty), so in a steady stream the
 * index lines move once per lap of the cache, not per message. Sleepers
 * wait on the index they need to move.
 */
static int spsc_send(struct bench_ring *r, const void *buf, size_t len)
{
    unsigned t = atomic_load_explicit(&r->enq, memory_order_relaxed);
    if (t - r->tx_seen_head == r->slots) {
        r->tx_seen_head = atomic_load_explicit(&r->deq, memory_order_acquire);
        if (t - r->tx_seen_head == r->slots)
            r->tx_seen_head =
                ring_wait_change(&r->deq, r->tx_seen_head, &r->tx_sleeping);
    }
    struct ring_slot *s = ring_slot(r, t);
    memcpy(s->data, buf, len);
    s->len = (uint32_t)len;
    atomic_store_explicit(&r->enq, t + 1, memory_order_release);
    ring_wake(&r->enq, &r->rx_sleeping);
    return 0;
}

static int spsc_recv(struct bench_ring *r, void *buf, size_t cap, size_t *len)
{
    unsigned h = atomic_load_explicit(&r->deq, memory_order_relaxed);
    if (h == r->rx_seen_tail) {
        r->rx_seen_tail = atomic_load_explicit(&r->enq, memory_order_acquire);
        if (h == r->rx_seen_tail)
            r->rx_seen_tail = ring_wait_change(&r->enq, h, &r->rx_sleeping);
    }
    struct ring_slot *s = ring_slot(r, h);
    size_t n = s->len;
    if (n > cap || n > r->max_msg)
        return -1;
    memcpy(buf, s->data, n);
    *len = n;
    atomic_store_explicit(&r->deq, h + 1, memory_order_release);
    ring_wake(&r->deq, &r->tx_sleeping);
    return 0;
}

int bench_ring_send(struct bench_ring *r, uint64_t *pos, const void *buf,
                    size_t len)
{
    if (len > r->max_msg)
        return -1;
    switch (r->kind) {
    case BENCH_RING_VYUKOV:
        return vy_send(r, buf, len);
    case BENCH_RING_SPSC:
        return spsc_send(r, buf, len);
    default:
        return seq_send(r, pos, buf, len);
    }
}

int bench_ring_recv(struct bench_ring *r, uint64_t *pos, void *buf, size_t cap,
                    size_t *len)
{
    switch (r->kind) {
    case BENCH_RING_VYUKOV:
        return vy_recv(r, buf, cap, len);
    case BENCH_RING_SPSC:
        return spsc_recv(r, buf, cap, len);
    default:
        return seq_recv(r, pos, buf, cap, len);
    }
}
