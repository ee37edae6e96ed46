/*
 * metrics: the Prometheus text format for the node_exporter textfile
 * collector (--metrics-file), one file per job.
 *
 * It writes what a Report holds; it owns nothing.
 */
#ifndef PAIRPICK_METRICS_H
#define PAIRPICK_METRICS_H

#include "core/error.h"
#include "run/report.h"

/*
 * Writes the Prometheus text format for the node_exporter textfile
 * collector to path atomically: last success time (kept from the previous
 * file when this run failed), durations per stage, rows read and skipped,
 * pairs inserted, exit status.
 */
int metrics_write(const char *path, const Report *report, Error *err);

#endif
