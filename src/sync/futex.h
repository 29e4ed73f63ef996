/* SPDX-License-Identifier: MIT */
/* futex: the object layout and what futex.c and futex_barrier.c share
 * (Linux only). */
#ifndef IPC_SYNC_FUTEX_H
#define IPC_SYNC_FUTEX_H

#include "sync/sync_int.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * The object: one cache line, IPC_SYNC_SIZE bytes. Every field is atomic:
 * other processes (or a hostile peer) write it while we read it. The magic
 * is written last at creation (release), so an opener that sees it sees the
 * rest made.
 *
 * Mutex and spinlock word: the holder's thread id in the low 30 bits,
 * FX_DIED when the holder died and the state is suspect, FX_WAITERS when a
 * locker may sleep on the word (mutex only). 0 is free; the tid field all
 * ones (FX_NOTREC) is "not recoverable". A tid above FX_TID_MAX (Linux's
 * PID_MAX_LIMIT) is no thread: a scribbled word, IPC_EPROTO. The tid goes
 * into the word by the same compare-and-swap that takes the lock, so no
 * instant exists where the lock is held by nobody known. Beside it, aux and
 * start record which thread incarnation that tid was (its start time from
 * /proc): written just after the swap, read by a waiter only when aux
 * matches the word's tid, so a tid reused by a new thread after the
 * holder's death is not mistaken for the holder.
 *
 * Why not the kernel's robust futexes: set_robust_list takes one list head
 * per thread and glibc registers it for pthread mutexes; a second user
 * would have to splice into glibc's private list layout. Why not PI futexes
 * (FUTEX_LOCK_PI): without the robust list a dead owner leaves kernel
 * waiters blocked on an ownerless pi_state, and new lockers get EINVAL. So
 * waiters look at the holder themselves, at slice ends: a sleeping waiter
 * wakes every 1 ms doubling to FX_SLICE_MAX_NS, reads /proc/<tid>/stat
 * (one open and read, only on that slow path) and takes over a dead
 * holder's lock by compare-and-swap: exactly one waiter wins, and it alone
 * reports IPC_EOWNERDEAD.
 */

#define FX_MAGIC        0x6e795349u /* "ISyn" */
#define FX_VERSION      1u
#define FX_VERSION_BAR  2u /* version 2: the party table (below) */
#define FX_WAITERS      0x80000000u
#define FX_DIED         0x40000000u
#define FX_TID          0x3fffffffu
#define FX_NOTREC       FX_TID
#define FX_TID_MAX      (4u << 20) /* PID_MAX_LIMIT, 64-bit Linux */
#define FX_SLICE_MIN_NS 1000000L
#define FX_SLICE_MAX_NS 32000000L
#define FX_SPIN_MUTEX   100  /* cpu relaxes before a mutex sleeps */
#define FX_SPIN_LOCK    2000 /* before a spinlock starts to nap */
/* Barrier word: generation (16 bits), broken (1), arrived (15). */
#define FX_BAR_GEN_ONE 0x10000u
#define FX_BAR_BROKEN  0x8000u
#define FX_BAR_ARRIVED 0x7fffu
/* Barrier party table entries: pid (22 bits: PID_MAX_LIMIT) | start << 22
 * (42 bits of clock ticks; 0 if unknown or larger); 0 is a free entry. */
#define FX_PARTY_PID   0x3fffffu
#define FX_PARTY_SHIFT 22
/* Sleeping parties wake every FX_BAR_SLICE_NS to judge the registered
 * ones; of all of them, one judges at most every FX_BAR_GATE_NS (the gate
 * is a time in the object), FX_BAR_BATCH entries a turn. */
#define FX_BAR_SLICE_NS 10000000LL
#define FX_BAR_GATE_NS  5000000LL
#define FX_BAR_BATCH    64u
/* Event word: sequence (30 bits), waiters (1), set (1). */
#define FX_EV_SET     1u
#define FX_EV_WAITERS 2u
#define FX_EV_SEQ_ONE 4u

struct ipc__sync_obj {
    _Atomic uint32_t magic;
    _Atomic uint32_t kind;  /* kind << 16 | version (fx_kind_word) */
    _Atomic uint32_t word;  /* the futex word */
    _Atomic uint32_t aux;   /* lock: recorded tid; sem: sleepers; barrier:
                               parties */
    _Atomic uint64_t start; /* lock: recorded tid's start time; barrier:
                               the judging gate (CLOCK_MONOTONIC ns) */
    /* Barrier only (zero for the other kinds): */
    _Atomic uint32_t slots;  /* entries of the party table (= parties) */
    _Atomic uint32_t dead;   /* pid of a party whose death broke it, or 0 */
    _Atomic uint32_t cursor; /* the next entry to judge */
};
_Static_assert(sizeof(struct ipc__sync_obj) <= IPC_SYNC_SIZE,
               "a sync object fits IPC_SYNC_SIZE");
_Static_assert(offsetof(struct ipc__sync_obj, kind) == 4 &&
                   offsetof(struct ipc__sync_obj, aux) == 12,
               "ipc__sync_futex_peek reads the kind at 4, parties at 12");

/* A barrier's table of parties: IPC_BARRIER_SIZE(parties) holds it just
 * after the object's IPC_SYNC_SIZE bytes. */
static inline _Atomic uint64_t *fx_party_table(struct ipc__sync_obj *o)
{
    return (_Atomic uint64_t *)(void *)((unsigned char *)o + IPC_SYNC_SIZE);
}

/* A header a peer overwrote: off the hot path (cold, not inlined). */
__attribute__((cold)) ipc_err ipc__fx_bad_header(const struct ipc_sync *s);

/* Is the header still of this kind? Inline, since every lock, post and
 * wait starts here: two loads and compares (kind_word precomputed). */
static inline bool fx_header_ok(const struct ipc_sync *s,
                                struct ipc__sync_obj *o)
{
    return atomic_load_explicit(&o->magic, memory_order_relaxed) == FX_MAGIC &&
           atomic_load_explicit(&o->kind, memory_order_relaxed) ==
               s->u.fx.kind_word;
}

/* Declare o, the object of s, or return IPC_EPROTO. */
#define FX_OBJ(o, s)                                                           \
    struct ipc__sync_obj *o = (s)->u.fx.obj;                                   \
    if (__builtin_expect(!fx_header_ok((s), o), 0))                            \
    return ipc__fx_bad_header(s)

/* futex.c */
uint64_t ipc__fx_party(void);
void ipc__fx_futex_wake(_Atomic uint32_t *word, int n);
ipc_err ipc__fx_sleep(_Atomic uint32_t *word, uint32_t val, int64_t at_ns);

/* futex_barrier.c */
ipc_err ipc__fx_bar_attach(struct ipc_sync *s, struct ipc__sync_obj *o,
                           size_t size);
ipc_err ipc__fx_barrier_wait(struct ipc_sync *s, int timeout_ms);
ipc_err ipc__fx_barrier_reset(struct ipc_sync *s);
void ipc__fx_bar_leave(struct ipc_sync *s);

#endif
