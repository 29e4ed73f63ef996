/* SPDX-License-Identifier: MIT */
/* libipc channels: one message API over pipes, FIFOs, POSIX and SysV
 * message queues, UNIX sockets and a shared-memory ring. */
#ifndef IPC_CHANNEL_H
#define IPC_CHANNEL_H

#include <ipc/ipc.h>

/*
 * A channel carries discrete messages (0 to max_msg bytes) from senders to
 * receivers. One address string chooses the transport:
 *
 *   pipe:                      anonymous pipe (ipc_pair only, or ?fd=N to
 *                              adopt an inherited end in an exec'd child)
 *   unix:/path  unix:@name     UNIX domain socket, path or Linux abstract name
 *   fifo:/path  mq:/name  sysv:/path  sysv:0xKEY  shm:/name
 *   tcp:HOST:PORT              TCP, framed (no encryption, no authentication)
 *   udp:HOST:PORT              UDP, one datagram a message: lossy
 *                              (IPC_CAP_LOSSY; no encryption either)
 *
 * with options as a query: "shm:/frames?capacity=64&max_msg=65536".
 * The promises every backend keeps are in doc/contract.md (clauses C1.1...,
 * each with the tests that check it); what a given end can do is reported
 * by ipc_query() as IPC_CAP_* flags.
 */

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque end of a channel. */
typedef struct ipc_channel ipc_channel;

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
    IPC_CAP_INHERIT = 1u << 11,       /* exec'd child adopts via ipc_address */
    /* Best effort (udp): a message may be lost, reordered or duplicated;
     * nothing pushes back on a sender (a send never waits for the
     * receiver), and a sender cannot always tell whether a receiver
     * exists. A message that does arrive is whole and as sent. */
    IPC_CAP_LOSSY = 1u << 12
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

/* --- Lifecycle --------------------------------------------------------- */

/*
 * Open one end of a named channel.
 *
 * flags: IPC_F_SEND and/or IPC_F_RECV (at least one; both only on duplex
 * backends), optionally IPC_F_CREATE [| IPC_F_EXCL | IPC_F_REPLACE] and
 * IPC_F_INHERIT. The end that created the object owns it: its ipc_close()
 * removes the object.
 *
 * Trust. An end that opens an object it did not create (no IPC_F_CREATE,
 * or a plain IPC_F_CREATE that found one) accepts it only if the object is
 * owned by the caller's effective uid or by root (a SysV queue: its owner
 * and its creator; a unix receiver: the listening process's uid), or by
 * the uid the address names with owner=UID; else IPC_EACCES with a detail
 * naming the owner found. A symbolic link at a fifo: or unix: path is not
 * followed (IPC_EACCES). A unix:@name receiver applies its mode= (0600 by
 * default) to each sender's uid, as the kernel does for a socket file.
 * owner= trusts that uid fully: it can then remove, replace or truncate
 * the object (a truncated shm ring kills its user with SIGBUS).
 *
 * timeout_ms bounds the waits an open may need for an object that exists but
 * is not ready (a FIFO without a reader, a half-made shm ring, a full listen
 * backlog), and a creator's wait while another process makes a fifo: or
 * unix: name in the same directory (creators lock the directory across
 * judging a stale name, removing it and making theirs, so that two never
 * both win): with timeout 0 that is IPC_EAGAIN. A missing object is
 * IPC_ENOENT at once.
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
 * (len > max_msg: nothing sent; a named unix sender lowers its max_msg to
 * its receiver's once that one has accepted it, and the detail names the
 * receiver's limit), IPC_ENOTSUP, IPC_EAGAIN (timeout 0, no
 * room), IPC_ETIMEDOUT, IPC_ECLOSED (no receiver can ever read it),
 * IPC_ELIMIT. The buffer is only read, and only during the call.
 *
 * Rendezvous (IPC_CAP_RENDEZVOUS, an end opened with capacity=0: shm,
 * unix): IPC_OK only once a receiver has taken the message; timeout 0
 * answers IPC_EAGAIN unless one takes it at once. IPC_ETIMEDOUT,
 * IPC_EAGAIN and IPC_ECLOSED mean the send took it back: nobody gets it.
 * A named unix sender and its receiver must both say capacity=0
 * (IPC_EINVAL once the receiver has accepted it, otherwise).
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
 * IPC_EPROTO (a peer wrote garbage, or a message longer than this end's
 * max_msg from a sender opened with a larger one: that one message is
 * dropped, and the next receive takes the next message; doc/contract.md
 * C4.2).
 */
IPC_API ipc_err ipc_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                         unsigned *prio, int timeout_ms);

/* --- Queries ----------------------------------------------------------- */

/* Fill *info for an end. IPC_EINVAL on NULL. */
IPC_API ipc_err ipc_query(const ipc_channel *ch, ipc_info *info);

/*
 * A descriptor for poll()/epoll that becomes ready when this end can make
 * progress: *events is POLLIN on a receiving end (a message is ready or the
 * peer closed, or the end holds a message refused with IPC_EMSGSIZE) and
 * POLLOUT on a send-only end. The descriptor stays owned by
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

/* --- Schemes ----------------------------------------------------------- */

/* The schemes this library knows, for i = 0, 1, ... until NULL ("pipe",
 * "unix", ...), those built out included. A static string. Programs that
 * run over every transport (a demo, a benchmark, a tool) list them here. */
IPC_API const char *ipc_scheme(size_t i);
/* The IPC_CAP_* bits that ends of a scheme may have (ipc_query() tells what
 * one end has). IPC_EINVAL for an unknown scheme; IPC_ENOTSUP, with the
 * reason in the detail, when it was built out (*caps is then 0). */
IPC_API ipc_err ipc_scheme_caps(const char *scheme, unsigned *caps);

/* The largest options a scheme accepts on this machine, for this process:
 * the library's caps lowered to the OS limits that bind it. An open or
 * pair asking for more fails with IPC_ELIMIT (or IPC_EINVAL above the
 * library's own cap), naming the limit. */
typedef struct ipc_limits_info {
    size_t max_msg;          /* largest max_msg= */
    size_t max_msg_default;  /* max_msg when the address gives none */
    size_t capacity;         /* largest capacity=; 0: no such option */
    size_t capacity_default; /* capacity when the address gives none */
} ipc_limits_info;

/*
 * Fill *info for a scheme ("fifo", or any address of it: "fifo:/x?...";
 * an address's own limits where they differ: "udp:[::1]:0" takes 65527
 * bytes, "udp:127.0.0.1:0" 65507),
 * from the limits in /proc/sys (pipe-max-size, fs/mqueue/msgsize_max and
 * msg_max, kernel.msgmax and msgmnb, net.core.wmem_max) and, for unix:
 * once per process, the largest record the kernel sends, measured on a
 * private socket pair (tens to a few hundred ms: the kernel first tries
 * hard to find memory for each record it then refuses). Per process: other
 * limits (RLIMIT_MSGQUEUE, the pipe pages of a user, free memory) can still
 * refuse a given open. IPC_EINVAL for NULL or an unknown scheme; IPC_ENOTSUP,
 * with the reason, when it was built out.
 */
IPC_API ipc_err ipc_limits(const char *scheme, ipc_limits_info *info);

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

#endif /* IPC_CHANNEL_H */
