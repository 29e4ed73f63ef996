/* SPDX-License-Identifier: MIT */
/* shm: white-box hooks (hooks.h). Tests (tests/backend/test_shm_*.c) and the
 * fuzz target (tests/fuzz/fuzz_shm_ring.c) write hostile and half-made rings
 * with these; not part of the public API, not exported. */
#include "shmring.h"
#include "hooks.h"

#include <string.h>
#include <unistd.h>

void (*ipc__shmring_test_arm_hook)(bool rx, int phase);
void (*ipc__shmring_test_claim_hook)(int phase);

size_t ipc__shmring_test_offset(const char *field)
{
#define SHMRING_FIELD_(f)                                                      \
    if (strcmp(field, #f) == 0)                                                \
        return offsetof(struct shmring_hdr, f);
    SHMRING_FIELD_(magic)
    SHMRING_FIELD_(version)
    SHMRING_FIELD_(ready)
    SHMRING_FIELD_(creator_pid)
    SHMRING_FIELD_(hdr_size)
    SHMRING_FIELD_(slot_size)
    SHMRING_FIELD_(slot_count)
    SHMRING_FIELD_(max_msg)
    SHMRING_FIELD_(map_size)
    SHMRING_FIELD_(tail)
    SHMRING_FIELD_(head)
    SHMRING_FIELD_(rx_wake)
    SHMRING_FIELD_(tx_wake)
    SHMRING_FIELD_(n_tx)
    SHMRING_FIELD_(n_rx)
    SHMRING_FIELD_(unlinked)
    SHMRING_FIELD_(rx_seen)
    SHMRING_FIELD_(tx_seen)
    SHMRING_FIELD_(peers)
#undef SHMRING_FIELD_
    if (strcmp(field, "peer_size") == 0)
        return sizeof(struct shmring_peer);
    if (strcmp(field, "peer_bell") == 0)
        return offsetof(struct shmring_peer, bell);
    if (strcmp(field, "slot_len") == 0)
        return offsetof(struct shmring_slot, len);
    if (strcmp(field, "slot_payload") == 0)
        return SHMRING_SLOT_HDR;
    return (size_t)-1;
}

size_t ipc__shmring_test_size(size_t capacity, size_t max_msg)
{
    struct shmring_geom g;
    shmring_geom(capacity, max_msg, &g);
    return (size_t)g.map_size;
}

size_t ipc__shmring_test_slot(size_t max_msg, size_t index)
{
    struct shmring_geom g;
    shmring_geom(1, max_msg, &g);
    return SHMRING_HDR_SIZE + index * (size_t)g.slot_size;
}

uint64_t ipc__shmring_test_state(uint64_t pos, unsigned kind, uint32_t owner)
{
    return shmring_state(pos, kind, owner);
}

uint64_t ipc__shmring_test_peer(uint32_t pid, uint32_t gen, unsigned state,
                                unsigned role)
{
    return shmring_peer_word(pid, gen, state, role);
}

void ipc__shmring_test_format(void *base, size_t capacity, size_t max_msg)
{
    struct shmring_geom g;
    struct shmring_prefix pre;
    ipc__shm_init();
    shmring_geom(capacity, max_msg, &g);
    ipc__shm_prefix_fill(&pre, true);
    pre.creator_pid = (uint32_t)getpid();
    memcpy(base, &pre, sizeof pre);
    ipc__shm_format(base, &g, true);
}

/* The mapping of an end (a pair's ring has no name to map it by). */
void *ipc__shmring_test_base(const ipc_channel *ch)
{
    return shmring_priv(ch)->hdr;
}

void ipc__shmring_test_ready(void *base)
{
    struct shmring_hdr *hdr = base;
    atomic_store_explicit(&hdr->ready, SHMRING_READY, memory_order_release);
}
