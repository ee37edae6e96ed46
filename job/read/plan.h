/*
 * plan: turns a validated JobConfig into the one parameterized SELECT that
 * reads the job's images, plus the COPY that streams it. Filter values
 * become $n parameters (never SQL text); identifiers from the config are
 * quoted through a QuoteIdentFn (PQescapeIdentifier at run time), with
 * schema-qualified names split first.
 *
 * The SELECT returns, in this order: id::text (the id as it is when
 * plan_use_uuid_ids says it is a uuid), then score::float8,
 * variance::float8, category::text and the embedding expression as it is
 * (real[], double precision[], bytea, or pgvector's vector or halfvec: the
 * stream describes it), each only when the config names it (the `has_*`
 * flags say which). Rows with NULL
 * scores are kept so the stream can count them.
 *
 * It does not connect or execute anything. plan_build fills a caller-owned
 * Plan; plan_release frees what it holds.
 */
#ifndef PAIRPICK_PLAN_H
#define PAIRPICK_PLAN_H

#include <stdbool.h>

#include "config/config.h"
#include "core/error.h"
#include "db/ident.h"

#define PLAN_MAX_PARAMS 16

/*
 * COPY takes no bind parameters: its query reads parameter n from the
 * transaction-local setting PLAN_SETTING_PREFIX "n", which the stream sets
 * (with set_config and $n) right before the COPY.
 */
#define PLAN_SETTING_PREFIX "pairpick.param_"

typedef struct Plan {
    char *select_sql;    /* SELECT ... FROM ... WHERE ... */
    char *copy_sql;      /* COPY (the SELECT, parameters read from settings) TO STDOUT (FORMAT binary) */
    char *count_sql;     /* SELECT count(*) of the source before filters */
    /*
     * With filters (else NULL): the COPY of every row of the source, its
     * SELECT list followed by one more column, true where the filters drop
     * the row and NULL where they keep it, so the stream counts the rows
     * filtered out in the scan that reads the others (no count_sql).
     */
    char *copy_counting_sql;
    char *source_sql;    /* the FROM item: quoted table or (query) */
    char *output_table;  /* quoted, schema-qualified as configured */
    char *copy_select_sql; /* the SELECT with parameters read from settings */
    char *from_where_sql;  /* " FROM ... AS source WHERE ..." with $n */
    char *filter_sql;      /* the filters as one condition with $n, or NULL (no filters) */
    char *id_sql;          /* source."id" */
    char *embedding_sql;   /* (the embedding expression), or NULL */
    bool has_where;
    int param_count;
    char *params[PLAN_MAX_PARAMS];            /* text values, $1.. */
    const char *param_names[PLAN_MAX_PARAMS]; /* config key each came from */
    int column_count;
    bool has_score, has_variance, has_category, has_embedding;
    bool id_uuid;          /* the id column streams as a binary uuid (16 bytes) */
    bool embedding_float16; /* a bytea embedding holds float16s (source.embedding_format) */
} Plan;

/*
 * Builds the plan. `as_of` is the "now" for relative date filters
 * (filters.date.last): a timestamp text, or NULL for the server's now().
 */
int plan_build(const JobConfig *config, QuoteIdentFn quote, void *quote_context,
               const char *as_of, Plan *plan, Error *err);

void plan_release(Plan *plan);

/*
 * The id column is of type uuid (the run learns that by describing it):
 * the SELECT and COPY statements select it as it is, not cast to text, so a
 * binary COPY sends 16 bytes per id and Images keeps them so. Filters,
 * partitions and the output are unchanged (they compare or write text).
 */
int plan_use_uuid_ids(Plan *plan, Error *err);

/* A query selecting only the id column of the filtered rows ($n parameters), for describing it. */
char *plan_id_query(const Plan *plan);

/*
 * Parallel streaming: the COPY of one partition of the rows (by a hash of
 * the id, so a duplicated id always lands in one partition), and one scan
 * of the source that returns, for each partition (0 .. parts - 1; parts 1:
 * every row in partition 0), the rows the filters keep and the rows there
 * are: (partition, kept, all), taking the plan's $n parameters. A
 * partition without rows has no result row. malloc'd; NULL when memory
 * runs out.
 */
char *plan_partition_copy(const Plan *plan, int parts, int part);
char *plan_partition_count(const Plan *plan, int parts);

/*
 * One partition's COPY that also sends the rows the filters drop, marked
 * (copy_counting_sql, StreamOptions.count_filtered) and without their
 * embedding; plan_partition_copy's when the plan has no filters.
 */
char *plan_partition_counting_copy(const Plan *plan, int parts, int part);

#endif
