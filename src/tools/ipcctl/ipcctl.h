/* SPDX-License-Identifier: MIT */
/* ipcctl: what the subcommands share (exit codes, errors, option help). */
#ifndef IPCCTL_H
#define IPCCTL_H

#include <ipc/ipc.h>

#include <stdbool.h>
#include <stddef.h>

/* Exit codes (documented in ipcctl(1) and every --help). */
enum {
    IPCCTL_OK = 0,      /* done */
    IPCCTL_FAILED = 1,  /* a libipc call failed: the error was printed */
    IPCCTL_USAGE = 2,   /* unknown subcommand or option, bad argument */
    IPCCTL_REFUSED = 3, /* rm: the object is live or cannot be judged */
    IPCCTL_TIMEOUT = 4  /* recv: fewer than --count messages in time; call:
                           no answer in time */
};

/* One subcommand: its name, its one-line summary, its full --help text
 * (usage first) and the function that runs it on argv[0] = its name. */
struct ipcctl_cmd {
    const char *name;
    const char *summary;
    const char *help;
    int (*run)(int argc, char **argv);
};

extern const struct ipcctl_cmd ipcctl_cmd_ls, ipcctl_cmd_stat, ipcctl_cmd_rm,
    ipcctl_cmd_gc, ipcctl_cmd_send, ipcctl_cmd_recv, ipcctl_cmd_call,
    ipcctl_cmd_bench;

/* "ipcctl: WHAT: IPC_ENAME: detail" on stderr; returns IPCCTL_FAILED. */
int ipcctl_fail(const char *what, ipc_err err);
/* "ipcctl: CMD: message" plus a hint at --help; returns IPCCTL_USAGE. */
int ipcctl_usage(const struct ipcctl_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parse a whole decimal number in [min, max]; false if it is not one. */
bool ipcctl_number(const char *text, long long min, long long max,
                   long long *out);
/* Common option handling: --help prints cmd->help and makes *done true. */
int ipcctl_getopt(const struct ipcctl_cmd *cmd, int argc, char **argv,
                  const char *shortopts, const void *longopts, bool *done);

#endif /* IPCCTL_H */
