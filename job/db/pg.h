/*
 * pg: what the modules of job/db share of libpq, and only they: the raw
 * connection of a Db and the query helper that hands back a PGresult.
 * Everything above job/db goes through db.h, which does not include libpq
 * (a check in `make test` keeps it so).
 */
#ifndef PAIRPICK_PG_H
#define PAIRPICK_PG_H

#include <libpq-fe.h>

#include "db/db.h"

PGconn *db_conn(Db *db);

/* db_query for the database modules: the PGresult is the caller's (PQclear). */
int db_query_pg(Db *db, const char *name, const char *sql, int count, const char *const *params,
                PGresult **out, Error *err);

/*
 * Maps a failed result to an exit code: connection lost or server shutting
 * down -> ERR_TEMPFAIL (try later); undefined table/column, privileges -> ERR_CONFIG;
 * data exceptions -> ERR_DATA; cancels, timeouts, serialization and lock
 * failures -> ERR_TEMPFAIL; others -> ERR_INTERNAL.
 */
int db_error_code(Db *db, const PGresult *result);

#endif
