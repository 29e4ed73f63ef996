/* SPDX-License-Identifier: MIT */
/* Request/reply over udp: what a lossy path does to calls. A proxy in the
 * test (its own sockets on 127.0.0.1) between client and server drops or
 * doubles chosen datagrams; servers are stopped, killed and restarted. */
#include "rr_harness.h"

#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Every test that waits with timeout -1 is bounded by this alarm. */
#define RR_ALARM_S 20

/* Wire kinds (src/reqrep/rr_int.h). */
enum { RR_K_REQUEST = 3, RR_K_REPLY = 4, RR_K_FAIL = 5 };

/* The suite's fixture, with every test bounded by the alarm. */
static int udp_setup(void **state)
{
    alarm(RR_ALARM_S);
    return rr_setup(state);
}

static int udp_teardown(void **state)
{
    alarm(0);
    return rr_teardown(state);
}

/* The 'N' count: requests the server has handled, this one included. */
static uint64_t rr_handled(ipc_rr_client *direct)
{
    return rr_ask(direct, "N");
}

static uint16_t rr_port_of(const char *addr)
{
    return (uint16_t)atoi(strrchr(addr, ':') + 1);
}

static int rr_udp_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static struct sockaddr_in rr_loopback(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return sa;
}

/* ------------------------------------------------------------- proxy */

/* One client's datagrams to the server through front, and the server's
 * back through the other socket; the next drop_req requests or drop_rep
 * replies vanish, the next dup_req requests go twice. */
struct rr_proxy {
    int front, back, stop[2];
    pthread_t th;
    char addr[64];
    pthread_mutex_t lock;
    struct sockaddr_storage client;
    socklen_t client_len;
    atomic_int drop_req, drop_rep, dup_req;
    atomic_int dropped_req, dropped_rep, duped;
};

/* A datagram's request/reply kind, or 0 if it is no such message. */
static int rr_kind(const unsigned char *d, ssize_t n)
{
    if (n < 32 || d[0] != 0x49 || d[1] != 0x52 || d[2] != 0x52 || d[3] != 0x31)
        return 0;
    return d[4];
}

static bool rr_take_one(atomic_int *counter)
{
    int n = atomic_load(counter);
    while (n > 0)
        if (atomic_compare_exchange_weak(counter, &n, n - 1))
            return true;
    return false;
}

static void rr_from_client(struct rr_proxy *px, unsigned char *buf)
{
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t n =
        recvfrom(px->front, buf, 65536, 0, (struct sockaddr *)&from, &flen);
    if (n < 0)
        return;
    pthread_mutex_lock(&px->lock);
    px->client = from;
    px->client_len = flen;
    pthread_mutex_unlock(&px->lock);
    if (rr_kind(buf, n) == RR_K_REQUEST && rr_take_one(&px->drop_req)) {
        atomic_fetch_add(&px->dropped_req, 1);
        return;
    }
    send(px->back, buf, (size_t)n, 0);
    if (rr_kind(buf, n) == RR_K_REQUEST && rr_take_one(&px->dup_req)) {
        send(px->back, buf, (size_t)n, 0);
        atomic_fetch_add(&px->duped, 1);
    }
}

static void rr_from_server(struct rr_proxy *px, unsigned char *buf)
{
    ssize_t n = recv(px->back, buf, 65536, 0);
    if (n < 0)
        return; /* ECONNREFUSED: the server is gone; the client pings */
    if (rr_kind(buf, n) == RR_K_REPLY && rr_take_one(&px->drop_rep)) {
        atomic_fetch_add(&px->dropped_rep, 1);
        return;
    }
    pthread_mutex_lock(&px->lock);
    sendto(px->front, buf, (size_t)n, 0, (struct sockaddr *)&px->client,
           px->client_len);
    pthread_mutex_unlock(&px->lock);
}

static void *rr_proxy_run(void *arg)
{
    struct rr_proxy *px = arg;
    static unsigned char buf[65536];
    for (;;) {
        struct pollfd pfd[3] = {{.fd = px->front, .events = POLLIN},
                                {.fd = px->back, .events = POLLIN},
                                {.fd = px->stop[0], .events = POLLIN}};
        if (poll(pfd, 3, -1) < 0)
            continue;
        if (pfd[2].revents)
            return NULL;
        if (pfd[0].revents)
            rr_from_client(px, buf);
        if (pfd[1].revents)
            rr_from_server(px, buf);
    }
}

static void rr_proxy_start(struct rr_proxy *px, const char *server_addr)
{
    memset(px, 0, sizeof *px);
    px->front = rr_udp_socket();
    px->back = rr_udp_socket();
    struct sockaddr_in to = rr_loopback(rr_port_of(server_addr));
    assert_int_equal(connect(px->back, (struct sockaddr *)&to, sizeof to), 0);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    assert_int_equal(getsockname(px->front, (struct sockaddr *)&me, &len), 0);
    snprintf(px->addr, sizeof px->addr, "udp:127.0.0.1:%u", ntohs(me.sin_port));
    assert_int_equal(pipe(px->stop), 0);
    pthread_mutex_init(&px->lock, NULL);
    assert_int_equal(pthread_create(&px->th, NULL, rr_proxy_run, px), 0);
}

static void rr_proxy_stop(struct rr_proxy *px)
{
    assert_int_equal(write(px->stop[1], "x", 1), 1);
    pthread_join(px->th, NULL);
    close(px->stop[0]);
    close(px->stop[1]);
    close(px->front);
    close(px->back);
    pthread_mutex_destroy(&px->lock);
}

/* ------------------------------------------------------------- tests */

/* The proxy drops the first request: the server never runs it, and the
 * pongs that do not hold it make a plain call fail IPC_ELOST within a few
 * ping intervals, also with timeout -1. An idempotent call whose request
 * is dropped is resent once, and runs exactly once. */
static void test_lost_request(void **state)
{
    (void)state;
    struct rr_proxy px;
    rr_proxy_start(&px, rr_fix.addr);
    ipc_rr_client *c = rr_client_at(px.addr),
                  *direct = rr_client_at(rr_fix.addr);
    uint64_t n0 = rr_handled(direct);
    char out[16];
    size_t len;
    atomic_store(&px.drop_req, 1);
    int64_t t0 = tu_now_ns();
    rr_assert_err(ipc_rr_call(c, "Elost", 5, out, sizeof out, &len, 0, -1),
                  IPC_ELOST);
    double ms = tu_elapsed_ms(t0);
    printf("FIGURE reqrep.udp.lost_request: IPC_ELOST after %.1f ms "
           "(IPC_RR_PING_MS %d)\n",
           ms, IPC_RR_PING_MS);
    assert_int_equal(atomic_load(&px.dropped_req), 1);
    assert_true(ms >= IPC_RR_PING_MS && ms < 10 * IPC_RR_PING_MS + 500);
    assert_int_equal(rr_handled(direct), n0 + 1); /* ran 0 times */
    atomic_store(&px.drop_req, 1);
    rr_assert_ok(ipc_rr_call(c, "Eidem", 5, out, sizeof out, &len,
                             IPC_RR_IDEMPOTENT, -1));
    assert_int_equal(len, 5);
    assert_memory_equal(out, "Eidem", 5);
    assert_int_equal(atomic_load(&px.dropped_req), 2);
    assert_int_equal(rr_handled(direct), n0 + 3); /* 'N', once, 'N' */
    assert_int_equal(ipc_rr_dropped(c), 0);
    ipc_rr_disconnect(c);
    ipc_rr_disconnect(direct);
    rr_proxy_stop(&px);
    rr_finish();
}

/* The proxy drops the first reply: the server ran the call, the client
 * never hears: IPC_ELOST (it may have run: it did, once). */
static void test_lost_reply(void **state)
{
    (void)state;
    struct rr_proxy px;
    rr_proxy_start(&px, rr_fix.addr);
    ipc_rr_client *c = rr_client_at(px.addr),
                  *direct = rr_client_at(rr_fix.addr);
    uint64_t n0 = rr_handled(direct);
    char out[16];
    size_t len;
    atomic_store(&px.drop_rep, 1);
    rr_assert_err(ipc_rr_call(c, "Erep", 4, out, sizeof out, &len, 0, -1),
                  IPC_ELOST);
    assert_int_equal(atomic_load(&px.dropped_rep), 1);
    assert_int_equal(rr_handled(direct), n0 + 2); /* ran once, then 'N' */
    /* The client goes on. */
    rr_assert_ok(
        ipc_rr_call(c, "Eafter", 6, out, sizeof out, &len, 0, RR_CALL_MS));
    assert_memory_equal(out, "Eafter", 6);
    ipc_rr_disconnect(c);
    ipc_rr_disconnect(direct);
    rr_proxy_stop(&px);
    rr_finish();
}

/* The proxy sends a request twice (UDP may duplicate a datagram): the
 * server runs it once, and the call gets its one reply. */
static void test_duplicated_request(void **state)
{
    (void)state;
    struct rr_proxy px;
    rr_proxy_start(&px, rr_fix.addr);
    ipc_rr_client *c = rr_client_at(px.addr),
                  *direct = rr_client_at(rr_fix.addr);
    uint64_t n0 = rr_handled(direct);
    char out[16];
    size_t len;
    atomic_store(&px.dup_req, 1);
    rr_assert_ok(ipc_rr_call(c, "Edup", 4, out, sizeof out, &len, 0, -1));
    assert_int_equal(len, 4);
    assert_memory_equal(out, "Edup", 4);
    assert_int_equal(atomic_load(&px.duped), 1);
    /* Had the copy run, its reply would come after: a call made after it
     * reached the server would see it dropped. */
    rr_assert_ok(
        ipc_rr_call(c, "Enext", 5, out, sizeof out, &len, 0, RR_CALL_MS));
    assert_int_equal(rr_handled(direct), n0 + 3); /* once, "Enext", 'N' */
    assert_int_equal(ipc_rr_dropped(c), 0);
    ipc_rr_disconnect(c);
    ipc_rr_disconnect(direct);
    rr_proxy_stop(&px);
    rr_finish();
}

/* kill -9 of the server while calls wait with timeout -1: a ping meets
 * the closed port, Linux answers ICMP port unreachable (not rate-limited
 * on loopback), and every call fails IPC_ECLOSED well within the lease. */
static void test_server_killed(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client_at(rr_fix.addr);
    uint64_t calls[3];
    for (int i = 0; i < 3; i++)
        rr_assert_ok(ipc_rr_start(c, "S10000", 6, 0, RR_CALL_MS, &calls[i]));
    int64_t t0 = tu_now_ns();
    assert_int_equal(kill(rr_fix.server, SIGKILL), 0);
    char out[16];
    size_t len;
    for (int i = 0; i < 3; i++)
        rr_assert_err(ipc_rr_wait(c, calls[i], out, sizeof out, &len, -1),
                      IPC_ECLOSED);
    double ms = tu_elapsed_ms(t0);
    printf("FIGURE reqrep.udp.server_killed: IPC_ECLOSED %.1f ms after "
           "kill -9\n",
           ms);
    assert_true(ms < IPC_RR_LEASE_MS / 2);
    assert_true(tu_wait(rr_fix.server, 5000, NULL));
    rr_fix.server = 0;
    ipc_rr_disconnect(c);
    rr_cleanup(&rr_fix);
    rr_leaks_check(&rr_fix_leaks);
}

/* A server that is alive but silent (stopped: as a host gone or a path
 * cut looks): no ICMP, no pong; the calls fail IPC_ECLOSED once the lease
 * runs out, not before. */
static void test_server_silent(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client_at(rr_fix.addr);
    assert_int_equal(kill(rr_fix.server, SIGSTOP), 0);
    uint64_t calls[3];
    int64_t t0 = tu_now_ns();
    for (int i = 0; i < 3; i++)
        rr_assert_ok(ipc_rr_start(c, "Es", 2, 0, RR_CALL_MS, &calls[i]));
    char out[16];
    size_t len;
    rr_assert_err(ipc_rr_wait(c, calls[0], out, sizeof out, &len, -1),
                  IPC_ECLOSED);
    double ms = tu_elapsed_ms(t0);
    rr_assert_err(ipc_rr_wait(c, calls[1], out, sizeof out, &len, 0),
                  IPC_ECLOSED);
    rr_assert_err(ipc_rr_wait(c, calls[2], out, sizeof out, &len, 0),
                  IPC_ECLOSED);
    printf("FIGURE reqrep.udp.server_silent: IPC_ECLOSED %.1f ms after the "
           "calls (IPC_RR_LEASE_MS %d)\n",
           ms, IPC_RR_LEASE_MS);
    assert_true(ms >= IPC_RR_LEASE_MS && ms < IPC_RR_LEASE_MS + 2000);
    assert_int_equal(kill(rr_fix.server, SIGCONT), 0);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* A call waited for while the server is busy in it (pings unanswered),
 * then left alone longer than the lease while the caller does other work,
 * then waited for again: the reply and the pongs that came meanwhile are
 * in the socket and count, so the server is not taken for gone. */
static void test_wait_after_pause(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client_at(rr_fix.addr);
    uint64_t call;
    char out[16];
    size_t len;
    rr_assert_ok(ipc_rr_start(c, "S400", 4, 0, RR_CALL_MS, &call));
    rr_assert_err(
        ipc_rr_wait(c, call, out, sizeof out, &len, 3 * IPC_RR_PING_MS),
        IPC_ETIMEDOUT);
    tu_sleep_ms(IPC_RR_LEASE_MS + 200); /* the pause itself */
    rr_assert_ok(ipc_rr_wait(c, call, out, sizeof out, &len, 0));
    assert_int_equal(len, 4);
    assert_memory_equal(out, "S400", 4);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* The server is killed and another starts at the same port: the old
 * client's next call is refused unrun (FAIL IPC_ENOENT: unknown client),
 * the client says hello again and sends it once more: it works, and ran
 * once, at the new server. */
static void test_server_restarted(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client_at(rr_fix.addr);
    char out[16];
    size_t len;
    rr_assert_ok(
        ipc_rr_call(c, "Efirst", 6, out, sizeof out, &len, 0, RR_CALL_MS));
    tu_kill(rr_fix.server);
    rr_fix.server = 0;
    rr_server_start(&rr_fix); /* same address, same port */
    rr_assert_ok(
        ipc_rr_call(c, "Eagain", 6, out, sizeof out, &len, 0, RR_CALL_MS));
    assert_int_equal(len, 6);
    assert_memory_equal(out, "Eagain", 6);
    assert_int_equal(rr_ask(c, "N"), 2); /* "Eagain" once, then 'N' */
    assert_int_equal(rr_ask(c, "C"), 1);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* A client silent for IPC_RR_IDLE_MS is released (as a dead one would
 * be); its next call costs a hello again and works, once. */
static void test_idle_client_forgotten(void **state)
{
    (void)state;
    alarm(RR_ALARM_S + IPC_RR_IDLE_MS / 1000);
    ipc_rr_client *idle = rr_client_at(rr_fix.addr);
    ipc_rr_client *direct = rr_client_at(rr_fix.addr);
    assert_int_equal(rr_ask(direct, "C"), 2);
    int64_t t0 = tu_now_ns();
    while (rr_ask(direct, "C") != 1 &&
           tu_elapsed_ms(t0) < IPC_RR_IDLE_MS + 2 * IPC_RR_SWEEP_MS + 2000)
        tu_sleep_ms(100); /* polling the server's count */
    assert_int_equal(rr_ask(direct, "C"), 1);
    uint64_t n0 = rr_handled(direct);
    char out[16];
    size_t len;
    rr_assert_ok(
        ipc_rr_call(idle, "Eback", 5, out, sizeof out, &len, 0, RR_CALL_MS));
    assert_memory_equal(out, "Eback", 5);
    assert_int_equal(rr_handled(direct), n0 + 2); /* once, then 'N' */
    assert_int_equal(rr_ask(direct, "C"), 2);
    ipc_rr_disconnect(idle);
    ipc_rr_disconnect(direct);
    rr_finish();
}

/* kill -9 of a client: the server cannot tell, and releases it once it
 * has been silent for IPC_RR_IDLE_MS (at the next sweep). */
static void test_client_killed(void **state)
{
    (void)state;
    alarm(RR_ALARM_S + IPC_RR_IDLE_MS / 1000);
    ipc_rr_client *direct = rr_client_at(rr_fix.addr);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t kid = tu_fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        ipc_rr_client *c;
        char out[16];
        size_t len;
        close(ready[0]);
        if (ipc_rr_connect(rr_fix.addr, RR_CALL_MS, &c) != IPC_OK ||
            ipc_rr_call(c, "Ek", 2, out, sizeof out, &len, 0, RR_CALL_MS) !=
                IPC_OK ||
            write(ready[1], "r", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char r;
    assert_int_equal(read(ready[0], &r, 1), 1);
    close(ready[0]);
    assert_int_equal(rr_ask(direct, "C"), 2);
    tu_kill(kid);
    int64_t t0 = tu_now_ns();
    uint64_t n;
    while ((n = rr_ask(direct, "C")) != 1 &&
           tu_elapsed_ms(t0) < IPC_RR_IDLE_MS + 2 * IPC_RR_SWEEP_MS + 2000)
        tu_sleep_ms(50); /* polling the server's count */
    double ms = tu_elapsed_ms(t0);
    printf("FIGURE reqrep.udp.client_killed: released %.0f ms after kill -9 "
           "(IPC_RR_IDLE_MS %d, sweep %d)\n",
           ms, IPC_RR_IDLE_MS, IPC_RR_SWEEP_MS);
    assert_int_equal(n, 1);
    assert_true(ms >= IPC_RR_IDLE_MS - 1000 &&
                ms <= IPC_RR_IDLE_MS + IPC_RR_SWEEP_MS + 1000);
    ipc_rr_disconnect(direct);
    rr_finish();
}

/* Garbage at the server from a foreign socket: dropped, except a well
 * formed request of a client it does not know, answered with one 32-byte
 * FAIL IPC_ENOENT (no larger than what came: no amplification). Garbage
 * at the client: from a foreign socket the kernel drops it (the client's
 * socket is connected); from the server's address (the proxy forges it)
 * it is counted dropped. Calls go on. */
static void test_garbage(void **state)
{
    (void)state;
    struct rr_proxy px;
    rr_proxy_start(&px, rr_fix.addr);
    ipc_rr_client *c = rr_client_at(px.addr);
    char out[16];
    size_t len;
    rr_assert_ok(ipc_rr_call(c, "E1", 2, out, sizeof out, &len, 0, -1));
    int foreign = rr_udp_socket();
    struct sockaddr_in server = rr_loopback(rr_port_of(rr_fix.addr));
    unsigned char junk[64];
    tu_pattern(junk, sizeof junk, 5);
    for (size_t n = 0; n <= sizeof junk; n += 16)
        sendto(foreign, junk, n, 0, (struct sockaddr *)&server, sizeof server);
    unsigned char req[36] = {0x49, 0x52, 0x52, 0x31, RR_K_REQUEST};
    req[8] = 7;  /* slot 7 */
    req[12] = 9; /* gen 9: nobody's */
    req[16] = 1; /* id 1 */
    req[24] = 4; /* 4 bytes of payload */
    req[32] = 'E';
    sendto(foreign, req, sizeof req, 0, (struct sockaddr *)&server,
           sizeof server);
    unsigned char back[128];
    struct pollfd pfd = {.fd = foreign, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    ssize_t n = recv(foreign, back, sizeof back, 0);
    assert_int_equal(n, 32);
    assert_int_equal(back[4], RR_K_FAIL);
    assert_int_equal(back[6], IPC_ENOENT);
    /* At the client. */
    pthread_mutex_lock(&px.lock);
    struct sockaddr_storage client = px.client;
    socklen_t clen = px.client_len;
    pthread_mutex_unlock(&px.lock);
    sendto(foreign, junk, 40, 0, (struct sockaddr *)&client, clen);
    sendto(px.front, junk, 40, 0, (struct sockaddr *)&client, clen);
    sendto(px.front, junk, 3, 0, (struct sockaddr *)&client, clen);
    rr_assert_ok(ipc_rr_call(c, "E2", 2, out, sizeof out, &len, 0, -1));
    assert_memory_equal(out, "E2", 2);
    assert_int_equal(ipc_rr_dropped(c), 2);
    close(foreign);
    ipc_rr_disconnect(c);
    rr_proxy_stop(&px);
    rr_finish();
}

/* A server in this process that takes RR_MANY requests, holds them all
 * for longer than the lease while it goes on receiving (and so answering
 * pings), then replies to each. */
enum { RR_MANY = 200 };

struct rr_holder {
    ipc_rr_server *s;
    ipc_err err;
};

static void *rr_hold_all(void *arg)
{
    struct rr_holder *h = arg;
    static ipc_rr_req reqs[RR_MANY];
    static unsigned char bodies[RR_MANY][16];
    size_t lens[RR_MANY], n = 0;
    int64_t t0 = 0;
    h->err = IPC_OK;
    while (h->err == IPC_OK &&
           (n < RR_MANY ||
            tu_elapsed_ms(t0) < IPC_RR_LEASE_MS + IPC_RR_LEASE_MS / 2)) {
        unsigned char buf[64];
        size_t len;
        ipc_rr_req req;
        ipc_err err = ipc_rr_recv(h->s, buf, sizeof buf, &len, &req, 50);
        if (err == IPC_ETIMEDOUT)
            continue;
        if (err != IPC_OK || n == RR_MANY || len > sizeof bodies[0])
            h->err = err != IPC_OK ? err : IPC_EPROTO;
        else {
            reqs[n] = req;
            memcpy(bodies[n], buf, len);
            lens[n++] = len;
            if (n == RR_MANY)
                t0 = tu_now_ns();
        }
    }
    for (size_t i = 0; i < n && h->err == IPC_OK; i++)
        h->err = ipc_rr_reply(h->s, &reqs[i], bodies[i], lens[i], 1000);
    return NULL;
}

/* More calls waiting than a ping can name (IPC_RR_PING_IDS), held by a
 * live server past the lease: the pings, at their longest, are answered,
 * and every call gets its reply (a server that refused the longest ping
 * let the lease run out: every call failed IPC_ECLOSED). */
static void test_many_waiting(void **state)
{
    (void)state;
    struct rr_env env = {.server = 0};
    rr_address(&env);
    struct rr_holder h = {0};
    rr_assert_ok(ipc_rr_serve(env.addr, 0, &h.s));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, rr_hold_all, &h), 0);
    ipc_rr_client *c = rr_client_at(env.addr);
    static uint64_t calls[RR_MANY];
    for (int i = 0; i < RR_MANY; i++) {
        char body[16];
        int n = snprintf(body, sizeof body, "E%d", i);
        rr_assert_ok(ipc_rr_start(c, body, (size_t)n, 0, 10000, &calls[i]));
    }
    int ok = 0;
    for (int i = 0; i < RR_MANY; i++) {
        char out[16], want[16];
        size_t len;
        int n = snprintf(want, sizeof want, "E%d", i);
        ipc_err err = ipc_rr_wait(c, calls[i], out, sizeof out, &len, -1);
        ok += err == IPC_OK && len == (size_t)n && memcmp(out, want, len) == 0;
    }
    pthread_join(th, NULL);
    assert_int_equal(h.err, IPC_OK);
    assert_int_equal(ok, RR_MANY);
    ipc_rr_disconnect(c);
    ipc_rr_server_close(h.s);
    rr_cleanup(&env);
}

int rr_udp_run(void)
{
    const struct CMUnitTest tests[] = {
#define RR_U(t) cmocka_unit_test_setup_teardown(t, udp_setup, udp_teardown)
        RR_U(test_lost_request),       RR_U(test_lost_reply),
        RR_U(test_duplicated_request), RR_U(test_server_killed),
        RR_U(test_server_silent),      RR_U(test_wait_after_pause),
        RR_U(test_server_restarted),   RR_U(test_idle_client_forgotten),
        RR_U(test_client_killed),      RR_U(test_garbage),
        RR_U(test_many_waiting),
#undef RR_U
    };
    return cmocka_run_group_tests_name("reqrep.udp.lossy", tests, NULL, NULL);
}
