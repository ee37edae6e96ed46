/*
 * schema: the key table (see schema.h).
 */
#include "config/schema.h"

#include "core/rng.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

/* ---- the table --------------------------------------------------------- */

/* Enum fields are written through an int: make sure they are one. */
_Static_assert(sizeof(StrategyBy) == sizeof(int), "enum size");
_Static_assert(sizeof(Binning) == sizeof(int), "enum size");
_Static_assert(sizeof(BadRowPolicy) == sizeof(int), "enum size");
_Static_assert(sizeof(EmbeddingBytes) == sizeof(int), "enum size");
_Static_assert(sizeof(KmeansAlgorithm) == sizeof(int), "enum size");
_Static_assert(sizeof(KmeansMetric) == sizeof(int), "enum size");
_Static_assert(sizeof(InformPrefer) == sizeof(int), "enum size");

static const Choice bad_row_choices[] = {
    {"error", BAD_ROW_ERROR}, {"skip", BAD_ROW_SKIP}, {NULL, 0}};
static const Choice embedding_bytes_choices[] = {
    {"float32", EMBEDDING_BYTES_FLOAT32}, {"float16", EMBEDDING_BYTES_FLOAT16}, {NULL, 0}};
static const Choice binning_choices[] = {
    {"quantile", BINNING_QUANTILE}, {"fixed", BINNING_FIXED}, {NULL, 0}};
static const Choice algorithm_choices[] = {
    {"minibatch", KMEANS_MINIBATCH}, {"lloyd", KMEANS_LLOYD}, {NULL, 0}};
static const Choice metric_choices[] = {
    {"cosine", KMEANS_COSINE}, {"euclidean", KMEANS_EUCLIDEAN}, {NULL, 0}};
static const Choice prefer_choices[] = {
    {"random", INFORM_RANDOM}, {"uncertain", INFORM_UNCERTAIN},
    {"informative", INFORM_INFORMATIVE}, {NULL, 0}};
static const Choice strategy_choices[] = {{"score", STRATEGY_SCORE},
                                          {"category", STRATEGY_CATEGORY},
                                          {"embedding", STRATEGY_EMBEDDING},
                                          {NULL, 0}};

#define FIELD(member) offsetof(JobConfig, member)
#define SECTION(p) {.path = (p), .type = KEY_SECTION}
#define STRING(p, member, def, fl)                                                      \
    {.path = (p), .type = KEY_STRING, .offset = FIELD(member), .fallback = (def),       \
     .flags = (fl)}
#define INTEGER(p, kind, member, def, lo, hi)                                           \
    {.path = (p), .type = (kind), .offset = FIELD(member), .fallback = (def),           \
     .min = (lo), .max = (hi)}
#define NUMBER(p, kind, member, def, lo, hi)                                            \
    {.path = (p), .type = (kind), .offset = FIELD(member), .fallback = (def),           \
     .low = (lo), .high = (hi)}
#define ENUM(p, member, def, list)                                                      \
    {.path = (p), .type = KEY_ENUM, .offset = FIELD(member), .fallback = (def),         \
     .choices = (list)}

/*
 * PostgreSQL keeps statement_timeout and lock_timeout as int milliseconds;
 * a longer value would only fail later, at the server.
 */
#define PG_TIMEOUT_MAX_MS INT32_MAX

/*
 * A span the server subtracts from a timestamp (filters.date.last,
 * strategy.kmeans.refit_after): 1000 years of 365.25 days. PostgreSQL's
 * interval and timestamptz hold far more, but not INT64_MAX milliseconds
 * ("interval out of range" on every run).
 */
#define PG_SPAN_MAX_MS INT64_C(31557600000000)

/* The parent of a key comes before it; the order is the order of the docs. */
const KeySpec schema_table[] = {
    {.path = "job",
     .type = KEY_NAME,
     .offset = FIELD(job),
     .flags = KEY_REQUIRED,
     .hint = "add job: NAME at the top level; it names the run records and the lock"},

    SECTION("database"),
    STRING("database.conninfo", database.conninfo, NULL, KEY_EMPTY_IS_UNSET),
    INTEGER("database.statement_timeout", KEY_DURATION, database.statement_timeout_ms, NULL, 1,
            PG_TIMEOUT_MAX_MS),
    INTEGER("database.lock_timeout", KEY_DURATION, database.lock_timeout_ms, NULL, 1,
            PG_TIMEOUT_MAX_MS),
    INTEGER("database.connect_retries", KEY_INT, database.connect_retries, "3", 0, 100),
    INTEGER("database.connect_timeout", KEY_DURATION, database.connect_timeout_ms, "10s", 1,
            PG_TIMEOUT_MAX_MS),

    SECTION("source"),
    STRING("source.table", source.table, NULL, 0),
    STRING("source.query", source.query, NULL, 0),
    {.path = "source.id",
     .type = KEY_STRING,
     .offset = FIELD(source.id),
     .flags = KEY_REQUIRED,
     .hint = "add id: COLUMN under source: the column that identifies an image"},
    STRING("source.score", source.score, NULL, 0),
    STRING("source.variance", source.variance, NULL, 0),
    STRING("source.date", source.date, NULL, 0),
    STRING("source.embedding", source.embedding, NULL, 0),
    STRING("source.category", source.category, NULL, 0),
    STRING("source.image_path", source.image_path, NULL, 0),
    STRING("source.image_root", source.image_root, NULL, 0),
    INTEGER("source.embedding_dim", KEY_INT, source.embedding_dim, NULL, 1, 65536),
    ENUM("source.embedding_format", source.embedding_format, "float32", embedding_bytes_choices),
    ENUM("source.on_bad_row", source.on_bad_row, "skip", bad_row_choices),

    SECTION("filters"),
    SECTION("filters.score"),
    NUMBER("filters.score.min", KEY_OPTIONAL_DOUBLE, filters.score_min, NULL, -DBL_MAX, DBL_MAX),
    NUMBER("filters.score.max", KEY_OPTIONAL_DOUBLE, filters.score_max, NULL, -DBL_MAX, DBL_MAX),
    SECTION("filters.variance"),
    NUMBER("filters.variance.min", KEY_OPTIONAL_DOUBLE, filters.variance_min, NULL, -DBL_MAX,
           DBL_MAX),
    NUMBER("filters.variance.max", KEY_OPTIONAL_DOUBLE, filters.variance_max, NULL, -DBL_MAX,
           DBL_MAX),
    SECTION("filters.date"),
    {.path = "filters.date.from", .type = KEY_DATE, .offset = FIELD(filters.date_from)},
    {.path = "filters.date.to", .type = KEY_DATE, .offset = FIELD(filters.date_to)},
    INTEGER("filters.date.last", KEY_DURATION, filters.date_last_ms, NULL, 1, PG_SPAN_MAX_MS),

    SECTION("strategy"),
    {.path = "strategy.by",
     .type = KEY_STRATEGY_LIST,
     .offset = FIELD(strategy.by),
     .choices = strategy_choices,
     .flags = KEY_REQUIRED,
     .hint = "add by: score, category, embedding or [embedding, score] under strategy"},
    INTEGER("strategy.bins", KEY_INT, strategy.bins, "10", 1, 100000),
    ENUM("strategy.binning", strategy.binning, "quantile", binning_choices),
    INTEGER("strategy.clusters", KEY_INT, strategy.clusters, "50", 1, 100000),
    STRING("strategy.clusters_from", strategy.clusters_from, NULL, 0),
    SECTION("strategy.kmeans"),
    ENUM("strategy.kmeans.algorithm", strategy.kmeans.algorithm, "minibatch", algorithm_choices),
    INTEGER("strategy.kmeans.max_iter", KEY_INT, strategy.kmeans.max_iter, "100", 1, 100000),
    INTEGER("strategy.kmeans.n_init", KEY_INT, strategy.kmeans.n_init, "3", 1, 1000),
    INTEGER("strategy.kmeans.batch_size", KEY_INT, strategy.kmeans.batch_size, "1024", 1, 10000000),
    ENUM("strategy.kmeans.metric", strategy.kmeans.metric, "cosine", metric_choices),
    NUMBER("strategy.kmeans.tolerance", KEY_DOUBLE, strategy.kmeans.tolerance, "1e-4", 0.0,
           DBL_MAX),
    INTEGER("strategy.kmeans.fit_sample", KEY_INT64, strategy.kmeans.fit_sample, NULL, 1,
            INT64_MAX),
    INTEGER("strategy.kmeans.refit_after", KEY_DURATION, strategy.kmeans.refit_after_ms, NULL, 1,
            PG_SPAN_MAX_MS),
    INTEGER("strategy.kmeans.pca", KEY_INT, strategy.kmeans.pca, NULL, 1, 65536),
    INTEGER("strategy.max_pairs", KEY_INT64, strategy.max_pairs, "1000", 1, INT64_MAX),
    /* Seeds stay below 2^53 so that JSON readers holding numbers as doubles
     * (JavaScript, jq) read back the seed that was used. */
    {.path = "strategy.seed",
     .type = KEY_OPTIONAL_UINT64,
     .offset = FIELD(strategy.seed),
     .set_offset = FIELD(strategy.seed_set),
     .max = RNG_SEED_MAX},
    ENUM("strategy.prefer", strategy.prefer, "random", prefer_choices),
    NUMBER("strategy.score_sigma", KEY_DOUBLE, strategy.score_sigma, "0.1", 1e-12, DBL_MAX),
    NUMBER("strategy.beta", KEY_DOUBLE, strategy.beta, "0.1", 1e-12, DBL_MAX),
    INTEGER("strategy.window", KEY_INT, strategy.window, "8", 1, 1000),
    NUMBER("strategy.explore_fraction", KEY_DOUBLE, strategy.explore_fraction, "0", 0.0, 1.0),
    INTEGER("strategy.max_exposure", KEY_INT, strategy.max_exposure, NULL, 1, 1000000),
    INTEGER("strategy.max_comparisons", KEY_INT, strategy.max_comparisons, NULL, 1, 1000000),
    NUMBER("strategy.max_similarity", KEY_OPTIONAL_DOUBLE, strategy.max_similarity, NULL, -1.0,
           1.0),

    SECTION("output"),
    STRING("output.table", output.table, "pending_annotation_pairs", 0),
    INTEGER("output.max_pending", KEY_INT64, output.max_pending, NULL, 1, INT64_MAX),

    SECTION("resources"),
    INTEGER("resources.memory_limit", KEY_BYTES, resources.memory_limit_bytes, NULL, 0, INT64_MAX),
    INTEGER("resources.workers", KEY_INT, resources.workers, NULL, 0, 256),
};

_Static_assert(sizeof schema_table / sizeof schema_table[0] == KEY_COUNT,
               "KEY_COUNT is the number of rows in schema_table");

/* ---- looking keys up --------------------------------------------------- */

size_t schema_index(const char *path)
{
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (strcmp(schema_table[i].path, path) == 0)
            return i;
    return KEY_NOT_FOUND;
}

const char *schema_child_name(const char *path, const char *prefix)
{
    size_t length = strlen(prefix);
    if (length > 0) {
        if (strncmp(path, prefix, length) != 0 || path[length] != '.')
            return NULL;
        path += length + 1;
    }
    return strchr(path, '.') == NULL ? path : NULL;
}

void *schema_field(JobConfig *config, const KeySpec *spec)
{
    return (char *)config + spec->offset;
}
