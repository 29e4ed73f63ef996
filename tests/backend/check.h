/* SPDX-License-Identifier: MIT */
/* CHECK(call, want) for the backends' own cmocka tests: a call must give
 * the error named, else the line, the call and libipc's detail are printed
 * and the test fails. Include after <cmocka.h>. */
#ifndef IPC_BACKEND_CHECK_H
#define IPC_BACKEND_CHECK_H

#include "ipc/ipc.h"

static inline void bt_check(ipc_err got, ipc_err want, const char *what,
                            int line)
{
    if (got == want)
        return;
    print_error("line %d: %s: %s, expected %s (detail \"%s\")\n", line, what,
                ipc_errname(got), ipc_errname(want), ipc_last_detail());
    fail();
}
#define CHECK(expr, want) bt_check((expr), (want), #expr, __LINE__)

#endif /* IPC_BACKEND_CHECK_H */
