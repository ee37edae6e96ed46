/*
 * metrics: the Prometheus text format for the node_exporter textfile
 * collector (--metrics-file), one file per job. Every series carries the
 * label pairpick_job (not job: a scrape would rename that to exported_job).
 *
 * It writes what a Report and MetricsExtra hold; it owns nothing.
 */
#ifndef PAIRPICK_METRICS_H
#define PAIRPICK_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/sidefile.h"
#include "run/report.h"

/* What the file says beyond the Report. */
typedef struct MetricsExtra {
    int exit_status;        /* the process's exit status */
    bool succeeded;         /* the run did its work: the last success time is now */
    bool has_pending;       /* pending_pairs was counted after the run */
    uint64_t pending_pairs; /* pairs of the job still pending in the output table */
} MetricsExtra;

/*
 * Writes the Prometheus text format into a side file for path and finishes
 * it (synced, not yet renamed; *prepared is the caller's to commit or
 * abandon): last success time (kept from the previous file when this run
 * did not succeed), last run time, exit status, durations per stage, rows
 * read, rows skipped by reason, pairs inserted, pairs pending after the
 * run, the stored model. ERR_USAGE / ERR_IOERR as sidefile says.
 */
int metrics_write(const char *path, const Report *report, const MetricsExtra *extra,
                  SideFile **prepared, Error *err);

#endif
