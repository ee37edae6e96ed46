/*
 * stream: reads the plan's rows over one connection. It describes the
 * query (the id's and the embedding's column types), sets the COPY's
 * parameters and read order in the caller's transaction, runs
 * COPY (SELECT ...) TO STDOUT (FORMAT binary) through db_copy_out and feeds
 * the bytes to the COPY parser (read/copy.h), which fills the Images and
 * counts the rows it skips.
 *
 * It does not parse bytes itself, start threads or open connections
 * (read/parallel.h splits a read over several). The caller owns the Db,
 * its transaction and the Images it fills.
 */
#ifndef PAIRPICK_STREAM_H
#define PAIRPICK_STREAM_H

#include <stddef.h>

#include "core/error.h"
#include "core/images.h"
#include "db/db.h"
#include "read/copy.h"
#include "read/plan.h"

/*
 * Runs the plan's COPY on db (inside the caller's transaction) into images.
 * Describes the query first to learn the embedding column's type: real[],
 * float8[] or bytea; any other type is ERR_CONFIG with a hint.
 */
int stream_read(Db *db, const Plan *plan, const StreamOptions *options, Images *images,
                StreamStats *stats, Error *err);

/*
 * Describes the id column (an unexecuted query); when it is of type uuid,
 * switches the plan to stream it as 16 binary bytes (plan_use_uuid_ids).
 * Other types stay cast to text. Call before streaming.
 */
int stream_describe_id(Db *db, Plan *plan, Error *err);

/* The embedding column's type, from a described (unexecuted) query. */
int stream_describe_embedding(Db *db, const Plan *plan, EmbeddingFormat *format, Error *err);

/* The embedding dimension of the first selected row that has one (0: none). */
int stream_probe_dim(Db *db, const Plan *plan, EmbeddingFormat format, size_t *dim, Error *err);

/*
 * Prepares db's transaction for a COPY of the plan: the plan's parameters
 * as the transaction-local settings its COPY reads, and a fixed row order
 * (no parallel Gather, no synchronized scans). Every connection that
 * streams calls it inside its transaction, before its COPY.
 */
int stream_set_copy_parameters(Db *db, const Plan *plan, Error *err);

#endif
