/* SPDX-License-Identifier: MIT */
/* White-box tests of the frame header codec (frame.h wire layout). */
#include <time.h> /* struct timespec, used by ipc_int.h prototypes */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"

static void test_layout(void **state)
{
    (void)state;
    unsigned char hdr[IPC_FRAME_HDR];
    assert_int_equal(IPC_FRAME_HDR, 16);
    assert_int_equal(IPC_FRAME_MAGIC, 0x31435049u);

    memset(hdr, 0xee, sizeof hdr);
    ipc__frame_encode(hdr, 0x0a0b0c0d, 0x7f);
    static const unsigned char want[16] = {
        'I',  'P',  'C',  '1',  /* magic, little-endian 0x31435049 */
        0x7f, 0x00, 0x00, 0x00, /* priority */
        0x0d, 0x0c, 0x0b, 0x0a, /* length, low 32 bits first */
        0x00, 0x00, 0x00, 0x00,
    };
    assert_memory_equal(hdr, want, sizeof want);

    ipc__frame_encode(hdr, 0, 0);
    static const unsigned char zero[16] = {'I', 'P', 'C', '1'};
    assert_memory_equal(hdr, zero, sizeof zero);

    ipc__frame_encode(hdr, 1, IPC_FRAME_PRIO_MAX);
    assert_int_equal(hdr[4], 0xff);
    assert_int_equal(hdr[5], 0);
    assert_int_equal(hdr[8], 1);

#if SIZE_MAX > 0xffffffffu
    ipc__frame_encode(hdr, (size_t)0x0102030405060708ull, 0);
    static const unsigned char len64[8] = {0x08, 0x07, 0x06, 0x05,
                                           0x04, 0x03, 0x02, 0x01};
    assert_memory_equal(hdr + 8, len64, 8);
#endif
}

static void test_round_trip(void **state)
{
    (void)state;
    static const size_t lens[] = {0,    1,     15,    16,       255,        256,
                                  4096, 65535, 65536, 1u << 20, (64u << 20)};
    static const unsigned prios[] = {0, 1, 31, 254, 255};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (size_t j = 0; j < sizeof prios / sizeof prios[0]; j++) {
            unsigned char hdr[IPC_FRAME_HDR];
            struct ipc_frame fr = {.len = 12345, .prio = 678};
            ipc__frame_encode(hdr, lens[i], prios[j]);
            assert_int_equal(ipc__frame_decode(hdr, lens[i], &fr), IPC_OK);
            assert_int_equal(fr.len, lens[i]);
            assert_int_equal(fr.prio, prios[j]);
            assert_int_equal(ipc__frame_decode(hdr, 64u << 20, &fr), IPC_OK);
            assert_int_equal(fr.len, lens[i]);
        }
    }
}

static void decode_proto(const unsigned char hdr[IPC_FRAME_HDR], size_t max_msg)
{
    struct ipc_frame fr;
    ipc__clear_detail();
    assert_int_equal(ipc__frame_decode(hdr, max_msg, &fr), IPC_EPROTO);
    assert_true(ipc_last_detail()[0] != '\0');
}

static void test_bad_magic(void **state)
{
    (void)state;
    for (int byte = 0; byte < 4; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            unsigned char hdr[IPC_FRAME_HDR];
            ipc__frame_encode(hdr, 10, 0);
            hdr[byte] ^= (unsigned char)(1u << bit);
            decode_proto(hdr, 4096);
        }
    }
    unsigned char hdr[IPC_FRAME_HDR] = {0};
    decode_proto(hdr, 4096);
    /* Big-endian magic is not the magic. */
    ipc__frame_encode(hdr, 10, 0);
    memcpy(hdr, "1CPI", 4);
    decode_proto(hdr, 4096);
}

static void test_reserved_bits(void **state)
{
    (void)state;
    for (int byte = 5; byte < 8; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            unsigned char hdr[IPC_FRAME_HDR];
            ipc__frame_encode(hdr, 10, 3);
            hdr[byte] |= (unsigned char)(1u << bit);
            decode_proto(hdr, 4096);
        }
    }
}

static void test_too_long(void **state)
{
    (void)state;
    unsigned char hdr[IPC_FRAME_HDR];
    struct ipc_frame fr;
    ipc__frame_encode(hdr, 4096, 0);
    assert_int_equal(ipc__frame_decode(hdr, 4096, &fr), IPC_OK);
    decode_proto(hdr, 4095);
    decode_proto(hdr, 0);

    /* A peer claiming 4 GiB, or every bit of the length set. */
    ipc__frame_encode(hdr, 0, 0);
    hdr[12] = 1;
    decode_proto(hdr, 64u << 20);
    memset(hdr + 8, 0xff, 8);
    decode_proto(hdr, 64u << 20);
    decode_proto(hdr, SIZE_MAX - 1);
    /* High bits set with a small low word: not a small length. */
    ipc__frame_encode(hdr, 5, 0);
    hdr[15] = 0x80;
    decode_proto(hdr, 64u << 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),    cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_magic), cmocka_unit_test(test_reserved_bits),
        cmocka_unit_test(test_too_long),
    };
    return cmocka_run_group_tests_name("unit.frame", tests, NULL, NULL);
}
