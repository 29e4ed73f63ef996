/* SPDX-License-Identifier: MIT */
/* Regions, internal: the handle, the mechanism table, the shm: header and
 * the helpers every mechanism shares (region.c). */
#ifndef IPC_REGION_INT_H
#define IPC_REGION_INT_H

#include "ipc_int.h"

#include <sys/stat.h>

/* One mapping of a region. Mechanisms fill fd, map, map_size, offset and
 * size in open/pair; the frontend does the rest. */
struct ipc_region {
    const struct ipc_region_mech *mech;
    unsigned flags; /* open flags */
    unsigned caps;  /* IPC_REGION_CAP_* */
    int fd;         /* kept open: locks (shm:), adoption (memfd:); -1 none */
    void *map;      /* the whole mapping, header included */
    size_t map_size;
    size_t offset; /* bytes of libipc header before the user's memory */
    size_t size;   /* the user's bytes */
    char *address; /* as opened (named regions), heap; NULL for pairs */
    ipc_region_init_fn init; /* run by a creator before it publishes */
    void *init_arg;
};

/*
 * One mechanism. The frontend has checked, before any op runs: the address
 * syntax, its keys against keys, the name (present for named opens, absent
 * for pairs, at most name_max bytes), the flags (known bits, IPC_F_EXCL and
 * IPC_F_REPLACE only with IPC_F_CREATE, IPC_F_RDONLY not with it), size
 * against the address's size= option. Ops return codes with a detail, never
 * raw errno, and leave a half-made r for the frontend to release (close the
 * fd, unmap).
 */
struct ipc_region_mech {
    const char *scheme;
    unsigned caps;         /* IPC_REGION_CAP_* */
    unsigned keys;         /* IPC_KEYBIT() of the options it accepts */
    size_t name_max;       /* longest name, bytes without NUL */
    const char *built_out; /* non-NULL: not on this OS; the reason */
    /* Open (or, with IPC_F_CREATE, create) a named region and map it; may
     * wait for a half-made one until dl. size: 0 or the bytes asked; mode:
     * the exact mode for a new object. NULL: no named regions. */
    ipc_err (*open)(struct ipc_region *r, const struct ipc_addr *addr,
                    unsigned flags, size_t size, mode_t mode,
                    const struct ipc_deadline *dl);
    /* Make an anonymous region of size (> 0) bytes. NULL: no pairs. */
    ipc_err (*pair)(struct ipc_region *r, unsigned flags, size_t size);
    /* Remove a named region's name. NULL: IPC_ENOTSUP. */
    ipc_err (*unlink)(const struct ipc_addr *addr);
};

/* Tests only: called by creators at named steps ("shm-opened" before the
 * locks, "shm-locked" once the header names the creator, "file-made"
 * before the link), so that a test can stop or kill a creator there. NULL
 * in programs. */
extern void (*ipc__region_hook)(const char *step);
#define IPC_REGION_HOOK(step)                                                  \
    do {                                                                       \
        if (ipc__region_hook)                                                  \
            ipc__region_hook(step);                                            \
    } while (0)

extern const struct ipc_region_mech ipc__region_shm;
extern const struct ipc_region_mech ipc__region_file;
extern const struct ipc_region_mech ipc__region_memfd;

/* ------------------------------------------------------- shared helpers */

/* Reserve [0, len) of fd (posix_fallocate, EINTR retried): no room is
 * IPC_ELIMIT naming where (the file system of fd, its free bytes). */
ipc_err ipc__region_reserve(int fd, uint64_t len, const char *scheme,
                            const char *label);
/* Run r's init on its memory (offset and size set, mapped), if any: a
 * creator calls it before the region can be seen. */
ipc_err ipc__region_init(struct ipc_region *r);
/* The error for a reservation that failed with rc (errno). */
ipc_err ipc__region_no_room(int fd, int rc, uint64_t len, const char *scheme,
                            const char *label);
/* fstat fd and check it may be trusted: a regular file owned by the
 * caller's euid or root (IPC_EACCES naming the owner; IPC_EPROTO for
 * another kind of file). */
ipc_err ipc__region_trust(int fd, const char *scheme, const char *label,
                          struct stat *st);
/* Map r->map_size bytes of r->fd, read-only with IPC_F_RDONLY. */
ipc_err ipc__region_map(struct ipc_region *r, const char *scheme,
                        const char *label);
/* The size an existing object of obj bytes (header excluded) offers a
 * caller who asked for asked (0: any): IPC_EINVAL naming both if not. */
ipc_err ipc__region_size_check(uint64_t obj, size_t asked, const char *scheme,
                               const char *label);

/* ------------------------------------------------------- the shm: header
 * One page in front of the user's memory. The opener decodes a copy it
 * read with pread (never the live page a peer may be writing), checks it
 * against the object's size, and uses only the copy. */

#define IPC_REGION_HDR_SIZE  4096u
#define IPC_REGION_MAGIC     0x314e474552435049ull /* "IPCREGN1" little-endian */
#define IPC_REGION_VERSION   1u
#define IPC_REGION_READY     0x52454459u /* "READY" in the ready word */
#define IPC_REGION_HDR_BYTES 32u         /* the part decoded below */

/* Layout (native byte order: both ends share one machine): magic u64 at 0,
 * version u32 at 8, hdr_size u32 at 12, size u64 at 16, ready u32 at 24,
 * creator pid u32 at 28. */
enum ipc__region_kind {
    IPC_REGION_OBJ_READY, /* a complete region */
    IPC_REGION_OBJ_HALF,  /* a creator has begun it and not said ready */
    IPC_REGION_OBJ_BLANK, /* empty or zeroes: no creator has written yet */
    IPC_REGION_OBJ_BAD    /* not a region of this library's version */
};

struct ipc__region_hdr {
    uint64_t size;        /* user bytes (READY only) */
    uint32_t creator_pid; /* HALF and READY */
};

/* Classify an object of obj_size bytes whose first n bytes are bytes[] (n
 * may be short). why[] says what is bad. No system calls: a fuzz target. */
enum ipc__region_kind ipc__region_hdr_decode(const unsigned char *bytes,
                                             size_t n, uint64_t obj_size,
                                             struct ipc__region_hdr *hdr,
                                             char *why, size_t why_size);
/* Write the first IPC_REGION_HDR_BYTES of a header (ready word as given). */
void ipc__region_hdr_encode(unsigned char *bytes, uint64_t size, uint32_t ready,
                            uint32_t creator_pid);

#endif /* IPC_REGION_INT_H */
