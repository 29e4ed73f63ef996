/* SPDX-License-Identifier: MIT */
/* admin: probes of POSIX and SysV message queues, FIFOs and UNIX sockets.
 * Linux only (/dev/mqueue, /proc/sysvipc/msg, OFD locks). */
#include "admin_int.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADMIN_FIFO_LOCK_BYTE 1 /* the FIFO receiver's lock (fifo.c) */

void ipc__object_init(ipc_object *o, const char *scheme, const char *fmt, ...)
{
    memset(o, 0, sizeof *o);
    o->scheme = scheme;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->address, sizeof o->address, fmt, ap);
    va_end(ap);
    o->size = o->messages = o->capacity = o->max_msg = -1;
    o->creator_alive = -1;
    o->state = IPC_OBJ_UNKNOWN;
    o->kind = IPC_OBJ_CHANNEL;
    o->type = "";
}

static void admin_stat_fields(ipc_object *o, const struct stat *st)
{
    o->uid = st->st_uid;
    o->gid = st->st_gid;
    o->mode = st->st_mode & 0777;
}

/* The common verdict for objects judged by who has them open. */
void ipc__judge_holders(const struct ipc__census *c, const struct stat *st,
                        ipc_object *o)
{
    bool maybe = false;
    o->user = ipc__census_holder(c, st->st_dev, st->st_ino, st, &maybe);
    if (o->user) {
        o->state = IPC_OBJ_LIVE;
        snprintf(o->why, sizeof o->why, "open in process %d", (int)o->user);
    } else if (maybe) {
        snprintf(o->why, sizeof o->why,
                 "not open in any process that could be inspected");
    } else {
        o->state = IPC_OBJ_STALE;
        snprintf(o->why, sizeof o->why, "no process has it open");
    }
}

/* ------------------------------------------------------------------- mq */

/* "QSIZE:129 NOTIFY:0 SIGNO:0 NOTIFY_PID:0": bytes queued. */
static long long admin_mq_qsize(const char *path)
{
    FILE *f = fopen(path, "re");
    long long qsize = -1;
    if (f) {
        if (fscanf(f, "QSIZE:%lld", &qsize) != 1)
            qsize = -1;
        fclose(f);
    }
    return qsize;
}

/* The queue's inode: from the queue itself (mqd_t is a descriptor on
 * Linux), so that this works where no mqueue filesystem is mounted; from its
 * file there when we may not open it. */
static mqd_t admin_mq_open(const char *name, const char *path, struct stat *st)
{
    mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (q != (mqd_t)-1 && fstat((int)q, st) == 0)
        return q;
    int err = errno;
    if (q != (mqd_t)-1)
        mq_close(q);
    if (stat(path, st) < 0) {
        errno = err == EACCES || errno == ENOENT ? err : errno;
        return (mqd_t)-2;
    }
    return (mqd_t)-1;
}

ipc_err ipc__probe_mq(const struct ipc__census *c, const char *name,
                      ipc_object *o)
{
    ipc__object_init(o, "mq", "mq:%s", name);
    char path[IPC_OBJECT_ADDRESS_MAX + 16];
    snprintf(path, sizeof path, "%s%s", c->mq_dir[0] ? c->mq_dir : "/-", name);
    struct stat st;
    mqd_t q = admin_mq_open(name, path, &st);
    if (q == (mqd_t)-2)
        return ipc__errno(errno, "mq: %s", name);
    admin_stat_fields(o, &st);
    o->size = admin_mq_qsize(path);
    if (q != (mqd_t)-1) {
        struct mq_attr attr;
        if (mq_getattr(q, &attr) == 0) {
            o->messages = attr.mq_curmsgs;
            o->capacity = attr.mq_maxmsg;
            o->max_msg = attr.mq_msgsize;
        }
        mq_close(q);
    }
    ipc__judge_holders(c, &st, o);
    return IPC_OK;
}

/* ----------------------------------------------------------------- sysv */

ipc_err ipc__probe_sysv(key_t key, ipc_object *o)
{
    ipc__object_init(o, "sysv", "sysv:0x%08x", (unsigned)key);
    int id = msgget(key, 0);
    if (id < 0)
        return errno == ENOENT
                   ? ipc__fail(IPC_ENOENT, "sysv: no queue with key 0x%08x",
                               (unsigned)key)
                   : ipc__errno(errno, "sysv: msgget key 0x%08x",
                                (unsigned)key);
    struct msqid_ds ds;
    /* MSG_STAT_ANY would also read queues we may not; IPC_STAT needs read
     * permission, and without it only the key is known. */
    if (msgctl(id, IPC_STAT, &ds) == 0) {
        o->uid = ds.msg_perm.uid;
        o->gid = ds.msg_perm.gid;
        o->mode = ds.msg_perm.mode & 0777;
        o->size = (long long)ds.__msg_cbytes;
        o->messages = (long long)ds.msg_qnum;
        o->user = ds.msg_lrpid;
    }
    snprintf(o->why, sizeof o->why,
             "a SysV queue records neither its creator nor its users");
    return IPC_OK;
}

ipc_err ipc__sysv_keys(const char *file, key_t **keys, size_t *n)
{
    *keys = NULL;
    *n = 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/sysvipc/%s", file);
    FILE *f = fopen(path, "re");
    if (!f)
        return IPC_OK;
    char line[512];
    size_t cap = 0;
    ipc_err err = IPC_OK;
    if (!fgets(line, sizeof line, f)) /* the heading */
        goto out;
    while (err == IPC_OK && fgets(line, sizeof line, f)) {
        long long key;
        /* Key 0 is IPC_PRIVATE: a pair's queue, which has no address. */
        if (sscanf(line, "%lld", &key) != 1 || key == 0)
            continue;
        err = ipc__grow((void **)keys, &cap, *n, sizeof **keys);
        if (err == IPC_OK)
            (*keys)[(*n)++] = (key_t)key;
    }
out:
    fclose(f);
    return err;
}

/* ----------------------------------------------------- FIFOs and sockets */

/* Does a libipc receiver hold the FIFO's lock? Opening for reading never
 * blocks and never disturbs the channel (fifo.c). -1: cannot tell. */
static int admin_fifo_locked(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct flock fl = {.l_type = F_WRLCK,
                       .l_whence = SEEK_SET,
                       .l_start = ADMIN_FIFO_LOCK_BYTE,
                       .l_len = 1};
    int rc = fcntl(fd, F_OFD_GETLK, &fl);
    close(fd);
    return rc < 0 ? -1 : fl.l_type != F_UNLCK;
}

static void admin_probe_fifo(const struct ipc__census *c, const char *path,
                             const struct stat *st, ipc_object *o)
{
    o->size = 0;
    ipc__judge_holders(c, st, o);
    int locked = admin_fifo_locked(path);
    if (locked == 1) {
        o->state = IPC_OBJ_LIVE;
        snprintf(o->why, sizeof o->why, "a receiver holds it");
    } else if (locked < 0 && o->state == IPC_OBJ_STALE) {
        o->state = IPC_OBJ_UNKNOWN;
        snprintf(o->why, sizeof o->why, "cannot open it to look: %s",
                 strerror(errno));
    }
}

/* The bound receiver made the name: it is the creator. */
static void admin_sock_owner(const struct ipc__census *c,
                             const struct ipc__usock *s, ipc_object *o)
{
    o->state = IPC_OBJ_LIVE;
    o->user = o->creator = ipc__census_sock_pid(c, s->inode);
    if (!o->user) {
        snprintf(o->why, sizeof o->why, "a socket is bound to it");
        return;
    }
    o->creator_alive = 1;
    snprintf(o->why, sizeof o->why, "bound by process %d", (int)o->user);
}

/* A socket file is live while a socket is bound to its path. */
static void admin_probe_sockfile(const struct ipc__census *c, const char *path,
                                 ipc_object *o)
{
    const struct ipc__usock *s = ipc__census_sock(c, path);
    if (s) {
        admin_sock_owner(c, s, o);
        return;
    }
    o->state = IPC_OBJ_STALE;
    snprintf(o->why, sizeof o->why, "no socket is bound to it");
}

ipc_err ipc__probe_file(const struct ipc__census *c, const char *scheme,
                        const char *path, ipc_object *o)
{
    ipc__object_init(o, scheme, "%s:%s", scheme, path);
    struct stat st;
    if (lstat(path, &st) < 0)
        return ipc__errno(errno, "%s: %s", scheme, path);
    bool fifo = strcmp(scheme, "fifo") == 0;
    if (fifo ? !S_ISFIFO(st.st_mode) : !S_ISSOCK(st.st_mode))
        return ipc__fail(IPC_EPROTO, "%s: %s is not a %s", scheme, path,
                         fifo ? "FIFO" : "socket");
    admin_stat_fields(o, &st);
    if (fifo)
        admin_probe_fifo(c, path, &st, o);
    else
        admin_probe_sockfile(c, path, o);
    return IPC_OK;
}

ipc_err ipc__probe_abstract(const struct ipc__census *c,
                            const struct ipc__usock *s, ipc_object *o)
{
    ipc__object_init(o, "unix", "unix:%s", s->path);
    admin_sock_owner(c, s, o);
    /* No file: the owner is the binding process's. */
    char proc[32];
    struct stat st;
    snprintf(proc, sizeof proc, "/proc/%d", (int)o->user);
    if (o->user && stat(proc, &st) == 0) {
        o->uid = st.st_uid;
        o->gid = st.st_gid;
    }
    return IPC_OK;
}
