/*
 * json: the resolved config (defaults filled in, ${VAR} expanded) as one
 * JSON object keyed by dotted path, in the order of the key table, for the
 * run record; and the masking of the password in database.conninfo, which
 * that object and the logs use. Both are declared in config.h
 * (config_to_json, config_mask_conninfo) and return malloc'd text the
 * caller frees.
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
        const KeySpec *spec = &schema_table[i];
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
