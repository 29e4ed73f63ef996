/* SPDX-License-Identifier: MIT */
/* Process exit as a descriptor (pidfd) and notifications carried by queued
 * real-time signals (pidfd_send_signal, signalfd). Linux only. */
#include <ipc/proc.h>

#include "ipc_int.h"
#include "os.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/signalfd.h>
#include <sys/syscall.h>
#endif

/*
 * Why descriptors and queued signals:
 * - A pidfd names one process for as long as it is open, so a watch and a
 *   notification can never land on a process that reused the pid (kill()
 *   and sigqueue() by pid can). It is readable once the process exits, which
 *   is what an event loop needs, and costs nothing while it waits.
 * - Real-time signals are queued (one per send, with an int of payload),
 *   where standard ones merge; the kernel tells the receiver the sender's
 *   pid and real uid, so a notice cannot lie about its origin. signalfd
 *   makes them a descriptor for poll(), and keeps handlers (with their
 *   async-signal-safety rules) out of the picture.
 * The system calls are made through syscall(): glibc wraps pidfd_open only
 * from 2.36 and musl not at all.
 */

#if defined(__linux__) && defined(SYS_pidfd_open) &&                           \
    defined(SYS_pidfd_send_signal)
#define PROC_HAVE_PIDFD 1
#else
#define PROC_HAVE_PIDFD 0
#endif

ipc_err ipc_proc_start_time(pid_t pid, unsigned long long *start_time)
{
    if (pid <= 0 || !start_time)
        return ipc__fail(IPC_EINVAL, "proc: pid %ld", (long)pid);
    uint64_t start = 0;
    switch (ipc__proc_stat((uint32_t)pid, &start)) {
    case IPC__PROC_ALIVE:
        *start_time = start;
        return IPC_OK;
    case IPC__PROC_GONE:
        return ipc__fail(IPC_ENOENT, "proc: no process %ld (or it has "
                                     "exited)",
                         (long)pid);
    default:
        return ipc__fail(IPC_EACCES, "proc: /proc/%ld/stat cannot be read",
                         (long)pid);
    }
}

#if PROC_HAVE_PIDFD

ipc_err ipc_proc_watch(pid_t pid, unsigned long long start_time, int *fd)
{
    if (pid <= 0 || !fd)
        return ipc__fail(IPC_EINVAL, "proc: pid %ld", (long)pid);
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0) {
        if (errno == ESRCH)
            return ipc__fail(IPC_ENOENT, "proc: no process %ld", (long)pid);
        if (errno == ENOSYS)
            return ipc__fail(IPC_ENOTSUP, "proc: pidfd_open: this kernel "
                                          "has none (Linux 5.3+)");
        return ipc__errno(errno, "proc: pidfd_open %ld", (long)pid);
    }
    /* pidfd_open descriptors are close-on-exec already. The pid may have
     * been reused before the open: compare start times after it. A pid
     * that is gone (or a zombie) means the process asked for has exited,
     * whichever holds the pid now, and a descriptor of an exited process
     * says just that. */
    uint64_t now = 0;
    enum ipc__proc_state st = ipc__proc_stat((uint32_t)pid, &now);
    if (start_time != 0 && st == IPC__PROC_ALIVE && now != start_time) {
        close(pfd);
        return ipc__fail(IPC_ENOENT,
                         "proc: pid %ld is another process now (started "
                         "at tick %llu, not %llu)",
                         (long)pid, (unsigned long long)now, start_time);
    }
    if (start_time != 0 && st == IPC__PROC_UNKNOWN) {
        close(pfd);
        return ipc__fail(IPC_EACCES, "proc: /proc/%ld/stat cannot be read "
                                     "to check the start time",
                         (long)pid);
    }
    *fd = pfd;
    return IPC_OK;
}

ipc_err ipc_notice_send(int fd, int signo, int value)
{
    if (signo < SIGRTMIN || signo > SIGRTMAX)
        return ipc__fail(IPC_EINVAL,
                         "proc: signal %d is not a real-time signal "
                         "(%d to %d): standard ones merge",
                         signo, SIGRTMIN, SIGRTMAX);
    /* A zombie still takes signals (and drops them): ask the descriptor
     * first, so that an exited process is IPC_ECLOSED, reaped or not. */
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN))
        return ipc__fail(IPC_ECLOSED, "proc: the process has exited");
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = signo;
    info.si_code = SI_QUEUE; /* what sigqueue() sends; the kernel checks */
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_int = value;
    if (syscall(SYS_pidfd_send_signal, fd, signo, &info, 0) == 0)
        return IPC_OK;
    switch (errno) {
    case ESRCH:
        return ipc__fail(IPC_ECLOSED, "proc: the process has exited");
    case EAGAIN:
        return ipc__fail(IPC_ELIMIT, "proc: the process's signal queue is "
                                     "full (RLIMIT_SIGPENDING)");
    case EBADF:
        return ipc__fail(IPC_EINVAL, "proc: %d is not a process descriptor",
                         fd);
    case ENOSYS:
        return ipc__fail(IPC_ENOTSUP, "proc: pidfd_send_signal: this kernel "
                                      "has none (Linux 5.1+)");
    default:
        return ipc__errno(errno, "proc: pidfd_send_signal");
    }
}

#else /* !PROC_HAVE_PIDFD */

ipc_err ipc_proc_watch(pid_t pid, unsigned long long start_time, int *fd)
{
    (void)pid;
    (void)start_time;
    (void)fd;
    return ipc__fail(IPC_ENOTSUP, "proc: built without pidfd (Linux)");
}

ipc_err ipc_notice_send(int fd, int signo, int value)
{
    (void)fd;
    (void)signo;
    (void)value;
    return ipc__fail(IPC_ENOTSUP, "proc: built without pidfd (Linux)");
}

#endif /* PROC_HAVE_PIDFD */

ipc_err ipc_proc_exited(int fd, int timeout_ms)
{
    if (fd < 0)
        return ipc__fail(IPC_EINVAL, "proc: descriptor %d", fd);
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    short revents = 0;
    ipc_err err = ipc__wait_fd(fd, POLLIN, &dl, &revents);
    if (err == IPC_OK && (revents & POLLNVAL))
        return ipc__fail(IPC_EINVAL, "proc: %d is not an open descriptor",
                         fd);
    return err;
}

#ifdef __linux__

ipc_err ipc_notice_open(int signo, int *fd)
{
    if (!fd || signo < SIGRTMIN || signo > SIGRTMAX)
        return ipc__fail(IPC_EINVAL,
                         "proc: signal %d is not a real-time signal "
                         "(%d to %d)",
                         signo, SIGRTMIN, SIGRTMAX);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0)
        return ipc__errno(rc, "proc: pthread_sigmask");
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        return ipc__errno(errno, "proc: signalfd");
    *fd = sfd;
    return IPC_OK;
}

ipc_err ipc_notice_recv(int fd, ipc_notice *notice, int timeout_ms)
{
    if (!notice)
        return ipc__fail(IPC_EINVAL, "proc: no notice to fill");
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(fd, &si, sizeof si);
        if (n == (ssize_t)sizeof si) {
            notice->signo = (int)si.ssi_signo;
            notice->value = si.ssi_int;
            notice->pid = (pid_t)si.ssi_pid;
            notice->uid = (uid_t)si.ssi_uid;
            return IPC_OK;
        }
        if (n >= 0)
            return ipc__fail(IPC_EPROTO, "proc: a read of %zd bytes from a "
                                         "signalfd",
                             n);
        if (errno == EINTR)
            continue;
        if (errno == EBADF || errno == EINVAL)
            return ipc__fail(IPC_EINVAL, "proc: %d is not a descriptor of "
                                         "ipc_notice_open",
                             fd);
        if (errno != EAGAIN)
            return ipc__errno(errno, "proc: read signalfd");
        ipc_err err = ipc__wait_fd(fd, POLLIN, &dl, NULL);
        if (err != IPC_OK)
            return err;
    }
}

#else /* !__linux__ */

ipc_err ipc_notice_open(int signo, int *fd)
{
    (void)signo;
    (void)fd;
    return ipc__fail(IPC_ENOTSUP, "proc: built without signalfd (Linux)");
}

ipc_err ipc_notice_recv(int fd, ipc_notice *notice, int timeout_ms)
{
    (void)fd;
    (void)notice;
    (void)timeout_ms;
    return ipc__fail(IPC_ENOTSUP, "proc: built without signalfd (Linux)");
}

#endif /* __linux__ */
