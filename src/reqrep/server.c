/* SPDX-License-Identifier: MIT */
/* Request/reply server: one request channel, a table of connected clients
 * (each with the reply channel it made), replies from any thread. */
#include "ipc_int.h"
#include "rr_int.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Replies up to this size are built on the stack; larger ones in a buffer
 * allocated for the call (replies come from any thread, so no shared one). */
#define RR_STACK_REPLY 4096

/* The peer shut its side of a connection (Linux); elsewhere POLLHUP,
 * once both sides are shut. */
#ifdef POLLRDHUP
#define RR_RDHUP POLLRDHUP
#else
#define RR_RDHUP 0
#endif

/* A connected client. Freed once dead and no reply is using it. */
struct rr_peer {
    uint32_t gen;
    bool dead;
    bool remove; /* found dead: remove its reply name (sysv) */
    int refs;    /* replies in progress (server lock) */
    struct ipc_rr_ident ident;
    bool uid_known;
    uid_t uid;
    ipc_channel *rep;
    pthread_mutex_t send_lock; /* one sender at a time on rep */
    char addr[IPC_RR_ADDR_MAX];
    /* Lossy schemes (udp) only; server lock. */
    uint64_t nonce;   /* its hello's: a resent hello gets the same slot */
    int64_t heard_ns; /* the last datagram from it: its idle lease */
    struct ipc_rr_calls lossy;
};

struct ipc_rr_server {
    const struct ipc_rr_scheme *sc;
    ipc_channel *req;
    ipc_channel *self; /* our own sender, where the receiver hears "closed" */
    char addr[IPC_RR_ADDR_MAX];
    pthread_mutex_t lock; /* peers, npeers, refs, dead */
    struct rr_peer **peers;
    size_t npeers;
    uint32_t next_gen;
    bool peer_uid; /* the request channel reports senders' uids */
    size_t max_msg;
    unsigned char *rx;
    size_t held; /* a request kept for a larger buffer: its length */
    int64_t next_sweep_ns;
    struct ipc_rr_ident me;
};

/* The request handle's fields. */
#define RR_REQ_UID_KNOWN   (1ull << 32)
#define RR_REQ_FLAGS_SHIFT 40

static void rr_peer_free(const struct ipc_rr_scheme *sc, struct rr_peer *p)
{
    ipc_close(p->rep);
    /* fifo, mq, shm: the client removed the name after the welcome; this
     * only matters when it died before that, or for sysv. A live client
     * removes its own (a sysv queue may still hold its last reply). */
    if (p->remove && p->addr[0])
        ipc__rr_remove(sc, p->addr);
    pthread_mutex_destroy(&p->send_lock);
    ipc__rr_calls_free(&p->lossy);
    free(p);
}

/* Mark a peer gone; free it now unless a reply is using it. Lock held. */
static void rr_peer_drop(ipc_rr_server *s, uint32_t slot)
{
    struct rr_peer *p = s->peers[slot];
    if (!p)
        return;
    p->dead = true;
    if (p->refs == 0) {
        s->peers[slot] = NULL;
        rr_peer_free(s->sc, p);
    }
}

static struct rr_peer *rr_peer_get(ipc_rr_server *s, uint32_t slot,
                                   uint32_t gen)
{
    if (slot >= s->npeers || !s->peers[slot])
        return NULL;
    struct rr_peer *p = s->peers[slot];
    return p->gen == gen && !p->dead ? p : NULL;
}

/* A client whose replies go back on its connection lives as long as the
 * connection (a hang-up, seen without reading what it sent); any other is
 * its process, judged by pid and start time. A lossy client (udp) has
 * neither: it lives while it is heard from, or holds a call the server
 * has not answered yet (its reply still goes out, then the lease runs). */
static bool rr_peer_alive(const struct ipc_rr_scheme *sc,
                          const struct rr_peer *p, int64_t now)
{
    if (sc->lossy)
        return p->lossy.nheld > 0 ||
               now - p->heard_ns < IPC_RR_IDLE_MS * 1000000LL;
    if (!sc->back)
        return ipc__rr_alive(p->ident.pid, p->ident.start);
    int fd;
    short events;
    if (ipc_pollfd(p->rep, &fd, &events) != IPC_OK)
        return true;
    struct pollfd pfd = {.fd = fd, .events = RR_RDHUP};
    return poll(&pfd, 1, 0) != 1 ||
           !(pfd.revents & (RR_RDHUP | POLLHUP | POLLERR));
}

void ipc_rr_server_sweep(ipc_rr_server *s)
{
    if (!s)
        return;
    int64_t now = ipc__now_ns();
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < s->npeers; i++)
        if (s->peers[i] && !s->peers[i]->dead &&
            !rr_peer_alive(s->sc, s->peers[i], now)) {
            s->peers[i]->remove = true;
            rr_peer_drop(s, i);
        }
    pthread_mutex_unlock(&s->lock);
    s->next_sweep_ns = ipc__now_ns() + IPC_RR_SWEEP_MS * 1000000LL;
}

size_t ipc_rr_server_clients(ipc_rr_server *s)
{
    size_t n = 0;
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->npeers; i++)
        n += s->peers[i] && !s->peers[i]->dead;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* A free slot (growing the table), under the lock; UINT32_MAX if none. */
static uint32_t rr_slot(ipc_rr_server *s)
{
    for (uint32_t i = 0; i < s->npeers; i++)
        if (!s->peers[i])
            return i;
    size_t cap = s->npeers ? 2 * s->npeers : 16;
    if (cap >= UINT32_MAX)
        return UINT32_MAX;
    struct rr_peer **grown = realloc(s->peers, cap * sizeof *grown);
    if (!grown)
        return UINT32_MAX;
    memset(grown + s->npeers, 0, (cap - s->npeers) * sizeof *grown);
    s->peers = grown;
    uint32_t slot = (uint32_t)s->npeers;
    s->npeers = cap;
    return slot;
}

static void rr_peer_send(struct rr_peer *p, const struct ipc_rr_hdr *h,
                         const void *payload, unsigned char *msg,
                         int timeout_ms, ipc_err *err)
{
    ipc__rr_encode(msg, h);
    /* One copy: the header must sit right before the payload. */
    if (h->len)
        memcpy(msg + IPC_RR_HDR, payload, h->len);
    pthread_mutex_lock(&p->send_lock);
    *err = ipc_send(p->rep, msg, IPC_RR_HDR + h->len, 0, timeout_ms);
    pthread_mutex_unlock(&p->send_lock);
}

static void rr_welcome(ipc_rr_server *s, struct rr_peer *p, uint32_t slot,
                       uint64_t nonce)
{
    unsigned char msg[IPC_RR_HDR + IPC_RR_IDENT];
    struct ipc_rr_hdr w = {IPC_RR_WELCOME, 0,     0,           slot,
                           p->gen,         nonce, IPC_RR_IDENT};
    unsigned char ident[IPC_RR_IDENT];
    ipc__rr_ident_encode(ident, &s->me, NULL);
    ipc_err err;
    rr_peer_send(p, &w, ident, msg, 1000, &err);
    if (err != IPC_OK) {
        pthread_mutex_lock(&s->lock);
        rr_peer_drop(s, slot);
        pthread_mutex_unlock(&s->lock);
    }
}

/* Lossy: a hello the client sent again (its first, or our welcome, was
 * lost) names a peer we have: welcome it again to the same slot. */
static bool rr_hello_again(ipc_rr_server *s, const struct ipc_rr_hdr *h)
{
    struct ipc_rr_ident id;
    if (!s->sc->lossy || ipc__rr_ident_decode(s->rx + IPC_RR_HDR, h->len, &id,
                                              NULL, 0) != IPC_OK)
        return false;
    pthread_mutex_lock(&s->lock);
    uint32_t slot = 0;
    struct rr_peer *p = NULL;
    for (; slot < s->npeers && !p; slot++) {
        struct rr_peer *q = s->peers[slot];
        if (q && !q->dead && q->nonce == h->id && q->ident.pid == id.pid &&
            q->ident.start == id.start)
            p = q;
    }
    if (p) {
        p->heard_ns = ipc__now_ns();
        p->refs++; /* no reply thread frees it meanwhile */
    }
    pthread_mutex_unlock(&s->lock);
    if (!p)
        return false;
    rr_welcome(s, p, slot - 1, h->id);
    pthread_mutex_lock(&s->lock);
    p->refs--;
    if (p->dead)
        rr_peer_drop(s, slot - 1);
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* A hello: open the client's reply channel and answer with its slot. */
static void rr_hello(ipc_rr_server *s, const struct ipc_rr_hdr *h, bool uid_ok,
                     uid_t uid)
{
    if (rr_hello_again(s, h))
        return;
    struct rr_peer *p = calloc(1, sizeof *p);
    if (!p)
        return; /* the client times out its connect */
    bool back = s->sc->back;
    if (ipc__rr_ident_decode(s->rx + IPC_RR_HDR, h->len, &p->ident,
                             back ? NULL : p->addr, sizeof p->addr) != IPC_OK ||
        (!back && !ipc__rr_reply_ok(s->sc, s->addr, p->addr, &p->ident)) ||
        pthread_mutex_init(&p->send_lock, NULL) != 0) {
        free(p);
        return;
    }
    p->uid_known = uid_ok;
    p->uid = uid;
    p->nonce = h->id;
    p->heard_ns = ipc__now_ns();
    ipc__rr_calls_init(&p->lossy);
    /* Back on the hello's connection (right after its receive), or the
     * client's reply channel: short, it made the channel before its hello
     * and waits. */
    if ((back ? ipc__channel_back(s->req, 0, &p->rep)
              : ipc_open(p->addr, IPC_F_SEND, 1000, &p->rep)) != IPC_OK) {
        pthread_mutex_destroy(&p->send_lock);
        free(p);
        return;
    }
    pthread_mutex_lock(&s->lock);
    uint32_t slot = rr_slot(s);
    if (slot != UINT32_MAX) {
        p->gen = ++s->next_gen ? s->next_gen : ++s->next_gen;
        s->peers[slot] = p;
    }
    pthread_mutex_unlock(&s->lock);
    if (slot == UINT32_MAX) {
        rr_peer_free(s->sc, p);
        return;
    }
    rr_welcome(s, p, slot, h->id);
}

ipc_err ipc_rr_serve(const char *address, unsigned flags, ipc_rr_server **out)
{
    if (!out || flags & ~(unsigned)(IPC_F_EXCL | IPC_F_REPLACE))
        return ipc__fail(IPC_EINVAL, "reqrep: bad argument to serve");
    *out = NULL;
    ipc_err err;
    const struct ipc_rr_scheme *sc = ipc__rr_scheme(address, &err);
    if (!sc)
        return err;
    if (strlen(address) >= IPC_RR_ADDR_MAX)
        return ipc__fail(IPC_EINVAL, "reqrep: address too long");
    ipc_rr_server *s = calloc(1, sizeof *s);
    if (!s || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return ipc__fail(IPC_ENOMEM, "reqrep: server");
    }
    s->sc = sc;
    snprintf(s->addr, sizeof s->addr, "%s", address);
    s->me.pid = getpid();
    s->me.start = ipc__rr_start_time(s->me.pid);
    /* Lossy: a client of an earlier server at this address may still send
     * with its slot and generation; a generation that starts anywhere
     * makes it unlikely (2^-32) that the new server takes it for one of
     * its own clients instead of telling it to say hello again. */
    if (sc->lossy)
        s->next_gen = ipc__rr_seed();
    ipc__rr_sweep_names(sc, address);
    /* Not 0: a fifo: or unix: creator waits (briefly) while another
     * process holds the directory's lock to make a name there. */
    err = ipc__open(address, IPC_F_RECV | IPC_F_CREATE | flags | sc->open_flags,
                    IPC_RR_CREATE_MS, &s->req);
    ipc_info info;
    if (err == IPC_OK && (err = ipc_query(s->req, &info)) == IPC_OK) {
        s->max_msg = info.max_msg;
        s->peer_uid = info.caps & IPC_CAP_PEER_UID;
        /* A FIFO reader sees end-of-file once its last writer leaves, and
         * then every read returns at once: clients come and go, so the
         * server holds a writer itself (the classic FIFO server). */
        if (info.caps & IPC_CAP_PEER_CLOSED)
            err = ipc_open(address, IPC_F_SEND, 0, &s->self);
        if (err == IPC_OK && !(s->rx = malloc(s->max_msg)))
            err = ipc__fail(IPC_ENOMEM, "reqrep: %zu-byte buffer", s->max_msg);
    }
    if (err != IPC_OK) {
        ipc_rr_server_close(s);
        return err;
    }
    s->next_sweep_ns = ipc__now_ns() + IPC_RR_SWEEP_MS * 1000000LL;
    *out = s;
    return IPC_OK;
}

void ipc_rr_server_close(ipc_rr_server *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i])
            rr_peer_free(s->sc, s->peers[i]);
    free(s->peers);
    ipc_close(s->self);
    ipc_close(s->req);
    free(s->rx);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Take the next message into rx: the held one first, else from the
 * channel in slices that leave room for the sweep. */
static ipc_err rr_take(ipc_rr_server *s, const struct ipc_deadline *dl,
                       size_t *n)
{
    if (s->held) {
        *n = s->held;
        s->held = 0;
        return IPC_OK;
    }
    for (;;) {
        int64_t now = ipc__now_ns();
        if (now >= s->next_sweep_ns)
            ipc_rr_server_sweep(s);
        int left = ipc__deadline_poll_ms(dl);
        int slice = left < 0 || left > IPC_RR_SWEEP_MS ? IPC_RR_SWEEP_MS : left;
        ipc_err err = ipc_recv(s->req, s->rx, s->max_msg, n, NULL, slice);
        if (err != IPC_ETIMEDOUT && err != IPC_EAGAIN)
            return err;
        if (ipc__deadline_expired(dl))
            return ipc__deadline_err(dl);
    }
}

/* Lossy: answer a ping with a pong (what we hold of the calls it names),
 * and a request or ping from a client we do not know (released while
 * idle, or a client of an earlier server here) with FAIL IPC_ENOENT, to
 * the datagram's source, so that it says hello again. */
static void rr_lossy_answer(ipc_rr_server *s, const struct ipc_rr_hdr *h,
                            bool known)
{
    if (h->kind != IPC_RR_PING && h->kind != IPC_RR_REQUEST)
        return;
    if (!known) {
        struct ipc_rr_hdr f = {IPC_RR_FAIL, 0,     IPC_ENOENT, h->slot,
                               h->gen,      h->id, 0};
        unsigned char msg[IPC_RR_HDR];
        ipc__rr_encode(msg, &f);
        ipc_channel *to;
        if (ipc__channel_back(s->req, 0, &to) == IPC_OK) {
            ipc_send(to, msg, sizeof msg, 0, 0);
            ipc_close(to);
        }
        return;
    }
    if (h->kind != IPC_RR_PING)
        return;
    unsigned char msg[IPC_RR_HDR + IPC_RR_PING_MAX];
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    struct rr_peer *p = rr_peer_get(s, h->slot, h->gen);
    if (p && (n = ipc__rr_pong(&p->lossy, s->rx + IPC_RR_HDR, h->len,
                               msg + IPC_RR_HDR)) > 0)
        p->refs++; /* no reply thread frees it meanwhile */
    pthread_mutex_unlock(&s->lock);
    if (!p || n == 0)
        return; /* unknown, or a malformed ping: dropped */
    struct ipc_rr_hdr pong = {IPC_RR_PONG, 0, 0, h->slot, h->gen, 0, n};
    ipc_err err;
    rr_peer_send(p, &pong, msg + IPC_RR_HDR, msg, 0, &err);
    pthread_mutex_lock(&s->lock);
    p->refs--;
    if (p->dead)
        rr_peer_drop(s, h->slot);
    pthread_mutex_unlock(&s->lock);
}

/* Lossy: the request about to be returned is seen (a copy that comes
 * later is dropped) and held (pings hear so) until its reply. */
static bool rr_lossy_hold(ipc_rr_server *s, const struct ipc_rr_hdr *h)
{
    pthread_mutex_lock(&s->lock);
    struct rr_peer *p = rr_peer_get(s, h->slot, h->gen);
    bool ok = p && ipc__rr_hold(&p->lossy, h->id);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

ipc_err ipc_rr_recv(ipc_rr_server *s, void *buf, size_t cap, size_t *len,
                    ipc_rr_req *req, int timeout_ms)
{
    if (!s || !len || !req || (cap && !buf))
        return ipc__fail(IPC_EINVAL, "reqrep: bad argument to recv");
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    for (;;) {
        size_t n;
        ipc_err err = rr_take(s, &dl, &n);
        if (err == IPC_EPROTO)
            continue; /* the channel dropped a peer's garbage */
        if (err != IPC_OK)
            return err;
        struct ipc_rr_hdr h;
        if (ipc__rr_decode(s->rx, n, &h) != IPC_OK)
            continue; /* not ours: dropped, the server goes on */
        uid_t uid = 0;
        bool uid_ok = s->peer_uid && ipc_peer_uid(s->req, &uid) == IPC_OK;
        if (h.kind == IPC_RR_HELLO) {
            rr_hello(s, &h, uid_ok, uid);
            continue;
        }
        pthread_mutex_lock(&s->lock);
        struct rr_peer *p = rr_peer_get(s, h.slot, h.gen);
        /* Where uids are known, a message must come from the client's
         * own uid: no one else can end or impersonate it. */
        bool ok = p && (!p->uid_known || (uid_ok && uid == p->uid));
        bool take = ok && h.kind == IPC_RR_REQUEST;
        if (ok && s->sc->lossy) {
            p->heard_ns = ipc__now_ns();
            take = take && ipc__rr_fresh(&p->lossy, &h);
        }
        if (ok && h.kind == IPC_RR_BYE)
            rr_peer_drop(s, h.slot);
        pthread_mutex_unlock(&s->lock);
        if (s->sc->lossy)
            rr_lossy_answer(s, &h, ok);
        if (!take)
            continue;
        *len = h.len;
        if (h.len > cap) {
            s->held = n;
            return ipc__fail(IPC_EMSGSIZE,
                             "reqrep: request of %zu bytes, "
                             "buffer of %zu",
                             h.len, cap);
        }
        if (s->sc->lossy && !rr_lossy_hold(s, &h))
            continue; /* out of memory: the client finds the call lost */
        memcpy(buf, s->rx + IPC_RR_HDR, h.len);
        req->opaque_[0] = (uint64_t)h.slot | (uint64_t)h.gen << 32;
        req->opaque_[1] = h.id;
        req->opaque_[2] = (uint64_t)uid | (uid_ok ? RR_REQ_UID_KNOWN : 0) |
                          (uint64_t)(h.flags & IPC_RR_IDEMPOTENT)
                              << RR_REQ_FLAGS_SHIFT;
        return IPC_OK;
    }
}

ipc_err ipc_rr_req_uid(const ipc_rr_req *req, uid_t *uid)
{
    if (!req || !uid)
        return ipc__fail(IPC_EINVAL, "reqrep: NULL request or uid");
    if (!(req->opaque_[2] & RR_REQ_UID_KNOWN))
        return ipc__fail(IPC_ENOTSUP, "reqrep: this channel does not tell "
                                      "the sender's uid");
    *uid = (uid_t)(req->opaque_[2] & 0xffffffffu);
    return IPC_OK;
}

unsigned ipc_rr_req_flags(const ipc_rr_req *req)
{
    return req ? (unsigned)(req->opaque_[2] >> RR_REQ_FLAGS_SHIFT) & 0xff : 0;
}

ipc_err ipc_rr_reply(ipc_rr_server *s, const ipc_rr_req *req, const void *buf,
                     size_t len, int timeout_ms)
{
    if (!s || !req || (len && !buf))
        return ipc__fail(IPC_EINVAL, "reqrep: bad argument to reply");
    uint32_t slot = (uint32_t)req->opaque_[0];
    uint32_t gen = (uint32_t)(req->opaque_[0] >> 32);
    pthread_mutex_lock(&s->lock);
    struct rr_peer *p = rr_peer_get(s, slot, gen);
    if (p)
        p->refs++;
    pthread_mutex_unlock(&s->lock);
    if (!p)
        return ipc__fail(IPC_ECLOSED, "reqrep: the client is gone");
    bool too_big = len > s->max_msg - IPC_RR_HDR;
    /* Too big: the client still learns at once that its call failed. */
    struct ipc_rr_hdr h = {too_big ? IPC_RR_FAIL : IPC_RR_REPLY,
                           0,
                           too_big ? IPC_EMSGSIZE : 0,
                           slot,
                           gen,
                           req->opaque_[1],
                           too_big ? 0 : len};
    unsigned char stack[RR_STACK_REPLY];
    unsigned char *msg =
        IPC_RR_HDR + h.len <= sizeof stack ? stack : malloc(IPC_RR_HDR + h.len);
    ipc_err err = IPC_ENOMEM;
    if (msg)
        rr_peer_send(p, &h, buf, msg, timeout_ms, &err);
    if (msg != stack)
        free(msg);
    pthread_mutex_lock(&s->lock);
    p->refs--;
    if (s->sc->lossy)
        ipc__rr_unhold(&p->lossy, req->opaque_[1]);
    if (err == IPC_ECLOSED || p->dead)
        rr_peer_drop(s, slot); /* frees it once no reply uses it */
    pthread_mutex_unlock(&s->lock);
    if (too_big && err == IPC_OK)
        return ipc__fail(IPC_EMSGSIZE,
                         "reqrep: reply of %zu bytes, at most "
                         "%zu",
                         len, s->max_msg - IPC_RR_HDR);
    if (err == IPC_ENOMEM && !msg)
        return ipc__fail(err, "reqrep: %zu-byte reply buffer", len);
    return err;
}
