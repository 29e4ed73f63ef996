/* SPDX-License-Identifier: MIT */
/* Fuzz target: the request/reply header and identity decoders
 * (ipc__rr_decode, ipc__rr_ident_decode) against a reference reading of
 * the wire layout in src/reqrep/rr_int.h, the encoders' round trip, and
 * a udp server's answer to a ping (ipc__rr_pong).
 * Input: a whole message as a server or client would receive it. */
#include "fuzz.h"
#include "reqrep/rr_int.h"

#include <string.h>

static uint64_t rr_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The reference: is this header well formed? */
static bool rr_good(const uint8_t *d, size_t n)
{
    if (n < IPC_RR_HDR || rr_le(d, 4) != IPC_RR_MAGIC)
        return false;
    unsigned kind = d[4], flags = d[5], status = (unsigned)rr_le(d + 6, 2);
    /* Kinds 1..8 (7, 8: ping, pong); flags: idempotent (1) and the
     * library's resend (0x80), on requests (3) only. */
    if (kind < 1 || kind > 8 || (flags & ~0x81u) || (flags && kind != 3))
        return false;
    if (kind == 5 ? status == 0 || status > 255 : status != 0)
        return false;
    return rr_le(d + 28, 4) == 0 && rr_le(d + 24, 4) == n - IPC_RR_HDR;
}

static void rr_check_ident(const uint8_t *p, size_t len, bool hello)
{
    struct ipc_rr_ident id = {12345, 678};
    char addr[IPC_RR_ADDR_MAX];
    memset(addr, 'Z', sizeof addr);
    ipc_err err = ipc__rr_ident_decode(p, len, &id, hello ? addr : NULL,
                                       hello ? sizeof addr : 0);
    if (err != IPC_OK) {
        FUZZ_CHECK(err == IPC_EPROTO, "ident: %s", ipc_errname(err));
        FUZZ_CHECK(id.pid == 12345 && id.start == 678, "written on error");
        return;
    }
    FUZZ_CHECK(len >= IPC_RR_IDENT && id.pid > 0, "ident accepted");
    size_t alen = len - IPC_RR_IDENT;
    FUZZ_CHECK(!hello ||
                   (alen > 0 && alen < sizeof addr && strlen(addr) == alen),
               "address of %zu bytes", alen);
    unsigned char again[IPC_RR_IDENT + IPC_RR_ADDR_MAX];
    size_t n = ipc__rr_ident_encode(again, &id, hello ? addr : NULL);
    FUZZ_CHECK(n == len && memcmp(again, p, len) == 0, "ident round trip");
}

/* A ping's pong against a reference: the ids with their lowest bit set
 * are held, and must come back with IPC_RR_HELD; a malformed ping gets
 * none, and nothing is written. */
static void rr_check_pong(const uint8_t *p, size_t len)
{
    struct ipc_rr_calls k;
    ipc__rr_calls_init(&k);
    for (size_t at = 8; at + 8 <= len && at < IPC_RR_PING_MAX; at += 8) {
        uint64_t id = rr_le(p + at, 8) & ~IPC_RR_HELD;
        if (id & 1)
            FUZZ_CHECK(ipc__rr_hold(&k, id), "hold");
    }
    static unsigned char out[IPC_RR_PING_MAX];
    memset(out, 0xA5, sizeof out);
    size_t n = ipc__rr_pong(&k, p, len, out);
    bool well = len >= 8 && len % 8 == 0 && len <= IPC_RR_PING_MAX;
    FUZZ_CHECK(n == (well ? len : 0), "pong of %zu bytes for %zu", n, len);
    if (!well) {
        FUZZ_CHECK(out[0] == 0xA5 && out[7] == 0xA5, "written for a bad ping");
    } else {
        FUZZ_CHECK(memcmp(out, p, 8) == 0, "the ping's number");
        for (size_t at = 8; at < len; at += 8) {
            uint64_t want = rr_le(p + at, 8) & ~IPC_RR_HELD;
            uint64_t got = rr_le(out + at, 8);
            FUZZ_CHECK((got & ~IPC_RR_HELD) == want &&
                           !(got & IPC_RR_HELD) == !(want & 1),
                       "id at %zu", at);
        }
    }
    ipc__rr_calls_free(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ipc_rr_hdr h = {99, 99, 99, 99, 99, 99, 99};
    ipc_err err = ipc__rr_decode(data, size, &h);
    bool good = rr_good(data, size);
    FUZZ_CHECK(err == (good ? IPC_OK : IPC_EPROTO), "decode: %s",
               ipc_errname(err));
    if (!good) {
        FUZZ_CHECK(h.kind == 99 && h.len == 99, "output written on error");
        FUZZ_CHECK(ipc_last_detail()[0] != '\0', "no detail");
        return 0;
    }
    FUZZ_CHECK(h.len == size - IPC_RR_HDR, "len %zu", h.len);
    unsigned char again[IPC_RR_HDR];
    ipc__rr_encode(again, &h);
    FUZZ_CHECK(memcmp(again, data, IPC_RR_HDR) == 0, "re-encoded differs");
    if (h.kind == IPC_RR_HELLO || h.kind == IPC_RR_WELCOME)
        rr_check_ident(data + IPC_RR_HDR, h.len, h.kind == IPC_RR_HELLO);
    if (h.kind == IPC_RR_PING)
        rr_check_pong(data + IPC_RR_HDR, h.len);
    return 0;
}
