/* SPDX-License-Identifier: MIT */
/* OS helpers that several backends and modules share: numbers from /proc,
 * close-on-exec, removing a file only of the expected kind. */
#ifndef IPC_OS_H
#define IPC_OS_H

#include <ipc/ipc.h>

#include "ipc_int.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The number after key in a small text file (the file's first number when
 * key is NULL): "/proc/meminfo", "MemAvailable:". false when the file is
 * unreadable, the key is missing, or the value is not a number ("max").
 * No stdio and no allocation: safe in a forked child of a threaded
 * process. */
bool ipc__read_number(const char *path, const char *key, uint64_t *out);

/* A /proc/sys limit such as "/proc/sys/fs/pipe-max-size", or -1 when it
 * cannot be read: for details that name the limit a call ran into. */
long ipc__proc_long(const char *path);

/* What /proc/<pid>/stat says of a process (or a thread, by its tid). */
enum ipc__proc_state {
    IPC__PROC_GONE,    /* no such process, or a zombie (exited, unreaped) */
    IPC__PROC_ALIVE,   /* *start is set */
    IPC__PROC_UNKNOWN, /* no /proc, or hidden from us */
};

/* The state of pid and its start time (clock ticks after boot, field 22:
 * a reused pid has another). No stdio, no allocation: safe in a forked
 * child of a threaded process. */
enum ipc__proc_state ipc__proc_stat(uint32_t pid, uint64_t *start);

/* Is the process gone? start: its start time when it was recorded (0: not
 * known, the pid alone decides); pidns: the inode of its pid namespace (0:
 * not known; another namespace's pids mean nothing here). 1 gone, 0 alive,
 * -1 cannot tell. */
int ipc__proc_gone(uint32_t pid, uint64_t start, uint64_t pidns);

/* Make fd survive exec (inherit) or not, whatever it was. scheme names
 * the caller in the detail of a failure. */
ipc_err ipc__fd_inherit(int fd, bool inherit, const char *scheme);

/* Remove the file at path only if it is of the kind type (S_IFIFO,
 * S_IFSOCK): ipc_unlink never removes a file of another kind (IPC_EPROTO).
 * kind names it in the detail: "a FIFO". */
ipc_err ipc__unlink_kind(const char *scheme, const char *path, mode_t type,
                         const char *kind);

/* The trust rule: an end that opens an object it did not create accepts
 * it only when the object's owner is the caller's effective uid, root, or
 * the uid that the address names with owner= (addr may be NULL). Else
 * IPC_EACCES with a detail naming the owner found, and how to trust it. */
ipc_err ipc__check_owner(const char *scheme, const char *name, uid_t owner,
                         const struct ipc_addr *addr);

/* Give the file this process just made at path (a socket or FIFO: type
 * S_IFSOCK or S_IFIFO) exactly mode, whatever the umask took away, and
 * fill *st with its identity. Never follows a symbolic link: a link or a
 * file of another kind or owner swapped in at path since it was made
 * (a writable directory without the sticky bit allows that) is refused
 * with IPC_EACCES, and nothing is changed; out of descriptors, the file
 * is removed (the caller could not tell it from another's). Linux: by an
 * O_PATH descriptor;
 * elsewhere lstat then chmod (a narrow race remains there). */
ipc_err ipc__chmod_made(const char *scheme, const char *path, mode_t type,
                        mode_t mode, struct stat *st);

/* The SysV key of "sysv:/path": a 64-bit mix of the file's full st_dev,
 * st_ino and the project id 'I', folded to 32 bits, never 0 (IPC_PRIVATE).
 * Not ftok(): that keeps 16 bits of the inode and 8 of the device, so two
 * files of one file system whose inodes differ by a multiple of 65536
 * share a key and their channels merge. Two files now share a key only by
 * a 2^-32 chance. The path must exist (IPC_ENOENT otherwise; stat follows
 * a link, as ftok did). scheme names the caller in a detail. */
#define IPC_SYSV_PROJ 'I'
ipc_err ipc__sysv_path_key(const char *scheme, const char *path, key_t *key);

/* Removing a stale named object (IPC_F_REPLACE, a stale name reused)
 * without removing a live one: every remover locks the object it judged
 * (flock, exclusive, on fd: open on it) before judging, and removes it
 * only if the name still names it, all under the lock. Two removers of
 * one stale object thus take turns, and the second finds it gone and
 * starts over rather than removing what the first made. Returns true if
 * path (a file name) still names fd's object, or, with path NULL, if
 * that object is still linked. Blocks only behind another remover. */
bool ipc__lock_judged(int fd, const char *path);
/* The same for objects that cannot be opened (socket files) or that
 * others flock (FIFOs): an exclusive flock on the directory of path, held
 * by whoever judges, removes or makes a name there until what it made is
 * live. Waits for another holder until the deadline. *fd_out: close it to
 * unlock. */
ipc_err ipc__lock_dir(const char *scheme, const char *path,
                      const struct ipc_deadline *dl, int *fd_out);

#if IPC_HAVE_EPOLL
#include <sys/epoll.h>
/* Round robin for a receiver serving connections in turns (unix:, tcp:).
 * Each connection struct begins with a struct ipc_turn (ids in order of
 * arrival) and is the data.ptr of its epoll entry; NULL data.ptr is the
 * listener. Of the n ready entries, the connection that arrived first after
 * last_id, else the first of all; NULL if none. epoll lists a level-
 * triggered set in the same order each time, so taking the first would
 * serve one busy sender alone. */
struct ipc_turn {
    unsigned long id;
};
void *ipc__turn_next(const struct epoll_event *ev, int n,
                     unsigned long last_id);
#endif

/* Where the C library keeps POSIX named semaphore "/x" in /dev/shm: glibc
 * as "sem.x", musl as "x". */
#ifdef __GLIBC__
#define IPC_SEM_SHM_PREFIX "sem."
#else
#define IPC_SEM_SHM_PREFIX ""
#endif

#endif /* IPC_OS_H */
