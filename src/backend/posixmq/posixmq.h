/* SPDX-License-Identifier: MIT */
/* mq: what posixmq.c and senders.c share: the end and the limits. The
 * design is told at the top of posixmq.c. */
#ifndef IPC_BACKEND_POSIXMQ_H
#define IPC_BACKEND_POSIXMQ_H

#include "ipc_int.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#endif
#include <time.h>
#include <unistd.h>

#define POSIXMQ_MAX_MSG_DEFAULT  8192u
#define POSIXMQ_CAPACITY_DEFAULT 10u
/* The kernel's hard ceilings (HARD_MSGSIZEMAX, HARD_MSGMAX); the
 * /proc/sys/fs/mqueue limits below them bind unprivileged processes. */
#define POSIXMQ_MAX_MSG_MAX  (16u * 1024 * 1024)
#define POSIXMQ_CAPACITY_MAX 65536u
/* "/" and NAME_MAX bytes. */
#define POSIXMQ_NAME_MAX (NAME_MAX + 1)
#define POSIXMQ_PRIO_MAX 31u /* 0..31: the range POSIX promises everywhere */
#define POSIXMQ_PROC     "/proc/sys/fs/mqueue/"

#if defined(__linux__)
#define POSIXMQ_MQD_IS_FD 1
#ifndef F_OFD_SETLK /* C libraries older than the kernel's 3.15 ABI */
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#endif
#else
#define POSIXMQ_MQD_IS_FD 0
#endif

struct posixmq_end {
    mqd_t mqd;
    size_t msgsize;           /* the queue's mq_msgsize */
    struct ipc_waitspin spin; /* a receive's waits (ipc_int.h) */
    char *hold;               /* receive ends: msgsize bytes, see posixmq.c */
    size_t hold_len;
    unsigned hold_prio;
    bool held; /* written only under lock (ipc_pollfd reads it) */
    pid_t held_pid;
    int epfd;          /* receiving end once it waited or was polled: mqd +
                          held_fd + watch_fd + timer_fd; else -1 */
    int held_fd;       /* eventfd readable while held or gone; else -1 */
    int watch_fd;      /* inotify: closes of the queue's writers */
    int timer_fd;      /* timerfd: judge again after a close */
    unsigned rejudges; /* timer steps left since the last close event */
    bool track;        /* a receiving end that judges its senders */
    bool seen;         /* a sender was seen (a pair: from the start) */
    bool gone;         /* judged gone: one more take, then IPC_ECLOSED */
    bool judge_due;    /* the watch or the timer fired */
    bool ready_set;    /* held_fd is readable */
    bool held_woke;    /* a wait found held_fd readable with nothing held */
    bool timer_armed;  /* a re-judge is due on timer_fd */
    bool inherit;      /* IPC_F_INHERIT: the poll set survives exec too */
    bool lock_made;
    pthread_mutex_t lock; /* held vs ipc_pollfd in another thread */
    dev_t dev;            /* the queue this end created, to remove only it */
    ino_t ino;
    char name[POSIXMQ_NAME_MAX + 1];
};

static inline struct posixmq_end *posixmq_priv(const ipc_channel *ch)
{
    return ipc__priv(ch);
}

#if POSIXMQ_MQD_IS_FD
/* senders.c: judging senders, the receiving end's poll set and waits. */
void ipc__mq_watch(struct posixmq_end *pe);
void ipc__mq_sync_ready(struct posixmq_end *pe);
ipc_err ipc__mq_pollset(struct posixmq_end *pe);
ipc_err ipc__mq_wait_recv(struct posixmq_end *pe, const struct ipc_deadline *dl,
                          bool *last);
#endif

#endif
