/* SPDX-License-Identifier: MIT */
/* The region contract, written once and run per mechanism:
 * `ipc_region_contract <shm|file|memfd> [filter]`. Public API only. */
#include "rt.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const struct rt_mech *mech;

#define SIZE 10000 /* not a multiple of the page: the tail must work too */

/* Make a region of SIZE bytes the mechanism's way: by name (creating) or
 * as a pair. addr gets its address (named) or "". */
static ipc_region *make(char *addr, size_t addr_size, unsigned flags)
{
    ipc_region *r = NULL;
    rt_addr(mech, addr, addr_size);
    if (mech->named)
        CHECK(ipc_region_open(addr, IPC_F_CREATE | IPC_F_EXCL | flags, SIZE,
                              1000, &r),
              IPC_OK);
    else
        CHECK(ipc_region_pair(addr, flags, SIZE, &r), IPC_OK);
    assert_non_null(r);
    return r;
}

/* A new region is SIZE zero bytes at a page-aligned pointer. */
static void test_zeroed(void **state)
{
    (void)state;
    char addr[512];
    ipc_region *r = make(addr, sizeof addr, 0);
    assert_int_equal(ipc_region_size(r), SIZE);
    const unsigned char *p = ipc_region_ptr(r);
    assert_int_equal((uintptr_t)p % 4096, 0);
    for (size_t i = 0; i < SIZE; i++)
        assert_int_equal(p[i], 0);
    ipc_region_close(r);
}

static int child_writes(void *arg)
{
    unsigned char *p = arg;
    for (size_t i = 0; i < SIZE; i++)
        p[i] = (unsigned char)(i * 7);
    return 0;
}

/* A forked child's writes are the parent's: the mapping is shared. */
static void test_shared_with_child(void **state)
{
    (void)state;
    char addr[512];
    ipc_region *r = make(addr, sizeof addr, 0);
    unsigned char *p = ipc_region_ptr(r);
    assert_int_equal(rt_child(child_writes, p, 5000), 0);
    for (size_t i = 0; i < SIZE; i++)
        assert_int_equal(p[i], (unsigned char)(i * 7));
    ipc_region_close(r);
}

/* A second open by name maps the same memory, at its own address. */
static void test_second_open(void **state)
{
    (void)state;
    char addr[512];
    ipc_region *a = NULL, *b = NULL;
    if (!mech->named) {
        rt_addr(mech, addr, sizeof addr);
        CHECK(ipc_region_open("memfd:", 0, SIZE, 0, &a), IPC_EINVAL);
        return;
    }
    a = make(addr, sizeof addr, 0);
    CHECK(ipc_region_open(addr, 0, 0, 1000, &b), IPC_OK);
    assert_int_equal(ipc_region_size(b), SIZE);
    assert_ptr_not_equal(ipc_region_ptr(a), ipc_region_ptr(b));
    memcpy(ipc_region_ptr(a), "shared", 7);
    assert_string_equal(ipc_region_ptr(b), "shared");
    ((char *)ipc_region_ptr(b))[SIZE - 1] = 'z';
    assert_int_equal(((char *)ipc_region_ptr(a))[SIZE - 1], 'z');
    ipc_region_close(a);
    ipc_region_close(b);
}

/* Sizes are fixed: a different size is refused, 0 takes the region's,
 * resize is IPC_ENOTSUP. */
static void test_size_fixed(void **state)
{
    (void)state;
    char addr[512];
    ipc_region *r = make(addr, sizeof addr, 0), *b = NULL;
    CHECK(ipc_region_resize(r, 2 * SIZE), IPC_ENOTSUP);
    assert_true(strstr(ipc_last_detail(), "size") != NULL);
    assert_int_equal(ipc_region_size(r), SIZE);
    if (mech->named) {
        CHECK(ipc_region_open(addr, 0, SIZE + 1, 0, &b), IPC_EINVAL);
        assert_null(b);
        CHECK(ipc_region_open(addr, IPC_F_CREATE, 2 * SIZE, 0, &b), IPC_EINVAL);
        CHECK(ipc_region_open(addr, IPC_F_CREATE, SIZE, 0, &b), IPC_OK);
        ipc_region_close(b);
    }
    ipc_region_close(r);
}

/* Names: EXCL on an existing name, a missing name without CREATE. */
static void test_names(void **state)
{
    (void)state;
    char addr[512], other[512];
    ipc_region *r = NULL, *b = NULL;
    if (!mech->named) {
        rt_addr(mech, addr, sizeof addr);
        CHECK(ipc_region_unlink("memfd:"), IPC_ENOTSUP);
        CHECK(ipc_region_open("memfd:/x", IPC_F_CREATE, SIZE, 0, &r),
              IPC_EINVAL);
        return;
    }
    r = make(addr, sizeof addr, 0);
    CHECK(ipc_region_open(addr, IPC_F_CREATE | IPC_F_EXCL, SIZE, 0, &b),
          IPC_EEXIST);
    assert_null(b);
    rt_addr(mech, other, sizeof other);
    CHECK(ipc_region_open(other, 0, SIZE, 0, &b), IPC_ENOENT);
    CHECK(ipc_region_open(other, IPC_F_CREATE, 0, 0, &b), IPC_EINVAL);
    CHECK(ipc_region_unlink(other), IPC_ENOENT);
    ipc_region_close(r);
}

/* Unlink removes the name; mappings made stay valid. */
static void test_unlink(void **state)
{
    (void)state;
    char addr[512], path[600];
    if (!mech->named) {
        ipc_region *r = make(addr, sizeof addr, 0);
        CHECK(ipc_region_unlink(addr), IPC_ENOTSUP);
        ipc_region_close(r);
        return;
    }
    ipc_region *r = make(addr, sizeof addr, 0), *b = NULL;
    rt_os_path(addr, path, sizeof path);
    assert_true(tu_path_exists(path));
    CHECK(ipc_region_unlink(addr), IPC_OK);
    assert_false(tu_path_exists(path));
    memcpy(ipc_region_ptr(r), "still", 6);
    assert_string_equal(ipc_region_ptr(r), "still");
    CHECK(ipc_region_open(addr, 0, 0, 0, &b), IPC_ENOENT);
    CHECK(ipc_region_unlink(addr), IPC_ENOENT);
    ipc_region_close(r);
}

static int child_writes_one(void *arg)
{
    *(volatile char *)arg = 1;
    return 0;
}

/* IPC_F_RDONLY maps PROT_READ: a write faults (SIGSEGV). */
static void test_rdonly(void **state)
{
    (void)state;
    char addr[512], adopt[128];
    ipc_region *r = make(addr, sizeof addr, 0), *ro = NULL;
    memcpy(ipc_region_ptr(r), "ro", 3);
    if (mech->named) {
        CHECK(ipc_region_open(addr, IPC_F_CREATE | IPC_F_RDONLY, SIZE, 0, &ro),
              IPC_EINVAL);
        CHECK(ipc_region_open(addr, IPC_F_RDONLY, 0, 0, &ro), IPC_OK);
    } else {
        /* Adopt a second descriptor for the same memfd, read-only. */
        CHECK(ipc_region_address(r, adopt, sizeof adopt), IPC_OK);
        int fd = -1;
        assert_int_equal(sscanf(adopt, "memfd:?fd=%d", &fd), 1);
        snprintf(adopt, sizeof adopt, "memfd:?fd=%d", dup(fd));
        CHECK(ipc_region_open(adopt, IPC_F_RDONLY, 0, 0, &ro), IPC_OK);
    }
    assert_string_equal(ipc_region_ptr(ro), "ro");
    assert_int_equal(rt_child(child_writes_one, ipc_region_ptr(ro), 5000),
                     128 + SIGSEGV);
    assert_int_equal(rt_child(child_writes_one, ipc_region_ptr(r), 5000), 0);
    ipc_region_close(ro);
    ipc_region_close(r);
}

/* Bad arguments are IPC_EINVAL before anything is made. */
static void test_bad_args(void **state)
{
    (void)state;
    char addr[512];
    ipc_region *r = NULL;
    rt_addr(mech, addr, sizeof addr);
    unsigned create = mech->named ? IPC_F_CREATE : 0;
    CHECK(ipc_region_open(addr, create, SIZE, 0, NULL), IPC_EINVAL);
    CHECK(ipc_region_pair(addr, 0, SIZE, NULL), IPC_EINVAL);
    CHECK(ipc_region_open(addr, create | IPC_F_SEND, SIZE, 0, &r), IPC_EINVAL);
    CHECK(ipc_region_open(addr, IPC_F_EXCL, SIZE, 0, &r), IPC_EINVAL);
    CHECK(ipc_region_open(addr, 1u << 20, SIZE, 0, &r), IPC_EINVAL);
    char opt[600];
    snprintf(opt, sizeof opt, "%s?max_msg=4", addr);
    CHECK(ipc_region_open(opt, create, SIZE, 0, &r), IPC_EINVAL);
    snprintf(opt, sizeof opt, "%s?size=4", addr);
    CHECK(ipc_region_open(opt, create, SIZE, 0, &r), IPC_EINVAL);
    CHECK(ipc_region_open("nosuch:/x", 0, SIZE, 0, &r), IPC_EINVAL);
    CHECK(ipc_region_open("pipe:", 0, SIZE, 0, &r), IPC_EINVAL);
    CHECK(ipc_region_pair(addr, IPC_F_CREATE, SIZE, &r),
          mech->pair ? IPC_EINVAL : IPC_ENOTSUP);
    if (mech->pair)
        CHECK(ipc_region_pair(addr, 0, 0, &r), IPC_EINVAL);
    assert_null(r);
    assert_null(ipc_region_ptr(NULL));
    assert_int_equal(ipc_region_size(NULL), 0);
    CHECK(ipc_region_sync(NULL), IPC_EINVAL);
    ipc_region_close(NULL);
}

/* The capabilities are the mechanism's, and pairs exist where PAIR says. */
static void test_caps(void **state)
{
    (void)state;
    char addr[512];
    ipc_region *r = make(addr, sizeof addr, 0), *p = NULL;
    assert_int_equal(ipc_region_caps(r), mech->caps);
    CHECK(ipc_region_sync(r), IPC_OK);
    ipc_region_close(r);
    if (!mech->pair) {
        char pa[16];
        snprintf(pa, sizeof pa, "%s:", mech->name);
        CHECK(ipc_region_pair(pa, 0, SIZE, &p), IPC_ENOTSUP);
        assert_null(p);
    }
}

/* The descriptor behind a region is close-on-exec unless IPC_F_INHERIT. */
static void test_inherit(void **state)
{
    (void)state;
    for (int inherit = 0; inherit < 2; inherit++) {
        struct tu_fdset before, after;
        char addr[512];
        tu_fdset_take(&before);
        ipc_region *r = make(addr, sizeof addr, inherit ? IPC_F_INHERIT : 0);
        tu_fdset_take(&after);
        int found = 0;
        for (int fd = 0; fd < TU_FDSET_MAX; fd++)
            if (after.open[fd] && !before.open[fd]) {
                assert_int_equal(tu_fd_cloexec(fd), inherit ? 0 : 1);
                found++;
            }
        assert_int_equal(found, 1);
        ipc_region_close(r);
    }
}

/* ipc_region_address gives what another process opens; a short buffer is
 * IPC_EMSGSIZE. */
static void test_address(void **state)
{
    (void)state;
    char addr[512], got[600];
    ipc_region *r = make(addr, sizeof addr, 0);
    CHECK(ipc_region_address(r, got, sizeof got), IPC_OK);
    if (mech->named)
        assert_string_equal(got, addr);
    else
        assert_true(strncmp(got, "memfd:?fd=", 10) == 0);
    CHECK(ipc_region_address(r, got, 4), IPC_EMSGSIZE);
    ipc_region_close(r);
}

/* Exact modes: the umask never narrows them (0277 and 0777). */
static void test_mode_umask(void **state)
{
    (void)state;
    if (!mech->named)
        skip(); /* a memfd has no name to reach it by: its mode is moot */
    static const mode_t masks[] = {0277, 0777, 0};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        char addr[512], opt[600], path[600];
        ipc_region *r = NULL;
        struct stat st;
        rt_addr(mech, addr, sizeof addr);
        snprintf(opt, sizeof opt, "%s?mode=0640", addr);
        mode_t old = umask(masks[i]);
        ipc_err err = ipc_region_open(opt, IPC_F_CREATE, SIZE, 0, &r);
        umask(old);
        CHECK(err, IPC_OK);
        rt_os_path(addr, path, sizeof path);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        ipc_region_close(r);
        assert_int_equal(ipc_region_unlink(addr), IPC_OK);
    }
}

/* An object another uid owns is not trusted: IPC_EACCES naming it. */
static void test_foreign_owner(void **state)
{
    (void)state;
    if (!mech->named || geteuid() != 0)
        skip(); /* needs root to give an object away */
    char addr[512], path[600];
    ipc_region *r = make(addr, sizeof addr, 0), *b = NULL;
    ipc_region_close(r);
    rt_os_path(addr, path, sizeof path);
    assert_int_equal(chown(path, 65534, 65534), 0);
    CHECK(ipc_region_open(addr, 0, 0, 0, &b), IPC_EACCES);
    assert_true(strstr(ipc_last_detail(), "65534") != NULL);
    CHECK(ipc_region_open(addr, IPC_F_CREATE, SIZE, 0, &b), IPC_EACCES);
}

#define RACERS 8

struct race {
    const char *addr;
    unsigned flags;
};

static int child_race(void *arg)
{
    const struct race *rc = arg;
    ipc_region *r = NULL;
    ipc_err err = ipc_region_open(rc->addr, rc->flags, SIZE, 5000, &r);
    if (err != IPC_OK)
        return err == IPC_EEXIST ? 10 : 20 + (int)err;
    atomic_fetch_add((_Atomic unsigned *)ipc_region_ptr(r), 1);
    ipc_region_close(r);
    return 0;
}

/* N processes race to create one name: with EXCL exactly one wins and the
 * rest get IPC_EEXIST; without, every one maps the same region (the count
 * they each add to is N, so nobody made a second one). */
static void test_race_create(void **state)
{
    (void)state;
    if (!mech->named)
        skip(); /* pairs have no name to race for */
    for (int excl = 0; excl < 2; excl++) {
        char addr[512];
        rt_addr(mech, addr, sizeof addr);
        struct race rc = {addr, IPC_F_CREATE | (excl ? IPC_F_EXCL : 0)};
        pid_t pids[RACERS];
        for (int i = 0; i < RACERS; i++) {
            pids[i] = tu_fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0)
                _exit(child_race(&rc));
        }
        int won = 0, lost = 0;
        for (int i = 0; i < RACERS; i++) {
            int status;
            assert_true(tu_wait(pids[i], 10000, &status));
            assert_true(WIFEXITED(status));
            if (WEXITSTATUS(status) == 0)
                won++;
            else if (WEXITSTATUS(status) == 10)
                lost++;
            else
                fail_msg("racer exit %d", WEXITSTATUS(status));
        }
        assert_int_equal(won, excl ? 1 : RACERS);
        assert_int_equal(lost, excl ? RACERS - 1 : 0);
        ipc_region *r = NULL;
        CHECK(ipc_region_open(addr, IPC_F_RDONLY, 0, 0, &r), IPC_OK);
        assert_int_equal(*(unsigned *)ipc_region_ptr(r), (unsigned)won);
        ipc_region_close(r);
    }
}

/* IPC_F_REPLACE: a region nobody has open is replaced (new size, zeroes);
 * an open one is IPC_EBUSY (shm:) or replaced by rename (file:). */
static void test_replace(void **state)
{
    (void)state;
    if (!mech->named)
        skip(); /* nothing named to replace */
    char addr[512];
    ipc_region *r = make(addr, sizeof addr, 0), *b = NULL;
    memcpy(ipc_region_ptr(r), "old", 4);
    ipc_err busy = strcmp(mech->name, "shm") == 0 ? IPC_EBUSY : IPC_OK;
    CHECK(ipc_region_open(addr, IPC_F_CREATE | IPC_F_REPLACE, 2 * SIZE, 0, &b),
          busy);
    ipc_region_close(b);
    assert_string_equal(ipc_region_ptr(r), "old"); /* ours is untouched */
    ipc_region_close(r);
    CHECK(ipc_region_open(addr, IPC_F_CREATE | IPC_F_REPLACE, 2 * SIZE, 0, &b),
          IPC_OK);
    assert_int_equal(ipc_region_size(b), 2 * SIZE);
    assert_int_equal(((char *)ipc_region_ptr(b))[0], 0);
    ipc_region_close(b);
}

struct init_log {
    int calls;
    size_t size;
    bool zeroed;
    ipc_err answer;
};

static ipc_err init_fill(void *mem, size_t size, void *arg)
{
    struct init_log *log = arg;
    const unsigned char *p = mem;
    log->calls++;
    log->size = size;
    log->zeroed = true;
    for (size_t i = 0; i < size; i++)
        log->zeroed &= p[i] == 0;
    memset(mem, 0x5a, size);
    return log->answer;
}

/* ipc_region_open_init: init runs once, in the creator, on zeroes; an
 * opener of the made region runs nothing; a failing init fails the create
 * with its code and leaves no object. */
static void test_init(void **state)
{
    (void)state;
    if (!mech->named)
        skip(); /* a pair's maker fills it before it hands it out */
    char addr[512], path[600];
    struct init_log log = {0, 0, false, IPC_OK};
    ipc_region *r = NULL, *b = NULL;
    rt_addr(mech, addr, sizeof addr);
    CHECK(
        ipc_region_open_init(addr, IPC_F_CREATE, SIZE, 0, init_fill, &log, &r),
        IPC_OK);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.size, SIZE);
    assert_true(log.zeroed);
    CHECK(
        ipc_region_open_init(addr, IPC_F_CREATE, SIZE, 0, init_fill, &log, &b),
        IPC_OK);
    assert_int_equal(log.calls, 1);
    assert_int_equal(((unsigned char *)ipc_region_ptr(b))[SIZE - 1], 0x5a);
    ipc_region_close(b);
    ipc_region_close(r);

    rt_addr(mech, addr, sizeof addr);
    log.answer = IPC_EPROTO;
    CHECK(
        ipc_region_open_init(addr, IPC_F_CREATE, SIZE, 0, init_fill, &log, &r),
        IPC_EPROTO);
    assert_null(r);
    assert_non_null(strstr(ipc_last_detail(), "init"));
    rt_os_path(addr, path, sizeof path);
    assert_false(tu_path_exists(path));
}

int main(int argc, char **argv)
{
    if (argc < 2 || !(mech = rt_mech_find(argv[1]))) {
        fprintf(stderr, "usage: %s shm|file|memfd [filter]\n", argv[0]);
        return 2;
    }
    if (argc > 2)
        cmocka_set_test_filter(argv[2]);
    tu_seed_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_zeroed, rt_teardown),
        cmocka_unit_test_teardown(test_shared_with_child, rt_teardown),
        cmocka_unit_test_teardown(test_second_open, rt_teardown),
        cmocka_unit_test_teardown(test_size_fixed, rt_teardown),
        cmocka_unit_test_teardown(test_names, rt_teardown),
        cmocka_unit_test_teardown(test_unlink, rt_teardown),
        cmocka_unit_test_teardown(test_rdonly, rt_teardown),
        cmocka_unit_test_teardown(test_bad_args, rt_teardown),
        cmocka_unit_test_teardown(test_caps, rt_teardown),
        cmocka_unit_test_teardown(test_inherit, rt_teardown),
        cmocka_unit_test_teardown(test_address, rt_teardown),
        cmocka_unit_test_teardown(test_mode_umask, rt_teardown),
        cmocka_unit_test_teardown(test_foreign_owner, rt_teardown),
        cmocka_unit_test_teardown(test_race_create, rt_teardown),
        cmocka_unit_test_teardown(test_replace, rt_teardown),
        cmocka_unit_test_teardown(test_init, rt_teardown),
    };
    char group[32];
    snprintf(group, sizeof group, "region.%s", mech->name);
    return _cmocka_run_group_tests(group, tests, sizeof tests / sizeof tests[0],
                                   NULL, NULL);
}
