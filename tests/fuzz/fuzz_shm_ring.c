/* SPDX-License-Identifier: MIT */
/* Fuzz target: the shm ring's validation of the shared mapping. A real
 * ring (named, or a pair) is made; the input is a program of operations on
 * it: sends, receives, loans, views and releases (timeout 0), interleaved
 * with writes into the mapping as a hostile peer would make them (header
 * fields, geometry, head and tail, slot states and lengths, the peer
 * table, any word), and fresh opens that validate the header again.
 *
 * What must hold, whatever the mapping holds: no crash, no access outside
 * the mapping (ASan), no hang (libFuzzer's -timeout), only the errors a
 * hostile ring may give (never IPC_EINVAL for a correct call), no message
 * longer than max_msg or than the buffer, and no object left behind. While
 * nothing was written into the mapping, a model of the queue says exactly
 * which message each receive must deliver, and when a call may say
 * IPC_EAGAIN.
 *
 * Input: [config] then operations, each an opcode byte and its argument
 * bytes (see fz_step). config: capacity 1 + (c & 7), max_msg from c >> 3,
 * a pair when c & 0x20. */
#include "fuzz.h"

#include "backend/shmring/hooks.h"
#include "ipc/ipc.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FZ_HELD  16 /* loans and views an end may hold */
#define FZ_QUEUE 64

enum { FZ_FREE, FZ_WRITING, FZ_FULL, FZ_READING }; /* slot kinds */
enum { FZ_PENDING, FZ_READY, FZ_SKIP };            /* model entries */

struct fz_entry {
    uint64_t pos; /* ring position: its slot is pos % capacity */
    uint32_t seq;
    uint32_t len;
    int state;
};

struct fz_held {
    void *buf;
    uint64_t pos;
    uint32_t seq, len;
};

struct fz {
    const uint8_t *in;
    size_t n, at;
    char name[64], addr[128];
    bool pair;
    size_t cap, max_msg, map_size;
    ipc_channel *tx, *rx;
    unsigned char *base; /* the sender's mapping */
    bool clean;          /* nothing written into the mapping yet */
    uint32_t next_seq;
    uint64_t tail;               /* the next position a sender reserves */
    struct fz_entry q[FZ_QUEUE]; /* reserved slots, in ring order */
    size_t qn;
    struct fz_held loans[FZ_HELD], views[FZ_HELD];
    size_t nloans, nviews;
    unsigned char buf[1100];
};

static const size_t fz_max_msgs[4] = {8, 64, 100, 1000};

/* Header fields a hostile peer may rewrite, and their widths. */
static const struct {
    const char *name;
    unsigned width;
} fz_fields[] = {
    {"magic", 8},    {"version", 4},     {"ready", 4},     {"creator_pid", 4},
    {"hdr_size", 8}, {"slot_size", 8},   {"slot_count", 8}, {"max_msg", 8},
    {"map_size", 8}, {"tail", 8},        {"head", 8},      {"rx_wake", 8},
    {"tx_wake", 8},  {"n_tx", 4},        {"n_rx", 4},      {"unlinked", 4},
    {"rx_seen", 4},  {"tx_seen", 4},
};
#define FZ_NFIELDS (sizeof fz_fields / sizeof fz_fields[0])

static bool fz_take(struct fz *z, void *out, size_t len)
{
    if (z->n - z->at < len)
        return false;
    memcpy(out, z->in + z->at, len);
    z->at += len;
    return true;
}

static uint8_t fz_byte(struct fz *z)
{
    uint8_t b = 0;
    fz_take(z, &b, 1);
    return b;
}

static uint64_t fz_u64(struct fz *z)
{
    uint8_t b[8] = {0};
    uint64_t v = 0;
    fz_take(z, b, sizeof b);
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* A length for a send or loan: 255 asks for one byte too many. */
static size_t fz_len(struct fz *z)
{
    uint8_t b = fz_byte(z);
    return b == 255 ? z->max_msg + 1 : b % (z->max_msg + 1);
}

static void fz_fill(unsigned char *p, uint32_t seq, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(seq * 31u + i);
}

static bool fz_same(const unsigned char *p, uint32_t seq, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != (unsigned char)(seq * 31u + i))
            return false;
    return true;
}

/* ------------------------------------------------------------ the model */

static void fz_pop(struct fz *z)
{
    memmove(z->q, z->q + 1, (z->qn - 1) * sizeof z->q[0]);
    z->qn--;
}

/* Skips at the head are passed by whoever finds them. */
static void fz_pass_skips(struct fz *z)
{
    while (z->qn && z->q[0].state == FZ_SKIP)
        fz_pop(z);
}

/* A sender writes only the slot at the tail: it is free once the position
 * one lap before is neither queued nor viewed, whatever other slots hold.
 * A skip there at the head the sender passes itself. */
enum { FZ_ROOM, FZ_NO_ROOM, FZ_SKIP_AT_HEAD };

static int fz_room(const struct fz *z)
{
    if (z->tail < z->cap)
        return FZ_ROOM;
    uint64_t last = z->tail - z->cap;
    for (size_t i = 0; i < z->nviews; i++)
        if (z->views[i].pos == last)
            return FZ_NO_ROOM;
    for (size_t i = 0; i < z->qn; i++)
        if (z->q[i].pos == last)
            return i == 0 && z->q[0].state == FZ_SKIP ? FZ_SKIP_AT_HEAD
                                                      : FZ_NO_ROOM;
    return FZ_ROOM;
}

/* A reservation succeeded. */
static uint64_t fz_reserved(struct fz *z, uint32_t seq, size_t len, int state)
{
    if (!z->clean)
        return 0;
    int room = fz_room(z);
    FUZZ_CHECK(room != FZ_NO_ROOM, "a reservation at position %llu, whose "
               "slot is still held", (unsigned long long)z->tail);
    if (room == FZ_SKIP_AT_HEAD)
        fz_pop(z);
    FUZZ_CHECK(z->qn < FZ_QUEUE, "model queue overflow");
    z->q[z->qn++] = (struct fz_entry){z->tail, seq, (uint32_t)len, state};
    return z->tail++;
}

/* IPC_EAGAIN on a reservation: the slot at the tail must be held. */
static void fz_full(const struct fz *z)
{
    FUZZ_CHECK(!z->clean || fz_room(z) == FZ_NO_ROOM,
               "IPC_EAGAIN, but the slot of position %llu is free",
               (unsigned long long)z->tail);
}

/* The entry of a loan or view by its sequence number. */
static struct fz_entry *fz_find(struct fz *z, uint32_t seq)
{
    for (size_t i = 0; i < z->qn; i++)
        if (z->q[i].seq == seq)
            return &z->q[i];
    return NULL;
}

/* What a receive must deliver: the first message after the skips, unless
 * a loan still holds the head. */
static const struct fz_entry *fz_expected(struct fz *z)
{
    fz_pass_skips(z);
    return z->qn && z->q[0].state == FZ_READY ? &z->q[0] : NULL;
}

/* Errors a ring whose memory a peer wrote may give. */
static void fz_allowed(const struct fz *z, ipc_err err, const char *op)
{
    bool ok = err == IPC_OK || err == IPC_EAGAIN || err == IPC_EMSGSIZE ||
              err == IPC_ELIMIT || err == IPC_EPROTO || err == IPC_ECLOSED;
    FUZZ_CHECK(ok, "%s: %s (%s)", op, ipc_errname(err), ipc_last_detail());
    FUZZ_CHECK(!z->clean || err == IPC_OK || err == IPC_EAGAIN ||
                   err == IPC_EMSGSIZE || err == IPC_ELIMIT,
               "%s: %s on an untouched ring (%s)", op, ipc_errname(err),
               ipc_last_detail());
}

/* ------------------------------------------------------------ operations */

/* A send of len bytes on tx (the kept end, or a fresh one). */
static void fz_send_on(struct fz *z, ipc_channel *tx, size_t len)
{
    uint32_t seq = z->next_seq++;
    fz_fill(z->buf, seq, len);
    ipc_err err = ipc_send(tx, z->buf, len, 0, 0);
    fz_allowed(z, err, "send");
    if (len > z->max_msg) {
        FUZZ_CHECK(err == IPC_EMSGSIZE, "send over max_msg: %s",
                   ipc_errname(err));
        return;
    }
    if (err == IPC_OK)
        fz_reserved(z, seq, len, FZ_READY);
    else if (err == IPC_EAGAIN)
        fz_full(z);
}

static void fz_send(struct fz *z)
{
    fz_send_on(z, z->tx, fz_len(z));
}

/* One message out of rx (the kept end, or a fresh one). */
static void fz_recv_on(struct fz *z, ipc_channel *rx, size_t cap)
{
    size_t len = (size_t)-1;
    unsigned prio = 99;
    ipc_err err = ipc_recv(rx, z->buf, cap, &len, &prio, 0);
    fz_allowed(z, err, "recv");
    const struct fz_entry *want = z->clean ? fz_expected(z) : NULL;
    if (err == IPC_OK) {
        FUZZ_CHECK(len <= cap && len <= z->max_msg && prio == 0,
                   "recv: %zu bytes prio %u, buffer %zu, max_msg %zu", len,
                   prio, cap, z->max_msg);
        if (z->clean) {
            FUZZ_CHECK(want && want->len == len &&
                           fz_same(z->buf, want->seq, len),
                       "recv: %zu bytes, not the message expected", len);
            fz_pop(z);
        }
    } else if (err == IPC_EMSGSIZE) {
        FUZZ_CHECK(len > cap && len <= z->max_msg,
                   "EMSGSIZE: needs %zu, buffer %zu", len, cap);
        FUZZ_CHECK(!z->clean || (want && want->len == len),
                   "EMSGSIZE for a message not at the head");
    } else if (err == IPC_EAGAIN) {
        FUZZ_CHECK(!want, "recv: IPC_EAGAIN with a message at the head");
    }
}

static void fz_recv(struct fz *z)
{
    uint8_t b = fz_byte(z);
    fz_recv_on(z, z->rx, b == 255 ? z->max_msg : b % (z->max_msg + 1));
}

static void fz_loan(struct fz *z)
{
    size_t len = fz_len(z);
    void *buf = NULL;
    ipc_err err = ipc_loan(z->tx, len, &buf, 0);
    fz_allowed(z, err, "loan");
    size_t limit = z->cap < FZ_HELD ? z->cap : FZ_HELD;
    if (len > z->max_msg) {
        FUZZ_CHECK(err == IPC_EMSGSIZE, "loan over max_msg: %s",
                   ipc_errname(err));
        return;
    }
    if (z->nloans >= limit) {
        FUZZ_CHECK(err == IPC_ELIMIT, "loan %zu of %zu: %s", z->nloans + 1,
                   limit, ipc_errname(err));
        return;
    }
    if (err == IPC_EAGAIN)
        fz_full(z);
    if (err != IPC_OK)
        return;
    FUZZ_CHECK(buf != NULL, "loan without a buffer");
    uint32_t seq = z->next_seq++;
    fz_fill(buf, seq, len); /* the loan's bytes are ours to write */
    uint64_t pos = fz_reserved(z, seq, len, FZ_PENDING);
    z->loans[z->nloans++] = (struct fz_held){buf, pos, seq, (uint32_t)len};
}

static struct fz_held fz_unhold(struct fz_held *held, size_t *n, size_t i)
{
    struct fz_held h = held[i];
    held[i] = held[--*n];
    return h;
}

/* Commit (or, with release, give up) an outstanding loan. */
static void fz_end_loan(struct fz *z, bool commit)
{
    uint8_t b = fz_byte(z);
    if (!z->nloans)
        return;
    struct fz_held h = fz_unhold(z->loans, &z->nloans, b % z->nloans);
    ipc_err err =
        commit ? ipc_commit(z->tx, h.buf, h.len, 0) : ipc_release(z->tx, h.buf);
    fz_allowed(z, err, commit ? "commit" : "release loan");
    FUZZ_CHECK(!z->clean || err == IPC_OK, "%s: %s",
               commit ? "commit" : "release", ipc_errname(err));
    struct fz_entry *e = z->clean ? fz_find(z, h.seq) : NULL;
    if (e)
        e->state = commit ? FZ_READY : FZ_SKIP;
}

static void fz_view(struct fz *z)
{
    const void *buf = NULL;
    size_t len = (size_t)-1;
    unsigned prio = 99;
    ipc_err err = ipc_view(z->rx, &buf, &len, &prio, 0);
    fz_allowed(z, err, "view");
    const struct fz_entry *want = z->clean ? fz_expected(z) : NULL;
    if (z->nviews >= FZ_HELD) {
        FUZZ_CHECK(err == IPC_ELIMIT, "view %zu: %s", z->nviews + 1,
                   ipc_errname(err));
        return;
    }
    if (err == IPC_EAGAIN)
        FUZZ_CHECK(!want, "view: IPC_EAGAIN with a message at the head");
    if (err != IPC_OK)
        return;
    FUZZ_CHECK(buf && len <= z->max_msg, "view of %zu bytes, max_msg %zu", len,
               z->max_msg);
    struct fz_held h = {(void *)buf, 0, 0, (uint32_t)len};
    if (z->clean) {
        FUZZ_CHECK(want && want->len == len && fz_same(buf, want->seq, len),
                   "view: %zu bytes, not the message expected", len);
        h.pos = want->pos;
        h.seq = want->seq;
        fz_pop(z);
    }
    z->views[z->nviews++] = h;
}

static void fz_end_view(struct fz *z)
{
    uint8_t b = fz_byte(z);
    if (!z->nviews)
        return;
    struct fz_held h = fz_unhold(z->views, &z->nviews, b % z->nviews);
    ipc_err err = ipc_release(z->rx, h.buf);
    FUZZ_CHECK(err == IPC_OK, "release view: %s", ipc_errname(err));
}

/* ------------------------------------------------------------ hostile writes */

static void fz_store(struct fz *z, size_t off, uint64_t v, unsigned width)
{
    if (off + width > z->map_size)
        return;
    if (width == 8)
        atomic_store_explicit((_Atomic uint64_t *)(void *)(z->base + off), v,
                              memory_order_relaxed);
    else
        atomic_store_explicit((_Atomic uint32_t *)(void *)(z->base + off),
                              (uint32_t)v, memory_order_relaxed);
    z->clean = false;
}

static uint64_t fz_load(const struct fz *z, const char *field)
{
    return atomic_load_explicit(
        (_Atomic uint64_t *)(void *)(z->base + ipc__shmring_test_offset(field)),
        memory_order_relaxed);
}

/* A header field, a peer entry's word, start time or bell, a slot's state
 * or length. */
static void fz_poke_field(struct fz *z)
{
    uint8_t f = fz_byte(z);
    uint64_t v = fz_u64(z);
    size_t peers = ipc__shmring_test_offset("peers");
    size_t peer_size = ipc__shmring_test_offset("peer_size");
    if (f < FZ_NFIELDS) {
        fz_store(z, ipc__shmring_test_offset(fz_fields[f].name), v,
                 fz_fields[f].width);
    } else if (f < FZ_NFIELDS + 12) {
        /* entries 0-3: word, start, bell */
        size_t at[3] = {0, 8, ipc__shmring_test_offset("peer_bell")};
        unsigned k = f - FZ_NFIELDS;
        fz_store(z, peers + (k / 3) * peer_size + at[k % 3], v, 8);
    } else {
        unsigned k = f - (FZ_NFIELDS + 12); /* slot k / 2: state, length */
        size_t slot = ipc__shmring_test_slot(z->max_msg, (k / 2) % z->cap);
        if (k & 1)
            fz_store(z, slot + ipc__shmring_test_offset("slot_len"), v, 4);
        else
            fz_store(z, slot, v, 8);
    }
}

/* A slot state near the head: the shapes the ring's checks tell apart. */
static void fz_poke_state(struct fz *z)
{
    uint8_t slot = fz_byte(z), kind = fz_byte(z), delta = fz_byte(z);
    uint8_t owner = fz_byte(z);
    uint64_t pos = fz_load(z, "head") + (uint64_t)(int64_t)(int8_t)delta;
    fz_store(z, ipc__shmring_test_slot(z->max_msg, slot % z->cap),
             ipc__shmring_test_state(pos, kind & 3, owner), 8);
}

/* A peer entry naming a process (maybe ours, maybe none) in any state. */
static void fz_poke_peer(struct fz *z)
{
    uint8_t i = fz_byte(z), how = fz_byte(z);
    uint32_t pid = how & 0x80 ? (uint32_t)getpid() : fz_byte(z) * 257u;
    uint64_t w = ipc__shmring_test_peer(pid, how & 7, (how >> 3) & 3,
                                        (how >> 5) & 3);
    size_t off = ipc__shmring_test_offset("peers") +
                 (i % 8) * ipc__shmring_test_offset("peer_size");
    fz_store(z, off, w, 8);
}

static void fz_poke_word(struct fz *z)
{
    uint8_t lo = fz_byte(z), hi = fz_byte(z);
    uint64_t v = fz_u64(z);
    fz_store(z, ((size_t)(lo | hi << 8) * 8) % z->map_size, v, 8);
}

/* A fresh end: the opener validates the header as it is now. */
static void fz_reopen(struct fz *z)
{
    uint8_t how = fz_byte(z);
    if (z->pair)
        return;
    unsigned dir = how & 1 ? IPC_F_SEND : IPC_F_RECV;
    ipc_channel *ch = NULL;
    char addr[96];
    /* No geometry in the address: the opener takes the header's word. */
    snprintf(addr, sizeof addr, "shm:%s", z->name);
    ipc_err err = ipc_open(addr, dir, 0, &ch);
    FUZZ_CHECK(err == IPC_OK || err == IPC_EPROTO || err == IPC_EAGAIN ||
                   err == IPC_ELIMIT || err == IPC_ENOENT,
               "open: %s (%s)", ipc_errname(err), ipc_last_detail());
    FUZZ_CHECK(!z->clean || err == IPC_OK || err == IPC_ENOENT,
               "open of an untouched ring: %s (%s)", ipc_errname(err),
               ipc_last_detail());
    if (err != IPC_OK)
        return;
    if (dir == IPC_F_RECV) {
        fz_recv_on(z, ch, z->max_msg);
    } else {
        fz_send_on(z, ch, 1);
    }
    ipc_close(ch);
}

static void fz_unlink(struct fz *z)
{
    if (z->pair)
        return;
    ipc_err err = ipc_unlink(z->addr);
    FUZZ_CHECK(err == IPC_OK || err == IPC_ENOENT || err == IPC_EPROTO,
               "unlink: %s (%s)", ipc_errname(err), ipc_last_detail());
}

/* Poll an end: its descriptor (a named end's bell is made on the first
 * call) must answer poll() at once; a hint, never checked against the
 * model. Later timeout-0 calls then arm and ring bells. */
static void fz_poll(struct fz *z)
{
    uint8_t how = fz_byte(z);
    ipc_channel *ch = how & 1 ? z->tx : z->rx;
    int fd = -1;
    short events = 0;
    ipc_err err = ipc_pollfd(ch, &fd, &events);
    FUZZ_CHECK(err == IPC_OK || err == IPC_ELIMIT, "pollfd: %s (%s)",
               ipc_errname(err), ipc_last_detail());
    if (err != IPC_OK)
        return;
    struct pollfd pfd = {.fd = fd, .events = events};
    FUZZ_CHECK(poll(&pfd, 1, 0) >= 0, "poll: %s", strerror(errno));
}

static void fz_step(struct fz *z)
{
    switch (fz_byte(z) % 14) {
    case 0: fz_send(z); break;
    case 1: fz_recv(z); break;
    case 2: fz_loan(z); break;
    case 3: fz_end_loan(z, true); break;
    case 4: fz_end_loan(z, false); break;
    case 5: fz_view(z); break;
    case 6: fz_end_view(z); break;
    case 7: fz_poke_field(z); break;
    case 8: fz_poke_state(z); break;
    case 9: fz_poke_peer(z); break;
    case 10: fz_poke_word(z); break;
    case 11: fz_reopen(z); break;
    case 12: fz_unlink(z); break;
    default: fz_poll(z); break;
    }
}

/* ------------------------------------------------------------ one input */

static bool fz_open(struct fz *z, uint8_t c)
{
    static unsigned counter;
    z->cap = 1 + (c & 7u);
    z->max_msg = fz_max_msgs[(c >> 3) & 3];
    z->pair = c & 0x20;
    z->map_size = ipc__shmring_test_size(z->cap, z->max_msg);
    snprintf(z->name, sizeof z->name, "/ipcfz-%ld-%u", (long)getpid(),
             counter++);
    snprintf(z->addr, sizeof z->addr, "shm:%s?capacity=%zu&max_msg=%zu",
             z->pair ? "" : z->name, z->cap, z->max_msg);
    ipc_err err;
    if (z->pair) {
        ipc_channel *ends[2];
        err = ipc_pair(z->addr, 0, ends);
        z->tx = ends[0];
        z->rx = ends[1];
    } else {
        err = ipc_open(z->addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_SEND, 1000,
                       &z->tx);
        if (err == IPC_OK) {
            err = ipc_open(z->addr, IPC_F_RECV, 1000, &z->rx);
            if (err != IPC_OK)
                ipc_close(z->tx);
        }
    }
    /* Out of memory or descriptors is the machine's state, not a bug. */
    if (err != IPC_OK) {
        fprintf(stderr, "fuzz_shm_ring: cannot make %s: %s\n", z->addr,
                ipc_last_detail());
        return false;
    }
    z->base = ipc__shmring_test_base(z->tx);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz z;
    if (size < 1 || size > 4096)
        return 0;
    memset(&z, 0, sizeof z);
    z.in = data;
    z.n = size;
    z.at = 1;
    z.clean = true;
    if (!fz_open(&z, data[0]))
        return 0;
    while (z.at < z.n)
        fz_step(&z);
    /* Close with loans and views outstanding: the ends give them back. */
    ipc_close(z.tx);
    ipc_close(z.rx);
    if (!z.pair) {
        char path[96];
        struct stat st;
        snprintf(path, sizeof path, "/dev/shm%s", z.name);
        FUZZ_CHECK(stat(path, &st) != 0, "%s left behind", path);
    }
    return 0;
}
