#include "run/labels.h"

#include "core/csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int labels_write(const char *path, const Images *images, const Categories *categories, Error *err)
{
    char *temp = NULL;
    char name[256];
    FILE *out = NULL;
    int code = ERR_OK;

    if (asprintf(&temp, "%s.tmp", path) < 0)
        return error_nomem(err, strlen(path) + 5);
    if ((out = fopen(temp, "w")) == NULL) {
        code = error_set(err, ERR_USAGE, "cannot write labels file '%s': %s", temp, strerror(errno));
        goto done;
    }
    fputs("id,label\n", out);
    for (size_t row = 0; row < images->count; row++) {
        int32_t category = categories->category_of[row];
        csv_field(out, images_id(images, row));
        fputc(',', out);
        /* An empty field is an image not paired; an empty category value is
         * quoted, "" (as PostgreSQL's COPY CSV tells NULL from ''). */
        if (category >= 0) {
            const char *label = categorize_name(categories, images, category, name, sizeof name);
            if (label[0] == '\0')
                fputs("\"\"", out);
            else
                csv_field(out, label);
        }
        fputc('\n', out);
    }
    if (ferror(out)) {
        code = error_set(err, ERR_USAGE, "cannot write labels file '%s': %s", temp, strerror(errno));
        fclose(out);
        unlink(temp);
        goto done;
    }
    if (fclose(out) != 0) {
        code = error_set(err, ERR_USAGE, "cannot write labels file '%s': %s", temp, strerror(errno));
        unlink(temp);
        goto done;
    }
    if (rename(temp, path) != 0) {
        code = error_set(err, ERR_USAGE, "cannot rename '%s' to '%s': %s", temp, path,
                         strerror(errno));
        unlink(temp);
    }
done:
    free(temp);
    return code;
}
