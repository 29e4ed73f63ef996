/* SPDX-License-Identifier: MIT */
/* nng backend: listening and dialling around nng 1.5's stopped listener
 * (a watchdog that restarts it; a dial that tries again meanwhile), and
 * the look at an ipc path before a create. */
#include "nng.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * The stopped listener. nng before 1.6 (nng issue 1518, fixed by nng
 * commit 9248ed74; Debian 12 ships 1.5.2) stops a listener for good when
 * a connection closes during the SP handshake: the transport reports the
 * peer's close as NNG_ECLOSED, which the listener takes for its own close
 * ("no further action"). Its socket still listens and nng's transport
 * still accepts and handshakes, so new peers connect, and even send, but
 * the listener never takes their connections: what they send is lost,
 * and the receiver or server takes no new peer again. A client
 * killed in its connect is enough (test reqrep.*: client_killed_in_connect),
 * and so is a port scanner (nng.listener_mended).
 *
 * nng gives no event for it, but counts it: the listener's "other"
 * statistic rises (so does it for errors that nng waits out for 100 ms and
 * goes on). So one watchdog thread looks at the counters of the tcp:// and
 * ipc:// listeners libipc made, every NNGW_TICK_MS. Where "other" rose, it
 * probes as a peer would: connects and sends the 8-byte SP header. A live
 * listener's counters then move (it accepts the probe, or counts another
 * error in its back-off). One whose counters stay still for NNGW_PROBE_MS
 * and until the next tick has stopped: the watchdog closes it, which
 * drops its connections (senders redial; pending calls fail IPC_ECLOSED,
 * as when a server restarts; a connect waiting for its welcome dials
 * again), and listens afresh at the address it had. A dial that met the
 * closed listener's backlog fails with a reset; ipc__nng_dial tries again
 * within its deadline. Only nng 1.5 and older get the watchdog; only where
 * nng keeps statistics (Debian's does) can it see anything.
 */

/* SP header: 0, 'S', 'P', 0, the protocol (u16 big-endian), 0, 0. */
#define NNGW_HEADER_LEN 8
#define NNGW_TICK_MS    200
/* How long a probe waits for a listener's counters to move, in steps. A
 * live one moves within a few ms (nng's own threads accept); a longer
 * window would keep new peers waiting in the stopped one's backlog. */
#define NNGW_PROBE_MS 300
#define NNGW_STEP_MS  5
/* How long ipc__nng_ipc_live waits for a live receiver's handshake. */
#define NNGW_LIVE_MS 2000
/* A dial met a reset: the next one after this, doubled up to 100 ms. */
#define NNGW_REDIAL_MS 5

#if NNG_MAJOR_VERSION == 1 && NNG_MINOR_VERSION < 6
#define NNGW_WATCH 1
#else
#define NNGW_WATCH 0
#endif

struct ipc__nng_watch {
    nng_socket sock;
    nng_listener l; /* the listener now; restarts replace it */
    bool listening; /* false: a restart's listen failed; retried */
    bool lost;      /* another took its address meanwhile: given up */
    bool watched;   /* on the watchdog's list */
    bool busy;      /* the watchdog probes or restarts it now */
    unsigned proto; /* SP protocol of a peer it takes */
    uint64_t other; /* its "other" count when last looked at */
    int probe_fd;   /* a probe left open for a second look; else -1 */
    uint64_t probe_other, probe_counts[2]; /* what the first look saw */
    struct sockaddr_storage target;        /* where a probe connects; */
    socklen_t target_len;                  /* 0: nowhere (no probe) */
    struct ipc__nng_watch *next;
    char url[]; /* where it listens (a tcp port made concrete) */
};

static pthread_mutex_t nngw_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nngw_cond; /* CLOCK_MONOTONIC: list, busy, stop */
static struct ipc__nng_watch *nngw_list;
static bool nngw_started, nngw_stop;
static pthread_t nngw_tid;
static _Atomic pid_t nngw_pid; /* the process the thread runs in */

/* ------------------------------------------------------------- probing */

/* Connect to sa and hand it our SP header (or queue the connection in a
 * full backlog): the socket, or -1 if refused or no socket to try with. */
static int nngw_hello(const struct sockaddr *sa, socklen_t salen,
                      unsigned proto, int wait_ms)
{
    int fd =
        socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
        if (errno == EAGAIN) /* a full unix backlog: it listens */
            return fd;
        close(fd);
        return -1;
    }
    const unsigned char hello[NNGW_HEADER_LEN] = {
        0, 'S', 'P', 0, (unsigned char)(proto >> 8), (unsigned char)proto,
        0, 0};
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    if (poll(&pfd, 1, wait_ms) == 1 && (pfd.revents & (POLLERR | POLLHUP))) {
        close(fd); /* tcp: refused */
        return -1;
    }
    if (pfd.revents & POLLOUT)
        (void)!send(fd, hello, sizeof hello, MSG_NOSIGNAL);
    return fd;
}

/* Wait up to wait_ms for the 8 bytes of a listener's header on fd. */
static void nngw_header(int fd, int wait_ms)
{
    unsigned char theirs[NNGW_HEADER_LEN];
    size_t got = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (got < sizeof theirs && poll(&pfd, 1, wait_ms) > 0) {
        ssize_t n = recv(fd, theirs + got, sizeof theirs - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break;
    }
}

/* path as a unix socket address; false if too long (nng_listen refuses
 * it too). */
static bool nngw_sun(const char *path, struct sockaddr_un *sun)
{
    size_t len = strlen(path);
    if (len >= sizeof sun->sun_path)
        return false;
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, len + 1);
    return true;
}

/* See "A create at the ipc path of a live receiver" (nng.c). */
bool ipc__nng_ipc_live(const char *path, unsigned proto)
{
    struct sockaddr_un sun;
    if (!nngw_sun(path, &sun))
        return false;
    int fd =
        nngw_hello((struct sockaddr *)&sun, sizeof sun, proto, NNGW_LIVE_MS);
    if (fd < 0)
        return false;
    /* Closed only after the handshake, which a close inside stops. */
    nngw_header(fd, NNGW_LIVE_MS);
    close(fd);
    return true; /* it accepted a connection: someone listens */
}

/* Where listener l of url is bound, into ss: its ipc path, or the address
 * its tcp socket has. 0: neither (nothing to probe), else its length. */
static socklen_t nngw_bound(const char *url, nng_listener l,
                            struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (strncmp(url, "ipc://", 6) == 0)
        return nngw_sun(url + 6, (struct sockaddr_un *)ss)
                   ? sizeof(struct sockaddr_un)
                   : 0;
    nng_sockaddr na;
    if (strncmp(url, "tcp://", 6) != 0 ||
        nng_listener_get_addr(l, NNG_OPT_LOCADDR, &na) != 0)
        return 0;
    if (na.s_family == NNG_AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = na.s_in.sa_port;
        sin->sin_addr.s_addr = na.s_in.sa_addr;
        return sizeof *sin;
    }
    if (na.s_family == NNG_AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = na.s_in6.sa_port;
        memcpy(&sin6->sin6_addr, na.s_in6.sa_addr, 16);
        sin6->sin6_scope_id = na.s_in6.sa_scope;
        return sizeof *sin6;
    }
    return 0;
}

/* The url to listen at again: a tcp listener's bound address ss (its port
 * if url asked for port 0), formatted into buf; else url itself. */
static const char *nngw_url(const char *url, const struct sockaddr_storage *ss,
                            char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    if (ss->ss_family == AF_INET &&
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host))
        snprintf(buf, cap, "tcp://%s:%u", host, (unsigned)ntohs(sin->sin_port));
    else if (ss->ss_family == AF_INET6 &&
             inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host))
        snprintf(buf, cap, "tcp://[%s]:%u", host,
                 (unsigned)ntohs(sin6->sin6_port));
    else
        return url;
    return buf;
}

/* A wildcard bound address is probed at loopback. */
static void nngw_loopback(struct sockaddr_storage *ss)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (ss->ss_family == AF_INET && sin->sin_addr.s_addr == htonl(INADDR_ANY))
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (ss->ss_family == AF_INET6 &&
             IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
        sin6->sin6_addr = in6addr_loopback;
}

/* ------------------------------------------------------------ the watch */

/* The listener's counter name in snapshot st; 0 when nng keeps none. */
static uint64_t nngw_count(nng_stat *st, nng_listener l, const char *name)
{
    nng_stat *ls = nng_stat_find_listener(st, l);
    nng_stat *s = ls ? nng_stat_find(ls, name) : NULL;
    return s ? nng_stat_value(s) : 0;
}

/* w's "other" and "accept" counts now; false if nng gave none. */
static bool nngw_counts(const struct ipc__nng_watch *w, uint64_t c[2])
{
    nng_stat *st;
    if (nng_stats_get(&st) != 0)
        return false;
    c[0] = nngw_count(st, w->l, "other");
    c[1] = nngw_count(st, w->l, "accept");
    nng_stats_free(st);
    return true;
}

/* Close w's stopped listener and listen again at its address. Runs
 * outside nngw_lock (closing runs nng's pipe callbacks, which take the
 * locks of their ends); w is busy meanwhile, so nobody frees it. An ipc
 * path that another receiver took in between is given up, and never
 * handed to nng_listen: its look at a path in use would stop that one's
 * listener in turn. */
static void nngw_restart(struct ipc__nng_watch *w)
{
    if (w->listening)
        nng_listener_close(w->l);
    nng_listener l;
    bool taken = strncmp(w->url, "ipc://", 6) == 0 &&
                 ipc__nng_ipc_live(w->url + 6, w->proto);
    int rv = taken ? NNG_EADDRINUSE : nng_listen(w->sock, w->url, &l, 0);
    pthread_mutex_lock(&nngw_lock);
    w->listening = rv == 0;
    w->lost = rv == NNG_EADDRINUSE;
    if (rv == 0)
        w->l = l;
    w->other = 0;
    pthread_mutex_unlock(&nngw_lock);
}

/* The second look at a listener whose counters did not move for our
 * probe: still nothing (our connection left open meanwhile, so that no
 * close of ours fails a slow handshake), and it has stopped. */
static void nngw_recheck(struct ipc__nng_watch *w)
{
    uint64_t now[2];
    bool moved = !nngw_counts(w, now) || now[0] != w->probe_counts[0] ||
                 now[1] != w->probe_counts[1];
    close(w->probe_fd);
    w->probe_fd = -1;
    if (moved)
        w->other = w->probe_other;
    else
        nngw_restart(w);
}

/* w's "other" count rose to other: has its listener stopped? nng's
 * transport accepts and handshakes on its own, so only the listener's
 * counters tell: a live one takes a connection of ours (accept), or
 * counts another error, within NNGW_PROBE_MS; one that does neither gets
 * a second look at the next tick. The count kept is the one before the
 * probe, so that a stop the probe itself caused is looked at again. */
static void nngw_check(struct ipc__nng_watch *w, uint64_t other)
{
    uint64_t now[2];
    if (w->probe_fd >= 0) {
        nngw_recheck(w);
        return;
    }
    if (w->target_len == 0 || !nngw_counts(w, w->probe_counts))
        return;
    int fd = nngw_hello((const struct sockaddr *)&w->target, w->target_len,
                        w->proto, NNGW_PROBE_MS);
    if (fd < 0)
        return; /* nobody listens, or no socket now: next tick */
    bool moved = false;
    for (int ms = 0; ms < NNGW_PROBE_MS && !moved; ms += NNGW_STEP_MS) {
        struct timespec step = {.tv_nsec = NNGW_STEP_MS * 1000000L};
        nanosleep(&step, NULL);
        moved = nngw_counts(w, now) &&
                (now[0] != w->probe_counts[0] || now[1] != w->probe_counts[1]);
    }
    if (moved) {
        close(fd);
        w->other = other; /* alive, or backing off and counting */
        return;
    }
    w->probe_fd = fd;
    w->probe_other = other;
}

/* One look at every watch; with nngw_lock held (dropped while one is
 * busy: a watch on the list stays there until it is not). */
static void nngw_tick(void)
{
    nng_stat *st;
    if (nng_stats_get(&st) != 0)
        return;
    for (struct ipc__nng_watch *w = nngw_list; w && !nngw_stop; w = w->next) {
        if (w->lost)
            continue;
        uint64_t other = w->listening ? nngw_count(st, w->l, "other") : 0;
        if (w->listening && other == w->other && w->probe_fd < 0)
            continue;
        w->busy = true;
        pthread_mutex_unlock(&nngw_lock);
        if (w->listening)
            nngw_check(w, other);
        else
            nngw_restart(w);
        pthread_mutex_lock(&nngw_lock);
        w->busy = false;
        pthread_cond_broadcast(&nngw_cond);
    }
    nng_stats_free(st);
}

/* now + NNGW_TICK_MS on CLOCK_MONOTONIC, into t. */
static void nngw_next(struct timespec *t)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_nsec += NNGW_TICK_MS * 1000000L;
    t->tv_sec += t->tv_nsec / 1000000000L;
    t->tv_nsec %= 1000000000L;
}

static void *nngw_main(void *arg)
{
    (void)arg;
    struct timespec next;
    pthread_mutex_lock(&nngw_lock);
    nngw_next(&next);
    while (!nngw_stop) {
        /* Wake-ups between ticks (a new watch, a busy one freed) leave
         * the next tick where it was. */
        if (!nngw_list) {
            pthread_cond_wait(&nngw_cond, &nngw_lock);
            nngw_next(&next);
        } else if (pthread_cond_timedwait(&nngw_cond, &nngw_lock, &next) ==
                   ETIMEDOUT) {
            nngw_tick();
            nngw_next(&next);
        }
    }
    pthread_mutex_unlock(&nngw_lock);
    return NULL;
}

/* At exit, before nng's own atexit teardown (registered earlier, so run
 * later), which the thread must not meet in the middle of a look. */
static void nngw_exit(void)
{
    if (getpid() != nngw_pid)
        return; /* a forked child: no thread, perhaps a held lock */
    pthread_mutex_lock(&nngw_lock);
    nngw_stop = true;
    pthread_cond_broadcast(&nngw_cond);
    pthread_mutex_unlock(&nngw_lock);
    pthread_join(nngw_tid, NULL);
}

/* With nngw_lock held: the thread, once. False if it could not start. */
static bool nngw_start(void)
{
    if (nngw_started)
        return true;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return false;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    bool ok = pthread_cond_init(&nngw_cond, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (ok && pthread_create(&nngw_tid, NULL, nngw_main, NULL) != 0) {
        pthread_cond_destroy(&nngw_cond);
        ok = false;
    }
    nngw_pid = getpid();
    if (ok && atexit(nngw_exit) != 0) {
        /* The thread runs on; a look at exit is a small risk. */
    }
    nngw_started = ok;
    return ok;
}

int ipc__nng_listen(nng_socket sock, const char *url, unsigned proto,
                    struct ipc__nng_watch **out)
{
    nng_listener l;
    int rv = nng_listen(sock, url, &l, 0);
    if (rv != 0)
        return rv;
    struct sockaddr_storage bound;
    socklen_t bound_len = nngw_bound(url, l, &bound);
    char buf[sizeof "tcp://[]:65535" + INET6_ADDRSTRLEN];
    const char *concrete = nngw_url(url, &bound, buf, sizeof buf);
    struct ipc__nng_watch *w = calloc(1, sizeof *w + strlen(concrete) + 1);
    if (!w) {
        nng_listener_close(l);
        return NNG_ENOMEM;
    }
    memcpy(w->url, concrete, strlen(concrete) + 1);
    nngw_loopback(&bound);
    w->target = bound;
    w->target_len = bound_len;
    w->sock = sock;
    w->l = l;
    w->probe_fd = -1;
    w->listening = true;
    w->proto = proto;
    bool kind =
        strncmp(url, "tcp://", 6) == 0 || strncmp(url, "ipc://", 6) == 0;
    pthread_mutex_lock(&nngw_lock);
    if (NNGW_WATCH && kind && nngw_start()) {
        w->watched = true;
        w->next = nngw_list;
        nngw_list = w;
        pthread_cond_broadcast(&nngw_cond);
    }
    pthread_mutex_unlock(&nngw_lock);
    *out = w;
    return 0;
}

void ipc__nng_unlisten(struct ipc__nng_watch *w)
{
    if (!w)
        return;
    if (w->watched) {
        pthread_mutex_lock(&nngw_lock);
        while (w->busy)
            pthread_cond_wait(&nngw_cond, &nngw_lock);
        struct ipc__nng_watch **p = &nngw_list;
        while (*p != w)
            p = &(*p)->next;
        *p = w->next;
        pthread_mutex_unlock(&nngw_lock);
    }
    if (w->probe_fd >= 0)
        close(w->probe_fd);
    if (w->listening)
        nng_listener_close(w->l);
    free(w);
}

/* ------------------------------------------------------------- dialling */

int ipc__nng_dial(nng_socket sock, const char *url, int flags,
                  const struct ipc_deadline *dl)
{
    long nap_ns = NNGW_REDIAL_MS * 1000000L;
    for (;;) {
        int rv = nng_dial(sock, url, NULL, flags);
        /* A connection reset or shut in the handshake: a listener closed
         * with it queued (a restart above, or a receiver that left). */
        if ((rv != NNG_ECONNRESET && rv != NNG_ECONNSHUT &&
             rv != NNG_ECLOSED) ||
            ipc__nap_upto(dl, &nap_ns, 100 * 1000000L) != IPC_OK)
            return rv;
    }
}
