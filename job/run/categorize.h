/*
 * categorize: gives every selected image a category according to the
 * strategy: score bins (fixed or quantile), the values of a category column,
 * k-means clusters of the embeddings, or clusters split into score bins.
 * Glue between the config and the numeric modules (bins, kmeans): it
 * decides which to call with what, and names the categories.
 *
 * It does not read the database or print. The caller owns the Categories
 * struct; categorize_release frees its arrays. With metric: cosine the
 * embedding rows of images are L2-normalized in place.
 */
#ifndef PAIRPICK_CATEGORIZE_H
#define PAIRPICK_CATEGORIZE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"
#include "core/images.h"
#include "numeric/informative.h"
#include "core/rng.h"

typedef struct Categories {
    int32_t *category_of; /* per image: [0, count), or -1 when not to be paired */
    int32_t count;
    int32_t *group_of_category; /* label, cluster or bin each category stands for */
    int32_t *bin_of_category;   /* score bin inside a cluster ([embedding, score]), else -1 */
    StrategyBy by;
    /* k-means figures (by embedding): */
    int cluster_count;
    double inertia;
    int iterations;
} Categories;

/*
 * Clusters computed elsewhere (the bounded-memory path fits on a sample and
 * assigns every row while streaming): used instead of fitting k-means.
 */
typedef struct ClusterLabels {
    const int32_t *cluster_of; /* per image, [0, cluster_count) */
    int cluster_count;
    double inertia;
    int iterations;
} ClusterLabels;

/* given may be NULL: embedding strategies then fit k-means on images.
 * No images make no categories (count 0), whatever bins or clusters say. */
int categorize(const JobConfig *config, Images *images, const ClusterLabels *given, Rng *rng,
               Categories *categories, Error *err);

/* Writes category's name ("score:3", "cluster:17/score:2", a label) into buffer. */
const char *categorize_name(const Categories *categories, const Images *images, int32_t category,
                            char *buffer, size_t size);

/*
 * The neighbouring categories that bridges (strategy.explore_fraction) may
 * join, each pair once: adjacent score bins (inside the same cluster for
 * [embedding, score]); for clusters, each cluster and the one whose
 * centre is nearest: centers (category_count x centers_dim, e.g. a stored
 * model's) when given, else the mean embedding row of its members. None for
 * a category column, or for clusters with neither centres nor embeddings in
 * memory. *links is malloc'd.
 */
int categorize_links(const Categories *categories, const Images *images, const float *centers,
                     size_t centers_dim, CategoryLink **links, size_t *link_count, Error *err);

/*
 * Every category's name (categorize_name), as the pending table stores
 * them: *names receives categories->count malloc'd strings in a malloc'd
 * array, freed with categorize_names_free.
 */
int categorize_names(const Categories *categories, const Images *images, char ***names,
                     Error *err);
void categorize_names_free(char **names, int32_t count);

void categorize_release(Categories *categories);

#endif
