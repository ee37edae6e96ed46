/*
 * pairset: the memory and speed of the PairSet that holds the pairs already
 * stored among a run's images (issue 14, point 7), in one process, without a
 * database.
 *
 * It builds a set as write_load_existing does (pairset_new(1024), then one
 * pairset_add per stored row, about 1% of them repeated in the other order),
 * from uniformly random pairs of --images images, and prints one JSON object:
 *   - peak RSS (getrusage ru_maxrss) before and after the build, the growth
 *     per distinct pair, and pairset_memory per pair;
 *   - the build time, and the time of pairset_contains on stored pairs (hits)
 *     and on random pairs (mostly misses), in ns per call;
 *   - the time of pairs_select (strategy by score, 10 bins: --categories)
 *     and of informative_select (prefer uncertain, window 8) over the images
 *     with the set excluded, the median of --repeat runs each.
 * Times are CPU times of the process (OpenBLAS is not called). The build
 * comes first, so the peak RSS growth is the set's own peak.
 *
 * usage: pairset [--images N] [--pairs P] [--categories C] [--budget B]
 *                [--repeat R] [--seed S]
 * build: make build/bench/pairset
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/rng.h"
#include "numeric/informative.h"
#include "numeric/pairs.h"

/* CPU time of the process: the machine may be shared, and all of it is one thread. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Peak resident set size of the process so far, in bytes. */
static double peak_rss(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_maxrss * 1024.0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, compare_double);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

static int parse_size(const char *text, uint64_t *value)
{
    char *end = NULL;
    double parsed = strtod(text, &end);
    if (end == text || *end != '\0' || parsed < 0 || parsed > 1e15)
        return -1;
    *value = (uint64_t)parsed;
    return 0;
}

static void random_pair(Rng *rng, uint64_t images, uint32_t *a, uint32_t *b)
{
    *a = (uint32_t)rng_below(rng, images);
    do
        *b = (uint32_t)rng_below(rng, images);
    while (*b == *a);
}

int main(int argc, char **argv)
{
    uint64_t images = 1000000, pairs = 3000000, categories = 10, budget = 100000, repeat = 3,
             seed = 42;
    for (int i = 1; i + 1 < argc; i += 2) {
        uint64_t *target = strcmp(argv[i], "--images") == 0       ? &images
                           : strcmp(argv[i], "--pairs") == 0      ? &pairs
                           : strcmp(argv[i], "--categories") == 0 ? &categories
                           : strcmp(argv[i], "--budget") == 0     ? &budget
                           : strcmp(argv[i], "--repeat") == 0     ? &repeat
                           : strcmp(argv[i], "--seed") == 0       ? &seed
                                                                  : NULL;
        if (target == NULL || parse_size(argv[i + 1], target) != 0) {
            fprintf(stderr, "pairset: invalid option %s %s\n", argv[i], argv[i + 1]);
            return 64;
        }
    }
    if (images < 2 || images > UINT32_MAX || categories < 1 || categories > INT32_MAX
        || repeat < 1 || repeat > 100 || (argc - 1) % 2 != 0) {
        fprintf(stderr, "usage: pairset [--images N] [--pairs P] [--categories C] [--budget B] "
                        "[--repeat R] [--seed S]\n");
        return 64;
    }

    /* The build: the set alone on top of what the process holds so far. */
    Rng rng;
    rng_init(&rng, seed);
    double rss_before = peak_rss(), started = now();
    PairSet *set = pairset_new(1024);
    if (set == NULL)
        return 70;
    uint64_t rows = 0;
    while (pairset_count(set) < pairs) {
        uint32_t a, b;
        random_pair(&rng, images, &a, &b);
        rows++;
        if (pairset_add(set, a, b) < 0) {
            fprintf(stderr, "pairset: out of memory after %zu pairs\n", pairset_count(set));
            return 70;
        }
        if (rows % 100 == 0 && pairset_add(set, b, a) != 0) { /* a repeated row */
            fprintf(stderr, "pairset: {%u, %u} added twice\n", (unsigned)a, (unsigned)b);
            return 70;
        }
    }
    double build = now() - started, rss_after = peak_rss();
    size_t count = pairset_count(set), memory = pairset_memory(set);

    /* Look-ups: the stored pairs again (hits), then random pairs. */
    enum { LOOKUPS = 2000000 };
    uint64_t found = 0;
    rng_init(&rng, seed);
    started = now();
    for (int k = 0; k < LOOKUPS; k++) {
        uint32_t a, b;
        random_pair(&rng, images, &a, &b);
        found += pairset_contains(set, b, a);
    }
    double hit_ns = (now() - started) * 1e9 / LOOKUPS;
    Rng other;
    rng_init(&other, seed + 1);
    started = now();
    for (int k = 0; k < LOOKUPS; k++) {
        uint32_t a, b;
        random_pair(&other, images, &a, &b);
        found += pairset_contains(set, a, b);
    }
    double miss_ns = (now() - started) * 1e9 / LOOKUPS;

    /* The choosers over the images, the set excluded. */
    int32_t *category_of = malloc(images * sizeof *category_of);
    double *score = malloc(images * sizeof *score);
    double *select_seconds = malloc(repeat * sizeof *select_seconds);
    double *inform_seconds = malloc(repeat * sizeof *inform_seconds);
    if (category_of == NULL || score == NULL || select_seconds == NULL || inform_seconds == NULL)
        return 70;
    rng_init(&rng, seed + 2);
    for (uint64_t i = 0; i < images; i++) {
        score[i] = rng_uniform(&rng);
        category_of[i] = (int32_t)(score[i] * (double)categories);
    }
    InformOptions options = {.prefer = INFORM_UNCERTAIN, .score = score, .score_sigma = 0.1,
                             .beta = 0.1, .window = 8};
    size_t chosen = 0, informed = 0;
    uint64_t examined = 0; /* candidates of informative_select: one look-up each */
    for (uint64_t r = 0; r < repeat; r++) {
        PairsResult result;
        InformResult inform;
        Error err;
        rng_init(&rng, seed + 3 + r);
        started = now();
        if (pairs_select(category_of, images, (int32_t)categories, budget, set, &rng, &result,
                         &err)
            != ERR_OK) {
            fprintf(stderr, "pairset: %s\n", err.message);
            return 70;
        }
        select_seconds[r] = now() - started;
        chosen = result.pair_count;
        pairs_result_release(&result);
        started = now();
        if (informative_select(category_of, images, (int32_t)categories, budget, set, &options,
                               &rng, &inform, &err)
            != ERR_OK) {
            fprintf(stderr, "pairset: %s\n", err.message);
            return 70;
        }
        inform_seconds[r] = now() - started;
        informed = inform.pair_count;
        examined = inform.candidates_examined;
        informative_result_release(&inform);
    }

    printf("{\"images\":%llu,\"pairs\":%zu,\"rows_added\":%llu,\"build_s\":%.3f,"
           "\"peak_rss_before_mb\":%.1f,\"peak_rss_after_mb\":%.1f,"
           "\"peak_rss_bytes_per_pair\":%.2f,\"pairset_memory\":%zu,"
           "\"pairset_memory_bytes_per_pair\":%.2f,"
           "\"contains_hit_ns\":%.1f,\"contains_random_ns\":%.1f,\"found\":%llu,"
           "\"budget\":%llu,\"categories\":%llu,\"pairs_select_s\":%.3f,\"pairs_chosen\":%zu,"
           "\"informative_select_s\":%.3f,\"pairs_informed\":%zu,\"candidates_examined\":%llu,"
           "\"repeat\":%llu}\n",
           (unsigned long long)images, count, (unsigned long long)rows, build,
           rss_before / 1e6, rss_after / 1e6, (rss_after - rss_before) / (double)count, memory,
           (double)memory / (double)count, hit_ns, miss_ns, (unsigned long long)found,
           (unsigned long long)budget, (unsigned long long)categories,
           median(select_seconds, (int)repeat), chosen, median(inform_seconds, (int)repeat),
           informed, (unsigned long long)examined, (unsigned long long)repeat);
    pairset_free(set);
    free(category_of);
    free(score);
    free(select_seconds);
    free(inform_seconds);
    return 0;
}
