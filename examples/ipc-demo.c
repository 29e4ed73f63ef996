/* SPDX-License-Identifier: MIT */
/* ipc-demo: a producer and a consumer process over every backend built in. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS: POSIX only since 2024 */

#include "cli.h"
#include "payload.h"
#include "xfer.h"

#include <ipc/ipc.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A row moves at most this many messages and, for large sizes, about this
 * many bytes: a few seconds for the whole table. */
#define DEMO_COUNT_MAX     100000u
#define DEMO_COUNT_MIN     1000u
#define DEMO_BYTES_PER_ROW (1ull << 30)
#define DEMO_SIZES_MAX     16
/* The consumer creates a named channel after it is forked; the producer
 * waits this long for it to appear. */
#define DEMO_OPEN_MS 5000
/* No send or receive waits longer than this: a stuck row fails, it does
 * not hang the demo. */
#define DEMO_IO_MS 10000

/* A scheme of the library's list (ipc_scheme()). Pair-only schemes get
 * ipc_pair() then fork(); named ones a fresh name that the consumer
 * creates and the producer opens. */
struct demo_backend {
    const char *scheme;
    bool pair;      /* ipc_pair(), not a named channel */
    bool file_name; /* the name is a path under $TMPDIR, not "/name" */
    bool lossy;     /* udp: messages may be lost (IPC_CAP_LOSSY) */
};

/* What a scheme's names look like: ipc_scheme_caps() tells pair or named,
 * not the syntax (channel.h documents it per scheme). A path under $TMPDIR
 * for sockets and FIFOs, a key for SysV, "/name" for the rest. */
static struct demo_backend demo_backend_of(const char *scheme, unsigned caps)
{
    struct demo_backend be = {.scheme = scheme};
    be.pair = !(caps & IPC_CAP_NAMED);
    be.file_name = strcmp(scheme, "unix") == 0 || strcmp(scheme, "fifo") == 0;
    be.lossy = caps & IPC_CAP_LOSSY;
    return be;
}

/* What a child reports to the parent: in a shared anonymous mapping, so
 * that the demo does not depend on one of the backends it measures. */
struct demo_report {
    struct xfer_stats producer;
    struct xfer_stats consumer;
};

struct demo_row {
    const struct demo_backend *be;
    size_t size;
    uint64_t count;
    char address[256];
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ipc-demo [--count N] [--sizes LIST] [--backends LIST]\n"
            "For each backend built into libipc and each message size, fork "
            "a producer\n"
            "and a consumer, move checked messages between them, print one "
            "row.\n"
            "  --count N        messages per row (default %u, fewer for large "
            "sizes)\n"
            "  --sizes LIST     bytes per message, %u or more: 64,64k,1M "
            "(default 64,65536)\n"
            "  --backends LIST  only these schemes: pipe,unix (default: "
            "all)\n",
            DEMO_COUNT_MAX, PAYLOAD_MIN);
}

/* tcp, udp (type): a loopback port free at this instant (the kernel's
 * pick for port 0, released for the consumer to bind next). */
static unsigned demo_free_port(int type)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    unsigned port = 0;
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* A name nobody else uses: the pid, and a counter for the rows. */
static void demo_address(struct demo_row *row)
{
    static unsigned serial;
    const char *dir = getenv("TMPDIR");

    if (!dir || dir[0] != '/')
        dir = "/tmp";
    if (row->be->pair)
        snprintf(row->address, sizeof row->address, "%s:", row->be->scheme);
    else if (strcmp(row->be->scheme, "sysv") == 0)
        /* SysV names are 32-bit keys; a SysV pair would not outlive this
         * parent closing both its ends (a queue has no open count). */
        snprintf(row->address, sizeof row->address, "sysv:0x%08lx",
                 (0x1c000000ul | ((unsigned long)getpid() << 6) | serial++) &
                     0x7ffffffful);
    else if (strcmp(row->be->scheme, "tcp") == 0)
        snprintf(row->address, sizeof row->address, "tcp:127.0.0.1:%u",
                 demo_free_port(SOCK_STREAM));
    else if (strcmp(row->be->scheme, "udp") == 0)
        snprintf(row->address, sizeof row->address, "udp:127.0.0.1:%u",
                 demo_free_port(SOCK_DGRAM));
    else if (strcmp(row->be->scheme, "nng") == 0)
        snprintf(row->address, sizeof row->address, "nng+tcp://127.0.0.1:%u",
                 demo_free_port(SOCK_STREAM));
    else if (row->be->file_name)
        snprintf(row->address, sizeof row->address, "%s:%s/ipc-demo-%ld-%u",
                 row->be->scheme, dir, (long)getpid(), serial++);
    else
        snprintf(row->address, sizeof row->address, "%s:/ipc-demo-%ld-%u",
                 row->be->scheme, (long)getpid(), serial++);
}

/*
 * Is the backend built, and how large a message does it take by default?
 * Makes a channel the way the row will (a pair, or a named one that its
 * close removes) and asks it.
 */
static ipc_err demo_probe(const struct demo_backend *be, size_t *max_msg)
{
    struct demo_row row = {.be = be};
    ipc_channel *ends[2] = {NULL, NULL};
    ipc_info info;
    ipc_err err;

    /* nng: no channel in this parent. nng's threads do not survive
     * fork(), so the children could not use nng once the parent had. */
    if (strcmp(be->scheme, "nng") == 0) {
        ipc_limits_info limits;
        err = ipc_limits(be->scheme, &limits);
        if (err == IPC_OK)
            *max_msg = limits.max_msg_default;
        return err;
    }
    demo_address(&row);
    if (be->pair)
        err = ipc_pair(row.address, 0, ends);
    else
        err = ipc_open(row.address, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV,
                       DEMO_OPEN_MS, &ends[0]);
    if (err != IPC_OK)
        return err;
    err = ipc_query(ends[0], &info);
    if (err == IPC_OK)
        *max_msg = info.max_msg;
    ipc_close(ends[0]);
    ipc_close(ends[1]);
    return err;
}

/* One side of a row, in its child. ch is the child's end of a pair, or
 * NULL for a named channel: the consumer creates it, the producer waits
 * for it to appear. */
static void demo_side(const struct demo_row *row, ipc_channel *ch,
                      bool consumer, struct xfer_stats *stats)
{
    struct xfer_opts opts = {row->count, row->size, DEMO_IO_MS};
    ipc_err err = IPC_OK;

    if (!ch && consumer)
        err = ipc_open(row->address, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV,
                       DEMO_OPEN_MS, &ch);
    else if (!ch)
        err = xfer_open(row->address, IPC_F_SEND, DEMO_OPEN_MS, &ch);
    if (err != IPC_OK) {
        xfer_set_error(stats, err);
        return;
    }
    if (consumer)
        xfer_consume(ch, &opts, stats);
    else
        xfer_produce(ch, &opts, stats);
    ipc_close(ch); /* the creator's close removes a named channel */
}

/* Fork one side. The child keeps only its own end (pair rows), runs, and
 * reports through the shared mapping. */
static pid_t demo_fork(const struct demo_row *row, ipc_channel *ends[2],
                       bool consumer, struct demo_report *report)
{
    struct xfer_stats *stats = consumer ? &report->consumer : &report->producer;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid != 0)
        return pid;
    /* Close the end this side does not use, or the consumer would never
     * see IPC_ECLOSED and the producer could read its own messages. */
    ipc_close(ends[consumer ? 0 : 1]);
    demo_side(row, ends[consumer ? 1 : 0], consumer, stats);
    /* _exit: the parent's stdio buffers and atexit handlers are not ours */
    _exit(xfer_ok(stats) ? 0 : 1);
}

/* Wait for a child; a signal (Ctrl-C) does not end the wait. */
static int demo_wait(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

static void demo_explain(const char *who, const struct xfer_stats *stats,
                         int status)
{
    if (status < 0)
        printf("    %s: lost (waitpid failed)\n", who);
    else if (WIFSIGNALED(status))
        printf("    %s: killed by signal %d\n", who, WTERMSIG(status));
    else if (stats->err != IPC_OK)
        printf("    %s: %s: %s\n", who, ipc_errname(stats->err),
               stats->detail[0] ? stats->detail : ipc_strerror(stats->err));
    else if (stats->errors != 0)
        printf("    %s: %llu messages failed the check\n", who,
               (unsigned long long)stats->errors);
}

static const char *demo_verdict(bool ok)
{
    if (ok)
        return "OK";
    return xfer_stopped() ? "interrupted" : "FAIL";
}

/* One row of the table: true if every message arrived and checked out. */
static bool demo_run(struct demo_row *row, struct demo_report *report)
{
    ipc_channel *ends[2] = {NULL, NULL};
    const struct xfer_stats *got = &report->consumer;
    pid_t consumer, producer;
    int consumer_status, producer_status;
    bool ok;

    memset(report, 0, sizeof *report);
    demo_address(row);
    if (row->be->pair) {
        ipc_err err = ipc_pair(row->address, 0, ends);
        if (err != IPC_OK) {
            printf("%-7s %9zu  FAIL: ipc_pair: %s: %s\n", row->be->scheme,
                   row->size, ipc_errname(err), ipc_last_detail());
            return false;
        }
    }
    /* The consumer first, so that it creates a named channel while the
     * producer is still starting; the producer retries until it exists. */
    consumer = demo_fork(row, ends, true, report);
    producer = consumer < 0 ? -1 : demo_fork(row, ends, false, report);
    ipc_close(ends[0]);
    ipc_close(ends[1]);
    if (producer < 0) {
        perror("ipc-demo: fork");
        if (consumer > 0) {
            kill(consumer, SIGTERM); /* it removes its channel and exits */
            demo_wait(consumer);
        }
        exit(1);
    }
    consumer_status = demo_wait(consumer);
    producer_status = demo_wait(producer);

    /* Lossy: every message that came checked out; those that did not
     * come (the producer outruns the receiver's socket buffer: nothing
     * pushes back) are counted. */
    ok = consumer_status == 0 && producer_status == 0 &&
         (row->be->lossy ? got->messages > 0 : got->messages == row->count) &&
         xfer_ok(got) && xfer_ok(&report->producer);
    printf("%-7s %9zu %9llu %11.0f %9.1f  %s", row->be->scheme, row->size,
           (unsigned long long)got->messages, xfer_msgs_per_s(got),
           xfer_mb_per_s(got), demo_verdict(ok));
    if (row->be->lossy)
        printf(" (%llu of %llu lost)", (unsigned long long)got->lost,
               (unsigned long long)row->count);
    printf("\n");
    if (!ok && !xfer_stopped()) {
        demo_explain("consumer", got, consumer_status);
        demo_explain("producer", &report->producer, producer_status);
    }
    return ok;
}

/* Is scheme one of the comma-separated names in list? */
static bool demo_listed(const char *list, const char *scheme)
{
    size_t len = strlen(scheme);

    for (;;) {
        size_t item = strcspn(list, ",");
        if (item == len && strncmp(list, scheme, len) == 0)
            return true;
        if (list[item] == '\0')
            return false;
        list += item + 1;
    }
}

/* Default count: DEMO_COUNT_MAX small messages, or DEMO_BYTES_PER_ROW of
 * large ones, never fewer than DEMO_COUNT_MIN. */
static uint64_t demo_count(size_t size)
{
    uint64_t count = DEMO_BYTES_PER_ROW / size;

    if (count > DEMO_COUNT_MAX)
        count = DEMO_COUNT_MAX;
    return count < DEMO_COUNT_MIN ? DEMO_COUNT_MIN : count;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"count", required_argument, NULL, 'n'},
        {"sizes", required_argument, NULL, 's'},
        {"backends", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    size_t sizes[DEMO_SIZES_MAX] = {64, 65536};
    size_t nsizes = 2;
    uint64_t count = 0;      /* 0: demo_count() per size */
    const char *only = NULL; /* --backends, or NULL for all */
    struct demo_report *report;
    bool all_ok = true;
    int opt;

    while ((opt = getopt_long(argc, argv, "n:s:b:h", options, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'n':
            ok = cli_u64(optarg, UINT64_MAX, &count) && count > 0;
            break;
        case 's':
            ok = cli_size_list(optarg, PAYLOAD_MIN, 1u << 30, sizes,
                               DEMO_SIZES_MAX, &nsizes);
            break;
        case 'b':
            only = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            ok = false;
        }
        if (!ok) {
            if (opt != '?')
                fprintf(stderr, "ipc-demo: bad value \"%s\"\n", optarg);
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    report = mmap(NULL, sizeof *report, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (report == MAP_FAILED) {
        perror("ipc-demo: mmap");
        return 1;
    }
    /* Ctrl-C: the children finish their row cleanly (a consumer removes
     * its named channel), then the demo stops. */
    xfer_catch_signals();

    printf("libipc %s: a producer and a consumer process per row; every "
           "message is\nchecked (sequence, length, payload). Rates are "
           "the consumer's; 1 MB = 10^6 bytes.\n\n",
           ipc_version_string());
    printf("%-7s %9s %9s %11s %9s  %s\n", "backend", "size", "messages",
           "msgs/s", "MB/s", "verified");

    for (size_t b = 0; ipc_scheme(b) != NULL; b++) {
        unsigned caps = 0;
        struct demo_backend backend;
        const struct demo_backend *be = &backend;
        size_t max_msg = 0;
        ipc_err err;

        if (only && !demo_listed(only, ipc_scheme(b)))
            continue;
        /* A backend switched off at build time answers IPC_ENOTSUP. */
        err = ipc_scheme_caps(ipc_scheme(b), &caps);
        if (err == IPC_ENOTSUP) {
            printf("%-7s not built: %s\n", ipc_scheme(b), ipc_last_detail());
            continue;
        }
        backend = demo_backend_of(ipc_scheme(b), caps);
        if (err == IPC_OK)
            err = demo_probe(be, &max_msg);
        if (err != IPC_OK) {
            printf("%-7s FAIL: %s: %s\n", be->scheme, ipc_errname(err),
                   ipc_last_detail());
            all_ok = false;
            continue;
        }
        for (size_t s = 0; s < nsizes && !xfer_stopped(); s++) {
            struct demo_row row = {.be = be, .size = sizes[s]};

            /* A size above the backend's default max_msg runs at that
             * max_msg instead (the largest it takes by default), once. */
            if (row.size > max_msg) {
                if (s > 0 && sizes[s - 1] >= max_msg)
                    continue;
                printf("%-7s %9zu  above max_msg: measured at %zu\n",
                       be->scheme, row.size, max_msg);
                row.size = max_msg;
            }
            row.count = count != 0 ? count : demo_count(row.size);
            all_ok &= demo_run(&row, report);
        }
        if (xfer_stopped()) {
            printf("interrupted: the remaining rows were not run\n");
            return 1;
        }
    }
    return all_ok ? 0 : 1;
}
