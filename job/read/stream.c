#include "read/stream.h"

#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs of the built-in id and embedding types we tell apart (fixed in every database). */
#define OID_BYTEA 17
#define OID_FLOAT4_ARRAY 1021
#define OID_FLOAT8_ARRAY 1022
#define OID_UUID 2950
/* The SELECT has at most id, score, variance, category and embedding. */
#define DESCRIBE_COLUMNS_MAX 8
/* The extension that owns pgvector's types (CREATE EXTENSION vector). */
#define PGVECTOR_EXTENSION "vector"

/*
 * A type that is not built in, by its name and the extension that owns it:
 * pgvector's types have OIDs of their own in every database, so they are
 * recognized this way, never by a fixed OID.
 */
static const char type_owner_sql[] =
    "SELECT t.typname, coalesce(x.extname, ''), pg_catalog.format_type(t.oid, NULL) "
    "FROM pg_catalog.pg_type t "
    "LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass "
    "AND d.objid = t.oid AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass "
    "AND d.deptype = 'e' "
    "LEFT JOIN pg_catalog.pg_extension x ON x.oid = d.refobjid "
    "WHERE t.oid = $1::pg_catalog.oid";

/* The embedding column's type: its format, and its name as a user reads it. */
typedef struct {
    EmbeddingFormat format;
    bool readable;
    bool pgvector;   /* owned by pgvector (sparsevec ...): a cast to vector reads it */
    char name[128];
} EmbeddingType;

static int feed_chunk(void *context, const char *data, size_t length, Error *err)
{
    CopyParser *parser = context;
    uint64_t before = copy_parser_stats(parser)->rows_read;
    int code = copy_parser_feed(parser, data, length, err);
    const StreamStats *stats = copy_parser_stats(parser);
    /* A progress line on a terminal every 2^16 rows (a no-op otherwise). */
    if ((before >> 16) != (stats->rows_read >> 16))
        log_progress("read", "%" PRIu64 " rows, %.1f MB", stats->rows_read,
                     (double)stats->bytes_read / 1e6);
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
int stream_set_copy_parameters(Db *db, const Plan *plan, Error *err)
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

/* ERR_CONFIG for an embedding column of a type we cannot read, with a cast to suggest. */
static int embedding_type_error(const Plan *plan, const EmbeddingType *type, Error *err)
{
    /* embedding_sql is "(expression as written)" */
    const char *column = "your_column";
    int column_length = (int)strlen(column);
    if (plan->embedding_sql != NULL && strlen(plan->embedding_sql) >= 2) {
        column = plan->embedding_sql + 1;
        column_length = (int)strlen(plan->embedding_sql) - 2;
    }
    return error_set(err, ERR_CONFIG,
                     "source.embedding has a type (%s) pairpick cannot read; expected real[], "
                     "double precision[], bytea, or pgvector's vector or halfvec"
                     "\nHINT: cast it to one of them, e.g. \"embedding: %.*s::%s\"",
                     type->name, column_length, column, type->pgvector ? "vector" : "real[]");
}

/* A type that is not built in: pgvector's vector or halfvec, or one we cannot read. */
static int extension_type(Db *db, uint32_t oid, EmbeddingType *type, Error *err)
{
    char oid_text[16];
    const char *params[1] = {oid_text};
    DbResult *result = NULL;
    snprintf(oid_text, sizeof oid_text, "%u", (unsigned)oid);
    int code = db_query(db, "describe embedding type", type_owner_sql, 1, params, &result, err);
    if (code != ERR_OK)
        return code;
    snprintf(type->name, sizeof type->name, "oid %u", (unsigned)oid);
    if (db_result_rows(result) == 1) {
        const char *name = db_result_value(result, 0, 0);
        bool pgvector = strcmp(db_result_value(result, 0, 1), PGVECTOR_EXTENSION) == 0;
        type->pgvector = pgvector;
        snprintf(type->name, sizeof type->name, "%s", db_result_value(result, 0, 2));
        if (pgvector && strcmp(name, "vector") == 0) {
            type->format = EMBEDDING_VECTOR;
            type->readable = true;
        } else if (pgvector && strcmp(name, "halfvec") == 0) {
            type->format = EMBEDDING_HALFVEC;
            type->readable = true;
        }
    }
    db_result_free(result);
    return ERR_OK;
}

/*
 * The embedding column's type from a described, unexecuted query: the
 * built-in types by their OIDs, any other by its name and owner.
 */
static int describe_embedding(Db *db, const Plan *plan, EmbeddingType *type, Error *err)
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
    uint32_t oid = types[plan->column_count - 1];
    memset(type, 0, sizeof *type);
    type->readable = true;
    if (oid == OID_BYTEA) {
        type->format = plan->embedding_float16 ? EMBEDDING_BYTEA_FLOAT16 : EMBEDDING_BYTEA;
        snprintf(type->name, sizeof type->name, "bytea (little-endian %s)",
                 plan->embedding_float16 ? "float16" : "float32");
    } else if (oid == OID_FLOAT4_ARRAY || oid == OID_FLOAT8_ARRAY) {
        type->format = EMBEDDING_ARRAY;
        snprintf(type->name, sizeof type->name, "%s",
                 oid == OID_FLOAT4_ARRAY ? "real[]" : "double precision[]");
    } else {
        type->readable = false;
        code = extension_type(db, oid, type, err);
    }
    if (code == ERR_OK && !type->readable)
        code = embedding_type_error(plan, type, err);
    return code;
}

int stream_describe_embedding(Db *db, const Plan *plan, EmbeddingFormat *format, Error *err)
{
    EmbeddingType type;
    int code = describe_embedding(db, plan, &type, err);
    if (code == ERR_OK)
        *format = type.format;
    return code;
}

int stream_embedding_type_name(Db *db, const Plan *plan, char *name, size_t size, Error *err)
{
    EmbeddingType type;
    size_t dim = 0;
    int code = describe_embedding(db, plan, &type, err);
    /* A bytea's first value tells whether it holds vector_send's output. */
    if (code == ERR_OK && (type.format == EMBEDDING_BYTEA || type.format == EMBEDDING_BYTEA_FLOAT16))
        code = stream_probe_dim(db, plan, type.format, &dim, err);
    if (code == ERR_OK)
        snprintf(name, size, "%s", type.name);
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
    CopyParser *parser = NULL;
    int code = ERR_OK;

    if (plan->has_embedding) {
        code = stream_describe_embedding(db, plan, &effective.embedding_format, err);
        if (code != ERR_OK)
            return code;
    }
    if ((code = stream_set_copy_parameters(db, plan, err)) != ERR_OK)
        return code;
    const char *copy_sql = plan->copy_sql;
    if (effective.count_filtered && plan->copy_counting_sql != NULL)
        copy_sql = plan->copy_counting_sql;
    else
        effective.count_filtered = false; /* no filters: nothing to count */
    code = copy_parser_new(plan, &effective, images, &parser, err);
    if (code != ERR_OK)
        return code;
    /* A plain read hashes its ids once after the stream, not row by row in it. */
    if (effective.on_row == NULL && !effective.lookup_only)
        images_defer_ids(images);
    code = db_copy_out(db, "select images", copy_sql, 0, NULL, feed_chunk, parser, err);
    log_progress_done();
    if (code == ERR_OK)
        code = copy_parser_finish(parser, err);
    int indexed = copy_parser_index_ids(parser, err);
    if (code == ERR_OK)
        code = indexed;
    *stats = *copy_parser_stats(parser);
    copy_parser_free(parser);
    return code;
}

/*
 * The expressions that give the first embedding's length (elements, or
 * bytes for a bytea) and, for a bytea, its first 4 bytes in hex.
 * pgvector's types have casts to real[] wherever the extension's schema is.
 */
static const char *probe_length_sql(EmbeddingFormat format)
{
    switch (format) {
    case EMBEDDING_BYTEA:
    case EMBEDDING_BYTEA_FLOAT16:
        return "octet_length(%1$s), encode(substring(%1$s FROM 1 FOR 4), 'hex')";
    case EMBEDDING_VECTOR:
    case EMBEDDING_HALFVEC:
        return "cardinality((%1$s)::real[]), ''";
    case EMBEDDING_ARRAY:
        break;
    }
    return "cardinality(%1$s), ''";
}

/* The first 4 bytes of a bytea from their hex text; false when shorter. */
static bool hex_prefix(const char *hex, unsigned char *bytes)
{
    if (strlen(hex) != 8)
        return false;
    for (int i = 0; i < 4; i++) {
        unsigned value;
        if (sscanf(hex + 2 * i, "%2x", &value) != 1)
            return false;
        bytes[i] = (unsigned char)value;
    }
    return true;
}

int stream_probe_dim(Db *db, const Plan *plan, EmbeddingFormat format, size_t *dim, Error *err)
{
    char *select = NULL, *sql = NULL;
    DbResult *result = NULL;
    bool bytea = format == EMBEDDING_BYTEA || format == EMBEDDING_BYTEA_FLOAT16;
    size_t value_size = format == EMBEDDING_BYTEA_FLOAT16 ? 2 : 4;
    if (asprintf(&select, probe_length_sql(format), plan->embedding_sql) < 0)
        return error_nomem(err, 0);
    int code = asprintf(&sql, "SELECT %s%s %s %s IS NOT NULL LIMIT 1", select,
                        plan->from_where_sql, plan->has_where ? "AND" : "WHERE",
                        plan->embedding_sql);
    free(select);
    if (code < 0)
        return error_nomem(err, 0);
    code = db_query(db, "probe embedding dimension", sql, plan->param_count,
                    (const char *const *)plan->params, &result, err);
    free(sql);
    if (code != ERR_OK)
        return code;
    *dim = 0;
    if (db_result_rows(result) == 1 && !db_result_is_null(result, 0, 0)) {
        long long value = strtoll(db_result_value(result, 0, 0), NULL, 10);
        unsigned char prefix[4];
        size_t send_dim;
        if (bytea && hex_prefix(db_result_value(result, 0, 1), prefix)
            && copy_bytea_is_pgvector_send(prefix, (size_t)value, &send_dim))
            code = copy_pgvector_send_error(send_dim, err);
        else if (value > 0 && (!bytea || value % (long long)value_size == 0))
            *dim = (size_t)(bytea ? (size_t)value / value_size : (size_t)value);
    }
    db_result_free(result);
    return code;
}
