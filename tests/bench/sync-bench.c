/* SPDX-License-Identifier: MIT */
/* sync-bench: libipc's sync objects against the raw primitives a user would
 * write (a robust process-shared pthread_mutex_t, a process-shared sem_t),
 * measured in the same run; prints ns per operation and ratios. Usage:
 * sync-bench [iterations] (default 5000000; hand-offs run iterations/100). */
#include <ipc/ipc.h>

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPEATS 9

struct shared {
    _Alignas(64) unsigned char obj[4][IPC_SYNC_SIZE];
    _Alignas(64) pthread_mutex_t mutex;
    _Alignas(64) sem_t sem[2];
};

static struct shared *sh;
static long iters;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "sync-bench: %s: %d (%s)\n", what, err, ipc_last_detail());
    exit(1);
}

/* One run of fn, in ns per iteration. */
static double timed(void (*fn)(long), long n)
{
    double t0 = now_ns();
    fn(n);
    return (now_ns() - t0) / (double)n;
}

/* The best of REPEATS runs of each, alternated so that a noisy neighbour
 * (these machines are shared) hits both alike. */
static void best_pair(void (*lib)(long), void (*raw)(long), long n,
                      double *lib_ns, double *raw_ns)
{
    *lib_ns = *raw_ns = 1e30;
    for (int r = 0; r < REPEATS; r++) {
        double a = timed(lib, n), b = timed(raw, n);
        *lib_ns = a < *lib_ns ? a : *lib_ns;
        *raw_ns = b < *raw_ns ? b : *raw_ns;
    }
}

static ipc_mutex *ipc_m;
static ipc_sem *ipc_s[2];

static void run_ipc_mutex(long n)
{
    for (long i = 0; i < n; i++) {
        if (ipc_mutex_lock(ipc_m, -1) != IPC_OK)
            die("ipc_mutex_lock", 0);
        ipc_mutex_unlock(ipc_m);
    }
}

static void run_raw_mutex(long n)
{
    for (long i = 0; i < n; i++) {
        int err = pthread_mutex_lock(&sh->mutex);
        if (err == EOWNERDEAD)
            pthread_mutex_consistent(&sh->mutex);
        else if (err != 0)
            die("pthread_mutex_lock", err);
        pthread_mutex_unlock(&sh->mutex);
    }
}

static void run_ipc_sem(long n)
{
    for (long i = 0; i < n; i++) {
        ipc_sem_post(ipc_s[0]);
        if (ipc_sem_wait(ipc_s[0], -1) != IPC_OK)
            die("ipc_sem_wait", 0);
    }
}

static void run_raw_sem(long n)
{
    for (long i = 0; i < n; i++) {
        sem_post(&sh->sem[0]);
        while (sem_wait(&sh->sem[0]) != 0 && errno == EINTR)
            ;
    }
}

/* Two processes: the parent posts 0 and waits 1, the child the reverse. */
static double handoff(bool use_ipc, long n)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (long i = 0; i < n; i++) {
            if (use_ipc) {
                ipc_sem_wait(ipc_s[0], -1);
                ipc_sem_post(ipc_s[1]);
            } else {
                while (sem_wait(&sh->sem[0]) != 0)
                    ;
                sem_post(&sh->sem[1]);
            }
        }
        _exit(0);
    }
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (use_ipc) {
            ipc_sem_post(ipc_s[0]);
            ipc_sem_wait(ipc_s[1], -1);
        } else {
            sem_post(&sh->sem[0]);
            while (sem_wait(&sh->sem[1]) != 0)
                ;
        }
    }
    double ns = (now_ns() - t0) / (double)n;
    waitpid(pid, NULL, 0);
    return ns;
}

static void setup(void)
{
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die("mmap", errno);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&sh->mutex, &a);
    sem_init(&sh->sem[0], 1, 0);
    sem_init(&sh->sem[1], 1, 0);
    ipc_err err =
        ipc_mutex_place(sh->obj[0], IPC_SYNC_SIZE, IPC_F_CREATE, &ipc_m);
    err |= ipc_sem_place(sh->obj[1], IPC_SYNC_SIZE, IPC_F_CREATE, 0, &ipc_s[0]);
    err |= ipc_sem_place(sh->obj[2], IPC_SYNC_SIZE, IPC_F_CREATE, 0, &ipc_s[1]);
    if (err != IPC_OK)
        die("place", err);
}

static void row(const char *what, double lib, double raw)
{
    printf("%-34s %9.1f %9.1f %7.2f\n", what, lib, raw, raw / lib);
}

int main(int argc, char **argv)
{
    iters = argc > 1 ? atol(argv[1]) : 5000000;
    if (iters <= 0)
        iters = 5000000;
    setup();
    printf("sync-bench: %ld iterations, best of %d (ratio = raw ns / "
           "libipc ns: >= 1 means libipc is as fast)\n",
           iters, REPEATS);
    printf("%-34s %9s %9s %7s\n", "", "libipc", "raw", "ratio");
    double lm, rm, ls, rs;
    best_pair(run_ipc_mutex, run_raw_mutex, iters, &lm, &rm);
    best_pair(run_ipc_sem, run_raw_sem, iters, &ls, &rs);
    row("uncontended lock+unlock (ns)", lm, rm);
    row("uncontended post+wait (ns)", ls, rs);
    long n = iters / 100 > 1000 ? iters / 100 : 1000;
    double lh = 1e30, rh = 1e30;
    for (int r = 0; r < 3; r++) {
        double a = handoff(true, n), b = handoff(false, n);
        lh = a < lh ? a : lh;
        rh = b < rh ? b : rh;
    }
    row("two-process hand-off round (ns)", lh, rh);
    ipc_mutex_close(ipc_m);
    ipc_sem_close(ipc_s[0]);
    ipc_sem_close(ipc_s[1]);
    return 0;
}
