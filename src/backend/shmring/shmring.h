/* SPDX-License-Identifier: MIT */
/* shm internals: the ring's shared-memory layout, its state encodings, one
 * end's private state, and the inline pieces of the fast paths; included by
 * every file of src/backend/shmring/ and by nothing else. */
#ifndef IPC_SHMRING_H
#define IPC_SHMRING_H

#include "ipc_int.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The shm backend: a ring of fixed slots in shared memory, named (POSIX shm)
 * or private (a pair), with zero-copy loans; safe against crashed and
 * hostile peers. Linux only: POSIX shm, futexes, memfd for pairs,
 * /proc/<pid>/stat to tell a live holder from a dead one.
 *
 * Files. ring.c: the ring itself (claims at head and tail, send and
 * receive, loans and views, close) and the backend's table; wait.c:
 * spinning, sleeping and waking (futex epochs; the bells for poll: a
 * pair's sockets, a named end's pipe);
 * peer.c: the table of peers, judging a holder dead, fork; open.c:
 * create, attach, replace a stale ring, pairs, unlink; hooks.c: the
 * white-box hooks of hooks.h. This header holds what they share; their
 * cross-file functions are ipc__shm_ and declared here only.
 *
 * Layout (version 2: a bell per peer entry, tx_seen). One mapping: a 12 KiB
 * header, then `capacity` slots of slot_size = round_up(16 + max_msg, 64)
 * bytes, page-aligned. A slot is a 64-bit state word, a length and the payload
 * at offset 16: the payload is 16-byte aligned (glibc's memcpy is 10-25x slower
 * when destination and source differ by 4, 8 or 12 modulo 4096) and the state
 * word shares the payload's first cache line, so that a small message costs the
 * transfer of the lines it fills and nothing else (Vyukov's bounded MPMC
 * queue).
 *
 * Slot states: position (40 bits) | kind (2) | owner (22).
 *   FREE(p)        empty, to be written at position p
 *   WRITING(p, o)  reserved by owner o, being written (or loaned)
 *   FULL(p)        a message
 *   READING(p, o)  being copied out (or viewed) by owner o
 * A sender at tail t claims its slot by CAS FREE(t) -> WRITING(t, me),
 * helps tail to t + 1, copies, and stores FULL(t). A receiver at head h
 * claims FULL(h) -> READING(h, me), helps head on, copies, and stores
 * FREE(h + capacity). The claim is the CAS on the slot, and it names the
 * holder in the same word: no instant exists at which a slot is taken but
 * its holder unknown. head and tail are hints that any party advances.
 *   A reservation given up (a released loan, a writer found dead) becomes
 * a skip: FULL(p) with a non-zero owner, which receivers pass without
 * delivering anything, and which a sender may pass itself when it sits at
 * the head (so that loaning and releasing without a receiver never wedges
 * the ring). Slots thus change lap only behind the head, and every state a
 * party finds at head or tail is within one lap of it: anything else is
 * corruption, reported as such.
 *
 * Peer closed. The header counts registered send and receive ends; a close
 * decrements, and entries of dead processes are swept (by a sender that
 * finds the ring full, and by a named receiver on an empty ring that had
 * a sender, in the slices of their waits; by a timeout-0 receive at most
 * once a millisecond). A send is IPC_ECLOSED once no receive end is left
 * of those there were (a named ring that had a receiver: as the fifo
 * backend, "every peer seen is gone"; a new receiver opening the name
 * later makes sends work again), or of those that can ever come (a pair;
 * a named ring that was unlinked). A receive is IPC_ECLOSED, the ring
 * drained, once no send end is left in the same sense (tx_seen; on a pair
 * also POLLHUP on b). A sweep that frees the last end of one side wakes
 * the other side's sleepers and bells.
 *
 * Hostile memory. Geometry is read once at open, checked against the file
 * size and our own limits, and kept in the end: slot addresses never come
 * from the live header. Every state read is checked against the position
 * it must hold; head, tail or a state out of place, a length above
 * max_msg, or a slot handed to an end that holds it already, is
 * IPC_EPROTO. pids from the table are range-checked before
 * kill(). Nothing is ever allocated by a size read from the mapping. A peer
 * that can write the ring can still drop or garble messages, and one that
 * can ftruncate a named object can make us fault (SIGBUS): the file is
 * the peer's to break (memfd pairs are sealed against it).
 */

#define SHMRING_MAGIC    0x31474e4952435049ull /* "IPCRING1" */
#define SHMRING_VERSION  2u
#define SHMRING_READY    0x59444552u /* "REDY" */
#define SHMRING_HDR_SIZE 12288u
#define SHMRING_PREFIX   64u
#define SHMRING_SLOT_HDR 16u
#define SHMRING_LINE     64u
#define SHMRING_PEERS    256u
#define SHMRING_HELD_MAX 16u
#define SHMRING_F_NAMED  1u
#define SHMRING_F_RENDEZVOUS                                                   \
    2u /* capacity 0: one slot, sends wait (ring.c)                            \
        */

#define SHMRING_MAX_MSG_DEFAULT  (64u * 1024)
#define SHMRING_MAX_MSG_MAX      (64u * 1024 * 1024)
#define SHMRING_CAPACITY_DEFAULT 64u
/* Without capacity=, fewer slots for large messages: a default ring stays
 * within this many bytes (and has at least 2 slots). */
#define SHMRING_DEFAULT_BYTES (16u * 1024 * 1024)
#define SHMRING_CAPACITY_MAX  (1u << 20)
#define SHMRING_NAME_MAX      256u /* "/" and NAME_MAX bytes */

#define SHMRING_SPIN_NS        50000
#define SHMRING_HOLDER_SPIN_NS 200000
#define SHMRING_SPIN_LOOKS     64 /* looks between clock reads in a spin */
#define SHMRING_GENTLE_PAUSES  16 /* between looks: see ipc__shm_wait_step */
#define SHMRING_SLICE_MIN_NS   1000000L
#define SHMRING_SLICE_MAX_NS   64000000L
#define SHMRING_PID_LIMIT      (1u << 22) /* PID_MAX_LIMIT on 64-bit Linux */

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "shm: the ring needs lock-free 32- and 64-bit atomics");

/* ------------------------------------------------------------ encodings */

#define SHMRING_TAG_SHIFT  24
#define SHMRING_TAG_MASK   ((1ull << 40) - 1)
#define SHMRING_KIND_SHIFT 22
#define SHMRING_OWNER_MASK ((1u << 22) - 1)
#define SHMRING_GEN_MASK   0x3fffu

enum { SHMRING_FREE, SHMRING_WRITING, SHMRING_FULL, SHMRING_READING };
/* Owner of a FULL state: 0 for a message, this for a skip. */
#define SHMRING_SKIP 1u

static inline uint64_t shmring_state(uint64_t pos, unsigned kind,
                                     uint32_t owner)
{
    return ((pos & SHMRING_TAG_MASK) << SHMRING_TAG_SHIFT) |
           ((uint64_t)kind << SHMRING_KIND_SHIFT) |
           (owner & SHMRING_OWNER_MASK);
}

static inline unsigned shmring_kind(uint64_t s)
{
    return (unsigned)(s >> SHMRING_KIND_SHIFT) & 3u;
}

static inline uint32_t shmring_owner(uint64_t s)
{
    return (uint32_t)(s & SHMRING_OWNER_MASK);
}

/* Position held by the state minus pos, as a signed 40-bit number: the
 * positions a party compares are never 2^39 apart, so the 40-bit tag
 * wraps harmlessly. */
static inline int64_t shmring_dist(uint64_t s, uint64_t pos)
{
    uint64_t d = ((s >> SHMRING_TAG_SHIFT) - pos) & SHMRING_TAG_MASK;
    return (d & (1ull << 39)) ? (int64_t)d - (int64_t)(1ull << 40) : (int64_t)d;
}

/* A peer entry's word: pid (22 bits) | generation (14) | state (2) |
 * role (2). Claimed by CAS, so pid and state change together. */
#define SHMRING_PEER_PID_MASK    ((1u << 22) - 1)
#define SHMRING_PEER_GEN_SHIFT   22
#define SHMRING_PEER_STATE_SHIFT 36
#define SHMRING_PEER_ROLE_SHIFT  38

enum { SHMRING_PEER_FREE, SHMRING_PEER_CLAIMED, SHMRING_PEER_LIVE };
enum { SHMRING_ROLE_TX = 1, SHMRING_ROLE_RX = 2 };

static inline uint64_t shmring_peer_word(uint32_t pid, uint32_t gen,
                                         unsigned state, unsigned role)
{
    return (uint64_t)(pid & SHMRING_PEER_PID_MASK) |
           ((uint64_t)(gen & SHMRING_GEN_MASK) << SHMRING_PEER_GEN_SHIFT) |
           ((uint64_t)state << SHMRING_PEER_STATE_SHIFT) |
           ((uint64_t)role << SHMRING_PEER_ROLE_SHIFT);
}

static inline uint32_t shmring_peer_pid(uint64_t w)
{
    return (uint32_t)(w & SHMRING_PEER_PID_MASK);
}

static inline uint32_t shmring_peer_gen(uint64_t w)
{
    return (uint32_t)(w >> SHMRING_PEER_GEN_SHIFT) & SHMRING_GEN_MASK;
}

static inline unsigned shmring_peer_state(uint64_t w)
{
    return (unsigned)(w >> SHMRING_PEER_STATE_SHIFT) & 3u;
}

static inline unsigned shmring_peer_role(uint64_t w)
{
    return (unsigned)(w >> SHMRING_PEER_ROLE_SHIFT) & 3u;
}

/* ------------------------------------------------------------ the mapping */

struct shmring_peer {
    _Atomic uint64_t word;
    _Atomic uint64_t start; /* process start time, clock ticks after boot */
    _Atomic uint64_t pidns; /* inode of its pid namespace; 0 unknown */
    /* (fd + 1) << 32 | low 32 bits of the inode of a close-on-exec
     * descriptor the end holds; 0: none (see ipc__shm_peer_dead). */
    _Atomic uint64_t probe;
    /* A named end that was polled: its bell pipe, (fd + 1) << 32 | low 32
     * bits of the pipe's inode, rung through /proc/<pid>/fd/<fd>; 0: none
     * (see wait.c, "Named rings"). */
    _Atomic uint64_t bell;
};

/* The first 64 bytes: written first by a creator (pwrite, before the object
 * has its size) so that a half-made ring names its creator. */
struct shmring_prefix {
    uint64_t magic;
    uint32_t version;
    uint32_t ready; /* SHMRING_READY once everything else is written */
    uint32_t creator_pid;
    uint32_t flags;
    uint64_t creator_start;
    uint64_t creator_pidns;
    uint64_t reserved[3];
};

struct shmring_hdr {
    uint64_t magic;
    uint32_t version;
    _Atomic uint32_t ready;
    uint32_t creator_pid;
    uint32_t flags;
    uint64_t creator_start;
    uint64_t creator_pidns;
    uint64_t reserved0[3];
    /* Geometry: read once by an opener, checked, copied. */
    uint64_t hdr_size;
    uint64_t slot_size;
    uint64_t slot_count;
    uint64_t max_msg;
    uint64_t map_size;
    uint64_t reserved1[3];
    /* Hot words on lines of their own (128 bytes: the adjacent-line
     * prefetcher pairs 64-byte lines). */
    _Alignas(128) _Atomic uint64_t tail;
    _Alignas(128) _Atomic uint64_t head;
    /* Wake-ups of sleeping receivers, then senders: epoch (low half, the
     * futex word), sleepers of that epoch and, on a pair, the socket bell
     * (high half; see SHMRING_SLEEPERS). */
    _Alignas(128) _Atomic uint64_t rx_wake;
    _Alignas(128) _Atomic uint64_t tx_wake;
    /* Written only when an end comes or goes. */
    _Alignas(128) _Atomic uint32_t n_tx;
    _Atomic uint32_t n_rx;
    _Atomic uint32_t unlinked; /* no new end can attach (pairs: always) */
    _Atomic uint32_t rx_seen;  /* a receive end was ever attached */
    _Atomic uint32_t tx_seen;  /* a send end was ever attached */
    _Alignas(128) struct shmring_peer peers[SHMRING_PEERS];
};

_Static_assert(sizeof(struct shmring_prefix) == SHMRING_PREFIX,
               "shm: prefix layout");
_Static_assert(offsetof(struct shmring_hdr, hdr_size) == SHMRING_PREFIX,
               "shm: the geometry follows the 64-byte prefix");
_Static_assert(sizeof(struct shmring_hdr) <= SHMRING_HDR_SIZE,
               "shm: header larger than its reserved size");

struct shmring_slot {
    _Atomic uint64_t state;
    _Atomic uint32_t len;
    uint32_t reserved;
};

_Static_assert(sizeof(struct shmring_slot) == SHMRING_SLOT_HDR,
               "shm: slot header is 16 bytes");

struct shmring_geom {
    uint64_t n;
    uint64_t max_msg;
    uint64_t slot_size;
    uint64_t map_size;
};

static inline void shmring_geom(uint64_t n, uint64_t max_msg,
                                struct shmring_geom *g)
{
    g->n = n;
    g->max_msg = max_msg;
    g->slot_size =
        (SHMRING_SLOT_HDR + max_msg + SHMRING_LINE - 1) & ~(uint64_t)63;
    g->map_size = SHMRING_HDR_SIZE + n * g->slot_size;
}

/* ------------------------------------------------------------ one end */

/* A slot this end holds for the caller: a loan or a view. */
struct shmring_held {
    uint64_t pos;
    struct shmring_slot *slot;
    size_t len;
};

struct shmring_end {
    bool inited;
    bool named;
    bool peer_gone;    /* sticky: the other side can never act again */
    bool rx_streaming; /* the last receive found its message at once */
    unsigned role;
    struct shmring_hdr *hdr;
    unsigned char *slots;
    size_t map_size;
    size_t slot_size;
    uint64_t n;      /* slots */
    uint64_t n_mask; /* n - 1 when n is a power of two, else 0 */
    size_t max_msg;
    int fd;         /* named: the shm object; pair: the socket we wait on and
                       poll (send end: c, receive end: b) */
    int peer_fd;    /* pair: the socket that reaches the other side's (send
                       end: a, rings b; receive end: d, drained to free c) */
    int peer_idx;   /* our entry in the peer table; -1 if none */
    uint32_t owner; /* peer_idx | generation << 8, as slots record it */
    int fork_idx;   /* entry prepared for a child during fork() */
    uint32_t fork_gen;
    /* capacity 0: a send returns once its message is taken (ring.c,
     * "Rendezvous"). Here, in padding, not among the bools above: a fifth
     * bool there moved every field the fast paths read by 8 bytes. */
    bool rendezvous;
    struct shmring_held loans[SHMRING_HELD_MAX];
    unsigned n_loans;
    struct shmring_held views[SHMRING_HELD_MAX];
    unsigned n_views;
    /* A polled named end (wait.c, "Named rings"): the descriptor handed
     * out, -1 until ipc_pollfd() made it (written once, under the lock);
     * the bell pipe (receive end: read end polled through the epoll set
     * bell_fd; send end: bell_fd is the write end); the pidfd of the
     * sender a polled receiver watches, and that sender's entry. */
    _Atomic int bell_fd;
    int bell_pipe[2];
    uint64_t bell_word; /* as the peer entry names it; 0: none */
    int watch_fd;
    int watch_idx;
    uint64_t watch_word;
    _Atomic int64_t swept_ns; /* a receiver's last sweep for dead senders */
    struct shmring_end *prev, *next; /* this process's ends, for fork */
    char name[SHMRING_NAME_MAX + 1];
};

static inline struct shmring_end *shmring_priv(const ipc_channel *ch)
{
    return ipc__priv(ch);
}

static inline const char *shmring_label(const struct shmring_end *e)
{
    return e->named ? e->name : "pair";
}

static inline struct shmring_slot *shmring_slot_at(const struct shmring_end *e,
                                                   uint64_t pos)
{
    uint64_t idx = e->n_mask ? (pos & e->n_mask) : (pos % e->n);
    return (struct shmring_slot *)(e->slots + (size_t)idx * e->slot_size);
}

static inline unsigned char *shmring_payload(struct shmring_slot *slot)
{
    return (unsigned char *)slot + SHMRING_SLOT_HDR;
}

#if defined(__GNUC__)
#define SHMRING_NOINLINE __attribute__((noinline))
#else
#define SHMRING_NOINLINE
#endif

static inline void shmring_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* This process, as the peer table records it. */
struct shmring_self {
    uint32_t pid;
    uint64_t start;
    uint64_t pidns;
};

/* ------------------------------------------------------------ peer.c */

/* This process (pid, start time, pid namespace), as the peer table records
 * it: set by ipc__shm_init, refreshed in a forked child. */
extern struct shmring_self ipc__shm_me;

/* Once per process: ipc__shm_me and the fork handlers. Called by every entry
 * point that opens, pairs or unlinks. */
void ipc__shm_init(void);
/* Is this process certainly gone? start 0: judge by pid alone. Unknown
 * answers (another pid namespace, no /proc) count as alive. */
bool ipc__shm_pid_dead(uint32_t pid, uint64_t start, uint64_t pidns);
/* Is the process of the peer entry p, seen as w, gone? */
bool ipc__shm_peer_dead(const struct shmring_peer *p, uint64_t w);
/* Free the entries of processes that are gone (and their counts). */
void ipc__shm_sweep(struct shmring_hdr *hdr);
/* Take an entry of the table for e (false: all 256 in use), give it back. */
bool ipc__shm_register(struct shmring_end *e);
void ipc__shm_unregister(struct shmring_end *e);
/* Is the holder that a slot's owner field names gone? Frees its entry. */
bool ipc__shm_owner_dead(struct shmring_end *e, uint32_t ref);
/* This process's list of ends, which the fork handlers walk. */
void ipc__shm_list_add(struct shmring_end *e);
void ipc__shm_list_remove(struct shmring_end *e);
/* IPC_OK, or IPC_ELIMIT when e has no entry in the table. */
ipc_err ipc__shm_usable(const struct shmring_end *e);
/* "/proc/<pid>/fd/<fd>" into path. */
#define SHMRING_FD_PATH 48
void ipc__shm_fd_path(char path[SHMRING_FD_PATH], uint32_t pid, uint32_t fd);
/* The lock of this process's list of ends (held across fork), which also
 * guards the making of bells. */
void ipc__shm_lock(void);
void ipc__shm_unlock(void);

/* ------------------------------------------------------------ open.c */

/* The table's open, pair and unlink (see struct ipc_backend). */
ipc_err ipc__shm_open(ipc_channel *ch, const struct ipc_addr *addr,
                      unsigned flags, const struct ipc_deadline *dl);
ipc_err ipc__shm_pair(ipc_channel *tx, ipc_channel *rx,
                      const struct ipc_addr *addr, unsigned flags);
ipc_err ipc__shm_unlink(const struct ipc_addr *addr);
/* A creator's prefix (named or a pair), and the rest of a new header and
 * its slots; ready is stored apart, last. */
void ipc__shm_prefix_fill(struct shmring_prefix *pre, bool named);
void ipc__shm_format(struct shmring_hdr *hdr, const struct shmring_geom *g,
                     bool named);

/* ------------------------------------------------------------ wait.c */

#define SHMRING_SLEEPER (1ull << 32) /* one sleeper, in a wake word */
/* The sleepers of the epoch (bits 32-62), and a pair's bell (bit 63): a
 * timeout-0 call armed it for poll() on the end's socket. */
#define SHMRING_SLEEPERS (((1ull << 31) - 1) << 32)
#define SHMRING_BELL     (1ull << 63)

/* A wait in progress: what one send or receive remembers between looks.
 * Start one as {.e = e, .dl = dl, .rx = ...}, everything else zero. */
struct shmring_wait {
    struct shmring_end *e;
    const struct ipc_deadline *dl;
    bool rx;            /* waiting for a message, else for room */
    int64_t spin_until; /* 0: not spinning yet */
    unsigned looks;     /* looks that found no progress */
    long slice_ns;
    uint32_t seq; /* named: the event count when we announced ourselves */
    bool armed;   /* announced: the next step sleeps */
    bool check;   /* judge holders at the next look */
    bool polled;  /* timeout 0: bell armed and looked again */
    bool closing; /* the peer looked gone: one last look, then closed */
    bool bell;    /* named, timeout 0: the end's bell was lowered and armed */
};

/* The other side announced a sleeper (or, on a pair, armed its bell). */
void ipc__shm_wake_slow(struct shmring_end *e, bool rx);
/* Move to the next epoch and wake its sleepers (only when there are some
 * or a pair's bell is armed, unless always); returns the word as it was. */
uint64_t ipc__shm_epoch_next(_Atomic uint64_t *wake, bool always);
/* Wake whoever sleeps on the other side (rx: receivers), at close. */
void ipc__shm_wake_all(struct shmring_end *e, bool rx);
/* One step of waiting after a look found no progress. IPC_OK: look again. */
ipc_err ipc__shm_wait_step(struct shmring_wait *w, bool held);
/* Take back an announcement the wait made (named). */
void ipc__shm_disarm(const struct shmring_wait *w);
/* Named: wake every sleeper and ring every bell on one side (rx:
 * receivers), so that they look at the ring and the counts again. */
void ipc__shm_wake_named(struct shmring_hdr *hdr, bool rx);
/* The bell word of an end's peer entry: 0 until ipc_pollfd() made one. */
uint64_t ipc__shm_bell_word(const struct shmring_end *e);
/* ipc_pollfd() on a named end: make its bell once, hand out its descriptor. */
ipc_err ipc__shm_bell_fd(const ipc_channel *ch, struct shmring_end *e, int *fd);
/* A timeout-0 call lowered and armed its end's bell (w->bell), then made
 * progress after all, or found the peer closed: raise the bell again. */
void ipc__shm_bell_settle(const struct shmring_wait *w);
/* Close an end's bell (at close). */
void ipc__shm_bell_close(struct shmring_end *e);

/* ------------------------------------------------------------ fast paths */

/* After a message is published: wake receivers that asked for it. The
 * store is seq_cst (on x86 an xchg), and so is the load: against a sleeper
 * that announces itself and then looks at the ring, one of the two sees
 * the other (Dekker). While both sides are awake this is one load of a
 * line nobody writes: no system call. */
static inline void shmring_publish(struct shmring_end *e,
                                   struct shmring_slot *slot, uint64_t pos)
{
    atomic_store_explicit(&slot->state, shmring_state(pos, SHMRING_FULL, 0),
                          memory_order_seq_cst);
    if (atomic_load_explicit(&e->hdr->rx_wake, memory_order_seq_cst) >> 32)
        ipc__shm_wake_slow(e, true);
}

/* After a slot is given back: wake senders waiting for room. */
static inline void shmring_free_slot(struct shmring_end *e,
                                     struct shmring_slot *slot, uint64_t pos)
{
    atomic_store_explicit(&slot->state,
                          shmring_state(pos + e->n, SHMRING_FREE, 0),
                          memory_order_seq_cst);
    if (atomic_load_explicit(&e->hdr->tx_wake, memory_order_seq_cst) >> 32)
        ipc__shm_wake_slow(e, false);
}

/* Move a head or tail hint from *at to *at + 1 unless someone did;
 * *at becomes its current value. */
static inline void shmring_advance(_Atomic uint64_t *index, uint64_t *at)
{
    uint64_t want = *at;
    if (atomic_compare_exchange_strong_explicit(
            index, &want, want + 1, memory_order_acq_rel, memory_order_acquire))
        *at = want + 1;
    else
        *at = want;
}

/* No receive end is left of those there were, or of those that can come.
 * One load on the fast path: the count is 0 only in that case. */
static inline bool shmring_receivers_gone(struct shmring_end *e)
{
    struct shmring_hdr *hdr = e->hdr;
    return e->peer_gone ||
           (atomic_load_explicit(&hdr->n_rx, memory_order_acquire) == 0 &&
            (atomic_load_explicit(&hdr->unlinked, memory_order_relaxed) ||
             atomic_load_explicit(&hdr->rx_seen, memory_order_relaxed)));
}

#endif /* IPC_SHMRING_H */
