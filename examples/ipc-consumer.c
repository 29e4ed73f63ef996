/* SPDX-License-Identifier: MIT */
/* ipc-consumer: create a named channel, receive and check every message. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"
#include "payload.h"
#include "xfer.h"

#include <ipc/ipc.h>

#include <getopt.h>
#include <stdio.h>

static void usage(FILE *out)
{
    fputs("usage: ipc-consumer ADDRESS [--count N] [--size BYTES]\n"
          "                    [--timeout MS] [--replace]\n"
          "Create the channel at ADDRESS (e.g. unix:/tmp/demo.sock), "
          "receive and check\n"
          "the messages of one or more ipc-producer runs, print a summary; "
          "remove the\n"
          "channel on exit, Ctrl-C and SIGTERM included.\n"
          "  --count N     stop after N messages; 0 (default): run until "
          "Ctrl-C, until\n"
          "                every sender is gone, or until --timeout passes\n"
          "  --size BYTES  expected bytes per message (4k, 1M...); others "
          "are errors\n"
          "                (default: any size)\n"
          "  --timeout MS  longest wait for the next message; -1 forever "
          "(default)\n"
          "  --replace     take over a stale channel that a crashed "
          "consumer left\n",
          out);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"count", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"replace", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct xfer_opts opts = {.count = 0, .size = 0, .timeout_ms = -1};
    /* Exclusive create: never adopt a name somebody else made. */
    unsigned flags = IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV;
    struct xfer_stats stats;
    ipc_channel *ch;
    ipc_info info;
    ipc_err err;
    int opt;

    while ((opt = getopt_long(argc, argv, "n:s:t:rh", options, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'n':
            ok = cli_u64(optarg, UINT64_MAX, &opts.count);
            break;
        case 's':
            ok = cli_size(optarg, PAYLOAD_MAX, &opts.size) &&
                 opts.size >= PAYLOAD_MIN;
            break;
        case 't':
            ok = cli_timeout(optarg, &opts.timeout_ms);
            break;
        case 'r':
            /* Replace instead of exclusive create: libipc removes an old
             * object only if it is stale (nobody serves it) and of the
             * right kind, then creates a new one. */
            flags = IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            ok = false;
        }
        if (!ok) {
            if (opt != '?')
                fprintf(stderr, "ipc-consumer: bad value \"%s\"\n", optarg);
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *address = argv[optind];

    /* The handler only sets a flag; the receive loop waits in short slices
     * and sees it, then the ipc_close() below removes the channel. */
    xfer_catch_signals();

    /* The creator owns the channel: its ipc_close() removes it. */
    err = ipc_open(address, flags, opts.timeout_ms, &ch);
    if (err != IPC_OK) {
        xfer_perror("ipc-consumer", address, err);
        if (err == IPC_EEXIST)
            fprintf(stderr, "ipc-consumer: if a crashed consumer left it "
                            "behind, run again with --replace\n");
        return 1;
    }
    /* The channel's own address: with tcp: or udp: port 0, it names the
     * port the kernel chose, for producers to use. */
    char where[512];
    if (ipc_address(ch, where, sizeof where) != IPC_OK)
        snprintf(where, sizeof where, "%s", address);
    if (ipc_query(ch, &info) == IPC_OK)
        fprintf(stderr,
                "ipc-consumer: receiving on %s (%s, max_msg %zu%s); "
                "Ctrl-C to stop\n",
                where, info.backend, info.max_msg,
                (info.caps & IPC_CAP_LOSSY) ? ", lossy" : "");

    xfer_consume(ch, &opts, &stats);
    ipc_close(ch);
    xfer_print(stdout, "ipc-consumer", &stats);
    return xfer_ok(&stats) ? 0 : 1;
}
