/* SPDX-License-Identifier: MIT */
/* unix: how large a record may be on this system (measured once per
 * process), and a socket's send buffer sized for max_msg. */
#include "unix.h"

/*
 * The largest frame (header and message) a socket of this process can
 * send: the send buffer's ceiling (net.core.wmem_max) less the kernel's
 * overhead, and the largest record the kernel allocates at all, which no
 * limit in /proc names: a record's linear part is one kmalloc (4 MiB at
 * most with 4 KiB pages), plus up to MAX_SKB_FRAGS pages, so about
 * 4.26 MB on x86-64, above which sendmsg fails with ENOBUFS whatever the
 * buffer. Measured once per process on a private pair, by halving, with
 * sends from a read-only mapping of zero pages (no memory is committed).
 * 0 if it cannot be measured.
 */
static bool unix_probe_send(const int fds[2], const void *zeros, size_t len)
{
    if (send(fds[0], zeros, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len)
        return false;
    recv(fds[1], NULL, 0, MSG_TRUNC | MSG_DONTWAIT); /* drop it */
    return true;
}

static size_t unix_frame_max(void)
{
    static atomic_size_t cached;
    size_t have = atomic_load(&cached);
    if (have)
        return have;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
        return 0;
    int ask = INT_MAX / 2, sndbuf = 0;
    socklen_t len = sizeof sndbuf;
    setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &ask, sizeof ask);
    getsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, &len);
    size_t lo = IPC_FRAME_HDR, hi = UNIX_MAX_MSG_MAX + IPC_FRAME_HDR + 1;
    void *zeros = mmap(NULL, hi, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* A send refused for its size may first make the kernel try hard to
     * find the memory (tens of ms): few tries, to within 1 KiB, from
     * UNIX_FRAME_SURE where it goes. */
    if (zeros != MAP_FAILED && unix_probe_send(fds, zeros, UNIX_FRAME_SURE))
        lo = UNIX_FRAME_SURE;
    while (zeros != MAP_FAILED && hi - lo > 1024) {
        size_t mid = lo + (hi - lo) / 2;
        *(unix_probe_send(fds, zeros, mid) ? &lo : &hi) = mid;
    }
    if (zeros != MAP_FAILED)
        munmap(zeros, UNIX_MAX_MSG_MAX + IPC_FRAME_HDR + 1);
    close(fds[0]);
    close(fds[1]);
    if (zeros == MAP_FAILED || sndbuf <= (int)UNIX_SKB_SLACK)
        return 0;
    /* ipc__unix_size_sndbuf's rule: a frame and the slack fit the buffer. */
    if ((size_t)sndbuf - UNIX_SKB_SLACK < lo)
        lo = (size_t)sndbuf - UNIX_SKB_SLACK;
    atomic_store(&cached, lo);
    return lo;
}

ipc_err ipc__unix_os_limits(const struct ipc_addr *addr, ipc_limits_info *info)
{
    (void)addr;
    size_t frame = unix_frame_max();
    if (frame > IPC_FRAME_HDR && frame - IPC_FRAME_HDR < info->max_msg)
        info->max_msg = frame - IPC_FRAME_HDR;
    return IPC_OK;
}

/* A max_msg above the largest record is refused at open by either end,
 * naming the limit (the send would fail with ENOBUFS every time). */
ipc_err ipc__unix_check_frame(size_t max_msg)
{
    size_t frame = max_msg + IPC_FRAME_HDR, most;
    if (frame > UNIX_FRAME_SURE && (most = unix_frame_max()) > 0 &&
        frame > most)
        return ipc__fail(IPC_ELIMIT,
                         "unix: max_msg %zu is more than this system sends in "
                         "one record: max_msg %zu at most (the kernel's "
                         "largest socket buffer allocation, and "
                         "/proc/sys/net/core/wmem_max %ld; ipc_limits tells)",
                         max_msg, most - IPC_FRAME_HDR,
                         ipc__proc_long("/proc/sys/net/core/wmem_max"));
    return IPC_OK;
}

ipc_err ipc__unix_size_sndbuf(int fd, size_t max_msg)
{
    ipc_err err = ipc__unix_check_frame(max_msg);
    if (err != IPC_OK)
        return err;
    size_t need = 2 * (max_msg + IPC_FRAME_HDR + UNIX_SKB_SLACK);
    int have = 0;
    socklen_t len = sizeof have;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len) < 0)
        return ipc__errno(errno, "unix: SO_SNDBUF");
    if ((size_t)have >= need)
        return IPC_OK;
    int ask = (int)(need / 2 + 1); /* the kernel doubles what it is given */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &ask, sizeof ask);
    len = sizeof have;
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len);
    /* One frame must fit: the kernel refuses a record larger than the
     * buffer less 32 bytes. */
    if ((size_t)have < max_msg + IPC_FRAME_HDR + UNIX_SKB_SLACK)
        return ipc__fail(IPC_ELIMIT,
                         "unix: max_msg %zu needs a socket buffer the OS "
                         "refuses (/proc/sys/net/core/wmem_max allows %d "
                         "bytes in all)",
                         max_msg, have);
    return IPC_OK;
}
