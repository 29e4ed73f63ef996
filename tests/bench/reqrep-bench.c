/* SPDX-License-Identifier: MIT */
/* reqrep-bench: round trip of a 64-byte request/reply call per backend,
 * libipc's ipc_rr_call against a hand-written request/reply over the same
 * raw system calls in the same run (ratio = raw time / libipc time; 1.0 is
 * as fast as raw), the same by hand over two libipc channels ("chan": what
 * the channels cost), then calls/s for 1, 4 and 16 concurrent clients.
 * tcp: over loopback; its raw loop is one connection, 64 bytes each way
 * with no header. udp: over loopback; its raw loop is a client socket
 * connected to a bound server socket, blocking send/recv on the client,
 * recvfrom/sendto (to the request's source) on the server. nng:
 * nng+ipc:// (a raw req client, a rep server with contexts); its raw loop
 * is nng's req0/rep0 in cooked mode over ipc://, as an nng user writes
 * it, and a second line times the same loop with a raw req client (no
 * resend), as request/reply runs. nng
 * cannot run in a child forked after its parent used it, so nng's servers and
 * clients are this program exec'd (--role). cpu: CPU time of client and server
 * together per call (user + system, of this process and its reaped children),
 * raw and libipc: the price of libipc's waits, which look again for a few
 * microseconds before they sleep (ipc_int.h: IPC_SPIN_NS). A program, never a
 * ctest. Usage: reqrep-bench [round trips] [backends]. */
#include <ipc/ipc.h>

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if BENCH_NNG
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#endif

#define MSG  64
#define RUNS 5

static int64_t bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time so far of this process and its reaped children. */
static double bench_cpu_ns(void)
{
    double ns = 0;
    int who[2] = {RUSAGE_SELF, RUSAGE_CHILDREN};
    for (int i = 0; i < 2; i++) {
        struct rusage ru;
        getrusage(who[i], &ru);
        ns += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
              (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
    }
    return ns;
}

static void bench_die(const char *what)
{
    fprintf(stderr, "reqrep-bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ------------------------------------------------ raw request/reply */

/* What a user writes by hand: two one-way objects (or one duplex socket),
 * blocking calls, 64 bytes each way. Made before fork, used after. */
struct raw {
    const char *scheme;
    char path[2][128];
    int fd[2][2]; /* [dir][0] write, [dir][1] read; unix, tcp: fd[0] duplex;
                     udp: fd[0][0] the client's, fd[0][1] the server's */
    struct sockaddr_storage from; /* udp: the last request's source */
    socklen_t from_len;
    mqd_t mq[2];
    int qid[2];
    struct raw_shm {
        sem_t req, rep;
        unsigned char buf[MSG];
    } * shm;
};

struct raw_msg {
    long type;
    unsigned char data[MSG];
};

/* A loopback TCP connection (listen on port 0, connect, accept), with
 * TCP_NODELAY as any request/reply program sets. */
static void raw_tcp_pair(int fd[2])
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&sa, &len) < 0)
        bench_die("tcp listen");
    fd[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fd[0] < 0 || connect(fd[0], (struct sockaddr *)&sa, sizeof sa) < 0 ||
        (fd[1] = accept(l, NULL, NULL)) < 0)
        bench_die("tcp connect");
    close(l);
    for (int i = 0; i < 2; i++)
        setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A UDP server socket bound to a loopback port, and a client socket
 * connected to it, as a DNS-style client and server would have. */
static void raw_udp_pair(int fd[2])
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    fd[1] = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd[1] < 0 || bind(fd[1], (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd[1], (struct sockaddr *)&sa, &len) < 0)
        bench_die("udp bind");
    fd[0] = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd[0] < 0 || connect(fd[0], (struct sockaddr *)&sa, sizeof sa) < 0)
        bench_die("udp connect");
}

/* A loopback port free just now, for a named tcp: or udp: address. */
static unsigned free_port(int type)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, type, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        bench_die("port");
    close(fd);
    return ntohs(sa.sin_port);
}

static void raw_prepare(struct raw *r)
{
    for (int d = 0; d < 2; d++)
        snprintf(r->path[d], sizeof r->path[d], "/tmp/rrb-%d-%d", (int)getpid(),
                 d);
    if (strcmp(r->scheme, "unix") == 0) {
        int sv[2];
        /* A connected SOCK_SEQPACKET pair carries both ways, as an accepted
         * connection would. */
        if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
            bench_die("socketpair");
        r->fd[0][0] = sv[0];
        r->fd[0][1] = sv[1];
    } else if (strcmp(r->scheme, "tcp") == 0) {
        raw_tcp_pair(r->fd[0]);
    } else if (strcmp(r->scheme, "udp") == 0) {
        raw_udp_pair(r->fd[0]);
    } else if (strcmp(r->scheme, "fifo") == 0) {
        for (int d = 0; d < 2; d++) {
            unlink(r->path[d]);
            if (mkfifo(r->path[d], 0600) < 0)
                bench_die("mkfifo");
            /* Both ends now (O_RDWR never blocks on open), as one user
             * program would set up a pair of FIFOs before forking. */
            r->fd[d][1] = open(r->path[d], O_RDWR);
            r->fd[d][0] = open(r->path[d], O_WRONLY);
        }
    } else if (strcmp(r->scheme, "mq") == 0) {
        struct mq_attr at = {.mq_maxmsg = 10, .mq_msgsize = MSG};
        for (int d = 0; d < 2; d++) {
            r->path[d][0] = '/';
            memmove(r->path[d] + 1, r->path[d] + 5, strlen(r->path[d] + 5) + 1);
            r->mq[d] =
                mq_open(r->path[d], O_RDWR | O_CREAT | O_EXCL, 0600, &at);
            if (r->mq[d] == (mqd_t)-1)
                bench_die("mq_open");
        }
    } else if (strcmp(r->scheme, "sysv") == 0) {
        for (int d = 0; d < 2; d++)
            if ((r->qid[d] = msgget(IPC_PRIVATE, 0600 | IPC_CREAT)) < 0)
                bench_die("msgget");
    } else {
        r->shm = mmap(NULL, sizeof *r->shm, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (r->shm == MAP_FAILED || sem_init(&r->shm->req, 1, 0) < 0 ||
            sem_init(&r->shm->rep, 1, 0) < 0)
            bench_die("shm");
    }
}

static void raw_cleanup(struct raw *r)
{
    if (strcmp(r->scheme, "fifo") == 0)
        for (int d = 0; d < 2; d++)
            unlink(r->path[d]);
    if (strcmp(r->scheme, "mq") == 0)
        for (int d = 0; d < 2; d++)
            mq_unlink(r->path[d]);
    if (strcmp(r->scheme, "sysv") == 0)
        for (int d = 0; d < 2; d++)
            msgctl(r->qid[d], IPC_RMID, NULL);
    if (strcmp(r->scheme, "udp") == 0)
        for (int i = 0; i < 2; i++)
            close(r->fd[0][i]);
}

/* dir 0 carries requests, 1 replies. */
static void raw_send(struct raw *r, int dir, const unsigned char *buf)
{
    const char *s = r->scheme;
    if (s[0] == 'u' && s[1] == 'd') {
        if (dir == 0 ? send(r->fd[0][0], buf, MSG, 0) != MSG
                     : sendto(r->fd[0][1], buf, MSG, 0,
                              (struct sockaddr *)&r->from, r->from_len) != MSG)
            bench_die("udp send");
    } else if (s[0] == 'u' || s[0] == 't') {
        if (send(r->fd[0][dir], buf, MSG, 0) != MSG)
            bench_die("send");
    } else if (s[0] == 'f') {
        if (write(r->fd[dir][0], buf, MSG) != MSG)
            bench_die("write");
    } else if (s[0] == 'm') {
        if (mq_send(r->mq[dir], (const char *)buf, MSG, 0) < 0)
            bench_die("mq_send");
    } else if (s[1] == 'y') {
        struct raw_msg m = {1, {0}};
        memcpy(m.data, buf, MSG);
        if (msgsnd(r->qid[dir], &m, MSG, 0) < 0)
            bench_die("msgsnd");
    } else {
        memcpy(r->shm->buf, buf, MSG);
        sem_post(dir ? &r->shm->rep : &r->shm->req);
    }
}

static void raw_recv(struct raw *r, int dir, unsigned char *buf)
{
    const char *s = r->scheme;
    if (s[0] == 'u' && s[1] == 'd') {
        r->from_len = sizeof r->from;
        if (dir == 1
                ? recv(r->fd[0][0], buf, MSG, 0) != MSG
                : recvfrom(r->fd[0][1], buf, MSG, 0,
                           (struct sockaddr *)&r->from, &r->from_len) != MSG)
            bench_die("udp recv");
    } else if (s[0] == 'u' || s[0] == 't') {
        /* tcp: a byte stream; MSG_WAITALL takes the whole 64 bytes. */
        if (recv(r->fd[0][!dir], buf, MSG, MSG_WAITALL) != MSG)
            bench_die("recv");
    } else if (s[0] == 'f') {
        if (read(r->fd[dir][1], buf, MSG) != MSG)
            bench_die("read");
    } else if (s[0] == 'm') {
        if (mq_receive(r->mq[dir], (char *)buf, MSG, NULL) != MSG)
            bench_die("mq_receive");
    } else if (s[1] == 'y') {
        struct raw_msg m;
        if (msgrcv(r->qid[dir], &m, MSG, 0, 0) != MSG)
            bench_die("msgrcv");
        memcpy(buf, m.data, MSG);
    } else {
        while (sem_wait(dir ? &r->shm->rep : &r->shm->req) < 0)
            ;
        memcpy(buf, r->shm->buf, MSG);
    }
}

/* An nng run's child: this program exec'd with role and its arguments. */
static pid_t bench_exec(const char *role, const char *a, const char *b,
                        long num)
{
    char text[32];
    snprintf(text, sizeof text, "%ld", num);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "reqrep-bench", "--role", role, a, b, text,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static bool bench_nng(const char *scheme)
{
    return strcmp(scheme, "nng") == 0;
}

#if BENCH_NNG
/* nng's own request/reply as its user writes it, cooked; or with a raw
 * req client (rawreq), as request/reply runs: raw req never resends, and
 * its messages carry their request id in the header, echoed back. The
 * server is cooked rep either way. */
static int raw_nng_server(const char *url, int ready_fd, long n)
{
    nng_socket s;
    if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0 ||
        write(ready_fd, "r", 1) != 1)
        return 1;
    for (long i = 0; i < n; i++) {
        nng_msg *m;
        if (nng_recvmsg(s, &m, 0) != 0)
            return 1;
        if (nng_sendmsg(s, m, 0) != 0) /* the header routes it back */
            return 1;
    }
    /* nng_close drops a reply nng's thread has not written yet: the last
     * one would be lost, its client wait forever. */
    usleep(100000);
    nng_close(s);
    return 0;
}

static double raw_nng_round_trip(long n, bool rawreq)
{
    static int seq;
    char url[96], fdtext[16];
    snprintf(url, sizeof url, "ipc:///tmp/rrb-raw-%d-%d", (int)getpid(), seq++);
    int ready[2];
    if (pipe(ready) < 0)
        bench_die("pipe");
    snprintf(fdtext, sizeof fdtext, "%d", ready[1]);
    pid_t pid = bench_exec("raw-nng-server", url, fdtext, n);
    char c;
    nng_socket s;
    if (read(ready[0], &c, 1) != 1 ||
        (rawreq ? nng_req0_open_raw(&s) : nng_req0_open(&s)) != 0 ||
        nng_dial(s, url, NULL, 0) != 0)
        bench_die("nng raw: dial");
    close(ready[0]);
    close(ready[1]);
    unsigned char req[MSG] = {1};
    int64_t t0 = bench_now();
    for (long i = 0; i < n; i++) {
        nng_msg *m;
        if (nng_msg_alloc(&m, MSG) != 0)
            bench_die("nng raw: message");
        memcpy(nng_msg_body(m), req, MSG);
        /* Raw mode: the request id is ours to put (high bit set). */
        if (rawreq && nng_msg_header_append_u32(m, 0x80000000u | (uint32_t)i))
            bench_die("nng raw: header");
        if (nng_sendmsg(s, m, 0) != 0 || nng_recvmsg(s, &m, 0) != 0)
            bench_die("nng raw: call");
        nng_msg_free(m);
    }
    int64_t t = bench_now() - t0;
    nng_close(s);
    waitpid(pid, NULL, 0);
    return (double)t / (double)n;
}
#endif

/* ns per round trip of the raw loop. */
static double raw_round_trip(const char *scheme, long n)
{
#if BENCH_NNG
    if (bench_nng(scheme))
        return raw_nng_round_trip(n, false);
#endif
    struct raw r = {.scheme = scheme};
    raw_prepare(&r);
    pid_t pid = fork();
    if (pid == 0) {
        unsigned char buf[MSG];
        for (long i = 0; i < n; i++) {
            raw_recv(&r, 0, buf);
            raw_send(&r, 1, buf);
        }
        _exit(0);
    }
    unsigned char req[MSG] = {1}, rep[MSG];
    int64_t t0 = bench_now();
    for (long i = 0; i < n; i++) {
        raw_send(&r, 0, req);
        raw_recv(&r, 1, rep);
    }
    int64_t t = bench_now() - t0;
    waitpid(pid, NULL, 0);
    raw_cleanup(&r);
    return (double)t / (double)n;
}

/* --------------------------------------------------- libipc reqrep */

static void lib_address(const char *scheme, char *addr, size_t size)
{
    static int seq;
    int pid = (int)getpid();
    if (strcmp(scheme, "tcp") == 0 || strcmp(scheme, "udp") == 0)
        snprintf(addr, size, "%s:127.0.0.1:%u", scheme,
                 free_port(scheme[0] == 't' ? SOCK_STREAM : SOCK_DGRAM));
    else if (bench_nng(scheme))
        snprintf(addr, size, "nng+ipc:///tmp/rrb-%d-%d", pid, seq++);
    else if (strcmp(scheme, "mq") == 0 || strcmp(scheme, "shm") == 0)
        snprintf(addr, size, "%s:/rrb-%d-%d%s", scheme, pid, seq++,
                 scheme[0] == 'm' ? "?max_msg=1024" : "");
    else
        snprintf(addr, size, "%s:/tmp/rrb-%d-%d", scheme, pid, seq++);
    if (strcmp(scheme, "sysv") == 0) {
        int fd = open(addr + 5, O_CREAT | O_WRONLY, 0600);
        if (fd >= 0)
            close(fd);
    }
}

/* The server: answer every call with its request, until killed. */
static int lib_serve(const char *addr, int ready_fd)
{
    ipc_rr_server *s;
    ipc_err err = ipc_rr_serve(addr, IPC_F_REPLACE, &s);
    char c = err == IPC_OK ? 'R' : 'X';
    if (write(ready_fd, &c, 1) != 1 || err != IPC_OK)
        return 1;
    unsigned char buf[MSG];
    for (;;) {
        size_t len;
        ipc_rr_req req;
        if (ipc_rr_recv(s, buf, sizeof buf, &len, &req, -1) == IPC_OK)
            ipc_rr_reply(s, &req, buf, len, -1);
    }
}

/* A server process answering every call with its request. */
static pid_t lib_server(const char *addr)
{
    int ready[2];
    if (pipe(ready) < 0)
        bench_die("pipe");
    char fdtext[16];
    snprintf(fdtext, sizeof fdtext, "%d", ready[1]);
    pid_t pid = strncmp(addr, "nng+", 4) == 0
                    ? bench_exec("rr-server", addr, fdtext, 0)
                    : fork();
    if (pid == 0)
        _exit(lib_serve(addr, ready[1]));
    char c = 0;
    if (read(ready[0], &c, 1) != 1 || c != 'R') {
        fprintf(stderr, "reqrep-bench: server at %s did not start\n", addr);
        exit(1);
    }
    close(ready[0]);
    close(ready[1]);
    return pid;
}

static void lib_stop(pid_t server, const char *addr)
{
    if (server > 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
    }
    ipc_unlink(addr);
    if (strncmp(addr, "sysv:", 5) == 0)
        unlink(addr + 5);
    if (strncmp(addr, "nng+ipc://", 10) == 0)
        unlink(addr + 10); /* the killed server's socket file */
}

/* Calls for n round trips (n > 0), or for dur_ns (n == 0): the count. */
static long lib_calls(const char *addr, long n, int64_t dur_ns, double *ns)
{
    ipc_rr_client *c;
    ipc_err err = ipc_rr_connect(addr, 5000, &c);
    if (err != IPC_OK) {
        fprintf(stderr, "reqrep-bench: connect %s: %s (%s)\n", addr,
                ipc_errname(err), ipc_last_detail());
        exit(1);
    }
    unsigned char req[MSG] = {1}, rep[MSG];
    int64_t t0 = bench_now(), end = t0 + dur_ns;
    long i = 0;
    for (; n ? i < n : (i & 63) || bench_now() < end; i++) {
        size_t len;
        err = ipc_rr_call(c, req, MSG, rep, sizeof rep, &len, 0, -1);
        if (err != IPC_OK || len != MSG) {
            fprintf(stderr, "reqrep-bench: call: %s\n", ipc_errname(err));
            exit(1);
        }
    }
    *ns = (double)(bench_now() - t0) / (double)i;
    ipc_rr_disconnect(c);
    return i;
}

static double lib_round_trip(const char *scheme, long n)
{
    char addr[160];
    double ns;
    lib_address(scheme, addr, sizeof addr);
    pid_t server = lib_server(addr);
    lib_calls(addr, n, 0, &ns);
    lib_stop(server, addr);
    return ns;
}

/* The channels alone: the same request/reply by hand over two libipc
 * channels with blocking calls, to tell what request/reply adds to them. */
static double chan_round_trip(const char *scheme, long n)
{
    char addr[2][160];
    ipc_channel *rep, *req;
    lib_address(scheme, addr[0], sizeof addr[0]);
    lib_address(scheme, addr[1], sizeof addr[1]);
    if (ipc_open(addr[1], IPC_F_RECV | IPC_F_CREATE, 0, &rep) != IPC_OK)
        bench_die(ipc_last_detail());
    int ready[2];
    if (pipe(ready) < 0)
        bench_die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        ipc_channel *in, *out;
        if (ipc_open(addr[0], IPC_F_RECV | IPC_F_CREATE, 0, &in) != IPC_OK ||
            ipc_open(addr[1], IPC_F_SEND, 5000, &out) != IPC_OK ||
            write(ready[1], "r", 1) != 1)
            _exit(1);
        unsigned char buf[MSG];
        size_t len;
        for (long i = 0; i < n; i++)
            if (ipc_recv(in, buf, sizeof buf, &len, NULL, -1) != IPC_OK ||
                ipc_send(out, buf, len, 0, -1) != IPC_OK)
                _exit(1);
        ipc_close(out);
        ipc_close(in);
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1 ||
        ipc_open(addr[0], IPC_F_SEND, 5000, &req) != IPC_OK)
        bench_die("chan: open");
    unsigned char buf[MSG] = {1};
    size_t len;
    int64_t t0 = bench_now();
    for (long i = 0; i < n; i++)
        if (ipc_send(req, buf, MSG, 0, -1) != IPC_OK ||
            ipc_recv(rep, buf, sizeof buf, &len, NULL, -1) != IPC_OK)
            bench_die("chan: call");
    int64_t t = bench_now() - t0;
    ipc_close(req);
    close(ready[0]);
    waitpid(pid, NULL, 0);
    close(ready[1]);
    ipc_close(rep);
    lib_stop(0, addr[0]);
    lib_stop(0, addr[1]);
    return (double)t / (double)n;
}

/* A client calling for 1 s; its count of calls written to fd. */
static int lib_client(const char *addr, int fd)
{
    double ns;
    long calls = lib_calls(addr, 0, 1000000000, &ns);
    return write(fd, &calls, sizeof calls) == sizeof calls ? 0 : 1;
}

/* k client processes calling for 1 s: calls per second in all. */
static double lib_concurrent(const char *scheme, int k)
{
    char addr[160];
    lib_address(scheme, addr, sizeof addr);
    pid_t server = lib_server(addr);
    int counts[2];
    if (pipe(counts) < 0)
        bench_die("pipe");
    char fdtext[16];
    snprintf(fdtext, sizeof fdtext, "%d", counts[1]);
    for (int i = 0; i < k; i++)
        if ((bench_nng(scheme) ? bench_exec("rr-client", addr, fdtext, 0)
                               : fork()) == 0)
            _exit(lib_client(addr, counts[1]));
    long total = 0;
    for (int i = 0; i < k; i++) {
        long calls = 0;
        if (read(counts[0], &calls, sizeof calls) == sizeof calls)
            total += calls;
        wait(NULL);
    }
    close(counts[0]);
    close(counts[1]);
    lib_stop(server, addr);
    return (double)total;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    const char *only = argc > 2 ? argv[2] : NULL;
    static const char *schemes[] = {"unix", "fifo", "mq",  "sysv",
                                    "shm",  "tcp",  "udp", "nng"};
    signal(SIGPIPE, SIG_IGN);
    if (argc == 6 && strcmp(argv[1], "--role") == 0) {
        const char *role = argv[2];
        int fd = atoi(argv[4]);
        if (strcmp(role, "rr-server") == 0)
            return lib_serve(argv[3], fd);
        if (strcmp(role, "rr-client") == 0)
            return lib_client(argv[3], fd);
#if BENCH_NNG
        if (strcmp(role, "raw-nng-server") == 0)
            return raw_nng_server(argv[3], fd, atol(argv[5]));
#endif
        return 126;
    }
    printf("reqrep-bench: %d-byte call, %ld round trips, best of %d; ratio = "
           "raw ns / libipc ns (target >= 0.9); cpu: ns of CPU a call, both "
           "processes\n",
           MSG, n, RUNS);
    printf("%-5s %8s %8s %8s %6s %6s %7s %7s %11s %11s %11s\n", "", "raw ns",
           "chan ns", "rr ns", "chan", "rr", "raw cpu", "rr cpu", "1 client/s",
           "4 clients/s", "16 clients/s");
    for (size_t b = 0; b < sizeof schemes / sizeof schemes[0]; b++) {
        const char *s = schemes[b];
        unsigned caps;
        if ((only && !strstr(only, s)) || ipc_scheme_caps(s, &caps) != IPC_OK)
            continue;
        double raw = 1e18, chan = 1e18, lib = 1e18, raw_cpu = 1e18,
               lib_cpu = 1e18;
        for (int run = 0; run < RUNS; run++) {
            double c0 = bench_cpu_ns();
            double t = raw_round_trip(s, n);
            double c1 = bench_cpu_ns();
            raw = t < raw ? t : raw;
            raw_cpu = (c1 - c0) / n < raw_cpu ? (c1 - c0) / n : raw_cpu;
            /* nng: its chan child would be forked after nng was used. */
            t = bench_nng(s) ? 0 : chan_round_trip(s, n);
            chan = t < chan ? t : chan;
            c0 = bench_cpu_ns();
            t = lib_round_trip(s, n);
            c1 = bench_cpu_ns();
            lib = t < lib ? t : lib;
            lib_cpu = (c1 - c0) / n < lib_cpu ? (c1 - c0) / n : lib_cpu;
        }
        printf("%-5s %8.0f %8.0f %8.0f %6.2f %6.2f %7.0f %7.0f", s, raw, chan,
               lib, raw / chan, raw / lib, raw_cpu, lib_cpu);
        fflush(stdout);
        for (int k = 1; k <= 16; k *= 4)
            printf(" %11.0f", lib_concurrent(s, k));
        printf("\n");
        fflush(stdout);
#if BENCH_NNG
        if (bench_nng(s)) {
            /* The cooked loop above may resend and re-route a request;
             * request/reply may not, so its client is raw req: what that
             * costs by itself. */
            double rawreq = 1e18;
            for (int run = 0; run < RUNS; run++) {
                double t = raw_nng_round_trip(n, true);
                rawreq = t < rawreq ? t : rawreq;
            }
            printf("%-5s %8.0f (nng's raw req0 client, no resend, and rep0: "
                   "rr / it %.2f)\n",
                   s, rawreq, rawreq / lib);
        }
#endif
    }
    return 0;
}
