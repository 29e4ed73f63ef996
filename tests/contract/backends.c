/* SPDX-License-Identifier: MIT */
/* The table of backends under contract: scheme, naming, expected caps. */
#include "contract.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- namings */

/* sun_path holds 108 bytes with the NUL: 107 for a path. */
#define CT_UNIX_NAME_MAX 107

static void ct_unix_path_make(char *buf, size_t size)
{
    char name[96];
    tu_unique(name, sizeof name, "ipct");
    snprintf(buf, size, "unix:%s/%s", tu_tmpdir(), name);
}

/* "unix:" + "/tmp/ipct-...-xxxx" padded with 'p' to len bytes. */
static void ct_unix_path_make_len(char *buf, size_t size, size_t len)
{
    char name[96];
    tu_unique(name, sizeof name, "/tmp/ipcl");
    size_t n = strlen(name);
    if (n > len)
        n = len;
    int w = snprintf(buf, size, "unix:%.*s", (int)n, name);
    for (size_t i = n; i < len && (size_t)w + 1 < size; i++)
        buf[w++] = 'p';
    buf[w] = '\0';
}

static void ct_unix_path_fs(const char *addr, char *buf, size_t size)
{
    snprintf(buf, size, "%s", addr + strlen("unix:"));
}

static void ct_unix_abstract_make(char *buf, size_t size)
{
    char name[96];
    tu_unique(name, sizeof name, "ipct");
    snprintf(buf, size, "unix:@%s", name);
}

static void ct_unix_abstract_make_len(char *buf, size_t size, size_t len)
{
    char name[96];
    tu_unique(name, sizeof name, "@ipcl");
    size_t n = strlen(name);
    if (n > len)
        n = len;
    int w = snprintf(buf, size, "unix:%.*s", (int)n, name);
    for (size_t i = n; i < len && (size_t)w + 1 < size; i++)
        buf[w++] = 'a';
    buf[w] = '\0';
}

static const struct ct_naming ct_unix_path = {
    .name = "path",
    .make = ct_unix_path_make,
    .make_len = ct_unix_path_make_len,
    .fs_path = ct_unix_path_fs,
    .name_max = CT_UNIX_NAME_MAX,
    .stale_survives = true, /* the socket file outlives its process */
    .live_detected = true,  /* a connect() tells live from stale */
    .unlink_missing = IPC_ENOENT,
};

static const struct ct_naming ct_unix_abstract = {
    .name = "abstract",
    .make = ct_unix_abstract_make,
    .make_len = ct_unix_abstract_make_len,
    .fs_path = NULL,
    /* '@' stands for the leading NUL; the name fills the rest. */
    .name_max = CT_UNIX_NAME_MAX,
    .stale_survives = false, /* the kernel drops it with the last fd */
    .live_detected = true,
    /* ipc.h: "IPC_ENOENT if missing, IPC_ENOTSUP for unnamed schemes". */
    .unlink_missing = IPC_ENOENT,
};

/* A path is at most PATH_MAX - 1 bytes (the kernel counts the NUL). */
#define CT_FIFO_NAME_MAX 4095

static void ct_fifo_make(char *buf, size_t size)
{
    char name[96];
    tu_unique(name, sizeof name, "ipct");
    snprintf(buf, size, "fifo:%s/%s", tu_tmpdir(), name);
}

/* "fifo:" + "/tmp/" + "./" repeated + a unique file name, len bytes after
 * "fifo:": a long path that can be created without deep directories. */
static void ct_fifo_make_len(char *buf, size_t size, size_t len)
{
    char name[96];
    tu_unique(name, sizeof name, "ipcl");
    int w = snprintf(buf, size, "fifo:%s/", tu_tmpdir());
    size_t used = (size_t)w - strlen("fifo:");
    size_t name_len = strlen(name);
    /* The file name takes the odd byte, so the rest is whole "./". */
    if ((len - used - name_len) % 2)
        name[name_len++] = 'f';
    name[name_len] = '\0';
    while (used + name_len < len && (size_t)w + 3 < size) {
        buf[w++] = '.';
        buf[w++] = '/';
        used += 2;
    }
    snprintf(buf + w, size - (size_t)w, "%s", name);
}

static void ct_fifo_fs(const char *addr, char *buf, size_t size)
{
    snprintf(buf, size, "%s", addr + strlen("fifo:"));
}

static const struct ct_naming ct_fifo_path = {
    .name = "path",
    .make = ct_fifo_make,
    .make_len = ct_fifo_make_len,
    .fs_path = ct_fifo_fs,
    .name_max = CT_FIFO_NAME_MAX,
    .stale_survives = true, /* the FIFO outlives its process */
    .live_detected = true,  /* the receiver holds a lock on it */
    .unlink_missing = IPC_ENOENT,
};

/* "/" and NAME_MAX (255) bytes. */
#define CT_MQ_NAME_MAX 256

static void ct_mq_make(char *buf, size_t size)
{
    char name[96];
    tu_unique(name, sizeof name, "ipct");
    snprintf(buf, size, "mq:/%s", name);
}

static void ct_mq_make_len(char *buf, size_t size, size_t len)
{
    char name[96];
    tu_unique(name, sizeof name, "/ipcl");
    size_t n = strlen(name);
    if (n > len)
        n = len;
    int w = snprintf(buf, size, "mq:%.*s", (int)n, name);
    for (size_t i = n; i < len && (size_t)w + 1 < size; i++)
        buf[w++] = 'm';
    buf[w] = '\0';
}

static const struct ct_naming ct_mq_name = {
    .name = "name",
    .make = ct_mq_make,
    .make_len = ct_mq_make_len,
    .fs_path = NULL, /* /dev/mqueue need not be mounted */
    .name_max = CT_MQ_NAME_MAX,
    .stale_survives = true,  /* a queue lives until unlinked */
    .live_detected = false,  /* nothing tells a used queue from a stale one */
    .unlink_missing = IPC_ENOENT,
};

/* ---------------------------------------------------------------- backends */

static const struct ct_backend ct_pipe = {
    .name = "pipe",
    .scheme = "pipe",
    .pair_caps =
        IPC_CAP_PAIR | IPC_CAP_POLLABLE | IPC_CAP_PEER_CLOSED | IPC_CAP_INHERIT,
    .pair_dir = {IPC_F_SEND, IPC_F_RECV},
    .recv_caps = 0,
    .send_caps = 0,
    .namings = {NULL},
    .max_msg_default = 65536,
    .max_msg_max = 64u << 20,
    .framed = true,
};

static const struct ct_backend ct_unix = {
    .name = "unix",
    .scheme = "unix",
    .pair_caps = IPC_CAP_PAIR | IPC_CAP_DUPLEX | IPC_CAP_POLLABLE |
                 IPC_CAP_PEER_CLOSED | IPC_CAP_PEER_UID,
    .pair_dir = {IPC_F_SEND | IPC_F_RECV, IPC_F_SEND | IPC_F_RECV},
    /* New senders can always come: the receiver never hears "closed". */
    .recv_caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_POLLABLE |
                 IPC_CAP_PEER_UID,
    .send_caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_POLLABLE |
                 IPC_CAP_PEER_CLOSED | IPC_CAP_PEER_UID,
    .namings = {&ct_unix_path, &ct_unix_abstract, NULL},
    .max_msg_default = 65536,
    .max_msg_max = 64u << 20,
    .takes_mode = true,
    .takes_peer_uid = true,
    .framed = true, /* SOCK_SEQPACKET records with a frame header */
};

static const struct ct_backend ct_fifo = {
    .name = "fifo",
    .scheme = "fifo",
    .pair_caps = 0,
    /* MULTI_SENDER at the default max_msg (4080: frames fit PIPE_BUF). */
    .recv_caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_POLLABLE |
                 IPC_CAP_PEER_CLOSED,
    .send_caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_POLLABLE |
                 IPC_CAP_PEER_CLOSED,
    .namings = {&ct_fifo_path, NULL},
    .max_msg_default = 4080,
    .max_msg_max = 64u << 20,
    .takes_mode = true,
    .framed = true,
};

static const struct ct_backend ct_mq = {
    .name = "mq",
    .scheme = "mq",
    .pair_caps = IPC_CAP_PAIR | IPC_CAP_MULTI_SENDER | IPC_CAP_MULTI_RECEIVER |
                 IPC_CAP_PRIORITY | IPC_CAP_POLLABLE,
    .pair_dir = {IPC_F_SEND, IPC_F_RECV},
    .recv_caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER |
                 IPC_CAP_MULTI_RECEIVER | IPC_CAP_PRIORITY | IPC_CAP_POLLABLE,
    .send_caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER |
                 IPC_CAP_MULTI_RECEIVER | IPC_CAP_PRIORITY | IPC_CAP_POLLABLE,
    .namings = {&ct_mq_name, NULL},
    .max_msg_default = 8192,
    .max_msg_max = 16u << 20,
    .takes_capacity = true,
    .takes_mode = true,
    .framed = false,
};

const struct ct_backend *const ct_backends[] = {
    &ct_pipe,
    &ct_unix,
    &ct_fifo,
    &ct_mq,
    NULL,
};
