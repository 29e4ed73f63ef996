/* SPDX-License-Identifier: MIT */
/* futex: every sync object as futex words in shared memory (Linux only). */
#include "os.h"
#include "sync/futex.h"
#include "sync/sync_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The header's kind word of a kind: the barrier's layout is version 2. */
static uint32_t fx_kind_word(ipc_sync_kind kind)
{
    return (uint32_t)kind << 16 |
           (kind == IPC_SYNC_BARRIER ? FX_VERSION_BAR : FX_VERSION);
}

/* ---------------------------------------------------------------- threads */

/* This thread's id and start time, cached: a lock must not cost a
 * gettid() system call. A forked child's only thread inherits the parent's
 * cache, so an atfork handler clears it. */
struct fx_thread {
    uint32_t tid;
    uint64_t start;
};
/* initial-exec: one %fs-relative load, where the default model for a
 * shared library calls __tls_get_addr on every lock (about 15 % of an
 * uncontended lock and unlock here); 16 bytes of glibc's static TLS
 * surplus, which exists for such variables of dlopen'ed libraries. */
static _Thread_local struct fx_thread fx_me
    __attribute__((tls_model("initial-exec")));
static pthread_once_t fx_once = PTHREAD_ONCE_INIT;
/* This process as a barrier's party table records it (0: not known yet). */
static _Atomic uint64_t fx_party_me;

static void fx_atfork_child(void)
{
    fx_me.tid = 0;
    atomic_store_explicit(&fx_party_me, 0, memory_order_relaxed);
}

static void fx_register_atfork(void)
{
    pthread_atfork(NULL, NULL, fx_atfork_child);
}

/* The thread tid: 1 alive (start time in *start), 0 gone or a zombie, -1
 * unknown (no /proc, or hidden: then kill() answers). */
static int fx_task(uint32_t tid, uint64_t *start)
{
    switch (ipc__proc_stat(tid, start)) {
    case IPC__PROC_ALIVE:
        return 1;
    case IPC__PROC_GONE:
        return 0;
    default:
        return kill((pid_t)tid, 0) == 0 || errno != ESRCH ? -1 : 0;
    }
}

/* A thread's first lock or unlock: out of line, so that the fast paths
 * pay one load of fx_me.tid and a test. */
__attribute__((noinline)) static uint32_t fx_self_init(void)
{
    pthread_once(&fx_once, fx_register_atfork);
    fx_me.tid = (uint32_t)syscall(SYS_gettid);
    fx_me.start = 0;
    (void)fx_task(fx_me.tid, &fx_me.start);
    return fx_me.tid;
}

static inline uint32_t fx_self(void)
{
    uint32_t tid = fx_me.tid;
    return __builtin_expect(tid != 0, 1) ? tid : fx_self_init();
}

/* This process's party table entry: pid | start time << 22. */
uint64_t ipc__fx_party(void)
{
    uint64_t me = atomic_load_explicit(&fx_party_me, memory_order_relaxed);
    if (__builtin_expect(me != 0, 1))
        return me;
    pthread_once(&fx_once, fx_register_atfork);
    uint32_t pid = (uint32_t)getpid();
    uint64_t start = 0;
    if (ipc__proc_stat(pid, &start) != IPC__PROC_ALIVE ||
        start >> (64 - FX_PARTY_SHIFT) != 0)
        start = 0; /* unknown, or too large to keep: the pid alone */
    me = (uint64_t)(pid & FX_PARTY_PID) | start << FX_PARTY_SHIFT;
    atomic_store_explicit(&fx_party_me, me, memory_order_relaxed);
    return me;
}

/* ---------------------------------------------------------------- futex */

static int fx_futex_wait(_Atomic uint32_t *word, uint32_t val, int64_t at_ns)
{
    struct timespec ts, *tp = NULL;
    if (at_ns != INT64_MAX) {
        ts.tv_sec = (time_t)(at_ns / 1000000000);
        ts.tv_nsec = (long)(at_ns % 1000000000);
        tp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time; not
     * private: the other sleepers and wakers are other processes. */
    if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET, val, tp, NULL,
                FUTEX_BITSET_MATCH_ANY) == 0)
        return 0;
    return errno;
}

void ipc__fx_futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* Sleep while *word == val, until at_ns at the latest. IPC_OK after any
 * wake-up, timeout, signal or value change (the caller looks again). */
ipc_err ipc__fx_sleep(_Atomic uint32_t *word, uint32_t val, int64_t at_ns)
{
    int err = fx_futex_wait(word, val, at_ns);
    if (err == 0 || err == EAGAIN || err == EINTR || err == ETIMEDOUT)
        return IPC_OK;
    return ipc__fail(IPC_EPROTO, "shm: futex wait failed: %s", strerror(err));
}

static inline void fx_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---------------------------------------------------------------- object */

/* A header a peer overwrote: off the hot path (cold, not inlined). */
ipc_err ipc__fx_bad_header(const struct ipc_sync *s)
{
    return ipc__fail(IPC_EPROTO, "shm: the %s's header was overwritten",
                     ipc__sync_kind_name(s->kind));
}

static ipc_err fx_create(struct ipc_sync *s, struct ipc__sync_obj *o,
                         size_t size, unsigned init)
{
    bool bar = s->kind == IPC_SYNC_BARRIER;
    if (bar && size < IPC_BARRIER_SIZE(init))
        return ipc__fail(IPC_EINVAL,
                         "shm: a barrier of %u parties needs "
                         "IPC_BARRIER_SIZE(%u) = %zu bytes, not %zu",
                         init, init, IPC_BARRIER_SIZE(init), size);
    atomic_store_explicit(&o->magic, 0, memory_order_relaxed);
    atomic_store(&o->word, s->kind == IPC_SYNC_SEM ? init : 0);
    atomic_store(&o->aux, bar ? init : 0);
    atomic_store(&o->start, 0);
    atomic_store(&o->slots, bar ? init : 0);
    atomic_store(&o->dead, 0);
    atomic_store(&o->cursor, 0);
    for (uint32_t i = 0; bar && i < init; i++)
        atomic_store_explicit(&fx_party_table(o)[i], 0, memory_order_relaxed);
    s->u.fx.bar_slots = bar ? init : 0;
    atomic_store(&o->kind, s->u.fx.kind_word);
    atomic_store_explicit(&o->magic, FX_MAGIC, memory_order_release);
    return IPC_OK;
}

ipc_err ipc__sync_futex_attach(struct ipc_sync *s, void *mem, size_t size,
                               unsigned flags, unsigned init)
{
    struct ipc__sync_obj *o = mem;
    const char *kname = ipc__sync_kind_name(s->kind);
    s->u.fx.obj = o;
    s->u.fx.kind_word = fx_kind_word(s->kind);
    if (flags & IPC_F_CREATE)
        return fx_create(s, o, size, init);
    uint32_t magic = atomic_load_explicit(&o->magic, memory_order_acquire);
    if (magic == 0)
        return ipc__fail(IPC_ENOENT, "shm: no %s made in this memory yet",
                         kname);
    if (magic != FX_MAGIC)
        return ipc__fail(IPC_EPROTO,
                         "shm: this memory holds no libipc "
                         "sync object (magic 0x%08x)",
                         magic);
    uint32_t kind = atomic_load(&o->kind);
    if (kind != s->u.fx.kind_word)
        return ipc__fail(IPC_EPROTO,
                         "shm: this memory holds no %s of this version "
                         "(kind %u, version %u)",
                         kname, kind >> 16, kind & 0xffff);
    return s->kind == IPC_SYNC_BARRIER ? ipc__fx_bar_attach(s, o, size)
                                       : IPC_OK;
}

int ipc__sync_futex_peek(const unsigned char *bytes, size_t n, size_t *size)
{
    uint32_t magic, kind, parties;
    if (n < 4 * sizeof magic)
        return -1;
    memcpy(&magic, bytes, sizeof magic);
    memcpy(&kind, bytes + sizeof magic, sizeof kind);
    memcpy(&parties, bytes + 3 * sizeof magic, sizeof parties);
    if (magic != FX_MAGIC || kind >> 16 >= IPC_SYNC_KINDS ||
        kind != fx_kind_word((ipc_sync_kind)(kind >> 16)))
        return -1;
    *size = kind >> 16 == IPC_SYNC_BARRIER ? IPC_BARRIER_SIZE(parties)
                                           : IPC_SYNC_SIZE;
    return (int)(kind >> 16);
}

/* ---------------------------------------------------------------- locks */

static void fx_record(struct ipc__sync_obj *o, uint32_t self)
{
    atomic_store_explicit(&o->start, fx_me.start, memory_order_relaxed);
    atomic_store_explicit(&o->aux, self, memory_order_release);
}

/* A lock word held by someone: IPC_EAGAIN if that is a plausible other
 * thread, else the code the caller must answer. */
static ipc_err fx_held(uint32_t v, uint32_t self)
{
    uint32_t tid = v & FX_TID;
    if (tid == FX_NOTREC)
        return ipc__fail(IPC_ENOTRECOVERABLE,
                         "shm: unlocked while inconsistent after an owner "
                         "died; re-create it");
    if (tid == 0 || tid > FX_TID_MAX)
        return ipc__fail(IPC_EPROTO, "shm: lock word 0x%08x holds no thread",
                         v);
    if (tid == self)
        return ipc__fail(IPC_EBUSY, "shm: this thread holds the lock "
                                    "already (deadlock refused)");
    return IPC_EAGAIN;
}

/* Is the holder in word v gone? Only after the word still reads v. */
static bool fx_holder_dead(struct ipc__sync_obj *o, uint32_t v)
{
    uint32_t tid = v & FX_TID;
    uint32_t rec = atomic_load_explicit(&o->aux, memory_order_acquire);
    uint64_t rec_start = atomic_load_explicit(&o->start, memory_order_relaxed);
    uint64_t now_start = 0;
    int alive = fx_task(tid, &now_start);
    if (atomic_load(&o->word) != v)
        return false;
    if (alive == 0)
        return true;
    /* Same tid, another thread: the holder died and its tid was reused. */
    return alive == 1 && rec == tid && rec_start != 0 && rec_start != now_start;
}

/* Take over a dead holder's lock: IPC_EOWNERDEAD for the one winner,
 * IPC_EAGAIN for the losers (they look again). */
static ipc_err fx_take_over(struct ipc__sync_obj *o, uint32_t v, uint32_t self)
{
    uint32_t mine = self | FX_DIED | (v & FX_WAITERS);
    if (!atomic_compare_exchange_strong(&o->word, &v, mine))
        return IPC_EAGAIN;
    fx_record(o, self);
    return ipc__fail(IPC_EOWNERDEAD,
                     "shm: the holder (thread %u) died; the lock is yours, "
                     "call the consistent function once the data is fixed",
                     v & FX_TID);
}

/* One look at a held word at a slice end: IPC_EAGAIN to keep waiting. */
static ipc_err fx_check_holder(struct ipc__sync_obj *o, uint32_t v,
                               uint32_t self)
{
    if (!fx_holder_dead(o, v))
        return IPC_EAGAIN;
    return fx_take_over(o, v, self);
}

/* Spinlocks nap instead of sleeping on the word: a spinlock's unlock makes
 * no system call, so nobody would wake a sleeper. */
static ipc_err fx_lock_wait(struct ipc__sync_obj *o, bool spin, uint32_t v,
                            int64_t until_ns, long *nap_ns)
{
    if (spin) {
        struct ipc_deadline nap = {.at_ns = until_ns, .nonblock = false};
        (void)sched_yield();
        ipc_err err = ipc__nap(&nap, nap_ns);
        return err == IPC_ETIMEDOUT ? IPC_OK : err;
    }
    if (!(v & FX_WAITERS)) {
        if (!atomic_compare_exchange_strong(&o->word, &v, v | FX_WAITERS))
            return IPC_OK;
        v |= FX_WAITERS;
    }
    return ipc__fx_sleep(&o->word, v, until_ns);
}

static ipc_err fx_lock_slow(struct ipc__sync_obj *o, bool spin, uint32_t self,
                            const struct ipc_deadline *dl)
{
    long slice = FX_SLICE_MIN_NS, nap_ns = 1000;
    int64_t check_at = dl->nonblock ? 0 : ipc__now_ns() + slice;
    int spins = spin ? FX_SPIN_LOCK : FX_SPIN_MUTEX;
    for (;;) {
        uint32_t v = atomic_load_explicit(&o->word, memory_order_relaxed);
        if (v == 0) {
            /* A sleeper taking the lock marks waiters: others may sleep. */
            uint32_t mine = self | (spin ? 0 : FX_WAITERS);
            if (atomic_compare_exchange_strong_explicit(&o->word, &v, mine,
                                                        memory_order_acquire,
                                                        memory_order_relaxed)) {
                fx_record(o, self);
                return IPC_OK;
            }
            continue;
        }
        ipc_err err = fx_held(v, self);
        if (err != IPC_EAGAIN)
            return err;
        if (spins > 0 && !dl->nonblock) {
            spins--;
            fx_relax();
            continue;
        }
        int64_t now = dl->nonblock ? 0 : ipc__now_ns();
        if (now >= check_at) {
            err = fx_check_holder(o, v, self);
            if (err != IPC_EAGAIN)
                return err;
            slice = slice * 2 > FX_SLICE_MAX_NS ? FX_SLICE_MAX_NS : slice * 2;
            check_at = now + slice;
        }
        if (dl->nonblock || now >= dl->at_ns)
            return ipc__deadline_err(dl);
        err = fx_lock_wait(
            o, spin, v, check_at < dl->at_ns ? check_at : dl->at_ns, &nap_ns);
        if (err != IPC_OK)
            return err;
    }
}

/* A lock held: the deadline starts here (out of line: the free lock's
 * path needs no stack frame). */
__attribute__((noinline)) static ipc_err fx_lock_held(const struct ipc_sync *s,
                                                      struct ipc__sync_obj *o,
                                                      uint32_t self,
                                                      int timeout_ms)
{
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    return fx_lock_slow(o, s->kind == IPC_SYNC_SPIN, self, &dl);
}

static ipc_err fx_lock(struct ipc_sync *s, int timeout_ms);
static ipc_err fx_unlock(struct ipc_sync *s);

/* A thread's first lock or unlock: learn its id, then go again. Out of
 * line with the call, so the fast paths below keep no stack frame. */
__attribute__((noinline)) static ipc_err fx_lock_first(struct ipc_sync *s,
                                                       int timeout_ms)
{
    (void)fx_self_init();
    return fx_lock(s, timeout_ms);
}

__attribute__((noinline)) static ipc_err fx_unlock_first(struct ipc_sync *s)
{
    (void)fx_self_init();
    return fx_unlock(s);
}

static ipc_err fx_lock(struct ipc_sync *s, int timeout_ms)
{
    FX_OBJ(o, s);
    uint32_t self = fx_me.tid, v = 0;
    if (__builtin_expect(self == 0, 0))
        return fx_lock_first(s, timeout_ms);
    if (__builtin_expect(
            atomic_compare_exchange_strong_explicit(
                &o->word, &v, self, memory_order_acquire, memory_order_relaxed),
            1)) {
        fx_record(o, self);
        return IPC_OK;
    }
    return fx_lock_held(s, o, self, timeout_ms);
}

static ipc_err fx_not_owner(uint32_t v)
{
    return ipc__fail(IPC_ENOTOWNER,
                     "shm: this thread does not hold the lock (word "
                     "0x%08x)",
                     v);
}

/* An unlock whose word is not plainly ours: waiters, a death, or not
 * ours at all. Out of line, as fx_lock_held. */
__attribute__((noinline)) static ipc_err
fx_unlock_slow(struct ipc__sync_obj *o, uint32_t self, uint32_t v)
{
    if ((v & FX_TID) != self)
        return fx_not_owner(v);
    if (v & FX_DIED) {
        /* Never made consistent: nobody may trust the data again. */
        atomic_store(&o->word, FX_NOTREC);
        ipc__fx_futex_wake(&o->word, INT_MAX);
        return IPC_OK;
    }
    v = atomic_exchange_explicit(&o->word, 0, memory_order_release);
    if (v & FX_WAITERS)
        ipc__fx_futex_wake(&o->word, 1);
    return IPC_OK;
}

static ipc_err fx_unlock(struct ipc_sync *s)
{
    FX_OBJ(o, s);
    uint32_t self = fx_me.tid, v = self;
    if (__builtin_expect(self == 0, 0))
        return fx_unlock_first(s);
    if (__builtin_expect(
            atomic_compare_exchange_strong_explicit(
                &o->word, &v, 0, memory_order_release, memory_order_relaxed),
            1))
        return IPC_OK;
    return fx_unlock_slow(o, self, v);
}

static ipc_err fx_consistent(struct ipc_sync *s)
{
    FX_OBJ(o, s);
    uint32_t v = atomic_load(&o->word);
    if ((v & FX_TID) != fx_self())
        return fx_not_owner(v);
    if (!(v & FX_DIED))
        return ipc__fail(IPC_EINVAL, "shm: the lock is not inconsistent");
    atomic_fetch_and(&o->word, ~FX_DIED);
    return IPC_OK;
}

/* ---------------------------------------------------------------- semaphore
 * word: the count; aux: how many may sleep on it. A post wakes one only
 * when aux says someone may sleep. A sleeper that dies leaves aux one too
 * high: every post then makes a needless wake call, nothing worse. */

static ipc_err fx_sem_count(uint32_t v)
{
    if (v > IPC_SEM_VALUE_MAX)
        return ipc__fail(IPC_EPROTO, "shm: semaphore count 0x%08x", v);
    return IPC_OK;
}

/* No count taken at the first try: look again, then sleep until the
 * deadline, which starts here. */
__attribute__((noinline)) static ipc_err
fx_sem_wait_slow(struct ipc__sync_obj *o, int timeout_ms)
{
    struct ipc_deadline deadline;
    const struct ipc_deadline *dl = &deadline;
    ipc__deadline_init(&deadline, timeout_ms);
    ipc_err err = IPC_OK;
    for (;;) {
        uint32_t v = atomic_load_explicit(&o->word, memory_order_relaxed);
        if ((err = fx_sem_count(v)) != IPC_OK)
            return err;
        if (v > 0) {
            if (atomic_compare_exchange_weak_explicit(&o->word, &v, v - 1,
                                                      memory_order_acquire,
                                                      memory_order_relaxed))
                return IPC_OK;
            continue;
        }
        if (ipc__deadline_expired(dl))
            return ipc__deadline_err(dl);
        atomic_fetch_add(&o->aux, 1);
        err = ipc__fx_sleep(&o->word, 0, dl->at_ns);
        atomic_fetch_sub(&o->aux, 1);
        if (err != IPC_OK)
            return err;
    }
}

static ipc_err fx_sem_wait(struct ipc_sync *s, int timeout_ms)
{
    FX_OBJ(o, s);
    uint32_t v = atomic_load_explicit(&o->word, memory_order_relaxed);
    /* 1..IPC_SEM_VALUE_MAX in one compare: a count to take, not scribbled. */
    if (__builtin_expect(v - 1 < IPC_SEM_VALUE_MAX, 1) &&
        atomic_compare_exchange_weak_explicit(
            &o->word, &v, v - 1, memory_order_acquire, memory_order_relaxed))
        return IPC_OK;
    return fx_sem_wait_slow(o, timeout_ms);
}

/* Wake one sleeper (out of line: a post nobody waits for makes no call). */
__attribute__((noinline)) static ipc_err fx_sem_wake(struct ipc__sync_obj *o)
{
    ipc__fx_futex_wake(&o->word, 1);
    return IPC_OK;
}

__attribute__((noinline)) static ipc_err
fx_sem_post_slow(struct ipc__sync_obj *o)
{
    ipc_err err = IPC_OK;
    uint32_t v = atomic_load_explicit(&o->word, memory_order_relaxed);
    do {
        if ((err = fx_sem_count(v)) != IPC_OK)
            return err;
        if (v == IPC_SEM_VALUE_MAX)
            return ipc__fail(IPC_ELIMIT, "shm: semaphore at its maximum %u",
                             IPC_SEM_VALUE_MAX);
    } while (!atomic_compare_exchange_weak(&o->word, &v, v + 1));
    return atomic_load(&o->aux) != 0 ? fx_sem_wake(o) : IPC_OK;
}

/* seq_cst: the count's swap, then the load of aux, pair with a sleeper's
 * increment of aux, then its look at the count (the futex wait compares
 * it), so that one of the two sees the other. */
static ipc_err fx_sem_post(struct ipc_sync *s)
{
    FX_OBJ(o, s);
    uint32_t v = atomic_load_explicit(&o->word, memory_order_relaxed);
    if (__builtin_expect(
            v >= IPC_SEM_VALUE_MAX ||
                !atomic_compare_exchange_strong(&o->word, &v, v + 1),
            0))
        return fx_sem_post_slow(o); /* scribbled, at the maximum, or raced */
    return __builtin_expect(atomic_load(&o->aux) != 0, 0) ? fx_sem_wake(o)
                                                          : IPC_OK;
}

static ipc_err fx_sem_value(struct ipc_sync *s, unsigned *value)
{
    FX_OBJ(o, s);
    ipc_err err = IPC_OK;
    uint32_t v = atomic_load(&o->word);
    if ((err = fx_sem_count(v)) != IPC_OK)
        return err;
    *value = v;
    return IPC_OK;
}

/* ---------------------------------------------------------------- event
 * word: sequence << 2 | waiters | set. set bumps the sequence, so a waiter
 * that slept through a set and a clear still sees that a set happened. */

static ipc_err fx_event_set(struct ipc_sync *s)
{
    FX_OBJ(o, s);
    uint32_t v = atomic_load(&o->word);
    while (!atomic_compare_exchange_weak(
        &o->word, &v, ((v & ~3u) + FX_EV_SEQ_ONE) | FX_EV_SET))
        ;
    if (v & FX_EV_WAITERS)
        ipc__fx_futex_wake(&o->word, INT_MAX);
    return IPC_OK;
}

static ipc_err fx_event_clear(struct ipc_sync *s)
{
    FX_OBJ(o, s);
    atomic_fetch_and(&o->word, ~FX_EV_SET);
    return IPC_OK;
}

static ipc_err fx_event_wait(struct ipc_sync *s, int timeout_ms)
{
    FX_OBJ(o, s);
    ipc_err err = IPC_OK;
    uint32_t v = atomic_load_explicit(&o->word, memory_order_acquire);
    uint32_t seq = v & ~3u;
    if (v & FX_EV_SET)
        return IPC_OK; /* set: no deadline needed */
    struct ipc_deadline deadline;
    const struct ipc_deadline *dl = &deadline;
    ipc__deadline_init(&deadline, timeout_ms);
    for (;;) {
        if ((v & FX_EV_SET) || (v & ~3u) != seq)
            return IPC_OK;
        if (ipc__deadline_expired(dl))
            return ipc__deadline_err(dl);
        if (!(v & FX_EV_WAITERS) &&
            !atomic_compare_exchange_strong(&o->word, &v, v | FX_EV_WAITERS))
            continue;
        if ((err = ipc__fx_sleep(&o->word, v | FX_EV_WAITERS, dl->at_ns)) !=
            IPC_OK)
            return err;
        v = atomic_load_explicit(&o->word, memory_order_acquire);
    }
}

/* ---------------------------------------------------------------- named */

/* A named object is a region of its own ("shm:/name", made through the
 * region module's public API: its header page keeps openers off a
 * half-made region, its mode is exact). The object's own magic, written
 * last, keeps them off a half-initialised object: an opener waits for it
 * within its timeout. As for every named sync object, the creator's close
 * removes the name (regions alone never do). */

/* "shm:/name" without the options, for unlink. */
static void fx_region_name(char *buf, size_t size, const char *path)
{
    /* The frontend checked the length against name_max (250). */
    snprintf(buf, size, "shm:%.250s", path);
}

static ipc_err fx_named_attach(struct ipc_sync *s, unsigned flags,
                               unsigned init, const struct ipc_deadline *dl)
{
    ipc_region *r = s->u.fx.region;
    if (ipc_region_size(r) < IPC_SYNC_SIZE)
        return ipc__fail(IPC_EPROTO,
                         "shm: %s: %zu bytes, too small for a "
                         "sync object",
                         s->address, ipc_region_size(r));
    long nap_ns = 10000;
    for (;;) {
        ipc_err err = ipc__sync_futex_attach(s, ipc_region_ptr(r),
                                             ipc_region_size(r), flags, init);
        if (err != IPC_ENOENT)
            return err;
        if (ipc__nap(dl, &nap_ns) != IPC_OK)
            return ipc__fail(dl->nonblock ? IPC_EAGAIN : IPC_ETIMEDOUT,
                             "shm: %s: its creator has not finished making "
                             "the %s (died?)",
                             s->address, ipc__sync_kind_name(s->kind));
    }
}

static ipc_err fx_named_open(struct ipc_sync *s, const struct ipc_addr *addr,
                             unsigned flags, unsigned init,
                             const struct ipc_deadline *dl)
{
    (void)addr;
    ipc_region *r = NULL;
    ipc_err err = IPC_EEXIST;
    /* A barrier's region holds its party table too. */
    size_t size =
        s->kind == IPC_SYNC_BARRIER ? IPC_BARRIER_SIZE(init) : IPC_SYNC_SIZE;
    /* Create exclusively first: only the creator may initialise. */
    if (flags & IPC_F_CREATE)
        err = ipc_region_open(
            s->address, IPC_F_CREATE | IPC_F_EXCL | (flags & IPC_F_REPLACE),
            size, ipc__deadline_poll_ms(dl), &r);
    if (err == IPC_OK) {
        s->owner = true;
        s->u.fx.region = r;
        return fx_named_attach(s, IPC_F_CREATE, init, dl);
    }
    if (err != IPC_EEXIST || (flags & IPC_F_EXCL))
        return err;
    /* With IPC_F_CREATE the region module opens only a region of the
     * caller's uid (ipc.h). Should the name vanish between the two calls,
     * this makes a region nobody initialises: the wait below times out.
     * An existing barrier keeps its own parties: its size, whatever init
     * says (0 takes it; a region made now of size 0 is refused). */
    bool take_size = !(flags & IPC_F_CREATE) || s->kind == IPC_SYNC_BARRIER;
    err = ipc_region_open(s->address, flags & IPC_F_CREATE,
                          take_size ? 0 : IPC_SYNC_SIZE,
                          ipc__deadline_poll_ms(dl), &r);
    if (err != IPC_OK)
        return err;
    s->u.fx.region = r;
    return fx_named_attach(s, 0, 0, dl);
}

static void fx_close(struct ipc_sync *s)
{
    /* A placed barrier's memory too: close it before unmapping that. */
    if (s->kind == IPC_SYNC_BARRIER && s->u.fx.obj)
        ipc__fx_bar_leave(s);
    if (!s->u.fx.region)
        return;
    ipc_region_close(s->u.fx.region);
    s->u.fx.region = NULL;
    if (s->owner) {
        char name[300];
        struct ipc_addr addr;
        if (ipc__addr_parse(s->address, &addr) == IPC_OK) {
            fx_region_name(name, sizeof name, addr.path);
            (void)ipc_region_unlink(name);
        }
    }
}

static ipc_err fx_named_unlink(const struct ipc_addr *addr)
{
    char name[300];
    fx_region_name(name, sizeof name, addr->path);
    return ipc_region_unlink(name);
}

#define FX_LOCK_CAPS                                                           \
    (IPC_SYNC_CAP_SUPPORTED | IPC_SYNC_CAP_ROBUST | IPC_SYNC_CAP_TIMED |       \
     IPC_SYNC_CAP_PLACE)
#define FX_CAPS                                                                \
    (IPC_SYNC_CAP_SUPPORTED | IPC_SYNC_CAP_TIMED | IPC_SYNC_CAP_PLACE)

const struct ipc__sync_mech ipc__sync_futex = {
    .scheme = "shm",
    .caps = {[IPC_SYNC_MUTEX] = FX_LOCK_CAPS,
             [IPC_SYNC_SEM] = FX_CAPS,
             [IPC_SYNC_BARRIER] = FX_CAPS | IPC_SYNC_CAP_ROBUST,
             [IPC_SYNC_SPIN] = FX_LOCK_CAPS,
             [IPC_SYNC_EVENT] = FX_CAPS},
    .name_max = 250,
    .open = fx_named_open,
    .close = fx_close,
    .unlink = fx_named_unlink,
    .lock = fx_lock,
    .unlock = fx_unlock,
    .consistent = fx_consistent,
    .sem_wait = fx_sem_wait,
    .sem_post = fx_sem_post,
    .sem_value = fx_sem_value,
    .barrier_wait = ipc__fx_barrier_wait,
    .barrier_reset = ipc__fx_barrier_reset,
    .event_set = fx_event_set,
    .event_clear = fx_event_clear,
    .event_wait = fx_event_wait,
};
