#include "read/stream.h"

#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs of the id and embedding columns we tell apart. */
#define OID_BYTEA 17
#define OID_FLOAT4_ARRAY 1021
#define OID_FLOAT8_ARRAY 1022
#define OID_UUID 2950
/* The SELECT has at most id, score, variance, category and embedding. */
#define DESCRIBE_COLUMNS_MAX 8

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
static int embedding_type_error(const Plan *plan, uint32_t type, Error *err)
{
    /* embedding_sql is "(expression as written)" */
    const char *column = "your_column";
    int column_length = (int)strlen(column);
    if (plan->embedding_sql != NULL && strlen(plan->embedding_sql) >= 2) {
        column = plan->embedding_sql + 1;
        column_length = (int)strlen(plan->embedding_sql) - 2;
    }
    return error_set(err, ERR_CONFIG,
                     "source.embedding has a type (oid %u) pairpick cannot read; expected "
                     "real[], double precision[] or bytea\nHINT: for a pgvector column write "
                     "\"embedding: %.*s::real[]\"",
                     (unsigned)type, column_length, column);
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
    if (type == OID_BYTEA)
        *format = EMBEDDING_BYTEA;
    else if (type == OID_FLOAT4_ARRAY || type == OID_FLOAT8_ARRAY)
        *format = EMBEDDING_ARRAY;
    else
        code = embedding_type_error(plan, type, err);
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
    code = copy_parser_new(plan, &effective, images, &parser, err);
    if (code != ERR_OK)
        return code;
    /* A plain read hashes its ids once after the stream, not row by row in it. */
    if (effective.on_row == NULL && !effective.lookup_only)
        images_defer_ids(images);
    code = db_copy_out(db, "select images", plan->copy_sql, 0, NULL, feed_chunk, parser, err);
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
