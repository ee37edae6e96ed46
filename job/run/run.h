/*
 * run: one run of a job, start to end, in the order of the data flow:
 * connect, register the run, read the selection in one REPEATABLE READ
 * snapshot (stream), categorize, choose pairs, write them in one
 * transaction, and fill the report. A failure after registration marks the
 * run failed with its error; nothing is written for it.
 *
 * It does not print: main prints the Report. The caller owns the Report;
 * strings in it point into the options or into a buffer run_release frees.
 */
#ifndef PAIRPICK_RUN_H
#define PAIRPICK_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "db/db.h"
#include "core/error.h"
#include "run/categorize.h"
#include "run/report.h"
#include "run/sample.h"

typedef struct RunOptions {
    const char *run_id;   /* NULL: a fresh UUID */
    bool seed_set;        /* --seed, else strategy.seed, else random */
    uint64_t seed;
    bool dry_run;
    bool max_pairs_set;   /* --max-pairs overrides strategy.max_pairs */
    uint64_t max_pairs;
    const char *as_of;    /* --as-of: "now" for relative date filters, recorded */
    int64_t wait_lock_ms; /* --wait-lock: how long to wait for the job's lock */
    const char *rejects_path; /* --rejects: CSV of skipped rows */
    const char *labels_path;  /* --labels-file: CSV of each image's category */
} RunOptions;

typedef struct RunState {
    char run_id[128];
    char error[ERROR_MESSAGE_MAX];
    size_t *pairs_per_category;
    Images *images;
    Categories *categories;
    bool lock_held_by_other; /* the run did not start: another run holds the job */
    ClusterLabels clusters;  /* bounded memory: labels assigned while streaming */
    int32_t *cluster_labels; /* owns clusters.cluster_of */
    /* strategy.clusters_from: the stored model assigned with, and what it saw. */
    struct ClusterModel *model;
    struct ModelDrift *drift;
    bool model_refitted;     /* this run fitted (and, unless a dry run, stored) it */
    uint32_t *exposure;      /* per image: open pairs before the run (informative runs) */
    uint64_t pending_before; /* this job's pending pairs (output.max_pending) */
} RunState;

/*
 * Runs the job. Returns the exit code (0 also when the run id already
 * succeeded) and fills report; err holds the failure.
 */
int run_job(const JobConfig *config, const RunOptions *options, Report *report, RunState *state,
            Error *err);

void run_release(RunState *state);

/*
 * `pairpick sample`: reads and categorizes the selection like a run, writes
 * no pairs, and puts a contact sheet in sample_options->out_dir.
 */
int run_sample(const JobConfig *config, const RunOptions *options,
               const SampleOptions *sample_options, SampleSummary *summary, Report *report,
               Error *err);

/* What `pairpick fit` did. */
typedef struct FitSummary {
    struct ClusterModel *model; /* the stored model; run_fit_release frees it */
    uint64_t rows_read;        /* rows the selection returned */
    uint64_t rows_skipped;
    double seconds;
} FitSummary;

/*
 * `pairpick fit`: reads the selection in one snapshot, keeping only ids and
 * a uniform sample of strategy.kmeans.fit_sample embeddings (all of them
 * when unset), fits the model (PCA, then k-means) and stores it as the next
 * version of the strategy.clusters_from name, in one transaction.
 */
int run_fit(const JobConfig *config, const RunOptions *options, FitSummary *summary, Error *err);

void run_fit_release(FitSummary *summary);

/*
 * `pairpick check --db` of a config with strategy.clusters_from: the
 * privileges on the model tables, and that the model is stored and takes
 * the selection's embeddings (unless a refit is due, which a run would do).
 */
int run_check_model(const JobConfig *config, Db *db, const Plan *plan, Error *err);

/* Connects as the config says (application_name pairpick/<job>). */
int run_connect(const JobConfig *config, Db **db, Error *err);

/* A random version-4 UUID (for run ids) into buffer (37 bytes or more). */
void run_new_uuid(char *buffer, size_t size);

#endif
