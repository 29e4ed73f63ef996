/* SPDX-License-Identifier: MIT */
/* ipc-producer: open a named channel and send it checked messages. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"
#include "payload.h"
#include "xfer.h"

#include <ipc/ipc.h>

#include <getopt.h>
#include <stdio.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ipc-producer ADDRESS [--count N] [--size BYTES] "
            "[--timeout MS]\n"
            "Send checked messages to the channel that ipc-consumer created "
            "at ADDRESS,\n"
            "e.g. unix:/tmp/demo.sock.\n"
            "  --count N     messages to send; 0 until Ctrl-C (default "
            "100000)\n"
            "  --size BYTES  bytes per message, %u or more: 64, 4k, 1M "
            "(default 64)\n"
            "  --timeout MS  longest wait for the channel to appear and for "
            "room in it;\n"
            "                -1 forever (default 10000)\n",
            PAYLOAD_MIN);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"count", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct xfer_opts opts = {.count = 100000, .size = 64, .timeout_ms = 10000};
    struct xfer_stats stats;
    ipc_channel *ch;
    ipc_info info;
    ipc_err err;
    int opt;

    while ((opt = getopt_long(argc, argv, "n:s:t:h", options, NULL)) != -1) {
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
        case 'h':
            usage(stdout);
            return 0;
        default:
            ok = false;
        }
        if (!ok) {
            if (opt != '?')
                fprintf(stderr, "ipc-producer: bad value \"%s\"\n", optarg);
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *address = argv[optind];

    /* Ctrl-C ends the loop cleanly: the summary is still printed. */
    xfer_catch_signals();

    /* Send-only end of a channel someone else created. xfer_open retries
     * while it does not exist yet, so either program may start first. */
    err = xfer_open(address, IPC_F_SEND, opts.timeout_ms, &ch);
    if (err != IPC_OK) {
        xfer_perror("ipc-producer", address, err);
        return 1;
    }

    /* Refuse early, with the reason, rather than fail every send with
     * IPC_EMSGSIZE. */
    err = ipc_query(ch, &info);
    if (err == IPC_OK && opts.size > info.max_msg) {
        fprintf(stderr,
                "ipc-producer: --size %zu exceeds the channel's max_msg "
                "%zu (the creator sets it: ?max_msg=N)\n",
                opts.size, info.max_msg);
        ipc_close(ch);
        return 1;
    }

    xfer_produce(ch, &opts, &stats);
    ipc_close(ch); /* not the creator: the channel stays for others */
    xfer_print(stdout, "ipc-producer", &stats);
    return xfer_ok(&stats) ? 0 : 1;
}
