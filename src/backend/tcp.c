/* SPDX-License-Identifier: MIT */
/* tcp: framed messages over TCP, IPv4 and IPv6; one listening receiver,
 * senders that connect. No encryption, no authentication. */
#include "ipc_int.h"
#include "frame.h"
#include "net.h"
#include "os.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * The address is "tcp:HOST:PORT": HOST an IPv4 literal, an IPv6 literal in
 * brackets, or a name (resolved with getaddrinfo, which may block on DNS
 * past the call's timeout: use literals where that matters). A receiver
 * may ask for port 0; ipc_address() then gives the port the kernel chose.
 *
 * Framing is the byte-stream codec of stream.c (as pipe: and fifo:): a
 * 16-byte frame.h header, then the message. A send that times out half-way
 * through a frame breaks the sender's channel (every later send is
 * IPC_ECLOSED) and the receiver discards the partial frame when the
 * connection ends: never half a message.
 *
 * The receiver is a listening socket and an epoll set holding it and every
 * accepted connection; epoll is also its poll descriptor. Connections are
 * served in turns, TCP_BURST messages at most from one before the next
 * ready one (by order of arrival) gets its turn, as the unix: receiver.
 * Each connection keeps its own stream state, so a frame that arrives in
 * pieces waits there while other senders are served.
 *
 * Each connection reads ahead (stream.h): one read takes the frame asked
 * for and what has come after it, so a small message, header and all, is
 * one read, and a burst of them a few; a read that came back short found
 * the socket empty, so the next receive goes straight to epoll_wait
 * instead of first failing a read. A round trip's receive is thus a wait
 * and a read, as the raw loop's two reads. Frames read ahead are invisible
 * to epoll: a turn that ends with some leaves the end "held", and its
 * waits serve them first (tcp_held); see also polled. A large frame that
 * arrives in pieces waits in the caller's buffer while that buffer comes
 * back to the same connection (stream.h: park), not in a copy.
 *
 * max_msg: the receiver never writes a byte to a sender, not even the
 * hello with its max_msg that unix: receivers send. A TCP socket closed
 * with bytes unread resets the connection and throws away what its send
 * buffer still held, and a sender may close (or exit) before it could
 * read a hello sent at accept, or even before it was accepted: its last
 * messages would be lost. Measured: 4 senders of 150 messages each lost
 * up to half of them that way. So a sender keeps its own max_msg, and a
 * frame longer than the receiver's is skipped by the receiver, whole,
 * and reported there once as IPC_EPROTO; the stream stays in sync. Open
 * both ends with the same max_msg.
 *
 * A vanished peer. A receiver closes its connections with a reset, not a
 * FIN (tcp_reset_on_close), so a sender's next send fails, IPC_ECLOSED,
 * without a look at the socket before every send (that peek cost a
 * syscall a message). A peer that is not a libipc receiver and closes with
 * a FIN is heard one send later (that send's bytes are lost). A peer
 * that vanished without a word (host down, link cut) is found by
 * keepalive and TCP_USER_TIMEOUT within 30 s (net.h): the connection fails with
 * ETIMEDOUT, which is IPC_ECLOSED for a sender and a dropped connection for
 * the receiver. Before that bound, sends fill the socket buffers and then
 * wait out their own timeouts.
 *
 * TCP_NODELAY, so that a message leaves at its send. nodelay=0 leaves
 * Nagle's algorithm on instead: while a small segment is unacknowledged the
 * kernel holds further small sends and sends them together (Linux holds
 * one only behind another small one, Minshall's variant, so a lone
 * message, even a large one, never waits). A one-way stream of small
 * messages then makes far fewer segments and goes several times faster,
 * each message waiting about one ACK longer; a connection that also
 * carries answers (request/reply) delays its ACKs to ride on them, and a
 * second small request or answer sent before the first is answered can
 * then wait for the delayed ACK (40 ms and more on Linux).
 *
 * Who may connect: peer=ADDR[/PREFIX] on the receiver closes, at accept,
 * connections from other addresses; bind=ADDR on a sender chooses the
 * address it connects from. Neither is authentication: source addresses
 * can be forged on most networks. The kernel's loopback and firewall are
 * the only real fences; see the README.
 */

#define TCP_MAX_MSG_DEFAULT (64u * 1024)
#define TCP_MAX_MSG_MAX     (64u * 1024 * 1024)
#define TCP_BURST           32
#define TCP_EVENTS          16
/* Out of descriptors: retry the paused listener after this much. */
#define TCP_RESUME_MS 50
/* A connection's read-ahead (stream.h): a whole frame of max_msg and the
 * next header where that is at most TCP_AHEAD_WHOLE, so that a small
 * message is one read; else TCP_AHEAD_MIN, and a large payload goes
 * straight into the caller's buffer, the read-ahead saving only the
 * separate reads of headers. */
#define TCP_AHEAD_WHOLE (32u * 1024)
#define TCP_AHEAD_MIN   (4u * 1024)

struct tcp_conn {
    struct ipc_turn turn; /* first: ipc__turn_next reads it */
    struct ipc_stream st;
    struct tcp_conn *next;
    unsigned char ahead[]; /* the stream's read-ahead */
};

struct tcp_end {
    int fd;               /* listener (receiver) or connected socket (sender) */
    int epfd;             /* receiver: listener + connections; else -1 */
    struct ipc_stream st; /* sender */
    bool st_made;
    struct tcp_conn *conns;
    struct tcp_conn *cur;
    unsigned burst;
    unsigned long next_id, last_id;
    bool paused; /* out of descriptors: the listener is out of the set */
    /* A connection's turn ended with frames in its read-ahead, which no
     * wait would report: the waits look for them (tcp_held). */
    bool held;
    /* ipc_pollfd() handed the epoll set out (it may run in another
     * thread: lock orders it against this end's receives). Frames read
     * ahead would not make the set ready, so from then on a connection
     * reads one frame at a time, and bell, an eventfd in the set rung at
     * that moment, stands for the frames already read ahead until a
     * receive finds none left (tcp_bell_quiet). */
    pthread_mutex_t lock;
    bool lock_made;
    atomic_bool polled;
    atomic_bool bell_rung;
    int bell;
    bool filter; /* peer= given */
    struct ipc_net peer;
    unsigned char *back_ahead; /* a receiving way back's read-ahead */
    struct ipc_waitspin spin;  /* receiver's waits */
    bool nagle;                /* nodelay=0: no TCP_NODELAY (see the top) */
};

static struct tcp_end *tcp_priv(const ipc_channel *ch)
{
    return ipc__priv(ch);
}

/* ------------------------------------------------------------- sockets */

/* Low latency unless nodelay=0 asked otherwise, and a bound on how long a
 * dead peer goes unnoticed (see the top). */
static void tcp_tune(const struct tcp_end *te, int fd)
{
    int one = 1;
    if (!te->nagle)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ipc__net_keepalive(fd);
}

/* A send buffer for two frames of max_msg where the OS allows (so that a
 * frame is written whole once it fits); its size as the kernel counts. */
static size_t tcp_sndbuf(int fd, size_t max_msg)
{
    int have = 0;
    socklen_t len = sizeof have;
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len);
    size_t want = 2 * (max_msg + IPC_FRAME_HDR);
    if (have > 0 && (size_t)have / 4 * 3 < want && want < INT32_MAX / 2) {
        int ask = (int)want; /* the kernel doubles it */
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &ask, sizeof ask);
        len = sizeof have;
        getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len);
    }
    return have > 0 ? (size_t)have : 0;
}

static int tcp_socket(int family, unsigned flags)
{
    int type = SOCK_STREAM | SOCK_NONBLOCK;
    if (!(flags & IPC_F_INHERIT))
        type |= SOCK_CLOEXEC;
    return socket(family, type, 0);
}

/* ------------------------------------------------------------ receiver */

static ipc_err tcp_listen_on(ipc_channel *ch, const struct addrinfo *ai,
                             unsigned flags)
{
    struct tcp_end *te = tcp_priv(ch);
    if ((te->fd = tcp_socket(ai->ai_family, flags)) < 0)
        return ipc__errno(errno, "tcp: socket");
    int one = 1;
    /* Rebind at once after a receiver closed (TIME_WAIT); a live
     * listener still holds the port. */
    setsockopt(te->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        setsockopt(te->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(te->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno == EADDRINUSE)
            return ipc__fail(IPC_EEXIST, "tcp: %s: the port is in use",
                             ch->address);
        return ipc__errno(errno, "tcp: bind %s", ch->address);
    }
    if (listen(te->fd, SOMAXCONN) < 0)
        return ipc__errno(errno, "tcp: listen %s", ch->address);
    return IPC_OK;
}

static ipc_err tcp_listen(ipc_channel *ch, const struct ipc_addr *addr,
                          unsigned flags)
{
    struct tcp_end *te = tcp_priv(ch);
    if (!(flags & IPC_F_CREATE))
        return ipc__fail(IPC_EINVAL,
                         "tcp: %s: the receiver listens, so it "
                         "creates the channel (IPC_F_CREATE)",
                         addr->path);
    const char *peer = ipc__addr_str(addr, IPC_KEY_PEER);
    ipc_err err = IPC_OK;
    if (peer && (err = ipc__net_parse("tcp", peer, &te->peer)) != IPC_OK)
        return err;
    te->filter = peer != NULL;
    struct addrinfo *ai;
    if ((err = ipc__net_resolve("tcp", addr->path, SOCK_STREAM, true, &ai)) !=
        IPC_OK)
        return err;
    err = tcp_listen_on(ch, ai, flags);
    freeaddrinfo(ai);
    if (err != IPC_OK)
        return err;
    int cloexec = (flags & IPC_F_INHERIT) ? 0 : EPOLL_CLOEXEC;
    if ((te->epfd = epoll_create1(cloexec)) < 0)
        return ipc__errno(errno, "tcp: epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(te->epfd, EPOLL_CTL_ADD, te->fd, &ev) < 0)
        return ipc__errno(errno, "tcp: epoll_ctl");
    if (pthread_mutex_init(&te->lock, NULL) != 0)
        return ipc__fail(IPC_ENOMEM, "tcp: pthread_mutex_init");
    te->lock_made = true;
    /* New senders can always come: the receiver never hears "closed". */
    ch->caps &= ~(unsigned)(IPC_CAP_PEER_CLOSED | IPC_CAP_DUPLEX);
    return IPC_OK;
}

/*
 * Close a sender's connection with a reset, not a FIN (SO_LINGER 0): its
 * next send then fails at once (EPIPE, ECONNRESET), where a send after a
 * FIN succeeds and is lost. So a sender hears a closed receiver without
 * a look before every send. Nothing is lost that a FIN would keep: the
 * receiver never sends, and what it has not read is gone either way (TCP
 * resets a close with bytes unread). The kernel does the same to
 * connections still waiting to be accepted when the listener closes.
 */
static void tcp_reset_on_close(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

static void tcp_refuse(int fd)
{
    tcp_reset_on_close(fd);
    close(fd);
}

static size_t tcp_ahead_size(size_t max_msg)
{
    size_t whole = max_msg + 2 * IPC_FRAME_HDR;
    return whole <= TCP_AHEAD_WHOLE ? whole : TCP_AHEAD_MIN;
}

static ipc_err tcp_add_conn(ipc_channel *ch, int fd)
{
    struct tcp_end *te = tcp_priv(ch);
    size_t ahead = tcp_ahead_size(ch->max_msg);
    struct tcp_conn *c = calloc(1, sizeof *c + ahead);
    if (!c) {
        tcp_refuse(fd);
        return IPC_OK; /* refused like an unwanted peer; others go on */
    }
    tcp_tune(te, fd);
    tcp_reset_on_close(fd);
    ipc__stream_init_socket(&c->st, fd, ch->max_msg, 0);
    ipc__stream_read_ahead(&c->st, c->ahead, ahead);
    c->st.skip_max = TCP_MAX_MSG_MAX;
    c->st.park = true; /* tcp_recv retries with the same buffer */
    c->turn.id = te->next_id++;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(te->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        ipc__stream_close(&c->st);
        free(c);
        return IPC_OK;
    }
    c->next = te->conns;
    te->conns = c;
    return IPC_OK;
}

/* Accept every waiting sender; those peer= refuses are closed at once. */
static ipc_err tcp_accept(ipc_channel *ch)
{
    struct tcp_end *te = tcp_priv(ch);
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(te->fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN)
                return IPC_OK;
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: stop watching the listener, or every
                 * wait would spin on it; retried after TCP_RESUME_MS. */
                epoll_ctl(te->epfd, EPOLL_CTL_DEL, te->fd, NULL);
                te->paused = true;
                return IPC_OK;
            }
            return ipc__errno(errno, "tcp: accept");
        }
        if (te->filter && !ipc__net_match(&te->peer, &ss)) {
            tcp_refuse(fd);
            continue;
        }
        tcp_add_conn(ch, fd);
    }
}

static void tcp_drop(struct tcp_end *te, struct tcp_conn *gone)
{
    for (struct tcp_conn **p = &te->conns; *p; p = &(*p)->next) {
        if (*p == gone) {
            *p = gone->next;
            break;
        }
    }
    if (te->cur == gone)
        te->cur = NULL;
    epoll_ctl(te->epfd, EPOLL_CTL_DEL, gone->st.fd, NULL);
    ipc__stream_close(&gone->st);
    free(gone);
    if (te->paused) {
        /* A descriptor came free: watch the listener again. */
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        te->paused = epoll_ctl(te->epfd, EPOLL_CTL_ADD, te->fd, &ev) < 0;
    }
}

/* Whose turn it is among the ready connections epoll reported. */
static struct tcp_conn *tcp_next_turn(const struct tcp_end *te,
                                      const struct epoll_event *ev, int n)
{
    return ipc__turn_next(ev, n, te->last_id);
}

/* Of two candidates (either may be NULL), whose turn comes first: the
 * lowest id after the last served, else the lowest (ipc__turn_next). */
static struct tcp_conn *tcp_first_turn(struct tcp_conn *a, struct tcp_conn *b,
                                       unsigned long last_id)
{
    if (!a || !b)
        return a ? a : b;
    bool a_after = a->turn.id > last_id, b_after = b->turn.id > last_id;
    if (a_after != b_after)
        return a_after ? a : b;
    return a->turn.id < b->turn.id ? a : b;
}

/* Nothing is read ahead any more: the bell (polled) goes quiet, so that
 * the set is ready only for what the sockets hold. */
static void tcp_bell_quiet(struct tcp_end *te)
{
    pthread_mutex_lock(&te->lock);
    if (atomic_load(&te->bell_rung)) {
        uint64_t rings;
        ssize_t n = read(te->bell, &rings, sizeof rings);
        (void)n; /* EAGAIN: quiet already */
        atomic_store(&te->bell_rung, false);
    }
    pthread_mutex_unlock(&te->lock);
}

/* Drop the bell's events from what epoll reported (by its address: the
 * bell may be added by another thread at any time). */
static int tcp_drop_bell(const struct tcp_end *te, struct epoll_event *ev,
                         int n)
{
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].data.ptr != &te->bell)
            ev[kept++] = ev[i];
    return kept;
}

/* The next turn among connections whose read-ahead holds bytes (their
 * sockets may be empty, so epoll would not report them); only looked for
 * after a turn ended with some (rare: several busy senders). */
static struct tcp_conn *tcp_held(struct tcp_end *te)
{
    if (!te->held)
        return NULL;
    struct tcp_conn *next = NULL;
    for (struct tcp_conn *c = te->conns; c; c = c->next)
        if (c->st.ahead_len > 0)
            next = tcp_first_turn(next, c, te->last_id);
    te->held = next != NULL;
    return next;
}

static ipc_err tcp_wait(ipc_channel *ch, const struct ipc_deadline *dl)
{
    struct tcp_end *te = tcp_priv(ch);
    struct epoll_event ev[TCP_EVENTS];
    for (;;) {
        if (te->paused) {
            struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
            te->paused = epoll_ctl(te->epfd, EPOLL_CTL_ADD, te->fd, &lev) < 0;
        }
        struct tcp_conn *held = tcp_held(te);
        if (!held && atomic_load_explicit(&te->bell_rung, memory_order_relaxed))
            tcp_bell_quiet(te);
        int ms = held ? 0 : ipc__deadline_poll_ms(dl);
        if (te->paused && (ms < 0 || ms > TCP_RESUME_MS))
            ms = TCP_RESUME_MS;
        int n = ipc__spin_epoll(&te->spin, te->epfd, ev, TCP_EVENTS, ms);
        if (n < 0 && errno != EINTR)
            return ipc__errno(errno, "tcp: epoll_wait");
        n = tcp_drop_bell(te, ev, n);
        struct tcp_conn *next = tcp_first_turn(
            tcp_next_turn(te, ev, n > 0 ? n : 0), held, te->last_id);
        for (int i = 0; i < n; i++) {
            ipc_err err;
            if (!ev[i].data.ptr && (err = tcp_accept(ch)) != IPC_OK)
                return err;
        }
        if (next) {
            te->cur = next;
            te->burst = 0;
            te->last_id = next->turn.id;
            return IPC_OK;
        }
        if (n <= 0 && (dl->nonblock || ipc__deadline_expired(dl)))
            return ipc__deadline_err(dl);
    }
}

static ipc_err tcp_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                        unsigned *prio, const struct ipc_deadline *dl)
{
    static const struct ipc_deadline now = {.at_ns = 0, .nonblock = true};
    struct tcp_end *te = tcp_priv(ch);
    if (te->epfd < 0) /* the way back on a connection (tcp_back) */
        return ipc__stream_recv(&te->st, buf, cap, len, prio, dl);
    for (;;) {
        struct tcp_conn *c = te->cur;
        if (c && te->burst < TCP_BURST) {
            if (c->st.ahead_cap &&
                atomic_load_explicit(&te->polled, memory_order_relaxed))
                c->st.ahead_cap = 0; /* see polled */
            ipc_err err = ipc__stream_recv(&c->st, buf, cap, len, prio, &now);
            if (err == IPC_OK || err == IPC_EMSGSIZE ||
                (err == IPC_EPROTO && !c->st.broken)) {
                te->burst += err != IPC_EMSGSIZE;
                return err; /* EPROTO: a too long frame skipped */
            }
            if (err != IPC_EAGAIN && err != IPC_ECLOSED && !c->st.broken)
                return err;
            if (err != IPC_EAGAIN) {
                /* Gone, or garbage after which no frame can be found:
                 * the connection is closed; garbage is said once. */
                tcp_drop(te, c);
                if (err != IPC_ECLOSED)
                    return err;
                c = NULL;
            }
        }
        if (c && c->st.ahead_len > 0)
            te->held = true; /* its turn ended with frames read ahead */
        te->cur = NULL;
        ipc_err err = tcp_wait(ch, dl);
        /* A frame begun in buf waits there only while buf comes back to
         * the same connection (the lone sender's usual case): a large
         * message is then not copied twice. */
        if (c && c->st.parked > 0 && (err != IPC_OK || te->cur != c)) {
            ipc_err perr = ipc__stream_unpark(&c->st, buf);
            if (perr != IPC_OK)
                return perr;
        }
        if (err != IPC_OK)
            return err;
    }
}

/* -------------------------------------------------------------- sender */

/* Connect to one of the resolved addresses within the deadline. */
static ipc_err tcp_connect_one(struct tcp_end *te, const struct addrinfo *ai,
                               const char *bind_to, unsigned flags,
                               const struct ipc_deadline *dl)
{
    if ((te->fd = tcp_socket(ai->ai_family, flags)) < 0)
        return ipc__errno(errno, "tcp: socket");
    if (bind_to) {
        ipc_err err = ipc__net_bind("tcp", te->fd, ai->ai_family, bind_to);
        if (err != IPC_OK)
            return err;
    }
    if (connect(te->fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return IPC_OK;
    if (errno != EINPROGRESS && errno != EINTR)
        return ipc__errno(errno, "tcp: connect");
    ipc_err err = ipc__wait_fd(te->fd, POLLOUT, dl, NULL);
    if (err != IPC_OK)
        return ipc__fail(err, "tcp: no connection within the timeout");
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(te->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr == ECONNREFUSED)
        return ipc__fail(IPC_ENOENT, "tcp: nobody listens there");
    return soerr ? ipc__errno(soerr, "tcp: connect") : IPC_OK;
}

static ipc_err tcp_connect(ipc_channel *ch, const struct ipc_addr *addr,
                           unsigned flags, const struct ipc_deadline *dl)
{
    struct tcp_end *te = tcp_priv(ch);
    if (flags & IPC_F_CREATE)
        return ipc__fail(IPC_EINVAL,
                         "tcp: %s: a sender cannot create a channel; its "
                         "receiver listens",
                         addr->path);
    struct addrinfo *res;
    ipc_err err = ipc__net_resolve("tcp", addr->path, SOCK_STREAM, false, &res);
    if (err != IPC_OK)
        return err;
    err = IPC_ENOENT;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (te->fd >= 0)
            close(te->fd);
        te->fd = -1;
        err = tcp_connect_one(te, ai, ipc__addr_str(addr, IPC_KEY_BIND), flags,
                              dl);
        /* A refusal tries the next address; a timeout ends the open. */
        if (err != IPC_ENOENT && err != IPC_ECLOSED)
            break;
    }
    freeaddrinfo(res);
    if (err == IPC_ECLOSED || err == IPC_ENOENT)
        return ipc__fail(IPC_ENOENT, "tcp: %s: nobody listens there",
                         addr->path);
    if (err != IPC_OK)
        return err;
    tcp_tune(te, te->fd);
    size_t sndbuf = tcp_sndbuf(te->fd, ch->max_msg);
    ipc__stream_init_socket(&te->st, te->fd, ch->max_msg, sndbuf);
    te->st_made = true;
    ch->caps &= ~(unsigned)IPC_CAP_DUPLEX;
    ch->buffer_bytes = sndbuf;
    return IPC_OK;
}

/* No look at the socket first: a libipc receiver closes with a reset
 * (tcp_reset_on_close), which fails this send (IPC_ECLOSED). */
static ipc_err tcp_send(ipc_channel *ch, const void *buf, size_t len,
                        unsigned prio, const struct ipc_deadline *dl)
{
    return ipc__stream_send(&tcp_priv(ch)->st, buf, len, prio, dl);
}

/* A port is held by its receiver alone and goes with it: there is nothing
 * to remove. IPC_ENOENT if the port is free, IPC_EBUSY if a receiver (of
 * any kind) holds it. */
static ipc_err tcp_unlink(const struct ipc_addr *addr)
{
    struct addrinfo *ai;
    ipc_err err = ipc__net_resolve("tcp", addr->path, SOCK_STREAM, true, &ai);
    if (err != IPC_OK)
        return err;
    int fd = tcp_socket(ai->ai_family, 0), one = 1, rc = -1, saved = EMFILE;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
        saved = errno;
        close(fd);
    }
    freeaddrinfo(ai);
    if (rc == 0)
        return ipc__fail(IPC_ENOENT, "tcp: %s: nobody listens there",
                         addr->path);
    if (saved == EADDRINUSE)
        return ipc__fail(IPC_EBUSY,
                         "tcp: %s: a port is freed only by "
                         "closing its receiver",
                         addr->path);
    return ipc__errno(saved, "tcp: %s", addr->path);
}

/* ---------------------------------------------------------- the end */

static ipc_err tcp_open(ipc_channel *ch, const struct ipc_addr *addr,
                        unsigned flags, const struct ipc_deadline *dl)
{
    struct tcp_end *te = tcp_priv(ch);
    te->fd = te->epfd = te->bell = -1;
    if ((flags & IPC_F_DUPLEX) == IPC_F_DUPLEX)
        return ipc__fail(IPC_ENOTSUP,
                         "tcp: an end either receives (and listens) or sends");
    ch->capacity = 0;
    ch->buffer_bytes = 0;
    te->nagle = ipc__addr_get(addr, IPC_KEY_NODELAY, 1) == 0;
    if (flags & IPC_F_RECV)
        return tcp_listen(ch, addr, flags);
    return tcp_connect(ch, addr, flags, dl);
}

static void tcp_close(ipc_channel *ch)
{
    struct tcp_end *te = tcp_priv(ch);
    while (te->conns) {
        struct tcp_conn *c = te->conns;
        te->conns = c->next;
        ipc__stream_close(&c->st);
        free(c);
    }
    if (te->st_made) {
        /* Bytes unread at close make TCP reset the connection, which
         * throws away what the send buffer still holds: a libipc receiver
         * sends none, but a hostile one might. */
        unsigned char sink[64];
        while (recv(te->fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
            ;
        ipc__stream_close(&te->st); /* closes te->fd */
    } else if (te->fd >= 0)
        close(te->fd);
    if (te->epfd >= 0)
        close(te->epfd);
    if (te->bell >= 0)
        close(te->bell);
    if (te->lock_made)
        pthread_mutex_destroy(&te->lock);
    te->fd = te->epfd = te->bell = -1;
    te->st_made = false;
    te->lock_made = false;
    free(te->back_ahead);
    te->back_ahead = NULL;
}

/* The way back on a connection (ipc__channel_back), for request/reply: a
 * sending end on the connection the receiver's last message came from,
 * or a receiving end on a sender's own. Framed as the other direction;
 * the receiver's connections otherwise carry nothing back (see max_msg
 * at the top), so what comes is the other side's messages alone. */
static ipc_err tcp_back(ipc_channel *ch, ipc_channel *out,
                        const struct ipc_deadline *dl)
{
    (void)dl;
    struct tcp_end *te = tcp_priv(ch), *back = tcp_priv(out);
    back->fd = back->epfd = back->bell = -1;
    if (te->epfd >= 0 && !te->cur)
        return ipc__fail(IPC_EINVAL, "tcp: no message received just now "
                                     "to answer");
    int fd = te->epfd >= 0 ? te->cur->st.fd : te->fd;
    back->fd =
        fcntl(fd, ch->flags & IPC_F_INHERIT ? F_DUPFD : F_DUPFD_CLOEXEC, 3);
    if (back->fd < 0)
        return ipc__errno(errno, "tcp: dup");
    size_t sndbuf =
        out->direction == IPC_F_SEND ? tcp_sndbuf(back->fd, out->max_msg) : 0;
    ipc__stream_init_socket(&back->st, back->fd, out->max_msg, sndbuf);
    back->st_made = true;
    out->buffer_bytes = sndbuf;
    if (out->direction == IPC_F_RECV) {
        /* As a receiver's connection: a reply, header and all, is one
         * read; a frame too long for this end is skipped whole. Only
         * request/reply uses this end, and never polls it. */
        size_t ahead = tcp_ahead_size(out->max_msg);
        if (!(back->back_ahead = malloc(ahead)))
            return ipc__fail(IPC_ENOMEM, "tcp: read-ahead");
        ipc__stream_read_ahead(&back->st, back->back_ahead, ahead);
        back->st.skip_max = TCP_MAX_MSG_MAX;
    }
    return IPC_OK;
}

/* The receiver's first call makes and rings the bell (see polled): what
 * was read ahead so far shows in the set. */
static ipc_err tcp_bell_ring(struct tcp_end *te, unsigned flags)
{
    int cloexec = (flags & IPC_F_INHERIT) ? 0 : EFD_CLOEXEC;
    if ((te->bell = eventfd(0, EFD_NONBLOCK | cloexec)) < 0)
        return ipc__errno(errno, "tcp: eventfd");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &te->bell};
    uint64_t one = 1;
    if (epoll_ctl(te->epfd, EPOLL_CTL_ADD, te->bell, &ev) < 0 ||
        write(te->bell, &one, sizeof one) != sizeof one) {
        ipc_err err = ipc__errno(errno, "tcp: the poll descriptor's eventfd");
        close(te->bell);
        te->bell = -1;
        return err;
    }
    atomic_store(&te->bell_rung, true);
    atomic_store(&te->polled, true);
    return IPC_OK;
}

static ipc_err tcp_pollfd(const ipc_channel *ch, int *fd)
{
    /* ipc__priv drops const: the first call adds the bell, this end's
     * hidden state, not something the caller sees. */
    struct tcp_end *te = tcp_priv(ch);
    if (te->epfd >= 0) {
        ipc_err err = IPC_OK;
        pthread_mutex_lock(&te->lock);
        if (!atomic_load(&te->polled))
            err = tcp_bell_ring(te, ch->flags);
        pthread_mutex_unlock(&te->lock);
        if (err != IPC_OK)
            return err;
    }
    *fd = te->epfd >= 0 ? te->epfd : te->fd;
    return IPC_OK;
}

/* The receiver's real address (the port the kernel chose for port 0); a
 * sender's, the receiver it is connected to. */
static ipc_err tcp_address(const ipc_channel *ch, char *buf, size_t size)
{
    const struct tcp_end *te = tcp_priv(ch);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc = te->epfd >= 0 ? getsockname(te->fd, (struct sockaddr *)&ss, &len)
                           : getpeername(te->fd, (struct sockaddr *)&ss, &len);
    if (rc < 0)
        return ipc__errno(errno, "tcp: the socket's address");
    const char *query = ch->address ? strchr(ch->address, '?') : NULL;
    return ipc__net_format("tcp", &ss, query ? query : "", buf, size);
}

const struct ipc_backend ipc__backend_tcp = {
    .scheme = "tcp",
    .caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_POLLABLE |
            IPC_CAP_PEER_CLOSED,
    .keys = IPC_KEYBIT(IPC_KEY_MAX_MSG) | IPC_KEYBIT(IPC_KEY_BIND) |
            IPC_KEYBIT(IPC_KEY_PEER) | IPC_KEYBIT(IPC_KEY_NODELAY),
    .named_keys = IPC_KEYBIT(IPC_KEY_BIND) | IPC_KEYBIT(IPC_KEY_PEER),
    .priv_size = sizeof(struct tcp_end),
    .limits =
        {
            .max_msg_default = TCP_MAX_MSG_DEFAULT,
            .max_msg_max = TCP_MAX_MSG_MAX,
            .name_max = IPC_NET_NAME_MAX,
        },
    .path_required = true,
    .open = tcp_open,
    .close = tcp_close,
    .unlink = tcp_unlink,
    .send = tcp_send,
    .recv = tcp_recv,
    .pollfd = tcp_pollfd,
    .address = tcp_address,
    .back = tcp_back,
};
