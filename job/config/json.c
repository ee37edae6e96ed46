/*
 * json: the resolved config (defaults filled in, ${VAR} expanded) as one
 * JSON object keyed by dotted path, in the order of the key table, for the
 * run record (config_to_json, declared in config.h; malloc'd text the
 * caller frees). database.conninfo goes through the mask function the
 * caller passes: reading a conninfo as libpq does is the db layer's.
 *
 * All JSON escaping is core/json.h's. It reads the config and changes
 * nothing.
 */
#include "core/json.h"
#include "config/config.h"
#include "config/keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the JSON object --------------------------------------------------- */

static const void *field_in(const JobConfig *config, const KeySpec *spec)
{
    return (const char *)config + spec->offset;
}

static void write_string(FILE *out, const KeySpec *spec, const char *value,
                         ConninfoMaskFn mask)
{
    if (value == NULL) {
        fputs("null", out);
    } else if (strcmp(spec->path, "database.conninfo") == 0) {
        char *masked = mask != NULL ? mask(value) : NULL;
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
static void write_value(FILE *out, const JobConfig *config, const KeySpec *spec,
                        ConninfoMaskFn mask)
{
    const void *field = field_in(config, spec);
    switch (spec->type) {
    case KEY_STRING:
    case KEY_NAME:
        write_string(out, spec, *(char *const *)field, mask);
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

char *config_to_json(const JobConfig *config, ConninfoMaskFn mask)
{
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    if (out == NULL)
        return NULL;
    const char *separator = "{";
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const KeySpec *spec = &schema_table[i];
        if (spec->type == KEY_SECTION)
            continue;
        fputs(separator, out);
        json_string(out, spec->path);
        fputc(':', out);
        write_value(out, config, spec, mask);
        separator = ",";
    }
    fputs("}", out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
