#include "run/report.h"
#include "core/json.h"
#include "numeric/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RANDOM_PAIRS 20000

static double cosine(const Images *images, uint32_t a, uint32_t b)
{
    const float *x = images->embedding + (size_t)a * images->dim;
    const float *y = images->embedding + (size_t)b * images->dim;
    double dot = 0, xx = 0, yy = 0;
    for (size_t d = 0; d < images->dim; d++) {
        dot += (double)x[d] * y[d];
        xx += (double)x[d] * x[d];
        yy += (double)y[d] * y[d];
    }
    return xx > 0 && yy > 0 ? dot / sqrt(xx * yy) : 0.0;
}

static int compare_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

void report_measure(Report *report, const Images *images, const Categories *categories,
                    const Pair *pairs, size_t pair_count, Rng *rng)
{
    size_t n = images->count;
    bool scores = images->score != NULL;
    bool embeddings = images->embedding != NULL && images->dim > 0;

    if (pair_count > 0 && n >= 2) {
        double chosen_delta = 0, chosen_similarity = 0;
        size_t counted = 0;
        for (size_t i = 0; i < pair_count; i++) {
            if (scores && isfinite(images->score[pairs[i].a]) && isfinite(images->score[pairs[i].b])) {
                chosen_delta += fabs(images->score[pairs[i].a] - images->score[pairs[i].b]);
                counted++;
            }
            if (embeddings)
                chosen_similarity += cosine(images, pairs[i].a, pairs[i].b);
        }
        double random_delta = 0, random_similarity = 0;
        size_t random_counted = 0;
        for (size_t i = 0; i < RANDOM_PAIRS; i++) {
            uint32_t a = (uint32_t)rng_below(rng, n);
            uint32_t b = (uint32_t)rng_below(rng, n - 1);
            if (b >= a)
                b++;
            if (scores && isfinite(images->score[a]) && isfinite(images->score[b])) {
                random_delta += fabs(images->score[a] - images->score[b]);
                random_counted++;
            }
            if (embeddings)
                random_similarity += cosine(images, a, b);
        }
        if (scores && counted > 0 && random_counted > 0) {
            report->has_score_delta = true;
            report->chosen_score_delta = chosen_delta / (double)counted;
            report->random_score_delta = random_delta / (double)random_counted;
        }
        if (embeddings) {
            report->has_similarity = true;
            report->chosen_similarity = chosen_similarity / (double)pair_count;
            report->random_similarity = random_similarity / RANDOM_PAIRS;
        }
    }

    if (categories->cluster_count > 0) {
        size_t k = (size_t)categories->cluster_count;
        size_t *sizes = calloc(k, sizeof *sizes);
        report->has_clusters = true;
        report->cluster_count = categories->cluster_count;
        report->iterations = categories->iterations;
        report->inertia = categories->inertia;
        if (sizes != NULL) {
            for (size_t i = 0; i < n; i++) {
                int32_t c = categories->category_of[i];
                if (c < 0)
                    continue;
                int32_t cluster = categories->group_of_category[c];
                if (cluster >= 0 && (size_t)cluster < k)
                    sizes[cluster]++;
            }
            qsort(sizes, k, sizeof *sizes, compare_size);
            report->cluster_size_min = sizes[0];
            report->cluster_size_median = sizes[k / 2];
            report->cluster_size_max = sizes[k - 1];
            free(sizes);
        }
    }
}

/* The stored model of a clusters_from run, and its drift, for people. */
static void print_model_human(FILE *out, const Report *report)
{
    const ClusterModel *model = report->model;
    fprintf(out, "  model           %s version %d%s, %s, k=%d, fitted %s on %" PRIu64 " rows\n",
            model->name, model->version,
            report->model_refitted ? (model->version > 0 ? " (refitted by this run)"
                                                         : " (refitted, not stored: dry run)")
                                   : "",
            model_metric_name(model->metric), model->cluster_count,
            model->fitted_at[0] != '\0' ? model->fitted_at : "now", model->fit_rows);
    if (model->has_pca)
        fprintf(out, "  pca             %zu -> %zu dimensions, variance kept %.1f%%\n", model->dim,
                model->pca.components, 100.0 * model->pca.variance_kept);
    const ModelDrift *drift = report->drift;
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
    const ClusterModel *model = report->model;
    fputs(",\"model\":{\"name\":", out);
    json_string(out, model->name);
    fprintf(out, ",\"version\":%d,\"refitted\":%s,\"metric\":\"%s\",\"dim\":%zu,"
                 "\"clusters\":%d,\"pca_components\":%zu",
            model->version, report->model_refitted ? "true" : "false",
            model_metric_name(model->metric), model->dim, model->cluster_count,
            model->has_pca ? model->pca.components : (size_t)0);
    if (model->has_pca)
        fprintf(out, ",\"variance_kept\":%.6g", model->pca.variance_kept);
    fputs(",\"fitted_at\":", out);
    json_string(out, model->fitted_at);
    fputc('}', out);
    const ModelDrift *drift = report->drift;
    if (drift == NULL)
        return;
    fputs(",\"drift\":[", out);
    for (int k = 0; k < drift->cluster_count; k++)
        fprintf(out, "%s{\"cluster\":%d,\"share\":%.6g,\"fit_share\":%.6g,"
                     "\"mean_distance\":%.6g,\"fit_mean_distance\":%.6g}",
                k > 0 ? "," : "", k, model_drift_share(drift, k), model->fit_share[k],
                model_drift_mean_distance(drift, k), model->fit_mean_distance[k]);
    fputc(']', out);
}

void report_measure_information(Report *report, const InformOptions *options,
                                const int32_t *category_of, size_t image_count, const Pair *pairs,
                                size_t pair_count, Rng *rng)
{
    if (options->score == NULL || pair_count == 0)
        return;
    Pair *random = malloc(pair_count * sizeof *random);
    if (random == NULL)
        return; /* figures only: the run goes on without them */
    size_t drawn = 0;
    Error ignored; /* figures only: out of memory, the random side compares no pairs */
    (void)informative_random_pairs(category_of, image_count, pair_count, rng, random, &drawn,
                                   &ignored);
    informative_measure(options, pairs, pair_count, &report->chosen_information);
    informative_measure(options, random, drawn, &report->random_information);
    report->has_information = report->chosen_information.pair_count > 0;
    free(random);
}

void report_measure_exposure(Report *report, const uint32_t *exposure, const int32_t *category_of,
                             size_t image_count, const Pair *pairs, size_t pair_count)
{
    uint32_t *shown = calloc(image_count + 1, sizeof *shown);
    if (shown == NULL)
        return;
    for (size_t k = 0; k < pair_count; k++)
        shown[pairs[k].a]++, shown[pairs[k].b]++;
    memset(report->exposure_histogram, 0, sizeof report->exposure_histogram);
    for (size_t i = 0; i < image_count; i++) {
        if (category_of[i] < 0)
            continue;
        uint64_t open = (uint64_t)shown[i] + (exposure != NULL ? exposure[i] : 0);
        report->exposure_histogram[open < REPORT_EXPOSURE_BUCKETS ? open
                                                                  : REPORT_EXPOSURE_BUCKETS - 1]++;
    }
    report->has_exposure = true;
    free(shown);
}

void report_print_human(FILE *out, const Report *report, const Images *images,
                        const Categories *categories, const size_t *pairs_per_category)
{
    const RunCounts *c = &report->counts;
    fprintf(out, "pairpick: job %s, run %s: %s\n", report->job, report->run_id, report->status);
    fprintf(out, "  strategy        %s (seed %" PRIu64 ")\n", report->strategy, report->seed);
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
    if (report->has_clusters) {
        char fitted[48] = "assigned to stored centres";
        if (report->model == NULL || report->model_refitted)
            snprintf(fitted, sizeof fitted, "%d iterations", report->iterations);
        fprintf(out, "  clusters        k=%d, sizes min %zu / median %zu / max %zu, inertia %.6g, "
                     "%s\n",
                report->cluster_count, report->cluster_size_min, report->cluster_size_median,
                report->cluster_size_max, report->inertia, fitted);
    }
    if (report->memory_mode != NULL)
        fprintf(out, "  memory          %s: %s\n", report->memory_mode, report->memory_note);
    if (report->model != NULL)
        print_model_human(out, report);
    if (report->has_score_delta)
        fprintf(out, "  |score delta|   chosen pairs %.4f, random pairs %.4f (ratio %.3f)\n",
                report->chosen_score_delta, report->random_score_delta,
                report->random_score_delta > 0
                    ? report->chosen_score_delta / report->random_score_delta
                    : 0.0);
    if (report->has_similarity)
        fprintf(out, "  cosine sim.     chosen pairs %.4f, random pairs %.4f\n",
                report->chosen_similarity, report->random_similarity);
    if (report->has_queue)
        fprintf(out, "  queue           %" PRIu64 " pairs of this job pending before the run, "
                     "output.max_pending %" PRId64 "%s\n",
                report->pending_before, report->max_pending,
                report->queue_full ? ": the queue is full, no pairs added" : "");
    if (report->prefer != NULL)
        fprintf(out, "  prefer          %s, %" PRIu64 " cross-category pairs\n", report->prefer,
                report->cross_pairs);
    if (report->has_information) {
        const InformStats *c = &report->chosen_information, *r = &report->random_information;
        fprintf(out, "  |p - 1/2|       chosen pairs %.4f, random in-category pairs %.4f\n",
                c->mean_p_distance, r->mean_p_distance);
        fprintf(out, "  var_a + var_b   chosen pairs %.4g, random in-category pairs %.4g\n",
                c->mean_variance_sum, r->mean_variance_sum);
        fprintf(out, "  information     chosen pairs %.4g, random in-category pairs %.4g "
                     "(summed over %zu pairs)\n",
                c->information_sum, r->information_sum, c->pair_count);
    }
    if (report->has_selection)
        fprintf(out, "  candidates      %" PRIu64 " examined, %" PRIu64 " near-duplicates skipped, "
                     "%" PRIu64 " at max_exposure\n",
                report->candidates_examined, report->near_duplicates_skipped,
                report->exposure_skipped);
    if (report->has_exposure) {
        fprintf(out, "  exposure        images by open pairs after the run:");
        for (int b = 0; b < REPORT_EXPOSURE_BUCKETS; b++)
            fprintf(out, " %d%s=%" PRIu64, b, b == REPORT_EXPOSURE_BUCKETS - 1 ? "+" : "",
                    report->exposure_histogram[b]);
        fputc('\n', out);
    }
    if (pairs_per_category != NULL && categories != NULL && categories->count > 0) {
        char name[256];
        int32_t shown = categories->count > 50 ? 50 : categories->count;
        fprintf(out, "  pairs per category:");
        for (int32_t k = 0; k < shown; k++)
            fprintf(out, "%s %s=%zu", k % 6 == 0 ? "\n   " : "",
                    categorize_name(categories, images, k, name, sizeof name),
                    pairs_per_category[k]);
        if (shown < categories->count)
            fprintf(out, "\n    ... and %d more categories", categories->count - shown);
        fputc('\n', out);
    }
    if (report->error != NULL)
        fprintf(out, "  error           %s\n", report->error);
    fprintf(out, "  time            %.2f s\n", report->seconds);
}

void report_print_json(FILE *out, const Report *report)
{
    const RunCounts *c = &report->counts;
    fputs("{\"job\":", out);
    json_string(out, report->job != NULL ? report->job : "");
    fputs(",\"run_id\":", out);
    json_string(out, report->run_id != NULL ? report->run_id : "");
    fputs(",\"status\":", out);
    json_string(out, report->status);
    fprintf(out, ",\"exit_code\":%d,\"seed\":%" PRIu64, report->exit_code, report->seed);
    fprintf(out,
            ",\"rows_read\":%" PRIu64 ",\"rows_skipped\":%" PRIu64 ",\"filtered_out\":%" PRIu64
            ",\"candidates\":%" PRIu64 ",\"categories\":%d,\"pairs_requested\":%" PRIu64
            ",\"pairs_available\":%" PRIu64 ",\"pairs_chosen\":%" PRIu64
            ",\"pairs_inserted\":%" PRIu64,
            c->rows_read, c->rows_skipped, c->filtered_out, c->candidates, c->categories,
            c->pairs_requested, c->pairs_available, c->pairs_chosen, c->pairs_inserted);
    if (report->has_score_delta)
        fprintf(out, ",\"mean_score_delta\":%.6g,\"random_score_delta\":%.6g",
                report->chosen_score_delta, report->random_score_delta);
    if (report->has_similarity)
        fprintf(out, ",\"mean_cosine_similarity\":%.6g,\"random_cosine_similarity\":%.6g",
                report->chosen_similarity, report->random_similarity);
    if (report->has_clusters)
        fprintf(out, ",\"clusters\":%d,\"inertia\":%.6g,\"iterations\":%d",
                report->cluster_count, report->inertia, report->iterations);
    if (report->model != NULL)
        print_model_json(out, report);
    if (report->has_queue)
        fprintf(out, ",\"pending_before\":%" PRIu64 ",\"max_pending\":%" PRId64
                     ",\"queue_full\":%s",
                report->pending_before, report->max_pending,
                report->queue_full ? "true" : "false");
    if (report->prefer != NULL) {
        fputs(",\"prefer\":", out);
        json_string(out, report->prefer);
        fprintf(out, ",\"cross_pairs\":%" PRIu64, report->cross_pairs);
    }
    if (report->has_information) {
        const InformStats *c = &report->chosen_information, *r = &report->random_information;
        fprintf(out,
                ",\"mean_p_distance\":%.6g,\"random_mean_p_distance\":%.6g"
                ",\"mean_variance_sum\":%.6g,\"random_mean_variance_sum\":%.6g"
                ",\"information_sum\":%.6g,\"random_information_sum\":%.6g",
                c->mean_p_distance, r->mean_p_distance, c->mean_variance_sum,
                r->mean_variance_sum, c->information_sum, r->information_sum);
    }
    if (report->has_selection)
        fprintf(out,
                ",\"candidates_examined\":%" PRIu64 ",\"near_duplicates_skipped\":%" PRIu64
                ",\"exposure_skipped\":%" PRIu64,
                report->candidates_examined, report->near_duplicates_skipped,
                report->exposure_skipped);
    if (report->has_exposure) {
        fputs(",\"exposure_histogram\":[", out);
        for (int b = 0; b < REPORT_EXPOSURE_BUCKETS; b++)
            fprintf(out, "%s%" PRIu64, b > 0 ? "," : "", report->exposure_histogram[b]);
        fputc(']', out);
    }
    char stages[256];
    fprintf(out, ",\"seconds\":%.3f,\"stage_seconds\":%s", report->seconds,
            report_stage_json(report, stages, sizeof stages));
    if (report->memory_mode != NULL) {
        fputs(",\"memory_mode\":", out);
        json_string(out, report->memory_mode);
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
    fflush(out);
}

const char *report_stage_name(Stage stage)
{
    static const char *const names[STAGE_COUNT] = {"connect", "read", "categorize", "pairs",
                                                   "write"};
    return stage < STAGE_COUNT ? names[stage] : "unknown";
}

const char *report_stage_json(const Report *report, char *buffer, size_t size)
{
    size_t used = 0;
    buffer[0] = '\0';
    for (int stage = 0; stage < STAGE_COUNT && used < size; stage++)
        used += (size_t)snprintf(buffer + used, size - used, "%s\"%s\":%.3f", stage == 0 ? "{" : ",",
                                 report_stage_name((Stage)stage), report->stage_seconds[stage]);
    if (used < size)
        snprintf(buffer + used, size - used, "}");
    return buffer;
}

/* Opens path's temporary sibling for an atomic replace. */
static FILE *open_temp(const char *path, char **temp, Error *err)
{
    if (asprintf(temp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
        *temp = NULL;
        error_nomem(err, strlen(path));
        return NULL;
    }
    FILE *file = fopen(*temp, "w");
    if (file == NULL) {
        error_set(err, ERR_USAGE, "cannot write '%s': %s", *temp, strerror(errno));
        free(*temp);
        *temp = NULL;
    }
    return file;
}

static int commit_temp(FILE *file, char *temp, const char *path, Error *err)
{
    int code = ERR_OK;
    if (fflush(file) != 0 || fsync(fileno(file)) != 0) {
        code = error_set(err, ERR_USAGE, "cannot write '%s': %s", temp, strerror(errno));
        fclose(file);
    } else if (fclose(file) != 0) {
        code = error_set(err, ERR_USAGE, "cannot write '%s': %s", temp, strerror(errno));
    } else if (rename(temp, path) != 0) {
        code = error_set(err, ERR_USAGE, "cannot rename '%s' to '%s': %s", temp, path,
                         strerror(errno));
    }
    if (code != ERR_OK)
        unlink(temp);
    free(temp);
    return code;
}

int report_write_json_file(const char *path, const Report *report, Error *err)
{
    char *temp;
    FILE *file = open_temp(path, &temp, err);
    if (file == NULL)
        return err->code;
    report_print_json(file, report);
    return commit_temp(file, temp, path, err);
}

/* A Prometheus label value: \, " and newline escaped. */
static void label_value(FILE *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

/* The last success time recorded in an earlier metrics file, or -1. */
static double previous_success(const char *path)
{
    FILE *file = fopen(path, "r");
    char line[1024];
    double value = -1;
    if (file == NULL)
        return -1;
    while (fgets(line, sizeof line, file) != NULL) {
        if (strncmp(line, "pairpick_last_success_timestamp_seconds{", 40) != 0)
            continue;
        char *space = strrchr(line, ' ');
        if (space != NULL)
            value = strtod(space + 1, NULL);
    }
    fclose(file);
    return value;
}

int report_write_metrics(const char *path, const Report *report, Error *err)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double now_seconds = (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
    bool succeeded = report->exit_code == ERR_OK;
    double last_success = succeeded ? now_seconds : previous_success(path);
    char *temp;
    FILE *out = open_temp(path, &temp, err);
    if (out == NULL)
        return err->code;

#define METRIC(name, type, help)                                                                   \
    fprintf(out, "# HELP pairpick_" name " " help "\n# TYPE pairpick_" name " " type "\n")
#define LABELS()                                                                                   \
    do {                                                                                           \
        fputs("{job=\"", out);                                                                     \
        label_value(out, report->job != NULL ? report->job : "");                                  \
        fputs("\"}", out);                                                                         \
    } while (0)

    if (last_success >= 0) {
        METRIC("last_success_timestamp_seconds", "gauge", "Unix time of the job's last successful run.");
        fputs("pairpick_last_success_timestamp_seconds", out);
        LABELS();
        fprintf(out, " %.3f\n", last_success);
    }
    METRIC("last_run_timestamp_seconds", "gauge", "Unix time the job's last run ended.");
    fputs("pairpick_last_run_timestamp_seconds", out);
    LABELS();
    fprintf(out, " %.3f\n", now_seconds);
    METRIC("exit_status", "gauge", "Exit status of the job's last run (0 = success).");
    fputs("pairpick_exit_status", out);
    LABELS();
    fprintf(out, " %d\n", report->exit_code);
    METRIC("run_duration_seconds", "gauge", "Wall time of the job's last run.");
    fputs("pairpick_run_duration_seconds", out);
    LABELS();
    fprintf(out, " %.3f\n", report->seconds);
    METRIC("stage_duration_seconds", "gauge", "Wall time of each stage of the job's last run.");
    for (int stage = 0; stage < STAGE_COUNT; stage++) {
        fputs("pairpick_stage_duration_seconds{job=\"", out);
        label_value(out, report->job != NULL ? report->job : "");
        fprintf(out, "\",stage=\"%s\"} %.3f\n", report_stage_name((Stage)stage),
                report->stage_seconds[stage]);
    }
    METRIC("rows_read", "gauge", "Rows the job's last run read.");
    fputs("pairpick_rows_read", out);
    LABELS();
    fprintf(out, " %" PRIu64 "\n", report->counts.rows_read);
    METRIC("rows_skipped", "gauge", "Rows the job's last run skipped as unusable.");
    fputs("pairpick_rows_skipped", out);
    LABELS();
    fprintf(out, " %" PRIu64 "\n", report->counts.rows_skipped);
    METRIC("pairs_inserted", "gauge", "Pairs the job's last run inserted.");
    fputs("pairpick_pairs_inserted", out);
    LABELS();
    fprintf(out, " %" PRIu64 "\n", report->counts.pairs_inserted);
    if (report->model != NULL) {
        METRIC("model_version", "gauge",
               "Version of the stored cluster model the job's last run assigned with "
               "(0: refitted on a dry run, not stored).");
        fputs("pairpick_model_version{job=\"", out);
        label_value(out, report->job != NULL ? report->job : "");
        fputs("\",model=\"", out);
        label_value(out, report->model->name);
        fprintf(out, "\"} %d\n", report->model->version);
        METRIC("model_refitted", "gauge", "1 when the job's last run fitted its model anew.");
        fputs("pairpick_model_refitted", out);
        LABELS();
        fprintf(out, " %d\n", report->model_refitted ? 1 : 0);
    }
#undef METRIC
#undef LABELS
    return commit_temp(out, temp, path, err);
}
