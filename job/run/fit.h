/*
 * fit: `pairpick fit`, which fits a cluster model on the job's selection
 * and stores it as the next version of its name, and the model checks of
 * `pairpick check --db`.
 *
 * The FitSummary's model is the caller's (run_fit_release).
 */
#ifndef PAIRPICK_FIT_H
#define PAIRPICK_FIT_H

#include <stdint.h>

#include "config/config.h"
#include "core/error.h"
#include "db/db.h"
#include "read/plan.h"
#include "run/session.h"

/* What `pairpick fit` did. */
typedef struct FitSummary {
    struct ClusterModel *model; /* the stored model; run_fit_release frees it */
    uint64_t rows_read;        /* rows the selection returned */
    uint64_t rows_skipped;
    double seconds;
} FitSummary;

/*
 * Reads the selection in one snapshot, keeping only ids and a uniform
 * sample of strategy.kmeans.fit_sample embeddings (all of them when unset),
 * fits the model (PCA, then k-means) and stores it as the next version of
 * the strategy.clusters_from name, in one transaction.
 */
int run_fit(const JobConfig *config, const RunOptions *options, FitSummary *summary, Error *err);

void run_fit_release(FitSummary *summary);

/*
 * `pairpick check --db` of a config with strategy.clusters_from: the
 * privileges on the model tables, and that the model is stored and takes
 * the selection's embeddings (unless a refit is due, which a run would do).
 */
int run_check_model(const JobConfig *config, Db *db, const Plan *plan, Error *err);

#endif
