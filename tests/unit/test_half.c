/*
 * half: every one of the 65,536 halves converts to the float of the same
 * value (an independent reference in double arithmetic for the finite
 * ones), the F16C and portable paths agree bit for bit on all of them in
 * both byte orders and at any length and alignment, and finite halves keep
 * their order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"

#define HALVES 65536

static uint32_t float_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

/* The value of a finite half from its fields, in double (exact there). */
static double reference_value(uint16_t half)
{
    int exponent = (half >> 10) & 0x1F;
    int mantissa = half & 0x3FF;
    double magnitude = exponent == 0 ? ldexp(mantissa, -24) : ldexp(1024 + mantissa, exponent - 25);
    return (half & 0x8000) ? -magnitude : magnitude;
}

/* All halves, as bytes in the given order. */
static unsigned char *all_halves(HalfOrder order)
{
    unsigned char *bytes = malloc(2 * HALVES);
    assert_non_null(bytes);
    for (unsigned h = 0; h < HALVES; h++) {
        bytes[2 * h + (order == HALF_BIG_ENDIAN ? 0 : 1)] = (unsigned char)(h >> 8);
        bytes[2 * h + (order == HALF_BIG_ENDIAN ? 1 : 0)] = (unsigned char)(h & 0xFF);
    }
    return bytes;
}

static void test_every_half_exact(void **state)
{
    (void)state;
    for (unsigned h = 0; h < HALVES; h++) {
        float value = half_to_float((uint16_t)h);
        bool special = ((h >> 10) & 0x1F) == 0x1F;
        if (!special) {
            assert_true((double)value == reference_value((uint16_t)h));
            assert_int_equal(signbit(value) != 0, (h & 0x8000) != 0); /* -0 stays -0 */
        } else if ((h & 0x3FF) == 0) {
            assert_true(isinf(value));
            assert_int_equal(value < 0, (h & 0x8000) != 0);
        } else {
            assert_true(isnan(value));
        }
    }
}

static void test_known_values(void **state)
{
    (void)state;
    assert_true(half_to_float(0x3C00) == 1.0f);
    assert_true(half_to_float(0xC000) == -2.0f);
    assert_true(half_to_float(0x7BFF) == 65504.0f);           /* largest finite */
    assert_true(half_to_float(0x0400) == 0x1p-14f);           /* smallest normal */
    assert_true(half_to_float(0x0001) == 0x1p-24f);           /* smallest subnormal */
    assert_true(half_to_float(0x03FF) == 1023 * 0x1p-24f);    /* largest subnormal */
    assert_true(half_to_float(0x3555) == 0x1.554p-2f);        /* about 1/3 */
    assert_int_equal(float_bits(half_to_float(0x8000)), 0x80000000u);
    assert_int_equal(float_bits(half_to_float(0x7C00)), 0x7F800000u);
    assert_int_equal(float_bits(half_to_float(0xFC00)), 0xFF800000u);
    assert_int_equal(float_bits(half_to_float(0x7E00)), 0x7FC00000u);
    /* a signalling NaN comes back quiet, its payload kept */
    assert_int_equal(float_bits(half_to_float(0x7C01)), 0x7FC02000u);
}

static void test_finite_halves_keep_their_order(void **state)
{
    (void)state;
    for (unsigned h = 1; h <= 0x7BFF; h++) {
        assert_true(half_to_float((uint16_t)h) > half_to_float((uint16_t)(h - 1)));
        assert_true(half_to_float((uint16_t)(h | 0x8000)) < half_to_float((uint16_t)((h - 1) | 0x8000)));
    }
}

/* The bytes' halves by the portable path, one by one, as the reference. */
static void check_path(HalfPath path, HalfOrder order)
{
    unsigned char *bytes = all_halves(order);
    float *got = malloc(sizeof(float) * HALVES);
    assert_non_null(got);
    half_decode_path(path, bytes, HALVES, order, got);
    for (unsigned h = 0; h < HALVES; h++)
        assert_int_equal(float_bits(got[h]), float_bits(half_to_float((uint16_t)h)));
    /* Short and odd lengths, unaligned starts: the vector loop's tails. */
    for (size_t start = 0; start < 9; start++) {
        for (size_t count = 0; count < 40; count++) {
            float out[41];
            out[count] = 12345.0f;
            unsigned char *from = bytes + 2 * (0x3BF0 + start) + 0; /* halves near 1.0 */
            half_decode_path(path, from, count, order, out);
            for (size_t i = 0; i < count; i++)
                assert_int_equal(float_bits(out[i]),
                                 float_bits(half_to_float((uint16_t)(0x3BF0 + start + i))));
            assert_true(out[count] == 12345.0f); /* nothing written past count */
        }
    }
    /* An odd byte offset: alignment is the path's own business. */
    unsigned char *shifted = malloc(2 * HALVES + 1);
    assert_non_null(shifted);
    memcpy(shifted + 1, bytes, 2 * HALVES);
    half_decode_path(path, shifted + 1, HALVES, order, got);
    for (unsigned h = 0; h < HALVES; h++)
        assert_int_equal(float_bits(got[h]), float_bits(half_to_float((uint16_t)h)));
    free(shifted);
    free(got);
    free(bytes);
}

static void test_portable_path_every_half(void **state)
{
    (void)state;
    check_path(HALF_PATH_PORTABLE, HALF_BIG_ENDIAN);
    check_path(HALF_PATH_PORTABLE, HALF_LITTLE_ENDIAN);
}

static void test_f16c_path_matches_portable(void **state)
{
    (void)state;
    if (!half_path_available(HALF_PATH_F16C))
        skip(); /* reported by cmocka as skipped, not passed */
    check_path(HALF_PATH_F16C, HALF_BIG_ENDIAN);
    check_path(HALF_PATH_F16C, HALF_LITTLE_ENDIAN);
}

static void test_default_path_matches_portable(void **state)
{
    (void)state;
    unsigned char *bytes = all_halves(HALF_BIG_ENDIAN);
    float *got = malloc(sizeof(float) * HALVES);
    assert_non_null(got);
    half_decode(bytes, HALVES, HALF_BIG_ENDIAN, got);
    for (unsigned h = 0; h < HALVES; h++)
        assert_int_equal(float_bits(got[h]), float_bits(half_to_float((uint16_t)h)));
    free(got);
    free(bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_half_exact),
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_finite_halves_keep_their_order),
        cmocka_unit_test(test_portable_path_every_half),
        cmocka_unit_test(test_f16c_path_matches_portable),
        cmocka_unit_test(test_default_path_matches_portable),
    };
    return cmocka_run_group_tests_name("half", tests, NULL, NULL);
}
