/* SPDX-License-Identifier: MIT */
/* Request/reply contract suite: what the tests share. */
#ifndef IPC_RR_HARNESS_H
#define IPC_RR_HARNESS_H

#include <ipc/ipc.h>

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include "testutil.h"

/* The backend under test: argv[1]. */
extern const char *rr_backend;

struct rr_env {
    char addr[256];
    char keyfile[256]; /* sysv: the path the key comes from */
    pid_t server;
};

/* A unique server address for the backend (sysv: its key file made). */
void rr_address(struct rr_env *env);
/* A child process's role: argv[0] RR_ROLE_ARG ROLE BACKEND ADDR FD ARG. */
#define RR_ROLE_ARG "--role"
/* Run role (rr_tests.c; "serve": rr_serve_main) in this process. */
int rr_role_main(const char *role, const char *addr, int fd, int arg);
/* Fork a child that runs role: exec'd afresh for nng (nng cannot be used
 * in a child merely forked after the parent used it). */
pid_t rr_fork_role(const char *role, const char *addr, int fd, int arg);
/* The test server: say 'R' on ready_fd, serve addr until 'Q'. */
int rr_serve_main(const char *addr, int ready_fd);
/* The timeout of the tests' calls. */
#define RR_CALL_MS 5000
/* Calls each "many" client makes. */
#define RR_MANY_CALLS 300
/* Role "many": client k's RR_MANY_CALLS calls, each reply checked. */
int rr_many_main(const char *addr, int k);
int rr_connect_forever(const char *addr);
/* nng: a user's push sender at server addr gets nowhere (rr_nng.c). */
void rr_nng_hostile_peer(const char *addr);
/* Role "stuck" (rr_nng.c): calls that pile up replies unread. */
int rr_nng_stuck_main(const char *addr, int fd);
/* The nng-only tests (rr_nng.c); the number that failed. */
int rr_nng_tests(void);
/* Is the backend under test nng (nng, nng_tcp)? */
bool rr_nng(void);
/* Fork the test server (ops: see rr_harness.c) and wait until it serves. */
void rr_server_start(struct rr_env *env);
/* Ask it to quit and check that it exited 0. */
void rr_server_stop(struct rr_env *env);
/* Kill what is left and remove the address: every test ends with it. */
void rr_cleanup(struct rr_env *env);
/* A listening socket that is no libipc server at a fresh address of the
 * backend (unix, nng+ipc: a socket file; tcp, nng_tcp: a loopback port):
 * its fd, and the address in addr. */
int rr_raw_listener(char *addr, size_t size);
/* tu_spawn body: accept one connection on *(int *)arg, send it garbage,
 * then wait to be killed. */
int rr_garbage_server(void *arg);
/* Call op and return the 8-byte number the server answers. */
uint64_t rr_ask(ipc_rr_client *c, const char *op);

/* The udp-only group (rr_udp.c): lost, doubled and refused datagrams,
 * servers stopped, killed, restarted. Returns the failures. */
int rr_udp_run(void);

/* What request/reply may leave in each namespace. */
struct rr_leaks {
    size_t shm, mq, files, sockets;
};
void rr_leaks_take(struct rr_leaks *l);
void rr_leaks_check(const struct rr_leaks *before);

/* The fixture every test runs in (rr_harness.c): rr_setup makes a fresh
 * address and starts a server there (rr_fix), noting what request/reply
 * objects exist (rr_fix_leaks); rr_finish stops the server cleanly and
 * checks that nothing more is left; rr_teardown cleans up after a test
 * that failed. */
extern struct rr_env rr_fix;
extern struct rr_leaks rr_fix_leaks;
int rr_setup(void **state);
int rr_teardown(void **state);
void rr_finish(void);
/* A client of the fixture's server, or of addr; fails the test if the
 * connect fails. */
ipc_rr_client *rr_client(void);
ipc_rr_client *rr_client_at(const char *addr);

#define rr_assert_ok(expr)                                                     \
    do {                                                                       \
        ipc_err rr_err_ = (expr);                                              \
        if (rr_err_ != IPC_OK)                                                 \
            fail_msg("%s: %s (%s)", #expr, ipc_errname(rr_err_),               \
                     ipc_last_detail());                                       \
    } while (0)
#define rr_assert_err(expr, want)                                              \
    do {                                                                       \
        ipc_err rr_err_ = (expr);                                              \
        if (rr_err_ != (want))                                                 \
            fail_msg("%s: %s, want %s (%s)", #expr, ipc_errname(rr_err_),      \
                     ipc_errname(want), ipc_last_detail());                    \
    } while (0)

#endif /* IPC_RR_HARNESS_H */
