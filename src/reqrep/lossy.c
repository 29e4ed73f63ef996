/* SPDX-License-Identifier: MIT */
/* Request/reply over a lossy scheme (udp): the client's pings while a call
 * waits, lost calls, the lease on a silent server, a hello sent again to a
 * server that forgot the client; the server's record of a client's calls
 * (held ones for pongs, seen ones to drop duplicates). */
#include "rr_client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RR_MS 1000000LL

/* ------------------------------------------------------------- server */

void ipc__rr_calls_init(struct ipc_rr_calls *k)
{
    memset(k, 0, sizeof *k);
    k->seen_base = 1; /* call ids start at 1 */
}

void ipc__rr_calls_free(struct ipc_rr_calls *k)
{
    free(k->held);
    k->held = NULL;
    k->nheld = k->cap = 0;
}

static bool rr_holds(const struct ipc_rr_calls *k, uint64_t id)
{
    for (size_t i = 0; i < k->nheld; i++)
        if (k->held[i] == id)
            return true;
    return false;
}

/* A window of the last 64 ids: a client numbers its calls in order, so a
 * copy comes while its id is still in the window; an id below it is
 * refused (a request that came 64 calls late: its client finds it lost). */
static bool rr_seen(const struct ipc_rr_calls *k, uint64_t id)
{
    if (id < k->seen_base)
        return true;
    if (id - k->seen_base >= 64)
        return false;
    return k->seen_bits >> (id - k->seen_base) & 1;
}

bool ipc__rr_fresh(const struct ipc_rr_calls *k, const struct ipc_rr_hdr *h)
{
    if (rr_holds(k, h->id))
        return false; /* a copy of a call still running, or its resend */
    return (h->flags & IPC_RR_RESENT) || !rr_seen(k, h->id);
}

bool ipc__rr_hold(struct ipc_rr_calls *k, uint64_t id)
{
    if (k->nheld == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 8;
        uint64_t *grown = realloc(k->held, cap * sizeof *grown);
        if (!grown)
            return false;
        k->held = grown;
        k->cap = cap;
    }
    k->held[k->nheld++] = id;
    if (id < k->seen_base)
        return true; /* a resend of an old call */
    if (id - k->seen_base >= 64) {
        uint64_t base = id - 63, shift = base - k->seen_base;
        k->seen_bits = shift >= 64 ? 0 : k->seen_bits >> shift;
        k->seen_base = base;
    }
    k->seen_bits |= 1ull << (id - k->seen_base);
    return true;
}

void ipc__rr_unhold(struct ipc_rr_calls *k, uint64_t id)
{
    for (size_t i = 0; i < k->nheld; i++)
        if (k->held[i] == id) {
            k->held[i] = k->held[--k->nheld];
            return;
        }
}

size_t ipc__rr_pong(const struct ipc_rr_calls *k, const unsigned char *ping,
                    size_t len, unsigned char *out)
{
    if (len < 8 || len % 8 != 0 || len > IPC_RR_PING_MAX)
        return 0;
    memcpy(out, ping, 8); /* the ping's number */
    for (size_t at = 8; at < len; at += 8) {
        uint64_t id = ipc__rr_get64(ping + at) & ~IPC_RR_HELD;
        ipc__rr_put64(out + at, id | (rr_holds(k, id) ? IPC_RR_HELD : 0));
    }
    return len;
}

uint32_t ipc__rr_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    x ^= (uint64_t)getpid() << 32 ^ (uint64_t)ipc__now_ns();
    /* splitmix64's finaliser: every input bit moves every output bit. */
    x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ x >> 27) * 0x94d049bb133111ebull;
    return (uint32_t)(x ^ x >> 31);
}

/* ------------------------------------------------------------- client */

static ipc_err rr_send_call(ipc_rr_client *c, struct rr_pending *p,
                            unsigned flags, int timeout_ms)
{
    p->missed = 0;
    p->unsent = false;
    return ipc__rr_client_send(c, IPC_RR_REQUEST, flags, p->id, p->req,
                               p->req_len, timeout_ms);
}

ipc_err ipc__rr_lossy_start(ipc_rr_client *c, struct rr_pending *p,
                            const void *req, size_t len, int timeout_ms)
{
    /* A copy of every request: the library's one resend (idempotent
     * calls) and a hello sent again need it, and a datagram's round trip
     * costs far more than this allocation. */
    p->req = malloc(len ? len : 1);
    if (!p->req)
        return ipc__fail(IPC_ENOMEM, "reqrep: a copy of the request");
    if (len)
        memcpy(p->req, req, len);
    p->req_len = len;
    bool waiting = false;
    for (size_t i = 0; i < c->npend && !waiting; i++)
        waiting = c->pend[i].state == RR_WAITING;
    if (!waiting) /* the first ping comes one interval after this call */
        c->next_ping_ns = ipc__now_ns() + IPC_RR_PING_MS * RR_MS;
    if (c->rehello) {
        p->unsent = true; /* our slot is being made again */
        return IPC_OK;
    }
    ipc_err err = rr_send_call(c, p, p->flags, timeout_ms);
    if (err != IPC_OK) {
        free(p->req);
        p->req = NULL;
    }
    return err;
}

/* A ping: its number, then the ids of up to IPC_RR_PING_IDS waiting calls
 * (those sent already), from ping_from on, so that every call is asked
 * about in turn when there are more. */
static void rr_ping(ipc_rr_client *c, int64_t now)
{
    size_t cap = (c->max_msg - IPC_RR_HDR) / 8 - 1, n = 0;
    if (cap > IPC_RR_PING_IDS)
        cap = IPC_RR_PING_IDS;
    unsigned char *out = c->tx + IPC_RR_HDR;
    if (c->ping_from >= c->npend)
        c->ping_from = 0;
    size_t i = c->ping_from;
    for (size_t seen = 0; seen < c->npend && n < cap; seen++) {
        const struct rr_pending *p = &c->pend[i];
        if (p->state == RR_WAITING && !p->unsent)
            ipc__rr_put64(out + 8 * ++n, p->id);
        i = (i + 1) % c->npend;
    }
    c->ping_from = i;
    c->next_ping_ns = now + IPC_RR_PING_MS * RR_MS;
    if (n == 0)
        return; /* nothing to ask about */
    ipc__rr_put64(out, ++c->ping_seq);
    /* Timeout 0: a ping that finds the socket full is one lost ping. */
    ipc__rr_client_send(c, IPC_RR_PING, 0, 0, out, 8 * (n + 1), 0);
    if (!c->asked_ns)
        c->asked_ns = now;
}

static void rr_hello_again(ipc_rr_client *c, int64_t now)
{
    pid_t pid = getpid();
    struct ipc_rr_ident me = {pid, ipc__rr_start_time(pid)};
    size_t len = ipc__rr_ident_encode(c->tx + IPC_RR_HDR, &me, NULL);
    if (!c->rehello)
        c->rehello = ((uint64_t)pid << 32 ^ (uint64_t)now) | 1;
    c->rehello_ns = now;
    ipc__rr_client_send(c, IPC_RR_HELLO, 0, c->rehello, c->tx + IPC_RR_HDR, len,
                        0);
    if (!c->asked_ns)
        c->asked_ns = now;
}

static int64_t rr_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

ipc_err ipc__rr_lossy_silent(ipc_rr_client *c)
{
    /* Judged only once the socket was found empty: an answer that came
     * while nobody waited is in it, and counts. */
    if (!c->asked_ns || ipc__now_ns() - c->asked_ns < IPC_RR_LEASE_MS * RR_MS)
        return IPC_OK;
    ipc__rr_server_gone(c);
    return ipc__fail(IPC_ECLOSED,
                     "reqrep: the server has not answered for %d ms "
                     "(IPC_RR_LEASE_MS): its host or the path is gone",
                     IPC_RR_LEASE_MS);
}

void ipc__rr_lossy_tick(ipc_rr_client *c, const struct ipc_deadline *dl,
                        struct ipc_deadline *slice)
{
    int64_t now = ipc__now_ns();
    int64_t next;
    if (c->rehello) {
        if (now - c->rehello_ns >= IPC_RR_HELLO_MS * RR_MS)
            rr_hello_again(c, now);
        next = c->rehello_ns + IPC_RR_HELLO_MS * RR_MS;
    } else {
        if (now >= c->next_ping_ns)
            rr_ping(c, now);
        next = c->next_ping_ns;
    }
    if (c->asked_ns)
        next = rr_min(next, c->asked_ns + IPC_RR_LEASE_MS * RR_MS);
    if (dl->nonblock || dl->at_ns <= next)
        *slice = *dl;
    else
        *slice = (struct ipc_deadline){.at_ns = next, .nonblock = false};
}

/* A call the server no longer holds, unanswered: resent once if the
 * caller said it is idempotent, else lost (it may have run). */
static void rr_lost(ipc_rr_client *c, struct rr_pending *p)
{
    if ((p->flags & IPC_RR_IDEMPOTENT) && !p->resent) {
        p->resent = true;
        rr_send_call(c, p, p->flags | IPC_RR_RESENT, 0);
        return;
    }
    p->state = RR_FAILED;
    p->err = IPC_ELOST;
}

/* A pong: IPC_OK if a call was found lost, else IPC_EAGAIN. */
static ipc_err rr_pong(ipc_rr_client *c, const struct ipc_rr_hdr *h)
{
    const unsigned char *in = c->rx + IPC_RR_HDR;
    if (h->len < 8 || h->len % 8 || h->slot != c->slot || h->gen != c->gen)
        return IPC_EAGAIN;
    uint64_t seq = ipc__rr_get64(in);
    if (seq <= c->pong_seq || seq > c->ping_seq)
        return IPC_EAGAIN; /* a copy, late, or not an answer to us */
    c->pong_seq = seq;
    bool changed = false;
    for (size_t at = 8; at < h->len; at += 8) {
        uint64_t v = ipc__rr_get64(in + at);
        struct rr_pending *p = ipc__rr_find(c, v & ~IPC_RR_HELD);
        if (!p || p->state != RR_WAITING || p->unsent)
            continue;
        if (v & IPC_RR_HELD) {
            p->missed = 0;
        } else if (++p->missed >= IPC_RR_LOST_PONGS) {
            rr_lost(c, p);
            changed = true;
        }
    }
    return changed ? IPC_OK : IPC_EAGAIN;
}

/* The server does not know us (FAIL IPC_ENOENT to a request, or id 0 to a
 * ping): it released us while idle, or it is a new server at the address.
 * It ran nothing it refused so: say hello again, and send those calls
 * again at the welcome (once). */
static void rr_refused(ipc_rr_client *c, const struct ipc_rr_hdr *h)
{
    struct rr_pending *p = h->id ? ipc__rr_find(c, h->id) : NULL;
    if (p && p->state == RR_WAITING && !p->unsent) {
        if (p->rehelloed) {
            p->state = RR_FAILED; /* refused twice: no third try */
            p->err = IPC_ECLOSED;
        } else {
            p->refused = true;
        }
    }
    if (!c->rehello)
        rr_hello_again(c, ipc__now_ns());
}

/* The welcome to a hello sent again: the new slot, then every waiting call
 * is sent (those started meanwhile), sent again (those refused unrun,
 * and idempotent ones), or lost (it may have run before we were
 * forgotten and its reply been lost). */
static void rr_welcomed(ipc_rr_client *c, const struct ipc_rr_hdr *h)
{
    struct ipc_rr_ident server;
    if (ipc__rr_ident_decode(c->rx + IPC_RR_HDR, h->len, &server, NULL, 0) !=
        IPC_OK)
        return;
    c->slot = h->slot;
    c->gen = h->gen;
    c->rehello = 0;
    c->pong_seq = c->ping_seq; /* pongs for the old slot are stale */
    c->next_ping_ns = ipc__now_ns() + IPC_RR_PING_MS * RR_MS;
    for (size_t i = 0; i < c->npend; i++) {
        struct rr_pending *p = &c->pend[i];
        if (p->state != RR_WAITING)
            continue;
        if (p->unsent) {
            rr_send_call(c, p, p->flags, 0);
        } else if (p->refused) {
            p->refused = false;
            p->rehelloed = true;
            rr_send_call(c, p, p->flags, 0);
        } else {
            p->missed = IPC_RR_LOST_PONGS;
            rr_lost(c, p);
        }
    }
}

ipc_err ipc__rr_lossy_heard(ipc_rr_client *c, size_t *n)
{
    struct ipc_rr_hdr h;
    if (ipc__rr_decode(c->rx, *n, &h) != IPC_OK)
        return IPC_OK; /* the caller counts it dropped */
    c->asked_ns = 0;   /* the server answers */
    bool ours = h.slot == c->slot && h.gen == c->gen;
    switch (h.kind) {
    case IPC_RR_PONG:
        if (c->rehello || rr_pong(c, &h) != IPC_OK)
            return IPC_EAGAIN;
        break;
    case IPC_RR_FAIL:
        if (h.status != IPC_ENOENT || !ours)
            return IPC_OK;
        rr_refused(c, &h);
        break;
    case IPC_RR_WELCOME:
        if (!c->rehello || h.id != c->rehello)
            return IPC_EAGAIN; /* a copy of an old welcome */
        rr_welcomed(c, &h);
        break;
    default:
        return IPC_OK;
    }
    *n = 0;
    return IPC_OK;
}
