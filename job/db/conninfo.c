#include "db/conninfo.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What takes the place of a secret, and of text that cannot be parsed. */
#define MASK "***"
#define UNPARSABLE "(a connection string libpq cannot parse)"

bool db_conninfo_is_string(const char *text)
{
    /* libpq's own test (recognized_connection_string in fe-connect.c). */
    return strncmp(text, "postgresql://", 13) == 0 || strncmp(text, "postgres://", 11) == 0
           || strchr(text, '=') != NULL;
}

/* Whether libpq marks the option secret ("*": never shown, e.g. password). */
static bool is_secret(const PQconninfoOption *option)
{
    return option->dispchar != NULL && strchr(option->dispchar, '*') != NULL;
}

/* Appends value in single quotes, with ' and \ escaped as libpq reads them. */
static void quote_value(FILE *out, const char *value)
{
    fputc('\'', out);
    for (const char *c = value; *c != '\0'; c++) {
        if (*c == '\'' || *c == '\\')
            fputc('\\', out);
        fputc(*c, out);
    }
    fputc('\'', out);
}

char *db_mask_conninfo(const char *conninfo)
{
    if (!db_conninfo_is_string(conninfo))
        return strdup(conninfo);
    char *message = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &message);
    if (options == NULL) {
        PQfreemem(message);
        return strdup(UNPARSABLE);
    }
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    if (out != NULL) {
        const char *separator = "";
        for (const PQconninfoOption *option = options; option->keyword != NULL; option++) {
            if (option->val == NULL)
                continue;
            fprintf(out, "%s%s=", separator, option->keyword);
            quote_value(out, is_secret(option) ? MASK : option->val);
            separator = " ";
        }
        if (fclose(out) != 0) {
            free(text);
            text = NULL;
        }
    }
    PQconninfoFree(options);
    return text;
}

/* Whether word is the name of a libpq connection option. */
static bool is_keyword(const PQconninfoOption *defaults, const char *word, size_t length)
{
    for (const PQconninfoOption *option = defaults; option != NULL && option->keyword != NULL;
         option++)
        if (strlen(option->keyword) == length && strncmp(option->keyword, word, length) == 0)
            return true;
    return false;
}

/*
 * libpq's parse error with each quoted fragment that is not an option name
 * replaced by "***": the fragment can be the whole URI or a stray token of
 * the string, and so part of a password.
 */
static void redact_quoted(const char *message, char *out, size_t size)
{
    PQconninfoOption *defaults = PQconndefaults();
    size_t used = 0;
    const char *c = message;
    while (*c != '\0' && used + 1 < size) {
        const char *close = *c == '"' ? strchr(c + 1, '"') : NULL;
        if (close == NULL) {
            if (*c != '\n' || c[1] != '\0')
                out[used++] = *c;
            c++;
            continue;
        }
        size_t length = (size_t)(close - c - 1);
        const char *shown = is_keyword(defaults, c + 1, length) || length == 0 ? NULL : MASK;
        int written = shown != NULL ? snprintf(out + used, size - used, "\"%s\"", shown)
                                    : snprintf(out + used, size - used, "\"%.*s\"", (int)length,
                                               c + 1);
        used += written > 0 ? (size_t)written : 0;
        if (used >= size)
            used = size - 1;
        c = close + 1;
    }
    out[used] = '\0';
    PQconninfoFree(defaults);
}

/* Whether every comma-separated port of a multi-host string is 1-65535 (or empty). */
static bool ports_valid(const char *ports)
{
    const char *c = ports;
    while (*c != '\0') {
        long value = 0;
        int digits = 0;
        while (*c >= '0' && *c <= '9' && value <= 65535) {
            value = value * 10 + (*c++ - '0');
            digits++;
        }
        if ((*c != ',' && *c != '\0') || (digits > 0 && (value < 1 || value > 65535)))
            return false;
        if (*c == ',')
            c++;
    }
    return true;
}

int db_check_conninfo(const char *conninfo, Error *err)
{
    if (conninfo == NULL || !db_conninfo_is_string(conninfo))
        return ERR_OK;
    char *message = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &message);
    if (options == NULL) {
        char redacted[ERROR_MESSAGE_MAX / 2];
        redact_quoted(message != NULL ? message : "out of memory", redacted, sizeof redacted);
        PQfreemem(message);
        return error_set(err, ERR_CONFIG,
                         "database.conninfo is not a connection string libpq can read: %s"
                         "\nHINT: write key=value pairs or a postgresql:// URI; not retried",
                         redacted);
    }
    int code = ERR_OK;
    for (const PQconninfoOption *option = options; option->keyword != NULL; option++)
        if (strcmp(option->keyword, "port") == 0 && option->val != NULL
            && !ports_valid(option->val))
            code = error_set(err, ERR_CONFIG,
                             "database.conninfo: invalid port \"%s\": expected a number from 1 "
                             "to 65535; not retried",
                             option->val);
    PQconninfoFree(options);
    return code;
}
