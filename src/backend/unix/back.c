/* SPDX-License-Identifier: MIT */
/* unix backend: the way back on a named channel's connection (the backend
 * op back), for request/reply's replies. A connection is a full-duplex
 * socket whose receiver-to-sender direction carries only the receiver's
 * hello: replies can ride there, and the connection's life is the
 * client's, with no second name to make or remove. */
#include "unix.h"

/* A new end over fd, a dup of a connected socket that another end also
 * uses. Its flags are left alone: they belong to the shared file
 * description (a receiver's connections are non-blocking). */
static ipc_err unix_back_end(ipc_channel *out, int fd)
{
    struct unix_end *ue = unix_priv(out);
    ue->fd = ue->epfd = -1;
    int rc = pthread_mutex_init(&ue->lock, NULL);
    if (rc != 0) {
        close(fd);
        return ipc__errno(rc, "unix: pthread_mutex_init");
    }
    ue->lock_made = true;
    ue->fd = fd;
    int fl = fcntl(fd, F_GETFL);
    ue->blocking = fl >= 0 && !(fl & O_NONBLOCK);
    /* The two ends agreed their max_msg with the hello already. */
    ue->peer_max_known = true;
    ipc_err err = ipc__unix_size_sndbuf(fd, out->max_msg);
    if (err != IPC_OK)
        return err;
    ue->have_peer = ipc__unix_peercred(fd, &ue->peer_uid) == IPC_OK;
    out->capacity = 0;
    return IPC_OK;
}

static int unix_back_dup(const ipc_channel *ch, int fd)
{
    return fcntl(fd, ch->flags & IPC_F_INHERIT ? F_DUPFD : F_DUPFD_CLOEXEC, 3);
}

/* A sender: wait for the receiver's hello and take it off the connection
 * (it is the only record the receiver writes there on its own), so that
 * what comes next is the other side's messages. */
static ipc_err unix_back_hello(ipc_channel *ch, const struct ipc_deadline *dl)
{
    struct unix_end *ue = unix_priv(ch);
    for (;;) {
        ssize_t peeked;
        ipc_err err = ipc__unix_peek_hello(ch, 0, &peeked);
        if (err != IPC_OK)
            return err;
        if (ue->peer_max_known) {
            unsigned char hdr[IPC_FRAME_HDR];
            while (recv(ue->fd, hdr, sizeof hdr, MSG_DONTWAIT) < 0 &&
                   errno == EINTR)
                ;
            return IPC_OK;
        }
        if (peeked == 0)
            return ipc__fail(IPC_ECLOSED, "unix: the receiver is gone");
        if (peeked > 0)
            return ipc__fail(IPC_EPROTO, "unix: the receiver's first record "
                                         "is not its hello");
        if ((err = ipc__wait_fd(ue->fd, POLLIN, dl, NULL)) != IPC_OK)
            return err;
    }
}

ipc_err ipc__unix_back(ipc_channel *ch, ipc_channel *out,
                       const struct ipc_deadline *dl)
{
    /* A rendezvous channel's offers ride one way, and their takes on
     * sockets of their own: the way back carries plain messages. */
    struct unix_end *ue = unix_priv(ch);
    int fd;
    if (ue->epfd >= 0) {
        /* The receiver: the connection its last message came from. */
        if (!ue->cur)
            return ipc__fail(IPC_EINVAL, "unix: no message received just "
                                         "now to answer");
        fd = ue->cur->fd;
    } else {
        ipc_err err = unix_back_hello(ch, dl);
        if (err != IPC_OK)
            return err;
        fd = ue->fd;
        out->max_msg = ch->max_msg; /* lowered to the receiver's */
    }
    int dup_fd = unix_back_dup(ch, fd);
    if (dup_fd < 0)
        return ipc__errno(errno, "unix: dup");
    return unix_back_end(out, dup_fd);
}
