/*
 * command_status: `pairpick status CONFIG [--limit N]`. Prints the job's
 * last runs from pairpick_runs as a table on stdout, newest first: id,
 * status, start, duration, rows, pairs, the model assigned with, and the
 * first line of the error. With --json, one JSON object per run and line
 * instead (the form of `models --json`).
 *
 * It reads pairpick_runs only and owns nothing it returns.
 */
#ifndef PAIRPICK_COMMAND_STATUS_H
#define PAIRPICK_COMMAND_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

typedef struct StatusOptions {
    uint64_t limit; /* --limit: how many runs to show */
    bool json;      /* --json: one JSON object per run */
} StatusOptions;

/* Returns the exit status; a failure is logged here. */
int command_status(const JobConfig *config, const StatusOptions *options);

#endif
