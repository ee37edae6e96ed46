#include "read/plan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing string; on allocation failure it remembers and stays NULL. */
typedef struct {
    char *text;
    size_t length, capacity;
    bool failed;
} Text;

static void text_append(Text *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_append(Text *text, const char *fmt, ...)
{
    if (text->failed)
        return;
    for (;;) {
        va_list args;
        size_t room = text->capacity - text->length;
        va_start(args, fmt);
        int written = vsnprintf(text->text != NULL ? text->text + text->length : NULL, room, fmt,
                                args);
        va_end(args);
        if (written < 0) {
            text->failed = true;
            return;
        }
        if ((size_t)written < room) {
            text->length += (size_t)written;
            return;
        }
        size_t capacity = (text->capacity + (size_t)written + 1) * 2;
        char *grown = realloc(text->text, capacity);
        if (grown == NULL) {
            text->failed = true;
            return;
        }
        text->text = grown;
        text->capacity = capacity;
    }
}

/* Adds a parameter and returns its number ($n), or 0 when full. */
static int add_param(Plan *plan, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int add_param(Plan *plan, const char *name, const char *fmt, ...)
{
    if (plan->param_count >= PLAN_MAX_PARAMS)
        return 0;
    va_list args;
    va_start(args, fmt);
    char *value = NULL;
    int written = vasprintf(&value, fmt, args);
    va_end(args);
    if (written < 0)
        return 0;
    plan->params[plan->param_count] = value;
    plan->param_names[plan->param_count] = name;
    return ++plan->param_count;
}

/* The shortest text that reads back as the same double (0.07, not 0.070000000000000007). */
static const char *double_text(char *buffer, size_t size, double value)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buffer, size, "%.*g", digits, value);
        if (strtod(buffer, NULL) == value)
            break;
    }
    return buffer;
}

/*
 * The reference to parameter n: "$n", or in the COPY form a scalar subquery
 * on the setting stream_read fills (evaluated once, not per row).
 */
static const char *param_ref(char *buffer, size_t size, int n, bool settings)
{
    if (settings)
        snprintf(buffer, size, "(SELECT current_setting('" PLAN_SETTING_PREFIX "%d'))", n);
    else
        snprintf(buffer, size, "$%d", n);
    return buffer;
}

/* Appends the WHERE clause; adds the parameters on the first call only. */
static void add_filters(const JobConfig *config, Plan *plan, const char *score,
                        const char *variance, const char *date, const char *as_of, bool settings,
                        Text *where)
{
    const char *and = " WHERE ";
    char ref[96], ref2[96], number[32];
    int next = 0; /* parameters are numbered in the same order both times */
#define PARAM(name, ...) (settings ? ++next : (++next, add_param(plan, name, __VA_ARGS__)))
    int n;
    /* When the strategy reads scores, a NULL score passes the score filters
     * so that it reaches the stream and is counted there (as null_score).
     * Otherwise nothing would reject it later: an image without a score
     * (NULL or NaN) does not meet a score bound, and the filter drops it. */
    bool scores_read = config->strategy.by == STRATEGY_SCORE
                       || config->strategy.by == STRATEGY_EMBEDDING_SCORE;
    if (config->filters.score_min.set) {
        n = PARAM("filters.score.min", "%s", double_text(number, sizeof number, config->filters.score_min.value));
        param_ref(ref, sizeof ref, n, settings);
        if (scores_read)
            text_append(where, "%s(source.%s IS NULL OR source.%s >= %s::float8)", and, score,
                        score, ref);
        else /* NaN sorts above every number in PostgreSQL: not a score above a bound */
            text_append(where, "%s(source.%s >= %s::float8 AND source.%s <> 'NaN'::float8)", and,
                        score, ref, score);
        and = " AND ";
    }
    if (config->filters.score_max.set) {
        n = PARAM("filters.score.max", "%s", double_text(number, sizeof number, config->filters.score_max.value));
        param_ref(ref, sizeof ref, n, settings);
        if (scores_read)
            text_append(where, "%s(source.%s IS NULL OR source.%s <= %s::float8)", and, score,
                        score, ref);
        else
            text_append(where, "%ssource.%s <= %s::float8", and, score, ref);
        and = " AND ";
    }
    if (config->filters.variance_min.set) {
        n = PARAM("filters.variance.min", "%s", double_text(number, sizeof number, config->filters.variance_min.value));
        text_append(where, "%ssource.%s >= %s::float8", and, variance,
                    param_ref(ref, sizeof ref, n, settings));
        and = " AND ";
    }
    if (config->filters.variance_max.set) {
        n = PARAM("filters.variance.max", "%s", double_text(number, sizeof number, config->filters.variance_max.value));
        text_append(where, "%ssource.%s <= %s::float8", and, variance,
                    param_ref(ref, sizeof ref, n, settings));
        and = " AND ";
    }
    if (config->filters.date_from.set) {
        n = PARAM("filters.date.from", "%s", config->filters.date_from.text);
        text_append(where, "%ssource.%s >= %s::timestamptz", and, date,
                    param_ref(ref, sizeof ref, n, settings));
        and = " AND ";
    }
    if (config->filters.date_to.set) {
        n = PARAM("filters.date.to", "%s", config->filters.date_to.text);
        if (config->filters.date_to.date_only) /* the whole day */
            text_append(where, "%ssource.%s < (%s::date + 1)", and, date,
                        param_ref(ref, sizeof ref, n, settings));
        else
            text_append(where, "%ssource.%s <= %s::timestamptz", and, date,
                        param_ref(ref, sizeof ref, n, settings));
        and = " AND ";
    }
    if (config->filters.date_last_ms > 0) {
        n = PARAM("filters.date.last", "%" PRId64 " milliseconds", config->filters.date_last_ms);
        if (as_of != NULL) {
            int now = PARAM("--as-of", "%s", as_of);
            param_ref(ref2, sizeof ref2, now, settings);
            text_append(where, "%ssource.%s >= %s::timestamptz - %s::interval", and, date, ref2,
                        param_ref(ref, sizeof ref, n, settings));
            text_append(where, " AND source.%s <= %s::timestamptz", date, ref2);
        } else {
            text_append(where, "%ssource.%s >= now() - %s::interval", and, date,
                        param_ref(ref, sizeof ref, n, settings));
        }
    }
#undef PARAM
}

static char *quote_column(const char *column, QuoteIdentFn quote, void *context, Error *err)
{
    return quote(context, column, err);
}

/* The quoted source columns the config names (NULL where it names none). */
typedef struct Columns {
    char *id, *score, *variance, *date, *category;
} Columns;

static void columns_free(Columns *columns)
{
    free(columns->id);
    free(columns->score);
    free(columns->variance);
    free(columns->date);
    free(columns->category);
}

/* One column quoted into *out, or nothing for a column not configured. */
static int quote_optional(const char *column, QuoteIdentFn quote, void *quote_context,
                          char **out, Error *err)
{
    if (column == NULL)
        return ERR_OK;
    *out = quote_column(column, quote, quote_context, err);
    return *out != NULL ? ERR_OK : err->code;
}

static int quote_columns(const JobConfig *config, QuoteIdentFn quote, void *quote_context,
                         Columns *columns, Error *err)
{
    int code;
    if ((code = quote_optional(config->source.id, quote, quote_context, &columns->id, err))
            != ERR_OK
        || (code = quote_optional(config->source.score, quote, quote_context, &columns->score,
                                  err))
               != ERR_OK
        || (code = quote_optional(config->source.variance, quote, quote_context,
                                  &columns->variance, err))
               != ERR_OK
        || (code = quote_optional(config->source.date, quote, quote_context, &columns->date,
                                  err))
               != ERR_OK)
        return code;
    return quote_optional(config->source.category, quote, quote_context, &columns->category,
                          err);
}

/*
 * The FROM item and the output table. The operator's own query is trusted
 * as they wrote it (it is their config), wrapped so our filters and casts
 * apply on top.
 */
static int quote_tables(const JobConfig *config, QuoteIdentFn quote, void *quote_context,
                        Plan *plan, Error *err)
{
    if (config->source.table != NULL) {
        plan->source_sql = ident_quote_name(config->source.table, quote, quote_context, err);
        if (plan->source_sql == NULL)
            return err->code;
    } else if (asprintf(&plan->source_sql, "(%s)", config->source.query) < 0) {
        plan->source_sql = NULL;
        return error_nomem(err, strlen(config->source.query));
    }
    plan->output_table = ident_quote_name(config->output.table, quote, quote_context, err);
    return plan->output_table != NULL ? ERR_OK : err->code;
}

/* What the SELECT returns, and its "SELECT ... FROM ... AS source". */
static void select_list(const JobConfig *config, const Columns *columns, Plan *plan,
                        Text *select)
{
    bool needs_embedding = config->strategy.by == STRATEGY_EMBEDDING
                           || config->strategy.by == STRATEGY_EMBEDDING_SCORE
                           || config->strategy.max_similarity.set; /* near-duplicates */
    plan->has_score = columns->score != NULL;
    plan->has_variance = columns->variance != NULL;
    plan->has_category = columns->category != NULL && config->strategy.by == STRATEGY_CATEGORY;
    plan->has_embedding = needs_embedding && config->source.embedding != NULL;
    plan->embedding_float16 = config->source.embedding_format == EMBEDDING_BYTES_FLOAT16;

    text_append(select, "SELECT source.%s::text", columns->id);
    plan->column_count = 1;
    if (plan->has_score) {
        text_append(select, ", source.%s::float8", columns->score);
        plan->column_count++;
    }
    if (plan->has_variance) {
        text_append(select, ", source.%s::float8", columns->variance);
        plan->column_count++;
    }
    if (plan->has_category) {
        text_append(select, ", source.%s::text", columns->category);
        plan->column_count++;
    }
    if (plan->has_embedding) {
        /* Selected as it is, never cast: a pgvector column streams in its
         * own binary format (half or less the bytes of real[]). The type is
         * checked when the run describes the query. */
        text_append(select, ", (%s)", config->source.embedding);
        plan->column_count++;
    }
    text_append(select, " FROM %s AS source", plan->source_sql);
}

/* The statements of the plan from its SELECT list and WHERE clauses. */
static int plan_statements(const JobConfig *config, const Columns *columns, const Text *select,
                           const Text *where, const Text *copy_where, Plan *plan, Error *err)
{
    const char *where_sql = where->text != NULL ? where->text : "";
    const char *copy_where_sql = copy_where->text != NULL ? copy_where->text : "";
    plan->has_where = where->text != NULL;
    if (asprintf(&plan->select_sql, "%s%s", select->text, where_sql) < 0) {
        plan->select_sql = NULL;
        return error_nomem(err, strlen(select->text));
    }
    if (asprintf(&plan->copy_select_sql, "%s%s", select->text, copy_where_sql) < 0
        || asprintf(&plan->from_where_sql, " FROM %s AS source%s", plan->source_sql, where_sql)
               < 0
        || asprintf(&plan->id_sql, "source.%s", columns->id) < 0
        || (plan->has_embedding
            && asprintf(&plan->embedding_sql, "(%s)", config->source.embedding) < 0)
        || asprintf(&plan->copy_sql, "COPY (%s%s) TO STDOUT (FORMAT binary)", select->text,
                    copy_where_sql)
               < 0
        || asprintf(&plan->count_sql, "SELECT count(*) FROM %s AS source", plan->source_sql)
               < 0) {
        plan->copy_select_sql = plan->from_where_sql = plan->id_sql = NULL;
        plan->embedding_sql = plan->copy_sql = plan->count_sql = NULL;
        return error_nomem(err, strlen(plan->select_sql));
    }
    if (!plan->has_where)
        return ERR_OK;
    if ((plan->filter_sql = strdup(where_sql + strlen(" WHERE "))) == NULL)
        return error_nomem(err, strlen(where_sql));
    /* The filters as one condition, evaluated once a row: a row it does
     * not keep (false or NULL, as WHERE drops it) gets true. Such a row's
     * embedding is not sent (NULL): only its marker is counted. */
    const char *filter = copy_where_sql + strlen(" WHERE ");
    size_t list_length = strlen(select->text) - strlen(" FROM  AS source")
                         - strlen(plan->source_sql);
    size_t embedding_length = plan->has_embedding ? strlen(plan->embedding_sql) + 2 : 0;
    if (asprintf(&plan->copy_counting_sql,
                 "COPY (%.*s%s%s%s%s%s, CASE WHEN %s THEN NULL ELSE true END FROM %s AS source) "
                 "TO STDOUT (FORMAT binary)",
                 (int)(list_length - embedding_length), select->text,
                 plan->has_embedding ? ", CASE WHEN " : "", plan->has_embedding ? filter : "",
                 plan->has_embedding ? " THEN " : "",
                 plan->has_embedding ? plan->embedding_sql : "",
                 plan->has_embedding ? " END" : "", filter, plan->source_sql)
        < 0) {
        plan->copy_counting_sql = NULL;
        return error_nomem(err, strlen(plan->copy_sql));
    }
    return ERR_OK;
}

int plan_build(const JobConfig *config, QuoteIdentFn quote, void *quote_context,
               const char *as_of, Plan *plan, Error *err)
{
    Text select = {0}, where = {0}, copy_where = {0};
    Columns columns = {0};
    int code;

    memset(plan, 0, sizeof *plan);
    if ((code = quote_tables(config, quote, quote_context, plan, err)) != ERR_OK
        || (code = quote_columns(config, quote, quote_context, &columns, err)) != ERR_OK)
        goto done;
    select_list(config, &columns, plan, &select);
    /* Filters: values only as parameters. The SELECT refers to them as $n;
     * COPY takes no parameters, so its copy refers to the same values set
     * as transaction-local settings (stream_read sets them with $n). */
    add_filters(config, plan, columns.score, columns.variance, columns.date, as_of, false, &where);
    add_filters(config, plan, columns.score, columns.variance, columns.date, as_of, true,
                &copy_where);
    for (int i = 0; i < plan->param_count; i++)
        if (plan->params[i] == NULL)
            select.failed = true;
    if (select.failed || where.failed || copy_where.failed) {
        code = error_nomem(err, select.capacity + where.capacity);
        goto done;
    }
    code = plan_statements(config, &columns, &select, &where, &copy_where, plan, err);

done:
    free(select.text);
    free(where.text);
    free(copy_where.text);
    columns_free(&columns);
    if (code != ERR_OK)
        plan_release(plan);
    return code;
}

void plan_release(Plan *plan)
{
    free(plan->select_sql);
    free(plan->copy_sql);
    free(plan->count_sql);
    free(plan->filter_sql);
    free(plan->copy_counting_sql);
    free(plan->copy_select_sql);
    free(plan->from_where_sql);
    free(plan->id_sql);
    free(plan->embedding_sql);
    free(plan->source_sql);
    free(plan->output_table);
    for (int i = 0; i < plan->param_count; i++)
        free(plan->params[i]);
    memset(plan, 0, sizeof *plan);
}

/*
 * Drops the "::text" after the id column at sql + at, where plan_build put
 * it ("SELECT source.id::text, ..."); ERR_INTERNAL when it is not there.
 */
static int drop_id_cast(char *sql, size_t at, const char *id_sql, Error *err)
{
    static const char select[] = "SELECT ";
    static const char cast[] = "::text";
    size_t id_length = strlen(id_sql);
    char *p = sql + at;
    if (strncmp(p, select, strlen(select)) != 0
        || strncmp(p + strlen(select), id_sql, id_length) != 0
        || strncmp(p + strlen(select) + id_length, cast, strlen(cast)) != 0)
        return error_set(err, ERR_INTERNAL, "the plan's SELECT does not start with its id column");
    char *from = p + strlen(select) + id_length;
    memmove(from, from + strlen(cast), strlen(from + strlen(cast)) + 1);
    return ERR_OK;
}

int plan_use_uuid_ids(Plan *plan, Error *err)
{
    static const char copy[] = "COPY (";
    int code;
    if (plan->id_uuid)
        return ERR_OK;
    if ((code = drop_id_cast(plan->select_sql, 0, plan->id_sql, err)) != ERR_OK
        || (code = drop_id_cast(plan->copy_select_sql, 0, plan->id_sql, err)) != ERR_OK
        || (code = drop_id_cast(plan->copy_sql, strlen(copy), plan->id_sql, err)) != ERR_OK
        || (plan->copy_counting_sql != NULL
            && (code = drop_id_cast(plan->copy_counting_sql, strlen(copy), plan->id_sql, err))
                   != ERR_OK))
        return code;
    plan->id_uuid = true;
    return ERR_OK;
}

char *plan_id_query(const Plan *plan)
{
    char *sql = NULL;
    if (asprintf(&sql, "SELECT %s%s", plan->id_sql, plan->from_where_sql) < 0)
        return NULL;
    return sql;
}

/*
 * The partition of a row: a hash of its id, so equal ids share a partition.
 * A uuid id hashes as it is (uuid_hash); formatting 16 bytes as text for
 * hashtext costs the server about 1 us a row, on every worker's scan.
 * A NULL id hashes to NULL, which no "= part" matches: coalesce puts it in
 * partition 0, so every row lands in exactly one partition and the stream
 * rejects it (null_id) as over one connection.
 */
static const char *partition_hash(const Plan *plan)
{
    return plan->id_uuid ? "uuid_hash(%s)" : "hashtext(%s::text)";
}

static char *partition_of(const Plan *plan, int parts)
{
    char *hash = NULL, *sql = NULL;
    if (asprintf(&hash, partition_hash(plan), plan->id_sql) < 0)
        return NULL;
    if (asprintf(&sql, "(coalesce(%s, 0) & 2147483647) %% %d", hash, parts) < 0)
        sql = NULL;
    free(hash);
    return sql;
}

char *plan_partition_copy(const Plan *plan, int parts, int part)
{
    char *of = partition_of(plan, parts), *sql = NULL;
    if (of == NULL)
        return NULL;
    if (asprintf(&sql, "COPY (%s %s %s = %d) TO STDOUT (FORMAT binary)", plan->copy_select_sql,
                 plan->has_where ? "AND" : "WHERE", of, part)
        < 0)
        sql = NULL;
    free(of);
    return sql;
}

char *plan_partition_counting_copy(const Plan *plan, int parts, int part)
{
    static const char tail[] = ") TO STDOUT (FORMAT binary)";
    if (plan->copy_counting_sql == NULL)
        return plan_partition_copy(plan, parts, part);
    size_t length = strlen(plan->copy_counting_sql);
    if (length < strlen(tail) || strcmp(plan->copy_counting_sql + length - strlen(tail), tail) != 0)
        return NULL; /* not a COPY this file built */
    char *of = partition_of(plan, parts), *sql = NULL;
    if (of == NULL)
        return NULL;
    int head = (int)(length - strlen(tail));
    if (asprintf(&sql, "%.*s WHERE %s = %d%s", head, plan->copy_counting_sql, of, part, tail) < 0)
        sql = NULL;
    free(of);
    return sql;
}

char *plan_partition_count(const Plan *plan, int parts)
{
    char *of = partition_of(plan, parts), *sql = NULL;
    if (of == NULL)
        return NULL;
    /* FILTER counts what WHERE keeps (a NULL condition drops the row). */
    int length = plan->filter_sql != NULL
                     ? asprintf(&sql, "SELECT %s, count(*) FILTER (WHERE %s), count(*) "
                                      "FROM %s AS source GROUP BY 1",
                                parts > 1 ? of : "0", plan->filter_sql, plan->source_sql)
                     : asprintf(&sql, "SELECT %s, count(*), count(*) FROM %s AS source GROUP BY 1",
                                parts > 1 ? of : "0", plan->source_sql);
    if (length < 0)
        sql = NULL;
    free(of);
    return sql;
}
