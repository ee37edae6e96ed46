/*
 * keys: the one declaration of every key a job file may hold (keys_table:
 * dotted path, type, default, allowed range, required, and the JobConfig
 * field it fills) and the walk that enforces it on a tree. The walk refuses
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

#include "config/config.h"
#include "config/tree.h"

typedef enum {
    KEY_SECTION,         /* a mapping of further keys */
    KEY_STRING,          /* char *: ${VAR} expanded, non-empty */
    KEY_NAME,            /* char *: like KEY_STRING, and a valid job name */
    KEY_INT,             /* int in [min, max] */
    KEY_INT64,           /* int64_t in [min, max] */
    KEY_OPTIONAL_UINT64, /* uint64_t, and the bool at set_offset made true */
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

typedef struct {
    const char *path; /* dotted: "strategy.kmeans.max_iter" */
    KeyType type;
    size_t offset;         /* of the field in JobConfig (not for sections) */
    size_t set_offset;     /* KEY_OPTIONAL_UINT64: of its bool "was set" field */
    const char *fallback;  /* the default, written as in YAML; NULL: the field stays zero */
    int64_t min, max;      /* integers, durations (ms), byte sizes */
    double low, high;      /* doubles */
    const Choice *choices; /* enums, NULL-terminated */
    unsigned flags;
    const char *hint; /* shown when a required key is missing */
} KeySpec;

/* The number of rows in keys_table: a table of another length does not compile. */
#define KEY_COUNT 63
#define KEY_NOT_FOUND ((size_t)-1)

/* Every key; a parent comes before its children, in the order of the docs. */
extern const KeySpec keys_table[KEY_COUNT];

/* Where the keys of one file were, as the walk found them. */
typedef struct {
    const Document *doc;
    JobConfig *config;
    Mark root; /* the top-level mapping; 1:1 until it is read */
    bool present[KEY_COUNT];
    Mark key_mark[KEY_COUNT];
    Mark value_mark[KEY_COUNT];
} KeyWalk;

/* The row of a dotted path; KEY_NOT_FOUND when there is none. */
size_t keys_index(const char *path);

/* The last component of path when its parent is prefix ("" for the top level), else NULL. */
const char *keys_child_name(const char *path, const char *prefix);

/* The JobConfig field a key fills. */
void *keys_field(JobConfig *config, const KeySpec *spec);

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
