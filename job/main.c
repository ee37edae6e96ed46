/*
 * main: the command line. Parses the command and its options
 * (getopt_long), loads the config, calls the module that does the work,
 * prints the result, and is the one place where an error code becomes the
 * process exit status (sysexits.h; see README.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cancel.h"
#include "config/config.h"
#include "db/db.h"
#include "core/error.h"
#include "core/log.h"
#include "db/migrate.h"
#include "numeric/model.h"
#include "db/model_store.h"
#include "read/plan.h"
#include "core/json.h"
#include "run/metrics.h"
#include "run/report.h"
#include "run/summary.h"
#include "run/run.h"
#include "read/stream.h"

static const char usage_text[] =
    "pairpick picks candidate pairs of images for human preference annotation.\n"
    "\n"
    "Usage:\n"
    "  pairpick migrate CONFIG          create or upgrade pairpick's own tables\n"
    "  pairpick run CONFIG [OPTIONS]    choose pairs and add them to the pending table\n"
    "  pairpick status CONFIG           the job's last runs\n"
    "  pairpick check CONFIG [--db]     validate the config (and, with --db, the database)\n"
    "  pairpick explain CONFIG          print the SQL a run would execute, with parameters\n"
    "  pairpick sample CONFIG --out DIR [--per-category N] [--copy]\n"
    "                                   per-category folders of sample images and DIR/index.html\n"
    "  pairpick fit CONFIG [--seed N] [--as-of TIME]\n"
    "                                   fit k-means (and PCA) once, store it as the next version\n"
    "                                   of the strategy.clusters_from model\n"
    "  pairpick models CONFIG [--json]  the stored versions of the config's model\n"
    "  pairpick --help | --version\n"
    "\n"
    "Options of run:\n"
    "  --run-id ID       the run's id (default: a new UUID); a succeeded id is not run twice\n"
    "  --seed N          random seed (default: strategy.seed, else random; always recorded)\n"
    "  --dry-run         choose pairs and print them on stderr; write nothing\n"
    "  --max-pairs N     override strategy.max_pairs\n"
    "  --as-of TIME      the \"now\" of relative date filters (Airflow: {{ data_interval_end }})\n"
    "  --wait-lock DUR   wait up to DUR (e.g. 10min) for another run of the job to finish\n"
    "  --skip-exit-code N  exit N instead of 75 when the job is locked, and instead\n"
    "                    of 0 when there was nothing to do (Airflow's skip_on_exit_code)\n"
    "  --xcom-file PATH  also write the JSON summary to PATH (even on failure)\n"
    "  --rejects PATH    write the skipped rows as CSV (id,reason)\n"
    "  --labels-file PATH  write each selected image's category as CSV (id,label)\n"
    "  --metrics-file PATH  Prometheus text format for node_exporter's textfile collector\n"
    "\n"
    "Logging (all commands):\n"
    "  --log-format text|json  human lines (default) or one JSON object per line\n"
    "  --quiet           errors only;  --verbose  also debug lines\n"
    "\n"
    "Output: a human log on stderr, one JSON summary line on stdout.\n"
    "Exit codes: 0 done, 64 usage, 65 bad data, 69 database unreachable,\n"
    "70 internal error, 75 try again later, 78 bad configuration.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "pairpick: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry \"pairpick --help\" for more information.\n");
    return ERR_USAGE;
}

static int fail(const Error *err)
{
    log_line("error", NULL, NULL, "%s", err->message);
    return err->code != ERR_OK ? err->code : ERR_INTERNAL;
}

/* Parses a non-negative integer option, range-checked. */
static bool parse_count(const char *text, const char *option, uint64_t minimum, uint64_t *out)
{
    char *end;
    errno = 0;
    if (text[0] == '-' || text[0] == '\0') {
        usage_error("invalid value \"%s\" for option", text);
        fprintf(stderr, "(option %s)\n", option);
        return false;
    }
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < minimum) {
        fprintf(stderr, "pairpick: invalid value \"%s\" for option %s\n", text, option);
        return false;
    }
    *out = value;
    return true;
}

static int load(const char *path, JobConfig **config)
{
    Error err;
    error_clear(&err);
    if (config_load(path, config, &err) != ERR_OK)
        return fail(&err);
    return ERR_OK;
}

static int command_migrate(JobConfig *config)
{
    Error err;
    Db *db = NULL;
    int applied = 0;
    error_clear(&err);
    int code = run_connect(config, &db, &err);
    if (code == ERR_OK)
        code = migrate_apply(db, config->output.table, &applied, &err);
    db_close(db);
    if (code != ERR_OK)
        return fail(&err);
    fprintf(stderr, "pairpick: %d migration%s applied%s\n", applied, applied == 1 ? "" : "s",
            applied == 0 ? " (up to date)" : "");
    printf("{\"command\":\"migrate\",\"applied\":%d}\n", applied);
    return ERR_OK;
}

static int command_explain(JobConfig *config)
{
    Error err;
    Plan plan;
    error_clear(&err);
    if (plan_build(config, ident_quote_offline, NULL, NULL, &plan, &err) != ERR_OK)
        return fail(&err);
    printf("%s;\n", plan.select_sql);
    for (int i = 0; i < plan.param_count; i++)
        printf("-- $%d = '%s'  (%s)\n", i + 1, plan.params[i], plan.param_names[i]);
    printf("-- streamed with: COPY (...) TO STDOUT (FORMAT binary)\n");
    plan_release(&plan);
    return ERR_OK;
}

/* The privileges a run needs, so a missing GRANT shows up before 3 a.m. */
static int check_privileges(Db *db, const JobConfig *config, const Plan *plan, Error *err)
{
    static const struct {
        const char *what;
        int argument; /* 0: none, 1: the source table, 2: the output table ($1) */
        const char *sql;
    } checks[] = {
        {"SELECT on the source table", 1, "SELECT has_table_privilege($1, 'SELECT')"},
        {"SELECT on the output table", 2, "SELECT has_table_privilege($1, 'SELECT')"},
        {"INSERT on the output table", 2, "SELECT has_table_privilege($1, 'INSERT')"},
        {"SELECT on pairpick_runs", 0, "SELECT has_table_privilege('pairpick_runs', 'SELECT')"},
        {"INSERT on pairpick_runs", 0, "SELECT has_table_privilege('pairpick_runs', 'INSERT')"},
        {"UPDATE on pairpick_runs", 0, "SELECT has_table_privilege('pairpick_runs', 'UPDATE')"},
        {"TEMPORARY on the database", 0,
         "SELECT has_database_privilege(current_database(), 'TEMPORARY')"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        const char *params[1] = {checks[i].argument == 1 ? plan->source_sql : plan->output_table};
        if (checks[i].argument == 1 && config->source.table == NULL)
            continue; /* an own query: its tables are the operator's to check */
        char value[8];
        int code = db_query_text(db, "check privileges", checks[i].sql,
                                 checks[i].argument > 0 ? 1 : 0, params, value, sizeof value, NULL,
                                 err);
        if (code != ERR_OK)
            return code;
        bool granted = strcmp(value, "t") == 0;
        if (!granted)
            return error_set(err, ERR_CONFIG,
                             "the database role lacks %s"
                             "\nHINT: sql/roles/least_privilege.sql grants what a run needs",
                             checks[i].what);
    }
    return ERR_OK;
}

static int command_check(JobConfig *config, bool with_db)
{
    Error err;
    error_clear(&err);
    if (with_db) {
        Db *db = NULL;
        Plan plan;
        int code = run_connect(config, &db, &err);
        if (code == ERR_OK)
            code = migrate_verify(db, config->output.table, &err);
        if (code == ERR_OK && (code = plan_build(config, db_quote_ident, db, NULL, &plan, &err))
                                  == ERR_OK) {
            /* Describing the SELECT checks that tables and columns exist
             * and the casts apply, without reading a row. */
            uint32_t types[1];
            int columns;
            Error describe;
            code = db_describe(db, "describe source query", plan.select_sql, plan.param_count,
                               types, 0, &columns, &describe);
            if (code != ERR_OK)
                error_set(&err, code, "the source query is not valid: %s", describe.message);
            if (code == ERR_OK)
                code = check_privileges(db, config, &plan, &err);
            EmbeddingFormat format; /* real[], double precision[] or bytea */
            if (code == ERR_OK && plan.has_embedding)
                code = stream_describe_embedding(db, &plan, &format, &err);
            if (code == ERR_OK && config->strategy.clusters_from != NULL)
                code = run_check_model(config, db, &plan, &err);
            plan_release(&plan);
        }
        db_close(db);
        if (code != ERR_OK)
            return fail(&err);
    }
    fprintf(stderr, "pairpick: %s is valid%s\n", config->path,
            with_db ? " and matches the database" : "");
    return ERR_OK;
}

static int command_status(JobConfig *config, uint64_t limit)
{
    Error err;
    Db *db = NULL;
    DbResult *result = NULL;
    char limit_text[24];
    error_clear(&err);
    snprintf(limit_text, sizeof limit_text, "%" PRIu64, limit);
    const char *params[2] = {config->job, limit_text};
    int code = run_connect(config, &db, &err);
    if (code == ERR_OK)
        code = migrate_verify(db, config->output.table, &err);
    if (code == ERR_OK)
        code = db_query(db, "read runs",
                        "SELECT run_id, status, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ'), "
                        "coalesce(round(extract(epoch FROM finished_at - started_at)::numeric, 2)"
                        "::text, '-'), coalesce(rows_read::text, '-'), "
                        "coalesce(pairs_inserted::text, '-'), coalesce(error, ''), "
                        "coalesce(model_name || '@' || model_version "
                        "|| CASE WHEN model_refitted THEN ' refitted' ELSE '' END, '-') "
                        "FROM pairpick_runs WHERE job = $1 ORDER BY started_at DESC LIMIT $2::int",
                        2, params, &result, &err);
    if (code != ERR_OK) {
        db_close(db);
        return fail(&err);
    }
    printf("%-40s %-10s %-26s %9s %10s %8s  %-24s  %s\n", "run_id", "status", "started",
           "seconds", "rows", "pairs", "model", "error");
    for (int i = 0; i < db_result_rows(result); i++) {
        char error_line[161];
        snprintf(error_line, sizeof error_line, "%s", db_result_value(result, i, 6));
        char *newline = strchr(error_line, '\n');
        if (newline != NULL)
            *newline = '\0';
        printf("%-40s %-10s %-26s %9s %10s %8s  %-24s  %s\n", db_result_value(result, i, 0),
               db_result_value(result, i, 1), db_result_value(result, i, 2),
               db_result_value(result, i, 3), db_result_value(result, i, 4),
               db_result_value(result, i, 5), db_result_value(result, i, 7), error_line);
    }
    db_result_free(result);
    db_close(db);
    return ERR_OK;
}

static int command_sample(JobConfig *config, const RunOptions *options,
                          const SampleOptions *sample)
{
    Error err;
    Report report;
    SampleSummary summary = {0};
    error_clear(&err);
    int code = run_sample(config, options, sample, &summary, &report, &err);
    if (code != ERR_OK) {
        report.error = err.message;
        summary_print_json(stdout, &report);
        return fail(&err);
    }
    if (report.memory.mode != NULL)
        fprintf(stderr, "pairpick: memory %s: %s\n", report.memory.mode, report.memory.note);
    fprintf(stderr, "pairpick: contact sheet %s/index.html: %zu categories, %zu images placed, "
                    "%zu missing\n",
            sample->out_dir, summary.categories, summary.images_placed, summary.images_missing);
    printf("{\"command\":\"sample\",\"out\":");
    json_string(stdout, sample->out_dir);
    printf(",\"categories\":%zu,\"images_placed\":%zu,\"images_missing\":%zu,\"seed\":%" PRIu64,
           summary.categories, summary.images_placed, summary.images_missing, report.seed);
    if (report.memory.mode != NULL) {
        printf(",\"memory_mode\":");
        json_string(stdout, report.memory.mode);
    }
    printf("}\n");
    return ERR_OK;
}

static int command_fit(JobConfig *config, const RunOptions *options)
{
    Error err;
    FitSummary summary;
    error_clear(&err);
    int code = run_fit(config, options, &summary, &err);
    if (code != ERR_OK) {
        printf("{\"command\":\"fit\",\"status\":\"failed\",\"exit_code\":%d,\"error\":", code);
        json_string(stdout, err.message);
        printf("}\n");
        run_fit_release(&summary);
        return fail(&err);
    }
    const ClusterModel *model = summary.model;
    fprintf(stderr,
            "pairpick: stored cluster model %s version %d: k=%d, %s, %zu dimensions%s, fitted on "
            "%" PRIu64 " of %" PRIu64 " rows, inertia %.6g, %.2f s\n",
            model->name, model->version, model->cluster_count, model_metric_name(model->metric),
            model->dim, model->has_pca ? " (PCA)" : "", model->fit_rows, model->selected_rows,
            model->inertia, summary.seconds);
    if (model->has_pca)
        fprintf(stderr, "pairpick: pca %zu -> %zu dimensions, variance kept %.1f%%\n", model->dim,
                model->pca.components, 100.0 * model->pca.variance_kept);
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
           summary.rows_read, summary.rows_skipped, model->fit_rows, model->inertia,
           model->iterations, model->seed);
    json_string(stdout, model->fitted_at);
    printf(",\"seconds\":%.3f}\n", summary.seconds);
    run_fit_release(&summary);
    return ERR_OK;
}

static int command_models(JobConfig *config, bool json)
{
    Error err;
    Db *db = NULL;
    ModelSummary *list = NULL;
    size_t count = 0;
    char name[MODEL_NAME_MAX];
    int version;
    error_clear(&err);
    bool named = config->strategy.clusters_from != NULL
                 && model_parse_ref(config->strategy.clusters_from, name, &version);
    int code = run_connect(config, &db, &err);
    if (code == ERR_OK)
        code = migrate_verify(db, config->output.table, &err);
    if (code == ERR_OK)
        code = model_store_list(db, named ? name : NULL, &list, &count, &err);
    db_close(db);
    if (code != ERR_OK)
        return fail(&err);
    if (json) {
        printf("{\"command\":\"models\",\"models\":[");
        for (size_t i = 0; i < count; i++) {
            const ModelSummary *m = &list[i];
            printf("%s{\"name\":", i > 0 ? "," : "");
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
        printf("]}\n");
    } else {
        printf("%-24s %7s %-9s %5s %8s %5s %8s %-26s %10s %10s %12s\n", "model", "version",
               "metric", "dim", "clusters", "pca", "var.kept", "fitted_at", "rows", "fit_rows",
               "inertia");
        for (size_t i = 0; i < count; i++) {
            const ModelSummary *m = &list[i];
            char kept[16] = "-";
            if (!isnan(m->variance_kept))
                snprintf(kept, sizeof kept, "%.1f%%", 100.0 * m->variance_kept);
            printf("%-24s %7d %-9s %5d %8d %5d %8s %-26s %10" PRId64 " %10" PRId64 " %12.6g\n",
                   m->name, m->version, m->metric, m->dim, m->clusters, m->pca_components, kept,
                   m->fitted_at, m->selected_rows, m->fit_rows, m->inertia);
        }
        if (count == 0)
            fprintf(stderr, "pairpick: no stored cluster model%s%s%s\n", named ? " named \"" : "",
                    named ? name : "", named ? "\"" : "");
    }
    free(list);
    return ERR_OK;
}

typedef struct {
    const char *xcom_path;
    const char *metrics_path;
    int skip_exit_code; /* -1: none */
} RunOutputs;

static int command_run(JobConfig *config, const RunOptions *options, const RunOutputs *outputs)
{
    Error err, output_err;
    Report report;
    RunState state;
    error_clear(&err);
    error_clear(&output_err);
    int code = run_job(config, options, &report, &state, &err);
    if (log_is_json()) {
        char *line = NULL;
        size_t length = 0;
        FILE *memory = open_memstream(&line, &length);
        if (memory != NULL) {
            summary_print_json(memory, &report);
            fclose(memory);
            if (length > 0 && line[length - 1] == '\n')
                line[length - 1] = '\0';
            log_line(code == ERR_OK ? "info" : "error", "summary", line, "run %s: %s",
                     report.run_id, report.status);
            free(line);
        }
    } else if (log_level() != LOG_QUIET) {
        summary_print_human(stderr, &report, state.images,
                           state.pairs_per_category != NULL ? state.categories : NULL,
                           state.pairs_per_category);
    }
    summary_print_json(stdout, &report);
    if (code != ERR_OK)
        log_line("error", NULL, NULL, "%s", err.message);
    if (outputs->xcom_path != NULL && summary_write_json_file(outputs->xcom_path, &report,
                                                             &output_err) != ERR_OK)
        log_line("error", "xcom", NULL, "%s", output_err.message);
    if (outputs->metrics_path != NULL && metrics_write(outputs->metrics_path, &report,
                                                              &output_err) != ERR_OK)
        log_line("error", "metrics", NULL, "%s", output_err.message);
    /* What a scheduler should show as "skipped" rather than success or retry. */
    bool skipped = outputs->skip_exit_code >= 0
                   && ((code == ERR_TEMPFAIL && state.lock_held_by_other)
                       || (code == ERR_OK && strcmp(report.status, "succeeded") == 0
                           && report.counts.pairs_chosen == 0));
    run_release(&state); /* the report points into the state until here */
    if (skipped)
        return outputs->skip_exit_code;
    if (code == ERR_OK && output_err.code != ERR_OK)
        return output_err.code;
    return code;
}

int main(int argc, char **argv)
{
    static const struct option top_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static const struct option command_options[] = {
        {"run-id", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},
        {"dry-run", no_argument, NULL, 'n'},
        {"max-pairs", required_argument, NULL, 'm'},
        {"db", no_argument, NULL, 'd'},
        {"limit", required_argument, NULL, 'l'},
        {"out", required_argument, NULL, 'o'},
        {"per-category", required_argument, NULL, 'p'},
        {"copy", no_argument, NULL, 'c'},
        {"as-of", required_argument, NULL, 'A'},
        {"wait-lock", required_argument, NULL, 'W'},
        {"skip-exit-code", required_argument, NULL, 'S'},
        {"xcom-file", required_argument, NULL, 'X'},
        {"rejects", required_argument, NULL, 'R'},
        {"labels-file", required_argument, NULL, 'L'},
        {"metrics-file", required_argument, NULL, 'M'},
        {"log-format", required_argument, NULL, 'F'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    if (argc < 2)
        return usage_error("%s", "no command given");
    if (argv[1][0] == '-') {
        int option = getopt_long(argc, argv, "+hV", top_options, NULL);
        if (option == 'h') {
            fputs(usage_text, stdout);
            return ERR_OK;
        }
        if (option == 'V') {
            printf("pairpick %s\n", PAIRPICK_VERSION);
            return ERR_OK;
        }
        return usage_error("unknown option \"%s\"", argv[1]);
    }

    const char *command = argv[1];
    static const char *const commands[] = {"migrate", "run", "status", "check", "explain",
                                          "sample", "fit", "models"};
    bool known = false;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        known |= strcmp(command, commands[i]) == 0;
    if (!known)
        return usage_error("unknown command \"%s\"", command);

    RunOptions run_options = {0};
    SampleOptions sample_options = {.per_category = 5};
    RunOutputs outputs = {.skip_exit_code = -1};
    LogFormat log_format = LOG_TEXT;
    LogLevel log_verbosity = LOG_NORMAL;
    bool with_db = false, json_list = false;
    uint64_t limit = 20;
    int option;
    optind = 2;
    opterr = 0;
    while ((option = getopt_long(argc, argv, ":h", command_options, NULL)) != -1) {
        bool is_run = strcmp(command, "run") == 0;
        bool is_sample = strcmp(command, "sample") == 0;
        switch (option) {
        case 'h':
            fputs(usage_text, stdout);
            return ERR_OK;
        case 'r':
            if (!is_run)
                goto not_here;
            if (optarg[0] == '\0' || strlen(optarg) > 120)
                return usage_error("invalid value \"%s\" for option --run-id (1 to 120 characters)",
                                   optarg);
            run_options.run_id = optarg;
            break;
        case 'J':
            if (strcmp(command, "models") != 0)
                goto not_here;
            json_list = true;
            break;
        case 's':
            if (!is_run && !is_sample && strcmp(command, "fit") != 0)
                goto not_here;
            if (!parse_count(optarg, "--seed", 0, &run_options.seed))
                return ERR_USAGE;
            run_options.seed_set = true;
            break;
        case 'n':
            if (!is_run)
                goto not_here;
            run_options.dry_run = true;
            break;
        case 'm':
            if (!is_run)
                goto not_here;
            if (!parse_count(optarg, "--max-pairs", 1, &run_options.max_pairs))
                return ERR_USAGE;
            run_options.max_pairs_set = true;
            break;
        case 'd':
            if (strcmp(command, "check") != 0)
                goto not_here;
            with_db = true;
            break;
        case 'l':
            if (strcmp(command, "status") != 0)
                goto not_here;
            if (!parse_count(optarg, "--limit", 1, &limit))
                return ERR_USAGE;
            break;
        case 'o':
            if (!is_sample)
                goto not_here;
            sample_options.out_dir = optarg;
            break;
        case 'p': {
            uint64_t per = 0;
            if (!is_sample)
                goto not_here;
            if (!parse_count(optarg, "--per-category", 1, &per) || per > 10000)
                return per > 10000 ? usage_error("invalid value \"%s\" for option --per-category",
                                                 optarg)
                                   : ERR_USAGE;
            sample_options.per_category = (int)per;
            break;
        }
        case 'c':
            if (!is_sample)
                goto not_here;
            sample_options.copy = true;
            break;
        case 'A':
            if (!is_run && strcmp(command, "fit") != 0)
                goto not_here;
            run_options.as_of = optarg;
            break;
        case 'W':
            if (!is_run)
                goto not_here;
            if (!config_parse_duration(optarg, &run_options.wait_lock_ms))
                return usage_error("invalid value \"%s\" for option --wait-lock (a duration "
                                   "such as 30s or 10min)",
                                   optarg);
            break;
        case 'S': {
            uint64_t value = 0;
            if (!is_run)
                goto not_here;
            if (!parse_count(optarg, "--skip-exit-code", 0, &value) || value > 255)
                return value > 255 ? usage_error("invalid value \"%s\" for option "
                                                 "--skip-exit-code (0 to 255)",
                                                 optarg)
                                   : ERR_USAGE;
            outputs.skip_exit_code = (int)value;
            break;
        }
        case 'X':
            if (!is_run)
                goto not_here;
            outputs.xcom_path = optarg;
            break;
        case 'R':
            if (!is_run)
                goto not_here;
            run_options.rejects_path = optarg;
            break;
        case 'L':
            if (!is_run)
                goto not_here;
            run_options.labels_path = optarg;
            break;
        case 'M':
            if (!is_run)
                goto not_here;
            outputs.metrics_path = optarg;
            break;
        case 'F':
            if (strcmp(optarg, "json") == 0)
                log_format = LOG_JSON;
            else if (strcmp(optarg, "text") == 0)
                log_format = LOG_TEXT;
            else
                return usage_error("invalid value \"%s\" for option --log-format (text or json)",
                                   optarg);
            break;
        case 'q':
            log_verbosity = LOG_QUIET;
            break;
        case 'v':
            log_verbosity = LOG_VERBOSE;
            break;
        case ':':
            return usage_error("option \"%s\" needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
        continue;
    not_here:
        return usage_error("option \"%s\" does not apply to this command", argv[optind - 1]);
    }
    if (optind >= argc)
        return usage_error("%s: missing CONFIG argument", command);
    if (optind + 1 < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind + 1]);

    if (strcmp(command, "sample") == 0 && sample_options.out_dir == NULL)
        return usage_error("%s: --out DIR is required", command);

    log_setup(log_format, log_verbosity, NULL);
    cancel_install();
    JobConfig *config = NULL;
    int code = load(argv[optind], &config);
    if (code != ERR_OK)
        return code;
    log_setup(log_format, log_verbosity, config->job);
    if (strcmp(command, "migrate") == 0)
        code = command_migrate(config);
    else if (strcmp(command, "run") == 0)
        code = command_run(config, &run_options, &outputs);
    else if (strcmp(command, "status") == 0)
        code = command_status(config, limit);
    else if (strcmp(command, "sample") == 0)
        code = command_sample(config, &run_options, &sample_options);
    else if (strcmp(command, "fit") == 0)
        code = command_fit(config, &run_options);
    else if (strcmp(command, "models") == 0)
        code = command_models(config, json_list);
    else if (strcmp(command, "check") == 0)
        code = command_check(config, with_db);
    else
        code = command_explain(config);
    config_free(config);
    return code;
}
