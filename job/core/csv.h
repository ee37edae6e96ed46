/*
 * csv: the one CSV writer (RFC 4180). Quotes inside a quoted field are
 * doubled. csv_field quotes a field only when it holds a comma, a quote or a
 * line break; csv_quoted always quotes (for fields such as ids whose
 * readers should never have to guess).
 *
 * It writes to a stdio stream and owns nothing; callers check ferror().
 */
#ifndef PAIRPICK_CSV_H
#define PAIRPICK_CSV_H

#include <stddef.h>
#include <stdio.h>

/* Writes the NUL-terminated text as one field, quoted only when needed. */
void csv_field(FILE *out, const char *text);

/* Writes the length bytes at text (NULL: none) as one quoted field. */
void csv_quoted(FILE *out, const char *text, size_t length);

#endif
