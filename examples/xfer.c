/* SPDX-License-Identifier: MIT */
/* The send and receive loops shared by ipc-producer, ipc-consumer, ipc-demo. */
#define _POSIX_C_SOURCE 200809L

#include "xfer.h"
#include "payload.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * libipc never lets a signal end a call early (it retries EINTR against the
 * call's deadline), so a receive loop that must react to Ctrl-C waits in
 * slices of at most this long and looks at its stop flag between them. A
 * receive cut short by its timeout loses nothing: the message, or the part
 * of it already read, stays for the next call.
 */
#define XFER_SLICE_MS 100
/* How often xfer_open looks for an object that does not exist yet: there
 * is no portable way to wait for a name to appear. */
#define XFER_OPEN_POLL_MS 10
/* A consumer's buffer holds the channel's max_msg up to this size, so that
 * any message fits and libipc need not peek at its length first; past it,
 * the buffer grows when a message does not fit (the message stays queued
 * meanwhile). */
#define XFER_BUF_MAX (16u * 1024 * 1024)
/* A lossy channel has no end of stream: this long without a message, once
 * messages flow, means the producers are done (or everything is lost). */
#define XFER_LOSSY_QUIET_MS 1000
/* Senders whose sequence a consumer tracks; more count as errors. */
#define XFER_MAX_SENDERS 64
/* Check failures described on stderr; the rest are only counted. */
#define XFER_MAX_REPORTS 10

static volatile sig_atomic_t xfer_stop_flag;

static void xfer_on_signal(int sig)
{
    (void)sig;
    xfer_stop_flag = 1; /* async-signal-safe: nothing else here */
}

void xfer_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = xfer_on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART, so that waitpid() and the like return to their loop.
     * SA_RESETHAND: a second Ctrl-C kills a program that seems stuck. */
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool xfer_stopped(void)
{
    return xfer_stop_flag != 0;
}

/* CLOCK_MONOTONIC, like libipc's deadlines: the wall clock may jump. */
static int64_t xfer_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t xfer_now_ms(void)
{
    return xfer_now_ns() / 1000000;
}

static double xfer_now_s(void)
{
    return (double)xfer_now_ns() / 1e9;
}

/* A deadline in CLOCK_MONOTONIC milliseconds; -1 for none. */
static int64_t xfer_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : xfer_now_ms() + timeout_ms;
}

/* The timeout for the next libipc call: what is left, in one slice. */
static int xfer_slice(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return XFER_SLICE_MS;
    left = deadline - xfer_now_ms();
    if (left <= 0)
        return 0;
    return left < XFER_SLICE_MS ? (int)left : XFER_SLICE_MS;
}

/* After a call that waited one slice: wait another one? */
static bool xfer_wait_more(ipc_err err, int64_t deadline)
{
    if (err != IPC_ETIMEDOUT && err != IPC_EAGAIN)
        return false;
    if (xfer_stopped())
        return false;
    return deadline < 0 || xfer_now_ms() < deadline;
}

ipc_err xfer_open(const char *address, unsigned flags, int timeout_ms,
                  ipc_channel **out)
{
    int64_t deadline = xfer_deadline(timeout_ms);
    const struct timespec poll = {0, XFER_OPEN_POLL_MS * 1000000L};
    ipc_err err;

    for (;;) {
        err = ipc_open(address, flags, xfer_slice(deadline), out);
        if (err == IPC_ENOENT) {
            if (xfer_stopped() || (deadline >= 0 && xfer_now_ms() >= deadline))
                return err;
            nanosleep(&poll, NULL);
            continue;
        }
        if (!xfer_wait_more(err, deadline))
            return err;
    }
}

static void xfer_oom(struct xfer_stats *stats, size_t bytes)
{
    stats->err = IPC_ENOMEM;
    snprintf(stats->detail, sizeof stats->detail,
             "out of memory for a %zu-byte buffer", bytes);
}

void xfer_set_error(struct xfer_stats *stats, ipc_err err)
{
    stats->err = err;
    snprintf(stats->detail, sizeof stats->detail, "%s", ipc_last_detail());
}

/* A loop ended early: because it was asked to stop, or because of err. */
static void xfer_fail(struct xfer_stats *stats, ipc_err err)
{
    if (xfer_stopped())
        stats->interrupted = true;
    else
        xfer_set_error(stats, err);
}

void xfer_produce(ipc_channel *ch, const struct xfer_opts *opts,
                  struct xfer_stats *stats)
{
    /* The pid tells this producer's messages from those of other
     * producers on a multi-sender channel. */
    uint32_t sender = (uint32_t)getpid();
    unsigned char *buf = malloc(opts->size);
    double start = xfer_now_s();

    memset(stats, 0, sizeof *stats);
    if (!buf) {
        xfer_oom(stats, opts->size);
        return;
    }
    for (uint64_t seq = 0; opts->count == 0 || seq < opts->count; seq++) {
        ipc_err err;

        if (xfer_stopped()) {
            stats->interrupted = true;
            break;
        }
        payload_fill(buf, opts->size, seq, sender);
        /* One call with the whole timeout, not slices: on a byte stream,
         * a send that times out after writing part of a message larger
         * than the pipe buffer breaks the channel. So a stop request is
         * seen between messages; a second Ctrl-C ends a stuck producer. */
        err = ipc_send(ch, buf, opts->size, 0, opts->timeout_ms);
        if (err != IPC_OK) {
            xfer_fail(stats, err);
            break;
        }
        stats->messages++;
        stats->bytes += opts->size;
    }
    stats->seconds = xfer_now_s() - start;
    free(buf);
}

/* Sequence tracking: each sender numbers its messages from 0. */
struct xfer_sender {
    uint32_t id;
    uint64_t next_seq;
};

struct xfer_check {
    struct xfer_sender senders[XFER_MAX_SENDERS];
    size_t count;
};

static void xfer_complain(struct xfer_stats *stats, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void xfer_complain(struct xfer_stats *stats, const char *fmt, ...)
{
    va_list ap;

    if (++stats->errors > XFER_MAX_REPORTS)
        return;
    va_start(ap, fmt);
    fputs("check: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static struct xfer_sender *xfer_sender(struct xfer_check *check, uint32_t id)
{
    for (size_t i = 0; i < check->count; i++)
        if (check->senders[i].id == id)
            return &check->senders[i];
    if (check->count == XFER_MAX_SENDERS)
        return NULL;
    check->senders[check->count] = (struct xfer_sender){id, 0};
    return &check->senders[check->count++];
}

static void xfer_verify(struct xfer_check *check, const unsigned char *buf,
                        size_t len, size_t want_len, struct xfer_stats *stats)
{
    struct payload_header hdr;
    struct xfer_sender *sender;
    uint64_t nth = stats->messages; /* counted already: 1 for the first */

    if (want_len != 0 && len != want_len) {
        xfer_complain(stats, "message %llu: %zu bytes, expected %zu",
                      (unsigned long long)nth, len, want_len);
        return;
    }
    if (!payload_check(buf, len, &hdr)) {
        xfer_complain(stats,
                      "message %llu (%zu bytes, claims seq %llu from %u): "
                      "payload corrupt",
                      (unsigned long long)nth, len, (unsigned long long)hdr.seq,
                      (unsigned)hdr.sender);
        return;
    }
    sender = xfer_sender(check, hdr.sender);
    if (!sender) {
        xfer_complain(stats, "message %llu: more than %d senders",
                      (unsigned long long)nth, XFER_MAX_SENDERS);
        return;
    }
    if (stats->lossy && hdr.seq != sender->next_seq) {
        /* A gap is messages lost; one from before it came late. */
        if (hdr.seq > sender->next_seq)
            stats->lost += hdr.seq - sender->next_seq;
        else if (stats->lost > 0)
            stats->lost--;
    } else if (hdr.seq != sender->next_seq)
        xfer_complain(stats, "sender %u: seq %llu, expected %llu (%s)",
                      (unsigned)hdr.sender, (unsigned long long)hdr.seq,
                      (unsigned long long)sender->next_seq,
                      hdr.seq > sender->next_seq ? "lost messages"
                                                 : "duplicate or reordered");
    if (!stats->lossy || hdr.seq >= sender->next_seq)
        sender->next_seq = hdr.seq + 1;
}

/* Why did the receive loop end: fill stats accordingly. */
static void xfer_consume_end(ipc_err err, const struct xfer_opts *opts,
                             struct xfer_stats *stats)
{
    /* Without a count, the end of the stream is the normal way out; on a
     * lossy channel, with one too (the rest was lost). */
    bool quiet = err == IPC_ETIMEDOUT || err == IPC_EAGAIN;
    if (stats->lossy && opts->count != 0 && quiet && stats->messages > 0) {
        stats->lost = opts->count - stats->messages;
        return;
    }
    if (opts->count == 0 && !xfer_stopped() && (err == IPC_ECLOSED || quiet))
        return;
    xfer_fail(stats, err);
}

static bool xfer_lossy(const ipc_channel *ch)
{
    ipc_info info;
    return ipc_query(ch, &info) == IPC_OK && (info.caps & IPC_CAP_LOSSY);
}

static size_t xfer_buffer_size(const ipc_channel *ch, size_t size)
{
    ipc_info info;

    if (ipc_query(ch, &info) == IPC_OK && info.max_msg <= XFER_BUF_MAX &&
        info.max_msg > size)
        return info.max_msg;
    return size != 0 ? size : PAYLOAD_MIN;
}

void xfer_consume(ipc_channel *ch, const struct xfer_opts *opts,
                  struct xfer_stats *stats)
{
    size_t cap = xfer_buffer_size(ch, opts->size);
    unsigned char *buf = malloc(cap);
    struct xfer_check *check = calloc(1, sizeof *check);
    double first = 0;

    memset(stats, 0, sizeof *stats);
    stats->lossy = xfer_lossy(ch);
    if (!buf || !check) {
        xfer_oom(stats, cap);
        goto out;
    }
    while (opts->count == 0 || stats->messages < opts->count) {
        int timeout = opts->timeout_ms;
        if (stats->lossy && stats->messages > 0 &&
            (timeout < 0 || timeout > XFER_LOSSY_QUIET_MS))
            timeout = XFER_LOSSY_QUIET_MS;
        int64_t deadline = xfer_deadline(timeout);
        size_t len = 0;
        ipc_err err;

        do {
            err = ipc_recv(ch, buf, cap, &len, NULL, xfer_slice(deadline));
        } while (xfer_wait_more(err, deadline));
        if (err == IPC_EMSGSIZE) {
            /* Too big for buf: libipc left the message queued and told us
             * its length, so grow the buffer and receive it again. */
            unsigned char *bigger = realloc(buf, len);
            if (!bigger) {
                xfer_oom(stats, len);
                break;
            }
            buf = bigger;
            cap = len;
            continue;
        }
        if (err != IPC_OK) {
            xfer_consume_end(err, opts, stats);
            break;
        }
        /* The clock starts at the first message, so that the time the
         * producer took to start up is not counted; the one message this
         * leaves out is noise at the counts the examples use. */
        if (stats->messages == 0)
            first = xfer_now_s();
        stats->seconds = xfer_now_s() - first;
        stats->messages++;
        stats->bytes += len;
        xfer_verify(check, buf, len, opts->size, stats);
    }
out:
    free(check);
    free(buf);
}

bool xfer_ok(const struct xfer_stats *stats)
{
    return stats->err == IPC_OK && stats->errors == 0;
}

double xfer_msgs_per_s(const struct xfer_stats *stats)
{
    return stats->seconds > 0 ? (double)stats->messages / stats->seconds : 0;
}

double xfer_mb_per_s(const struct xfer_stats *stats)
{
    return stats->seconds > 0 ? (double)stats->bytes / stats->seconds / 1e6 : 0;
}

void xfer_print(FILE *out, const char *who, const struct xfer_stats *stats)
{
    fprintf(out,
            "%s: %llu messages, %llu bytes, %.3f s, %.0f msgs/s, "
            "%.1f MB/s, %llu errors%s\n",
            who, (unsigned long long)stats->messages,
            (unsigned long long)stats->bytes, stats->seconds,
            xfer_msgs_per_s(stats), xfer_mb_per_s(stats),
            (unsigned long long)stats->errors,
            stats->interrupted ? " (interrupted)" : "");
    if (stats->lossy)
        fprintf(out, "%s: %llu lost (the channel is lossy)\n", who,
                (unsigned long long)stats->lost);
    if (stats->err != IPC_OK)
        fprintf(out, "%s: stopped early: %s: %s\n", who,
                ipc_errname(stats->err),
                stats->detail[0] ? stats->detail : ipc_strerror(stats->err));
}

void xfer_perror(const char *prog, const char *what, ipc_err err)
{
    const char *detail = ipc_last_detail();

    fprintf(stderr, "%s: %s: %s: %s\n", prog, what, ipc_errname(err),
            detail[0] ? detail : ipc_strerror(err));
}
