/*
 * report: the figures of a run, gathered stage by stage: its identity and
 * status, counts, stage times, and what the stages measured (memory mode,
 * quality of the chosen pairs against random pairs, clusters, the stored
 * model, the informative selection, the queue).
 *
 * It computes the quality figures from the arrays it is given; it does not
 * read the database or print (summary prints it, metrics writes the
 * Prometheus file). The caller owns the Report.
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

/* How an embedding run held its data: "in_memory", "bounded" or "assign", and why. */
typedef struct ReportMemory {
    const char *mode; /* NULL for runs without embeddings */
    char note[256];
} ReportMemory;

/* The chosen pairs against random pairs of the same images. */
typedef struct ReportQuality {
    bool has_score_delta;
    double chosen_score_delta, random_score_delta; /* mean |score_a - score_b| */
    bool has_similarity;
    double chosen_similarity, random_similarity; /* mean cosine similarity */
} ReportQuality;

/* The k-means clustering of the run. */
typedef struct ReportClusters {
    bool measured;
    int cluster_count, iterations;
    double inertia;
    size_t size_min, size_median, size_max;
} ReportClusters;

/* strategy.clusters_from: the stored model and the drift against its fit (else NULL). */
typedef struct ReportModel {
    const struct ClusterModel *stored;
    const struct ModelDrift *drift;
    bool refitted;
} ReportModel;

/* Informative pairs (strategy.prefer and its companions). */
typedef struct ReportSelection {
    const char *prefer;   /* "random", "uncertain" or "informative"; NULL before pairing */
    bool has_information; /* scores: the chosen and random figures below */
    InformStats chosen_information, random_information; /* random: in-category pairs */
    bool selector_ran;    /* the informative selector chose: its counts below */
    uint64_t cross_pairs, candidates_examined, near_duplicates_skipped, exposure_skipped;
    uint64_t capped_images; /* images max_exposure or max_comparisons left out */
    bool has_exposure;    /* images by open pairs after this run: 0..6, then 7 or more */
    uint64_t exposure_histogram[REPORT_EXPOSURE_BUCKETS];
} ReportSelection;

/* output.max_pending: the job's queue before this run. */
typedef struct ReportQueue {
    bool enabled;
    uint64_t pending_before;
    int64_t max_pending;
    bool full; /* nothing to add: the run chose no pairs */
} ReportQueue;

typedef struct Report {
    const char *job;
    const char *run_id;
    const char *status;   /* "succeeded", "failed", "dry_run", "already_succeeded", "skipped" */
    const char *skip_reason; /* with "skipped": "locked", "nothing_to_do" or "queue_full" */
    const char *strategy;
    int exit_code;
    uint64_t seed;
    const char *error;    /* NULL on success */
    const char *as_of;    /* --as-of, or NULL */
    double seconds;
    double stage_seconds[STAGE_COUNT];
    RunCounts counts;     /* rows and pairs, as on the run record */
    StreamStats stream;   /* what the read saw */
    ReportMemory memory;
    ReportQuality quality;
    ReportClusters clusters;
    ReportModel model;
    ReportSelection selection;
    ReportQueue queue;
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

/* The stage times as a JSON object text into buffer. */
const char *report_stage_json(const Report *report, char *buffer, size_t size);

#endif
