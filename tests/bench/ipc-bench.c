/* SPDX-License-Identifier: MIT */
/* ipc-bench: every libipc backend against the raw system calls under it. */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__ /* set by the headers above; musl has no such call */
#include <gnu/libc-version.h>
#define BENCH_LIBC_VERSION() gnu_get_libc_version()
#else
#define BENCH_LIBC_VERSION() "none (not glibc)"
#endif

/*
 * How one row runs (one backend, one message size, libipc and raw):
 *
 *   orchestrator: prepare both transports (pairs, raw queues, rings), fork
 *   an initiator pinned to one CPU and a responder pinned to another, wait
 *   for their reports (with a deadline; a child that fails or hangs gets
 *   both killed), then remove whatever names are left.
 *
 *   children: create the direction each receives on, exchange a byte, open
 *   the direction each sends on, exchange a byte (the barrier). Then for
 *   each repetition, libipc and raw in turn (lib, raw, raw, lib, lib, ...,
 *   so that drift on a shared machine lands on both, and both run in the
 *   same two processes), the initiator names the side on a control pipe
 *   and runs one slice on it:
 *     one-way:    warm-up burst, STOP, echo; timed burst for the duration,
 *                 STOP, echo: msgs/s = messages / (first send .. echo);
 *     round trip: warm-up ping-pongs, then timed ping-pongs, one clock
 *                 sample each;
 *     QUIT.
 *
 * Every message is exactly `size` bytes. Its first 8 bytes hold a sequence
 * number (with the kind in the top bits) and its last 8 bytes the same
 * number inverted; the responder checks order, length and both ends of each
 * message, the initiator checks each echo: a transport that loses,
 * reorders, truncates or fakes messages fails the run instead of looking
 * fast. The first message of each send batch also carries its send time
 * (bytes 8-15), and the responder reports how long those waited in the
 * stream: the price, per message, of a rate won by queueing.
 *
 * Figures: the median over repetitions of each side's msgs/s and of its
 * per-repetition median round trip; p99 over every round trip of every
 * repetition; the ratio is the median of the per-repetition ratios (the two
 * slices of a repetition run back to back).
 */

#define SEQ_STOP (1ull << 63)
#define SEQ_PING (1ull << 62)
#define SEQ_QUIT (1ull << 61)
#define SEQ_SYNC (1ull << 60) /* lossy rows: "echo me", every window */
#define SEQ_KIND (SEQ_STOP | SEQ_PING | SEQ_QUIT | SEQ_SYNC)
/* Messages between two clock reads: a clock read is ~20 ns, negligible
 * next to a large message, and a burst of large ones must not overshoot. */
#define SEND_BATCH(size) ((size) >= 65536 ? 1 : 16)
/* One message a batch carries its send time (bytes 8-15; messages of at
 * least DELAY_MIN_SIZE), so that the responder can tell how long messages
 * waited in the stream: a loop that sends faster than its receiver reads
 * wins msgs/s by queueing, and this shows what each message paid for it. */
#define DELAY_MIN_SIZE    24
#define DELAY_SAMPLES_REP (1u << 16)
#define RTT_SAMPLES_REP   (1u << 18) /* per repetition, at most */
#define MIN_SIZE          16
#define MAX_SIZES         16
#define MAX_REPS          101
#define TARGET_RATIO      0.95
#define RING_FOOTPRINT    (4u << 20) /* ring rule: slots x size ~ 4 MiB */

/* ------------------------------------------------------------ settings */

struct cfg {
    int reps;
    int dur_ms;
    int warm_ms;
    int timeout_ms; /* given to libipc calls */
    size_t sizes[MAX_SIZES];
    int nsizes;
    bool selected[32];
    enum { OUT_TABLE, OUT_TSV, OUT_JSON } out;
    bool verbose;
    bool progress;    /* stderr is a terminal: one line that rewrites itself */
    bool side_off[2]; /* --side: run only the other one (for profiling) */
    int cpu[2];
    int ncpus_online;
    bool pinned_apart;
};

static struct cfg cfg = {
    .reps = 11,
    .dur_ms = 40,
    .warm_ms = -1,
    .timeout_ms = -1,
    .cpu = {-1, -1},
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------ backends */

static size_t limit_mq(size_t size, char *why, size_t whylen)
{
    long max = bx_proc_long("/proc/sys/fs/mqueue/msgsize_max");
    if (max > 0 && size > (size_t)max) {
        snprintf(why, whylen, "%zu B > /proc/sys/fs/mqueue/msgsize_max (%ld)",
                 size, max);
        return (size_t)max;
    }
    return 0;
}

/* 65535 less the IPv4 and UDP headers. */
static size_t limit_udp(size_t size, char *why, size_t whylen)
{
    if (size <= 65507)
        return 0;
    snprintf(why, whylen, "%zu B > 65507 (the largest IPv4 datagram)", size);
    return 65507;
}

static size_t limit_sysv(size_t size, char *why, size_t whylen)
{
    long max = bx_proc_long("/proc/sys/kernel/msgmax");
    long mnb = bx_proc_long("/proc/sys/kernel/msgmnb");
    if (max > 0 && size > (size_t)max) {
        snprintf(why, whylen, "%zu B > /proc/sys/kernel/msgmax (%ld)", size,
                 max);
        return (size_t)max;
    }
    if (mnb > 0 && size > (size_t)mnb) {
        snprintf(why, whylen, "%zu B > /proc/sys/kernel/msgmnb (%ld)", size,
                 mnb);
        return (size_t)mnb;
    }
    return 0;
}

enum cap_rule { CAP_NONE, CAP_MQ, CAP_RING };

/* How a row names its objects: the libipc address takes the name (or the
 * key) and then the options; a pair takes the options only. */
enum naming {
    NAME_PAIR,  /* "pipe:?max_msg=%zu"; raw: nothing named */
    NAME_PLAIN, /* "mq:/%s?...": a bare name; raw: "/name" (mq) */
    NAME_PATH,  /* "fifo:%s?...": a path in $TMPDIR; raw: the same kind */
    NAME_KEY,   /* "sysv:0x%08x?...": a key; raw: IPC_PRIVATE */
    NAME_PORT   /* "tcp:127.0.0.1:%u?...": a loopback port free when the
                   name is made (the kernel's pick); raw: sockets made by
                   prepare (tcp, udp) or "tcp://127.0.0.1:%u" (nng) */
};

struct backend_row {
    struct bench_backend be;
    enum cap_rule cap;
    enum naming naming;
    const char *addr_fmt; /* libipc address, see enum naming */
    bool raw_url;         /* NAME_PORT: the raw side listens on a
                             "tcp://127.0.0.1:PORT" URL (nng, ZeroMQ) */
};

/* Named addresses: %s is a unique name made per row; pairs take only the
 * options. The raw loop of each row is described in bench-raw.c. */
static const struct backend_row backends[] = {
    {.be = {.name = "pipe",
            .scheme = "pipe",
            .pair = true,
            .raw_what = "writev(hdr, payload); read(hdr), read(payload); "
                        "SIGPIPE ignored",
            .lib = &bx_lib_pair,
            .raw = &bx_raw_pipe,
            .in_default = true},
     .addr_fmt = "pipe:?max_msg=%zu"},
    {.be = {.name = "pipe-dfl",
            .scheme = "pipe",
            .pair = true,
            .sigpipe_dfl = true,
            .raw_what = "as pipe, SIGPIPE at SIG_DFL and blocked around "
                        "each writev",
            .lib = &bx_lib_pair,
            .raw = &bx_raw_pipe,
            .in_default = true},
     .addr_fmt = "pipe:?max_msg=%zu"},
    {.be = {.name = "unix",
            .scheme = "unix",
            .raw_what = "sendmsg/recvmsg(hdr, payload), SOCK_SEQPACKET "
                        "socketpair",
            .lib = &bx_lib_named,
            .raw = &bx_raw_unix,
            .in_default = true},
     .naming = NAME_PLAIN,
     .addr_fmt = "unix:@%s?max_msg=%zu"},
    {.be = {.name = "unix-pair",
            .scheme = "unix",
            .pair = true,
            .raw_what = "sendmsg/recvmsg(hdr, payload), SOCK_SEQPACKET "
                        "socketpair",
            .lib = &bx_lib_pair,
            .raw = &bx_raw_unix,
            .in_default = true},
     .addr_fmt = "unix:?max_msg=%zu"},
    {.be = {.name = "fifo",
            .scheme = "fifo",
            .raw_what = "writev(hdr, payload); read(hdr), read(payload); "
                        "SIGPIPE ignored",
            .lib = &bx_lib_named,
            .raw = &bx_raw_fifo,
            .in_default = true},
     .naming = NAME_PATH,
     .addr_fmt = "fifo:%s?max_msg=%zu"},
    {.be = {.name = "mq",
            .scheme = "mq",
            .raw_what = "mq_send/mq_receive, depth fs.mqueue.msg_max",
            .lib = &bx_lib_named,
            .raw = &bx_raw_mq,
            .in_default = true,
            .limit = limit_mq},
     .cap = CAP_MQ,
     .naming = NAME_PLAIN,
     .addr_fmt = "mq:/%s?capacity=%zu&max_msg=%zu"},
    {.be = {.name = "sysv",
            .scheme = "sysv",
            .raw_what = "msgsnd/msgrcv, the message built in place",
            .lib = &bx_lib_named,
            .raw = &bx_raw_sysv,
            .in_default = true,
            .limit = limit_sysv},
     .naming = NAME_KEY,
     .addr_fmt = "sysv:0x%08x?max_msg=%zu"},
    /* The same libipc ends against the loops a user writes who needs no
     * framing (fixed-size messages): one write/read or send/recv each. */
    {.be = {.name = "pipe-plain",
            .scheme = "pipe",
            .pair = true,
            .raw_what = "write(msg); read(exactly size bytes): no header, "
                        "SIGPIPE ignored",
            .lib = &bx_lib_pair,
            .raw = &bx_raw_pipe_plain},
     .addr_fmt = "pipe:?max_msg=%zu"},
    {.be = {.name = "unix-plain",
            .scheme = "unix",
            .pair = true,
            .raw_what = "send(msg)/recv(msg): no header, SOCK_SEQPACKET "
                        "socketpair",
            .lib = &bx_lib_pair,
            .raw = &bx_raw_unix_plain},
     .addr_fmt = "unix:?max_msg=%zu"},
    /* The same rows against the kernel work libipc asks for: mq reports
     * the priority, sysv receives in priority order (a queue walk). */
    {.be = {.name = "mq-prio",
            .scheme = "mq",
            .raw_what = "as mq, mq_receive also reporting the priority",
            .lib = &bx_lib_named,
            .raw = &bx_raw_mq_prio,
            .limit = limit_mq},
     .cap = CAP_MQ,
     .naming = NAME_PLAIN,
     .addr_fmt = "mq:/%s?capacity=%zu&max_msg=%zu"},
    {.be = {.name = "sysv-prio",
            .scheme = "sysv",
            .raw_what = "as sysv, msgrcv in priority order (type -32)",
            .lib = &bx_lib_named,
            .raw = &bx_raw_sysv_prio,
            .limit = limit_sysv},
     .naming = NAME_KEY,
     .addr_fmt = "sysv:0x%08x?max_msg=%zu"},
    {.be = {.name = "shm",
            .scheme = "shm",
            .raw_what = "SPSC ring in shared memory: per-slot sequence, "
                        "spin, then futex",
            .lib = &bx_lib_named,
            .raw = &bx_raw_ring,
            .in_default = true},
     .cap = CAP_RING,
     .naming = NAME_PLAIN,
     .addr_fmt = "shm:/%s?capacity=%zu&max_msg=%zu"},
    /* The shm ring against the two hand-written rings users compare
     * with (bench-ring.c), both spinning and then sleeping on a futex. */
    {.be = {.name = "shm-vyukov",
            .scheme = "shm",
            .raw_what = "Vyukov bounded MPMC queue in shared memory: "
                        "CAS-claimed indices, per-slot sequence; spin, "
                        "then futex",
            .lib = &bx_lib_named,
            .raw = &bx_raw_ring,
            .ring_kind = BENCH_RING_VYUKOV},
     .cap = CAP_RING,
     .naming = NAME_PLAIN,
     .addr_fmt = "shm:/%s?capacity=%zu&max_msg=%zu"},
    {.be = {.name = "shm-spsc",
            .scheme = "shm",
            .raw_what = "SPSC ring in shared memory: head/tail indices "
                        "with cached peer copies; spin, then futex",
            .lib = &bx_lib_named,
            .raw = &bx_raw_ring,
            .ring_kind = BENCH_RING_SPSC},
     .cap = CAP_RING,
     .naming = NAME_PLAIN,
     .addr_fmt = "shm:/%s?capacity=%zu&max_msg=%zu"},
    {.be = {.name = "tcp",
            .scheme = "tcp",
            .raw_what = "sendmsg(hdr, payload); read(hdr), read(payload) "
                        "on a loopback TCP connection, TCP_NODELAY",
            .lib = &bx_lib_named,
            .raw = &bx_raw_tcp,
            .in_default = true},
     .naming = NAME_PORT,
     .addr_fmt = "tcp:127.0.0.1:%u?max_msg=%zu"},
    /* Not in the default set: both sides with Nagle's algorithm on. */
    {.be = {.name = "tcp-nagle",
            .scheme = "tcp",
            .raw_what = "as tcp, without TCP_NODELAY; libipc with nodelay=0",
            .lib = &bx_lib_named,
            .raw = &bx_raw_tcp,
            .nagle = true},
     .naming = NAME_PORT,
     .addr_fmt = "tcp:127.0.0.1:%u?max_msg=%zu&nodelay=0"},
    {.be = {.name = "udp",
            .scheme = "udp",
            .raw_what = "sendto/recv of one datagram on loopback; one-way "
                        "bursts wait for an echo every few messages",
            .lib = &bx_lib_named,
            .raw = &bx_raw_udp,
            .in_default = true,
            .lossy = true,
            .limit = limit_udp},
     .naming = NAME_PORT,
     .addr_fmt = "udp:127.0.0.1:%u?max_msg=%zu"},
#if IPC_BENCH_NNG
    /* Not in the default set: TCP through nng's threads. */
    {.be = {.name = "nng",
            .scheme = "nng",
            .raw_what = "nng push/pull over tcp on loopback, nng_send/"
                        "nng_recv blocking",
            .lib = &bx_lib_named,
            .raw = &bx_raw_nng},
     .naming = NAME_PORT,
     .raw_url = true,
     .addr_fmt = "nng+tcp://127.0.0.1:%u?max_msg=%zu"},
#endif
#if IPC_BENCH_ZMQ
    /* Not in the default set: what a ZeroMQ user compares with. */
    {.be = {.name = "shm-zmq",
            .scheme = "shm",
            .raw_what = "ZeroMQ PUSH/PULL over ipc:// (a UNIX socket), "
                        "zmq_send/zmq_recv blocking",
            .lib = &bx_lib_named,
            .raw = &bx_raw_zmq},
     .cap = CAP_RING,
     .naming = NAME_PLAIN,
     .addr_fmt = "shm:/%s?capacity=%zu&max_msg=%zu"},
    {.be = {.name = "tcp-zmq",
            .scheme = "tcp",
            .raw_what = "ZeroMQ PUSH/PULL over tcp:// on loopback, "
                        "zmq_send/zmq_recv blocking",
            .lib = &bx_lib_named,
            .raw = &bx_raw_zmq},
     .naming = NAME_PORT,
     .raw_url = true,
     .addr_fmt = "tcp:127.0.0.1:%u?max_msg=%zu"},
#endif
    {.be = {.name = "memcpy",
            .raw_what = "memcpy on one core: the copy limit for large "
                        "messages",
            .in_default = true}},
};
#define NBACKENDS (sizeof backends / sizeof backends[0])

static size_t ring_capacity(size_t size)
{
    size_t c = RING_FOOTPRINT / size;
    return c < 8 ? 8 : c > 256 ? 256 : c;
}

static size_t row_capacity(const struct backend_row *row, size_t size)
{
    if (row->cap == CAP_MQ) {
        long m = bx_proc_long("/proc/sys/fs/mqueue/msg_max");
        return m > 0 ? (size_t)m : 10;
    }
    if (row->cap == CAP_RING)
        return ring_capacity(size);
    return 0;
}

static const char *tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    return t && *t && strlen(t) < 64 ? t : "/tmp";
}

/* A loopback port of the socket type free at this instant: the kernel's
 * pick for port 0, released for the receiver to bind next (another bind
 * in between could take it). 0 if none. */
static unsigned free_port(int type)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    unsigned port = 0;
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Unique names for one row and side: pid + counter, per direction. The
 * options go to both ends, so that they agree on max_msg and capacity. */
static void make_names(const struct backend_row *row, struct bx *x, bool lib)
{
    static unsigned counter;
    unsigned n = counter++;
    int pid = (int)getpid();
    for (int d = 0; d < 2; d++) {
        char base[96], path[128];
        char *out = x->name[d];
        size_t len = sizeof x->name[d];
        snprintf(base, sizeof base, "ipcbench-%d-%u-%c%s", pid, n, "ab"[d],
                 lib ? "" : "-raw");
        snprintf(path, sizeof path, "%s/%s", tmpdir(), base);
        if (row->naming == NAME_PORT && !lib) {
            /* Raw tcp and udp make their sockets in prepare; raw nng
             * and ZeroMQ listen on a URL. */
            out[0] = '\0';
            if (row->raw_url)
                snprintf(out, len, "tcp://127.0.0.1:%u",
                         free_port(SOCK_STREAM));
            continue;
        }
        if (!lib) {
            snprintf(out, len, "%s", row->naming == NAME_PATH ? path : "");
            if (row->naming == NAME_PLAIN)
                snprintf(out, len, "/%s", base);
            continue;
        }
        switch (row->naming) {
        case NAME_PAIR:
            snprintf(out, len, row->addr_fmt, x->size);
            break;
        case NAME_PORT:
            snprintf(out, len, row->addr_fmt,
                     free_port(strcmp(row->be.scheme, "udp") == 0
                                   ? SOCK_DGRAM
                                   : SOCK_STREAM),
                     x->size);
            break;
        case NAME_PLAIN:
        case NAME_PATH:
            if (row->cap != CAP_NONE)
                snprintf(out, len, row->addr_fmt,
                         row->naming == NAME_PATH ? path : base, x->capacity,
                         x->size);
            else
                snprintf(out, len, row->addr_fmt,
                         row->naming == NAME_PATH ? path : base, x->size);
            break;
        case NAME_KEY: {
            /* 0x1b and 24 bits mixed from pid, clock, counter, direction:
             * a key someone else holds makes the create fail (EXCL), so
             * keep collisions with other runs and tests unlikely. */
            uint64_t h = ((uint64_t)pid << 32 ^ (uint64_t)now_ns()) +
                         (uint64_t)n * 2 + (uint64_t)d;
            h ^= h >> 33;
            h *= 0xff51afd7ed558ccdull;
            h ^= h >> 33;
            unsigned key = 0x1b000000u | (unsigned)(h & 0xffffff);
            snprintf(out, len, row->addr_fmt, key, x->size);
            break;
        }
        }
    }
}

/* Built? The library's own list says (ipc_scheme_caps: IPC_ENOTSUP when
 * built out, IPC_EINVAL for a scheme this libipc does not know). */
static bool lib_built(const struct backend_row *row, char *why, size_t whylen)
{
    unsigned caps = 0;
    if (ipc_scheme_caps(row->be.scheme, &caps) == IPC_OK)
        return true;
    snprintf(why, whylen, "%s", ipc_last_detail());
    return false;
}

/* A row is a scheme paired with the raw system calls it is measured
 * against (bench-raw.c): a scheme of ipc_scheme() without one is said, not
 * silently skipped. */
static void warn_unmeasured(void)
{
    for (size_t i = 0; ipc_scheme(i); i++) {
        bool has_row = false;
        for (size_t b = 0; b < NBACKENDS; b++)
            has_row =
                has_row || (backends[b].be.scheme &&
                            strcmp(backends[b].be.scheme, ipc_scheme(i)) == 0);
        if (!has_row)
            fprintf(stderr,
                    "ipc-bench: scheme %s has no row (no raw counterpart "
                    "yet): not measured\n",
                    ipc_scheme(i));
    }
}

/* ------------------------------------------------------- the protocol */

enum { V_RAW = 0, V_LIB = 1, V_COUNT };
#define SIDE_ABSENT (-1) /* memcpy's libipc side; a side never started */

/* One side (libipc or raw) of a row, as measured by the initiator. */
struct side {
    int status;       /* enum bx_status, or SIDE_ABSENT */
    bool peer_failed; /* stopped because the other process failed */
    char detail[256];
    int n;                 /* repetitions completed */
    double tput[MAX_REPS]; /* one-way msgs/s of each repetition */
    double rtt[MAX_REPS];  /* median round trip of each repetition, ns */
    double rtt_p99;        /* p99 over every round trip of every rep, ns */
    /* CPU time of the timed one-way burst: the initiator's (with its
     * message count), the responder's (in its own report), and the sum per
     * message, made by the orchestrator. Waiting for a CPU is not CPU
     * time: on a busy machine this is what the calls cost, not when. */
    double msgs[MAX_REPS];
    double icpu[MAX_REPS], rcpu[MAX_REPS];
    double cpu[MAX_REPS]; /* ns per message, both processes */
    /* TCP data segments the sender sent a one-way message (NAN: not
     * TCP): 1 where each message left on its own, far less where the
     * receiver fell behind and messages piled up in the send queue. */
    double segs[MAX_REPS];
    /* Send to receive of the timed burst's stamped messages (the
     * responder's figures; NAN: messages too small to carry a stamp). */
    double delay_med[MAX_REPS], delay_p99[MAX_REPS];
};

/* What each child sends the orchestrator when it is done. */
struct report {
    struct side side[V_COUNT];
};

/* Round-trip samples of one side, pooled over repetitions. */
struct pool {
    int64_t *v;
    size_t n, cap;
};

static void stamp(unsigned char *buf, size_t size, uint64_t seq)
{
    uint64_t inv = ~seq;
    memcpy(buf, &seq, 8);
    memcpy(buf + size - 8, &inv, 8);
}

static int check(struct bx *x, const unsigned char *buf, size_t len,
                 uint64_t *seq)
{
    uint64_t inv;
    if (len != x->size)
        return bx_fail(x, BX_ERROR, "received %zu bytes, sent %zu", len,
                       x->size);
    memcpy(seq, buf, 8);
    memcpy(&inv, buf + len - 8, 8);
    if (inv != ~*seq)
        return bx_fail(x, BX_ERROR, "message 0x%llx: its tail is corrupt",
                       (unsigned long long)*seq);
    return BX_OK;
}

static int expect_echo(struct bx *x, const unsigned char *buf, size_t len,
                       uint64_t want)
{
    uint64_t seq = 0;
    int st = check(x, buf, len, &seq);
    if (st == BX_OK && seq != want)
        return bx_fail(x, BX_ERROR, "echo 0x%llx, expected 0x%llx",
                       (unsigned long long)seq, (unsigned long long)want);
    return st;
}

/* A lossy row's window: messages sent before waiting for an echo, so
 * that they fit the receiver's socket buffer (net.core.rmem_default) with
 * room to spare; the kernel counts about 1 KiB of overhead a datagram. */
static unsigned lossy_window(size_t size)
{
    static long rmem;
    if (rmem == 0)
        rmem = bx_proc_long("/proc/sys/net/core/rmem_default");
    size_t room = rmem > 0 ? (size_t)rmem / 4 : 32768;
    size_t w = room / (size + 1024);
    return w < 1 ? 1 : w > 256 ? 256 : (unsigned)w;
}

/* SYNC and wait for its echo (lossy rows, every window). */
static int sync_echo(struct bx *x, unsigned char *sb, unsigned char *rb,
                     uint64_t n)
{
    size_t len;
    int st;
    stamp(sb, x->size, SEQ_SYNC | n);
    if ((st = x->ops->send(x, BX_DIR_A, sb, x->size)) != BX_OK ||
        (st = x->ops->recv(x, BX_DIR_B, rb, x->size, &len)) != BX_OK)
        return st;
    return expect_echo(x, rb, len, SEQ_SYNC | n);
}

/* Send for dur_ns, then STOP and wait for its echo: all sent messages
 * have then been received and checked. A lossy row also waits for an echo
 * every lossy_window() messages. */
static int run_burst(struct bx *x, int64_t dur_ns, unsigned char *sb,
                     unsigned char *rb, uint64_t *count, int64_t *elapsed,
                     int64_t *cpu)
{
    const struct bx_ops *ops = x->ops;
    size_t size = x->size, len;
    uint64_t n = 0;
    int st;
    int64_t c0 = cpu_ns();
    int64_t t0 = now_ns(), end = t0 + dur_ns;
    const int batch = SEND_BATCH(size);
    const uint64_t window = x->be->lossy ? lossy_window(size) : 0;
    const bool timed = size >= DELAY_MIN_SIZE;
    do {
        for (int k = 0; k < batch; k++, n++) {
            if (window && n > 0 && n % window == 0 &&
                (st = sync_echo(x, sb, rb, n)) != BX_OK)
                return st;
            stamp(sb, size, n);
            if (timed) {
                int64_t sent = k == 0 ? now_ns() : 0;
                memcpy(sb + 8, &sent, 8);
            }
            if ((st = ops->send(x, BX_DIR_A, sb, size)) != BX_OK)
                return st;
        }
    } while (now_ns() < end);
    stamp(sb, size, SEQ_STOP | n);
    if ((st = ops->send(x, BX_DIR_A, sb, size)) != BX_OK ||
        (st = ops->recv(x, BX_DIR_B, rb, size, &len)) != BX_OK ||
        (st = expect_echo(x, rb, len, SEQ_STOP | n)) != BX_OK)
        return st;
    *elapsed = now_ns() - t0;
    *cpu = cpu_ns() - c0;
    *count = n;
    return BX_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Ping-pong for dur_ns; with a pool, one sample per round trip appended
 * (room is made and touched before the clock starts). */
static int run_pingpong(struct bx *x, int64_t dur_ns, unsigned char *sb,
                        unsigned char *rb, struct pool *pool)
{
    const struct bx_ops *ops = x->ops;
    size_t size = x->size, len, room = 0;
    int64_t *out = NULL;
    if (pool) {
        if (pool->cap - pool->n < RTT_SAMPLES_REP) {
            size_t cap = pool->cap + RTT_SAMPLES_REP;
            int64_t *v = realloc(pool->v, cap * sizeof *v);
            if (!v)
                return bx_fail(x, BX_ERROR, "out of memory");
            memset(v + pool->cap, 0, RTT_SAMPLES_REP * sizeof *v);
            pool->v = v;
            pool->cap = cap;
        }
        out = pool->v + pool->n;
        room = RTT_SAMPLES_REP;
    }
    size_t k = 0;
    int st;
    int64_t end = now_ns() + dur_ns;
    for (uint64_t i = 0;; i++) {
        stamp(sb, size, SEQ_PING | i);
        int64_t t0 = now_ns();
        if ((st = ops->send(x, BX_DIR_A, sb, size)) != BX_OK ||
            (st = ops->recv(x, BX_DIR_B, rb, size, &len)) != BX_OK)
            return st;
        int64_t t1 = now_ns();
        if ((st = expect_echo(x, rb, len, SEQ_PING | i)) != BX_OK)
            return st;
        if (out)
            out[k++] = t1 - t0;
        if (t1 >= end || (out && k == room))
            break;
    }
    if (pool)
        pool->n += k;
    return BX_OK;
}

/* One repetition of one side: one-way, then round trip, then QUIT. */
static int run_slice(struct bx *x, unsigned char *sb, unsigned char *rb,
                     struct pool *pool, struct side *s)
{
    int64_t warm = (int64_t)cfg.warm_ms * 1000000;
    int64_t dur = (int64_t)cfg.dur_ms * 1000000;
    uint64_t n;
    int64_t el, cpu;
    int st = run_burst(x, warm, sb, rb, &n, &el, &cpu);
    int sfd = x->ops->send_fd ? x->ops->send_fd(x, BX_DIR_A) : -1;
    double segs0 = tcp_data_segs(sfd);
    if (st == BX_OK)
        st = run_burst(x, dur, sb, rb, &n, &el, &cpu);
    if (st != BX_OK)
        return st;
    s->segs[s->n] = (tcp_data_segs(sfd) - segs0) / (double)n;
    s->tput[s->n] = (double)n * 1e9 / (double)el;
    s->msgs[s->n] = (double)n;
    s->icpu[s->n] = (double)cpu;
    size_t first = pool->n;
    if ((st = run_pingpong(x, warm, sb, rb, NULL)) != BX_OK ||
        (st = run_pingpong(x, dur, sb, rb, pool)) != BX_OK)
        return st;
    size_t k = pool->n - first;
    qsort(pool->v + first, k, sizeof *pool->v, cmp_i64);
    s->rtt[s->n] = (double)pool->v[first + (k - 1) / 2];
    stamp(sb, x->size, SEQ_QUIT);
    return x->ops->send(x, BX_DIR_A, sb, x->size);
}

/* Serve one slice: check every message, echo STOP and PING, end at QUIT.
 * *cpu: CPU time between the first two STOPs (the timed one-way burst). */
/* The stamped messages' delays of one timed burst (responder). */
struct delays {
    int64_t v[DELAY_SAMPLES_REP];
    size_t n;
};

static void delay_note(struct delays *d, const unsigned char *rb, size_t len)
{
    int64_t sent;
    if (len < DELAY_MIN_SIZE || d->n == DELAY_SAMPLES_REP)
        return;
    memcpy(&sent, rb + 8, 8);
    if (sent != 0)
        d->v[d->n++] = now_ns() - sent;
}

static void delay_sum(struct delays *d, double *med, double *p99)
{
    *med = *p99 = NAN;
    if (d->n == 0)
        return;
    qsort(d->v, d->n, sizeof *d->v, cmp_i64);
    size_t i99 = (size_t)ceil(0.99 * (double)d->n);
    *med = (double)d->v[(d->n - 1) / 2];
    *p99 = (double)d->v[i99 > 0 ? i99 - 1 : 0];
}

/* Serve one slice: check every message, echo STOP and PING, end at QUIT.
 * s: the CPU time between the first two STOPs (the timed one-way burst),
 * and the delays of that burst's stamped messages. */
static int responder(struct bx *x, unsigned char *rb, struct side *s)
{
    static struct delays d;
    const struct bx_ops *ops = x->ops;
    size_t size = x->size, len;
    uint64_t expect = 0, seq = 0;
    int st, stops = 0;
    int64_t c0 = 0;
    d.n = 0;
    for (;;) {
        if ((st = ops->recv(x, BX_DIR_A, rb, size, &len)) != BX_OK ||
            (st = check(x, rb, len, &seq)) != BX_OK)
            return st;
        if (!(seq & SEQ_KIND)) {
            if (seq != expect)
                return bx_fail(x, BX_ERROR, "message %llu, expected %llu",
                               (unsigned long long)seq,
                               (unsigned long long)expect);
            expect++;
            if (stops == 1)
                delay_note(&d, rb, len);
            continue;
        }
        if (seq == SEQ_QUIT)
            return BX_OK;
        if ((seq & SEQ_KIND) == SEQ_SYNC && (seq & ~SEQ_KIND) != expect)
            return bx_fail(x, BX_ERROR, "SYNC after %llu, received %llu",
                           (unsigned long long)(seq & ~SEQ_KIND),
                           (unsigned long long)expect);
        if ((seq & SEQ_KIND) == SEQ_STOP) {
            if ((seq & ~SEQ_KIND) != expect)
                return bx_fail(x, BX_ERROR, "STOP after %llu, received %llu",
                               (unsigned long long)(seq & ~SEQ_KIND),
                               (unsigned long long)expect);
            expect = 0;
            if (++stops == 1)
                c0 = cpu_ns();
            else if (stops == 2) {
                s->rcpu[s->n] = (double)(cpu_ns() - c0);
                delay_sum(&d, &s->delay_med[s->n], &s->delay_p99[s->n]);
            }
        } else if ((seq & SEQ_KIND) != SEQ_PING && (seq & SEQ_KIND) != SEQ_SYNC)
            return bx_fail(x, BX_ERROR, "unknown message 0x%llx",
                           (unsigned long long)seq);
        if ((st = ops->send(x, BX_DIR_B, rb, size)) != BX_OK)
            return st;
    }
}

/* ----------------------------------------------------------- children */

static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static bool write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* The barrier: tell the peer how this step went for each side, learn how
 * its went; a side goes on only where both succeeded. */
static void exchange(int rd, int wr, int st[V_COUNT], struct side *sides)
{
    unsigned char mine[V_COUNT], theirs[V_COUNT];
    for (int v = 0; v < V_COUNT; v++)
        mine[v] = (unsigned char)st[v];
    if (!write_all(wr, mine, sizeof mine) ||
        !read_all(rd, theirs, sizeof theirs))
        _exit(1); /* the peer died: the orchestrator says so */
    for (int v = 0; v < V_COUNT; v++)
        if (st[v] == BX_OK && theirs[v] != BX_OK) {
            st[v] =
                theirs[v] == (unsigned char)SIDE_ABSENT ? BX_ERROR : theirs[v];
            sides[v].peer_failed = true;
            snprintf(sides[v].detail, sizeof sides[v].detail,
                     "the other process failed");
        }
}

static void child_main(struct bx x[V_COUNT], int role, pid_t parent, int ctl_rd,
                       int ctl_wr, int res_wr)
{
    static struct report rep;
    static struct pool pool[V_COUNT];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    signal(SIGINT, SIG_IGN); /* the orchestrator decides */
    signal(SIGTERM, SIG_DFL);
    pin(cfg.cpu[role]);
    unsigned char *sb = bx_buf_alloc(x[0].size);
    unsigned char *rb = bx_buf_alloc(x[0].size);
    if (!sb || !rb)
        _exit(1);
    memset(sb, 0xa5, x[0].size);

    int st[V_COUNT];
    for (int v = 0; v < V_COUNT; v++)
        st[v] = x[v].ops ? x[v].ops->create(&x[v], role) : SIDE_ABSENT;
    exchange(ctl_rd, ctl_wr, st, rep.side);
    for (int v = 0; v < V_COUNT; v++)
        if (st[v] == BX_OK)
            st[v] = x[v].ops->connect(&x[v], role);
    exchange(ctl_rd, ctl_wr, st, rep.side);
    for (int v = 0; v < V_COUNT; v++) {
        rep.side[v].status = st[v];
        if (st[v] != BX_OK && st[v] != SIDE_ABSENT && !rep.side[v].peer_failed)
            snprintf(rep.side[v].detail, sizeof rep.side[v].detail, "%s",
                     x[v].detail);
    }

    if (role == BX_INITIATOR) {
        for (int r = 0; r < cfg.reps; r++) {
            for (int k = 0; k < 2; k++) {
                /* lib, raw, raw, lib, lib, raw, ... */
                int v = (k == 0) == (r % 2 == 0) ? V_LIB : V_RAW;
                struct side *s = &rep.side[v];
                if (s->status != BX_OK)
                    continue;
                unsigned char which = (unsigned char)v;
                if (!write_all(ctl_wr, &which, 1))
                    _exit(1);
                int err = run_slice(&x[v], sb, rb, &pool[v], s);
                if (err != BX_OK) {
                    s->status = err;
                    snprintf(s->detail, sizeof s->detail, "%s", x[v].detail);
                    goto done; /* the responder may be stuck: stop here */
                }
                if (cfg.verbose)
                    fprintf(stderr,
                            "ipc-bench:   %s %zu B rep %d %-6s %10.0f "
                            "msgs/s, rtt median %8.2f us\n",
                            x[v].be->name, x[v].size, r + 1,
                            v == V_LIB ? "libipc" : "raw", s->tput[s->n],
                            s->rtt[s->n] / 1e3);
                s->n++;
            }
        }
        unsigned char end = 0xff;
        write_all(ctl_wr, &end, 1);
    } else {
        unsigned char which;
        while (read_all(ctl_rd, &which, 1) && which < V_COUNT) {
            struct side *s = &rep.side[which];
            int err = responder(&x[which], rb, s);
            if (err != BX_OK) {
                s->status = err;
                snprintf(s->detail, sizeof s->detail, "%s", x[which].detail);
                break;
            }
            s->n++;
        }
    }
done:
    for (int v = 0; v < V_COUNT; v++) {
        struct pool *p = &pool[v];
        if (p->n == 0)
            continue;
        qsort(p->v, p->n, sizeof *p->v, cmp_i64);
        size_t i99 = (size_t)ceil(0.99 * (double)p->n);
        rep.side[v].rtt_p99 = (double)p->v[i99 > 0 ? i99 - 1 : 0];
    }
    write_all(res_wr, &rep, sizeof rep);
    for (int v = 0; v < V_COUNT; v++) {
        if (x[v].ops)
            x[v].ops->close(&x[v], role);
        free(pool[v].v);
    }
    bx_buf_free(sb);
    bx_buf_free(rb);
    _exit(0);
}

/* -------------------------------------------------------- orchestrator */

static volatile sig_atomic_t interrupted;
static volatile pid_t kids[2];

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    for (int i = 0; i < 2; i++)
        if (kids[i] > 0)
            kill(kids[i], SIGKILL);
}

static void reap(pid_t pid)
{
    while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static bool report_failed(const struct report *r)
{
    for (int v = 0; v < V_COUNT; v++)
        if (r->side[v].status == BX_ERROR && !r->side[v].peer_failed)
            return true;
    return false;
}

/* Read both reports. A child that fails, dies or outlives the deadline
 * gets its peer killed (it may be blocked on the channel). why[i] says
 * what happened to a child without a report. */
static void collect(int fds[2], struct report rep[2], bool got[2],
                    const char *why[2], int64_t limit_ns)
{
    bool done[2] = {false, false};
    size_t have[2] = {0, 0};
    int64_t end = now_ns() + limit_ns;
    while (!done[0] || !done[1]) {
        struct pollfd p[2];
        int np = 0, idx[2];
        for (int i = 0; i < 2; i++)
            if (!done[i]) {
                p[np].fd = fds[i];
                p[np].events = POLLIN;
                idx[np++] = i;
            }
        int64_t left = end - now_ns();
        if (interrupted || left <= 0) {
            for (int i = 0; i < 2; i++)
                if (!done[i]) {
                    why[i] = interrupted ? "interrupted"
                                         : "no answer in time: the "
                                           "transport hung";
                    kill(kids[i], SIGKILL);
                }
            return;
        }
        if (poll(p, (nfds_t)np, (int)(left / 1000000) + 1) <= 0)
            continue;
        for (int j = 0; j < np; j++) {
            int i = idx[j];
            if (!p[j].revents)
                continue;
            ssize_t n = read(fds[i], (char *)&rep[i] + have[i],
                             sizeof rep[i] - have[i]);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0 && (have[i] += (size_t)n) < sizeof rep[i])
                continue;
            done[i] = true;
            got[i] = n > 0;
            if (!got[i])
                why[i] = "the process died without a report";
            if (!got[i] || report_failed(&rep[i]))
                kill(kids[!i], SIGKILL);
        }
    }
}

static void side_set(struct side *s, int status, const char *detail)
{
    s->status = status;
    snprintf(s->detail, sizeof s->detail, "%s", detail);
}

/* The story of one side: a child's own failure first (the responder's
 * first: it checks the messages, and the initiator's failure is then only
 * the consequence, a closed channel); else the initiator's figures; else
 * what happened to a child that never said. */
static void merge_side(struct side *out, const struct report rep[2],
                       const bool got[2], const char *why[2], int v)
{
    for (int i = BX_RESPONDER; i >= BX_INITIATOR; i--) {
        const struct side *s = &rep[i].side[v];
        if (got[i] && s->status != BX_OK && !s->peer_failed) {
            *out = *s;
            return;
        }
    }
    if (got[BX_INITIATOR]) {
        *out = rep[BX_INITIATOR].side[v];
        const struct side *r = &rep[BX_RESPONDER].side[v];
        for (int i = 0; i < out->n; i++) {
            bool both = got[BX_RESPONDER] && i < r->n;
            out->cpu[i] = both && out->msgs[i] > 0
                              ? (out->icpu[i] + r->rcpu[i]) / out->msgs[i]
                              : NAN;
            out->delay_med[i] = both ? r->delay_med[i] : NAN;
            out->delay_p99[i] = both ? r->delay_p99[i] : NAN;
        }
        return;
    }
    /* The initiator was stopped because the other side failed: this one
     * has no figures, and no fault. */
    const struct side *other = &rep[BX_RESPONDER].side[!v];
    if (got[BX_RESPONDER] && other->status == BX_ERROR && !other->peer_failed) {
        side_set(out, BX_SKIP,
                 v == V_LIB ? "not measured: the raw side "
                              "failed"
                            : "not measured: the libipc side "
                              "failed");
        return;
    }
    out->status = BX_ERROR;
    snprintf(out->detail, sizeof out->detail, "%s",
             why[BX_INITIATOR]   ? why[BX_INITIATOR]
             : why[BX_RESPONDER] ? why[BX_RESPONDER]
                                 : "no report");
}

/* Both sides of one row in one pair of processes. */
static void run_row(const struct backend_row *row, size_t size, bool built,
                    const char *why_not_built, struct side out[V_COUNT])
{
    struct bx x[V_COUNT];
    memset(x, 0, sizeof x);
    for (int v = 0; v < V_COUNT; v++) {
        struct bx *b = &x[v];
        b->be = &row->be;
        b->size = size;
        b->capacity = row_capacity(row, size);
        b->timeout_ms = cfg.timeout_ms;
        b->sigpipe_mask = row->be.sigpipe_dfl;
        for (int d = 0; d < 2; d++)
            b->fd[d][0] = b->fd[d][1] = -1;
        make_names(row, b, v == V_LIB);
        out[v].status = BX_OK;
    }
    /* libipc pairs decide at creation whether to guard writes against
     * SIGPIPE; the children inherit the disposition. */
    signal(SIGPIPE, row->be.sigpipe_dfl ? SIG_DFL : SIG_IGN);
    bool started[V_COUNT] = {false, false};
    for (int v = 0; v < V_COUNT; v++) {
        const struct bx_ops *ops = v == V_LIB ? row->be.lib : row->be.raw;
        if (v == V_LIB && !built) {
            side_set(&out[v], BX_NOTBUILT, why_not_built);
            continue;
        }
        if (cfg.side_off[v]) {
            side_set(&out[v], SIDE_ABSENT, "");
            continue;
        }
        x[v].ops = ops;
        int st = ops->prepare ? ops->prepare(&x[v]) : BX_OK;
        if (st != BX_OK) {
            side_set(&out[v], st, x[v].detail);
            if (ops->parent_close)
                ops->parent_close(&x[v]);
            if (ops->cleanup)
                ops->cleanup(&x[v]);
            x[v].ops = NULL;
            continue;
        }
        started[v] = true;
    }
    int ctl[2][2] = {{-1, -1}, {-1, -1}}, res[2][2] = {{-1, -1}, {-1, -1}};
    bool pipes_ok = true;
    for (int i = 0; i < 2; i++)
        pipes_ok = pipes_ok && pipe2(ctl[i], O_CLOEXEC) == 0 &&
                   pipe2(res[i], O_CLOEXEC) == 0;
    if ((started[0] || started[1]) && pipes_ok) {
        fflush(NULL);
        pid_t parent = getpid();
        for (int role = 0; role < 2; role++) {
            kids[role] = fork();
            if (kids[role] == 0)
                /* each reads the other's control pipe, writes its own */
                child_main(x, role, parent, ctl[!role][0], ctl[role][1],
                           res[role][1]);
        }
        signal(SIGPIPE, SIG_IGN);
        for (int v = 0; v < V_COUNT; v++)
            if (started[v] && x[v].ops->parent_close)
                x[v].ops->parent_close(&x[v]);
        for (int i = 0; i < 2; i++) {
            close(ctl[i][0]);
            close(ctl[i][1]);
            close(res[i][1]);
            ctl[i][0] = ctl[i][1] = res[i][1] = -1;
        }
        static struct report rep[2];
        memset(rep, 0, sizeof rep);
        bool got[2] = {false, false};
        const char *why[2] = {NULL, NULL};
        int rfd[2] = {res[0][0], res[1][0]};
        if (kids[0] < 0 || kids[1] < 0) {
            why[0] = why[1] = "fork failed";
            for (int i = 0; i < 2; i++)
                if (kids[i] > 0)
                    kill(kids[i], SIGKILL);
        } else {
            int64_t slice = 2 * (int64_t)(cfg.warm_ms + cfg.dur_ms);
            int64_t limit = (4 * 2 * cfg.reps * slice + 20000) * 1000000;
            collect(rfd, rep, got, why, limit);
        }
        for (int i = 0; i < 2; i++) {
            reap(kids[i]);
            kids[i] = 0;
        }
        for (int v = 0; v < V_COUNT; v++)
            if (started[v])
                merge_side(&out[v], rep, got, why, v);
    } else if (!pipes_ok) {
        for (int v = 0; v < V_COUNT; v++)
            if (started[v])
                side_set(&out[v], BX_ERROR, "pipe2 failed");
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            if (ctl[i][j] >= 0)
                close(ctl[i][j]);
            if (res[i][j] >= 0)
                close(res[i][j]);
        }
    signal(SIGPIPE, SIG_IGN);
    for (int v = 0; v < V_COUNT; v++)
        if (started[v] && x[v].ops->cleanup)
            x[v].ops->cleanup(&x[v]);
}

/* memcpy from one buffer into a rotation of buffers as large as the ring
 * the shm rows use, on one pinned core. */
static double run_memcpy(size_t size)
{
    size_t k = ring_capacity(size);
    unsigned char *src = bx_buf_alloc(size);
    unsigned char **dst = calloc(k, sizeof *dst);
    double rate = -1;
    if (!src || !dst)
        goto out;
    for (size_t i = 0; i < k; i++)
        if (!(dst[i] = bx_buf_alloc(size)))
            goto out;
    cpu_set_t old;
    sched_getaffinity(0, sizeof old, &old);
    pin(cfg.cpu[1]);
    for (int pass = 0; pass < 2; pass++) {
        int64_t dur = (int64_t)(pass ? cfg.dur_ms : cfg.warm_ms) * 1000000;
        int64_t t0 = now_ns(), t1, end = t0 + dur;
        uint64_t n = 0;
        size_t j = 0;
        do {
            for (int b = 0; b < SEND_BATCH(size); b++, n++) {
                memcpy(dst[j], src, size);
                j = j + 1 == k ? 0 : j + 1;
            }
            __asm__ __volatile__("" ::: "memory");
        } while ((t1 = now_ns()) < end);
        rate = (double)n * 1e9 / (double)(t1 - t0);
    }
    sched_setaffinity(0, sizeof old, &old);
out:
    if (dst)
        for (size_t i = 0; i < k; i++)
            bx_buf_free(dst[i]);
    free(dst);
    bx_buf_free(src);
    return rate;
}

/* ------------------------------------------------------------- results */

/* The tests of a row, one table line and one ratio each. The ratio is
 * always "libipc speed / raw speed": above 1, libipc is faster. */
enum { T_ONEWAY, T_RTT, T_CPU, T_COUNT };
static const char *const test_name[T_COUNT] = {"one-way", "rtt", "cpu/msg"};
static const char *const test_unit[T_COUNT] = {"msgs/s", "ns", "ns"};

struct row_result {
    const struct backend_row *row;
    size_t size;
    int status; /* BX_SKIP for the whole row (an OS limit), else BX_OK */
    char why[256];
    struct side lib, raw;
    int npairs; /* repetitions where both ran */
    double ratio[T_COUNT][MAX_REPS];
};

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct stat3 {
    double med, min, max;
};

static struct stat3 stats(const double *v, int n)
{
    struct stat3 s = {NAN, NAN, NAN};
    if (n <= 0)
        return s;
    double tmp[MAX_REPS];
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_dbl);
    s.med = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
    s.min = tmp[0];
    s.max = tmp[n - 1];
    return s;
}

static const double *side_metric(const struct side *s, int t)
{
    return t == T_ONEWAY ? s->tput : t == T_RTT ? s->rtt : s->cpu;
}

/* memcpy has a rate only. */
static bool test_applies(const struct row_result *rr, int t)
{
    return rr->row->be.lib || t == T_ONEWAY;
}

static void measure_row(struct row_result *rr, bool built, const char *why)
{
    const struct backend_row *row = rr->row;
    if (cfg.verbose)
        fprintf(stderr, "ipc-bench: %s %zu B\n", row->be.name, rr->size);
    else if (cfg.progress)
        fprintf(stderr, "\ripc-bench: %-9s %8zu B ", row->be.name, rr->size);
    if (!row->be.lib) { /* memcpy: one side, in this process */
        rr->lib.status = SIDE_ABSENT;
        for (int rep = 0; rep < cfg.reps && !interrupted; rep++) {
            double rate = run_memcpy(rr->size);
            if (rate < 0) {
                side_set(&rr->raw, BX_ERROR, "out of memory");
                return;
            }
            rr->raw.tput[rr->raw.n] = rate;
            rr->raw.rtt[rr->raw.n++] = NAN;
        }
        rr->raw.rtt_p99 = NAN;
        return;
    }
    if (row->be.limit &&
        row->be.limit(rr->size, rr->why, sizeof rr->why) != 0) {
        rr->status = BX_SKIP;
        return;
    }
    struct side sides[V_COUNT];
    memset(sides, 0, sizeof sides);
    run_row(row, rr->size, built, why, sides);
    rr->lib = sides[V_LIB];
    rr->raw = sides[V_RAW];
    if (rr->raw.status == BX_SKIP) {
        rr->status = BX_SKIP;
        snprintf(rr->why, sizeof rr->why, "%s", rr->raw.detail);
        return;
    }
    int pairs = rr->lib.n < rr->raw.n ? rr->lib.n : rr->raw.n;
    for (int r = 0; r < pairs; r++) {
        rr->ratio[T_ONEWAY][r] = rr->lib.tput[r] / rr->raw.tput[r];
        rr->ratio[T_RTT][r] = rr->raw.rtt[r] / rr->lib.rtt[r];
        rr->ratio[T_CPU][r] = rr->raw.cpu[r] / rr->lib.cpu[r];
    }
    rr->npairs = pairs;
}

/* ------------------------------------------------------------- output */

static const char *size_str(size_t size, char *buf, size_t len)
{
    if (size >= (1u << 20) && size % (1u << 20) == 0)
        snprintf(buf, len, "%zu MiB", size >> 20);
    else if (size >= 1024 && size % 1024 == 0)
        snprintf(buf, len, "%zu KiB", size >> 10);
    else
        snprintf(buf, len, "%zu B", size);
    return buf;
}

static const char *rate_str(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else if (v >= 1e6)
        snprintf(buf, len, "%.2f M", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, len, "%.1f k", v / 1e3);
    else
        snprintf(buf, len, "%.0f", v);
    return buf;
}

static const char *status_name(int st)
{
    if (st < 0)
        return "n/a";
    switch (st) {
    case BX_OK:
        return "ok";
    case BX_NOTBUILT:
        return "not built";
    case BX_SKIP:
        return "skipped";
    default:
        return "error";
    }
}

/* One cell of the table: a side's median for a test, or why there is none. */
static void cell(const struct side *s, const struct row_result *rr, int t,
                 char *buf, size_t len)
{
    if (s->n == 0) {
        snprintf(buf, len, "%s", s->status < 0 ? "-" : status_name(s->status));
        return;
    }
    struct stat3 m = stats(side_metric(s, t), s->n);
    char r[32];
    if (isnan(m.med))
        snprintf(buf, len, "-");
    else if (t == T_ONEWAY)
        snprintf(buf, len, "%9s msg/s %8.1f MB/s", rate_str(m.med, r, sizeof r),
                 m.med * (double)rr->size / 1e6);
    else if (t == T_RTT)
        snprintf(buf, len, "%8.2f us  p99 %8.2f", m.med / 1e3,
                 s->rtt_p99 / 1e3);
    else
        snprintf(buf, len, "%8.2f us", m.med / 1e3);
}

static int spread_pct(const struct side *s, int t)
{
    struct stat3 m = stats(side_metric(s, t), s->n);
    if (s->n < 2 || isnan(m.med) || m.med == 0)
        return -1;
    return (int)lround(100 * (m.max - m.min) / m.med);
}

static void machine_info(char *cpu, size_t cpulen, struct utsname *u)
{
    snprintf(cpu, cpulen, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p += 1 + strspn(p + 1, " \t");
                p[strcspn(p, "\n")] = '\0';
                snprintf(cpu, cpulen, "%s", p);
            }
            break;
        }
    }
    if (f)
        fclose(f);
    uname(u);
}

/* Three significant digits, or two decimals below 10: 0.52, 12.3, 1840. */
static int digits(double v)
{
    return v < 10 ? 2 : v < 100 ? 1 : 0;
}

/* "0.02-1.00": the range of v[0..n) times scale; false if none is known. */
static bool range_str(const double *v, int n, double scale, char *out,
                      size_t size)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            lo = fmin(lo, v[i] * scale);
            hi = fmax(hi, v[i] * scale);
        }
    if (lo > hi)
        return false;
    snprintf(out, size, "%.*f-%.*f", digits(lo), lo, digits(hi), hi);
    return true;
}

/* TCP rows: segments a one-way message. A loop whose receiver falls behind
 * fills the window; its sends then only append to the send queue, and
 * leave as large segments: msgs/s can double, each message waiting longer
 * (a different regime, not a faster stack). This says which one ran. */
static void print_segments(const struct row_result *rows, int nrows)
{
    bool any = false;
    for (int i = 0; i < nrows; i++) {
        const struct side *l = &rows[i].lib, *r = &rows[i].raw;
        char a[40], b[40], sz[32];
        if (rows[i].status == BX_SKIP ||
            !range_str(l->segs, l->n, 1, a, sizeof a) ||
            !range_str(r->segs, r->n, 1, b, sizeof b))
            continue;
        if (!any)
            printf("\none-way TCP data segments a message (sender's "
                   "TCP_INFO; below what one message needs, e.g. 1 at\n64 "
                   "B: messages queued behind a slower receiver and left "
                   "together), min-max over repetitions:\n");
        any = true;
        printf("  %-9s %-7s libipc %s  raw %s\n", rows[i].row->be.name,
               size_str(rows[i].size, sz, sizeof sz), a, b);
    }
}

/* What the one-way rate cost each message: how long it waited between its
 * send and its receive. Equal rates at equal delays are the same work; a
 * higher rate bought with a longer queue is not a faster transport. */
static void print_delays(const struct row_result *rows, int nrows)
{
    bool any = false;
    for (int i = 0; i < nrows; i++) {
        const struct side *sd[2] = {&rows[i].lib, &rows[i].raw};
        char m[2][40], p[2][40], sz[32];
        bool ok = rows[i].status != BX_SKIP;
        for (int k = 0; k < 2 && ok; k++)
            ok = range_str(sd[k]->delay_med, sd[k]->n, 1e-3, m[k],
                           sizeof m[k]) &&
                 range_str(sd[k]->delay_p99, sd[k]->n, 1e-3, p[k], sizeof p[k]);
        if (!ok)
            continue;
        if (!any)
            printf("\none-way delay in the stream, us (send to receive; "
                   "one message in %d, each from 64 KiB;\nmessages of %d B "
                   "and more): min-max over repetitions of each one's "
                   "median and p99:\n",
                   SEND_BATCH(1), DELAY_MIN_SIZE);
        any = true;
        printf("  %-9s %-7s libipc %s p99 %s  raw %s p99 %s\n",
               rows[i].row->be.name, size_str(rows[i].size, sz, sizeof sz),
               m[0], p[0], m[1], p[1]);
    }
}

static void print_table(struct row_result *rows, int nrows)
{
    char cpu[128];
    struct utsname u;
    machine_info(cpu, sizeof cpu, &u);
    printf("ipc-bench: libipc %s against the raw system calls, same run\n",
           ipc_version_string());
    printf("machine:   %d CPUs online (%s), %s %s %s, glibc %s\n",
           cfg.ncpus_online, cpu, u.sysname, u.release, u.machine,
           BENCH_LIBC_VERSION());
    if (cfg.pinned_apart)
        printf("run:       2 processes pinned to CPUs %d and %d; ", cfg.cpu[0],
               cfg.cpu[1]);
    else
        printf("run:       2 processes on one CPU (no second CPU); ");
    printf("%d reps x %d ms per test, %d ms warm-up; libipc timeout %d\n",
           cfg.reps, cfg.dur_ms, cfg.warm_ms, cfg.timeout_ms);
    printf("tests:     one-way: msgs/s streamed; rtt: ping-pong round trip, "
           "median and p99;\n"
           "           cpu/msg: CPU time of both processes per one-way "
           "message (not waiting time)\n");
    printf("ratio:     libipc speed / raw speed: msgs/s lib/raw; rtt and "
           "cpu/msg raw/lib.\n"
           "           1.00 = as fast as raw, higher is faster; median of "
           "per-repetition ratios;\n"
           "           '*' = below %.2f. spread = (max - min) / median over "
           "repetitions.\n\n",
           TARGET_RATIO);
    printf("%-9s %-7s %-7s  %-30s  %-30s  %5s   %s\n", "backend", "size",
           "test", "libipc", "raw", "ratio", "spread lib/raw");
    const char *last = NULL;
    for (int i = 0; i < nrows; i++) {
        struct row_result *rr = &rows[i];
        char sz[32];
        size_str(rr->size, sz, sizeof sz);
        if (last && last != rr->row->be.name)
            printf("\n");
        last = rr->row->be.name;
        if (rr->status == BX_SKIP) {
            printf("%-9s %-7s skipped: %s\n", rr->row->be.name, sz, rr->why);
            continue;
        }
        for (int t = 0; t < T_COUNT; t++) {
            if (!test_applies(rr, t))
                continue;
            char a[64], b[64], ratio[16] = "-", spread[40];
            cell(&rr->lib, rr, t, a, sizeof a);
            cell(&rr->raw, rr, t, b, sizeof b);
            if (rr->npairs > 0) {
                double r = stats(rr->ratio[t], rr->npairs).med;
                snprintf(ratio, sizeof ratio, "%.2f%s", r,
                         r < TARGET_RATIO ? "*" : " ");
            }
            int sl = spread_pct(&rr->lib, t), sr = spread_pct(&rr->raw, t);
            char l1[16] = "-", l2[16] = "-";
            /* A repetition stalled by the machine can be far off: the
             * median is not moved by it, the spread says so. */
            if (sl >= 0)
                snprintf(l1, sizeof l1, sl > 999 ? ">999%%" : "%d%%", sl);
            if (sr >= 0)
                snprintf(l2, sizeof l2, sr > 999 ? ">999%%" : "%d%%", sr);
            snprintf(spread, sizeof spread, "%s / %s", l1, l2);
            printf("%-9s %-7s %-7s  %-30s  %-30s  %6s  %s\n", rr->row->be.name,
                   sz, test_name[t], a, b, ratio, spread);
        }
    }
    /* Why a side did not run, once per backend and reason. */
    bool any = false;
    for (int i = 0; i < nrows; i++) {
        const struct side *sides[2] = {&rows[i].lib, &rows[i].raw};
        for (int k = 0; k < 2; k++) {
            const struct side *s = sides[k];
            if (s->status == BX_OK || s->status < 0 ||
                rows[i].status == BX_SKIP)
                continue;
            bool seen = false;
            for (int j = 0; j < i && !seen; j++)
                seen = rows[j].row == rows[i].row &&
                       strcmp((k ? &rows[j].raw : &rows[j].lib)->detail,
                              s->detail) == 0;
            if (seen)
                continue;
            if (!any)
                printf("\nnotes:\n");
            any = true;
            char sz[32];
            printf("  %s %s %s: %s: %s\n", rows[i].row->be.name,
                   k ? "raw" : "libipc", size_str(rows[i].size, sz, sizeof sz),
                   status_name(s->status), s->detail);
        }
    }
    print_segments(rows, nrows);
    print_delays(rows, nrows);
    printf("\nraw loops:\n");
    for (size_t b = 0; b < NBACKENDS; b++)
        if (cfg.selected[b])
            printf("  %-9s %s\n", backends[b].be.name, backends[b].be.raw_what);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json_num(double v)
{
    if (isnan(v) || isinf(v))
        printf("null");
    else
        printf("%.6g", v);
}

static void json_side(const struct side *s, int t)
{
    struct stat3 m = stats(side_metric(s, t), s->n);
    printf("{\"status\": ");
    json_str(status_name(s->status));
    printf(", \"detail\": ");
    json_str(s->status == BX_OK ? "" : s->detail);
    printf(", \"reps\": %d, \"median\": ", s->n);
    json_num(m.med);
    printf(", \"min\": ");
    json_num(m.min);
    printf(", \"max\": ");
    json_num(m.max);
    if (t == T_RTT) {
        printf(", \"p99\": ");
        json_num(s->rtt_p99);
    }
    if (t == T_ONEWAY) { /* see print_delays; medians over repetitions */
        printf(", \"delay_median\": ");
        json_num(stats(s->delay_med, s->n).med);
        printf(", \"delay_p99\": ");
        json_num(stats(s->delay_p99, s->n).med);
    }
    printf("}");
}

static void print_json(struct row_result *rows, int nrows)
{
    char cpu[128];
    struct utsname u;
    machine_info(cpu, sizeof cpu, &u);
    printf("{\n  \"libipc\": ");
    json_str(ipc_version_string());
    printf(",\n  \"machine\": {\"cpus_online\": %d, \"cpu\": ",
           cfg.ncpus_online);
    json_str(cpu);
    printf(", \"kernel\": ");
    json_str(u.release);
    printf(", \"glibc\": ");
    json_str(BENCH_LIBC_VERSION());
    printf(", \"pinned\": [%d, %d]},\n", cfg.cpu[0], cfg.cpu[1]);
    printf("  \"config\": {\"reps\": %d, \"duration_ms\": %d, "
           "\"warmup_ms\": %d, \"timeout_ms\": %d},\n",
           cfg.reps, cfg.dur_ms, cfg.warm_ms, cfg.timeout_ms);
    printf("  \"units\": {\"one-way\": \"msgs/s\", \"rtt\": \"ns\", "
           "\"cpu/msg\": \"ns\", \"delay\": \"ns\"},\n");
    printf("  \"results\": [");
    bool first = true;
    for (int i = 0; i < nrows; i++) {
        struct row_result *rr = &rows[i];
        for (int t = 0; t < T_COUNT; t++) {
            if (!test_applies(rr, t))
                continue;
            printf("%s\n    {\"backend\": ", first ? "" : ",");
            first = false;
            json_str(rr->row->be.name);
            printf(", \"size\": %zu, \"test\": \"%s\", \"status\": ", rr->size,
                   test_name[t]);
            json_str(rr->status == BX_SKIP ? "skipped" : "ok");
            printf(", \"reason\": ");
            json_str(rr->status == BX_SKIP ? rr->why : "");
            printf(",\n     \"libipc\": ");
            json_side(&rr->lib, t);
            printf(",\n     \"raw\": ");
            json_side(&rr->raw, t);
            struct stat3 r = stats(rr->ratio[t], rr->npairs);
            printf(",\n     \"ratio\": ");
            json_num(r.med);
            printf(", \"ratio_min\": ");
            json_num(r.min);
            printf(", \"ratio_max\": ");
            json_num(r.max);
            printf("}");
        }
    }
    printf("\n  ]\n}\n");
}

static void tsv_side(const struct side *s, int t)
{
    struct stat3 m = stats(side_metric(s, t), s->n);
    printf("\t%s\t%.6g\t%.6g\t%.6g\t%.6g", status_name(s->status), m.med, m.min,
           m.max, t == T_RTT ? s->rtt_p99 : NAN);
}

static void print_tsv(struct row_result *rows, int nrows)
{
    printf("backend\tsize\ttest\tunit\tstatus\t"
           "libipc_status\tlibipc_median\tlibipc_min\tlibipc_max\tlibipc_p99\t"
           "raw_status\traw_median\traw_min\traw_max\traw_p99\t"
           "ratio\tratio_min\tratio_max\treps\tdetail\n");
    for (int i = 0; i < nrows; i++) {
        struct row_result *rr = &rows[i];
        for (int t = 0; t < T_COUNT; t++) {
            if (!test_applies(rr, t))
                continue;
            printf("%s\t%zu\t%s\t%s\t%s", rr->row->be.name, rr->size,
                   test_name[t], test_unit[t],
                   rr->status == BX_SKIP ? "skipped" : "ok");
            tsv_side(&rr->lib, t);
            tsv_side(&rr->raw, t);
            struct stat3 r = stats(rr->ratio[t], rr->npairs);
            const char *detail = rr->status == BX_SKIP     ? rr->why
                                 : rr->lib.status != BX_OK ? rr->lib.detail
                                 : rr->raw.status != BX_OK ? rr->raw.detail
                                                           : "";
            printf("\t%.6g\t%.6g\t%.6g\t%d\t", r.med, r.min, r.max, rr->npairs);
            for (const char *p = detail; *p; p++)
                putchar(*p == '\t' || *p == '\n' ? ' ' : *p);
            putchar('\n');
        }
    }
}

/* ------------------------------------------------------------- options */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ipc-bench [options]\n"
        "Measures each libipc backend against a hand-written loop of the "
        "system calls\nunder it, in one run: one-way msgs/s and MB/s, "
        "round-trip median and p99.\n\n"
        "  -b, --backends LIST  comma-separated, or 'all' (the default)\n"
        "                       pipe pipe-dfl unix unix-pair fifo mq sysv "
        "shm tcp udp\n"
        "                       memcpy\n"
        "                       (only by name: mq-prio sysv-prio, raw loops "
        "asking the\n"
        "                       kernel for what libipc asks: the priority, "
        "its order;\n"
        "                       pipe-plain unix-plain, raw loops without a "
        "header, as a\n"
        "                       user with fixed-size messages writes them;\n"
        "                       shm-vyukov shm-spsc, the shm ring against "
        "two hand-\n"
        "                       written rings: Vyukov MPMC, SPSC with cached "
        "indices;\n"
        "                       tcp-nagle, tcp with Nagle's algorithm on both "
        "sides;\n"
        "                       nng, when built: nng+tcp on loopback against "
        "nng push/pull;\n"
        "                       shm-zmq tcp-zmq, when built with libzmq: shm "
        "and tcp\n"
        "                       against ZeroMQ PUSH/PULL over ipc:// and "
        "tcp://)\n"
        "  -s, --sizes LIST     message sizes, e.g. 64,1K,64K,1M (the "
        "default; >= %d)\n"
        "  -d, --duration MS    timed length of each test (default %d)\n"
        "  -r, --reps N         repetitions, libipc and raw interleaved "
        "(default %d)\n"
        "  -w, --warmup MS      warm-up before each test (default: "
        "duration / 5)\n"
        "  -t, --timeout MS     timeout given to libipc calls (default "
        "-1: forever)\n"
        "  -c, --cpus A,B       the two CPUs to pin to (default: the "
        "first two allowed)\n"
        "  -q, --quick          smoke test: 2 reps x 10 ms, a few "
        "seconds in all\n"
        "      --tsv, --json    machine-readable output instead of the "
        "table\n"
        "  -v, --verbose        progress and each repetition on stderr\n"
        "      --side lib|raw   measure one side only (to profile it)\n"
        "Exit status: 0, or 1 if any measurement failed (a corrupted, "
        "lost or hung\nmessage), 2 on bad usage.\n",
        MIN_SIZE, cfg.dur_ms, cfg.reps);
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    unsigned long long mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        mul = 1024 * 1024, end++;
    if (mul > 1 && strcmp(end, "iB") == 0)
        end += 2;
    else if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v == 0 || v > (1ull << 30) / mul)
        return false;
    *out = (size_t)(v * mul);
    return *out >= MIN_SIZE;
}

static int parse_int(const char *s, int lo, int hi, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < lo || v > hi) {
        fprintf(stderr, "ipc-bench: %s: %s is not in %d..%d\n", what, s, lo,
                hi);
        exit(2);
    }
    return (int)v;
}

static void parse_list(char *arg, void (*each)(const char *item))
{
    for (char *save = NULL, *tok = strtok_r(arg, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
        each(tok);
}

static void add_backend(const char *name)
{
    if (strcmp(name, "all") == 0) {
        for (size_t b = 0; b < NBACKENDS; b++)
            cfg.selected[b] = true;
        return;
    }
    for (size_t b = 0; b < NBACKENDS; b++)
        if (strcmp(backends[b].be.name, name) == 0) {
            cfg.selected[b] = true;
            return;
        }
    fprintf(stderr, "ipc-bench: unknown backend \"%s\"\n", name);
    exit(2);
}

static void add_size(const char *s)
{
    size_t v;
    if (!parse_size(s, &v)) {
        fprintf(stderr, "ipc-bench: bad size \"%s\" (%d B to 1 GiB)\n", s,
                MIN_SIZE);
        exit(2);
    }
    if (cfg.nsizes == MAX_SIZES) {
        fprintf(stderr, "ipc-bench: at most %d sizes\n", MAX_SIZES);
        exit(2);
    }
    cfg.sizes[cfg.nsizes++] = v;
}

static void choose_cpus(void)
{
    cfg.ncpus_online = (int)sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (cfg.cpu[0] < 0 && sched_getaffinity(0, sizeof set, &set) == 0) {
        int found = 0;
        for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
            if (CPU_ISSET(c, &set))
                cfg.cpu[found++] = c;
        if (found < 2)
            cfg.cpu[1] = cfg.cpu[0];
    }
    cfg.pinned_apart = cfg.cpu[0] >= 0 && cfg.cpu[0] != cfg.cpu[1];
}

static void parse_args(int argc, char **argv)
{
    enum { OPT_TSV = 256, OPT_JSON, OPT_SIDE };
    static const struct option opts[] = {
        {"backends", required_argument, NULL, 'b'},
        {"sizes", required_argument, NULL, 's'},
        {"duration", required_argument, NULL, 'd'},
        {"reps", required_argument, NULL, 'r'},
        {"warmup", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},
        {"cpus", required_argument, NULL, 'c'},
        {"quick", no_argument, NULL, 'q'},
        {"tsv", no_argument, NULL, OPT_TSV},
        {"json", no_argument, NULL, OPT_JSON},
        {"verbose", no_argument, NULL, 'v'},
        {"side", required_argument, NULL, OPT_SIDE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool any_backend = false, quick = false;
    int c, dur = -1, reps = -1;
    while ((c = getopt_long(argc, argv, "b:s:d:r:w:t:c:qvh", opts, NULL)) !=
           -1) {
        switch (c) {
        case 'b':
            parse_list(optarg, add_backend);
            any_backend = true;
            break;
        case 's':
            parse_list(optarg, add_size);
            break;
        case 'd':
            dur = parse_int(optarg, 1, 60000, "--duration");
            break;
        case 'r':
            reps = parse_int(optarg, 1, MAX_REPS, "--reps");
            break;
        case 'w':
            cfg.warm_ms = parse_int(optarg, 0, 60000, "--warmup");
            break;
        case 't':
            cfg.timeout_ms = parse_int(optarg, -1, 3600000, "--timeout");
            break;
        case 'c': {
            char *end;
            cfg.cpu[0] = (int)strtol(optarg, &end, 10);
            if (*end != ',' || cfg.cpu[0] < 0) {
                fprintf(stderr, "ipc-bench: --cpus A,B\n");
                exit(2);
            }
            cfg.cpu[1] = parse_int(end + 1, 0, CPU_SETSIZE - 1, "--cpus");
            break;
        }
        case 'q':
            quick = true;
            break;
        case OPT_TSV:
            cfg.out = OUT_TSV;
            break;
        case OPT_JSON:
            cfg.out = OUT_JSON;
            break;
        case 'v':
            cfg.verbose = true;
            break;
        case OPT_SIDE:
            if (strcmp(optarg, "lib") == 0)
                cfg.side_off[V_RAW] = true;
            else if (strcmp(optarg, "raw") == 0)
                cfg.side_off[V_LIB] = true;
            else if (strcmp(optarg, "both") != 0) {
                fprintf(stderr, "ipc-bench: --side lib|raw|both\n");
                exit(2);
            }
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        usage(stderr);
        exit(2);
    }
    if (quick) {
        cfg.reps = 2;
        cfg.dur_ms = 10;
        if (cfg.warm_ms < 0)
            cfg.warm_ms = 2;
    }
    if (dur > 0)
        cfg.dur_ms = dur;
    if (reps > 0)
        cfg.reps = reps;
    if (cfg.warm_ms < 0)
        cfg.warm_ms = cfg.dur_ms / 5 > 2 ? cfg.dur_ms / 5 : 2;
    if (!any_backend)
        for (size_t b = 0; b < NBACKENDS; b++)
            cfg.selected[b] = backends[b].be.in_default;
    cfg.progress = !cfg.verbose && isatty(STDERR_FILENO);
    if (cfg.nsizes == 0) {
        static const size_t dflt[] = {64, 1024, 64 * 1024, 1024 * 1024};
        for (size_t i = 0; i < 4; i++)
            cfg.sizes[cfg.nsizes++] = dflt[i];
    }
    choose_cpus();
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    warn_unmeasured();
    int nrows = 0;
    struct row_result *rows =
        calloc(NBACKENDS * (size_t)cfg.nsizes, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "ipc-bench: out of memory\n");
        return 1;
    }
    for (size_t b = 0; b < NBACKENDS && !interrupted; b++) {
        if (!cfg.selected[b])
            continue;
        char why[256] = "";
        bool built =
            !backends[b].be.scheme || lib_built(&backends[b], why, sizeof why);
        for (int i = 0; i < cfg.nsizes && !interrupted; i++) {
            struct row_result *rr = &rows[nrows++];
            rr->row = &backends[b];
            rr->size = cfg.sizes[i];
            measure_row(rr, built, why);
        }
    }
    if (cfg.progress)
        fprintf(stderr, "\r%40s\r", "");
    if (interrupted) {
        fprintf(stderr, "ipc-bench: interrupted\n");
        free(rows);
        return 130;
    }
    if (cfg.out == OUT_JSON)
        print_json(rows, nrows);
    else if (cfg.out == OUT_TSV)
        print_tsv(rows, nrows);
    else
        print_table(rows, nrows);

    int failed = 0;
    for (int i = 0; i < nrows; i++) {
        const struct side *sides[2] = {&rows[i].lib, &rows[i].raw};
        for (int k = 0; k < 2; k++)
            if (sides[k]->status == BX_ERROR) {
                char sz[32];
                fprintf(stderr, "ipc-bench: %s %s %s failed: %s\n",
                        rows[i].row->be.name, k ? "raw" : "libipc",
                        size_str(rows[i].size, sz, sizeof sz),
                        sides[k]->detail);
                failed = 1;
            }
    }
    free(rows);
    return failed;
}
