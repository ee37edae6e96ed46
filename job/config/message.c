/*
 * message: positioned config errors and quoted values (see message.h).
 */
#include "config/message.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int message_failv(const Document *doc, Mark at, const char *path, const char *hint, const char *fmt,
                  va_list args)
{
    char body[ERROR_MESSAGE_MAX];
    vsnprintf(body, sizeof body, fmt, args);
    return error_set(doc->err, ERR_CONFIG, "%s:%zu:%zu: %s%s%s%s%s", doc->name, at.line, at.column,
                     path != NULL ? path : "", path != NULL ? ": " : "", body,
                     hint != NULL ? "\nHINT: " : "", hint != NULL ? hint : "");
}

int message_fail(const Document *doc, Mark at, const char *path, const char *hint, const char *fmt,
                 ...)
{
    va_list args;
    va_start(args, fmt);
    int code = message_failv(doc, at, path, hint, fmt, args);
    va_end(args);
    return code;
}

/* Where to cut text of `length` bytes: at most QUOTE_MAX, never inside a character. */
static size_t quote_cut(const char *text, size_t length)
{
    if (length <= QUOTE_MAX)
        return length;
    size_t cut = QUOTE_MAX;
    while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

const char *message_quote(char *buf, const char *text, size_t length)
{
    size_t cut = quote_cut(text, length);
    size_t out = 0;
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            buf[out++] = '\\';
            buf[out++] = (char)c;
        } else if (c < 0x20 || c == 0x7F) {
            out += (size_t)snprintf(buf + out, 5, "\\x%02X", c);
        } else {
            buf[out++] = (char)c;
        }
    }
    if (cut < length) {
        memcpy(buf + out, "...", 3);
        out += 3;
    }
    buf[out] = '\0';
    return buf;
}
