/* SPDX-License-Identifier: MIT */
/* The frontend: argument checks once, deadlines, dispatch to a backend. */
#include "ipc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHANNEL_VERSION_STR_(a, b, c) #a "." #b "." #c
#define CHANNEL_VERSION_STR(a, b, c)  CHANNEL_VERSION_STR_(a, b, c)

int ipc_version(void)
{
    return IPC_VERSION_NUM;
}

const char *ipc_version_string(void)
{
    return CHANNEL_VERSION_STR(IPC_VERSION_MAJOR, IPC_VERSION_MINOR,
                               IPC_VERSION_PATCH);
}

static ipc_err channel_range(const struct ipc_addr *addr, enum ipc__key key,
                             uint64_t lo, uint64_t hi, const char *scheme)
{
    if (!(addr->keys_set & IPC_KEYBIT(key)))
        return IPC_OK;
    uint64_t v = addr->val[key];
    if (v < lo || v > hi)
        return ipc__fail(IPC_EINVAL, "%s: %s=%llu out of range %llu..%llu",
                         scheme, ipc__key_name(key), (unsigned long long)v,
                         (unsigned long long)lo, (unsigned long long)hi);
    return IPC_OK;
}

ipc_err ipc__addr_check(const struct ipc_backend *be,
                        const struct ipc_addr *addr, bool named)
{
    const struct ipc_backend_limits *lim = &be->limits;
    unsigned unknown = addr->keys_set & ~be->keys;
    for (int k = 0; k < IPC_KEY_COUNT; k++)
        if (unknown & IPC_KEYBIT(k))
            return ipc__fail(IPC_EINVAL, "%s: unknown option \"%s\"",
                             be->scheme, ipc__key_name((enum ipc__key)k));
    if (named && addr->path_len != 0 && !(be->caps & IPC_CAP_NAMED))
        return ipc__fail(IPC_ENOTSUP, "%s: no named channels", be->scheme);
    if (named && be->path_required && addr->path_len == 0)
        return ipc__fail(IPC_EINVAL, "%s: the address needs a name",
                         be->scheme);
    if (!named && addr->path_len != 0)
        return ipc__fail(IPC_EINVAL,
                         "%s: a pair takes no name (\"%s:?options\")",
                         be->scheme, be->scheme);
    /* Options a pair would silently ignore (no name to guard) fail. */
    for (int k = 0; !named && k < IPC_KEY_COUNT; k++)
        if (addr->keys_set & be->named_keys & IPC_KEYBIT(k))
            return ipc__fail(IPC_EINVAL,
                             "%s: option \"%s\" applies to named objects, "
                             "not to a pair",
                             be->scheme, ipc__key_name((enum ipc__key)k));
    if (addr->path_len > lim->name_max)
        return ipc__fail(IPC_EINVAL, "%s: name is %zu bytes, the OS allows %zu",
                         be->scheme, addr->path_len, lim->name_max);
    if ((addr->keys_set & IPC_KEYBIT(IPC_KEY_CAPACITY)) &&
        addr->val[IPC_KEY_CAPACITY] == 0 && !(be->caps & IPC_CAP_RENDEZVOUS))
        return ipc__fail(IPC_ENOTSUP,
                         "%s: capacity=0 (rendezvous) is not supported",
                         be->scheme);
    ipc_err err =
        channel_range(addr, IPC_KEY_MAX_MSG, 1, lim->max_msg_max, be->scheme);
    if (err == IPC_OK)
        err = channel_range(addr, IPC_KEY_CAPACITY, 0, lim->capacity_max,
                            be->scheme);
    return err;
}

/* Parse an address and find its backend: the common start of open, pair
 * and unlink. */
static ipc_err channel_resolve(const char *address, struct ipc_addr *addr,
                               const struct ipc_backend **be)
{
    ipc_err err = ipc__addr_parse(address, addr);
    if (err != IPC_OK)
        return err;
    *be = ipc__backend_find(addr->scheme);
    if (!*be)
        return ipc__fail(IPC_EINVAL, "address: unknown scheme \"%s\"",
                         addr->scheme);
    if ((*be)->built_out)
        return ipc__fail(IPC_ENOTSUP, "%s: %s", addr->scheme, (*be)->built_out);
    /* "nng:/x" passes: the backend's open refuses it, and a pair hears
     * "no pairs" first. */
    if (addr->transport && !(*be)->transports)
        return ipc__fail(IPC_EINVAL, "address: %s: no \"+\" after the scheme",
                         addr->scheme);
    return IPC_OK;
}

static ipc_channel *channel_alloc(const struct ipc_backend *be,
                                  const struct ipc_addr *addr)
{
    ipc_channel *ch = calloc(1, sizeof *ch + be->priv_size);
    if (!ch)
        return NULL;
    ch->be = be;
    ch->max_msg =
        ipc__addr_get(addr, IPC_KEY_MAX_MSG, be->limits.max_msg_default);
    ch->capacity =
        ipc__addr_get(addr, IPC_KEY_CAPACITY, be->limits.capacity_default);
    return ch;
}

static void channel_free(ipc_channel *ch)
{
    if (!ch)
        return;
    /* A forked child closing its copy of the creator's end must not remove
     * the object from under the parent. */
    if (ch->owner && ch->owner_pid != getpid())
        ch->owner = false;
    ch->be->close(ch);
    free(ch->address);
    free(ch);
}

static ipc_err channel_check_flags(const struct ipc_backend *be, unsigned flags)
{
    const unsigned known = IPC_F_DUPLEX | IPC_F_CREATE | IPC_F_EXCL |
                           IPC_F_REPLACE | IPC_F_INHERIT;
    unsigned dir = flags & IPC_F_DUPLEX;
    if (flags & ~known)
        return ipc__fail(IPC_EINVAL, "flags: unknown bits 0x%x",
                         flags & ~known);
    if (dir == 0)
        return ipc__fail(IPC_EINVAL, "flags: need IPC_F_SEND or IPC_F_RECV");
    if (dir == IPC_F_DUPLEX && !(be->caps & IPC_CAP_DUPLEX))
        return ipc__fail(IPC_ENOTSUP, "%s: ends are one-way (no duplex)",
                         be->scheme);
    if ((flags & (IPC_F_EXCL | IPC_F_REPLACE)) && !(flags & IPC_F_CREATE))
        return ipc__fail(IPC_EINVAL, "flags: IPC_F_EXCL and IPC_F_REPLACE need "
                                     "IPC_F_CREATE");
    return IPC_OK;
}

ipc_err ipc_open(const char *address, unsigned flags, int timeout_ms,
                 ipc_channel **out)
{
    if (flags & IPC__F_BACK)
        return ipc__fail(IPC_EINVAL, "flags: unknown bits 0x%x",
                         (unsigned)IPC__F_BACK);
    return ipc__open(address, flags, timeout_ms, out);
}

ipc_err ipc__open(const char *address, unsigned flags, int timeout_ms,
                  ipc_channel **out)
{
    struct ipc_addr addr;
    const struct ipc_backend *be;
    if (!out)
        return ipc__fail(IPC_EINVAL, "ipc_open: out is NULL");
    *out = NULL;
    ipc_err err = channel_resolve(address, &addr, &be);
    if (err != IPC_OK)
        return err;
    if (!be->open)
        return ipc__fail(IPC_ENOTSUP, "%s: no named channels (use ipc_pair)",
                         be->scheme);
    if ((err = channel_check_flags(be, flags & ~IPC__F_BACK)) != IPC_OK ||
        (err = ipc__addr_check(be, &addr, true)) != IPC_OK)
        return err;

    ipc_channel *ch = channel_alloc(be, &addr);
    if (!ch || !(ch->address = strdup(address))) {
        free(ch);
        return ipc__fail(IPC_ENOMEM, "%s: out of memory", be->scheme);
    }
    ch->flags = flags;
    ch->direction = flags & IPC_F_DUPLEX;
    ch->caps = be->caps & ~IPC_CAP_PAIR;
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    ch->owner_pid = getpid();
    err = be->open(ch, &addr, flags, &dl);
    if (err != IPC_OK) {
        channel_free(ch);
        return err;
    }
    *out = ch;
    return IPC_OK;
}

ipc_err ipc_pair(const char *address, unsigned flags, ipc_channel *ends[2])
{
    struct ipc_addr addr;
    const struct ipc_backend *be;
    if (!ends)
        return ipc__fail(IPC_EINVAL, "ipc_pair: ends is NULL");
    ends[0] = ends[1] = NULL;
    ipc_err err = channel_resolve(address, &addr, &be);
    if (err != IPC_OK)
        return err;
    if (!be->pair)
        return ipc__fail(IPC_ENOTSUP, "%s: no private pairs", be->scheme);
    if (flags & ~(unsigned)IPC_F_INHERIT)
        return ipc__fail(IPC_EINVAL, "ipc_pair: only IPC_F_INHERIT applies");
    if ((err = ipc__addr_check(be, &addr, false)) != IPC_OK)
        return err;

    ipc_channel *tx = channel_alloc(be, &addr);
    ipc_channel *rx = channel_alloc(be, &addr);
    if (!tx || !rx) {
        free(tx);
        free(rx);
        return ipc__fail(IPC_ENOMEM, "%s: out of memory", be->scheme);
    }
    bool duplex = be->caps & IPC_CAP_DUPLEX;
    tx->flags = rx->flags = flags;
    tx->direction = duplex ? IPC_F_DUPLEX : IPC_F_SEND;
    rx->direction = duplex ? IPC_F_DUPLEX : IPC_F_RECV;
    tx->caps = rx->caps = be->caps & ~IPC_CAP_NAMED;
    err = be->pair(tx, rx, &addr, flags);
    if (err != IPC_OK) {
        channel_free(tx);
        channel_free(rx);
        return err;
    }
    ends[0] = tx;
    ends[1] = rx;
    return IPC_OK;
}

ipc_err ipc__channel_back(ipc_channel *ch, int timeout_ms, ipc_channel **out)
{
    const struct ipc_backend *be = ch->be;
    *out = NULL;
    if (!be->back || !(ch->caps & IPC_CAP_NAMED) ||
        ch->direction == IPC_F_DUPLEX)
        return ipc__fail(IPC_ENOTSUP, "%s: no way back on the connection",
                         be->scheme);
    ipc_channel *back = calloc(1, sizeof *back + be->priv_size);
    if (!back || !(back->address = strdup(ch->address))) {
        free(back);
        return ipc__fail(IPC_ENOMEM, "%s: out of memory", be->scheme);
    }
    back->be = be;
    back->flags = ch->flags & IPC_F_INHERIT;
    back->direction = ch->direction == IPC_F_SEND ? IPC_F_RECV : IPC_F_SEND;
    back->caps =
        be->caps & ~(unsigned)(IPC_CAP_NAMED | IPC_CAP_PAIR | IPC_CAP_DUPLEX |
                               IPC_CAP_MULTI_SENDER | IPC_CAP_RENDEZVOUS);
    back->max_msg = ch->max_msg;
    back->owner_pid = getpid();
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    ipc_err err = be->back(ch, back, &dl);
    if (err != IPC_OK) {
        channel_free(back);
        return err;
    }
    *out = back;
    return IPC_OK;
}

void ipc_close(ipc_channel *ch)
{
    channel_free(ch);
}

ipc_err ipc_unlink(const char *address)
{
    struct ipc_addr addr;
    const struct ipc_backend *be;
    ipc_err err = channel_resolve(address, &addr, &be);
    if (err != IPC_OK)
        return err;
    if (!be->unlink)
        return ipc__fail(IPC_ENOTSUP, "%s: no named objects to remove",
                         be->scheme);
    if ((err = ipc__addr_check(be, &addr, true)) != IPC_OK)
        return err;
    return be->unlink(&addr);
}

static ipc_err channel_need(const ipc_channel *ch, unsigned dir,
                            const char *call)
{
    if (!ch)
        return ipc__fail(IPC_EINVAL, "%s: channel is NULL", call);
    if (!(ch->direction & dir))
        return ipc__fail(IPC_EINVAL, "%s: this %s end does not %s", call,
                         ch->be->scheme,
                         dir == IPC_F_SEND ? "send" : "receive");
    return IPC_OK;
}

static ipc_err channel_check_prio(const ipc_channel *ch, unsigned prio)
{
    if (prio == 0)
        return IPC_OK;
    if (!(ch->caps & IPC_CAP_PRIORITY))
        return ipc__fail(IPC_ENOTSUP, "%s: no message priorities",
                         ch->be->scheme);
    if (prio > ch->be->max_prio)
        return ipc__fail(IPC_EINVAL, "%s: priority %u above the maximum %u",
                         ch->be->scheme, prio, ch->be->max_prio);
    return IPC_OK;
}

ipc_err ipc_send(ipc_channel *ch, const void *buf, size_t len, unsigned prio,
                 int timeout_ms)
{
    ipc_err err;
    /* Each report returns at once (no failure path joins the common one
     * again), so that the common path, the hot path of every backend, has
     * no registers to save. */
    if (!ch || !(ch->direction & IPC_F_SEND))
        return channel_need(ch, IPC_F_SEND, "ipc_send");
    if (!buf && len > 0)
        return ipc__fail(IPC_EINVAL, "ipc_send: buf is NULL");
    if (len > ch->max_msg)
        return ipc__fail(IPC_EMSGSIZE, "%s: message of %zu bytes, max_msg %zu",
                         ch->be->scheme, len, ch->max_msg);
    if ((err = channel_check_prio(ch, prio)) != IPC_OK)
        return err;
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    return ch->be->send(ch, buf, len, prio, &dl);
}

ipc_err ipc_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                 unsigned *prio, int timeout_ms)
{
    if (!ch || !(ch->direction & IPC_F_RECV)) /* see ipc_send */
        return channel_need(ch, IPC_F_RECV, "ipc_recv");
    if (!len || (!buf && cap > 0))
        return ipc__fail(IPC_EINVAL, "ipc_recv: NULL buffer or length");
    unsigned prio_dummy;
    if (!prio && !ch->be->recv_prio_null)
        prio = &prio_dummy;
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    return ch->be->recv(ch, buf, cap, len, prio, &dl);
}

ipc_err ipc_query(const ipc_channel *ch, ipc_info *info)
{
    if (!ch || !info)
        return ipc__fail(IPC_EINVAL, "ipc_query: NULL argument");
    *info = (ipc_info){
        .backend = ch->be->scheme,
        .direction = ch->direction,
        .caps = ch->caps,
        .max_msg = ch->max_msg,
        .capacity = ch->capacity,
        .buffer_bytes = ch->buffer_bytes,
        .max_prio = (ch->caps & IPC_CAP_PRIORITY) ? ch->be->max_prio : 0,
    };
    return IPC_OK;
}

static ipc_err channel_optional(const ipc_channel *ch, bool has_op,
                                const char *what)
{
    if (!ch)
        return ipc__fail(IPC_EINVAL, "%s: channel is NULL", what);
    if (!has_op)
        return ipc__fail(IPC_ENOTSUP, "%s: not supported by %s", what,
                         ch->be->scheme);
    return IPC_OK;
}

ipc_err ipc_pollfd(const ipc_channel *ch, int *fd, short *events)
{
    ipc_err err = channel_optional(ch, ch && ch->be->pollfd, "ipc_pollfd");
    if (err != IPC_OK)
        return err;
    if (!fd || !events)
        return ipc__fail(IPC_EINVAL, "ipc_pollfd: NULL argument");
    *events = (ch->direction & IPC_F_RECV) ? POLLIN : POLLOUT;
    return ch->be->pollfd(ch, fd);
}

ipc_err ipc_peer_uid(const ipc_channel *ch, uid_t *uid)
{
    ipc_err err = channel_optional(ch, ch && ch->be->peer_uid, "ipc_peer_uid");
    if (err != IPC_OK)
        return err;
    if (!uid)
        return ipc__fail(IPC_EINVAL, "ipc_peer_uid: NULL argument");
    return ch->be->peer_uid(ch, uid);
}

ipc_err ipc_address(const ipc_channel *ch, char *buf, size_t size)
{
    if (!ch || !buf)
        return ipc__fail(IPC_EINVAL, "ipc_address: NULL argument");
    if (ch->be->address)
        return ch->be->address(ch, buf, size);
    if (!ch->address)
        return ipc__fail(IPC_ENOTSUP, "%s: this end has no address",
                         ch->be->scheme);
    if ((size_t)snprintf(buf, size, "%s", ch->address) >= size)
        return ipc__fail(IPC_EMSGSIZE, "ipc_address: %zu bytes needed",
                         strlen(ch->address) + 1);
    return IPC_OK;
}

ipc_err ipc_loan(ipc_channel *ch, size_t len, void **buf, int timeout_ms)
{
    ipc_err err = channel_optional(ch, ch && ch->be->loan, "ipc_loan");
    if (err == IPC_OK)
        err = channel_need(ch, IPC_F_SEND, "ipc_loan");
    if (err != IPC_OK)
        return err;
    if (!buf)
        return ipc__fail(IPC_EINVAL, "ipc_loan: buf is NULL");
    if (len > ch->max_msg)
        return ipc__fail(IPC_EMSGSIZE, "%s: loan of %zu bytes, max_msg %zu",
                         ch->be->scheme, len, ch->max_msg);
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    return ch->be->loan(ch, len, buf, &dl);
}

ipc_err ipc_commit(ipc_channel *ch, void *buf, size_t len, unsigned prio)
{
    ipc_err err = channel_optional(ch, ch && ch->be->commit, "ipc_commit");
    if (err == IPC_OK)
        err = channel_need(ch, IPC_F_SEND, "ipc_commit");
    if (err == IPC_OK)
        err = channel_check_prio(ch, prio);
    if (err != IPC_OK)
        return err;
    if (!buf)
        return ipc__fail(IPC_EINVAL, "ipc_commit: buf is NULL");
    return ch->be->commit(ch, buf, len, prio);
}

ipc_err ipc_view(ipc_channel *ch, const void **buf, size_t *len, unsigned *prio,
                 int timeout_ms)
{
    ipc_err err = channel_optional(ch, ch && ch->be->view, "ipc_view");
    if (err == IPC_OK)
        err = channel_need(ch, IPC_F_RECV, "ipc_view");
    if (err != IPC_OK)
        return err;
    if (!buf || !len)
        return ipc__fail(IPC_EINVAL, "ipc_view: NULL argument");
    unsigned prio_dummy;
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    return ch->be->view(ch, buf, len, prio ? prio : &prio_dummy, &dl);
}

ipc_err ipc_release(ipc_channel *ch, const void *buf)
{
    ipc_err err = channel_optional(ch, ch && ch->be->release, "ipc_release");
    if (err != IPC_OK)
        return err;
    if (!buf)
        return ipc__fail(IPC_EINVAL, "ipc_release: buf is NULL");
    return ch->be->release(ch, buf);
}
