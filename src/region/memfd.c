/* SPDX-License-Identifier: MIT */
/* memfd: regions: anonymous, sealed memory for a parent and its children
 * (Linux only: memfd_create and file seals). */
#include "region/region_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h> /* memfd_create, MFD_* (glibc 2.27) */
#include <unistd.h>

#if defined(__linux__) && defined(MFD_ALLOW_SEALING) && defined(F_ADD_SEALS)

/*
 * Seals make the size a fact nobody can change: F_SEAL_SHRINK and
 * F_SEAL_GROW, then F_SEAL_SEAL so that no holder can take them back. A
 * process given the descriptor can therefore map all of it without fear of
 * SIGBUS, which is what named shm: cannot promise. An adopter refuses a
 * descriptor without those seals.
 */
#define MEMFD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

static ipc_err memfd_pair(struct ipc_region *r, unsigned flags, size_t size)
{
    (void)flags;
    int fd = memfd_create("ipc-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return ipc__errno(errno, "memfd: memfd_create");
    r->fd = fd;
    ipc_err err = ipc__region_reserve(fd, size, "memfd", "a pair");
    if (err != IPC_OK)
        return err;
    if (fcntl(fd, F_ADD_SEALS, MEMFD_SEALS | F_SEAL_SEAL) < 0)
        return ipc__errno(errno, "memfd: seal");
    r->map_size = r->size = size;
    return ipc__region_map(r, "memfd", "a pair");
}

/* Adopt "memfd:?fd=N[&size=S]": an inherited descriptor, checked. */
static ipc_err memfd_adopt(struct ipc_region *r, const struct ipc_addr *addr,
                           unsigned flags, size_t size, mode_t mode,
                           const struct ipc_deadline *dl)
{
    (void)mode;
    (void)dl;
    struct stat st;
    if (flags & IPC_F_CREATE)
        return ipc__fail(IPC_EINVAL, "memfd: nothing to create: make a pair "
                                     "with ipc_region_pair(\"memfd:\")");
    if (!(addr->keys_set & IPC_KEYBIT(IPC_KEY_FD)))
        return ipc__fail(IPC_EINVAL, "memfd: adopt with \"memfd:?fd=N\" (as "
                                     "ipc_region_address gives it)");
    int fd = (int)addr->val[IPC_KEY_FD];
    if (fcntl(fd, F_GETFD) < 0)
        return ipc__fail(IPC_EINVAL, "memfd: fd %d is not open here", fd);
    ipc_err err = ipc__region_trust(fd, "memfd", "the descriptor", &st);
    if (err != IPC_OK)
        return err;
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & MEMFD_SEALS) != MEMFD_SEALS)
        return ipc__fail(IPC_EPROTO,
                         "memfd: fd %d is not a memfd sealed against "
                         "resizing: a peer could truncate it under us",
                         fd);
    err = ipc__region_size_check((uint64_t)st.st_size, size, "memfd",
                                 "the descriptor");
    if (err != IPC_OK)
        return err;
    if (st.st_size == 0)
        return ipc__fail(IPC_EINVAL, "memfd: fd %d is empty", fd);
    /* Ours from here on: closed with the region, close-on-exec unless
     * IPC_F_INHERIT asks again. */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return ipc__errno(errno, "memfd: set FD_CLOEXEC");
    r->fd = fd;
    r->map_size = r->size = (size_t)st.st_size;
    return ipc__region_map(r, "memfd", "the descriptor");
}

const struct ipc_region_mech ipc__region_memfd = {
    .scheme = "memfd",
    .caps =
        IPC_REGION_CAP_PAIR | IPC_REGION_CAP_SEALED | IPC_REGION_CAP_INHERIT,
    .keys = IPC_KEYBIT(IPC_KEY_FD) | IPC_KEYBIT(IPC_KEY_SIZE),
    .name_max = 0,
    .open = memfd_adopt,
    .pair = memfd_pair,
};

#else

const struct ipc_region_mech ipc__region_memfd = {
    .scheme = "memfd",
    .built_out = "memfd_create and file seals are Linux only",
};

#endif
