/* SPDX-License-Identifier: MIT */
/* ipc-bench's raw ZeroMQ loop: PUSH/PULL used directly, as a user would
 * (zmq_send/zmq_recv, blocking), one pair per direction, over ipc:// (a
 * socket file in $TMPDIR, beside the shm row) or tcp:// on loopback.
 * Built only with libzmq (IPC_BENCH_ZMQ): the library never needs it.
 * ZeroMQ is touched only in the children: its I/O thread does not survive
 * fork. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* x->name[d]: "tcp://127.0.0.1:PORT", or "/name" for an ipc:// file. */
static void raw_zmq_url(const struct bx *x, int d, char *url, size_t len,
                        const char **file)
{
    static char path[200];
    *file = NULL;
    if (strncmp(x->name[d], "tcp://", 6) == 0) {
        snprintf(url, len, "%s", x->name[d]);
        return;
    }
    const char *t = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s%s", t && *t ? t : "/tmp", x->name[d]);
    snprintf(url, len, "ipc://%s", path);
    *file = path;
}

static int raw_zmq_fail(struct bx *x, const char *what)
{
    return bx_fail(x, BX_ERROR, "raw: %s: %s", what, zmq_strerror(zmq_errno()));
}

static void *raw_zmq_socket(struct bx *x, int type)
{
    if (!x->zctx && !(x->zctx = zmq_ctx_new()))
        return NULL;
    void *s = zmq_socket(x->zctx, type);
    int zero = 0;
    /* No high-water mark: the libipc side is bounded by its capacity
     * instead, and ZeroMQ's default (1000 messages) only adds waits. */
    if (s && zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

static int raw_zmq_create(struct bx *x, int role)
{
    int drecv = role == BX_INITIATOR ? BX_DIR_B : BX_DIR_A;
    char url[240];
    const char *file;
    raw_zmq_url(x, drecv, url, sizeof url, &file);
    void *s = raw_zmq_socket(x, ZMQ_PULL);
    if (!s)
        return raw_zmq_fail(x, "zmq_socket(PULL)");
    x->zsock[drecv][1] = s;
    int64_t max = (int64_t)x->size;
    if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max) != 0 ||
        zmq_bind(s, url) != 0)
        return raw_zmq_fail(x, "zmq_bind");
    return BX_OK;
}

static int raw_zmq_connect(struct bx *x, int role)
{
    int dsend = role == BX_INITIATOR ? BX_DIR_A : BX_DIR_B;
    char url[240];
    const char *file;
    raw_zmq_url(x, dsend, url, sizeof url, &file);
    void *s = raw_zmq_socket(x, ZMQ_PUSH);
    if (!s)
        return raw_zmq_fail(x, "zmq_socket(PUSH)");
    x->zsock[dsend][0] = s;
    return zmq_connect(s, url) == 0 ? BX_OK : raw_zmq_fail(x, "zmq_connect");
}

static int raw_zmq_send(struct bx *x, int dir, const void *buf, size_t len)
{
    while (zmq_send(x->zsock[dir][0], buf, len, 0) < 0)
        if (zmq_errno() != EINTR)
            return raw_zmq_fail(x, "zmq_send");
    return BX_OK;
}

static int raw_zmq_recv(struct bx *x, int dir, void *buf, size_t cap,
                        size_t *len)
{
    int n;
    while ((n = zmq_recv(x->zsock[dir][1], buf, cap, 0)) < 0)
        if (zmq_errno() != EINTR)
            return raw_zmq_fail(x, "zmq_recv");
    if ((size_t)n > cap)
        return bx_fail(x, BX_ERROR, "raw: zmq_recv: %d bytes cut to %zu", n,
                       cap);
    *len = (size_t)n;
    return BX_OK;
}

static void raw_zmq_close(struct bx *x, int role)
{
    int drecv = role == BX_INITIATOR ? BX_DIR_B : BX_DIR_A;
    for (int d = 0; d < 2; d++)
        for (int e = 0; e < 2; e++) {
            if (x->zsock[d][e])
                zmq_close(x->zsock[d][e]);
            x->zsock[d][e] = NULL;
        }
    if (x->zctx)
        zmq_ctx_term(x->zctx);
    x->zctx = NULL;
    char url[240];
    const char *file;
    raw_zmq_url(x, drecv, url, sizeof url, &file);
    if (file)
        unlink(file); /* the bound side's socket file, if ZeroMQ left it */
}

const struct bx_ops bx_raw_zmq = {
    .create = raw_zmq_create,
    .connect = raw_zmq_connect,
    .send = raw_zmq_send,
    .recv = raw_zmq_recv,
    .close = raw_zmq_close,
};
