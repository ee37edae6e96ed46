/*
 * reservoir: every row offered is in the sample with probability
 * capacity / rows (checked over many seeds), a short stream is kept whole
 * and in order, and the same rng and label give the same sample.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "reservoir.h"

static void offer(Reservoir *reservoir, size_t rows)
{
    Error err;
    for (size_t r = 0; r < rows; r++) {
        float value[2] = {(float)r, -(float)r};
        assert_int_equal(reservoir_row(reservoir, NULL, 0, (int64_t)r, value, &err), ERR_OK);
    }
}

static void test_every_row_equally_likely(void **state)
{
    (void)state;
    enum { ROWS = 100, CAPACITY = 10, TRIALS = 4000 };
    unsigned kept[ROWS] = {0};
    Rng rng;
    Error err;
    for (int t = 0; t < TRIALS; t++) {
        rng_init(&rng, (uint64_t)t);
        Reservoir reservoir;
        assert_int_equal(reservoir_init(&reservoir, CAPACITY, 2, &rng, 7, &err), ERR_OK);
        offer(&reservoir, ROWS);
        assert_int_equal(reservoir_rows(&reservoir), CAPACITY);
        for (size_t i = 0; i < CAPACITY; i++) {
            float value = reservoir.sample[i * 2];
            assert_true(value >= 0 && value < ROWS);
            assert_true(reservoir.sample[i * 2 + 1] == -value); /* rows copied whole */
            kept[(size_t)value]++;
        }
        reservoir_release(&reservoir);
    }
    /* Binomial(4000, 0.1): mean 400, sd 19; 5 sd either side. */
    for (int r = 0; r < ROWS; r++) {
        assert_in_range(kept[r], 305, 495);
    }
}

static void test_short_stream_kept_whole_and_reproducible(void **state)
{
    (void)state;
    Rng rng;
    Error err;
    rng_init(&rng, 3);
    Reservoir a, b;
    assert_int_equal(reservoir_init(&a, 50, 2, &rng, 1, &err), ERR_OK);
    offer(&a, 20);
    assert_int_equal(reservoir_rows(&a), 20);
    for (size_t i = 0; i < 20; i++)
        assert_true(a.sample[i * 2] == (float)i);
    reservoir_release(&a);

    assert_int_equal(reservoir_init(&a, 8, 2, &rng, 1, &err), ERR_OK);
    assert_int_equal(reservoir_init(&b, 8, 2, &rng, 1, &err), ERR_OK);
    offer(&a, 1000);
    offer(&b, 1000);
    assert_memory_equal(a.sample, b.sample, 8 * 2 * sizeof(float));
    reservoir_release(&a);
    reservoir_release(&b);
    reservoir_release(&b); /* twice is allowed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row_equally_likely),
        cmocka_unit_test(test_short_stream_kept_whole_and_reproducible),
    };
    return cmocka_run_group_tests_name("reservoir", tests, NULL, NULL);
}
