/*
 * selection: the read stage of a run (and of sample): reads the job's
 * selection in one REPEATABLE READ snapshot, choosing how to hold it:
 *
 *   READ_IN_MEMORY  every row, embeddings in one float32 matrix (over
 *                   several connections for large embedding reads);
 *   READ_BOUNDED    the matrix would not fit resources.memory_limit: pass 1
 *                   keeps ids and scores and a uniform sample of embeddings,
 *                   k-means is fitted on the sample, pass 2 assigns every row
 *                   to its nearest centre, keeping only its label;
 *   READ_ASSIGN     strategy.clusters_from: every row assigned to a stored
 *                   model's centres while streaming (after a refit when one
 *                   is due).
 *
 * For a run it also reads, in the same snapshot, what the output table
 * holds among the selected images: the pairs already proposed, each
 * image's open pairs (exposure) and the job's queue.
 *
 * It does not categorize or choose. The caller owns the Images and the
 * ReadResult (read_result_release).
 */
#ifndef PAIRPICK_SELECTION_H
#define PAIRPICK_SELECTION_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"
#include "core/images.h"
#include "core/rng.h"
#include "db/db.h"
#include "db/runs.h"
#include "numeric/pairs.h"
#include "read/assign.h"
#include "read/plan.h"
#include "read/stream.h"
#include "run/categorize.h"
#include "run/report.h"

typedef enum { READ_IN_MEMORY, READ_BOUNDED, READ_ASSIGN } ReadMode;

typedef struct ReadRequest {
    const JobConfig *config;
    const Plan *plan;
    const StreamOptions *stream_options;
    ModelUse *model;    /* strategy.clusters_from, prepared: READ_ASSIGN; else NULL */
    bool output_table;  /* also the pairs stored among the images, exposure and queue */
} ReadRequest;

typedef struct ReadResult {
    ReadMode mode;
    bool streamed;             /* the rows were read (the counts below mean something) */
    StreamStats stats;
    uint64_t source_rows;      /* the selection's rows before the stream's rejects */
    ClusterLabels clusters;    /* READ_BOUNDED: the labels assigned in pass 2 */
    int32_t *cluster_labels;   /* owns clusters.cluster_of */
    PairSet *existing;         /* output_table: pairs already proposed, as row pairs */
    uint32_t *exposure;        /* output_table and an informative run: pending pairs per image */
    uint32_t *comparisons;     /* output_table and strategy.max_comparisons: annotated pairs */
    uint64_t pending_before;   /* output_table and output.max_pending: the job's queue */
} ReadResult;

/*
 * Reads the selection into images (initialized by the caller) as the
 * request asks; rng draws the bounded mode's sample. memory receives the
 * mode's name and why (embedding runs). result is zeroed first.
 */
int read_selection(Db *db, const ReadRequest *request, Images *images, Rng *rng,
                   ReadResult *result, ReportMemory *memory, Error *err);

/* rows_read, filtered_out and rows_skipped of a read. */
void read_result_counts(const ReadResult *result, RunCounts *counts);

void read_result_release(ReadResult *result);

/*
 * Connections an embedding read streams over: resources.workers, else
 * read_default_workers from PARALLEL_MIN_ROWS rows on (one below).
 */
int read_streams(const JobConfig *config, const Plan *plan, uint64_t total);

/* The default worker count: cpus_usable (core/cpus.h), at most 4. */
int read_default_workers(void);

#endif
