/* SPDX-License-Identifier: MIT */
/* shm: waiting: the doorbells of pairs, the futex epochs of named rings,
 * spinning, sleeping and waking. */
#include "shmring.h"
#include "hooks.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
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
 * noticed; an idle named receiver on an empty ring sleeps with no timer at all
 * (a pair's, in slices of up to 64 ms, to notice a crashed peer).
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
 * end is left anywhere, on c no receive end. Named rings have no such object
 * shared by unrelated processes (a FIFO beside the ring would be a second
 * name to create, replace and remove without races), so their ends are not
 * pollable: IPC_CAP_POLLABLE is cleared on them.
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

/* The other side announced a sleeper (or, on a pair, armed its bell). One
 * CAS moves the epoch, takes every sleeper off and disarms the bell: the
 * next message of a burst finds the word clear and makes no system call. */
void ipc__shm_wake_slow(struct shmring_end *e, bool rx)
{
    uint64_t v = ipc__shm_epoch_next(shmring_wake_word(e->hdr, rx), false);
    if (!e->named && (v & SHMRING_BELL))
        shmring_ring(e, rx);
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
    if (e->named || !w->dl->nonblock) {
        w->seq = (uint32_t)atomic_fetch_add(wake, SHMRING_SLEEPER);
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

/* Named: sleep while the epoch is still seq, until (monotonic ns). */
static ipc_err shmring_futex_sleep(const struct shmring_end *e, uint32_t *word,
                                   uint32_t seq, int64_t until)
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
        case EAGAIN:    /* the word moved: woken before we slept */
        case ETIMEDOUT: /* the caller looks, then judges the deadline */
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
    bool sweep = !rx && e->named &&
                 (atomic_load(&hdr->unlinked) || atomic_load(&hdr->rx_seen));
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
    ipc_err err = shmring_futex_sleep(
        e, shmring_epoch(shmring_wake_word(hdr, rx)), w->seq, until);
    ipc__shm_disarm(w);
    if (err == IPC_OK && sweep)
        ipc__shm_sweep(hdr);
    if (err == IPC_OK && !e->named)
        shmring_peer_hup(e);
    w->armed = false;
    w->check = true;
    /* Even at the deadline, look once more before answering: a sleeper
     * that was woken must not drop the wake-up. */
    return err;
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
         * progress is possible, then look once more, holders judged. */
        if (!e->named)
            shmring_arm(w);
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
    ipc__shm_epoch_next(shmring_wake_word(e->hdr, rx), true);
    if (!e->named)
        shmring_ring(e, rx);
}
