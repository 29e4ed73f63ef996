/* SPDX-License-Identifier: MIT */
/* fifo: backend tests beyond the contract: open timeouts, writers killed
 * mid-frame, the multi-sender policy, one receiver, first-writer EOF. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends.h"
#include "check.h"

#include "ipc/ipc.h"
#include "os.h"

#define RECV_NEW (IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV)
/* A wait may end late on a loaded machine, never early. */
#define LATE_MS 3000

struct fx {
    char path[256];
    char addr[512];
    ipc_channel *ends[8];
    pid_t kids[8];
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    tu_row_addr(tu_row_find("fifo"), tu_tmpdir(), "ipcf", fx->addr,
                sizeof fx->addr, NULL);
    assert_true(
        tu_row_fs(tu_row_find("fifo"), fx->addr, fx->path, sizeof fx->path));
    *state = fx;
    tu_watchdog(60); /* a hang is a failure */
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;
    int rc = 0;
    tu_watchdog(0);
    tu_kill_live();
    for (size_t i = 0; i < sizeof fx->ends / sizeof fx->ends[0]; i++)
        ipc_close(fx->ends[i]);
    if (tu_path_exists(fx->path)) {
        print_error("left behind: %s\n", fx->path);
        unlink(fx->path);
        rc = -1;
    }
    free(fx);
    return rc;
}

static void took_at_least(int64_t t0, int ms)
{
    double took = tu_elapsed_ms(t0);
    if (took < ms || took > ms + LATE_MS)
        fail_msg("a wait of %d ms took %.1f ms", ms, took);
}

/* A message whose length and bytes follow from (stream, seq). */
static size_t msg_len(uint64_t stream, uint32_t seq, size_t max)
{
    uint64_t r = tu_mix(stream * 1000003u + seq);
    /* Half of them larger than PIPE_BUF when max allows it. */
    if ((r & 1) && max > PIPE_BUF)
        return PIPE_BUF + (size_t)((r >> 8) % (max - PIPE_BUF + 1));
    return (size_t)((r >> 8) % (max + 1 < PIPE_BUF ? max + 1 : PIPE_BUF));
}

/* 8-byte header (stream id, seq) then a pattern. */
static void msg_fill(unsigned char *buf, size_t len, uint32_t stream,
                     uint32_t seq)
{
    unsigned char tmp[8];
    memcpy(tmp, &stream, 4);
    memcpy(tmp + 4, &seq, 4);
    tu_pattern(buf, len, ((uint64_t)stream << 32) | seq);
    memcpy(buf, tmp, len < 8 ? len : 8);
}

static bool msg_ok(const unsigned char *buf, size_t len, uint32_t stream,
                   uint32_t seq)
{
    unsigned char *want = malloc(len ? len : 1);
    msg_fill(want, len, stream, seq);
    bool ok = memcmp(want, buf, len) == 0;
    free(want);
    return ok;
}

/* ------------------------------------------------------- open timeouts */

struct late_receiver {
    const char *addr;
    int delay_ms;
    ipc_channel *rx;
};

static void *open_receiver_later(void *arg)
{
    struct late_receiver *lr = arg;
    tu_sleep_ms(lr->delay_ms);
    if (ipc_open(lr->addr, IPC_F_RECV, 0, &lr->rx) != IPC_OK)
        lr->rx = NULL;
    return NULL;
}

/* A sender opening a FIFO without a reader: timeout 0 -> IPC_EAGAIN at
 * once, > 0 -> IPC_ETIMEDOUT never early, -1 -> waits for the receiver;
 * a missing FIFO is IPC_ENOENT at once. */
static void test_open_timeout(void **state)
{
    struct fx *fx = *state;
    ipc_channel *tx = NULL;
    char buf[16];
    size_t len;

    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 1000, &tx), IPC_ENOENT);
    assert_true(tu_elapsed_ms(t0) < 500);

    assert_int_equal(mkfifo(fx->path, 0600), 0); /* a FIFO nobody reads */
    t0 = tu_now_ns();
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 0, &tx), IPC_EAGAIN);
    assert_true(tu_elapsed_ms(t0) < 500);
    assert_non_null(strstr(ipc_last_detail(), "no receiver"));
    assert_null(tx);
    t0 = tu_now_ns();
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 150, &tx), IPC_ETIMEDOUT);
    took_at_least(t0, 150);
    assert_null(tx);

    /* A receiver comes after 200 ms: a -1 open waits for it, and works. */
    struct late_receiver lr = {.addr = fx->addr, .delay_ms = 200};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, open_receiver_later, &lr), 0);
    t0 = tu_now_ns();
    ipc_err err = ipc_open(fx->addr, IPC_F_SEND, -1, &tx);
    double took = tu_elapsed_ms(t0);
    pthread_join(th, NULL);
    fx->ends[0] = tx;
    fx->ends[1] = lr.rx;
    assert_ipc_err(err, IPC_OK);
    assert_non_null(lr.rx);
    assert_true(took >= 150);
    assert_ipc_err(ipc_send(tx, "late", 4, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(lr.rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "late", 4);
    unlink(fx->path); /* made by hand, so not removed by a close */
}

/* A creating sender waits for a receiver too, and its close (here after
 * the timeout) removes the FIFO it made. */
static void test_create_sender_timeout(void **state)
{
    struct fx *fx = *state;
    ipc_channel *tx = NULL;
    int64_t t0 = tu_now_ns();
    assert_ipc_err(
        ipc_open(fx->addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_SEND, 100, &tx),
        IPC_ETIMEDOUT);
    took_at_least(t0, 100);
    assert_null(tx);
    assert_false(tu_path_exists(fx->path));
}

/* ------------------------------------------------------- first writer */

/* A receiver opened before any sender does not hear IPC_ECLOSED: it waits.
 * A sender that comes and goes without writing closes the channel; a new
 * sender revives it. */
static void test_first_writer(void **state)
{
    struct fx *fx = *state;
    ipc_channel *rx = NULL, *tx = NULL;
    char buf[16];
    size_t len;
    int fd;
    short events;

    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 1000, &rx), IPC_OK);
    fx->ends[0] = rx;
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 120),
                   IPC_ETIMEDOUT);
    took_at_least(t0, 120);
    /* Nothing to report: the poll descriptor is not ready (no spinning). */
    assert_ipc_err(ipc_pollfd(rx, &fd, &events), IPC_OK);
    struct pollfd pfd = {.fd = fd, .events = events};
    assert_int_equal(poll(&pfd, 1, 50), 0);

    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    ipc_close(tx);
    assert_int_equal(poll(&pfd, 1, 1000), 1);
    assert_true(pfd.revents & POLLHUP);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000),
                   IPC_ECLOSED);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, -1), IPC_ECLOSED);

    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    fx->ends[1] = tx;
    assert_ipc_err(ipc_send(tx, "again", 5, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
    assert_int_equal(len, 5);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
}

/* A receiver blocked with -1 before any sender: woken by the first one. */
static void *send_later(void *arg)
{
    const char *addr = arg;
    ipc_channel *tx = NULL;
    tu_sleep_ms(150);
    if (ipc_open(addr, IPC_F_SEND, 2000, &tx) == IPC_OK) {
        ipc_send(tx, "first", 5, 0, 1000);
        ipc_close(tx);
    }
    return NULL;
}

static void test_first_writer_forever(void **state)
{
    struct fx *fx = *state;
    char buf[16];
    size_t len;
    pthread_t th;

    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 1000, &fx->ends[0]), IPC_OK);
    assert_int_equal(pthread_create(&th, NULL, send_later, fx->addr), 0);
    ipc_err err = ipc_recv(fx->ends[0], buf, sizeof buf, &len, NULL, -1);
    pthread_join(th, NULL);
    assert_ipc_err(err, IPC_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "first", 5);
    assert_ipc_err(ipc_recv(fx->ends[0], buf, sizeof buf, &len, NULL, 1000),
                   IPC_ECLOSED);
}

/* ------------------------------------------------------- killed writers */

/* Writes 3 whole messages, then half a frame straight into the FIFO (as a
 * writer killed mid-frame would leave it), then waits to be killed. */
static int half_frame_writer(const char *addr, int ready_fd)
{
    ipc_channel *tx = NULL;
    if (ipc_open(addr, IPC_F_SEND, 5000, &tx) != IPC_OK)
        return 1;
    unsigned char buf[1000];
    for (uint32_t i = 0; i < 3; i++) {
        size_t len = 100 * (i + 1);
        msg_fill(buf, len, 7, i);
        if (ipc_send(tx, buf, len, 0, 5000) != IPC_OK)
            return 2;
    }
    int fd;
    short events;
    if (ipc_pollfd(tx, &fd, &events) != IPC_OK)
        return 3;
    /* A valid header for 1000 bytes, then 300 of them. */
    unsigned char hdr[16] = {0x49, 0x50, 0x43, 0x31, 0, 0, 0, 0,
                             0xe8, 0x03, 0,    0,    0, 0, 0, 0};
    if (write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr ||
        write(fd, buf, 300) != 300)
        return 4;
    if (write(ready_fd, "r", 1) != 1)
        return 5;
    pause(); /* SIGKILL ends it here, mid-frame */
    return 6;
}

/* A writer killed mid-frame (SIGKILL): the receiver gets the whole
 * messages before it, then IPC_ECLOSED; the partial frame is never
 * delivered. */
static void test_killed_mid_frame(void **state)
{
    struct fx *fx = *state;
    unsigned char buf[2000];
    size_t len;
    int sync[2];

    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 1000, &fx->ends[0]), IPC_OK);
    assert_int_equal(pipe(sync), 0);
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sync[0]);
        _exit(half_frame_writer(fx->addr, sync[1]));
    }
    fx->kids[0] = pid;
    close(sync[1]);
    char c;
    assert_int_equal(read(sync[0], &c, 1), 1);
    close(sync[0]);
    for (uint32_t i = 0; i < 3; i++) {
        assert_ipc_err(ipc_recv(fx->ends[0], buf, sizeof buf, &len, NULL, 2000),
                       IPC_OK);
        assert_int_equal(len, 100 * (i + 1));
        assert_true(msg_ok(buf, len, 7, i));
    }
    /* The header of the partial frame is there; its payload never comes
     * whole: the receive waits, and must not deliver a part. */
    assert_ipc_err(ipc_recv(fx->ends[0], buf, sizeof buf, &len, NULL, 100),
                   IPC_ETIMEDOUT);
    tu_kill(pid);
    fx->kids[0] = 0;
    assert_ipc_err(ipc_recv(fx->ends[0], buf, sizeof buf, &len, NULL, 2000),
                   IPC_ECLOSED);
    assert_non_null(strstr(ipc_last_detail(), "mid-frame"));
    assert_ipc_err(ipc_recv(fx->ends[0], buf, sizeof buf, &len, NULL, 0),
                   IPC_ECLOSED);
}

#define BIG_MAX (256 * 1024)

/* A large-frame sender: numbered messages of stream 1 until killed. */
static int big_sender(const char *addr, int ready_fd)
{
    ipc_channel *tx = NULL;
    if (ipc_open(addr, IPC_F_SEND, 5000, &tx) != IPC_OK)
        return 1;
    if (write(ready_fd, "r", 1) != 1)
        return 3;
    close(ready_fd);
    unsigned char *buf = malloc(BIG_MAX);
    for (uint32_t seq = 0; buf; seq++) {
        size_t len = msg_len(1, seq, BIG_MAX);
        msg_fill(buf, len, 1, seq);
        if (ipc_send(tx, buf, len, 0, -1) != IPC_OK)
            break;
    }
    free(buf);
    ipc_close(tx);
    return 2;
}

struct stream2_job {
    ipc_channel *tx;
    uint32_t count;
    ipc_err err;
};

static void *send_stream2(void *arg)
{
    struct stream2_job *job = arg;
    unsigned char *m = malloc(BIG_MAX);
    job->err = m ? IPC_OK : IPC_ENOMEM;
    for (uint32_t seq = 0; m && seq < job->count && job->err == IPC_OK; seq++) {
        size_t len = msg_len(2, seq, BIG_MAX);
        msg_fill(m, len, 2, seq);
        job->err = ipc_send(job->tx, m, len, 0, 10000);
    }
    free(m);
    return NULL;
}

/* Large frames (> PIPE_BUF) from a sender killed at a random instant while
 * it waits on a full FIFO: its frames are written whole or not at all, so
 * a new sender that takes over right after the kill never continues a
 * half-written frame: every message received is whole, in order. */
static void test_killed_large_sender(void **state)
{
    struct fx *fx = *state;
    char addr[600];
    unsigned char *buf = malloc(BIG_MAX);
    assert_non_null(buf);
    snprintf(addr, sizeof addr, "%s?max_msg=%d", fx->addr, BIG_MAX);
    assert_ipc_err(ipc_open(addr, RECV_NEW, 1000, &fx->ends[0]), IPC_OK);
    ipc_channel *rx = fx->ends[0];
    for (int round = 0; round < 10; round++) {
        int sync[2];
        assert_int_equal(pipe(sync), 0);
        pid_t pid = tu_fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(sync[0]);
            _exit(big_sender(addr, sync[1]));
        }
        fx->kids[0] = pid;
        close(sync[1]);
        /* The receiver says IPC_ECLOSED while no sender is open (after
         * the last round's): start reading once this one is. */
        char c;
        assert_int_equal(read(sync[0], &c, 1), 1);
        close(sync[0]);
        uint32_t next = 0;
        /* Take a few, then let the sender fill the FIFO and wait in a
         * send, and kill it somewhere in there. */
        for (int i = 0; i < 3; i++) {
            size_t len;
            assert_ipc_err(ipc_recv(rx, buf, BIG_MAX, &len, NULL, 5000),
                           IPC_OK);
            assert_int_equal(len, msg_len(1, next, BIG_MAX));
            assert_true(msg_ok(buf, len, 1, next));
            next++;
        }
        tu_sleep_ms((int)(tu_rand() % 30));
        tu_kill(pid);
        fx->kids[0] = 0;
        /* A new large-frame sender gets the FIFO at once (the kernel
         * dropped the dead one's lock) and sends from a thread while
         * this one drains what the dead one left. */
        assert_ipc_err(ipc_open(addr, IPC_F_SEND, 2000, &fx->ends[1]), IPC_OK);
        struct stream2_job job = {.tx = fx->ends[1], .count = 6};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, send_stream2, &job), 0);
        uint32_t got2 = 0;
        while (got2 < job.count) {
            size_t len = 0;
            ipc_err err = ipc_recv(rx, buf, BIG_MAX, &len, NULL, 10000);
            uint32_t stream = 0, seq = 0;
            if (err == IPC_OK && len >= 8) {
                memcpy(&stream, buf, 4);
                memcpy(&seq, buf + 4, 4);
            }
            if (err == IPC_OK && stream == 1 && seq == next &&
                len == msg_len(1, seq, BIG_MAX) && msg_ok(buf, len, 1, seq)) {
                next++;
                continue;
            }
            if (err == IPC_OK && stream == 2 && seq == got2 &&
                len == msg_len(2, seq, BIG_MAX) && msg_ok(buf, len, 2, seq)) {
                got2++;
                continue;
            }
            pthread_join(th, NULL);
            fail_msg("round %d: %s, %zu bytes (stream %u seq %u); expected "
                     "whole messages, stream 1 seq %u or stream 2 seq %u",
                     round, ipc_errname(err), len, stream, seq, next, got2);
        }
        pthread_join(th, NULL);
        assert_ipc_err(job.err, IPC_OK);
        ipc_close(fx->ends[1]);
        fx->ends[1] = NULL;
        size_t len;
        assert_ipc_err(ipc_recv(rx, buf, BIG_MAX, &len, NULL, 2000),
                       IPC_ECLOSED);
    }
    free(buf);
}

/* Large messages of every size through a thread, with -1, 0 and finite
 * timeouts: whole frames never block a sender that has room. */
struct big_job {
    ipc_channel *tx;
    uint32_t count;
    int timeout_ms;
    ipc_err err;
};

static void *send_big(void *arg)
{
    struct big_job *job = arg;
    unsigned char *m = malloc(BIG_MAX);
    job->err = m ? IPC_OK : IPC_ENOMEM;
    for (uint32_t seq = 0; m && seq < job->count && job->err == IPC_OK; seq++) {
        size_t len = msg_len(3, seq, BIG_MAX);
        msg_fill(m, len, 3, seq);
        do
            job->err = ipc_send(job->tx, m, len, 0, job->timeout_ms);
        while (job->timeout_ms == 0 && job->err == IPC_EAGAIN);
    }
    free(m);
    return NULL;
}

static void test_large_stream(void **state)
{
    struct fx *fx = *state;
    char addr[600];
    unsigned char *buf = malloc(BIG_MAX);
    assert_non_null(buf);
    snprintf(addr, sizeof addr, "%s?max_msg=%d", fx->addr, BIG_MAX);
    assert_ipc_err(ipc_open(addr, RECV_NEW, 1000, &fx->ends[0]), IPC_OK);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &fx->ends[1]), IPC_OK);
    ipc_info info;
    assert_ipc_err(ipc_query(fx->ends[1], &info), IPC_OK);
    assert_int_equal(info.max_msg, BIG_MAX);
    assert_false(info.caps & IPC_CAP_MULTI_SENDER);
    assert_true(info.buffer_bytes >= BIG_MAX + 16);
    static const int timeouts[] = {-1, 0, 5000};
    for (size_t t = 0; t < 3; t++) {
        struct big_job job = {
            .tx = fx->ends[1], .count = 150, .timeout_ms = timeouts[t]};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, send_big, &job), 0);
        for (uint32_t seq = 0; seq < job.count; seq++) {
            size_t len = 0;
            ipc_err err =
                ipc_recv(fx->ends[0], buf, BIG_MAX, &len, NULL, 10000);
            if (err != IPC_OK || len != msg_len(3, seq, BIG_MAX) ||
                !msg_ok(buf, len, 3, seq)) {
                pthread_join(th, NULL);
                fail_msg("timeout %d, message %u: %s, %zu bytes", timeouts[t],
                         seq, ipc_errname(err), len);
            }
        }
        pthread_join(th, NULL);
        assert_ipc_err(job.err, IPC_OK);
    }
    free(buf);
}

/* ------------------------------------------------------- senders */

#define MANY_SENDERS 6
#define MANY_EACH    300

static int small_sender(const char *addr, uint32_t id)
{
    ipc_channel *tx = NULL;
    if (ipc_open(addr, IPC_F_SEND, 5000, &tx) != IPC_OK)
        return 1;
    unsigned char buf[4080];
    for (uint32_t seq = 0; seq < MANY_EACH; seq++) {
        size_t len = 8 + (size_t)(tu_mix(id * 7919u + seq) % (4080 - 8 + 1));
        msg_fill(buf, len, id, seq);
        if (ipc_send(tx, buf, len, 0, 10000) != IPC_OK)
            return 2;
    }
    ipc_close(tx);
    return 0;
}

/* Several processes send frames of up to PIPE_BUF at once: every message
 * arrives whole, once, in each sender's order. */
static void test_many_senders(void **state)
{
    struct fx *fx = *state;
    uint32_t next[MANY_SENDERS] = {0};
    unsigned char buf[4096];
    size_t len;

    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 1000, &fx->ends[0]), IPC_OK);
    ipc_info info;
    assert_ipc_err(ipc_query(fx->ends[0], &info), IPC_OK);
    assert_int_equal(info.max_msg, 4080);
    assert_true(info.caps & IPC_CAP_MULTI_SENDER);
    /* Our own sender keeps the channel open while the children start. */
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 1000, &fx->ends[1]), IPC_OK);
    for (uint32_t k = 0; k < MANY_SENDERS; k++) {
        pid_t pid = tu_fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(small_sender(fx->addr, k));
        fx->kids[k] = pid;
    }
    ipc_close(fx->ends[1]);
    fx->ends[1] = NULL;
    for (uint32_t n = 0; n < MANY_SENDERS * MANY_EACH; n++) {
        assert_ipc_err(
            ipc_recv(fx->ends[0], buf, sizeof buf, &len, NULL, 10000), IPC_OK);
        uint32_t id, seq;
        assert_true(len >= 8);
        memcpy(&id, buf, 4);
        memcpy(&seq, buf + 4, 4);
        if (id >= MANY_SENDERS || seq != next[id] ||
            len != 8 + tu_mix(id * 7919u + seq) % (4080 - 8 + 1) ||
            !msg_ok(buf, len, id, seq))
            fail_msg("message %u: sender %u seq %u, %zu bytes: not the next "
                     "whole one",
                     n, id, seq, len);
        next[id]++;
    }
    for (uint32_t k = 0; k < MANY_SENDERS; k++) {
        int status;
        assert_true(tu_wait(fx->kids[k], 20000, &status));
        fx->kids[k] = 0;
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_ipc_err(ipc_recv(fx->ends[0], buf, sizeof buf, &len, NULL, 2000),
                   IPC_ECLOSED);
}

/* A sender with max_msg > 4080 must be alone: it lacks MULTI_SENDER, and
 * any other sender is refused with IPC_EBUSY (after waiting its timeout)
 * while it is open, and the other way round. */
static void test_large_exclusive(void **state)
{
    struct fx *fx = *state;
    char big[600];
    ipc_channel *ch = NULL;
    ipc_info info;

    snprintf(big, sizeof big, "%s?max_msg=8192", fx->addr);
    assert_ipc_err(ipc_open(big, RECV_NEW, 1000, &fx->ends[0]), IPC_OK);
    assert_ipc_err(ipc_open(big, IPC_F_SEND, 1000, &fx->ends[1]), IPC_OK);
    assert_ipc_err(ipc_query(fx->ends[1], &info), IPC_OK);
    assert_false(info.caps & IPC_CAP_MULTI_SENDER);
    assert_ipc_err(ipc_query(fx->ends[0], &info), IPC_OK);
    assert_false(info.caps & IPC_CAP_MULTI_SENDER);

    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 0, &ch), IPC_EBUSY);
    assert_non_null(strstr(ipc_last_detail(), "only one"));
    assert_null(ch);
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_open(big, IPC_F_SEND, 150, &ch), IPC_EBUSY);
    took_at_least(t0, 150);
    assert_null(ch);
    /* The lone sender still works. */
    assert_ipc_err(ipc_send(fx->ends[1], "x", 1, 0, 1000), IPC_OK);
    ipc_close(fx->ends[1]);
    fx->ends[1] = NULL;

    /* Small-frame senders share; a large one then waits for them. */
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 1000, &fx->ends[2]), IPC_OK);
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 1000, &fx->ends[3]), IPC_OK);
    assert_ipc_err(ipc_query(fx->ends[2], &info), IPC_OK);
    assert_true(info.caps & IPC_CAP_MULTI_SENDER);
    assert_ipc_err(ipc_open(big, IPC_F_SEND, 0, &ch), IPC_EBUSY);
    ipc_close(fx->ends[2]);
    ipc_close(fx->ends[3]);
    fx->ends[2] = fx->ends[3] = NULL;
    assert_ipc_err(ipc_open(big, IPC_F_SEND, 1000, &fx->ends[1]), IPC_OK);
}

/* One receiver per FIFO: a second one is IPC_EBUSY; the first keeps
 * working. */
static void test_one_receiver(void **state)
{
    struct fx *fx = *state;
    ipc_channel *ch = NULL;
    char buf[8];
    size_t len;

    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 1000, &fx->ends[0]), IPC_OK);
    assert_ipc_err(ipc_open(fx->addr, IPC_F_RECV, 0, &ch), IPC_EBUSY);
    assert_non_null(strstr(ipc_last_detail(), "another receiver"));
    assert_null(ch);
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_open(fx->addr, IPC_F_RECV | IPC_F_CREATE, 120, &ch),
                   IPC_EBUSY);
    took_at_least(t0, 120);
    assert_null(ch);
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 1000, &fx->ends[1]), IPC_OK);
    assert_ipc_err(ipc_send(fx->ends[1], "one", 3, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(fx->ends[0], buf, sizeof buf, &len, NULL, 1000),
                   IPC_OK);
    assert_int_equal(len, 3);
}

/* Opening a path that is not a FIFO: IPC_EPROTO, the file untouched. */
static void test_not_fifo(void **state)
{
    struct fx *fx = *state;
    ipc_channel *ch = NULL;
    int fd = open(fx->path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "data", 4), 4);
    close(fd);
    ipc_err e1 = ipc_open(fx->addr, IPC_F_SEND, 100, &ch);
    ipc_err e2 = ipc_open(fx->addr, IPC_F_RECV, 100, &ch);
    ipc_err e3 = ipc_open(fx->addr, IPC_F_RECV | IPC_F_CREATE, 100, &ch);
    struct stat st;
    int rc = stat(fx->path, &st);
    unlink(fx->path);
    assert_int_equal(rc, 0);
    assert_int_equal(st.st_size, 4);
    assert_ipc_err(e1, IPC_EPROTO);
    assert_ipc_err(e2, IPC_EPROTO);
    assert_ipc_err(e3, IPC_EEXIST);
    assert_null(ch);
}

/* The FIFO's mode: 0600 by default, exactly ?mode= otherwise, and the
 * creator's close removes only its own FIFO. */
static void test_mode_and_owner(void **state)
{
    struct fx *fx = *state;
    char addr[600];
    struct stat st;
    mode_t old = umask(0);
    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 1000, &fx->ends[0]), IPC_OK);
    umask(old);
    assert_int_equal(lstat(fx->path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    /* Replaced under its creator: the creator's close leaves the new one. */
    assert_ipc_err(ipc_unlink(fx->addr), IPC_OK);
    old = umask(077);
    snprintf(addr, sizeof addr, "%s?mode=0660", fx->addr);
    assert_ipc_err(ipc_open(addr, RECV_NEW, 1000, &fx->ends[1]), IPC_OK);
    umask(old);
    assert_int_equal(lstat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0660);
    ipc_close(fx->ends[0]);
    fx->ends[0] = NULL;
    assert_true(tu_path_exists(fx->path));
    ipc_close(fx->ends[1]);
    fx->ends[1] = NULL;
    assert_false(tu_path_exists(fx->path));
}

/* Unprivileged, a max_msg whose frame the pipe cannot hold (above
 * /proc/sys/fs/pipe-max-size) is IPC_ELIMIT naming that limit. Run in a
 * child under an unused uid when we are root (root may exceed it). */
static int limit_child(const char *dir)
{
    char name[96], addr[512];
    ipc_channel *rx = NULL, *tx = NULL;
    long max = -1;
    FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
    if (!f || fscanf(f, "%ld", &max) != 1)
        return 10;
    fclose(f);
    tu_unique(name, sizeof name, "ipcfl");
    snprintf(addr, sizeof addr, "fifo:%s/%s?max_msg=%ld", dir, name, max);
    /* Both ends refuse it, each naming the limit (issue 12): the receiver
     * too, and a sender with it beside a receiver of the default. */
    ipc_err err = ipc_open(addr, RECV_NEW, 1000, &rx);
    if (err != IPC_ELIMIT || !strstr(ipc_last_detail(), "pipe-max-size"))
        return 11;
    char *query = strchr(addr, '?');
    *query = '\0';
    if (ipc_open(addr, RECV_NEW, 1000, &rx) != IPC_OK)
        return 14;
    *query = '?';
    err = ipc_open(addr, IPC_F_SEND, 1000, &tx);
    int rc = 0;
    if (err != IPC_ELIMIT)
        rc = 12;
    else if (!strstr(ipc_last_detail(), "pipe-max-size"))
        rc = 13;
    if (tx)
        ipc_close(tx);
    ipc_close(rx);
    return rc;
}

static void test_pipe_limit(void **state)
{
    (void)state;
    /* A directory the unprivileged child can make its FIFO in. */
    char dir[256];
    snprintf(dir, sizeof dir, "%s/ipcfl-XXXXXX", tu_reachable_tmpdir());
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 01777), 0);
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0) {
            uid_t uid = (uid_t)(0x7ff00000u + ((unsigned)getpid() & 0xffff));
            if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
                _exit(20);
        }
        _exit(limit_child(dir));
    }
    int status;
    bool done = tu_wait(pid, 20000, &status);
    rmdir(dir); /* the child's close removed its FIFO */
    assert_true(done);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child: status 0x%x", status);
}

/* Issue 12, defect 8 (fixed in 9c96df7): the exact mode was set by path
 * after mkfifo (fifo) and bind (unix), following a symbolic link that
 * another user swapped in meanwhile, and so chmod'ing its target. */

/* Swap a symlink to a victim file in for the FIFO or socket (kind) as soon
 * as one appears at path, until told to stop. */
struct swap {
    const char *path;
    char link[300]; /* a ready symlink, renamed over path */
    const char *victim;
    mode_t kind;
    atomic_bool stop;
    unsigned swaps;
};

static void *swap_main(void *arg)
{
    struct swap *sw = arg;
    struct stat st;
    while (!atomic_load(&sw->stop)) {
        if (lstat(sw->path, &st) < 0 || (st.st_mode & S_IFMT) != sw->kind)
            continue;
        unlink(sw->link);
        if (symlink(sw->victim, sw->link) == 0 &&
            rename(sw->link, sw->path) == 0)
            sw->swaps++;
    }
    return NULL;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* Create at path (scheme "fifo" or "unix") over and over while a thread
 * swaps symlinks in: the victim's mode must never change. */
static void swap_race(const char *scheme, const char *path, mode_t kind)
{
    char victim[300], addr[400];
    snprintf(victim, sizeof victim, "%s.victim", path);
    snprintf(addr, sizeof addr, "%s:%s?mode=0666", scheme, path);
    int fd = open(victim, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    struct swap sw = {.path = path, .victim = victim, .kind = kind};
    snprintf(sw.link, sizeof sw.link, "%s.link", path);
    atomic_init(&sw.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, swap_main, &sw), 0);
    unsigned refused = 0, rounds = 0;
    int64_t t0 = tu_now_ns();
    mode_t seen = 0600;
    while (rounds < 20000 && tu_now_ns() - t0 < 3000000000LL &&
           (seen = mode_of(victim)) == 0600) {
        ipc_channel *ch = NULL;
        ipc_err err = ipc_open(addr, IPC_F_CREATE | IPC_F_RECV, 0, &ch);
        refused += err == IPC_EACCES;
        ipc_close(ch);
        unlink(path); /* the symlink, if swapped in */
        rounds++;
    }
    atomic_store(&sw.stop, true);
    pthread_join(th, NULL);
    unlink(sw.link);
    unlink(path);
    unlink(victim);
    printf("%s: %u rounds, %u swaps, %u refused\n", scheme, rounds, sw.swaps,
           refused);
    if (seen != 0600)
        fail_msg("%s: the victim's mode became %04o through a symlink", scheme,
                 (unsigned)seen);
    assert_true(sw.swaps > 0); /* the race was run */
}

static void test_mode_no_follow(void **state)
{
    struct fx *fx = *state;
    /* The exact mode under a umask that takes nearly everything. */
    mode_t old = umask(0277);
    char addr[400];
    snprintf(addr, sizeof addr, "fifo:%s?mode=0666", fx->path);
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_RECV, 1000, &fx->ends[0]), IPC_OK);
    assert_int_equal(mode_of(fx->path), 0666);
    ipc_close(fx->ends[0]);
    fx->ends[0] = NULL;
    snprintf(addr, sizeof addr, "unix:%s?mode=0666", fx->path);
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_RECV, 1000, &fx->ends[0]), IPC_OK);
    assert_int_equal(mode_of(fx->path), 0666);
    ipc_close(fx->ends[0]);
    fx->ends[0] = NULL;
    umask(old);
    swap_race("fifo", fx->path, S_IFIFO);
    swap_race("unix", fx->path, S_IFSOCK);
}

/* White box: ipc__chmod_made never follows a symlink at the path, and
 * refuses a file of another kind; on the FIFO it made, the mode is exact. */
static void test_chmod_made(void **state)
{
    struct fx *fx = *state;
    char victim[300];
    struct stat st;
    snprintf(victim, sizeof victim, "%s.victim", fx->path);
    int fd = open(victim, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(symlink(victim, fx->path), 0);
    ipc_err link_err = ipc__chmod_made("fifo", fx->path, S_IFIFO, 0666, &st);
    unlink(fx->path);
    /* the regular file itself, as if swapped in */
    ipc_err kind_err = ipc__chmod_made("fifo", victim, S_IFIFO, 0666, &st);
    mode_t victim_mode = mode_of(victim);
    unlink(victim);
    assert_ipc_err(link_err, IPC_EACCES);
    assert_ipc_err(kind_err, IPC_EACCES);
    assert_int_equal(victim_mode, 0600);
    mode_t old = umask(0277);
    int made = mkfifo(fx->path, 0666);
    umask(old);
    assert_int_equal(made, 0);
    ipc_err ok = ipc__chmod_made("fifo", fx->path, S_IFIFO, 0666, &st);
    mode_t fifo_mode = mode_of(fx->path);
    unlink(fx->path);
    assert_ipc_err(ok, IPC_OK);
    assert_int_equal(fifo_mode, 0666);
    assert_int_equal(st.st_mode & 07777, 0400); /* as made, before */
}

/* Issue 12, defect 5: a sender that opened the FIFO with a larger max_msg
 * sent a frame longer than the receiver's: the receiver answered
 * IPC_EPROTO, then "stream: broken" for every later message. Now it skips
 * that one frame, reports it once, and the next message arrives. */
static void skip_expect(ipc_channel *rx, const char *want, ipc_err err)
{
    char buf[256];
    size_t len = 0;
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 2000), err);
    if (err != IPC_OK)
        return;
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
}

static void test_oversize_skip(void **state)
{
    struct fx *fx = *state;
    char addr[600], big[3000];
    memset(big, 'B', sizeof big);
    snprintf(addr, sizeof addr, "%s?max_msg=100", fx->addr);
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_RECV, 1000, &fx->ends[0]), IPC_OK);
    snprintf(addr, sizeof addr, "%s?max_msg=4000", fx->addr);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &fx->ends[1]), IPC_OK);
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 1000, &fx->ends[2]), IPC_OK);
    for (size_t n = 101; n <= sizeof big; n += sizeof big - 101) {
        assert_ipc_err(ipc_send(fx->ends[1], big, n, 0, 1000), IPC_OK);
        assert_ipc_err(ipc_send(fx->ends[2], "good", 4, 0, 1000), IPC_OK);
        assert_ipc_err(ipc_send(fx->ends[1], "fits", 4, 0, 1000), IPC_OK);
        skip_expect(fx->ends[0], NULL, IPC_EPROTO);
        assert_non_null(strstr(ipc_last_detail(), "max_msg 100"));
        skip_expect(fx->ends[0], "good", IPC_OK);
        skip_expect(fx->ends[0], "fits", IPC_OK);
    }
    /* Skipped frames leave nothing behind: the queue ends empty. */
    assert_ipc_err(ipc_send(fx->ends[1], big, 2000, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(fx->ends[2], "last", 4, 0, 1000), IPC_OK);
    skip_expect(fx->ends[0], NULL, IPC_EPROTO);
    skip_expect(fx->ends[0], "last", IPC_OK);
    char buf[8];
    size_t len;
    assert_ipc_err(ipc_recv(fx->ends[0], buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_timeout, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_create_sender_timeout, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_first_writer, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_first_writer_forever, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_killed_mid_frame, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_killed_large_sender, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_large_stream, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_many_senders, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_large_exclusive, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_one_receiver, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_not_fifo, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_mode_and_owner, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_pipe_limit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_mode_no_follow, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_chmod_made, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_oversize_skip, fx_setup,
                                        fx_teardown),
    };
    return tu_run_tests("fifo", tests, argc, argv);
}
