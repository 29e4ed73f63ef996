/* SPDX-License-Identifier: MIT */
/* shm: peer liveness: who this process is, the ring's table of peers,
 * judging a holder dead (/proc/<pid>/stat), sweeping, and fork. */
#include "shmring.h"

#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Crashes. owner names an entry (index, generation) of the header's table
 * of 256 peers; every end of every process registers one with its pid, its
 * start time (field 22 of /proc/<pid>/stat) and its pid namespace. A party
 * that finds a slot held too long judges its holder: the entry moved on,
 * kill(pid, 0) says ESRCH, the process is a zombie, or another process now
 * has the pid (its start time differs) all mean dead. A dead writer's slot
 * becomes a skip (never delivered), a dead reader's is freed for the next
 * lap. A pid in another pid namespace cannot be judged and counts as
 * alive: waiting is safe, freeing a slot that a live process is writing is
 * not.
 *
 * Fork. A pthread_atfork handler registers, before fork() returns in the
 * parent, an entry for the child's copy of each end (so a parent closing
 * its copy at once never drops the count of receivers to 0 while the child
 * holds one); the child takes the entry over with its own pid. If fork()
 * fails, those entries stay until the parent exits (counts too high: a
 * peer-closed report comes late, never early). Loans and views stay with
 * the process that made them. posix_spawn and vfork run no handlers.
 *
 * Exec. A child that execs keeps its pid and start time but no longer
 * holds its ends (issue 12, defect 3: its entry kept counting a receiver
 * that no longer existed, and senders never heard IPC_ECLOSED). Each entry
 * therefore names a close-on-exec descriptor of its end (the shm object,
 * or a pair's socket) by number and inode: exec closes it, so once
 * /proc/<pid>/fd/<n> is gone, or is another file, the end is gone too. A
 * registration at fork would be lazy otherwise (on first use), leaving a
 * window in which a parent that closes its copy drops the count to 0
 * while the child holds an end. A process that closes the descriptor
 * behind the library's back loses its end the same way; one whose
 * /proc/<pid>/fd we may not read counts as alive.
 */

/* ------------------------------------------------------------ processes */

/* This process, as the peer table records it; refreshed in a forked child. */
struct shmring_self ipc__shm_me;
static pthread_once_t shmring_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t shmring_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shmring_end *shmring_ends; /* under shmring_lock */

/* The decimal digits of n at path + at; returns the new end. */
static int shmring_digits(char *path, int at, uint32_t n)
{
    char digits[12];
    int k = 0;
    do
        digits[k++] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    while (k)
        path[at++] = digits[--k];
    path[at] = '\0';
    return at;
}

void ipc__shm_fd_path(char path[SHMRING_FD_PATH], uint32_t pid, uint32_t fd)
{
    memcpy(path, "/proc/", 6);
    int at = shmring_digits(path, 6, pid);
    memcpy(path + at, "/fd/", 4);
    shmring_digits(path, at + 4, fd);
}

/* Does pid no longer hold the descriptor an entry's probe names (closed
 * at exec, or reused for another file)? Unknown answers: it holds it. */
static bool shmring_probe_gone(uint32_t pid, uint64_t probe)
{
    char path[SHMRING_FD_PATH];
    struct stat st;
    ipc__shm_fd_path(path, pid, (uint32_t)(probe >> 32) - 1);
    if (stat(path, &st) == 0)
        return (uint32_t)st.st_ino != (uint32_t)probe;
    return errno == ENOENT;
}

/* The probe of an end: its descriptor and that descriptor's inode. */
static uint64_t shmring_probe_of(const struct shmring_end *e)
{
    struct stat st;
    if (e->fd < 0 || fstat(e->fd, &st) != 0)
        return 0;
    return ((uint64_t)e->fd + 1) << 32 | (uint32_t)st.st_ino;
}

static void shmring_identify(struct shmring_self *me)
{
    uint64_t start = 0;
    struct stat st;
    me->pid = (uint32_t)getpid();
    me->start = ipc__proc_stat(me->pid, &start) == IPC__PROC_ALIVE ? start : 0;
    me->pidns = stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* Is this process certainly gone? start 0: not known, pid only. Unknown
 * answers (another pid namespace, no /proc) count as alive. */
bool ipc__shm_pid_dead(uint32_t pid, uint64_t start, uint64_t pidns)
{
    /* Our own namespace is known once (ipc__shm_me): no stat per look. */
    if (pid != 0 && pid < SHMRING_PID_LIMIT && pidns != 0 &&
        ipc__shm_me.pidns != 0 && pidns != ipc__shm_me.pidns)
        return false;
    return ipc__proc_gone(pid, start, 0) == 1;
}

/* ------------------------------------------------------------ peer table */

static _Atomic uint32_t *shmring_count(struct shmring_hdr *hdr, unsigned role)
{
    return role == SHMRING_ROLE_TX ? &hdr->n_tx : &hdr->n_rx;
}

/* Free an entry seen as w (its process is gone), once. */
static void shmring_peer_free(struct shmring_hdr *hdr, struct shmring_peer *p,
                              uint64_t w)
{
    uint64_t freed =
        shmring_peer_word(0, shmring_peer_gen(w), SHMRING_PEER_FREE, 0);
    unsigned role = shmring_peer_role(w);
    if (!atomic_compare_exchange_strong(&p->word, &w, freed))
        return;
    /* Claimed and live entries are both counted (see shmring_peer_add).
     * The last end of a role gone: on a named ring, wake the other side's
     * sleepers and bells so that they look at the counts (a pair's sockets
     * tell its peer by POLLHUP). */
    if ((role == SHMRING_ROLE_TX || role == SHMRING_ROLE_RX) &&
        atomic_fetch_sub(shmring_count(hdr, role), 1) == 1 &&
        (hdr->flags & SHMRING_F_NAMED))
        ipc__shm_wake_named(hdr, role == SHMRING_ROLE_TX);
}

/* Is the process of an entry seen as w gone? */
bool ipc__shm_peer_dead(const struct shmring_peer *p, uint64_t w)
{
    if (shmring_peer_state(w) == SHMRING_PEER_LIVE) {
        uint32_t pid = shmring_peer_pid(w);
        uint64_t pidns = atomic_load_explicit(&p->pidns, memory_order_relaxed);
        uint64_t probe = atomic_load_explicit(&p->probe, memory_order_relaxed);
        if (ipc__shm_pid_dead(
                pid, atomic_load_explicit(&p->start, memory_order_relaxed),
                pidns))
            return true;
        /* Our /proc shows that pid only in our own namespace. */
        return probe != 0 && pidns != 0 && pidns == ipc__shm_me.pidns &&
               shmring_probe_gone(pid, probe);
    }
    /* A claim in progress: start and namespace may be a previous
     * occupant's; judge by the pid alone. */
    return ipc__shm_pid_dead(shmring_peer_pid(w), 0, 0);
}

/* Free the entries of processes that are gone. */
void ipc__shm_sweep(struct shmring_hdr *hdr)
{
    for (unsigned i = 0; i < SHMRING_PEERS; i++) {
        struct shmring_peer *p = &hdr->peers[i];
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
        if (shmring_peer_state(w) != SHMRING_PEER_FREE &&
            ipc__shm_peer_dead(p, w))
            shmring_peer_free(hdr, p, w);
    }
}

/* Take a free entry for (pid, role). The count goes up first, so that a
 * claimed entry is always counted and a sweep can take it back exactly
 * once. state LIVE completes the entry; CLAIMED leaves it for a forked
 * child to take over. Returns the index, or -1 when all 256 are in use. */
static int shmring_peer_add(struct shmring_hdr *hdr, unsigned role,
                            const struct shmring_self *who, uint64_t probe,
                            uint64_t bell, unsigned state, uint32_t *gen_out)
{
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < SHMRING_PEERS; i++) {
            struct shmring_peer *p = &hdr->peers[i];
            uint64_t w = atomic_load_explicit(&p->word, memory_order_relaxed);
            if (shmring_peer_state(w) != SHMRING_PEER_FREE)
                continue;
            uint32_t gen = (shmring_peer_gen(w) + 1) & SHMRING_GEN_MASK;
            uint64_t claimed =
                shmring_peer_word(who->pid, gen, SHMRING_PEER_CLAIMED, role);
            atomic_fetch_add(shmring_count(hdr, role), 1);
            if (!atomic_compare_exchange_strong(&p->word, &w, claimed)) {
                atomic_fetch_sub(shmring_count(hdr, role), 1);
                continue;
            }
            atomic_store_explicit(&p->start, who->start, memory_order_relaxed);
            atomic_store_explicit(&p->pidns, who->pidns, memory_order_relaxed);
            atomic_store_explicit(&p->probe, probe, memory_order_relaxed);
            atomic_store_explicit(&p->bell, bell, memory_order_relaxed);
            atomic_store(
                role == SHMRING_ROLE_RX ? &hdr->rx_seen : &hdr->tx_seen, 1);
            if (state == SHMRING_PEER_LIVE) {
                uint64_t live =
                    shmring_peer_word(who->pid, gen, SHMRING_PEER_LIVE, role);
                /* A CAS: a sweeper that wrongly judged the claim (another
                 * pid namespace) took it back, count and all. */
                if (!atomic_compare_exchange_strong(&p->word, &claimed, live))
                    continue;
            }
            *gen_out = gen;
            return (int)i;
        }
        if (pass == 0)
            ipc__shm_sweep(hdr);
    }
    return -1;
}

bool ipc__shm_register(struct shmring_end *e)
{
    uint32_t gen = 0;
    e->peer_idx =
        shmring_peer_add(e->hdr, e->role, &ipc__shm_me, shmring_probe_of(e),
                         ipc__shm_bell_word(e), SHMRING_PEER_LIVE, &gen);
    e->owner = e->peer_idx < 0 ? 0 : ((uint32_t)e->peer_idx | gen << 8);
    return e->peer_idx >= 0;
}

void ipc__shm_unregister(struct shmring_end *e)
{
    if (e->peer_idx < 0)
        return;
    struct shmring_peer *p = &e->hdr->peers[e->peer_idx];
    uint32_t gen = e->owner >> 8;
    uint64_t mine =
        shmring_peer_word(ipc__shm_me.pid, gen, SHMRING_PEER_LIVE, e->role);
    shmring_peer_free(e->hdr, p, mine);
    e->peer_idx = -1;
}

/* In a forked child: take over the entry the parent prepared. */
static bool shmring_peer_adopt(struct shmring_end *e, uint32_t parent)
{
    struct shmring_peer *p = &e->hdr->peers[e->fork_idx];
    uint32_t gen = e->fork_gen;
    uint64_t w = shmring_peer_word(parent, gen, SHMRING_PEER_CLAIMED, e->role);
    uint64_t mine =
        shmring_peer_word(ipc__shm_me.pid, gen, SHMRING_PEER_CLAIMED, e->role);
    if (!atomic_compare_exchange_strong(&p->word, &w, mine))
        return false; /* swept meanwhile (the parent died) */
    atomic_store_explicit(&p->start, ipc__shm_me.start, memory_order_relaxed);
    atomic_store_explicit(&p->pidns, ipc__shm_me.pidns, memory_order_relaxed);
    atomic_store_explicit(&p->probe, shmring_probe_of(e), memory_order_relaxed);
    /* The child shares the bell: it is rung through either process. */
    atomic_store_explicit(&p->bell, ipc__shm_bell_word(e),
                          memory_order_relaxed);
    uint64_t live =
        shmring_peer_word(ipc__shm_me.pid, gen, SHMRING_PEER_LIVE, e->role);
    if (!atomic_compare_exchange_strong(&p->word, &mine, live))
        return false;
    e->peer_idx = e->fork_idx;
    e->owner = (uint32_t)e->fork_idx | gen << 8;
    return true;
}

/* Is the holder a slot names gone? A dead holder's entry is freed too. */
bool ipc__shm_owner_dead(struct shmring_end *e, uint32_t ref)
{
    struct shmring_peer *p = &e->hdr->peers[ref & 0xffu];
    uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
    if (shmring_peer_state(w) == SHMRING_PEER_FREE ||
        shmring_peer_gen(w) != ref >> 8)
        return true; /* that registration has ended */
    if (!ipc__shm_peer_dead(p, w))
        return false;
    shmring_peer_free(e->hdr, p, w);
    return true;
}

/* ------------------------------------------------------------ fork */

static void shmring_fork_prepare(void)
{
    pthread_mutex_lock(&shmring_lock);
    for (struct shmring_end *e = shmring_ends; e; e = e->next) {
        e->fork_idx = -1;
        if (e->peer_idx >= 0) {
            /* start 0: the entry is judged by pid until the child has it. */
            struct shmring_self parent = {ipc__shm_me.pid, 0, 0};
            e->fork_idx = shmring_peer_add(e->hdr, e->role, &parent, 0, 0,
                                           SHMRING_PEER_CLAIMED, &e->fork_gen);
        }
    }
}

static void shmring_fork_parent(void)
{
    /* The prepared entries are the child's now (or, if fork failed, stay
     * until this process exits: counts too high, never too low). */
    for (struct shmring_end *e = shmring_ends; e; e = e->next)
        e->fork_idx = -1;
    pthread_mutex_unlock(&shmring_lock);
}

static void shmring_fork_child(void)
{
    uint32_t parent = ipc__shm_me.pid;
    shmring_identify(&ipc__shm_me);
    for (struct shmring_end *e = shmring_ends; e; e = e->next) {
        /* The parent's loans and views are the parent's to finish. */
        e->n_loans = e->n_views = 0;
        e->peer_idx = -1;
        /* A polled receiver's epoll set is shared with the parent, the
         * pidfd it watches stays the parent's: the child's next arm adds
         * a watch of its own (wait.c). */
        if (e->watch_fd >= 0)
            close(e->watch_fd);
        e->watch_fd = e->watch_idx = -1;
        if (!(e->fork_idx >= 0 && shmring_peer_adopt(e, parent)))
            ipc__shm_register(e); /* may fail: calls then say IPC_ELIMIT */
        e->fork_idx = -1;
    }
    pthread_mutex_unlock(&shmring_lock);
}

static void shmring_init_process(void)
{
    shmring_identify(&ipc__shm_me);
    pthread_atfork(shmring_fork_prepare, shmring_fork_parent,
                   shmring_fork_child);
}

void ipc__shm_init(void)
{
    pthread_once(&shmring_once, shmring_init_process);
}

void ipc__shm_list_add(struct shmring_end *e)
{
    pthread_mutex_lock(&shmring_lock);
    e->prev = NULL;
    e->next = shmring_ends;
    if (shmring_ends)
        shmring_ends->prev = e;
    shmring_ends = e;
    pthread_mutex_unlock(&shmring_lock);
}

void ipc__shm_list_remove(struct shmring_end *e)
{
    pthread_mutex_lock(&shmring_lock);
    for (struct shmring_end *x = shmring_ends; x; x = x->next) {
        if (x != e)
            continue;
        if (e->prev)
            e->prev->next = e->next;
        else
            shmring_ends = e->next;
        if (e->next)
            e->next->prev = e->prev;
        break;
    }
    e->prev = e->next = NULL;
    pthread_mutex_unlock(&shmring_lock);
}

void ipc__shm_lock(void)
{
    pthread_mutex_lock(&shmring_lock);
}

void ipc__shm_unlock(void)
{
    pthread_mutex_unlock(&shmring_lock);
}

ipc_err ipc__shm_usable(const struct shmring_end *e)
{
    if (e->peer_idx >= 0)
        return IPC_OK;
    return ipc__fail(IPC_ELIMIT,
                     "shm: %s: this process has no entry in the ring's table "
                     "of %u processes (all in use)",
                     shmring_label(e), SHMRING_PEERS);
}
