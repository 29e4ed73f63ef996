/* SPDX-License-Identifier: MIT */
/* The sync contract suite: one row per mechanism, objects made the same
 * way for every row, and the tests written once. */
#ifndef IPC_SYNC_TEST_H
#define IPC_SYNC_TEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

/* Where the C library keeps sem:/x in /dev/shm (src/os.h). */
#ifdef __GLIBC__
#define ST_SEM_PREFIX "sem."
#else
#define ST_SEM_PREFIX ""
#endif

#include <ipc/ipc.h>

#include "testutil.h"

/* A mechanism under test. placed: objects placed in a shared anonymous
 * mapping (the futex form); else named by a fresh address of scheme. */
struct st_row {
    const char *name;
    const char *scheme;
    bool placed;
    unsigned caps[5]; /* expected ipc_sync_caps per kind */
};

extern const struct st_row *st_row;

/* Bytes of a slot: room for a placed barrier of up to 24 parties. */
#define ST_SLOT_SIZE 256

/* Shared scratch memory every forked child sees (counters, flags). */
struct st_shared {
    _Alignas(64) unsigned char slots[16][ST_SLOT_SIZE];
    _Atomic long counter;
    _Atomic int flag;
    _Atomic int deaths;
    _Atomic int errs[8];
    _Atomic int64_t when[8]; /* tu_now_ns() of errs[i] */
    _Atomic int died[8];     /* errs[i]'s detail said a party died */
    _Atomic int inside[8];   /* party i is inside ipc_barrier_wait */
};
extern struct st_shared *st_mem;

/* Zero st_mem: every test starts with it. */
void st_reset(void);
/* Does the row have kind (with every cap of want)? */
bool st_has(ipc_sync_kind kind, unsigned want);
/* Make a fresh object of kind (init: semaphore value, barrier parties) for
 * the row: placed in slot `slot` of st_mem, or named and created. The
 * address used is in st_last_address (empty for placed rows). */
ipc_err st_make(ipc_sync_kind kind, int slot, unsigned init, void **obj);
extern char st_last_address[128];
/* A fresh address of the row's scheme. */
void st_address(char *buf, size_t size);
void st_close(ipc_sync_kind kind, void *obj);

/* Mutex or spinlock, by kind. */
ipc_err st_lock(ipc_sync_kind kind, void *obj, int timeout_ms);
ipc_err st_unlock(ipc_sync_kind kind, void *obj);
ipc_err st_consistent(ipc_sync_kind kind, void *obj);

/* Fork a child that runs fn(arg) and _exit()s with its return value. */
pid_t st_child(int (*fn)(void *), void *arg);
/* Wait for a child at most ms; assert that it exited with 0. */
void st_reap_ok(pid_t pid, int ms);

/* Assert an error code, naming both and the detail. */
#define st_err(got, want)                                                      \
    do {                                                                       \
        ipc_err got_ = (got);                                                  \
        if (got_ != (want))                                                    \
            fail_msg("%s: got %s, want %s (%s)", #got, ipc_errname(got_),      \
                     ipc_errname(want), ipc_last_detail());                    \
    } while (0)

/* Tests, by file. */
#define ST_TESTS_LOCKS                                                         \
    cmocka_unit_test(test_caps), cmocka_unit_test(test_args),                  \
        cmocka_unit_test(test_mutex_exclusion),                                \
        cmocka_unit_test(test_spin_exclusion),                                 \
        cmocka_unit_test(test_mutex_timeouts),                                 \
        cmocka_unit_test(test_mutex_not_owner),                                \
        cmocka_unit_test(test_owner_death),                                    \
        cmocka_unit_test(test_owner_death_consistent),                         \
        cmocka_unit_test(test_kill9_lock_rounds),                              \
        cmocka_unit_test(test_kill9_takeover_once)
#define ST_TESTS_WAITS                                                         \
    cmocka_unit_test(test_sem_counts), cmocka_unit_test(test_sem_cross),       \
        cmocka_unit_test(test_sem_timeouts), cmocka_unit_test(test_eintr),     \
        cmocka_unit_test(test_barrier_gens),                                   \
        cmocka_unit_test(test_barrier_timeout_breaks),                         \
        cmocka_unit_test(test_kill9_barrier),                                  \
        cmocka_unit_test(test_barrier_stopped_party),                          \
        cmocka_unit_test(test_barrier_leave), cmocka_unit_test(test_event),    \
        cmocka_unit_test(test_named_reopen),                                   \
        cmocka_unit_test(test_mode_umask), cmocka_unit_test(test_hostile),     \
        cmocka_unit_test(test_threads), cmocka_unit_test(test_foreign_owner)

void test_caps(void **state);
void test_args(void **state);
void test_mutex_exclusion(void **state);
void test_spin_exclusion(void **state);
void test_mutex_timeouts(void **state);
void test_mutex_not_owner(void **state);
void test_owner_death(void **state);
void test_owner_death_consistent(void **state);
void test_kill9_lock_rounds(void **state);
void test_kill9_takeover_once(void **state);
void test_sem_counts(void **state);
void test_sem_cross(void **state);
void test_sem_timeouts(void **state);
void test_eintr(void **state);
void test_barrier_gens(void **state);
void test_barrier_timeout_breaks(void **state);
void test_kill9_barrier(void **state);
void test_barrier_stopped_party(void **state);
void test_barrier_leave(void **state);
void test_event(void **state);
void test_named_reopen(void **state);
void test_mode_umask(void **state);
void test_hostile(void **state);
void test_threads(void **state);
void test_foreign_owner(void **state);

#endif /* IPC_SYNC_TEST_H */
