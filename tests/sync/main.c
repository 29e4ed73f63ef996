/* SPDX-License-Identifier: MIT */
/* The sync contract suite's rows and helpers; argv[1] names the row. */
#include "sync_test.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <unistd.h>

#define FX_LOCK                                                                \
    (IPC_SYNC_CAP_SUPPORTED | IPC_SYNC_CAP_ROBUST | IPC_SYNC_CAP_TIMED |       \
     IPC_SYNC_CAP_PLACE)
#define FX_WAIT                                                                \
    (IPC_SYNC_CAP_SUPPORTED | IPC_SYNC_CAP_TIMED | IPC_SYNC_CAP_PLACE)
/* A barrier that a dead party breaks (IPC_EBROKEN naming it). */
#define FX_BAR    (FX_WAIT | IPC_SYNC_CAP_ROBUST)
#define SEM_TIMED (IPC_SYNC_CAP_SUPPORTED | IPC_SYNC_CAP_TIMED)

/* The expected capabilities: what the README's table promises. */
static const struct st_row st_rows[] = {
    {"placed", "shm", true, {FX_LOCK, FX_WAIT, FX_BAR, FX_LOCK, FX_WAIT}},
    {"shm", "shm", false, {FX_LOCK, FX_WAIT, FX_BAR, FX_LOCK, FX_WAIT}},
    {"sem", "sem", false, {0, SEM_TIMED, 0, 0, 0}},
    {"sysv",
     "sysv",
     false,
     {SEM_TIMED | IPC_SYNC_CAP_UNDO, SEM_TIMED, 0, 0, 0}},
};

const struct st_row *st_row;
struct st_shared *st_mem;
char st_last_address[128];

/* Every sysv key this run made, checked gone at the end. */
static unsigned st_keys[256];
static size_t st_nkeys;

bool st_has(ipc_sync_kind kind, unsigned want)
{
    unsigned c = st_row->caps[kind];
    return (c & IPC_SYNC_CAP_SUPPORTED) && (c & want) == want;
}

void st_address(char *buf, size_t size)
{
    char name[96];
    if (strcmp(st_row->scheme, "sysv") == 0) {
        unsigned key = (unsigned)(tu_rand() & 0x7fffffff) | 0x10000000;
        if (st_nkeys < sizeof st_keys / sizeof st_keys[0])
            st_keys[st_nkeys++] = key;
        snprintf(buf, size, "sysv:0x%08x", key);
        return;
    }
    tu_unique(name, sizeof name, "ipcsync");
    snprintf(buf, size, "%s:/%s", st_row->scheme, name);
}

ipc_err st_make(ipc_sync_kind kind, int slot, unsigned init, void **obj)
{
    void *mem = st_mem->slots[slot];
    size_t sz = ST_SLOT_SIZE;
    unsigned fl = IPC_F_CREATE;
    st_last_address[0] = '\0';
    if (!st_row->placed)
        st_address(st_last_address, sizeof st_last_address);
    const char *a = st_last_address;
    bool pl = st_row->placed;
    fl |= pl ? 0 : IPC_F_EXCL;
    switch (kind) {
    case IPC_SYNC_MUTEX:
        return pl ? ipc_mutex_place(mem, sz, fl, (ipc_mutex **)obj)
                  : ipc_mutex_open(a, fl, 1000, (ipc_mutex **)obj);
    case IPC_SYNC_SEM:
        return pl ? ipc_sem_place(mem, sz, fl, init, (ipc_sem **)obj)
                  : ipc_sem_open(a, fl, init, 1000, (ipc_sem **)obj);
    case IPC_SYNC_BARRIER:
        return pl ? ipc_barrier_place(mem, sz, fl, init, (ipc_barrier **)obj)
                  : ipc_barrier_open(a, fl, init, 1000, (ipc_barrier **)obj);
    case IPC_SYNC_SPIN:
        return pl ? ipc_spin_place(mem, sz, fl, (ipc_spin **)obj)
                  : ipc_spin_open(a, fl, 1000, (ipc_spin **)obj);
    case IPC_SYNC_EVENT:
        return pl ? ipc_event_place(mem, sz, fl, (ipc_event **)obj)
                  : ipc_event_open(a, fl, 1000, (ipc_event **)obj);
    }
    return IPC_EINVAL;
}

void st_close(ipc_sync_kind kind, void *obj)
{
    switch (kind) {
    case IPC_SYNC_MUTEX:
        ipc_mutex_close(obj);
        break;
    case IPC_SYNC_SEM:
        ipc_sem_close(obj);
        break;
    case IPC_SYNC_BARRIER:
        ipc_barrier_close(obj);
        break;
    case IPC_SYNC_SPIN:
        ipc_spin_close(obj);
        break;
    case IPC_SYNC_EVENT:
        ipc_event_close(obj);
        break;
    }
}

ipc_err st_lock(ipc_sync_kind kind, void *obj, int timeout_ms)
{
    return kind == IPC_SYNC_SPIN ? ipc_spin_lock(obj, timeout_ms)
                                 : ipc_mutex_lock(obj, timeout_ms);
}

ipc_err st_unlock(ipc_sync_kind kind, void *obj)
{
    return kind == IPC_SYNC_SPIN ? ipc_spin_unlock(obj) : ipc_mutex_unlock(obj);
}

ipc_err st_consistent(ipc_sync_kind kind, void *obj)
{
    return kind == IPC_SYNC_SPIN ? ipc_spin_consistent(obj)
                                 : ipc_mutex_consistent(obj);
}

pid_t st_child(int (*fn)(void *), void *arg)
{
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(arg));
    return pid;
}

void st_reap_ok(pid_t pid, int ms)
{
    int status = 0;
    char buf[64];
    bool done = tu_wait(pid, ms, &status);
    if (!done || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child %d: %s%s", (int)pid,
                 tu_status_str(status, buf, sizeof buf),
                 done ? "" : " (hung: killed)");
}

void st_reset(void)
{
    memset(st_mem, 0, sizeof *st_mem);
}

/* Nothing left: no [sem.]ipcsync-<pid>-* in /dev/shm, no set of ours. */
static int st_leftovers(void)
{
    int left = 0;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "ipcsync-%d-", (int)getpid());
    DIR *d = opendir("/dev/shm");
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, prefix) == e->d_name ||
            (strncmp(e->d_name, ST_SEM_PREFIX, strlen(ST_SEM_PREFIX)) == 0 &&
             strstr(e->d_name, prefix) ==
                 e->d_name + strlen(ST_SEM_PREFIX))) {
            fprintf(stderr, "leftover /dev/shm/%s\n", e->d_name);
            left++;
        }
    if (d)
        closedir(d);
    for (size_t i = 0; i < st_nkeys; i++)
        if (semget((key_t)st_keys[i], 0, 0) >= 0) {
            fprintf(stderr, "leftover SysV set 0x%08x\n", st_keys[i]);
            left++;
        }
    return left;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {ST_TESTS_LOCKS, ST_TESTS_WAITS};
    for (size_t i = 0; argc > 1 && i < sizeof st_rows / sizeof st_rows[0]; i++)
        if (strcmp(argv[1], st_rows[i].name) == 0)
            st_row = &st_rows[i];
    if (!st_row) {
        fprintf(stderr, "usage: %s placed|shm|sem|sysv\n", argv[0]);
        return 2;
    }
    printf("sync contract, row %s, seed %llu\n", st_row->name,
           (unsigned long long)tu_seed_from_env());
    if (argc > 2)
        cmocka_set_test_filter(argv[2]);
    st_mem = mmap(NULL, sizeof *st_mem, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (st_mem == MAP_FAILED)
        return 2;
    int failed = _cmocka_run_group_tests(
        st_row->name, tests, sizeof tests / sizeof tests[0], NULL, NULL);
    return failed + st_leftovers();
}
