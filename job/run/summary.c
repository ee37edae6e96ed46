#include "run/summary.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/sidefile.h"
#include "numeric/model.h"

/* The stored model of a clusters_from run, and its drift, for people. */
static void print_model_human(FILE *out, const Report *report)
{
    const ClusterModel *model = report->model.stored;
    fprintf(out, "  model           %s version %d%s, %s, k=%d, fitted %s on %" PRIu64 " rows\n",
            model->name, model->version,
            report->model.refitted ? (model->version > 0 ? " (refitted by this run)"
                                                         : " (refitted, not stored: dry run)")
                                   : "",
            model_metric_name(model->metric), model->cluster_count,
            model->fitted_at[0] != '\0' ? model->fitted_at : "now", model->fit_rows);
    if (model->has_pca)
        fprintf(out, "  pca             %zu -> %zu dimensions, variance kept %.1f%%\n", model->dim,
                model->pca.components, 100.0 * model->pca.variance_kept);
    const ModelDrift *drift = report->model.drift;
    if (drift == NULL || drift->total == 0)
        return;
    /* The clusters that moved most first; every cluster is in the JSON line. */
    enum { SHOWN = 10 };
    int top[SHOWN] = {0};
    int shown = 0;
    for (int k = 0; k < drift->cluster_count; k++) {
        double change = fabs(model_drift_share(drift, k) - model->fit_share[k]);
        int at = shown < SHOWN ? shown++ : SHOWN;
        while (at > 0
               && fabs(model_drift_share(drift, top[at - 1]) - model->fit_share[top[at - 1]])
                      < change) {
            if (at < SHOWN)
                top[at] = top[at - 1];
            at--;
        }
        if (at < SHOWN)
            top[at] = k;
    }
    fprintf(out, "  drift           largest share change %.1f points (cluster %d); share now/at "
                 "fit, mean distance now/at fit, for the %d that moved most:\n",
            100.0 * fabs(model_drift_share(drift, top[0]) - model->fit_share[top[0]]), top[0],
            shown);
    for (int i = 0; i < shown; i++)
        fprintf(out, "    cluster:%-4d %5.1f%% / %5.1f%%   %.4f / %.4f\n", top[i],
                100.0 * model_drift_share(drift, top[i]), 100.0 * model->fit_share[top[i]],
                model_drift_mean_distance(drift, top[i]), model->fit_mean_distance[top[i]]);
    if (shown < drift->cluster_count)
        fprintf(out, "    ... and %d more clusters (all of them in the JSON line)\n",
                drift->cluster_count - shown);
}

static void print_model_json(FILE *out, const Report *report)
{
    const ClusterModel *model = report->model.stored;
    fputs(",\"model\":{\"name\":", out);
    json_string(out, model->name);
    fprintf(out, ",\"version\":%d,\"refitted\":%s,\"metric\":\"%s\",\"dim\":%zu,"
                 "\"clusters\":%d,\"pca_components\":%zu",
            model->version, report->model.refitted ? "true" : "false",
            model_metric_name(model->metric), model->dim, model->cluster_count,
            model->has_pca ? model->pca.components : (size_t)0);
    if (model->has_pca)
        json_field_number(out, "variance_kept", model->pca.variance_kept);
    fputs(",\"fitted_at\":", out);
    json_string(out, model->fitted_at);
    fputc('}', out);
    const ModelDrift *drift = report->model.drift;
    if (drift == NULL)
        return;
    fputs(",\"drift\":[", out);
    for (int k = 0; k < drift->cluster_count; k++) {
        fprintf(out, "%s{\"cluster\":%d", k > 0 ? "," : "", k);
        json_field_number(out, "share", model_drift_share(drift, k));
        json_field_number(out, "fit_share", model->fit_share[k]);
        json_field_number(out, "mean_distance", model_drift_mean_distance(drift, k));
        json_field_number(out, "fit_mean_distance", model->fit_mean_distance[k]);
        fputc('}', out);
    }
    fputc(']', out);
}

/* Rows read, skipped (by reason), candidates and pairs. */
static void print_counts_human(FILE *out, const Report *report)
{
    const RunCounts *c = &report->counts;
    fprintf(out, "  rows read       %" PRIu64 " (filtered out before: %" PRIu64 ")\n",
            c->rows_read, c->filtered_out);
    fprintf(out, "  rows skipped    %" PRIu64, c->rows_skipped);
    const char *sep = " (";
    for (int r = 0; r < REJECT_REASON_COUNT; r++) {
        if (report->stream.rejected[r] > 0) {
            fprintf(out, "%s%s %" PRIu64, sep, stream_reject_name((RejectReason)r),
                    report->stream.rejected[r]);
            sep = ", ";
        }
    }
    fprintf(out, "%s\n", sep[0] == ',' ? ")" : "");
    fprintf(out, "  candidates      %" PRIu64 " images in %d categories\n", c->candidates,
            c->categories);
    fprintf(out, "  pairs           %" PRIu64 " chosen of %" PRIu64 " requested (%" PRIu64
                 " new pairs available), %" PRIu64 " inserted\n",
            c->pairs_chosen, c->pairs_requested, c->pairs_available, c->pairs_inserted);
}

/* The clusters, the memory mode and the stored model. */
static void print_clusters_human(FILE *out, const Report *report)
{
    const ReportClusters *clusters = &report->clusters;
    if (clusters->measured) {
        char fitted[48] = "assigned to stored centres";
        if (report->model.stored == NULL || report->model.refitted)
            snprintf(fitted, sizeof fitted, "%d iterations", clusters->iterations);
        fprintf(out, "  clusters        k=%d, sizes min %zu / median %zu / max %zu, inertia %.6g, "
                     "%s\n",
                clusters->cluster_count, clusters->size_min, clusters->size_median,
                clusters->size_max, clusters->inertia, fitted);
    }
    if (report->memory.mode != NULL)
        fprintf(out, "  memory          %s: %s\n", report->memory.mode, report->memory.note);
    if (report->model.stored != NULL)
        print_model_human(out, report);
}

/* How close the chosen pairs are against random pairs; the queue. */
static void print_quality_human(FILE *out, const Report *report)
{
    const ReportQuality *quality = &report->quality;
    if (quality->has_score_delta)
        fprintf(out, "  |score delta|   chosen pairs %.4f, random pairs %.4f (ratio %.3f)\n",
                quality->chosen_score_delta, quality->random_score_delta,
                quality->random_score_delta > 0
                    ? quality->chosen_score_delta / quality->random_score_delta
                    : 0.0);
    if (quality->has_similarity)
        fprintf(out, "  cosine sim.     chosen pairs %.4f, random pairs %.4f\n",
                quality->chosen_similarity, quality->random_similarity);
    if (report->queue.enabled)
        fprintf(out, "  queue           %" PRIu64 " pairs of this job pending before the run, "
                     "output.max_pending %" PRId64 "%s\n",
                report->queue.pending_before, report->queue.max_pending,
                report->queue.full ? ": the queue is full, no pairs added" : "");
}

/* The informative selection: policy, information figures, filters, exposure. */
static void print_selection_human(FILE *out, const ReportSelection *selection)
{
    if (selection->prefer != NULL)
        fprintf(out, "  prefer          %s, %" PRIu64 " cross-category pairs\n",
                selection->prefer, selection->cross_pairs);
    if (selection->has_information) {
        const InformStats *c = &selection->chosen_information, *r = &selection->random_information;
        fprintf(out, "  |p - 1/2|       chosen pairs %.4f, random in-category pairs %.4f\n",
                c->mean_p_distance, r->mean_p_distance);
        fprintf(out, "  var_a + var_b   chosen pairs %.4g, random in-category pairs %.4g\n",
                c->mean_variance_sum, r->mean_variance_sum);
        fprintf(out, "  information     chosen pairs %.4g, random in-category pairs %.4g "
                     "(summed over %zu pairs)\n",
                c->information_sum, r->information_sum, c->pair_count);
    }
    if (selection->selector_ran)
        fprintf(out, "  candidates      %" PRIu64 " examined, %" PRIu64 " near-duplicates skipped, "
                     "%" PRIu64 " at max_exposure\n",
                selection->candidates_examined, selection->near_duplicates_skipped,
                selection->exposure_skipped);
    if (selection->selector_ran && selection->capped_images > 0)
        fprintf(out, "  capped          %" PRIu64 " images at max_exposure or max_comparisons\n",
                selection->capped_images);
    if (selection->has_exposure) {
        fprintf(out, "  exposure        images by open pairs after the run:");
        for (int b = 0; b < REPORT_EXPOSURE_BUCKETS; b++)
            fprintf(out, " %d%s=%" PRIu64, b, b == REPORT_EXPOSURE_BUCKETS - 1 ? "+" : "",
                    selection->exposure_histogram[b]);
        fputc('\n', out);
    }
}

/* The pairs chosen in each category, the first 50 categories. */
static void print_pairs_per_category(FILE *out, const Images *images,
                                     const Categories *categories,
                                     const size_t *pairs_per_category)
{
    char name[256];
    int32_t shown = categories->count > 50 ? 50 : categories->count;
    fprintf(out, "  pairs per category:");
    for (int32_t k = 0; k < shown; k++)
        fprintf(out, "%s %s=%zu", k % 6 == 0 ? "\n   " : "",
                categorize_name(categories, images, k, name, sizeof name), pairs_per_category[k]);
    if (shown < categories->count)
        fprintf(out, "\n    ... and %d more categories", categories->count - shown);
    fputc('\n', out);
}

void summary_print_human(FILE *out, const Report *report, const Images *images,
                         const Categories *categories, const size_t *pairs_per_category)
{
    fprintf(out, "pairpick: job %s, run %s: %s\n", report->job, report->run_id, report->status);
    fprintf(out, "  strategy        %s (seed %" PRIu64 ")\n", report->strategy, report->seed);
    print_counts_human(out, report);
    print_clusters_human(out, report);
    print_quality_human(out, report);
    print_selection_human(out, &report->selection);
    if (pairs_per_category != NULL && categories != NULL && categories->count > 0)
        print_pairs_per_category(out, images, categories, pairs_per_category);
    if (report->error != NULL)
        fprintf(out, "  error           %s\n", report->error);
    fprintf(out, "  time            %.2f s\n", report->seconds);
}

bool summary_print_json(FILE *out, const Report *report)
{
    const RunCounts *c = &report->counts;
    fputs("{\"job\":", out);
    json_string(out, report->job != NULL ? report->job : "");
    fputs(",\"run_id\":", out);
    json_string(out, report->run_id != NULL ? report->run_id : "");
    fputs(",\"status\":", out);
    json_string(out, report->status);
    if (report->skip_reason != NULL) {
        fputs(",\"skip_reason\":", out);
        json_string(out, report->skip_reason);
    }
    fprintf(out, ",\"exit_code\":%d,\"seed\":%" PRIu64, report->exit_code, report->seed);
    fprintf(out,
            ",\"rows_read\":%" PRIu64 ",\"rows_skipped\":%" PRIu64 ",\"filtered_out\":%" PRIu64
            ",\"candidates\":%" PRIu64 ",\"categories\":%d,\"pairs_requested\":%" PRIu64
            ",\"pairs_available\":%" PRIu64 ",\"pairs_chosen\":%" PRIu64
            ",\"pairs_inserted\":%" PRIu64,
            c->rows_read, c->rows_skipped, c->filtered_out, c->candidates, c->categories,
            c->pairs_requested, c->pairs_available, c->pairs_chosen, c->pairs_inserted);
    if (report->quality.has_score_delta) {
        json_field_number(out, "mean_score_delta", report->quality.chosen_score_delta);
        json_field_number(out, "random_score_delta", report->quality.random_score_delta);
    }
    if (report->quality.has_similarity) {
        json_field_number(out, "mean_cosine_similarity", report->quality.chosen_similarity);
        json_field_number(out, "random_cosine_similarity", report->quality.random_similarity);
    }
    if (report->clusters.measured) {
        fprintf(out, ",\"clusters\":%d", report->clusters.cluster_count);
        json_field_number(out, "inertia", report->clusters.inertia);
        fprintf(out, ",\"iterations\":%d", report->clusters.iterations);
    }
    if (report->model.stored != NULL)
        print_model_json(out, report);
    if (report->queue.enabled)
        fprintf(out, ",\"pending_before\":%" PRIu64 ",\"max_pending\":%" PRId64
                     ",\"queue_full\":%s",
                report->queue.pending_before, report->queue.max_pending,
                report->queue.full ? "true" : "false");
    if (report->selection.prefer != NULL) {
        fputs(",\"prefer\":", out);
        json_string(out, report->selection.prefer);
        fprintf(out, ",\"cross_pairs\":%" PRIu64, report->selection.cross_pairs);
    }
    if (report->selection.has_information) {
        const InformStats *c = &report->selection.chosen_information, *r = &report->selection.random_information;
        json_field_number(out, "mean_p_distance", c->mean_p_distance);
        json_field_number(out, "random_mean_p_distance", r->mean_p_distance);
        json_field_number(out, "mean_variance_sum", c->mean_variance_sum);
        json_field_number(out, "random_mean_variance_sum", r->mean_variance_sum);
        json_field_number(out, "information_sum", c->information_sum);
        json_field_number(out, "random_information_sum", r->information_sum);
    }
    if (report->selection.selector_ran)
        fprintf(out,
                ",\"candidates_examined\":%" PRIu64 ",\"near_duplicates_skipped\":%" PRIu64
                ",\"exposure_skipped\":%" PRIu64,
                report->selection.candidates_examined, report->selection.near_duplicates_skipped,
                report->selection.exposure_skipped);
    if (report->selection.selector_ran)
        fprintf(out, ",\"capped_images\":%" PRIu64, report->selection.capped_images);
    if (report->selection.has_exposure) {
        fputs(",\"exposure_histogram\":[", out);
        for (int b = 0; b < REPORT_EXPOSURE_BUCKETS; b++)
            fprintf(out, "%s%" PRIu64, b > 0 ? "," : "", report->selection.exposure_histogram[b]);
        fputc(']', out);
    }
    char stages[256];
    fputs(",\"seconds\":", out);
    json_number(out, "%.3f", report->seconds);
    fprintf(out, ",\"stage_seconds\":%s", report_stage_json(report, stages, sizeof stages));
    if (report->memory.mode != NULL) {
        fputs(",\"memory_mode\":", out);
        json_string(out, report->memory.mode);
    }
    if (report->as_of != NULL) {
        fputs(",\"as_of\":", out);
        json_string(out, report->as_of);
    }
    if (report->error != NULL) {
        fputs(",\"error\":", out);
        json_string(out, report->error);
    }
    fputs("}\n", out);
    return ferror(out) == 0;
}

int summary_write_json_file(const char *path, const Report *report, SideFile **prepared,
                            Error *err)
{
    SideFile *file = sidefile_open(path, "xcom file", err);
    *prepared = NULL;
    if (file == NULL)
        return err->code;
    summary_print_json(sidefile_stream(file), report);
    if (sidefile_finish(file, err) != ERR_OK) {
        sidefile_abandon(file);
        return err->code;
    }
    *prepared = file;
    return ERR_OK;
}
