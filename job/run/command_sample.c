#include "run/command_sample.h"

#include <inttypes.h>
#include <stdio.h>

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "run/report.h"
#include "run/summary.h"

static void print_sheet(const SampleOptions *sample, const SampleSummary *summary,
                        const Report *report)
{
    if (report->memory.mode != NULL)
        fprintf(stderr, "pairpick: memory %s: %s\n", report->memory.mode, report->memory.note);
    fprintf(stderr, "pairpick: contact sheet %s/index.html: %zu categories, %zu images placed, "
                    "%zu missing, %zu refused\n",
            sample->out_dir, summary->categories, summary->images_placed,
            summary->images_missing, summary->images_refused);
    printf("{\"command\":\"sample\",\"out\":");
    json_string(stdout, sample->out_dir);
    printf(",\"categories\":%zu,\"images_placed\":%zu,\"images_missing\":%zu,"
           "\"images_refused\":%zu,\"seed\":%" PRIu64,
           summary->categories, summary->images_placed, summary->images_missing,
           summary->images_refused, report->seed);
    if (report->memory.mode != NULL) {
        printf(",\"memory_mode\":");
        json_string(stdout, report->memory.mode);
    }
    printf("}\n");
}

int command_sample(const JobConfig *config, const RunOptions *options,
                   const SampleOptions *sample)
{
    Error err;
    Report report;
    SampleSummary summary = {0};
    error_clear(&err);
    int code = sample_run(config, options, sample, &summary, &report, &err);
    if (code != ERR_OK) {
        report.error = err.message;
        summary_print_json(stdout, &report);
        log_line("error", NULL, NULL, "%s", err.message);
        return code;
    }
    print_sheet(sample, &summary, &report);
    return ERR_OK;
}
