/* SPDX-License-Identifier: MIT */
/* The reliability and security suite: backend rows, links, checked messages,
 * children, leak and descriptor checks shared by every rel program. */
#ifndef IPC_REL_H
#define IPC_REL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "backends.h"
#include "check.h"
#include "ipc/ipc.h"
#include "ipc_int.h"
#include "testutil.h"

#define REL_ADDR_MAX 512
#define REL_PATH_MAX 512

/* ctest's SKIP_RETURN_CODE: the row's backend is built out. */
#define REL_SKIP 77

/* Slack for a wait that ends late (shared 2-core machines, valgrind); a
 * wait may never end early. */
#define REL_LATE_MS 3000
/* How long a helper process may take before it counts as hung. */
#define REL_CHILD_MS 30000

/* uid and gid of "nobody" for the permission tests. */
#define REL_NOBODY 65534

/* The row under test and what the library says about its backend. */
struct rel_ctx {
    const struct tu_row *row;     /* backends.def */
    const struct ipc_backend *be; /* internal table: keys and limits */
    bool named;                   /* the row's address has a name */
    const char *suite;            /* "kill9", "perms", ... */
    uint64_t seed;
    char run_dir[REL_PATH_MAX]; /* {tmp}: private, removed at the end */
    char prefix[64];            /* "ipcrel-<pid>-": every name made */
};
extern struct rel_ctx rel;

/* Does the row's backend take the option (?capacity=: a depth of 1 or
 * more)? */
bool rel_takes(enum ipc__key key);

/* ---------------------------------------------------------------- driver */

enum rel_need {
    REL_ANY,   /* every row */
    REL_NAMED, /* rows with a named address */
    REL_PAIR,  /* pair rows */
};

struct rel_test {
    const char *name;
    CMUnitTestFunction fn;
    enum rel_need need;
};

/* `prog <row>`: run the tests that apply to the row, then the leak checks.
 * Exit 0 on success, REL_SKIP if the backend is built out. */
int rel_main(int argc, char **argv, const char *suite,
             const struct rel_test *tests);

/* A long form was asked for (IPC_REL_LONG=1): bigger default counts. */
bool rel_long(void);
/* An integer from the environment, else dflt (short) or dflt_long. */
long rel_env(const char *name, long dflt, long dflt_long);

/* Print a figure line for the report: "rel.kill9.pipe: rounds 200 ...". */
void rel_figure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------------- names */

/* A fresh address for the row with options (opts may be NULL): named rows
 * get a new unique name, remembered for the leftover checks; pair rows get
 * "scheme:?opts". */
void rel_addr(char *buf, size_t size, const char *opts);
/* The file-system path of a named address made by rel_addr, or false. */
bool rel_fs_path(const char *addr, char *buf, size_t size);
/* The address without its "?options". */
void rel_addr_base(const char *addr, char *buf, size_t size);

/* ---------------------------------------------------------------- links */

/* A channel for a test: pair ends, or a named receiver (creator) and one
 * sender opened by this process. */
struct rel_link {
    ipc_channel *tx;
    ipc_channel *rx;
    char addr[REL_ADDR_MAX]; /* named: the full address with options */
};

/* Open a link: IPC_OK or the first error (with the detail). */
ipc_err rel_link_open(struct rel_link *l, const char *opts);
void rel_link_close(struct rel_link *l);
/* The named receiver (creator) alone, at l->addr made here. */
ipc_err rel_link_open_rx(struct rel_link *l, const char *opts);

/* The largest max_msg up to want (halving from want) that the row's
 * backend accepts on this machine; fails the test if none from want down
 * to REL_MSG_HDR does. */
size_t rel_max_msg_upto(size_t want);

/* ---------------------------------------------------------------- messages
 *
 * A checked message: a 32-byte header (magic, producer, sequence, length,
 * FNV-1a checksum of header and payload) and a payload whose bytes follow
 * from (seed, producer, seq). A receiver can tell a whole message of a
 * known sender from anything else. */
#define REL_MSG_HDR 32u

/* Fill buf[len] (len >= REL_MSG_HDR) as message seq of producer. */
void rel_msg_fill(void *buf, size_t len, uint32_t producer, uint64_t seq);
/* Check a received message; NULL if good, else what is wrong (static). On
 * success *producer and *seq are set. */
const char *rel_msg_check(const void *buf, size_t len, uint32_t nproducers,
                          uint32_t *producer, uint64_t *seq);
/* A random message length in REL_MSG_HDR..max_msg; big_bias in 0..4 is the
 * chance in quarters of a length in the top quarter (kill -9 wants large
 * ones, to die mid-message). */
size_t rel_msg_len(uint64_t *rng, size_t max_msg, unsigned big_bias);

/* Zeroed memory shared with forked children (MAP_SHARED); never freed. */
void *rel_shared(size_t size);

/* A small generator for children and threads (splitmix64 steps). */
uint64_t rel_rand(uint64_t *state);

/* ---------------------------------------------------------------- timing */

/* Check a call that was given timeout_ms and answered err after it began
 * at start_ns: never late past timeout + slack, and a timeout never early.
 * NULL if fine, else a message (static buffer of the calling thread). */
const char *rel_wait_check(int64_t start_ns, int timeout_ms, ipc_err err);

/* ---------------------------------------------------------------- children */

/* Children: tu_fork(), tu_child_exit(), assert_child_ok(pid, REL_CHILD_MS),
 * tu_reap() and tu_kill() (check.h, testutil.h); the teardown of a test
 * kills what it left running. */

/* In a child: drop to uid/gid 65534 (nobody). false if not possible. */
bool rel_become_nobody(void);
/* Start fn(arg) in a child that drops to nobody first (it exits 90 if it
 * cannot); fn's result is its exit code. */
pid_t rel_spawn_nobody(int (*fn)(const char *arg), const char *arg);
/* Is the suite root (permission tests need to switch uid)? */
bool rel_is_root(void);

/* A one-byte message between parent and child over a pipe pair. */
struct rel_sync {
    int fd[2];
};
void rel_sync_init(struct rel_sync *s);
void rel_sync_post(struct rel_sync *s);
bool rel_sync_wait(struct rel_sync *s, int ms);
void rel_sync_close(struct rel_sync *s);

/* ---------------------------------------------------------------- checks */

/* Does the detail of the last failed call name an OS limit (a limit word
 * and a number)? */
bool rel_detail_names_limit(void);

/* Count open descriptors (/proc/self/fd), excluding the counting one. */
int rel_fd_count(void);

/* Leftovers made by this process: names with our prefix anywhere the OS
 * keeps IPC objects (run dir, $TMPDIR, /tmp, /dev/shm, /dev/mqueue,
 * /proc/net/unix), SysV queues with our keys or touched by our processes.
 * Prints each; returns how many. */
int rel_leftovers(bool remove);

#endif /* IPC_REL_H */
