/* SPDX-License-Identifier: MIT */
/* The libFuzzer entry point every target defines; replay.c drives it
 * without libFuzzer (gcc, or clang without its fuzzer runtime). */
#ifndef IPC_FUZZ_H
#define IPC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>  /* FUZZ_CHECK */
#include <stdlib.h> /* FUZZ_CHECK */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: print it and abort, so that libFuzzer keeps the
 * input as a crash and the replay test fails. */
#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz invariant broken: %s: ", #cond);             \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif /* IPC_FUZZ_H */
