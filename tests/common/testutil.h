/* SPDX-License-Identifier: MIT */
/* Test helpers: clocks, child processes with deadlines, patterns, fds. */
#ifndef IPC_TESTUTIL_H
#define IPC_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---------------------------------------------------------------- time */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t tu_now_ns(void);
/* Milliseconds since start_ns, as a double for messages. */
double tu_elapsed_ms(int64_t start_ns);
/* Sleep at least ms milliseconds, whatever the signals. */
void tu_sleep_ms(int ms);

/* ---------------------------------------------------------------- random */

/* Seed the suite's generator; tu_seed_from_env() takes $IPC_TEST_SEED if set,
 * else pid and clock, and returns the seed used (print it to reproduce). */
uint64_t tu_seed_from_env(void);
void tu_seed(uint64_t seed);
/* Next number of the suite's generator (one process, one thread). */
uint64_t tu_rand(void);
/* A number in lo..hi inclusive. */
uint64_t tu_rand_range(uint64_t lo, uint64_t hi);
/* A stateless generator step, for patterns and children. */
uint64_t tu_mix(uint64_t x);

/* Fill buf with the bytes that pattern `seed` defines; tu_pattern_ok checks
 * them and returns the first bad offset, or len when all match. */
void tu_pattern(void *buf, size_t len, uint64_t seed);
size_t tu_pattern_check(const void *buf, size_t len, uint64_t seed);
/* FNV-1a, 32 bits. */
uint32_t tu_checksum(const void *buf, size_t len);

/* ---------------------------------------------------------------- processes */

/* The one way to make and end a child. tu_fork() flushes stdio (a child
 * never prints the parent's buffer) and forks; the child is marked (see
 * tu_in_child: assert_ipc_err then exits instead of failing into cmocka,
 * whose jump buffers are the parent's), gets the default disposition of
 * SIGUSR1 and of the crash signals cmocka catches, and a watchdog of
 * TU_CHILD_WATCHDOG_S (a hung child dies, saying so). The parent remembers the
 * pid until it is reaped. */
#define TU_CHILD_WATCHDOG_S 90
/* Exit code of a child whose assert_ipc_err failed. */
#define TU_CHILD_FAILED 97
pid_t tu_fork(void);
/* Run fn(arg) in a child made by tu_fork(); the child leaves with _exit()
 * of fn's result. The parent gets the pid (the test fails if fork fails:
 * only for callers that include cmocka). */
pid_t tu_spawn(int (*fn)(void *), void *arg);
/* Is this process a child made by tu_fork()? */
bool tu_in_child(void);
/* Was pid made by tu_fork() in this process (reaped or not)? */
bool tu_forked(pid_t pid);
/* Wait for pid at most timeout_ms; then SIGKILL it and reap it. Returns true
 * if it ended on its own; *status gets the wait status (may be NULL). */
bool tu_wait(pid_t pid, int timeout_ms, int *status);
/* How pid ended, waiting at most timeout_ms (then SIGKILL): NULL if it
 * exited with 0, else "exit 3", "signal SIGSEGV (Segmentation fault)" or
 * "hung: killed after 20000 ms" (a static buffer). */
const char *tu_child_end(pid_t pid, int timeout_ms);
/* Kill with SIGKILL and reap; harmless if pid <= 0 or already reaped. */
void tu_kill(pid_t pid);
/* SIGKILL and reap every child of tu_fork() not reaped yet (teardown of a
 * test that failed half-way). */
void tu_kill_live(void);
/* A wait status as text: "exit 0", "signal SIGKILL (Killed)". */
const char *tu_status_str(int status, char *buf, size_t size);
/* "SIGKILL" for 9; "signal 77" for a number without a name here. */
const char *tu_signame(int sig, char *buf, size_t size);

/* The watchdog of a test process: after seconds, SIGALRM prints "WATCHDOG"
 * with tu_test_name and ends the process with TU_WATCHDOG_EXIT (0
 * disarms). A hang is a failure, not a stall. */
#define TU_WATCHDOG_EXIT 99
void tu_watchdog(unsigned seconds);
/* The test running, for the watchdog and child messages ("?" if unset). */
extern const char *tu_test_name;

/* ---------------------------------------------------------------- files */

/* $TMPDIR if set and short (so that socket paths fit in sun_path), else
 * "/tmp". Never ends with '/'. */
const char *tu_tmpdir(void);
/* tu_tmpdir() if a process of another uid can reach into it (o+x on every
 * component), else /tmp: a private $TMPDIR (mktemp -d is 0700, as in CI)
 * is not, and tests that drop to another uid need a place it can reach. */
const char *tu_reachable_tmpdir(void);
/* A name unique in this machine for this run: "<prefix>-<pid>-<n>-<rand>". */
void tu_unique(char *buf, size_t size, const char *prefix);
/* FD_CLOEXEC state of fd: 1 set, 0 clear, -1 not open. */
int tu_fd_cloexec(int fd);
/* Does the path exist (lstat)? */
bool tu_path_exists(const char *path);
/* The next byte from fd (a pipe a child reports its progress on) within
 * timeout_ms, or -1 if none came (EOF, or the time ran out). */
int tu_read_byte(int fd, int timeout_ms);

/* Descriptor snapshots (Linux /proc/self/fd): which fds are open. */
#define TU_FDSET_MAX 1024
struct tu_fdset {
    bool open[TU_FDSET_MAX];
    bool valid; /* false where /proc/self/fd is unreadable */
};
void tu_fdset_take(struct tu_fdset *set);

#endif /* IPC_TESTUTIL_H */
