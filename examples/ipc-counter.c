/* SPDX-License-Identifier: MIT */
/* ipc-counter: a counter in a shared-memory region, guarded by a robust
 * mutex placed inside the same region. Each worker process opens the region
 * by name, adds to the counter under the lock, and recovers the lock if a
 * worker died holding it.
 *
 *   ipc-counter [--workers K] [--count N] [shm:/name]
 *
 * The first process to create the region places the mutex (IPC_F_CREATE);
 * the others attach to it (no flag), waiting while it is still being made.
 * Run several at once on one name to share one counter; alone, it forks K
 * workers (default 4) itself and removes the region at the end. */
#define _POSIX_C_SOURCE 200809L /* nanosleep, fork, wait */
#include <ipc/ipc.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct table {
    _Alignas(64) unsigned char lock[IPC_SYNC_SIZE]; /* the mutex lives here */
    long counter;                                   /* guarded by it */
    long recoveries;
};

static int fail(const char *what, ipc_err err)
{
    fprintf(stderr, "ipc-counter: %s: %s (%s)\n", what, ipc_strerror(err),
            ipc_last_detail());
    return 1;
}

/* Open (or make) the region and the mutex inside it. */
static int attach(const char *addr, ipc_region **r, ipc_mutex **m)
{
    ipc_err err = ipc_region_open(addr, IPC_F_CREATE | IPC_F_EXCL,
                                  sizeof(struct table), 5000, r);
    bool made = err == IPC_OK;
    if (err == IPC_EEXIST)
        err = ipc_region_open(addr, 0, 0, 5000, r);
    if (err != IPC_OK)
        return fail("region", err);
    struct table *t = ipc_region_ptr(*r);
    /* An attacher may come before the maker has placed the mutex. */
    for (int tries = 0; tries < 5000; tries++) {
        err = ipc_mutex_place(t->lock, sizeof t->lock, made ? IPC_F_CREATE : 0,
                              m);
        if (err != IPC_ENOENT)
            break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return err == IPC_OK ? 0 : fail("mutex", err);
}

/* Add 1, count times, under the lock. */
static int work(const char *addr, long count)
{
    ipc_region *r;
    ipc_mutex *m;
    if (attach(addr, &r, &m) != 0)
        return 1;
    struct table *t = ipc_region_ptr(r);
    for (long i = 0; i < count; i++) {
        ipc_err err = ipc_mutex_lock(m, 10000);
        if (err == IPC_EOWNERDEAD) {
            /* A worker died holding the lock; the counter is a single
             * store, so it is whole: say so, and go on. */
            t->recoveries++;
            err = ipc_mutex_consistent(m);
        }
        if (err != IPC_OK)
            return fail("lock", err);
        t->counter++;
        ipc_mutex_unlock(m);
    }
    ipc_mutex_close(m);
    ipc_region_close(r);
    return 0;
}

int main(int argc, char **argv)
{
    long workers = 4, count = 100000;
    char addr[128] = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
            workers = atol(argv[++i]);
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = atol(argv[++i]);
        else
            snprintf(addr, sizeof addr, "%s", argv[i]);
    }
    if (addr[0]) /* a name shared with other runs: just work */
        return work(addr, count);
    snprintf(addr, sizeof addr, "shm:/ipc-counter-%d", (int)getpid());
    for (long w = 0; w < workers; w++)
        if (fork() == 0)
            _exit(work(addr, count));
    int bad = 0, status;
    while (wait(&status) > 0)
        bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    ipc_region *r;
    ipc_err err = ipc_region_open(addr, 0, 0, 0, &r);
    if (err != IPC_OK)
        return fail("region", err);
    const struct table *t = ipc_region_ptr(r);
    printf("counter %ld (expected %ld), %ld recoveries\n", t->counter,
           workers * count, t->recoveries);
    bad |= t->counter != workers * count;
    ipc_region_close(r);
    ipc_region_unlink(addr);
    return bad;
}
