/* SPDX-License-Identifier: MIT */
/* Region tests' toolkit: the mechanisms under test, unique addresses, the
 * object behind an address, and the check that nothing is left behind. */
#ifndef IPC_RT_H
#define IPC_RT_H

#include <ipc/ipc.h>

#include <stdbool.h>
#include <stddef.h>

/* A mechanism and what the contract expects of it. */
struct rt_mech {
    const char *name; /* scheme: shm, file, memfd */
    bool named;       /* ipc_region_open makes and opens by name */
    bool pair;        /* ipc_region_pair works */
    unsigned caps;    /* IPC_REGION_CAP_* expected */
};

/* The mechanism called name, or NULL. */
const struct rt_mech *rt_mech_find(const char *name);
/* A fresh address of mech (shm:/ipcrt-..., file:$TMPDIR/ipcrt-...), also
 * remembered so that rt_cleanup removes it. */
void rt_addr(const struct rt_mech *mech, char *buf, size_t size);
/* The file behind a named address (/dev/shm/<name> for shm: on Linux). */
void rt_os_path(const char *addr, char *buf, size_t size);
/* Remove every address rt_addr gave (ignoring those already gone) and
 * fail the test if any of them, or any hidden temporary file of ours,
 * is still there. */
void rt_cleanup(void);
/* rt_cleanup as a cmocka teardown. */
int rt_teardown(void **state);

/* CHECK(call, want): the call gives the error named, else the line, the
 * call and libipc's detail are printed and the test fails. */
void rt_check(ipc_err got, ipc_err want, const char *what, int line);
#define CHECK(expr, want) rt_check((expr), (want), #expr, __LINE__)

/* Run fn(arg) in a forked child; its exit code (or 128 + signal). */
int rt_child(int (*fn)(void *), void *arg, int timeout_ms);

#endif /* IPC_RT_H */
