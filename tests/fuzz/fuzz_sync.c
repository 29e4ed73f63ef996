/* SPDX-License-Identifier: MIT */
/* Fuzz target: sync objects whose memory a hostile peer scribbles on. One
 * object of each kind is placed in memory of ours; the input is a program
 * of calls on them (timeouts 0 or 1 ms) interleaved with writes of any
 * value at any word of any object, and re-attachments that validate the
 * memory again.
 *
 * What must hold: no crash, no access outside the objects (ASan), every call
 * back within a second whatever the memory holds (never a hang), and only
 * the codes a scribbled object may give: never IPC_EINVAL or IPC_EIO for a
 * correct call, a semaphore value within range.
 *
 * Input: operations, each an opcode byte (low 3 bits: the kind's call,
 * high bits: which object) and its argument bytes (see fz_step). Each
 * object has FZ_MEM bytes: room for the barrier's table of parties after
 * its IPC_SYNC_SIZE bytes, which the hostile writes reach too; a barrier
 * wait with call bit 2 set waits 15 ms, long enough to judge that table. */
#include "fuzz.h"

#include "ipc/ipc.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#define FZ_MEM 128 /* >= IPC_BARRIER_SIZE(2) */

struct fz_sync {
    const uint8_t *in;
    size_t n, at;
    _Alignas(64) unsigned char mem[5][FZ_MEM];
    ipc_mutex *mutex;
    ipc_sem *sem;
    ipc_barrier *barrier;
    ipc_spin *spin;
    ipc_event *event;
};

static uint8_t fz_byte(struct fz_sync *f)
{
    return f->at < f->n ? f->in[f->at++] : 0;
}

static bool fz_in(ipc_err err, unsigned allowed)
{
    return (allowed >> err) & 1u;
}

#define B(e) (1u << IPC_##e)

static void fz_check(ipc_err err, unsigned allowed, const char *what)
{
    FUZZ_CHECK(fz_in(err, allowed | B(OK) | B(EPROTO)), "%s: %s (%s)", what,
               ipc_errname(err), ipc_last_detail());
}

static void fz_lock_op(struct fz_sync *f, bool spin, uint8_t op, int tmo)
{
    const unsigned lock_ok = B(EOWNERDEAD) | B(EAGAIN) | B(ETIMEDOUT) |
                             B(ENOTRECOVERABLE) | B(EBUSY);
    ipc_err err;
    switch (op % 3) {
    case 0:
        err =
            spin ? ipc_spin_lock(f->spin, tmo) : ipc_mutex_lock(f->mutex, tmo);
        fz_check(err, lock_ok, "lock");
        break;
    case 1:
        err = spin ? ipc_spin_unlock(f->spin) : ipc_mutex_unlock(f->mutex);
        fz_check(err, B(ENOTOWNER), "unlock");
        break;
    default:
        err = spin ? ipc_spin_consistent(f->spin)
                   : ipc_mutex_consistent(f->mutex);
        fz_check(err, B(ENOTOWNER) | B(EINVAL), "consistent");
    }
}

static void fz_sem_op(struct fz_sync *f, uint8_t op, int tmo)
{
    unsigned v = 0;
    ipc_err err;
    switch (op % 3) {
    case 0:
        fz_check(ipc_sem_wait(f->sem, tmo), B(EAGAIN) | B(ETIMEDOUT), "wait");
        break;
    case 1:
        fz_check(ipc_sem_post(f->sem), B(ELIMIT), "post");
        break;
    default:
        err = ipc_sem_value(f->sem, &v);
        fz_check(err, 0, "value");
        FUZZ_CHECK(err != IPC_OK || v <= IPC_SEM_VALUE_MAX, "value %u", v);
    }
}

static void fz_other_op(struct fz_sync *f, int kind, uint8_t op, int tmo)
{
    const unsigned waits = B(EAGAIN) | B(ETIMEDOUT);
    if (kind == IPC_SYNC_BARRIER) {
        if (op & 1)
            fz_check(ipc_barrier_reset(f->barrier), 0, "reset");
        else
            fz_check(ipc_barrier_wait(f->barrier, (op & 4) ? 15 : tmo),
                     waits | B(EBROKEN), "barrier wait");
        return;
    }
    if (op % 3 == 0)
        fz_check(ipc_event_set(f->event), 0, "set");
    else if (op % 3 == 1)
        fz_check(ipc_event_clear(f->event), 0, "clear");
    else
        fz_check(ipc_event_wait(f->event, tmo), waits, "event wait");
}

/* Attach to the object's memory again, as a new opener would. */
static void fz_attach(struct fz_sync *f, int kind)
{
    void *h = NULL;
    ipc_err err = IPC_OK;
    void *m = f->mem[kind];
    switch (kind) {
    case IPC_SYNC_MUTEX:
        err = ipc_mutex_place(m, FZ_MEM, 0, (ipc_mutex **)&h);
        ipc_mutex_close(h);
        break;
    case IPC_SYNC_SEM:
        err = ipc_sem_place(m, FZ_MEM, 0, 0, (ipc_sem **)&h);
        ipc_sem_close(h);
        break;
    case IPC_SYNC_BARRIER:
        err = ipc_barrier_place(m, FZ_MEM, 0, 0, (ipc_barrier **)&h);
        ipc_barrier_close(h);
        break;
    case IPC_SYNC_SPIN:
        err = ipc_spin_place(m, FZ_MEM, 0, (ipc_spin **)&h);
        ipc_spin_close(h);
        break;
    default:
        err = ipc_event_place(m, FZ_MEM, 0, (ipc_event **)&h);
        ipc_event_close(h);
    }
    fz_check(err, B(ENOENT), "attach");
}

static void fz_step(struct fz_sync *f)
{
    uint8_t code = fz_byte(f);
    int kind = (code >> 3) % 5;
    uint8_t op = code & 7;
    int tmo = (code & 0x80) ? 1 : 0;
    if (op == 7) { /* the hostile peer writes a word */
        uint32_t v = 0;
        size_t off = (fz_byte(f) % (FZ_MEM / 4)) * 4;
        for (int i = 0; i < 4; i++)
            v = v << 8 | fz_byte(f);
        memcpy(f->mem[kind] + off, &v, sizeof v);
        return;
    }
    if (op == 6) {
        fz_attach(f, kind);
        return;
    }
    if (kind == IPC_SYNC_MUTEX || kind == IPC_SYNC_SPIN)
        fz_lock_op(f, kind == IPC_SYNC_SPIN, op, tmo);
    else if (kind == IPC_SYNC_SEM)
        fz_sem_op(f, op, tmo);
    else
        fz_other_op(f, kind, op, tmo);
}

static double fz_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz_sync f;
    memset(&f, 0, sizeof f);
    f.in = data;
    f.n = size;
    const unsigned c = IPC_F_CREATE;
    ipc_err err = ipc_mutex_place(f.mem[0], FZ_MEM, c, &f.mutex);
    err |= ipc_sem_place(f.mem[1], FZ_MEM, c, 1, &f.sem);
    err |= ipc_barrier_place(f.mem[2], FZ_MEM, c, 2, &f.barrier);
    err |= ipc_spin_place(f.mem[3], FZ_MEM, c, &f.spin);
    err |= ipc_event_place(f.mem[4], FZ_MEM, c, &f.event);
    FUZZ_CHECK(err == IPC_OK, "place: %s", ipc_last_detail());
    for (int steps = 0; f.at < f.n && steps < 256; steps++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        fz_step(&f);
        FUZZ_CHECK(fz_ms(&t0) < 1000, "a call took %.0f ms", fz_ms(&t0));
    }
    ipc_mutex_close(f.mutex);
    ipc_sem_close(f.sem);
    ipc_barrier_close(f.barrier);
    ipc_spin_close(f.spin);
    ipc_event_close(f.event);
    return 0;
}
