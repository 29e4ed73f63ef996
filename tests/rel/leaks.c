/* SPDX-License-Identifier: MIT */
/* After the whole suite (ctest fixture cleanup): no FIFO, socket file,
 * /dev/shm entry, POSIX queue, run directory or bound socket made by a test
 * process that has ended. Test names carry "<prefix>-<pid>-": the suite's
 * (ipcrel), the contract suite's (ipct, ipcl), the region suite's (ipcrt).
 * Objects of live processes are in use by tests still running elsewhere
 * and are left alone. SysV
 * queues carry no name: each rel program checks its own (rel.c). */
#include "testutil.h"

#include <dirent.h>
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

static bool leak_dead(long pid)
{
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static int leak_dir(const char *dir)
{
    DIR *d = opendir(dir);
    int found = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = leak_pid(e->d_name);
        if (pid && leak_dead(pid)) {
            printf("LEFT BEHIND by ended process %ld: %s/%s\n", pid, dir,
                   e->d_name);
            found++;
        }
    }
    closedir(d);
    return found;
}

static int leak_sockets(void)
{
    FILE *f = fopen("/proc/net/unix", "r");
    char line[1024];
    int found = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        long pid = leak_pid(line);
        if (pid && leak_dead(pid)) {
            printf("LEFT BEHIND by ended process %ld: socket %s", pid, line);
            found++;
        }
    }
    fclose(f);
    return found;
}

int main(void)
{
    const char *dirs[] = {"/tmp", tu_tmpdir(), "/dev/shm", "/dev/mqueue"};
    int found = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        if (i != 1 || strcmp(dirs[1], "/tmp") != 0)
            found += leak_dir(dirs[i]);
    found += leak_sockets();
    if (found) {
        printf("rel.leaks: %d objects left behind by tests\n", found);
        return 1;
    }
    printf("rel.leaks: nothing left behind in /tmp, $TMPDIR, /dev/shm, "
           "/dev/mqueue or the socket table\n");
    return 0;
}
