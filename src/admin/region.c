/* SPDX-License-Identifier: MIT */
/* admin: probes of regions and sync objects: shm: regions and the futex
 * objects inside them (by the region's own locks), POSIX named semaphores
 * (by who maps them) and SysV semaphore sets. Linux only. */
#include "admin_int.h"
#include "region/region_int.h"
#include "sync/sync_int.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <unistd.h>

/* The region's lock bytes (region/shm.c): byte 0 write-locked by its
 * creator until ready, byte 1 read-locked by every open handle. */
#define ADMIN_LOCK_MAKING 0
#define ADMIN_LOCK_USE    1

/* Does anyone hold a lock on byte that conflicts with type? OFD locks
 * report no pid, so this says only whether. -1: cannot tell. */
static int admin_locked(int fd, short type, off_t byte)
{
    struct flock fl = {
        .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return -1;
    return fl.l_type != F_UNLCK;
}

/* A sync object's region: its kind, from the object after the header. */
static void admin_sync_type(int fd, const struct stat *st, ipc_object *o)
{
    unsigned char bytes[IPC_SYNC_SIZE];
    size_t size = 0;
    if (st->st_size < (off_t)(IPC_REGION_HDR_SIZE + IPC_SYNC_SIZE) ||
        pread(fd, bytes, sizeof bytes, IPC_REGION_HDR_SIZE) !=
            (ssize_t)sizeof bytes)
        return;
    int kind = ipc__sync_futex_peek(bytes, sizeof bytes, &size);
    /* A barrier's region holds its party table too: the size must match. */
    if (kind >= 0 && st->st_size == (off_t)(IPC_REGION_HDR_SIZE + size)) {
        o->kind = IPC_OBJ_SYNC;
        o->type = ipc__sync_kind_name((ipc_sync_kind)kind);
    }
}

/* A complete region or sync object: in use while a handle holds byte 1. */
static void admin_region_use(const struct ipc__census *c, int fd,
                             const struct stat *st, ipc_object *o)
{
    bool maybe;
    o->user = ipc__census_holder(c, st->st_dev, st->st_ino, st, &maybe);
    int used = admin_locked(fd, F_WRLCK, ADMIN_LOCK_USE);
    if (used != 0) {
        o->state = used > 0 ? IPC_OBJ_LIVE : IPC_OBJ_UNKNOWN;
        snprintf(o->why, sizeof o->why, "%s",
                 used < 0 ? "its locks cannot be read"
                          : "a handle has it open");
    } else if (o->kind == IPC_OBJ_SYNC) {
        /* Its creator's close removes the name: only a crash leaves one
         * that nobody has open. */
        o->user = 0;
        o->state = IPC_OBJ_STALE;
        snprintf(o->why, sizeof o->why, "no handle has it open");
    } else {
        o->user = 0;
        snprintf(o->why, sizeof o->why,
                 "no handle has it open; regions outlive their users by "
                 "design (rm --force removes it)");
    }
}

/* Classify the object behind fd and fill *o; IPC_EPROTO if not a region. */
static ipc_err admin_region_fill(const struct ipc__census *c, int fd,
                                 const char *name, ipc_object *o)
{
    struct stat st;
    unsigned char bytes[IPC_REGION_HDR_BYTES];
    struct ipc__region_hdr hdr;
    char why[160] = "";
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return ipc__fail(IPC_EPROTO, "shm: %s is not a libipc region", name);
    ssize_t n = pread(fd, bytes, sizeof bytes, 0);
    enum ipc__region_kind kind =
        ipc__region_hdr_decode(bytes, n < 0 ? 0 : (size_t)n,
                               (uint64_t)st.st_size, &hdr, why, sizeof why);
    if (kind == IPC_REGION_OBJ_BAD || kind == IPC_REGION_OBJ_BLANK)
        return ipc__fail(IPC_EPROTO, "shm: %s is not a libipc region%s%s", name,
                         *why ? ": " : "", why);
    o->kind = IPC_OBJ_REGION;
    o->uid = st.st_uid;
    o->gid = st.st_gid;
    o->mode = st.st_mode & 0777;
    o->size = (long long)st.st_size;
    o->creator = (pid_t)hdr.creator_pid;
    /* The header records no start time: a reused pid reads as alive,
     * which errs on the safe side. */
    int gone = ipc__proc_gone(hdr.creator_pid, 0, 0);
    o->creator_alive = gone < 0 ? -1 : !gone;
    if (kind == IPC_REGION_OBJ_READY) {
        admin_sync_type(fd, &st, o);
        admin_region_use(c, fd, &st, o);
        return IPC_OK;
    }
    int making = admin_locked(fd, F_RDLCK, ADMIN_LOCK_MAKING);
    o->state = making == 0  ? IPC_OBJ_STALE
               : making > 0 ? IPC_OBJ_LIVE
                            : IPC_OBJ_UNKNOWN;
    snprintf(o->why, sizeof o->why, "half made; its creator %s",
             making == 0  ? "died before it was ready"
             : making > 0 ? "is making it"
                          : "cannot be judged (locks unreadable)");
    return IPC_OK;
}

ipc_err ipc__probe_region(const struct ipc__census *c, const char *name,
                          ipc_object *o)
{
    ipc__object_init(o, "shm", "shm:%s", name);
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0)
        return ipc__errno(errno, "shm: %s", name);
    ipc_err err = admin_region_fill(c, fd, name, o);
    close(fd);
    return err;
}

/* --------------------------------------------------- POSIX semaphores */

/* glibc keeps "sem:/x" as /dev/shm/sem.x, a file of one sem_t that
 * sem_open maps and closes: its users are found by their mappings. */
ipc_err ipc__probe_sem(const struct ipc__census *c, const char *name,
                       ipc_object *o)
{
    ipc__object_init(o, "sem", "sem:%s", name);
    o->kind = IPC_OBJ_SYNC;
    o->type = "semaphore";
    char path[IPC_OBJECT_ADDRESS_MAX + 16];
    struct stat st;
    if (name[0] != '/' || strchr(name + 1, '/'))
        return ipc__fail(IPC_EINVAL,
                         "sem: \"%s\": a name is one slash then "
                         "no other",
                         name);
    snprintf(path, sizeof path, "/dev/shm/" IPC_SEM_SHM_PREFIX "%s", name + 1);
    if (lstat(path, &st) < 0)
        return ipc__errno(errno, "sem: %s", name);
    if (!S_ISREG(st.st_mode) || st.st_size != (off_t)sizeof(sem_t))
        return ipc__fail(IPC_EPROTO, "sem: %s is not a POSIX semaphore", path);
    o->uid = st.st_uid;
    o->gid = st.st_gid;
    o->mode = st.st_mode & 0777;
    o->size = (long long)st.st_size;
    ipc__judge_holders(c, &st, o);
    return IPC_OK;
}

/* --------------------------------------------------- SysV semaphore sets */

union admin_semun {
    int val;
    struct semid_ds *buf;
};

ipc_err ipc__probe_semset(key_t key, ipc_object *o)
{
    ipc__object_init(o, "sysv", "sysv:0x%08x", (unsigned)key);
    o->kind = IPC_OBJ_SYNC;
    o->type = "set";
    int id = semget(key, 0, 0);
    if (id < 0)
        return errno == ENOENT ? ipc__fail(IPC_ENOENT,
                                           "sysv: no semaphore set with key "
                                           "0x%08x",
                                           (unsigned)key)
                               : ipc__errno(errno, "sysv: semget key 0x%08x",
                                            (unsigned)key);
    struct semid_ds ds;
    union admin_semun arg = {.buf = &ds};
    /* IPC_STAT needs read permission; without it only the key is known. */
    if (semctl(id, 0, IPC_STAT, arg) == 0) {
        o->uid = ds.sem_perm.uid;
        o->gid = ds.sem_perm.gid;
        o->mode = ds.sem_perm.mode & 0777;
        /* libipc's sets (sync/sysv.c): a semaphore is a set of one, a
         * mutex a set of two. */
        o->type = ds.sem_nsems == 1   ? "semaphore"
                  : ds.sem_nsems == 2 ? "mutex"
                                      : "set";
        int last = semctl(id, 0, GETPID); /* the last semop's process */
        o->user = last > 0 ? (pid_t)last : 0;
    }
    snprintf(o->why, sizeof o->why,
             "a SysV semaphore set records neither its creator nor its "
             "users");
    return IPC_OK;
}

/* ------------------------------------------------------------ dispatch */

ipc_err ipc__probe_shm(const struct ipc__census *c, const char *name,
                       ipc_object *o)
{
    ipc_err err = ipc__probe_ring(name, o);
    if (err == IPC_EPROTO)
        err = ipc__probe_region(c, name, o);
    /* A semaphore's file has no header; a region named "/sem.x" has. */
    size_t pre = sizeof IPC_SEM_SHM_PREFIX - 1;
    if (err == IPC_EPROTO &&
        strncmp(name + 1, IPC_SEM_SHM_PREFIX, pre) == 0 && name[1 + pre]) {
        char sem[NAME_MAX + 2];
        snprintf(sem, sizeof sem, "/%s", name + 1 + pre);
        err = ipc__probe_sem(c, sem, o);
    }
    return err;
}
