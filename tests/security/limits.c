/* SPDX-License-Identifier: MIT */
/* Limits matrix: message sizes 0, max and max+1; max_msg and capacity at
 * and over the backend's and the OS's limits; channels filled to the brim
 * with every size; descriptors exhausted under a lowered RLIMIT_NOFILE.
 * Pass: a specific error whose detail names the limit, no crash, nothing
 * left behind (no object, no descriptor).
 *
 *   ipc_rel_limits <row> */
#include "rel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Nothing exists at a named address after a refused open. */
static void lim_nothing_at(const char *addr)
{
    char path[REL_PATH_MAX];
    ipc_channel *ch = NULL;
    if (!rel.named)
        return;
    if (rel_fs_path(addr, path, sizeof path) && tu_path_exists(path))
        fail_msg("a refused open left %s behind", path);
    ipc_err err = ipc_open(addr, IPC_F_SEND, 0, &ch);
    if (err == IPC_OK) {
        ipc_close(ch);
        fail_msg("a refused open left %s openable", addr);
    }
}

/* ---------------------------------------------------------------- sizes */

/* 0, max and max+1 bytes: the last is IPC_EMSGSIZE with a detail and
 * sends nothing; a buffer one byte short is IPC_EMSGSIZE with the needed
 * length, and the message stays queued. */
static void test_sizes(void **state)
{
    (void)state;
    struct rel_link l;
    ipc_info info;
    size_t len = 1;
    assert_ipc_err(rel_link_open(&l, "max_msg=8192"), IPC_OK);
    assert_ipc_err(ipc_query(l.tx, &info), IPC_OK);
    size_t max = info.max_msg;
    assert_int_equal(max, 8192);
    unsigned char *buf = malloc(max + 1), *got = malloc(max + 1);
    assert_non_null(buf);
    assert_non_null(got);

    assert_ipc_err(ipc_send(l.tx, buf, 0, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(l.rx, got, max, &len, NULL, 1000), IPC_OK);
    assert_int_equal(len, 0);

    rel_msg_fill(buf, max, 0, 1);
    assert_ipc_err(ipc_send(l.tx, buf, max, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(l.tx, buf, max + 1, 0, 1000), IPC_EMSGSIZE);
    assert_true(ipc_last_detail()[0] != '\0');
    rel_msg_fill(buf, REL_MSG_HDR, 0, 2);
    assert_ipc_err(ipc_send(l.tx, buf, REL_MSG_HDR, 0, 1000), IPC_OK);

    assert_ipc_err(ipc_recv(l.rx, got, max - 1, &len, NULL, 1000),
                   IPC_EMSGSIZE);
    assert_int_equal(len, max);
    assert_ipc_err(ipc_recv(l.rx, got, max, &len, NULL, 1000), IPC_OK);
    uint32_t producer;
    uint64_t seq;
    assert_null(rel_msg_check(got, len, 1, &producer, &seq));
    assert_int_equal(seq, 1);
    /* Next is the small one: the refused max+1 sent nothing. */
    assert_ipc_err(ipc_recv(l.rx, got, max, &len, NULL, 1000), IPC_OK);
    assert_null(rel_msg_check(got, len, 1, &producer, &seq));
    assert_int_equal(seq, 2);
    assert_ipc_err(ipc_recv(l.rx, got, max, &len, NULL, 0), IPC_EAGAIN);
    free(buf);
    free(got);
    rel_link_close(&l);
}

/* ---------------------------------------------------------------- options */

static void lim_open_expect_limit(const char *opts, const char *what)
{
    struct rel_link l;
    ipc_err err = rel_link_open(&l, opts);
    if (err == IPC_OK) {
        rel_link_close(&l);
        return;
    }
    /* The OS refuses it: a specific error whose detail names the limit. */
    if (err != IPC_ELIMIT && err != IPC_EINVAL && err != IPC_ENOMEM)
        fail_msg("%s (%s): %s, expected IPC_OK or a limit error (%s)", what,
                 opts, ipc_errname(err), ipc_last_detail());
    if (!rel_detail_names_limit())
        fail_msg("%s (%s): %s, but the detail names no limit: \"%s\"", what,
                 opts, ipc_errname(err), ipc_last_detail());
    printf("  %s: %s: %s\n", opts, ipc_errname(err), ipc_last_detail());
    lim_nothing_at(l.addr);
}

static void lim_open_expect(const char *opts, ipc_err want)
{
    struct rel_link l;
    ipc_err err = rel_link_open(&l, opts);
    rel_link_close(&l);
    if (err != want)
        fail_msg("open with %s: %s, expected %s (%s)", opts, ipc_errname(err),
                 ipc_errname(want), ipc_last_detail());
    assert_true(ipc_last_detail()[0] != '\0');
    lim_nothing_at(l.addr);
}

/* max_msg: 0 and over the backend's ceiling are IPC_EINVAL before any
 * object exists; the ceiling itself works or names the OS limit. */
static void test_max_msg_option(void **state)
{
    (void)state;
    char opts[64];
    size_t top = rel.be->limits.max_msg_max;
    lim_open_expect("max_msg=0", IPC_EINVAL);
    snprintf(opts, sizeof opts, "max_msg=%zu", top + 1);
    lim_open_expect(opts, IPC_EINVAL);
    lim_open_expect("max_msg=99999999999999999999999", IPC_EINVAL);
    snprintf(opts, sizeof opts, "max_msg=%zu", top);
    lim_open_expect_limit(opts, "max_msg at the backend's ceiling");
}

/* capacity: over the backend's ceiling is IPC_EINVAL; the ceiling works or
 * names the OS limit; capacity=1 holds one message. A backend without the
 * option refuses it by name. */
static void test_capacity_option(void **state)
{
    (void)state;
    char opts[64];
    if (!rel_takes(IPC_KEY_CAPACITY)) {
        lim_open_expect("capacity=4", IPC_EINVAL);
        assert_non_null(strstr(ipc_last_detail(), "capacity"));
        return;
    }
    size_t top = rel.be->limits.capacity_max;
    snprintf(opts, sizeof opts, "capacity=%zu", top + 1);
    lim_open_expect(opts, IPC_EINVAL);
    snprintf(opts, sizeof opts, "capacity=%zu", top);
    lim_open_expect_limit(opts, "capacity at the backend's ceiling");
    snprintf(opts, sizeof opts, "capacity=%zu&max_msg=%zu", top,
             rel.be->limits.max_msg_max);
    lim_open_expect_limit(opts, "capacity and max_msg at their ceilings");

    struct rel_link l;
    ipc_info info;
    unsigned char buf[REL_MSG_HDR];
    size_t len;
    assert_ipc_err(rel_link_open(&l, "capacity=1"), IPC_OK);
    assert_ipc_err(ipc_query(l.tx, &info), IPC_OK);
    assert_int_equal(info.capacity, 1);
    rel_msg_fill(buf, sizeof buf, 0, 0);
    assert_ipc_err(ipc_send(l.tx, buf, sizeof buf, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(l.tx, buf, sizeof buf, 0, 0), IPC_EAGAIN);
    assert_ipc_err(ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
    assert_ipc_err(ipc_send(l.tx, buf, sizeof buf, 0, 0), IPC_OK);
    rel_link_close(&l);
}

/* ---------------------------------------------------------------- full */

/* Fill a channel to the brim with timeout-0 sends of one size, then with
 * timed sends, and drain it; many rounds over sizes around the page and
 * PIPE_BUF boundaries. A full channel answers IPC_EAGAIN / IPC_ETIMEDOUT
 * and stays whole: exactly what was accepted comes out, and it keeps
 * working. (Regression: a pipe used to start frames that did not fit in
 * its page slots; the deadline then cut one and broke the channel.)
 * max_msg is 16384 where the OS allows it, else the largest it allows
 * (kernel.msgmax, /proc/sys/fs/mqueue/msgsize_max: 8192 by default); sizes
 * above it are sent at max_msg. */
#define LIM_FILL_MAX 16384u

static void test_fill_drain(void **state)
{
    (void)state;
    static const size_t sizes[] = {0,    1,    4064, 4080, 4081,  4095,
                                   4096, 4097, 8176, 8192, 12000, 16384};
    struct rel_link l;
    char opts[64];
    size_t max = rel_max_msg_upto(LIM_FILL_MAX);
    snprintf(opts, sizeof opts, "max_msg=%zu", max);
    assert_ipc_err(rel_link_open(&l, opts), IPC_OK);
    unsigned char *buf = malloc(max);
    assert_non_null(buf);
    uint64_t rng = rel.seed ^ 0xf111;
    unsigned long accepted = 0;
    for (int round = 0; round < 60; round++) {
        size_t a = sizes[rel_rand(&rng) % (sizeof sizes / sizeof sizes[0])];
        size_t b = sizes[rel_rand(&rng) % (sizeof sizes / sizeof sizes[0])];
        a = a < max ? a : max;
        b = b < max ? b : max;
        unsigned queued = 0;
        ipc_err err = IPC_OK;
        /* Two sizes in turn: the worst for page-slot packing. */
        for (unsigned k = 0; k < 100000; k++) {
            size_t len = (k & 1) ? b : a;
            int timeout = (k % 5 == 4) ? 2 : 0;
            int64_t t0 = tu_now_ns();
            err = ipc_send(l.tx, buf, len, 0, timeout);
            const char *late = rel_wait_check(t0, timeout, err);
            if (late)
                fail_msg("round %d: %s", round, late);
            if (err != IPC_OK)
                break;
            queued++;
        }
        if (err != IPC_EAGAIN && err != IPC_ETIMEDOUT)
            fail_msg("round %d (sizes %zu, %zu): a full channel answered %s "
                     "(%s), expected IPC_EAGAIN or IPC_ETIMEDOUT",
                     round, a, b, ipc_errname(err), ipc_last_detail());
        /* Drain part, sometimes, so the next fill starts half full. */
        unsigned drain = (round % 3 == 2) ? queued / 2 : queued;
        for (unsigned k = 0; k < drain; k++) {
            size_t len;
            err = ipc_recv(l.rx, buf, max, &len, NULL, 1000);
            if (err != IPC_OK)
                fail_msg("round %d: message %u of %u: %s (%s)", round, k,
                         queued, ipc_errname(err), ipc_last_detail());
        }
        accepted += queued;
        if (drain != queued) {
            /* The rest must still be there, whole. */
            for (unsigned k = drain; k < queued; k++) {
                size_t len;
                assert_ipc_err(ipc_recv(l.rx, buf, max, &len, NULL, 1000),
                               IPC_OK);
            }
        }
        size_t len;
        assert_ipc_err(ipc_recv(l.rx, buf, max, &len, NULL, 0), IPC_EAGAIN);
    }
    free(buf);
    rel_link_close(&l);
    rel_figure("fill and drain: 60 rounds, %lu messages accepted to the "
               "brim (max_msg %zu), the channel never broke",
               accepted, max);
}

/* ---------------------------------------------------------------- nofile */

#define LIM_MAX_ENDS 512
/* Spare descriptors left under the lowered limit. */
#define LIM_SPARE_FDS 24

/* The smallest channel the row's backend makes: descriptors must run out
 * before any other limit (an mq queue is charged capacity x max_msg
 * against RLIMIT_MSGQUEUE, 800 KiB by default: ten default queues). */
static void lim_small_opts(char *buf, size_t size)
{
    snprintf(
        buf, size, "%s%s%s", rel_takes(IPC_KEY_MAX_MSG) ? "max_msg=64" : "",
        rel_takes(IPC_KEY_MAX_MSG) && rel_takes(IPC_KEY_CAPACITY) ? "&" : "",
        rel_takes(IPC_KEY_CAPACITY) ? "capacity=1" : "");
}

/* In a child with RLIMIT_NOFILE just above what is open: open ends until
 * the OS says no. A backend whose ends hold no descriptor (SysV queues)
 * must instead open far more links than the limit leaves descriptors, and
 * use none. Exit codes: 0 pass, 10+ failures (printed). */
static void lim_nofile_child(void)
{
    static struct rel_link links[LIM_MAX_ENDS];
    char opts[64];
    lim_small_opts(opts, sizeof opts);
    int start = rel_fd_count();
    /* What one link costs in descriptors. */
    if (rel_link_open(&links[0], opts) != IPC_OK)
        tu_child_exit(16, "a first link with %s did not open", opts);
    int per_link = rel_fd_count() - start;
    rel_link_close(&links[0]);
    if (rel_fd_count() != start)
        tu_child_exit(14, "%d descriptors open before a link, %d after it",
                      start, rel_fd_count());
    struct rlimit rl = {(rlim_t)start + LIM_SPARE_FDS,
                        (rlim_t)start + LIM_SPARE_FDS};
    /* Descriptors are numbered from 0: the limit is on the number. */
    int high = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (tu_fd_cloexec(fd) >= 0)
            high = fd;
    if (rl.rlim_cur <= (rlim_t)high + 1)
        rl.rlim_cur = rl.rlim_max = (rlim_t)high + LIM_SPARE_FDS;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        tu_child_exit(10, "setrlimit");
    /* Without descriptors: more links than the limit allows descriptors. */
    int max_links = LIM_MAX_ENDS;
    if (per_link == 0 && rl.rlim_cur < LIM_MAX_ENDS)
        max_links = (int)rl.rlim_cur + 1;
    int n = 0;
    ipc_err err = IPC_OK;
    while (n < max_links) {
        err = rel_link_open(&links[n], opts);
        if (err != IPC_OK)
            break;
        n++;
    }
    /* Judge, then close everything before leaving either way. */
    char detail[256], why[320] = "";
    int code = 0;
    snprintf(detail, sizeof detail, "%s", ipc_last_detail());
    if (per_link == 0 && n < max_links) {
        code = 17;
        snprintf(why, sizeof why,
                 "ends without descriptors, yet link %d of %d failed "
                 "under RLIMIT_NOFILE %ld: %s",
                 n, max_links, (long)rl.rlim_cur, ipc_errname(err));
    } else if (per_link == 0 && rel_fd_count() != start) {
        code = 18;
        snprintf(why, sizeof why,
                 "%d links of ends that held no descriptor alone hold %d", n,
                 rel_fd_count() - start);
    } else if (per_link == 0) {
        /* Passed: RLIMIT_NOFILE does not bound such a backend. */
    } else if (n == max_links) {
        code = 11;
        snprintf(why, sizeof why,
                 "%d links under a limit of %ld "
                 "descriptors",
                 n, (long)rl.rlim_cur);
    } else if (err != IPC_ELIMIT) {
        code = 12;
        snprintf(why, sizeof why,
                 "out of descriptors after %d links: %s, "
                 "expected IPC_ELIMIT",
                 n, ipc_errname(err));
    } else if (!strstr(detail, "RLIMIT_NOFILE")) {
        code = 13;
        snprintf(why, sizeof why,
                 "IPC_ELIMIT, but the detail does not name "
                 "RLIMIT_NOFILE: \"%s\"",
                 detail);
    }
    char failed_addr[REL_ADDR_MAX];
    snprintf(failed_addr, sizeof failed_addr, "%s", links[n].addr);
    for (int i = 0; i < n; i++)
        rel_link_close(&links[i]);
    if (code)
        tu_child_exit(code, "%s", why);
    if (rel_fd_count() != start)
        tu_child_exit(14,
                      "%d descriptors open at the start, %d after "
                      "closing every end",
                      start, rel_fd_count());
    if (rel.named) {
        char path[REL_PATH_MAX];
        if (rel_fs_path(failed_addr, path, sizeof path) && tu_path_exists(path))
            tu_child_exit(15, "the failed open left %s behind", path);
    }
    if (per_link == 0)
        printf("  %d links (%s) under RLIMIT_NOFILE %ld, more than it "
               "allows descriptors: their ends hold none\n",
               n, opts, (long)rl.rlim_cur);
    else
        printf("  %d links (%s, %d descriptors each) opened under "
               "RLIMIT_NOFILE %ld, then IPC_ELIMIT: \"%s\"; every "
               "descriptor back\n",
               n, opts, per_link, (long)rl.rlim_cur, detail);
    fflush(stdout);
    _exit(0);
}

static void test_nofile(void **state)
{
    (void)state;
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0)
        lim_nofile_child();
    assert_child_ok(pid, REL_CHILD_MS);
}

static const struct rel_test lim_tests[] = {
    {"sizes", test_sizes, REL_ANY},
    {"max_msg_option", test_max_msg_option, REL_ANY},
    {"capacity_option", test_capacity_option, REL_ANY},
    {"fill_drain", test_fill_drain, REL_ANY},
    {"nofile", test_nofile, REL_ANY},
    /* shm: a full /dev/shm (small tmpfs) or an injected failure: the slot
     * for the shm row, when it lands. */
    {NULL, NULL, REL_ANY},
};

int main(int argc, char **argv)
{
    return rel_main(argc, argv, "limits", lim_tests);
}
