/*
 * model_read: reads a run's selection through a stored cluster model
 * (strategy.clusters_from): see model_read.h.
 */
#include "read/assign.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/model_store.h"
#include "numeric/reservoir.h"

/* Rows sent through the model's pipeline at once: one sgemm per tile. */
#define MODEL_TILE 4096

void model_use_release(ModelUse *use)
{
    model_free(use->model);
    free(use->cluster_of);
    model_drift_release(&use->drift);
    memset(use, 0, sizeof *use);
}

int model_read_dim(const JobConfig *config, Db *db, const Plan *plan, size_t *dim, Error *err)
{
    EmbeddingFormat format;
    *dim = (size_t)config->source.embedding_dim;
    int code = stream_describe_embedding(db, plan, &format, err);
    if (code == ERR_OK && *dim == 0)
        code = stream_probe_dim(db, plan, format, dim, err);
    return code;
}

int model_read_prepare(const JobConfig *config, Db *db, const Plan *plan, const char *as_of,
                       bool allow_refit, ModelUse *use, Error *err)
{
    int code;
    memset(use, 0, sizeof *use);
    if (!model_parse_ref(config->strategy.clusters_from, use->name, &use->version))
        return error_set(err, ERR_CONFIG, "strategy.clusters_from: \"%s\" is not MODEL[@VERSION]",
                         config->strategy.clusters_from);
    if ((code = model_read_dim(config, db, plan, &use->dim, err)) != ERR_OK)
        return code;
    if (use->dim == 0) {
        /* Nothing to assign (and nothing to refit on): a run with nothing to do. */
        if ((code = model_store_load(db, use->name, use->version, &use->model, err)) != ERR_OK)
            return code;
        use->dim = use->model->dim;
        return ERR_OK;
    }
    if (allow_refit && use->version == 0 && config->strategy.kmeans.refit_after_ms > 0) {
        bool exists;
        if ((code = model_store_due(db, use->name, config->strategy.kmeans.refit_after_ms, as_of,
                                    &exists, &use->refit, err))
            != ERR_OK)
            return code;
        if (use->refit)
            return ERR_OK; /* fitted on this run's data: nothing to check it against */
    }
    if ((code = model_store_load(db, use->name, use->version, &use->model, err)) != ERR_OK)
        return code;
    return model_check(use->model, use->dim, config->strategy.kmeans.metric, err);
}

/*
 * Every row to its nearest stored centre, a tile at a time; only labels are
 * kept. One assigner per stream: each keeps its own drift and inertia (added
 * up in stream order afterwards, so the sums do not depend on timing) and
 * writes labels to its own range (labels[row]: rows count within the
 * stream's partition, or are the selection's own index when looked up).
 * Streams take turns in model_assign (blas_lock): its sgemm already uses
 * every core.
 */
typedef struct {
    const ClusterModel *model;
    const Images *images; /* for lookups when rows come without an index */
    float *tile;
    int64_t rows[MODEL_TILE];
    int32_t labels_tile[MODEL_TILE];
    float distances[MODEL_TILE];
    size_t filled;
    int32_t *labels;      /* where label of row goes: labels[row] */
    size_t capacity;      /* rows labels has room for */
    size_t committed;     /* 1 + the largest row index seen (rows not looked up) */
    ModelDrift drift;
    double inertia;
    pthread_mutex_t *blas_lock; /* NULL: one stream */
} ModelAssigner;

static int model_assign_flush(ModelAssigner *assigner, Error *err)
{
    if (assigner->filled == 0)
        return ERR_OK;
    if (assigner->blas_lock != NULL)
        pthread_mutex_lock(assigner->blas_lock);
    double inertia = 0.0;
    int code = model_assign(assigner->model, assigner->tile, assigner->filled,
                            assigner->labels_tile, assigner->distances, &inertia, err);
    if (assigner->blas_lock != NULL)
        pthread_mutex_unlock(assigner->blas_lock);
    if (code != ERR_OK)
        return code;
    assigner->inertia += inertia;
    model_drift_add(&assigner->drift, assigner->labels_tile, assigner->distances,
                    assigner->filled);
    for (size_t i = 0; i < assigner->filled; i++)
        assigner->labels[assigner->rows[i]] = assigner->labels_tile[i];
    assigner->filled = 0;
    return ERR_OK;
}

static int model_assign_row(void *context, const char *id, size_t id_length, int64_t row,
                            const float *embedding, Error *err)
{
    ModelAssigner *assigner = context;
    if (row < 0)
        row = images_find(assigner->images, id, id_length);
    else if ((size_t)row + 1 > assigner->committed)
        assigner->committed = (size_t)row + 1;
    if (row < 0)
        return ERR_OK; /* not selected in pass 1 (skipped there too) */
    if ((size_t)row >= assigner->capacity)
        return error_set(err, ERR_INTERNAL, "more rows streamed than the selection counted");
    size_t dim = assigner->model->dim;
    memcpy(assigner->tile + assigner->filled * dim, embedding, dim * sizeof(float));
    assigner->rows[assigner->filled++] = row;
    return assigner->filled == MODEL_TILE ? model_assign_flush(assigner, err) : ERR_OK;
}

/* The assigners of one assigning read. */
typedef struct {
    ModelAssigner *assigners;
    int streams, ready;  /* ready: assigners set up (tile and drift to free) */
    const ClusterModel *model;
    const Images *images;
    int32_t *cluster_of;
    size_t capacity;     /* entries of cluster_of */
    bool lookup;         /* rows come looked up (a second pass) */
    pthread_mutex_t blas_lock;
} ModelAssignRead;

/*
 * Gives stream w its assigner. Rows it commits land at its partition's
 * provisional place in cluster_of (after the rows counted in the
 * partitions before it), compacted once all are read; looked-up rows carry
 * their final index already.
 */
static int model_assigners(void *context, const uint64_t *rows, int streams, void **row_contexts,
                           Error *err)
{
    ModelAssignRead *read = context;
    if (streams != read->streams)
        return error_set(err, ERR_INTERNAL, "model assignment: %d streams, not %d", streams,
                         read->streams);
    size_t base = 0;
    for (int w = 0; w < streams; w++) {
        ModelAssigner *assigner = &read->assigners[w];
        size_t part = rows != NULL ? (size_t)rows[w] : read->capacity;
        assigner->model = read->model;
        assigner->images = read->images;
        assigner->blas_lock = streams > 1 ? &read->blas_lock : NULL;
        if (read->lookup || streams == 1) {
            assigner->labels = read->cluster_of;
            assigner->capacity = read->capacity;
        } else {
            if (base + part > read->capacity)
                return error_set(err, ERR_INTERNAL, "more rows counted than the selection's");
            assigner->labels = read->cluster_of + base;
            assigner->capacity = part;
            base += part;
        }
        int code = model_drift_init(&assigner->drift, assigner->model->cluster_count, err);
        if (code != ERR_OK)
            return code;
        read->ready = w + 1;
        if ((assigner->tile = malloc(MODEL_TILE * assigner->model->dim * sizeof(float))) == NULL)
            return error_nomem(err, MODEL_TILE * assigner->model->dim * sizeof(float));
        row_contexts[w] = assigner;
    }
    return ERR_OK;
}

static ModelFitOptions model_fit_options(const JobConfig *config)
{
    ModelFitOptions options = {
        .kmeans = config_kmeans_options(config),
        .pca_components = (size_t)config->strategy.kmeans.pca,
    };
    return options;
}

int model_read_fit(const JobConfig *config, Db *db, const Plan *plan,
                   const StreamOptions *stream_options, size_t dim, uint64_t total,
                   const char *name, uint64_t seed, int streams, StreamConnectFn connect,
                   void *connect_context, Images *images, StreamStats *stats, Rng *rng,
                   ClusterModel **out, Error *err)
{
    uint64_t wanted = config->strategy.kmeans.fit_sample > 0
                          ? (uint64_t)config->strategy.kmeans.fit_sample
                          : total;
    size_t capacity = (size_t)(wanted < total ? wanted : total);
    ReservoirSet sample;
    int code;

    *out = NULL;
    streams = streams > 1 ? streams : 1;
    if ((code = reservoir_set_init(&sample, capacity, dim, streams, rng,
                                   0x6d6f64656cULL /* "model" */, err))
        != ERR_OK)
        return code;
    StreamOptions pass = *stream_options;
    pass.embedding_dim = dim;
    pass.on_row = reservoir_set_row;
    pass.on_partitions = reservoir_set_partitions;
    pass.partitions_context = &sample;
    Images kept;
    images_init(&kept, images->has_score, images->has_variance, images->has_label, false);
    *images = kept; /* ids, scores and labels only */
    if ((code = stream_read_split(db, plan, &pass, streams, connect, connect_context, images,
                                  stats, err))
        == ERR_OK) {
        size_t rows = reservoir_set_gather(&sample);
        ModelFitOptions options = model_fit_options(config);
        code = model_fit(&options, sample.sample, rows, dim, rng, out, NULL, err);
        if (code == ERR_OK) {
            snprintf((*out)->name, sizeof (*out)->name, "%s", name);
            (*out)->selected_rows = images->count;
            (*out)->fit_rows = rows;
            (*out)->seed = seed;
        }
    }
    reservoir_set_release(&sample);
    return code;
}

int model_read_assign_rows(const ClusterModel *model, Db *db, const Plan *plan,
                           StreamOptions *pass, bool lookup, int streams, StreamConnectFn connect,
                           void *connect_context, Images *images, int32_t *cluster_of,
                           size_t capacity, ModelDrift *drift, double *inertia,
                           StreamStats *stats, Error *err)
{
    ModelAssignRead read = {
        .streams = streams > 1 ? streams : 1,
        .model = model,
        .images = images,
        .cluster_of = cluster_of,
        .capacity = capacity,
        .lookup = lookup,
    };
    int code = ERR_OK;

    pthread_mutex_init(&read.blas_lock, NULL);
    if ((read.assigners = calloc((size_t)read.streams, sizeof *read.assigners)) == NULL) {
        code = error_nomem(err, (size_t)read.streams * sizeof *read.assigners);
        goto done;
    }
    for (size_t i = 0; i < capacity; i++)
        cluster_of[i] = -1;
    pass->embedding_dim = model->dim;
    pass->lookup_only = lookup;
    pass->on_row = model_assign_row;
    pass->on_partitions = model_assigners;
    pass->partitions_context = &read;
    if ((code = stream_read_split(db, plan, pass, read.streams, connect, connect_context, images,
                                  stats, err))
        != ERR_OK)
        goto done;
    /* What is left in each tile; drift and inertia in stream order; the
     * streams' labels moved down next to each other, as the images were
     * merged (a partition's rows after the previous partitions' rows). */
    bool compact = !lookup && read.streams > 1;
    size_t placed = 0;
    for (int w = 0; w < read.ready && code == ERR_OK; w++) {
        ModelAssigner *assigner = &read.assigners[w];
        if ((code = model_assign_flush(assigner, err)) != ERR_OK)
            break;
        *inertia += assigner->inertia;
        if (drift != NULL) {
            for (int c = 0; c < drift->cluster_count; c++) {
                drift->count[c] += assigner->drift.count[c];
                drift->distance_sum[c] += assigner->drift.distance_sum[c];
            }
            drift->total += assigner->drift.total;
        }
        if (compact) {
            if (assigner->committed > 0 && cluster_of + placed != assigner->labels)
                memmove(cluster_of + placed, assigner->labels,
                        assigner->committed * sizeof *cluster_of);
            placed += assigner->committed;
        }
    }
    if (code == ERR_OK && compact && placed != images->count)
        code = error_set(err, ERR_INTERNAL, "model assignment: %zu labels for %zu images", placed,
                         images->count);
    if (code == ERR_OK && compact)
        for (size_t i = placed; i < capacity; i++)
            cluster_of[i] = -1;
done:
    for (int w = 0; read.assigners != NULL && w < read.ready; w++) {
        free(read.assigners[w].tile);
        model_drift_release(&read.assigners[w].drift);
    }
    free(read.assigners);
    pthread_mutex_destroy(&read.blas_lock);
    return code;
}

int model_read_assign(const JobConfig *config, Db *db, const Plan *plan,
                      const StreamOptions *stream_options, uint64_t total, ModelUse *use,
                      int streams, StreamConnectFn connect, void *connect_context,
                      Images *images, StreamStats *stats, Rng *rng, Error *err)
{
    StreamStats again;
    int code;

    StreamOptions pass = *stream_options;
    if (use->refit) {
        if ((code = model_read_fit(config, db, plan, stream_options, use->dim, total, use->name,
                                    use->seed, streams, connect, connect_context, images, stats,
                                    rng, &use->model, err))
            != ERR_OK)
            return code;
        pass.on_reject = NULL; /* reported by pass 1 */
    } else {
        Images kept;
        images_init(&kept, images->has_score, images->has_variance, images->has_label, false);
        *images = kept; /* ids, scores and labels only */
    }
    size_t capacity = (size_t)total > 0 ? (size_t)total : 1;
    if ((use->cluster_of = malloc(capacity * sizeof *use->cluster_of)) == NULL)
        return error_nomem(err, capacity * sizeof *use->cluster_of);
    if ((code = model_drift_init(&use->drift, use->model->cluster_count, err)) != ERR_OK)
        return code;
    return model_read_assign_rows(use->model, db, plan, &pass, use->refit, streams, connect,
                                  connect_context, images, use->cluster_of, capacity,
                                  &use->drift, &use->inertia, use->refit ? &again : stats, err);
}
