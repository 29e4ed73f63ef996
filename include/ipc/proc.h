/* SPDX-License-Identifier: MIT */
/* libipc proc: another process's exit as a pollable descriptor, and small
 * notifications between processes carried by queued signals. */
#ifndef IPC_PROC_H
#define IPC_PROC_H

#include <ipc/ipc.h>

/*
 * Linux only (pidfd: Linux 5.3 for ipc_proc_watch, 5.1 for sending through
 * it; signalfd): elsewhere, and on older kernels, these calls answer
 * IPC_ENOTSUP naming what is missing. Nothing here has a fallback that
 * would poll /proc behind the caller's back; a program that must run on
 * such kernels judges a peer with its own liveness checks.
 *
 * A process is named by a descriptor, never by its pid after the first
 * call: a pid can be reused once the process is reaped, a descriptor
 * cannot. ipc_proc_watch() turns a pid into one (while the pid is surely
 * that process: your unreaped child, or a peer whose start time you check),
 * and every later call takes the descriptor, so a notification can never
 * reach a stranger that got the old pid.
 */

#ifdef __cplusplus
extern "C" {
#endif

/* A descriptor for process pid (close-on-exec, close it with close()). It
 * is level-triggered readable (POLLIN) once the process has exited, a
 * zombie included; poll(), epoll and ipc_proc_exited() wait on it.
 * IPC_ENOENT if no such process exists; IPC_ENOTSUP without pidfd_open.
 * start_time: the process's start time in clock ticks since boot (field 22
 * of /proc/<pid>/stat), checked after the descriptor is made so that a pid
 * reused by another process is IPC_ENOENT; 0 to skip the check (the pid is
 * your own unreaped child). */
IPC_API ipc_err ipc_proc_watch(pid_t pid, unsigned long long start_time,
                               int *fd);

/* The start time ipc_proc_watch() checks, for pid now; IPC_ENOENT if none. */
IPC_API ipc_err ipc_proc_start_time(pid_t pid, unsigned long long *start_time);

/* Wait until the watched process has exited: IPC_OK; IPC_EAGAIN (timeout
 * 0) or IPC_ETIMEDOUT while it runs. */
IPC_API ipc_err ipc_proc_exited(int fd, int timeout_ms);

/* A notification as it arrives. */
typedef struct ipc_notice {
    int signo;  /* the signal that carried it */
    int value;  /* the sender's payload */
    pid_t pid;  /* the sender */
    uid_t uid;  /* the sender's real uid, told by the kernel */
} ipc_notice;

/* Send a notification carrying value to the watched process (fd from
 * ipc_proc_watch). signo is a real-time signal, SIGRTMIN to SIGRTMAX:
 * those are queued one per send (up to RLIMIT_SIGPENDING), never merged,
 * and a process that does not expect them is killed by their default
 * action, so send only to processes that called ipc_notice_open() for it.
 * IPC_ECLOSED once the process has exited (a zombie included: nothing
 * would read it); IPC_EACCES where the kernel's
 * rules for kill() refuse (another user's process); IPC_ELIMIT when its
 * queue is full (RLIMIT_SIGPENDING); IPC_EINVAL for another signo. */
IPC_API ipc_err ipc_notice_send(int fd, int signo, int value);

/* Receive notifications carried by signo as a pollable descriptor
 * (signalfd; close-on-exec; close it with close()). It blocks signo in the
 * calling thread, and the rules of signals apply to the whole process:
 * signo must be blocked in every thread, or a thread that has it unblocked
 * takes it by its action (the default kills the process). Call this before
 * creating threads (they inherit the mask), or block signo in each. The
 * mask survives exec, and the descriptor and the queue do not. */
IPC_API ipc_err ipc_notice_open(int signo, int *fd);

/* Take the next notification: IPC_OK; IPC_EAGAIN (timeout 0) or
 * IPC_ETIMEDOUT when none comes. */
IPC_API ipc_err ipc_notice_recv(int fd, ipc_notice *notice, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* IPC_PROC_H */
