/* SPDX-License-Identifier: MIT */
/* unix backend, internal: the end's state and what its files share
 * (unix.c: addresses, limits, pairs, senders, messages, the ops table;
 * listen.c: the named receiver, its listener, senders' turns;
 * rendezvous.c: capacity 0, sends that return once taken;
 * back.c: the way back on a connection, for request/reply). */
#ifndef IPC_UNIX_H
#define IPC_UNIX_H

#include "ipc_int.h"
#include "os.h"
#include "frame.h"
#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * Why SOCK_SEQPACKET: it keeps message boundaries and sends each message
 * whole or not at all (like SOCK_DGRAM), yet it is connected, so a sender
 * learns that the receiver left (EPIPE) and a receiver that its pair peer
 * left (EOF), and the size of a message is bounded by the socket buffer
 * (net.core.wmem_max) rather than the datagram path. SOCK_STREAM would need
 * framing, could not refuse half a message, and moved 1 MiB messages about
 * 3x slower here. Each message carries the 16-byte frame header of frame.h:
 * on seqpacket a read of 0 bytes means EOF, so a zero-length message needs
 * a header to exist at all, and the header lets a receiver refuse garbage.
 *
 * A named channel is a listening socket owned by the one receiver that
 * created it; each sender connects. The receiver watches the listener and
 * its connections with one epoll set, which is also its poll descriptor.
 * epoll is Linux-only, as is the abstract namespace (unix:@name).
 *
 * A connection joins the epoll set only when it must: once a second sender
 * is connected (epoll_wait is then the fair, O(1) way to find the next
 * ready one) or once ipc_pollfd() has handed the set out (it must then be
 * complete, for good). A socket in an epoll set makes every send run
 * epoll's wake-up callback, ready list and all, even while the receiver is
 * busy and wants no wake-up: about 130 ns, 14 % of a 64-byte send, here
 * (see the README's benchmark notes). A lone sender is therefore waited
 * for with plain poll() on {listener, connection}, whose wait-queue entry
 * exists only while the receiver sleeps. A lone sender's burst still ends
 * every UNIX_BURST messages with a look at the listener, so a second
 * sender is accepted as promptly as before.
 *
 * max_msg agreement. A sender opened with a larger max_msg than its
 * receiver's would send records the receiver cannot take. So the receiver
 * writes one record on each connection it accepts, a frame header whose
 * length is its max_msg (a sender's socket carries nothing else towards
 * it). The sender does not wait for it (the receiver accepts only when it
 * receives, maybe in the sender's own thread): each send looks for it with
 * one non-blocking MSG_PEEK until it has come (peeked, not taken, so that a
 * forked child sharing the socket finds it too), then lowers its max_msg to
 * the receiver's, and a longer send fails with IPC_EMSGSIZE naming it. A
 * record sent before the hello came that is too long for the receiver is
 * dropped by it and reported once as IPC_EPROTO; the next one arrives.
 */

#define UNIX_MAX_MSG_DEFAULT (64u * 1024)
#define UNIX_MAX_MSG_MAX     (64u * 1024 * 1024)
#define UNIX_NAME_MAX        (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
/* Messages taken from one sender in a row before looking at the others. */
#define UNIX_BURST  32
#define UNIX_EVENTS 16
/* Per-message kernel overhead the send buffer must also hold. */
#define UNIX_SKB_SLACK 1024
/* Frames up to this size are below every kernel's largest record; above
 * it, open measures that limit (unix_frame_max). */
#define UNIX_FRAME_SURE (3u * 1024 * 1024)
/* Out of descriptors, the listener is retried at every receive, and a wait
 * is cut short after this back-off (doubling from 1 ms) to retry it: no
 * descriptor tells that one came free in this or another thread. */
#define UNIX_RESUME_MAX_NS (100L * 1000000)
/* Rendezvous (rendezvous.c). The priority field of a rendezvous receiver's
 * hello; a plain receiver's is 0. */
#define UNIX_HELLO_RENDEZVOUS 1u
/* An offer (a rendezvous message) sets bit 31 of its header's priority
 * word, byte 7 of the little-endian header: a receiver that does not
 * expect offers refuses it as garbage (IPC_EPROTO), never delivers it. */
#define UNIX_OFFER_BYTE 7
#define UNIX_OFFER_BIT  0x80u
/* One body for a plain hot path and a rendezvous caller: forced inline
 * in both, so that the plain one pays no call (GCC and Clang). */
#if defined(__GNUC__)
#define UNIX_INLINE inline __attribute__((always_inline))
#else
#define UNIX_INLINE inline
#endif

struct unix_conn {
    struct ipc_turn turn; /* first: ipc__turn_next reads it */
    int fd;
    uid_t uid;
    bool in_epoll; /* registered in the receiver's epoll set */
    struct unix_conn *next;
};

struct unix_end {
    int fd;   /* connected socket, or the listener of a named receiver */
    int epfd; /* named receiver: listener + connections; else -1 */
    struct ipc_waitspin spin; /* a receive's waits (ipc_int.h) */
    struct unix_conn *conns;
    struct unix_conn *cur; /* connection being drained */
    unsigned nconns;
    unsigned burst;
    unsigned long next_id; /* for the next connection accepted */
    unsigned long last_id; /* whose turn it was last */
    bool listener_paused;  /* out of descriptors: stop accepting a while */
    long resume_ns;        /* paused: the next wait's back-off */
    bool epolled;          /* every connection is in the epoll set */
    bool polled;           /* ipc_pollfd() handed epfd out: epolled for good */
    bool lock_made;
    /* conns, nconns, epolled, polled and in_epoll: ipc_pollfd() may run in
     * another thread than ipc_recv (it only reads constants elsewhere).
     * Taken on connect, disconnect, before a sleep and in ipc_pollfd, never
     * per message. */
    pthread_mutex_t lock;
    bool peer_max_known; /* a sender: the receiver's max_msg is known */
    bool rendezvous;     /* capacity=0: a send returns once a receiver took
                            its message (rendezvous.c) */
    size_t max_msg;      /* a named receiver: its max_msg, for the hello */
    bool have_peer;
    bool blocking;       /* a connected socket without O_NONBLOCK */
    int64_t rcvtimeo_ms; /* the SO_RCVTIMEO this end set last; 0: none */
    uid_t peer_uid;
    bool require_uid;
    uid_t required_uid;
    struct sockaddr_un sa;
    socklen_t sa_len;
    bool abstract;
    mode_t mode;
    dev_t dev; /* the socket file this end bound, to remove only it */
    ino_t ino;
};

static inline struct unix_end *unix_priv(const ipc_channel *ch)
{
    return ipc__priv(ch);
}

/* ----------------------------------------------------- named: the receiver */

/* Is someone accepting on this address? Used before replacing a socket
 * file, so that a live channel is never taken over. */
bool ipc__unix_is_live(const struct sockaddr_un *sa, socklen_t len);

/* Put every connection in the epoll set (lock held). */
ipc_err ipc__unix_epoll_all(struct unix_end *ue);

ipc_err ipc__unix_listen(ipc_channel *ch, const char *name, unsigned flags,
                         const struct ipc_deadline *dl);

/* The named receiver: many senders, taken in turns. */
ipc_err ipc__unix_recv_many(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                            unsigned *prio, const struct ipc_deadline *dl);

/* ipc_limits: the largest frame, less its header (limits.c). */
ipc_err ipc__unix_os_limits(const struct ipc_addr *addr, ipc_limits_info *info);

/* Make the send buffer hold two frames of max_msg, so that a message
 * always fits once the socket polls writable; refuse a max_msg the OS
 * cannot carry, naming the limit. */
ipc_err ipc__unix_size_sndbuf(int fd, size_t max_msg);

/* A max_msg above the largest record is refused at open by either end,
 * naming the limit (the send would fail with ENOBUFS every time). */
ipc_err ipc__unix_check_frame(size_t max_msg);

/* A named receiver tells a sender it accepted its max_msg (and whether the
 * channel is a rendezvous one). A sender that has already left makes this
 * fail: nothing to tell. */
void ipc__unix_send_hello(const struct unix_end *ue, int fd);

/* A named sender: peek at the receiver's hello without waiting. IPC_OK
 * whether or not it has come (ue->peer_max_known tells); *peeked: what
 * the peek returned (-1 nothing queued, 0 EOF, else the record's bytes).
 * IPC_EMSGSIZE when len exceeds the receiver's max_msg, IPC_EINVAL when
 * one end is rendezvous and the other not (every send then fails). */
ipc_err ipc__unix_peek_hello(ipc_channel *ch, size_t len, ssize_t *peeked);

/* sendmsg() one record, whole, waiting for room until the deadline;
 * IPC_ECLOSED once the receiver is gone. */
ipc_err ipc__unix_sendmsg(int fd, const struct msghdr *msg,
                          const struct ipc_deadline *dl);

/*
 * Take one message from a connected socket without waiting. IPC_EAGAIN if
 * none is there, IPC_ECLOSED at EOF. A buffer smaller than max_msg first
 * peeks at the length (MSG_TRUNC reports a record's real size), so that a
 * message too large for it stays queued; a buffer of max_msg needs no peek,
 * and one syscall per message is the common path.
 *
 * ECONNRESET: Linux reports it once, before the queued records, when the
 * peer closed with a record unread (a sender killed before it read the
 * receiver's hello): the error is consumed by the call that reports it,
 * so the records queued before the close are still read, then EOF.
 * wait: how a blocking socket's receive may sleep (unix_wait).
 */
enum unix_wait {
    UNIX_NOW,     /* MSG_DONTWAIT: never sleep */
    UNIX_FOREVER, /* sleep until a record comes; EINTR is retried */
    UNIX_TIMED,   /* sleep up to SO_RCVTIMEO; EINTR ends it (IPC_EAGAIN),
                   * so that the caller retries against its deadline */
};
ipc_err ipc__unix_take(int fd, size_t max_msg, void *buf, size_t cap,
                       size_t *len, unsigned *prio, enum unix_wait wait);

/* The same on a rendezvous end, where each record must be an offer:
 * IPC_OK comes with *token, the descriptor that rode with it (the
 * caller's to close); on any error none is left open. */
ipc_err ipc__unix_take_token(int fd, size_t max_msg, void *buf, size_t cap,
                             size_t *len, unsigned *prio, enum unix_wait wait,
                             int *token);

/* The uid of a connected socket's peer (SO_PEERCRED). */
ipc_err ipc__unix_peercred(int fd, uid_t *uid);

/* The backend op back (back.c). */
ipc_err ipc__unix_back(ipc_channel *ch, ipc_channel *out,
                       const struct ipc_deadline *dl);

/* ------------------------------------------------------------ rendezvous */

/* Send on a rendezvous end: return once a receiver has taken the message
 * (IPC_OK), or take it back (IPC_ETIMEDOUT, IPC_EAGAIN, IPC_ECLOSED: then
 * nobody has it, nor ever will). */
ipc_err ipc__unix_offer(ipc_channel *ch, const void *buf, size_t len,
                        unsigned prio, const struct ipc_deadline *dl);

/* Receive on a rendezvous end: ipc__unix_take_token, then the take itself
 * (the token); offers their senders took back are skipped. */
ipc_err ipc__unix_take_offer(int fd, size_t max_msg, void *buf, size_t cap,
                             size_t *len, unsigned *prio, enum unix_wait wait);

#endif /* IPC_UNIX_H */
