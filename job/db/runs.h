/*
 * runs: pairpick's run records (pairpick_runs): a run is registered as
 * 'running' before any work, then marked 'succeeded' with its counts in the
 * same transaction as its pairs, or 'failed' with its error.
 *
 * It does not choose or write pairs.
 */
#ifndef PAIRPICK_RUNS_H
#define PAIRPICK_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "core/error.h"

typedef struct RunCounts {
    uint64_t rows_read;      /* rows the SELECT returned */
    uint64_t rows_skipped;   /* of those, unusable (NULL score, bad embedding, duplicate id ...) */
    uint64_t filtered_out;   /* source rows the filters excluded */
    uint64_t candidates;     /* images that could be paired */
    int32_t categories;
    uint64_t pairs_requested;
    uint64_t pairs_available;
    uint64_t pairs_chosen;
    uint64_t pairs_inserted;
} RunCounts;

typedef struct RunInfo {
    const char *job;
    const char *run_id;
    const char *strategy;
    const char *output_table; /* as configured */
    uint64_t seed;
    const char *config_text;  /* digested by the server (sha256) */
    const char *config_json;  /* the resolved config, passwords masked */
    const char *as_of;        /* --as-of, or NULL */
} RunInfo;

typedef enum {
    RUN_STARTED,           /* new, or a failed run started again */
    RUN_ALREADY_SUCCEEDED, /* nothing to do: *previous holds its counts */
    RUN_ALREADY_RUNNING
} RunStart;

/*
 * The start of a run id, decided from its record (sql/001_pairpick_runs.sql:
 * status 'running', 'succeeded' or 'failed'). runs_begin registers the run
 * with one INSERT ... ON CONFLICT that takes the id when it has no record
 * (a new run) or its record says 'failed' (the run starts again): taken.
 * When it did not, status is the record's status read just after (NULL:
 * no record):
 *   taken                    -> RUN_STARTED
 *   'succeeded'              -> RUN_ALREADY_SUCCEEDED (nothing to do)
 *   'running', or any other  -> RUN_ALREADY_RUNNING (another process has it;
 *                               a 'failed' read here was marked failed after
 *                               the INSERT looked, and is not taken over
 *                               outside it)
 *   no record                -> ERR_INTERNAL (the INSERT saw one)
 * So a run starts only when the database registered it. Pure.
 */
int runs_decide(bool taken, const char *status, const char *run_id, RunStart *outcome,
                Error *err);

/*
 * Registers the run as 'running' (committed at once, so a failure later can
 * be recorded). For a run id that already succeeded, fills *previous and
 * returns RUN_ALREADY_SUCCEEDED in *outcome; its seed goes to *previous_seed.
 */
int runs_begin(Db *db, const RunInfo *info, RunStart *outcome, RunCounts *previous,
               uint64_t *previous_seed, Error *err);

/*
 * Marks the run succeeded with its counts and per-stage times (a JSON
 * object text, may be NULL), inside the caller's transaction.
 */
int runs_succeed(Db *db, const RunInfo *info, const RunCounts *counts, const char *stage_seconds,
                 Error *err);

/*
 * Takes the job's advisory lock (session level, held until the connection
 * closes) so only one run of a job works at a time; different jobs do not
 * block each other. Tries until wait_ms has passed (0: once). When another
 * session holds it, returns ERR_TEMPFAIL naming the holder's run id and pid,
 * and sets *held_by_other.
 */
int runs_lock(Db *db, const char *job, int64_t wait_ms, bool *held_by_other, Error *err);

/*
 * With the lock held, any run of the job still marked 'running' belongs to
 * a process that died: marks those failed. *abandoned receives how many.
 */
int runs_mark_abandoned(Db *db, const char *job, const char *by_run_id, uint64_t *abandoned,
                        Error *err);

/* Marks the run failed with message (its own statement, outside any transaction). */
int runs_fail(Db *db, const RunInfo *info, const RunCounts *counts, const char *message,
              Error *err);

#endif
