#include "core/json.h"

#include <math.h>

void json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)(text != NULL ? text : ""); *p != '\0'; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void json_number(FILE *out, const char *format, double value)
{
    if (isfinite(value))
        fprintf(out, format, value);
    else
        fputs("null", out);
}

void json_field_number(FILE *out, const char *name, double value)
{
    fprintf(out, ",\"%s\":", name);
    json_number(out, "%.6g", value);
}
