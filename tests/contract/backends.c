/* SPDX-License-Identifier: MIT */
/* The table of backends under contract: scheme, naming, expected caps. */
#include "contract.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* sysv: a key from ftok() of a file this naming makes (and drops), or an
 * explicit random key. */

/* PATH_MAX with its NUL: the longest path ftok() can stat. */
#define CT_SYSV_PATH_MAX  4095
#define CT_SYSV_KEY_MAX   10 /* "0x" and 8 hex digits */
#define CT_NAME_COMPONENT 255

static void ct_sysv_touch(const char *path)
{
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_msg("create the key file %s: %s", path, strerror(errno));
    close(fd);
}

static void ct_sysv_ftok_make(char *buf, size_t size)
{
    char name[96];
    tu_unique(name, sizeof name, "ipct");
    snprintf(buf, size, "sysv:%s/%s", tu_tmpdir(), name);
    ct_sysv_touch(buf + strlen("sysv:"));
}

/* A path of exactly len bytes that exists: a fresh directory, nested
 * directories of 255-byte names, then the file. Longer than the OS allows:
 * only the string. */
static void ct_sysv_ftok_make_len(char *buf, size_t size, size_t len)
{
    char name[96];
    tu_unique(name, sizeof name, "ipcl");
    int w = snprintf(buf, size, "sysv:%s/%s", tu_tmpdir(), name);
    char *path = buf + strlen("sysv:");
    size_t have = strlen(path);
    bool make = len <= CT_SYSV_PATH_MAX;
    assert_true(len >= have + 2 && strlen("sysv:") + len < size);
    if (make && mkdir(path, 0700) != 0)
        fail_msg("mkdir %s: %s", path, strerror(errno));
    while (len - have > CT_NAME_COMPONENT + 1) {
        size_t comp = len - have - 3; /* leave room for "/f" */
        if (comp > CT_NAME_COMPONENT)
            comp = CT_NAME_COMPONENT;
        buf[w++] = '/';
        memset(buf + w, 'd', comp);
        w += (int)comp;
        buf[w] = '\0';
        have += comp + 1;
        if (make && mkdir(path, 0700) != 0)
            fail_msg("mkdir (%zu bytes): %s", have, strerror(errno));
    }
    buf[w++] = '/';
    memset(buf + w, 'f', len - have - 1);
    w += (int)(len - have - 1);
    buf[w] = '\0';
    if (make)
        ct_sysv_touch(path);
}

/* Remove the key file and the directories make_len() made for it. */
static void ct_sysv_ftok_drop(const char *addr)
{
    static char path[CT_ADDR_MAX];
    size_t root = strlen(tu_tmpdir());
    snprintf(path, sizeof path, "%s", addr + strlen("sysv:"));
    unlink(path);
    for (char *slash = strrchr(path, '/');
         slash && (size_t)(slash - path) > root; slash = strrchr(path, '/')) {
        *slash = '\0';
        rmdir(path);
    }
}

static uint32_t ct_sysv_random_key(void)
{
    uint32_t key = (uint32_t)tu_rand();
    /* Not 0 (IPC_PRIVATE), and clear of the keys ftok makes here. */
    if (key == 0 || key >> 24 == 'I')
        key ^= 0x80000001u;
    return key;
}

static void ct_sysv_key_make(char *buf, size_t size)
{
    snprintf(buf, size, "sysv:0x%08x", (unsigned)ct_sysv_random_key());
}

/* "0x" and len - 2 hex digits (more than 8 is refused by the backend). */
static void ct_sysv_key_make_len(char *buf, size_t size, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int w = snprintf(buf, size, "sysv:0x");
    for (size_t i = 2; i < len && (size_t)w + 1 < size; i++) {
        unsigned d = (unsigned)(i == 2 ? 1 + tu_rand() % 15 : tu_rand() % 16);
        buf[w++] = hex[d];
    }
    buf[w] = '\0';
}

static const struct ct_naming ct_sysv_ftok = {
    .name = "ftok",
    .make = ct_sysv_ftok_make,
    .make_len = ct_sysv_ftok_make_len,
    .fs_path = NULL, /* the queue is not in the file system, only its key */
    .drop = ct_sysv_ftok_drop,
    .name_max = CT_SYSV_PATH_MAX,
    .stale_survives = true, /* a queue lives until removed */
    .live_detected = false, /* no open count: REPLACE cannot tell */
    .unlink_missing = IPC_ENOENT,
};

static const struct ct_naming ct_sysv_key = {
    .name = "key",
    .make = ct_sysv_key_make,
    .make_len = ct_sysv_key_make_len,
    .fs_path = NULL,
    .name_max = CT_SYSV_KEY_MAX,
    .stale_survives = true,
    .live_detected = false,
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

static const struct ct_backend ct_sysv = {
    .name = "sysv",
    .scheme = "sysv",
    /* A pair end can be shared by forked children (the queue is one
     * kernel object), but does not learn that the other process let go. */
    .pair_caps = IPC_CAP_PAIR | IPC_CAP_MULTI_SENDER | IPC_CAP_MULTI_RECEIVER |
                 IPC_CAP_PRIORITY,
    .pair_dir = {IPC_F_SEND, IPC_F_RECV},
    /* The receiver creates the queue and its close removes it: senders
     * then get IPC_ECLOSED; the receiver never hears of senders. */
    .recv_caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_MULTI_RECEIVER |
                 IPC_CAP_PRIORITY,
    .send_caps = IPC_CAP_NAMED | IPC_CAP_MULTI_SENDER | IPC_CAP_MULTI_RECEIVER |
                 IPC_CAP_PRIORITY | IPC_CAP_PEER_CLOSED,
    .namings = {&ct_sysv_ftok, &ct_sysv_key, NULL},
    .max_msg_default = 8192, /* kernel.msgmax here */
    .max_msg_max = 64u << 20,
    .takes_mode = true,
    .no_fds = true,
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
    &ct_fifo,
    &ct_mq,
    &ct_sysv,
    &ct_shm,
    NULL,
};
