/* SPDX-License-Identifier: MIT */
/* IP addresses for the tcp: and udp: backends: "HOST:PORT" parsed and
 * resolved, peer= networks matched, bind= applied, addresses formatted;
 * and the bound on a TCP connection to a vanished peer (tcp:, nng+tcp). */
#ifndef IPC_NET_H
#define IPC_NET_H

#include "ipc_int.h"

#include <netdb.h>
#include <stdbool.h>
#include <sys/socket.h>

/* "[" + a 253-byte name + "]:65535", with room: the longest path. */
#define IPC_NET_NAME_MAX 300

/* peer=ADDR[/PREFIX]: who may reach a receiver. */
struct ipc_net {
    int family;
    unsigned char addr[16];
    unsigned prefix; /* bits that must match */
};

/* Resolve an address's "HOST:PORT" ("[V6]:PORT" for IPv6 literals) for a
 * socket type (getaddrinfo, which may block on DNS: literals do not).
 * IPC_EINVAL for a malformed path, IPC_ENOENT for a name that does not
 * resolve. The caller frees *out with freeaddrinfo. */
ipc_err ipc__net_resolve(const char *scheme, const char *path, int socktype,
                         bool passive, struct addrinfo **out);
/* Parse peer=ADDR[/PREFIX] (IPC_EINVAL with a detail). */
ipc_err ipc__net_parse(const char *scheme, const char *text,
                       struct ipc_net *net);
/* Is the socket address inside the network? */
bool ipc__net_match(const struct ipc_net *net,
                    const struct sockaddr_storage *ss);
/* bind=ADDR: bind fd, a socket of the given family, to that local literal
 * (any port), before it connects. */
ipc_err ipc__net_bind(const char *scheme, int fd, int family,
                      const char *bind_to);
/* "scheme:HOST:PORT" of a socket address, brackets around IPv6, then
 * query (the options the end was opened with, "" for none). IPC_EMSGSIZE
 * if it does not fit. */
ipc_err ipc__net_format(const char *scheme, const struct sockaddr_storage *ss,
                        const char *query, char *buf, size_t size);

/* A vanished peer (host down, link cut: no reset ever comes) ends a TCP
 * connection within IPC_NET_USER_TIMEOUT_MS, 30 s: data unacknowledged
 * for that long fails it, and so do keepalive's probes, which begin after
 * IPC_NET_KEEP_IDLE_S of quiet (on Linux the user timeout, when set,
 * decides when unanswered probes end a connection, not KEEPCNT alone).
 * Measured: 30.1-30.2 s (tcp.netns_fault, nng.netns_fault). */
#define IPC_NET_KEEP_IDLE_S     10
#define IPC_NET_KEEP_INTVL_S    5
#define IPC_NET_KEEP_CNT        3
#define IPC_NET_USER_TIMEOUT_MS 30000

/* Give a TCP socket those bounds (Linux names; elsewhere what the system
 * has: SO_KEEPALIVE alone). */
void ipc__net_keepalive(int fd);

#endif /* IPC_NET_H */
