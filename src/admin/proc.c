/* SPDX-License-Identifier: MIT */
/* admin: who has what open (/proc/<pid>/fd, /proc/net/unix) and whether a
 * process is gone (/proc/<pid>/stat). Linux only. */
#include "admin_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define ADMIN_ACCEPTCON 0x00010000u /* __SO_ACCEPTCON in /proc/net/unix */

ipc_err ipc__grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return IPC_OK;
    size_t want = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, want * elem);
    if (!p)
        return ipc__fail(IPC_ENOMEM, "admin: out of memory");
    *arr = p;
    *cap = want;
    return IPC_OK;
}

static bool admin_is_pid(const char *name)
{
    if (*name < '1' || *name > '9')
        return false;
    for (; *name; name++)
        if (*name < '0' || *name > '9')
            return false;
    return true;
}

/* Only descriptors that can be IPC objects are kept. Without an mqueue mount
 * the queues' filesystem is not known, so every descriptor is. */
static bool admin_wanted(const struct ipc__census *c, const struct stat *st)
{
    return S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode) || c->mq_dev == 0 ||
           st->st_dev == c->mq_dev || st->st_dev == c->shm_dev;
}

static ipc_err admin_note_hidden(struct ipc__census *c, int proc_fd,
                                 const char *pid)
{
    struct stat st;
    if (fstatat(proc_fd, pid, &st, 0) < 0)
        return IPC_OK; /* gone meanwhile */
    ipc_err err = ipc__grow((void **)&c->hidden, &c->cap_hidden, c->n_hidden,
                            sizeof *c->hidden);
    if (err == IPC_OK)
        c->hidden[c->n_hidden++] = (struct ipc__hidden){st.st_uid, st.st_gid};
    return err;
}

static ipc_err admin_note_fd(struct ipc__census *c, dev_t dev, ino_t ino,
                             pid_t pid, bool sock)
{
    ipc_err err =
        ipc__grow((void **)&c->fds, &c->cap_fds, c->n_fds, sizeof *c->fds);
    if (err == IPC_OK)
        c->fds[c->n_fds++] = (struct ipc__fdref){dev, ino, pid, sock};
    return err;
}

/* Mappings of /dev/shm files ("addr perms offset MAJ:MIN inode path"):
 * a POSIX semaphore is mapped with its descriptor closed. */
static ipc_err admin_scan_maps(struct ipc__census *c, int proc_fd,
                               const char *pid)
{
    char path[NAME_MAX + 8], line[4352];
    snprintf(path, sizeof path, "%s/maps", pid);
    int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "re");
    if (!f) {
        if (fd >= 0)
            close(fd);
        return IPC_OK;
    }
    ipc_err err = IPC_OK;
    while (err == IPC_OK && fgets(line, sizeof line, f)) {
        unsigned major, minor;
        unsigned long ino;
        int used = 0;
        if (!strstr(line, " /dev/shm/") ||
            sscanf(line, "%*s %*s %*s %x:%x %lu%n", &major, &minor, &ino,
                   &used) != 3)
            continue;
        err = admin_note_fd(c, makedev(major, minor), (ino_t)ino,
                            (pid_t)atol(pid), false);
    }
    fclose(f);
    return err;
}

static ipc_err admin_scan_pid(struct ipc__census *c, int proc_fd,
                              const char *pid)
{
    char path[NAME_MAX + 4];
    snprintf(path, sizeof path, "%s/fd", pid);
    int dfd = openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == EACCES || errno == EPERM
                   ? admin_note_hidden(c, proc_fd, pid)
                   : IPC_OK;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return IPC_OK;
    }
    ipc_err err = IPC_OK;
    struct dirent *de;
    while (err == IPC_OK && (de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dfd, de->d_name, &st, 0) < 0 ||
            !admin_wanted(c, &st))
            continue;
        err = admin_note_fd(c, st.st_dev, st.st_ino, (pid_t)atol(pid),
                            S_ISSOCK(st.st_mode));
    }
    closedir(d);
    return err == IPC_OK ? admin_scan_maps(c, proc_fd, pid) : err;
}

static ipc_err admin_scan_fds(struct ipc__census *c)
{
    int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd < 0)
        return IPC_OK;
    DIR *d = fdopendir(proc_fd);
    if (!d) {
        close(proc_fd);
        return IPC_OK;
    }
    ipc_err err = IPC_OK;
    struct dirent *de;
    while (err == IPC_OK && (de = readdir(d)) != NULL)
        if (admin_is_pid(de->d_name))
            err = admin_scan_pid(c, proc_fd, de->d_name);
    closedir(d);
    return err;
}

/* "Num: RefCount Protocol Flags Type St Inode [Path]"; abstract names
 * begin with '@' (their NULs are shown as '@' too). */
static ipc_err admin_scan_unix(struct ipc__census *c)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (!f)
        return IPC_OK;
    char line[4352];
    ipc_err err = IPC_OK;
    if (!fgets(line, sizeof line, f)) /* the heading */
        goto out;
    while (err == IPC_OK && fgets(line, sizeof line, f)) {
        unsigned flags, type, st;
        unsigned long inode;
        int used = 0;
        if (sscanf(line, "%*s %*x %*x %x %x %x %lu%n", &flags, &type, &st,
                   &inode, &used) != 4)
            continue;
        char *path = line + used;
        path += strspn(path, " ");
        path[strcspn(path, "\n")] = '\0';
        err = ipc__grow((void **)&c->socks, &c->cap_socks, c->n_socks,
                        sizeof *c->socks);
        if (err != IPC_OK)
            break;
        char *copy = NULL;
        if (*path && !(copy = strdup(path)))
            err = ipc__fail(IPC_ENOMEM, "admin: out of memory");
        c->socks[c->n_socks++] = (struct ipc__usock){
            inode, type, (flags & ADMIN_ACCEPTCON) != 0, copy};
    }
out:
    fclose(f);
    return err;
}

/* Where the mqueue filesystem is mounted: /dev/mqueue by convention, but
 * any mount point will do (a container may have none, or another). */
static void admin_find_mqueue(struct ipc__census *c)
{
    FILE *f = setmntent("/proc/self/mounts", "re");
    struct mntent *m;
    while (f && (m = getmntent(f)) != NULL)
        if (strcmp(m->mnt_type, "mqueue") == 0 &&
            strlen(m->mnt_dir) < sizeof c->mq_dir) {
            strcpy(c->mq_dir, m->mnt_dir);
            break;
        }
    if (f)
        endmntent(f);
    struct stat st;
    if (c->mq_dir[0] && stat(c->mq_dir, &st) == 0)
        c->mq_dev = st.st_dev;
    else
        c->mq_dir[0] = '\0';
}

ipc_err ipc__census_take(struct ipc__census *c)
{
    memset(c, 0, sizeof *c);
    admin_find_mqueue(c);
    struct stat st;
    if (stat("/dev/shm", &st) == 0)
        c->shm_dev = st.st_dev;
    ipc_err err = admin_scan_fds(c);
    if (err == IPC_OK)
        err = admin_scan_unix(c);
    if (err != IPC_OK)
        ipc__census_free(c);
    return err;
}

void ipc__census_free(struct ipc__census *c)
{
    for (size_t i = 0; i < c->n_socks; i++)
        free(c->socks[i].path);
    free(c->socks);
    free(c->fds);
    free(c->hidden);
    memset(c, 0, sizeof *c);
}

/* Could a process running as h open an object owned by obj? Root-owned
 * processes are assumed to leave other users' objects alone (see admin.h). */
static bool admin_may_access(const struct ipc__hidden *h,
                             const struct stat *obj)
{
    if (h->uid == obj->st_uid)
        return true;
    if (h->uid == 0)
        return false;
    if (h->gid == obj->st_gid && (obj->st_mode & 0060))
        return true;
    return (obj->st_mode & 0006) != 0;
}

pid_t ipc__census_holder(const struct ipc__census *c, dev_t dev, ino_t ino,
                         const struct stat *obj, bool *maybe)
{
    *maybe = false;
    for (size_t i = 0; i < c->n_fds; i++)
        if (c->fds[i].dev == dev && c->fds[i].ino == ino &&
            c->fds[i].pid != getpid())
            return c->fds[i].pid;
    for (size_t i = 0; i < c->n_hidden && !*maybe; i++)
        *maybe = admin_may_access(&c->hidden[i], obj);
    return 0;
}

pid_t ipc__census_sock_pid(const struct ipc__census *c, unsigned long inode)
{
    for (size_t i = 0; i < c->n_fds; i++)
        if (c->fds[i].sock && c->fds[i].ino == (ino_t)inode)
            return c->fds[i].pid;
    return 0;
}

const struct ipc__usock *ipc__census_sock(const struct ipc__census *c,
                                          const char *path)
{
    for (size_t i = 0; i < c->n_socks; i++)
        if (c->socks[i].path && strcmp(c->socks[i].path, path) == 0)
            return &c->socks[i];
    return NULL;
}
