/* SPDX-License-Identifier: MIT */
/* shm: a ring of fixed slots in shared memory, named (POSIX shm) or private
 * (a pair), with zero-copy loans; safe against crashed and hostile peers. */
#include "ipc_int.h"
#include "shmring_hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <linux/futex.h>

/*
 * Linux only: POSIX shm, futexes, memfd for pairs, /proc/<pid>/stat to
 * tell a live holder from a dead one.
 *
 * Layout (version 1). One mapping: a 12 KiB header, then `capacity` slots
 * of slot_size = round_up(16 + max_msg, 64) bytes, page-aligned. A slot is
 * a 64-bit state word, a length and the payload at offset 16: the payload
 * is 16-byte aligned (glibc's memcpy is 10-25x slower when destination and
 * source differ by 4, 8 or 12 modulo 4096) and the state word shares the
 * payload's first cache line, so that a small message costs the transfer of
 * the lines it fills and nothing else (Vyukov's bounded MPMC queue).
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
 * Crashes. owner names an entry (index, generation) of the header's table
 * of 256 peers; every end of every process registers one with its pid, its
 * start time (field 22 of /proc/<pid>/stat) and its pid namespace. A party
 * that finds a slot held too long judges its holder: the entry moved on,
 * kill(pid, 0) says ESRCH, the process is a zombie, or another process now
 * has the pid (its start time differs) all mean dead. A dead writer's slot
 * becomes a skip (never delivered), a dead reader's is freed for the next
 * lap. A pid in another pid namespace cannot be judged and counts as
 * alive: waiting is safe, freeing a slot that a live process is writing is
 * not.
 *
 * Creation. shm_open(O_CREAT | O_EXCL, mode), fchmod to the exact mode, a
 * 64-byte prefix naming the creator (pwrite: a half-made ring says who is
 * making it), checks that the ring fits in /dev/shm and in half the memory
 * available (MemAvailable, memory cgroup), posix_fallocate of every page
 * (a full /dev/shm is IPC_ELIMIT here, never a SIGBUS later), map, format,
 * and ready stored last with release ordering. An opener waits within its
 * timeout for ready; one whose creator died is IPC_EPROTO at once.
 * IPC_F_REPLACE removes only a ring no live process uses (or one half-made
 * by a dead creator), never an object that is not a ring. Pairs take the
 * same steps in a sealed memfd mapped once per end.
 *
 * Fork. A pthread_atfork handler registers, before fork() returns in the
 * parent, an entry for the child's copy of each end (so a parent closing
 * its copy at once never drops the count of receivers to 0 while the child
 * holds one); the child takes the entry over with its own pid. If fork()
 * fails, those entries stay until the parent exits (counts too high: a
 * peer-closed report comes late, never early). Loans and views stay with
 * the process that made them. posix_spawn and vfork run no handlers.
 *
 * Waiting. A party that cannot progress spins about 50 us (200 us behind a
 * writer that is mid-copy), one pause between looks (16 for a receiver
 * draining a stream: see shmring_wait_step), then announces itself and
 * sleeps. Named rings
 * sleep in the kernel on an event count, one 64-bit word per direction:
 * the low half is the epoch (the futex word), the high half the sleepers
 * announced in this epoch. A sleeper adds itself (one atomic add, which
 * also tells it the epoch), looks at the ring once more, and waits only
 * while the epoch is unchanged (FUTEX_WAIT_BITSET: an absolute
 * CLOCK_MONOTONIC deadline, EINTR retried against it). The other side
 * reads the word after each message (one load of a line nobody writes
 * while both are awake: no system call) and, when sleepers are there,
 * moves to the next epoch with no sleepers in one CAS and wakes them: a
 * burst of messages makes one wake call, not one per message. A sleeper
 * that leaves without being woken takes itself off only while the epoch
 * is still its own, in the same CAS: it can never take off a sleeper of a
 * later epoch (which two separate words, a count and a futex word, did
 * allow: a lost wake-up).
 *   Why not the process-shared sem_t of the first design: glibc trusts the
 * semaphore's flags word in the mapping and aborts the process ("The
 * futex facility returned an unexpected error code") when a peer has
 * scribbled over it; a futex word of ours can hold any value, and an
 * unexpected error becomes IPC_EPROTO. No timeout fallback is needed:
 * FUTEX_WAIT_BITSET measures on CLOCK_MONOTONIC itself.
 *   Waits behind one holder run in slices of 1-64 ms so that its death is
 * noticed; an idle receiver on an empty ring sleeps with no timer at all.
 *
 * Pairs: two SOCK_SEQPACKET socketpairs are the doorbells, the poll
 * descriptors and the liveness signals, and sends never raise SIGPIPE
 * (MSG_NOSIGNAL). Messages: the send end holds a, the receive end b; a
 * sender rings b with one byte when a receiver armed that bell, and b
 * polls POLLIN. Room: the send end holds c, the receive end d; a sender
 * that finds the ring full fills c's small send buffer so that c stops
 * polling POLLOUT, and a receiver that frees a slot with that bell armed
 * drains d, so that c polls POLLOUT again. Two pairs, not one, so that
 * each descriptor's readiness means one thing (b readable: messages may be
 * there; c writable: room may be there): the bytes that make a full ring
 * unwritable never make the receiver's descriptor readable. The kernel counts
 * the copies of each socket across fork and exit: POLLHUP on b means no send
 * end is left anywhere, on c no receive end. Named rings have no such object
 * shared by unrelated processes (a FIFO beside the ring would be a second
 * name to create, replace and remove without races), so their ends are not
 * pollable: IPC_CAP_POLLABLE is cleared on them.
 *
 * Peer closed. The header counts registered send and receive ends; a close
 * decrements, and entries of dead processes are swept (by a sender that
 * finds the ring full, in the slices of its wait). A send is IPC_ECLOSED
 * once no receive end is left of those there were (a named ring that had
 * a receiver: as the fifo backend, "every peer seen is gone"; a new
 * receiver opening the name later makes sends work again), or of those
 * that can ever come (a pair; a named ring that was unlinked). A pair
 * receiver hears IPC_ECLOSED once no send end is left (count 0, or POLLHUP
 * on b) and the ring is drained. A named receiver never does: senders may
 * always come, and telling a crashed one would need a receiver that wakes
 * up now and then; that end has no IPC_CAP_PEER_CLOSED.
 *
 * Zero copy. A loan is a reserved slot (WRITING) handed to the caller, a
 * view a claimed one (READING); commit publishes a loan, release gives a
 * view back or turns a loan into a skip. At most 16 of each per end, and
 * never more loans than slots (a thread holding every slot would wait on
 * itself): IPC_ELIMIT beyond. A buffer that is no outstanding loan or view
 * of the end (released twice, say) is IPC_EINVAL. Closing an end gives
 * back what it holds; a crash is judged like any holder.
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
#define SHMRING_VERSION  1u
#define SHMRING_READY    0x59444552u /* "REDY" */
#define SHMRING_HDR_SIZE 12288u
#define SHMRING_PREFIX   64u
#define SHMRING_SLOT_HDR 16u
#define SHMRING_LINE     64u
#define SHMRING_PEERS    256u
#define SHMRING_HELD_MAX 16u
#define SHMRING_F_NAMED  1u

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
#define SHMRING_GENTLE_PAUSES  16 /* between looks: see shmring_wait_step */
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
    uint64_t reserved;
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
    /* Wake-ups of sleeping receivers, then senders. Named: epoch (low
     * half, the futex word) and sleepers of that epoch (high half). Pair:
     * a non-zero high half means the socket bell is armed. */
    _Alignas(128) _Atomic uint64_t rx_wake;
    _Alignas(128) _Atomic uint64_t tx_wake;
    /* Written only when an end comes or goes. */
    _Alignas(128) _Atomic uint32_t n_tx;
    _Atomic uint32_t n_rx;
    _Atomic uint32_t unlinked; /* no new end can attach (pairs: always) */
    _Atomic uint32_t rx_seen;  /* a receive end was ever attached */
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

static void shmring_geom(uint64_t n, uint64_t max_msg, struct shmring_geom *g)
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
    struct shmring_held loans[SHMRING_HELD_MAX];
    unsigned n_loans;
    struct shmring_held views[SHMRING_HELD_MAX];
    unsigned n_views;
    struct shmring_end *prev, *next; /* this process's ends, for fork */
    char name[SHMRING_NAME_MAX + 1];
};

static struct shmring_end *shmring_priv(const ipc_channel *ch)
{
    return ipc__priv(ch);
}

static const char *shmring_label(const struct shmring_end *e)
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

static inline void shmring_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ------------------------------------------------------------ processes */

struct shmring_self {
    uint32_t pid;
    uint64_t start;
    uint64_t pidns;
};

/* This process, as the peer table records it; refreshed in a forked child. */
static struct shmring_self shmring_me;
static pthread_once_t shmring_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t shmring_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shmring_end *shmring_ends; /* under shmring_lock */

enum { SHMRING_PROC_GONE, SHMRING_PROC_ALIVE, SHMRING_PROC_UNKNOWN };

/* "/proc/<pid>/stat" without stdio: this runs in a forked child too,
 * where only async-signal-safe calls are sure to work. */
static void shmring_stat_path(char path[32], uint32_t pid)
{
    char digits[12];
    int n = 0;
    do
        digits[n++] = (char)('0' + pid % 10);
    while ((pid /= 10) != 0);
    memcpy(path, "/proc/", 6);
    int at = 6;
    while (n)
        path[at++] = digits[--n];
    memcpy(path + at, "/stat", 6);
}

/* State letter and start time of a process from /proc/<pid>/stat. */
static int shmring_proc_stat(uint32_t pid, char *state, uint64_t *start)
{
    char path[32], buf[1024];
    shmring_stat_path(path, pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return (errno == ENOENT || errno == ESRCH) ? SHMRING_PROC_GONE
                                                   : SHMRING_PROC_UNKNOWN;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    int err = errno;
    close(fd);
    if (n < 0)
        return err == ESRCH ? SHMRING_PROC_GONE : SHMRING_PROC_UNKNOWN;
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == '\0')
        return SHMRING_PROC_UNKNOWN;
    *state = p[2];
    p += 3;
    /* starttime is field 22; the state was field 3. */
    for (int field = 4; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return SHMRING_PROC_UNKNOWN;
    }
    uint64_t v = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    *start = v;
    return SHMRING_PROC_ALIVE;
}

static void shmring_identify(struct shmring_self *me)
{
    char state;
    uint64_t start = 0;
    struct stat st;
    me->pid = (uint32_t)getpid();
    me->start = shmring_proc_stat(me->pid, &state, &start) == SHMRING_PROC_ALIVE
                    ? start
                    : 0;
    me->pidns = stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* Is this process certainly gone? start 0: not known, pid only. Unknown
 * answers (another pid namespace, no /proc) count as alive. */
static bool shmring_pid_dead(uint32_t pid, uint64_t start, uint64_t pidns)
{
    char state = '?';
    uint64_t now_start = 0;
    if (pid == 0 || pid >= SHMRING_PID_LIMIT)
        return true; /* no process has it: garbage, never passed to kill */
    if (pidns != 0 && shmring_me.pidns != 0 && pidns != shmring_me.pidns)
        return false;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return true;
    switch (shmring_proc_stat(pid, &state, &now_start)) {
    case SHMRING_PROC_GONE:
        return true;
    case SHMRING_PROC_UNKNOWN:
        return false;
    default:
        break;
    }
    if (state == 'Z' || state == 'X' || state == 'x')
        return true;                         /* exited, not yet reaped */
    return start != 0 && now_start != start; /* the pid was reused */
}

/* ------------------------------------------------------------ peer table */

static _Atomic uint32_t *shmring_count(struct shmring_hdr *hdr, unsigned role)
{
    return role == SHMRING_ROLE_TX ? &hdr->n_tx : &hdr->n_rx;
}

/* Free an entry seen as w (its process is gone), once. */
static void shmring_peer_free(struct shmring_hdr *hdr, struct shmring_peer *p,
                              uint64_t w)
{
    uint64_t freed =
        shmring_peer_word(0, shmring_peer_gen(w), SHMRING_PEER_FREE, 0);
    unsigned role = shmring_peer_role(w);
    if (!atomic_compare_exchange_strong(&p->word, &w, freed))
        return;
    /* Claimed and live entries are both counted (see shmring_peer_add). */
    if (role == SHMRING_ROLE_TX || role == SHMRING_ROLE_RX)
        atomic_fetch_sub(shmring_count(hdr, role), 1);
}

/* Is the process of an entry seen as w gone? */
static bool shmring_peer_dead(const struct shmring_peer *p, uint64_t w)
{
    if (shmring_peer_state(w) == SHMRING_PEER_LIVE)
        return shmring_pid_dead(
            shmring_peer_pid(w),
            atomic_load_explicit(&p->start, memory_order_relaxed),
            atomic_load_explicit(&p->pidns, memory_order_relaxed));
    /* A claim in progress: start and namespace may be a previous
     * occupant's; judge by the pid alone. */
    return shmring_pid_dead(shmring_peer_pid(w), 0, 0);
}

/* Free the entries of processes that are gone. */
static void shmring_sweep(struct shmring_hdr *hdr)
{
    for (unsigned i = 0; i < SHMRING_PEERS; i++) {
        struct shmring_peer *p = &hdr->peers[i];
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
        if (shmring_peer_state(w) != SHMRING_PEER_FREE &&
            shmring_peer_dead(p, w))
            shmring_peer_free(hdr, p, w);
    }
}

/* Take a free entry for (pid, role). The count goes up first, so that a
 * claimed entry is always counted and a sweep can take it back exactly
 * once. state LIVE completes the entry; CLAIMED leaves it for a forked
 * child to take over. Returns the index, or -1 when all 256 are in use. */
static int shmring_peer_add(struct shmring_hdr *hdr, unsigned role,
                            const struct shmring_self *who, unsigned state,
                            uint32_t *gen_out)
{
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < SHMRING_PEERS; i++) {
            struct shmring_peer *p = &hdr->peers[i];
            uint64_t w = atomic_load_explicit(&p->word, memory_order_relaxed);
            if (shmring_peer_state(w) != SHMRING_PEER_FREE)
                continue;
            uint32_t gen = (shmring_peer_gen(w) + 1) & SHMRING_GEN_MASK;
            uint64_t claimed =
                shmring_peer_word(who->pid, gen, SHMRING_PEER_CLAIMED, role);
            atomic_fetch_add(shmring_count(hdr, role), 1);
            if (!atomic_compare_exchange_strong(&p->word, &w, claimed)) {
                atomic_fetch_sub(shmring_count(hdr, role), 1);
                continue;
            }
            atomic_store_explicit(&p->start, who->start, memory_order_relaxed);
            atomic_store_explicit(&p->pidns, who->pidns, memory_order_relaxed);
            if (role == SHMRING_ROLE_RX)
                atomic_store(&hdr->rx_seen, 1);
            if (state == SHMRING_PEER_LIVE) {
                uint64_t live =
                    shmring_peer_word(who->pid, gen, SHMRING_PEER_LIVE, role);
                /* A CAS: a sweeper that wrongly judged the claim (another
                 * pid namespace) took it back, count and all. */
                if (!atomic_compare_exchange_strong(&p->word, &claimed, live))
                    continue;
            }
            *gen_out = gen;
            return (int)i;
        }
        if (pass == 0)
            shmring_sweep(hdr);
    }
    return -1;
}

static bool shmring_register(struct shmring_end *e)
{
    uint32_t gen = 0;
    e->peer_idx =
        shmring_peer_add(e->hdr, e->role, &shmring_me, SHMRING_PEER_LIVE, &gen);
    e->owner = e->peer_idx < 0 ? 0 : ((uint32_t)e->peer_idx | gen << 8);
    return e->peer_idx >= 0;
}

static void shmring_unregister(struct shmring_end *e)
{
    if (e->peer_idx < 0)
        return;
    struct shmring_peer *p = &e->hdr->peers[e->peer_idx];
    uint32_t gen = e->owner >> 8;
    uint64_t mine =
        shmring_peer_word(shmring_me.pid, gen, SHMRING_PEER_LIVE, e->role);
    shmring_peer_free(e->hdr, p, mine);
    e->peer_idx = -1;
}

/* In a forked child: take over the entry the parent prepared. */
static bool shmring_peer_adopt(struct shmring_end *e, uint32_t parent)
{
    struct shmring_peer *p = &e->hdr->peers[e->fork_idx];
    uint32_t gen = e->fork_gen;
    uint64_t w = shmring_peer_word(parent, gen, SHMRING_PEER_CLAIMED, e->role);
    uint64_t mine =
        shmring_peer_word(shmring_me.pid, gen, SHMRING_PEER_CLAIMED, e->role);
    if (!atomic_compare_exchange_strong(&p->word, &w, mine))
        return false; /* swept meanwhile (the parent died) */
    atomic_store_explicit(&p->start, shmring_me.start, memory_order_relaxed);
    atomic_store_explicit(&p->pidns, shmring_me.pidns, memory_order_relaxed);
    uint64_t live =
        shmring_peer_word(shmring_me.pid, gen, SHMRING_PEER_LIVE, e->role);
    if (!atomic_compare_exchange_strong(&p->word, &mine, live))
        return false;
    e->peer_idx = e->fork_idx;
    e->owner = (uint32_t)e->fork_idx | gen << 8;
    return true;
}

/* Is the holder a slot names gone? A dead holder's entry is freed too. */
static bool shmring_owner_dead(struct shmring_end *e, uint32_t ref)
{
    struct shmring_peer *p = &e->hdr->peers[ref & 0xffu];
    uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
    if (shmring_peer_state(w) == SHMRING_PEER_FREE ||
        shmring_peer_gen(w) != ref >> 8)
        return true; /* that registration has ended */
    if (!shmring_peer_dead(p, w))
        return false;
    shmring_peer_free(e->hdr, p, w);
    return true;
}

/* ------------------------------------------------------------ fork */

static void shmring_fork_prepare(void)
{
    pthread_mutex_lock(&shmring_lock);
    for (struct shmring_end *e = shmring_ends; e; e = e->next) {
        e->fork_idx = -1;
        if (e->peer_idx >= 0) {
            /* start 0: the entry is judged by pid until the child has it. */
            struct shmring_self parent = {shmring_me.pid, 0, 0};
            e->fork_idx = shmring_peer_add(e->hdr, e->role, &parent,
                                           SHMRING_PEER_CLAIMED, &e->fork_gen);
        }
    }
}

static void shmring_fork_parent(void)
{
    /* The prepared entries are the child's now (or, if fork failed, stay
     * until this process exits: counts too high, never too low). */
    for (struct shmring_end *e = shmring_ends; e; e = e->next)
        e->fork_idx = -1;
    pthread_mutex_unlock(&shmring_lock);
}

static void shmring_fork_child(void)
{
    uint32_t parent = shmring_me.pid;
    shmring_identify(&shmring_me);
    for (struct shmring_end *e = shmring_ends; e; e = e->next) {
        /* The parent's loans and views are the parent's to finish. */
        e->n_loans = e->n_views = 0;
        e->peer_idx = -1;
        if (!(e->fork_idx >= 0 && shmring_peer_adopt(e, parent)))
            shmring_register(e); /* may fail: calls then say IPC_ELIMIT */
        e->fork_idx = -1;
    }
    pthread_mutex_unlock(&shmring_lock);
}

static void shmring_init_process(void)
{
    shmring_identify(&shmring_me);
    pthread_atfork(shmring_fork_prepare, shmring_fork_parent,
                   shmring_fork_child);
}

static void shmring_list_add(struct shmring_end *e)
{
    pthread_mutex_lock(&shmring_lock);
    e->prev = NULL;
    e->next = shmring_ends;
    if (shmring_ends)
        shmring_ends->prev = e;
    shmring_ends = e;
    pthread_mutex_unlock(&shmring_lock);
}

static void shmring_list_remove(struct shmring_end *e)
{
    pthread_mutex_lock(&shmring_lock);
    for (struct shmring_end *x = shmring_ends; x; x = x->next) {
        if (x != e)
            continue;
        if (e->prev)
            e->prev->next = e->next;
        else
            shmring_ends = e->next;
        if (e->next)
            e->next->prev = e->prev;
        break;
    }
    e->prev = e->next = NULL;
    pthread_mutex_unlock(&shmring_lock);
}

/* ------------------------------------------------------------ doorbells */

/* Pair receive end: empty b. false once every send end is gone. */
static bool shmring_drain(int fd)
{
    char buf[64];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0)
            continue;
        if (r == 0)
            return false; /* EOF: no copy of the send socket is left */
        if (errno != EINTR)
            return true;
    }
}

/* Pair send end: fill a's send buffer so that a stops polling POLLOUT
 * until a receiver drains b. false once every receive end is gone. */
static bool shmring_fill(int fd)
{
    for (int i = 0; i < 256; i++) {
        if (send(fd, "f", 1, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            continue;
        if (errno == EINTR)
            continue;
        return errno != EPIPE && errno != ECONNRESET;
    }
    return true;
}

#define SHMRING_SLEEPER (1ull << 32) /* one sleeper, in a wake word */

static _Atomic uint64_t *shmring_wake_word(struct shmring_hdr *hdr, bool rx)
{
    return rx ? &hdr->rx_wake : &hdr->tx_wake;
}

/* The epoch half of a wake word: the 32 bits the futex calls look at. */
static uint32_t *shmring_epoch(_Atomic uint64_t *wake)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (uint32_t *)wake;
#else
    return (uint32_t *)wake + 1;
#endif
}

static long shmring_futex(uint32_t *word, int op, uint32_t val,
                          const struct timespec *at)
{
    return syscall(SYS_futex, word, op, val, at, NULL, FUTEX_BITSET_MATCH_ANY);
}

/* Named: move to the next epoch, with no sleepers, and wake every sleeper
 * of the last one. Only when someone sleeps, unless `always`. Not a
 * private futex: the sleepers are other processes. */
static void shmring_epoch_next(_Atomic uint64_t *wake, bool always)
{
    uint64_t v = atomic_load(wake);
    for (;;) {
        if (!always && (v >> 32) == 0)
            return;
        uint64_t next = (uint64_t)(uint32_t)(v + 1);
        if (atomic_compare_exchange_weak(wake, &v, next))
            break;
    }
    shmring_futex(shmring_epoch(wake), FUTEX_WAKE, INT_MAX, NULL);
}

/* The other side announced a sleeper (or, on a pair, armed its bell). */
static void shmring_wake_slow(struct shmring_end *e, bool rx)
{
    _Atomic uint64_t *wake = shmring_wake_word(e->hdr, rx);
    if (e->named) {
        shmring_epoch_next(wake, false);
        return;
    }
    /* Disarm and ring once: the next message of a burst finds the bell
     * disarmed and makes no system call. */
    if (!(atomic_exchange(wake, 0) >> 32))
        return;
    if (rx) {
        /* EAGAIN: b is full of bytes, hence readable already. */
        ssize_t r;
        do
            r = send(e->peer_fd, "r", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
        if (r < 0 && (errno == EPIPE || errno == ECONNRESET))
            e->peer_gone = true;
    } else if (!shmring_drain(e->peer_fd)) {
        e->peer_gone = true;
    }
}

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
        shmring_wake_slow(e, true);
}

/* After a slot is given back: wake senders waiting for room. */
static inline void shmring_free_slot(struct shmring_end *e,
                                     struct shmring_slot *slot, uint64_t pos)
{
    atomic_store_explicit(&slot->state,
                          shmring_state(pos + e->n, SHMRING_FREE, 0),
                          memory_order_seq_cst);
    if (atomic_load_explicit(&e->hdr->tx_wake, memory_order_seq_cst) >> 32)
        shmring_wake_slow(e, false);
}

/* ------------------------------------------------------------ the ring */

enum { SHMRING_CORRUPT = -1, SHMRING_GOT, SHMRING_IDLE, SHMRING_HELD };

static int shmring_corrupt(const struct shmring_end *e, const char *index,
                           uint64_t at, uint64_t s)
{
    ipc__fail(IPC_EPROTO,
              "shm: %s: the ring is corrupt: %s is %llu but its slot holds "
              "position %llu (kind %u)",
              shmring_label(e), index, (unsigned long long)at,
              (unsigned long long)(s >> SHMRING_TAG_SHIFT), shmring_kind(s));
    return SHMRING_CORRUPT;
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

/* Sender: claim the slot at the tail. SHMRING_IDLE: the ring is full;
 * SHMRING_HELD: the slot is still held from the previous lap by *holder.
 * check: judge holders (system calls), else only look. */
static int shmring_find_room(struct shmring_end *e, bool check, uint64_t *pos,
                             struct shmring_slot **slotp, uint32_t *holder)
{
    struct shmring_hdr *hdr = e->hdr;
    const int64_t n = (int64_t)e->n;
    uint64_t t = atomic_load_explicit(&hdr->tail, memory_order_acquire);
    int odd = 0;
    for (;;) {
        struct shmring_slot *slot = shmring_slot_at(e, t);
        uint64_t s = atomic_load_explicit(&slot->state, memory_order_acquire);
        int64_t d = shmring_dist(s, t);
        unsigned kind = shmring_kind(s);
        if (d == 0 && kind == SHMRING_FREE) {
            uint64_t mine = shmring_state(t, SHMRING_WRITING, e->owner);
            if (atomic_compare_exchange_strong_explicit(&slot->state, &s, mine,
                                                        memory_order_acquire,
                                                        memory_order_relaxed)) {
                uint64_t next = t;
                shmring_advance(&hdr->tail, &next);
                *pos = t;
                *slotp = slot;
                return SHMRING_GOT;
            }
            continue;
        }
        if ((d == 0 && kind != SHMRING_FREE) ||
            (d == n && kind == SHMRING_FREE)) {
            shmring_advance(&hdr->tail, &t); /* t is taken: help, move on */
            odd = 0;
            continue;
        }
        if (d == -n && kind == SHMRING_FULL) {
            uint64_t h = t - e->n;
            /* A skip at the very head: pass it ourselves. */
            if (shmring_owner(s) != 0 &&
                atomic_load_explicit(&hdr->head, memory_order_acquire) == h) {
                if (atomic_compare_exchange_strong(
                        &slot->state, &s, shmring_state(t, SHMRING_FREE, 0)))
                    shmring_advance(&hdr->head, &h);
                continue;
            }
            return SHMRING_IDLE; /* full: waiting for receivers */
        }
        if (d == -n && kind != SHMRING_FREE) {
            if (check && shmring_owner_dead(e, shmring_owner(s))) {
                /* A dead reader of the last lap: the slot is free. A dead
                 * writer of the last lap: its slot becomes a skip. */
                uint64_t next =
                    kind == SHMRING_READING
                        ? shmring_state(t, SHMRING_FREE, 0)
                        : shmring_state(t - e->n, SHMRING_FULL, SHMRING_SKIP);
                if (atomic_compare_exchange_strong(&slot->state, &s, next) &&
                    kind == SHMRING_WRITING && atomic_load(&hdr->rx_wake) >> 32)
                    shmring_wake_slow(e, true);
                continue;
            }
            *holder = shmring_owner(s);
            return SHMRING_HELD;
        }
        /* Out of place: a stale tail, or garbage. */
        uint64_t again = atomic_load_explicit(&hdr->tail, memory_order_acquire);
        if (again != t) {
            t = again;
            odd = 0;
            continue;
        }
        if (++odd < 3)
            continue;
        return shmring_corrupt(e, "tail", t, s);
    }
}

/* Receiver: find the message at the head, FULL(*pos) seen as *seen.
 * SHMRING_IDLE: none; SHMRING_HELD: one is being written by *holder. */
static int shmring_find_msg(struct shmring_end *e, bool check, uint64_t *pos,
                            struct shmring_slot **slotp, uint64_t *seen,
                            uint32_t *holder)
{
    struct shmring_hdr *hdr = e->hdr;
    const int64_t n = (int64_t)e->n;
    uint64_t h = atomic_load_explicit(&hdr->head, memory_order_acquire);
    int odd = 0;
    for (;;) {
        struct shmring_slot *slot = shmring_slot_at(e, h);
        uint64_t s = atomic_load_explicit(&slot->state, memory_order_acquire);
        int64_t d = shmring_dist(s, h);
        unsigned kind = shmring_kind(s);
        if (d == 0 && kind == SHMRING_FULL && shmring_owner(s) == 0) {
            *pos = h;
            *slotp = slot;
            *seen = s;
            return SHMRING_GOT;
        }
        if (d == 0 && kind == SHMRING_FULL) {
            /* A skip: pass it, deliver nothing. */
            if (atomic_compare_exchange_strong(
                    &slot->state, &s,
                    shmring_state(h + e->n, SHMRING_FREE, 0)) &&
                atomic_load(&hdr->tx_wake) >> 32)
                shmring_wake_slow(e, false);
            continue;
        }
        /* Taken by another receiver, or already one lap on (consumed by a
         * receiver that has not moved head yet, and maybe written again):
         * h is done, move on. */
        if ((d == 0 && kind == SHMRING_READING) ||
            (d == n && kind != SHMRING_READING)) {
            shmring_advance(&hdr->head, &h);
            odd = 0;
            continue;
        }
        if (d == 0 && kind == SHMRING_WRITING) {
            if (check && shmring_owner_dead(e, shmring_owner(s))) {
                /* The writer died: its slot becomes a skip, never
                 * delivered. */
                atomic_compare_exchange_strong(
                    &slot->state, &s,
                    shmring_state(h, SHMRING_FULL, SHMRING_SKIP));
                continue;
            }
            *holder = shmring_owner(s);
            return SHMRING_HELD;
        }
        if ((d == 0 && kind == SHMRING_FREE) ||
            (d == -n && kind == SHMRING_READING))
            return SHMRING_IDLE;
        uint64_t again = atomic_load_explicit(&hdr->head, memory_order_acquire);
        if (again != h) {
            h = again;
            odd = 0;
            continue;
        }
        if (++odd < 3)
            continue;
        return shmring_corrupt(e, "head", h, s);
    }
}

/* ------------------------------------------------------------ waiting */

struct shmring_wait {
    int64_t spin_until; /* 0: not spinning yet */
    unsigned looks;     /* looks that found no progress */
    long slice_ns;
    uint32_t seq; /* named: the event count when we announced ourselves */
    bool armed;   /* announced: the next step sleeps */
    bool check;   /* judge holders at the next look */
    bool polled;  /* timeout 0: bell armed and looked again */
    bool closing; /* the peer looked gone: one last look, then closed */
};

static ipc_err shmring_blocked(const struct shmring_end *e, bool rx,
                               const struct ipc_deadline *dl)
{
    return ipc__fail(dl->nonblock ? IPC_EAGAIN : IPC_ETIMEDOUT, "shm: %s: %s",
                     shmring_label(e),
                     rx ? "no message is ready" : "the ring is full");
}

/* Announce a sleeper (named) or arm the bell (pair). A pair sender that
 * waits for receivers in general fills its socket so that poll() on it
 * waits too; one that waits for one slow holder does not (it naps). */
static void shmring_arm(struct shmring_end *e, bool rx, bool fill,
                        struct shmring_wait *w)
{
    _Atomic uint64_t *wake = shmring_wake_word(e->hdr, rx);
    if (e->named) {
        /* Announce; the add also tells the epoch: a wake-up after it
         * moves the epoch, and the futex wait returns at once. */
        w->seq = (uint32_t)atomic_fetch_add(wake, SHMRING_SLEEPER);
        return;
    }
    if (rx) {
        if (!shmring_drain(e->fd))
            e->peer_gone = true;
    } else if (fill && !shmring_fill(e->fd)) {
        e->peer_gone = true;
    }
    atomic_store(wake, SHMRING_SLEEPER);
}

static void shmring_disarm(struct shmring_end *e, bool rx,
                           const struct shmring_wait *w)
{
    /* A pair's bell stays armed: another process may sleep on it, and one
     * spare byte costs less than a lost wake-up. A named sleeper takes
     * itself off while its epoch lasts; once the epoch moved, a waker took
     * it off already. */
    if (!e->named)
        return;
    _Atomic uint64_t *wake = shmring_wake_word(e->hdr, rx);
    uint64_t v = atomic_load(wake);
    while ((uint32_t)v == w->seq && (v >> 32) != 0 &&
           !atomic_compare_exchange_weak(wake, &v, v - SHMRING_SLEEPER))
        ;
}

static void shmring_timespec(int64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
}

/* Named: sleep while the epoch is still seq, until (monotonic ns). */
static ipc_err shmring_futex_sleep(const struct shmring_end *e, uint32_t *word,
                                   uint32_t seq, int64_t until)
{
    struct timespec at, *atp = NULL;
    if (until != INT64_MAX) {
        shmring_timespec(until, &at);
        atp = &at;
    }
    for (;;) {
        if (shmring_futex(word, FUTEX_WAIT_BITSET, seq, atp) == 0)
            return IPC_OK;
        switch (errno) {
        case EINTR:
            continue;   /* the same absolute deadline */
        case EAGAIN:    /* the word moved: woken before we slept */
        case ETIMEDOUT: /* the caller looks, then judges the deadline */
            return IPC_OK;
        default:
            return ipc__fail(IPC_EPROTO, "shm: %s: futex wait: %s",
                             shmring_label(e), strerror(errno));
        }
    }
}

/* Pair: wait on our socket until (monotonic ns). */
static ipc_err shmring_fd_sleep(struct shmring_end *e, short events,
                                int64_t until)
{
    struct pollfd pfd = {.fd = e->fd, .events = events};
    struct timespec ts, *tsp = NULL;
    if (until != INT64_MAX) {
        int64_t left = until - ipc__now_ns();
        shmring_timespec(left > 0 ? left : 0, &ts);
        tsp = &ts;
    }
    int n = ppoll(&pfd, 1, tsp, NULL);
    if (n < 0 && errno != EINTR)
        return ipc__errno(errno, "shm: ppoll");
    if (n > 0 && (pfd.revents & (POLLHUP | POLLERR)))
        e->peer_gone = true; /* no copy of the peer's socket is left */
    return IPC_OK;
}

static ipc_err shmring_sleep(struct shmring_end *e, bool rx, bool held,
                             struct shmring_wait *w,
                             const struct ipc_deadline *dl)
{
    struct shmring_hdr *hdr = e->hdr;
    int64_t until = dl->at_ns;
    /* A named sender sweeps for dead receivers now and then (once a
     * receiver was seen, or the ring is unlinked): if none is left, nobody
     * will ever make room. */
    bool sweep = !rx && e->named &&
                 (atomic_load(&hdr->unlinked) || atomic_load(&hdr->rx_seen));
    if (held || sweep) {
        if (w->slice_ns == 0)
            w->slice_ns = SHMRING_SLICE_MIN_NS;
        int64_t end = ipc__now_ns() + w->slice_ns;
        if (end < until)
            until = end;
        w->slice_ns = w->slice_ns >= SHMRING_SLICE_MAX_NS / 2
                          ? SHMRING_SLICE_MAX_NS
                          : w->slice_ns * 2;
    }
    ipc_err err;
    if (e->named) {
        err = shmring_futex_sleep(e, shmring_epoch(shmring_wake_word(hdr, rx)),
                                  w->seq, until);
        shmring_disarm(e, rx, w);
        if (err == IPC_OK && sweep)
            shmring_sweep(hdr);
    } else if ((!rx && held) || (held && e->peer_gone)) {
        /* Behind one holder, a pair sender naps (its poll descriptor
         * waits for receivers in general); so does anyone whose socket
         * polls ready for good (the peer gone). */
        struct timespec ts;
        int64_t left =
            until == INT64_MAX ? SHMRING_SLICE_MAX_NS : until - ipc__now_ns();
        shmring_timespec(left > 0 ? left : 0, &ts);
        nanosleep(&ts, NULL); /* EINTR: look again anyway */
        err = IPC_OK;
    } else {
        err = shmring_fd_sleep(e, rx ? POLLIN : POLLOUT, until);
    }
    w->armed = false;
    w->check = true;
    /* Even at the deadline, look once more before answering: a sleeper
     * that was woken must not drop the wake-up. */
    (void)dl;
    return err;
}

/* One step of waiting after a look found no progress: spin, then arm and
 * look again, then sleep. IPC_OK: look again. */
static ipc_err shmring_wait_step(struct shmring_end *e, bool rx, bool held,
                                 struct shmring_wait *w,
                                 const struct ipc_deadline *dl)
{
    if (dl->nonblock) {
        if (w->polled)
            return shmring_blocked(e, rx, dl);
        /* Arm the bell so that poll() on the descriptor wakes when
         * progress is possible, then look once more, holders judged. */
        if (!e->named)
            shmring_arm(e, rx, true, w);
        w->polled = w->check = true;
        return IPC_OK;
    }
    if (w->armed)
        return shmring_sleep(e, rx, held, w, dl);
    /* The clock only every SHMRING_SPIN_LOOKS looks: a clock read is 20-40
     * ns, a pause 10-150 cycles (47 ns on the EPYC hosts here). The first
     * SHMRING_SPIN_LOOKS looks read no clock at all (a few us: far below
     * any deadline, which is 1 ms or more, or 0).
     *   Between looks, one pause: a waiter that answers a message (a
     * request, a reply) sees it as soon as it lands. The first design's 16
     * pauses and a clock read per look noticed a message up to 0.8 us late
     * and made the round trip 3x the raw ring's. But each look pulls the
     * slot's line over, and a sender whose claim (a CAS) and publication
     * meet a look in between pays for the line twice: a receiver that is
     * draining a stream (its last message was there at once) and caught up
     * with the sender looks every 16 pauses, which lets a batch build up
     * (ipc-bench, 64 B, against the raw ring: one-way 0.63-0.68 with 1
     * pause always, 0.72-0.80 with this; round trip 0.55-0.58 either way,
     * 0.34 with 16 pauses always). */
    if (++w->looks % SHMRING_SPIN_LOOKS != 0) {
        int pauses = rx && e->rx_streaming ? SHMRING_GENTLE_PAUSES : 1;
        for (int i = 0; i < pauses; i++)
            shmring_relax();
        return IPC_OK;
    }
    int64_t now = ipc__now_ns();
    if (w->spin_until == 0) {
        w->spin_until = now + (held ? SHMRING_HOLDER_SPIN_NS : SHMRING_SPIN_NS);
        if (w->spin_until > dl->at_ns)
            w->spin_until = dl->at_ns;
    }
    if (now < w->spin_until) {
        shmring_relax();
        return IPC_OK;
    }
    if (ipc__deadline_expired(dl))
        return shmring_blocked(e, rx, dl);
    shmring_arm(e, rx, !held, w);
    w->armed = w->check = true;
    return IPC_OK;
}

static ipc_err shmring_usable(const struct shmring_end *e)
{
    if (e->peer_idx >= 0)
        return IPC_OK;
    return ipc__fail(IPC_ELIMIT,
                     "shm: %s: this process has no entry in the ring's table "
                     "of %u processes (all in use)",
                     shmring_label(e), SHMRING_PEERS);
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

static bool shmring_senders_gone(const ipc_channel *ch, struct shmring_end *e)
{
    struct shmring_hdr *hdr = e->hdr;
    if (!(ch->caps & IPC_CAP_PEER_CLOSED))
        return false;
    return e->peer_gone ||
           (atomic_load_explicit(&hdr->n_tx, memory_order_acquire) == 0 &&
            atomic_load_explicit(&hdr->unlinked, memory_order_relaxed));
}

/* Reserve a slot to write: WRITING(*pos, me). */
static ipc_err shmring_reserve(struct shmring_end *e, uint64_t *pos,
                               struct shmring_slot **slot,
                               const struct ipc_deadline *dl)
{
    struct shmring_wait w = {0};
    ipc_err err = shmring_usable(e);
    if (err != IPC_OK)
        return err;
    for (;;) {
        if (shmring_receivers_gone(e)) {
            err = ipc__fail(IPC_ECLOSED, "shm: %s: no receiver is left",
                            shmring_label(e));
            break;
        }
        uint32_t holder = 0;
        int r = shmring_find_room(e, w.check, pos, slot, &holder);
        w.check = false;
        if (r == SHMRING_GOT)
            break;
        if (r == SHMRING_CORRUPT) {
            err = IPC_EPROTO;
            break;
        }
        if ((err = shmring_wait_step(e, false, r == SHMRING_HELD, &w, dl)) !=
            IPC_OK)
            break;
    }
    if (w.armed)
        shmring_disarm(e, false, &w);
    return err;
}

/* A claimed slot holds a length above max_msg, or one that changed under
 * us (a hostile peer): drop the message. */
static ipc_err shmring_claim_bad(struct shmring_end *e,
                                 struct shmring_slot *slot, uint64_t pos)
{
    uint32_t again = atomic_load_explicit(&slot->len, memory_order_relaxed);
    shmring_free_slot(e, slot, pos);
    return ipc__fail(IPC_EPROTO,
                     "shm: %s: a slot claims %u bytes (max_msg %zu); the "
                     "message was dropped",
                     shmring_label(e), (unsigned)again, e->max_msg);
}

/* Take the message FULL(pos) seen as s: copy it into buf, or keep it as a
 * view. *lost: another receiver took it first (look again). */
static ipc_err shmring_claim(struct shmring_end *e, struct shmring_slot *slot,
                             uint64_t pos, uint64_t s, void *buf, size_t cap,
                             size_t *len, struct shmring_held *view, bool *lost)
{
    uint32_t size = atomic_load_explicit(&slot->len, memory_order_relaxed);
    *lost = false;
    if (size <= e->max_msg && !view && size > cap) {
        *len = size;
        return ipc__fail(IPC_EMSGSIZE,
                         "shm: message of %u bytes, buffer of %zu; it stays "
                         "queued",
                         (unsigned)size, cap);
    }
    uint64_t mine = shmring_state(pos, SHMRING_READING, e->owner);
    if (!atomic_compare_exchange_strong_explicit(&slot->state, &s, mine,
                                                 memory_order_acquire,
                                                 memory_order_relaxed)) {
        *lost = true;
        return IPC_OK;
    }
    uint64_t next = pos;
    shmring_advance(&e->hdr->head, &next);
    /* Read once more now that the slot is ours: a writer had finished, so
     * only a hostile peer changes it. */
    uint32_t again = atomic_load_explicit(&slot->len, memory_order_relaxed);
    if (size > e->max_msg || again != size || (!view && size > cap))
        return shmring_claim_bad(e, slot, pos);
    *len = size;
    if (view) {
        view->pos = pos;
        view->slot = slot;
        view->len = size;
        return IPC_OK;
    }
    if (size)
        memcpy(buf, shmring_payload(slot), size);
    shmring_free_slot(e, slot, pos);
    return IPC_OK;
}

static ipc_err shmring_take(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                            struct shmring_held *view,
                            const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    struct shmring_wait w = {0};
    ipc_err err = shmring_usable(e);
    if (err != IPC_OK)
        return err;
    for (;;) {
        uint64_t pos = 0, seen = 0;
        uint32_t holder = 0;
        struct shmring_slot *slot = NULL;
        int r = shmring_find_msg(e, w.check, &pos, &slot, &seen, &holder);
        w.check = false;
        if (r == SHMRING_GOT) {
            bool lost;
            err = shmring_claim(e, slot, pos, seen, buf, cap, len, view, &lost);
            if (!lost) {
                e->rx_streaming = w.looks == 0;
                break;
            }
            continue;
        }
        if (r == SHMRING_CORRUPT) {
            err = IPC_EPROTO;
            break;
        }
        if (r == SHMRING_IDLE && shmring_senders_gone(ch, e)) {
            /* One more look: the last sender may have published just
             * before it left (its count went down after, with release). */
            if (w.closing) {
                err = ipc__fail(IPC_ECLOSED, "shm: %s: every sender is gone",
                                shmring_label(e));
                break;
            }
            w.closing = true;
            continue;
        }
        if ((err = shmring_wait_step(e, true, r == SHMRING_HELD, &w, dl)) !=
            IPC_OK)
            break;
    }
    if (w.armed)
        shmring_disarm(e, true, &w);
    return err;
}

/* ------------------------------------------------------------ messages */

/*
 * The fast paths: the common case of send and receive, inline, with the same
 * claims as the general paths (shmring_reserve, shmring_take), which run
 * whenever anything is unusual. A sender tries the claim FREE(tail) ->
 * WRITING(tail, me) at once: a CAS, not a load and then a CAS, so that the
 * slot's line comes over once, for writing; a receiver claims FULL(head)
 * that it saw, message and length checked first. The head and tail hints
 * move after the message is published or the slot freed, so that the slot's
 * line is held for the shortest time (the other side polls it); nothing
 * needs a hint to have moved first (see shmring_find_room/_find_msg: a
 * party finding the slot at a stale hint taken moves the hint itself).
 */

/* Copy a message in or out of a slot. Up to 64 bytes inline, in 16-byte
 * pieces (the first and the last may overlap): a call to memcpy, which
 * also goes through the PLT, cost more than the copy, and made the fast
 * paths save registers. */
static inline void shmring_copy(void *dst, const void *src, size_t len)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (len >= 16 && len <= 64) {
        unsigned char a[16], b[16], c[16], z[16];
        memcpy(a, s, 16);
        memcpy(z, s + len - 16, 16);
        if (len > 32) {
            memcpy(b, s + 16, 16);
            memcpy(c, s + len - 32, 16);
            memcpy(d + 16, b, 16);
            memcpy(d + len - 32, c, 16);
        }
        memcpy(d, a, 16);
        memcpy(d + len - 16, z, 16);
    } else if (len) {
        memcpy(d, s, len);
    }
}

static ipc_err shmring_send(ipc_channel *ch, const void *buf, size_t len,
                            unsigned prio, const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    uint64_t pos;
    struct shmring_slot *slot;
    (void)prio;
    if (e->peer_idx >= 0 && !shmring_receivers_gone(e)) {
        pos = atomic_load_explicit(&e->hdr->tail, memory_order_acquire);
        slot = shmring_slot_at(e, pos);
        uint64_t s = shmring_state(pos, SHMRING_FREE, 0);
        if (atomic_compare_exchange_strong_explicit(
                &slot->state, &s, shmring_state(pos, SHMRING_WRITING, e->owner),
                memory_order_acquire, memory_order_relaxed)) {
            atomic_store_explicit(&slot->len, (uint32_t)len,
                                  memory_order_relaxed);
            shmring_copy(shmring_payload(slot), buf, len);
            shmring_publish(e, slot, pos);
            shmring_advance(&e->hdr->tail, &pos);
            return IPC_OK;
        }
    }
    ipc_err err = shmring_reserve(e, &pos, &slot, dl);
    if (err != IPC_OK)
        return err;
    atomic_store_explicit(&slot->len, (uint32_t)len, memory_order_relaxed);
    shmring_copy(shmring_payload(slot), buf, len);
    shmring_publish(e, slot, pos);
    return IPC_OK;
}

static ipc_err shmring_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                            unsigned *prio, const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    *prio = 0;
    if (e->peer_idx >= 0) {
        uint64_t pos =
            atomic_load_explicit(&e->hdr->head, memory_order_acquire);
        struct shmring_slot *slot = shmring_slot_at(e, pos);
        uint64_t s = atomic_load_explicit(&slot->state, memory_order_acquire);
        uint32_t size = atomic_load_explicit(&slot->len, memory_order_relaxed);
        /* Anything else (no message, a skip, a length to refuse, garbage)
         * takes the general path, which reports it. */
        if (s == shmring_state(pos, SHMRING_FULL, 0) && size <= e->max_msg &&
            size <= cap &&
            atomic_compare_exchange_strong_explicit(
                &slot->state, &s, shmring_state(pos, SHMRING_READING, e->owner),
                memory_order_acquire, memory_order_relaxed)) {
            /* The slot is ours: only a hostile peer changes the length
             * now; what we copy is bounded by the checked `size`. */
            if (atomic_load_explicit(&slot->len, memory_order_relaxed) != size)
                return shmring_claim_bad(e, slot, pos);
            shmring_copy(buf, shmring_payload(slot), size);
            *len = size;
            shmring_free_slot(e, slot, pos);
            shmring_advance(&e->hdr->head, &pos);
            e->rx_streaming = true;
            return IPC_OK;
        }
    }
    return shmring_take(ch, buf, cap, len, NULL, dl);
}

/* ------------------------------------------------------------ zero copy */

static int shmring_find_held(const struct shmring_held *held, unsigned n,
                             const void *buf)
{
    for (unsigned i = 0; i < n; i++)
        if ((const void *)shmring_payload(held[i].slot) == buf)
            return (int)i;
    return -1;
}

/* A slot this end holds already, handed out again: only a peer rewriting
 * the ring's states does that. The slot stays with the first holder (a
 * second entry would make commit and release by buffer ambiguous). */
static bool shmring_held_twice(const struct shmring_end *e,
                               const struct shmring_held *held, unsigned n,
                               struct shmring_slot *slot)
{
    if (shmring_find_held(held, n, shmring_payload(slot)) < 0)
        return false;
    ipc__fail(IPC_EPROTO,
              "shm: %s: the ring is corrupt: a slot this end holds was "
              "handed out again",
              shmring_label(e));
    return true;
}

static ipc_err shmring_loan(ipc_channel *ch, size_t len, void **buf,
                            const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    /* Never more loans than slots: a thread holding every slot of the ring
     * would wait forever for room it holds itself. */
    unsigned limit =
        e->n < SHMRING_HELD_MAX ? (unsigned)e->n : SHMRING_HELD_MAX;
    if (e->n_loans >= limit)
        return ipc__fail(IPC_ELIMIT,
                         "shm: %s: %u loans are outstanding on this end, the "
                         "most it may hold; commit or release one",
                         shmring_label(e), e->n_loans);
    struct shmring_held *h = &e->loans[e->n_loans];
    ipc_err err = shmring_reserve(e, &h->pos, &h->slot, dl);
    if (err != IPC_OK)
        return err;
    if (shmring_held_twice(e, e->loans, e->n_loans, h->slot))
        return IPC_EPROTO;
    h->len = len;
    e->n_loans++;
    *buf = shmring_payload(h->slot);
    return IPC_OK;
}

static void shmring_forget(struct shmring_held *held, unsigned *n, int i)
{
    held[i] = held[*n - 1];
    (*n)--;
}

/* Give up a loan: its slot becomes a skip. */
static void shmring_abandon(struct shmring_end *e, const struct shmring_held *h)
{
    uint64_t mine = shmring_state(h->pos, SHMRING_WRITING, e->owner);
    if (atomic_compare_exchange_strong(
            &h->slot->state, &mine,
            shmring_state(h->pos, SHMRING_FULL, SHMRING_SKIP)) &&
        (atomic_load(&e->hdr->rx_wake) >> 32))
        shmring_wake_slow(e, true); /* a receiver may wait on that slot */
}

static ipc_err shmring_commit(ipc_channel *ch, void *buf, size_t len,
                              unsigned prio)
{
    struct shmring_end *e = shmring_priv(ch);
    (void)prio;
    int i = shmring_find_held(e->loans, e->n_loans, buf);
    if (i < 0)
        return ipc__fail(IPC_EINVAL,
                         "shm: %s: %p is not an outstanding loan of this end "
                         "(committed or released already?)",
                         shmring_label(e), buf);
    struct shmring_held h = e->loans[i];
    if (len > h.len)
        return ipc__fail(IPC_EINVAL,
                         "shm: commit of %zu bytes, the loan was for %zu; the "
                         "loan is still yours",
                         len, h.len);
    shmring_forget(e->loans, &e->n_loans, i);
    if (shmring_receivers_gone(e)) {
        shmring_abandon(e, &h);
        return ipc__fail(IPC_ECLOSED,
                         "shm: %s: no receiver is left; the loan is released",
                         shmring_label(e));
    }
    atomic_store_explicit(&h.slot->len, (uint32_t)len, memory_order_relaxed);
    shmring_publish(e, h.slot, h.pos);
    return IPC_OK;
}

static ipc_err shmring_view(ipc_channel *ch, const void **buf, size_t *len,
                            unsigned *prio, const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    *prio = 0;
    if (e->n_views >= SHMRING_HELD_MAX)
        return ipc__fail(IPC_ELIMIT,
                         "shm: %s: %u views are outstanding on this end, the "
                         "most it may hold; release one",
                         shmring_label(e), e->n_views);
    struct shmring_held *h = &e->views[e->n_views];
    ipc_err err = shmring_take(ch, NULL, 0, len, h, dl);
    if (err != IPC_OK)
        return err;
    if (shmring_held_twice(e, e->views, e->n_views, h->slot))
        return IPC_EPROTO;
    e->n_views++;
    *buf = shmring_payload(h->slot);
    return IPC_OK;
}

static ipc_err shmring_release(ipc_channel *ch, const void *buf)
{
    struct shmring_end *e = shmring_priv(ch);
    int i = shmring_find_held(e->views, e->n_views, buf);
    if (i >= 0) {
        struct shmring_held h = e->views[i];
        shmring_forget(e->views, &e->n_views, i);
        shmring_free_slot(e, h.slot, h.pos);
        return IPC_OK;
    }
    i = shmring_find_held(e->loans, e->n_loans, buf);
    if (i >= 0) {
        struct shmring_held h = e->loans[i];
        shmring_forget(e->loans, &e->n_loans, i);
        shmring_abandon(e, &h);
        return IPC_OK;
    }
    return ipc__fail(IPC_EINVAL,
                     "shm: %s: %p is not an outstanding view or loan of this "
                     "end (released twice?)",
                     shmring_label(e), buf);
}

/* ------------------------------------------------------------ lifecycle */

static void shmring_end_init(struct shmring_end *e, bool named, unsigned role)
{
    e->inited = true;
    e->named = named;
    e->role = role;
    e->fd = -1;
    e->peer_fd = -1;
    e->peer_idx = -1;
    e->fork_idx = -1;
}

static void shmring_use_map(struct shmring_end *e, void *base,
                            const struct shmring_geom *g)
{
    e->hdr = base;
    e->slots = (unsigned char *)base + SHMRING_HDR_SIZE;
    e->map_size = (size_t)g->map_size;
    e->slot_size = (size_t)g->slot_size;
    e->n = g->n;
    e->n_mask = (g->n & (g->n - 1)) == 0 ? g->n - 1 : 0;
    e->max_msg = (size_t)g->max_msg;
}

static void shmring_prefix_fill(struct shmring_prefix *pre, bool named)
{
    memset(pre, 0, sizeof *pre);
    pre->magic = SHMRING_MAGIC;
    pre->version = SHMRING_VERSION;
    pre->creator_pid = shmring_me.pid;
    pre->flags = named ? SHMRING_F_NAMED : 0;
    pre->creator_start = shmring_me.start;
    pre->creator_pidns = shmring_me.pidns;
}

/* Everything but the prefix and ready. */
static void shmring_format(struct shmring_hdr *hdr,
                           const struct shmring_geom *g, bool named)
{
    hdr->hdr_size = SHMRING_HDR_SIZE;
    hdr->slot_size = g->slot_size;
    hdr->slot_count = g->n;
    hdr->max_msg = g->max_msg;
    hdr->map_size = g->map_size;
    atomic_store(&hdr->tail, 0);
    atomic_store(&hdr->head, 0);
    /* A pair's receive bell starts armed: the first message rings it, so
     * that poll() works before the first receive. */
    atomic_store(&hdr->rx_wake, named ? 0 : SHMRING_SLEEPER);
    atomic_store(&hdr->tx_wake, 0);
    atomic_store(&hdr->n_tx, 0);
    atomic_store(&hdr->n_rx, 0);
    atomic_store(&hdr->unlinked, named ? 0 : 1);
    atomic_store(&hdr->rx_seen, 0);
    memset(hdr->peers, 0, sizeof hdr->peers);
    unsigned char *slots = (unsigned char *)hdr + SHMRING_HDR_SIZE;
    for (uint64_t i = 0; i < g->n; i++) {
        struct shmring_slot *slot =
            (struct shmring_slot *)(slots + (size_t)(i * g->slot_size));
        atomic_store_explicit(&slot->state, shmring_state(i, SHMRING_FREE, 0),
                              memory_order_relaxed);
        atomic_store_explicit(&slot->len, 0, memory_order_relaxed);
    }
}

static ipc_err shmring_check_name(const struct ipc_addr *addr)
{
    const char *p = addr->path;
    if (p[0] != '/' || addr->path_len < 2)
        return ipc__fail(IPC_EINVAL,
                         "shm: a name is \"/\" and 1 to 255 bytes: "
                         "\"shm:/frames\", not \"shm:%s\"",
                         p);
    if (strchr(p + 1, '/'))
        return ipc__fail(IPC_EINVAL, "shm: %s: no '/' after the first", p);
    if (strcmp(p, "/.") == 0 || strcmp(p, "/..") == 0)
        return ipc__fail(IPC_EINVAL, "shm: \"%s\" is not a name", p);
    return IPC_OK;
}

/* The slots of a ring: as asked, or the default for its max_msg. */
static uint64_t shmring_capacity(const struct ipc_addr *addr, size_t asked,
                                 size_t max_msg)
{
    struct shmring_geom g;
    if (addr->keys_set & IPC_KEYBIT(IPC_KEY_CAPACITY))
        return asked;
    shmring_geom(1, max_msg, &g);
    uint64_t n = SHMRING_DEFAULT_BYTES / g.slot_size;
    return n < 2                          ? 2
           : n > SHMRING_CAPACITY_DEFAULT ? SHMRING_CAPACITY_DEFAULT
                                          : n;
}

/* A number from a small text file (the first one in it); false if none. */
static bool shmring_read_number(const char *path, const char *key,
                                uint64_t *out)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *p = key ? strstr(buf, key) : buf;
    if (!p)
        return false;
    p += key ? strlen(key) : 0;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return false; /* "max": no limit */
    *out = strtoull(p, NULL, 10);
    return true;
}

/* The tightest memory limit of our cgroup (v2) and its ancestors: *max
 * and *current of that level. false when none is set or known. */
static bool shmring_cgroup_memory(uint64_t *max, uint64_t *current)
{
    char cg[1024], path[1200];
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, cg, sizeof cg - 1);
    close(fd);
    if (n <= 0)
        return false;
    cg[n] = '\0';
    char *p = strstr(cg, "0::/"); /* the v2 hierarchy */
    if (!p)
        return false;
    p += 3;
    p[strcspn(p, "\n")] = '\0';
    bool found = false;
    uint64_t best = UINT64_MAX;
    for (;;) {
        uint64_t m, c;
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", p);
        if (shmring_read_number(path, NULL, &m)) {
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", p);
            if (!shmring_read_number(path, NULL, &c))
                c = 0;
            uint64_t room = m > c ? m - c : 0;
            if (room < best) {
                best = room;
                *max = m;
                *current = c;
                found = true;
            }
        }
        char *slash = strrchr(p, '/');
        if (!slash || slash == p)
            break;
        *slash = '\0';
    }
    return found;
}

/* A ring's pages are all taken at creation (so that no access can fault
 * later), and shared memory is not given back by killing a process: a ring
 * larger than the machine can spare would send the OOM killer after
 * innocent processes. Refuse any ring of more than half the memory
 * available (MemAvailable), or half the room left in our memory cgroup. */
static ipc_err shmring_check_memory(const char *label, uint64_t size)
{
    uint64_t avail_kb = 0, max = 0, current = 0;
    if (shmring_read_number("/proc/meminfo", "MemAvailable:", &avail_kb) &&
        size > avail_kb * 1024 / 2)
        return ipc__fail(IPC_ELIMIT,
                         "shm: %s: a ring of %llu bytes is over the limit of "
                         "half the memory available (MemAvailable %llu bytes "
                         "in /proc/meminfo)",
                         label, (unsigned long long)size,
                         (unsigned long long)avail_kb * 1024);
    if (shmring_cgroup_memory(&max, &current) &&
        size > (max > current ? max - current : 0) / 2)
        return ipc__fail(IPC_ELIMIT,
                         "shm: %s: a ring of %llu bytes is over the limit of "
                         "half the room in our memory cgroup (memory.max %llu, "
                         "memory.current %llu)",
                         label, (unsigned long long)size,
                         (unsigned long long)max, (unsigned long long)current);
    return IPC_OK;
}

/* A named ring must fit in /dev/shm, and in memory. */
static ipc_err shmring_check_room(const struct shmring_end *e, uint64_t size)
{
    struct statvfs sv;
    if (statvfs("/dev/shm", &sv) == 0 &&
        (uint64_t)sv.f_bavail * sv.f_frsize < size)
        return ipc__fail(IPC_ELIMIT,
                         "shm: %s: a ring of %llu bytes does not fit in "
                         "/dev/shm (%llu bytes free under its size limit)",
                         e->name, (unsigned long long)size,
                         (unsigned long long)sv.f_bavail * sv.f_frsize);
    return shmring_check_memory(e->name, size);
}

static ipc_err shmring_no_room(const struct shmring_end *e, uint64_t size,
                               int rc)
{
    struct statvfs sv;
    unsigned long long avail = 0;
    if (statvfs("/dev/shm", &sv) == 0)
        avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    if (rc == ENOSPC || rc == EFBIG || rc == ENOMEM || rc == EDQUOT)
        return ipc__fail(IPC_ELIMIT,
                         "shm: %s: /dev/shm cannot hold the %llu bytes of the "
                         "ring (%s; %llu bytes free; a tmpfs size limit%s)",
                         e->name, (unsigned long long)size, strerror(rc), avail,
                         rc == EFBIG ? ", or RLIMIT_FSIZE" : "");
    return ipc__errno(rc, "shm: %s: posix_fallocate of %llu bytes in /dev/shm",
                      e->name, (unsigned long long)size);
}

/* Make the named ring: exclusive create, prefix, size, map, format, then
 * ready with release ordering. *taken: the name exists. */
static ipc_err shmring_create(ipc_channel *ch, struct shmring_end *e,
                              const struct shmring_geom *g, mode_t mode,
                              bool *taken)
{
    *taken = false;
    int fd = shm_open(e->name, O_RDWR | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        if (errno == EEXIST) {
            *taken = true;
            return ipc__fail(IPC_EEXIST,
                             "shm: %s exists (IPC_F_REPLACE "
                             "takes over a stale ring)",
                             e->name);
        }
        return ipc__errno(errno, "shm: create %s", e->name);
    }
    e->fd = fd;
    ch->owner = true; /* from here on, our close removes it */
    ipc_err err = shmring_check_room(e, g->map_size);
    if (err != IPC_OK)
        return err;
    /* The umask may have narrowed the mode: set it exactly. */
    if (fchmod(fd, mode) < 0)
        return ipc__errno(errno, "shm: fchmod %s", e->name);
    struct shmring_prefix pre;
    shmring_prefix_fill(&pre, true);
    ssize_t w;
    do
        w = pwrite(fd, &pre, sizeof pre, 0);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof pre)
        return w < 0 ? shmring_no_room(e, g->map_size, errno)
                     : ipc__fail(IPC_EIO, "shm: %s: short write", e->name);
    /* Allocate every page now: a full /dev/shm is an error here, never a
     * SIGBUS on first touch later. */
    int rc;
    do
        rc = posix_fallocate(fd, 0, (off_t)g->map_size);
    while (rc == EINTR);
    if (rc != 0)
        return shmring_no_room(e, g->map_size, rc);
    void *base = mmap(NULL, (size_t)g->map_size, PROT_READ | PROT_WRITE,
                      MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return ipc__errno(errno, "shm: mmap %s (%llu bytes)", e->name,
                          (unsigned long long)g->map_size);
    shmring_use_map(e, base, g);
    shmring_format(e->hdr, g, true);
    atomic_store_explicit(&e->hdr->ready, SHMRING_READY, memory_order_release);
    return IPC_OK;
}

enum { SHMRING_OBJ_RING, SHMRING_OBJ_HALF, SHMRING_OBJ_BLANK, SHMRING_OBJ_BAD };

/* What the object is, from its first 64 bytes: a ring, half-made (with a
 * known creator), blank (empty or zeroes: made by someone who has not
 * written it yet, or not ours), or something else (*why says what). */
static int shmring_classify(int fd, struct shmring_prefix *pre, off_t *size,
                            char *why, size_t why_size)
{
    struct stat st;
    memset(pre, 0, sizeof *pre);
    if (fstat(fd, &st) < 0) {
        snprintf(why, why_size, "fstat: %s", strerror(errno));
        return SHMRING_OBJ_BAD;
    }
    *size = st.st_size;
    if (st.st_size < (off_t)SHMRING_PREFIX)
        return SHMRING_OBJ_BLANK;
    ssize_t n;
    do
        n = pread(fd, pre, sizeof *pre, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof *pre || pre->magic == 0)
        return SHMRING_OBJ_BLANK;
    if (pre->magic != SHMRING_MAGIC) {
        snprintf(why, why_size, "not a libipc shm ring (magic 0x%016llx)",
                 (unsigned long long)pre->magic);
        return SHMRING_OBJ_BAD;
    }
    if (pre->version != SHMRING_VERSION) {
        snprintf(why, why_size,
                 "ring layout version %u; this library speaks %u", pre->version,
                 SHMRING_VERSION);
        return SHMRING_OBJ_BAD;
    }
    return pre->ready == SHMRING_READY ? SHMRING_OBJ_RING : SHMRING_OBJ_HALF;
}

static bool shmring_creator_dead(const struct shmring_prefix *pre)
{
    return shmring_pid_dead(pre->creator_pid, pre->creator_start,
                            pre->creator_pidns);
}

/* Read-only: does a live process use this ring? *pid names one. */
static bool shmring_in_use(int fd, uint32_t *pid)
{
    /* Read-write although we only read: an atomic load may need it. */
    void *base =
        mmap(NULL, SHMRING_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return true; /* cannot tell: never replace */
    const struct shmring_hdr *hdr = base;
    bool used = false;
    for (unsigned i = 0; i < SHMRING_PEERS && !used; i++) {
        const struct shmring_peer *p = &hdr->peers[i];
        uint64_t w = atomic_load((_Atomic uint64_t *)&p->word);
        if (shmring_peer_state(w) == SHMRING_PEER_FREE ||
            shmring_peer_dead(p, w))
            continue;
        used = true;
        *pid = shmring_peer_pid(w);
    }
    munmap(base, SHMRING_HDR_SIZE);
    return used;
}

/* IPC_F_REPLACE: remove the object at the name if it is a stale ring (no
 * live process attached, or half-made by a creator that died). Never a live
 * ring, never an object that is not a ring. */
static ipc_err shmring_clear_stale(const char *name)
{
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0)
        return errno == ENOENT ? IPC_OK
                               : ipc__errno(errno, "shm: open %s", name);
    struct shmring_prefix pre;
    off_t size = 0;
    char why[128] = "";
    uint32_t pid = 0;
    ipc_err err = IPC_OK;
    switch (shmring_classify(fd, &pre, &size, why, sizeof why)) {
    case SHMRING_OBJ_BLANK:
        snprintf(why, sizeof why, "empty or blank (%lld bytes)",
                 (long long)size);
        /* fall through */
    case SHMRING_OBJ_BAD:
        err = ipc__fail(IPC_EEXIST, "shm: %s exists and is %s; not removed",
                        name, why);
        break;
    case SHMRING_OBJ_HALF:
        if (!shmring_creator_dead(&pre))
            err = ipc__fail(IPC_EEXIST, "shm: %s is being made by process %u",
                            name, pre.creator_pid);
        break;
    default:
        if (size < (off_t)SHMRING_HDR_SIZE)
            err = ipc__fail(IPC_EEXIST,
                            "shm: %s is too small for a ring; "
                            "not removed",
                            name);
        else if (shmring_in_use(fd, &pid))
            err = ipc__fail(IPC_EEXIST, "shm: %s is in use by process %u", name,
                            pid);
        break;
    }
    close(fd);
    if (err != IPC_OK)
        return err;
    if (shm_unlink(name) < 0 && errno != ENOENT)
        return ipc__errno(errno, "shm: unlink stale %s", name);
    return IPC_OK;
}

/* Wait until the ring at e->fd is ready, then check its geometry and map
 * it. Everything read here is the peer's: checked before use. */
static ipc_err shmring_attach(ipc_channel *ch, struct shmring_end *e,
                              const struct ipc_addr *addr,
                              const struct ipc_deadline *dl)
{
    struct shmring_prefix pre;
    off_t size = 0;
    char why[128] = "";
    long nap = 100000;
    for (;;) {
        int kind = shmring_classify(e->fd, &pre, &size, why, sizeof why);
        if (kind == SHMRING_OBJ_RING)
            break;
        if (kind == SHMRING_OBJ_BAD)
            return ipc__fail(IPC_EPROTO, "shm: %s: %s", e->name, why);
        if (kind == SHMRING_OBJ_HALF && shmring_creator_dead(&pre))
            return ipc__fail(IPC_EPROTO,
                             "shm: %s was half-made by process %u, which "
                             "died; ipc_unlink() or IPC_F_REPLACE removes it",
                             e->name, pre.creator_pid);
        ipc_err err = ipc__nap(dl, &nap);
        if (err != IPC_OK)
            return ipc__fail(err,
                             "shm: %s is not initialised (half-made: "
                             "its creator is slow or died)",
                             e->name);
    }
    if (size < (off_t)SHMRING_HDR_SIZE)
        return ipc__fail(IPC_EPROTO,
                         "shm: %s: %lld bytes, too small for a "
                         "ring",
                         e->name, (long long)size);
    void *base = mmap(NULL, SHMRING_HDR_SIZE, PROT_READ | PROT_WRITE,
                      MAP_SHARED, e->fd, 0);
    if (base == MAP_FAILED)
        return ipc__errno(errno, "shm: mmap %s", e->name);
    struct shmring_hdr *hdr = base;
    /* Acquire: the geometry was written before ready. */
    uint32_t ready = atomic_load_explicit(&hdr->ready, memory_order_acquire);
    struct shmring_geom got = {
        .n = hdr->slot_count,
        .max_msg = hdr->max_msg,
        .slot_size = hdr->slot_size,
        .map_size = hdr->map_size,
    };
    uint64_t hdr_size = hdr->hdr_size;
    munmap(base, SHMRING_HDR_SIZE);

    struct shmring_geom g;
    if (ready != SHMRING_READY || hdr_size != SHMRING_HDR_SIZE || got.n < 1 ||
        got.n > SHMRING_CAPACITY_MAX || got.max_msg < 1 ||
        got.max_msg > SHMRING_MAX_MSG_MAX)
        return ipc__fail(IPC_EPROTO,
                         "shm: %s: bad header (header %llu bytes, %llu slots, "
                         "max_msg %llu)",
                         e->name, (unsigned long long)hdr_size,
                         (unsigned long long)got.n,
                         (unsigned long long)got.max_msg);
    shmring_geom(got.n, got.max_msg, &g);
    if (got.slot_size != g.slot_size || got.map_size != g.map_size ||
        (uint64_t)size < g.map_size)
        return ipc__fail(IPC_EPROTO,
                         "shm: %s: bad header (slot %llu bytes, map %llu, "
                         "file %lld)",
                         e->name, (unsigned long long)got.slot_size,
                         (unsigned long long)got.map_size, (long long)size);
    if ((addr->keys_set & IPC_KEYBIT(IPC_KEY_MAX_MSG)) &&
        addr->val[IPC_KEY_MAX_MSG] != g.max_msg)
        return ipc__fail(IPC_EINVAL,
                         "shm: %s carries messages of up to %llu bytes, the "
                         "address asks max_msg=%llu",
                         e->name, (unsigned long long)g.max_msg,
                         (unsigned long long)addr->val[IPC_KEY_MAX_MSG]);
    if ((addr->keys_set & IPC_KEYBIT(IPC_KEY_CAPACITY)) &&
        addr->val[IPC_KEY_CAPACITY] != g.n)
        return ipc__fail(IPC_EINVAL,
                         "shm: %s has %llu slots, the address asks "
                         "capacity=%llu",
                         e->name, (unsigned long long)g.n,
                         (unsigned long long)addr->val[IPC_KEY_CAPACITY]);
    base = mmap(NULL, (size_t)g.map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                e->fd, 0);
    if (base == MAP_FAILED)
        return ipc__errno(errno, "shm: mmap %s (%llu bytes)", e->name,
                          (unsigned long long)g.map_size);
    shmring_use_map(e, base, &g);
    ch->capacity = (size_t)g.n;
    ch->max_msg = (size_t)g.max_msg;
    return IPC_OK;
}

static ipc_err shmring_open_existing(ipc_channel *ch, struct shmring_end *e,
                                     const struct ipc_addr *addr,
                                     unsigned flags,
                                     const struct ipc_deadline *dl)
{
    int fd = shm_open(e->name, O_RDWR, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return ipc__fail(IPC_ENOENT, "shm: %s: no such ring", e->name);
        return ipc__errno(errno, "shm: open %s", e->name);
    }
    e->fd = fd;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return ipc__errno(errno, "shm: fstat %s", e->name);
    if ((flags & IPC_F_CREATE) && st.st_uid != geteuid())
        return ipc__fail(IPC_EACCES,
                         "shm: %s exists and belongs to uid %u, not to us",
                         e->name, (unsigned)st.st_uid);
    return shmring_attach(ch, e, addr, dl);
}

static ipc_err shmring_open(ipc_channel *ch, const struct ipc_addr *addr,
                            unsigned flags, const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    unsigned role = (flags & IPC_F_SEND) ? SHMRING_ROLE_TX : SHMRING_ROLE_RX;
    shmring_end_init(e, true, role);
    ipc_err err = shmring_check_name(addr);
    if (err != IPC_OK)
        return err;
    memcpy(e->name, addr->path, addr->path_len + 1);
    pthread_once(&shmring_once, shmring_init_process);

    mode_t mode = (mode_t)ipc__addr_get(addr, IPC_KEY_MODE, 0600);
    struct shmring_geom g;
    shmring_geom(shmring_capacity(addr, ch->capacity, ch->max_msg), ch->max_msg,
                 &g);
    ch->capacity = (size_t)g.n; /* an opener gets the ring's own */
    if (!(flags & IPC_F_CREATE)) {
        err = shmring_open_existing(ch, e, addr, flags, dl);
    } else {
        for (int attempt = 0;; attempt++) {
            bool taken;
            err = shmring_create(ch, e, &g, mode, &taken);
            if (!taken)
                break;
            if (flags & IPC_F_EXCL)
                return err;
            if (!(flags & IPC_F_REPLACE)) {
                err = shmring_open_existing(ch, e, addr, flags, dl);
                break;
            }
            if (attempt == 2)
                return ipc__fail(IPC_EEXIST,
                                 "shm: %s keeps being made by "
                                 "someone else",
                                 e->name);
            if ((err = shmring_clear_stale(e->name)) != IPC_OK)
                return err;
        }
    }
    if (err != IPC_OK)
        return err;
    if ((flags & IPC_F_INHERIT) &&
        fcntl(e->fd, F_SETFD, fcntl(e->fd, F_GETFD) & ~FD_CLOEXEC) < 0)
        return ipc__errno(errno, "shm: fcntl F_SETFD");
    if (!shmring_register(e))
        return shmring_usable(e);
    /* Named ends have no doorbell unrelated processes can share; a named
     * receiver never hears "closed": a new sender can always come. */
    ch->caps &= ~(unsigned)IPC_CAP_POLLABLE;
    if (role == SHMRING_ROLE_RX)
        ch->caps &= ~(unsigned)IPC_CAP_PEER_CLOSED;
    ch->buffer_bytes = 0;
    shmring_list_add(e);
    return IPC_OK;
}

/* A pair: one memfd mapped twice (each end owns its mapping), sealed so
 * that its size never changes, and a socketpair for bells and liveness. */
static ipc_err shmring_pair(ipc_channel *tx, ipc_channel *rx,
                            const struct ipc_addr *addr, unsigned flags)
{
    struct shmring_end *te = shmring_priv(tx), *re = shmring_priv(rx);
    shmring_end_init(te, false, SHMRING_ROLE_TX);
    shmring_end_init(re, false, SHMRING_ROLE_RX);
    if (addr->keys_set & IPC_KEYBIT(IPC_KEY_MODE))
        return ipc__fail(IPC_EINVAL, "shm: mode= applies to named rings");
    pthread_once(&shmring_once, shmring_init_process);

    struct shmring_geom g;
    shmring_geom(shmring_capacity(addr, tx->capacity, tx->max_msg), tx->max_msg,
                 &g);
    ipc_err err = shmring_check_memory("pair", g.map_size);
    if (err != IPC_OK)
        return err;
    int mfd = memfd_create("libipc-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return ipc__errno(errno, "shm: memfd_create");
    int rc;
    do
        rc = posix_fallocate(mfd, 0, (off_t)g.map_size);
    while (rc == EINTR);
    if (rc != 0) {
        close(mfd);
        if (rc == ENOSPC || rc == ENOMEM || rc == EFBIG)
            return ipc__fail(IPC_ELIMIT,
                             "shm: no memory for a ring of %llu bytes (%s; a "
                             "memory or RLIMIT_FSIZE limit)",
                             (unsigned long long)g.map_size, strerror(rc));
        return ipc__errno(rc, "shm: posix_fallocate of a pair");
    }
    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    void *m[2];
    for (int i = 0; i < 2; i++)
        m[i] = mmap(NULL, (size_t)g.map_size, PROT_READ | PROT_WRITE,
                    MAP_SHARED, mfd, 0);
    int map_errno = errno;
    close(mfd);
    if (m[0] == MAP_FAILED || m[1] == MAP_FAILED) {
        for (int i = 0; i < 2; i++)
            if (m[i] != MAP_FAILED)
                munmap(m[i], (size_t)g.map_size);
        return ipc__errno(map_errno, "shm: mmap a pair (%llu bytes)",
                          (unsigned long long)g.map_size);
    }
    shmring_use_map(te, m[0], &g);
    shmring_use_map(re, m[1], &g);
    struct shmring_prefix pre;
    shmring_prefix_fill(&pre, false);
    memcpy(te->hdr, &pre, sizeof pre);
    shmring_format(te->hdr, &g, false);
    atomic_store_explicit(&te->hdr->ready, SHMRING_READY, memory_order_release);

    int msg[2], room[2];
    int type = SOCK_SEQPACKET | SOCK_NONBLOCK;
    if (!(flags & IPC_F_INHERIT))
        type |= SOCK_CLOEXEC;
    if (socketpair(AF_UNIX, type, 0, msg) < 0)
        return ipc__errno(errno, "shm: socketpair");
    te->peer_fd = msg[0]; /* a */
    re->fd = msg[1];      /* b */
    if (socketpair(AF_UNIX, type, 0, room) < 0)
        return ipc__errno(errno, "shm: socketpair");
    te->fd = room[0];      /* c */
    re->peer_fd = room[1]; /* d */
    /* The smallest send buffer: a few bytes fill it (see shmring_fill). */
    int small = 1;
    setsockopt(te->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    if (!shmring_register(te) || !shmring_register(re))
        return shmring_usable(te->peer_idx < 0 ? te : re);
    tx->capacity = rx->capacity = (size_t)g.n;
    tx->buffer_bytes = rx->buffer_bytes = 0;
    shmring_list_add(te);
    shmring_list_add(re);
    return IPC_OK;
}

/* Wake whoever sleeps on the other side so that it looks at the ring (and
 * at the counts) again. */
static void shmring_wake_all(struct shmring_end *e, bool rx)
{
    struct shmring_hdr *hdr = e->hdr;
    if (e->named) {
        shmring_epoch_next(shmring_wake_word(hdr, rx), true);
    } else if (rx) {
        send(e->peer_fd, "c", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
        shmring_drain(e->peer_fd);
    }
}

static void shmring_close(ipc_channel *ch)
{
    struct shmring_end *e = shmring_priv(ch);
    if (!e->inited)
        return;
    e->inited = false;
    shmring_list_remove(e);
    if (e->hdr) {
        struct shmring_hdr *hdr = e->hdr;
        while (e->n_loans)
            shmring_release(ch, shmring_payload(e->loans[0].slot));
        while (e->n_views)
            shmring_release(ch, shmring_payload(e->views[0].slot));
        shmring_unregister(e);
        if (e->named && ch->owner)
            atomic_store(&hdr->unlinked, 1);
        if (e->role == SHMRING_ROLE_TX && atomic_load(&hdr->n_tx) == 0)
            shmring_wake_all(e, true);
        if ((e->role == SHMRING_ROLE_RX && atomic_load(&hdr->n_rx) == 0) ||
            (e->named && ch->owner))
            shmring_wake_all(e, false);
        munmap(hdr, e->map_size);
        e->hdr = NULL;
    }
    struct stat st;
    /* The creator removes the name, unless the object was already
     * removed (ipc_unlink, a replacer): then the name may be another's. */
    if (e->named && ch->owner && e->fd >= 0 && fstat(e->fd, &st) == 0 &&
        st.st_nlink > 0)
        shm_unlink(e->name);
    if (e->fd >= 0)
        close(e->fd);
    if (e->peer_fd >= 0)
        close(e->peer_fd);
    e->fd = e->peer_fd = -1;
}

static ipc_err shmring_unlink(const struct ipc_addr *addr)
{
    const char *name = addr->path;
    ipc_err err = shmring_check_name(addr);
    if (err != IPC_OK)
        return err;
    pthread_once(&shmring_once, shmring_init_process);
    int fd = shm_open(name, O_RDWR, 0);
    bool writable = fd >= 0;
    if (fd < 0 && errno == EACCES)
        fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return ipc__fail(IPC_ENOENT, "shm: %s: no such ring", name);
        return ipc__errno(errno, "shm: open %s", name);
    }
    struct shmring_prefix pre;
    off_t size = 0;
    char why[128] = "blank or empty";
    int kind = shmring_classify(fd, &pre, &size, why, sizeof why);
    if (kind == SHMRING_OBJ_BAD || kind == SHMRING_OBJ_BLANK) {
        close(fd);
        return ipc__fail(IPC_EPROTO, "shm: %s is %s; not removed", name, why);
    }
    /* Tell the senders that no receiver can come any more. */
    if (writable && kind == SHMRING_OBJ_RING &&
        size >= (off_t)SHMRING_HDR_SIZE) {
        void *base = mmap(NULL, SHMRING_HDR_SIZE, PROT_READ | PROT_WRITE,
                          MAP_SHARED, fd, 0);
        if (base != MAP_FAILED) {
            struct shmring_hdr *hdr = base;
            atomic_store(&hdr->unlinked, 1);
            shmring_epoch_next(&hdr->tx_wake, true);
            munmap(base, SHMRING_HDR_SIZE);
        }
    }
    close(fd);
    if (shm_unlink(name) < 0)
        return ipc__errno(errno, "shm: unlink %s", name);
    return IPC_OK;
}

static ipc_err shmring_pollfd(const ipc_channel *ch, int *fd)
{
    const struct shmring_end *e = shmring_priv(ch);
    if (e->named)
        return ipc__fail(IPC_ENOTSUP,
                         "shm: %s: a named ring has no poll descriptor "
                         "(unrelated processes share no doorbell); use a "
                         "pair, or timeouts",
                         e->name);
    *fd = e->fd;
    return IPC_OK;
}

/* ------------------------------------------------------------ test hooks
 * White-box tests (tests/backend/test_shm_*.c) and the fuzz target
 * (tests/fuzz/fuzz_shm_ring.c) write hostile and half-made rings with
 * these (shmring_hooks.h); not part of the public API, not exported. */

size_t ipc__shmring_test_offset(const char *field)
{
#define SHMRING_FIELD_(f)                                                      \
    if (strcmp(field, #f) == 0)                                                \
        return offsetof(struct shmring_hdr, f);
    SHMRING_FIELD_(magic)
    SHMRING_FIELD_(version)
    SHMRING_FIELD_(ready)
    SHMRING_FIELD_(creator_pid)
    SHMRING_FIELD_(hdr_size)
    SHMRING_FIELD_(slot_size)
    SHMRING_FIELD_(slot_count)
    SHMRING_FIELD_(max_msg)
    SHMRING_FIELD_(map_size)
    SHMRING_FIELD_(tail)
    SHMRING_FIELD_(head)
    SHMRING_FIELD_(rx_wake)
    SHMRING_FIELD_(tx_wake)
    SHMRING_FIELD_(n_tx)
    SHMRING_FIELD_(n_rx)
    SHMRING_FIELD_(unlinked)
    SHMRING_FIELD_(rx_seen)
    SHMRING_FIELD_(peers)
#undef SHMRING_FIELD_
    if (strcmp(field, "peer_size") == 0)
        return sizeof(struct shmring_peer);
    if (strcmp(field, "slot_len") == 0)
        return offsetof(struct shmring_slot, len);
    if (strcmp(field, "slot_payload") == 0)
        return SHMRING_SLOT_HDR;
    return (size_t)-1;
}

size_t ipc__shmring_test_size(size_t capacity, size_t max_msg)
{
    struct shmring_geom g;
    shmring_geom(capacity, max_msg, &g);
    return (size_t)g.map_size;
}

size_t ipc__shmring_test_slot(size_t max_msg, size_t index)
{
    struct shmring_geom g;
    shmring_geom(1, max_msg, &g);
    return SHMRING_HDR_SIZE + index * (size_t)g.slot_size;
}

uint64_t ipc__shmring_test_state(uint64_t pos, unsigned kind, uint32_t owner)
{
    return shmring_state(pos, kind, owner);
}

uint64_t ipc__shmring_test_peer(uint32_t pid, uint32_t gen, unsigned state,
                                unsigned role)
{
    return shmring_peer_word(pid, gen, state, role);
}

void ipc__shmring_test_format(void *base, size_t capacity, size_t max_msg)
{
    struct shmring_geom g;
    struct shmring_prefix pre;
    pthread_once(&shmring_once, shmring_init_process);
    shmring_geom(capacity, max_msg, &g);
    shmring_prefix_fill(&pre, true);
    pre.creator_pid = (uint32_t)getpid();
    memcpy(base, &pre, sizeof pre);
    shmring_format(base, &g, true);
}

/* The mapping of an end (a pair's ring has no name to map it by). */
void *ipc__shmring_test_base(const ipc_channel *ch)
{
    return shmring_priv(ch)->hdr;
}

void ipc__shmring_test_ready(void *base)
{
    struct shmring_hdr *hdr = base;
    atomic_store_explicit(&hdr->ready, SHMRING_READY, memory_order_release);
}

/* ------------------------------------------------------------ the table */

const struct ipc_backend ipc__backend_shm = {
    .scheme = "shm",
    .caps = IPC_CAP_NAMED | IPC_CAP_PAIR | IPC_CAP_MULTI_SENDER |
            IPC_CAP_MULTI_RECEIVER | IPC_CAP_POLLABLE | IPC_CAP_PEER_CLOSED |
            IPC_CAP_ZERO_COPY,
    .keys = IPC_KEYBIT(IPC_KEY_CAPACITY) | IPC_KEYBIT(IPC_KEY_MAX_MSG) |
            IPC_KEYBIT(IPC_KEY_MODE),
    .priv_size = sizeof(struct shmring_end),
    .limits =
        {
            .max_msg_default = SHMRING_MAX_MSG_DEFAULT,
            .max_msg_max = SHMRING_MAX_MSG_MAX,
            .capacity_default = SHMRING_CAPACITY_DEFAULT,
            .capacity_max = SHMRING_CAPACITY_MAX,
            .name_max = SHMRING_NAME_MAX,
        },
    .path_required = true,
    .open = shmring_open,
    .pair = shmring_pair,
    .close = shmring_close,
    .unlink = shmring_unlink,
    .send = shmring_send,
    .recv = shmring_recv,
    .pollfd = shmring_pollfd,
    .loan = shmring_loan,
    .commit = shmring_commit,
    .view = shmring_view,
    .release = shmring_release,
};
