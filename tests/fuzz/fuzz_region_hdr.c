/* SPDX-License-Identifier: MIT */
/* Fuzz target: the shm: region header, the one thing a region's opener
 * reads from memory a peer may have written. The decoder is checked
 * against a reference reading of the layout in region_int.h, then the same
 * bytes are put in a real shm object and opened: the answer must match and
 * nothing may crash, hang or SIGBUS. Input: 8 bytes of object size (taken
 * modulo 1 MiB + 64 KiB), then up to 32 header bytes. */
#include "fuzz.h"
#include "region/region_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t hdr_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* What the layout says these bytes are. */
static enum ipc__region_kind hdr_reference(const uint8_t *b, size_t n,
                                           uint64_t obj)
{
    if (n < IPC_REGION_HDR_BYTES || obj < IPC_REGION_HDR_BYTES)
        return IPC_REGION_OBJ_BLANK;
    uint64_t magic = hdr_le(b, 8);
    if (magic == 0)
        return IPC_REGION_OBJ_BLANK;
    if (magic != IPC_REGION_MAGIC || hdr_le(b + 8, 4) != IPC_REGION_VERSION ||
        hdr_le(b + 12, 4) != IPC_REGION_HDR_SIZE)
        return IPC_REGION_OBJ_BAD;
    uint64_t ready = hdr_le(b + 24, 4), size = hdr_le(b + 16, 8);
    if (ready == 0)
        return IPC_REGION_OBJ_HALF;
    if (ready != IPC_REGION_READY || obj < IPC_REGION_HDR_SIZE || size == 0 ||
        size != obj - IPC_REGION_HDR_SIZE)
        return IPC_REGION_OBJ_BAD;
    return IPC_REGION_OBJ_READY;
}

/* The same bytes in a real object, opened through the public call. */
static void hdr_open(const uint8_t *b, size_t n, uint64_t obj,
                     enum ipc__region_kind want, uint64_t size)
{
    char name[64], addr[80];
    snprintf(name, sizeof name, "/ipc-fuzz-region-%ld", (long)getpid());
    snprintf(addr, sizeof addr, "shm:%s", name);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0, "shm_open");
    if (ftruncate(fd, (off_t)obj) != 0 ||
        (n > 0 && obj > 0 && pwrite(fd, b, n < obj ? n : obj, 0) < 0)) {
        close(fd);
        shm_unlink(name);
        return;
    }
    close(fd);
    ipc_region *r = NULL;
    ipc_err err = ipc_region_open(addr, 0, 0, 0, &r);
    if (want == IPC_REGION_OBJ_READY) {
        FUZZ_CHECK(err == IPC_OK, "ready header refused: %s",
                   ipc_last_detail());
        FUZZ_CHECK(ipc_region_size(r) == size, "size");
        volatile unsigned char *p = ipc_region_ptr(r);
        p[size - 1] = p[0]; /* every byte is mapped: no SIGBUS */
    } else if (err == IPC_OK) {
        FUZZ_CHECK(want == IPC_REGION_OBJ_READY, "a bad header opened");
    } else {
        FUZZ_CHECK(err == IPC_EPROTO || err == IPC_EAGAIN, "open: %s (%s)",
                   ipc_errname(err), ipc_last_detail());
        FUZZ_CHECK(r == NULL, "out set on error");
    }
    ipc_region_close(r);
    shm_unlink(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t obj = hdr_le(data, 8) % ((1u << 20) + (64u << 10));
    const uint8_t *b = data + 8;
    size_t n = size - 8 > IPC_REGION_HDR_BYTES ? IPC_REGION_HDR_BYTES
                                               : size - 8;
    struct ipc__region_hdr hdr;
    char why[160] = "";
    enum ipc__region_kind kind =
        ipc__region_hdr_decode(b, n, obj, &hdr, why, sizeof why);
    enum ipc__region_kind want = hdr_reference(b, n, obj);
    FUZZ_CHECK(kind == want, "decode says %d, layout %d", kind, want);
    if (kind == IPC_REGION_OBJ_BAD)
        FUZZ_CHECK(why[0] != '\0', "no reason");
    if (kind == IPC_REGION_OBJ_READY) {
        FUZZ_CHECK(hdr.size == obj - IPC_REGION_HDR_SIZE, "size");
        unsigned char again[IPC_REGION_HDR_BYTES];
        ipc__region_hdr_encode(again, hdr.size, IPC_REGION_READY,
                               hdr.creator_pid);
        FUZZ_CHECK(memcmp(again, b, IPC_REGION_HDR_BYTES) == 0, "round trip");
    }
    /* The object holds the bytes given, then zeroes, up to its size: what
     * an opener reads of it decodes as below. */
    unsigned char real[IPC_REGION_HDR_BYTES] = {0};
    size_t real_n = obj < IPC_REGION_HDR_BYTES ? (size_t)obj
                                               : IPC_REGION_HDR_BYTES;
    memcpy(real, b, n < real_n ? n : real_n);
    kind = ipc__region_hdr_decode(real, real_n, obj, &hdr, why, sizeof why);
    hdr_open(b, n, obj, kind, hdr.size);
    return 0;
}
