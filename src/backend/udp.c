/* SPDX-License-Identifier: MIT */
/* udp: one message a datagram, IPv4 and IPv6; a bound receiver, senders
 * that send to it. Best effort: no delivery, order or uniqueness
 * promised. No encryption, no authentication. */
#include "ipc_int.h"
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * The address is "udp:HOST:PORT", as tcp: (net.h): an IPv4 literal, an
 * IPv6 literal in brackets, or a name. A receiver may ask for port 0;
 * ipc_address() then gives the port the kernel chose.
 *
 * One message is one datagram, without a header: what a sender passes to
 * ipc_send is the datagram's payload, so any UDP program can talk to a
 * libipc end. max_msg is at most 65507 bytes over IPv4 (65535 less the IP
 * and UDP headers) and 65527 over IPv6. A datagram larger than the path's
 * MTU (1472 bytes of payload on Ethernet over IPv4, 1452 over IPv6; 64 KiB
 * on loopback) is sent as IP fragments, and the loss of any fragment loses
 * the whole message.
 *
 * What UDP does not promise, and this backend does not add: delivery (a
 * full receive buffer, a congested link, a receiver not yet there: the
 * datagram is dropped, silently), order, and no duplicates. Hence
 * IPC_CAP_LOSSY. Nothing pushes back on a sender: a send returns once the
 * datagram is handed to the kernel.
 *
 * A receiver reads one datagram per ipc_recv with MSG_TRUNC (Linux: the
 * call returns the datagram's real length even when it is longer than the
 * buffer), so that a datagram longer than max_msg is reported, once, as
 * IPC_EPROTO and dropped, never passed on cut short. With a buffer smaller
 * than max_msg it first peeks at the length (MSG_PEEK | MSG_TRUNC): a
 * message longer than the buffer is IPC_EMSGSIZE and stays queued.
 *
 * No connection: a receiver never hears of senders (no IPC_ECLOSED), and a
 * sender has no receiver to lose. An ICMP port unreachable, reported on a
 * later send as ECONNREFUSED, is not IPC_ECLOSED either: it says that an
 * earlier datagram found nobody, at that moment; a receiver may bind the
 * port again at any time, and ICMP is often filtered or rate-limited. The
 * send consumes the report and goes out. A sender's open answers
 * IPC_ENOENT when the receiver is on this host and nothing is bound to
 * its port (Linux: /proc/net/udp); for another host it cannot know and
 * opens.
 *
 * Who may send: peer=ADDR[/PREFIX] on the receiver drops datagrams from
 * other source addresses; bind=ADDR on a sender chooses its source
 * address. Neither is authentication: a UDP source address is trivial to
 * forge. See the README.
 *
 * The way back (ipc__channel_back, for request/reply). A receiver keeps
 * the source address of the datagram it took last (the recvmsg already
 * names it: no extra call). Its way back is a sending end that sendto()s
 * that address on a dup() of the receiver's socket, so an answer comes
 * from the very address and port the sender sent to: the sender's socket
 * is connected there and takes nothing else. It does not connect (a
 * second socket connected from the receiver's port would take that
 * sender's datagrams from the receiver). A sender's way back is a
 * receiving end on a dup() of its connected socket: only the receiver's
 * datagrams reach it. There, and only there, ECONNREFUSED from a receive
 * (Linux reports the ICMP port unreachable that answered one of our
 * sends) is IPC_ECLOSED: the receiver's port is closed. A plain sender
 * keeps the rule above.
 */

#define UDP_MAX_MSG_V4 65507u /* 65535 - 20 (IPv4 header) - 8 (UDP) */
#define UDP_MAX_MSG_V6 65527u /* 65535 - 8: IPv6 counts no IP header */
/* Retries of a send that only reported an earlier datagram's ICMP. */
#define UDP_REFUSED_RETRIES 2

struct udp_end {
    int fd;              /* bound (receiver) or connected (sender) socket */
    bool filter;         /* peer= given */
    bool refused_closes; /* a sender's way back: ECONNREFUSED is closed */
    struct ipc_net peer;
    /* Receiver: the last datagram's source. A receiver's way back: where
     * it sends (to_len 0: a connected socket, send()). */
    struct sockaddr_storage to;
    socklen_t to_len;
    struct ipc_waitspin spin; /* receiver's waits (ipc_int.h) */
};

static struct udp_end *udp_priv(const ipc_channel *ch)
{
    return ipc__priv(ch);
}

static int udp_socket(int family, unsigned flags)
{
    int type = SOCK_DGRAM | SOCK_NONBLOCK;
    if (!(flags & IPC_F_INHERIT))
        type |= SOCK_CLOEXEC;
    return socket(family, type, 0);
}

/* A datagram of max_msg bytes must fit the family's largest. */
static ipc_err udp_check_size(const ipc_channel *ch, int family)
{
    if (family == AF_INET && ch->max_msg > UDP_MAX_MSG_V4)
        return ipc__fail(IPC_ELIMIT,
                         "udp: max_msg %zu: an IPv4 datagram carries at most "
                         "%u bytes (IPv6: %u)",
                         ch->max_msg, UDP_MAX_MSG_V4, UDP_MAX_MSG_V6);
    return IPC_OK;
}

/* ------------------------------------------------------- who is bound */

enum udp_bound { UDP_BOUND, UDP_FREE, UDP_UNKNOWN };

#ifdef __linux__
/* Does a line of /proc/net/udp{,6} name a socket bound to port at addr
 * (a raw in_addr or in6_addr, len 4 or 16) or at the wildcard? The
 * kernel prints each 32-bit word of the address as stored, in hex. */
static bool udp_proc_line(const char *line, const unsigned char *addr,
                          size_t len, unsigned port)
{
    const char *p = strchr(line, ':');
    if (!p)
        return false;
    p += 2; /* ": " then local_address */
    uint32_t words[4] = {0}, zero[4] = {0};
    for (size_t i = 0; i < len / 4; i++) {
        char hex[9];
        memcpy(hex, p + 8 * i, 8);
        hex[8] = '\0';
        words[i] = (uint32_t)strtoul(hex, NULL, 16);
    }
    p += 2 * len;
    if (*p != ':' || (unsigned)strtoul(p + 1, NULL, 16) != port)
        return false;
    return memcmp(words, addr, len) == 0 || memcmp(words, zero, len) == 0;
}

static enum udp_bound udp_proc_bound(const struct sockaddr *sa)
{
    const unsigned char *addr;
    size_t len;
    unsigned port;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        addr = s6->sin6_addr.s6_addr;
        len = 16;
        port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        addr = (const unsigned char *)&s4->sin_addr;
        len = 4;
        port = ntohs(s4->sin_port);
    }
    FILE *f = fopen(len == 16 ? "/proc/net/udp6" : "/proc/net/udp", "re");
    if (!f)
        return UDP_UNKNOWN;
    char line[512];
    enum udp_bound found = UDP_FREE;
    while (found == UDP_FREE && fgets(line, sizeof line, f))
        if (udp_proc_line(line, addr, len, port))
            found = UDP_BOUND;
    fclose(f);
    return found;
}
#endif

/* Is a socket bound to the address (this host's) and its port? A socket
 * of the family bound to the address with port 0 tells whether the
 * address is this host's, without touching the port itself (a probe that
 * bound it could make a receiver starting at that instant fail).
 * Elsewhere than Linux: UDP_UNKNOWN. */
static enum udp_bound udp_bound_at(const struct addrinfo *ai)
{
#ifdef __linux__
    struct sockaddr_storage local;
    memcpy(&local, ai->ai_addr, ai->ai_addrlen);
    if (local.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&local)->sin6_port = 0;
    else
        ((struct sockaddr_in *)&local)->sin_port = 0;
    int fd = udp_socket(ai->ai_family, 0);
    if (fd < 0)
        return UDP_UNKNOWN;
    int rc = bind(fd, (struct sockaddr *)&local, ai->ai_addrlen);
    close(fd);
    if (rc < 0)
        return UDP_UNKNOWN; /* another host's address */
    return udp_proc_bound(ai->ai_addr);
#else
    (void)ai;
    return UDP_UNKNOWN;
#endif
}

/* ------------------------------------------------------------ receiver */

static ipc_err udp_bind_on(ipc_channel *ch, const struct addrinfo *ai,
                           unsigned flags)
{
    struct udp_end *ue = udp_priv(ch);
    ipc_err err = udp_check_size(ch, ai->ai_family);
    if (err != IPC_OK)
        return err;
    if ((ue->fd = udp_socket(ai->ai_family, flags)) < 0)
        return ipc__errno(errno, "udp: socket");
    /* No SO_REUSEADDR: for UDP it would let a second receiver bind the
     * same port and take a share of the datagrams. */
    int one = 1;
    if (ai->ai_family == AF_INET6)
        setsockopt(ue->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(ue->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno == EADDRINUSE)
            return ipc__fail(IPC_EEXIST, "udp: %s: the port is in use",
                             ch->address);
        return ipc__errno(errno, "udp: bind %s", ch->address);
    }
    return IPC_OK;
}

static ipc_err udp_listen(ipc_channel *ch, const struct ipc_addr *addr,
                          unsigned flags)
{
    struct udp_end *ue = udp_priv(ch);
    if (!(flags & IPC_F_CREATE))
        return ipc__fail(IPC_EINVAL,
                         "udp: %s: the receiver binds the port, so it "
                         "creates the channel (IPC_F_CREATE)",
                         addr->path);
    const char *peer = ipc__addr_str(addr, IPC_KEY_PEER);
    ipc_err err = IPC_OK;
    if (peer && (err = ipc__net_parse("udp", peer, &ue->peer)) != IPC_OK)
        return err;
    ue->filter = peer != NULL;
    struct addrinfo *ai;
    if ((err = ipc__net_resolve("udp", addr->path, SOCK_DGRAM, true, &ai)) !=
        IPC_OK)
        return err;
    err = udp_bind_on(ch, ai, flags);
    freeaddrinfo(ai);
    return err;
}

/* Drop the datagram at the head of the queue. */
static void udp_discard(int fd)
{
    while (recv(fd, NULL, 0, MSG_DONTWAIT) < 0 && errno == EINTR)
        ;
}

/* Take the datagram at the head of the queue, if any (IPC_EAGAIN if
 * none). With a buffer of at least max_msg it is read at once, MSG_TRUNC
 * telling its real length; with a smaller one its length is peeked first,
 * so that a message too long for the buffer stays queued. */
static ipc_err udp_take(ipc_channel *ch, void *buf, size_t cap, size_t *len)
{
    struct udp_end *ue = udp_priv(ch);
    bool direct = cap >= ch->max_msg;
    for (;;) {
        /* The source is kept for the way back (udp_back). */
        struct iovec iov = {.iov_base = buf, .iov_len = direct ? cap : 0};
        struct msghdr mh = {.msg_name = &ue->to,
                            .msg_namelen = sizeof ue->to,
                            .msg_iov = &iov,
                            .msg_iovlen = 1};
        int flags = MSG_TRUNC | MSG_DONTWAIT | (direct ? 0 : MSG_PEEK);
        ssize_t n = recvmsg(ue->fd, &mh, flags);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return IPC_EAGAIN;
        if (n < 0 && errno == ECONNREFUSED && ue->refused_closes)
            return ipc__fail(IPC_ECLOSED,
                             "udp: %s: the receiver's port is closed (ICMP "
                             "port unreachable)",
                             ch->address);
        if (n < 0)
            return ipc__errno(errno, "udp: recv");
        ue->to_len = mh.msg_namelen;
        if (ue->filter && !ipc__net_match(&ue->peer, &ue->to)) {
            if (!direct)
                udp_discard(ue->fd);
            continue; /* peer= refuses it: as if never sent */
        }
        if ((size_t)n > ch->max_msg) {
            if (!direct)
                udp_discard(ue->fd);
            return ipc__fail(IPC_EPROTO,
                             "udp: a datagram of %zd bytes, longer than "
                             "max_msg %zu, dropped",
                             n, ch->max_msg);
        }
        if ((size_t)n > cap) {
            *len = (size_t)n;
            return ipc__fail(IPC_EMSGSIZE,
                             "udp: a message of %zd bytes, the buffer holds "
                             "%zu",
                             n, cap);
        }
        if (!direct) {
            /* The datagram peeked at is still the head: ends are not
             * shared between threads during a call. */
            do
                n = recv(ue->fd, buf, cap, MSG_DONTWAIT);
            while (n < 0 && errno == EINTR);
            if (n < 0)
                return ipc__errno(errno, "udp: recv");
        }
        *len = (size_t)n;
        return IPC_OK;
    }
}

static ipc_err udp_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                        unsigned *prio, const struct ipc_deadline *dl)
{
    *prio = 0;
    for (;;) {
        ipc_err err = udp_take(ch, buf, cap, len);
        if (err != IPC_EAGAIN)
            return err;
        /* Looks again for up to IPC_SPIN_NS before it sleeps, as tcp and
         * unix do: a request/reply peer's answer usually comes within it,
         * and a sleep and its wake-up cost more than the looks. */
        struct pollfd pfd = {.fd = udp_priv(ch)->fd, .events = POLLIN};
        if ((err = ipc__wait_fds_spin(&pfd, 1, dl, &udp_priv(ch)->spin)) !=
            IPC_OK)
            return err;
    }
}

/* -------------------------------------------------------------- sender */

/* The first resolved address where a receiver may be: one this host has
 * with nothing bound to the port is skipped. */
static const struct addrinfo *udp_pick(const struct addrinfo *res)
{
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (udp_bound_at(ai) != UDP_FREE)
            return ai;
    return NULL;
}

static ipc_err udp_connect(ipc_channel *ch, const struct ipc_addr *addr,
                           unsigned flags)
{
    struct udp_end *ue = udp_priv(ch);
    if (flags & IPC_F_CREATE)
        return ipc__fail(IPC_EINVAL,
                         "udp: %s: a sender cannot create a channel; its "
                         "receiver binds the port",
                         addr->path);
    struct addrinfo *res;
    ipc_err err = ipc__net_resolve("udp", addr->path, SOCK_DGRAM, false, &res);
    if (err != IPC_OK)
        return err;
    const struct addrinfo *ai = udp_pick(res);
    const char *bind_to = ipc__addr_str(addr, IPC_KEY_BIND);
    if (!ai)
        err = ipc__fail(IPC_ENOENT, "udp: %s: nothing is bound to that port",
                        addr->path);
    else if ((err = udp_check_size(ch, ai->ai_family)) != IPC_OK)
        ;
    else if ((ue->fd = udp_socket(ai->ai_family, flags)) < 0)
        err = ipc__errno(errno, "udp: socket");
    else if (bind_to && (err = ipc__net_bind("udp", ue->fd, ai->ai_family,
                                             bind_to)) != IPC_OK)
        ;
    else if (connect(ue->fd, ai->ai_addr, ai->ai_addrlen) < 0)
        err = ipc__errno(errno, "udp: connect %s", addr->path);
    freeaddrinfo(res);
    if (err == IPC_OK)
        ch->caps &= ~(unsigned)IPC_CAP_DUPLEX;
    return err;
}

static ipc_err udp_send(ipc_channel *ch, const void *buf, size_t len,
                        unsigned prio, const struct ipc_deadline *dl)
{
    (void)prio;
    const struct udp_end *ue = udp_priv(ch);
    int fd = ue->fd;
    int refused = 0;
    for (;;) {
        /* to_len: a receiver's way back, on its unconnected socket. */
        ssize_t n = ue->to_len
                        ? sendto(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT,
                                 (const struct sockaddr *)&ue->to, ue->to_len)
                        : send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return IPC_OK; /* a datagram goes whole or not at all */
        int e = errno;
        if (e == EINTR)
            continue;
        /* An earlier datagram's ICMP port unreachable: reported and
         * cleared by this call, which sent nothing (see the top). */
        if (e == ECONNREFUSED && refused++ < UDP_REFUSED_RETRIES)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
            /* The socket's send buffer (or the device queue) is full:
             * wait for room, as long as the call may. */
            ipc_err err = ipc__wait_fd(fd, POLLOUT, dl, NULL);
            if (err != IPC_OK)
                return err;
            continue;
        }
        if (e == EMSGSIZE)
            return ipc__fail(IPC_EMSGSIZE,
                             "udp: %zu bytes do not fit one datagram here",
                             len);
        return ipc__errno(e, "udp: send");
    }
}

/* A port is held by its receiver alone and goes with it: there is nothing
 * to remove. IPC_ENOENT if nothing is bound to it, IPC_EBUSY if a socket
 * (of any program) is. */
static ipc_err udp_unlink(const struct ipc_addr *addr)
{
    struct addrinfo *ai;
    ipc_err err = ipc__net_resolve("udp", addr->path, SOCK_DGRAM, true, &ai);
    if (err != IPC_OK)
        return err;
    enum udp_bound b = udp_bound_at(ai);
    freeaddrinfo(ai);
    if (b == UDP_BOUND)
        return ipc__fail(IPC_EBUSY,
                         "udp: %s: a port is freed only by closing its "
                         "receiver",
                         addr->path);
    if (b == UDP_FREE)
        return ipc__fail(IPC_ENOENT, "udp: %s: nothing is bound to that port",
                         addr->path);
    return ipc__fail(IPC_ENOENT,
                     "udp: %s: not an address of this host: nothing here "
                     "to remove",
                     addr->path);
}

/* ------------------------------------------------------- the way back */

static ipc_err udp_back(ipc_channel *ch, ipc_channel *out,
                        const struct ipc_deadline *dl)
{
    (void)dl; /* no hello to wait for: nothing comes back unasked */
    const struct udp_end *ue = udp_priv(ch);
    struct udp_end *back = udp_priv(out);
    back->fd = -1;
    if ((ch->direction & IPC_F_RECV) && ue->to_len == 0)
        return ipc__fail(IPC_EINVAL, "udp: no datagram received just now "
                                     "to answer");
    int cmd = ch->flags & IPC_F_INHERIT ? F_DUPFD : F_DUPFD_CLOEXEC;
    if ((back->fd = fcntl(ue->fd, cmd, 3)) < 0)
        return ipc__errno(errno, "udp: dup");
    out->capacity = 0;
    out->buffer_bytes = 0;
    if (ch->direction & IPC_F_RECV) {
        memcpy(&back->to, &ue->to, ue->to_len);
        back->to_len = ue->to_len;
    } else {
        back->refused_closes = true;
    }
    return IPC_OK;
}

/* ---------------------------------------------------------- the end */

static ipc_err udp_open(ipc_channel *ch, const struct ipc_addr *addr,
                        unsigned flags, const struct ipc_deadline *dl)
{
    (void)dl; /* nothing to wait for: no connection */
    struct udp_end *ue = udp_priv(ch);
    ue->fd = -1;
    if ((flags & IPC_F_DUPLEX) == IPC_F_DUPLEX)
        return ipc__fail(IPC_ENOTSUP,
                         "udp: an end either receives (and binds) or sends");
    ch->capacity = 0;
    ch->buffer_bytes = 0; /* a send never waits for the receiver */
    if (flags & IPC_F_RECV)
        return udp_listen(ch, addr, flags);
    return udp_connect(ch, addr, flags);
}

static void udp_close(ipc_channel *ch)
{
    struct udp_end *ue = udp_priv(ch);
    if (ue->fd >= 0)
        close(ue->fd);
    ue->fd = -1;
}

static ipc_err udp_pollfd(const ipc_channel *ch, int *fd)
{
    *fd = udp_priv(ch)->fd;
    return IPC_OK;
}

/* The receiver's real address (the port the kernel chose for port 0); a
 * sender's, the receiver it sends to. */
static ipc_err udp_address(const ipc_channel *ch, char *buf, size_t size)
{
    const struct udp_end *ue = udp_priv(ch);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc = (ch->direction & IPC_F_RECV)
                 ? getsockname(ue->fd, (struct sockaddr *)&ss, &len)
                 : getpeername(ue->fd, (struct sockaddr *)&ss, &len);
    if (rc < 0)
        return ipc__errno(errno, "udp: the socket's address");
    const char *query = ch->address ? strchr(ch->address, '?') : NULL;
    return ipc__net_format("udp", &ss, query ? query : "", buf, size);
}

/* ipc_limits: an IPv6 literal takes 20 bytes more than IPv4; a name may
 * resolve to either, so it gets the IPv4 figure; the scheme alone, the
 * largest of any address. */
static ipc_err udp_os_limits(const struct ipc_addr *addr, ipc_limits_info *info)
{
    if (addr && addr->path[0] && addr->path[0] != '[')
        info->max_msg = UDP_MAX_MSG_V4;
    return IPC_OK;
}

const struct ipc_backend ipc__backend_udp = {
    .scheme = "udp",
    .caps =
        IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_POLLABLE | IPC_CAP_LOSSY,
    .keys = IPC_KEYBIT(IPC_KEY_MAX_MSG) | IPC_KEYBIT(IPC_KEY_BIND) |
            IPC_KEYBIT(IPC_KEY_PEER),
    .named_keys = IPC_KEYBIT(IPC_KEY_BIND) | IPC_KEYBIT(IPC_KEY_PEER),
    .priv_size = sizeof(struct udp_end),
    .limits =
        {
            .max_msg_default = UDP_MAX_MSG_V4,
            .max_msg_max = UDP_MAX_MSG_V6,
            .name_max = IPC_NET_NAME_MAX,
        },
    .path_required = true,
    .open = udp_open,
    .close = udp_close,
    .unlink = udp_unlink,
    .send = udp_send,
    .recv = udp_recv,
    .pollfd = udp_pollfd,
    .os_limits = udp_os_limits,
    .address = udp_address,
    .back = udp_back,
};
