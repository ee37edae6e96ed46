#include "run/metrics.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/sidefile.h"
#include "numeric/model.h"

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

int metrics_write(const char *path, const Report *report, Error *err)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double now_seconds = (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
    bool succeeded = report->exit_code == ERR_OK;
    double last_success = succeeded ? now_seconds : previous_success(path);
    char *temp;
    FILE *out = sidefile_open(path, &temp, err);
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
    if (report->model.stored != NULL) {
        METRIC("model_version", "gauge",
               "Version of the stored cluster model the job's last run assigned with "
               "(0: refitted on a dry run, not stored).");
        fputs("pairpick_model_version{job=\"", out);
        label_value(out, report->job != NULL ? report->job : "");
        fputs("\",model=\"", out);
        label_value(out, report->model.stored->name);
        fprintf(out, "\"} %d\n", report->model.stored->version);
        METRIC("model_refitted", "gauge", "1 when the job's last run fitted its model anew.");
        fputs("pairpick_model_refitted", out);
        LABELS();
        fprintf(out, " %d\n", report->model.refitted ? 1 : 0);
    }
#undef METRIC
#undef LABELS
    return sidefile_commit(out, temp, path, err);
}
