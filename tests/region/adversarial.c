/* SPDX-License-Identifier: MIT */
/* Regions against peers that stop, die, lie or run out of room: creators
 * stopped or killed at chosen steps (the library's test hook), truncated
 * and scribbled objects, unsealed descriptors, full file systems, links. */
#include "region/region_int.h"
#include "rt.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define SIZE 65536

static const char *adv_self; /* this program, for exec */
static const char *adv_step; /* where the hook acts */
static int adv_signal;       /* and what it raises there */

static void adv_hook(const char *step)
{
    if (strcmp(step, adv_step) == 0)
        raise(adv_signal);
}

/* A child that creates addr and meets sig at step; returns its pid once
 * it is stopped or dead there. */
static pid_t adv_creator(const char *addr, const char *step, int sig)
{
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ipc_region *r = NULL;
        adv_step = step;
        adv_signal = sig;
        ipc__region_hook = adv_hook;
        ipc_region_open(addr, IPC_F_CREATE | IPC_F_EXCL, SIZE, 0, &r);
        _exit(3); /* the hook did not act */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
    if (sig == SIGSTOP)
        assert_true(WIFSTOPPED(status));
    else
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == sig);
    return pid;
}

/* A creator stopped mid-create: openers wait their timeout and say who;
 * once it is killed they hear it died, at once; REPLACE takes over. */
static void test_shm_creator_stopped(void **state)
{
    (void)state;
    char addr[512], pid_text[32];
    ipc_region *r = NULL;
    rt_addr(rt_mech_find("shm"), addr, sizeof addr);
    pid_t pid = adv_creator(addr, "shm-locked", SIGSTOP);
    snprintf(pid_text, sizeof pid_text, "pid %ld", (long)pid);

    CHECK(ipc_region_open(addr, 0, 0, 0, &r), IPC_EAGAIN);
    int64_t t0 = tu_now_ns();
    CHECK(ipc_region_open(addr, IPC_F_CREATE, SIZE, 200, &r), IPC_ETIMEDOUT);
    double ms = tu_elapsed_ms(t0);
    assert_true(ms >= 200 && ms < 1200);
    assert_non_null(strstr(ipc_last_detail(), pid_text));
    assert_null(r);
    CHECK(ipc_region_open(addr, IPC_F_CREATE | IPC_F_REPLACE, SIZE, 0, &r),
          IPC_EBUSY);

    tu_kill(pid);
    t0 = tu_now_ns();
    CHECK(ipc_region_open(addr, 0, 0, 5000, &r), IPC_EPROTO);
    assert_true(tu_elapsed_ms(t0) < 1000);
    assert_non_null(strstr(ipc_last_detail(), "died"));
    CHECK(ipc_region_open(addr, IPC_F_CREATE | IPC_F_REPLACE, SIZE, 0, &r),
          IPC_OK);
    assert_int_equal(ipc_region_size(r), SIZE);
    ipc_region_close(r);
}

/* A creator killed between shm_open and its locks leaves an empty object:
 * openers time out saying so, REPLACE and unlink remove it. */
static void test_shm_creator_killed_early(void **state)
{
    (void)state;
    char addr[512];
    ipc_region *r = NULL;
    rt_addr(rt_mech_find("shm"), addr, sizeof addr);
    adv_creator(addr, "shm-opened", SIGKILL);
    CHECK(ipc_region_open(addr, 0, 0, 100, &r), IPC_ETIMEDOUT);
    assert_non_null(strstr(ipc_last_detail(), "empty"));
    CHECK(ipc_region_open(addr, IPC_F_CREATE | IPC_F_REPLACE, SIZE, 0, &r),
          IPC_OK);
    ipc_region_close(r);
    CHECK(ipc_region_unlink(addr), IPC_OK);
    adv_creator(addr, "shm-locked", SIGKILL);
    CHECK(ipc_region_unlink(addr), IPC_OK); /* a dead creator's half */
}

#define KILL_ROUNDS 50
#define KILL_RACERS 4
#define KILL_SIZE   (16 << 20) /* reserving it takes long enough to be hit */

/* Racers creating one name while one of them is SIGKILLed at a random
 * instant, KILL_ROUNDS times per mechanism: every survivor ends within its
 * timeout, with the region (0), a dead creator's half (EPROTO) or, for a
 * creator killed before its first lock, the timeout; then unlink leaves
 * nothing. */
static int adv_racer(const char *addr)
{
    ipc_region *r = NULL;
    ipc_err err = ipc_region_open(addr, IPC_F_CREATE, KILL_SIZE, 300, &r);
    if (err == IPC_OK)
        ((volatile char *)ipc_region_ptr(r))[KILL_SIZE - 1] = 1;
    ipc_region_close(r);
    return err == IPC_OK          ? 0
           : err == IPC_EPROTO    ? 1
           : err == IPC_ETIMEDOUT ? 2
                                  : 10 + (int)err;
}

static void test_race_with_kills(void **state)
{
    (void)state;
    int outcomes[4] = {0};
    for (int m = 0; m < 2; m++) {
        const struct rt_mech *mech = rt_mech_find(m ? "file" : "shm");
        for (int round = 0; round < KILL_ROUNDS; round++) {
            char addr[512];
            pid_t pids[KILL_RACERS];
            rt_addr(mech, addr, sizeof addr);
            for (int i = 0; i < KILL_RACERS; i++) {
                pids[i] = tu_fork();
                assert_true(pids[i] >= 0);
                if (pids[i] == 0)
                    _exit(adv_racer(addr));
            }
            usleep((useconds_t)tu_rand_range(0, 1500));
            kill(pids[tu_rand_range(0, KILL_RACERS - 1)], SIGKILL);
            for (int i = 0; i < KILL_RACERS; i++) {
                int status = 0;
                assert_true(tu_wait(pids[i], 5000, &status));
                if (WIFSIGNALED(status))
                    continue;
                int code = WEXITSTATUS(status);
                /* file: shows no half-made file: nothing to die in */
                if (code > 2 || (m == 1 && code != 0))
                    fail_msg("%s round %d: racer exit %d", mech->name, round,
                             code);
                outcomes[code]++;
            }
            rt_cleanup(); /* unlinks, and fails on anything left */
        }
    }
    print_message("race with kills: %d opened, %d dead creator, %d timed "
                  "out (%d rounds per mechanism)\n",
                  outcomes[0], outcomes[1], outcomes[2], KILL_ROUNDS);
    assert_true(outcomes[0] > 0);
}

struct slow_init {
    int ms;
};

/* Half the memory, a pause, the other half: an opener that could map the
 * region mid-init would see the halves differ. */
static ipc_err adv_slow_init(void *mem, size_t size, void *arg)
{
    const struct slow_init *si = arg;
    memset(mem, 0x11, size / 2);
    tu_sleep_ms(si->ms);
    memset((char *)mem + size / 2, 0x11, size - size / 2);
    return IPC_OK;
}

static int adv_slow_creator(void *arg)
{
    struct slow_init si = {300};
    ipc_region *r = NULL;
    if (ipc_region_open_init(arg, IPC_F_CREATE | IPC_F_EXCL, SIZE, 0,
                             adv_slow_init, &si, &r) != IPC_OK)
        return 1;
    ipc_region_close(r); /* the region stays: regions outlive their users */
    return 0;
}

/* Openers never see a region before its creator's init returns: shm:
 * openers wait for it (file: ones find no file until then). */
static void test_init_never_seen(void **state)
{
    (void)state;
    for (int m = 0; m < 2; m++) {
        const struct rt_mech *mech = rt_mech_find(m ? "file" : "shm");
        char addr[512];
        rt_addr(mech, addr, sizeof addr);
        pid_t pid = tu_fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(adv_slow_creator(addr));
        ipc_region *r = NULL;
        ipc_err err;
        int64_t t0 = tu_now_ns();
        while ((err = ipc_region_open(addr, 0, 0, 3000, &r)) == IPC_ENOENT &&
               tu_elapsed_ms(t0) < 3000)
            tu_sleep_ms(1);
        CHECK(err, IPC_OK);
        const unsigned char *p = ipc_region_ptr(r);
        assert_int_equal(p[0], 0x11);
        assert_int_equal(p[SIZE - 1], 0x11);
        ipc_region_close(r);
        int status = 0;
        assert_true(tu_wait(pid, 5000, &status));
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

/* A file: creator killed before the link leaves nothing at all. */
static void test_file_creator_killed(void **state)
{
    (void)state;
    char addr[512], path[600];
    ipc_region *r = NULL;
    rt_addr(rt_mech_find("file"), addr, sizeof addr);
    adv_creator(addr, "file-made", SIGKILL);
    rt_os_path(addr, path, sizeof path);
    assert_false(tu_path_exists(path));
    CHECK(ipc_region_open(addr, 0, 0, 0, &r), IPC_ENOENT);
    /* rt_cleanup (teardown) fails on any hidden temporary file left */
}

/* Open a named region's object behind the library's back. */
static int adv_raw(const char *addr, int oflags)
{
    char path[600];
    rt_os_path(addr, path, sizeof path);
    int fd = open(path, oflags | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* A shm: object truncated by a peer, or its header scribbled on: a new
 * opener gets IPC_EPROTO, never a SIGBUS. */
static void test_shm_truncated_or_scribbled(void **state)
{
    (void)state;
    char addr[512];
    ipc_region *r = NULL;
    rt_addr(rt_mech_find("shm"), addr, sizeof addr);
    CHECK(ipc_region_open(addr, IPC_F_CREATE, SIZE, 0, &r), IPC_OK);
    ipc_region_close(r);
    int fd = adv_raw(addr, O_RDWR);
    assert_int_equal(ftruncate(fd, IPC_REGION_HDR_SIZE + SIZE / 2), 0);
    CHECK(ipc_region_open(addr, 0, 0, 0, &r), IPC_EPROTO);
    assert_non_null(strstr(ipc_last_detail(), "truncated"));
    assert_int_equal(ftruncate(fd, IPC_REGION_HDR_SIZE + SIZE), 0);
    CHECK(ipc_region_open(addr, 0, 0, 0, &r), IPC_OK);
    ipc_region_close(r);
    static const struct {
        off_t at;
        uint32_t value;
    } scribbles[] = {{0, 0x12345678}, {8, 7}, {12, 64}, {24, 1}, {16, 1}};
    for (size_t i = 0; i < sizeof scribbles / sizeof scribbles[0]; i++) {
        unsigned char keep[4];
        assert_int_equal(pread(fd, keep, 4, scribbles[i].at), 4);
        assert_int_equal(pwrite(fd, &scribbles[i].value, 4, scribbles[i].at),
                         4);
        CHECK(ipc_region_open(addr, 0, 0, 0, &r), IPC_EPROTO);
        assert_int_equal(pwrite(fd, keep, 4, scribbles[i].at), 4);
    }
    close(fd);
}

/* An shm object that is not a region (a shm: channel, anything) is never
 * opened, replaced or removed as one. */
static void test_shm_not_a_region(void **state)
{
    (void)state;
    char addr[512], chan_addr[520];
    ipc_region *r = NULL;
    rt_addr(rt_mech_find("shm"), addr, sizeof addr);
    ipc_channel *ch = NULL;
    snprintf(chan_addr, sizeof chan_addr, "%s", addr);
    CHECK(ipc_open(chan_addr, IPC_F_RECV | IPC_F_CREATE, 0, &ch), IPC_OK);
    CHECK(ipc_region_open(addr, 0, 0, 0, &r), IPC_EPROTO);
    CHECK(ipc_region_open(addr, IPC_F_CREATE | IPC_F_REPLACE, SIZE, 0, &r),
          IPC_EPROTO);
    CHECK(ipc_region_unlink(addr), IPC_EPROTO);
    ipc_close(ch); /* the channel's creator removes it */
}

/* A pair is sealed: its descriptor cannot be truncated or grown. An
 * unsealed memfd, a closed fd, a pipe are refused on adoption. */
static void test_memfd_sealed(void **state)
{
    (void)state;
    ipc_region *r = NULL, *b = NULL;
    char addr[64];
    int fd = -1;
    CHECK(ipc_region_pair("memfd:", 0, SIZE, &r), IPC_OK);
    CHECK(ipc_region_address(r, addr, sizeof addr), IPC_OK);
    assert_int_equal(sscanf(addr, "memfd:?fd=%d", &fd), 1);
    assert_int_equal(ftruncate(fd, SIZE / 2), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(ftruncate(fd, SIZE * 2), -1);
    ipc_region_close(r);

    int raw = memfd_create("adv", MFD_CLOEXEC);
    assert_true(raw >= 0);
    assert_int_equal(ftruncate(raw, SIZE), 0);
    snprintf(addr, sizeof addr, "memfd:?fd=%d", raw);
    CHECK(ipc_region_open(addr, 0, 0, 0, &b), IPC_EPROTO);
    close(raw);
    CHECK(ipc_region_open(addr, 0, 0, 0, &b), IPC_EINVAL);
    int p[2];
    assert_int_equal(pipe(p), 0);
    snprintf(addr, sizeof addr, "memfd:?fd=%d", p[0]);
    CHECK(ipc_region_open(addr, 0, 0, 0, &b), IPC_EPROTO);
    close(p[0]);
    close(p[1]);
    assert_null(b);
}

/* fork + exec: the child adopts the pair by its address and sees and
 * answers the parent's bytes. */
static void test_memfd_exec_adopt(void **state)
{
    (void)state;
    ipc_region *r = NULL;
    char addr[64];
    CHECK(ipc_region_pair("memfd:", IPC_F_INHERIT, SIZE, &r), IPC_OK);
    tu_pattern(ipc_region_ptr(r), SIZE - 1, 42);
    CHECK(ipc_region_address(r, addr, sizeof addr), IPC_OK);
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(adv_self, adv_self, "--adopt", addr, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_true(tu_wait(pid, 10000, &status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(((unsigned char *)ipc_region_ptr(r))[SIZE - 1], 0xa5);
    ipc_region_close(r);
}

/* The exec'd side of test_memfd_exec_adopt. */
static int adv_adopt(const char *addr)
{
    ipc_region *r = NULL;
    if (ipc_region_open(addr, 0, 0, 0, &r) != IPC_OK) {
        fprintf(stderr, "adopt %s: %s\n", addr, ipc_last_detail());
        return 1;
    }
    if (ipc_region_size(r) != SIZE ||
        tu_pattern_check(ipc_region_ptr(r), SIZE - 1, 42) != SIZE - 1)
        return 2;
    ((unsigned char *)ipc_region_ptr(r))[SIZE - 1] = 0xa5;
    ipc_region_close(r);
    return 0;
}

/* In a private mount namespace, a 1 MiB tmpfs over /dev/shm and over a
 * directory: regions that do not fit are IPC_ELIMIT naming the place, and
 * nothing is left in it. 77: no namespace (not root, no CLONE_NEWNS). */
static int adv_full_fs(void *arg)
{
    (void)arg;
    char dir[256], addr[600], path[600];
    ipc_region *r = NULL;
    snprintf(dir, sizeof dir, "%s/ipcrt-%ld-mnt", tu_tmpdir(), (long)getpid());
    if (unshare(CLONE_NEWNS) < 0 ||
        mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
        return 77;
    if (mkdir(dir, 0700) < 0 ||
        mount("ipcrt", dir, "tmpfs", 0, "size=1m") < 0 ||
        mount("ipcrt", "/dev/shm", "tmpfs", 0, "size=1m") < 0)
        return 10;
    int rc = 0;
    if (ipc_region_open("shm:/ipcrt-full", IPC_F_CREATE, 4 << 20, 0, &r) !=
            IPC_ELIMIT ||
        !strstr(ipc_last_detail(), "/dev/shm"))
        rc = 11;
    else if (tu_path_exists("/dev/shm/ipcrt-full"))
        rc = 12;
    snprintf(addr, sizeof addr, "file:%s/data", dir);
    if (!rc &&
        (ipc_region_open(addr, IPC_F_CREATE, 4 << 20, 0, &r) != IPC_ELIMIT ||
         !strstr(ipc_last_detail(), "file system")))
        rc = 13;
    snprintf(path, sizeof path, "%s/data", dir);
    if (!rc && tu_path_exists(path))
        rc = 14;
    if (!rc && ipc_region_open(addr, IPC_F_CREATE, 512 << 10, 0, &r) != IPC_OK)
        rc = 15;
    ipc_region_close(r);
    umount2(dir, MNT_DETACH);
    rmdir(dir);
    return rc;
}

static void test_full_file_system(void **state)
{
    (void)state;
    int rc = rt_child(adv_full_fs, NULL, 10000);
    if (rc == 77)
        skip(); /* test_fsize_limit still proves IPC_ELIMIT for file: */
    assert_int_equal(rc, 0);
}

/* RLIMIT_FSIZE below the size: IPC_ELIMIT saying so, nothing left. */
static int adv_fsize(void *arg)
{
    const char *addr = arg;
    ipc_region *r = NULL;
    struct rlimit rl = {64 << 10, 64 << 10};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        return 10;
    if (ipc_region_open(addr, IPC_F_CREATE, 1 << 20, 0, &r) != IPC_ELIMIT)
        return 11;
    if (!strstr(ipc_last_detail(), "RLIMIT_FSIZE"))
        return 12;
    return 0;
}

static void test_fsize_limit(void **state)
{
    (void)state;
    char addr[512], path[600];
    for (int i = 0; i < 2; i++) {
        rt_addr(rt_mech_find(i ? "shm" : "file"), addr, sizeof addr);
        assert_int_equal(rt_child(adv_fsize, addr, 10000), 0);
        rt_os_path(addr, path, sizeof path);
        assert_false(tu_path_exists(path));
    }
}

/* file: never follows a symbolic link, never maps a FIFO (and never
 * blocks opening one), maps an existing data file as it is. */
static void test_file_kinds(void **state)
{
    (void)state;
    char addr[512], path[600], target[620];
    ipc_region *r = NULL;
    rt_addr(rt_mech_find("file"), addr, sizeof addr);
    rt_os_path(addr, path, sizeof path);
    snprintf(target, sizeof target, "%s.target", path);
    int fd = open(target, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "data file", 9), 9);
    close(fd);
    assert_int_equal(symlink(target, path), 0);
    CHECK(ipc_region_open(addr, 0, 0, 0, &r), IPC_EPROTO);
    CHECK(ipc_region_open(addr, IPC_F_CREATE, SIZE, 0, &r), IPC_EPROTO);
    CHECK(ipc_region_open(addr, IPC_F_CREATE | IPC_F_REPLACE, SIZE, 0, &r),
          IPC_EPROTO);
    CHECK(ipc_region_unlink(addr), IPC_EPROTO);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    CHECK(ipc_region_open(addr, 0, 0, 0, &r), IPC_EPROTO);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rename(target, path), 0);
    CHECK(ipc_region_open(addr, 0, 0, 0, &r), IPC_OK);
    assert_int_equal(ipc_region_size(r), 9);
    assert_memory_equal(ipc_region_ptr(r), "data file", 9);
    memcpy(ipc_region_ptr(r), "DATA", 4);
    CHECK(ipc_region_sync(r), IPC_OK);
    ipc_region_close(r);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    char buf[9];
    assert_int_equal(read(fd, buf, 9), 9);
    close(fd);
    assert_memory_equal(buf, "DATA file", 9);
}

/* The mechanism table keeps its word: an op is there exactly when its
 * capability says so, and every mechanism answers its scheme. */
static void test_mech_table(void **state)
{
    (void)state;
    const struct ipc_region_mech *const mechs[] = {
        &ipc__region_shm, &ipc__region_file, &ipc__region_memfd};
    for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++) {
        const struct ipc_region_mech *m = mechs[i];
        assert_non_null(m->scheme);
        if (m->built_out)
            continue;
        assert_int_equal(m->pair != NULL, !!(m->caps & IPC_REGION_CAP_PAIR));
        assert_int_equal(m->unlink != NULL, !!(m->caps & IPC_REGION_CAP_NAMED));
        assert_int_equal(m->name_max > 0, !!(m->caps & IPC_REGION_CAP_NAMED));
        assert_non_null(m->open); /* named, or adoption of a pair */
        const struct rt_mech *want = rt_mech_find(m->scheme);
        assert_non_null(want);
        assert_int_equal(m->caps, want->caps);
    }
}

int main(int argc, char **argv)
{
    adv_self = argv[0];
    if (argc == 3 && strcmp(argv[1], "--adopt") == 0)
        return adv_adopt(argv[2]);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    tu_seed_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_shm_creator_stopped, rt_teardown),
        cmocka_unit_test_teardown(test_shm_creator_killed_early, rt_teardown),
        cmocka_unit_test_teardown(test_file_creator_killed, rt_teardown),
        cmocka_unit_test_teardown(test_shm_truncated_or_scribbled, rt_teardown),
        cmocka_unit_test_teardown(test_shm_not_a_region, rt_teardown),
        cmocka_unit_test_teardown(test_memfd_sealed, rt_teardown),
        cmocka_unit_test_teardown(test_memfd_exec_adopt, rt_teardown),
        cmocka_unit_test_teardown(test_full_file_system, rt_teardown),
        cmocka_unit_test_teardown(test_fsize_limit, rt_teardown),
        cmocka_unit_test_teardown(test_file_kinds, rt_teardown),
        cmocka_unit_test_teardown(test_race_with_kills, rt_teardown),
        cmocka_unit_test_teardown(test_init_never_seen, rt_teardown),
        cmocka_unit_test(test_mech_table),
    };
    return cmocka_run_group_tests_name("region.adversarial", tests, NULL, NULL);
}
