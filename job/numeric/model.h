/*
 * model: a stored cluster model, so cluster ids mean the same thing from one
 * run to the next. Fitting (optional PCA, then k-means) happens once; runs
 * then assign each image to its nearest stored centre, a tile of rows at a
 * time, and measure drift: per cluster, the share of images and the mean
 * distance to the centre now against at fit time.
 *
 * Every row goes through one pipeline, the same at fit and at assignment:
 * L2-normalize (metric cosine), project on the PCA basis (when there is
 * one), L2-normalize again (cosine), then nearest centre.
 *
 * It knows nothing of SQL, YAML or printing (model_store reads and writes
 * models). model_fit / model_new allocate the ClusterModel; model_free frees
 * it and everything it owns.
 */
#ifndef PAIRPICK_MODEL_H
#define PAIRPICK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "numeric/kmeans.h"
#include "numeric/pca.h"
#include "core/rng.h"

#define MODEL_NAME_MAX 128

typedef struct ClusterModel {
    char name[MODEL_NAME_MAX];
    int version;               /* 0 until stored */
    KmeansMetric metric;
    size_t dim;                /* of the embeddings it takes */
    int cluster_count;
    bool has_pca;
    Pca pca;                   /* when has_pca: dim -> pca.components */
    size_t space_dim;          /* where the centres live: pca.components or dim */
    float *centers;            /* cluster_count x space_dim */
    /* At fit time, over the rows fitted on: */
    double *fit_share;         /* per cluster, in [0, 1] */
    double *fit_mean_distance; /* per cluster: mean Euclidean distance to its centre */
    uint64_t fit_rows;         /* rows the fit used (the sample) */
    uint64_t selected_rows;    /* rows the selection held at fit time */
    double inertia;
    int iterations;
    uint64_t seed;
    char fitted_at[64];        /* as the database wrote it; "" until stored */
    char config_digest[72];    /* sha256 hex of the config it was fitted with */
    Kmeans *kmeans;            /* the centres, ready for kmeans_assign */
} ClusterModel;

typedef struct ModelFitOptions {
    KmeansOptions kmeans;
    size_t pca_components; /* 0: no PCA */
} ModelFitOptions;

/*
 * Fits a model on rows x dim data, modified in place (normalized for
 * cosine). cluster_of (rows entries, may be NULL) receives the fit's own
 * assignment of those rows. ERR_DATA when rows < clusters.
 */
int model_fit(const ModelFitOptions *options, float *data, size_t rows, size_t dim, Rng *rng,
              ClusterModel **out, int32_t *cluster_of, Error *err);

/*
 * A model from stored parts (arrays copied); pca_mean / pca_basis NULL when
 * pca_components is 0. fit_share / fit_mean_distance may be NULL (zeros).
 */
int model_new(const char *name, int version, KmeansMetric metric, size_t dim, int cluster_count,
              size_t pca_components, const float *pca_mean, const float *pca_basis,
              double variance_kept, const float *centers, const double *fit_share,
              const double *fit_mean_distance, ClusterModel **out, Error *err);

void model_free(ClusterModel *model);

/*
 * Checks that the model takes this data: same embedding dimension and the
 * metric the config asks for. ERR_DATA naming both values otherwise.
 */
int model_check(const ClusterModel *model, size_t data_dim, KmeansMetric metric, Error *err);

/*
 * Assigns rows (rows x model->dim, modified in place: normalized for cosine)
 * to their nearest centres. distance (may be NULL) receives the Euclidean
 * distance to that centre in the model's space, *inertia (may be NULL) the
 * sum of squared distances. ERR_INTERNAL when memory runs out.
 */
int model_assign(const ClusterModel *model, float *rows, size_t count, int32_t *cluster_of,
                 float *distance, double *inertia, Error *err);

/*
 * Splits "NAME" or "NAME@VERSION" into name (MODEL_NAME_MAX bytes) and
 * version (0: the latest). False for an empty name, a name over the limit,
 * or a version that is not an integer >= 1.
 */
bool model_parse_ref(const char *text, char *name, int *version);

const char *model_metric_name(KmeansMetric metric);
bool model_metric_parse(const char *text, KmeansMetric *metric);

/* Drift: what an assignment run saw, per cluster of its model. */
typedef struct ModelDrift {
    int cluster_count;
    uint64_t total;
    uint64_t *count;        /* per cluster */
    double *distance_sum;   /* per cluster */
} ModelDrift;

int model_drift_init(ModelDrift *drift, int cluster_count, Error *err);
void model_drift_add(ModelDrift *drift, const int32_t *cluster_of, const float *distance,
                     size_t count);
double model_drift_share(const ModelDrift *drift, int cluster);         /* 0 when empty */
double model_drift_mean_distance(const ModelDrift *drift, int cluster); /* 0 when empty */
void model_drift_release(ModelDrift *drift);

#endif
