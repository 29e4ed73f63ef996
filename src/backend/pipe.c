/* SPDX-License-Identifier: MIT */
/* pipe: an anonymous pipe between a parent and its forked child (or two
 * threads), or an end an exec'd child adopts by descriptor number. */
#include "ipc_int.h"
#include "os.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

struct pipe_end {
    struct ipc_stream stream;
};

/* The default and the ceiling for a message. Frames up to the pipe buffer
 * (grown to at most /proc/sys/fs/pipe-max-size, 1 MiB by default) go in one
 * piece; larger ones stream through in parts, see stream.c. */
#define PIPE_MAX_MSG_DEFAULT (64u * 1024)
#define PIPE_MAX_MSG_MAX     (64u * 1024 * 1024)

static struct pipe_end *pipe_priv(const ipc_channel *ch)
{
    return ipc__priv(ch);
}

static ipc_err pipe_setup_end(ipc_channel *ch, int fd, bool adopted)
{
    struct pipe_end *pe = pipe_priv(ch);
    ipc__stream_init(&pe->stream, fd, ch->max_msg);
    /* An exec'd child may adopt its end with a smaller max_msg (?fd=N&
     * max_msg=M) than the sender's: skip the longer frames, stay in sync. */
    pe->stream.skip_max = PIPE_MAX_MSG_MAX;
    ipc__stream_size_pipe(&pe->stream);
    ch->capacity = 0; /* bounded in bytes, not messages */
    ch->buffer_bytes = pe->stream.pipe_size;
    return ipc__stream_nowait(&pe->stream, adopted);
}

static ipc_err pipe_pair(ipc_channel *tx, ipc_channel *rx,
                         const struct ipc_addr *addr, unsigned flags)
{
    int fds[2];
    pipe_priv(tx)->stream.fd = -1;
    pipe_priv(rx)->stream.fd = -1;
    if (addr->keys_set & IPC_KEYBIT(IPC_KEY_FD))
        return ipc__fail(IPC_EINVAL, "pipe: fd= adopts an end with ipc_open, "
                                     "a pair makes new ones");
    if (pipe2(fds, O_CLOEXEC) < 0)
        return ipc__errno(errno, "pipe: pipe2");
    ipc_err err = pipe_setup_end(rx, fds[0], false);
    ipc_err err_tx = pipe_setup_end(tx, fds[1], false);
    if (err == IPC_OK)
        err = err_tx;
    if (err == IPC_OK && (flags & IPC_F_INHERIT)) {
        err = ipc__fd_inherit(fds[0], true, "pipe");
        if (err == IPC_OK)
            err = ipc__fd_inherit(fds[1], true, "pipe");
    }
    /* Both ends see the one kernel buffer; report the final size. */
    tx->buffer_bytes = rx->buffer_bytes = pipe_priv(tx)->stream.pipe_size;
    pipe_priv(rx)->stream.pipe_size = pipe_priv(tx)->stream.pipe_size;
    return err;
}

/* "pipe:?fd=N": adopt a descriptor inherited across exec. It must be a pipe
 * (or FIFO) end opened for the direction asked. */
static ipc_err pipe_open(ipc_channel *ch, const struct ipc_addr *addr,
                         unsigned flags, const struct ipc_deadline *dl)
{
    (void)dl;
    struct pipe_end *pe = pipe_priv(ch);
    pe->stream.fd = -1;
    if (!(addr->keys_set & IPC_KEYBIT(IPC_KEY_FD)))
        return ipc__fail(IPC_ENOTSUP, "pipe: no named channels: use "
                                      "ipc_pair, or \"pipe:?fd=N\" to adopt "
                                      "an inherited end");
    if (flags & (IPC_F_CREATE | IPC_F_EXCL | IPC_F_REPLACE))
        return ipc__fail(IPC_EINVAL, "pipe: an adopted end cannot be created");
    int fd = (int)addr->val[IPC_KEY_FD];
    struct stat st;
    if (fstat(fd, &st) < 0) {
        /* A descriptor that is not open is the caller's mistake (usually
         * IPC_F_INHERIT missing at the parent), not a system failure. */
        if (errno == EBADF)
            return ipc__fail(IPC_EINVAL,
                             "pipe: descriptor %d is not open (was the end "
                             "made with IPC_F_INHERIT?)",
                             fd);
        return ipc__errno(errno, "pipe: descriptor %d", fd);
    }
    if (!S_ISFIFO(st.st_mode))
        return ipc__fail(IPC_EINVAL, "pipe: descriptor %d is not a pipe", fd);
    int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
    int want = (flags & IPC_F_SEND) ? O_WRONLY : O_RDONLY;
    if (acc != want)
        return ipc__fail(IPC_EINVAL, "pipe: descriptor %d is not open for %s",
                         fd, want == O_WRONLY ? "writing" : "reading");
    ipc_err err = ipc__fd_inherit(fd, flags & IPC_F_INHERIT, "pipe");
    if (err == IPC_OK)
        err = pipe_setup_end(ch, fd, true);
    if (err != IPC_OK)
        return err;
    /* An adopted end can do what a pair end can. */
    ch->caps = ch->be->caps;
    return IPC_OK;
}

static void pipe_close(ipc_channel *ch)
{
    ipc__stream_close(&pipe_priv(ch)->stream);
}

static ipc_err pipe_send(ipc_channel *ch, const void *buf, size_t len,
                         unsigned prio, const struct ipc_deadline *dl)
{
    return ipc__stream_send(&pipe_priv(ch)->stream, buf, len, prio, dl);
}

static ipc_err pipe_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                         unsigned *prio, const struct ipc_deadline *dl)
{
    return ipc__stream_recv(&pipe_priv(ch)->stream, buf, cap, len, prio, dl);
}

static ipc_err pipe_pollfd(const ipc_channel *ch, int *fd)
{
    *fd = pipe_priv(ch)->stream.fd;
    return IPC_OK;
}

/* The address an exec'd child passes to ipc_open() to adopt this end. */
static ipc_err pipe_address(const ipc_channel *ch, char *buf, size_t size)
{
    int n = snprintf(buf, size, "pipe:?fd=%d&max_msg=%zu",
                     pipe_priv(ch)->stream.fd, ch->max_msg);
    if (n < 0 || (size_t)n >= size)
        return ipc__fail(IPC_EMSGSIZE, "ipc_address: %d bytes needed", n + 1);
    return IPC_OK;
}

const struct ipc_backend ipc__backend_pipe = {
    .scheme = "pipe",
    .caps =
        IPC_CAP_PAIR | IPC_CAP_POLLABLE | IPC_CAP_PEER_CLOSED | IPC_CAP_INHERIT,
    .keys = IPC_KEYBIT(IPC_KEY_MAX_MSG) | IPC_KEYBIT(IPC_KEY_FD),
    .priv_size = sizeof(struct pipe_end),
    .limits =
        {
            .max_msg_default = PIPE_MAX_MSG_DEFAULT,
            .max_msg_max = PIPE_MAX_MSG_MAX,
            .name_max = 0,
        },
    .open = pipe_open,
    .pair = pipe_pair,
    .close = pipe_close,
    .send = pipe_send,
    .recv = pipe_recv,
    .pollfd = pipe_pollfd,
    .address = pipe_address,
};
