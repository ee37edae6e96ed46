/*
 * rules: checks between keys (see rules.h).
 */
#include "config/rules.h"
#include "config/message.h"
#include "numeric/model.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

/* The string a key holds; NULL when it is not set. */
static const char *string_at(const KeyWalk *walk, const char *path)
{
    return *(char **)schema_field(walk->config, &schema_table[schema_index(path)]);
}

static int fail_at_value(const KeyWalk *walk, const char *path, const char *hint, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

/* "PATH: body" at the value of the key at path. */
static int fail_at_value(const KeyWalk *walk, const char *path, const char *hint, const char *fmt,
                         ...)
{
    va_list args;
    va_start(args, fmt);
    int code = message_failv(walk->doc, keys_value_mark(walk, path), path, hint, fmt, args);
    va_end(args);
    return code;
}

/* Exactly one of source.table and source.query. */
static int check_source(const KeyWalk *walk)
{
    bool table = keys_present(walk, "source.table"), query = keys_present(walk, "source.query");
    if (table && query)
        return fail_at_value(walk, "source.query",
                             "keep table for a table or view, query for a SELECT of your own",
                             "cannot be combined with source.table (at %zu:%zu), expected "
                             "exactly one of them",
                             keys_value_mark(walk, "source.table").line,
                             keys_value_mark(walk, "source.table").column);
    if (!table && !query)
        return message_fail(walk->doc, keys_nearest_mark(walk, "source.table"), "source",
                            "add table: SCHEMA.TABLE or query: \"SELECT ...\" under source",
                            "expected source.table or source.query, got neither");
    return ERR_OK;
}

static int check_bounds(const KeyWalk *walk, const char *min_path, const char *max_path)
{
    const OptionalDouble *min = schema_field(walk->config, &schema_table[schema_index(min_path)]);
    const OptionalDouble *max = schema_field(walk->config, &schema_table[schema_index(max_path)]);
    if (min->set && max->set && min->value > max->value)
        return fail_at_value(walk, max_path, NULL, "expected a number >= %s (%.15g), got %.15g",
                             min_path, min->value, max->value);
    return ERR_OK;
}

/* Either last, or from and to; and from no later than to. */
static int check_dates(const KeyWalk *walk)
{
    const DateBound *from = &walk->config->filters.date_from;
    const DateBound *to = &walk->config->filters.date_to;
    if (keys_present(walk, "filters.date.last") && (from->set || to->set))
        return fail_at_value(walk, "filters.date.last", "keep either last, or from and to",
                             "cannot be combined with %s, expected either last or from/to",
                             from->set ? "filters.date.from" : "filters.date.to");
    if (from->set && to->set && from->date_only && to->date_only
        && strcmp(from->text, to->text) > 0)
        return fail_at_value(walk, "filters.date.to", NULL,
                             "expected a date on or after filters.date.from (%s), got \"%s\"",
                             from->text, to->text);
    return ERR_OK;
}

/* The first key given under filter when column is not set. */
static int check_filter_column(const KeyWalk *walk, const char *filter, const char *column)
{
    if (string_at(walk, column) != NULL)
        return ERR_OK;
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (!walk->present[i] || schema_child_name(schema_table[i].path, filter) == NULL)
            continue;
        char hint[128];
        snprintf(hint, sizeof hint, "add %s: COLUMN under source", strrchr(column, '.') + 1);
        return message_fail(walk->doc, walk->key_mark[i], schema_table[i].path, hint,
                            "needs %s, which is not set", column);
    }
    return ERR_OK;
}

static int check_filter_columns(const KeyWalk *walk)
{
    for (size_t f = 0; f < sizeof filter_columns / sizeof filter_columns[0]; f++) {
        int code = check_filter_column(walk, filter_columns[f].filter, filter_columns[f].column);
        if (code != ERR_OK)
            return code;
    }
    return ERR_OK;
}

/* Strategy options that need a column, or a strategy, to mean anything. */
static int check_strategy_options(const KeyWalk *walk)
{
    const JobConfig *config = walk->config;
    /* A defaulted prefer needs no check: informative is the default only with
     * by: score, whose own missing column check_strategy_columns names. */
    if (config->strategy.prefer != INFORM_RANDOM && config->source.score == NULL
        && keys_present(walk, "strategy.prefer"))
        return fail_at_value(walk, "strategy.prefer",
                             "add score: COLUMN under source, or prefer: random", "%s",
                             config->strategy.prefer == INFORM_UNCERTAIN
                                 ? "uncertain needs source.score, which is not set"
                                 : "informative needs source.score, which is not set");
    if (config->strategy.max_similarity.set && config->source.embedding == NULL)
        return fail_at_value(walk, "strategy.max_similarity", "add embedding: COLUMN under source",
                             "needs source.embedding, which is not set");
    if (config->strategy.explore_fraction > 0 && config->strategy.by == STRATEGY_CATEGORY)
        return fail_at_value(walk, "strategy.explore_fraction",
                             "bridges join adjacent score bins or nearest clusters; use by: "
                             "score, embedding or [embedding, score]",
                             "expected 0 with by: category, whose categories have no "
                             "neighbours, got %g",
                             config->strategy.explore_fraction);
    return ERR_OK;
}

/*
 * The columns of `columns` that are not set, as "a and b" in missing and
 * "add a: COLUMN and b: COLUMN" in hint. Returns how many.
 */
static size_t list_missing(const KeyWalk *walk, const char *const columns[2], char *missing,
                           size_t missing_size, char *hint, size_t hint_size)
{
    size_t count = 0;
    for (size_t c = 0; c < 2 && columns[c] != NULL; c++) {
        const char *path = columns[c];
        if (string_at(walk, path) != NULL)
            continue;
        size_t used = strlen(missing), hint_used = strlen(hint);
        snprintf(missing + used, missing_size - used, "%s%s", count > 0 ? " and " : "", path);
        snprintf(hint + hint_used, hint_size - hint_used, "%s%s: COLUMN",
                 count > 0 ? " and " : "add ", strrchr(path, '.') + 1);
        count++;
    }
    return count;
}

/* The source columns strategy.by reads. */
static int check_strategy_columns(const KeyWalk *walk)
{
    StrategyBy by = walk->config->strategy.by;
    for (size_t s = 0; s < sizeof strategy_columns / sizeof strategy_columns[0]; s++) {
        if (strategy_columns[s].by != by)
            continue;
        char missing[128] = "", hint[256] = "";
        size_t count = list_missing(walk, strategy_columns[s].columns, missing, sizeof missing,
                                    hint, sizeof hint);
        if (count == 0)
            continue;
        size_t used = strlen(hint);
        snprintf(hint + used, sizeof hint - used, " under source");
        return fail_at_value(walk, "strategy.by", hint, "%s needs %s, which %s not set",
                             config_strategy_name(by), missing, count > 1 ? "are" : "is");
    }
    return ERR_OK;
}

/* The k-means options that only a stored model uses, given without one. */
static int check_model_options(const KeyWalk *walk)
{
    static const char *const needs_model[] = {"strategy.kmeans.fit_sample",
                                              "strategy.kmeans.refit_after", "strategy.kmeans.pca"};
    for (size_t i = 0; i < sizeof needs_model / sizeof needs_model[0]; i++)
        if (keys_present(walk, needs_model[i]))
            return message_fail(walk->doc, keys_key_mark(walk, needs_model[i]), needs_model[i],
                                "add clusters_from: MODEL under strategy; `pairpick fit` "
                                "stores it under that name",
                                "applies to a stored cluster model, and "
                                "strategy.clusters_from is not set");
    return ERR_OK;
}

/* Stored cluster models: a name to read them by, and only for embedding strategies. */
static int check_model(const KeyWalk *walk)
{
    const JobConfig *config = walk->config;
    const char *from = config->strategy.clusters_from;
    if (from == NULL)
        return check_model_options(walk);
    char name[MODEL_NAME_MAX];
    int version;
    if (!model_parse_ref(from, name, &version))
        return fail_at_value(walk, "strategy.clusters_from", NULL,
                             "expected MODEL or MODEL@VERSION (a version >= 1), got \"%s\"", from);
    if (config->strategy.by != STRATEGY_EMBEDDING
        && config->strategy.by != STRATEGY_EMBEDDING_SCORE)
        return fail_at_value(walk, "strategy.clusters_from",
                             "use strategy.by: embedding or [embedding, score]",
                             "needs an embedding strategy, strategy.by is %s",
                             config_strategy_name(config->strategy.by));
    if (version > 0 && keys_present(walk, "strategy.kmeans.refit_after"))
        return fail_at_value(
            walk, "strategy.kmeans.refit_after", "drop @VERSION to follow the latest version",
            "cannot refit a pinned version (strategy.clusters_from is \"%s\")", from);
    return ERR_OK;
}

void rules_apply_defaults(KeyWalk *walk)
{
    if (!keys_present(walk, "strategy.prefer") && walk->config->strategy.by == STRATEGY_SCORE)
        walk->config->strategy.prefer = INFORM_INFORMATIVE;
}

int rules_check(const KeyWalk *walk)
{
    int code;
    if ((code = check_source(walk)) != ERR_OK
        || (code = check_bounds(walk, "filters.score.min", "filters.score.max")) != ERR_OK
        || (code = check_bounds(walk, "filters.variance.min", "filters.variance.max")) != ERR_OK
        || (code = check_dates(walk)) != ERR_OK || (code = check_filter_columns(walk)) != ERR_OK
        || (code = check_strategy_options(walk)) != ERR_OK
        || (code = check_strategy_columns(walk)) != ERR_OK)
        return code;
    return check_model(walk);
}
