/*
 * distance: squared Euclidean distances from rows to a set of centers, and
 * the nearest center of each row, computed as faiss does:
 *   |x - c|^2 = |x|^2 + |c|^2 - 2 x.c
 * with the norms precomputed and the cross terms from one cblas_sgemm per
 * tile of rows, so the hot loop is BLAS and the buffers never grow with the
 * number of rows.
 *
 * It does not cluster (kmeans moves the centers), normalize, allocate the
 * caller's outputs or print. Rows and centers are row-major float32 owned by
 * the caller; DistanceCenters borrows the centers and owns only their norms.
 */
#ifndef PAIRPICK_DISTANCE_H
#define PAIRPICK_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/*
 * Rows per tile such that a tile of rows of `dim` floats plus `columns`
 * floats of output per row stays within a few MiB (in L2/L3).
 */
size_t distance_tile_rows(size_t dim, size_t columns);

/* |row|^2 in float (cblas_sdot). */
float distance_squared_norm(const float *row, size_t dim);

/*
 * |row|^2 of each row into norms (rows floats, caller-owned). ERR_DATA when
 * one is not finite (NaN, inf or overflow), naming the row.
 */
int distance_row_norms(const float *data, size_t rows, size_t dim, float *norms, Error *err);

/*
 * Centers prepared for a nearest-center search: their squared norms, and
 * which of them repeat an earlier one exactly (those are skipped, so a tie
 * between identical centers always goes to the lowest index).
 */
typedef struct DistanceCenters {
    const float *centers;  /* count x dim, borrowed: set by distance_centers_set */
    int count;
    size_t dim;
    float *norms;          /* count: |c|^2 */
    unsigned char *repeat; /* count: the center equals an earlier one */
} DistanceCenters;

/* Allocates the norms of `count` centers of `dim` floats; no centers set yet. */
int distance_centers_init(DistanceCenters *prepared, int count, size_t dim, Error *err);

/*
 * Points the search at centers (count x dim, borrowed) and computes their
 * norms and repeats. Call it again whenever the centers change.
 */
void distance_centers_set(DistanceCenters *prepared, const float *centers);

void distance_centers_release(DistanceCenters *prepared);

/*
 * Nearest center of each of `count` contiguous rows (count <= the tile the
 * buffers were sized for): label (lowest index on ties) and squared distance,
 * clamped at 0 where rounding makes it negative. row_norms holds |x|^2 of
 * these rows; dots is scratch of centers->count x count floats. Returns the
 * sum of the distances.
 */
double distance_nearest_tile(const DistanceCenters *centers, const float *rows, size_t count,
                             const float *row_norms, float *dots, int32_t *label,
                             float *distance);

/*
 * Nearest center of every row, a tile of rows at a time, with working
 * buffers of its own (O(tile x centers)). cluster_of (rows entries) receives
 * the labels, distance (rows entries, may be NULL) the squared distances,
 * *inertia their sum. ERR_INTERNAL when a buffer cannot be allocated;
 * ERR_TEMPFAIL when a signal cancels the run (polled once a tile).
 */
int distance_nearest(const DistanceCenters *centers, const float *data, size_t rows,
                     int32_t *cluster_of, float *distance, double *inertia, Error *err);

#endif
