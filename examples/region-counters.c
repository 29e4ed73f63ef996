/* SPDX-License-Identifier: MIT */
/* A table of counters in a shared region, bumped by several processes at
 * once with C11 atomics: `region-counters [address] [workers] [rounds]`.
 * The address defaults to a fresh "shm:/ipc-counters-<pid>"; try
 * "file:/tmp/counters" to keep the table in a file afterwards. */
#define _POSIX_C_SOURCE 200809L /* fork(), waitpid() */
#include <ipc/ipc.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define COUNTERS 16

/* The region's layout: plain C, shared by every process that maps it. */
struct table {
    atomic_ulong counter[COUNTERS];
};

static int fail(const char *what, ipc_err err)
{
    fprintf(stderr, "%s: %s (%s)\n", what, ipc_strerror(err),
            ipc_last_detail());
    return 1;
}

/* README:begin worker */
/* A worker opens the region by its address, as an unrelated process
 * would, and bumps counter i % COUNTERS rounds times. */
static int work(const char *address, int id, long rounds)
{
    ipc_region *r = NULL;
    ipc_err err = ipc_region_open(address, 0, sizeof(struct table), 1000, &r);
    if (err != IPC_OK)
        return fail("worker: open", err);
    struct table *t = ipc_region_ptr(r);
    for (long i = 0; i < rounds; i++)
        atomic_fetch_add(&t->counter[(id + i) % COUNTERS], 1);
    ipc_region_close(r);
    return 0;
}
/* README:end worker */

int main(int argc, char **argv)
{
    char fresh[64];
    snprintf(fresh, sizeof fresh, "shm:/ipc-counters-%ld", (long)getpid());
    const char *address = argc > 1 ? argv[1] : fresh;
    int workers = argc > 2 ? atoi(argv[2]) : 4;
    long rounds = argc > 3 ? atol(argv[3]) : 100000;

    /* Made once, zero-filled, every page reserved now: a full /dev/shm is
     * an error here, not a crash later. */
    ipc_region *r = NULL;
    ipc_err err = ipc_region_open(address, IPC_F_CREATE | IPC_F_EXCL,
                                  sizeof(struct table), 0, &r);
    if (err != IPC_OK)
        return fail("create", err);
    for (int w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(work(address, w, rounds));
        if (pid < 0)
            perror("fork");
    }
    int bad = 0, status;
    while (wait(&status) > 0)
        bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;

    struct table *t = ipc_region_ptr(r);
    unsigned long total = 0;
    for (int i = 0; i < COUNTERS; i++)
        total += atomic_load(&t->counter[i]);
    printf("%s: %d workers x %ld rounds = %lu counted (%s)\n", address,
           workers, rounds, total,
           total == (unsigned long)workers * (unsigned long)rounds ? "exact"
                                                                    : "LOST");
    ipc_region_close(r);
    if (argc <= 1)
        ipc_region_unlink(address); /* ours: leave nothing behind */
    return bad || total != (unsigned long)workers * (unsigned long)rounds;
}
