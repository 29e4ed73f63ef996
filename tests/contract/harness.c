/* SPDX-License-Identifier: MIT */
/* Contract-suite plumbing: fixture, links, children, assertions. */
#include "contract.h"
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const struct ct_backend *ct_backend;

void ct_detail_set_at(const char *file, int line)
{
    const char *d = ipc_last_detail();
    if (d && d[0] != '\0')
        return;
    fail_msg("%s:%d: ipc_last_detail() is empty after a failed call", file,
             line);
}

void ct_took_at(int64_t start_ns, int want_ms, const char *file, int line)
{
    double took = tu_elapsed_ms(start_ns);
    if (took >= (double)want_ms && took <= (double)(want_ms + CT_LATE_MS))
        return;
    fail_msg(
        "%s:%d: a wait of %d ms took %.3f ms (%s)", file, line, want_ms, took,
        took < want_ms ? "EARLY: a timeout never ends early" : "far too late");
}

void ct_addr_opts(char *buf, size_t size, const char *base, const char *opts)
{
    int n;
    if (opts && opts[0])
        n = snprintf(buf, size, "%s?%s", base, opts);
    else
        n = snprintf(buf, size, "%s", base);
    assert_true(n > 0 && (size_t)n < size);
}

void ct_pair_addr(const struct ct_fx *fx, char *buf, size_t size,
                  const char *opts)
{
    char base[64];
    snprintf(base, sizeof base, "%s:", fx->be->scheme);
    ct_addr_opts(buf, size, base, opts);
}

static char *ct_name_slot(struct ct_fx *fx)
{
    assert_non_null(fx->mode);
    assert_non_null(fx->mode->naming);
    assert_true(fx->n_names < CT_MAX_NAMES);
    fx->name_naming[fx->n_names] = fx->mode->naming;
    return fx->names[fx->n_names++];
}

const char *ct_new_name(struct ct_fx *fx)
{
    char *slot = ct_name_slot(fx);
    ct_naming_make(fx->mode->naming, slot, CT_ADDR_MAX);
    return slot;
}

const char *ct_new_name_len(struct ct_fx *fx, size_t len)
{
    char *slot = ct_name_slot(fx);
    ct_naming_make_len(fx->mode->naming, slot, CT_ADDR_MAX, len);
    return slot;
}

static void ct_drop_name(struct ct_fx *fx, int i)
{
    const struct ct_naming *nm = fx->name_naming[i];
    if (nm)
        ct_naming_drop(nm, fx->names[i]);
    fx->name_naming[i] = NULL;
}

void ct_drop_last_name(struct ct_fx *fx)
{
    assert_true(fx->n_names > 0);
    ct_drop_name(fx, --fx->n_names);
}

bool ct_fs_path(const struct ct_fx *fx, const char *addr, char *buf,
                size_t size)
{
    return ct_named(fx) && tu_row_fs(fx->mode->naming->row, addr, buf, size);
}

unsigned ct_tx_caps(const struct ct_fx *fx)
{
    if (ct_named(fx))
        return fx->be->send_caps;
    unsigned rx_only = fx->be->recv_closed ? IPC_CAP_PEER_CLOSED : 0;
    return fx->be->pair_caps & ~rx_only;
}

unsigned ct_rx_caps(const struct ct_fx *fx)
{
    return ct_named(fx) ? fx->be->recv_caps : fx->be->pair_caps;
}

void ct_link(struct ct_fx *fx, const char *opts)
{
    assert_null(fx->tx);
    assert_null(fx->rx);
    if (!ct_named(fx)) {
        char addr[CT_ADDR_MAX];
        ipc_channel *ends[2] = {NULL, NULL};
        ct_pair_addr(fx, addr, sizeof addr, opts);
        assert_ipc_err(ipc_pair(addr, 0, ends), IPC_OK);
        fx->tx = ends[0];
        fx->rx = ends[1];
        fx->addr[0] = '\0';
        return;
    }
    const char *name = ct_new_name(fx);
    ct_addr_opts(fx->addr, sizeof fx->addr, name, opts);
    assert_ipc_err(ipc_open(fx->addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV,
                            2000, &fx->rx),
                   IPC_OK);
    assert_ipc_err(ipc_open(fx->addr, IPC_F_SEND, 2000, &fx->tx), IPC_OK);
}

void ct_link_close(struct ct_fx *fx)
{
    ipc_close(fx->tx);
    ipc_close(fx->rx);
    fx->tx = fx->rx = NULL;
}

ipc_channel *ct_keep(struct ct_fx *fx, ipc_channel *ch)
{
    for (int i = 0; i < CT_MAX_EXTRA; i++) {
        if (!fx->extra[i]) {
            fx->extra[i] = ch;
            return ch;
        }
    }
    fail_msg("%s", "too many extra ends in one test");
    return ch;
}

void ct_close_extra(struct ct_fx *fx, ipc_channel *ch)
{
    for (int i = 0; i < CT_MAX_EXTRA; i++)
        if (fx->extra[i] == ch)
            fx->extra[i] = NULL;
    ipc_close(ch);
}

void ct_send_pat(ipc_channel *ch, size_t len, uint64_t seed, int timeout_ms)
{
    unsigned char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    tu_pattern(buf, len, seed);
    ipc_err err = ipc_send(ch, buf, len, 0, timeout_ms);
    free(buf);
    assert_ipc_err(err, IPC_OK);
}

void ct_recv_pat(ipc_channel *ch, size_t len, uint64_t seed, int timeout_ms)
{
    /* One spare byte: a longer message than expected shows as a length
     * mismatch, not as EMSGSIZE. */
    size_t cap = len + 1;
    unsigned char *buf = malloc(cap);
    size_t got = (size_t)-1;
    assert_non_null(buf);
    ipc_err err = ipc_recv(ch, buf, cap, &got, NULL, timeout_ms);
    if (err != IPC_OK) {
        free(buf);
        assert_ipc_err(err, IPC_OK);
        return;
    }
    size_t bad = got == len ? tu_pattern_check(buf, len, seed) : len;
    free(buf);
    if (got != len) {
        print_error("received %zu bytes, expected %zu\n", got, len);
        fail();
    }
    if (bad != len) {
        print_error("message of %zu bytes differs at byte %zu\n", len, bad);
        fail();
    }
}

/* ---------------------------------------------------------------- children */

pid_t ct_spawn(struct ct_fx *fx, ct_child_fn fn, void *arg)
{
    pid_t pid = tu_fork();
    if (pid == 0)
        _exit(fn(fx, arg));
    assert_true(pid > 0);
    return pid;
}

static int ct_refused_child(struct ct_fx *fx, void *arg)
{
    const char *addr = arg;
    ipc_channel *ch = NULL;
    char buf[8];
    size_t len;
    if (addr && ipc_open(addr, IPC_F_SEND, 0, &ch) != IPC_ENOTSUP)
        return tu_child_fail(1, "open %s in a forked child: not IPC_ENOTSUP",
                             addr);
    if (fx->tx && ipc_send(fx->tx, "x", 1, 0, 0) != IPC_ENOTSUP)
        return tu_child_fail(2, "send in a forked child: not IPC_ENOTSUP");
    if (fx->rx &&
        ipc_recv(fx->rx, buf, sizeof buf, &len, NULL, 0) != IPC_ENOTSUP)
        return tu_child_fail(3, "receive in a forked child: not IPC_ENOTSUP");
    return 0;
}

bool ct_fork_refused(struct ct_fx *fx, const char *addr)
{
    if (!fx->be->no_fork)
        return false;
    assert_child_ok(ct_spawn(fx, ct_refused_child, (void *)addr), CT_CHILD_MS);
    return true;
}

ipc_channel *ct_child_sender(struct ct_fx *fx)
{
    if (!ct_named(fx))
        return fx->tx;
    ipc_channel *ch = NULL;
    ipc_err err = ipc_open(fx->addr, IPC_F_SEND, 5000, &ch);
    if (err != IPC_OK) {
        tu_child_fail(1, "ipc_open(%s, SEND): %s", fx->addr, ipc_errname(err));
        return NULL;
    }
    return ch;
}

void ct_child_release(struct ct_fx *fx, ipc_channel *tx)
{
    if (ct_named(fx))
        ipc_close(tx);
}

/* ---------------------------------------------------------------- fixture */

int ct_setup(void **state)
{
    const struct ct_case *tc = *state;
    struct ct_fx *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    fx->be = ct_backend;
    fx->mode = tc->mode;
    tu_test_name = tc->name;
    *state = fx;
    /* Every test runs under a watchdog: a hang is a failure, not a stall. */
    tu_watchdog(60);
    return 0;
}

int ct_teardown(void **state)
{
    struct ct_fx *fx = *state;
    int rc = 0;
    tu_watchdog(0);
    tu_kill_live();
    ct_link_close(fx);
    for (int i = 0; i < CT_MAX_EXTRA; i++)
        ipc_close(fx->extra[i]);
    /* Nothing left behind: every name the test made must be gone now. */
    for (int i = 0; i < fx->n_names; i++) {
        char path[CT_ADDR_MAX];
        ipc_channel *ch = NULL;
        if (ipc_open(fx->names[i], IPC_F_SEND, 0, &ch) == IPC_OK) {
            print_error("left behind: %s still takes senders after the test "
                        "closed every end\n",
                        fx->names[i]);
            ipc_close(ch);
            rc = -1;
        }
        ipc_err err = ipc_unlink(fx->names[i]);
        if (err == IPC_OK) {
            print_error("left behind: %s was still there after the test "
                        "closed every end\n",
                        fx->names[i]);
            rc = -1;
        }
        if (ct_fs_path(fx, fx->names[i], path, sizeof path) &&
            tu_path_exists(path)) {
            print_error("left behind: %s still exists\n", path);
            unlink(path);
            rc = -1;
        }
        ct_drop_name(fx, i);
    }
    free(fx);
    return rc;
}
