/* SPDX-License-Identifier: MIT */
/* The send and receive loops shared by ipc-producer, ipc-consumer, ipc-demo. */
#ifndef EXAMPLES_XFER_H
#define EXAMPLES_XFER_H

#include <ipc/ipc.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct xfer_opts {
    uint64_t count; /* messages to send or receive; 0: until stopped */
    size_t size;    /* producer: bytes per message; consumer: the expected
                       size (others count as errors), 0 for any */
    int timeout_ms; /* longest wait for room (send) or for the next
                       message (receive); -1 forever */
};

struct xfer_stats {
    uint64_t messages; /* sent, or received */
    uint64_t bytes;
    uint64_t errors;  /* received messages that failed the check, came out
                         of sequence or had the wrong size */
    bool lossy;       /* the channel may lose messages (IPC_CAP_LOSSY) */
    uint64_t lost;    /* lossy: messages that never arrived (gaps in a
                         sender's sequence; with a count, count less those
                         received); not errors */
    double seconds;   /* from the first message to the last */
    ipc_err err;      /* IPC_OK, or the error that ended the loop early */
    bool interrupted; /* SIGINT or SIGTERM ended the loop */
    char detail[192]; /* ipc_last_detail() when err was set */
};

/* SIGINT and SIGTERM set a flag that the loops below check between
 * messages, and while waiting for one at least every 100 ms; a second
 * signal ends the process at once. */
void xfer_catch_signals(void);
bool xfer_stopped(void);

/* ipc_open(), retrying while the object does not exist yet (IPC_ENOENT), so
 * that a producer may start before its consumer; waits up to timeout_ms
 * (-1 forever) or until a stop signal. */
ipc_err xfer_open(const char *address, unsigned flags, int timeout_ms,
                  ipc_channel **out);

/* Send opts->count checked messages of opts->size bytes (at least
 * PAYLOAD_MIN), numbered from 0. */
void xfer_produce(ipc_channel *ch, const struct xfer_opts *opts,
                  struct xfer_stats *stats);

/* Receive and check opts->count messages. With count 0, run until a stop
 * signal, until every sender is gone (IPC_ECLOSED) or until timeout_ms
 * passes without a message: each of these is a normal end, not an error.
 * A lossy channel (udp:) has no end of stream and may drop messages: once
 * one has come, a second (XFER_LOSSY_QUIET_MS) without another ends the loop
 * normally, with or without a count, and what never came is counted in
 * stats->lost. */
void xfer_consume(ipc_channel *ch, const struct xfer_opts *opts,
                  struct xfer_stats *stats);

/* Record a failed libipc call in stats: err and ipc_last_detail(). */
void xfer_set_error(struct xfer_stats *stats, ipc_err err);

/* true if the loop did all it was asked and every message checked out. */
bool xfer_ok(const struct xfer_stats *stats);
double xfer_msgs_per_s(const struct xfer_stats *stats);
double xfer_mb_per_s(const struct xfer_stats *stats); /* 1 MB = 10^6 B */

/* "who: 100000 messages, 6400000 bytes, 0.25 s, 400000 msgs/s, 25.6 MB/s,
 * 0 errors", on a lossy channel a line "who: N lost (...)", then the
 * reason if the loop ended early. */
void xfer_print(FILE *out, const char *who, const struct xfer_stats *stats);

/* "prog: what: IPC_ENOENT: <ipc_last_detail(), or ipc_strerror()>" on
 * stderr, right after the failed call. */
void xfer_perror(const char *prog, const char *what, ipc_err err);

#endif /* EXAMPLES_XFER_H */
