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

/* POSIX shm: "/" and up to NAME_MAX (255) bytes, shown in /dev/shm. */
#define CT_SHM_NAME_MAX 256

static void ct_shm_make(char *buf, size_t size)
{
    char name[96];
    tu_unique(name, sizeof name, "ipct");
    snprintf(buf, size, "shm:/%s", name);
}

static void ct_shm_make_len(char *buf, size_t size, size_t len)
{
    char name[96];
    tu_unique(name, sizeof name, "/ipcl");
    size_t n = strlen(name);
    if (n > len)
        n = len;
    int w = snprintf(buf, size, "shm:%.*s", (int)n, name);
    for (size_t i = n; i < len && (size_t)w + 1 < size; i++)
        buf[w++] = 's';
    buf[w] = '\0';
}

static void ct_shm_fs(const char *addr, char *buf, size_t size)
{
    snprintf(buf, size, "/dev/shm%s", addr + strlen("shm:"));
}

static const struct ct_naming ct_shm_name = {
    .name = "name",
    .make = ct_shm_make,
    .make_len = ct_shm_make_len,
    .fs_path = ct_shm_fs,
    .name_max = CT_SHM_NAME_MAX,
    .stale_survives = true, /* a shm object outlives its processes */
    .live_detected = true,  /* the ring's peer table tells live from dead */
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

/* Pairs are pollable through their socketpair doorbell; named ends are
 * not (no doorbell unrelated processes share), and a named receiver never
 * hears "closed" (new senders may always come). */
static const struct ct_backend ct_shm = {
    .name = "shm",
    .scheme = "shm",
    .pair_caps = IPC_CAP_PAIR | IPC_CAP_MULTI_SENDER | IPC_CAP_MULTI_RECEIVER |
                 IPC_CAP_POLLABLE | IPC_CAP_PEER_CLOSED | IPC_CAP_ZERO_COPY,
    .pair_dir = {IPC_F_SEND, IPC_F_RECV},
    .recv_caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_MULTI_RECEIVER |
                 IPC_CAP_ZERO_COPY,
    .send_caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_MULTI_RECEIVER |
                 IPC_CAP_PEER_CLOSED | IPC_CAP_ZERO_COPY,
    .namings = {&ct_shm_name, NULL},
    .max_msg_default = 65536,
    .max_msg_max = 64u << 20,
    .takes_capacity = true,
    .takes_mode = true,
};

const struct ct_backend *const ct_backends[] = {
    &ct_pipe,
    &ct_unix,
    &ct_shm,
    NULL,
};
