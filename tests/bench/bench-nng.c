/* SPDX-License-Identifier: MIT */
/* ipc-bench's raw nng loop: push/pull used directly, as a user would
 * (nng_send/nng_recv, blocking), one push/pull pair per direction. Built
 * only with nng (IPC_BENCH_NNG). */
#include "bench.h"

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

/* x->name[d] is the URL ("tcp://127.0.0.1:PORT"); x->nng[d][0] the push,
 * [1] the pull, as socket ids (0: none). nng is touched only in the
 * children: its threads do not survive fork. */

static int raw_nng_fail(struct bx *x, const char *what, int rv)
{
    return bx_fail(x, BX_ERROR, "raw: %s: %s", what, nng_strerror(rv));
}

static int raw_nng_create(struct bx *x, int role)
{
    int drecv = role == BX_INITIATOR ? BX_DIR_B : BX_DIR_A;
    nng_socket s;
    int rv = nng_pull0_open(&s);
    if (rv != 0)
        return raw_nng_fail(x, "nng_pull0_open", rv);
    x->nng[drecv][1] = s.id;
    rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, x->size);
    if (rv == 0)
        rv = nng_listen(s, x->name[drecv], NULL, 0);
    return rv == 0 ? BX_OK : raw_nng_fail(x, "nng_listen", rv);
}

static int raw_nng_connect(struct bx *x, int role)
{
    int dsend = role == BX_INITIATOR ? BX_DIR_A : BX_DIR_B;
    nng_socket s;
    int rv = nng_push0_open(&s);
    if (rv != 0)
        return raw_nng_fail(x, "nng_push0_open", rv);
    x->nng[dsend][0] = s.id;
    rv = nng_dial(s, x->name[dsend], NULL, 0);
    return rv == 0 ? BX_OK : raw_nng_fail(x, "nng_dial", rv);
}

static int raw_nng_send(struct bx *x, int dir, const void *buf, size_t len)
{
    nng_socket s = {.id = x->nng[dir][0]};
    int rv = nng_send(s, (void *)buf, len, 0);
    return rv == 0 ? BX_OK : raw_nng_fail(x, "nng_send", rv);
}

static int raw_nng_recv(struct bx *x, int dir, void *buf, size_t cap,
                        size_t *len)
{
    nng_socket s = {.id = x->nng[dir][1]};
    *len = cap;
    int rv = nng_recv(s, buf, len, 0);
    return rv == 0 ? BX_OK : raw_nng_fail(x, "nng_recv", rv);
}

static void raw_nng_close(struct bx *x, int role)
{
    (void)role;
    for (int d = 0; d < 2; d++)
        for (int e = 0; e < 2; e++) {
            if (x->nng[d][e])
                nng_close((nng_socket){.id = x->nng[d][e]});
            x->nng[d][e] = 0;
        }
}

const struct bx_ops bx_raw_nng = {
    .create = raw_nng_create,
    .connect = raw_nng_connect,
    .send = raw_nng_send,
    .recv = raw_nng_recv,
    .close = raw_nng_close,
};
