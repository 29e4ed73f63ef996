/* SPDX-License-Identifier: MIT */
/* udp: beyond the contract: port 0, datagrams longer than max_msg, a
 * hostile sender, peer= and bind=, small buffers, the per-family limits,
 * a receiver that goes and comes back, no pairs. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "check.h"

#include "ipc/ipc.h"

/* A receiver on a loopback port the kernel picks (host "127.0.0.1" or
 * "[::1]"); *addr gets its real address, options included. */
static ipc_channel *udp_receiver(const char *host, const char *opts, char *addr,
                                 size_t size)
{
    char want[128];
    snprintf(want, sizeof want, "udp:%s:0%s", host, opts);
    ipc_channel *rx = NULL;
    assert_ipc_err(ipc_open(want, IPC_F_RECV | IPC_F_CREATE, 1000, &rx),
                   IPC_OK);
    assert_ipc_err(ipc_address(rx, addr, size), IPC_OK);
    return rx;
}

/* The port of "udp:HOST:PORT[?...]". */
static unsigned udp_port(const char *addr)
{
    char copy[128];
    snprintf(copy, sizeof copy, "%s", addr);
    char *q = strchr(copy, '?');
    if (q)
        *q = '\0';
    return (unsigned)atoi(strrchr(copy, ':') + 1);
}

/* A raw UDP socket connected to the IPv4 receiver at addr. */
static int udp_raw(const char *addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    sa.sin_port = htons((uint16_t)udp_port(addr));
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void raw_send(int fd, const void *buf, size_t len)
{
    assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
}

static void no_options(char *addr)
{
    char *q = strchr(addr, '?');
    if (q)
        *q = '\0';
}

/* Port 0, IPv4 and IPv6: ipc_address names the port chosen; a sender
 * reaches it there, and the message arrives whole. */
static void test_port0(void **state)
{
    (void)state;
    static const char *const hosts[] = {"127.0.0.1", "[::1]"};
    for (size_t i = 0; i < 2; i++) {
        char addr[128], got[16];
        size_t len = 0;
        ipc_channel *rx = udp_receiver(hosts[i], "", addr, sizeof addr);
        assert_true(udp_port(addr) > 0);
        ipc_channel *tx = NULL;
        assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
        char txaddr[128];
        assert_ipc_err(ipc_address(tx, txaddr, sizeof txaddr), IPC_OK);
        assert_string_equal(txaddr, addr);
        assert_ipc_err(ipc_send(tx, "hello", 5, 0, 1000), IPC_OK);
        assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
        assert_int_equal(len, 5);
        assert_memory_equal(got, "hello", 5);
        ipc_info info;
        assert_ipc_err(ipc_query(rx, &info), IPC_OK);
        assert_true(info.caps & IPC_CAP_LOSSY);
        assert_false(info.caps & IPC_CAP_PEER_CLOSED);
        ipc_close(tx);
        ipc_close(rx);
    }
}

/* A datagram longer than max_msg (from a raw socket: a libipc sender
 * refuses to send one): IPC_EPROTO once, never a short message, and the
 * next datagram arrives. With a buffer of max_msg or more (read at once)
 * and with a smaller one (length peeked first); the largest datagram too. */
static void test_truncation(void **state)
{
    (void)state;
    char addr[128];
    static unsigned char big[65507], got[128];
    size_t len = 0;
    memset(big, 'b', sizeof big);
    ipc_channel *rx =
        udp_receiver("127.0.0.1", "?max_msg=64", addr, sizeof addr);
    int fd = udp_raw(addr);
    static const size_t caps[] = {sizeof got, 64, 10};
    for (size_t i = 0; i < 3; i++) {
        raw_send(fd, big, 65);
        raw_send(fd, "next", 4);
        raw_send(fd, big, sizeof big);
        raw_send(fd, big, 64);
        assert_ipc_err(ipc_recv(rx, got, caps[i], &len, NULL, 2000),
                       IPC_EPROTO);
        assert_non_null(strstr(ipc_last_detail(), "65 bytes"));
        assert_ipc_err(ipc_recv(rx, got, caps[i], &len, NULL, 2000), IPC_OK);
        assert_int_equal(len, 4);
        assert_memory_equal(got, "next", 4);
        assert_ipc_err(ipc_recv(rx, got, caps[i], &len, NULL, 2000),
                       IPC_EPROTO);
        /* Exactly max_msg is a message: whole, or EMSGSIZE and kept. */
        ipc_err err = ipc_recv(rx, got, caps[i], &len, NULL, 2000);
        if (caps[i] < 64) {
            assert_ipc_err(err, IPC_EMSGSIZE);
            assert_int_equal(len, 64);
            err = ipc_recv(rx, got, 64, &len, NULL, 0);
        }
        assert_ipc_err(err, IPC_OK);
        assert_int_equal(len, 64);
        assert_int_equal(got[63], 'b');
        assert_ipc_err(ipc_recv(rx, got, caps[i], &len, NULL, 0), IPC_EAGAIN);
    }
    close(fd);
    ipc_close(rx);
}

/* A hostile sender: datagrams of random bytes and sizes (0 to max_msg +
 * 100) between a libipc sender's messages. Each one is a message as
 * sent (UDP has no framing to break) or, too long, IPC_EPROTO; the
 * well-behaved sender's messages all arrive whole, in order. */
static void test_hostile(void **state)
{
    (void)state;
    enum { MAX = 256, ROUNDS = 60 };
    char addr[128];
    static unsigned char junk[MAX + 100], got[MAX + 200];
    size_t len;
    ipc_channel *rx =
        udp_receiver("127.0.0.1", "?max_msg=256", addr, sizeof addr);
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    int fd = udp_raw(addr);
    /* A round at a time: a few datagrams queued, well inside any
     * receive buffer, so that nothing is lost on loopback. */
    for (size_t i = 0; i < ROUNDS; i++) {
        size_t jlen = (size_t)(tu_rand() % (MAX + 101));
        for (size_t k = 0; k < jlen; k++)
            junk[k] = (unsigned char)tu_rand();
        raw_send(fd, junk, jlen);
        unsigned char msg[8];
        tu_pattern(msg, sizeof msg, i);
        assert_ipc_err(ipc_send(tx, msg, sizeof msg, 0, 1000), IPC_OK);
        ipc_err err = ipc_recv(rx, got, sizeof got, &len, NULL, 2000);
        if (jlen > MAX) {
            assert_ipc_err(err, IPC_EPROTO);
        } else {
            assert_ipc_err(err, IPC_OK);
            assert_int_equal(len, jlen);
            assert_memory_equal(got, junk, len);
        }
        assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
        assert_int_equal(len, 8);
        assert_int_equal(tu_pattern_check(got, 8, i), 8);
    }
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 0), IPC_EAGAIN);
    close(fd);
    ipc_close(tx);
    ipc_close(rx);
}

/* peer= drops datagrams from outside its network (the receiver sees
 * nothing, and a poll hint they raised is spent by one receive); bind=
 * chooses a sender's source: 127.0.0.2 is refused by peer=127.0.0.1/32,
 * 127.0.0.1 admitted. A bad peer= is IPC_EINVAL. */
static void test_peer_filter(void **state)
{
    (void)state;
    char addr[128], base[128], from[160], got[8];
    size_t len;
    ipc_channel *rx =
        udp_receiver("127.0.0.1", "?peer=10.0.0.0/8", addr, sizeof addr);
    snprintf(base, sizeof base, "%s", addr);
    no_options(base);
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(base, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "x", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 200),
                   IPC_ETIMEDOUT);
    assert_ipc_err(ipc_send(tx, "x", 1, 0, 1000), IPC_OK);
    tu_sleep_ms(20);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 0), IPC_EAGAIN);
    ipc_close(tx);
    ipc_close(rx);

    rx = udp_receiver("127.0.0.1", "?peer=127.0.0.1/32", addr, sizeof addr);
    snprintf(base, sizeof base, "%s", addr);
    no_options(base);
    snprintf(from, sizeof from, "%s?bind=127.0.0.2", base);
    assert_ipc_err(ipc_open(from, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "n", 1, 0, 1000), IPC_OK);
    ipc_close(tx);
    snprintf(from, sizeof from, "%s?bind=127.0.0.1", base);
    assert_ipc_err(ipc_open(from, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "y", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    assert_int_equal(len, 1);
    assert_int_equal(got[0], 'y');
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 0), IPC_EAGAIN);
    ipc_close(tx);
    ipc_close(rx);

    /* IPv6 with a prefix. */
    rx = udp_receiver("[::1]", "?peer=::1/128", addr, sizeof addr);
    snprintf(base, sizeof base, "%s", addr);
    no_options(base);
    assert_ipc_err(ipc_open(base, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "6", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    ipc_close(tx);
    ipc_close(rx);

    const char *bad[] = {"udp:127.0.0.1:0?peer=nonsense",
                         "udp:127.0.0.1:0?peer=10.0.0.0/33",
                         "udp:127.0.0.1:0?peer=::1/129"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rx = NULL;
        assert_ipc_err(ipc_open(bad[i], IPC_F_RECV | IPC_F_CREATE, 100, &rx),
                       IPC_EINVAL);
        assert_null(rx);
    }
}

/* A buffer too small: IPC_EMSGSIZE with the length, and the message stays
 * queued (peeked, not taken), also behind a filtered datagram. */
static void test_small_buffer(void **state)
{
    (void)state;
    char addr[128];
    unsigned char got[200];
    size_t len = 0;
    ipc_channel *rx =
        udp_receiver("127.0.0.1", "?max_msg=1000", addr, sizeof addr);
    ipc_channel *tx = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    unsigned char msg[150];
    tu_pattern(msg, sizeof msg, 5);
    assert_ipc_err(ipc_send(tx, msg, sizeof msg, 0, 1000), IPC_OK);
    for (int i = 0; i < 3; i++) {
        assert_ipc_err(ipc_recv(rx, got, 149, &len, NULL, 2000), IPC_EMSGSIZE);
        assert_int_equal(len, 150);
    }
    assert_ipc_err(ipc_recv(rx, got, 150, &len, NULL, 0), IPC_OK);
    assert_int_equal(len, 150);
    assert_int_equal(tu_pattern_check(got, 150, 5), 150);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 0), IPC_EAGAIN);
    ipc_close(tx);
    ipc_close(rx);
}

/* max_msg by family: 65507 over IPv4 (one more is IPC_ELIMIT at open, on
 * either end), 65527 over IPv6, where a message of that size crosses
 * whole; ipc_limits says so for each address. */
static void test_limits(void **state)
{
    (void)state;
    ipc_limits_info info;
    assert_ipc_err(ipc_limits("udp", &info), IPC_OK);
    assert_int_equal(info.max_msg, 65527);
    assert_int_equal(info.max_msg_default, 65507);
    assert_ipc_err(ipc_limits("udp:127.0.0.1:9", &info), IPC_OK);
    assert_int_equal(info.max_msg, 65507);
    assert_ipc_err(ipc_limits("udp:[::1]:9", &info), IPC_OK);
    assert_int_equal(info.max_msg, 65527);

    ipc_channel *ch = NULL;
    assert_ipc_err(ipc_open("udp:127.0.0.1:0?max_msg=65508",
                            IPC_F_RECV | IPC_F_CREATE, 0, &ch),
                   IPC_ELIMIT);
    assert_null(ch);
    char addr[128], opts[160];
    ipc_channel *rx = udp_receiver("127.0.0.1", "", addr, sizeof addr);
    snprintf(opts, sizeof opts, "%s?max_msg=65508", addr);
    assert_ipc_err(ipc_open(opts, IPC_F_SEND, 0, &ch), IPC_ELIMIT);
    ipc_close(rx);

    rx = udp_receiver("[::1]", "?max_msg=65527", addr, sizeof addr);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &ch), IPC_OK);
    static unsigned char big[65528];
    tu_pattern(big, 65527, 77);
    assert_ipc_err(ipc_send(ch, big, 65527, 0, 1000), IPC_OK);
    size_t len = 0;
    memset(big, 0, sizeof big);
    assert_ipc_err(ipc_recv(rx, big, sizeof big, &len, NULL, 2000), IPC_OK);
    assert_int_equal(len, 65527);
    assert_int_equal(tu_pattern_check(big, 65527, 77), 65527);
    ipc_close(ch);
    ipc_close(rx);
}

/* No connection: the receiver closes, the sender's sends still succeed
 * (the ICMP port unreachable they draw is no IPC_ECLOSED), a receiver
 * bound to the port again gets the next message; with nothing bound to a
 * local port, a new sender's open is IPC_ENOENT, and ipc_unlink answers
 * IPC_EBUSY while a receiver holds the port, IPC_ENOENT after. */
static void test_receiver_back(void **state)
{
    (void)state;
    char addr[128], got[8];
    size_t len;
    ipc_channel *rx = udp_receiver("127.0.0.1", "", addr, sizeof addr);
    ipc_channel *tx = NULL, *tx2 = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_unlink(addr), IPC_EBUSY);
    ipc_close(rx);
    assert_ipc_err(ipc_unlink(addr), IPC_ENOENT);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 0, &tx2), IPC_ENOENT);
    assert_null(tx2);
    for (int i = 0; i < 5; i++) {
        assert_ipc_err(ipc_send(tx, "lost", 4, 0, 0), IPC_OK);
        tu_sleep_ms(5); /* let the ICMP reply come back */
    }
    rx = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_RECV | IPC_F_CREATE, 0, &rx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "back", 4, 0, 0), IPC_OK);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 2000), IPC_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(got, "back", 4);
    ipc_close(tx);
    ipc_close(rx);
}

/* No pairs: IPC_ENOTSUP with a detail, both ends NULL. */
static void test_pair(void **state)
{
    (void)state;
    ipc_channel *ends[2] = {(ipc_channel *)1, (ipc_channel *)1};
    assert_ipc_err(ipc_pair("udp:", 0, ends), IPC_ENOTSUP);
    assert_true(ipc_last_detail()[0] != '\0');
    assert_null(ends[0]);
    assert_null(ends[1]);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port0),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_peer_filter),
        cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_receiver_back),
        cmocka_unit_test(test_pair),
    };
    return tu_run_tests("udp", tests, argc, argv);
}
