#include "run/categorize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numeric/bins.h"
#include "numeric/kmeans.h"

static int alloc_category_arrays(Categories *categories, size_t images, int32_t count, Error *err)
{
    categories->category_of = malloc((images > 0 ? images : 1) * sizeof(int32_t));
    categories->group_of_category = malloc((count > 0 ? (size_t)count : 1) * sizeof(int32_t));
    categories->bin_of_category = malloc((count > 0 ? (size_t)count : 1) * sizeof(int32_t));
    if (categories->category_of == NULL || categories->group_of_category == NULL
        || categories->bin_of_category == NULL)
        return error_nomem(err, images * sizeof(int32_t));
    categories->count = count;
    return ERR_OK;
}

/* One category per group: the identity. */
static void identity_categories(Categories *categories)
{
    for (int32_t c = 0; c < categories->count; c++) {
        categories->group_of_category[c] = c;
        categories->bin_of_category[c] = -1;
    }
}

static int cluster(const JobConfig *config, Images *images, const ClusterLabels *given, Rng *rng,
                   int32_t *cluster_of, Categories *categories, Error *err)
{
    if (given != NULL) {
        memcpy(cluster_of, given->cluster_of, images->count * sizeof *cluster_of);
        categories->cluster_count = given->cluster_count;
        categories->inertia = given->inertia;
        categories->iterations = given->iterations;
        return ERR_OK;
    }
    KmeansOptions options = config_kmeans_options(config);
    Kmeans *kmeans = NULL;
    int code;

    if (images->count == 0)
        return ERR_OK;
    if ((size_t)options.cluster_count > images->count)
        return error_set(err, ERR_DATA,
                         "cannot make %d clusters from %zu images"
                         "\nHINT: lower strategy.clusters or widen the filters",
                         options.cluster_count, images->count);
    if (options.metric == KMEANS_COSINE)
        kmeans_normalize_rows(images->embedding, images->count, images->dim);
    if ((code = kmeans_new(&options, images->dim, &kmeans, err)) != ERR_OK)
        return code;
    if ((code = kmeans_fit(kmeans, images->embedding, images->count, rng, cluster_of, err))
        != ERR_OK)
        goto done;
    categories->cluster_count = options.cluster_count;
    categories->inertia = kmeans_inertia(kmeans);
    categories->iterations = kmeans_iterations(kmeans);
done:
    kmeans_free(kmeans);
    return code;
}

int categorize(const JobConfig *config, Images *images, const ClusterLabels *given, Rng *rng,
               Categories *categories, Error *err)
{
    int code = ERR_OK;
    int32_t *cluster_of = NULL;
    size_t n = images->count;

    memset(categories, 0, sizeof *categories);
    categories->by = config->strategy.by;

    switch (config->strategy.by) {
    case STRATEGY_SCORE: {
        int32_t count = config->strategy.bins;
        if ((code = alloc_category_arrays(categories, n, count, err)) != ERR_OK)
            goto done;
        if (config->strategy.binning == BINNING_FIXED)
            code = bins_fixed(images->score, n, config->strategy.bins, categories->category_of,
                              err);
        else
            code = bins_quantile(images->score, n, config->strategy.bins,
                                 categories->category_of, &count, err);
        categories->count = count;
        identity_categories(categories);
        break;
    }
    case STRATEGY_CATEGORY:
        if ((code = alloc_category_arrays(categories, n, images->label_count, err)) != ERR_OK)
            goto done;
        if (n > 0) /* no rows: label_of may be NULL */
            memcpy(categories->category_of, images->label_of, n * sizeof(int32_t));
        identity_categories(categories);
        break;
    case STRATEGY_EMBEDDING:
        if ((code = alloc_category_arrays(categories, n,
                                          given != NULL ? given->cluster_count
                                                        : config->strategy.clusters,
                                          err)) != ERR_OK)
            goto done;
        code = cluster(config, images, given, rng, categories->category_of, categories, err);
        identity_categories(categories);
        break;
    case STRATEGY_EMBEDDING_SCORE: {
        int32_t bins = config->strategy.bins;
        int32_t clusters = given != NULL ? given->cluster_count : config->strategy.clusters;
        int32_t count = 0;
        int64_t most = (int64_t)bins * clusters;
        if (most > INT32_MAX) {
            code = error_set(err, ERR_CONFIG, "strategy.clusters x strategy.bins is too large");
            goto done;
        }
        cluster_of = malloc((n > 0 ? n : 1) * sizeof *cluster_of);
        int32_t *bin_of = malloc((n > 0 ? n : 1) * sizeof *bin_of);
        if (cluster_of == NULL || bin_of == NULL) {
            free(bin_of);
            code = error_nomem(err, n * sizeof *cluster_of);
            goto done;
        }
        if ((code = alloc_category_arrays(categories, n, (int32_t)most, err)) != ERR_OK
            || (code = cluster(config, images, given, rng, cluster_of, categories, err)) != ERR_OK
            || (code = bins_quantile_within(images->score, cluster_of, n, clusters, bins, bin_of,
                                            categories->category_of, &count, err))
                   != ERR_OK) {
            free(bin_of);
            goto done;
        }
        /* Categories are numbered densely in (cluster, bin) order. */
        int32_t next = 0;
        for (int32_t c = 0; c < count; c++)
            categories->group_of_category[c] = categories->bin_of_category[c] = -1;
        for (size_t i = 0; i < n; i++) {
            int32_t category = categories->category_of[i];
            if (category >= 0 && categories->group_of_category[category] < 0) {
                categories->group_of_category[category] = cluster_of[i];
                categories->bin_of_category[category] = bin_of[i];
                next++;
            }
        }
        (void)next;
        categories->count = count;
        free(bin_of);
        break;
    }
    }
    /* No image, no category: 0 rows make 0 categories whatever was asked
     * (bins, clusters or a stored model's centres). */
    if (code == ERR_OK && n == 0)
        categories->count = 0;

done:
    free(cluster_of);
    if (code != ERR_OK)
        categorize_release(categories);
    return code;
}

const char *categorize_name(const Categories *categories, const Images *images, int32_t category,
                            char *buffer, size_t size)
{
    int32_t group = categories->group_of_category[category];
    switch (categories->by) {
    case STRATEGY_SCORE:
        snprintf(buffer, size, "score:%d", group);
        break;
    case STRATEGY_CATEGORY:
        snprintf(buffer, size, "%s", images_label(images, group));
        break;
    case STRATEGY_EMBEDDING:
        snprintf(buffer, size, "cluster:%d", group);
        break;
    case STRATEGY_EMBEDDING_SCORE:
        snprintf(buffer, size, "cluster:%d/score:%d", group, categories->bin_of_category[category]);
        break;
    }
    return buffer;
}

int categorize_names(const Categories *categories, const Images *images, char ***names,
                     Error *err)
{
    char buffer[512];
    char **all = calloc(categories->count > 0 ? (size_t)categories->count : 1, sizeof *all);
    if (all == NULL)
        return error_nomem(err, (size_t)categories->count * sizeof *all);
    for (int32_t c = 0; c < categories->count; c++) {
        if ((all[c] = strdup(categorize_name(categories, images, c, buffer, sizeof buffer))) == NULL) {
            categorize_names_free(all, c);
            return error_nomem(err, strlen(buffer) + 1);
        }
    }
    *names = all;
    return ERR_OK;
}

void categorize_names_free(char **names, int32_t count)
{
    for (int32_t c = 0; names != NULL && c < count; c++)
        free(names[c]);
    free(names);
}

static int compare_link(const void *x, const void *y)
{
    const CategoryLink *p = x, *q = y;
    if (p->from != q->from)
        return p->from < q->from ? -1 : 1;
    return (p->to > q->to) - (p->to < q->to);
}

/* Each category's nearest by centroid; k x k distances, k = categories. */
/*
 * Links each category to the one whose centre is nearest (squared Euclidean
 * distance), among categories with members; centre c is centre[c * dim].
 */
static void link_nearest(size_t k, size_t dim, const double *centre, const size_t *members,
                         CategoryLink *links, size_t *link_count)
{
    for (size_t c = 0; c < k; c++) {
        size_t best = k;
        double best_distance = 0;
        for (size_t o = 0; o < k && members[c] > 0; o++) {
            if (o == c || members[o] == 0)
                continue;
            double distance = 0;
            for (size_t d = 0; d < dim; d++) {
                double delta = centre[c * dim + d] - centre[o * dim + d];
                distance += delta * delta;
            }
            if (best == k || distance < best_distance) {
                best = o;
                best_distance = distance;
            }
        }
        if (best < k)
            links[(*link_count)++] = (CategoryLink){(int32_t)(c < best ? c : best),
                                                    (int32_t)(c < best ? best : c)};
    }
}

/*
 * Nearest clusters by their centres: the given ones (a stored model's, in
 * its own space), else the mean embedding of each cluster's members.
 */
static int nearest_centroids(const Categories *categories, const Images *images,
                             const float *centers, size_t centers_dim, CategoryLink *links,
                             size_t *link_count, Error *err)
{
    size_t k = (size_t)categories->count;
    size_t dim = centers != NULL ? centers_dim : images->dim;
    double *centroid = calloc(k * dim + 1, sizeof *centroid);
    size_t *members = calloc(k + 1, sizeof *members);
    if (centroid == NULL || members == NULL) {
        free(centroid);
        free(members);
        return error_nomem(err, k * dim * sizeof *centroid);
    }
    for (size_t i = 0; i < images->count; i++) {
        int32_t c = categories->category_of[i];
        if (c < 0)
            continue;
        members[c]++;
        for (size_t d = 0; d < dim && centers == NULL; d++)
            centroid[(size_t)c * dim + d] += images->embedding[i * dim + d];
    }
    for (size_t c = 0; c < k; c++)
        for (size_t d = 0; d < dim && members[c] > 0; d++)
            centroid[c * dim + d] = centers != NULL ? (double)centers[c * dim + d]
                                                    : centroid[c * dim + d] / (double)members[c];
    link_nearest(k, dim, centroid, members, links, link_count);
    free(centroid);
    free(members);
    return ERR_OK;
}

int categorize_links(const Categories *categories, const Images *images, const float *centers,
                     size_t centers_dim, CategoryLink **links, size_t *link_count, Error *err)
{
    size_t k = categories->count > 0 ? (size_t)categories->count : 0;
    int code = ERR_OK;
    *link_count = 0;
    *links = malloc((k + 1) * sizeof **links);
    if (*links == NULL)
        return error_nomem(err, k * sizeof **links);
    switch (categories->by) {
    case STRATEGY_SCORE:
        for (size_t c = 0; c + 1 < k; c++)
            (*links)[(*link_count)++] = (CategoryLink){(int32_t)c, (int32_t)c + 1};
        break;
    case STRATEGY_EMBEDDING_SCORE:
        /* categories are numbered in (cluster, bin) order: adjacent bins of
         * one cluster are consecutive categories */
        for (size_t c = 0; c + 1 < k; c++)
            if (categories->group_of_category[c] == categories->group_of_category[c + 1]
                && categories->bin_of_category[c] + 1 == categories->bin_of_category[c + 1])
                (*links)[(*link_count)++] = (CategoryLink){(int32_t)c, (int32_t)c + 1};
        break;
    case STRATEGY_EMBEDDING:
        if ((centers != NULL && centers_dim > 0)
            || (images->embedding != NULL && images->dim > 0))
            code = nearest_centroids(categories, images, centers, centers_dim, *links,
                                     link_count, err);
        break;
    case STRATEGY_CATEGORY:
        break;
    }
    if (code == ERR_OK && *link_count > 1) {
        /* two clusters nearest to each other give the same link twice */
        qsort(*links, *link_count, sizeof **links, compare_link);
        size_t kept = 1;
        for (size_t l = 1; l < *link_count; l++)
            if (compare_link(&(*links)[l], &(*links)[kept - 1]) != 0)
                (*links)[kept++] = (*links)[l];
        *link_count = kept;
    }
    if (code != ERR_OK) {
        free(*links);
        *links = NULL;
    }
    return code;
}

void categorize_release(Categories *categories)
{
    free(categories->category_of);
    free(categories->group_of_category);
    free(categories->bin_of_category);
    memset(categories, 0, sizeof *categories);
}
