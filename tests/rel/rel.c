/* SPDX-License-Identifier: MIT */
/* Reliability-suite plumbing: rows, names, links, checked messages,
 * children, timing and leak checks. */
#include "rel.h"

#include "leakscan.h"

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

struct rel_ctx rel;

/* Every named address made, for the leftover checks. */
#define REL_MAX_NAMES 4096
struct rel_name {
    char addr[REL_ADDR_MAX];
    uint32_t key; /* SysV key from {key}, 0 if none */
};
static struct rel_name *rel_names;
static int rel_n_names;

/* SysV queue ids that existed when the program started. */
#define REL_MAX_MSQ 1024
static int rel_msq_before[REL_MAX_MSQ];
static int rel_n_msq_before;

static int rel_test_fds;

bool rel_takes(enum ipc__key key)
{
    /* capacity: a depth in messages; unix takes only capacity=0
     * (rendezvous), which the rendezvous tests cover. */
    if (key == IPC_KEY_CAPACITY && rel.be->limits.capacity_max < 1)
        return false;
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

void rel_addr(char *buf, size_t size, const char *opts)
{
    const char *q = opts && *opts ? "?" : "";
    char base[REL_ADDR_MAX], prefix[64];
    uint32_t key = 0;
    /* "ipcrel-<run pid>-<pid>-<n>-<rand>": the run's prefix for the
     * leftover scans, the maker's pid so that forked children never make
     * the name their parent makes. */
    snprintf(prefix, sizeof prefix, "%.*s", (int)strlen(rel.prefix) - 1,
             rel.prefix);
    tu_row_addr(rel.row, rel.run_dir, prefix, base, sizeof base, &key);
    snprintf(buf, size, "%s%s%s", base, q, opts ? opts : "");
    if (rel.named && rel_n_names < REL_MAX_NAMES) {
        struct rel_name *n = &rel_names[rel_n_names++];
        snprintf(n->addr, sizeof n->addr, "%s", base);
        n->key = key;
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
    for (int i = rel_n_names - 1; i >= 0; i--)
        if (strcmp(rel_names[i].addr, base) == 0)
            return tu_row_fs(rel.row, base, buf, size);
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

bool rel_is_root(void)
{
    return geteuid() == 0;
}

bool rel_become_nobody(void)
{
    return setgroups(0, NULL) == 0 && setgid(REL_NOBODY) == 0 &&
           setuid(REL_NOBODY) == 0 && geteuid() == REL_NOBODY;
}

pid_t rel_spawn_nobody(int (*fn)(const char *arg), const char *arg)
{
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!rel_become_nobody())
            tu_child_exit(90, "cannot switch to uid %d", REL_NOBODY);
        _exit(fn(arg));
    }
    return pid;
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

static bool rel_ours(const char *what, void *arg)
{
    (void)arg;
    /* The run directory carries the prefix too: it is removed last. */
    return strstr(what, rel.prefix) != NULL && strcmp(what, rel.run_dir) != 0;
}

/* A queue made since the start by this run: one of its keys, or last used
 * by this process or a child of it. */
static bool rel_ours_msq(uint32_t key, int id, long lspid, long lrpid,
                         void *arg)
{
    (void)arg;
    for (int j = 0; j < rel_n_msq_before; j++)
        if (rel_msq_before[j] == id)
            return false;
    for (int j = 0; j < rel_n_names; j++)
        if (rel_names[j].key && rel_names[j].key == key)
            return true;
    return lspid == (long)getpid() || lrpid == (long)getpid() ||
           tu_forked((pid_t)lspid) || tu_forked((pid_t)lrpid);
}

int rel_leftovers(bool remove)
{
    struct tu_leak_scan scan = {
        .ours = rel_ours,
        .ours_msq = rel_ours_msq,
        .dirs = {rel.run_dir, tu_tmpdir(), "/tmp", NULL},
        .remove = remove,
    };
    int found = tu_leak_scan(&scan);
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
    tu_test_name = c->name;
    rel_test_fds = rel_fd_count();
    return 0;
}

static int rel_teardown(void **state)
{
    struct rel_case *c = *state;
    /* A failed test may have left children running: end them first. */
    tu_kill_live();
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
    if (argc >= 2)
        rel.row = tu_row_find(argv[1]);
    if (!rel.row || (rel.row->flags & TU_R_CONTRACT_ONLY)) {
        fprintf(stderr, "usage: %s <row> [test-filter]\nrows:", argv[0]);
        for (const struct tu_row *r = tu_rows; r->name; r++)
            if (!(r->flags & TU_R_CONTRACT_ONLY))
                fprintf(stderr, " %s", r->name);
        fprintf(stderr, "\n");
        return 2;
    }
    rel.be = ipc__backend_find(rel.row->scheme);
    rel.named = tu_row_named(rel.row);
    if (!rel_built())
        return REL_SKIP;

    /* A SIGPIPE the library lets through must kill the test, visibly. */
    signal(SIGPIPE, SIG_DFL);
    rel.seed = tu_seed_from_env();
    snprintf(rel.prefix, sizeof rel.prefix, "ipcrel-%ld-", (long)getpid());
    rel_names = calloc(REL_MAX_NAMES, sizeof *rel_names);
    if (!rel_names)
        return 2;
    rel_n_msq_before = tu_msq_ids(rel_msq_before, REL_MAX_MSQ);
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
    /* units past n stay unnamed: cmocka skips them. */
    int rc = cmocka_run_group_tests_name(group, units, NULL, NULL);

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
