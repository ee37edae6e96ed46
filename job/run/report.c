#include "run/report.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define RANDOM_PAIRS 20000

/*
 * |x - y| scaled by 2^-scale: finite for any finite scores (+-1e308 too).
 * Powers of two scale exactly, so a sum of these terms, divided and scaled
 * back (ldexp), equals the plain mean wherever that is finite.
 */
static double scaled_delta(double x, double y, int scale)
{
    return fabs(ldexp(x, -scale) - ldexp(y, -scale));
}

/* A scale under which a sum of count scaled deltas cannot overflow. */
static int delta_scale(size_t count)
{
    int scale = 1;
    while (scale < 64 && ((uint64_t)1 << (scale - 1)) < (uint64_t)count)
        scale++;
    return scale;
}

/* A figure that has no finite value goes out as null in the JSON; say so once. */
static void warn_not_finite(const char *name, double value)
{
    if (!isfinite(value))
        log_line("warning", "report", NULL,
                 "%s is beyond the range of a double (%g): reported as null", name, value);
}

static double cosine(const Images *images, uint32_t a, uint32_t b)
{
    const float *x = images->embedding + (size_t)a * images->dim;
    const float *y = images->embedding + (size_t)b * images->dim;
    double dot = 0, xx = 0, yy = 0;
    for (size_t d = 0; d < images->dim; d++) {
        dot += (double)x[d] * y[d];
        xx += (double)x[d] * x[d];
        yy += (double)y[d] * y[d];
    }
    return xx > 0 && yy > 0 ? dot / sqrt(xx * yy) : 0.0;
}

static int compare_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

void report_measure(Report *report, const Images *images, const Categories *categories,
                    const Pair *pairs, size_t pair_count, Rng *rng)
{
    size_t n = images->count;
    bool scores = images->score != NULL;
    bool embeddings = images->embedding != NULL && images->dim > 0;

    if (pair_count > 0 && n >= 2) {
        double chosen_delta = 0, chosen_similarity = 0;
        size_t counted = 0;
        int chosen_scale = delta_scale(pair_count), random_scale = delta_scale(RANDOM_PAIRS);
        for (size_t i = 0; i < pair_count; i++) {
            if (scores && isfinite(images->score[pairs[i].a]) && isfinite(images->score[pairs[i].b])) {
                chosen_delta += scaled_delta(images->score[pairs[i].a], images->score[pairs[i].b],
                                             chosen_scale);
                counted++;
            }
            if (embeddings)
                chosen_similarity += cosine(images, pairs[i].a, pairs[i].b);
        }
        double random_delta = 0, random_similarity = 0;
        size_t random_counted = 0;
        for (size_t i = 0; i < RANDOM_PAIRS; i++) {
            uint32_t a = (uint32_t)rng_below(rng, n);
            uint32_t b = (uint32_t)rng_below(rng, n - 1);
            if (b >= a)
                b++;
            if (scores && isfinite(images->score[a]) && isfinite(images->score[b])) {
                random_delta += scaled_delta(images->score[a], images->score[b], random_scale);
                random_counted++;
            }
            if (embeddings)
                random_similarity += cosine(images, a, b);
        }
        if (scores && counted > 0 && random_counted > 0) {
            report->quality.has_score_delta = true;
            report->quality.chosen_score_delta = ldexp(chosen_delta / (double)counted, chosen_scale);
            report->quality.random_score_delta =
                ldexp(random_delta / (double)random_counted, random_scale);
            warn_not_finite("mean_score_delta", report->quality.chosen_score_delta);
            warn_not_finite("random_score_delta", report->quality.random_score_delta);
        }
        if (embeddings) {
            report->quality.has_similarity = true;
            report->quality.chosen_similarity = chosen_similarity / (double)pair_count;
            report->quality.random_similarity = random_similarity / RANDOM_PAIRS;
        }
    }

    if (categories->cluster_count > 0) {
        size_t k = (size_t)categories->cluster_count;
        size_t *sizes = calloc(k, sizeof *sizes);
        report->clusters.measured = true;
        report->clusters.cluster_count = categories->cluster_count;
        report->clusters.iterations = categories->iterations;
        report->clusters.inertia = categories->inertia;
        if (sizes != NULL) {
            for (size_t i = 0; i < n; i++) {
                int32_t c = categories->category_of[i];
                if (c < 0)
                    continue;
                int32_t cluster = categories->group_of_category[c];
                if (cluster >= 0 && (size_t)cluster < k)
                    sizes[cluster]++;
            }
            qsort(sizes, k, sizeof *sizes, compare_size);
            report->clusters.size_min = sizes[0];
            report->clusters.size_median = sizes[k / 2];
            report->clusters.size_max = sizes[k - 1];
            free(sizes);
        }
    }
}

void report_measure_information(Report *report, const InformOptions *options,
                                const int32_t *category_of, size_t image_count, const Pair *pairs,
                                size_t pair_count, Rng *rng)
{
    if (options->score == NULL || pair_count == 0)
        return;
    Pair *random = malloc(pair_count * sizeof *random);
    if (random == NULL)
        return; /* figures only: the run goes on without them */
    size_t drawn = 0;
    Error ignored; /* figures only: out of memory, the random side compares no pairs */
    (void)informative_random_pairs(category_of, image_count, pair_count, rng, random, &drawn,
                                   &ignored);
    informative_measure(options, pairs, pair_count, &report->selection.chosen_information);
    informative_measure(options, random, drawn, &report->selection.random_information);
    report->selection.has_information = report->selection.chosen_information.pair_count > 0;
    if (report->selection.has_information) {
        const InformStats *chosen = &report->selection.chosen_information;
        const InformStats *other = &report->selection.random_information;
        warn_not_finite("mean_variance_sum", chosen->mean_variance_sum);
        warn_not_finite("random_mean_variance_sum", other->mean_variance_sum);
        warn_not_finite("information_sum", chosen->information_sum);
        warn_not_finite("random_information_sum", other->information_sum);
    }
    free(random);
}

void report_measure_exposure(Report *report, const uint32_t *exposure, const int32_t *category_of,
                             size_t image_count, const Pair *pairs, size_t pair_count)
{
    uint32_t *shown = calloc(image_count + 1, sizeof *shown);
    if (shown == NULL)
        return;
    for (size_t k = 0; k < pair_count; k++)
        shown[pairs[k].a]++, shown[pairs[k].b]++;
    memset(report->selection.exposure_histogram, 0, sizeof report->selection.exposure_histogram);
    for (size_t i = 0; i < image_count; i++) {
        if (category_of[i] < 0)
            continue;
        uint64_t open = (uint64_t)shown[i] + (exposure != NULL ? exposure[i] : 0);
        report->selection.exposure_histogram[open < REPORT_EXPOSURE_BUCKETS ? open
                                                                  : REPORT_EXPOSURE_BUCKETS - 1]++;
    }
    report->selection.has_exposure = true;
    free(shown);
}

const char *report_stage_name(Stage stage)
{
    static const char *const names[STAGE_COUNT] = {"connect", "read", "categorize", "pairs",
                                                   "write"};
    return stage < STAGE_COUNT ? names[stage] : "unknown";
}

const char *report_stage_json(const Report *report, char *buffer, size_t size)
{
    size_t used = 0;
    buffer[0] = '\0';
    for (int stage = 0; stage < STAGE_COUNT && used < size; stage++)
        used += (size_t)snprintf(buffer + used, size - used, "%s\"%s\":%.3f", stage == 0 ? "{" : ",",
                                 report_stage_name((Stage)stage), report->stage_seconds[stage]);
    if (used < size)
        snprintf(buffer + used, size - used, "}");
    return buffer;
}
