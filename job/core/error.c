#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void error_clear(Error *err)
{
    if (err == NULL)
        return;
    err->code = ERR_OK;
    err->message[0] = '\0';
}

int error_set(Error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, args);
        va_end(args);
        err->code = code;
    }
    return code;
}

int error_nomem(Error *err, size_t bytes)
{
    return error_set(err, ERR_INTERNAL, "out of memory allocating %zu bytes", bytes);
}
