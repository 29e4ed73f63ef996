/* SPDX-License-Identifier: MIT */
/* file:/path regions: memory-mapped files, raw contents, no header. */
#include "os.h"
#include "region/region_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * A file: region is the file's bytes, nothing added: an existing data file
 * maps as it is, and a region made here is an ordinary file afterwards.
 *
 * Creation never shows a half-made file: the file is made with no name
 * (O_TMPFILE, Linux 3.11, on file systems that support it; elsewhere a
 * hidden name ".<name>.ipc-<pid>-<n>" in the same directory), given its
 * exact mode and every block (posix_fallocate), and only then linked to
 * its name: link(2) fails if the name exists, so of N racing creators
 * exactly one wins and the others open its complete file. IPC_F_REPLACE
 * renames over the old file instead (atomic). A creator killed before the
 * link leaves nothing (O_TMPFILE), or its hidden file (the fallback).
 *
 * No opener ever waits, so the timeout is unused.
 */

static unsigned file_tmp_counter;

/* The directory of path, into dir[] ("." for a bare name). */
static ipc_err file_dir(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return snprintf(dir, size, ".") < 0 ? IPC_EINVAL : IPC_OK;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= size || slash[1] == '\0')
        return ipc__fail(IPC_EINVAL, "file: \"%s\" names no file", path);
    memcpy(dir, path, n);
    dir[n] = '\0';
    return IPC_OK;
}

/* A nameless file in dir (O_TMPFILE), or with named (or where O_TMPFILE
 * is missing) a hidden named one: *tmp holds its name then, else "". */
static int file_make_tmp(const char *path, const char *dir, mode_t mode,
                         bool named, char *tmp, size_t tmp_size)
{
    tmp[0] = '\0';
#ifdef O_TMPFILE
    if (!named) {
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
        if (fd >= 0 ||
            (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
            return fd;
    }
#endif
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    unsigned n = __atomic_fetch_add(&file_tmp_counter, 1, __ATOMIC_RELAXED);
    if (snprintf(tmp, tmp_size, "%s/.%s.ipc-%ld-%u", dir, base, (long)getpid(),
                 n) >= (int)tmp_size) {
        tmp[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    return open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
}

/* Give the finished file its name: link (fails on an existing name), or
 * with replace a rename over it. 0 or errno. */
static int file_publish(int fd, const char *tmp, const char *path, bool replace)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (tmp[0] == '\0' && !replace)
        return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0
                   ? errno
                   : 0;
    if (tmp[0] == '\0')
        return EINVAL; /* the caller gives O_TMPFILE files a name first */
    int rc = replace ? rename(tmp, path) : link(tmp, path);
    return rc < 0 ? errno : 0;
}

/* IPC_F_REPLACE never renames over a file of another kind. */
static ipc_err file_replace_ok(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0 || S_ISREG(st.st_mode))
        return IPC_OK;
    return ipc__fail(IPC_EPROTO,
                     "file: %s exists and is not a regular file: never "
                     "replaced",
                     path);
}

static ipc_err file_create(struct ipc_region *r, const char *path,
                           unsigned flags, size_t size, mode_t mode)
{
    char dir[IPC_ADDR_PATH_MAX + 1], tmp[IPC_ADDR_PATH_MAX + 64];
    bool replace = flags & IPC_F_REPLACE;
    ipc_err err = file_dir(path, dir, sizeof dir);
    if (err == IPC_OK && replace)
        err = file_replace_ok(path);
    if (err != IPC_OK)
        return err;
    /* rename() needs a name: replacing takes the hidden named file. */
    int fd = file_make_tmp(path, dir, mode, replace, tmp, sizeof tmp);
    if (fd < 0)
        return ipc__errno(errno, "file: create a file in %s", dir);
    r->fd = fd;
    /* The umask may have narrowed the mode: set it exactly. */
    if (fchmod(fd, mode) < 0)
        err = ipc__errno(errno, "file: fchmod %s", path);
    if (err == IPC_OK)
        err = ipc__region_reserve(fd, size, "file", path);
    r->map_size = r->size = size;
    if (err == IPC_OK)
        err = ipc__region_map(r, "file", path);
    if (err == IPC_OK)
        err = ipc__region_init(r); /* before anyone can open it */
    if (err == IPC_OK)
        IPC_REGION_HOOK("file-made");
    int rc = err == IPC_OK ? file_publish(fd, tmp, path, replace) : 0;
    if (tmp[0] != '\0')
        unlink(tmp);
    if (err != IPC_OK)
        return err;
    if (rc == EEXIST)
        return ipc__fail(IPC_EEXIST, "file: %s exists", path);
    if (rc != 0)
        return ipc__errno(rc, "file: link %s into place", path);
    return IPC_OK;
}

/* Open an existing file and map all of it. */
static ipc_err file_attach(struct ipc_region *r, const char *path, size_t size)
{
    struct stat st;
    int oflags = (r->flags & IPC_F_RDONLY) ? O_RDONLY : O_RDWR;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd =
        open(path, oflags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            return ipc__fail(IPC_EPROTO,
                             "file: %s is a symbolic link: not followed", path);
        return errno == ENOENT
                   ? ipc__fail(IPC_ENOENT, "file: %s does not exist", path)
                   : ipc__errno(errno, "file: open %s", path);
    }
    r->fd = fd;
    ipc_err err = ipc__region_trust(fd, "file", path, &st);
    if (err != IPC_OK)
        return err;
    if (st.st_size == 0)
        return ipc__fail(IPC_EINVAL, "file: %s is empty: nothing to map", path);
    err = ipc__region_size_check((uint64_t)st.st_size, size, "file", path);
    if (err != IPC_OK)
        return err;
    r->map_size = r->size = (size_t)st.st_size;
    return ipc__region_map(r, "file", path);
}

/* Forget a failed attempt's descriptor before the next one. */
static void file_reset(struct ipc_region *r)
{
    if (r->map)
        munmap(r->map, r->map_size);
    r->map = NULL;
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

static ipc_err file_region_open(struct ipc_region *r,
                                const struct ipc_addr *addr, unsigned flags,
                                size_t size, mode_t mode,
                                const struct ipc_deadline *dl)
{
    (void)dl;
    const char *path = addr->path;
    bool create = (flags & IPC_F_CREATE) && size != 0;
    ipc_err err = IPC_OK;
    /* Open first unless told to make a new file: making one reserves all
     * its blocks, wasted if the name then turns out to exist. Bounded:
     * each turn means another process created or removed the file. */
    bool make_first = flags & (IPC_F_EXCL | IPC_F_REPLACE);
    for (int turn = 0; turn < 100; turn++) {
        if (!make_first || !create) {
            err = file_attach(r, path, size);
            if (err != IPC_ENOENT || !create)
                return err;
            file_reset(r);
        }
        err = file_create(r, path, flags, size, mode);
        if (err != IPC_EEXIST || (flags & IPC_F_EXCL))
            return err;
        file_reset(r);
        make_first = false;
    }
    return ipc__fail(
        IPC_EBUSY, "file: %s was created and removed under us 100 times", path);
}

static ipc_err file_region_unlink(const struct ipc_addr *addr)
{
    return ipc__unlink_kind("file", addr->path, S_IFREG, "a regular file");
}

const struct ipc_region_mech ipc__region_file = {
    .scheme = "file",
    .caps =
        IPC_REGION_CAP_NAMED | IPC_REGION_CAP_PERSISTENT | IPC_REGION_CAP_RAW,
    .keys = IPC_KEYBIT(IPC_KEY_MODE) | IPC_KEYBIT(IPC_KEY_SIZE),
    .name_max = IPC_ADDR_PATH_MAX,
    .open = file_region_open,
    .unlink = file_region_unlink,
};
