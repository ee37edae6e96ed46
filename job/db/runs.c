#include "db/runs.h"
#include "db/pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cancel.h"

/* Text forms of the counts, in the order the statements below use them. */
typedef struct {
    char text[9][24];
    const char *value[9];
} CountTexts;

static void count_texts(const RunCounts *counts, CountTexts *out)
{
    uint64_t values[9] = {counts->rows_read,       counts->rows_skipped,
                          counts->filtered_out,    counts->candidates,
                          (uint64_t)counts->categories, counts->pairs_requested,
                          counts->pairs_available, counts->pairs_chosen,
                          counts->pairs_inserted};
    for (int i = 0; i < 9; i++) {
        /* The columns are bigint (categories integer): a larger count is
         * recorded at the column's maximum, never left unrecordable (the
         * run would stay 'running'). */
        uint64_t maximum = i == 4 ? (uint64_t)INT32_MAX : (uint64_t)INT64_MAX;
        if (values[i] > maximum)
            values[i] = maximum;
        snprintf(out->text[i], sizeof out->text[i], "%" PRIu64, values[i]);
        out->value[i] = out->text[i];
    }
}

int runs_decide(bool taken, const char *status, const char *run_id, RunStart *outcome,
                Error *err)
{
    if (taken)
        *outcome = RUN_STARTED;
    else if (status == NULL)
        return error_set(err, ERR_INTERNAL, "run \"%s\" vanished while it was registered",
                         run_id);
    else if (strcmp(status, "succeeded") == 0)
        *outcome = RUN_ALREADY_SUCCEEDED;
    else
        *outcome = RUN_ALREADY_RUNNING;
    return ERR_OK;
}

int runs_begin(Db *db, const RunInfo *info, RunStart *outcome, RunCounts *previous,
               uint64_t *previous_seed, Error *err)
{
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, info->seed);
    const char *params[8] = {info->job,          info->run_id,       seed,
                             info->strategy,     info->output_table, info->config_text,
                             info->as_of,        info->config_json};
    PGresult *result = NULL;
    /* A failed run may be run again under its id; a succeeded one is kept. */
    int code = db_query_pg(
        db, "register run",
        "INSERT INTO pairpick_runs AS r (job, run_id, status, seed, strategy, output_table, "
        "config_digest, as_of, config) VALUES ($1, $2, 'running', $3::numeric, $4, $5, "
        "encode(sha256(convert_to($6, 'UTF8')), 'hex'), $7::timestamptz, $8::jsonb) "
        "ON CONFLICT (job, run_id) DO UPDATE SET status = 'running', seed = EXCLUDED.seed, "
        "as_of = EXCLUDED.as_of, config = EXCLUDED.config, stage_seconds = NULL, "
        "strategy = EXCLUDED.strategy, output_table = EXCLUDED.output_table, "
        "config_digest = EXCLUDED.config_digest, started_at = clock_timestamp(), "
        "finished_at = NULL, error = NULL, rows_read = NULL, rows_skipped = NULL, "
        "filtered_out = NULL, candidates = NULL, categories = NULL, pairs_requested = NULL, "
        "pairs_available = NULL, pairs_chosen = NULL, pairs_inserted = NULL "
        "WHERE r.status = 'failed' RETURNING 1",
        8, params, &result, err);
    if (code != ERR_OK)
        return code;
    bool taken = PQntuples(result) == 1;
    PQclear(result);
    if (taken)
        return runs_decide(true, NULL, info->run_id, outcome, err);

    code = db_query_pg(db, "read run",
                    "SELECT status, seed, coalesce(rows_read, 0), coalesce(rows_skipped, 0), "
                    "coalesce(filtered_out, 0), coalesce(candidates, 0), coalesce(categories, 0), "
                    "coalesce(pairs_requested, 0), coalesce(pairs_available, 0), "
                    "coalesce(pairs_chosen, 0), coalesce(pairs_inserted, 0) "
                    "FROM pairpick_runs WHERE job = $1 AND run_id = $2",
                    2, params, &result, err);
    if (code != ERR_OK)
        return code;
    code = runs_decide(false, PQntuples(result) == 1 ? PQgetvalue(result, 0, 0) : NULL,
                       info->run_id, outcome, err);
    if (code == ERR_OK && *outcome == RUN_ALREADY_SUCCEEDED) {
        *previous_seed = strtoull(PQgetvalue(result, 0, 1), NULL, 10);
        uint64_t *fields[] = {&previous->rows_read,       &previous->rows_skipped,
                              &previous->filtered_out,    &previous->candidates,
                              NULL,                       &previous->pairs_requested,
                              &previous->pairs_available, &previous->pairs_chosen,
                              &previous->pairs_inserted};
        for (int i = 0; i < 9; i++) {
            uint64_t value = strtoull(PQgetvalue(result, 0, i + 2), NULL, 10);
            if (fields[i] != NULL)
                *fields[i] = value;
            else
                previous->categories = (int32_t)value;
        }
    }
    PQclear(result);
    return code;
}

int runs_succeed(Db *db, const RunInfo *info, const RunCounts *counts, const char *stage_seconds,
                 Error *err)
{
    CountTexts texts;
    count_texts(counts, &texts);
    const char *params[12] = {info->job, info->run_id};
    memcpy(&params[2], texts.value, sizeof texts.value);
    params[11] = stage_seconds;
    uint64_t affected = 0;
    int code = db_command(
        db, "mark run succeeded",
        "UPDATE pairpick_runs SET status = 'succeeded', finished_at = clock_timestamp(), "
        "rows_read = $3, rows_skipped = $4, filtered_out = $5, candidates = $6, categories = $7, "
        "pairs_requested = $8, pairs_available = $9, pairs_chosen = $10, pairs_inserted = $11, "
        "stage_seconds = $12::jsonb "
        "WHERE job = $1 AND run_id = $2 AND status = 'running'",
        12, params, &affected, err);
    if (code == ERR_OK && affected != 1)
        code = error_set(err, ERR_TEMPFAIL,
                         "run \"%s\" of job \"%s\" is no longer marked running; not recording it",
                         info->run_id, info->job);
    return code;
}

int runs_fail(Db *db, const RunInfo *info, const RunCounts *counts, const char *message,
              Error *err)
{
    CountTexts texts;
    count_texts(counts, &texts);
    const char *params[12] = {info->job, info->run_id, message};
    memcpy(&params[3], texts.value, sizeof texts.value);
    return db_command(
        db, "mark run failed",
        "UPDATE pairpick_runs SET status = 'failed', finished_at = clock_timestamp(), error = $3, "
        "rows_read = $4, rows_skipped = $5, filtered_out = $6, candidates = $7, categories = $8, "
        "pairs_requested = $9, pairs_available = $10, pairs_chosen = $11, pairs_inserted = $12 "
        "WHERE job = $1 AND run_id = $2 AND status = 'running'",
        12, params, NULL, err);
}

/* Two int4 keys: a constant for pairpick ("pair") and a hash of the job name. */
#define LOCK_CLASS "1885432946"

int runs_lock(Db *db, const char *job, int64_t wait_ms, bool *held_by_other, Error *err)
{
    const char *params[1] = {job};
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    *held_by_other = false;
    for (;;) {
        PGresult *result;
        int code = db_query_pg(db, "take job lock",
                            "SELECT pg_try_advisory_lock(" LOCK_CLASS ", hashtext('pairpick:' || $1))",
                            1, params, &result, err);
        if (code != ERR_OK)
            return code;
        bool taken = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
        PQclear(result);
        if (taken)
            return ERR_OK;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t waited = (int64_t)(now.tv_sec - start.tv_sec) * 1000
                         + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited >= wait_ms || cancel_requested())
            break;
        struct timespec pause = {0, 250 * 1000000L};
        nanosleep(&pause, NULL);
    }

    /* Name the holder, so the operator knows what to wait for. */
    *held_by_other = true;
    PGresult *result = NULL;
    char holder[256] = "unknown";
    if (db_query_pg(db, "find lock holder",
                 "SELECT coalesce((SELECT run_id FROM pairpick_runs WHERE job = $1 AND "
                 "status = 'running' ORDER BY started_at DESC LIMIT 1), '?') || ' (pid ' || "
                 "coalesce((SELECT min(pid)::text FROM pg_locks WHERE locktype = 'advisory' AND "
                 "granted AND classid = " LOCK_CLASS " AND objid = hashtext('pairpick:' || $1)::oid),"
                 " '?') || ')'",
                 1, params, &result, err)
        == ERR_OK) {
        snprintf(holder, sizeof holder, "%s", PQgetvalue(result, 0, 0));
        PQclear(result);
    }
    return error_set(err, ERR_TEMPFAIL,
                     "job \"%s\" is already running: run %s holds its lock"
                     "\nHINT: try again later, or wait with --wait-lock DURATION",
                     job, holder);
}

int runs_mark_abandoned(Db *db, const char *job, const char *by_run_id, uint64_t *abandoned,
                        Error *err)
{
    const char *params[2] = {job, by_run_id};
    return db_command(db, "mark abandoned runs",
                      "UPDATE pairpick_runs SET status = 'failed', finished_at = clock_timestamp(), "
                      "error = 'abandoned: the process died while running (found by run ' || $2 || ')' "
                      "WHERE job = $1 AND status = 'running'",
                      2, params, abandoned, err);
}
