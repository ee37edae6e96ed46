/*
 * command_models: `pairpick models CONFIG [--json]`. Lists the stored
 * versions of the config's strategy.clusters_from model (of every model
 * when the config names none), newest first: a table, or with --json one
 * JSON line on stdout.
 *
 * It reads the model store only and owns nothing it returns.
 */
#ifndef PAIRPICK_COMMAND_MODELS_H
#define PAIRPICK_COMMAND_MODELS_H

#include <stdbool.h>

#include "config/config.h"

typedef struct ModelsOptions {
    bool json; /* --json: one JSON line instead of the table */
} ModelsOptions;

/* Returns the exit status; a failure is logged here. */
int command_models(const JobConfig *config, const ModelsOptions *options);

#endif
