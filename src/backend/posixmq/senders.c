/* SPDX-License-Identifier: MIT */
/* mq: a receiving end judges its senders (their OFD locks, woken by an
 * inotify close watch and a re-judge timer) and waits on its poll set
 * (Linux only; the design is told at the top of posixmq.c). */
#include "backend/posixmq/posixmq.h"

/* ---------------------------------------------------------------- senders */

#if POSIXMQ_MQD_IS_FD
/* What woke a receiving end's poll set (epoll data). */
enum { POSIXMQ_EV_MQ, POSIXMQ_EV_HELD, POSIXMQ_EV_WATCH, POSIXMQ_EV_TIMER };

/* Judge again this long after a close event while a lock is still seen. */
static const long posixmq_rejudge_ms[] = {1, 4, 16, 64, 256};
#define POSIXMQ_REJUDGES                                                       \
    (sizeof posixmq_rejudge_ms / sizeof *posixmq_rejudge_ms)
/* Without a watch (no inotify instance left, no /proc): judge this often. */
#define POSIXMQ_JUDGE_EVERY_MS 50

static void posixmq_arm(int fd, long ms, bool repeat)
{
    struct itimerspec its = {
        .it_value = {ms / 1000, (ms % 1000) * 1000000L},
    };
    if (repeat)
        its.it_interval = its.it_value;
    timerfd_settime(fd, 0, &its, NULL); /* cannot fail with these values */
}

/* held_fd is readable iff a message is held or the senders were judged
 * gone (level-triggered readiness for both); lock held. */
void ipc__mq_sync_ready(struct posixmq_end *pe)
{
    bool want = pe->held || pe->gone;
    if (pe->held_fd < 0 || (!pe->held_woke && want == pe->ready_set))
        return;
    /* Drained too when a wait found it readable though this process did
     * not fill it: a forked child shares the eventfd, and one left
     * readable would make this end's waits spin. */
    pe->held_woke = false;
    uint64_t count = 1;
    ssize_t n = want ? write(pe->held_fd, &count, sizeof count)
                     : read(pe->held_fd, &count, sizeof count);
    (void)n; /* never full (one write per change), or already drained */
    pe->ready_set = want;
}

/* Does any sending end still hold its lock? Can't tell: yes. */
static bool posixmq_sender_lock(const struct posixmq_end *pe)
{
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
    return fcntl((int)pe->mqd, F_OFD_GETLK, &fl) < 0 || fl.l_type != F_UNLCK;
}

/* Are all senders gone (once one was seen)? Spends the close events and
 * the timer that made the end judge. */
static bool posixmq_judge(struct posixmq_end *pe)
{
    char events[512];
    uint64_t ticks;
    bool closed = false;
    pe->judge_due = false;
    while (pe->watch_fd >= 0 && read(pe->watch_fd, events, sizeof events) > 0)
        closed = true;
    bool timer = pe->timer_armed &&
                 read(pe->timer_fd, &ticks, sizeof ticks) == sizeof ticks;
    if (timer && pe->watch_fd >= 0)
        pe->timer_armed = false; /* one-shot; the fallback repeats */
    bool held = posixmq_sender_lock(pe);
    /* The close event comes just before the kernel drops the closed
     * description's locks: give it a moment before the timer ladder. */
    for (int i = 0; held && closed && i < 3; i++) {
        sched_yield();
        held = posixmq_sender_lock(pe);
    }
    if (held && pe->watch_fd >= 0) {
        if (closed)
            pe->rejudges = POSIXMQ_REJUDGES;
        if ((closed || timer) && pe->rejudges > 0) {
            posixmq_arm(pe->timer_fd,
                        posixmq_rejudge_ms[POSIXMQ_REJUDGES - pe->rejudges],
                        false);
            pe->timer_armed = true;
            pe->rejudges--;
        }
    }
    /* A lock, or a writer's close: a sender came (IN_CLOSE_WRITE comes
     * only from descriptions opened for writing). */
    if (held || closed)
        pe->seen = true;
    pthread_mutex_lock(&pe->lock);
    pe->gone = !held && pe->seen;
    ipc__mq_sync_ready(pe);
    pthread_mutex_unlock(&pe->lock);
    return pe->gone;
}

/* A receiving end's close watch on the queue's inode, made at open so
 * that a sender that came and went before the first wait is seen. One that
 * cannot be made (inotify instances per user, fs.inotify.max_user_instances,
 * run out; no /proc) leaves the timer judging every POSIXMQ_JUDGE_EVERY_MS
 * once the end waits. */
void ipc__mq_watch(struct posixmq_end *pe)
{
    pe->watch_fd = inotify_init1(IN_NONBLOCK | (pe->inherit ? 0 : IN_CLOEXEC));
    char path[40];
    snprintf(path, sizeof path, "/proc/self/fd/%d", (int)pe->mqd);
    if (pe->watch_fd >= 0 &&
        inotify_add_watch(pe->watch_fd, path, IN_CLOSE_WRITE) < 0) {
        close(pe->watch_fd);
        pe->watch_fd = -1;
    }
}

/* The watch and the timer into the poll set. */
static ipc_err posixmq_add_watch(struct posixmq_end *pe, int cloexec)
{
    pe->timer_fd = timerfd_create(CLOCK_MONOTONIC,
                                  TFD_NONBLOCK | (cloexec ? TFD_CLOEXEC : 0));
    if (pe->timer_fd < 0)
        return ipc__errno(errno, "mq: timerfd_create");
    if (pe->watch_fd < 0) {
        posixmq_arm(pe->timer_fd, POSIXMQ_JUDGE_EVERY_MS, true);
        pe->timer_armed = true;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = POSIXMQ_EV_TIMER};
    if (epoll_ctl(pe->epfd, EPOLL_CTL_ADD, pe->timer_fd, &ev) < 0)
        return ipc__errno(errno, "mq: epoll_ctl");
    ev.data.u32 = POSIXMQ_EV_WATCH;
    if (pe->watch_fd >= 0 &&
        epoll_ctl(pe->epfd, EPOLL_CTL_ADD, pe->watch_fd, &ev) < 0)
        return ipc__errno(errno, "mq: epoll_ctl");
    pe->judge_due = true; /* events may have queued since the open */
    return IPC_OK;
}

/* The receiving end's poll set (see the top), made on its first wait or
 * ipc_pollfd(); lock held. */
static ipc_err posixmq_make_pollset(struct posixmq_end *pe)
{
    int cloexec = !pe->inherit;
    pe->held_fd = eventfd(0, EFD_NONBLOCK | (cloexec ? EFD_CLOEXEC : 0));
    if (pe->held_fd < 0)
        return ipc__errno(errno, "mq: eventfd");
    pe->epfd = epoll_create1(cloexec ? EPOLL_CLOEXEC : 0);
    if (pe->epfd < 0)
        return ipc__errno(errno, "mq: epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = POSIXMQ_EV_MQ};
    if (epoll_ctl(pe->epfd, EPOLL_CTL_ADD, (int)pe->mqd, &ev) < 0)
        return ipc__errno(errno, "mq: epoll_ctl");
    ev.data.u32 = POSIXMQ_EV_HELD;
    if (epoll_ctl(pe->epfd, EPOLL_CTL_ADD, pe->held_fd, &ev) < 0)
        return ipc__errno(errno, "mq: epoll_ctl");
    ipc_err err = pe->track ? posixmq_add_watch(pe, cloexec) : IPC_OK;
    if (err == IPC_OK)
        ipc__mq_sync_ready(pe);
    return err;
}

/* The poll set, made if it is not yet; a failure leaves none. */
ipc_err ipc__mq_pollset(struct posixmq_end *pe)
{
    ipc_err err = IPC_OK;
    pthread_mutex_lock(&pe->lock);
    if (pe->epfd < 0 && (err = posixmq_make_pollset(pe)) != IPC_OK) {
        int *fds[] = {&pe->epfd, &pe->held_fd, &pe->timer_fd};
        for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) {
            if (*fds[i] >= 0)
                close(*fds[i]);
            *fds[i] = -1;
        }
        pe->ready_set = false;
    }
    pthread_mutex_unlock(&pe->lock);
    return err;
}

/* Sleep on the poll set until something in it is ready; note whether the
 * watch or the timer was. */
static ipc_err posixmq_wait_set(struct posixmq_end *pe,
                                const struct ipc_deadline *dl)
{
    for (;;) {
        struct epoll_event ev[4];
        int ms = ipc__deadline_poll_ms(dl);
        int n = ipc__spin_epoll(&pe->spin, pe->epfd, ev, 4, ms);
        /* The eventfd with nothing held here: a forked child that shares
         * the set judged the senders gone. */
        for (int i = 0; i < n; i++)
            if (ev[i].data.u32 != POSIXMQ_EV_MQ &&
                (ev[i].data.u32 != POSIXMQ_EV_HELD || !pe->held)) {
                pe->judge_due = true;
                pe->held_woke |= ev[i].data.u32 == POSIXMQ_EV_HELD;
            }
        if (n > 0)
            return IPC_OK;
        if (n < 0 && errno != EINTR)
            return ipc__errno(errno, "mq: epoll_wait");
        if (ms == 0 || ipc__deadline_expired(dl))
            return ipc__deadline_err(dl);
    }
}

/* A receiving end found the queue empty: judge the senders when there is
 * a reason (the watch or the timer fired, the set is new, the last judge
 * said gone, or the call cannot wait), else sleep on the set. IPC_OK: take
 * again, and *last set: the senders are gone, so an empty queue now is
 * IPC_ECLOSED. */
ipc_err ipc__mq_wait_recv(struct posixmq_end *pe, const struct ipc_deadline *dl,
                          bool *last)
{
    ipc_err err = ipc__mq_pollset(pe);
    if (err != IPC_OK)
        return err;
    if ((dl->nonblock || pe->judge_due || pe->gone) && posixmq_judge(pe)) {
        *last = true;
        return IPC_OK;
    }
    if (dl->nonblock)
        return ipc__fail(IPC_EAGAIN, "mq: %s: queue empty", pe->name);
    return posixmq_wait_set(pe, dl);
}
#else
/* An mqd_t is no descriptor here: nothing to judge with (and an empty
 * file is not ISO C). */
typedef int ipc__mq_no_senders;
#endif
