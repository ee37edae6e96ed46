#include "run/command_fit.h"

#include <inttypes.h>
#include <stdio.h>

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "numeric/model.h"

static void print_fitted(const FitSummary *summary)
{
    const ClusterModel *model = summary->model;
    fprintf(stderr,
            "pairpick: stored cluster model %s version %d: k=%d, %s, %zu dimensions%s, fitted on "
            "%" PRIu64 " of %" PRIu64 " rows, inertia %.6g, %.2f s\n",
            model->name, model->version, model->cluster_count, model_metric_name(model->metric),
            model->dim, model->has_pca ? " (PCA)" : "", model->fit_rows, model->selected_rows,
            model->inertia, summary->seconds);
    if (model->has_pca)
        fprintf(stderr, "pairpick: pca %zu -> %zu dimensions, variance kept %.1f%%\n", model->dim,
                model->pca.components, 100.0 * model->pca.variance_kept);
}

static void print_fitted_json(const FitSummary *summary)
{
    const ClusterModel *model = summary->model;
    printf("{\"command\":\"fit\",\"status\":\"succeeded\",\"exit_code\":0,\"model\":");
    json_string(stdout, model->name);
    printf(",\"version\":%d,\"metric\":\"%s\",\"dim\":%zu,\"clusters\":%d,"
           "\"pca_components\":%zu",
           model->version, model_metric_name(model->metric), model->dim, model->cluster_count,
           model->has_pca ? model->pca.components : (size_t)0);
    if (model->has_pca)
        printf(",\"variance_kept\":%.6g", model->pca.variance_kept);
    printf(",\"rows_read\":%" PRIu64 ",\"rows_skipped\":%" PRIu64 ",\"fit_rows\":%" PRIu64
           ",\"inertia\":%.6g,\"iterations\":%d,\"seed\":%" PRIu64 ",\"fitted_at\":",
           summary->rows_read, summary->rows_skipped, model->fit_rows, model->inertia,
           model->iterations, model->seed);
    json_string(stdout, model->fitted_at);
    printf(",\"seconds\":%.3f}\n", summary->seconds);
}

int command_fit(const JobConfig *config, const RunOptions *options)
{
    Error err;
    FitSummary summary;
    error_clear(&err);
    int code = run_fit(config, options, &summary, &err);
    if (code != ERR_OK) {
        printf("{\"command\":\"fit\",\"status\":\"failed\",\"exit_code\":%d,\"error\":", code);
        json_string(stdout, err.message);
        printf("}\n");
        log_line("error", NULL, NULL, "%s", err.message);
    } else {
        print_fitted(&summary);
        print_fitted_json(&summary);
    }
    run_fit_release(&summary);
    return code;
}
