/*
 * report: what a run tells its operator and its scheduler. A human summary
 * on stderr (counts, categories, pairs per category, and how close the
 * chosen pairs are against random pairs), and exactly one JSON line on
 * stdout with the run id, status and counts.
 *
 * It computes the quality figures from the arrays it is given; it does not
 * read the database. The caller owns the Report.
 */
#ifndef PAIRPICK_REPORT_H
#define PAIRPICK_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "categorize.h"
#include "images.h"
#include "pairs.h"
#include "rng.h"
#include "runs.h"
#include "stream.h"

typedef struct Report {
    const char *job;
    const char *run_id;
    const char *status;   /* "succeeded", "failed", "dry_run", "already_succeeded" */
    const char *strategy;
    int exit_code;
    uint64_t seed;
    RunCounts counts;
    StreamStats stream;
    const char *error;    /* NULL on success */
    double seconds;
    /* Quality of the chosen pairs against random pairs of the same images: */
    bool has_score_delta;
    double chosen_score_delta, random_score_delta;   /* mean |score_a - score_b| */
    bool has_similarity;
    double chosen_similarity, random_similarity;     /* mean cosine similarity */
    /* k-means figures: */
    bool has_clusters;
    int cluster_count, iterations;
    double inertia;
    size_t cluster_size_min, cluster_size_median, cluster_size_max;
} Report;

/*
 * Fills the quality and cluster figures of report from the run's arrays.
 * Random pairs are drawn with rng (seeded from the run's seed, so the
 * figures are reproducible).
 */
void report_measure(Report *report, const Images *images, const Categories *categories,
                    const Pair *pairs, size_t pair_count, Rng *rng);

/* The human summary, with the pairs chosen per category (may be NULL). */
void report_print_human(FILE *out, const Report *report, const Images *images,
                        const Categories *categories, const size_t *pairs_per_category);

/* The one JSON line. */
void report_print_json(FILE *out, const Report *report);

/* Writes text as a JSON string literal (quotes included). */
void report_json_string(FILE *out, const char *text);

#endif
