/*
 * Properties of the PCA module, checked against direct computations on
 * small matrices: the variance kept equals the top eigenvalues' share found
 * by an independent Jacobi eigensolver and the variance of the projected
 * coordinates; the round-trip error equals the variance left out; the basis
 * is orthonormal; data on a plane comes back exactly from two components.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "numeric/pca.h"
#include "core/rng.h"

/* rows x dim: axis variances scales[d]^2, rotated by a random orthonormal matrix, shifted. */
static float *make_data(size_t rows, size_t dim, const double *scales, uint64_t seed)
{
    Rng rng;
    rng_init(&rng, seed);
    double *rotation = malloc(dim * dim * sizeof *rotation);
    /* Gram-Schmidt on Gaussian vectors. */
    for (size_t a = 0; a < dim; a++) {
        double *v = rotation + a * dim;
        for (size_t d = 0; d < dim; d++)
            v[d] = rng_normal(&rng);
        for (size_t b = 0; b < a; b++) {
            double dot = 0;
            for (size_t d = 0; d < dim; d++)
                dot += v[d] * rotation[b * dim + d];
            for (size_t d = 0; d < dim; d++)
                v[d] -= dot * rotation[b * dim + d];
        }
        double norm = 0;
        for (size_t d = 0; d < dim; d++)
            norm += v[d] * v[d];
        for (size_t d = 0; d < dim; d++)
            v[d] /= sqrt(norm);
    }
    float *data = malloc(rows * dim * sizeof *data);
    double *z = malloc(dim * sizeof *z);
    for (size_t i = 0; i < rows; i++) {
        for (size_t a = 0; a < dim; a++)
            z[a] = scales[a] * rng_normal(&rng);
        for (size_t d = 0; d < dim; d++) {
            double x = 3.0 + (double)d; /* a mean far from 0 */
            for (size_t a = 0; a < dim; a++)
                x += z[a] * rotation[a * dim + d];
            data[i * dim + d] = (float)x;
        }
    }
    free(z);
    free(rotation);
    return data;
}

/* Population covariance in double, computed directly. */
static double *covariance_of(const float *data, size_t rows, size_t dim)
{
    double *mean = calloc(dim, sizeof *mean), *cov = calloc(dim * dim, sizeof *cov);
    for (size_t i = 0; i < rows; i++)
        for (size_t d = 0; d < dim; d++)
            mean[d] += data[i * dim + d] / (double)rows;
    for (size_t i = 0; i < rows; i++)
        for (size_t a = 0; a < dim; a++)
            for (size_t b = 0; b < dim; b++)
                cov[a * dim + b] += (data[i * dim + a] - mean[a]) * (data[i * dim + b] - mean[b])
                                    / (double)rows;
    free(mean);
    return cov;
}

/* Cyclic Jacobi: the eigenvalues of a small symmetric matrix (destroyed), descending. */
static void jacobi_eigenvalues(double *a, size_t n, double *values)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (size_t p = 0; p < n; p++)
            for (size_t q = p + 1; q < n; q++)
                off += a[p * n + q] * a[p * n + q];
        if (off < 1e-24)
            break;
        for (size_t p = 0; p < n; p++)
            for (size_t q = p + 1; q < n; q++) {
                if (fabs(a[p * n + q]) < 1e-300)
                    continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q]);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (size_t k = 0; k < n; k++) { /* columns p, q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (size_t k = 0; k < n; k++) { /* rows p, q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (size_t i = 0; i < n; i++)
        values[i] = a[i * n + i];
    for (size_t i = 0; i < n; i++) /* descending */
        for (size_t j = i + 1; j < n; j++)
            if (values[j] > values[i]) {
                double t = values[i];
                values[i] = values[j];
                values[j] = t;
            }
}

static void test_variance_kept_matches_direct_computation(void **unused)
{
    (void)unused;
    const size_t rows = 2000, dim = 6;
    const double scales[6] = {3.0, 2.0, 1.0, 0.5, 0.3, 0.1};
    float *data = make_data(rows, dim, scales, 11);
    double *cov = covariance_of(data, rows, dim);
    double trace = 0, values[6];
    for (size_t d = 0; d < dim; d++)
        trace += cov[d * dim + d];
    jacobi_eigenvalues(cov, dim, values);

    for (size_t components = 1; components <= dim; components++) {
        Pca pca;
        Error err;
        assert_int_equal(pca_fit(data, rows, dim, components, &pca, &err), ERR_OK);
        double top = 0;
        for (size_t c = 0; c < components; c++)
            top += values[c];
        assert_true(fabs(pca.variance_kept - top / trace) < 1e-4);

        /* The variance of the projected coordinates, directly. */
        float *projected = malloc(rows * components * sizeof *projected);
        pca_project(&pca, data, rows, projected);
        double projected_variance = 0;
        for (size_t c = 0; c < components; c++) {
            double mean = 0, square = 0;
            for (size_t i = 0; i < rows; i++)
                mean += projected[i * components + c] / (double)rows;
            for (size_t i = 0; i < rows; i++) {
                double v = projected[i * components + c] - mean;
                square += v * v / (double)rows;
            }
            projected_variance += square;
            assert_true(fabs(mean) < 1e-3); /* centred */
        }
        assert_true(fabs(projected_variance / trace - pca.variance_kept) < 1e-3);
        free(projected);
        pca_release(&pca);
    }
    free(cov);
    free(data);
}

static void test_round_trip_error_is_the_variance_left_out(void **unused)
{
    (void)unused;
    const size_t rows = 1500, dim = 5;
    const double scales[5] = {2.0, 1.5, 0.7, 0.2, 0.05};
    float *data = make_data(rows, dim, scales, 5);
    double *cov = covariance_of(data, rows, dim);
    double trace = 0;
    for (size_t d = 0; d < dim; d++)
        trace += cov[d * dim + d];
    float *projected = malloc(rows * dim * sizeof *projected);
    float *back = malloc(rows * dim * sizeof *back);
    for (size_t components = 1; components <= dim; components++) {
        Pca pca;
        Error err;
        assert_int_equal(pca_fit(data, rows, dim, components, &pca, &err), ERR_OK);
        pca_project(&pca, data, rows, projected);
        pca_reconstruct(&pca, projected, rows, back);
        double error = 0;
        for (size_t i = 0; i < rows * dim; i++)
            error += ((double)back[i] - data[i]) * ((double)back[i] - data[i]) / (double)rows;
        double left_out = trace * (1.0 - pca.variance_kept);
        assert_true(fabs(error - left_out) < 1e-3 * trace);
        if (components == dim)
            assert_true(error < 1e-6 * trace);
        pca_release(&pca);
    }
    free(projected);
    free(back);
    free(cov);
    free(data);
}

static void test_basis_is_orthonormal(void **unused)
{
    (void)unused;
    const size_t rows = 800, dim = 8, components = 4;
    const double scales[8] = {4, 3, 2, 1, 0.5, 0.4, 0.3, 0.2};
    float *data = make_data(rows, dim, scales, 3);
    Pca pca;
    Error err;
    assert_int_equal(pca_fit(data, rows, dim, components, &pca, &err), ERR_OK);
    for (size_t a = 0; a < components; a++)
        for (size_t b = 0; b < components; b++) {
            double dot = 0;
            for (size_t d = 0; d < dim; d++)
                dot += (double)pca.basis[a * dim + d] * pca.basis[b * dim + d];
            assert_true(fabs(dot - (a == b ? 1.0 : 0.0)) < 1e-5);
        }
    pca_release(&pca);
    free(data);
}

static void test_plane_comes_back_exactly(void **unused)
{
    (void)unused;
    const size_t rows = 500, dim = 5;
    const double scales[5] = {2.0, 1.0, 0, 0, 0};
    float *data = make_data(rows, dim, scales, 9);
    float *projected = malloc(rows * 2 * sizeof *projected);
    float *back = malloc(rows * dim * sizeof *back);
    Pca pca;
    Error err;
    assert_int_equal(pca_fit(data, rows, dim, 2, &pca, &err), ERR_OK);
    assert_true(pca.variance_kept > 1 - 1e-6);
    pca_project(&pca, data, rows, projected);
    pca_reconstruct(&pca, projected, rows, back);
    for (size_t i = 0; i < rows * dim; i++)
        assert_true(fabsf(back[i] - data[i]) < 1e-3f);
    pca_release(&pca);
    free(projected);
    free(back);
    free(data);
}

static void test_stored_projection_projects_the_same(void **unused)
{
    (void)unused;
    const size_t rows = 300, dim = 6;
    const double scales[6] = {3, 2, 1, 0.5, 0.2, 0.1};
    float *data = make_data(rows, dim, scales, 21);
    Pca fitted, stored;
    Error err;
    assert_int_equal(pca_fit(data, rows, dim, 3, &fitted, &err), ERR_OK);
    assert_int_equal(pca_init_from(&stored, dim, 3, fitted.mean, fitted.basis,
                                   fitted.variance_kept, &err),
                     ERR_OK);
    float *a = malloc(rows * 3 * sizeof *a), *b = malloc(rows * 3 * sizeof *b);
    pca_project(&fitted, data, rows, a);
    pca_project(&stored, data, rows, b);
    assert_memory_equal(a, b, rows * 3 * sizeof *a);
    free(a);
    free(b);
    pca_release(&fitted);
    pca_release(&stored);
    free(data);
}

static void test_impossible_requests_are_errors(void **unused)
{
    (void)unused;
    float data[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    Pca pca;
    Error err;
    assert_int_equal(pca_fit(data, 4, 3, 0, &pca, &err), ERR_CONFIG);
    assert_int_equal(pca_fit(data, 4, 3, 4, &pca, &err), ERR_CONFIG);
    assert_non_null(strstr(err.message, "4 principal components of 3-dimensional"));
    assert_int_equal(pca_fit(data, 1, 3, 2, &pca, &err), ERR_DATA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variance_kept_matches_direct_computation),
        cmocka_unit_test(test_round_trip_error_is_the_variance_left_out),
        cmocka_unit_test(test_basis_is_orthonormal),
        cmocka_unit_test(test_plane_comes_back_exactly),
        cmocka_unit_test(test_stored_projection_projects_the_same),
        cmocka_unit_test(test_impossible_requests_are_errors),
    };
    return cmocka_run_group_tests_name("pca", tests, NULL, NULL);
}
