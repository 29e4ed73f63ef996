/* SPDX-License-Identifier: MIT */
/* ipcctl: see, send to, receive from, benchmark and clean up IPC objects.
 * This file dispatches to the subcommands and holds their shared helpers. */
#include "ipcctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ipcctl_cmd *const ipcctl_cmds[] = {
    &ipcctl_cmd_ls,   &ipcctl_cmd_stat,  &ipcctl_cmd_rm,
    &ipcctl_cmd_gc,   &ipcctl_cmd_send,  &ipcctl_cmd_recv,
    &ipcctl_cmd_call, &ipcctl_cmd_bench, NULL};

static void ipcctl_help(FILE *out)
{
    fprintf(out, "usage: ipcctl SUBCOMMAND [OPTION]... [ARG]...\n"
                 "See, send to, receive from, benchmark and clean up IPC "
                 "objects.\n\nSubcommands:\n");
    for (size_t i = 0; ipcctl_cmds[i]; i++)
        fprintf(out, "  %-6s %s\n", ipcctl_cmds[i]->name,
                ipcctl_cmds[i]->summary);
    fprintf(out, "\nSchemes:");
    for (size_t i = 0; ipc_scheme(i); i++) {
        unsigned caps;
        const char *s = ipc_scheme(i);
        fprintf(out, " %s%s", s,
                ipc_scheme_caps(s, &caps) == IPC_ENOTSUP ? "(built out)" : "");
    }
    fprintf(out,
            "\n\n'ipcctl SUBCOMMAND --help' tells more; see also ipcctl(1).\n"
            "Exit codes: 0 done, 1 an IPC call failed, 2 bad usage,\n"
            "3 rm refused a live object, 4 recv or call timed out.\n");
}

int ipcctl_fail(const char *what, ipc_err err)
{
    const char *detail = ipc_last_detail();
    fprintf(stderr, "ipcctl: %s: %s: %s\n", what, ipc_errname(err),
            *detail ? detail : ipc_strerror(err));
    return IPCCTL_FAILED;
}

int ipcctl_usage(const struct ipcctl_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ipcctl: %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (ipcctl %s --help)\n", cmd->name);
    va_end(ap);
    return IPCCTL_USAGE;
}

bool ipcctl_number(const char *text, long long min, long long max,
                   long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int ipcctl_getopt(const struct ipcctl_cmd *cmd, int argc, char **argv,
                  const char *shortopts, const void *longopts, bool *done)
{
    int opt = getopt_long(argc, argv, shortopts,
                          (const struct option *)longopts, NULL);
    if (opt == 'h') {
        fputs(cmd->help, stdout);
        *done = true;
    }
    return opt;
}

int main(int argc, char **argv)
{
    opterr = 0; /* our own one-line messages */
    if (argc < 2) {
        ipcctl_help(stderr);
        return IPCCTL_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        ipcctl_help(stdout);
        return IPCCTL_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ipcctl (libipc) %s\n", ipc_version_string());
        return IPCCTL_OK;
    }
    for (size_t i = 0; ipcctl_cmds[i]; i++)
        if (strcmp(argv[1], ipcctl_cmds[i]->name) == 0)
            return ipcctl_cmds[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "ipcctl: %s: unknown subcommand (ipcctl --help)\n",
            argv[1]);
    return IPCCTL_USAGE;
}
