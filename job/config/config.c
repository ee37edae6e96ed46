/*
 * config: a job's YAML file into a JobConfig (see config.h).
 *
 * The steps, each its own module: tree.h reads the YAML into nodes with
 * their positions; keys.h fills in the defaults, then walks the tree against
 * the table of keys, with fields.h converting each value (values.h reads
 * the text); rules.h fills in the defaults that depend on another key and
 * checks what relates several keys. json.c writes the result back out for
 * the run record.
 */
#include "config/config.h"
#include "config/keys.h"
#include "config/message.h"
#include "config/rules.h"
#include "config/tree.h"
#include "config/values.h"

#include <errno.h>
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
                            tree_describe(root, got));
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
        return message_fail(
            &doc, walk.root, NULL, "a job file is a few hundred bytes: is this the right file?",
            "the file is too large, expected at most %zu bytes (1 MiB)", CONFIG_MAX_BYTES);
    if ((code = config_new(name, text, length, &config, err)) != ERR_OK)
        goto done;
    doc = (Document){.name = config->path, .text = config->text, .length = length, .err = err};
    walk.config = config;

    if ((code = keys_apply_defaults(&walk)) != ERR_OK || (code = tree_read(&doc, &root)) != ERR_OK
        || (code = check_root(&doc, root)) != ERR_OK || (code = keys_walk(&walk, root)) != ERR_OK
        || (code = keys_check_required(&walk)) != ERR_OK)
        goto done;
    rules_apply_defaults(&walk);
    if ((code = rules_check(&walk)) != ERR_OK)
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

bool config_parse_duration(const char *text, int64_t *milliseconds)
{
    return values_parse_duration(text, milliseconds);
}
