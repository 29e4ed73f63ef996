/* SPDX-License-Identifier: MIT */
/* Contract: threads of one process on one object (run under TSan too). */
#include "sync_test.h"

#include <pthread.h>
#include <stdatomic.h>

#define ST_THREADS      4
#define ST_THREAD_ITERS 20000

struct st_thr {
    ipc_sync_kind kind;
    void *obj;
    long plain; /* guarded by the lock: a plain variable TSan watches */
    ipc_sem *ping, *pong;
    ipc_event *go;
    _Atomic int errors;
};

static void *st_thr_locker(void *arg)
{
    struct st_thr *t = arg;
    for (int i = 0; i < ST_THREAD_ITERS; i++) {
        if (st_lock(t->kind, t->obj, 10000) != IPC_OK) {
            atomic_fetch_add(&t->errors, 1);
            continue;
        }
        t->plain++;
        if (st_unlock(t->kind, t->obj) != IPC_OK)
            atomic_fetch_add(&t->errors, 1);
    }
    return NULL;
}

static void *st_thr_ponger(void *arg)
{
    struct st_thr *t = arg;
    if (ipc_event_wait(t->go, 10000) != IPC_OK)
        atomic_fetch_add(&t->errors, 1);
    for (int i = 0; i < 1000; i++) {
        if (ipc_sem_wait(t->ping, 10000) != IPC_OK)
            atomic_fetch_add(&t->errors, 1);
        t->plain++; /* handed over by the semaphores */
        if (ipc_sem_post(t->pong) != IPC_OK)
            atomic_fetch_add(&t->errors, 1);
    }
    return NULL;
}

static void st_thr_locks(ipc_sync_kind kind)
{
    struct st_thr t = {.kind = kind};
    pthread_t th[ST_THREADS];
    if (!st_has(kind, 0))
        return;
    st_err(st_make(kind, 0, 0, &t.obj), IPC_OK);
    for (int i = 0; i < ST_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, st_thr_locker, &t), 0);
    for (int i = 0; i < ST_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&t.errors), 0);
    assert_int_equal(t.plain, (long)ST_THREADS * ST_THREAD_ITERS);
    st_close(kind, t.obj);
}

void test_threads(void **state)
{
    (void)state;
    st_reset();
    st_thr_locks(IPC_SYNC_MUTEX);
    st_thr_locks(IPC_SYNC_SPIN);
    if (!st_has(IPC_SYNC_EVENT, 0))
        return;
    struct st_thr t = {.kind = IPC_SYNC_SEM};
    pthread_t th;
    st_err(st_make(IPC_SYNC_SEM, 1, 0, (void **)&t.ping), IPC_OK);
    st_err(st_make(IPC_SYNC_SEM, 2, 0, (void **)&t.pong), IPC_OK);
    st_err(st_make(IPC_SYNC_EVENT, 3, 0, (void **)&t.go), IPC_OK);
    assert_int_equal(pthread_create(&th, NULL, st_thr_ponger, &t), 0);
    st_err(ipc_event_set(t.go), IPC_OK);
    for (int i = 0; i < 1000; i++) {
        st_err(ipc_sem_post(t.ping), IPC_OK);
        st_err(ipc_sem_wait(t.pong, 10000), IPC_OK);
        t.plain++;
    }
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&t.errors), 0);
    assert_int_equal(t.plain, 2000);
    ipc_sem_close(t.ping);
    ipc_sem_close(t.pong);
    ipc_event_close(t.go);
}
