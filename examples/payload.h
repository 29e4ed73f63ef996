/* SPDX-License-Identifier: MIT */
/* The examples' message format: a header plus a pattern derived from it. */
#ifndef EXAMPLES_PAYLOAD_H
#define EXAMPLES_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Every example message checks itself, so that a receiver can prove that
 * each byte of each message arrived intact:
 *
 *   0..7    sequence number, from 0, per sender
 *   8..11   sender id (the producer's pid)
 *   12..15  length of the whole message in bytes
 *   16..    a pattern of 64-bit words computed from (sequence, sender,
 *           length, offset)
 *
 * The pattern depends on the offset, so a shifted, cut, merged or
 * overwritten message fails the check; and on the header, so the body of one
 * message under the header of another fails too. Host byte order: both ends
 * of an IPC channel run on the same machine.
 */
#define PAYLOAD_HEADER 16u
#define PAYLOAD_MIN    PAYLOAD_HEADER
#define PAYLOAD_MAX    UINT32_MAX

struct payload_header {
    uint64_t seq;
    uint32_t sender;
    uint32_t len;
};

/* Write a message of len bytes (PAYLOAD_MIN..PAYLOAD_MAX) into buf. */
void payload_fill(void *buf, size_t len, uint64_t seq, uint32_t sender);

/* Check a received message of len bytes. true if it is whole and intact;
 * *hdr gets its header whenever len >= PAYLOAD_HEADER (for error reports). */
bool payload_check(const void *buf, size_t len, struct payload_header *hdr);

#endif /* EXAMPLES_PAYLOAD_H */
