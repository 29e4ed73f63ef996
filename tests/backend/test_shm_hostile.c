/* SPDX-License-Identifier: MIT */
/* shm: hostile and half-made rings. A test process writes lying headers,
 * indices, lengths and states; openers and users answer IPC_EPROTO (or
 * wait, for a ring still being made) and never touch memory outside the
 * mapping. A full /dev/shm is a clear IPC_ELIMIT, never a SIGBUS. */
#include "shm_test.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#define HO_CAP  4
#define HO_MAX  64
#define HO_OPTS "capacity=4&max_msg=64"

struct ho_ring {
    char name[96], addr[160];
    ipc_channel *rx, *tx;
};

static void ho_open(struct ho_ring *r)
{
    st_name(r->name, sizeof r->name, r->addr, sizeof r->addr, HO_OPTS);
    assert_ipc_err(
        ipc_open(r->addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &r->rx),
        IPC_OK);
    assert_ipc_err(ipc_open(r->addr, IPC_F_SEND, 1000, &r->tx), IPC_OK);
}

static void ho_close(struct ho_ring *r)
{
    ipc_close(r->tx);
    ipc_close(r->rx);
    assert_false(st_exists(r->name));
}

/* A write by another process: fork, map the ring by name (or use the
 * inherited mapping of a pair end), store, leave. */
struct ho_write {
    const char *name;       /* named ring, or NULL */
    const ipc_channel *end; /* pair: an end whose mapping the child has */
    size_t off;
    uint64_t value;
    unsigned width; /* 4 or 8 bytes */
};

static int ho_writer(void *arg)
{
    const struct ho_write *w = arg;
    size_t size = 0;
    void *base =
        w->name ? st_map(w->name, &size) : ipc__shmring_test_base(w->end);
    if (!base)
        return 3;
    if (w->width == 8)
        __atomic_store_n((uint64_t *)((char *)base + w->off), w->value,
                         __ATOMIC_SEQ_CST);
    else
        __atomic_store_n((uint32_t *)((char *)base + w->off),
                         (uint32_t)w->value, __ATOMIC_SEQ_CST);
    return 0;
}

static void ho_poke(const char *name, const ipc_channel *end, size_t off,
                    uint64_t value, unsigned width)
{
    struct ho_write w = {name, end, off, value, width};
    assert_child_ok(tu_spawn(ho_writer, &w), 10000);
}

static uint64_t ho_peek(const ipc_channel *end, size_t off)
{
    return __atomic_load_n(
        (uint64_t *)((char *)ipc__shmring_test_base(end) + off),
        __ATOMIC_SEQ_CST);
}

static void ho_expect_msg(ipc_channel *rx, const char *want)
{
    char buf[HO_MAX];
    size_t len = 0;
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 2000), IPC_OK);
    if (len != strlen(want) || memcmp(buf, want, len) != 0)
        fail_msg("got \"%.*s\", expected \"%s\"", (int)len, buf, want);
}

/* ------------------------------------------------------------ at open */

/* Every field of the header an opener relies on, made to lie: the opener
 * answers IPC_EPROTO at once, and the object stays (it is not ours). */
static void test_hostile_header_open(void **state)
{
    (void)state;
    struct ho_ring r;
    ho_open(&r);
    uint64_t slot_size = ho_peek(r.rx, st_off("slot_size"));
    uint64_t map_size = ho_peek(r.rx, st_off("map_size"));
    static const struct {
        const char *field;
        uint64_t value;
        unsigned width;
    } lies[] = {
        {"magic", 0x0123456789abcdefull, 8},
        {"version", 3, 4}, /* the layout is version 2 */
        {"version", 0xffffffffu, 4},
        {"hdr_size", 4096, 8},
        {"slot_count", 0, 8},
        {"slot_count", 1ull << 40, 8},
        {"slot_count", 5, 8},
        {"max_msg", 0, 8},
        {"max_msg", 1ull << 40, 8},
        {"max_msg", 65536, 8},
        {"slot_size", 0, 8},
        {"map_size", 1ull << 62, 8},
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        size_t off = st_off(lies[i].field);
        uint64_t keep = ho_peek(r.rx, off);
        ho_poke(r.name, NULL, off, lies[i].value, lies[i].width);
        ipc_channel *ch = NULL;
        int64_t t0 = tu_now_ns();
        ipc_err err = ipc_open(r.addr, IPC_F_SEND, 2000, &ch);
        if (err != IPC_EPROTO)
            fail_msg("%s = %llu: open said %s (%s)", lies[i].field,
                     (unsigned long long)lies[i].value, ipc_errname(err),
                     ipc_last_detail());
        assert_null(ch);
        assert_true(ipc_last_detail()[0] != '\0');
        assert_true(tu_elapsed_ms(t0) < 1000); /* at once, no waiting */
        assert_true(st_exists(r.name));
        ho_poke(r.name, NULL, off, keep, lies[i].width);
    }
    /* Sizes that agree with each other but not with the file. */
    ho_poke(r.name, NULL, st_off("slot_size"), slot_size * 4, 8);
    ho_poke(r.name, NULL, st_off("map_size"),
            ipc__shmring_test_size(HO_CAP, HO_MAX * 4 + 256), 8);
    ipc_channel *ch = NULL;
    assert_ipc_err(ipc_open(r.addr, IPC_F_SEND, 1000, &ch), IPC_EPROTO);
    ho_poke(r.name, NULL, st_off("slot_size"), slot_size, 8);
    ho_poke(r.name, NULL, st_off("map_size"), map_size, 8);
    /* Healed: it opens again, and it works. */
    assert_ipc_err(ipc_open(r.addr, IPC_F_SEND, 1000, &ch), IPC_OK);
    assert_ipc_err(ipc_send(ch, "ok", 2, 0, 1000), IPC_OK);
    ho_expect_msg(r.rx, "ok");
    ipc_close(ch);
    ho_close(&r);
}

/* An object that is no ring at all: opening it is IPC_EPROTO, and neither
 * IPC_F_REPLACE nor ipc_unlink removes it. */
static void test_foreign_object(void **state)
{
    (void)state;
    char name[96], addr[160];
    st_name(name, sizeof name, addr, sizeof addr, NULL);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    unsigned char junk[16384];
    tu_pattern(junk, sizeof junk, 42);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    ipc_channel *ch = NULL;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &ch), IPC_EPROTO);
    assert_ipc_err(ipc_open(addr, IPC_F_CREATE | IPC_F_RECV, 1000, &ch),
                   IPC_EPROTO);
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV, 1000, &ch),
        IPC_EEXIST);
    assert_ipc_err(ipc_unlink(addr), IPC_EPROTO);
    assert_null(ch);
    assert_true(st_exists(name));
    shm_unlink(name);
}

/* ------------------------------------------------------------ at run time */

/* Indices out of place, written while the ends are open: IPC_EPROTO at
 * the next call; healed, the ring works again. */
static void ho_indices(const char *name, ipc_channel *rx, ipc_channel *tx)
{
    char buf[HO_MAX];
    size_t len;
    size_t tail_off = st_off("tail"), head_off = st_off("head");
    const ipc_channel *end = name ? NULL : rx;
    assert_ipc_err(ipc_send(tx, "a", 1, 0, 1000), IPC_OK);
    ho_expect_msg(rx, "a");
    uint64_t tail = ho_peek(rx, tail_off), head = ho_peek(rx, head_off);
    /* Far off, and just beyond a lap (2 * capacity + 1): a move within a
     * lap is indistinguishable from progress, one beyond it is not. */
    static const int64_t moves[] = {1000000000, -1000000000, 2 * HO_CAP + 1,
                                    -(2 * HO_CAP + 1)};
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
        ho_poke(name, end, tail_off, tail + (uint64_t)moves[i], 8);
        ipc_err err = ipc_send(tx, "b", 1, 0, 0);
        ho_poke(name, end, tail_off, tail, 8);
        if (err != IPC_EPROTO)
            fail_msg("tail moved by %lld: send said %s", (long long)moves[i],
                     ipc_errname(err));
        ho_poke(name, end, head_off, head + (uint64_t)moves[i], 8);
        err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 0);
        ho_poke(name, end, head_off, head, 8);
        if (err != IPC_EPROTO)
            fail_msg("head moved by %lld: receive said %s", (long long)moves[i],
                     ipc_errname(err));
    }
    assert_ipc_err(ipc_send(tx, "c", 1, 0, 1000), IPC_OK);
    ho_expect_msg(rx, "c");
}

/* A slot whose state or length lies. */
static void ho_slots(const char *name, ipc_channel *rx, ipc_channel *tx)
{
    char buf[HO_MAX];
    size_t len;
    const void *view;
    const ipc_channel *end = name ? NULL : rx;
    size_t base_off = ipc__shmring_test_slot(HO_MAX, 0);
    size_t len_off = st_off("slot_len");
    for (int round = 0; round < 3; round++) {
        uint64_t pos = ho_peek(rx, st_off("tail"));
        size_t slot =
            base_off + (size_t)(pos % HO_CAP) *
                           (ipc__shmring_test_slot(HO_MAX, 1) - base_off);
        assert_ipc_err(ipc_send(tx, "lie", 3, 0, 1000), IPC_OK);
        assert_ipc_err(ipc_send(tx, "next", 4, 0, 1000), IPC_OK);
        if (round == 0) {
            /* A length above max_msg: dropped, never copied. */
            ho_poke(name, end, slot + len_off, HO_MAX + 1, 4);
            assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0),
                           IPC_EPROTO);
        } else if (round == 1) {
            ho_poke(name, end, slot + len_off, 0xffffffffu, 4);
            assert_ipc_err(ipc_view(rx, &view, &len, NULL, 0), IPC_EPROTO);
        } else {
            /* A position from far away: the ring is corrupt. */
            ho_poke(name, end, slot,
                    ipc__shmring_test_state(pos + 1000 * HO_CAP, ST_FULL, 0),
                    8);
            assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 0),
                           IPC_EPROTO);
            ho_poke(name, end, slot,
                    ipc__shmring_test_state(pos + HO_CAP, ST_FREE, 0), 8);
        }
        assert_true(ipc_last_detail()[0] != '\0');
        ho_expect_msg(rx, "next");
    }
    /* A buffer far smaller than a lie claims: still IPC_EPROTO, not a
     * request for a buffer of 4 GiB. */
    uint64_t pos = ho_peek(rx, st_off("tail"));
    size_t slot = base_off + (size_t)(pos % HO_CAP) *
                                 (ipc__shmring_test_slot(HO_MAX, 1) - base_off);
    assert_ipc_err(ipc_send(tx, "lie", 3, 0, 1000), IPC_OK);
    ho_poke(name, end, slot + len_off, 0xfffffff0u, 4);
    len = 0;
    assert_ipc_err(ipc_recv(rx, buf, 2, &len, NULL, 0), IPC_EPROTO);
}

/* Geometry rewritten after open: the ends use their own copy. */
static void ho_geometry(const char *name, ipc_channel *rx, ipc_channel *tx)
{
    const ipc_channel *end = name ? NULL : rx;
    ho_poke(name, end, st_off("slot_count"), 1ull << 40, 8);
    ho_poke(name, end, st_off("slot_size"), 1, 8);
    ho_poke(name, end, st_off("max_msg"), 1ull << 40, 8);
    ho_poke(name, end, st_off("map_size"), 1ull << 62, 8);
    for (int i = 0; i < 3 * HO_CAP; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "g%d", i);
        assert_ipc_err(ipc_send(tx, msg, strlen(msg), 0, 1000), IPC_OK);
        ho_expect_msg(rx, msg);
    }
}

/* The peer table full of garbage: a slot held by a garbage entry is
 * judged (its pid is no pid: dead) and skipped; nothing else changes. */
static void ho_peers(const char *name, ipc_channel *rx, ipc_channel *tx)
{
    const ipc_channel *end = name ? NULL : rx;
    size_t peers = st_off("peers"), psize = st_off("peer_size");
    for (unsigned i = 200; i < 256; i++)
        ho_poke(name, end, peers + i * psize,
                tu_mix(i) | (3ull << 36) | 0x3fffff, 8);
    uint64_t pos = ho_peek(rx, st_off("tail"));
    size_t slot = ipc__shmring_test_slot(HO_MAX, (size_t)(pos % HO_CAP));
    ho_poke(name, end, slot,
            ipc__shmring_test_state(pos, ST_WRITING, 250u | 77u << 8), 8);
    ho_poke(name, end, st_off("tail"), pos + 1, 8);
    assert_ipc_err(ipc_send(tx, "past", 4, 0, 1000), IPC_OK);
    ho_expect_msg(rx, "past");
}

/* The wake words (futex epochs, sleeper counts) full of garbage: calls
 * still end by their deadline, with a timeout or IPC_EPROTO, never a hang
 * or a crash. */
static void ho_wake_words(const char *name, ipc_channel *rx, ipc_channel *tx)
{
    const ipc_channel *end = name ? NULL : rx;
    char buf[HO_MAX];
    size_t len;
    for (size_t off = st_off("rx_wake"); off < st_off("n_tx"); off += 8)
        ho_poke(name, end, off, 0xa5a5a5a5a5a5a5a5ull, 8);
    int64_t t0 = tu_now_ns();
    ipc_err err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 200);
    if (err != IPC_ETIMEDOUT && err != IPC_EPROTO)
        fail_msg("receive on garbage semaphores: %s", ipc_errname(err));
    assert_true(tu_elapsed_ms(t0) < 3000);
    /* Messages still pass (posts on garbage are harmless). */
    assert_ipc_err(ipc_send(tx, "s", 1, 0, 1000), IPC_OK);
    err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000);
    if (err != IPC_OK && err != IPC_EPROTO)
        fail_msg("receive after garbage: %s", ipc_errname(err));
}

static void test_hostile_named(void **state)
{
    (void)state;
    struct ho_ring r;
    ho_open(&r);
    ho_indices(r.name, r.rx, r.tx);
    ho_slots(r.name, r.rx, r.tx);
    ho_geometry(r.name, r.rx, r.tx);
    ho_peers(r.name, r.rx, r.tx);
    ho_wake_words(r.name, r.rx, r.tx);
    ho_close(&r);
}

static void test_hostile_pair(void **state)
{
    (void)state;
    ipc_channel *ends[2];
    assert_ipc_err(ipc_pair("shm:?" HO_OPTS, 0, ends), IPC_OK);
    ho_indices(NULL, ends[1], ends[0]);
    ho_slots(NULL, ends[1], ends[0]);
    ho_geometry(NULL, ends[1], ends[0]);
    ho_peers(NULL, ends[1], ends[0]);
    ipc_close(ends[0]);
    ipc_close(ends[1]);
}

/* ------------------------------------------------------------ half-made */

/* An object of the ring's size made by hand; base mapped read-write. */
static void *ho_handmade(const char *name, size_t size)
{
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(base != MAP_FAILED);
    return base;
}

static void ho_expect_wait(const char *addr, int ms)
{
    ipc_channel *ch = NULL;
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, ms, &ch), IPC_ETIMEDOUT);
    double took = tu_elapsed_ms(t0);
    if (took < ms)
        fail_msg("gave up after %.1f ms of %d", took, ms);
    assert_non_null(strstr(ipc_last_detail(), "half-made"));
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 0, &ch), IPC_EAGAIN);
    assert_null(ch);
}

/* Blank objects (empty, or zeroes): a creator that has not written yet,
 * or not a ring: openers wait within their timeout; IPC_F_REPLACE and
 * ipc_unlink leave them alone. */
static void test_half_made_blank(void **state)
{
    (void)state;
    char name[96], addr[160];
    ipc_channel *ch = NULL;
    for (int zeroes = 0; zeroes < 2; zeroes++) {
        st_name(name, sizeof name, addr, sizeof addr, NULL);
        size_t size = zeroes ? ipc__shmring_test_size(HO_CAP, HO_MAX) : 0;
        int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)size), 0);
        close(fd);
        ho_expect_wait(addr, 200);
        assert_ipc_err(
            ipc_open(addr, IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV, 500, &ch),
            IPC_EEXIST);
        assert_ipc_err(ipc_unlink(addr), IPC_EPROTO);
        assert_true(st_exists(name));
        shm_unlink(name);
    }
}

struct ho_finisher {
    void *base;
    int delay_ms;
};

static void *ho_finish(void *arg)
{
    struct ho_finisher *f = arg;
    tu_sleep_ms(f->delay_ms);
    ipc__shmring_test_ready(f->base);
    return NULL;
}

/* Half-made by a live creator (this process): openers wait; once it is
 * ready (release), a waiting opener gets it and it works. */
static void test_half_made_live(void **state)
{
    (void)state;
    char name[96], addr[160];
    ipc_channel *tx = NULL, *rx = NULL;
    size_t size = ipc__shmring_test_size(HO_CAP, HO_MAX);
    st_name(name, sizeof name, addr, sizeof addr, NULL);
    void *base = ho_handmade(name, size);
    ipc__shmring_test_format(base, HO_CAP, HO_MAX);
    ho_expect_wait(addr, 300);
    assert_ipc_err(
        ipc_open(addr, IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV, 500, &rx),
        IPC_EEXIST); /* being made by a live process */
    struct ho_finisher f = {base, 150};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, ho_finish, &f), 0);
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_open(addr, IPC_F_RECV, 5000, &rx), IPC_OK);
    double took = tu_elapsed_ms(t0);
    pthread_join(th, NULL);
    assert_true(took >= 100);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "made", 4, 0, 1000), IPC_OK);
    ho_expect_msg(rx, "made");
    ipc_close(tx);
    ipc_close(rx);
    munmap(base, size);
    assert_ipc_err(ipc_unlink(addr), IPC_OK);
}

static int ho_exit_now(void *arg)
{
    (void)arg;
    return 0;
}

/* Half-made by a creator that died: openers say so at once (IPC_EPROTO);
 * IPC_F_REPLACE takes the name over, ipc_unlink removes it. */
static void test_half_made_dead(void **state)
{
    (void)state;
    for (int how = 0; how < 2; how++) {
        char name[96], addr[160];
        ipc_channel *ch = NULL;
        size_t size = ipc__shmring_test_size(HO_CAP, HO_MAX);
        st_name(name, sizeof name, addr, sizeof addr, NULL);
        void *base = ho_handmade(name, size);
        ipc__shmring_test_format(base, HO_CAP, HO_MAX);
        pid_t dead = tu_spawn(ho_exit_now, NULL);
        assert_child_ok(dead, 5000);
        *st_u32(base, "creator_pid") = (uint32_t)dead;
        munmap(base, size);
        int64_t t0 = tu_now_ns();
        assert_ipc_err(ipc_open(addr, IPC_F_SEND, 5000, &ch), IPC_EPROTO);
        assert_true(tu_elapsed_ms(t0) < 2000);
        assert_non_null(strstr(ipc_last_detail(), "died"));
        if (how == 0) {
            assert_ipc_err(ipc_unlink(addr), IPC_OK);
            assert_false(st_exists(name));
            continue;
        }
        assert_ipc_err(
            ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 500, &ch),
            IPC_EEXIST);
        assert_ipc_err(
            ipc_open(addr, IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV, 500, &ch),
            IPC_OK);
        ipc_channel *tx = NULL;
        assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &tx), IPC_OK);
        assert_ipc_err(ipc_send(tx, "new", 3, 0, 1000), IPC_OK);
        ho_expect_msg(ch, "new");
        ipc_close(tx);
        ipc_close(ch);
        assert_false(st_exists(name));
    }
}

/* ------------------------------------------------------------ no room */

#define HO_BIG "capacity=16&max_msg=65536" /* about 1 MiB */

/* In a child: the file size limit below the ring's size. */
static int ho_fsize_child(void *arg)
{
    char *addr = arg;
    ipc_channel *ch = NULL, *ends[2] = {NULL, NULL};
    struct rlimit rl = {65536, 65536};
    signal(SIGXFSZ, SIG_IGN); /* else the kernel's SIGXFSZ kills us */
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        return 10;
    ipc_err err =
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &ch);
    if (err != IPC_ELIMIT || ch) {
        fprintf(stderr, "open: %s (%s)\n", ipc_errname(err), ipc_last_detail());
        return 11;
    }
    if (!strstr(ipc_last_detail(), "/dev/shm")) {
        fprintf(stderr, "detail does not name /dev/shm: %s\n",
                ipc_last_detail());
        return 12;
    }
    /* A pair's memory is refused the same way. */
    err = ipc_pair("shm:?" HO_BIG, 0, ends);
    if (err != IPC_ELIMIT || ends[0] || ends[1]) {
        fprintf(stderr, "pair: %s (%s)\n", ipc_errname(err), ipc_last_detail());
        return 13;
    }
    return 0;
}

/* posix_fallocate fails (RLIMIT_FSIZE, our injected failure that needs no
 * privilege): IPC_ELIMIT naming /dev/shm, no SIGBUS, nothing left. */
static void test_no_room_fsize(void **state)
{
    (void)state;
    char name[96], addr[160];
    st_name(name, sizeof name, addr, sizeof addr, HO_BIG);
    assert_child_ok(tu_spawn(ho_fsize_child, addr), 10000);
    assert_false(st_exists(name));
}

/* In a child with its own mount namespace: a 256 KiB /dev/shm. */
static int ho_tmpfs_child(void *arg)
{
    char *addr = arg;
    ipc_channel *ch = NULL, *tx = NULL;
    if (unshare(CLONE_NEWNS) < 0 ||
        mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=256k") < 0)
        return 77; /* no privilege here: skipped */
    ipc_err err =
        ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &ch);
    if (err != IPC_ELIMIT || !strstr(ipc_last_detail(), "/dev/shm")) {
        fprintf(stderr, "open: %s (%s)\n", ipc_errname(err), ipc_last_detail());
        return 11;
    }
    printf("  full tmpfs: %s\n", ipc_last_detail());
    fflush(stdout);
    /* Nothing left, and a ring that fits works. */
    char small[160];
    snprintf(small, sizeof small, "%.*s?capacity=4&max_msg=1024",
             (int)strcspn(addr, "?"), addr);
    if (ipc_open(small, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &ch) ||
        ipc_open(small, IPC_F_SEND, 1000, &tx) ||
        ipc_send(tx, "fits", 4, 0, 1000))
        return 12;
    ipc_close(tx);
    ipc_close(ch);
    return 0;
}

/* A really full /dev/shm, where we may mount a small one privately. */
static void test_no_room_tmpfs(void **state)
{
    (void)state;
    char name[96], addr[160];
    int status = 0;
    st_name(name, sizeof name, addr, sizeof addr, HO_BIG);
    pid_t pid = tu_spawn(ho_tmpfs_child, addr);
    assert_true(tu_wait(pid, 10000, &status));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        skip(); /* no mount namespace for us (not root): RLIMIT covers it */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child status %d", status);
    assert_false(st_exists(name));
}

/* In a child whose file size limit is a safety net (were the guard
 * broken, the kernel would refuse the size, not the OOM killer): a ring
 * larger than the machine can spare is refused before anything is
 * allocated, and the detail names the limit. */
static int ho_huge_child(void *arg)
{
    char *addr = arg;
    ipc_channel *ch = NULL, *ends[2] = {NULL, NULL};
    struct rlimit rl = {1u << 20, 1u << 20};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        return 10;
    ipc_err err = ipc_pair("shm:?capacity=1048576&max_msg=65536", 0, ends);
    if (err != IPC_ELIMIT || !strstr(ipc_last_detail(), "MemAvailable")) {
        fprintf(stderr, "pair: %s (%s)\n", ipc_errname(err), ipc_last_detail());
        return 11;
    }
    err = ipc_open(addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &ch);
    if (err != IPC_ELIMIT || !(strstr(ipc_last_detail(), "/dev/shm") ||
                               strstr(ipc_last_detail(), "MemAvailable"))) {
        fprintf(stderr, "open: %s (%s)\n", ipc_errname(err), ipc_last_detail());
        return 12;
    }
    return 0;
}

static void test_no_room_memory(void **state)
{
    (void)state;
    char name[96], addr[160];
    st_name(name, sizeof name, addr, sizeof addr,
            "capacity=1048576&max_msg=65536"); /* 64 GiB */
    assert_child_ok(tu_spawn(ho_huge_child, addr), 10000);
    assert_false(st_exists(name));
}

/* Without capacity=, large messages get fewer slots: a default ring stays
 * within 16 MiB (and has at least 2). */
static void test_default_capacity(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        size_t capacity;
    } cases[] = {
        {"shm:?max_msg=65536", 64},
        {"shm:?max_msg=4194304", 3},
        {"shm:?max_msg=20971520", 2},
        {"shm:?max_msg=4194304&capacity=5", 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ipc_channel *ends[2];
        ipc_info info;
        assert_ipc_err(ipc_pair(cases[i].addr, 0, ends), IPC_OK);
        assert_ipc_err(ipc_query(ends[0], &info), IPC_OK);
        assert_int_equal(info.capacity, cases[i].capacity);
        ipc_close(ends[0]);
        ipc_close(ends[1]);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_hostile_header_open, st_cleanup),
        cmocka_unit_test_teardown(test_foreign_object, st_cleanup),
        cmocka_unit_test_teardown(test_hostile_named, st_cleanup),
        cmocka_unit_test_teardown(test_hostile_pair, st_cleanup),
        cmocka_unit_test_teardown(test_half_made_blank, st_cleanup),
        cmocka_unit_test_teardown(test_half_made_live, st_cleanup),
        cmocka_unit_test_teardown(test_half_made_dead, st_cleanup),
        cmocka_unit_test_teardown(test_no_room_fsize, st_cleanup),
        cmocka_unit_test_teardown(test_no_room_tmpfs, st_cleanup),
        cmocka_unit_test_teardown(test_no_room_memory, st_cleanup),
        cmocka_unit_test_teardown(test_default_capacity, st_cleanup),
    };
    return tu_run_tests("shm.hostile", tests, argc, argv);
}
