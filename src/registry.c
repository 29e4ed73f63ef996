/* SPDX-License-Identifier: MIT */
/* The table of backends, from the build's list: built in or built out. */
#include "ipc_int.h"

#include <string.h>

/* The list is generated from cmake/Backends.cmake, one line per backend:
 * IPC_BACKEND(scheme, built, why). A backend built in defines
 * ipc__backend_<scheme> in its own file; one built out (switched off, or an
 * OS feature it needs was not found) still owns its scheme, so that a user
 * hears "built without X: <feature> not found" instead of "unknown
 * scheme". */
#undef unix /* GNU C modes predefine it as 1; here it is a scheme's name */
#define REGISTRY_ENTRY_1(name, why)                                            \
    extern const struct ipc_backend ipc__backend_##name;
#define REGISTRY_ENTRY_0(name, why)                                            \
    static const struct ipc_backend ipc__backend_##name = {.scheme = #name,    \
                                                           .built_out = why};
#define IPC_BACKEND(name, built, why) REGISTRY_ENTRY_##built(name, why)
#include "ipc_backends.h"
#undef IPC_BACKEND

const struct ipc_backend *const ipc__backends[] = {
#define IPC_BACKEND(name, built, why) &ipc__backend_##name,
#include "ipc_backends.h"
#undef IPC_BACKEND
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
    size_t n = strcspn(scheme, ":+"); /* "nng+tcp://..." is nng's */
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
    if (!be->os_limits)
        return IPC_OK;
    /* An address, not the scheme alone: its limits may differ (udp: an
     * IPv6 datagram carries more than an IPv4 one). */
    struct ipc_addr addr;
    bool whole = scheme[n] == ':' && scheme[n + 1] != '\0';
    if (whole && (err = ipc__addr_parse(scheme, &addr)) != IPC_OK)
        return err;
    return be->os_limits(whole ? &addr : NULL, info);
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
