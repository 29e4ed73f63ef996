/* SPDX-License-Identifier: MIT */
/* sysv: backend tests beyond the contract: priority order, the limits
 * matrix, removal under blocked callers, deadlines and the CPU a wait
 * costs, keys and ownership, held messages, several receivers. */

/* <sys/ipc.h> owns IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_RMID, IPC_PRIVATE
 * ...: this file includes it with ipc/ipc.h to prove that the names do not
 * clash. */
#include <sys/ipc.h>
#include <sys/msg.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends.h"
#include "check.h"
#include "leakscan.h"
#include "ipc/ipc.h"
#include "os.h" /* ipc__sysv_path_key: the key of sysv:/path */
#include "testutil.h"

#define SV_LEVELS   32
#define SV_CHILD_MS 20000
#define SV_ADDR_MAX 256
#define SV_MAX_MSQ  4096 /* queues listed at most (kernel.msgmni: 32000) */
#define SV_FAR_LATE 1000 /* ms: a wait this late is broken, not slow */

/* ---------------------------------------------------------------- helpers */

static long sv_sysctl(const char *name)
{
    char path[128];
    long v = -1;
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld", &v), 1);
    fclose(f);
    return v;
}

/* Every end and key a test makes, released by sv_teardown even when the
 * test fails half way (a failed assertion skips the test's own closes). */
#define SV_TRACK 16
static ipc_channel *sv_ends[SV_TRACK];
static key_t sv_keys[SV_TRACK];
static int sv_nkeys;
static char sv_path[200];  /* a key file (test_ftok, test_path_keys) */
static char sv_path2[200]; /* a second one (test_path_keys) */

static void sv_track(ipc_channel *ch)
{
    for (int i = 0; i < SV_TRACK; i++) {
        if (!sv_ends[i]) {
            sv_ends[i] = ch;
            return;
        }
    }
    fail_msg("%s", "more than SV_TRACK ends open in one test");
}

static void sv_track_key(key_t key)
{
    assert_true(sv_nkeys < SV_TRACK);
    sv_keys[sv_nkeys++] = key;
}

static ipc_err sv_open(const char *addr, unsigned flags, int timeout_ms,
                       ipc_channel **ch)
{
    ipc_err err = ipc_open(addr, flags, timeout_ms, ch);
    if (err == IPC_OK)
        sv_track(*ch);
    return err;
}

static ipc_err sv_pair(const char *addr, unsigned flags, ipc_channel *ends[2])
{
    ipc_err err = ipc_pair(addr, flags, ends);
    if (err == IPC_OK) {
        sv_track(ends[0]);
        sv_track(ends[1]);
    }
    return err;
}

static void sv_close(ipc_channel *ch)
{
    for (int i = 0; ch && i < SV_TRACK; i++)
        if (sv_ends[i] == ch)
            sv_ends[i] = NULL;
    ipc_close(ch);
}

static int sv_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < SV_TRACK; i++)
        sv_close(sv_ends[i]);
    for (int i = 0; i < sv_nkeys; i++) {
        int id = msgget(sv_keys[i], 0);
        if (id >= 0)
            msgctl(id, IPC_RMID, NULL);
    }
    sv_nkeys = 0;
    if (sv_path[0])
        unlink(sv_path);
    if (sv_path2[0])
        unlink(sv_path2);
    sv_path[0] = sv_path2[0] = '\0';
    alarm(0);
    return 0;
}

/* "sysv:0x<key>" with options; the key in *key. */
static void sv_key_addr(char *buf, size_t size, key_t *key, const char *opts)
{
    *key = (key_t)tu_sysv_key();
    sv_track_key(*key);
    snprintf(buf, size, "sysv:0x%08x%s%s", (unsigned)*key, opts ? "?" : "",
             opts ? opts : "");
}

static int sv_qid(key_t key)
{
    return msgget(key, 0);
}

static void sv_rmid(key_t key)
{
    int id = sv_qid(key);
    if (id >= 0)
        msgctl(id, IPC_RMID, NULL);
}

static struct msqid_ds sv_stat(key_t key)
{
    struct msqid_ds ds;
    int id = sv_qid(key);
    assert_true(id >= 0);
    assert_int_equal(msgctl(id, IPC_STAT, &ds), 0);
    return ds;
}

static void sv_send_seq(ipc_channel *tx, uint32_t seq, unsigned prio)
{
    assert_ipc_err(ipc_send(tx, &seq, sizeof seq, prio, 1000), IPC_OK);
}

static uint32_t sv_recv_seq(ipc_channel *rx, unsigned *prio)
{
    uint32_t seq = UINT32_MAX;
    size_t len = 0;
    assert_ipc_err(ipc_recv(rx, &seq, sizeof seq, &len, prio, 1000), IPC_OK);
    assert_int_equal(len, sizeof seq);
    return seq;
}

/* Is a queue whose last sender or receiver was pid still there? For pair
 * queues, whose key is IPC_PRIVATE (/proc/sysvipc/msg: key msqid perms
 * cbytes qnum lspid lrpid ...). */
static bool sv_queue_of_pid(pid_t pid)
{
    static struct tu_msq q[SV_MAX_MSQ];
    int n = tu_msq_list(q, SV_MAX_MSQ);
    bool found = false;
    assert_true(n >= 0);
    for (int i = 0; i < n; i++)
        found = found || q[i].lspid == pid || q[i].lrpid == pid;
    return found;
}

/* ---------------------------------------------------------------- priority */

/* Higher priority first, FIFO within one priority, the priority reported;
 * 0..31 accepted, 32 refused (max_prio 31), also for a named channel. */
static void test_priority(void **state)
{
    (void)state;
    ipc_channel *ends[2];
    ipc_info info;
    enum { N = 300 };
    static unsigned prios[N];
    unsigned prio;

    assert_ipc_err(sv_pair("sysv:?max_msg=64", 0, ends), IPC_OK);
    assert_ipc_err(ipc_query(ends[0], &info), IPC_OK);
    assert_int_equal(info.max_prio, 31);
    assert_true(info.caps & IPC_CAP_PRIORITY);
    assert_ipc_err(ipc_send(ends[0], "x", 1, 32, 0), IPC_EINVAL);

    /* Queued in a random order of priorities (300 * 4 bytes fit in the
     * queue's 16 KiB; the kernel also counts messages against it). */
    for (uint32_t i = 0; i < N; i++) {
        prios[i] = (unsigned)tu_rand_range(0, 31);
        sv_send_seq(ends[0], i, prios[i]);
    }
    /* Expected: by priority, high to low; by sequence within one. */
    uint32_t got = 0;
    for (int p = 31; p >= 0; p--) {
        for (uint32_t i = 0; i < N; i++) {
            if (prios[i] != (unsigned)p)
                continue;
            uint32_t seq = sv_recv_seq(ends[1], &prio);
            if (seq != i || prio != (unsigned)p)
                fail_msg("message %u: seq %u prio %u, expected seq %u prio %d",
                         got, seq, prio, i, p);
            got++;
        }
    }
    assert_int_equal(got, N);
    size_t len;
    assert_ipc_err(ipc_recv(ends[1], &got, sizeof got, &len, NULL, 0),
                   IPC_EAGAIN);
    sv_close(ends[0]);
    sv_close(ends[1]);

    /* The same on a named queue, with a message arriving between
     * receives: it overtakes lower ones already queued. */
    char addr[SV_ADDR_MAX];
    key_t key;
    ipc_channel *rx, *tx;
    sv_key_addr(addr, sizeof addr, &key, NULL);
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx), IPC_OK);
    assert_ipc_err(sv_open(addr, IPC_F_SEND, 0, &tx), IPC_OK);
    sv_send_seq(tx, 1, 0);
    sv_send_seq(tx, 2, 0);
    sv_send_seq(tx, 3, 7);
    assert_int_equal(sv_recv_seq(rx, &prio), 3);
    assert_int_equal(prio, 7);
    sv_send_seq(tx, 4, 31);
    assert_int_equal(sv_recv_seq(rx, &prio), 4);
    assert_int_equal(sv_recv_seq(rx, &prio), 1);
    assert_int_equal(prio, 0);
    assert_int_equal(sv_recv_seq(rx, &prio), 2);
    sv_close(tx);
    sv_close(rx);
    assert_true(sv_qid(key) < 0);
}

/* ---------------------------------------------------------------- limits */

/* max_msg: 0 is bad input; the default is min(8192, kernel.msgmax); msgmax
 * itself works end to end; msgmax + 1 is IPC_ELIMIT naming the limit, for
 * pairs and names, and makes nothing. */
static void test_limits_max_msg(void **state)
{
    (void)state;
    long msgmax = sv_sysctl("msgmax");
    char addr[SV_ADDR_MAX], opts[64];
    ipc_channel *ends[2] = {NULL, NULL}, *ch = NULL;
    ipc_info info;
    key_t key;

    assert_ipc_err(sv_pair("sysv:?max_msg=0", 0, ends), IPC_EINVAL);
    assert_ipc_err(sv_pair("sysv:", 0, ends), IPC_OK);
    assert_ipc_err(ipc_query(ends[0], &info), IPC_OK);
    assert_int_equal(info.max_msg, msgmax < 8192 ? msgmax : 8192);
    sv_close(ends[0]);
    sv_close(ends[1]);

    /* The largest: a message of msgmax bytes crosses; one more does not. */
    snprintf(opts, sizeof opts, "max_msg=%ld", msgmax);
    sv_key_addr(addr, sizeof addr, &key, opts);
    ipc_channel *rx, *tx;
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx), IPC_OK);
    assert_ipc_err(sv_open(addr, IPC_F_SEND, 0, &tx), IPC_OK);
    unsigned char *buf = malloc((size_t)msgmax + 1);
    assert_non_null(buf);
    tu_pattern(buf, (size_t)msgmax, 77);
    assert_ipc_err(ipc_send(tx, buf, (size_t)msgmax + 1, 0, 0), IPC_EMSGSIZE);
    assert_ipc_err(ipc_send(tx, buf, (size_t)msgmax, 0, 1000), IPC_OK);
    memset(buf, 0, (size_t)msgmax);
    size_t len = 0;
    assert_ipc_err(ipc_recv(rx, buf, (size_t)msgmax, &len, NULL, 1000), IPC_OK);
    assert_int_equal(len, msgmax);
    assert_int_equal(tu_pattern_check(buf, len, 77), len);
    free(buf);
    sv_close(tx);
    sv_close(rx);

    /* One more than the kernel allows. */
    char want[96];
    snprintf(want, sizeof want, "kernel.msgmax (%ld)", msgmax);
    snprintf(opts, sizeof opts, "max_msg=%ld", msgmax + 1);
    snprintf(addr, sizeof addr, "sysv:?%s", opts);
    assert_ipc_err(sv_pair(addr, 0, ends), IPC_ELIMIT);
    assert_non_null(strstr(ipc_last_detail(), want));
    assert_null(ends[0]);
    assert_null(ends[1]);
    sv_key_addr(addr, sizeof addr, &key, opts);
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &ch),
        IPC_ELIMIT);
    print_message("  max_msg %ld + 1: \"%s\"\n", msgmax, ipc_last_detail());
    assert_non_null(strstr(ipc_last_detail(), want));
    assert_null(ch);
    assert_true(sv_qid(key) < 0); /* nothing was made */
}

/* Depth: the queue holds kernel.msgmnb bytes (buffer_bytes, capacity 0):
 * max_msg messages until the next would pass msgmnb, and the kernel counts
 * messages against the same bound, so msgmnb zero-length messages. Then
 * IPC_EAGAIN, or IPC_ETIMEDOUT in time. */
static void test_limits_depth(void **state)
{
    (void)state;
    long msgmnb = sv_sysctl("msgmnb");
    ipc_channel *ends[2];
    ipc_info info;
    static unsigned char buf[8192];

    assert_ipc_err(sv_pair("sysv:?max_msg=3000", 0, ends), IPC_OK);
    assert_ipc_err(ipc_query(ends[0], &info), IPC_OK);
    assert_int_equal(info.capacity, 0);
    assert_int_equal(info.buffer_bytes, msgmnb);
    long n = 0;
    while (ipc_send(ends[0], buf, 3000, 0, 0) == IPC_OK)
        n++;
    assert_ipc_err(ipc_send(ends[0], buf, 3000, 0, 0), IPC_EAGAIN);
    print_message("  3000-byte messages: %ld fit in msgmnb %ld\n", n, msgmnb);
    assert_int_equal(n, msgmnb / 3000);
    /* A smaller one still fits in what is left, if anything is. */
    long left = msgmnb - n * 3000;
    if (left > 0)
        assert_ipc_err(ipc_send(ends[0], buf, (size_t)left, 0, 0), IPC_OK);
    assert_ipc_err(ipc_send(ends[0], buf, 1, 0, 0), IPC_EAGAIN);
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_send(ends[0], buf, 1, 0, 30), IPC_ETIMEDOUT);
    assert_true(tu_elapsed_ms(t0) >= 30);
    sv_close(ends[0]);
    sv_close(ends[1]);

    assert_ipc_err(sv_pair("sysv:", 0, ends), IPC_OK);
    n = 0;
    while (n <= msgmnb && ipc_send(ends[0], "", 0, 0, 0) == IPC_OK)
        n++;
    print_message("  zero-length messages: %ld fit (msgmnb %ld)\n", n, msgmnb);
    assert_int_equal(n, msgmnb);
    sv_close(ends[0]);
    sv_close(ends[1]);
}

/* A queue whose msg_qbytes was lowered below max_msg can never carry such
 * a message: the open says so, naming msg_qbytes. */
static void test_limits_qbytes(void **state)
{
    (void)state;
    char addr[SV_ADDR_MAX];
    key_t key;
    ipc_channel *tx = NULL;
    ipc_info info;

    sv_key_addr(addr, sizeof addr, &key, "max_msg=2000");
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    assert_true(id >= 0);
    struct msqid_ds ds;
    assert_int_equal(msgctl(id, IPC_STAT, &ds), 0);
    ds.msg_qbytes = 1000;
    assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
    ipc_err err = sv_open(addr, IPC_F_SEND, 0, &tx);
    char detail[256];
    snprintf(detail, sizeof detail, "%s", ipc_last_detail());
    if (err == IPC_OK)
        sv_close(tx);
    snprintf(addr, sizeof addr, "sysv:0x%08x?max_msg=1000", (unsigned)key);
    ipc_err err2 = sv_open(addr, IPC_F_SEND, 0, &tx);
    if (err2 == IPC_OK) {
        ipc_query(tx, &info);
        sv_close(tx);
    }
    msgctl(id, IPC_RMID, NULL);
    assert_ipc_err(err, IPC_ELIMIT);
    print_message("  \"%s\"\n", detail);
    assert_non_null(strstr(detail, "msg_qbytes (1000"));
    assert_ipc_err(err2, IPC_OK);
    assert_int_equal(info.buffer_bytes, 1000);
}

/* In a private IPC namespace (the child's own kernel.msg* values; all its
 * queues vanish with it): too many queues, max_msg above msg_qbytes at
 * creation, a default max_msg that follows kernel.msgmax, and msgmax
 * lowered under an open channel. Exit 0 when all held, 77 when the
 * namespace is not permitted. */
static bool ns_set(const char *name, long value)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fprintf(f, "%ld\n", value) > 0;
    return fclose(f) == 0 && ok;
}

static int ns_expect(ipc_err got, ipc_err want, const char *what,
                     const char *detail_has)
{
    if (got != want)
        return tu_child_fail(3, "%s: %s, expected %s", what, ipc_errname(got),
                             ipc_errname(want));
    if (detail_has && !strstr(ipc_last_detail(), detail_has))
        return tu_child_fail(4, "%s: detail lacks \"%s\"", what, detail_has);
    if (detail_has)
        fprintf(stderr, "  %s: \"%s\"\n", what, ipc_last_detail());
    return 0;
}

static int ns_limits_child(void)
{
    ipc_channel *a[2], *b[2], *c[2], *rx = NULL;
    ipc_info info;
    static char buf[2000];
    int rc;
    if (unshare(CLONE_NEWIPC) != 0)
        return 77;
    if (!ns_set("msgmni", 2) || !ns_set("msgmax", 8192) ||
        !ns_set("msgmnb", 16384))
        return tu_child_fail(2, "set kernel.msg*: %s", strerror(errno));
    /* msgmni 2: two pairs, then no more queues. */
    if ((rc = ns_expect(ipc_pair("sysv:", 0, a), IPC_OK, "pair 1", NULL)) ||
        (rc = ns_expect(ipc_pair("sysv:", 0, b), IPC_OK, "pair 2", NULL)) ||
        (rc = ns_expect(ipc_pair("sysv:", 0, c), IPC_ELIMIT, "pair 3",
                        "kernel.msgmni is 2")) ||
        (rc = ns_expect(
             ipc_open("sysv:0x1234", IPC_F_CREATE | IPC_F_RECV, 0, &rx),
             IPC_ELIMIT, "named 3", "kernel.msgmni is 2")))
        return rc;
    ipc_close(b[0]);
    ipc_close(b[1]);
    /* msgmax above msgmnb: a max_msg the queue's bytes cannot hold. */
    if (!ns_set("msgmax", 20000))
        return tu_child_fail(2, "set msgmax: %s", strerror(errno));
    if ((rc = ns_expect(ipc_pair("sysv:?max_msg=20000", 0, b), IPC_ELIMIT,
                        "max_msg 20000, msgmnb 16384",
                        "msg_qbytes (16384; kernel.msgmnb is 16384)")))
        return rc;
    /* The default follows msgmax down; msgmax lowered under an open
     * channel: the send says which limit. */
    if (!ns_set("msgmax", 1000))
        return tu_child_fail(2, "set msgmax: %s", strerror(errno));
    if ((rc = ns_expect(ipc_pair("sysv:", 0, b), IPC_OK, "pair", NULL)))
        return rc;
    ipc_query(b[0], &info);
    ipc_close(b[0]);
    ipc_close(b[1]);
    if (info.max_msg != 1000)
        return tu_child_fail(5, "default max_msg %zu with msgmax 1000",
                             info.max_msg);
    if ((rc = ns_expect(ipc_send(a[0], buf, sizeof buf, 0, 0), IPC_ELIMIT,
                        "send 2000 after msgmax 1000",
                        "kernel.msgmax (1000), lowered")) ||
        (rc = ns_expect(ipc_send(a[0], buf, 1000, 0, 0), IPC_OK, "send 1000",
                        NULL)))
        return rc;
    ipc_close(a[0]);
    ipc_close(a[1]);
    return 0;
}

static void test_limits_namespace(void **state)
{
    (void)state;
    int status = 0;
    pid_t pid = tu_fork();
    if (pid == 0)
        _exit(ns_limits_child());
    bool ended = tu_wait(pid, SV_CHILD_MS, &status);
    assert_true(ended && WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        print_message("  unshare(CLONE_NEWIPC) not permitted: not run\n");
        return;
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---------------------------------------------------------------- removal */

struct removal {
    const char *what;
    bool sender;    /* the blocked call is a send on a full queue */
    int timeout_ms; /* -1: blocked in the kernel (EIDRM); else polling */
};

static int unlink_later(const char *addr)
{
    tu_sleep_ms(200);
    ipc_err err = ipc_unlink(addr);
    if (err != IPC_OK)
        return tu_child_fail(2, "ipc_unlink(%s): %s", addr, ipc_errname(err));
    return 0;
}

/* Another process removes the queue under a blocked caller: the call ends
 * with IPC_ECLOSED (EIDRM in the kernel; EINVAL on the removed id for the
 * polling path), soon after the removal, and so do later calls. */
static void test_removed_under_caller(void **state)
{
    (void)state;
    static const struct removal cases[] = {
        {"receiver blocked (-1)", false, -1},
        {"receiver waiting (10 s)", false, 10000},
        {"sender blocked (-1)", true, -1},
        {"sender waiting (10 s)", true, 10000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct removal *c = &cases[i];
        char addr[SV_ADDR_MAX];
        key_t key;
        ipc_channel *rx, *tx;
        unsigned char buf[1024] = {0};
        size_t len;
        sv_key_addr(addr, sizeof addr, &key, "max_msg=1024");
        assert_ipc_err(
            sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx),
            IPC_OK);
        assert_ipc_err(sv_open(addr, IPC_F_SEND, 0, &tx), IPC_OK);
        if (c->sender)
            while (ipc_send(tx, buf, sizeof buf, 0, 0) == IPC_OK)
                ;
        pid_t pid = tu_fork();
        if (pid == 0)
            _exit(unlink_later(addr));
        alarm(30); /* a -1 wait that never ends kills the test */
        int64_t t0 = tu_now_ns();
        ipc_err err =
            c->sender
                ? ipc_send(tx, buf, sizeof buf, 0, c->timeout_ms)
                : ipc_recv(rx, buf, sizeof buf, &len, NULL, c->timeout_ms);
        double took = tu_elapsed_ms(t0);
        alarm(0);
        assert_child_ok(pid, SV_CHILD_MS);
        print_message("  %s: %s after %.1f ms (\"%s\")\n", c->what,
                      ipc_errname(err), took, ipc_last_detail());
        assert_ipc_err(err, IPC_ECLOSED);
        assert_true(took >= 150 && took < 5000);
        /* It stays closed, at once, whatever the timeout. */
        assert_ipc_err(ipc_send(tx, buf, 1, 0, 0), IPC_ECLOSED);
        assert_ipc_err(ipc_send(tx, buf, 1, 0, -1), IPC_ECLOSED);
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0),
                       IPC_ECLOSED);
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, -1),
                       IPC_ECLOSED);
        sv_close(tx);
        sv_close(rx); /* the creator's close finds nothing to remove */
        assert_ipc_err(ipc_unlink(addr), IPC_ENOENT);
    }
}

/* A pair: the queue goes when both ends are closed in the process that
 * made it, not before; a forked child's closes remove nothing; a child
 * blocked on the removed queue hears IPC_ECLOSED. */
static void test_pair_lifetime(void **state)
{
    (void)state;
    ipc_channel *ends[2];
    int ready[2];

    assert_ipc_err(sv_pair("sysv:?max_msg=64", 0, ends), IPC_OK);
    assert_int_equal(pipe(ready), 0);
    pid_t pid = tu_fork();
    if (pid == 0) {
        char buf[64];
        size_t len;
        sv_close(ends[0]); /* the child's copy: removes nothing */
        close(ready[0]);
        ipc_err err = ipc_recv(ends[1], buf, sizeof buf, &len, NULL, 5000);
        if (err != IPC_OK || len != 5 || memcmp(buf, "hello", 5) != 0)
            _exit(tu_child_fail(2, "first recv: %s", ipc_errname(err)));
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        err = ipc_recv(ends[1], buf, sizeof buf, &len, NULL, -1);
        sv_close(ends[1]);
        if (err != IPC_ECLOSED)
            _exit(tu_child_fail(4, "recv on the removed pair queue: %s",
                                ipc_errname(err)));
        _exit(0);
    }
    close(ready[1]);
    /* The parent keeps only the sender: the queue must stay. */
    sv_close(ends[1]);
    assert_ipc_err(ipc_send(ends[0], "hello", 5, 0, 1000), IPC_OK);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    assert_true(sv_queue_of_pid(pid));
    tu_sleep_ms(100);  /* let the child block in msgrcv */
    sv_close(ends[0]); /* the last end here: removed */
    assert_child_ok(pid, SV_CHILD_MS);
    assert_false(sv_queue_of_pid(pid));
    assert_false(sv_queue_of_pid(getpid()));
}

/* ---------------------------------------------------------------- time */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Finite timeouts on an empty queue (receive) and a full one (send): never
 * earlier than asked, and late by little (the lateness is printed; the
 * median must be under 10 ms, any one under SV_FAR_LATE). */
static void test_deadline_accuracy(void **state)
{
    (void)state;
    static const int waits[] = {1, 2, 5, 10, 20, 50, 100, 250};
    enum { NW = sizeof waits / sizeof waits[0] };
    double late[2 * NW];
    ipc_channel *ends[2];
    unsigned char buf[4000] = {0};
    size_t len;

    assert_ipc_err(sv_pair("sysv:?max_msg=4000", 0, ends), IPC_OK);
    for (int i = 0; i < NW; i++) {
        int64_t t0 = tu_now_ns();
        assert_ipc_err(ipc_recv(ends[1], buf, sizeof buf, &len, NULL, waits[i]),
                       IPC_ETIMEDOUT);
        late[i] = tu_elapsed_ms(t0) - waits[i];
    }
    while (ipc_send(ends[0], buf, sizeof buf, 0, 0) == IPC_OK)
        ;
    for (int i = 0; i < NW; i++) {
        int64_t t0 = tu_now_ns();
        assert_ipc_err(ipc_send(ends[0], buf, sizeof buf, 0, waits[i]),
                       IPC_ETIMEDOUT);
        late[NW + i] = tu_elapsed_ms(t0) - waits[i];
    }
    sv_close(ends[0]);
    sv_close(ends[1]);

    print_message("  lateness (ms) for waits of");
    for (int i = 0; i < NW; i++)
        print_message(" %d", waits[i]);
    print_message(" ms\n  recv:");
    for (int i = 0; i < NW; i++)
        print_message(" %.3f", late[i]);
    print_message("\n  send:");
    for (int i = 0; i < NW; i++)
        print_message(" %.3f", late[NW + i]);
    print_message("\n");
    for (int i = 0; i < 2 * NW; i++) {
        if (late[i] < 0)
            fail_msg("a wait of %d ms ended %.3f ms EARLY", waits[i % NW],
                     -late[i]);
        if (late[i] > SV_FAR_LATE)
            fail_msg("a wait of %d ms ended %.1f ms late", waits[i % NW],
                     late[i]);
    }
    qsort(late, 2 * NW, sizeof late[0], cmp_double);
    double median = (late[NW - 1] + late[NW]) / 2;
    print_message("  median lateness %.3f ms, worst %.3f ms\n", median,
                  late[2 * NW - 1]);
    assert_true(median < 10.0);
}

static double cpu_ms(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_THREAD, &ru), 0);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* A caller waiting out a 1 s timeout uses well under 5 % of a core
 * (RUSAGE_THREAD: this thread only), receiving and sending. */
static void test_wait_cpu(void **state)
{
    (void)state;
    ipc_channel *ends[2];
    unsigned char buf[4000] = {0};
    size_t len;
    double share[2];

    assert_ipc_err(sv_pair("sysv:?max_msg=4000", 0, ends), IPC_OK);
    for (int i = 0; i < 2; i++) {
        if (i == 1)
            while (ipc_send(ends[0], buf, sizeof buf, 0, 0) == IPC_OK)
                ;
        double c0 = cpu_ms();
        int64_t t0 = tu_now_ns();
        ipc_err err = i == 0
                          ? ipc_recv(ends[1], buf, sizeof buf, &len, NULL, 1000)
                          : ipc_send(ends[0], buf, sizeof buf, 0, 1000);
        double wall = tu_elapsed_ms(t0), cpu = cpu_ms() - c0;
        assert_ipc_err(err, IPC_ETIMEDOUT);
        share[i] = 100.0 * cpu / wall;
        print_message("  %s waiting 1 s: %.2f ms CPU in %.1f ms (%.2f %%)\n",
                      i == 0 ? "receiver" : "sender", cpu, wall, share[i]);
    }
    sv_close(ends[0]);
    sv_close(ends[1]);
    assert_true(share[0] < 5.0);
    assert_true(share[1] < 5.0);
}

struct late_sender {
    ipc_channel *tx;
    int delay_ms;
    int64_t sent_at;
};

static void *late_send(void *arg)
{
    struct late_sender *ls = arg;
    tu_sleep_ms(ls->delay_ms);
    ls->sent_at = tu_now_ns();
    ipc_send(ls->tx, "late", 4, 0, 1000);
    return NULL;
}

/* A message that comes during a long finite wait is taken within a nap
 * (about 1 ms; printed), not at the deadline. */
static void test_wake_latency(void **state)
{
    (void)state;
    ipc_channel *ends[2];
    char buf[16];
    size_t len;
    double worst = 0;

    assert_ipc_err(sv_pair("sysv:?max_msg=16", 0, ends), IPC_OK);
    for (int i = 0; i < 5; i++) {
        struct late_sender ls = {.tx = ends[0], .delay_ms = 50 + 37 * i};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, late_send, &ls), 0);
        ipc_err err = ipc_recv(ends[1], buf, sizeof buf, &len, NULL, 10000);
        int64_t got_at = tu_now_ns();
        pthread_join(th, NULL);
        assert_ipc_err(err, IPC_OK);
        double lag = (double)(got_at - ls.sent_at) / 1e6;
        if (lag > worst)
            worst = lag;
    }
    print_message("  worst wake-up lag of a 10 s wait: %.3f ms\n", worst);
    sv_close(ends[0]);
    sv_close(ends[1]);
    assert_true(worst < SV_FAR_LATE);
}

/* ---------------------------------------------------------------- names */

/* Explicit keys: 1 to 8 hex digits, either case; 0 (IPC_PRIVATE), more
 * digits, or non-hex is IPC_EINVAL, checked before anything is made. */
static void test_keys(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "sysv:0x",   "sysv:0x0",    "sysv:0x00000000", "sysv:0x123456789",
        "sysv:0xg1", "sysv:0x12 3", "sysv:0x-1",
    };
    ipc_channel *ch = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ipc_err err = sv_open(bad[i], IPC_F_CREATE | IPC_F_RECV, 0, &ch);
        if (err != IPC_EINVAL)
            fail_msg("%s: %s, expected IPC_EINVAL", bad[i], ipc_errname(err));
        assert_null(ch);
        assert_ipc_err(ipc_unlink(bad[i]), IPC_EINVAL);
    }
    /* Upper case, few digits, and the top bit set. */
    key_t key = (key_t)tu_sysv_key();
    char addr[SV_ADDR_MAX];
    uint32_t keys[3] = {(uint32_t)key & 0xfff, (uint32_t)key | 0x80000000u,
                        (uint32_t)key};
    for (int i = 0; i < 3; i++) {
        if (keys[i] == 0 || sv_qid((key_t)keys[i]) >= 0)
            continue; /* someone's queue: not ours to test with */
        sv_track_key((key_t)keys[i]);
        snprintf(addr, sizeof addr, "sysv:0X%X", (unsigned)keys[i]);
        assert_ipc_err(
            sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &ch),
            IPC_OK);
        assert_true(sv_qid((key_t)keys[i]) >= 0);
        sv_close(ch);
        assert_true(sv_qid((key_t)keys[i]) < 0);
    }
}

/* Path form: the key is ipc__sysv_path_key(path) (a hash of the file's
 * identity); a missing path is IPC_ENOENT for every call; the path must
 * stay while the queue is used. */
static void test_ftok(void **state)
{
    (void)state;
    char name[96], path[200], addr[SV_ADDR_MAX];
    ipc_channel *rx = NULL, *tx = NULL;

    tu_unique(name, sizeof name, "ipcs");
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    snprintf(sv_path, sizeof sv_path, "%s", path);
    snprintf(addr, sizeof addr, "sysv:%s", path);
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx),
        IPC_ENOENT);
    assert_non_null(strstr(ipc_last_detail(), "key"));
    assert_ipc_err(sv_open(addr, IPC_F_SEND, 0, &tx), IPC_ENOENT);
    assert_ipc_err(ipc_unlink(addr), IPC_ENOENT);

    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_ipc_err(sv_open(addr, IPC_F_SEND, 0, &tx),
                   IPC_ENOENT); /* no queue */
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx), IPC_OK);
    key_t key;
    assert_ipc_err(ipc__sysv_path_key("sysv", path, &key), IPC_OK);
    assert_true(key != IPC_PRIVATE && key != ftok(path, IPC_SYSV_PROJ));
    sv_track_key(key);
    bool found = sv_qid(key) >= 0;
    assert_ipc_err(sv_open(addr, IPC_F_SEND, 0, &tx), IPC_OK);
    sv_send_seq(tx, 42, 3);
    unsigned prio;
    uint32_t seq = sv_recv_seq(rx, &prio);
    sv_close(tx);
    sv_close(rx);
    bool gone = sv_qid(key) < 0;
    unlink(path);
    assert_true(found);
    assert_true(gone);
    assert_int_equal(seq, 42);
    assert_int_equal(prio, 3);
}

/* Two files whose ftok(path, 'I') keys collide (one tmpfs, inodes that
 * differ by a multiple of 65536: files are made and removed until one
 * lands there) get different keys and separate queues: each receiver gets
 * only its own messages, one's close leaves the other working, and the
 * EEXIST detail never suggests removing what may be a live queue. */
static void test_path_keys(void **state)
{
    (void)state;
    char name[96], a[SV_ADDR_MAX], b[SV_ADDR_MAX];
    struct stat st0, st;
    tu_unique(name, sizeof name, "ipcs");
    snprintf(sv_path, sizeof sv_path, "/dev/shm/%s-a", name);
    snprintf(sv_path2, sizeof sv_path2, "/dev/shm/%s-b", name);
    int fd = open(sv_path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(stat(sv_path, &st0), 0);
    bool found = false;
    for (long i = 0; i < 1000000 && !found; i++) {
        fd = open(sv_path2, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        close(fd);
        found = st.st_dev == st0.st_dev && st.st_ino != st0.st_ino &&
                ftok(sv_path, IPC_SYSV_PROJ) == ftok(sv_path2, IPC_SYSV_PROJ);
        if (!found)
            assert_int_equal(unlink(sv_path2), 0);
    }
    if (!found) {
        print_message("(no ftok collision within 10^6 files on /dev/shm: "
                      "skipped)\n");
        return;
    }
    key_t ka, kb;
    assert_ipc_err(ipc__sysv_path_key("sysv", sv_path, &ka), IPC_OK);
    assert_ipc_err(ipc__sysv_path_key("sysv", sv_path2, &kb), IPC_OK);
    sv_track_key(ka);
    sv_track_key(kb);
    assert_true(ka != kb);

    ipc_channel *rxa = NULL, *rxb = NULL, *tx = NULL;
    unsigned prio;
    snprintf(a, sizeof a, "sysv:%s", sv_path);
    snprintf(b, sizeof b, "sysv:%s", sv_path2);
    assert_ipc_err(sv_open(a, IPC_F_CREATE | IPC_F_RECV, 0, &rxa), IPC_OK);
    assert_ipc_err(sv_open(b, IPC_F_CREATE | IPC_F_RECV, 0, &rxb), IPC_OK);
    /* Two queues, b made, not a's joined. */
    assert_true(sv_qid(ka) >= 0 && sv_qid(kb) >= 0 && sv_qid(ka) != sv_qid(kb));
    assert_ipc_err(sv_open(a, IPC_F_SEND, 0, &tx), IPC_OK);
    sv_send_seq(tx, 7, 0);
    sv_close(tx);
    unsigned char buf[64];
    size_t len;
    assert_ipc_err(ipc_recv(rxb, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    assert_int_equal(sv_recv_seq(rxa, &prio), 7);
    sv_close(rxa);
    assert_ipc_err(sv_open(b, IPC_F_SEND, 0, &tx), IPC_OK);
    sv_send_seq(tx, 8, 0);
    assert_int_equal(sv_recv_seq(rxb, &prio), 8);
    sv_close(tx);

    ipc_channel *again = NULL;
    assert_ipc_err(
        sv_open(b, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &again),
        IPC_EEXIST);
    assert_null(strstr(ipc_last_detail(), "IPC_F_REPLACE"));
    sv_close(rxb);
}

/* Modes: 0600 by default, ?mode= exactly (SysV ignores the umask); a
 * sender cannot create; plain CREATE opens our own queue without owning
 * it, and refuses a queue whose owner or creator is another uid. */
static void test_ownership(void **state)
{
    (void)state;
    char addr[SV_ADDR_MAX];
    key_t key;
    ipc_channel *rx = NULL, *rx2 = NULL, *tx = NULL;

    sv_key_addr(addr, sizeof addr, &key, NULL);
    assert_ipc_err(sv_open(addr, IPC_F_CREATE | IPC_F_SEND, 0, &tx),
                   IPC_EINVAL);
    assert_true(sv_qid(key) < 0);
    mode_t old = umask(077);
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx), IPC_OK);
    struct msqid_ds ds = sv_stat(key);
    assert_int_equal(ds.msg_perm.mode & 0777, 0600);
    assert_int_equal(ds.msg_perm.uid, geteuid());
    /* Plain CREATE on our existing queue: opened, not owned. */
    assert_ipc_err(sv_open(addr, IPC_F_CREATE | IPC_F_RECV, 0, &rx2), IPC_OK);
    sv_close(rx2);
    assert_true(sv_qid(key) >= 0);
    sv_close(rx);
    assert_true(sv_qid(key) < 0);

    char addr2[SV_ADDR_MAX];
    snprintf(addr2, sizeof addr2, "sysv:0x%08x?mode=0640", (unsigned)key);
    assert_ipc_err(
        sv_open(addr2, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx), IPC_OK);
    ds = sv_stat(key);
    umask(old);
    assert_int_equal(ds.msg_perm.mode & 0777, 0640);
    sv_close(rx);

    /* Owner given away with IPC_SET (the creator is still us): refused. */
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    assert_true(id >= 0);
    assert_int_equal(msgctl(id, IPC_STAT, &ds), 0);
    ds.msg_perm.uid = 65534;
    assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
    ipc_err err = sv_open(addr, IPC_F_CREATE | IPC_F_RECV, 0, &rx);
    char detail[256];
    snprintf(detail, sizeof detail, "%s", ipc_last_detail());
    ipc_err excl =
        sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx2);
    msgctl(id, IPC_RMID, NULL);
    assert_ipc_err(err, IPC_EACCES);
    print_message("  \"%s\"\n", detail);
    assert_ipc_err(excl, IPC_EEXIST);
    assert_null(rx);

    /* Created by another uid (needs root to play that uid). */
    if (geteuid() != 0) {
        print_message("  not root: the other-creator case is not run\n");
        return;
    }
    pid_t pid = tu_fork();
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(2);
        _exit(msgget(key, IPC_CREAT | IPC_EXCL | 0666) >= 0 ? 0 : 3);
    }
    assert_child_ok(pid, SV_CHILD_MS);
    err = sv_open(addr, IPC_F_CREATE | IPC_F_RECV, 0, &rx);
    sv_rmid(key);
    assert_ipc_err(err, IPC_EACCES);
    assert_null(rx);
}

/* REPLACE removes the queue that has the key and makes a new one: an end
 * on the old queue hears IPC_ECLOSED; the replacer owns the new one. */
static void test_replace(void **state)
{
    (void)state;
    char addr[SV_ADDR_MAX];
    key_t key;
    ipc_channel *rx = NULL, *tx = NULL, *rx2 = NULL;

    sv_key_addr(addr, sizeof addr, &key, "max_msg=64");
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    assert_true(id >= 0);
    assert_ipc_err(sv_open(addr, IPC_F_SEND, 0, &tx), IPC_OK);
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV, 0, &rx),
        IPC_OK);
    int id2 = sv_qid(key);
    assert_ipc_err(ipc_send(tx, "old", 3, 0, 0), IPC_ECLOSED);
    sv_close(tx);
    assert_true(id2 >= 0 && id2 != id);
    assert_ipc_err(sv_open(addr, IPC_F_SEND, 0, &tx), IPC_OK);
    sv_send_seq(tx, 9, 0);
    assert_int_equal(sv_recv_seq(rx, NULL), 9);
    /* Replaced again by a second receiver: the first one's close then
     * leaves the newer queue alone. */
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV, 0, &rx2),
        IPC_OK);
    sv_close(rx);
    assert_true(sv_qid(key) >= 0);
    sv_close(tx);
    sv_close(rx2);
    assert_true(sv_qid(key) < 0);
}

/* Queues of a uid (creator) still in the system. */
static int sv_queues_of_cuid(long cuid)
{
    static struct tu_msq q[SV_MAX_MSQ];
    int n = tu_msq_list(q, SV_MAX_MSQ), found = 0;
    assert_true(n >= 0);
    for (int i = 0; i < n; i++)
        found += q[i].cuid == cuid;
    return found;
}

#define SV_OTHER_UID 65533

static int foreign_child(const char *addr_rw, const char *addr_ro,
                         const char *addr_new)
{
    ipc_channel *ch = NULL, *ends[2] = {NULL, NULL};
    ipc_info info;
    ipc_err err;
    if (setgid(SV_OTHER_UID) != 0 || setuid(SV_OTHER_UID) != 0)
        return tu_child_fail(2, "setuid: %s", strerror(errno));
    /* Mode 0622: others may write, not read: a sender opens without
     * seeing the byte bound. */
    if ((err = sv_open(addr_rw, IPC_F_SEND, 0, &ch)) != IPC_OK)
        return tu_child_fail(3, "open sender: %s", ipc_errname(err));
    ipc_query(ch, &info);
    err = ipc_send(ch, "foreign", 7, 0, 1000);
    sv_close(ch);
    if (err != IPC_OK || info.buffer_bytes != 0)
        return tu_child_fail(4, "send: %s, buffer_bytes %zu", ipc_errname(err),
                             info.buffer_bytes);
    if ((err = sv_open(addr_rw, IPC_F_RECV, 0, &ch)) != IPC_EACCES)
        return tu_child_fail(5, "open receiver: %s", ipc_errname(err));
    if ((err = sv_open(addr_rw, IPC_F_CREATE | IPC_F_RECV, 0, &ch)) !=
        IPC_EACCES)
        return tu_child_fail(6, "create over root's: %s", ipc_errname(err));
    /* Mode 0644: no writing for others. */
    if ((err = sv_open(addr_ro, IPC_F_SEND, 0, &ch)) != IPC_EACCES)
        return tu_child_fail(7, "open sender, 0644: %s", ipc_errname(err));
    /* Our own queues without read permission for us: the receiving end
     * fails, and nothing is left behind. */
    if ((err = sv_pair("sysv:?mode=0200", 0, ends)) != IPC_EACCES || ends[0] ||
        ends[1])
        return tu_child_fail(8, "pair mode 0200: %s", ipc_errname(err));
    if ((err = sv_open(addr_new, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0,
                       &ch)) != IPC_EACCES)
        return tu_child_fail(9, "create mode 0200: %s", ipc_errname(err));
    return 0;
}

/* Another uid (root plays it): a write-only sender works, a reader or a
 * creator over someone else's queue is refused, a write-only queue of
 * one's own fails to open as receiver and is removed. */
static void test_foreign_uid(void **state)
{
    (void)state;
    char addr_rw[SV_ADDR_MAX], addr_ro[SV_ADDR_MAX], addr_new[SV_ADDR_MAX];
    key_t key_rw, key_ro, key_new;
    ipc_channel *rx = NULL, *ro = NULL;
    char buf[16];
    size_t len = 0;

    if (geteuid() != 0) {
        print_message("  not root: cannot play another uid; not run\n");
        return;
    }
    sv_key_addr(addr_rw, sizeof addr_rw, &key_rw, "mode=0622");
    sv_key_addr(addr_ro, sizeof addr_ro, &key_ro, "mode=0644");
    sv_key_addr(addr_new, sizeof addr_new, &key_new, "mode=0200");
    assert_ipc_err(
        sv_open(addr_rw, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx),
        IPC_OK);
    assert_ipc_err(
        sv_open(addr_ro, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &ro),
        IPC_OK);
    pid_t pid = tu_fork();
    if (pid == 0)
        _exit(foreign_child(addr_rw, addr_ro, addr_new));
    assert_child_ok(pid, SV_CHILD_MS);
    ipc_err err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000);
    sv_close(ro);
    sv_close(rx);
    assert_ipc_err(err, IPC_OK);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "foreign", 7);
    assert_int_equal(sv_queues_of_cuid(SV_OTHER_UID), 0);
    assert_true(sv_qid(key_new) < 0);
}

/* ---------------------------------------------------------------- held */

/* IPC_EMSGSIZE holds the message in this end: a later higher-priority
 * message comes after it; another receiver of the queue cannot take it;
 * a child forked meanwhile does not deliver it a second time. */
static void test_held_message(void **state)
{
    (void)state;
    char addr[SV_ADDR_MAX];
    key_t key;
    ipc_channel *rx = NULL, *rx2 = NULL, *tx = NULL;
    unsigned char buf[256];
    size_t len = 0;
    unsigned prio = 99;

    sv_key_addr(addr, sizeof addr, &key, "max_msg=200");
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx), IPC_OK);
    assert_ipc_err(sv_open(addr, IPC_F_RECV, 0, &rx2), IPC_OK);
    assert_ipc_err(sv_open(addr, IPC_F_SEND, 0, &tx), IPC_OK);
    tu_pattern(buf, 150, 150);
    assert_ipc_err(ipc_send(tx, buf, 150, 2, 0), IPC_OK);
    assert_ipc_err(ipc_recv(rx2, buf, 10, &len, NULL, 0), IPC_EMSGSIZE);
    assert_int_equal(len, 150);
    /* It has left the kernel queue for rx2. */
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    assert_int_equal(sv_stat(key).msg_qnum, 0);
    assert_ipc_err(ipc_send(tx, "hi", 2, 31, 0), IPC_OK);

    pid_t pid = tu_fork();
    if (pid == 0) {
        unsigned char cbuf[256];
        size_t clen;
        ipc_err err = ipc_recv(rx2, cbuf, sizeof cbuf, &clen, NULL, 0);
        /* The parent holds it; the child gets the next queued one. */
        if (err != IPC_OK || clen != 2)
            _exit(tu_child_fail(2, "child recv: %s, %zu bytes",
                                ipc_errname(err), clen));
        _exit(0);
    }
    assert_child_ok(pid, SV_CHILD_MS);
    len = 0;
    assert_ipc_err(ipc_recv(rx2, buf, 149, &len, NULL, 0), IPC_EMSGSIZE);
    assert_int_equal(len, 150);
    assert_ipc_err(ipc_recv(rx2, buf, 150, &len, &prio, 0), IPC_OK);
    assert_int_equal(len, 150);
    assert_int_equal(prio, 2);
    assert_int_equal(tu_pattern_check(buf, 150, 150), 150);
    assert_ipc_err(ipc_recv(rx2, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    sv_close(tx);
    sv_close(rx2);
    sv_close(rx);
}

/* A message longer than the receiver's max_msg (its sender opened with a
 * larger one): IPC_EPROTO, dropped, and the next one comes whole. */
static void test_oversized_peer(void **state)
{
    (void)state;
    char addr[SV_ADDR_MAX], addr_tx[SV_ADDR_MAX];
    key_t key;
    ipc_channel *rx = NULL, *tx = NULL;
    unsigned char buf[512];
    size_t len;

    sv_key_addr(addr, sizeof addr, &key, "max_msg=100");
    snprintf(addr_tx, sizeof addr_tx, "sysv:0x%08x?max_msg=400", (unsigned)key);
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx), IPC_OK);
    assert_ipc_err(sv_open(addr_tx, IPC_F_SEND, 0, &tx), IPC_OK);
    for (size_t n = 101; n <= 400; n += 299) {
        tu_pattern(buf, n, n);
        assert_ipc_err(ipc_send(tx, buf, n, 0, 0), IPC_OK);
        tu_pattern(buf, 100, 5);
        assert_ipc_err(ipc_send(tx, buf, 100, 0, 0), IPC_OK);
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000),
                       IPC_EPROTO);
        assert_non_null(strstr(ipc_last_detail(), "max_msg"));
        assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
        assert_int_equal(len, 100);
        assert_int_equal(tu_pattern_check(buf, 100, 5), 100);
    }
    sv_close(tx);
    sv_close(rx);
}

/* ---------------------------------------------------------------- several */

enum { MR_RECEIVERS = 3, MR_MESSAGES = 600 };

static int mr_receive(const char *addr, int out_fd)
{
    ipc_channel *rx = NULL;
    ipc_err err = sv_open(addr, IPC_F_RECV, 0, &rx);
    if (err != IPC_OK)
        return tu_child_fail(2, "open: %s", ipc_errname(err));
    for (;;) {
        uint32_t seq;
        size_t len;
        err = ipc_recv(rx, &seq, sizeof seq, &len, NULL, 500);
        if (err == IPC_ETIMEDOUT)
            break;
        if (err != IPC_OK || len != sizeof seq)
            return tu_child_fail(3, "recv: %s", ipc_errname(err));
        if (write(out_fd, &seq, sizeof seq) != (ssize_t)sizeof seq)
            return tu_child_fail(4, "write: %s", strerror(errno));
    }
    sv_close(rx);
    return 0;
}

/* Several receiver processes on one named queue (MULTI_RECEIVER): every
 * message is taken exactly once. */
static void test_multi_receiver(void **state)
{
    (void)state;
    char addr[SV_ADDR_MAX];
    key_t key;
    ipc_channel *rx = NULL, *tx = NULL;
    ipc_info info;
    int out[2];
    pid_t pids[MR_RECEIVERS];
    static uint8_t seen[MR_MESSAGES];

    sv_key_addr(addr, sizeof addr, &key, "max_msg=64");
    assert_ipc_err(
        sv_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx), IPC_OK);
    assert_ipc_err(ipc_query(rx, &info), IPC_OK);
    assert_true(info.caps & IPC_CAP_MULTI_RECEIVER);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    for (int k = 0; k < MR_RECEIVERS; k++) {
        pids[k] = tu_fork();
        if (pids[k] == 0) {
            close(out[0]);
            _exit(mr_receive(addr, out[1]));
        }
    }
    close(out[1]);
    assert_ipc_err(sv_open(addr, IPC_F_SEND, 0, &tx), IPC_OK);
    for (uint32_t i = 0; i < MR_MESSAGES; i++)
        assert_ipc_err(ipc_send(tx, &i, sizeof i, 0, 5000), IPC_OK);
    for (int k = 0; k < MR_RECEIVERS; k++)
        assert_child_ok(pids[k], SV_CHILD_MS);
    uint32_t seq;
    int total = 0;
    while (read(out[0], &seq, sizeof seq) == (ssize_t)sizeof seq) {
        assert_true(seq < MR_MESSAGES);
        if (seen[seq]++)
            fail_msg("message %u taken twice", seq);
        total++;
    }
    close(out[0]);
    sv_close(tx);
    sv_close(rx);
    assert_int_equal(total, MR_MESSAGES);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_priority, sv_teardown),
        cmocka_unit_test_teardown(test_limits_max_msg, sv_teardown),
        cmocka_unit_test_teardown(test_limits_depth, sv_teardown),
        cmocka_unit_test_teardown(test_limits_qbytes, sv_teardown),
        cmocka_unit_test_teardown(test_limits_namespace, sv_teardown),
        cmocka_unit_test_teardown(test_removed_under_caller, sv_teardown),
        cmocka_unit_test_teardown(test_pair_lifetime, sv_teardown),
        cmocka_unit_test_teardown(test_deadline_accuracy, sv_teardown),
        cmocka_unit_test_teardown(test_wait_cpu, sv_teardown),
        cmocka_unit_test_teardown(test_wake_latency, sv_teardown),
        cmocka_unit_test_teardown(test_keys, sv_teardown),
        cmocka_unit_test_teardown(test_ftok, sv_teardown),
        cmocka_unit_test_teardown(test_path_keys, sv_teardown),
        cmocka_unit_test_teardown(test_ownership, sv_teardown),
        cmocka_unit_test_teardown(test_replace, sv_teardown),
        cmocka_unit_test_teardown(test_foreign_uid, sv_teardown),
        cmocka_unit_test_teardown(test_held_message, sv_teardown),
        cmocka_unit_test_teardown(test_oversized_peer, sv_teardown),
        cmocka_unit_test_teardown(test_multi_receiver, sv_teardown),
    };
    return tu_run_tests("sysv", tests, argc, argv);
}
