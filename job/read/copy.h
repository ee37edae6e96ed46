/*
 * copy: the parser of PostgreSQL's binary COPY format (the bytes of
 * `COPY (SELECT ...) TO STDOUT (FORMAT binary)`) for the columns a Plan
 * selects: the header, then one tuple per row, then the end marker. Each
 * row's fields land straight in an Images (no per-row result objects, no
 * per-row allocations): the id (text, or 16 raw bytes for a uuid), float8
 * score and variance, the category, and the embedding from a real[] or
 * float8[] array, pgvector's vector or halfvec (their binary send format),
 * or a bytea of little-endian float32 or float16. Rows that cannot be
 * used (NULL id, NULL or non-finite score where the strategy needs one,
 * NULL category, missing or malformed embedding, a dimension unlike the
 * first row's, a duplicate id) are skipped, counted by reason and handed to
 * on_reject. Usable rows also go to the row sink on_row when there is one;
 * it gets the decoded embedding when the Images keeps none (bounded memory).
 *
 * It takes arbitrary bytes in any chunking: malformed input is an ERR_DATA
 * error, never an over-read; a bytea embedding that holds pgvector's send
 * format (vector_send(...) written as the embedding) is ERR_CONFIG. It does not connect, query or start threads
 * (read/stream.h drives it over one connection, read/parallel.h over
 * several). The caller owns the Images and the contexts in StreamOptions;
 * the parser owns only its own buffers (copy_parser_free).
 */
#ifndef PAIRPICK_COPY_H
#define PAIRPICK_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/images.h"
#include "read/plan.h"

typedef enum {
    REJECT_NULL_ID,
    REJECT_NULL_SCORE,
    REJECT_NONFINITE_SCORE,
    REJECT_NULL_CATEGORY,
    REJECT_NULL_EMBEDDING,
    REJECT_BAD_EMBEDDING,   /* NULL element, NaN or Inf, not one-dimensional, empty */
    REJECT_DIM_MISMATCH,
    REJECT_DUPLICATE_ID,
    REJECT_ID_TOO_LONG,       /* over COPY_ID_MAX_BYTES: no btree index could hold the pair */
    REJECT_CATEGORY_TOO_LONG, /* over COPY_CATEGORY_MAX_BYTES: stored whole or not at all */
    REJECT_REASON_COUNT
} RejectReason;

/*
 * The longest id and category value a row may have (bytes of their text).
 * The output table's unique key holds both ids of a pair in one btree
 * entry, at most about 2.7 kB; a pair across two categories stores
 * "a|b". Longer ones are rejected, never truncated.
 */
#define COPY_ID_MAX_BYTES 1024
#define COPY_CATEGORY_MAX_BYTES 255

/* A short name for a reason: "null_score", "dim_mismatch" ... */
const char *stream_reject_name(RejectReason reason);

/* How the embedding field is encoded; the stream learns it by describing the query. */
typedef enum {
    EMBEDDING_ARRAY,         /* real[] or double precision[] */
    EMBEDDING_BYTEA,         /* bytea of little-endian float32 */
    EMBEDDING_BYTEA_FLOAT16, /* bytea of little-endian float16 (source.embedding_format) */
    EMBEDDING_VECTOR,        /* pgvector's vector: uint16 dim, uint16 0, big-endian float4 */
    EMBEDDING_HALFVEC        /* pgvector's halfvec: the same header, big-endian float16 */
} EmbeddingFormat;

/*
 * Whether a bytea value of `length` bytes at p is pgvector's binary send
 * format (what vector_send or halfvec_send return) rather than packed
 * floats: a big-endian dimension d > 0, two zero bytes, then 4d or 2d
 * bytes. Packed float32s would have to start with a subnormal below 1e-40
 * followed by the right length to look so.
 */
bool copy_bytea_is_pgvector_send(const unsigned char *p, size_t length, size_t *dim);

/* ERR_CONFIG for a bytea embedding that holds pgvector's send format, with the fix. */
int copy_pgvector_send_error(size_t dim, Error *err);

/* How rows are parsed and where they go; shared by the parser and both drivers. */
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
     * A parallel read with on_row (stream_read_parallel, read/parallel.h;
     * the parser itself never calls it): called once the partitions are
     * counted, before any worker starts, with the rows counted in each
     * (NULL from stream_read_split's single stream); fills row_contexts[w],
     * the on_row context for worker w's rows. Workers call on_row at the
     * same time, each with its own context, and the row index counts within
     * the worker's partition.
     */
    int (*on_partitions)(void *context, const uint64_t *rows, int workers, void **row_contexts,
                         Error *err);
    void *partitions_context;
    /*
     * The stream is the plan's copy_counting_sql (stream_read picks it): a
     * row whose last column is not NULL was dropped by the filters; it is
     * counted in filtered_out and nothing else (not read, not rejected).
     */
    bool count_filtered;
    /*
     * The rows the filters keep in each of part_count partitions, counted
     * in the read's snapshot (stream_count_partitions), or NULL: a parallel
     * read over part_count workers takes them instead of counting again.
     */
    const uint64_t *part_rows;
    int part_count;
    /*
     * A parallel in-memory read with embeddings that counts nothing first:
     * > 0, the workers claim the rows' slots in one matrix reserved for
     * this many rows (core/images.h, SharedRows), and stream their
     * partitions with the rows the filters drop marked (count_filtered).
     */
    size_t shared_rows;
    /* Called for each skipped row (may be NULL); id may be NULL; uuids come as text. */
    void (*on_reject)(void *context, const char *id, size_t id_length, RejectReason reason);
    void *reject_context;
} StreamOptions;

typedef struct StreamStats {
    uint64_t rows_read;
    uint64_t filtered_out;   /* count_filtered: rows the filters dropped */
    uint64_t rejected[REJECT_REASON_COUNT];
    uint64_t bytes_read;
} StreamStats;

typedef struct CopyParser CopyParser;

/*
 * A parser for the columns the plan selects (plan->column_count and the
 * has_* flags, id_uuid, and the filter column of copy_counting_sql when
 * options->count_filtered), filling images. A pinned embedding_dim is set on
 * images, or sizes the scratch row when images keeps no embeddings (which
 * needs on_row). The options are copied; plan is not kept.
 */
int copy_parser_new(const Plan *plan, const StreamOptions *options, Images *images,
                    CopyParser **out, Error *err);

/* Parses the next bytes; any chunking. ERR_DATA on malformed input. */
int copy_parser_feed(CopyParser *parser, const char *data, size_t length, Error *err);

/* Checks the stream ended cleanly (trailer seen, nothing left over). */
int copy_parser_finish(CopyParser *parser, Error *err);

/*
 * Indexes the ids of a read that deferred them (images_defer_ids): a later
 * copy of an id is dropped and rejected as REJECT_DUPLICATE_ID, counted and
 * reported as in the stream. A no-op when the ids were not deferred.
 */
int copy_parser_index_ids(CopyParser *parser, Error *err);

/* Rows read, rejected by reason, and bytes fed so far. */
const StreamStats *copy_parser_stats(const CopyParser *parser);

void copy_parser_free(CopyParser *parser);

#endif
