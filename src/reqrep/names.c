/* SPDX-License-Identifier: MIT */
/* Request/reply: process identity (pid + start time) and the names of the
 * clients' reply channels, made so that a dead client's are recognised. */
#include "ipc_int.h"
#include "os.h"
#include "rr_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reply names: "<stem>.rr.<pid>.<start>.<n>". */
#define RR_TAG ".rr."

static const struct ipc_rr_scheme rr_schemes[] = {
    {.scheme = "unix", .back = true},
    {.scheme = "fifo", .unlink_early = true},
    {.scheme = "mq", .unlink_early = true},
    {.scheme = "shm", .unlink_early = true, .spins = true},
    {.scheme = "sysv", .keyfile = true},
    {.scheme = "tcp", .back = true, .remote = true},
    {.scheme = "udp", .back = true, .remote = true, .lossy = true},
};

/* nng+TRANSPORT://: replies back on the request's nng pipe (req/rep,
 * src/backend/nng/rr.c). */
static const struct ipc_rr_scheme rr_nng = {.scheme = "nng",
                                            .back = true,
                                            .remote = true,
                                            .redial = true,
                                            .open_flags = IPC__F_BACK};

static atomic_uint rr_counter;

/* Start time of pid (0 when unknown), and whether it has exited (a
 * zombie: its parent has not reaped it yet, but it will never answer). */
static uint64_t rr_stat(pid_t pid, bool *exited)
{
    uint64_t start = 0;
    enum ipc__proc_state st = ipc__proc_stat((uint32_t)pid, &start);
    *exited = st == IPC__PROC_GONE;
    return st == IPC__PROC_ALIVE ? start : 0;
}

uint64_t ipc__rr_start_time(pid_t pid)
{
    bool exited;
    return rr_stat(pid, &exited);
}

bool ipc__rr_alive(pid_t pid, uint64_t start)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    bool exited;
    uint64_t now = rr_stat(pid, &exited);
    if (exited)
        return false;
    /* 0: no start time to compare (none recorded, or /proc unreadable):
     * trust kill's answer. */
    return start == 0 || now == 0 || now == start;
}

/* tcp: nodelay=0 (Nagle's algorithm) holds a second small request or
 * reply until the first is acknowledged, and a connection that carries
 * answers delays its ACKs: two calls in flight then wait 40 ms a round
 * (measured here). Request/reply refuses it rather than crawl. */
static bool rr_nagle_asked(const char *address, ipc_err *err)
{
    struct ipc_addr a;
    if (strncmp(address, "tcp:", 4) != 0 ||
        ipc__addr_parse(address, &a) != IPC_OK ||
        ipc__addr_get(&a, IPC_KEY_NODELAY, 1) != 0)
        return false; /* a bad address is ipc_open's to report */
    *err = ipc__fail(IPC_EINVAL,
                     "reqrep: %s: nodelay=0 is for one-way streams; calls "
                     "over it would wait for delayed ACKs",
                     address);
    return true;
}

const struct ipc_rr_scheme *ipc__rr_scheme(const char *address, ipc_err *err)
{
    const char *colon = address ? strchr(address, ':') : NULL;
    if (!colon) {
        *err = ipc__fail(IPC_EINVAL, "reqrep: \"%s\" has no scheme",
                         address ? address : "(null)");
        return NULL;
    }
    size_t n = (size_t)(colon - address);
    if (strncmp(address, "nng+", 4) == 0)
        return &rr_nng;
    if (rr_nagle_asked(address, err))
        return NULL;
    for (size_t i = 0; i < sizeof rr_schemes / sizeof rr_schemes[0]; i++)
        if (strlen(rr_schemes[i].scheme) == n &&
            memcmp(rr_schemes[i].scheme, address, n) == 0)
            return &rr_schemes[i];
    *err = ipc__fail(IPC_ENOTSUP,
                     "reqrep: %.*s: no named channel that "
                     "several clients can send on",
                     (int)n, address);
    return NULL;
}

/* The name part of an address: after "scheme:", before '?'. */
static size_t rr_name(const char *address, const char **name)
{
    *name = strchr(address, ':') + 1;
    const char *q = strchr(*name, '?');
    return q ? (size_t)(q - *name) : strlen(*name);
}

static const char *rr_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    return t && t[0] == '/' && strlen(t) < 128 ? t : "/tmp";
}

/* Where a scheme's reply names live, and their prefix: dir is the
 * directory a sweep lists ("" where none can be listed), prefix the start
 * of every reply name of this server ("<server name's last part>.rr."). */
static void rr_place(const struct ipc_rr_scheme *sc, const char *address,
                     char *dir, size_t dsize, char *prefix, size_t psize)
{
    const char *name;
    size_t n = rr_name(address, &name);
    const char *slash = memrchr(name, '/', n);
    const char *base = slash ? slash + 1 : name;
    size_t blen = n - (size_t)(base - name);
    snprintf(prefix, psize, "%.*s" RR_TAG, (int)blen, base);
    if (sc->keyfile)
        snprintf(dir, dsize, "%s", rr_tmpdir());
    else if (strcmp(sc->scheme, "mq") == 0)
        snprintf(dir, dsize, "/dev/mqueue"); /* Linux, where mounted */
    else if (strcmp(sc->scheme, "shm") == 0)
        snprintf(dir, dsize, "/dev/shm"); /* Linux */
    else if (slash)
        snprintf(dir, dsize, "%.*s", (int)(slash - name), name);
    else
        dir[0] = '\0';
#ifdef __linux__
    if (strcmp(sc->scheme, "unix") == 0)
        dir[0] = '\0'; /* abstract names: nothing to sweep */
#endif
}

/* The address of reply name `leaf` (prefix + id) in dir. */
static int rr_compose(const struct ipc_rr_scheme *sc, const char *dir,
                      const char *leaf, const char *query, char *out,
                      size_t size)
{
    if (sc->keyfile || strcmp(sc->scheme, "fifo") == 0)
        return snprintf(out, size, "%s:%s/%s%s", sc->scheme, dir, leaf, query);
    if (strcmp(sc->scheme, "unix") == 0) {
#ifdef __linux__
        /* Abstract: the kernel removes the name with the last socket. */
        return snprintf(out, size, "unix:@%s%s", leaf, query);
#else
        return snprintf(out, size, "unix:%s/%s%s", dir, leaf, query);
#endif
    }
    return snprintf(out, size, "%s:/%s%s", sc->scheme, leaf, query);
}

ipc_err ipc__rr_reply_name(const struct ipc_rr_scheme *sc, const char *address,
                           const char *query, char *out, size_t size)
{
    char dir[IPC_RR_ADDR_MAX], leaf[IPC_RR_ADDR_MAX];
    rr_place(sc, address, dir, sizeof dir, leaf, sizeof leaf);
    pid_t pid = getpid();
    size_t used = strlen(leaf);
    snprintf(leaf + used, sizeof leaf - used, "%d.%" PRIu64 ".%u", (int)pid,
             ipc__rr_start_time(pid), atomic_fetch_add(&rr_counter, 1));
    if (!dir[0] && (sc->keyfile || strcmp(sc->scheme, "fifo") == 0))
        strcpy(dir, ".");
    int len = rr_compose(sc, dir, leaf, sc->keyfile ? "" : query, out, size);
    if (len < 0 || (size_t)len >= size)
        return ipc__fail(IPC_EINVAL,
                         "reqrep: reply address for %s is too "
                         "long",
                         address);
    if (!sc->keyfile)
        return IPC_OK;
    /* sysv: the key comes from this file's identity (os.h). */
    int fd = open(out + 5, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return ipc__errno(errno, "reqrep: key file %s", out + 5);
    close(fd);
    if ((size_t)len + strlen(query) >= size)
        return ipc__fail(IPC_EINVAL, "reqrep: reply address too long");
    strcat(out, query);
    return IPC_OK;
}

bool ipc__rr_reply_ok(const struct ipc_rr_scheme *sc, const char *address,
                      const char *reply_addr, const struct ipc_rr_ident *id)
{
    char dir[IPC_RR_ADDR_MAX], want[IPC_RR_ADDR_MAX];
    rr_place(sc, address, dir, sizeof dir, want, sizeof want);
    size_t used = strlen(want);
    snprintf(want + used, sizeof want - used, "%d.%" PRIu64 ".", (int)id->pid,
             id->start);
    if (strncmp(reply_addr, sc->scheme, strlen(sc->scheme)) != 0)
        return false;
    const char *name;
    size_t n = rr_name(reply_addr, &name);
    const char *leaf = name + n;
    while (leaf > name && leaf[-1] != '/' && leaf[-1] != '@')
        leaf--;
    size_t wlen = strlen(want);
    if ((size_t)(name + n - leaf) <= wlen || strncmp(leaf, want, wlen) != 0)
        return false;
    for (const char *p = leaf + wlen; p < name + n; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

void ipc__rr_remove(const struct ipc_rr_scheme *sc, const char *reply_addr)
{
    ipc_err err = ipc_unlink(reply_addr);
    /* The key file goes only with its queue: while it exists, a sweep can
     * still find the queue. */
    if (sc->keyfile && (err == IPC_OK || err == IPC_ENOENT)) {
        char path[IPC_RR_ADDR_MAX];
        const char *name;
        size_t n = rr_name(reply_addr, &name);
        snprintf(path, sizeof path, "%.*s", (int)n, name);
        unlink(path);
    }
}

/* "<pid>.<start>.<n>" of a dead process? */
static bool rr_stale(const char *tail)
{
    char *end;
    long pid = strtol(tail, &end, 10);
    if (*end != '.' || pid <= 0)
        return false;
    uint64_t start = strtoull(end + 1, &end, 10);
    if (*end != '.')
        return false;
    return !ipc__rr_alive((pid_t)pid, start);
}

void ipc__rr_sweep_names(const struct ipc_rr_scheme *sc, const char *address)
{
    char dir[IPC_RR_ADDR_MAX], prefix[IPC_RR_ADDR_MAX];
    rr_place(sc, address, dir, sizeof dir, prefix, sizeof prefix);
    DIR *d = dir[0] ? opendir(dir) : NULL;
    if (!d)
        return;
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0 ||
            !rr_stale(e->d_name + plen))
            continue;
        char addr[IPC_RR_ADDR_MAX];
        int len = rr_compose(sc, dir, e->d_name, "", addr, sizeof addr);
        if (len > 0 && (size_t)len < sizeof addr)
            ipc__rr_remove(sc, addr);
    }
    closedir(d);
}
