/* SPDX-License-Identifier: MIT */
/* ipc-bench internals: one transport interface over libipc and raw calls. */
#ifndef IPC_BENCH_H
#define IPC_BENCH_H

#include <ipc/ipc.h>

#include <mqueue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What an operation or a whole measurement came to. */
enum bx_status {
    BX_OK = 0,
    BX_NOTBUILT, /* the library answers "built without" / "unknown scheme" */
    BX_SKIP,     /* this size cannot be carried (a limit), with the reason */
    BX_ERROR     /* a failure or a corrupted message: the run is worthless */
};

/* Two directions per measurement: A carries the initiator's messages to the
 * responder, B carries the acks and echoes back. */
enum { BX_DIR_A = 0, BX_DIR_B = 1 };
/* Roles: the initiator sends on A and times; the responder echoes on B. */
enum { BX_INITIATOR = 0, BX_RESPONDER = 1 };

struct bench_ring; /* bench-ring.c */

/* One transport for one measurement, made by the orchestrator before fork
 * and inherited by both children (each uses its half). */
struct bx {
    const struct bx_ops *ops;
    const struct bench_backend *be;
    size_t size;       /* every message has exactly this many bytes */
    size_t capacity;   /* slots (mq, shm ring); 0 where bounded in bytes */
    int timeout_ms;    /* what libipc calls get: -1 unless --timeout */
    char name[2][160]; /* per direction: libipc address or OS name/path */
    char detail[256];  /* why the last op failed */

    /* libipc: [dir][0] sends, [dir][1] receives */
    ipc_channel *ch[2][2];
    /* raw pipe, fifo, unix, tcp, udp: [dir][0] write end (socket), [dir][1]
     * read end */
    int fd[2][2];
    int lfd[2];             /* raw tcp: the listener of each direction */
    unsigned short port[2]; /* raw tcp, udp: each direction's receiver
                               port on 127.0.0.1 */
    mqd_t mq[2];
    int qid[2];
    struct bench_ring *ring[2];
    size_t ring_bytes;
    uint64_t ring_pos[2]; /* this process's position in each ring */
    bool sigpipe_mask;    /* raw pipe/fifo: block SIGPIPE around writes */
    uint32_t nng[2][2];   /* raw nng: socket ids, [dir][0] push, [1] pull */
    void *zctx;           /* raw ZeroMQ: the context, and the sockets */
    void *zsock[2][2];    /* [dir][0] push, [1] pull */
};

/* Every op returns enum bx_status and sets x->detail when it is not BX_OK. */
struct bx_ops {
    /* Orchestrator, before fork: what both children inherit (pairs, raw
     * queues, rings). NULL: nothing. */
    int (*prepare)(struct bx *x);
    /* Orchestrator, after fork: drop its own copies. */
    void (*parent_close)(struct bx *x);
    /* Child, step 1: make (or keep) the direction this role receives on,
     * and drop what it does not use. */
    int (*create)(struct bx *x, int role);
    /* Child, step 2, after both created: open the direction it sends on. */
    int (*connect)(struct bx *x, int role);
    int (*send)(struct bx *x, int dir, const void *buf, size_t len);
    int (*recv)(struct bx *x, int dir, void *buf, size_t cap, size_t *len);
    /* Child: the socket direction dir sends on, for its TCP counters
     * (tcp_data_segs); -1 where none. NULL: none. */
    int (*send_fd)(struct bx *x, int dir);
    /* Child, at the end. */
    void (*close)(struct bx *x, int role);
    /* Orchestrator, after both children are gone: remove names left. */
    void (*cleanup)(struct bx *x);
};

/* A backend row: the libipc side and its raw baseline. */
struct bench_backend {
    const char *name;     /* as given to --backends */
    const char *scheme;   /* libipc scheme, NULL for memcpy */
    const char *raw_what; /* the raw loop in a few words */
    const struct bx_ops *lib;
    const struct bx_ops *raw;
    bool pair;        /* libipc side made with ipc_pair, else by name */
    bool sigpipe_dfl; /* children keep SIGPIPE at SIG_DFL (else ignore) */
    /* Nothing pushes back on a sender (udp): one-way bursts wait for an
     * echo every lossy_window() messages, on both sides, so that the
     * receiver's socket buffer is never overrun (a loss fails the run). */
    bool lossy;
    bool in_default;
    bool nagle;    /* TCP with Nagle's algorithm on (no TCP_NODELAY) */
    int ring_kind; /* bx_raw_ring: enum bench_ring_kind */
    /* Largest size the OS lets the raw loop carry; 0 if none. Sets why. */
    size_t (*limit)(size_t size, char *why, size_t whylen);
};

/* Data segments the TCP socket fd has sent so far (Linux TCP_INFO
 * tcpi_data_segs_out); NAN where fd is not a TCP socket or not Linux.
 * bench-tcpinfo.c: its own file, as <linux/tcp.h> and <netinet/tcp.h>
 * cannot meet. */
double tcp_data_segs(int fd);

/* Transports (bench-lib.c, bench-raw.c). */
extern const struct bx_ops bx_lib_pair, bx_lib_named;
extern const struct bx_ops bx_raw_pipe, bx_raw_fifo, bx_raw_unix, bx_raw_mq,
    bx_raw_sysv, bx_raw_ring, bx_raw_mq_prio, bx_raw_sysv_prio,
    bx_raw_pipe_plain, bx_raw_unix_plain, bx_raw_tcp, bx_raw_udp;
#if IPC_BENCH_NNG
extern const struct bx_ops bx_raw_nng; /* bench-nng.c */
#endif
#if IPC_BENCH_ZMQ
extern const struct bx_ops bx_raw_zmq; /* bench-zmq.c */
#endif

/* Helpers shared by the transports. */
int bx_fail(struct bx *x, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int bx_errno(struct bx *x, const char *what);
/* The pipe sizing rule of src/stream.c (room for two frames, else one), so
 * that the raw pipe has the same kernel buffer as the library's. */
void bx_size_pipe(int fd, size_t frame);
/* The socket buffer rule of src/backend/unix/. */
int bx_size_sndbuf(struct bx *x, int fd);
/* An integer from a /proc file, or -1. */
long bx_proc_long(const char *path);

/* Buffers: 64-byte aligned payload with 64 bytes of headroom before it (the
 * raw SysV loop builds its message in place there). */
#define BX_HEADROOM 64
unsigned char *bx_buf_alloc(size_t size);
void bx_buf_free(unsigned char *buf);

/* The shared-memory ring (bench-ring.c): single producer, single consumer,
 * a per-slot sequence word next to the payload, a bounded spin, then a
 * futex. */
enum bench_ring_kind {
    BENCH_RING_SEQ,    /* SPSC, per-slot sequence words, no shared index */
    BENCH_RING_VYUKOV, /* Vyukov's bounded MPMC queue (CAS-claimed indices) */
    BENCH_RING_SPSC    /* SPSC head/tail indices with cached peer copies */
};
size_t bench_ring_bytes(size_t slots, size_t max_msg);
void bench_ring_init(struct bench_ring *r, enum bench_ring_kind kind,
                     size_t slots, size_t max_msg);
int bench_ring_send(struct bench_ring *r, uint64_t *pos, const void *buf,
                    size_t len);
/* -1 when the message is larger than cap (it is not consumed). */
int bench_ring_recv(struct bench_ring *r, uint64_t *pos, void *buf, size_t cap,
                    size_t *len);

#endif /* IPC_BENCH_H */
