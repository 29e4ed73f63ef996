/* SPDX-License-Identifier: MIT */
/* shm: the ring itself: claims at head and tail, send and receive (inline
 * fast paths, general paths that wait), loans and views, close, and the
 * backend's table (the design: shmring.h). */
#include "shmring.h"
#include "hooks.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ the ring */

enum { SHMRING_CORRUPT = -1, SHMRING_GOT, SHMRING_IDLE, SHMRING_HELD };

static int shmring_corrupt(const struct shmring_end *e, const char *index,
                           uint64_t at, uint64_t s)
{
    ipc__fail(IPC_EPROTO,
              "shm: %s: the ring is corrupt: %s is %llu but its slot holds "
              "position %llu (kind %u)",
              shmring_label(e), index, (unsigned long long)at,
              (unsigned long long)(s >> SHMRING_TAG_SHIFT), shmring_kind(s));
    return SHMRING_CORRUPT;
}

/* Rendezvous: the taker of the message at pos, seen as s (READING), died
 * before it had it: offer the message again, and move head back to it
 * (the taker had moved head on; one slot, so nothing passed it since). */
static void shmring_reoffer(struct shmring_end *e, struct shmring_slot *slot,
                            uint64_t s, uint64_t pos)
{
    if (!atomic_compare_exchange_strong(&slot->state, &s,
                                        shmring_state(pos, SHMRING_FULL, 0)))
        return;
    uint64_t ahead = pos + 1;
    atomic_compare_exchange_strong(&e->hdr->head, &ahead, pos);
    if (atomic_load(&e->hdr->rx_wake) >> 32)
        ipc__shm_wake_slow(e, true);
}

/* Sender: claim the slot at the tail. SHMRING_IDLE: the ring is full;
 * SHMRING_HELD: the slot is still held from the previous lap by *holder.
 * check: judge holders (system calls), else only look. */
static int shmring_find_room(struct shmring_end *e, bool check, uint64_t *pos,
                             struct shmring_slot **slotp, uint32_t *holder)
{
    struct shmring_hdr *hdr = e->hdr;
    const int64_t n = (int64_t)e->n;
    uint64_t t = atomic_load_explicit(&hdr->tail, memory_order_acquire);
    int odd = 0;
    for (;;) {
        struct shmring_slot *slot = shmring_slot_at(e, t);
        uint64_t s = atomic_load_explicit(&slot->state, memory_order_acquire);
        int64_t d = shmring_dist(s, t);
        unsigned kind = shmring_kind(s);
        if (d == 0 && kind == SHMRING_FREE) {
            uint64_t mine = shmring_state(t, SHMRING_WRITING, e->owner);
            if (atomic_compare_exchange_strong_explicit(&slot->state, &s, mine,
                                                        memory_order_acquire,
                                                        memory_order_relaxed)) {
                uint64_t next = t;
                shmring_advance(&hdr->tail, &next);
                *pos = t;
                *slotp = slot;
                return SHMRING_GOT;
            }
            continue;
        }
        if ((d == 0 && kind != SHMRING_FREE) ||
            (d == n && kind == SHMRING_FREE)) {
            shmring_advance(&hdr->tail, &t); /* t is taken: help, move on */
            odd = 0;
            continue;
        }
        if (d == -n && kind == SHMRING_FULL) {
            uint64_t h = t - e->n;
            /* A skip at the very head: pass it ourselves. */
            if (shmring_owner(s) != 0 &&
                atomic_load_explicit(&hdr->head, memory_order_acquire) == h) {
                if (atomic_compare_exchange_strong(
                        &slot->state, &s, shmring_state(t, SHMRING_FREE, 0)))
                    shmring_advance(&hdr->head, &h);
                continue;
            }
            return SHMRING_IDLE; /* full: waiting for receivers */
        }
        if (d == -n && kind != SHMRING_FREE) {
            if (check && ipc__shm_owner_dead(e, shmring_owner(s))) {
                /* A dead reader of the last lap: the slot is free (on a
                 * rendezvous ring, its message is offered again: it was
                 * never taken). A dead writer of the last lap: its slot
                 * becomes a skip. */
                if (kind == SHMRING_READING && e->rendezvous) {
                    shmring_reoffer(e, slot, s, t - e->n);
                    continue;
                }
                uint64_t next =
                    kind == SHMRING_READING
                        ? shmring_state(t, SHMRING_FREE, 0)
                        : shmring_state(t - e->n, SHMRING_FULL, SHMRING_SKIP);
                if (atomic_compare_exchange_strong(&slot->state, &s, next) &&
                    kind == SHMRING_WRITING && atomic_load(&hdr->rx_wake) >> 32)
                    ipc__shm_wake_slow(e, true);
                continue;
            }
            *holder = shmring_owner(s);
            return SHMRING_HELD;
        }
        /* Out of place: a stale tail, or garbage. */
        uint64_t again = atomic_load_explicit(&hdr->tail, memory_order_acquire);
        if (again != t) {
            t = again;
            odd = 0;
            continue;
        }
        if (++odd < 3)
            continue;
        return shmring_corrupt(e, "tail", t, s);
    }
}

/* Receiver: find the message at the head, FULL(*pos) seen as *seen.
 * SHMRING_IDLE: none; SHMRING_HELD: one is being written by *holder. */
static int shmring_find_msg(struct shmring_end *e, bool check, uint64_t *pos,
                            struct shmring_slot **slotp, uint64_t *seen,
                            uint32_t *holder)
{
    struct shmring_hdr *hdr = e->hdr;
    const int64_t n = (int64_t)e->n;
    uint64_t h = atomic_load_explicit(&hdr->head, memory_order_acquire);
    int odd = 0;
    for (;;) {
        struct shmring_slot *slot = shmring_slot_at(e, h);
        uint64_t s = atomic_load_explicit(&slot->state, memory_order_acquire);
        int64_t d = shmring_dist(s, h);
        unsigned kind = shmring_kind(s);
        if (d == 0 && kind == SHMRING_FULL && shmring_owner(s) == 0) {
            *pos = h;
            *slotp = slot;
            *seen = s;
            return SHMRING_GOT;
        }
        if (d == 0 && kind == SHMRING_FULL) {
            /* A skip: pass it, deliver nothing. */
            if (atomic_compare_exchange_strong(
                    &slot->state, &s,
                    shmring_state(h + e->n, SHMRING_FREE, 0)) &&
                atomic_load(&hdr->tx_wake) >> 32)
                ipc__shm_wake_slow(e, false);
            continue;
        }
        /* Taken by another receiver, or already one lap on (consumed by a
         * receiver that has not moved head yet, and maybe written again):
         * h is done, move on. */
        if ((d == 0 && kind == SHMRING_READING) ||
            (d == n && kind != SHMRING_READING)) {
            shmring_advance(&hdr->head, &h);
            odd = 0;
            continue;
        }
        if (d == 0 && kind == SHMRING_WRITING) {
            if (check && ipc__shm_owner_dead(e, shmring_owner(s))) {
                /* The writer died: its slot becomes a skip, never
                 * delivered. */
                atomic_compare_exchange_strong(
                    &slot->state, &s,
                    shmring_state(h, SHMRING_FULL, SHMRING_SKIP));
                continue;
            }
            *holder = shmring_owner(s);
            return SHMRING_HELD;
        }
        if ((d == 0 && kind == SHMRING_FREE) ||
            (d == -n && kind == SHMRING_READING))
            return SHMRING_IDLE;
        if (d == -n && kind == SHMRING_FULL && e->rendezvous) {
            /* Offered again behind head (shmring_reoffer): head goes back
             * to it. */
            uint64_t back = h;
            atomic_compare_exchange_strong(&hdr->head, &back, h - e->n);
            h = atomic_load_explicit(&hdr->head, memory_order_acquire);
            continue;
        }
        uint64_t again = atomic_load_explicit(&hdr->head, memory_order_acquire);
        if (again != h) {
            h = again;
            odd = 0;
            continue;
        }
        if (++odd < 3)
            continue;
        return shmring_corrupt(e, "head", h, s);
    }
}

static bool shmring_senders_gone(const ipc_channel *ch, struct shmring_end *e)
{
    struct shmring_hdr *hdr = e->hdr;
    if (!(ch->caps & IPC_CAP_PEER_CLOSED))
        return false;
    return e->peer_gone ||
           (atomic_load_explicit(&hdr->n_tx, memory_order_acquire) == 0 &&
            (atomic_load_explicit(&hdr->unlinked, memory_order_relaxed) ||
             atomic_load_explicit(&hdr->tx_seen, memory_order_relaxed)));
}

/* Reserve a slot to write: WRITING(*pos, me). */
static ipc_err shmring_reserve(struct shmring_end *e, uint64_t *pos,
                               struct shmring_slot **slot,
                               const struct ipc_deadline *dl)
{
    struct shmring_wait w = {.e = e, .dl = dl, .rx = false};
    ipc_err err = ipc__shm_usable(e);
    if (err != IPC_OK)
        return err;
    for (;;) {
        if (shmring_receivers_gone(e)) {
            err = ipc__fail(IPC_ECLOSED, "shm: %s: no receiver is left",
                            shmring_label(e));
            break;
        }
        uint32_t holder = 0;
        int r = shmring_find_room(e, w.check, pos, slot, &holder);
        w.check = false;
        if (r == SHMRING_GOT)
            break;
        if (r == SHMRING_CORRUPT) {
            err = IPC_EPROTO;
            break;
        }
        if ((err = ipc__shm_wait_step(&w, r == SHMRING_HELD)) != IPC_OK)
            break;
    }
    if (w.armed)
        ipc__shm_disarm(&w);
    if (w.bell && err != IPC_EAGAIN)
        ipc__shm_bell_settle(&w);
    return err;
}

/* A claimed slot holds a length above max_msg, or one that changed under
 * us (a hostile peer): drop the message. */
static ipc_err shmring_claim_bad(struct shmring_end *e,
                                 struct shmring_slot *slot, uint64_t pos)
{
    uint32_t again = atomic_load_explicit(&slot->len, memory_order_relaxed);
    shmring_free_slot(e, slot, pos);
    return ipc__fail(IPC_EPROTO,
                     "shm: %s: a slot claims %u bytes (max_msg %zu); the "
                     "message was dropped",
                     shmring_label(e), (unsigned)again, e->max_msg);
}

/* Take the message FULL(pos) seen as s: copy it into buf, or keep it as a
 * view. *lost: another receiver took it first (look again). */
static ipc_err shmring_claim(struct shmring_end *e, struct shmring_slot *slot,
                             uint64_t pos, uint64_t s, void *buf, size_t cap,
                             size_t *len, struct shmring_held *view, bool *lost)
{
    uint32_t size = atomic_load_explicit(&slot->len, memory_order_relaxed);
    *lost = false;
    if (size <= e->max_msg && !view && size > cap) {
        *len = size;
        return ipc__fail(IPC_EMSGSIZE,
                         "shm: message of %u bytes, buffer of %zu; it stays "
                         "queued",
                         (unsigned)size, cap);
    }
    uint64_t mine = shmring_state(pos, SHMRING_READING, e->owner);
    if (!atomic_compare_exchange_strong_explicit(&slot->state, &s, mine,
                                                 memory_order_acquire,
                                                 memory_order_relaxed)) {
        *lost = true;
        return IPC_OK;
    }
    uint64_t next = pos;
    shmring_advance(&e->hdr->head, &next);
    if (ipc__shmring_test_claim_hook)
        ipc__shmring_test_claim_hook(0);
    /* Read once more now that the slot is ours: a writer had finished, so
     * only a hostile peer changes it. */
    uint32_t again = atomic_load_explicit(&slot->len, memory_order_relaxed);
    if (size > e->max_msg || again != size || (!view && size > cap))
        return shmring_claim_bad(e, slot, pos);
    *len = size;
    if (view) {
        view->pos = pos;
        view->slot = slot;
        view->len = size;
        return IPC_OK;
    }
    if (size)
        memcpy(buf, shmring_payload(slot), size);
    if (ipc__shmring_test_claim_hook)
        ipc__shmring_test_claim_hook(1);
    shmring_free_slot(e, slot, pos);
    return IPC_OK;
}

static ipc_err shmring_take(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                            struct shmring_held *view,
                            const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    struct shmring_wait w = {.e = e, .dl = dl, .rx = true};
    ipc_err err = ipc__shm_usable(e);
    if (err != IPC_OK)
        return err;
    for (;;) {
        uint64_t pos = 0, seen = 0;
        uint32_t holder = 0;
        struct shmring_slot *slot = NULL;
        int r = shmring_find_msg(e, w.check, &pos, &slot, &seen, &holder);
        w.check = false;
        if (r == SHMRING_GOT) {
            bool lost;
            err = shmring_claim(e, slot, pos, seen, buf, cap, len, view, &lost);
            if (!lost) {
                e->rx_streaming = w.looks == 0;
                break;
            }
            continue;
        }
        if (r == SHMRING_CORRUPT) {
            err = IPC_EPROTO;
            break;
        }
        if (r == SHMRING_IDLE && shmring_senders_gone(ch, e)) {
            /* One more look: the last sender may have published just
             * before it left (its count went down after, with release). */
            if (w.closing) {
                err = ipc__fail(IPC_ECLOSED, "shm: %s: every sender is gone",
                                shmring_label(e));
                break;
            }
            w.closing = true;
            continue;
        }
        if ((err = ipc__shm_wait_step(&w, r == SHMRING_HELD)) != IPC_OK)
            break;
    }
    if (w.armed)
        ipc__shm_disarm(&w);
    if (w.bell && err != IPC_EAGAIN)
        ipc__shm_bell_settle(&w);
    return err;
}

/* ------------------------------------------------------------ rendezvous */

/*
 * Rendezvous (capacity 0). The ring has one slot; a send publishes its
 * message as usual, then waits until the slot has moved on: a receiver
 * claimed it (READING), copied it out and freed it, or viewed and released
 * it. Until a receiver claims it, the sender may take it back: at its
 * deadline, or when no receiver is left, FULL(pos) becomes a skip by CAS,
 * and the send answers IPC_ETIMEDOUT, IPC_EAGAIN or IPC_ECLOSED, having
 * delivered nothing. Once claimed, the outcome is the taker's: the send
 * waits past its deadline for the copy to end. A taker killed before its
 * receive returned never had the message: whoever finds it dead (this
 * sender, or another one at the tail) offers it again, FULL(pos), so it
 * is neither lost nor delivered twice. Zero copy is refused on these ends
 * (IPC_CAP_ZERO_COPY cleared): a commit that waited for its taker would be
 * a send, and a loan the ring's one slot.
 */

/* A claimed message whose taker is alive: wait for it a little (a copy of
 * at most max_msg), past the send's own deadline. */
static void shmring_handoff_nap(void)
{
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
}

SHMRING_NOINLINE static ipc_err shmring_handoff(struct shmring_end *e,
                                                struct shmring_slot *slot,
                                                uint64_t pos,
                                                const struct ipc_deadline *dl)
{
    struct shmring_wait w = {.e = e, .dl = dl, .rx = false};
    ipc_err err = IPC_OK, late = IPC_OK;
    for (;;) {
        uint64_t s = atomic_load_explicit(&slot->state, memory_order_acquire);
        unsigned kind = shmring_kind(s);
        bool give_up = late != IPC_OK || shmring_receivers_gone(e);
        if (shmring_dist(s, pos) != 0) {
            err = IPC_OK; /* taken: the slot has moved on */
            break;
        }
        if (kind == SHMRING_FULL && shmring_owner(s) == 0 && give_up) {
            /* Not claimed: take it back, unless a taker is quicker. */
            uint64_t skip = shmring_state(pos, SHMRING_FULL, SHMRING_SKIP);
            if (!atomic_compare_exchange_strong(&slot->state, &s, skip))
                continue;
            err = late != IPC_OK
                      ? late
                      : ipc__fail(IPC_ECLOSED, "shm: %s: no receiver is left",
                                  shmring_label(e));
            break;
        }
        if (kind == SHMRING_READING) {
            /* Judge the taker after a sleep, or between naps. */
            bool judge = w.check || late != IPC_OK;
            w.check = false;
            if (judge && ipc__shm_owner_dead(e, shmring_owner(s))) {
                shmring_reoffer(e, slot, s, pos);
                continue;
            }
            if (late != IPC_OK) {
                shmring_handoff_nap();
                continue;
            }
        } else if (kind != SHMRING_FULL) {
            err = ipc__fail(IPC_EPROTO,
                            "shm: %s: the ring is corrupt: a message being "
                            "handed over is in state %u",
                            shmring_label(e), kind);
            break;
        }
        if (late == IPC_OK)
            late = ipc__shm_wait_step(&w, kind == SHMRING_READING);
    }
    if (w.armed)
        ipc__shm_disarm(&w);
    return err;
}

/* ------------------------------------------------------------ messages */

/*
 * The fast paths: the common case of send and receive, inline, with the same
 * claims as the general paths (shmring_reserve, shmring_take), which run
 * whenever anything is unusual. A sender tries the claim FREE(tail) ->
 * WRITING(tail, me) at once: a CAS, not a load and then a CAS, so that the
 * slot's line comes over once, for writing; a receiver claims FULL(head)
 * that it saw, message and length checked first. The head and tail hints
 * move after the message is published or the slot freed, so that the slot's
 * line is held for the shortest time (the other side polls it); nothing
 * needs a hint to have moved first (see shmring_find_room/_find_msg: a
 * party finding the slot at a stale hint taken moves the hint itself).
 */

/* Copy a message in or out of a slot. Up to 64 bytes inline, in 16-byte
 * pieces (the first and the last may overlap): a call to memcpy, which
 * also goes through the PLT, cost more than the copy, and made the fast
 * paths save registers. */
static inline void shmring_copy(void *dst, const void *src, size_t len)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (len >= 16 && len <= 64) {
        unsigned char a[16], b[16], c[16], z[16];
        memcpy(a, s, 16);
        memcpy(z, s + len - 16, 16);
        if (len > 32) {
            memcpy(b, s + 16, 16);
            memcpy(c, s + len - 32, 16);
            memcpy(d + 16, b, 16);
            memcpy(d + len - 32, c, 16);
        }
        memcpy(d, a, 16);
        memcpy(d + len - 16, z, 16);
    } else if (len) {
        memcpy(d, s, len);
    }
}

/* Everything but the fast path's common case: waits, and rendezvous. Kept
 * out of line, so that the fast path saves no registers for it. */
SHMRING_NOINLINE static ipc_err
shmring_send_general(struct shmring_end *e, const void *buf, size_t len,
                     const struct ipc_deadline *dl)
{
    uint64_t pos;
    struct shmring_slot *slot;
    ipc_err err = shmring_reserve(e, &pos, &slot, dl);
    if (err != IPC_OK)
        return err;
    atomic_store_explicit(&slot->len, (uint32_t)len, memory_order_relaxed);
    shmring_copy(shmring_payload(slot), buf, len);
    shmring_publish(e, slot, pos);
    return e->rendezvous ? shmring_handoff(e, slot, pos, dl) : IPC_OK;
}

static ipc_err shmring_send(ipc_channel *ch, const void *buf, size_t len,
                            unsigned prio, const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    uint64_t pos;
    struct shmring_slot *slot;
    (void)prio;
    if (e->peer_idx >= 0 && !shmring_receivers_gone(e)) {
        pos = atomic_load_explicit(&e->hdr->tail, memory_order_acquire);
        slot = shmring_slot_at(e, pos);
        uint64_t s = shmring_state(pos, SHMRING_FREE, 0);
        if (atomic_compare_exchange_strong_explicit(
                &slot->state, &s, shmring_state(pos, SHMRING_WRITING, e->owner),
                memory_order_acquire, memory_order_relaxed)) {
            atomic_store_explicit(&slot->len, (uint32_t)len,
                                  memory_order_relaxed);
            shmring_copy(shmring_payload(slot), buf, len);
            shmring_publish(e, slot, pos);
            uint64_t at = pos;
            shmring_advance(&e->hdr->tail, &pos);
            return e->rendezvous ? shmring_handoff(e, slot, at, dl) : IPC_OK;
        }
    }
    return shmring_send_general(e, buf, len, dl);
}

static ipc_err shmring_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                            unsigned *prio, const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    *prio = 0;
    if (e->peer_idx >= 0) {
        uint64_t pos =
            atomic_load_explicit(&e->hdr->head, memory_order_acquire);
        struct shmring_slot *slot = shmring_slot_at(e, pos);
        uint64_t s = atomic_load_explicit(&slot->state, memory_order_acquire);
        uint32_t size = atomic_load_explicit(&slot->len, memory_order_relaxed);
        /* Anything else (no message, a skip, a length to refuse, garbage)
         * takes the general path, which reports it. */
        if (s == shmring_state(pos, SHMRING_FULL, 0) && size <= e->max_msg &&
            size <= cap &&
            atomic_compare_exchange_strong_explicit(
                &slot->state, &s, shmring_state(pos, SHMRING_READING, e->owner),
                memory_order_acquire, memory_order_relaxed)) {
            /* The slot is ours: only a hostile peer changes the length
             * now; what we copy is bounded by the checked `size`. */
            if (atomic_load_explicit(&slot->len, memory_order_relaxed) != size)
                return shmring_claim_bad(e, slot, pos);
            shmring_copy(buf, shmring_payload(slot), size);
            *len = size;
            shmring_free_slot(e, slot, pos);
            shmring_advance(&e->hdr->head, &pos);
            e->rx_streaming = true;
            return IPC_OK;
        }
    }
    return shmring_take(ch, buf, cap, len, NULL, dl);
}

/* ------------------------------------------------------------ zero copy */

/*
 * Zero copy. A loan is a reserved slot (WRITING) handed to the caller, a
 * view a claimed one (READING); commit publishes a loan, release gives a
 * view back or turns a loan into a skip. At most 16 of each per end, and
 * never more loans than slots (a thread holding every slot would wait on
 * itself): IPC_ELIMIT beyond. A buffer that is no outstanding loan or view
 * of the end (released twice, say) is IPC_EINVAL. Closing an end gives
 * back what it holds; a crash is judged like any holder.
 */

static ipc_err shmring_no_zero_copy(const struct shmring_end *e)
{
    return ipc__fail(IPC_ENOTSUP,
                     "shm: %s: a rendezvous ring (capacity 0) has no zero "
                     "copy; use send and receive",
                     shmring_label(e));
}

static int shmring_find_held(const struct shmring_held *held, unsigned n,
                             const void *buf)
{
    for (unsigned i = 0; i < n; i++)
        if ((const void *)shmring_payload(held[i].slot) == buf)
            return (int)i;
    return -1;
}

/* A slot this end holds already, handed out again: only a peer rewriting
 * the ring's states does that. The slot stays with the first holder (a
 * second entry would make commit and release by buffer ambiguous). */
static bool shmring_held_twice(const struct shmring_end *e,
                               const struct shmring_held *held, unsigned n,
                               struct shmring_slot *slot)
{
    if (shmring_find_held(held, n, shmring_payload(slot)) < 0)
        return false;
    ipc__fail(IPC_EPROTO,
              "shm: %s: the ring is corrupt: a slot this end holds was "
              "handed out again",
              shmring_label(e));
    return true;
}

static ipc_err shmring_loan(ipc_channel *ch, size_t len, void **buf,
                            const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    if (e->rendezvous)
        return shmring_no_zero_copy(e);
    /* Never more loans than slots: a thread holding every slot of the ring
     * would wait forever for room it holds itself. */
    unsigned limit =
        e->n < SHMRING_HELD_MAX ? (unsigned)e->n : SHMRING_HELD_MAX;
    if (e->n_loans >= limit)
        return ipc__fail(IPC_ELIMIT,
                         "shm: %s: %u loans are outstanding on this end, the "
                         "most it may hold; commit or release one",
                         shmring_label(e), e->n_loans);
    struct shmring_held *h = &e->loans[e->n_loans];
    ipc_err err = shmring_reserve(e, &h->pos, &h->slot, dl);
    if (err != IPC_OK)
        return err;
    if (shmring_held_twice(e, e->loans, e->n_loans, h->slot))
        return IPC_EPROTO;
    h->len = len;
    e->n_loans++;
    *buf = shmring_payload(h->slot);
    return IPC_OK;
}

static void shmring_forget(struct shmring_held *held, unsigned *n, int i)
{
    held[i] = held[*n - 1];
    (*n)--;
}

/* Give up a loan: its slot becomes a skip. */
static void shmring_abandon(struct shmring_end *e, const struct shmring_held *h)
{
    uint64_t mine = shmring_state(h->pos, SHMRING_WRITING, e->owner);
    if (atomic_compare_exchange_strong(
            &h->slot->state, &mine,
            shmring_state(h->pos, SHMRING_FULL, SHMRING_SKIP)) &&
        (atomic_load(&e->hdr->rx_wake) >> 32))
        ipc__shm_wake_slow(e, true); /* a receiver may wait on that slot */
}

static ipc_err shmring_commit(ipc_channel *ch, void *buf, size_t len,
                              unsigned prio)
{
    struct shmring_end *e = shmring_priv(ch);
    (void)prio;
    int i = shmring_find_held(e->loans, e->n_loans, buf);
    if (i < 0)
        return ipc__fail(IPC_EINVAL,
                         "shm: %s: %p is not an outstanding loan of this end "
                         "(committed or released already?)",
                         shmring_label(e), buf);
    struct shmring_held h = e->loans[i];
    if (len > h.len)
        return ipc__fail(IPC_EINVAL,
                         "shm: commit of %zu bytes, the loan was for %zu; the "
                         "loan is still yours",
                         len, h.len);
    shmring_forget(e->loans, &e->n_loans, i);
    if (shmring_receivers_gone(e)) {
        shmring_abandon(e, &h);
        return ipc__fail(IPC_ECLOSED,
                         "shm: %s: no receiver is left; the loan is released",
                         shmring_label(e));
    }
    atomic_store_explicit(&h.slot->len, (uint32_t)len, memory_order_relaxed);
    shmring_publish(e, h.slot, h.pos);
    return IPC_OK;
}

static ipc_err shmring_view(ipc_channel *ch, const void **buf, size_t *len,
                            unsigned *prio, const struct ipc_deadline *dl)
{
    struct shmring_end *e = shmring_priv(ch);
    *prio = 0;
    if (e->rendezvous)
        return shmring_no_zero_copy(e);
    if (e->n_views >= SHMRING_HELD_MAX)
        return ipc__fail(IPC_ELIMIT,
                         "shm: %s: %u views are outstanding on this end, the "
                         "most it may hold; release one",
                         shmring_label(e), e->n_views);
    struct shmring_held *h = &e->views[e->n_views];
    ipc_err err = shmring_take(ch, NULL, 0, len, h, dl);
    if (err != IPC_OK)
        return err;
    if (shmring_held_twice(e, e->views, e->n_views, h->slot))
        return IPC_EPROTO;
    e->n_views++;
    *buf = shmring_payload(h->slot);
    return IPC_OK;
}

static ipc_err shmring_release(ipc_channel *ch, const void *buf)
{
    struct shmring_end *e = shmring_priv(ch);
    int i = shmring_find_held(e->views, e->n_views, buf);
    if (i >= 0) {
        struct shmring_held h = e->views[i];
        shmring_forget(e->views, &e->n_views, i);
        shmring_free_slot(e, h.slot, h.pos);
        return IPC_OK;
    }
    i = shmring_find_held(e->loans, e->n_loans, buf);
    if (i >= 0) {
        struct shmring_held h = e->loans[i];
        shmring_forget(e->loans, &e->n_loans, i);
        shmring_abandon(e, &h);
        return IPC_OK;
    }
    return ipc__fail(IPC_EINVAL,
                     "shm: %s: %p is not an outstanding view or loan of this "
                     "end (released twice?)",
                     shmring_label(e), buf);
}

static void shmring_close(ipc_channel *ch)
{
    struct shmring_end *e = shmring_priv(ch);
    if (!e->inited)
        return;
    e->inited = false;
    ipc__shm_list_remove(e);
    if (e->hdr) {
        struct shmring_hdr *hdr = e->hdr;
        while (e->n_loans)
            shmring_release(ch, shmring_payload(e->loans[0].slot));
        while (e->n_views)
            shmring_release(ch, shmring_payload(e->views[0].slot));
        ipc__shm_unregister(e);
        /* Free the entries of ends that are gone (a child that exec'd, a
         * crashed peer) so that the counts this close leaves are true: a
         * sender hears IPC_ECLOSED now, not at its next full ring. */
        ipc__shm_sweep(hdr);
        if (e->named && ch->owner)
            atomic_store(&hdr->unlinked, 1);
        /* A sender leaving while a receiver polls: it may be the one that
         * receiver watches (wait.c); ring, so that it watches another. */
        if (e->role == SHMRING_ROLE_TX &&
            (atomic_load(&hdr->n_tx) == 0 ||
             (e->named && (atomic_load(&hdr->rx_wake) & SHMRING_BELL))))
            ipc__shm_wake_all(e, true);
        if ((e->role == SHMRING_ROLE_RX && atomic_load(&hdr->n_rx) == 0) ||
            (e->named && ch->owner))
            ipc__shm_wake_all(e, false);
        munmap(hdr, e->map_size);
        e->hdr = NULL;
    }
    struct stat st;
    /* The creator removes the name, unless the object was already
     * removed (ipc_unlink, a replacer): then the name may be another's. */
    if (e->named && ch->owner && e->fd >= 0 && fstat(e->fd, &st) == 0 &&
        st.st_nlink > 0)
        shm_unlink(e->name);
    if (e->fd >= 0)
        close(e->fd);
    if (e->peer_fd >= 0)
        close(e->peer_fd);
    e->fd = e->peer_fd = -1;
    ipc__shm_bell_close(e);
}

static ipc_err shmring_pollfd(const ipc_channel *ch, int *fd)
{
    /* ipc__priv drops const: a named end's bell is its hidden state. */
    struct shmring_end *e = shmring_priv(ch);
    if (e->named)
        return ipc__shm_bell_fd(ch, e, fd);
    *fd = e->fd;
    return IPC_OK;
}

/* ------------------------------------------------------------ the table */

const struct ipc_backend ipc__backend_shm = {
    .scheme = "shm",
    .caps = IPC_CAP_NAMED | IPC_CAP_PAIR | IPC_CAP_MULTI_SENDER |
            IPC_CAP_MULTI_RECEIVER | IPC_CAP_RENDEZVOUS | IPC_CAP_POLLABLE |
            IPC_CAP_PEER_CLOSED | IPC_CAP_ZERO_COPY,
    .keys = IPC_KEYBIT(IPC_KEY_CAPACITY) | IPC_KEYBIT(IPC_KEY_MAX_MSG) |
            IPC_KEYBIT(IPC_KEY_MODE) | IPC_KEYBIT(IPC_KEY_OWNER),
    /* A pair's memfd has no name, no mode and no other owner. */
    .named_keys = IPC_KEYBIT(IPC_KEY_MODE) | IPC_KEYBIT(IPC_KEY_OWNER),
    .priv_size = sizeof(struct shmring_end),
    .limits =
        {
            .max_msg_default = SHMRING_MAX_MSG_DEFAULT,
            .max_msg_max = SHMRING_MAX_MSG_MAX,
            .capacity_default = SHMRING_CAPACITY_DEFAULT,
            .capacity_max = SHMRING_CAPACITY_MAX,
            .name_max = SHMRING_NAME_MAX,
        },
    .path_required = true,
    .open = ipc__shm_open,
    .pair = ipc__shm_pair,
    .close = shmring_close,
    .unlink = ipc__shm_unlink,
    .send = shmring_send,
    .recv = shmring_recv,
    .pollfd = shmring_pollfd,
    .loan = shmring_loan,
    .commit = shmring_commit,
    .view = shmring_view,
    .release = shmring_release,
};
