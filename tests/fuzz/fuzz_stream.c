/* SPDX-License-Identifier: MIT */
/* Fuzz target: the stream receiver (ipc__stream_recv) fed by a hostile
 * writer through a real pipe: garbage headers, lying lengths, frames cut
 * at any byte, delivered in chunks of any size with non-blocking receives
 * (and too-small buffers) in between. A reference reading of the bytes
 * says what must come out: exactly the whole frames, in order, then
 * IPC_EPROTO at the first garbage header or IPC_ECLOSED at the end (a
 * truncated last frame is discarded, never delivered).
 *
 * Input: [max_msg lo][max_msg hi][buffer choice][chunk choice] bytes... */
#include "fuzz.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM_IN_MAX   60000 /* below the pipe's 64 KiB: writes never block */
#define STREAM_MSGS_MAX (STREAM_IN_MAX / IPC_FRAME_HDR + 1)

struct stream_expect {
    size_t off, len; /* payload in the input */
    unsigned prio;
};

struct stream_model {
    struct stream_expect msgs[STREAM_MSGS_MAX];
    size_t n;
    bool garbage;         /* ends with a header the decoder must refuse */
    bool truncated;       /* ends with a good header and part of its payload */
    size_t truncated_len; /* the length that header gives */
};

static uint64_t stream_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void stream_model(const uint8_t *p, size_t n, size_t max_msg,
                         struct stream_model *m)
{
    size_t at = 0;
    m->n = 0;
    m->garbage = m->truncated = false;
    while (n - at >= IPC_FRAME_HDR) {
        uint64_t magic = stream_le(p + at, 4), prio = stream_le(p + at + 4, 4);
        uint64_t len = stream_le(p + at + 8, 8);
        if (magic != IPC_FRAME_MAGIC || prio > IPC_FRAME_PRIO_MAX ||
            len > max_msg) {
            m->garbage = true;
            return;
        }
        if (n - at - IPC_FRAME_HDR < len) {
            m->truncated = true; /* the payload never completes */
            m->truncated_len = (size_t)len;
            return;
        }
        m->msgs[m->n++] = (struct stream_expect){at + IPC_FRAME_HDR,
                                                 (size_t)len, (unsigned)prio};
        at += IPC_FRAME_HDR + (size_t)len;
    }
}

struct stream_run {
    struct ipc_stream s;
    const uint8_t *in;
    size_t max_msg, small_cap;
    const struct stream_model *m;
    size_t next; /* next expected message */
    bool ended;  /* EPROTO or ECLOSED seen */
    unsigned char *buf;
};

/* Receive what is there now (timeout 0): each result must be the next
 * thing the model expects. */
static void stream_drain(struct stream_run *r, bool writer_gone)
{
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, 0);
    while (!r->ended) {
        size_t len = (size_t)-1;
        unsigned prio = 999;
        ipc_err err =
            ipc__stream_recv(&r->s, r->buf, r->small_cap, &len, &prio, &dl);
        if (err == IPC_EMSGSIZE) {
            /* The length comes from a whole, valid header: that of the
             * next message, or of a last frame whose payload is still
             * coming (and, if the writer dies first, never comes: the
             * retry then answers IPC_ECLOSED). */
            size_t want = r->next < r->m->n ? r->m->msgs[r->next].len
                          : r->m->truncated ? r->m->truncated_len
                                            : (size_t)-1;
            FUZZ_CHECK(want != (size_t)-1, "EMSGSIZE past the last frame");
            FUZZ_CHECK(len == want && len > r->small_cap,
                       "EMSGSIZE says %zu, frame is %zu, buffer %zu", len, want,
                       r->small_cap);
            err = ipc__stream_recv(&r->s, r->buf, r->max_msg, &len, &prio, &dl);
        }
        if (err == IPC_EAGAIN)
            return;
        if (err == IPC_OK) {
            FUZZ_CHECK(r->next < r->m->n,
                       "a message the writer never framed "
                       "(%zu bytes)",
                       len);
            const struct stream_expect *e = &r->m->msgs[r->next];
            FUZZ_CHECK(len == e->len && prio == e->prio &&
                           memcmp(r->buf, r->in + e->off, len) == 0,
                       "message %zu: %zu bytes prio %u, expected %zu prio %u",
                       r->next, len, prio, e->len, e->prio);
            r->next++;
            continue;
        }
        FUZZ_CHECK(r->next == r->m->n, "%s with %zu of %zu messages taken",
                   ipc_errname(err), r->next, r->m->n);
        if (err == IPC_EPROTO) {
            FUZZ_CHECK(r->m->garbage, "EPROTO on a well-formed stream");
        } else {
            FUZZ_CHECK(err == IPC_ECLOSED && writer_gone && !r->m->garbage,
                       "%s (writer %s, garbage %d)", ipc_errname(err),
                       writer_gone ? "gone" : "there", r->m->garbage);
        }
        /* It stays that way. */
        ipc_err again =
            ipc__stream_recv(&r->s, r->buf, r->max_msg, &len, &prio, &dl);
        FUZZ_CHECK(again == err, "after %s: %s", ipc_errname(err),
                   ipc_errname(again));
        r->ended = true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct stream_model model;
    static unsigned char buf[4096];
    if (size < 4 || size - 4 > STREAM_IN_MAX)
        return 0;
    struct stream_run r = {.in = data + 4, .m = &model, .buf = buf};
    r.max_msg = 1 + (size_t)((data[0] | data[1] << 8) % sizeof buf);
    r.small_cap = (data[2] & 1) ? r.max_msg : data[2] % (r.max_msg + 1);
    size_t chunk = 1 + (size_t)data[3] % 97, n = size - 4;
    stream_model(r.in, n, r.max_msg, &model);

    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return 0;
    ipc__stream_init(&r.s, fds[0], r.max_msg);
    for (size_t at = 0; at < n && !r.ended; at += chunk) {
        size_t part = n - at < chunk ? n - at : chunk;
        ssize_t w = write(fds[1], r.in + at, part);
        FUZZ_CHECK(w == (ssize_t)part, "pipe write: %s", strerror(errno));
        stream_drain(&r, false);
    }
    close(fds[1]);
    stream_drain(&r, true);
    FUZZ_CHECK(r.ended, "no end reported after the writer left");
    ipc__stream_close(&r.s);
    return 0;
}
