/* SPDX-License-Identifier: MIT */
/* kv-server: a small key-value store served over request/reply.
 *   kv-server ADDRESS        e.g. kv-server unix:/tmp/kv  or  mq:/kv
 * Requests are text: "SET key value", "GET key", "DEL key", "QUIT".
 * Replies: "OK", the value, "MISSING", or "ERR why". */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include <ipc/ipc.h>

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV_MAX  256
#define KV_TEXT 200

struct kv_entry {
    char key[KV_TEXT], value[KV_TEXT];
};

static struct kv_entry kv_table[KV_MAX];
static size_t kv_count;

static struct kv_entry *kv_find(const char *key)
{
    for (size_t i = 0; i < kv_count; i++)
        if (strcmp(kv_table[i].key, key) == 0)
            return &kv_table[i];
    return NULL;
}

/* Answer one request (a NUL-terminated line) into reply; false on QUIT. */
static bool kv_handle(char *line, char *reply, size_t size)
{
    char *save = NULL, *cmd = strtok_r(line, " ", &save);
    char *key = strtok_r(NULL, " ", &save), *value = strtok_r(NULL, "", &save);
    struct kv_entry *e = key ? kv_find(key) : NULL;
    if (cmd && strcmp(cmd, "QUIT") == 0) {
        snprintf(reply, size, "OK");
        return false;
    }
    if (!cmd || !key || strlen(key) >= KV_TEXT) {
        snprintf(reply, size, "ERR usage: SET k v | GET k | DEL k | QUIT");
    } else if (strcmp(cmd, "GET") == 0) {
        snprintf(reply, size, "%s", e ? e->value : "MISSING");
    } else if (strcmp(cmd, "DEL") == 0) {
        if (e)
            *e = kv_table[--kv_count];
        snprintf(reply, size, "%s", e ? "OK" : "MISSING");
    } else if (strcmp(cmd, "SET") == 0 && value && strlen(value) < KV_TEXT) {
        if (!e && kv_count < KV_MAX)
            e = &kv_table[kv_count++];
        if (e) {
            snprintf(e->key, sizeof e->key, "%s", key);
            snprintf(e->value, sizeof e->value, "%s", value);
        }
        snprintf(reply, size, "%s", e ? "OK" : "ERR store full");
    } else {
        snprintf(reply, size, "ERR bad request");
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s ADDRESS\n", argv[0]);
        return 2;
    }
    ipc_rr_server *server;
    ipc_err err = ipc_rr_serve(argv[1], 0, &server);
    if (err != IPC_OK) {
        fprintf(stderr, "kv-server: %s: %s\n", argv[1], ipc_last_detail());
        return 1;
    }
    printf("kv-server: serving %s\n", argv[1]);
    fflush(stdout);
    for (bool running = true; running;) {
        char line[512], reply[512];
        size_t len;
        ipc_rr_req req;
        /* -1: wait for the next client's request, however long. */
        err = ipc_rr_recv(server, line, sizeof line - 1, &len, &req, -1);
        if (err == IPC_EMSGSIZE) {
            char *big = malloc(len);
            if (big && ipc_rr_recv(server, big, len, &len, &req, 0) == IPC_OK)
                ipc_rr_reply(server, &req, "ERR too long", 12, 1000);
            free(big);
            continue;
        }
        if (err != IPC_OK) {
            fprintf(stderr, "kv-server: %s\n", ipc_last_detail());
            break;
        }
        line[len] = '\0';
        running = kv_handle(line, reply, sizeof reply);
        /* A client that died meanwhile: IPC_ECLOSED, and the server goes
         * on. */
        ipc_rr_reply(server, &req, reply, strlen(reply), 1000);
    }
    ipc_rr_server_close(server);
    return 0;
}
