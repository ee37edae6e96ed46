/*
 * clusters: pairpick's k-means on a file of labelled blobs, scored against
 * the true blobs (tests/bench/clusters.py writes the file and runs this for
 * each configuration next to scikit-learn).
 *
 * The file: int64 rows, int64 dim (little-endian), rows x dim float32
 * (row-major), then rows int32 true blob ids. For each repeat the rows are
 * copied, normalized for cosine (kmeans_normalize_rows, as the categorize
 * stage does) and fitted with kmeans_fit; the time of normalize + fit is the
 * categorize time measured, as wall and as process CPU time (the second is
 * steadier on a shared machine). The labels of the last repeat are scored: the
 * adjusted Rand index against the true blobs, and the share of `--pairs`
 * pairs chosen by pairs_select (as `by: embedding` does) whose two images
 * come from one true blob. Prints one JSON object.
 *
 * usage: clusters --data FILE --algorithm lloyd|minibatch --metric cosine|euclidean
 *                 --clusters K [--seed S] [--n-init 3] [--max-iter 100]
 *                 [--batch-size 1024] [--tolerance 1e-4] [--pairs 30000]
 *                 [--repeat 1] [--threads T]   (T < 1: OpenBLAS's default)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "numeric/kmeans.h"
#include "numeric/pairs.h"

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
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
        exit(70);
    memcpy(sorted, values, (size_t)count * sizeof *sorted);
    qsort(sorted, (size_t)count, sizeof *sorted, compare_double);
    double middle = count % 2 ? sorted[count / 2]
                              : (sorted[count / 2 - 1] + sorted[count / 2]) / 2.0;
    free(sorted);
    return middle;
}

static void print_list(const char *name, const double *values, int count)
{
    printf(", \"%s\": [", name);
    for (int i = 0; i < count; i++)
        printf("%s%.6f", i ? ", " : "", values[i]);
    printf("]");
}

static const char *text_option(int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return fallback;
}

static double number_option(int argc, char **argv, const char *name, double fallback,
                            double min)
{
    const char *text = text_option(argc, argv, name, NULL);
    if (text == NULL)
        return fallback;
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || *end != '\0' || end == text || value < min) {
        fprintf(stderr, "clusters: invalid value \"%s\" for option %s (at least %g)\n", text, name,
                min);
        exit(64);
    }
    return value;
}

static double choose2(double n)
{
    return n * (n - 1.0) / 2.0;
}

/* Adjusted Rand index (Hubert and Arabie) of two labelings with labels in [0, k). */
static double adjusted_rand(const int32_t *a, const int32_t *b, size_t rows, int ka, int kb)
{
    double *table = calloc((size_t)ka * (size_t)kb, sizeof *table);
    double *row_sum = calloc((size_t)ka, sizeof *row_sum);
    double *column_sum = calloc((size_t)kb, sizeof *column_sum);
    double index = 0.0, rows_term = 0.0, columns_term = 0.0;
    if (table == NULL || row_sum == NULL || column_sum == NULL) {
        fprintf(stderr, "clusters: out of memory\n");
        exit(70);
    }
    for (size_t i = 0; i < rows; i++) {
        table[(size_t)a[i] * (size_t)kb + (size_t)b[i]] += 1.0;
        row_sum[a[i]] += 1.0;
        column_sum[b[i]] += 1.0;
    }
    for (size_t i = 0; i < (size_t)ka * (size_t)kb; i++)
        index += choose2(table[i]);
    for (int i = 0; i < ka; i++)
        rows_term += choose2(row_sum[i]);
    for (int j = 0; j < kb; j++)
        columns_term += choose2(column_sum[j]);
    double expected = rows_term * columns_term / choose2((double)rows);
    double maximum = (rows_term + columns_term) / 2.0;
    free(table);
    free(row_sum);
    free(column_sum);
    return maximum == expected ? 1.0 : (index - expected) / (maximum - expected);
}

int main(int argc, char **argv)
{
    const char *path = text_option(argc, argv, "--data", NULL);
    const char *algorithm = text_option(argc, argv, "--algorithm", "minibatch");
    const char *metric = text_option(argc, argv, "--metric", "cosine");
    int k = (int)number_option(argc, argv, "--clusters", 0, 1);
    uint64_t seed = (uint64_t)number_option(argc, argv, "--seed", 42, 0);
    int repeat = (int)number_option(argc, argv, "--repeat", 1, 1);
    int threads = (int)number_option(argc, argv, "--threads", 0, -1);
    uint64_t max_pairs = (uint64_t)number_option(argc, argv, "--pairs", 30000, 1);
    KmeansOptions options = {
        .algorithm = strcmp(algorithm, "lloyd") == 0 ? KMEANS_LLOYD : KMEANS_MINIBATCH,
        .metric = strcmp(metric, "euclidean") == 0 ? KMEANS_EUCLIDEAN : KMEANS_COSINE,
        .cluster_count = k,
        .max_iterations = (int)number_option(argc, argv, "--max-iter", 100, 1),
        .restarts = (int)number_option(argc, argv, "--n-init", 3, 1),
        .batch_size = (int)number_option(argc, argv, "--batch-size", 1024, 1),
        .tolerance = number_option(argc, argv, "--tolerance", 1e-4, 0),
    };
    int64_t header[2];
    Error err;

    error_clear(&err);
    if (path == NULL || k < 1) {
        fprintf(stderr, "clusters: --data FILE and --clusters K are required\n");
        return 64;
    }
    FILE *file = fopen(path, "rb");
    if (file == NULL || fread(header, sizeof header[0], 2, file) != 2 || header[0] < 1
        || header[1] < 1) {
        fprintf(stderr, "clusters: cannot read '%s'\n", path);
        return 66;
    }
    size_t rows = (size_t)header[0], dim = (size_t)header[1];
    float *source = malloc(rows * dim * sizeof *source);
    float *data = malloc(rows * dim * sizeof *data);
    int32_t *truth = malloc(rows * sizeof *truth);
    int32_t *labels = malloc(rows * sizeof *labels);
    double *seconds = malloc((size_t)repeat * sizeof *seconds);
    double *cpu_seconds = malloc((size_t)repeat * sizeof *cpu_seconds);
    if (source == NULL || data == NULL || truth == NULL || labels == NULL || seconds == NULL
        || cpu_seconds == NULL) {
        fprintf(stderr, "clusters: out of memory for %zu x %zu\n", rows, dim);
        return 70;
    }
    if (fread(source, sizeof *source, rows * dim, file) != rows * dim
        || fread(truth, sizeof *truth, rows, file) != rows) {
        fprintf(stderr, "clusters: '%s' is shorter than %zu x %zu\n", path, rows, dim);
        return 66;
    }
    fclose(file);
    int blobs = 0;
    for (size_t i = 0; i < rows; i++)
        if (truth[i] + 1 > blobs)
            blobs = truth[i] + 1;

    kmeans_set_threads(threads);
    double inertia = 0.0;
    int iterations = 0;
    for (int r = 0; r < repeat; r++) {
        Kmeans *kmeans = NULL;
        Rng rng;
        memcpy(data, source, rows * dim * sizeof *data);
        rng_init(&rng, seed);
        double started = clock_seconds(CLOCK_MONOTONIC);
        double cpu_started = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
        if (options.metric == KMEANS_COSINE)
            kmeans_normalize_rows(data, rows, dim);
        if (kmeans_new(&options, dim, &kmeans, &err) != ERR_OK
            || kmeans_fit(kmeans, data, rows, &rng, labels, &err) != ERR_OK) {
            fprintf(stderr, "clusters: %s\n", err.message);
            return 70;
        }
        seconds[r] = clock_seconds(CLOCK_MONOTONIC) - started;
        cpu_seconds[r] = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_started;
        inertia = kmeans_inertia(kmeans);
        iterations = kmeans_iterations(kmeans);
        kmeans_free(kmeans);
    }

    PairsResult pairs;
    Rng pair_rng;
    memset(&pairs, 0, sizeof pairs);
    rng_init(&pair_rng, seed);
    if (pairs_select(labels, rows, k, max_pairs, NULL, &pair_rng, &pairs, &err) != ERR_OK) {
        fprintf(stderr, "clusters: %s\n", err.message);
        return 70;
    }
    size_t inside = 0;
    for (size_t i = 0; i < pairs.pair_count; i++)
        inside += truth[pairs.pairs[i].a] == truth[pairs.pairs[i].b];
    double share = pairs.pair_count > 0 ? (double)inside / (double)pairs.pair_count : 1.0;

    printf("{\"rows\": %zu, \"dim\": %zu, \"clusters\": %d, \"algorithm\": \"%s\", "
           "\"metric\": \"%s\", \"seed\": %llu, \"ari\": %.6f, \"pair_share\": %.6f, "
           "\"pairs\": %zu, \"inertia\": %.9g, \"iterations\": %d, \"fit_median_s\": %.6f, "
           "\"fit_cpu_median_s\": %.6f",
           rows, dim, k, options.algorithm == KMEANS_LLOYD ? "lloyd" : "minibatch",
           options.metric == KMEANS_COSINE ? "cosine" : "euclidean", (unsigned long long)seed,
           adjusted_rand(truth, labels, rows, blobs, k), share, pairs.pair_count, inertia,
           iterations, median(seconds, repeat), median(cpu_seconds, repeat));
    print_list("fit_s", seconds, repeat);
    print_list("fit_cpu_s", cpu_seconds, repeat);
    printf("}\n");
    pairs_result_release(&pairs);
    free(source);
    free(data);
    free(truth);
    free(labels);
    free(seconds);
    free(cpu_seconds);
    return 0;
}
