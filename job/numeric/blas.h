/*
 * blas: OpenBLAS, loaded (dlopen) by the first k-means, PCA or distance of
 * the process rather than when it starts.
 *
 * Linked in, OpenBLAS initialised itself before main in every process
 * (20 ms of its 33 ms start on this project's VM, with one thread) and
 * started a thread pool then, which under a small address-space limit
 * could hang exit(); main.c ran the whole process again to hold it to one
 * thread. Loaded here, a score run, `check` or `--version` never pays for
 * it, and the environment main.c sets before any thread exists
 * (OPENBLAS_NUM_THREADS=1 unless a count was given) applies at the load.
 *
 * blas_load reports a library that cannot be loaded as an error; every
 * entry point of this layer that multiplies calls it first (kmeans_new,
 * pca_fit, pca_init_from, distance_centers_init). blas_api then gives the
 * functions; used before any load it loads, and aborts on failure (a bug:
 * an entry point that forgot blas_load).
 */
#ifndef PAIRPICK_BLAS_H
#define PAIRPICK_BLAS_H

#include <cblas.h>
#include <stdbool.h>

#include "core/error.h"

/* The shared library loaded: OpenBLAS's soname on Debian and most others. */
#define BLAS_LIBRARY "libopenblas.so.0"

/* LAPACK's symmetric eigensolver (divide and conquer), exported by OpenBLAS. */
typedef void BlasDsyevd(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                        double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                        int *info);

typedef struct BlasApi {
    __typeof__(cblas_sgemm) *sgemm;
    __typeof__(cblas_dgemm) *dgemm;
    __typeof__(cblas_sgemv) *sgemv;
    __typeof__(cblas_ssyrk) *ssyrk;
    __typeof__(cblas_saxpy) *saxpy;
    __typeof__(cblas_sdot) *sdot;
    __typeof__(openblas_set_num_threads) *set_num_threads;
    __typeof__(openblas_get_num_threads) *get_num_threads;
    __typeof__(openblas_get_num_procs) *get_num_procs;
    BlasDsyevd *dsyevd;
} BlasApi;

/* Loads the library once (any thread); ERR_UNAVAILABLE with dlerror's reason when it cannot. */
int blas_load(Error *err);

/* The functions, loaded; aborts when the library cannot be loaded. */
const BlasApi *blas_api(void);

/* The calls by their BLAS names, through blas_api. */
#define blas_sgemm (blas_api()->sgemm)
#define blas_dgemm (blas_api()->dgemm)
#define blas_sgemv (blas_api()->sgemv)
#define blas_ssyrk (blas_api()->ssyrk)
#define blas_saxpy (blas_api()->saxpy)
#define blas_sdot (blas_api()->sdot)
#define blas_set_num_threads (blas_api()->set_num_threads)
#define blas_get_num_threads (blas_api()->get_num_threads)
#define blas_get_num_procs (blas_api()->get_num_procs)

#endif
