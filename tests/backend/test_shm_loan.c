/* SPDX-License-Identifier: MIT */
/* shm: zero copy. Loans (write in place, commit) and views (read in place,
 * release): bounded, in order, released once, across processes, and never
 * wedging the ring when an end closes with some outstanding. */
#include "shm_test.h"

#include <stdatomic.h>

struct lo_link {
    char name[96], addr[160];
    ipc_channel *tx, *rx;
};

static void lo_open(struct lo_link *l, bool named, const char *opts)
{
    if (!named) {
        char addr[160];
        ipc_channel *ends[2];
        snprintf(addr, sizeof addr, "shm:?%s", opts);
        assert_ipc_err(ipc_pair(addr, 0, ends), IPC_OK);
        l->tx = ends[0];
        l->rx = ends[1];
        l->name[0] = '\0';
        return;
    }
    st_name(l->name, sizeof l->name, l->addr, sizeof l->addr, opts);
    assert_ipc_err(
        ipc_open(l->addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 1000, &l->rx),
        IPC_OK);
    assert_ipc_err(ipc_open(l->addr, IPC_F_SEND, 1000, &l->tx), IPC_OK);
}

static void lo_close(struct lo_link *l)
{
    ipc_close(l->tx);
    ipc_close(l->rx);
    l->tx = l->rx = NULL;
    if (l->name[0])
        assert_false(st_exists(l->name));
}

static void lo_expect(ipc_channel *rx, const char *want)
{
    char buf[256];
    size_t len = 0;
    assert_ipc_err(ipc_recv(rx, buf, sizeof buf, &len, NULL, 1000), IPC_OK);
    if (len != strlen(want) || memcmp(buf, want, len) != 0)
        fail_msg("got \"%.*s\", expected \"%s\"", (int)len, buf, want);
}

static void *lo_loan(ipc_channel *tx, const char *text)
{
    void *p = NULL;
    assert_ipc_err(ipc_loan(tx, 64, &p, 1000), IPC_OK);
    assert_non_null(p);
    strcpy(p, text);
    return p;
}

/* Loans are bounded: never more than the ring's slots, never more than 16
 * per end; running out is IPC_ELIMIT with a sentence, and a release makes
 * room again. */
static void test_loans_bounded(void **state)
{
    (void)state;
    static const struct {
        const char *opts;
        unsigned limit;
    } cases[] = {{"capacity=4&max_msg=64", 4}, {"capacity=64&max_msg=64", 16}};
    for (int named = 0; named < 2; named++) {
        for (size_t c = 0; c < 2; c++) {
            struct lo_link l;
            void *loans[16];
            lo_open(&l, named, cases[c].opts);
            for (unsigned i = 0; i < cases[c].limit; i++)
                loans[i] = lo_loan(l.tx, "x");
            void *more = NULL;
            assert_ipc_err(ipc_loan(l.tx, 8, &more, 1000), IPC_ELIMIT);
            assert_non_null(strstr(ipc_last_detail(), "loans"));
            assert_null(more);
            assert_ipc_err(ipc_release(l.tx, loans[0]), IPC_OK);
            loans[0] = lo_loan(l.tx, "again");
            for (unsigned i = 0; i < cases[c].limit; i++)
                assert_ipc_err(ipc_release(l.tx, loans[i]), IPC_OK);
            lo_close(&l);
        }
    }
}

/* Messages take the place of their loan: committed in reverse, they are
 * received in loan order (the first waits for its writer). */
static void test_loan_order(void **state)
{
    (void)state;
    for (int named = 0; named < 2; named++) {
        struct lo_link l;
        char buf[64];
        size_t len;
        lo_open(&l, named, "capacity=8&max_msg=64");
        void *a = lo_loan(l.tx, "first");
        assert_ipc_err(ipc_send(l.tx, "second", 6, 0, 1000), IPC_OK);
        void *c = lo_loan(l.tx, "third");
        assert_ipc_err(ipc_commit(l.tx, c, 5, 0), IPC_OK);
        assert_ipc_err(ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 0),
                       IPC_EAGAIN);
        assert_ipc_err(ipc_commit(l.tx, a, 5, 0), IPC_OK);
        lo_expect(l.rx, "first");
        lo_expect(l.rx, "second");
        lo_expect(l.rx, "third");
        lo_close(&l);
    }
}

/* A released loan is never delivered; releasing or committing it again is
 * IPC_EINVAL; a commit longer than the loan is refused and the loan stays;
 * zero bytes and exactly max_msg work. */
static void test_loan_release(void **state)
{
    (void)state;
    for (int named = 0; named < 2; named++) {
        struct lo_link l;
        char buf[256];
        size_t len = 7;
        lo_open(&l, named, "capacity=4&max_msg=200");
        void *p = lo_loan(l.tx, "never");
        assert_ipc_err(ipc_release(l.tx, p), IPC_OK);
        assert_ipc_err(ipc_release(l.tx, p), IPC_EINVAL);
        assert_ipc_err(ipc_commit(l.tx, p, 5, 0), IPC_EINVAL);
        assert_ipc_err(ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 0),
                       IPC_EAGAIN);

        void *q = NULL;
        assert_ipc_err(ipc_loan(l.tx, 10, &q, 1000), IPC_OK);
        assert_ipc_err(ipc_commit(l.tx, q, 11, 0), IPC_EINVAL);
        memcpy(q, "0123456789", 10);
        assert_ipc_err(ipc_commit(l.tx, q, 4, 0), IPC_OK);
        lo_expect(l.rx, "0123");

        assert_ipc_err(ipc_loan(l.tx, 0, &q, 1000), IPC_OK);
        assert_ipc_err(ipc_commit(l.tx, q, 0, 0), IPC_OK);
        assert_ipc_err(ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 1000),
                       IPC_OK);
        assert_int_equal(len, 0);

        assert_ipc_err(ipc_loan(l.tx, 201, &q, 0), IPC_EMSGSIZE);
        assert_ipc_err(ipc_loan(l.tx, 200, &q, 1000), IPC_OK);
        tu_pattern(q, 200, 9);
        assert_ipc_err(ipc_commit(l.tx, q, 200, 0), IPC_OK);
        assert_ipc_err(ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 1000),
                       IPC_OK);
        assert_int_equal(len, 200);
        assert_int_equal(tu_pattern_check(buf, 200, 9), 200);

        /* A pointer that never was a loan, or a loan of the other end. */
        assert_ipc_err(ipc_commit(l.tx, buf, 1, 0), IPC_EINVAL);
        assert_ipc_err(ipc_release(l.rx, buf), IPC_EINVAL);
        lo_close(&l);
    }
}

/* Loans and views point into the ring, 16-byte aligned (glibc's memcpy is
 * slow when source and destination disagree modulo 16). */
static void test_alignment(void **state)
{
    (void)state;
    static const char *opts[] = {"capacity=3&max_msg=1",
                                 "capacity=5&max_msg=77",
                                 "capacity=2&max_msg=1048576"};
    for (size_t i = 0; i < 3; i++) {
        struct lo_link l;
        lo_open(&l, i % 2, opts[i]);
        for (int k = 0; k < 7; k++) {
            void *p = NULL;
            const void *v = NULL;
            size_t len;
            assert_ipc_err(ipc_loan(l.tx, 1, &p, 1000), IPC_OK);
            assert_int_equal((uintptr_t)p % 16, 0);
            assert_ipc_err(ipc_commit(l.tx, p, 1, 0), IPC_OK);
            assert_ipc_err(ipc_view(l.rx, &v, &len, NULL, 1000), IPC_OK);
            /* In place: the same bytes (each end maps the ring itself). */
            assert_int_equal((uintptr_t)v % 4096, (uintptr_t)p % 4096);
            assert_int_equal((uintptr_t)v % 16, 0);
            assert_ipc_err(ipc_release(l.rx, v), IPC_OK);
        }
        lo_close(&l);
    }
}

/* Views are bounded (16 per end); a view holds its slot until released,
 * so senders wait for it; released twice is IPC_EINVAL. */
static void test_views(void **state)
{
    (void)state;
    for (int named = 0; named < 2; named++) {
        struct lo_link l;
        const void *v[17];
        size_t len;
        unsigned prio = 9;
        lo_open(&l, named, "capacity=32&max_msg=64");
        for (int i = 0; i < 20; i++) {
            char msg[8];
            snprintf(msg, sizeof msg, "v%d", i);
            assert_ipc_err(ipc_send(l.tx, msg, strlen(msg), 0, 1000), IPC_OK);
        }
        for (int i = 0; i < 16; i++) {
            assert_ipc_err(ipc_view(l.rx, &v[i], &len, &prio, 1000), IPC_OK);
            assert_int_equal(prio, 0);
            char want[8];
            snprintf(want, sizeof want, "v%d", i);
            assert_int_equal(len, strlen(want));
            assert_memory_equal(v[i], want, len);
        }
        assert_ipc_err(ipc_view(l.rx, &v[16], &len, NULL, 1000), IPC_ELIMIT);
        assert_non_null(strstr(ipc_last_detail(), "views"));
        assert_ipc_err(ipc_release(l.rx, v[3]), IPC_OK);
        assert_ipc_err(ipc_release(l.rx, v[3]), IPC_EINVAL);
        assert_ipc_err(ipc_view(l.rx, &v[3], &len, NULL, 1000), IPC_OK);
        assert_memory_equal(v[3], "v16", 3);
        lo_expect(l.rx, "v17"); /* a copy while views are out */
        for (int i = 0; i < 16; i++)
            assert_ipc_err(ipc_release(l.rx, v[i]), IPC_OK);
        lo_close(&l);

        /* The slot of a view is not reused until it is released. */
        lo_open(&l, named, "capacity=2&max_msg=64");
        assert_ipc_err(ipc_send(l.tx, "m0", 2, 0, 1000), IPC_OK);
        assert_ipc_err(ipc_send(l.tx, "m1", 2, 0, 1000), IPC_OK);
        assert_ipc_err(ipc_view(l.rx, &v[0], &len, NULL, 1000), IPC_OK);
        lo_expect(l.rx, "m1");
        assert_ipc_err(ipc_send(l.tx, "m2", 2, 0, 0), IPC_EAGAIN);
        assert_memory_equal(v[0], "m0", 2); /* still intact */
        assert_ipc_err(ipc_release(l.rx, v[0]), IPC_OK);
        assert_ipc_err(ipc_send(l.tx, "m2", 2, 0, 0), IPC_OK);
        lo_expect(l.rx, "m2");
        lo_close(&l);
    }
}

/* An end closed with loans or views outstanding gives them back: the
 * receivers skip the loans, the senders reuse the viewed slots. */
static void test_close_outstanding(void **state)
{
    (void)state;
    struct lo_link l;
    const void *v;
    size_t len;
    lo_open(&l, true, "capacity=2&max_msg=64");
    ipc_channel *tx2 = NULL, *rx2 = NULL;
    assert_ipc_err(ipc_open(l.addr, IPC_F_SEND, 1000, &tx2), IPC_OK);
    lo_loan(tx2, "lost");
    lo_loan(tx2, "lost too");
    ipc_close(tx2);
    assert_ipc_err(ipc_send(l.tx, "kept", 4, 0, 1000), IPC_OK);
    lo_expect(l.rx, "kept");

    assert_ipc_err(ipc_open(l.addr, IPC_F_RECV, 1000, &rx2), IPC_OK);
    assert_ipc_err(ipc_send(l.tx, "a", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(l.tx, "b", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_view(rx2, &v, &len, NULL, 1000), IPC_OK);
    assert_ipc_err(ipc_view(rx2, &v, &len, NULL, 1000), IPC_OK);
    assert_ipc_err(ipc_send(l.tx, "c", 1, 0, 0), IPC_EAGAIN);
    ipc_close(rx2);
    assert_ipc_err(ipc_send(l.tx, "c", 1, 0, 0), IPC_OK);
    assert_ipc_err(ipc_send(l.tx, "d", 1, 0, 0), IPC_OK);
    lo_expect(l.rx, "c");
    lo_expect(l.rx, "d");
    lo_close(&l);
}

/* No receiver left: a loan is IPC_ECLOSED, and so is the commit of a loan
 * taken before (which is given back: committing it again is IPC_EINVAL). */
static void test_loan_peer_closed(void **state)
{
    (void)state;
    struct lo_link l;
    lo_open(&l, false, "capacity=4&max_msg=64");
    void *p = lo_loan(l.tx, "late");
    ipc_close(l.rx);
    l.rx = NULL;
    assert_ipc_err(ipc_commit(l.tx, p, 4, 0), IPC_ECLOSED);
    assert_ipc_err(ipc_commit(l.tx, p, 4, 0), IPC_EINVAL);
    void *q = NULL;
    assert_ipc_err(ipc_loan(l.tx, 4, &q, 1000), IPC_ECLOSED);
    lo_close(&l);
}

/* A full ring: a loan waits like a send, and never past its timeout. */
static void test_loan_full(void **state)
{
    (void)state;
    struct lo_link l;
    void *p = NULL;
    lo_open(&l, true, "capacity=2&max_msg=64");
    assert_ipc_err(ipc_send(l.tx, "1", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_send(l.tx, "2", 1, 0, 1000), IPC_OK);
    assert_ipc_err(ipc_loan(l.tx, 4, &p, 0), IPC_EAGAIN);
    int64_t t0 = tu_now_ns();
    assert_ipc_err(ipc_loan(l.tx, 4, &p, 150), IPC_ETIMEDOUT);
    assert_true(tu_elapsed_ms(t0) >= 150);
    lo_expect(l.rx, "1");
    p = lo_loan(l.tx, "3");
    assert_ipc_err(ipc_commit(l.tx, p, 1, 0), IPC_OK);
    lo_expect(l.rx, "2");
    lo_expect(l.rx, "3");
    lo_close(&l);
}

/* Loans stay with the process that took them: a forked child cannot
 * commit its parent's loan (IPC_EINVAL), the parent still can. */
static void test_loan_fork(void **state)
{
    (void)state;
    static struct lo_link l;
    static void *p;
    lo_open(&l, false, "capacity=4&max_msg=64");
    p = lo_loan(l.tx, "parent's");
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(ipc_commit(l.tx, p, 8, 0) == IPC_EINVAL ? 0 : 1);
    assert_child_ok(pid, 5000);
    assert_ipc_err(ipc_commit(l.tx, p, 8, 0), IPC_OK);
    lo_expect(l.rx, "parent's");
    lo_close(&l);
}

#define LO_BIG (1u << 20)
/* 16 laps of the 4-slot ring. More made the child, which writes every byte
 * of each message, outlive st_spawn's 60 s alarm under valgrind on a
 * loaded machine. */
#define LO_COUNT 64

static int lo_big_sender(void *arg)
{
    const char *addr = arg;
    ipc_channel *tx = NULL;
    if (ipc_open(addr, IPC_F_SEND, 5000, &tx) != IPC_OK)
        return 3;
    for (uint64_t i = 0; i < LO_COUNT; i++) {
        void *p = NULL;
        size_t len = LO_BIG - (size_t)(i * 977 % 4096);
        if (ipc_loan(tx, len, &p, 10000) != IPC_OK)
            return 4;
        tu_pattern(p, len, i);
        if (ipc_commit(tx, p, len, 0) != IPC_OK)
            return 5;
    }
    ipc_close(tx);
    return 0;
}

/* Across processes: a child writes 1 MiB messages in place, we read them
 * in place; every byte as written. */
static void test_zero_copy_processes(void **state)
{
    (void)state;
    struct lo_link l;
    lo_open(&l, true, "capacity=4&max_msg=1048576");
    pid_t pid = tu_spawn(lo_big_sender, l.addr);
    for (uint64_t i = 0; i < LO_COUNT; i++) {
        const void *v = NULL;
        size_t len = 0;
        ipc_err err = ipc_view(l.rx, &v, &len, NULL, 10000);
        if (err != IPC_OK) {
            int status = 0;
            char what[64] = "still running";
            if (waitpid(pid, &status, WNOHANG) == pid)
                tu_status_str(status, what, sizeof what);
            fail_msg("view of message %llu: %s (%s); the sender: %s",
                     (unsigned long long)i, ipc_errname(err), ipc_last_detail(),
                     what);
        }
        assert_int_equal(len, LO_BIG - (size_t)(i * 977 % 4096));
        assert_int_equal(tu_pattern_check(v, len, i), len);
        assert_ipc_err(ipc_release(l.rx, v), IPC_OK);
    }
    assert_child_ok(pid, 10000);
    lo_close(&l);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_loans_bounded, st_cleanup),
        cmocka_unit_test_teardown(test_loan_order, st_cleanup),
        cmocka_unit_test_teardown(test_loan_release, st_cleanup),
        cmocka_unit_test_teardown(test_alignment, st_cleanup),
        cmocka_unit_test_teardown(test_views, st_cleanup),
        cmocka_unit_test_teardown(test_close_outstanding, st_cleanup),
        cmocka_unit_test_teardown(test_loan_peer_closed, st_cleanup),
        cmocka_unit_test_teardown(test_loan_full, st_cleanup),
        cmocka_unit_test_teardown(test_loan_fork, st_cleanup),
        cmocka_unit_test_teardown(test_zero_copy_processes, st_cleanup),
    };
    return tu_run_tests("shm.loan", tests, argc, argv);
}
