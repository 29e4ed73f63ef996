/* SPDX-License-Identifier: MIT */
/* The sync frontend: argument checks, deadlines, dispatch to a mechanism. */
#include "sync/sync_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct ipc__sync_mech *const sync_mechs[] = {
    &ipc__sync_futex, &ipc__sync_posix, &ipc__sync_sysv, NULL};

static const char *const sync_kind_names[IPC_SYNC_KINDS] = {
    "mutex", "semaphore", "barrier", "spinlock", "event"};

const char *ipc__sync_kind_name(ipc_sync_kind kind)
{
    return (unsigned)kind < IPC_SYNC_KINDS ? sync_kind_names[kind] : "?";
}

/* The mechanism of "scheme" or "scheme:rest". */
static const struct ipc__sync_mech *sync_mech_find(const char *text)
{
    size_t n = strcspn(text, ":");
    for (size_t i = 0; sync_mechs[i]; i++)
        if (strlen(sync_mechs[i]->scheme) == n &&
            memcmp(sync_mechs[i]->scheme, text, n) == 0)
            return sync_mechs[i];
    return NULL;
}

ipc_err ipc_sync_caps(const char *scheme, ipc_sync_kind kind, unsigned *caps)
{
    ipc__clear_detail();
    if (!scheme || !caps || (unsigned)kind >= IPC_SYNC_KINDS)
        return ipc__fail(IPC_EINVAL, "sync: NULL argument or unknown kind");
    const struct ipc__sync_mech *mech = sync_mech_find(scheme);
    if (!mech)
        return ipc__fail(IPC_EINVAL,
                         "sync: unknown scheme in \"%s\" (shm, "
                         "sem, sysv)",
                         scheme);
    *caps = mech->caps[kind];
    return IPC_OK;
}

/* The initial value a kind takes at creation, checked. */
static ipc_err sync_check_init(ipc_sync_kind kind, unsigned flags,
                               unsigned init)
{
    if (!(flags & IPC_F_CREATE))
        return IPC_OK;
    if (kind == IPC_SYNC_SEM && init > IPC_SEM_VALUE_MAX)
        return ipc__fail(IPC_EINVAL, "sync: semaphore value %u above %u", init,
                         IPC_SEM_VALUE_MAX);
    if (kind == IPC_SYNC_BARRIER &&
        (init == 0 || init > IPC_BARRIER_PARTIES_MAX))
        return ipc__fail(IPC_EINVAL, "sync: barrier parties %u, not 1..%u",
                         init, IPC_BARRIER_PARTIES_MAX);
    return IPC_OK;
}

static ipc_err sync_check_addr(const struct ipc__sync_mech **mech,
                               ipc_sync_kind kind, const struct ipc_addr *addr)
{
    *mech = sync_mech_find(addr->scheme);
    if (!*mech)
        return ipc__fail(IPC_EINVAL,
                         "sync: unknown scheme \"%s\" (shm, sem, "
                         "sysv)",
                         addr->scheme);
    if (addr->path_len == 0 || addr->path_len > (*mech)->name_max)
        return ipc__fail(IPC_EINVAL, "%s: a name of 1 to %zu bytes is needed",
                         addr->scheme, (*mech)->name_max);
    if (addr->keys_set & ~IPC_KEYBIT(IPC_KEY_MODE))
        return ipc__fail(IPC_EINVAL,
                         "%s: sync objects take only the mode "
                         "option",
                         addr->scheme);
    if (ipc__addr_get(addr, IPC_KEY_MODE, 0600) > 0777)
        return ipc__fail(IPC_EINVAL, "%s: mode above 0777", addr->scheme);
    if (!((*mech)->caps[kind] & IPC_SYNC_CAP_SUPPORTED))
        return ipc__fail(IPC_ENOTSUP, "%s: no %s on this mechanism",
                         addr->scheme, ipc__sync_kind_name(kind));
    return IPC_OK;
}

static ipc_err sync_check_flags(unsigned flags, unsigned allowed)
{
    if (flags & ~allowed)
        return ipc__fail(IPC_EINVAL, "sync: flags 0x%x not accepted here",
                         flags & ~allowed);
    if ((flags & (IPC_F_EXCL | IPC_F_REPLACE)) && !(flags & IPC_F_CREATE))
        return ipc__fail(IPC_EINVAL, "sync: IPC_F_EXCL and IPC_F_REPLACE "
                                     "need IPC_F_CREATE");
    return IPC_OK;
}

static void sync_free(struct ipc_sync *s)
{
    if (!s)
        return;
    /* A forked child's copy never removes its parent's name. */
    if (s->owner && s->owner_pid != getpid())
        s->owner = false;
    s->mech->close(s);
    free(s->address);
    free(s);
}

static ipc_err sync_open(ipc_sync_kind kind, const char *address,
                         unsigned flags, unsigned init, int timeout_ms,
                         struct ipc_sync **out)
{
    ipc__clear_detail();
    if (!out || !address)
        return ipc__fail(IPC_EINVAL, "sync: NULL argument");
    *out = NULL;
    struct ipc_addr addr;
    const struct ipc__sync_mech *mech;
    ipc_err err =
        sync_check_flags(flags, IPC_F_CREATE | IPC_F_EXCL | IPC_F_REPLACE);
    if (err == IPC_OK)
        err = sync_check_init(kind, flags, init);
    if (err == IPC_OK)
        err = ipc__addr_parse(address, &addr);
    if (err == IPC_OK)
        err = sync_check_addr(&mech, kind, &addr);
    if (err != IPC_OK)
        return err;
    struct ipc_sync *s = calloc(1, sizeof *s);
    if (!s || !(s->address = strdup(address))) {
        free(s);
        return ipc__fail(IPC_ENOMEM, "sync: out of memory");
    }
    s->mech = mech;
    s->kind = kind;
    s->owner_pid = getpid();
    struct ipc_deadline dl;
    ipc__deadline_init(&dl, timeout_ms);
    err = mech->open(s, &addr, flags, init, &dl);
    if (err != IPC_OK) {
        s->owner = false;
        sync_free(s);
        return err;
    }
    *out = s;
    return IPC_OK;
}

static ipc_err sync_place(ipc_sync_kind kind, void *mem, size_t size,
                          unsigned flags, unsigned init, struct ipc_sync **out)
{
    ipc__clear_detail();
    if (!out || !mem)
        return ipc__fail(IPC_EINVAL, "sync: NULL argument");
    *out = NULL;
    if (size < IPC_SYNC_SIZE || (uintptr_t)mem % IPC_SYNC_ALIGN != 0)
        return ipc__fail(IPC_EINVAL,
                         "sync: a placed object needs %d bytes aligned to "
                         "%d (got %zu bytes at %p)",
                         IPC_SYNC_SIZE, IPC_SYNC_ALIGN, size, mem);
    ipc_err err = sync_check_flags(flags, IPC_F_CREATE);
    if (err == IPC_OK)
        err = sync_check_init(kind, flags, init);
    if (err != IPC_OK)
        return err;
    struct ipc_sync *s = calloc(1, sizeof *s);
    if (!s)
        return ipc__fail(IPC_ENOMEM, "sync: out of memory");
    s->mech = &ipc__sync_futex;
    s->kind = kind;
    err = ipc__sync_futex_attach(s, mem, size, flags, init);
    if (err != IPC_OK) {
        free(s);
        return err;
    }
    *out = s;
    return IPC_OK;
}

ipc_err ipc_sync_unlink(const char *address)
{
    ipc__clear_detail();
    if (!address)
        return ipc__fail(IPC_EINVAL, "sync: NULL address");
    struct ipc_addr addr;
    const struct ipc__sync_mech *mech;
    ipc_err err = ipc__addr_parse(address, &addr);
    if (err == IPC_OK)
        err = sync_check_addr(&mech, IPC_SYNC_SEM, &addr);
    /* Every mechanism has semaphores; ENOTSUP cannot come from the kind. */
    if (err != IPC_OK)
        return err;
    return mech->unlink(&addr);
}

/* ---------------------------------------------------------------- dispatch
 * An op the mechanism lacks, or a NULL handle. */

/* The refusal of a NULL handle or an op the mechanism lacks: cold and out
 * of line, so that the calls that pass need no stack frame (each is then a
 * check and a jump into the mechanism). No ipc__clear_detail() on the way
 * in, as on channel sends: the detail is only promised after a failure,
 * and the write costs every lock a TLS access. */
__attribute__((cold, noinline)) static ipc_err
sync_refuse(const struct ipc_sync *s, const char *what)
{
    if (!s)
        return ipc__fail(IPC_EINVAL, "sync: NULL handle");
    return ipc__fail(IPC_ENOTSUP, "%s: %s: %s is not supported",
                     s->mech->scheme, ipc__sync_kind_name(s->kind), what);
}

/* Dispatch to the mechanism's op on handle s; SYNC_CALL_ARG passes one
 * argument more (a wait's timeout: the op makes the deadline if it must
 * wait). */
#define SYNC_CALL(s, op, what)                                                 \
    do {                                                                       \
        if (__builtin_expect(!(s) || !(s)->mech->op, 0))                       \
            return sync_refuse((s), what);                                     \
        return (s)->mech->op(s);                                               \
    } while (0)
#define SYNC_CALL_ARG(s, op, what, arg)                                        \
    do {                                                                       \
        if (__builtin_expect(!(s) || !(s)->mech->op, 0))                       \
            return sync_refuse((s), what);                                     \
        return (s)->mech->op((s), (arg));                                      \
    } while (0)

/* Make an object and hand it out under its public type (the public
 * structs wrap struct ipc_sync as their only member). */
#define SYNC_OUT(out, make, ...)                                               \
    do {                                                                       \
        struct ipc_sync *made_ = NULL;                                         \
        ipc_err err_ = make(__VA_ARGS__, (out) ? &made_ : NULL);               \
        if (out)                                                               \
            *(out) = (void *)made_;                                            \
        return err_;                                                           \
    } while (0)

/* ---------------------------------------------------------------- mutex */

ipc_err ipc_mutex_open(const char *address, unsigned flags, int timeout_ms,
                       ipc_mutex **out)
{
    SYNC_OUT(out, sync_open, IPC_SYNC_MUTEX, address, flags, 0, timeout_ms);
}

ipc_err ipc_mutex_place(void *mem, size_t size, unsigned flags, ipc_mutex **out)
{
    SYNC_OUT(out, sync_place, IPC_SYNC_MUTEX, mem, size, flags, 0);
}

void ipc_mutex_close(ipc_mutex *m)
{
    sync_free(m ? &m->s : NULL);
}

ipc_err ipc_mutex_lock(ipc_mutex *m, int timeout_ms)
{
    SYNC_CALL_ARG(m ? &m->s : NULL, lock, "lock", timeout_ms);
}

ipc_err ipc_mutex_unlock(ipc_mutex *m)
{
    SYNC_CALL(m ? &m->s : NULL, unlock, "unlock");
}

ipc_err ipc_mutex_consistent(ipc_mutex *m)
{
    SYNC_CALL(m ? &m->s : NULL, consistent,
              "owner-death recovery (no IPC_SYNC_CAP_ROBUST)");
}

/* ---------------------------------------------------------------- spinlock */

ipc_err ipc_spin_open(const char *address, unsigned flags, int timeout_ms,
                      ipc_spin **out)
{
    SYNC_OUT(out, sync_open, IPC_SYNC_SPIN, address, flags, 0, timeout_ms);
}

ipc_err ipc_spin_place(void *mem, size_t size, unsigned flags, ipc_spin **out)
{
    SYNC_OUT(out, sync_place, IPC_SYNC_SPIN, mem, size, flags, 0);
}

void ipc_spin_close(ipc_spin *l)
{
    sync_free(l ? &l->s : NULL);
}

ipc_err ipc_spin_lock(ipc_spin *l, int timeout_ms)
{
    SYNC_CALL_ARG(l ? &l->s : NULL, lock, "lock", timeout_ms);
}

ipc_err ipc_spin_unlock(ipc_spin *l)
{
    SYNC_CALL(l ? &l->s : NULL, unlock, "unlock");
}

ipc_err ipc_spin_consistent(ipc_spin *l)
{
    SYNC_CALL(l ? &l->s : NULL, consistent,
              "owner-death recovery (no IPC_SYNC_CAP_ROBUST)");
}

/* ---------------------------------------------------------------- semaphore */

ipc_err ipc_sem_open(const char *address, unsigned flags, unsigned value,
                     int timeout_ms, ipc_sem **out)
{
    SYNC_OUT(out, sync_open, IPC_SYNC_SEM, address, flags, value, timeout_ms);
}

ipc_err ipc_sem_place(void *mem, size_t size, unsigned flags, unsigned value,
                      ipc_sem **out)
{
    SYNC_OUT(out, sync_place, IPC_SYNC_SEM, mem, size, flags, value);
}

void ipc_sem_close(ipc_sem *s)
{
    sync_free(s ? &s->s : NULL);
}

ipc_err ipc_sem_wait(ipc_sem *s, int timeout_ms)
{
    SYNC_CALL_ARG(s ? &s->s : NULL, sem_wait, "wait", timeout_ms);
}

ipc_err ipc_sem_post(ipc_sem *s)
{
    SYNC_CALL(s ? &s->s : NULL, sem_post, "post");
}

ipc_err ipc_sem_value(ipc_sem *s, unsigned *value)
{
    if (s && !value)
        return ipc__fail(IPC_EINVAL, "sync: NULL value");
    SYNC_CALL_ARG(s ? &s->s : NULL, sem_value, "value", value);
}

ipc_err ipc_sem_pollfd(ipc_sem *s, int *fd)
{
    ipc_err err = sync_refuse(s ? &s->s : NULL, "a descriptor to poll (no "
                                                "IPC_SYNC_CAP_POLLABLE)");
    if (fd)
        *fd = -1;
    return err;
}

/* ---------------------------------------------------------------- barrier */

ipc_err ipc_barrier_open(const char *address, unsigned flags, unsigned parties,
                         int timeout_ms, ipc_barrier **out)
{
    SYNC_OUT(out, sync_open, IPC_SYNC_BARRIER, address, flags, parties,
             timeout_ms);
}

ipc_err ipc_barrier_place(void *mem, size_t size, unsigned flags,
                          unsigned parties, ipc_barrier **out)
{
    SYNC_OUT(out, sync_place, IPC_SYNC_BARRIER, mem, size, flags, parties);
}

void ipc_barrier_close(ipc_barrier *b)
{
    sync_free(b ? &b->s : NULL);
}

ipc_err ipc_barrier_wait(ipc_barrier *b, int timeout_ms)
{
    SYNC_CALL_ARG(b ? &b->s : NULL, barrier_wait, "wait", timeout_ms);
}

ipc_err ipc_barrier_reset(ipc_barrier *b)
{
    SYNC_CALL(b ? &b->s : NULL, barrier_reset, "reset");
}

/* ---------------------------------------------------------------- event */

ipc_err ipc_event_open(const char *address, unsigned flags, int timeout_ms,
                       ipc_event **out)
{
    SYNC_OUT(out, sync_open, IPC_SYNC_EVENT, address, flags, 0, timeout_ms);
}

ipc_err ipc_event_place(void *mem, size_t size, unsigned flags, ipc_event **out)
{
    SYNC_OUT(out, sync_place, IPC_SYNC_EVENT, mem, size, flags, 0);
}

void ipc_event_close(ipc_event *e)
{
    sync_free(e ? &e->s : NULL);
}

ipc_err ipc_event_set(ipc_event *e)
{
    SYNC_CALL(e ? &e->s : NULL, event_set, "set");
}

ipc_err ipc_event_clear(ipc_event *e)
{
    SYNC_CALL(e ? &e->s : NULL, event_clear, "clear");
}

ipc_err ipc_event_wait(ipc_event *e, int timeout_ms)
{
    SYNC_CALL_ARG(e ? &e->s : NULL, event_wait, "wait", timeout_ms);
}
