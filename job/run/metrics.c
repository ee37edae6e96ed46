#include "run/metrics.h"

#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "numeric/model.h"
#include "read/copy.h"

/* The previous file's lines looked at for the last success time, at most. */
#define PREVIOUS_LINES_MAX 10000

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

/*
 * The last success time recorded in an earlier metrics file, or -1. Only a
 * regular file is read (never a device that reads forever, as /dev/zero or
 * /dev/full do), and only its first lines.
 */
static double previous_success(const char *path)
{
    static const char prefix[] = "pairpick_last_success_timestamp_seconds{";
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat info;
    if (fd < 0)
        return -1;
    FILE *file = fstat(fd, &info) == 0 && S_ISREG(info.st_mode) ? fdopen(fd, "r") : NULL;
    if (file == NULL) {
        close(fd);
        return -1;
    }
    char line[1024];
    double value = -1;
    for (int lines = 0; lines < PREVIOUS_LINES_MAX && fgets(line, sizeof line, file) != NULL;
         lines++) {
        if (strncmp(line, prefix, sizeof prefix - 1) != 0)
            continue;
        char *space = strrchr(line, ' ');
        if (space != NULL)
            value = strtod(space + 1, NULL);
    }
    fclose(file);
    return value;
}

/* `{pairpick_job="..."` without the closing brace, for more labels to follow. */
static void open_labels(FILE *out, const Report *report)
{
    fputs("{pairpick_job=\"", out);
    label_value(out, report->job != NULL ? report->job : "");
    fputc('"', out);
}

static void header(FILE *out, const char *name, const char *help)
{
    fprintf(out, "# HELP pairpick_%s %s\n# TYPE pairpick_%s gauge\n", name, help, name);
}

/* One sample labelled with the job only. */
static void sample(FILE *out, const Report *report, const char *name, const char *help,
                   const char *format, ...) __attribute__((format(printf, 5, 6)));


static void sample(FILE *out, const Report *report, const char *name, const char *help,
                   const char *format, ...)
{
    va_list args;
    header(out, name, help);
    fprintf(out, "pairpick_%s", name);
    open_labels(out, report);
    fputs("} ", out);
    va_start(args, format);
    vfprintf(out, format, args);
    va_end(args);
    fputc('\n', out);
}

static void write_metrics(FILE *out, const Report *report, const MetricsExtra *extra,
                          double now_seconds, double last_success)
{
    if (last_success >= 0)
        sample(out, report, "last_success_timestamp_seconds",
               "Unix time of the job's last successful run.", "%.3f", last_success);
    sample(out, report, "last_run_timestamp_seconds", "Unix time the job's last run ended.",
           "%.3f", now_seconds);
    sample(out, report, "exit_status",
           "Exit status of the job's last run (0 = success; the --skip-exit-code when skipped).",
           "%d", extra->exit_status);
    sample(out, report, "run_duration_seconds", "Wall time of the job's last run.", "%.3f",
           report->seconds);
    header(out, "stage_duration_seconds", "Wall time of each stage of the job's last run.");
    for (int stage = 0; stage < STAGE_COUNT; stage++) {
        fputs("pairpick_stage_duration_seconds", out);
        open_labels(out, report);
        fprintf(out, ",stage=\"%s\"} %.3f\n", report_stage_name((Stage)stage),
                report->stage_seconds[stage]);
    }
    sample(out, report, "rows_read", "Rows the job's last run read.", "%" PRIu64,
           report->counts.rows_read);
    header(out, "rows_skipped", "Rows the job's last run skipped as unusable, by reason.");
    for (int reason = 0; reason < REJECT_REASON_COUNT; reason++) {
        fputs("pairpick_rows_skipped", out);
        open_labels(out, report);
        fputs(",reason=\"", out);
        label_value(out, stream_reject_name((RejectReason)reason));
        fprintf(out, "\"} %" PRIu64 "\n", report->stream.rejected[reason]);
    }
    sample(out, report, "pairs_inserted", "Pairs the job's last run inserted.", "%" PRIu64,
           report->counts.pairs_inserted);
    if (extra->has_pending)
        sample(out, report, "pending_pairs",
               "Pairs of the job pending in the output table after its last run.", "%" PRIu64,
               extra->pending_pairs);
    if (report->model.stored != NULL) {
        header(out, "model_version",
               "Version of the stored cluster model the job's last run assigned with "
               "(0: refitted on a dry run, not stored).");
        fputs("pairpick_model_version", out);
        open_labels(out, report);
        fputs(",model=\"", out);
        label_value(out, report->model.stored->name);
        fprintf(out, "\"} %d\n", report->model.stored->version);
        sample(out, report, "model_refitted", "1 when the job's last run fitted its model anew.",
               "%d", report->model.refitted ? 1 : 0);
    }
}

int metrics_write(const char *path, const Report *report, const MetricsExtra *extra,
                  SideFile **prepared, Error *err)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double now_seconds = (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
    *prepared = NULL;
    SideFile *file = sidefile_open(path, "metrics file", err);
    if (file == NULL)
        return err->code;
    double last_success = extra->succeeded ? now_seconds : previous_success(path);
    write_metrics(sidefile_stream(file), report, extra, now_seconds, last_success);
    if (sidefile_finish(file, err) != ERR_OK) {
        sidefile_abandon(file);
        return err->code;
    }
    *prepared = file;
    return ERR_OK;
}
