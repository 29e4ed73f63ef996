/* SPDX-License-Identifier: MIT */
/* Internal to src/admin: the census of open descriptors and bound sockets,
 * and the probe of each kind of object behind ipc_objects(). */
#ifndef IPC_ADMIN_INT_H
#define IPC_ADMIN_INT_H

#include "ipc/admin.h"
#include "ipc_int.h"
#include "os.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

/* An open descriptor some process holds. */
struct ipc__fdref {
    dev_t dev;
    ino_t ino;
    pid_t pid;
    bool sock; /* a socket: ino is its inode in /proc/net/unix */
};

/* A process whose descriptors could not be read. */
struct ipc__hidden {
    uid_t uid;
    gid_t gid;
};

/* A line of /proc/net/unix. */
struct ipc__usock {
    unsigned long inode;
    unsigned type;  /* SOCK_STREAM, SOCK_SEQPACKET... */
    bool listening; /* __SO_ACCEPTCON */
    char *path;     /* "@name" for abstract names, NULL if unbound */
};

/* One snapshot of who has what open, taken once per call. */
struct ipc__census {
    struct ipc__fdref *fds;
    size_t n_fds, cap_fds;
    struct ipc__hidden *hidden;
    size_t n_hidden, cap_hidden;
    struct ipc__usock *socks;
    size_t n_socks, cap_socks;
    dev_t mq_dev;  /* st_dev of the mqueue filesystem: which fds are queues */
    dev_t shm_dev; /* st_dev of /dev/shm: regions' fds and mappings */
    char mq_dir[256]; /* where it is mounted (/dev/mqueue); "" if nowhere */
};

/* Take the census (proc.c). IPC_ENOMEM only: unreadable parts are noted
 * as hidden processes or left out. */
ipc_err ipc__census_take(struct ipc__census *c);
void ipc__census_free(struct ipc__census *c);
/* A process holding (dev, ino) open, 0 if none seen. *maybe: a process we
 * could not inspect might hold it, judged by the object's uid, gid, mode. */
pid_t ipc__census_holder(const struct ipc__census *c, dev_t dev, ino_t ino,
                         const struct stat *obj, bool *maybe);
/* The process holding the socket with this inode, 0 if none seen. */
pid_t ipc__census_sock_pid(const struct ipc__census *c, unsigned long inode);
/* The bound socket named path ("/x" or "@name"), or NULL. */
const struct ipc__usock *ipc__census_sock(const struct ipc__census *c,
                                          const char *path);

/* Probes: fill *o for one object (o->scheme and o->address are set by the
 * probe). IPC_ENOENT if missing, IPC_EPROTO if it is not of the kind. */
/* Whatever libipc object /dev/shm holds at name: a ring, a region, a
 * futex sync object, or ("/sem.x") a POSIX semaphore. */
ipc_err ipc__probe_shm(const struct ipc__census *c, const char *name,
                       ipc_object *o);
/* A shm ring only (shm.c). */
ipc_err ipc__probe_ring(const char *name, ipc_object *o);
/* A shm region or futex sync object (region.c). */
ipc_err ipc__probe_region(const struct ipc__census *c, const char *name,
                          ipc_object *o);
/* A POSIX named semaphore "/name" (region.c). */
ipc_err ipc__probe_sem(const struct ipc__census *c, const char *name,
                       ipc_object *o);
/* A keyed SysV semaphore set (region.c). */
ipc_err ipc__probe_semset(key_t key, ipc_object *o);
ipc_err ipc__probe_mq(const struct ipc__census *c, const char *name,
                      ipc_object *o);
ipc_err ipc__probe_sysv(key_t key, ipc_object *o);
ipc_err ipc__probe_file(const struct ipc__census *c, const char *scheme,
                        const char *path, ipc_object *o);
ipc_err ipc__probe_abstract(const struct ipc__census *c,
                            const struct ipc__usock *s, ipc_object *o);

/* Fill the fields every probe starts from: unknowns at -1 and 0. */
void ipc__object_init(ipc_object *o, const char *scheme, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keys of the keyed SysV objects listed in a /proc/sysvipc file ("msg",
 * "sem"). */
ipc_err ipc__sysv_keys(const char *file, key_t **keys, size_t *n);

/* The common verdict for objects judged by who has them open (kinds.c). */
void ipc__judge_holders(const struct ipc__census *c, const struct stat *st,
                        ipc_object *o);

/* Grow *arr (element size elem) to hold one more than *n. */
ipc_err ipc__grow(void **arr, size_t *cap, size_t n, size_t elem);

#endif /* IPC_ADMIN_INT_H */
