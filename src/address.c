/* SPDX-License-Identifier: MIT */
/* "scheme:path?key=value&..." -> struct ipc_addr. No system calls: this
 * parser reads untrusted text and is a fuzz target. */
#include "ipc_int.h"

#include <string.h>

struct address_key {
    const char *name;
    int base;     /* 8 for modes, 10 for numbers, 0 for text */
    uint64_t max; /* text: its slot in ipc_addr.str */
};

/* Every option any backend knows, with the widest range that makes sense;
 * backends narrow the ranges (ipc__addr_check). */
static const struct address_key address_keys[IPC_KEY_COUNT] = {
    [IPC_KEY_CAPACITY] = {"capacity", 10, UINT32_MAX},
    [IPC_KEY_MAX_MSG] = {"max_msg", 10, 1ull << 30},
    [IPC_KEY_MODE] = {"mode", 8, 0777},
    [IPC_KEY_FD] = {"fd", 10, INT32_MAX},
    [IPC_KEY_PEER_UID] = {"peer_uid", 10, UINT32_MAX - 1},
    [IPC_KEY_OWNER] = {"owner", 10, UINT32_MAX - 1},
    [IPC_KEY_SIZE] = {"size", 10, INT64_MAX},
    [IPC_KEY_BIND] = {"bind", 0, 0},
    [IPC_KEY_PEER] = {"peer", 0, 1},
    [IPC_KEY_LAZY] = {"lazy", 10, 1},
    [IPC_KEY_NODELAY] = {"nodelay", 10, 1},
};

const char *ipc__key_name(enum ipc__key key)
{
    return (unsigned)key < IPC_KEY_COUNT ? address_keys[key].name : "?";
}

static bool address_is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static ipc_err address_scheme(const char **p, struct ipc_addr *addr)
{
    const char *s = *p;
    size_t n = 0;
    while ((s[n] >= 'a' && s[n] <= 'z') ||
           (n > 0 && s[n] >= '0' && s[n] <= '9'))
        n++;
    /* "nng+tcp://h:p": the scheme "nng", its transport in the path. */
    if (s[n] != ':' && s[n] != '+')
        return ipc__fail(IPC_EINVAL,
                         "address: expected \"scheme:\" at the start");
    if (n == 0 || n > IPC_ADDR_SCHEME_MAX)
        return ipc__fail(IPC_EINVAL, "address: bad scheme length %zu", n);
    memcpy(addr->scheme, s, n);
    addr->scheme[n] = '\0';
    addr->transport = s[n] == '+';
    *p = s + n + 1;
    return IPC_OK;
}

static ipc_err address_path(const char **p, struct ipc_addr *addr)
{
    const char *s = *p;
    size_t n = 0;
    for (; s[n] != '\0' && s[n] != '?'; n++) {
        if (address_is_ctl((unsigned char)s[n]))
            return ipc__fail(IPC_EINVAL,
                             "address: control character 0x%02x in name",
                             (unsigned char)s[n]);
        if (n >= IPC_ADDR_PATH_MAX)
            return ipc__fail(IPC_EINVAL, "address: name longer than %d bytes",
                             IPC_ADDR_PATH_MAX);
    }
    memcpy(addr->path, s, n);
    addr->path[n] = '\0';
    addr->path_len = n;
    *p = s + n;
    return IPC_OK;
}

static ipc_err address_number(const char *s, size_t n,
                              const struct address_key *key, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return ipc__fail(IPC_EINVAL, "address: option %s has no value",
                         key->name);
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d >= (unsigned)key->base)
            return ipc__fail(IPC_EINVAL,
                             "address: option %s: \"%.*s\" is not a %s number",
                             key->name, (int)(n > 32 ? 32 : n), s,
                             key->base == 8 ? "octal" : "decimal");
        /* d > max first: max - d would wrap (lazy's max is 1). */
        if (d > key->max || v > (key->max - d) / (unsigned)key->base)
            return ipc__fail(IPC_EINVAL,
                             "address: option %s: value out of range "
                             "(at most %llu)",
                             key->name, (unsigned long long)key->max);
        v = v * (unsigned)key->base + d;
    }
    *out = v;
    return IPC_OK;
}

/* A text value: non-empty, printable (control bytes are refused by the
 * caller), without spaces, at most IPC_ADDR_STR_MAX bytes. */
static ipc_err address_text(const char *s, size_t n,
                            const struct address_key *key,
                            struct ipc_addr *addr, uint64_t *out)
{
    if (n == 0)
        return ipc__fail(IPC_EINVAL, "address: option %s has no value",
                         key->name);
    if (n > IPC_ADDR_STR_MAX)
        return ipc__fail(IPC_EINVAL,
                         "address: option %s: value longer than %d bytes",
                         key->name, IPC_ADDR_STR_MAX);
    if (memchr(s, ' ', n))
        return ipc__fail(IPC_EINVAL, "address: option %s: a space in it",
                         key->name);
    memcpy(addr->str[key->max], s, n);
    addr->str[key->max][n] = '\0';
    *out = key->max;
    return IPC_OK;
}

static ipc_err address_option(const char *s, size_t n, struct ipc_addr *addr)
{
    const char *eq = memchr(s, '=', n);
    if (!eq)
        return ipc__fail(IPC_EINVAL, "address: option \"%.*s\" lacks '='",
                         (int)(n > 32 ? 32 : n), s);
    size_t klen = (size_t)(eq - s);
    for (int k = 0; k < IPC_KEY_COUNT; k++) {
        const struct address_key *key = &address_keys[k];
        if (strlen(key->name) != klen || memcmp(key->name, s, klen) != 0)
            continue;
        if (addr->keys_set & IPC_KEYBIT(k))
            return ipc__fail(IPC_EINVAL, "address: option %s given twice",
                             key->name);
        addr->keys_set |= IPC_KEYBIT(k);
        if (key->base == 0)
            return address_text(eq + 1, n - klen - 1, key, addr, &addr->val[k]);
        return address_number(eq + 1, n - klen - 1, key, &addr->val[k]);
    }
    return ipc__fail(IPC_EINVAL, "address: unknown option \"%.*s\"",
                     (int)(klen > 32 ? 32 : klen), s);
}

static ipc_err address_query(const char *s, struct ipc_addr *addr)
{
    while (*s != '\0') {
        size_t n = strcspn(s, "&");
        for (size_t i = 0; i < n; i++)
            if (address_is_ctl((unsigned char)s[i]))
                return ipc__fail(IPC_EINVAL,
                                 "address: control character in options");
        ipc_err err = address_option(s, n, addr);
        if (err != IPC_OK)
            return err;
        s += n;
        if (*s == '&' && *++s == '\0')
            return ipc__fail(IPC_EINVAL, "address: empty option at the end");
    }
    return IPC_OK;
}

ipc_err ipc__addr_parse(const char *text, struct ipc_addr *addr)
{
    memset(addr, 0, sizeof *addr);
    if (!text)
        return ipc__fail(IPC_EINVAL, "address: NULL");
    const char *p = text;
    ipc_err err = address_scheme(&p, addr);
    if (err == IPC_OK)
        err = address_path(&p, addr);
    if (err == IPC_OK && *p == '?')
        err = address_query(p + 1, addr);
    return err;
}
