/* SPDX-License-Identifier: MIT */
/* shm:/name regions: POSIX shared-memory objects with a one-page header. */
#include "region/region_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Why a header. POSIX shm has no rename, so a region cannot be made under a
 * temporary name and linked into place as file: does: the name exists from
 * the creator's first call. The header page tells an opener whether the
 * memory behind the name is complete (the ready word, stored last with
 * release ordering) and how large it is.
 *
 * Who is making it, who uses it: two byte-range locks on the object, taken
 * with open-file-description locks (F_OFD_SETLK, Linux 3.15; elsewhere
 * process locks, which a process opening one region twice would share).
 * The kernel drops them when their holder dies, so they judge death exactly,
 * with no pid to outlive its process:
 *   byte 0, write-locked by the creator from its first step until ready: a
 *     half-made region whose byte 0 is free was abandoned by a dead creator
 *     (IPC_EPROTO at once); one still locked is waited for (a stopped
 *     creator: IPC_ETIMEDOUT at the deadline, naming its pid);
 *   byte 1, read-locked by every open handle: IPC_F_REPLACE removes a
 *     region only while it can write-lock byte 1 (nobody has it open).
 * The creator's first two calls (shm_open, then the locks) leave a moment
 * where the object exists unlocked and empty; a creator killed there leaves
 * an empty object that openers wait for until their deadline, then answer
 * IPC_ETIMEDOUT saying so. A replacer may remove such an object under a
 * creator that is still alive: both creators and openers check, once their
 * locks are held, that the name still leads to their object, and start
 * again if not.
 *
 * Truncation: anybody who may write the object may ftruncate it, and a
 * mapping past the new end raises SIGBUS. Named shm cannot be sealed, so
 * the defence is who may write: the owner's uid (objects we make are 0600
 * unless the address says otherwise) or root. An opener checks the size
 * with fstat against the header before it maps; after that, a peer of the
 * same uid could still shrink it. Use a memfd pair where peers are not
 * trusted.
 */

#define SHM_LOCK_MAKING 0
#define SHM_LOCK_USE    1

#ifdef F_OFD_SETLK
#define SHM_SETLK F_OFD_SETLK
#define SHM_GETLK F_OFD_GETLK
#else
#define SHM_SETLK F_SETLK
#define SHM_GETLK F_GETLK
#endif

/* --------------------------------------------------------------- header */

static uint64_t shm_get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t shm_get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

enum ipc__region_kind ipc__region_hdr_decode(const unsigned char *bytes,
                                             size_t n, uint64_t obj_size,
                                             struct ipc__region_hdr *hdr,
                                             char *why, size_t why_size)
{
    memset(hdr, 0, sizeof *hdr);
    if (n < IPC_REGION_HDR_BYTES || obj_size < IPC_REGION_HDR_BYTES)
        return IPC_REGION_OBJ_BLANK;
    uint64_t magic = shm_get64(bytes);
    if (magic == 0)
        return IPC_REGION_OBJ_BLANK;
    if (magic != IPC_REGION_MAGIC) {
        snprintf(why, why_size, "not a libipc region (magic 0x%016llx)",
                 (unsigned long long)magic);
        return IPC_REGION_OBJ_BAD;
    }
    uint32_t version = shm_get32(bytes + 8);
    uint32_t hdr_size = shm_get32(bytes + 12);
    if (version != IPC_REGION_VERSION || hdr_size != IPC_REGION_HDR_SIZE) {
        snprintf(why, why_size,
                 "region layout version %u with a %u-byte header; this "
                 "library speaks version %u, %u bytes",
                 version, hdr_size, IPC_REGION_VERSION, IPC_REGION_HDR_SIZE);
        return IPC_REGION_OBJ_BAD;
    }
    hdr->creator_pid = shm_get32(bytes + 28);
    uint32_t ready = shm_get32(bytes + 24);
    if (ready == 0)
        return IPC_REGION_OBJ_HALF;
    uint64_t size = shm_get64(bytes + 16);
    if (ready != IPC_REGION_READY) {
        snprintf(why, why_size, "bad ready word 0x%08x", ready);
        return IPC_REGION_OBJ_BAD;
    }
    if (size == 0 || size > obj_size - IPC_REGION_HDR_SIZE ||
        obj_size < IPC_REGION_HDR_SIZE ||
        size != obj_size - IPC_REGION_HDR_SIZE) {
        snprintf(why, why_size,
                 "header says %llu bytes but the object holds %llu after "
                 "its %u-byte header (truncated, or scribbled on)",
                 (unsigned long long)size,
                 obj_size < IPC_REGION_HDR_SIZE
                     ? 0ull
                     : (unsigned long long)(obj_size - IPC_REGION_HDR_SIZE),
                 IPC_REGION_HDR_SIZE);
        return IPC_REGION_OBJ_BAD;
    }
    hdr->size = size;
    return IPC_REGION_OBJ_READY;
}

void ipc__region_hdr_encode(unsigned char *bytes, uint64_t size, uint32_t ready,
                            uint32_t creator_pid)
{
    uint64_t magic = IPC_REGION_MAGIC;
    uint32_t version = IPC_REGION_VERSION, hdr_size = IPC_REGION_HDR_SIZE;
    memcpy(bytes, &magic, 8);
    memcpy(bytes + 8, &version, 4);
    memcpy(bytes + 12, &hdr_size, 4);
    memcpy(bytes + 16, &size, 8);
    memcpy(bytes + 24, &ready, 4);
    memcpy(bytes + 28, &creator_pid, 4);
}

/* ---------------------------------------------------------------- locks */

/* Take a lock without waiting: 0, or the errno (EAGAIN/EACCES: held). */
static int shm_lock(int fd, short type, off_t byte)
{
    struct flock fl = {
        .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    int rc;
    do
        rc = fcntl(fd, SHM_SETLK, &fl);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? errno : 0;
}

static bool shm_lock_busy(int err)
{
    return err == EAGAIN || err == EACCES;
}

/* Does anyone hold a write lock on byte (the creator, on byte 0)? */
static bool shm_write_locked(int fd, off_t byte)
{
    struct flock fl = {
        .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    if (fcntl(fd, SHM_GETLK, &fl) < 0)
        return true; /* cannot tell: treat as at work, wait */
    return fl.l_type != F_UNLCK;
}

/* ---------------------------------------------------------------- names */

static ipc_err shm_check_name(const struct ipc_addr *addr)
{
    const char *p = addr->path;
    if (p[0] != '/' || addr->path_len < 2 || strchr(p + 1, '/') ||
        strcmp(p, "/.") == 0 || strcmp(p, "/..") == 0)
        return ipc__fail(IPC_EINVAL,
                         "shm: a region name is \"/\" then 1 to 254 bytes "
                         "without '/': \"shm:/table\", not \"shm:%s\"",
                         p);
    return IPC_OK;
}

/* Does name still lead to the object open on fd? false when it was
 * removed or replaced meanwhile. */
static bool shm_still_named(int fd, const char *name)
{
    struct stat mine, now;
    int fd2 = shm_open(name, O_RDONLY, 0);
    if (fd2 < 0)
        return errno != ENOENT; /* unreadable for us (mode 0200): trust */
    bool same = fstat(fd, &mine) == 0 && fstat(fd2, &now) == 0 &&
                mine.st_ino == now.st_ino && mine.st_dev == now.st_dev;
    close(fd2);
    return same;
}

/* Read the object's size (into *st) and its header's bytes, and classify
 * it. */
static enum ipc__region_kind shm_classify(int fd, struct stat *st,
                                          struct ipc__region_hdr *hdr,
                                          char *why, size_t why_size)
{
    unsigned char bytes[IPC_REGION_HDR_BYTES];
    ssize_t n;
    if (fstat(fd, st) < 0) {
        snprintf(why, why_size, "fstat: %s", strerror(errno));
        return IPC_REGION_OBJ_BAD;
    }
    do
        n = pread(fd, bytes, sizeof bytes, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        n = 0;
    return ipc__region_hdr_decode(bytes, (size_t)n, (uint64_t)st->st_size, hdr,
                                  why, why_size);
}

/* --------------------------------------------------------------- create */

enum { SHM_MADE, SHM_TAKEN, SHM_LOST };

/* The steps after the name is ours and locked: exact mode, a header
 * naming us, every page, the map, ready. */
static ipc_err shm_build(struct ipc_region *r, const char *name, size_t size,
                         mode_t mode)
{
    unsigned char bytes[IPC_REGION_HDR_BYTES];
    uint64_t total = (uint64_t)IPC_REGION_HDR_SIZE + size;
    /* The umask may have narrowed the mode: set it exactly. */
    if (fchmod(r->fd, mode) < 0)
        return ipc__errno(errno, "shm: fchmod %s", name);
    ipc__region_hdr_encode(bytes, 0, 0, (uint32_t)getpid());
    ssize_t w;
    do
        w = pwrite(r->fd, bytes, sizeof bytes, 0);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof bytes)
        return w < 0 ? ipc__region_no_room(r->fd, errno, total, "shm", name)
                     : ipc__fail(IPC_EIO, "shm: %s: short write", name);
    IPC_REGION_HOOK("shm-locked");
    ipc_err err = ipc__region_reserve(r->fd, total, "shm", name);
    if (err != IPC_OK)
        return err;
    r->map_size = (size_t)total;
    if ((err = ipc__region_map(r, "shm", name)) != IPC_OK)
        return err;
    ipc__region_hdr_encode(r->map, size, 0, (uint32_t)getpid());
    r->offset = IPC_REGION_HDR_SIZE;
    r->size = size;
    if ((err = ipc__region_init(r)) != IPC_OK)
        return err;
    __atomic_store_n((uint32_t *)((unsigned char *)r->map + 24),
                     IPC_REGION_READY, __ATOMIC_RELEASE);
    shm_lock(r->fd, F_UNLCK, SHM_LOCK_MAKING);
    return IPC_OK;
}

static ipc_err shm_create(struct ipc_region *r, const char *name, size_t size,
                          mode_t mode, int *outcome)
{
    *outcome = SHM_TAKEN;
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return errno == EEXIST ? ipc__fail(IPC_EEXIST, "shm: %s exists", name)
                               : ipc__errno(errno, "shm: create %s", name);
    IPC_REGION_HOOK("shm-opened");
    int rc = shm_lock(fd, F_WRLCK, SHM_LOCK_MAKING);
    if (rc == 0)
        rc = shm_lock(fd, F_RDLCK, SHM_LOCK_USE);
    if (rc != 0 || !shm_still_named(fd, name)) {
        /* Removed by a replacer before our locks (see above): try again. */
        close(fd);
        *outcome = SHM_LOST;
        return rc ? ipc__errno(rc, "shm: lock %s", name) : IPC_OK;
    }
    *outcome = SHM_MADE;
    r->fd = fd;
    ipc_err err = shm_build(r, name, size, mode);
    if (err != IPC_OK)
        shm_unlink(name); /* half-made and ours: nobody else may have it */
    return err;
}

/* ----------------------------------------------------------------- open */

/* A not-ready object: wait while its creator works, else say why not. */
static ipc_err shm_not_ready(const char *name, int fd, struct stat *st,
                             enum ipc__region_kind kind,
                             const struct ipc__region_hdr *hdr,
                             const struct ipc_deadline *dl, long *nap)
{
    bool making = shm_write_locked(fd, SHM_LOCK_MAKING);
    if (!making) {
        /* The creator may have finished between our read of the header
         * and the lock test: read again, now that nobody is making it. */
        struct ipc__region_hdr now;
        char why[160];
        if (shm_classify(fd, st, &now, why, sizeof why) == IPC_REGION_OBJ_READY)
            return IPC_OK; /* look again at once */
    }
    if (!making && kind == IPC_REGION_OBJ_HALF)
        return ipc__fail(IPC_EPROTO,
                         "shm: %s: its creator (pid %u) died before it was "
                         "ready (IPC_F_REPLACE or ipc_region_unlink removes "
                         "it)",
                         name, hdr->creator_pid);
    if (!making && st->st_size > 0)
        return ipc__fail(IPC_EPROTO,
                         "shm: %s: not a libipc region (%lld bytes of zeroes "
                         "and nobody making it)",
                         name, (long long)st->st_size);
    if (ipc__nap(dl, nap) == IPC_OK)
        return IPC_OK;
    if (making && kind == IPC_REGION_OBJ_HALF)
        return ipc__fail(ipc__deadline_err(dl),
                         "shm: %s: its creator (pid %u) has not finished it "
                         "within the timeout (stopped, or slow)",
                         name, hdr->creator_pid);
    return ipc__fail(ipc__deadline_err(dl),
                     "shm: %s: still empty at the deadline, and nobody "
                     "making it holds its lock (a creator that died at its "
                     "first step?)",
                     name);
}

/* Map a ready region whose header decoded to hdr. */
static ipc_err shm_use(struct ipc_region *r, int fd, const char *name,
                       const struct ipc__region_hdr *hdr, size_t size)
{
    r->fd = fd;
    ipc_err err = ipc__region_size_check(hdr->size, size, "shm", name);
    if (err != IPC_OK)
        return err;
    r->map_size = (size_t)(hdr->size + IPC_REGION_HDR_SIZE);
    r->offset = IPC_REGION_HDR_SIZE;
    r->size = (size_t)hdr->size;
    return ipc__region_map(r, "shm", name);
}

/* One look at an existing object: IPC_OK with r mapped, IPC_OK with
 * *again set to look again (after a nap, unless the region just became
 * ready), or the error. */
static ipc_err shm_look(struct ipc_region *r, const char *name, size_t size,
                        const struct ipc_deadline *dl, long *nap, bool *again)
{
    struct stat st;
    struct ipc__region_hdr hdr;
    char why[160] = "";
    *again = false;
    int fd = shm_open(name, (r->flags & IPC_F_RDONLY) ? O_RDONLY : O_RDWR, 0);
    if (fd < 0)
        return errno == ENOENT
                   ? ipc__fail(IPC_ENOENT, "shm: %s does not exist", name)
                   : ipc__errno(errno, "shm: open %s", name);
    ipc_err err = ipc__region_trust(fd, "shm", name, &st);
    int rc = err == IPC_OK ? shm_lock(fd, F_RDLCK, SHM_LOCK_USE) : 0;
    if (err == IPC_OK && (shm_lock_busy(rc) || !shm_still_named(fd, name))) {
        close(fd); /* being replaced: look at what replaces it */
        *again = true;
        return ipc__nap(dl, nap) == IPC_OK
                   ? IPC_OK
                   : ipc__fail(ipc__deadline_err(dl),
                               "shm: %s was being replaced until the "
                               "deadline",
                               name);
    }
    if (err == IPC_OK && rc != 0)
        err = ipc__errno(rc, "shm: lock %s", name);
    if (err != IPC_OK) {
        close(fd);
        return err;
    }
    enum ipc__region_kind kind = shm_classify(fd, &st, &hdr, why, sizeof why);
    if (kind == IPC_REGION_OBJ_READY)
        return shm_use(r, fd, name, &hdr, size); /* r owns fd now */
    if (kind == IPC_REGION_OBJ_BAD)
        err = ipc__fail(IPC_EPROTO, "shm: %s: %s", name, why);
    else if ((err = shm_not_ready(name, fd, &st, kind, &hdr, dl, nap)) ==
             IPC_OK)
        *again = true;
    close(fd);
    return err;
}

/* IPC_F_REPLACE: remove a region nobody has open (or a dead creator's),
 * never a live one, never an object that is not a region. */
static ipc_err shm_replace(const char *name)
{
    struct stat st;
    struct ipc__region_hdr hdr;
    char why[160] = "";
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0)
        return errno == ENOENT ? IPC_OK
                               : ipc__errno(errno, "shm: open %s", name);
    ipc_err err = ipc__region_trust(fd, "shm", name, &st);
    if (err == IPC_OK &&
        shm_classify(fd, &st, &hdr, why, sizeof why) == IPC_REGION_OBJ_BAD)
        err = ipc__fail(IPC_EPROTO, "shm: %s: %s: never replaced", name, why);
    if (err == IPC_OK && shm_lock(fd, F_WRLCK, SHM_LOCK_USE) != 0)
        err = ipc__fail(IPC_EBUSY,
                        "shm: %s is open in a process (or being made): "
                        "IPC_F_REPLACE removes only a region nobody uses",
                        name);
    /* Holding byte 1 keeps every other replacer off this object. */
    if (err == IPC_OK && shm_still_named(fd, name) && shm_unlink(name) < 0 &&
        errno != ENOENT)
        err = ipc__errno(errno, "shm: remove %s", name);
    close(fd);
    return err;
}

/* Create, or with IPC_F_REPLACE clear the way and create: IPC_OK with r
 * made, IPC_EEXIST for an existing region to open instead, *retry when the
 * name moved under us, or the error. */
static ipc_err shm_make(struct ipc_region *r, const char *name, unsigned flags,
                        size_t size, mode_t mode, bool *retry)
{
    int outcome;
    *retry = false;
    ipc_err err = shm_create(r, name, size, mode, &outcome);
    if (outcome == SHM_LOST)
        *retry = err == IPC_OK;
    if (outcome != SHM_TAKEN || err != IPC_EEXIST)
        return err;
    if (flags & IPC_F_REPLACE) {
        err = shm_replace(name);
        *retry = err == IPC_OK;
    }
    return err;
}

static ipc_err shm_region_open(struct ipc_region *r,
                               const struct ipc_addr *addr, unsigned flags,
                               size_t size, mode_t mode,
                               const struct ipc_deadline *dl)
{
    const char *name = addr->path;
    bool create = (flags & IPC_F_CREATE) && size != 0, retry;
    long nap = 20000;
    ipc_err err = shm_check_name(addr);
    /* A try is repeated after another process moved: it created, removed
     * or replaced the name between two of our calls; bounded, since each
     * such move is someone else's progress. (shm_look naps itself while a
     * creator works, and counts no move.) */
    unsigned moved = 0;
    while (err == IPC_OK) {
        if (moved == 100)
            return ipc__fail(IPC_EBUSY,
                             "shm: %s was removed or replaced under us 100 "
                             "times in a row",
                             name);
        if (create) {
            err = shm_make(r, name, flags, size, mode, &retry);
            moved += retry;
            if (retry)
                continue;
            if (err != IPC_EEXIST || (flags & IPC_F_EXCL))
                return err;
        }
        err = shm_look(r, name, size, dl, &nap, &retry);
        if (retry && err == IPC_OK)
            continue;
        if (err != IPC_ENOENT || !create)
            return err;
        moved++;
        err = IPC_OK; /* removed since our create failed: create it */
    }
    return err;
}

static ipc_err shm_region_unlink(const struct ipc_addr *addr)
{
    struct stat st;
    struct ipc__region_hdr hdr;
    char why[160] = "";
    const char *name = addr->path;
    ipc_err err = shm_check_name(addr);
    if (err != IPC_OK)
        return err;
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0)
        return errno == ENOENT
                   ? ipc__fail(IPC_ENOENT, "shm: %s does not exist", name)
                   : ipc__errno(errno, "shm: open %s", name);
    if (shm_classify(fd, &st, &hdr, why, sizeof why) == IPC_REGION_OBJ_BAD)
        err = ipc__fail(IPC_EPROTO, "shm: %s: %s: not removed", name, why);
    close(fd);
    if (err == IPC_OK && shm_unlink(name) < 0)
        err = errno == ENOENT
                  ? ipc__fail(IPC_ENOENT, "shm: %s does not exist", name)
                  : ipc__errno(errno, "shm: remove %s", name);
    return err;
}

const struct ipc_region_mech ipc__region_shm = {
    .scheme = "shm",
    .caps = IPC_REGION_CAP_NAMED,
    .keys = IPC_KEYBIT(IPC_KEY_MODE) | IPC_KEYBIT(IPC_KEY_SIZE),
    .name_max = 255,
    .open = shm_region_open,
    .unlink = shm_region_unlink,
};
