/* SPDX-License-Identifier: MIT */
/* sem: POSIX named semaphores (sem_open): semaphores only. */
#include "sync/sync_int.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sysmacros.h> /* makedev */
#endif

/*
 * "sem:/name": one slash, then a name without slashes (POSIX leaves other
 * forms implementation-defined). glibc makes the semaphore as a file in
 * /dev/shm under a temporary name and links it into place, so an opener
 * never sees a half-made one: no wait is needed. The file is made with the
 * umask applied, so on Linux the creator sets the exact mode after (the
 * mode can only be narrower meanwhile, never wider). Waits use
 * sem_clockwait on CLOCK_MONOTONIC (glibc 2.30). No owner death (nothing
 * is held), no undo, nothing to poll.
 */

static ipc_err posix_name(const struct ipc_addr *addr)
{
    if (addr->path[0] != '/' || strchr(addr->path + 1, '/') ||
        addr->path[1] == '\0')
        return ipc__fail(IPC_EINVAL,
                         "sem: \"%s\": a name is one slash "
                         "then no other",
                         addr->path);
    return IPC_OK;
}

/* The exact mode, whatever the umask (Linux keeps the file here). */
static ipc_err posix_chmod(const char *name, mode_t mode)
{
#ifdef __linux__
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/" IPC_SEM_SHM_PREFIX "%s", name + 1);
    if (chmod(path, mode) != 0)
        return ipc__errno(errno, "sem: chmod %s", path);
#else
    (void)name, (void)mode;
#endif
    return IPC_OK;
}

#ifdef __linux__
/* The device and inode of the file mapped at addr (glibc and musl map a
 * named semaphore's file whole and return the mapping's start). */
static bool posix_mapped_file(const void *addr, dev_t *dev, ino_t *ino)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[512];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, inode;
        unsigned maj, min;
        if (sscanf(line, "%lx-%lx %*s %*x %x:%x %lu", &lo, &hi, &maj, &min,
                   &inode) == 5 &&
            (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
            *dev = makedev(maj, min);
            *ino = (ino_t)inode;
            found = inode != 0;
        }
    }
    if (f)
        fclose(f);
    return found;
}
#endif

/* The create failed after sem_open made the semaphore: remove the name,
 * but only while it still names the file this call made (another process
 * may have removed ours and made its own there meanwhile). errno and the
 * detail of the failure are kept. */
static void posix_unmake(sem_t *sem, const char *name)
{
#ifdef __linux__
    int saved = errno;
    char path[300];
    struct stat st;
    dev_t dev;
    ino_t ino;
    snprintf(path, sizeof path, "/dev/shm/" IPC_SEM_SHM_PREFIX "%s", name + 1);
    if (posix_mapped_file(sem, &dev, &ino) && stat(path, &st) == 0 &&
        st.st_dev == dev && st.st_ino == ino)
        (void)sem_unlink(name);
    errno = saved;
#else
    (void)sem;
    (void)sem_unlink(name); /* no identity to check: nothing better */
#endif
}

/* IPC_F_CREATE opens an existing semaphore only when the caller's uid or
 * root owns it (ipc.h; as regions do): a name squatted by another user is
 * refused. */
static ipc_err posix_check_owner(const char *name)
{
#ifdef __linux__
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/" IPC_SEM_SHM_PREFIX "%s", name + 1);
    if (stat(path, &st) == 0 && st.st_uid != geteuid() && st.st_uid != 0)
        return ipc__fail(IPC_EACCES,
                         "sem: %s belongs to uid %u, not to "
                         "the caller",
                         name, (unsigned)st.st_uid);
#else
    (void)name;
#endif
    return IPC_OK;
}

static ipc_err posix_open(struct ipc_sync *s, const struct ipc_addr *addr,
                          unsigned flags, unsigned init,
                          const struct ipc_deadline *dl)
{
    (void)dl;
    ipc_err err = posix_name(addr);
    if (err != IPC_OK)
        return err;
    mode_t mode = (mode_t)ipc__addr_get(addr, IPC_KEY_MODE, 0600);
    /* The frontend checked path_len <= name_max < sizeof name. */
    memcpy(s->u.px.name, addr->path, addr->path_len + 1);
    sem_t *sem = SEM_FAILED;
    if (flags & IPC_F_CREATE) {
        /* A semaphore cannot tell a live user from a stale one: replace
         * removes whatever is there. */
        if (flags & IPC_F_REPLACE)
            (void)sem_unlink(addr->path);
        sem = sem_open(addr->path, O_CREAT | O_EXCL, mode, init);
        if (sem != SEM_FAILED) {
            s->owner = true;
            s->u.px.sem = sem;
            err = posix_chmod(addr->path, mode);
            if (err != IPC_OK)
                posix_unmake(sem, addr->path);
            return err;
        }
        if (errno != EEXIST || (flags & IPC_F_EXCL))
            return ipc__errno(errno, "sem: create %s", addr->path);
        if ((err = posix_check_owner(addr->path)) != IPC_OK)
            return err;
    }
    sem = sem_open(addr->path, 0);
    if (sem == SEM_FAILED)
        return ipc__errno(errno, "sem: open %s", addr->path);
    s->u.px.sem = sem;
    return IPC_OK;
}

static void px_close(struct ipc_sync *s)
{
    if (!s->u.px.sem)
        return;
    sem_close(s->u.px.sem);
    if (s->owner)
        (void)sem_unlink(s->u.px.name);
    s->u.px.sem = NULL;
}

static ipc_err posix_unlink(const struct ipc_addr *addr)
{
    ipc_err err = posix_name(addr);
    if (err == IPC_OK && sem_unlink(addr->path) != 0)
        err = ipc__errno(errno, "sem: unlink %s", addr->path);
    return err;
}

static int posix_wait_once(sem_t *sem, const struct ipc_deadline *dl)
{
    if (dl->nonblock)
        return sem_trywait(sem);
    if (dl->at_ns == INT64_MAX)
        return sem_wait(sem);
#if IPC_HAVE_SEM_CLOCKWAIT
    struct timespec ts = {.tv_sec = (time_t)(dl->at_ns / 1000000000),
                          .tv_nsec = (long)(dl->at_ns % 1000000000)};
    return sem_clockwait(sem, CLOCK_MONOTONIC, &ts);
#else
    /* No sem_clockwait (musl): sem_timedwait takes CLOCK_REALTIME, so wait
     * in slices of at most 50 ms; a wall-clock jump then costs a slice at
     * most, and the monotonic deadline decides (posix_wait). */
    struct ipc_deadline slice = *dl;
    int64_t cap = ipc__now_ns() + 50000000;
    if (slice.at_ns > cap)
        slice.at_ns = cap;
    struct timespec ts;
    ipc__deadline_realtime(&slice, &ts);
    return sem_timedwait(sem, &ts);
#endif
}

static ipc_err posix_wait(struct ipc_sync *s, int timeout_ms)
{
    /* A count to take: no clock read (sem_trywait stays in user space). */
    if (timeout_ms != 0 && sem_trywait(s->u.px.sem) == 0)
        return IPC_OK;
    struct ipc_deadline deadline;
    const struct ipc_deadline *dl = &deadline;
    ipc__deadline_init(&deadline, timeout_ms);
    for (;;) {
        if (posix_wait_once(s->u.px.sem, dl) == 0)
            return IPC_OK;
        if (errno == EINTR)
            continue;
        if (errno == ETIMEDOUT && !ipc__deadline_expired(dl))
            continue; /* a slice (or the wall clock) ended early */
        if (errno == EAGAIN || errno == ETIMEDOUT)
            return ipc__deadline_err(dl);
        return ipc__errno(errno, "sem: wait");
    }
}

static ipc_err posix_post(struct ipc_sync *s)
{
    if (sem_post(s->u.px.sem) == 0)
        return IPC_OK;
    if (errno == EOVERFLOW)
        return ipc__fail(IPC_ELIMIT, "sem: the value is at SEM_VALUE_MAX");
    return ipc__errno(errno, "sem: post");
}

static ipc_err posix_value(struct ipc_sync *s, unsigned *value)
{
    int v;
    if (sem_getvalue(s->u.px.sem, &v) != 0)
        return ipc__errno(errno, "sem: getvalue");
    *value = v < 0 ? 0 : (unsigned)v; /* some systems count waiters < 0 */
    return IPC_OK;
}

const struct ipc__sync_mech ipc__sync_posix = {
    .scheme = "sem",
    .caps = {[IPC_SYNC_SEM] = IPC_SYNC_CAP_SUPPORTED | IPC_SYNC_CAP_TIMED},
    .name_max = 250, /* NAME_MAX less glibc's "sem." prefix */
    .open = posix_open,
    .close = px_close,
    .unlink = posix_unlink,
    .sem_wait = posix_wait,
    .sem_post = posix_post,
    .sem_value = posix_value,
};
