#include "db/pending.h"
#include "db/pg.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/csv.h"
#include "core/json.h"
#include "core/log.h"

/* A growing buffer of COPY text; flushed to the server when large. */
typedef struct {
    char *data;
    size_t length, capacity;
} Buffer;

static int buffer_reserve(Buffer *buffer, size_t more, Error *err)
{
    if (buffer->length + more <= buffer->capacity)
        return ERR_OK;
    size_t capacity = buffer->capacity < 65536 ? 65536 : buffer->capacity;
    while (capacity < buffer->length + more)
        capacity *= 2;
    char *grown = realloc(buffer->data, capacity);
    if (grown == NULL)
        return error_nomem(err, capacity);
    buffer->data = grown;
    buffer->capacity = capacity;
    return ERR_OK;
}

/* Appends text escaped for COPY's text format. */
static int buffer_field(Buffer *buffer, const char *text, Error *err)
{
    size_t length = strlen(text);
    int code = buffer_reserve(buffer, 2 * length + 2, err);
    if (code != ERR_OK)
        return code;
    char *out = buffer->data + buffer->length;
    for (const char *in = text; *in != '\0'; in++) {
        switch (*in) {
        case '\\': *out++ = '\\'; *out++ = '\\'; break;
        case '\t': *out++ = '\\'; *out++ = 't'; break;
        case '\n': *out++ = '\\'; *out++ = 'n'; break;
        case '\r': *out++ = '\\'; *out++ = 'r'; break;
        default: *out++ = *in;
        }
    }
    buffer->length = (size_t)(out - buffer->data);
    return ERR_OK;
}

static int buffer_raw(Buffer *buffer, const char *text, Error *err)
{
    size_t length = strlen(text);
    int code = buffer_reserve(buffer, length, err);
    if (code != ERR_OK)
        return code;
    memcpy(buffer->data + buffer->length, text, length);
    buffer->length += length;
    return ERR_OK;
}

static int buffer_score(Buffer *buffer, const Images *images, uint32_t row, Error *err)
{
    char text[32];
    if (images->score == NULL || !isfinite(images->score[row]))
        return buffer_raw(buffer, "\\N", err);
    snprintf(text, sizeof text, "%.17g", images->score[row]);
    return buffer_raw(buffer, text, err);
}

/* Sends the buffer when it holds a megabyte or more (or always, when final). */
static int buffer_send(Db *db, const char *name, Buffer *buffer, bool final, Error *err)
{
    if (buffer->length == 0 || (!final && buffer->length < (1u << 20)))
        return ERR_OK;
    int code = db_copy_in_put(db, name, buffer->data, buffer->length, err);
    buffer->length = 0;
    return code;
}

/* Ends a COPY FROM STDIN: sends what is left, or aborts it after a failure. */
static int copy_finish(Db *db, const char *name, Buffer *buffer, int code, Error *err)
{
    if (code == ERR_OK)
        code = buffer_send(db, name, buffer, true, err);
    if (code != ERR_OK) {
        Error ignored;
        db_copy_in_end(db, name, "client error", NULL, &ignored);
        return code;
    }
    return db_copy_in_end(db, name, NULL, NULL, err);
}

void pending_stored_pair(const Images *images, const PairCategories *categories,
                         const PairProvenance *provenance, const Pair *pairs, size_t index,
                         StoredPair *stored, char *category, size_t size)
{
    const Pair *pair = &pairs[index];
    /* strcmp compares as unsigned char: byte order, whatever the locale. */
    bool given_order = strcmp(images_id(images, pair->a), images_id(images, pair->b)) < 0;
    stored->image_a = given_order ? pair->a : pair->b;
    stored->image_b = given_order ? pair->b : pair->a;
    stored->cross = index >= provenance->within_count;
    stored->show_first = provenance->show_first != NULL ? provenance->show_first[index] : 'a';
    const char *name_a = categories->names[categories->category_of[stored->image_a]];
    if (stored->cross)
        snprintf(category, size, "%s|%s", name_a,
                 categories->names[categories->category_of[stored->image_b]]);
    else
        snprintf(category, size, "%s", name_a);
}

/* Undoes COPY's text escapes in place; returns the new length. */
static size_t copy_unescape(char *text, size_t length)
{
    size_t w = 0;
    for (size_t r = 0; r < length; r++) {
        if (text[r] != '\\' || r + 1 == length) {
            text[w++] = text[r];
            continue;
        }
        char c = text[++r];
        switch (c) {
        case 'b': text[w++] = '\b'; break;
        case 'f': text[w++] = '\f'; break;
        case 'n': text[w++] = '\n'; break;
        case 'r': text[w++] = '\r'; break;
        case 't': text[w++] = '\t'; break;
        case 'v': text[w++] = '\v'; break;
        default: text[w++] = c; /* \\ and anything else stands for itself */
        }
    }
    return w;
}

/* A row of two ids, copied out of libpq's buffer and unescaped. */
typedef struct {
    char *line; /* grown to the longest row seen */
    size_t capacity;
    const char *a, *b;
    size_t a_length, b_length;
} PairRow;

/* Copies length bytes of a COPY row into row->line, grown as needed. */
static int pair_row_copy(PairRow *row, const char *data, size_t length, Error *err)
{
    if (length + 1 > row->capacity) {
        char *grown = realloc(row->line, length + 1);
        if (grown == NULL)
            return error_nomem(err, length + 1);
        row->line = grown;
        row->capacity = length + 1;
    }
    memcpy(row->line, data, length);
    return ERR_OK;
}

/* One row of COPY text (libpq hands over one row per chunk): "a<TAB>b\n". */
static int pair_row_split(PairRow *row, const char *data, size_t length, Error *err)
{
    int code = pair_row_copy(row, data, length, err);
    if (code != ERR_OK)
        return code;
    if (length > 0 && row->line[length - 1] == '\n')
        length--;
    char *tab = memchr(row->line, '\t', length);
    if (tab == NULL)
        return error_set(err, ERR_INTERNAL, "unexpected row in the pairs of the output table");
    row->a = row->line;
    row->a_length = copy_unescape(row->line, (size_t)(tab - row->line));
    row->b = tab + 1;
    row->b_length = copy_unescape(tab + 1, length - (size_t)(tab + 1 - row->line));
    return ERR_OK;
}

typedef struct {
    const Images *images;
    PairSet *existing;
    size_t memory_cap; /* 0: none */
    PairRow row;
} PairReader;

static int read_pair_row(void *context, const char *data, size_t length, Error *err)
{
    PairReader *reader = context;
    int code = pair_row_split(&reader->row, data, length, err);
    if (code != ERR_OK)
        return code;
    int64_t a = images_find_text(reader->images, reader->row.a, reader->row.a_length);
    int64_t b = a >= 0 ? images_find_text(reader->images, reader->row.b, reader->row.b_length) : -1;
    if (a >= 0 && b >= 0 && a != b && pairset_add(reader->existing, (uint32_t)a, (uint32_t)b) < 0)
        return error_nomem(err, 0);
    if (reader->memory_cap > 0 && pairset_memory(reader->existing) > reader->memory_cap)
        return error_set(err, ERR_DATA,
                         "resources.memory_limit leaves %zu bytes for the pairs already stored "
                         "among the selected images, and more than %zu of them need %zu bytes"
                         "\nHINT: raise resources.memory_limit, or select fewer images",
                         reader->memory_cap, pairset_count(reader->existing),
                         pairset_memory(reader->existing));
    return ERR_OK;
}

/*
 * Runs sql_format (one %s: the quoted output table, then $n parameters),
 * a query of one count, into *value.
 */
static int query_count(Db *db, const char *name, const char *sql_format, const char *output_table,
                       int count, const char *const *params, uint64_t *value, Error *err)
{
    char *sql = NULL;
    PGresult *result = NULL;
    if (asprintf(&sql, sql_format, output_table) < 0)
        return error_nomem(err, strlen(output_table));
    int code = db_query_pg(db, name, sql, count, params, &result, err);
    free(sql);
    if (code != ERR_OK)
        return code;
    *value = strtoull(PQgetvalue(result, 0, 0), NULL, 10);
    PQclear(result);
    return ERR_OK;
}

/*
 * The pairs already stored are read one of two ways. Whole: a COPY of the
 * output table's two id columns, each pair kept when both ids are selected;
 * it costs a scan of the queue and about half a microsecond a pair here.
 * Joined: the selected ids uploaded into a temporary table and joined
 * against the queue; it pays off only while the planner looks each id up in
 * the output table's indexes (some 15-20 microseconds an id here), and a
 * large selection hashes (spilling past work_mem) or merges over the whole
 * queue instead. Measured on a queue of 3,000,000 pairs (the read stage of a
 * score run, 1,000,000 source rows): 14,000 selected ids 0.7-0.9 s joined
 * against 1.8-2.0 s whole; 90,000 1.7-2.1 s against 1.9-2.6 s; 180,000
 * 3.0-3.1 s against 2.3-2.4 s; 900,000 7.6-7.9 s against 2.5-2.9 s. So the
 * join is taken only for a queue over JOIN_RATIO times the selection.
 */
#define JOIN_RATIO 32

static int load_existing_whole(Db *db, const char *output_table, const Images *images,
                               size_t memory_cap, uint64_t queued, PairSet **existing,
                               Error *err)
{
    char *sql = NULL;
    /* Sized for the pairs likely kept, not for the whole queue: the set
     * grows when more of them are among the selection. */
    size_t expected = queued < images->count ? (size_t)queued : images->count;
    PairReader reader = {.images = images, .existing = pairset_new(expected + 16),
                         .memory_cap = memory_cap};
    if (reader.existing == NULL)
        return error_nomem(err, queued);
    if (asprintf(&sql, "COPY (SELECT image_a, image_b FROM %s) TO STDOUT", output_table) < 0) {
        pairset_free(reader.existing);
        return error_nomem(err, strlen(output_table));
    }
    int code = db_copy_out(db, "read pairs already proposed", sql, 0, NULL, read_pair_row,
                           &reader, err);
    free(sql);
    free(reader.row.line);
    if (code != ERR_OK) {
        pairset_free(reader.existing);
        return code;
    }
    *existing = reader.existing;
    return ERR_OK;
}

static int load_existing_joined(Db *db, const char *output_table, const Images *images,
                                size_t memory_cap, PairSet **existing, Error *err)
{
    Buffer buffer = {0};
    char *sql = NULL;
    int code;

    *existing = pairset_new(1024);
    if (*existing == NULL)
        return error_nomem(err, 1024);
    if ((code = db_command(db, "create selection table",
                           "CREATE TEMPORARY TABLE pairpick_selected (id text COLLATE \"C\" "
                           "PRIMARY KEY) ON COMMIT DROP",
                           0, NULL, NULL, err))
        != ERR_OK)
        goto done;
    if ((code = db_copy_in_start(db, "copy selection", "COPY pairpick_selected (id) FROM STDIN",
                                 err))
        != ERR_OK)
        goto done;
    for (size_t row = 0; row < images->count && code == ERR_OK; row++) {
        code = buffer_field(&buffer, images_id(images, row), err);
        if (code == ERR_OK)
            code = buffer_raw(&buffer, "\n", err);
        if (code == ERR_OK)
            code = buffer_send(db, "copy selection", &buffer, false, err);
    }
    if ((code = copy_finish(db, "copy selection", &buffer, code, err)) != ERR_OK)
        goto done;

    /* Streamed (COPY) into the set row by row: never the whole result in
     * memory, only the 8-byte keys of the PairSet. */
    if (asprintf(&sql,
                 "COPY (SELECT p.image_a, p.image_b FROM %s AS p "
                 "JOIN pairpick_selected AS a ON a.id = p.image_a "
                 "JOIN pairpick_selected AS b ON b.id = p.image_b) TO STDOUT",
                 output_table)
        < 0) {
        sql = NULL;
        code = error_nomem(err, strlen(output_table));
        goto done;
    }
    PairReader reader = {.images = images, .existing = *existing, .memory_cap = memory_cap};
    code = db_copy_out(db, "read existing pairs", sql, 0, NULL, read_pair_row, &reader, err);
    free(reader.row.line);

done:
    free(sql);
    free(buffer.data);
    if (code != ERR_OK) {
        pairset_free(*existing);
        *existing = NULL;
    }
    return code;
}

int write_load_existing(Db *db, const char *output_table, const Images *images,
                        size_t memory_cap, PairSet **existing, bool *uploaded, Error *err)
{
    *uploaded = false;
    /* Counted only as far as the choice needs: a huge queue is not scanned. */
    char limit[32];
    uint64_t queued;
    uint64_t join_from = (uint64_t)images->count > UINT64_MAX / JOIN_RATIO
                             ? UINT64_MAX
                             : (uint64_t)images->count * JOIN_RATIO + 1;
    snprintf(limit, sizeof limit, "%" PRIu64, join_from > INT64_MAX ? INT64_MAX : join_from);
    const char *params[1] = {limit};
    int code = query_count(db, "size pairs already proposed",
                           "SELECT count(*) FROM (SELECT FROM %s LIMIT $1::bigint) AS queued",
                           output_table, 1, params, &queued, err);
    if (code != ERR_OK)
        return code;
    if (queued < join_from) {
        log_line("debug", "read", NULL,
                 "the %" PRIu64 " stored pairs read whole (%zu images selected)", queued,
                 images->count);
        return load_existing_whole(db, output_table, images, memory_cap, queued, existing, err);
    }
    log_line("debug", "read", NULL,
             "the %zu selected ids joined against the stored pairs (more than %" PRIu64 ")",
             images->count, queued - 1);
    *uploaded = true;
    return load_existing_joined(db, output_table, images, memory_cap, existing, err);
}

typedef struct {
    const Images *images;
    uint32_t *exposure;
    PairRow row; /* the row being unescaped */
} ExposureReader;

/* One row "id<TAB>count\n" of the exposure query; ids of any length match. */
static int read_exposure_row(void *context, const char *data, size_t length, Error *err)
{
    ExposureReader *reader = context;
    const char *tab = memchr(data, '\t', length);
    if (tab == NULL)
        return error_set(err, ERR_INTERNAL, "unexpected row in the exposure of images");
    size_t id_length = (size_t)(tab - data);
    int code = pair_row_copy(&reader->row, data, id_length, err);
    if (code != ERR_OK)
        return code;
    id_length = copy_unescape(reader->row.line, id_length);
    int64_t row = images_find_text(reader->images, reader->row.line, id_length);
    if (row >= 0) {
        unsigned long long shown = strtoull(tab + 1, NULL, 10);
        reader->exposure[row] = shown > UINT32_MAX ? UINT32_MAX : (uint32_t)shown;
    }
    return ERR_OK;
}

/* One row "a<TAB>b\n" of a status's pairs: one more for each selected image of it. */
static int count_pair_row(void *context, const char *data, size_t length, Error *err)
{
    ExposureReader *reader = context;
    int code = pair_row_split(&reader->row, data, length, err);
    if (code != ERR_OK)
        return code;
    int64_t a = images_find_text(reader->images, reader->row.a, reader->row.a_length);
    int64_t b = images_find_text(reader->images, reader->row.b, reader->row.b_length);
    if (a >= 0 && reader->exposure[a] < UINT32_MAX)
        reader->exposure[a]++;
    if (b >= 0 && reader->exposure[b] < UINT32_MAX)
        reader->exposure[b]++;
    return ERR_OK;
}

/*
 * Per image, its pairs of output_table with the given status (a literal).
 * When write_load_existing uploaded the selected ids (a queue over
 * JOIN_RATIO times the selection), the pairs of those ids are found through
 * the output table's indexes and counted by the server. Otherwise the
 * status's pairs are streamed and counted here: a GROUP BY of both columns
 * hashed twice as many ids as there are pairs and spilled past work_mem
 * (3.9 s at 3,000,000 pending pairs, against 1.9 s for the COPY of them).
 */
static int load_pairs_per_image(Db *db, const char *what, const char *output_table,
                                const char *status, const Images *images, bool uploaded,
                                uint32_t *count, Error *err)
{
    char *sql = NULL;
    ExposureReader reader = {.images = images, .exposure = count};
    memset(count, 0, images->count * sizeof *count);
    int length = uploaded
                     ? asprintf(&sql,
                                "COPY (SELECT image, count(*) FROM ("
                                "SELECT p.image_a AS image FROM %s AS p JOIN pairpick_selected "
                                "AS s ON s.id = p.image_a WHERE p.status = '%s' "
                                "UNION ALL "
                                "SELECT p.image_b FROM %s AS p JOIN pairpick_selected AS s "
                                "ON s.id = p.image_b WHERE p.status = '%s'"
                                ") AS shown GROUP BY image) TO STDOUT",
                                output_table, status, output_table, status)
                     : asprintf(&sql,
                                "COPY (SELECT image_a, image_b FROM %s WHERE status = '%s') "
                                "TO STDOUT",
                                output_table, status);
    if (length < 0)
        return error_nomem(err, strlen(output_table));
    int code = db_copy_out(db, what, sql, 0, NULL, uploaded ? read_exposure_row : count_pair_row,
                           &reader, err);
    free(sql);
    free(reader.row.line);
    return code;
}

int write_load_exposure(Db *db, const char *output_table, const Images *images,
                        bool uploaded, uint32_t *exposure, Error *err)
{
    return load_pairs_per_image(db, "read exposure of images", output_table, "pending", images,
                                uploaded, exposure, err);
}

int write_load_comparisons(Db *db, const char *output_table, const Images *images,
                           bool uploaded, uint32_t *comparisons, Error *err)
{
    return load_pairs_per_image(db, "read comparisons of images", output_table, "annotated",
                                images, uploaded, comparisons, err);
}

int write_count_pending(Db *db, const char *output_table, const char *job, uint64_t *pending,
                        Error *err)
{
    const char *params[1] = {job};
    return query_count(db, "count pending pairs",
                       "SELECT count(*) FROM %s WHERE job = $1 AND status = 'pending'",
                       output_table, 1, params, pending, err);
}

/*
 * After a write rolled back because another job stored some of its pairs:
 * *existing becomes the pairs stored now among the images.
 */
static int reload_existing(Db *db, const char *output_table, const Images *images,
                           PairSet **existing, Error *err)
{
    PairSet *now = NULL;
    bool uploaded;
    int code = db_begin(db, "begin reload", NULL, err);
    if (code != ERR_OK)
        return code;
    code = write_load_existing(db, output_table, images, 0, &now, &uploaded, err);
    db_rollback(db, "end reload");
    if (code != ERR_OK)
        return code;
    pairset_free(*existing);
    *existing = now;
    return ERR_OK;
}

/*
 * Of the pairs just copied to pairpick_new_pairs, those the output table
 * holds from another run (the INSERT skipped them), into *taken_count.
 */
static int count_taken(Db *db, const char *output_table, const RunInfo *info,
                       size_t *taken_count, Error *err)
{
    const char *params[2] = {info->job, info->run_id};
    uint64_t taken = 0;
    int code = query_count(db, "count pairs taken meanwhile",
                           "SELECT count(*) FROM pairpick_new_pairs AS n JOIN %s AS o "
                           "ON o.image_a = n.image_a AND o.image_b = n.image_b "
                           "WHERE o.job IS DISTINCT FROM $1 OR o.run_id IS DISTINCT FROM $2",
                           output_table, 2, params, &taken, err);
    *taken_count = (size_t)taken;
    return code;
}

static int write_once(Db *db, const char *output_table, const RunInfo *info,
                      const Images *images, const PairCategories *categories, const Pair *pairs,
                      size_t pair_count, const PairProvenance *provenance, RunCounts *counts,
                      bool check_taken, size_t *taken_count, const WriteHook *hook, Error *err)
{
    Buffer buffer = {0};
    char *sql = NULL;
    char name[512];
    bool open = false;
    int code;

    if ((code = db_begin(db, "begin write", NULL, err)) != ERR_OK)
        goto done;
    open = true;
    if ((code = db_command(db, "create new pairs table",
                           "CREATE TEMPORARY TABLE pairpick_new_pairs (image_a text, image_b text, "
                           "category text, score_a float8, score_b float8, "
                           "cross_category boolean, show_first text) ON COMMIT DROP",
                           0, NULL, NULL, err))
            != ERR_OK
        || (code = db_copy_in_start(db, "copy new pairs",
                                    "COPY pairpick_new_pairs FROM STDIN", err))
               != ERR_OK)
        goto done;
    for (size_t i = 0; i < pair_count && code == ERR_OK; i++) {
        StoredPair stored;
        pending_stored_pair(images, categories, provenance, pairs, i, &stored, name, sizeof name);
        uint32_t a = stored.image_a, b = stored.image_b;
        char side[2] = {stored.show_first, '\0'};
        if ((code = buffer_field(&buffer, images_id(images, a), err)) != ERR_OK
            || (code = buffer_raw(&buffer, "\t", err)) != ERR_OK
            || (code = buffer_field(&buffer, images_id(images, b), err)) != ERR_OK
            || (code = buffer_raw(&buffer, "\t", err)) != ERR_OK
            || (code = buffer_field(&buffer, name, err)) != ERR_OK
            || (code = buffer_raw(&buffer, "\t", err)) != ERR_OK
            || (code = buffer_score(&buffer, images, a, err)) != ERR_OK
            || (code = buffer_raw(&buffer, "\t", err)) != ERR_OK
            || (code = buffer_score(&buffer, images, b, err)) != ERR_OK
            || (code = buffer_raw(&buffer, stored.cross ? "\tt\t" : "\tf\t", err)) != ERR_OK
            || (code = buffer_raw(&buffer, side, err)) != ERR_OK
            || (code = buffer_raw(&buffer, "\n", err)) != ERR_OK)
            break;
        code = buffer_send(db, "copy new pairs", &buffer, false, err);
    }
    if ((code = copy_finish(db, "copy new pairs", &buffer, code, err)) != ERR_OK)
        goto done;

    if (asprintf(&sql,
                 "INSERT INTO %s (image_a, image_b, category, score_a, score_b, job, run_id, "
                 "policy, cross_category, show_first) "
                 "SELECT image_a, image_b, category, score_a, score_b, $1, $2, $3, "
                 "cross_category, show_first "
                 "FROM pairpick_new_pairs ORDER BY image_a COLLATE \"C\", image_b COLLATE \"C\" "
                 "ON CONFLICT (image_a, image_b) DO NOTHING",
                 output_table)
        < 0) {
        sql = NULL;
        code = error_nomem(err, strlen(output_table));
        goto done;
    }
    const char *params[3] = {info->job, info->run_id, provenance->policy};
    if ((code = db_command(db, "insert pairs", sql, 3, params, &counts->pairs_inserted, err))
        != ERR_OK)
        goto done;
    /* Fewer rows than pairs: another job stored some of them since the
     * read (its transaction committed while this INSERT waited on the
     * unique key), and the caller chooses again rather than come up short;
     * or a trigger or rule of the table skipped them, and it stays so. */
    if (check_taken && counts->pairs_inserted < pair_count) {
        if ((code = count_taken(db, output_table, info, taken_count, err)) != ERR_OK
            || *taken_count > 0)
            goto done; /* rolled back */
    }
    if (hook != NULL && hook->store != NULL
        && (code = hook->store(hook->context, db, err)) != ERR_OK)
        goto done;
    const char *stage_seconds =
        hook != NULL && hook->stage_seconds != NULL ? hook->stage_seconds(hook->context) : NULL;
    if ((code = runs_succeed(db, info, counts, stage_seconds, err)) != ERR_OK)
        goto done;
    code = db_commit(db, "commit write", err);
    open = false;

done:
    if (open) {
        db_rollback(db, "rollback write");
        counts->pairs_inserted = 0;
    }
    free(sql);
    free(buffer.data);
    return code;
}

/*
 * Jobs writing overlapping pairs at once insert them in one order (the
 * unique key's), so one waits for the other instead of deadlocking; a
 * deadlock or serialization failure that happens anyway (another writer of
 * the table in another order) runs the transaction again, up to 3 times.
 */
int write_pairs(Db *db, const char *output_table, const RunInfo *info, const Images *images,
                const PairCategories *categories, const Pair *pairs, size_t pair_count,
                const PairProvenance *provenance, RunCounts *counts, PairSet **existing,
                size_t *taken_count, const WriteHook *hook, Error *err)
{
    enum { ATTEMPTS = 3 };
    int code = ERR_OK;
    for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
        *taken_count = 0;
        code = write_once(db, output_table, info, images, categories, pairs, pair_count,
                          provenance, counts, existing != NULL, taken_count, hook, err);
        if (code == ERR_OK && *taken_count > 0)
            code = reload_existing(db, output_table, images, existing, err);
        if (code == ERR_OK || attempt == ATTEMPTS || !db_last_error_is_conflict(db))
            break;
        log_line("warning", "write", NULL, "write attempt %d of %d failed, running it again: %s",
                 attempt, ATTEMPTS, err->message);
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 50000000L * attempt};
        nanosleep(&pause, NULL);
    }
    return code;
}

/* One pair as a log line whose figures are the pair. */
static void print_pair_json(const Images *images, uint32_t a, uint32_t b, const char *category,
                            size_t index, size_t pair_count)
{
    char *figures = NULL;
    size_t length = 0;
    FILE *memory = open_memstream(&figures, &length);
    if (memory == NULL)
        return;
    fputs("{\"id_a\":", memory);
    json_string(memory, images_id(images, a));
    fputs(",\"id_b\":", memory);
    json_string(memory, images_id(images, b));
    fputs(",\"category\":", memory);
    json_string(memory, category);
    if (images->score != NULL) {
        fputs(",\"score_a\":", memory);
        json_number(memory, "%.6g", images->score[a]);
        fputs(",\"score_b\":", memory);
        json_number(memory, "%.6g", images->score[b]);
    }
    fputc('}', memory);
    if (fclose(memory) == 0)
        log_line("info", "pair", figures, "pair %zu of %zu", index + 1, pair_count);
    free(figures);
}

void write_print_pairs(FILE *out, const Images *images, const PairCategories *categories,
                       const Pair *pairs, size_t pair_count, const PairProvenance *provenance,
                       PairsPrintFormat format)
{
    char name[512];
    if (format == PAIRS_PRINT_CSV)
        fprintf(out, "id_a,id_b,category%s\n", images->score != NULL ? ",score_a,score_b" : "");
    for (size_t i = 0; i < pair_count; i++) {
        StoredPair stored;
        pending_stored_pair(images, categories, provenance, pairs, i, &stored, name, sizeof name);
        uint32_t a = stored.image_a, b = stored.image_b;
        if (format == PAIRS_PRINT_JSON) {
            print_pair_json(images, a, b, name, i, pair_count);
            continue;
        }
        if (format == PAIRS_PRINT_CSV) {
            csv_field(out, images_id(images, a));
            fputc(',', out);
            csv_field(out, images_id(images, b));
            fputc(',', out);
            csv_field(out, name);
        } else {
            fprintf(out, "%s\t%s\t%s", images_id(images, a), images_id(images, b), name);
        }
        if (images->score != NULL)
            fprintf(out, format == PAIRS_PRINT_CSV ? ",%.6g,%.6g" : "\t%.6g\t%.6g",
                    images->score[a], images->score[b]);
        fputc('\n', out);
    }
}
