#include "db/model_store.h"
#include "db/pg.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "\x" and 8 hex digits per float, little-endian: bytea's text input form. */
static char *hex_of_floats(const float *values, size_t count, Error *err)
{
    static const char digits[] = "0123456789abcdef";
    char *text = malloc(3 + count * 8);
    if (text == NULL) {
        error_nomem(err, 3 + count * 8);
        return NULL;
    }
    char *w = text;
    *w++ = '\\';
    *w++ = 'x';
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], sizeof bits);
        for (int byte = 0; byte < 4; byte++) {
            unsigned value = (bits >> (8 * byte)) & 0xffu;
            *w++ = digits[value >> 4];
            *w++ = digits[value & 0xfu];
        }
    }
    *w = '\0';
    return text;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* encode(col, 'hex') back into count floats; false when the length or a digit is wrong. */
static bool floats_of_hex(const char *text, size_t count, float *out)
{
    if (strlen(text) != count * 8)
        return false;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = 0;
        for (int byte = 0; byte < 4; byte++) {
            const char *pair = text + i * 8 + byte * 2;
            int high = hex_digit(pair[0]), low = hex_digit(pair[1]);
            if (high < 0 || low < 0)
                return false;
            bits |= (uint32_t)(high * 16 + low) << (8 * byte);
        }
        memcpy(&out[i], &bits, sizeof bits);
    }
    return true;
}

/* A PostgreSQL array literal of doubles: "{1.5,2,...}". */
static char *array_of_doubles(const double *values, size_t count, Error *err)
{
    size_t size = 3 + count * 26;
    char *text = malloc(size);
    if (text == NULL) {
        error_nomem(err, size);
        return NULL;
    }
    size_t used = (size_t)snprintf(text, size, "{");
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(text + used, size - used, "%s%.17g", i > 0 ? "," : "",
                                 values[i]);
    snprintf(text + used, size - used, "}");
    return text;
}

/* The INSERTs of model_store_save; in_transaction: the caller's is open. */
static int store_model(Db *db, ClusterModel *model, const char *job, const char *config_text,
                       bool in_transaction, Error *err)
{
    size_t k = (size_t)model->cluster_count;
    char *centers = NULL, *pca_mean = NULL, *pca_basis = NULL, *shares = NULL,
         *distances = NULL;
    PGresult *result = NULL;
    bool open = false;
    int code;

    centers = hex_of_floats(model->centers, k * model->space_dim, err);
    if (centers == NULL)
        return err->code;
    if (model->has_pca
        && ((pca_mean = hex_of_floats(model->pca.mean, model->dim, err)) == NULL
            || (pca_basis = hex_of_floats(model->pca.basis, model->pca.components * model->dim,
                                          err))
                   == NULL)) {
        code = err->code;
        goto done;
    }
    if ((shares = array_of_doubles(model->fit_share, k, err)) == NULL
        || (distances = array_of_doubles(model->fit_mean_distance, k, err)) == NULL) {
        code = err->code;
        goto done;
    }
    if (!in_transaction) {
        if ((code = db_begin(db, "begin model", NULL, err)) != ERR_OK)
            goto done;
        open = true;
    }
    const char *lock_params[1] = {model->name};
    /* Two fits of one name at once must not pick the same version. */
    if ((code = db_command(db, "lock model name",
                           "SELECT pg_advisory_xact_lock(hashtext('pairpick_cluster_model:' || $1))",
                           1, lock_params, NULL, err))
        != ERR_OK)
        goto done;

    char version[16], dim[16], clusters[16], components[16], variance[32], selected[24],
        fitted[24], inertia[32], iterations[16], seed[24];
    snprintf(dim, sizeof dim, "%zu", model->dim);
    snprintf(clusters, sizeof clusters, "%d", model->cluster_count);
    snprintf(components, sizeof components, "%zu", model->has_pca ? model->pca.components : 0);
    snprintf(variance, sizeof variance, "%.17g", model->has_pca ? model->pca.variance_kept : 0.0);
    snprintf(selected, sizeof selected, "%" PRIu64, model->selected_rows);
    snprintf(fitted, sizeof fitted, "%" PRIu64, model->fit_rows);
    snprintf(inertia, sizeof inertia, "%.17g", model->inertia);
    snprintf(iterations, sizeof iterations, "%d", model->iterations);
    snprintf(seed, sizeof seed, "%" PRIu64, model->seed);
    const char *params[16] = {model->name, job, model_metric_name(model->metric), dim, clusters,
                              components, model->has_pca ? variance : NULL, pca_mean, pca_basis,
                              centers, selected, fitted, inertia, iterations, seed, config_text};
    if ((code = db_query_pg(db, "store model",
                         "INSERT INTO pairpick_cluster_models (name, version, job, metric, dim, "
                         "clusters, pca_components, variance_kept, pca_mean, pca_basis, centers, "
                         "selected_rows, fit_rows, inertia, iterations, seed, config_digest) "
                         "SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4::int, $5::int, "
                         "$6::int, $7::float8, $8::bytea, $9::bytea, $10::bytea, $11::bigint, "
                         "$12::bigint, $13::float8, $14::int, $15::numeric, "
                         "encode(sha256(convert_to($16, 'UTF8')), 'hex') "
                         "FROM pairpick_cluster_models WHERE name = $1 "
                         "RETURNING version, fitted_at::text, config_digest",
                         16, params, &result, err))
        != ERR_OK)
        goto done;
    model->version = atoi(PQgetvalue(result, 0, 0));
    snprintf(model->fitted_at, sizeof model->fitted_at, "%s", PQgetvalue(result, 0, 1));
    snprintf(model->config_digest, sizeof model->config_digest, "%s", PQgetvalue(result, 0, 2));
    PQclear(result);
    result = NULL;
    snprintf(version, sizeof version, "%d", model->version);
    const char *cluster_params[5] = {model->name, version, shares, distances, fitted};
    if ((code = db_command(db, "store model clusters",
                           "INSERT INTO pairpick_cluster_model_clusters (name, version, cluster, "
                           "fit_rows, share, mean_distance) "
                           "SELECT $1, $2::int, (c - 1)::int, round(s * $5::bigint)::bigint, s, d "
                           "FROM unnest($3::float8[], $4::float8[]) WITH ORDINALITY AS t(s, d, c)",
                           5, cluster_params, NULL, err))
        != ERR_OK)
        goto done;
    if (open) {
        code = db_commit(db, "commit model", err);
        open = false;
    }

done:
    if (open)
        db_rollback(db, "rollback model");
    if (code != ERR_OK)
        model->version = 0;
    PQclear(result);
    free(centers);
    free(pca_mean);
    free(pca_basis);
    free(shares);
    free(distances);
    return code;
}

int model_store_save(Db *db, ClusterModel *model, const char *job, const char *config_text,
                     Error *err)
{
    return store_model(db, model, job, config_text, false, err);
}

int model_store_insert(Db *db, ClusterModel *model, const char *job, const char *config_text,
                       Error *err)
{
    return store_model(db, model, job, config_text, true, err);
}

int model_store_load(Db *db, const char *name, int version, ClusterModel **out, Error *err)
{
    PGresult *result = NULL, *clusters_result = NULL;
    float *centers = NULL, *pca_mean = NULL, *pca_basis = NULL;
    double *share = NULL, *distance = NULL;
    char version_text[16];
    int code;

    *out = NULL;
    snprintf(version_text, sizeof version_text, "%d", version);
    const char *params[2] = {name, version_text};
    if ((code = db_query_pg(db, "read model",
                         "SELECT version, metric, dim, clusters, pca_components, "
                         "coalesce(variance_kept, 0), coalesce(encode(pca_mean, 'hex'), ''), "
                         "coalesce(encode(pca_basis, 'hex'), ''), encode(centers, 'hex'), "
                         "fitted_at::text, selected_rows, fit_rows, inertia, iterations, seed, "
                         "config_digest FROM pairpick_cluster_models "
                         "WHERE name = $1 AND ($2::int = 0 OR version = $2::int) "
                         "ORDER BY version DESC LIMIT 1",
                         2, params, &result, err))
        != ERR_OK)
        return code;
    if (PQntuples(result) == 0) {
        if (version > 0)
            code = error_set(err, ERR_CONFIG,
                             "strategy.clusters_from: cluster model \"%s\" has no version %d"
                             "\nHINT: `pairpick models CONFIG` lists the stored versions",
                             name, version);
        else
            code = error_set(err, ERR_CONFIG,
                             "strategy.clusters_from: no cluster model named \"%s\""
                             "\nHINT: run `pairpick fit CONFIG` first, or set "
                             "strategy.kmeans.refit_after so a run fits it",
                             name);
        goto done;
    }
    int found_version = atoi(PQgetvalue(result, 0, 0));
    KmeansMetric metric;
    long dim = atol(PQgetvalue(result, 0, 2)), k = atol(PQgetvalue(result, 0, 3)),
         components = atol(PQgetvalue(result, 0, 4));
    if (!model_metric_parse(PQgetvalue(result, 0, 1), &metric) || dim < 1 || k < 1
        || components < 0 || components > dim) {
        code = error_set(err, ERR_DATA, "cluster model \"%s\" version %d is not valid", name,
                         found_version);
        goto done;
    }
    size_t space = components > 0 ? (size_t)components : (size_t)dim;
    centers = malloc((size_t)k * space * sizeof *centers);
    pca_mean = malloc((size_t)dim * sizeof *pca_mean);
    pca_basis = malloc(((size_t)components + 1) * (size_t)dim * sizeof *pca_basis);
    share = calloc((size_t)k, sizeof *share);
    distance = calloc((size_t)k, sizeof *distance);
    if (centers == NULL || pca_mean == NULL || pca_basis == NULL || share == NULL
        || distance == NULL) {
        code = error_nomem(err, (size_t)k * space * sizeof *centers);
        goto done;
    }
    if (!floats_of_hex(PQgetvalue(result, 0, 8), (size_t)k * space, centers)
        || (components > 0
            && (!floats_of_hex(PQgetvalue(result, 0, 6), (size_t)dim, pca_mean)
                || !floats_of_hex(PQgetvalue(result, 0, 7), (size_t)components * (size_t)dim,
                                  pca_basis)))) {
        code = error_set(err, ERR_DATA,
                         "cluster model \"%s\" version %d: stored vectors do not match its "
                         "dimension %ld, %ld clusters and %ld PCA components",
                         name, found_version, dim, k, components);
        goto done;
    }
    snprintf(version_text, sizeof version_text, "%d", found_version);
    if ((code = db_query_pg(db, "read model clusters",
                         "SELECT cluster, share, mean_distance FROM pairpick_cluster_model_clusters "
                         "WHERE name = $1 AND version = $2::int ORDER BY cluster",
                         2, params, &clusters_result, err))
        != ERR_OK)
        goto done;
    for (int i = 0; i < PQntuples(clusters_result); i++) {
        long cluster = atol(PQgetvalue(clusters_result, i, 0));
        if (cluster >= 0 && cluster < k) {
            share[cluster] = strtod(PQgetvalue(clusters_result, i, 1), NULL);
            distance[cluster] = strtod(PQgetvalue(clusters_result, i, 2), NULL);
        }
    }
    if ((code = model_new(name, found_version, metric, (size_t)dim, (int)k, (size_t)components,
                          pca_mean, pca_basis, strtod(PQgetvalue(result, 0, 5), NULL), centers,
                          share, distance, out, err))
        != ERR_OK)
        goto done;
    ClusterModel *model = *out;
    snprintf(model->fitted_at, sizeof model->fitted_at, "%s", PQgetvalue(result, 0, 9));
    model->selected_rows = strtoull(PQgetvalue(result, 0, 10), NULL, 10);
    model->fit_rows = strtoull(PQgetvalue(result, 0, 11), NULL, 10);
    model->inertia = strtod(PQgetvalue(result, 0, 12), NULL);
    model->iterations = atoi(PQgetvalue(result, 0, 13));
    model->seed = strtoull(PQgetvalue(result, 0, 14), NULL, 10);
    snprintf(model->config_digest, sizeof model->config_digest, "%s", PQgetvalue(result, 0, 15));

done:
    PQclear(result);
    PQclear(clusters_result);
    free(centers);
    free(pca_mean);
    free(pca_basis);
    free(share);
    free(distance);
    return code;
}

int model_store_due(Db *db, const char *name, int64_t refit_after_ms, const char *as_of,
                    bool *exists, bool *due, Error *err)
{
    char milliseconds[24];
    snprintf(milliseconds, sizeof milliseconds, "%" PRId64, refit_after_ms);
    const char *params[3] = {name, milliseconds, as_of};
    PGresult *result;
    int code = db_query_pg(db, "check model age",
                        "SELECT coalesce($3::timestamptz, now()) - max(fitted_at) "
                        ">= make_interval(secs => $2::bigint / 1000.0) "
                        "FROM pairpick_cluster_models WHERE name = $1",
                        3, params, &result, err);
    if (code != ERR_OK)
        return code;
    *exists = !PQgetisnull(result, 0, 0);
    *due = !*exists || strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    PQclear(result);
    return ERR_OK;
}

int model_store_check_privileges(Db *db, bool write, Error *err)
{
    static const struct {
        const char *table, *privilege;
        bool for_write;
    } checks[] = {
        {"pairpick_cluster_models", "SELECT", false},
        {"pairpick_cluster_model_clusters", "SELECT", false},
        {"pairpick_cluster_models", "INSERT", true},
        {"pairpick_cluster_model_clusters", "INSERT", true},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (checks[i].for_write && !write)
            continue;
        const char *params[2] = {checks[i].table, checks[i].privilege};
        PGresult *result;
        int code = db_query_pg(db, "check model privileges", "SELECT has_table_privilege($1, $2)", 2,
                            params, &result, err);
        if (code != ERR_OK)
            return code;
        bool granted = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
        PQclear(result);
        if (!granted)
            return error_set(err, ERR_CONFIG,
                             "the database role lacks %s on %s%s"
                             "\nHINT: sql/roles/least_privilege.sql grants what a run needs",
                             checks[i].privilege, checks[i].table,
                             checks[i].for_write ? " (strategy.kmeans.refit_after stores versions)"
                                                 : "");
    }
    return ERR_OK;
}

int model_store_record_run(Db *db, const char *job, const char *run_id, const char *name,
                           int version, bool refitted, Error *err)
{
    char version_text[16];
    snprintf(version_text, sizeof version_text, "%d", version);
    const char *params[5] = {job, run_id, name, version_text, refitted ? "true" : "false"};
    return db_command(db, "record model on run",
                      "UPDATE pairpick_runs SET model_name = $3, model_version = $4::int, "
                      "model_refitted = $5::boolean WHERE job = $1 AND run_id = $2",
                      5, params, NULL, err);
}

int model_store_list(Db *db, const char *name, ModelSummary **out, size_t *count, Error *err)
{
    const char *params[1] = {name};
    PGresult *result;
    *out = NULL;
    *count = 0;
    int code = db_query_pg(db, "list models",
                        "SELECT name, version, job, metric, dim, clusters, pca_components, "
                        "variance_kept, to_char(fitted_at, 'YYYY-MM-DD HH24:MI:SS TZ'), "
                        "selected_rows, fit_rows, inertia, seed, config_digest "
                        "FROM pairpick_cluster_models WHERE $1::text IS NULL OR name = $1 "
                        "ORDER BY name, version DESC",
                        1, params, &result, err);
    if (code != ERR_OK)
        return code;
    size_t rows = (size_t)PQntuples(result);
    ModelSummary *list = calloc(rows > 0 ? rows : 1, sizeof *list);
    if (list == NULL) {
        PQclear(result);
        return error_nomem(err, rows * sizeof *list);
    }
    for (size_t i = 0; i < rows; i++) {
        ModelSummary *m = &list[i];
        int r = (int)i;
        snprintf(m->name, sizeof m->name, "%s", PQgetvalue(result, r, 0));
        m->version = atoi(PQgetvalue(result, r, 1));
        snprintf(m->job, sizeof m->job, "%s", PQgetvalue(result, r, 2));
        snprintf(m->metric, sizeof m->metric, "%s", PQgetvalue(result, r, 3));
        m->dim = atoi(PQgetvalue(result, r, 4));
        m->clusters = atoi(PQgetvalue(result, r, 5));
        m->pca_components = atoi(PQgetvalue(result, r, 6));
        m->variance_kept = PQgetisnull(result, r, 7) ? NAN : strtod(PQgetvalue(result, r, 7), NULL);
        snprintf(m->fitted_at, sizeof m->fitted_at, "%s", PQgetvalue(result, r, 8));
        m->selected_rows = strtoll(PQgetvalue(result, r, 9), NULL, 10);
        m->fit_rows = strtoll(PQgetvalue(result, r, 10), NULL, 10);
        m->inertia = strtod(PQgetvalue(result, r, 11), NULL);
        snprintf(m->seed, sizeof m->seed, "%s", PQgetvalue(result, r, 12));
        snprintf(m->config_digest, sizeof m->config_digest, "%s", PQgetvalue(result, r, 13));
    }
    PQclear(result);
    *out = list;
    *count = rows;
    return ERR_OK;
}
