/* SPDX-License-Identifier: MIT */
/* Trust: whom an end trusts when it opens a name it did not create (issue
 * 19). Root is the victim; a child that drops to uid 65534 (nobody) is the
 * attacker. squat: the attacker makes the object first, mode 0666; root's
 * sender and receiver opens are IPC_EACCES naming uid 65534, and no message
 * crosses; owner=65534 in the address trusts it. symlink (fifo, unix path):
 * a link planted at the name towards another service's 0600 channel is
 * refused and nothing arrives there. abstract (unix:@name): mode=, 0600 by
 * default, is applied to each sender's uid. shm_truncate: a ring the
 * attacker made is refused by the default rule, so its truncation cannot
 * kill root; with owner=65534 the outcome of a truncation is reported.
 *
 * Switching uid needs root: as another user every test here is skipped,
 * saying so (CI runs as root). ftok collisions (point 5) are
 * tests/backend/test_sysv.c test_path_keys.
 *
 *   ipc_rel_trust <row> */
#include "rel.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_RECV_NEW    (IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV)
#define T_NOBODY_S    "65534"
#define T_SEQ_REFUSED 1 /* sent only if a refused open was let through */
#define T_SEQ_TRUSTED 2 /* sent through owner=65534 */
#define T_SEQ_FORGED  3 /* the attacker's own message */

static bool trust_need_root(void)
{
    if (rel_is_root())
        return true;
    print_message("SKIPPED: the attacker is a child switched to uid %d "
                  "(nobody), which needs root; running as uid %d. CI runs "
                  "as root.\n",
                  REL_NOBODY, (int)geteuid());
    skip();
    return false;
}

static bool trust_scheme(const char *scheme)
{
    return strcmp(rel.row->scheme, scheme) == 0;
}

/* "<addr without options>?<opts>" */
static void trust_with(const char *addr, const char *opts, char *buf,
                       size_t size)
{
    char base[REL_ADDR_MAX];
    rel_addr_base(addr, base, sizeof base);
    snprintf(buf, size, "%s?%s", base, opts);
}

/* An open the trust rule must refuse. If it is let through (old code), a
 * sender sends T_SEQ_REFUSED first, so that the attacker can show that the
 * message crossed; then the test fails. */
static void trust_refused(const char *addr, unsigned flags, bool eacces)
{
    ipc_channel *ch = NULL;
    ipc_err err = ipc_open(addr, flags, 2000, &ch);
    if (err == IPC_OK) {
        if (flags & IPC_F_SEND) {
            unsigned char buf[REL_MSG_HDR];
            rel_msg_fill(buf, sizeof buf, 0, T_SEQ_REFUSED);
            ipc_send(ch, buf, sizeof buf, 0, 1000);
        }
        ipc_close(ch);
        fail_msg("root opened nobody's %s (%s) without trusting uid %d", addr,
                 (flags & IPC_F_SEND) ? "send" : "receive", REL_NOBODY);
    }
    if (!eacces)
        return;
    assert_ipc_err(err, IPC_EACCES);
    if (!strstr(ipc_last_detail(), T_NOBODY_S))
        fail_msg("the detail does not name uid %d: %s", REL_NOBODY,
                 ipc_last_detail());
}

/* ---------------------------------------------------------------- squat */

struct trust_sync {
    struct rel_sync ready, go, done;
};
static struct trust_sync ts;

static void trust_sync_init(void)
{
    rel_sync_init(&ts.ready);
    rel_sync_init(&ts.go);
    rel_sync_init(&ts.done);
}

static void trust_sync_close(void)
{
    rel_sync_close(&ts.ready);
    rel_sync_close(&ts.go);
    rel_sync_close(&ts.done);
}

/* As nobody: make the channel 0666 first; once root has tried, receive:
 * exactly the one message root sent through owner=65534, nothing else. */
static int attacker_squats(const char *addr)
{
    ipc_channel *rx = NULL;
    unsigned char buf[REL_MSG_HDR + 8];
    size_t len;
    uint32_t producer;
    uint64_t seq;
    ipc_err err = ipc_open(addr, T_RECV_NEW, 2000, &rx);
    if (err != IPC_OK)
        return tu_child_fail(20, "nobody could not make %s: %s (%s)", addr,
                             ipc_errname(err), ipc_last_detail());
    rel_sync_post(&ts.ready);
    if (!rel_sync_wait(&ts.go, REL_CHILD_MS))
        return tu_child_fail(21, "root never finished");
    err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 5000);
    if (err != IPC_OK)
        return tu_child_fail(22, "the trusted message did not come: %s",
                             ipc_errname(err));
    const char *bad = rel_msg_check(buf, len, 1, &producer, &seq);
    if (bad || seq != T_SEQ_TRUSTED)
        return tu_child_fail(23,
                             "root's refused sender reached nobody "
                             "(message %llu%s%s)",
                             (unsigned long long)seq, bad ? ": " : "",
                             bad ? bad : "");
    err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 0);
    ipc_close(rx);
    if (err == IPC_OK)
        return tu_child_fail(24, "a second message of root's reached nobody");
    return 0;
}

/* The attacker squats addr; root's plain opens are refused; owner=65534
 * trusts it (one message goes, on purpose). */
static void trust_squat_at(const char *addr)
{
    char squat[REL_ADDR_MAX + 32], trusted[REL_ADDR_MAX + 32];
    trust_with(addr, "mode=0666", squat, sizeof squat);
    trust_with(addr, "owner=" T_NOBODY_S, trusted, sizeof trusted);
    trust_sync_init();
    pid_t pid = rel_spawn_nobody(attacker_squats, squat);
    if (!rel_sync_wait(&ts.ready, REL_CHILD_MS))
        fail_msg("nobody did not make %s", addr);

    /* unix receivers always create (bind): a plain receive open is
     * refused for that reason first. */
    bool plain_rx = !trust_scheme("unix");
    trust_refused(addr, IPC_F_SEND, true);
    trust_refused(addr, IPC_F_RECV, plain_rx);

    ipc_channel *ch = NULL;
    if (plain_rx) {
        /* Trusted; a FIFO then meets its one-receiver rule. */
        ipc_err want = trust_scheme("fifo") ? IPC_EBUSY : IPC_OK;
        assert_ipc_err(ipc_open(trusted, IPC_F_RECV, 2000, &ch), want);
        ipc_close(ch);
        ch = NULL;
    }
    unsigned char buf[REL_MSG_HDR];
    assert_ipc_err(ipc_open(trusted, IPC_F_SEND, 2000, &ch), IPC_OK);
    rel_msg_fill(buf, sizeof buf, 0, T_SEQ_TRUSTED);
    assert_ipc_err(ipc_send(ch, buf, sizeof buf, 0, 2000), IPC_OK);
    ipc_close(ch);
    rel_sync_post(&ts.go);
    const char *end = tu_child_end(pid, REL_CHILD_MS);
    trust_sync_close();
    ipc_unlink(addr);
    if (end)
        fail_msg("attacker: %s", end);
}

static void test_squat(void **state)
{
    (void)state;
    if (!trust_need_root())
        return;
    char addr[REL_ADDR_MAX + 128];
    rel_addr(addr, sizeof addr, NULL);
    trust_squat_at(addr);
    if (!trust_scheme("sysv"))
        return;
    /* sysv:/path: the key file is root's; the attacker computes its key
     * and makes the queue first. */
    char path[96];
    tu_unique(path, sizeof path, rel.prefix);
    snprintf(addr, sizeof addr, "sysv:%s/%s", rel.run_dir, path);
    int fd = open(addr + 5, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
    trust_squat_at(addr);
    unlink(addr + 5);
}

/* ---------------------------------------------------------------- symlink */

/* fifo and unix path: a symlink at the name a sender opens, towards root's
 * own 0600 channel (another service's, that nobody may not open), is
 * refused, and nothing arrives there. The link is nobody's, in nobody's
 * directory (not sticky, so fs.protected_symlinks does not apply: the
 * library alone must refuse it). */
static void test_symlink(void **state)
{
    (void)state;
    char target[REL_PATH_MAX], dir[REL_PATH_MAX + 128],
        link[REL_PATH_MAX + 192];
    char addr[REL_PATH_MAX + 256], name[96];
    if (!rel.row->fs || trust_scheme("shm")) {
        print_message("(no path followed for this row)\n");
        return;
    }
    if (!trust_need_root())
        return;
    struct rel_link l;
    assert_ipc_err(rel_link_open_rx(&l, NULL), IPC_OK);
    assert_true(rel_fs_path(l.addr, target, sizeof target));
    tu_unique(name, sizeof name, rel.prefix);
    snprintf(dir, sizeof dir, "%s/%s", rel.run_dir, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(link, sizeof link, "%s/x", dir);
    assert_int_equal(symlink(target, link), 0);
    int r = lchown(link, REL_NOBODY, REL_NOBODY) |
            chown(dir, REL_NOBODY, REL_NOBODY);
    snprintf(addr, sizeof addr, "%s:%s", rel.row->scheme, link);

    ipc_channel *tx = NULL;
    char why[256];
    ipc_err err = ipc_open(addr, IPC_F_SEND, 2000, &tx);
    snprintf(why, sizeof why, "%s", ipc_last_detail());
    if (err == IPC_OK) {
        unsigned char buf[REL_MSG_HDR];
        rel_msg_fill(buf, sizeof buf, 0, T_SEQ_REFUSED);
        ipc_send(tx, buf, sizeof buf, 0, 1000);
        ipc_close(tx);
    }
    unsigned char got[REL_MSG_HDR + 8];
    size_t len;
    ipc_err rerr = ipc_recv(l.rx, got, sizeof got, &len, NULL, 300);
    unlink(link);
    rmdir(dir);
    rel_link_close(&l);
    assert_int_equal(r, 0);
    if (err == IPC_OK)
        fail_msg("a sender followed the symlink %s to %s", link, target);
    if (rerr == IPC_OK)
        fail_msg("a message went through the symlink %s to %s", link, target);
    assert_ipc_err(rerr, IPC_ETIMEDOUT);
    print_message("(refused: %s, %s)\n", ipc_errname(err), why);
}

/* ---------------------------------------------------------------- abstract */

/* As nobody: send one message to addr; refused or not, exit 0. */
static int attacker_sends(const char *addr)
{
    ipc_channel *tx = NULL;
    unsigned char buf[REL_MSG_HDR];
    if (ipc_open(addr, IPC_F_SEND, 2000, &tx) != IPC_OK)
        return 0;
    rel_msg_fill(buf, sizeof buf, 0, T_SEQ_FORGED);
    ipc_send(tx, buf, sizeof buf, 0, 1000);
    tu_sleep_ms(1500); /* the receiver decides meanwhile */
    ipc_close(tx);
    return 0;
}

/* unix:@name: the abstract namespace has no permissions, so the receiver
 * applies its mode= (0600 by default) to each sender's uid: nobody's
 * message never arrives; with mode=0666 it does. */
static void test_abstract_mode(void **state)
{
    (void)state;
    if (!(rel.row->flags & TU_R_NO_PERMS)) {
        print_message("(the row's namespace has permissions)\n");
        return;
    }
    if (!trust_need_root())
        return;
    struct rel_link l;
    unsigned char buf[REL_MSG_HDR + 8];
    size_t len;
    uint32_t producer;
    uint64_t seq;
    uid_t uid = 0;

    assert_ipc_err(rel_link_open_rx(&l, NULL), IPC_OK);
    pid_t pid = rel_spawn_nobody(attacker_sends, l.addr);
    for (int i = 0; i < 10; i++) {
        ipc_err err = ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 200);
        if (err == IPC_OK)
            fail_msg("root's 0600 receiver %s took nobody's message", l.addr);
        assert_ipc_err(err, IPC_ETIMEDOUT);
    }
    assert_child_ok(pid, REL_CHILD_MS);
    assert_ipc_err(ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 0), IPC_EAGAIN);
    rel_link_close(&l);

    assert_ipc_err(rel_link_open_rx(&l, "mode=0666"), IPC_OK);
    pid = rel_spawn_nobody(attacker_sends, l.addr);
    assert_ipc_err(ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 5000), IPC_OK);
    assert_null(rel_msg_check(buf, len, 1, &producer, &seq));
    assert_int_equal(seq, T_SEQ_FORGED);
    assert_ipc_err(ipc_peer_uid(l.rx, &uid), IPC_OK);
    assert_int_equal(uid, REL_NOBODY);
    assert_child_ok(pid, REL_CHILD_MS);
    rel_link_close(&l);
}

/* ---------------------------------------------------------------- shm */

/* As nobody: make the ring 0666; on `go`, cut its object to 0 bytes. */
static int attacker_truncates(const char *addr)
{
    ipc_channel *rx = NULL;
    char base[REL_ADDR_MAX];
    ipc_err err = ipc_open(addr, T_RECV_NEW, 2000, &rx);
    if (err != IPC_OK)
        return tu_child_fail(40, "nobody could not make %s: %s", addr,
                             ipc_errname(err));
    rel_sync_post(&ts.ready);
    if (!rel_sync_wait(&ts.go, REL_CHILD_MS))
        return tu_child_fail(41, "no go");
    rel_addr_base(addr, base, sizeof base);
    int fd = shm_open(base + 4, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0 || ftruncate(fd, 0) != 0)
        return tu_child_fail(42, "cannot truncate %s", base + 4);
    close(fd);
    rel_sync_post(&ts.done);
    /* Hold the ring until the victim is done; then leave without touching
     * the cut mapping (the parent removes the object). */
    rel_sync_wait(&ts.go, REL_CHILD_MS);
    (void)rx;
    return 0;
}

/* As root, in a child: open addr to send, then once the object is cut,
 * send. Exit 0: refused at open; 1: opened, sends answered errors; 2:
 * opened and sends succeeded; a signal: killed by the truncation. */
static int victim_sends(const char *addr, struct rel_sync *opened,
                        struct rel_sync *cut)
{
    ipc_channel *tx = NULL;
    unsigned char buf[REL_MSG_HDR];
    ipc_err err = ipc_open(addr, IPC_F_SEND, 2000, &tx);
    rel_sync_post(opened);
    if (err != IPC_OK)
        return err == IPC_EACCES && strstr(ipc_last_detail(), T_NOBODY_S) ? 0
                                                                          : 3;
    rel_sync_wait(cut, REL_CHILD_MS);
    rel_msg_fill(buf, sizeof buf, 0, T_SEQ_REFUSED);
    int ok = 0;
    for (int i = 0; i < 64; i++)
        ok += ipc_send(tx, buf, sizeof buf, 0, 10) == IPC_OK;
    ipc_close(tx);
    return ok ? 2 : 1;
}

/* Run the truncation attack against a victim that opens victim_addr. */
static const char *trust_truncate_run(const char *addr, const char *victim_addr)
{
    char squat[REL_ADDR_MAX + 32];
    struct rel_sync opened, cut;
    trust_with(addr, "mode=0666", squat, sizeof squat);
    trust_sync_init();
    rel_sync_init(&opened);
    rel_sync_init(&cut);
    pid_t att = rel_spawn_nobody(attacker_truncates, squat);
    if (!rel_sync_wait(&ts.ready, REL_CHILD_MS))
        fail_msg("nobody did not make %s", addr);
    pid_t vic = tu_fork();
    assert_true(vic >= 0);
    if (vic == 0)
        _exit(victim_sends(victim_addr, &opened, &cut));
    rel_sync_wait(&opened, REL_CHILD_MS);
    rel_sync_post(&ts.go);
    rel_sync_wait(&ts.done, REL_CHILD_MS);
    rel_sync_post(&cut);
    static char end[128];
    int status = 0;
    bool ended = tu_wait(vic, REL_CHILD_MS, &status);
    tu_status_str(status, end, sizeof end);
    rel_sync_post(&ts.go);
    const char *att_end = tu_child_end(att, REL_CHILD_MS);
    trust_sync_close();
    rel_sync_close(&opened);
    rel_sync_close(&cut);
    char base[REL_ADDR_MAX];
    rel_addr_base(addr, base, sizeof base);
    if (ipc_unlink(addr) != IPC_OK)
        shm_unlink(base + 4); /* a cut ring may not read as a ring */
    if (att_end)
        fail_msg("attacker: %s", att_end);
    if (!ended)
        fail_msg("the victim hung");
    return end;
}

/* The attacker makes the ring and cuts it to 0 bytes under root's sender.
 * By default root's open is refused (no mapping: nothing to fault on).
 * With owner=65534 root trusted the attacker on purpose: what the
 * truncation does then is printed, the residual risk the README's trust
 * section states. */
static void test_shm_truncate(void **state)
{
    (void)state;
    if (!trust_scheme("shm")) {
        print_message("(not a shared-memory row)\n");
        return;
    }
    if (!trust_need_root())
        return;
    char addr[REL_ADDR_MAX], trusted[REL_ADDR_MAX + 32];
    rel_addr(addr, sizeof addr, NULL);
    const char *end = trust_truncate_run(addr, addr);
    if (strcmp(end, "exit 0") != 0)
        fail_msg("root's sender on nobody's ring: %s (exit 0: refused at "
                 "open with IPC_EACCES naming uid %d; 2: opened and sent; "
                 "3: another error)",
                 end, REL_NOBODY);
    rel_addr(addr, sizeof addr, NULL);
    trust_with(addr, "owner=" T_NOBODY_S, trusted, sizeof trusted);
    end = trust_truncate_run(addr, trusted);
    rel_figure("a ring trusted by owner=65534 and truncated: the "
               "victim ended with %s (exit 1: its sends failed; 2: "
               "they succeeded; a signal: it was killed)",
               end);
}

static const struct rel_test trust_tests[] = {
    {"squat", test_squat, REL_NAMED},
    {"symlink", test_symlink, REL_NAMED},
    {"abstract_mode", test_abstract_mode, REL_NAMED},
    {"shm_truncate", test_shm_truncate, REL_NAMED},
    {NULL, NULL, REL_ANY},
};

int main(int argc, char **argv)
{
    return rel_main(argc, argv, "trust", trust_tests);
}
