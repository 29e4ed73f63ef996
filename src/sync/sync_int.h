/* SPDX-License-Identifier: MIT */
/* Internal header of the sync module: the handle and the mechanism table. */
#ifndef IPC_SYNC_INT_H
#define IPC_SYNC_INT_H

#include "ipc_int.h"

#include <stdatomic.h>
#include <stdint.h>

#define IPC_SYNC_KINDS 5

/* Per mechanism state, in the handle. */
struct ipc__sync_futex {
    struct ipc__sync_obj *obj; /* the object's memory (placed or mapped) */
    ipc_region *region;        /* a named object's region, or NULL */
    uint32_t kind_word;        /* the header's kind word for this kind */
    uint32_t bar_slots;        /* barrier: entries of the party table, checked
                                  against the memory's size at attach */
    /* barrier: this handle's entry in the party table, pid << 32 |
     * (index + 1), index 0: the table was full; another pid (a forked
     * child's copy): not registered yet. */
    _Atomic uint64_t bar_reg;
};
struct ipc__sync_posix {
    void *sem;      /* sem_t *, from sem_open */
    char name[252]; /* "/name", for the owner's sem_unlink */
};
struct ipc__sync_sysv {
    int semid;
};

/* One handle for every kind; the public types wrap it (below). */
struct ipc_sync {
    const struct ipc__sync_mech *mech;
    ipc_sync_kind kind;
    bool owner;      /* created the named object: close removes the name */
    pid_t owner_pid; /* the process that created it (not a forked child) */
    char *address;   /* named objects: as opened, heap; else NULL */
    union {
        struct ipc__sync_futex fx;
        struct ipc__sync_posix px;
        struct ipc__sync_sysv sv;
    } u;
};

struct ipc_mutex {
    struct ipc_sync s;
};
struct ipc_sem {
    struct ipc_sync s;
};
struct ipc_barrier {
    struct ipc_sync s;
};
struct ipc_spin {
    struct ipc_sync s;
};
struct ipc_event {
    struct ipc_sync s;
};

/*
 * One mechanism. The frontend (sync.c) has already checked the arguments,
 * that the kind is supported (caps[kind] has IPC_SYNC_CAP_SUPPORTED) and,
 * for an op, that the handle is of the op's kind. An op left NULL answers
 * IPC_ENOTSUP. Ops that wait get the call's timeout (ms: -1, 0, > 0) and
 * make its deadline (ipc__deadline_init) only once they have to wait: a
 * lock or a wait that succeeds at once reads no clock (a vDSO
 * clock_gettime costs about as much as the uncontended operation). They
 * never pass the deadline, retry EINTR and return codes with a detail
 * (ipc__fail / ipc__errno).
 */
struct ipc__sync_mech {
    const char *scheme;
    unsigned caps[IPC_SYNC_KINDS]; /* IPC_SYNC_CAP_* per kind */
    size_t name_max;               /* longest path, bytes */

    /* Open or create the named object of s->kind; init: semaphore value
     * or barrier parties. May wait for a half-made object until dl. */
    ipc_err (*open)(struct ipc_sync *s, const struct ipc_addr *addr,
                    unsigned flags, unsigned init,
                    const struct ipc_deadline *dl);
    /* Release the handle's resources; remove the name if s->owner. Never
     * blocks; tolerates a half-opened handle. */
    void (*close)(struct ipc_sync *s);
    ipc_err (*unlink)(const struct ipc_addr *addr);

    /* Mutex and spinlock (s->kind says which). */
    ipc_err (*lock)(struct ipc_sync *s, int timeout_ms);
    ipc_err (*unlock)(struct ipc_sync *s);
    ipc_err (*consistent)(struct ipc_sync *s);
    /* Semaphore. */
    ipc_err (*sem_wait)(struct ipc_sync *s, int timeout_ms);
    ipc_err (*sem_post)(struct ipc_sync *s);
    ipc_err (*sem_value)(struct ipc_sync *s, unsigned *value);
    /* Barrier. */
    ipc_err (*barrier_wait)(struct ipc_sync *s, int timeout_ms);
    ipc_err (*barrier_reset)(struct ipc_sync *s);
    /* Event. */
    ipc_err (*event_set)(struct ipc_sync *s);
    ipc_err (*event_clear)(struct ipc_sync *s);
    ipc_err (*event_wait)(struct ipc_sync *s, int timeout_ms);
};

extern const struct ipc__sync_mech ipc__sync_futex;
extern const struct ipc__sync_mech ipc__sync_posix;
extern const struct ipc__sync_mech ipc__sync_sysv;

/* The futex form of an object in caller-given memory (placed objects, and
 * the named shm: objects): IPC_F_CREATE initialises, else validates. */
ipc_err ipc__sync_futex_attach(struct ipc_sync *s, void *mem, size_t size,
                               unsigned flags, unsigned init);

/* admin: the kind of the futex object whose first n bytes (a copy) are
 * bytes, or -1 when they hold none; *size: the bytes the object takes
 * (IPC_SYNC_SIZE, or IPC_BARRIER_SIZE(parties)). No system calls. */
int ipc__sync_futex_peek(const unsigned char *bytes, size_t n, size_t *size);

/* A name for a kind, for details: "mutex". */
const char *ipc__sync_kind_name(ipc_sync_kind kind);

#endif /* IPC_SYNC_INT_H */
