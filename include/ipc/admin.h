/* SPDX-License-Identifier: MIT */
/* libipc admin: find the IPC objects on this machine, who made them, and
 * whether anyone still uses them (for tools that clean up after crashes). */
#ifndef IPC_ADMIN_H
#define IPC_ADMIN_H

#include <ipc/ipc.h>

/*
 * Linux only: these calls read /dev/shm, the mqueue mount, /proc/sysvipc/msg,
 * /proc/net/unix and /proc/<pid>/fd; elsewhere they answer IPC_ENOTSUP.
 *
 * What is found:
 *   shm:/name   shared-memory rings in /dev/shm (told from foreign files by
 *               the ring's magic number; other files are not listed)
 *   mq:/name    every POSIX message queue, where the mqueue filesystem is
 *               mounted (/dev/mqueue usually; ipc_object_stat() needs no mount)
 *   sysv:0xKEY  every keyed System V message queue
 *   fifo:/path  FIFOs in the directories given
 *   unix:/path  socket files in the directories given
 *   unix:@name  listening abstract SOCK_SEQPACKET sockets (libipc's kind)
 * and, of kind IPC_OBJ_REGION and IPC_OBJ_SYNC (ipc_object.kind):
 *   shm:/name   regions in /dev/shm (told by the region header's magic),
 *               and the named futex sync objects, which are regions of
 *               their own holding a sync object's magic
 *   sem:/name   POSIX named semaphores (/dev/shm/sem.name)
 *   sysv:0xKEY  every keyed System V semaphore set
 * file: regions are raw files that nothing tells from other files: they
 * are not listed, and ipc_object_stat() answers IPC_ENOTSUP for them.
 *
 * Liveness (state) is judged the way IPC_F_REPLACE judges it, never by
 * guessing:
 *   shm   live while any process attached to the ring is alive (the ring's
 *         peer table records pid and start time, so a reused pid is told
 *         apart); stale when every one is gone, or when a half-made ring's
 *         creator is gone.
 *   fifo  live while a receiver holds its lock or any process has it open.
 *   unix  a socket file is live while a socket is bound to its path
 *         (/proc/net/unix); an abstract name exists only while bound.
 *   mq    live while any process has the queue open (/proc/<pid>/fd).
 *   sysv  always IPC_OBJ_UNKNOWN: a SysV queue or semaphore set records
 *         no creator pid and no open count.
 *   region (shm:) by the region's own locks: live while a handle has it
 *         open or its creator is still making it; stale when its creator
 *         died before it was ready. A complete region nobody has open is
 *         IPC_OBJ_UNKNOWN: regions outlive their users by design (a table
 *         kept for the next run), so only a person may judge it.
 *   sync  shm: objects by the same locks: live while a handle has one
 *         open, stale when none has (the creator's close removes the name,
 *         so only a crash leaves one unopened); sem: live while a process
 *         maps it (/proc/<pid>/maps), stale when none does.
 * Processes whose /proc/<pid>/fd cannot be read (another user's, when not
 * root) are counted as possible users of an object unless the object's
 * mode denies their uid access; root-owned processes are then assumed not
 * to hold other users' objects. Run as root for a complete answer.
 * Everything is a snapshot: an object may change the moment after.
 */

#ifdef __cplusplus
extern "C" {
#endif

/* Room for the longest address: a scheme, ':' and a 4095-byte path. */
#define IPC_OBJECT_ADDRESS_MAX 4112

/* ipc_object.state */
enum {
    IPC_OBJ_UNKNOWN = 0, /* cannot be judged: treat as live */
    IPC_OBJ_LIVE = 1,    /* a process uses it */
    IPC_OBJ_STALE = 2    /* provably nobody uses it: safe to remove */
};

/* ipc_object.kind: which module's calls open and remove it. */
enum {
    IPC_OBJ_CHANNEL = 0, /* ipc_open(), ipc_unlink() */
    IPC_OBJ_REGION = 1,  /* ipc_region_open(), ipc_region_unlink() */
    IPC_OBJ_SYNC = 2     /* ipc_mutex_open() and the rest, ipc_sync_unlink() */
};

/* One object. Numbers the OS does not tell are -1; pids not known are 0. */
typedef struct ipc_object {
    const char *scheme; /* "shm", "mq", "sysv", "fifo", "unix", "sem":
                           static */
    char address[IPC_OBJECT_ADDRESS_MAX]; /* for ipc_open(), ipc_unlink() */
    uid_t uid;                            /* owner */
    gid_t gid;
    unsigned mode;      /* permission bits (0777) */
    long long size;     /* bytes: a ring's file size, a queue's queued bytes */
    long long messages; /* messages queued */
    long long capacity; /* messages it holds before a send waits */
    long long max_msg;  /* largest message, bytes */
    pid_t creator;      /* the process that made it */
    int creator_alive;  /* 1 alive, 0 provably gone, -1 unknown */
    pid_t user;         /* a live process that has it open or attached */
    int state;          /* IPC_OBJ_* */
    char why[160];      /* the reason for state, for people */
    int kind;           /* IPC_OBJ_CHANNEL, IPC_OBJ_REGION, IPC_OBJ_SYNC */
    const char *type;   /* sync objects: "mutex", "semaphore", "barrier",
                           "spinlock", "event", or "set" (a SysV set of
                           another size); "" for others. Static */
} ipc_object;

/*
 * List the objects on this machine. dirs: NULL-terminated directories to
 * search for FIFOs and socket files (not recursively); NULL means $TMPDIR,
 * or /tmp without it. On IPC_OK *list is an array of *count objects,
 * sorted by address, that the caller frees with ipc_objects_free() (NULL
 * when none). Places that cannot be read are skipped (an unreadable
 * directory among dirs is IPC_EACCES, a missing one IPC_ENOENT). Does not
 * block. Errors: IPC_EINVAL (NULL out-pointers), IPC_ENOMEM, IPC_ENOTSUP.
 */
IPC_API ipc_err ipc_objects(const char *const *dirs, ipc_object **list,
                            size_t *count);
/* Free a list from ipc_objects(). Idempotent on NULL. */
IPC_API void ipc_objects_free(ipc_object *list);

/*
 * Describe the one object at a named address ("shm:/frames", "sysv:0x1234",
 * "unix:@name", "sem:/name"). At a sysv: key that names both a message
 * queue and a semaphore set, the queue is described. Options in the
 * address are ignored. Does not block.
 * Errors: IPC_EINVAL (bad address, NULL), IPC_ENOTSUP (an unnamed scheme
 * such as pipe:, a file: region, or not Linux), IPC_ENOENT (no such
 * object), IPC_EPROTO
 * (the name holds something that is not a libipc object of that kind: a
 * file without the ring's magic, a regular file at a fifo: path),
 * IPC_EACCES.
 */
IPC_API ipc_err ipc_object_stat(const char *address, ipc_object *obj);

#ifdef __cplusplus
}
#endif

#endif /* IPC_ADMIN_H */
