/* Unit tests of the report's figures (run/report): the chosen pairs'
 * mean score gap against random pairs, cluster sizes, the exposure
 * histogram and the stage times' JSON. Each property is checked against a
 * figure computed here from the same arrays, not against the code's own
 * arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "run/report.h"

enum { IMAGES = 300 };

/* Scores 0, 1, ..., IMAGES - 1: the mean |a - b| over distinct pairs is (n + 1) / 3. */
static double scores[IMAGES];

static Images score_images(void)
{
    for (int i = 0; i < IMAGES; i++)
        scores[i] = i;
    Images images = {.count = IMAGES, .score = scores};
    return images;
}

static Categories one_category(int32_t *category_of, int32_t *group)
{
    for (int i = 0; i < IMAGES; i++)
        category_of[i] = 0;
    group[0] = 0;
    Categories categories = {.category_of = category_of, .count = 1, .group_of_category = group,
                             .by = STRATEGY_SCORE};
    return categories;
}

static void test_score_delta_of_chosen_and_random_pairs(void **state)
{
    (void)state;
    Images images = score_images();
    int32_t category_of[IMAGES], group[1];
    Categories categories = one_category(category_of, group);
    /* Neighbours: every gap is 1; and one pair with a gap of 100. */
    Pair pairs[IMAGES / 2 + 1];
    size_t count = 0;
    for (uint32_t i = 0; i + 1 < IMAGES; i += 2)
        pairs[count++] = (Pair){i, i + 1};
    pairs[count++] = (Pair){0, 100};
    Report report = {0};
    Rng rng;
    rng_init(&rng, 7);
    report_measure(&report, &images, &categories, pairs, count, &rng);

    assert_true(report.quality.has_score_delta);
    assert_false(report.quality.has_similarity); /* no embeddings */
    double expected = ((double)(count - 1) * 1.0 + 100.0) / (double)count;
    assert_true(fabs(report.quality.chosen_score_delta - expected) < 1e-12);
    double population = (IMAGES + 1) / 3.0;
    assert_true(fabs(report.quality.random_score_delta - population) < 0.03 * population);
}

static void test_random_figures_are_reproducible(void **state)
{
    (void)state;
    Images images = score_images();
    int32_t category_of[IMAGES], group[1];
    Categories categories = one_category(category_of, group);
    Pair pairs[1] = {{3, 4}};
    Report first = {0}, second = {0}, other = {0};
    Rng rng;
    rng_init(&rng, 11);
    report_measure(&first, &images, &categories, pairs, 1, &rng);
    rng_init(&rng, 11);
    report_measure(&second, &images, &categories, pairs, 1, &rng);
    rng_init(&rng, 12);
    report_measure(&other, &images, &categories, pairs, 1, &rng);
    assert_true(first.quality.random_score_delta == second.quality.random_score_delta);
    assert_true(first.quality.random_score_delta != other.quality.random_score_delta);
}

static void test_nonfinite_scores_are_left_out(void **state)
{
    (void)state;
    Images images = score_images();
    int32_t category_of[IMAGES], group[1];
    Categories categories = one_category(category_of, group);
    scores[5] = NAN;
    scores[6] = INFINITY;
    Pair pairs[3] = {{5, 7}, {6, 8}, {10, 14}};
    Report report = {0};
    Rng rng;
    rng_init(&rng, 3);
    report_measure(&report, &images, &categories, pairs, 3, &rng);
    assert_true(report.quality.has_score_delta);
    assert_true(report.quality.chosen_score_delta == 4.0); /* only (10, 14) counts */
    assert_true(isfinite(report.quality.random_score_delta));
}

static void test_no_pairs_no_score_figures(void **state)
{
    (void)state;
    Images images = score_images();
    int32_t category_of[IMAGES], group[1];
    Categories categories = one_category(category_of, group);
    Report report = {0};
    Rng rng;
    rng_init(&rng, 3);
    report_measure(&report, &images, &categories, NULL, 0, &rng);
    assert_false(report.quality.has_score_delta);
    assert_false(report.clusters.measured); /* no clusters either */
}

static void test_cluster_sizes(void **state)
{
    (void)state;
    Images images = score_images();
    /* Clusters 0..3 of sizes 10, 50, 90, 140 (290 images); 10 images unpaired.
     * Categories 0..4 map to clusters 0, 1, 2, 3, 3 (a cluster split in two
     * score bins counts once). */
    int32_t category_of[IMAGES];
    int32_t group[5] = {0, 1, 2, 3, 3};
    int32_t bin[5] = {0, 0, 0, 0, 1};
    int sizes[4] = {10, 50, 90, 140};
    int at = 0;
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < sizes[c]; k++, at++)
            category_of[at] = c == 3 && k % 2 == 1 ? 4 : c;
    for (; at < IMAGES; at++)
        category_of[at] = -1;
    Categories categories = {.category_of = category_of, .count = 5, .group_of_category = group,
                             .bin_of_category = bin, .by = STRATEGY_EMBEDDING_SCORE,
                             .cluster_count = 4, .inertia = 12.5, .iterations = 9};
    Report report = {0};
    Rng rng;
    rng_init(&rng, 1);
    report_measure(&report, &images, &categories, NULL, 0, &rng);
    assert_true(report.clusters.measured);
    assert_int_equal(report.clusters.cluster_count, 4);
    assert_int_equal(report.clusters.iterations, 9);
    assert_true(report.clusters.inertia == 12.5);
    assert_int_equal(report.clusters.size_min, 10);
    assert_int_equal(report.clusters.size_median, 90); /* sizes[k / 2] of the sorted four */
    assert_int_equal(report.clusters.size_max, 140);
}

static void test_exposure_histogram(void **state)
{
    (void)state;
    enum { N = 12 };
    int32_t category_of[N] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0};
    uint32_t exposure[N] = {0, 0, 1, 6, 0, 0, 0, 9, 0, 0, 5, 2};
    /* Image 0 in three pairs, 1 in two, 2 in one, 3 in one. */
    Pair pairs[4] = {{0, 1}, {0, 2}, {0, 3}, {1, 4}};
    Report report = {0};
    report_measure_exposure(&report, exposure, category_of, N, pairs, 4);
    assert_true(report.selection.has_exposure);
    /* open pairs after the run: 0:3 1:2 2:2 3:7 4:1 5:0 6:0 7:9 8:0 9:0 (10 unpaired) 11:2 */
    uint64_t expected[REPORT_EXPOSURE_BUCKETS] = {4, 1, 3, 1, 0, 0, 0, 2};
    uint64_t total = 0;
    for (int b = 0; b < REPORT_EXPOSURE_BUCKETS; b++) {
        assert_int_equal(report.selection.exposure_histogram[b], expected[b]);
        total += report.selection.exposure_histogram[b];
    }
    assert_int_equal(total, N - 1); /* every categorized image once */

    /* Without earlier exposure only this run's pairs count. */
    report_measure_exposure(&report, NULL, category_of, N, pairs, 4);
    assert_int_equal(report.selection.exposure_histogram[0], 6);
    assert_int_equal(report.selection.exposure_histogram[3], 1);
}

static void test_stage_json(void **state)
{
    (void)state;
    Report report = {0};
    for (int s = 0; s < STAGE_COUNT; s++)
        report.stage_seconds[s] = 0.5 * (s + 1);
    char buffer[256];
    const char *json = report_stage_json(&report, buffer, sizeof buffer);
    assert_string_equal(json, "{\"connect\":0.500,\"read\":1.000,\"categorize\":1.500,"
                              "\"pairs\":2.000,\"write\":2.500}");
    /* A buffer too small still holds a terminated prefix. */
    char small[16];
    report_stage_json(&report, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_delta_of_chosen_and_random_pairs),
        cmocka_unit_test(test_random_figures_are_reproducible),
        cmocka_unit_test(test_nonfinite_scores_are_left_out),
        cmocka_unit_test(test_no_pairs_no_score_figures),
        cmocka_unit_test(test_cluster_sizes),
        cmocka_unit_test(test_exposure_histogram),
        cmocka_unit_test(test_stage_json),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
