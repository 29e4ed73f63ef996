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
    alignas(64) size_t slots;
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

void bench_ring_init(struct bench_ring *r, size_t slots, size_t max_msg)
{
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

int bench_ring_send(struct bench_ring *r, uint64_t *pos, const void *buf,
                    size_t len)
{
    if (len > r->max_msg)
        return -1;
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

int bench_ring_recv(struct bench_ring *r, uint64_t *pos, void *buf, size_t cap,
                    size_t *len)
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
