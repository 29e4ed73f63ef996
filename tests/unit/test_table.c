/* SPDX-License-Identifier: MIT */
/* The test suites' table of backends (tests/common/backends.def) agrees
 * with the library: every scheme built in has a row, no row names a scheme
 * the library does not know, and no row expects a cap the scheme lacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "backends.h"
#include "check.h"
#include "ipc/ipc.h"

static void test_every_built_scheme_has_a_row(void **state)
{
    (void)state;
    size_t built = 0;
    for (size_t i = 0; ipc_scheme(i); i++) {
        unsigned caps = 0;
        if (ipc_scheme_caps(ipc_scheme(i), &caps) != IPC_OK)
            continue; /* built out */
        built++;
        const struct tu_scheme *s = tu_scheme_find(ipc_scheme(i));
        if (!s)
            fail_msg("scheme \"%s\" is built but backends.def has no "
                     "TU_SCHEME line for it",
                     ipc_scheme(i));
        bool has_row = false;
        for (const struct tu_row *r = tu_rows; r->name; r++)
            has_row = has_row || strcmp(r->scheme, s->scheme) == 0;
        if (!has_row)
            fail_msg("scheme \"%s\" has no TU_ROW", s->scheme);
    }
    assert_true(built > 0);
}

static void test_no_unknown_scheme(void **state)
{
    (void)state;
    for (const struct tu_scheme *s = tu_schemes; s->scheme; s++) {
        unsigned caps = 0;
        ipc_err err = ipc_scheme_caps(s->scheme, &caps);
        if (err == IPC_EINVAL)
            fail_msg("backends.def names \"%s\", which libipc does not know",
                     s->scheme);
        if (err == IPC_ENOTSUP)
            continue; /* built out: its rows get no ctest */
        assert_ipc_err(err, IPC_OK);
        unsigned want = s->pair_caps | s->recv_caps | s->send_caps;
        if ((want & ~caps) != 0)
            fail_msg("%s: the table expects caps 0x%x, the library's "
                     "ipc_scheme_caps() has 0x%x",
                     s->scheme, want, caps);
    }
}

static void test_rows_fit_their_scheme(void **state)
{
    (void)state;
    for (const struct tu_row *r = tu_rows; r->name; r++) {
        const struct tu_scheme *s = tu_row_scheme(r);
        if (!s)
            fail_msg("row %s: no TU_SCHEME \"%s\"", r->name, r->scheme);
        size_t n = strlen(s->scheme);
        /* "nng+tcp://...": the scheme, then its transport after '+'. */
        assert_true(strncmp(r->addr, s->scheme, n) == 0 &&
                    (r->addr[n] == ':' || r->addr[n] == '+'));
        if (tu_row_named(r)) {
            assert_non_null(r->naming);
            assert_true(s->recv_caps & IPC_CAP_NAMED);
            assert_true(r->name_max > 0);
        } else {
            assert_null(r->naming);
            assert_null(r->fs);
            assert_true(s->pair_caps & IPC_CAP_PAIR);
        }
        if (tu_row_find(r->name) != r)
            fail_msg("row name %s is used twice", r->name);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_built_scheme_has_a_row),
        cmocka_unit_test(test_no_unknown_scheme),
        cmocka_unit_test(test_rows_fit_their_scheme),
    };
    return tu_run_tests("unit.table", tests, argc, argv);
}
