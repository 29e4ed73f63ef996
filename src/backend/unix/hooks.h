/* SPDX-License-Identifier: MIT */
/* unix backend: what its own tests reach (tests/backend/test_unix.c). */
#ifndef IPC_UNIX_HOOKS_H
#define IPC_UNIX_HOOKS_H

/* Called, when set, by a rendezvous receive once it holds an offer, before
 * it takes the token (phase 0), and once it has taken it, before it tells
 * the sender (phase 1): a test kills the taker there (rendezvous.c). */
extern void (*ipc__unix_test_take_hook)(int phase);

#endif /* IPC_UNIX_HOOKS_H */
