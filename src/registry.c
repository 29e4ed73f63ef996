/* SPDX-License-Identifier: MIT */
/* The table of backends: one line each, built in or answering "built out". */
#include "ipc_int.h"

#include <string.h>

/* A backend switched off at configure time still owns its scheme, so that a
 * user hears "built without X" instead of "unknown scheme". */
#define REGISTRY_BUILT_OUT(name, why)                                          \
    static const struct ipc_backend ipc__backend_##name = {.scheme = #name,    \
                                                           .built_out = why}

#if IPC_WITH_PIPE
extern const struct ipc_backend ipc__backend_pipe;
#else
REGISTRY_BUILT_OUT(pipe, "built without the pipe backend (IPC_WITH_PIPE=OFF)");
#endif
#if IPC_WITH_UNIX
extern const struct ipc_backend ipc__backend_unix;
#else
REGISTRY_BUILT_OUT(unix, "built without the unix backend (IPC_WITH_UNIX=OFF)");
#endif
#if IPC_WITH_SYSV
extern const struct ipc_backend ipc__backend_sysv;
#else
REGISTRY_BUILT_OUT(sysv, "built without the SysV message queue backend "
                         "(IPC_WITH_SYSV=OFF)");
#endif
#if IPC_WITH_FIFO
extern const struct ipc_backend ipc__backend_fifo;
#else
REGISTRY_BUILT_OUT(fifo, "built without the fifo backend (IPC_WITH_FIFO=OFF)");
#endif
#if IPC_WITH_MQ
extern const struct ipc_backend ipc__backend_mq;
#else
REGISTRY_BUILT_OUT(mq, "built without the mq backend (IPC_WITH_MQ=OFF)");
#endif
#if IPC_WITH_SHM
extern const struct ipc_backend ipc__backend_shm;
#else
REGISTRY_BUILT_OUT(shm, "built without the shm backend (IPC_WITH_SHM=OFF)");
#endif

const struct ipc_backend *const ipc__backends[] = {
    &ipc__backend_pipe,
    &ipc__backend_unix,
    &ipc__backend_fifo,
    &ipc__backend_mq,
    &ipc__backend_sysv,
    &ipc__backend_shm,
    NULL,
};

const struct ipc_backend *ipc__backend_find(const char *scheme)
{
    for (size_t i = 0; ipc__backends[i]; i++)
        if (strcmp(ipc__backends[i]->scheme, scheme) == 0)
            return ipc__backends[i];
    return NULL;
}

const char *ipc_scheme(size_t i)
{
    size_t n = sizeof ipc__backends / sizeof ipc__backends[0] - 1;
    return i < n ? ipc__backends[i]->scheme : NULL;
}

ipc_err ipc_limits(const char *scheme, ipc_limits_info *info)
{
    if (!scheme || !info)
        return ipc__fail(IPC_EINVAL, "ipc_limits: NULL argument");
    char name[IPC_ADDR_SCHEME_MAX + 1];
    size_t n = strcspn(scheme, ":");
    if (n > IPC_ADDR_SCHEME_MAX)
        return ipc__fail(IPC_EINVAL, "unknown scheme \"%.*s\"", (int)n, scheme);
    memcpy(name, scheme, n);
    name[n] = '\0';
    unsigned caps;
    ipc_err err = ipc_scheme_caps(name, &caps);
    if (err != IPC_OK)
        return err;
    const struct ipc_backend *be = ipc__backend_find(name);
    *info = (ipc_limits_info){
        .max_msg = be->limits.max_msg_max,
        .max_msg_default = be->limits.max_msg_default,
        .capacity = be->limits.capacity_max,
        .capacity_default = be->limits.capacity_default,
    };
    return be->os_limits ? be->os_limits(info) : IPC_OK;
}

ipc_err ipc_scheme_caps(const char *scheme, unsigned *caps)
{
    if (!scheme || !caps)
        return ipc__fail(IPC_EINVAL, "ipc_scheme_caps: NULL argument");
    *caps = 0;
    const struct ipc_backend *be = ipc__backend_find(scheme);
    if (!be)
        return ipc__fail(IPC_EINVAL, "unknown scheme \"%s\"", scheme);
    if (be->built_out)
        return ipc__fail(IPC_ENOTSUP, "%s: %s", scheme, be->built_out);
    *caps = be->caps;
    return IPC_OK;
}
