/*
 * model_read: reads a run's selection through a stored cluster model
 * (strategy.clusters_from): see model_read.h.
 */
#include "model_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "categorize.h"
#include "model_store.h"
#include "reservoir.h"

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

/* Every row to its nearest stored centre, a tile at a time; only labels are kept. */
typedef struct {
    const ClusterModel *model;
    const Images *images; /* for lookups when rows come without an index */
    float *tile;
    int64_t rows[MODEL_TILE];
    int32_t labels[MODEL_TILE];
    float distances[MODEL_TILE];
    size_t filled, capacity;
    ModelUse *use;
} ModelAssigner;

static int model_assign_flush(ModelAssigner *assigner, Error *err)
{
    if (assigner->filled == 0)
        return ERR_OK;
    double inertia = model_assign(assigner->model, assigner->tile, assigner->filled,
                                  assigner->labels, assigner->distances, err);
    if (inertia < 0)
        return err->code;
    assigner->use->inertia += inertia;
    model_drift_add(&assigner->use->drift, assigner->labels, assigner->distances,
                    assigner->filled);
    for (size_t i = 0; i < assigner->filled; i++)
        assigner->use->cluster_of[assigner->rows[i]] = assigner->labels[i];
    assigner->filled = 0;
    return ERR_OK;
}

static int model_assign_row(void *context, const char *id, size_t id_length, int64_t row,
                            const float *embedding, Error *err)
{
    ModelAssigner *assigner = context;
    if (row < 0)
        row = images_find(assigner->images, id, id_length);
    if (row < 0)
        return ERR_OK; /* not selected in pass 1 (skipped there too) */
    if ((size_t)row >= assigner->capacity)
        return error_set(err, ERR_INTERNAL, "more rows streamed than the selection counted");
    size_t dim = assigner->model->dim;
    memcpy(assigner->tile + assigner->filled * dim, embedding, dim * sizeof(float));
    assigner->rows[assigner->filled++] = row;
    return assigner->filled == MODEL_TILE ? model_assign_flush(assigner, err) : ERR_OK;
}

static ModelFitOptions model_fit_options(const JobConfig *config)
{
    ModelFitOptions options = {
        .kmeans = categorize_kmeans_options(config),
        .pca_components = (size_t)config->strategy.kmeans.pca,
    };
    return options;
}

int model_read_fit(const JobConfig *config, Db *db, const Plan *plan,
                   const StreamOptions *stream_options, size_t dim, uint64_t total,
                   const char *name, uint64_t seed, Images *images, StreamStats *stats, Rng *rng,
                   ClusterModel **out, Error *err)
{
    uint64_t wanted = config->strategy.kmeans.fit_sample > 0
                          ? (uint64_t)config->strategy.kmeans.fit_sample
                          : total;
    size_t capacity = (size_t)(wanted < total ? wanted : total);
    Reservoir reservoir;
    int code;

    *out = NULL;
    if ((code = reservoir_init(&reservoir, capacity, dim, rng, 0x6d6f64656cULL /* "model" */, err))
        != ERR_OK)
        return code;
    StreamOptions pass = *stream_options;
    pass.embedding_dim = dim;
    pass.on_row = reservoir_row;
    pass.row_context = &reservoir;
    Images kept;
    images_init(&kept, images->has_score, images->has_variance, images->has_label, false);
    *images = kept; /* ids, scores and labels only */
    if ((code = stream_read(db, plan, &pass, images, stats, err)) == ERR_OK) {
        size_t rows = reservoir_rows(&reservoir);
        ModelFitOptions options = model_fit_options(config);
        code = model_fit(&options, reservoir.sample, rows, dim, rng, out, NULL, err);
        if (code == ERR_OK) {
            snprintf((*out)->name, sizeof (*out)->name, "%s", name);
            (*out)->selected_rows = images->count;
            (*out)->fit_rows = rows;
            (*out)->seed = seed;
        }
    }
    reservoir_release(&reservoir);
    return code;
}

int model_read_assign(const JobConfig *config, Db *db, const Plan *plan,
                      const StreamOptions *stream_options, uint64_t total, ModelUse *use,
                      Images *images, StreamStats *stats, Rng *rng, Error *err)
{
    ModelAssigner *assigner = NULL;
    StreamStats again;
    int code;

    StreamOptions pass = *stream_options;
    pass.embedding_dim = use->dim;
    if (use->refit) {
        if ((code = model_read_fit(config, db, plan, stream_options, use->dim, total, use->name,
                                    use->seed, images, stats, rng, &use->model, err))
            != ERR_OK)
            return code;
        pass.lookup_only = true;
        pass.on_reject = NULL; /* reported by pass 1 */
    } else {
        Images kept;
        images_init(&kept, images->has_score, images->has_variance, images->has_label, false);
        *images = kept; /* ids, scores and labels only */
    }
    size_t capacity = (size_t)total > 0 ? (size_t)total : 1;
    assigner = calloc(1, sizeof *assigner);
    use->cluster_of = malloc(capacity * sizeof *use->cluster_of);
    if (assigner == NULL || use->cluster_of == NULL
        || (assigner->tile = malloc(MODEL_TILE * use->dim * sizeof(float))) == NULL) {
        code = error_nomem(err, MODEL_TILE * use->dim * sizeof(float));
        goto done;
    }
    for (size_t i = 0; i < capacity; i++)
        use->cluster_of[i] = -1;
    if ((code = model_drift_init(&use->drift, use->model->cluster_count, err)) != ERR_OK)
        goto done;
    assigner->model = use->model;
    assigner->images = images;
    assigner->capacity = capacity;
    assigner->use = use;
    pass.on_row = model_assign_row;
    pass.row_context = assigner;
    if ((code = stream_read(db, plan, &pass, images, use->refit ? &again : stats, err)) != ERR_OK
        || (code = model_assign_flush(assigner, err)) != ERR_OK)
        goto done;
done:
    if (assigner != NULL)
        free(assigner->tile);
    free(assigner);
    return code;
}

