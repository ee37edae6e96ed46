#include "run/command_run.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "run/metrics.h"
#include "run/report.h"
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

static void print_report(const Report *report, const RunState *state, int code)
{
    if (log_is_json())
        log_summary(report, code);
    else if (log_level() != LOG_QUIET)
        summary_print_human(stderr, report, state->images,
                           state->pairs_per_category != NULL ? state->categories : NULL,
                           state->pairs_per_category);
    summary_print_json(stdout, report);
}

/* The XCom and metrics files; returns the last failure to write one. */
static int write_outputs(const Report *report, const RunOutputs *outputs)
{
    Error output_err;
    error_clear(&output_err);
    if (outputs->xcom_path != NULL
        && summary_write_json_file(outputs->xcom_path, report, &output_err) != ERR_OK)
        log_line("error", "xcom", NULL, "%s", output_err.message);
    if (outputs->metrics_path != NULL
        && metrics_write(outputs->metrics_path, report, &output_err) != ERR_OK)
        log_line("error", "metrics", NULL, "%s", output_err.message);
    return output_err.code;
}

/* What a scheduler should show as "skipped" rather than success or retry. */
static bool run_skipped(const Report *report, const RunState *state, int code)
{
    return (code == ERR_TEMPFAIL && state->lock_held_by_other)
           || (code == ERR_OK && strcmp(report->status, "succeeded") == 0
               && report->counts.pairs_chosen == 0);
}

int command_run(const JobConfig *config, const RunOptions *options, const RunOutputs *outputs)
{
    Error err;
    Report report;
    RunState state;
    error_clear(&err);
    int code = run_job(config, options, &report, &state, &err);
    print_report(&report, &state, code);
    if (code != ERR_OK)
        log_line("error", NULL, NULL, "%s", err.message);
    int output_code = write_outputs(&report, outputs);
    bool skipped = outputs->skip_exit_code >= 0 && run_skipped(&report, &state, code);
    run_release(&state); /* the report points into the state until here */
    if (skipped)
        return outputs->skip_exit_code;
    if (code == ERR_OK && output_code != ERR_OK)
        return output_code;
    return code;
}
