/* SPDX-License-Identifier: MIT */
/* Request/reply wire format: explicit little-endian header, checked in full
 * before any field is used (the layout is in rr_int.h). */
#include "ipc_int.h"
#include "rr_int.h"

#include <string.h>

static void rr_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

void ipc__rr_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t rr_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

uint64_t ipc__rr_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void ipc__rr_encode(unsigned char *out, const struct ipc_rr_hdr *h)
{
    rr_put32(out, IPC_RR_MAGIC);
    out[4] = (unsigned char)h->kind;
    out[5] = (unsigned char)h->flags;
    out[6] = (unsigned char)(h->status & 0xff);
    out[7] = (unsigned char)(h->status >> 8);
    rr_put32(out + 8, h->slot);
    rr_put32(out + 12, h->gen);
    ipc__rr_put64(out + 16, h->id);
    rr_put32(out + 24, (uint32_t)h->len);
    rr_put32(out + 28, 0);
}

ipc_err ipc__rr_decode(const unsigned char *msg, size_t n, struct ipc_rr_hdr *h)
{
    if (n < IPC_RR_HDR)
        return ipc__fail(IPC_EPROTO,
                         "reqrep: message of %zu bytes is "
                         "shorter than the %d-byte header",
                         n, IPC_RR_HDR);
    if (rr_get32(msg) != IPC_RR_MAGIC)
        return ipc__fail(IPC_EPROTO, "reqrep: bad magic 0x%08x",
                         (unsigned)rr_get32(msg));
    unsigned kind = msg[4], flags = msg[5];
    unsigned status = (unsigned)msg[6] | (unsigned)msg[7] << 8;
    uint32_t len = rr_get32(msg + 24);
    if (kind < IPC_RR_HELLO || kind > IPC_RR_KIND_MAX)
        return ipc__fail(IPC_EPROTO, "reqrep: unknown kind %u", kind);
    if (flags & ~(unsigned)(IPC_RR_IDEMPOTENT | IPC_RR_RESENT) ||
        (flags && kind != IPC_RR_REQUEST))
        return ipc__fail(IPC_EPROTO, "reqrep: flags 0x%x on kind %u", flags,
                         kind);
    /* A failure names a real code; everything else carries none. */
    if (kind == IPC_RR_FAIL ? status == 0 || status > 0xff : status != 0)
        return ipc__fail(IPC_EPROTO, "reqrep: status %u on kind %u", status,
                         kind);
    if (rr_get32(msg + 28) != 0)
        return ipc__fail(IPC_EPROTO, "reqrep: reserved field is not 0");
    if ((size_t)len != n - IPC_RR_HDR)
        return ipc__fail(IPC_EPROTO,
                         "reqrep: header says %u payload bytes, "
                         "the message has %zu",
                         (unsigned)len, n - IPC_RR_HDR);
    h->kind = kind;
    h->flags = flags;
    h->status = status;
    h->slot = rr_get32(msg + 8);
    h->gen = rr_get32(msg + 12);
    h->id = ipc__rr_get64(msg + 16);
    h->len = len;
    return IPC_OK;
}

size_t ipc__rr_ident_encode(unsigned char *out, const struct ipc_rr_ident *id,
                            const char *addr)
{
    rr_put32(out, (uint32_t)id->pid);
    rr_put32(out + 4, 0);
    ipc__rr_put64(out + 8, id->start);
    size_t n = addr ? strlen(addr) : 0;
    if (n)
        memcpy(out + IPC_RR_IDENT, addr, n);
    return IPC_RR_IDENT + n;
}

ipc_err ipc__rr_ident_decode(const unsigned char *p, size_t len,
                             struct ipc_rr_ident *id, char *addr,
                             size_t addr_size)
{
    if (len < IPC_RR_IDENT || rr_get32(p + 4) != 0)
        return ipc__fail(IPC_EPROTO, "reqrep: identity of %zu bytes", len);
    uint32_t pid = rr_get32(p);
    if (pid == 0 || pid > INT32_MAX)
        return ipc__fail(IPC_EPROTO, "reqrep: pid %u", (unsigned)pid);
    size_t n = len - IPC_RR_IDENT;
    if (!addr ? n != 0 : n == 0 || n >= addr_size)
        return ipc__fail(IPC_EPROTO, "reqrep: address of %zu bytes", n);
    if (addr) {
        /* The address is used to open a channel: no NUL or control bytes
         * may hide a second name in it. */
        for (size_t i = 0; i < n; i++)
            if (p[IPC_RR_IDENT + i] < 0x20 || p[IPC_RR_IDENT + i] == 0x7f)
                return ipc__fail(IPC_EPROTO, "reqrep: control byte in the "
                                             "reply address");
        memcpy(addr, p + IPC_RR_IDENT, n);
        addr[n] = '\0';
    }
    id->pid = (pid_t)pid;
    id->start = ipc__rr_get64(p + 8);
    return IPC_OK;
}
