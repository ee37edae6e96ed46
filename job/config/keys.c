/*
 * keys: the key table and the walk that enforces it (see keys.h).
 */
#include "config/keys.h"
#include "config/fields.h"
#include "config/message.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
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
    {"random", INFORM_RANDOM}, {"uncertain", INFORM_UNCERTAIN}, {NULL, 0}};
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

/* The parent of a key comes before it; the order is the order of the docs. */
const KeySpec keys_table[] = {
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
    INTEGER("filters.date.last", KEY_DURATION, filters.date_last_ms, NULL, 1, INT64_MAX),

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
            INT64_MAX),
    INTEGER("strategy.kmeans.pca", KEY_INT, strategy.kmeans.pca, NULL, 1, 65536),
    INTEGER("strategy.max_pairs", KEY_INT64, strategy.max_pairs, "1000", 1, INT64_MAX),
    {.path = "strategy.seed",
     .type = KEY_OPTIONAL_UINT64,
     .offset = FIELD(strategy.seed),
     .set_offset = FIELD(strategy.seed_set)},
    ENUM("strategy.prefer", strategy.prefer, "random", prefer_choices),
    NUMBER("strategy.score_sigma", KEY_DOUBLE, strategy.score_sigma, "0.1", 1e-12, DBL_MAX),
    NUMBER("strategy.beta", KEY_DOUBLE, strategy.beta, "0.1", 1e-12, DBL_MAX),
    INTEGER("strategy.window", KEY_INT, strategy.window, "8", 1, 1000),
    NUMBER("strategy.explore_fraction", KEY_DOUBLE, strategy.explore_fraction, "0", 0.0, 1.0),
    INTEGER("strategy.max_exposure", KEY_INT, strategy.max_exposure, NULL, 1, 1000000),
    NUMBER("strategy.max_similarity", KEY_OPTIONAL_DOUBLE, strategy.max_similarity, NULL, -1.0,
           1.0),

    SECTION("output"),
    STRING("output.table", output.table, "pending_annotation_pairs", 0),
    INTEGER("output.max_pending", KEY_INT64, output.max_pending, NULL, 1, INT64_MAX),

    SECTION("resources"),
    INTEGER("resources.memory_limit", KEY_BYTES, resources.memory_limit_bytes, NULL, 0, INT64_MAX),
    INTEGER("resources.workers", KEY_INT, resources.workers, NULL, 0, 256),
};

_Static_assert(sizeof keys_table / sizeof keys_table[0] == KEY_COUNT,
               "KEY_COUNT is the number of rows in keys_table");

/* ---- looking keys up --------------------------------------------------- */

size_t keys_index(const char *path)
{
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (strcmp(keys_table[i].path, path) == 0)
            return i;
    return KEY_NOT_FOUND;
}

const char *keys_child_name(const char *path, const char *prefix)
{
    size_t length = strlen(prefix);
    if (length > 0) {
        if (strncmp(path, prefix, length) != 0 || path[length] != '.')
            return NULL;
        path += length + 1;
    }
    return strchr(path, '.') == NULL ? path : NULL;
}

/* The row of the child of prefix named key (not NUL-terminated). */
static size_t find_child(const char *prefix, const char *key, size_t key_length)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const char *name = keys_child_name(keys_table[i].path, prefix);
        if (name != NULL && strlen(name) == key_length && memcmp(name, key, key_length) == 0)
            return i;
    }
    return KEY_NOT_FOUND;
}

void *keys_field(JobConfig *config, const KeySpec *spec)
{
    return (char *)config + spec->offset;
}

bool keys_present(const KeyWalk *walk, const char *path)
{
    size_t index = keys_index(path);
    return index != KEY_NOT_FOUND && walk->present[index];
}

Mark keys_key_mark(const KeyWalk *walk, const char *path)
{
    return walk->key_mark[keys_index(path)];
}

Mark keys_value_mark(const KeyWalk *walk, const char *path)
{
    return walk->value_mark[keys_index(path)];
}

Mark keys_nearest_mark(const KeyWalk *walk, const char *path)
{
    char parent[128];
    snprintf(parent, sizeof parent, "%s", path);
    for (char *dot = strrchr(parent, '.'); dot != NULL; dot = strrchr(parent, '.')) {
        *dot = '\0';
        size_t index = keys_index(parent);
        if (index != KEY_NOT_FOUND && walk->present[index])
            return walk->value_mark[index];
    }
    return walk->root;
}

/* ---- unknown keys ------------------------------------------------------ */

/* Optimal string alignment distance (edits and swaps), case-insensitive. */
static size_t edit_distance(const char *a, size_t a_length, const char *b)
{
    enum { LONGEST = 64 };
    size_t b_length = strlen(b);
    if (a_length > LONGEST || b_length > LONGEST)
        return SIZE_MAX;
    size_t d[LONGEST + 1][LONGEST + 1];
    for (size_t i = 0; i <= a_length; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= b_length; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= a_length; i++) {
        for (size_t j = 1; j <= b_length; j++) {
            char x = a[i - 1], y = b[j - 1];
            x = (char)(x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x);
            y = (char)(y >= 'A' && y <= 'Z' ? y - 'A' + 'a' : y);
            size_t best = d[i - 1][j - 1] + (x != y);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]
                && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[a_length][b_length];
}

/* The key allowed beside this one that it is a typo of, if any. */
static const char *nearest_sibling(const char *prefix, const Node *key)
{
    const char *suggestion = NULL;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const char *name = keys_child_name(keys_table[i].path, prefix);
        if (name == NULL)
            continue;
        size_t distance = edit_distance(key->value, key->length, name);
        size_t allowed = strlen(name) <= 4 ? 1 : strlen(name) <= 8 ? 2 : 3;
        if (distance <= allowed && distance < best) {
            best = distance;
            suggestion = name;
        }
    }
    return suggestion;
}

/* The full path of the one key elsewhere with this name (a key at the wrong level). */
static const char *same_name_elsewhere(const Node *key)
{
    const char *suggestion = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const char *last = strrchr(keys_table[i].path, '.');
        last = last != NULL ? last + 1 : keys_table[i].path;
        if (edit_distance(key->value, key->length, last) == 0) {
            matches++;
            suggestion = keys_table[i].path;
        }
    }
    return matches == 1 ? suggestion : NULL;
}

/* "the keys allowed in PREFIX are a, b, c" into hint. */
static void list_allowed(const char *prefix, char *hint, size_t size)
{
    size_t used = (size_t)snprintf(hint, size, "the keys allowed %s%s are ",
                                   prefix[0] != '\0' ? "in " : "at the top level", prefix);
    bool first = true;
    for (size_t i = 0; i < KEY_COUNT && used < size; i++) {
        const char *name = keys_child_name(keys_table[i].path, prefix);
        if (name == NULL)
            continue;
        used += (size_t)snprintf(hint + used, size - used, "%s%s", first ? "" : ", ", name);
        first = false;
    }
}

/*
 * An unknown key, with the closest sibling when one is near (a typo), else
 * the full path of the one key elsewhere with that name (a key at the wrong
 * level), else the list of keys allowed here.
 */
static int fail_unknown_key(const KeyWalk *walk, const char *prefix, const Node *key)
{
    char shown[QUOTE_BUFFER];
    char path[QUOTE_BUFFER + 128];
    message_quote(shown, key->value, key->length);
    snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] != '\0' ? "." : "", shown);

    const char *suggestion = nearest_sibling(prefix, key);
    if (suggestion == NULL)
        suggestion = same_name_elsewhere(key);
    if (suggestion != NULL)
        return message_fail(walk->doc, key->mark, NULL, NULL,
                            "unknown key \"%s\" (did you mean \"%s\"?)", path, suggestion);
    char hint[512];
    list_allowed(prefix, hint, sizeof hint);
    return message_fail(walk->doc, key->mark, NULL, hint, "unknown key \"%s\"", path);
}

/* ---- the walk ---------------------------------------------------------- */

static int walk_mapping(KeyWalk *walk, const char *prefix, const Node *mapping);

static int walk_section(KeyWalk *walk, const KeySpec *spec, const Node *value)
{
    if (value->kind == NODE_MAPPING)
        return walk_mapping(walk, spec->path, value);
    if (tree_is_null(value))
        return ERR_OK; /* "filters:" with every key under it commented out */
    return fields_fail_expected(walk->doc, spec, value, NULL);
}

/* One key and its value in the mapping at prefix: known, not seen before, then stored. */
static int walk_entry(KeyWalk *walk, const char *prefix, const Node *key, const Node *value)
{
    if (key->kind != NODE_SCALAR) {
        char got[QUOTE_BUFFER + 2];
        return message_fail(walk->doc, key->mark, prefix[0] != '\0' ? prefix : NULL, NULL,
                            "expected a key name, got %s", message_describe(key, got));
    }
    size_t index = find_child(prefix, key->value, key->length);
    if (index == KEY_NOT_FOUND)
        return fail_unknown_key(walk, prefix, key);
    const KeySpec *spec = &keys_table[index];
    if (walk->present[index])
        return message_fail(walk->doc, key->mark, spec->path, "keep one of them",
                            "duplicate key, first defined at %zu:%zu", walk->key_mark[index].line,
                            walk->key_mark[index].column);
    walk->present[index] = true;
    walk->key_mark[index] = key->mark;
    walk->value_mark[index] = value->mark;
    return spec->type == KEY_SECTION ? walk_section(walk, spec, value)
                                     : fields_store(walk->doc, walk->config, spec, value);
}

static int walk_mapping(KeyWalk *walk, const char *prefix, const Node *mapping)
{
    for (size_t i = 0; i + 1 < mapping->count; i += 2) {
        int code = walk_entry(walk, prefix, mapping->children[i], mapping->children[i + 1]);
        if (code != ERR_OK)
            return code;
    }
    return ERR_OK;
}

int keys_walk(KeyWalk *walk, const Node *root)
{
    walk->root = root->mark;
    return walk_mapping(walk, "", root);
}

int keys_apply_defaults(KeyWalk *walk)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const KeySpec *spec = &keys_table[i];
        if (spec->fallback == NULL)
            continue;
        Node node = {.kind = NODE_SCALAR,
                     .value = (char *)spec->fallback,
                     .length = strlen(spec->fallback),
                     .plain = true};
        if (fields_store(walk->doc, walk->config, spec, &node) != ERR_OK) {
            char reason[ERROR_MESSAGE_MAX] = "";
            if (walk->doc->err != NULL)
                snprintf(reason, sizeof reason, "%s", walk->doc->err->message);
            return error_set(walk->doc->err, ERR_INTERNAL, "bug: the default of %s is invalid: %s",
                             spec->path, reason);
        }
    }
    return ERR_OK;
}

int keys_check_required(const KeyWalk *walk)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const KeySpec *spec = &keys_table[i];
        if ((spec->flags & KEY_REQUIRED) && !walk->present[i])
            return message_fail(walk->doc, keys_nearest_mark(walk, spec->path), spec->path,
                                spec->hint, "required key is missing");
    }
    return ERR_OK;
}

void keys_free_strings(JobConfig *config)
{
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (keys_table[i].type == KEY_STRING || keys_table[i].type == KEY_NAME)
            free(*(char **)keys_field(config, &keys_table[i]));
}
