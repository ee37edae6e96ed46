/*
 * model_read: reads a run's selection through a stored cluster model
 * (strategy.clusters_from) instead of into an embedding matrix. Before the
 * run is registered, model_read_prepare loads the model (or finds a refit
 * due) and checks it against the data, so a mismatch writes nothing. Then
 * model_read_assign streams the selection once, sending each row's
 * embedding, a tile at a time, to its nearest stored centre: the Images
 * keeps ids, scores and labels only, the ModelUse a label per row and the
 * drift. A due refit first fits a new version on a uniform sample of the
 * same snapshot (model_read_fit, also `pairpick fit`'s reading).
 *
 * It does not store models (model_store) nor write pairs. The caller owns
 * the ModelUse (zero it, then model_use_release) and the Images.
 */
#ifndef PAIRPICK_MODEL_READ_H
#define PAIRPICK_MODEL_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "db/db.h"
#include "core/error.h"
#include "core/images.h"
#include "numeric/model.h"
#include "read/plan.h"
#include "core/rng.h"
#include "read/parallel.h"

typedef struct ModelUse {
    char name[MODEL_NAME_MAX];
    int version;         /* asked for; 0: the latest */
    size_t dim;          /* of the selected embeddings */
    bool refit;          /* fit a new version while reading */
    ClusterModel *model; /* loaded, or fitted while reading */
    int32_t *cluster_of; /* per image, filled while reading */
    ModelDrift drift;
    double inertia;
    uint64_t seed;       /* of the run: a refit records it */
} ModelUse;

void model_use_release(ModelUse *use);

/* The embedding dimension of the selection: pinned, or the first row's (0: no row has one). */
int model_read_dim(const JobConfig *config, Db *db, const Plan *plan, size_t *dim, Error *err);

/*
 * Parses strategy.clusters_from into use, learns the selection's dimension,
 * and either finds a refit due (allow_refit, no pinned version,
 * strategy.kmeans.refit_after older than as_of or the server's now(), or no
 * version yet: use->refit) or loads the model and checks its dimension and
 * metric (ERR_DATA; ERR_CONFIG when it is not stored). A selection without
 * any embedding only needs the model to exist.
 */
int model_read_prepare(const JobConfig *config, Db *db, const Plan *plan, const char *as_of,
                       bool allow_refit, ModelUse *use, Error *err);

/*
 * Pass 1 of a fit, inside the caller's snapshot: streams the selection
 * keeping ids (and scores, labels) in images and a uniform sample of
 * strategy.kmeans.fit_sample embeddings (every row when unset), then fits
 * the model named name (PCA, k-means) into *out. total is the selection's
 * row count. With streams > 1 the read is split over worker connections,
 * each partition keeping its share of the sample (ReservoirSet).
 */
int model_read_fit(const JobConfig *config, Db *db, const Plan *plan,
                   const StreamOptions *stream_options, size_t dim, uint64_t total,
                   const char *name, uint64_t seed, int streams, StreamConnectFn connect,
                   void *connect_context, Images *images, StreamStats *stats, Rng *rng,
                   ClusterModel **out, Error *err);

/*
 * Reads the selection (inside the caller's snapshot) into images without
 * embeddings, assigning each row to use->model (fitted first when
 * use->refit): use->cluster_of (total entries), use->drift, use->inertia.
 * With streams > 1 the assigning read is split over that many worker
 * connections (stream_read_parallel, connect); labels, drift and inertia
 * come out the same as over one stream.
 */
int model_read_assign(const JobConfig *config, Db *db, const Plan *plan,
                      const StreamOptions *stream_options, uint64_t total, ModelUse *use,
                      int streams, StreamConnectFn connect, void *connect_context,
                      Images *images, StreamStats *stats, Rng *rng, Error *err);

/*
 * The assigning read itself, for any model (a stored one, or bounded mode's
 * fit on its sample): streams the selection with pass (its on_row,
 * on_partitions and lookup_only are set here), each row's label to
 * cluster_of (capacity entries, -1 where no row), the inertia added to
 * *inertia and, when drift is not NULL (initialised), the drift. lookup:
 * images already hold the selection (a second pass) and rows are found by
 * id; otherwise rows are committed to images as they stream.
 */
int model_read_assign_rows(const ClusterModel *model, Db *db, const Plan *plan,
                           StreamOptions *pass, bool lookup, int streams, StreamConnectFn connect,
                           void *connect_context, Images *images, int32_t *cluster_of,
                           size_t capacity, ModelDrift *drift, double *inertia,
                           StreamStats *stats, Error *err);

#endif
