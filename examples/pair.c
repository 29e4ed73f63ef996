/* SPDX-License-Identifier: MIT */
/* pair: a private channel between a parent and its child (in README.md). */
/* README:begin */
#define _POSIX_C_SOURCE 200809L /* fork(), waitpid() */
#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "pipe:"; /* or "unix:" */
    ipc_channel *ends[2]; /* ends[0] sends, ends[1] receives */
    ipc_err err = ipc_pair(address, 0, ends);
    if (err != IPC_OK) {
        fprintf(stderr, "ipc_pair: %s\n", ipc_last_detail());
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) { /* child: the producer */
        ipc_close(ends[1]);
        for (int i = 0; i < 3 && err == IPC_OK; i++)
            err = ipc_send(ends[0], "hello", 5, 0, -1); /* -1: wait for room */
        ipc_close(ends[0]);
        _exit(err == IPC_OK ? 0 : 1);
    }
    ipc_close(ends[0]); /* parent: the consumer */
    char buf[256];
    size_t len;
    int hellos = 0;
    while ((err = ipc_recv(ends[1], buf, sizeof buf, &len, NULL, 5000)) ==
           IPC_OK) {
        printf("%zu bytes: %.*s\n", len, (int)len, buf);
        hellos += len == 5 && memcmp(buf, "hello", 5) == 0;
    }
    /* IPC_ECLOSED: every sender is gone and the queue is drained. */
    printf("end: %s\n", ipc_errname(err));
    ipc_close(ends[1]);
    int status;
    int child_ok = pid > 0 && waitpid(pid, &status, 0) == pid &&
                   WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return err == IPC_ECLOSED && hellos == 3 && child_ok ? 0 : 1;
}
/* README:end */
