/*
 * command_check: `pairpick check CONFIG [--db]`. The config is valid once
 * main has loaded it; with --db this also checks the database against it:
 * migrations applied, the source query describes (tables, columns, casts),
 * the role holds the privileges a run needs, the embedding column's type,
 * and the stored model of strategy.clusters_from.
 *
 * It reads no rows and writes nothing; it owns nothing it returns.
 */
#ifndef PAIRPICK_COMMAND_CHECK_H
#define PAIRPICK_COMMAND_CHECK_H

#include <stdbool.h>

#include "config/config.h"

typedef struct CheckOptions {
    bool with_db; /* --db: check the database too */
} CheckOptions;

/* Returns the exit status; a failure is logged here. */
int command_check(const JobConfig *config, const CheckOptions *options);

#endif
