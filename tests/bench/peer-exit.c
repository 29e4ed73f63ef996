/* SPDX-License-Identifier: MIT */
/* peer-exit: how long a receiver takes to hear IPC_ECLOSED after its last
 * sender is killed (SIGKILL), per backend row; median and max over rounds.
 * Usage: peer-exit [rounds] [row,...] (default 21 rounds, every row of
 * tests/common/backends.def whose scheme is built). Rows whose receiver
 * has no IPC_CAP_PEER_CLOSED are checked once to wait out a short timeout
 * instead, and say so. Time runs from just before kill() to the return of
 * the receive that answered IPC_ECLOSED, so it includes the kernel's
 * teardown of the killed process. */
#include <ipc/ipc.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends.h"
#include "testutil.h"

#define PE_ROUNDS_DEFAULT 21
#define PE_ROUNDS_MAX     1000
#define PE_WAIT_MS        5000 /* a receive longer than this is a failure */
#define PE_NO_CLOSE_MS    300

struct pe_link {
    ipc_channel *tx, *rx;
    char addr[256];
};

static ipc_err pe_open(const struct tu_row *row, struct pe_link *l)
{
    l->tx = l->rx = NULL;
    tu_row_addr(row, tu_tmpdir(), "ipcpe", l->addr, sizeof l->addr, NULL);
    if (row->flags & TU_R_FTOK) {
        /* The key comes from a file that must exist. */
        int fd = open(strchr(l->addr, ':') + 1, O_CREAT | O_WRONLY | O_CLOEXEC,
                      0600);
        if (fd >= 0)
            close(fd);
    }
    if (!tu_row_named(row)) {
        ipc_channel *ends[2] = {NULL, NULL};
        ipc_err err = ipc_pair(l->addr, 0, ends);
        l->tx = ends[0];
        l->rx = ends[1];
        return err;
    }
    return ipc_open(l->addr, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 2000,
                    &l->rx);
}

/* The child: the last sender. Sends one message, says so, waits to die. */
static void pe_sender(const struct tu_row *row, struct pe_link *l, int ready)
{
    ipc_channel *tx = l->tx;
    if (tu_row_named(row) && ipc_open(l->addr, IPC_F_SEND, 2000, &tx) != IPC_OK)
        _exit(2);
    if (ipc_send(tx, "x", 1, 0, 2000) != IPC_OK || write(ready, "r", 1) != 1)
        _exit(3);
    for (;;)
        pause();
}

/* One round: the time in microseconds from kill() to IPC_ECLOSED, or -1
 * (the error is printed). With closes false, the receive must time out. */
static double pe_round(const struct tu_row *row, bool closes)
{
    struct pe_link l;
    ipc_err err = pe_open(row, &l);
    if (err != IPC_OK) {
        fprintf(stderr, "%s: open: %s (%s)\n", row->name, ipc_errname(err),
                ipc_last_detail());
        return -1;
    }
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = tu_fork();
    if (pid == 0) {
        close(p[0]);
        pe_sender(row, &l, p[1]);
    }
    close(p[1]);
    ipc_close(l.tx); /* a pair's child holds the only sender */
    char c, buf[64];
    size_t len;
    double us = -1;
    if (read(p[0], &c, 1) != 1 ||
        (err = ipc_recv(l.rx, buf, sizeof buf, &len, NULL, 2000)) != IPC_OK) {
        fprintf(stderr, "%s: the sender's message: %s\n", row->name,
                ipc_errname(err));
    } else {
        int64_t t0 = tu_now_ns();
        kill(pid, SIGKILL);
        err = ipc_recv(l.rx, buf, sizeof buf, &len, NULL,
                       closes ? PE_WAIT_MS : PE_NO_CLOSE_MS);
        int64_t t1 = tu_now_ns();
        if (err == (closes ? IPC_ECLOSED : IPC_ETIMEDOUT))
            us = (double)(t1 - t0) / 1000.0;
        else
            fprintf(stderr, "%s: after the kill: %s (%s)\n", row->name,
                    ipc_errname(err), ipc_last_detail());
    }
    close(p[0]);
    tu_kill(pid);
    ipc_close(l.rx);
    if (row->flags & TU_R_FTOK)
        unlink(strchr(l.addr, ':') + 1);
    return us;
}

static int pe_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool pe_wanted(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;
         p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    return !list;
}

static int pe_row(const struct tu_row *row, int rounds)
{
    static double t[PE_ROUNDS_MAX];
    const struct tu_scheme *s = tu_row_scheme(row);
    unsigned caps = tu_row_named(row) ? s->recv_caps : s->pair_caps;
    if (s->props & TU_S_NO_FORK) { /* nng: a forked sender gets ENOTSUP */
        printf("| %-13s | no `IPC_ECLOSED` | | not run: a forked sender "
               "cannot use it, and it has no peer-closed event |\n",
               row->name);
        return 0;
    }
    if (!(caps & IPC_CAP_PEER_CLOSED)) {
        double us = pe_round(row, false);
        printf("| %-13s | no `IPC_ECLOSED` | | waits out its timeout%s |\n",
               row->name, us < 0 ? " (FAILED)" : "");
        return us < 0;
    }
    for (int i = 0; i < rounds; i++)
        if ((t[i] = pe_round(row, true)) < 0) {
            printf("| %-13s | FAILED in round %d | | |\n", row->name, i);
            return 1;
        }
    qsort(t, (size_t)rounds, sizeof *t, pe_cmp);
    printf("| %-13s | %9.0f | %9.0f | %d rounds |\n", row->name, t[rounds / 2],
           t[rounds - 1], rounds);
    return 0;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : PE_ROUNDS_DEFAULT;
    const char *only = argc > 2 ? argv[2] : NULL;
    if (rounds < 1 || rounds > PE_ROUNDS_MAX) {
        fprintf(stderr, "usage: peer-exit [rounds 1..%d] [row,...]\n",
                PE_ROUNDS_MAX);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    printf("| row | median us | max us | |\n|---|---|---|---|\n");
    int failed = 0;
    for (const struct tu_row *row = tu_rows; row->name; row++) {
        unsigned caps = 0;
        if (!pe_wanted(only, row->name) ||
            ipc_scheme_caps(tu_row_scheme(row)->scheme, &caps) != IPC_OK)
            continue; /* not asked for, or built out */
        fflush(stdout);
        failed |= pe_row(row, rounds);
    }
    return failed;
}
