/* SPDX-License-Identifier: MIT */
/* ipcctl send and recv: poke a channel from the shell. */
#include "ipcctl.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IO_SEND_TIMEOUT_MS 5000
#define IO_SLICE_MS        100 /* how soon recv notices Ctrl-C */

/* SIGINT/SIGTERM end recv cleanly, so that a channel it created is
 * removed: libipc retries EINTR, so recv waits in slices and looks. */
static volatile sig_atomic_t io_stop;

static void io_on_signal(int sig)
{
    (void)sig;
    io_stop = 1;
}

/* One receive: the timeout cut into slices between looks at io_stop. */
static ipc_err io_recv_sliced(ipc_channel *ch, void *buf, size_t cap,
                              size_t *len, long long timeout_ms)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long long left = timeout_ms;
        if (timeout_ms > 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            left -= (now.tv_sec - t0.tv_sec) * 1000 +
                    (now.tv_nsec - t0.tv_nsec) / 1000000;
            if (left <= 0)
                return IPC_ETIMEDOUT;
        }
        int slice =
            timeout_ms < 0 || left > IO_SLICE_MS ? IO_SLICE_MS : (int)left;
        ipc_err err = ipc_recv(ch, buf, cap, len, NULL, slice);
        if (err != IPC_ETIMEDOUT || slice == left || io_stop)
            return err;
    }
}

struct io_opts {
    bool raw, hex, create;
    long long count;   /* recv: -1 until the channel ends */
    long long timeout; /* ms */
    long long prio;
};

static const struct option io_opts_long[] = {
    {"raw", no_argument, NULL, 'r'},
    {"hex", no_argument, NULL, 'x'},
    {"create", no_argument, NULL, 'c'},
    {"count", required_argument, NULL, 'n'},
    {"timeout", required_argument, NULL, 't'},
    {"prio", required_argument, NULL, 'p'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* Options of send (raw, timeout, prio) or recv (the rest too). */
static int io_parse(const struct ipcctl_cmd *cmd, int argc, char **argv,
                    const char *allowed, struct io_opts *o, bool *done)
{
    int opt;
    while ((opt = ipcctl_getopt(cmd, argc, argv, "h", io_opts_long, done)) !=
           -1) {
        if (*done)
            return IPCCTL_OK;
        if (opt == '?' || opt == ':' || !strchr(allowed, opt))
            return ipcctl_usage(cmd, "bad option %s", argv[optind - 1]);
        if ((opt == 'n' && !ipcctl_number(optarg, 1, 1LL << 40, &o->count)) ||
            (opt == 't' && !ipcctl_number(optarg, -1, 1 << 30, &o->timeout)) ||
            (opt == 'p' && !ipcctl_number(optarg, 0, 1 << 30, &o->prio)))
            return ipcctl_usage(cmd, "%s: not a number in range",
                                argv[optind - 1]);
        o->raw |= opt == 'r';
        o->hex |= opt == 'x';
        o->create |= opt == 'c';
    }
    return IPCCTL_OK;
}

/* All of stdin, for --raw. */
static char *io_slurp(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf; n += got) {
        if (n == cap) {
            char *more = realloc(buf, cap *= 2);
            if (!more)
                break;
            buf = more;
        }
        got = fread(buf + n, 1, cap - n, stdin);
        if (got == 0) {
            *len = n;
            return buf;
        }
    }
    free(buf);
    return NULL;
}

/* What to do with each message read from standard input. */
typedef int (*io_each_fn)(void *ctx, const char *address, const void *buf,
                          size_t len, const struct io_opts *o);

static int io_send_one(void *ctx, const char *address, const void *buf,
                       size_t len, const struct io_opts *o)
{
    ipc_err err = ipc_send(ctx, buf, len, (unsigned)o->prio, (int)o->timeout);
    return err == IPC_OK ? IPCCTL_OK : ipcctl_fail(address, err);
}

/* Standard input as one message (--raw) or one per line, each given to
 * each() until one fails. */
static int io_each_stdin(void *ctx, const char *address,
                         const struct io_opts *o, io_each_fn each)
{
    size_t len = 0;
    if (o->raw) {
        char *all = io_slurp(&len);
        if (!all) {
            fprintf(stderr, "ipcctl: %s: out of memory reading stdin\n",
                    address);
            return IPCCTL_FAILED;
        }
        int rc = each(ctx, address, all, len, o);
        free(all);
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = IPCCTL_OK;
    while (rc == IPCCTL_OK && (got = getline(&line, &cap, stdin)) >= 0) {
        len = (size_t)got;
        if (len && line[len - 1] == '\n')
            len--;
        rc = each(ctx, address, line, len, o);
    }
    free(line);
    return rc;
}

/* send and call: parse, open ADDRESS, then each message from the argument
 * or standard input through one(), then close. */
struct io_sender {
    const struct ipcctl_cmd *cmd;
    const char *allowed; /* io_parse's option letters */
    int (*open)(const char *address, const struct io_opts *o, void **ctx);
    void (*close)(void *ctx);
    io_each_fn one;
};

static int io_run_sender(const struct io_sender *s, int argc, char **argv)
{
    struct io_opts o = {.count = -1, .timeout = IO_SEND_TIMEOUT_MS};
    bool done = false;
    int rc = io_parse(s->cmd, argc, argv, s->allowed, &o, &done);
    if (rc != IPCCTL_OK || done)
        return rc;
    int left = argc - optind;
    if (left < 1 || left > 2)
        return ipcctl_usage(s->cmd, "ADDRESS [MESSAGE|-], please");
    const char *address = argv[optind];
    const char *msg = left == 2 ? argv[optind + 1] : "-";
    void *ctx;
    if ((rc = s->open(address, &o, &ctx)) != IPCCTL_OK)
        return rc;
    rc = strcmp(msg, "-") == 0 ? io_each_stdin(ctx, address, &o, s->one)
                               : s->one(ctx, address, msg, strlen(msg), &o);
    s->close(ctx);
    return rc;
}

static int io_send_open(const char *address, const struct io_opts *o,
                        void **ctx)
{
    ipc_channel *ch = NULL;
    ipc_err err = ipc_open(address, IPC_F_SEND, (int)o->timeout, &ch);
    *ctx = ch;
    return err == IPC_OK ? IPCCTL_OK : ipcctl_fail(address, err);
}

static void io_send_close(void *ctx)
{
    ipc_close(ctx);
}

static int io_send(int argc, char **argv)
{
    static const struct io_sender send = {&ipcctl_cmd_send, "rtp", io_send_open,
                                          io_send_close, io_send_one};
    return io_run_sender(&send, argc, argv);
}

static void io_print(const unsigned char *buf, size_t len,
                     const struct io_opts *o)
{
    if (o->hex) {
        for (size_t i = 0; i < len; i++)
            printf("%02x", buf[i]);
        putchar('\n');
    } else {
        fwrite(buf, 1, len, stdout);
        if (!o->raw)
            putchar('\n');
    }
    fflush(stdout);
}

/* Receive until --count, the timeout, or every sender gone. */
static int io_recv_loop(ipc_channel *ch, const char *address,
                        const struct io_opts *o)
{
    ipc_info info;
    ipc_query(ch, &info);
    size_t cap = info.max_msg ? info.max_msg : 1;
    unsigned char *buf = malloc(cap);
    int rc = IPCCTL_OK;
    long long closed_ms = 0; /* waited since every sender left */
    for (long long got = 0; buf && (o->count < 0 || got < o->count);) {
        size_t len;
        ipc_err err = o->timeout == 0
                          ? ipc_recv(ch, buf, cap, &len, NULL, 0)
                          : io_recv_sliced(ch, buf, cap, &len, o->timeout);
        if (io_stop)
            break;
        if (err == IPC_EMSGSIZE) {
            unsigned char *more = realloc(buf, len);
            if (more)
                buf = more, cap = len;
            continue;
        }
        if (err == IPC_OK) {
            closed_ms = 0;
            io_print(buf, len, o);
            got++;
            continue;
        }
        if (err == IPC_ECLOSED && o->count > 0 &&
            (o->timeout < 0 || closed_ms < o->timeout)) {
            /* Senders come and go (fifo): wait for the next one. */
            nanosleep(&(struct timespec){0, IO_SLICE_MS * 1000000L}, NULL);
            closed_ms += IO_SLICE_MS;
            continue;
        }
        if (err == IPC_ECLOSED && o->count > 0)
            err = IPC_ETIMEDOUT;
        if (err == IPC_ETIMEDOUT || err == IPC_EAGAIN)
            rc = o->count < 0 ? IPCCTL_OK : IPCCTL_TIMEOUT;
        else if (err != IPC_ECLOSED)
            rc = ipcctl_fail(address, err);
        if (rc == IPCCTL_TIMEOUT)
            fprintf(stderr, "ipcctl: %s: %s: %lld of %lld messages in time\n",
                    address, ipc_errname(err), got, o->count);
        break;
    }
    if (!buf)
        rc = IPCCTL_FAILED;
    free(buf);
    return rc;
}

static int io_recv(int argc, char **argv)
{
    struct io_opts o = {.count = -1, .timeout = -1};
    bool done = false;
    int rc = io_parse(&ipcctl_cmd_recv, argc, argv, "rxcnt", &o, &done);
    if (rc != IPCCTL_OK || done)
        return rc;
    if (argc - optind != 1)
        return ipcctl_usage(&ipcctl_cmd_recv, "one ADDRESS, please");
    const char *address = argv[optind];
    unsigned flags = IPC_F_RECV | (o.create ? IPC_F_CREATE | IPC_F_EXCL : 0);
    ipc_channel *ch;
    ipc_err err = ipc_open(address, flags, (int)o.timeout, &ch);
    if (err != IPC_OK)
        return ipcctl_fail(address, err);
    struct sigaction sa = {.sa_handler = io_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (o.create) /* for scripts: the channel exists from here on */
        fprintf(stderr, "ipcctl: %s: receiving\n", address);
    rc = io_recv_loop(ch, address, &o);
    ipc_close(ch);
    return rc;
}

/* ---------------------------------------------------------------- call */

/* A failed connect or call: no answer in time exits IPCCTL_TIMEOUT, as
 * recv does. */
static int io_call_fail(const char *address, ipc_err err)
{
    ipcctl_fail(address, err);
    return err == IPC_ETIMEDOUT || err == IPC_EAGAIN ? IPCCTL_TIMEOUT
                                                     : IPCCTL_FAILED;
}

/* One call: the reply printed as recv prints a message. */
static int io_call_one(void *ctx, const char *address, const void *buf,
                       size_t len, const struct io_opts *o)
{
    ipc_rr_client *c = ctx;
    size_t cap = ipc_rr_max_payload(c), rlen = 0;
    unsigned char *reply = malloc(cap ? cap : 1);
    if (!reply) {
        fprintf(stderr, "ipcctl: %s: out of memory\n", address);
        return IPCCTL_FAILED;
    }
    ipc_err err =
        ipc_rr_call(c, buf, len, reply, cap, &rlen, 0, (int)o->timeout);
    if (err == IPC_OK)
        io_print(reply, rlen, o);
    free(reply);
    return err == IPC_OK ? IPCCTL_OK : io_call_fail(address, err);
}

static int io_call_open(const char *address, const struct io_opts *o,
                        void **ctx)
{
    ipc_rr_client *c = NULL;
    ipc_err err = ipc_rr_connect(address, (int)o->timeout, &c);
    *ctx = c;
    return err == IPC_OK ? IPCCTL_OK : io_call_fail(address, err);
}

static void io_call_close(void *ctx)
{
    ipc_rr_disconnect(ctx);
}

static int io_call(int argc, char **argv)
{
    static const struct io_sender call = {&ipcctl_cmd_call, "rxt", io_call_open,
                                          io_call_close, io_call_one};
    return io_run_sender(&call, argc, argv);
}

const struct ipcctl_cmd ipcctl_cmd_send = {
    "send", "send messages to a channel",
    "usage: ipcctl send [--raw] [--timeout MS] [--prio N] ADDRESS "
    "[MESSAGE|-]\n"
    "Send MESSAGE as one message, or with '-' or no MESSAGE read standard\n"
    "input: one message per line (without its newline), or with --raw the\n"
    "whole input as one message, bytes as they are.\n"
    "  --raw          standard input is one message\n"
    "  --timeout MS   bound the open and each send (default 5000; -1\n"
    "                 waits forever, 0 never waits)\n"
    "  --prio N       priority, on schemes that have it\n"
    "Exit: 0 sent, 1 an IPC call failed (missing object, full, too big),\n"
    "2 bad usage.\n",
    io_send};

const struct ipcctl_cmd ipcctl_cmd_recv = {
    "recv", "receive messages from a channel",
    "usage: ipcctl recv [--count N] [--timeout MS] [--hex|--raw] [--create] "
    "ADDRESS\n"
    "Receive messages and write each to standard output followed by a\n"
    "newline; stops after --count messages, when --timeout passes with no\n"
    "message, when every sender is gone (with --count: only at the\n"
    "count or the timeout), or on SIGINT or SIGTERM.\n"
    "  --count N      stop after N messages (default: no limit)\n"
    "  --timeout MS   wait at most MS for each message (default -1: forever)\n"
    "  --hex          each message as one line of hex digits (binary-safe)\n"
    "  --raw          message bytes only, no newline after each\n"
    "  --create       create the channel (it must not exist) and remove it\n"
    "                 on exit; says \"receiving\" on stderr once it exists\n"
    "Exit: 0 done, 1 an IPC call failed, 2 bad usage, 4 the timeout passed\n"
    "before --count messages came.\n",
    io_recv};

const struct ipcctl_cmd ipcctl_cmd_call = {
    "call", "call a request/reply server",
    "usage: ipcctl call [--raw] [--timeout MS] [--hex] ADDRESS "
    "[MESSAGE|-]\n"
    "Connect to the request/reply server at ADDRESS (ipc_rr_serve), send\n"
    "MESSAGE as one request, or with '-' or no MESSAGE each line of\n"
    "standard input (without its newline), or with --raw the whole input\n"
    "as one request; write each reply followed by a newline.\n"
    "  --raw          standard input is one request; the reply is written\n"
    "                 as its bytes, without a newline\n"
    "  --timeout MS   bound the connect and each call (default 5000; -1\n"
    "                 waits forever, 0 never waits)\n"
    "  --hex          each reply as one line of hex digits (binary-safe)\n"
    "Exit: 0 every call answered, 1 an IPC call failed (no server, the\n"
    "server died, too big), 2 bad usage, 4 no answer within the timeout.\n",
    io_call};
