/*
 * lloyd: one Lloyd iteration of pairpick's k-means (kmeans_lloyd_step: the
 * tiled sgemm assignment pass with per-cluster sums, then the mean update)
 * against one cblas_sgemm of the same shape (N x D times D x k, into an
 * N x k result), on the same random matrix, in one process. Prints one JSON
 * object: the median and every repeat of each, and their ratio.
 *
 * usage: lloyd [--rows N] [--dim D] [--clusters K] [--repeat R] [--seed S]
 *              [--threads T]   (T < 1: OpenBLAS's default, one per core)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "numeric/blas.h"
#include "numeric/distance.h"
#include "numeric/kmeans.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *values, int count)
{
    double *sorted = malloc((size_t)count * sizeof *sorted);
    if (sorted == NULL)
        return -1.0;
    memcpy(sorted, values, (size_t)count * sizeof *sorted);
    qsort(sorted, (size_t)count, sizeof *sorted, compare_double);
    double middle = count % 2 ? sorted[count / 2]
                              : (sorted[count / 2 - 1] + sorted[count / 2]) / 2.0;
    free(sorted);
    return middle;
}

static long option(int argc, char **argv, const char *name, long fallback, long min)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) != 0)
            continue;
        char *end;
        errno = 0;
        long value = strtol(argv[i + 1], &end, 10);
        if (errno != 0 || *end != '\0' || end == argv[i + 1] || value < min) {
            fprintf(stderr, "lloyd: invalid value \"%s\" for option %s (at least %ld)\n",
                    argv[i + 1], name, min);
            exit(64);
        }
        return value;
    }
    return fallback;
}

static void print_list(const char *name, const double *values, int count)
{
    printf("\"%s\": [", name);
    for (int i = 0; i < count; i++)
        printf("%s%.6f", i ? ", " : "", values[i]);
    printf("]");
}

int main(int argc, char **argv)
{
    size_t rows = (size_t)option(argc, argv, "--rows", 300000, 1);
    size_t dim = (size_t)option(argc, argv, "--dim", 768, 1);
    int k = (int)option(argc, argv, "--clusters", 50, 1);
    int repeat = (int)option(argc, argv, "--repeat", 5, 1);
    uint64_t seed = (uint64_t)option(argc, argv, "--seed", 42, 0);
    int threads = (int)option(argc, argv, "--threads", 0, -1);
    float *data = malloc(rows * dim * sizeof *data);
    float *norms = malloc(rows * sizeof *norms);
    float *centers = malloc((size_t)k * dim * sizeof *centers);
    float *product = malloc(rows * (size_t)k * sizeof *product);
    int32_t *labels = malloc(rows * sizeof *labels);
    double *lloyd_s = malloc((size_t)repeat * sizeof *lloyd_s);
    double *sgemm_s = malloc((size_t)repeat * sizeof *sgemm_s);
    Kmeans *kmeans = NULL;
    KmeansOptions options = {
        .algorithm = KMEANS_LLOYD,
        .metric = KMEANS_EUCLIDEAN,
        .cluster_count = k,
        .max_iterations = 1,
        .restarts = 1,
        .batch_size = 1024,
        .tolerance = 0.0,
    };
    Error err;
    Rng rng;

    error_clear(&err);
    if (data == NULL || norms == NULL || centers == NULL || product == NULL || labels == NULL
        || lloyd_s == NULL || sgemm_s == NULL) {
        fprintf(stderr, "lloyd: out of memory for %zu x %zu\n", rows, dim);
        return 70;
    }
    if (rows < (size_t)k) {
        fprintf(stderr, "lloyd: --rows must be at least --clusters\n");
        return 64;
    }
    kmeans_set_threads(threads);
    /* k blobs, the same shape of data as the bench table's. */
    rng_init(&rng, seed);
    for (size_t i = 0; i < (size_t)k * dim; i++)
        centers[i] = (float)rng_normal(&rng);
    for (size_t i = 0; i < rows; i++) {
        const float *center = centers + (i % (size_t)k) * dim;
        for (size_t d = 0; d < dim; d++)
            data[i * dim + d] = center[d] + (float)(0.5 * rng_normal(&rng));
    }
    /* Start from k rows as centers (what a seeding gives) so the step does real work. */
    for (int c = 0; c < k; c++)
        memcpy(centers + (size_t)c * dim, data + ((size_t)c * 7919 % rows) * dim,
               dim * sizeof *centers);
    if (kmeans_new_from_centers(&options, dim, centers, &kmeans, &err) != ERR_OK
        || distance_row_norms(data, rows, dim, norms, &err) != ERR_OK) {
        fprintf(stderr, "lloyd: %s\n", err.message);
        return 70;
    }

    /* One untimed round of each warms the page tables, caches and BLAS threads. */
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, k, (int)dim, 1.0f, data,
               (int)dim, centers, (int)dim, 0.0f, product, k);
    double inertia = 0.0;
    for (int r = -1; r < repeat; r++) {
        double t0 = now();
        blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, k, (int)dim, 1.0f, data,
                   (int)dim, centers, (int)dim, 0.0f, product, k);
        double t1 = now();
        if (kmeans_lloyd_step(kmeans, data, rows, norms, labels, &inertia, &err) != ERR_OK) {
            fprintf(stderr, "lloyd: %s\n", err.message);
            return 70;
        }
        double t2 = now();
        if (r >= 0) {
            sgemm_s[r] = t1 - t0;
            lloyd_s[r] = t2 - t1;
        }
    }
    double lloyd_median = median(lloyd_s, repeat), sgemm_median = median(sgemm_s, repeat);
    printf("{\"rows\": %zu, \"dim\": %zu, \"clusters\": %d, \"repeat\": %d, \"threads\": %d, ",
           rows, dim, k, repeat, threads);
    print_list("lloyd_s", lloyd_s, repeat);
    printf(", ");
    print_list("sgemm_s", sgemm_s, repeat);
    printf(", \"lloyd_median_s\": %.6f, \"sgemm_median_s\": %.6f, \"ratio\": %.4f, "
           "\"sgemm_gflops\": %.2f, \"last_inertia\": %.6g}\n",
           lloyd_median, sgemm_median, lloyd_median / sgemm_median,
           2.0 * (double)rows * (double)dim * (double)k / sgemm_median * 1e-9, inertia);
    kmeans_free(kmeans);
    free(data);
    free(norms);
    free(centers);
    free(product);
    free(labels);
    free(lloyd_s);
    free(sgemm_s);
    return 0;
}
