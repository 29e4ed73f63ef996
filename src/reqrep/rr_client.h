/* SPDX-License-Identifier: MIT */
/* Request/reply client internals shared by client.c and lossy.c. */
#ifndef IPC_RR_CLIENT_H
#define IPC_RR_CLIENT_H

#include "ipc_int.h"
#include "rr_int.h"

enum { RR_WAITING, RR_DONE, RR_FAILED };

struct rr_pending {
    uint64_t id;
    int state;
    ipc_err err;
    unsigned char *data; /* the reply, once it came for this call */
    size_t len;
    /* Lossy schemes (udp) only: lossy.c. */
    unsigned flags;     /* the call's IPC_RR_* flags */
    unsigned char *req; /* its payload, kept for a resend */
    size_t req_len;
    unsigned missed; /* pongs in a row that did not hold it */
    bool refused;    /* the server did not know us and refused it, unrun */
    bool unsent;     /* started during a hello again: sent at the welcome */
    bool rehelloed;  /* sent again after a hello again already */
    bool resent;     /* the one resend of an idempotent call is done */
};

struct ipc_rr_client {
    const struct ipc_rr_scheme *sc;
    ipc_channel *req; /* to the server */
    ipc_channel *rep; /* our reply channel */
    char rep_addr[IPC_RR_ADDR_MAX];
    bool rep_named; /* the reply name still exists (ours to remove) */
    uint32_t slot, gen;
    uint64_t next_id;
    struct ipc_rr_ident server;
    int server_fd; /* the server's pidfd (ipc_proc_watch), or -1 */
    int rep_fd;    /* the reply channel's poll descriptor, or -1 */
    short rep_events;
    int req_fd; /* the request channel's poll descriptor, or -1 */
    bool server_gone;
    bool rep_tells; /* the reply channel reports the server's end gone */
    uint64_t dropped;
    size_t max_msg;
    unsigned char *tx, *rx; /* max_msg bytes each */
    struct rr_pending *pend;
    size_t npend, cap_pend;
    /* Lossy schemes (udp) only: lossy.c. */
    int64_t next_ping_ns; /* when a waiting call pings next */
    int64_t asked_ns;     /* the oldest ping or hello not answered; 0 none */
    uint64_t ping_seq;    /* the last ping's number */
    uint64_t pong_seq;    /* the newest pong's: older ones are stale */
    size_t ping_from;     /* where in pend the next ping's ids start */
    uint64_t rehello;     /* a hello sent again, its nonce; 0: none */
    int64_t rehello_ns;   /* when it was last sent */
};

/* Send one message to the server (client.c): the header, then payload. */
ipc_err ipc__rr_client_send(ipc_rr_client *c, unsigned kind, unsigned flags,
                            uint64_t id, const void *payload, size_t len,
                            int timeout_ms);
/* The server is gone: every pending call fails with IPC_ECLOSED. */
void ipc__rr_server_gone(ipc_rr_client *c);
/* The pending call with this id, or NULL. Inline: every wait looks once. */
static inline struct rr_pending *ipc__rr_find(ipc_rr_client *c, uint64_t id)
{
    /* Calls in flight are few (one per outstanding request); newest last,
     * and replies mostly come in order, so search from the oldest. */
    for (size_t i = 0; i < c->npend; i++)
        if (c->pend[i].id == id)
            return &c->pend[i];
    return NULL;
}

/* --- Lossy schemes (lossy.c) ------------------------------------------ */

/* Send a new call's request p (or keep it for the welcome of a hello sent
 * again), keeping its payload for the one resend. */
ipc_err ipc__rr_lossy_start(ipc_rr_client *c, struct rr_pending *p,
                            const void *req, size_t len, int timeout_ms);
/* Before a wait: ping (or hello again) when due, and set *slice, the wait
 * up to dl, the next ping or the lease's end, whichever comes first. */
void ipc__rr_lossy_tick(ipc_rr_client *c, const struct ipc_deadline *dl,
                        struct ipc_deadline *slice);
/* After a wait that found nothing: IPC_ECLOSED (every call failed) if a
 * ping or hello has gone unanswered for IPC_RR_LEASE_MS, else IPC_OK. */
ipc_err ipc__rr_lossy_silent(ipc_rr_client *c);
/* A message of n bytes came: pongs, refusals and welcomes are taken here.
 * IPC_OK: a message for the caller (*n kept), or, with *n set to 0, none,
 * but a call's state may have changed; IPC_EAGAIN: taken, nothing
 * changed. */
ipc_err ipc__rr_lossy_heard(ipc_rr_client *c, size_t *n);

#endif /* IPC_RR_CLIENT_H */
