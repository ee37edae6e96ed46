/*
 * schema: the one declaration of every key a job file may hold (the table:
 * dotted path, type, default, allowed range, required, and the JobConfig
 * field it fills), and lookups in it.
 *
 * It does not read files or convert values; keys.h walks a tree against
 * the table and fields.h converts each value. The table is static.
 */
#ifndef PAIRPICK_CONFIG_SCHEMA_H
#define PAIRPICK_CONFIG_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "config/job.h"

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

/* The number of rows in schema_table: a table of another length does not compile. */
#define KEY_COUNT 64
#define KEY_NOT_FOUND ((size_t)-1)

/* Every key; a parent comes before its children, in the order of the docs. */
extern const KeySpec schema_table[KEY_COUNT];

/* The row of a dotted path; KEY_NOT_FOUND when there is none. */
size_t schema_index(const char *path);

/* The last component of path when its parent is prefix ("" for the top level), else NULL. */
const char *schema_child_name(const char *path, const char *prefix);

/* The JobConfig field a key fills. */
void *schema_field(JobConfig *config, const KeySpec *spec);

#endif
