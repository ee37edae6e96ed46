/*
 * model_store: cluster models in pairpick's own tables
 * (pairpick_cluster_models, pairpick_cluster_model_clusters; migration 005).
 * Saves a fitted model as the next version of its name in one transaction,
 * loads a version (or the latest), tells whether the latest is due for a
 * refit, lists versions, and records on a run which model it used.
 *
 * Vectors travel as little-endian float32 bytea. It does not fit or assign
 * (the model module does). Models it returns belong to the caller
 * (model_free); so does the ModelSummary array (free).
 */
#ifndef PAIRPICK_MODEL_STORE_H
#define PAIRPICK_MODEL_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "core/error.h"
#include "numeric/model.h"

/*
 * Stores model as the next version of model->name, with its per-cluster
 * fit figures, in one transaction of its own (the caller must not have one
 * open). Fills model->version, fitted_at and config_digest.
 */
int model_store_save(Db *db, ClusterModel *model, const char *job, const char *config_text,
                     Error *err);

/*
 * The same inside the caller's open transaction (a run stores its refitted
 * model with its pairs): committed with it or rolled back with it. On
 * failure model->version is 0; after a rollback of the caller's
 * transaction the caller resets it.
 */
int model_store_insert(Db *db, ClusterModel *model, const char *job, const char *config_text,
                       Error *err);

/*
 * Loads version (0: the latest) of name. ERR_CONFIG when there is no such
 * model or version, with a hint to run `pairpick fit`.
 */
int model_store_load(Db *db, const char *name, int version, ClusterModel **out, Error *err);

/*
 * Whether the latest version of name is older than refit_after_ms at as_of
 * (NULL: the server's now()). *exists is false when there is no version;
 * *due is then true.
 */
int model_store_due(Db *db, const char *name, int64_t refit_after_ms, const char *as_of,
                    bool *exists, bool *due, Error *err);

/*
 * Whether the session may read the model tables (and, with write, add
 * versions to them). ERR_CONFIG naming the missing privilege otherwise.
 */
int model_store_check_privileges(Db *db, bool write, Error *err);

/* Records on the run's row which model version it assigned with. */
int model_store_record_run(Db *db, const char *job, const char *run_id, const char *name,
                           int version, bool refitted, Error *err);

typedef struct ModelSummary {
    char name[MODEL_NAME_MAX];
    int version;
    char job[128];
    char metric[16];
    int dim, clusters, pca_components;
    double variance_kept; /* NaN without PCA */
    char fitted_at[64];
    int64_t selected_rows, fit_rows;
    double inertia;
    char seed[24];
    char config_digest[72];
} ModelSummary;

/* Every version of name (NULL: of every model), newest first. */
int model_store_list(Db *db, const char *name, ModelSummary **out, size_t *count, Error *err);

#endif
