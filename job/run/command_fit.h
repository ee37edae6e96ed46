/*
 * command_fit: `pairpick fit CONFIG [--seed N] [--as-of TIME]`. Fits the
 * strategy.clusters_from model once (run_fit), stores it as the model's
 * next version, and prints what was stored: a line on stderr (two with
 * PCA), one JSON line on stdout, also on failure.
 *
 * It owns nothing it returns; the fitted model is freed here.
 */
#ifndef PAIRPICK_COMMAND_FIT_H
#define PAIRPICK_COMMAND_FIT_H

#include "config/config.h"
#include "run/fit.h"

/* Returns the exit status; a failure is logged here. */
int command_fit(const JobConfig *config, const RunOptions *options);

#endif
