/* SPDX-License-Identifier: MIT */
/* White-box: a sem: create whose exact-mode chmod fails leaves nothing in
 * /dev/shm, and removes only the semaphore it made (issue 13). chmod is
 * replaced for this program: the library's objects are linked in, so
 * src/sync/posix.c calls the one below. Linux (the chmod exists there). */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <ipc/ipc.h>

#ifdef __GLIBC__
#define SEM_PREFIX "sem."
#else
#define SEM_PREFIX ""
#endif

/* What the next chmod does: pass, fail, or let a racer replace the file
 * first (as another process removing ours and making its own would). */
enum { CHMOD_PASS, CHMOD_FAIL, CHMOD_RACE };
static int chmod_mode;
static int chmod_calls;
static const char *race_name; /* "/name" the racer makes again */

int chmod(const char *path, mode_t mode)
{
    chmod_calls++;
    if (chmod_mode == CHMOD_PASS)
        return fchmodat(AT_FDCWD, path, mode, 0);
    if (chmod_mode == CHMOD_RACE) {
        sem_unlink(race_name);
        sem_t *other = sem_open(race_name, O_CREAT | O_EXCL, 0600, 7);
        if (other != SEM_FAILED)
            sem_close(other);
    }
    errno = EPERM;
    return -1;
}

static bool in_dev_shm(const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/" SEM_PREFIX "%s", name + 1);
    return stat(path, &st) == 0;
}

static void make_name(char *name, size_t size)
{
    char unique[96];
    tu_unique(unique, sizeof unique, "ipcsemchmod");
    snprintf(name, size, "/%s", unique);
}

static void test_chmod_fails_nothing_left(void **state)
{
    (void)state;
    char name[128], addr[160];
    ipc_sem *s = (ipc_sem *)&s;
    make_name(name, sizeof name);
    snprintf(addr, sizeof addr, "sem:%s?mode=0640", name);
    chmod_mode = CHMOD_FAIL;
    chmod_calls = 0;
    ipc_err err = ipc_sem_open(addr, IPC_F_CREATE | IPC_F_EXCL, 0, 0, &s);
    chmod_mode = CHMOD_PASS;
    assert_int_equal(chmod_calls, 1);
    assert_int_equal(err, IPC_EACCES);
    assert_null(s);
    assert_non_null(strstr(ipc_last_detail(), "chmod"));
    bool left = in_dev_shm(name);
    if (left)
        sem_unlink(name);
    assert_false(left);
    /* The name is free again: a create now succeeds, with the mode. */
    assert_int_equal(ipc_sem_open(addr, IPC_F_CREATE | IPC_F_EXCL, 0, 0, &s),
                     IPC_OK);
    assert_true(in_dev_shm(name));
    ipc_sem_close(s);
    assert_false(in_dev_shm(name));
}

/* Another process removed ours and made its own at the name before the
 * failure: that one stays. */
static void test_chmod_fails_keeps_anothers(void **state)
{
    (void)state;
    char name[128], addr[160];
    ipc_sem *s = NULL;
    make_name(name, sizeof name);
    snprintf(addr, sizeof addr, "sem:%s", name);
    race_name = name;
    chmod_mode = CHMOD_RACE;
    ipc_err err = ipc_sem_open(addr, IPC_F_CREATE | IPC_F_EXCL, 0, 0, &s);
    chmod_mode = CHMOD_PASS;
    assert_int_equal(err, IPC_EACCES);
    bool kept = in_dev_shm(name);
    sem_t *other = sem_open(name, 0);
    int value = -1;
    if (other != SEM_FAILED) {
        sem_getvalue(other, &value);
        sem_close(other);
    }
    sem_unlink(name);
    assert_true(kept);
    assert_int_equal(value, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chmod_fails_nothing_left),
        cmocka_unit_test(test_chmod_fails_keeps_anothers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
