/* SPDX-License-Identifier: MIT */
/* nng backend: request/reply's mode (IPC__F_BACK, never a user's address):
 * a raw req socket at the client, a rep socket with contexts at the
 * server, replies back on the request's own pipe. */
#include "nng.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Why req/rep. push/pull carries nothing back, and a reply channel the
 * client names would be an address the server cannot tell is the
 * client's (another host). nng's req/rep pair carries the reply back on
 * the request's pipe. The client's req socket is raw (nng_req0_open_raw):
 * no resend after a timeout, no re-queue of a request to another pipe
 * when a connection drops (cooked req does both), and no matching of
 * replies to requests: request/reply's own call ids match.
 *
 * The server's rep socket is cooked, with contexts. Raw rep hands every
 * reply through two queues, each a hop to one of nng's threads (measured
 * here: a round trip 180-190 us against 145-165 us with contexts, a
 * throwaway loop); a cooked context writes a reply from the caller's
 * thread. A context answers the one request it received, so each request
 * taken is bound to its context until replied to. A client's backtrace
 * is always the one word NNGRR_REQ_ID, so the contexts bound to requests
 * of one pipe are interchangeable: a reply to that pipe takes any of
 * them (struct nngrr_live). At most NNGRR_BOUND_MAX stay bound per pipe
 * (requests never answered: a hostile client's, those dropped as not
 * ours); beyond it a context goes back to take the next request, and a
 * reply that finds none closes the client's connection (its calls fail
 * with IPC_ECLOSED, never wait). A reply waits while nng writes an earlier one
 * to the same pipe (one at a time per pipe), for its timeout but at least
 * NNGRR_REPLY_MIN_MS, so that a reply with timeout 0 is not lost to a
 * write in progress; one that cannot go in time is lost (nng forgets its
 * request as the send starts), and so closes the client's connection too.
 *
 * The wire: a client's message is one backtrace word (NNGRR_REQ_ID, the
 * end mark) and the request; the reply carries the word back.
 * NNG_OPT_RECVMAXSZ is max_msg + the word.
 *
 * Peers. The client's request end dials (req, raw); its way back is a
 * receiving end on the same socket. The server's request end listens
 * (rep); its way back to a client is a sending end that replies on the
 * pipe of the message last taken (the client's hello). Death: nng's
 * pipe events. A client's socket has one pipe, to its server; when it is
 * removed (NNG_PIPE_EV_REM_POST: the server died, or its connection
 * broke), the client's ends answer IPC_ECLOSED for good: the event
 * cancels a reply wait (a receive in nng itself), and closes the write end
 * of a pipe(2) that a send waiting for room polls with nng's descriptor.
 * The dialer may reach a new server later: a new connect (ipc_rr_connect)
 * is the way to it. At the server each way back has such a pipe(2),
 * closed when its client's nng pipe is removed: its read end is
 * the end's descriptor, which hangs up (POLLHUP) then, and a send answers
 * IPC_ECLOSED instead of nng's silent "sent". Over TCP a peer whose host
 * vanished is removed too, within nng.c's keepalive bound (30 s).
 */

#define NNGRR_REQ_ID  0x80000000u /* the client's backtrace word */
#define NNGRR_WORD    4           /* its bytes */
#define NNGRR_REQ0    0x30        /* SP protocol numbers */
#define NNGRR_RECVBUF 1024 /* replies a client's socket queues (messages) */
/* How long a close waits for nng_close (see nngrr_close). */
#define NNGRR_CLOSE_MS 1000
/* The longest reconnect interval (as push/pull's senders). */
#define NNGRR_RECONN_MAX_MS 2000
/* Contexts a pipe keeps bound to requests not yet answered (see above). */
#define NNGRR_BOUND_MAX 4096
/* The least time a reply waits for nng to write an earlier one. */
#define NNGRR_REPLY_MIN_MS 100

/* Server: a pipe that is up, and the contexts bound to its requests. */
struct nngrr_live {
    nng_pipe pipe;
    nng_ctx *bound;
    size_t nbound, cap;
};

/* The socket and the state its ends share. */
struct ipc__nng_link {
    nng_socket sock;
    pthread_mutex_t lock;  /* everything below */
    pthread_cond_t closed; /* nngrr_closer is done */
    int refs;              /* ends on the socket */
    bool server;
    bool gone;        /* client: the server's pipe was removed (for good) */
    int gone_rd;      /* client: hangs up once gone; else -1 */
    nng_aio *waiting; /* client: the reply wait that gone cancels */
    int gone_wr;
    struct ipc__nng_watch *listener; /* server's (listen.c) */
    /* Server: pipes up (NNG_PIPE_EV_ADD_PRE..REM_POST), and contexts
     * bound to none (to take the next request). */
    struct nngrr_live *live;
    size_t nlive, cap_live;
    nng_ctx *spare;
    size_t nspare, cap_spare;
    struct nngch_end *backs; /* server: the ways back */
};

static void nngrr_hang_up(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static ipc_err nngrr_pipe2(int *rd, int *wr, unsigned flags)
{
    int fds[2];
    if (pipe2(fds, flags & IPC_F_INHERIT ? 0 : O_CLOEXEC) < 0)
        return ipc__errno(errno, "nng: pipe");
    *rd = fds[0];
    *wr = fds[1];
    return IPC_OK;
}

/* Push ctx onto a growing array; false when out of memory. */
static bool nngrr_push(nng_ctx **arr, size_t *n, size_t *cap, nng_ctx ctx)
{
    if (*n == *cap) {
        size_t grow = *cap ? 2 * *cap : 16;
        nng_ctx *grown = realloc(*arr, grow * sizeof *grown);
        if (!grown)
            return false;
        *arr = grown;
        *cap = grow;
    }
    (*arr)[(*n)++] = ctx;
    return true;
}

/* A context bound to no request, kept to take the next one; out of
 * memory, it is forgotten (nng_close frees it). Lock held. */
static void nngrr_spare(struct ipc__nng_link *lk, nng_ctx ctx)
{
    nngrr_push(&lk->spare, &lk->nspare, &lk->cap_spare, ctx);
}

/* Server: a pipe is up (before it can deliver a message); ENOMEM closes
 * it rather than lose track of it. Lock held. */
static void nngrr_live_add(struct ipc__nng_link *lk, nng_pipe pipe)
{
    if (lk->nlive == lk->cap_live) {
        size_t cap = lk->cap_live ? 2 * lk->cap_live : 16;
        struct nngrr_live *grown = realloc(lk->live, cap * sizeof *grown);
        if (!grown) {
            nng_pipe_close(pipe);
            return;
        }
        lk->live = grown;
        lk->cap_live = cap;
    }
    lk->live[lk->nlive++] = (struct nngrr_live){.pipe = pipe};
}

static struct nngrr_live *nngrr_live_find(struct ipc__nng_link *lk, uint32_t id)
{
    for (size_t i = 0; i < lk->nlive; i++)
        if ((uint32_t)nng_pipe_id(lk->live[i].pipe) == id)
            return &lk->live[i];
    return NULL;
}

/* A pipe is gone: its contexts take requests again. Lock held. */
static void nngrr_live_drop(struct ipc__nng_link *lk, uint32_t id)
{
    struct nngrr_live *lv = nngrr_live_find(lk, id);
    if (!lv)
        return;
    for (size_t i = 0; i < lv->nbound; i++)
        nngrr_spare(lk, lv->bound[i]);
    free(lv->bound);
    *lv = lk->live[--lk->nlive];
}

/* nng's thread: a pipe came or went. */
static void nngrr_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    struct ipc__nng_link *lk = arg;
    uint32_t id = nng_pipe_id(pipe);
    if (ev == NNG_PIPE_EV_ADD_POST) {
        ipc__nng_tcp_bound(pipe); /* a vanished peer's bound */
        return;
    }
    pthread_mutex_lock(&lk->lock);
    if (!lk->server) {
        lk->gone = true; /* REM_POST: the other event a client watches */
        nngrr_hang_up(&lk->gone_wr);
        if (lk->waiting)
            nng_aio_cancel(lk->waiting);
    } else if (ev == NNG_PIPE_EV_ADD_PRE) {
        nngrr_live_add(lk, pipe);
    } else {
        nngrr_live_drop(lk, id);
        for (struct nngch_end *b = lk->backs; b; b = b->next)
            if (b->pipe == id) {
                b->gone = true;
                nngrr_hang_up(&b->gone_wr);
            }
    }
    pthread_mutex_unlock(&lk->lock);
}

static void nngrr_free(struct ipc__nng_link *lk)
{
    nngrr_hang_up(&lk->gone_rd);
    nngrr_hang_up(&lk->gone_wr);
    pthread_cond_destroy(&lk->closed);
    pthread_mutex_destroy(&lk->lock);
    for (size_t i = 0; i < lk->nlive; i++)
        free(lk->live[i].bound);
    free(lk->live);
    free(lk->spare);
    free(lk);
}

/* nng_close, in a thread of its own that frees the link after it. */
static void *nngrr_closer(void *arg)
{
    struct ipc__nng_link *lk = arg;
    nng_close(lk->sock); /* after it, no pipe callback runs */
    pthread_mutex_lock(&lk->lock);
    bool last = --lk->refs == 0;
    pthread_cond_signal(&lk->closed);
    pthread_mutex_unlock(&lk->lock);
    if (last)
        nngrr_free(lk);
    return NULL;
}

/*
 * Close the socket. nng 1.5.2's nng_close sometimes never returns (nng
 * issue 1543, fixed in 1.6; measured here: about 1 server close in 30 in
 * reqrep.nng, nng's threads all idle, the closer waiting on a condition).
 * So the close runs in a thread of its own, waited for up to
 * NNGRR_CLOSE_MS; one that does not return in time is left behind (its
 * thread, the socket, the link: a leak, where nng would have hung the
 * caller). A server's listener is closed first, so that its address is
 * free even then. False: nng_close ran here (no thread could be made).
 */
static bool nngrr_close(struct ipc__nng_link *lk)
{
    if (lk->server)
        ipc__nng_unlisten(lk->listener);
    lk->listener = NULL;
    pthread_t tid;
    pthread_mutex_lock(&lk->lock);
    lk->refs = 2; /* this call's and the closer's */
    pthread_mutex_unlock(&lk->lock);
    if (pthread_create(&tid, NULL, nngrr_closer, lk) != 0) {
        nng_close(lk->sock);
        return false;
    }
    pthread_detach(tid);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += NNGRR_CLOSE_MS / 1000;
    pthread_mutex_lock(&lk->lock);
    while (lk->refs == 2 &&
           pthread_cond_timedwait(&lk->closed, &lk->lock, &until) == 0)
        ;
    bool last = --lk->refs == 0;
    pthread_mutex_unlock(&lk->lock);
    if (last)
        nngrr_free(lk);
    return true;
}

static void nngrr_unref(struct ipc__nng_link *lk)
{
    pthread_mutex_lock(&lk->lock);
    bool last = --lk->refs == 0;
    pthread_mutex_unlock(&lk->lock);
    if (!last)
        return;
    /* A forked child leaves nng alone (see nng.c). */
    if (ipc__nng_forked() || !nngrr_close(lk))
        nngrr_free(lk);
}

static ipc_err nngrr_link_new(ipc_channel *ch, bool server, unsigned flags,
                              const char *url)
{
    struct nngch_end *ne = nngch_priv(ch);
    struct ipc__nng_link *lk = calloc(1, sizeof *lk);
    if (!lk || pthread_mutex_init(&lk->lock, NULL) != 0) {
        free(lk);
        return ipc__fail(IPC_ENOMEM, "nng: out of memory");
    }
    if (pthread_cond_init(&lk->closed, NULL) != 0) {
        pthread_mutex_destroy(&lk->lock);
        free(lk);
        return ipc__fail(IPC_ENOMEM, "nng: out of memory");
    }
    lk->refs = 1;
    lk->server = server;
    lk->gone_rd = lk->gone_wr = -1;
    int rv = server ? nng_rep0_open(&lk->sock) : nng_req0_open_raw(&lk->sock);
    if (rv != 0) {
        nngrr_free(lk);
        return ipc__nng_fail(rv, server ? "rep socket for" : "req socket for",
                             url);
    }
    ne->link = lk;
    ne->sock = lk->sock;
    if (!server)
        return nngrr_pipe2(&lk->gone_rd, &lk->gone_wr, flags);
    return IPC_OK;
}

/* Options and pipe events, before the listen or dial. */
static ipc_err nngrr_setup(ipc_channel *ch, const char *url)
{
    struct ipc__nng_link *lk = nngch_priv(ch)->link;
    int rv = nng_socket_set_size(lk->sock, NNG_OPT_RECVMAXSZ,
                                 ch->max_msg + NNGRR_WORD);
    if (rv == 0 && lk->server)
        rv = nng_pipe_notify(lk->sock, NNG_PIPE_EV_ADD_PRE, nngrr_pipe_event,
                             lk);
    if (rv == 0 && !lk->server)
        rv = nng_socket_set_int(lk->sock, NNG_OPT_RECVBUF, NNGRR_RECVBUF);
    if (rv == 0 && !lk->server)
        rv = nng_socket_set_ms(lk->sock, NNG_OPT_RECONNMAXT,
                               NNGRR_RECONN_MAX_MS);
    if (rv == 0)
        rv = nng_pipe_notify(lk->sock, NNG_PIPE_EV_ADD_POST, nngrr_pipe_event,
                             lk);
    if (rv == 0)
        rv = nng_pipe_notify(lk->sock, NNG_PIPE_EV_REM_POST, nngrr_pipe_event,
                             lk);
    return rv == 0 ? IPC_OK : ipc__nng_fail(rv, "set up the socket for", url);
}

ipc_err ipc__nng_rr_open(ipc_channel *ch, const char *url, unsigned flags,
                         const struct ipc_deadline *dl)
{
    bool server = flags & IPC_F_RECV;
    if (server != !!(flags & IPC_F_CREATE))
        return ipc__fail(IPC_EINVAL,
                         "nng: %s: the server's end listens (IPC_F_CREATE), "
                         "a client's dials",
                         url);
    if (server && strncmp(url, "ipc://", 6) == 0 &&
        ipc__nng_ipc_live(url + 6, NNGRR_REQ0))
        return ipc__fail(IPC_EEXIST, "nng: %s: the address is in use", url);
    ipc_err err = nngrr_link_new(ch, server, flags, url);
    if (err == IPC_OK)
        err = nngrr_setup(ch, url);
    if (err != IPC_OK)
        return err;
    struct ipc__nng_link *lk = nngch_priv(ch)->link;
    if (server) {
        int rv = nng_aio_alloc(&nngch_priv(ch)->aio, NULL, NULL);
        if (rv != 0)
            return ipc__nng_fail(rv, "aio for", url);
        rv = ipc__nng_listen(lk->sock, url, NNGRR_REQ0, &lk->listener);
        if (rv == NNG_EADDRINUSE)
            return ipc__fail(IPC_EEXIST, "nng: %s: the address is in use", url);
        if (rv != 0)
            return ipc__nng_fail(rv, "listen on", url);
        return IPC_OK; /* its poll set comes with ipc_pollfd (nng.c) */
    }
    ch->caps &= ~(unsigned)IPC_CAP_POLLABLE;
    int rv = ipc__nng_dial(lk->sock, url, 0, dl);
    if (rv == NNG_ECONNREFUSED || rv == NNG_ENOENT)
        return ipc__fail(IPC_ENOENT, "nng: %s: nobody listens there", url);
    return rv == 0 ? IPC_OK : ipc__nng_fail(rv, "dial", url);
}

/* Client: is its server's pipe gone? (A server's way back reads its own
 * gone flag with its bound contexts, nngrr_reply.) */
static bool nngrr_gone(struct nngch_end *ne)
{
    struct ipc__nng_link *lk = ne->link;
    pthread_mutex_lock(&lk->lock);
    bool gone = lk->gone;
    pthread_mutex_unlock(&lk->lock);
    return gone;
}

/* Client: sleep until raw req has room again (nng's NNG_OPT_SENDFD polls
 * readable), the server's pipe is gone, or dl. */
static ipc_err nngrr_wait_room(struct nngch_end *ne,
                               const struct ipc_deadline *dl)
{
    struct ipc__nng_link *lk = ne->link;
    int fd, rv = nng_socket_get_int(lk->sock, NNG_OPT_SENDFD, &fd);
    if (rv != 0)
        return ipc__nng_fail(rv, "get", NNG_OPT_SENDFD);
    struct pollfd pfd[2] = {
        {.fd = fd, .events = POLLIN},
        {.fd = lk->gone_rd, .events = POLLIN},
    };
    ipc_err err = ipc__wait_fds(pfd, 2, dl);
    return err == IPC_OK ? IPC_OK : ipc__deadline_err(dl);
}

static ipc_err nngrr_gone_err(struct nngch_end *ne)
{
    return ipc__fail(IPC_ECLOSED, ne->link->server
                                      ? "nng: the client's pipe is gone"
                                      : "nng: the connection to the server "
                                        "is gone (connect again)");
}

/* Close the connection of a client whose request cannot be answered, so
 * that its calls fail with IPC_ECLOSED rather than wait. */
static void nngrr_cut(struct ipc__nng_link *lk, uint32_t id)
{
    pthread_mutex_lock(&lk->lock);
    struct nngrr_live *lv = nngrr_live_find(lk, id);
    nng_pipe pipe = lv ? lv->pipe : (nng_pipe)NNG_PIPE_INITIALIZER;
    pthread_mutex_unlock(&lk->lock);
    if (nng_pipe_id(pipe) > 0)
        nng_pipe_close(pipe); /* its removal takes the lock */
}

/* Server: msg as the reply to one of the pending requests of the way
 * back's client, on a context bound to it (see the top). */
static ipc_err nngrr_reply(struct nngch_end *ne, nng_msg *msg,
                           const struct ipc_deadline *dl)
{
    struct ipc__nng_link *lk = ne->link;
    nng_ctx ctx = NNG_CTX_INITIALIZER;
    pthread_mutex_lock(&lk->lock);
    struct nngrr_live *lv = ne->gone ? NULL : nngrr_live_find(lk, ne->pipe);
    bool have = lv && lv->nbound > 0, gone = ne->gone;
    if (have)
        ctx = lv->bound[--lv->nbound];
    pthread_mutex_unlock(&lk->lock);
    if (!have) {
        nng_msg_free(msg);
        if (gone)
            return nngrr_gone_err(ne);
        nngrr_cut(lk, ne->pipe);
        return ipc__fail(IPC_ECLOSED,
                         "nng: no request of this client awaits a reply "
                         "(over %d unanswered?): its connection is closed",
                         NNGRR_BOUND_MAX);
    }
    int ms = ipc__deadline_poll_ms(dl);
    if (ms >= 0 && ms < NNGRR_REPLY_MIN_MS)
        ms = NNGRR_REPLY_MIN_MS;
    nng_aio_set_timeout(ne->aio, ms < 0 ? NNG_DURATION_INFINITE : ms);
    nng_aio_set_msg(ne->aio, msg);
    nng_ctx_send(ctx, ne->aio);
    nng_aio_wait(ne->aio);
    int rv = nng_aio_result(ne->aio);
    pthread_mutex_lock(&lk->lock);
    nngrr_spare(lk, ctx); /* bound to nothing now, sent or not */
    pthread_mutex_unlock(&lk->lock);
    if (rv == 0)
        return IPC_OK;
    nng_msg_free(nng_aio_get_msg(ne->aio));
    nngrr_cut(lk, ne->pipe);
    if (rv == NNG_ETIMEDOUT)
        return ipc__fail(IPC_ECLOSED,
                         "nng: the reply was not written within %d ms (the "
                         "client reads none): its connection is closed",
                         ms);
    return ipc__nng_fail(rv, "reply on", "its request's pipe");
}

ipc_err ipc__nng_rr_send(ipc_channel *ch, const void *buf, size_t len,
                         const struct ipc_deadline *dl)
{
    struct nngch_end *ne = nngch_priv(ch);
    nng_msg *msg;
    /* A message of nng's own: the header words are nng's, not ours to
     * put before buf without a copy. */
    int rv = nng_msg_alloc(&msg, len);
    if (rv != 0)
        return ipc__nng_fail(rv, "message for", ch->address);
    if (len)
        memcpy(nng_msg_body(msg), buf, len);
    if (ne->link->server)
        return nngrr_reply(ne, msg, dl);
    rv = nng_msg_header_append_u32(msg, NNGRR_REQ_ID);
    ipc_err err =
        rv == 0 ? IPC_OK : ipc__nng_fail(rv, "header for", ch->address);
    while (err == IPC_OK) {
        if (nngrr_gone(ne)) {
            err = nngrr_gone_err(ne);
            break;
        }
        rv = nng_sendmsg(ne->sock, msg, NNG_FLAG_NONBLOCK);
        if (rv == 0) /* nng owns msg now */
            return IPC_OK;
        if (rv != NNG_EAGAIN)
            err = ipc__nng_fail(rv, "send on", ch->address);
        else if (dl->nonblock)
            err = ipc__fail(IPC_EAGAIN, "nng: no room to send now");
        else
            err = nngrr_wait_room(ne, dl);
    }
    nng_msg_free(msg);
    return err;
}

/* Server: take a request on a context, and bind the context to the
 * request's pipe (see the top). */
ipc_err ipc__nng_rr_take(ipc_channel *ch, nng_msg **msg,
                         const struct ipc_deadline *dl)
{
    struct nngch_end *ne = nngch_priv(ch);
    struct ipc__nng_link *lk = ne->link;
    nng_ctx ctx = NNG_CTX_INITIALIZER;
    pthread_mutex_lock(&lk->lock);
    bool have = lk->nspare > 0;
    if (have)
        ctx = lk->spare[--lk->nspare];
    pthread_mutex_unlock(&lk->lock);
    int rv = have ? 0 : nng_ctx_open(&ctx, lk->sock);
    if (rv != 0)
        return ipc__nng_fail(rv, "context for", ch->address);
    for (;;) {
        int ms = ipc__deadline_poll_ms(dl);
        nng_aio_set_timeout(ne->aio, ms < 0 ? NNG_DURATION_INFINITE : ms);
        nng_ctx_recv(ctx, ne->aio);
        nng_aio_wait(ne->aio);
        rv = nng_aio_result(ne->aio);
        /* nng's clock is in whole ms: wait on until ours has passed. */
        if (rv != NNG_ETIMEDOUT || ms == 0 || ipc__deadline_expired(dl))
            break;
    }
    pthread_mutex_lock(&lk->lock);
    struct nngrr_live *lv = NULL;
    if (rv == 0) {
        *msg = nng_aio_get_msg(ne->aio);
        lv = nngrr_live_find(lk, (uint32_t)nng_pipe_id(nng_msg_get_pipe(*msg)));
    }
    /* A pipe gone, or with enough bound: the context takes the next. */
    if (!lv || lv->nbound >= NNGRR_BOUND_MAX ||
        !nngrr_push(&lv->bound, &lv->nbound, &lv->cap, ctx))
        nngrr_spare(lk, ctx);
    pthread_mutex_unlock(&lk->lock);
    if (rv == NNG_ETIMEDOUT)
        return ipc__deadline_err(dl);
    return rv == 0 ? IPC_OK : ipc__nng_fail(rv, "receive on", ch->address);
}

/* Client: wait for a reply in nng's receive itself, ms at most (0: one
 * look), or until the server's pipe is gone: the pipe event cancels a
 * wait (nngrr_pipe_event). A blocking receive wakes on nng's condition;
 * polling nng's descriptor cost its write and read and a second look. */
static int nngrr_recv_wait(struct nngch_end *ne, int ms)
{
    struct ipc__nng_link *lk = ne->link;
    nng_aio_set_timeout(ne->aio, ms < 0 ? NNG_DURATION_INFINITE : ms);
    nng_recv_aio(lk->sock, ne->aio);
    if (ms != 0) {
        pthread_mutex_lock(&lk->lock);
        if (lk->gone)
            nng_aio_cancel(ne->aio);
        else
            lk->waiting = ne->aio;
        pthread_mutex_unlock(&lk->lock);
    }
    nng_aio_wait(ne->aio);
    if (ms != 0) {
        pthread_mutex_lock(&lk->lock);
        lk->waiting = NULL;
        pthread_mutex_unlock(&lk->lock);
    }
    return nng_aio_result(ne->aio);
}

ipc_err ipc__nng_rr_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                         const struct ipc_deadline *dl)
{
    struct nngch_end *ne = nngch_priv(ch);
    nng_msg *msg = ipc__nng_unhold(ne);
    while (!msg) {
        /* Gone: one look, since a reply that came before the server died
         * is taken first. */
        bool gone = nngrr_gone(ne);
        int ms = gone ? 0 : ipc__deadline_poll_ms(dl);
        int rv = nngrr_recv_wait(ne, ms);
        if (rv == 0) {
            msg = nng_aio_get_msg(ne->aio);
            break;
        }
        if (gone)
            return nngrr_gone_err(ne);
        if (rv == NNG_ECANCELED)
            continue; /* the pipe went: look once more */
        if (rv != NNG_ETIMEDOUT)
            return ipc__nng_fail(rv, "receive on", ch->address);
        /* nng's clock is in whole ms: wait on until ours has passed. */
        if (ms == 0 || ipc__deadline_expired(dl))
            return ipc__deadline_err(dl);
    }
    /* Raw req moved the id to the header: the body is the reply. */
    return ipc__nng_deliver(ne, msg, buf, cap, len);
}

ipc_err ipc__nng_rr_back(ipc_channel *ch, ipc_channel *out,
                         const struct ipc_deadline *dl)
{
    (void)dl; /* nothing to wait for: the pipe is up, or gone */
    struct nngch_end *ne = nngch_priv(ch), *back = nngch_priv(out);
    struct ipc__nng_link *lk = ne->link;
    back->epfd = back->heldfd = back->gone_rd = back->gone_wr = -1;
    back->timeo_ms = INT32_MIN;
    if (!lk)
        return ipc__fail(IPC_ENOTSUP, "nng: push/pull carries nothing back");
    out->caps &= ~(unsigned)IPC_CAP_POLLABLE;
    /* A server's way back sends with it, a client's receives. */
    int rv = nng_aio_alloc(&back->aio, NULL, NULL);
    if (rv != 0)
        return ipc__nng_fail(rv, "aio for", ch->address);
    if (lk->server) {
        ipc_err err = nngrr_pipe2(&back->gone_rd, &back->gone_wr, out->flags);
        if (err != IPC_OK)
            return err;
        out->caps |= IPC_CAP_POLLABLE & ch->be->caps; /* gone_rd */
        back->pipe = ne->pipe;
    }
    pthread_mutex_lock(&lk->lock);
    lk->refs++;
    back->link = lk;
    back->sock = lk->sock;
    if (lk->server) {
        /* The client may be gone already: its pipe's removal came before
         * this end was listed. */
        if (!nngrr_live_find(lk, back->pipe)) {
            back->gone = true;
            nngrr_hang_up(&back->gone_wr);
        }
        back->next = lk->backs;
        lk->backs = back;
    }
    pthread_mutex_unlock(&lk->lock);
    return IPC_OK;
}

bool ipc__nng_rr_server(const struct nngch_end *ne)
{
    return ne->link->server;
}

void ipc__nng_rr_close(ipc_channel *ch)
{
    struct nngch_end *ne = nngch_priv(ch);
    struct ipc__nng_link *lk = ne->link;
    if (!lk) {
        nngrr_hang_up(&ne->gone_rd);
        nngrr_hang_up(&ne->gone_wr);
        return;
    }
    pthread_mutex_lock(&lk->lock);
    for (struct nngch_end **at = &lk->backs; *at; at = &(*at)->next)
        if (*at == ne) {
            *at = ne->next;
            break;
        }
    nngrr_hang_up(&ne->gone_rd);
    nngrr_hang_up(&ne->gone_wr);
    pthread_mutex_unlock(&lk->lock);
    if (ne->aio && !ipc__nng_forked())
        nng_aio_free(ne->aio);
    ne->aio = NULL;
    ne->link = NULL;
    ne->sock_open = false;
    nngrr_unref(lk);
}
