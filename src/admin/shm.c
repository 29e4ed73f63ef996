/* SPDX-License-Identifier: MIT */
/* admin: read a shm ring's header (creator, geometry, peer table) without
 * attaching to it. Linux only.
 *
 * The layout below mirrors src/backend/shmring's header, read-only: the
 * ring's code is being split into src/backend/shmring/ while this is
 * written, so it is not touched here. At merge the ring's layout should
 * move into one internal header that both include (then these mirrors and
 * the _Static_asserts go), and the ring's liveness test (shmring_pid_dead)
 * should call ipc__proc_gone() instead of its own copy. */
#include "admin_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ADMIN_RING_MAGIC    0x31474e4952435049ull /* "IPCRING1" */
#define ADMIN_RING_READY    0x59444552u           /* "REDY" */
#define ADMIN_RING_HDR_SIZE 12288u
#define ADMIN_RING_PEERS    256u
#define ADMIN_PEER_PID_MASK ((1u << 22) - 1)
#define ADMIN_PEER_STATE(w) ((unsigned)((w) >> 36) & 3u)
#define ADMIN_PEER_LIVE     2u
#define ADMIN_PEER_FREE     0u

struct admin_ring_peer {
    uint64_t word; /* pid (22 bits) | gen (14) | state (2) | role (2) */
    uint64_t start;
    uint64_t pidns;
    uint64_t reserved;
};

struct admin_ring_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t ready;
    uint32_t creator_pid;
    uint32_t flags;
    uint64_t creator_start;
    uint64_t creator_pidns;
    uint64_t reserved0[3];
    uint64_t hdr_size, slot_size, slot_count, max_msg, map_size;
    uint64_t reserved1[3];
    _Alignas(128) uint64_t tail;
    _Alignas(128) uint64_t head;
    _Alignas(128) uint64_t rx_wake;
    _Alignas(128) uint64_t tx_wake;
    _Alignas(128) uint32_t n_tx;
    uint32_t n_rx, unlinked, rx_seen;
    _Alignas(128) struct admin_ring_peer peers[ADMIN_RING_PEERS];
};

_Static_assert(sizeof(struct admin_ring_hdr) <= ADMIN_RING_HDR_SIZE,
               "admin: ring header mirror larger than the ring's");

static uint64_t admin_load(const uint64_t *p)
{
    /* The ring's words are written atomically; a relaxed load of a
     * read-only mapping sees each whole (64-bit targets). */
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Is an attached process alive (1, *pid names it), are all gone (0), or
 * can some not be judged (-1: another pid namespace, no /proc)? */
static int admin_ring_used(const struct admin_ring_hdr *h, pid_t *pid)
{
    int used = 0;
    for (unsigned i = 0; i < ADMIN_RING_PEERS; i++) {
        const struct admin_ring_peer *p = &h->peers[i];
        uint64_t w = admin_load(&p->word);
        if (ADMIN_PEER_STATE(w) == ADMIN_PEER_FREE)
            continue;
        /* A claim in progress: start and namespace may be a previous
         * occupant's; judge by the pid alone (as the ring does). */
        bool live = ADMIN_PEER_STATE(w) == ADMIN_PEER_LIVE;
        uint32_t ppid = (uint32_t)(w & ADMIN_PEER_PID_MASK);
        int gone = ipc__proc_gone(ppid, live ? admin_load(&p->start) : 0,
                                  live ? admin_load(&p->pidns) : 0);
        if (gone == 0) {
            *pid = (pid_t)ppid;
            return 1;
        }
        if (gone < 0)
            used = -1;
    }
    return used;
}

static void admin_ring_fill(const struct admin_ring_hdr *h, off_t size,
                            ipc_object *o)
{
    int gone =
        ipc__proc_gone(h->creator_pid, h->creator_start, h->creator_pidns);
    o->creator = (pid_t)h->creator_pid;
    o->creator_alive = gone < 0 ? -1 : !gone;
    if (h->ready != ADMIN_RING_READY) {
        o->state = gone == 1 ? IPC_OBJ_STALE : IPC_OBJ_LIVE;
        snprintf(o->why, sizeof o->why, "half made; creator %s",
                 gone == 1 ? "gone" : "alive");
        return;
    }
    if ((off_t)ADMIN_RING_HDR_SIZE > size)
        return;
    o->capacity = (long long)h->slot_count;
    o->max_msg = (long long)h->max_msg;
    uint64_t queued = admin_load(&h->tail) - admin_load(&h->head);
    o->messages = queued <= h->slot_count ? (long long)queued : -1;
    int used = admin_ring_used(h, &o->user);
    if (used > 0) {
        o->state = IPC_OBJ_LIVE;
        snprintf(o->why, sizeof o->why, "attached by process %d", (int)o->user);
    } else if (used < 0) {
        snprintf(o->why, sizeof o->why,
                 "attached by a process that cannot be judged from here "
                 "(another pid namespace)");
    } else {
        o->state = IPC_OBJ_STALE;
        snprintf(o->why, sizeof o->why, "every attached process is gone");
    }
}

ipc_err ipc__probe_shm(const char *name, ipc_object *o)
{
    ipc__object_init(o, "shm", "shm:%s", name);
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0)
        return ipc__errno(errno, "shm: %s", name);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ipc__fail(IPC_EPROTO, "shm: %s is not a libipc ring", name);
    }
    o->uid = st.st_uid;
    o->gid = st.st_gid;
    o->mode = st.st_mode & 0777;
    o->size = (long long)st.st_size;
    /* A half-made ring has only its 64-byte prefix written. */
    size_t len =
        st.st_size >= (off_t)ADMIN_RING_HDR_SIZE ? ADMIN_RING_HDR_SIZE : 64;
    void *base = st.st_size >= 64
                     ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)
                     : MAP_FAILED;
    close(fd);
    if (base == MAP_FAILED)
        return ipc__fail(IPC_EPROTO, "shm: %s is not a libipc ring", name);
    const struct admin_ring_hdr *h = base;
    ipc_err err = IPC_OK;
    if (h->magic != ADMIN_RING_MAGIC)
        err = ipc__fail(IPC_EPROTO, "shm: %s is not a libipc ring", name);
    else
        admin_ring_fill(h, len == 64 ? 0 : st.st_size, o);
    munmap(base, len);
    return err;
}
