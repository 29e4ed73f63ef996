/* SPDX-License-Identifier: MIT */
/* named: a receiver creates a named channel, other processes send to it by
 * its address (shown in README.md). */
/* README:begin */
#define _POSIX_C_SOURCE 200809L /* fork(), wait() */
#include <ipc/ipc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Sender: any process that knows the address (several may send at once). */
static ipc_err send_job(const char *address, const char *job)
{
    ipc_channel *tx = NULL;
    ipc_err err = ipc_open(address, IPC_F_SEND, 1000, &tx);
    if (err == IPC_OK)
        err = ipc_send(tx, job, strlen(job), 0, 1000);
    if (err != IPC_OK)
        fprintf(stderr, "%s: %s\n", ipc_errname(err), ipc_last_detail());
    ipc_close(tx);
    return err;
}

int main(void)
{
    /* A name nobody else uses: unix:$TMPDIR/jobs-<pid>.sock */
    const char *dir = getenv("TMPDIR");
    if (!dir)
        dir = "/tmp";
    char address[256];
    snprintf(address, sizeof address, "unix:%s/jobs-%ld.sock", dir,
             (long)getpid());

    /* Receiver: exclusive create, so a name someone else made is never used. */
    ipc_channel *rx = NULL;
    ipc_err err =
        ipc_open(address, IPC_F_CREATE | IPC_F_EXCL | IPC_F_RECV, 0, &rx);
    if (err != IPC_OK) {
        fprintf(stderr, "%s: %s\n", ipc_errname(err), ipc_last_detail());
        return 1;
    }

    /* Two senders. Forked here, but any process may open the address once
     * it exists (before that, ipc_open() answers IPC_ENOENT). */
    const char *jobs[] = {"build the docs", "run the tests"};
    for (int i = 0; i < 2; i++)
        if (fork() == 0)
            _exit(send_job(address, jobs[i]) == IPC_OK ? 0 : 1);

    char buf[4096];
    size_t len;
    int received = 0;
    while ((err = ipc_recv(rx, buf, sizeof buf, &len, NULL, 2000)) == IPC_OK) {
        printf("job: %.*s\n", (int)len, buf);
        received++;
    }
    /* IPC_ETIMEDOUT after 2 s of quiet. IPC_EMSGSIZE would mean buf is too
     * small: len is then the size needed, and the message stays queued. */
    printf("end: %s\n", ipc_errname(err));
    ipc_close(rx); /* removes the socket file */

    int status, senders_ok = 0;
    while (wait(&status) > 0)
        senders_ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return err == IPC_ETIMEDOUT && received == 2 && senders_ok == 2 ? 0 : 1;
}
/* README:end */
