/* SPDX-License-Identifier: MIT */
/* Request/reply contract suite, run once per backend: ipc_reqrep <backend>.
 * Real server and client processes, killed at chosen instants. */
#include "rr_harness.h"

#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool rr_udp(void)
{
    return strcmp(rr_backend, "udp") == 0;
}

/* The server's client count ('C', after a sweep) is want. A udp server
 * cannot see a client die: it releases one silent for IPC_RR_IDLE_MS, at
 * the sweep after that; this client's own asking keeps it alive. */
static void rr_await_clients(ipc_rr_client *c, uint64_t want)
{
    if (!rr_udp()) {
        assert_int_equal(rr_ask(c, "C"), want);
        return;
    }
    int64_t t0 = tu_now_ns();
    uint64_t n;
    while ((n = rr_ask(c, "C")) != want &&
           tu_elapsed_ms(t0) < IPC_RR_IDLE_MS + 2 * IPC_RR_SWEEP_MS + 2000)
        tu_sleep_ms(100); /* polling the server's count: nothing to await */
    assert_int_equal(n, want);
}

static void test_echo(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    char out[256];
    size_t len = 99;
    rr_assert_ok(
        ipc_rr_call(c, "Ehello", 6, out, sizeof out, &len, 0, RR_CALL_MS));
    assert_int_equal(len, 6);
    assert_memory_equal(out, "Ehello", 6);
    /* The largest payload both ways. */
    size_t max = ipc_rr_max_payload(c);
    unsigned char *big = malloc(max), *back = malloc(max);
    assert_non_null(big);
    assert_non_null(back);
    tu_pattern(big, max, 7);
    big[0] = 'E';
    rr_assert_ok(ipc_rr_call(c, big, max, back, max, &len, 0, RR_CALL_MS));
    assert_int_equal(len, max);
    assert_memory_equal(back, big, max);
    /* One byte more is refused before anything is sent. */
    uint64_t call;
    rr_assert_err(ipc_rr_start(c, big, max + 1, 0, RR_CALL_MS, &call),
                  IPC_EMSGSIZE);
    free(big);
    free(back);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* 16 calls in flight, waited for in reverse order: each gets its own. */
static void test_in_flight(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    uint64_t calls[16];
    char req[16][8];
    for (int i = 0; i < 16; i++) {
        snprintf(req[i], sizeof req[i], "E%02d", i);
        rr_assert_ok(ipc_rr_start(c, req[i], 4, 0, RR_CALL_MS, &calls[i]));
    }
    for (int i = 15; i >= 0; i--) {
        char out[8];
        size_t len;
        rr_assert_ok(
            ipc_rr_wait(c, calls[i], out, sizeof out, &len, RR_CALL_MS));
        assert_int_equal(len, 4);
        assert_memory_equal(out, req[i], 4);
    }
    /* Done calls are not pending any more. */
    char out[8];
    size_t len;
    rr_assert_err(ipc_rr_wait(c, calls[3], out, sizeof out, &len, 0),
                  IPC_EINVAL);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* The server keeps 5 requests and answers them newest first. */
static void test_out_of_order(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    uint64_t calls[5], flush;
    for (int i = 0; i < 5; i++) {
        char req[4] = {'D', (char)('0' + i), 0, 0};
        rr_assert_ok(ipc_rr_start(c, req, 2, 0, RR_CALL_MS, &calls[i]));
    }
    rr_assert_ok(ipc_rr_start(c, "F", 1, 0, RR_CALL_MS, &flush));
    for (int i = 0; i < 5; i++) {
        char out[8];
        size_t len;
        rr_assert_ok(
            ipc_rr_wait(c, calls[i], out, sizeof out, &len, RR_CALL_MS));
        assert_int_equal(len, 2);
        assert_int_equal(out[1], '0' + i);
    }
    char out[8];
    size_t len;
    rr_assert_ok(ipc_rr_wait(c, flush, out, sizeof out, &len, RR_CALL_MS));
    assert_int_equal(out[0], 'F');
    assert_int_equal(ipc_rr_dropped(c), 0);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* A call that times out is over; its late reply never reaches the next. */
static void test_timeout_late_reply(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    char out[16];
    size_t len;
    int64_t t0 = tu_now_ns();
    rr_assert_err(ipc_rr_call(c, "S300", 4, out, sizeof out, &len, 0, 50),
                  IPC_ETIMEDOUT);
    double ms = tu_elapsed_ms(t0);
    assert_true(ms >= 50 && ms < 2000); /* loaded CI machines */
    /* The next call waits past the late reply and gets its own. */
    rr_assert_ok(
        ipc_rr_call(c, "Enext", 5, out, sizeof out, &len, 0, RR_CALL_MS));
    assert_int_equal(len, 5);
    assert_memory_equal(out, "Enext", 5);
    assert_int_equal(ipc_rr_dropped(c), 1);
    /* Timeout 0 never blocks. */
    uint64_t call;
    rr_assert_ok(ipc_rr_start(c, "S100", 4, 0, RR_CALL_MS, &call));
    rr_assert_err(ipc_rr_wait(c, call, out, sizeof out, &len, 0), IPC_EAGAIN);
    /* ... and leaves the call pending: wait again. */
    rr_assert_ok(ipc_rr_wait(c, call, out, sizeof out, &len, RR_CALL_MS));
    assert_memory_equal(out, "S100", 4);
    ipc_rr_disconnect(c);
    rr_finish();
}

static void test_cancel(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    uint64_t slow, fast;
    char out[16];
    size_t len;
    rr_assert_ok(ipc_rr_start(c, "S100", 4, 0, RR_CALL_MS, &slow));
    rr_assert_ok(ipc_rr_cancel(c, slow));
    rr_assert_err(ipc_rr_cancel(c, slow), IPC_EINVAL);
    rr_assert_err(ipc_rr_wait(c, slow, out, sizeof out, &len, 0), IPC_EINVAL);
    rr_assert_ok(ipc_rr_start(c, "Eafter", 6, 0, RR_CALL_MS, &fast));
    rr_assert_ok(ipc_rr_wait(c, fast, out, sizeof out, &len, RR_CALL_MS));
    assert_int_equal(len, 6);
    assert_memory_equal(out, "Eafter", 6);
    assert_int_equal(ipc_rr_dropped(c), 1);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* A reply too big for the channel: IPC_EMSGSIZE at the server, and the
 * client's call fails at once instead of waiting. A buffer too small for a
 * reply keeps it for a retry. */
static void test_oversize(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    char out[16];
    size_t len = 99;
    int64_t t0 = tu_now_ns();
    rr_assert_err(ipc_rr_call(c, "B", 1, out, sizeof out, &len, 0, -1),
                  IPC_EMSGSIZE);
    assert_true(tu_elapsed_ms(t0) < 1000);
    assert_int_equal(len, 0);
    assert_int_equal(rr_ask(c, "L"), IPC_EMSGSIZE);
    uint64_t call;
    rr_assert_ok(ipc_rr_start(c, "E123456789", 10, 0, RR_CALL_MS, &call));
    rr_assert_err(ipc_rr_wait(c, call, out, 4, &len, RR_CALL_MS), IPC_EMSGSIZE);
    assert_int_equal(len, 10);
    rr_assert_ok(ipc_rr_wait(c, call, out, sizeof out, &len, RR_CALL_MS));
    assert_memory_equal(out, "E123456789", 10);
    ipc_rr_disconnect(c);
    rr_finish();
}

static void test_peer_uid_and_thread(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    uint64_t uid = rr_ask(c, "U");
    if (strcmp(rr_backend, "unix") == 0)
        assert_int_equal(uid, (uint64_t)getuid());
    else
        assert_int_equal(uid, 0xffffffff00000000ull | IPC_ENOTSUP);
    char out[16];
    size_t len;
    rr_assert_ok(
        ipc_rr_call(c, "Tthread", 7, out, sizeof out, &len, 0, RR_CALL_MS));
    assert_int_equal(len, 7);
    assert_memory_equal(out, "Tthread", 7);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* 8 client processes x 300 calls, each reply checked: exactly once. */
static void test_many_clients(void **state)
{
    (void)state;
    enum { CLIENTS = 8, CALLS = RR_MANY_CALLS };
    pid_t kids[CLIENTS];
    for (int k = 0; k < CLIENTS; k++)
        kids[k] = rr_fork_role("many", rr_fix.addr, -1, k);
    for (int k = 0; k < CLIENTS; k++) {
        int status;
        assert_true(tu_wait(kids[k], 60000, &status));
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ipc_rr_client *c = rr_client();
    /* Every request handled once: the calls plus this 'N'. */
    assert_int_equal(rr_ask(c, "N"), CLIENTS * CALLS + 1);
    /* Every client said goodbye: only this one is left. */
    assert_int_equal(rr_ask(c, "C"), 1);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* kill -9 of the server while 3 calls wait with timeout -1: every one fails
 * with IPC_ECLOSED, promptly. */
static void test_server_killed(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    uint64_t calls[3];
    for (int i = 0; i < 3; i++)
        rr_assert_ok(ipc_rr_start(c, "S10000", 6, 0, RR_CALL_MS, &calls[i]));
    tu_sleep_ms(50); /* the server is inside the first call */
    int64_t t0 = tu_now_ns();
    kill(rr_fix.server, SIGKILL);
    char out[16];
    size_t len;
    rr_assert_err(ipc_rr_wait(c, calls[0], out, sizeof out, &len, -1),
                  IPC_ECLOSED);
    double ms = tu_elapsed_ms(t0);
    rr_assert_err(ipc_rr_wait(c, calls[1], out, sizeof out, &len, -1),
                  IPC_ECLOSED);
    rr_assert_err(ipc_rr_wait(c, calls[2], out, sizeof out, &len, -1),
                  IPC_ECLOSED);
    rr_assert_err(ipc_rr_start(c, "E", 1, 0, 100, &calls[0]), IPC_ECLOSED);
    assert_true(ms < 1000); /* test_server_death_times measures it */
    tu_wait(rr_fix.server, 5000, NULL);
    rr_fix.server = 0;
    ipc_rr_disconnect(c);
    rr_cleanup(&rr_fix);
    rr_leaks_check(&rr_fix_leaks);
}

/* Replies come back on the request's connection. */
static bool rr_conn_backend(void)
{
    return strcmp(rr_backend, "unix") == 0 || strcmp(rr_backend, "tcp") == 0 ||
           rr_nng();
}

/* Does this backend's reply channel give a descriptor, so that a call
 * waits on it and the server's pidfd together (an event, no tick)? */
static bool rr_event_backend(void)
{
    return strcmp(rr_backend, "sysv") != 0; /* named shm ends poll now */
}

static int rr_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Server death detection, measured: RR_DEATH_ROUNDS rounds of a fresh
 * server killed with -9 while RR_DEATH_CALLS calls wait with timeout -1;
 * the time from kill() to the last call's IPC_ECLOSED. Figures printed;
 * the bounds asserted are generous (a loaded machine delays the dying
 * process's exit and our wake-up), the tick's own bound is IPC_RR_TICK_MS. */
#define RR_DEATH_ROUNDS 20
#define RR_DEATH_CALLS  8

static double rr_death_round(void)
{
    ipc_rr_client *c = rr_client();
    uint64_t calls[RR_DEATH_CALLS];
    for (int i = 0; i < RR_DEATH_CALLS; i++)
        rr_assert_ok(ipc_rr_start(c, "S10000", 6, 0, RR_CALL_MS, &calls[i]));
    int64_t t0 = tu_now_ns();
    assert_int_equal(kill(rr_fix.server, SIGKILL), 0);
    for (int i = 0; i < RR_DEATH_CALLS; i++) {
        char out[16];
        size_t len;
        rr_assert_err(ipc_rr_wait(c, calls[i], out, sizeof out, &len, -1),
                      IPC_ECLOSED);
    }
    double ms = tu_elapsed_ms(t0);
    assert_true(tu_wait(rr_fix.server, 5000, NULL));
    rr_fix.server = 0;
    ipc_rr_disconnect(c);
    rr_cleanup(&rr_fix);
    return ms;
}

static void test_server_death_times(void **state)
{
    (void)state;
    double ms[RR_DEATH_ROUNDS];
    for (int r = 0; r < RR_DEATH_ROUNDS; r++) {
        if (r > 0) {
            rr_address(&rr_fix);
            rr_server_start(&rr_fix);
        }
        ms[r] = rr_death_round();
    }
    qsort(ms, RR_DEATH_ROUNDS, sizeof ms[0], rr_cmp_double);
    double median = (ms[RR_DEATH_ROUNDS / 2 - 1] + ms[RR_DEATH_ROUNDS / 2]) / 2;
    double max = ms[RR_DEATH_ROUNDS - 1];
    printf("FIGURE reqrep.server_death.%s: kill -9 to the last of %d pending "
           "calls' IPC_ECLOSED: median %.2f ms, min %.2f, max %.2f over %d "
           "rounds (%s)\n",
           rr_backend, RR_DEATH_CALLS, median, ms[0], max, RR_DEATH_ROUNDS,
           rr_udp()               ? "event: a ping's ICMP port unreachable"
           : rr_conn_backend()    ? "event: the connection closes"
           : rr_backend[0] != 's' ? "event: the reply channel's "
                                    "sender is gone"
           : rr_event_backend()   ? "event: pidfd + reply channel"
                                  : "tick: IPC_RR_TICK_MS");
    assert_true(median < 250);
    assert_true(max < 3000);
    rr_leaks_check(&rr_fix_leaks);
}

/* A call waiting on a live server sleeps: where the reply channel has a
 * descriptor it sleeps in one poll() for the whole wait (a handful of
 * voluntary context switches, where a tick would make 30 in 300 ms);
 * elsewhere it wakes about once a tick to look at the server, and no more
 * than a generous multiple of that (no busy loop). Counted, not timed. */
/* The waiting thread's own switches where the OS counts them apart (nng's
 * threads, still writing the request, are not the wait). */
#ifdef RUSAGE_THREAD
#define RR_RUSAGE_WHO RUSAGE_THREAD
#else
#define RR_RUSAGE_WHO RUSAGE_SELF
#endif

static void test_wait_sleeps(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    uint64_t call;
    rr_assert_ok(ipc_rr_start(c, "D", 1, 0, RR_CALL_MS, &call)); /* kept */
    struct rusage before, after;
    char out[16];
    size_t len;
    getrusage(RR_RUSAGE_WHO, &before);
    rr_assert_err(ipc_rr_wait(c, call, out, sizeof out, &len, 300),
                  IPC_ETIMEDOUT);
    getrusage(RR_RUSAGE_WHO, &after);
    long wakes = after.ru_nvcsw - before.ru_nvcsw;
    printf("FIGURE reqrep.wait_wakeups.%s: %ld voluntary context switches "
           "in a 300 ms wait\n",
           rr_backend, wakes);
    if (rr_udp()) /* a ping and its pong each IPC_RR_PING_MS */
        assert_true(wakes < 2 * (300 / IPC_RR_PING_MS) + 6);
    else if (rr_event_backend())
        assert_true(wakes < 10);
    else
        assert_true(wakes < 300 / IPC_RR_TICK_MS * 20);
    rr_assert_ok(ipc_rr_cancel(c, call));
    ipc_rr_disconnect(c);
    rr_finish();
}

/* A client role: connect, run prepare (0: go on; keep_fd is the
 * descriptor it must leave open), say so on fd and wait to be killed. */
static int rr_client_main(const char *addr, int fd,
                          int (*prepare)(ipc_rr_client *c, int keep_fd))
{
    ipc_rr_client *c;
    if (ipc_rr_connect(addr, RR_CALL_MS, &c) != IPC_OK || prepare(c, fd) != 0 ||
        write(fd, "r", 1) != 1)
        return 1;
    pause();
    return 0;
}

/* Fork a client process of role (rr_role_main) and return its pid once
 * it said it is ready. */
static pid_t rr_spawn_client(const char *role)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t kid = rr_fork_role(role, rr_fix.addr, ready[1], 0);
    close(ready[1]);
    char r;
    assert_int_equal(read(ready[0], &r, 1), 1);
    close(ready[0]);
    return kid;
}

static int rr_two_pending(ipc_rr_client *c, int keep_fd)
{
    uint64_t call;
    (void)keep_fd;
    return ipc_rr_start(c, "S200", 4, 0, RR_CALL_MS, &call) != IPC_OK ||
           ipc_rr_start(c, "S200", 4, 0, RR_CALL_MS, &call) != IPC_OK;
}

/* kill -9 of a client with calls pending: the server answers into the void,
 * goes on serving, and keeps nothing of it. */
static void test_client_killed(void **state)
{
    (void)state;
    pid_t kid = rr_spawn_client("two_pending");
    tu_kill(kid);
    ipc_rr_client *c = rr_client();
    char out[16];
    size_t len;
    rr_assert_ok(
        ipc_rr_call(c, "Estill", 6, out, sizeof out, &len, 0, RR_CALL_MS));
    assert_memory_equal(out, "Estill", 6);
    /* The sweep ('C') finds the dead client, if a failed reply did not. */
    rr_await_clients(c, 1);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* A client killed during its connect (reply channel made, hello not yet
 * answered) leaves a name that the next connect removes. */
static void test_client_killed_in_connect(void **state)
{
    (void)state;
    kill(rr_fix.server, SIGSTOP); /* no welcome will come */
    pid_t kid = rr_fork_role("connect_forever", rr_fix.addr, -1, 0);
    tu_sleep_ms(200);
    tu_kill(kid);
    kill(rr_fix.server, SIGCONT);
    ipc_rr_client *c = rr_client();
    rr_await_clients(c, 1); /* udp: its hello is served late, then idle */
    ipc_rr_disconnect(c);
    rr_finish();
}

static void rr_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A hostile peer on the request channel: a hello naming another object as
 * its reply channel (the server must neither write to it nor remove it),
 * then garbage. The server goes on serving. The bytes follow the wire
 * layout of src/reqrep/rr_int.h. */
static void test_hostile_peer(void **state)
{
    (void)state;
    if (rr_nng()) { /* what a hostile nng peer meets: rr_nng.c */
        rr_nng_hostile_peer(rr_fix.addr);
        rr_finish();
        return;
    }
    struct rr_env decoy = {.server = 0};
    rr_address(&decoy);
    ipc_channel *victim, *raw;
    rr_assert_ok(ipc_open(decoy.addr, IPC_F_RECV | IPC_F_CREATE | IPC_F_EXCL,
                          1000, &victim));
    rr_assert_ok(ipc_open(rr_fix.addr, IPC_F_SEND, 1000, &raw));
    unsigned char msg[512] = {0};
    size_t alen = strlen(decoy.addr), plen = 16 + alen;
    rr_put32(msg, 0x31525249u); /* magic */
    msg[4] = 1;                 /* hello */
    rr_put32(msg + 16, 77);     /* id */
    rr_put32(msg + 24, (uint32_t)plen);
    rr_put32(msg + 32, (uint32_t)getpid());
    memcpy(msg + 48, decoy.addr, alen);
    rr_assert_ok(ipc_send(raw, msg, 32 + plen, 0, 1000));
    tu_pattern(msg, sizeof msg, 3);
    rr_assert_ok(ipc_send(raw, msg, 40, 0, 1000));
    rr_assert_ok(ipc_send(raw, msg, 3, 0, 1000));
    ipc_close(raw);
    ipc_rr_client *c = rr_client();
    assert_int_equal(rr_ask(c, "C"), 1); /* the hello did not register */
    char buf[64];
    size_t len;
    rr_assert_err(ipc_recv(victim, buf, sizeof buf, &len, NULL, 200),
                  IPC_ETIMEDOUT);
    ipc_rr_disconnect(c);
    /* Still there (a tcp port goes only with its receiver: busy). */
    rr_assert_err(ipc_unlink(decoy.addr),
                  strcmp(rr_backend, "tcp") == 0 || rr_udp() ? IPC_EBUSY
                                                             : IPC_OK);
    ipc_close(victim);
    rr_cleanup(&decoy);
    rr_finish();
}

/* pipe: has no name: refused before anything is opened. */
static void test_not_supported(void **state)
{
    (void)state;
    static const char *refused[] = {"pipe:"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ipc_rr_server *s = NULL;
        ipc_rr_client *c = NULL;
        rr_assert_err(ipc_rr_serve(refused[i], 0, &s), IPC_ENOTSUP);
        assert_non_null(strstr(ipc_last_detail(), refused[i][0] == 'p'
                                                      ? "several clients"
                                                      : "another host"));
        rr_assert_err(ipc_rr_connect(refused[i], 100, &c), IPC_ENOTSUP);
        assert_null(s);
        assert_null(c);
    }
    rr_finish();
}

/* ------------------------------------------ unix: replies on the connection */

/* Sockets named like a reply channel of this server ("<name>.rr."): in
 * the test directory, and (Linux) abstract ones, in /proc/net/unix. */
static size_t rr_reply_sockets(void)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.rr.", strrchr(rr_fix.addr, '/') + 1);
    size_t n = 0;
    DIR *d = opendir(tu_tmpdir());
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    FILE *f = fopen("/proc/net/unix", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, prefix) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* unix: a reply comes back on the connection its request went on, so a
 * client makes no socket of its own (it made an abstract one before):
 * with two clients connected and a call made, none is named like one. */
static void test_reply_on_connection(void **state)
{
    (void)state;
    ipc_rr_client *a = rr_client(), *b = rr_client();
    char out[16];
    size_t len;
    rr_assert_ok(ipc_rr_call(a, "Ea", 2, out, sizeof out, &len, 0, RR_CALL_MS));
    rr_assert_ok(ipc_rr_call(b, "Eb", 2, out, sizeof out, &len, 0, RR_CALL_MS));
    assert_int_equal(rr_reply_sockets(), 0);
    ipc_rr_disconnect(a);
    ipc_rr_disconnect(b);
    rr_finish();
}

/* nng's threads panic ("write to epoll fd incorrect") when their
 * descriptors are closed under them: there the connection is shut down
 * instead (every connected socket), which ends it as the close does, and
 * nng lives on. */
static int rr_call_and_close_all(ipc_rr_client *c, int keep_fd)
{
    char out[16];
    size_t len;
    if (ipc_rr_call(c, "Ek", 2, out, sizeof out, &len, 0, RR_CALL_MS) != IPC_OK)
        return 1;
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_storage ss;
        socklen_t n = sizeof ss;
        if (fd == keep_fd)
            continue;
        if (!rr_nng())
            close(fd);
        else if (getpeername(fd, (struct sockaddr *)&ss, &n) == 0)
            shutdown(fd, SHUT_RDWR);
    }
    return 0;
}

/* unix, tcp, nng: a client is its connection. One whose process lives on
 * but has closed every descriptor (nng: shut down its connection; no
 * goodbye sent) is released by the next sweep, which a judge by pid would
 * never do. */
static void test_connection_closed(void **state)
{
    (void)state;
    pid_t kid = rr_spawn_client("call_close_all");
    ipc_rr_client *c = rr_client();
    uint64_t n = rr_ask(c, "C");
    /* nng: the shutdown reaches the server through nng's threads. */
    for (int64_t t0 = tu_now_ns();
         n != 1 && rr_nng() && tu_elapsed_ms(t0) < 1000; n = rr_ask(c, "C"))
        tu_sleep_ms(10);
    assert_int_equal(n, 1); /* the child is alive, yet gone */
    tu_kill(kid);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* A peer at the address that is no libipc server and answers garbage on
 * the connection: the connect fails with IPC_EPROTO (unix: its first
 * record is no hello; tcp: no frame), in time, and leaves nothing. */
static void test_hostile_server(void **state)
{
    (void)state;
    char addr[256];
    int lfd = rr_raw_listener(addr, sizeof addr);
    pid_t raw = tu_spawn(rr_garbage_server, &lfd);
    ipc_rr_client *c = NULL;
    int64_t t0 = tu_now_ns();
    rr_assert_err(ipc_rr_connect(addr, 3000, &c), IPC_EPROTO);
    assert_null(c);
    assert_true(tu_elapsed_ms(t0) < 2500);
    tu_kill(raw);
    close(lfd);
    if (strncmp(addr, "unix:", 5) == 0)
        unlink(addr + 5);
    if (strncmp(addr, "nng+ipc://", 10) == 0)
        unlink(addr + 10);
    rr_finish();
}

/* unix with capacity=0: each request is a rendezvous offer (its send
 * returns once the server took it), and the replies plain messages on the
 * way back; calls, several in flight, work as on any channel. */
static void test_rendezvous_requests(void **state)
{
    (void)state;
    struct rr_env rv = {.server = 0};
    rr_address(&rv);
    size_t n = strlen(rv.addr);
    snprintf(rv.addr + n, sizeof rv.addr - n, "?capacity=0");
    rr_server_start(&rv);
    ipc_rr_client *c;
    rr_assert_ok(ipc_rr_connect(rv.addr, RR_CALL_MS, &c));
    uint64_t first, second;
    rr_assert_ok(ipc_rr_start(c, "Eone", 4, 0, RR_CALL_MS, &first));
    rr_assert_ok(ipc_rr_start(c, "Etwo", 4, 0, RR_CALL_MS, &second));
    char out[16];
    size_t len;
    rr_assert_ok(ipc_rr_wait(c, second, out, sizeof out, &len, RR_CALL_MS));
    assert_memory_equal(out, "Etwo", 4);
    rr_assert_ok(ipc_rr_wait(c, first, out, sizeof out, &len, RR_CALL_MS));
    assert_memory_equal(out, "Eone", 4);
    ipc_rr_disconnect(c);
    rr_server_stop(&rv);
    rr_cleanup(&rv);
    rr_finish();
}

int rr_role_main(const char *role, const char *addr, int fd, int arg)
{
    if (strcmp(role, "serve") == 0)
        return rr_serve_main(addr, fd);
    if (strcmp(role, "many") == 0)
        return rr_many_main(addr, arg);
    if (strcmp(role, "two_pending") == 0)
        return rr_client_main(addr, fd, rr_two_pending);
    if (strcmp(role, "call_close_all") == 0)
        return rr_client_main(addr, fd, rr_call_and_close_all);
    if (strcmp(role, "connect_forever") == 0)
        return rr_connect_forever(addr);
    if (strcmp(role, "stuck") == 0)
        return rr_nng_stuck_main(addr, fd);
    fprintf(stderr, "ipc_reqrep: no role %s\n", role);
    return 126;
}

int main(int argc, char **argv)
{
    static const char *known[] = {"unix", "fifo", "mq",  "sysv",   "shm",
                                  "tcp",  "udp",  "nng", "nng_tcp"};
    if (argc == 7 && strcmp(argv[1], RR_ROLE_ARG) == 0) {
        rr_backend = argv[3];
        signal(SIGPIPE, SIG_IGN);
        int rc = rr_role_main(argv[2], argv[4], atoi(argv[5]), atoi(argv[6]));
        /* As a forked child leaves: no atexit work (nng's included). */
        fflush(NULL);
        _exit(rc);
    }
    rr_backend = argc > 1 ? argv[1] : "";
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ok |= strcmp(rr_backend, known[i]) == 0;
    if (!ok) {
        fprintf(stderr, "usage: %s unix|fifo|mq|sysv|shm|tcp|udp|nng|nng_tcp\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
#define RR_T(t) cmocka_unit_test_setup_teardown(t, rr_setup, rr_teardown)
        RR_T(test_echo),
        RR_T(test_in_flight),
        RR_T(test_out_of_order),
        RR_T(test_timeout_late_reply),
        RR_T(test_cancel),
        RR_T(test_oversize),
        RR_T(test_peer_uid_and_thread),
        RR_T(test_many_clients),
        RR_T(test_server_killed),
        RR_T(test_server_death_times),
        RR_T(test_wait_sleeps),
        RR_T(test_client_killed),
        RR_T(test_client_killed_in_connect),
        RR_T(test_hostile_peer),
        RR_T(test_not_supported),
    };
    /* Where replies come back on the request's connection (unix, tcp;
     * unix's reply channels had names, tcp had none). */
    const struct CMUnitTest conn_tests[] = {
        RR_T(test_connection_closed),
        RR_T(test_hostile_server),
        RR_T(test_reply_on_connection), /* unix only from here on */
        RR_T(test_rendezvous_requests),
    };
    char group[64];
    snprintf(group, sizeof group, "reqrep.%s", rr_backend);
    int failed = cmocka_run_group_tests_name(group, tests, NULL, NULL);
    bool unix_rr = strcmp(rr_backend, "unix") == 0;
    if (rr_conn_backend()) {
        snprintf(group, sizeof group, "reqrep.%s.connection", rr_backend);
        failed += _cmocka_run_group_tests(group, conn_tests, unix_rr ? 4 : 2,
                                          NULL, NULL);
    }
    if (rr_udp())
        failed += rr_udp_run();
    if (rr_nng())
        failed += rr_nng_tests();
    return failed;
}
