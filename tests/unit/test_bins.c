/*
 * Properties of the bins module over many random inputs: fixed bins cover
 * [min, max] in exactly `bins` equal-width intervals; quantile bins are
 * ordered, never split equal scores, never empty, as many as bins allow
 * and balanced in size; grouped bins never mix groups and are numbered
 * densely. Includes the seed prototype's binning defects as regressions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "numeric/bins.h"
#include "core/rng.h"

#define CASES 200

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * count scores of a random kind (0..5): uniform on a random interval,
 * normal, small integers (heavy ties), a few values with one dominating,
 * one top value dominating distinct ones, or a constant.
 */
static void random_scores(Rng *rng, double *scores, size_t count, int kind)
{
    double offset = rng_normal(rng) * 100.0;
    double spread = 0.001 + rng_uniform(rng) * 50.0;
    size_t levels = 1 + (size_t)rng_below(rng, 12);
    for (size_t i = 0; i < count; i++) {
        switch (kind) {
        case 0:
            scores[i] = offset + spread * rng_uniform(rng);
            break;
        case 1:
            scores[i] = offset + spread * rng_normal(rng);
            break;
        case 2:
            scores[i] = (double)rng_below(rng, levels);
            break;
        case 3:
            scores[i] = rng_uniform(rng) < 0.7 ? 1.5 : (double)rng_below(rng, levels);
            break;
        case 4:
            /* Mostly one top score, the rest distinct below it. */
            scores[i] = offset + spread * (rng_uniform(rng) < 0.8 ? 1.0 : 0.99 * rng_uniform(rng));
            break;
        default:
            scores[i] = offset;
            break;
        }
    }
}

/* Distinct scores in random order: a shuffled, strictly increasing sequence. */
static void distinct_scores(Rng *rng, double *scores, size_t count)
{
    double value = rng_normal(rng);
    for (size_t i = 0; i < count; i++) {
        value += 0.001 + rng_uniform(rng);
        scores[i] = value;
    }
    rng_shuffle(rng, scores, count, sizeof *scores);
}

static size_t distinct_count(const double *scores, size_t count)
{
    double *sorted = malloc((count + 1) * sizeof *sorted);
    size_t distinct = 0;
    assert_non_null(sorted);
    memcpy(sorted, scores, count * sizeof *sorted);
    qsort(sorted, count, sizeof *sorted, compare_double);
    for (size_t i = 0; i < count; i++)
        if (i == 0 || sorted[i - 1] < sorted[i])
            distinct++;
    free(sorted);
    return distinct;
}

/* ---- fixed bins ---- */

/* Checks every fixed-bin property for one input. */
static void check_fixed(const double *scores, size_t count, int bins)
{
    int32_t *bin_of = malloc((count + 1) * sizeof *bin_of);
    Error err;
    assert_non_null(bin_of);
    assert_int_equal(bins_fixed(scores, count, bins, bin_of, &err), ERR_OK);
    if (count == 0) {
        free(bin_of);
        return;
    }
    double min = scores[0], max = scores[0];
    for (size_t i = 0; i < count; i++) {
        min = fmin(min, scores[i]);
        max = fmax(max, scores[i]);
    }
    double width = (max - min) / bins;
    for (size_t i = 0; i < count; i++) {
        int32_t bin = bin_of[i];
        assert_true(bin >= 0 && bin < bins);
        if (min == max) {
            assert_int_equal(bin, 0);
            continue;
        }
        if (scores[i] == min)
            assert_int_equal(bin, 0);
        if (scores[i] == max)
            assert_int_equal(bin, bins - 1);
        /* Inside its interval; the last one closed at max. */
        assert_true(scores[i] >= min + bin * width);
        if (bin < bins - 1)
            assert_true(scores[i] <= min + (bin + 1) * width);
        else
            assert_true(scores[i] <= max);
    }
    /* Higher score, never a lower bin. */
    for (size_t i = 1; i < count; i++) {
        if (scores[i - 1] < scores[i])
            assert_true(bin_of[i - 1] <= bin_of[i]);
        if (scores[i - 1] == scores[i])
            assert_int_equal(bin_of[i - 1], bin_of[i]);
    }
    free(bin_of);
}

static void test_fixed_bins_cover_the_range_in_equal_widths(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 11);
    for (int trial = 0; trial < CASES; trial++) {
        size_t count = (size_t)rng_below(&rng, 1500);
        int bins = 1 + (int)rng_below(&rng, 40);
        double *scores = malloc((count + 1) * sizeof *scores);
        assert_non_null(scores);
        random_scores(&rng, scores, count, (int)rng_below(&rng, 6));
        check_fixed(scores, count, bins);
        free(scores);
    }
}

/* Prototype defect 3: linspace(min, max, n-1) left the first bin empty and
 * the maximum alone in the last. */
static void test_fixed_bins_uniform_sample_fills_every_bin(void **state)
{
    (void)state;
    enum { COUNT = 10000, BINS = 10 };
    double *scores = malloc(COUNT * sizeof *scores);
    int32_t *bin_of = malloc(COUNT * sizeof *bin_of);
    size_t per_bin[BINS] = {0};
    Error err;
    Rng rng;
    assert_non_null(scores);
    assert_non_null(bin_of);
    rng_init(&rng, 3);
    for (size_t i = 0; i < COUNT; i++)
        scores[i] = rng_uniform(&rng);
    assert_int_equal(bins_fixed(scores, COUNT, BINS, bin_of, &err), ERR_OK);
    for (size_t i = 0; i < COUNT; i++)
        per_bin[bin_of[i]]++;
    for (int j = 0; j < BINS; j++) {
        assert_true(per_bin[j] > 850);
        assert_true(per_bin[j] < 1150);
    }
    free(scores);
    free(bin_of);
}

static void test_fixed_bins_special_inputs(void **state)
{
    (void)state;
    double equal[5] = {2.5, 2.5, 2.5, 2.5, 2.5};
    double extreme[3] = {-DBL_MAX, DBL_MAX, 0.0};
    double two[2] = {1.0, 2.0};
    int32_t bin_of[5];
    Error err;

    /* All equal: one bin. */
    assert_int_equal(bins_fixed(equal, 5, 4, bin_of, &err), ERR_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(bin_of[i], 0);
    /* Nothing to bin. */
    assert_int_equal(bins_fixed(equal, 0, 4, bin_of, &err), ERR_OK);
    /* A range wider than DBL_MAX does not overflow into NaN bins. */
    assert_int_equal(bins_fixed(extreme, 3, 4, bin_of, &err), ERR_OK);
    assert_int_equal(bin_of[0], 0);
    assert_int_equal(bin_of[1], 3);
    assert_int_equal(bin_of[2], 2);
    /* One bin: everything in it. */
    assert_int_equal(bins_fixed(two, 2, 1, bin_of, &err), ERR_OK);
    assert_int_equal(bin_of[0], 0);
    assert_int_equal(bin_of[1], 0);
    /* More bins than scores: min first, max last. */
    assert_int_equal(bins_fixed(two, 2, 7, bin_of, &err), ERR_OK);
    assert_int_equal(bin_of[0], 0);
    assert_int_equal(bin_of[1], 6);
}

static void test_fixed_bins_errors(void **state)
{
    (void)state;
    double scores[4] = {1.0, 2.0, NAN, 3.0};
    double infinite[2] = {1.0, -INFINITY};
    int32_t bin_of[4];
    Error err;

    assert_int_equal(bins_fixed(scores, 2, 0, bin_of, &err), ERR_CONFIG);
    assert_int_equal(err.code, ERR_CONFIG);
    assert_int_equal(bins_fixed(scores, 2, -3, bin_of, &err), ERR_CONFIG);
    assert_int_equal(bins_fixed(scores, 4, 3, bin_of, &err), ERR_DATA);
    assert_non_null(strstr(err.message, "image 2"));
    assert_int_equal(bins_fixed(infinite, 2, 3, bin_of, &err), ERR_DATA);
    assert_non_null(strstr(err.message, "image 1"));
}

/* ---- quantile bins ---- */

typedef struct Binned {
    int32_t *bin_of;
    int32_t bin_count;
    size_t *size;  /* per bin */
    double *low;   /* per bin: lowest score */
    double *high;  /* per bin: highest score */
} Binned;

/* Runs bins_quantile and checks what must hold for any input. */
static void quantile_checked(const double *scores, size_t count, int bins, Binned *binned)
{
    Error err;
    binned->bin_of = malloc((count + 1) * sizeof *binned->bin_of);
    assert_non_null(binned->bin_of);
    binned->bin_count = -1;
    assert_int_equal(bins_quantile(scores, count, bins, binned->bin_of, &binned->bin_count, &err),
                     ERR_OK);
    int32_t bin_count = binned->bin_count;
    size_t distinct = distinct_count(scores, count);

    /* As many bins as the distinct scores allow, never more than asked. */
    assert_true(bin_count <= bins);
    assert_int_equal((size_t)bin_count, distinct < (size_t)bins ? distinct : (size_t)bins);

    binned->size = calloc((size_t)bin_count + 1, sizeof *binned->size);
    binned->low = malloc(((size_t)bin_count + 1) * sizeof *binned->low);
    binned->high = malloc(((size_t)bin_count + 1) * sizeof *binned->high);
    assert_non_null(binned->size);
    assert_non_null(binned->low);
    assert_non_null(binned->high);
    for (size_t i = 0; i < count; i++) {
        int32_t bin = binned->bin_of[i];
        assert_true(bin >= 0 && bin < bin_count);
        if (binned->size[bin]++ == 0) {
            binned->low[bin] = binned->high[bin] = scores[i];
        } else {
            binned->low[bin] = fmin(binned->low[bin], scores[i]);
            binned->high[bin] = fmax(binned->high[bin], scores[i]);
        }
    }
    /* None empty; each bin wholly below the next, so equal scores share a bin. */
    for (int32_t j = 0; j < bin_count; j++) {
        assert_true(binned->size[j] > 0);
        if (j + 1 < bin_count)
            assert_true(binned->high[j] < binned->low[j + 1]);
    }
}

static void binned_free(Binned *binned)
{
    free(binned->bin_of);
    free(binned->size);
    free(binned->low);
    free(binned->high);
}

static void assert_sizes_within_one(const Binned *binned)
{
    size_t smallest = SIZE_MAX, largest = 0;
    for (int32_t j = 0; j < binned->bin_count; j++) {
        if (binned->size[j] < smallest)
            smallest = binned->size[j];
        if (binned->size[j] > largest)
            largest = binned->size[j];
    }
    assert_true(largest - smallest <= 1);
}

static void check_distinct_case(Rng *rng, size_t count, int bins)
{
    double *scores = malloc((count + 1) * sizeof *scores);
    Binned binned;
    assert_non_null(scores);
    distinct_scores(rng, scores, count);
    quantile_checked(scores, count, bins, &binned);
    assert_int_equal(binned.bin_count, count < (size_t)bins ? (int32_t)count : bins);
    if (count > 0)
        assert_sizes_within_one(&binned);
    binned_free(&binned);
    free(scores);
}

/* Prototype defect 2: n + 1 bins when N divides evenly. */
static void test_quantile_without_ties_gives_bins_of_equal_size(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 21);
    check_distinct_case(&rng, 100, 10);
    check_distinct_case(&rng, 101, 10);
    check_distinct_case(&rng, 7, 3);
    check_distinct_case(&rng, 3, 7); /* N < bins: one score per bin */
    check_distinct_case(&rng, 1, 1);
    for (int trial = 0; trial < CASES; trial++)
        check_distinct_case(&rng, (size_t)rng_below(&rng, 2000), 1 + (int)rng_below(&rng, 50));
}

/* Prototype defect 1 (argsort used as rank) would put the whole score range
 * in every bin; here each bin's range lies below the next one's. */
static void test_quantile_ties_never_split_and_bins_stay_ordered(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 22);
    for (int trial = 0; trial < CASES; trial++) {
        size_t count = (size_t)rng_below(&rng, 1500);
        int bins = 1 + (int)rng_below(&rng, 30);
        double *scores = malloc((count + 1) * sizeof *scores);
        Binned binned;
        assert_non_null(scores);
        random_scores(&rng, scores, count, (int)rng_below(&rng, 6));
        quantile_checked(scores, count, bins, &binned);
        binned_free(&binned);
        free(scores);
    }
}

/*
 * With runs of equal scores no longer than `run`, and bins much larger than
 * runs, every bin stays within `run` of the ideal size: the boundaries move
 * at most to the nearer end of the run they fall in.
 */
static void test_quantile_short_ties_keep_sizes_near_equal(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 23);
    for (int trial = 0; trial < CASES; trial++) {
        size_t run = 1 + (size_t)rng_below(&rng, 4);
        int bins = 1 + (int)rng_below(&rng, 20);
        size_t count = (size_t)bins * (8 * run + (size_t)rng_below(&rng, 60));
        double *scores = malloc((count + 1) * sizeof *scores);
        Binned binned;
        assert_non_null(scores);
        /* Runs of 1..run equal values, increasing, then shuffled. */
        double value = 0;
        for (size_t i = 0; i < count;) {
            size_t length = 1 + (size_t)rng_below(&rng, run);
            value += 0.5 + rng_uniform(&rng);
            for (size_t k = 0; k < length && i < count; k++)
                scores[i++] = value;
        }
        rng_shuffle(&rng, scores, count, sizeof *scores);
        quantile_checked(scores, count, bins, &binned);
        assert_int_equal(binned.bin_count, bins);
        size_t ideal_low = count / (size_t)bins;
        size_t ideal_high = (count + (size_t)bins - 1) / (size_t)bins;
        for (int32_t j = 0; j < binned.bin_count; j++) {
            assert_true(binned.size[j] + run >= ideal_low);
            assert_true(binned.size[j] <= ideal_high + run);
        }
        binned_free(&binned);
        free(scores);
    }
}

/* Bins depend on the scores only, not on their order. */
static void test_quantile_ignores_input_order(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 24);
    for (int trial = 0; trial < CASES; trial++) {
        size_t count = 1 + (size_t)rng_below(&rng, 800);
        int bins = 1 + (int)rng_below(&rng, 25);
        size_t *order = malloc(count * sizeof *order);
        double *scores = malloc(count * sizeof *scores);
        double *shuffled = malloc(count * sizeof *shuffled);
        int32_t *bin_of = malloc(count * sizeof *bin_of);
        int32_t *shuffled_bin = malloc(count * sizeof *shuffled_bin);
        int32_t bin_count, shuffled_count;
        Error err;
        assert_true(order && scores && shuffled && bin_of && shuffled_bin);
        random_scores(&rng, scores, count, (int)rng_below(&rng, 6));
        for (size_t i = 0; i < count; i++)
            order[i] = i;
        rng_shuffle(&rng, order, count, sizeof *order);
        for (size_t i = 0; i < count; i++)
            shuffled[i] = scores[order[i]];
        assert_int_equal(bins_quantile(scores, count, bins, bin_of, &bin_count, &err), ERR_OK);
        assert_int_equal(
            bins_quantile(shuffled, count, bins, shuffled_bin, &shuffled_count, &err), ERR_OK);
        assert_int_equal(bin_count, shuffled_count);
        for (size_t i = 0; i < count; i++)
            assert_int_equal(shuffled_bin[i], bin_of[order[i]]);
        free(order);
        free(scores);
        free(shuffled);
        free(bin_of);
        free(shuffled_bin);
    }
}

static void test_quantile_special_inputs(void **state)
{
    (void)state;
    double equal[6] = {4, 4, 4, 4, 4, 4};
    double few[4] = {1, 1, 2, 2};
    /* One dominant value: 3 bins asked, 3 bins given, whether the dominant
     * value is at the bottom or the top. */
    double skewed[10] = {5, 5, 5, 5, 5, 5, 5, 5, 6, 7};
    double top_heavy[10] = {1, 2, 3, 4, 4, 4, 4, 4, 4, 4};
    double with_nan[3] = {1, NAN, 2};
    int32_t bin_of[10], bin_count;
    Error err;

    assert_int_equal(bins_quantile(equal, 6, 3, bin_of, &bin_count, &err), ERR_OK);
    assert_int_equal(bin_count, 1);
    for (int i = 0; i < 6; i++)
        assert_int_equal(bin_of[i], 0);

    assert_int_equal(bins_quantile(few, 4, 10, bin_of, &bin_count, &err), ERR_OK);
    assert_int_equal(bin_count, 2);
    assert_int_equal(bin_of[0], 0);
    assert_int_equal(bin_of[1], 0);
    assert_int_equal(bin_of[2], 1);
    assert_int_equal(bin_of[3], 1);

    assert_int_equal(bins_quantile(skewed, 10, 3, bin_of, &bin_count, &err), ERR_OK);
    assert_int_equal(bin_count, 3);
    assert_int_equal(bin_of[0], 0);
    assert_int_equal(bin_of[8], 1);
    assert_int_equal(bin_of[9], 2);
    assert_int_equal(bins_quantile(top_heavy, 10, 3, bin_of, &bin_count, &err), ERR_OK);
    assert_int_equal(bin_count, 3);
    assert_int_equal(bin_of[0], 0);
    assert_int_equal(bin_of[1], 0);
    assert_int_equal(bin_of[2], 1);
    assert_int_equal(bin_of[9], 2);

    /* -0 and +0 are the same score. */
    double zeros[3] = {0.0, 1.0, -0.0};
    assert_int_equal(bins_quantile(zeros, 3, 3, bin_of, &bin_count, &err), ERR_OK);
    assert_int_equal(bin_count, 2);
    assert_int_equal(bin_of[0], 0);
    assert_int_equal(bin_of[1], 1);
    assert_int_equal(bin_of[2], 0);

    bin_count = 99;
    assert_int_equal(bins_quantile(equal, 0, 3, bin_of, &bin_count, &err), ERR_OK);
    assert_int_equal(bin_count, 0);

    assert_int_equal(bins_quantile(with_nan, 3, 2, bin_of, &bin_count, &err), ERR_DATA);
    assert_non_null(strstr(err.message, "image 1"));
    assert_int_equal(bins_quantile(few, 4, 0, bin_of, &bin_count, &err), ERR_CONFIG);
}

/* A tie run straddling a rank target goes where the counts stay closest to equal. */
static void test_quantile_tie_goes_to_the_more_balanced_side(void **state)
{
    (void)state;
    double scores[26];
    int32_t bin_of[26], bin_count;
    size_t size[9] = {0};
    const size_t expected[9] = {3, 3, 3, 3, 3, 2, 3, 3, 3};
    Error err;
    /* 0..12, 13 twice, 14..24 */
    for (int i = 0; i < 26; i++)
        scores[i] = i <= 13 ? i : i - 1;
    assert_int_equal(bins_quantile(scores, 26, 9, bin_of, &bin_count, &err), ERR_OK);
    assert_int_equal(bin_count, 9);
    for (int i = 0; i < 26; i++)
        size[bin_of[i]]++;
    for (int j = 0; j < 9; j++)
        assert_int_equal(size[j], expected[j]);
}

/* max over bins of |size * bins - count|: the deviation from count / bins, times bins. */
static uint64_t split_deviation(const size_t *size, size_t bins, size_t count)
{
    uint64_t worst = 0;
    for (size_t j = 0; j < bins; j++) {
        uint64_t scaled = (uint64_t)size[j] * bins;
        uint64_t deviation = scaled > count ? scaled - count : count - scaled;
        if (deviation > worst)
            worst = deviation;
    }
    return worst;
}

/*
 * The smallest deviation of any split of the sorted runs (lengths run[0..runs))
 * into bins bins, by trying every choice of bins - 1 cuts among the runs - 1 gaps.
 */
static uint64_t brute_force_deviation(const size_t *run, size_t runs, size_t bins, size_t count)
{
    uint64_t best = UINT64_MAX;
    for (uint32_t mask = 0; mask < (1u << (runs - 1)); mask++) {
        if ((size_t)__builtin_popcount(mask) != bins - 1)
            continue;
        size_t size[16] = {0};
        size_t bin = 0;
        for (size_t r = 0; r < runs; r++) {
            size[bin] += run[r];
            if (r + 1 < runs && (mask & (1u << r)))
                bin++;
        }
        uint64_t deviation = split_deviation(size, bins, count);
        if (deviation < best)
            best = deviation;
    }
    return best;
}

/* Property: over random tie patterns, no split of the runs is more balanced. */
static void test_quantile_no_split_is_more_balanced(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 25);
    for (int trial = 0; trial < 4000; trial++) {
        size_t runs = 2 + (size_t)rng_below(&rng, 11);
        size_t bins = 1 + (size_t)rng_below(&rng, runs);
        size_t run[16], count = 0;
        double scores[16 * 6];
        for (size_t r = 0; r < runs; r++) {
            /* mostly single scores, some long ties */
            run[r] = rng_below(&rng, 3) == 0 ? 1 + (size_t)rng_below(&rng, 6) : 1;
            for (size_t k = 0; k < run[r]; k++)
                scores[count++] = (double)r;
        }
        rng_shuffle(&rng, scores, count, sizeof *scores);
        Binned binned;
        quantile_checked(scores, count, (int)bins, &binned);
        assert_int_equal(binned.bin_count, (int32_t)bins);
        uint64_t ours = split_deviation(binned.size, bins, count);
        uint64_t best = brute_force_deviation(run, runs, bins, count);
        if (ours != best)
            print_error("runs %zu bins %zu: deviation %llu, brute force %llu\n", runs, bins,
                        (unsigned long long)ours, (unsigned long long)best);
        assert_int_equal(ours, best);
        binned_free(&binned);
    }
}

/* ---- quantile bins within groups ---- */

static void test_within_groups_bins_stay_inside_and_number_densely(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 31);
    for (int trial = 0; trial < CASES; trial++) {
        size_t count = (size_t)rng_below(&rng, 1000);
        int32_t group_count = (int32_t)rng_below(&rng, 9);
        int bins = 1 + (int)rng_below(&rng, 8);
        double *scores = malloc((count + 1) * sizeof *scores);
        int32_t *group_of = malloc((count + 1) * sizeof *group_of);
        int32_t *bin_of = malloc((count + 1) * sizeof *bin_of);
        int32_t *category_of = malloc((count + 1) * sizeof *category_of);
        int32_t category_count = -1;
        Error err;
        assert_true(scores && group_of && bin_of && category_of);
        random_scores(&rng, scores, count, (int)rng_below(&rng, 6));
        for (size_t i = 0; i < count; i++) {
            /* Some images in no group, with scores that must not matter. */
            if (group_count == 0 || rng_below(&rng, 10) == 0) {
                group_of[i] = -1 - (int32_t)rng_below(&rng, 3);
                scores[i] = NAN;
            } else {
                group_of[i] = (int32_t)rng_below(&rng, (uint64_t)group_count);
            }
        }
        assert_int_equal(bins_quantile_within(scores, group_of, count, group_count, bins, bin_of,
                                              category_of, &category_count, &err),
                         ERR_OK);

        int32_t *group_of_category = malloc(((size_t)category_count + 1) * sizeof(int32_t));
        int32_t *bin_of_category = malloc(((size_t)category_count + 1) * sizeof(int32_t));
        assert_true(group_of_category && bin_of_category);
        for (int32_t c = 0; c < category_count; c++)
            group_of_category[c] = -1;
        for (size_t i = 0; i < count; i++) {
            if (group_of[i] < 0) {
                assert_int_equal(category_of[i], -1);
                assert_int_equal(bin_of[i], -1);
                continue;
            }
            int32_t c = category_of[i];
            assert_true(c >= 0 && c < category_count);
            /* A category belongs to one group and one bin. */
            if (group_of_category[c] < 0) {
                group_of_category[c] = group_of[i];
                bin_of_category[c] = bin_of[i];
            }
            assert_int_equal(group_of_category[c], group_of[i]);
            assert_int_equal(bin_of_category[c], bin_of[i]);
        }
        /* Dense, and numbered in (group, bin) order. */
        for (int32_t c = 0; c < category_count; c++) {
            assert_true(group_of_category[c] >= 0);
            if (c > 0) {
                assert_true(group_of_category[c - 1] < group_of_category[c]
                            || (group_of_category[c - 1] == group_of_category[c]
                                && bin_of_category[c - 1] + 1 == bin_of_category[c]));
                if (group_of_category[c - 1] < group_of_category[c])
                    assert_int_equal(bin_of_category[c], 0);
            } else {
                assert_int_equal(bin_of_category[c], 0);
            }
        }
        /* Inside each group: the quantile bins of the group's scores alone. */
        double *member_scores = malloc((count + 1) * sizeof *member_scores);
        int32_t *own = malloc((count + 1) * sizeof *own);
        assert_true(member_scores && own);
        for (int32_t g = 0; g < group_count; g++) {
            size_t size = 0;
            int32_t own_count;
            for (size_t i = 0; i < count; i++)
                if (group_of[i] == g)
                    member_scores[size++] = scores[i];
            assert_int_equal(bins_quantile(member_scores, size, bins, own, &own_count, &err),
                             ERR_OK);
            size_t k = 0;
            for (size_t i = 0; i < count; i++)
                if (group_of[i] == g)
                    assert_int_equal(bin_of[i], own[k++]);
        }
        free(member_scores);
        free(own);
        free(group_of_category);
        free(bin_of_category);
        free(scores);
        free(group_of);
        free(bin_of);
        free(category_of);
    }
}

static void test_within_groups_errors(void **state)
{
    (void)state;
    double scores[4] = {1, 2, NAN, 3};
    int32_t group_of[4] = {0, 1, 0, 1};
    int32_t bin_of[4], category_of[4], category_count;
    Error err;

    assert_int_equal(bins_quantile_within(scores, group_of, 4, 2, 2, bin_of, category_of,
                                          &category_count, &err),
                     ERR_DATA);
    assert_non_null(strstr(err.message, "image 2"));
    group_of[2] = 5;
    assert_int_equal(bins_quantile_within(scores, group_of, 4, 2, 2, bin_of, category_of,
                                          &category_count, &err),
                     ERR_INTERNAL);
    group_of[2] = -1;
    assert_int_equal(bins_quantile_within(scores, group_of, 4, 2, 0, bin_of, category_of,
                                          &category_count, &err),
                     ERR_CONFIG);
    assert_int_equal(bins_quantile_within(scores, group_of, 4, 2, 2, bin_of, category_of,
                                          &category_count, &err),
                     ERR_OK);
    assert_int_equal(category_count, 3); /* group 0: one image; group 1: two */
    assert_int_equal(category_of[0], 0);
    assert_int_equal(category_of[1], 1);
    assert_int_equal(category_of[2], -1);
    assert_int_equal(category_of[3], 2);
}

/*
 * When no tie straddles a rank target round(j * N / bins), every boundary
 * sits on its target: bin j holds exactly the scores ranked from target j
 * to target j + 1. Large inputs, in orders that trouble a selection
 * (sorted, reversed, organ pipe, few values with ties away from the
 * targets), checked against a sorted copy.
 */
static void test_quantile_boundaries_on_targets_without_straddling_ties(void **state)
{
    (void)state;
    enum { COUNT = 120000, BINS = 10 };
    double *scores = malloc(COUNT * sizeof *scores), *sorted = malloc(COUNT * sizeof *sorted);
    int32_t *bin_of = malloc(COUNT * sizeof *bin_of);
    assert_non_null(scores), assert_non_null(sorted), assert_non_null(bin_of);
    Rng rng;
    rng_init(&rng, 31);
    size_t target[BINS + 1];
    for (int j = 0; j <= BINS; j++)
        target[j] = (size_t)j * (COUNT / BINS) + ((size_t)j * (COUNT % BINS) + BINS / 2) / BINS;
    for (int shape = 0; shape < 5; shape++) {
        for (size_t i = 0; i < COUNT; i++) {
            switch (shape) {
            case 0: scores[i] = (double)i; break;
            case 1: scores[i] = -(double)i; break;
            case 2: scores[i] = (double)(i < COUNT / 2 ? i : COUNT - i) + (i < COUNT / 2 ? 0 : 0.5); break;
            case 3: scores[i] = rng_uniform(&rng) * 3 - 1; break;
            default: /* runs of 8 equal scores, none across a target (multiples of 12,000) */
                scores[i] = (double)(i / 8); break;
            }
        }
        if (shape == 4) /* shuffled: the selection meets its ties in any order */
            for (size_t i = COUNT - 1; i > 0; i--) {
                size_t j = (size_t)rng_below(&rng, i + 1);
                double held = scores[i];
                scores[i] = scores[j];
                scores[j] = held;
            }
        memcpy(sorted, scores, COUNT * sizeof *sorted);
        qsort(sorted, COUNT, sizeof *sorted, compare_double);
        for (int j = 1; j < BINS; j++)
            assert_true(sorted[target[j] - 1] < sorted[target[j]]);
        Error err;
        int32_t bin_count = 0;
        assert_int_equal(bins_quantile(scores, COUNT, BINS, bin_of, &bin_count, &err), ERR_OK);
        assert_int_equal(bin_count, BINS);
        size_t size[BINS] = {0};
        for (size_t i = 0; i < COUNT; i++) {
            int expected = 0;
            while (expected + 1 < BINS && sorted[target[expected + 1]] <= scores[i])
                expected++;
            assert_int_equal(bin_of[i], expected);
            size[bin_of[i]]++;
        }
        for (int j = 0; j < BINS; j++)
            assert_int_equal(size[j], target[j + 1] - target[j]);
    }
    /* Runs of 2 to 9 equal scores, shuffled, some across targets: never split. */
    for (int trial = 0; trial < 4; trial++) {
        size_t offset = (size_t)rng_below(&rng, 8), length = 2 + (size_t)trial * 2 + (trial == 3);
        for (size_t i = 0; i < COUNT; i++)
            scores[i] = (double)((i + offset) / length);
        for (size_t i = COUNT - 1; i > 0; i--) {
            size_t j = (size_t)rng_below(&rng, i + 1);
            double held = scores[i];
            scores[i] = scores[j];
            scores[j] = held;
        }
        Binned binned;
        quantile_checked(scores, COUNT, BINS, &binned);
        binned_free(&binned);
    }
    free(scores), free(sorted), free(bin_of);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_bins_cover_the_range_in_equal_widths),
        cmocka_unit_test(test_fixed_bins_uniform_sample_fills_every_bin),
        cmocka_unit_test(test_fixed_bins_special_inputs),
        cmocka_unit_test(test_fixed_bins_errors),
        cmocka_unit_test(test_quantile_without_ties_gives_bins_of_equal_size),
        cmocka_unit_test(test_quantile_ties_never_split_and_bins_stay_ordered),
        cmocka_unit_test(test_quantile_short_ties_keep_sizes_near_equal),
        cmocka_unit_test(test_quantile_ignores_input_order),
        cmocka_unit_test(test_quantile_special_inputs),
        cmocka_unit_test(test_quantile_tie_goes_to_the_more_balanced_side),
        cmocka_unit_test(test_quantile_no_split_is_more_balanced),
        cmocka_unit_test(test_quantile_boundaries_on_targets_without_straddling_ties),
        cmocka_unit_test(test_within_groups_bins_stay_inside_and_number_densely),
        cmocka_unit_test(test_within_groups_errors),
    };
    return cmocka_run_group_tests_name("bins", tests, NULL, NULL);
}
