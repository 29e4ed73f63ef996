/* SPDX-License-Identifier: MIT */
/* Request/reply over nng+ (raw req, rep with contexts, replies on the
 * request's pipe): what nng's own req would do differently, and a client
 * that reads no replies. Run by ipc_reqrep nng|nng_tcp after the contract
 * suite. */
#include "rr_harness.h"

#include <cmocka.h>
#include <dirent.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The server killed (-9) while 4 calls wait with timeout -1: its pipe's
 * removal fails them all with IPC_ECLOSED within 500 ms (an event, no
 * tick or keepalive). */
static void test_nng_server_killed(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    uint64_t calls[4];
    for (int i = 0; i < 4; i++)
        rr_assert_ok(ipc_rr_start(c, "S10000", 6, 0, RR_CALL_MS, &calls[i]));
    tu_sleep_ms(50);
    int64_t t0 = tu_now_ns();
    assert_int_equal(kill(rr_fix.server, SIGKILL), 0);
    char out[16];
    size_t len;
    for (int i = 3; i >= 0; i--)
        rr_assert_err(ipc_rr_wait(c, calls[i], out, sizeof out, &len, -1),
                      IPC_ECLOSED);
    double ms = tu_elapsed_ms(t0);
    printf("FIGURE reqrep.nng_server_killed.%s: kill -9 to the 4th "
           "IPC_ECLOSED: %.2f ms\n",
           rr_backend, ms);
    assert_true(ms < 500);
    uint64_t call;
    rr_assert_err(ipc_rr_start(c, "E", 1, 0, 100, &call), IPC_ECLOSED);
    assert_true(tu_wait(rr_fix.server, 5000, NULL));
    rr_fix.server = 0;
    ipc_rr_disconnect(c);
    rr_cleanup(&rr_fix);
    rr_leaks_check(&rr_fix_leaks);
}

/* Descriptors open in process pid (its /proc/<pid>/fd). */
static int nng_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* A client process of role that said it is ready. */
static pid_t nng_spawn(const char *role)
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

/* A client killed (-9) with two calls pending: within a second the
 * server's count of clients is back to what it was, and so are its
 * descriptors (the connection, the way back's pipe). */
static void test_nng_client_killed(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    assert_int_equal(rr_ask(c, "C"), 1);
    int fds = nng_fds(rr_fix.server);
    pid_t kid = nng_spawn("two_pending");
    assert_int_equal(rr_ask(c, "C"), 2);
    assert_true(nng_fds(rr_fix.server) > fds);
    tu_kill(kid);
    int64_t t0 = tu_now_ns();
    uint64_t clients;
    while ((clients = rr_ask(c, "C")) != 1 && tu_elapsed_ms(t0) < 1000)
        tu_sleep_ms(10);
    assert_int_equal(clients, 1);
    int now;
    while ((now = nng_fds(rr_fix.server)) != fds && tu_elapsed_ms(t0) < 1000)
        tu_sleep_ms(10);
    assert_int_equal(now, fds);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* No resend. A call in the server's hands, and one sent while the server
 * is stopped (SIGSTOP, its connection up), both time out and are
 * cancelled; continued, the server ran each exactly once (its count of
 * requests), and both late replies were dropped. nng's cooked req would
 * send a timed-out request again. */
static void test_nng_no_resend(void **state)
{
    (void)state;
    ipc_rr_client *c = rr_client();
    uint64_t before = rr_ask(c, "N");
    uint64_t first, second;
    rr_assert_ok(ipc_rr_start(c, "S300", 4, 0, RR_CALL_MS, &first));
    tu_sleep_ms(50);
    assert_int_equal(kill(rr_fix.server, SIGSTOP), 0);
    rr_assert_ok(ipc_rr_start(c, "Esecond", 7, 0, RR_CALL_MS, &second));
    char out[16];
    size_t len;
    rr_assert_err(ipc_rr_wait(c, first, out, sizeof out, &len, 1000),
                  IPC_ETIMEDOUT);
    rr_assert_err(ipc_rr_wait(c, second, out, sizeof out, &len, 200),
                  IPC_ETIMEDOUT);
    rr_assert_ok(ipc_rr_cancel(c, first));
    rr_assert_ok(ipc_rr_cancel(c, second));
    assert_int_equal(kill(rr_fix.server, SIGCONT), 0);
    tu_sleep_ms(500);
    assert_int_equal(rr_ask(c, "N"), before + 3); /* S300, Esecond, N */
    assert_int_equal(ipc_rr_dropped(c), 2);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* A new server at the address of one that died (kill -9): the old
 * client's pending call failed, and it stays closed after its dialer has
 * reached the new server; a new connect works, and the new server never
 * saw the old client's request (nng's cooked req would re-queue it on the
 * new connection) nor counts the old client. */
static void test_nng_new_server(void **state)
{
    (void)state;
    ipc_rr_client *old = rr_client();
    uint64_t call;
    rr_assert_ok(ipc_rr_start(old, "S10000", 6, 0, RR_CALL_MS, &call));
    tu_sleep_ms(50);
    assert_int_equal(kill(rr_fix.server, SIGKILL), 0);
    char out[16];
    size_t len;
    rr_assert_err(ipc_rr_wait(old, call, out, sizeof out, &len, -1),
                  IPC_ECLOSED);
    assert_true(tu_wait(rr_fix.server, 5000, NULL));
    rr_fix.server = 0;
    rr_server_start(&rr_fix); /* the same address */
    tu_sleep_ms(600); /* the old dialer redials after 100 ms, then 200 */
    rr_assert_err(ipc_rr_start(old, "E", 1, 0, 100, &call), IPC_ECLOSED);
    ipc_rr_client *c = rr_client();
    assert_int_equal(rr_ask(c, "N"), 1);
    assert_int_equal(rr_ask(c, "C"), 1);
    ipc_rr_disconnect(old);
    ipc_rr_disconnect(c);
    rr_finish();
}

/* Calls the stuck client makes, and the reply each gets: together more
 * than the connection's buffers hold (unix: ~200 KiB; loopback TCP: some
 * MiB). */
#define NNG_STUCK_CALLS 256
#define NNG_STUCK_REPLY 60000

/* Role "stuck": NNG_STUCK_CALLS calls started, ready said; (the test
 * stops this process here, replies pile up, then continues it) then every
 * call must end within its timeout: exit 0 if some ended IPC_ECLOSED and
 * none timed out, 1 on a timeout, 2 if none was IPC_ECLOSED. */
int rr_nng_stuck_main(const char *addr, int fd)
{
    ipc_rr_client *c;
    static uint64_t calls[NNG_STUCK_CALLS];
    if (ipc_rr_connect(addr, RR_CALL_MS, &c) != IPC_OK)
        return 3;
    for (int i = 0; i < NNG_STUCK_CALLS; i++)
        if (ipc_rr_start(c, "x", 1, 0, 20000, &calls[i]) != IPC_OK)
            return 3;
    if (write(fd, "r", 1) != 1)
        return 3;
    static char out[NNG_STUCK_REPLY];
    int closed = 0;
    for (int i = 0; i < NNG_STUCK_CALLS; i++) {
        size_t len;
        ipc_err err = ipc_rr_wait(c, calls[i], out, sizeof out, &len, -1);
        if (err == IPC_ETIMEDOUT)
            return 1;
        closed += err == IPC_ECLOSED;
    }
    ipc_rr_disconnect(c);
    return closed ? 0 : 2;
}

/* A client that reads no replies (stopped: its connection's buffers
 * fill). nng's rep writes one reply at a time per connection, and a reply
 * sent cannot be taken back: a reply with timeout 0 waits for the one
 * before it at least NNGRR_REPLY_MIN_MS (100 ms), then fails with
 * IPC_ECLOSED and the client's connection is closed, so that the server
 * goes on and the client's calls end (IPC_ECLOSED) instead of waiting. */
static void test_nng_stuck_client(void **state)
{
    (void)state;
    struct rr_env env = {0};
    rr_address(&env);
    ipc_rr_server *s;
    rr_assert_ok(ipc_rr_serve(env.addr, 0, &s));
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t kid = rr_fork_role("stuck", env.addr, ready[1], 0);
    close(ready[1]);
    static ipc_rr_req reqs[NNG_STUCK_CALLS];
    char buf[16];
    size_t len;
    for (int i = 0; i < NNG_STUCK_CALLS; i++)
        rr_assert_ok(ipc_rr_recv(s, buf, sizeof buf, &len, &reqs[i], 5000));
    char r;
    assert_int_equal(read(ready[0], &r, 1), 1);
    close(ready[0]);
    assert_int_equal(kill(kid, SIGSTOP), 0);
    static char big[NNG_STUCK_REPLY];
    int sent = 0;
    double ms = 0;
    ipc_err err = IPC_OK;
    while (sent < NNG_STUCK_CALLS && err == IPC_OK) {
        int64_t t0 = tu_now_ns();
        err = ipc_rr_reply(s, &reqs[sent], big, sizeof big, 0);
        ms = tu_elapsed_ms(t0);
        sent += err == IPC_OK;
    }
    printf("FIGURE reqrep.nng_stuck_client.%s: %d replies of %d bytes went, "
           "the next failed with %s after %.1f ms\n",
           rr_backend, sent, NNG_STUCK_REPLY, ipc_errname(err), ms);
    rr_assert_err(err, IPC_ECLOSED);
    assert_true(sent > 0 && sent < NNG_STUCK_CALLS);
    assert_true(ms >= 99 && ms < 2000);
    /* Its other calls: the client is gone for the server. */
    rr_assert_err(ipc_rr_reply(s, &reqs[NNG_STUCK_CALLS - 1], "x", 1, 0),
                  IPC_ECLOSED);
    ipc_rr_server_sweep(s);
    assert_int_equal(ipc_rr_server_clients(s), 0);
    assert_int_equal(kill(kid, SIGCONT), 0);
    int status;
    assert_true(tu_wait(kid, 15000, &status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    ipc_rr_server_close(s);
    rr_cleanup(&env);
    rr_finish();
}

void rr_nng_hostile_peer(const char *addr)
{
    /* rep takes req peers only: a user's sender (push) gets no pipe to
     * the server, whose listener goes on. */
    ipc_channel *push;
    rr_assert_ok(ipc_open(addr, IPC_F_SEND, 1000, &push));
    rr_assert_err(ipc_send(push, "E", 1, 0, 300), IPC_ETIMEDOUT);
    ipc_close(push);
    ipc_rr_client *c = NULL;
    rr_assert_ok(ipc_rr_connect(addr, RR_CALL_MS, &c));
    assert_int_equal(rr_ask(c, "C"), 1);
    ipc_rr_disconnect(c);
}

int rr_nng_tests(void)
{
    const struct CMUnitTest tests[] = {
#define NNG_T(t) cmocka_unit_test_setup_teardown(t, rr_setup, rr_teardown)
        NNG_T(test_nng_server_killed), NNG_T(test_nng_client_killed),
        NNG_T(test_nng_no_resend),     NNG_T(test_nng_new_server),
        NNG_T(test_nng_stuck_client),
    };
    char group[64];
    snprintf(group, sizeof group, "reqrep.%s.nng", rr_backend);
    return _cmocka_run_group_tests(group, tests, sizeof tests / sizeof tests[0],
                                   NULL, NULL);
}
