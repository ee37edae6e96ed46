/*
 * kmeans: k-means clustering of an N x D float32 matrix (row-major).
 *
 * The API follows VLFeat's: one object that owns its centers, with separate
 * calls for seeding (k-means++), refinement (Lloyd or mini-batch updates,
 * returning the energy) and assignment. Unlike VLFeat, randomness comes from
 * an Rng passed in, so the same seed and input give the same clusters.
 * Distances and nearest centers come from the distance module (tiled sgemm).
 *
 * It does not normalize rows unless asked (kmeans_normalize_rows), reduce
 * dimensions (pca), store models (model), or know of SQL, YAML or printing.
 * It never copies the data matrix; the caller owns it and every output array.
 * kmeans_new allocates the Kmeans, which owns its centers; kmeans_free frees it.
 *
 * Seeding, refinement, fitting and assignment poll cancel_check (core/cancel)
 * once a tile of rows, a mini-batch step or a cluster of a split-and-merge
 * move, and return ERR_TEMPFAIL ("cancelled by signal N") when a signal asked
 * the run to stop; the centers are then unspecified and only kmeans_free is
 * meaningful.
 */
#ifndef PAIRPICK_KMEANS_H
#define PAIRPICK_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"

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
    int restarts;       /* n_init >= 1: see kmeans_fit for what a restart is */
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
 * their centers. Stores the final inertia (sum of squared distances). No
 * split-and-merge moves: those belong to kmeans_fit.
 */
int kmeans_refine(Kmeans *kmeans, const float *data, size_t rows, Rng *rng, Error *err);

/*
 * Seeds and refines the centers; `restarts` means what scikit-learn's n_init
 * means for the same algorithm. cluster_of (rows entries, caller-owned, may
 * be NULL) receives the labels of the final assignment of the kept fit, the
 * one kmeans_centers, kmeans_inertia and kmeans_iterations describe. ERR_DATA
 * when rows < k (message says both numbers).
 *
 * Both algorithms follow a Lloyd convergence with split-and-merge moves:
 * while splitting the cluster whose split lowers the inertia most and
 * merging the pair whose merge raises it least lowers the inertia (checked
 * after Lloyd converges again), the move is kept. This is what takes a fit
 * out of the local optimum of two groups under one center and one group
 * under two, which k-means++ seedings reach now and then.
 *
 * KMEANS_LLOYD (scikit-learn's KMeans): `restarts` full fits, each a
 * k-means++ seeding on all the rows, a refinement and the moves on all the
 * rows; the fit with the lowest inertia is kept.
 *
 * KMEANS_MINIBATCH (scikit-learn's MiniBatchKMeans): one random subsample of
 * init_size = max(3 * batch_size, 3 * k) rows (all rows when fewer) is drawn;
 * `restarts` k-means++ seedings are made on it, each refined there by Lloyd
 * and the moves and scored by its inertia on that subsample, and only the
 * best is refined, once, on all the rows: mini-batch steps (per-center
 * learning rate from counts, reassignment of starving centers, early stop on
 * the smoothed batch inertia, as scikit-learn's). So restarts cost work on
 * init_size rows, not refinements.
 * (scikit-learn draws a fresh init subsample for each seeding and scores all
 * of them on a separate validation batch; here the one subsample serves
 * both, which makes the scores comparable and costs no extra pass.)
 *
 * Either way the same seed, input and BLAS thread count (kmeans_set_threads)
 * give bitwise the same centers.
 */
int kmeans_fit(Kmeans *kmeans, const float *data, size_t rows, Rng *rng, int32_t *cluster_of,
               Error *err);

/*
 * Assigns each row to its nearest center: cluster_of[i] in [0, k) (lowest
 * index on ties). distance (may be NULL) receives the squared distance to
 * that center, *inertia (may be NULL) their sum. ERR_INTERNAL when a working
 * buffer cannot be allocated.
 */
int kmeans_assign(const Kmeans *kmeans, const float *data, size_t rows, int32_t *cluster_of,
                  float *distance, double *inertia, Error *err);

/*
 * One Lloyd iteration exactly as kmeans_refine runs each of its iterations:
 * an assignment pass over all rows (tiled sgemm distances, per-cluster sums)
 * and the update of every non-empty cluster's center to its mean (normalized
 * for KMEANS_COSINE). Empty clusters keep their centers. norms are the rows'
 * squared norms (distance_row_norms); cluster_of (may be NULL) receives the
 * labels of the assignment; *inertia (may be NULL) its inertia, against the
 * centers before the update. For benchmarks (one iteration against one
 * sgemm of the same shape) and tests; the job fits with kmeans_fit.
 * ERR_DATA when rows < k, ERR_INTERNAL when unseeded or out of memory.
 */
int kmeans_lloyd_step(Kmeans *kmeans, const float *data, size_t rows, const float *norms,
                      int32_t *cluster_of, double *inertia, Error *err);

const float *kmeans_centers(const Kmeans *kmeans); /* k x dim, owned by kmeans */
int kmeans_cluster_count(const Kmeans *kmeans);
size_t kmeans_dim(const Kmeans *kmeans);
double kmeans_inertia(const Kmeans *kmeans);   /* of the kept (best) fit */
int kmeans_iterations(const Kmeans *kmeans);   /* of the kept (best) fit */

/*
 * Inertia of the kept seeding on the rows it was seeded from: after
 * kmeans_seed_plus_plus, all the rows given (of the seeds themselves); after
 * a mini-batch kmeans_fit, the init subsample's inertia under the kept
 * restart's centers once refined there (the score the restarts were compared
 * by); after a Lloyd kmeans_fit, all the rows, for the kept restart's seeds.
 * 0 before any seeding.
 */
double kmeans_seed_inertia(const Kmeans *kmeans);

/*
 * Sets how many threads OpenBLAS uses for every k-means call in the process
 * (openblas_set_num_threads); threads < 1 means one per processor, OpenBLAS's
 * default. Results are bitwise reproducible for a fixed seed, input and
 * thread count on the same OpenBLAS build and CPU; another thread count may
 * split BLAS sums differently and so change the last bits of distances and,
 * through near ties, labels. Process-wide: call it before fitting, not while
 * another thread is inside a k-means call. The count takes effect at the
 * process's first kmeans_new (or at once after it): a process that never
 * clusters never starts OpenBLAS's thread pool, whose idle threads
 * busy-wait for a while after they start.
 *
 * A mini-batch kmeans_fit or kmeans_refine runs its mini-batch steps (and
 * kmeans_fit its restarts on the init subsample) on one BLAS thread, setting
 * the process-wide count to 1 for that part and back afterwards: those
 * products are too small for the threads to pay for their busy-waiting.
 * So no other thread may make BLAS calls during a mini-batch fit either.
 */
void kmeans_set_threads(int threads);

/*
 * For the unit tests and diagnostics only: the job reads its labels from
 * kmeans_fit.
 *
 * When a trace is set, each kmeans_refine (so each restart of kmeans_fit)
 * starts it afresh and fills it: `inertia` (capacity entries, may be NULL)
 * receives the inertia of each Lloyd assignment pass in order, each computed
 * against the centers used for that assignment; `length` counts the passes
 * (it may exceed capacity: only the first capacity are stored; mini-batch
 * refines record no passes). In kmeans_fit the trace describes the first
 * Lloyd refinement of the last restart (not the refinements after its
 * split-and-merge moves).
 * The caller owns the trace and keeps it alive while it is set;
 * NULL unsets it.
 *
 * Notes on the other calls: kmeans_iterations counts Lloyd center updates
 * (those after kept split-and-merge moves included), or for mini-batch
 * passes over the data, ceil(steps * batch_size / rows), as scikit-learn's
 * n_iter_. For mini-batch, kmeans_fit seeds from a random
 * subsample of max(3 * batch_size, 3 * k) rows (scikit-learn's init_size);
 * kmeans_seed_plus_plus always seeds from all the rows given.
 */
typedef struct KmeansTrace {
    double *inertia;
    int capacity;
    int length;
} KmeansTrace;

void kmeans_set_trace(Kmeans *kmeans, KmeansTrace *trace);

#endif
