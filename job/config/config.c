/*
 * config: a job's YAML file into a JobConfig (see config.h).
 *
 * libyaml's event API feeds a small tree of our own nodes (scalars keep their
 * text, their style and their position). Reading the events is where the
 * file-level refusals happen: aliases, tags, a second document, nesting
 * deeper than CONFIG_MAX_DEPTH. Then key_table, the one declaration of every
 * key (dotted path, type, default, range, flags, and where the value goes),
 * is enforced on the tree by one generic walker; it records where each key
 * was, so that the few rules relating two keys (table xor query, min <= max,
 * the columns a strategy needs) can point at the right line afterwards.
 *
 * Numbers must be plain (unquoted) scalars: in YAML "10" is a string, and a
 * quoted number is more often a templating slip than intent, so it is
 * refused with a hint rather than silently converted. Durations, byte sizes,
 * dates and enum names are text forms anyway and may be quoted or not.
 */
#include "config/config.h"
#include "core/json.h"
#include "numeric/model.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

/* A job file is a few hundred bytes; the caps bound what a mistaken or
 * hostile file (a log, a binary, a generated monster) costs before it is
 * refused. */
#define CONFIG_MAX_BYTES ((size_t)1 << 20)
#define CONFIG_MAX_DEPTH 32

/* Messages show at most this many bytes of a value or key. */
#define QUOTE_MAX 64
#define QUOTE_BUFFER (QUOTE_MAX * 4 + 8)
#define FORM_BUFFER 256

typedef struct {
    size_t line, column; /* 1-based */
} Mark;

typedef enum { NODE_SCALAR, NODE_SEQUENCE, NODE_MAPPING } NodeKind;

typedef struct Node {
    NodeKind kind;
    Mark mark;
    char *value; /* scalars: NUL-terminated; quoted escapes may also put NULs inside */
    size_t length;
    bool plain;             /* unquoted: only plain scalars can be null or numbers */
    struct Node **children; /* sequences: the items; mappings: key, value, key, value ... */
    size_t count, capacity;
} Node;

typedef enum {
    KEY_SECTION,         /* a mapping of further keys */
    KEY_STRING,          /* char *: ${VAR} expanded, non-empty */
    KEY_NAME,            /* char *: like KEY_STRING, and a valid job name */
    KEY_INT,             /* int in [min, max] */
    KEY_INT64,           /* int64_t in [min, max] */
    KEY_UINT64,          /* uint64_t */
    KEY_DOUBLE,          /* finite double in [low, high] */
    KEY_OPTIONAL_DOUBLE, /* OptionalDouble, finite value in [low, high] */
    KEY_DURATION,        /* int64_t milliseconds in [min, max] */
    KEY_BYTES,           /* int64_t bytes in [min, max] */
    KEY_ENUM,            /* an enum field: one of choices */
    KEY_DATE,            /* DateBound */
    KEY_STRATEGY_LIST    /* StrategyBy: a name, or the list [embedding, score] */
} KeyType;

enum {
    KEY_REQUIRED = 1u << 0,      /* an error when absent */
    KEY_EMPTY_IS_UNSET = 1u << 1 /* an empty value leaves the string NULL */
};

typedef struct {
    const char *name;
    int value;
} Choice;

typedef struct Parse Parse;
typedef struct KeySpec KeySpec;

struct KeySpec {
    const char *path; /* dotted: "strategy.kmeans.max_iter" */
    KeyType type;
    size_t offset;         /* of the field in JobConfig (not for sections) */
    const char *fallback;  /* the default, written as in YAML; NULL: the field stays zero */
    int64_t min, max;      /* integers, durations (ms), byte sizes */
    double low, high;      /* doubles */
    const Choice *choices; /* enums, NULL-terminated */
    unsigned flags;
    const char *hint; /* shown when a required key is missing */
    /* A setter for a key that does not fit one field; replaces the offset. */
    int (*store)(Parse *parse, const KeySpec *spec, const Node *node);
};

/* Enum fields are written through an int: make sure they are one. */
_Static_assert(sizeof(StrategyBy) == sizeof(int), "enum size");
_Static_assert(sizeof(Binning) == sizeof(int), "enum size");
_Static_assert(sizeof(BadRowPolicy) == sizeof(int), "enum size");
_Static_assert(sizeof(KmeansAlgorithm) == sizeof(int), "enum size");
_Static_assert(sizeof(KmeansMetric) == sizeof(int), "enum size");
_Static_assert(sizeof(InformPrefer) == sizeof(int), "enum size");

static const Choice bad_row_choices[] = {
    {"error", BAD_ROW_ERROR}, {"skip", BAD_ROW_SKIP}, {NULL, 0}};
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

static int store_seed(Parse *parse, const KeySpec *spec, const Node *node);

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
static const KeySpec key_table[] = {
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
    {.path = "strategy.seed", .type = KEY_UINT64, .store = store_seed},
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

#define KEY_COUNT (sizeof key_table / sizeof key_table[0])
#define KEY_NOT_FOUND ((size_t)-1)

struct Parse {
    const char *name; /* the file name in messages */
    const char *text; /* the bytes, for positions libyaml gives as offsets */
    size_t length;
    JobConfig *config;
    Error *err;
    Mark root;
    bool present[KEY_COUNT];
    Mark key_mark[KEY_COUNT];
    Mark value_mark[KEY_COUNT];
};

/* ---- messages ---------------------------------------------------------- */

static int fail(Parse *parse, Mark at, const char *path, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* "NAME:LINE:COL: PATH: body" and, when given, "\nHINT: hint". ERR_CONFIG. */
static int fail(Parse *parse, Mark at, const char *path, const char *hint, const char *fmt, ...)
{
    char body[ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(body, sizeof body, fmt, args);
    va_end(args);
    return error_set(parse->err, ERR_CONFIG, "%s:%zu:%zu: %s%s%s%s%s", parse->name, at.line,
                     at.column, path != NULL ? path : "", path != NULL ? ": " : "", body,
                     hint != NULL ? "\nHINT: " : "", hint != NULL ? hint : "");
}

/*
 * Copies text into buf with quotes, backslashes and control characters
 * escaped, shortened to QUOTE_MAX bytes on a character boundary, so a value
 * can be shown whatever it holds. buf holds QUOTE_BUFFER bytes.
 */
static const char *escape(char *buf, const char *text, size_t length)
{
    size_t cut = length;
    if (cut > QUOTE_MAX) {
        cut = QUOTE_MAX;
        while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
            cut--;
    }
    size_t out = 0;
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            buf[out++] = '\\';
            buf[out++] = (char)c;
        } else if (c < 0x20 || c == 0x7F) {
            out += (size_t)snprintf(buf + out, 5, "\\x%02X", c);
        } else {
            buf[out++] = (char)c;
        }
    }
    if (cut < length) {
        memcpy(buf + out, "...", 3);
        out += 3;
    }
    buf[out] = '\0';
    return buf;
}

static bool is_null(const Node *node)
{
    if (node->kind != NODE_SCALAR || !node->plain)
        return false;
    const char *v = node->value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0
           || strcmp(v, "NULL") == 0;
}

/* What a node is, for "got ...": a quoted value, or its kind. */
static const char *describe(const Node *node, char *buf)
{
    if (node->kind == NODE_MAPPING)
        return "a mapping";
    if (node->kind == NODE_SEQUENCE)
        return "a sequence";
    if (is_null(node))
        return "an empty value";
    char inner[QUOTE_BUFFER];
    escape(inner, node->value, node->length);
    snprintf(buf, QUOTE_BUFFER + 2, "\"%s\"", inner);
    return buf;
}

static void describe_choices(const Choice *choices, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const Choice *c = choices; c->name != NULL && used < size; c++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%s", c == choices ? "" : ", ", c->name);
}

static void describe_integer(char *buf, size_t size, int64_t min, int64_t max, bool open_max)
{
    if (open_max)
        snprintf(buf, size, "an integer >= %" PRId64, min);
    else
        snprintf(buf, size, "an integer from %" PRId64 " to %" PRId64, min, max);
}

/* The form a key expects, as said after "expected". */
static const char *describe_form(const KeySpec *spec, char *buf)
{
    switch (spec->type) {
    case KEY_SECTION:
        return "a mapping of keys";
    case KEY_STRING:
        return "a non-empty string";
    case KEY_NAME:
        return "a name of 1 to 63 characters from A-Z, a-z, 0-9, '_', '.' and '-'";
    case KEY_INT:
    case KEY_INT64:
        describe_integer(buf, FORM_BUFFER, spec->min, spec->max, spec->max == INT64_MAX);
        return buf;
    case KEY_UINT64:
        return "an integer from 0 to 18446744073709551615";
    case KEY_DOUBLE:
    case KEY_OPTIONAL_DOUBLE:
        if (spec->low == -DBL_MAX && spec->high == DBL_MAX)
            return "a number";
        if (spec->high == DBL_MAX)
            snprintf(buf, FORM_BUFFER, "a number >= %g", spec->low);
        else
            snprintf(buf, FORM_BUFFER, "a number from %g to %g", spec->low, spec->high);
        return buf;
    case KEY_DURATION:
        return "a duration such as 500ms, 30s, 10min, 12h or 7d";
    case KEY_BYTES:
        return "a byte size such as 1048576, 512MB or 2GiB";
    case KEY_ENUM:
        memcpy(buf, "one of ", 8);
        describe_choices(spec->choices, buf + 7, FORM_BUFFER - 7);
        return buf;
    case KEY_DATE:
        return "a date YYYY-MM-DD or a timestamp YYYY-MM-DDTHH:MM[:SS[.frac]][Z|+HH:MM]";
    case KEY_STRATEGY_LIST:
        return "score, category, embedding or [embedding, score]";
    }
    return "a value";
}

/* "PATH: expected FORM, got WHAT" at the node. */
static int fail_expected(Parse *parse, const KeySpec *spec, const Node *node, const char *hint)
{
    char form[FORM_BUFFER], got[QUOTE_BUFFER + 2];
    return fail(parse, node->mark, spec->path, hint, "expected %s, got %s",
                describe_form(spec, form), describe(node, got));
}

/* ---- the tree ---------------------------------------------------------- */

static Mark mark_of(yaml_mark_t mark)
{
    return (Mark){mark.line + 1, mark.column + 1};
}

static void node_free(Node *node)
{
    if (node == NULL)
        return;
    for (size_t i = 0; i < node->count; i++)
        node_free(node->children[i]);
    free(node->children);
    free(node->value);
    free(node);
}

static int node_append(Parse *parse, Node *parent, Node *child)
{
    if (parent->count == parent->capacity) {
        size_t capacity = parent->capacity == 0 ? 8 : parent->capacity * 2;
        Node **children = realloc(parent->children, capacity * sizeof *children);
        if (children == NULL)
            return error_nomem(parse->err, capacity * sizeof *children);
        parent->children = children;
        parent->capacity = capacity;
    }
    parent->children[parent->count++] = child;
    return ERR_OK;
}

/* The 1-based position of a byte offset (libyaml's reader errors give offsets). */
static Mark mark_at_offset(const Parse *parse, size_t offset)
{
    Mark at = {1, 1};
    if (offset > parse->length)
        offset = parse->length;
    for (size_t i = 0; i < offset; i++) {
        unsigned char c = (unsigned char)parse->text[i];
        if (c == '\n') {
            at.line++;
            at.column = 1;
        } else if ((c & 0xC0) != 0x80) { /* libyaml counts characters, not bytes */
            at.column++;
        }
    }
    return at;
}

/* Whether the indentation of a 1-based line holds a tab. */
static bool line_indented_with_tab(const Parse *parse, size_t line)
{
    size_t i = 0;
    for (size_t current = 1; current < line && i < parse->length; i++)
        if (parse->text[i] == '\n')
            current++;
    for (; i < parse->length && (parse->text[i] == ' ' || parse->text[i] == '\t'); i++)
        if (parse->text[i] == '\t')
            return true;
    return false;
}

/* libyaml's failure, with its own words and position, made readable. */
static int fail_yaml(Parse *parse, const yaml_parser_t *parser)
{
    const char *problem = parser->problem != NULL ? parser->problem : "unknown problem";

    if (parser->error == YAML_MEMORY_ERROR)
        return error_set(parse->err, ERR_INTERNAL, "%s: out of memory while parsing YAML",
                         parse->name);

    if (parser->error == YAML_READER_ERROR) {
        Mark at = mark_at_offset(parse, parser->problem_offset);
        bool utf16 =
            parse->length >= 2
            && ((unsigned char)parse->text[0] == 0xFF || (unsigned char)parse->text[0] == 0xFE)
            && ((unsigned char)parse->text[1] == 0xFE || (unsigned char)parse->text[1] == 0xFF);
        const char *hint =
            utf16 ? "the file looks like UTF-16; save it as UTF-8" : "save the file as UTF-8 text";
        char value[32] = "";
        if (parser->problem_value != -1)
            snprintf(value, sizeof value, " (0x%02X)", (unsigned)parser->problem_value);
        if (strstr(problem, "control character") != NULL)
            return fail(parse, at, NULL, hint,
                        "the file contains a control character%s, expected UTF-8 text", value);
        return fail(parse, at, NULL, hint, "the file is not valid UTF-8: %s%s, expected UTF-8 text",
                    problem, value);
    }

    Mark at = mark_of(parser->problem_mark);
    Mark context_at = mark_of(parser->context_mark);
    const char *hint = NULL;
    if (line_indented_with_tab(parse, at.line)
        || (parser->context != NULL && line_indented_with_tab(parse, context_at.line)))
        hint = "indent with spaces: YAML does not allow tabs in indentation";
    if (parser->context != NULL)
        return fail(parse, at, NULL, hint, "invalid YAML: %s (%s at %zu:%zu)", problem,
                    parser->context, context_at.line, context_at.column);
    return fail(parse, at, NULL, hint, "invalid YAML: %s", problem);
}

/*
 * Reads the event stream into a tree. Refuses what a job file never needs
 * and what would make it costly or ambiguous: aliases (billion laughs),
 * tags, more than one document, nesting deeper than CONFIG_MAX_DEPTH.
 * *out is NULL for a stream without a document (empty, or only comments).
 */
static int read_tree(Parse *parse, yaml_parser_t *parser, Node **out)
{
    Node *stack[CONFIG_MAX_DEPTH];
    size_t depth = 0;
    Node *root = NULL;
    int documents = 0;
    bool finished = false;
    int code = ERR_OK;

    while (!finished && code == ERR_OK) {
        yaml_event_t event;
        if (!yaml_parser_parse(parser, &event)) {
            code = fail_yaml(parse, parser);
            break;
        }
        Mark at = mark_of(event.start_mark);
        const yaml_char_t *tag = NULL;
        NodeKind kind = NODE_SCALAR;
        bool is_node = false;

        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            finished = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1)
                code = fail(parse, at, NULL, "keep one job per file",
                            "a second YAML document, expected one document");
            break;
        case YAML_ALIAS_EVENT:
            code = fail(parse, at, NULL, "write the value out again where it is needed",
                        "aliases are not supported (*%s)", (const char *)event.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            tag = event.data.scalar.tag;
            kind = NODE_SCALAR;
            is_node = true;
            break;
        case YAML_SEQUENCE_START_EVENT:
            tag = event.data.sequence_start.tag;
            kind = NODE_SEQUENCE;
            is_node = true;
            break;
        case YAML_MAPPING_START_EVENT:
            tag = event.data.mapping_start.tag;
            kind = NODE_MAPPING;
            is_node = true;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }

        if (code == ERR_OK && is_node && tag != NULL)
            code = fail(parse, at, NULL, "remove the tag; quote a value to make it a string",
                        "tags are not supported (%s)", (const char *)tag);
        if (code == ERR_OK && is_node && kind != NODE_SCALAR && depth == CONFIG_MAX_DEPTH)
            code = fail(parse, at, NULL, NULL, "nesting is too deep, expected at most %d levels",
                        CONFIG_MAX_DEPTH);

        Node *node = NULL;
        if (code == ERR_OK && is_node) {
            node = calloc(1, sizeof *node);
            if (node == NULL)
                code = error_nomem(parse->err, sizeof *node);
        }
        if (node != NULL) {
            node->kind = kind;
            node->mark = at;
            if (kind == NODE_SCALAR) {
                node->length = event.data.scalar.length;
                node->plain = event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                node->value = malloc(node->length + 1);
                if (node->value == NULL) {
                    code = error_nomem(parse->err, node->length + 1);
                } else {
                    memcpy(node->value, event.data.scalar.value, node->length);
                    node->value[node->length] = '\0';
                }
            }
            if (code == ERR_OK && depth > 0)
                code = node_append(parse, stack[depth - 1], node);
            else if (code == ERR_OK)
                root = node;
            if (code != ERR_OK)
                node_free(node);
            else if (kind != NODE_SCALAR)
                stack[depth++] = node;
        }
        yaml_event_delete(&event);
    }

    if (code != ERR_OK) {
        node_free(root);
        root = NULL;
    }
    *out = root;
    return code;
}

/* ---- the table --------------------------------------------------------- */

static size_t key_index(const char *path)
{
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (strcmp(key_table[i].path, path) == 0)
            return i;
    return KEY_NOT_FOUND;
}

/* The last component of a path, and whether the path's parent is prefix. */
static const char *child_name(const char *path, const char *prefix)
{
    size_t length = strlen(prefix);
    if (length > 0) {
        if (strncmp(path, prefix, length) != 0 || path[length] != '.')
            return NULL;
        path += length + 1;
    }
    return strchr(path, '.') == NULL ? path : NULL;
}

static size_t find_key(const char *prefix, const char *key, size_t key_length)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const char *name = child_name(key_table[i].path, prefix);
        if (name != NULL && strlen(name) == key_length && memcmp(name, key, key_length) == 0)
            return i;
    }
    return KEY_NOT_FOUND;
}

static void *field_of(JobConfig *config, const KeySpec *spec)
{
    return (char *)config + spec->offset;
}

/* Where to point at for a key that is absent: its nearest present ancestor. */
static Mark nearest_mark(const Parse *parse, const char *path)
{
    char parent[128];
    snprintf(parent, sizeof parent, "%s", path);
    for (char *dot = strrchr(parent, '.'); dot != NULL; dot = strrchr(parent, '.')) {
        *dot = '\0';
        size_t index = key_index(parent);
        if (index != KEY_NOT_FOUND && parse->present[index])
            return parse->value_mark[index];
    }
    return parse->root;
}

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

/*
 * An unknown key, with the closest sibling when one is near (a typo), else
 * the full path of the one key elsewhere with that name (a key at the wrong
 * level), else the list of keys allowed here.
 */
static int fail_unknown_key(Parse *parse, const char *prefix, const Node *key)
{
    char shown[QUOTE_BUFFER];
    char path[QUOTE_BUFFER + 128];
    escape(shown, key->value, key->length);
    snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] != '\0' ? "." : "", shown);

    const char *suggestion = NULL;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const char *name = child_name(key_table[i].path, prefix);
        if (name == NULL)
            continue;
        size_t distance = edit_distance(key->value, key->length, name);
        size_t allowed = strlen(name) <= 4 ? 1 : strlen(name) <= 8 ? 2 : 3;
        if (distance <= allowed && distance < best) {
            best = distance;
            suggestion = name;
        }
    }
    if (suggestion == NULL) {
        size_t matches = 0;
        for (size_t i = 0; i < KEY_COUNT; i++) {
            const char *last = strrchr(key_table[i].path, '.');
            last = last != NULL ? last + 1 : key_table[i].path;
            if (edit_distance(key->value, key->length, last) == 0) {
                matches++;
                suggestion = key_table[i].path;
            }
        }
        if (matches != 1)
            suggestion = NULL;
    }
    if (suggestion != NULL)
        return fail(parse, key->mark, NULL, NULL, "unknown key \"%s\" (did you mean \"%s\"?)", path,
                    suggestion);

    char hint[512];
    size_t used = (size_t)snprintf(hint, sizeof hint, "the keys allowed %s%s are ",
                                   prefix[0] != '\0' ? "in " : "at the top level", prefix);
    bool first = true;
    for (size_t i = 0; i < KEY_COUNT && used < sizeof hint; i++) {
        const char *name = child_name(key_table[i].path, prefix);
        if (name == NULL)
            continue;
        used += (size_t)snprintf(hint + used, sizeof hint - used, "%s%s", first ? "" : ", ", name);
        first = false;
    }
    return fail(parse, key->mark, NULL, hint, "unknown key \"%s\"", path);
}

/* ---- scalar conversions ------------------------------------------------ */

typedef enum { NUMBER_OK, NUMBER_INVALID, NUMBER_RANGE } NumberStatus;

/*
 * Decimal integers only. YAML 1.1 reads 010 as octal, 0x10 as hex and 1_000
 * as 1000; rather than guess which the writer meant, those are refused.
 */
static NumberStatus parse_integer(const char *text, int64_t *value)
{
    const char *digits = text + (text[0] == '-' || text[0] == '+');
    if (digits[0] == '\0' || (digits[0] == '0' && digits[1] != '\0'))
        return NUMBER_INVALID;
    for (const char *c = digits; *c != '\0'; c++)
        if (*c < '0' || *c > '9')
            return NUMBER_INVALID;
    errno = 0;
    long long parsed = strtoll(text, NULL, 10);
    if (errno == ERANGE)
        return NUMBER_RANGE;
    *value = parsed;
    return NUMBER_OK;
}

static NumberStatus parse_unsigned(const char *text, uint64_t *value)
{
    if (text[0] == '\0' || (text[0] == '0' && text[1] != '\0'))
        return NUMBER_INVALID;
    for (const char *c = text; *c != '\0'; c++)
        if (*c < '0' || *c > '9')
            return NUMBER_INVALID; /* also "-1", which strtoull would wrap */
    errno = 0;
    unsigned long long parsed = strtoull(text, NULL, 10);
    if (errno == ERANGE)
        return NUMBER_RANGE;
    *value = parsed;
    return NUMBER_OK;
}

/* Decimal numbers; no hex floats, no .inf/.nan, nothing that overflows. */
static NumberStatus parse_double(const char *text, double *value)
{
    static const char *const non_finite[] = {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN",
                                             "inf",  "Inf",  "INF",  "nan",  "NaN",  "NAN"};
    const char *unsigned_text = text + (text[0] == '-' || text[0] == '+');
    for (size_t i = 0; i < sizeof non_finite / sizeof non_finite[0]; i++)
        if (strcmp(unsigned_text, non_finite[i]) == 0)
            return NUMBER_RANGE; /* said as "not a finite number" */
    bool digit = false;
    for (const char *c = text; *c != '\0'; c++) {
        if (*c >= '0' && *c <= '9')
            digit = true;
        else if (strchr("+-.eE", *c) == NULL)
            return NUMBER_INVALID;
    }
    if (!digit)
        return NUMBER_INVALID;
    char *end;
    errno = 0;
    double parsed = strtod(text, &end);
    if (end == text || *end != '\0')
        return NUMBER_INVALID;
    if (!isfinite(parsed))
        return NUMBER_RANGE;
    *value = parsed; /* an underflow to 0 or a subnormal is a fine bound */
    return NUMBER_OK;
}

/* A quoted number is refused: see the policy at the top of the file. */
static int refuse_quoted_number(Parse *parse, const KeySpec *spec, const Node *node)
{
    char form[FORM_BUFFER], got[QUOTE_BUFFER];
    return fail(parse, node->mark, spec->path, "write numbers without quotes",
                "expected %s, got the quoted string \"%s\"", describe_form(spec, form),
                escape(got, node->value, node->length));
}

static int fail_number(Parse *parse, const KeySpec *spec, const Node *node, NumberStatus status)
{
    if (status == NUMBER_RANGE) {
        char form[FORM_BUFFER], got[QUOTE_BUFFER];
        return fail(parse, node->mark, spec->path, NULL, "expected %s, got \"%s\" (out of range)",
                    describe_form(spec, form), escape(got, node->value, node->length));
    }
    const char *v = node->value;
    const char *digits = v + (v[0] == '-' || v[0] == '+');
    bool leading_zero = digits[0] == '0' && digits[1] >= '0' && digits[1] <= '9';
    return fail_expected(parse, spec, node,
                         leading_zero ? "write the number without leading zeros" : NULL);
}

static int convert_integer(Parse *parse, const KeySpec *spec, const Node *node, int64_t *value)
{
    if (!node->plain)
        return refuse_quoted_number(parse, spec, node);
    NumberStatus status = parse_integer(node->value, value);
    if (status != NUMBER_OK)
        return fail_number(parse, spec, node, status);
    char got[QUOTE_BUFFER];
    if (*value < spec->min)
        return fail(parse, node->mark, spec->path, NULL,
                    "expected an integer >= %" PRId64 ", got \"%s\"", spec->min,
                    escape(got, node->value, node->length));
    if (*value > spec->max)
        return fail(parse, node->mark, spec->path, NULL,
                    "expected an integer <= %" PRId64 ", got \"%s\"", spec->max,
                    escape(got, node->value, node->length));
    return ERR_OK;
}

static int convert_unsigned(Parse *parse, const KeySpec *spec, const Node *node, uint64_t *value)
{
    if (!node->plain)
        return refuse_quoted_number(parse, spec, node);
    NumberStatus status = parse_unsigned(node->value, value);
    return status == NUMBER_OK ? ERR_OK : fail_number(parse, spec, node, status);
}

static int convert_double(Parse *parse, const KeySpec *spec, const Node *node, double *value)
{
    if (!node->plain)
        return refuse_quoted_number(parse, spec, node);
    NumberStatus status = parse_double(node->value, value);
    if (status == NUMBER_RANGE) {
        char form[FORM_BUFFER], got[QUOTE_BUFFER];
        return fail(parse, node->mark, spec->path, NULL,
                    "expected %s, got \"%s\" (not a finite number)", describe_form(spec, form),
                    escape(got, node->value, node->length));
    }
    if (status != NUMBER_OK)
        return fail_expected(parse, spec, node, NULL);
    char got[QUOTE_BUFFER];
    if (*value < spec->low)
        return fail(parse, node->mark, spec->path, NULL, "expected a number >= %g, got \"%s\"",
                    spec->low, escape(got, node->value, node->length));
    if (*value > spec->high)
        return fail(parse, node->mark, spec->path, NULL, "expected a number <= %g, got \"%s\"",
                    spec->high, escape(got, node->value, node->length));
    return ERR_OK;
}

/* A unit suffix and what one of it is worth. */
typedef struct {
    const char *unit;
    int64_t factor;
} Unit;

/* Digits followed by exactly one of units: the value times its factor. */
static bool parse_scaled(const char *text, const Unit *units, size_t unit_count, int64_t *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return false;
    int64_t value = 0;
    const char *c = text;
    for (; *c >= '0' && *c <= '9'; c++) {
        if (value > (INT64_MAX - (*c - '0')) / 10)
            return false;
        value = value * 10 + (*c - '0');
    }
    for (size_t i = 0; i < unit_count; i++) {
        if (strcmp(c, units[i].unit) == 0) {
            if (value > INT64_MAX / units[i].factor)
                return false;
            *out = value * units[i].factor;
            return true;
        }
    }
    return false;
}

bool config_parse_duration(const char *text, int64_t *milliseconds)
{
    static const Unit units[] = {
        {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
    return parse_scaled(text, units, sizeof units / sizeof units[0], milliseconds);
}

static int convert_duration(Parse *parse, const KeySpec *spec, const Node *node, int64_t *value)
{
    if (!config_parse_duration(node->value, value)) {
        const char *v = node->value;
        size_t digits = strspn(v, "0123456789");
        const char *hint = NULL;
        if (digits > 0 && v[digits] == '\0')
            hint = "add a unit: ms, s, min, h or d";
        else if (digits > 0 && strcmp(v + digits, "m") == 0)
            hint = "\"m\" is ambiguous (minutes or months?): write min for minutes";
        return fail_expected(parse, spec, node, hint);
    }
    char got[QUOTE_BUFFER];
    if (*value < spec->min)
        return fail(parse, node->mark, spec->path, NULL, "expected a duration > 0, got \"%s\"",
                    escape(got, node->value, node->length));
    if (*value > spec->max)
        return fail(parse, node->mark, spec->path, NULL,
                    "expected a duration of at most %" PRId64 "ms, got \"%s\"", spec->max,
                    escape(got, node->value, node->length));
    return ERR_OK;
}

/*
 * Byte sizes: a plain integer is bytes; kB/KB, MB, GB, TB are powers of
 * 1000 and KiB, MiB, GiB, TiB powers of 1024, as in Kubernetes and the SI.
 */
static bool parse_byte_size(const char *text, int64_t *bytes)
{
    static const Unit units[] = {{"", 1},
                                 {"B", 1},
                                 {"kB", 1000},
                                 {"KB", 1000},
                                 {"MB", 1000000},
                                 {"GB", 1000000000},
                                 {"TB", INT64_C(1000000000000)},
                                 {"KiB", INT64_C(1) << 10},
                                 {"MiB", INT64_C(1) << 20},
                                 {"GiB", INT64_C(1) << 30},
                                 {"TiB", INT64_C(1) << 40}};
    return parse_scaled(text, units, sizeof units / sizeof units[0], bytes);
}

static int convert_bytes(Parse *parse, const KeySpec *spec, const Node *node, int64_t *value)
{
    if (!parse_byte_size(node->value, value) || *value < spec->min || *value > spec->max)
        return fail_expected(parse, spec, node, NULL);
    return ERR_OK;
}

static bool is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Reads `count` digits at *at into value and advances; false if not digits. */
static bool take_digits(const char **at, int count, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++) {
        char c = (*at)[i];
        if (c < '0' || c > '9')
            return false;
        *value = *value * 10 + (c - '0');
    }
    *at += count;
    return true;
}

/*
 * YYYY-MM-DD with a real calendar, or YYYY-MM-DD[T ]HH:MM[:SS[.frac]] with
 * an optional Z or +HH[:MM] zone. The text is kept as written: PostgreSQL
 * reads both forms, and a timestamp without a zone means the server's zone.
 */
static bool parse_date_bound(const char *text, DateBound *out)
{
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *at = text;
    int year, month, day, hour, minute, second;

    if (!take_digits(&at, 4, &year) || *at++ != '-' || !take_digits(&at, 2, &month) || *at++ != '-'
        || !take_digits(&at, 2, &day))
        return false;
    if (year < 1 || month < 1 || month > 12 || day < 1)
        return false;
    if (day > month_days[month - 1] + (month == 2 && is_leap_year(year)))
        return false;
    bool date_only = *at == '\0';
    if (!date_only) {
        if (*at != 'T' && *at != ' ')
            return false;
        at++;
        if (!take_digits(&at, 2, &hour) || *at++ != ':' || !take_digits(&at, 2, &minute)
            || hour > 23 || minute > 59)
            return false;
        if (*at == ':') {
            at++;
            if (!take_digits(&at, 2, &second) || second > 59)
                return false;
            if (*at == '.') {
                size_t fraction = strspn(++at, "0123456789");
                if (fraction < 1 || fraction > 9)
                    return false;
                at += fraction;
            }
        }
        if (*at == 'Z') {
            at++;
        } else if (*at == '+' || *at == '-') {
            int zone_hour, zone_minute = 0;
            at++;
            if (!take_digits(&at, 2, &zone_hour) || zone_hour > 23)
                return false;
            if (*at == ':' && (at++, !take_digits(&at, 2, &zone_minute) || zone_minute > 59))
                return false;
        }
        if (*at != '\0')
            return false;
    }
    size_t length = strlen(text);
    if (length >= sizeof out->text)
        return false;
    out->set = true;
    out->date_only = date_only;
    memcpy(out->text, text, length + 1);
    return true;
}

static int convert_enum(Parse *parse, const KeySpec *spec, const Node *node, const Choice *choices,
                        int *value)
{
    for (const Choice *c = choices; c->name != NULL; c++) {
        if (strcmp(node->value, c->name) == 0) {
            *value = c->value;
            return ERR_OK;
        }
    }
    return fail_expected(parse, spec, node, NULL);
}

typedef struct {
    char *data;
    size_t length, capacity;
} Buffer;

static bool buffer_append(Buffer *buffer, const char *text, size_t length)
{
    if (buffer->length + length + 1 > buffer->capacity) {
        size_t capacity = buffer->capacity == 0 ? 64 : buffer->capacity;
        while (capacity < buffer->length + length + 1)
            capacity *= 2;
        char *data = realloc(buffer->data, capacity);
        if (data == NULL)
            return false;
        buffer->data = data;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, text, length);
    buffer->length += length;
    buffer->data[buffer->length] = '\0';
    return true;
}

static bool is_variable_name(const char *name, size_t length)
{
    if (length == 0 || length > 255 || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '_'))
            return false;
    }
    return true;
}

/*
 * ${VAR} and ${VAR:-default} from the environment ("default" when VAR is
 * unset or empty, as in the shell); $$ is a literal $; any other $ is kept.
 * A default cannot hold "}". On success *out is a new string.
 */
static int expand_variables(Parse *parse, const KeySpec *spec, const Node *node, char **out)
{
    int code = ERR_OK;
    Buffer buffer = {0};
    const char *text = node->value;
    char shown[QUOTE_BUFFER];

    *out = NULL;
    if (!buffer_append(&buffer, "", 0)) {
        code = error_nomem(parse->err, 64);
        goto done;
    }
    for (size_t i = 0; text[i] != '\0';) {
        const char *piece = text + i;
        size_t piece_length = 1;
        if (text[i] == '$' && text[i + 1] == '$') {
            i += 2;
        } else if (text[i] == '$' && text[i + 1] == '{') {
            const char *start = text + i + 2;
            const char *close = strchr(start, '}');
            if (close == NULL) {
                code = fail(parse, node->mark, spec->path, "write $$ for a literal $",
                            "unterminated \"${\" in \"%s\", expected ${NAME} or ${NAME:-default}",
                            escape(shown, text, node->length));
                goto done;
            }
            const char *fallback = strstr(start, ":-");
            bool has_default = fallback != NULL && fallback < close;
            size_t name_length = (size_t)((has_default ? fallback : close) - start);
            if (!is_variable_name(start, name_length)) {
                code = fail(parse, node->mark, spec->path, "write $$ for a literal $",
                            "invalid variable reference \"%s\", expected ${NAME} or "
                            "${NAME:-default} with NAME from A-Z, a-z, 0-9 and '_'",
                            escape(shown, text + i, (size_t)(close - (text + i)) + 1));
                goto done;
            }
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)name_length, start);
            const char *value = getenv(name);
            if (has_default && (value == NULL || value[0] == '\0')) {
                piece = fallback + 2;
                piece_length = (size_t)(close - piece);
            } else if (value != NULL) {
                piece = value;
                piece_length = strlen(value);
            } else {
                char hint[600];
                snprintf(hint, sizeof hint, "set %s in the environment, or write ${%s:-default}",
                         name, name);
                code = fail(parse, node->mark, spec->path, hint,
                            "environment variable \"%s\" is not set", name);
                goto done;
            }
            i = (size_t)(close - text) + 1;
        } else {
            i++;
        }
        if (!buffer_append(&buffer, piece, piece_length)) {
            code = error_nomem(parse->err, buffer.length + piece_length + 1);
            goto done;
        }
    }
    *out = buffer.data;
    buffer.data = NULL;
done:
    free(buffer.data);
    return code;
}

static bool is_job_name(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > 63)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
              || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static int convert_string(Parse *parse, const KeySpec *spec, const Node *node, char **field)
{
    char *value = NULL;
    int code = expand_variables(parse, spec, node, &value);
    if (code != ERR_OK)
        return code;
    if (value[0] == '\0' && (spec->flags & KEY_EMPTY_IS_UNSET)) {
        free(value);
        value = NULL;
    } else if (value[0] == '\0') {
        char form[FORM_BUFFER];
        code = fail(parse, node->mark, spec->path, NULL, "expected %s, got an empty string",
                    describe_form(spec, form));
    } else if (spec->type == KEY_NAME && !is_job_name(value)) {
        char form[FORM_BUFFER], got[QUOTE_BUFFER];
        code = fail(parse, node->mark, spec->path, NULL, "expected %s, got \"%s\"",
                    describe_form(spec, form), escape(got, value, strlen(value)));
    }
    if (code != ERR_OK) {
        free(value);
        return code;
    }
    free(*field);
    *field = value;
    return ERR_OK;
}

/* strategy.by: a name, or a list; [embedding, score] is the one list. */
static int convert_strategy(Parse *parse, const KeySpec *spec, const Node *node, int *value)
{
    if (node->kind == NODE_SCALAR && !is_null(node))
        return convert_enum(parse, spec, node, spec->choices, value);
    if (node->kind != NODE_SEQUENCE)
        return fail_expected(parse, spec, node, NULL);

    bool scalars = true;
    for (size_t i = 0; i < node->count; i++)
        scalars = scalars && node->children[i]->kind == NODE_SCALAR;
    if (scalars && node->count == 2 && strcmp(node->children[0]->value, "embedding") == 0
        && strcmp(node->children[1]->value, "score") == 0) {
        *value = STRATEGY_EMBEDDING_SCORE;
        return ERR_OK;
    }

    char list[QUOTE_BUFFER + 8] = "[";
    size_t used = 1;
    for (size_t i = 0; i < node->count && used < QUOTE_MAX; i++) {
        const Node *item = node->children[i];
        char shown[QUOTE_BUFFER];
        used += (size_t)snprintf(
            list + used, sizeof list - used, "%s%s", i > 0 ? ", " : "",
            item->kind == NODE_SCALAR ? escape(shown, item->value, item->length) : "...");
    }
    if (used < QUOTE_MAX)
        snprintf(list + used, sizeof list - used, "]");
    else
        snprintf(list + QUOTE_MAX, sizeof list - QUOTE_MAX, "...]");

    const char *hint = "the one list is [embedding, score]: k-means clusters, then score bins "
                       "inside each cluster";
    if (node->count == 1 && scalars)
        hint = "write a single strategy without brackets, e.g. by: score";
    char form[FORM_BUFFER];
    return fail(parse, node->mark, spec->path, hint, "expected %s, got %s",
                describe_form(spec, form), list);
}

static int store_seed(Parse *parse, const KeySpec *spec, const Node *node)
{
    uint64_t seed = 0;
    int code = convert_unsigned(parse, spec, node, &seed);
    if (code == ERR_OK) {
        parse->config->strategy.seed = seed;
        parse->config->strategy.seed_set = true;
    }
    return code;
}

/* Converts one value by its spec and stores it in the JobConfig. */
static int store_value(Parse *parse, const KeySpec *spec, const Node *node)
{
    void *field = field_of(parse->config, spec);
    int code = ERR_OK;

    if (spec->type == KEY_STRATEGY_LIST) {
        int value = 0;
        code = convert_strategy(parse, spec, node, &value);
        if (code == ERR_OK)
            memcpy(field, &value, sizeof value);
        return code;
    }
    if (node->kind != NODE_SCALAR)
        return fail_expected(parse, spec, node, NULL);
    if (memchr(node->value, '\0', node->length) != NULL) {
        char form[FORM_BUFFER];
        return fail(parse, node->mark, spec->path, NULL,
                    "expected %s, got a value holding a NUL character", describe_form(spec, form));
    }
    if (is_null(node)) {
        if (spec->flags & KEY_EMPTY_IS_UNSET) {
            free(*(char **)field);
            *(char **)field = NULL;
            return ERR_OK;
        }
        return fail_expected(parse, spec, node,
                             (spec->flags & KEY_REQUIRED) ? NULL
                                                          : "give a value, or remove the key");
    }
    if (spec->store != NULL)
        return spec->store(parse, spec, node);

    switch (spec->type) {
    case KEY_STRING:
    case KEY_NAME:
        return convert_string(parse, spec, node, (char **)field);
    case KEY_INT: {
        int64_t value = 0;
        if ((code = convert_integer(parse, spec, node, &value)) == ERR_OK)
            *(int *)field = (int)value; /* the table's ranges fit an int */
        return code;
    }
    case KEY_INT64:
        return convert_integer(parse, spec, node, (int64_t *)field);
    case KEY_UINT64:
        return convert_unsigned(parse, spec, node, (uint64_t *)field);
    case KEY_DOUBLE:
        return convert_double(parse, spec, node, (double *)field);
    case KEY_OPTIONAL_DOUBLE: {
        OptionalDouble *bound = field;
        if ((code = convert_double(parse, spec, node, &bound->value)) == ERR_OK)
            bound->set = true;
        return code;
    }
    case KEY_DURATION:
        return convert_duration(parse, spec, node, (int64_t *)field);
    case KEY_BYTES:
        return convert_bytes(parse, spec, node, (int64_t *)field);
    case KEY_ENUM: {
        int value = 0;
        if ((code = convert_enum(parse, spec, node, spec->choices, &value)) == ERR_OK)
            memcpy(field, &value, sizeof value);
        return code;
    }
    case KEY_DATE: {
        DateBound bound = {0};
        if (!parse_date_bound(node->value, &bound))
            return fail_expected(parse, spec, node, NULL);
        *(DateBound *)field = bound;
        return ERR_OK;
    }
    case KEY_SECTION:
    case KEY_STRATEGY_LIST:
        break;
    }
    return error_set(parse->err, ERR_INTERNAL, "bug: %s has no conversion", spec->path);
}

/* ---- the walk ---------------------------------------------------------- */

static int walk_mapping(Parse *parse, const char *prefix, const Node *mapping);

static int walk_section(Parse *parse, const KeySpec *spec, const Node *value)
{
    if (value->kind == NODE_MAPPING)
        return walk_mapping(parse, spec->path, value);
    if (is_null(value))
        return ERR_OK; /* "filters:" with every key under it commented out */
    return fail_expected(parse, spec, value, NULL);
}

static int walk_mapping(Parse *parse, const char *prefix, const Node *mapping)
{
    for (size_t i = 0; i + 1 < mapping->count; i += 2) {
        const Node *key = mapping->children[i];
        const Node *value = mapping->children[i + 1];
        if (key->kind != NODE_SCALAR) {
            char got[QUOTE_BUFFER + 2];
            return fail(parse, key->mark, prefix[0] != '\0' ? prefix : NULL, NULL,
                        "expected a key name, got %s", describe(key, got));
        }
        size_t index = find_key(prefix, key->value, key->length);
        if (index == KEY_NOT_FOUND)
            return fail_unknown_key(parse, prefix, key);
        const KeySpec *spec = &key_table[index];
        if (parse->present[index])
            return fail(parse, key->mark, spec->path, "keep one of them",
                        "duplicate key, first defined at %zu:%zu", parse->key_mark[index].line,
                        parse->key_mark[index].column);
        parse->present[index] = true;
        parse->key_mark[index] = key->mark;
        parse->value_mark[index] = value->mark;
        int code = spec->type == KEY_SECTION ? walk_section(parse, spec, value)
                                             : store_value(parse, spec, value);
        if (code != ERR_OK)
            return code;
    }
    return ERR_OK;
}

/* Defaults go through the same conversions as the file's values. */
static int apply_defaults(Parse *parse)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const KeySpec *spec = &key_table[i];
        if (spec->fallback == NULL)
            continue;
        Node node = {.kind = NODE_SCALAR,
                     .value = (char *)spec->fallback,
                     .length = strlen(spec->fallback),
                     .plain = true};
        if (store_value(parse, spec, &node) != ERR_OK) {
            char reason[ERROR_MESSAGE_MAX] = "";
            if (parse->err != NULL)
                snprintf(reason, sizeof reason, "%s", parse->err->message);
            return error_set(parse->err, ERR_INTERNAL, "bug: the default of %s is invalid: %s",
                             spec->path, reason);
        }
    }
    return ERR_OK;
}

/* ---- rules between keys ------------------------------------------------ */

static bool is_present(const Parse *parse, const char *path)
{
    size_t index = key_index(path);
    return index != KEY_NOT_FOUND && parse->present[index];
}

static Mark value_mark(const Parse *parse, const char *path)
{
    return parse->value_mark[key_index(path)];
}

static int check_required(Parse *parse)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const KeySpec *spec = &key_table[i];
        if ((spec->flags & KEY_REQUIRED) && !parse->present[i])
            return fail(parse, nearest_mark(parse, spec->path), spec->path, spec->hint,
                        "required key is missing");
    }
    return ERR_OK;
}

/* A filter needs the column it filters on. */
static const struct {
    const char *filter;
    const char *column;
} filter_columns[] = {
    {"filters.score", "source.score"},
    {"filters.variance", "source.variance"},
    {"filters.date", "source.date"},
};

/* The columns each strategy reads. */
static const struct {
    StrategyBy by;
    const char *columns[2];
} strategy_columns[] = {
    {STRATEGY_SCORE, {"source.score", NULL}},
    {STRATEGY_CATEGORY, {"source.category", NULL}},
    {STRATEGY_EMBEDDING, {"source.embedding", NULL}},
    {STRATEGY_EMBEDDING_SCORE, {"source.embedding", "source.score"}},
};

static int check_bounds(Parse *parse, const char *min_path, const char *max_path)
{
    const OptionalDouble *min = field_of(parse->config, &key_table[key_index(min_path)]);
    const OptionalDouble *max = field_of(parse->config, &key_table[key_index(max_path)]);
    if (min->set && max->set && min->value > max->value)
        return fail(parse, value_mark(parse, max_path), max_path, NULL,
                    "expected a number >= %s (%.15g), got %.15g", min_path, min->value, max->value);
    return ERR_OK;
}

/* Stored cluster models: a name to read them by, and only for embedding strategies. */
static int check_model_rules(Parse *parse)
{
    JobConfig *config = parse->config;
    static const char *const needs_model[] = {"strategy.kmeans.fit_sample",
                                              "strategy.kmeans.refit_after",
                                              "strategy.kmeans.pca"};
    if (config->strategy.clusters_from == NULL) {
        for (size_t i = 0; i < sizeof needs_model / sizeof needs_model[0]; i++)
            if (is_present(parse, needs_model[i]))
                return fail(parse, parse->key_mark[key_index(needs_model[i])], needs_model[i],
                            "add clusters_from: MODEL under strategy; `pairpick fit` stores it "
                            "under that name",
                            "applies to a stored cluster model, and strategy.clusters_from is "
                            "not set");
        return ERR_OK;
    }
    char name[MODEL_NAME_MAX];
    int version;
    if (!model_parse_ref(config->strategy.clusters_from, name, &version))
        return fail(parse, value_mark(parse, "strategy.clusters_from"), "strategy.clusters_from",
                    NULL, "expected MODEL or MODEL@VERSION (a version >= 1), got \"%s\"",
                    config->strategy.clusters_from);
    if (config->strategy.by != STRATEGY_EMBEDDING && config->strategy.by != STRATEGY_EMBEDDING_SCORE)
        return fail(parse, value_mark(parse, "strategy.clusters_from"), "strategy.clusters_from",
                    "use strategy.by: embedding or [embedding, score]",
                    "needs an embedding strategy, strategy.by is %s",
                    config_strategy_name(config->strategy.by));
    if (version > 0 && is_present(parse, "strategy.kmeans.refit_after"))
        return fail(parse, value_mark(parse, "strategy.kmeans.refit_after"),
                    "strategy.kmeans.refit_after", "drop @VERSION to follow the latest version",
                    "cannot refit a pinned version (strategy.clusters_from is \"%s\")",
                    config->strategy.clusters_from);
    return ERR_OK;
}

static int check_rules(Parse *parse)
{
    JobConfig *config = parse->config;
    int code;

    bool table = is_present(parse, "source.table"), query = is_present(parse, "source.query");
    if (table && query)
        return fail(parse, value_mark(parse, "source.query"), "source.query",
                    "keep table for a table or view, query for a SELECT of your own",
                    "cannot be combined with source.table (at %zu:%zu), expected exactly one "
                    "of them",
                    value_mark(parse, "source.table").line,
                    value_mark(parse, "source.table").column);
    if (!table && !query)
        return fail(parse, nearest_mark(parse, "source.table"), "source",
                    "add table: SCHEMA.TABLE or query: \"SELECT ...\" under source",
                    "expected source.table or source.query, got neither");

    if ((code = check_bounds(parse, "filters.score.min", "filters.score.max")) != ERR_OK
        || (code = check_bounds(parse, "filters.variance.min", "filters.variance.max")) != ERR_OK)
        return code;

    const DateBound *from = &config->filters.date_from, *to = &config->filters.date_to;
    if (is_present(parse, "filters.date.last") && (from->set || to->set))
        return fail(parse, value_mark(parse, "filters.date.last"), "filters.date.last",
                    "keep either last, or from and to",
                    "cannot be combined with %s, expected either last or from/to",
                    from->set ? "filters.date.from" : "filters.date.to");
    if (from->set && to->set && from->date_only && to->date_only
        && strcmp(from->text, to->text) > 0)
        return fail(parse, value_mark(parse, "filters.date.to"), "filters.date.to", NULL,
                    "expected a date on or after filters.date.from (%s), got \"%s\"", from->text,
                    to->text);

    for (size_t f = 0; f < sizeof filter_columns / sizeof filter_columns[0]; f++) {
        size_t column = key_index(filter_columns[f].column);
        if (*(char **)field_of(config, &key_table[column]) != NULL)
            continue;
        for (size_t i = 0; i < KEY_COUNT; i++) {
            if (!parse->present[i]
                || child_name(key_table[i].path, filter_columns[f].filter) == NULL)
                continue;
            char hint[128];
            snprintf(hint, sizeof hint, "add %s: COLUMN under source",
                     strrchr(filter_columns[f].column, '.') + 1);
            return fail(parse, parse->key_mark[i], key_table[i].path, hint,
                        "needs %s, which is not set", filter_columns[f].column);
        }
    }

    if (config->strategy.prefer == INFORM_UNCERTAIN && config->source.score == NULL)
        return fail(parse, value_mark(parse, "strategy.prefer"), "strategy.prefer",
                    "add score: COLUMN under source, or prefer: random",
                    "uncertain needs source.score, which is not set");
    if (config->strategy.max_similarity.set && config->source.embedding == NULL)
        return fail(parse, value_mark(parse, "strategy.max_similarity"),
                    "strategy.max_similarity", "add embedding: COLUMN under source",
                    "needs source.embedding, which is not set");
    if (config->strategy.explore_fraction > 0 && config->strategy.by == STRATEGY_CATEGORY)
        return fail(parse, value_mark(parse, "strategy.explore_fraction"),
                    "strategy.explore_fraction",
                    "bridges join adjacent score bins or nearest clusters; use by: score, "
                    "embedding or [embedding, score]",
                    "expected 0 with by: category, whose categories have no neighbours, got %g",
                    config->strategy.explore_fraction);

    for (size_t s = 0; s < sizeof strategy_columns / sizeof strategy_columns[0]; s++) {
        if (strategy_columns[s].by != config->strategy.by)
            continue;
        char missing[128] = "", hint[256] = "";
        size_t count = 0;
        for (size_t c = 0; c < 2 && strategy_columns[s].columns[c] != NULL; c++) {
            const char *path = strategy_columns[s].columns[c];
            if (*(char **)field_of(config, &key_table[key_index(path)]) != NULL)
                continue;
            size_t used = strlen(missing), hint_used = strlen(hint);
            snprintf(missing + used, sizeof missing - used, "%s%s", count > 0 ? " and " : "", path);
            snprintf(hint + hint_used, sizeof hint - hint_used, "%s%s: COLUMN",
                     count > 0 ? " and " : "add ", strrchr(path, '.') + 1);
            count++;
        }
        if (count > 0) {
            size_t used = strlen(hint);
            snprintf(hint + used, sizeof hint - used, " under source");
            return fail(parse, value_mark(parse, "strategy.by"), "strategy.by", hint,
                        "%s needs %s, which %s not set", config_strategy_name(config->strategy.by),
                        missing, count > 1 ? "are" : "is");
        }
    }
    return check_model_rules(parse);
}

/* ---- entry points ------------------------------------------------------ */

static int parse_text(const char *name, const char *text, size_t length, JobConfig **out,
                      Error *err)
{
    int code = ERR_OK;
    yaml_parser_t parser;
    bool parser_ready = false;
    Node *root = NULL;
    Parse parse = {.name = name, .err = err, .root = {1, 1}};
    JobConfig *config = NULL;

    *out = NULL;
    if (length > CONFIG_MAX_BYTES) {
        code = fail(&parse, parse.root, NULL,
                    "a job file is a few hundred bytes: is this the right file?",
                    "the file is too large, expected at most %zu bytes (1 MiB)", CONFIG_MAX_BYTES);
        goto done;
    }
    config = calloc(1, sizeof *config);
    if (config == NULL) {
        code = error_nomem(err, sizeof *config);
        goto done;
    }
    config->path = strdup(name);
    config->text = malloc(length + 1);
    if (config->path == NULL || config->text == NULL) {
        code = error_nomem(err, length + 1);
        goto done;
    }
    if (length > 0)
        memcpy(config->text, text, length);
    config->text[length] = '\0';
    config->text_length = length;
    parse.name = config->path;
    parse.text = config->text;
    parse.length = length;
    parse.config = config;
    /* A UTF-8 byte order mark is harmless but, with the encoding set rather
     * than detected, libyaml would count it as a column of the first line.
     * It stays in config->text: the digest is of the file as it is. */
    if (length >= 3 && memcmp(parse.text, "\xEF\xBB\xBF", 3) == 0) {
        parse.text += 3;
        parse.length -= 3;
    }

    if ((code = apply_defaults(&parse)) != ERR_OK)
        goto done;

    if (!yaml_parser_initialize(&parser)) {
        code = error_nomem(err, sizeof parser);
        goto done;
    }
    parser_ready = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)parse.text, parse.length);
    /* Not auto-detected: a UTF-16 file is refused, with a hint, like any
     * other bytes that are not UTF-8. */
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    if ((code = read_tree(&parse, &parser, &root)) != ERR_OK)
        goto done;
    if (root == NULL || is_null(root)) {
        code = fail(&parse, parse.root, NULL, "start with job: NAME",
                    "the file has no keys, expected a mapping of keys");
        goto done;
    }
    if (root->kind != NODE_MAPPING) {
        char got[QUOTE_BUFFER + 2];
        code = fail(&parse, root->mark, NULL, "start with job: NAME",
                    "expected a mapping of keys at the top level, got %s", describe(root, got));
        goto done;
    }
    parse.root = root->mark;

    if ((code = walk_mapping(&parse, "", root)) != ERR_OK
        || (code = check_required(&parse)) != ERR_OK || (code = check_rules(&parse)) != ERR_OK)
        goto done;

    *out = config;
    config = NULL;
done:
    node_free(root);
    if (parser_ready)
        yaml_parser_delete(&parser);
    config_free(config);
    return code;
}

int config_parse(const char *name, const char *text, size_t length, JobConfig **out, Error *err)
{
    return parse_text(name != NULL ? name : "(config)", text != NULL ? text : "",
                      text != NULL ? length : 0, out, err);
}

int config_load(const char *path, JobConfig **out, Error *err)
{
    int code = ERR_OK;
    FILE *file = NULL;
    char *buffer = NULL;

    *out = NULL;
    file = fopen(path, "rb");
    if (file == NULL) {
        code = error_set(err, ERR_CONFIG, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    /* One byte more than allowed, so that a file too large is seen as such. */
    buffer = malloc(CONFIG_MAX_BYTES + 1);
    if (buffer == NULL) {
        code = error_nomem(err, CONFIG_MAX_BYTES + 1);
        goto done;
    }
    size_t length = fread(buffer, 1, CONFIG_MAX_BYTES + 1, file);
    if (ferror(file)) {
        code = error_set(err, ERR_CONFIG, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    code = parse_text(path, buffer, length, out, err);
done:
    free(buffer);
    if (file != NULL)
        fclose(file);
    return code;
}

void config_free(JobConfig *config)
{
    if (config == NULL)
        return;
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (key_table[i].type == KEY_STRING || key_table[i].type == KEY_NAME)
            free(*(char **)field_of(config, &key_table[i]));
    free(config->path);
    free(config->text);
    free(config);
}

const char *config_strategy_name(StrategyBy by)
{
    switch (by) {
    case STRATEGY_SCORE:
        return "score";
    case STRATEGY_CATEGORY:
        return "category";
    case STRATEGY_EMBEDDING:
        return "embedding";
    case STRATEGY_EMBEDDING_SCORE:
        return "[embedding, score]";
    }
    return "unknown";
}

char *config_mask_conninfo(const char *conninfo)
{
    /* "***" can be longer than the password it replaces ("password=x"):
     * each replacement grows the text by at most 3 bytes, and there is at
     * most one per 9 bytes ("password=") plus the URI's, so twice the
     * length and a little is always enough. */
    size_t length = strlen(conninfo);
    char *masked = malloc(2 * length + 8);
    if (masked == NULL)
        return NULL;
    memcpy(masked, conninfo, length + 1);
    const char *scheme = strstr(masked, "://");
    if (scheme != NULL && (strncmp(masked, "postgresql://", 13) == 0
                           || strncmp(masked, "postgres://", 11) == 0)) {
        /* URI: user:password@host -> user:***@host; also ?password=... */
        char *authority = (char *)scheme + 3;
        char *at = strchr(authority, '@');
        char *slash = strchr(authority, '/');
        if (at != NULL && (slash == NULL || at < slash)) {
            char *colon = memchr(authority, ':', (size_t)(at - authority));
            if (colon != NULL) {
                memmove(colon + 4, at, strlen(at) + 1);
                memcpy(colon + 1, "***", 3);
            }
        }
    }
    /* key=value form, or a URI's query: password=... up to a space or & */
    for (char *p = strstr(masked, "password="); p != NULL; p = strstr(p + 1, "password=")) {
        if (p != masked && p[-1] != ' ' && p[-1] != '?' && p[-1] != '&' && p[-1] != '\t')
            continue;
        char *value = p + 9;
        char *end = value;
        if (*end == '\'') {
            for (end++; *end != '\0' && *end != '\''; end++)
                if (*end == '\\' && end[1] != '\0')
                    end++;
            if (*end == '\'')
                end++;
        } else {
            while (*end != '\0' && *end != ' ' && *end != '&' && *end != '\t')
                end++;
        }
        memmove(value + 3, end, strlen(end) + 1);
        memcpy(value, "***", 3);
    }
    return masked;
}

char *config_to_json(const JobConfig *config)
{
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    if (out == NULL)
        return NULL;
    const char *separator = "{";
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const KeySpec *spec = &key_table[i];
        if (spec->type == KEY_SECTION)
            continue;
        const void *field = spec->store == NULL ? field_of((JobConfig *)config, spec) : NULL;
        bool written = true;
        fputs(separator, out);
        json_string(out, spec->path);
        fputc(':', out);
        switch (spec->type) {
        case KEY_STRING:
        case KEY_NAME: {
            const char *value = *(char *const *)field;
            if (value == NULL) {
                fputs("null", out);
            } else if (strcmp(spec->path, "database.conninfo") == 0) {
                char *masked = config_mask_conninfo(value);
                json_string(out, masked != NULL ? masked : "***");
                free(masked);
            } else {
                json_string(out, value);
            }
            break;
        }
        case KEY_INT:
            fprintf(out, "%d", *(const int *)field);
            break;
        case KEY_INT64:
        case KEY_DURATION:
        case KEY_BYTES:
            fprintf(out, "%" PRId64, *(const int64_t *)field);
            break;
        case KEY_UINT64:
            if (config->strategy.seed_set)
                fprintf(out, "%" PRIu64, config->strategy.seed);
            else
                fputs("null", out);
            break;
        case KEY_DOUBLE:
            fprintf(out, "%.17g", *(const double *)field);
            break;
        case KEY_OPTIONAL_DOUBLE: {
            const OptionalDouble *value = field;
            if (value->set)
                fprintf(out, "%.17g", value->value);
            else
                fputs("null", out);
            break;
        }
        case KEY_DATE: {
            const DateBound *value = field;
            if (value->set)
                json_string(out, value->text);
            else
                fputs("null", out);
            break;
        }
        case KEY_STRATEGY_LIST:
            json_string(out, config_strategy_name(config->strategy.by));
            break;
        case KEY_ENUM: {
            int value = *(const int *)field;
            const char *name = "?";
            for (const Choice *choice = spec->choices; choice->name != NULL; choice++)
                if (choice->value == value)
                    name = choice->name;
            json_string(out, name);
            break;
        }
        default:
            written = false;
            fputs("null", out);
        }
        (void)written;
        separator = ",";
    }
    fputs("}", out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

KmeansOptions config_kmeans_options(const JobConfig *config)
{
    KmeansOptions options = {
        .algorithm = config->strategy.kmeans.algorithm,
        .metric = config->strategy.kmeans.metric,
        .cluster_count = config->strategy.clusters,
        .max_iterations = config->strategy.kmeans.max_iter,
        .restarts = config->strategy.kmeans.n_init,
        .batch_size = config->strategy.kmeans.batch_size,
        .tolerance = config->strategy.kmeans.tolerance,
    };
    return options;
}
