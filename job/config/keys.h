/*
 * keys: the walk that enforces the key table (schema.h) on a tree. It refuses
 * unknown keys (suggesting the key meant), duplicate keys and sections that
 * are not mappings; it hands each value to fields.h to be converted, and
 * records where each key was so that the rules between keys (rules.h) can
 * point at the right line afterwards.
 *
 * It does not convert values (fields.h, values.h) and does not relate keys
 * to each other beyond "required" (rules.h). The table is static; a KeyWalk
 * lives on its caller's stack and borrows the Document and the JobConfig.
 */
#ifndef PAIRPICK_CONFIG_KEYS_H
#define PAIRPICK_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/job.h"
#include "config/schema.h"
#include "config/tree.h"

/* Where the keys of one file were, as the walk found them. */
typedef struct {
    const Document *doc;
    JobConfig *config;
    Mark root; /* the top-level mapping; 1:1 until it is read */
    bool present[KEY_COUNT];
    Mark key_mark[KEY_COUNT];
    Mark value_mark[KEY_COUNT];
} KeyWalk;

/* Whether the file holds the key at path; its key's and its value's marks. */
bool keys_present(const KeyWalk *walk, const char *path);
Mark keys_key_mark(const KeyWalk *walk, const char *path);
Mark keys_value_mark(const KeyWalk *walk, const char *path);

/* Where to point at for a key that is absent: its nearest present ancestor. */
Mark keys_nearest_mark(const KeyWalk *walk, const char *path);

/* Stores every key's default, through the same conversions as the file's values. */
int keys_apply_defaults(KeyWalk *walk);

/* Enforces the table on the top-level mapping, storing each value it holds. */
int keys_walk(KeyWalk *walk, const Node *root);

/* ERR_CONFIG for the first required key the walk did not find. */
int keys_check_required(const KeyWalk *walk);

/* Frees the strings the table's keys own in config. */
void keys_free_strings(JobConfig *config);

#endif
