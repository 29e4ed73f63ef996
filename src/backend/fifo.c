/* SPDX-License-Identifier: MIT */
/* fifo: a named pipe in the file system carrying framed messages. */
#include "ipc_int.h"
#include "os.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Design, and the choices the contract leaves to a backend:
 *
 * Frames. Messages are stream.c frames (16-byte header + payload), the same
 * as pipe:. A FIFO can have several writers, and the kernel keeps a write
 * whole only up to PIPE_BUF (4096 bytes): larger writes from two writers
 * may interleave. So:
 *   - an end whose frames fit PIPE_BUF (max_msg <= 4080, the default) has
 *     IPC_CAP_MULTI_SENDER: every frame is one atomic write, whoever else
 *     writes and whenever a writer dies;
 *   - an end with a larger max_msg lacks it and must be the only sender:
 *     each sender holds a flock() on the FIFO for its lifetime, shared by
 *     small-frame senders and exclusive for a large-frame one, so that a
 *     large-frame sender never shares the FIFO with any other libipc
 *     sender (open waits for the lock until its deadline, then
 *     IPC_EBUSY). The kernel drops the lock of a killed process. The lock
 *     belongs to the open file, so a forked child sharing the end shares
 *     it: parent and child then count as one sender, as ipc.h says.
 *   - frames larger than PIPE_BUF are written in one write(), once the
 *     pipe surely has the page slots for all of it, never in pieces
 *     (stream.c whole_frames), so that a sender killed or timed out never
 *     leaves half a frame in the FIFO for the next sender to continue: the
 *     receiver would take the two for one message (tests/backend shows it
 *     does, without whole_frames). The pipe is grown to hold at least a
 *     whole frame (F_SETPIPE_SZ, up to /proc/sys/fs/pipe-max-size, else
 *     the open of either end fails with IPC_ELIMIT naming it), and up to 32
 *     frames (fifo_size_pipe) so that waiting for slots costs little.
 *   - a writer that is not libipc (a shell's echo) can still break frames:
 *     the receiver answers IPC_EPROTO for what it cannot parse, and a
 *     partial frame it leaves before a libipc sender's frames is not
 *     detected.
 *
 * One receiver. Two readers of a FIFO would split frames between them, so
 * there is no IPC_CAP_MULTI_RECEIVER, and it is enforced: the receiver
 * holds an open-file-description read lock on byte 1 of the FIFO and looks
 * for anyone else's (Linux OFD locks; a second receiver gets IPC_EBUSY
 * after its deadline). The same lock tells a live channel from a stale one
 * for IPC_F_REPLACE. Elsewhere the check is skipped.
 *
 * Opening. The receiver opens O_RDONLY|O_NONBLOCK: it never blocks. A
 * sender opens O_WRONLY|O_NONBLOCK, which fails with ENXIO until some
 * reader has the FIFO open: it retries against its deadline, and answers
 * IPC_ETIMEDOUT (IPC_EAGAIN for timeout 0) if no receiver came. A missing
 * FIFO is IPC_ENOENT at once.
 *
 * Closed peers. The receiver holds no write end, so it hears IPC_ECLOSED
 * when no sender has the FIFO open and the pipe is drained (and a new
 * sender revives the channel). A receiver opened before any sender would
 * read EOF at once: it waits instead, until a sender has been seen (data
 * read, or the kernel's POLLHUP, which Linux raises only once a writer
 * has come and gone since this reader opened). A sender killed mid-frame
 * (only a non-libipc writer can be, see above) leaves a truncated frame:
 * the receiver discards it at EOF and answers IPC_ECLOSED. A sender whose
 * receiver left gets IPC_ECLOSED, never SIGPIPE (stream.c).
 */

/* Frames of max_msg + header fit PIPE_BUF: one atomic write each. */
#define FIFO_MAX_MSG_DEFAULT (PIPE_BUF - IPC_FRAME_HDR)
#define FIFO_MAX_MSG_MAX     (64u * 1024 * 1024)
#define FIFO_NAME_MAX        (PATH_MAX - 1)
/* Pipe buffer a large-frame sender asks for, at most (the default
 * /proc/sys/fs/pipe-max-size); one frame may need more. */
#define FIFO_PIPE_WANT (1024u * 1024)
/* The byte of the FIFO whose OFD read lock marks the receiver. */
#define FIFO_RECV_LOCK_BYTE 1

struct fifo_end {
    struct ipc_stream stream;
    char *path; /* heap copy of the address's path, for close */
    dev_t dev;  /* the FIFO this end created, to remove only it */
    ino_t ino;
    bool seen_writer; /* receiver: a sender was seen since open */
};

static struct fifo_end *fifo_priv(const ipc_channel *ch)
{
    return ipc__priv(ch);
}

static bool fifo_large(size_t max_msg)
{
    return max_msg + IPC_FRAME_HDR > PIPE_BUF;
}

/* ------------------------------------------------------------- locks */

#ifdef F_OFD_GETLK
/* Does another open file description hold the receiver lock? fd must be
 * open for reading. -1 if the OS cannot tell. */
static int fifo_recv_lock_held(int fd)
{
    struct flock fl = {.l_type = F_WRLCK,
                       .l_whence = SEEK_SET,
                       .l_start = FIFO_RECV_LOCK_BYTE,
                       .l_len = 1};
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return -1;
    return fl.l_type != F_UNLCK;
}

/* Take the receiver lock and make sure nobody else has it. Two receivers
 * opening at once both see each other and both step back (then retry):
 * never both win. */
static ipc_err fifo_recv_lock(int fd, const char *path)
{
    struct flock fl = {.l_type = F_RDLCK,
                       .l_whence = SEEK_SET,
                       .l_start = FIFO_RECV_LOCK_BYTE,
                       .l_len = 1};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
        return ipc__errno(errno, "fifo: %s: lock", path);
    int other = fifo_recv_lock_held(fd);
    if (other == 0)
        return IPC_OK;
    fl.l_type = F_UNLCK;
    fcntl(fd, F_OFD_SETLK, &fl);
    if (other < 0)
        return ipc__errno(errno, "fifo: %s: lock", path);
    return ipc__fail(IPC_EBUSY,
                     "fifo: %s: another receiver has it open "
                     "(one receiver per FIFO)",
                     path);
}
#else
static int fifo_recv_lock_held(int fd)
{
    (void)fd;
    return -1;
}

static ipc_err fifo_recv_lock(int fd, const char *path)
{
    (void)fd;
    (void)path;
    return IPC_OK; /* no OFD locks: one receiver is the caller's duty */
}
#endif

/* Senders share the FIFO when their frames are atomic; a large-frame
 * sender wants it alone. flock() locks belong to the open file and are
 * dropped by the kernel when a sender dies. */
static ipc_err fifo_send_lock(int fd, size_t max_msg, const char *path)
{
    bool alone = fifo_large(max_msg);
    if (flock(fd, (alone ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
        return IPC_OK;
    if (errno != EWOULDBLOCK && errno != EINTR)
        return ipc__errno(errno, "fifo: %s: flock", path);
    if (alone)
        return ipc__fail(IPC_EBUSY,
                         "fifo: %s: other senders have it open; a sender "
                         "with max_msg > %u must be the only one",
                         path, PIPE_BUF - IPC_FRAME_HDR);
    return ipc__fail(IPC_EBUSY,
                     "fifo: %s: a sender with max_msg > %u has it, and "
                     "such a sender must be the only one",
                     path, PIPE_BUF - IPC_FRAME_HDR);
}

/* Retry a lock that someone else holds until the deadline. */
static ipc_err fifo_lock(ipc_channel *ch, int fd, const char *path,
                         const struct ipc_deadline *dl)
{
    long nap_ns = 100000;
    for (;;) {
        ipc_err err = (ch->direction & IPC_F_RECV)
                          ? fifo_recv_lock(fd, path)
                          : fifo_send_lock(fd, ch->max_msg, path);
        if (err != IPC_EBUSY)
            return err;
        char detail[256];
        snprintf(detail, sizeof detail, "%s", ipc_last_detail());
        if (ipc__nap(dl, &nap_ns) != IPC_OK)
            return ipc__fail(IPC_EBUSY, "%s", detail);
    }
}

/* ------------------------------------------------------------- create */

/* Is a libipc receiver on this FIFO? Opening for reading never blocks and
 * never disturbs the channel (a writer would: its close could make the
 * receiver see "every sender gone"). */
/* A name exists where we wanted to create: refuse, or remove a stale FIFO
 * when asked to (never a live one, never a file of another kind). Called
 * with the directory locked (see fifo_open), so judging and removing are
 * one step to every other creator: the FIFO removed is the one judged. */
static ipc_err fifo_clear_existing(const char *path, unsigned flags,
                                   const struct stat *st)
{
    if (!S_ISFIFO(st->st_mode))
        return ipc__fail(IPC_EEXIST, "fifo: %s exists and is not a FIFO", path);
    if (flags & IPC_F_EXCL)
        return ipc__fail(IPC_EEXIST,
                         "fifo: %s exists (IPC_F_REPLACE "
                         "removes a stale one)",
                         path);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? IPC_OK /* gone meanwhile: look again */
                               : ipc__fail(IPC_EEXIST,
                                           "fifo: %s: cannot tell whether a "
                                           "live receiver has it (%s)",
                                           path, strerror(errno));
    struct stat now;
    ipc_err err = IPC_OK;
    if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev ||
        now.st_ino != st->st_ino)
        err = IPC_OK; /* another FIFO now: look again */
    else if (fifo_recv_lock_held(fd) != 0)
        err = ipc__fail(IPC_EEXIST, "fifo: %s: a live receiver has it", path);
    else if (unlink(path) < 0 && errno != ENOENT)
        err = ipc__errno(errno, "fifo: unlink stale %s", path);
    close(fd);
    return err;
}

/* Make the FIFO, or find the existing one plain IPC_F_CREATE may open.
 * Sets ch->owner when this end made it. */
static ipc_err fifo_create(ipc_channel *ch, const struct ipc_addr *addr,
                           unsigned flags)
{
    struct fifo_end *fe = fifo_priv(ch);
    const char *path = addr->path;
    mode_t mode = (mode_t)ipc__addr_get(addr, IPC_KEY_MODE, 0600);
    struct stat st;
    for (int tries = 0; tries < 8; tries++) {
        if (mkfifo(path, mode) == 0) {
            ch->owner = true;
            /* The umask may have narrowed the mode: set it exactly, on
             * the FIFO we made, never through a symlink swapped in. */
            ipc_err err = ipc__chmod_made("fifo", path, S_IFIFO, mode, &st);
            if (err == IPC_OK) {
                fe->dev = st.st_dev;
                fe->ino = st.st_ino;
            }
            return err;
        }
        if (errno == EINTR)
            continue;
        if (errno != EEXIST)
            return ipc__errno(errno, "fifo: mkfifo %s", path);
        if (lstat(path, &st) < 0) {
            if (errno == ENOENT)
                continue; /* gone meanwhile: try again */
            return ipc__errno(errno, "fifo: stat %s", path);
        }
        if (!(flags & (IPC_F_EXCL | IPC_F_REPLACE)) && S_ISFIFO(st.st_mode)) {
            /* Plain create opens an existing FIFO, if it is ours. */
            if (st.st_uid != geteuid())
                return ipc__fail(IPC_EACCES,
                                 "fifo: %s belongs to uid %u, not to us", path,
                                 (unsigned)st.st_uid);
            return IPC_OK;
        }
        ipc_err err = fifo_clear_existing(path, flags, &st);
        if (err != IPC_OK)
            return err;
    }
    return ipc__fail(IPC_EBUSY, "fifo: %s keeps changing under us", path);
}

/* ------------------------------------------------------------- open */

static ipc_err fifo_check_fd(ipc_channel *ch, int fd,
                             const struct ipc_addr *addr)
{
    const char *path = addr->path;
    struct fifo_end *fe = fifo_priv(ch);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return ipc__errno(errno, "fifo: fstat %s", path);
    if (!S_ISFIFO(st.st_mode))
        return ipc__fail(IPC_EPROTO, "fifo: %s is not a FIFO", path);
    if (ch->owner && (st.st_dev != fe->dev || st.st_ino != fe->ino))
        return ipc__fail(IPC_EEXIST, "fifo: %s was replaced while opening",
                         path);
    return ch->owner ? IPC_OK : ipc__check_owner("fifo", path, st.st_uid, addr);
}

/* Open the sending end: ENXIO means no reader has the FIFO yet. */
static ipc_err fifo_open_writer(const char *path, int oflags, int *fd,
                                const struct ipc_deadline *dl)
{
    long nap_ns = 50000;
    for (;;) {
        *fd = open(path, O_WRONLY | oflags);
        if (*fd >= 0)
            return IPC_OK;
        if (errno == EINTR)
            continue;
        if (errno != ENXIO)
            return ipc__errno(errno, "fifo: open %s", path);
        if (ipc__nap(dl, &nap_ns) != IPC_OK)
            return ipc__fail(ipc__deadline_err(dl),
                             "fifo: %s: no receiver has it open", path);
    }
}

/* Grow the pipe for frames of max_msg (either end may come first). A
 * large-frame sender needs one that holds a whole frame; it asks for room
 * for 32 (up to FIFO_PIPE_WANT): it waits for room by napping (the kernel
 * wakes a writer only once a full pipe drains, and stream.c counts slots
 * pessimistically), and a deep pipe makes those naps rare. Measured here:
 * 2 frames of room ran at 30% (64 KiB) and 50% (8 KiB) of pipe:'s rate,
 * 32 frames at par. Pages are taken only as data is queued. */
static ipc_err fifo_size_pipe(ipc_channel *ch, const char *path)
{
    struct ipc_stream *s = &fifo_priv(ch)->stream;
#ifdef F_SETPIPE_SZ
    size_t frame = ch->max_msg + IPC_FRAME_HDR;
    size_t want = 32 * frame < FIFO_PIPE_WANT ? 32 * frame : FIFO_PIPE_WANT;
    int have = fcntl(s->fd, F_GETPIPE_SZ);
    if (fifo_large(ch->max_msg) && have >= 0 && (size_t)have < want)
        fcntl(s->fd, F_SETPIPE_SZ, (int)want); /* else the fallback below */
#endif
    ipc__stream_size_pipe(s);
    size_t need = ch->max_msg + IPC_FRAME_HDR;
    /* Either end can tell, so both refuse: a receiver that opened could
     * never hear from a sender of its max_msg. */
    if (!fifo_large(ch->max_msg) || s->pipe_size >= need)
        return IPC_OK;
    return ipc__fail(IPC_ELIMIT,
                     "fifo: %s: max_msg %zu needs a pipe buffer of %zu "
                     "bytes; the OS gave %zu (/proc/sys/fs/pipe-max-size "
                     "%ld, /proc/sys/fs/pipe-user-pages-soft %ld pages)",
                     path, ch->max_msg, need, s->pipe_size,
                     ipc__proc_long("/proc/sys/fs/pipe-max-size"),
                     ipc__proc_long("/proc/sys/fs/pipe-user-pages-soft"));
}

/* ipc_limits: a frame must fit the largest pipe buffer this process can
 * have (root may pass /proc/sys/fs/pipe-max-size): ask a private pipe. */
static ipc_err fifo_os_limits(ipc_limits_info *info)
{
#ifdef F_SETPIPE_SZ
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return ipc__errno(errno, "fifo: pipe");
    size_t want = info->max_msg + IPC_FRAME_HDR;
    int got = fcntl(fds[1], F_SETPIPE_SZ, (int)want);
    long max = ipc__proc_long("/proc/sys/fs/pipe-max-size");
    if (got < 0 && max > 0)
        got = fcntl(fds[1], F_SETPIPE_SZ, (int)max);
    if (got < 0)
        got = fcntl(fds[1], F_GETPIPE_SZ);
    close(fds[0]);
    close(fds[1]);
    if (got > (int)IPC_FRAME_HDR && (size_t)got - IPC_FRAME_HDR < info->max_msg)
        info->max_msg = (size_t)got - IPC_FRAME_HDR;
#else
    info->max_msg = FIFO_MAX_MSG_DEFAULT; /* the pipe's size is unknown */
#endif
    return IPC_OK;
}

static ipc_err fifo_attach(ipc_channel *ch, const struct ipc_addr *addr,
                           unsigned flags, const struct ipc_deadline *dl);

static ipc_err fifo_open(ipc_channel *ch, const struct ipc_addr *addr,
                         unsigned flags, const struct ipc_deadline *dl)
{
    struct fifo_end *fe = fifo_priv(ch);
    const char *path = addr->path;
    fe->stream.fd = -1;
    if (!(fe->path = strdup(path)))
        return ipc__fail(IPC_ENOMEM, "fifo: out of memory");
    if (!(flags & IPC_F_CREATE))
        return fifo_attach(ch, addr, flags, dl);
    /* Creators lock the directory (issue 12, defect 4): a replacer judges
     * and removes a stale FIFO under it, and a receiver that made the FIFO
     * keeps it until it holds the receiver lock, which makes the FIFO live.
     * Otherwise two receivers replacing one stale FIFO both won (one of
     * them on a FIFO the other had removed), or one judged the other's new
     * FIFO stale before its receiver lock. */
    int dirfd = -1;
    ipc_err err = ipc__lock_dir("fifo", path, dl, &dirfd);
    if (err != IPC_OK)
        return err;
    err = fifo_create(ch, addr, flags);
    if (err != IPC_OK || !ch->owner || !(flags & IPC_F_RECV)) {
        close(dirfd);
        dirfd = -1;
    }
    if (err == IPC_OK)
        err = fifo_attach(ch, addr, flags, dl);
    if (dirfd >= 0)
        close(dirfd);
    return err;
}

/* Open the end on the FIFO at the name (made, or found, or to wait for). */
static ipc_err fifo_attach(ipc_channel *ch, const struct ipc_addr *addr,
                           unsigned flags, const struct ipc_deadline *dl)
{
    struct fifo_end *fe = fifo_priv(ch);
    const char *path = addr->path;
    ipc_err err;

    /* O_NOFOLLOW: a symlink planted at the name must not lead this end
     * into another channel (ELOOP, below). */
    int oflags =
        O_NONBLOCK | O_NOFOLLOW | ((flags & IPC_F_INHERIT) ? 0 : O_CLOEXEC);
    int fd = -1;
    struct stat st;
    if (!(flags & IPC_F_CREATE) && lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            return ipc__fail(IPC_EACCES,
                             "fifo: %s is a symbolic link: not followed", path);
        if (!S_ISFIFO(st.st_mode))
            return ipc__fail(IPC_EPROTO, "fifo: %s is not a FIFO", path);
    }
    if (flags & IPC_F_RECV) {
        while ((fd = open(path, O_RDONLY | oflags)) < 0 && errno == EINTR)
            ;
        if (fd < 0)
            return ipc__errno(errno, "fifo: open %s", path);
    } else if ((err = fifo_open_writer(path, oflags, &fd, dl)) != IPC_OK) {
        return err;
    }
    ipc__stream_init(&fe->stream, fd, ch->max_msg);
    if ((err = ipc__stream_nowait(&fe->stream, false)) != IPC_OK)
        return err;
    fe->stream.whole_frames = true;
    /* Another sender's max_msg may be larger: skip its long frames. */
    fe->stream.skip_max = FIFO_MAX_MSG_MAX;
    if ((err = fifo_check_fd(ch, fd, addr)) != IPC_OK ||
        (err = fifo_lock(ch, fd, path, dl)) != IPC_OK)
        return err;
    if ((err = fifo_size_pipe(ch, path)) != IPC_OK)
        return err;
    if (fifo_large(ch->max_msg))
        ch->caps &= ~(unsigned)IPC_CAP_MULTI_SENDER;
    ch->capacity = 0; /* bounded in bytes, not messages */
    ch->buffer_bytes = fe->stream.pipe_size;
    return IPC_OK;
}

static void fifo_close(ipc_channel *ch)
{
    struct fifo_end *fe = fifo_priv(ch);
    struct stat st;
    /* Remove the FIFO only if it is still the one this end made: a later
     * creator may have replaced it. */
    if (ch->owner && fe->path && lstat(fe->path, &st) == 0 &&
        st.st_dev == fe->dev && st.st_ino == fe->ino)
        unlink(fe->path);
    ipc__stream_close(&fe->stream);
    free(fe->path);
    fe->path = NULL;
}

static ipc_err fifo_unlink(const struct ipc_addr *addr)
{
    return ipc__unlink_kind("fifo", addr->path, S_IFIFO, "a FIFO");
}

/* ------------------------------------------------------------- messages */

static ipc_err fifo_send(ipc_channel *ch, const void *buf, size_t len,
                         unsigned prio, const struct ipc_deadline *dl)
{
    return ipc__stream_send(&fifo_priv(ch)->stream, buf, len, prio, dl);
}

/*
 * EOF on a FIFO means "no writer has it open now". Report IPC_ECLOSED only
 * once a writer has been seen since this end opened; before that, wait for
 * the first one within the deadline. Data read, or POLLHUP (raised by Linux
 * only after a writer came and went since we opened), proves a writer.
 */
static ipc_err fifo_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                         unsigned *prio, const struct ipc_deadline *dl)
{
    struct fifo_end *fe = fifo_priv(ch);
    for (;;) {
        ipc_err err = ipc__stream_recv(&fe->stream, buf, cap, len, prio, dl);
        if (err != IPC_ECLOSED || fe->seen_writer || fe->stream.got_data) {
            if (err == IPC_ECLOSED)
                fe->seen_writer = true;
            return err;
        }
        struct pollfd pfd = {.fd = fe->stream.fd, .events = POLLIN};
        while (poll(&pfd, 1, 0) < 0 && errno == EINTR)
            ;
        if (pfd.revents & POLLIN)
            continue; /* a writer came meanwhile */
        if (pfd.revents & POLLHUP) {
            fe->seen_writer = true;
            return ipc__fail(IPC_ECLOSED, "fifo: every sender is gone");
        }
        /* No sender yet: poll() wakes on its first data, or on its close
         * (POLLHUP) if it leaves without writing. */
        if ((err = ipc__wait_fd(fe->stream.fd, POLLIN, dl, NULL)) != IPC_OK)
            return err;
    }
}

static ipc_err fifo_pollfd(const ipc_channel *ch, int *fd)
{
    *fd = fifo_priv(ch)->stream.fd;
    return IPC_OK;
}

const struct ipc_backend ipc__backend_fifo = {
    .scheme = "fifo",
    .caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_POLLABLE |
            IPC_CAP_PEER_CLOSED,
    .keys = IPC_KEYBIT(IPC_KEY_MAX_MSG) | IPC_KEYBIT(IPC_KEY_MODE) |
            IPC_KEYBIT(IPC_KEY_OWNER),
    .priv_size = sizeof(struct fifo_end),
    .limits =
        {
            .max_msg_default = FIFO_MAX_MSG_DEFAULT,
            .max_msg_max = FIFO_MAX_MSG_MAX,
            .name_max = FIFO_NAME_MAX,
        },
    .path_required = true,
    .open = fifo_open,
    .close = fifo_close,
    .unlink = fifo_unlink,
    .send = fifo_send,
    .recv = fifo_recv,
    .pollfd = fifo_pollfd,
    .os_limits = fifo_os_limits,
};
