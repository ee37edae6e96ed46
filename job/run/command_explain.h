/*
 * command_explain: `pairpick explain CONFIG`. Prints the SELECT a run
 * would stream, each $n parameter with its value and what it stands for.
 * Identifiers are quoted offline, so it needs no database.
 *
 * It does not connect or execute anything, and owns nothing it returns.
 */
#ifndef PAIRPICK_COMMAND_EXPLAIN_H
#define PAIRPICK_COMMAND_EXPLAIN_H

#include "config/config.h"

/* Returns the exit status; a failure is logged here. */
int command_explain(const JobConfig *config);

#endif
