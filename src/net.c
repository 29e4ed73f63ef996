/* SPDX-License-Identifier: MIT */
/* IP addresses for the tcp: and udp: backends, and the bound on a TCP
 * connection to a vanished peer (tcp:, nng+tcp) (net.h). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "HOST:PORT" or "[V6]:PORT" into host and port; IPC_EINVAL otherwise. */
static ipc_err net_split(const char *scheme, const char *path, char *host,
                         size_t hsize, char *port)
{
    const char *colon = strrchr(path, ':');
    const char *h = path, *hend = colon;
    if (path[0] == '[') {
        h = path + 1;
        hend = strchr(path, ']');
        if (!hend || hend[1] != ':')
            return ipc__fail(IPC_EINVAL, "%s: %s: expected [IPV6]:PORT", scheme,
                             path);
        colon = hend + 1;
    } else if (colon && memchr(path, ':', (size_t)(colon - path))) {
        return ipc__fail(IPC_EINVAL,
                         "%s: %s: an IPv6 address goes in brackets, "
                         "%s:[::1]:PORT",
                         scheme, path, scheme);
    }
    if (!colon || hend == h || (size_t)(hend - h) >= hsize)
        return ipc__fail(IPC_EINVAL, "%s: %s: expected HOST:PORT", scheme,
                         path);
    /* Leading zeros are allowed ("tcp:h:00080"); the value is checked. */
    const char *digits = colon + 1;
    size_t plen = strlen(digits);
    while (plen > 1 && digits[0] == '0') {
        digits++;
        plen--;
    }
    if (plen == 0 || plen > 5 || strspn(digits, "0123456789") != plen ||
        atoi(digits) > 65535)
        return ipc__fail(IPC_EINVAL, "%s: %s: the port is 0 to 65535", scheme,
                         path);
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    memcpy(port, digits, plen + 1);
    return IPC_OK;
}

ipc_err ipc__net_resolve(const char *scheme, const char *path, int socktype,
                         bool passive, struct addrinfo **out)
{
    char host[IPC_NET_NAME_MAX], port[8];
    ipc_err err = net_split(scheme, path, host, sizeof host, port);
    if (err != IPC_OK)
        return err;
    struct addrinfo hints = {.ai_socktype = socktype,
                             .ai_flags =
                                 AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
    int rc = getaddrinfo(host, port, &hints, out);
    if (rc == EAI_SYSTEM)
        return ipc__errno(errno, "%s: resolving %s", scheme, host);
    if (rc != 0)
        return ipc__fail(IPC_ENOENT, "%s: %s: %s", scheme, host,
                         gai_strerror(rc));
    return IPC_OK;
}

ipc_err ipc__net_parse(const char *scheme, const char *text,
                       struct ipc_net *net)
{
    char a[IPC_ADDR_STR_MAX + 1];
    snprintf(a, sizeof a, "%s", text);
    char *slash = strchr(a, '/');
    if (slash)
        *slash = '\0';
    net->family = strchr(a, ':') ? AF_INET6 : AF_INET;
    unsigned bits = net->family == AF_INET6 ? 128 : 32;
    net->prefix = bits;
    if (inet_pton(net->family, a, net->addr) != 1)
        return ipc__fail(IPC_EINVAL, "%s: peer=%s: not an IPv4 or IPv6 address",
                         scheme, text);
    if (slash) {
        size_t n = strlen(slash + 1);
        if (n == 0 || n > 3 || strspn(slash + 1, "0123456789") != n ||
            (unsigned)atoi(slash + 1) > bits)
            return ipc__fail(IPC_EINVAL, "%s: peer=%s: the prefix is 0 to %u",
                             scheme, text, bits);
        net->prefix = (unsigned)atoi(slash + 1);
    }
    return IPC_OK;
}

bool ipc__net_match(const struct ipc_net *net,
                    const struct sockaddr_storage *ss)
{
    const unsigned char *a;
    if (ss->ss_family != net->family)
        return false;
    if (net->family == AF_INET)
        a = (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
    else
        a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
    unsigned full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(a, net->addr, full) != 0)
        return false;
    unsigned char mask = (unsigned char)(0xff00u >> rest);
    return rest == 0 || ((a[full] ^ net->addr[full]) & mask) == 0;
}

ipc_err ipc__net_bind(const char *scheme, int fd, int family,
                      const char *bind_to)
{
    char path[IPC_ADDR_STR_MAX + 8];
    snprintf(path, sizeof path, strchr(bind_to, ':') ? "[%s]:0" : "%s:0",
             bind_to);
    struct addrinfo *bi;
    int socktype = 0;
    socklen_t len = sizeof socktype;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &socktype, &len);
    ipc_err err = ipc__net_resolve(scheme, path, socktype, true, &bi);
    if (err != IPC_OK)
        return err;
    int rc = bi->ai_family == family ? bind(fd, bi->ai_addr, bi->ai_addrlen)
                                     : (errno = EAFNOSUPPORT, -1);
    freeaddrinfo(bi);
    if (rc < 0)
        return ipc__errno(errno, "%s: bind=%s", scheme, bind_to);
    return IPC_OK;
}

ipc_err ipc__net_format(const char *scheme, const struct sockaddr_storage *ss,
                        const char *query, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    unsigned port;
    int n;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
        n = snprintf(buf, size, "%s:[%s]:%u%s", scheme, host, port, query);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        port = ntohs(s4->sin_port);
        n = snprintf(buf, size, "%s:%s:%u%s", scheme, host, port, query);
    }
    if (n < 0 || (size_t)n >= size)
        return ipc__fail(IPC_EMSGSIZE, "ipc_address: %d bytes needed", n + 1);
    return IPC_OK;
}

void ipc__net_keepalive(int fd)
{
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
#ifdef TCP_KEEPIDLE
    int idle = IPC_NET_KEEP_IDLE_S, intvl = IPC_NET_KEEP_INTVL_S;
    int cnt = IPC_NET_KEEP_CNT;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
#endif
#ifdef TCP_USER_TIMEOUT
    unsigned ut = IPC_NET_USER_TIMEOUT_MS;
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof ut);
#endif
}
