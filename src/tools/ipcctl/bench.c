/* SPDX-License-Identifier: MIT */
/* ipcctl bench: throughput and round trip between two processes over one
 * address or scheme, for a few message sizes. */
#include "ipcctl.h"

#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_SIZES_MAX 16
#define BENCH_WAIT_MS   30000 /* any one step; a stuck peer ends the run */
#define BENCH_ADDR_MAX  4200

struct bench {
    size_t sizes[BENCH_SIZES_MAX];
    int n_sizes;
    long long count;               /* messages per size; 0: from the size */
    long long rounds;              /* round trips per size */
    bool tty;                      /* progress line on stderr */
    ipc_channel *fwd[2], *back[2]; /* [0] sends, [1] receives */
    char fwd_addr[BENCH_ADDR_MAX], back_addr[BENCH_ADDR_MAX];
};

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long bench_count(const struct bench *b, size_t size)
{
    if (b->count)
        return b->count;
    long long n = (long long)((64u << 20) / size);
    return n < 2000 ? 2000 : n > 200000 ? 200000 : n;
}

/* A name nobody else uses, for the scheme. */
static void bench_name(const char *scheme, int n, size_t max_msg, char *out)
{
    const char *tmp = getenv("TMPDIR");
    unsigned pid = (unsigned)getpid();
    if (strcmp(scheme, "sysv") == 0)
        snprintf(out, BENCH_ADDR_MAX, "sysv:0x%08x",
                 (0x6c000000u | (pid & 0xffffff) << 2 | (unsigned)n) &
                     0x7fffffffu);
    else if (strcmp(scheme, "fifo") == 0 || strcmp(scheme, "unix") == 0)
        snprintf(out, BENCH_ADDR_MAX, "%s:%s/ipcctl-bench-%u-%d", scheme,
                 tmp && *tmp ? tmp : "/tmp", pid, n);
    else
        snprintf(out, BENCH_ADDR_MAX, "%s:/ipcctl-bench-%u-%d", scheme, pid, n);
    size_t len = strlen(out);
    snprintf(out + len, BENCH_ADDR_MAX - len, "?max_msg=%zu", max_msg);
}

/* One direction: a pair, or a named receiver made here (the sender is
 * opened by address after the fork). */
static ipc_err bench_channel(const char *scheme, const char *given, int n,
                             size_t max_msg, ipc_channel *ends[2], char *addr)
{
    unsigned caps = 0;
    ipc_err err = ipc_scheme_caps(scheme, &caps);
    if (err != IPC_OK)
        return err;
    if (!given && (caps & IPC_CAP_PAIR)) {
        snprintf(addr, BENCH_ADDR_MAX, "%s:?max_msg=%zu", scheme, max_msg);
        return ipc_pair(addr, 0, ends);
    }
    if (given)
        snprintf(addr, BENCH_ADDR_MAX, "%s", given);
    else
        bench_name(scheme, n, max_msg, addr);
    ends[0] = NULL;
    return ipc_open(addr, IPC_F_RECV | IPC_F_CREATE | IPC_F_EXCL, 0, &ends[1]);
}

static void bench_progress(const struct bench *b, size_t size,
                           const char *phase, long long i, long long n)
{
    if (b->tty && (i & 1023) == 0)
        fprintf(stderr, "\r%zu B: %s %lld%%\033[K", size, phase, i * 100 / n);
}

/* The receiving process: take each size's messages, answer once, then
 * echo its round trips. */
static int bench_child(struct bench *b, size_t max)
{
    void *buf = malloc(max ? max : 1);
    ipc_err err = IPC_OK;
    if (!b->back[0])
        err = ipc_open(b->back_addr, IPC_F_SEND, BENCH_WAIT_MS, &b->back[0]);
    for (int s = 0; buf && err == IPC_OK && s < b->n_sizes; s++) {
        size_t len;
        long long n = bench_count(b, b->sizes[s]);
        for (long long i = 0; err == IPC_OK && i < n; i++)
            err = ipc_recv(b->fwd[1], buf, max, &len, NULL, BENCH_WAIT_MS);
        if (err == IPC_OK)
            err = ipc_send(b->back[0], "k", 1, 0, BENCH_WAIT_MS);
        for (long long i = 0; err == IPC_OK && i < b->rounds; i++) {
            err = ipc_recv(b->fwd[1], buf, max, &len, NULL, BENCH_WAIT_MS);
            if (err == IPC_OK)
                err = ipc_send(b->back[0], buf, len, 0, BENCH_WAIT_MS);
        }
    }
    if (err != IPC_OK)
        ipcctl_fail("bench receiver", err);
    free(buf);
    ipc_close(b->back[0]);
    return err == IPC_OK ? 0 : 1;
}

static ipc_err bench_size(struct bench *b, size_t size, void *buf, size_t max)
{
    long long n = bench_count(b, size);
    size_t len;
    ipc_err err = IPC_OK;
    double t0 = bench_now();
    for (long long i = 0; err == IPC_OK && i < n; i++) {
        bench_progress(b, size, "throughput", i, n);
        err = ipc_send(b->fwd[0], buf, size, 0, BENCH_WAIT_MS);
    }
    if (err == IPC_OK)
        err = ipc_recv(b->back[1], buf, max, &len, NULL, BENCH_WAIT_MS);
    double t1 = bench_now();
    for (long long i = 0; err == IPC_OK && i < b->rounds; i++) {
        bench_progress(b, size, "round trip", i, b->rounds);
        err = ipc_send(b->fwd[0], buf, size, 0, BENCH_WAIT_MS);
        if (err == IPC_OK)
            err = ipc_recv(b->back[1], buf, max, &len, NULL, BENCH_WAIT_MS);
    }
    double t2 = bench_now();
    if (b->tty)
        fprintf(stderr, "\r\033[K");
    if (err == IPC_OK)
        printf("%9zu %12.0f %10.1f %12.2f\n", size, (double)n / (t1 - t0),
               (double)n * (double)size / (t1 - t0) / 1e6,
               (t2 - t1) / (double)b->rounds * 1e6);
    return err;
}

static int bench_parent(struct bench *b, size_t max, pid_t child)
{
    void *buf = calloc(1, max ? max : 1);
    ipc_err err = buf ? IPC_OK : IPC_ENOMEM;
    if (err == IPC_OK && !b->fwd[0])
        err = ipc_open(b->fwd_addr, IPC_F_SEND, BENCH_WAIT_MS, &b->fwd[0]);
    if (err == IPC_OK)
        printf("%9s %12s %10s %12s\n", "size", "msgs/s", "MB/s",
               "round trip us");
    for (int s = 0; err == IPC_OK && s < b->n_sizes; s++)
        err = bench_size(b, b->sizes[s], buf, max);
    free(buf);
    if (err != IPC_OK) {
        ipcctl_fail(b->fwd_addr, err);
        kill(child, SIGKILL);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return err == IPC_OK && WIFEXITED(status) && WEXITSTATUS(status) == 0
               ? IPCCTL_OK
               : IPCCTL_FAILED;
}

static int bench_run(struct bench *b, const char *scheme, const char *given,
                     size_t max)
{
    ipc_err err = bench_channel(scheme, given, 0, max, b->fwd, b->fwd_addr);
    if (err != IPC_OK)
        return ipcctl_fail(given ? given : scheme, err);
    err = bench_channel(scheme, NULL, 1, max, b->back, b->back_addr);
    if (err != IPC_OK) {
        ipc_close(b->fwd[0]);
        ipc_close(b->fwd[1]);
        return ipcctl_fail(scheme, err);
    }
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        ipc_close(b->fwd[0]);
        ipc_close(b->back[1]);
        b->fwd[0] = b->back[1] = NULL;
        int rc = bench_child(b, max);
        ipc_close(b->fwd[1]); /* inherited: closing it removes nothing */
        _exit(rc);
    }
    /* The parent keeps its copy of the receiving end, unused: it created
     * a named channel, and its close would remove it (ipc.h: Fork). */
    int rc = child < 0 ? IPCCTL_FAILED : bench_parent(b, max, child);
    ipc_close(b->fwd[0]);
    ipc_close(b->fwd[1]);
    ipc_close(b->back[0]);
    ipc_close(b->back[1]);
    return rc;
}

static bool bench_sizes(struct bench *b, char *list)
{
    b->n_sizes = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        long long v;
        if (b->n_sizes == BENCH_SIZES_MAX ||
            !ipcctl_number(tok, 1, 64LL << 20, &v))
            return false;
        b->sizes[b->n_sizes++] = (size_t)v;
    }
    return b->n_sizes > 0;
}

static const struct option bench_opts[] = {
    {"sizes", required_argument, NULL, 's'},
    {"count", required_argument, NULL, 'n'},
    {"rounds", required_argument, NULL, 'r'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static int bench_main(int argc, char **argv)
{
    const struct ipcctl_cmd *cmd = &ipcctl_cmd_bench;
    static struct bench b = {
        .sizes = {64, 1024, 8192}, .n_sizes = 3, .rounds = 2000};
    bool done = false;
    int opt;
    while ((opt = ipcctl_getopt(cmd, argc, argv, "h", bench_opts, &done)) !=
           -1) {
        if (done)
            return IPCCTL_OK;
        bool ok =
            (opt == 's' && bench_sizes(&b, optarg)) ||
            (opt == 'n' && ipcctl_number(optarg, 1, 1LL << 30, &b.count)) ||
            (opt == 'r' && ipcctl_number(optarg, 1, 1LL << 30, &b.rounds));
        if (!ok)
            return ipcctl_usage(cmd, "bad option %s", argv[optind - 1]);
    }
    if (argc - optind != 1)
        return ipcctl_usage(cmd, "one ADDRESS or SCHEME, please");
    const char *target = argv[optind];
    char scheme[16];
    size_t slen = strcspn(target, ":");
    if (slen >= sizeof scheme)
        return ipcctl_usage(cmd, "%s: no such scheme", target);
    memcpy(scheme, target, slen);
    scheme[slen] = '\0';
    bool named = target[slen] == ':' && target[slen + 1] != '\0';
    size_t max = 1;
    for (int s = 0; s < b.n_sizes; s++)
        max = b.sizes[s] > max ? b.sizes[s] : max;
    b.tty = isatty(STDERR_FILENO);
    printf("ipcctl bench %s: one sender, one receiver process\n", target);
    return bench_run(&b, scheme, named ? target : NULL, max);
}

const struct ipcctl_cmd ipcctl_cmd_bench = {
    "bench", "measure throughput and round trip",
    "usage: ipcctl bench [--sizes LIST] [--count N] [--rounds N] "
    "ADDRESS|SCHEME\n"
    "Measure messages per second one way and the round-trip time between\n"
    "this process and a forked one, for each size. With a SCHEME (\"shm\")\n"
    "the channel is a private pair or a fresh unique name; with an ADDRESS\n"
    "the channel is created there (it must not exist; its max_msg must hold\n"
    "the largest size) and removed after. Replies use a fresh channel of\n"
    "the same scheme. A progress line shows on a terminal only.\n"
    "  --sizes LIST   message sizes in bytes, comma-separated\n"
    "                 (default 64,1024,8192)\n"
    "  --count N      messages per size (default: 64 MiB worth, 2000 to\n"
    "                 200000)\n"
    "  --rounds N     round trips per size (default 2000)\n"
    "Exit: 0 measured, 1 an IPC call failed, 2 bad usage.\n",
    bench_main};
