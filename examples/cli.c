/* SPDX-License-Identifier: MIT */
/* Strict parsing of the example programs' numeric options. */
#include "cli.h"

#include <limits.h>
#include <string.h>

/* Digits only, with overflow checked: strtoull would accept " -1" and
 * wrap it to a huge count. */
static bool cli_digits(const char *text, size_t len, uint64_t *out)
{
    uint64_t value = 0;

    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned digit = (unsigned)(text[i] - '0');
        if (digit > 9 || value > (UINT64_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

bool cli_u64(const char *text, uint64_t max, uint64_t *out)
{
    uint64_t value;

    if (!cli_digits(text, strlen(text), &value) || value > max)
        return false;
    *out = value;
    return true;
}

/* Parse text[0..len) as a size; the list parser reuses it on each item. */
static bool cli_size_n(const char *text, size_t len, size_t max, size_t *out)
{
    unsigned shift = 0;
    uint64_t value;

    if (len > 0) {
        switch (text[len - 1]) {
        case 'k':
        case 'K':
            shift = 10;
            break;
        case 'm':
        case 'M':
            shift = 20;
            break;
        }
    }
    if (shift != 0)
        len--;
    if (!cli_digits(text, len, &value) || value > (uint64_t)max >> shift)
        return false;
    *out = (size_t)(value << shift);
    return true;
}

bool cli_size(const char *text, size_t max, size_t *out)
{
    return cli_size_n(text, strlen(text), max, out);
}

bool cli_timeout(const char *text, int *out)
{
    uint64_t value;

    if (strcmp(text, "-1") == 0) {
        *out = -1;
        return true;
    }
    if (!cli_u64(text, INT_MAX, &value))
        return false;
    *out = (int)value;
    return true;
}

bool cli_size_list(const char *text, size_t min, size_t max, size_t *sizes,
                   size_t cap, size_t *count)
{
    size_t n = 0;

    for (;;) {
        size_t len = strcspn(text, ",");
        size_t size;
        if (n == cap || !cli_size_n(text, len, max, &size) || size < min)
            return false;
        sizes[n++] = size;
        if (text[len] == '\0')
            break;
        text += len + 1;
    }
    *count = n;
    return true;
}
