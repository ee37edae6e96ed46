#include "numeric/blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static BlasApi api;
static bool loaded;
static char failure[512];

/* One symbol into *slot; false (and the reason in failure) when missing. */
static bool resolve(void *library, const char *name, void **slot)
{
    dlerror();
    *slot = dlsym(library, name);
    if (*slot != NULL)
        return true;
    const char *reason = dlerror();
    snprintf(failure, sizeof failure, "%s has no %s: %s", BLAS_LIBRARY, name,
             reason != NULL ? reason : "a null symbol");
    return false;
}

static void load(void)
{
    void *library = dlopen(BLAS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(failure, sizeof failure, "%s", reason != NULL ? reason : BLAS_LIBRARY);
        return;
    }
    BlasApi found;
    if (!resolve(library, "cblas_sgemm", (void **)&found.sgemm)
        || !resolve(library, "cblas_dgemm", (void **)&found.dgemm)
        || !resolve(library, "cblas_sgemv", (void **)&found.sgemv)
        || !resolve(library, "cblas_ssyrk", (void **)&found.ssyrk)
        || !resolve(library, "cblas_saxpy", (void **)&found.saxpy)
        || !resolve(library, "cblas_sdot", (void **)&found.sdot)
        || !resolve(library, "openblas_set_num_threads", (void **)&found.set_num_threads)
        || !resolve(library, "openblas_get_num_threads", (void **)&found.get_num_threads)
        || !resolve(library, "openblas_get_num_procs", (void **)&found.get_num_procs)
        || !resolve(library, "dsyevd_", (void **)&found.dsyevd)) {
        dlclose(library);
        return;
    }
    api = found;
    loaded = true; /* the library stays loaded for the life of the process */
}

int blas_load(Error *err)
{
    pthread_once(&load_once, load);
    if (loaded)
        return ERR_OK;
    return error_set(err, ERR_UNAVAILABLE,
                     "cannot load OpenBLAS, which embeddings need: %s"
                     "\nHINT: install OpenBLAS (Debian: apt-get install libopenblas0)",
                     failure);
}

const BlasApi *blas_api(void)
{
    Error err;
    if (blas_load(&err) != ERR_OK) {
        fprintf(stderr, "pairpick: internal error: BLAS used before blas_load: %s\n", err.message);
        abort();
    }
    return &api;
}
