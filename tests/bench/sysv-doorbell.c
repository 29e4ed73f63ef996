/* SPDX-License-Identifier: MIT */
/* sysv-doorbell: what a pollable sysv: end would cost. A SysV queue has no
 * descriptor, so a level-triggered one needs every sender to ring a
 * doorbell the receiver polls (an eventfd reaches only a process's own
 * children; unrelated processes need a FIFO beside the queue). Measures the
 * CPU per 64-byte message of msgsnd + msgrcv alone, and with each doorbell
 * (a write after the send, a read after the receive), in one process, no
 * waits. Usage: sysv-doorbell [messages] (default 200000), 5 repetitions.
 * Linux (eventfd). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct db_msg {
    long type;
    char data[64];
};

static double db_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per message: msgsnd, ring (fd_w >= 0), msgrcv, answer (fd_r). */
static double db_run(int q, int fd_w, int fd_r, long n)
{
    struct db_msg m = {1, {0}};
    uint64_t one = 1;
    double t0 = db_now();
    for (long i = 0; i < n; i++) {
        if (msgsnd(q, &m, sizeof m.data, IPC_NOWAIT) < 0)
            return -1;
        if (fd_w >= 0 && write(fd_w, &one, sizeof one) < 0)
            return -1;
        if (msgrcv(q, &m, sizeof m.data, 0, IPC_NOWAIT) < 0)
            return -1;
        if (fd_r >= 0 && read(fd_r, &one, sizeof one) < 0)
            return -1;
    }
    return (db_now() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    char fifo[64];
    snprintf(fifo, sizeof fifo, "/tmp/sysv-doorbell-%ld", (long)getpid());
    int q = msgget(IPC_PRIVATE, 0600);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n < 1 || q < 0 || efd < 0 || mkfifo(fifo, 0600) < 0) {
        fprintf(stderr, "sysv-doorbell: setup: %d\n", errno);
        return 1;
    }
    int fr = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int fw = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    unlink(fifo);
    int rc = fr < 0 || fw < 0;
    printf("ns per 64-byte message: msgsnd+msgrcv | + eventfd | + FIFO\n");
    for (int rep = 0; !rc && rep < 5; rep++) {
        double plain = db_run(q, -1, -1, n);
        double ev = db_run(q, efd, efd, n);
        /* The FIFO's byte: 8 bytes written, 8 read, like the eventfd. */
        double ff = db_run(q, fw, fr, n);
        rc = plain < 0 || ev < 0 || ff < 0;
        printf("%8.0f | %8.0f (%.2fx) | %8.0f (%.2fx)\n", plain, ev, ev / plain,
               ff, ff / plain);
    }
    msgctl(q, IPC_RMID, NULL);
    return rc;
}
