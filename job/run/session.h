/*
 * session: what every command that reads the selection shares: the
 * connection as the config asks for it (application_name pairpick/<job>,
 * statement and lock timeouts), worker connections for parallel reads, the
 * seed of a run, run ids, the stream options a config implies, and the
 * monotonic clock stage times are measured with.
 *
 * Connections it opens are the caller's (db_close).
 */
#ifndef PAIRPICK_SESSION_H
#define PAIRPICK_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"
#include "db/db.h"
#include "read/stream.h"

/* What the command line says about a run (and about fit and sample). */
typedef struct RunOptions {
    const char *run_id;   /* NULL: a fresh UUID */
    bool seed_set;        /* --seed, else strategy.seed, else random */
    uint64_t seed;
    bool dry_run;
    bool max_pairs_set;   /* --max-pairs overrides strategy.max_pairs */
    uint64_t max_pairs;
    const char *as_of;    /* --as-of: "now" for relative date filters, recorded */
    int64_t wait_lock_ms; /* --wait-lock: how long to wait for the job's lock */
    const char *rejects_path; /* --rejects: CSV of skipped rows */
    const char *labels_path;  /* --labels-file: CSV of each image's category */
    const char *pairs_path;   /* --pairs-file: CSV of a dry run's pairs */
} RunOptions;

/* Connects as the config says (application_name pairpick/<job>). */
int run_connect(const JobConfig *config, Db **db, Error *err);

/* A StreamConnectFn: another connection like run_connect's, opened on a worker's thread
 * (never the one a signal cancels); context is the JobConfig. */
int run_connect_worker(void *context, Db **out, Error *err);

/* A random version-4 UUID (for run ids) into buffer (37 bytes or more). */
void run_new_uuid(char *buffer, size_t size);

/* The seed of a run: --seed, else strategy.seed, else a random one within int64. */
uint64_t run_seed(const JobConfig *config, bool seed_set, uint64_t seed);

/* The stream options the config implies (score required, pinned dimension). */
StreamOptions run_stream_options(const JobConfig *config);

/* Seconds on the monotonic clock. */
double run_clock(void);

#endif
