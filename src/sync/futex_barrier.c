/* SPDX-License-Identifier: MIT */
/* futex: the barrier, and the table of its parties that lets a party's
 * death break it (Linux only). */
#include "os.h"
#include "sync/futex.h"

#include <limits.h>
#include <stdint.h>

/* A barrier's own checks at attach: the party table fits the memory. */
ipc_err ipc__fx_bar_attach(struct ipc_sync *s, struct ipc__sync_obj *o,
                           size_t size)
{
    uint32_t parties = atomic_load(&o->aux);
    uint32_t slots = atomic_load(&o->slots);
    if (parties == 0 || parties > IPC_BARRIER_PARTIES_MAX || slots != parties)
        return ipc__fail(IPC_EPROTO, "shm: barrier parties %u, table %u",
                         parties, slots);
    if (size < IPC_BARRIER_SIZE(slots))
        return ipc__fail(IPC_EPROTO,
                         "shm: a barrier of %u parties takes %zu bytes "
                         "(IPC_BARRIER_SIZE), the memory given has %zu",
                         parties, IPC_BARRIER_SIZE(slots), size);
    s->u.fx.bar_slots = slots;
    return IPC_OK;
}

/* ---------------------------------------------------------------- barrier
 * One word, so that arriving, completing and breaking are each one
 * compare-and-swap and never half-seen.
 *
 * Parties that die. A process becomes a party at its first wait on a
 * handle: it takes an entry of the table after the object (its pid and
 * start time, one compare-and-swap) and keeps it until that handle's close
 * (a forked child's copy of the handle registers the child anew). A party
 * asleep in wait wakes every FX_BAR_SLICE_NS and, when the gate in the
 * object lets it (one judge in all every FX_BAR_GATE_NS), judges up to
 * FX_BAR_BATCH entries as the mutex judges its holder (/proc/<pid>/stat,
 * the start time against pid reuse). An entry whose process is gone breaks
 * the barrier for every party, now and later, until reset; its pid goes in
 * dead for the detail. A stopped process is alive: that is a timeout. The
 * entry stays until reset, so every generation after the death breaks too
 * (an exit without close is a death: nobody can tell them apart). */

static ipc_err fx_bar_broken(struct ipc__sync_obj *o)
{
    uint32_t dead = atomic_load_explicit(&o->dead, memory_order_relaxed);
    if (dead != 0)
        return ipc__fail(IPC_EBROKEN,
                         "shm: barrier broken: party pid %u died (or exited "
                         "without closing); ipc_barrier_reset() mends it",
                         dead);
    return ipc__fail(IPC_EBROKEN, "shm: barrier broken: a party timed "
                                  "out; ipc_barrier_reset() mends it");
}

static ipc_err fx_bar_check(struct ipc__sync_obj *o, uint32_t v,
                            uint32_t *parties)
{
    *parties = atomic_load_explicit(&o->aux, memory_order_relaxed);
    if (*parties == 0 || *parties > IPC_BARRIER_PARTIES_MAX ||
        (v & FX_BAR_ARRIVED) >= *parties)
        return ipc__fail(IPC_EPROTO, "shm: barrier word 0x%08x, parties %u", v,
                         *parties);
    if (v & FX_BAR_BROKEN)
        return fx_bar_broken(o);
    return IPC_OK;
}

/* Set the broken bit of whatever generation is current, and wake all. */
static void fx_bar_break(struct ipc__sync_obj *o)
{
    uint32_t v = atomic_load(&o->word);
    while (!(v & FX_BAR_BROKEN))
        if (atomic_compare_exchange_weak(&o->word, &v, v | FX_BAR_BROKEN)) {
            ipc__fx_futex_wake(&o->word, INT_MAX);
            return;
        }
}

/* Register this process in the table, once per handle and process. A full
 * table (more processes than parties hold handles) leaves it unwatched. */
static void fx_bar_join(struct ipc_sync *s, struct ipc__sync_obj *o)
{
    uint64_t me = ipc__fx_party();
    uint64_t pid = me & FX_PARTY_PID;
    uint64_t reg = atomic_load_explicit(&s->u.fx.bar_reg, memory_order_relaxed);
    if (__builtin_expect(reg >> 32 == pid, 1))
        return;
    _Atomic uint64_t *table = fx_party_table(o);
    uint32_t idx = 0;
    for (uint32_t i = 0; i < s->u.fx.bar_slots && idx == 0; i++) {
        uint64_t free_entry = 0;
        if (atomic_load_explicit(&table[i], memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&table[i], &free_entry, me))
            idx = i + 1;
    }
    /* Another thread of ours may have registered this handle meanwhile. */
    if (!atomic_compare_exchange_strong(&s->u.fx.bar_reg, &reg,
                                        pid << 32 | idx) &&
        idx != 0) {
        uint64_t mine = me;
        atomic_compare_exchange_strong(&table[idx - 1], &mine, 0);
    }
}

/* Give back this process's entry (close): only the entry it wrote. */
void ipc__fx_bar_leave(struct ipc_sync *s)
{
    uint64_t reg = atomic_load(&s->u.fx.bar_reg);
    uint32_t idx = (uint32_t)reg;
    if (idx == 0 || idx > s->u.fx.bar_slots)
        return;
    uint64_t me = ipc__fx_party();
    if (reg >> 32 != (me & FX_PARTY_PID))
        return; /* a forked child's copy: the entry is the parent's */
    uint64_t mine = me;
    atomic_compare_exchange_strong(&fx_party_table(s->u.fx.obj)[idx - 1], &mine,
                                   0);
}

/* Is the party of entry w gone? A pid of 0 is no entry libipc writes. */
static ipc_err fx_bar_gone(uint64_t w, uint64_t me, uint32_t *dead)
{
    uint32_t pid = (uint32_t)(w & FX_PARTY_PID);
    if (w == me)
        return IPC_OK; /* ourselves (another handle of this process) */
    if (pid == 0)
        return ipc__fail(IPC_EPROTO, "shm: barrier party entry 0x%016llx",
                         (unsigned long long)w);
    if (ipc__proc_gone(pid, w >> FX_PARTY_SHIFT, 0) == 1)
        *dead = pid;
    return IPC_OK;
}

/* May this process judge now? One judge in all per FX_BAR_GATE_NS. A gate
 * further ahead than two periods is nobody's (scribbled, or another time
 * namespace): taken over. */
static bool fx_bar_gate(struct ipc__sync_obj *o, int64_t now)
{
    uint64_t at = atomic_load_explicit(&o->start, memory_order_relaxed);
    if (at > (uint64_t)now && at - (uint64_t)now <= 2 * FX_BAR_GATE_NS)
        return false;
    return atomic_compare_exchange_strong(&o->start, &at,
                                          (uint64_t)(now + FX_BAR_GATE_NS));
}

/* Judge a batch of registered parties from the cursor; break the barrier
 * at the first one gone. IPC_OK, or IPC_EPROTO. */
static ipc_err fx_bar_judge(struct ipc_sync *s, struct ipc__sync_obj *o)
{
    uint32_t n = s->u.fx.bar_slots, dead = 0;
    if (n == 0)
        return IPC_OK;
    uint32_t at = atomic_load_explicit(&o->cursor, memory_order_relaxed) % n;
    uint32_t count = n <= FX_BAR_BATCH ? n : FX_BAR_BATCH;
    atomic_store_explicit(&o->cursor, (at + count) % n, memory_order_relaxed);
    _Atomic uint64_t *table = fx_party_table(o);
    uint64_t me = ipc__fx_party();
    for (uint32_t k = 0; k < count && dead == 0; k++) {
        uint64_t w =
            atomic_load_explicit(&table[(at + k) % n], memory_order_relaxed);
        ipc_err err = w == 0 ? IPC_OK : fx_bar_gone(w, me, &dead);
        if (err != IPC_OK) {
            fx_bar_break(o); /* the others are not left waiting on it */
            return err;
        }
    }
    if (dead != 0) {
        uint32_t none = 0; /* the first death found is the one named */
        atomic_compare_exchange_strong(&o->dead, &none, dead);
        fx_bar_break(o);
    }
    return IPC_OK;
}

/* Wait for generation gen to end after arriving; judge in slices. */
static ipc_err fx_bar_sleep(struct ipc_sync *s, struct ipc__sync_obj *o,
                            uint32_t gen, const struct ipc_deadline *dl)
{
    uint32_t parties;
    /* A generation done within a millisecond never pays for a judge. */
    int64_t judge_at =
        dl->nonblock ? INT64_MAX : ipc__now_ns() + FX_SLICE_MIN_NS;
    for (;;) {
        uint32_t v = atomic_load_explicit(&o->word, memory_order_acquire);
        if ((v & ~(FX_BAR_BROKEN | FX_BAR_ARRIVED)) != gen)
            return IPC_OK;
        ipc_err err = fx_bar_check(o, v, &parties);
        if (err != IPC_OK)
            return err;
        int64_t now = dl->nonblock ? 0 : ipc__now_ns();
        if (dl->nonblock || now >= dl->at_ns) {
            if (!atomic_compare_exchange_strong(&o->word, &v,
                                                v | FX_BAR_BROKEN))
                continue;
            ipc__fx_futex_wake(&o->word, INT_MAX);
            return ipc__deadline_err(dl);
        }
        if (now >= judge_at) {
            judge_at = now + FX_BAR_SLICE_NS;
            if (fx_bar_gate(o, now) && (err = fx_bar_judge(s, o)) != IPC_OK)
                return err;
            continue; /* it may have broken the barrier */
        }
        int64_t until = judge_at < dl->at_ns ? judge_at : dl->at_ns;
        if ((err = ipc__fx_sleep(&o->word, v, until)) != IPC_OK)
            return err;
    }
}

ipc_err ipc__fx_barrier_wait(struct ipc_sync *s, int timeout_ms)
{
    FX_OBJ(o, s);
    uint32_t parties;
    ipc_err err = IPC_OK;
    fx_bar_join(s, o);
    uint32_t v = atomic_load(&o->word), next;
    do {
        if ((err = fx_bar_check(o, v, &parties)) != IPC_OK)
            return err;
        if ((v & FX_BAR_ARRIVED) + 1 == parties)
            next = (v & ~FX_BAR_ARRIVED) + FX_BAR_GEN_ONE;
        else
            next = v + 1;
    } while (!atomic_compare_exchange_weak(&o->word, &v, next));
    if ((next & FX_BAR_ARRIVED) == 0) {
        ipc__fx_futex_wake(&o->word, INT_MAX);
        return IPC_OK;
    }
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    return fx_bar_sleep(s, o, v & ~(FX_BAR_BROKEN | FX_BAR_ARRIVED), &dl);
}

/* Free the entries of parties that are gone (and scribbled ones). */
static void fx_bar_sweep(struct ipc_sync *s, struct ipc__sync_obj *o)
{
    _Atomic uint64_t *table = fx_party_table(o);
    uint64_t me = ipc__fx_party();
    for (uint32_t i = 0; i < s->u.fx.bar_slots; i++) {
        uint64_t w = atomic_load(&table[i]);
        uint32_t dead = 0;
        if (w != 0 && (fx_bar_gone(w, me, &dead) != IPC_OK || dead != 0))
            atomic_compare_exchange_strong(&table[i], &w, 0);
    }
}

ipc_err ipc__fx_barrier_reset(struct ipc_sync *s)
{
    FX_OBJ(o, s);
    fx_bar_sweep(s, o);
    atomic_store(&o->dead, 0);
    /* A new generation: a late waiter of the old one sees it end. */
    uint32_t v = atomic_load(&o->word);
    while (!atomic_compare_exchange_weak(
        &o->word, &v, (v & ~(FX_BAR_BROKEN | FX_BAR_ARRIVED)) + FX_BAR_GEN_ONE))
        ;
    ipc__fx_futex_wake(&o->word, INT_MAX);
    return IPC_OK;
}
