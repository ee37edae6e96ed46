#include "run/sample.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDS_SHOWN 3

void sample_folder_name(const char *name, char *buffer, size_t size)
{
    size_t w = 0;
    for (const char *p = name; *p != '\0' && w + 1 < size; p++) {
        char c = *p;
        bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '_' || c == '.' || c == '-';
        buffer[w++] = safe ? c : (c == ':' || c == '/' || c == ' ' ? '-' : '_');
    }
    buffer[w] = '\0';
    if (w == 0 || strcmp(buffer, ".") == 0 || strcmp(buffer, "..") == 0)
        snprintf(buffer, size, "category_");
}

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

static int make_dir(const char *path, Error *err)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return ERR_OK;
    return error_set(err, ERR_DATA, "cannot create folder '%s': %s", path, strerror(errno));
}

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY);
    if (in < 0)
        return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buffer[65536];
    ssize_t got;
    int status = 0;
    while ((got = read(in, buffer, sizeof buffer)) > 0) {
        if (write(out, buffer, (size_t)got) != got) {
            status = -1;
            break;
        }
    }
    if (got < 0)
        status = -1;
    close(in);
    if (close(out) != 0)
        status = -1;
    return status;
}

/* Replaces every {id} of template with id. */
static char *expand_template(const char *template, const char *id)
{
    size_t count = 0;
    for (const char *p = strstr(template, "{id}"); p != NULL; p = strstr(p + 4, "{id}"))
        count++;
    size_t length = strlen(template) + count * strlen(id) + 1;
    char *out = malloc(length);
    if (out == NULL)
        return NULL;
    char *w = out;
    const char *r = template;
    for (const char *p; (p = strstr(r, "{id}")) != NULL; r = p + 4) {
        memcpy(w, r, (size_t)(p - r));
        w = stpcpy(w + (p - r), id);
    }
    strcpy(w, r);
    return out;
}

/* The folder relative image paths start from. */
static char *image_root(const JobConfig *config)
{
    const char *root = config->source.image_root != NULL ? config->source.image_root : ".";
    if (root[0] == '/')
        return strdup(root);
    char *config_copy = strdup(config->path);
    if (config_copy == NULL)
        return NULL;
    char *joined = NULL;
    if (asprintf(&joined, "%s/%s", dirname(config_copy), root) < 0)
        joined = NULL;
    free(config_copy);
    return joined;
}

/*
 * Reads source.image_path for the sampled rows with one parameterized query
 * (ids as a text[] parameter), filling paths[row] for each sampled row.
 */
static int read_path_column(Db *db, const JobConfig *config, const Plan *plan,
                            const Images *images, const uint32_t *rows, size_t count,
                            char **paths, Error *err)
{
    char *id_column = NULL, *path_column = NULL, *sql = NULL, *array = NULL;
    DbResult *result = NULL;
    size_t length = 3;
    int code = ERR_OK;

    for (size_t i = 0; i < count; i++)
        length += 2 * strlen(images_id(images, rows[i])) + 3;
    array = malloc(length);
    if (array == NULL)
        return error_nomem(err, length);
    /* A text[] literal: every element double-quoted, " and \ escaped. */
    char *w = array;
    *w++ = '{';
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            *w++ = ',';
        *w++ = '"';
        for (const char *p = images_id(images, rows[i]); *p != '\0'; p++) {
            if (*p == '"' || *p == '\\')
                *w++ = '\\';
            *w++ = *p;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';

    id_column = db_quote_ident(db, config->source.id, err);
    path_column = id_column != NULL ? db_quote_ident(db, config->source.image_path, err) : NULL;
    if (path_column == NULL) {
        code = err->code;
        goto done;
    }
    if (asprintf(&sql, "SELECT source.%s::text, source.%s::text FROM %s AS source "
                       "WHERE source.%s::text = ANY ($1::text[])",
                 id_column, path_column, plan->source_sql, id_column)
        < 0) {
        sql = NULL;
        code = error_nomem(err, 0);
        goto done;
    }
    const char *params[1] = {array};
    if ((code = db_query(db, "read image paths", sql, 1, params, &result, err)) != ERR_OK)
        goto done;
    for (int r = 0; r < db_result_rows(result); r++) {
        if (db_result_is_null(result, r, 1))
            continue;
        int64_t row = images_find(images, db_result_value(result, r, 0),
                                  db_result_length(result, r, 0));
        if (row < 0)
            continue;
        for (size_t i = 0; i < count; i++) {
            if (rows[i] == (uint32_t)row && paths[i] == NULL) {
                paths[i] = strdup(db_result_value(result, r, 1));
                if (paths[i] == NULL) {
                    code = error_nomem(err, 0);
                    goto done;
                }
            }
        }
    }
done:
    db_result_free(result);
    free(sql);
    free(array);
    free(id_column);
    free(path_column);
    return code;
}

int sample_write(Db *db, const JobConfig *config, const Plan *plan, const Images *images,
                 const Categories *categories, const SampleOptions *options, Rng *rng,
                 SampleSummary *summary, Error *err)
{
    int code = ERR_OK;
    size_t n = images->count;
    int32_t k = categories->count;
    size_t per = options->per_category > 0 ? (size_t)options->per_category : 5;
    size_t *start = calloc((size_t)k + 1, sizeof *start);
    size_t *fill = calloc((size_t)k + 1, sizeof *fill);
    uint32_t *members = malloc((n > 0 ? n : 1) * sizeof *members);
    uint32_t *chosen = malloc(((size_t)k * per + 1) * sizeof *chosen);
    size_t *chosen_start = calloc((size_t)k + 1, sizeof *chosen_start);
    char **paths = NULL;
    char *root = image_root(config);
    FILE *html = NULL;
    char *html_path = NULL;

    memset(summary, 0, sizeof *summary);
    if (start == NULL || fill == NULL || members == NULL || chosen == NULL || chosen_start == NULL
        || root == NULL) {
        code = error_nomem(err, n * sizeof *members);
        goto done;
    }

    /* Members of each category, contiguous (counting sort). */
    for (size_t i = 0; i < n; i++)
        if (categories->category_of[i] >= 0)
            start[categories->category_of[i] + 1]++;
    for (int32_t c = 0; c < k; c++)
        start[c + 1] += start[c];
    for (size_t i = 0; i < n; i++) {
        int32_t c = categories->category_of[i];
        if (c >= 0)
            members[start[c] + fill[c]++] = (uint32_t)i;
    }
    /* A seeded partial shuffle picks each category's sample. */
    size_t total = 0;
    for (int32_t c = 0; c < k; c++) {
        size_t size = start[c + 1] - start[c];
        size_t take = size < per ? size : per;
        uint32_t *group = members + start[c];
        chosen_start[c] = total;
        for (size_t j = 0; j < take; j++) {
            size_t pick = j + (size_t)rng_below(rng, size - j);
            uint32_t swap = group[j];
            group[j] = group[pick];
            group[pick] = swap;
            chosen[total++] = group[j];
        }
    }
    chosen_start[k] = total;

    paths = calloc(total + 1, sizeof *paths);
    if (paths == NULL) {
        code = error_nomem(err, total * sizeof *paths);
        goto done;
    }
    if (config->source.image_path == NULL) {
        code = error_set(err, ERR_CONFIG, "%s: source.image_path is not set"
                                          "\nHINT: name a column, or a template such as "
                                          "images/{id}.jpg",
                         config->path);
        goto done;
    }
    if (strstr(config->source.image_path, "{id}") != NULL) {
        for (size_t i = 0; i < total; i++) {
            paths[i] = expand_template(config->source.image_path, images_id(images, chosen[i]));
            if (paths[i] == NULL) {
                code = error_nomem(err, 0);
                goto done;
            }
        }
    } else if (total > 0
               && (code = read_path_column(db, config, plan, images, chosen, total, paths, err))
                      != ERR_OK) {
        goto done;
    }

    if ((code = make_dir(options->out_dir, err)) != ERR_OK)
        goto done;
    if (asprintf(&html_path, "%s/index.html", options->out_dir) < 0) {
        html_path = NULL;
        code = error_nomem(err, 0);
        goto done;
    }
    html = fopen(html_path, "w");
    if (html == NULL) {
        code = error_set(err, ERR_DATA, "cannot write '%s': %s", html_path, strerror(errno));
        goto done;
    }
    fprintf(html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pairpick: ");
    html_text(html, config->job);
    fprintf(html, "</title>\n<style>body{font-family:sans-serif;margin:1em}"
                  "table{border-collapse:collapse}td{border-top:1px solid #ccc;padding:6px;"
                  "vertical-align:top}img{width:96px;height:96px;object-fit:cover;margin:2px}"
                  ".ids{font:11px monospace;color:#555}.missing{color:#b00}</style></head>\n"
                  "<body><h1>");
    html_text(html, config->job);
    fprintf(html, ": %d categories of %zu images</h1>\n<table>\n"
                  "<tr><th>category</th><th>images</th><th>sample</th><th>ids</th></tr>\n",
            k, n);

    char name[256], folder[256], *missing_list = NULL;
    size_t missing_length = 0;
    FILE *missing = open_memstream(&missing_list, &missing_length);
    for (int32_t c = 0; c < k && code == ERR_OK; c++) {
        categorize_name(categories, images, c, name, sizeof name);
        sample_folder_name(name, folder, sizeof folder);
        char *dir = NULL;
        if (asprintf(&dir, "%s/%s", options->out_dir, folder) < 0) {
            code = error_nomem(err, 0);
            break;
        }
        if ((code = make_dir(dir, err)) != ERR_OK) {
            free(dir);
            break;
        }
        fprintf(html, "<tr class=\"category\"><td>");
        html_text(html, name);
        fprintf(html, "</td><td>%zu</td><td>", start[c + 1] - start[c]);
        for (size_t i = chosen_start[c]; i < chosen_start[c + 1]; i++) {
            const char *id = images_id(images, chosen[i]);
            char *source = NULL, *target = NULL;
            const char *path = paths[i];
            if (path == NULL) {
                summary->images_missing++;
                if (missing != NULL)
                    fprintf(missing, "%s\t(no image_path)\n", id);
                continue;
            }
            if (path[0] == '/' ? asprintf(&source, "%s", path) < 0
                               : asprintf(&source, "%s/%s", root, path) < 0) {
                code = error_nomem(err, 0);
                break;
            }
            char *base = strrchr(source, '/');
            base = base != NULL ? base + 1 : source;
            if (asprintf(&target, "%s/%s", dir, base) < 0) {
                free(source);
                code = error_nomem(err, 0);
                break;
            }
            char absolute[PATH_MAX];
            bool present = realpath(source, absolute) != NULL && access(absolute, R_OK) == 0;
            int placed = -1;
            if (present) {
                unlink(target);
                placed = options->copy ? copy_file(absolute, target) : symlink(absolute, target);
            }
            if (placed == 0) {
                summary->images_placed++;
                fprintf(html, "<img src=\"");
                html_url(html, folder);
                fputc('/', html);
                html_url(html, base);
                fprintf(html, "\" alt=\"");
                html_text(html, id);
                fprintf(html, "\" title=\"");
                html_text(html, id);
                fprintf(html, "\">");
            } else {
                summary->images_missing++;
                if (missing != NULL)
                    fprintf(missing, "%s\t%s\n", id, source);
            }
            free(source);
            free(target);
        }
        fprintf(html, "</td><td class=\"ids\">");
        for (size_t i = chosen_start[c]; i < chosen_start[c + 1] && i < chosen_start[c] + IDS_SHOWN; i++) {
            html_text(html, images_id(images, chosen[i]));
            fprintf(html, "<br>");
        }
        fprintf(html, "</td></tr>\n");
        free(dir);
    }
    fprintf(html, "</table>\n");
    if (missing != NULL) {
        fclose(missing);
        if (missing_length > 0) {
            fprintf(html, "<h2 class=\"missing\">%zu missing image files</h2>\n<pre class=\"missing\">",
                    summary->images_missing);
            html_text(html, missing_list);
            fprintf(html, "</pre>\n");
        }
        free(missing_list);
    }
    /* Tells the viewer (and the tests) how many thumbnails actually loaded. */
    fprintf(html, "<p id=\"load-status\"></p>\n<script>\n"
                  "window.addEventListener('load', function () {\n"
                  "  var images = document.images, loaded = 0;\n"
                  "  for (var i = 0; i < images.length; i++)\n"
                  "    if (images[i].complete && images[i].naturalWidth > 0) loaded++;\n"
                  "  document.body.setAttribute('data-images-loaded', loaded);\n"
                  "  document.body.setAttribute('data-images-total', images.length);\n"
                  "  document.getElementById('load-status').textContent =\n"
                  "    loaded + ' of ' + images.length + ' images loaded';\n"
                  "});\n</script>\n</body></html>\n");
    summary->categories = (size_t)k;

done:
    if (html != NULL && fclose(html) != 0 && code == ERR_OK)
        code = error_set(err, ERR_DATA, "cannot write '%s': %s", html_path, strerror(errno));
    if (paths != NULL)
        for (size_t i = 0; i < total; i++)
            free(paths[i]);
    free(paths);
    free(html_path);
    free(root);
    free(start);
    free(fill);
    free(members);
    free(chosen);
    free(chosen_start);
    return code;
}
