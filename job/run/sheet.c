#include "run/sheet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct Sheet {
    FILE *html;
    char *path;         /* out_dir/index.html, for messages */
    FILE *missing;      /* the missing list, "id\tsource" lines; NULL if it could not open */
    char *missing_text; /* what missing holds once closed */
    size_t missing_length;
    size_t missing_count;
};

static const char head_style[] =
    "</title>\n<style>body{font-family:sans-serif;margin:1em}"
    "table{border-collapse:collapse}td{border-top:1px solid #ccc;padding:6px;"
    "vertical-align:top}img{width:96px;height:96px;object-fit:cover;margin:2px}"
    ".ids{font:11px monospace;color:#555}.missing{color:#b00}</style></head>\n"
    "<body><h1>";

/* Tells the viewer (and the tests) how many thumbnails actually loaded. */
static const char load_script[] =
    "<p id=\"load-status\"></p>\n<script>\n"
    "window.addEventListener('load', function () {\n"
    "  var images = document.images, loaded = 0;\n"
    "  for (var i = 0; i < images.length; i++)\n"
    "    if (images[i].complete && images[i].naturalWidth > 0) loaded++;\n"
    "  document.body.setAttribute('data-images-loaded', loaded);\n"
    "  document.body.setAttribute('data-images-total', images.length);\n"
    "  document.getElementById('load-status').textContent =\n"
    "    loaded + ' of ' + images.length + ' images loaded';\n"
    "});\n</script>\n</body></html>\n";

static void html_text(FILE *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        switch (*p) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*p, out);
        }
    }
}

/* Percent-encodes a relative URL path (one segment or several). */
static void html_url(FILE *out, const char *path)
{
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
            || *p == '-' || *p == '_' || *p == '.' || *p == '/')
            fputc(*p, out);
        else
            fprintf(out, "%%%02X", *p);
    }
}

static void sheet_free(Sheet *sheet)
{
    if (sheet->missing != NULL)
        fclose(sheet->missing);
    free(sheet->missing_text);
    free(sheet->path);
    free(sheet);
}

int sheet_open(const char *out_dir, const char *job, int32_t category_count, size_t image_count,
               Sheet **out, Error *err)
{
    *out = NULL;
    Sheet *sheet = calloc(1, sizeof *sheet);
    if (sheet == NULL)
        return error_nomem(err, sizeof *sheet);
    if (asprintf(&sheet->path, "%s/index.html", out_dir) < 0) {
        sheet->path = NULL;
        sheet_free(sheet);
        return error_nomem(err, 0);
    }
    sheet->html = fopen(sheet->path, "w");
    if (sheet->html == NULL) {
        int code = error_set(err, ERR_DATA, "cannot write '%s': %s", sheet->path,
                             strerror(errno));
        sheet_free(sheet);
        return code;
    }
    sheet->missing = open_memstream(&sheet->missing_text, &sheet->missing_length);
    fprintf(sheet->html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pairpick: ");
    html_text(sheet->html, job);
    fputs(head_style, sheet->html);
    html_text(sheet->html, job);
    fprintf(sheet->html, ": %d categories of %zu images</h1>\n<table>\n"
                         "<tr><th>category</th><th>images</th><th>sample</th><th>ids</th></tr>\n",
            category_count, image_count);
    *out = sheet;
    return ERR_OK;
}

void sheet_category_begin(Sheet *sheet, const char *name, size_t image_count)
{
    fprintf(sheet->html, "<tr class=\"category\"><td>");
    html_text(sheet->html, name);
    fprintf(sheet->html, "</td><td>%zu</td><td>", image_count);
}

void sheet_image(Sheet *sheet, const char *folder, const char *file, const char *id)
{
    fprintf(sheet->html, "<img src=\"");
    html_url(sheet->html, folder);
    fputc('/', sheet->html);
    html_url(sheet->html, file);
    fprintf(sheet->html, "\" alt=\"");
    html_text(sheet->html, id);
    fprintf(sheet->html, "\" title=\"");
    html_text(sheet->html, id);
    fprintf(sheet->html, "\">");
}

void sheet_missing(Sheet *sheet, const char *id, const char *source)
{
    sheet->missing_count++;
    if (sheet->missing != NULL)
        fprintf(sheet->missing, "%s\t%s\n", id, source != NULL ? source : "(no image_path)");
}

void sheet_category_end(Sheet *sheet, const char *const *ids, size_t count)
{
    fprintf(sheet->html, "</td><td class=\"ids\">");
    for (size_t i = 0; i < count && i < SHEET_IDS_SHOWN; i++) {
        html_text(sheet->html, ids[i]);
        fprintf(sheet->html, "<br>");
    }
    fprintf(sheet->html, "</td></tr>\n");
}

/* The images that could not be placed, after the table. */
static void write_missing(Sheet *sheet)
{
    if (sheet->missing == NULL)
        return;
    fclose(sheet->missing);
    sheet->missing = NULL;
    if (sheet->missing_length == 0)
        return;
    fprintf(sheet->html,
            "<h2 class=\"missing\">%zu missing image files</h2>\n<pre class=\"missing\">",
            sheet->missing_count);
    html_text(sheet->html, sheet->missing_text);
    fprintf(sheet->html, "</pre>\n");
}

int sheet_close(Sheet *sheet, Error *err)
{
    int code = ERR_OK;
    fprintf(sheet->html, "</table>\n");
    write_missing(sheet);
    fputs(load_script, sheet->html);
    if (fclose(sheet->html) != 0)
        code = error_set(err, ERR_DATA, "cannot write '%s': %s", sheet->path, strerror(errno));
    sheet_free(sheet);
    return code;
}
