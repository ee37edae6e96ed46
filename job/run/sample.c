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

#include "read/assign.h"
#include "read/stream.h"
#include "run/selection.h"
#include "run/sheet.h"

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

/* A text[] literal of the rows' ids: every element double-quoted, " and \ escaped. */
static char *text_array_literal(const Images *images, const uint32_t *rows, size_t count)
{
    size_t length = 3;
    for (size_t i = 0; i < count; i++)
        length += 2 * strlen(images_id(images, rows[i])) + 3;
    char *array = malloc(length);
    if (array == NULL)
        return NULL;
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
    return array;
}

/* paths[i] for each of rows whose id a row of result (id, path) holds. */
static int fill_paths(const DbResult *result, const Images *images, const uint32_t *rows,
                      size_t count, char **paths, Error *err)
{
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
                if (paths[i] == NULL)
                    return error_nomem(err, 0);
            }
        }
    }
    return ERR_OK;
}

/*
 * Reads source.image_path for the sampled rows with one parameterized query
 * (ids as a text[] parameter), filling paths[row] for each sampled row.
 */
static int read_path_column(Db *db, const JobConfig *config, const Plan *plan,
                            const Images *images, const uint32_t *rows, size_t count,
                            char **paths, Error *err)
{
    char *id_column = NULL, *path_column = NULL, *sql = NULL;
    DbResult *result = NULL;
    int code = ERR_OK;
    char *array = text_array_literal(images, rows, count);
    if (array == NULL)
        return error_nomem(err, 0);

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
    if ((code = db_query(db, "read image paths", sql, 1, params, &result, err)) == ERR_OK)
        code = fill_paths(result, images, rows, count, paths, err);
done:
    db_result_free(result);
    free(sql);
    free(array);
    free(id_column);
    free(path_column);
    return code;
}

/* The sampled rows, category after category, and where their images are. */
typedef struct Draw {
    size_t *start;        /* category c's members: members[start[c] .. start[c + 1]) */
    uint32_t *members;    /* every categorized row, grouped by category */
    size_t *chosen_start; /* category c's sample: chosen[chosen_start[c] .. chosen_start[c + 1]) */
    uint32_t *chosen;     /* the sampled rows, grouped by category */
    size_t total;         /* how many rows were sampled */
    char **paths;         /* per sampled row: its image path, NULL when it has none */
} Draw;

static int draw_init(Draw *draw, size_t row_count, int32_t category_count, size_t per,
                     Error *err)
{
    memset(draw, 0, sizeof *draw);
    draw->start = calloc((size_t)category_count + 1, sizeof *draw->start);
    draw->members = malloc((row_count > 0 ? row_count : 1) * sizeof *draw->members);
    draw->chosen_start = calloc((size_t)category_count + 1, sizeof *draw->chosen_start);
    draw->chosen = malloc(((size_t)category_count * per + 1) * sizeof *draw->chosen);
    if (draw->start == NULL || draw->members == NULL || draw->chosen_start == NULL
        || draw->chosen == NULL)
        return error_nomem(err, row_count * sizeof *draw->members);
    return ERR_OK;
}

static void draw_release(Draw *draw)
{
    if (draw->paths != NULL)
        for (size_t i = 0; i < draw->total; i++)
            free(draw->paths[i]);
    free(draw->paths);
    free(draw->start);
    free(draw->members);
    free(draw->chosen_start);
    free(draw->chosen);
}

/* Members of each category, contiguous (a counting sort). */
static int group_by_category(Draw *draw, const Categories *categories, size_t row_count,
                             Error *err)
{
    int32_t k = categories->count;
    size_t *fill = calloc((size_t)k + 1, sizeof *fill);
    if (fill == NULL)
        return error_nomem(err, ((size_t)k + 1) * sizeof *fill);
    for (size_t i = 0; i < row_count; i++)
        if (categories->category_of[i] >= 0)
            draw->start[categories->category_of[i] + 1]++;
    for (int32_t c = 0; c < k; c++)
        draw->start[c + 1] += draw->start[c];
    for (size_t i = 0; i < row_count; i++) {
        int32_t c = categories->category_of[i];
        if (c >= 0)
            draw->members[draw->start[c] + fill[c]++] = (uint32_t)i;
    }
    free(fill);
    return ERR_OK;
}

/* A seeded partial shuffle picks up to per rows of each category. */
static void choose_samples(Draw *draw, int32_t category_count, size_t per, Rng *rng)
{
    size_t total = 0;
    for (int32_t c = 0; c < category_count; c++) {
        size_t size = draw->start[c + 1] - draw->start[c];
        size_t take = size < per ? size : per;
        uint32_t *group = draw->members + draw->start[c];
        draw->chosen_start[c] = total;
        for (size_t j = 0; j < take; j++) {
            size_t pick = j + (size_t)rng_below(rng, size - j);
            uint32_t swap = group[j];
            group[j] = group[pick];
            group[pick] = swap;
            draw->chosen[total++] = group[j];
        }
    }
    draw->chosen_start[category_count] = total;
    draw->total = total;
}

/*
 * Each sampled row's image path: source.image_path as a template with
 * {id}, or the column it names.
 */
static int find_paths(Db *db, const JobConfig *config, const Plan *plan, const Images *images,
                      Draw *draw, Error *err)
{
    draw->paths = calloc(draw->total + 1, sizeof *draw->paths);
    if (draw->paths == NULL)
        return error_nomem(err, draw->total * sizeof *draw->paths);
    if (config->source.image_path == NULL)
        return error_set(err, ERR_CONFIG, "%s: source.image_path is not set"
                                          "\nHINT: name a column, or a template such as "
                                          "images/{id}.jpg",
                         config->path);
    if (strstr(config->source.image_path, "{id}") == NULL)
        return draw->total > 0 ? read_path_column(db, config, plan, images, draw->chosen,
                                                  draw->total, draw->paths, err)
                               : ERR_OK;
    for (size_t i = 0; i < draw->total; i++) {
        draw->paths[i] = expand_template(config->source.image_path,
                                         images_id(images, draw->chosen[i]));
        if (draw->paths[i] == NULL)
            return error_nomem(err, 0);
    }
    return ERR_OK;
}

/* What placing the sampled images into their folders and onto the sheet needs. */
typedef struct Placement {
    const char *out_dir;
    const char *root; /* where relative image paths start */
    bool copy;
    const Images *images;
    const Draw *draw;
    Sheet *sheet;
    SampleSummary *summary;
} Placement;

/*
 * Puts the file at source into target: a symlink to its absolute path, or
 * a copy. Returns 0 when it is there, -1 when the source cannot be read or
 * the target not written.
 */
static int place_file(const char *source, const char *target, bool copy)
{
    char absolute[PATH_MAX];
    if (realpath(source, absolute) == NULL || access(absolute, R_OK) != 0)
        return -1;
    unlink(target);
    return copy ? copy_file(absolute, target) : symlink(absolute, target);
}

/*
 * One sampled image into dir and onto the sheet; a file that is not there
 * is listed as missing.
 */
static int place_image(const Placement *placement, const char *dir, const char *folder,
                       const char *id, const char *path, Error *err)
{
    char *source = NULL, *target = NULL;
    if (path == NULL) {
        placement->summary->images_missing++;
        sheet_missing(placement->sheet, id, NULL);
        return ERR_OK;
    }
    if (path[0] == '/' ? asprintf(&source, "%s", path) < 0
                       : asprintf(&source, "%s/%s", placement->root, path) < 0)
        return error_nomem(err, 0);
    char *base = strrchr(source, '/');
    base = base != NULL ? base + 1 : source;
    if (asprintf(&target, "%s/%s", dir, base) < 0) {
        free(source);
        return error_nomem(err, 0);
    }
    if (place_file(source, target, placement->copy) == 0) {
        placement->summary->images_placed++;
        sheet_image(placement->sheet, folder, base, id);
    } else {
        placement->summary->images_missing++;
        sheet_missing(placement->sheet, id, source);
    }
    free(source);
    free(target);
    return ERR_OK;
}

/* A category's folder, its sampled images in it, and its row of the sheet. */
static int place_category(const Placement *placement, const Categories *categories,
                          int32_t category, Error *err)
{
    const Draw *draw = placement->draw;
    const Images *images = placement->images;
    char name[256], folder[256], *dir = NULL;
    categorize_name(categories, images, category, name, sizeof name);
    sample_folder_name(name, folder, sizeof folder);
    if (asprintf(&dir, "%s/%s", placement->out_dir, folder) < 0)
        return error_nomem(err, 0);
    int code = make_dir(dir, err);
    if (code == ERR_OK) {
        size_t first = draw->chosen_start[category], end = draw->chosen_start[category + 1];
        sheet_category_begin(placement->sheet, name,
                             draw->start[category + 1] - draw->start[category]);
        for (size_t i = first; i < end && code == ERR_OK; i++)
            code = place_image(placement, dir, folder, images_id(images, draw->chosen[i]),
                               draw->paths[i], err);
        const char *ids[SHEET_IDS_SHOWN];
        size_t shown = 0;
        for (size_t i = first; i < end && shown < SHEET_IDS_SHOWN; i++)
            ids[shown++] = images_id(images, draw->chosen[i]);
        sheet_category_end(placement->sheet, ids, shown);
    }
    free(dir);
    return code;
}

int sample_write(Db *db, const JobConfig *config, const Plan *plan, const Images *images,
                 const Categories *categories, const SampleOptions *options, Rng *rng,
                 SampleSummary *summary, Error *err)
{
    size_t per = options->per_category > 0 ? (size_t)options->per_category : 5;
    Draw draw;
    char *root = image_root(config);
    Placement placement = {.out_dir = options->out_dir, .root = root,
                           .copy = options->copy, .images = images, .draw = &draw,
                           .summary = summary};
    memset(summary, 0, sizeof *summary);
    int code = draw_init(&draw, images->count, categories->count, per, err);
    if (code == ERR_OK && root == NULL)
        code = error_nomem(err, 0);
    if (code == ERR_OK)
        code = group_by_category(&draw, categories, images->count, err);
    if (code != ERR_OK)
        goto done;
    choose_samples(&draw, categories->count, per, rng);
    if ((code = find_paths(db, config, plan, images, &draw, err)) != ERR_OK
        || (code = make_dir(options->out_dir, err)) != ERR_OK
        || (code = sheet_open(options->out_dir, config->job, categories->count, images->count,
                              &placement.sheet, err)) != ERR_OK)
        goto done;

    for (int32_t c = 0; c < categories->count && code == ERR_OK; c++)
        code = place_category(&placement, categories, c, err);
    summary->categories = (size_t)categories->count;
    /* The sheet is finished even after a failure, with what it holds so far. */
    int closed = sheet_close(placement.sheet, code == ERR_OK ? err : NULL);
    if (code == ERR_OK)
        code = closed;
done:
    draw_release(&draw);
    free(root);
    return code;
}

int sample_run(const JobConfig *config, const RunOptions *options,
               const SampleOptions *sample_options, SampleSummary *summary, Report *report,
               Error *err)
{
    Db *db = NULL;
    Plan plan;
    bool planned = false;
    Images images;
    Categories categories = {0};
    Rng rng, sample_rng;
    ModelUse model_use = {0};
    ReadResult read = {0};
    int code;

    memset(report, 0, sizeof *report);
    images_init(&images, false, false, false, false);
    report->job = config->job;
    report->run_id = "sample";
    report->strategy = config_strategy_name(config->strategy.by);
    report->seed = run_seed(config, options->seed_set, options->seed);
    if ((code = run_connect(config, &db, err)) != ERR_OK
        || (code = plan_build(config, db_quote_ident, db, NULL, &plan, err)) != ERR_OK)
        goto done;
    planned = true;
    if ((code = stream_describe_id(db, &plan, err)) != ERR_OK)
        goto done;
    StreamOptions stream_options = run_stream_options(config);
    images_init(&images, plan.has_score, plan.has_variance, plan.has_category, plan.has_embedding);
    if (config->strategy.clusters_from != NULL
        && (code = model_read_prepare(config, db, &plan, NULL, false, &model_use, err)) != ERR_OK)
        goto done;
    rng_init(&rng, report->seed);
    ReadRequest request = {
        .config = config,
        .plan = &plan,
        .stream_options = &stream_options,
        .model = model_use.model != NULL ? &model_use : NULL,
    };
    code = read_selection(db, &request, &images, &rng, &read, &report->memory, err);
    report->stream = read.stats;
    if (read.streamed)
        read_result_counts(&read, &report->counts);
    if (code != ERR_OK)
        goto done;
    rng_fork(&rng, 0x73616d706c65ULL /* "sample" */, &sample_rng);
    ClusterLabels stored = {model_use.cluster_of,
                            model_use.model != NULL ? model_use.model->cluster_count : 0,
                            model_use.inertia, 0};
    const ClusterLabels *labels = model_use.model != NULL  ? &stored
                                  : read.mode == READ_BOUNDED ? &read.clusters
                                                              : NULL;
    if ((code = categorize(config, &images, labels, &rng, &categories, err)) != ERR_OK)
        goto done;
    report->counts.categories = categories.count;
    report->counts.candidates = images.count;
    report_measure(report, &images, &categories, NULL, 0, &sample_rng);
    code = sample_write(db, config, &plan, &images, &categories, sample_options, &sample_rng,
                        summary, err);
done:
    report->exit_code = code;
    report->status = code == ERR_OK ? "sampled" : "failed";
    read_result_release(&read);
    categorize_release(&categories);
    images_release(&images);
    model_use_release(&model_use);
    if (planned)
        plan_release(&plan);
    db_close(db);
    return code;
}
