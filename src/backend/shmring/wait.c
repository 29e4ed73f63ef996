/* SPDX-License-Identifier: MIT */
/* shm: waiting: the doorbells of pairs, the futex epochs of named rings,
 * spinning, sleeping and waking. */
#include "shmring.h"
#include "hooks.h"

#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/futex.h>

/*
 * Waiting. A party that cannot progress spins about 50 us (200 us behind a
 * writer that is mid-copy), one pause between looks (16 for a receiver
 * draining a stream: see ipc__shm_wait_step), then announces itself and
 * sleeps. Named rings and pairs alike
 * sleep in the kernel on an event count, one 64-bit word per direction:
 * the low half is the epoch (the futex word), the high half the sleepers
 * announced in this epoch. A sleeper adds itself (one atomic add, which
 * also tells it the epoch), looks at the ring once more, and waits only
 * while the epoch is unchanged (FUTEX_WAIT_BITSET: an absolute
 * CLOCK_MONOTONIC deadline, EINTR retried against it). The other side
 * reads the word after each message (one load of a line nobody writes
 * while both are awake: no system call) and, when sleepers are there,
 * moves to the next epoch with no sleepers in one CAS and wakes them: a
 * burst of messages makes one wake call, not one per message. A sleeper
 * that leaves without being woken takes itself off only while the epoch
 * is still its own, in the same CAS: it can never take off a sleeper of a
 * later epoch (which two separate words, a count and a futex word, did
 * allow: a lost wake-up).
 *   Why not the process-shared sem_t of the first design: glibc trusts the
 * semaphore's flags word in the mapping and aborts the process ("The
 * futex facility returned an unexpected error code") when a peer has
 * scribbled over it; a futex word of ours can hold any value, and an
 * unexpected error becomes IPC_EPROTO. No timeout fallback is needed:
 * FUTEX_WAIT_BITSET measures on CLOCK_MONOTONIC itself.
 *   Waits behind one holder run in slices of 1-64 ms so that its death is
 * noticed; so do a named receiver's on an empty ring once a sender has come
 * (it judges the senders after each: a kill -9 of the last one is
 * IPC_ECLOSED within about 64 ms) and a pair's (POLLHUP after each); a named
 * receiver that never had a sender sleeps with no timer at all.
 *
 * Pairs: two SOCK_SEQPACKET socketpairs are the poll descriptors and the
 * liveness signals, and sends never raise SIGPIPE (MSG_NOSIGNAL). The
 * library's own waits do not sleep on them (they did, and a receiver that
 * emptied b before sleeping could swallow the byte meant for another
 * process asleep on the same end: issue 12, defect 1); a pair sleeps on
 * the event count in slices and looks for POLLHUP after each, since a
 * crashed peer wakes no futex. The sockets serve poll() users, whose
 * timeout-0 calls arm a bell (SHMRING_BELL in the wake word) that the
 * same CAS which moves the epoch disarms. Messages: the send end holds a,
 * the receive end b; a sender rings b with one byte when the bell is
 * armed, and b polls POLLIN. Room: the send end holds c, the receive end
 * d; a timeout-0 sender that finds the ring full fills c's small send
 * buffer so that c stops polling POLLOUT, and a receiver that frees a
 * slot with that bell armed drains d, so that c polls POLLOUT again. Known
 * limit: two processes that poll() one end's descriptor and receive with
 * timeout 0 can still miss a readiness (the drain of one's arm may take
 * the byte of a message the other should see; the next message rings
 * again); blocking receives have no such window. Two pairs, not one, so that
 * each descriptor's readiness means one thing (b readable: messages may be
 * there; c writable: room may be there): the bytes that make a full ring
 * unwritable never make the receiver's descriptor readable. The kernel counts
 * the copies of each socket across fork and exit: POLLHUP on b means no send
 * end is left anywhere, on c no receive end.
 *
 * Named rings: bells. Unrelated processes share no descriptor, so a named
 * end that is polled makes its own bell, a pipe, and names it in its peer
 * entry (fd and inode); the other side reaches it through
 * /proc/<pid>/fd/<fd>, checked to be a pipe with that inode before and
 * after the open (O_NONBLOCK: never waits). A receive end hands out an
 * epoll set holding its pipe's read end; a sender rings it with one byte.
 * A send end hands out its pipe's write end (one page: F_SETPIPE_SZ); a
 * timeout-0 send that finds the ring full fills it, so that it stops
 * polling POLLOUT, and a receiver that frees a slot empties it. The same
 * bell bit as a pair's (SHMRING_BELL) says that someone polls: it is set
 * only by a timeout-0 call of a polled end that found no progress, and the
 * CAS that moves the epoch clears it, so the fast paths pay nothing while
 * nobody polls, and a burst rings once. Why a pipe through /proc: it needs
 * no name (nothing is left behind by kill -9: the pipe dies with its
 * holders), no file system, no ptrace right (pidfd_getfd needs one, and
 * Yama refuses it between unrelated processes), works across network
 * namespaces (an abstract socket does not), and it is the one object whose
 * readiness another process can both raise (write) and lower (read) by
 * opening it anew: a socket cannot be opened through /proc. The call that
 * armed a bell and then found progress rings its own bell again, so a
 * descriptor is never quiet while a timeout-0 call could progress.
 *   A dead sender rings no bell. A polled receiver therefore also watches
 * one live sender's exit (a pidfd in its epoll set, Linux 5.3+): when it
 * ends, the set wakes, and the timeout-0 receive that follows judges every
 * sender (IPC_ECLOSED when none is left) or watches another. A sender
 * that attaches, or closes, while a receiver's bell is armed rings the
 * receivers' bells, so that the one watched is always live. The send side
 * has no such watch (its descriptor must poll POLLOUT, which no pidfd
 * gives): a polled sender on a full ring whose receivers were all killed is
 * woken when another end judges the table (a blocking send or receive, an
 * open, a close), else at its own next call; poll it with a timeout.
 * Limits: /proc must be mounted and the other side's /proc/<pid>/fd
 * readable to us (same user, dumpable); a peer that can write the ring can
 * make this end write a byte into, or read from, a pipe of that peer's
 * choosing among those of processes we may inspect.
 */

/* ------------------------------------------------------------ doorbells */

/* Pair receive end: empty b. false once every send end is gone. */
static bool shmring_drain(int fd)
{
    char buf[64];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0)
            continue;
        if (r == 0)
            return false; /* EOF: no copy of the send socket is left */
        if (errno != EINTR)
            return true;
    }
}

/* Pair send end: fill a's send buffer so that a stops polling POLLOUT
 * until a receiver drains b. false once every receive end is gone. */
static bool shmring_fill(int fd)
{
    for (int i = 0; i < 256; i++) {
        if (send(fd, "f", 1, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            continue;
        if (errno == EINTR)
            continue;
        return errno != EPIPE && errno != ECONNRESET;
    }
    return true;
}

static _Atomic uint64_t *shmring_wake_word(struct shmring_hdr *hdr, bool rx)
{
    return rx ? &hdr->rx_wake : &hdr->tx_wake;
}

/* The epoch half of a wake word: the 32 bits the futex calls look at. */
static uint32_t *shmring_epoch(_Atomic uint64_t *wake)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (uint32_t *)wake;
#else
    return (uint32_t *)wake + 1;
#endif
}

static long shmring_futex(uint32_t *word, int op, uint32_t val,
                          const struct timespec *at)
{
    return syscall(SYS_futex, word, op, val, at, NULL, FUTEX_BITSET_MATCH_ANY);
}

/* Move to the next epoch, with no sleepers and the bell disarmed, and
 * wake every sleeper of the last one. Only when someone sleeps or the bell
 * is armed, unless `always`. Returns the word as it was. Not a private
 * futex: the sleepers are other processes. */
uint64_t ipc__shm_epoch_next(_Atomic uint64_t *wake, bool always)
{
    uint64_t v = atomic_load(wake);
    for (;;) {
        if (!always && (v >> 32) == 0)
            return v;
        uint64_t next = (uint64_t)(uint32_t)(v + 1);
        if (atomic_compare_exchange_weak(wake, &v, next))
            break;
    }
    if (always || (v & SHMRING_SLEEPERS))
        shmring_futex(shmring_epoch(wake), FUTEX_WAKE, INT_MAX, NULL);
    return v;
}

/* A pair's bell: make the receive end's socket readable (rx), or the send
 * end's writable again. */
static void shmring_ring(struct shmring_end *e, bool rx)
{
    if (rx) {
        /* EAGAIN: b is full of bytes, hence readable already. */
        ssize_t r;
        do
            r = send(e->peer_fd, "r", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
        if (r < 0 && (errno == EPIPE || errno == ECONNRESET))
            e->peer_gone = true;
    } else if (!shmring_drain(e->peer_fd)) {
        e->peer_gone = true;
    }
}

/* ------------------------------------------------------------ named bells */

/* Empty a bell pipe (through any descriptor open for reading). */
static void shmring_pipe_drain(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0 || (r < 0 && errno == EINTR))
            continue;
        return; /* EAGAIN: empty */
    }
}

/* Fill a send end's bell pipe, so that it stops polling POLLOUT. A pipe
 * of one page is full after one write; a larger one (F_SETPIPE_SZ refused)
 * takes a few more. */
static void shmring_pipe_fill(int fd)
{
    static const char zeros[4096];
    for (int i = 0; i < 64; i++) {
        ssize_t r = write(fd, zeros, sizeof zeros);
        if (r < 0 && errno != EINTR)
            return; /* EAGAIN: full */
    }
}

/* Ring the bell of one polled end (rx: a receiver's; one byte into its
 * pipe; else a sender's: empty its pipe). The entry's fd is checked to be
 * a pipe with the entry's inode before the open (never open a device a
 * forged entry names) and after it (the fd may be reused between). */
static void shmring_bell_ring(uint32_t pid, uint64_t bell, bool rx)
{
    char path[SHMRING_FD_PATH];
    struct stat st;
    uint32_t fd_no = (uint32_t)(bell >> 32) - 1;
    if (pid == 0 || pid >= SHMRING_PID_LIMIT || fd_no > INT_MAX)
        return;
    ipc__shm_fd_path(path, pid, fd_no);
    if (stat(path, &st) != 0 || !S_ISFIFO(st.st_mode) ||
        (uint32_t)st.st_ino != (uint32_t)bell)
        return;
    int fd = open(path, (rx ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_CLOEXEC |
                            O_NOCTTY);
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
        (uint32_t)st.st_ino == (uint32_t)bell) {
        if (rx) {
            ssize_t r; /* EAGAIN: the pipe is full, hence readable */
            do
                r = write(fd, "r", 1);
            while (r < 0 && errno == EINTR);
        } else {
            shmring_pipe_drain(fd);
        }
    }
    close(fd);
}

/* Ring every bell of one side (rx: the receivers'). */
static void shmring_ring_bells(struct shmring_hdr *hdr, bool rx)
{
    unsigned role = rx ? SHMRING_ROLE_RX : SHMRING_ROLE_TX;
    for (unsigned i = 0; i < SHMRING_PEERS; i++) {
        struct shmring_peer *p = &hdr->peers[i];
        uint64_t bell = atomic_load_explicit(&p->bell, memory_order_acquire);
        if (bell == 0)
            continue;
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
        if (shmring_peer_state(w) == SHMRING_PEER_LIVE &&
            shmring_peer_role(w) == role)
            shmring_bell_ring(shmring_peer_pid(w), bell, rx);
    }
}

/* The other side announced a sleeper (or armed its bell). One CAS moves
 * the epoch, takes every sleeper off and disarms the bell: the next
 * message of a burst finds the word clear and makes no system call. */
void ipc__shm_wake_slow(struct shmring_end *e, bool rx)
{
    uint64_t v = ipc__shm_epoch_next(shmring_wake_word(e->hdr, rx), false);
    if (!(v & SHMRING_BELL))
        return;
    if (e->named)
        shmring_ring_bells(e->hdr, rx);
    else
        shmring_ring(e, rx);
}

void ipc__shm_wake_named(struct shmring_hdr *hdr, bool rx)
{
    ipc__shm_epoch_next(shmring_wake_word(hdr, rx), true);
    shmring_ring_bells(hdr, rx);
}

uint64_t ipc__shm_bell_word(const struct shmring_end *e)
{
    return e->bell_word;
}

/* A polled receiver: watch the exit of one live sender (see the top). The
 * one watched is kept while its entry is unchanged. */
static void shmring_watch(struct shmring_end *e)
{
    struct shmring_hdr *hdr = e->hdr;
    if (e->watch_idx >= 0 &&
        atomic_load(&hdr->peers[e->watch_idx].word) == e->watch_word)
        return;
    int epfd = atomic_load(&e->bell_fd);
    if (e->watch_fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, e->watch_fd, NULL);
        close(e->watch_fd);
    }
    e->watch_fd = e->watch_idx = -1;
#ifdef SYS_pidfd_open
    for (unsigned i = 0; i < SHMRING_PEERS; i++) {
        struct shmring_peer *p = &hdr->peers[i];
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
        uint32_t pid = shmring_peer_pid(w);
        if (shmring_peer_state(w) != SHMRING_PEER_LIVE ||
            shmring_peer_role(w) != SHMRING_ROLE_TX || pid == 0 ||
            pid >= SHMRING_PID_LIMIT || ipc__shm_peer_dead(p, w))
            continue;
        int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (pfd < 0)
            return; /* no pidfds (ENOSYS), or no descriptors: no watch */
        /* The pid may have been reused before the open: the start time
         * after it must still be the entry's. */
        uint64_t start = 0;
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.fd = pfd;
        if (ipc__proc_stat(pid, &start) != IPC__PROC_ALIVE ||
            start != atomic_load(&p->start) ||
            epoll_ctl(epfd, EPOLL_CTL_ADD, pfd, &ev) < 0) {
            close(pfd);
            continue;
        }
        e->watch_fd = pfd;
        e->watch_idx = (int)i;
        e->watch_word = w;
        return;
    }
#endif
}

/* A polled end found no progress with timeout 0: lower its bell (a
 * receiver drains its pipe and checks its watch, a sender fills its pipe),
 * then arm, so that the other side's next message or freed slot rings it.
 * The caller looks at the ring once more after this. */
static void shmring_bell_arm(struct shmring_end *e, bool rx)
{
    if (rx) {
        shmring_pipe_drain(e->bell_pipe[0]);
        ipc__shm_lock();
        shmring_watch(e);
        ipc__shm_unlock();
    } else {
        shmring_pipe_fill(e->bell_pipe[1]);
    }
    atomic_fetch_or(shmring_wake_word(e->hdr, rx), SHMRING_BELL);
}

void ipc__shm_bell_settle(const struct shmring_wait *w)
{
    /* The look after the arm found progress (or closed): raise our own
     * bell again, as more may be there. */
    struct shmring_end *e = w->e;
    if (w->rx) {
        ssize_t r;
        do
            r = write(e->bell_pipe[1], "r", 1);
        while (r < 0 && errno == EINTR);
    } else {
        shmring_pipe_drain(e->bell_pipe[0]);
    }
}

/* Make a named end's bell: the pipe, its entry, and (a receiver) the epoll
 * set; the lock held. */
static ipc_err shmring_bell_make(const ipc_channel *ch, struct shmring_end *e)
{
    bool rx = e->role == SHMRING_ROLE_RX;
    bool inherit = ch->flags & IPC_F_INHERIT;
    struct stat st;
    int out;
    if (e->peer_idx < 0)
        return ipc__shm_usable(e);
    if (pipe2(e->bell_pipe, O_NONBLOCK | (inherit ? 0 : O_CLOEXEC)) < 0)
        return ipc__errno(errno, "shm: %s: pipe for poll", e->name);
    if (rx) {
        out = epoll_create1(inherit ? 0 : EPOLL_CLOEXEC);
        if (out < 0)
            return ipc__errno(errno, "shm: %s: epoll_create1", e->name);
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.fd = e->bell_pipe[0];
        if (epoll_ctl(out, EPOLL_CTL_ADD, e->bell_pipe[0], &ev) < 0) {
            close(out);
            return ipc__errno(errno, "shm: %s: epoll_ctl", e->name);
        }
    } else {
        /* One page: one write makes it full (the smallest a pipe gets). */
        (void)fcntl(e->bell_pipe[1], F_SETPIPE_SZ, 4096);
        out = e->bell_pipe[1];
    }
    int named_fd = rx ? e->bell_pipe[0] : e->bell_pipe[1];
    if (fstat(named_fd, &st) < 0) {
        if (rx)
            close(out);
        return ipc__errno(errno, "shm: %s: fstat of its pipe", e->name);
    }
    e->bell_word = ((uint64_t)named_fd + 1) << 32 | (uint32_t)st.st_ino;
    atomic_store(&e->hdr->peers[e->peer_idx].bell, e->bell_word);
    atomic_store_explicit(&e->bell_fd, out, memory_order_release);
    /* A receiver: ready at once if messages wait (or every sender is
     * gone); a hint that its first timeout-0 receive spends. */
    if (rx)
        ipc__shm_bell_settle(&(struct shmring_wait){.e = e, .rx = true});
    return IPC_OK;
}

ipc_err ipc__shm_bell_fd(const ipc_channel *ch, struct shmring_end *e, int *fd)
{
    int have = atomic_load_explicit(&e->bell_fd, memory_order_acquire);
    if (have >= 0) {
        *fd = have;
        return IPC_OK;
    }
    ipc_err err = IPC_OK;
    ipc__shm_lock();
    if (atomic_load(&e->bell_fd) < 0 &&
        (err = shmring_bell_make(ch, e)) != IPC_OK) {
        for (int i = 0; i < 2; i++) {
            if (e->bell_pipe[i] >= 0)
                close(e->bell_pipe[i]);
            e->bell_pipe[i] = -1;
        }
        e->bell_word = 0;
    }
    *fd = atomic_load(&e->bell_fd);
    ipc__shm_unlock();
    return err;
}

void ipc__shm_bell_close(struct shmring_end *e)
{
    int fd = atomic_exchange(&e->bell_fd, -1);
    if (fd >= 0 && e->role == SHMRING_ROLE_RX)
        close(fd); /* the epoll set; a sender's is its pipe */
    for (int i = 0; i < 2; i++) {
        if (e->bell_pipe[i] >= 0)
            close(e->bell_pipe[i]);
        e->bell_pipe[i] = -1;
    }
    if (e->watch_fd >= 0)
        close(e->watch_fd);
    e->watch_fd = e->watch_idx = -1;
    e->bell_word = 0;
}

/* ------------------------------------------------------------ waiting */

static ipc_err shmring_blocked(const struct shmring_wait *w)
{
    return ipc__fail(w->dl->nonblock ? IPC_EAGAIN : IPC_ETIMEDOUT,
                     "shm: %s: %s", shmring_label(w->e),
                     w->rx ? "no message is ready" : "the ring is full");
}

/* A blocking wait announces a sleeper on the event count (named rings and
 * pairs alike: one atomic add, which also tells the epoch; a wake-up after
 * it moves the epoch and the futex wait returns at once). A pair's
 * timeout-0 call arms the bell instead, so that poll() on the end's
 * descriptor wakes when progress is possible: the receive end empties b,
 * a send end fills c (then c stops polling POLLOUT). Sleepers never touch
 * the sockets: a receiver emptying b can thus never swallow the wake-up of
 * another one asleep (issue 12, defect 1: they slept in poll on b, and the
 * drain of one ate the byte meant for the other). */
static void shmring_arm(struct shmring_wait *w)
{
    struct shmring_end *e = w->e;
    bool rx = w->rx;
    _Atomic uint64_t *wake = shmring_wake_word(e->hdr, rx);
    if (ipc__shmring_test_arm_hook)
        ipc__shmring_test_arm_hook(rx, 0);
    if (!w->dl->nonblock) {
        w->seq = (uint32_t)atomic_fetch_add(wake, SHMRING_SLEEPER);
    } else if (e->named) {
        shmring_bell_arm(e, rx);
    } else {
        if (rx ? !shmring_drain(e->fd) : !shmring_fill(e->fd))
            e->peer_gone = true;
        atomic_fetch_or(wake, SHMRING_BELL);
    }
    if (ipc__shmring_test_arm_hook)
        ipc__shmring_test_arm_hook(rx, 1);
}

void ipc__shm_disarm(const struct shmring_wait *w)
{
    /* A sleeper takes itself off while its epoch lasts; once the epoch
     * moved, a waker took it off already. A pair's bell stays armed: one
     * spare byte costs less than a lost wake-up. */
    _Atomic uint64_t *wake = shmring_wake_word(w->e->hdr, w->rx);
    uint64_t v = atomic_load(wake);
    while ((uint32_t)v == w->seq && (v & SHMRING_SLEEPERS) != 0 &&
           !atomic_compare_exchange_weak(wake, &v, v - SHMRING_SLEEPER))
        ;
}

static void shmring_timespec(int64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
}

/* Sleep while the epoch is still seq, until (monotonic ns); *expired:
 * the sleep ended at `until`, not woken. */
static ipc_err shmring_futex_sleep(const struct shmring_end *e, uint32_t *word,
                                   uint32_t seq, int64_t until, bool *expired)
{
    struct timespec at, *atp = NULL;
    if (until != INT64_MAX) {
        shmring_timespec(until, &at);
        atp = &at;
    }
    for (;;) {
        if (shmring_futex(word, FUTEX_WAIT_BITSET, seq, atp) == 0)
            return IPC_OK;
        switch (errno) {
        case EINTR:
            continue;   /* the same absolute deadline */
        case ETIMEDOUT: /* the caller looks, then judges the deadline */
            *expired = true;
            return IPC_OK;
        case EAGAIN: /* the word moved: woken before we slept */
            return IPC_OK;
        default:
            return ipc__fail(IPC_EPROTO, "shm: %s: futex wait: %s",
                             shmring_label(e), strerror(errno));
        }
    }
}

/* Pair: is every copy of the other side's socket closed (POLLHUP)? The
 * kernel tells a crashed peer by it; no futex wake-up would. */
static void shmring_peer_hup(struct shmring_end *e)
{
    struct pollfd pfd = {.fd = e->fd, .events = 0};
    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)))
        e->peer_gone = true;
}

static ipc_err shmring_sleep(struct shmring_wait *w, bool held)
{
    struct shmring_end *e = w->e;
    bool rx = w->rx;
    struct shmring_hdr *hdr = e->hdr;
    int64_t until = w->dl->at_ns;
    /* A named sender sweeps for dead receivers now and then (once a
     * receiver was seen, or the ring is unlinked): if none is left, nobody
     * will ever make room. A pair sleeps in slices too, and looks for
     * POLLHUP after each: a peer that crashed wakes no futex. */
    bool sweep =
        e->named &&
        (rx ? atomic_load(&hdr->tx_seen)
            : (atomic_load(&hdr->unlinked) || atomic_load(&hdr->rx_seen)));
    if (held || sweep || !e->named) {
        if (w->slice_ns == 0)
            w->slice_ns = SHMRING_SLICE_MIN_NS;
        int64_t end = ipc__now_ns() + w->slice_ns;
        if (end < until)
            until = end;
        w->slice_ns = w->slice_ns >= SHMRING_SLICE_MAX_NS / 2
                          ? SHMRING_SLICE_MAX_NS
                          : w->slice_ns * 2;
    }
    bool expired = false;
    ipc_err err = shmring_futex_sleep(
        e, shmring_epoch(shmring_wake_word(hdr, rx)), w->seq, until, &expired);
    ipc__shm_disarm(w);
    /* Sweep only after a slice that nobody ended: a wake-up means the other
     * side acted (a sweep reads /proc for every live entry, tens of us,
     * which a woken receiver would add to every message it slept for). */
    if (err == IPC_OK && sweep && expired)
        ipc__shm_sweep(hdr);
    if (err == IPC_OK && !e->named)
        shmring_peer_hup(e);
    w->armed = false;
    w->check = true;
    /* Even at the deadline, look once more before answering: a sleeper
     * that was woken must not drop the wake-up. */
    return err;
}

/* A named receiver's timeout-0 call on an empty ring judges the senders
 * (a blocking one does after each slice of its sleep), at most once a
 * millisecond: a sweep reads /proc for every live entry. */
static void shmring_judge_senders(struct shmring_end *e)
{
    struct shmring_hdr *hdr = e->hdr;
    if (!atomic_load(&hdr->tx_seen) || atomic_load(&hdr->n_tx) == 0)
        return;
    int64_t now = ipc__now_ns();
    if (now - atomic_load_explicit(&e->swept_ns, memory_order_relaxed) <
        SHMRING_SLICE_MIN_NS)
        return;
    atomic_store_explicit(&e->swept_ns, now, memory_order_relaxed);
    ipc__shm_sweep(hdr);
}

/* One step of waiting after a look found no progress: spin, then arm and
 * look again, then sleep. IPC_OK: look again. */
ipc_err ipc__shm_wait_step(struct shmring_wait *w, bool held)
{
    struct shmring_end *e = w->e;
    const struct ipc_deadline *dl = w->dl;
    if (dl->nonblock) {
        if (w->polled)
            return shmring_blocked(w);
        /* Arm the bell so that poll() on the descriptor wakes when
         * progress is possible, then look once more, holders judged (and,
         * on a named ring, senders). */
        if (e->named && w->rx)
            shmring_judge_senders(e);
        if (!e->named ||
            atomic_load_explicit(&e->bell_fd, memory_order_acquire) >= 0) {
            shmring_arm(w);
            w->bell = e->named;
        }
        w->polled = w->check = true;
        return IPC_OK;
    }
    if (w->armed)
        return shmring_sleep(w, held);
    /* The clock only every SHMRING_SPIN_LOOKS looks: a clock read is 20-40
     * ns, a pause 10-150 cycles (47 ns on the EPYC hosts here). The first
     * SHMRING_SPIN_LOOKS looks read no clock at all (a few us: far below
     * any deadline, which is 1 ms or more, or 0).
     *   Between looks, one pause: a waiter that answers a message (a
     * request, a reply) sees it as soon as it lands. The first design's 16
     * pauses and a clock read per look noticed a message up to 0.8 us late
     * and made the round trip 3x the raw ring's. But each look pulls the
     * slot's line over, and a sender whose claim (a CAS) and publication
     * meet a look in between pays for the line twice: a receiver that is
     * draining a stream (its last message was there at once) and caught up
     * with the sender looks every 16 pauses, which lets a batch build up
     * (ipc-bench, 64 B, against the raw ring: one-way 0.63-0.68 with 1
     * pause always, 0.72-0.80 with this; round trip 0.55-0.58 either way,
     * 0.34 with 16 pauses always). */
    if (++w->looks % SHMRING_SPIN_LOOKS != 0) {
        int pauses = w->rx && e->rx_streaming ? SHMRING_GENTLE_PAUSES : 1;
        for (int i = 0; i < pauses; i++)
            shmring_relax();
        return IPC_OK;
    }
    int64_t now = ipc__now_ns();
    if (w->spin_until == 0) {
        w->spin_until = now + (held ? SHMRING_HOLDER_SPIN_NS : SHMRING_SPIN_NS);
        if (w->spin_until > dl->at_ns)
            w->spin_until = dl->at_ns;
    }
    if (now < w->spin_until) {
        shmring_relax();
        return IPC_OK;
    }
    if (ipc__deadline_expired(dl)) {
        /* A pair whose peer crashed: say closed, not timed out, even when
         * the deadline passed before any sleep looked for POLLHUP. */
        if (!e->named && !e->peer_gone) {
            shmring_peer_hup(e);
            if (e->peer_gone) {
                w->check = true;
                return IPC_OK;
            }
        }
        return shmring_blocked(w);
    }
    shmring_arm(w);
    w->armed = w->check = true;
    return IPC_OK;
}

/* Wake whoever sleeps on the other side so that it looks at the ring (and
 * at the counts) again. */
void ipc__shm_wake_all(struct shmring_end *e, bool rx)
{
    if (e->named) {
        ipc__shm_wake_named(e->hdr, rx);
        return;
    }
    ipc__shm_epoch_next(shmring_wake_word(e->hdr, rx), true);
    shmring_ring(e, rx);
}
