/* SPDX-License-Identifier: MIT */
/* ipcctl-hold: make a region or sync object and hold it open until
 * SIGTERM (a clean close) or SIGKILL (what a crash leaves), for the
 * ipcctl end-to-end tests.
 *   ipcctl-hold region|mutex|sem|barrier|spin|event ADDRESS
 * Says "holding" on stderr once the object exists. */
#define _POSIX_C_SOURCE 200809L
#include <ipc/ipc.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t hold_stop;

static void hold_on_term(int sig)
{
    (void)sig;
    hold_stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s KIND ADDRESS\n", argv[0]);
        return 2;
    }
    const char *kind = argv[1], *address = argv[2];
    unsigned flags = IPC_F_CREATE | IPC_F_EXCL;
    ipc_region *r = NULL;
    ipc_mutex *m = NULL;
    ipc_sem *s = NULL;
    ipc_barrier *b = NULL;
    ipc_spin *sp = NULL;
    ipc_event *e = NULL;
    ipc_err err = IPC_EINVAL;
    if (strcmp(kind, "region") == 0)
        err = ipc_region_open(address, flags, 8192, 0, &r);
    else if (strcmp(kind, "mutex") == 0)
        err = ipc_mutex_open(address, flags, 0, &m);
    else if (strcmp(kind, "sem") == 0)
        err = ipc_sem_open(address, flags, 1, 0, &s);
    else if (strcmp(kind, "barrier") == 0)
        err = ipc_barrier_open(address, flags, 2, 0, &b);
    else if (strcmp(kind, "spin") == 0)
        err = ipc_spin_open(address, flags, 0, &sp);
    else if (strcmp(kind, "event") == 0)
        err = ipc_event_open(address, flags, 0, &e);
    if (err != IPC_OK) {
        fprintf(stderr, "ipcctl-hold: %s: %s: %s\n", address, ipc_errname(err),
                ipc_last_detail());
        return 1;
    }
    struct sigaction sa = {.sa_handler = hold_on_term};
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "holding\n");
    while (!hold_stop)
        pause();
    ipc_region_close(r);
    ipc_mutex_close(m);
    ipc_sem_close(s);
    ipc_barrier_close(b);
    ipc_spin_close(sp);
    ipc_event_close(e);
    return 0;
}
