#include "db/migrate.h"
#include "db/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/migrations.h"
#include "db/ident.h"

#define PLACEHOLDER "@OUTPUT_TABLE@"
/* An arbitrary constant: the advisory lock that serializes migrations. */
#define MIGRATE_LOCK_KEY "7201160513"

static const char create_ledger_sql[] =
    "CREATE TABLE IF NOT EXISTS pairpick_migrations ("
    " version integer NOT NULL,"
    " name text NOT NULL,"
    " target text NOT NULL," /* '' for global migrations, else the output table */
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (version, target))";

static bool per_output_table(const Migration *migration)
{
    return strstr(migration->sql, PLACEHOLDER) != NULL;
}

/* The migration's SQL with every placeholder replaced by the quoted table. */
static char *substitute(const char *sql, const char *quoted, Error *err)
{
    size_t count = 0;
    for (const char *p = strstr(sql, PLACEHOLDER); p != NULL; p = strstr(p + 1, PLACEHOLDER))
        count++;
    size_t length = strlen(sql) + count * strlen(quoted) + 1;
    char *out = malloc(length);
    if (out == NULL) {
        error_nomem(err, length);
        return NULL;
    }
    char *w = out;
    const char *r = sql;
    for (const char *p; (p = strstr(r, PLACEHOLDER)) != NULL; r = p + strlen(PLACEHOLDER)) {
        memcpy(w, r, (size_t)(p - r));
        w += p - r;
        w = stpcpy(w, quoted);
    }
    strcpy(w, r);
    return out;
}

static int is_applied(Db *db, const Migration *migration, const char *target, bool *applied,
                      Error *err)
{
    char version[16];
    snprintf(version, sizeof version, "%d", migration->version);
    const char *params[2] = {version, target};
    PGresult *result;
    int code = db_query_pg(db, "read migrations",
                        "SELECT 1 FROM pairpick_migrations WHERE version = $1::int AND target = $2",
                        2, params, &result, err);
    if (code != ERR_OK)
        return code;
    *applied = PQntuples(result) > 0;
    PQclear(result);
    return ERR_OK;
}

int migrate_apply(Db *db, const char *output_table, int *applied, Error *err)
{
    int code;
    char *quoted = NULL;
    bool open = false;

    *applied = 0;
    quoted = ident_quote_name(output_table, db_quote_ident, db, err);
    if (quoted == NULL)
        return err->code;
    if ((code = db_begin(db, "begin", NULL, err)) != ERR_OK)
        goto done;
    open = true;
    /* "already exists, skipping" notices are expected, not news. */
    if ((code = db_command(db, "quiet notices", "SET LOCAL client_min_messages = warning", 0,
                           NULL, NULL, err))
        != ERR_OK)
        goto done;
    if ((code = db_command(db, "lock migrations", "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")",
                           0, NULL, NULL, err))
            != ERR_OK
        || (code = db_command(db, "create migrations table", create_ledger_sql, 0, NULL, NULL,
                              err))
               != ERR_OK)
        goto done;

    for (size_t i = 0; i < migration_count; i++) {
        const Migration *migration = &migrations[i];
        const char *target = per_output_table(migration) ? output_table : "";
        bool done_already;
        if ((code = is_applied(db, migration, target, &done_already, err)) != ERR_OK)
            goto done;
        if (done_already)
            continue;
        char *sql = per_output_table(migration) ? substitute(migration->sql, quoted, err)
                                                : strdup(migration->sql);
        if (sql == NULL) {
            code = err->code != ERR_OK ? err->code : error_nomem(err, strlen(migration->sql));
            goto done;
        }
        /* Simple protocol: a migration file may hold several statements. */
        PGresult *result = PQexec(db_conn(db), sql);
        free(sql);
        if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK) {
            code = error_set(err, db_error_code(db, result), "migration \"%s\" failed: %s",
                             migration->name, PQresultErrorMessage(result));
            PQclear(result);
            goto done;
        }
        PQclear(result);
        char version[16];
        snprintf(version, sizeof version, "%d", migration->version);
        const char *params[3] = {version, migration->name, target};
        if ((code = db_command(db, "record migration",
                               "INSERT INTO pairpick_migrations (version, name, target) "
                               "VALUES ($1::int, $2, $3)",
                               3, params, NULL, err))
            != ERR_OK)
            goto done;
        (*applied)++;
    }
    code = db_commit(db, "commit", err);
    open = false;

done:
    if (open) {
        db_rollback(db, "rollback");
        *applied = 0;
    }
    free(quoted);
    return code;
}

int migrate_verify(Db *db, const char *output_table, Error *err)
{
    PGresult *result;
    int code = db_query_pg(db, "find migrations table",
                        "SELECT to_regclass('pairpick_migrations') IS NOT NULL", 0, NULL, &result,
                        err);
    if (code != ERR_OK)
        return code;
    bool exists = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    PQclear(result);
    if (!exists)
        return error_set(err, ERR_CONFIG,
                         "pairpick's tables are not in this database"
                         "\nHINT: run `pairpick migrate CONFIG` first");
    for (size_t i = 0; i < migration_count; i++) {
        bool applied;
        const char *target = per_output_table(&migrations[i]) ? output_table : "";
        if ((code = is_applied(db, &migrations[i], target, &applied, err)) != ERR_OK)
            return code;
        if (!applied)
            return error_set(err, ERR_CONFIG,
                             "migration \"%s\" has not been applied%s%s"
                             "\nHINT: run `pairpick migrate CONFIG` first",
                             migrations[i].name, target[0] != '\0' ? " for output table " : "",
                             target);
    }
    return ERR_OK;
}
