/* SPDX-License-Identifier: MIT */
/* libipc synchronization objects between processes: mutex, semaphore,
 * barrier, spinlock and event, named or placed in shared memory. */
#ifndef IPC_SYNC_H
#define IPC_SYNC_H

#include <ipc/ipc.h>

/*
 * Every object is either NAMED, reachable by an address, or PLACED at an
 * offset inside memory the caller shares (a region from ipc_region_ptr(), any
 * MAP_SHARED mapping). The address picks the mechanism:
 *
 *   shm:/name     futex words in a POSIX shared-memory object of libipc's
 *                 own (the default; every kind of object; Linux only)
 *   sem:/name     a POSIX named semaphore (sem_open): semaphores only
 *   sysv:0xKEY    a System V semaphore set by explicit key (1-8 hex digits,
 *                 not 0): semaphores, and mutexes whose holder's death the
 *                 kernel undoes (SEM_UNDO)
 *
 * with the option "?mode=0640" (octal; default 0600) applied exactly, never
 * narrowed by the umask. A placed object is always the futex form and takes
 * IPC_SYNC_SIZE bytes aligned to IPC_SYNC_ALIGN; a barrier takes
 * IPC_BARRIER_SIZE(parties) (its table of parties follows).
 *
 * What each mechanism offers for each kind is reported by ipc_sync_caps();
 * a call that needs a missing capability answers IPC_ENOTSUP with a detail.
 *
 *            mutex           semaphore   barrier         spinlock       event
 *   shm:     robust, timed   timed       robust, timed   robust, timed  timed
 *   sem:     -               timed       -        -              -
 *   sysv:    timed, undo     timed       -        -              -
 *   placed:  as shm:
 *
 * Open flags: IPC_F_CREATE makes the object (its initial state from the
 * call's arguments), IPC_F_EXCL refuses an existing one (IPC_EEXIST);
 * without IPC_F_CREATE an existing object is opened (IPC_ENOENT if
 * missing; an object another process is still making is waited for within
 * timeout_ms). As for channels, the handle that created a named object
 * removes the name on close (a forked child's copy does not); handles
 * already open keep working, except sysv: whose sets vanish for everyone
 * (waiters then get IPC_ECLOSED). For place: IPC_F_CREATE initialises the
 * memory, anything there before is lost; without it the memory must hold
 * an object of that kind already (IPC_ENOENT if it is still zero,
 * IPC_EPROTO if it holds something else).
 *
 * Owner death (robust objects). The futex mutex and spinlock record the
 * holder's thread id in the lock word itself (and its start time beside
 * it, against thread-id reuse). A waiter checks that holder about every
 * 1-32 ms of waiting (and at once for timeout 0); when it has died, exactly
 * one waiter takes the lock and gets IPC_EOWNERDEAD: it holds the lock, the
 * data it guards may be half-updated, and it must call
 * ipc_mutex_consistent() before unlocking, or the unlock leaves the mutex
 * not recoverable (every later lock: IPC_ENOTRECOVERABLE), as POSIX robust
 * mutexes do. A thread that exits while holding counts as dead too. All
 * processes sharing an object must share one PID namespace (thread ids are
 * per namespace). libipc does not use the kernel's robust list: it is one
 * list per thread, and glibc registers it for its own pthread mutexes.
 *
 * Memory a peer scribbled on: every word read is checked; a value no
 * libipc object can hold is IPC_EPROTO, never a crash, an abort or a wait
 * past the timeout. A plausible but false value (a live stranger's thread id
 * in a mutex) makes waits time out, no worse.
 *
 * Priority inversion: the futex mutex does not inherit priority (the
 * kernel's PI futexes need the robust list for owner death and, before
 * Linux 5.14, wall-clock timeouts). Processes with real-time priorities
 * sharing a lock should run the lock holders at the highest priority of
 * any locker, or use a pthread mutex with PTHREAD_PRIO_INHERIT.
 *
 * Timeouts (ms): -1 forever, 0 never blocks (IPC_EAGAIN: lock with 0 is a
 * trylock), > 0 a CLOCK_MONOTONIC deadline; signals never cut a wait.
 * Threads: one handle may be used by several threads at once, except close.
 */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipc_mutex ipc_mutex;
typedef struct ipc_sem ipc_sem;
typedef struct ipc_barrier ipc_barrier;
typedef struct ipc_spin ipc_spin;
typedef struct ipc_event ipc_event;

typedef enum {
    IPC_SYNC_MUTEX = 0,
    IPC_SYNC_SEM = 1,
    IPC_SYNC_BARRIER = 2,
    IPC_SYNC_SPIN = 3,
    IPC_SYNC_EVENT = 4
} ipc_sync_kind;

/* What a mechanism offers for a kind of object (ipc_sync_caps). */
enum {
    IPC_SYNC_CAP_SUPPORTED = 1u << 0, /* the kind exists on the mechanism */
    IPC_SYNC_CAP_ROBUST = 1u << 1,    /* death seen: a lock's holder,
                                         IPC_EOWNERDEAD; a barrier's party,
                                         IPC_EBROKEN naming it */
    IPC_SYNC_CAP_TIMED = 1u << 2,     /* waits take a timeout > 0 */
    IPC_SYNC_CAP_POLLABLE = 1u << 3,  /* a descriptor to poll (none yet) */
    IPC_SYNC_CAP_UNDO = 1u << 4,      /* the kernel undoes a dead holder */
    IPC_SYNC_CAP_PLACE = 1u << 5      /* can be placed in shared memory */
};

/* Bytes and alignment of a placed object of any kind: one cache line. */
#define IPC_SYNC_SIZE  64
#define IPC_SYNC_ALIGN 8
/* Largest semaphore value, and most barrier parties. */
#define IPC_SEM_VALUE_MAX       0x7fffffffu
#define IPC_BARRIER_PARTIES_MAX 32767u
/* Bytes of a placed barrier: the object, then its table of parties (8 bytes
 * a party; see the barrier below). Same alignment. */
#define IPC_BARRIER_SIZE(parties) (IPC_SYNC_SIZE + 8 * (size_t)(parties))

/* The capabilities of scheme ("shm", "sem", "sysv"; a whole address is
 * accepted too) for kind, in *caps. IPC_EINVAL for an unknown scheme or
 * kind. A kind the mechanism lacks gives *caps 0. */
IPC_API ipc_err ipc_sync_caps(const char *scheme, ipc_sync_kind kind,
                              unsigned *caps);
/* Remove a named object by address; handles already open keep working
 * (sysv: sets vanish for all). IPC_ENOENT if missing. */
IPC_API ipc_err ipc_sync_unlink(const char *address);

/* --- Mutex --------------------------------------------------------------
 * Open (named) or place (in memory), then lock/unlock; close frees the
 * handle (never blocks, never unlocks). Errors of lock: IPC_OK,
 * IPC_EOWNERDEAD (locked; see above), IPC_EAGAIN (timeout 0, held),
 * IPC_ETIMEDOUT, IPC_ENOTRECOVERABLE, IPC_EBUSY (this thread holds it
 * already: a deadlock refused), IPC_EPROTO (scribbled), IPC_ECLOSED (sysv
 * set removed). unlock: IPC_ENOTOWNER if the calling thread does not hold
 * it (sysv: if it is not locked). consistent: IPC_ENOTOWNER, IPC_EINVAL if
 * the state is not suspect, IPC_ENOTSUP without IPC_SYNC_CAP_ROBUST. */
IPC_API ipc_err ipc_mutex_open(const char *address, unsigned flags,
                               int timeout_ms, ipc_mutex **out);
IPC_API ipc_err ipc_mutex_place(void *mem, size_t size, unsigned flags,
                                ipc_mutex **out);
IPC_API void ipc_mutex_close(ipc_mutex *m);
IPC_API ipc_err ipc_mutex_lock(ipc_mutex *m, int timeout_ms);
IPC_API ipc_err ipc_mutex_unlock(ipc_mutex *m);
IPC_API ipc_err ipc_mutex_consistent(ipc_mutex *m);

/* --- Semaphore ----------------------------------------------------------
 * A counting semaphore of value 0..IPC_SEM_VALUE_MAX; value is the initial
 * count when IPC_F_CREATE makes it (ignored otherwise). wait takes one
 * (IPC_EAGAIN, IPC_ETIMEDOUT, IPC_EPROTO, IPC_ECLOSED), post gives one back
 * and never blocks (IPC_ELIMIT at the maximum). pollfd: IPC_ENOTSUP on every
 * mechanism today (IPC_SYNC_CAP_POLLABLE). */
IPC_API ipc_err ipc_sem_open(const char *address, unsigned flags,
                             unsigned value, int timeout_ms, ipc_sem **out);
IPC_API ipc_err ipc_sem_place(void *mem, size_t size, unsigned flags,
                              unsigned value, ipc_sem **out);
IPC_API void ipc_sem_close(ipc_sem *s);
IPC_API ipc_err ipc_sem_wait(ipc_sem *s, int timeout_ms);
IPC_API ipc_err ipc_sem_post(ipc_sem *s);
IPC_API ipc_err ipc_sem_value(ipc_sem *s, unsigned *value);
IPC_API ipc_err ipc_sem_pollfd(ipc_sem *s, int *fd);

/* --- Barrier ------------------------------------------------------------
 * parties (1..IPC_BARRIER_PARTIES_MAX) callers of wait meet; the last to
 * arrive releases all, and the barrier is ready for the next generation.
 * A party whose wait times out breaks the barrier: it gets IPC_ETIMEDOUT
 * (IPC_EAGAIN with timeout 0 and the others not there), every party waiting
 * or arriving later gets IPC_EBROKEN, until ipc_barrier_reset(). reset:
 * IPC_OK; call it once no party is inside wait.
 *
 * Parties that die (IPC_SYNC_CAP_ROBUST; shm: and placed). A process
 * becomes a watched party at its first wait on a handle (its pid and start
 * time go in the barrier's table) until it closes that handle. When one
 * dies, between its waits or inside one, the barrier breaks: every party
 * waiting gets IPC_EBROKEN within about 20 ms of the death, plus
 * scheduling delays on a loaded machine (5 ms more for each further 64
 * processes registered past the first 64; measured: README), and every
 * later wait too, until reset; the detail names the dead pid (timeouts
 * say "timed out"). IPC_EBROKEN, not IPC_EOWNERDEAD: a barrier has no
 * owner and no state to mend, the generation simply cannot complete. A
 * process that exits without closing its handle counts as dead (nobody
 * can tell them apart): a party that is done closes before it exits. One
 * stopped (SIGSTOP) is alive, which is a timeout. Not watched: a process
 * that dies before its first wait, one beyond the table's `parties`
 * entries (more processes than parties holding handles at once), and
 * threads (a party is a process). Sleeping waiters wake every 10 ms to
 * judge; of all of them one reads /proc/<pid>/stat of up to 64 entries
 * per 5 ms. Same PID namespace for all, as for the mutex. The close of a
 * placed barrier writes to its memory (it leaves the table): close it
 * before unmapping that memory. Placed in less than
 * IPC_BARRIER_SIZE(parties) bytes: IPC_EINVAL. */
IPC_API ipc_err ipc_barrier_open(const char *address, unsigned flags,
                                 unsigned parties, int timeout_ms,
                                 ipc_barrier **out);
IPC_API ipc_err ipc_barrier_place(void *mem, size_t size, unsigned flags,
                                  unsigned parties, ipc_barrier **out);
IPC_API void ipc_barrier_close(ipc_barrier *b);
IPC_API ipc_err ipc_barrier_wait(ipc_barrier *b, int timeout_ms);
IPC_API ipc_err ipc_barrier_reset(ipc_barrier *b);

/* --- Spinlock -----------------------------------------------------------
 * For critical sections of a few hundred instructions between processes on
 * distinct CPUs: lock never sleeps in the kernel and unlock makes no system
 * call. A waiter spins a bounded number of times, then yields and naps
 * (1 us doubling to 1 ms) until the deadline, checking the recorded owner
 * as the mutex does: IPC_EOWNERDEAD / ipc_spin_consistent() as for the
 * mutex. Prefer the mutex when a holder may sleep, be preempted, or hold
 * the lock longer than a wake-up costs (tens of microseconds here), and
 * whenever there are more lockers than CPUs. */
IPC_API ipc_err ipc_spin_open(const char *address, unsigned flags,
                              int timeout_ms, ipc_spin **out);
IPC_API ipc_err ipc_spin_place(void *mem, size_t size, unsigned flags,
                               ipc_spin **out);
IPC_API void ipc_spin_close(ipc_spin *s);
IPC_API ipc_err ipc_spin_lock(ipc_spin *s, int timeout_ms);
IPC_API ipc_err ipc_spin_unlock(ipc_spin *s);
IPC_API ipc_err ipc_spin_consistent(ipc_spin *s);

/* --- Event --------------------------------------------------------------
 * A manual-reset event: set wakes every waiter and stays set until clear.
 * wait returns IPC_OK once the event is set, or was set at any instant
 * since the wait began (a set then clear never slips past a waiter: no lost
 * wake-up). A waiter that dies leaves nothing held. IPC_EAGAIN,
 * IPC_ETIMEDOUT as usual. */
IPC_API ipc_err ipc_event_open(const char *address, unsigned flags,
                               int timeout_ms, ipc_event **out);
IPC_API ipc_err ipc_event_place(void *mem, size_t size, unsigned flags,
                                ipc_event **out);
IPC_API void ipc_event_close(ipc_event *e);
IPC_API ipc_err ipc_event_set(ipc_event *e);
IPC_API ipc_err ipc_event_clear(ipc_event *e);
IPC_API ipc_err ipc_event_wait(ipc_event *e, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* IPC_SYNC_H */
