/*
 * message: the one form every config error takes,
 *   NAME:LINE:COLUMN: PATH: what is wrong
 *   HINT: what to do
 * and the quoting of values shown in it, so that a value holding quotes,
 * control bytes or a megabyte of text reads as one short line.
 *
 * It formats into the document's Error record and owns nothing.
 */
#ifndef PAIRPICK_CONFIG_MESSAGE_H
#define PAIRPICK_CONFIG_MESSAGE_H

#include <stdarg.h>
#include <stddef.h>

#include "config/document.h"

/* Messages show at most this many bytes of a value or key. */
#define QUOTE_MAX 64
/* What message_quote writes at most, its NUL included. */
#define QUOTE_BUFFER (QUOTE_MAX * 4 + 8)

/*
 * Sets doc->err to ERR_CONFIG with "NAME:LINE:COL: PATH: body", the path
 * part left out when path is NULL, and "\nHINT: hint" when hint is not NULL.
 * Returns ERR_CONFIG.
 */
int message_fail(const Document *doc, Mark at, const char *path, const char *hint, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

/* message_fail with a va_list. */
int message_failv(const Document *doc, Mark at, const char *path, const char *hint, const char *fmt,
                  va_list args) __attribute__((format(printf, 5, 0)));

/*
 * Copies text into buf (QUOTE_BUFFER bytes) with quotes, backslashes and
 * control characters escaped, shortened to QUOTE_MAX bytes on a character
 * boundary with "..." after. Returns buf.
 */
const char *message_quote(char *buf, const char *text, size_t length);

#endif
