/* SPDX-License-Identifier: MIT */
/* sysv: System V semaphore sets by key: semaphores, and mutexes that the
 * kernel unlocks when their holder dies (SEM_UNDO). */
#include "sync/sync_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>
#include <unistd.h>

/*
 * "sysv:0xKEY", an explicit key of 1 to 8 hex digits (not 0: IPC_PRIVATE).
 * The kind is the set's size: a semaphore is a set of one, a mutex a set of
 * two (the second unused), so opening a key as the wrong kind is
 * IPC_EPROTO, not a silent misuse. semget leaves a new set's values at 0
 * until the creator sets them; openers wait (within their timeout) for the
 * creator's first semop, which the kernel stamps in sem_otime: the creator
 * sets value + 1 and takes 1 back. A creator that dies before that leaves
 * a set that openers time out on (ipc_sync_unlink removes it).
 *
 * The mutex takes and gives its unit with SEM_UNDO: the kernel adds back
 * what a dead holder took, so the lock frees itself, but nobody learns of
 * the death (no IPC_SYNC_CAP_ROBUST: ipc_mutex_consistent is IPC_ENOTSUP)
 * and no owner is recorded: an unlock of a mutex that is not locked is
 * refused, one by another process than the holder is not. Values stop at
 * SEMVMX (32767). Waits use semtimedop with the time left (Linux; EINTR
 * retried against the deadline). The creator's close removes the set for
 * everyone: waiters then get IPC_ECLOSED.
 */

#define SYSV_SEMVMX 32767

union sysv_semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

static int sysv_nsems(ipc_sync_kind kind)
{
    return kind == IPC_SYNC_MUTEX ? 2 : 1;
}

static ipc_err sysv_key(const struct ipc_addr *addr, key_t *key)
{
    const char *p = addr->path;
    size_t n = strlen(p);
    if (n < 3 || n > 10 || p[0] != '0' || (p[1] != 'x' && p[1] != 'X') ||
        strspn(p + 2, "0123456789abcdefABCDEF") != n - 2)
        return ipc__fail(IPC_EINVAL,
                         "sysv: \"%s\": a key is 0x and 1 to 8 "
                         "hex digits",
                         p);
    unsigned long v = strtoul(p + 2, NULL, 16);
    if (v == 0)
        return ipc__fail(IPC_EINVAL, "sysv: key 0 is IPC_PRIVATE");
    *key = (key_t)(uint32_t)v;
    return IPC_OK;
}

static ipc_err sysv_removed(void)
{
    return ipc__fail(IPC_ECLOSED, "sysv: the semaphore set was removed");
}

/* One semop on semaphore 0 until the deadline: op -1 waits, +1 never. */
static ipc_err sysv_op(struct ipc_sync *s, short op, short flg,
                       const struct ipc_deadline *dl)
{
    struct sembuf sb = {.sem_num = 0, .sem_op = op, .sem_flg = flg};
    for (;;) {
        struct timespec left, *lp = NULL;
        if (dl->nonblock) {
            sb.sem_flg |= IPC_NOWAIT;
        } else if (dl->at_ns != INT64_MAX) {
            int64_t ns = dl->at_ns - ipc__now_ns();
            if (ns < 0)
                ns = 0;
            left.tv_sec = (time_t)(ns / 1000000000);
            left.tv_nsec = (long)(ns % 1000000000);
            lp = &left;
        }
        if (semtimedop(s->u.sv.semid, &sb, 1, lp) == 0)
            return IPC_OK;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return ipc__deadline_err(dl);
        if (errno == ERANGE)
            return ipc__fail(IPC_ELIMIT, "sysv: value at SEMVMX (%d)",
                             SYSV_SEMVMX);
        if (errno == EIDRM || errno == EINVAL)
            return sysv_removed();
        return ipc__errno(errno, "sysv: semop");
    }
}

/* The creator's part: values, then the first semop that opens it. */
static ipc_err sysv_init(struct ipc_sync *s, unsigned init)
{
    union sysv_semun arg = {.val = (int)init + 1};
    struct ipc_deadline now = {.at_ns = 0, .nonblock = true};
    if (semctl(s->u.sv.semid, 0, SETVAL, arg) != 0)
        return ipc__errno(errno, "sysv: SETVAL");
    return sysv_op(s, -1, 0, &now);
}

/* An opener's part: the right kind, made in full (within the deadline). */
static ipc_err sysv_ready(struct ipc_sync *s, bool mine_only,
                          const struct ipc_deadline *dl)
{
    long nap_ns = 50000;
    for (;;) {
        struct semid_ds ds;
        union sysv_semun arg = {.buf = &ds};
        if (semctl(s->u.sv.semid, 0, IPC_STAT, arg) != 0)
            return errno == EIDRM || errno == EINVAL
                       ? sysv_removed()
                       : ipc__errno(errno, "sysv: IPC_STAT");
        if (ds.sem_nsems != (unsigned long)sysv_nsems(s->kind))
            return ipc__fail(IPC_EPROTO,
                             "sysv: this set (%lu semaphores) "
                             "is no libipc %s",
                             (unsigned long)ds.sem_nsems,
                             ipc__sync_kind_name(s->kind));
        /* IPC_F_CREATE opens only a set of the caller's uid or root's. */
        if (mine_only && ds.sem_perm.uid != geteuid() && ds.sem_perm.uid != 0)
            return ipc__fail(IPC_EACCES,
                             "sysv: the set belongs to uid %u, "
                             "not to the caller",
                             (unsigned)ds.sem_perm.uid);
        if (ds.sem_otime != 0)
            return IPC_OK;
        ipc_err err = ipc__nap(dl, &nap_ns);
        if (err != IPC_OK)
            return ipc__fail(err, "sysv: the set's creator has not finished "
                                  "making it (died?)");
    }
}

static ipc_err sysv_open(struct ipc_sync *s, const struct ipc_addr *addr,
                         unsigned flags, unsigned init,
                         const struct ipc_deadline *dl)
{
    key_t key = 0; /* set when sysv_key succeeds; gcc -O2 cannot see it */
    ipc_err err = sysv_key(addr, &key);
    if (err != IPC_OK)
        return err;
    s->u.sv.semid = -1;
    if (s->kind == IPC_SYNC_MUTEX)
        init = 1;
    if ((flags & IPC_F_CREATE) && init >= SYSV_SEMVMX)
        return ipc__fail(IPC_EINVAL, "sysv: value %u, SEMVMX is %d", init,
                         SYSV_SEMVMX);
    int mode = (int)ipc__addr_get(addr, IPC_KEY_MODE, 0600);
    int nsems = sysv_nsems(s->kind);
    if (flags & IPC_F_CREATE) {
        if (flags & IPC_F_REPLACE)
            (void)semctl(semget(key, 0, 0), 0, IPC_RMID);
        s->u.sv.semid = semget(key, nsems, IPC_CREAT | IPC_EXCL | mode);
        if (s->u.sv.semid >= 0) {
            s->owner = true;
            return sysv_init(s, init);
        }
        if (errno != EEXIST || (flags & IPC_F_EXCL))
            return ipc__errno(errno, "sysv: create key 0x%x", (unsigned)key);
    }
    s->u.sv.semid = semget(key, 0, 0);
    if (s->u.sv.semid < 0)
        return ipc__errno(errno, "sysv: open key 0x%x", (unsigned)key);
    return sysv_ready(s, flags & IPC_F_CREATE, dl);
}

static void sysv_close(struct ipc_sync *s)
{
    if (s->owner && s->u.sv.semid >= 0)
        (void)semctl(s->u.sv.semid, 0, IPC_RMID);
    s->u.sv.semid = -1;
}

static ipc_err sysv_unlink(const struct ipc_addr *addr)
{
    key_t key = 0; /* set when sysv_key succeeds; gcc -O2 cannot see it */
    ipc_err err = sysv_key(addr, &key);
    if (err != IPC_OK)
        return err;
    int id = semget(key, 0, 0);
    if (id < 0 || semctl(id, 0, IPC_RMID) != 0)
        return ipc__errno(errno, "sysv: remove key 0x%x", (unsigned)key);
    return IPC_OK;
}

static ipc_err sysv_value(struct ipc_sync *s, unsigned *value)
{
    int v = semctl(s->u.sv.semid, 0, GETVAL);
    if (v < 0)
        return errno == EIDRM || errno == EINVAL
                   ? sysv_removed()
                   : ipc__errno(errno, "sysv: GETVAL");
    *value = (unsigned)v;
    return IPC_OK;
}

static ipc_err sysv_sem_wait(struct ipc_sync *s, int timeout_ms)
{
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    return sysv_op(s, -1, 0, &dl);
}

static ipc_err sysv_sem_post(struct ipc_sync *s)
{
    struct ipc_deadline now = {.at_ns = 0, .nonblock = true};
    return sysv_op(s, 1, 0, &now);
}

static ipc_err sysv_lock(struct ipc_sync *s, int timeout_ms)
{
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    return sysv_op(s, -1, SEM_UNDO, &dl);
}

static ipc_err sysv_unlock(struct ipc_sync *s)
{
    unsigned v = 0;
    ipc_err err = sysv_value(s, &v);
    if (err != IPC_OK)
        return err;
    if (v != 0)
        return ipc__fail(IPC_ENOTOWNER, "sysv: the mutex is not locked");
    struct ipc_deadline now = {.at_ns = 0, .nonblock = true};
    return sysv_op(s, 1, SEM_UNDO, &now);
}

const struct ipc__sync_mech ipc__sync_sysv = {
    .scheme = "sysv",
    .caps = {[IPC_SYNC_MUTEX] = IPC_SYNC_CAP_SUPPORTED | IPC_SYNC_CAP_TIMED |
                                IPC_SYNC_CAP_UNDO,
             [IPC_SYNC_SEM] = IPC_SYNC_CAP_SUPPORTED | IPC_SYNC_CAP_TIMED},
    .name_max = 10,
    .open = sysv_open,
    .close = sysv_close,
    .unlink = sysv_unlink,
    .lock = sysv_lock,
    .unlock = sysv_unlock,
    .sem_wait = sysv_sem_wait,
    .sem_post = sysv_sem_post,
    .sem_value = sysv_value,
};
