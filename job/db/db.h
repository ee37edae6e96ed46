/*
 * db: the one wrapper around libpq. Connects, runs named statements with
 * $n parameters, and drives COPY in both directions. Every helper drains the
 * connection back to idle and clears every PGresult on every path, and every
 * failure names the statement it came from ("query \"select images\"") with
 * the server's message, detail and hint.
 *
 * It knows nothing of pairpick's tables, and it is the only way out of the
 * process to the server: no module outside job/db includes libpq (the
 * modules of job/db reach the connection through db/pg.h). db_connect
 * allocates the Db; the caller closes it with db_close. A DbResult returned
 * by db_query belongs to the caller (db_result_free).
 */
#ifndef PAIRPICK_DB_H
#define PAIRPICK_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct Db Db;

/* The rows of a query; read with db_result_*, free with db_result_free. */
typedef struct DbResult DbResult;

typedef struct DbConnectOptions {
    const char *conninfo;         /* NULL or "": libpq's PG* environment variables */
    const char *application_name; /* e.g. "pairpick/similar-scores-daily" */
    int retries;                  /* further attempts after the first */
    int64_t timeout_ms;           /* per attempt; 0: libpq's default */
    bool unwatched;               /* not the connection a signal cancels (db_watch_cancel):
                                     a connection opened outside the signals' thread */
} DbConnectOptions;

/*
 * Connects, retrying with exponential backoff on failure. ERR_UNAVAILABLE
 * after the last attempt, with libpq's message; the password, if any, never
 * appears in the message.
 */
int db_connect(const DbConnectOptions *options, Db **out, Error *err);

void db_close(Db *db);

/*
 * Makes db the connection whose statement in flight a SIGINT or SIGTERM
 * cancels (NULL: none). db_connect watches each new connection and
 * db_close stops watching; a caller that closed other connections watches
 * its own again.
 */
void db_watch_cancel(Db *db);

/*
 * The transaction bracket, written once: BEGIN (with `mode`, e.g.
 * "ISOLATION LEVEL REPEATABLE READ, READ ONLY", or NULL), COMMIT, and a
 * ROLLBACK that is for clean-up paths only: its own failure is ignored (the
 * error that led there is the one to report).
 */
int db_begin(Db *db, const char *name, const char *mode, Error *err);
int db_commit(Db *db, const char *name, Error *err);
void db_rollback(Db *db, const char *name);

/*
 * Runs a statement that returns no rows we need (BEGIN, CREATE, INSERT ...).
 * `name` identifies it in errors. params may be NULL when count is 0; a NULL
 * element is SQL NULL. *affected (may be NULL) receives PQcmdTuples.
 */
int db_command(Db *db, const char *name, const char *sql, int count, const char *const *params,
               uint64_t *affected, Error *err);

/* Runs a query and hands back its rows in *out. */
int db_query(Db *db, const char *name, const char *sql, int count, const char *const *params,
             DbResult **out, Error *err);

int db_result_rows(const DbResult *result);
/* The text of a field ("" for NULL) and its length in bytes. */
const char *db_result_value(const DbResult *result, int row, int column);
size_t db_result_length(const DbResult *result, int row, int column);
bool db_result_is_null(const DbResult *result, int row, int column);
void db_result_free(DbResult *result);

/*
 * Runs a query that returns one row and copies its first field into value
 * (size bytes, NUL-terminated; *is_null, when not NULL, says whether it was
 * NULL). A query that returns no row or more than one is ERR_INTERNAL.
 */
int db_query_text(Db *db, const char *name, const char *sql, int count,
                  const char *const *params, char *value, size_t size, bool *is_null,
                  Error *err);

/* The same for an integer result (a count, an id). */
int db_query_uint64(Db *db, const char *name, const char *sql, int count,
                    const char *const *params, uint64_t *value, Error *err);

/*
 * Prepares sql (unnamed, param_count text parameters) without running it
 * and tells the type of each column it returns: types[i] receives the type
 * OID of column i, for the first max_types columns; *column_count the
 * number of columns.
 */
int db_describe(Db *db, const char *name, const char *sql, int param_count, uint32_t *types,
                int max_types, int *column_count, Error *err);

/* Runs an SQL script of several statements, without parameters. */
int db_script(Db *db, const char *name, const char *sql, Error *err);

/*
 * Runs COPY ... TO STDOUT and passes each chunk libpq returns to on_data
 * (which returns 0 or an error code, stopping the copy). Frees each chunk.
 */
typedef int (*DbCopyOutFn)(void *context, const char *data, size_t length, Error *err);
int db_copy_out(Db *db, const char *name, const char *sql, int count, const char *const *params,
                DbCopyOutFn on_data, void *context, Error *err);

/*
 * COPY ... FROM STDIN: db_copy_in_start, any number of db_copy_in_put, then
 * db_copy_in_end (which checks the command succeeded and drains). On a put
 * failure call db_copy_in_end with `abort_reason` set to abort the copy.
 */
int db_copy_in_start(Db *db, const char *name, const char *sql, Error *err);
int db_copy_in_put(Db *db, const char *name, const char *data, size_t length, Error *err);
int db_copy_in_end(Db *db, const char *name, const char *abort_reason, uint64_t *rows, Error *err);

/*
 * Quotes one identifier with PQescapeIdentifier (the plan module splits
 * schema-qualified names first). Returns a malloc'd string, or NULL with err
 * set. The signature matches plan's QuoteIdentFn, with the Db as context.
 */
char *db_quote_ident(void *db, const char *ident, Error *err);

/*
 * Whether the last statement that failed on db failed with a deadlock
 * (40P01) or a serialization failure (40001): the transaction can be run
 * again as it was.
 */
bool db_last_error_is_conflict(const Db *db);

#endif
