/* SPDX-License-Identifier: MIT */
/* Regions, the frontend: argument checks once, dispatch to a mechanism,
 * and the helpers every mechanism shares (reserve, trust, map). */
#include "region/region_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

static const struct ipc_region_mech *const region_mechs[] = {
    &ipc__region_shm, &ipc__region_file, &ipc__region_memfd, NULL};

#define REGION_MODE_DEFAULT 0600

void (*ipc__region_hook)(const char *step);

/* --------------------------------------------------------------- helpers */

ipc_err ipc__region_no_room(int fd, int rc, uint64_t len, const char *scheme,
                            const char *label)
{
    struct statvfs sv;
    unsigned long long avail = 0;
    if (fstatvfs(fd, &sv) == 0)
        avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    const char *where = strcmp(scheme, "file") == 0  ? "its file system"
                        : strcmp(scheme, "shm") == 0 ? "/dev/shm"
                                                     : "shared memory";
    if (rc == ENOSPC || rc == EDQUOT || rc == ENOMEM)
        return ipc__fail(IPC_ELIMIT,
                         "%s: %s: %s cannot hold %llu bytes (%s; %llu bytes "
                         "free)",
                         scheme, label, where, (unsigned long long)len,
                         strerror(rc), avail);
    if (rc == EFBIG)
        return ipc__fail(IPC_ELIMIT,
                         "%s: %s: %llu bytes is over the file size limit "
                         "(RLIMIT_FSIZE, or the largest file %s allows)",
                         scheme, label, (unsigned long long)len, where);
    return ipc__errno(rc, "%s: %s: reserve %llu bytes", scheme, label,
                      (unsigned long long)len);
}

ipc_err ipc__region_reserve(int fd, uint64_t len, const char *scheme,
                            const char *label)
{
    if (len > (uint64_t)INT64_MAX)
        return ipc__fail(IPC_EINVAL, "%s: %s: %llu bytes is too large", scheme,
                         label, (unsigned long long)len);
    int rc;
    do
        rc = posix_fallocate(fd, 0, (off_t)len);
    while (rc == EINTR);
    return rc == 0 ? IPC_OK : ipc__region_no_room(fd, rc, len, scheme, label);
}

ipc_err ipc__region_trust(int fd, const char *scheme, const char *label,
                          struct stat *st)
{
    if (fstat(fd, st) < 0)
        return ipc__errno(errno, "%s: fstat %s", scheme, label);
    if (!S_ISREG(st->st_mode))
        return ipc__fail(IPC_EPROTO, "%s: %s is not a regular file", scheme,
                         label);
    uid_t me = geteuid();
    if (st->st_uid != me && st->st_uid != 0)
        return ipc__fail(IPC_EACCES,
                         "%s: %s is owned by uid %lu, not by us (euid %lu) "
                         "or root: not trusted",
                         scheme, label, (unsigned long)st->st_uid,
                         (unsigned long)me);
    return IPC_OK;
}

ipc_err ipc__region_map(struct ipc_region *r, const char *scheme,
                        const char *label)
{
    int prot = (r->flags & IPC_F_RDONLY) ? PROT_READ : PROT_READ | PROT_WRITE;
    void *p = mmap(NULL, r->map_size, prot, MAP_SHARED, r->fd, 0);
    if (p == MAP_FAILED) {
        if (errno == ENOMEM)
            return ipc__fail(IPC_ELIMIT,
                             "%s: %s: no room for %zu bytes in the address "
                             "space (RLIMIT_AS, vm.max_map_count)",
                             scheme, label, r->map_size);
        return ipc__errno(errno, "%s: mmap %s (%zu bytes)", scheme, label,
                          r->map_size);
    }
    r->map = p;
    return IPC_OK;
}

/* Clear FD_CLOEXEC when flags hold IPC_F_INHERIT. */
static ipc_err region_inherit(int fd, unsigned flags, const char *scheme)
{
    if (!(flags & IPC_F_INHERIT))
        return IPC_OK;
    int fdflags = fcntl(fd, F_GETFD);
    if (fdflags < 0 || fcntl(fd, F_SETFD, fdflags & ~FD_CLOEXEC) < 0)
        return ipc__errno(errno, "%s: clear FD_CLOEXEC", scheme);
    return IPC_OK;
}

ipc_err ipc__region_size_check(uint64_t obj, size_t asked, const char *scheme,
                               const char *label)
{
    if (obj > SIZE_MAX / 2)
        return ipc__fail(IPC_ELIMIT, "%s: %s: %llu bytes cannot be mapped",
                         scheme, label, (unsigned long long)obj);
    if (asked != 0 && asked != obj)
        return ipc__fail(IPC_EINVAL,
                         "%s: %s is %llu bytes, not the %zu asked (sizes are "
                         "fixed at create; 0 takes the region's size)",
                         scheme, label, (unsigned long long)obj, asked);
    return IPC_OK;
}

/* -------------------------------------------------------------- frontend */

static ipc_err region_resolve(const char *address, struct ipc_addr *addr,
                              const struct ipc_region_mech **mech)
{
    ipc_err err = ipc__addr_parse(address, addr);
    if (err != IPC_OK)
        return err;
    for (size_t i = 0; region_mechs[i]; i++) {
        if (strcmp(region_mechs[i]->scheme, addr->scheme) != 0)
            continue;
        *mech = region_mechs[i];
        if ((*mech)->built_out)
            return ipc__fail(IPC_ENOTSUP, "%s: %s", addr->scheme,
                             (*mech)->built_out);
        return IPC_OK;
    }
    return ipc__fail(IPC_EINVAL,
                     "address: \"%s\" is not a region scheme (shm, file, "
                     "memfd)",
                     addr->scheme);
}

/* The common start of open and pair: out checked and cleared, the
 * address parsed and its mechanism found. */
static ipc_err region_begin(const char *call, const char *address,
                            ipc_region **out, struct ipc_addr *addr,
                            const struct ipc_region_mech **mech)
{
    if (!out)
        return ipc__fail(IPC_EINVAL, "%s: out is NULL", call);
    *out = NULL;
    return region_resolve(address, addr, mech);
}

static ipc_err region_check_addr(const struct ipc_region_mech *mech,
                                 const struct ipc_addr *addr, bool named,
                                 size_t *size)
{
    unsigned unknown = addr->keys_set & ~mech->keys;
    for (int k = 0; k < IPC_KEY_COUNT; k++)
        if (unknown & IPC_KEYBIT(k))
            return ipc__fail(IPC_EINVAL, "%s: unknown option \"%s\"",
                             mech->scheme, ipc__key_name((enum ipc__key)k));
    if (named && addr->path_len == 0 &&
        !(addr->keys_set & IPC_KEYBIT(IPC_KEY_FD)))
        return ipc__fail(IPC_EINVAL, "%s: the address needs a name",
                         mech->scheme);
    if (!named && addr->path_len != 0)
        return ipc__fail(IPC_EINVAL, "%s: a pair takes no name (\"%s:\")",
                         mech->scheme, mech->scheme);
    if (addr->path_len > mech->name_max)
        return ipc__fail(IPC_EINVAL, "%s: name is %zu bytes, at most %zu",
                         mech->scheme, addr->path_len, mech->name_max);
    if (addr->keys_set & IPC_KEYBIT(IPC_KEY_SIZE)) {
        uint64_t v = addr->val[IPC_KEY_SIZE];
        if (*size != 0 && v != *size)
            return ipc__fail(IPC_EINVAL,
                             "%s: size=%llu in the address but %zu asked",
                             mech->scheme, (unsigned long long)v, *size);
        if (v > SIZE_MAX / 2)
            return ipc__fail(IPC_EINVAL, "%s: size=%llu is too large",
                             mech->scheme, (unsigned long long)v);
        *size = (size_t)v;
    }
    if (*size > SIZE_MAX / 2)
        return ipc__fail(IPC_EINVAL, "%s: size %zu is too large", mech->scheme,
                         *size);
    return IPC_OK;
}

static ipc_err region_check_flags(unsigned flags)
{
    const unsigned known = IPC_F_CREATE | IPC_F_EXCL | IPC_F_REPLACE |
                           IPC_F_INHERIT | IPC_F_RDONLY;
    if (flags & ~known)
        return ipc__fail(IPC_EINVAL, "flags: bits 0x%x do not apply to regions",
                         flags & ~known);
    if ((flags & (IPC_F_EXCL | IPC_F_REPLACE)) && !(flags & IPC_F_CREATE))
        return ipc__fail(IPC_EINVAL, "flags: IPC_F_EXCL and IPC_F_REPLACE "
                                     "need IPC_F_CREATE");
    if ((flags & IPC_F_RDONLY) && (flags & IPC_F_CREATE))
        return ipc__fail(IPC_EINVAL, "flags: IPC_F_RDONLY cannot create "
                                     "(the creator writes the region)");
    return IPC_OK;
}

static ipc_region *region_alloc(const struct ipc_region_mech *mech,
                                unsigned flags)
{
    ipc_region *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->mech = mech;
    r->flags = flags;
    r->caps = mech->caps;
    r->fd = -1;
    return r;
}

void ipc_region_close(ipc_region *r)
{
    if (!r)
        return;
    if (r->map)
        munmap(r->map, r->map_size);
    if (r->fd >= 0)
        close(r->fd);
    free(r->address);
    free(r);
}

/* Hand a made region out, or release a half-made one. */
static ipc_err region_finish(ipc_region *r, ipc_err err, ipc_region **out)
{
    if (err == IPC_OK)
        err = region_inherit(r->fd, r->flags, r->mech->scheme);
    if (err != IPC_OK) {
        ipc_region_close(r);
        return err;
    }
    *out = r;
    return IPC_OK;
}

ipc_err ipc__region_init(struct ipc_region *r)
{
    if (!r->init)
        return IPC_OK;
    ipc__clear_detail();
    ipc_err err =
        r->init((unsigned char *)r->map + r->offset, r->size, r->init_arg);
    if (err != IPC_OK && ipc_last_detail()[0] == '\0')
        ipc__fail(err, "%s: the init callback failed (%s): region not made",
                  r->mech->scheme, ipc_errname(err));
    return err;
}

ipc_err ipc_region_open(const char *address, unsigned flags, size_t size,
                        int timeout_ms, ipc_region **out)
{
    return ipc_region_open_init(address, flags, size, timeout_ms, NULL, NULL,
                                out);
}

ipc_err ipc_region_open_init(const char *address, unsigned flags, size_t size,
                             int timeout_ms, ipc_region_init_fn init, void *arg,
                             ipc_region **out)
{
    struct ipc_addr addr;
    const struct ipc_region_mech *mech = NULL;
    ipc_err err = region_begin("ipc_region_open", address, out, &addr, &mech);
    if (err != IPC_OK)
        return err;
    if (!mech->open)
        return ipc__fail(IPC_ENOTSUP,
                         "%s: no named regions (use "
                         "ipc_region_pair)",
                         mech->scheme);
    if ((err = region_check_flags(flags)) != IPC_OK ||
        (err = region_check_addr(mech, &addr, true, &size)) != IPC_OK)
        return err;
    ipc_region *r = region_alloc(mech, flags);
    if (!r || !(r->address = strdup(address))) {
        free(r);
        return ipc__fail(IPC_ENOMEM, "%s: out of memory", mech->scheme);
    }
    r->init = init;
    r->init_arg = arg;
    mode_t mode =
        (mode_t)ipc__addr_get(&addr, IPC_KEY_MODE, REGION_MODE_DEFAULT);
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    err = mech->open(r, &addr, flags, size, mode, &dl);
    if (err == IPC_ENOENT && (flags & IPC_F_CREATE) && size == 0)
        err = ipc__fail(IPC_EINVAL,
                        "%s: %s does not exist, and a new region needs a "
                        "size above 0",
                        mech->scheme, addr.path);
    return region_finish(r, err, out);
}

ipc_err ipc_region_pair(const char *address, unsigned flags, size_t size,
                        ipc_region **out)
{
    struct ipc_addr addr;
    const struct ipc_region_mech *mech = NULL;
    ipc_err err = region_begin("ipc_region_pair", address, out, &addr, &mech);
    if (err != IPC_OK)
        return err;
    if (!mech->pair)
        return ipc__fail(IPC_ENOTSUP,
                         "%s: no anonymous regions (use "
                         "\"memfd:\")",
                         mech->scheme);
    if (flags & ~(unsigned)IPC_F_INHERIT)
        return ipc__fail(IPC_EINVAL,
                         "ipc_region_pair: only IPC_F_INHERIT applies");
    if ((err = region_check_addr(mech, &addr, false, &size)) != IPC_OK)
        return err;
    if (size == 0)
        return ipc__fail(IPC_EINVAL, "%s: a region needs a size above 0",
                         mech->scheme);
    ipc_region *r = region_alloc(mech, flags);
    if (!r)
        return ipc__fail(IPC_ENOMEM, "%s: out of memory", mech->scheme);
    return region_finish(r, mech->pair(r, flags, size), out);
}

ipc_err ipc_region_unlink(const char *address)
{
    struct ipc_addr addr;
    const struct ipc_region_mech *mech = NULL;
    ipc_err err = region_resolve(address, &addr, &mech);
    if (err != IPC_OK)
        return err;
    if (!mech->unlink)
        return ipc__fail(IPC_ENOTSUP, "%s: nothing to unlink (no names)",
                         mech->scheme);
    size_t size = 0;
    if ((err = region_check_addr(mech, &addr, true, &size)) != IPC_OK)
        return err;
    return mech->unlink(&addr);
}

void *ipc_region_ptr(const ipc_region *r)
{
    return r ? (unsigned char *)r->map + r->offset : NULL;
}

size_t ipc_region_size(const ipc_region *r)
{
    return r ? r->size : 0;
}

unsigned ipc_region_caps(const ipc_region *r)
{
    return r ? r->caps : 0;
}

ipc_err ipc_region_sync(ipc_region *r)
{
    if (!r)
        return ipc__fail(IPC_EINVAL, "ipc_region_sync: NULL region");
    if (!(r->caps & IPC_REGION_CAP_PERSISTENT))
        return IPC_OK; /* memory is the only copy: nothing to write */
    if (msync(r->map, r->map_size, MS_SYNC) < 0)
        return ipc__errno(errno, "%s: msync %s", r->mech->scheme, r->address);
    return IPC_OK;
}

ipc_err ipc_region_resize(ipc_region *r, size_t size)
{
    (void)size;
    if (!r)
        return ipc__fail(IPC_EINVAL, "ipc_region_resize: NULL region");
    return ipc__fail(IPC_ENOTSUP,
                     "%s: regions keep the size they were made with: peers "
                     "hold pointers into their mappings (make a new region "
                     "and copy)",
                     r->mech->scheme);
}

ipc_err ipc_region_address(const ipc_region *r, char *buf, size_t size)
{
    if (!r || !buf)
        return ipc__fail(IPC_EINVAL, "ipc_region_address: NULL argument");
    /* A pair's address is made afresh: an adopter may have given a
     * shorter one ("memfd:?fd=N"). */
    int n = (r->caps & IPC_REGION_CAP_NAMED)
                ? snprintf(buf, size, "%s", r->address)
                : snprintf(buf, size, "%s:?fd=%d&size=%zu", r->mech->scheme,
                           r->fd, r->size);
    if (n < 0 || (size_t)n >= size)
        return ipc__fail(IPC_EMSGSIZE,
                         "ipc_region_address: needs %d bytes, buffer has %zu",
                         n + 1, size);
    return IPC_OK;
}
