/* SPDX-License-Identifier: MIT */
/* Contract: capabilities, arguments, mutexes and spinlocks, owner death. */
#include "sync_test.h"

#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ST_LOCK_KINDS 2
static const ipc_sync_kind st_lock_kinds[ST_LOCK_KINDS] = {IPC_SYNC_MUTEX,
                                                           IPC_SYNC_SPIN};

static int st_rounds(int dflt)
{
    const char *e = getenv("IPC_SYNC_ROUNDS");
    return e && atoi(e) > 0 ? atoi(e) : dflt;
}

void test_caps(void **state)
{
    (void)state;
    unsigned caps;
    char addr[128];
    for (int k = 0; k < 5; k++) {
        st_err(ipc_sync_caps(st_row->scheme, (ipc_sync_kind)k, &caps), IPC_OK);
        assert_int_equal(caps, st_row->caps[k]);
        if (st_row->placed || (caps & IPC_SYNC_CAP_SUPPORTED))
            continue;
        /* A kind the mechanism lacks: IPC_ENOTSUP, with a detail. */
        void *obj = NULL;
        st_address(addr, sizeof addr);
        ipc_err err = IPC_OK;
        if (k == IPC_SYNC_MUTEX)
            err = ipc_mutex_open(addr, IPC_F_CREATE, 0, (ipc_mutex **)&obj);
        else if (k == IPC_SYNC_BARRIER)
            err = ipc_barrier_open(addr, IPC_F_CREATE, 2, 0,
                                   (ipc_barrier **)&obj);
        else if (k == IPC_SYNC_SPIN)
            err = ipc_spin_open(addr, IPC_F_CREATE, 0, (ipc_spin **)&obj);
        else if (k == IPC_SYNC_EVENT)
            err = ipc_event_open(addr, IPC_F_CREATE, 0, (ipc_event **)&obj);
        st_err(err, IPC_ENOTSUP);
        assert_null(obj);
        assert_true(strlen(ipc_last_detail()) > 0);
    }
    /* Robust missing on a lock kind: consistent() answers IPC_ENOTSUP. */
    for (int i = 0; i < ST_LOCK_KINDS; i++) {
        ipc_sync_kind k = st_lock_kinds[i];
        void *obj;
        if (!st_has(k, 0) || st_has(k, IPC_SYNC_CAP_ROBUST))
            continue;
        st_err(st_make(k, 0, 0, &obj), IPC_OK);
        st_err(st_consistent(k, obj), IPC_ENOTSUP);
        assert_non_null(strstr(ipc_last_detail(), "ROBUST"));
        st_close(k, obj);
    }
    /* Nobody has a descriptor to poll yet: IPC_ENOTSUP, fd -1. */
    ipc_sem *sem;
    int fd = 7;
    st_err(st_make(IPC_SYNC_SEM, 0, 0, (void **)&sem), IPC_OK);
    assert_false(st_row->caps[IPC_SYNC_SEM] & IPC_SYNC_CAP_POLLABLE);
    st_err(ipc_sem_pollfd(sem, &fd), IPC_ENOTSUP);
    assert_int_equal(fd, -1);
    ipc_sem_close(sem);
    st_err(ipc_sync_caps("nope", IPC_SYNC_SEM, &caps), IPC_EINVAL);
    st_err(ipc_sync_caps(st_row->scheme, (ipc_sync_kind)9, &caps), IPC_EINVAL);
}

void test_args(void **state)
{
    (void)state;
    ipc_sem *sem = (ipc_sem *)&sem;
    char addr[128];
    st_reset();
    st_err(ipc_mutex_lock(NULL, 0), IPC_EINVAL);
    st_err(ipc_sem_post(NULL), IPC_EINVAL);
    st_err(ipc_sem_place(st_mem->slots[0], IPC_SYNC_SIZE - 1, IPC_F_CREATE, 0,
                         &sem),
           IPC_EINVAL);
    assert_null(sem);
    st_err(ipc_sem_place(st_mem->slots[0] + 4, IPC_SYNC_SIZE, IPC_F_CREATE, 0,
                         &sem),
           IPC_EINVAL);
    st_err(ipc_sem_place(st_mem->slots[0], IPC_SYNC_SIZE, IPC_F_CREATE,
                         IPC_SEM_VALUE_MAX + 1u, &sem),
           IPC_EINVAL);
    st_err(ipc_barrier_place(st_mem->slots[0], IPC_SYNC_SIZE, IPC_F_CREATE, 0,
                             (ipc_barrier **)&sem),
           IPC_EINVAL);
    /* Placing without IPC_F_CREATE on zeroes: not made yet. */
    st_err(ipc_sem_place(st_mem->slots[1], IPC_SYNC_SIZE, 0, 0, &sem),
           IPC_ENOENT);
    st_address(addr, sizeof addr);
    st_err(ipc_sem_open(addr, IPC_F_EXCL, 0, 0, &sem), IPC_EINVAL);
    st_err(ipc_sem_open(addr, IPC_F_SEND, 0, 0, &sem), IPC_EINVAL);
    if (st_row->placed)
        return;
    st_err(ipc_sem_open(addr, 0, 0, 0, &sem), IPC_ENOENT);
    st_err(ipc_sem_open(addr, IPC_F_CREATE | IPC_F_EXCL, 1, 0, &sem), IPC_OK);
    ipc_sem *again = NULL;
    st_err(ipc_sem_open(addr, IPC_F_CREATE | IPC_F_EXCL, 1, 0, &again),
           IPC_EEXIST);
    ipc_sem_close(sem);
    st_err(ipc_sync_unlink(addr), IPC_ENOENT);
}

struct st_excl {
    ipc_sync_kind kind;
    void *obj;
    int iters;
};

static int st_excl_child(void *arg)
{
    struct st_excl *x = arg;
    for (int i = 0; i < x->iters; i++) {
        /* Long: an unfair lock may pass a slow process over (valgrind). */
        ipc_err err = st_lock(x->kind, x->obj, 30000);
        if (err != IPC_OK)
            return 10 + (int)err;
        /* Not atomic on purpose: a lost update shows a broken lock. */
        long v = atomic_load_explicit(&st_mem->counter, memory_order_relaxed);
        if (i % 64 == 0)
            sched_yield();
        atomic_store_explicit(&st_mem->counter, v + 1, memory_order_relaxed);
        if ((err = st_unlock(x->kind, x->obj)) != IPC_OK)
            return 40 + (int)err;
    }
    return 0;
}

static void st_exclusion(ipc_sync_kind kind)
{
    enum { N = 4 };
    pid_t pids[N];
    struct st_excl x = {.kind = kind,
                        .iters = strcmp(st_row->scheme, "sysv") ? 5000 : 1000};
    if (!st_has(kind, 0))
        return;
    st_reset();
    st_err(st_make(kind, 0, 0, &x.obj), IPC_OK);
    for (int i = 0; i < N; i++)
        pids[i] = st_child(st_excl_child, &x);
    for (int i = 0; i < N; i++)
        st_reap_ok(pids[i], 60000);
    assert_int_equal(atomic_load(&st_mem->counter), (long)N * x.iters);
    st_close(kind, x.obj);
}

void test_mutex_exclusion(void **state)
{
    (void)state;
    st_exclusion(IPC_SYNC_MUTEX);
}

void test_spin_exclusion(void **state)
{
    (void)state;
    st_exclusion(IPC_SYNC_SPIN);
}

/* Holds the lock until st_mem->flag is 2, then unlocks. */
static int st_holder(void *arg)
{
    struct st_excl *x = arg;
    if (st_lock(x->kind, x->obj, 2000) != IPC_OK)
        return 1;
    atomic_store(&st_mem->flag, 1);
    while (atomic_load(&st_mem->flag) != 2)
        tu_sleep_ms(1);
    return st_unlock(x->kind, x->obj) == IPC_OK ? 0 : 2;
}

static pid_t st_hold(struct st_excl *x)
{
    pid_t pid = st_child(st_holder, x);
    int64_t t0 = tu_now_ns();
    while (atomic_load(&st_mem->flag) != 1 && tu_elapsed_ms(t0) < 5000)
        tu_sleep_ms(1);
    assert_int_equal(atomic_load(&st_mem->flag), 1);
    return pid;
}

void test_mutex_timeouts(void **state)
{
    (void)state;
    for (int i = 0; i < ST_LOCK_KINDS; i++) {
        struct st_excl x = {.kind = st_lock_kinds[i]};
        if (!st_has(x.kind, 0))
            continue;
        st_reset();
        st_err(st_make(x.kind, 0, 0, &x.obj), IPC_OK);
        pid_t pid = st_hold(&x);
        int64_t t0 = tu_now_ns();
        st_err(st_lock(x.kind, x.obj, 0), IPC_EAGAIN);
        assert_true(tu_elapsed_ms(t0) < 200); /* one look at /proc */
        t0 = tu_now_ns();
        st_err(st_lock(x.kind, x.obj, 100), IPC_ETIMEDOUT);
        double ms = tu_elapsed_ms(t0);
        if (ms < 100 || ms > 400)
            fail_msg("a 100 ms lock took %.1f ms", ms);
        atomic_store(&st_mem->flag, 2);
        st_reap_ok(pid, 5000);
        st_err(st_lock(x.kind, x.obj, 0), IPC_OK);
        st_err(st_unlock(x.kind, x.obj), IPC_OK);
        st_close(x.kind, x.obj);
    }
}

void test_mutex_not_owner(void **state)
{
    (void)state;
    for (int i = 0; i < ST_LOCK_KINDS; i++) {
        struct st_excl x = {.kind = st_lock_kinds[i]};
        if (!st_has(x.kind, 0))
            continue;
        st_reset();
        st_err(st_make(x.kind, 0, 0, &x.obj), IPC_OK);
        st_err(st_unlock(x.kind, x.obj), IPC_ENOTOWNER);
        if (st_has(x.kind, IPC_SYNC_CAP_ROBUST)) {
            st_err(st_lock(x.kind, x.obj, 0), IPC_OK);
            st_err(st_lock(x.kind, x.obj, 0), IPC_EBUSY);
            st_err(st_consistent(x.kind, x.obj), IPC_EINVAL);
            st_err(st_unlock(x.kind, x.obj), IPC_OK);
            pid_t pid = st_hold(&x);
            st_err(st_unlock(x.kind, x.obj), IPC_ENOTOWNER);
            st_err(st_consistent(x.kind, x.obj), IPC_ENOTOWNER);
            atomic_store(&st_mem->flag, 2);
            st_reap_ok(pid, 5000);
        }
        st_close(x.kind, x.obj);
    }
}

static int st_lock_and_die(void *arg)
{
    struct st_excl *x = arg;
    return st_lock(x->kind, x->obj, 2000) == IPC_OK ? 0 : 1;
}

/* A holder that exits holding: robust kinds report it, undo kinds free it. */
static void st_death(bool make_consistent)
{
    for (int i = 0; i < ST_LOCK_KINDS; i++) {
        struct st_excl x = {.kind = st_lock_kinds[i]};
        bool robust = st_has(x.kind, IPC_SYNC_CAP_ROBUST);
        if (!robust && !st_has(x.kind, IPC_SYNC_CAP_UNDO))
            continue;
        st_reset();
        st_err(st_make(x.kind, 0, 0, &x.obj), IPC_OK);
        st_reap_ok(st_child(st_lock_and_die, &x), 5000);
        if (!robust) {
            st_err(st_lock(x.kind, x.obj, 1000), IPC_OK);
            st_err(st_unlock(x.kind, x.obj), IPC_OK);
            st_close(x.kind, x.obj);
            continue;
        }
        st_err(st_lock(x.kind, x.obj, 0), IPC_EOWNERDEAD);
        if (make_consistent) {
            st_err(st_consistent(x.kind, x.obj), IPC_OK);
            st_err(st_unlock(x.kind, x.obj), IPC_OK);
            /* Reported once: the next lock is plain. */
            st_err(st_lock(x.kind, x.obj, 0), IPC_OK);
            st_err(st_unlock(x.kind, x.obj), IPC_OK);
        } else {
            st_err(st_unlock(x.kind, x.obj), IPC_OK);
            st_err(st_lock(x.kind, x.obj, 100), IPC_ENOTRECOVERABLE);
            st_err(st_lock(x.kind, x.obj, -1), IPC_ENOTRECOVERABLE);
        }
        st_close(x.kind, x.obj);
    }
}

void test_owner_death(void **state)
{
    (void)state;
    st_death(false);
}

void test_owner_death_consistent(void **state)
{
    (void)state;
    st_death(true);
}

/* Lock, count, unlock for ever, recovering a dead holder's lock. */
static int st_churn(void *arg)
{
    struct st_excl *x = arg;
    for (;;) {
        ipc_err err = st_lock(x->kind, x->obj, 5000);
        if (err == IPC_EOWNERDEAD) {
            atomic_fetch_add(&st_mem->deaths, 1);
            err = st_consistent(x->kind, x->obj);
        }
        if (err != IPC_OK)
            return 10 + (int)err;
        atomic_fetch_add(&st_mem->counter, 1);
        if (st_unlock(x->kind, x->obj) != IPC_OK)
            return 3;
    }
}

/* kill -9 at random instants: the survivor never waits past its timeout,
 * and a death is reported at most once (the plain lock after it). */
static void st_kill9_rounds(ipc_sync_kind kind, int rounds)
{
    struct st_excl x = {.kind = kind};
    bool robust = st_has(kind, IPC_SYNC_CAP_ROBUST);
    int reported = 0;
    st_reset();
    st_err(st_make(kind, 0, 0, &x.obj), IPC_OK);
    for (int r = 0; r < rounds; r++) {
        pid_t a = st_child(st_churn, &x), b = st_child(st_churn, &x);
        usleep((useconds_t)tu_rand_range(0, 2000));
        kill(a, SIGKILL);
        usleep((useconds_t)tu_rand_range(0, 500));
        int64_t t0 = tu_now_ns();
        ipc_err err = st_lock(kind, x.obj, 3000);
        if (err == IPC_EOWNERDEAD && robust) {
            reported++;
            err = st_consistent(kind, x.obj);
        }
        if (err != IPC_OK)
            fail_msg("round %d: lock %s after %.1f ms (%s)", r,
                     ipc_errname(err), tu_elapsed_ms(t0), ipc_last_detail());
        kill(b, SIGKILL);
        st_err(st_unlock(kind, x.obj), IPC_OK);
        tu_kill(a);
        tu_kill(b);
        /* b died while the parent held the lock: nothing to report, and
         * a's death was reported once, already. */
        st_err(st_lock(kind, x.obj, 0), IPC_OK);
        st_err(st_unlock(kind, x.obj), IPC_OK);
    }
    printf("kill9 %s %s: %d rounds, owner death reported %d times to the "
           "parent, %d to the other child, %ld locks\n",
           st_row->name, kind == IPC_SYNC_SPIN ? "spinlock" : "mutex", rounds,
           reported, atomic_load(&st_mem->deaths),
           atomic_load(&st_mem->counter));
    assert_true(reported + atomic_load(&st_mem->deaths) <= rounds);
    st_close(kind, x.obj);
}

void test_kill9_lock_rounds(void **state)
{
    (void)state;
    for (int i = 0; i < ST_LOCK_KINDS; i++) {
        ipc_sync_kind k = st_lock_kinds[i];
        if (st_has(k, IPC_SYNC_CAP_ROBUST) || st_has(k, IPC_SYNC_CAP_UNDO))
            st_kill9_rounds(k, st_rounds(100));
    }
}

/* A holder killed while two others wait: exactly one gets EOWNERDEAD. */
static int st_take(void *arg)
{
    struct st_excl *x = arg;
    ipc_err err = st_lock(x->kind, x->obj, 5000);
    atomic_store(&st_mem->errs[0], (int)err);
    if (err == IPC_EOWNERDEAD)
        err = st_consistent(x->kind, x->obj);
    if (err == IPC_OK)
        err = st_unlock(x->kind, x->obj);
    return err == IPC_OK ? 0 : 1;
}

void test_kill9_takeover_once(void **state)
{
    (void)state;
    for (int i = 0; i < ST_LOCK_KINDS; i++) {
        struct st_excl x = {.kind = st_lock_kinds[i]};
        if (!st_has(x.kind, IPC_SYNC_CAP_ROBUST))
            continue;
        int rounds = st_rounds(100) / 4;
        for (int r = 0; r < rounds; r++) {
            st_reset();
            st_err(st_make(x.kind, 0, 0, &x.obj), IPC_OK);
            pid_t a = st_hold(&x);
            pid_t b = st_child(st_take, &x);
            usleep((useconds_t)tu_rand_range(0, 3000));
            kill(a, SIGKILL);
            ipc_err err = st_lock(x.kind, x.obj, 5000);
            int mine = err == IPC_EOWNERDEAD;
            if (mine)
                err = st_consistent(x.kind, x.obj);
            st_err(err, IPC_OK);
            st_err(st_unlock(x.kind, x.obj), IPC_OK);
            st_reap_ok(b, 10000);
            tu_kill(a);
            int theirs = atomic_load(&st_mem->errs[0]) == IPC_EOWNERDEAD;
            if (mine + theirs != 1)
                fail_msg("round %d: owner death reported %d times", r,
                         mine + theirs);
            st_close(x.kind, x.obj);
        }
    }
}
