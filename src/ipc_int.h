/* SPDX-License-Identifier: MIT */
/* Internal umbrella: the channel, the backend table, addresses, deadlines. */
#ifndef IPC_INT_H
#define IPC_INT_H

#include "ipc/ipc.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* ---------------------------------------------------------------- addresses
 * "scheme:path?key=value&..." parsed without any system call (address.c). */

#define IPC_ADDR_SCHEME_MAX 15
#define IPC_ADDR_PATH_MAX   4095

/* Every option any backend knows. A backend accepts a subset (keys below). */
enum ipc__key {
    IPC_KEY_CAPACITY,
    IPC_KEY_MAX_MSG,
    IPC_KEY_MODE,
    IPC_KEY_FD,
    IPC_KEY_PEER_UID,
    IPC_KEY_OWNER,
    IPC_KEY_SIZE,    /* regions */
    IPC_KEY_BIND,    /* tcp: a sender's local address (text) */
    IPC_KEY_PEER,    /* tcp: who may connect, ADDR[/PREFIX] (text) */
    IPC_KEY_LAZY,    /* nng: a sender's open does not wait for its receiver */
    IPC_KEY_NODELAY, /* tcp: 0 lets the kernel coalesce small sends */
    IPC_KEY_COUNT
};
#define IPC_KEYBIT(k) (1u << (k))
/* Text-valued options (bind=, peer=): each has a slot in ipc_addr.str,
 * val[] holds the slot; printable, no '&', at most IPC_ADDR_STR_MAX. */
#define IPC_ADDR_STR_SLOTS 2
#define IPC_ADDR_STR_MAX   63

struct ipc_addr {
    char scheme[IPC_ADDR_SCHEME_MAX + 1];
    bool transport; /* "scheme+path": path names a transport, as
                       "tcp://h:p" in "nng+tcp://h:p" (backends with
                       ipc_backend.transports only) */
    char path[IPC_ADDR_PATH_MAX + 1]; /* may be "" */
    size_t path_len;
    unsigned keys_set; /* IPC_KEYBIT() of each key given */
    uint64_t val[IPC_KEY_COUNT];
    char str[IPC_ADDR_STR_SLOTS][IPC_ADDR_STR_MAX + 1];
};

/* Parse the syntax and the option names/values; IPC_EINVAL with a detail. */
ipc_err ipc__addr_parse(const char *text, struct ipc_addr *addr);
/* Name of a key, for messages. */
const char *ipc__key_name(enum ipc__key key);
/* The value of a key if given, else dflt. */
static inline uint64_t ipc__addr_get(const struct ipc_addr *a, enum ipc__key k,
                                     uint64_t dflt)
{
    return (a->keys_set & IPC_KEYBIT(k)) ? a->val[k] : dflt;
}

/* The text of a text-valued key if given, else NULL. */
static inline const char *ipc__addr_str(const struct ipc_addr *a,
                                        enum ipc__key k)
{
    return (a->keys_set & IPC_KEYBIT(k)) ? a->str[a->val[k]] : NULL;
}

/* ---------------------------------------------------------------- deadlines
 * One monotonic deadline per call (deadline.c). */

struct ipc_deadline {
    int64_t at_ns; /* CLOCK_MONOTONIC instant; INT64_MAX for forever */
    bool nonblock; /* timeout 0: waits answer IPC_EAGAIN, not ETIMEDOUT */
};

int64_t ipc__now_ns(void);
/* Inline: every send and receive makes one, and as a call across files it
 * cost the hot path of the shm ring about 30 instructions a message (the
 * call, and the registers the caller then had to save). */
static inline void ipc__deadline_init(struct ipc_deadline *dl, int timeout_ms)
{
    dl->nonblock = timeout_ms == 0;
    if (timeout_ms < 0)
        dl->at_ns = INT64_MAX;
    else if (timeout_ms == 0)
        dl->at_ns = 0; /* no clock read on the non-blocking path */
    else
        dl->at_ns = ipc__now_ns() + (int64_t)timeout_ms * 1000000;
}
/* Milliseconds left for poll(): -1 forever, 0 expired, else rounded up so
 * that a wait never ends before the deadline. */
int ipc__deadline_poll_ms(const struct ipc_deadline *dl);
bool ipc__deadline_expired(const struct ipc_deadline *dl);
/* The code a wait that ran out answers: IPC_EAGAIN for timeout 0. */
ipc_err ipc__deadline_err(const struct ipc_deadline *dl);
/* The deadline as an absolute CLOCK_REALTIME instant for kernel calls that
 * only take that clock; recompute on every retry (wall clock may jump). */
void ipc__deadline_realtime(const struct ipc_deadline *dl, struct timespec *ts);
/* Wait for events on fd until the deadline; EINTR retried. IPC_OK when
 * ready (revents in *revents if not NULL), else the deadline's code. */
ipc_err ipc__wait_fd(int fd, short events, const struct ipc_deadline *dl,
                     short *revents);
/* The same for several descriptors (poll(2) semantics: a negative fd is
 * skipped): IPC_OK once any is ready, each revents filled in. */
ipc_err ipc__wait_fds(struct pollfd *pfds, nfds_t n,
                      const struct ipc_deadline *dl);
/* Like ipc__wait_fd, but return IPC_OK with *revents 0 after *slice_ns at
 * most, doubling *slice_ns up to 1 ms for the next call: for waits where the
 * kernel's readiness lags behind what a retry would find. */
ipc_err ipc__wait_fd_slice(int fd, short events, const struct ipc_deadline *dl,
                           long *slice_ns, short *revents);
/* Spinning before a sleep (deadline.c). A wait on a descriptor that would
 * sleep first looks again, yielding the CPU between looks, for up to
 * IPC_SPIN_NS: on a busy channel the peer's next message or reply comes
 * within that, and a sleep and its wake-up cost more than the looks (the
 * wake-up is also paid by the peer's send); see the README's Benchmarks.
 * An end whose last wait took longer than IPC_SPIN_IDLE_NS (its peer is
 * slower than that, or idle) sleeps at once until a sleep ends within
 * that again, so that a spin which would not pay is not made per message:
 * a peer that sends more than 50 us apart costs no spin; one 20-50 us
 * apart costs at most the spin per message. Measured: a loopback TCP or
 * unix round trip whose legs are both caught by the spin takes 16 us
 * where two sleeps take 28; an idle threshold of the spin's own length
 * let a round trip that once fell asleep stay asleep. */
#define IPC_SPIN_NS      20000
#define IPC_SPIN_IDLE_NS 50000
struct ipc_waitspin {
    bool idle; /* the last wait was long: sleep at once */
};
/* The spin around any look: look(arg, ms) is the wait's own call (its
 * return value and errno pass through: > 0 ready, 0 nothing in ms, < 0
 * failed); with ms != 0 it is first called with 0, as the spin. */
typedef int (*ipc_spin_look_fn)(const void *arg, int ms);
int ipc__spin_wait(struct ipc_waitspin *sp, int ms, ipc_spin_look_fn look,
                   const void *arg);
/* epoll_wait(2) with the spin first when ms != 0. */
struct epoll_event;
int ipc__spin_epoll(struct ipc_waitspin *sp, int epfd, struct epoll_event *ev,
                    int max, int ms);
/* ipc__wait_fds with the spin first (none when sp is NULL). */
ipc_err ipc__wait_fds_spin(struct pollfd *pfds, nfds_t n,
                           const struct ipc_deadline *dl,
                           struct ipc_waitspin *sp);
/* Sleep *nap_ns (less if the deadline is nearer), doubling it up to 1 ms
 * for the next call; the deadline's code once it has passed. */
ipc_err ipc__nap(const struct ipc_deadline *dl, long *nap_ns);
/* The same, doubling up to max_ns: for pollers whose every look costs a
 * wake-up, so that a long wait stays cheap (sysv: 2 ms). */
ipc_err ipc__nap_upto(const struct ipc_deadline *dl, long *nap_ns, long max_ns);

/* ---------------------------------------------------------------- errors */

/* Set the thread's detail and return err. printf-style. */
ipc_err ipc__fail(ipc_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Map an errno from a system call to a code, with a detail naming what was
 * being done: ipc__errno(errno, "unix: connect %s", path). */
ipc_err ipc__errno(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The code alone, without touching the detail (errno map, unit-tested). */
ipc_err ipc__errno_code(int err);
void ipc__clear_detail(void);

/* ---------------------------------------------------------------- backends */

struct ipc_channel;

/* Limits a backend puts on its options, checked by the frontend before any
 * backend code runs. */
struct ipc_backend_limits {
    size_t max_msg_default;
    size_t max_msg_max; /* hard cap; OS limits are checked in open */
    size_t capacity_default;
    size_t capacity_max;
    size_t name_max; /* longest path accepted (bytes, without NUL) */
};

/*
 * One transport. Every backend defines exactly one of these, const, at the
 * end of its file. An optional op left NULL makes the frontend answer
 * IPC_ENOTSUP, and its capability bit must then be clear (a unit test walks
 * the registry to check it). The frontend has already checked: non-NULL
 * arguments, the direction of the end, len <= max_msg, prio <= max_prio.
 * Ops that wait get the call's deadline and must not wait past it; they
 * retry EINTR and never return raw errno. Returned errors carry a detail
 * (ipc__fail / ipc__errno).
 */
struct ipc_backend {
    const char *scheme;
    unsigned caps;       /* IPC_CAP_* the backend may offer; ends may have
                            fewer (set ch->caps in open/pair) */
    unsigned keys;       /* IPC_KEYBIT() of the options it accepts */
    unsigned named_keys; /* those of keys that only a named end uses: a
                            pair given one fails with IPC_EINVAL */
    size_t priv_size;    /* private state, allocated after the channel */
    unsigned max_prio;   /* highest priority, 0 without IPC_CAP_PRIORITY */
    struct ipc_backend_limits limits;
    bool path_required;    /* a named address needs a non-empty path */
    const char *built_out; /* non-NULL: compiled out; the reason */
    bool transports;       /* addresses are "scheme+TRANSPORT://...";
                              "scheme:..." is refused (nng) */
    bool recv_prio_null;   /* recv takes prio NULL when the caller does not
                              want it (mq: the kernel then does not store
                              it); else the frontend passes a dummy */

    /* Open a named end. ch is zeroed except the frontend fields; fill
     * priv, ch->caps (defaults to caps & ~PAIR), capacity fields. May
     * wait for a not-ready object until dl. NULL: no named mode. */
    ipc_err (*open)(struct ipc_channel *ch, const struct ipc_addr *addr,
                    unsigned flags, const struct ipc_deadline *dl);
    /* Make a private channel: tx sends, rx receives. NULL: no pairs. */
    ipc_err (*pair)(struct ipc_channel *tx, struct ipc_channel *rx,
                    const struct ipc_addr *addr, unsigned flags);
    /* Release everything; remove the object if ch->owner. Never blocks,
     * never fails, must tolerate a half-opened ch (failed open/pair). */
    void (*close)(struct ipc_channel *ch);
    /* Remove a named object by address. NULL: IPC_ENOTSUP. */
    ipc_err (*unlink)(const struct ipc_addr *addr);

    /* Queue one whole message or nothing. buf is borrowed for the call. */
    ipc_err (*send)(struct ipc_channel *ch, const void *buf, size_t len,
                    unsigned prio, const struct ipc_deadline *dl);
    /* Take one message into buf[cap]; on IPC_EMSGSIZE set *len to the
     * length needed and leave the message queued. */
    ipc_err (*recv)(struct ipc_channel *ch, void *buf, size_t cap, size_t *len,
                    unsigned *prio, const struct ipc_deadline *dl);

    /* Optional. */
    /* Set *fd, a descriptor that polls POLLIN when a receiving end has a
     * message and POLLOUT when a sending end has room (the frontend reports
     * the events by the end's direction). */
    ipc_err (*pollfd)(const struct ipc_channel *ch, int *fd);
    ipc_err (*peer_uid)(const struct ipc_channel *ch, uid_t *uid);
    /* Lower info's maxima (filled from limits) to the OS limits that bind
     * this process (ipc_limits); addr is the address asked about, or NULL
     * for a scheme alone. NULL: the static limits are all. */
    ipc_err (*os_limits)(const struct ipc_addr *addr, ipc_limits_info *info);
    /* Write an address for another process into buf; NULL: the frontend
     * writes the address the end was opened with (named ends only). */
    ipc_err (*address)(const struct ipc_channel *ch, char *buf, size_t size);
    ipc_err (*loan)(struct ipc_channel *ch, size_t len, void **buf,
                    const struct ipc_deadline *dl);
    ipc_err (*commit)(struct ipc_channel *ch, void *buf, size_t len,
                      unsigned prio);
    ipc_err (*view)(struct ipc_channel *ch, const void **buf, size_t *len,
                    unsigned *prio, const struct ipc_deadline *dl);
    ipc_err (*release)(struct ipc_channel *ch, const void *buf);
    /* The other direction of this end's connection, as the new end out
     * (made by the frontend, opposite direction, same max_msg): on a named
     * receiver a sending end on the connection its last message came from
     * (right after that receive, in its thread); on a named sender a
     * receiving end on its own connection, once the receiver's hello came
     * (waited for until dl). For request/reply's replies. NULL: none. */
    ipc_err (*back)(struct ipc_channel *ch, struct ipc_channel *out,
                    const struct ipc_deadline *dl);
};

/* The end of a channel: frontend fields, then the backend's private state
 * in the same allocation. */
struct ipc_channel {
    const struct ipc_backend *be;
    unsigned direction; /* IPC_F_SEND | IPC_F_RECV */
    unsigned caps;      /* what this end has */
    unsigned flags;     /* open flags */
    bool owner;         /* this end created the named object; the
                           frontend clears it in a forked child */
    pid_t owner_pid;    /* the process that created it */
    size_t max_msg;
    size_t capacity; /* see ipc_query */
    size_t buffer_bytes;
    char *address; /* as opened (named ends), heap; NULL for pairs */
    _Alignas(max_align_t) unsigned char priv[];
};

static inline void *ipc__priv(const struct ipc_channel *ch)
{
    return (void *)ch->priv;
}

/* Internal open flag, refused by ipc_open(): request/reply opens its
 * request channel so that replies can travel back on the request's own
 * connection (nng: req/rep sockets instead of push/pull). Backends
 * that need no special mode for that (unix, tcp) ignore it. */
#define IPC__F_BACK (1u << 30)
/* ipc_open that also takes IPC__F_BACK (src/reqrep only). */
ipc_err ipc__open(const char *address, unsigned flags, int timeout_ms,
                  ipc_channel **out);

/* The other direction of ch's connection as a new end (backend op back):
 * IPC_ENOTSUP where the backend has none. Not public: request/reply's
 * replies ride on the request's connection with it (src/reqrep). */
ipc_err ipc__channel_back(ipc_channel *ch, int timeout_ms, ipc_channel **out);

/* Registry (registry.c): the backend for a scheme, or NULL if unknown. */
const struct ipc_backend *ipc__backend_find(const char *scheme);
/* All known backends, built or not, NULL-terminated. */
extern const struct ipc_backend *const ipc__backends[];

/* Check an address against a backend's keys and limits (frontend and unit
 * tests). named: the address will be opened, not paired. */
ipc_err ipc__addr_check(const struct ipc_backend *be,
                        const struct ipc_addr *addr, bool named);

/* ------------------------------------------------------------ test hooks */

/* posixmq.c: wait with the kernel's timed calls (mq_timedsend/receive)
 * instead of poll on the descriptor; tests switch it to cover both. */
extern bool ipc__mq_timed_waits;

#endif /* IPC_INT_H */
