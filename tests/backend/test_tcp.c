/* SPDX-License-Identifier: MIT */
/* tcp: beyond the contract: port 0, refused and unanswered connects,
 * peer=, nodelay=, hostile bytes, a sender killed mid-message, oversize
 * frames, a receiver gone, frames cut anywhere, read-ahead and the poll
 * descriptor. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "check.h"
#include "frame.h"

#include "ipc/ipc.h"

/* A receiver on a port the kernel picks; *addr gets its real address. */
static ipc_channel *tcp_receiver(const char *opts, char *addr, size_t size)
{
    char want[128];
    snprintf(want, sizeof want, "tcp:127.0.0.1:0%s", opts);
    ipc_channel *rx = NULL;
    assert_ipc_err(ipc_open(want, IPC_F_RECV | IPC_F_CREATE, 1000, &rx),
                   IPC_OK);
    assert_ipc_err(ipc_address(rx, addr, size), IPC_OK);
    return rx;
}

/* A raw connection to the receiver at addr ("tcp:127.0.0.1:PORT..."). */
static int tcp_raw(const char *addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    sa.sin_port = htons((uint16_t)atoi(strrchr(addr, ':') + 1));
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* A socket bound to a loopback port the kernel picks; *addr names it. */
static int tcp_bound(struct sockaddr_in *sa, char *addr, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    *sa = (struct sockaddr_in){.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof *sa;
    assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof *sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &sl), 0);
    snprintf(addr, size, "tcp:127.0.0.1:%u", ntohs(sa->sin_port));
    return fd;
}

static void raw_write(int fd, const void *buf, size_t len)
{
    assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Port 0: ipc_address names the port chosen; a sender reaches it there,
 * and the message arrives whole. */
static void test_port0(void **state)
{
    (void)state;
    char addr[128], got[16];
    size_t len = 0;
    ipc_channel *rx = tcp_receiver("", addr, sizeof addr);
    assert_null(strstr(addr, ":0"));
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "hello", 5, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(got, "hello", 5);
    ipc_close(tx);
    ipc_close(rx);
}

/* A port bound but not listening refuses at once: IPC_ENOENT, fast. */
static void test_refused(void **state)
{
    (void)state;
    struct sockaddr_in sa;
    char addr[64];
    int fd = tcp_bound(&sa, addr, sizeof addr);
    ipc_channel *tx = NULL;
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 2000, &tx), IPC_ENOENT);
    assert_true(tu_now_ns() - t0 < 1000 * 1000000LL);
    assert_null(tx);
    close(fd);
}

/* A listener whose accept queue is full drops new SYNs: the connect gets
 * no answer and the open ends at its timeout, not before, not long after. */
static void test_connect_timeout(void **state)
{
    (void)state;
    struct sockaddr_in sa;
    char addr[64];
    int lfd = tcp_bound(&sa, addr, sizeof addr);
    assert_int_equal(listen(lfd, 0), 0);
    /* Fill the queue (backlog 0 holds one; a few more for slack). */
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] =
            socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
    }
    tu_sleep_ms(50);
    ipc_channel *tx = NULL;
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 300, &tx), IPC_ETIMEDOUT);
    int64_t ms = (tu_now_ns() - t0) / 1000000;
    assert_true(ms >= 290 && ms < 2000);
    assert_null(tx);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

/* peer= admits only its network: another source is closed at accept
 * (the receiver sees nothing, the sender IPC_ECLOSED soon); the matching
 * prefix is served. A bad peer= is IPC_EINVAL. */
static void test_peer_filter(void **state)
{
    (void)state;
    char addr[128], got[8];
    size_t len;
    ipc_channel *rx = tcp_receiver("?peer=10.0.0.0/8", addr, sizeof addr);
    ipc_channel *tx = NULL;
    char *q = strchr(addr, '?');
    *q = '\0';
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "x", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 200),
                   IPC_ETIMEDOUT);
    ipc_err err = IPC_OK;
    for (int i = 0; i < 100 && err == IPC_OK; i++) {
        err = ipc_send(tx, "x", 1, 0, 1000);
        tu_sleep_ms(5);
    }
    assert_ipc_err(err, IPC_ECLOSED);
    ipc_close(tx);
    ipc_close(rx);

    rx = tcp_receiver("?peer=127.0.0.0/8", addr, sizeof addr);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "y", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    assert_int_equal(got[0], 'y');
    ipc_close(tx);
    ipc_close(rx);

    const char *bad[] = {"tcp:127.0.0.1:0?peer=nonsense",
                         "tcp:127.0.0.1:0?peer=10.0.0.0/33",
                         "tcp:127.0.0.1:0?peer=::1/129"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rx = NULL;
        assert_ipc_err(ipc_open(bad[i], IPC_F_RECV | IPC_F_CREATE, 100, &rx),
                       IPC_EINVAL);
        assert_null(rx);
    }
}

/* This process's connected TCP socket whose local (or else peer) port is
 * port: the library's own, found among the descriptors; -1 if none. */
static int tcp_find_conn(unsigned port, bool local)
{
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_in me, them;
        socklen_t ml = sizeof me, tl = sizeof them;
        int type = 0;
        socklen_t yl = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &yl) != 0 ||
            type != SOCK_STREAM ||
            getsockname(fd, (struct sockaddr *)&me, &ml) != 0 ||
            getpeername(fd, (struct sockaddr *)&them, &tl) != 0 ||
            me.sin_family != AF_INET)
            continue;
        if (ntohs(local ? me.sin_port : them.sin_port) == port)
            return fd;
    }
    return -1;
}

static int tcp_nodelay_of(int fd)
{
    int on = -1;
    socklen_t len = sizeof on;
    assert_true(fd >= 0);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    return on != 0;
}

/* Each end sets TCP_NODELAY on its own connections unless nodelay=0 asked
 * for Nagle's coalescing: a sender on its socket, a receiver on those it
 * accepts (they carry request/reply's answers). Messages arrive either
 * way; a value other than 0 or 1 opens nothing. */
static void test_nodelay(void **state)
{
    (void)state;
    static const struct {
        const char *rx_opt, *tx_opt;
        int rx_on, tx_on;
    } cases[] = {{"", "", 1, 1},
                 {"?nodelay=0", "", 0, 1},
                 {"", "?nodelay=0", 1, 0},
                 {"?nodelay=1", "?nodelay=0", 1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char addr[128], want[160], got[8];
        size_t len = 0;
        ipc_channel *rx = tcp_receiver(cases[i].rx_opt, addr, sizeof addr);
        char *q = strchr(addr, '?');
        if (q)
            *q = '\0';
        unsigned port = (unsigned)atoi(strrchr(addr, ':') + 1);
        snprintf(want, sizeof want, "%s%s", addr, cases[i].tx_opt);
        ipc_channel *tx = NULL;
        assert_ipc_err(ipc_open(want, IPC_F_SEND, 1000, &tx), IPC_OK);
        assert_ipc_err(ipc_send(tx, "n", 1, 0, 1000), IPC_OK);
        assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
        assert_int_equal(len, 1);
        assert_int_equal(tcp_nodelay_of(tcp_find_conn(port, true)),
                         cases[i].rx_on);
        assert_int_equal(tcp_nodelay_of(tcp_find_conn(port, false)),
                         cases[i].tx_on);
        ipc_close(tx);
        ipc_close(rx);
    }
    const char *bad[] = {"tcp:127.0.0.1:0?nodelay=2",
                         "tcp:127.0.0.1:0?nodelay=yes",
                         "tcp:127.0.0.1:0?nodelay="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ipc_channel *rx = NULL;
        assert_ipc_err(ipc_open(bad[i], IPC_F_RECV | IPC_F_CREATE, 100, &rx),
                       IPC_EINVAL);
        assert_null(rx);
    }
}

/* Request/reply refuses nodelay=0 at both ends, saying why (two calls in
 * flight would wait for delayed ACKs, 40 ms a round), and takes
 * nodelay=1. */
static void test_nodelay_reqrep(void **state)
{
    (void)state;
    ipc_rr_server *s = NULL;
    ipc_rr_client *c = NULL;
    assert_ipc_err(ipc_rr_serve("tcp:127.0.0.1:0?nodelay=0", 0, &s),
                   IPC_EINVAL);
    assert_non_null(strstr(ipc_last_detail(), "nodelay=0"));
    assert_null(s);
    assert_ipc_err(ipc_rr_connect("tcp:127.0.0.1:1?nodelay=0", 100, &c),
                   IPC_EINVAL);
    assert_non_null(strstr(ipc_last_detail(), "nodelay=0"));
    assert_null(c);
    assert_ipc_err(ipc_rr_serve("tcp:127.0.0.1:0?nodelay=1", 0, &s), IPC_OK);
    ipc_rr_server_close(s);
}

/* Garbage on one connection: IPC_EPROTO once, that connection is closed,
 * and a well-behaved sender is still served. */
static void test_garbage(void **state)
{
    (void)state;
    char addr[128], got[16];
    size_t len;
    ipc_channel *rx = tcp_receiver("", addr, sizeof addr);
    int fd = tcp_raw(addr);
    raw_write(fd, "GET / HTTP/1.0\r\n\r\n", 18);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_EPROTO);
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "ok", 2, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    assert_int_equal(len, 2);
    /* The hostile connection was closed by the receiver (a reset: its
     * bytes were left unread). */
    char b;
    assert_true(recv(fd, &b, 1, 0) <= 0);
    close(fd);
    ipc_close(tx);
    ipc_close(rx);
}

/* A sender killed half-way through a frame: the part is discarded, never
 * delivered; the next sender's message arrives whole. */
static void test_killed_mid_message(void **state)
{
    (void)state;
    char addr[128];
    static char got[2048];
    size_t len;
    ipc_channel *rx = tcp_receiver("", addr, sizeof addr);
    pid_t pid = tu_fork();
    if (pid == 0) {
        int fd = tcp_raw(addr);
        unsigned char hdr[IPC_FRAME_HDR];
        ipc__frame_encode(hdr, 1000, 0);
        raw_write(fd, hdr, sizeof hdr);
        raw_write(fd, got, 500);
        raise(SIGKILL);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 300),
                   IPC_ETIMEDOUT);
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    memset(got, 'z', 1000);
    assert_ipc_err(ipc_send(tx, got, 1000, 0, 1000), IPC_OK);
    memset(got, 0, sizeof got);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    assert_int_equal(len, 1000);
    assert_int_equal(got[999], 'z');
    ipc_close(tx);
    ipc_close(rx);
}

/* A well-formed frame above the receiver's max_msg (a sender opened with
 * a larger one): skipped whole, IPC_EPROTO once, the next one arrives. A
 * header claiming more than any max_msg is garbage. */
static void test_oversize(void **state)
{
    (void)state;
    char addr[128], got[64];
    static char big[8192];
    size_t len;
    ipc_channel *rx = tcp_receiver("?max_msg=64", addr, sizeof addr);
    ipc_channel *tx = NULL;
    *strchr(addr, '?') = '\0';
    char bigaddr[160];
    snprintf(bigaddr, sizeof bigaddr, "%s?max_msg=8192", addr);
    assert_ipc_err(ipc_open(bigaddr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, big, sizeof big, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(tx, "next", 4, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_EPROTO);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(got, "next", 4);

    int fd = tcp_raw(addr);
    unsigned char hdr[IPC_FRAME_HDR];
    ipc__frame_encode(hdr, (size_t)1 << 40, 0);
    raw_write(fd, hdr, sizeof hdr);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_EPROTO);
    close(fd);
    ipc_close(tx);
    ipc_close(rx);
}

/* The receiver closes: its senders hear IPC_ECLOSED on their next send. */
static void test_receiver_gone(void **state)
{
    (void)state;
    char addr[128];
    ipc_channel *rx = tcp_receiver("", addr, sizeof addr);
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "a", 1, 0, 1000), IPC_OK);
    ipc_close(rx);
    tu_sleep_ms(20);
    assert_ipc_err(ipc_send(tx, "b", 1, 0, 1000), IPC_ECLOSED);
    ipc_close(tx);
}

/* The receiver took everything, then closed (a close with nothing unread,
 * which TCP would end with a FIN, after which a send succeeds and is
 * lost): the sender's next send is still IPC_ECLOSED, every time. */
static void test_receiver_gone_drained(void **state)
{
    (void)state;
    char addr[128], got[8];
    size_t len;
    for (int round = 0; round < 20; round++) {
        ipc_channel *rx = tcp_receiver("", addr, sizeof addr);
        ipc_channel *tx = NULL;
        assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
        assert_ipc_err(ipc_send(tx, "a", 1, 0, 1000), IPC_OK);
        assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
        assert_int_equal(len, 1);
        ipc_close(rx);
        tu_sleep_ms(5);
        assert_ipc_err(ipc_send(tx, "b", 1, 0, 1000), IPC_ECLOSED);
        ipc_close(tx);
    }
}

/* Frames that arrive several to a read and cut anywhere (header, payload):
 * a receiver's read-ahead keeps what belongs to the next frame across
 * waits and timeouts, and every message comes whole, in order. */
static void test_split_frames(void **state)
{
    (void)state;
    char addr[128], got[64];
    size_t len;
    ipc_channel *rx = tcp_receiver("?max_msg=64", addr, sizeof addr);
    int fd = tcp_raw(addr);
    unsigned char wire[5 * (IPC_FRAME_HDR + 40)];
    size_t at = 0;
    for (int i = 0; i < 5; i++) {
        ipc__frame_encode(wire + at, 10 * (size_t)i, 0);
        at += IPC_FRAME_HDR;
        memset(wire + at, 'a' + i, 10 * (size_t)i);
        at += 10 * (size_t)i;
    }
    /* Two frames and 5 bytes of the third's header; then the rest of
     * that header and 7 bytes of its payload; then all the rest. */
    size_t cut1 = 2 * IPC_FRAME_HDR + 10 + 5, cut2 = cut1 + 11 + 7;
    raw_write(fd, wire, cut1);
    for (int i = 0; i < 2; i++) {
        assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
        assert_int_equal(len, 10 * (size_t)i);
        for (size_t k = 0; k < len; k++)
            assert_int_equal(got[k], 'a' + i);
    }
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 0), IPC_EAGAIN);
    raw_write(fd, wire + cut1, cut2 - cut1);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 100),
                   IPC_ETIMEDOUT);
    raw_write(fd, wire + cut2, at - cut2);
    for (int i = 2; i < 5; i++) {
        assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
        assert_int_equal(len, 10 * (size_t)i);
        for (size_t k = 0; k < len; k++)
            assert_int_equal(got[k], 'a' + i);
    }
    close(fd);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 200),
                   IPC_ETIMEDOUT);
    ipc_close(rx);
}

/* A large frame half there when its sender's turn comes: the part read
 * waits in the caller's buffer only while that buffer stays with the
 * connection; when another sender's message takes the buffer first, the
 * part is kept aside, and the frame still arrives whole and intact. */
static void test_frame_across_turns(void **state)
{
    (void)state;
    char addr[128];
    static unsigned char got[2048], msg[1000];
    size_t len;
    ipc_channel *rx = tcp_receiver("?max_msg=2048", addr, sizeof addr);
    *strchr(addr, '?') = '\0';
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    int fd = tcp_raw(addr); /* accepted after tx: its turn comes first */
    tu_pattern(msg, sizeof msg, 77);
    unsigned char hdr[IPC_FRAME_HDR];
    ipc__frame_encode(hdr, sizeof msg, 0);
    raw_write(fd, hdr, sizeof hdr);
    raw_write(fd, msg, 600);
    assert_ipc_err(ipc_send(tx, "b1", 2, 0, 1000), IPC_OK);
    tu_sleep_ms(20); /* both on the receiver's side */
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(got, "b1", 2);
    memset(got, 0, sizeof got);
    raw_write(fd, msg + 600, sizeof msg - 600);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    assert_int_equal(len, sizeof msg);
    assert_memory_equal(got, msg, sizeof msg);
    close(fd);
    ipc_close(tx);
    ipc_close(rx);
}

/* Frames read ahead before ipc_pollfd() is first called still make the
 * descriptor ready until they are taken; then it is quiet (an event loop
 * would spin on it otherwise), and ready again for what comes next. */
static void test_pollfd_read_ahead(void **state)
{
    (void)state;
    char addr[128], got[16];
    size_t len;
    ipc_channel *rx = tcp_receiver("?max_msg=64", addr, sizeof addr);
    *strchr(addr, '?') = '\0';
    int fd = tcp_raw(addr);
    unsigned char wire[3 * (IPC_FRAME_HDR + 1)];
    for (int i = 0; i < 3; i++) {
        ipc__frame_encode(wire + i * (IPC_FRAME_HDR + 1), 1, 0);
        wire[i * (IPC_FRAME_HDR + 1) + IPC_FRAME_HDR] =
            (unsigned char)('a' + i);
    }
    raw_write(fd, wire, sizeof wire); /* one write: read in one go */
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    assert_int_equal(got[0], 'a');
    struct pollfd pfd = {.fd = -1};
    assert_ipc_err(ipc_pollfd(rx, &pfd.fd, &pfd.events), IPC_OK);
    for (int i = 1; i < 3; i++) {
        pfd.revents = 0;
        assert_int_equal(poll(&pfd, 1, 0), 1);
        assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 0), IPC_OK);
        assert_int_equal(got[0], 'a' + i);
    }
    /* The hint may outlive the frames by one receive, no more. */
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) != 0)
        assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 0),
                       IPC_EAGAIN);
    pfd.revents = 0;
    assert_int_equal(poll(&pfd, 1, 0), 0);
    raw_write(fd, wire, IPC_FRAME_HDR + 1);
    pfd.revents = 0;
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 0), IPC_OK);
    assert_int_equal(got[0], 'a');
    close(fd);
    ipc_close(rx);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port0),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_peer_filter),
        cmocka_unit_test(test_nodelay),
        cmocka_unit_test(test_nodelay_reqrep),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_killed_mid_message),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_receiver_gone),
        cmocka_unit_test(test_receiver_gone_drained),
        cmocka_unit_test(test_split_frames),
        cmocka_unit_test(test_frame_across_turns),
        cmocka_unit_test(test_pollfd_read_ahead),
    };
    return tu_run_tests("tcp", tests, argc, argv);
}
