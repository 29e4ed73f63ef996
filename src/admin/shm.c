/* SPDX-License-Identifier: MIT */
/* admin: read a shm ring's header (creator, geometry, peer table) without
 * attaching to it. Linux only.
 *
 * The layout is the ring's own (backend/shmring/shmring.h), mapped
 * read-only; liveness is judged as the ring judges it (ipc__proc_gone). */
#include "admin_int.h"
#include "backend/shmring/shmring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t admin_load(const _Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_acquire);
}

/* Is an attached process alive (1, *pid names it), are all gone (0), or
 * can some not be judged (-1: another pid namespace, no /proc)? */
static int admin_ring_used(const struct shmring_hdr *h, pid_t *pid)
{
    int used = 0;
    for (unsigned i = 0; i < SHMRING_PEERS; i++) {
        const struct shmring_peer *p = &h->peers[i];
        uint64_t w = admin_load(&p->word);
        if (shmring_peer_state(w) == SHMRING_PEER_FREE)
            continue;
        /* A claim in progress: start and namespace may be a previous
         * occupant's; judge by the pid alone (as the ring does). */
        bool live = shmring_peer_state(w) == SHMRING_PEER_LIVE;
        uint32_t ppid = shmring_peer_pid(w);
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

static void admin_ring_fill(const struct shmring_hdr *h, off_t size,
                            ipc_object *o)
{
    int gone =
        ipc__proc_gone(h->creator_pid, h->creator_start, h->creator_pidns);
    o->creator = (pid_t)h->creator_pid;
    o->creator_alive = gone < 0 ? -1 : !gone;
    if (atomic_load(&h->ready) != SHMRING_READY) {
        o->state = gone == 1 ? IPC_OBJ_STALE : IPC_OBJ_LIVE;
        snprintf(o->why, sizeof o->why, "half made; creator %s",
                 gone == 1 ? "gone" : "alive");
        return;
    }
    if ((off_t)SHMRING_HDR_SIZE > size)
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

ipc_err ipc__probe_ring(const char *name, ipc_object *o)
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
    size_t len = st.st_size >= (off_t)SHMRING_HDR_SIZE ? SHMRING_HDR_SIZE : 64;
    void *base = st.st_size >= 64
                     ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)
                     : MAP_FAILED;
    close(fd);
    if (base == MAP_FAILED)
        return ipc__fail(IPC_EPROTO, "shm: %s is not a libipc ring", name);
    const struct shmring_hdr *h = base;
    ipc_err err = IPC_OK;
    if (h->magic != SHMRING_MAGIC)
        err = ipc__fail(IPC_EPROTO, "shm: %s is not a libipc ring", name);
    else
        admin_ring_fill(h, len == 64 ? 0 : st.st_size, o);
    munmap(base, len);
    return err;
}
