#include "read/parallel.h"

#include "core/cancel.h"
#include "core/log.h"

#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The least address space a SharedRows reserves (options.shared_rows). */
#define SHARED_RESERVE_BYTES ((size_t)32 << 30)

/* Rejected rows from all workers go through one lock to the caller's callback. */
typedef struct {
    pthread_mutex_t lock;
    void (*on_reject)(void *context, const char *id, size_t id_length, RejectReason reason);
    void *context;
} SharedRejects;

/* One worker thread: its connection, its partition and what it read. */
typedef struct {
    Db *db;
    const Plan *plan;
    StreamOptions options;
    const char *snapshot;
    int parts, part;
    Images images;                /* its rows; embeddings in its slice of the caller's matrix */
    StreamStats stats;
    Error err;
    int code;
} Worker;

/* The workers of one parallel read and what they share. */
typedef struct {
    const Plan *plan;
    StreamOptions options;        /* the caller's, with the embedding's format and dimension */
    size_t dim;
    int workers;
    Worker *pool;
    pthread_t *threads;
    uint64_t *part_rows;          /* rows counted in each partition */
    uint64_t total;
    void **row_contexts;          /* on_row's context for each worker; NULL without on_row */
    char snapshot[80];
    SharedRejects rejects;
    SharedRows *shared;           /* options.shared_rows: the one matrix, slots claimed */
} Fanout;

static void shared_reject(void *context, const char *id, size_t id_length, RejectReason reason)
{
    SharedRejects *shared = context;
    pthread_mutex_lock(&shared->lock);
    shared->on_reject(shared->context, id, id_length, reason);
    pthread_mutex_unlock(&shared->lock);
}

static int worker_feed(void *context, const char *data, size_t length, Error *err)
{
    if (cancel_requested())
        return error_set(err, ERR_TEMPFAIL, "cancelled by signal %d", cancel_signal());
    return copy_parser_feed(context, data, length, err);
}

/* Opens the worker's transaction in the main one's snapshot, ready for its COPY. */
static int worker_begin(Worker *worker, Error *err)
{
    int code = db_begin(worker->db, "begin worker", "ISOLATION LEVEL REPEATABLE READ", err);
    if (code != ERR_OK)
        return code;
    /* SET TRANSACTION SNAPSHOT takes no parameters; the id comes from the
     * server's own pg_export_snapshot(), never from outside. */
    char set_snapshot[128];
    snprintf(set_snapshot, sizeof set_snapshot, "SET TRANSACTION SNAPSHOT '%s'", worker->snapshot);
    if ((code = db_command(worker->db, "set snapshot", set_snapshot, 0, NULL, NULL, err)) != ERR_OK)
        return code;
    return stream_set_copy_parameters(worker->db, worker->plan, err);
}

/* A worker thread: streams its partition into its Images; the outcome stays in worker. */
static void *worker_run(void *argument)
{
    Worker *worker = argument;
    CopyParser *parser = NULL;
    char *sql = NULL;
    Error *err = &worker->err;
    int code;

    if ((code = worker_begin(worker, err)) != ERR_OK
        || (code = copy_parser_new(worker->plan, &worker->options, &worker->images, &parser, err))
               != ERR_OK)
        goto done;
    sql = worker->options.count_filtered
              ? plan_partition_counting_copy(worker->plan, worker->parts, worker->part)
              : plan_partition_copy(worker->plan, worker->parts, worker->part);
    if (sql == NULL) {
        code = error_nomem(err, 0);
        goto done;
    }
    code = db_copy_out(worker->db, "select images (partition)", sql, 0, NULL, worker_feed, parser,
                       err);
    if (code == ERR_OK)
        code = copy_parser_finish(parser, err);
    worker->stats = *copy_parser_stats(parser);
    if (code == ERR_OK)
        code = db_commit(worker->db, "commit worker", err);
done:
    copy_parser_free(parser);
    free(sql);
    worker->code = code;
    return NULL;
}

/* Whether the snapshot id is what pg_export_snapshot() returns (hex and dashes). */
static bool snapshot_id_ok(const char *id)
{
    if (id[0] == '\0' || strlen(id) > 64)
        return false;
    for (const char *p = id; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F') || *p == '-'))
            return false;
    return true;
}

/*
 * The embedding's format (described) and dimension (pinned, else probed
 * from the first row that has one), the same for every worker; the
 * dimension stays 0 when no selected row has an embedding.
 */
static int settle_embedding(Db *db, Fanout *fanout, Error *err)
{
    StreamOptions *options = &fanout->options;
    int code = stream_describe_embedding(db, fanout->plan, &options->embedding_format, err);
    if (code == ERR_OK && fanout->dim == 0)
        code = stream_probe_dim(db, fanout->plan, options->embedding_format, &fanout->dim, err);
    if (code != ERR_OK)
        return code;
    if (fanout->dim == 0 && options->on_row != NULL) /* callers with on_row pin the dimension */
        return error_set(err, ERR_INTERNAL, "a row callback without a pinned dimension");
    options->embedding_dim = fanout->dim;
    return ERR_OK;
}

/* The main transaction's snapshot, which every worker's transaction joins. */
static int export_snapshot(Db *db, Fanout *fanout, Error *err)
{
    int code = db_query_text(db, "export snapshot", "SELECT pg_export_snapshot()", 0, NULL,
                             fanout->snapshot, sizeof fanout->snapshot, NULL, err);
    if (code == ERR_OK && !snapshot_id_ok(fanout->snapshot))
        code = error_set(err, ERR_INTERNAL, "unexpected snapshot id \"%s\"", fanout->snapshot);
    return code;
}

static int fanout_alloc(Fanout *fanout, Error *err)
{
    size_t workers = (size_t)fanout->workers;
    fanout->part_rows = calloc(workers, sizeof *fanout->part_rows);
    fanout->pool = calloc(workers, sizeof *fanout->pool);
    fanout->threads = calloc(workers, sizeof *fanout->threads);
    if (fanout->part_rows == NULL || fanout->pool == NULL || fanout->threads == NULL)
        return error_nomem(err, 0);
    return ERR_OK;
}

int stream_count_partitions(Db *db, const Plan *plan, int parts, uint64_t *kept,
                            uint64_t *source_rows, Error *err)
{
    DbResult *result = NULL;
    char *sql = plan_partition_count(plan, parts);
    if (sql == NULL)
        return error_nomem(err, 0);
    memset(kept, 0, (size_t)parts * sizeof *kept);
    *source_rows = 0;
    int code = db_query(db, "count partitions", sql, plan->param_count,
                        (const char *const *)plan->params, &result, err);
    for (int i = 0; code == ERR_OK && i < db_result_rows(result); i++) {
        int part = atoi(db_result_value(result, i, 0));
        if (part < 0 || part >= parts) {
            code = error_set(err, ERR_INTERNAL, "the partition count returned partition %d of %d",
                             part, parts);
            break;
        }
        kept[part] = strtoull(db_result_value(result, i, 1), NULL, 10);
        *source_rows += strtoull(db_result_value(result, i, 2), NULL, 10);
    }
    db_result_free(result);
    free(sql);
    return code;
}

/*
 * Each partition's rows, so every worker's slice has its final place: the
 * caller's counts from this snapshot when it has them, else one scan.
 */
static int count_partitions(Db *db, Fanout *fanout, Error *err)
{
    const StreamOptions *options = &fanout->options;
    uint64_t source_rows;
    int code = ERR_OK;
    if (options->part_rows != NULL && options->part_count == fanout->workers)
        memcpy(fanout->part_rows, options->part_rows,
               (size_t)fanout->workers * sizeof *fanout->part_rows);
    else
        code = stream_count_partitions(db, fanout->plan, fanout->workers, fanout->part_rows,
                                       &source_rows, err);
    for (int w = 0; code == ERR_OK && w < fanout->workers; w++)
        fanout->total += fanout->part_rows[w];
    return code;
}

/*
 * No count first: one matrix reserved for options.shared_rows rows, whose
 * slots the workers claim as rows come (the caller's Images notes them as
 * it merges the parts), and each partition's COPY marks the rows the
 * filters drop, so that the source is scanned once.
 */
static int share_rows(Fanout *fanout, Images *images, Error *err)
{
    int code = images_set_dim(images, fanout->dim, err);
    if (code != ERR_OK)
        return code;
    /* Address space is cheap where nothing limits it (only written pages
     * take memory): at least SHARED_RESERVE_BYTES, so that statistics
     * gone stale by far more than the caller's margin still fit. */
    size_t rows = fanout->options.shared_rows;
    size_t floor = SHARED_RESERVE_BYTES / (fanout->dim * sizeof(float));
    if (rows < floor)
        rows = floor < UINT32_MAX - 1 ? floor : UINT32_MAX - 1;
    Error ignored;
    fanout->shared = shared_rows_new(fanout->dim, rows, &ignored);
    if (fanout->shared != NULL)
        images_attach_shared(images, fanout->shared);
    else /* no address space for it (ulimit -v): counted slices, as without shared_rows */
        log_line("debug", "read", NULL,
                 "no room to reserve %zu rows of %zu floats: counting the partitions first",
                 rows, fanout->dim);
    return ERR_OK;
}

/* The one embedding matrix at its final size, and room for every row. */
static int size_images(const Fanout *fanout, Images *images, Error *err)
{
    int code = ERR_OK;
    if (fanout->plan->has_embedding && images->has_embedding)
        code = images_set_dim(images, fanout->dim, err);
    if (code == ERR_OK && !fanout->options.lookup_only)
        code = images_reserve(images, fanout->total > 0 ? fanout->total : 1, err);
    return code;
}

/* With a row sink, the caller's on_row context for each worker's partition. */
static int partition_contexts(Fanout *fanout, Error *err)
{
    const StreamOptions *options = &fanout->options;
    if (options->on_row == NULL)
        return ERR_OK;
    if (options->on_partitions == NULL)
        return error_set(err, ERR_INTERNAL,
                         "a parallel read with a row callback needs one context per worker");
    fanout->row_contexts = calloc((size_t)fanout->workers, sizeof *fanout->row_contexts);
    if (fanout->row_contexts == NULL)
        return error_nomem(err, (size_t)fanout->workers * sizeof *fanout->row_contexts);
    return options->on_partitions(options->partitions_context, fanout->part_rows, fanout->workers,
                                  fanout->row_contexts, err);
}

/*
 * Each worker's options, partition and slice of the one embedding matrix
 * (partitions in order, so the slices follow each other), and its own
 * connection.
 */
static int connect_workers(Fanout *fanout, const Images *images, StreamConnectFn connect,
                           void *connect_context, Error *err)
{
    uint64_t offset = 0;
    for (int w = 0; w < fanout->workers; w++) {
        Worker *worker = &fanout->pool[w];
        worker->plan = fanout->plan;
        worker->options = fanout->options;
        if (fanout->row_contexts != NULL)
            worker->options.row_context = fanout->row_contexts[w];
        if (fanout->options.on_reject != NULL) {
            worker->options.on_reject = shared_reject;
            worker->options.reject_context = &fanout->rejects;
        }
        worker->snapshot = fanout->snapshot;
        worker->parts = fanout->workers;
        worker->part = w;
        images_init(&worker->images, images->has_score, images->has_variance, images->has_label,
                    images->has_embedding);
        if (fanout->shared != NULL) {
            images_attach_shared(&worker->images, fanout->shared);
        } else if (images->has_embedding) {
            images_attach_embedding(&worker->images, images->embedding + offset * fanout->dim,
                                    fanout->part_rows[w], fanout->dim);
            offset += fanout->part_rows[w];
        }
        int code = connect(connect_context, &worker->db, err);
        if (code != ERR_OK)
            return code;
    }
    return ERR_OK;
}

/* Starts a thread per worker and waits for them all; the first failed worker's error wins. */
static int run_workers(Fanout *fanout, Error *err)
{
    int started = 0, code = ERR_OK;
    for (int w = 0; w < fanout->workers; w++) {
        if (pthread_create(&fanout->threads[w], NULL, worker_run, &fanout->pool[w]) != 0) {
            code = error_set(err, ERR_INTERNAL, "cannot start a streaming thread");
            break;
        }
        started++;
    }
    for (int w = 0; w < started; w++)
        pthread_join(fanout->threads[w], NULL);
    for (int w = 0; code == ERR_OK && w < fanout->workers; w++) {
        if (fanout->pool[w].code != ERR_OK) {
            *err = fanout->pool[w].err;
            code = fanout->pool[w].code;
        }
    }
    return code;
}

/*
 * Sums the workers' stats, and appends their rows in partition order (the
 * partitions are by id hash: no id is in two); embedding rows move down
 * inside the one matrix (never up, so memmove is safe), or stay in their
 * slots of a SharedRows.
 */
static int gather(const Fanout *fanout, Images *images, StreamStats *stats, Error *err)
{
    Images *parts = malloc((size_t)fanout->workers * sizeof *parts);
    if (parts == NULL)
        return error_nomem(err, (size_t)fanout->workers * sizeof *parts);
    for (int w = 0; w < fanout->workers; w++) {
        const StreamStats *part = &fanout->pool[w].stats;
        stats->rows_read += part->rows_read;
        stats->filtered_out += part->filtered_out;
        stats->bytes_read += part->bytes_read;
        for (int r = 0; r < REJECT_REASON_COUNT; r++)
            stats->rejected[r] += part->rejected[r];
        parts[w] = fanout->pool[w].images;
    }
    int code = images_merge_parts(images, parts, (size_t)fanout->workers, err);
    free(parts);
    return code;
}

static void fanout_release(Fanout *fanout, Db *db)
{
    for (int w = 0; fanout->pool != NULL && w < fanout->workers; w++) {
        images_release(&fanout->pool[w].images);
        db_close(fanout->pool[w].db);
    }
    if (fanout->pool != NULL)
        db_watch_cancel(db); /* worker connections closed; watch the main one again */
    free(fanout->part_rows);
    free(fanout->row_contexts);
    free(fanout->pool);
    free(fanout->threads);
    shared_rows_free(fanout->shared); /* after the workers' Images, which point into it */
}

int stream_read_parallel(Db *db, const Plan *plan, const StreamOptions *options, int workers,
                         StreamConnectFn connect, void *connect_context, Images *images,
                         StreamStats *stats, Error *err)
{
    Fanout fanout = {
        .plan = plan,
        .options = *options,
        .dim = options->embedding_dim,
        .workers = workers,
        .rejects = {PTHREAD_MUTEX_INITIALIZER, options->on_reject, options->reject_context},
    };
    int code;

    memset(stats, 0, sizeof *stats);
    if (plan->id_uuid && (code = images_use_uuid_ids(images, err)) != ERR_OK)
        return code;
    if (plan->has_embedding) {
        if ((code = settle_embedding(db, &fanout, err)) != ERR_OK)
            return code;
        if (fanout.dim == 0) { /* no usable embedding at all: one stream says so simply */
            StreamOptions single = *options;
            single.count_filtered = options->shared_rows > 0; /* nothing counted it before */
            return stream_read(db, plan, &single, images, stats, err);
        }
    }
    if ((code = export_snapshot(db, &fanout, err)) != ERR_OK)
        return code;
    bool shared = fanout.options.shared_rows > 0 && plan->has_embedding
                  && fanout.options.on_row == NULL && !fanout.options.lookup_only;
    /* Nothing counted the source before: the streams count what the filters drop. */
    fanout.options.count_filtered = shared && plan->copy_counting_sql != NULL;
    if ((code = fanout_alloc(&fanout, err)) == ERR_OK
        && (!shared || (code = share_rows(&fanout, images, err)) == ERR_OK)
        && (fanout.shared != NULL || (code = count_partitions(db, &fanout, err)) == ERR_OK)
        && (fanout.shared != NULL || (code = size_images(&fanout, images, err)) == ERR_OK)
        && (code = partition_contexts(&fanout, err)) == ERR_OK
        && (code = connect_workers(&fanout, images, connect, connect_context, err)) == ERR_OK
        && (code = run_workers(&fanout, err)) == ERR_OK)
        code = gather(&fanout, images, stats, err);
    if (fanout.shared != NULL)
        images_adopt_shared(images, fanout.shared); /* also after a failure: images frees it */
    fanout_release(&fanout, db);
    return code;
}

int stream_read_split(Db *db, const Plan *plan, StreamOptions *options, int streams,
                      StreamConnectFn connect, void *connect_context, Images *images,
                      StreamStats *stats, Error *err)
{
    if (streams > 1)
        return stream_read_parallel(db, plan, options, streams, connect, connect_context, images,
                                    stats, err);
    void *context = NULL;
    int code = options->on_partitions(options->partitions_context, NULL, 1, &context, err);
    if (code != ERR_OK)
        return code;
    StreamOptions single = *options;
    single.row_context = context;
    return stream_read(db, plan, &single, images, stats, err);
}
