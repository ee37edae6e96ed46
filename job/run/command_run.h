/*
 * command_run: `pairpick run CONFIG [OPTIONS]`. Runs the job (run_job) and
 * reports it: the human report (or the JSON summary log line) on stderr,
 * the JSON summary on stdout, and on request the same summary in an XCom
 * file and Prometheus metrics in a textfile, written on failure too. It
 * maps "nothing to do" and "another run holds the lock" to
 * --skip-exit-code when one is given.
 *
 * It owns nothing it returns; the run's state is released here.
 */
#ifndef PAIRPICK_COMMAND_RUN_H
#define PAIRPICK_COMMAND_RUN_H

#include "config/config.h"
#include "run/run.h"

/* Where the summary goes besides stdout, and the scheduler's skip status. */
typedef struct RunOutputs {
    const char *xcom_path;    /* --xcom-file: the JSON summary, also on failure */
    const char *metrics_path; /* --metrics-file: Prometheus text format */
    int skip_exit_code;       /* --skip-exit-code; -1: none */
} RunOutputs;

/*
 * Returns the exit status: the run's, skip_exit_code when the run was
 * skipped, or the failure to write an output file after a run that
 * succeeded. Failures are logged here.
 */
int command_run(const JobConfig *config, const RunOptions *options, const RunOutputs *outputs);

#endif
