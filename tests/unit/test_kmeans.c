/*
 * Properties of the k-means module: it recovers well-separated blobs, runs
 * are reproducible from the seed, no cluster is left empty when it can be
 * filled, Lloyd's inertia never rises, and assignment agrees with the fit
 * and with a direct double-precision computation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>


#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/cancel.h"
#include "core/rng.h"
#include "numeric/blas.h"
#include "numeric/distance.h"
#include "numeric/kmeans.h"

typedef struct Blobs {
    float *data;    /* rows x dim */
    int32_t *truth; /* rows: the blob each row was drawn from */
    size_t rows;
    size_t dim;
    int k;
} Blobs;

/*
 * k blobs of rows/k rows each, in shuffled order. Euclidean: centers with
 * coordinates N(0, spread^2), rows center + N(0, sigma^2). Directions: unit
 * center directions, rows (direction + N(0, sigma^2)) scaled by a random
 * length in [0.5, 4.5), so only the direction tells the blobs apart.
 */
static void make_blobs(Blobs *blobs, size_t rows, size_t dim, int k, double spread, double sigma,
                       int directions, uint64_t seed)
{
    Rng rng;
    float *centers = malloc((size_t)k * dim * sizeof *centers);

    rng_init(&rng, seed);
    blobs->data = malloc(rows * dim * sizeof *blobs->data);
    blobs->truth = malloc(rows * sizeof *blobs->truth);
    blobs->rows = rows;
    blobs->dim = dim;
    blobs->k = k;
    assert_non_null(centers);
    assert_non_null(blobs->data);
    assert_non_null(blobs->truth);
    for (size_t i = 0; i < (size_t)k * dim; i++)
        centers[i] = (float)(rng_normal(&rng) * spread);
    if (directions)
        kmeans_normalize_rows(centers, (size_t)k, dim);
    for (size_t i = 0; i < rows; i++)
        blobs->truth[i] = (int32_t)(i % (size_t)k);
    rng_shuffle(&rng, blobs->truth, rows, sizeof *blobs->truth);
    for (size_t i = 0; i < rows; i++) {
        const float *center = centers + (size_t)blobs->truth[i] * dim;
        float *row = blobs->data + i * dim;
        double length = directions ? 0.5 + 4.0 * rng_uniform(&rng) : 1.0;
        for (size_t d = 0; d < dim; d++)
            row[d] = (float)((center[d] + rng_normal(&rng) * sigma) * length);
    }
    free(centers);
}

static void free_blobs(Blobs *blobs)
{
    free(blobs->data);
    free(blobs->truth);
}

static double pairs_of(double n)
{
    return n * (n - 1.0) / 2.0;
}

/* Adjusted Rand index (Hubert and Arabie) from the contingency table. */
static double adjusted_rand_index(const int32_t *a, int a_count, const int32_t *b, int b_count,
                                  size_t rows)
{
    double *table = calloc((size_t)a_count * (size_t)b_count, sizeof *table);
    double *a_sums = calloc((size_t)a_count, sizeof *a_sums);
    double *b_sums = calloc((size_t)b_count, sizeof *b_sums);
    double index = 0.0, a_pairs = 0.0, b_pairs = 0.0;

    assert_non_null(table);
    assert_non_null(a_sums);
    assert_non_null(b_sums);
    for (size_t i = 0; i < rows; i++) {
        table[(size_t)a[i] * (size_t)b_count + (size_t)b[i]] += 1.0;
        a_sums[a[i]] += 1.0;
        b_sums[b[i]] += 1.0;
    }
    for (size_t i = 0; i < (size_t)a_count * (size_t)b_count; i++)
        index += pairs_of(table[i]);
    for (int i = 0; i < a_count; i++)
        a_pairs += pairs_of(a_sums[i]);
    for (int j = 0; j < b_count; j++)
        b_pairs += pairs_of(b_sums[j]);
    double expected = a_pairs * b_pairs / pairs_of((double)rows);
    double most = (a_pairs + b_pairs) / 2.0;
    free(table);
    free(a_sums);
    free(b_sums);
    if (most == expected)
        return 1.0;
    return (index - expected) / (most - expected);
}

static KmeansOptions options_for(KmeansAlgorithm algorithm, KmeansMetric metric, int k)
{
    KmeansOptions options = {
        .algorithm = algorithm,
        .metric = metric,
        .cluster_count = k,
        .max_iterations = 100,
        .restarts = 3,
        .batch_size = 256,
        .tolerance = 1e-4,
    };
    return options;
}

/* Fits a new model; the caller frees it. */
static Kmeans *fit(const KmeansOptions *options, const float *data, size_t rows, size_t dim,
                   uint64_t seed)
{
    Kmeans *kmeans = NULL;
    Error err;
    Rng rng;

    error_clear(&err);
    rng_init(&rng, seed);
    assert_int_equal(kmeans_new(options, dim, &kmeans, &err), ERR_OK);
    int code = kmeans_fit(kmeans, data, rows, &rng, NULL, &err);
    if (code != ERR_OK)
        fail_msg("kmeans_fit: %s", err.message);
    return kmeans;
}

static int32_t *labels_of(const Kmeans *kmeans, const float *data, size_t rows, double *inertia)
{
    int32_t *labels = malloc(rows * sizeof *labels);
    assert_non_null(labels);
    double value = -1.0;
    Error err;
    error_clear(&err);
    assert_int_equal(kmeans_assign(kmeans, data, rows, labels, NULL, &value, &err), ERR_OK);
    assert_true(value >= 0.0);
    if (inertia != NULL)
        *inertia = value;
    return labels;
}

static void assert_labels_in_range(const int32_t *labels, size_t rows, int k)
{
    for (size_t i = 0; i < rows; i++) {
        assert_true(labels[i] >= 0);
        assert_true(labels[i] < k);
    }
}

static int non_empty_clusters(const int32_t *labels, size_t rows, int k)
{
    int *count = calloc((size_t)k, sizeof *count);
    int non_empty = 0;
    assert_non_null(count);
    for (size_t i = 0; i < rows; i++)
        count[labels[i]]++;
    for (int c = 0; c < k; c++)
        non_empty += count[c] > 0;
    free(count);
    return non_empty;
}

static void check_recovers_blobs(KmeansAlgorithm algorithm, KmeansMetric metric)
{
    Blobs blobs;
    int directions = metric == KMEANS_COSINE;
    /*
     * Euclidean: squared distance ~1600 between blobs, ~100 between two rows
     * of a blob. Cosine: cosine ~0.93 between two rows of a blob, ~0 across.
     */
    make_blobs(&blobs, 2000, 768, 10, 1.0, directions ? 0.01 : 0.25, directions, 11);
    if (directions)
        kmeans_normalize_rows(blobs.data, blobs.rows, blobs.dim);
    KmeansOptions options = options_for(algorithm, metric, blobs.k);
    Kmeans *kmeans = fit(&options, blobs.data, blobs.rows, blobs.dim, 42);
    int32_t *labels = labels_of(kmeans, blobs.data, blobs.rows, NULL);

    assert_labels_in_range(labels, blobs.rows, blobs.k);
    double ari = adjusted_rand_index(labels, blobs.k, blobs.truth, blobs.k, blobs.rows);
    if (ari < 0.95)
        fail_msg("adjusted Rand index %.4f < 0.95", ari);
    assert_true(kmeans_iterations(kmeans) >= 1);
    if (directions) {
        const float *centers = kmeans_centers(kmeans);
        for (int c = 0; c < blobs.k; c++) {
            const float *center = centers + (size_t)c * blobs.dim;
            double norm = 0.0;
            for (size_t d = 0; d < blobs.dim; d++)
                norm += (double)center[d] * center[d];
            assert_true(fabs(sqrt(norm) - 1.0) < 1e-4);
        }
    }
    free(labels);
    kmeans_free(kmeans);
    free_blobs(&blobs);
}

static void test_lloyd_euclidean_recovers_blobs(void **state)
{
    (void)state;
    check_recovers_blobs(KMEANS_LLOYD, KMEANS_EUCLIDEAN);
}

static void test_minibatch_euclidean_recovers_blobs(void **state)
{
    (void)state;
    check_recovers_blobs(KMEANS_MINIBATCH, KMEANS_EUCLIDEAN);
}

static void test_lloyd_cosine_recovers_directions(void **state)
{
    (void)state;
    check_recovers_blobs(KMEANS_LLOYD, KMEANS_COSINE);
}

static void test_minibatch_cosine_recovers_directions(void **state)
{
    (void)state;
    check_recovers_blobs(KMEANS_MINIBATCH, KMEANS_COSINE);
}

/* Whether every cluster holds rows of one true blob only (so every pair inside a cluster does). */
static int clusters_are_pure(const int32_t *labels, const int32_t *truth, size_t rows, int k)
{
    int32_t *blob_of = malloc((size_t)k * sizeof *blob_of);
    int pure = 1;
    assert_non_null(blob_of);
    for (int c = 0; c < k; c++)
        blob_of[c] = -1;
    for (size_t i = 0; i < rows && pure; i++) {
        if (blob_of[labels[i]] < 0)
            blob_of[labels[i]] = truth[i];
        pure = blob_of[labels[i]] == truth[i];
    }
    free(blob_of);
    return pure;
}

/*
 * Well-separated blobs (centers about 8 apart, rows about 4 from each
 * other inside a blob): k-means++ sometimes seeds two centers in one blob
 * and none in another, and Lloyd or mini-batch steps then keep two blobs
 * under one center. Every fit, for every seed, algorithm and metric, must
 * find the blobs: no cluster holds rows of two blobs.
 */
static void test_separated_blobs_give_pure_clusters(void **state)
{
    Blobs blobs;
    (void)state;
    KmeansAlgorithm algorithms[] = {KMEANS_LLOYD, KMEANS_MINIBATCH};
    KmeansMetric metrics[] = {KMEANS_EUCLIDEAN, KMEANS_COSINE};
    int impure = 0, fits = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        make_blobs(&blobs, 3000, 32, 20, 1.0, 0.5, 0, 100 + seed);
        for (size_t m = 0; m < 2; m++) {
            if (metrics[m] == KMEANS_COSINE)
                kmeans_normalize_rows(blobs.data, blobs.rows, blobs.dim);
            for (size_t a = 0; a < 2; a++) {
                KmeansOptions options = options_for(algorithms[a], metrics[m], blobs.k);
                Kmeans *kmeans = fit(&options, blobs.data, blobs.rows, blobs.dim, seed);
                int32_t *labels = labels_of(kmeans, blobs.data, blobs.rows, NULL);
                fits++;
                if (!clusters_are_pure(labels, blobs.truth, blobs.rows, blobs.k)) {
                    impure++;
                    print_message("seed %d, %s, %s: a cluster holds two blobs (ARI %.4f)\n",
                                  (int)seed, algorithms[a] == KMEANS_LLOYD ? "lloyd" : "minibatch",
                                  metrics[m] == KMEANS_COSINE ? "cosine" : "euclidean",
                                  adjusted_rand_index(labels, blobs.k, blobs.truth, blobs.k,
                                                      blobs.rows));
                }
                free(labels);
                kmeans_free(kmeans);
            }
        }
        free_blobs(&blobs);
    }
    if (impure > 0)
        fail_msg("%d of %d fits merged two blobs", impure, fits);
}

/*
 * On overlapping blobs (centers N(0, 0.3^2) per coordinate, rows N(0, 1)
 * around them, as in issue 15) mini-batch's objective, measured on all the
 * rows, stays within 4.5% of Lloyd's (3 full restarts), for both metrics and
 * several seeds.
 */
static void test_minibatch_objective_close_to_lloyd(void **state)
{
    Blobs blobs;
    (void)state;
    KmeansMetric metrics[] = {KMEANS_EUCLIDEAN, KMEANS_COSINE};
    double worst = 0.0;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        make_blobs(&blobs, 8000, 48, 12, 0.3, 1.0, 0, 200 + seed);
        for (size_t m = 0; m < 2; m++) {
            if (metrics[m] == KMEANS_COSINE)
                kmeans_normalize_rows(blobs.data, blobs.rows, blobs.dim);
            KmeansOptions options = options_for(KMEANS_LLOYD, metrics[m], blobs.k);
            Kmeans *lloyd = fit(&options, blobs.data, blobs.rows, blobs.dim, seed);
            options.algorithm = KMEANS_MINIBATCH;
            Kmeans *minibatch = fit(&options, blobs.data, blobs.rows, blobs.dim, seed);
            double ratio = kmeans_inertia(minibatch) / kmeans_inertia(lloyd);
            print_message("seed %d, %s: mini-batch inertia %.6g, %+.2f%% against Lloyd's %.6g\n",
                          (int)seed, metrics[m] == KMEANS_COSINE ? "cosine" : "euclidean",
                          kmeans_inertia(minibatch), 100.0 * (ratio - 1.0),
                          kmeans_inertia(lloyd));
            if (ratio > worst)
                worst = ratio;
            kmeans_free(lloyd);
            kmeans_free(minibatch);
        }
        free_blobs(&blobs);
    }
    if (worst > 1.045)
        fail_msg("mini-batch inertia up to %.2f%% above Lloyd's", 100.0 * (worst - 1.0));
}

static void test_same_seed_same_clusters(void **state)
{
    Blobs blobs;
    (void)state;
    /* Overlapping blobs, so that the result really depends on the random choices. */
    make_blobs(&blobs, 1500, 64, 12, 1.0, 1.0, 0, 5);
    KmeansAlgorithm algorithms[] = {KMEANS_LLOYD, KMEANS_MINIBATCH};
    for (size_t a = 0; a < 2; a++) {
        KmeansOptions options = options_for(algorithms[a], KMEANS_EUCLIDEAN, 8);
        options.batch_size = 100;
        Kmeans *first = fit(&options, blobs.data, blobs.rows, blobs.dim, 1234);
        Kmeans *second = fit(&options, blobs.data, blobs.rows, blobs.dim, 1234);
        Kmeans *other = fit(&options, blobs.data, blobs.rows, blobs.dim, 99);
        int32_t *first_labels = labels_of(first, blobs.data, blobs.rows, NULL);
        int32_t *second_labels = labels_of(second, blobs.data, blobs.rows, NULL);

        assert_memory_equal(kmeans_centers(first), kmeans_centers(second),
                            (size_t)options.cluster_count * blobs.dim * sizeof(float));
        assert_memory_equal(first_labels, second_labels, blobs.rows * sizeof(int32_t));
        assert_true(kmeans_inertia(first) == kmeans_inertia(second));
        assert_int_equal(kmeans_iterations(first), kmeans_iterations(second));
        /* Another seed is a valid fit too (it may or may not find the same clusters). */
        assert_true(isfinite(kmeans_inertia(other)) && kmeans_inertia(other) > 0.0);
        free(first_labels);
        free(second_labels);
        kmeans_free(first);
        kmeans_free(second);
        kmeans_free(other);
    }
    free_blobs(&blobs);
}

static void test_more_restarts_never_worse(void **state)
{
    Blobs blobs;
    (void)state;
    make_blobs(&blobs, 1200, 32, 15, 1.0, 0.8, 0, 8);
    KmeansAlgorithm algorithms[] = {KMEANS_LLOYD, KMEANS_MINIBATCH};
    for (size_t a = 0; a < 2; a++) {
        KmeansOptions options = options_for(algorithms[a], KMEANS_EUCLIDEAN, 15);
        options.batch_size = 100;
        options.restarts = 1;
        Kmeans *one = fit(&options, blobs.data, blobs.rows, blobs.dim, 77);
        options.restarts = 5;
        Kmeans *five = fit(&options, blobs.data, blobs.rows, blobs.dim, 77);
        if (algorithms[a] == KMEANS_LLOYD) {
            /* The first of the five full fits is the single fit: the kept one is no worse. */
            assert_true(kmeans_inertia(five) <= kmeans_inertia(one));
        } else {
            /*
             * Mini-batch restarts are seedings of one init subsample, the same
             * whatever the count, and the first n seedings of a fit with more
             * restarts are those of the fit with n: so the kept seeding's score
             * on that subsample never rises with the count, and here it falls.
             */
            double previous = kmeans_seed_inertia(one);
            assert_true(previous > 0.0);
            for (int restarts = 2; restarts <= 5; restarts++) {
                options.restarts = restarts;
                Kmeans *more = fit(&options, blobs.data, blobs.rows, blobs.dim, 77);
                double score = kmeans_seed_inertia(more);
                if (score > previous)
                    fail_msg("%d restarts seed at %.9g, %d at %.9g", restarts - 1, previous,
                             restarts, score);
                previous = score;
                kmeans_free(more);
            }
            assert_true(previous < kmeans_seed_inertia(one));
            assert_true(previous == kmeans_seed_inertia(five));
        }
        /* The kept inertia belongs to the kept centers. */
        double inertia = 0.0;
        int32_t *labels = labels_of(five, blobs.data, blobs.rows, &inertia);
        assert_true(fabs(inertia - kmeans_inertia(five)) <= 1e-6 * inertia);
        free(labels);
        kmeans_free(one);
        kmeans_free(five);
    }
    free_blobs(&blobs);
}

static void test_seed_inertia_is_the_seeded_centers_inertia(void **state)
{
    Blobs blobs;
    Kmeans *kmeans = NULL;
    Error err;
    Rng rng;
    (void)state;
    make_blobs(&blobs, 900, 40, 12, 1.0, 0.6, 0, 19);
    KmeansOptions options = options_for(KMEANS_MINIBATCH, KMEANS_EUCLIDEAN, 12);
    error_clear(&err);
    rng_init(&rng, 3);
    assert_int_equal(kmeans_new(&options, blobs.dim, &kmeans, &err), ERR_OK);
    assert_true(kmeans_seed_inertia(kmeans) == 0.0);
    assert_int_equal(kmeans_seed_plus_plus(kmeans, blobs.data, blobs.rows, &rng, &err), ERR_OK);
    double inertia = 0.0;
    int32_t *labels = labels_of(kmeans, blobs.data, blobs.rows, &inertia);
    assert_true(inertia > 0.0);
    if (fabs(kmeans_seed_inertia(kmeans) - inertia) > 1e-4 * inertia)
        fail_msg("seed inertia %.9g, assignment %.9g", kmeans_seed_inertia(kmeans), inertia);
    free(labels);
    kmeans_free(kmeans);
    free_blobs(&blobs);
}

static void test_minibatch_restarts_refine_once(void **state)
{
    Blobs blobs;
    (void)state;
    /* More rows than init_size, so the seedings see a subsample only. */
    make_blobs(&blobs, 2000, 24, 10, 1.0, 0.7, 0, 23);
    KmeansOptions options = options_for(KMEANS_MINIBATCH, KMEANS_EUCLIDEAN, 10);
    options.batch_size = 100;
    options.restarts = 4;
    int32_t *fit_labels = malloc(blobs.rows * sizeof *fit_labels);
    Kmeans *kmeans = NULL;
    Error err;
    Rng rng;
    assert_non_null(fit_labels);
    error_clear(&err);
    rng_init(&rng, 8);
    assert_int_equal(kmeans_new(&options, blobs.dim, &kmeans, &err), ERR_OK);
    assert_int_equal(kmeans_fit(kmeans, blobs.data, blobs.rows, &rng, fit_labels, &err), ERR_OK);
    /* The fit's labels (from its one refinement) describe the kept centers. */
    double assigned = 0.0;
    int32_t *labels = labels_of(kmeans, blobs.data, blobs.rows, &assigned);
    assert_memory_equal(labels, fit_labels, blobs.rows * sizeof *labels);
    assert_true(fabs(assigned - kmeans_inertia(kmeans)) <= 1e-9 * assigned);
    assert_true(kmeans_seed_inertia(kmeans) > 0.0);
    free(labels);
    free(fit_labels);
    kmeans_free(kmeans);
    free_blobs(&blobs);
}

static void test_fixed_thread_count_is_reproducible(void **state)
{
    Blobs blobs;
    (void)state;
    make_blobs(&blobs, 3000, 256, 8, 1.0, 1.0, 0, 29);
    int threads[] = {1, 2};
    for (size_t t = 0; t < 2; t++) {
        kmeans_set_threads(threads[t]);
        KmeansOptions options = options_for(KMEANS_MINIBATCH, KMEANS_EUCLIDEAN, 8);
        Kmeans *first = fit(&options, blobs.data, blobs.rows, blobs.dim, 55);
        Kmeans *second = fit(&options, blobs.data, blobs.rows, blobs.dim, 55);
        assert_memory_equal(kmeans_centers(first), kmeans_centers(second),
                            (size_t)options.cluster_count * blobs.dim * sizeof(float));
        assert_true(kmeans_inertia(first) == kmeans_inertia(second));
        kmeans_free(first);
        kmeans_free(second);
    }
    kmeans_set_threads(0);
    free_blobs(&blobs);
}

/*
 * A mini-batch fit runs its steps and restarts on one BLAS thread: the
 * process's count is the configured one again afterwards (also after a
 * kmeans_refine), and the centers do not depend on it.
 */
static void test_minibatch_gives_the_blas_threads_back(void **state)
{
    Blobs blobs;
    Error err;
    Rng rng;
    (void)state;
    make_blobs(&blobs, 3000, 64, 8, 1.0, 1.0, 0, 31);
    KmeansOptions options = options_for(KMEANS_MINIBATCH, KMEANS_EUCLIDEAN, 8);
    kmeans_set_threads(1);
    Kmeans *single = fit(&options, blobs.data, blobs.rows, blobs.dim, 57);
    kmeans_set_threads(2);
    Kmeans *two = fit(&options, blobs.data, blobs.rows, blobs.dim, 57);
    assert_int_equal(blas_get_num_threads(), 2);
    assert_memory_equal(kmeans_centers(single), kmeans_centers(two),
                        (size_t)options.cluster_count * blobs.dim * sizeof(float));
    error_clear(&err);
    rng_init(&rng, 58);
    assert_int_equal(kmeans_refine(two, blobs.data, blobs.rows, &rng, &err), ERR_OK);
    assert_int_equal(blas_get_num_threads(), 2);
    kmeans_set_threads(0);
    kmeans_free(single);
    kmeans_free(two);
    free_blobs(&blobs);
}

static void test_k_close_to_rows_leaves_no_cluster_empty(void **state)
{
    Blobs blobs;
    (void)state;
    make_blobs(&blobs, 60, 16, 60, 1.0, 0.0, 0, 3); /* 60 distinct random rows */
    KmeansAlgorithm algorithms[] = {KMEANS_LLOYD, KMEANS_MINIBATCH};
    for (size_t a = 0; a < 2; a++) {
        KmeansOptions options = options_for(algorithms[a], KMEANS_EUCLIDEAN, 55);
        Kmeans *kmeans = fit(&options, blobs.data, blobs.rows, blobs.dim, 5);
        double inertia = 0.0;
        int32_t *labels = labels_of(kmeans, blobs.data, blobs.rows, &inertia);
        assert_labels_in_range(labels, blobs.rows, 55);
        assert_int_equal(non_empty_clusters(labels, blobs.rows, 55), 55);
        assert_true(isfinite(kmeans_inertia(kmeans)) && kmeans_inertia(kmeans) >= 0.0);
        free(labels);
        kmeans_free(kmeans);
    }
    free_blobs(&blobs);
}

/* 100 rows that are 5 distinct points repeated 20 times each, shuffled. */
static void make_duplicates(Blobs *blobs)
{
    make_blobs(blobs, 100, 32, 5, 3.0, 0.0, 0, 21);
}

static double total_squared_norm(const Blobs *blobs)
{
    double total = 0.0;
    for (size_t i = 0; i < blobs->rows * blobs->dim; i++)
        total += (double)blobs->data[i] * blobs->data[i];
    return total;
}

static void test_duplicates_one_cluster_per_point(void **state)
{
    Blobs blobs;
    (void)state;
    make_duplicates(&blobs);
    KmeansAlgorithm algorithms[] = {KMEANS_LLOYD, KMEANS_MINIBATCH};
    for (size_t a = 0; a < 2; a++) {
        KmeansOptions options = options_for(algorithms[a], KMEANS_EUCLIDEAN, 5);
        Kmeans *kmeans = fit(&options, blobs.data, blobs.rows, blobs.dim, 17);
        int32_t *labels = labels_of(kmeans, blobs.data, blobs.rows, NULL);
        assert_int_equal(non_empty_clusters(labels, blobs.rows, 5), 5);
        assert_true(adjusted_rand_index(labels, 5, blobs.truth, 5, blobs.rows) == 1.0);
        assert_true(kmeans_inertia(kmeans) >= 0.0);
        assert_true(kmeans_inertia(kmeans) <= 1e-5 * total_squared_norm(&blobs));
        free(labels);
        kmeans_free(kmeans);
    }
    free_blobs(&blobs);
}

static void test_duplicates_more_clusters_than_points(void **state)
{
    Blobs blobs;
    (void)state;
    make_duplicates(&blobs);
    KmeansAlgorithm algorithms[] = {KMEANS_LLOYD, KMEANS_MINIBATCH};
    KmeansMetric metrics[] = {KMEANS_EUCLIDEAN, KMEANS_COSINE};
    for (size_t a = 0; a < 2; a++) {
        for (size_t m = 0; m < 2; m++) {
            KmeansOptions options = options_for(algorithms[a], metrics[m], 8);
            Kmeans *kmeans = fit(&options, blobs.data, blobs.rows, blobs.dim, 17);
            double inertia = 0.0;
            int32_t *labels = labels_of(kmeans, blobs.data, blobs.rows, &inertia);
            const float *centers = kmeans_centers(kmeans);
            assert_labels_in_range(labels, blobs.rows, 8);
            assert_true(isfinite(kmeans_inertia(kmeans)) && kmeans_inertia(kmeans) >= 0.0);
            assert_true(isfinite(inertia));
            for (size_t i = 0; i < 8 * blobs.dim; i++)
                assert_true(isfinite(centers[i]));
            if (metrics[m] == KMEANS_EUCLIDEAN)
                assert_true(inertia <= 1e-5 * total_squared_norm(&blobs));
            free(labels);
            kmeans_free(kmeans);
        }
    }
    free_blobs(&blobs);
}

static void test_more_clusters_than_rows_is_a_data_error(void **state)
{
    Blobs blobs;
    Kmeans *kmeans = NULL;
    Error err;
    Rng rng;
    (void)state;
    make_blobs(&blobs, 12, 8, 3, 1.0, 0.5, 0, 2);
    KmeansOptions options = options_for(KMEANS_MINIBATCH, KMEANS_EUCLIDEAN, 50);
    error_clear(&err);
    rng_init(&rng, 1);
    assert_int_equal(kmeans_new(&options, blobs.dim, &kmeans, &err), ERR_OK);
    assert_int_equal(kmeans_fit(kmeans, blobs.data, blobs.rows, &rng, NULL, &err), ERR_DATA);
    assert_int_equal(err.code, ERR_DATA);
    assert_non_null(strstr(err.message, "cannot make 50 clusters from 12 rows"));
    error_clear(&err);
    assert_int_equal(kmeans_seed_plus_plus(kmeans, blobs.data, blobs.rows, &rng, &err), ERR_DATA);
    kmeans_free(kmeans);
    free_blobs(&blobs);
}

static void test_bad_options_are_config_errors(void **state)
{
    Kmeans *kmeans = (Kmeans *)&kmeans; /* must be reset to NULL */
    Error err;
    (void)state;
    KmeansOptions good = options_for(KMEANS_MINIBATCH, KMEANS_COSINE, 4);
    KmeansOptions bad[5] = {good, good, good, good, good};
    bad[0].cluster_count = 0;
    bad[1].restarts = 0;
    bad[2].batch_size = 0;
    bad[3].tolerance = -1.0;
    bad[4].max_iterations = 0;
    for (size_t i = 0; i < 5; i++) {
        error_clear(&err);
        assert_int_equal(kmeans_new(&bad[i], 16, &kmeans, &err), ERR_CONFIG);
        assert_null(kmeans);
        assert_true(strlen(err.message) > 0);
    }
    assert_int_equal(kmeans_new(&good, 0, &kmeans, &err), ERR_CONFIG);
    assert_int_equal(kmeans_new(&good, 16, &kmeans, &err), ERR_OK);
    kmeans_free(kmeans);
}

static void test_lloyd_inertia_never_increases(void **state)
{
    Blobs blobs;
    double inertia[512];
    (void)state;
    /* Many overlapping blobs and more clusters than a few iterations can settle. */
    make_blobs(&blobs, 3000, 32, 30, 1.0, 1.0, 0, 13);
    KmeansMetric metrics[] = {KMEANS_EUCLIDEAN, KMEANS_COSINE};
    for (size_t m = 0; m < 2; m++) {
        if (metrics[m] == KMEANS_COSINE)
            kmeans_normalize_rows(blobs.data, blobs.rows, blobs.dim);
        KmeansOptions options = options_for(KMEANS_LLOYD, metrics[m], 20);
        options.tolerance = 0.0; /* run until the centers stop moving */
        options.max_iterations = 300;
        options.restarts = 1;
        KmeansTrace trace = {.inertia = inertia, .capacity = 512};
        Kmeans *kmeans = NULL;
        Error err;
        Rng rng;
        error_clear(&err);
        rng_init(&rng, 2024);
        assert_int_equal(kmeans_new(&options, blobs.dim, &kmeans, &err), ERR_OK);
        kmeans_set_trace(kmeans, &trace);
        assert_int_equal(kmeans_seed_plus_plus(kmeans, blobs.data, blobs.rows, &rng, &err), ERR_OK);
        assert_int_equal(kmeans_refine(kmeans, blobs.data, blobs.rows, &rng, &err), ERR_OK);

        assert_true(trace.length >= 5);
        assert_true(trace.length <= trace.capacity);
        for (int i = 1; i < trace.length; i++)
            if (inertia[i] > inertia[i - 1] * (1.0 + 1e-6))
                fail_msg("inertia rose at pass %d: %.9g -> %.9g", i, inertia[i - 1], inertia[i]);
        /* Real progress was made, and the stored inertia is the last pass's. */
        assert_true(inertia[trace.length - 1] < inertia[0]);
        assert_true(kmeans_inertia(kmeans) == inertia[trace.length - 1]);
        kmeans_free(kmeans);
    }
    free_blobs(&blobs);
}

/*
 * kmeans_lloyd_step is one iteration of kmeans_refine: steps taken one by one
 * from the same seeding give the same inertia sequence as a refine's trace,
 * and after each step every non-empty cluster's center is the mean of the
 * rows the step labelled with it.
 */
static void test_lloyd_step_is_one_refine_iteration(void **state)
{
    Blobs blobs;
    double inertia[8];
    (void)state;
    make_blobs(&blobs, 2000, 24, 8, 1.0, 1.0, 0, 77);
    KmeansOptions options = options_for(KMEANS_LLOYD, KMEANS_EUCLIDEAN, 8);
    options.restarts = 1;
    options.tolerance = 0.0;
    options.max_iterations = 4;
    Kmeans *refined = NULL, *stepped = NULL;
    KmeansTrace trace = {.inertia = inertia, .capacity = 8};
    float *norms = malloc(blobs.rows * sizeof *norms);
    int32_t *labels = malloc(blobs.rows * sizeof *labels);
    double *mean = calloc(blobs.dim, sizeof *mean);
    Error err;
    Rng rng;
    assert_non_null(norms);
    assert_non_null(labels);
    assert_non_null(mean);
    error_clear(&err);

    rng_init(&rng, 5);
    assert_int_equal(kmeans_new(&options, blobs.dim, &refined, &err), ERR_OK);
    kmeans_set_trace(refined, &trace);
    assert_int_equal(kmeans_seed_plus_plus(refined, blobs.data, blobs.rows, &rng, &err), ERR_OK);
    rng_init(&rng, 5);
    assert_int_equal(kmeans_new(&options, blobs.dim, &stepped, &err), ERR_OK);
    assert_int_equal(kmeans_lloyd_step(stepped, blobs.data, blobs.rows, norms, labels, NULL, &err),
                     ERR_INTERNAL); /* not seeded yet */
    assert_int_equal(kmeans_seed_plus_plus(stepped, blobs.data, blobs.rows, &rng, &err), ERR_OK);
    assert_int_equal(kmeans_refine(refined, blobs.data, blobs.rows, &rng, &err), ERR_OK);
    assert_true(trace.length >= 3);

    assert_int_equal(distance_row_norms(blobs.data, blobs.rows, blobs.dim, norms, &err), ERR_OK);
    for (int step = 0; step + 1 < trace.length && step < 3; step++) {
        double step_inertia = -1.0;
        assert_int_equal(kmeans_lloyd_step(stepped, blobs.data, blobs.rows, norms, labels,
                                           &step_inertia, &err),
                         ERR_OK);
        assert_true(fabs(step_inertia - inertia[step]) <= 1e-9 * inertia[step]);
        for (int c = 0; c < 8; c++) {
            size_t members = 0;
            memset(mean, 0, blobs.dim * sizeof *mean);
            for (size_t i = 0; i < blobs.rows; i++) {
                if (labels[i] != c)
                    continue;
                members++;
                for (size_t d = 0; d < blobs.dim; d++)
                    mean[d] += blobs.data[i * blobs.dim + d];
            }
            if (members == 0)
                continue;
            const float *center = kmeans_centers(stepped) + (size_t)c * blobs.dim;
            for (size_t d = 0; d < blobs.dim; d++)
                assert_true(fabs(center[d] - mean[d] / (double)members) <= 1e-4);
        }
    }
    /* Too few rows for k is the same data error as a fit's. */
    assert_int_equal(kmeans_lloyd_step(stepped, blobs.data, 7, norms, labels, NULL, &err),
                     ERR_DATA);
    free(norms);
    free(labels);
    free(mean);
    kmeans_free(refined);
    kmeans_free(stepped);
    free_blobs(&blobs);
}

static void test_assign_with_stored_centers_matches_fit(void **state)
{
    Blobs blobs;
    (void)state;
    make_blobs(&blobs, 2500, 48, 10, 1.0, 0.7, 0, 4);
    /* Converged runs, and runs cut short by max_iterations. */
    KmeansAlgorithm algorithms[] = {KMEANS_LLOYD, KMEANS_MINIBATCH, KMEANS_LLOYD, KMEANS_MINIBATCH};
    int max_iterations[] = {100, 100, 2, 1};
    for (size_t a = 0; a < 4; a++) {
        KmeansOptions options = options_for(algorithms[a], KMEANS_EUCLIDEAN, 10);
        options.restarts = 1;
        options.batch_size = 200;
        options.max_iterations = max_iterations[a];
        int32_t *fit_labels = malloc(blobs.rows * sizeof *fit_labels);
        Kmeans *kmeans = NULL, *stored = NULL;
        Error err;
        Rng rng;
        assert_non_null(fit_labels);
        error_clear(&err);
        rng_init(&rng, 31);
        assert_int_equal(kmeans_new(&options, blobs.dim, &kmeans, &err), ERR_OK);
        assert_int_equal(kmeans_fit(kmeans, blobs.data, blobs.rows, &rng, fit_labels, &err),
                         ERR_OK);

        assert_int_equal(kmeans_new_from_centers(&options, blobs.dim, kmeans_centers(kmeans),
                                                 &stored, &err),
                         ERR_OK);
        assert_ptr_not_equal(kmeans_centers(stored), kmeans_centers(kmeans));
        assert_int_equal(kmeans_cluster_count(stored), 10);
        assert_int_equal(kmeans_dim(stored), blobs.dim);
        double inertia = 0.0;
        int32_t *labels = labels_of(stored, blobs.data, blobs.rows, &inertia);
        assert_memory_equal(labels, fit_labels, blobs.rows * sizeof *labels);
        assert_true(fabs(inertia - kmeans_inertia(kmeans)) <= 1e-9 * inertia);
        free(labels);
        free(fit_labels);
        kmeans_free(stored);
        kmeans_free(kmeans);
    }
    free_blobs(&blobs);
}

/*
 * With Lloyd restarts the kept fit need not be the last one refined: the
 * labels kmeans_fit hands back still describe the kept centers, as an
 * assignment against them does, and the inertia is theirs.
 */
static void test_fit_labels_describe_the_kept_restart(void **state)
{
    Blobs blobs;
    (void)state;
    make_blobs(&blobs, 2000, 16, 12, 1.0, 1.0, 0, 37);
    KmeansOptions options = options_for(KMEANS_LLOYD, KMEANS_EUCLIDEAN, 12);
    options.restarts = 4;
    int32_t *fit_labels = malloc(blobs.rows * sizeof *fit_labels);
    Kmeans *kmeans = NULL;
    Error err;
    Rng rng;
    assert_non_null(fit_labels);
    error_clear(&err);
    rng_init(&rng, 41);
    assert_int_equal(kmeans_new(&options, blobs.dim, &kmeans, &err), ERR_OK);
    assert_int_equal(kmeans_fit(kmeans, blobs.data, blobs.rows, &rng, fit_labels, &err), ERR_OK);
    double assigned = 0.0;
    int32_t *labels = labels_of(kmeans, blobs.data, blobs.rows, &assigned);
    assert_memory_equal(labels, fit_labels, blobs.rows * sizeof *labels);
    assert_true(fabs(assigned - kmeans_inertia(kmeans)) <= 1e-9 * assigned);
    assert_labels_in_range(fit_labels, blobs.rows, 12);
    free(labels);
    free(fit_labels);
    kmeans_free(kmeans);
    free_blobs(&blobs);
}

static void test_assign_distances_match_direct_computation(void **state)
{
    const size_t rows = 5000, dim = 100;
    const int k = 7;
    Rng rng;
    Kmeans *kmeans = NULL;
    Error err;
    (void)state;
    float *data = malloc(rows * dim * sizeof *data);
    float *centers = malloc((size_t)k * dim * sizeof *centers);
    int32_t *labels = malloc(rows * sizeof *labels);
    float *distance = malloc(rows * sizeof *distance);
    assert_non_null(data);
    assert_non_null(centers);
    assert_non_null(labels);
    assert_non_null(distance);
    rng_init(&rng, 77);
    for (size_t i = 0; i < rows * dim; i++)
        data[i] = (float)(rng_normal(&rng) + 0.5);
    for (size_t i = 0; i < (size_t)k * dim; i++)
        centers[i] = (float)(rng_normal(&rng) * 0.5);

    KmeansOptions options = options_for(KMEANS_LLOYD, KMEANS_EUCLIDEAN, k);
    error_clear(&err);
    assert_int_equal(kmeans_new_from_centers(&options, dim, centers, &kmeans, &err), ERR_OK);
    centers[0] = 1e6f; /* the model holds its own copy */
    double inertia = -1.0;
    assert_int_equal(kmeans_assign(kmeans, data, rows, labels, distance, &inertia, &err), ERR_OK);
    centers[0] = kmeans_centers(kmeans)[0];

    double direct_inertia = 0.0;
    for (size_t i = 0; i < rows; i++) {
        double nearest = INFINITY, to_label = 0.0;
        for (int c = 0; c < k; c++) {
            double sum = 0.0;
            for (size_t d = 0; d < dim; d++) {
                double diff = (double)data[i * dim + d] - centers[(size_t)c * dim + d];
                sum += diff * diff;
            }
            if (sum < nearest)
                nearest = sum;
            if (c == labels[i])
                to_label = sum;
        }
        assert_true(labels[i] >= 0 && labels[i] < k);
        assert_true(to_label <= nearest * (1.0 + 1e-3));
        if (fabs(distance[i] - to_label) > 1e-3 * to_label)
            fail_msg("row %zu: distance %.6g, direct %.6g", i, distance[i], to_label);
        direct_inertia += nearest;
    }
    assert_true(fabs(inertia - direct_inertia) <= 1e-4 * direct_inertia);

    /* Without the distance output, and with no rows at all. */
    double again = -1.0, none = -1.0;
    assert_int_equal(kmeans_assign(kmeans, data, rows, labels, NULL, &again, &err), ERR_OK);
    assert_true(again == inertia);
    assert_int_equal(kmeans_assign(kmeans, data, 0, labels, NULL, &none, &err), ERR_OK);
    assert_true(none == 0.0);
    kmeans_free(kmeans);
    free(data);
    free(centers);
    free(labels);
    free(distance);
}

static void test_ties_go_to_the_lowest_index(void **state)
{
    const size_t rows = 300, dim = 24;
    const int k = 6;
    float centers[6 * 24];
    float *data = malloc(rows * dim * sizeof *data);
    int32_t *labels = malloc(rows * sizeof *labels);
    Kmeans *kmeans = NULL;
    Error err;
    Rng rng;
    (void)state;
    assert_non_null(data);
    assert_non_null(labels);
    rng_init(&rng, 123);
    /* Centers 3, 4, 5 repeat centers 0, 1, 2 exactly: every row is a tie. */
    for (size_t i = 0; i < 3 * dim; i++)
        centers[i] = centers[i + 3 * dim] = (float)rng_normal(&rng);
    for (size_t i = 0; i < rows * dim; i++)
        data[i] = (float)rng_normal(&rng);
    KmeansOptions options = options_for(KMEANS_LLOYD, KMEANS_EUCLIDEAN, k);
    error_clear(&err);
    assert_int_equal(kmeans_new_from_centers(&options, dim, centers, &kmeans, &err), ERR_OK);
    double inertia = -1.0;
    assert_int_equal(kmeans_assign(kmeans, data, rows, labels, NULL, &inertia, &err), ERR_OK);
    assert_true(inertia >= 0.0);
    for (size_t i = 0; i < rows; i++)
        assert_true(labels[i] >= 0 && labels[i] < 3);
    assert_int_equal(non_empty_clusters(labels, rows, k), 3);
    kmeans_free(kmeans);
    free(data);
    free(labels);
}

static void test_normalize_rows(void **state)
{
    const size_t rows = 50, dim = 33;
    float data[50 * 33], original[50 * 33];
    Rng rng;
    (void)state;
    rng_init(&rng, 9);
    for (size_t i = 0; i < rows * dim; i++)
        data[i] = (float)(rng_normal(&rng) * 10.0);
    memset(data + 3 * dim, 0, dim * sizeof *data);
    memset(data + 17 * dim, 0, dim * sizeof *data);
    memcpy(original, data, sizeof data);

    kmeans_normalize_rows(data, rows, dim);
    for (size_t i = 0; i < rows; i++) {
        double norm = 0.0, original_norm = 0.0;
        for (size_t d = 0; d < dim; d++) {
            norm += (double)data[i * dim + d] * data[i * dim + d];
            original_norm += (double)original[i * dim + d] * original[i * dim + d];
        }
        if (original_norm == 0.0) {
            for (size_t d = 0; d < dim; d++)
                assert_true(data[i * dim + d] == 0.0f);
            continue;
        }
        assert_true(fabs(sqrt(norm) - 1.0) < 1e-6);
        /* Same direction: scaling back gives the row. */
        for (size_t d = 0; d < dim; d++)
            assert_true(fabs(data[i * dim + d] * sqrt(original_norm) - original[i * dim + d])
                        <= 1e-5 * sqrt(original_norm));
    }
}

/* ---- cancel ---------------------------------------------------------------- */

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* A thread that sends SIGTERM to the process after delay_ms, noting when. */
typedef struct Canceller {
    pthread_t thread;
    long delay_ms;
    double sent;
} Canceller;

static void *cancel_later(void *argument)
{
    Canceller *canceller = argument;
    struct timespec delay = {canceller->delay_ms / 1000, (canceller->delay_ms % 1000) * 1000000L};
    nanosleep(&delay, NULL);
    canceller->sent = seconds_now();
    kill(getpid(), SIGTERM);
    return NULL;
}

/* Every call that loops over the rows returns the cancel error once a signal arrived. */
static void test_cancelled_calls_return_tempfail(void **state)
{
    Blobs blobs;
    KmeansAlgorithm algorithms[] = {KMEANS_LLOYD, KMEANS_MINIBATCH};
    (void)state;
    make_blobs(&blobs, 3000, 8, 6, 5.0, 0.5, 0, 31);
    cancel_install();
    raise(SIGTERM);
    for (int a = 0; a < 2; a++) {
        KmeansOptions options = {algorithms[a], KMEANS_EUCLIDEAN, 6, 100, 2, 256, 1e-4};
        Kmeans *kmeans = NULL, *stored = NULL;
        int32_t *labels = malloc(blobs.rows * sizeof *labels);
        float *norms = malloc(blobs.rows * sizeof *norms);
        Rng rng;
        Error err;
        assert_non_null(labels);
        assert_non_null(norms);
        assert_int_equal(distance_row_norms(blobs.data, blobs.rows, blobs.dim, norms, &err),
                         ERR_OK);
        rng_init(&rng, 5);
        assert_int_equal(kmeans_new(&options, blobs.dim, &kmeans, &err), ERR_OK);
        assert_int_equal(kmeans_fit(kmeans, blobs.data, blobs.rows, &rng, labels, &err),
                         ERR_TEMPFAIL);
        assert_string_equal(err.message, "cancelled by signal 15");
        assert_int_equal(kmeans_seed_plus_plus(kmeans, blobs.data, blobs.rows, &rng, &err),
                         ERR_TEMPFAIL);
        /* Centers from elsewhere (a stored model): refine, step and assign stop too. */
        assert_int_equal(kmeans_new_from_centers(&options, blobs.dim, blobs.data, &stored, &err),
                         ERR_OK);
        assert_int_equal(kmeans_refine(stored, blobs.data, blobs.rows, &rng, &err), ERR_TEMPFAIL);
        assert_int_equal(kmeans_lloyd_step(stored, blobs.data, blobs.rows, norms, labels, NULL,
                                           &err),
                         ERR_TEMPFAIL);
        assert_int_equal(kmeans_assign(stored, blobs.data, blobs.rows, labels, NULL, NULL, &err),
                         ERR_TEMPFAIL);
        kmeans_free(kmeans);
        kmeans_free(stored);
        free(labels);
        free(norms);
    }
    /* Once the signal is forgotten the same fit runs to the end. */
    cancel_reset();
    KmeansOptions options = {KMEANS_LLOYD, KMEANS_EUCLIDEAN, 6, 100, 2, 256, 1e-4};
    Kmeans *kmeans = NULL;
    Rng rng;
    Error err;
    rng_init(&rng, 5);
    assert_int_equal(kmeans_new(&options, blobs.dim, &kmeans, &err), ERR_OK);
    assert_int_equal(kmeans_fit(kmeans, blobs.data, blobs.rows, &rng, NULL, &err), ERR_OK);
    kmeans_free(kmeans);
    free_blobs(&blobs);
}

/*
 * A signal in the middle of a long fit (1000 restarts: tens of seconds to
 * the end) stops it within moments, for both algorithms: the seeding, Lloyd
 * passes, split-and-merge moves and mini-batch steps poll the flag. The
 * target is 0.5 s; the bound is looser for a loaded machine.
 */
static void test_a_signal_stops_a_long_fit(void **state)
{
    Blobs blobs;
    KmeansAlgorithm algorithms[] = {KMEANS_LLOYD, KMEANS_MINIBATCH};
    (void)state;
    make_blobs(&blobs, 20000, 32, 100, 3.0, 1.0, 0, 37);
    cancel_install();
    for (int a = 0; a < 2; a++) {
        KmeansOptions options = {algorithms[a], KMEANS_EUCLIDEAN, 100, 300, 1000, 2000, 0.0};
        Kmeans *kmeans = NULL;
        Canceller canceller = {.delay_ms = 200};
        Rng rng;
        Error err;
        rng_init(&rng, 41);
        assert_int_equal(kmeans_new(&options, blobs.dim, &kmeans, &err), ERR_OK);
        assert_int_equal(pthread_create(&canceller.thread, NULL, cancel_later, &canceller), 0);
        int code = kmeans_fit(kmeans, blobs.data, blobs.rows, &rng, NULL, &err);
        double ended = seconds_now();
        pthread_join(canceller.thread, NULL);
        cancel_reset();
        print_message("    %s: stopped %.3f s after SIGTERM\n",
                      algorithms[a] == KMEANS_LLOYD ? "lloyd" : "minibatch",
                      ended - canceller.sent);
        assert_int_equal(code, ERR_TEMPFAIL);
        assert_true(ended - canceller.sent < 1.5);
        kmeans_free(kmeans);
    }
    free_blobs(&blobs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lloyd_euclidean_recovers_blobs),
        cmocka_unit_test(test_minibatch_euclidean_recovers_blobs),
        cmocka_unit_test(test_lloyd_cosine_recovers_directions),
        cmocka_unit_test(test_minibatch_cosine_recovers_directions),
        cmocka_unit_test(test_separated_blobs_give_pure_clusters),
        cmocka_unit_test(test_minibatch_objective_close_to_lloyd),
        cmocka_unit_test(test_same_seed_same_clusters),
        cmocka_unit_test(test_more_restarts_never_worse),
        cmocka_unit_test(test_seed_inertia_is_the_seeded_centers_inertia),
        cmocka_unit_test(test_minibatch_restarts_refine_once),
        cmocka_unit_test(test_fixed_thread_count_is_reproducible),
        cmocka_unit_test(test_minibatch_gives_the_blas_threads_back),
        cmocka_unit_test(test_k_close_to_rows_leaves_no_cluster_empty),
        cmocka_unit_test(test_duplicates_one_cluster_per_point),
        cmocka_unit_test(test_duplicates_more_clusters_than_points),
        cmocka_unit_test(test_more_clusters_than_rows_is_a_data_error),
        cmocka_unit_test(test_bad_options_are_config_errors),
        cmocka_unit_test(test_lloyd_inertia_never_increases),
        cmocka_unit_test(test_lloyd_step_is_one_refine_iteration),
        cmocka_unit_test(test_assign_with_stored_centers_matches_fit),
        cmocka_unit_test(test_fit_labels_describe_the_kept_restart),
        cmocka_unit_test(test_assign_distances_match_direct_computation),
        cmocka_unit_test(test_ties_go_to_the_lowest_index),
        cmocka_unit_test(test_normalize_rows),
        cmocka_unit_test(test_cancelled_calls_return_tempfail),
        cmocka_unit_test(test_a_signal_stops_a_long_fit),
    };
    return cmocka_run_group_tests_name("kmeans", tests, NULL, NULL);
}
