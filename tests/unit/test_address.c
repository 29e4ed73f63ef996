/* SPDX-License-Identifier: MIT */
/* White-box tests of the address parser (ipc__addr_parse) and checker. */
#include <time.h> /* struct timespec, used by ipc_int.h prototypes */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ipc_int.h"

static struct ipc_addr addr;

static void parse_ok(const char *text)
{
    ipc_err err = ipc__addr_parse(text, &addr);
    if (err != IPC_OK)
        fail_msg("\"%s\": %s (%s)", text, ipc_errname(err), ipc_last_detail());
}

static void parse_bad(const char *text)
{
    ipc__clear_detail();
    ipc_err err = ipc__addr_parse(text, &addr);
    if (err != IPC_EINVAL)
        fail_msg("\"%s\": %s, expected IPC_EINVAL", text ? text : "(null)",
                 ipc_errname(err));
    if (ipc_last_detail()[0] == '\0')
        fail_msg("\"%s\": no detail", text ? text : "(null)");
}

/* "nng+tcp://h:p": the scheme, then the transport URL as the path. */
static void test_scheme_transport(void **state)
{
    (void)state;
    parse_ok("nng+tcp://127.0.0.1:5555?max_msg=64");
    assert_string_equal(addr.scheme, "nng");
    assert_true(addr.transport);
    assert_string_equal(addr.path, "tcp://127.0.0.1:5555");
    assert_int_equal(addr.val[IPC_KEY_MAX_MSG], 64);
    parse_ok("nng+tls+tcp://h:1");
    assert_string_equal(addr.path, "tls+tcp://h:1");
    parse_ok("unix:/a+b");
    assert_false(addr.transport);
    assert_string_equal(addr.path, "/a+b");
    /* A key whose ceiling is below 9 (lazy: 1): a digit above the ceiling
     * must not wrap the range check (fuzz_addr found lazy=5 accepted). */
    parse_ok("nng+tcp://h:1?lazy=1");
    assert_int_equal(addr.val[IPC_KEY_LAZY], 1);
    parse_bad("nng+tcp://h:1?lazy=5");
    parse_bad("nng+tcp://h:1?lazy=2");
    parse_bad("nng+tcp://h:1?lazy=10");
}

static void test_scheme_only(void **state)
{
    (void)state;
    parse_ok("pipe:");
    assert_string_equal(addr.scheme, "pipe");
    assert_string_equal(addr.path, "");
    assert_int_equal(addr.path_len, 0);
    assert_int_equal(addr.keys_set, 0);
}

static void test_paths(void **state)
{
    (void)state;
    parse_ok("unix:/tmp/x");
    assert_string_equal(addr.scheme, "unix");
    assert_string_equal(addr.path, "/tmp/x");
    assert_int_equal(addr.path_len, 6);
    parse_ok("unix:@abstract name");
    assert_string_equal(addr.path, "@abstract name");
    parse_ok("sysv:0x1234");
    assert_string_equal(addr.scheme, "sysv");
    assert_string_equal(addr.path, "0x1234");
    parse_ok("mq2:/q");
    assert_string_equal(addr.scheme, "mq2");
    /* UTF-8 bytes are not control characters. */
    parse_ok("unix:/tmp/\xc3\xa9t\xc3\xa9");
    assert_int_equal(addr.path_len, 10);
    /* Longest scheme and longest path. */
    parse_ok("abcdefghijklmno:");
    assert_int_equal(strlen(addr.scheme), IPC_ADDR_SCHEME_MAX);
    static char longest[IPC_ADDR_PATH_MAX + 16];
    strcpy(longest, "unix:");
    memset(longest + 5, 'p', IPC_ADDR_PATH_MAX);
    longest[5 + IPC_ADDR_PATH_MAX] = '\0';
    parse_ok(longest);
    assert_int_equal(addr.path_len, IPC_ADDR_PATH_MAX);
}

static void test_options(void **state)
{
    (void)state;
    parse_ok("shm:/frames?capacity=64&max_msg=65536");
    assert_string_equal(addr.path, "/frames");
    assert_int_equal(addr.keys_set, IPC_KEYBIT(IPC_KEY_CAPACITY) |
                                        IPC_KEYBIT(IPC_KEY_MAX_MSG));
    assert_int_equal(addr.val[IPC_KEY_CAPACITY], 64);
    assert_int_equal(addr.val[IPC_KEY_MAX_MSG], 65536);
    assert_int_equal(ipc__addr_get(&addr, IPC_KEY_MAX_MSG, 7), 65536);
    assert_int_equal(ipc__addr_get(&addr, IPC_KEY_MODE, 0600), 0600);

    parse_ok("pipe:?fd=3&max_msg=4096");
    assert_string_equal(addr.path, "");
    assert_int_equal(addr.val[IPC_KEY_FD], 3);
    assert_int_equal(addr.val[IPC_KEY_MAX_MSG], 4096);

    parse_ok("unix:/p?mode=0640&peer_uid=1000");
    assert_int_equal(addr.val[IPC_KEY_MODE], 0640);
    assert_int_equal(addr.val[IPC_KEY_PEER_UID], 1000);
    parse_ok("unix:/p?mode=640");
    assert_int_equal(addr.val[IPC_KEY_MODE], 0640);
    parse_ok("unix:/p?mode=0");
    assert_int_equal(addr.val[IPC_KEY_MODE], 0);
    assert_true(addr.keys_set & IPC_KEYBIT(IPC_KEY_MODE));
    parse_ok("unix:/p?mode=0777");
    assert_int_equal(addr.val[IPC_KEY_MODE], 0777);
    parse_ok("x:?capacity=0");
    assert_int_equal(addr.val[IPC_KEY_CAPACITY], 0);
    assert_true(addr.keys_set & IPC_KEYBIT(IPC_KEY_CAPACITY));
    /* Leading zeros in decimal are just zeros. */
    parse_ok("x:?max_msg=007");
    assert_int_equal(addr.val[IPC_KEY_MAX_MSG], 7);
    /* A later parse starts from nothing. */
    parse_ok("x:/y");
    assert_int_equal(addr.keys_set, 0);
    assert_int_equal(addr.val[IPC_KEY_MAX_MSG], 0);
}

static void test_bad_scheme(void **state)
{
    (void)state;
    parse_bad(NULL);
    parse_bad("");
    parse_bad(":");
    parse_bad(":/x");
    parse_bad("pipe");
    parse_bad("/tmp/x");
    parse_bad("PIPE:");
    parse_bad("Pipe:");
    parse_bad("1pipe:");
    parse_bad("pi-pe:");
    parse_bad("pi pe:");
    parse_bad(" pipe:");
    parse_bad("pi\npe:");
    parse_bad("abcdefghijklmnop:"); /* 16 characters */
}

static void test_bad_path(void **state)
{
    (void)state;
    parse_bad("unix:/a\nb");
    parse_bad("unix:/a\rb");
    parse_bad("unix:/a\tb");
    parse_bad("unix:/a\x01");
    parse_bad("unix:\x1f");
    parse_bad("unix:/a\x7f");
    parse_bad("unix:/a\x1b[31m");
    static char toolong[IPC_ADDR_PATH_MAX + 16];
    strcpy(toolong, "unix:");
    memset(toolong + 5, 'p', IPC_ADDR_PATH_MAX + 1);
    toolong[5 + IPC_ADDR_PATH_MAX + 1] = '\0';
    parse_bad(toolong);
    /* Far too long, with a query after it. */
    static char huge[3 * IPC_ADDR_PATH_MAX];
    strcpy(huge, "unix:");
    memset(huge + 5, 'q', sizeof huge - 32);
    strcpy(huge + 5 + sizeof huge - 32, "?max_msg=1");
    parse_bad(huge);
}

static void test_bad_options(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "pipe:?max_msg",     /* no '=' */
        "pipe:?max_msg=",    /* no value */
        "pipe:?max_msg=12x", /* not a number */
        "pipe:?max_msg=x12",
        "pipe:?max_msg=-1",
        "pipe:?max_msg=+1",
        "pipe:?max_msg= 1",
        "pipe:?max_msg=1 ",
        "pipe:?max_msg=0x10",
        "pipe:?max_msg=1.5",
        "pipe:?max_msg=99999999999999999999999", /* overflows 64 bits */
        "pipe:?max_msg=18446744073709551616",    /* 2^64 */
        "pipe:?mode=0680",                       /* not octal */
        "pipe:?mode=9",
        "pipe:?mode=01000", /* above 0777 */
        "pipe:?mode=7777",
        "pipe:?bogus=1",    /* unknown key */
        "pipe:?max=1",      /* a prefix of a key */
        "pipe:?max_msgs=1", /* a key and more */
        "pipe:?MAX_MSG=1",  /* keys are lowercase */
        "pipe:?=1",
        "pipe:?&",
        "pipe:?&max_msg=1", /* empty option */
        "pipe:?max_msg=1&",
        "pipe:?max_msg=1&&capacity=2",
        "pipe:?max_msg=1&max_msg=1", /* duplicate keys */
        "pipe:?max_msg=1&capacity=2&max_msg=3",
        "pipe:?mode=0600&mode=0600",
        "pipe:?max_msg=1\n", /* control characters */
        "pipe:?max_msg=1\x01",
        "pipe:?max\x7f_msg=1",
        "pipe:?max_msg=1?capacity=2", /* '?' twice */
        "unix:/a?b?c",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i]);
}

/* Text options (tcp: bind=, peer=): kept as given, each in its own slot,
 * refused when empty, too long, given twice or holding a space. */
static void test_text_options(void **state)
{
    (void)state;
    parse_ok("tcp:[::1]:0?peer=::1/128&bind=127.0.0.1&max_msg=9");
    assert_string_equal(addr.path, "[::1]:0");
    assert_string_equal(ipc__addr_str(&addr, IPC_KEY_PEER), "::1/128");
    assert_string_equal(ipc__addr_str(&addr, IPC_KEY_BIND), "127.0.0.1");
    assert_int_equal(addr.val[IPC_KEY_MAX_MSG], 9);
    parse_ok("tcp:h:1?peer=10.0.0.0/8");
    assert_null(ipc__addr_str(&addr, IPC_KEY_BIND));
    char longest[IPC_ADDR_STR_MAX + 16] = "tcp:h:1?bind=";
    size_t n = strlen(longest);
    memset(longest + n, 'a', IPC_ADDR_STR_MAX);
    longest[n + IPC_ADDR_STR_MAX] = '\0';
    parse_ok(longest);
    assert_int_equal(strlen(ipc__addr_str(&addr, IPC_KEY_BIND)),
                     IPC_ADDR_STR_MAX);
    strcat(longest, "a");
    parse_bad(longest);
    parse_bad("tcp:h:1?bind=");
    parse_bad("tcp:h:1?peer=a&peer=b");
    parse_bad("tcp:h:1?peer=a b");
    parse_bad("tcp:h:1?peer=a\tb");
}

static void test_key_names(void **state)
{
    (void)state;
    static const char *const names[IPC_KEY_COUNT] = {
        [IPC_KEY_CAPACITY] = "capacity", [IPC_KEY_MAX_MSG] = "max_msg",
        [IPC_KEY_MODE] = "mode",         [IPC_KEY_FD] = "fd",
        [IPC_KEY_PEER_UID] = "peer_uid", [IPC_KEY_OWNER] = "owner",
        [IPC_KEY_SIZE] = "size",         [IPC_KEY_BIND] = "bind",
        [IPC_KEY_PEER] = "peer",         [IPC_KEY_LAZY] = "lazy",
        [IPC_KEY_NODELAY] = "nodelay",
    };
    for (int k = 0; k < IPC_KEY_COUNT; k++) {
        assert_string_equal(ipc__key_name((enum ipc__key)k), names[k]);
        char text[64];
        snprintf(text, sizeof text, "x:?%s=1", names[k]);
        parse_ok(text);
        assert_int_equal(addr.keys_set, IPC_KEYBIT(k));
        if (k == IPC_KEY_BIND || k == IPC_KEY_PEER)
            assert_string_equal(ipc__addr_str(&addr, k), "1");
        else
            assert_int_equal(addr.val[k], 1);
    }
    assert_non_null(ipc__key_name(IPC_KEY_COUNT));
}

/* ipc__addr_check with each built backend: its keys, its max_msg range,
 * its name length, and "a pair takes no name". */
static void test_check(void **state)
{
    (void)state;
    char text[IPC_ADDR_PATH_MAX + 64];
    for (size_t i = 0; ipc__backends[i]; i++) {
        const struct ipc_backend *be = ipc__backends[i];
        if (be->built_out)
            continue;
        const struct ipc_backend_limits *lim = &be->limits;
        bool named = be->open != NULL && (be->caps & IPC_CAP_NAMED);
        const char *name = named ? "/n" : "";

        snprintf(text, sizeof text, "%s:%s?max_msg=%zu", be->scheme, name,
                 lim->max_msg_max);
        parse_ok(text);
        assert_int_equal(ipc__addr_check(be, &addr, named), IPC_OK);
        snprintf(text, sizeof text, "%s:%s?max_msg=%zu", be->scheme, name,
                 lim->max_msg_max + 1);
        parse_ok(text);
        assert_int_equal(ipc__addr_check(be, &addr, named), IPC_EINVAL);
        snprintf(text, sizeof text, "%s:%s?max_msg=0", be->scheme, name);
        parse_ok(text);
        if (ipc__addr_check(be, &addr, named) != IPC_EINVAL)
            fail_msg("%s: max_msg=0 accepted (a channel needs at least "
                     "1 byte per message)",
                     be->scheme);

        for (int k = 0; k < IPC_KEY_COUNT; k++) {
            if (be->keys & IPC_KEYBIT(k))
                continue;
            snprintf(text, sizeof text, "%s:%s?%s=1", be->scheme, name,
                     ipc__key_name((enum ipc__key)k));
            parse_ok(text);
            ipc__clear_detail();
            if (ipc__addr_check(be, &addr, named) != IPC_EINVAL)
                fail_msg("%s: key %s accepted but not in keys", be->scheme,
                         ipc__key_name((enum ipc__key)k));
            assert_true(ipc_last_detail()[0] != '\0');
        }
        if ((be->keys & IPC_KEYBIT(IPC_KEY_CAPACITY)) &&
            !(be->caps & IPC_CAP_RENDEZVOUS)) {
            snprintf(text, sizeof text, "%s:%s?capacity=0", be->scheme, name);
            parse_ok(text);
            assert_int_equal(ipc__addr_check(be, &addr, named), IPC_ENOTSUP);
        }

        if (be->pair) {
            snprintf(text, sizeof text, "%s:/x", be->scheme);
            parse_ok(text);
            assert_int_equal(ipc__addr_check(be, &addr, false), IPC_EINVAL);
        }
        if (!named || lim->name_max >= IPC_ADDR_PATH_MAX)
            continue;
        /* The longest name passes, one byte more does not. */
        int n = snprintf(text, sizeof text, "%s:/", be->scheme);
        memset(text + n, 'n', lim->name_max - 1);
        text[n + lim->name_max - 1] = '\0';
        parse_ok(text);
        assert_int_equal(addr.path_len, lim->name_max);
        assert_int_equal(ipc__addr_check(be, &addr, true), IPC_OK);
        text[n + lim->name_max - 1] = 'n';
        text[n + lim->name_max] = '\0';
        parse_ok(text);
        assert_int_equal(ipc__addr_check(be, &addr, true), IPC_EINVAL);
        if (be->path_required) {
            snprintf(text, sizeof text, "%s:", be->scheme);
            parse_ok(text);
            assert_int_equal(ipc__addr_check(be, &addr, true), IPC_EINVAL);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheme_only),
        cmocka_unit_test(test_scheme_transport),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_bad_scheme),
        cmocka_unit_test(test_bad_path),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_key_names),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_text_options),
    };
    return cmocka_run_group_tests_name("unit.address", tests, NULL, NULL);
}
