/* SPDX-License-Identifier: MIT */
/* Contract: named objects: creation, ownership, stale ones, removal, mode. */
#include "contract.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned create_excl = IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV;
static const unsigned create_replace =
    IPC_F_CREATE | IPC_F_REPLACE | IPC_F_RECV;

static int create_and_crash(struct ct_fx *fx, void *arg)
{
    const char *addr = arg;
    ipc_channel *ch = NULL;
    (void)fx;
    ipc_err err = ipc_open(addr, create_excl, 2000, &ch);
    if (err != IPC_OK)
        return tu_child_fail(3, "create %s: %s", addr, ipc_errname(err));
    _exit(0); /* a crash: no ipc_close */
}

/* A creator that dies leaves the object behind (where the OS keeps it):
 * CREATE|EXCL says IPC_EEXIST, CREATE|REPLACE takes the name over, and
 * ipc_unlink removes it once (then IPC_ENOENT). */
static void test_stale(void **state)
{
    struct ct_fx *fx = *state;
    const struct ct_naming *nm = fx->mode->naming;
    const char *addr = ct_new_name(fx);
    char path[CT_ADDR_MAX];
    bool fs = ct_fs_path(fx, addr, path, sizeof path);
    ipc_channel *ch = NULL, *tx = NULL;

    if (ct_fork_refused(fx, addr))
        return;
    assert_child_ok(ct_spawn(fx, create_and_crash, (void *)addr), CT_CHILD_MS);
    if (!nm->stale_survives) {
        /* Nothing is left: the name is free again. */
        assert_ipc_err(ipc_open(addr, create_excl, 2000, &ch), IPC_OK);
        ipc_close(ch);
        assert_ipc_err(ipc_unlink(addr), nm->unlink_missing);
        return;
    }
    if (fs)
        assert_true(tu_path_exists(path));
    assert_ipc_err(ipc_open(addr, create_excl, 2000, &ch), IPC_EEXIST);
    ct_detail_set();
    assert_null(ch);

    assert_ipc_err(ipc_open(addr, create_replace, 2000, &ch), IPC_OK);
    ct_keep(fx, ch);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 2000, &tx), IPC_OK);
    ct_keep(fx, tx);
    ct_send_pat(tx, 9, 9, CT_ARRIVE_MS);
    ct_recv_pat(ch, 9, 9, CT_ARRIVE_MS);
    ct_close_extra(fx, tx);

    assert_ipc_err(ipc_unlink(addr), IPC_OK);
    if (fs)
        assert_false(tu_path_exists(path));
    assert_ipc_err(ipc_unlink(addr), IPC_ENOENT);
    ct_detail_set();
    /* The creator's close after an unlink removes nothing else. */
    ct_close_extra(fx, ch);
    assert_ipc_err(ipc_unlink(addr), IPC_ENOENT);
}

/* A live object is never taken over: CREATE|EXCL and (where a live owner
 * can be told) CREATE|REPLACE give IPC_EEXIST, and it keeps working. */
static void test_live(void **state)
{
    struct ct_fx *fx = *state;
    ipc_channel *ch = NULL;

    ct_link(fx, "max_msg=64");
    assert_ipc_err(ipc_open(fx->addr, create_excl, 1000, &ch), IPC_EEXIST);
    ct_detail_set();
    assert_null(ch);
    if (fx->mode->naming->live_detected) {
        assert_ipc_err(ipc_open(fx->addr, create_replace, 1000, &ch),
                       IPC_EEXIST);
        ct_detail_set();
        assert_null(ch);
    }
    ct_send_pat(fx->tx, 12, 12, CT_ARRIVE_MS);
    ct_recv_pat(fx->rx, 12, 12, CT_ARRIVE_MS);
}

static int close_inherited(struct ct_fx *fx, void *arg)
{
    (void)arg;
    ipc_close(fx->tx);
    ipc_close(fx->rx);
    return 0;
}

/* Only the creator's close removes the object: a forked child closing its
 * inherited copy of the creator's end does not. After the creator's close
 * a sender gets IPC_ENOENT and the path is gone. */
static void test_creator_close(void **state)
{
    struct ct_fx *fx = *state;
    char path[CT_ADDR_MAX];
    ipc_channel *tx2 = NULL;

    ct_link(fx, "max_msg=64");
    bool fs = ct_fs_path(fx, fx->addr, path, sizeof path);
    if (fs)
        assert_true(tu_path_exists(path));
    if (ct_fork_refused(fx, fx->addr))
        return;
    assert_child_ok(ct_spawn(fx, close_inherited, NULL), CT_CHILD_MS);
    if (fs)
        assert_true(tu_path_exists(path));
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 2000, &tx2), IPC_OK);
    ct_keep(fx, tx2);
    ct_send_pat(tx2, 4, 4, CT_ARRIVE_MS);
    ct_recv_pat(fx->rx, 4, 4, CT_ARRIVE_MS);
    ct_close_extra(fx, tx2);

    /* A sender's close removes nothing either. */
    ipc_close(fx->tx);
    fx->tx = NULL;
    if (fs)
        assert_true(tu_path_exists(path));
    ipc_close(fx->rx);
    fx->rx = NULL;
    if (fs)
        assert_false(tu_path_exists(path));
    tx2 = NULL;
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 0, &tx2), IPC_ENOENT);
    ct_detail_set();
    assert_null(tx2);
    assert_ipc_err(ipc_unlink(fx->addr), fx->mode->naming->unlink_missing);
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return (unsigned)st.st_mode & 07777;
}

/* Path objects are made 0600 whatever the umask, or with ?mode= exactly. */
static void test_fs_mode(void **state)
{
    struct ct_fx *fx = *state;
    char path[CT_ADDR_MAX];
    mode_t old = umask(0);

    ct_link(fx, NULL);
    assert_true(ct_fs_path(fx, fx->addr, path, sizeof path));
    unsigned m = file_mode(path);
    umask(old);
    if (m != 0600)
        fail_msg("%s: mode %04o with umask 0, expected 0600", path, m);
    ct_link_close(fx);
    if (!fx->be->takes_mode)
        return;
    old = umask(077);
    ct_link(fx, "mode=0640");
    assert_true(ct_fs_path(fx, fx->addr, path, sizeof path));
    m = file_mode(path);
    umask(old);
    if (m != 0640)
        fail_msg("%s: mode %04o with ?mode=0640 and umask 077", path, m);
}

/* Names: the longest the OS allows works; one byte more, a control
 * character, or no name at all is IPC_EINVAL, and nothing is made. */
static void test_names(void **state)
{
    struct ct_fx *fx = *state;
    const struct ct_naming *nm = fx->mode->naming;
    char addr[CT_ADDR_MAX], path[CT_ADDR_MAX];
    ipc_channel *ch = NULL;

    const char *longest = ct_new_name_len(fx, nm->name_max);
    assert_int_equal(strlen(longest),
                     strlen(fx->be->scheme) + 1 + nm->name_max);
    assert_ipc_err(ipc_open(longest, create_excl, 1000, &ch), IPC_OK);
    ipc_close(ch);

    ct_naming_make_len(nm, addr, sizeof addr, nm->name_max + 1);
    ch = NULL;
    assert_ipc_err(ipc_open(addr, create_excl, 1000, &ch), IPC_EINVAL);
    ct_detail_set();
    assert_null(ch);
    if (ct_fs_path(fx, addr, path, sizeof path))
        assert_false(tu_path_exists(path));
    assert_ipc_err(ipc_unlink(addr), IPC_EINVAL);

    /* A control character inside the name. */
    snprintf(addr, sizeof addr, "%s", ct_new_name(fx));
    size_t n = strlen(addr);
    addr[n - 2] = '\n';
    assert_ipc_err(ipc_open(addr, create_excl, 1000, &ch), IPC_EINVAL);
    ct_detail_set();
    addr[n - 2] = '\x7f';
    assert_ipc_err(ipc_open(addr, create_excl, 1000, &ch), IPC_EINVAL);
    addr[n - 2] = '\t';
    assert_ipc_err(ipc_open(addr, create_excl, 1000, &ch), IPC_EINVAL);

    /* No name. */
    snprintf(addr, sizeof addr, "%s:", fx->be->scheme);
    assert_ipc_err(ipc_open(addr, create_excl, 1000, &ch), IPC_EINVAL);
    ct_detail_set();
    snprintf(addr, sizeof addr, "%s:?max_msg=64", fx->be->scheme);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &ch), IPC_EINVAL);
    assert_null(ch);
}

/* A file of another kind at the path is never removed or replaced. */
static void test_wrong_kind(void **state)
{
    struct ct_fx *fx = *state;
    const char *addr = ct_new_name(fx);
    char path[CT_ADDR_MAX];
    ipc_channel *ch = NULL;

    assert_true(ct_fs_path(fx, addr, path, sizeof path));
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    ipc_err e1 = ipc_open(addr, create_replace, 1000, &ch);
    ipc_err e2 = ipc_open(addr, create_excl, 1000, &ch);
    ipc_err e3 = ipc_unlink(addr);
    bool still = tu_path_exists(path);
    unlink(path);
    assert_true(still);
    assert_null(ch);
    assert_ipc_err(e1, IPC_EEXIST);
    assert_ipc_err(e2, IPC_EEXIST);
    assert_ipc_err(e3, IPC_EPROTO);
}

/* ?peer_uid=N on a sender requires the receiver's uid to be N: a wrong uid
 * is IPC_EACCES at open; the right one works. */
static void test_peer_uid_required(void **state)
{
    struct ct_fx *fx = *state;
    char addr[CT_ADDR_MAX], opts[64];
    ipc_channel *ch = NULL;

    if (!fx->be->takes_peer_uid) {
        ct_link(fx, NULL);
        ct_addr_opts(addr, sizeof addr, fx->names[0], "peer_uid=0");
        assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &ch), IPC_EINVAL);
        ct_detail_set();
        return;
    }
    ct_link(fx, "max_msg=64");
    snprintf(opts, sizeof opts, "max_msg=64&peer_uid=%lu",
             (unsigned long)getuid() + 1);
    ct_addr_opts(addr, sizeof addr, fx->names[0], opts);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &ch), IPC_EACCES);
    ct_detail_set();
    assert_null(ch);
    snprintf(opts, sizeof opts, "max_msg=64&peer_uid=%lu",
             (unsigned long)getuid());
    ct_addr_opts(addr, sizeof addr, fx->names[0], opts);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &ch), IPC_OK);
    ct_keep(fx, ch);
    ct_send_pat(ch, 5, 5, CT_ARRIVE_MS);
    ct_recv_pat(fx->rx, 5, 5, CT_ARRIVE_MS);
    snprintf(opts, sizeof opts, "peer_uid=x");
    ct_addr_opts(addr, sizeof addr, fx->names[0], opts);
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 1000, &ch), IPC_EINVAL);

    /* On the receiver: a sender of another uid is refused. Its message
     * never arrives, and once refused its sends say IPC_ECLOSED. */
    ipc_channel *rx2 = NULL, *tx2 = NULL;
    const char *name2 = ct_new_name(fx);
    snprintf(opts, sizeof opts, "peer_uid=%lu", (unsigned long)getuid() + 1);
    ct_addr_opts(addr, sizeof addr, name2, opts);
    assert_ipc_err(ipc_open(addr, create_excl, 1000, &rx2), IPC_OK);
    ct_keep(fx, rx2);
    assert_ipc_err(ipc_open(name2, IPC_F_SEND, 1000, &tx2), IPC_OK);
    ct_keep(fx, tx2);
    ipc_err first = ipc_send(tx2, "no", 2, 0, 1000);
    if (first != IPC_OK && first != IPC_ECLOSED)
        assert_ipc_err(first, IPC_OK);
    char buf[8];
    size_t len;
    assert_ipc_err(ipc_recv(rx2, buf, sizeof buf, &len, NULL, 200),
                   IPC_ETIMEDOUT);
    assert_ipc_err(ipc_send(tx2, "no", 2, 0, 1000), IPC_ECLOSED);
}

const struct ct_test ct_tests_named[] = {
    {"stale", test_stale, CT_EACH_NAMING},
    {"live", test_live, CT_EACH_NAMING},
    {"creator_close", test_creator_close, CT_EACH_NAMING},
    {"names", test_names, CT_EACH_NAMING},
    {"peer_uid_required", test_peer_uid_required, CT_EACH_NAMING},
    {"fs_mode", test_fs_mode, CT_EACH_FS_NAMING},
    {"wrong_kind", test_wrong_kind, CT_EACH_FS_NAMING},
    {NULL, NULL, CT_ONCE},
};
