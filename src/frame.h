/* SPDX-License-Identifier: MIT */
/* Length-prefixed frames for byte-stream transports: a 16-byte header. */
#ifndef IPC_FRAME_H
#define IPC_FRAME_H

#include "ipc_int.h"

/*
 * Wire layout, little-endian whatever the host:
 *   0..3   magic "IPC1" (0x31435049)
 *   4..7   priority (0..255; the upper 24 bits are reserved, zero)
 *   8..15  payload length in bytes
 * 16 bytes, not 8, so that payloads stay 16-byte aligned in buffers that
 * hold whole frames (glibc memcpy is many times slower at some offsets).
 */
#define IPC_FRAME_HDR 16u
#define IPC_FRAME_MAGIC 0x31435049u
#define IPC_FRAME_PRIO_MAX 255u

struct ipc_frame {
    size_t len;
    unsigned prio;
};

void ipc__frame_encode(unsigned char hdr[IPC_FRAME_HDR], size_t len,
                       unsigned prio);
/* Check a header a peer wrote: magic, reserved bits, len <= max_msg.
 * IPC_EPROTO with a detail on garbage; nothing is allocated or read. */
ipc_err ipc__frame_decode(const unsigned char hdr[IPC_FRAME_HDR],
                          size_t max_msg, struct ipc_frame *out);

#endif /* IPC_FRAME_H */
