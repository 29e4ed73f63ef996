/* SPDX-License-Identifier: MIT */
/* Reliability-suite plumbing: rows, names, links, checked messages,
 * children, timing and leak checks. */
#include "rel.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const struct rel_row rel_rows[] = {
#define REL_ROW(n, a, f, fl) {n, a, f, fl},
#include "backends.def"
#undef REL_ROW
    {NULL, NULL, NULL, 0},
};

struct rel_ctx rel;

/* Every named address made, for the leftover checks. */
#define REL_MAX_NAMES 4096
struct rel_name {
    char addr[REL_ADDR_MAX];
    char fs[REL_PATH_MAX]; /* "" if none */
    uint32_t key;          /* SysV key from {key}, 0 if none */
};
static struct rel_name *rel_names;
static int rel_n_names;

/* Children forked, for attributing SysV queues to this run. */
#define REL_MAX_PIDS 8192
static pid_t rel_pids[REL_MAX_PIDS];
static int rel_n_pids;

/* SysV queue ids that existed when the program started. */
#define REL_MAX_MSQ 1024
static int rel_msq_before[REL_MAX_MSQ];
static int rel_n_msq_before;

/* Children not reaped yet: killed in the teardown of a failed test. */
static pid_t rel_live[REL_MAX_PIDS];
static int rel_n_live;

static const char *rel_test_name = "?";
static int rel_test_fds;

bool rel_takes(enum ipc__key key)
{
    return (rel.be->keys & IPC_KEYBIT(key)) != 0;
}

bool rel_long(void)
{
    const char *v = getenv("IPC_REL_LONG");
    return v && *v && strcmp(v, "0") != 0;
}

long rel_env(const char *name, long dflt, long dflt_long)
{
    const char *v = getenv(name);
    if (v && *v)
        return strtol(v, NULL, 0);
    return rel_long() ? dflt_long : dflt;
}

void rel_figure(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("FIGURE %s.%s: %s\n", rel.suite, rel.row->name, line);
    fflush(stdout);
}

void *rel_shared(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    return p;
}

uint64_t rel_rand(uint64_t *state)
{
    *state = tu_mix(*state);
    return *state;
}

/* ---------------------------------------------------------------- names */

static void rel_expand(const char *tmpl, const char *name, uint32_t key,
                       char *buf, size_t size)
{
    size_t w = 0;
    buf[0] = '\0';
    for (const char *p = tmpl; *p && w + 1 < size;) {
        const char *sub = NULL;
        char keybuf[16];
        size_t skip = 0;
        if (strncmp(p, "{tmp}", 5) == 0) {
            sub = rel.run_dir;
            skip = 5;
        } else if (strncmp(p, "{name}", 6) == 0) {
            sub = name;
            skip = 6;
        } else if (strncmp(p, "{key}", 5) == 0) {
            snprintf(keybuf, sizeof keybuf, "0x%08x", key);
            sub = keybuf;
            skip = 5;
        }
        if (sub) {
            int n = snprintf(buf + w, size - w, "%s", sub);
            w += (size_t)n < size - w ? (size_t)n : size - w - 1;
            p += skip;
        } else {
            buf[w++] = *p++;
            buf[w] = '\0';
        }
    }
}

void rel_addr(char *buf, size_t size, const char *opts)
{
    const char *q = opts && *opts ? "?" : "";
    if (!rel.named) {
        snprintf(buf, size, "%s%s%s", rel.row->addr, q, opts ? opts : "");
        return;
    }
    /* "ipcrel-<run pid>-<pid>-<n>-<rand>": the run's prefix for the
     * leftover scans, the maker's pid so that forked children never make
     * the name their parent makes. */
    static unsigned counter;
    char name[96], base[REL_ADDR_MAX];
    snprintf(name, sizeof name, "%s%ld-%u-%04x", rel.prefix, (long)getpid(),
             ++counter, (unsigned)(tu_rand() & 0xffff));
    /* A key unique to this run: never 0 (IPC_PRIVATE), never negative. */
    uint32_t key = (uint32_t)(tu_rand() & 0x3fffffff) | 0x40000000u;
    rel_expand(rel.row->addr, name, key, base, sizeof base);
    snprintf(buf, size, "%s%s%s", base, q, opts ? opts : "");
    if (rel_n_names < REL_MAX_NAMES) {
        struct rel_name *n = &rel_names[rel_n_names++];
        snprintf(n->addr, sizeof n->addr, "%s", base);
        n->fs[0] = '\0';
        if (rel.row->fs)
            rel_expand(rel.row->fs, name, key, n->fs, sizeof n->fs);
        n->key = strstr(rel.row->addr, "{key}") ? key : 0;
    }
}

void rel_addr_base(const char *addr, char *buf, size_t size)
{
    snprintf(buf, size, "%.*s", (int)strcspn(addr, "?"), addr);
}

bool rel_fs_path(const char *addr, char *buf, size_t size)
{
    char base[REL_ADDR_MAX];
    rel_addr_base(addr, base, sizeof base);
    for (int i = rel_n_names - 1; i >= 0; i--) {
        if (strcmp(rel_names[i].addr, base) == 0) {
            if (!rel_names[i].fs[0])
                return false;
            snprintf(buf, size, "%s", rel_names[i].fs);
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- links */

ipc_err rel_link_open_rx(struct rel_link *l, const char *opts)
{
    l->tx = l->rx = NULL;
    rel_addr(l->addr, sizeof l->addr, opts);
    return ipc_open(l->addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 5000,
                    &l->rx);
}

ipc_err rel_link_open(struct rel_link *l, const char *opts)
{
    l->tx = l->rx = NULL;
    if (!rel.named) {
        ipc_channel *ends[2] = {NULL, NULL};
        rel_addr(l->addr, sizeof l->addr, opts);
        ipc_err err = ipc_pair(l->addr, 0, ends);
        l->tx = ends[0];
        l->rx = ends[1];
        return err;
    }
    ipc_err err = rel_link_open_rx(l, opts);
    if (err == IPC_OK)
        err = ipc_open(l->addr, IPC_F_SEND, 5000, &l->tx);
    if (err != IPC_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", ipc_last_detail());
        rel_link_close(l);
        ipc__fail(err, "%s", detail);
    }
    return err;
}

void rel_link_close(struct rel_link *l)
{
    ipc_close(l->tx);
    ipc_close(l->rx);
    l->tx = l->rx = NULL;
}

size_t rel_max_msg_upto(size_t want)
{
    /* Every size is tried, the default too: OS limits (kernel.msgmax,
     * /proc/sys/fs/mqueue/msgsize_max for a process without
     * CAP_SYS_RESOURCE) may be below a backend's default, and a default
     * above want is not what the caller asked for. */
    if (want > rel.be->limits.max_msg_max)
        want = rel.be->limits.max_msg_max;
    for (size_t m = want; m >= REL_MSG_HDR; m /= 2) {
        char opts[64];
        struct rel_link l;
        snprintf(opts, sizeof opts, "max_msg=%zu", m);
        ipc_err err = rel_link_open(&l, opts);
        rel_link_close(&l);
        if (err == IPC_OK)
            return m;
    }
    fail_msg("no max_msg from %zu down to %u opens: %s", want, REL_MSG_HDR,
             ipc_last_detail());
    return 0; /* not reached */
}

/* ---------------------------------------------------------------- messages */

#define REL_MAGIC 0x4d4c4552u /* "RELM" */

struct rel_msg_hdr {
    uint32_t magic;
    uint32_t producer;
    uint64_t seq;
    uint64_t len;
    uint32_t sum;
    uint32_t zero;
};
_Static_assert(sizeof(struct rel_msg_hdr) == REL_MSG_HDR, "header size");

static uint64_t rel_msg_seed(uint32_t producer, uint64_t seq)
{
    return tu_mix(rel.seed ^ ((uint64_t)producer << 48) ^ seq);
}

static uint32_t rel_msg_sum(const struct rel_msg_hdr *h, const void *payload,
                            size_t n)
{
    struct rel_msg_hdr c = *h;
    c.sum = 0;
    uint32_t s = tu_checksum(&c, sizeof c);
    const unsigned char *p = payload;
    for (size_t i = 0; i < n; i++) {
        s ^= p[i];
        s *= 16777619u;
    }
    return s;
}

void rel_msg_fill(void *buf, size_t len, uint32_t producer, uint64_t seq)
{
    struct rel_msg_hdr h = {REL_MAGIC, producer, seq, len, 0, 0};
    unsigned char *p = buf;
    tu_pattern(p + REL_MSG_HDR, len - REL_MSG_HDR, rel_msg_seed(producer, seq));
    h.sum = rel_msg_sum(&h, p + REL_MSG_HDR, len - REL_MSG_HDR);
    memcpy(p, &h, sizeof h);
}

const char *rel_msg_check(const void *buf, size_t len, uint32_t nproducers,
                          uint32_t *producer, uint64_t *seq)
{
    struct rel_msg_hdr h;
    const unsigned char *p = buf;
    if (len < REL_MSG_HDR)
        return "shorter than a header: a piece of a message";
    memcpy(&h, p, sizeof h);
    if (h.magic != REL_MAGIC || h.zero != 0)
        return "bad magic: not a message any sender sent";
    if (h.len != len)
        return "length differs from the one the sender wrote (partial or "
               "merged)";
    if (h.producer >= nproducers)
        return "unknown producer";
    if (rel_msg_sum(&h, p + REL_MSG_HDR, len - REL_MSG_HDR) != h.sum)
        return "checksum mismatch: corrupted";
    if (tu_pattern_check(p + REL_MSG_HDR, len - REL_MSG_HDR,
                         rel_msg_seed(h.producer, h.seq)) != len - REL_MSG_HDR)
        return "payload differs from what the sender wrote";
    *producer = h.producer;
    *seq = h.seq;
    return NULL;
}

size_t rel_msg_len(uint64_t *rng, size_t max_msg, unsigned big_bias)
{
    uint64_t r = rel_rand(rng);
    size_t span = max_msg - REL_MSG_HDR;
    if ((r & 3) < big_bias) /* the top quarter */
        return max_msg - (size_t)((r >> 8) % (span / 4 + 1));
    if ((r & 4) == 0) /* small ones often: many messages per buffer */
        return REL_MSG_HDR + (size_t)((r >> 8) % (span < 256 ? span + 1 : 257));
    return REL_MSG_HDR + (size_t)((r >> 8) % (span + 1));
}

/* ---------------------------------------------------------------- timing */

const char *rel_wait_check(int64_t start_ns, int timeout_ms, ipc_err err)
{
    static _Thread_local char msg[160];
    double took = tu_elapsed_ms(start_ns);
    if (timeout_ms >= 0 && took > (double)timeout_ms + REL_LATE_MS) {
        snprintf(msg, sizeof msg, "a call with timeout %d ms took %.1f ms (%s)",
                 timeout_ms, took, ipc_errname(err));
        return msg;
    }
    if (err == IPC_ETIMEDOUT && took < (double)timeout_ms) {
        snprintf(msg, sizeof msg,
                 "IPC_ETIMEDOUT after %.3f ms of a %d ms timeout: EARLY", took,
                 timeout_ms);
        return msg;
    }
    if (timeout_ms == 0 && err == IPC_ETIMEDOUT) {
        snprintf(msg, sizeof msg,
                 "timeout 0 answered IPC_ETIMEDOUT, not "
                 "IPC_EAGAIN");
        return msg;
    }
    return NULL;
}

/* ---------------------------------------------------------------- children */

/* A child's alarm: say so (a starved or hung child otherwise vanishes
 * without a word), then leave. Only async-signal-safe calls. */
static void rel_alarm(int sig)
{
    static const char msg[] = "[rel child] killed by its alarm: still "
                              "running after its time (hung, or starved)\n";
    (void)sig;
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(9);
}

pid_t rel_fork(void)
{
    pid_t pid = tu_fork();
    if (pid == 0) {
        /* Never return into cmocka: its jump buffers are the parent's. A
         * child that hangs dies of the alarm. */
        signal(SIGALRM, rel_alarm);
        signal(SIGUSR1, SIG_DFL);
        alarm(REL_CHILD_MS / 1000 + 30);
        return 0;
    }
    if (pid > 0 && rel_n_pids < REL_MAX_PIDS)
        rel_pids[rel_n_pids++] = pid;
    if (pid > 0 && rel_n_live < REL_MAX_PIDS)
        rel_live[rel_n_live++] = pid;
    return pid;
}

void rel_child_exit(int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%s child %ld] %s (detail: \"%s\")\n", rel_test_name,
            (long)getpid(), msg, ipc_last_detail());
    fflush(stderr);
    _exit(code);
}

static void rel_forget(pid_t pid)
{
    for (int i = 0; i < rel_n_live; i++)
        if (rel_live[i] == pid)
            rel_live[i] = rel_live[--rel_n_live];
}

int rel_reap(pid_t pid, int ms)
{
    int status = 0;
    bool ended = tu_wait(pid, ms, &status);
    rel_forget(pid);
    if (!ended)
        fail_msg("child %ld hung: killed after %d ms", (long)pid, ms);
    return status;
}

void rel_kill(pid_t pid)
{
    tu_kill(pid);
    rel_forget(pid);
}

void rel_reap_ok(pid_t pid, const char *what)
{
    char buf[64];
    int status = rel_reap(pid, REL_CHILD_MS);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s child: %s", what, tu_status_str(status, buf, sizeof buf));
}

bool rel_is_root(void)
{
    return geteuid() == 0;
}

bool rel_become_nobody(void)
{
    return setgroups(0, NULL) == 0 && setgid(REL_NOBODY) == 0 &&
           setuid(REL_NOBODY) == 0 && geteuid() == REL_NOBODY;
}

void rel_sync_init(struct rel_sync *s)
{
    assert_int_equal(pipe2(s->fd, O_CLOEXEC), 0);
}

void rel_sync_post(struct rel_sync *s)
{
    ssize_t r;
    do
        r = write(s->fd[1], "!", 1);
    while (r < 0 && errno == EINTR);
}

bool rel_sync_wait(struct rel_sync *s, int ms)
{
    struct pollfd pfd = {.fd = s->fd[0], .events = POLLIN};
    int64_t end = tu_now_ns() + (int64_t)ms * 1000000;
    for (;;) {
        int left = (int)((end - tu_now_ns()) / 1000000);
        int n = poll(&pfd, 1, left < 0 ? 0 : left);
        if (n > 0) {
            char c;
            return read(s->fd[0], &c, 1) == 1;
        }
        if (n == 0 || (n < 0 && errno != EINTR))
            return false;
    }
}

void rel_sync_close(struct rel_sync *s)
{
    for (int i = 0; i < 2; i++)
        if (s->fd[i] >= 0)
            close(s->fd[i]);
    s->fd[0] = s->fd[1] = -1;
}

/* ---------------------------------------------------------------- checks */

void rel_err_at(ipc_err got, ipc_err want, const char *what, const char *file,
                int line)
{
    if (got == want)
        return;
    print_error("%s\n  returned %s, expected %s\n  detail: \"%s\"\n", what,
                ipc_errname(got), ipc_errname(want), ipc_last_detail());
    _fail(file, line);
}

bool rel_detail_names_limit(void)
{
    static const char *const words[] = {"max",    "limit",  "/proc",  "RLIMIT",
                                        "allows", "msgmnb", "msg_max"};
    const char *d = ipc_last_detail();
    bool digit = false, word = false;
    for (const char *p = d; *p; p++)
        digit = digit || isdigit((unsigned char)*p);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        word = word || strstr(d, words[i]) != NULL;
    return digit && word;
}

int rel_fd_count(void)
{
    struct tu_fdset set;
    tu_fdset_take(&set);
    int n = 0;
    for (int i = 0; i < TU_FDSET_MAX; i++)
        n += set.open[i];
    return n;
}

static bool rel_ours(const char *name)
{
    return strstr(name, rel.prefix) != NULL;
}

static int rel_scan_dir(const char *dir, bool remove)
{
    DIR *d = opendir(dir);
    int found = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!rel_ours(e->d_name))
            continue;
        char path[REL_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (strcmp(path, rel.run_dir) == 0)
            continue;
        if (found < 20)
            fprintf(stderr, "LEFT BEHIND: %s\n", path);
        else if (found == 20)
            fprintf(stderr, "LEFT BEHIND: more in %s...\n", dir);
        found++;
        if (remove)
            unlink(path);
    }
    closedir(d);
    return found;
}

/* Sockets (bound path or abstract name) that carry our prefix. */
static int rel_scan_unix(void)
{
    FILE *f = fopen("/proc/net/unix", "r");
    char line[1024];
    int found = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (rel_ours(line)) {
            fprintf(stderr, "LEFT BEHIND: socket %s", line);
            found++;
        }
    fclose(f);
    return found;
}

struct rel_msq {
    uint32_t key;
    int id;
    long lspid, lrpid;
};

/* /proc/sysvipc/msg: key msqid perms cbytes qnum lspid lrpid ... */
static int rel_msq_read(struct rel_msq *out, int max)
{
    FILE *f = fopen("/proc/sysvipc/msg", "r");
    char line[512];
    int n = 0;
    if (!f)
        return 0;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return 0;
    }
    while (n < max && fgets(line, sizeof line, f)) {
        long long key;
        int id;
        unsigned perms;
        unsigned long cbytes, qnum;
        long lspid, lrpid;
        if (sscanf(line, "%lld %d %o %lu %lu %ld %ld", &key, &id, &perms,
                   &cbytes, &qnum, &lspid, &lrpid) == 7)
            out[n++] = (struct rel_msq){(uint32_t)key, id, lspid, lrpid};
    }
    fclose(f);
    return n;
}

static bool rel_our_pid(long pid)
{
    if (pid == (long)getpid())
        return true;
    for (int i = 0; i < rel_n_pids; i++)
        if (rel_pids[i] == pid)
            return true;
    return false;
}

static int rel_scan_msq(bool remove)
{
    static struct rel_msq now[REL_MAX_MSQ];
    int n = rel_msq_read(now, REL_MAX_MSQ), found = 0;
    for (int i = 0; i < n; i++) {
        bool old = false, ours = false;
        for (int j = 0; j < rel_n_msq_before; j++)
            old = old || rel_msq_before[j] == now[i].id;
        if (old)
            continue;
        for (int j = 0; j < rel_n_names; j++)
            ours = ours || (rel_names[j].key && rel_names[j].key == now[i].key);
        ours = ours || rel_our_pid(now[i].lspid) || rel_our_pid(now[i].lrpid);
        if (!ours)
            continue;
        fprintf(stderr, "LEFT BEHIND: SysV queue key 0x%08x id %d\n",
                now[i].key, now[i].id);
        found++;
        if (remove) {
            char cmd[64];
            snprintf(cmd, sizeof cmd, "ipcrm -q %d", now[i].id);
            if (system(cmd) != 0)
                fprintf(stderr, "(ipcrm failed)\n");
        }
    }
    return found;
}

int rel_leftovers(bool remove)
{
    int found = 0;
    found += rel_scan_dir(rel.run_dir, remove);
    found += rel_scan_dir(tu_tmpdir(), remove);
    if (strcmp(tu_tmpdir(), "/tmp") != 0)
        found += rel_scan_dir("/tmp", remove);
    found += rel_scan_dir("/dev/shm", remove);
    found += rel_scan_dir("/dev/mqueue", remove);
    found += rel_scan_unix();
    found += rel_scan_msq(remove);
    /* Every named address made: no sender can open it any more. */
    for (int i = 0; i < rel_n_names; i++) {
        ipc_channel *ch = NULL;
        if (ipc_open(rel_names[i].addr, IPC_F_SEND, 0, &ch) == IPC_OK) {
            fprintf(stderr, "LEFT BEHIND: %s still takes senders\n",
                    rel_names[i].addr);
            ipc_close(ch);
            found++;
        }
    }
    return found;
}

/* ---------------------------------------------------------------- driver */

struct rel_case {
    const struct rel_test *test;
    char name[96];
};

static int rel_setup(void **state)
{
    struct rel_case *c = *state;
    rel_test_name = c->name;
    rel_test_fds = rel_fd_count();
    return 0;
}

static int rel_teardown(void **state)
{
    struct rel_case *c = *state;
    /* A failed test may have left children running: end them first. */
    while (rel_n_live > 0)
        tu_kill(rel_live[--rel_n_live]);
    int fds = rel_fd_count();
    if (fds != rel_test_fds) {
        print_error("%s: %d descriptors open before the test, %d after: a "
                    "leak\n",
                    c->name, rel_test_fds, fds);
        return -1;
    }
    return 0;
}

static void rel_make_run_dir(void)
{
    const char *base = tu_reachable_tmpdir();
    snprintf(rel.run_dir, sizeof rel.run_dir, "%s/ipcrel-%ld-dir", base,
             (long)getpid());
    if (mkdir(rel.run_dir, 0700) != 0 && errno != EEXIST) {
        perror(rel.run_dir);
        exit(2);
    }
    /* World-writable and sticky like /tmp, so that a child running as
     * nobody can make its own objects here (permission tests). */
    chmod(rel.run_dir, 01777);
}

static bool rel_built(void)
{
    if (rel.be && !rel.be->built_out)
        return true;
    printf("%s.%s: SKIPPED: scheme \"%s\" is %s\n", rel.suite, rel.row->name,
           rel.row->addr, rel.be ? rel.be->built_out : "unknown");
    return false;
}

int rel_main(int argc, char **argv, const char *suite,
             const struct rel_test *tests)
{
    rel.suite = suite;
    for (int i = 0; argc >= 2 && rel_rows[i].name; i++)
        if (strcmp(rel_rows[i].name, argv[1]) == 0)
            rel.row = &rel_rows[i];
    if (!rel.row) {
        fprintf(stderr, "usage: %s <row> [test-filter]\nrows:", argv[0]);
        for (int i = 0; rel_rows[i].name; i++)
            fprintf(stderr, " %s", rel_rows[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    char scheme[IPC_ADDR_SCHEME_MAX + 1];
    snprintf(scheme, sizeof scheme, "%.*s", (int)strcspn(rel.row->addr, ":"),
             rel.row->addr);
    rel.be = ipc__backend_find(scheme);
    rel.named = strchr(rel.row->addr, '{') != NULL;
    if (!rel_built())
        return REL_SKIP;

    /* A SIGPIPE the library lets through must kill the test, visibly. */
    signal(SIGPIPE, SIG_DFL);
    rel.seed = tu_seed_from_env();
    snprintf(rel.prefix, sizeof rel.prefix, "ipcrel-%ld-", (long)getpid());
    rel_names = calloc(REL_MAX_NAMES, sizeof *rel_names);
    if (!rel_names)
        return 2;
    static struct rel_msq before[REL_MAX_MSQ];
    rel_n_msq_before = rel_msq_read(before, REL_MAX_MSQ);
    for (int i = 0; i < rel_n_msq_before; i++)
        rel_msq_before[i] = before[i].id;
    rel_make_run_dir();
    printf("%s.%s: seed %llu (IPC_TEST_SEED to repeat)%s\n", suite,
           rel.row->name, (unsigned long long)rel.seed,
           rel_long() ? ", long form" : "");
    int fds_before = rel_fd_count();

    static struct rel_case cases[64];
    static struct CMUnitTest units[64];
    size_t n = 0;
    for (const struct rel_test *t = tests; t->name && n < 64; t++) {
        if ((t->need == REL_NAMED && !rel.named) ||
            (t->need == REL_PAIR && rel.named))
            continue;
        cases[n].test = t;
        snprintf(cases[n].name, sizeof cases[n].name, "%s/%s", rel.row->name,
                 t->name);
        units[n] = (struct CMUnitTest){
            .name = cases[n].name,
            .test_func = t->fn,
            .setup_func = rel_setup,
            .teardown_func = rel_teardown,
            .initial_state = &cases[n],
        };
        n++;
    }
    if (argc >= 3)
        cmocka_set_test_filter(argv[2]);
    char group[96];
    snprintf(group, sizeof group, "%s.%s", suite, rel.row->name);
    int rc = _cmocka_run_group_tests(group, units, n, NULL, NULL);

    /* Nothing left behind, whatever happened above. */
    int left = rel_leftovers(true);
    int fds_after = rel_fd_count();
    if (rmdir(rel.run_dir) != 0) {
        fprintf(stderr, "LEFT BEHIND: %s is not empty (%s)\n", rel.run_dir,
                strerror(errno));
        left++;
    }
    if (fds_after != fds_before) {
        fprintf(stderr,
                "LEAK: %d descriptors open at the start, %d at the "
                "end\n",
                fds_before, fds_after);
        left++;
    }
    if (left)
        fprintf(stderr, "%s.%s: %d leftovers\n", suite, rel.row->name, left);
    else
        rel_figure("leak check: no object or descriptor left behind "
                   "(%d names made)",
                   rel_n_names);
    free(rel_names);
    return rc != 0 ? 1 : left != 0 ? 1 : 0;
}
