/* SPDX-License-Identifier: MIT */
/* IPC_F_REPLACE under a race (issue 12, defect 4): N receivers replace the
 * same stale name at once; exactly one wins, the others get a clear error,
 * and the winner is the one a sender reaches (nobody orphaned). One ctest
 * per named row of tests/common/backends.def. */
#include "rel.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#define RP_RACERS 6
#define RP_ROUNDS 20

struct rp_board {
    _Atomic int opened[RP_RACERS]; /* 1 won, 2 lost (clear error), 3 bad */
    _Atomic int code[RP_RACERS];   /* the loser's ipc_err */
    _Atomic int got[RP_RACERS];    /* the winner received the message */
};

struct rp_racer {
    const char *addr;
    struct rp_board *board;
    int gate[2]; /* EOF on gate[0] starts the race */
    int idx;
};

static int rp_race(void *arg)
{
    struct rp_racer *r = arg;
    char c;
    close(r->gate[1]);
    while (read(r->gate[0], &c, 1) < 0)
        ;
    ipc_channel *rx = NULL;
    ipc_err err =
        ipc_open(r->addr, IPC_F_RECV | IPC_F_CREATE | IPC_F_REPLACE, 2000, &rx);
    if (err != IPC_OK) {
        atomic_store(&r->board->code[r->idx], (int)err);
        bool clear = err == IPC_EEXIST || err == IPC_EBUSY;
        atomic_store(&r->board->opened[r->idx], clear ? 2 : 3);
        return 0;
    }
    atomic_store(&r->board->opened[r->idx], 1);
    char buf[16];
    size_t len;
    if (ipc_recv(rx, buf, sizeof buf, &len, NULL, 5000) == IPC_OK)
        atomic_store(&r->board->got[r->idx], 1);
    ipc_close(rx);
    return 0;
}

/* A receiver that made the name and was killed: a stale object. */
static void rp_make_stale(const char *addr)
{
    struct rel_sync s;
    rel_sync_init(&s);
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ipc_channel *rx;
        if (ipc_open(addr, IPC_F_RECV | IPC_F_CREATE | IPC_F_EXCL, 1000, &rx) !=
            IPC_OK)
            _exit(3);
        rel_sync_post(&s);
        pause();
        _exit(0);
    }
    assert_true(rel_sync_wait(&s, REL_CHILD_MS));
    tu_kill(pid);
    rel_sync_close(&s);
}

static void rp_round(int round)
{
    char addr[REL_ADDR_MAX];
    rel_addr(addr, sizeof addr, NULL);
    rp_make_stale(addr);
    struct rp_board *b = rel_shared(sizeof *b);
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    pid_t pid[RP_RACERS];
    struct rp_racer r[RP_RACERS];
    for (int i = 0; i < RP_RACERS; i++) {
        r[i] = (struct rp_racer){addr, b, {gate[0], gate[1]}, i};
        pid[i] = tu_spawn(rp_race, &r[i]);
    }
    close(gate[0]);
    close(gate[1]); /* go */
    int winners = 0, winner = -1;
    int64_t t0 = tu_now_ns();
    for (int i = 0; i < RP_RACERS; i++) {
        while (atomic_load(&b->opened[i]) == 0) {
            if (tu_elapsed_ms(t0) > REL_CHILD_MS)
                fail_msg("round %d: racer %d never finished its open", round,
                         i);
            tu_sleep_ms(1);
        }
        int o = atomic_load(&b->opened[i]);
        if (o == 3)
            fail_msg("round %d: racer %d: %s (want IPC_OK, or IPC_EEXIST / "
                     "IPC_EBUSY)",
                     round, i, ipc_strerror((ipc_err)atomic_load(&b->code[i])));
        if (o == 1) {
            winners++;
            winner = i;
        }
    }
    if (winners != 1)
        fail_msg("round %d: %d of %d racers replaced the stale name (want "
                 "exactly one: the others are orphaned)",
                 round, winners, RP_RACERS);
    ipc_channel *tx;
    assert_ipc_err(ipc_open(addr, IPC_F_SEND, 2000, &tx), IPC_OK);
    assert_ipc_err(ipc_send(tx, "hello", 5, 0, 2000), IPC_OK);
    for (int i = 0; i < RP_RACERS; i++)
        assert_null(tu_child_end(pid[i], REL_CHILD_MS));
    ipc_close(tx);
    if (!atomic_load(&b->got[winner]))
        fail_msg("round %d: the winner never got the message a sender "
                 "sent to the name",
                 round);
    ipc_unlink(addr); /* the winner removed it: nothing to do, normally */
}

static void test_replace_race(void **state)
{
    (void)state;
    if (!(rel.row->flags & TU_R_STALE_SURVIVES)) {
        print_message("%s: a dead creator leaves nothing behind: skipped\n",
                      rel.row->name);
        return;
    }
    if (rel.row->flags & TU_R_REPLACES_LIVE) {
        /* A queue cannot tell a live owner from a stale one: a racer that
         * comes after the winner replaces it by design (ipc.h). */
        print_message("%s: replaces live objects by design: skipped\n",
                      rel.row->name);
        return;
    }
    for (int round = 0; round < RP_ROUNDS; round++)
        rp_round(round);
}

/* Creators of socket files and FIFOs lock the directory; anyone who can
 * read it can hold that lock: a create must keep to its deadline. */
static void test_dir_lock_held(void **state)
{
    (void)state;
    char addr[REL_ADDR_MAX], path[REL_PATH_MAX];
    rel_addr(addr, sizeof addr, NULL);
    if (strcmp(rel.row->scheme, "unix") != 0 &&
        strcmp(rel.row->scheme, "fifo") != 0) {
        print_message("%s: no directory lock: skipped\n", rel.row->name);
        return;
    }
    if (!rel_fs_path(addr, path, sizeof path)) {
        print_message("%s: not in a directory: skipped\n", rel.row->name);
        return;
    }
    *strrchr(path, '/') = '\0';
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    assert_int_equal(flock(dfd, LOCK_EX), 0);
    ipc_channel *rx = NULL;
    int64_t t0 = tu_now_ns();
    ipc_err err = ipc_open(addr, IPC_F_RECV | IPC_F_CREATE, 200, &rx);
    double ms = tu_elapsed_ms(t0);
    close(dfd);
    ipc_close(rx);
    assert_ipc_err(err, IPC_ETIMEDOUT);
    assert_true(ms >= 200 && ms < 200 + REL_LATE_MS);
    assert_ipc_err(ipc_open(addr, IPC_F_RECV | IPC_F_CREATE, 1000, &rx),
                   IPC_OK);
    ipc_close(rx);
}

static const struct rel_test rp_tests[] = {
    {"replace_race", test_replace_race, REL_NAMED},
    {"dir_lock_held", test_dir_lock_held, REL_NAMED},
    {NULL, NULL, REL_ANY},
};

int main(int argc, char **argv)
{
    return rel_main(argc, argv, "replace", rp_tests);
}
