/*
 * kmeans: k-means clustering of an N x D float32 matrix (row-major).
 *
 * The API follows VLFeat's: one object that owns its centers, with separate
 * calls for seeding (k-means++), refinement (Lloyd or mini-batch updates,
 * returning the energy) and assignment. Unlike VLFeat, randomness comes from
 * an Rng passed in, so the same seed and input give the same clusters.
 * Squared distances are |x|^2 - 2 x.c + |c|^2 with the cross term computed by
 * cblas_sgemm over tiles of rows, norms precomputed.
 *
 * It knows nothing of SQL, YAML or printing. It never copies the data matrix;
 * the caller owns it. kmeans_new allocates the Kmeans; kmeans_free frees it.
 */
#ifndef PAIRPICK_KMEANS_H
#define PAIRPICK_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "rng.h"

typedef enum { KMEANS_MINIBATCH, KMEANS_LLOYD } KmeansAlgorithm;

/*
 * KMEANS_COSINE: the caller L2-normalizes the rows first (kmeans_normalize_rows)
 * and the centers are kept normalized, so Euclidean distance ranks as cosine.
 */
typedef enum { KMEANS_COSINE, KMEANS_EUCLIDEAN } KmeansMetric;

typedef struct KmeansOptions {
    KmeansAlgorithm algorithm;
    KmeansMetric metric;
    int cluster_count;  /* k >= 1 */
    int max_iterations; /* Lloyd iterations, or mini-batch epochs-equivalent steps */
    int restarts;       /* n_init >= 1: best inertia kept */
    int batch_size;     /* mini-batch size */
    double tolerance;   /* relative change of inertia (or of centers) that stops */
} KmeansOptions;

typedef struct Kmeans Kmeans;

/* Allocates an unseeded model for rows of `dim` floats. ERR_CONFIG on bad options. */
int kmeans_new(const KmeansOptions *options, size_t dim, Kmeans **out, Error *err);

/*
 * A model whose k centers (k x dim, copied) are given, e.g. read back from a
 * stored model: ready for kmeans_assign.
 */
int kmeans_new_from_centers(const KmeansOptions *options, size_t dim, const float *centers,
                            Kmeans **out, Error *err);

void kmeans_free(Kmeans *kmeans);

/* L2-normalizes each row in place (rows of norm 0 are left as they are). */
void kmeans_normalize_rows(float *data, size_t rows, size_t dim);

/* k-means++ seeding of the centers from the rows. ERR_DATA when rows < k. */
int kmeans_seed_plus_plus(Kmeans *kmeans, const float *data, size_t rows, Rng *rng,
                          Error *err);

/*
 * Refines the current centers with the configured update until tolerance or
 * max_iterations; empty clusters are re-seeded from the points farthest from
 * their centers. Stores the final inertia (sum of squared distances).
 */
int kmeans_refine(Kmeans *kmeans, const float *data, size_t rows, Rng *rng, Error *err);

/*
 * Seeds and refines `restarts` times and keeps the centers with the lowest
 * inertia. ERR_DATA when rows < k (message says both numbers).
 */
int kmeans_fit(Kmeans *kmeans, const float *data, size_t rows, Rng *rng, Error *err);

/*
 * Assigns each row to its nearest center: cluster_of[i] in [0, k).
 * distance (may be NULL) receives the squared distance to that center.
 * Returns the inertia of this assignment, or a negative value when a
 * working buffer cannot be allocated.
 */
double kmeans_assign(const Kmeans *kmeans, const float *data, size_t rows, int32_t *cluster_of,
                     float *distance);

const float *kmeans_centers(const Kmeans *kmeans); /* k x dim, owned by kmeans */
int kmeans_cluster_count(const Kmeans *kmeans);
size_t kmeans_dim(const Kmeans *kmeans);
double kmeans_inertia(const Kmeans *kmeans);   /* of the kept (best) fit */
int kmeans_iterations(const Kmeans *kmeans);   /* of the kept (best) fit */

/*
 * Added for the unit tests and diagnostics; the job does not need it.
 *
 * When a trace is set, each kmeans_refine (so each restart of kmeans_fit)
 * starts it afresh and fills it: `inertia` (capacity entries, may be NULL)
 * receives the inertia of each Lloyd assignment pass in order, each computed
 * against the centers used for that assignment; `length` counts the passes
 * (it may exceed capacity: only the first capacity are stored; mini-batch
 * refines record no passes). `cluster_of` (one entry per row, may be NULL)
 * receives the labels of the final assignment, the one the stored centers and
 * inertia describe. In kmeans_fit the trace describes the last restart, which
 * is the kept one when restarts == 1. The caller owns the trace and keeps it
 * alive while it is set; NULL unsets it.
 *
 * Notes on the other calls: kmeans_iterations counts Lloyd center updates,
 * or for mini-batch passes over the data, ceil(steps * batch_size / rows),
 * as scikit-learn's n_iter_. For mini-batch, kmeans_fit seeds each restart
 * from a random subsample of max(3 * batch_size, 3 * k) rows (scikit-learn's
 * init_size); kmeans_seed_plus_plus always seeds from all the rows given.
 */
typedef struct KmeansTrace {
    double *inertia;
    int capacity;
    int length;
    int32_t *cluster_of;
} KmeansTrace;

void kmeans_set_trace(Kmeans *kmeans, KmeansTrace *trace);

#endif
