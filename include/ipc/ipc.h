/* SPDX-License-Identifier: MIT */
/* libipc: one message-channel API over the classic POSIX IPC mechanisms. */
#ifndef IPC_IPC_H
#define IPC_IPC_H

/*
 * A channel carries discrete messages (0 to max_msg bytes) from senders to
 * receivers. One address string chooses the transport:
 *
 *   pipe:                      anonymous pipe (ipc_pair only, or ?fd=N to
 *                              adopt an inherited end in an exec'd child)
 *   unix:/path  unix:@name     UNIX domain socket, path or Linux abstract name
 *   fifo:/path  mq:/name  sysv:/path  sysv:0xKEY  shm:/name
 *
 * with options as a query: "shm:/frames?capacity=64&max_msg=65536".
 * The promises every backend keeps are in CONTRACT.md; what a given end can
 * do is reported by ipc_query() as IPC_CAP_* flags.
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

/* An opaque end of a channel. */
typedef struct ipc_channel ipc_channel;

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
    XX(EIO, 14, "unexpected system error")

typedef enum {
#define IPC_ERR_ENUM_(name, num, msg) IPC_##name = num,
    IPC_ERRNO_MAP(IPC_ERR_ENUM_)
#undef IPC_ERR_ENUM_
} ipc_err;

/* Open flags. */
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
    IPC_F_INHERIT = 1u << 5  /* descriptors survive exec (no FD_CLOEXEC) */
};
#define IPC_F_DUPLEX (IPC_F_SEND | IPC_F_RECV)

/* Capabilities of an end, as reported by ipc_query(). */
enum {
    IPC_CAP_NAMED = 1u << 0,          /* reachable by address from others */
    IPC_CAP_PAIR = 1u << 1,           /* ipc_pair() works for the scheme */
    IPC_CAP_DUPLEX = 1u << 2,         /* one end may send and receive */
    IPC_CAP_MULTI_SENDER = 1u << 3,   /* several senders on one channel */
    IPC_CAP_MULTI_RECEIVER = 1u << 4, /* several receivers on one channel */
    IPC_CAP_PRIORITY = 1u << 5,       /* higher priority received first */
    IPC_CAP_RENDEZVOUS = 1u << 6,     /* capacity 0: send waits for a taker */
    IPC_CAP_POLLABLE = 1u << 7,       /* ipc_pollfd() gives a descriptor */
    IPC_CAP_PEER_CLOSED = 1u << 8,    /* IPC_ECLOSED when the peer is gone */
    IPC_CAP_ZERO_COPY = 1u << 9,      /* ipc_loan()/ipc_view() in place */
    IPC_CAP_PEER_UID = 1u << 10,      /* ipc_peer_uid() reports the peer */
    IPC_CAP_INHERIT = 1u << 11        /* exec'd child adopts via ipc_address */
};

/* What an end is and what it can do. All fields are filled by ipc_query(). */
typedef struct ipc_info {
    const char *backend; /* scheme name, a static string: "pipe", "unix" */
    unsigned direction;  /* IPC_F_SEND and/or IPC_F_RECV */
    unsigned caps;       /* IPC_CAP_* that this end has */
    size_t max_msg;      /* largest message in bytes */
    size_t capacity;     /* messages queued before a send waits; 0 when the
                            backend bounds its queue in bytes (buffer_bytes),
                            or for a rendezvous channel */
    size_t buffer_bytes; /* bytes queued before a send waits; 0 if unbounded
                            in bytes or unknown */
    unsigned max_prio;   /* highest priority accepted; 0 without priority */
} ipc_info;

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

/* --- Lifecycle --------------------------------------------------------- */

/*
 * Open one end of a named channel.
 *
 * flags: IPC_F_SEND and/or IPC_F_RECV (at least one; both only on duplex
 * backends), optionally IPC_F_CREATE [| IPC_F_EXCL | IPC_F_REPLACE] and
 * IPC_F_INHERIT. The end that created the object owns it: its ipc_close()
 * removes the object.
 *
 * timeout_ms bounds the waits an open may need for an object that exists but
 * is not ready (a FIFO without a reader, a half-made shm ring, a full listen
 * backlog). A missing object is IPC_ENOENT at once.
 *
 * The address is checked in full (scheme, options, ranges, name length)
 * before any object is made: IPC_EINVAL with a detail. Other errors:
 * IPC_ENOTSUP (scheme built out, or no named mode), IPC_EEXIST, IPC_ENOENT,
 * IPC_EACCES, IPC_ELIMIT, IPC_ETIMEDOUT, IPC_EAGAIN, IPC_EPROTO (the object
 * is not a libipc channel), IPC_EBUSY (the object is open in a way that
 * excludes this end until the deadline: a second FIFO receiver, a sender
 * beside a FIFO sender that must be alone), IPC_ENOMEM.
 *
 * On success *out is a new end the caller owns and must ipc_close().
 */
IPC_API ipc_err ipc_open(const char *address, unsigned flags, int timeout_ms,
                         ipc_channel **out);

/*
 * Make a private channel and both its ends in one call: ends[0] sends,
 * ends[1] receives (on duplex backends both ends do both). address is a
 * scheme with options and no name: "pipe:", "unix:?max_msg=4096".
 * flags: 0 or IPC_F_INHERIT. Typical use: pair, fork, each side closes the
 * end it does not use. On failure both ends[] are NULL.
 */
IPC_API ipc_err ipc_pair(const char *address, unsigned flags,
                         ipc_channel *ends[2]);

/*
 * Release an end. Idempotent on NULL. If this end created a named object, the
 * object is removed (only if it is still the one this end made). Never
 * blocks. Must not race with other calls on the same end.
 */
IPC_API void ipc_close(ipc_channel *ch);

/*
 * Remove a named object by address (a stale one left by a crash, or one
 * whose creator wants it gone early). Ends already open keep working where
 * the OS allows. IPC_ENOENT if missing, IPC_ENOTSUP for unnamed schemes,
 * IPC_EINVAL for a bad address, IPC_EPROTO if the name is not an object of
 * that backend's kind (a regular file at a fifo: path is never removed).
 */
IPC_API ipc_err ipc_unlink(const char *address);

/* --- Messages ---------------------------------------------------------- */

/*
 * Send one message of len bytes (0 is legal). All or nothing: on any error
 * no receiver can take any part of it as a message.
 *
 * prio: 0, or up to info.max_prio on backends with IPC_CAP_PRIORITY
 * (IPC_ENOTSUP otherwise).
 *
 * Errors: IPC_EINVAL (NULL, or an end without IPC_F_SEND), IPC_EMSGSIZE
 * (len > max_msg: nothing sent), IPC_ENOTSUP, IPC_EAGAIN (timeout 0, no
 * room), IPC_ETIMEDOUT, IPC_ECLOSED (no receiver can ever read it),
 * IPC_ELIMIT. The buffer is only read, and only during the call.
 */
IPC_API ipc_err ipc_send(ipc_channel *ch, const void *buf, size_t len,
                         unsigned prio, int timeout_ms);

/*
 * Receive one message into buf (capacity cap bytes). On IPC_OK *len is its
 * length and, if prio is not NULL, *prio its priority (0 on backends without
 * priority).
 *
 * IPC_EMSGSIZE: buf is too small; *len is set to the length needed and the
 * message stays queued, so a retry with a larger buffer receives it.
 * Other errors: IPC_EINVAL, IPC_EAGAIN (timeout 0, nothing queued),
 * IPC_ETIMEDOUT, IPC_ECLOSED (every sender is gone and the queue is drained;
 * only on ends with IPC_CAP_PEER_CLOSED: others wait out the timeout),
 * IPC_EPROTO (a peer wrote garbage; the bad data is dropped).
 */
IPC_API ipc_err ipc_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                         unsigned *prio, int timeout_ms);

/* --- Queries ----------------------------------------------------------- */

/* Fill *info for an end. IPC_EINVAL on NULL. */
IPC_API ipc_err ipc_query(const ipc_channel *ch, ipc_info *info);

/*
 * A descriptor for poll()/epoll that becomes ready when this end can make
 * progress: *events is POLLIN on a receiving end (a message is ready or the
 * peer closed) and POLLOUT on a send-only end. The descriptor stays owned by
 * the channel: do not close or read it. Readiness is a hint: after it, call
 * with timeout 0 and expect IPC_EAGAIN at times. It may be called from any
 * thread, also while another thread sends or receives on the end.
 * IPC_ENOTSUP without IPC_CAP_POLLABLE.
 */
IPC_API ipc_err ipc_pollfd(const ipc_channel *ch, int *fd, short *events);

/*
 * The uid of the peer process: on a connected end, the peer's; on a named
 * receiving end with several senders, the sender of the last message
 * received. IPC_ENOTSUP without IPC_CAP_PEER_UID; IPC_ENOENT if no peer is
 * known yet. To require a uid, use the address option peer_uid=N.
 */
IPC_API ipc_err ipc_peer_uid(const ipc_channel *ch, uid_t *uid);

/*
 * Write into buf an address that reaches this channel from another process:
 * the named address for named channels; for an inherited pipe end,
 * "pipe:?fd=N&max_msg=M" for an exec'd child to pass to ipc_open().
 * IPC_EMSGSIZE if size is too small (the string is never truncated).
 */
IPC_API ipc_err ipc_address(const ipc_channel *ch, char *buf, size_t size);

/* --- Zero copy (IPC_CAP_ZERO_COPY; IPC_ENOTSUP elsewhere) ---------------
 *
 * The shm ring implements these: a sender loans a slot, writes the message
 * in place and commits it; a receiver views a message in place and releases
 * it. Loans and views are bounded per end (IPC_ELIMIT beyond); every other
 * backend answers IPC_ENOTSUP.
 */

/* Loan space for a message of up to len bytes; *buf points into the channel. */
IPC_API ipc_err ipc_loan(ipc_channel *ch, size_t len, void **buf,
                         int timeout_ms);
/* Publish a loaned buffer as a message of len bytes (len <= the loan). */
IPC_API ipc_err ipc_commit(ipc_channel *ch, void *buf, size_t len,
                           unsigned prio);
/* View the next message in place; valid until ipc_release(). */
IPC_API ipc_err ipc_view(ipc_channel *ch, const void **buf, size_t *len,
                         unsigned *prio, int timeout_ms);
/* Give back a viewed message (or an uncommitted loan). Twice: IPC_EINVAL. */
IPC_API ipc_err ipc_release(ipc_channel *ch, const void *buf);

#ifdef __cplusplus
}
#endif

#endif /* IPC_IPC_H */
