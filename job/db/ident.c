#include "db/ident.h"

#include <stdlib.h>
#include <string.h>

char *ident_quote_offline(void *context, const char *ident, Error *err)
{
    (void)context;
    size_t length = strlen(ident);
    char *quoted = malloc(2 * length + 3);
    if (quoted == NULL) {
        error_nomem(err, 2 * length + 3);
        return NULL;
    }
    char *out = quoted;
    *out++ = '"';
    for (const char *in = ident; *in != '\0'; in++) {
        if (*in == '"')
            *out++ = '"';
        *out++ = *in;
    }
    *out++ = '"';
    *out = '\0';
    return quoted;
}

/*
 * Reads one part of name at *in (quoted or bare) into part, moving *in past
 * it. Returns the part's length, or -1 for an unterminated quote.
 */
static long read_part(const char **in, char *part)
{
    const char *p = *in;
    size_t length = 0;
    if (*p == '"') {
        /* A quoted part may hold dots; "" stands for one quote. */
        p++;
        for (;;) {
            if (*p == '\0')
                return -1;
            if (*p == '"') {
                if (p[1] != '"')
                    break;
                p++;
            }
            part[length++] = *p++;
        }
        p++;
    } else {
        while (*p != '\0' && *p != '.')
            part[length++] = *p++;
    }
    part[length] = '\0';
    *in = p;
    return (long)length;
}

char *ident_quote_name(const char *name, QuoteIdentFn quote, void *quote_context, Error *err)
{
    char *quoted[2] = {NULL, NULL};
    char *result = NULL;
    char *part = malloc(strlen(name) + 1);
    const char *in = name;
    int parts = 0;

    if (part == NULL) {
        error_nomem(err, strlen(name) + 1);
        return NULL;
    }
    for (;;) {
        long length = read_part(&in, part);
        if (length <= 0 || parts >= 2 || (*in != '\0' && *in != '.'))
            goto invalid;
        if ((quoted[parts++] = quote(quote_context, part, err)) == NULL)
            goto done;
        if (*in == '\0')
            break;
        in++;
    }
    size_t size = strlen(quoted[0]) + (parts > 1 ? strlen(quoted[1]) + 1 : 0) + 1;
    if ((result = malloc(size)) == NULL) {
        error_nomem(err, size);
        goto done;
    }
    strcpy(result, quoted[0]);
    if (parts > 1) {
        strcat(result, ".");
        strcat(result, quoted[1]);
    }
    goto done;

invalid:
    error_set(err, ERR_CONFIG, "invalid table name \"%s\"\nHINT: write table or schema.table; "
                               "double-quote a part that contains a dot",
              name);
done:
    free(quoted[0]);
    free(quoted[1]);
    free(part);
    return result;
}
