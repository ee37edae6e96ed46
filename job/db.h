/*
 * db: the one wrapper around libpq. Connects, runs named statements with
 * $n parameters, and drives COPY in both directions. Every helper drains the
 * connection back to idle and clears every PGresult on every path, and every
 * failure names the statement it came from ("query \"select images\"") with
 * the server's message, detail and hint.
 *
 * It knows nothing of pairpick's tables. db_connect allocates the Db; the
 * caller closes it with db_close. Results returned by db_query belong to the
 * caller (PQclear).
 */
#ifndef PAIRPICK_DB_H
#define PAIRPICK_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "error.h"

typedef struct Db Db;

typedef struct DbConnectOptions {
    const char *conninfo;         /* NULL or "": libpq's PG* environment variables */
    const char *application_name; /* e.g. "pairpick/similar-scores-daily" */
    int retries;                  /* further attempts after the first */
    int64_t timeout_ms;           /* per attempt; 0: libpq's default */
} DbConnectOptions;

/*
 * Connects, retrying with exponential backoff on failure. ERR_UNAVAILABLE
 * after the last attempt, with libpq's message; the password, if any, never
 * appears in the message.
 */
int db_connect(const DbConnectOptions *options, Db **out, Error *err);

void db_close(Db *db);

/* The raw connection, for the database modules' own COPY loops. */
PGconn *db_conn(Db *db);

/*
 * Runs a statement that returns no rows we need (BEGIN, CREATE, INSERT ...).
 * `name` identifies it in errors. params may be NULL when count is 0; a NULL
 * element is SQL NULL. *affected (may be NULL) receives PQcmdTuples.
 */
int db_command(Db *db, const char *name, const char *sql, int count, const char *const *params,
               uint64_t *affected, Error *err);

/* Runs a query and hands back its rows (PGRES_TUPLES_OK) in *out. */
int db_query(Db *db, const char *name, const char *sql, int count, const char *const *params,
             PGresult **out, Error *err);

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
 * Maps a failed result to an exit code: connection lost or server shutting
 * down -> ERR_UNAVAILABLE; undefined table/column, privileges -> ERR_CONFIG;
 * data exceptions -> ERR_DATA; cancels, timeouts, serialization and lock
 * failures -> ERR_TEMPFAIL; others -> ERR_INTERNAL.
 */
int db_error_code(Db *db, const PGresult *result);

/*
 * Whether the last statement that failed on db failed with a deadlock
 * (40P01) or a serialization failure (40001): the transaction can be run
 * again as it was.
 */
bool db_last_error_is_conflict(const Db *db);

#endif
