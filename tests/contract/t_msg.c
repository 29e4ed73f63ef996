/* SPDX-License-Identifier: MIT */
/* Contract: message boundaries, sizes, exact bytes and order. */
#include "contract.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* 0 bytes, 1 byte and max_msg arrive as sent; max_msg + 1 is IPC_EMSGSIZE
 * and sends nothing: the next receive gets the next message, whole. */
static void test_boundaries(void **state)
{
    struct ct_fx *fx = *state;
    char big[4097];
    size_t len = 1;
    unsigned prio = 7;

    ct_link(fx, "max_msg=4096");
    assert_ipc_err(ipc_send(fx->tx, "", 0, 0, 1000), IPC_OK);
    ct_send_pat(fx->tx, 1, 101, CT_ARRIVE_MS);
    ct_send_pat(fx->tx, 4096, 102, CT_ARRIVE_MS);
    tu_pattern(big, sizeof big, 103);
    assert_ipc_err(ipc_send(fx->tx, big, 4097, 0, 1000), IPC_EMSGSIZE);
    ct_detail_set();
    assert_ipc_err(ipc_send(fx->tx, big, 4097, 0, 0), IPC_EMSGSIZE);
    ct_send_pat(fx->tx, 7, 104, CT_ARRIVE_MS);

    assert_ipc_err(ipc_recv(fx->rx, big, sizeof big, &len, &prio, 1000),
                   IPC_OK);
    assert_int_equal(len, 0);
    assert_int_equal(prio, 0);
    ct_recv_pat(fx->rx, 1, 101, CT_ARRIVE_MS);
    ct_recv_pat(fx->rx, 4096, 102, CT_ARRIVE_MS);
    ct_recv_pat(fx->rx, 7, 104, CT_ARRIVE_MS);
    assert_ipc_err(ipc_recv(fx->rx, big, sizeof big, &len, NULL, 0),
                   IPC_EAGAIN);
}

/* max_msg=1: the smallest channel carries 0 and 1 byte, refuses 2. */
static void test_max_msg_one(void **state)
{
    struct ct_fx *fx = *state;
    char buf[4];
    size_t len;

    ct_link(fx, "max_msg=1");
    assert_ipc_err(ipc_send(fx->tx, "ab", 2, 0, 0), IPC_EMSGSIZE);
    assert_ipc_err(ipc_send(fx->tx, "a", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(fx->tx, "", 0, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 'a');
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
    assert_int_equal(len, 0);
}

struct sender_job {
    ipc_channel *tx;
    size_t count;
    size_t max_len;
    uint64_t seed;
    ipc_err err;
    size_t failed_at;
};

static size_t job_len(const struct sender_job *job, size_t i)
{
    if (job->count == 1)
        return job->max_len;
    return (size_t)(tu_mix(job->seed + i) % (job->max_len + 1));
}

static void *sender_run(void *arg)
{
    struct sender_job *job = arg;
    unsigned char *buf = malloc(job->max_len + 1);
    job->err = buf ? IPC_OK : IPC_ENOMEM;
    for (size_t i = 0; buf && i < job->count; i++) {
        size_t len = job_len(job, i);
        tu_pattern(buf, len, job->seed ^ i);
        job->err = ipc_send(job->tx, buf, len, 0, 10000);
        if (job->err != IPC_OK) {
            job->failed_at = i;
            break;
        }
    }
    free(buf);
    return NULL;
}

static void run_sender_job(struct ct_fx *fx, struct sender_job *job)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sender_run, job), 0);
    size_t i = 0;
    for (; i < job->count; i++) {
        size_t len = job_len(job, i);
        size_t got = 0;
        unsigned char *buf = malloc(job->max_len + 1);
        assert_non_null(buf);
        ipc_err err =
            ipc_recv(fx->rx, buf, job->max_len + 1, &got, NULL, 10000);
        size_t bad = (err == IPC_OK && got == len)
                         ? tu_pattern_check(buf, len, job->seed ^ i)
                         : 0;
        free(buf);
        if (err != IPC_OK || got != len || bad != len) {
            pthread_join(th, NULL);
            print_error("message %zu: %s, %zu bytes (expected %zu), first "
                        "bad byte %zu; sender: %s\n",
                        i, ipc_errname(err), got, len, bad,
                        ipc_errname(job->err));
            fail();
        }
    }
    pthread_join(th, NULL);
    assert_ipc_err(job->err, IPC_OK);
}

/* The same on a lossy backend (TU_S_LOSSY), whose sends never wait for
 * the receiver: take what arrives until 500 ms pass without a message
 * (10 s for the first).
 * Each is whole and one the sender sent, none twice, in the sender's
 * order (gaps are losses; on loopback the kernel keeps one sender's
 * datagrams in order); at least one arrives. */
static void run_sender_job_lossy(struct ct_fx *fx, struct sender_job *job)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sender_run, job), 0);
    unsigned char *buf = malloc(job->max_len + 1);
    assert_non_null(buf);
    size_t next = 0, got_count = 0, got = 0;
    ipc_err err;
    while ((err = ipc_recv(fx->rx, buf, job->max_len + 1, &got, NULL,
                           got_count ? 500 : 10000)) == IPC_OK) {
        size_t i = next;
        while (i < job->count &&
               (got != job_len(job, i) ||
                tu_pattern_check(buf, got, job->seed ^ i) != got))
            i++;
        if (i == job->count) {
            pthread_join(th, NULL);
            free(buf);
            fail_msg("a message of %zu bytes that is none of those sent "
                     "after message %zu (cut, corrupted, doubled or out of "
                     "order)",
                     got, next);
        }
        next = i + 1;
        got_count++;
    }
    pthread_join(th, NULL);
    free(buf);
    assert_ipc_err(err, IPC_ETIMEDOUT);
    assert_ipc_err(job->err, IPC_OK);
    assert_true(got_count > 0);
}

/* A message of the default max_msg crosses whole (a thread sends it while
 * this one receives: it may be larger than the channel's buffer). */
static void test_max_msg_default(void **state)
{
    struct ct_fx *fx = *state;
    ipc_info info;

    ct_link(fx, NULL);
    assert_ipc_err(ipc_query(fx->tx, &info), IPC_OK);
    assert_int_equal(info.max_msg, fx->be->max_msg_default);
    struct sender_job job = {
        .tx = fx->tx, .count = 1, .max_len = info.max_msg, .seed = 0x5eed};
    run_sender_job(fx, &job);

    unsigned char *big = malloc(info.max_msg + 1);
    assert_non_null(big);
    ipc_err err = ipc_send(fx->tx, big, info.max_msg + 1, 0, 0);
    free(big);
    assert_ipc_err(err, IPC_EMSGSIZE);
}

/* Many messages of many sizes: each arrives once, whole, in order (lossy:
 * those that arrive). */
static void test_order(void **state)
{
    struct ct_fx *fx = *state;
    char buf[8];
    size_t len;

    ct_link(fx, "max_msg=1024");
    struct sender_job job = {
        .tx = fx->tx, .count = 1000, .max_len = 1024, .seed = tu_rand()};
    if (fx->be->lossy)
        run_sender_job_lossy(fx, &job);
    else
        run_sender_job(fx, &job);
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN);
}

/* A buffer too small: IPC_EMSGSIZE, *len = the size needed, and the message
 * stays queued for a receive with room (an exact fit is room). */
static void test_small_buffer(void **state)
{
    struct ct_fx *fx = *state;
    unsigned char buf[200];
    size_t len;

    ct_link(fx, "max_msg=4096");
    ct_send_pat(fx->tx, 100, 21, CT_ARRIVE_MS);
    ct_send_pat(fx->tx, 5, 22, CT_ARRIVE_MS);
    assert_ipc_err(ipc_send(fx->tx, "", 0, 0, 1000), IPC_OK);

    len = 0;
    assert_ipc_err(ipc_recv(fx->rx, buf, 10, &len, NULL, 1000), IPC_EMSGSIZE);
    assert_int_equal(len, 100);
    ct_detail_set();
    len = 0;
    assert_ipc_err(ipc_recv(fx->rx, buf, 99, &len, NULL, 0), IPC_EMSGSIZE);
    assert_int_equal(len, 100);
    len = 0;
    assert_ipc_err(ipc_recv(fx->rx, buf, 0, &len, NULL, 0), IPC_EMSGSIZE);
    assert_int_equal(len, 100);

    len = 0;
    assert_ipc_err(ipc_recv(fx->rx, buf, 100, &len, NULL, 0), IPC_OK);
    assert_int_equal(len, 100);
    assert_int_equal(tu_pattern_check(buf, 100, 21), 100);
    ct_recv_pat(fx->rx, 5, 22, CT_ARRIVE_MS);
    /* A zero-length message fits a zero-length buffer. */
    len = 9;
    assert_ipc_err(ipc_recv(fx->rx, buf, 0, &len, NULL, 1000), IPC_OK);
    assert_int_equal(len, 0);
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN);
}

const struct ct_test ct_tests_msg[] = {
    {"boundaries", test_boundaries, CT_EACH_MODE},
    {"max_msg_one", test_max_msg_one, CT_EACH_MODE},
    {"max_msg_default", test_max_msg_default, CT_EACH_MODE},
    {"order", test_order, CT_EACH_MODE},
    {"small_buffer", test_small_buffer, CT_EACH_MODE},
    {NULL, NULL, CT_ONCE},
};
