/*
 * Properties of stored cluster models: assigning rows to the stored centres
 * (rebuilt from the parts a database keeps) gives exactly the assignment the
 * fit produced for the same rows, with and without PCA, for both metrics;
 * drift measured on the fit's own rows equals the fit-time figures; a model
 * refuses data of another dimension or metric; model references parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numeric/model.h"
#include "core/rng.h"

/* k well separated blobs of rows/k rows in dim dimensions, away from the origin. */
static float *make_blobs(size_t rows, size_t dim, int k, uint64_t seed)
{
    Rng rng;
    rng_init(&rng, seed);
    float *centers = malloc((size_t)k * dim * sizeof *centers);
    for (size_t i = 0; i < (size_t)k * dim; i++)
        centers[i] = (float)(5.0 * rng_normal(&rng));
    float *data = malloc(rows * dim * sizeof *data);
    for (size_t i = 0; i < rows; i++) {
        size_t blob = i % (size_t)k;
        for (size_t d = 0; d < dim; d++)
            data[i * dim + d] = centers[blob * dim + d] + (float)(0.6 * rng_normal(&rng));
    }
    free(centers);
    return data;
}

static ModelFitOptions fit_options(KmeansMetric metric, int k, size_t pca)
{
    ModelFitOptions options = {
        .kmeans = {.algorithm = KMEANS_MINIBATCH, .metric = metric, .cluster_count = k,
                   .max_iterations = 50, .restarts = 2, .batch_size = 256, .tolerance = 1e-4},
        .pca_components = pca,
    };
    return options;
}

/* The model as model_store would read it back: only the stored parts. */
static ClusterModel *stored_copy(const ClusterModel *fitted)
{
    ClusterModel *copy = NULL;
    Error err;
    int code = model_new("m", 1, fitted->metric, fitted->dim, fitted->cluster_count,
                         fitted->has_pca ? fitted->pca.components : 0,
                         fitted->has_pca ? fitted->pca.mean : NULL,
                         fitted->has_pca ? fitted->pca.basis : NULL,
                         fitted->has_pca ? fitted->pca.variance_kept : 0, fitted->centers,
                         fitted->fit_share, fitted->fit_mean_distance, &copy, &err);
    assert_int_equal(code, ERR_OK);
    return copy;
}

static void check_assignment_equals_fit(KmeansMetric metric, size_t pca)
{
    const size_t rows = 3000, dim = 24;
    const int k = 6;
    float *data = make_blobs(rows, dim, k, 77 + pca);
    float *original = malloc(rows * dim * sizeof *original);
    memcpy(original, data, rows * dim * sizeof *original);
    int32_t *fit_labels = malloc(rows * sizeof *fit_labels);
    int32_t *assigned = malloc(rows * sizeof *assigned);
    float *distance = malloc(rows * sizeof *distance);
    ClusterModel *model = NULL;
    Rng rng;
    Error err;
    rng_init(&rng, 5);
    ModelFitOptions options = fit_options(metric, k, pca);
    assert_int_equal(model_fit(&options, data, rows, dim, &rng, &model, fit_labels, &err), ERR_OK);
    ClusterModel *stored = stored_copy(model);

    /* In tiles, as a run streams them. */
    for (size_t start = 0; start < rows; start += 700) {
        size_t count = rows - start < 700 ? rows - start : 700;
        double inertia = -1.0;
        assert_int_equal(model_assign(stored, original + start * dim, count, assigned + start,
                                      distance + start, &inertia, &err),
                         ERR_OK);
        assert_true(inertia >= 0);
    }
    assert_memory_equal(fit_labels, assigned, rows * sizeof *assigned);

    /* Drift on the fit's own rows is no drift. */
    ModelDrift drift;
    assert_int_equal(model_drift_init(&drift, k, &err), ERR_OK);
    model_drift_add(&drift, assigned, distance, rows);
    double shares = 0;
    for (int c = 0; c < k; c++) {
        shares += model_drift_share(&drift, c);
        assert_true(fabs(model_drift_share(&drift, c) - stored->fit_share[c]) < 1e-12);
        assert_true(fabs(model_drift_mean_distance(&drift, c) - stored->fit_mean_distance[c])
                    < 1e-4 * (1 + stored->fit_mean_distance[c]));
    }
    assert_true(fabs(shares - 1.0) < 1e-12);
    /* Well separated blobs: one cluster per blob. */
    for (size_t i = (size_t)k; i < rows; i++)
        assert_int_equal(assigned[i], assigned[i % (size_t)k]);

    model_drift_release(&drift);
    model_free(stored);
    model_free(model);
    free(distance);
    free(assigned);
    free(fit_labels);
    free(original);
    free(data);
}

static void test_assignment_equals_fit_euclidean(void **unused)
{
    (void)unused;
    check_assignment_equals_fit(KMEANS_EUCLIDEAN, 0);
}

static void test_assignment_equals_fit_cosine(void **unused)
{
    (void)unused;
    check_assignment_equals_fit(KMEANS_COSINE, 0);
}

static void test_assignment_equals_fit_with_pca(void **unused)
{
    (void)unused;
    check_assignment_equals_fit(KMEANS_EUCLIDEAN, 5);
    check_assignment_equals_fit(KMEANS_COSINE, 8);
}

static void test_pca_model_keeps_most_variance_of_blobs(void **unused)
{
    (void)unused;
    const size_t rows = 1200, dim = 32;
    float *data = make_blobs(rows, dim, 4, 3);
    ClusterModel *model = NULL;
    Rng rng;
    Error err;
    rng_init(&rng, 1);
    ModelFitOptions options = fit_options(KMEANS_EUCLIDEAN, 4, 3);
    assert_int_equal(model_fit(&options, data, rows, dim, &rng, &model, NULL, &err), ERR_OK);
    /* 4 blobs span 3 directions: those hold nearly all the variance. */
    assert_true(model->has_pca);
    assert_int_equal(model->space_dim, 3);
    assert_true(model->pca.variance_kept > 0.9);
    model_free(model);
    free(data);
}

static void test_mismatches_are_data_errors(void **unused)
{
    (void)unused;
    const size_t rows = 200, dim = 8;
    float *data = make_blobs(rows, dim, 2, 4);
    ClusterModel *model = NULL;
    Rng rng;
    Error err;
    rng_init(&rng, 2);
    ModelFitOptions options = fit_options(KMEANS_COSINE, 2, 0);
    assert_int_equal(model_fit(&options, data, rows, dim, &rng, &model, NULL, &err), ERR_OK);
    snprintf(model->name, sizeof model->name, "topics");
    model->version = 3;
    assert_int_equal(model_check(model, 8, KMEANS_COSINE, &err), ERR_OK);
    assert_int_equal(model_check(model, 16, KMEANS_COSINE, &err), ERR_DATA);
    assert_non_null(strstr(err.message, "\"topics\" version 3 takes 8-dimensional"));
    assert_non_null(strstr(err.message, "have 16 dimensions"));
    assert_int_equal(model_check(model, 8, KMEANS_EUCLIDEAN, &err), ERR_DATA);
    assert_non_null(strstr(err.message, "metric cosine"));
    assert_non_null(strstr(err.message, "euclidean"));
    model_free(model);

    /* More clusters than rows, more components than dimensions. */
    options = fit_options(KMEANS_COSINE, 300, 0);
    assert_int_equal(model_fit(&options, data, rows, dim, &rng, &model, NULL, &err), ERR_DATA);
    assert_null(model);
    options = fit_options(KMEANS_COSINE, 2, 9);
    assert_int_equal(model_fit(&options, data, rows, dim, &rng, &model, NULL, &err), ERR_DATA);
    assert_non_null(strstr(err.message, "9 components of 8-dimensional"));
    /* Stored parts that cannot be a model. */
    float center[8] = {0};
    assert_int_equal(model_new("x", 1, KMEANS_COSINE, 8, 1, 9, center, center, 0, center, NULL,
                               NULL, &model, &err),
                     ERR_DATA);
    free(data);
}

static void test_references_parse(void **unused)
{
    (void)unused;
    char name[MODEL_NAME_MAX];
    int version = -1;
    assert_true(model_parse_ref("topics", name, &version));
    assert_string_equal(name, "topics");
    assert_int_equal(version, 0);
    assert_true(model_parse_ref("topics@12", name, &version));
    assert_string_equal(name, "topics");
    assert_int_equal(version, 12);
    assert_true(model_parse_ref("a@b@2", name, &version));
    assert_string_equal(name, "a@b");
    assert_false(model_parse_ref("", name, &version));
    assert_false(model_parse_ref("@2", name, &version));
    assert_false(model_parse_ref("topics@", name, &version));
    assert_false(model_parse_ref("topics@0", name, &version));
    assert_false(model_parse_ref("topics@-1", name, &version));
    assert_false(model_parse_ref("topics@2x", name, &version));
    assert_false(model_parse_ref("topics@99999999999", name, &version));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assignment_equals_fit_euclidean),
        cmocka_unit_test(test_assignment_equals_fit_cosine),
        cmocka_unit_test(test_assignment_equals_fit_with_pca),
        cmocka_unit_test(test_pca_model_keeps_most_variance_of_blobs),
        cmocka_unit_test(test_mismatches_are_data_errors),
        cmocka_unit_test(test_references_parse),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
