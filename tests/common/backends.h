/* SPDX-License-Identifier: MIT */
/* The one table of backends under test (backends.def): each scheme's
 * expected caps and options, and each row (a way to reach a channel) with
 * its address maker. Read by every suite. */
#ifndef IPC_TEST_BACKENDS_H
#define IPC_TEST_BACKENDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/ipc.h"

/* What a scheme does that its caps do not say. */
enum {
    TU_S_CAPACITY = 1u << 0, /* takes ?capacity= */
    TU_S_MODE = 1u << 1,     /* takes ?mode= */
    TU_S_PEER_UID = 1u << 2, /* takes ?peer_uid= */
    /* Messages carry frame.h headers, and a write() to the send end's
     * pollfd reaches the receiver raw (a test can play a hostile peer). */
    TU_S_FRAMED = 1u << 3,
    TU_S_NO_FDS = 1u << 4, /* ends hold no descriptors (SysV ids) */
    TU_S_STREAM = 1u << 5, /* a byte stream under the frames (pipe, FIFO);
                              else the kernel keeps message boundaries */
    /* Room comes back in the peer's steps (a TCP window): taking one
     * message from a full channel need not let one more in at once. */
    TU_S_WINDOWED = 1u << 6,
    /* IPC_CAP_LOSSY (udp): messages may be lost or reordered, and a send
     * never waits: "each message exactly once, in order" and "full" are
     * clauses such a backend cannot keep. The contract checks what still
     * holds: whatever arrives is whole, as sent, never twice. */
    TU_S_LOSSY = 1u << 7,
    /* A library's threads carry messages (nng): a message reaches the
     * receiver some time after its send returned, and a send with timeout
     * 0 is refused while the connection is busy writing, not only when the
     * channel is full. The library's own descriptors are close-on-exec
     * whatever IPC_F_INHERIT says (its threads do not cross exec). */
    TU_S_ASYNC = 1u << 8,
    /* A child forked after the library was used cannot use it (nng's
     * threads do not survive fork; nng aborts such a child): its open,
     * send and receive answer IPC_ENOTSUP, which the contract's tests with
     * forked peers check instead (ct_fork_refused). */
    TU_S_NO_FORK = 1u << 9,
    /* IPC_CAP_PEER_CLOSED on receiving ends only: a pair's sender lacks
     * it although pair_caps lists it (mq: receivers judge their senders,
     * senders never hear of receivers). */
    TU_S_RECV_CLOSED = 1u << 10,
};

/* What a row's backend legitimately does differently. */
enum {
    /* The namespace has no permissions (Linux abstract sockets): anyone
     * may connect. */
    TU_R_NO_PERMS = 1u << 0,
    /* The named object is the kernel's, not held by its creator's
     * descriptors (POSIX and SysV queues): it outlives a creator killed
     * before its close. A sender's IPC_CAP_PEER_CLOSED then reports the
     * creator's close (which removes the object), not its death: after a
     * SIGKILL another receiver could still open the object and read, so
     * the sender waits out its timeout instead of hearing IPC_ECLOSED. */
    TU_R_OUTLIVES_CREATOR = 1u << 1,
    /* IPC_F_REPLACE cannot tell a live object from a stale one (no open
     * count: POSIX and SysV queues), so it replaces either, wherever the
     * kernel lets the caller remove it (root may; another uid may not). */
    TU_R_REPLACES_LIVE = 1u << 2,
    /* A creator that dies leaves the object behind (a socket file, a FIFO,
     * a queue, a shm object; not an abstract name). */
    TU_R_STALE_SURVIVES = 1u << 3,
    /* The name is a key file's path (sysv:/path): the file must exist. */
    TU_R_FTOK = 1u << 4,
    /* Only the contract suite uses the row (no rel/security ctests). */
    TU_R_CONTRACT_ONLY = 1u << 5,
};

struct tu_scheme {
    const char *scheme;
    unsigned pair_caps; /* 0: no pairs */
    unsigned recv_caps; /* 0: no names */
    unsigned send_caps;
    size_t max_msg_default;
    size_t max_msg_max;
    unsigned props; /* TU_S_* */
};

struct tu_row {
    const char *name;
    const char *scheme; /* a TU_SCHEME's (tu_row_scheme()) */
    const char *naming; /* contract mode name; NULL: a pair row */
    size_t name_max;
    const char *addr; /* pair address or template */
    const char *fs;   /* file-system template, or NULL */
    unsigned flags;   /* TU_R_* */
};

/* In backends.def order, each ended by an entry whose name is NULL. */
extern const struct tu_scheme tu_schemes[];
extern const struct tu_row tu_rows[];

/* By name; NULL if the table has none. */
const struct tu_scheme *tu_scheme_find(const char *scheme);
const struct tu_row *tu_row_find(const char *name);
/* The row's scheme (never NULL: a test checks the table). */
const struct tu_scheme *tu_row_scheme(const struct tu_row *row);

/* Is the row a named one (its address is a template)? */
bool tu_row_named(const struct tu_row *row);

/* A fresh address of the row, without options: a pair row's address, or
 * its template with {tmp} = tmp, {name} = "<prefix>-<pid>-<n>-<rand>" and
 * {key} a random key. *key gets the SysV key used (0 if none). */
void tu_row_addr(const struct tu_row *row, const char *tmp, const char *prefix,
                 char *buf, size_t size, uint32_t *key);
/* Where a named address of the row (options ignored) shows in the file
 * system: the fs template's text before its first '{', then the address
 * after the addr template's. false if the row has no fs or addr does not
 * fit the template. */
bool tu_row_fs(const struct tu_row *row, const char *addr, char *buf,
               size_t size);

/* A random SysV key: never 0 (IPC_PRIVATE), never negative, never with
 * 'I' in the top byte (ftok's project id: kept apart from old-style
 * keys that other programs may still compute). */
uint32_t tu_sysv_key(void);

#endif /* IPC_TEST_BACKENDS_H */
