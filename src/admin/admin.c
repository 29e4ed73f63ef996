/* SPDX-License-Identifier: MIT */
/* admin: ipc_objects() and ipc_object_stat(), the public face of the
 * probes (kinds.c, shm.c) over one census of open descriptors (proc.c). */
#include "admin_int.h"
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/socket.h>

struct admin_list {
    ipc_object *items;
    size_t n, cap;
};

/* Append a probed object; objects not of the kind, or gone since the
 * directory was read, are left out. */
static ipc_err admin_keep(struct admin_list *l, ipc_err probed,
                          const ipc_object *o)
{
    if (probed != IPC_OK)
        return probed == IPC_ENOMEM ? probed : IPC_OK;
    ipc_err err = ipc__grow((void **)&l->items, &l->cap, l->n, sizeof *o);
    if (err == IPC_OK)
        l->items[l->n++] = *o;
    return err;
}

/* Each entry of /dev/shm or the mqueue mount, by its "/name". */
static ipc_err admin_walk_named(struct admin_list *l, const char *dir, bool mq,
                                const struct ipc__census *c, ipc_object *o)
{
    DIR *d = opendir(dir);
    if (!d)
        return IPC_OK; /* no such filesystem here: nothing of the kind */
    ipc_err err = IPC_OK;
    struct dirent *de;
    char name[NAME_MAX + 2];
    while (err == IPC_OK && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(name, sizeof name, "/%s", de->d_name);
        err = admin_keep(
            l, mq ? ipc__probe_mq(c, name, o) : ipc__probe_shm(c, name, o), o);
    }
    closedir(d);
    return err;
}

static ipc_err admin_walk_dir(struct admin_list *l, const char *dir,
                              const struct ipc__census *c, ipc_object *o)
{
    DIR *d = opendir(dir);
    if (!d)
        return ipc__errno(errno, "admin: directory %s", dir);
    ipc_err err = IPC_OK;
    struct dirent *de;
    char path[IPC_ADDR_PATH_MAX + 1];
    size_t dlen = strlen(dir);
    const char *sep = dlen && dir[dlen - 1] == '/' ? "" : "/";
    while (err == IPC_OK && (de = readdir(d)) != NULL) {
        if (de->d_type != DT_FIFO && de->d_type != DT_SOCK &&
            de->d_type != DT_UNKNOWN)
            continue;
        if (snprintf(path, sizeof path, "%s%s%s", dir, sep, de->d_name) >=
            (int)sizeof path)
            continue;
        const char *scheme = de->d_type == DT_SOCK ? "unix" : "fifo";
        ipc_err probed = ipc__probe_file(c, scheme, path, o);
        if (probed == IPC_EPROTO && de->d_type == DT_UNKNOWN)
            probed = ipc__probe_file(c, "unix", path, o);
        err = admin_keep(l, probed, o);
    }
    closedir(d);
    return err;
}

/* Keyed SysV message queues, then semaphore sets. */
static ipc_err admin_walk_sysv(struct admin_list *l, ipc_object *o)
{
    ipc_err err = IPC_OK;
    for (int sem = 0; err == IPC_OK && sem < 2; sem++) {
        key_t *keys;
        size_t n;
        err = ipc__sysv_keys(sem ? "sem" : "msg", &keys, &n);
        for (size_t i = 0; err == IPC_OK && i < n; i++)
            err = admin_keep(l,
                             sem ? ipc__probe_semset(keys[i], o)
                                 : ipc__probe_sysv(keys[i], o),
                             o);
        free(keys);
    }
    return err;
}

/* Listening abstract SOCK_SEQPACKET sockets: libipc's kind of socket
 * (stream sockets of other programs are left out). */
static ipc_err admin_walk_abstract(struct admin_list *l,
                                   const struct ipc__census *c, ipc_object *o)
{
    ipc_err err = IPC_OK;
    for (size_t i = 0; err == IPC_OK && i < c->n_socks; i++) {
        const struct ipc__usock *s = &c->socks[i];
        if (s->path && s->path[0] == '@' && s->listening &&
            s->type == SOCK_SEQPACKET)
            err = admin_keep(l, ipc__probe_abstract(c, s, o), o);
    }
    return err;
}

static int admin_by_address(const void *a, const void *b)
{
    return strcmp(((const ipc_object *)a)->address,
                  ((const ipc_object *)b)->address);
}

static ipc_err admin_collect(struct admin_list *l, const char *const *dirs,
                             const struct ipc__census *c, ipc_object *o)
{
    ipc_err err = admin_walk_named(l, "/dev/shm", false, c, o);
    if (err == IPC_OK)
        err = admin_walk_named(l, c->mq_dir, true, c, o);
    if (err == IPC_OK)
        err = admin_walk_sysv(l, o);
    for (size_t i = 0; err == IPC_OK && dirs[i]; i++)
        err = admin_walk_dir(l, dirs[i], c, o);
    if (err == IPC_OK)
        err = admin_walk_abstract(l, c, o);
    return err;
}

IPC_API ipc_err ipc_objects(const char *const *dirs, ipc_object **list,
                            size_t *count)
{
    if (!list || !count)
        return ipc__fail(IPC_EINVAL, "ipc_objects: NULL list or count");
    *list = NULL;
    *count = 0;
    const char *tmp = getenv("TMPDIR");
    const char *dflt[] = {tmp && *tmp ? tmp : "/tmp", NULL};
    struct ipc__census c;
    ipc_err err = ipc__census_take(&c);
    if (err != IPC_OK)
        return err;
    ipc_object *o = malloc(sizeof *o); /* 4 KiB: not on the stack */
    struct admin_list l = {0};
    err = o ? admin_collect(&l, dirs ? dirs : dflt, &c, o)
            : ipc__fail(IPC_ENOMEM, "admin: out of memory");
    free(o);
    ipc__census_free(&c);
    if (err != IPC_OK) {
        free(l.items);
        return err;
    }
    if (l.n)
        qsort(l.items, l.n, sizeof *l.items, admin_by_address);
    *list = l.items;
    *count = l.n;
    ipc__clear_detail();
    return IPC_OK;
}

IPC_API void ipc_objects_free(ipc_object *list)
{
    free(list);
}

/* "sysv:0xKEY" or "sysv:/path" (keyed as the backend does: os.h). */
static ipc_err admin_sysv_key(const struct ipc_addr *a, key_t *key)
{
    if (a->path[0] == '0' && (a->path[1] == 'x' || a->path[1] == 'X')) {
        char *end;
        unsigned long v = strtoul(a->path + 2, &end, 16);
        if (*end || a->path_len < 3 || a->path_len > 10 || v == 0 ||
            a->path[2] == '-' || a->path[2] == '+')
            return ipc__fail(IPC_EINVAL,
                             "sysv: key \"%s\": 1 to 8 hex digits, not 0",
                             a->path);
        *key = (key_t)v;
        return IPC_OK;
    }
    return ipc__sysv_path_key("sysv", a->path, key);
}

static ipc_err admin_stat_sock(const struct ipc__census *c,
                               const struct ipc_addr *a, ipc_object *o)
{
    if (a->path[0] != '@')
        return ipc__probe_file(c, "unix", a->path, o);
    const struct ipc__usock *s = ipc__census_sock(c, a->path);
    if (!s)
        return ipc__fail(IPC_ENOENT, "unix: %s: nothing is bound to it",
                         a->path);
    return ipc__probe_abstract(c, s, o);
}

/* sysv:0xKEY: the message queue, else the semaphore set. */
static ipc_err admin_stat_sysv(const struct ipc_addr *a, ipc_object *o)
{
    key_t key;
    ipc_err err = admin_sysv_key(a, &key);
    if (err == IPC_OK)
        err = ipc__probe_sysv(key, o);
    if (err == IPC_ENOENT)
        err = ipc__probe_semset(key, o);
    return err;
}

static ipc_err admin_stat(const struct ipc_addr *a, ipc_object *o)
{
    if (strcmp(a->scheme, "sysv") == 0)
        return admin_stat_sysv(a, o);
    if (strcmp(a->scheme, "file") == 0)
        return ipc__fail(IPC_ENOTSUP,
                         "file: regions are raw files: nothing tells one "
                         "from any other file");
    struct ipc__census c;
    ipc_err err = ipc__census_take(&c);
    if (err != IPC_OK)
        return err;
    if (strcmp(a->scheme, "shm") == 0)
        err = ipc__probe_shm(&c, a->path, o);
    else if (strcmp(a->scheme, "sem") == 0)
        err = ipc__probe_sem(&c, a->path, o);
    else if (strcmp(a->scheme, "mq") == 0)
        err = ipc__probe_mq(&c, a->path, o);
    else if (strcmp(a->scheme, "fifo") == 0)
        err = ipc__probe_file(&c, "fifo", a->path, o);
    else if (strcmp(a->scheme, "unix") == 0)
        err = admin_stat_sock(&c, a, o);
    else /* tcp, udp, nng */
        err = ipc__fail(IPC_ENOTSUP,
                        "%s: a network address: no object on this machine "
                        "stands for it",
                        a->scheme);
    ipc__census_free(&c);
    return err;
}

/* Schemes of regions and sync objects that the channel registry does not
 * know: they name objects too. */
static bool admin_other_scheme(const char *scheme)
{
    return strcmp(scheme, "sem") == 0 || strcmp(scheme, "file") == 0;
}

IPC_API ipc_err ipc_object_stat(const char *address, ipc_object *obj)
{
    if (!address || !obj)
        return ipc__fail(IPC_EINVAL, "ipc_object_stat: NULL argument");
    struct ipc_addr *a = malloc(sizeof *a);
    if (!a)
        return ipc__fail(IPC_ENOMEM, "admin: out of memory");
    ipc_err err = ipc__addr_parse(address, a);
    bool other = err == IPC_OK && admin_other_scheme(a->scheme);
    const struct ipc_backend *be =
        err == IPC_OK && !other ? ipc__backend_find(a->scheme) : NULL;
    if (err == IPC_OK && other)
        err = a->path_len
                  ? IPC_OK
                  : ipc__fail(IPC_EINVAL, "%s: the address names no object",
                              a->scheme);
    else if (err == IPC_OK && !be)
        err = ipc__fail(IPC_EINVAL, "%s: unknown scheme", a->scheme);
    else if (err == IPC_OK && !be->path_required)
        err = ipc__fail(IPC_ENOTSUP, "%s: has no named objects", a->scheme);
    else if (err == IPC_OK && a->path_len == 0)
        err =
            ipc__fail(IPC_EINVAL, "%s: the address names no object", a->scheme);
    if (err == IPC_OK)
        err = admin_stat(a, obj);
    free(a);
    if (err == IPC_OK)
        ipc__clear_detail();
    return err;
}
