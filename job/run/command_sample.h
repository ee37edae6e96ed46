/*
 * command_sample: `pairpick sample CONFIG --out DIR [--per-category N]
 * [--copy] [--seed N]`. Reads and categorizes the selection as a run does
 * and writes the contact sheet (run_sample, sample_write); prints where it
 * went and what it holds: a line on stderr, one JSON line on stdout (the
 * run's JSON report on failure).
 *
 * It writes no pairs and owns nothing it returns.
 */
#ifndef PAIRPICK_COMMAND_SAMPLE_H
#define PAIRPICK_COMMAND_SAMPLE_H

#include "config/config.h"
#include "run/run.h"
#include "run/sample.h"

/* Returns the exit status; a failure is logged here. */
int command_sample(const JobConfig *config, const RunOptions *options,
                   const SampleOptions *sample);

#endif
