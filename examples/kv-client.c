/* SPDX-License-Identifier: MIT */
/* kv-client: send each argument to a kv-server as one request and print
 * each reply.  kv-client ADDRESS "SET colour blue" "GET colour" */
/* README:begin */
#include <ipc/ipc.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ADDRESS REQUEST...\n", argv[0]);
        return 2;
    }
    ipc_rr_client *client;
    ipc_err err = ipc_rr_connect(argv[1], 2000, &client);
    if (err != IPC_OK) {
        fprintf(stderr, "kv-client: %s: %s\n", argv[1], ipc_last_detail());
        return 1;
    }
    int status = 0;
    for (int i = 2; i < argc; i++) {
        char reply[512];
        size_t len;
        /* 2 s for the whole call; a dead server fails it at once. */
        err = ipc_rr_call(client, argv[i], strlen(argv[i]), reply, sizeof reply,
                          &len, 0, 2000);
        if (err != IPC_OK) {
            fprintf(stderr, "kv-client: %s: %s\n", argv[i], ipc_last_detail());
            status = 1;
            break;
        }
        printf("%.*s\n", (int)len, reply);
    }
    ipc_rr_disconnect(client);
    return status;
}
/* README:end */
