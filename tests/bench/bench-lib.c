/* SPDX-License-Identifier: MIT */
/* The libipc side of each row: the public API by address, nothing else. */
#include "bench.h"

#include <string.h>

/* How long a named open may wait for the peer's object (it exists already:
 * the children exchange a byte after creating, before opening). */
#define LIB_OPEN_TIMEOUT_MS 5000

/* Map a libipc failure to a bench status: "built without" and "unknown
 * scheme" mean not built; limits and refused options mean this size (or
 * this configuration) cannot be carried; anything else is an error. */
static int lib_fail(struct bx *x, ipc_err err, const char *call)
{
    const char *detail = ipc_last_detail();
    int status = BX_ERROR;
    if ((err == IPC_ENOTSUP && strstr(detail, "built without")) ||
        (err == IPC_EINVAL && strstr(detail, "unknown scheme")))
        status = BX_NOTBUILT;
    else if (err == IPC_EINVAL || err == IPC_ELIMIT || err == IPC_EMSGSIZE ||
             err == IPC_ENOTSUP)
        status = BX_SKIP;
    return bx_fail(x, status, "%s: %s: %s", call, ipc_errname(err), detail);
}

static void lib_reset(struct bx *x)
{
    memset(x->ch, 0, sizeof x->ch);
}

static void lib_close_all(struct bx *x)
{
    for (int d = 0; d < 2; d++)
        for (int e = 0; e < 2; e++) {
            ipc_close(x->ch[d][e]);
            x->ch[d][e] = NULL;
        }
}

static void lib_close_role(struct bx *x, int role)
{
    (void)role;
    lib_close_all(x);
}

static int lib_send(struct bx *x, int dir, const void *buf, size_t len)
{
    ipc_err err = ipc_send(x->ch[dir][0], buf, len, 0, x->timeout_ms);
    return err == IPC_OK ? BX_OK : lib_fail(x, err, "ipc_send");
}

static int lib_recv(struct bx *x, int dir, void *buf, size_t cap, size_t *len)
{
    ipc_err err = ipc_recv(x->ch[dir][1], buf, cap, len, NULL, x->timeout_ms);
    return err == IPC_OK ? BX_OK : lib_fail(x, err, "ipc_recv");
}

static int lib_nothing(struct bx *x, int role)
{
    (void)x;
    (void)role;
    return BX_OK;
}

/* ------------------------------------------------------------- pairs */

/* x->name[d] is the pair address ("pipe:?max_msg=65536"). */
static int lib_pair_prepare(struct bx *x)
{
    lib_reset(x);
    for (int d = 0; d < 2; d++) {
        ipc_err err = ipc_pair(x->name[d], 0, x->ch[d]);
        if (err != IPC_OK)
            return lib_fail(x, err, "ipc_pair");
    }
    return BX_OK;
}

/* Keep the send end of the direction this role sends on and the receive
 * end of the other; the forked copies of the rest are closed. */
static int lib_pair_create(struct bx *x, int role)
{
    int dsend = role == BX_INITIATOR ? BX_DIR_A : BX_DIR_B;
    ipc_close(x->ch[dsend][1]);
    x->ch[dsend][1] = NULL;
    ipc_close(x->ch[!dsend][0]);
    x->ch[!dsend][0] = NULL;
    return BX_OK;
}

static int lib_send_fd(struct bx *x, int dir)
{
    int fd;
    short events;
    return ipc_pollfd(x->ch[dir][0], &fd, &events) == IPC_OK ? fd : -1;
}

const struct bx_ops bx_lib_pair = {
    .prepare = lib_pair_prepare,
    .parent_close = lib_close_all,
    .create = lib_pair_create,
    .connect = lib_nothing,
    .send = lib_send,
    .recv = lib_recv,
    .send_fd = lib_send_fd,
    .close = lib_close_role,
};

/* ------------------------------------------------------------- named */

/* The receiver of each direction creates it (exclusively: a unique name
 * that exists is someone else's), then the sender opens the same address,
 * options included, so that both ends agree on max_msg and capacity. */
static int lib_named_prepare(struct bx *x)
{
    lib_reset(x);
    return BX_OK;
}

static int lib_named_create(struct bx *x, int role)
{
    int drecv = role == BX_INITIATOR ? BX_DIR_B : BX_DIR_A;
    ipc_err err =
        ipc_open(x->name[drecv], IPC_F_RECV | IPC_F_CREATE | IPC_F_EXCL,
                 LIB_OPEN_TIMEOUT_MS, &x->ch[drecv][1]);
    return err == IPC_OK ? BX_OK : lib_fail(x, err, "ipc_open (receiver)");
}

static int lib_named_connect(struct bx *x, int role)
{
    int dsend = role == BX_INITIATOR ? BX_DIR_A : BX_DIR_B;
    ipc_err err = ipc_open(x->name[dsend], IPC_F_SEND, LIB_OPEN_TIMEOUT_MS,
                           &x->ch[dsend][0]);
    return err == IPC_OK ? BX_OK : lib_fail(x, err, "ipc_open (sender)");
}

/* The creator's close removed each object; this catches what a killed
 * child left. */
static void lib_named_cleanup(struct bx *x)
{
    for (int d = 0; d < 2; d++)
        ipc_unlink(x->name[d]);
}

const struct bx_ops bx_lib_named = {
    .prepare = lib_named_prepare,
    .parent_close = lib_close_all,
    .create = lib_named_create,
    .connect = lib_named_connect,
    .send = lib_send,
    .recv = lib_recv,
    .send_fd = lib_send_fd,
    .close = lib_close_role,
    .cleanup = lib_named_cleanup,
};
