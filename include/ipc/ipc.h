/* SPDX-License-Identifier: MIT */
/* libipc: one API over the classic POSIX IPC mechanisms. This umbrella
 * header holds what every module shares (version, the one error list, the
 * rules below) and includes each module's header: channel.h (messages),
 * region.h (shared memory), sync.h (mutexes, semaphores, barriers,
 * spinlocks, events), reqrep.h (request/reply), admin.h (finding the
 * objects on a machine), proc.h (a process's exit as a descriptor, and
 * notifications by queued signals).
 * Include this one; the module headers include it in turn. */
#ifndef IPC_IPC_H
#define IPC_IPC_H

/*
 * These rules hold for every module (channels, and each module added
 * beside them).
 *
 * Threads: the library starts no threads and holds no global lock across a
 * call. Distinct channels may be used from distinct threads freely. One end
 * may be used by one sending thread and one receiving thread at the same time
 * (a duplex end); several threads sending (or several receiving) on the same
 * end must serialise those calls themselves. ipc_close() must not race with
 * any other call on the same end. Errors and ipc_last_detail() are per thread.
 *
 * Fork: an end survives fork(); parent and child then share it and must not
 * both send (or both receive) on it unless the backend has IPC_CAP_MULTI_SENDER
 * (or IPC_CAP_MULTI_RECEIVER). The usual pattern is ipc_pair(), fork(), and
 * each side closing the end it does not use. Only the creator of a named
 * object removes it on close; a forked child that inherited the creator's end
 * closes it without removing the object.
 *
 * Exec: every descriptor is close-on-exec unless IPC_F_INHERIT is given; an
 * exec'd child adopts an inherited end by the address ipc_address() returns
 * for it (for a pipe, "pipe:?fd=N&max_msg=M").
 *
 * Signals: no call is ever ended early by a signal. EINTR is retried against
 * the remaining time of the deadline and never reaches the caller. A send
 * never kills the process with SIGPIPE. Pipes and FIFOs cannot suppress it
 * per call (sockets use MSG_NOSIGNAL), so their sends block SIGPIPE in the
 * calling thread around the write, unless SIGPIPE was already ignored or
 * handled when the end was opened: then they skip that cost (two system
 * calls, up to 40 % of a 64-byte send's rate). Do not reset SIGPIPE to
 * SIG_DFL while such ends are open.
 *
 * Timeouts are in milliseconds: -1 waits forever, 0 never blocks (the call
 * answers IPC_EAGAIN instead of waiting), > 0 is a deadline measured on
 * CLOCK_MONOTONIC from the call's start; waking early (a signal, a spurious
 * wake-up) does not restart it.
 */

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IPC_VERSION_MAJOR 0
#define IPC_VERSION_MINOR 1
#define IPC_VERSION_PATCH 0
#define IPC_VERSION_NUM                                                        \
    (IPC_VERSION_MAJOR * 10000 + IPC_VERSION_MINOR * 100 + IPC_VERSION_PATCH)

#if defined(IPC_BUILDING) && defined(__GNUC__)
#define IPC_API __attribute__((visibility("default")))
#else
#define IPC_API
#endif

/*
 * Error codes: numbers are stable and never reused. Each entry is
 * XX(NAME, number, message); the enum, ipc_errname() and ipc_strerror() are
 * all made from this one list.
 */
#define IPC_ERRNO_MAP(XX)                                                      \
    XX(OK, 0, "success")                                                       \
    XX(EINVAL, 1, "invalid argument or address")                               \
    XX(ENOTSUP, 2, "not supported by this backend or end")                     \
    XX(EAGAIN, 3, "would block")                                               \
    XX(ETIMEDOUT, 4, "timed out")                                              \
    XX(EMSGSIZE, 5, "message too large")                                       \
    XX(ECLOSED, 6, "channel closed by the peer or removed")                    \
    XX(EEXIST, 7, "object already exists")                                     \
    XX(ENOENT, 8, "no such object")                                            \
    XX(EACCES, 9, "permission denied")                                         \
    XX(ENOMEM, 10, "out of memory")                                            \
    XX(ELIMIT, 11, "operating system limit reached")                           \
    XX(EPROTO, 12, "peer broke the protocol (malformed data)")                 \
    XX(EBUSY, 13, "object is in use")                                          \
    XX(EIO, 14, "unexpected system error")                                     \
    XX(EOWNERDEAD, 15, "previous owner died; lock taken, state suspect")       \
    XX(ENOTRECOVERABLE, 16, "lock not recoverable (left inconsistent)")        \
    XX(EBROKEN, 17, "barrier broken (a party timed out or left)")              \
    XX(ENOTOWNER, 18, "the caller does not hold the lock")                     \
    XX(ELOST, 19, "lost in transit; the peer may have acted on it")

typedef enum {
#define IPC_ERR_ENUM_(name, num, msg) IPC_##name = num,
    IPC_ERRNO_MAP(IPC_ERR_ENUM_)
#undef IPC_ERR_ENUM_
} ipc_err;

/* Open flags, shared by every module's open call (SEND/RECV: channels). */
enum {
    IPC_F_SEND = 1u << 0,    /* this end sends */
    IPC_F_RECV = 1u << 1,    /* this end receives */
    IPC_F_CREATE = 1u << 2,  /* create the named object if it is missing;
                                an existing one is opened only when it is
                                owned by the caller's uid (else IPC_EACCES) */
    IPC_F_EXCL = 1u << 3,    /* with IPC_F_CREATE: fail with IPC_EEXIST if it
                                exists (the safe choice: nobody else's name) */
    IPC_F_REPLACE = 1u << 4, /* with IPC_F_CREATE: remove a stale object of
                                the right kind first (never a live one, never
                                a file of another kind), then create; with
                                IPC_F_EXCL too, a live object still fails */
    IPC_F_INHERIT = 1u << 5, /* descriptors survive exec (no FD_CLOEXEC) */
    IPC_F_RDONLY = 1u << 6   /* regions: map read-only (PROT_READ) */
};
#define IPC_F_DUPLEX (IPC_F_SEND | IPC_F_RECV)

/* --- Version ----------------------------------------------------------- */

/* IPC_VERSION_NUM of the library actually linked. */
IPC_API int ipc_version(void);
/* "0.1.0": a static string. */
IPC_API const char *ipc_version_string(void);

/* --- Errors ------------------------------------------------------------ */

/* A static sentence for a code: "timed out". Unknown codes get a sentence
 * too, never NULL. */
IPC_API const char *ipc_strerror(ipc_err err);
/* The code's name: "IPC_ETIMEDOUT"; "IPC_E?" for unknown codes. */
IPC_API const char *ipc_errname(ipc_err err);
/* The detail of the calling thread's last failed call, for people:
 * "unix: /tmp/x: socket path is 120 bytes, the OS allows 107". Valid until
 * the thread's next libipc call; "" when there is none. */
IPC_API const char *ipc_last_detail(void);

#ifdef __cplusplus
}
#endif

/* The modules. */
#include <ipc/channel.h>
#include <ipc/region.h>
#include <ipc/sync.h>
#include <ipc/reqrep.h>
#include <ipc/admin.h>
#include <ipc/proc.h>

#endif /* IPC_IPC_H */
