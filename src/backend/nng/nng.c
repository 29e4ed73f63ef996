/* SPDX-License-Identifier: MIT */
/* nng: channels over nng's push/pull sockets (tcp, ipc, ws, tls+tcp), for
 * users who outgrow one machine. Linux-only (epoll for the poll descriptor). */
#include "nng.h"
#include "net.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/tls/tls.h>
#include <stdint.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * The address is "nng+URL" with URL one of nng's: tcp://HOST:PORT,
 * ipc:///path, ws://HOST:PORT/path, tls+tcp://HOST:PORT (only when the
 * linked nng has TLS). The URL goes to nng as it is.
 *
 * Why push/pull, not pair: a channel carries messages one way, from any
 * number of senders to one receiver. pull listens and takes from every
 * pusher that dials it (IPC_CAP_MULTI_SENDER); pair0/pair1 serve one peer
 * at a time. push with no connected pull queues nothing: a send waits (its
 * timeout) until a receiver is there.
 *
 * Deadlines: timeout 0 is NNG_FLAG_NONBLOCK; a finite one is set as
 * NNG_OPT_SENDTIMEO/RECVTIMEO (whole ms, rounded up) before the call, and
 * a wait that nng ends before the monotonic deadline is made again.
 *
 * max_msg: the receiver sets NNG_OPT_RECVMAXSZ; nng then drops the
 * connection of a sender that sends more (the message, and what that sender
 * had in flight behind it, are lost; the sender redials). Senders refuse
 * larger messages themselves (the frontend's IPC_EMSGSIZE, nothing sent).
 * Open both ends with the same max_msg.
 *
 * Reconnection is nng's: a sender's dialer redials after a lost connection
 * after NNG_OPT_RECONNMINT (100 ms, nng's default), doubling up to
 * NNGCH_RECONN_MAX_MS (nng's default is no back-off at all). The first dial
 * is made by the open: nobody listening is IPC_ENOENT, unless lazy=1, which
 * starts the dialer in the background and returns at once (sends then wait
 * for the receiver). The first dial is synchronous: a host that drops the
 * SYN makes it wait the kernel's connect timeout, past the open's timeout.
 *
 * What nng cannot tell: push/pull has no "peer closed" event, so neither
 * end has IPC_CAP_PEER_CLOSED; a sender whose receiver is gone waits out
 * its timeouts while nng redials. Messages nng has accepted but not yet
 * written when a connection breaks are lost (test nng.kill9_restart says
 * how many). A send returns before its message reaches the receiver (nng's
 * threads carry it): a receive right after it may still find nothing.
 *
 * fork: nng's threads do not survive it, and nng aborts a child that calls
 * it after the parent did. Such a child gets IPC_ENOTSUP from open, send
 * and receive, and its ipc_close() leaves nng alone (the parent's end
 * still owns the socket); a program that exec's starts afresh.
 *
 * Polling: the receiver's descriptor is an epoll set holding nng's
 * NNG_OPT_RECVFD (readable while pull holds a message; measured level-
 * triggered: it stays readable until the last message is taken, test
 * nng.pollfd_level) and an eventfd readable while this end holds a message
 * refused with IPC_EMSGSIZE, made by the first ipc_pollfd() (nng's
 * descriptor costs each message a write and a read once handed out). A
 * sender has no descriptor: nng's
 * NNG_OPT_SENDFD signals room with POLLIN, and the contract gives a send
 * end POLLOUT, so ipc_pollfd() answers IPC_ENOTSUP there.
 *
 * A vanished peer over TCP (tcp://, tls+tcp://, ws://: host down, link
 * cut, no reset ever comes). nng 1.5 offers only SO_KEEPALIVE with the
 * system's timing (2 h on Linux) and no TCP_USER_TIMEOUT, and does not
 * hand out a pipe's descriptor. So when a pipe comes up, the descriptor
 * is found among this process's own (/proc/self/fd: the socket whose two
 * addresses are the pipe's, a pair no other live socket has) and given
 * tcp:'s keepalive and TCP_USER_TIMEOUT (net.h: within 30 s). The
 * connection then fails, and nng removes the pipe: a sender redials, a
 * request/reply call fails with IPC_ECLOSED. Tests: nng.keepalive (the
 * options), nng.netns_fault (a vanished host, 30.2 s).
 *
 * A create at the ipc path of a live receiver. nng before 1.6 (nng issue
 * 1518; Debian 12 ships 1.5.2) stops a listener for good when a connection
 * closes during the SP handshake, and nng_listen's own look at a path in
 * use (connect, close) is such a connection: a refused create left the
 * live receiver taking no new sender (measured: the next sender's dial
 * and send succeeded, its message never arrived; test
 * nng.create_at_live). So an ipc create looks first, itself
 * (ipc__nng_ipc_live): it connects, completes the handshake as a push socket
 * would (its 8-byte header, then the receiver's), and closes an ordinary
 * pipe; nng_listen runs only where nobody listened. Other peers that drop
 * a connection mid-handshake still stop such a listener: listen.c's
 * watchdog finds it and listens again (test nng.listener_mended).
 */

#define NNGCH_MAX_MSG_DEFAULT (64u * 1024)
#define NNGCH_MAX_MSG_MAX     (64u * 1024 * 1024)
/* "tls+tcp://" + a 253-byte name + ":65535" + a ws path, with room. */
#define NNGCH_NAME_MAX 400
/* The longest reconnect interval (back-off from nng's 100 ms). */
#define NNGCH_RECONN_MAX_MS 2000
/* sun_path holds 107 bytes and a NUL. */
#define NNGCH_IPC_PATH_MAX 107
/* How long a sender's close waits for nng to write what it took. */
#define NNGCH_LINGER_MS 1000

/* nng's threads do not survive fork(): nng aborts the child that calls it
 * ("nng is not fork-reentrant safe"). A child forked after this process
 * used nng gets IPC_ENOTSUP instead; exec'd programs start afresh. */
static pthread_once_t nngch_once = PTHREAD_ONCE_INIT;
static volatile bool nngch_forked;

static void nngch_on_fork(void)
{
    nngch_forked = true;
}

static void nngch_watch_fork(void)
{
    pthread_atfork(NULL, NULL, nngch_on_fork);
}

ipc_err ipc__nng_usable(void)
{
    pthread_once(&nngch_once, nngch_watch_fork);
    if (nngch_forked)
        return ipc__fail(IPC_ENOTSUP,
                         "nng: not in a child forked after nng was used "
                         "(nng's threads do not survive fork; exec first)");
    return IPC_OK;
}

bool ipc__nng_forked(void)
{
    return nngch_forked;
}

ipc_err ipc__nng_fail(int rv, const char *what, const char *url)
{
    ipc_err err;
    if (rv & NNG_ESYSERR)
        return ipc__errno(rv & ~NNG_ESYSERR, "nng: %s %s", what, url);
    switch (rv) {
    case NNG_EAGAIN:
        err = IPC_EAGAIN;
        break;
    case NNG_ETIMEDOUT:
        err = IPC_ETIMEDOUT;
        break;
    case NNG_ENOMEM:
        err = IPC_ENOMEM;
        break;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
        err = IPC_EINVAL;
        break;
    case NNG_ENOTSUP:
        err = IPC_ENOTSUP;
        break;
    case NNG_EADDRINUSE:
        err = IPC_EEXIST;
        break;
    case NNG_ECONNREFUSED:
    case NNG_ENOENT:
    case NNG_EUNREACHABLE:
        err = IPC_ENOENT;
        break;
    case NNG_EPERM:
        err = IPC_EACCES;
        break;
    case NNG_EMSGSIZE:
        err = IPC_EMSGSIZE;
        break;
    /* The socket went away under the call (only a racing close). */
    case NNG_ECLOSED:
    case NNG_ECONNRESET:
    case NNG_ECONNSHUT:
        err = IPC_ECLOSED;
        break;
    case NNG_EPROTO:
    case NNG_ECRYPTO:
    case NNG_EPEERAUTH:
        err = IPC_EPROTO;
        break;
    case NNG_ENOFILES:
        err = IPC_ELIMIT;
        break;
    default:
        err = IPC_EIO;
        break;
    }
    return ipc__fail(err, "nng: %s %s: %s", what, url, nng_strerror(rv));
}

/* Is the socket address ss nng's sa? */
static bool nngch_same_addr(const struct sockaddr_storage *ss,
                            const nng_sockaddr *sa)
{
    if (ss->ss_family == AF_INET && sa->s_family == NNG_AF_INET) {
        const struct sockaddr_in *in = (const void *)ss;
        return in->sin_port == sa->s_in.sa_port &&
               in->sin_addr.s_addr == sa->s_in.sa_addr;
    }
    if (ss->ss_family == AF_INET6 && sa->s_family == NNG_AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        return in6->sin6_port == sa->s_in6.sa_port &&
               memcmp(&in6->sin6_addr, sa->s_in6.sa_addr, 16) == 0;
    }
    return false;
}

/* The descriptor of a socket with these two addresses; -1 if none. */
static int nngch_find_fd(const nng_sockaddr *loc, const nng_sockaddr *rem)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    int found = -1;
    for (struct dirent *de; found < 0 && (de = readdir(dir));) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        int fd = atoi(de->d_name);
        struct sockaddr_storage ss;
        socklen_t n = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &n) != 0 ||
            !nngch_same_addr(&ss, loc))
            continue;
        n = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &n) == 0 &&
            nngch_same_addr(&ss, rem))
            found = fd;
    }
    closedir(dir);
    return found;
}

void ipc__nng_tcp_bound(nng_pipe pipe)
{
    nng_sockaddr loc, rem;
    if (nng_pipe_get_addr(pipe, NNG_OPT_LOCADDR, &loc) != 0 ||
        nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &rem) != 0 ||
        (loc.s_family != NNG_AF_INET && loc.s_family != NNG_AF_INET6))
        return; /* not over TCP */
    int fd = nngch_find_fd(&loc, &rem);
    if (fd >= 0)
        ipc__net_keepalive(fd);
}

/* nng's thread: a receiver's connection is up. */
static void nngch_pipe_up(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    (void)ev;
    (void)arg;
    ipc__nng_tcp_bound(pipe);
}

/* ------------------------------------------------------------ addresses */

/* The transports nng may have, and a check the URL fits where it must. */
static ipc_err nngch_check_url(const struct ipc_addr *addr)
{
    const char *url = addr->path;
    if (!addr->transport)
        return ipc__fail(IPC_EINVAL,
                         "nng: nng+TRANSPORT://...: the transport follows "
                         "\"nng+\", not \"nng:\"");
    if (strncmp(url, "tls+tcp://", 10) == 0) {
        /* Only a build of nng with a TLS engine has a TLS config. */
        nng_tls_config *cfg;
        int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
        if (rv == NNG_ENOTSUP)
            return ipc__fail(IPC_ENOTSUP,
                             "nng: %s: the linked nng has no TLS "
                             "(built without mbedTLS)",
                             url);
        if (rv != 0)
            return ipc__nng_fail(rv, "TLS config for", url);
        nng_tls_config_free(cfg);
        return IPC_OK;
    }
    if (strncmp(url, "ipc://", 6) == 0) {
        if (strlen(url + 6) > NNGCH_IPC_PATH_MAX)
            return ipc__fail(IPC_EINVAL,
                             "nng: %s: an ipc path is at most %d bytes", url,
                             NNGCH_IPC_PATH_MAX);
        return url[6] ? IPC_OK : ipc__fail(IPC_EINVAL, "nng: %s: no path", url);
    }
    if (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "ws://", 5) == 0 ||
        strncmp(url, "wss://", 6) == 0)
        return IPC_OK;
    return ipc__fail(IPC_EINVAL,
                     "nng: %s: expected nng+tcp://, nng+ipc://, nng+ws:// "
                     "or nng+tls+tcp://",
                     url);
}

/* ---------------------------------------------------------- deadlines */

/* Set the socket's timeout for a call with deadline dl (not timeout 0). */
static ipc_err nngch_timeout(struct nngch_end *ne, const char *opt,
                             const struct ipc_deadline *dl)
{
    int ms = ipc__deadline_poll_ms(dl);
    if (ms == 0)
        return ipc__deadline_err(dl);
    if (ms == ne->timeo_ms)
        return IPC_OK;
    int rv = nng_socket_set_ms(
        ne->sock, opt, ms < 0 ? NNG_DURATION_INFINITE : (nng_duration)ms);
    if (rv != 0)
        return ipc__nng_fail(rv, "set", opt);
    ne->timeo_ms = ms;
    return IPC_OK;
}

/* ---------------------------------------------------------- receiving */

/* The receiver's poll set, made by its first ipc_pollfd(): once nng has
 * handed out NNG_OPT_RECVFD it writes and reads that descriptor as
 * messages come and go (measured: 1.5 us more CPU a 64-byte message over
 * tcp, ipc-bench one-way 0.93-0.94 of raw nng against 0.98-0.99). */
static ipc_err nngch_poll_set(const ipc_channel *ch)
{
    struct nngch_end *ne = nngch_priv(ch);
    int recvfd, rv = nng_socket_get_int(ne->sock, NNG_OPT_RECVFD, &recvfd);
    if (rv != 0)
        return ipc__nng_fail(rv, "get NNG_OPT_RECVFD of", ch->address);
    bool inherit = ch->flags & IPC_F_INHERIT;
    if ((ne->epfd = epoll_create1(inherit ? 0 : EPOLL_CLOEXEC)) < 0)
        return ipc__errno(errno, "nng: epoll_create1");
    if ((ne->heldfd = eventfd(0, inherit ? 0 : EFD_CLOEXEC)) < 0)
        return ipc__errno(errno, "nng: eventfd");
    struct epoll_event ev = {.events = EPOLLIN};
    if (epoll_ctl(ne->epfd, EPOLL_CTL_ADD, recvfd, &ev) < 0 ||
        epoll_ctl(ne->epfd, EPOLL_CTL_ADD, ne->heldfd, &ev) < 0)
        return ipc__errno(errno, "nng: epoll_ctl");
    uint64_t one = 1;
    if (ne->held && write(ne->heldfd, &one, sizeof one) < 0) {
        /* A fresh eventfd takes 1. */
    }
    return IPC_OK;
}

static ipc_err nngch_listen(ipc_channel *ch, const char *url, unsigned flags)
{
    struct nngch_end *ne = nngch_priv(ch);
    if (!(flags & IPC_F_CREATE))
        return ipc__fail(IPC_EINVAL,
                         "nng: %s: the receiver listens, so it creates the "
                         "channel (IPC_F_CREATE)",
                         url);
    if (strncmp(url, "ipc://", 6) == 0 && ipc__nng_ipc_live(url + 6, 0x50))
        return ipc__fail(IPC_EEXIST, "nng: %s: the address is in use", url);
    int rv = nng_pull0_open(&ne->sock);
    if (rv != 0)
        return ipc__nng_fail(rv, "pull socket for", url);
    ne->sock_open = true;
    rv = nng_socket_set_size(ne->sock, NNG_OPT_RECVMAXSZ, ch->max_msg);
    if (rv == 0)
        rv = nng_pipe_notify(ne->sock, NNG_PIPE_EV_ADD_POST, nngch_pipe_up,
                             NULL);
    if (rv == 0)
        rv = ipc__nng_listen(ne->sock, url, 0x50, &ne->watch);
    if (rv == NNG_EADDRINUSE)
        return ipc__fail(IPC_EEXIST, "nng: %s: the address is in use", url);
    if (rv != 0)
        return ipc__nng_fail(rv, "listen on", url);
    /* New senders can always come: the receiver never hears "closed". */
    return IPC_OK;
}

/* Keep msg for a receive with a larger buffer; heldfd (where the end
 * has one) is readable meanwhile. */
static void nngch_hold(struct nngch_end *ne, nng_msg *msg)
{
    uint64_t one = 1;
    ne->held = msg;
    if (ne->heldfd >= 0 && write(ne->heldfd, &one, sizeof one) < 0) {
        /* An eventfd below its maximum always takes 1. */
    }
}

nng_msg *ipc__nng_unhold(struct nngch_end *ne)
{
    uint64_t count;
    nng_msg *msg = ne->held;
    ne->held = NULL;
    if (msg && ne->heldfd >= 0 && read(ne->heldfd, &count, sizeof count) < 0) {
        /* Readable since the hold: nothing to do if not. */
    }
    return msg;
}

ipc_err ipc__nng_deliver(struct nngch_end *ne, nng_msg *msg, void *buf,
                         size_t cap, size_t *len)
{
    size_t n = nng_msg_len(msg);
    *len = n;
    if (n > cap) {
        nngch_hold(ne, msg);
        return ipc__fail(IPC_EMSGSIZE,
                         "nng: the message is %zu bytes, the "
                         "buffer %zu",
                         n, cap);
    }
    if (n)
        memcpy(buf, nng_msg_body(msg), n);
    nng_msg_free(msg);
    return IPC_OK;
}

static ipc_err nngch_take(ipc_channel *ch, nng_msg **msg,
                          const struct ipc_deadline *dl)
{
    struct nngch_end *ne = nngch_priv(ch);
    for (;;) {
        int flags = 0;
        if (dl->nonblock)
            flags = NNG_FLAG_NONBLOCK;
        else {
            ipc_err err = nngch_timeout(ne, NNG_OPT_RECVTIMEO, dl);
            if (err != IPC_OK)
                return err;
        }
        int rv = nng_recvmsg(ne->sock, msg, flags);
        if (rv == 0)
            return IPC_OK;
        if (rv == NNG_EAGAIN)
            return ipc__fail(IPC_EAGAIN, "nng: no message queued");
        if (rv != NNG_ETIMEDOUT)
            return ipc__nng_fail(rv, "receive on", ch->address);
        /* nng's clock is in whole ms: wait on until ours has passed. */
        if (ipc__deadline_expired(dl))
            return ipc__fail(IPC_ETIMEDOUT, "nng: no message in time");
    }
}

static ipc_err nngch_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                          unsigned *prio, const struct ipc_deadline *dl)
{
    struct nngch_end *ne = nngch_priv(ch);
    nng_msg *msg;
    ipc_err err = ipc__nng_usable();
    if (err != IPC_OK)
        return err;
    if (ne->link && !ipc__nng_rr_server(ne)) /* a client's way back */
        return ipc__nng_rr_recv(ch, buf, cap, len, dl);
    if (ne->held)
        msg = ipc__nng_unhold(ne);
    else {
        /* A request/reply server's takes a request on a context. */
        err = ne->link ? ipc__nng_rr_take(ch, &msg, dl)
                       : nngch_take(ch, &msg, dl);
        if (err != IPC_OK)
            return err;
    }
    /* Request/reply's server: the way back (ipc__nng_rr_back) is to the
     * pipe of the message last taken. */
    ne->pipe = nng_pipe_id(nng_msg_get_pipe(msg));
    *prio = 0;
    return ipc__nng_deliver(ne, msg, buf, cap, len);
}

/* ------------------------------------------------------------ sending */

/* nng's thread: count the sender's connections (nngch_linger). */
static void nngch_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    struct nngch_end *ne = arg;
    if (ev == NNG_PIPE_EV_ADD_POST)
        ipc__nng_tcp_bound(pipe);
    atomic_fetch_add(&ne->pipes, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
}

static ipc_err nngch_dial(ipc_channel *ch, const char *url,
                          const struct ipc_addr *addr, unsigned flags,
                          const struct ipc_deadline *dl)
{
    struct nngch_end *ne = nngch_priv(ch);
    if (flags & IPC_F_CREATE)
        return ipc__fail(IPC_EINVAL,
                         "nng: %s: a sender cannot create a channel; its "
                         "receiver listens",
                         url);
    int rv = nng_push0_open(&ne->sock);
    if (rv != 0)
        return ipc__nng_fail(rv, "push socket for", url);
    ne->sock_open = true;
    rv = nng_socket_set_ms(ne->sock, NNG_OPT_RECONNMAXT, NNGCH_RECONN_MAX_MS);
    if (rv != 0)
        return ipc__nng_fail(rv, "set NNG_OPT_RECONNMAXT for", url);
    if ((rv = nng_pipe_notify(ne->sock, NNG_PIPE_EV_ADD_POST, nngch_pipe_event,
                              ne)) != 0 ||
        (rv = nng_pipe_notify(ne->sock, NNG_PIPE_EV_REM_POST, nngch_pipe_event,
                              ne)) != 0)
        return ipc__nng_fail(rv, "watch the connections of", url);
    bool lazy = ipc__addr_get(addr, IPC_KEY_LAZY, 0);
    rv = ipc__nng_dial(ne->sock, url, lazy ? NNG_FLAG_NONBLOCK : 0, dl);
    if (rv == NNG_ECONNREFUSED || rv == NNG_ENOENT)
        return ipc__fail(IPC_ENOENT,
                         "nng: %s: nobody listens there (lazy=1 "
                         "waits for a receiver)",
                         url);
    if (rv != 0)
        return ipc__nng_fail(rv, "dial", url);
    return IPC_OK;
}

static ipc_err nngch_send(ipc_channel *ch, const void *buf, size_t len,
                          unsigned prio, const struct ipc_deadline *dl)
{
    (void)prio;
    struct nngch_end *ne = nngch_priv(ch);
    ipc_err usable = ipc__nng_usable();
    if (usable != IPC_OK)
        return usable;
    if (ne->link)
        return ipc__nng_rr_send(ch, buf, len, dl);
    for (;;) {
        int flags = 0;
        if (dl->nonblock)
            flags = NNG_FLAG_NONBLOCK;
        else {
            ipc_err err = nngch_timeout(ne, NNG_OPT_SENDTIMEO, dl);
            if (err != IPC_OK)
                return err;
        }
        /* nng_send copies buf into a message of its own. */
        int rv = nng_send(ne->sock, (void *)buf, len, flags);
        if (rv == 0) {
            ne->sent = true;
            return IPC_OK;
        }
        if (rv == NNG_EAGAIN)
            return ipc__fail(IPC_EAGAIN,
                             "nng: no receiver ready to take it now");
        if (rv != NNG_ETIMEDOUT)
            return ipc__nng_fail(rv, "send on", ch->address);
        if (ipc__deadline_expired(dl))
            return ipc__fail(IPC_ETIMEDOUT, "nng: no receiver took it in time");
    }
}

/* ---------------------------------------------------------- the end */

static ipc_err nngch_open(ipc_channel *ch, const struct ipc_addr *addr,
                          unsigned flags, const struct ipc_deadline *dl)
{
    struct nngch_end *ne = nngch_priv(ch);
    ne->epfd = ne->heldfd = ne->gone_rd = ne->gone_wr = -1;
    ne->timeo_ms = INT32_MIN;
    if ((flags & IPC_F_DUPLEX) == IPC_F_DUPLEX)
        return ipc__fail(IPC_ENOTSUP,
                         "nng: an end either receives (pull) or sends (push)");
    ipc_err err = nngch_check_url(addr);
    if (err == IPC_OK)
        err = ipc__nng_usable();
    if (err != IPC_OK)
        return err;
    if ((flags & IPC_F_RECV) && (addr->keys_set & IPC_KEYBIT(IPC_KEY_LAZY)))
        return ipc__fail(IPC_EINVAL, "nng: lazy= is a sender's option");
    ch->capacity = 0;
    ch->buffer_bytes = 0;
    ch->caps &= ~(unsigned)IPC_CAP_DUPLEX;
    if (flags & IPC__F_BACK) /* request/reply's, never a user's (rr.c) */
        return ipc__nng_rr_open(ch, addr->path, flags, dl);
    if (flags & IPC_F_RECV)
        return nngch_listen(ch, addr->path, flags);
    ch->caps &= ~(unsigned)IPC_CAP_POLLABLE;
    return nngch_dial(ch, addr->path, addr, flags, dl);
}

/* A send returns once push has given the message to a connection, before
 * nng's thread has written it, and nng_close drops what is still being
 * written (measured: 1 in 30 runs of two senders that send 200 messages
 * and exit lost one). So a sender's close first waits, up to
 * NNGCH_LINGER_MS, until push can take a message again (NNG_OPT_SENDFD
 * readable: unbuffered, push has a connection free only once its last
 * write ended), while some connection is up. */
static void nngch_linger(struct nngch_end *ne)
{
    int fd;
    if (nng_socket_get_int(ne->sock, NNG_OPT_SENDFD, &fd) != 0)
        return;
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, NNGCH_LINGER_MS);
    long slice_ns = 100000;
    short revents = 0;
    /* With no connection up, what nng took is lost already: no wait. */
    while (atomic_load(&ne->pipes) > 0 &&
           ipc__wait_fd_slice(fd, POLLIN, &dl, &slice_ns, &revents) == IPC_OK &&
           !revents)
        ;
}

static void nngch_close(ipc_channel *ch)
{
    struct nngch_end *ne = nngch_priv(ch);
    if (nngch_forked) {
        /* A forked child: nng would abort; the parent's end is the one
         * that closes the socket. Only the descriptors are ours here. */
        ne->held = NULL;
        ne->sock_open = false;
    }
    if (ne->held)
        nng_msg_free(ipc__nng_unhold(ne));
    if (ne->link || ne->gone_rd >= 0) /* its socket is the link's (rr.c) */
        ipc__nng_rr_close(ch);
    if (ne->sock_open && ne->sent)
        nngch_linger(ne);
    /* Closes the listener or dialer and its connections; an ipc://
     * listener removes its socket file. */
    if (ne->sock_open) {
        ipc__nng_unlisten(ne->watch);
        nng_close(ne->sock);
    }
    ne->watch = NULL;
    ne->sock_open = false;
    if (ne->epfd >= 0)
        close(ne->epfd);
    if (ne->heldfd >= 0)
        close(ne->heldfd);
    ne->epfd = ne->heldfd = -1;
}

static ipc_err nngch_pollfd(const ipc_channel *ch, int *fd)
{
    const struct nngch_end *ne = nngch_priv(ch);
    if (ne->gone_rd >= 0) { /* request/reply's way back to a client */
        *fd = ne->gone_rd;
        return IPC_OK;
    }
    if (!(ch->caps & IPC_CAP_POLLABLE))
        return ipc__fail(IPC_ENOTSUP,
                         "nng: a sender has no descriptor that polls POLLOUT "
                         "(nng's NNG_OPT_SENDFD polls POLLIN)");
    if (ne->epfd < 0) {
        ipc_err err = nngch_poll_set(ch);
        if (err != IPC_OK)
            return err;
    }
    *fd = ne->epfd;
    return IPC_OK;
}

/* An address is held by its receiver alone and goes with it (an ipc://
 * listener removes its file at close): nothing to remove. */
static ipc_err nngch_unlink(const struct ipc_addr *addr)
{
    ipc_err err = nngch_check_url(addr);
    if (err != IPC_OK)
        return err;
    return ipc__fail(IPC_ENOENT,
                     "nng: %s: an address goes with its receiver; nothing "
                     "to remove",
                     addr->path);
}

const struct ipc_backend ipc__backend_nng = {
    .scheme = "nng",
    .caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_POLLABLE,
    .keys = IPC_KEYBIT(IPC_KEY_MAX_MSG) | IPC_KEYBIT(IPC_KEY_LAZY),
    .named_keys = IPC_KEYBIT(IPC_KEY_LAZY),
    .priv_size = sizeof(struct nngch_end),
    .limits =
        {
            .max_msg_default = NNGCH_MAX_MSG_DEFAULT,
            .max_msg_max = NNGCH_MAX_MSG_MAX,
            .name_max = NNGCH_NAME_MAX,
        },
    .path_required = true,
    .transports = true,
    .open = nngch_open,
    .close = nngch_close,
    .unlink = nngch_unlink,
    .send = nngch_send,
    .recv = nngch_recv,
    .pollfd = nngch_pollfd,
    .back = ipc__nng_rr_back,
};
