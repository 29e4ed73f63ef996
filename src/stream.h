/* SPDX-License-Identifier: MIT */
/* Framed messages over a pipe-like byte stream (pipe, FIFO). */
#ifndef IPC_STREAM_H
#define IPC_STREAM_H

#include "frame.h"

/*
 * One end of a byte stream carrying frames. The descriptor is non-blocking;
 * all waits go through the call's deadline.
 *
 * Receiving keeps the state of a frame in progress, so that a receive that
 * times out half-way, or whose buffer is too small, loses nothing: the header
 * stays decoded, and payload bytes already read are kept in a buffer owned by
 * the stream (sized by the frame, which was checked against max_msg).
 */
struct ipc_stream {
    int fd;
    size_t max_msg;
    size_t pipe_size;   /* kernel buffer; a frame that fits is written whole */
    ipc_err broken;     /* IPC_OK, or what every later call answers */
    bool sigpipe_guard; /* SIGPIPE was SIG_DFL at init: mask it in sends */
    /* A connected stream socket (tcp:): sends use MSG_NOSIGNAL, and a
     * frame begun is finished by later sends (stream.c). Set by
     * ipc__stream_init_socket. */
    bool sock;
    /* The descriptor is blocking and non-blocking attempts pass RWF_NOWAIT
     * per call (ipc__stream_nowait), so a receive that may wait forever
     * sleeps inside read(). False: the descriptor is O_NONBLOCK and every
     * wait is a poll(). */
    bool nowait_io;
    /* A socket's frame begun by a send that could not finish it without
     * waiting past its deadline: the rest, sent before anything else. */
    unsigned char *tail;
    size_t tail_len, tail_off;
    size_t room_est; /* send buffer room known free (stream_sock_fits) */
    /* Frames larger than PIPE_BUF go in one write(), waiting until the
     * pipe surely has the slots for all of it, never in pieces (FIFO: a
     * later writer must never continue a frame that a killed or timed-out
     * one left half-written). Needs pipe_size >= max_msg + IPC_FRAME_HDR;
     * the caller checks that. */
    bool whole_frames;
    size_t page_size; /* the kernel's pipe slot */
    /* A well-formed frame longer than max_msg but no longer than skip_max
     * (a sender opened with a larger max_msg) is skipped, reported once as
     * IPC_EPROTO, and the stream stays in sync; 0: such a frame breaks the
     * stream like garbage. skip_left: its bytes still to discard. */
    size_t skip_max;
    size_t skip_left;
    bool got_data;            /* some byte was ever read: a writer existed */
    struct ipc_waitspin spin; /* a receive's waits (ipc_int.h) */
    /* A socket's read-ahead (ipc__stream_read_ahead; NULL: none): each
     * read also takes what follows the bytes asked for, up to ahead_cap,
     * and later reads are served from here first. ahead_dry: the last
     * read came back short, so the socket was empty then and the next
     * attempt goes straight to the wait (no read that fails with
     * EAGAIN first). */
    unsigned char *ahead;
    size_t ahead_cap, ahead_off, ahead_len;
    bool ahead_dry;
    /* receive side: a frame in progress */
    unsigned char hdr[IPC_FRAME_HDR];
    size_t hdr_have;
    bool have_frame;
    struct ipc_frame cur;
    unsigned char *stage; /* payload read before a timeout cut it short */
    size_t stage_have;
    /* park: the owner (tcp:) retries a receive that answered IPC_EAGAIN
     * with the same buffer while it waits within one call, so payload
     * read so far stays in that buffer (parked bytes) instead of going to
     * the stage, until ipc__stream_unpark. */
    bool park;
    size_t parked;
};

void ipc__stream_init(struct ipc_stream *s, int fd, size_t max_msg);
/* The same for a connected stream socket; sndbuf: its send buffer
 * (recorded as pipe_size, for the caller's reports). */
void ipc__stream_init_socket(struct ipc_stream *s, int fd, size_t max_msg,
                             size_t sndbuf);
/* Give a socket's receiving stream a read-ahead buffer of cap bytes,
 * owned by the caller and kept until ipc__stream_close: a small frame,
 * and the headers of the next ones, then come in one read with the
 * frame before them. */
void ipc__stream_read_ahead(struct ipc_stream *s, unsigned char *buf,
                            size_t cap);
/* Grow the kernel buffer to hold a whole frame of max_msg where allowed,
 * and record its size. Failing to grow is not an error: frames larger than
 * the buffer are then written in pieces. */
void ipc__stream_size_pipe(struct ipc_stream *s);
/* A pipe or FIFO end: make its descriptor blocking and take non-blocking
 * attempts per call, where the build and the kernel allow it (else make
 * it O_NONBLOCK). The open file description is shared by every copy of
 * the end (fork, exec); this library is correct with either flag, since no
 * wait of its own depends on it. adopted: a descriptor handed over by
 * another process (pipe:?fd=N), whose flags are left as found. */
ipc_err ipc__stream_nowait(struct ipc_stream *s, bool adopted);
ipc_err ipc__stream_send(struct ipc_stream *s, const void *buf, size_t len,
                         unsigned prio, const struct ipc_deadline *dl);
ipc_err ipc__stream_recv(struct ipc_stream *s, void *buf, size_t cap,
                         size_t *len, unsigned *prio,
                         const struct ipc_deadline *dl);
/* The caller is about to return, or to give the buffer of the receive
 * that parked bytes to another stream: stage them (see park). IPC_ENOMEM
 * breaks the stream. */
ipc_err ipc__stream_unpark(struct ipc_stream *s, const void *buf);
/* Close the descriptor (if any) and free the receive state. */
void ipc__stream_close(struct ipc_stream *s);

#endif /* IPC_STREAM_H */
