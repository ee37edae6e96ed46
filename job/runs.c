#include "runs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        snprintf(out->text[i], sizeof out->text[i], "%" PRIu64, values[i]);
        out->value[i] = out->text[i];
    }
}

int runs_begin(Db *db, const RunInfo *info, RunStart *outcome, RunCounts *previous,
               uint64_t *previous_seed, Error *err)
{
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, info->seed);
    const char *params[6] = {info->job,          info->run_id,       seed,
                             info->strategy,     info->output_table, info->config_text};
    PGresult *result = NULL;
    /* A failed run may be run again under its id; a succeeded one is kept. */
    int code = db_query(
        db, "register run",
        "INSERT INTO pairpick_runs AS r (job, run_id, status, seed, strategy, output_table, "
        "config_digest) VALUES ($1, $2, 'running', $3::numeric, $4, $5, "
        "encode(sha256(convert_to($6, 'UTF8')), 'hex')) "
        "ON CONFLICT (job, run_id) DO UPDATE SET status = 'running', seed = EXCLUDED.seed, "
        "strategy = EXCLUDED.strategy, output_table = EXCLUDED.output_table, "
        "config_digest = EXCLUDED.config_digest, started_at = clock_timestamp(), "
        "finished_at = NULL, error = NULL, rows_read = NULL, rows_skipped = NULL, "
        "filtered_out = NULL, candidates = NULL, categories = NULL, pairs_requested = NULL, "
        "pairs_available = NULL, pairs_chosen = NULL, pairs_inserted = NULL "
        "WHERE r.status = 'failed' RETURNING 1",
        6, params, &result, err);
    if (code != ERR_OK)
        return code;
    bool started = PQntuples(result) == 1;
    PQclear(result);
    if (started) {
        *outcome = RUN_STARTED;
        return ERR_OK;
    }

    code = db_query(db, "read run",
                    "SELECT status, seed, coalesce(rows_read, 0), coalesce(rows_skipped, 0), "
                    "coalesce(filtered_out, 0), coalesce(candidates, 0), coalesce(categories, 0), "
                    "coalesce(pairs_requested, 0), coalesce(pairs_available, 0), "
                    "coalesce(pairs_chosen, 0), coalesce(pairs_inserted, 0) "
                    "FROM pairpick_runs WHERE job = $1 AND run_id = $2",
                    2, params, &result, err);
    if (code != ERR_OK)
        return code;
    if (PQntuples(result) != 1) {
        PQclear(result);
        return error_set(err, ERR_INTERNAL, "run \"%s\" vanished while it was registered",
                         info->run_id);
    }
    if (strcmp(PQgetvalue(result, 0, 0), "succeeded") == 0) {
        *outcome = RUN_ALREADY_SUCCEEDED;
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
    } else {
        *outcome = RUN_ALREADY_RUNNING;
    }
    PQclear(result);
    return ERR_OK;
}

int runs_succeed(Db *db, const RunInfo *info, const RunCounts *counts, Error *err)
{
    CountTexts texts;
    count_texts(counts, &texts);
    const char *params[11] = {info->job, info->run_id};
    memcpy(&params[2], texts.value, sizeof texts.value);
    uint64_t affected = 0;
    int code = db_command(
        db, "mark run succeeded",
        "UPDATE pairpick_runs SET status = 'succeeded', finished_at = clock_timestamp(), "
        "rows_read = $3, rows_skipped = $4, filtered_out = $5, candidates = $6, categories = $7, "
        "pairs_requested = $8, pairs_available = $9, pairs_chosen = $10, pairs_inserted = $11 "
        "WHERE job = $1 AND run_id = $2 AND status = 'running'",
        11, params, &affected, err);
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
