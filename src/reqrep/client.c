/* SPDX-License-Identifier: MIT */
/* Request/reply client: connect (hello/welcome), calls with ids, replies
 * matched to pending calls, the server watched while a call waits. */
#include "ipc_int.h"
#include "rr_client.h"

#include <ipc/proc.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ipc_err ipc__rr_client_send(ipc_rr_client *c, unsigned kind, unsigned flags,
                            uint64_t id, const void *payload, size_t len,
                            int timeout_ms)
{
    struct ipc_rr_hdr h = {kind, flags, 0, c->slot, c->gen, id, len};
    ipc__rr_encode(c->tx, &h);
    /* One copy: the channel API takes one buffer, and the header must sit
     * right before the payload. */
    if (payload != c->tx + IPC_RR_HDR && len)
        memcpy(c->tx + IPC_RR_HDR, payload, len);
    ipc_err err = ipc_send(c->req, c->tx, IPC_RR_HDR + len, 0, timeout_ms);
    if (err == IPC_ECLOSED)
        c->server_gone = true;
    return err;
}

static void rr_forget(ipc_rr_client *c, struct rr_pending *p)
{
    free(p->data);
    free(p->req);
    *p = c->pend[--c->npend];
}

/* The server is gone: every pending call fails with IPC_ECLOSED. */
void ipc__rr_server_gone(ipc_rr_client *c)
{
    c->server_gone = true;
    for (size_t i = 0; i < c->npend; i++)
        if (c->pend[i].state == RR_WAITING) {
            c->pend[i].state = RR_FAILED;
            c->pend[i].err = IPC_ECLOSED;
        }
}

/* File a received message with its call, or drop it. */
static void rr_dispatch(ipc_rr_client *c, size_t n)
{
    struct ipc_rr_hdr h;
    if (ipc__rr_decode(c->rx, n, &h) != IPC_OK ||
        (h.kind != IPC_RR_REPLY && h.kind != IPC_RR_FAIL)) {
        c->dropped++;
        return;
    }
    struct rr_pending *p = ipc__rr_find(c, h.id);
    if (!p || p->state != RR_WAITING || h.slot != c->slot || h.gen != c->gen) {
        c->dropped++; /* timed out, cancelled, or never ours */
        return;
    }
    if (h.kind == IPC_RR_FAIL) {
        p->state = RR_FAILED;
        p->err = (ipc_err)h.status;
        return;
    }
    /* Kept aside until its own wait: the rx buffer is needed for the next
     * message. Only replies that come out of turn pay this copy. */
    p->data = malloc(h.len ? h.len : 1);
    if (!p->data) {
        p->state = RR_FAILED;
        p->err = IPC_ENOMEM;
        return;
    }
    memcpy(p->data, c->rx + IPC_RR_HDR, h.len);
    p->len = h.len;
    p->state = RR_DONE;
}

/* Has the server's process exited? Its pidfd says so without a look in
 * /proc (and cannot name a process that reused the pid); without one
 * (kernels before 5.3, not Linux), its pid and start time are checked. */
static bool rr_server_exited(ipc_rr_client *c)
{
    if (c->server_fd >= 0) {
        struct pollfd pfd = {.fd = c->server_fd, .events = POLLIN};
        return poll(&pfd, 1, 0) == 1;
    }
    return c->server.pid && !ipc__rr_alive(c->server.pid, c->server.start);
}

/* Is the server gone? Its process exited, or the request channel says so
 * where it can (a unix connection hung up, a FIFO without reader): poll()
 * reports those with no events asked. */
static bool rr_server_dead(ipc_rr_client *c)
{
    if (rr_server_exited(c))
        return true;
    struct pollfd pfd = {.fd = c->req_fd, .events = 0};
    return c->req_fd >= 0 && poll(&pfd, 1, 0) == 1 &&
           (pfd.revents & (POLLHUP | POLLERR));
}

static ipc_err rr_gone_err(ipc_rr_client *c)
{
    ipc__rr_server_gone(c);
    if (!c->server.pid) /* not watched: tcp, another pid namespace */
        return ipc__fail(IPC_ECLOSED, "reqrep: the server is gone");
    return ipc__fail(IPC_ECLOSED, "reqrep: the server (pid %d) is gone",
                     (int)c->server.pid);
}

/* Take one message, waiting until dl (a wait that garbage the channel
 * dropped cut short goes on): IPC_OK, or the error that ends the wait
 * (IPC_ECLOSED fails every pending call). Lossy schemes (udp): the wait
 * is cut in slices that ping the server, and the pings' answers are taken
 * here; IPC_OK with *n 0 then says that no message came but a call's
 * state may have changed (lost, or failed). */
static ipc_err rr_take(ipc_rr_client *c, size_t *n,
                       const struct ipc_deadline *dl)
{
    for (;;) {
        const struct ipc_deadline *wait = dl;
        struct ipc_deadline slice;
        if (c->sc->lossy) {
            ipc__rr_lossy_tick(c, dl, &slice);
            wait = &slice;
        }
        ipc_err err = ipc_recv(c->rep, c->rx, c->max_msg, n, NULL,
                               ipc__deadline_poll_ms(wait));
        if (err == IPC_EPROTO)
            continue; /* the channel dropped garbage; take the next */
        if (err == IPC_ECLOSED)
            ipc__rr_server_gone(c);
        if (!c->sc->lossy)
            return err;
        if (err == IPC_OK) {
            err = ipc__rr_lossy_heard(c, n);
            if (err == IPC_EAGAIN)
                continue; /* a pong that changed nothing */
            return err;
        }
        if (err != IPC_ETIMEDOUT && err != IPC_EAGAIN)
            return err;
        if ((err = ipc__rr_lossy_silent(c)) != IPC_OK)
            return err;
        if (ipc__deadline_expired(dl))
            return ipc__deadline_err(dl);
        /* The slice ended: the next one pings. */
    }
}

/* dl, or IPC_RR_SPIN_MS / IPC_RR_TICK_MS from now if that comes first. */
static struct ipc_deadline rr_slice(const struct ipc_deadline *dl, int ms)
{
    struct ipc_deadline slice = *dl;
    if (dl->at_ns == INT64_MAX || dl->at_ns - ipc__now_ns() > ms * 1000000LL)
        ipc__deadline_init(&slice, ms);
    return slice;
}

static const struct ipc_deadline rr_now = {.at_ns = 0, .nonblock = true};

/* A shm reply comes in well under a microsecond while both sides run, and
 * the ring's own receive spins for it, where a poll() sleeps until the
 * server rings the end's bell (15 us a call, measured). So a call there
 * first waits in the channel for up to IPC_RR_SPIN_MS; a server that dies
 * meanwhile is seen when the slice ends, in the poll() that follows. */
#define IPC_RR_SPIN_MS 1

/* A pollable reply channel (fifo, mq, unix, shm): one poll() waits for a
 * reply, the server's exit (its pidfd) and its request end hanging up, so a
 * dead server fails the wait at once. The tick remains only where a pid
 * must be checked in /proc (no pidfd). A reply the server sent before it
 * died is in the channel by then: the channel is read once more before
 * failing. */
static ipc_err rr_pump_poll(ipc_rr_client *c, const struct ipc_deadline *dl,
                            size_t *n)
{
    bool tick = c->server_fd < 0 && c->server.pid;
    bool dead = false;
    if (c->sc->spins) {
        struct ipc_deadline spin = rr_slice(dl, IPC_RR_SPIN_MS);
        ipc_err err = rr_take(c, n, &spin);
        if (err != IPC_ETIMEDOUT)
            return err;
    }
    for (;;) {
        ipc_err err = rr_take(c, n, &rr_now);
        if (err != IPC_EAGAIN)
            return err;
        if (dead)
            return rr_gone_err(c);
        /* poll() skips a descriptor of -1: no pidfd, no request fd. */
        struct pollfd pfd[3] = {
            {.fd = c->rep_fd, .events = c->rep_events},
            {.fd = c->server_fd, .events = POLLIN},
            {.fd = c->req_fd, .events = 0},
        };
        struct ipc_deadline slice = tick ? rr_slice(dl, IPC_RR_TICK_MS) : *dl;
        err = ipc__wait_fds(pfd, 3, &slice);
        if (err == IPC_OK)
            dead = (pfd[1].revents & POLLIN) ||
                   (pfd[2].revents & (POLLHUP | POLLERR));
        else if (err != IPC_ETIMEDOUT && err != IPC_EAGAIN)
            return err;
        else if (ipc__deadline_expired(dl))
            return ipc__deadline_err(dl);
        else
            dead = rr_server_dead(c); /* a tick: no pidfd */
    }
}

/* A reply channel without a descriptor (sysv; shm without /proc): receive
 * in slices of IPC_RR_TICK_MS with a look at the server between them, so a
 * dead server fails the wait within about one tick. */
static ipc_err rr_pump_tick(ipc_rr_client *c, const struct ipc_deadline *dl,
                            size_t *n)
{
    for (;;) {
        struct ipc_deadline slice = rr_slice(dl, IPC_RR_TICK_MS);
        ipc_err err = rr_take(c, n, &slice);
        if (err != IPC_ETIMEDOUT && err != IPC_EAGAIN)
            return err;
        if (rr_server_dead(c))
            return rr_gone_err(c);
        if (ipc__deadline_expired(dl))
            return ipc__deadline_err(dl);
    }
}

/* A reply channel that reports its sender gone (rep_tells: the request's
 * connection on unix and tcp, whose end closes with the server's process;
 * a reply FIFO's writer; a reply queue's registered sender) tells that the
 * server is gone by itself, so a call sleeps in the receive, as a
 * hand-written client would (unix: one recvmsg). A server's forked
 * children that keep its descriptors keep it open: the README says so. */
static ipc_err rr_pump_conn(ipc_rr_client *c, const struct ipc_deadline *dl,
                            size_t *n)
{
    ipc_err err = rr_take(c, n, dl);
    /* Lossy: the detail says how (ICMP, or the lease). */
    return err == IPC_ECLOSED && !c->sc->lossy ? rr_gone_err(c) : err;
}

/* Receive one message within dl. IPC_OK with *n set, or the wait's error. */
static ipc_err rr_pump(ipc_rr_client *c, const struct ipc_deadline *dl,
                       size_t *n)
{
    if (c->rep_tells)
        return rr_pump_conn(c, dl, n);
    return c->rep_fd >= 0 ? rr_pump_poll(c, dl, n) : rr_pump_tick(c, dl, n);
}

/* ----------------------------------------------------------- connect */

/* Make the reply channel (a fresh name; sysv may meet a key in use).
 * Within the connect's timeout: a fifo: or unix: creator waits while
 * another holds the directory's lock to make a name there. */
static ipc_err rr_make_reply(ipc_rr_client *c, const char *address,
                             int timeout_ms)
{
    char query[48];
    snprintf(query, sizeof query, "?max_msg=%zu", c->max_msg);
    ipc_err err = IPC_EEXIST;
    for (int tries = 0; tries < 8 && err == IPC_EEXIST; tries++) {
        err = ipc__rr_reply_name(c->sc, address, query, c->rep_addr,
                                 sizeof c->rep_addr);
        if (err != IPC_OK)
            return err;
        err = ipc_open(c->rep_addr, IPC_F_RECV | IPC_F_CREATE | IPC_F_EXCL,
                       timeout_ms, &c->rep);
        if (err != IPC_OK && c->sc->keyfile)
            ipc__rr_remove(c->sc, c->rep_addr); /* the key file only */
    }
    c->rep_named = err == IPC_OK;
    return err;
}

static ipc_err rr_hello(ipc_rr_client *c, int timeout_ms)
{
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    pid_t pid = getpid();
    struct ipc_rr_ident me = {pid, ipc__rr_start_time(pid)};
    uint64_t nonce = ((uint64_t)pid << 32) ^ (uint64_t)ipc__now_ns();
    size_t len = ipc__rr_ident_encode(c->tx + IPC_RR_HDR, &me, c->rep_addr);
    if (IPC_RR_HDR + len > c->max_msg)
        return ipc__fail(IPC_EMSGSIZE,
                         "reqrep: max_msg %zu cannot carry "
                         "the hello",
                         c->max_msg);
    ipc_err err =
        ipc__rr_client_send(c, IPC_RR_HELLO, 0, nonce, c->tx + IPC_RR_HDR, len,
                            ipc__deadline_poll_ms(&dl));
    for (size_t n; err == IPC_OK;) {
        /* No server identity yet: plain waits until the deadline. Lossy:
         * the hello or the welcome may be lost, so the hello goes again
         * every IPC_RR_HELLO_MS (the server welcomes a copy to the same
         * slot). */
        struct ipc_deadline slice =
            c->sc->lossy ? rr_slice(&dl, IPC_RR_HELLO_MS) : dl;
        err = ipc_recv(c->rep, c->rx, c->max_msg, &n, NULL,
                       ipc__deadline_poll_ms(&slice));
        if (c->sc->lossy && err == IPC_ETIMEDOUT &&
            !ipc__deadline_expired(&dl)) {
            err = ipc__rr_client_send(c, IPC_RR_HELLO, 0, nonce,
                                      c->tx + IPC_RR_HDR, len, 0);
            continue; /* nothing was received */
        }
        struct ipc_rr_hdr h;
        if (err != IPC_OK || ipc__rr_decode(c->rx, n, &h) != IPC_OK ||
            h.kind != IPC_RR_WELCOME || h.id != nonce)
            continue;
        err = ipc__rr_ident_decode(c->rx + IPC_RR_HDR, h.len, &c->server, NULL,
                                   0);
        c->slot = h.slot;
        c->gen = h.gen;
        /* A pid we cannot see (another pid namespace) or whose start time
         * differs: liveness is then only what the channel tells. */
        if (err == IPC_OK &&
            (c->sc->remote ||
             ipc__rr_start_time(c->server.pid) != c->server.start))
            c->server.pid = 0;
        return err;
    }
    return err == IPC_ETIMEDOUT
               ? ipc__fail(err, "reqrep: no server answered the connect")
               : err;
}

/* What a wait polls: the reply channel where it has a descriptor, the
 * request channel's (for its hang-up), and the server's pidfd. The pidfd is
 * made while the pid is surely the server's: ipc_proc_watch checks the
 * start time the welcome gave after it is open, and from then on the
 * descriptor names that process alone, so a reused pid is never taken
 * for the server. IPC_ECLOSED if the server has exited already. */
static ipc_err rr_watch(ipc_rr_client *c)
{
    ipc_info info;
    /* shm: its receive ticks to judge senders (10 wake-ups in 300 ms,
     * measured), where the poll below sleeps: it keeps the poll. */
    c->rep_tells =
        c->sc->back || (!c->sc->spins && ipc_query(c->rep, &info) == IPC_OK &&
                        (info.caps & IPC_CAP_PEER_CLOSED));
    if (c->rep_tells)
        return IPC_OK; /* the channel tells (rr_pump_conn) */
    short events;
    if (ipc_pollfd(c->rep, &c->rep_fd, &c->rep_events) != IPC_OK)
        c->rep_fd = -1;
    if (ipc_pollfd(c->req, &c->req_fd, &events) != IPC_OK)
        c->req_fd = -1;
    if (!c->server.pid || !c->server.start)
        return IPC_OK; /* no identity to watch: what the channels tell */
    ipc_err err = ipc_proc_watch(c->server.pid, c->server.start, &c->server_fd);
    if (err == IPC_ENOENT)
        return ipc__fail(IPC_ECLOSED,
                         "reqrep: the server (pid %d) exited "
                         "during the connect",
                         (int)c->server.pid);
    if (err != IPC_OK)
        c->server_fd = -1; /* no pidfd here: the pid is checked each tick */
    return IPC_OK;
}

static ipc_err rr_connect(ipc_rr_client *c, const char *address, int timeout_ms)
{
    ipc_err err =
        ipc__open(address, IPC_F_SEND | c->sc->open_flags, timeout_ms, &c->req);
    if (err != IPC_OK)
        return err;
    ipc_info info;
    ipc_query(c->req, &info);
    c->max_msg = info.max_msg;
    if (c->max_msg < IPC_RR_HDR + IPC_RR_IDENT + 64)
        return ipc__fail(IPC_EINVAL, "reqrep: max_msg %zu leaves no room",
                         c->max_msg);
    c->tx = malloc(c->max_msg);
    c->rx = malloc(c->max_msg);
    if (!c->tx || !c->rx)
        return ipc__fail(IPC_ENOMEM, "reqrep: buffers of %zu bytes",
                         c->max_msg);
    if (c->sc->back) {
        /* Replies come back on this connection: no name to make. */
        err = ipc__channel_back(c->req, timeout_ms, &c->rep);
        if (err == IPC_OK) {
            ipc_query(c->req, &info); /* lowered to the server's */
            c->max_msg = info.max_msg;
        }
    } else {
        ipc__rr_sweep_names(c->sc, address);
        err = rr_make_reply(c, address, timeout_ms);
    }
    if (err != IPC_OK)
        return err;
    if ((err = rr_hello(c, timeout_ms)) != IPC_OK)
        return err;
    if ((err = rr_watch(c)) != IPC_OK)
        return err;
    /* The server has its end open: the name can go, and then nothing is
     * left if either side is killed (the objects live while open). */
    if (c->sc->unlink_early) {
        ipc_unlink(c->rep_addr);
        c->rep_named = false;
    }
    return IPC_OK;
}

/* One client, connected, or freed with the error. */
static ipc_err rr_client_new(const struct ipc_rr_scheme *sc,
                             const char *address, int timeout_ms,
                             ipc_rr_client **out)
{
    ipc_rr_client *c = calloc(1, sizeof *c);
    if (!c)
        return ipc__fail(IPC_ENOMEM, "reqrep: client");
    c->sc = sc;
    c->next_id = 1;
    c->server_fd = c->rep_fd = c->req_fd = -1;
    ipc_err err = rr_connect(c, address, timeout_ms);
    if (err != IPC_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", ipc_last_detail());
        ipc_rr_disconnect(c);
        return ipc__fail(err, "%s", detail);
    }
    *out = c;
    return IPC_OK;
}

ipc_err ipc_rr_connect(const char *address, int timeout_ms, ipc_rr_client **out)
{
    if (!out)
        return ipc__fail(IPC_EINVAL, "reqrep: out is NULL");
    *out = NULL;
    ipc_err err;
    const struct ipc_rr_scheme *sc = ipc__rr_scheme(address, &err);
    if (!sc)
        return err;
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    err = rr_client_new(sc, address, timeout_ms, out);
    /* Again where the connection closed before the welcome and the scheme
     * says that a listener may have been restarted under it; the next
     * dial may still meet the old one closing: a few tries, a pause
     * (IPC_RR_REDIAL_MS, doubled) before each. */
    long nap_ns = IPC_RR_REDIAL_MS * 1000000L;
    for (int i = 0;
         i < IPC_RR_REDIALS && err == IPC_ECLOSED && sc->redial &&
         ipc__nap_upto(&dl, &nap_ns, 8 * IPC_RR_REDIAL_MS * 1000000L) == IPC_OK;
         i++)
        err = rr_client_new(sc, address, ipc__deadline_poll_ms(&dl), out);
    return err;
}

void ipc_rr_disconnect(ipc_rr_client *c)
{
    if (!c)
        return;
    if (c->req && c->rep && !c->server_gone && c->gen)
        ipc__rr_client_send(c, IPC_RR_BYE, 0, 0, NULL, 0, 0);
    ipc_close(c->req);
    ipc_close(c->rep);
    if (c->server_fd >= 0)
        close(c->server_fd);
    if (c->rep_named)
        ipc__rr_remove(c->sc, c->rep_addr);
    for (size_t i = 0; i < c->npend; i++) {
        free(c->pend[i].data);
        free(c->pend[i].req);
    }
    free(c->pend);
    free(c->tx);
    free(c->rx);
    free(c);
}

/* -------------------------------------------------------------- calls */

ipc_err ipc_rr_start(ipc_rr_client *c, const void *req, size_t len,
                     unsigned flags, int timeout_ms, uint64_t *call)
{
    if (!c || !call || (len && !req) || flags & ~(unsigned)IPC_RR_IDEMPOTENT)
        return ipc__fail(IPC_EINVAL, "reqrep: bad argument to start");
    if (len > c->max_msg - IPC_RR_HDR)
        return ipc__fail(IPC_EMSGSIZE,
                         "reqrep: request of %zu bytes, at "
                         "most %zu",
                         len, c->max_msg - IPC_RR_HDR);
    if (c->server_gone)
        return ipc__fail(IPC_ECLOSED, "reqrep: the server is gone");
    if (c->npend == c->cap_pend) {
        size_t cap = c->cap_pend ? 2 * c->cap_pend : 8;
        struct rr_pending *grown = realloc(c->pend, cap * sizeof *grown);
        if (!grown)
            return ipc__fail(IPC_ENOMEM, "reqrep: pending calls");
        c->pend = grown;
        c->cap_pend = cap;
    }
    struct rr_pending p = {.id = c->next_id++, .state = RR_WAITING};
    ipc_err err;
    if (c->sc->lossy) {
        p.flags = flags;
        err = ipc__rr_lossy_start(c, &p, req, len, timeout_ms);
    } else {
        err = ipc__rr_client_send(c, IPC_RR_REQUEST, flags, p.id, req, len,
                                  timeout_ms);
    }
    if (err != IPC_OK)
        return err;
    c->pend[c->npend++] = p;
    *call = p.id;
    return IPC_OK;
}

/* Hand a finished call to its waiter: IPC_OK, or why it failed. */
static ipc_err rr_finish(ipc_rr_client *c, struct rr_pending *p, void *buf,
                         size_t cap, size_t *len)
{
    if (p->state == RR_FAILED) {
        ipc_err err = p->err;
        *len = 0;
        rr_forget(c, p);
        return ipc__fail(err,
                         "reqrep: call failed at the server or on the "
                         "way (%s)",
                         ipc_errname(err));
    }
    *len = p->len;
    if (p->len > cap)
        return ipc__fail(IPC_EMSGSIZE,
                         "reqrep: reply of %zu bytes, buffer "
                         "of %zu",
                         p->len, cap);
    if (p->len)
        memcpy(buf, p->data, p->len);
    rr_forget(c, p);
    return IPC_OK;
}

ipc_err ipc_rr_wait(ipc_rr_client *c, uint64_t call, void *buf, size_t cap,
                    size_t *len, int timeout_ms)
{
    if (!c || !len || (cap && !buf))
        return ipc__fail(IPC_EINVAL, "reqrep: bad argument to wait");
    struct rr_pending *p = ipc__rr_find(c, call);
    if (!p)
        return ipc__fail(IPC_EINVAL, "reqrep: call %llu is not pending",
                         (unsigned long long)call);
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    while (p->state == RR_WAITING) {
        size_t n;
        ipc_err err = rr_pump(c, &dl, &n);
        /* The array may have moved (forget, realloc): look again. */
        p = ipc__rr_find(c, call);
        if (err != IPC_OK) {
            if (p->state != RR_WAITING)
                break;
            return err;
        }
        if (n == 0)
            continue; /* lossy: no message, a state may have changed */
        /* The common case, the reply to this call right away: copied
         * once, from rx to the caller, when it fits. */
        struct ipc_rr_hdr h;
        if (ipc__rr_decode(c->rx, n, &h) == IPC_OK && h.kind == IPC_RR_REPLY &&
            h.id == call && h.slot == c->slot && h.gen == c->gen &&
            h.len <= cap) {
            memcpy(buf, c->rx + IPC_RR_HDR, h.len);
            *len = h.len;
            rr_forget(c, p);
            return IPC_OK;
        }
        rr_dispatch(c, n);
    }
    return rr_finish(c, p, buf, cap, len);
}

ipc_err ipc_rr_cancel(ipc_rr_client *c, uint64_t call)
{
    struct rr_pending *p = c ? ipc__rr_find(c, call) : NULL;
    if (!p)
        return ipc__fail(IPC_EINVAL, "reqrep: call %llu is not pending",
                         (unsigned long long)call);
    rr_forget(c, p);
    return IPC_OK;
}

ipc_err ipc_rr_call(ipc_rr_client *c, const void *req, size_t len, void *buf,
                    size_t cap, size_t *rlen, unsigned flags, int timeout_ms)
{
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    uint64_t call;
    ipc_err err = ipc_rr_start(c, req, len, flags, timeout_ms, &call);
    if (err != IPC_OK)
        return err;
    err = ipc_rr_wait(c, call, buf, cap, rlen, ipc__deadline_poll_ms(&dl));
    if (err == IPC_ETIMEDOUT || err == IPC_EAGAIN)
        ipc_rr_cancel(c, call);
    return err;
}

size_t ipc_rr_max_payload(const ipc_rr_client *c)
{
    return c ? c->max_msg - IPC_RR_HDR : 0;
}

uint64_t ipc_rr_dropped(const ipc_rr_client *c)
{
    return c ? c->dropped : 0;
}
