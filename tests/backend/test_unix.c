/* SPDX-License-Identifier: MIT */
/* unix: backend tests beyond the contract: a named receiver's switch between
 * one sender (plain poll) and several (epoll), its poll descriptor, and
 * rendezvous (capacity=0) with takers killed mid-handoff. */
#include "testutil.h"

#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends.h"
#include "check.h"

#include "ipc/ipc.h"

#include "backend/unix/hooks.h"

#define RECV_NEW (IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV)
/* A wait may end late on a loaded machine, never early. */
#define LATE_MS 3000
/* Messages src/backend/unix/ takes from one sender in a row. */
#define BURST 32
/* What a sender queues without waiting: well inside the default socket
 * buffer (about 160 small records). */
#define QUEUED 100

struct fx {
    char path[256];
    char addr[512];
    ipc_channel *rx;
    ipc_channel *tx[4];
    pid_t kid;
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    tu_row_addr(tu_row_find("unix-path"), tu_tmpdir(), "ipcu", fx->addr,
                sizeof fx->addr, NULL);
    assert_true(tu_row_fs(tu_row_find("unix-path"), fx->addr, fx->path,
                          sizeof fx->path));
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
    for (size_t i = 0; i < sizeof fx->tx / sizeof fx->tx[0]; i++)
        ipc_close(fx->tx[i]);
    ipc_close(fx->rx);
    if (tu_path_exists(fx->path)) {
        print_error("left behind: %s\n", fx->path);
        unlink(fx->path);
        rc = -1;
    }
    free(fx);
    return rc;
}

/* A message says who sent it and its number in that sender's sequence. */
struct msg {
    uint32_t sender;
    uint32_t seq;
    uint32_t check; /* ~(sender ^ seq): a mangled message shows */
};

static void open_rx(struct fx *fx)
{
    assert_ipc_err(ipc_open(fx->addr, RECV_NEW, 2000, &fx->rx), IPC_OK);
}

static void open_tx(struct fx *fx, int k)
{
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 2000, &fx->tx[k]), IPC_OK);
}

/* Queue n messages from sender k without waiting: they must all fit. */
static void send_n(struct fx *fx, int k, uint32_t *seq, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++, (*seq)++) {
        struct msg m = {(uint32_t)k, *seq, ~((uint32_t)k ^ *seq)};
        assert_ipc_err(ipc_send(fx->tx[k], &m, sizeof m, 0, 0), IPC_OK);
    }
}

/* Receive one message, check it is the next of its sender, return who. */
static uint32_t recv_one(struct fx *fx, uint32_t *next, int timeout_ms)
{
    struct msg m;
    size_t len = 0;
    assert_ipc_err(ipc_recv(fx->rx, &m, sizeof m, &len, NULL, timeout_ms),
                   IPC_OK);
    assert_int_equal(len, sizeof m);
    assert_true(m.sender < 4);
    assert_int_equal(m.check, ~(m.sender ^ m.seq));
    assert_int_equal(m.seq, next[m.sender]);
    next[m.sender]++;
    return m.sender;
}

static void expect_empty(struct fx *fx)
{
    struct msg m;
    size_t len;
    assert_ipc_err(ipc_recv(fx->rx, &m, sizeof m, &len, NULL, 0), IPC_EAGAIN);
}

/* A second sender connects while the first one's messages are queued and
 * being taken (the receiver waits with plain poll() until then): nothing is
 * lost or reordered, the newcomer is served within a few bursts, and from
 * then on the two take turns, never more than BURST in a row each while
 * both have messages queued. */
static void test_second_sender(void **state)
{
    struct fx *fx = *state;
    uint32_t seq[2] = {0}, next[2] = {0};
    open_rx(fx);
    open_tx(fx, 0);
    send_n(fx, 0, &seq[0], QUEUED);
    for (int i = 0; i < 10; i++)
        assert_int_equal(recv_one(fx, next, 0), 0);
    open_tx(fx, 1);
    send_n(fx, 1, &seq[1], QUEUED);

    uint32_t first_b = 0, run = 0, longest = 0, prev = 0;
    for (uint32_t n = 0; n < 2 * QUEUED - 10; n++) {
        uint32_t who = recv_one(fx, next, 0);
        if (who == 1 && first_b == 0)
            first_b = n + 1;
        run = who == prev ? run + 1 : 1;
        prev = who;
        /* Turns are judged while both still have messages queued. */
        if (first_b && next[0] < QUEUED && next[1] < QUEUED && run > longest)
            longest = run;
    }
    expect_empty(fx);
    assert_int_equal(next[0], QUEUED);
    assert_int_equal(next[1], QUEUED);
    /* The rest of A's burst, one more burst while B is accepted. */
    if (first_b == 0 || first_b > 2 * BURST)
        fail_msg("the second sender waited %u messages", first_b);
    if (longest > BURST)
        fail_msg("one sender got %u messages in a row", longest);
}

/* Several senders queued at once, the receiver already in epoll mode: each
 * gets its turn (round robin), none waits for another to run dry. */
static void test_turns(void **state)
{
    struct fx *fx = *state;
    uint32_t seq[3] = {0}, next[3] = {0}, got[3] = {0};
    open_rx(fx);
    for (int k = 0; k < 3; k++)
        open_tx(fx, k);
    for (int k = 0; k < 3; k++)
        send_n(fx, k, &seq[k], QUEUED);
    /* In three bursts' time, every sender has been heard. */
    for (int n = 0; n < 3 * BURST; n++)
        got[recv_one(fx, next, 0)]++;
    for (int k = 0; k < 3; k++)
        if (got[k] == 0)
            fail_msg("sender %d not heard in %d messages (%u %u %u)", k,
                     3 * BURST, got[0], got[1], got[2]);
    for (int n = 3 * BURST; n < 3 * QUEUED; n++)
        recv_one(fx, next, 0);
    expect_empty(fx);
}

/* Back to one sender after the second leaves: the receiver goes on (plain
 * poll() again), a waiting receive still wakes on the lone sender, and a
 * third sender and a late ipc_pollfd() both work after that. */
static void test_lone_again(void **state)
{
    struct fx *fx = *state;
    uint32_t seq[3] = {0}, next[3] = {0};
    open_rx(fx);
    open_tx(fx, 0);
    send_n(fx, 0, &seq[0], 5);
    open_tx(fx, 1);
    send_n(fx, 1, &seq[1], 5);
    ipc_close(fx->tx[1]);
    fx->tx[1] = NULL;
    for (int n = 0; n < 10; n++)
        recv_one(fx, next, 2000);
    expect_empty(fx); /* sees the second sender's end */
    int64_t t0 = tu_now_ns();
    struct msg m;
    size_t len;
    assert_ipc_err(ipc_recv(fx->rx, &m, sizeof m, &len, NULL, 100),
                   IPC_ETIMEDOUT);
    assert_true(tu_elapsed_ms(t0) >= 100.0);
    send_n(fx, 0, &seq[0], 3);
    for (int n = 0; n < 3; n++)
        assert_int_equal(recv_one(fx, next, 2000), 0);

    open_tx(fx, 2);
    send_n(fx, 2, &seq[2], 3);
    send_n(fx, 0, &seq[0], 3);
    for (int n = 0; n < 6; n++)
        recv_one(fx, next, 2000);
    expect_empty(fx);
    int fd;
    short events;
    assert_ipc_err(ipc_pollfd(fx->rx, &fd, &events), IPC_OK);
    send_n(fx, 0, &seq[0], 1);
    struct pollfd pfd = {.fd = fd, .events = events};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    assert_int_equal(recv_one(fx, next, 0), 0);
    assert_int_equal(next[0], 12);
    assert_int_equal(next[2], 3);
}

/* The first ipc_pollfd() of a receiver that holds one accepted sender with
 * messages queued: the descriptor is readable at once, and stays usable
 * after that sender leaves and another comes. */
static void test_late_pollfd(void **state)
{
    struct fx *fx = *state;
    uint32_t seq[2] = {0}, next[2] = {0};
    open_rx(fx);
    open_tx(fx, 0);
    send_n(fx, 0, &seq[0], 1);
    recv_one(fx, next, 2000); /* accepted: the lone, unregistered sender */
    send_n(fx, 0, &seq[0], 2);
    int fd;
    short events;
    assert_ipc_err(ipc_pollfd(fx->rx, &fd, &events), IPC_OK);
    assert_int_equal(events, POLLIN);
    struct pollfd pfd = {.fd = fd, .events = events};
    assert_int_equal(poll(&pfd, 1, 0), 1);
    recv_one(fx, next, 0);
    recv_one(fx, next, 0);
    expect_empty(fx);
    pfd.revents = 0;
    assert_int_equal(poll(&pfd, 1, 0), 0);

    ipc_close(fx->tx[0]);
    fx->tx[0] = NULL;
    expect_empty(fx); /* takes the end of sender 0 */
    open_tx(fx, 1);
    send_n(fx, 1, &seq[1], 1);
    assert_int_equal(poll(&pfd, 1, 2000), 1); /* the new sender knocks */
    recv_one(fx, next, 2000);
    int fd2;
    assert_ipc_err(ipc_pollfd(fx->rx, &fd2, &events), IPC_OK);
    assert_int_equal(fd2, fd);
}

struct poller {
    struct fx *fx;
    int fd;
    ipc_err err;
};

static void *poller_main(void *arg)
{
    struct poller *p = arg;
    short events;
    tu_sleep_ms(50); /* let the main thread sleep in ipc_recv */
    p->err = ipc_pollfd(p->fx->rx, &p->fd, &events);
    uint32_t seq = 0;
    struct msg m = {0, seq, ~0u};
    if (p->err == IPC_OK)
        p->err = ipc_send(p->fx->tx[0], &m, sizeof m, 0, 2000);
    return NULL;
}

/* ipc_pollfd() from another thread while the receiver sleeps waiting for
 * its lone sender (ipc.h: one receiving thread, and the descriptor may be
 * asked for by another): the receive still wakes, and the descriptor then
 * reports what is queued. */
static void test_pollfd_from_thread(void **state)
{
    struct fx *fx = *state;
    uint32_t seq[1] = {1}, next[1] = {0};
    open_rx(fx);
    open_tx(fx, 0);
    expect_empty(fx); /* accepts the sender */
    struct poller p = {.fx = fx, .fd = -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poller_main, &p), 0);
    recv_one(fx, next, 10000);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_ipc_err(p.err, IPC_OK);
    send_n(fx, 0, &seq[0], 1);
    struct pollfd pfd = {.fd = p.fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    recv_one(fx, next, 0);
    expect_empty(fx);
}

/* A sender that connects and sends nothing: a receive with timeout 0
 * accepts it and answers IPC_EAGAIN at once; a bounded one waits it out. */
static void test_silent_sender(void **state)
{
    struct fx *fx = *state;
    struct msg m;
    size_t len;
    open_rx(fx);
    assert_ipc_err(ipc_recv(fx->rx, &m, sizeof m, &len, NULL, 0), IPC_EAGAIN);
    open_tx(fx, 0);
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_recv(fx->rx, &m, sizeof m, &len, NULL, 0), IPC_EAGAIN);
    assert_ipc_err(ipc_recv(fx->rx, &m, sizeof m, &len, NULL, 0), IPC_EAGAIN);
    assert_true(tu_elapsed_ms(t0) < LATE_MS);
    t0 = tu_now_ns();
    assert_ipc_err(ipc_recv(fx->rx, &m, sizeof m, &len, NULL, 150),
                   IPC_ETIMEDOUT);
    double took = tu_elapsed_ms(t0);
    assert_true(took >= 150.0);
    assert_true(took < 150.0 + LATE_MS);
}

/* A forked child holds copies of the receiver's descriptors (fork without
 * exec). A sender leaving must not leave its connection in the shared
 * epoll set: close() alone does not remove a socket another process still
 * holds, and the set would report it, at its end of file, with freed
 * memory as its data (ASan and valgrind see it; otherwise a receive that
 * never ends its IPC_EAGAIN or reads a reused descriptor). */
static void test_forked_holder(void **state)
{
    struct fx *fx = *state;
    uint32_t seq[2] = {0}, next[2] = {0};
    open_rx(fx);
    open_tx(fx, 0);
    open_tx(fx, 1);
    send_n(fx, 0, &seq[0], 1);
    send_n(fx, 1, &seq[1], 1);
    recv_one(fx, next, 2000);
    recv_one(fx, next, 2000); /* both accepted: epoll mode */
    int ready[2], hold[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(hold), 0);
    fx->kid = tu_fork();
    assert_true(fx->kid >= 0);
    char byte;
    if (fx->kid == 0) {
        /* Keep the receiver's descriptors only: the senders' sockets must
         * close for real when the parent closes them. */
        ipc_close(fx->tx[0]);
        ipc_close(fx->tx[1]);
        close(hold[1]);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        /* Hold the descriptors until the parent is done or gone (end of
         * file), so that a crashed parent leaves no child behind. */
        while (read(hold[0], &byte, 1) > 0)
            ;
        _exit(0);
    }
    close(hold[0]);
    assert_int_equal(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    close(ready[1]);
    ipc_close(fx->tx[1]);
    fx->tx[1] = NULL;
    expect_empty(fx); /* drops sender 1 */
    for (int i = 0; i < 5; i++) {
        send_n(fx, 0, &seq[0], 1);
        assert_int_equal(recv_one(fx, next, 2000), 0);
        expect_empty(fx);
    }
    int fd;
    short events;
    assert_ipc_err(ipc_pollfd(fx->rx, &fd, &events), IPC_OK);
    struct pollfd pfd = {.fd = fd, .events = events};
    assert_int_equal(poll(&pfd, 1, 0), 0);
    close(hold[1]);
    int status;
    assert_true(tu_wait(fx->kid, 10000, &status));
    fx->kid = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Issue 12, defect 2: a receiver out of descriptors (accept4: EMFILE) with
 * no connection open used to stop accepting for good: only a closing
 * connection resumed the listener, so every later sender's messages were
 * lost. Now each receive retries, and a wait retries after a back-off. */
struct emfile_raise {
    rlim_t to;
    int after_ms;
};

static void *emfile_raiser(void *arg)
{
    const struct emfile_raise *r = arg;
    struct timespec nap = {r->after_ms / 1000, (r->after_ms % 1000) * 1000000L};
    nanosleep(&nap, NULL);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = r->to;
    setrlimit(RLIMIT_NOFILE, &rl);
    return NULL;
}

/* A child (with descriptors to spare: rl) connects, sends one message of
 * tag and closes, while the parent holds no descriptor free. */
static void emfile_child_send(const char *addr, uint32_t tag,
                              const struct rlimit *rl)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ipc_channel *tx = NULL;
        if (setrlimit(RLIMIT_NOFILE, rl) < 0)
            _exit(2);
        int ok = ipc_open(addr, IPC_F_SEND, 2000, &tx) == IPC_OK &&
                 ipc_send(tx, &tag, sizeof tag, 0, 2000) == IPC_OK;
        ipc_close(tx);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void emfile_expect(ipc_channel *rx, uint32_t tag, int timeout_ms)
{
    uint32_t got = 0;
    size_t len = 0;
    assert_ipc_err(ipc_recv(rx, &got, sizeof got, &len, NULL, timeout_ms),
                   IPC_OK);
    assert_int_equal(len, sizeof got);
    assert_int_equal(got, tag);
}

/* Lowest free descriptor number: a limit of it leaves none free. */
static rlim_t emfile_next_fd(void)
{
    int fd = dup(0);
    assert_true(fd >= 0);
    close(fd);
    return (rlim_t)fd;
}

static void test_emfile_resume(void **state)
{
    struct fx *fx = *state;
    open_rx(fx);
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    struct rlimit low = saved;
    /* 1: no descriptor free when the first sender arrives; raised later,
     * between receives. */
    low.rlim_cur = emfile_next_fd();
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    emfile_child_send(fx->addr, 1, &saved); /* fork needs no descriptor */
    uint32_t got;
    size_t len;
    ipc_err err = ipc_recv(fx->rx, &got, sizeof got, &len, NULL, 100);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_ipc_err(err, IPC_ETIMEDOUT);
    emfile_expect(fx->rx, 1, 2000);
    expect_empty(fx); /* the lone sender left: its connection is dropped */
    /* 2: out again, and the limit raised by another thread while this one
     * waits: the bounded back-off finds the listener again. */
    low.rlim_cur = emfile_next_fd();
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    emfile_child_send(fx->addr, 2, &saved);
    assert_ipc_err(ipc_recv(fx->rx, &got, sizeof got, &len, NULL, 0),
                   IPC_EAGAIN);
    struct emfile_raise raise = {saved.rlim_cur, 200};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, emfile_raiser, &raise), 0);
    err = ipc_recv(fx->rx, &got, sizeof got, &len, NULL, 5000);
    pthread_join(th, NULL);
    setrlimit(RLIMIT_NOFILE, &saved);
    assert_ipc_err(err, IPC_OK);
    assert_int_equal(got, 2);
    /* 3: and later senders still get through. */
    emfile_child_send(fx->addr, 3, &saved);
    emfile_expect(fx->rx, 3, 2000);
}

/* Issue 12, defect 5: a sender opened with a larger max_msg than its
 * receiver's used to get IPC_OK for a message the receiver then dropped.
 * The receiver now tells each sender its max_msg when it accepts it: a
 * longer send fails at the sender with IPC_EMSGSIZE naming that limit.
 * Before the receiver has accepted, nobody can know: the receiver drops
 * the one long message, reports it once, and the next one arrives. */
static void agree_recv(ipc_channel *rx, const char *want, ipc_err err)
{
    char buf[2048];
    size_t len = 0;
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 2000), err);
    if (err != IPC_OK)
        return;
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
}

static void test_max_msg_agree(void **state)
{
    struct fx *fx = *state;
    char addr[600];
    char big[100];
    memset(big, 'B', sizeof big);
    snprintf(addr, sizeof addr, "%s?max_msg=64", fx->addr);
    assert_ipc_err(ipc_open(addr, RECV_NEW, 2000, &fx->rx), IPC_OK);
    snprintf(addr, sizeof addr, "%s?max_msg=1024", fx->addr);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 2000, &fx->tx[0]), IPC_OK);
    /* Not accepted yet: the sender cannot know. */
    assert_ipc_err(ipc_send(fx->tx[0], big, sizeof big, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(fx->tx[0], "a", 1, 0, 1000), IPC_OK);
    agree_recv(fx->rx, NULL, IPC_EPROTO); /* dropped, reported once */
    agree_recv(fx->rx, "a", IPC_OK);
    /* Accepted: the sender knows the receiver's limit. */
    assert_ipc_err(ipc_send(fx->tx[0], big, sizeof big, 0, 1000), IPC_EMSGSIZE);
    assert_non_null(strstr(ipc_last_detail(), "64"));
    ipc_info info;
    assert_ipc_err(ipc_query(fx->tx[0], &info), IPC_OK);
    assert_int_equal(info.max_msg, 64);
    assert_ipc_err(ipc_send(fx->tx[0], big, 64, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(fx->tx[0], "b", 1, 0, 1000), IPC_OK);
    agree_recv(
        fx->rx,
        "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        IPC_OK);
    agree_recv(fx->rx, "b", IPC_OK);
    /* A sender killed before it read the hello leaves it unread: Linux
     * then reports ECONNRESET once, and its messages must still arrive. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ipc_channel *tx = NULL;
        if (ipc_open(fx->addr, IPC_F_SEND, 2000, &tx) != IPC_OK ||
            ipc_send(tx, "c", 1, 0, 1000) != IPC_OK)
            _exit(1);
        raise(SIGKILL);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    agree_recv(fx->rx, "c", IPC_OK);
}

/* ---------------------------------------------------------------- rendezvous
 * (capacity=0, src/backend/unix/rendezvous.c) */

#define RV_OPTS "capacity=0&max_msg=64"

static int rv_gate = -1;  /* children tell their progress here */
static int rv_phase;      /* the take phase a taker child stops at */
static char rv_addr[600]; /* a named channel's address, for children */
static int rv_send_ms;    /* a sender child's timeout */

/* A child's ends of a pair: the one it uses, and the one it closes; both
 * NULL for a named channel (the child opens its own). */
struct rv_ends {
    ipc_channel *use, *drop;
};

static void rv_say(char c)
{
    ssize_t r = write(rv_gate, &c, 1);
    (void)r;
}

static void rv_take_hook(int phase)
{
    if (phase != rv_phase)
        return;
    rv_say('c'); /* holds the offer (0) or the message (1): kill me */
    for (;;)
        pause();
}

/* A taker: receives once, stopping for good at rv_phase. */
static int rv_taker(void *arg)
{
    const struct rv_ends *e = arg;
    ipc_channel *rx = e->use;
    char buf[64];
    size_t len;
    ipc_close(e->drop);
    if (!rx)
        assert_ipc_err(ipc_open(rv_addr, RECV_NEW, 2000, &rx), IPC_OK);
    ipc__unix_test_take_hook = rv_take_hook;
    rv_say('r');
    ipc_err err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 20000);
    return tu_child_fail(2, "the taker's receive returned: %s",
                         ipc_errname(err));
}

/* A sender: one rendezvous send; exits 0 for IPC_OK, else 10 + the code. */
static int rv_sender(void *arg)
{
    const struct rv_ends *e = arg;
    ipc_channel *tx = e->use;
    ipc_close(e->drop);
    if (!tx)
        assert_ipc_err(ipc_open(rv_addr, IPC_F_SEND, 2000, &tx), IPC_OK);
    ipc_err err = ipc_send(tx, "handoff", 7, 0, rv_send_ms);
    return err == IPC_OK ? 0 : 10 + (int)err;
}

/* The sender's verdict (IPC_OK, or the code it exited with). */
static ipc_err rv_verdict(pid_t sender, int within_ms)
{
    int status = 0;
    assert_true(tu_wait(sender, within_ms, &status));
    assert_true(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    assert_true(code == 0 || code > 10);
    return code == 0 ? IPC_OK : (ipc_err)(code - 10);
}

/* The taker is stopped at phase and killed (-9), the sender waiting:
 * phase 0, holding the offer before the take: the message was not taken;
 * phase 1, just after the take, before it told the sender: it was, and
 * the send returns IPC_OK.
 * Returns the sender's verdict; *since_kill_ms, how long after the kill. */
static ipc_err rv_kill_taker(struct rv_ends *taker_ends,
                             struct rv_ends *sender_ends, int phase,
                             ipc_channel *close_after[2], double *since_kill_ms)
{
    int gate[2];
    assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
    rv_gate = gate[1];
    rv_phase = phase;
    pid_t taker = tu_spawn(rv_taker, taker_ends);
    assert_int_equal(tu_read_byte(gate[0], 10000), 'r');
    pid_t sender = tu_spawn(rv_sender, sender_ends);
    for (int i = 0; i < 2; i++)
        ipc_close(close_after[i]);
    assert_int_equal(tu_read_byte(gate[0], 10000), 'c');
    /* Held by the taker, not taken: the send waits. (Taken, phase 1: the
     * send may return before the kill, from its look at the token.) */
    tu_sleep_ms(100);
    if (phase == 0)
        assert_int_equal(waitpid(sender, NULL, WNOHANG), 0);
    int64_t t0 = tu_now_ns();
    tu_kill(taker);
    ipc_err verdict = rv_verdict(sender, 10000);
    *since_kill_ms = tu_elapsed_ms(t0);
    close(gate[0]);
    close(gate[1]);
    return verdict;
}

/* Named: the taker is the receiver (it made the channel); killed before
 * the take, its sender hears IPC_ECLOSED (the message is with nobody: a
 * new receiver at the name gets nothing); killed after it, the send
 * returns IPC_OK, and nothing more arrives anywhere. */
static void test_rendezvous_taker_killed(void **state)
{
    struct fx *fx = *state;
    snprintf(rv_addr, sizeof rv_addr, "%s?" RV_OPTS, fx->addr);
    rv_send_ms = 20000;
    for (int phase = 0; phase < 2; phase++) {
        struct rv_ends none = {NULL, NULL};
        ipc_channel *nothing[2] = {NULL, NULL};
        double ms;
        ipc_err want = phase == 0 ? IPC_ECLOSED : IPC_OK;
        assert_ipc_err(rv_kill_taker(&none, &none, phase, nothing, &ms), want);
        assert_true(ms < LATE_MS);
        /* The killed receiver left its socket file: a stale name. */
        assert_ipc_err(ipc_unlink(fx->addr), IPC_OK);
        assert_ipc_err(ipc_open(rv_addr, RECV_NEW, 2000, &fx->rx), IPC_OK);
        char buf[64];
        size_t len;
        assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 300),
                       IPC_ETIMEDOUT);
        ipc_close(fx->rx);
        fx->rx = NULL;
    }
}

/* A pair, the taker its only receiving process: as above (the sender
 * hears the hang-up). The receiving end shared with a process that lives
 * on (this one): the connection stays up, so killed before the take the
 * send waits out its timeout and delivered nothing (the survivor gets
 * nothing); killed after it, the send sees the token gone within a slice
 * (64 ms at most) and returns IPC_OK well before its timeout. */
static void test_rendezvous_pair_taker_killed(void **state)
{
    (void)state;
    for (int shared = 0; shared < 2; shared++) {
        for (int phase = 0; phase < 2; phase++) {
            ipc_channel *ends[2] = {NULL, NULL};
            assert_ipc_err(ipc_pair("unix:?" RV_OPTS, 0, ends), IPC_OK);
            struct rv_ends taker = {ends[1], ends[0]};
            struct rv_ends sender = {ends[0], ends[1]};
            ipc_channel *ours[2] = {ends[0], shared ? NULL : ends[1]};
            rv_send_ms = shared && phase == 0 ? 1500 : 20000;
            double ms;
            ipc_err got = rv_kill_taker(&taker, &sender, phase, ours, &ms);
            ipc_err want = phase == 1 ? IPC_OK
                           : shared   ? IPC_ETIMEDOUT
                                      : IPC_ECLOSED;
            if (got != want)
                fail_msg("shared %d, phase %d: the send said %s", shared, phase,
                         ipc_errname(got));
            assert_true(ms < LATE_MS);
            if (!shared)
                continue;
            char buf[64];
            size_t len;
            /* Nothing for the survivor: the queue is empty, the sender
             * gone. */
            assert_ipc_err(ipc_recv(ends[1], buf, sizeof buf, &len, NULL, 0),
                           IPC_ECLOSED);
            ipc_close(ends[1]);
        }
    }
}

struct rv_send {
    ipc_channel *tx;
    int timeout_ms;
    ipc_err err;
    double took_ms;
};

static void *rv_send_thread(void *arg)
{
    struct rv_send *s = arg;
    int64_t t0 = tu_now_ns();
    s->err = ipc_send(s->tx, "gone", 4, 0, s->timeout_ms);
    s->took_ms = tu_elapsed_ms(t0);
    return NULL;
}

static int rv_idle(void *arg)
{
    const struct rv_ends *e = arg;
    ipc_close(e->drop);
    rv_say('r');
    while (pause() < 0) /* until killed */
        ;
    return 0;
}

/* A send waiting for a taker while its receiver goes: closed by
 * ipc_close(), or killed (-9) while it was not receiving. IPC_ECLOSED at
 * once, not at the timeout. Named and pair. */
static void test_rendezvous_receiver_gone(void **state)
{
    struct fx *fx = *state;
    snprintf(rv_addr, sizeof rv_addr, "%s?" RV_OPTS, fx->addr);
    /* Named, closed: the sender knows its receiver (hello) first. */
    assert_ipc_err(ipc_open(rv_addr, RECV_NEW, 2000, &fx->rx), IPC_OK);
    assert_ipc_err(ipc_open(rv_addr, IPC_F_SEND, 2000, &fx->tx[0]), IPC_OK);
    assert_ipc_err(ipc_send(fx->tx[0], "x", 1, 0, 0), IPC_EAGAIN);
    char buf[64];
    size_t len;
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN); /* accepted: the hello is out */
    struct rv_send s = {.tx = fx->tx[0], .timeout_ms = 20000};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, rv_send_thread, &s), 0);
    tu_sleep_ms(150);
    ipc_close(fx->rx);
    fx->rx = NULL;
    pthread_join(th, NULL);
    assert_ipc_err(s.err, IPC_ECLOSED);
    assert_true(s.took_ms < LATE_MS);
    /* A pair, the receiving process killed while not receiving. */
    int gate[2];
    assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
    rv_gate = gate[1];
    ipc_channel *ends[2] = {NULL, NULL};
    assert_ipc_err(ipc_pair("unix:?" RV_OPTS, 0, ends), IPC_OK);
    struct rv_ends idle = {ends[1], ends[0]};
    pid_t pid = tu_spawn(rv_idle, &idle);
    assert_int_equal(tu_read_byte(gate[0], 10000), 'r');
    ipc_close(ends[1]);
    s = (struct rv_send){.tx = ends[0], .timeout_ms = 20000};
    assert_int_equal(pthread_create(&th, NULL, rv_send_thread, &s), 0);
    tu_sleep_ms(150);
    tu_kill(pid);
    pthread_join(th, NULL);
    assert_ipc_err(s.err, IPC_ECLOSED);
    assert_true(s.took_ms < LATE_MS);
    ipc_close(ends[0]);
    close(gate[0]);
    close(gate[1]);
}

/* Both ends must say capacity=0, or neither. A plain sender's record to a
 * rendezvous receiver is dropped there (IPC_EPROTO, naming capacity=0);
 * once the hello has come, its sends answer IPC_EINVAL. A rendezvous
 * sender to a plain receiver: IPC_EINVAL once the hello has come, nothing
 * sent. Any capacity but 0 is refused; the timeout of a send nobody takes
 * is kept, late by no more than a loaded machine's scheduling. */
static void test_rendezvous_agree(void **state)
{
    struct fx *fx = *state;
    char addr[600], buf[64];
    size_t len;
    snprintf(addr, sizeof addr, "%s?capacity=4", fx->addr);
    assert_ipc_err(ipc_open(addr, RECV_NEW, 2000, &fx->rx), IPC_EINVAL);
    assert_non_null(strstr(ipc_last_detail(), "capacity"));
    snprintf(rv_addr, sizeof rv_addr, "%s?" RV_OPTS, fx->addr);
    assert_ipc_err(ipc_open(rv_addr, RECV_NEW, 2000, &fx->rx), IPC_OK);
    open_tx(fx, 0); /* plain */
    assert_ipc_err(ipc_send(fx->tx[0], "p", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 1000),
                   IPC_EPROTO);
    assert_non_null(strstr(ipc_last_detail(), "capacity=0"));
    assert_ipc_err(ipc_send(fx->tx[0], "p", 1, 0, 1000), IPC_EINVAL);
    assert_ipc_err(ipc_send(fx->tx[0], "p", 1, 0, 1000), IPC_EINVAL);
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN);
    /* The timeout kept, the hello known. */
    assert_ipc_err(ipc_open(rv_addr, IPC_F_SEND, 2000, &fx->tx[1]), IPC_OK);
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN);
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_send(fx->tx[1], "late", 4, 0, 200), IPC_ETIMEDOUT);
    double took = tu_elapsed_ms(t0);
    assert_true(took >= 200.0);
    assert_true(took < 200.0 + LATE_MS);
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN);
    for (int i = 0; i < 2; i++) {
        ipc_close(fx->tx[i]);
        fx->tx[i] = NULL;
    }
    ipc_close(fx->rx);
    fx->rx = NULL;
    /* A rendezvous sender, a plain receiver. */
    open_rx(fx);
    assert_ipc_err(ipc_open(rv_addr, IPC_F_SEND, 2000, &fx->tx[0]), IPC_OK);
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN);
    assert_ipc_err(ipc_send(fx->tx[0], "r", 1, 0, 1000), IPC_EINVAL);
    assert_non_null(strstr(ipc_last_detail(), "capacity"));
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                   IPC_EAGAIN);
}

/* A pair's receiver with no descriptor free cannot take an offer: the
 * token does not arrive (MSG_CTRUNC). Its receive answers IPC_ELIMIT,
 * naming descriptors, and delivers nothing; the sender takes the message
 * back at its deadline (IPC_ETIMEDOUT). */
static void test_rendezvous_out_of_fds(void **state)
{
    (void)state;
    ipc_channel *ends[2] = {NULL, NULL};
    assert_ipc_err(ipc_pair("unix:?" RV_OPTS, 0, ends), IPC_OK);
    struct rv_ends sender = {ends[0], ends[1]};
    rv_send_ms = 1500;
    pid_t pid = tu_spawn(rv_sender, &sender);
    ipc_close(ends[0]);
    struct rlimit saved, none;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    none = saved;
    none.rlim_cur = emfile_next_fd();
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
    char buf[64];
    size_t len;
    ipc_err err = ipc_recv(ends[1], buf, sizeof buf, &len, NULL, 5000);
    char detail[256];
    snprintf(detail, sizeof detail, "%s", ipc_last_detail());
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_ipc_err(err, IPC_ELIMIT);
    assert_non_null(strstr(detail, "descriptors"));
    assert_ipc_err(rv_verdict(pid, 10000), IPC_ETIMEDOUT);
    assert_ipc_err(ipc_recv(ends[1], buf, sizeof buf, &len, NULL, 0),
                   IPC_ECLOSED);
    ipc_close(ends[1]);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_sender, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_turns, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lone_again, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_late_pollfd, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_pollfd_from_thread, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_silent_sender, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_forked_holder, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_emfile_resume, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_max_msg_agree, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rendezvous_taker_killed, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rendezvous_pair_taker_killed,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rendezvous_receiver_gone, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rendezvous_agree, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rendezvous_out_of_fds, fx_setup,
                                        fx_teardown),
    };
    return tu_run_tests("unix", tests, argc, argv);
}
