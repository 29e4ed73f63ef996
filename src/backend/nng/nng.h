/* SPDX-License-Identifier: MIT */
/* nng backend, internal: the end's state and what its files share
 * (nng.c: addresses, push/pull channels, the ops table; rr.c: the raw
 * req/rep mode request/reply opens, replies back on the request's pipe). */
#ifndef IPC_NNG_H
#define IPC_NNG_H

#include "ipc_int.h"

#include <nng/nng.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct ipc__nng_link;
struct ipc__nng_watch;

struct nngch_end {
    nng_socket sock;
    bool sock_open;
    int epfd;         /* receiver, once polled: RECVFD + heldfd; else -1 */
    int heldfd;       /* with epfd: readable while held != NULL; else -1 */
    nng_msg *held;    /* a message refused with IPC_EMSGSIZE, kept */
    int timeo_ms;     /* the SENDTIMEO/RECVTIMEO last set; INT32_MIN: none */
    bool sent;        /* sender: a send went through (its close lingers) */
    atomic_int pipes; /* sender: connections up (nng's pipe events) */
    struct ipc__nng_watch *watch; /* receiver: its listener (listen.c) */
    /* Request/reply mode (rr.c); link NULL on push/pull ends. */
    struct ipc__nng_link *link; /* the socket, shared by the ends on it */
    uint32_t pipe; /* server's request end: the pipe of the message last
                      taken; a server's way back: its client's pipe */
    int gone_rd;   /* a server's way back: hangs up (POLLHUP) once its
                      client's pipe is gone; else -1 */
    int gone_wr;   /* its write end, closed then; else -1 */
    bool gone;     /* a server's way back: the client's pipe is gone */
    struct nngch_end *next; /* in the link's list of ways back */
    nng_aio *aio; /* a server's request end, a client's way back: their
                     receive; a server's way back: its send; else NULL */
};

static inline struct nngch_end *nngch_priv(const ipc_channel *ch)
{
    return ipc__priv(ch);
}

/* nng.c */
/* IPC_ENOTSUP in a child forked after this process used nng. */
ipc_err ipc__nng_usable(void);
bool ipc__nng_forked(void);
/* nng's error rv as a code, with nng_strerror in the detail. */
ipc_err ipc__nng_fail(int rv, const char *what, const char *url);

/* listen.c */
/* Is a socket of SP protocol proto's peer listening at ipc path? */
bool ipc__nng_ipc_live(const char *path, unsigned proto);
/* nng_listen, the listener watched and restarted if nng 1.5 stops it
 * (peers of SP protocol proto); *w closes it. nng's error code. */
int ipc__nng_listen(nng_socket sock, const char *url, unsigned proto,
                    struct ipc__nng_watch **w);
/* Close the listener and end its watch; NULL: nothing. */
void ipc__nng_unlisten(struct ipc__nng_watch *w);
/* A synchronous nng_dial, tried again within dl where the connection was
 * reset in the handshake (a listener restarted). nng's error code. */
int ipc__nng_dial(nng_socket sock, const char *url, int flags,
                  const struct ipc_deadline *dl);
/* Take the message kept by an IPC_EMSGSIZE receive; NULL if none. */
nng_msg *ipc__nng_unhold(struct nngch_end *ne);
/* The end of a receive: msg's body into buf and freed, or kept (heldfd,
 * where the end has one, readable) and IPC_EMSGSIZE when over cap. */
ipc_err ipc__nng_deliver(struct nngch_end *ne, nng_msg *msg, void *buf,
                         size_t cap, size_t *len);
/* A pipe over TCP: give its socket net.h's bounds on a vanished peer
 * (nng 1.5 has no timed keepalive; Linux: found in /proc/self/fd). */
void ipc__nng_tcp_bound(nng_pipe pipe);

/* rr.c: the request/reply mode (IPC__F_BACK). */
ipc_err ipc__nng_rr_open(ipc_channel *ch, const char *url, unsigned flags,
                         const struct ipc_deadline *dl);
ipc_err ipc__nng_rr_send(ipc_channel *ch, const void *buf, size_t len,
                         const struct ipc_deadline *dl);
ipc_err ipc__nng_rr_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                         const struct ipc_deadline *dl);
ipc_err ipc__nng_rr_take(ipc_channel *ch, nng_msg **msg,
                         const struct ipc_deadline *dl);
ipc_err ipc__nng_rr_back(ipc_channel *ch, ipc_channel *out,
                         const struct ipc_deadline *dl);
void ipc__nng_rr_close(ipc_channel *ch);
/* Is this request/reply end the server's (else a client's)? */
bool ipc__nng_rr_server(const struct nngch_end *ne);

#endif /* IPC_NNG_H */
