/* SPDX-License-Identifier: MIT */
/* Helpers for the shm backend's own tests: the layout hooks, raw objects,
 * children that must end in time. */
#ifndef IPC_SHM_TEST_H
#define IPC_SHM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ipc/ipc.h"
#include "testutil.h"

#include "backend/shmring/hooks.h"

enum { ST_FREE, ST_WRITING, ST_FULL, ST_READING };
enum { ST_PEER_FREE, ST_PEER_CLAIMED, ST_PEER_LIVE };
enum { ST_ROLE_TX = 1, ST_ROLE_RX = 2 };

/* Kind of a slot state word (bits 22-23). */
static inline unsigned st_kind(uint64_t state)
{
    return (unsigned)(state >> 22) & 3u;
}

/* Offset of a header field; fails the test for an unknown name. */
static inline size_t st_off(const char *field)
{
    size_t off = ipc__shmring_test_offset(field);
    if (off == (size_t)-1)
        fail_msg("no header field \"%s\"", field);
    return off;
}

static inline uint64_t *st_u64(void *base, const char *field)
{
    return (uint64_t *)((char *)base + st_off(field));
}

static inline uint32_t *st_u32(void *base, const char *field)
{
    return (uint32_t *)((char *)base + st_off(field));
}

/* The state word and length of slot `index` of a ring of max_msg. */
static inline uint64_t *st_slot_state(void *base, size_t max_msg, size_t index)
{
    return (uint64_t *)((char *)base + ipc__shmring_test_slot(max_msg, index));
}

static inline uint32_t *st_slot_len(void *base, size_t max_msg, size_t index)
{
    return (uint32_t *)((char *)base + ipc__shmring_test_slot(max_msg, index) +
                        st_off("slot_len"));
}

/* What a test made, so that its teardown can clean up even when the test
 * failed half-way: names to unlink (children: tu_kill_live). */
#define ST_MAX_MADE 256
static char st_made_names[ST_MAX_MADE][96];
static int st_n_made_names;

/* Teardown of every test: a passing test left nothing (it checks that
 * itself); a failing one may have. */
static inline int st_cleanup(void **state)
{
    (void)state;
    tu_kill_live();
    for (int i = 0; i < st_n_made_names; i++)
        shm_unlink(st_made_names[i]);
    st_n_made_names = 0;
    return 0;
}

/* A fresh name: "/ipcs-<pid>-<n>-<rand>"; *addr gets "shm:" + name + opts. */
static inline void st_name(char *name, size_t nsize, char *addr, size_t asize,
                           const char *opts)
{
    char u[64];
    tu_unique(u, sizeof u, "ipcs");
    snprintf(name, nsize, "/%s", u);
    if (st_n_made_names < ST_MAX_MADE)
        snprintf(st_made_names[st_n_made_names++], sizeof st_made_names[0],
                 "%s", name);
    if (opts && opts[0])
        snprintf(addr, asize, "shm:%s?%s", name, opts);
    else
        snprintf(addr, asize, "shm:%s", name);
}

static inline bool st_exists(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "/dev/shm%s", name);
    return tu_path_exists(path);
}

/* Map a named object read-write (the size of the file); NULL on failure. */
static inline void *st_map(const char *name, size_t *size)
{
    int fd = shm_open(name, O_RDWR, 0);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   fd, 0);
    close(fd);
    *size = (size_t)st.st_size;
    return p == MAP_FAILED ? NULL : p;
}

#endif /* IPC_SHM_TEST_H */
