#include "numeric/model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cancel.h"

/* Rows projected by one sgemm when fitting, between two polls for a cancel. */
#define PROJECT_ROWS 8192

static ClusterModel *model_alloc(size_t dim, int cluster_count, size_t space_dim, Error *err)
{
    ClusterModel *model = calloc(1, sizeof *model);
    if (model == NULL) {
        error_nomem(err, sizeof *model);
        return NULL;
    }
    size_t k = (size_t)cluster_count;
    model->dim = dim;
    model->cluster_count = cluster_count;
    model->space_dim = space_dim;
    model->centers = malloc(k * space_dim * sizeof(float));
    model->fit_share = calloc(k, sizeof(double));
    model->fit_mean_distance = calloc(k, sizeof(double));
    if (model->centers == NULL || model->fit_share == NULL || model->fit_mean_distance == NULL) {
        model_free(model);
        error_nomem(err, k * space_dim * sizeof(float));
        return NULL;
    }
    return model;
}

void model_free(ClusterModel *model)
{
    if (model == NULL)
        return;
    if (model->has_pca)
        pca_release(&model->pca);
    kmeans_free(model->kmeans);
    free(model->centers);
    free(model->fit_share);
    free(model->fit_mean_distance);
    free(model);
}

static KmeansOptions assign_options(const ClusterModel *model)
{
    KmeansOptions options = {
        .algorithm = KMEANS_LLOYD,
        .metric = model->metric,
        .cluster_count = model->cluster_count,
        .max_iterations = 1,
        .restarts = 1,
        .batch_size = 1,
    };
    return options;
}

/*
 * The one pipeline of fit and assignment: rows (modified in place) into the
 * model's space. Returns rows itself without PCA, else *buffer (allocated
 * here when NULL, count x space_dim); NULL when memory runs out.
 */
static float *to_space(const ClusterModel *model, float *rows, size_t count, float **buffer)
{
    if (model->metric == KMEANS_COSINE)
        kmeans_normalize_rows(rows, count, model->dim);
    if (!model->has_pca)
        return rows;
    if (*buffer == NULL)
        *buffer = malloc((count > 0 ? count : 1) * model->space_dim * sizeof(float));
    if (*buffer == NULL)
        return NULL;
    pca_project(&model->pca, rows, count, *buffer);
    if (model->metric == KMEANS_COSINE)
        kmeans_normalize_rows(*buffer, count, model->space_dim);
    return *buffer;
}

/*
 * Fits the PCA (when asked) on data and projects it: *space receives the
 * rows the centres live among, data itself without PCA, else *projected
 * (allocated here, rows x space_dim, normalized for cosine).
 */
static int fit_space(ClusterModel *model, size_t components, float *data, size_t rows,
                     float **projected, float **space, Error *err)
{
    int code;

    *space = data;
    if (components == 0)
        return ERR_OK;
    if ((code = pca_fit(data, rows, model->dim, components, &model->pca, err)) != ERR_OK)
        return code;
    model->has_pca = true;
    *projected = malloc(rows * model->space_dim * sizeof(float));
    if (*projected == NULL)
        return error_nomem(err, rows * model->space_dim * sizeof(float));
    for (size_t start = 0; start < rows; start += PROJECT_ROWS) {
        if ((code = cancel_check(err)) != ERR_OK)
            return code;
        pca_project(&model->pca, data + start * model->dim,
                    rows - start < PROJECT_ROWS ? rows - start : PROJECT_ROWS,
                    *projected + start * model->space_dim);
    }
    if (model->metric == KMEANS_COSINE)
        kmeans_normalize_rows(*projected, rows, model->space_dim);
    *space = *projected;
    return ERR_OK;
}

/* Per cluster, the share of the fitted rows and their mean distance to its centre. */
static int fit_figures(ClusterModel *model, const int32_t *labels, const float *distance,
                       size_t rows, Error *err)
{
    int k = model->cluster_count;
    uint64_t *counts = calloc((size_t)k, sizeof *counts);
    if (counts == NULL)
        return error_nomem(err, (size_t)k * sizeof *counts);
    for (size_t i = 0; i < rows; i++) {
        counts[labels[i]]++;
        model->fit_mean_distance[labels[i]] += sqrt(fmax(0.0, distance[i]));
    }
    for (int c = 0; c < k; c++) {
        model->fit_share[c] = (double)counts[c] / (double)rows;
        if (counts[c] > 0)
            model->fit_mean_distance[c] /= (double)counts[c];
    }
    free(counts);
    return ERR_OK;
}

int model_fit(const ModelFitOptions *options, float *data, size_t rows, size_t dim, Rng *rng,
              ClusterModel **out, int32_t *cluster_of, Error *err)
{
    int k = options->kmeans.cluster_count;
    size_t space_dim = options->pca_components > 0 ? options->pca_components : dim;
    float *projected = NULL, *distance = NULL, *space = NULL;
    int32_t *labels = NULL;
    double inertia = 0.0;
    int code;

    *out = NULL;
    if (k < 1 || (size_t)k > rows)
        return error_set(err, ERR_DATA,
                         "cannot make %d clusters from %zu images"
                         "\nHINT: lower strategy.clusters or widen the filters",
                         k, rows);
    if (options->pca_components > dim)
        return error_set(err, ERR_DATA,
                         "strategy.kmeans.pca asks for %zu components of %zu-dimensional "
                         "embeddings\nHINT: keep at most %zu",
                         options->pca_components, dim, dim);
    ClusterModel *model = model_alloc(dim, k, space_dim, err);
    if (model == NULL)
        return err->code;
    model->metric = options->kmeans.metric;
    if (model->metric == KMEANS_COSINE)
        kmeans_normalize_rows(data, rows, dim);
    /* kmeans_new first: it readies OpenBLAS (buffer, thread count) for the PCA too. */
    if ((code = kmeans_new(&options->kmeans, space_dim, &model->kmeans, err)) != ERR_OK
        || (code = fit_space(model, options->pca_components, data, rows, &projected, &space, err))
               != ERR_OK
        || (code = kmeans_fit(model->kmeans, space, rows, rng, NULL, err)) != ERR_OK)
        goto done;
    labels = cluster_of != NULL ? cluster_of : malloc(rows * sizeof *labels);
    distance = malloc(rows * sizeof *distance);
    if (labels == NULL || distance == NULL) {
        code = error_nomem(err, rows * sizeof *distance);
        goto done;
    }
    if ((code = kmeans_assign(model->kmeans, space, rows, labels, distance, &inertia, err))
            != ERR_OK
        || (code = fit_figures(model, labels, distance, rows, err)) != ERR_OK)
        goto done;
    memcpy(model->centers, kmeans_centers(model->kmeans), (size_t)k * space_dim * sizeof(float));
    model->inertia = inertia;
    model->iterations = kmeans_iterations(model->kmeans);
    model->fit_rows = rows;
    model->selected_rows = rows;

done:
    free(projected);
    free(distance);
    if (labels != cluster_of)
        free(labels);
    if (code != ERR_OK)
        model_free(model);
    else
        *out = model;
    return code;
}

int model_new(const char *name, int version, KmeansMetric metric, size_t dim, int cluster_count,
              size_t pca_components, const float *pca_mean, const float *pca_basis,
              double variance_kept, const float *centers, const double *fit_share,
              const double *fit_mean_distance, ClusterModel **out, Error *err)
{
    *out = NULL;
    if (dim == 0 || cluster_count < 1 || pca_components > dim)
        return error_set(err, ERR_DATA,
                         "cluster model \"%s\" version %d is not valid: dimension %zu, "
                         "%d clusters, %zu PCA components",
                         name, version, dim, cluster_count, pca_components);
    size_t space_dim = pca_components > 0 ? pca_components : dim;
    ClusterModel *model = model_alloc(dim, cluster_count, space_dim, err);
    if (model == NULL)
        return err->code;
    snprintf(model->name, sizeof model->name, "%s", name);
    model->version = version;
    model->metric = metric;
    int code = ERR_OK;
    if (pca_components > 0) {
        if ((code = pca_init_from(&model->pca, dim, pca_components, pca_mean, pca_basis,
                                  variance_kept, err))
            != ERR_OK)
            goto done;
        model->has_pca = true;
    }
    size_t k = (size_t)cluster_count;
    memcpy(model->centers, centers, k * space_dim * sizeof(float));
    if (fit_share != NULL)
        memcpy(model->fit_share, fit_share, k * sizeof(double));
    if (fit_mean_distance != NULL)
        memcpy(model->fit_mean_distance, fit_mean_distance, k * sizeof(double));
    KmeansOptions options = assign_options(model);
    code = kmeans_new_from_centers(&options, space_dim, centers, &model->kmeans, err);
done:
    if (code != ERR_OK)
        model_free(model);
    else
        *out = model;
    return code;
}

const char *model_metric_name(KmeansMetric metric)
{
    return metric == KMEANS_COSINE ? "cosine" : "euclidean";
}

bool model_metric_parse(const char *text, KmeansMetric *metric)
{
    if (strcmp(text, "cosine") == 0)
        *metric = KMEANS_COSINE;
    else if (strcmp(text, "euclidean") == 0)
        *metric = KMEANS_EUCLIDEAN;
    else
        return false;
    return true;
}

int model_check(const ClusterModel *model, size_t data_dim, KmeansMetric metric, Error *err)
{
    if (model->dim != data_dim)
        return error_set(err, ERR_DATA,
                         "cluster model \"%s\" version %d takes %zu-dimensional embeddings, "
                         "the selected embeddings have %zu dimensions"
                         "\nHINT: fit a model on these embeddings with `pairpick fit CONFIG`",
                         model->name, model->version, model->dim, data_dim);
    if (model->metric != metric)
        return error_set(err, ERR_DATA,
                         "cluster model \"%s\" version %d was fitted with metric %s, the config "
                         "asks for strategy.kmeans.metric %s"
                         "\nHINT: use the model's metric, or fit a new model",
                         model->name, model->version, model_metric_name(model->metric),
                         model_metric_name(metric));
    return ERR_OK;
}

int model_assign(const ClusterModel *model, float *rows, size_t count, int32_t *cluster_of,
                 float *distance, double *inertia, Error *err)
{
    float *buffer = NULL;
    int code;

    if (inertia != NULL)
        *inertia = 0.0;
    if (count == 0)
        return ERR_OK;
    float *space = to_space(model, rows, count, &buffer);
    if (space == NULL)
        return error_nomem(err, count * model->space_dim * sizeof(float));
    code = kmeans_assign(model->kmeans, space, count, cluster_of, distance, inertia, err);
    free(buffer);
    if (code != ERR_OK)
        return code;
    if (distance != NULL)
        for (size_t i = 0; i < count; i++)
            distance[i] = sqrtf(fmaxf(0.0f, distance[i]));
    return ERR_OK;
}

bool model_parse_ref(const char *text, char *name, int *version)
{
    const char *at = strrchr(text, '@');
    size_t length = at != NULL ? (size_t)(at - text) : strlen(text);
    if (length == 0 || length >= MODEL_NAME_MAX)
        return false;
    *version = 0;
    if (at != NULL) {
        char *end;
        errno = 0;
        long value = strtol(at + 1, &end, 10);
        if (at[1] < '0' || at[1] > '9' || *end != '\0' || errno != 0 || value < 1
            || value > 2147483647L)
            return false;
        *version = (int)value;
    }
    memcpy(name, text, length);
    name[length] = '\0';
    return true;
}

int model_drift_init(ModelDrift *drift, int cluster_count, Error *err)
{
    memset(drift, 0, sizeof *drift);
    drift->cluster_count = cluster_count;
    drift->count = calloc((size_t)cluster_count, sizeof *drift->count);
    drift->distance_sum = calloc((size_t)cluster_count, sizeof *drift->distance_sum);
    if (drift->count == NULL || drift->distance_sum == NULL) {
        model_drift_release(drift);
        return error_nomem(err, (size_t)cluster_count * sizeof(double));
    }
    return ERR_OK;
}

void model_drift_add(ModelDrift *drift, const int32_t *cluster_of, const float *distance,
                     size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int32_t c = cluster_of[i];
        if (c < 0 || c >= drift->cluster_count)
            continue;
        drift->count[c]++;
        drift->distance_sum[c] += distance != NULL ? distance[i] : 0.0;
        drift->total++;
    }
}

double model_drift_share(const ModelDrift *drift, int cluster)
{
    return drift->total > 0 ? (double)drift->count[cluster] / (double)drift->total : 0.0;
}

double model_drift_mean_distance(const ModelDrift *drift, int cluster)
{
    return drift->count[cluster] > 0 ? drift->distance_sum[cluster] / (double)drift->count[cluster]
                                     : 0.0;
}

void model_drift_release(ModelDrift *drift)
{
    free(drift->count);
    free(drift->distance_sum);
    memset(drift, 0, sizeof *drift);
}
