/* SPDX-License-Identifier: MIT */
/* unix: the named receiver: its listener (bind, stale names), the senders
 * it accepts, and their turns (poll for one, epoll for several). */
#include "unix.h"

/* May this connecting sender send? peer_uid= admits exactly that uid. An
 * abstract name has no file whose mode the kernel checks at connect, so
 * the receiver applies the mode itself, as the kernel does for a path
 * (write permission): the owner class is our euid and root, the group
 * class our egid, the others everyone else. A path's mode is the kernel's
 * to check. */
static bool unix_sender_allowed(const struct unix_end *ue, int fd, uid_t *uid)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    *uid = cred.uid;
    if (ue->require_uid)
        return cred.uid == ue->required_uid;
    if (!ue->abstract || cred.uid == geteuid() || cred.uid == 0)
        return true;
    if (cred.gid == getegid())
        return (ue->mode & 0020) != 0;
    return (ue->mode & 0002) != 0;
}

/* ----------------------------------------------------- named: the receiver */

/* Is someone accepting on this address? Used before replacing a socket
 * file, so that a live channel is never taken over. */
bool ipc__unix_is_live(const struct sockaddr_un *sa, socklen_t len)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return true; /* cannot tell: assume live, replace nothing */
    int rc = connect(fd, (const struct sockaddr *)sa, len);
    int err = errno;
    close(fd);
    /* EAGAIN: a full backlog, which only a live listener has. */
    return rc == 0 || err == EAGAIN || err == EPROTOTYPE;
}

/* A bound name already exists: refuse, or remove a stale socket file when
 * asked to (never a live one, never a file of another kind). */
static ipc_err unix_clear_stale(const struct unix_end *ue, const char *name,
                                unsigned flags)
{
    if (ue->abstract || ipc__unix_is_live(&ue->sa, ue->sa_len))
        return ipc__fail(IPC_EEXIST, "unix: %s: a live receiver has it", name);
    struct stat st;
    if (lstat(ue->sa.sun_path, &st) < 0)
        return ipc__errno(errno, "unix: lstat %s", name);
    if (!S_ISSOCK(st.st_mode))
        return ipc__fail(IPC_EEXIST, "unix: %s exists and is not a socket",
                         name);
    /* Plain IPC_F_CREATE reuses a stale name of our own; only REPLACE
     * takes over someone else's, and EXCL never does. */
    bool ours = st.st_uid == geteuid();
    bool replace = flags & IPC_F_REPLACE;
    if (!replace && ((flags & IPC_F_EXCL) || !ours))
        return ipc__fail((flags & IPC_F_EXCL) ? IPC_EEXIST : IPC_EACCES,
                         "unix: %s: a stale socket file exists (nobody "
                         "listens); IPC_F_REPLACE removes it",
                         name);
    if (unlink(ue->sa.sun_path) < 0 && errno != ENOENT)
        return ipc__errno(errno, "unix: unlink stale %s", name);
    return IPC_OK;
}

static ipc_err unix_bind(ipc_channel *ch, const char *name, unsigned flags)
{
    struct unix_end *ue = unix_priv(ch);
    const struct sockaddr *sa = (const struct sockaddr *)&ue->sa;
    /* Linux makes the socket file with the socket inode's mode less the
     * umask: set it first so the file never exists with a wider mode. */
    if (!ue->abstract && fchmod(ue->fd, ue->mode) < 0)
        return ipc__errno(errno, "unix: fchmod %s", name);
    if (bind(ue->fd, sa, ue->sa_len) < 0) {
        if (errno != EADDRINUSE)
            return ipc__errno(errno, "unix: bind %s", name);
        ipc_err err = unix_clear_stale(ue, name, flags);
        if (err != IPC_OK)
            return err;
        if (bind(ue->fd, sa, ue->sa_len) < 0)
            return ipc__errno(errno, "unix: bind %s", name);
    }
    ch->owner = true;
    if (ue->abstract)
        return IPC_OK;
    /* The umask may have narrowed the mode asked for: set it exactly, on
     * the file we made, never through a symlink swapped in since. */
    struct stat st;
    ipc_err err =
        ipc__chmod_made("unix", ue->sa.sun_path, S_IFSOCK, ue->mode, &st);
    if (err == IPC_OK) {
        ue->dev = st.st_dev;
        ue->ino = st.st_ino;
    }
    return err;
}

static ipc_err unix_epoll_add(struct unix_end *ue, int fd, void *ptr)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ptr};
    if (epoll_ctl(ue->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return ipc__errno(errno, "unix: epoll_ctl");
    return IPC_OK;
}

static ipc_err unix_conn_watch(struct unix_end *ue, struct unix_conn *c)
{
    if (c->in_epoll)
        return IPC_OK;
    ipc_err err = unix_epoll_add(ue, c->fd, c);
    c->in_epoll = err == IPC_OK;
    return err;
}

/* Explicitly, not by close(): a forked child may share the socket, and the
 * set would keep reporting it, with c freed, until the child closes it. */
static void unix_conn_unwatch(struct unix_end *ue, struct unix_conn *c)
{
    if (c->in_epoll && epoll_ctl(ue->epfd, EPOLL_CTL_DEL, c->fd, NULL) == 0)
        c->in_epoll = false;
}

/* Put every connection in the epoll set (lock held). */
ipc_err ipc__unix_epoll_all(struct unix_end *ue)
{
    for (struct unix_conn *c = ue->conns; c; c = c->next) {
        ipc_err err = unix_conn_watch(ue, c);
        if (err != IPC_OK)
            return err;
    }
    ue->epolled = true;
    return IPC_OK;
}

ipc_err ipc__unix_listen(ipc_channel *ch, const char *name, unsigned flags,
                         const struct ipc_deadline *dl)
{
    struct unix_end *ue = unix_priv(ch);
    if (!(flags & IPC_F_CREATE))
        return ipc__fail(IPC_EINVAL,
                         "unix: %s: the receiver of a named "
                         "channel creates it (IPC_F_CREATE)",
                         name);
    ipc_err err = ipc__unix_check_frame(ch->max_msg);
    if (err != IPC_OK)
        return err;
    /* A path is bound and listened on with its directory locked, and a
     * stale socket file judged and removed under the same lock (issue 12,
     * defect 4): otherwise two receivers replacing one stale file could
     * both win (the second removing the first's new file), or one judge
     * the other's bound socket stale before it listens. */
    int dirfd = -1;
    if (!ue->abstract &&
        (err = ipc__lock_dir("unix", ue->sa.sun_path, dl, &dirfd)) != IPC_OK)
        return err;
    err = unix_bind(ch, name, flags);
    if (err == IPC_OK && listen(ue->fd, SOMAXCONN) < 0)
        err = ipc__errno(errno, "unix: listen %s", name);
    if (dirfd >= 0)
        close(dirfd);
    if (err != IPC_OK)
        return err;
    int cloexec = (flags & IPC_F_INHERIT) ? 0 : EPOLL_CLOEXEC;
    if ((ue->epfd = epoll_create1(cloexec)) < 0)
        return ipc__errno(errno, "unix: epoll_create1");
    /* New senders can always come: a named receiver never hears "closed",
     * and it has only one direction. */
    ch->caps &= ~(unsigned)(IPC_CAP_PEER_CLOSED | IPC_CAP_DUPLEX);
    ch->capacity = 0;
    ch->buffer_bytes = 0;
    ue->max_msg = ch->max_msg;
    return unix_epoll_add(ue, ue->fd, NULL);
}

static void unix_drop(struct unix_end *ue, struct unix_conn *gone)
{
    pthread_mutex_lock(&ue->lock);
    for (struct unix_conn **p = &ue->conns; *p; p = &(*p)->next) {
        if (*p == gone) {
            *p = gone->next;
            ue->nconns--;
            break;
        }
    }
    if (ue->cur == gone)
        ue->cur = NULL;
    unix_conn_unwatch(ue, gone);
    close(gone->fd);
    free(gone);
    /* Back to one sender (or none) and nobody holds the poll descriptor:
     * its sends need not wake epoll any more. */
    if (ue->epolled && !ue->polled && ue->nconns <= 1) {
        if (ue->conns)
            unix_conn_unwatch(ue, ue->conns);
        ue->epolled = ue->conns && ue->conns->in_epoll;
    }
    pthread_mutex_unlock(&ue->lock);
}

/* Accept every waiting sender. Senders refused by peer_uid= are closed:
 * they see IPC_ECLOSED on their next send. */
static ipc_err unix_accept(struct unix_end *ue)
{
    for (;;) {
        int fd = accept4(ue->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN)
                return IPC_OK;
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: stop watching the listener until a
                 * connection closes, or every wait would spin on it. */
                epoll_ctl(ue->epfd, EPOLL_CTL_DEL, ue->fd, NULL);
                if (!ue->listener_paused)
                    ue->resume_ns = 1000000;
                ue->listener_paused = true;
                return IPC_OK;
            }
            return ipc__errno(errno, "unix: accept");
        }
        struct unix_conn *c = malloc(sizeof *c);
        if (!c || !unix_sender_allowed(ue, fd, &c->uid)) {
            free(c);
            close(fd);
            continue;
        }
        ipc__unix_send_hello(ue, fd);
        c->fd = fd;
        c->in_epoll = false;
        c->turn.id = ue->next_id++;
        pthread_mutex_lock(&ue->lock);
        /* A second sender (or a handed-out poll descriptor): from now on
         * every connection is in the epoll set. */
        ipc_err err = IPC_OK;
        if (!ue->epolled && ue->conns)
            err = ipc__unix_epoll_all(ue);
        if (err == IPC_OK && ue->epolled)
            err = unix_conn_watch(ue, c);
        if (err == IPC_OK) {
            c->next = ue->conns;
            ue->conns = c;
            ue->nconns++;
        }
        pthread_mutex_unlock(&ue->lock);
        if (err != IPC_OK) {
            /* The set cannot grow (max_user_watches, memory): refuse this
             * sender as if it were not allowed; the others go on. */
            close(fd);
            free(c);
        }
    }
}

/* Paused for want of descriptors: watch the listener again and accept what
 * waits (which pauses again if none is free yet). Nothing else would ever
 * resume it when no connection is open to close and free one. */
static ipc_err unix_resume(struct unix_end *ue)
{
    if (!ue->listener_paused)
        return IPC_OK;
    if (unix_epoll_add(ue, ue->fd, NULL) != IPC_OK)
        return IPC_OK; /* still short of something: the next try */
    ue->listener_paused = false;
    return unix_accept(ue);
}

/* The wait's deadline: the call's, or sooner while paused, so that the
 * listener is retried after a back-off (1 ms doubling to 100 ms). */
static void unix_wait_deadline(struct unix_end *ue,
                               const struct ipc_deadline *dl,
                               struct ipc_deadline *wait)
{
    *wait = *dl;
    if (!ue->listener_paused || dl->nonblock)
        return;
    int64_t at = ipc__now_ns() + ue->resume_ns;
    if (at < dl->at_ns)
        wait->at_ns = at;
    if (ue->resume_ns < UNIX_RESUME_MAX_NS)
        ue->resume_ns *= 2;
}

static void unix_take_turn(struct unix_end *ue, struct unix_conn *c)
{
    ue->cur = c;
    ue->burst = 0;
    ue->last_id = c->turn.id;
}

/* At most one sender and no poll descriptor handed out: wait with poll()
 * on the listener and that connection. IPC_OK with ue->cur set, or without
 * after accepting (the caller looks again: a second sender has come and
 * the epoll set decides whose turn it is, or a timeout of 0 answers
 * IPC_EAGAIN on the next look). */
static ipc_err unix_wait_lone(struct unix_end *ue, struct unix_conn *lone,
                              const struct ipc_deadline *dl)
{
    struct pollfd pfd[2] = {
        {.fd = ue->listener_paused ? -1 : ue->fd, .events = POLLIN},
        {.fd = lone ? lone->fd : -1, .events = POLLIN},
    };
    ipc_err err = ipc__wait_fds_spin(pfd, 2, dl, &ue->spin);
    if (err != IPC_OK)
        return err;
    if (pfd[0].revents) {
        if ((err = unix_accept(ue)) != IPC_OK)
            return err;
        /* Under the lock: ipc_pollfd() in another thread may switch the
         * end to epoll at any time. */
        pthread_mutex_lock(&ue->lock);
        bool epolled = ue->epolled;
        pthread_mutex_unlock(&ue->lock);
        if (epolled)
            return IPC_OK;
    }
    if (pfd[1].revents)
        unix_take_turn(ue, lone);
    return IPC_OK;
}

/* Whose turn it is among the ready connections epoll reported. */
static struct unix_conn *unix_next_turn(const struct unix_end *ue,
                                        const struct epoll_event *ev, int n)
{
    return ipc__turn_next(ev, n, ue->last_id);
}

/* Wait for the next connection with data (or a new sender). */
static ipc_err unix_wait_ready(struct unix_end *ue,
                               const struct ipc_deadline *dl)
{
    struct epoll_event ev[UNIX_EVENTS];
    for (;;) {
        /* Only this thread changes the list; the lock orders the look
         * against an ipc_pollfd() in another one. If that comes while we
         * sleep in poll(), the lone connection still wakes us. */
        ipc_err err = unix_resume(ue);
        if (err != IPC_OK)
            return err;
        struct ipc_deadline wait;
        unix_wait_deadline(ue, dl, &wait);
        pthread_mutex_lock(&ue->lock);
        bool epolled = ue->epolled;
        struct unix_conn *lone = ue->conns;
        pthread_mutex_unlock(&ue->lock);
        if (!epolled) {
            err = unix_wait_lone(ue, lone, &wait);
            if (err == IPC_OK && ue->cur)
                return IPC_OK;
            /* A wait cut short to retry the listener goes on. */
            if (err != IPC_OK &&
                (err != IPC_ETIMEDOUT || ipc__deadline_expired(dl)))
                return err;
            continue;
        }
        int ms = ipc__deadline_poll_ms(&wait);
        int n = ipc__spin_epoll(&ue->spin, ue->epfd, ev, UNIX_EVENTS, ms);
        if (n < 0 && errno != EINTR)
            return ipc__errno(errno, "unix: epoll_wait");
        struct unix_conn *next = unix_next_turn(ue, ev, n > 0 ? n : 0);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == NULL && (err = unix_accept(ue)) != IPC_OK)
                return err;
        }
        if (next) {
            unix_take_turn(ue, next);
            return IPC_OK;
        }
        if (n <= 0 && (dl->nonblock || ipc__deadline_expired(dl)))
            return ipc__deadline_err(dl);
    }
}

/* The named receiver: many senders, taken in turns. */
ipc_err ipc__unix_recv_many(ipc_channel *ch, void *buf, size_t cap, size_t *len,
                            unsigned *prio, const struct ipc_deadline *dl)
{
    struct unix_end *ue = unix_priv(ch);
    for (;;) {
        if (ue->cur && ue->burst < UNIX_BURST) {
            struct unix_conn *c = ue->cur;
            ipc_err err = ue->rendezvous
                              ? ipc__unix_take_offer(c->fd, ch->max_msg, buf,
                                                     cap, len, prio, UNIX_NOW)
                              : ipc__unix_take(c->fd, ch->max_msg, buf, cap,
                                               len, prio, UNIX_NOW);
            if (err == IPC_OK || err == IPC_EPROTO) {
                ue->burst++;
                ue->peer_uid = c->uid;
                ue->have_peer = true;
                return err;
            }
            if (err == IPC_EMSGSIZE)
                return err;
            if (err == IPC_ECLOSED)
                unix_drop(ue, c);
            else if (err != IPC_EAGAIN)
                return err;
        }
        ue->cur = NULL;
        ipc_err err = unix_wait_ready(ue, dl);
        if (err != IPC_OK)
            return err;
    }
}
