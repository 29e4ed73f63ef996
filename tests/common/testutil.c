/* SPDX-License-Identifier: MIT */
/* Test helpers: clocks, child processes with deadlines, patterns, fds. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Socket paths must fit in sun_path (108 bytes with the NUL); names made
 * here add about 30 bytes, so a longer $TMPDIR falls back to /tmp. */
#define TU_TMPDIR_MAX 64

int64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double tu_elapsed_ms(int64_t start_ns)
{
    return (double)(tu_now_ns() - start_ns) / 1e6;
}

void tu_sleep_ms(int ms)
{
    struct timespec left = {.tv_sec = ms / 1000,
                            .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

static uint64_t tu_state = 0x9e3779b97f4a7c15ull;

uint64_t tu_mix(uint64_t x)
{
    /* splitmix64 */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void tu_seed(uint64_t seed)
{
    tu_state = seed;
}

uint64_t tu_seed_from_env(void)
{
    const char *env = getenv("IPC_TEST_SEED");
    uint64_t seed;
    if (env && *env)
        seed = strtoull(env, NULL, 0);
    else
        seed = tu_mix((uint64_t)getpid() << 32 ^ (uint64_t)tu_now_ns());
    tu_seed(seed);
    return seed;
}

uint64_t tu_rand(void)
{
    tu_state = tu_mix(tu_state);
    return tu_state;
}

uint64_t tu_rand_range(uint64_t lo, uint64_t hi)
{
    return lo + tu_rand() % (hi - lo + 1);
}

void tu_pattern(void *buf, size_t len, uint64_t seed)
{
    unsigned char *p = buf;
    uint64_t x = seed;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            x = tu_mix(x);
        p[i] = (unsigned char)(x >> (8 * (i % 8)));
    }
}

size_t tu_pattern_check(const void *buf, size_t len, uint64_t seed)
{
    const unsigned char *p = buf;
    uint64_t x = seed;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            x = tu_mix(x);
        if (p[i] != (unsigned char)(x >> (8 * (i % 8))))
            return i;
    }
    return len;
}

uint32_t tu_checksum(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

pid_t tu_fork(void)
{
    fflush(stdout);
    fflush(stderr);
    return fork();
}

bool tu_wait(pid_t pid, int timeout_ms, int *status)
{
    int st = 0;
    int64_t deadline = tu_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status)
                *status = st;
            return true;
        }
        if (r < 0 && errno != EINTR) {
            if (status)
                *status = -1;
            return false;
        }
        if (tu_now_ns() >= deadline)
            break;
        tu_sleep_ms(2);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (status)
        *status = st;
    return false;
}

void tu_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    if (kill(pid, SIGKILL) != 0)
        return;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
}

const char *tu_status_str(int status, char *buf, size_t size)
{
    if (status == -1)
        snprintf(buf, size, "not a child");
    else if (WIFEXITED(status))
        snprintf(buf, size, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, size, "status 0x%x", (unsigned)status);
    return buf;
}

const char *tu_tmpdir(void)
{
    static char dir[TU_TMPDIR_MAX + 1];
    const char *env = getenv("TMPDIR");
    if (!env || env[0] != '/' || strlen(env) > TU_TMPDIR_MAX)
        return "/tmp";
    snprintf(dir, sizeof dir, "%s", env);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        dir[--n] = '\0';
    return dir;
}

const char *tu_reachable_tmpdir(void)
{
    char path[TU_TMPDIR_MAX + 1];
    snprintf(path, sizeof path, "%s", tu_tmpdir());
    for (;;) {
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
            !(st.st_mode & S_IXOTH))
            return "/tmp";
        char *slash = strrchr(path, '/');
        if (!slash || slash == path)
            return tu_tmpdir();
        *slash = '\0';
    }
}

void tu_unique(char *buf, size_t size, const char *prefix)
{
    static unsigned counter;
    snprintf(buf, size, "%s-%ld-%u-%04x", prefix, (long)getpid(), ++counter,
             (unsigned)(tu_rand() & 0xffff));
}

int tu_fd_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return -1;
    return (fl & FD_CLOEXEC) ? 1 : 0;
}

bool tu_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

void tu_fdset_take(struct tu_fdset *set)
{
    memset(set, 0, sizeof *set);
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        long fd = strtol(e->d_name, NULL, 10);
        if (fd >= 0 && fd < TU_FDSET_MAX && fd != self)
            set->open[fd] = true;
    }
    closedir(d);
    set->valid = true;
}
