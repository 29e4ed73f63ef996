/* SPDX-License-Identifier: MIT */
/* libipc request/reply: calls from clients to a server over any named
 * channel, with ids, deadlines and prompt failure when a peer dies. */
#ifndef IPC_REQREP_H
#define IPC_REQREP_H

#include <ipc/ipc.h>

#include <stdint.h>

/*
 * A server creates a named channel and receives requests on it; each client
 * connects by the same address and calls: it sends a request and waits for
 * the reply that carries the same call id. Built on the channel API.
 *
 * unix, tcp: a client's sending end is a connection, and replies come back
 * on it: nothing is named or left behind, a client lives as long as its
 * connection, and tcp works across hosts (no pid is used; open both ends
 * with the same max_msg).
 *
 * nng+ (nng+tcp://, nng+ipc://, nng+ws://...): the request channel is
 * opened with nng's req/rep sockets in raw mode (only request/reply
 * reaches that mode; a plain nng+ sender cannot talk to such a server),
 * and each reply rides back on its request's nng pipe. Raw req never
 * resends a request and never moves it to another connection when one
 * drops (nng's own req does both). No pid is used. The server's death is
 * nng's pipe event (the connection removed): every pending call fails
 * with IPC_ECLOSED at once (a call sleeps in one poll on nng's
 * descriptor and a pipe that event closes), and the client stays closed
 * even after its dialer reaches a new server there: connect again. A
 * client's death is its pipe's removal; the sweep releases it. Open both
 * ends with the same max_msg (nng drops the connection of a larger
 * message). Peer uid: IPC_ENOTSUP. A child forked after nng was used gets
 * IPC_ENOTSUP (exec starts afresh). nng before 1.6 (issue 1518): a client
 * killed during the connection's SP handshake stops the server's listener
 * (connected clients go on, new ones time out). nng 1.5.2's socket close
 * can hang (issue 1543): it runs in a thread waited for up to 1 s, and
 * one that hangs is left behind, leaked, rather than hang the caller.
 *
 * udp (DNS/CoAP-style calls; any host): a reply goes to the address and
 * port its request came from, sent from the port the client sent to; the
 * client's socket is connected there and takes nothing else. No pid is
 * used. UDP loses and duplicates datagrams, so:
 *   - While a call waits, the client pings every IPC_RR_PING_MS with the
 *     ids of its pending calls; the server answers (inside ipc_rr_recv)
 *     which of them it holds (received, not replied to).
 *   - Server gone: an ICMP port unreachable answering a ping (Linux; not
 *     rate-limited on loopback) fails every pending call IPC_ECLOSED at
 *     once (about one IPC_RR_PING_MS after the death); no answer at all
 *     for IPC_RR_LEASE_MS (host or path gone, ICMP filtered) too, so a
 *     call never waits past IPC_RR_PING_MS + IPC_RR_LEASE_MS of silence,
 *     even with timeout -1. The server answers pings only inside
 *     ipc_rr_recv(): a server whose receiving thread spends longer than
 *     IPC_RR_LEASE_MS in one request makes its clients' calls fail so;
 *     run long requests in another thread (ipc_rr_reply works from any).
 *   - Lost calls: a call the server did not hold in two pongs in a row,
 *     whose reply did not come, is lost: the request or its reply was
 *     dropped. A call marked IPC_RR_IDEMPOTENT is then sent once more
 *     (the library's only resend; it may run twice, if the reply was the
 *     one lost); any other fails with IPC_ELOST: it may have run.
 *   - Duplicates: the server drops a request whose id it saw lately (the
 *     last 64 ids per client; an older one is dropped too: its call is
 *     then found lost).
 *   - Client death: the server cannot see it. A client silent (no
 *     datagram of any kind) for IPC_RR_IDLE_MS and holding no call of the
 *     server's is released at the next sweep. A request or ping from a
 *     client the server does not know (released while idle, or a client
 *     of an earlier server at the port) is refused unrun (a FAIL
 *     IPC_ENOENT): the client says hello again and sends the refused
 *     calls once more, unseen by the caller. So an idle client costs one
 *     extra round trip when the server has forgotten it.
 *   - No authentication: a source address is trivial to forge. A FAIL or
 *     a reply goes to a datagram's source, so a forger can aim the
 *     server's answers at a third host; answers to unknown clients are 32
 *     bytes, no larger than what came, but replies are as large as the
 *     server makes them: do not expose a udp server where reflection or
 *     amplification matters.
 *   - The payload is at most max_msg - IPC_RR_HDR (max_msg: at most 65507
 *     bytes over IPv4; beyond the path MTU a datagram is fragmented, and
 *     a lost fragment loses it). Peer uid: IPC_ENOTSUP.
 *
 * Reply channels (fifo, mq, shm, sysv). The server's channel carries
 * requests from every client. Replies go back on a channel of the same
 * scheme that each client makes for itself at ipc_rr_connect() and removes
 * at ipc_rr_disconnect(). Its name embeds the client's pid and process
 * start time, so a dead client's channel is recognised by anyone (the pid
 * is gone, or now belongs to a process that started later), and is left
 * nowhere after a kill -9:
 *   fifo, mq, shm: the name is removed as soon as the server has opened it
 *          (both ends keep working); only a client killed during
 *          ipc_rr_connect() can leave one, and the next ipc_rr_connect()
 *          or ipc_rr_serve() for that server removes it.
 *   sysv:  a queue cannot outlive its name, so it stays until the client
 *          disconnects, or the server finds the client dead (at most
 *          IPC_RR_SWEEP_MS after its death, during ipc_rr_recv) and removes
 *          it; a key file "<tmpdir>/ipc-rr.<pid>.<start>.<n>" names it, and
 *          the next ipc_rr_connect() removes those of dead clients.
 *
 * Call ids. Every request carries a 64-bit id, unique in its client. A reply
 * whose id is not pending (its call timed out, was cancelled, or never
 * existed) is dropped and counted (ipc_rr_dropped()), never delivered to
 * another call. Nothing is ever sent twice by the library, except on udp
 * (below): an idempotent call found lost, and a call the server refused
 * unrun because it did not know the client.
 *
 * Server death. A pending call fails with IPC_ECLOSED once the server is
 * gone, also with timeout -1. At connect the client learns the server's pid
 * and start time and, on Linux 5.3+, holds a pidfd for that process
 * (ipc_proc_watch: a reused pid is never taken for the server; tcp,
 * nng+: no pid, the connection's end or keepalive tells, within 30 s for
 * a vanished host; udp: pings, below). unix, tcp, fifo,
 * mq and shm: the reply channel has a descriptor, and a call waits in one
 * poll() on it, the pidfd and the request channel's, so every pending call
 * fails as soon as the server's exit is known (the kernel's, not a tick).
 * sysv: its receivers have no descriptor, so a call waits in slices of
 * IPC_RR_TICK_MS and looks at the pidfd between them: a death is seen
 * within about one tick (shm too where its end cannot be polled: /proc
 * not mounted). Without a pidfd (older kernels, not
 * Linux) the pid and start time are checked in /proc each tick, on every
 * backend. A server in another pid namespace cannot be watched: its death
 * is then only seen where a channel tells (fifo: the reply FIFO's last
 * writer is gone; unix: the request connection hangs up).
 *
 * Client death. The server drops a dead client's reply channel when a reply
 * to it fails with IPC_ECLOSED, when the client's disconnect message comes,
 * or when a sweep (every IPC_RR_SWEEP_MS during ipc_rr_recv()) finds its pid
 * gone (unix, tcp, nng+: its connection hung up; udp: silent for
 * IPC_RR_IDLE_MS);
 * requests it left queued are still delivered, and replying to them
 * answers IPC_ECLOSED.
 *
 * Sizes. A message is a 32-byte header and the payload, so requests and
 * replies carry at most the channel's max_msg - IPC_RR_HDR bytes
 * (ipc_rr_max_payload()).
 *
 * Flow control. Both channels are bounded: a client with more calls in
 * flight than the request and reply channels hold together, that does not
 * wait for replies, makes the server's reply wait (up to its timeout). On
 * mq each client's reply queue counts against RLIMIT_MSGQUEUE. nng+:
 * replies to one client are written one at a time; a reply that cannot be
 * written within its timeout (at least 100 ms: a client that reads none)
 * closes that client's connection, so the reply and the client's calls
 * fail with IPC_ECLOSED instead of waiting.
 *
 * Threads. A client is used by one thread at a time (several calls may
 * still be in flight: ipc_rr_start() then ipc_rr_wait() in any order). A
 * server is received from by one thread at a time; ipc_rr_reply() may be
 * called from any thread, concurrently with ipc_rr_recv() and other
 * replies. ipc_rr_server_close() must not race with either.
 */

#ifdef __cplusplus
extern "C" {
#endif

#define IPC_RR_HDR      32   /* bytes of header before every payload */
#define IPC_RR_TICK_MS  10   /* server check while a call waits (sysv) */
#define IPC_RR_SWEEP_MS 1000 /* server's look for dead clients */
/* udp only (see above). */
#define IPC_RR_PING_MS  50   /* a waiting call asks the server this often */
#define IPC_RR_LEASE_MS 1000 /* server silent this long: IPC_ECLOSED */
#define IPC_RR_IDLE_MS  3000 /* client silent this long: released */

/* Call flags. */
enum {
    IPC_RR_IDEMPOTENT = 1u << 0 /* shown to the server (ipc_rr_req_flags);
                                   udp: resent once if found lost */
};

typedef struct ipc_rr_server ipc_rr_server;
typedef struct ipc_rr_client ipc_rr_client;

/* A received request, kept by value until it is replied to; copy it to
 * another thread freely. The fields are private. */
typedef struct ipc_rr_req {
    uint64_t opaque_[3];
} ipc_rr_req;

/* --- Server ------------------------------------------------------------ */

/*
 * Create the request channel at address (IPC_F_RECV | IPC_F_CREATE, plus
 * flags: 0, IPC_F_EXCL, IPC_F_REPLACE) and serve it. Stale reply channels
 * of dead clients of this server are removed first. Errors: those of
 * ipc_open(); IPC_ENOTSUP for a scheme that cannot be named (pipe:) or
 * whose receiving end cannot take several senders; IPC_ENOMEM.
 */
IPC_API ipc_err ipc_rr_serve(const char *address, unsigned flags,
                             ipc_rr_server **out);

/*
 * Wait for the next request and copy its payload to buf. Connect and
 * disconnect messages are handled inside and never returned; malformed
 * messages are dropped. On IPC_OK *len is the payload length and *req
 * identifies the call for ipc_rr_reply().
 * IPC_EMSGSIZE: cap is too small; *len is the length needed and the
 * request is kept for the next call. Other errors: IPC_EINVAL,
 * IPC_EAGAIN (timeout 0), IPC_ETIMEDOUT, those of ipc_recv().
 */
IPC_API ipc_err ipc_rr_recv(ipc_rr_server *s, void *buf, size_t cap,
                            size_t *len, ipc_rr_req *req, int timeout_ms);

/*
 * Send the reply to req (once; a second reply to the same request reaches
 * nobody, since the client dropped the id). May block up to timeout_ms on a
 * full reply channel. Errors: IPC_EMSGSIZE (len > ipc_rr_max_payload: the
 * client's call then fails with IPC_EMSGSIZE at once), IPC_ECLOSED (the
 * client is gone; its channel is released), IPC_EINVAL (a req this server
 * did not give), IPC_ETIMEDOUT / IPC_EAGAIN, those of ipc_send().
 */
IPC_API ipc_err ipc_rr_reply(ipc_rr_server *s, const ipc_rr_req *req,
                             const void *buf, size_t len, int timeout_ms);

/* The client's uid, where the channel tells it (unix:). IPC_ENOTSUP
 * elsewhere, IPC_EINVAL on NULL. */
IPC_API ipc_err ipc_rr_req_uid(const ipc_rr_req *req, uid_t *uid);
/* The IPC_RR_* flags the client gave the call. */
IPC_API unsigned ipc_rr_req_flags(const ipc_rr_req *req);
/* Clients connected and not yet found gone. */
IPC_API size_t ipc_rr_server_clients(ipc_rr_server *s);
/* Release dead clients now (ipc_rr_recv does it every IPC_RR_SWEEP_MS). */
IPC_API void ipc_rr_server_sweep(ipc_rr_server *s);
/* Close every reply channel and the request channel (removing it). */
IPC_API void ipc_rr_server_close(ipc_rr_server *s);

/* --- Client ------------------------------------------------------------ */

/*
 * Connect to the server at address: make this client's reply channel
 * (none on unix, tcp), send a hello and wait for the server's answer, all
 * within timeout_ms.
 * Errors: those of ipc_open(); IPC_ETIMEDOUT (no server answered: the
 * reply channel is removed again), IPC_EPROTO, IPC_ENOMEM.
 */
IPC_API ipc_err ipc_rr_connect(const char *address, int timeout_ms,
                               ipc_rr_client **out);

/*
 * Send a request (len <= ipc_rr_max_payload) and return its call id in
 * *call without waiting for the reply. flags: 0 or IPC_RR_IDEMPOTENT.
 * timeout_ms bounds the wait for room in the request channel. Errors:
 * IPC_EMSGSIZE, IPC_ECLOSED (the server is gone), those of ipc_send().
 */
IPC_API ipc_err ipc_rr_start(ipc_rr_client *c, const void *req, size_t len,
                             unsigned flags, int timeout_ms, uint64_t *call);

/*
 * Wait for the reply to call and copy it to buf. Replies to other pending
 * calls that come meanwhile are kept for them. On IPC_OK the call is over.
 * IPC_ETIMEDOUT / IPC_EAGAIN: the call stays pending (wait again, or
 * cancel it). IPC_EMSGSIZE: cap is too small, *len is the length needed
 * and the reply is kept; or the server's reply was too large for the
 * channel (*len is then 0 and the call is over). IPC_ECLOSED: the server
 * is gone (every pending call fails so). IPC_ELOST (udp): the request or
 * its reply was lost; the server may have run it. IPC_EINVAL: call is not
 * pending.
 */
IPC_API ipc_err ipc_rr_wait(ipc_rr_client *c, uint64_t call, void *buf,
                            size_t cap, size_t *len, int timeout_ms);

/* Forget a pending call: its reply, if it ever comes, is dropped.
 * IPC_EINVAL if call is not pending. */
IPC_API ipc_err ipc_rr_cancel(ipc_rr_client *c, uint64_t call);

/*
 * ipc_rr_start + ipc_rr_wait within one deadline; a call that times out is
 * cancelled (its late reply is dropped).
 */
IPC_API ipc_err ipc_rr_call(ipc_rr_client *c, const void *req, size_t len,
                            void *buf, size_t cap, size_t *rlen, unsigned flags,
                            int timeout_ms);

/* Largest payload of a request or reply on this client's channels. */
IPC_API size_t ipc_rr_max_payload(const ipc_rr_client *c);
/* Replies dropped so far because their call was no longer pending. */
IPC_API uint64_t ipc_rr_dropped(const ipc_rr_client *c);
/* Tell the server, remove the reply channel, free the client. Pending
 * calls are forgotten. Idempotent on NULL. */
IPC_API void ipc_rr_disconnect(ipc_rr_client *c);

#ifdef __cplusplus
}
#endif

#endif /* IPC_REQREP_H */
