/* SPDX-License-Identifier: MIT */
/* Fuzz target: the frame header decoder (ipc__frame_decode) against a
 * reference reading of the wire layout in frame.h, and the encoder's
 * round trip. Input: 16 header bytes, then 8 bytes of max_msg. */
#include "fuzz.h"
#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t frame_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char hdr[IPC_FRAME_HDR];
    if (size < IPC_FRAME_HDR)
        return 0;
    memcpy(hdr, data, IPC_FRAME_HDR);
    size_t max_msg = size >= IPC_FRAME_HDR + 8
                         ? (size_t)frame_le(data + IPC_FRAME_HDR, 8)
                         : 65536;
    struct ipc_frame f = {12345, 678};
    ipc_err err = ipc__frame_decode(hdr, max_msg, &f);

    uint64_t magic = frame_le(hdr, 4), prio = frame_le(hdr + 4, 4);
    uint64_t len = frame_le(hdr + 8, 8);
    bool good = magic == IPC_FRAME_MAGIC && prio <= IPC_FRAME_PRIO_MAX &&
                len <= max_msg;
    FUZZ_CHECK(err == (good ? IPC_OK : IPC_EPROTO), "decode: %s",
               ipc_errname(err));
    if (!good) {
        FUZZ_CHECK(f.len == 12345 && f.prio == 678, "output written on error");
        FUZZ_CHECK(ipc_last_detail()[0] != '\0', "no detail");
        return 0;
    }
    FUZZ_CHECK(f.len == len && f.prio == prio, "decoded %zu/%u", f.len, f.prio);
    unsigned char again[IPC_FRAME_HDR];
    ipc__frame_encode(again, f.len, f.prio);
    FUZZ_CHECK(memcmp(again, hdr, IPC_FRAME_HDR) == 0, "re-encoded differs");
    return 0;
}
