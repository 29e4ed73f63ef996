/* SPDX-License-Identifier: MIT */
/* ipcctl ls, stat, rm, gc: the objects on this machine (ipc/admin.h). */
#include "ipcctl.h"

#include <fnmatch.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBJ_DIRS_MAX 64

static const char *obj_state(int state)
{
    return state == IPC_OBJ_LIVE    ? "live"
           : state == IPC_OBJ_STALE ? "stale"
                                    : "unknown";
}

static const char *obj_kind(int kind)
{
    return kind == IPC_OBJ_REGION ? "region"
           : kind == IPC_OBJ_SYNC ? "sync"
                                  : "channel";
}

static const char *obj_alive(int alive)
{
    return alive == 1 ? "alive" : alive == 0 ? "gone" : "unknown";
}

static void obj_num(char *buf, size_t size, long long v)
{
    if (v < 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%lld", v);
}

static void obj_owner(char *buf, size_t size, uid_t uid)
{
    const struct passwd *pw = getpwuid(uid);
    if (pw)
        snprintf(buf, size, "%s", pw->pw_name);
    else
        snprintf(buf, size, "%u", (unsigned)uid);
}

static void obj_row(const ipc_object *o)
{
    char owner[64], size[24], msgs[24], cap[24], max[24], creator[40];
    obj_owner(owner, sizeof owner, o->uid);
    obj_num(size, sizeof size, o->size);
    obj_num(msgs, sizeof msgs, o->messages);
    obj_num(cap, sizeof cap, o->capacity);
    obj_num(max, sizeof max, o->max_msg);
    if (o->creator)
        snprintf(creator, sizeof creator, "%d/%s", (int)o->creator,
                 obj_alive(o->creator_alive));
    else
        snprintf(creator, sizeof creator, "-");
    printf("%-7s %-7s %-8s %04o %9s %6s %6s %8s %-14s %7d %s\n",
           obj_kind(o->kind), obj_state(o->state), owner, o->mode, size, msgs,
           cap, max, creator, (int)o->user, o->address);
}

/* A JSON string: ASCII printable passes, the rest is escaped (bytes above
 * 0x7f as \u00XX: names are bytes, not necessarily UTF-8). */
static void obj_json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p > 0x7e)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void obj_json(const ipc_object *o)
{
    printf("{\"kind\": \"%s\", \"type\": \"%s\", \"scheme\": \"%s\", "
           "\"address\": ",
           obj_kind(o->kind), o->type ? o->type : "", o->scheme);
    obj_json_str(o->address);
    printf(", \"state\": \"%s\", \"uid\": %u, \"gid\": %u, \"mode\": \"%04o\", "
           "\"size\": %lld, \"messages\": %lld, \"capacity\": %lld, "
           "\"max_msg\": %lld, \"creator\": %d, \"creator_alive\": %s, "
           "\"user\": %d, \"why\": ",
           obj_state(o->state), (unsigned)o->uid, (unsigned)o->gid, o->mode,
           o->size, o->messages, o->capacity, o->max_msg, (int)o->creator,
           o->creator_alive < 0 ? "null"
           : o->creator_alive   ? "true"
                                : "false",
           (int)o->user);
    obj_json_str(o->why);
    putchar('}');
}

static const struct option obj_ls_opts[] = {
    {"json", no_argument, NULL, 'j'},
    {"dir", required_argument, NULL, 'd'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};
static const struct option obj_gc_opts[] = {
    {"dry-run", no_argument, NULL, 'n'},
    {"dir", required_argument, NULL, 'd'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* ls and gc: parse --dir DIR (repeatable) and one flag, then list the
 * objects into *list (to free with ipc_objects_free) unless *done. */
static int obj_list(const struct ipcctl_cmd *cmd, int argc, char **argv,
                    const struct option *opts, bool *flag, bool *done,
                    ipc_object **list, size_t *count)
{
    const char *dirs[OBJ_DIRS_MAX] = {NULL};
    size_t n = 0;
    int opt;
    while ((opt = ipcctl_getopt(cmd, argc, argv, "d:h", opts, done)) != -1) {
        if (*done)
            return IPCCTL_OK;
        if (opt == 'd' && n + 1 < OBJ_DIRS_MAX) {
            dirs[n++] = optarg;
            dirs[n] = NULL;
        } else if (opt == 'j' || opt == 'n') {
            *flag = true;
        } else {
            return ipcctl_usage(cmd, "bad option %s", argv[optind - 1]);
        }
    }
    if (optind != argc && cmd == &ipcctl_cmd_ls)
        return ipcctl_usage(cmd, "unexpected argument %s", argv[optind]);
    ipc_err err = ipc_objects(n ? dirs : NULL, list, count);
    return err == IPC_OK ? IPCCTL_OK : ipcctl_fail(cmd->name, err);
}

static int obj_ls(int argc, char **argv)
{
    bool json = false, done = false;
    ipc_object *list;
    size_t n;
    int rc = obj_list(&ipcctl_cmd_ls, argc, argv, obj_ls_opts, &json, &done,
                      &list, &n);
    if (rc != IPCCTL_OK || done)
        return rc;
    if (json)
        putchar('[');
    else
        printf("%-7s %-7s %-8s %-4s %9s %6s %6s %8s %-14s %7s %s\n", "KIND",
               "STATE", "OWNER", "MODE", "SIZE", "MSGS", "CAP", "MAX_MSG",
               "CREATOR", "USER", "ADDRESS");
    for (size_t i = 0; i < n; i++) {
        if (json) {
            fputs(i ? ",\n " : "\n ", stdout);
            obj_json(&list[i]);
        } else {
            obj_row(&list[i]);
        }
    }
    if (json)
        puts(n ? "\n]" : "]");
    ipc_objects_free(list);
    return IPCCTL_OK;
}

static void obj_caps(const char *scheme)
{
    static const char *const names[] = {
        "named",    "pair",       "duplex",   "multi_sender", "multi_receiver",
        "priority", "rendezvous", "pollable", "peer_closed",  "zero_copy",
        "peer_uid", "inherit",    "lossy"};
    unsigned caps = 0;
    ipc_scheme_caps(scheme, &caps);
    printf("caps:       ");
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (caps & (1u << i))
            printf(" %s", names[i]);
    printf("  (what ends of %s: may have)\n", scheme);
}

static const struct option obj_stat_opts[] = {{"json", no_argument, NULL, 'j'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};

static void obj_describe(const ipc_object *o)
{
    char owner[64];
    obj_owner(owner, sizeof owner, o->uid);
    printf("address:     %s\nkind:        %s%s%s\nstate:       %s (%s)\n"
           "owner:       %s (uid %u, gid %u)\nmode:        %04o\n",
           o->address, obj_kind(o->kind), o->type && *o->type ? " " : "",
           o->type ? o->type : "", obj_state(o->state), o->why, owner,
           (unsigned)o->uid, (unsigned)o->gid, o->mode);
    printf("size:        %lld\nmessages:    %lld\ncapacity:    %lld\n"
           "max_msg:     %lld\ncreator:     %d (%s)\nuser:        %d\n",
           o->size, o->messages, o->capacity, o->max_msg, (int)o->creator,
           obj_alive(o->creator_alive), (int)o->user);
    if (o->kind == IPC_OBJ_CHANNEL)
        obj_caps(o->scheme);
}

static int obj_stat(int argc, char **argv)
{
    bool json = false, done = false;
    int opt;
    while ((opt = ipcctl_getopt(&ipcctl_cmd_stat, argc, argv, "h",
                                obj_stat_opts, &done)) != -1) {
        if (done)
            return IPCCTL_OK;
        if (opt != 'j')
            return ipcctl_usage(&ipcctl_cmd_stat, "bad option %s",
                                argv[optind - 1]);
        json = true;
    }
    if (argc - optind != 1)
        return ipcctl_usage(&ipcctl_cmd_stat, "one ADDRESS, please");
    ipc_object o;
    ipc_err err = ipc_object_stat(argv[optind], &o);
    if (err != IPC_OK)
        return ipcctl_fail(argv[optind], err);
    if (json) {
        obj_json(&o);
        putchar('\n');
    } else {
        obj_describe(&o);
    }
    return IPCCTL_OK;
}

/* Remove one object if it is stale (or forced). */
static int obj_remove(const char *address, bool force)
{
    ipc_object o;
    ipc_err err = ipc_object_stat(address, &o);
    if (err != IPC_OK)
        return ipcctl_fail(address, err);
    if (o.state != IPC_OBJ_STALE && !force) {
        fprintf(stderr, "ipcctl: %s: %s: %s (%s); --force removes it\n",
                address, ipc_errname(IPC_EBUSY), obj_state(o.state), o.why);
        return IPCCTL_REFUSED;
    }
    /* Each kind is removed by its own module, which checks it again. */
    err = o.kind == IPC_OBJ_REGION ? ipc_region_unlink(o.address)
          : o.kind == IPC_OBJ_SYNC ? ipc_sync_unlink(o.address)
                                   : ipc_unlink(o.address);
    return err == IPC_OK ? IPCCTL_OK : ipcctl_fail(address, err);
}

static const struct option obj_rm_opts[] = {{"force", no_argument, NULL, 'f'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};

static int obj_rm(int argc, char **argv)
{
    bool force = false, done = false;
    int opt;
    while ((opt = ipcctl_getopt(&ipcctl_cmd_rm, argc, argv, "fh", obj_rm_opts,
                                &done)) != -1) {
        if (done)
            return IPCCTL_OK;
        if (opt != 'f')
            return ipcctl_usage(&ipcctl_cmd_rm, "bad option %s",
                                argv[optind - 1]);
        force = true;
    }
    if (optind == argc)
        return ipcctl_usage(&ipcctl_cmd_rm, "no ADDRESS given");
    int worst = IPCCTL_OK;
    for (int i = optind; i < argc; i++) {
        int rc = obj_remove(argv[i], force);
        if (rc > worst)
            worst = rc;
    }
    return worst;
}

/* gc's PATTERNs (from optind on): none means every object. */
static bool obj_matches(const ipc_object *o, int argc, char **argv)
{
    if (optind == argc)
        return true;
    for (int i = optind; i < argc; i++)
        if (fnmatch(argv[i], o->address, 0) == 0)
            return true;
    return false;
}

static int obj_gc(int argc, char **argv)
{
    bool dry = false, done = false;
    ipc_object *list;
    size_t n;
    int rc = obj_list(&ipcctl_cmd_gc, argc, argv, obj_gc_opts, &dry, &done,
                      &list, &n);
    if (rc != IPCCTL_OK || done)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const ipc_object *o = &list[i];
        if (o->state != IPC_OBJ_STALE || !obj_matches(o, argc, argv))
            continue;
        if (dry) {
            printf("would remove %s (%s)\n", o->address, o->why);
            continue;
        }
        /* Judged again just before: it may have come alive since. */
        int one = obj_remove(o->address, false);
        if (one == IPCCTL_OK)
            printf("removed %s (%s)\n", o->address, o->why);
        else if (one == IPCCTL_FAILED)
            rc = IPCCTL_FAILED;
    }
    ipc_objects_free(list);
    return rc;
}

const struct ipcctl_cmd ipcctl_cmd_ls = {
    "ls", "list the IPC objects on this machine",
    "usage: ipcctl ls [--json] [--dir DIR]...\n"
    "List channels: shm rings (/dev/shm), POSIX and SysV message queues,\n"
    "abstract sockets, and FIFOs and socket files in each DIR ($TMPDIR or\n"
    "/tmp when none is given); regions (shm:); sync objects (shm:, sem:,\n"
    "SysV semaphore sets). file: regions are raw files and are not listed.\n"
    "Columns: kind (channel, region, sync), state (live, stale, unknown),\n"
    "owner, mode, size\n"
    "in bytes, messages queued, capacity, max_msg, creator pid/alive, a\n"
    "process using it, address. '-' is a number the OS does not tell.\n"
    "  --json      one JSON array of objects instead of the table\n"
    "  --dir DIR   look for FIFOs and sockets in DIR (repeatable)\n"
    "Exit: 0 listed, 1 a directory could not be read, 2 bad usage.\n",
    obj_ls};

const struct ipcctl_cmd ipcctl_cmd_stat = {
    "stat", "describe one object",
    "usage: ipcctl stat [--json] ADDRESS\n"
    "Describe the object at ADDRESS (shm:/name, mq:/name, sysv:0xKEY,\n"
    "sysv:/path, fifo:/path, unix:/path, unix:@name, sem:/name): the\n"
    "fields of ls, the type of a sync object, why it is judged live or\n"
    "stale, and a channel's capabilities. At a sysv: key held by both a\n"
    "queue and a semaphore set, the queue.\n"
    "  --json      one JSON object, with the fields of ls --json\n"
    "Exit: 0 shown, 1 no such object or not of that kind, 2 bad usage.\n",
    obj_stat};

const struct ipcctl_cmd ipcctl_cmd_rm = {
    "rm", "remove objects (only stale ones unless --force)",
    "usage: ipcctl rm [--force] ADDRESS...\n"
    "Remove each object that is stale (its users provably gone). A live\n"
    "object, or one that cannot be judged (SysV queues and semaphore\n"
    "sets, regions nobody has open), is refused\n"
    "unless --force is given; ends already open keep working where the\n"
    "OS allows. Every ADDRESS is tried.\n"
    "  --force     remove live and unknown objects too\n"
    "Exit: 0 all removed, 1 an object was missing or could not be removed,\n"
    "3 an object was refused (live or unknown), 2 bad usage.\n",
    obj_rm};

const struct ipcctl_cmd ipcctl_cmd_gc = {
    "gc", "remove every stale object",
    "usage: ipcctl gc [--dry-run] [--dir DIR]... [PATTERN]...\n"
    "Remove every object that ls shows as stale: those whose creator and\n"
    "users are provably gone. Live and unknown objects are never touched.\n"
    "With PATTERNs, only objects whose address matches one (a shell glob:\n"
    "'shm:/myapp-*').\n"
    "  --dry-run   say what would be removed, remove nothing\n"
    "  --dir DIR   look for FIFOs and sockets in DIR (repeatable; default\n"
    "              $TMPDIR or /tmp)\n"
    "Exit: 0 done, 1 an object could not be removed, 2 bad usage.\n",
    obj_gc};
