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

#include "run/categorize.h"
#include "core/images.h"
#include "numeric/informative.h"
#include "numeric/pairs.h"
#include "core/rng.h"
#include "db/runs.h"
#include "read/stream.h"

/* The stages of a run, timed for the log, the run record and the metrics. */
typedef enum {
    STAGE_CONNECT,
    STAGE_READ,
    STAGE_CATEGORIZE,
    STAGE_PAIRS,
    STAGE_WRITE,
    STAGE_COUNT
} Stage;

const char *report_stage_name(Stage stage);

#define REPORT_EXPOSURE_BUCKETS 8

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
    double stage_seconds[STAGE_COUNT];
    const char *as_of;    /* --as-of, or NULL */
    const char *memory_mode; /* "in_memory" or "bounded" (embedding runs) */
    char memory_note[256];   /* why, with the figures */
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
    /* strategy.clusters_from: the stored model and the drift against its fit (else NULL). */
    const struct ClusterModel *model;
    const struct ModelDrift *drift;
    bool model_refitted;
    /* Informative pairs (strategy.prefer and its companions): */
    const char *prefer;       /* "random" or "uncertain"; NULL before pairing */
    bool has_information;     /* scores: the chosen and random figures below */
    InformStats chosen_information, random_information; /* random: in-category pairs */
    bool has_selection;       /* the informative selector ran: its counts below */
    uint64_t cross_pairs, candidates_examined, near_duplicates_skipped, exposure_skipped;
    bool has_exposure;        /* images by open pairs after this run: 0..6, then 7 or more */
    uint64_t exposure_histogram[REPORT_EXPOSURE_BUCKETS];
    bool has_queue;           /* output.max_pending: the queue before this run */
    uint64_t pending_before;
    int64_t max_pending;
    bool queue_full;          /* nothing to add: the run chose no pairs */
} Report;

/*
 * Fills the quality and cluster figures of report from the run's arrays.
 * Random pairs are drawn with rng (seeded from the run's seed, so the
 * figures are reproducible).
 */
void report_measure(Report *report, const Images *images, const Categories *categories,
                    const Pair *pairs, size_t pair_count, Rng *rng);

/*
 * Fills the information figures: mean |p - 1/2|, mean var_a + var_b and
 * summed expected information of the chosen pairs, and of as many random
 * pairs inside categories drawn with rng. Nothing without scores.
 */
void report_measure_information(Report *report, const InformOptions *options,
                                const int32_t *category_of, size_t image_count, const Pair *pairs,
                                size_t pair_count, Rng *rng);

/* Fills the exposure histogram: exposure (open pairs before the run, may
 * be NULL) plus the chosen pairs, for every image whose category_of >= 0. */
void report_measure_exposure(Report *report, const uint32_t *exposure, const int32_t *category_of,
                             size_t image_count, const Pair *pairs, size_t pair_count);

/* The human summary, with the pairs chosen per category (may be NULL). */
void report_print_human(FILE *out, const Report *report, const Images *images,
                        const Categories *categories, const size_t *pairs_per_category);

/* The one JSON line. */
void report_print_json(FILE *out, const Report *report);

/* The stage times as a JSON object text into buffer. */
const char *report_stage_json(const Report *report, char *buffer, size_t size);

/*
 * Writes the JSON line to path atomically (a temporary file renamed over
 * it), for --xcom-file. ERR_USAGE when the file cannot be written.
 */
int report_write_json_file(const char *path, const Report *report, Error *err);

/*
 * Writes the Prometheus text format for the node_exporter textfile
 * collector to path atomically: last success time (kept from the previous
 * file when this run failed), durations per stage, rows read and skipped,
 * pairs inserted, exit status.
 */
int report_write_metrics(const char *path, const Report *report, Error *err);

#endif
