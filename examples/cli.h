/* SPDX-License-Identifier: MIT */
/* Strict parsing of the example programs' numeric options. */
#ifndef EXAMPLES_CLI_H
#define EXAMPLES_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each returns false, leaving *out alone, on anything but a whole, in-range
 * value: no sign, no blanks, no trailing junk. */

/* A decimal count, 0..max. */
bool cli_u64(const char *text, uint64_t max, uint64_t *out);
/* Bytes, with an optional binary suffix: "4096", "64k" (65536), "1M";
 * at most max. */
bool cli_size(const char *text, size_t max, size_t *out);
/* Milliseconds: -1 (forever) or 0..INT_MAX. */
bool cli_timeout(const char *text, int *out);
/* A comma-separated list of sizes, "64,64k": at most cap entries, each
 * min..max. */
bool cli_size_list(const char *text, size_t min, size_t max, size_t *sizes,
                   size_t cap, size_t *count);

#endif /* EXAMPLES_CLI_H */
