/* SPDX-License-Identifier: MIT */
/* Raw baselines: the system calls under each backend, hand-written, no
 * library, blocking descriptors, the same framing and kernel buffer sizes. */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/*
 * Fairness rules for every raw loop here:
 * - the same bytes on the wire: pipe, FIFO and unix carry the 16-byte frame
 *   header of src/frame.h (magic, priority, 64-bit length), written with one
 *   writev/sendmsg of two iovecs, read back as the backend does (pipe/FIFO:
 *   a read of the header, then one of the payload) and checked (magic and
 *   length) before the payload is trusted;
 * - the same kernel object sizes: pipe buffers and socket send buffers are
 *   grown by the rules of src/stream.c and src/backend/unix/; mq and the
 *   ring get the capacity the libipc address asks for;
 * - the same safety: a write to a pipe or FIFO can never kill the process
 *   (SIGPIPE is ignored in the children, or, for the pipe-dfl row where it
 *   stays SIG_DFL, blocked around each write exactly as src/stream.c does);
 *   sockets pass MSG_NOSIGNAL;
 * - what a careful hand-written program would do and no more: blocking
 *   descriptors (no deadlines), no retries beyond EINTR.
 */

#define RAW_HDR   16u
#define RAW_MAGIC 0x31435049u

int bx_fail(struct bx *x, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->detail, sizeof x->detail, fmt, ap);
    va_end(ap);
    return status;
}

int bx_errno(struct bx *x, const char *what)
{
    return bx_fail(x, BX_ERROR, "%s: %s", what, strerror(errno));
}

long bx_proc_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (!f)
        return -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

unsigned char *bx_buf_alloc(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, BX_HEADROOM + size + 64) != 0)
        return NULL;
    memset(p, 0x5a, BX_HEADROOM + size + 64); /* fault every page in now */
    return (unsigned char *)p + BX_HEADROOM;
}

void bx_buf_free(unsigned char *buf)
{
    if (buf)
        free(buf - BX_HEADROOM);
}

void bx_size_pipe(int fd, size_t frame)
{
    int size = fcntl(fd, F_GETPIPE_SZ);
    for (size_t want = 2 * frame; want >= frame; want -= frame) {
        if (size < 0 || (size_t)size >= want || want > INT_MAX)
            break;
        if (fcntl(fd, F_SETPIPE_SZ, (int)want) > 0)
            break;
    }
}

int bx_size_sndbuf(struct bx *x, int fd)
{
    size_t one = x->size + RAW_HDR + 1024; /* UNIX_SKB_SLACK */
    int have = 0;
    socklen_t len = sizeof have;
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len);
    if ((size_t)have >= 2 * one)
        return BX_OK;
    int ask = (int)(one + 1); /* the kernel doubles it */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &ask, sizeof ask);
    len = sizeof have;
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len);
    if ((size_t)have < one)
        return bx_fail(x, BX_SKIP,
                       "socket buffer of %d bytes (net.core.wmem_max) is "
                       "below one frame",
                       have);
    return BX_OK;
}

static void raw_hdr(unsigned char *h, size_t len)
{
    uint32_t w[4] = {RAW_MAGIC, 0, (uint32_t)len,
                     (uint32_t)((uint64_t)len >> 32)};
    memcpy(h, w, sizeof w); /* little-endian hosts: the wire layout */
}

static int raw_hdr_check(struct bx *x, const unsigned char *h, size_t cap,
                         size_t *len)
{
    uint32_t w[4];
    memcpy(w, h, sizeof w);
    uint64_t n = w[2] | (uint64_t)w[3] << 32;
    if (w[0] != RAW_MAGIC || w[1] != 0 || n > cap)
        return bx_fail(x, BX_ERROR, "raw: bad frame header");
    *len = (size_t)n;
    return BX_OK;
}

static void raw_close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void raw_fds_reset(struct bx *x)
{
    for (int d = 0; d < 2; d++)
        x->fd[d][0] = x->fd[d][1] = -1;
}

/* The role's write end (0) of the direction it sends on, read end (1) of
 * the one it receives on; the other two are closed. */
static void raw_keep_fds(struct bx *x, int role)
{
    int dsend = role == BX_INITIATOR ? BX_DIR_A : BX_DIR_B;
    raw_close_fd(&x->fd[dsend][1]);
    raw_close_fd(&x->fd[!dsend][0]);
}

static void raw_close_all(struct bx *x)
{
    for (int d = 0; d < 2; d++) {
        raw_close_fd(&x->fd[d][0]);
        raw_close_fd(&x->fd[d][1]);
    }
}

static void raw_close_role(struct bx *x, int role)
{
    (void)role;
    raw_close_all(x);
}

static void raw_parent_close(struct bx *x)
{
    raw_close_all(x);
}

/* ------------------------------------------------------ pipe and FIFO */

/* Write both iovecs whole: writev, or on a socket sendmsg with
 * MSG_NOSIGNAL; a frame larger than the kernel takes at once goes in
 * pieces. */
static int raw_put(struct bx *x, int fd, struct iovec iov[2], bool sock)
{
    size_t total = iov[0].iov_len + iov[1].iov_len, done = 0;
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    while (done < total) {
        ssize_t n = sock ? sendmsg(fd, &msg, MSG_NOSIGNAL) : writev(fd, iov, 2);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return bx_errno(x, sock ? "raw: sendmsg" : "raw: writev");
        }
        /* A frame larger than the pipe goes in pieces: advance. */
        done += (size_t)n;
        for (int i = 0; i < 2; i++) {
            size_t step =
                (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + step;
            iov[i].iov_len -= step;
            n -= (ssize_t)step;
        }
    }
    return BX_OK;
}

static int raw_stream_send(struct bx *x, int dir, const void *buf, size_t len)
{
    unsigned char hdr[RAW_HDR];
    raw_hdr(hdr, len);
    struct iovec iov[2] = {{hdr, RAW_HDR}, {(void *)buf, len}};
    sigset_t old, pipe_set;
    if (x->sigpipe_mask) {
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    }
    int status = raw_put(x, x->fd[dir][0], iov, false);
    if (x->sigpipe_mask) {
        if (status != BX_OK) {
            const struct timespec zero = {0, 0};
            sigtimedwait(&pipe_set, NULL, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return status;
}

static int raw_read_full(struct bx *x, int fd, void *buf, size_t len)
{
    size_t have = 0;
    while (have < len) {
        ssize_t n = read(fd, (char *)buf + have, len - have);
        if (n > 0)
            have += (size_t)n;
        else if (n == 0)
            return bx_fail(x, BX_ERROR, "raw: EOF");
        else if (errno != EINTR)
            return bx_errno(x, "raw: read");
    }
    return BX_OK;
}

static int raw_stream_recv(struct bx *x, int dir, void *buf, size_t cap,
                           size_t *len)
{
    unsigned char hdr[RAW_HDR];
    int st = raw_read_full(x, x->fd[dir][1], hdr, RAW_HDR);
    if (st == BX_OK)
        st = raw_hdr_check(x, hdr, cap, len);
    if (st == BX_OK)
        st = raw_read_full(x, x->fd[dir][1], buf, *len);
    return st;
}

static int raw_pipe_prepare(struct bx *x)
{
    raw_fds_reset(x);
    for (int d = 0; d < 2; d++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return bx_errno(x, "raw: pipe2");
        x->fd[d][0] = p[1];
        x->fd[d][1] = p[0];
        bx_size_pipe(p[1], x->size + RAW_HDR);
    }
    return BX_OK;
}

static int raw_pipe_create(struct bx *x, int role)
{
    raw_keep_fds(x, role);
    return BX_OK;
}

static int raw_nothing(struct bx *x, int role)
{
    (void)x;
    (void)role;
    return BX_OK;
}

const struct bx_ops bx_raw_pipe = {
    .prepare = raw_pipe_prepare,
    .parent_close = raw_parent_close,
    .create = raw_pipe_create,
    .connect = raw_nothing,
    .send = raw_stream_send,
    .recv = raw_stream_recv,
    .close = raw_close_role,
};

/* FIFOs: the orchestrator makes both, the children open them in the same
 * order (A, then B) so that the blocking opens pair up. */
static int raw_fifo_prepare(struct bx *x)
{
    raw_fds_reset(x);
    for (int d = 0; d < 2; d++)
        if (mkfifo(x->name[d], 0600) < 0)
            return bx_errno(x, "raw: mkfifo");
    return BX_OK;
}

static int raw_fifo_open(struct bx *x, int dir, int flags)
{
    int fd;
    do
        fd = open(x->name[dir], flags | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return bx_errno(x, "raw: open fifo");
    x->fd[dir][(flags & O_ACCMODE) == O_WRONLY ? 0 : 1] = fd;
    if ((flags & O_ACCMODE) == O_WRONLY)
        bx_size_pipe(fd, x->size + RAW_HDR);
    return BX_OK;
}

static int raw_fifo_connect(struct bx *x, int role)
{
    int st =
        raw_fifo_open(x, BX_DIR_A, role == BX_INITIATOR ? O_WRONLY : O_RDONLY);
    if (st == BX_OK)
        st = raw_fifo_open(x, BX_DIR_B,
                           role == BX_INITIATOR ? O_RDONLY : O_WRONLY);
    return st;
}

static void raw_fifo_cleanup(struct bx *x)
{
    for (int d = 0; d < 2; d++)
        unlink(x->name[d]);
}

const struct bx_ops bx_raw_fifo = {
    .prepare = raw_fifo_prepare,
    .parent_close = raw_parent_close,
    .create = raw_nothing,
    .connect = raw_fifo_connect,
    .send = raw_stream_send,
    .recv = raw_stream_recv,
    .close = raw_close_role,
    .cleanup = raw_fifo_cleanup,
};

/* -------------------------------------------------- unix SOCK_SEQPACKET */

static int raw_unix_prepare(struct bx *x)
{
    raw_fds_reset(x);
    for (int d = 0; d < 2; d++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
            return bx_errno(x, "raw: socketpair");
        x->fd[d][0] = sv[0];
        x->fd[d][1] = sv[1];
        int st = bx_size_sndbuf(x, sv[0]);
        if (st != BX_OK)
            return st;
    }
    return BX_OK;
}

static int raw_unix_send(struct bx *x, int dir, const void *buf, size_t len)
{
    unsigned char hdr[RAW_HDR];
    raw_hdr(hdr, len);
    struct iovec iov[2] = {{hdr, RAW_HDR}, {(void *)buf, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    while (sendmsg(x->fd[dir][0], &msg, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return bx_errno(x, "raw: sendmsg");
    return BX_OK;
}

static int raw_unix_recv(struct bx *x, int dir, void *buf, size_t cap,
                         size_t *len)
{
    unsigned char hdr[RAW_HDR];
    struct iovec iov[2] = {{hdr, RAW_HDR}, {buf, cap}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t n;
    do
        n = recvmsg(x->fd[dir][1], &msg, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return bx_errno(x, "raw: recvmsg");
    if (n < (ssize_t)RAW_HDR || (msg.msg_flags & MSG_TRUNC))
        return bx_fail(x, BX_ERROR, "raw: bad record of %zd bytes", n);
    int st = raw_hdr_check(x, hdr, cap, len);
    if (st == BX_OK && *len != (size_t)n - RAW_HDR)
        return bx_fail(x, BX_ERROR, "raw: header and record disagree");
    return st;
}

const struct bx_ops bx_raw_unix = {
    .prepare = raw_unix_prepare,
    .parent_close = raw_parent_close,
    .create = raw_pipe_create,
    .connect = raw_nothing,
    .send = raw_unix_send,
    .recv = raw_unix_recv,
    .close = raw_close_role,
};

/* ------------------------------------------- plain: as users write them */

/* The loops a user writes who needs no framing: messages of a size both
 * sides know, a blocking write() and read() of exactly that (pipe), one
 * send() and recv() a message (SOCK_SEQPACKET). No header, no check: the
 * fastest honest baseline, one system call a message each way. */
static int raw_plain_pipe_send(struct bx *x, int dir, const void *buf,
                               size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(x->fd[dir][0], (const char *)buf + done, len - done);
        if (n < 0 && errno != EINTR)
            return bx_errno(x, "raw: write");
        if (n > 0)
            done += (size_t)n;
    }
    return BX_OK;
}

static int raw_plain_pipe_recv(struct bx *x, int dir, void *buf, size_t cap,
                               size_t *len)
{
    (void)cap;
    *len = x->size;
    return raw_read_full(x, x->fd[dir][1], buf, x->size);
}

const struct bx_ops bx_raw_pipe_plain = {
    .prepare = raw_pipe_prepare,
    .parent_close = raw_parent_close,
    .create = raw_pipe_create,
    .connect = raw_nothing,
    .send = raw_plain_pipe_send,
    .recv = raw_plain_pipe_recv,
    .close = raw_close_role,
};

static int raw_plain_unix_send(struct bx *x, int dir, const void *buf,
                               size_t len)
{
    while (send(x->fd[dir][0], buf, len, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return bx_errno(x, "raw: send");
    return BX_OK;
}

/* One recv: a record (SOCK_SEQPACKET) or a datagram (udp). */
static int raw_recv_one(struct bx *x, int dir, void *buf, size_t cap,
                        size_t *len)
{
    ssize_t n;
    do
        n = recv(x->fd[dir][1], buf, cap, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return bx_errno(x, "raw: recv");
    *len = (size_t)n;
    return BX_OK;
}

const struct bx_ops bx_raw_unix_plain = {
    .prepare = raw_unix_prepare,
    .parent_close = raw_parent_close,
    .create = raw_pipe_create,
    .connect = raw_nothing,
    .send = raw_plain_unix_send,
    .recv = raw_recv_one,
    .close = raw_close_role,
};

/* ------------------------------------------------------- POSIX mqueue */

/* Made and unlinked at once by the orchestrator: the children inherit the
 * descriptors, and nothing is left behind whatever happens. */
static int raw_mq_prepare(struct bx *x)
{
    x->mq[0] = x->mq[1] = (mqd_t)-1;
    for (int d = 0; d < 2; d++) {
        struct mq_attr attr = {.mq_maxmsg = (long)x->capacity,
                               .mq_msgsize = (long)x->size};
        x->mq[d] = mq_open(x->name[d], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                           0600, &attr);
        if (x->mq[d] == (mqd_t)-1)
            return bx_errno(x, "raw: mq_open");
        mq_unlink(x->name[d]);
    }
    return BX_OK;
}

static void raw_mq_close(struct bx *x)
{
    for (int d = 0; d < 2; d++) {
        if (x->mq[d] != (mqd_t)-1)
            mq_close(x->mq[d]);
        x->mq[d] = (mqd_t)-1;
    }
}

static void raw_mq_close_role(struct bx *x, int role)
{
    (void)role;
    raw_mq_close(x);
}

static int raw_mq_send(struct bx *x, int dir, const void *buf, size_t len)
{
    while (mq_send(x->mq[dir], buf, len, 0) < 0)
        if (errno != EINTR)
            return bx_errno(x, "raw: mq_send");
    return BX_OK;
}

static int raw_mq_recv(struct bx *x, int dir, void *buf, size_t cap,
                       size_t *len)
{
    ssize_t n;
    do
        n = mq_receive(x->mq[dir], buf, cap, NULL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return bx_errno(x, "raw: mq_receive");
    *len = (size_t)n;
    return BX_OK;
}

/* mq-prio: mq_receive asked for the priority too, as libipc always asks
 * (ipc_recv's prio argument is optional; the backend cannot tell). */
static int raw_mq_recv_prio(struct bx *x, int dir, void *buf, size_t cap,
                            size_t *len)
{
    unsigned prio;
    ssize_t n;
    do
        n = mq_receive(x->mq[dir], buf, cap, &prio);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return bx_errno(x, "raw: mq_receive");
    *len = (size_t)n;
    return BX_OK;
}

const struct bx_ops bx_raw_mq_prio = {
    .prepare = raw_mq_prepare,
    .parent_close = raw_mq_close,
    .create = raw_nothing,
    .connect = raw_nothing,
    .send = raw_mq_send,
    .recv = raw_mq_recv_prio,
    .close = raw_mq_close_role,
};

const struct bx_ops bx_raw_mq = {
    .prepare = raw_mq_prepare,
    .parent_close = raw_mq_close,
    .create = raw_nothing,
    .connect = raw_nothing,
    .send = raw_mq_send,
    .recv = raw_mq_recv,
    .close = raw_mq_close_role,
};

/* ------------------------------------------------------ SysV messages */

static int raw_sysv_prepare(struct bx *x)
{
    x->qid[0] = x->qid[1] = -1;
    for (int d = 0; d < 2; d++)
        if ((x->qid[d] = msgget(IPC_PRIVATE, IPC_CREAT | 0600)) < 0)
            return bx_errno(x, "raw: msgget");
    return BX_OK;
}

/* msgsnd wants the type just before the text: the bench's buffers have
 * headroom, so the message is built in place, as a hand-written program
 * would lay out its own struct (the library must copy instead). */
static int raw_sysv_send_type(struct bx *x, int dir, const void *buf,
                              size_t len, long type)
{
    long *mtype = (long *)((unsigned char *)buf - sizeof(long));
    *mtype = type;
    while (msgsnd(x->qid[dir], mtype, len, 0) < 0)
        if (errno != EINTR)
            return bx_errno(x, "raw: msgsnd");
    return BX_OK;
}

/* msgtyp 0: arrival order; -N: the lowest type up to N first. */
static int raw_sysv_recv_type(struct bx *x, int dir, void *buf, size_t cap,
                              size_t *len, long msgtyp)
{
    long *mtype = (long *)((unsigned char *)buf - sizeof(long));
    ssize_t n;
    do
        n = msgrcv(x->qid[dir], mtype, cap, msgtyp, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return bx_errno(x, "raw: msgrcv");
    *len = (size_t)n;
    return BX_OK;
}

static int raw_sysv_send(struct bx *x, int dir, const void *buf, size_t len)
{
    return raw_sysv_send_type(x, dir, buf, len, 1);
}

static int raw_sysv_recv(struct bx *x, int dir, void *buf, size_t cap,
                         size_t *len)
{
    return raw_sysv_recv_type(x, dir, buf, cap, len, 0);
}

static void raw_sysv_cleanup(struct bx *x)
{
    for (int d = 0; d < 2; d++)
        if (x->qid[d] >= 0)
            msgctl(x->qid[d], IPC_RMID, NULL);
}

static void raw_sysv_noop(struct bx *x)
{
    (void)x;
}

static void raw_sysv_close_role(struct bx *x, int role)
{
    (void)x;
    (void)role;
}

/* sysv-prio: the receive in priority order that src/backend/sysvmq.c
 * makes (the lowest type first, types 1 to 32; prio 0 is type 32), which
 * the kernel answers by walking the whole queue. */
#define RAW_SYSV_LEVELS 32

static int raw_sysv_send_prio(struct bx *x, int dir, const void *buf,
                              size_t len)
{
    return raw_sysv_send_type(x, dir, buf, len, RAW_SYSV_LEVELS);
}

static int raw_sysv_recv_prio(struct bx *x, int dir, void *buf, size_t cap,
                              size_t *len)
{
    return raw_sysv_recv_type(x, dir, buf, cap, len, -RAW_SYSV_LEVELS);
}

const struct bx_ops bx_raw_sysv_prio = {
    .prepare = raw_sysv_prepare,
    .parent_close = raw_sysv_noop,
    .create = raw_nothing,
    .connect = raw_nothing,
    .send = raw_sysv_send_prio,
    .recv = raw_sysv_recv_prio,
    .close = raw_sysv_close_role,
    .cleanup = raw_sysv_cleanup,
};

const struct bx_ops bx_raw_sysv = {
    .prepare = raw_sysv_prepare,
    .parent_close = raw_sysv_noop,
    .create = raw_nothing,
    .connect = raw_nothing,
    .send = raw_sysv_send,
    .recv = raw_sysv_recv,
    .close = raw_sysv_close_role,
    .cleanup = raw_sysv_cleanup,
};

/* ------------------------------------------------- shared-memory ring */

/* An anonymous shared mapping made before fork: the data path is the same
 * as a named shm object's, without the name. */
static int raw_ring_make(struct bx *x, enum bench_ring_kind kind)
{
    x->ring_bytes = bench_ring_bytes(x->capacity, x->size);
    for (int d = 0; d < 2; d++) {
        void *p = mmap(NULL, x->ring_bytes, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return bx_errno(x, "raw: mmap");
        x->ring[d] = p;
        bench_ring_init(x->ring[d], kind, x->capacity, x->size);
        x->ring_pos[d] = 0;
    }
    return BX_OK;
}

/* The row says which ring (bench_backend.ring_kind; the default: SEQ). */
static int raw_ring_prepare(struct bx *x)
{
    return raw_ring_make(x, (enum bench_ring_kind)x->be->ring_kind);
}

static void raw_ring_unmap(struct bx *x)
{
    for (int d = 0; d < 2; d++) {
        if (x->ring[d])
            munmap(x->ring[d], x->ring_bytes);
        x->ring[d] = NULL;
    }
}

static void raw_ring_close(struct bx *x, int role)
{
    (void)role;
    raw_ring_unmap(x);
}

/* Map every page of the ring in this process before timing (reads only:
 * the sequence words belong to the protocol); the warm-up does the rest. */
static int raw_ring_create(struct bx *x, int role)
{
    (void)role;
    for (int d = 0; d < 2; d++) {
        volatile unsigned char *p = (unsigned char *)x->ring[d];
        for (size_t off = 0; off < x->ring_bytes; off += 4096)
            (void)p[off];
    }
    return BX_OK;
}

static int raw_ring_send(struct bx *x, int dir, const void *buf, size_t len)
{
    if (bench_ring_send(x->ring[dir], &x->ring_pos[dir], buf, len) < 0)
        return bx_fail(x, BX_ERROR, "raw ring: message too large");
    return BX_OK;
}

static int raw_ring_recv(struct bx *x, int dir, void *buf, size_t cap,
                         size_t *len)
{
    if (bench_ring_recv(x->ring[dir], &x->ring_pos[dir], buf, cap, len) < 0)
        return bx_fail(x, BX_ERROR, "raw ring: bad slot length");
    return BX_OK;
}

const struct bx_ops bx_raw_ring = {
    .prepare = raw_ring_prepare,
    .parent_close = raw_ring_unmap,
    .create = raw_ring_create,
    .connect = raw_nothing,
    .send = raw_ring_send,
    .recv = raw_ring_recv,
    .close = raw_ring_close,
};

/* ----------------------------------------------------- TCP and UDP */

/* A socket bound to 127.0.0.1 on a port the kernel picks; *port gets it. */
static int raw_bound(struct bx *x, int type, int *fd, unsigned short *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if ((*fd = socket(AF_INET, type | SOCK_CLOEXEC, 0)) < 0)
        return bx_errno(x, "raw: socket");
    if (bind(*fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(*fd, (struct sockaddr *)&sa, &sl) < 0)
        return bx_errno(x, "raw: bind");
    *port = ntohs(sa.sin_port);
    return BX_OK;
}

static struct sockaddr_in raw_loopback(unsigned short port)
{
    return (struct sockaddr_in){.sin_family = AF_INET,
                                .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

static void raw_net_close(struct bx *x)
{
    raw_close_all(x);
    for (int d = 0; d < 2; d++)
        raw_close_fd(&x->lfd[d]);
}

static void raw_net_close_role(struct bx *x, int role)
{
    (void)role;
    raw_net_close(x);
}

/* TCP: the orchestrator makes a listener per direction (the children
 * inherit them); each child connects the direction it sends on, then
 * accepts the one it receives on (the kernel completes a connect to a
 * listener before any accept, so the two never wait for each other).
 * The frames of src/frame.h, TCP_NODELAY (unless the row keeps Nagle's
 * algorithm), the send buffer of tcp.c (two frames); blocking calls, as a
 * user would write them. */
static int raw_tcp_prepare(struct bx *x)
{
    raw_fds_reset(x);
    x->lfd[0] = x->lfd[1] = -1;
    for (int d = 0; d < 2; d++) {
        int st = raw_bound(x, SOCK_STREAM, &x->lfd[d], &x->port[d]);
        if (st != BX_OK)
            return st;
        if (listen(x->lfd[d], 1) < 0)
            return bx_errno(x, "raw: listen");
    }
    return BX_OK;
}

static void raw_tcp_tune(const struct bx *x, int fd, size_t frame)
{
    int one = 1, have = 0;
    socklen_t len = sizeof have;
    if (!x->be->nagle)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len);
    if (have > 0 && (size_t)have / 4 * 3 < 2 * frame &&
        2 * frame < INT_MAX / 2) {
        int ask = (int)(2 * frame);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &ask, sizeof ask);
    }
}

static int raw_tcp_create(struct bx *x, int role)
{
    int dsend = role == BX_INITIATOR ? BX_DIR_A : BX_DIR_B;
    raw_close_fd(&x->lfd[dsend]);
    return BX_OK;
}

static int raw_tcp_connect(struct bx *x, int role)
{
    int dsend = role == BX_INITIATOR ? BX_DIR_A : BX_DIR_B;
    struct sockaddr_in to = raw_loopback(x->port[dsend]);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if ((x->fd[dsend][0] = fd) < 0)
        return bx_errno(x, "raw: socket");
    raw_tcp_tune(x, fd, x->size + RAW_HDR);
    while (connect(fd, (struct sockaddr *)&to, sizeof to) < 0)
        if (errno != EINTR)
            return bx_errno(x, "raw: connect");
    do
        fd = accept4(x->lfd[!dsend], NULL, NULL, SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if ((x->fd[!dsend][1] = fd) < 0)
        return bx_errno(x, "raw: accept");
    raw_tcp_tune(x, fd, x->size + RAW_HDR);
    raw_close_fd(&x->lfd[!dsend]);
    return BX_OK;
}

static int raw_tcp_send(struct bx *x, int dir, const void *buf, size_t len)
{
    unsigned char hdr[RAW_HDR];
    raw_hdr(hdr, len);
    struct iovec iov[2] = {{hdr, RAW_HDR}, {(void *)buf, len}};
    return raw_put(x, x->fd[dir][0], iov, true);
}

static int raw_tcp_send_fd(struct bx *x, int dir)
{
    return x->fd[dir][0];
}

const struct bx_ops bx_raw_tcp = {
    .prepare = raw_tcp_prepare,
    .parent_close = raw_net_close,
    .create = raw_tcp_create,
    .connect = raw_tcp_connect,
    .send = raw_tcp_send,
    .recv = raw_stream_recv,
    .send_fd = raw_tcp_send_fd,
    .close = raw_net_close_role,
};

/* UDP: the orchestrator binds a receiving socket per direction; a sender
 * is an unconnected socket that sendto()s each datagram; recv() takes
 * one. No header: a datagram is a message. */
static int raw_udp_prepare(struct bx *x)
{
    raw_fds_reset(x);
    x->lfd[0] = x->lfd[1] = -1;
    for (int d = 0; d < 2; d++) {
        int st = raw_bound(x, SOCK_DGRAM, &x->fd[d][1], &x->port[d]);
        if (st != BX_OK)
            return st;
    }
    return BX_OK;
}

static int raw_udp_create(struct bx *x, int role)
{
    int dsend = role == BX_INITIATOR ? BX_DIR_A : BX_DIR_B;
    raw_close_fd(&x->fd[dsend][1]);
    return BX_OK;
}

static int raw_udp_connect(struct bx *x, int role)
{
    int dsend = role == BX_INITIATOR ? BX_DIR_A : BX_DIR_B;
    x->fd[dsend][0] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return x->fd[dsend][0] < 0 ? bx_errno(x, "raw: socket") : BX_OK;
}

static int raw_udp_send(struct bx *x, int dir, const void *buf, size_t len)
{
    struct sockaddr_in to = raw_loopback(x->port[dir]);
    while (sendto(x->fd[dir][0], buf, len, 0, (struct sockaddr *)&to,
                  sizeof to) < 0)
        if (errno != EINTR)
            return bx_errno(x, "raw: sendto");
    return BX_OK;
}

const struct bx_ops bx_raw_udp = {
    .prepare = raw_udp_prepare,
    .parent_close = raw_net_close,
    .create = raw_udp_create,
    .connect = raw_udp_connect,
    .send = raw_udp_send,
    .recv = raw_recv_one,
    .close = raw_net_close_role,
};
