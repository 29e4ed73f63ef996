/* SPDX-License-Identifier: MIT */
/* tcp: and nng+tcp:// on a network that fails mid-stream. Two network
 * namespaces joined by a veth pair, made and removed here (ip(8), as
 * root); a sender in one streams to a receiver in the other. The program
 * takes the scheme: `netns_fault tcp` or `netns_fault nng`.
 * 1. The link goes down for a few seconds and comes back, then drops (and,
 *    where tc's netem is there, delays) packets for a while: no send waits
 *    past its timeout, no close blocks; the receiver gets only whole
 *    messages, in order, and in the end every message whose send
 *    succeeded.
 * 2. The receiver's host vanishes: its end of the link is deleted, the
 *    receiver killed and its namespace deleted, so no FIN or RST ever
 *    comes. The sender's calls still keep their timeouts.
 *    tcp: the sender hears IPC_ECLOSED within the bound tcp.c states
 *    (TCP_USER_TIMEOUT, 30 s).
 *    nng: the host comes back (the namespace and link made again, the
 *    same address) with a new receiver, and nng's dialer reaches it: the
 *    sender, sending all along, never sees an error; the new receiver gets
 *    whole messages in order (those nng took while the old connection was
 *    dying are lost, counted), within VANISH_MS of starting.
 * 3. Request/reply: a client's call (no timeout) waits at a server whose
 *    host then vanishes: the call fails with IPC_ECLOSED within the
 *    bound of net.h (30 s), over tcp: and over nng+tcp:// alike.
 * The parent process never uses nng, so its forked children may (nng's
 * threads do not survive fork). Exit 77 (a ctest skip), saying why, where
 * the namespaces or the link cannot be made. Linux only. */
#include "check.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/ipc.h"
#include "ipc/reqrep.h"

#define SKIP 77
/* Each send may wait this long; one that returns later than SEND_MS +
 * LATE_MS has hung. LATE_MS is large enough for a process descheduled on a
 * loaded machine (1.3 s seen at load 9 on 2 CPUs) and still below DOWN_MS,
 * so a send that waited for the link to come back is caught. */
#define SEND_MS  300
#define LATE_MS  1700
#define MSG_MAX  16384
#define NNG_PORT 5555 /* in namespaces of this run only: no clash */
#define RR_PORT  5556
#define DOWN_MS  3000
#define LOSSY_MS 2000
#define DRAIN_MS 30000
#define CHILD_MS 40000
/* net.h: IPC_NET_USER_TIMEOUT_MS; the slack covers the send that notices. */
#define VANISH_MS       30000
#define VANISH_SLACK_MS 10000

static char ns[2][32], veth[2][16], ip[2][32];
static bool made[2];
static bool use_nng;      /* else tcp */
static char rr_addr[128]; /* phase 3's server, for the caller */
static const char *test_name = "tcp.netns_fault";

/* Run a command quietly; its exit status (127: not found). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char quiet[600];
    snprintf(quiet, sizeof quiet, "%s >/dev/null 2>&1", cmd);
    int st = system(quiet);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void netns_remove(void)
{
    for (int i = 0; i < 2; i++)
        if (made[i] && run("ip netns delete %s", ns[i]) == 0)
            made[i] = false;
}

static void nf_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void nf_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: FAIL: ", test_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    tu_kill_live();
    netns_remove();
    exit(1);
}

static void nf_skip(const char *why)
{
    printf("%s: SKIP: %s\n", test_name, why);
    netns_remove();
    exit(SKIP);
}

/* Namespaces A and B, veth A <-> B, 10.X.Y.1 and .2/30 (X, Y from the
 * pid: parallel runs use their own names and subnets). */
static void netns_names(void)
{
    static unsigned round;
    unsigned pid = (unsigned)getpid() + 7919 * round++;
    for (int i = 0; i < 2; i++) {
        snprintf(ns[i], sizeof ns[i], "ipc-netfault-%u-%c", pid, "ab"[i]);
        snprintf(veth[i], sizeof veth[i], "ipcv%u%c", pid % 10000000, "ab"[i]);
        snprintf(ip[i], sizeof ip[i], "10.%u.%u.%d", 200 + pid % 50,
                 (pid / 50) % 256, i + 1);
    }
}

/* Namespace B (again) and the link A <-> B, addressed and up. */
static void netns_make_b(void)
{
    if (run("ip netns add %s", ns[1]) != 0)
        nf_skip("a second network namespace cannot be made");
    made[1] = true;
    if (run("ip link add %s netns %s type veth peer name %s netns %s", veth[0],
            ns[0], veth[1], ns[1]) != 0)
        nf_skip("no veth pair between namespaces (veth module missing?)");
    for (int i = 0; i < 2; i++)
        if (run("ip -n %s addr add %s/30 dev %s", ns[i], ip[i], veth[i]) ||
            run("ip -n %s link set %s up", ns[i], veth[i]) ||
            run("ip -n %s link set lo up", ns[i]))
            nf_fail("configuring %s in %s", veth[i], ns[i]);
}

static void netns_make(void)
{
    netns_names();
    int st = run("ip netns add %s", ns[0]);
    if (st == 127)
        nf_skip("ip(8) not found: cannot make network namespaces");
    if (st != 0)
        nf_skip("ip netns add failed (needs root, or CAP_SYS_ADMIN and a "
                "writable /run/netns)");
    made[0] = true;
    netns_make_b();
}

/* B's host vanishes: its veth end is deleted first (which takes the pair
 * with it, so nothing the receiver's death sends gets out), then rpid is
 * killed and B deleted. */
static void host_vanish(pid_t rpid)
{
    if (run("ip -n %s link delete %s", ns[1], veth[1]) != 0)
        nf_fail("deleting the receiver's link");
    kill(rpid, SIGKILL);
    int status;
    if (!tu_wait(rpid, 5000, &status))
        nf_fail("the killed receiver was not reaped");
    if (run("ip netns delete %s", ns[1]) != 0)
        nf_fail("deleting the receiver's namespace");
    made[1] = false;
}

static void netns_enter(int i)
{
    char path[64];
    snprintf(path, sizeof path, "/run/netns/%s", ns[i]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "enter %s: %s\n", path, strerror(errno));
        _exit(3);
    }
    close(fd);
}

/* Message seq: its number (8 bytes), then bytes made from it; the length
 * from it too. A receiver that may see gaps (nng) reads the number. */
static size_t msg_len(uint64_t seq)
{
    return 8 + (size_t)(tu_mix(seq) % (MSG_MAX - 7));
}

static void msg_make(unsigned char *buf, uint64_t seq)
{
    memcpy(buf, &seq, 8);
    tu_pattern(buf + 8, msg_len(seq) - 8, seq);
}

/* The number of a whole message as sent, or UINT64_MAX. */
static uint64_t msg_seq(const unsigned char *buf, size_t len)
{
    uint64_t seq;
    if (len < 8)
        return UINT64_MAX;
    memcpy(&seq, buf, 8);
    if (seq > UINT64_MAX / 2 || len != msg_len(seq) ||
        tu_pattern_check(buf + 8, len - 8, seq) != len - 8)
        return UINT64_MAX;
    return seq;
}

static bool write_u64s(int fd, const uint64_t *v, size_t n)
{
    return write(fd, v, n * sizeof *v) == (ssize_t)(n * sizeof *v);
}

/* Read n numbers within ms, or false. */
static bool read_u64s(int fd, uint64_t *v, size_t n, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1 &&
           read(fd, v, n * sizeof *v) == (ssize_t)(n * sizeof *v);
}

static void address(char *addr, size_t len, const char *host)
{
    if (use_nng)
        snprintf(addr, len, "nng+tcp://%s:%d?max_msg=%d", host, NNG_PORT,
                 MSG_MAX);
    else /* port 0: the kernel's pick */
        snprintf(addr, len, "tcp:%s:0?max_msg=%d", host, MSG_MAX);
}

/* ------------------------------------------------------------ receiver */

/* In B: report the address on out, then take messages: each whole, as
 * sent, numbers rising; with gaps only if `gaps` (else each the next).
 * Told on in the number of the last message sent, drain until it came or
 * DRAIN_MS; report how many came, the first one's time and the last one's
 * number. */
static int receiver(bool gaps, int in, int out)
{
    netns_enter(1);
    char addr[128];
    address(addr, sizeof addr, ip[1]);
    ipc_channel *rx = NULL;
    ipc_err err = ipc_open(addr, IPC_F_RECV | IPC_F_CREATE, 1000, &rx);
    if (err != IPC_OK)
        return tu_child_fail(4, "receiver open: %s", ipc_last_detail());
    if (ipc_address(rx, addr, sizeof addr) != IPC_OK ||
        write(out, addr, sizeof addr) != (ssize_t)sizeof addr)
        return tu_child_fail(4, "receiver address");
    static unsigned char buf[MSG_MAX + 1];
    uint64_t got = 0, first_ns = 0, last = UINT64_MAX, end = UINT64_MAX;
    int64_t drain_end = 0;
    while ((end == UINT64_MAX || last != end) &&
           (drain_end == 0 || tu_now_ns() < drain_end)) {
        size_t len = 0;
        err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 200);
        if (err == IPC_OK) {
            uint64_t seq = msg_seq(buf, len);
            uint64_t want = last == UINT64_MAX ? 0 : last + 1;
            if (seq == UINT64_MAX)
                return tu_child_fail(5,
                                     "after message %llu: %zu bytes not "
                                     "as sent: half a message?",
                                     (unsigned long long)last, len);
            if (gaps ? (last != UINT64_MAX && seq <= last) : seq != want)
                return tu_child_fail(5, "message %llu after %llu",
                                     (unsigned long long)seq,
                                     (unsigned long long)last);
            first_ns = got++ == 0 ? (uint64_t)tu_now_ns() : first_ns;
            last = seq;
        } else if (err != IPC_ETIMEDOUT) {
            return tu_child_fail(6, "receive after %llu: %s: %s",
                                 (unsigned long long)last, ipc_errname(err),
                                 ipc_last_detail());
        }
        if (drain_end == 0 && read_u64s(in, &end, 1, 0))
            drain_end = tu_now_ns() + (int64_t)DRAIN_MS * 1000000;
    }
    ipc_close(rx);
    uint64_t rep[3] = {got, first_ns, last};
    return write_u64s(out, rep, 3) ? 0 : 7;
}

static int receiver_strict(int in, int out)
{
    return receiver(false, in, out);
}

static int receiver_gaps(int in, int out)
{
    return receiver(true, in, out);
}

/* -------------------------------------------------------------- sender */

enum { REP_OK, REP_TIMEOUTS, REP_LONGEST, REP_CLOSED, REP_N };

/* In A: send until told to stop (on in), each send with SEND_MS, or until
 * IPC_ECLOSED; report the sends that succeeded, those that timed out, the
 * longest call (send or close) in microseconds, and when (tu_now_ns, the
 * monotonic clock all processes share) IPC_ECLOSED came, or 0. nng's
 * threads carry what a send took after it returned: its sender reports,
 * then closes only when told (once the receiver has drained). */
static int sender(const char *addr, int in, int out)
{
    netns_enter(0);
    ipc_channel *tx = NULL;
    ipc_err err = ipc_open(addr, IPC_F_SEND, 2000, &tx);
    if (err != IPC_OK)
        return tu_child_fail(4, "sender open %s: %s", addr, ipc_last_detail());
    static unsigned char buf[MSG_MAX];
    uint64_t rep[REP_N] = {0}, stop;
    while (!read_u64s(in, &stop, 1, 0)) {
        msg_make(buf, rep[REP_OK]);
        int64_t t0 = tu_now_ns();
        err = ipc_send(tx, buf, msg_len(rep[REP_OK]), 0, SEND_MS);
        uint64_t us = (uint64_t)(tu_now_ns() - t0) / 1000;
        rep[REP_LONGEST] = us > rep[REP_LONGEST] ? us : rep[REP_LONGEST];
        if (err == IPC_OK)
            rep[REP_OK]++;
        else if (err == IPC_ETIMEDOUT)
            rep[REP_TIMEOUTS]++;
        else if (err == IPC_ECLOSED) {
            rep[REP_CLOSED] = (uint64_t)tu_now_ns();
            break;
        } else
            return tu_child_fail(5, "send %llu: %s: %s",
                                 (unsigned long long)rep[REP_OK],
                                 ipc_errname(err), ipc_last_detail());
    }
    if (use_nng && (!write_u64s(out, rep, REP_N) ||
                    !read_u64s(in, &stop, 1, DRAIN_MS + 10000)))
        return 7;
    int64_t t0 = tu_now_ns();
    ipc_close(tx);
    uint64_t us = (uint64_t)(tu_now_ns() - t0) / 1000;
    rep[REP_LONGEST] = us > rep[REP_LONGEST] ? us : rep[REP_LONGEST];
    return write_u64s(out, rep, REP_N) ? 0 : 7;
}

/* ---------------------------------------------------------------- main */

struct child {
    pid_t pid;
    int to, from; /* pipes to and from it */
};

static struct child start(int (*fn)(int, int), const char *addr)
{
    int p[2][2];
    if (pipe2(p[0], O_CLOEXEC) != 0 || pipe2(p[1], O_CLOEXEC) != 0)
        nf_fail("pipe: %s", strerror(errno));
    pid_t pid = tu_fork();
    if (pid == 0)
        _exit(fn ? fn(p[0][0], p[1][1]) : sender(addr, p[0][0], p[1][1]));
    if (pid < 0)
        nf_fail("fork: %s", strerror(errno));
    close(p[0][0]);
    close(p[1][1]);
    return (struct child){pid, p[0][1], p[1][0]};
}

static struct child start_receiver(int (*fn)(int, int), char *addr, size_t len)
{
    struct child r = start(fn, NULL);
    struct pollfd p = {.fd = r.from, .events = POLLIN};
    if (len != 128 || poll(&p, 1, 5000) != 1 ||
        read(r.from, addr, len) != (ssize_t)len)
        nf_fail("the receiver did not start");
    return r;
}

static void child_done(struct child *c, const char *who)
{
    int status = 0;
    char what[64];
    if (!tu_wait(c->pid, CHILD_MS, &status))
        nf_fail("the %s hung", who);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        nf_fail("the %s: %s", who, tu_status_str(status, what, sizeof what));
    close(c->to);
    close(c->from);
}

/* Stop the sender: its report (nng: before it closes). */
static void sender_stop(struct child *s, uint64_t rep[REP_N])
{
    uint64_t stop = 1;
    if (!write_u64s(s->to, &stop, 1) || !read_u64s(s->from, rep, REP_N, 5000))
        nf_fail("the sender did not report within 5 s of being told to stop");
}

/* Tell the receiver the last message sent, and read its report. */
static void receiver_drain(struct child *r, uint64_t sent, uint64_t rep[3])
{
    uint64_t end = sent - 1;
    if (!write_u64s(r->to, &end, 1) ||
        !read_u64s(r->from, rep, 3, DRAIN_MS + 5000))
        nf_fail("the receiver did not report");
    child_done(r, "receiver");
}

/* The sender closes (nng: only now) and sends its final report. */
static void sender_close(struct child *s, uint64_t rep[REP_N])
{
    uint64_t go = 1;
    if (use_nng &&
        (!write_u64s(s->to, &go, 1) || !read_u64s(s->from, rep, REP_N, 5000)))
        nf_fail("the sender did not close within 5 s");
    child_done(s, "sender");
}

static void check_calls(const uint64_t rep[REP_N])
{
    if (rep[REP_LONGEST] > (SEND_MS + LATE_MS) * 1000ull)
        nf_fail("a call took %.1f ms, its timeout %d ms",
                (double)rep[REP_LONGEST] / 1000, SEND_MS);
}

/* Drop one packet in ten leaving A for LOSSY_MS: tc's netem (also 20 ms
 * of delay) where the kernel has it, else an nft rule; say which. */
static void lossy_period(void)
{
    const char *how = "netem: loss 10%, delay 20 ms";
    bool netem = run("tc -n %s qdisc add dev %s root netem loss 10%% delay "
                     "20ms",
                     ns[0], veth[0]) == 0;
    if (!netem) {
        how = "nft: loss 10% (no netem in this kernel)";
        if (run("ip netns exec %s nft add table inet ipcf", ns[0]) ||
            run("ip netns exec %s nft 'add chain inet ipcf o { type filter "
                "hook output priority 0; }'",
                ns[0]) ||
            run("ip netns exec %s nft add rule inet ipcf o numgen random mod "
                "10 0 drop",
                ns[0]))
            nf_skip("packets cannot be dropped: neither tc's netem nor nft "
                    "works here");
    }
    tu_sleep_ms(LOSSY_MS);
    if (netem ? run("tc -n %s qdisc del dev %s root", ns[0], veth[0])
              : run("ip netns exec %s nft delete table inet ipcf", ns[0]))
        nf_fail("the lossy period could not be ended");
    printf("%s: lossy for %d ms (%s)\n", test_name, LOSSY_MS, how);
}

/* Phase 1: the link down for DOWN_MS, then lossy, then stop: every
 * message whose send succeeded arrives, whole and in order. */
static void link_faults(void)
{
    char addr[128];
    struct child r = start_receiver(receiver_strict, addr, sizeof addr);
    struct child s = start(NULL, addr);

    tu_sleep_ms(500);
    if (run("ip -n %s link set %s down", ns[0], veth[0]) != 0)
        nf_fail("link down");
    tu_sleep_ms(DOWN_MS);
    if (run("ip -n %s link set %s up", ns[0], veth[0]) != 0)
        nf_fail("link up");
    tu_sleep_ms(1000);
    lossy_period();
    uint64_t rep[REP_N], got[3];
    sender_stop(&s, rep);
    if (!use_nng)
        child_done(&s, "sender"); /* closed before the drain */
    receiver_drain(&r, rep[REP_OK], got);
    if (use_nng)
        sender_close(&s, rep);

    printf("%s: %llu sent, %llu received, %llu sends timed out while the "
           "link was down, longest call %.1f ms\n",
           test_name, (unsigned long long)rep[REP_OK],
           (unsigned long long)got[0], (unsigned long long)rep[REP_TIMEOUTS],
           (double)rep[REP_LONGEST] / 1000);
    if (rep[REP_CLOSED] != 0)
        nf_fail("the sender heard IPC_ECLOSED from a live receiver");
    check_calls(rep);
    /* tcp: the sender's buffer fills while the link is down; nng queues
     * within its threads, so its sends may all succeed. */
    if (!use_nng && rep[REP_TIMEOUTS] == 0)
        nf_fail("no send timed out: the link going down was not felt");
    if (rep[REP_OK] == 0)
        nf_fail("nothing was sent");
    /* Every message whose send succeeded arrives, but one on tcp: a send
     * that found the socket's room smaller than estimated keeps the rest
     * of its frame for the next send (stream.c), and one that closes first
     * leaves a partial frame, which the receiver drops (README: tcp). */
    uint64_t lost = rep[REP_OK] - got[0];
    if (got[0] > rep[REP_OK] || lost > (use_nng ? 0u : 1u))
        nf_fail("%llu of %llu messages arrived", (unsigned long long)got[0],
                (unsigned long long)rep[REP_OK]);
}

/* Phase 2, tcp: the receiver's host vanishes without a FIN or RST. */
static void host_vanishes_tcp(void)
{
    char addr[128];
    struct child r = start_receiver(receiver_strict, addr, sizeof addr);
    struct child s = start(NULL, addr);
    tu_sleep_ms(500);
    int64_t gone = tu_now_ns();
    host_vanish(r.pid);
    close(r.to);
    close(r.from);

    uint64_t rep[REP_N];
    if (!read_u64s(s.from, rep, REP_N, VANISH_MS + VANISH_SLACK_MS))
        nf_fail("the sender did not hear IPC_ECLOSED within %d ms of the "
                "receiver's host vanishing",
                VANISH_MS + VANISH_SLACK_MS);
    child_done(&s, "sender");
    double after =
        rep[REP_CLOSED] ? (double)((int64_t)rep[REP_CLOSED] - gone) / 1e6 : -1;
    printf("%s: host gone: %llu sends, %llu timed out, IPC_ECLOSED %.0f ms "
           "after, longest call %.1f ms\n",
           test_name, (unsigned long long)rep[REP_OK],
           (unsigned long long)rep[REP_TIMEOUTS], after,
           (double)rep[REP_LONGEST] / 1000);
    if (rep[REP_CLOSED] == 0)
        nf_fail("the sender stopped without IPC_ECLOSED");
    if (after > VANISH_MS + VANISH_SLACK_MS)
        nf_fail("IPC_ECLOSED %.0f ms after the host vanished (bound %d ms)",
                after, VANISH_MS + VANISH_SLACK_MS);
    check_calls(rep);
}

/* Phase 2, nng: the host vanishes, comes back with the same address and a
 * new receiver; nng's dialer finds it while the sender goes on sending. */
static void host_returns_nng(void)
{
    char addr[128];
    struct child r = start_receiver(receiver_strict, addr, sizeof addr);
    struct child s = start(NULL, addr);
    tu_sleep_ms(500);
    host_vanish(r.pid);
    close(r.to);
    close(r.from);
    tu_sleep_ms(DOWN_MS);
    netns_make_b();
    int64_t back = tu_now_ns();
    struct child r2 = start_receiver(receiver_gaps, addr, sizeof addr);
    /* Until the new receiver has messages, then a while more. */
    uint64_t rep[REP_N], got[3];
    tu_sleep_ms(VANISH_MS);
    sender_stop(&s, rep);
    receiver_drain(&r2, rep[REP_OK], got);
    sender_close(&s, rep);
    double first = got[0] ? (double)((int64_t)got[1] - back) / 1e6 : -1;
    printf("%s: host gone %d ms and back: %llu sent, %llu timed out, the new "
           "receiver got %llu (the first %.0f ms after it started, the last "
           "number %llu), longest call %.1f ms\n",
           test_name, DOWN_MS, (unsigned long long)rep[REP_OK],
           (unsigned long long)rep[REP_TIMEOUTS], (unsigned long long)got[0],
           first, (unsigned long long)got[2], (double)rep[REP_LONGEST] / 1000);
    if (rep[REP_CLOSED] != 0)
        nf_fail("IPC_ECLOSED on nng (push/pull has no such event)");
    check_calls(rep);
    if (got[0] == 0 || got[2] + 1 != rep[REP_OK])
        nf_fail("nng did not reach the new receiver, or lost messages after "
                "it did (last %llu of %llu)",
                (unsigned long long)got[2], (unsigned long long)rep[REP_OK]);
}

/* ------------------------------------------------------- request/reply */

/* In B: serve request/reply; report each call that comes, answer none. */
static int rr_server(int in, int out)
{
    (void)in;
    netns_enter(1);
    char addr[128];
    snprintf(addr, sizeof addr, use_nng ? "nng+tcp://%s:%d" : "tcp:%s:%d",
             ip[1], RR_PORT);
    ipc_rr_server *s;
    if (ipc_rr_serve(addr, 0, &s) != IPC_OK)
        return tu_child_fail(4, "serve %s: %s", addr, ipc_last_detail());
    if (write(out, addr, sizeof addr) != (ssize_t)sizeof addr)
        return 4;
    for (uint64_t n = 1;; n++) {
        char buf[64];
        size_t len;
        ipc_rr_req req;
        while (ipc_rr_recv(s, buf, sizeof buf, &len, &req, -1) != IPC_OK)
            ;
        if (!write_u64s(out, &n, 1))
            return 7;
    }
}

/* In A: one call with no timeout; report how it ended and when
 * (tu_now_ns). */
static int rr_caller(int in, int out)
{
    (void)in;
    netns_enter(0);
    ipc_rr_client *c;
    if (ipc_rr_connect(rr_addr, 5000, &c) != IPC_OK)
        return tu_child_fail(4, "connect %s: %s", rr_addr, ipc_last_detail());
    char rep[64];
    size_t len;
    ipc_err err = ipc_rr_call(c, "q", 1, rep, sizeof rep, &len, 0, -1);
    uint64_t r[2] = {(uint64_t)err, (uint64_t)tu_now_ns()};
    ipc_rr_disconnect(c);
    return write_u64s(out, r, 2) ? 0 : 7;
}

/* Phase 3: the server's host vanishes while a call waits. */
static void rr_host_vanishes(void)
{
    struct child srv = start_receiver(rr_server, rr_addr, sizeof rr_addr);
    struct child cl = start(rr_caller, NULL);
    uint64_t n, r[2];
    if (!read_u64s(srv.from, &n, 1, 5000))
        nf_fail("request/reply: the call did not reach the server");
    int64_t gone = tu_now_ns();
    host_vanish(srv.pid);
    close(srv.to);
    close(srv.from);
    if (!read_u64s(cl.from, r, 2, VANISH_MS + VANISH_SLACK_MS))
        nf_fail("request/reply: the call still waited %d ms after the "
                "server's host vanished",
                VANISH_MS + VANISH_SLACK_MS);
    child_done(&cl, "caller");
    double after = (double)((int64_t)r[1] - gone) / 1e6;
    printf("%s: request/reply: the server's host gone, the call ended with "
           "%s %.0f ms after\n",
           test_name, ipc_errname((ipc_err)r[0]), after);
    if ((ipc_err)r[0] != IPC_ECLOSED)
        nf_fail("request/reply: the call ended with %s, not IPC_ECLOSED",
                ipc_errname((ipc_err)r[0]));
}

int main(int argc, char **argv)
{
#ifndef __linux__
    nf_skip("network namespaces are Linux's");
#endif
    if (argc != 2 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "nng"))) {
        fprintf(stderr, "usage: %s tcp|nng\n", argv[0]);
        return 2;
    }
    use_nng = strcmp(argv[1], "nng") == 0;
    test_name = use_nng ? "nng.netns_fault" : "tcp.netns_fault";
    tu_seed(tu_seed_from_env());
    signal(SIGPIPE, SIG_IGN);
    netns_make();
    link_faults();
    netns_remove();
    netns_make();
    if (use_nng)
        host_returns_nng();
    else
        host_vanishes_tcp();
    netns_remove();
    netns_make();
    rr_host_vanishes();
    netns_remove();
    if (made[0] || made[1])
        nf_fail("namespaces left behind");
    return 0;
}
