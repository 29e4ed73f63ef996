/* SPDX-License-Identifier: MIT */
/* The one leak scanner (leakscan.h). */
#include "leakscan.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

/* Print at most this many entries of one place; count them all. */
#define TU_LEAK_SHOWN 20

static int tu_leak_dir(const struct tu_leak_scan *scan, const char *dir)
{
    DIR *d = opendir(dir);
    int found = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!scan->ours(path, scan->arg))
            continue;
        if (found < TU_LEAK_SHOWN)
            fprintf(stderr, "LEFT BEHIND: %s\n", path);
        else if (found == TU_LEAK_SHOWN)
            fprintf(stderr, "LEFT BEHIND: more in %s...\n", dir);
        found++;
        if (scan->remove)
            unlink(path);
    }
    closedir(d);
    return found;
}

/* Bound sockets, by path or abstract name: a socket file is also in its
 * directory, an abstract name only here. */
static int tu_leak_sockets(const struct tu_leak_scan *scan)
{
    FILE *f = fopen("/proc/net/unix", "r");
    char line[1024];
    int found = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (scan->ours(line, scan->arg)) {
            fprintf(stderr, "LEFT BEHIND: socket %s", line);
            found++;
        }
    fclose(f);
    return found;
}

/* /proc/sysvipc/msg: key msqid perms cbytes qnum lspid lrpid uid gid cuid
 * ... */
int tu_msq_list(struct tu_msq *out, int max)
{
    FILE *f = fopen("/proc/sysvipc/msg", "r");
    char line[512];
    int n = 0;
    if (!f)
        return -1;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return -1;
    }
    while (n < max && fgets(line, sizeof line, f)) {
        long long key;
        int id;
        unsigned perms;
        unsigned long cbytes, qnum;
        long lspid, lrpid, uid, gid, cuid;
        if (sscanf(line, "%lld %d %o %lu %lu %ld %ld %ld %ld %ld", &key, &id,
                   &perms, &cbytes, &qnum, &lspid, &lrpid, &uid, &gid,
                   &cuid) == 10)
            out[n++] = (struct tu_msq){(uint32_t)key, id, lspid, lrpid, cuid};
    }
    fclose(f);
    return n;
}

#define TU_MAX_MSQ 1024

int tu_msq_ids(int *ids, int max)
{
    static struct tu_msq now[TU_MAX_MSQ];
    int n = tu_msq_list(now, max < TU_MAX_MSQ ? max : TU_MAX_MSQ);
    if (n < 0)
        n = 0;
    for (int i = 0; i < n; i++)
        ids[i] = now[i].id;
    return n;
}

static int tu_leak_msq(const struct tu_leak_scan *scan)
{
    static struct tu_msq now[TU_MAX_MSQ];
    int n = tu_msq_list(now, TU_MAX_MSQ), found = 0;
    if (n < 0)
        n = 0; /* no SysV table here: nothing to leak */
    for (int i = 0; i < n; i++) {
        if (!scan->ours_msq(now[i].key, now[i].id, now[i].lspid, now[i].lrpid,
                            scan->arg))
            continue;
        fprintf(stderr, "LEFT BEHIND: SysV queue key 0x%08x id %d\n",
                now[i].key, now[i].id);
        found++;
        if (scan->remove && msgctl(now[i].id, IPC_RMID, NULL) != 0)
            fprintf(stderr, "(IPC_RMID of queue %d failed)\n", now[i].id);
    }
    return found;
}

int tu_leak_scan(const struct tu_leak_scan *scan)
{
    int found = 0;
    for (int i = 0; i < TU_LEAK_DIRS && scan->dirs[i]; i++) {
        bool seen = false; /* $TMPDIR may be /tmp */
        for (int j = 0; j < i; j++)
            seen = seen || strcmp(scan->dirs[i], scan->dirs[j]) == 0;
        if (!seen)
            found += tu_leak_dir(scan, scan->dirs[i]);
    }
    found += tu_leak_dir(scan, "/dev/shm");
    found += tu_leak_dir(scan, "/dev/mqueue");
    found += tu_leak_sockets(scan);
    if (scan->ours_msq)
        found += tu_leak_msq(scan);
    return found;
}
