/* SPDX-License-Identifier: MIT */
/* admin where it is not built (not Linux): every call answers IPC_ENOTSUP. */
#include "ipc_int.h"

#include "ipc/admin.h"

#include <stdlib.h>

IPC_API ipc_err ipc_objects(const char *const *dirs, ipc_object **list,
                            size_t *count)
{
    (void)dirs;
    if (list)
        *list = NULL;
    if (count)
        *count = 0;
    return ipc__fail(IPC_ENOTSUP, "ipc_objects: Linux only (reads /proc)");
}

IPC_API void ipc_objects_free(ipc_object *list)
{
    free(list);
}

IPC_API ipc_err ipc_object_stat(const char *address, ipc_object *obj)
{
    (void)address;
    (void)obj;
    return ipc__fail(IPC_ENOTSUP, "ipc_object_stat: Linux only (reads /proc)");
}
