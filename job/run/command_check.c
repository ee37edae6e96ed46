#include "run/command_check.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "db/db.h"
#include "db/migrate.h"
#include "read/plan.h"
#include "read/stream.h"
#include "run/fit.h"
#include "run/session.h"

/* The privileges a run needs, so a missing GRANT shows up before 3 a.m. */
static int check_privileges(Db *db, const JobConfig *config, const Plan *plan, Error *err)
{
    static const struct {
        const char *what;
        int argument; /* 0: none, 1: the source table, 2: the output table ($1) */
        const char *sql;
    } checks[] = {
        {"SELECT on the source table", 1, "SELECT has_table_privilege($1, 'SELECT')"},
        {"SELECT on the output table", 2, "SELECT has_table_privilege($1, 'SELECT')"},
        {"INSERT on the output table", 2, "SELECT has_table_privilege($1, 'INSERT')"},
        {"SELECT on pairpick_runs", 0, "SELECT has_table_privilege('pairpick_runs', 'SELECT')"},
        {"INSERT on pairpick_runs", 0, "SELECT has_table_privilege('pairpick_runs', 'INSERT')"},
        {"UPDATE on pairpick_runs", 0, "SELECT has_table_privilege('pairpick_runs', 'UPDATE')"},
        {"TEMPORARY on the database", 0,
         "SELECT has_database_privilege(current_database(), 'TEMPORARY')"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        const char *params[1] = {checks[i].argument == 1 ? plan->source_sql : plan->output_table};
        if (checks[i].argument == 1 && config->source.table == NULL)
            continue; /* an own query: its tables are the operator's to check */
        char value[8];
        int code = db_query_text(db, "check privileges", checks[i].sql,
                                 checks[i].argument > 0 ? 1 : 0, params, value, sizeof value, NULL,
                                 err);
        if (code != ERR_OK)
            return code;
        bool granted = strcmp(value, "t") == 0;
        if (!granted)
            return error_set(err, ERR_CONFIG,
                             "the database role lacks %s"
                             "\nHINT: sql/roles/least_privilege.sql grants what a run needs",
                             checks[i].what);
    }
    return ERR_OK;
}

/*
 * Describing the SELECT checks that tables and columns exist and the casts
 * apply, without reading a row; then what a run needs beyond the query.
 */
static int check_plan(Db *db, const JobConfig *config, const Plan *plan, Error *err)
{
    uint32_t types[1];
    int columns;
    Error describe;
    int code = db_describe(db, "describe source query", plan->select_sql, plan->param_count,
                           types, 0, &columns, &describe);
    if (code != ERR_OK)
        return error_set(err, code, "the source query is not valid: %s", describe.message);
    if ((code = check_privileges(db, config, plan, err)) != ERR_OK)
        return code;
    if (plan->has_embedding) {
        char type[128];
        if ((code = stream_embedding_type_name(db, plan, type, sizeof type, err)) != ERR_OK)
            return code;
        fprintf(stderr, "pairpick: source.embedding is of type %s\n", type);
    }
    if (config->strategy.clusters_from != NULL)
        return run_check_model(config, db, plan, err);
    return ERR_OK;
}

static int check_database(const JobConfig *config, Error *err)
{
    Db *db = NULL;
    Plan plan;
    int code = run_connect(config, &db, err);
    if (code == ERR_OK)
        code = migrate_verify(db, config->output.table, err);
    if (code == ERR_OK)
        code = plan_build(config, db_quote_ident, db, NULL, &plan, err);
    if (code == ERR_OK) {
        code = check_plan(db, config, &plan, err);
        plan_release(&plan);
    }
    db_close(db);
    return code;
}

int command_check(const JobConfig *config, const CheckOptions *options)
{
    Error err;
    error_clear(&err);
    if (options->with_db) {
        int code = check_database(config, &err);
        if (code != ERR_OK) {
            log_line("error", NULL, NULL, "%s", err.message);
            return code;
        }
    }
    fprintf(stderr, "pairpick: %s is valid%s\n", config->path,
            options->with_db ? " and matches the database" : "");
    return ERR_OK;
}
