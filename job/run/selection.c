#include "run/selection.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpus.h"
#include "core/log.h"
#include "db/pending.h"
#include "numeric/kmeans.h"
#include "numeric/model.h"
#include "numeric/reservoir.h"
#include "run/choose.h"
#include "run/session.h"

/*
 * Embeddings are what makes reading slow; they are streamed over several
 * connections when resources.workers asks for more than one, or by default
 * (one per usable CPU, at most DEFAULT_WORKERS_MAX) from this many rows on.
 */
#define PARALLEL_MIN_ROWS 20000
/* The default stops here: a pod on a 64-core node should not open 65 backends. */
#define DEFAULT_WORKERS_MAX 4
/* Partitions counted up front: resources.workers' largest value. */
#define READ_MAX_PARTS 256

/* Bytes per row besides the embedding: id arena and index, offsets, scores. */
#define ROW_OVERHEAD 96
/* What the process needs besides the data (libraries, BLAS buffers). */
#define BASELINE_BYTES (96u << 20)
/* The share of what is left that the bounded sample takes (k-means' own
 * buffers and the second pass take the rest). */
#define SAMPLE_SHARE 0.8

#define RESERVOIR_LABEL 0x726573657276ULL /* "reserv" */

int read_default_workers(void)
{
    int cpus = cpus_usable();
    return cpus < DEFAULT_WORKERS_MAX ? cpus : DEFAULT_WORKERS_MAX;
}

int read_streams(const JobConfig *config, const Plan *plan, uint64_t total)
{
    int workers = config->resources.workers > 0 ? config->resources.workers
                                                : read_default_workers();
    bool parallel = plan->has_embedding && workers > 1
                    && (config->resources.workers > 0 || total >= PARALLEL_MIN_ROWS);
    return parallel ? workers : 1;
}

/*
 * READ_BOUNDED. The sample is the rows with the smallest seeded hashes of
 * their ids (ReservoirSet), whichever stream reads them, fitted in hash
 * order; pass 2 assigns every row over the same streams.
 */
static int read_bounded(Db *db, const ReadRequest *request, size_t dim, size_t sample_rows,
                        int streams, Images *images, Rng *rng, ReadResult *result, Error *err)
{
    const JobConfig *config = request->config;
    ReservoirSet sample;
    Kmeans *kmeans = NULL;
    ClusterModel *model = NULL;
    StreamStats again;
    int code;

    if ((code = reservoir_set_init(&sample, sample_rows, dim, streams, rng, RESERVOIR_LABEL, err))
        != ERR_OK)
        goto done;

    /* Pass 1: a uniform sample of the rows. */
    StreamOptions pass = *request->stream_options;
    pass.embedding_dim = dim;
    pass.on_row = reservoir_set_row;
    pass.on_partitions = reservoir_set_partitions;
    pass.partitions_context = &sample;
    Images kept;
    images_init(&kept, images->has_score, images->has_variance, images->has_label, false);
    *images = kept; /* ids, scores and labels only */
    if ((code = stream_read_split(db, request->plan, &pass, streams, run_connect_worker,
                                  (void *)config, images, &result->stats, err))
        != ERR_OK)
        goto done;
    size_t fitted_rows = reservoir_set_gather(&sample);

    KmeansOptions options = config_kmeans_options(config);
    if ((size_t)options.cluster_count > fitted_rows) {
        code = error_set(err, ERR_DATA, "cannot make %d clusters from %zu images",
                         options.cluster_count, fitted_rows);
        goto done;
    }
    if (options.metric == KMEANS_COSINE)
        kmeans_normalize_rows(sample.sample, fitted_rows, dim);
    if ((code = kmeans_new(&options, dim, &kmeans, err)) != ERR_OK
        || (code = kmeans_fit(kmeans, sample.sample, fitted_rows, rng, NULL, err)) != ERR_OK)
        goto done;
    reservoir_set_release(&sample);

    /* Pass 2: every row to its nearest center, as through a stored model
     * (normalized for cosine, no PCA), over the same streams. */
    if ((code = model_new("bounded", 0, options.metric, dim, options.cluster_count, 0, NULL, NULL,
                          0.0, kmeans_centers(kmeans), NULL, NULL, &model, err))
        != ERR_OK)
        goto done;
    size_t rows = images->count > 0 ? images->count : 1;
    if ((result->cluster_labels = malloc(rows * sizeof(int32_t))) == NULL) {
        code = error_nomem(err, rows * sizeof(int32_t));
        goto done;
    }
    double inertia = 0.0;
    pass = *request->stream_options;
    pass.on_reject = NULL; /* reported by pass 1 */
    if ((code = model_read_assign_rows(model, db, request->plan, &pass, true, streams,
                                       run_connect_worker, (void *)config, images,
                                       result->cluster_labels, rows, NULL, &inertia, &again, err))
        != ERR_OK)
        goto done;
    result->clusters.cluster_of = result->cluster_labels;
    result->clusters.cluster_count = options.cluster_count;
    result->clusters.inertia = inertia;
    result->clusters.iterations = kmeans_iterations(kmeans);

done:
    reservoir_set_release(&sample);
    model_free(model);
    kmeans_free(kmeans);
    return code;
}

/* The in-memory matrix of rows x dim floats, as the report's memory note says it. */
static void matrix_note(ReportMemory *memory, uint64_t rows, size_t dim, const char *suffix)
{
    snprintf(memory->note, sizeof memory->note, "%" PRIu64 " x %zu float32 matrix of %.0f MB%s",
             rows, dim, (double)rows * (double)dim * sizeof(float) / 1e6, suffix);
}

/*
 * How an embedding read without a stored model holds its rows: in memory
 * when the float32 matrix fits resources.memory_limit (or there is none),
 * else bounded on a sample of *sample_rows rows. ERR_DATA when not even a
 * sample of 4 rows per cluster fits.
 */
static int choose_embedding_mode(Db *db, const ReadRequest *request, uint64_t total,
                                 ReadMode *mode, size_t *dim, size_t *sample_rows,
                                 ReportMemory *memory, Error *err)
{
    const JobConfig *config = request->config;
    int64_t limit = config->resources.memory_limit_bytes;
    EmbeddingFormat format;
    int code;

    *dim = (size_t)config->source.embedding_dim;
    if ((code = stream_describe_embedding(db, request->plan, &format, err)) != ERR_OK
        || (*dim == 0 && (code = stream_probe_dim(db, request->plan, format, dim, err)) != ERR_OK))
        return code;
    double matrix = (double)total * (double)*dim * sizeof(float);
    double needed = matrix + (double)total * ROW_OVERHEAD + BASELINE_BYTES;
    *mode = READ_IN_MEMORY;
    memory->mode = "in_memory";
    matrix_note(memory, total, *dim, limit > 0 ? " fits resources.memory_limit" : "");
    if (limit <= 0 || *dim == 0 || needed <= (double)limit)
        return ERR_OK;

    double room = (double)limit - (double)total * ROW_OVERHEAD - BASELINE_BYTES;
    *sample_rows = room > 0 ? (size_t)(room * SAMPLE_SHARE / ((double)*dim * sizeof(float))) : 0;
    if (*sample_rows > total)
        *sample_rows = (size_t)total;
    size_t least = (size_t)config->strategy.clusters * 4;
    if (*sample_rows < least) {
        /* The smallest limit whose room holds `least` sample rows, in whole MB. */
        double smallest = (double)total * ROW_OVERHEAD + BASELINE_BYTES
                          + (double)least * (double)*dim * sizeof(float) / SAMPLE_SHARE;
        return error_set(err, ERR_DATA,
                         "resources.memory_limit of %.0f MB cannot hold a sample of %zu "
                         "embeddings of %zu dimensions (4 per cluster) besides the ids and "
                         "scores of the %" PRIu64 " rows (%d bytes each) and the %u MiB the "
                         "process itself needs"
                         "\nHINT: set resources.memory_limit to at least %.0fMB, or lower "
                         "strategy.clusters",
                         (double)limit / 1e6, least, *dim, total, ROW_OVERHEAD,
                         (unsigned)(BASELINE_BYTES >> 20), ceil(smallest / 1e6));
    }
    *mode = READ_BOUNDED;
    memory->mode = "bounded";
    snprintf(memory->note, sizeof memory->note,
             "the %.0f MB matrix (%" PRIu64 " x %zu) exceeds memory_limit %.0f MB: "
             "fitted on a uniform sample of %zu rows, then assigned all in a second pass",
             matrix / 1e6, total, *dim, (double)limit / 1e6, *sample_rows);
    return ERR_OK;
}

/* READ_ASSIGN: every row to the stored model's centres while streaming. */
static int read_assign(Db *db, const ReadRequest *request, uint64_t total, int streams,
                       Images *images, Rng *rng, ReadResult *result, ReportMemory *memory,
                       Error *err)
{
    memory->mode = "assign";
    snprintf(memory->note, sizeof memory->note,
             "%s%s: ids, scores and labels only, no embedding matrix",
             request->model->refit ? "fitted a new model version on a sample, then " : "",
             "assigned to stored centres while streaming");
    return model_read_assign(request->config, db, request->plan, request->stream_options, total,
                             request->model, streams, run_connect_worker,
                             (void *)request->config, images, &result->stats, rng, err);
}

/*
 * READ_IN_MEMORY: every row, over one connection or several. Without
 * embeddings (counted_in_stream) the stream itself counts the rows the
 * filters drop, and source_rows is what it saw; else kept (the rows the
 * filters keep, counted before in the same snapshot) sizes the columns.
 */
static int read_in_memory(Db *db, const ReadRequest *request, uint64_t kept, int streams,
                          bool counted_in_stream, Images *images, ReadResult *result,
                          Error *err)
{
    int code;
    if (counted_in_stream) {
        StreamOptions options = *request->stream_options;
        options.count_filtered = true;
        code = stream_read(db, request->plan, &options, images, &result->stats, err);
        result->source_rows = result->stats.rows_read + result->stats.filtered_out;
        return code;
    }
    if (streams > 1)
        return stream_read_parallel(db, request->plan, request->stream_options, streams,
                                    run_connect_worker, (void *)request->config, images,
                                    &result->stats, err);
    if ((code = images_reserve(images, kept, err)) != ERR_OK)
        return code;
    return stream_read(db, request->plan, request->stream_options, images, &result->stats, err);
}

/* What the output table holds among the images, in the read's snapshot. */
static int read_output_table(Db *db, const ReadRequest *request, const Images *images,
                             ReadResult *result, Error *err)
{
    const JobConfig *config = request->config;
    const char *table = request->plan->output_table;
    int code;
    /* The stored pairs count against resources.memory_limit with the images. */
    int64_t limit = config->resources.memory_limit_bytes;
    size_t held = images_memory(images);
    size_t cap = limit <= 0 ? 0 : (uint64_t)limit > held ? (size_t)limit - held : 1;
    bool uploaded;
    if ((code = write_load_existing(db, table, images, cap, &result->existing, &uploaded, err))
        != ERR_OK)
        return code;
    log_line("debug", "read", NULL, "%zu pairs already stored among the images: %zu bytes",
             pairset_count(result->existing), pairset_memory(result->existing));
    if (choose_uses_selector(config)) {
        result->exposure = malloc((images->count + 1) * sizeof *result->exposure);
        if (result->exposure == NULL)
            return error_nomem(err, images->count * sizeof *result->exposure);
        if ((code = write_load_exposure(db, table, images, uploaded, result->exposure, err))
            != ERR_OK)
            return code;
    }
    if (config->strategy.max_comparisons > 0) {
        result->comparisons = malloc((images->count + 1) * sizeof *result->comparisons);
        if (result->comparisons == NULL)
            return error_nomem(err, images->count * sizeof *result->comparisons);
        if ((code = write_load_comparisons(db, table, images, uploaded, result->comparisons,
                                           err))
            != ERR_OK)
            return code;
    }
    if (config->output.max_pending > 0)
        return write_count_pending(db, table, config->job, &result->pending_before, err);
    return ERR_OK;
}

/*
 * An in-memory parallel embedding read needs no count first when the
 * source is a table whose statistics say how many rows it has: the
 * streams claim the rows' slots in one matrix with room for
 * SHARED_ROWS_FACTOR times that many plus SHARED_ROWS_MARGIN (address
 * space only), and count what the filters drop as they go. *rows is 0 when
 * the read must count first: a memory limit to keep (the mode depends on
 * the count), a stored model, a query or view as the source, statistics
 * never gathered, one stream.
 */
#define SHARED_ROWS_FACTOR 2
#define SHARED_ROWS_MARGIN 65536

static int shared_rows_for(Db *db, const ReadRequest *request, size_t *rows, int *streams,
                           Error *err)
{
    const JobConfig *config = request->config;
    const Plan *plan = request->plan;
    *rows = 0;
    if (!plan->has_embedding || request->model != NULL || config->resources.memory_limit_bytes > 0
        || request->stream_options->on_row != NULL || config->source.table == NULL)
        return ERR_OK;
    char estimate[64];
    bool is_null = true;
    const char *params[1] = {plan->source_sql};
    int code = db_query_text(db, "estimate rows",
                             "SELECT CASE WHEN c.relkind IN ('r', 'm') AND c.reltuples >= 0 "
                             "THEN c.reltuples::bigint END FROM pg_catalog.pg_class c "
                             "WHERE c.oid = $1::pg_catalog.regclass",
                             1, params, estimate, sizeof estimate, &is_null, err);
    if (code != ERR_OK || is_null)
        return code;
    uint64_t estimated = strtoull(estimate, NULL, 10);
    *streams = read_streams(config, plan, estimated);
    if (*streams > 1 && estimated <= (UINT32_MAX - SHARED_ROWS_MARGIN) / SHARED_ROWS_FACTOR)
        *rows = (size_t)estimated * SHARED_ROWS_FACTOR + SHARED_ROWS_MARGIN;
    return ERR_OK;
}

/*
 * The rows in id order (images_sort_by_id), with the labels a bounded or
 * assigning read gave them: what follows (k-means, categories, pairs) sees
 * the same rows in the same order whatever the number of streams.
 */
static int canonical_order(const ReadRequest *request, Images *images, ReadResult *result,
                           Error *err)
{
    uint32_t *order = NULL;
    if (images->count == 0)
        return ERR_OK; /* an empty selection is in every order at once */
    int code = images_sort_by_id(images, &order, err);
    if (order == NULL)
        return code; /* no row moved */
    if (code == ERR_OK && result->mode == READ_BOUNDED && result->cluster_labels != NULL)
        code = images_order_apply(result->cluster_labels, order, images->count, err);
    if (code == ERR_OK && result->mode == READ_ASSIGN && request->model->cluster_of != NULL)
        code = images_order_apply(request->model->cluster_of, order, images->count, err);
    free(order);
    return code;
}

/* The read inside the caller's snapshot. */
static int read_in_snapshot(Db *db, const ReadRequest *request, Images *images, Rng *rng,
                            ReadResult *result, ReportMemory *memory, Error *err)
{
    const Plan *plan = request->plan;
    size_t dim = 0, sample_rows = 0;
    int code;

    /* A read without embeddings streams over one connection and counts the
     * rows its filters drop as it goes: no second scan of the source. So
     * does a parallel in-memory embedding read of a table with statistics
     * (shared_rows_for). Any other embedding read needs the counts first
     * (memory mode, streams, each stream's slice of the matrix): one scan
     * counts the source and what each partition keeps, for as many
     * partitions as a parallel read would use, and every pass of the read
     * takes those counts. */
    bool counted_in_stream = !plan->has_embedding;
    ReadRequest counted = *request;
    StreamOptions options = *request->stream_options;
    uint64_t kept[READ_MAX_PARTS];
    int parts = read_streams(request->config, plan, PARALLEL_MIN_ROWS);
    size_t shared_rows = 0;
    int shared_streams = 1;
    if (!counted_in_stream
        && (code = shared_rows_for(db, request, &shared_rows, &shared_streams, err)) != ERR_OK)
        return code;
    if (shared_rows > 0) {
        options.shared_rows = shared_rows;
        counted.stream_options = &options;
        request = &counted;
    } else if (!counted_in_stream) {
        if (parts > READ_MAX_PARTS)
            parts = 1; /* counted again by the parallel read itself */
        if ((code = stream_count_partitions(db, plan, parts, kept, &result->source_rows, err))
            != ERR_OK)
            return code;
    }
    uint64_t total = result->source_rows, kept_total = 0;
    for (int p = 0; !counted_in_stream && shared_rows == 0 && p < parts; p++)
        kept_total += kept[p];
    int streams = shared_rows > 0 ? shared_streams : read_streams(request->config, plan, total);
    if (!counted_in_stream && shared_rows == 0 && streams == parts) {
        options.part_rows = kept;
        options.part_count = parts;
        counted.stream_options = &options;
        request = &counted;
    }
    char figures[200];
    snprintf(figures, sizeof figures,
             "{\"streams\":%d,\"workers\":%d,\"default_workers\":%d,\"usable_cpus\":%d,"
             "\"counted_first\":%s}",
             streams, request->config->resources.workers, read_default_workers(),
             cpus_usable(), counted_in_stream || shared_rows > 0 ? "false" : "true");
    log_line("debug", "read", figures,
             "reading over %d connection%s (default workers %d, usable CPUs %d)%s", streams,
             streams == 1 ? "" : "s", read_default_workers(), cpus_usable(),
             shared_rows > 0 ? ", nothing counted first" : "");
    result->mode = READ_IN_MEMORY;
    if (request->model != NULL && plan->has_embedding)
        result->mode = READ_ASSIGN;
    else if (plan->has_embedding
             && (code = choose_embedding_mode(db, request, total, &result->mode, &dim,
                                              &sample_rows, memory, err))
                    != ERR_OK)
        return code;

    switch (result->mode) {
    case READ_ASSIGN:
        code = read_assign(db, request, total, streams, images, rng, result, memory, err);
        break;
    case READ_BOUNDED:
        code = read_bounded(db, request, dim, sample_rows, streams, images, rng, result, err);
        break;
    case READ_IN_MEMORY:
        code = read_in_memory(db, request, kept_total, streams, counted_in_stream, images,
                              result, err);
        if (shared_rows > 0) { /* counted as it streamed */
            result->source_rows = result->stats.rows_read + result->stats.filtered_out;
            matrix_note(memory, result->stats.rows_read, dim, "");
        }
        break;
    }
    if (code != ERR_OK || (code = canonical_order(request, images, result, err)) != ERR_OK)
        return code;
    result->streamed = true;
    if (request->output_table)
        code = read_output_table(db, request, images, result, err);
    return code;
}

int read_selection(Db *db, const ReadRequest *request, Images *images, Rng *rng,
                   ReadResult *result, ReportMemory *memory, Error *err)
{
    memset(result, 0, sizeof *result);
    int code = db_begin(db, "begin read", "ISOLATION LEVEL REPEATABLE READ", err);
    if (code != ERR_OK)
        return code;
    if ((code = read_in_snapshot(db, request, images, rng, result, memory, err)) != ERR_OK) {
        db_rollback(db, "rollback read");
        return code;
    }
    return db_commit(db, "commit read", err);
}

void read_result_counts(const ReadResult *result, RunCounts *counts)
{
    counts->rows_read = result->stats.rows_read;
    counts->filtered_out = result->source_rows > result->stats.rows_read
                               ? result->source_rows - result->stats.rows_read
                               : 0;
    for (int r = 0; r < REJECT_REASON_COUNT; r++)
        counts->rows_skipped += result->stats.rejected[r];
}

void read_result_release(ReadResult *result)
{
    free(result->cluster_labels);
    pairset_free(result->existing);
    free(result->exposure);
    free(result->comparisons);
    memset(result, 0, sizeof *result);
}
