/* SPDX-License-Identifier: MIT */
/* shm: readiness and peer exit on named rings (issue 16): the poll
 * descriptors of named ends are level-triggered with poll() and epoll,
 * across fork, and leave nothing behind a kill -9; a named receiver hears
 * IPC_ECLOSED once its last sender is killed (blocking, or woken by its
 * poll descriptor), and the time that takes is measured. */
#include "shm_test.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>

#define RD_ROUNDS 24 /* detection rounds per way of waiting (>= 20) */
/* Detection bound: a blocking receiver judges its senders after each slice
 * of its sleep (64 ms at most), a polled one is woken by the pidfd it
 * watches. Generous: the machine is shared and loaded. */
#define RD_BOUND_MS 1000.0
#define RD_MSGS     3

/* Shared with the children (anonymous shared mapping). */
struct rd_board {
    _Atomic int64_t killed_ns; /* when the sender killed itself */
};

static struct rd_board *rd_board_new(void)
{
    void *p = mmap(NULL, sizeof(struct rd_board), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    return p;
}

/* Ready now, within 0 ms: poll() and a level-triggered epoll set agree,
 * and ask twice (level-triggered: nothing consumes readiness but a call). */
static int rd_ready(int fd, short events, int epfd)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int by_poll = poll(&pfd, 1, 0);
    struct epoll_event ev;
    int by_epoll = epoll_wait(epfd, &ev, 1, 0);
    int again = epoll_wait(epfd, &ev, 1, 0);
    if (by_poll != by_epoll || by_epoll != again)
        fail_msg("poll says %d, epoll %d then %d", by_poll, by_epoll, again);
    return by_poll;
}

static int rd_epoll(int fd, short events)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    assert_true(epfd >= 0);
    struct epoll_event ev = {.events = (uint32_t)events};
    assert_int_equal(epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev), 0);
    return epfd;
}

static int rd_send_three(void *arg)
{
    ipc_channel *tx = arg;
    for (int i = 0; i < RD_MSGS; i++)
        assert_ipc_err(ipc_send(tx, "m", 1, 0, 2000), IPC_OK);
    return 0;
}

static int rd_take_one(void *arg)
{
    ipc_channel *rx = arg;
    char buf[8];
    size_t len;
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 2000), IPC_OK);
    return 0;
}

/* A receiving end: not ready on an empty ring; ready once a child sent,
 * and it stays ready (poll and epoll, asked again and again) while a
 * message is queued; not ready once a timeout-0 receive said IPC_EAGAIN. */
static void test_level_receiver(void **state)
{
    (void)state;
    char name[96], addr[160], buf[8];
    size_t len;
    ipc_channel *rx = NULL, *tx = NULL;
    int fd = -1;
    short events = 0;
    st_name(name, sizeof name, addr, sizeof addr, "capacity=8&max_msg=64");
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &rx),
        IPC_OK);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_pollfd(rx, &fd, &events), IPC_OK);
    assert_int_equal(events, POLLIN);
    int epfd = rd_epoll(fd, events);
    /* A new descriptor may be ready as a hint: one IPC_EAGAIN spends it. */
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    assert_int_equal(rd_ready(fd, events, epfd), 0);

    pid_t pid = tu_spawn(rd_send_three, tx);
    struct pollfd pfd = {.fd = fd, .events = events};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_null(tu_child_end(pid, 5000));
    for (int i = 0; i < RD_MSGS; i++) {
        assert_int_equal(rd_ready(fd, events, epfd), 1);
        assert_int_equal(rd_ready(fd, events, epfd), 1);
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_OK);
    }
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    assert_int_equal(rd_ready(fd, events, epfd), 0);
    /* A message sent while nobody asks: ready at once. */
    assert_ipc_err(ipc_send(tx, "n", 1, 0, 0), IPC_OK);
    assert_int_equal(rd_ready(fd, events, epfd), 1);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_OK);
    close(epfd);
    ipc_close(tx);
    ipc_close(rx);
    assert_false(st_exists(name));
}

/* A sending end: writable on an empty ring; not writable once a
 * timeout-0 send found it full; writable again once a child took one. */
static void test_level_sender(void **state)
{
    (void)state;
    char name[96], addr[160], buf[8];
    size_t len;
    ipc_channel *rx = NULL, *tx = NULL;
    int fd = -1;
    short events = 0;
    st_name(name, sizeof name, addr, sizeof addr, "capacity=4&max_msg=64");
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &rx),
        IPC_OK);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_pollfd(tx, &fd, &events), IPC_OK);
    assert_int_equal(events, POLLOUT);
    int epfd = rd_epoll(fd, events);
    assert_int_equal(rd_ready(fd, events, epfd), 1);
    int sent = 0;
    while (ipc_send(tx, "f", 1, 0, 0) == IPC_OK)
        sent++;
    assert_int_equal(sent, 4);
    assert_int_equal(rd_ready(fd, events, epfd), 0);
    assert_int_equal(rd_ready(fd, events, epfd), 0);

    pid_t pid = tu_spawn(rd_take_one, rx);
    struct pollfd pfd = {.fd = fd, .events = events};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_true(pfd.revents & POLLOUT);
    assert_null(tu_child_end(pid, 5000));
    assert_int_equal(rd_ready(fd, events, epfd), 1);
    assert_int_equal(rd_ready(fd, events, epfd), 1);
    assert_ipc_err(ipc_send(tx, "g", 1, 0, 0), IPC_OK);
    assert_ipc_err(ipc_send(tx, "h", 1, 0, 0), IPC_EAGAIN);
    assert_int_equal(rd_ready(fd, events, epfd), 0);
    /* Receiving here (not polled) frees a slot: writable again. */
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_OK);
    assert_int_equal(rd_ready(fd, events, epfd), 1);
    close(epfd);
    ipc_close(tx);
    ipc_close(rx);
    assert_false(st_exists(name));
}

struct rd_fork_poll {
    int fd;
    ipc_channel *rx;
};

static int rd_child_polls(void *arg)
{
    struct rd_fork_poll *fp = arg;
    char buf[8];
    size_t len;
    struct pollfd pfd = {.fd = fp->fd, .events = POLLIN};
    /* The parent's hint is spent: wait for the parent's message. */
    ipc_err err = ipc_recv(fp->rx, buf, sizeof buf, &len, NULL, 0);
    if (err != IPC_EAGAIN)
        return tu_child_fail(2, "first receive: %s", ipc_errname(err));
    if (poll(&pfd, 1, 5000) != 1)
        return tu_child_fail(3, "poll in the child: not woken");
    err = ipc_recv(fp->rx, buf, sizeof buf, &len, NULL, 0);
    if (err != IPC_OK || len != 1 || buf[0] != 'p')
        return tu_child_fail(4, "receive after poll: %s", ipc_errname(err));
    return 0;
}

/* Across fork: the descriptor a parent took is polled by its child, which
 * holds the receive end now, and the parent's send wakes it. */
static void test_fork_poll(void **state)
{
    (void)state;
    char name[96], addr[160];
    ipc_channel *rx = NULL, *tx = NULL;
    int fd = -1;
    short events = 0;
    st_name(name, sizeof name, addr, sizeof addr, "capacity=4&max_msg=64");
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &rx),
        IPC_OK);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_pollfd(rx, &fd, &events), IPC_OK);
    static struct rd_fork_poll fp;
    fp = (struct rd_fork_poll){fd, rx};
    pid_t pid = tu_spawn(rd_child_polls, &fp);
    tu_sleep_ms(100); /* the child is asleep in poll() by now, most likely */
    assert_ipc_err(ipc_send(tx, "p", 1, 0, 1000), IPC_OK);
    const char *end = tu_child_end(pid, 10000);
    if (end)
        fail_msg("child: %s", end);
    ipc_close(tx);
    ipc_close(rx);
    assert_false(st_exists(name));
}

struct rd_sender {
    const char *addr;
    struct rd_board *board;
    int delay_ms;
};

/* Send RD_MSGS messages, wait, note the time and kill ourselves (-9). */
static int rd_sender_dies(void *arg)
{
    const struct rd_sender *s = arg;
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(s->addr, IPC_F_SEND, 2000, &tx), IPC_OK);
    for (int i = 0; i < RD_MSGS; i++)
        assert_ipc_err(ipc_send(tx, "k", 1, 0, 2000), IPC_OK);
    tu_sleep_ms(s->delay_ms);
    atomic_store(&s->board->killed_ns, tu_now_ns());
    kill(getpid(), SIGKILL);
    return 1;
}

static int rd_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One round: a sender that kills itself (its only sender), the receiver
 * drains what was sent, then waits (blocking, or polled) for
 * IPC_ECLOSED. Returns the detection time in ms after the kill. */
static double rd_round(bool polled, struct rd_board *board)
{
    char name[96], addr[160], buf[8];
    size_t len;
    ipc_channel *rx = NULL;
    st_name(name, sizeof name, addr, sizeof addr, "capacity=8&max_msg=64");
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &rx),
        IPC_OK);
    int fd = -1, epfd = -1;
    short events = 0;
    if (polled) {
        assert_ipc_err(ipc_pollfd(rx, &fd, &events), IPC_OK);
        epfd = rd_epoll(fd, events);
    }
    atomic_store(&board->killed_ns, 0);
    static struct rd_sender s;
    s = (struct rd_sender){addr, board, 20 + (int)(tu_rand() % 180)};
    pid_t pid = tu_spawn(rd_sender_dies, &s);
    int got = 0;
    ipc_err err;
    for (;;) {
        if (polled) {
            err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 0);
            if (err == IPC_EAGAIN) {
                struct epoll_event ev;
                if (epoll_wait(epfd, &ev, 1, 5000) != 1)
                    fail_msg("round %s: the poll descriptor slept 5 s", name);
                continue;
            }
        } else {
            err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 5000);
        }
        if (err != IPC_OK)
            break;
        got++;
    }
    int64_t now = tu_now_ns();
    assert_ipc_err(err, IPC_ECLOSED);
    assert_int_equal(got, RD_MSGS);
    int status = 0;
    tu_wait(pid, 5000, &status);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* It stays closed, and says so at once. */
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_ECLOSED);
    int64_t killed = atomic_load(&board->killed_ns);
    assert_true(killed > 0);
    if (epfd >= 0)
        close(epfd);
    ipc_close(rx);
    assert_false(st_exists(name));
    return (double)(now - killed) / 1e6;
}

static void rd_detection(bool polled)
{
    struct rd_board *board = rd_board_new();
    double ms[RD_ROUNDS];
    for (int i = 0; i < RD_ROUNDS; i++)
        ms[i] = rd_round(polled, board);
    munmap(board, sizeof *board);
    qsort(ms, RD_ROUNDS, sizeof ms[0], rd_cmp);
    print_message("  %s receiver: IPC_ECLOSED %.2f ms (median) / %.2f ms "
                  "(max) after kill -9 of the last sender, %d rounds\n",
                  polled ? "polled (epoll)" : "blocking", ms[RD_ROUNDS / 2],
                  ms[RD_ROUNDS - 1], RD_ROUNDS);
    if (ms[RD_ROUNDS - 1] > RD_BOUND_MS)
        fail_msg("detection took %.0f ms, over the bound of %.0f ms",
                 ms[RD_ROUNDS - 1], RD_BOUND_MS);
}

/* kill -9 of the last sender: a blocking receiver drains, then hears
 * IPC_ECLOSED within the bound (it judges senders after each slice). */
static void test_sender_killed_blocking(void **state)
{
    (void)state;
    rd_detection(false);
}

/* The same, the receiver waiting in epoll on its poll descriptor. */
static void test_sender_killed_polled(void **state)
{
    (void)state;
    rd_detection(true);
}

static int rd_polled_receiver(void *arg)
{
    const struct rd_sender *s = arg;
    ipc_channel *rx = NULL;
    int fd;
    short events;
    char buf[8];
    size_t len;
    assert_ipc_err(ipc_open(s->addr, IPC_F_RECV, 2000, &rx), IPC_OK);
    assert_ipc_err(ipc_pollfd(rx, &fd, &events), IPC_OK);
    /* Armed: the next message rings this process's bell. */
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    atomic_store(&s->board->killed_ns, 1);
    for (;;)
        pause();
    return 0;
}

/* kill -9 of a polled receiver leaves no name anywhere (its bell is a
 * pipe, gone with it); senders ring its dead bell harmlessly, and another
 * receiver polls the same ring. */
static void test_killed_poller_leaves_nothing(void **state)
{
    (void)state;
    char name[96], addr[160], buf[8];
    size_t len;
    ipc_channel *tx = NULL, *rx = NULL;
    struct tu_fdset before, after;
    st_name(name, sizeof name, addr, sizeof addr, "capacity=4&max_msg=64");
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_SEND, 1000, &tx),
        IPC_OK);
    struct rd_board *board = rd_board_new();
    static struct rd_sender s;
    s = (struct rd_sender){addr, board, 0};
    pid_t pid = tu_spawn(rd_polled_receiver, &s);
    for (int i = 0; i < 500 && atomic_load(&board->killed_ns) == 0; i++)
        tu_sleep_ms(10);
    assert_true(atomic_load(&board->killed_ns) == 1);
    tu_kill(pid);
    tu_fdset_take(&before);
    /* The dead receiver's bell is armed: this send rings it (and finds
     * nobody), then every receiver is known gone. */
    assert_ipc_err(ipc_send(tx, "a", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_open(addr, IPC_F_RECV, 1000, &rx), IPC_OK);
    int fd;
    short events;
    assert_ipc_err(ipc_pollfd(rx, &fd, &events), IPC_OK);
    struct pollfd pfd = {.fd = fd, .events = events};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_OK);
    ipc_close(rx);
    tu_fdset_take(&after);
    for (int i = 0; before.valid && i < TU_FDSET_MAX; i++)
        if (after.open[i] != before.open[i])
            fail_msg("fd %d %s", i, after.open[i] ? "leaked" : "lost");
    munmap(board, sizeof *board);
    ipc_close(tx);
    assert_false(st_exists(name));
}

/* ---------------------------------------------------------------- rendezvous
 */

static int rd_gate = -1;  /* taker child: where it tells its progress */
static int rd_kill_phase; /* taker child: the claim phase to stop at */
static bool rd_said_armed;

static void rd_arm_hook(bool rx, int phase)
{
    if (rx && phase == 1 && !rd_said_armed) {
        rd_said_armed = true;
        ssize_t r = write(rd_gate, "a", 1); /* asleep in the general path */
        (void)r;
    }
}

static void rd_claim_hook(int phase)
{
    if (phase != rd_kill_phase)
        return;
    ssize_t r = write(rd_gate, "c", 1); /* holds the message: kill me */
    (void)r;
    for (;;)
        pause();
}

static int rd_taker(void *arg)
{
    const char *addr = arg;
    ipc_channel *rx = NULL;
    char buf[64];
    size_t len;
    assert_ipc_err(ipc_open(addr, IPC_F_RECV, 2000, &rx), IPC_OK);
    ipc__shmring_test_arm_hook = rd_arm_hook;
    ipc__shmring_test_claim_hook = rd_claim_hook;
    ipc_err err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 20000);
    return tu_child_fail(2, "the taker's receive returned: %s",
                         ipc_errname(err));
}

static int rd_rdv_sender(void *arg)
{
    const char *addr = arg;
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 2000, &tx), IPC_OK);
    ipc_err err = ipc_send(tx, "handoff", 7, 0, 20000);
    /* Closed before exit: valgrind (CI) checks forked children's leaks. */
    ipc_close(tx);
    if (err != IPC_OK)
        return tu_child_fail(3, "rendezvous send: %s (%s)", ipc_errname(err),
                             ipc_last_detail());
    return 0;
}

/* Rendezvous: the taker is killed (-9) holding the message, before it
 * copied it (phase 0) or after, before its receive returned (phase 1):
 * the message is offered again and another receiver gets it exactly once;
 * the send returns IPC_OK only once that receiver has it. */
static void test_rendezvous_taker_killed(void **state)
{
    (void)state;
    for (int phase = 0; phase < 2; phase++) {
        char name[96], addr[160], buf[64];
        size_t len;
        ipc_channel *rx = NULL;
        int gate[2];
        st_name(name, sizeof name, addr, sizeof addr, "capacity=0&max_msg=64");
        assert_ipc_err(
            ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &rx),
            IPC_OK);
        ipc_info info;
        assert_ipc_err(ipc_query(rx, &info), IPC_OK);
        assert_int_equal(info.capacity, 0);
        assert_true(info.caps & IPC_CAP_RENDEZVOUS);
        assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
        rd_gate = gate[1];
        rd_kill_phase = phase;
        static char taker_addr[160];
        snprintf(taker_addr, sizeof taker_addr, "%s", addr);
        pid_t taker = tu_spawn(rd_taker, taker_addr);
        assert_int_equal(tu_read_byte(gate[0], 10000), 'a');
        pid_t sender = tu_spawn(rd_rdv_sender, taker_addr);
        assert_int_equal(tu_read_byte(gate[0], 10000), 'c');
        tu_kill(taker);
        /* Nobody has the message: the send has not returned. */
        int status = 0;
        tu_sleep_ms(100);
        assert_int_equal(waitpid(sender, &status, WNOHANG), 0);
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 10000),
                       IPC_OK);
        assert_int_equal(len, 7);
        assert_memory_equal(buf, "handoff", 7);
        const char *end = tu_child_end(sender, 10000);
        if (end)
            fail_msg("phase %d: sender: %s", phase, end);
        /* Exactly once: nothing more comes; the only sender is gone. */
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000),
                       IPC_ECLOSED);
        close(gate[0]);
        close(gate[1]);
        ipc_close(rx);
        assert_false(st_exists(name));
    }
}

/* Rendezvous, timed out before anyone took it: the send delivered
 * nothing (the message is taken back), and the next one is the one a
 * receiver gets. Zero copy is refused on these ends. */
static void test_rendezvous_taken_back(void **state)
{
    (void)state;
    char name[96], addr[160], buf[64];
    size_t len;
    ipc_channel *rx = NULL, *tx = NULL;
    void *loan = NULL;
    st_name(name, sizeof name, addr, sizeof addr, "capacity=0&max_msg=64");
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &rx),
        IPC_OK);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "old", 3, 0, 50), IPC_ETIMEDOUT);
    assert_ipc_err(ipc_send(tx, "old", 3, 0, 0), IPC_EAGAIN);
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    assert_ipc_err(ipc_loan(tx, 8, &loan, 0), IPC_ENOTSUP);
    pid_t pid = tu_spawn(rd_take_one, rx);
    assert_ipc_err(ipc_send(tx, "new", 3, 0, 5000), IPC_OK);
    assert_null(tu_child_end(pid, 5000));
    /* A new receiver with capacity=1 is refused: the ring is capacity 0. */
    ipc_channel *other = NULL;
    char addr1[200];
    snprintf(addr1, sizeof addr1, "shm:%s?capacity=1", name);
    assert_ipc_err(ipc_open(addr1, IPC_F_RECV, 1000, &other), IPC_EINVAL);
    ipc_close(tx);
    ipc_close(rx);
    assert_false(st_exists(name));
}

struct rd_send {
    ipc_channel *tx;
    ipc_err err;
    double took_ms;
};

static void *rd_send_thread(void *arg)
{
    struct rd_send *s = arg;
    int64_t t0 = tu_now_ns();
    s->err = ipc_send(s->tx, "gone", 4, 0, 20000);
    s->took_ms = tu_elapsed_ms(t0);
    return NULL;
}

/* A receiving process that never receives: it holds its end until killed
 * (and lets go of the sending end it inherited). */
static int rd_idle(void *arg)
{
    ipc_close(arg);
    while (pause() < 0)
        ;
    return 0;
}

/* Rendezvous, every receiver gone while a send waits for a taker: closed
 * (ipc_close) or killed -9 while not receiving, named and pair. The send
 * answers IPC_ECLOSED long before its timeout (20 s), having delivered
 * nothing. */
static void test_rendezvous_receiver_gone(void **state)
{
    (void)state;
    for (int how = 0; how < 4; how++) {
        bool kill9 = how & 1, pair = how & 2;
        char name[96], addr[160];
        ipc_channel *rx = NULL, *tx = NULL;
        if (pair) {
            ipc_channel *ends[2] = {NULL, NULL};
            assert_ipc_err(ipc_pair("shm:?capacity=0&max_msg=64", 0, ends),
                           IPC_OK);
            tx = ends[0];
            rx = ends[1];
        } else {
            st_name(name, sizeof name, addr, sizeof addr,
                    "capacity=0&max_msg=64");
            assert_ipc_err(ipc_open(addr,
                                    IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV,
                                    1000, &rx),
                           IPC_OK);
            assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
        }
        pid_t holder = 0;
        if (kill9) {
            holder = tu_spawn(rd_idle, tx);
            ipc_close(rx);
            rx = NULL;
        }
        struct rd_send s = {.tx = tx, .err = IPC_EIO};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, rd_send_thread, &s), 0);
        tu_sleep_ms(150);
        if (kill9)
            tu_kill(holder);
        else
            ipc_close(rx);
        pthread_join(th, NULL);
        if (s.err != IPC_ECLOSED)
            fail_msg("%s, receiver %s: the send said %s",
                     pair ? "pair" : "named", kill9 ? "killed" : "closed",
                     ipc_errname(s.err));
        assert_true(s.took_ms < 5000);
        ipc_close(tx);
        if (!pair)
            assert_false(st_exists(name));
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_level_receiver, st_cleanup),
        cmocka_unit_test_teardown(test_level_sender, st_cleanup),
        cmocka_unit_test_teardown(test_fork_poll, st_cleanup),
        cmocka_unit_test_teardown(test_sender_killed_blocking, st_cleanup),
        cmocka_unit_test_teardown(test_sender_killed_polled, st_cleanup),
        cmocka_unit_test_teardown(test_killed_poller_leaves_nothing,
                                  st_cleanup),
        cmocka_unit_test_teardown(test_rendezvous_taker_killed, st_cleanup),
        cmocka_unit_test_teardown(test_rendezvous_taken_back, st_cleanup),
        cmocka_unit_test_teardown(test_rendezvous_receiver_gone, st_cleanup),
    };
    return tu_run_tests("shm.ready", tests, argc, argv);
}
