#include "run/labels.h"

#include "core/csv.h"
#include "core/sidefile.h"

int labels_write(const char *path, const Images *images, const Categories *categories, Error *err)
{
    char name[256];
    SideFile *file = sidefile_open(path, "labels file", err);
    if (file == NULL)
        return err->code;
    FILE *out = sidefile_stream(file);
    fputs("id,label\n", out);
    for (size_t row = 0; row < images->count && !ferror(out); row++) {
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
    return sidefile_commit(file, err);
}
