/*
 * pca: principal component analysis of an N x D float32 matrix, to cut the
 * cost of clustering 768-d CLIP vectors. The covariance is accumulated with
 * cblas_ssyrk over tiles of centred rows (in double), and its eigenvectors
 * come from LAPACK's dsyevd (exported by OpenBLAS); the top `components`
 * eigenvectors form the projection.
 *
 * It does not normalize rows or cluster (model chains pca and kmeans), and
 * knows nothing of SQL, YAML or printing. The caller owns the Pca struct
 * (pca_init_from / pca_fit fill it, pca_release frees its arrays), the data
 * it passes in and every output array.
 */
#ifndef PAIRPICK_PCA_H
#define PAIRPICK_PCA_H

#include <stddef.h>

#include "core/error.h"

typedef struct Pca {
    size_t dim;            /* input dimension D */
    size_t components;     /* output dimension N, 1 <= N <= D */
    float *mean;           /* D: subtracted before projecting */
    float *basis;          /* N x D, row-major, orthonormal rows, by decreasing variance */
    float *mean_projected; /* N: mean x basis^T, so projecting needs no centred copy */
    double variance_kept;  /* share of the total variance the N components hold, [0, 1] */
} Pca;

/*
 * Fits the projection on rows x dim data. ERR_DATA when there are fewer than
 * 2 rows; ERR_CONFIG when components is 0 or more than dim; ERR_TEMPFAIL
 * when a signal cancels the run (core/cancel, polled once a tile of rows).
 */
int pca_fit(const float *data, size_t rows, size_t dim, size_t components, Pca *pca, Error *err);

/* A projection read back from storage (arrays copied). */
int pca_init_from(Pca *pca, size_t dim, size_t components, const float *mean, const float *basis,
                  double variance_kept, Error *err);

/* out (rows x components) = (data - mean) basis^T, one sgemm. */
void pca_project(const Pca *pca, const float *data, size_t rows, float *out);

/* out (rows x dim) = projected basis + mean: the round trip back to D. */
void pca_reconstruct(const Pca *pca, const float *projected, size_t rows, float *out);

void pca_release(Pca *pca);

#endif
