/*
 * The Internet checksum (RFC 1071): known vectors, odd lengths, the all-ones
 * case, and the pseudo-header.
 */
#include <check.h>
#include <string.h>
#include "wire.h"

START_TEST(rfc1071_example_sums_to_ddf2)
{
    /* RFC 1071 section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2. */
    const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    ck_assert_uint_eq(csum_fold(csum_partial(d, sizeof d, 0)), (uint16_t)~0xddf2);
}
END_TEST

START_TEST(odd_length_pads_last_byte_with_zero)
{
    const uint8_t odd[] = {0x12, 0x34, 0x56};
    const uint8_t even[] = {0x12, 0x34, 0x56, 0x00};
    ck_assert_uint_eq(inet_checksum(odd, sizeof odd), inet_checksum(even, sizeof even));
    ck_assert_uint_eq(inet_checksum(odd, sizeof odd), (uint16_t)~(0x1234 + 0x5600));
}
END_TEST

START_TEST(all_ones_data_checksums_to_zero)
{
    uint8_t d[64];
    memset(d, 0xff, sizeof d);
    ck_assert_uint_eq(inet_checksum(d, sizeof d), 0x0000);
}
END_TEST

START_TEST(header_with_its_checksum_verifies_to_zero)
{
    /* A real IPv4 header (from a capture), checksum b861. */
    uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                     0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    ck_assert_uint_eq(inet_checksum(h, sizeof h), 0);
    h[10] = h[11] = 0;
    ck_assert_uint_eq(inet_checksum(h, sizeof h), 0xb861);
}
END_TEST

START_TEST(partial_sums_compose_at_even_boundaries)
{
    uint8_t d[1001];
    for (size_t i = 0; i < sizeof d; i++)
        d[i] = (uint8_t)(i * 7 + 3);
    uint32_t s = csum_partial(d, 500, 0);
    s = csum_partial(d + 500, 501, s);
    ck_assert_uint_eq(csum_fold(s), inet_checksum(d, sizeof d));
}
END_TEST

START_TEST(pseudo_header_sums_addresses_protocol_and_length)
{
    uint32_t src, dst;
    const uint8_t s4[4] = {10, 0, 0, 1}, d4[4] = {10, 0, 0, 2};
    memcpy(&src, s4, 4);
    memcpy(&dst, d4, 4);
    uint32_t want = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 17 + 12;
    ck_assert_uint_eq(csum_fold(csum_pseudo(src, dst, 17, 12)), (uint16_t)~want);
}
END_TEST

Suite *suite_checksum(void)
{
    Suite *s = suite_create("checksum");
    TCase *tc = tcase_create("checksum");
    tcase_add_test(tc, rfc1071_example_sums_to_ddf2);
    tcase_add_test(tc, odd_length_pads_last_byte_with_zero);
    tcase_add_test(tc, all_ones_data_checksums_to_zero);
    tcase_add_test(tc, header_with_its_checksum_verifies_to_zero);
    tcase_add_test(tc, partial_sums_compose_at_even_boundaries);
    tcase_add_test(tc, pseudo_header_sums_addresses_protocol_and_length);
    suite_add_tcase(s, tc);
    return s;
}
