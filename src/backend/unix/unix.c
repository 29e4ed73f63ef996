/* SPDX-License-Identifier: MIT */
/* unix: UNIX domain sockets, by path or Linux abstract name, and pairs:
 * addresses, pairs, senders, messages and the ops table (limits.c: how
 * large a record may be). */
#include "unix.h"

static void unix_sockaddr(const struct ipc_addr *addr, struct sockaddr_un *sa,
                          socklen_t *len, bool *abstract)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, addr->path, addr->path_len);
    *abstract = addr->path[0] == '@';
    if (*abstract)
        sa->sun_path[0] = '\0'; /* Linux abstract namespace */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + addr->path_len +
                       !*abstract);
}

/* unix:@name needs Linux's abstract namespace; where CMake did not find it
 * (IPC_HAVE_ABSTRACT_SOCKET 0) that form alone is refused. */
static ipc_err unix_form_check(const struct ipc_addr *addr)
{
    if (!IPC_HAVE_ABSTRACT_SOCKET && addr->path[0] == '@')
        return ipc__fail(IPC_ENOTSUP,
                         "built without unix:@name: the abstract socket "
                         "namespace (Linux) not found");
    return IPC_OK;
}

static int unix_socket(unsigned flags)
{
    int type = SOCK_SEQPACKET | SOCK_NONBLOCK;
    if (!(flags & IPC_F_INHERIT))
        type |= SOCK_CLOEXEC;
    return socket(AF_UNIX, type, 0);
}

ipc_err ipc__unix_peercred(int fd, uid_t *uid)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return ipc__errno(errno, "unix: SO_PEERCRED");
    *uid = cred.uid;
    return IPC_OK;
}

/* ---------------------------------------------------------------- pairs */

static ipc_err unix_end_init(ipc_channel *ch)
{
    struct unix_end *ue = unix_priv(ch);
    ue->fd = -1;
    ue->epfd = -1;
    int rc = pthread_mutex_init(&ue->lock, NULL);
    ue->lock_made = rc == 0;
    return rc == 0 ? IPC_OK : ipc__errno(rc, "unix: pthread_mutex_init");
}

static ipc_err unix_connected_end(ipc_channel *ch, int fd)
{
    struct unix_end *ue = unix_priv(ch);
    ue->fd = fd;
    /* Every call that must not wait passes MSG_DONTWAIT, so the socket
     * itself can block (unix_wait_mode). Made non-blocking to connect
     * within a deadline. */
    int fl = fcntl(fd, F_GETFL);
    ue->blocking = fl >= 0 && (!(fl & O_NONBLOCK) ||
                               fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0);
    ipc_err err = ipc__unix_size_sndbuf(fd, ch->max_msg);
    if (err == IPC_OK)
        err = ipc__unix_peercred(fd, &ue->peer_uid);
    ue->have_peer = err == IPC_OK;
    int sndbuf = 0;
    socklen_t len = sizeof sndbuf;
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len);
    ch->capacity = 0;
    /* A rendezvous send always waits for its taker: nothing is queued. */
    ch->buffer_bytes = sndbuf > 0 && !ue->rendezvous ? (size_t)sndbuf : 0;
    return err;
}

static ipc_err unix_pair(ipc_channel *tx, ipc_channel *rx,
                         const struct ipc_addr *addr, unsigned flags)
{
    ipc_err err = unix_end_init(tx);
    if (err != IPC_OK || (err = unix_end_init(rx)) != IPC_OK)
        return err;
    int type = SOCK_SEQPACKET;
    if (!(flags & IPC_F_INHERIT))
        type |= SOCK_CLOEXEC;
    int fds[2];
    if (socketpair(AF_UNIX, type, 0, fds) < 0)
        return ipc__errno(errno, "unix: socketpair");
    /* Two parties only: a pair is not a mailbox. Both ends were made with
     * one address: nothing to learn. */
    unix_priv(tx)->peer_max_known = unix_priv(rx)->peer_max_known = true;
    unix_priv(tx)->rendezvous = unix_priv(rx)->rendezvous =
        addr->keys_set & IPC_KEYBIT(IPC_KEY_CAPACITY);
    tx->caps &= ~(unsigned)IPC_CAP_MULTI_SENDER;
    rx->caps &= ~(unsigned)IPC_CAP_MULTI_SENDER;
    err = unix_connected_end(tx, fds[0]);
    ipc_err err2 = unix_connected_end(rx, fds[1]);
    return err != IPC_OK ? err : err2;
}

/* ------------------------------------------------------- named: a sender */

/* connect() follows a symlink at the socket's name, and a check before it
 * races. So the file is opened O_PATH | O_NOFOLLOW (a symlink fails) and
 * the connect goes through /proc/self/fd/N, which names exactly the inode
 * opened. *pfd is that descriptor (-1 for abstract names, or without
 * O_PATH or /proc: then the name itself, after an lstat). */
static ipc_err unix_target(struct unix_end *ue, const char *name, int *pfd,
                           struct sockaddr_un *sa, socklen_t *len)
{
    *pfd = -1;
    *sa = ue->sa;
    *len = ue->sa_len;
    if (ue->abstract)
        return IPC_OK;
    struct stat st;
#ifdef O_PATH
    int fd = open(ue->sa.sun_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP)
        return ipc__fail(IPC_EACCES,
                         "unix: %s is a symbolic link: not followed", name);
    if (fd < 0)
        return errno == ENOENT ? ipc__fail(IPC_ENOENT,
                                           "unix: %s: no such "
                                           "socket",
                                           name)
                               : ipc__errno(errno, "unix: open %s", name);
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        close(fd);
        /* O_PATH | O_NOFOLLOW opens a link itself rather than failing. */
        if (S_ISLNK(st.st_mode))
            return ipc__fail(IPC_EACCES,
                             "unix: %s is a symbolic link: not followed", name);
        return ipc__fail(IPC_EPROTO, "unix: %s is not a socket", name);
    }
    if (access("/proc/self/fd", X_OK) == 0) {
        *pfd = fd;
        memset(sa, 0, sizeof *sa);
        sa->sun_family = AF_UNIX;
        int n =
            snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d", fd);
        *len =
            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
        return IPC_OK;
    }
    close(fd);
#endif
    if (lstat(ue->sa.sun_path, &st) == 0 && S_ISLNK(st.st_mode))
        return ipc__fail(IPC_EACCES,
                         "unix: %s is a symbolic link: not followed", name);
    return IPC_OK;
}

/* The trust rule for the receiver found at the name: its uid (the
 * listener's credentials) must be ours or root's, or the one peer_uid=
 * requires exactly, or the one owner= names. */
static ipc_err unix_check_receiver(const struct unix_end *ue,
                                   const struct ipc_addr *addr)
{
    if (ue->require_uid && ue->peer_uid != ue->required_uid)
        return ipc__fail(IPC_EACCES,
                         "unix: %s: receiver runs as uid %u, "
                         "peer_uid=%u was required",
                         addr->path, (unsigned)ue->peer_uid,
                         (unsigned)ue->required_uid);
    if (ue->require_uid)
        return IPC_OK;
    return ipc__check_owner("unix", addr->path, ue->peer_uid, addr);
}

static ipc_err unix_connect(ipc_channel *ch, const struct ipc_addr *addr,
                            const struct ipc_deadline *dl)
{
    struct unix_end *ue = unix_priv(ch);
    const char *name = addr->path;
    struct sockaddr_un target;
    socklen_t target_len;
    int pfd;
    ipc_err err = unix_target(ue, name, &pfd, &target, &target_len);
    if (err != IPC_OK)
        return err;
    const struct sockaddr *sa = (const struct sockaddr *)&target;
    int rc;
    while ((rc = connect(ue->fd, sa, target_len)) < 0) {
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            break;
        /* The listen backlog is full; the receiver is busy, not gone. */
        if (ipc__deadline_expired(dl))
            break;
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
    }
    int saved = errno;
    if (pfd >= 0)
        close(pfd);
    if (rc < 0) {
        if (saved == ECONNREFUSED)
            return ipc__fail(IPC_ENOENT,
                             "unix: %s: nobody listens (a stale "
                             "socket file?)",
                             name);
        if (saved == EAGAIN)
            return ipc__deadline_err(dl);
        return ipc__errno(saved, "unix: connect %s", name);
    }
    ch->caps &= ~(unsigned)IPC_CAP_DUPLEX;
    err = unix_connected_end(ch, ue->fd);
    return err == IPC_OK ? unix_check_receiver(ue, addr) : err;
}

static ipc_err unix_open(ipc_channel *ch, const struct ipc_addr *addr,
                         unsigned flags, const struct ipc_deadline *dl)
{
    struct unix_end *ue = unix_priv(ch);
    ipc_err err = unix_end_init(ch);
    if (err == IPC_OK)
        err = unix_form_check(addr);
    if (err != IPC_OK)
        return err;
    unix_sockaddr(addr, &ue->sa, &ue->sa_len, &ue->abstract);
    ue->mode = (mode_t)ipc__addr_get(addr, IPC_KEY_MODE, 0600);
    ue->require_uid = addr->keys_set & IPC_KEYBIT(IPC_KEY_PEER_UID);
    ue->required_uid = (uid_t)addr->val[IPC_KEY_PEER_UID];
    /* capacity= takes only 0 here (the range check): rendezvous. */
    ue->rendezvous = addr->keys_set & IPC_KEYBIT(IPC_KEY_CAPACITY);
    if (ue->abstract && addr->path_len < 2)
        return ipc__fail(IPC_EINVAL, "unix: \"@\" needs a name after it");
    if ((flags & IPC_F_DUPLEX) == IPC_F_DUPLEX)
        return ipc__fail(IPC_ENOTSUP, "unix: a named end either receives "
                                      "(and creates) or sends");
    if ((ue->fd = unix_socket(flags)) < 0)
        return ipc__errno(errno, "unix: socket");
    if (flags & IPC_F_RECV)
        return ipc__unix_listen(ch, addr->path, flags, dl);
    if (flags & IPC_F_CREATE)
        return ipc__fail(IPC_EINVAL,
                         "unix: %s: a sender cannot create a "
                         "named channel; its receiver does",
                         addr->path);
    return unix_connect(ch, addr, dl);
}

static void unix_close(ipc_channel *ch)
{
    struct unix_end *ue = unix_priv(ch);
    for (struct unix_conn *c = ue->conns, *next; c; c = next) {
        next = c->next;
        close(c->fd);
        free(c);
    }
    ue->conns = ue->cur = NULL;
    ue->nconns = 0;
    if (ue->lock_made)
        pthread_mutex_destroy(&ue->lock);
    ue->lock_made = false;
    if (ue->epfd >= 0)
        close(ue->epfd);
    /* Remove the socket file only if it is still the one we bound: a
     * later creator may have replaced it. */
    struct stat st;
    if (ch->owner && !ue->abstract && stat(ue->sa.sun_path, &st) == 0 &&
        st.st_dev == ue->dev && st.st_ino == ue->ino)
        unlink(ue->sa.sun_path);
    if (ue->fd >= 0)
        close(ue->fd);
    ue->fd = ue->epfd = -1;
}

static ipc_err unix_unlink(const struct ipc_addr *addr)
{
    ipc_err err = unix_form_check(addr);
    if (err != IPC_OK)
        return err;
    if (addr->path[0] == '@') {
        struct sockaddr_un sa;
        socklen_t len;
        bool abstract;
        unix_sockaddr(addr, &sa, &len, &abstract);
        if (!ipc__unix_is_live(&sa, len))
            return ipc__fail(IPC_ENOENT, "unix: %s: nobody has that name",
                             addr->path);
        return ipc__fail(IPC_EBUSY,
                         "unix: %s: abstract names vanish only "
                         "with their receiver",
                         addr->path);
    }
    return ipc__unlink_kind("unix", addr->path, S_IFSOCK, "a socket");
}

/* ------------------------------------------------------------ messages */

/* A named sender: has the receiver's hello come (see the top)? Lower
 * max_msg to the receiver's; a message longer than that is refused. */
ipc_err ipc__unix_peek_hello(ipc_channel *ch, size_t len, ssize_t *peeked)
{
    struct unix_end *ue = unix_priv(ch);
    unsigned char hdr[IPC_FRAME_HDR];
    struct ipc_frame frame;
    ssize_t n;
    do
        n = recv(ue->fd, hdr, sizeof hdr, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    *peeked = n;
    if (n != (ssize_t)sizeof hdr ||
        ipc__frame_decode(hdr, UNIX_MAX_MSG_MAX, &frame) != IPC_OK)
        return IPC_OK; /* not yet (or EOF: the send below says so) */
    /* Both ends must say capacity=0, or neither: a sender cannot know
     * before this hello what its first records should be. Not marked
     * known, so that every send says so. */
    bool rendezvous = frame.prio & UNIX_HELLO_RENDEZVOUS;
    if (rendezvous != ue->rendezvous)
        return ipc__fail(IPC_EINVAL,
                         "unix: the receiver's channel is %s, this sender's "
                         "address %s capacity=0 (rendezvous): open both "
                         "ends with the same capacity",
                         rendezvous ? "a rendezvous one (capacity=0)"
                                    : "not a rendezvous one",
                         ue->rendezvous ? "asks" : "does not ask");
    ue->peer_max_known = true;
    if (frame.len < ch->max_msg)
        ch->max_msg = frame.len;
    if (len > frame.len)
        return ipc__fail(IPC_EMSGSIZE,
                         "unix: message of %zu bytes; the receiver takes at "
                         "most %zu (its max_msg)",
                         len, frame.len);
    return IPC_OK;
}

/* A named receiver tells a sender it accepted its max_msg. A sender that
 * has already left makes this fail: nothing to tell. */
void ipc__unix_send_hello(const struct unix_end *ue, int fd)
{
    unsigned char hdr[IPC_FRAME_HDR];
    ipc__frame_encode(hdr, ue->max_msg,
                      ue->rendezvous ? UNIX_HELLO_RENDEZVOUS : 0);
    while (send(fd, hdr, sizeof hdr, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
           errno == EINTR)
        ;
}

/* How a receive on a connected socket waits. A blocking socket sleeps
 * inside recvmsg, one system call as in a hand-written program, instead of
 * a failed try, a poll() and a retry: until a record comes when the call
 * may wait forever, else up to an SO_RCVTIMEO of the time left (not on a
 * rendezvous end, whose receive polls). Sends never block in sendmsg: the
 * kernel wakes a blocked writer only once three quarters of its buffer
 * have drained, and a send must go as soon as one message fits
 * (unix_send). */
static enum unix_wait unix_wait_mode(const struct unix_end *ue,
                                     const struct ipc_deadline *dl)
{
    if (!ue->blocking || dl->nonblock)
        return UNIX_NOW;
    if (dl->at_ns == INT64_MAX)
        return UNIX_FOREVER;
    return ue->rendezvous ? UNIX_NOW : UNIX_TIMED;
}

/* sendmsg() one record, whole, waiting for room until the deadline. Inline
 * in the plain send, as before rendezvous (a call cost it about 10
 * instructions a message); ipc__unix_sendmsg is the same for
 * rendezvous.c. */
static UNIX_INLINE ipc_err unix_sendmsg(int fd, const struct msghdr *msg,
                                        const struct ipc_deadline *dl)
{
    long slice_ns = 50000;
    for (;;) {
        /* A seqpacket record goes whole or not at all: no partial sends. */
        if (sendmsg(fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
            return IPC_OK;
        if (errno == EINTR)
            continue;
        if (errno == EPIPE || errno == ECONNRESET)
            return ipc__fail(IPC_ECLOSED, "unix: the receiver is gone");
        if (errno != EAGAIN)
            return ipc__errno(errno, "unix: sendmsg");
        /* The kernel wakes writers of a unix socket only once three
         * quarters of its buffer have drained, while a send succeeds as
         * soon as one message fits: wait in short slices and retry. */
        short revents;
        ipc_err err = ipc__wait_fd_slice(fd, POLLOUT, dl, &slice_ns, &revents);
        if (err != IPC_OK)
            return err;
    }
}

static ipc_err unix_send(ipc_channel *ch, const void *buf, size_t len,
                         unsigned prio, const struct ipc_deadline *dl)
{
    struct unix_end *ue = unix_priv(ch);
    if (ue->rendezvous)
        return ipc__unix_offer(ch, buf, len, prio, dl);
    if (!ue->peer_max_known) {
        /* Until the hello has come: one more syscall a send. */
        ssize_t peeked;
        ipc_err err = ipc__unix_peek_hello(ch, len, &peeked);
        if (err != IPC_OK)
            return err;
    }
    unsigned char hdr[IPC_FRAME_HDR];
    ipc__frame_encode(hdr, len, prio);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)buf, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    return unix_sendmsg(ue->fd, &msg, dl);
}

ipc_err ipc__unix_sendmsg(int fd, const struct msghdr *msg,
                          const struct ipc_deadline *dl)
{
    return unix_sendmsg(fd, msg, dl);
}

/* Decode a record's header. On a rendezvous end (offer) every record must
 * be an offer (UNIX_OFFER_BIT), decoded with the bit cleared; elsewhere the
 * bit makes it garbage (ipc__frame_decode refuses the priority word). */
static inline ipc_err unix_decode(const unsigned char hdr[IPC_FRAME_HDR],
                                  size_t max_msg, bool offer,
                                  struct ipc_frame *frame)
{
    if (!offer)
        return ipc__frame_decode(hdr, max_msg, frame);
    if (!(hdr[UNIX_OFFER_BYTE] & UNIX_OFFER_BIT))
        return ipc__fail(IPC_EPROTO,
                         "unix: a message sent without capacity=0 to a "
                         "rendezvous channel; dropped (open senders with "
                         "capacity=0)");
    unsigned char plain[IPC_FRAME_HDR];
    memcpy(plain, hdr, sizeof plain);
    plain[UNIX_OFFER_BYTE] &= (unsigned char)~UNIX_OFFER_BIT;
    return ipc__frame_decode(plain, max_msg, frame);
}

/* The descriptor an offer carries (SCM_RIGHTS), or -1; any more are
 * closed (a hostile sender's). */
static int unix_cmsg_fd(struct msghdr *msg)
{
    int got = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
            if (got < 0)
                got = fd;
            else
                close(fd);
        }
    }
    return got;
}

/* Check a record recvmsg returned (n > 0 bytes). */
static inline ipc_err unix_record(const unsigned char hdr[IPC_FRAME_HDR],
                                  ssize_t n, int flags, size_t max_msg,
                                  bool offer, size_t *len, unsigned *prio)
{
    struct ipc_frame frame;
    if ((size_t)n < IPC_FRAME_HDR || (flags & MSG_TRUNC))
        return ipc__fail(IPC_EPROTO,
                         "unix: a record of %zd bytes is not a "
                         "libipc message; dropped",
                         n);
    ipc_err err = unix_decode(hdr, max_msg, offer, &frame);
    if (err != IPC_OK)
        return err;
    if (frame.len != (size_t)n - IPC_FRAME_HDR)
        return ipc__fail(IPC_EPROTO,
                         "unix: header says %zu bytes, record "
                         "holds %zu; dropped",
                         frame.len, (size_t)n - IPC_FRAME_HDR);
    *len = frame.len;
    *prio = frame.prio;
    return IPC_OK;
}

/* An offer's token: the record must have brought one; a record refused
 * closes what it brought. */
static ipc_err unix_token(ipc_err err, struct msghdr *msg, int *token)
{
    *token = unix_cmsg_fd(msg);
    if (err == IPC_OK && *token < 0)
        err = ipc__fail(msg->msg_flags & MSG_CTRUNC ? IPC_ELIMIT : IPC_EPROTO,
                        "unix: a rendezvous message came without its "
                        "token%s; dropped (its sender takes it back at its "
                        "deadline)",
                        msg->msg_flags & MSG_CTRUNC
                            ? " (out of descriptors: RLIMIT_NOFILE?)"
                            : "");
    if (err != IPC_OK && *token >= 0) {
        close(*token);
        *token = -1;
    }
    return err;
}

/* Retry a receive that failed with this errno? EINTR ends a timed sleep,
 * whose SO_RCVTIMEO would start over; ECONNRESET is reported once before
 * the records queued ahead of it (unix_take). */
static inline bool unix_take_again(enum unix_wait wait)
{
    return errno == ECONNRESET || (errno == EINTR && wait != UNIX_TIMED);
}

/* ipc__unix_take and ipc__unix_take_token (unix.h): one body, inlined in
 * each, so that the plain one has no token code to run (token is NULL
 * there, a constant). ECONNRESET: Linux reports it once, before the queued
 * records, when the peer closed with a record unread (a sender killed
 * before it read the receiver's hello): the error is consumed by the call
 * that reports it, so the records queued before the close are still read,
 * then EOF. */
static UNIX_INLINE ipc_err unix_take(int fd, size_t max_msg, void *buf,
                                     size_t cap, size_t *len, unsigned *prio,
                                     enum unix_wait wait, int *token)
{
    unsigned char hdr[IPC_FRAME_HDR];
    struct ipc_frame frame;
    ssize_t n;
    bool offer = token != NULL;
    int flags = wait == UNIX_NOW ? MSG_DONTWAIT : 0;
    if (cap < max_msg) {
        /* No control buffer: a peek leaves an offer's token in flight. */
        do
            n = recv(fd, hdr, sizeof hdr, MSG_PEEK | MSG_TRUNC | flags);
        while (n < 0 && unix_take_again(wait));
        if (n > 0 && (size_t)n >= sizeof hdr &&
            unix_decode(hdr, max_msg, offer, &frame) == IPC_OK &&
            frame.len == (size_t)n - sizeof hdr && frame.len > cap) {
            *len = frame.len;
            return ipc__fail(IPC_EMSGSIZE,
                             "unix: message of %zu bytes, buffer of %zu; it "
                             "stays queued",
                             frame.len, cap);
        }
        if (n < 0)
            goto fail;
        /* EOF, garbage or a fitting message: the read below says which. */
    }
    struct iovec iov[2] = {{hdr, sizeof hdr}, {buf, cap}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    if (offer) {
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof ctl.buf;
        *token = -1;
    }
    do
        n = recvmsg(fd, &msg, flags | MSG_CMSG_CLOEXEC);
    while (n < 0 && unix_take_again(wait));
    if (n == 0)
        return IPC_ECLOSED;
    if (n < 0)
        goto fail;
    ipc_err err = unix_record(hdr, n, msg.msg_flags, max_msg, offer, len, prio);
    return offer ? unix_token(err, &msg, token) : err;
fail:
    if (errno == EAGAIN || errno == EINTR) /* EINTR: UNIX_TIMED only */
        return IPC_EAGAIN;
    if (errno == ECONNRESET)
        return IPC_ECLOSED;
    return ipc__errno(errno, "unix: recvmsg");
}

ipc_err ipc__unix_take(int fd, size_t max_msg, void *buf, size_t cap,
                       size_t *len, unsigned *prio, enum unix_wait wait)
{
    return unix_take(fd, max_msg, buf, cap, len, prio, wait, NULL);
}

ipc_err ipc__unix_take_token(int fd, size_t max_msg, void *buf, size_t cap,
                             size_t *len, unsigned *prio, enum unix_wait wait,
                             int *token)
{
    return unix_take(fd, max_msg, buf, cap, len, prio, wait, token);
}

/* Let the next blocking recvmsg sleep for what is left of dl, rounded up
 * to the millisecond as poll() would, or make it a try (*wait UNIX_NOW)
 * once nothing is left. A system call costs about as much as the receive
 * here, so the option is set only when the milliseconds left differ from
 * what this end set last: a steady timeout pays nothing. The kernel's
 * value is this end's alone: only one process receives on an end (no
 * IPC_CAP_MULTI_RECEIVER). Later waits forever leave it: a record wakes
 * them all the same, and a timeout that runs out sends them to poll(). */
static ipc_err unix_set_rcvtimeo(struct unix_end *ue,
                                 const struct ipc_deadline *dl,
                                 enum unix_wait *wait)
{
    int ms = ipc__deadline_poll_ms(dl); /* rounded up; 0: passed */
    if (ms == 0) {
        *wait = UNIX_NOW;
        return IPC_OK;
    }
    if (ms == ue->rcvtimeo_ms)
        return IPC_OK;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
                         .tv_usec = (suseconds_t)(ms % 1000 * 1000)};
    if (setsockopt(ue->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        return ipc__errno(errno, "unix: setsockopt SO_RCVTIMEO");
    ue->rcvtimeo_ms = ms;
    return IPC_OK;
}

/* A pair end or a sender's socket: one peer. */
static ipc_err unix_recv_one(ipc_channel *ch, void *buf, size_t cap,
                             size_t *len, unsigned *prio,
                             const struct ipc_deadline *dl)
{
    struct unix_end *ue = unix_priv(ch);
    enum unix_wait mode = unix_wait_mode(ue, dl);
    for (;;) {
        enum unix_wait wait = mode;
        ipc_err err =
            wait == UNIX_TIMED ? unix_set_rcvtimeo(ue, dl, &wait) : IPC_OK;
        if (err == IPC_OK)
            err = ue->rendezvous
                      ? ipc__unix_take_offer(ue->fd, ch->max_msg, buf, cap, len,
                                             prio, wait)
                      : ipc__unix_take(ue->fd, ch->max_msg, buf, cap, len, prio,
                                       wait);
        if (err == IPC_ECLOSED)
            return ipc__fail(IPC_ECLOSED, "unix: the peer is gone");
        if (err != IPC_EAGAIN)
            return err;
        if (mode == UNIX_TIMED) {
            if (wait == UNIX_NOW || ipc__deadline_expired(dl))
                return ipc__deadline_err(dl);
            /* woken early: a signal, or a timeout another call set */
        } else if ((err = ipc__wait_fd(ue->fd, POLLIN, dl, NULL)) != IPC_OK)
            return err;
    }
}

static ipc_err unix_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                         unsigned *prio, const struct ipc_deadline *dl)
{
    if (unix_priv(ch)->epfd >= 0)
        return ipc__unix_recv_many(ch, buf, cap, len, prio, dl);
    return unix_recv_one(ch, buf, cap, len, prio, dl);
}

static ipc_err unix_pollfd(const ipc_channel *ch, int *fd)
{
    /* ipc__priv drops const: the first call completes the epoll set,
     * which is this end's hidden state, not something the caller sees. */
    struct unix_end *ue = unix_priv(ch);
    if (ue->epfd >= 0) {
        pthread_mutex_lock(&ue->lock);
        ipc_err err = IPC_OK;
        if (!ue->polled && (err = ipc__unix_epoll_all(ue)) == IPC_OK)
            ue->polled = true;
        pthread_mutex_unlock(&ue->lock);
        if (err != IPC_OK)
            return err;
    }
    *fd = ue->epfd >= 0 ? ue->epfd : ue->fd;
    return IPC_OK;
}

static ipc_err unix_peer_uid(const ipc_channel *ch, uid_t *uid)
{
    const struct unix_end *ue = unix_priv(ch);
    if (!ue->have_peer)
        return ipc__fail(IPC_ENOENT, "unix: no message received yet");
    *uid = ue->peer_uid;
    return IPC_OK;
}

const struct ipc_backend ipc__backend_unix = {
    .scheme = "unix",
    .caps = IPC_CAP_NAMED | IPC_CAP_PAIR | IPC_CAP_DUPLEX |
            IPC_CAP_MULTI_SENDER | IPC_CAP_RENDEZVOUS | IPC_CAP_POLLABLE |
            IPC_CAP_PEER_CLOSED | IPC_CAP_PEER_UID,
    /* capacity: 0 only (limits.capacity_max), a rendezvous channel; the
     * queue of any other is the socket buffer, in bytes. */
    .keys = IPC_KEYBIT(IPC_KEY_MAX_MSG) | IPC_KEYBIT(IPC_KEY_CAPACITY) |
            IPC_KEYBIT(IPC_KEY_MODE) | IPC_KEYBIT(IPC_KEY_PEER_UID) |
            IPC_KEYBIT(IPC_KEY_OWNER),
    /* A socketpair has no file to give a mode, and its peer is the
     * caller's own fork. */
    .named_keys = IPC_KEYBIT(IPC_KEY_MODE) | IPC_KEYBIT(IPC_KEY_PEER_UID) |
                  IPC_KEYBIT(IPC_KEY_OWNER),
    .priv_size = sizeof(struct unix_end),
    .limits =
        {
            .max_msg_default = UNIX_MAX_MSG_DEFAULT,
            .max_msg_max = UNIX_MAX_MSG_MAX,
            .name_max = UNIX_NAME_MAX,
        },
    .path_required = true,
    .open = unix_open,
    .pair = unix_pair,
    .close = unix_close,
    .unlink = unix_unlink,
    .send = unix_send,
    .recv = unix_recv,
    .pollfd = unix_pollfd,
    .peer_uid = unix_peer_uid,
    .os_limits = ipc__unix_os_limits,
    .back = ipc__unix_back,
};
