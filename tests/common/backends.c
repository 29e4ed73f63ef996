/* SPDX-License-Identifier: MIT */
/* The one table of backends under test, built from backends.def, and the
 * address maker every suite uses. */
#include "backends.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

const struct tu_scheme tu_schemes[] = {
#define TU_SCHEME(s, pc, rc, sc, dflt, max, pr) {s, pc, rc, sc, dflt, max, pr},
#include "backends.def"
#undef TU_SCHEME
    {NULL, 0, 0, 0, 0, 0, 0},
};

const struct tu_row tu_rows[] = {
#define TU_ROW(n, s, nm, max, a, f, fl) {n, s, nm, max, a, f, fl},
#include "backends.def"
#undef TU_ROW
    {NULL, NULL, NULL, 0, NULL, NULL, 0},
};

const struct tu_scheme *tu_scheme_find(const char *scheme)
{
    for (const struct tu_scheme *s = tu_schemes; s->scheme; s++)
        if (strcmp(s->scheme, scheme) == 0)
            return s;
    return NULL;
}

const struct tu_row *tu_row_find(const char *name)
{
    for (const struct tu_row *r = tu_rows; r->name; r++)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

const struct tu_scheme *tu_row_scheme(const struct tu_row *row)
{
    return tu_scheme_find(row->scheme);
}

bool tu_row_named(const struct tu_row *row)
{
    return strchr(row->addr, '{') != NULL;
}

uint32_t tu_sysv_key(void)
{
    uint32_t key = (uint32_t)(tu_rand() & 0x3fffffff) | 0x40000000u;
    if (key >> 24 == 'I')
        key ^= 0x10000000u;
    return key;
}

/* A TCP or UDP (type) port free at this instant: the kernel's pick for
 * port 0 on the loopback, released again (tcp: and udp: rows; a receiver
 * given it binds it next, and only another bind of a port in the ephemeral
 * range in between could take it: the kernel hands ports out at random).
 * 0 if none. */
static unsigned tu_free_port(int type)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    unsigned port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Copy tmpl into buf with {tmp} {name} {key} {port} {uport} replaced. */
static void tu_expand(const char *tmpl, const char *tmp, const char *name,
                      uint32_t key, char *buf, size_t size)
{
    size_t w = 0;
    buf[0] = '\0';
    for (const char *p = tmpl; *p && w + 1 < size;) {
        char keybuf[16];
        const char *sub = NULL;
        size_t skip = 0;
        if (strncmp(p, "{tmp}", 5) == 0) {
            sub = tmp;
            skip = 5;
        } else if (strncmp(p, "{name}", 6) == 0) {
            sub = name;
            skip = 6;
        } else if (strncmp(p, "{port}", 6) == 0) {
            snprintf(keybuf, sizeof keybuf, "%u", tu_free_port(SOCK_STREAM));
            sub = keybuf;
            skip = 6;
        } else if (strncmp(p, "{uport}", 7) == 0) {
            snprintf(keybuf, sizeof keybuf, "%u", tu_free_port(SOCK_DGRAM));
            sub = keybuf;
            skip = 7;
        } else if (strncmp(p, "{key}", 5) == 0) {
            snprintf(keybuf, sizeof keybuf, "0x%08x", (unsigned)key);
            sub = keybuf;
            skip = 5;
        }
        if (sub) {
            int n = snprintf(buf + w, size - w, "%s", sub);
            w += (size_t)n < size - w ? (size_t)n : size - w - 1;
            p += skip;
        } else {
            buf[w++] = *p++;
            buf[w] = '\0';
        }
    }
}

void tu_row_addr(const struct tu_row *row, const char *tmp, const char *prefix,
                 char *buf, size_t size, uint32_t *key)
{
    char name[128] = "";
    uint32_t k = strstr(row->addr, "{key}") ? tu_sysv_key() : 0;
    if (strstr(row->addr, "{name}"))
        tu_unique(name, sizeof name, prefix);
    tu_expand(row->addr, tmp, name, k, buf, size);
    if (key)
        *key = k;
}

bool tu_row_fs(const struct tu_row *row, const char *addr, char *buf,
               size_t size)
{
    if (!row->fs)
        return false;
    size_t apre = strcspn(row->addr, "{"), fpre = strcspn(row->fs, "{");
    if (strncmp(addr, row->addr, apre) != 0)
        return false;
    size_t rest = strcspn(addr + apre, "?");
    int n = snprintf(buf, size, "%.*s%.*s", (int)fpre, row->fs, (int)rest,
                     addr + apre);
    return n > 0 && (size_t)n < size;
}
