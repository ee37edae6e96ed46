#include "run/sample.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
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


/*
 * Creates the folder path, or accepts it when it is already there. A
 * category's folder (own_folder) must be a folder itself, not a symlink
 * to one, so nothing is written outside out_dir through a planted link.
 */
static int make_dir(const char *path, bool own_folder, Error *err)
{
    if (mkdir(path, 0755) == 0)
        return ERR_OK;
    int saved = errno;
    struct stat status;
    if (saved == EEXIST
        && (own_folder ? lstat(path, &status) : stat(path, &status)) == 0
        && S_ISDIR(status.st_mode))
        return ERR_OK;
    if (saved == EEXIST)
        return error_set(err, ERR_USAGE, "cannot use '%s' as a folder: it exists and is not one",
                         path);
    return error_set(err, ERR_USAGE, "cannot create folder '%s': %s", path, strerror(saved));
}

bool sample_path_inside(const char *root, const char *resolved)
{
    size_t length = strlen(root);
    if (length == 1 && root[0] == '/')
        return resolved[0] == '/' && resolved[1] != '\0';
    return strncmp(resolved, root, length) == 0 && resolved[length] == '/'
           && resolved[length + 1] != '\0';
}

char *sample_relative_path(const char *from, const char *to)
{
    /* common: where the last path component both share ends */
    size_t common = 0;
    if (strcmp(from, "/") != 0) {
        for (size_t i = 0;; i++) {
            char a = from[i], b = to[i];
            bool a_end = a == '\0' || a == '/', b_end = b == '\0' || b == '/';
            if (a_end && b_end) {
                common = i;
                if (a == '\0' || b == '\0')
                    break;
            } else if (a != b) {
                break;
            }
        }
    }
    size_t ups = 0;
    if (strcmp(from, "/") != 0)
        for (const char *p = from + common; *p != '\0'; p++)
            ups += *p == '/';
    const char *rest = to + common;
    while (*rest == '/')
        rest++;
    char *out = malloc(3 * ups + strlen(rest) + 1);
    if (out == NULL)
        return NULL;
    char *w = out;
    for (size_t i = 0; i < ups; i++)
        w = stpcpy(w, "../");
    strcpy(w, rest);
    return out;
}

/*
 * Copies the open file in into target, created afresh (never through a
 * link planted there) with mode. -1 with errno set, and no target, on failure.
 */
static int copy_into(int in, const char *target, mode_t mode)
{
    int out = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (out < 0)
        return -1;
    char buffer[65536];
    int status = 0, saved = 0;
    while (status == 0) {
        ssize_t got = read(in, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            status = got < 0 ? -1 : 1;
            break;
        }
        for (ssize_t done = 0; done < got && status == 0;) {
            ssize_t put = write(out, buffer + done, (size_t)(got - done));
            if (put >= 0)
                done += put;
            else if (errno != EINTR)
                status = -1;
        }
    }
    if (status < 0)
        saved = errno;
    if (close(out) != 0 && status >= 0) {
        status = -1;
        saved = errno;
    }
    if (status < 0) {
        unlink(target);
        errno = saved;
        return -1;
    }
    return 0;
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

/*
 * The folder relative image paths start from, resolved: every image file
 * must lie inside it. ERR_CONFIG when it does not resolve to a folder.
 */
static int image_root(const JobConfig *config, char **resolved, Error *err)
{
    const char *root = config->source.image_root != NULL ? config->source.image_root : ".";
    char *joined = NULL;
    *resolved = NULL;
    if (root[0] == '/') {
        joined = strdup(root);
    } else {
        char *config_copy = strdup(config->path);
        if (config_copy != NULL && asprintf(&joined, "%s/%s", dirname(config_copy), root) < 0)
            joined = NULL;
        free(config_copy);
    }
    if (joined == NULL)
        return error_nomem(err, 0);
    struct stat status;
    char *real = realpath(joined, NULL);
    int code = ERR_OK;
    if (real == NULL || stat(real, &status) != 0 || !S_ISDIR(status.st_mode))
        code = error_set(err, ERR_CONFIG, "%s: source.image_root '%s' is not a folder%s%s",
                         config->path, joined, real == NULL ? ": " : "",
                         real == NULL ? strerror(errno) : "");
    free(joined);
    if (code != ERR_OK) {
        free(real);
        return code;
    }
    *resolved = real;
    return ERR_OK;
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


/* An image file as found: opened, or why it is not on the sheet. */
typedef struct Source {
    int fd;             /* open for reading; -1 when absent */
    struct stat status; /* of fd */
    char *resolved;     /* its absolute path without symlinks; malloc'd */
    SheetAbsence why;   /* when absent */
    char reason[128];   /* when absent */
} Source;

static void source_release(Source *source)
{
    if (source->fd >= 0)
        close(source->fd);
    free(source->resolved);
}

/*
 * Resolves path (symlinks, . and .. followed) and opens the file there:
 * refused unless it is a regular file inside root. The opened file's own
 * path (/proc/self/fd) is checked again, so a folder swapped for a symlink
 * between the two steps cannot lead out of root. -1 only when out of memory.
 */
static int source_open(const char *root, const char *path, Source *source)
{
    char resolved[PATH_MAX], opened[PATH_MAX], fd_link[64];
    memset(source, 0, sizeof *source);
    source->fd = -1;
    source->why = SHEET_MISSING;
    if (realpath(path, resolved) == NULL) {
        snprintf(source->reason, sizeof source->reason, "%s", strerror(errno));
        return 0;
    }
    if (!sample_path_inside(root, resolved)) {
        source->why = SHEET_REFUSED;
        snprintf(source->reason, sizeof source->reason, "outside image_root");
        return 0;
    }
    int fd = open(resolved, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        source->why = errno == ELOOP ? SHEET_REFUSED : SHEET_MISSING;
        snprintf(source->reason, sizeof source->reason, "%s", strerror(errno));
        return 0;
    }
    snprintf(fd_link, sizeof fd_link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(fd_link, opened, sizeof opened - 1);
    if (length > 0)
        opened[length] = '\0';
    else
        strcpy(opened, resolved);
    if (fstat(fd, &source->status) != 0 || !S_ISREG(source->status.st_mode)
        || !sample_path_inside(root, opened)) {
        close(fd);
        source->why = SHEET_REFUSED;
        snprintf(source->reason, sizeof source->reason, "%s",
                 sample_path_inside(root, opened) ? "not a regular file" : "outside image_root");
        return 0;
    }
    if ((source->resolved = strdup(opened)) == NULL) {
        close(fd);
        return -1;
    }
    source->fd = fd;
    return 0;
}

/* What placing the sampled images into their folders and onto the sheet needs. */
typedef struct Placement {
    const char *out_dir;
    const char *root; /* image_root, resolved */
    bool copy;
    const Images *images;
    const Draw *draw;
    const SheetCategory *categories;
    Sheet *sheet;
    SampleSummary *summary;
} Placement;

/* The category being placed: its folder, and the file names it holds so far. */
typedef struct Folder {
    const char *name; /* under out_dir */
    char *path;       /* out_dir/name */
    char *resolved;   /* path without symlinks: where relative links start */
    char **files;     /* names placed in it by this sample */
    size_t file_count;
} Folder;

/*
 * The file name an image gets in its folder: the last component of its
 * path (of the resolved path when that is empty, . or ..), made unique in
 * the folder with a number in front.
 */
static char *file_name(const Folder *folder, const char *path, const char *resolved)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        base = strrchr(resolved, '/') + 1;
    for (size_t attempt = 0;; attempt++) {
        char *name = NULL;
        if (attempt == 0 ? (name = strdup(base)) == NULL
                         : asprintf(&name, "%zu-%s", attempt, base) < 0)
            return NULL;
        bool taken = false;
        for (size_t i = 0; i < folder->file_count && !taken; i++)
            taken = strcmp(folder->files[i], name) == 0;
        if (!taken)
            return name;
        free(name);
    }
}

/* source into folder as name: a relative symlink, or a copy no more readable than it. */
static int place_file(const Placement *placement, const Folder *folder, const char *name,
                      const Source *source, Error *err)
{
    char *target = NULL, *link = NULL;
    int code = ERR_OK;
    if (asprintf(&target, "%s/%s", folder->path, name) < 0)
        return error_nomem(err, 0);
    /* A file left by an earlier sample (or planted) goes; nothing is written through it. */
    if (unlink(target) != 0 && errno != ENOENT) {
        code = error_set(err, ERR_USAGE, "cannot replace '%s': %s", target, strerror(errno));
        goto done;
    }
    if (placement->copy) {
        if (copy_into(source->fd, target, source->status.st_mode & 0644) != 0)
            code = error_set(err, ERR_USAGE, "cannot write '%s': %s", target, strerror(errno));
    } else if ((link = sample_relative_path(folder->resolved, source->resolved)) == NULL) {
        code = error_nomem(err, 0);
    } else if (symlink(link, target) != 0) {
        code = error_set(err, ERR_USAGE, "cannot create symlink '%s': %s", target,
                         strerror(errno));
    }
done:
    free(link);
    free(target);
    return code;
}

/*
 * One sampled image into its folder and onto the sheet; a file that is
 * not there, or not allowed, is listed as missing or refused.
 */
static int place_image(const Placement *placement, Folder *folder, uint32_t row,
                       const char *path, Error *err)
{
    const char *id = images_id(placement->images, row);
    double score = placement->images->score != NULL ? placement->images->score[row] : NAN;
    char *joined = NULL, *name = NULL;
    Source source = {.fd = -1};
    int code = ERR_OK;
    if (path == NULL) {
        placement->summary->images_missing++;
        sheet_absent(placement->sheet, SHEET_MISSING, id, NULL, NULL);
        return ERR_OK;
    }
    if ((path[0] == '/' ? asprintf(&joined, "%s", path)
                        : asprintf(&joined, "%s/%s", placement->root, path))
            < 0
        || source_open(placement->root, joined, &source) != 0) {
        free(joined);
        return error_nomem(err, 0);
    }
    if (source.fd < 0) {
        if (source.why == SHEET_REFUSED)
            placement->summary->images_refused++;
        else
            placement->summary->images_missing++;
        sheet_absent(placement->sheet, source.why, id, joined, source.reason);
        goto done;
    }
    char **files = realloc(folder->files, (folder->file_count + 1) * sizeof *files);
    if (files != NULL)
        folder->files = files;
    if (files == NULL || (name = file_name(folder, joined, source.resolved)) == NULL) {
        code = error_nomem(err, 0);
        goto done;
    }
    if ((code = place_file(placement, folder, name, &source, err)) != ERR_OK)
        goto done;
    folder->files[folder->file_count++] = name;
    placement->summary->images_placed++;
    sheet_image(placement->sheet, folder->name, name, id, score);
    name = NULL;
done:
    free(name);
    source_release(&source);
    free(joined);
    return code;
}

/* A category's folder, its sampled images in it, and its section of the sheet. */
static int place_category(const Placement *placement, int32_t category, Error *err)
{
    const Draw *draw = placement->draw;
    Folder folder = {.name = placement->categories[category].folder};
    int code = ERR_OK;
    if (asprintf(&folder.path, "%s/%s", placement->out_dir, folder.name) < 0) {
        folder.path = NULL;
        return error_nomem(err, 0);
    }
    if ((code = make_dir(folder.path, true, err)) != ERR_OK)
        goto done;
    if ((folder.resolved = realpath(folder.path, NULL)) == NULL) {
        code = error_set(err, ERR_USAGE, "cannot resolve '%s': %s", folder.path,
                         strerror(errno));
        goto done;
    }
    sheet_category_begin(placement->sheet, category);
    size_t first = draw->chosen_start[category], end = draw->chosen_start[category + 1];
    for (size_t i = first; i < end && code == ERR_OK; i++)
        code = place_image(placement, &folder, draw->chosen[i], draw->paths[i], err);
    sheet_category_end(placement->sheet);
done:
    for (size_t i = 0; i < folder.file_count; i++)
        free(folder.files[i]);
    free(folder.files);
    free(folder.resolved);
    free(folder.path);
    return code;
}

/* The categories as the sheet shows them, and the names they are shown by. */
typedef struct Overview {
    SheetCategory *categories;
    char **names;   /* categorize_names */
    char **folders; /* unique folder names */
    int32_t count;
    SheetScale scale;
} Overview;

static void overview_release(Overview *overview)
{
    if (overview->names != NULL)
        categorize_names_free(overview->names, overview->count);
    if (overview->folders != NULL)
        for (int32_t c = 0; c < overview->count; c++)
            free(overview->folders[c]);
    free(overview->folders);
    free(overview->categories);
}

/* Orders category numbers by their folder name, ties by number. */
static int compare_folders(const void *a, const void *b, void *folders)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    char **names = folders;
    int order = strcmp(names[x], names[y]);
    return order != 0 ? order : (x > y) - (x < y);
}

/*
 * One folder name per category, each unique and none the sheet's own
 * (index.html and its temporary siblings): a name met again, or taken,
 * gets "~" and the category's number (sample_folder_name never writes
 * "~", so the result is unique).
 */
static int unique_folders(Overview *overview, Error *err)
{
    size_t count = overview->count > 0 ? (size_t)overview->count : 1;
    char buffer[256];
    overview->folders = calloc(count, sizeof *overview->folders);
    int32_t *order = malloc(count * sizeof *order);
    bool *rename = calloc(count, sizeof *rename);
    int code = ERR_OK;
    if (overview->folders == NULL || order == NULL || rename == NULL) {
        code = error_nomem(err, 0);
        goto done;
    }
    for (int32_t c = 0; c < overview->count; c++) {
        sample_folder_name(overview->names[c], buffer, sizeof buffer);
        if ((overview->folders[c] = strdup(buffer)) == NULL) {
            code = error_nomem(err, 0);
            goto done;
        }
        order[c] = c;
    }
    qsort_r(order, (size_t)overview->count, sizeof *order, compare_folders, overview->folders);
    for (int32_t s = 0; s < overview->count; s++) {
        const char *name = overview->folders[order[s]];
        rename[order[s]] = strncmp(name, "index.html", 10) == 0
                           || (s > 0 && strcmp(name, overview->folders[order[s - 1]]) == 0);
    }
    for (int32_t c = 0; c < overview->count; c++) {
        if (!rename[c])
            continue;
        char *renamed = NULL;
        if (asprintf(&renamed, "%.200s~%d", overview->folders[c], c) < 0) {
            code = error_nomem(err, 0);
            goto done;
        }
        free(overview->folders[c]);
        overview->folders[c] = renamed;
    }
done:
    free(order);
    free(rename);
    return code;
}

/* Every category's size, scores and histogram; the stored cluster it stands for. */
static int overview_build(Overview *overview, const Images *images,
                          const Categories *categories, const Draw *draw, const Report *report,
                          Error *err)
{
    int32_t count = categories->count;
    overview->count = count;
    overview->categories = calloc(count > 0 ? (size_t)count : 1, sizeof *overview->categories);
    if (overview->categories == NULL)
        return error_nomem(err, (size_t)count * sizeof *overview->categories);
    int code = categorize_names(categories, images, &overview->names, err);
    if (code != ERR_OK || (code = unique_folders(overview, err)) != ERR_OK)
        return code;
    SheetScale *scale = &overview->scale;
    const double *score = images->score;
    for (size_t i = 0; score != NULL && i < images->count; i++) {
        if (categories->category_of[i] < 0 || !isfinite(score[i]))
            continue;
        if (!scale->has_scores || score[i] < scale->min)
            scale->min = score[i];
        if (!scale->has_scores || score[i] > scale->max)
            scale->max = score[i];
        scale->has_scores = true;
    }
    bool clusters = report->model.stored != NULL
                    && (categories->by == STRATEGY_EMBEDDING
                        || categories->by == STRATEGY_EMBEDDING_SCORE);
    double width = scale->max - scale->min;
    for (int32_t c = 0; c < count; c++) {
        SheetCategory *category = &overview->categories[c];
        category->name = overview->names[c];
        category->folder = overview->folders[c];
        category->size = draw->start[c + 1] - draw->start[c];
        category->sampled = draw->chosen_start[c + 1] - draw->chosen_start[c];
        category->cluster = clusters ? categories->group_of_category[c] : -1;
        double sum = 0;
        size_t scored = 0;
        for (size_t m = draw->start[c]; score != NULL && m < draw->start[c + 1]; m++) {
            double value = score[draw->members[m]];
            if (!isfinite(value))
                continue;
            if (scored == 0 || value < category->score_min)
                category->score_min = value;
            if (scored == 0 || value > category->score_max)
                category->score_max = value;
            sum += value;
            scored++;
            int bin = width > 0 ? (int)((value - scale->min) / width * SHEET_HISTOGRAM_BINS) : 0;
            category->histogram[bin < SHEET_HISTOGRAM_BINS ? bin : SHEET_HISTOGRAM_BINS - 1]++;
        }
        category->has_scores = scored > 0;
        category->score_mean = scored > 0 ? sum / (double)scored : 0;
    }
    return ERR_OK;
}

int sample_write(Db *db, const JobConfig *config, const Plan *plan, const Images *images,
                 const Categories *categories, const Report *report,
                 const SampleOptions *options, Rng *rng, SampleSummary *summary, Error *err)
{
    size_t per = options->per_category > 0 ? (size_t)options->per_category : 5;
    Draw draw;
    Overview overview = {0};
    char *root = NULL;
    Sheet *sheet = NULL;
    memset(summary, 0, sizeof *summary);
    int code = draw_init(&draw, images->count, categories->count, per, err);
    if (code == ERR_OK)
        code = image_root(config, &root, err);
    if (code == ERR_OK)
        code = group_by_category(&draw, categories, images->count, err);
    if (code != ERR_OK)
        goto done;
    choose_samples(&draw, categories->count, per, rng);
    if ((code = find_paths(db, config, plan, images, &draw, err)) != ERR_OK
        || (code = overview_build(&overview, images, categories, &draw, report, err)) != ERR_OK
        || (code = make_dir(options->out_dir, false, err)) != ERR_OK
        || (code = sheet_open(options->out_dir, report, &overview.scale, overview.categories,
                              overview.count, per, &sheet, err))
               != ERR_OK)
        goto done;

    Placement placement = {.out_dir = options->out_dir, .root = root, .copy = options->copy,
                           .images = images, .draw = &draw, .categories = overview.categories,
                           .sheet = sheet, .summary = summary};
    for (int32_t c = 0; c < categories->count && code == ERR_OK; c++)
        code = place_category(&placement, c, err);
    summary->categories = (size_t)categories->count;
    /* A failed sample leaves the previous index.html as it was. */
    int closed = sheet_close(sheet, code == ERR_OK, err);
    if (code == ERR_OK)
        code = closed;
done:
    overview_release(&overview);
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
    double started = run_clock();

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
    if (model_use.model != NULL) {
        report->model.stored = model_use.model;
        report->model.drift = &model_use.drift;
    }
    report->seconds = run_clock() - started;
    code = sample_write(db, config, &plan, &images, &categories, report, sample_options,
                        &sample_rng, summary, err);
    /* The model and its drift are released below. */
    report->model.stored = NULL;
    report->model.drift = NULL;
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
