/* SPDX-License-Identifier: MIT */
/* The backend under contract, from the one table (tests/common/backends.def),
 * and the contract's own namings: fresh names and names of an exact length
 * (the name_max tests). */
#include "contract.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The longest file name in a directory (NAME_MAX): a longer path needs
 * directories. */
#define CT_NAME_COMPONENT 255

static void ct_touch(const char *path)
{
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_msg("create the key file %s: %s", path, strerror(errno));
    close(fd);
}

void ct_naming_make(const struct ct_naming *nm, char *buf, size_t size)
{
    tu_row_addr(nm->row, tu_tmpdir(), "ipct", buf, size, NULL);
    if (nm->row->flags & TU_R_FTOK)
        ct_touch(strchr(buf, ':') + 1);
}

/* "scheme:" + the template's text before {name} ("/", "@", "{tmp}/" as
 * "/tmp/": short, so that long names fit sun_path) + a unique name, padded
 * with 'p' to len bytes after "scheme:". */
static void ct_make_len_padded(const struct tu_row *row, char *buf, size_t size,
                               size_t len)
{
    char name[96];
    const char *at = strchr(row->addr, ':') + 1;
    size_t lead = strcspn(at, "{");
    const char *tmp = strncmp(at + lead, "{tmp}", 5) == 0 ? "/tmp/" : "";
    snprintf(name, sizeof name, "%.*s%s", (int)lead, at, tmp);
    tu_unique(name + strlen(name), sizeof name - strlen(name), "ipcl");
    /* "nng+ipc:": the transport before ':' counts in the name. */
    size_t head = (size_t)(at - row->addr), extra = head - strlen(row->scheme) - 1;
    size_t n = strlen(name);
    len -= extra;
    if (n > len)
        n = len;
    int w = snprintf(buf, size, "%.*s%.*s", (int)head, row->addr, (int)n, name);
    for (size_t i = n; i < len && (size_t)w + 1 < size; i++)
        buf[w++] = 'p';
    buf[w] = '\0';
}

/* A {port} or {uport} row (tcp:, udp:): a fresh address whose port is padded
 * with leading zeros to len bytes after "scheme:" ("tcp:127.0.0.1:000…05555").
 */
static void ct_make_len_port(const struct tu_row *row, char *buf, size_t size,
                             size_t len)
{
    char addr[128];
    tu_row_addr(row, tu_tmpdir(), "ipcl", addr, sizeof addr, NULL);
    const char *port = strrchr(addr, ':') + 1;
    size_t have = strlen(addr) - strlen(row->scheme) - 1;
    int w = snprintf(buf, size, "%.*s", (int)(port - addr), addr);
    for (size_t i = have; i < len && (size_t)w + 1 < size; i++)
        buf[w++] = '0';
    snprintf(buf + w, size - (size_t)w, "%s", port);
}

/* "scheme:" + "$TMPDIR/" + "./" repeated + a unique file name, len bytes
 * after "scheme:": a long path that can be made without deep directories. */
static void ct_make_len_dots(const struct tu_row *row, char *buf, size_t size,
                             size_t len)
{
    char name[96];
    tu_unique(name, sizeof name, "ipcl");
    int w = snprintf(buf, size, "%s:%s/", row->scheme, tu_tmpdir());
    size_t used = (size_t)w - strlen(row->scheme) - 1;
    size_t name_len = strlen(name);
    /* The file name takes the odd byte, so the rest is whole "./". */
    if ((len - used - name_len) % 2)
        name[name_len++] = 'f';
    name[name_len] = '\0';
    while (used + name_len < len && (size_t)w + 3 < size) {
        buf[w++] = '.';
        buf[w++] = '/';
        used += 2;
    }
    snprintf(buf + w, size - (size_t)w, "%s", name);
}

/* An ftok() path of exactly len bytes that exists: a fresh directory,
 * nested directories of 255-byte names, then the file. Longer than the OS
 * allows: only the string. */
static void ct_make_len_ftok(const struct tu_row *row, char *buf, size_t size,
                             size_t len)
{
    char name[96];
    tu_unique(name, sizeof name, "ipcl");
    int w = snprintf(buf, size, "%s:%s/%s", row->scheme, tu_tmpdir(), name);
    char *path = strchr(buf, ':') + 1;
    size_t have = strlen(path);
    bool make = len <= row->name_max;
    assert_true(len >= have + 2 && (size_t)(path - buf) + len < size);
    if (make && mkdir(path, 0700) != 0)
        fail_msg("mkdir %s: %s", path, strerror(errno));
    while (len - have > CT_NAME_COMPONENT + 1) {
        size_t comp = len - have - 3; /* leave room for "/f" */
        if (comp > CT_NAME_COMPONENT)
            comp = CT_NAME_COMPONENT;
        buf[w++] = '/';
        memset(buf + w, 'd', comp);
        w += (int)comp;
        buf[w] = '\0';
        have += comp + 1;
        if (make && mkdir(path, 0700) != 0)
            fail_msg("mkdir (%zu bytes): %s", have, strerror(errno));
    }
    buf[w++] = '/';
    memset(buf + w, 'f', len - have - 1);
    w += (int)(len - have - 1);
    buf[w] = '\0';
    if (make)
        ct_touch(path);
}

/* "0x" and len - 2 hex digits (more than 8 is refused by the backend). */
static void ct_make_len_key(const struct tu_row *row, char *buf, size_t size,
                            size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int w = snprintf(buf, size, "%s:0x", row->scheme);
    for (size_t i = 2; i < len && (size_t)w + 1 < size; i++) {
        unsigned d = (unsigned)(i == 2 ? 1 + tu_rand() % 15 : tu_rand() % 16);
        buf[w++] = hex[d];
    }
    buf[w] = '\0';
}

void ct_naming_make_len(const struct ct_naming *nm, char *buf, size_t size,
                        size_t len)
{
    const struct tu_row *row = nm->row;
    if (row->flags & TU_R_FTOK)
        ct_make_len_ftok(row, buf, size, len);
    else if (strstr(row->addr, "{key}"))
        ct_make_len_key(row, buf, size, len);
    else if (strstr(row->addr, "port}"))
        ct_make_len_port(row, buf, size, len);
    else if (row->name_max > CT_NAME_COMPONENT + 1 && row->fs)
        ct_make_len_dots(row, buf, size, len);
    else
        ct_make_len_padded(row, buf, size, len);
}

void ct_naming_drop(const struct ct_naming *nm, const char *addr)
{
    static char path[CT_ADDR_MAX];
    size_t root = strlen(tu_tmpdir());
    if (!(nm->row->flags & TU_R_FTOK))
        return;
    /* The key file and the directories make_len made for it. */
    snprintf(path, sizeof path, "%s", strchr(addr, ':') + 1);
    unlink(path);
    for (char *slash = strrchr(path, '/');
         slash && (size_t)(slash - path) > root; slash = strrchr(path, '/')) {
        *slash = '\0';
        rmdir(path);
    }
}

/* ---------------------------------------------------------------- backends */

static struct ct_naming ct_namings[CT_MAX_NAMINGS];
static struct ct_backend ct_loaded;

const struct ct_backend *ct_backend_load(const char *scheme)
{
    const struct tu_scheme *s = tu_scheme_find(scheme);
    if (!s)
        return NULL;
    unsigned both = IPC_F_SEND | IPC_F_RECV;
    bool duplex = s->pair_caps & IPC_CAP_DUPLEX;
    ct_loaded = (struct ct_backend){
        .name = s->scheme,
        .scheme = s->scheme,
        .pair_caps = s->pair_caps,
        .pair_dir = {duplex ? both : IPC_F_SEND, duplex ? both : IPC_F_RECV},
        .recv_caps = s->recv_caps,
        .send_caps = s->send_caps,
        .max_msg_default = s->max_msg_default,
        .max_msg_max = s->max_msg_max,
        .takes_capacity = s->props & TU_S_CAPACITY,
        .takes_mode = s->props & TU_S_MODE,
        .takes_peer_uid = s->props & TU_S_PEER_UID,
        .framed = s->props & TU_S_FRAMED,
        .no_fds = s->props & TU_S_NO_FDS,
        .windowed = s->props & TU_S_WINDOWED,
        .lossy = s->props & TU_S_LOSSY,
        .async = s->props & TU_S_ASYNC,
        .no_fork = s->props & TU_S_NO_FORK,
        .recv_closed = s->props & TU_S_RECV_CLOSED,
    };
    int n = 0;
    for (const struct tu_row *r = tu_rows; r->name && n < CT_MAX_NAMINGS; r++) {
        if (strcmp(r->scheme, scheme) != 0 || !r->naming)
            continue;
        ct_namings[n] = (struct ct_naming){
            .name = r->naming,
            .row = r,
            .name_max = r->name_max,
            .stale_survives = r->flags & TU_R_STALE_SURVIVES,
            .live_detected = !(r->flags & TU_R_REPLACES_LIVE),
            /* ipc.h: "IPC_ENOENT if missing". */
            .unlink_missing = IPC_ENOENT,
        };
        ct_loaded.namings[n] = &ct_namings[n];
        n++;
    }
    return &ct_loaded;
}
