#include "core/csv.h"

#include <string.h>

void csv_quoted(FILE *out, const char *text, size_t length)
{
    fputc('"', out);
    for (size_t i = 0; text != NULL && i < length; i++) {
        if (text[i] == '"')
            fputc('"', out);
        fputc(text[i], out);
    }
    fputc('"', out);
}

void csv_field(FILE *out, const char *text)
{
    if (strpbrk(text, ",\"\r\n") == NULL)
        fputs(text, out);
    else
        csv_quoted(out, text, strlen(text));
}
