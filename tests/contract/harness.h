/* SPDX-License-Identifier: MIT */
/* Contract-suite plumbing shared by main.c and harness.c only. */
#ifndef IPC_CONTRACT_HARNESS_H
#define IPC_CONTRACT_HARNESS_H

#include "contract.h"

/* The prestate of each cmocka test: its mode and printable name. The group
 * state stays NULL on purpose: a non-NULL group state would replace these
 * prestates in every test. */
struct ct_case {
    const struct ct_mode *mode;
    const char *name;
};

/* The backend under test, chosen by argv[1]. */
extern const struct ct_backend *ct_backend;

#endif /* IPC_CONTRACT_HARNESS_H */
