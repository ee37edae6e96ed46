/*
 * run: one run of a job as the list of its stages, in the order of the
 * data flow: connect, register the run, read the selection in one
 * REPEATABLE READ snapshot, categorize, choose pairs, write them in one
 * transaction, and measure for the report. A failure after registration
 * marks the run failed with its error; nothing is written for it.
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
#include "run/session.h"


/*
 * What a run leaves for its caller to print: the images and their
 * categories, the pairs per category, and the stored model and drift the
 * Report points to. run_release frees it.
 */
typedef struct RunState {
    char run_id[128];
    char error[ERROR_MESSAGE_MAX];
    size_t *pairs_per_category;
    Images *images;
    Categories *categories;
    bool lock_held_by_other; /* the run did not start: another run holds the job */
    /* strategy.clusters_from: the stored model assigned with, and what it saw. */
    struct ClusterModel *model;
    struct ModelDrift *drift;
} RunState;

/*
 * Runs the job. Returns the exit code (0 also when the run id already
 * succeeded) and fills report; err holds the failure.
 */
int run_job(const JobConfig *config, const RunOptions *options, Report *report, RunState *state,
            Error *err);

void run_release(RunState *state);

#endif
