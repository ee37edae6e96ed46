/*
 * json: the one JSON writer. Strings are escaped per RFC 8259 (quote,
 * backslash, the short escapes for \b \f \n \r \t, \u00XX for the other
 * control bytes); bytes >= 0x80 pass through, so UTF-8 text stays UTF-8.
 * Numbers that are not finite have no JSON form: json_number writes null.
 *
 * It writes to a stdio stream and owns nothing. Callers check ferror() on
 * the stream once they are done, as with any stdio output.
 */
#ifndef PAIRPICK_JSON_H
#define PAIRPICK_JSON_H

#include <stdio.h>

/* Writes text (NULL: "") as a JSON string literal, quotes included. */
void json_string(FILE *out, const char *text);

/* Writes value with printf format (e.g. "%.6g"), or null when not finite. */
void json_number(FILE *out, const char *format, double value);

/*
 * Writes ,"name":value with %.6g, or ,"name":null when value is not finite.
 * name is a plain key (no characters that need escaping).
 */
void json_field_number(FILE *out, const char *name, double value);

#endif
