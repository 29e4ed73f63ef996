/* SPDX-License-Identifier: MIT */
/* Thread safety as ipc.h documents it, for ThreadSanitizer: one sending
 * thread and one receiving thread on one end at once (both ends of a
 * duplex channel, each end used by two threads), distinct channels from
 * distinct threads (open, send, receive, fail, close all at once), and the
 * per-thread error detail. Built normally it checks the results; built
 * with -fsanitize=thread (tests/rel/run.sh tsan) TSan checks the races.
 *
 *   ipc_rel_threads <row>   IPC_REL_THREAD_MSGS=N (20000; long 1000000) */
#include "rel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TH_CHANNELS 4
#define TH_MAX_MSG  1024

struct th_dir {
    ipc_channel *from, *to; /* send on from, receive on to */
    uint32_t producer;
    uint64_t msgs;
    char error[256];
};

static void *th_send(void *arg)
{
    struct th_dir *d = arg;
    unsigned char buf[TH_MAX_MSG];
    uint64_t rng = rel.seed ^ d->producer;
    for (uint64_t seq = 0; seq < d->msgs; seq++) {
        size_t len = rel_msg_len(&rng, TH_MAX_MSG, 0);
        rel_msg_fill(buf, len, d->producer, seq);
        ipc_err err = ipc_send(d->from, buf, len, 0, REL_CHILD_MS);
        if (err != IPC_OK) {
            snprintf(d->error, sizeof d->error, "send %u/%llu: %s (%s)",
                     d->producer, (unsigned long long)seq, ipc_errname(err),
                     ipc_last_detail());
            return NULL;
        }
    }
    return NULL;
}

static char th_recv_error[2][256];

static void *th_recv(void *arg)
{
    struct th_dir *d = arg;
    unsigned char buf[TH_MAX_MSG];
    char *error = th_recv_error[d->producer];
    for (uint64_t next = 0; next < d->msgs; next++) {
        size_t len;
        uint32_t producer;
        uint64_t seq;
        ipc_err err =
            ipc_recv(d->to, buf, sizeof buf, &len, NULL, REL_CHILD_MS);
        if (err != IPC_OK) {
            snprintf(error, 256, "receive %u/%llu: %s (%s)", d->producer,
                     (unsigned long long)next, ipc_errname(err),
                     ipc_last_detail());
            return NULL;
        }
        const char *bad = rel_msg_check(buf, len, 2, &producer, &seq);
        if (bad || producer != d->producer || seq != next) {
            snprintf(error, 256, "receive %u/%llu: %s (producer %u seq %llu)",
                     d->producer, (unsigned long long)next,
                     bad ? bad : "wrong stream", producer,
                     (unsigned long long)seq);
            return NULL;
        }
    }
    return NULL;
}

static uint64_t th_msgs(void)
{
    return (uint64_t)rel_env("IPC_REL_THREAD_MSGS", 20000, 1000000);
}

/* Both directions at once: on a duplex channel each end has a sending
 * and a receiving thread (the documented limit); on a one-way channel one
 * thread sends on tx while another receives on rx. */
static void test_send_recv_threads(void **state)
{
    (void)state;
    struct rel_link l;
    ipc_info info;
    char opts[32];
    snprintf(opts, sizeof opts, "max_msg=%d", TH_MAX_MSG);
    assert_ipc_err(rel_link_open(&l, opts), IPC_OK);
    assert_ipc_err(ipc_query(l.tx, &info), IPC_OK);
    bool duplex = (info.direction & IPC_F_DUPLEX) == IPC_F_DUPLEX;
    uint64_t msgs = th_msgs();
    struct th_dir dir[2] = {
        {.from = l.tx, .to = l.rx, .producer = 0, .msgs = msgs},
        {.from = l.rx, .to = l.tx, .producer = 1, .msgs = msgs},
    };
    int n = duplex ? 2 : 1;
    pthread_t s[2], r[2];
    th_recv_error[0][0] = th_recv_error[1][0] = '\0';
    for (int i = 0; i < n; i++) {
        assert_int_equal(pthread_create(&s[i], NULL, th_send, &dir[i]), 0);
        assert_int_equal(pthread_create(&r[i], NULL, th_recv, &dir[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(s[i], NULL);
        pthread_join(r[i], NULL);
    }
    rel_link_close(&l);
    for (int i = 0; i < n; i++) {
        if (dir[i].error[0])
            fail_msg("%s", dir[i].error);
        if (th_recv_error[i][0])
            fail_msg("%s", th_recv_error[i]);
    }
    rel_figure("%s: %d thread pair(s) on %s, %llu messages each way, in "
               "order, none corrupt",
               duplex ? "duplex ends" : "one-way channel", n,
               duplex ? "each end" : "tx and rx", (unsigned long long)msgs);
}

/* ------------------------------------------------------ many channels */

struct th_chan {
    char addr[REL_ADDR_MAX]; /* made by the main thread (the maker is not
                                thread-safe); "" for pairs */
    int index;
    uint64_t msgs;
    char error[256];
};

static void th_chan_fail(struct th_chan *c, const char *what, ipc_err err)
{
    if (!c->error[0])
        snprintf(c->error, sizeof c->error, "channel %d: %s: %s (%s)", c->index,
                 what, ipc_errname(err), ipc_last_detail());
}

static void *th_chan_main(void *arg)
{
    struct th_chan *c = arg;
    unsigned char buf[TH_MAX_MSG];
    for (int round = 0; round < 4 && !c->error[0]; round++) {
        ipc_channel *ends[2] = {NULL, NULL};
        ipc_err err;
        if (rel.named) {
            err = ipc_open(c->addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV,
                           5000, &ends[1]);
            if (err == IPC_OK)
                err = ipc_open(c->addr, IPC_F_SEND, 5000, &ends[0]);
        } else {
            err = ipc_pair(c->addr, 0, ends);
        }
        if (err != IPC_OK) {
            th_chan_fail(c, "open", err);
            ipc_close(ends[0]);
            ipc_close(ends[1]);
            break;
        }
        /* This thread's detail is its own, whatever the others do. */
        char want[64];
        size_t too_big = TH_MAX_MSG + 1 + (size_t)c->index;
        snprintf(want, sizeof want, "message of %zu bytes", too_big);
        err = ipc_send(ends[0], buf, too_big, 0, 0);
        if (err != IPC_EMSGSIZE || !strstr(ipc_last_detail(), want))
            th_chan_fail(c, "oversized send's detail", err);
        for (uint64_t seq = 0; seq < c->msgs / 4 && !c->error[0]; seq++) {
            size_t len = REL_MSG_HDR + (size_t)(seq % 200), got;
            uint32_t producer;
            uint64_t rseq;
            rel_msg_fill(buf, len, (uint32_t)c->index, seq);
            if ((err = ipc_send(ends[0], buf, len, 0, 5000)) != IPC_OK) {
                th_chan_fail(c, "send", err);
                break;
            }
            err = ipc_recv(ends[1], buf, sizeof buf, &got, NULL, 5000);
            if (err != IPC_OK) {
                th_chan_fail(c, "receive", err);
                break;
            }
            if (rel_msg_check(buf, got, TH_CHANNELS, &producer, &rseq) ||
                producer != (uint32_t)c->index || rseq != seq)
                th_chan_fail(c, "a message from another channel", IPC_OK);
        }
        ipc_close(ends[0]);
        ipc_close(ends[1]);
    }
    return NULL;
}

/* Distinct channels from distinct threads: opened, used, failed on
 * purpose and closed, all at the same time. */
static void test_many_channels(void **state)
{
    (void)state;
    static struct th_chan chans[TH_CHANNELS];
    pthread_t t[TH_CHANNELS];
    char opts[32];
    snprintf(opts, sizeof opts, "max_msg=%d", TH_MAX_MSG);
    for (int i = 0; i < TH_CHANNELS; i++) {
        memset(&chans[i], 0, sizeof chans[i]);
        chans[i].index = i;
        chans[i].msgs = th_msgs() / 4;
        rel_addr(chans[i].addr, sizeof chans[i].addr, opts);
    }
    for (int i = 0; i < TH_CHANNELS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, th_chan_main, &chans[i]),
                         0);
    for (int i = 0; i < TH_CHANNELS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < TH_CHANNELS; i++)
        if (chans[i].error[0])
            fail_msg("%s", chans[i].error);
    rel_figure("%d threads on %d channels at once: opened, used, failed and "
               "closed 4 times each, details kept per thread",
               TH_CHANNELS, TH_CHANNELS);
}

static const struct rel_test th_tests[] = {
    {"send_recv_threads", test_send_recv_threads, REL_ANY},
    {"many_channels", test_many_channels, REL_ANY},
    {NULL, NULL, REL_ANY},
};

int main(int argc, char **argv)
{
    return rel_main(argc, argv, "threads", th_tests);
}
