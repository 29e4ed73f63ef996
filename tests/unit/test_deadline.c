/* SPDX-License-Identifier: MIT */
/* White-box tests of call deadlines: never early, 0 never waits, -1 never
 * expires, and ipc__wait_fd keeps to them; the spin before a sleep. */
#include <time.h> /* struct timespec, used by ipc_int.h prototypes */

#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc_int.h"

#define NS_PER_MS 1000000LL

static void test_nonblocking(void **state)
{
    (void)state;
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, 0);
    assert_true(dl.nonblock);
    assert_true(ipc__deadline_expired(&dl));
    assert_int_equal(ipc__deadline_poll_ms(&dl), 0);
    assert_int_equal(ipc__deadline_err(&dl), IPC_EAGAIN);
}

static void test_forever(void **state)
{
    (void)state;
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, -1);
    assert_false(dl.nonblock);
    assert_false(ipc__deadline_expired(&dl));
    assert_int_equal(ipc__deadline_poll_ms(&dl), -1);
    /* Any negative timeout means forever. */
    ipc__deadline_init(&dl, -5);
    assert_int_equal(ipc__deadline_poll_ms(&dl), -1);
}

static void test_bounded(void **state)
{
    (void)state;
    struct ipc_deadline dl;
    int64_t before = ipc__now_ns();
    ipc__deadline_init(&dl, 100);
    int64_t after = ipc__now_ns();
    assert_false(dl.nonblock);
    assert_true(dl.at_ns >= before + 100 * NS_PER_MS);
    assert_true(dl.at_ns <= after + 100 * NS_PER_MS);
    assert_false(ipc__deadline_expired(&dl));
    int ms = ipc__deadline_poll_ms(&dl);
    assert_in_range(ms, 1, 100);
    assert_int_equal(ipc__deadline_err(&dl), IPC_ETIMEDOUT);

    /* Rounded up: half a millisecond left is a 1 ms poll, not 0. */
    dl.at_ns = ipc__now_ns() + NS_PER_MS / 2;
    assert_int_equal(ipc__deadline_poll_ms(&dl), 1);
    /* Passed: 0, and expired. */
    dl.at_ns = ipc__now_ns() - 1;
    assert_int_equal(ipc__deadline_poll_ms(&dl), 0);
    assert_true(ipc__deadline_expired(&dl));
    /* Huge timeouts neither overflow nor go negative. */
    ipc__deadline_init(&dl, INT32_MAX);
    assert_true(ipc__deadline_poll_ms(&dl) > 0);
}

static void test_realtime(void **state)
{
    (void)state;
    struct ipc_deadline dl;
    struct timespec now, ts;
    ipc__deadline_init(&dl, 1500);
    clock_gettime(CLOCK_REALTIME, &now);
    ipc__deadline_realtime(&dl, &ts);
    assert_in_range(ts.tv_nsec, 0, 999999999);
    int64_t diff = ((int64_t)ts.tv_sec - now.tv_sec) * 1000000000LL +
                   (ts.tv_nsec - now.tv_nsec);
    /* left <= 1500 ms, plus the few instants between the two clock reads */
    assert_in_range(diff, 1000 * NS_PER_MS, 1550 * NS_PER_MS);
    /* Non-blocking: now (no time left). */
    ipc__deadline_init(&dl, 0);
    clock_gettime(CLOCK_REALTIME, &now);
    ipc__deadline_realtime(&dl, &ts);
    diff = ((int64_t)ts.tv_sec - now.tv_sec) * 1000000000LL +
           (ts.tv_nsec - now.tv_nsec);
    assert_in_range(diff, 0, 100 * NS_PER_MS);
}

static void test_wait_fd(void **state)
{
    (void)state;
    int fds[2];
    struct ipc_deadline dl;
    short revents = 0;
    assert_int_equal(pipe(fds), 0);

    ipc__deadline_init(&dl, 0);
    assert_int_equal(ipc__wait_fd(fds[0], POLLIN, &dl, &revents), IPC_EAGAIN);

    int64_t t0 = ipc__now_ns();
    ipc__deadline_init(&dl, 50);
    assert_int_equal(ipc__wait_fd(fds[0], POLLIN, &dl, &revents),
                     IPC_ETIMEDOUT);
    assert_true(ipc__now_ns() - t0 >= 50 * NS_PER_MS);

    assert_int_equal(write(fds[1], "x", 1), 1);
    ipc__deadline_init(&dl, -1);
    assert_int_equal(ipc__wait_fd(fds[0], POLLIN, &dl, &revents), IPC_OK);
    assert_true(revents & POLLIN);
    close(fds[0]);
    close(fds[1]);
}

/* Several descriptors: a negative one is skipped, the wait ends when any
 * is ready and says which, and keeps to the deadline like ipc__wait_fd. */
static void test_wait_fds(void **state)
{
    (void)state;
    int a[2], b[2];
    struct ipc_deadline dl;
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    struct pollfd pfd[3] = {{.fd = a[0], .events = POLLIN},
                            {.fd = -1, .events = POLLIN},
                            {.fd = b[0], .events = POLLIN}};

    ipc__deadline_init(&dl, 0);
    assert_int_equal(ipc__wait_fds(pfd, 3, &dl), IPC_EAGAIN);

    int64_t t0 = ipc__now_ns();
    ipc__deadline_init(&dl, 30);
    assert_int_equal(ipc__wait_fds(pfd, 3, &dl), IPC_ETIMEDOUT);
    assert_true(ipc__now_ns() - t0 >= 30 * NS_PER_MS);

    assert_int_equal(write(b[1], "x", 1), 1);
    ipc__deadline_init(&dl, -1);
    assert_int_equal(ipc__wait_fds(pfd, 3, &dl), IPC_OK);
    assert_int_equal(pfd[0].revents, 0);
    assert_int_equal(pfd[1].revents, 0);
    assert_true(pfd[2].revents & POLLIN);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

/* Naps double up to their cap (1 ms for ipc__nap, any for ipc__nap_upto),
 * never pass the deadline, and answer the deadline's code once it passed. */
static void test_nap(void **state)
{
    (void)state;
    struct ipc_deadline dl;
    long nap = 400000;
    ipc__deadline_init(&dl, 1000);
    assert_int_equal(ipc__nap(&dl, &nap), IPC_OK);
    assert_int_equal(nap, 800000);
    assert_int_equal(ipc__nap(&dl, &nap), IPC_OK);
    assert_int_equal(nap, 1000000);
    assert_int_equal(ipc__nap(&dl, &nap), IPC_OK);
    assert_int_equal(nap, 1000000);
    nap = 1500000;
    assert_int_equal(ipc__nap_upto(&dl, &nap, 4000000), IPC_OK);
    assert_int_equal(nap, 3000000);
    assert_int_equal(ipc__nap_upto(&dl, &nap, 4000000), IPC_OK);
    assert_int_equal(nap, 4000000);

    /* A nap longer than the time left ends at the deadline, not after. */
    ipc__deadline_init(&dl, 20);
    nap = 1000000000L; /* 1 s: far more than is left */
    assert_int_equal(ipc__nap_upto(&dl, &nap, nap), IPC_OK);
    int64_t after = ipc__now_ns();
    assert_true(after >= dl.at_ns);
    assert_true(after < dl.at_ns + 500 * NS_PER_MS);
    assert_int_equal(ipc__nap(&dl, &nap), IPC_ETIMEDOUT);
    ipc__deadline_init(&dl, 0);
    assert_int_equal(ipc__nap(&dl, &nap), IPC_EAGAIN);
}

/* A scripted look for ipc__spin_wait: a call with ms 0 (a look of the
 * spin) finds the descriptor ready from the ready_at-th on (-1: never); a
 * call with ms != 0 (the sleep) sleeps sleep_us, then finds it ready. */
static struct {
    int spins, sleeps, ready_at;
    long sleep_us;
} look;

static int fake_look(const void *arg, int ms)
{
    (void)arg;
    if (ms == 0)
        return look.ready_at >= 0 && look.spins++ >= look.ready_at;
    look.sleeps++;
    if (look.sleep_us > 0)
        usleep((useconds_t)look.sleep_us);
    return 1;
}

static void look_script(int ready_at, long sleep_us)
{
    look.spins = look.sleeps = 0;
    look.ready_at = ready_at;
    look.sleep_us = sleep_us;
}

/* A busy end (not idle) finds what comes during its spin without a sleep,
 * and stays busy. */
static void test_spin_catches(void **state)
{
    (void)state;
    struct ipc_waitspin sp = {.idle = false};
    look_script(0, 0);
    assert_int_equal(ipc__spin_wait(&sp, -1, fake_look, NULL), 1);
    assert_int_equal(look.spins, 1);
    assert_int_equal(look.sleeps, 0);
    assert_false(sp.idle);
    /* Ready at the third look: within IPC_SPIN_NS unless this process
     * lost its CPU in a yield (a shared machine), so some try of 20 must
     * catch it by spinning. */
    int caught = 0;
    for (int i = 0; i < 20 && !caught; i++) {
        look_script(2, 0);
        assert_int_equal(ipc__spin_wait(&sp, -1, fake_look, NULL), 1);
        caught = look.sleeps == 0 && look.spins == 3;
    }
    assert_true(caught);
    assert_false(sp.idle);
}

/* A spin that finds nothing lasts IPC_SPIN_NS, then sleeps; a sleep
 * longer than IPC_SPIN_IDLE_NS makes the end idle. */
static void test_spin_gives_up(void **state)
{
    (void)state;
    struct ipc_waitspin sp = {.idle = false};
    look_script(-1, 2000);
    int64_t t0 = ipc__now_ns();
    assert_int_equal(ipc__spin_wait(&sp, 1000, fake_look, NULL), 1);
    assert_true(ipc__now_ns() - t0 >= IPC_SPIN_NS);
    assert_int_equal(look.sleeps, 1);
    assert_true(sp.idle);
}

/* An idle end sleeps at once (no look of a spin, though one would have
 * found the descriptor ready) and stays idle after another long sleep;
 * a short sleep makes it busy again, and its next wait spins. */
static void test_spin_idle(void **state)
{
    (void)state;
    struct ipc_waitspin sp = {.idle = true};
    look_script(0, 2000);
    assert_int_equal(ipc__spin_wait(&sp, -1, fake_look, NULL), 1);
    assert_int_equal(look.spins, 0);
    assert_int_equal(look.sleeps, 1);
    assert_true(sp.idle);

    look_script(0, 0);
    assert_int_equal(ipc__spin_wait(&sp, -1, fake_look, NULL), 1);
    assert_int_equal(look.spins, 0);
    assert_int_equal(look.sleeps, 1);
    assert_false(sp.idle);

    look_script(0, 0);
    assert_int_equal(ipc__spin_wait(&sp, -1, fake_look, NULL), 1);
    assert_int_equal(look.spins, 1);
    assert_int_equal(look.sleeps, 0);
}

/* A wait of 0 is one look and never a spin or a sleep; a real descriptor
 * keeps the deadline: a spinning wait on an empty pipe times out, not
 * early, and leaves the end idle; with data it answers at once. */
static void test_spin_fds(void **state)
{
    (void)state;
    struct ipc_waitspin sp = {.idle = false};
    look_script(-1, 0);
    assert_int_equal(ipc__spin_wait(&sp, 0, fake_look, NULL), 0);
    assert_int_equal(look.spins, 0);
    assert_int_equal(look.sleeps, 0);

    int p[2];
    assert_int_equal(pipe(p), 0);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    struct ipc_deadline dl;
    int64_t t0 = ipc__now_ns();
    ipc__deadline_init(&dl, 30);
    assert_int_equal(ipc__wait_fds_spin(&pfd, 1, &dl, &sp), IPC_ETIMEDOUT);
    assert_true(ipc__now_ns() - t0 >= 30 * NS_PER_MS);
    assert_true(sp.idle);
    assert_int_equal(write(p[1], "x", 1), 1);
    ipc__deadline_init(&dl, -1);
    assert_int_equal(ipc__wait_fds_spin(&pfd, 1, &dl, &sp), IPC_OK);
    assert_true(pfd.revents & POLLIN);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonblocking),
        cmocka_unit_test(test_forever),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_realtime),
        cmocka_unit_test(test_wait_fd),
        cmocka_unit_test(test_nap),
        cmocka_unit_test(test_wait_fds),
        cmocka_unit_test(test_spin_catches),
        cmocka_unit_test(test_spin_gives_up),
        cmocka_unit_test(test_spin_idle),
        cmocka_unit_test(test_spin_fds),
    };
    return cmocka_run_group_tests_name("unit.deadline", tests, NULL, NULL);
}
