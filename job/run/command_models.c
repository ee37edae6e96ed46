#include "run/command_models.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/model_store.h"
#include "numeric/model.h"
#include "run/run.h"

static int read_models(const JobConfig *config, const char *name, ModelSummary **list,
                       size_t *count, Error *err)
{
    Db *db = NULL;
    int code = run_connect(config, &db, err);
    if (code == ERR_OK)
        code = migrate_verify(db, config->output.table, err);
    if (code == ERR_OK)
        code = model_store_list(db, name, list, count, err);
    db_close(db);
    return code;
}

static void print_model_json(const ModelSummary *m)
{
    printf("{\"name\":");
    json_string(stdout, m->name);
    printf(",\"version\":%d,\"job\":", m->version);
    json_string(stdout, m->job);
    printf(",\"metric\":\"%s\",\"dim\":%d,\"clusters\":%d,\"pca_components\":%d,"
           "\"variance_kept\":",
           m->metric, m->dim, m->clusters, m->pca_components);
    if (isnan(m->variance_kept))
        printf("null");
    else
        printf("%.6g", m->variance_kept);
    printf(",\"fitted_at\":");
    json_string(stdout, m->fitted_at);
    printf(",\"selected_rows\":%" PRId64 ",\"fit_rows\":%" PRId64
           ",\"inertia\":%.6g,\"seed\":%s,\"config_digest\":\"%s\"}",
           m->selected_rows, m->fit_rows, m->inertia, m->seed, m->config_digest);
}

/* One JSON object per model version and line (the form of status --json). */
static void print_json(const ModelSummary *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        print_model_json(&list[i]);
        printf("\n");
    }
}

static void print_table(const ModelSummary *list, size_t count)
{
    printf("%-24s %7s %-9s %5s %8s %5s %8s %-26s %10s %10s %12s\n", "model", "version", "metric",
           "dim", "clusters", "pca", "var.kept", "fitted_at", "rows", "fit_rows", "inertia");
    for (size_t i = 0; i < count; i++) {
        const ModelSummary *m = &list[i];
        char kept[16] = "-";
        if (!isnan(m->variance_kept))
            snprintf(kept, sizeof kept, "%.1f%%", 100.0 * m->variance_kept);
        printf("%-24s %7d %-9s %5d %8d %5d %8s %-26s %10" PRId64 " %10" PRId64 " %12.6g\n",
               m->name, m->version, m->metric, m->dim, m->clusters, m->pca_components, kept,
               m->fitted_at, m->selected_rows, m->fit_rows, m->inertia);
    }
}

int command_models(const JobConfig *config, const ModelsOptions *options)
{
    Error err;
    ModelSummary *list = NULL;
    size_t count = 0;
    char name[MODEL_NAME_MAX];
    int version;
    error_clear(&err);
    bool named = config->strategy.clusters_from != NULL
                 && model_parse_ref(config->strategy.clusters_from, name, &version);
    int code = read_models(config, named ? name : NULL, &list, &count, &err);
    if (code != ERR_OK) {
        log_line("error", NULL, NULL, "%s", err.message);
        return code;
    }
    if (options->json) {
        print_json(list, count);
    } else {
        print_table(list, count);
        if (count == 0)
            fprintf(stderr, "pairpick: no stored cluster model%s%s%s\n", named ? " named \"" : "",
                    named ? name : "", named ? "\"" : "");
    }
    free(list);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_line("error", NULL, NULL, "cannot write stdout: the output was lost");
        return ERR_IOERR;
    }
    return ERR_OK;
}
