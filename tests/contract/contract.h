/* SPDX-License-Identifier: MIT */
/* The contract suite: backend table, per-test fixture, shared helpers. */
#ifndef IPC_CONTRACT_H
#define IPC_CONTRACT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backends.h"
#include "check.h"
#include "ipc/ipc.h"
#include "testutil.h"

/* Room for a full 4095-byte path name (fifo: paths, sysv: ftok keys) plus
 * options. */
#define CT_ADDR_MAX  4608
#define CT_MAX_NAMES 8
#define CT_MAX_EXTRA 8

/* Generous slack for a wait that ends late (valgrind, loaded CI machines);
 * a wait never may end early. */
#define CT_LATE_MS 3000
/* How long a message that was sent may take to arrive (and a send with
 * room to go through): a library's threads (nng) or the kernel's softirqs
 * (tcp) can lose a second to a loaded two-core machine. Only a failing
 * test waits it out. */
#define CT_ARRIVE_MS 5000
/* How long a helper process may take before it counts as hung. */
#define CT_CHILD_MS 20000

/* ---------------------------------------------------------------- table */

/* One way of naming a channel of a backend ("unix:/path", "unix:@name"):
 * a named row of backends.def. */
struct ct_naming {
    const char *name;         /* test-name prefix: "path", "abstract" */
    const struct tu_row *row; /* its address template, fs path, flags */
    size_t name_max;          /* longest name part accepted, bytes */
    bool stale_survives;      /* a creator that dies leaves the object */
    bool live_detected;       /* IPC_F_REPLACE refuses an object in use */
    ipc_err unlink_missing;   /* ipc_unlink of a missing object */
};

/* A fresh unique address without options: "unix:/tmp/ipct-1-2-ab" (an
 * ftok naming also makes the key file). */
void ct_naming_make(const struct ct_naming *nm, char *buf, size_t size);
/* An address whose name part (after "scheme:") is exactly len bytes,
 * unique, in a directory where it can be created. */
void ct_naming_make_len(const struct ct_naming *nm, char *buf, size_t size,
                        size_t len);
/* Remove what the naming made beside the channel (the file a sysv: key
 * comes from); called in teardown after the leftover checks. */
void ct_naming_drop(const struct ct_naming *nm, const char *addr);

#define CT_MAX_NAMINGS 3

/* What the suite expects of one backend: its TU_SCHEME line and named
 * TU_ROW lines of tests/common/backends.def (a backend joins there). */
struct ct_backend {
    const char *name;   /* argv[1] and the ctest name: contract.<name> */
    const char *scheme; /* "pipe" */
    unsigned pair_caps; /* caps of both pair ends; 0: no pairs */
    unsigned pair_dir[2];
    unsigned recv_caps; /* caps of the named creator (receiver); 0: no names */
    unsigned send_caps; /* caps of a named sender */
    const struct ct_naming *namings[CT_MAX_NAMINGS + 1]; /* NULL-ended */
    size_t max_msg_default;
    size_t max_msg_max;  /* largest max_msg option accepted */
    bool takes_capacity; /* accepts ?capacity= */
    bool takes_mode;     /* accepts ?mode= */
    bool takes_peer_uid; /* accepts ?peer_uid= */
    bool framed;         /* messages carry frame.h headers, and a write()
                            to the send end's pollfd reaches the receiver
                            raw (so a test can play a hostile peer) */
    bool no_fds;         /* ends hold no descriptors (SysV ids): nothing to
                            mark close-on-exec */
    bool windowed;       /* TU_S_WINDOWED: room returns in steps */
    bool lossy;          /* TU_S_LOSSY: may lose or reorder, never full */
    bool async;          /* TU_S_ASYNC: delivery after the send returns */
    bool no_fork;        /* TU_S_NO_FORK: forked children get IPC_ENOTSUP */
    bool recv_closed;    /* TU_S_RECV_CLOSED: a pair's sender lacks
                            PEER_CLOSED */
};

/* The backend of a scheme in the table (static storage, one at a time);
 * NULL if the table has no such scheme. */
const struct ct_backend *ct_backend_load(const char *scheme);

/* How a test reaches a channel: a pair, or one naming of the backend. */
struct ct_mode {
    const char *name;
    const struct ct_naming *naming; /* NULL: a pair */
};

/* ---------------------------------------------------------------- fixture */

struct ct_fx {
    const struct ct_backend *be;
    const struct ct_mode *mode;       /* NULL for once-per-backend tests */
    ipc_channel *tx;                  /* the link: tx sends ... */
    ipc_channel *rx;                  /* ... rx receives */
    ipc_channel *extra[CT_MAX_EXTRA]; /* other ends, closed in teardown */
    char addr[CT_ADDR_MAX]; /* named link: its full address, with options */
    char names[CT_MAX_NAMES][CT_ADDR_MAX]; /* every name made: checked gone */
    const struct ct_naming *name_naming[CT_MAX_NAMES]; /* maker of each */
    int n_names;
};

static inline bool ct_named(const struct ct_fx *fx)
{
    return fx->mode && fx->mode->naming;
}

/* Scope of a test: run for every mode, every naming, every naming that
 * shows in the file system, the pair of a framed backend, or once. */
enum ct_scope {
    CT_EACH_MODE,
    CT_EACH_NAMING,
    CT_EACH_FS_NAMING,
    CT_FRAMED_PAIR,
    CT_ONCE
};

struct ct_test {
    const char *name;
    CMUnitTestFunction fn;
    enum ct_scope scope;
};

extern const struct ct_test ct_tests_caps[];
extern const struct ct_test ct_tests_msg[];
extern const struct ct_test ct_tests_time[];
extern const struct ct_test ct_tests_peer[];
extern const struct ct_test ct_tests_named[];
extern const struct ct_test ct_tests_addr[];

/* The test binary itself, for exec'd children. */
extern const char *ct_self_exe;
/* argv[1] == CT_CHILD_ARG runs ct_child_main() instead of the suite. */
#define CT_CHILD_ARG "--child"
int ct_child_main(int argc, char **argv);

int ct_setup(void **state);
int ct_teardown(void **state);

/* ---------------------------------------------------------------- helpers */

/* The last call failed: the detail must say something. */
#define ct_detail_set() ct_detail_set_at(__FILE__, __LINE__)
void ct_detail_set_at(const char *file, int line);

/* Append "?opts" (when opts is not NULL or empty) to base. */
void ct_addr_opts(char *buf, size_t size, const char *base, const char *opts);
/* The pair address of the backend with options: "pipe:?max_msg=4096". */
void ct_pair_addr(const struct ct_fx *fx, char *buf, size_t size,
                  const char *opts);
/* A fresh named address (no options), remembered for the leftover check. */
const char *ct_new_name(struct ct_fx *fx);
/* The same with a name part of exactly len bytes (naming->make_len). */
const char *ct_new_name_len(struct ct_fx *fx, size_t len);
/* Forget the last name made, after checking it gone: drop what its naming
 * made, and reuse its slot. */
void ct_drop_last_name(struct ct_fx *fx);
/* The file-system path of a named address, or false. */
bool ct_fs_path(const struct ct_fx *fx, const char *addr, char *buf,
                size_t size);

/* Open the link for the test's mode, with address options (or NULL).
 * Named: rx is the creator (CREATE|EXCL|RECV), tx a sender. */
void ct_link(struct ct_fx *fx, const char *opts);
void ct_link_close(struct ct_fx *fx);
/* Keep an extra end for teardown; returns it. */
ipc_channel *ct_keep(struct ct_fx *fx, ipc_channel *ch);
void ct_close_extra(struct ct_fx *fx, ipc_channel *ch);

/* Caps expected of the link's ends. */
unsigned ct_tx_caps(const struct ct_fx *fx);
unsigned ct_rx_caps(const struct ct_fx *fx);

/* Messages whose bytes and length follow from a seed. */
void ct_send_pat(ipc_channel *ch, size_t len, uint64_t seed, int timeout_ms);
void ct_recv_pat(ipc_channel *ch, size_t len, uint64_t seed, int timeout_ms);

/* Child processes (tu_fork): fn runs in the child, its return is the exit
 * code (0 = success); the child leaves with _exit(). Reap them with
 * assert_child_ok(pid, CT_CHILD_MS); teardown kills what is left. */
typedef int (*ct_child_fn)(struct ct_fx *fx, void *arg);
pid_t ct_spawn(struct ct_fx *fx, ct_child_fn fn, void *arg);
/* TU_S_NO_FORK: check that a forked child's open of addr (NULL: none)
 * and its use of the fixture's ends answer IPC_ENOTSUP, and return true:
 * the test's forked peer cannot run. false on other schemes. */
bool ct_fork_refused(struct ct_fx *fx, const char *addr);
/* In a child: the send end for the test's mode (pair: the inherited tx;
 * named: a new sender on fx->addr). NULL on failure (reported). */
ipc_channel *ct_child_sender(struct ct_fx *fx);
/* In a child: close what ct_child_sender opened (children free what they
 * made, so that valgrind's leak check stays quiet in them too). */
void ct_child_release(struct ct_fx *fx, ipc_channel *tx);

/* Assert a timed wait took at least want_ms and not absurdly longer. */
#define ct_took(start_ns, want_ms)                                             \
    ct_took_at((start_ns), (want_ms), __FILE__, __LINE__)
void ct_took_at(int64_t start_ns, int want_ms, const char *file, int line);

#endif /* IPC_CONTRACT_H */
