/* SPDX-License-Identifier: MIT */
/* Test helpers: clocks, child processes with deadlines, patterns, fds. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

/* Children of tu_fork(): every one (SysV queues are attributed to them)
 * and the ones not reaped yet (killed by tu_kill_live). */
#define TU_MAX_PIDS 8192
static pid_t tu_pids[TU_MAX_PIDS];
static int tu_n_pids;
static pid_t tu_live[TU_MAX_PIDS];
static int tu_n_live;
static bool tu_child;

const char *tu_test_name = "?";

static void tu_on_alarm(int sig)
{
    static const char msg[] = "\nWATCHDOG: still running after its time "
                              "(hung, or starved): ";
    const char *who = tu_child ? "a child of " : "";
    (void)sig;
    /* Only async-signal-safe calls. */
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)!write(STDERR_FILENO, who, strlen(who));
    (void)!write(STDERR_FILENO, tu_test_name, strlen(tu_test_name));
    (void)!write(STDERR_FILENO, "\n", 1);
    _exit(TU_WATCHDOG_EXIT);
}

void tu_watchdog(unsigned seconds)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tu_on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarm(seconds);
}

pid_t tu_fork(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        tu_child = true;
        tu_n_live = 0;
        signal(SIGUSR1, SIG_DFL);
        /* cmocka catches these to fail the running test with a longjmp:
         * in a child that would run the parent's remaining tests. A
         * child's crash shows as its signal instead. */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        signal(SIGILL, SIG_DFL);
        signal(SIGFPE, SIG_DFL);
        signal(SIGSYS, SIG_DFL);
        tu_watchdog(TU_CHILD_WATCHDOG_S);
    } else if (pid > 0) {
        if (tu_n_pids < TU_MAX_PIDS)
            tu_pids[tu_n_pids++] = pid;
        if (tu_n_live < TU_MAX_PIDS)
            tu_live[tu_n_live++] = pid;
    }
    return pid;
}

bool tu_in_child(void)
{
    return tu_child;
}

bool tu_forked(pid_t pid)
{
    for (int i = 0; i < tu_n_pids; i++)
        if (tu_pids[i] == pid)
            return true;
    return false;
}

static void tu_reaped(pid_t pid)
{
    for (int i = 0; i < tu_n_live; i++)
        if (tu_live[i] == pid)
            tu_live[i--] = tu_live[--tu_n_live];
}

bool tu_wait(pid_t pid, int timeout_ms, int *status)
{
    int st = 0;
    int64_t deadline = tu_now_ns() + (int64_t)timeout_ms * 1000000;
    if (pid <= 0) { /* a fork that failed: never waitpid(-1) */
        if (status)
            *status = -1;
        return false;
    }
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            tu_reaped(pid);
            if (status)
                *status = st;
            return true;
        }
        if (r < 0 && errno != EINTR) {
            tu_reaped(pid);
            if (status)
                *status = -1;
            return false;
        }
        if (tu_now_ns() >= deadline)
            break;
        tu_sleep_ms(2);
    }
    tu_kill(pid);
    if (status)
        *status = -1;
    return false;
}

const char *tu_child_end(pid_t pid, int timeout_ms)
{
    static char msg[128];
    int status = 0;
    if (pid <= 0)
        return "not a child (fork failed)";
    if (!tu_wait(pid, timeout_ms, &status)) {
        snprintf(msg, sizeof msg, "hung: killed after %d ms", timeout_ms);
        return msg;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return NULL;
    return tu_status_str(status, msg, sizeof msg);
}

void tu_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    tu_reaped(pid);
    if (kill(pid, SIGKILL) != 0)
        return;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
}

void tu_kill_live(void)
{
    while (tu_n_live > 0) {
        pid_t pid = tu_live[--tu_n_live];
        int st;
        /* Only a child not reaped yet is surely still ours (a reaped one's
         * pid may belong to anybody by now). */
        if (waitpid(pid, &st, WNOHANG) == 0)
            tu_kill(pid);
    }
}

const char *tu_signame(int sig, char *buf, size_t size)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},
        {SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},
        {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
        {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
        {SIGCHLD, "SIGCHLD"}, {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"},
        {SIGTSTP, "SIGTSTP"}, {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
        {SIGSYS, "SIGSYS"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    snprintf(buf, size, "signal %d", sig);
    return buf;
}

const char *tu_status_str(int status, char *buf, size_t size)
{
    char num[24];
    if (status == -1)
        snprintf(buf, size, "not a child");
    else if (WIFEXITED(status))
        snprintf(buf, size, "exit %d%s", WEXITSTATUS(status),
                 WEXITSTATUS(status) == TU_CHILD_FAILED
                     ? " (an assertion failed)"
                 : WEXITSTATUS(status) == TU_WATCHDOG_EXIT ? " (watchdog)"
                                                           : "");
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "signal %s (%s)",
                 tu_signame(WTERMSIG(status), num, sizeof num),
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

int tu_read_byte(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    unsigned char c;
    int n;
    while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        return -1;
    while ((n = (int)read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    return n == 1 ? c : -1;
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
