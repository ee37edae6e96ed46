/*
 * migrate: applies the migrations compiled into the binary (sql/) in order,
 * each once, recorded in pairpick_migrations. Migrations that create the
 * output table are applied once per output table. All of it runs in one
 * transaction under an advisory lock, so two concurrent `pairpick migrate`
 * cannot interleave.
 *
 * It does not create the source tables (someone else's) or know the job.
 */
#ifndef PAIRPICK_MIGRATE_H
#define PAIRPICK_MIGRATE_H

#include "db/db.h"
#include "core/error.h"

/*
 * Applies what is pending for output_table (as configured, unquoted; it is
 * quoted here). *applied receives how many migrations ran (0: up to date).
 */
int migrate_apply(Db *db, const char *output_table, int *applied, Error *err);

/*
 * Checks that every migration has been applied for output_table; ERR_CONFIG
 * with a hint to run `pairpick migrate` otherwise. Used by run and check.
 */
int migrate_verify(Db *db, const char *output_table, Error *err);

#endif
