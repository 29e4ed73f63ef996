/* SPDX-License-Identifier: MIT */
/* unix: rendezvous (capacity=0): a send returns once a receiver has taken
 * its message, or takes it back. */
#include "unix.h"

void (*ipc__unix_test_take_hook)(int phase);

/*
 * What needs deciding is who has a message: a sender that gives up (its
 * deadline, or its receiver gone) must take it back so that nobody gets it
 * later, and a receiver must take it so that its sender stops waiting. A
 * record in a socket cannot be taken back once sent, and an
 * acknowledgement alone cannot settle the race (the receiver may read the
 * record as the sender gives up, or die between reading and saying so).
 * So the kernel decides, with a one-byte token in a socket queue that both
 * sides can read:
 *
 *   sender    socketpair(hand); token into hand[0] (queued at hand[1]);
 *             one record: the message, and hand[1] by SCM_RIGHTS (an
 *             "offer": UNIX_OFFER_BIT); then poll hand[0] (the receiver's
 *             acknowledgement) and the connection (hang-up).
 *   receiver  recvmsg the offer; recv the token from hand[1]: got it, the
 *             message is taken, its byte goes back on hand[1] so that the
 *             sender's wait ends, and the receive returns it; no token, its
 *             sender took it back: the offer is dropped, and the receive
 *             goes on to the next record.
 *   sender    gives up (deadline, hang-up): recv the token from hand[1]
 *             itself; got it, nobody has the message nor ever will
 *             (IPC_ETIMEDOUT, IPC_EAGAIN, IPC_ECLOSED); none, it was taken
 *             first (IPC_OK).
 *
 * Taking the token is the one instant of the take: one recv of one queue,
 * which the kernel serialises. A receiver killed before it (in its wait,
 * or holding the offer) never had the message; its socket closes, the
 * sender hears the hang-up and takes the token back: IPC_ECLOSED, the
 * message with nobody. A receiver killed after it had the message: the
 * send returns IPC_OK, not a second copy. A receiving end shared by
 * forked processes hangs up only when the last one goes: a sender then
 * looks at the token every slice (1 ms doubling to 64 ms), so a taker
 * killed before its acknowledgement is seen within one.
 *
 * The plain alternative, an acknowledgement on the connection, cannot take
 * a message back after a timeout (it stays queued and is delivered later)
 * and cannot tell a taker killed before its acknowledgement from one
 * killed before its read. The price is paid by rendezvous ends only: a
 * socketpair a message, three descriptors (two here, one at the receiver)
 * and about 10 system calls (socketpair, token, sendmsg, poll, two closes
 * here; recvmsg, token, acknowledgement, close there). A plain end pays
 * one branch a send and a receive.
 *
 * A named sender must know before its first record that its receiver is a
 * rendezvous one (a plain receiver refuses offers as garbage, a rendezvous
 * one plain records): its first send waits for the receiver's hello, which
 * says so (UNIX_HELLO_RENDEZVOUS), and ends that disagree answer
 * IPC_EINVAL.
 */

#define UNIX_TOKEN_SLICE_NS     (1L * 1000000)
#define UNIX_TOKEN_SLICE_MAX_NS (64L * 1000000)

/* Take the token from hand (one byte, never waiting): true if it was
 * there, and now is ours. */
static bool unix_token_take(int hand)
{
    char byte;
    ssize_t n;
    do
        n = recv(hand, &byte, 1, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n == 1;
}

/* Is the token still offered? */
static bool unix_token_there(int hand)
{
    char byte;
    ssize_t n;
    do
        n = recv(hand, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n == 1;
}

/* A named sender: wait for the hello, which says whether the receiver is
 * a rendezvous one and its max_msg. */
static ipc_err unix_offer_hello(ipc_channel *ch, size_t len,
                                const struct ipc_deadline *dl)
{
    struct unix_end *ue = unix_priv(ch);
    for (;;) {
        ssize_t peeked;
        ipc_err err = ipc__unix_peek_hello(ch, len, &peeked);
        if (err != IPC_OK || ue->peer_max_known)
            return err;
        if (peeked == 0)
            return ipc__fail(IPC_ECLOSED, "unix: the receiver is gone");
        if (peeked > 0)
            return ipc__fail(IPC_EPROTO,
                             "unix: the receiver's first record (%zd bytes) "
                             "is not a hello",
                             peeked);
        short revents = 0;
        if ((err = ipc__wait_fd(ue->fd, POLLIN, dl, &revents)) != IPC_OK)
            return err;
        if ((revents & (POLLHUP | POLLERR)) && !(revents & POLLIN))
            return ipc__fail(IPC_ECLOSED, "unix: the receiver is gone");
    }
}

/* One record: the message, flagged as an offer, and the token's socket. */
static ipc_err unix_offer_send(const struct unix_end *ue, int give,
                               const void *buf, size_t len, unsigned prio,
                               const struct ipc_deadline *dl)
{
    unsigned char hdr[IPC_FRAME_HDR];
    ipc__frame_encode(hdr, len, prio);
    hdr[UNIX_OFFER_BYTE] |= UNIX_OFFER_BIT;
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)buf, len}};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {.msg_iov = iov,
                         .msg_iovlen = 2,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &give, sizeof give);
    return ipc__unix_sendmsg(ue->fd, &msg, dl);
}

/* The next slice of a wait: the deadline, or sooner. */
static void unix_slice(const struct ipc_deadline *dl, long *slice_ns,
                       struct ipc_deadline *slice)
{
    *slice = *dl;
    if (dl->nonblock)
        return;
    int64_t at = ipc__now_ns() + *slice_ns;
    if (at < dl->at_ns)
        slice->at_ns = at;
    *slice_ns = *slice_ns >= UNIX_TOKEN_SLICE_MAX_NS / 2
                    ? UNIX_TOKEN_SLICE_MAX_NS
                    : *slice_ns * 2;
}

/* Wait until the offer is taken, or take it back (see the top). */
static ipc_err unix_offer_wait(const struct unix_end *ue, const int hand[2],
                               const struct ipc_deadline *dl)
{
    long slice_ns = UNIX_TOKEN_SLICE_NS;
    for (;;) {
        /* events 0 on the connection: only its hang-up (a duplex pair's
         * own messages must not wake us). */
        struct pollfd pfd[2] = {{.fd = hand[0], .events = POLLIN},
                                {.fd = ue->fd, .events = 0}};
        struct ipc_deadline slice;
        unix_slice(dl, &slice_ns, &slice);
        ipc_err err = ipc__wait_fds(pfd, 2, &slice);
        if (err != IPC_OK && err != IPC_ETIMEDOUT && err != IPC_EAGAIN)
            return err;
        if (err == IPC_OK && (pfd[0].revents & POLLIN))
            return IPC_OK; /* acknowledged */
        bool gone = err == IPC_OK && (pfd[1].revents & (POLLHUP | POLLERR));
        if (!gone && !ipc__deadline_expired(dl)) {
            if (unix_token_there(hand[1]))
                continue;
            return IPC_OK; /* taken, not yet (or never) acknowledged */
        }
        if (!unix_token_take(hand[1]))
            return IPC_OK; /* taken just before */
        if (gone)
            return ipc__fail(IPC_ECLOSED, "unix: the receiver is gone; the "
                                          "message was not taken");
        return ipc__deadline_err(dl);
    }
}

ipc_err ipc__unix_offer(ipc_channel *ch, const void *buf, size_t len,
                        unsigned prio, const struct ipc_deadline *dl)
{
    struct unix_end *ue = unix_priv(ch);
    ipc_err err = IPC_OK;
    if (!ue->peer_max_known && (err = unix_offer_hello(ch, len, dl)) != IPC_OK)
        return err;
    /* hand[0] stays here (acknowledgements come to it); hand[1] goes with
     * the message, and the token waits in its queue. */
    int hand[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, hand) < 0)
        return ipc__errno(errno, "unix: socketpair for a rendezvous token");
    ssize_t n;
    do
        n = send(hand[0], "t", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        err = ipc__errno(errno, "unix: send a rendezvous token");
    if (err == IPC_OK)
        err = unix_offer_send(ue, hand[1], buf, len, prio, dl);
    if (err == IPC_OK)
        err = unix_offer_wait(ue, hand, dl);
    close(hand[0]);
    close(hand[1]);
    return err;
}

ipc_err ipc__unix_take_offer(int fd, size_t max_msg, void *buf, size_t cap,
                             size_t *len, unsigned *prio, enum unix_wait wait)
{
    for (;;) {
        int token;
        ipc_err err = ipc__unix_take_token(fd, max_msg, buf, cap, len, prio,
                                           wait, &token);
        if (err != IPC_OK)
            return err;
        if (ipc__unix_test_take_hook)
            ipc__unix_test_take_hook(0);
        bool taken = unix_token_take(token);
        if (taken) {
            if (ipc__unix_test_take_hook)
                ipc__unix_test_take_hook(1);
            /* Its sender's wait ends; a sender already gone: EPIPE. */
            while (send(token, "a", 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
                   errno == EINTR)
                ;
        }
        close(token);
        if (taken)
            return IPC_OK;
        /* Taken back by its sender (a timeout): nobody gets it; the next
         * record, if any. */
    }
}
