#include "numeric/pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cancel.h"
#include "numeric/blas.h"

/* Rows centred and multiplied at once by ssyrk; float sums stay exact enough per tile. */
#define PCA_TILE 1024

static int alloc_arrays(Pca *pca, size_t dim, size_t components, Error *err)
{
    memset(pca, 0, sizeof *pca);
    pca->dim = dim;
    pca->components = components;
    pca->mean = malloc(dim * sizeof(float));
    pca->basis = malloc(components * dim * sizeof(float));
    pca->mean_projected = malloc(components * sizeof(float));
    if (pca->mean == NULL || pca->basis == NULL || pca->mean_projected == NULL) {
        pca_release(pca);
        return error_nomem(err, components * dim * sizeof(float));
    }
    return ERR_OK;
}

static void project_mean(Pca *pca)
{
    for (size_t c = 0; c < pca->components; c++) {
        double sum = 0;
        for (size_t d = 0; d < pca->dim; d++)
            sum += (double)pca->basis[c * pca->dim + d] * pca->mean[d];
        pca->mean_projected[c] = (float)sum;
    }
}

/*
 * Column means in double into mean, and in float into pca->mean. Polls for
 * a cancel once PCA_TILE rows.
 */
static int fit_mean(Pca *pca, const float *data, size_t rows, double *mean, Error *err)
{
    size_t dim = pca->dim;
    int code;
    for (size_t i = 0; i < rows; i++) {
        if (i % PCA_TILE == 0 && (code = cancel_check(err)) != ERR_OK)
            return code;
        for (size_t d = 0; d < dim; d++)
            mean[d] += data[i * dim + d];
    }
    for (size_t d = 0; d < dim; d++) {
        mean[d] /= (double)rows;
        pca->mean[d] = (float)mean[d];
    }
    return ERR_OK;
}

/*
 * The covariance (dim x dim, symmetric, both triangles) of the centred rows:
 * sum (x - mean)^T (x - mean) a tile at a time with ssyrk, then / rows.
 * tile holds PCA_TILE rows, tile_product dim x dim floats. *total receives
 * the total variance (its trace). Polls for a cancel once a tile.
 */
static int fit_covariance(const float *data, size_t rows, size_t dim, const double *mean,
                          float *tile, float *tile_product, double *covariance, double *total,
                          Error *err)
{
    int code;

    *total = 0;
    for (size_t start = 0; start < rows; start += PCA_TILE) {
        size_t count = rows - start < PCA_TILE ? rows - start : PCA_TILE;
        if ((code = cancel_check(err)) != ERR_OK)
            return code;
        for (size_t i = 0; i < count; i++)
            for (size_t d = 0; d < dim; d++)
                tile[i * dim + d] = (float)(data[(start + i) * dim + d] - mean[d]);
        blas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)dim, (int)count, 1.0f, tile,
                   (int)dim, 0.0f, tile_product, (int)dim);
        for (size_t a = 0; a < dim; a++)
            for (size_t b = a; b < dim; b++)
                covariance[a * dim + b] += tile_product[a * dim + b];
    }
    for (size_t a = 0; a < dim; a++) {
        for (size_t b = a; b < dim; b++) {
            covariance[a * dim + b] /= (double)rows;
            covariance[b * dim + a] = covariance[a * dim + b]; /* symmetric: any layout */
        }
        *total += covariance[a * dim + a];
    }
    return ERR_OK;
}

/*
 * Eigenvalues (ascending) into eigenvalues and eigenvectors in place of the
 * covariance, by dsyevd after its workspace query.
 */
static int eigen_decompose(double *covariance, size_t dim, double *eigenvalues, Error *err)
{
    int n = (int)dim, info = 0, lwork = -1, liwork = -1, iwork_size = 0;
    double work_size = 0, *work = NULL;
    int *iwork = NULL;
    int code = ERR_OK;

    const BlasApi *blas = blas_api();
    blas->dsyevd("V", "U", &n, covariance, &n, eigenvalues, &work_size, &lwork, &iwork_size,
                 &liwork, &info);
    lwork = (int)work_size;
    liwork = iwork_size;
    work = malloc((size_t)(lwork > 0 ? lwork : 1) * sizeof *work);
    iwork = malloc((size_t)(liwork > 0 ? liwork : 1) * sizeof *iwork);
    if (work == NULL || iwork == NULL) {
        code = error_nomem(err, (size_t)lwork * sizeof *work);
        goto done;
    }
    if (info == 0)
        blas->dsyevd("V", "U", &n, covariance, &n, eigenvalues, work, &lwork, iwork, &liwork,
                     &info);
    if (info != 0)
        code = error_set(err, ERR_INTERNAL, "the PCA eigensolver (dsyevd) failed: info %d", info);
done:
    free(work);
    free(iwork);
    return code;
}

/*
 * The top pca->components eigenvectors as the basis rows, each signed so
 * its largest entry is positive (refits of the same data agree), and the
 * share of the total variance they keep.
 */
static void keep_components(Pca *pca, const double *vectors, const double *eigenvalues,
                            double total)
{
    size_t dim = pca->dim;
    double kept = 0;
    /* Eigenvalues come in ascending order; eigenvector j is column j (a[j * n + i]). */
    for (size_t c = 0; c < pca->components; c++) {
        size_t j = dim - 1 - c;
        const double *vector = vectors + j * dim;
        size_t largest = 0;
        for (size_t d = 1; d < dim; d++)
            if (fabs(vector[d]) > fabs(vector[largest]))
                largest = d;
        double sign = vector[largest] < 0 ? -1.0 : 1.0;
        for (size_t d = 0; d < dim; d++)
            pca->basis[c * dim + d] = (float)(sign * vector[d]);
        kept += eigenvalues[j] > 0 ? eigenvalues[j] : 0;
    }
    pca->variance_kept = total > 0 ? fmin(1.0, kept / total) : 1.0;
}

int pca_fit(const float *data, size_t rows, size_t dim, size_t components, Pca *pca, Error *err)
{
    double *mean = NULL, *covariance = NULL, *eigenvalues = NULL;
    float *tile = NULL, *tile_product = NULL;
    int code;

    memset(pca, 0, sizeof *pca);
    if ((code = blas_load(err)) != ERR_OK)
        return code;
    if (components == 0 || components > dim)
        return error_set(err, ERR_CONFIG,
                         "cannot keep %zu principal components of %zu-dimensional embeddings",
                         components, dim);
    if (rows < 2)
        return error_set(err, ERR_DATA, "cannot fit a PCA on %zu image%s", rows,
                         rows == 1 ? "" : "s");
    if (dim > 46340) /* n * n must fit LAPACK's int */
        return error_set(err, ERR_DATA, "cannot fit a PCA on %zu dimensions", dim);
    if ((code = alloc_arrays(pca, dim, components, err)) != ERR_OK)
        return code;

    mean = calloc(dim, sizeof *mean);
    covariance = calloc(dim * dim, sizeof *covariance);
    eigenvalues = malloc(dim * sizeof *eigenvalues);
    tile = malloc(PCA_TILE * dim * sizeof *tile);
    tile_product = malloc(dim * dim * sizeof *tile_product);
    if (mean == NULL || covariance == NULL || eigenvalues == NULL || tile == NULL
        || tile_product == NULL) {
        code = error_nomem(err, dim * dim * sizeof *covariance);
        goto done;
    }
    double total = 0;
    if ((code = fit_mean(pca, data, rows, mean, err)) != ERR_OK
        || (code = fit_covariance(data, rows, dim, mean, tile, tile_product, covariance, &total,
                               err)) != ERR_OK
        || (code = eigen_decompose(covariance, dim, eigenvalues, err)) != ERR_OK)
        goto done;
    keep_components(pca, covariance, eigenvalues, total);
    project_mean(pca);

done:
    if (code != ERR_OK)
        pca_release(pca);
    free(mean);
    free(covariance);
    free(eigenvalues);
    free(tile);
    free(tile_product);
    return code;
}

int pca_init_from(Pca *pca, size_t dim, size_t components, const float *mean, const float *basis,
                  double variance_kept, Error *err)
{
    int code;
    if ((code = blas_load(err)) != ERR_OK)
        return code;
    if (components == 0 || components > dim)
        return error_set(err, ERR_DATA, "a stored PCA of %zu components over %zu dimensions "
                                        "is not valid", components, dim);
    if ((code = alloc_arrays(pca, dim, components, err)) != ERR_OK)
        return code;
    memcpy(pca->mean, mean, dim * sizeof(float));
    memcpy(pca->basis, basis, components * dim * sizeof(float));
    pca->variance_kept = variance_kept;
    project_mean(pca);
    return ERR_OK;
}

void pca_project(const Pca *pca, const float *data, size_t rows, float *out)
{
    if (rows == 0)
        return;
    int n = (int)pca->components, d = (int)pca->dim;
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, n, d, 1.0f, data, d,
               pca->basis, d, 0.0f, out, n);
    for (size_t i = 0; i < rows; i++)
        for (size_t c = 0; c < pca->components; c++)
            out[i * pca->components + c] -= pca->mean_projected[c];
}

void pca_reconstruct(const Pca *pca, const float *projected, size_t rows, float *out)
{
    if (rows == 0)
        return;
    int n = (int)pca->components, d = (int)pca->dim;
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, d, n, 1.0f, projected, n,
               pca->basis, d, 0.0f, out, d);
    for (size_t i = 0; i < rows; i++)
        for (size_t k = 0; k < pca->dim; k++)
            out[i * pca->dim + k] += pca->mean[k];
}

void pca_release(Pca *pca)
{
    free(pca->mean);
    free(pca->basis);
    free(pca->mean_projected);
    memset(pca, 0, sizeof *pca);
}
