/* SPDX-License-Identifier: MIT */
/* Contract: peers that close, die, crowd in, or are exec'd children. */
#include "contract.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------- closed */

/* The last sender closes: the receiver first gets every queued message,
 * then IPC_ECLOSED at once (PEER_CLOSED), or waits out its timeout. */
static void test_peer_closed_recv(void **state)
{
    struct ct_fx *fx = *state;
    char buf[64];
    size_t len;

    ct_link(fx, "max_msg=64");
    ct_send_pat(fx->tx, 10, 1, CT_ARRIVE_MS);
    assert_ipc_err(ipc_send(fx->tx, "", 0, 0, 1000), IPC_OK);
    ct_send_pat(fx->tx, 20, 3, CT_ARRIVE_MS);
    ipc_close(fx->tx);
    fx->tx = NULL;

    ct_recv_pat(fx->rx, 10, 1, CT_ARRIVE_MS);
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
    assert_int_equal(len, 0);
    ct_recv_pat(fx->rx, 20, 3, CT_ARRIVE_MS);
    int64_t t0 = tu_now_ns();
    if (ct_rx_caps(fx) & IPC_CAP_PEER_CLOSED) {
        assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 2000),
                       IPC_ECLOSED);
        ct_detail_set();
        assert_true(tu_elapsed_ms(t0) < 1500);
        /* It stays closed, and says so without waiting. */
        assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                       IPC_ECLOSED);
        assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, -1),
                       IPC_ECLOSED);
    } else {
        assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 200),
                       IPC_ETIMEDOUT);
        ct_took(t0, 200);
        assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                       IPC_EAGAIN);
    }
}

static int send_to_gone(struct ct_fx *fx, void *arg)
{
    (void)arg;
    /* If the library let SIGPIPE through, this process dies of it and the
     * parent sees the signal. */
    signal(SIGPIPE, SIG_DFL);
    bool closed = (ct_tx_caps(fx) & IPC_CAP_PEER_CLOSED) != 0;
    for (int i = 0; i < 2; i++) {
        ipc_err err = ipc_send(fx->tx, "gone", 4, 0, closed ? 1000 : 0);
        if (closed && err != IPC_ECLOSED)
            return tu_child_fail(10 + (int)err,
                                 "send %d to a closed receiver: %s, "
                                 "expected IPC_ECLOSED",
                                 i, ipc_errname(err));
        if (!closed && err == IPC_ECLOSED)
            return tu_child_fail(10 + (int)err,
                                 "IPC_ECLOSED from an end without "
                                 "PEER_CLOSED");
    }
    return 0;
}

/* The receiver is gone: a send is IPC_ECLOSED (PEER_CLOSED), and never
 * kills the process with SIGPIPE. */
static void test_peer_closed_send(void **state)
{
    struct ct_fx *fx = *state;

    ct_link(fx, "max_msg=64");
    ipc_close(fx->rx);
    fx->rx = NULL;
    if (ct_fork_refused(fx, fx->addr))
        return;
    pid_t pid = ct_spawn(fx, send_to_gone, NULL);
    int status = 0;
    char what[64];
    bool ended = tu_wait(pid, CT_CHILD_MS, &status);
    tu_kill(pid);
    assert_true(ended);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE)
        fail_msg("%s", "a send to a closed receiver raised SIGPIPE");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("sender child: %s", tu_status_str(status, what, sizeof what));
    /* The same in this process (the suite keeps SIGPIPE fatal). */
    if (ct_tx_caps(fx) & IPC_CAP_PEER_CLOSED)
        assert_ipc_err(ipc_send(fx->tx, "x", 1, 0, 1000), IPC_ECLOSED);
}

/* ---------------------------------------------------------------- killed */

static size_t killed_len(uint64_t seed, size_t i, size_t max_msg)
{
    /* Mostly large messages, so that the kill lands inside one. */
    uint64_t r = tu_mix(seed + i);
    return (r & 3) ? (size_t)(max_msg - (r >> 8) % (max_msg / 4 + 1))
                   : (size_t)((r >> 8) % (max_msg + 1));
}

struct killed_arg {
    uint64_t seed;
    size_t max_msg;
};

static int send_until_killed(struct ct_fx *fx, void *arg)
{
    const struct killed_arg *ka = arg;
    ipc_channel *tx = ct_child_sender(fx);
    unsigned char *buf = malloc(ka->max_msg);
    ipc_err err = IPC_ENOMEM;
    size_t i = 0;
    for (; tx && buf; i++) {
        size_t len = killed_len(ka->seed, i, ka->max_msg);
        tu_pattern(buf, len, ka->seed ^ i);
        if ((err = ipc_send(tx, buf, len, 0, 10000)) != IPC_OK)
            break;
    }
    /* Only a failure gets here: the parent kills this process. */
    free(buf);
    if (tx)
        ct_child_release(fx, tx);
    return tu_child_fail(2, "send %zu: %s", i, ipc_errname(err));
}

/* Lossy (TU_S_LOSSY): which message, from `from` on, buf holds; SIZE_MAX
 * if none of the next LOSSY_WINDOW: messages may be lost, not cut,
 * doubled or (from one sender on loopback) reordered. */
#define LOSSY_WINDOW 100000

static size_t killed_match(const struct killed_arg *ka, size_t from,
                           const unsigned char *buf, size_t len)
{
    for (size_t j = from; j < from + LOSSY_WINDOW; j++)
        if (len == killed_len(ka->seed, j, ka->max_msg) &&
            tu_pattern_check(buf, len, ka->seed ^ j) == len)
            return j;
    return SIZE_MAX;
}

/* A sender killed (SIGKILL) at any moment: the receiver gets only whole
 * messages, in order, then IPC_ECLOSED (PEER_CLOSED) or its timeout.
 * Lossy: some may be missing, and fewer than 5 may come. */
static void test_peer_killed(void **state)
{
    struct ct_fx *fx = *state;
    ipc_info info;

    ct_link(fx, NULL);
    assert_ipc_err(ipc_query(fx->rx, &info), IPC_OK);
    static struct killed_arg ka;
    ka.seed = tu_rand();
    ka.max_msg = info.max_msg;
    if (ct_fork_refused(fx, fx->addr))
        return;
    pid_t pid = ct_spawn(fx, send_until_killed, &ka);
    ipc_close(fx->tx); /* the child holds the only sender now */
    fx->tx = NULL;

    unsigned char *buf = malloc(ka.max_msg + 1);
    assert_non_null(buf);
    size_t i = 0, got = 0;
    ipc_err err = IPC_OK;
    for (;; i++) {
        if (got == 5) {
            /* Let the child fill the channel and block inside a send. */
            tu_sleep_ms(100 + (int)(tu_rand() % 50));
            tu_kill(pid);
        }
        size_t len = 0, want = killed_len(ka.seed, i, ka.max_msg);
        err = ipc_recv(fx->rx, buf, ka.max_msg + 1, &len, NULL, 1000);
        if (err != IPC_OK)
            break;
        got++;
        if (fx->be->lossy) {
            size_t j = killed_match(&ka, i, buf, len);
            if (j != SIZE_MAX) {
                i = j; /* the ones before it were lost */
                continue;
            }
            want = len + 1; /* none of those sent: fail below */
        }
        size_t bad = len == want ? tu_pattern_check(buf, len, ka.seed ^ i) : 0;
        if (len != want || bad != len) {
            free(buf);
            fail_msg("message %zu after the kill: %zu bytes (expected %zu), "
                     "bad byte at %zu",
                     i, len, want, bad);
        }
    }
    free(buf);
    if (got < 5)
        fail_msg("only %zu messages before %s", got, ipc_errname(err));
    assert_ipc_err(err, (ct_rx_caps(fx) & IPC_CAP_PEER_CLOSED) ? IPC_ECLOSED
                                                               : IPC_ETIMEDOUT);
}

/* ---------------------------------------------------------------- senders */

/* 4080 + a 16-byte frame header is PIPE_BUF: the largest message that
 * several writers of one FIFO can send atomically (fifo.c). */
#define MS_MAX_MSG    4080
#define MS_OPTS       "max_msg=4080"
#define MS_PER_SENDER 150
#define MS_HDR        16

struct ms_hdr {
    uint32_t sender;
    uint32_t seq;
    uint32_t len;
    uint32_t sum;
};

static uint64_t ms_seed(uint32_t sender, uint32_t seq)
{
    return tu_mix(((uint64_t)sender << 32) | seq);
}

static size_t ms_len(uint32_t sender, uint32_t seq)
{
    return MS_HDR + (size_t)(ms_seed(sender, seq) % (MS_MAX_MSG - MS_HDR + 1));
}

static int ms_sender(struct ct_fx *fx, void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    ipc_channel *tx = ct_child_sender(fx);
    static unsigned char buf[MS_MAX_MSG];
    if (!tx)
        return 1;
    for (uint32_t seq = 0; seq < MS_PER_SENDER; seq++) {
        size_t len = ms_len(id, seq);
        tu_pattern(buf + MS_HDR, len - MS_HDR, ms_seed(id, seq));
        struct ms_hdr h = {id, seq, (uint32_t)len,
                           tu_checksum(buf + MS_HDR, len - MS_HDR)};
        memcpy(buf, &h, sizeof h);
        ipc_err err = ipc_send(tx, buf, len, 0, 10000);
        if (err != IPC_OK) {
            ct_child_release(fx, tx);
            return tu_child_fail(2, "sender %u seq %u: %s", id, seq,
                                 ipc_errname(err));
        }
    }
    ct_child_release(fx, tx);
    return 0;
}

/* lossy: a sender's seq may skip (lost messages), never go back. */
static void ms_check(const unsigned char *buf, size_t len, uint32_t nsend,
                     uint32_t *next, bool lossy)
{
    struct ms_hdr h;
    if (len < MS_HDR)
        fail_msg("a message of %zu bytes: a piece of one", len);
    memcpy(&h, buf, sizeof h);
    if (h.sender >= nsend || h.len != len)
        fail_msg("message header sender %u len %u, received %zu bytes",
                 h.sender, h.len, len);
    if (h.seq != next[h.sender] &&
        !(lossy && h.seq > next[h.sender] && h.seq < MS_PER_SENDER))
        fail_msg("sender %u: seq %u, expected %u (lost, doubled or out of "
                 "order)",
                 h.sender, h.seq, next[h.sender]);
    if (len != ms_len(h.sender, h.seq) ||
        tu_checksum(buf + MS_HDR, len - MS_HDR) != h.sum ||
        tu_pattern_check(buf + MS_HDR, len - MS_HDR,
                         ms_seed(h.sender, h.seq)) != len - MS_HDR)
        fail_msg("sender %u seq %u: corrupted payload", h.sender, h.seq);
    next[h.sender] = h.seq + 1;
}

/* Several sender processes at once (MULTI_SENDER; one otherwise): every
 * message arrives whole, exactly once, in each sender's order. Lossy: those
 * that arrive (at least one) until 1 s passes without one. */
static void test_senders(void **state)
{
    struct ct_fx *fx = *state;
    uint32_t nsend = (ct_tx_caps(fx) & IPC_CAP_MULTI_SENDER) ? 4 : 1;
    uint32_t next[4] = {0};
    pid_t pids[4];
    static unsigned char buf[MS_MAX_MSG + 1];
    size_t len;

    ct_link(fx, MS_OPTS);
    if (ct_fork_refused(fx, fx->addr))
        return;
    for (uint32_t k = 0; k < nsend; k++)
        pids[k] = ct_spawn(fx, ms_sender, (void *)(uintptr_t)k);
    ipc_close(fx->tx); /* the children are the only senders */
    fx->tx = NULL;
    bool lossy = fx->be->lossy;
    uint32_t got = 0;
    for (; got < nsend * MS_PER_SENDER; got++) {
        ipc_err err = ipc_recv(fx->rx, buf, sizeof buf, &len, NULL,
                               lossy && got > 0 ? 1000 : 10000);
        if (lossy && err == IPC_ETIMEDOUT && got > 0)
            break;
        assert_ipc_err(err, IPC_OK);
        ms_check(buf, len, nsend, next, lossy);
    }
    for (uint32_t k = 0; k < nsend; k++)
        assert_child_ok(pids[k], CT_CHILD_MS);
    if (ct_rx_caps(fx) & IPC_CAP_PEER_CLOSED)
        assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 2000),
                       IPC_ECLOSED);
    else
        assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0),
                       IPC_EAGAIN);
}

/* ---------------------------------------------------------------- exec */

/* Fork and exec this binary in a child mode; the child first closes the
 * ends in `drop` (the parent's own ends: pair, fork, close what you do not
 * use, since IPC_F_INHERIT applies to both ends of a pair). */
static pid_t spawn_exec(char *const argv[], ipc_channel *drop[2])
{
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (drop) {
            ipc_close(drop[0]);
            ipc_close(drop[1]);
        }
        execv(ct_self_exe, argv);
        fprintf(stderr, "exec %s: %s\n", ct_self_exe, strerror(errno));
        _exit(127);
    }
    return pid;
}

/* An exec'd child reaches the channel by the string ipc_address() gives:
 * an inherited pair end (INHERIT) or the named address. Pair ends of a
 * backend without INHERIT have no address: IPC_ENOTSUP. */
static void test_exec_child(void **state)
{
    struct ct_fx *fx = *state;
    char a_addr[CT_ADDR_MAX], b_addr[CT_ADDR_MAX];

    if (ct_named(fx)) {
        ct_link(fx, "max_msg=2048");
        assert_ipc_err(ipc_address(fx->rx, a_addr, sizeof a_addr), IPC_OK);
        assert_string_equal(a_addr, fx->addr);
        assert_ipc_err(ipc_address(fx->rx, b_addr, strlen(fx->addr)),
                       IPC_EMSGSIZE);
        char *argv[] = {
            (char *)ct_self_exe, CT_CHILD_ARG, "send", a_addr, "3", NULL};
        pid_t pid = spawn_exec(argv, NULL);
        for (size_t i = 0; i < 3; i++)
            ct_recv_pat(fx->rx, 17 * i, 1000 + i, 10000);
        assert_child_ok(pid, CT_CHILD_MS);
        return;
    }
    ipc_channel *a[2] = {NULL, NULL}, *b[2] = {NULL, NULL};
    char addr[CT_ADDR_MAX];
    ct_pair_addr(fx, addr, sizeof addr, "max_msg=2048");
    if (!(fx->be->pair_caps & IPC_CAP_INHERIT)) {
        assert_ipc_err(ipc_pair(addr, 0, a), IPC_OK);
        fx->tx = a[0];
        fx->rx = a[1];
        assert_ipc_err(ipc_address(a[0], a_addr, sizeof a_addr), IPC_ENOTSUP);
        ct_detail_set();
        assert_ipc_err(ipc_address(a[1], a_addr, sizeof a_addr), IPC_ENOTSUP);
        return;
    }
    /* a: parent -> child, b: child -> parent. */
    assert_ipc_err(ipc_pair(addr, IPC_F_INHERIT, a), IPC_OK);
    fx->tx = a[0];
    ct_keep(fx, a[1]);
    assert_ipc_err(ipc_pair(addr, IPC_F_INHERIT, b), IPC_OK);
    fx->rx = b[1];
    ct_keep(fx, b[0]);
    assert_ipc_err(ipc_address(a[1], a_addr, sizeof a_addr), IPC_OK);
    assert_ipc_err(ipc_address(b[0], b_addr, sizeof b_addr), IPC_OK);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s:", fx->be->scheme);
    assert_memory_equal(a_addr, prefix, strlen(prefix));
    assert_ipc_err(ipc_address(a[1], addr, strlen(a_addr)), IPC_EMSGSIZE);

    char *argv[] = {(char *)ct_self_exe,
                    CT_CHILD_ARG,
                    "echo",
                    a_addr,
                    b_addr,
                    "2048",
                    NULL};
    ipc_channel *drop[2] = {a[0], b[1]};
    pid_t pid = spawn_exec(argv, drop);
    /* Our copies of the child's ends go, so that closing is seen. */
    ct_close_extra(fx, a[1]);
    ct_close_extra(fx, b[0]);
    for (size_t i = 0; i < 3; i++)
        ct_send_pat(fx->tx, 100 * i, 500 + i, 10000);
    for (size_t i = 0; i < 3; i++)
        ct_recv_pat(fx->rx, 100 * i, 500 + i, 10000);
    ipc_close(fx->tx);
    fx->tx = NULL;
    char buf[8];
    size_t len;
    assert_ipc_err(ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 10000),
                   IPC_ECLOSED);
    assert_child_ok(pid, CT_CHILD_MS);
}

/* Exec'd child modes (argv[1] == "--child"):
 *   send <addr> <n>: open addr to send, send n patterned messages.
 *   echo <rx-addr> <tx-addr> <max_msg>: adopt both ends, check max_msg,
 *        echo messages until IPC_ECLOSED. */
static int child_send(char **argv)
{
    ipc_channel *tx = NULL;
    ipc_err err = ipc_open(argv[0], IPC_F_SEND, 5000, &tx);
    if (err != IPC_OK)
        return tu_child_fail(3, "ipc_open(%s): %s", argv[0], ipc_errname(err));
    int n = atoi(argv[1]);
    unsigned char buf[64];
    for (int i = 0; i < n; i++) {
        size_t len = 17 * (size_t)i;
        tu_pattern(buf, len, 1000 + (uint64_t)i);
        if ((err = ipc_send(tx, buf, len, 0, 5000)) != IPC_OK)
            return tu_child_fail(4, "send: %s", ipc_errname(err));
    }
    ipc_close(tx);
    return 0;
}

static int child_echo(char **argv)
{
    ipc_channel *rx = NULL, *tx = NULL;
    ipc_info info;
    size_t max_msg = strtoul(argv[2], NULL, 10);
    ipc_err err = ipc_open(argv[0], IPC_F_RECV, 5000, &rx);
    if (err != IPC_OK)
        return tu_child_fail(3, "adopt %s: %s", argv[0], ipc_errname(err));
    if ((err = ipc_open(argv[1], IPC_F_SEND, 5000, &tx)) != IPC_OK)
        return tu_child_fail(3, "adopt %s: %s", argv[1], ipc_errname(err));
    if (ipc_query(rx, &info) != IPC_OK || info.max_msg != max_msg ||
        !(info.direction & IPC_F_RECV))
        return tu_child_fail(5, "adopted rx: max_msg %zu, direction %u",
                             info.max_msg, info.direction);
    if (ipc_query(tx, &info) != IPC_OK || info.max_msg != max_msg ||
        !(info.direction & IPC_F_SEND))
        return tu_child_fail(5, "adopted tx: max_msg %zu, direction %u",
                             info.max_msg, info.direction);
    unsigned char *buf = malloc(max_msg);
    for (;;) {
        size_t len;
        err = ipc_recv(rx, buf, max_msg, &len, NULL, 10000);
        if (err == IPC_ECLOSED)
            break;
        if (err != IPC_OK)
            return tu_child_fail(6, "recv: %s", ipc_errname(err));
        if ((err = ipc_send(tx, buf, len, 0, 10000)) != IPC_OK)
            return tu_child_fail(7, "send: %s", ipc_errname(err));
    }
    free(buf);
    ipc_close(rx);
    ipc_close(tx);
    return 0;
}

int ct_child_main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[2], "send") == 0)
        return child_send(argv + 3);
    if (argc >= 6 && strcmp(argv[2], "echo") == 0)
        return child_echo(argv + 3);
    fprintf(stderr, "child: bad arguments\n");
    return 2;
}

/* ---------------------------------------------------------------- hostile */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A peer writing a lying frame header (stream backends): IPC_EPROTO on the
 * receiving side, no crash, no allocation of the claimed size. */
static void test_hostile_header(void **state)
{
    struct ct_fx *fx = *state;
    static const struct {
        const char *what;
        uint32_t magic, prio, len_lo, len_hi;
    } lies[] = {
        {"4 GiB length", 0x31435049u, 0, 0, 1},
        {"length max_msg + 1", 0x31435049u, 0, 4097, 0},
        {"huge length", 0x31435049u, 0, 0xffffffffu, 0xffffffffu},
        {"bad magic", 0x31435050u, 0, 4, 0},
        {"reserved bits", 0x31435049u, 0x100, 4, 0},
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        unsigned char hdr[24] = {0};
        int fd;
        short events;
        char buf[64];
        size_t len;
        ct_link(fx, "max_msg=4096");
        assert_ipc_err(ipc_pollfd(fx->tx, &fd, &events), IPC_OK);
        put32(hdr, lies[i].magic);
        put32(hdr + 4, lies[i].prio);
        put32(hdr + 8, lies[i].len_lo);
        put32(hdr + 12, lies[i].len_hi);
        assert_int_equal(write(fd, hdr, sizeof hdr), (ssize_t)sizeof hdr);
        ipc_err err = ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 1000);
        if (err != IPC_EPROTO)
            print_error("lie: %s\n", lies[i].what);
        assert_ipc_err(err, IPC_EPROTO);
        ct_detail_set();
        ct_link_close(fx);
    }
}

const struct ct_test ct_tests_peer[] = {
    {"peer_closed_recv", test_peer_closed_recv, CT_EACH_MODE},
    {"peer_closed_send", test_peer_closed_send, CT_EACH_MODE},
    {"peer_killed", test_peer_killed, CT_EACH_MODE},
    {"senders", test_senders, CT_EACH_MODE},
    {"exec_child", test_exec_child, CT_EACH_MODE},
    {"hostile_header", test_hostile_header, CT_FRAMED_PAIR},
    {NULL, NULL, CT_ONCE},
};
