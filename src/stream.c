/* SPDX-License-Identifier: MIT */
/* Framed messages over pipes and FIFOs: all-or-nothing sends, no SIGPIPE,
 * receives that survive timeouts and short buffers without losing bytes. */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#ifdef __linux__
#include <linux/sock_diag.h> /* SK_MEMINFO_* for SO_MEMINFO */
#endif
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

void ipc__stream_init(struct ipc_stream *s, int fd, size_t max_msg)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->max_msg = max_msg;
    s->pipe_size = PIPE_BUF;
    long page = sysconf(_SC_PAGESIZE);
    s->page_size = page > 0 ? (size_t)page : 4096;
    struct sigaction sa;
    s->sigpipe_guard =
        sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler == SIG_DFL;
}

void ipc__stream_init_socket(struct ipc_stream *s, int fd, size_t max_msg,
                             size_t sndbuf)
{
    ipc__stream_init(s, fd, max_msg);
    s->sock = true;
    s->sigpipe_guard = false; /* MSG_NOSIGNAL instead */
    s->pipe_size = sndbuf;
}

static size_t stream_pages(size_t bytes, size_t page)
{
    return (bytes + page - 1) / page;
}

void ipc__stream_read_ahead(struct ipc_stream *s, unsigned char *buf,
                            size_t cap)
{
    s->ahead = buf;
    s->ahead_cap = cap;
    s->ahead_off = s->ahead_len = 0;
    s->ahead_dry = false;
}

void ipc__stream_size_pipe(struct ipc_stream *s)
{
#ifdef F_SETPIPE_SZ /* Linux-only: elsewhere the default buffer stays */
    /* Room for a second frame while one is queued lets the writer fill
     * one while the reader drains the other. A send that may time out
     * counts the slots of what is queued at their worst (two per page,
     * stream_fits_whole), so that takes 3 * pages(frame) + 2 slots, not
     * two frames' bytes: with 16 KiB frames in a 64 KiB pipe only one was
     * ever in flight (a tenth of the raw loop's rate). Failing that, as
     * much as we may have, halving the ask (pipe-max-size and the
     * per-user page budget bound it). */
    size_t page = s->page_size;
    size_t slots = 3 * stream_pages(s->max_msg + IPC_FRAME_HDR, page) + 2;
    int size = fcntl(s->fd, F_GETPIPE_SZ);
    size_t want = slots > INT_MAX / page ? (size_t)INT_MAX : slots * page;
    for (; size > 0 && want > (size_t)size; want /= 2) {
        int grown = fcntl(s->fd, F_SETPIPE_SZ, (int)want);
        if (grown > 0) {
            size = grown;
            break;
        }
    }
    if (size > 0)
        s->pipe_size = (size_t)size;
#endif
}

void ipc__stream_close(struct ipc_stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->stage);
    s->stage = NULL;
    free(s->tail);
    s->tail = NULL;
    s->ahead = NULL; /* the caller's */
    s->ahead_len = 0;
    s->parked = 0;
}

/* ----------------------------------------------------- blocking or not */

ipc_err ipc__stream_nowait(struct ipc_stream *s, bool adopted)
{
    int fl = fcntl(s->fd, F_GETFL);
    if (fl < 0)
        return ipc__errno(errno, "stream: fcntl F_GETFL");
#if IPC_HAVE_RWF_NOWAIT
    /* An adopted descriptor is shared with the process that handed it
     * over, whose library may count on O_NONBLOCK: leave it as found. */
    if (!(fl & O_NONBLOCK) ||
        (!adopted && fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK) == 0))
        s->nowait_io = true;
    return IPC_OK;
#else
    (void)adopted;
    if (!(fl & O_NONBLOCK) && fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return ipc__errno(errno, "stream: fcntl O_NONBLOCK");
    return IPC_OK;
#endif
}

#if IPC_HAVE_RWF_NOWAIT
/* A kernel without RWF_NOWAIT on pipes (or without preadv2) refuses it:
 * back to O_NONBLOCK and poll() for this end, for good. */
static bool stream_nowait_refused(struct ipc_stream *s, int err)
{
    if (err != EOPNOTSUPP && err != ENOSYS)
        return false;
    int fl = fcntl(s->fd, F_GETFL);
    if (fl < 0 || fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return false;
    s->nowait_io = false;
    errno = err;
    return true;
}
#endif

/* One write that never waits. */
static ssize_t stream_write_once(struct ipc_stream *s, struct iovec *iov,
                                 int iovcnt)
{
#if IPC_HAVE_RWF_NOWAIT
    if (s->nowait_io) {
        ssize_t n = pwritev2(s->fd, iov, iovcnt, -1, RWF_NOWAIT);
        if (n >= 0 || !stream_nowait_refused(s, errno))
            return n;
    }
#endif
    return writev(s->fd, iov, iovcnt);
}

/* One read, which sleeps in the kernel until bytes come only when the
 * caller may wait forever and the descriptor is blocking. */
static ssize_t stream_read_once(struct ipc_stream *s, void *dst, size_t want,
                                bool forever)
{
#if IPC_HAVE_RWF_NOWAIT
    if (s->nowait_io && !forever) {
        struct iovec v = {dst, want};
        ssize_t n = preadv2(s->fd, &v, 1, -1, RWF_NOWAIT);
        if (n >= 0 || !stream_nowait_refused(s, errno))
            return n;
    }
#else
    (void)forever;
#endif
    return read(s->fd, dst, want);
}

/* --------------------------------------------------------------- sending */

/*
 * SIGPIPE: a write to a pipe without readers raises it, and pipes have no
 * MSG_NOSIGNAL. Block it in this thread for the write only; if the write
 * failed with EPIPE, take the signal it left pending (it is thread-directed)
 * before unblocking. A thread that already blocks SIGPIPE is left alone.
 * The two mask calls cost a quarter of a 64-byte send, so they are skipped
 * when SIGPIPE was already ignored or handled when the end was made
 * (ipc__stream_init), as in most servers; see ipc.h.
 */
struct stream_sigpipe {
    sigset_t old;
    bool was_blocked;
};

static void stream_sigpipe_block(struct stream_sigpipe *sp)
{
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &sp->old);
    sp->was_blocked = sigismember(&sp->old, SIGPIPE) == 1;
}

static void stream_sigpipe_restore(struct stream_sigpipe *sp, bool got_epipe)
{
    if (sp->was_blocked)
        return;
    if (got_epipe) {
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &sp->old, NULL);
}

static ssize_t stream_writev(struct ipc_stream *s, struct iovec *iov,
                             int iovcnt)
{
    ssize_t n;
    if (s->sock) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
        do
            n = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n;
    }
    if (!s->sigpipe_guard) {
        do
            n = stream_write_once(s, iov, iovcnt);
        while (n < 0 && errno == EINTR);
        return n;
    }
    struct stream_sigpipe sp;
    stream_sigpipe_block(&sp);
    do
        n = stream_write_once(s, iov, iovcnt);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    stream_sigpipe_restore(&sp, n < 0 && saved == EPIPE);
    errno = saved;
    return n;
}

/*
 * Will one non-blocking write() of total bytes go in whole? Linux keeps a
 * pipe as a ring of page-sized slots, and a slot may be partly filled: a
 * write first tops up the last slot if its tail (total mod page) fits
 * there, then fills fresh slots from the start of what is left. So a write
 * that did not top up slot i opened slot i + 1 with more bytes than slot i
 * had free: two neighbouring slots hold more than a page, except next to
 * the slot being read. Q queued bytes thus occupy at most
 * 2 * ceil(Q / page) + 2 slots, and the write needs ceil(total / page)
 * free ones. This holds whatever wrote with write(); splice can break it,
 * and then a frame may be written in pieces after all.
 */
/*
 * A socket takes a write while the memory it has queued (payload and the
 * kernel's buffer heads, SO_MEMINFO) is under its send buffer, so a frame
 * goes in whole when the room left exceeds it and its overhead: about 1 KB
 * a buffer, and a buffer per write with TCP_NODELAY; a quarter of the
 * frame and 4 KiB more is the margin. An empty queue takes any frame.
 */
static bool stream_sock_fits(struct ipc_stream *s, size_t total)
{
#if defined(SO_MEMINFO) && defined(__linux__)
    size_t need = total + total / 4 + 4096;
    /* Room only grows by itself (acks free it): what a look found, less
     * what was written since, is a safe floor, and most sends need no
     * look (a getsockopt is a fifth of a 64-byte send). */
    if (s->room_est >= need) {
        s->room_est -= need;
        return true;
    }
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t len = sizeof mem;
    if (getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0)
        return true;
    size_t queued = mem[SK_MEMINFO_WMEM_QUEUED], buf = mem[SK_MEMINFO_SNDBUF];
    size_t room = queued < buf ? buf - queued : 0;
    s->room_est = room >= need ? room - need : 0;
    return queued == 0 || room >= need;
#else
    (void)s;
    (void)total;
    return true;
#endif
}

static bool stream_fits_whole(struct ipc_stream *s, size_t total)
{
    int queued;
    if (s->sock)
        return stream_sock_fits(s, total);
    if (ioctl(s->fd, FIONREAD, &queued) < 0 || queued < 0)
        return true; /* cannot tell: write, in pieces if need be */
    size_t page = s->page_size;
    size_t slots = s->pipe_size / page;
    size_t used = queued == 0 ? 0 : 2 * stream_pages((size_t)queued, page) + 2;
    return used + stream_pages(total, page) <= slots;
}

/*
 * Wait until a frame of total bytes can be written in one piece. poll()
 * reports a pipe writable once a page is free, not once our frame fits, so
 * when it says writable but the frame does not fit yet, nap and look again,
 * starting at 20 us (a reader drains 64 KiB in about 10 us) and backing off
 * to 1 ms, so that a stalled reader costs at most a thousand wake-ups a
 * second until the deadline.
 */
static ipc_err stream_wait_room(struct ipc_stream *s, size_t total,
                                const struct ipc_deadline *dl)
{
    long nap_ns = 20000;
    for (;;) {
        if (stream_fits_whole(s, total))
            return IPC_OK;
        if (dl->nonblock)
            return ipc__deadline_err(dl);
        short revents = 0;
        /* A socket says writable only once half of what it queued has
         * gone (the kernel's write-space rule), long after a frame fits:
         * look again after each slice, as a timeout-0 send would. */
        ipc_err err =
            s->sock ? ipc__wait_fd_slice(s->fd, POLLOUT, dl, &nap_ns, &revents)
                    : ipc__wait_fd(s->fd, POLLOUT, dl, &revents);
        if (err != IPC_OK)
            return err;
        if (revents & (POLLERR | POLLHUP))
            return IPC_OK; /* let the write report the closed reader */
        if (s->sock)
            continue;
        if (stream_fits_whole(s, total))
            return IPC_OK;
        if ((err = ipc__nap(dl, &nap_ns)) != IPC_OK)
            return err;
    }
}

/* A socket's connection lost: reset, or given up on by keepalive or
 * TCP_USER_TIMEOUT (ETIMEDOUT, which must not read as our deadline), or
 * no route any more. Pipes never report these. */
static bool stream_conn_lost(int err)
{
    return err == ECONNRESET || err == ETIMEDOUT || err == EHOSTUNREACH ||
           err == ENETUNREACH || err == ENETDOWN || err == EHOSTDOWN;
}

static ipc_err stream_write_error(int err)
{
    if (stream_conn_lost(err))
        return ipc__fail(IPC_ECLOSED, "stream: the connection is lost (%s)",
                         strerror(err));
    if (err == EPIPE)
        return ipc__fail(IPC_ECLOSED, "stream: the reader is gone");
    return ipc__errno(err, "stream: write");
}

/*
 * Sockets (tcp:). A send first waits until the frame fits
 * the send buffer whole (stream_sock_fits), so it either goes in at once
 * or is refused whole at the deadline. That estimate can fall short; a
 * frame the socket then took only in part, and whose rest did not go by
 * the deadline, is finished later: its rest is kept here and sent, within
 * their deadlines, before anything else, and the send that began it has
 * succeeded. A receiver never sees half a message from a live sender; the
 * rest waits for the sender's next send, and a sender that closes with a
 * rest unsent (ipc_close does not wait) leaves a partial frame that the
 * receiver discards at EOF.
 */
static ipc_err stream_stash(struct ipc_stream *s, const struct iovec iov[2])
{
    size_t rest = iov[0].iov_len + iov[1].iov_len;
    s->tail = malloc(rest);
    if (!s->tail) {
        s->broken = IPC_ECLOSED;
        return ipc__fail(IPC_ENOMEM, "stream: cannot keep the rest of a "
                                     "message; the channel is broken");
    }
    memcpy(s->tail, iov[0].iov_base, iov[0].iov_len);
    memcpy(s->tail + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
    s->tail_len = rest;
    s->tail_off = 0;
    return IPC_OK;
}

static ipc_err stream_flush_tail(struct ipc_stream *s,
                                 const struct ipc_deadline *dl)
{
    for (;;) {
        ssize_t n = send(s->fd, s->tail + s->tail_off,
                         s->tail_len - s->tail_off, MSG_NOSIGNAL);
        if (n > 0) {
            s->tail_off += (size_t)n;
            if (s->tail_off < s->tail_len)
                continue;
            free(s->tail);
            s->tail = NULL;
            return IPC_OK;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN) {
            s->broken = IPC_ECLOSED;
            return stream_write_error(errno);
        }
        ipc_err err = ipc__wait_fd(s->fd, POLLOUT, dl, NULL);
        if (err != IPC_OK)
            return err;
    }
}

ipc_err ipc__stream_send(struct ipc_stream *s, const void *buf, size_t len,
                         unsigned prio, const struct ipc_deadline *dl)
{
    if (s->broken)
        return ipc__fail(IPC_ECLOSED,
                         "stream: broken by an earlier send cut short");
    if (s->tail) {
        ipc_err err = stream_flush_tail(s, dl);
        if (err != IPC_OK)
            return err;
    }
    unsigned char hdr[IPC_FRAME_HDR];
    ipc__frame_encode(hdr, len, prio);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)buf, len}};
    size_t total = sizeof hdr + len;

    /* Up to PIPE_BUF the kernel writes atomically. Above it, a send that
     * may time out writes only once the whole frame fits, so that a
     * timeout never cuts one; a send without a deadline just writes, in
     * pieces as the reader makes room. With whole_frames every larger
     * frame, with or without a deadline, waits until the pipe has the
     * slots for all of it (stream_fits_whole): the loop below then never
     * runs a second time. */
    bool forever = dl->at_ns == INT64_MAX;
    bool wait_room =
        s->sock ? true
                : total > PIPE_BUF &&
                      (s->whole_frames || (total <= s->pipe_size && !forever));
    if (wait_room) {
        ipc_err err = stream_wait_room(s, total, dl);
        if (err != IPC_OK)
            return err;
    }
    size_t done = 0;
    for (;;) {
        ssize_t n = stream_writev(s, iov, 2);
        if (n > 0) {
            done += (size_t)n;
            if (done == total)
                return IPC_OK;
            /* Advance the iovecs past what went out. */
            size_t skip = (size_t)n;
            for (int i = 0; i < 2; i++) {
                size_t step = skip < iov[i].iov_len ? skip : iov[i].iov_len;
                iov[i].iov_base = (char *)iov[i].iov_base + step;
                iov[i].iov_len -= step;
                skip -= step;
            }
            continue;
        }
        if (n < 0 && errno != EAGAIN)
            break;
        ipc_err err = ipc__wait_fd(s->fd, POLLOUT, dl, NULL);
        if (err != IPC_OK) {
            if (done == 0)
                return err;
            if (s->sock) /* rare: the margin above fell short */
                return stream_stash(s, iov);
            /* A frame begun and not finished must never be read as data:
             * the channel is done for. The reader sees a truncated frame at
             * EOF once this end closes and discards it. */
            s->broken = IPC_ECLOSED;
            return ipc__fail(err, "stream: timed out mid-frame; the channel "
                                  "is broken and must be closed");
        }
    }
    int saved = errno;
    if (done > 0)
        s->broken = IPC_ECLOSED;
    return stream_write_error(saved);
}

/* ------------------------------------------------------------- receiving */

/* Bytes the read-ahead holds, up to want, into dst. */
static size_t stream_ahead_take(struct ipc_stream *s, void *dst, size_t want)
{
    size_t n = s->ahead_len < want ? s->ahead_len : want;
    memcpy(dst, s->ahead + s->ahead_off, n);
    s->ahead_off += n;
    s->ahead_len -= n;
    return n;
}

/*
 * One read of want bytes into dst and of what follows into the read-ahead
 * (empty when called). A read that came back short found the socket empty
 * (TCP copies until its queue and backlog are dry). If it still gave all
 * that was asked for, the frame is likely whole and the sender between
 * messages, so the next read would fail with EAGAIN: it is skipped, and
 * the caller waits at once, as it would after that read; the wait (poll,
 * epoll) sees bytes that came since. If it fell short of want, the rest of
 * a large frame is on its way, and the next read is tried: it often finds
 * more, where a wait first would be one more call.
 */
static ssize_t stream_read_ahead_once(struct ipc_stream *s, void *dst,
                                      size_t want)
{
    if (s->ahead_dry) {
        s->ahead_dry = false;
        errno = EAGAIN;
        return -1;
    }
    struct iovec v[2] = {{dst, want}, {s->ahead, s->ahead_cap}};
    ssize_t n = readv(s->fd, v, 2);
    if (n <= 0)
        return n;
    s->ahead_dry = (size_t)n >= want && (size_t)n < want + s->ahead_cap;
    if ((size_t)n <= want)
        return n;
    s->ahead_off = 0;
    s->ahead_len = (size_t)n - want;
    return (ssize_t)want;
}

/* Read up to want bytes; IPC_OK with *got > 0, IPC_ECLOSED at EOF, or the
 * deadline's code once nothing arrives in time. */
static ipc_err stream_read_some(struct ipc_stream *s, void *dst, size_t want,
                                size_t *got, const struct ipc_deadline *dl)
{
    if (s->ahead_len > 0) {
        *got = stream_ahead_take(s, dst, want);
        return IPC_OK;
    }
    bool forever = dl->at_ns == INT64_MAX;
    for (;;) {
        ssize_t n = s->ahead ? stream_read_ahead_once(s, dst, want)
                             : stream_read_once(s, dst, want, forever);
        if (n > 0) {
            *got = (size_t)n;
            s->got_data = true;
            return IPC_OK;
        }
        if (n == 0)
            return IPC_ECLOSED;
        if (errno == EINTR)
            continue;
        if (stream_conn_lost(errno))
            return IPC_ECLOSED; /* the callers' EOF, with its detail */
        if (errno != EAGAIN)
            return ipc__errno(errno, "stream: read");
        /* A poll(0) now would only repeat the read's answer; the owner
         * of a read-ahead stream (tcp:) waits on its own set. */
        if (dl->nonblock && s->ahead)
            return IPC_EAGAIN; /* internal: no detail, which costs a
                                * vsnprintf; the owner's wait sets one */
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        ipc_err err = ipc__wait_fds_spin(&pfd, 1, dl, &s->spin);
        if (err != IPC_OK)
            return err;
    }
}

static void stream_frame_done(struct ipc_stream *s)
{
    s->hdr_have = 0;
    s->have_frame = false;
    free(s->stage);
    s->stage = NULL;
    s->stage_have = 0;
    s->parked = 0;
}

static ipc_err stream_eof(struct ipc_stream *s, bool mid_frame)
{
    stream_frame_done(s);
    if (mid_frame)
        return ipc__fail(IPC_ECLOSED, "stream: the writer left mid-frame; "
                                      "the partial message was discarded");
    return ipc__fail(IPC_ECLOSED, "stream: every writer is gone");
}

/* Discard the rest of a frame too long for us (skip_left bytes), in
 * pieces, without allocating; what a timeout leaves is discarded by the
 * next receive. */
static ipc_err stream_skip(struct ipc_stream *s, const struct ipc_deadline *dl)
{
    unsigned char sink[4096];
    while (s->skip_left > 0) {
        size_t want = s->skip_left < sizeof sink ? s->skip_left : sizeof sink;
        size_t got = 0;
        ipc_err err = stream_read_some(s, sink, want, &got, dl);
        if (err == IPC_ECLOSED) {
            s->skip_left = 0;
            return stream_eof(s, true);
        }
        if (err != IPC_OK)
            return err;
        s->skip_left -= got;
    }
    return IPC_OK;
}

static ipc_err stream_read_header(struct ipc_stream *s,
                                  const struct ipc_deadline *dl)
{
    while (s->hdr_have < IPC_FRAME_HDR) {
        size_t got = 0; /* gcc -O3 cannot see that IPC_OK sets it */
        ipc_err err = stream_read_some(s, s->hdr + s->hdr_have,
                                       IPC_FRAME_HDR - s->hdr_have, &got, dl);
        if (err == IPC_ECLOSED)
            return stream_eof(s, s->hdr_have > 0);
        if (err != IPC_OK)
            return err;
        s->hdr_have += got;
    }
    ipc_err err = ipc__frame_decode(s->hdr, s->max_msg, &s->cur);
    struct ipc_frame big;
    if (err != IPC_OK && s->skip_max > s->max_msg &&
        ipc__frame_decode(s->hdr, s->skip_max, &big) == IPC_OK) {
        /* A frame, only too long for us: skip it whole, report it once
         * (this call), and the next frame is read as usual. */
        s->hdr_have = 0;
        s->skip_left = big.len;
        ipc_err serr = stream_skip(s, dl);
        if (serr != IPC_OK && serr != IPC_ETIMEDOUT && serr != IPC_EAGAIN)
            return serr;
        return ipc__fail(IPC_EPROTO,
                         "stream: a message of %zu bytes, longer than "
                         "max_msg %zu (a sender opened with a larger "
                         "max_msg?); skipped",
                         big.len, s->max_msg);
    }
    if (err != IPC_OK) {
        /* After garbage there is no way to find the next frame. */
        s->broken = IPC_EPROTO;
        return err;
    }
    s->have_frame = true;
    return IPC_OK;
}

/* Keep payload bytes read so far across a timeout (rare path; the size was
 * checked against max_msg when the header was decoded). */
static ipc_err stream_stage(struct ipc_stream *s, const void *part, size_t n)
{
    if (!s->stage) {
        s->stage = malloc(s->cur.len ? s->cur.len : 1);
        if (!s->stage) {
            s->broken = IPC_ENOMEM;
            return ipc__fail(IPC_ENOMEM, "stream: cannot keep a partial "
                                         "message; the channel is broken");
        }
        memcpy(s->stage, part, n);
        s->stage_have = n;
    }
    return IPC_OK;
}

ipc_err ipc__stream_unpark(struct ipc_stream *s, const void *buf)
{
    size_t n = s->parked;
    s->parked = 0;
    return n > 0 ? stream_stage(s, buf, n) : IPC_OK;
}

static ipc_err stream_read_payload(struct ipc_stream *s, unsigned char *buf,
                                   const struct ipc_deadline *dl)
{
    size_t len = s->cur.len;
    /* Resume into the stage if a timeout cut an earlier attempt, or in
     * the buffer where a retry of the same call parked bytes. */
    unsigned char *dst = s->stage ? s->stage : buf;
    size_t have = s->stage ? s->stage_have : s->parked;
    s->parked = 0;
    while (have < len) {
        size_t got = 0; /* as above */
        ipc_err err = stream_read_some(s, dst + have, len - have, &got, dl);
        if (err == IPC_ECLOSED)
            return stream_eof(s, true);
        if (err != IPC_OK) {
            if (s->stage)
                s->stage_have = have;
            else if (err == IPC_EAGAIN && s->park)
                s->parked = have; /* no copy: the retry brings buf back */
            else if (have > 0) {
                ipc_err serr = stream_stage(s, buf, have);
                if (serr != IPC_OK)
                    return serr;
            }
            return err;
        }
        have += got;
    }
    if (s->stage)
        memcpy(buf, s->stage, len);
    return IPC_OK;
}

ipc_err ipc__stream_recv(struct ipc_stream *s, void *buf, size_t cap,
                         size_t *len, unsigned *prio,
                         const struct ipc_deadline *dl)
{
    if (s->broken)
        return ipc__fail(s->broken, "stream: broken by an earlier error");
    ipc_err err;
    if (s->skip_left > 0 && (err = stream_skip(s, dl)) != IPC_OK)
        return err;
    if (!s->have_frame && (err = stream_read_header(s, dl)) != IPC_OK)
        return err;
    if (s->cur.len > cap) {
        *len = s->cur.len;
        return ipc__fail(IPC_EMSGSIZE,
                         "stream: message of %zu bytes, buffer "
                         "of %zu; it stays queued",
                         s->cur.len, cap);
    }
    if ((err = stream_read_payload(s, buf, dl)) != IPC_OK)
        return err;
    *len = s->cur.len;
    *prio = s->cur.prio;
    stream_frame_done(s);
    return IPC_OK;
}
