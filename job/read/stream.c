#include "read/stream.h"

#include "core/cancel.h"
#include "core/log.h"

#include <pthread.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs of the embedding column and of array elements we accept. */
#define OID_BYTEA 17
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_FLOAT4_ARRAY 1021
#define OID_FLOAT8_ARRAY 1022
#define OID_UUID 2950
/* The SELECT has at most id, score, variance, category and embedding. */
#define DESCRIBE_COLUMNS_MAX 8
#define UUID_BYTES 16

static const char signature[11] = "PGCOPY\n\377\r\n\0";

struct StreamParser {
    Images *images;
    StreamOptions options;
    int column_count;
    bool has_score, has_variance, has_category, has_embedding;
    bool id_uuid;                 /* ids arrive as 16-byte binary uuids */
    bool header_done, trailer_seen;
    char *pending;                /* bytes of an incomplete tuple */
    size_t pending_length, pending_capacity;
    uint64_t offset;              /* bytes consumed, for messages */
    float *scratch;               /* one embedding row, when images keeps none */
    size_t scratch_dim;
    StreamStats stats;
};

const char *stream_reject_name(RejectReason reason)
{
    static const char *const names[REJECT_REASON_COUNT] = {
        "null_id", "null_score", "nonfinite_score", "null_category",
        "null_embedding", "bad_embedding", "dim_mismatch", "duplicate_id",
    };
    return reason < REJECT_REASON_COUNT ? names[reason] : "unknown";
}

static uint32_t read_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint16_t read_u16(const unsigned char *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static double read_f8(const unsigned char *p)
{
    uint64_t bits = (uint64_t)read_u32(p) << 32 | read_u32(p + 4);
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static float read_f4(const unsigned char *p)
{
    uint32_t bits = read_u32(p);
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

int stream_parser_new(const Plan *plan, const StreamOptions *options, Images *images,
                      StreamParser **out, Error *err)
{
    StreamParser *parser = calloc(1, sizeof *parser);
    if (parser == NULL)
        return error_nomem(err, sizeof *parser);
    parser->images = images;
    parser->options = *options;
    parser->column_count = plan->column_count;
    parser->has_score = plan->has_score;
    parser->has_variance = plan->has_variance;
    parser->has_category = plan->has_category;
    parser->has_embedding = plan->has_embedding;
    parser->id_uuid = plan->id_uuid;
    if (plan->id_uuid) {
        int code = images_use_uuid_ids(images, err);
        if (code != ERR_OK) {
            free(parser);
            return code;
        }
    }
    if (plan->has_embedding && !images->has_embedding) {
        if (options->embedding_dim == 0 || options->on_row == NULL) {
            free(parser);
            return error_set(err, ERR_INTERNAL, "streaming embeddings without keeping them "
                                                "needs a pinned dimension and a row callback");
        }
        parser->scratch_dim = options->embedding_dim;
        parser->scratch = malloc(options->embedding_dim * sizeof(float));
        if (parser->scratch == NULL) {
            free(parser);
            return error_nomem(err, options->embedding_dim * sizeof(float));
        }
    } else if (options->embedding_dim > 0) {
        int code = images_set_dim(images, options->embedding_dim, err);
        if (code != ERR_OK) {
            free(parser);
            return code;
        }
    }
    *out = parser;
    return ERR_OK;
}

void stream_parser_free(StreamParser *parser)
{
    if (parser == NULL)
        return;
    free(parser->scratch);
    free(parser->pending);
    free(parser);
}

const StreamStats *stream_parser_stats(const StreamParser *parser)
{
    return &parser->stats;
}

static int malformed(StreamParser *parser, size_t at, const char *what, Error *err)
{
    return error_set(err, ERR_DATA, "malformed COPY data at byte %llu: %s",
                     (unsigned long long)(parser->offset + at), what);
}

/* Outcome of decoding one embedding field into its slot. */
typedef enum { EMB_OK, EMB_BAD, EMB_DIM } EmbeddingOutcome;

/*
 * Decodes an embedding field of `length` bytes at p into slot (dim floats;
 * when dim is 0 the first usable row sets it, slot then comes back new).
 * Returns ERR_OK with *outcome set, or ERR_DATA for structural damage.
 */
static int decode_embedding(StreamParser *parser, const unsigned char *p, size_t length,
                            size_t at, float **slot, EmbeddingOutcome *outcome, Error *err)
{
    Images *images = parser->images;
    size_t count;
    int element_oid = OID_FLOAT4;
    const unsigned char *elements;

    if (parser->options.embedding_format == EMBEDDING_BYTEA) {
        if (length % 4 != 0 || length == 0) {
            *outcome = EMB_BAD;
            return ERR_OK;
        }
        count = length / 4;
        elements = p;
    } else {
        if (length < 12)
            return malformed(parser, at, "array header too short", err);
        uint32_t ndim = read_u32(p);
        element_oid = (int)read_u32(p + 8);
        if (element_oid != OID_FLOAT4 && element_oid != OID_FLOAT8)
            return malformed(parser, at, "array of an unexpected element type", err);
        if (ndim != 1) {
            if (ndim > 6)
                return malformed(parser, at, "array with too many dimensions", err);
            *outcome = EMB_BAD; /* empty or multi-dimensional: not an embedding */
            return ERR_OK;
        }
        if (length < 20)
            return malformed(parser, at, "array header too short", err);
        count = read_u32(p + 12);
        size_t element_size = element_oid == OID_FLOAT4 ? 4 : 8;
        /* Elements are (int32 length, bytes) each; NULL has length -1. */
        size_t remaining = length - 20;
        if (count > remaining / 4)
            return malformed(parser, at, "array longer than its field", err);
        elements = p + 20;
        /* Check structure first so a NULL element makes a bad row, not damage. */
        bool has_null = false;
        const unsigned char *q = elements;
        for (size_t i = 0; i < count; i++) {
            if ((size_t)(p + length - q) < 4)
                return malformed(parser, at, "array element past its field", err);
            int32_t element_length = (int32_t)read_u32(q);
            q += 4;
            if (element_length == -1) {
                has_null = true;
                continue;
            }
            if (element_length != (int32_t)element_size || (size_t)(p + length - q) < element_size)
                return malformed(parser, at, "array element of a wrong size", err);
            q += element_size;
        }
        if (q != p + length)
            return malformed(parser, at, "bytes after the array's elements", err);
        if (has_null) {
            *outcome = EMB_BAD;
            return ERR_OK;
        }
    }

    if (count == 0) {
        *outcome = EMB_BAD;
        return ERR_OK;
    }
    size_t dim = parser->scratch != NULL ? parser->scratch_dim : images->dim;
    if (dim == 0) {
        int code = images_set_dim(images, count, err);
        if (code == ERR_OK)
            code = images_begin_row(images, slot, err);
        if (code != ERR_OK)
            return code;
        dim = count;
    }
    if (count != dim) {
        *outcome = EMB_DIM;
        return ERR_OK;
    }

    float *out = *slot;
    if (parser->options.embedding_format == EMBEDDING_BYTEA) {
        for (size_t i = 0; i < count; i++) {
            uint32_t bits = (uint32_t)elements[4 * i] | (uint32_t)elements[4 * i + 1] << 8
                            | (uint32_t)elements[4 * i + 2] << 16
                            | (uint32_t)elements[4 * i + 3] << 24;
            memcpy(&out[i], &bits, sizeof bits);
        }
    } else if (element_oid == OID_FLOAT4) {
        for (size_t i = 0; i < count; i++)
            out[i] = read_f4(elements + 8 * i + 4);
    } else {
        for (size_t i = 0; i < count; i++)
            out[i] = (float)read_f8(elements + 12 * i + 4);
    }
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(out[i])) {
            *outcome = EMB_BAD;
            return ERR_OK;
        }
    }
    *outcome = EMB_OK;
    return ERR_OK;
}

/* The id as text for messages and rejects: uuids formatted, text as it is. */
static const char *id_text(const StreamParser *parser, const char *id, size_t *id_length,
                           char *buffer)
{
    if (!parser->id_uuid || id == NULL || *id_length != UUID_BYTES)
        return id;
    images_format_uuid((const unsigned char *)id, buffer);
    *id_length = strlen(buffer);
    return buffer;
}

static void reject(StreamParser *parser, const char *id, size_t id_length, RejectReason reason)
{
    char text[40];
    parser->stats.rejected[reason]++;
    if (parser->options.on_reject != NULL) {
        id = id_text(parser, id, &id_length, text);
        parser->options.on_reject(parser->options.reject_context, id, id_length, reason);
    }
}

/*
 * Parses one tuple at data[0..length). Returns ERR_OK and *used > 0 when a
 * whole tuple (or the trailer) was consumed, *used == 0 when more bytes are
 * needed, or an error.
 */
static int parse_tuple(StreamParser *parser, const unsigned char *data, size_t length,
                       size_t *used, Error *err)
{
    const unsigned char *p = data;
    const unsigned char *end = data + length;
    *used = 0;

    if (length < 2)
        return ERR_OK;
    int16_t fields = (int16_t)read_u16(p);
    p += 2;
    if (fields == -1) {
        parser->trailer_seen = true;
        *used = 2;
        return ERR_OK;
    }
    if (fields != parser->column_count)
        return malformed(parser, 0, "tuple with an unexpected number of fields", err);

    /* First pass: find every field, so an incomplete tuple costs nothing. */
    const unsigned char *field[8];
    int32_t field_length[8];
    for (int f = 0; f < fields; f++) {
        if (end - p < 4)
            return ERR_OK;
        field_length[f] = (int32_t)read_u32(p);
        p += 4;
        field[f] = p;
        if (field_length[f] == -1)
            continue;
        if (field_length[f] < 0)
            return malformed(parser, (size_t)(p - data) - 4, "negative field length", err);
        if ((size_t)(end - p) < (size_t)field_length[f])
            return ERR_OK;
        p += field_length[f];
    }
    *used = (size_t)(p - data);
    parser->stats.rows_read++;

    int f = 0;
    const char *id = (const char *)field[f];
    size_t id_length = field_length[f] > 0 ? (size_t)field_length[f] : 0;
    if (field_length[f++] == -1) {
        reject(parser, NULL, 0, REJECT_NULL_ID);
        return ERR_OK;
    }
    if (parser->id_uuid && id_length != UUID_BYTES)
        return malformed(parser, (size_t)(field[0] - data), "uuid field of a wrong size", err);
    double score = NAN, variance = NAN;
    if (parser->has_score) {
        if (field_length[f] == 8)
            score = read_f8(field[f]);
        else if (field_length[f] != -1)
            return malformed(parser, (size_t)(field[f] - data), "float8 field of a wrong size", err);
        f++;
        if (parser->options.score_required) {
            if (isnan(score) && field_length[f - 1] == -1) {
                reject(parser, id, id_length, REJECT_NULL_SCORE);
                return ERR_OK;
            }
            if (!isfinite(score)) {
                reject(parser, id, id_length, REJECT_NONFINITE_SCORE);
                return ERR_OK;
            }
        }
    }
    if (parser->has_variance) {
        if (field_length[f] == 8)
            variance = read_f8(field[f]);
        else if (field_length[f] != -1)
            return malformed(parser, (size_t)(field[f] - data), "float8 field of a wrong size", err);
        f++;
    }
    const char *label = NULL;
    size_t label_length = 0;
    if (parser->has_category) {
        if (field_length[f] == -1) {
            reject(parser, id, id_length, REJECT_NULL_CATEGORY);
            return ERR_OK;
        }
        label = (const char *)field[f];
        label_length = (size_t)field_length[f];
        f++;
    }
    float *slot = parser->scratch;
    int code = parser->options.lookup_only ? ERR_OK
                                           : images_begin_row(parser->images,
                                                              parser->scratch != NULL ? NULL : &slot,
                                                              err);
    if (code != ERR_OK)
        return code;
    if (parser->has_embedding) {
        if (field_length[f] == -1) {
            reject(parser, id, id_length, REJECT_NULL_EMBEDDING);
            return ERR_OK;
        }
        EmbeddingOutcome outcome = EMB_BAD;
        code = decode_embedding(parser, field[f], (size_t)field_length[f],
                                (size_t)(field[f] - data), &slot, &outcome, err);
        if (code != ERR_OK)
            return code;
        if (outcome == EMB_DIM) {
            char text[40];
            size_t text_length = id_length;
            const char *shown = id_text(parser, id, &text_length, text);
            if (parser->options.dim_mismatch_is_error)
                return error_set(err, ERR_DATA,
                                 "image \"%.*s\" has an embedding of a dimension other than %zu"
                                 "\nHINT: set source.on_bad_row: skip to skip such rows",
                                 (int)(text_length > 200 ? 200 : text_length), shown,
                                 parser->scratch != NULL ? parser->scratch_dim
                                                         : parser->images->dim);
            reject(parser, id, id_length, REJECT_DIM_MISMATCH);
            return ERR_OK;
        }
        if (outcome == EMB_BAD) {
            reject(parser, id, id_length, REJECT_BAD_EMBEDDING);
            return ERR_OK;
        }
    }
    if (parser->options.lookup_only)
        return parser->options.on_row(parser->options.row_context, id, id_length, -1, slot, err);
    int added = images_commit_row(parser->images, id, id_length, score, variance, label,
                                  label_length, err);
    if (added < 0)
        return err->code;
    if (added == 0) {
        reject(parser, id, id_length, REJECT_DUPLICATE_ID);
        return ERR_OK;
    }
    if (parser->options.on_row != NULL)
        return parser->options.on_row(parser->options.row_context, id, id_length,
                                      (int64_t)parser->images->count - 1, slot, err);
    return ERR_OK;
}

/* A duplicate id found when a deferred read is indexed: rejected like any. */
static void duplicate_found(void *context, const char *id, size_t id_length)
{
    reject(context, id, id_length, REJECT_DUPLICATE_ID);
}

/* Parses as much of data as forms whole units; returns bytes consumed. */
static int parse_buffer(StreamParser *parser, const unsigned char *data, size_t length,
                        size_t *consumed, Error *err)
{
    size_t at = 0;
    *consumed = 0;
    if (!parser->header_done) {
        if (length < 19)
            return ERR_OK;
        if (memcmp(data, signature, sizeof signature) != 0)
            return malformed(parser, 0, "not a binary COPY stream (bad signature)", err);
        uint32_t flags = read_u32(data + 11);
        if (flags & 0xFFFF0000u)
            return malformed(parser, 11, "unsupported header flags", err);
        uint32_t extension = read_u32(data + 15);
        if (extension > length - 19)
            return extension > (1u << 20) ? malformed(parser, 15, "header extension too long", err)
                                          : ERR_OK;
        at = 19 + extension;
        parser->header_done = true;
        parser->offset += at;
    }
    while (at < length) {
        if (parser->trailer_seen)
            return malformed(parser, at, "data after the end marker", err);
        size_t used;
        int code = parse_tuple(parser, data + at, length - at, &used, err);
        if (code != ERR_OK)
            return code;
        if (used == 0)
            break;
        at += used;
        parser->offset += used;
    }
    *consumed = at;
    return ERR_OK;
}

int stream_parser_feed(StreamParser *parser, const char *data, size_t length, Error *err)
{
    const unsigned char *bytes = (const unsigned char *)data;
    size_t consumed;
    int code;

    parser->stats.bytes_read += length;
    if (parser->pending_length == 0) {
        /* The usual case: libpq hands over whole rows; parse in place. */
        code = parse_buffer(parser, bytes, length, &consumed, err);
        if (code != ERR_OK)
            return code;
        bytes += consumed;
        length -= consumed;
        if (length == 0)
            return ERR_OK;
    }
    if (parser->pending_length + length > parser->pending_capacity) {
        size_t capacity = (parser->pending_length + length) * 2;
        char *grown = realloc(parser->pending, capacity);
        if (grown == NULL)
            return error_nomem(err, capacity);
        parser->pending = grown;
        parser->pending_capacity = capacity;
    }
    memcpy(parser->pending + parser->pending_length, bytes, length);
    parser->pending_length += length;
    code = parse_buffer(parser, (const unsigned char *)parser->pending, parser->pending_length,
                        &consumed, err);
    if (code != ERR_OK)
        return code;
    memmove(parser->pending, parser->pending + consumed, parser->pending_length - consumed);
    parser->pending_length -= consumed;
    return ERR_OK;
}

int stream_parser_finish(StreamParser *parser, Error *err)
{
    if (!parser->header_done)
        return malformed(parser, 0, "stream ended before its header", err);
    if (parser->pending_length > 0)
        return malformed(parser, 0, "stream ended inside a tuple", err);
    if (!parser->trailer_seen)
        return malformed(parser, 0, "stream ended without its end marker", err);
    return ERR_OK;
}

static int feed_chunk(void *context, const char *data, size_t length, Error *err)
{
    StreamParser *parser = context;
    uint64_t before = parser->stats.rows_read;
    int code = stream_parser_feed(parser, data, length, err);
    /* A progress line on a terminal every 2^16 rows (a no-op otherwise). */
    if ((before >> 16) != (parser->stats.rows_read >> 16))
        log_progress("read", "%" PRIu64 " rows, %.1f MB", parser->stats.rows_read,
                     (double)parser->stats.bytes_read / 1e6);
    return code;
}

/*
 * The COPY's query reads its parameters from transaction-local settings.
 * Rows must arrive in the same order for the same table, or k-means (which
 * sees them in arrival order) gives other clusters for the same seed: a
 * parallel plan's Gather interleaves its workers' rows by timing, and a
 * synchronized scan starts where another scan of the table happens to be.
 * Both are off for the read's transaction; pairpick's own workers split the
 * rows instead.
 */
static int set_copy_parameters(Db *db, const Plan *plan, Error *err)
{
    int code = db_command(db, "set read order",
                          "SELECT set_config('max_parallel_workers_per_gather', '0', true), "
                          "set_config('synchronize_seqscans', 'off', true)",
                          0, NULL, NULL, err);
    for (int i = 0; i < plan->param_count && code == ERR_OK; i++) {
        char name[64];
        snprintf(name, sizeof name, PLAN_SETTING_PREFIX "%d", i + 1);
        const char *params[2] = {name, plan->params[i]};
        code = db_command(db, "set copy parameter", "SELECT set_config($1, $2, true)", 2, params,
                          NULL, err);
    }
    return code;
}

/* Learns the embedding column's type from a described, unexecuted query. */
int stream_describe_embedding(Db *db, const Plan *plan, EmbeddingFormat *format, Error *err)
{
    uint32_t types[DESCRIBE_COLUMNS_MAX];
    int columns = 0;
    int code = db_describe(db, "describe images", plan->select_sql, plan->param_count, types,
                           DESCRIBE_COLUMNS_MAX, &columns, err);
    if (code != ERR_OK)
        return code;
    if (columns != plan->column_count || columns > DESCRIBE_COLUMNS_MAX)
        return error_set(err, ERR_INTERNAL, "query \"describe images\" has %d columns, expected %d",
                         columns, plan->column_count);
    uint32_t type = types[plan->column_count - 1];
    /* embedding_sql is "(expression as written)" */
    const char *column = "your_column";
    int column_length = (int)strlen(column);
    if (plan->embedding_sql != NULL && strlen(plan->embedding_sql) >= 2) {
        column = plan->embedding_sql + 1;
        column_length = (int)strlen(plan->embedding_sql) - 2;
    }
    if (type == OID_BYTEA)
        *format = EMBEDDING_BYTEA;
    else if (type == OID_FLOAT4_ARRAY || type == OID_FLOAT8_ARRAY)
        *format = EMBEDDING_ARRAY;
    else
        code = error_set(err, ERR_CONFIG,
                         "source.embedding has a type (oid %u) pairpick cannot read; expected "
                         "real[], double precision[] or bytea\nHINT: for a pgvector column write "
                         "\"embedding: %.*s::real[]\"",
                         (unsigned)type, column_length, column);
    return code;
}

int stream_describe_id(Db *db, Plan *plan, Error *err)
{
    uint32_t types[1];
    int columns = 0;
    char *sql = plan_id_query(plan);
    if (sql == NULL)
        return error_nomem(err, 0);
    int code = db_describe(db, "describe id", sql, plan->param_count, types, 1, &columns, err);
    free(sql);
    if (code == ERR_OK && columns >= 1 && types[0] == OID_UUID)
        code = plan_use_uuid_ids(plan, err);
    return code;
}

int stream_read(Db *db, const Plan *plan, const StreamOptions *options, Images *images,
                StreamStats *stats, Error *err)
{
    StreamOptions effective = *options;
    StreamParser *parser = NULL;
    int code = ERR_OK;

    if (plan->has_embedding) {
        code = stream_describe_embedding(db, plan, &effective.embedding_format, err);
        if (code != ERR_OK)
            return code;
    }
    if ((code = set_copy_parameters(db, plan, err)) != ERR_OK)
        return code;
    code = stream_parser_new(plan, &effective, images, &parser, err);
    if (code != ERR_OK)
        return code;
    /* A plain read hashes its ids once after the stream, not row by row in it. */
    if (effective.on_row == NULL && !effective.lookup_only)
        images_defer_ids(images);
    code = db_copy_out(db, "select images", plan->copy_sql, 0, NULL, feed_chunk, parser, err);
    log_progress_done();
    if (code == ERR_OK)
        code = stream_parser_finish(parser, err);
    int indexed = images_index_ids(images, duplicate_found, parser, err);
    if (code == ERR_OK)
        code = indexed;
    *stats = parser->stats;
    stream_parser_free(parser);
    return code;
}

/* Rejected rows from all workers go through one lock to the caller's callback. */
typedef struct {
    pthread_mutex_t lock;
    void (*on_reject)(void *context, const char *id, size_t id_length, RejectReason reason);
    void *context;
} SharedRejects;

static void shared_reject(void *context, const char *id, size_t id_length, RejectReason reason)
{
    SharedRejects *shared = context;
    pthread_mutex_lock(&shared->lock);
    shared->on_reject(shared->context, id, id_length, reason);
    pthread_mutex_unlock(&shared->lock);
}

typedef struct {
    Db *db;
    const Plan *plan;
    StreamOptions options;
    const char *snapshot;
    int parts, part;
    Images images;
    StreamStats stats;
    Error err;
    int code;
} Worker;

static int worker_feed(void *context, const char *data, size_t length, Error *err)
{
    if (cancel_requested())
        return error_set(err, ERR_TEMPFAIL, "cancelled by signal %d", cancel_signal());
    return stream_parser_feed(context, data, length, err);
}

static void *worker_run(void *argument)
{
    Worker *worker = argument;
    StreamParser *parser = NULL;
    char *sql = NULL;
    Error *err = &worker->err;
    int code;

    if ((code = db_begin(worker->db, "begin worker", "ISOLATION LEVEL REPEATABLE READ", err))
        != ERR_OK)
        goto done;
    /* SET TRANSACTION SNAPSHOT takes no parameters; the id comes from the
     * server's own pg_export_snapshot(), never from outside. */
    char set_snapshot[128];
    snprintf(set_snapshot, sizeof set_snapshot, "SET TRANSACTION SNAPSHOT '%s'", worker->snapshot);
    if ((code = db_command(worker->db, "set snapshot", set_snapshot, 0, NULL, NULL, err)) != ERR_OK
        || (code = set_copy_parameters(worker->db, worker->plan, err)) != ERR_OK
        || (code = stream_parser_new(worker->plan, &worker->options, &worker->images, &parser,
                                     err))
               != ERR_OK)
        goto done;
    sql = plan_partition_copy(worker->plan, worker->parts, worker->part);
    if (sql == NULL) {
        code = error_nomem(err, 0);
        goto done;
    }
    code = db_copy_out(worker->db, "select images (partition)", sql, 0, NULL, worker_feed, parser,
                       err);
    if (code == ERR_OK)
        code = stream_parser_finish(parser, err);
    worker->stats = *stream_parser_stats(parser);
    if (code == ERR_OK)
        code = db_commit(worker->db, "commit worker", err);
done:
    stream_parser_free(parser);
    free(sql);
    worker->code = code;
    return NULL;
}

/* Whether the snapshot id is what pg_export_snapshot() returns (hex and dashes). */
static bool snapshot_id_ok(const char *id)
{
    if (id[0] == '\0' || strlen(id) > 64)
        return false;
    for (const char *p = id; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F') || *p == '-'))
            return false;
    return true;
}

/* The embedding dimension of the first row that has one (0: none). */
int stream_probe_dim(Db *db, const Plan *plan, EmbeddingFormat format, size_t *dim, Error *err)
{
    char *sql = NULL;
    DbResult *result = NULL;
    if (asprintf(&sql, "SELECT %s(%s)%s %s %s IS NOT NULL LIMIT 1",
                 format == EMBEDDING_BYTEA ? "octet_length" : "cardinality", plan->embedding_sql,
                 plan->from_where_sql, plan->has_where ? "AND" : "WHERE", plan->embedding_sql)
        < 0)
        return error_nomem(err, 0);
    int code = db_query(db, "probe embedding dimension", sql, plan->param_count,
                        (const char *const *)plan->params, &result, err);
    free(sql);
    if (code != ERR_OK)
        return code;
    *dim = 0;
    if (db_result_rows(result) == 1 && !db_result_is_null(result, 0, 0)) {
        long long value = strtoll(db_result_value(result, 0, 0), NULL, 10);
        if (value > 0)
            *dim = (size_t)(format == EMBEDDING_BYTEA ? value / 4 : value);
        if (format == EMBEDDING_BYTEA && value % 4 != 0)
            *dim = 0;
    }
    db_result_free(result);
    return ERR_OK;
}

int stream_read_parallel(Db *db, const Plan *plan, const StreamOptions *options, int workers,
                         StreamConnectFn connect, void *connect_context, Images *images,
                         StreamStats *stats, Error *err)
{
    StreamOptions effective = *options;
    Worker *pool = NULL;
    pthread_t *threads = NULL;
    int started = 0, code = ERR_OK;
    char snapshot[80];
    size_t dim = options->embedding_dim;
    uint64_t *part_rows = NULL;
    void **row_contexts = NULL;
    DbResult *result = NULL;
    char *sql = NULL;
    SharedRejects shared = {PTHREAD_MUTEX_INITIALIZER, options->on_reject, options->reject_context};

    memset(stats, 0, sizeof *stats);
    if (plan->id_uuid && (code = images_use_uuid_ids(images, err)) != ERR_OK)
        return code;
    if (plan->has_embedding) {
        if ((code = stream_describe_embedding(db, plan, &effective.embedding_format, err)) != ERR_OK)
            return code;
        if (dim == 0 && (code = stream_probe_dim(db, plan, effective.embedding_format, &dim, err)) != ERR_OK)
            return code;
        if (dim == 0 && options->on_row != NULL) /* callers with on_row pin the dimension */
            return error_set(err, ERR_INTERNAL, "a row callback without a pinned dimension");
        if (dim == 0) /* no usable embedding at all: one stream says so simply */
            return stream_read(db, plan, options, images, stats, err);
        effective.embedding_dim = dim;
    }
    if ((code = db_query_text(db, "export snapshot", "SELECT pg_export_snapshot()", 0, NULL,
                              snapshot, sizeof snapshot, NULL, err))
        != ERR_OK)
        return code;
    if (!snapshot_id_ok(snapshot))
        return error_set(err, ERR_INTERNAL, "unexpected snapshot id \"%s\"", snapshot);

    /* Count each partition, so every worker's slice has its final place. */
    part_rows = calloc((size_t)workers, sizeof *part_rows);
    pool = calloc((size_t)workers, sizeof *pool);
    threads = calloc((size_t)workers, sizeof *threads);
    sql = plan_partition_count(plan, workers);
    if (part_rows == NULL || pool == NULL || threads == NULL || sql == NULL) {
        code = error_nomem(err, 0);
        goto done;
    }
    if ((code = db_query(db, "count partitions", sql, plan->param_count,
                         (const char *const *)plan->params, &result, err))
        != ERR_OK)
        goto done;
    uint64_t total = 0;
    for (int i = 0; i < db_result_rows(result); i++) {
        int part = atoi(db_result_value(result, i, 0));
        if (part >= 0 && part < workers) {
            part_rows[part] = strtoull(db_result_value(result, i, 1), NULL, 10);
            total += part_rows[part];
        }
    }
    db_result_free(result);
    result = NULL;

    if (plan->has_embedding && images->has_embedding
        && (code = images_set_dim(images, dim, err)) != ERR_OK)
        goto done;
    if (!effective.lookup_only
        && (code = images_reserve(images, total > 0 ? total : 1, err)) != ERR_OK)
        goto done;
    if (effective.on_row != NULL) {
        if (effective.on_partitions == NULL) {
            code = error_set(err, ERR_INTERNAL,
                             "a parallel read with a row callback needs one context per worker");
            goto done;
        }
        if ((row_contexts = calloc((size_t)workers, sizeof *row_contexts)) == NULL) {
            code = error_nomem(err, (size_t)workers * sizeof *row_contexts);
            goto done;
        }
        if ((code = effective.on_partitions(effective.partitions_context, part_rows, workers,
                                            row_contexts, err))
            != ERR_OK)
            goto done;
    }

    uint64_t offset = 0;
    for (int w = 0; w < workers; w++) {
        Worker *worker = &pool[w];
        worker->plan = plan;
        worker->options = effective;
        if (row_contexts != NULL)
            worker->options.row_context = row_contexts[w];
        if (options->on_reject != NULL) {
            worker->options.on_reject = shared_reject;
            worker->options.reject_context = &shared;
        }
        worker->snapshot = snapshot;
        worker->parts = workers;
        worker->part = w;
        images_init(&worker->images, images->has_score, images->has_variance, images->has_label,
                    images->has_embedding);
        if (images->has_embedding)
            images_attach_embedding(&worker->images, images->embedding + offset * dim,
                                    part_rows[w], dim);
        offset += part_rows[w];
        if ((code = connect(connect_context, &worker->db, err)) != ERR_OK)
            goto done;
    }
    for (int w = 0; w < workers; w++) {
        if (pthread_create(&threads[w], NULL, worker_run, &pool[w]) != 0) {
            code = error_set(err, ERR_INTERNAL, "cannot start a streaming thread");
            break;
        }
        started++;
    }
    for (int w = 0; w < started; w++)
        pthread_join(threads[w], NULL);
    if (code != ERR_OK)
        goto done;
    for (int w = 0; w < workers; w++) {
        if (pool[w].code != ERR_OK) {
            *err = pool[w].err;
            code = pool[w].code;
            goto done;
        }
    }
    /* Gather: ids and scores appended in partition order, embedding rows
     * moved down inside the one matrix (never up, so memmove is safe). */
    for (int w = 0; w < workers; w++) {
        stats->rows_read += pool[w].stats.rows_read;
        stats->bytes_read += pool[w].stats.bytes_read;
        for (int r = 0; r < REJECT_REASON_COUNT; r++)
            stats->rejected[r] += pool[w].stats.rejected[r];
        if ((code = images_merge(images, &pool[w].images, err)) != ERR_OK)
            goto done;
    }

done:
    for (int w = 0; pool != NULL && w < workers; w++) {
        images_release(&pool[w].images);
        db_close(pool[w].db);
    }
    if (pool != NULL)
        db_watch_cancel(db); /* worker connections closed; watch the main one again */
    db_result_free(result);
    free(sql);
    free(part_rows);
    free(row_contexts);
    free(pool);
    free(threads);
    return code;
}

int stream_read_split(Db *db, const Plan *plan, StreamOptions *options, int streams,
                      StreamConnectFn connect, void *connect_context, Images *images,
                      StreamStats *stats, Error *err)
{
    if (streams > 1)
        return stream_read_parallel(db, plan, options, streams, connect, connect_context, images,
                                    stats, err);
    void *context = NULL;
    int code = options->on_partitions(options->partitions_context, NULL, 1, &context, err);
    if (code != ERR_OK)
        return code;
    StreamOptions single = *options;
    single.row_context = context;
    return stream_read(db, plan, &single, images, stats, err);
}
