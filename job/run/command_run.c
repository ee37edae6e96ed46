#include "run/command_run.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/sidefile.h"
#include "db/ident.h"
#include "db/pending.h"
#include "run/metrics.h"
#include "run/report.h"
#include "run/session.h"
#include "run/summary.h"

/* The JSON summary as one log line, for --log-format json. */
static void log_summary(const Report *report, int code)
{
    char *line = NULL;
    size_t length = 0;
    FILE *memory = open_memstream(&line, &length);
    if (memory == NULL)
        return;
    summary_print_json(memory, report);
    fclose(memory);
    if (length > 0 && line[length - 1] == '\n')
        line[length - 1] = '\0';
    log_line(code == ERR_OK ? "info" : "error", "summary", line, "run %s: %s", report->run_id,
             report->status);
    free(line);
}

/*
 * Every side file's path, before the run: a missing folder or a path that
 * is not a regular file is a usage error reported before anything is
 * committed.
 */
static int check_outputs(const RunOptions *options, const RunOutputs *outputs, Error *err)
{
    const struct {
        const char *path, *what;
    } files[] = {
        {outputs->xcom_path, "xcom file"},     {outputs->metrics_path, "metrics file"},
        {options->rejects_path, "rejects file"}, {options->labels_path, "labels file"},
        {options->pairs_path, "pairs file"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (files[i].path != NULL && sidefile_check(files[i].path, files[i].what, err) != ERR_OK)
            return err->code;
    return ERR_OK;
}

/* Why a run counts as skipped for --skip-exit-code; NULL when it does not. */
static const char *skip_reason(const Report *report, const RunState *state, int code)
{
    if (code == ERR_TEMPFAIL && state->lock_held_by_other)
        return "locked";
    if (code == ERR_OK && strcmp(report->status, "succeeded") == 0
        && report->counts.pairs_chosen == 0)
        return report->queue.full ? "queue_full" : "nothing_to_do";
    return NULL;
}

/* The job's pairs still pending after the run, for the metrics; false when not counted. */
static bool count_pending(const JobConfig *config, uint64_t *pending)
{
    Error err;
    Db *db = NULL;
    char *table = NULL;
    error_clear(&err);
    bool counted = run_connect(config, &db, &err) == ERR_OK
                   && (table = ident_quote_name(config->output.table, ident_quote_offline, NULL,
                                                &err))
                          != NULL
                   && write_count_pending(db, table, config->job, pending, &err) == ERR_OK;
    if (!counted)
        log_line("warning", "metrics", NULL, "pending pairs not counted: %s", err.message);
    free(table);
    db_close(db);
    return counted;
}

/*
 * The xcom and metrics files, written with the report's exit code and
 * finished (synced) before either is published. A failure to write one
 * is the run's exit status (74) unless the run failed on its own; the
 * files are then written again, so the ones that can be written say 74.
 */
static int write_outputs(Report *report, const RunOutputs *outputs, MetricsExtra *extra,
                         char *error_text, size_t error_size)
{
    SideFile *xcom = NULL, *metrics = NULL;
    Error output_err;
    for (int attempt = 0; attempt < 2; attempt++) {
        int failed = ERR_OK;
        error_clear(&output_err);
        extra->exit_status = report->exit_code;
        if (outputs->xcom_path != NULL
            && summary_write_json_file(outputs->xcom_path, report, &xcom, &output_err) != ERR_OK) {
            if (attempt == 0)
                log_line("error", "xcom", NULL, "%s", output_err.message);
            failed = output_err.code;
            snprintf(error_text, error_size, "%s", output_err.message);
        }
        if (outputs->metrics_path != NULL
            && metrics_write(outputs->metrics_path, report, extra, &metrics, &output_err)
                   != ERR_OK) {
            if (attempt == 0)
                log_line("error", "metrics", NULL, "%s", output_err.message);
            failed = output_err.code;
            snprintf(error_text, error_size, "%s", output_err.message);
        }
        if (failed == ERR_OK || report->error != NULL || attempt > 0)
            break;
        /* The run did its work but its outputs did not: say so in what can be written. */
        report->exit_code = failed;
        report->error = error_text;
        sidefile_abandon(xcom);
        sidefile_abandon(metrics);
        xcom = metrics = NULL;
    }
    int code = ERR_OK;
    if (xcom != NULL && sidefile_commit(xcom, &output_err) != ERR_OK) {
        log_line("error", "xcom", NULL, "%s", output_err.message);
        code = output_err.code;
    }
    if (metrics != NULL && sidefile_commit(metrics, &output_err) != ERR_OK) {
        log_line("error", "metrics", NULL, "%s", output_err.message);
        code = output_err.code;
    }
    return code;
}

/* A failure to write stdout or stderr: the exit status unless the run failed on its own. */
static void note_stream_failure(Report *report, const char *what, char *error_text,
                                size_t error_size)
{
    if (report->error != NULL)
        return;
    snprintf(error_text, error_size, "cannot write %s: the output was lost (a closed pipe or a "
                                     "full disk)", what);
    report->exit_code = ERR_IOERR;
    report->error = error_text;
}

int command_run(const JobConfig *config, const RunOptions *options, const RunOutputs *outputs)
{
    Error err;
    Report report;
    RunState state;
    char output_error[ERROR_MESSAGE_MAX];
    error_clear(&err);
    int code = check_outputs(options, outputs, &err);
    if (code != ERR_OK) {
        log_line("error", NULL, NULL, "%s", err.message);
        return code;
    }
    code = run_job(config, options, &report, &state, &err);
    if (code != ERR_OK)
        log_line("error", NULL, NULL, "%s", err.message);

    /* The exit status, decided before anything reports it, so every report tells the same. */
    MetricsExtra extra = {.succeeded = code == ERR_OK};
    const char *skipped = skip_reason(&report, &state, code);
    if (outputs->skip_exit_code >= 0 && skipped != NULL) {
        report.status = "skipped";
        report.skip_reason = skipped;
        report.exit_code = outputs->skip_exit_code;
    }
    /* The human summary says no exit status: printed first, so a closed stderr counts below. */
    if (!log_is_json() && log_level() != LOG_QUIET)
        summary_print_human(stderr, &report, state.images,
                            state.pairs_per_category != NULL ? state.categories : NULL,
                            state.pairs_per_category);
    if (fflush(stderr) != 0 || log_write_failed())
        note_stream_failure(&report, "stderr", output_error, sizeof output_error);
    if (outputs->metrics_path != NULL && code == ERR_OK)
        extra.has_pending = count_pending(config, &extra.pending_pairs);
    int output_code = write_outputs(&report, outputs, &extra, output_error, sizeof output_error);
    if (output_code != ERR_OK && report.error == NULL) {
        report.exit_code = output_code;
        report.error = "a side file could not be published";
    }

    if (log_is_json())
        log_summary(&report, report.exit_code);
    bool printed = summary_print_json(stdout, &report);
    if (fflush(stdout) != 0 || !printed)
        note_stream_failure(&report, "stdout", output_error, sizeof output_error);
    if (fflush(stderr) != 0 || log_write_failed())
        note_stream_failure(&report, "stderr", output_error, sizeof output_error);
    run_release(&state); /* the report points into the state until here */
    return report.exit_code;
}
