/* SPDX-License-Identifier: MIT */
/* libipc regions: shared memory and memory-mapped files that processes read
 * and write in place. */
#ifndef IPC_REGION_H
#define IPC_REGION_H

#include <ipc/ipc.h>

/*
 * A region is a block of memory of a size fixed when it is made, mapped by
 * every process that opens it. One address string chooses the mechanism:
 *
 *   shm:/name              a POSIX shared-memory object (shm_open). libipc
 *                          keeps one 4096-byte header page in front of the
 *                          memory it hands out (the size, and a ready word
 *                          so that no opener ever maps a half-made region);
 *                          ipc_region_ptr() points past it.
 *   file:/path             a memory-mapped file, raw contents: an existing
 *                          data file maps as it is. Created under no name
 *                          (O_TMPFILE, else a hidden temporary name) and
 *                          linked into place only when complete.
 *   memfd:                 ipc_region_pair() only: an anonymous memfd, sealed
 *                          against shrinking and growing (Linux). A forked
 *                          child uses the mapping it inherits; an exec'd
 *                          child adopts the region by the address
 *                          ipc_region_address() gives: "memfd:?fd=N&size=S".
 *
 * Options as a query: "shm:/table?mode=0640" (the exact mode of a created
 * object, default 0600, never narrowed by the umask), "size=S" (bytes; must
 * agree with the size argument when both are given).
 *
 * Lifetime: a named region lives until ipc_region_unlink() removes its name
 * (as shm_unlink and unlink do), whoever made it: closing never removes it,
 * since a data file or a table outliving its writer is the point. Mappings
 * already made stay valid after an unlink, until each process closes.
 *
 * Size: fixed at create and never changed (see ipc_region_resize). Every
 * page is reserved at create (posix_fallocate): a full /dev/shm, tmpfs or
 * disk is IPC_ELIMIT naming it, never a SIGBUS on first touch later.
 *
 * Trust: an existing object is opened only when the caller's effective uid
 * or root owns it (else IPC_EACCES naming the owner); file: never follows a
 * symbolic link at the last component (O_NOFOLLOW). A process that may write
 * the object may also truncate it (ftruncate), and a mapping past the end of
 * a truncated object faults (SIGBUS): for shm: and file: that is anybody with
 * the owner's uid or root, which is why created objects default to 0600.
 * Pairs are sealed (F_SEAL_SHRINK | F_SEAL_GROW): nobody can truncate them.
 *
 * Synchronisation: none; a region is memory. Guard shared data with a lock
 * placed inside it, or use atomics (C11 <stdatomic.h> lock-free types work
 * across processes).
 */

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque handle on one mapping of a region. */
typedef struct ipc_region ipc_region;

/* What a region's mechanism offers, as reported by ipc_region_caps(). */
enum {
    IPC_REGION_CAP_NAMED = 1u << 0,      /* reachable by address from others */
    IPC_REGION_CAP_PAIR = 1u << 1,       /* ipc_region_pair() works */
    IPC_REGION_CAP_PERSISTENT = 1u << 2, /* contents survive a reboot, and
                                            ipc_region_sync() writes them */
    IPC_REGION_CAP_RAW = 1u << 3,        /* no libipc header: existing
                                            objects map as they are */
    IPC_REGION_CAP_SEALED = 1u << 4,     /* no process can truncate it */
    IPC_REGION_CAP_INHERIT = 1u << 5     /* an exec'd child adopts it by
                                            ipc_region_address() */
};

/*
 * Open or create a named region and map it.
 *
 * flags: IPC_F_CREATE [| IPC_F_EXCL | IPC_F_REPLACE], IPC_F_RDONLY (map
 * PROT_READ; not with IPC_F_CREATE), IPC_F_INHERIT (the descriptor survives
 * exec). IPC_F_SEND and IPC_F_RECV do not apply.
 *
 * size: the bytes to create; for an existing region 0 takes its size, and
 * any other value must equal it (else IPC_EINVAL naming both). A created
 * region reads as zeroes (file: and shm: alike).
 *
 * Of N processes racing to create one name, exactly one creates it; the
 * others open that region (or get IPC_EEXIST with IPC_F_EXCL). An opener
 * never maps a half-made region: a shm: region being made is waited for
 * within timeout_ms (IPC_ETIMEDOUT, or IPC_EAGAIN for 0, naming the
 * creator's pid); one whose creator died before finishing is IPC_EPROTO at
 * once (IPC_F_REPLACE or ipc_region_unlink removes it). file: regions
 * appear complete or not at all, so file: never waits.
 *
 * IPC_F_REPLACE: shm: removes a region no process has open, or one whose
 * creator died, then creates; a region still open elsewhere is IPC_EBUSY.
 * file: replaces the file atomically (rename); processes that mapped the old
 * file keep the old contents.
 *
 * Errors: IPC_EINVAL (address, flags, size), IPC_ENOENT, IPC_EEXIST,
 * IPC_EACCES (mode, or owned by another uid), IPC_ELIMIT (no room: names
 * /dev/shm or the file system; RLIMIT_FSIZE; address space), IPC_EPROTO
 * (not a libipc region, a bad header, a dead creator), IPC_EBUSY,
 * IPC_ETIMEDOUT, IPC_EAGAIN, IPC_ENOTSUP (mechanism not on this OS),
 * IPC_ENOMEM. *out is NULL on error.
 */
IPC_API ipc_err ipc_region_open(const char *address, unsigned flags,
                                size_t size, int timeout_ms, ipc_region **out);

/*
 * Fill a region being created before any other process can map it: init
 * runs once, in the creator only, on the zeroed memory (ipc_region_ptr's
 * bytes), before shm: says ready and before file: links the file into
 * place; an opener never sees the memory before init has returned. For
 * the layout of what a region holds (a lock's initial state, a table's
 * header), where zeroes are not a valid start. Return IPC_OK, or an error:
 * the creation then fails with it and the object is removed. init must not
 * open the region it is making (that open would wait for init).
 */
typedef ipc_err (*ipc_region_init_fn)(void *mem, size_t size, void *arg);

/* ipc_region_open, with init (may be NULL) run if this call creates the
 * region. */
IPC_API ipc_err ipc_region_open_init(const char *address, unsigned flags,
                                     size_t size, int timeout_ms,
                                     ipc_region_init_fn init, void *arg,
                                     ipc_region **out);

/*
 * Make a private region of size bytes ("memfd:"), zero-filled, sealed
 * against resizing. flags: 0 or IPC_F_INHERIT. A forked child shares the
 * mapping; an exec'd child passes ipc_region_address()'s string (it needs
 * IPC_F_INHERIT) to ipc_region_open(). Never blocks.
 * Errors: IPC_EINVAL, IPC_ELIMIT, IPC_ENOMEM, IPC_ENOTSUP (no memfd).
 */
IPC_API ipc_err ipc_region_pair(const char *address, unsigned flags,
                                size_t size, ipc_region **out);

/* The first usable byte (page-aligned), valid until ipc_region_close(). */
IPC_API void *ipc_region_ptr(const ipc_region *r);
/* Usable bytes from ipc_region_ptr(). */
IPC_API size_t ipc_region_size(const ipc_region *r);
/* IPC_REGION_CAP_* of this region. */
IPC_API unsigned ipc_region_caps(const ipc_region *r);

/*
 * Write a file: region's changed pages to its file and wait until they are
 * on the device (msync MS_SYNC; blocks on I/O, no timeout: the kernel offers
 * none). shm: and memfd: regions have no file behind them: IPC_OK at once
 * (IPC_REGION_CAP_PERSISTENT is clear). Errors: IPC_EIO, IPC_EINVAL.
 */
IPC_API ipc_err ipc_region_sync(ipc_region *r);

/*
 * Growth is refused: IPC_ENOTSUP, always, with a detail. Why: every other
 * process has the region mapped at its old size, and C pointers into it
 * cannot be moved under them; growing the object alone gives them nothing,
 * and shrinking it makes their next touch a SIGBUS. Make a new region of the
 * new size, copy, and tell the peers (a channel message) instead.
 */
IPC_API ipc_err ipc_region_resize(ipc_region *r, size_t size);

/*
 * An address another process can open: the named address for shm: and
 * file:, "memfd:?fd=N&size=S" for a pair (adoptable only after exec when
 * made with IPC_F_INHERIT). IPC_EMSGSIZE if buf is too small.
 */
IPC_API ipc_err ipc_region_address(const ipc_region *r, char *buf, size_t size);

/* Unmap and close. Never removes the object (see ipc_region_unlink). NULL
 * is ignored. Pointers into the region are invalid afterwards. */
IPC_API void ipc_region_close(ipc_region *r);

/*
 * Remove a named region's name. shm: removes only a libipc region (or an
 * empty object), never another kind of shm object (IPC_EPROTO); file:
 * removes only a regular file (IPC_EPROTO otherwise). Mappings stay valid.
 * Errors: IPC_ENOENT, IPC_EACCES, IPC_EPROTO, IPC_EINVAL, IPC_ENOTSUP.
 */
IPC_API ipc_err ipc_region_unlink(const char *address);

#ifdef __cplusplus
}
#endif

#endif /* IPC_REGION_H */
