#include "run/command_status.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "db/db.h"
#include "db/migrate.h"
#include "run/run.h"

#define STATUS_ROW "%-40s %-10s %-26s %9s %10s %8s  %-24s  %s\n"

static const char runs_sql[] =
    "SELECT run_id, status, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ'), "
    "coalesce(round(extract(epoch FROM finished_at - started_at)::numeric, 2)"
    "::text, '-'), coalesce(rows_read::text, '-'), "
    "coalesce(pairs_inserted::text, '-'), coalesce(error, ''), "
    "coalesce(model_name || '@' || model_version "
    "|| CASE WHEN model_refitted THEN ' refitted' ELSE '' END, '-') "
    "FROM pairpick_runs WHERE job = $1 ORDER BY started_at DESC LIMIT $2::int";

static int read_runs(const JobConfig *config, uint64_t limit, DbResult **result, Error *err)
{
    Db *db = NULL;
    char limit_text[24];
    snprintf(limit_text, sizeof limit_text, "%" PRIu64, limit);
    const char *params[2] = {config->job, limit_text};
    int code = run_connect(config, &db, err);
    if (code == ERR_OK)
        code = migrate_verify(db, config->output.table, err);
    if (code == ERR_OK)
        code = db_query(db, "read runs", runs_sql, 2, params, result, err);
    db_close(db);
    return code;
}

static void print_runs(const DbResult *result)
{
    printf(STATUS_ROW, "run_id", "status", "started", "seconds", "rows", "pairs", "model",
           "error");
    for (int i = 0; i < db_result_rows(result); i++) {
        char error_line[161];
        snprintf(error_line, sizeof error_line, "%s", db_result_value(result, i, 6));
        char *newline = strchr(error_line, '\n');
        if (newline != NULL)
            *newline = '\0';
        printf(STATUS_ROW, db_result_value(result, i, 0), db_result_value(result, i, 1),
               db_result_value(result, i, 2), db_result_value(result, i, 3),
               db_result_value(result, i, 4), db_result_value(result, i, 5),
               db_result_value(result, i, 7), error_line);
    }
}

/* A figure the query gives as text, '-' when absent: a JSON number or null. */
static void print_figure(const char *text)
{
    if (strcmp(text, "-") == 0)
        fputs("null", stdout);
    else
        fputs(text, stdout);
}

/* One JSON object per run and line, newest first (the form of models --json). */
static void print_runs_json(const DbResult *result)
{
    for (int i = 0; i < db_result_rows(result); i++) {
        const char *model = db_result_value(result, i, 7), *error = db_result_value(result, i, 6);
        fputs("{\"run_id\":", stdout);
        json_string(stdout, db_result_value(result, i, 0));
        fputs(",\"status\":", stdout);
        json_string(stdout, db_result_value(result, i, 1));
        fputs(",\"started_at\":", stdout);
        json_string(stdout, db_result_value(result, i, 2));
        fputs(",\"seconds\":", stdout);
        print_figure(db_result_value(result, i, 3));
        fputs(",\"rows_read\":", stdout);
        print_figure(db_result_value(result, i, 4));
        fputs(",\"pairs_inserted\":", stdout);
        print_figure(db_result_value(result, i, 5));
        fputs(",\"model\":", stdout);
        if (strcmp(model, "-") == 0)
            fputs("null", stdout);
        else
            json_string(stdout, model);
        fputs(",\"error\":", stdout);
        if (error[0] == '\0')
            fputs("null", stdout);
        else
            json_string(stdout, error);
        fputs("}\n", stdout);
    }
}

int command_status(const JobConfig *config, const StatusOptions *options)
{
    Error err;
    DbResult *result = NULL;
    error_clear(&err);
    int code = read_runs(config, options->limit, &result, &err);
    if (code != ERR_OK) {
        log_line("error", NULL, NULL, "%s", err.message);
        return code;
    }
    if (options->json)
        print_runs_json(result);
    else
        print_runs(result);
    db_result_free(result);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_line("error", NULL, NULL, "cannot write stdout: the output was lost");
        return ERR_IOERR;
    }
    return ERR_OK;
}
