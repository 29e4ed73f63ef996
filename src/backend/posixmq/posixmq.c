/* SPDX-License-Identifier: MIT */
/* mq: POSIX message queues, named ("mq:/name") or private pairs. */
#include "backend/posixmq/posixmq.h"

/*
 * The kernel keeps messages whole, ordered by priority (higher first, FIFO
 * within one) and bounded by the queue's mq_maxmsg (capacity) and
 * mq_msgsize (max_msg): no framing here. Any number of processes may send
 * and receive on one queue (IPC_CAP_MULTI_SENDER and _RECEIVER). A queue
 * lives until it is unlinked and its last descriptor closed, and the
 * kernel tells nobody who has it open.
 *
 * Senders gone (Linux). Each sending end holds an open file description
 * lock (F_OFD_SETLK, a write lock on one byte of its own) on its mqd: the
 * kernel drops it when the description is closed for the last time,
 * kill -9 and a forked child that still holds the end included, and a
 * stopped process keeps it. A receiving end judges "every sender is gone"
 * with one F_OFD_GETLK (no lock taken, so judging never gets in anyone's
 * way), once it has seen a sender (a pair from the start; a named end by
 * a message, a held lock or a writer's close), and answers IPC_ECLOSED when the
 * queue is also drained (IPC_CAP_PEER_CLOSED on receiving ends; senders still
 * do not learn of receivers). It is woken for that by inotify: an
 * IN_CLOSE_WRITE on the queue's inode (watched through /proc/self/fd)
 * comes with the last close of every writing description. The kernel
 * sends that event just before it drops the description's locks
 * (__fput), so a judge right after it may still see the lock: then the
 * end judges again 1, 4, 16, 64 and 256 ms later (a timerfd). The poll
 * set, the watch and the timer are made on the receiving end's first wait
 * or ipc_pollfd(); a message flowing costs nothing more (the set is
 * waited on instead of the mqd, and only its watch or timer firing makes
 * the end judge).
 *
 * Waiting. mq_timedsend/mq_timedreceive only take an absolute
 * CLOCK_REALTIME instant, and a kernel wait on it is stretched by the full
 * size of a backward wall-clock jump (re-converting on each retry only
 * repairs forward jumps). On Linux an mqd_t is a descriptor that poll()
 * understands, so waits there are poll() on the monotonic deadline, immune
 * to wall-clock jumps; the kernel calls are only ever made with an instant
 * already past (never block: the queue is checked first, then ETIMEDOUT),
 * or without a timeout for -1. Where an mqd_t is not a descriptor (or when
 * ipc__mq_timed_waits is set, for the tests), waits use the kernel's timed
 * calls with the deadline converted again on every retry
 * (ipc__deadline_realtime).
 *
 * A receive buffer smaller than mq_msgsize: the kernel refuses it
 * (EMSGSIZE) without looking at the message. Such a receive takes the
 * message into a buffer of mq_msgsize owned by the end (allocated at open,
 * so the hot path never allocates) and copies it out if it fits. If it does
 * not, the end holds it, answers IPC_EMSGSIZE with its length, and delivers
 * it first on the next receive. A held message has left the queue: it is
 * delivered before anything sent after it, even of a higher priority, no
 * other receiver can take it, and closing the end without receiving it
 * drops it; a forked child does not inherit it (the parent keeps it). A
 * buffer of at least mq_msgsize receives in place, without that copy.
 *
 * Polling a receiving end. A held message is ready although the queue is
 * empty, so the mqd alone would let poll() sleep beside it. The receiving
 * end's poll set (above) holds the mqd, the close watch, the re-judge
 * timer and an eventfd kept readable while a message is held or the
 * senders were judged gone, and ipc_pollfd() hands out the set. Holding or
 * delivering a held message and a judge (the rare paths) are all that
 * ever touch the eventfd. A forked child shares the set with its parent:
 * readiness from the other's held message is a hint, as ipc.h allows.
 */

/* Wait in the kernel's timed calls instead of poll() (see above); a test
 * hook on Linux, the only way elsewhere. */
bool ipc__mq_timed_waits = !POSIXMQ_MQD_IS_FD;

/* A past instant: the timed calls then never block. */
static const struct timespec posixmq_past = {0, 0};

/* ---------------------------------------------------------------- limits */

/* One of the queue limits in /proc/sys/fs/mqueue, or -1. */
static long posixmq_proc_long(const char *file)
{
    char path[64];
    snprintf(path, sizeof path, POSIXMQ_PROC "%s", file);
    return ipc__proc_long(path);
}

/* Capacity and max_msg for a new queue: the address's, else the defaults
 * lowered to the OS limits that bind unprivileged processes. */
static void posixmq_new_attr(ipc_channel *ch, const struct ipc_addr *addr,
                             struct mq_attr *attr)
{
    if (!(addr->keys_set & IPC_KEYBIT(IPC_KEY_CAPACITY))) {
        long max = posixmq_proc_long("msg_max");
        if (max > 0 && (size_t)max < ch->capacity)
            ch->capacity = (size_t)max;
    }
    if (!(addr->keys_set & IPC_KEYBIT(IPC_KEY_MAX_MSG))) {
        long max = posixmq_proc_long("msgsize_max");
        if (max > 0 && (size_t)max < ch->max_msg)
            ch->max_msg = (size_t)max;
    }
    memset(attr, 0, sizeof *attr);
    attr->mq_maxmsg = (long)ch->capacity;
    attr->mq_msgsize = (long)ch->max_msg;
}

/* ipc_limits: the /proc/sys/fs/mqueue limits bind a process without
 * CAP_SYS_RESOURCE (root here); the hard ceilings bind root. New queues'
 * defaults are lowered to them as posixmq_new_attr does. */
static ipc_err posixmq_os_limits(const struct ipc_addr *addr,
                                 ipc_limits_info *info)
{
    (void)addr;
    long size = posixmq_proc_long("msgsize_max");
    long count = posixmq_proc_long("msg_max");
    if (size > 0 && (size_t)size < info->max_msg_default)
        info->max_msg_default = (size_t)size;
    if (count > 0 && (size_t)count < info->capacity_default)
        info->capacity_default = (size_t)count;
    if (geteuid() == 0)
        return IPC_OK;
    if (size > 0 && (size_t)size < info->max_msg)
        info->max_msg = (size_t)size;
    if (count > 0 && (size_t)count < info->capacity)
        info->capacity = (size_t)count;
    return IPC_OK;
}

/* Say which limit a failed mq_open hit, with its value. */
static ipc_err posixmq_open_error(int err, const char *name,
                                  const struct mq_attr *attr)
{
    if (err == EINVAL && attr) {
        long size_max = posixmq_proc_long("msgsize_max");
        long msg_max = posixmq_proc_long("msg_max");
        if (size_max > 0 && attr->mq_msgsize > size_max)
            return ipc__fail(IPC_ELIMIT,
                             "mq: max_msg %ld exceeds " POSIXMQ_PROC
                             "msgsize_max (%ld)",
                             attr->mq_msgsize, size_max);
        if (msg_max > 0 && attr->mq_maxmsg > msg_max)
            return ipc__fail(IPC_ELIMIT,
                             "mq: capacity %ld exceeds " POSIXMQ_PROC
                             "msg_max (%ld)",
                             attr->mq_maxmsg, msg_max);
    }
    if (err == EMFILE && attr) {
        /* Either this user's queues outgrew RLIMIT_MSGQUEUE (the kernel
         * charges capacity x max_msg plus bookkeeping per queue), or the
         * process is out of descriptors: a probe open tells which. */
        struct rlimit rl;
        int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (probe >= 0 || errno != EMFILE) {
            if (probe >= 0)
                close(probe);
            getrlimit(RLIMIT_MSGQUEUE, &rl);
            return ipc__fail(IPC_ELIMIT,
                             "mq: %s: capacity %ld x max_msg %ld does not fit "
                             "in what RLIMIT_MSGQUEUE (%llu bytes for all "
                             "queues of this user) has left",
                             name, attr->mq_maxmsg, attr->mq_msgsize,
                             (unsigned long long)rl.rlim_cur);
        }
        getrlimit(RLIMIT_NOFILE, &rl);
        return ipc__fail(IPC_ELIMIT,
                         "mq: %s: out of descriptors (RLIMIT_NOFILE %llu)",
                         name, (unsigned long long)rl.rlim_cur);
    }
    if (err == ENOSPC)
        return ipc__fail(IPC_ELIMIT,
                         "mq: %s: too many queues on the system "
                         "(" POSIXMQ_PROC "queues_max %ld)",
                         name, posixmq_proc_long("queues_max"));
    if (err == ENOENT)
        return ipc__fail(IPC_ENOENT, "mq: %s: no such queue", name);
    return ipc__errno(err, "mq: mq_open %s", name);
}

/* ---------------------------------------------------------------- opening */

/* "/name": one leading slash and no other (POSIX leaves other shapes to
 * the implementation; Linux refuses them). */
static ipc_err posixmq_check_name(const struct ipc_addr *addr)
{
    if (addr->path[0] != '/' || addr->path_len < 2 ||
        strchr(addr->path + 1, '/'))
        return ipc__fail(IPC_EINVAL,
                         "mq: \"%s\": a queue name is \"/name\", "
                         "one slash then no other",
                         addr->path);
    return IPC_OK;
}

static ipc_err posixmq_end_init(ipc_channel *ch)
{
    struct posixmq_end *pe = posixmq_priv(ch);
    pe->mqd = (mqd_t)-1;
    pe->epfd = pe->held_fd = pe->watch_fd = pe->timer_fd = -1;
    int rc = pthread_mutex_init(&pe->lock, NULL);
    pe->lock_made = rc == 0;
    return rc == 0 ? IPC_OK : ipc__errno(rc, "mq: pthread_mutex_init");
}

#if POSIXMQ_MQD_IS_FD

/* A sending end's lock (see the top): one byte of its own, picked from the
 * pid and a counter; a byte taken already (a pid of another namespace)
 * makes it try the next. */
static ipc_err posixmq_register(struct posixmq_end *pe)
{
    static atomic_uint counter;
    /* Below 2^31: off_t may be 32 bits. */
    off_t base = (off_t)(getpid() & 0x7ff) << 20;
    for (int tries = 0; tries < 64; tries++) {
        unsigned n = atomic_fetch_add(&counter, 1) & 0xfffff;
        struct flock fl = {.l_type = F_WRLCK,
                           .l_whence = SEEK_SET,
                           .l_start = base | (off_t)n,
                           .l_len = 1};
        if (fcntl((int)pe->mqd, F_OFD_SETLK, &fl) == 0)
            return IPC_OK;
        if (errno != EAGAIN && errno != EACCES && errno != EINTR)
            return ipc__errno(errno, "mq: %s: F_OFD_SETLK", pe->name);
    }
    return ipc__fail(IPC_EBUSY, "mq: %s: no free sender lock byte", pe->name);
}
#endif

/* Descriptor flags, the sender's lock and the receive buffer, once the
 * queue is open. */
static ipc_err posixmq_finish(ipc_channel *ch, unsigned flags)
{
    struct posixmq_end *pe = posixmq_priv(ch);
    pe->msgsize = ch->max_msg;
    pe->inherit = flags & IPC_F_INHERIT;
#if POSIXMQ_MQD_IS_FD
    if (ch->direction & IPC_F_SEND) {
        ch->caps &= ~(unsigned)IPC_CAP_PEER_CLOSED;
        ipc_err err = posixmq_register(pe);
        if (err != IPC_OK)
            return err;
    } else {
        pe->track = true;
        ipc__mq_watch(pe);
    }
    /* Linux makes every mqd close-on-exec. */
    if (flags & IPC_F_INHERIT) {
        ipc_err err = ipc__fd_inherit(pe->mqd, true, "mq");
        if (err != IPC_OK)
            return err;
    }
#else
    (void)flags;
#endif
    if ((ch->direction & IPC_F_RECV) &&
        !(pe->hold = malloc(pe->msgsize ? pe->msgsize : 1)))
        return ipc__fail(IPC_ENOMEM, "mq: out of memory");
    ch->buffer_bytes = 0; /* bounded in messages */
    return IPC_OK;
}

/* An existing queue: adopt its sizes; options that disagree are refused
 * rather than silently ignored. */
static ipc_err posixmq_adopt(ipc_channel *ch, const struct ipc_addr *addr)
{
    struct posixmq_end *pe = posixmq_priv(ch);
    struct mq_attr attr;
    if (mq_getattr(pe->mqd, &attr) < 0)
        return ipc__errno(errno, "mq: mq_getattr %s", pe->name);
    if ((addr->keys_set & IPC_KEYBIT(IPC_KEY_MAX_MSG)) &&
        addr->val[IPC_KEY_MAX_MSG] != (uint64_t)attr.mq_msgsize)
        return ipc__fail(IPC_EINVAL, "mq: %s has max_msg %ld, not %llu",
                         pe->name, attr.mq_msgsize,
                         (unsigned long long)addr->val[IPC_KEY_MAX_MSG]);
    if ((addr->keys_set & IPC_KEYBIT(IPC_KEY_CAPACITY)) &&
        addr->val[IPC_KEY_CAPACITY] != (uint64_t)attr.mq_maxmsg)
        return ipc__fail(IPC_EINVAL, "mq: %s has capacity %ld, not %llu",
                         pe->name, attr.mq_maxmsg,
                         (unsigned long long)addr->val[IPC_KEY_CAPACITY]);
    ch->max_msg = (size_t)attr.mq_msgsize;
    ch->capacity = (size_t)attr.mq_maxmsg;
    return IPC_OK;
}

static ipc_err posixmq_open_existing(ipc_channel *ch, int acc)
{
    struct posixmq_end *pe = posixmq_priv(ch);
    while ((pe->mqd = mq_open(pe->name, acc)) == (mqd_t)-1 && errno == EINTR)
        ;
    if (pe->mqd == (mqd_t)-1)
        return posixmq_open_error(errno, pe->name, NULL);
    return IPC_OK;
}

/* The queue we just made: exact mode (the umask applied to mq_open's) and
 * its identity, so that close removes only this one. */
static ipc_err posixmq_made(ipc_channel *ch, mode_t mode)
{
    struct posixmq_end *pe = posixmq_priv(ch);
    ch->owner = true;
#if POSIXMQ_MQD_IS_FD
    struct stat st;
    if (fstat(pe->mqd, &st) < 0)
        return ipc__errno(errno, "mq: fstat %s", pe->name);
    pe->dev = st.st_dev;
    pe->ino = st.st_ino;
    if (fchmod(pe->mqd, mode) < 0)
        return ipc__errno(errno, "mq: fchmod %s", pe->name);
#else
    (void)mode;
#endif
    return IPC_OK;
}

/* An existing queue this end did not make: with IPC_F_CREATE ours only
 * (addr NULL), else the trust rule (os.h). */
static ipc_err posixmq_check_owner(ipc_channel *ch, const struct ipc_addr *addr)
{
#if POSIXMQ_MQD_IS_FD
    struct posixmq_end *pe = posixmq_priv(ch);
    struct stat st;
    if (fstat(pe->mqd, &st) < 0)
        return ipc__errno(errno, "mq: fstat %s", pe->name);
    if (addr)
        return ipc__check_owner("mq", pe->name, st.st_uid, addr);
    if (st.st_uid != geteuid())
        return ipc__fail(IPC_EACCES, "mq: %s belongs to uid %u, not to us",
                         pe->name, (unsigned)st.st_uid);
#else
    (void)ch;
    (void)addr;
#endif
    return IPC_OK;
}

static ipc_err posixmq_create(ipc_channel *ch, const struct ipc_addr *addr,
                              unsigned flags, int acc)
{
    struct posixmq_end *pe = posixmq_priv(ch);
    mode_t mode = (mode_t)ipc__addr_get(addr, IPC_KEY_MODE, 0600);
    struct mq_attr attr;
    posixmq_new_attr(ch, addr, &attr);
    bool removed = false;
    for (int tries = 0; tries < 8; tries++) {
        pe->mqd = mq_open(pe->name, acc | O_CREAT | O_EXCL, mode, &attr);
        if (pe->mqd != (mqd_t)-1)
            return posixmq_made(ch, mode);
        if (errno == EINTR)
            continue;
        if (errno != EEXIST)
            return posixmq_open_error(errno, pe->name, &attr);
        if (flags & IPC_F_EXCL)
            return ipc__fail(IPC_EEXIST,
                             "mq: %s exists (IPC_F_REPLACE "
                             "removes it)",
                             pe->name);
        if (flags & IPC_F_REPLACE) {
            /* A queue cannot tell whether anyone still uses it: replace
             * means replace. Ends already open keep the old queue. But
             * remove once: a queue found after that was made by another
             * replacer since (issue 12, defect 4: removing it too left
             * that one's ends on a queue nobody can open). */
            if (removed)
                return ipc__fail(IPC_EEXIST,
                                 "mq: %s: another process replaced it at "
                                 "the same time",
                                 pe->name);
            removed = true;
            if (mq_unlink(pe->name) < 0 && errno != ENOENT)
                return ipc__errno(errno, "mq: mq_unlink %s", pe->name);
            continue;
        }
        ipc_err err = posixmq_open_existing(ch, acc);
        if (err == IPC_ENOENT)
            continue; /* removed meanwhile: create it after all */
        if (err == IPC_OK)
            err = posixmq_check_owner(ch, NULL);
        if (err == IPC_OK)
            err = posixmq_adopt(ch, addr);
        return err;
    }
    return ipc__fail(IPC_EBUSY, "mq: %s keeps changing under us", pe->name);
}

static ipc_err posixmq_open(ipc_channel *ch, const struct ipc_addr *addr,
                            unsigned flags, const struct ipc_deadline *dl)
{
    (void)dl; /* mq_open never waits */
    struct posixmq_end *pe = posixmq_priv(ch);
    ipc_err err = posixmq_end_init(ch);
    if (err == IPC_OK)
        err = posixmq_check_name(addr);
    if (err != IPC_OK)
        return err;
    memcpy(pe->name, addr->path, addr->path_len + 1);
    int acc = (flags & IPC_F_RECV) ? O_RDONLY : O_WRONLY;
    if (flags & IPC_F_CREATE)
        err = posixmq_create(ch, addr, flags, acc);
    else if ((err = posixmq_open_existing(ch, acc)) == IPC_OK &&
             (err = posixmq_check_owner(ch, addr)) == IPC_OK)
        err = posixmq_adopt(ch, addr);
    if (err != IPC_OK)
        return err;
    return posixmq_finish(ch, flags);
}

/* A private queue: a fresh name, both ends opened, the name unlinked at
 * once, so that only these two descriptors (and their forks) reach it. */
static ipc_err posixmq_pair(ipc_channel *tx, ipc_channel *rx,
                            const struct ipc_addr *addr, unsigned flags)
{
    static atomic_uint counter;
    struct posixmq_end *pt = posixmq_priv(tx), *pr = posixmq_priv(rx);
    struct mq_attr attr;
    ipc_err err = posixmq_end_init(tx);
    if (err != IPC_OK || (err = posixmq_end_init(rx)) != IPC_OK)
        return err;
    posixmq_new_attr(rx, addr, &attr);
    tx->capacity = rx->capacity;
    tx->max_msg = rx->max_msg;
    for (int tries = 0;; tries++) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        snprintf(pr->name, sizeof pr->name, "/ipc-pair-%ld-%u-%lx",
                 (long)getpid(), atomic_fetch_add(&counter, 1),
                 (unsigned long)now.tv_nsec);
        pr->mqd = mq_open(pr->name, O_RDONLY | O_CREAT | O_EXCL, 0600, &attr);
        if (pr->mqd != (mqd_t)-1)
            break;
        if ((errno != EEXIST && errno != EINTR) || tries == 8)
            return posixmq_open_error(errno, pr->name, &attr);
    }
#if POSIXMQ_MQD_IS_FD
    /* The umask narrowed mq_open's 0600 (0277 leaves 0400): without the
     * owner's write bit the sender's open below fails. */
    if (fchmod(pr->mqd, 0600) < 0) {
        int saved = errno;
        mq_unlink(pr->name);
        return ipc__errno(saved, "mq: fchmod %s", pr->name);
    }
#endif
    memcpy(pt->name, pr->name, sizeof pt->name);
    pt->mqd = mq_open(pt->name, O_WRONLY);
    int saved = errno;
    mq_unlink(pr->name);
    if (pt->mqd == (mqd_t)-1)
        return ipc__errno(saved, "mq: mq_open %s", pt->name);
    pr->seen = true; /* its one sender exists already */
    err = posixmq_finish(tx, flags);
    return err != IPC_OK ? err : posixmq_finish(rx, flags);
}

/* Is the queue at name still the one this end made? */
static bool posixmq_still_ours(const struct posixmq_end *pe)
{
#if POSIXMQ_MQD_IS_FD
    mqd_t q = mq_open(pe->name, O_RDONLY);
    if (q == (mqd_t)-1 && errno == EACCES)
        q = mq_open(pe->name, O_WRONLY);
    if (q == (mqd_t)-1)
        /* Out of descriptors: it is most likely ours, and a queue left
         * behind is worse than one removed by mistake. */
        return errno == EMFILE || errno == ENFILE;
    struct stat st;
    bool same =
        fstat(q, &st) == 0 && st.st_dev == pe->dev && st.st_ino == pe->ino;
    mq_close(q);
    return same;
#else
    (void)pe;
    return true;
#endif
}

static void posixmq_close(ipc_channel *ch)
{
    struct posixmq_end *pe = posixmq_priv(ch);
    if (ch->owner && posixmq_still_ours(pe))
        mq_unlink(pe->name);
    if (pe->mqd != (mqd_t)-1)
        mq_close(pe->mqd);
    pe->mqd = (mqd_t)-1;
    if (pe->epfd >= 0)
        close(pe->epfd);
    if (pe->held_fd >= 0)
        close(pe->held_fd);
    if (pe->watch_fd >= 0)
        close(pe->watch_fd);
    if (pe->timer_fd >= 0)
        close(pe->timer_fd);
    pe->epfd = pe->held_fd = pe->watch_fd = pe->timer_fd = -1;
    if (pe->lock_made)
        pthread_mutex_destroy(&pe->lock);
    pe->lock_made = false;
    free(pe->hold);
    pe->hold = NULL;
}

static ipc_err posixmq_unlink(const struct ipc_addr *addr)
{
    ipc_err err = posixmq_check_name(addr);
    if (err != IPC_OK)
        return err;
    if (mq_unlink(addr->path) < 0)
        return errno == ENOENT
                   ? ipc__fail(IPC_ENOENT, "mq: %s: no such queue", addr->path)
                   : ipc__errno(errno, "mq: mq_unlink %s", addr->path);
    return IPC_OK;
}

/* ---------------------------------------------------------------- messages */

/* After a kernel call found the queue full (send) or empty (receive): wait
 * until it may not be, or answer the deadline's code. IPC_OK: try again;
 * *last (receive): no sender is left, one more try and then closed. */
static ipc_err posixmq_wait(struct posixmq_end *pe, short events,
                            const struct ipc_deadline *dl, bool *last)
{
#if POSIXMQ_MQD_IS_FD
    if (events == POLLIN && pe->track && !ipc__mq_timed_waits)
        return ipc__mq_wait_recv(pe, dl, last);
#else
    (void)last;
#endif
    if (dl->nonblock)
        return ipc__fail(IPC_EAGAIN, "mq: %s: queue %s", pe->name,
                         events == POLLIN ? "empty" : "full");
    if (ipc__mq_timed_waits) {
        /* The kernel waited until its realtime instant: a wall-clock
         * jump may have ended it early; only the monotonic deadline
         * decides. */
        if (ipc__deadline_expired(dl))
            return ipc__deadline_err(dl);
        return IPC_OK;
    }
#if POSIXMQ_MQD_IS_FD
    /* Receives spin (the state is the receiving thread's alone). */
    struct pollfd pfd = {.fd = pe->mqd, .events = events};
    return ipc__wait_fds_spin(&pfd, 1, dl, events == POLLIN ? &pe->spin : NULL);
#else
    return ipc__deadline_err(dl); /* unreachable: timed waits */
#endif
}

/* The instant a timed call may block until: already past when the wait is
 * poll()'s, else the deadline converted anew (the wall clock may have
 * moved since the last try). */
static const struct timespec *posixmq_until(const struct ipc_deadline *dl,
                                            struct timespec *ts)
{
    if (dl->nonblock || !ipc__mq_timed_waits)
        return &posixmq_past;
    ipc__deadline_realtime(dl, ts);
    return ts;
}

static ipc_err posixmq_send(ipc_channel *ch, const void *buf, size_t len,
                            unsigned prio, const struct ipc_deadline *dl)
{
    struct posixmq_end *pe = posixmq_priv(ch);
    bool forever = dl->at_ns == INT64_MAX;
    for (;;) {
        struct timespec ts;
        int rc = forever ? mq_send(pe->mqd, buf, len, prio)
                         : mq_timedsend(pe->mqd, buf, len, prio,
                                        posixmq_until(dl, &ts));
        if (rc == 0)
            return IPC_OK;
        if (errno == EINTR)
            continue;
        if (errno != ETIMEDOUT && errno != EAGAIN)
            return ipc__errno(errno, "mq: mq_send %s", pe->name);
        ipc_err err = posixmq_wait(pe, POLLOUT, dl, NULL);
        if (err != IPC_OK)
            return err;
    }
}

/* Take the next message from the queue into dst (msgsize bytes at least);
 * its priority into *prio unless prio is NULL. A receiving end that judges
 * its senders never blocks in the kernel (it waits on its poll set). */
static ipc_err posixmq_take(struct posixmq_end *pe, char *dst, size_t *len,
                            unsigned *prio, const struct ipc_deadline *dl)
{
    bool forever = dl->at_ns == INT64_MAX && !pe->track;
    bool last = false;
    for (;;) {
        struct timespec ts;
        ssize_t n = forever ? mq_receive(pe->mqd, dst, pe->msgsize, prio)
                            : mq_timedreceive(pe->mqd, dst, pe->msgsize, prio,
                                              posixmq_until(dl, &ts));
        if (n >= 0) {
            *len = (size_t)n;
            pe->seen = true;
            return IPC_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno != ETIMEDOUT && errno != EAGAIN)
            return ipc__errno(errno, "mq: mq_receive %s", pe->name);
        if (last)
            return ipc__fail(IPC_ECLOSED, "mq: %s: every sender is gone",
                             pe->name);
        ipc_err err = posixmq_wait(pe, POLLIN, dl, &last);
        if (err != IPC_OK)
            return err;
    }
}

/* A message is now held, or no longer: the eventfd of a polled end says
 * so. Only on the rare paths (a buffer too small, and the receive after). */
static void posixmq_set_held(struct posixmq_end *pe, bool held, bool tell)
{
    pthread_mutex_lock(&pe->lock);
    pe->held = held;
#if POSIXMQ_MQD_IS_FD
    if (tell)
        ipc__mq_sync_ready(pe);
#else
    (void)tell;
#endif
    pthread_mutex_unlock(&pe->lock);
}

/* Copy the message in pe->hold out if buf has room for it. */
static ipc_err posixmq_give_held(struct posixmq_end *pe, void *buf, size_t cap,
                                 size_t *len, unsigned *prio)
{
    *len = pe->hold_len;
    if (pe->hold_len > cap)
        return ipc__fail(IPC_EMSGSIZE,
                         "mq: message of %zu bytes, buffer of "
                         "%zu; it is kept for the next receive",
                         pe->hold_len, cap);
    if (pe->hold_len > 0)
        memcpy(buf, pe->hold, pe->hold_len);
    if (prio)
        *prio = pe->hold_prio;
    return IPC_OK;
}

static ipc_err posixmq_recv(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                            unsigned *prio, const struct ipc_deadline *dl)
{
    struct posixmq_end *pe = posixmq_priv(ch);
    /* A forked child's copy of a held message is the parent's: drop it,
     * or both would deliver it (and leave the shared eventfd to the
     * parent). getpid() only on this rare path. */
    if (pe->held && pe->held_pid != getpid())
        posixmq_set_held(pe, false, false);
    if (pe->held) {
        ipc_err err = posixmq_give_held(pe, buf, cap, len, prio);
        if (err == IPC_OK)
            posixmq_set_held(pe, false, true);
        return err;
    }
    if (cap >= pe->msgsize)
        return posixmq_take(pe, buf, len, prio, dl);
    /* The kernel refuses a buffer smaller than mq_msgsize: take the
     * message into our own and copy it out (an extra copy, only here). */
    ipc_err err = posixmq_take(pe, pe->hold, &pe->hold_len, &pe->hold_prio, dl);
    if (err != IPC_OK)
        return err;
    err = posixmq_give_held(pe, buf, cap, len, prio);
    if (err == IPC_EMSGSIZE) {
        pe->held_pid = getpid();
        posixmq_set_held(pe, true, true);
    }
    return err;
}

#if POSIXMQ_MQD_IS_FD
static ipc_err posixmq_pollfd(const ipc_channel *ch, int *fd)
{
    /* ipc__priv drops const: the poll set is the end's hidden state. */
    struct posixmq_end *pe = posixmq_priv(ch);
    if (!(ch->direction & IPC_F_RECV)) {
        *fd = (int)pe->mqd;
        return IPC_OK;
    }
    ipc_err err = ipc__mq_pollset(pe);
    *fd = pe->epfd;
    return err;
}
#endif

const struct ipc_backend ipc__backend_mq = {
    .scheme = "mq",
    .caps = IPC_CAP_NAMED | IPC_CAP_PAIR | IPC_CAP_MULTI_SENDER |
            IPC_CAP_MULTI_RECEIVER |
            IPC_CAP_PRIORITY
#if POSIXMQ_MQD_IS_FD
            /* PEER_CLOSED: receiving ends only (see the top). */
            | IPC_CAP_POLLABLE | IPC_CAP_PEER_CLOSED
#endif
    ,
    .keys = IPC_KEYBIT(IPC_KEY_MAX_MSG) | IPC_KEYBIT(IPC_KEY_CAPACITY) |
            IPC_KEYBIT(IPC_KEY_MODE) | IPC_KEYBIT(IPC_KEY_OWNER),
    /* A pair's queue is unlinked at once: nobody else can open it. */
    .named_keys = IPC_KEYBIT(IPC_KEY_MODE) | IPC_KEYBIT(IPC_KEY_OWNER),
    .priv_size = sizeof(struct posixmq_end),
    .max_prio = POSIXMQ_PRIO_MAX,
    .limits =
        {
            .max_msg_default = POSIXMQ_MAX_MSG_DEFAULT,
            .max_msg_max = POSIXMQ_MAX_MSG_MAX,
            .capacity_default = POSIXMQ_CAPACITY_DEFAULT,
            .capacity_max = POSIXMQ_CAPACITY_MAX,
            .name_max = POSIXMQ_NAME_MAX,
        },
    .path_required = true,
    /* Asked for the priority, mq_receive stores it in the caller's memory:
     * about 20 ns a send/receive pair here, CPU per message at 64 B went
     * from 0.95 to 0.97 of the raw loop's (tests/bench/ipc-bench). */
    .recv_prio_null = true,
    .open = posixmq_open,
    .pair = posixmq_pair,
    .close = posixmq_close,
    .unlink = posixmq_unlink,
    .send = posixmq_send,
    .recv = posixmq_recv,
    .os_limits = posixmq_os_limits,
#if POSIXMQ_MQD_IS_FD
    .pollfd = posixmq_pollfd,
#endif
};
