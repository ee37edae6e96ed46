/*
 * stream: reads the plan's rows with COPY (SELECT ...) TO STDOUT (FORMAT
 * binary) and parses the bytes straight into an Images (no per-row result
 * objects, no per-row allocations). Rows that cannot be used (NULL id, NULL
 * or non-finite score where the strategy needs one, NULL category, missing
 * or malformed embedding, a dimension unlike the first row's, a duplicate
 * id) are skipped and counted by reason.
 *
 * The parser (stream_parser_*) is pure and takes arbitrary bytes in any
 * chunking: malformed input is an ERR_DATA error, never an over-read. The
 * driver (stream_read) speaks libpq. The caller owns the Images it fills.
 */
#ifndef PAIRPICK_STREAM_H
#define PAIRPICK_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "core/error.h"
#include "core/images.h"
#include "read/plan.h"

typedef enum {
    REJECT_NULL_ID,
    REJECT_NULL_SCORE,
    REJECT_NONFINITE_SCORE,
    REJECT_NULL_CATEGORY,
    REJECT_NULL_EMBEDDING,
    REJECT_BAD_EMBEDDING,   /* NULL element, NaN or Inf, not one-dimensional */
    REJECT_DIM_MISMATCH,
    REJECT_DUPLICATE_ID,
    REJECT_REASON_COUNT
} RejectReason;

/* A short name for a reason: "null_score", "dim_mismatch" ... */
const char *stream_reject_name(RejectReason reason);

typedef enum { EMBEDDING_ARRAY, EMBEDDING_BYTEA } EmbeddingFormat;

typedef struct StreamOptions {
    bool score_required;          /* rows without a finite score are skipped */
    EmbeddingFormat embedding_format;
    size_t embedding_dim;         /* 0: the first usable row decides */
    bool dim_mismatch_is_error;   /* pinned dim and on_bad_row: error -> ERR_DATA */
    /*
     * Bounded memory: when the Images keeps no embeddings but the plan
     * reads them, each usable row's embedding (embedding_dim floats, which
     * must be pinned) is decoded into a scratch row and handed to on_row,
     * with the row's index in Images (-1 when lookup_only: nothing is
     * stored then, and duplicates are not detected).
     */
    int (*on_row)(void *context, const char *id, size_t id_length, int64_t row,
                  const float *embedding, Error *err); /* id: 16 raw bytes when plan->id_uuid */
    void *row_context;
    bool lookup_only;
    /*
     * A parallel read with on_row (stream_read_parallel): called once the
     * partitions are counted, before any worker starts, with the rows
     * counted in each (NULL from stream_read_split's single stream); fills
     * row_contexts[w], the on_row context for worker w's rows. Workers call on_row at the same time, each with its own
     * context, and the row index counts within the worker's partition.
     */
    int (*on_partitions)(void *context, const uint64_t *rows, int workers, void **row_contexts,
                         Error *err);
    void *partitions_context;
    /* Called for each skipped row (may be NULL); id may be NULL; uuids come as text. */
    void (*on_reject)(void *context, const char *id, size_t id_length, RejectReason reason);
    void *reject_context;
} StreamOptions;

typedef struct StreamStats {
    uint64_t rows_read;
    uint64_t rejected[REJECT_REASON_COUNT];
    uint64_t bytes_read;
} StreamStats;

typedef struct StreamParser StreamParser;

/* A parser for the columns the plan selects, filling images. */
int stream_parser_new(const Plan *plan, const StreamOptions *options, Images *images,
                      StreamParser **out, Error *err);

/* Parses the next bytes; any chunking. ERR_DATA on malformed input. */
int stream_parser_feed(StreamParser *parser, const char *data, size_t length, Error *err);

/* Checks the stream ended cleanly (trailer seen, nothing left over). */
int stream_parser_finish(StreamParser *parser, Error *err);

const StreamStats *stream_parser_stats(const StreamParser *parser);

void stream_parser_free(StreamParser *parser);

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

/* Opens one more connection for a worker (same settings as the main one). */
typedef int (*StreamConnectFn)(void *context, Db **out, Error *err);

/*
 * Like stream_read, split over `workers` connections: the main connection
 * (in a REPEATABLE READ transaction, which the caller opened) exports its
 * snapshot, the rows of each partition (a hash of the id) are counted, the
 * embedding matrix is allocated once at its final size, and each worker
 * streams its partition in the same snapshot into its own slice of the
 * matrix. The rows read are exactly what stream_read would read. Images
 * that keep no embeddings (bounded mode) get them through on_row, one
 * context per worker (on_partitions); with lookup_only, images is only
 * read (images_find from every worker at once) and nothing is added.
 */
int stream_read_parallel(Db *db, const Plan *plan, const StreamOptions *options, int workers,
                         StreamConnectFn connect, void *connect_context, Images *images,
                         StreamStats *stats, Error *err);

/*
 * stream_read_parallel over `streams` workers when streams > 1, else
 * stream_read on db with one context: on_partitions is then called with
 * rows NULL (not counted) and streams 1 before the read. For callers whose
 * on_row needs a context per stream either way.
 */
int stream_read_split(Db *db, const Plan *plan, StreamOptions *options, int streams,
                      StreamConnectFn connect, void *connect_context, Images *images,
                      StreamStats *stats, Error *err);

#endif
