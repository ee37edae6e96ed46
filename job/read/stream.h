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
 * float8[], bytea, or pgvector's vector or halfvec (known by their names and
 * owning extension); any other type is ERR_CONFIG with a hint.
 */
int stream_read(Db *db, const Plan *plan, const StreamOptions *options, Images *images,
                StreamStats *stats, Error *err);

/*
 * Describes the id column (an unexecuted query); when it is of type uuid,
 * switches the plan to stream it as 16 binary bytes (plan_use_uuid_ids).
 * Other types stay cast to text. Call before streaming.
 */
int stream_describe_id(Db *db, Plan *plan, Error *err);

/*
 * The embedding column's type, from a described (unexecuted) query: the
 * built-in ones by OID, any other by its name and the extension that owns
 * it (one catalog query). A bytea is float16 when the plan says so.
 */
int stream_describe_embedding(Db *db, const Plan *plan, EmbeddingFormat *format, Error *err);

/*
 * For `pairpick check --db`: the embedding column's type as a user reads it
 * ("vector", "halfvec", "real[]", "bytea (little-endian float32)" ...) into
 * name (size bytes, 128 hold any). ERR_CONFIG for a
 * type pairpick cannot read, and for a bytea whose first value is
 * pgvector's send format (vector_send(...) written as the embedding).
 */
int stream_embedding_type_name(Db *db, const Plan *plan, char *name, size_t size, Error *err);

/*
 * The embedding dimension of the first selected row that has one (0: none).
 * ERR_CONFIG when that row's bytea is pgvector's send format.
 */
int stream_probe_dim(Db *db, const Plan *plan, EmbeddingFormat format, size_t *dim, Error *err);

/*
 * Prepares db's transaction for a COPY of the plan: the plan's parameters
 * as the transaction-local settings its COPY reads, and a fixed row order
 * (no parallel Gather, no synchronized scans). Every connection that
 * streams calls it inside its transaction, before its COPY.
 */
int stream_set_copy_parameters(Db *db, const Plan *plan, Error *err);

#endif
