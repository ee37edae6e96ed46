#include "read/parallel.h"

#include "core/cancel.h"
#include "core/log.h"

#include <pthread.h>
#include <signal.h>

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

/*
 * Where the workers wait between their connect and their stream: each
 * connects as soon as its thread starts, while the main connection settles
 * the embedding and exports its snapshot; go says whether to stream.
 */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int connected; /* workers whose connect returned */
    int go;        /* 0: wait; 1: stream; -1: stop */
} Gate;

/* One worker thread: its connection, its partition and what it read. */
typedef struct {
    Gate *gate;
    StreamConnectFn connect;
    void *connect_context;
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
    Gate gate;
    int started;                  /* worker threads running (joined by stop_workers) */
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
    int code = worker->connect(worker->connect_context, &worker->db, err);

    Gate *gate = worker->gate;
    pthread_mutex_lock(&gate->lock);
    worker->code = code; /* read by the main thread once every worker connected */
    gate->connected++;
    pthread_cond_broadcast(&gate->changed);
    while (gate->go == 0)
        pthread_cond_wait(&gate->changed, &gate->lock);
    bool stream = gate->go > 0;
    pthread_mutex_unlock(&gate->lock);
    if (code != ERR_OK || !stream)
        goto done;

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
 * Starts a thread per worker, which connects at once and then waits at the
 * gate. The stopping signals (SIGINT, SIGTERM, SIGHUP) and the watchdog's
 * SIGALRM (core/cancel) go to the caller's thread, which alone swaps the
 * connection they cancel (db_watch_cancel, between cancel_block and
 * cancel_unblock); the workers poll cancel_requested between chunks.
 * A thread that cannot start is a worker whose connect failed.
 */
static void start_workers(Fanout *fanout, StreamConnectFn connect, void *connect_context)
{
    sigset_t stopping, previous;
    sigemptyset(&stopping);
    sigaddset(&stopping, SIGINT);
    sigaddset(&stopping, SIGTERM);
    sigaddset(&stopping, SIGHUP);
    sigaddset(&stopping, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &stopping, &previous);
    for (int w = 0; w < fanout->workers; w++) {
        Worker *worker = &fanout->pool[w];
        worker->gate = &fanout->gate;
        worker->connect = connect;
        worker->connect_context = connect_context;
        if (pthread_create(&fanout->threads[w], NULL, worker_run, worker) != 0)
            break;
        fanout->started++;
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    for (int w = fanout->started; w < fanout->workers; w++) {
        Worker *worker = &fanout->pool[w];
        worker->code = error_set(&worker->err, ERR_INTERNAL, "cannot start a streaming thread");
        pthread_mutex_lock(&fanout->gate.lock);
        fanout->gate.connected++;
        pthread_mutex_unlock(&fanout->gate.lock);
    }
}

/* Opens the gate (go 1: stream, -1: stop) and waits for every worker thread. */
static void stop_workers(Fanout *fanout, int go)
{
    pthread_mutex_lock(&fanout->gate.lock);
    if (fanout->gate.go == 0)
        fanout->gate.go = go;
    pthread_cond_broadcast(&fanout->gate.changed);
    pthread_mutex_unlock(&fanout->gate.lock);
    for (int w = 0; w < fanout->started; w++)
        pthread_join(fanout->threads[w], NULL);
    fanout->started = 0;
}

/* The first failed worker's error, in worker order. */
static int worker_failure(const Fanout *fanout, Error *err)
{
    for (int w = 0; w < fanout->workers; w++) {
        if (fanout->pool[w].code != ERR_OK) {
            *err = fanout->pool[w].err;
            return fanout->pool[w].code;
        }
    }
    return ERR_OK;
}

/*
 * Each worker's options, partition and slice of the one embedding matrix
 * (partitions in order, so the slices follow each other); its connection
 * is its thread's.
 */
static void prepare_workers(Fanout *fanout, const Images *images)
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
    }
}

/*
 * Once every worker has connected: the first failure wins, else the last
 * worker's connection is the one a signal cancels (the others see the
 * signal between chunks) and the workers stream; waits for them all.
 */
static int run_workers(Fanout *fanout, Error *err)
{
    pthread_mutex_lock(&fanout->gate.lock);
    while (fanout->gate.connected < fanout->workers)
        pthread_cond_wait(&fanout->gate.changed, &fanout->gate.lock);
    pthread_mutex_unlock(&fanout->gate.lock);
    int code = worker_failure(fanout, err);
    if (code != ERR_OK) {
        stop_workers(fanout, -1);
        return code;
    }
    db_watch_cancel(fanout->pool[fanout->workers - 1].db);
    stop_workers(fanout, 1);
    return worker_failure(fanout, err);
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
        .gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0},
    };
    bool one_stream = false;
    int code;

    memset(stats, 0, sizeof *stats);
    if (plan->id_uuid && (code = images_use_uuid_ids(images, err)) != ERR_OK)
        return code;
    /* The workers connect while the main connection settles what they need. */
    if ((code = fanout_alloc(&fanout, err)) != ERR_OK)
        goto done;
    start_workers(&fanout, connect, connect_context);
    if (plan->has_embedding) {
        if ((code = settle_embedding(db, &fanout, err)) != ERR_OK)
            goto done;
        if (fanout.dim == 0) { /* no usable embedding at all: one stream says so simply */
            one_stream = true;
            goto done;
        }
    }
    if ((code = export_snapshot(db, &fanout, err)) != ERR_OK)
        goto done;
    bool shared = fanout.options.shared_rows > 0 && plan->has_embedding
                  && fanout.options.on_row == NULL && !fanout.options.lookup_only;
    /* Nothing counted the source before: the streams count what the filters drop. */
    fanout.options.count_filtered = shared && plan->copy_counting_sql != NULL;
    if ((!shared || (code = share_rows(&fanout, images, err)) == ERR_OK)
        && (fanout.shared != NULL || (code = count_partitions(db, &fanout, err)) == ERR_OK)
        && (fanout.shared != NULL || (code = size_images(&fanout, images, err)) == ERR_OK)
        && (code = partition_contexts(&fanout, err)) == ERR_OK) {
        prepare_workers(&fanout, images);
        if ((code = run_workers(&fanout, err)) == ERR_OK)
            code = gather(&fanout, images, stats, err);
    }
done:
    stop_workers(&fanout, -1); /* every thread joined before anything is freed */
    if (fanout.shared != NULL)
        images_adopt_shared(images, fanout.shared); /* also after a failure: images frees it */
    fanout_release(&fanout, db);
    if (one_stream) {
        StreamOptions single = *options;
        single.count_filtered = options->shared_rows > 0; /* nothing counted it before */
        return stream_read(db, plan, &single, images, stats, err);
    }
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
