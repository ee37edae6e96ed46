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

/*
 * The identity of an output table as the ledger keys it: schema.table,
 * each part quoted by the server (format %I), for the table the name
 * resolves to now, or, when there is none yet, for the table CREATE would
 * make (the name's schema, else current_schema()). Every spelling of one
 * table ("t", public.t, "public"."t") gets one key. malloc'd.
 */
static char *table_identity(Db *db, const char *name, Error *err)
{
    char *quoted = ident_quote_name(name, db_quote_ident, db, err);
    if (quoted == NULL)
        return NULL;
    const char *params[1] = {quoted};
    PGresult *result = NULL;
    char *identity = NULL;
    if (db_query_pg(db, "resolve output table",
                    "SELECT coalesce((SELECT format('%I.%I', n.nspname, c.relname) "
                    "FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                    "WHERE c.oid = to_regclass($1)), "
                    "format('%I.%I', coalesce((parse_ident($1))[cardinality(parse_ident($1)) - 1], "
                    "current_schema()), (parse_ident($1))[cardinality(parse_ident($1))]))",
                    1, params, &result, err)
        == ERR_OK) {
        identity = strdup(PQgetvalue(result, 0, 0));
        if (identity == NULL)
            error_nomem(err, (size_t)PQgetlength(result, 0, 0) + 1);
    }
    PQclear(result);
    free(quoted);
    return identity;
}

/*
 * The targets the ledger holds for the table of `identity`: the identity
 * itself and any spelling recorded before the ledger was keyed by identity
 * that names the same table. Fills *targets (a malloc'd array of malloc'd
 * strings, *count of them).
 */
static int ledger_targets(Db *db, const char *identity, char ***targets, size_t *count,
                          Error *err)
{
    PGresult *result = NULL;
    *targets = NULL;
    *count = 0;
    int code = db_query_pg(db, "read migration targets",
                           "SELECT DISTINCT target FROM pairpick_migrations WHERE target <> ''",
                           0, NULL, &result, err);
    if (code != ERR_OK)
        return code;
    int rows = PQntuples(result);
    *targets = calloc((size_t)rows + 1, sizeof **targets);
    if (*targets == NULL) {
        PQclear(result);
        return error_nomem(err, ((size_t)rows + 1) * sizeof **targets);
    }
    (*targets)[(*count)++] = strdup(identity);
    for (int row = 0; row < rows && code == ERR_OK; row++) {
        const char *target = PQgetvalue(result, row, 0);
        if (strcmp(target, identity) == 0)
            continue;
        Error ignored;
        char *other = table_identity(db, target, &ignored);
        if (other != NULL && strcmp(other, identity) == 0)
            (*targets)[(*count)++] = strdup(target);
        free(other);
    }
    PQclear(result);
    for (size_t i = 0; i < *count; i++)
        if ((*targets)[i] == NULL)
            code = error_nomem(err, strlen(identity) + 1);
    return code;
}

static void targets_free(char **targets, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(targets[i]);
    free(targets);
}

/* Whether migration is recorded for any of targets ("" for a global one). */
static int is_applied(Db *db, const Migration *migration, char *const *targets, size_t count,
                      bool *applied, Error *err)
{
    char version[16];
    snprintf(version, sizeof version, "%d", migration->version);
    *applied = false;
    for (size_t i = 0; i < count && !*applied; i++) {
        const char *params[2] = {version, targets[i]};
        PGresult *result;
        int code = db_query_pg(db, "read migrations",
                               "SELECT 1 FROM pairpick_migrations WHERE version = $1::int AND target = $2",
                               2, params, &result, err);
        if (code != ERR_OK)
            return code;
        *applied = PQntuples(result) > 0;
        PQclear(result);
    }
    return ERR_OK;
}

int migrate_apply(Db *db, const char *output_table, int *applied, Error *err)
{
    int code;
    char *identity = NULL;
    char **targets = NULL;
    size_t target_count = 0;
    char *global[1] = {""};
    bool open = false;

    *applied = 0;
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
    if ((identity = table_identity(db, output_table, err)) == NULL) {
        code = err->code;
        goto done;
    }
    if ((code = ledger_targets(db, identity, &targets, &target_count, err)) != ERR_OK)
        goto done;
    /* Rows recorded under another spelling of this table move to its identity. */
    for (size_t i = 1; i < target_count; i++) {
        const char *params[2] = {identity, targets[i]};
        if ((code = db_command(db, "rekey migrations",
                               "INSERT INTO pairpick_migrations (version, name, target, applied_at) "
                               "SELECT version, name, $1, min(applied_at) FROM pairpick_migrations "
                               "WHERE target = $2 GROUP BY version, name "
                               "ON CONFLICT (version, target) DO NOTHING",
                               2, params, NULL, err))
                != ERR_OK
            || (code = db_command(db, "rekey migrations",
                                  "DELETE FROM pairpick_migrations WHERE target = $1", 1,
                                  &params[1], NULL, err))
                   != ERR_OK)
            goto done;
    }

    for (size_t i = 0; i < migration_count; i++) {
        const Migration *migration = &migrations[i];
        bool per_table = per_output_table(migration);
        bool done_already;
        if ((code = is_applied(db, migration, per_table ? targets : global, 1, &done_already,
                               err))
            != ERR_OK)
            goto done;
        if (done_already)
            continue;
        /* The identity is quoted by the server: it names the one table. */
        char *sql = per_table ? substitute(migration->sql, identity, err)
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
        const char *params[3] = {version, migration->name, per_table ? identity : ""};
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
    targets_free(targets, target_count);
    free(identity);
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
    char *identity = table_identity(db, output_table, err);
    if (identity == NULL)
        return err->code;
    char **targets = NULL;
    size_t target_count = 0;
    char *global[1] = {""};
    code = ledger_targets(db, identity, &targets, &target_count, err);
    for (size_t i = 0; code == ERR_OK && i < migration_count; i++) {
        bool applied;
        bool per_table = per_output_table(&migrations[i]);
        if ((code = is_applied(db, &migrations[i], per_table ? targets : global,
                               per_table ? target_count : 1, &applied, err))
            != ERR_OK)
            break;
        if (!applied)
            code = error_set(err, ERR_CONFIG,
                             "migration \"%s\" has not been applied%s%s"
                             "\nHINT: run `pairpick migrate CONFIG` first",
                             migrations[i].name, per_table ? " for output table " : "",
                             per_table ? identity : "");
    }
    targets_free(targets, target_count);
    free(identity);
    return code;
}
