/* SPDX-License-Identifier: MIT */
/* Request/reply contract suite plumbing: per-backend addresses, a test
 * server in a forked child, and the leak snapshot of every namespace. */
#include "rr_harness.h"
#include "backends.h"

#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

const char *rr_backend;

void rr_address(struct rr_env *env)
{
    char name[96];
    tu_unique(name, sizeof name, "rr");
    env->keyfile[0] = '\0';
    if (strcmp(rr_backend, "tcp") == 0 || strcmp(rr_backend, "udp") == 0 ||
        strcmp(rr_backend, "nng_tcp") == 0) {
        /* Loopback, a port the kernel picked just now (backends.c). */
        const char *row = rr_backend[0] == 't'   ? "tcp4"
                          : rr_backend[0] == 'u' ? "udp4"
                                                 : "nng-tcp";
        tu_row_addr(tu_row_find(row), tu_tmpdir(), name, env->addr,
                    sizeof env->addr, NULL);
        return;
    }
    if (strcmp(rr_backend, "nng") == 0) {
        snprintf(env->addr, sizeof env->addr, "nng+ipc://%s/%s", tu_tmpdir(),
                 name);
        return;
    }
    if (strcmp(rr_backend, "mq") == 0 || strcmp(rr_backend, "shm") == 0) {
        /* mq: small messages, so that one queue per client stays within
         * RLIMIT_MSGQUEUE (800 KiB per user, shared with other tests). */
        snprintf(env->addr, sizeof env->addr, "%s:/%s%s", rr_backend, name,
                 rr_backend[0] == 'm' ? "?max_msg=1024" : "");
        return;
    }
    snprintf(env->addr, sizeof env->addr, "%s:%s/%s", rr_backend, tu_tmpdir(),
             name);
    if (strcmp(rr_backend, "sysv") == 0) {
        /* ftok needs the path to exist. */
        snprintf(env->keyfile, sizeof env->keyfile, "%s", env->addr + 5);
        int fd = open(env->keyfile, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
    }
}

/* ------------------------------------------------------------ server */

struct rr_deferred {
    ipc_rr_req req;
    unsigned char data[64];
    size_t len;
};

struct rr_thread_reply {
    ipc_rr_server *s;
    ipc_rr_req req;
    unsigned char data[64];
    size_t len;
};

/* Replies a little later, while the main thread receives and replies. */
static void *rr_reply_thread(void *arg)
{
    struct rr_thread_reply *t = arg;
    tu_sleep_ms(20);
    ipc_rr_reply(t->s, &t->req, t->data, t->len, 1000);
    return NULL;
}

/* Serve ops until 'Q'. Each request: op byte, then data. */
static int rr_serve_loop(ipc_rr_server *s)
{
    static unsigned char buf[1 << 17];
    struct rr_deferred def[32];
    size_t ndef = 0;
    uint64_t handled = 0;
    ipc_err last = IPC_OK;
    struct rr_thread_reply t;
    pthread_t th;
    bool thread_running = false;
    for (;;) {
        size_t len;
        ipc_rr_req req;
        ipc_err err = ipc_rr_recv(s, buf, sizeof buf, &len, &req, 100);
        if (err == IPC_ETIMEDOUT)
            continue;
        if (err != IPC_OK || len == 0) {
            fprintf(stderr, "test server: recv: %s (%s)\n", ipc_errname(err),
                    ipc_last_detail());
            return 3;
        }
        handled++;
        unsigned char op = buf[0];
        uint64_t num = 0;
        uid_t uid;
        switch (op) {
        case 'S': /* sleep <ms as text>, then echo */
            tu_sleep_ms(atoi((char *)buf + 1));
            /* fall through */
        case 'E':
            last = ipc_rr_reply(s, &req, buf, len, 1000);
            break;
        case 'D': /* keep for 'F' */
            if (ndef < 32 && len <= 64) {
                def[ndef].req = req;
                memcpy(def[ndef].data, buf, len);
                def[ndef++].len = len;
            }
            break;
        case 'F': /* reply to the kept ones newest first, then to 'F' */
            while (ndef > 0) {
                ndef--;
                ipc_rr_reply(s, &def[ndef].req, def[ndef].data, def[ndef].len,
                             1000);
            }
            last = ipc_rr_reply(s, &req, buf, len, 1000);
            break;
        case 'B': /* a reply one byte over the limit */
            last = ipc_rr_reply(s, &req, buf, sizeof buf, 1000);
            break;
        case 'L': /* the code of the last reply */
            num = (uint64_t)last;
            last = ipc_rr_reply(s, &req, &num, sizeof num, 1000);
            break;
        case 'U':
            err = ipc_rr_req_uid(&req, &uid);
            num = err == IPC_OK ? (uint64_t)uid : 0xffffffff00000000ull | err;
            last = ipc_rr_reply(s, &req, &num, sizeof num, 1000);
            break;
        case 'C': /* sweep, then the clients connected */
            ipc_rr_server_sweep(s);
            num = ipc_rr_server_clients(s);
            last = ipc_rr_reply(s, &req, &num, sizeof num, 1000);
            break;
        case 'N':
            last = ipc_rr_reply(s, &req, &handled, sizeof handled, 1000);
            break;
        case 'T': /* reply from another thread, the main one goes on */
            if (thread_running)
                pthread_join(th, NULL);
            t = (struct rr_thread_reply){.s = s, .req = req};
            t.len = len < 64 ? len : 64;
            memcpy(t.data, buf, t.len);
            if (pthread_create(&th, NULL, rr_reply_thread, &t) != 0)
                return 4;
            thread_running = true;
            break;
        case 'Q':
            if (thread_running)
                pthread_join(th, NULL);
            ipc_rr_reply(s, &req, buf, 1, 1000);
            return 0;
        default:
            break;
        }
    }
}

int rr_serve_main(const char *addr, int ready_fd)
{
    ipc_rr_server *s;
    ipc_err err = ipc_rr_serve(addr, IPC_F_EXCL, &s);
    char c = err == IPC_OK ? 'R' : 'X';
    if (write(ready_fd, &c, 1) != 1 || err != IPC_OK)
        return 2;
    close(ready_fd);
    int rc = rr_serve_loop(s);
    ipc_rr_server_close(s);
    return rc;
}

bool rr_nng(void)
{
    return strncmp(rr_backend, "nng", 3) == 0;
}

pid_t rr_fork_role(const char *role, const char *addr, int fd, int arg)
{
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid != 0)
        return pid;
    if (rr_nng()) {
        /* nng cannot be used in a child merely forked from a process that
         * used it: the child is this program afresh. */
        char fdtext[16], argtext[16];
        snprintf(fdtext, sizeof fdtext, "%d", fd);
        snprintf(argtext, sizeof argtext, "%d", arg);
        execl("/proc/self/exe", "ipc_reqrep", RR_ROLE_ARG, role, rr_backend,
              addr, fdtext, argtext, (char *)NULL);
        _exit(127);
    }
    _exit(rr_role_main(role, addr, fd, arg));
}

void rr_server_start(struct rr_env *env)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = rr_fork_role("serve", env->addr, ready[1], 0);
    close(ready[1]);
    char c = 0;
    ssize_t n = read(ready[0], &c, 1);
    close(ready[0]);
    env->server = pid;
    assert_true(n == 1 && c == 'R');
}

/* Role "many": client k's RR_MANY_CALLS calls, each reply checked. */
int rr_many_main(const char *addr, int k)
{
    ipc_rr_client *c;
    ipc_err err = ipc_rr_connect(addr, RR_CALL_MS, &c);
    if (err != IPC_OK) {
        fprintf(stderr, "client %d: connect: %s (%s)\n", k, ipc_errname(err),
                ipc_last_detail());
        return 1;
    }
    for (int i = 0; i < RR_MANY_CALLS; i++) {
        char req[32], out[32];
        size_t len;
        int n = snprintf(req, sizeof req, "E%d.%d", k, i);
        err = ipc_rr_call(c, req, (size_t)n, out, sizeof out, &len, 0,
                          RR_CALL_MS);
        if (err != IPC_OK || len != (size_t)n || memcmp(out, req, len) != 0) {
            fprintf(stderr, "client %d call %d: %s (%s)\n", k, i,
                    ipc_errname(err), ipc_last_detail());
            return 2;
        }
    }
    ipc_rr_disconnect(c);
    return 0;
}

/* Role "connect_forever": a connect that waits for ever (killed). */
int rr_connect_forever(const char *addr)
{
    ipc_rr_client *c;
    ipc_rr_connect(addr, -1, &c);
    return 1;
}

void rr_server_stop(struct rr_env *env)
{
    if (env->server <= 0)
        return;
    ipc_rr_client *c;
    ipc_err err = ipc_rr_connect(env->addr, 1000, &c);
    if (err == IPC_OK) {
        char out[8];
        size_t len;
        err = ipc_rr_call(c, "Q", 1, out, sizeof out, &len, 0, 2000);
        ipc_rr_disconnect(c);
    }
    if (err != IPC_OK) /* said, for the failure that follows */
        fprintf(stderr, "rr_server_stop: %s: %s (%s)\n", env->addr,
                ipc_errname(err), ipc_last_detail());
    int status = 0;
    bool exited = tu_wait(env->server, 5000, &status);
    env->server = 0;
    assert_true(exited);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("test server: %s %d", WIFEXITED(status) ? "exit" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

void rr_cleanup(struct rr_env *env)
{
    if (env->server > 0)
        tu_kill(env->server);
    env->server = 0;
    ipc_unlink(env->addr); /* after a kill -9: the server could not */
    if (strncmp(env->addr, "nng+ipc://", 10) == 0)
        unlink(env->addr + 10); /* nng's socket file, after a kill -9 */
    if (env->keyfile[0])
        unlink(env->keyfile);
}

uint64_t rr_ask(ipc_rr_client *c, const char *op)
{
    uint64_t num = 0;
    size_t len = 0;
    rr_assert_ok(
        ipc_rr_call(c, op, strlen(op), &num, sizeof num, &len, 0, 5000));
    assert_int_equal(len, sizeof num);
    return num;
}

/* ------------------------------------------------------------- leaks */

/* Reply names of this test process's servers: "rr-<pid>-...rr.<...>". */
static bool rr_ours(const char *name)
{
    char mine[32];
    snprintf(mine, sizeof mine, "rr-%d-", (int)getpid());
    const char *at = strstr(name, mine);
    return at && strstr(at, ".rr.") != NULL;
}

static size_t rr_count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += rr_ours(e->d_name);
    closedir(d);
    return n;
}

/* Linux: bound sockets, abstract ones too, are lines of /proc/net/unix. */
static size_t rr_count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    char line[512];
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        n += rr_ours(line);
    fclose(f);
    return n;
}

void rr_leaks_take(struct rr_leaks *l)
{
    l->shm = rr_count_dir("/dev/shm");
    l->mq = rr_count_dir("/dev/mqueue");
    /* sysv: a reply queue and its key file go together. */
    l->files = rr_count_dir(tu_tmpdir());
    l->sockets = rr_count_lines("/proc/net/unix");
}

void rr_leaks_check(const struct rr_leaks *before)
{
    struct rr_leaks now;
    rr_leaks_take(&now);
    if (memcmp(&now, before, sizeof now) != 0)
        fail_msg("left behind: /dev/shm %zu->%zu, /dev/mqueue %zu->%zu, "
                 "%s files and sysv key files %zu->%zu, sockets %zu->%zu",
                 before->shm, now.shm, before->mq, now.mq, tu_tmpdir(),
                 before->files, now.files, before->sockets, now.sockets);
}

/* A listening socket that is no libipc server, at a fresh address of the
 * backend under test (unix: a seqpacket socket file; tcp: a loopback
 * port): its fd, and the address in addr. */
int rr_raw_listener(char *addr, size_t size)
{
    int fd;
    if (strcmp(rr_backend, "tcp") == 0 || strcmp(rr_backend, "nng_tcp") == 0) {
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        snprintf(addr, size, "%s127.0.0.1:%u",
                 rr_backend[0] == 't' ? "tcp:" : "nng+tcp://",
                 ntohs(sa.sin_port));
    } else { /* unix: a seqpacket socket file; nng+ipc: a stream one */
        struct rr_env raw = {.server = 0};
        rr_address(&raw);
        const char *url = strstr(raw.addr, "://");
        const char *path = url ? url + 3 : raw.addr + 5;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        assert_true(strlen(path) < sizeof sa.sun_path &&
                    strlen(raw.addr) < size);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        memcpy(addr, raw.addr, strlen(raw.addr) + 1);
        fd = socket(AF_UNIX,
                    (url ? SOCK_STREAM : SOCK_SEQPACKET) | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    }
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

int rr_garbage_server(void *arg)
{
    int fd = accept(*(int *)arg, NULL, NULL);
    unsigned char junk[40];
    tu_pattern(junk, sizeof junk, 9);
    if (fd < 0 || send(fd, junk, sizeof junk, MSG_NOSIGNAL) != sizeof junk)
        return 1;
    pause();
    return 0;
}

/* --- The fixture: one server per test ---------------------------------- */

struct rr_env rr_fix;
struct rr_leaks rr_fix_leaks;

int rr_setup(void **state)
{
    (void)state;
    rr_leaks_take(&rr_fix_leaks);
    rr_address(&rr_fix);
    rr_server_start(&rr_fix);
    return 0;
}

int rr_teardown(void **state)
{
    (void)state;
    rr_cleanup(&rr_fix);
    tu_kill_live(); /* a failed test's children, stopped ones too */
    return 0;
}

ipc_rr_client *rr_client_at(const char *addr)
{
    ipc_rr_client *c = NULL;
    rr_assert_ok(ipc_rr_connect(addr, RR_CALL_MS, &c));
    return c;
}

ipc_rr_client *rr_client(void)
{
    return rr_client_at(rr_fix.addr);
}

void rr_finish(void)
{
    rr_server_stop(&rr_fix);
    rr_cleanup(&rr_fix);
    rr_leaks_check(&rr_fix_leaks);
}
