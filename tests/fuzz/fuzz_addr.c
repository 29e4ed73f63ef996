/* SPDX-License-Identifier: MIT */
/* Fuzz target: the address parser (ipc__addr_parse) and the per-backend
 * check (ipc__addr_check) against every backend in ipc__backends. Checks
 * that what parses is well formed, survives a round trip through text,
 * and that a backend accepts only what its keys and limits allow. */
#include "fuzz.h"
#include "ipc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_TEXT_MAX 8192

static const uint64_t addr_key_max[IPC_KEY_COUNT] = {
    [IPC_KEY_CAPACITY] = UINT32_MAX,
    [IPC_KEY_MAX_MSG] = 1ull << 30,
    [IPC_KEY_MODE] = 0777,
    [IPC_KEY_FD] = INT32_MAX,
    [IPC_KEY_PEER_UID] = UINT32_MAX - 1,
    [IPC_KEY_OWNER] = UINT32_MAX - 1,
    [IPC_KEY_SIZE] = INT64_MAX,
    [IPC_KEY_LAZY] = 1,
    [IPC_KEY_NODELAY] = 1,
    /* Text keys: the value is the key's slot in ipc_addr.str. */
    [IPC_KEY_BIND] = 0,
    [IPC_KEY_PEER] = 1,
};

static bool addr_key_text(int k)
{
    return k == IPC_KEY_BIND || k == IPC_KEY_PEER;
}

static void addr_well_formed(const struct ipc_addr *a)
{
    size_t n = strlen(a->scheme);
    FUZZ_CHECK(n >= 1 && n <= IPC_ADDR_SCHEME_MAX, "scheme length %zu", n);
    FUZZ_CHECK(a->scheme[0] >= 'a' && a->scheme[0] <= 'z', "scheme start");
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((a->scheme[i] >= 'a' && a->scheme[i] <= 'z') ||
                       (a->scheme[i] >= '0' && a->scheme[i] <= '9'),
                   "scheme byte 0x%02x", (unsigned char)a->scheme[i]);
    FUZZ_CHECK(a->path_len == strlen(a->path) &&
                   a->path_len <= IPC_ADDR_PATH_MAX,
               "path_len %zu, strlen %zu", a->path_len, strlen(a->path));
    for (size_t i = 0; i < a->path_len; i++) {
        unsigned char c = (unsigned char)a->path[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '?', "path byte 0x%02x", c);
    }
    FUZZ_CHECK((a->keys_set >> IPC_KEY_COUNT) == 0, "keys 0x%x", a->keys_set);
    for (int k = 0; k < IPC_KEY_COUNT; k++) {
        if (a->keys_set & IPC_KEYBIT(k))
            FUZZ_CHECK(a->val[k] <= addr_key_max[k], "%s=%llu",
                       ipc__key_name((enum ipc__key)k),
                       (unsigned long long)a->val[k]);
        else
            FUZZ_CHECK(a->val[k] == 0, "unset key with a value");
    }
}

static bool addr_texts_equal(const struct ipc_addr *a, const struct ipc_addr *b)
{
    for (int k = 0; k < IPC_KEY_COUNT; k++)
        if (addr_key_text(k) && (a->keys_set & IPC_KEYBIT(k)) &&
            strcmp(ipc__addr_str(a, (enum ipc__key)k),
                   ipc__addr_str(b, (enum ipc__key)k)) != 0)
            return false;
    return true;
}

/* Print the parsed address back as text; it must parse to the same. */
static void addr_round_trip(const struct ipc_addr *a)
{
    static char text[ADDR_TEXT_MAX + 256];
    static struct ipc_addr b;
    int w = snprintf(text, sizeof text, "%s:%s", a->scheme, a->path);
    char sep = '?';
    for (int k = 0; k < IPC_KEY_COUNT; k++) {
        if (!(a->keys_set & IPC_KEYBIT(k)))
            continue;
        if (addr_key_text(k))
            w += snprintf(text + w, sizeof text - (size_t)w, "%c%s=%s", sep,
                          ipc__key_name((enum ipc__key)k),
                          ipc__addr_str(a, (enum ipc__key)k));
        else
            w += snprintf(text + w, sizeof text - (size_t)w,
                          k == IPC_KEY_MODE ? "%c%s=%llo" : "%c%s=%llu", sep,
                          ipc__key_name((enum ipc__key)k),
                          (unsigned long long)a->val[k]);
        sep = '&';
    }
    FUZZ_CHECK(ipc__addr_parse(text, &b) == IPC_OK, "reparse of \"%s\": %s",
               text, ipc_last_detail());
    FUZZ_CHECK(strcmp(a->scheme, b.scheme) == 0 && a->path_len == b.path_len &&
                   memcmp(a->path, b.path, a->path_len) == 0 &&
                   a->keys_set == b.keys_set &&
                   memcmp(a->val, b.val, sizeof a->val) == 0 &&
                   addr_texts_equal(a, &b),
               "round trip of \"%s\" differs", text);
}

static void addr_check_backends(const struct ipc_addr *a)
{
    for (size_t i = 0; ipc__backends[i]; i++) {
        const struct ipc_backend *be = ipc__backends[i];
        if (be->built_out)
            continue; /* no limits to be within (nng without nng) */
        for (int named = 0; named < 2; named++) {
            ipc_err err = ipc__addr_check(be, a, named);
            FUZZ_CHECK(err == IPC_OK || err == IPC_EINVAL || err == IPC_ENOTSUP,
                       "%s: %s", be->scheme, ipc_errname(err));
            if (err != IPC_OK) {
                FUZZ_CHECK(ipc_last_detail()[0] != '\0', "no detail");
                continue;
            }
            /* Accepted: within the backend's keys and limits. */
            FUZZ_CHECK((a->keys_set & ~be->keys) == 0, "%s: unknown key",
                       be->scheme);
            FUZZ_CHECK(a->path_len <= be->limits.name_max, "%s: name %zu",
                       be->scheme, a->path_len);
            FUZZ_CHECK(named || a->path_len == 0, "%s: pair with a name",
                       be->scheme);
            uint64_t m = ipc__addr_get(a, IPC_KEY_MAX_MSG, 1);
            FUZZ_CHECK(m >= 1 && m <= be->limits.max_msg_max,
                       "%s: max_msg %llu", be->scheme, (unsigned long long)m);
            uint64_t c = ipc__addr_get(a, IPC_KEY_CAPACITY, 0);
            FUZZ_CHECK(c <= be->limits.capacity_max, "%s: capacity %llu",
                       be->scheme, (unsigned long long)c);
        }
    }
}

/* A key added to the parser but not to addr_key_max above would break the
 * invariant only when an input sets it to 1 or more: say so on the first
 * input instead (every numeric key takes at least 0 and 1). */
static void addr_table_complete(void)
{
    for (int k = 0; k < IPC_KEY_COUNT; k++)
        FUZZ_CHECK(addr_key_text(k) || addr_key_max[k] >= 1,
                   "addr_key_max has no range for %s",
                   ipc__key_name((enum ipc__key)k));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[ADDR_TEXT_MAX + 1];
    static struct ipc_addr addr;
    static bool table_checked;
    if (!table_checked) {
        addr_table_complete();
        table_checked = true;
    }
    if (size > ADDR_TEXT_MAX)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    ipc_err err = ipc__addr_parse(text, &addr);
    FUZZ_CHECK(err == IPC_OK || err == IPC_EINVAL, "parse: %s",
               ipc_errname(err));
    if (err != IPC_OK) {
        FUZZ_CHECK(ipc_last_detail()[0] != '\0', "EINVAL without a detail");
        return 0;
    }
    addr_well_formed(&addr);
    addr_round_trip(&addr);
    addr_check_backends(&addr);
    return 0;
}
