/*
 * permute: rows end where the order says, whatever the cycles and however
 * many ranges (threads) share them: one long cycle cut by every boundary,
 * many short ones, fixed points, ranges with nothing to do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/permute.h"
#include "core/rng.h"

#define DIM 5

/* Row r holds r * 10 + d; after permute_rows row k must hold from[k]'s. */
static void check(const uint32_t *from, size_t count, int threads)
{
    float *matrix = malloc(count * DIM * sizeof *matrix + 1);
    assert_non_null(matrix);
    for (size_t r = 0; r < count; r++)
        for (int d = 0; d < DIM; d++)
            matrix[r * DIM + d] = (float)(r * 10 + (size_t)d);
    Error err;
    error_clear(&err);
    assert_int_equal(permute_rows(matrix, DIM, from, count, threads, &err), ERR_OK);
    for (size_t k = 0; k < count; k++)
        for (int d = 0; d < DIM; d++)
            assert_true(matrix[k * DIM + d] == (float)((size_t)from[k] * 10 + (size_t)d));
    free(matrix);
}

static void shuffle(uint32_t *from, size_t count, Rng *rng)
{
    for (size_t i = 0; i < count; i++)
        from[i] = (uint32_t)i;
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)rng_below(rng, i);
        uint32_t t = from[i - 1];
        from[i - 1] = from[j];
        from[j] = t;
    }
}

static void test_random_orders_any_thread_count(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 11);
    static const size_t counts[] = {0, 1, 2, 3, 7, 64, 1000, 4099};
    uint32_t *from = malloc(4099 * sizeof *from);
    assert_non_null(from);
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++)
        for (int threads = 0; threads <= 9; threads++)
            for (int round = 0; round < 3; round++) {
                shuffle(from, counts[c], &rng);
                check(from, counts[c], threads);
            }
    free(from);
}

/* One cycle through every row: each range starts inside it. */
static void test_one_cycle_cut_by_every_range(void **state)
{
    (void)state;
    enum { COUNT = 1001 };
    uint32_t from[COUNT];
    for (size_t k = 0; k < COUNT; k++)
        from[k] = (uint32_t)((k + 1) % COUNT);
    for (int threads = 1; threads <= 8; threads++)
        check(from, COUNT, threads);
    for (size_t k = 0; k < COUNT; k++) /* the other direction, and a stride */
        from[k] = (uint32_t)((k + COUNT - 1) % COUNT);
    for (int threads = 1; threads <= 8; threads++)
        check(from, COUNT, threads);
}

/* Swaps, fixed points and a long cycle together; the identity moves nothing. */
static void test_mixed_cycles_and_identity(void **state)
{
    (void)state;
    enum { COUNT = 600 };
    uint32_t from[COUNT];
    for (size_t k = 0; k < COUNT; k++)
        from[k] = (uint32_t)k;
    for (int threads = 1; threads <= 4; threads++)
        check(from, COUNT, threads);
    for (size_t k = 0; k + 1 < 200; k += 2) { /* 100 swaps */
        from[k] = (uint32_t)(k + 1);
        from[k + 1] = (uint32_t)k;
    }
    for (size_t k = 300; k < COUNT; k++) /* one cycle of 300, after 100 fixed points */
        from[k] = (uint32_t)(k + 1 < COUNT ? k + 1 : 300);
    for (int threads = 1; threads <= 8; threads++)
        check(from, COUNT, threads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_orders_any_thread_count),
        cmocka_unit_test(test_one_cycle_cut_by_every_range),
        cmocka_unit_test(test_mixed_cycles_and_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
