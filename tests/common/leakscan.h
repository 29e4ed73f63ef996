/* SPDX-License-Identifier: MIT */
/* The one leak scanner: what a test run left where the OS keeps IPC
 * objects. Linux places (/dev/shm, /dev/mqueue, /proc/net/unix,
 * /proc/sysvipc/msg); a place that does not exist counts nothing. */
#ifndef IPC_TEST_LEAKSCAN_H
#define IPC_TEST_LEAKSCAN_H

#include <stdbool.h>
#include <stdint.h>

#define TU_LEAK_DIRS 6

struct tu_leak_scan {
    /* Is this ours? what is a path ("/dev/shm/ipct-1-2-ab") or a line of
     * /proc/net/unix (bound paths and abstract names, '@' for the NUL). */
    bool (*ours)(const char *what, void *arg);
    /* Is the SysV queue ours (key, last sender and receiver pids)? NULL:
     * queues are not scanned. */
    bool (*ours_msq)(uint32_t key, int id, long lspid, long lrpid, void *arg);
    void *arg;
    /* Directories that hold socket files and FIFOs, scanned besides
     * /dev/shm and /dev/mqueue; NULL-terminated. */
    const char *dirs[TU_LEAK_DIRS + 1];
    bool remove; /* unlink (ipcrm) what is found */
};

/* Print "LEFT BEHIND: ..." for each object found; return how many. */
int tu_leak_scan(const struct tu_leak_scan *scan);

/* The SysV message queues that exist now: at most max; how many, or -1 if
 * /proc/sysvipc/msg cannot be read. */
struct tu_msq {
    uint32_t key;
    int id;
    long lspid, lrpid; /* last sender's and receiver's pids */
    long cuid;         /* creator's uid */
};
int tu_msq_list(struct tu_msq *out, int max);

/* The ids of the SysV queues that exist now (a "before" snapshot). */
int tu_msq_ids(int *ids, int max);

#endif /* IPC_TEST_LEAKSCAN_H */
