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
        if (category >= 0)
            csv_field(out, categorize_name(categories, images, category, name, sizeof name));
        fputc('\n', out);
    }
    return sidefile_commit(file, err);
}
