#include "run/sheet.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/sidefile.h"
#include "numeric/model.h"

/* A cluster whose share moved this many points since the fit is marked in the index. */
#define SHEET_SHIFT_POINTS 1.0

struct Sheet {
    SideFile *file;     /* index.html, written whole or not at all (core/sidefile) */
    FILE *html;         /* its stream */
    char *path;         /* out_dir/index.html */
    const SheetCategory *categories;
    const SheetScale *scale;
    size_t total;       /* images in all categories, for shares */
    const Report *report;
    int32_t current;    /* the category begun last */
    FILE *absent;       /* the list of absent images, as HTML list items */
    char *absent_text;  /* what absent holds once closed */
    size_t absent_length;
    size_t missing_count, refused_count;
};

static const char page_style[] =
    "<style>\n"
    "body{font:14px/1.35 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}\n"
    "header{background:#24323f;color:#eee;padding:12px 20px}\n"
    "header h1{font-size:20px;margin:0 0 8px}\n"
    "dl.run{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}\n"
    "dl.run dt{color:#9fb3c8}dl.run dd{margin:0}\n"
    "main{padding:8px 20px 40px}\n"
    "h2{font-size:16px;margin:0 0 4px}\n"
    "a{color:#0b5cad}\n"
    "#index table{border-collapse:collapse;font-size:13px}\n"
    "#index th,#index td{padding:2px 10px;text-align:right;border-bottom:1px solid #e4e4e4}\n"
    "#index th{background:#eef1f4;position:sticky;top:0}\n"
    "#index th[data-sort]{cursor:pointer;color:#0b5cad}\n"
    "#index td.name,#index th.name{text-align:left}\n"
    "#index .bar{display:inline-block;height:8px;background:#7aa6d6;vertical-align:middle}\n"
    "section.category{display:flex;gap:16px;padding:10px 0;border-top:1px solid #ddd}\n"
    ".meta{flex:0 0 230px;font-size:13px}\n"
    ".meta p{margin:2px 0}.meta .top{font-size:12px}\n"
    ".axis{display:flex;justify-content:space-between;width:200px;font-size:11px;color:#666}\n"
    "svg.histogram{display:block;margin-top:4px;background:#fff;border:1px solid #ddd}\n"
    ".thumbs{display:flex;flex-wrap:wrap;gap:8px;align-content:flex-start}\n"
    "figure{margin:0;width:128px}\n"
    "figure img,figure .gap{display:block;width:128px;height:128px;object-fit:cover;"
    "background:#eee;border:1px solid #ccc}\n"
    "figure .gap{display:flex;align-items:center;justify-content:center;color:#b00;"
    "font-size:12px;box-sizing:border-box}\n"
    "figcaption{font:11px/1.3 monospace;color:#444;display:flex;gap:4px}\n"
    "figcaption .id{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;flex:1}\n"
    "figcaption .score{font-weight:bold;color:#222}\n"
    "#index td.shift{color:#c05600;font-weight:bold}\n"
    ".drift{color:#555}.absent h2,.absent li{color:#b00}\n"
    "#load-status{color:#666;font-size:12px}\n"
    "</style>\n";

/*
 * Sorts the index by a column when its header is clicked (again: the
 * other way), and after loading tells the viewer (and the tests) how many
 * thumbnails loaded and how many index links find their section.
 */
static const char page_script[] =
    "<script>\n"
    "document.querySelectorAll('#index th[data-sort]').forEach(function (th) {\n"
    "  th.addEventListener('click', function () {\n"
    "    var key = th.getAttribute('data-sort'), body = document.querySelector('#index tbody');\n"
    "    var down = th.getAttribute('data-down') !== 'true';\n"
    "    th.setAttribute('data-down', down);\n"
    "    var rows = Array.prototype.slice.call(body.rows);\n"
    "    rows.sort(function (a, b) {\n"
    "      var x = a.getAttribute('data-' + key), y = b.getAttribute('data-' + key);\n"
    "      var order = isNaN(x) ? x.localeCompare(y) : Number(x) - Number(y);\n"
    "      return down ? -order : order;\n"
    "    });\n"
    "    rows.forEach(function (row) { body.appendChild(row); });\n"
    "  });\n"
    "});\n"
    "window.addEventListener('load', function () {\n"
    "  var images = document.images, loaded = 0;\n"
    "  for (var i = 0; i < images.length; i++)\n"
    "    if (images[i].complete && images[i].naturalWidth > 0) loaded++;\n"
    "  var links = document.querySelectorAll('#index a[href^=\"#\"]'), found = 0;\n"
    "  for (var j = 0; j < links.length; j++)\n"
    "    if (document.getElementById(decodeURIComponent(links[j].hash.slice(1)))) found++;\n"
    "  document.body.setAttribute('data-images-loaded', loaded);\n"
    "  document.body.setAttribute('data-images-total', images.length);\n"
    "  document.body.setAttribute('data-anchors-found', found);\n"
    "  document.body.setAttribute('data-anchors-total', links.length);\n"
    "  document.getElementById('load-status').textContent = loaded + ' of ' +\n"
    "    images.length + ' images loaded; ' + found + ' of ' + links.length +\n"
    "    ' index links find their category';\n"
    "});\n"
    "</script>\n";

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

/* A category's anchor: "c-" and its folder name (folder names are URL-safe). */
static void html_anchor(FILE *out, const SheetCategory *category)
{
    fputs("c-", out);
    html_url(out, category->folder);
}

static void sheet_free(Sheet *sheet)
{
    if (sheet->absent != NULL)
        fclose(sheet->absent);
    free(sheet->absent_text);
    free(sheet->path);
    free(sheet);
}

/* The stored model and how the rows read now fall into its clusters. */
static void write_model(Sheet *sheet)
{
    FILE *out = sheet->html;
    const ClusterModel *model = sheet->report->model.stored;
    if (model == NULL)
        return;
    fputs("<dt>model</dt><dd>", out);
    html_text(out, model->name);
    fprintf(out, " version %d%s, %s, k=%d, fitted ", model->version,
            sheet->report->model.refitted ? " (refitted)" : "", model_metric_name(model->metric),
            model->cluster_count);
    html_text(out, model->fitted_at[0] != '\0' ? model->fitted_at : "now");
    fprintf(out, " on %" PRIu64 " rows", model->fit_rows);
    if (model->has_pca)
        fprintf(out, ", PCA %zu &rarr; %zu dimensions (%.1f%% of the variance)", model->dim,
                model->pca.components, 100.0 * model->pca.variance_kept);
    fputs("</dd>\n", out);
    const ModelDrift *drift = sheet->report->model.drift;
    if (drift == NULL || drift->total == 0)
        return;
    int largest = 0;
    double distance_now = 0, distance_fit = 0;
    for (int k = 0; k < drift->cluster_count; k++) {
        if (fabs(model_drift_share(drift, k) - model->fit_share[k])
            > fabs(model_drift_share(drift, largest) - model->fit_share[largest]))
            largest = k;
        distance_now += model_drift_share(drift, k) * model_drift_mean_distance(drift, k);
        distance_fit += model->fit_share[k] * model->fit_mean_distance[k];
    }
    fprintf(out, "<dt>drift</dt><dd>%" PRIu64 " rows assigned; largest share change %.1f points "
                 "(cluster %d: %.1f%% now, %.1f%% at fit); mean distance to the centre %.3f now, "
                 "%.3f at fit</dd>\n",
            drift->total,
            100.0 * fabs(model_drift_share(drift, largest) - model->fit_share[largest]), largest,
            100.0 * model_drift_share(drift, largest), 100.0 * model->fit_share[largest],
            distance_now, distance_fit);
}

static void write_header(Sheet *sheet, int32_t count, size_t per_category)
{
    FILE *out = sheet->html;
    const Report *report = sheet->report;
    char made[64] = "";
    time_t now = time(NULL);
    struct tm local;
    if (localtime_r(&now, &local) != NULL)
        strftime(made, sizeof made, "%Y-%m-%d %H:%M:%S %z", &local);
    fputs("<header><h1>pairpick contact sheet: ", out);
    html_text(out, report->job);
    fputs("</h1>\n<dl class=\"run\">\n<dt>made</dt><dd>", out);
    html_text(out, made);
    fprintf(out, " in %.1f s</dd>\n<dt>seed</dt><dd>%" PRIu64 "</dd>\n<dt>strategy</dt><dd>",
            report->seconds, report->seed);
    html_text(out, report->strategy != NULL ? report->strategy : "");
    fprintf(out, "</dd>\n<dt>rows</dt><dd>%" PRIu64 " read, %" PRIu64 " skipped; %zu images in "
                 "%d categories; up to %zu sampled from each</dd>\n",
            report->counts.rows_read, report->counts.rows_skipped, sheet->total, count,
            per_category);
    if (report->memory.mode != NULL) {
        fputs("<dt>memory</dt><dd>", out);
        html_text(out, report->memory.mode);
        if (report->memory.note[0] != '\0') {
            fputs(": ", out);
            html_text(out, report->memory.note);
        }
        fputs("</dd>\n", out);
    }
    write_model(sheet);
    fputs("</dl></header>\n", out);
}

static void write_score_range(FILE *out, const SheetCategory *category)
{
    if (category->has_scores)
        fprintf(out, "%.3g &ndash; %.3g", category->score_min, category->score_max);
}

/* This run's share of the cluster against the share at fit time. */
static bool cluster_drift(const Sheet *sheet, const SheetCategory *category, double *now,
                          double *at_fit, double *distance_now, double *distance_fit)
{
    const ClusterModel *model = sheet->report->model.stored;
    const ModelDrift *drift = sheet->report->model.drift;
    if (model == NULL || drift == NULL || drift->total == 0 || category->cluster < 0
        || category->cluster >= drift->cluster_count)
        return false;
    *now = 100.0 * model_drift_share(drift, category->cluster);
    *at_fit = 100.0 * model->fit_share[category->cluster];
    *distance_now = model_drift_mean_distance(drift, category->cluster);
    *distance_fit = model->fit_mean_distance[category->cluster];
    return true;
}

/* The index: one row per category, a link to its section. */
static void write_index(Sheet *sheet, int32_t count)
{
    FILE *out = sheet->html;
    bool model = sheet->report->model.stored != NULL && sheet->report->model.drift != NULL;
    size_t largest = 1;
    for (int32_t c = 0; c < count; c++)
        if (sheet->categories[c].size > largest)
            largest = sheet->categories[c].size;
    fputs("<section id=\"index\"><h2>Categories</h2>\n<table><thead><tr>"
          "<th data-sort=\"order\">#</th><th class=\"name\" data-sort=\"name\">category</th>"
          "<th data-sort=\"size\" title=\"click to sort by size\">images &#x25BE;</th>"
          "<th class=\"name\"></th><th>share</th><th>scores</th><th>sampled</th>",
          out);
    if (model)
        fputs("<th>share at fit</th><th>distance now / at fit</th>", out);
    fputs("</tr></thead>\n<tbody>\n", out);
    for (int32_t c = 0; c < count; c++) {
        const SheetCategory *category = &sheet->categories[c];
        fprintf(out, "<tr data-order=\"%d\" data-size=\"%zu\" data-name=\"", c, category->size);
        html_text(out, category->name);
        fprintf(out, "\"><td>%d</td><td class=\"name\"><a href=\"#", c + 1);
        html_anchor(out, category);
        fputs("\">", out);
        html_text(out, category->name);
        fprintf(out, "</a></td><td>%zu</td><td class=\"name\"><span class=\"bar\" "
                     "style=\"width:%.0fpx\"></span></td><td>%.1f%%</td><td>",
                category->size, 80.0 * (double)category->size / (double)largest,
                sheet->total > 0 ? 100.0 * (double)category->size / (double)sheet->total : 0.0);
        write_score_range(out, category);
        fprintf(out, "</td><td>%zu</td>", category->sampled);
        double now, at_fit, distance_now, distance_fit;
        if (model && cluster_drift(sheet, category, &now, &at_fit, &distance_now, &distance_fit))
            fprintf(out, "<td%s>%.1f%%</td><td>%.3f / %.3f</td>",
                    fabs(now - at_fit) >= SHEET_SHIFT_POINTS ? " class=\"shift\"" : "", at_fit,
                    distance_now, distance_fit);
        else if (model)
            fputs("<td></td><td></td>", out);
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table></section>\n", out);
}

int sheet_open(const char *out_dir, const Report *report, const SheetScale *scale,
               const SheetCategory *categories, int32_t count, size_t per_category,
               Sheet **out, Error *err)
{
    *out = NULL;
    Sheet *sheet = calloc(1, sizeof *sheet);
    if (sheet == NULL)
        return error_nomem(err, sizeof *sheet);
    sheet->categories = categories;
    sheet->scale = scale;
    sheet->report = report;
    sheet->current = -1;
    for (int32_t c = 0; c < count; c++)
        sheet->total += categories[c].size;
    if (asprintf(&sheet->path, "%s/index.html", out_dir) < 0) {
        sheet->path = NULL;
        sheet_free(sheet);
        return error_nomem(err, 0);
    }
    if ((sheet->absent = open_memstream(&sheet->absent_text, &sheet->absent_length)) == NULL) {
        sheet_free(sheet);
        return error_nomem(err, 0);
    }
    if ((sheet->file = sidefile_open(sheet->path, "contact sheet", err)) == NULL) {
        int code = err->code;
        sheet_free(sheet);
        return code;
    }
    sheet->html = sidefile_stream(sheet->file);
    FILE *html = sheet->html;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width\"><title>pairpick: ",
          html);
    html_text(html, report->job);
    fputs("</title>\n", html);
    fputs(page_style, html);
    fputs("</head>\n<body>\n", html);
    write_header(sheet, count, per_category);
    fputs("<main>\n<p id=\"load-status\"></p>\n", html);
    write_index(sheet, count);
    *out = sheet;
    return ERR_OK;
}

/* The category's members by score, as bars over the sheet's score axis. */
static void write_histogram(Sheet *sheet, const SheetCategory *category)
{
    FILE *out = sheet->html;
    const SheetScale *scale = sheet->scale;
    const int width = 200, height = 40, bar = width / SHEET_HISTOGRAM_BINS;
    uint32_t tallest = 1;
    for (int b = 0; b < SHEET_HISTOGRAM_BINS; b++)
        if (category->histogram[b] > tallest)
            tallest = category->histogram[b];
    fprintf(out, "<svg class=\"histogram\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "role=\"img\" aria-label=\"scores\">",
            width, height, width, height);
    double step = (scale->max - scale->min) / SHEET_HISTOGRAM_BINS;
    for (int b = 0; b < SHEET_HISTOGRAM_BINS; b++) {
        if (category->histogram[b] == 0)
            continue;
        double tall = (height - 2) * (double)category->histogram[b] / (double)tallest;
        if (tall < 1)
            tall = 1;
        fprintf(out, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"#4a7fb5\">"
                     "<title>%.3g to %.3g: %u</title></rect>",
                b * bar, height - tall, bar - 1, tall, scale->min + b * step,
                scale->min + (b + 1) * step, category->histogram[b]);
    }
    fprintf(out, "</svg><div class=\"axis\"><span>%.3g</span><span>score</span><span>%.3g</span>"
                 "</div>\n",
            scale->min, scale->max);
}

void sheet_category_begin(Sheet *sheet, int32_t category_index)
{
    FILE *out = sheet->html;
    const SheetCategory *category = &sheet->categories[category_index];
    sheet->current = category_index;
    fputs("<section class=\"category\" id=\"", out);
    html_anchor(out, category);
    fputs("\"><div class=\"meta\"><h2><a href=\"#", out);
    html_anchor(out, category);
    fputs("\">", out);
    html_text(out, category->name);
    fprintf(out, "</a></h2>\n<p>%zu images (%.1f%%), %zu sampled</p>\n", category->size,
            sheet->total > 0 ? 100.0 * (double)category->size / (double)sheet->total : 0.0,
            category->sampled);
    if (category->has_scores) {
        fputs("<p>scores ", out);
        write_score_range(out, category);
        fprintf(out, ", mean %.3g</p>\n", category->score_mean);
        if (sheet->scale->has_scores && sheet->scale->max > sheet->scale->min)
            write_histogram(sheet, category);
    }
    double now, at_fit, distance_now, distance_fit;
    if (cluster_drift(sheet, category, &now, &at_fit, &distance_now, &distance_fit))
        fprintf(out, "<p class=\"drift\">cluster %d: %.1f%% of the rows now, %.1f%% at fit; "
                     "mean distance %.3f now, %.3f at fit</p>\n",
                category->cluster, now, at_fit, distance_now, distance_fit);
    fputs("<a class=\"top\" href=\"#index\">&uarr; categories</a></div>\n<div class=\"thumbs\">\n",
          out);
}

static void write_caption(FILE *out, const char *id, double score)
{
    fputs("<figcaption><span class=\"id\" title=\"", out);
    html_text(out, id);
    fputs("\">", out);
    html_text(out, id);
    fputs("</span>", out);
    if (!isnan(score))
        fprintf(out, "<span class=\"score\">%.3g</span>", score);
    fputs("</figcaption>", out);
}

void sheet_image(Sheet *sheet, const char *folder, const char *file, const char *id,
                 double score)
{
    FILE *out = sheet->html;
    fputs("<figure><a href=\"", out);
    html_url(out, folder);
    fputc('/', out);
    html_url(out, file);
    fputs("\"><img src=\"", out);
    html_url(out, folder);
    fputc('/', out);
    html_url(out, file);
    fputs("\" alt=\"", out);
    html_text(out, id);
    fputs("\"></a>", out);
    write_caption(out, id, score);
    fputs("</figure>\n", out);
}

void sheet_absent(Sheet *sheet, SheetAbsence why, const char *id, const char *source,
                  const char *reason)
{
    const char *word = why == SHEET_REFUSED ? "refused" : "missing";
    if (why == SHEET_REFUSED)
        sheet->refused_count++;
    else
        sheet->missing_count++;
    if (sheet->current >= 0) {
        fprintf(sheet->html, "<figure class=\"absent\"><div class=\"gap\">%s</div>", word);
        write_caption(sheet->html, id, NAN);
        fputs("</figure>\n", sheet->html);
    }
    FILE *list = sheet->absent;
    fprintf(list, "<li class=\"%s\">%s: ", word, word);
    html_text(list, id);
    fputs(" &ndash; ", list);
    html_text(list, source != NULL ? source : "(no image_path)");
    if (reason != NULL) {
        fputs(" (", list);
        html_text(list, reason);
        fputc(')', list);
    }
    fputs("</li>\n", list);
}

void sheet_category_end(Sheet *sheet)
{
    fputs("</div></section>\n", sheet->html);
    sheet->current = -1;
}

/* The images that could not be placed, after the categories. */
static void write_absent(Sheet *sheet)
{
    fclose(sheet->absent);
    sheet->absent = NULL;
    if (sheet->missing_count + sheet->refused_count == 0)
        return;
    fprintf(sheet->html,
            "<section class=\"absent\" id=\"absent\"><h2>%zu images not shown: %zu missing image "
            "files, %zu refused</h2>\n<ul>\n",
            sheet->missing_count + sheet->refused_count, sheet->missing_count,
            sheet->refused_count);
    if (sheet->absent_text != NULL)
        fwrite(sheet->absent_text, 1, sheet->absent_length, sheet->html);
    fputs("</ul></section>\n", sheet->html);
}

int sheet_close(Sheet *sheet, bool commit, Error *err)
{
    int code = ERR_OK;
    if (!commit) {
        sidefile_abandon(sheet->file);
        sheet_free(sheet);
        return ERR_OK;
    }
    write_absent(sheet);
    fputs("</main>\n", sheet->html);
    fputs(page_script, sheet->html);
    fputs("</body></html>\n", sheet->html);
    code = sidefile_commit(sheet->file, err);
    sheet_free(sheet);
    return code;
}
