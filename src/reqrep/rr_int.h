/* SPDX-License-Identifier: MIT */
/* Request/reply internals shared by client.c, server.c, wire.c, names.c. */
#ifndef IPC_RR_INT_H
#define IPC_RR_INT_H

#include "ipc/reqrep.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Wire format: every message is a 32-byte header, then `len` payload bytes.
 * All fields little-endian (the peer may be another build of the library);
 * the payload starts 32 bytes in, so it stays 16-byte aligned.
 *
 *   0  u32 magic   IPC_RR_MAGIC
 *   4  u8  kind    enum ipc_rr_kind
 *   5  u8  flags   IPC_RR_* call flags (requests only; 0 elsewhere)
 *   6  u16 status  an ipc_err (IPC_RR_FAIL only; 0 elsewhere)
 *   8  u32 slot    the client's slot at the server (0 in a hello)
 *  12  u32 gen     the slot's generation
 *  16  u64 id      call id (hello/welcome: the connect's nonce)
 *  24  u32 len     payload bytes: exactly the message length - 32
 *  28  u32 zero    reserved, 0
 *
 * hello payload: u32 pid, u32 zero, u64 start, then the reply address
 * (1..IPC_RR_ADDR_MAX-1 bytes, no NUL; none where replies come back on the
 * connection). welcome payload: u32 pid, u32 zero, u64 start (the
 * server's). ping: u64 ping number, then n u64 call ids (n <=
 * IPC_RR_PING_IDS); pong: the same, each id with IPC_RR_HELD set where the
 * server holds that call. A FAIL with status
 * IPC_ENOENT and id 0 answers a ping from a client the server does not
 * know (lossy schemes).
 */
#define IPC_RR_MAGIC    0x31525249u /* "IRR1" */
#define IPC_RR_ADDR_MAX 512
#define IPC_RR_IDENT    16 /* pid, zero, start */
/* ipc_rr_serve has no timeout: how long its create may wait for another
 * creator in the same directory (fifo:, unix:) to finish. */
#define IPC_RR_CREATE_MS 1000

enum ipc_rr_kind {
    IPC_RR_HELLO = 1,
    IPC_RR_WELCOME = 2,
    IPC_RR_REQUEST = 3,
    IPC_RR_REPLY = 4,
    IPC_RR_FAIL = 5, /* the server could not reply: status says why */
    IPC_RR_BYE = 6,
    IPC_RR_PING = 7, /* lossy: id 0; which pending calls are held? */
    IPC_RR_PONG = 8, /* lossy: id 0; the answer */
    IPC_RR_KIND_MAX = 8
};

/* A request's flags byte: the IPC_RR_* call flags, and this bit, set on
 * the library's one resend (lossy: an idempotent call found lost), so the
 * server does not drop it as a duplicate. Never shown to the server's
 * caller. */
#define IPC_RR_RESENT 0x80u
/* In a pong's ids: the server holds this call (received, not replied). */
#define IPC_RR_HELD (1ull << 63)
/* Ids a ping carries at most (u64 each); more pending calls are asked
 * about in turn, in the next pings. */
#define IPC_RR_PING_IDS 128
/* The longest ping payload: its number and IPC_RR_PING_IDS ids. */
#define IPC_RR_PING_MAX (8 * (IPC_RR_PING_IDS + 1))
/* A pending call the server did not hold in this many pongs in a row (its
 * reply not come) is lost. */
#define IPC_RR_LOST_PONGS 2
/* Lossy: a hello not answered within this is sent again. */
#define IPC_RR_HELLO_MS (4 * IPC_RR_PING_MS)
/* A connect whose connection closed before the welcome, where the scheme
 * redials: so many more tries, the first IPC_RR_REDIAL_MS after. */
#define IPC_RR_REDIALS   3
#define IPC_RR_REDIAL_MS 10

struct ipc_rr_hdr {
    unsigned kind, flags, status;
    uint32_t slot, gen;
    uint64_t id;
    size_t len;
};

/* The identity a hello or welcome carries. */
struct ipc_rr_ident {
    pid_t pid;
    uint64_t start;
};

/* Write the header for h into out (IPC_RR_HDR bytes). */
void ipc__rr_encode(unsigned char *out, const struct ipc_rr_hdr *h);
/* Check a received message of n bytes and decode its header into *h.
 * IPC_EPROTO (with a detail) for anything malformed; *h untouched then. */
ipc_err ipc__rr_decode(const unsigned char *msg, size_t n,
                       struct ipc_rr_hdr *h);
/* Encode an identity (+ an address for a hello) into out; returns bytes. */
size_t ipc__rr_ident_encode(unsigned char *out, const struct ipc_rr_ident *id,
                            const char *addr);
/* Decode a hello (addr != NULL: addr_size bytes, gets a NUL-terminated
 * address) or welcome (addr NULL) payload. IPC_EPROTO when malformed. */
ipc_err ipc__rr_ident_decode(const unsigned char *p, size_t len,
                             struct ipc_rr_ident *id, char *addr,
                             size_t addr_size);

/* --- Processes and names (names.c) ------------------------------------ */

/* Start time of pid in clock ticks since boot (Linux /proc); 0 unknown. */
uint64_t ipc__rr_start_time(pid_t pid);
/* Is pid still the process that had start time start? (start 0: only
 * whether pid exists). */
bool ipc__rr_alive(pid_t pid, uint64_t start);

/* How a scheme's reply channel is named and cleaned. */
struct ipc_rr_scheme {
    const char *scheme;  /* "unix", "fifo", "mq", "sysv", "shm" */
    bool unlink_early;   /* remove the name once the server opened it */
    bool keyfile;        /* sysv: a key file holds the name */
    bool spins;          /* shm: its receive spins before it sleeps */
    bool back;           /* unix, tcp, udp, nng: replies come back on the
                            request's connection (udp: to its source); no
                            reply channel is made */
    bool remote;         /* tcp, udp, nng: the server may be on another
                            host, where its pid means nothing: only the
                            channel tells that it is gone */
    bool lossy;          /* udp: messages may be lost or duplicated; the
                            client pings while a call waits, the server
                            answers and drops duplicates, and releases a
                            client silent for IPC_RR_IDLE_MS (lossy.c) */
    bool redial;         /* nng: a connect whose connection closed before
                            the welcome dials again (IPC_RR_REDIALS): nng
                            1.5's listener may have been restarted under it
                            (src/backend/nng/listen.c) */
    unsigned open_flags; /* added to the request channel's open flags
                            (nng: IPC__F_BACK, req/rep sockets) */
};

/* The scheme row for a server address; NULL when request/reply cannot run
 * over it (IPC_ENOTSUP or IPC_EINVAL with a detail in *err). */
const struct ipc_rr_scheme *ipc__rr_scheme(const char *address, ipc_err *err);
/* Make a unique reply address for a client of server address `address`
 * with options `query` ("" or "?max_msg=N"); for sysv also creates the key
 * file. IPC_EINVAL if too long. */
ipc_err ipc__rr_reply_name(const struct ipc_rr_scheme *sc, const char *address,
                           const char *query, char *out, size_t size);
/* Is reply_addr a reply name of a client of server `address` with identity
 * id ("<server name>.rr.<pid>.<start>.<n>")? The server opens, and at the
 * end removes, only such names: a client cannot make it touch another
 * object. */
bool ipc__rr_reply_ok(const struct ipc_rr_scheme *sc, const char *address,
                      const char *reply_addr, const struct ipc_rr_ident *id);
/* Remove a reply channel by its address (and a sysv key file). */
void ipc__rr_remove(const struct ipc_rr_scheme *sc, const char *reply_addr);
/* Remove reply channels of dead clients of server `address`. */
void ipc__rr_sweep_names(const struct ipc_rr_scheme *sc, const char *address);

/* --- Lossy schemes: the server's side (lossy.c) ---------------------- */

/* What a server knows of one client's calls: those it holds (received,
 * not replied to) and those it saw lately, to drop a duplicate. */
struct ipc_rr_calls {
    uint64_t *held;
    size_t nheld, cap;
    uint64_t seen_base; /* ids below it were seen, or are too old */
    uint64_t seen_bits; /* bit i: seen_base + i was seen */
};

void ipc__rr_calls_init(struct ipc_rr_calls *k);
void ipc__rr_calls_free(struct ipc_rr_calls *k);
/* Should request h be taken? Not while held; not if seen, unless it is
 * the library's resend (IPC_RR_RESENT). */
bool ipc__rr_fresh(const struct ipc_rr_calls *k, const struct ipc_rr_hdr *h);
/* Mark id seen and held. false: out of memory (nothing marked). */
bool ipc__rr_hold(struct ipc_rr_calls *k, uint64_t id);
/* id was replied to. */
void ipc__rr_unhold(struct ipc_rr_calls *k, uint64_t id);
/* A pong's payload for a ping's of len bytes, into out (room for
 * IPC_RR_PING_MAX): the ping's number, then its ids, each with IPC_RR_HELD
 * where held; its length, len. 0, and nothing written, for a malformed
 * ping: shorter than its number, ids not whole, or over IPC_RR_PING_MAX. */
size_t ipc__rr_pong(const struct ipc_rr_calls *k, const unsigned char *ping,
                    size_t len, unsigned char *out);
/* A number for a server's first generation: differs between servers. */
uint32_t ipc__rr_seed(void);
/* Little-endian u64 at p (wire.c). */
void ipc__rr_put64(unsigned char *p, uint64_t v);
uint64_t ipc__rr_get64(const unsigned char *p);

#endif /* IPC_RR_INT_H */
