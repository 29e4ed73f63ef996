/* SPDX-License-Identifier: MIT */
/* Permissions: named objects are 0600 whatever the umask; a process of
 * another uid (a child switched to nobody, 65534) cannot open, take over or
 * remove them; a name someone else made first (a regular file, or an object
 * of another uid, live or stale) is refused, not adopted; ends with
 * IPC_CAP_PEER_UID report the peer's uid and refuse a required uid that
 * does not match (peer_uid=).
 *
 * Switching uid needs root: as another user the tests that need it are
 * skipped, saying so. CI runs as root, so there they all run.
 *
 *   ipc_rel_perms <row> */
#include "rel.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define P_RECV_NEW (IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV)

static void perm_need_root(void)
{
    if (rel_is_root())
        return;
    print_message("SKIPPED: this test switches a child to uid %d (nobody) "
                  "and needs root; running as uid %d. CI runs as root.\n",
                  REL_NOBODY, (int)geteuid());
    skip();
}

static void perm_as_nobody(int (*fn)(const char *addr), const char *addr,
                           const char *what)
{
    const char *end = tu_child_end(rel_spawn_nobody(fn, addr), REL_CHILD_MS);
    if (end)
        fail_msg("%s child: %s", what, end);
}

/* A message from root's sender arrives at root's receiver. */
static void perm_still_works(ipc_channel *rx, const char *addr)
{
    ipc_channel *tx = NULL;
    unsigned char buf[REL_MSG_HDR], got[REL_MSG_HDR + 8];
    size_t len;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 5000, &tx), IPC_OK);
    rel_msg_fill(buf, sizeof buf, 0, 42);
    assert_ipc_err(ipc_send(tx, buf, sizeof buf, 0, 5000), IPC_OK);
    assert_ipc_err(ipc_recv(rx, got, sizeof got, &len, NULL, 5000), IPC_OK);
    assert_int_equal(len, sizeof buf);
    assert_memory_equal(got, buf, sizeof buf);
    ipc_close(tx);
}

/* ---------------------------------------------------------------- mode */

static void perm_check_mode(const char *addr, mode_t want)
{
    char path[REL_PATH_MAX];
    struct stat st;
    if (!rel_fs_path(addr, path, sizeof path))
        return;
    assert_int_equal(lstat(path, &st), 0);
    if ((st.st_mode & 07777) != want || st.st_uid != geteuid())
        fail_msg("%s: mode %04o uid %d, expected %04o uid %d", path,
                 (unsigned)(st.st_mode & 07777), (int)st.st_uid, (unsigned)want,
                 (int)geteuid());
}

/* 0600 under umask 0 and 077 alike; ?mode= is honoured exactly. */
static void test_mode(void **state)
{
    (void)state;
    static const mode_t masks[] = {0, 077, 022};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        struct rel_link l;
        mode_t old = umask(masks[i]);
        ipc_err err = rel_link_open_rx(&l, NULL);
        umask(old);
        assert_ipc_err(err, IPC_OK);
        perm_check_mode(l.addr, 0600);
        rel_link_close(&l);
    }
    if (rel_takes(IPC_KEY_MODE)) {
        struct rel_link l;
        mode_t old = umask(077);
        ipc_err err = rel_link_open_rx(&l, "mode=0640");
        umask(old);
        assert_ipc_err(err, IPC_OK);
        perm_check_mode(l.addr, 0640);
        rel_link_close(&l);
    }
    if (!rel.row->fs)
        print_message("(no file-system path for this row: mode checked by "
                      "the uid tests below)\n");
}

/* ---------------------------------------------------------------- other uid */

static int nobody_tries(const char *addr)
{
    ipc_channel *ch = NULL;
    bool no_perms = rel.row->flags & TU_R_NO_PERMS;
    ipc_err err = ipc_open(addr, IPC_F_SEND, 2000, &ch);
    if (no_perms) {
        /* Abstract sockets have no permissions: peer_uid= is the guard
         * (test_peer_uid). */
        ipc_close(ch);
    } else if (err != IPC_EACCES) {
        ipc_close(ch);
        return tu_child_fail(10,
                             "open %s to send as nobody: %s, expected "
                             "IPC_EACCES",
                             addr, ipc_errname(err));
    }
    ch = NULL;
    err = ipc_open(addr, IPC_F_RECV, 2000, &ch);
    if (err == IPC_OK) {
        ipc_close(ch);
        return tu_child_fail(11, "nobody opened root's %s to receive", addr);
    }
    err = ipc_open(addr, IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV, 2000, &ch);
    if (err == IPC_OK) {
        ipc_close(ch);
        return tu_child_fail(12,
                             "nobody took over root's live %s with "
                             "IPC_F_REPLACE",
                             addr);
    }
    err = ipc_open(addr, IPC_F_CREATE | IPC_F_RECV, 2000, &ch);
    if (err == IPC_OK) {
        ipc_close(ch);
        return tu_child_fail(13, "nobody adopted root's %s with IPC_F_CREATE",
                             addr);
    }
    err = ipc_unlink(addr);
    if (err == IPC_OK)
        return tu_child_fail(14, "nobody removed root's %s", addr);
    return 0;
}

/* Root's channel: nobody can neither send (0600), receive, take it over,
 * adopt it nor remove it; it works for root afterwards. */
static void test_other_uid(void **state)
{
    (void)state;
    perm_need_root();
    struct rel_link l;
    assert_ipc_err(rel_link_open_rx(&l, NULL), IPC_OK);
    perm_as_nobody(nobody_tries, l.addr, "nobody");
    perm_still_works(l.rx, l.addr);
    rel_link_close(&l);
}

/* ---------------------------------------------------------------- squatters */

/* A regular file at the name is never adopted, replaced or removed. */
static void test_precreated_file(void **state)
{
    (void)state;
    char addr[REL_ADDR_MAX], path[REL_PATH_MAX];
    static const char precious[] = "precious, not a channel\n";
    rel_addr(addr, sizeof addr, NULL);
    if (!rel_fs_path(addr, path, sizeof path)) {
        print_message("(no file-system path for this row)\n");
        return;
    }
    for (int owner = 0; owner < 2; owner++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, precious, sizeof precious - 1),
                         (ssize_t)sizeof precious - 1);
        close(fd);
        if (owner == 1 && rel_is_root())
            assert_int_equal(chown(path, REL_NOBODY, REL_NOBODY), 0);

        ipc_channel *ch = NULL;
        assert_ipc_err(ipc_open(addr, P_RECV_NEW, 1000, &ch), IPC_EEXIST);
        ipc_err err = ipc_open(addr, IPC_F_CREATE | IPC_F_RECV, 1000, &ch);
        if (err == IPC_OK)
            fail_msg("IPC_F_CREATE adopted a regular file at %s", path);
        err = ipc_open(addr, IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV, 1000,
                       &ch);
        if (err == IPC_OK)
            fail_msg("IPC_F_REPLACE replaced a regular file at %s", path);
        err = ipc_open(addr, IPC_F_SEND, 1000, &ch);
        if (err == IPC_OK)
            fail_msg("a sender opened a regular file at %s", path);
        err = ipc_unlink(addr);
        if (err == IPC_OK)
            fail_msg("ipc_unlink removed a regular file at %s", path);

        char got[64] = "";
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(read(fd, got, sizeof got - 1),
                         (ssize_t)sizeof precious - 1);
        close(fd);
        assert_string_equal(got, precious);
        assert_int_equal(unlink(path), 0);
    }
}

struct perm_squat {
    struct rel_sync ready, release;
    bool stale; /* leave without closing */
};
static struct perm_squat squat;

/* As nobody: make the channel, then crash (stale) or hold it (live). */
static int nobody_squats(const char *addr)
{
    ipc_channel *ch = NULL;
    ipc_err err = ipc_open(addr, P_RECV_NEW, 2000, &ch);
    if (err != IPC_OK)
        return tu_child_fail(20, "nobody could not create %s: %s", addr,
                             ipc_errname(err));
    rel_sync_post(&squat.ready);
    if (squat.stale)
        _exit(0); /* a crash: no close */
    rel_sync_wait(&squat.release, REL_CHILD_MS);
    ipc_close(ch);
    return 0;
}

static void perm_squat_run(bool stale)
{
    char addr[REL_ADDR_MAX];
    ipc_channel *ch = NULL;
    rel_addr(addr, sizeof addr, NULL);
    squat.stale = stale;
    rel_sync_init(&squat.ready);
    rel_sync_init(&squat.release);
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!rel_become_nobody())
            tu_child_exit(90, "cannot switch to uid %d", REL_NOBODY);
        _exit(nobody_squats(addr));
    }
    if (!rel_sync_wait(&squat.ready, REL_CHILD_MS))
        fail_msg("nobody did not make %s", addr);
    if (stale)
        assert_child_ok(pid, REL_CHILD_MS);

    bool left = true;
    if (stale) {
        /* Some namespaces drop the object with its process. */
        char path[REL_PATH_MAX];
        ipc_err err = ipc_open(addr, IPC_F_SEND, 0, &ch);
        ipc_close(ch);
        ch = NULL;
        left = err != IPC_ENOENT ||
               (rel_fs_path(addr, path, sizeof path) && tu_path_exists(path));
    }
    if (left) {
        assert_ipc_err(ipc_open(addr, P_RECV_NEW, 1000, &ch), IPC_EEXIST);
        /* Not ours: IPC_F_CREATE must not adopt it. */
        ipc_err err = ipc_open(addr, IPC_F_CREATE | IPC_F_RECV, 1000, &ch);
        if (err != IPC_EACCES && err != IPC_EEXIST) {
            ipc_close(ch);
            fail_msg("IPC_F_CREATE on nobody's %s %s: %s, expected "
                     "IPC_EACCES (or IPC_EEXIST)",
                     stale ? "stale" : "live", addr, ipc_errname(err));
        }
        err = ipc_open(addr, IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV, 1000,
                       &ch);
        if (!stale && err == IPC_OK && (rel.row->flags & TU_R_REPLACES_LIVE)) {
            /* No open count tells live from stale: replace means replace
             * where the kernel lets us remove it (root). It must be a
             * fresh object of ours, not nobody's adopted: 0600, closed to
             * nobody, working for us. (As another uid the kernel refuses:
             * nobody_tries in test_other_uid.) */
            perm_check_mode(addr, 0600);
            perm_as_nobody(nobody_tries, addr, "nobody after the replace");
            perm_still_works(ch, addr);
            ipc_close(ch);
            print_message("(IPC_F_REPLACE replaced nobody's live %s: this "
                          "backend cannot tell live from stale)\n",
                          addr);
        } else if (!stale && err == IPC_OK) {
            ipc_close(ch);
            fail_msg("IPC_F_REPLACE took over nobody's live %s", addr);
        }
        if (stale) {
            /* Replacing a stale object of the right kind is what REPLACE
             * is for; the new one is root's and 0600. */
            assert_ipc_err(err, IPC_OK);
            perm_check_mode(addr, 0600);
            perm_still_works(ch, addr);
            ipc_close(ch);
        }
    } else {
        print_message("(the stale object vanished with its process)\n");
    }
    if (!stale) {
        rel_sync_post(&squat.release);
        assert_child_ok(pid, REL_CHILD_MS);
    }
    rel_sync_close(&squat.ready);
    rel_sync_close(&squat.release);
    ipc_unlink(addr);
}

/* A name nobody made first, live or stale, is refused, not adopted. */
static void test_precreated_by_other(void **state)
{
    (void)state;
    perm_need_root();
    perm_squat_run(false);
    perm_squat_run(true);
}

/* ---------------------------------------------------------------- peer uid */

static int nobody_sends(const char *addr)
{
    ipc_channel *tx = NULL;
    unsigned char buf[REL_MSG_HDR];
    ipc_err err = ipc_open(addr, IPC_F_SEND, 2000, &tx);
    if (err != IPC_OK)
        return tu_child_fail(30, "open %s: %s", addr, ipc_errname(err));
    rel_msg_fill(buf, sizeof buf, 0, 65534);
    err = ipc_send(tx, buf, sizeof buf, 0, 2000);
    ipc_close(tx);
    if (err != IPC_OK)
        return tu_child_fail(31, "send: %s", ipc_errname(err));
    return 0;
}

/* A sender refused by the receiver's peer_uid=0: its message never
 * arrives; its send fails or goes nowhere, it is never killed. */
static int nobody_refused(const char *addr)
{
    ipc_channel *tx = NULL;
    unsigned char buf[REL_MSG_HDR];
    ipc_err err = ipc_open(addr, IPC_F_SEND, 2000, &tx);
    if (err != IPC_OK)
        return 0; /* refused at the door */
    rel_msg_fill(buf, sizeof buf, 0, 65534);
    /* The receiver drops us when it next looks (it is receiving). */
    for (int i = 0; i < 300 && err == IPC_OK; i++) {
        err = ipc_send(tx, buf, sizeof buf, 0, 100);
        tu_sleep_ms(10);
    }
    ipc_close(tx);
    if (err == IPC_OK)
        return tu_child_fail(32, "a refused sender could still send");
    return 0;
}

static void test_peer_uid(void **state)
{
    (void)state;
    struct rel_link l;
    ipc_info info;
    uid_t uid = 12345;
    unsigned char buf[REL_MSG_HDR + 8];
    size_t len;
    uint32_t producer;
    uint64_t seq;

    assert_ipc_err(rel_link_open(&l, NULL), IPC_OK);
    assert_ipc_err(ipc_query(l.rx, &info), IPC_OK);
    bool has = info.caps & IPC_CAP_PEER_UID;
    if (!has) {
        assert_ipc_err(ipc_peer_uid(l.rx, &uid), IPC_ENOTSUP);
        rel_link_close(&l);
        return;
    }
    if (!rel.named) {
        /* A pair: both ends are this process's. */
        assert_ipc_err(ipc_peer_uid(l.rx, &uid), IPC_OK);
        assert_int_equal(uid, geteuid());
        assert_ipc_err(ipc_peer_uid(l.tx, &uid), IPC_OK);
        assert_int_equal(uid, geteuid());
        rel_link_close(&l);
        return;
    }
    rel_link_close(&l);
    perm_need_root();

    /* The receiver reports who sent the last message. */
    const char *open_mode = rel_takes(IPC_KEY_MODE) ? "mode=0666" : NULL;
    assert_ipc_err(rel_link_open_rx(&l, open_mode), IPC_OK);
    perm_as_nobody(nobody_sends, l.addr, "nobody sender");
    assert_ipc_err(ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 5000), IPC_OK);
    assert_null(rel_msg_check(buf, len, 1, &producer, &seq));
    assert_int_equal(seq, 65534);
    assert_ipc_err(ipc_peer_uid(l.rx, &uid), IPC_OK);
    assert_int_equal(uid, REL_NOBODY);

    /* A sender that requires the receiver to be nobody is refused. */
    char want[REL_ADDR_MAX + 32], base[REL_ADDR_MAX];
    ipc_channel *tx = NULL;
    rel_addr_base(l.addr, base, sizeof base);
    snprintf(want, sizeof want, "%s?peer_uid=%d", base, REL_NOBODY);
    assert_ipc_err(ipc_open(want, IPC_F_SEND, 2000, &tx), IPC_EACCES);
    assert_non_null(strstr(ipc_last_detail(), "65534"));
    snprintf(want, sizeof want, "%s?peer_uid=%d", base, (int)geteuid());
    assert_ipc_err(ipc_open(want, IPC_F_SEND, 2000, &tx), IPC_OK);
    ipc_close(tx);
    rel_link_close(&l);

    /* A receiver that requires root: nobody's message never arrives. */
    char opts[64];
    snprintf(opts, sizeof opts, "%s%speer_uid=%d", open_mode ? open_mode : "",
             open_mode ? "&" : "", (int)geteuid());
    assert_ipc_err(rel_link_open_rx(&l, opts), IPC_OK);
    pid_t pid = rel_spawn_nobody(nobody_refused, l.addr);
    /* Receiving meanwhile: nobody's connection is accepted and dropped. */
    for (int i = 0; i < 5; i++)
        assert_ipc_err(ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 200),
                       IPC_ETIMEDOUT);
    assert_child_ok(pid, REL_CHILD_MS);
    assert_ipc_err(ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    perm_still_works(l.rx, l.addr);
    assert_ipc_err(ipc_peer_uid(l.rx, &uid), IPC_OK);
    assert_int_equal(uid, geteuid());
    rel_link_close(&l);
}

static const struct rel_test perm_tests[] = {
    {"mode", test_mode, REL_NAMED},
    {"other_uid", test_other_uid, REL_NAMED},
    {"precreated_file", test_precreated_file, REL_NAMED},
    {"precreated_by_other", test_precreated_by_other, REL_NAMED},
    {"peer_uid", test_peer_uid, REL_ANY},
    {NULL, NULL, REL_ANY},
};

int main(int argc, char **argv)
{
    return rel_main(argc, argv, "perms", perm_tests);
}
