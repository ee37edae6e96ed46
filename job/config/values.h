/*
 * values: what the text of one config value means. Decimal integers and
 * numbers, durations (values_parse_duration; config.h has it as config_parse_duration), byte sizes,
 * dates and timestamps, job names, and ${VAR} expansion from the
 * environment.
 *
 * Text in, a value or a status out: no YAML, no keys, no messages. Which
 * key a value belongs to, and what to tell the user when it is wrong, is
 * fields.h. values_expand allocates the string it returns; the caller frees
 * it.
 */
#ifndef PAIRPICK_CONFIG_VALUES_H
#define PAIRPICK_CONFIG_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/job.h"

typedef enum {
    VALUE_OK,
    VALUE_INVALID, /* not the form asked for */
    VALUE_RANGE    /* the form, but too large, or not a finite number */
} ValueStatus;

/*
 * Decimal integers only. YAML 1.1 reads 010 as octal, 0x10 as hex and 1_000
 * as 1000; rather than guess which the writer meant, those are refused.
 */
ValueStatus values_integer(const char *text, int64_t *value);

/* Like values_integer, without a sign: "-1" is VALUE_INVALID, not a wrap. */
ValueStatus values_unsigned(const char *text, uint64_t *value);

/* Decimal numbers; no hex floats; .inf, .nan and overflows are VALUE_RANGE. */
ValueStatus values_double(const char *text, double *value);

/*
 * Byte sizes: a plain integer is bytes; kB/KB, MB, GB, TB are powers of
 * 1000 and KiB, MiB, GiB, TiB powers of 1024, as in Kubernetes and the SI.
 */
bool values_byte_size(const char *text, int64_t *bytes);

/*
 * YYYY-MM-DD with a real calendar, or YYYY-MM-DD[T ]HH:MM[:SS[.frac]] with
 * an optional Z or +HH[:MM] zone. The text is kept as written: PostgreSQL
 * reads both forms, and a timestamp without a zone means the server's zone.
 * *out is written only when the text is a date.
 */
bool values_date(const char *text, DateBound *out);

/* 1 to 63 characters from A-Z, a-z, 0-9, '_', '.' and '-'. */
bool values_is_job_name(const char *name);

typedef enum {
    EXPAND_OK,
    EXPAND_UNTERMINATED, /* a "${" without its "}" */
    EXPAND_BAD_NAME,     /* ${...} whose name is not A-Z, a-z, 0-9, '_' */
    EXPAND_UNSET,        /* ${NAME} without a default, NAME not in the environment */
    EXPAND_NO_MEMORY
} ExpandStatus;

/* What went wrong, for the message. */
typedef struct {
    size_t start, length; /* EXPAND_BAD_NAME: the reference "${...}" within the text */
    char name[256];       /* EXPAND_UNSET: the variable */
    size_t bytes;         /* EXPAND_NO_MEMORY: the allocation that failed */
} ExpandProblem;

/*
 * ${VAR} and ${VAR:-default} from the environment ("default" when VAR is
 * unset or empty, as in the shell); $$ is a literal $; any other $ is kept.
 * A default cannot hold "}". On EXPAND_OK *out is a new string; otherwise
 * *out is NULL and *problem says why.
 */
ExpandStatus values_expand(const char *text, char **out, ExpandProblem *problem);

/*
 * Parses a duration such as "500ms", "30s", "10min", "12h", "7d" into
 * milliseconds. Returns false when the text is not a duration.
 */
bool values_parse_duration(const char *text, int64_t *milliseconds);

#endif
