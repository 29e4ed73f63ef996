/* SPDX-License-Identifier: MIT */
/* Monotonic deadlines: one per call, so a signal never restarts the clock. */
#include "ipc_int.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#define NS_PER_MS    1000000LL
#define NS_PER_S     1000000000LL
#define SLICE_MAX_NS 1000000L

int64_t ipc__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

bool ipc__deadline_expired(const struct ipc_deadline *dl)
{
    if (dl->at_ns == INT64_MAX)
        return false;
    return dl->nonblock || ipc__now_ns() >= dl->at_ns;
}

int ipc__deadline_poll_ms(const struct ipc_deadline *dl)
{
    if (dl->at_ns == INT64_MAX)
        return -1;
    if (dl->nonblock)
        return 0;
    int64_t left = dl->at_ns - ipc__now_ns();
    if (left <= 0)
        return 0;
    /* Round up: poll() may return at the rounded-down instant otherwise,
     * which would report a timeout before the deadline. */
    int64_t ms = (left + NS_PER_MS - 1) / NS_PER_MS;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

ipc_err ipc__deadline_err(const struct ipc_deadline *dl)
{
    return ipc__fail(dl->nonblock ? IPC_EAGAIN : IPC_ETIMEDOUT,
                     dl->nonblock ? "would block" : "deadline passed");
}

void ipc__deadline_realtime(const struct ipc_deadline *dl, struct timespec *ts)
{
    int64_t left = 0;
    if (!dl->nonblock) {
        left = dl->at_ns == INT64_MAX ? 365LL * 24 * 3600 * NS_PER_S
                                      : dl->at_ns - ipc__now_ns();
        if (left < 0)
            left = 0;
    }
    clock_gettime(CLOCK_REALTIME, ts);
    int64_t ns = ts->tv_nsec + left % NS_PER_S;
    ts->tv_sec += (time_t)(left / NS_PER_S + ns / NS_PER_S);
    ts->tv_nsec = (long)(ns % NS_PER_S);
}

static int spin_poll(struct ipc_waitspin *sp, struct pollfd *pfds, nfds_t n,
                     int ms);

static ipc_err wait_fds(struct pollfd *pfds, nfds_t n,
                        const struct ipc_deadline *dl, struct ipc_waitspin *sp)
{
    for (;;) {
        int ms = ipc__deadline_poll_ms(dl);
        int ready = sp ? spin_poll(sp, pfds, n, ms) : poll(pfds, n, ms);
        if (ready > 0)
            return IPC_OK;
        if (ready < 0 && errno != EINTR)
            return ipc__errno(errno, "poll");
        /* Timed out, or EINTR: the deadline decides, not the return. */
        if (ms == 0 || ipc__deadline_expired(dl))
            return ipc__deadline_err(dl);
    }
}

ipc_err ipc__wait_fds(struct pollfd *pfds, nfds_t n,
                      const struct ipc_deadline *dl)
{
    return wait_fds(pfds, n, dl, NULL);
}

ipc_err ipc__wait_fd(int fd, short events, const struct ipc_deadline *dl,
                     short *revents)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    ipc_err err = wait_fds(&pfd, 1, dl, NULL);
    if (err == IPC_OK && revents)
        *revents = pfd.revents;
    return err;
}

ipc_err ipc__wait_fds_spin(struct pollfd *pfds, nfds_t n,
                           const struct ipc_deadline *dl,
                           struct ipc_waitspin *sp)
{
    return wait_fds(pfds, n, dl, sp);
}

/* Nanoseconds to the deadline, capped at cap_ns. */
static int64_t deadline_left_ns(const struct ipc_deadline *dl, int64_t cap_ns)
{
    if (dl->at_ns == INT64_MAX)
        return cap_ns;
    int64_t left = dl->at_ns - ipc__now_ns();
    if (left < 0)
        left = 0;
    return left < cap_ns ? left : cap_ns;
}

static void deadline_grow(long *slice_ns, long max_ns)
{
    *slice_ns = *slice_ns >= max_ns / 2 ? max_ns : *slice_ns * 2;
}

ipc_err ipc__wait_fd_slice(int fd, short events, const struct ipc_deadline *dl,
                           long *slice_ns, short *revents)
{
    if (ipc__deadline_expired(dl))
        return ipc__deadline_err(dl);
    int64_t wait = deadline_left_ns(dl, *slice_ns);
    struct timespec ts = {(time_t)(wait / NS_PER_S), (long)(wait % NS_PER_S)};
    struct pollfd pfd = {.fd = fd, .events = events};
    deadline_grow(slice_ns, SLICE_MAX_NS);
    int n = ppoll(&pfd, 1, &ts, NULL);
    if (n < 0 && errno != EINTR)
        return ipc__errno(errno, "ppoll");
    *revents = n > 0 ? pfd.revents : 0;
    return IPC_OK;
}

ipc_err ipc__nap_upto(const struct ipc_deadline *dl, long *nap_ns, long max_ns)
{
    if (ipc__deadline_expired(dl))
        return ipc__deadline_err(dl);
    int64_t wait = deadline_left_ns(dl, *nap_ns);
    struct timespec ts = {(time_t)(wait / NS_PER_S), (long)(wait % NS_PER_S)};
    deadline_grow(nap_ns, max_ns);
    nanosleep(&ts, NULL); /* EINTR: the caller looks again anyway */
    return IPC_OK;
}

ipc_err ipc__nap(const struct ipc_deadline *dl, long *nap_ns)
{
    return ipc__nap_upto(dl, nap_ns, SLICE_MAX_NS);
}

int ipc__spin_wait(struct ipc_waitspin *sp, int ms, ipc_spin_look_fn look,
                   const void *arg)
{
    if (ms == 0)
        return look(arg, 0);
    int64_t t0 = ipc__now_ns();
    if (!sp->idle) {
        int n;
        while ((n = look(arg, 0)) == 0 && ipc__now_ns() - t0 < IPC_SPIN_NS)
            sched_yield(); /* a peer waiting for this CPU runs first */
        if (n != 0)
            return n;
    }
    int n = look(arg, ms);
    int saved = errno;
    sp->idle = ipc__now_ns() - t0 > IPC_SPIN_IDLE_NS;
    errno = saved;
    return n;
}

struct spin_poll {
    struct pollfd *pfds;
    nfds_t n;
};

static int spin_poll_look(const void *arg, int ms)
{
    const struct spin_poll *p = arg;
    return poll(p->pfds, p->n, ms);
}

static int spin_poll(struct ipc_waitspin *sp, struct pollfd *pfds, nfds_t n,
                     int ms)
{
    struct spin_poll p = {pfds, n};
    return ipc__spin_wait(sp, ms, spin_poll_look, &p);
}

#ifdef __linux__
struct spin_epoll {
    int epfd, max;
    struct epoll_event *ev;
};

static int spin_epoll_look(const void *arg, int ms)
{
    const struct spin_epoll *e = arg;
    return epoll_wait(e->epfd, e->ev, e->max, ms);
}

int ipc__spin_epoll(struct ipc_waitspin *sp, int epfd, struct epoll_event *ev,
                    int max, int ms)
{
    struct spin_epoll e = {epfd, max, ev};
    return ipc__spin_wait(sp, ms, spin_epoll_look, &e);
}
#endif
