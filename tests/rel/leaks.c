/* SPDX-License-Identifier: MIT */
/* After the whole suite (ctest fixture cleanup): no FIFO, socket file,
 * /dev/shm entry, POSIX queue, run directory or bound socket made by a test
 * process that has ended. Test names carry "<prefix>-<pid>-": the suite's
 * (ipcrel), the contract suite's (ipct, ipcl), the region suite's (ipcrt).
 * Objects of live processes are in use by tests still running elsewhere
 * and are left alone. SysV
 * queues carry no name: each rel program checks its own (rel.c). */
#include "leakscan.h"
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const leak_prefixes[] = {"ipcrel-", "ipct-", "ipcl-",
                                            "ipcrt-"};

/* The pid in "...<prefix><pid>-..." if name carries a test prefix. */
static long leak_pid(const char *name)
{
    for (size_t i = 0; i < sizeof leak_prefixes / sizeof *leak_prefixes; i++) {
        const char *p = strstr(name, leak_prefixes[i]);
        if (!p)
            continue;
        char *end;
        long pid = strtol(p + strlen(leak_prefixes[i]), &end, 10);
        if (pid > 0 && *end == '-')
            return pid;
    }
    return 0;
}

/* A name is a leak once the process its pid names has ended. */
static bool leak_ours(const char *what, void *arg)
{
    long pid = leak_pid(what);
    (void)arg;
    return pid && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int main(void)
{
    struct tu_leak_scan scan = {
        .ours = leak_ours,
        .dirs = {"/tmp", tu_tmpdir(), NULL},
    };
    int found = tu_leak_scan(&scan);
    if (found) {
        printf("rel.leaks: %d objects left behind by tests that ended\n",
               found);
        return 1;
    }
    printf("rel.leaks: nothing left behind in /tmp, $TMPDIR, /dev/shm, "
           "/dev/mqueue or the socket table\n");
    return 0;
}
