/* SPDX-License-Identifier: MIT */
/* Error names and messages from one X-macro list, the errno map, details. */
#include "ipc_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* The per-thread sentence for people. A fixed buffer: a detail is never
 * worth an allocation, and a long one is cut, not lost whole. */
static _Thread_local char error_detail[256];

const char *ipc_strerror(ipc_err err)
{
    switch (err) {
#define ERROR_MSG_(name, num, msg)                                             \
    case IPC_##name:                                                           \
        return msg;
        IPC_ERRNO_MAP(ERROR_MSG_)
#undef ERROR_MSG_
    }
    return "unknown libipc error code";
}

const char *ipc_errname(ipc_err err)
{
    switch (err) {
#define ERROR_NAME_(name, num, msg)                                            \
    case IPC_##name:                                                           \
        return "IPC_" #name;
        IPC_ERRNO_MAP(ERROR_NAME_)
#undef ERROR_NAME_
    }
    return "IPC_E?";
}

const char *ipc_last_detail(void)
{
    return error_detail;
}

void ipc__clear_detail(void)
{
    error_detail[0] = '\0';
}

static void error_vset(const char *fmt, va_list ap)
{
    vsnprintf(error_detail, sizeof error_detail, fmt, ap);
}

ipc_err ipc__fail(ipc_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(fmt, ap);
    va_end(ap);
    return err;
}

ipc_err ipc__errno_code(int err)
{
    switch (err) {
    case 0:
        return IPC_OK;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return IPC_EAGAIN;
    case ETIMEDOUT:
        return IPC_ETIMEDOUT;
    /* The other side is gone or the object was removed under us: whatever
     * the mechanism calls it, nobody will ever read (or write) again. */
    case EPIPE:
    case ECONNRESET:
    case ECONNREFUSED:
    case EIDRM:
        return IPC_ECLOSED;
    case EEXIST:
    case EADDRINUSE:
        return IPC_EEXIST;
    case ENOENT:
        return IPC_ENOENT;
    case EACCES:
    case EPERM:
        return IPC_EACCES;
    case ENOMEM:
    case ENOBUFS:
        return IPC_ENOMEM;
    /* Per-process or system-wide limits: descriptors, queue counts, space. */
    case EMFILE:
    case ENFILE:
    case ENOSPC:
    case EFBIG:
        return IPC_ELIMIT;
    case EMSGSIZE:
        return IPC_EMSGSIZE;
    case ENAMETOOLONG:
    case EINVAL:
        return IPC_EINVAL;
    case EBUSY:
        return IPC_EBUSY;
    case ENOTSUP:
        return IPC_ENOTSUP;
    default:
        return IPC_EIO;
    }
}

/* Out of descriptors names the limit and its value, as every OS limit
 * must ("Too many open files" alone does not say which knob to turn). Only
 * on this error path: one getrlimit() call. */
static void error_limit_note(int err, char *buf, size_t size)
{
    struct rlimit rl;
    buf[0] = '\0';
    if (err == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur == RLIM_INFINITY)
            snprintf(buf, size, " (RLIMIT_NOFILE unlimited)");
        else
            snprintf(buf, size, " (RLIMIT_NOFILE %llu)",
                     (unsigned long long)rl.rlim_cur);
    } else if (err == ENFILE) {
        snprintf(buf, size, " (system-wide /proc/sys/fs/file-max)");
    }
}

ipc_err ipc__errno(int err, const char *fmt, ...)
{
    char what[192], note[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    error_limit_note(err, note, sizeof note);
    /* A detail too long for the buffer is cut, on purpose. */
    int n = snprintf(error_detail, sizeof error_detail, "%s: %s%s", what,
                     strerror(err), note);
    (void)n;
    return ipc__errno_code(err);
}
