/*
 * config: a job's YAML file into a JobConfig (see config.h).
 *
 * The steps, each its own module: tree.h reads the YAML into nodes with
 * their positions; keys.h fills in the defaults, then walks the tree against
 * the table of keys, with fields.h converting each value (values.h reads
 * the text); rules.h checks what relates several keys. The JSON form
 * for the run record follows below.
 */
#include "config/config.h"
#include "config/keys.h"
#include "config/message.h"
#include "config/rules.h"
#include "config/tree.h"
#include "core/json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A job file is a few hundred bytes; the cap bounds what a mistaken or
 * hostile file (a log, a binary, a generated monster) costs before it is
 * refused. */
#define CONFIG_MAX_BYTES ((size_t)1 << 20)

/* A JobConfig with its own copy of the file's name and bytes, all else zero.
 * On failure the caller frees *out. */
static int config_new(const char *name, const char *text, size_t length, JobConfig **out,
                      Error *err)
{
    JobConfig *config = calloc(1, sizeof *config);
    *out = config;
    if (config == NULL)
        return error_nomem(err, sizeof *config);
    config->path = strdup(name);
    config->text = malloc(length + 1);
    if (config->path == NULL || config->text == NULL)
        return error_nomem(err, length + 1);
    if (length > 0)
        memcpy(config->text, text, length);
    config->text[length] = '\0';
    config->text_length = length;
    return ERR_OK;
}

/* The top level must be a mapping of keys. */
static int check_root(const Document *doc, const Node *root)
{
    if (root == NULL || tree_is_null(root))
        return message_fail(doc, (Mark){1, 1}, NULL, "start with job: NAME",
                            "the file has no keys, expected a mapping of keys");
    if (root->kind != NODE_MAPPING) {
        char got[QUOTE_BUFFER + 2];
        return message_fail(doc, root->mark, NULL, "start with job: NAME",
                            "expected a mapping of keys at the top level, got %s",
                            message_describe(root, got));
    }
    return ERR_OK;
}

static int parse_text(const char *name, const char *text, size_t length, JobConfig **out,
                      Error *err)
{
    Document doc = {.name = name, .err = err};
    KeyWalk walk = {.doc = &doc, .root = {1, 1}};
    JobConfig *config = NULL;
    Node *root = NULL;
    int code;

    *out = NULL;
    if (length > CONFIG_MAX_BYTES)
        return message_fail(&doc, walk.root, NULL,
                            "a job file is a few hundred bytes: is this the right file?",
                            "the file is too large, expected at most %zu bytes (1 MiB)",
                            CONFIG_MAX_BYTES);
    if ((code = config_new(name, text, length, &config, err)) != ERR_OK)
        goto done;
    doc = (Document){.name = config->path, .text = config->text, .length = length, .err = err};
    walk.config = config;

    if ((code = keys_apply_defaults(&walk)) != ERR_OK || (code = tree_read(&doc, &root)) != ERR_OK
        || (code = check_root(&doc, root)) != ERR_OK || (code = keys_walk(&walk, root)) != ERR_OK
        || (code = keys_check_required(&walk)) != ERR_OK || (code = rules_check(&walk)) != ERR_OK)
        goto done;

    *out = config;
    config = NULL;
done:
    tree_free(root);
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
    keys_free_strings(config);
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

/* ---- masking ----------------------------------------------------------- */

/* URI: user:password@host -> user:***@host. */
static void mask_uri_password(char *masked)
{
    const char *scheme = strstr(masked, "://");
    if (scheme == NULL
        || (strncmp(masked, "postgresql://", 13) != 0 && strncmp(masked, "postgres://", 11) != 0))
        return;
    char *authority = (char *)scheme + 3;
    char *at = strchr(authority, '@');
    char *slash = strchr(authority, '/');
    if (at == NULL || (slash != NULL && at > slash))
        return;
    char *colon = memchr(authority, ':', (size_t)(at - authority));
    if (colon != NULL) {
        memmove(colon + 4, at, strlen(at) + 1);
        memcpy(colon + 1, "***", 3);
    }
}

/* Where a password value ends: after its closing quote, or at a space, '&' or tab. */
static char *password_end(char *value)
{
    char *end = value;
    if (*end != '\'') {
        while (*end != '\0' && *end != ' ' && *end != '&' && *end != '\t')
            end++;
        return end;
    }
    for (end++; *end != '\0' && *end != '\''; end++)
        if (*end == '\\' && end[1] != '\0')
            end++;
    return *end == '\'' ? end + 1 : end;
}

/* key=value form, or a URI's query: password=... up to a space or &. */
static void mask_password_parameters(char *masked)
{
    for (char *p = strstr(masked, "password="); p != NULL; p = strstr(p + 1, "password=")) {
        if (p != masked && p[-1] != ' ' && p[-1] != '?' && p[-1] != '&' && p[-1] != '\t')
            continue;
        char *value = p + 9;
        char *end = password_end(value);
        memmove(value + 3, end, strlen(end) + 1);
        memcpy(value, "***", 3);
    }
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
    mask_uri_password(masked);
    mask_password_parameters(masked);
    return masked;
}

/* ---- the JSON object --------------------------------------------------- */

static const void *field_in(const JobConfig *config, const KeySpec *spec)
{
    return (const char *)config + spec->offset;
}

static void write_string(FILE *out, const KeySpec *spec, const char *value)
{
    if (value == NULL) {
        fputs("null", out);
    } else if (strcmp(spec->path, "database.conninfo") == 0) {
        char *masked = config_mask_conninfo(value);
        json_string(out, masked != NULL ? masked : "***");
        free(masked);
    } else {
        json_string(out, value);
    }
}

static void write_enum(FILE *out, const KeySpec *spec, int value)
{
    const char *name = "?";
    for (const Choice *choice = spec->choices; choice->name != NULL; choice++)
        if (choice->value == value)
            name = choice->name;
    json_string(out, name);
}

static void write_optional_uint64(FILE *out, const JobConfig *config, const KeySpec *spec)
{
    if (*(const bool *)((const char *)config + spec->set_offset))
        fprintf(out, "%" PRIu64, *(const uint64_t *)field_in(config, spec));
    else
        fputs("null", out);
}

static void write_optional_double(FILE *out, const OptionalDouble *value)
{
    if (value->set)
        json_number(out, "%.17g", value->value);
    else
        fputs("null", out);
}

static void write_date(FILE *out, const DateBound *value)
{
    if (value->set)
        json_string(out, value->text);
    else
        fputs("null", out);
}

/* One key's value in its JSON form. */
static void write_value(FILE *out, const JobConfig *config, const KeySpec *spec)
{
    const void *field = field_in(config, spec);
    switch (spec->type) {
    case KEY_STRING:
    case KEY_NAME:
        write_string(out, spec, *(char *const *)field);
        return;
    case KEY_INT:
        fprintf(out, "%d", *(const int *)field);
        return;
    case KEY_INT64:
    case KEY_DURATION:
    case KEY_BYTES:
        fprintf(out, "%" PRId64, *(const int64_t *)field);
        return;
    case KEY_OPTIONAL_UINT64:
        write_optional_uint64(out, config, spec);
        return;
    case KEY_DOUBLE:
        json_number(out, "%.17g", *(const double *)field);
        return;
    case KEY_OPTIONAL_DOUBLE:
        write_optional_double(out, field);
        return;
    case KEY_DATE:
        write_date(out, field);
        return;
    case KEY_STRATEGY_LIST:
        json_string(out, config_strategy_name(*(const StrategyBy *)field));
        return;
    case KEY_ENUM:
        write_enum(out, spec, *(const int *)field);
        return;
    case KEY_SECTION:
        break;
    }
    fputs("null", out);
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
        const KeySpec *spec = &keys_table[i];
        if (spec->type == KEY_SECTION)
            continue;
        fputs(separator, out);
        json_string(out, spec->path);
        fputc(':', out);
        write_value(out, config, spec);
        separator = ",";
    }
    fputs("}", out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
