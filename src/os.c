/* SPDX-License-Identifier: MIT */
/* OS helpers shared by the backends (os.h). */
#include "os.h"

#include "ipc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

bool ipc__read_number(const char *path, const char *key, uint64_t *out)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *p = key ? strstr(buf, key) : buf;
    if (!p)
        return false;
    p += key ? strlen(key) : 0;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return false; /* "max": no limit */
    *out = strtoull(p, NULL, 10);
    return true;
}

long ipc__proc_long(const char *path)
{
    uint64_t v;
    if (!ipc__read_number(path, NULL, &v) || v > (uint64_t)LONG_MAX)
        return -1;
    return (long)v;
}

ipc_err ipc__fd_inherit(int fd, bool inherit, const char *scheme)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return ipc__errno(errno, "%s: fcntl F_GETFD", scheme);
    int want = inherit ? fl & ~FD_CLOEXEC : fl | FD_CLOEXEC;
    if (want != fl && fcntl(fd, F_SETFD, want) < 0)
        return ipc__errno(errno, "%s: fcntl F_SETFD", scheme);
    return IPC_OK;
}

ipc_err ipc__unlink_kind(const char *scheme, const char *path, mode_t type,
                         const char *kind)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return ipc__errno(errno, "%s: %s", scheme, path);
    if ((st.st_mode & S_IFMT) != type)
        return ipc__fail(IPC_EPROTO, "%s: %s is not %s; not removed", scheme,
                         path, kind);
    if (unlink(path) < 0)
        return ipc__errno(errno, "%s: unlink %s", scheme, path);
    return IPC_OK;
}

/* The made file is ours and of its kind, or it was swapped. */
static ipc_err os_check_made(const char *scheme, const char *path, mode_t type,
                             const struct stat *st)
{
    if ((st->st_mode & S_IFMT) == S_IFLNK)
        return ipc__fail(IPC_EACCES,
                         "%s: %s became a symbolic link after it was made; "
                         "mode not set",
                         scheme, path);
    if ((st->st_mode & S_IFMT) != type || st->st_uid != geteuid())
        return ipc__fail(IPC_EACCES,
                         "%s: %s was replaced after it was made (now owned "
                         "by uid %u); mode not set",
                         scheme, path, (unsigned)st->st_uid);
    return IPC_OK;
}

ipc_err ipc__chmod_made(const char *scheme, const char *path, mode_t type,
                        mode_t mode, struct stat *st)
{
#ifdef O_PATH
    /* O_PATH opens a socket or FIFO without side effects; O_NOFOLLOW makes
     * a symlink at path fail (ELOOP) instead of leading elsewhere. chmod
     * through /proc/self/fd reaches exactly the inode opened. */
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            return ipc__fail(IPC_EACCES,
                             "%s: %s became a symbolic link after it was "
                             "made; mode not set",
                             scheme, path);
        if (errno == EMFILE || errno == ENFILE) {
            /* Out of descriptors: the file cannot be checked, and the
             * caller, which cannot know it, would leave it behind. It is
             * the one just made (creators hold the directory's lock). */
            int saved = errno;
            unlink(path);
            errno = saved;
        }
        return ipc__errno(errno, "%s: open %s", scheme, path);
    }
    ipc_err err = IPC_OK;
    char proc[40];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (fstat(fd, st) < 0)
        err = ipc__errno(errno, "%s: fstat %s", scheme, path);
    else if ((err = os_check_made(scheme, path, type, st)) == IPC_OK &&
             chmod(proc, mode) < 0)
        err = ipc__errno(errno, "%s: chmod %s", scheme, path);
    close(fd);
    return err;
#else
    if (lstat(path, st) < 0)
        return ipc__errno(errno, "%s: lstat %s", scheme, path);
    ipc_err err = os_check_made(scheme, path, type, st);
    if (err == IPC_OK && chmod(path, mode) < 0)
        err = ipc__errno(errno, "%s: chmod %s", scheme, path);
    return err;
#endif
}

ipc_err ipc__check_owner(const char *scheme, const char *name, uid_t owner,
                         const struct ipc_addr *addr)
{
    uid_t me = geteuid();
    if (owner == me || owner == 0)
        return IPC_OK;
    if (addr && (addr->keys_set & IPC_KEYBIT(IPC_KEY_OWNER)) &&
        owner == (uid_t)addr->val[IPC_KEY_OWNER])
        return IPC_OK;
    return ipc__fail(IPC_EACCES,
                     "%s: %s is owned by uid %u, not by this process's uid "
                     "%u or root: not trusted (owner=%u in the address "
                     "trusts it)",
                     scheme, name, (unsigned)owner, (unsigned)me,
                     (unsigned)owner);
}

/* "/proc/<pid>/stat" without stdio (see ipc__proc_stat). */
static void os_stat_path(char path[32], uint32_t pid)
{
    char digits[12];
    int n = 0;
    do
        digits[n++] = (char)('0' + pid % 10);
    while ((pid /= 10) != 0);
    memcpy(path, "/proc/", 6);
    int at = 6;
    while (n)
        path[at++] = digits[--n];
    memcpy(path + at, "/stat", 6);
}

enum ipc__proc_state ipc__proc_stat(uint32_t pid, uint64_t *start)
{
    char path[32], buf[1024];
    os_stat_path(path, pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return (errno == ENOENT || errno == ESRCH) ? IPC__PROC_GONE
                                                   : IPC__PROC_UNKNOWN;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    int err = errno;
    close(fd);
    if (n <= 0)
        return n < 0 && err == ESRCH ? IPC__PROC_GONE : IPC__PROC_UNKNOWN;
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == '\0')
        return IPC__PROC_UNKNOWN;
    char state = p[2];
    if (state == 'Z' || state == 'X' || state == 'x')
        return IPC__PROC_GONE; /* exited: it will never answer */
    p += 3;
    /* starttime is field 22; the state was field 3. */
    for (int field = 4; field < 22; field++)
        if (!(p = strchr(p + 1, ' ')))
            return IPC__PROC_UNKNOWN;
    uint64_t v = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    *start = v;
    return IPC__PROC_ALIVE;
}

/* Pids at or above this are garbage (Linux's PID_MAX_LIMIT is 2^22). */
#define OS_PID_LIMIT (1u << 22)

int ipc__proc_gone(uint32_t pid, uint64_t start, uint64_t pidns)
{
    if (pid == 0 || pid >= OS_PID_LIMIT)
        return 1; /* no process has it: garbage, never passed to kill */
    struct stat st;
    if (pidns != 0 && stat("/proc/self/ns/pid", &st) == 0 &&
        (uint64_t)st.st_ino != pidns)
        return -1;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return 1;
    uint64_t now_start = 0;
    switch (ipc__proc_stat(pid, &now_start)) {
    case IPC__PROC_GONE:
        return 1;
    case IPC__PROC_UNKNOWN:
        return -1;
    default:
        return start != 0 && now_start != start; /* the pid was reused */
    }
}

/* splitmix64's finaliser: every input bit reaches every output bit. */
static uint64_t os_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

ipc_err ipc__sysv_path_key(const char *scheme, const char *path, key_t *key)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return ipc__fail(IPC_ENOENT,
                             "%s: %s: no such file to make a key from (the "
                             "key comes from an existing file's identity)",
                             scheme, path);
        return ipc__errno(errno, "%s: stat %s for its key", scheme, path);
    }
    uint64_t h = os_mix((uint64_t)st.st_dev ^ ((uint64_t)IPC_SYSV_PROJ << 56));
    h = os_mix(h ^ (uint64_t)st.st_ino);
    uint32_t k = (uint32_t)(h ^ (h >> 32));
    *key = (key_t)(k ? k : 1u); /* 0 is IPC_PRIVATE */
    return IPC_OK;
}

static void ipc_os_flock(int fd)
{
    while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
        ;
}

bool ipc__lock_judged(int fd, const char *path)
{
    struct stat mine, now;
    ipc_os_flock(fd);
    if (fstat(fd, &mine) < 0 || mine.st_nlink == 0)
        return false;
    if (!path)
        return true;
    return lstat(path, &now) == 0 && now.st_dev == mine.st_dev &&
           now.st_ino == mine.st_ino;
}

ipc_err ipc__lock_dir(const char *scheme, const char *path,
                      const struct ipc_deadline *dl, int *fd_out)
{
    char dir[PATH_MAX] = ".";
    const char *slash = strrchr(path, '/');
    if (slash) {
        size_t len = slash == path ? 1 : (size_t)(slash - path); /* "/x" */
        if (len >= sizeof dir)
            return ipc__fail(IPC_EINVAL, "%s: %s: name too long", scheme, path);
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ipc__errno(errno, "%s: open the directory of %s", scheme, path);
    /* Never blocking: anyone who can read the directory can flock it, and
     * a wait must keep to the caller's deadline. */
    long nap_ns = 20000;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        ipc_err err = errno == EINTR ? IPC_OK
                      : errno == EWOULDBLOCK
                          ? ipc__nap(dl, &nap_ns)
                          : ipc__errno(errno, "%s: flock %s", scheme, dir);
        if (err != IPC_OK) {
            close(fd);
            return ipc__fail(err,
                             "%s: %s: another process holds the lock of %s "
                             "(creators hold it while they make a name)",
                             scheme, path, dir);
        }
    }
    *fd_out = fd;
    return IPC_OK;
}

#if IPC_HAVE_EPOLL
void *ipc__turn_next(const struct epoll_event *ev, int n,
                     unsigned long last_id)
{
    const struct ipc_turn *after = NULL, *first = NULL;
    for (int i = 0; i < n; i++) {
        const struct ipc_turn *t = ev[i].data.ptr;
        if (!t)
            continue;
        if (t->id > last_id && (!after || t->id < after->id))
            after = t;
        if (!first || t->id < first->id)
            first = t;
    }
    return (void *)(after ? after : first);
}
#endif
