/* SPDX-License-Identifier: MIT */
/* Request/reply: process identity (pid + start time) and the names of the
 * clients' reply channels, made so that a dead client's are recognised. */
#include "ipc_int.h"
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
    {"unix", false, false}, {"fifo", true, false}, {"mq", true, false},
    {"shm", true, false},   {"sysv", false, true},
};

static atomic_uint rr_counter;

uint64_t ipc__rr_start_time(pid_t pid)
{
#ifdef __linux__
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name may hold spaces and ')': fields start after the
     * last ')'. starttime is field 22; after ')' come fields 3, 4, ... */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    for (int field = 2; field < 21 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
#else
    (void)pid;
    return 0; /* no portable start time: liveness is the pid alone */
#endif
}

bool ipc__rr_alive(pid_t pid, uint64_t start)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    if (start == 0)
        return true;
    uint64_t now = ipc__rr_start_time(pid);
    /* 0: exited between the two looks (or /proc is gone: then trust
     * kill's answer). */
    if (now == 0)
        return kill(pid, 0) == 0 || errno != ESRCH;
    return now == start;
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
    for (size_t i = 0; i < sizeof rr_schemes / sizeof rr_schemes[0]; i++)
        if (strlen(rr_schemes[i].scheme) == n &&
            memcmp(rr_schemes[i].scheme, address, n) == 0)
            return &rr_schemes[i];
    *err = ipc__fail(IPC_ENOTSUP, "reqrep: %.*s: no named channel that "
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

ipc_err ipc__rr_reply_name(const struct ipc_rr_scheme *sc, const char *address,
                           const char *query, char *out, size_t size)
{
    const char *name;
    size_t n = rr_name(address, &name);
    char id[96];
    pid_t pid = getpid();
    snprintf(id, sizeof id, RR_TAG "%d.%" PRIu64 ".%u", (int)pid,
             ipc__rr_start_time(pid), atomic_fetch_add(&rr_counter, 1));
    int len;
    if (sc->keyfile) {
        len = snprintf(out, size, "sysv:%s/ipc%s", rr_tmpdir(), id);
    } else if (strcmp(sc->scheme, "unix") == 0) {
#ifdef __linux__
        /* Abstract: the kernel removes the name with the last socket. */
        len = snprintf(out, size, "unix:@ipc%s%s", id, query);
#else
        len = snprintf(out, size, "unix:%.*s%s%s", (int)n, name, id, query);
#endif
    } else {
        len = snprintf(out, size, "%s:%.*s%s%s", sc->scheme, (int)n, name, id,
                       query);
    }
    if (len < 0 || (size_t)len >= size)
        return ipc__fail(IPC_EINVAL, "reqrep: reply address for %s is too "
                                     "long",
                         address);
    if (!sc->keyfile)
        return IPC_OK;
    int fd = open(out + 5, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return ipc__errno(errno, "reqrep: key file %s", out + 5);
    close(fd);
    if ((size_t)len + strlen(query) >= size)
        return ipc__fail(IPC_EINVAL, "reqrep: reply address too long");
    strcat(out, query);
    return IPC_OK;
}

void ipc__rr_remove(const struct ipc_rr_scheme *sc, const char *reply_addr)
{
    ipc_unlink(reply_addr);
    if (sc->keyfile) {
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

static void rr_sweep_dir(const struct ipc_rr_scheme *sc, const char *dir,
                         const char *prefix, const char *addr_fmt)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0 ||
            !rr_stale(e->d_name + plen))
            continue;
        char addr[IPC_RR_ADDR_MAX];
        snprintf(addr, sizeof addr, addr_fmt, sc->scheme, dir, e->d_name);
        ipc__rr_remove(sc, addr);
    }
    closedir(d);
}

void ipc__rr_sweep_names(const struct ipc_rr_scheme *sc, const char *address)
{
    const char *name;
    size_t n = rr_name(address, &name);
    char stem[IPC_RR_ADDR_MAX], dir[IPC_RR_ADDR_MAX];
    if (sc->keyfile) {
        rr_sweep_dir(sc, rr_tmpdir(), "ipc" RR_TAG, "%s:%s/%s");
        return;
    }
    if (strcmp(sc->scheme, "unix") == 0) {
#ifdef __linux__
        return; /* abstract names leave nothing */
#endif
    }
    if (strcmp(sc->scheme, "mq") == 0 || strcmp(sc->scheme, "shm") == 0) {
        /* Linux shows both namespaces as directories. */
        snprintf(stem, sizeof stem, "%.*s" RR_TAG, (int)n - 1, name + 1);
        rr_sweep_dir(sc, sc->scheme[0] == 'm' ? "/dev/mqueue" : "/dev/shm",
                     stem, "%s:/%.0s%s");
        return;
    }
    const char *slash = memrchr(name, '/', n);
    if (!slash)
        return;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - name), name);
    if (dir[0] == '\0')
        strcpy(dir, "/");
    snprintf(stem, sizeof stem, "%.*s" RR_TAG, (int)(n - (size_t)(slash + 1 - name)),
             slash + 1);
    rr_sweep_dir(sc, dir, stem,
                 strcmp(dir, "/") == 0 ? "%s:%s%s" : "%s:%s/%s");
}
