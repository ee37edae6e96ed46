/*
 * config: reads a job's YAML file (libyaml) into a JobConfig and validates it
 * against one declarative table of keys (type, default, allowed range,
 * required). Unknown keys, wrong types, missing required keys and impossible
 * values are ERR_CONFIG errors naming file:line:column and the expected form.
 *
 * It does not touch the database and does not know SQL: identifiers are kept
 * as written; the plan module quotes them.
 *
 * config_load allocates the JobConfig; the caller frees it with config_free.
 * Every string in it is owned by the JobConfig.
 */
#ifndef PAIRPICK_CONFIG_H
#define PAIRPICK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/job.h"
#include "core/error.h"
#include "numeric/kmeans.h"


/*
 * Reads and validates the file at path. On success stores a new JobConfig in
 * *out and returns 0; on failure returns ERR_CONFIG (ERR_CONFIG also when the
 * file cannot be read) with a message such as
 *   config/x.yaml:7:12: strategy.bins: expected an integer >= 1, got "0"
 * ${VAR} and ${VAR:-default} in string values are expanded from the
 * environment; a missing variable without a default is an error.
 */
int config_load(const char *path, JobConfig **out, Error *err);

/* Same, from a buffer; `name` stands for the file name in messages. */
int config_parse(const char *name, const char *text, size_t length, JobConfig **out,
                 Error *err);

/* Frees the config and everything it owns; NULL is a no-op. */
void config_free(JobConfig *config);

/*
 * Parses a duration such as "500ms", "30s", "10min", "12h", "7d" into
 * milliseconds. Returns false when the text is not a duration.
 */
bool config_parse_duration(const char *text, int64_t *milliseconds);

/*
 * A function that returns a conninfo with its secrets masked (malloc'd,
 * NULL when memory runs out): db_mask_conninfo, which reads it as libpq
 * does. The config layer does not know libpq, so the caller passes it in.
 */
typedef char *(*ConninfoMaskFn)(const char *conninfo);

/*
 * The resolved config (defaults filled in, ${VAR} expanded) as one JSON
 * object keyed by dotted path, with database.conninfo passed through
 * mask (NULL, or a NULL from mask: the whole value is "***"); for the run
 * record. malloc'd; NULL when memory runs out.
 */
char *config_to_json(const JobConfig *config, ConninfoMaskFn mask);

/* The k-means options strategy.clusters and strategy.kmeans ask for. */
KmeansOptions config_kmeans_options(const JobConfig *config);

#endif
