/*
 * reservoir: every row offered is in the sample with probability
 * capacity / rows (checked over many seeds), a short stream is kept whole
 * and in order, and the same rng and label give the same sample. A set
 * shared by streams keeps the same rows, in the same order, however many
 * streams offer them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "numeric/reservoir.h"

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

/* The shares of a split sample: within one row of proportional, never more
 * than a part has, adding up to min(capacity, rows); over random splits. */
static void test_split_is_proportional_and_exact(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 77);
    for (int trial = 0; trial < 2000; trial++) {
        int parts = 1 + (int)rng_below(&rng, 8);
        uint64_t rows[8], total = 0;
        for (int p = 0; p < parts; p++) {
            /* some empty parts, some huge (capacity * rows overflows 64 bits) */
            uint64_t kind = rng_below(&rng, 4);
            rows[p] = kind == 0 ? 0 : kind == 3 ? (uint64_t)1 << 40 : rng_below(&rng, 100000);
            total += rows[p];
        }
        size_t capacity = trial % 3 == 0 ? (size_t)rng_below(&rng, 50)
                                         : (size_t)rng_below(&rng, (uint64_t)1 << 34);
        size_t share[8];
        reservoir_split(capacity, rows, parts, share);
        uint64_t sum = 0;
        for (int p = 0; p < parts; p++) {
            assert_true(share[p] <= rows[p]);
            double exact = total > capacity ? (double)capacity * (double)rows[p] / (double)total
                                            : (double)rows[p];
            if (!((double)share[p] > exact - 1.0 - 1e-6 * exact
                  && (double)share[p] < exact + 1.0 + 1e-6 * exact))
                fail_msg("trial %d part %d: share %zu, proportional %.3f", trial, p, share[p], exact);
            sum += share[p];
        }
        assert_int_equal(sum, total < capacity ? total : capacity);
    }
}

/* Reservoirs over slices of one block write only their own slice. */
static void test_reservoirs_into_one_block_stay_in_their_slices(void **state)
{
    (void)state;
    enum { DIM = 2 };
    float block[(3 + 4) * DIM + 2];
    Rng rng;
    rng_init(&rng, 5);
    block[0] = 99.0f;                 /* guard before */
    block[1 + (3 + 4) * DIM] = 99.0f; /* guard after */
    Reservoir first, second;
    reservoir_init_into(&first, block + 1, 3, DIM, &rng, 1);
    reservoir_init_into(&second, block + 1 + 3 * DIM, 4, DIM, &rng, 2);
    offer(&first, 50);
    offer(&second, 2); /* short: kept whole */
    assert_int_equal(reservoir_rows(&first), 3);
    assert_int_equal(reservoir_rows(&second), 2);
    for (size_t r = 0; r < 3; r++)
        assert_true(block[1 + r * DIM] == -block[1 + r * DIM + 1]);
    assert_true(block[1 + 3 * DIM] == 0.0f && block[1 + 4 * DIM] == 1.0f);
    assert_true(block[0] == 99.0f && block[1 + (3 + 4) * DIM] == 99.0f);
    reservoir_release(&first); /* the block is the caller's: not freed */
    reservoir_release(&second);
}

/* Offers rows first..last-1 of a set (id "row-N", values N and -N) through
 * the context stream got from reservoir_set_partitions. */
static void offer_ids(void *context, int first, int last)
{
    Error err;
    for (int r = first; r < last; r++) {
        char id[32];
        int length = snprintf(id, sizeof id, "row-%d", r);
        float row[2] = {(float)r, -(float)r};
        assert_int_equal(reservoir_set_row(context, id, (size_t)length, r, row, &err), ERR_OK);
    }
}

/* A set's sample over `streams` streams, rows dealt out to them by `deal`
 * (0: in blocks, 1: round robin, 2: in reverse); the gathered values. */
static size_t set_sample(int streams, int deal, int rows, size_t capacity, uint64_t seed,
                         float *out)
{
    Rng rng;
    Error err;
    ReservoirSet set;
    void *contexts[8];
    uint64_t counted[8] = {0};
    rng_init(&rng, seed);
    assert_int_equal(reservoir_set_init(&set, capacity, 2, streams, &rng, 40, &err), ERR_OK);
    assert_int_equal(reservoir_set_partitions(&set, counted, streams, contexts, &err), ERR_OK);
    for (int r = 0; r < rows; r++) {
        int stream = deal == 0 ? r * streams / rows : r % streams;
        int row = deal == 2 ? rows - 1 - r : r;
        offer_ids(contexts[stream], row, row + 1);
    }
    size_t kept = reservoir_set_gather(&set);
    for (size_t k = 0; k < kept; k++) {
        assert_true(set.sample[k * 2 + 1] == -set.sample[k * 2]); /* rows whole */
        if (k > 0)
            assert_true(set.hash[k - 1] < set.hash[k]); /* in hash order */
        out[k] = set.sample[k * 2];
    }
    reservoir_set_release(&set);
    reservoir_set_release(&set); /* a second release does nothing */
    return kept;
}

/* The sample depends on the ids and the seed only: the same rows in the
 * same order over 1, 2, 3 or 5 streams, however the rows are dealt out. */
static void test_set_sample_is_the_same_over_any_streams(void **state)
{
    (void)state;
    enum { ROWS = 1000, CAPACITY = 64 };
    float first[CAPACITY], other[CAPACITY];
    assert_int_equal(set_sample(1, 0, ROWS, CAPACITY, 5, first), CAPACITY);
    const int streams[] = {1, 2, 3, 5};
    for (int s = 0; s < 4; s++)
        for (int deal = 0; deal < 3; deal++) {
            assert_int_equal(set_sample(streams[s], deal, ROWS, CAPACITY, 5, other), CAPACITY);
            assert_memory_equal(first, other, sizeof first);
        }
    /* another seed, another sample */
    set_sample(1, 0, ROWS, CAPACITY, 6, other);
    assert_memory_not_equal(first, other, sizeof first);
    /* fewer rows than the capacity: all of them */
    assert_int_equal(set_sample(3, 1, 20, CAPACITY, 5, other), 20);
}

/* Threads offering at once: rows r = t, t + 4, ... from thread t. */
typedef struct Offering {
    void *context;
    int thread, rows;
} Offering;

static void *offer_thread(void *argument)
{
    Offering *offering = argument;
    for (int r = offering->thread; r < offering->rows; r += 4)
        offer_ids(offering->context, r, r + 1);
    return NULL;
}

/* Four threads offering at once keep the same sample as one stream. */
static void test_set_sample_is_the_same_from_threads(void **state)
{
    (void)state;
    enum { ROWS = 20000, CAPACITY = 300 };
    static float first[CAPACITY];
    assert_int_equal(set_sample(1, 0, ROWS, CAPACITY, 9, first), CAPACITY);
    Rng rng;
    Error err;
    ReservoirSet set;
    void *contexts[4];
    rng_init(&rng, 9);
    assert_int_equal(reservoir_set_init(&set, CAPACITY, 2, 4, &rng, 40, &err), ERR_OK);
    assert_int_equal(reservoir_set_partitions(&set, NULL, 4, contexts, &err), ERR_OK);
    pthread_t threads[4];
    Offering offerings[4];
    for (int t = 0; t < 4; t++) {
        offerings[t] = (Offering){contexts[t], t, ROWS};
        assert_int_equal(pthread_create(&threads[t], NULL, offer_thread, &offerings[t]), 0);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(threads[t], NULL);
    assert_int_equal(reservoir_set_gather(&set), CAPACITY);
    assert_int_equal(set.seen, ROWS);
    for (size_t k = 0; k < CAPACITY; k++)
        assert_true(set.sample[k * 2] == first[k]);
    reservoir_set_release(&set);
}

/* Every row is kept with probability capacity / rows (over many seeds). */
static void test_set_keeps_every_row_equally_likely(void **state)
{
    (void)state;
    enum { ROWS = 100, CAPACITY = 10, TRIALS = 4000 };
    unsigned kept[ROWS] = {0};
    float sample[CAPACITY];
    for (int t = 0; t < TRIALS; t++) {
        assert_int_equal(set_sample(2, 1, ROWS, CAPACITY, (uint64_t)t, sample), CAPACITY);
        for (size_t i = 0; i < CAPACITY; i++)
            kept[(size_t)sample[i]]++;
    }
    /* Binomial(4000, 0.1): mean 400, sd 19; 5 sd either side. */
    for (int r = 0; r < ROWS; r++) {
        assert_in_range(kept[r], 305, 495);
    }
}

/* A set refuses to be read by another number of streams than it was set up for. */
static void test_set_checks_its_stream_count(void **state)
{
    (void)state;
    Rng rng;
    Error err;
    ReservoirSet set;
    void *contexts[3];
    const uint64_t counted[3] = {10, 0, 30};
    rng_init(&rng, 8);
    assert_int_equal(reservoir_set_init(&set, 5, 2, 1, &rng, 40, &err), ERR_OK);
    assert_int_equal(reservoir_set_partitions(&set, NULL, 1, contexts, &err), ERR_OK);
    assert_ptr_equal(contexts[0], &set);
    assert_int_not_equal(reservoir_set_partitions(&set, counted, 3, contexts, &err), ERR_OK);
    reservoir_set_release(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row_equally_likely),
        cmocka_unit_test(test_short_stream_kept_whole_and_reproducible),
        cmocka_unit_test(test_split_is_proportional_and_exact),
        cmocka_unit_test(test_reservoirs_into_one_block_stay_in_their_slices),
        cmocka_unit_test(test_set_sample_is_the_same_over_any_streams),
        cmocka_unit_test(test_set_sample_is_the_same_from_threads),
        cmocka_unit_test(test_set_keeps_every_row_equally_likely),
        cmocka_unit_test(test_set_checks_its_stream_count),
    };
    return cmocka_run_group_tests_name("reservoir", tests, NULL, NULL);
}
