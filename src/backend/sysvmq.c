/* SPDX-License-Identifier: MIT */
/* sysv: System V message queues, by a path's key or explicit key, and pairs. */
#include "ipc_int.h"
#include "os.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

/*
 * Addresses. "sysv:0xKEY" names a queue by an explicit key of 1 to 8 hex
 * digits (0 is IPC_PRIVATE and refused: ipc_pair makes private queues).
 * Any other name is a path turned into a key by ipc__sysv_path_key (os.h):
 * a hash of the file's full st_dev and st_ino and the project id 'I',
 * never 0. The path must exist (IPC_ENOENT otherwise) and must stay, since
 * the key comes from its identity. Not ftok(path, 'I'): ftok keeps only 16
 * bits of the inode and 8 of the device, so two files of one tmpfs whose
 * inodes differ by a multiple of 65536 got one key, and the second
 * service's IPC_F_CREATE joined the first one's live queue. A hash leaves
 * a 2^-32 chance per pair of files; a queue keeps no record of its path,
 * so nothing can refuse that chance collision on open. Keys differ from
 * ftok's: a program that computes ftok(path, 'I') itself must use the
 * explicit key form instead.
 *
 * Message layout. msgsnd and msgrcv take a long mtype followed by the
 * payload, in one buffer. The caller's buffer has no room for that long in
 * front, so every message passes through a per-end staging buffer made at
 * open (max_msg + 1 bytes; the payload 16-byte aligned, as PERFORMANCE.md
 * advises against glibc's slow memcpy 4, 8 or 12 bytes off modulo 4 KiB):
 * one syscall and one copy per message on every path (a message held for
 * a bigger buffer is copied once, later), never a probe. The payload length is
 * what msgsnd was given and msgrcv returns; zero is legal.
 *
 * Priority is the type: mtype = SYSVMQ_LEVELS - prio (prio 31 is type 1,
 * prio 0 type 32), and a receive asks msgrcv for msgtyp -SYSVMQ_LEVELS: the
 * lowest type first, FIFO within a type. The kernel walks the whole queue
 * for that unless it meets a type-1 message, so a receive costs a scan of
 * the queued messages (at most msg_qbytes of them: 256 at 64 B with the
 * default 16 KiB). That walk is the price of priorities: with 200 queued
 * it took ~0.3 us more per receive than a FIFO msgrcv (type 0), and at
 * 64 B ipc-bench puts libipc at 0.83-0.89 of FIFO msgrcv's CPU per message
 * but 0.95-0.97 of the same priority-order msgrcv's (row sysv-prio). No
 * cheaper correct order exists: proving that no higher priority is queued
 * takes the walk. Messages of other types (not sent by libipc) are never
 * received.
 *
 * A buffer too small. The contract wants the message kept and its length
 * reported. msgrcv cannot tell a length without taking the message (E2BIG
 * says only "bigger"; MSG_COPY peeks by arrival index, not by the priority
 * order, needs CONFIG_CHECKPOINT_RESTORE and races with other receivers).
 * So a receive always takes the message into the staging buffer (MSG_NOERROR
 * with room for max_msg + 1 bytes: a longer message, from a sender opened
 * with a larger max_msg, shows as max_msg + 1 and is dropped as IPC_EPROTO),
 * and one that does not fit the caller's buffer is held there and handed
 * out by the next receive on this end. The trade-off: a held message has
 * left the kernel queue, so it belongs to this end (other receivers of a
 * shared queue cannot take it, and closing the end drops it); a forked
 * child does not inherit a held message (its copy is discarded), so that it
 * is delivered once.
 *
 * Waiting. The kernel has no timed msgsnd/msgrcv and a queue has no
 * descriptor to poll. Every call first tries with IPC_NOWAIT; timeout 0
 * stops there. Otherwise it retries for SYSVMQ_SPIN_NS, since a sleep in
 * the kernel and its wake-up cost about as long: a 64-byte round trip took
 * 51-56 us with blocking calls, 3-3.5 us with the spin; 8 KiB messages, two
 * of which fill a queue, went 90 k/s blocking, 350-450 k/s with the spin.
 * Each retry first yields the CPU: on a machine with few CPUs the peer may
 * be waiting for this one, and a plain spin then held it off (8 KiB under
 * load: 13-40 k/s plain, 110-180 k/s yielding; idle, the yield costs 0.4 us
 * of round trip). Then timeout -1 blocks in the kernel (EINTR retried), and
 * a finite timeout naps between retries: 50 us doubling to 2 ms, never
 * past the deadline. Each nap costs a timer wake-up, 17-26 us of CPU on these
 * VMs: with 1 ms naps a 1 s wait took 1.7-2.7 % of a core (4.3 % under
 * valgrind), with 2 ms naps 1-1.5 % (2.2-2.9 % under valgrind); sysv.wait_cpu
 * checks it. A message that comes during a nap waits for its end, 2 ms at
 * most; a deadline is kept to within a nap's timer slack (0.1 ms measured).
 * A blocking call cut by a per-thread timer signal would wake exactly on
 * time, but needs a signal handler: a process-wide change that a library
 * must not make.
 *
 * Ownership. A named channel is created by its receiver (IPC_F_CREATE
 * needs IPC_F_RECV), and the creator's close removes the queue. So a
 * named sender learns that its receiver is gone: its sends answer
 * IPC_ECLOSED (IPC_CAP_PEER_CLOSED). A receiver never learns that senders
 * left (no open count on a SysV queue): it waits out its timeout. Removal
 * of the queue (ipc_unlink, or the creator's close) ends blocked and later
 * calls with IPC_ECLOSED: EIDRM for a caller blocked in the kernel, EINVAL
 * for a call on a removed id (told from other EINVALs by IPC_STAT).
 * A pair is one IPC_PRIVATE queue shared by two ends; it is removed when
 * the last of the two ends is closed in the process that made it, so that
 * after pair-fork-close either process may keep either end. Neither pair
 * end knows when the other process let go of its end.
 *
 * SysV queues hold no descriptors: IPC_F_INHERIT changes nothing, an id
 * survives exec anyway, and there is nothing to poll (IPC_ENOTSUP).
 */

#define SYSVMQ_MAX_MSG_DEFAULT 8192u /* and never above kernel.msgmax */
#define SYSVMQ_MAX_MSG_MAX     (64u * 1024 * 1024)
#define SYSVMQ_NAME_MAX        (IPC_ADDR_PATH_MAX) /* a path; a key is 10 bytes */
#define SYSVMQ_KEY_DIGITS      8
#define SYSVMQ_LEVELS          32 /* priorities 0..31, as POSIX mq guarantees */
#define SYSVMQ_MAX_PRIO        (SYSVMQ_LEVELS - 1)
#define SYSVMQ_PAYLOAD_OFF     16    /* payload offset in the staging buffer */
#define SYSVMQ_SPIN_NS         50000 /* IPC_NOWAIT retries before the first nap */
#define SYSVMQ_NAP_FIRST_NS    50000L
#define SYSVMQ_NAP_MAX_NS      2000000L
#define SYSVMQ_CREATE_TRIES    8 /* a key that keeps vanishing and coming */

/* A pair's two ends in the process that made them: the last close there
 * removes the queue. */
struct sysvmq_share {
    atomic_int ends;
};

struct sysvmq_end {
    int id; /* msqid, -1 before open */
    key_t key;
    unsigned char *stage;       /* SYSVMQ_PAYLOAD_OFF + max_msg + 1 bytes */
    struct sysvmq_share *share; /* pairs only */
    bool held;                  /* stage holds a message not yet taken */
    size_t held_len;
    unsigned held_prio;
    pid_t held_pid; /* the process that took it from the queue */
};

/* The system's limits (kernel.msgmax, msgmnb, msgmni). */
struct sysvmq_limits {
    long msgmax;
    long msgmnb;
    long msgmni;
};

static struct sysvmq_end *sysvmq_priv(const ipc_channel *ch)
{
    return ipc__priv(ch);
}

/* The long mtype sits right before the payload. */
static void *sysvmq_msgp(const struct sysvmq_end *se)
{
    return se->stage + SYSVMQ_PAYLOAD_OFF - sizeof(long);
}

static unsigned char *sysvmq_payload(const struct sysvmq_end *se)
{
    return se->stage + SYSVMQ_PAYLOAD_OFF;
}

static void sysvmq_end_init(ipc_channel *ch)
{
    struct sysvmq_end *se = sysvmq_priv(ch);
    se->id = -1;
}

/* ---------------------------------------------------------------- limits */

static ipc_err sysvmq_get_limits(struct sysvmq_limits *lim)
{
    struct msginfo info;
    /* Linux: IPC_INFO reads the namespace's values of kernel.msg* in one
     * call, without /proc. */
    if (msgctl(0, IPC_INFO, (struct msqid_ds *)(void *)&info) < 0)
        return ipc__errno(errno, "sysv: msgctl IPC_INFO");
    lim->msgmax = info.msgmax;
    lim->msgmnb = info.msgmnb;
    lim->msgmni = info.msgmni;
    return IPC_OK;
}

/* max_msg: the default shrinks to kernel.msgmax; a larger one asked for is
 * refused, naming the limit. */
static ipc_err sysvmq_size(ipc_channel *ch, const struct ipc_addr *addr,
                           struct sysvmq_limits *lim)
{
    ipc_err err = sysvmq_get_limits(lim);
    if (err != IPC_OK)
        return err;
    bool asked = addr->keys_set & IPC_KEYBIT(IPC_KEY_MAX_MSG);
    if (!asked && ch->max_msg > (size_t)lim->msgmax)
        ch->max_msg = (size_t)lim->msgmax;
    if (ch->max_msg > (size_t)lim->msgmax)
        return ipc__fail(IPC_ELIMIT,
                         "sysv: max_msg %zu exceeds kernel.msgmax (%ld)",
                         ch->max_msg, lim->msgmax);
    return IPC_OK;
}

/* ipc_limits: kernel.msgmax bounds a message, kernel.msgmnb a new queue's
 * bytes (msg_qbytes), which a message must fit too. */
static ipc_err sysvmq_os_limits(const struct ipc_addr *addr,
                                ipc_limits_info *info)
{
    (void)addr;
    struct sysvmq_limits lim = {0};
    ipc_err err = sysvmq_get_limits(&lim);
    if (err != IPC_OK)
        return err;
    long max = lim.msgmax < lim.msgmnb ? lim.msgmax : lim.msgmnb;
    if (max > 0 && (size_t)max < info->max_msg)
        info->max_msg = (size_t)max;
    if (lim.msgmax > 0 && (size_t)lim.msgmax < info->max_msg_default)
        info->max_msg_default = (size_t)lim.msgmax;
    return IPC_OK;
}

/* The queue's byte bound, and a max_msg that fits in it. IPC_STAT needs
 * read permission: a sender allowed only to write (mode 0622, say) cannot
 * see the bound, and reports it as unknown (buffer_bytes 0). */
static ipc_err sysvmq_stat(ipc_channel *ch, const struct sysvmq_limits *lim)
{
    struct sysvmq_end *se = sysvmq_priv(ch);
    struct msqid_ds ds;
    ch->capacity = 0; /* bounded in bytes, not messages */
    ch->buffer_bytes = 0;
    if (msgctl(se->id, IPC_STAT, &ds) < 0) {
        if (errno == EACCES && (ch->direction & IPC_F_RECV) == 0)
            return IPC_OK;
        return ipc__errno(errno, "sysv: msgctl IPC_STAT");
    }
    ch->buffer_bytes = (size_t)ds.msg_qbytes;
    if (ch->max_msg > (size_t)ds.msg_qbytes)
        return ipc__fail(IPC_ELIMIT,
                         "sysv: max_msg %zu exceeds the queue's msg_qbytes "
                         "(%lu; kernel.msgmnb is %ld)",
                         ch->max_msg, (unsigned long)ds.msg_qbytes,
                         lim->msgmnb);
    return IPC_OK;
}

static ipc_err sysvmq_alloc_stage(ipc_channel *ch)
{
    struct sysvmq_end *se = sysvmq_priv(ch);
    void *p = NULL;
    size_t size = SYSVMQ_PAYLOAD_OFF + ch->max_msg + 1;
    if (posix_memalign(&p, 64, size) != 0)
        return ipc__fail(IPC_ENOMEM, "sysv: %zu bytes for a message buffer",
                         size);
    se->stage = p;
    return IPC_OK;
}

/* msgget's errors, with the limit that ENOSPC means. */
static ipc_err sysvmq_msgget_err(int err, key_t key,
                                 const struct sysvmq_limits *lim)
{
    if (err == ENOSPC)
        return ipc__fail(IPC_ELIMIT,
                         "sysv: no more queues (kernel.msgmni is %ld)",
                         lim->msgmni);
    if (err == ENOENT)
        return ipc__fail(IPC_ENOENT, "sysv: no queue with key 0x%08x",
                         (unsigned)key);
    return ipc__errno(err, "sysv: msgget key 0x%08x", (unsigned)key);
}

/* ---------------------------------------------------------------- names */

static int sysvmq_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool sysvmq_is_key(const struct ipc_addr *addr)
{
    return addr->path[0] == '0' &&
           (addr->path[1] == 'x' || addr->path[1] == 'X');
}

/* Check the syntax of an explicit key: no system call. */
static ipc_err sysvmq_parse_key(const struct ipc_addr *addr, key_t *key)
{
    size_t n = addr->path_len - 2;
    uint32_t v = 0;
    if (n == 0 || n > SYSVMQ_KEY_DIGITS)
        return ipc__fail(IPC_EINVAL,
                         "sysv: key \"%s\": 1 to %d hex digits after 0x",
                         addr->path, SYSVMQ_KEY_DIGITS);
    for (size_t i = 0; i < n; i++) {
        int d = sysvmq_hex(addr->path[2 + i]);
        if (d < 0)
            return ipc__fail(IPC_EINVAL, "sysv: key \"%s\" is not hex",
                             addr->path);
        v = v << 4 | (uint32_t)d;
    }
    if (v == 0)
        return ipc__fail(IPC_EINVAL, "sysv: key 0 is IPC_PRIVATE; ipc_pair "
                                     "makes private queues");
    *key = (key_t)v; /* key_t is an int: keys above 0x7fffffff wrap */
    return IPC_OK;
}

/* The key of a named address: explicit, or that of an existing path. */
static ipc_err sysvmq_key(const struct ipc_addr *addr, key_t *key)
{
    if (sysvmq_is_key(addr))
        return sysvmq_parse_key(addr, key);
    return ipc__sysv_path_key("sysv", addr->path, key);
}

/* ---------------------------------------------------------------- open */

/* Does the id still name a queue? IPC_STAT fails with EINVAL (or EIDRM)
 * once it is removed, with EACCES for a queue we may not read. */
static bool sysvmq_exists(int id, struct msqid_ds *ds)
{
    return msgctl(id, IPC_STAT, ds) == 0 || errno == EACCES;
}

/* Remove our queue, if the id still names one with our key: a close after
 * an ipc_unlink must not remove a newer queue. (Ids are not reused before
 * the kernel's sequence wraps; one we may not read is taken as ours.) */
static void sysvmq_remove(const struct sysvmq_end *se)
{
    struct msqid_ds ds;
    if (msgctl(se->id, IPC_STAT, &ds) == 0 ? ds.msg_perm.__key == se->key
                                           : errno == EACCES)
        msgctl(se->id, IPC_RMID, NULL);
}

/*
 * Create the queue, or with plain IPC_F_CREATE open an existing one that
 * our euid both owns and created (an owner set by IPC_SET is not enough:
 * the creator keeps owner rights and could read our messages). EXCL: an
 * existing key is IPC_EEXIST. REPLACE: remove whatever queue has the key
 * (SysV has no open count, so a live queue cannot be told from a stale
 * one; the kernel lets only its owner, creator or CAP_SYS_ADMIN remove it),
 * then create.
 */
static ipc_err sysvmq_create(ipc_channel *ch, const char *name, unsigned flags,
                             int mode, int perm,
                             const struct sysvmq_limits *lim)
{
    struct sysvmq_end *se = sysvmq_priv(ch);
    bool removed = false;
    for (int tries = 0; tries < SYSVMQ_CREATE_TRIES; tries++) {
        se->id = msgget(se->key, IPC_CREAT | IPC_EXCL | mode);
        if (se->id >= 0) {
            ch->owner = true;
            return IPC_OK;
        }
        if (errno != EEXIST)
            return sysvmq_msgget_err(errno, se->key, lim);
        if (flags & IPC_F_EXCL)
            return ipc__fail(IPC_EEXIST,
                             "sysv: %s: a queue with key 0x%08x exists; "
                             "SysV cannot tell whether it is live, so it "
                             "may be another program's: check with ipcs "
                             "before removing it",
                             name, (unsigned)se->key);
        int id = msgget(se->key, (flags & IPC_F_REPLACE) ? 0 : perm);
        if (id < 0) {
            if (errno == ENOENT)
                continue; /* removed meanwhile: create again */
            return sysvmq_msgget_err(errno, se->key, lim);
        }
        if (flags & IPC_F_REPLACE) {
            /* Remove once: a queue found after that was made by another
             * replacer since (issue 12, defect 4: removing it too left
             * that one's ends on a queue nobody can open). */
            if (removed)
                return ipc__fail(IPC_EEXIST,
                                 "sysv: %s: another process replaced the "
                                 "queue with key 0x%08x at the same time",
                                 name, (unsigned)se->key);
            removed = true;
            if (msgctl(id, IPC_RMID, NULL) < 0 && errno != EINVAL &&
                errno != EIDRM)
                return ipc__errno(errno,
                                  "sysv: %s: remove the queue with "
                                  "key 0x%08x",
                                  name, (unsigned)se->key);
            continue;
        }
        struct msqid_ds ds;
        if (msgctl(id, IPC_STAT, &ds) < 0) {
            if (errno == EINVAL || errno == EIDRM)
                continue;
            return ipc__errno(errno, "sysv: %s: msgctl IPC_STAT", name);
        }
        uid_t me = geteuid();
        if (ds.msg_perm.uid != me || ds.msg_perm.cuid != me)
            return ipc__fail(IPC_EACCES,
                             "sysv: %s: the queue with key 0x%08x belongs to "
                             "uid %u (creator %u), not %u",
                             name, (unsigned)se->key, (unsigned)ds.msg_perm.uid,
                             (unsigned)ds.msg_perm.cuid, (unsigned)me);
        se->id = id; /* ours already: open it, but its creator removes it */
        return IPC_OK;
    }
    return ipc__fail(IPC_EEXIST, "sysv: %s: key 0x%08x kept changing hands",
                     name, (unsigned)se->key);
}

/* Owner and creator of a queue: IPC_STAT, or for a sender that may not
 * read it (mode 0622, say) the world-readable /proc/sysvipc/msg (Linux). */
static ipc_err sysvmq_owners(int id, uid_t *uid, uid_t *cuid)
{
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) == 0) {
        *uid = ds.msg_perm.uid;
        *cuid = ds.msg_perm.cuid;
        return IPC_OK;
    }
    if (errno != EACCES)
        return ipc__errno(errno, "sysv: msgctl IPC_STAT");
    FILE *f = fopen("/proc/sysvipc/msg", "re");
    if (!f)
        return ipc__fail(IPC_EACCES,
                         "sysv: cannot learn the owner of queue "
                         "%d (no read permission, no "
                         "/proc/sysvipc/msg)",
                         id);
    char line[256];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        int key, msqid;
        unsigned perms, u, g, cu;
        if (sscanf(line, "%d %d %o %*u %*u %*d %*d %u %u %u", &key, &msqid,
                   &perms, &u, &g, &cu) == 6 &&
            msqid == id) {
            *uid = (uid_t)u;
            *cuid = (uid_t)cu;
            found = true;
        }
    }
    fclose(f);
    return found ? IPC_OK
                 : ipc__fail(IPC_ECLOSED, "sysv: queue %d was removed", id);
}

/* The trust rule for a queue this end did not make: its owner and its
 * creator (who keeps owner rights, and may have handed the ownership to
 * anyone with IPC_SET) must both be trusted. */
static ipc_err sysvmq_check_owner(int id, const struct ipc_addr *addr)
{
    uid_t uid, cuid;
    ipc_err err = sysvmq_owners(id, &uid, &cuid);
    if (err == IPC_OK)
        err = ipc__check_owner("sysv", addr->path, cuid, addr);
    if (err == IPC_OK)
        err = ipc__check_owner("sysv", addr->path, uid, addr);
    return err;
}

static ipc_err sysvmq_open(ipc_channel *ch, const struct ipc_addr *addr,
                           unsigned flags, const struct ipc_deadline *dl)
{
    struct sysvmq_end *se = sysvmq_priv(ch);
    struct sysvmq_limits lim = {0};
    key_t key = 0;
    (void)dl; /* a queue is ready once it exists: open never waits */
    sysvmq_end_init(ch);
    if ((flags & IPC_F_CREATE) && !(flags & IPC_F_RECV))
        return ipc__fail(IPC_EINVAL,
                         "sysv: %s: a sender cannot create a "
                         "named channel; its receiver does",
                         addr->path);
    if (sysvmq_is_key(addr)) {
        ipc_err err = sysvmq_parse_key(addr, &key);
        if (err != IPC_OK)
            return err;
    }
    ipc_err err = sysvmq_size(ch, addr, &lim);
    if (err == IPC_OK)
        err = sysvmq_key(addr, &key);
    if (err != IPC_OK)
        return err;
    se->key = key;
    int mode = (int)ipc__addr_get(addr, IPC_KEY_MODE, 0600);
    /* msgget checks these permission bits for the direction asked, so that
     * a refusal comes at open rather than at the first message. */
    int perm = (flags & IPC_F_RECV) ? 0400 : 0200;
    if (flags & IPC_F_CREATE) {
        err = sysvmq_create(ch, addr->path, flags, mode, perm, &lim);
    } else {
        se->id = msgget(key, perm);
        if (se->id < 0) {
            err = sysvmq_msgget_err(errno, key, &lim);
            if (err == IPC_ENOENT)
                err = ipc__fail(IPC_ENOENT,
                                "sysv: %s: no queue with key "
                                "0x%08x",
                                addr->path, (unsigned)key);
        } else {
            err = sysvmq_check_owner(se->id, addr);
        }
    }
    if (err == IPC_OK)
        err = sysvmq_stat(ch, &lim);
    if (err == IPC_OK)
        err = sysvmq_alloc_stage(ch);
    /* Only a sender hears of its receiver's end (see the top). */
    if (flags & IPC_F_RECV)
        ch->caps &= ~(unsigned)IPC_CAP_PEER_CLOSED;
    return err;
}

static ipc_err sysvmq_pair(ipc_channel *tx, ipc_channel *rx,
                           const struct ipc_addr *addr, unsigned flags)
{
    struct sysvmq_limits lim = {0};
    (void)flags; /* IPC_F_INHERIT: no descriptors, the id survives exec */
    sysvmq_end_init(tx);
    sysvmq_end_init(rx);
    ipc_err err = sysvmq_size(tx, addr, &lim);
    if (err != IPC_OK)
        return err;
    rx->max_msg = tx->max_msg;
    struct sysvmq_share *share = malloc(sizeof *share);
    if (!share)
        return ipc__fail(IPC_ENOMEM, "sysv: out of memory");
    int mode = (int)ipc__addr_get(addr, IPC_KEY_MODE, 0600);
    int id = msgget(IPC_PRIVATE, IPC_CREAT | mode);
    if (id < 0) {
        free(share);
        return sysvmq_msgget_err(errno, IPC_PRIVATE, &lim);
    }
    atomic_init(&share->ends, 2);
    ipc_channel *ends[2] = {tx, rx};
    for (int i = 0; i < 2; i++) {
        struct sysvmq_end *se = sysvmq_priv(ends[i]);
        se->id = id;
        se->key = IPC_PRIVATE;
        se->share = share;
        ends[i]->owner = true;
        ends[i]->owner_pid = getpid();
        /* Neither end learns that the other process let go. */
        ends[i]->caps &= ~(unsigned)IPC_CAP_PEER_CLOSED;
    }
    for (int i = 0; i < 2 && err == IPC_OK; i++) {
        err = sysvmq_stat(ends[i], &lim);
        if (err == IPC_OK)
            err = sysvmq_alloc_stage(ends[i]);
    }
    return err;
}

static void sysvmq_close(ipc_channel *ch)
{
    struct sysvmq_end *se = sysvmq_priv(ch);
    if (se->share) {
        /* The last end in this process; the frontend has cleared owner
         * in a forked child, which frees its copy and removes nothing. */
        if (atomic_fetch_sub(&se->share->ends, 1) == 1) {
            if (ch->owner)
                sysvmq_remove(se);
            free(se->share);
        }
        se->share = NULL;
    } else if (ch->owner && se->id >= 0) {
        sysvmq_remove(se);
    }
    free(se->stage);
    se->stage = NULL;
    se->id = -1;
}

static ipc_err sysvmq_unlink(const struct ipc_addr *addr)
{
    key_t key;
    ipc_err err = sysvmq_key(addr, &key);
    if (err != IPC_OK)
        return err;
    int id = msgget(key, 0);
    if (id < 0) {
        if (errno == ENOENT)
            return ipc__fail(IPC_ENOENT, "sysv: %s: no queue with key 0x%08x",
                             addr->path, (unsigned)key);
        return ipc__errno(errno, "sysv: msgget %s", addr->path);
    }
    if (msgctl(id, IPC_RMID, NULL) < 0) {
        if (errno == EINVAL || errno == EIDRM)
            return ipc__fail(IPC_ENOENT, "sysv: %s: removed meanwhile",
                             addr->path);
        return ipc__errno(errno, "sysv: remove %s", addr->path);
    }
    return IPC_OK;
}

/* ------------------------------------------------------------ messages */

/* A failed msgsnd/msgrcv: EIDRM (removed while we waited) or EINVAL on an
 * id that no longer exists is IPC_ECLOSED; an EINVAL on a live queue is
 * a message above a kernel.msgmax lowered since the open. */
static ipc_err sysvmq_fail(const ipc_channel *ch, int err, const char *call,
                           size_t len)
{
    const struct sysvmq_end *se = sysvmq_priv(ch);
    struct msqid_ds ds;
    if (err == EIDRM || (err == EINVAL && !sysvmq_exists(se->id, &ds)))
        return ipc__fail(IPC_ECLOSED, "sysv: the queue was removed");
    struct sysvmq_limits lim = {0};
    if (err == EINVAL && sysvmq_get_limits(&lim) == IPC_OK &&
        (long)len > lim.msgmax)
        return ipc__fail(IPC_ELIMIT,
                         "sysv: message of %zu bytes exceeds "
                         "kernel.msgmax (%ld), lowered since the open",
                         len, lim.msgmax);
    return ipc__errno(err, "sysv: %s", call);
}

/* The state of one call's wait. Every call starts with IPC_NOWAIT. */
struct sysvmq_wait {
    int flags;        /* IPC_NOWAIT until a -1 wait blocks in the kernel */
    int64_t spin_end; /* end of the spin; 0 before the first miss */
    long nap_ns;
};

static void sysvmq_wait_init(struct sysvmq_wait *w, int flags)
{
    w->flags = flags | IPC_NOWAIT;
    w->spin_end = 0;
    w->nap_ns = SYSVMQ_NAP_FIRST_NS;
}

/* After a call found no message (or no room): retry at once during the
 * spin, then block in the kernel (timeout -1) or nap; the deadline's code
 * once it has passed. */
static ipc_err sysvmq_wait(const struct ipc_deadline *dl, struct sysvmq_wait *w)
{
    if (dl->nonblock)
        return ipc__deadline_err(dl);
    int64_t now = ipc__now_ns();
    if (w->spin_end == 0)
        w->spin_end = now + SYSVMQ_SPIN_NS;
    if (now < w->spin_end && now < dl->at_ns) {
        sched_yield(); /* a peer waiting for this CPU runs first */
        return IPC_OK;
    }
    if (dl->at_ns == INT64_MAX) {
        w->flags &= ~IPC_NOWAIT;
        return IPC_OK;
    }
    return ipc__nap_upto(dl, &w->nap_ns, SYSVMQ_NAP_MAX_NS);
}

static ipc_err sysvmq_send(ipc_channel *ch, const void *buf, size_t len,
                           unsigned prio, const struct ipc_deadline *dl)
{
    struct sysvmq_end *se = sysvmq_priv(ch);
    long mtype = SYSVMQ_LEVELS - (long)prio;
    /* The one copy: msgsnd wants the mtype right before the payload. */
    memcpy(sysvmq_msgp(se), &mtype, sizeof mtype);
    if (len)
        memcpy(sysvmq_payload(se), buf, len);
    struct sysvmq_wait w;
    sysvmq_wait_init(&w, 0);
    for (;;) {
        if (msgsnd(se->id, sysvmq_msgp(se), len, w.flags) == 0)
            return IPC_OK;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return sysvmq_fail(ch, errno, "msgsnd", len);
        /* Full: msg_qbytes bytes or as many messages are queued. */
        ipc_err err = sysvmq_wait(dl, &w);
        if (err != IPC_OK)
            return err;
    }
}

/* Hand the held message to the caller, or say again that it is too big. */
static ipc_err sysvmq_give_held(ipc_channel *ch, void *buf, size_t cap,
                                size_t *len, unsigned *prio)
{
    struct sysvmq_end *se = sysvmq_priv(ch);
    *len = se->held_len;
    if (se->held_len > cap)
        return ipc__fail(IPC_EMSGSIZE,
                         "sysv: message of %zu bytes, buffer of %zu; it is "
                         "kept for the next receive",
                         se->held_len, cap);
    if (se->held_len)
        memcpy(buf, sysvmq_payload(se), se->held_len);
    *prio = se->held_prio;
    se->held = false;
    return IPC_OK;
}

static ipc_err sysvmq_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                           unsigned *prio, const struct ipc_deadline *dl)
{
    struct sysvmq_end *se = sysvmq_priv(ch);
    if (se->held) {
        /* getpid() only here, off the common path: a child forked while a
         * message was held must not deliver it a second time. */
        if (se->held_pid == getpid())
            return sysvmq_give_held(ch, buf, cap, len, prio);
        se->held = false;
    }
    struct sysvmq_wait w;
    sysvmq_wait_init(&w, MSG_NOERROR);
    ssize_t n;
    for (;;) {
        n = msgrcv(se->id, sysvmq_msgp(se), ch->max_msg + 1, -SYSVMQ_LEVELS,
                   w.flags);
        if (n >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != ENOMSG)
            return sysvmq_fail(ch, errno, "msgrcv", 0);
        ipc_err err = sysvmq_wait(dl, &w);
        if (err != IPC_OK)
            return err;
    }
    if ((size_t)n > ch->max_msg)
        return ipc__fail(IPC_EPROTO,
                         "sysv: a message longer than max_msg %zu (sent "
                         "with a larger max_msg?); dropped",
                         ch->max_msg);
    long mtype;
    memcpy(&mtype, sysvmq_msgp(se), sizeof mtype);
    se->held_len = (size_t)n;
    se->held_prio = (unsigned)(SYSVMQ_LEVELS - mtype); /* 1 <= mtype <= 32 */
    if ((size_t)n > cap) {
        se->held = true;
        se->held_pid = getpid();
    }
    return sysvmq_give_held(ch, buf, cap, len, prio);
}

const struct ipc_backend ipc__backend_sysv = {
    .scheme = "sysv",
    .caps = IPC_CAP_NAMED | IPC_CAP_PAIR | IPC_CAP_MULTI_SENDER |
            IPC_CAP_MULTI_RECEIVER | IPC_CAP_PRIORITY | IPC_CAP_PEER_CLOSED,
    .keys = IPC_KEYBIT(IPC_KEY_MAX_MSG) | IPC_KEYBIT(IPC_KEY_MODE) |
            IPC_KEYBIT(IPC_KEY_OWNER),
    .named_keys = IPC_KEYBIT(IPC_KEY_OWNER),
    .priv_size = sizeof(struct sysvmq_end),
    .max_prio = SYSVMQ_MAX_PRIO,
    .limits =
        {
            .max_msg_default = SYSVMQ_MAX_MSG_DEFAULT,
            .max_msg_max = SYSVMQ_MAX_MSG_MAX,
            .name_max = SYSVMQ_NAME_MAX,
        },
    .path_required = true,
    .open = sysvmq_open,
    .pair = sysvmq_pair,
    .close = sysvmq_close,
    .unlink = sysvmq_unlink,
    .send = sysvmq_send,
    .recv = sysvmq_recv,
    .os_limits = sysvmq_os_limits,
};
