/* SPDX-License-Identifier: MIT */
/* Builds against an installed libipc and moves one message through a pipe. */
#include <ipc/ipc.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    static const char hello[] = "hello from an installed libipc";
    char buf[64];
    size_t len = 0;
    ipc_channel *ends[2];
    ipc_err err;

    err = ipc_pair("pipe:", 0, ends);
    if (err != IPC_OK) {
        fprintf(stderr, "ipc_pair: %s: %s\n", ipc_errname(err),
                ipc_last_detail());
        return 1;
    }
    err = ipc_send(ends[0], hello, sizeof hello, 0, 1000);
    if (err == IPC_OK)
        err = ipc_recv(ends[1], buf, sizeof buf, &len, NULL, 1000);
    ipc_close(ends[0]);
    ipc_close(ends[1]);
    if (err != IPC_OK) {
        fprintf(stderr, "send/recv: %s: %s\n", ipc_errname(err),
                ipc_last_detail());
        return 1;
    }
    if (len != sizeof hello || memcmp(buf, hello, len) != 0) {
        fprintf(stderr, "got %zu bytes, not the message sent\n", len);
        return 1;
    }
    /* The header and the library linked must be the same release. */
    if (ipc_version() != IPC_VERSION_NUM) {
        fprintf(stderr, "header %d, library %d\n", IPC_VERSION_NUM,
                ipc_version());
        return 1;
    }
    printf("ok: libipc %s\n", ipc_version_string());
    return 0;
}
