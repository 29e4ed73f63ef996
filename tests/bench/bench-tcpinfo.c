/* SPDX-License-Identifier: MIT */
/* TCP's own count of the data segments a socket sent: tells whether a
 * one-way stream sent a segment a message, or let messages pile up into
 * fewer, larger segments (a receiver behind, the window shut). */
#include <math.h>
#include <stddef.h>

#include "bench.h"

#ifdef __linux__
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

double tcp_data_segs(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof info;
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_data_segs_out) +
                  sizeof info.tcpi_data_segs_out)
        return NAN;
    return (double)info.tcpi_data_segs_out;
}
#else
double tcp_data_segs(int fd)
{
    (void)fd;
    return NAN;
}
#endif
