/* SPDX-License-Identifier: MIT */
/* White-box hooks of the shm ring (src/backend/shmring/, layout version 2)
 * for its own tests and its fuzz target: not public API, not exported. */
#ifndef IPC_SHMRING_HOOKS_H
#define IPC_SHMRING_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/ipc.h"

/* Offset of a header field by name ("tail", "peers", ...), or of
 * "peer_size", "peer_bell", "slot_len", "slot_payload"; (size_t)-1 if
 * unknown. */
size_t ipc__shmring_test_offset(const char *field);
size_t ipc__shmring_test_size(size_t capacity, size_t max_msg);
size_t ipc__shmring_test_slot(size_t max_msg, size_t index);
uint64_t ipc__shmring_test_state(uint64_t pos, unsigned kind, uint32_t owner);
uint64_t ipc__shmring_test_peer(uint32_t pid, uint32_t gen, unsigned state,
                                unsigned role);
void ipc__shmring_test_format(void *base, size_t capacity, size_t max_msg);
void ipc__shmring_test_ready(void *base);
void *ipc__shmring_test_base(const ipc_channel *ch);
/* Called, when set, by a waiting end about to announce itself (or arm a
 * pair's bell), phase 0, and once it has, before it looks at the ring
 * again, phase 1: a test stops the process there (SIGSTOP) to put
 * wake-ups at the worst instants. */
extern void (*ipc__shmring_test_arm_hook)(bool rx, int phase);
/* Called, when set, by a receive on its general path once it has claimed
 * a message (phase 0) and once it has copied it out, before it frees the
 * slot (phase 1): a test kills the taker there. */
extern void (*ipc__shmring_test_claim_hook)(int phase);

#endif /* IPC_SHMRING_HOOKS_H */
