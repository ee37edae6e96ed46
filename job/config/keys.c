/*
 * keys: the walk that enforces the key table on a tree (see keys.h).
 */
#include "config/keys.h"
#include "config/fields.h"
#include "config/message.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The row of the child of prefix named key (not NUL-terminated). */
static size_t find_child(const char *prefix, const char *key, size_t key_length)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const char *name = schema_child_name(schema_table[i].path, prefix);
        if (name != NULL && strlen(name) == key_length && memcmp(name, key, key_length) == 0)
            return i;
    }
    return KEY_NOT_FOUND;
}

bool keys_present(const KeyWalk *walk, const char *path)
{
    size_t index = schema_index(path);
    return index != KEY_NOT_FOUND && walk->present[index];
}

Mark keys_key_mark(const KeyWalk *walk, const char *path)
{
    return walk->key_mark[schema_index(path)];
}

Mark keys_value_mark(const KeyWalk *walk, const char *path)
{
    return walk->value_mark[schema_index(path)];
}

Mark keys_nearest_mark(const KeyWalk *walk, const char *path)
{
    char parent[128];
    snprintf(parent, sizeof parent, "%s", path);
    for (char *dot = strrchr(parent, '.'); dot != NULL; dot = strrchr(parent, '.')) {
        *dot = '\0';
        size_t index = schema_index(parent);
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
        const char *name = schema_child_name(schema_table[i].path, prefix);
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
        const char *last = strrchr(schema_table[i].path, '.');
        last = last != NULL ? last + 1 : schema_table[i].path;
        if (edit_distance(key->value, key->length, last) == 0) {
            matches++;
            suggestion = schema_table[i].path;
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
        const char *name = schema_child_name(schema_table[i].path, prefix);
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
                            "expected a key name, got %s", tree_describe(key, got));
    }
    size_t index = find_child(prefix, key->value, key->length);
    if (index == KEY_NOT_FOUND)
        return fail_unknown_key(walk, prefix, key);
    const KeySpec *spec = &schema_table[index];
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
        const KeySpec *spec = &schema_table[i];
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
        const KeySpec *spec = &schema_table[i];
        if ((spec->flags & KEY_REQUIRED) && !walk->present[i])
            return message_fail(walk->doc, keys_nearest_mark(walk, spec->path), spec->path,
                                spec->hint, "required key is missing");
    }
    return ERR_OK;
}

void keys_free_strings(JobConfig *config)
{
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (schema_table[i].type == KEY_STRING || schema_table[i].type == KEY_NAME)
            free(*(char **)schema_field(config, &schema_table[i]));
}
