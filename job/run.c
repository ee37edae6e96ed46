#include "run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cancel.h"
#include "categorize.h"
#include "images.h"
#include "log.h"
#include "migrate.h"
#include "pairs.h"
#include "plan.h"
#include "runs.h"
#include "sample.h"
#include "stream.h"
#include "write.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
    }
    /* Seeds are stored as numeric(20); keep them within int64 for tools
     * that read them back as bigint. */
    return seed & 0x7fffffffffffffffULL;
}

void run_new_uuid(char *buffer, size_t size)
{
    unsigned char bytes[16];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        uint64_t a = random_seed(), b = random_seed() ^ (uint64_t)clock();
        memcpy(bytes, &a, 8);
        memcpy(bytes + 8, &b, 8);
    }
    bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40);
    bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80);
    snprintf(buffer, size,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
             bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
             bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
}

int run_connect(const JobConfig *config, Db **db, Error *err)
{
    char application[128];
    snprintf(application, sizeof application, "pairpick/%s", config->job);
    DbConnectOptions options = {
        .conninfo = config->database.conninfo,
        .application_name = application,
        .retries = config->database.connect_retries,
        .timeout_ms = config->database.connect_timeout_ms,
    };
    int code = db_connect(&options, db, err);
    if (code != ERR_OK)
        return code;
    /* Timeouts apply to this session only. */
    char value[32];
    const char *params[1] = {value};
    if (config->database.statement_timeout_ms > 0) {
        snprintf(value, sizeof value, "%" PRId64, config->database.statement_timeout_ms);
        code = db_command(*db, "set statement_timeout",
                          "SELECT set_config('statement_timeout', $1, false)", 1, params, NULL, err);
    }
    if (code == ERR_OK && config->database.lock_timeout_ms > 0) {
        snprintf(value, sizeof value, "%" PRId64, config->database.lock_timeout_ms);
        code = db_command(*db, "set lock_timeout", "SELECT set_config('lock_timeout', $1, false)",
                          1, params, NULL, err);
    }
    if (code != ERR_OK) {
        db_close(*db);
        *db = NULL;
    }
    return code;
}

static StreamOptions stream_options_for(const JobConfig *config)
{
    StreamOptions options = {
        .score_required = config->strategy.by == STRATEGY_SCORE
                          || config->strategy.by == STRATEGY_EMBEDDING_SCORE,
        .embedding_dim = (size_t)config->source.embedding_dim,
        .dim_mismatch_is_error = config->source.embedding_dim > 0
                                 && config->source.on_bad_row == BAD_ROW_ERROR,
    };
    return options;
}

static uint64_t seed_for(const JobConfig *config, const RunOptions *options)
{
    return options->seed_set           ? options->seed
           : config->strategy.seed_set ? config->strategy.seed
                                       : random_seed();
}

/* Reads the selection in one snapshot: source count, rows, existing pairs. */
static int connect_worker(void *context, Db **out, Error *err)
{
    return run_connect(context, out, err);
}

/*
 * Embeddings are what makes reading slow; they are streamed over several
 * connections when resources.workers asks for more than one, or by default
 * (one per core) from this many rows on.
 */
#define PARALLEL_MIN_ROWS 20000

static int read_selection(const JobConfig *config, Db *db, const Plan *plan,
                          const StreamOptions *stream_options, Images *images, StreamStats *stats,
                          RunCounts *counts, PairSet **existing, Error *err)
{
    PGresult *result = NULL;
    int code = db_command(db, "begin read", "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL,
                          NULL, err);
    if (code != ERR_OK)
        return code;
    if ((code = db_query(db, "count source", plan->count_sql, 0, NULL, &result, err)) != ERR_OK)
        goto fail;
    uint64_t total = strtoull(PQgetvalue(result, 0, 0), NULL, 10);
    PQclear(result);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = config->resources.workers > 0 ? config->resources.workers
                                                : (int)(cores > 0 ? cores : 1);
    bool parallel = plan->has_embedding && workers > 1
                    && (config->resources.workers > 0 || total >= PARALLEL_MIN_ROWS);
    if (parallel) {
        code = stream_read_parallel(db, plan, stream_options, workers, connect_worker,
                                    (void *)config, images, stats, err);
    } else {
        if ((code = images_reserve(images, total, err)) == ERR_OK)
            code = stream_read(db, plan, stream_options, images, stats, err);
    }
    if (code != ERR_OK)
        goto fail;
    counts->rows_read = stats->rows_read;
    counts->filtered_out = total > stats->rows_read ? total - stats->rows_read : 0;
    for (int r = 0; r < REJECT_REASON_COUNT; r++)
        counts->rows_skipped += stats->rejected[r];
    if (existing != NULL
        && (code = write_load_existing(db, plan->output_table, images, existing, err)) != ERR_OK)
        goto fail;
    return db_command(db, "commit read", "COMMIT", 0, NULL, NULL, err);
fail:;
    Error ignored;
    db_command(db, "rollback read", "ROLLBACK", 0, NULL, NULL, &ignored);
    return code;
}

/* Writes the CSV of skipped rows (--rejects): id,reason. */
typedef struct {
    FILE *file;
} Rejects;

static void write_reject(void *context, const char *id, size_t id_length, RejectReason reason)
{
    Rejects *rejects = context;
    if (rejects->file == NULL)
        return;
    fputc('"', rejects->file);
    for (size_t i = 0; id != NULL && i < id_length; i++) {
        if (id[i] == '"')
            fputc('"', rejects->file);
        fputc(id[i], rejects->file);
    }
    fprintf(rejects->file, "\",%s\n", stream_reject_name(reason));
}

/* Ends a stage: its time, and a log line with its figures. */
static double stage_done(Report *report, Stage stage, double since)
{
    double now = now_seconds();
    report->stage_seconds[stage] = now - since;
    return now;
}

/* A stage boundary: stop here when a signal asked for it. */
static int check_cancel(Error *err)
{
    if (!cancel_requested())
        return ERR_OK;
    return error_set(err, ERR_TEMPFAIL, "cancelled by signal %d", cancel_signal());
}

int run_job(const JobConfig *config, const RunOptions *options, Report *report, RunState *state,
            Error *err)
{
    double started = now_seconds(), mark = started;
    Db *db = NULL;
    Plan plan;
    bool planned = false, registered = false;
    PairSet *existing = NULL;
    PairsResult chosen = {0};
    Rng rng, report_rng;
    Rejects rejects = {NULL};
    char *rejects_temp = NULL;
    char *config_json = NULL;
    char figures[512];
    int code;

    memset(state, 0, sizeof *state);
    memset(report, 0, sizeof *report);
    state->images = calloc(1, sizeof *state->images);
    state->categories = calloc(1, sizeof *state->categories);
    if (state->images == NULL || state->categories == NULL)
        return error_nomem(err, sizeof *state->images);

    if (options->run_id != NULL)
        snprintf(state->run_id, sizeof state->run_id, "%s", options->run_id);
    else
        run_new_uuid(state->run_id, sizeof state->run_id);
    log_set_run(state->run_id);
    uint64_t seed = seed_for(config, options);
    report->job = config->job;
    report->run_id = state->run_id;
    report->strategy = config_strategy_name(config->strategy.by);
    report->seed = seed;
    report->status = "failed";
    report->as_of = options->as_of;
    RunCounts *counts = &report->counts;
    counts->pairs_requested = options->max_pairs_set ? options->max_pairs
                                                     : (uint64_t)config->strategy.max_pairs;
    config_json = config_to_json(config);
    if (config_json == NULL) {
        code = error_nomem(err, 0);
        goto done;
    }

    RunInfo info = {
        .job = config->job,
        .run_id = state->run_id,
        .strategy = report->strategy,
        .output_table = config->output.table,
        .seed = seed,
        .config_text = config->text,
        .config_json = config_json,
        .as_of = options->as_of,
    };

    if ((code = run_connect(config, &db, err)) != ERR_OK)
        goto done;
    if (options->as_of != NULL) {
        PGresult *result;
        const char *params[1] = {options->as_of};
        if (db_query(db, "check --as-of", "SELECT $1::timestamptz", 1, params, &result, err)
            != ERR_OK) {
            code = error_set(err, ERR_USAGE, "invalid value \"%s\" for option --as-of"
                                             "\nHINT: give a timestamp such as 2026-11-28T00:00:00Z",
                             options->as_of);
            goto done;
        }
        PQclear(result);
    }
    if ((code = migrate_verify(db, config->output.table, err)) != ERR_OK)
        goto done;
    if ((code = plan_build(config, db_quote_ident, db, options->as_of, &plan, err)) != ERR_OK)
        goto done;
    planned = true;

    if (!options->dry_run) {
        /* One run of a job at a time; a dry run writes nothing and needs no lock. */
        uint64_t abandoned = 0;
        if ((code = runs_lock(db, config->job, options->wait_lock_ms, &state->lock_held_by_other,
                              err))
                != ERR_OK
            || (code = runs_mark_abandoned(db, config->job, state->run_id, &abandoned, err))
                   != ERR_OK)
            goto done;
        if (abandoned > 0)
            log_line("warning", "lock", NULL,
                     "marked %" PRIu64 " run(s) of this job failed: their process died while "
                     "running",
                     abandoned);
        RunStart outcome;
        uint64_t previous_seed = 0;
        if ((code = runs_begin(db, &info, &outcome, counts, &previous_seed, err)) != ERR_OK)
            goto done;
        if (outcome == RUN_ALREADY_SUCCEEDED) {
            report->status = "already_succeeded";
            report->seed = previous_seed;
            log_line("info", "run", NULL, "run %s already succeeded; nothing to do", state->run_id);
            code = ERR_OK;
            goto done;
        }
        if (outcome == RUN_ALREADY_RUNNING) { /* cannot happen with the lock held */
            code = error_set(err, ERR_TEMPFAIL, "run \"%s\" of job \"%s\" is already running",
                             state->run_id, config->job);
            goto done;
        }
        registered = true;
    }
    mark = stage_done(report, STAGE_CONNECT, mark);

    StreamOptions stream_options = stream_options_for(config);
    if (options->rejects_path != NULL) {
        if (asprintf(&rejects_temp, "%s.tmp", options->rejects_path) < 0) {
            rejects_temp = NULL;
            code = error_nomem(err, 0);
            goto done;
        }
        rejects.file = fopen(rejects_temp, "w");
        if (rejects.file == NULL) {
            code = error_set(err, ERR_USAGE, "cannot write '%s': %s", rejects_temp, strerror(errno));
            goto done;
        }
        fputs("id,reason\n", rejects.file);
        stream_options.on_reject = write_reject;
        stream_options.reject_context = &rejects;
    }
    images_init(state->images, plan.has_score, plan.has_variance, plan.has_category,
                plan.has_embedding);
    if ((code = read_selection(config, db, &plan, &stream_options, state->images,
                               &report->stream, counts, &existing, err))
        != ERR_OK)
        goto done;
    mark = stage_done(report, STAGE_READ, mark);
    snprintf(figures, sizeof figures,
             "{\"rows_read\":%" PRIu64 ",\"rows_skipped\":%" PRIu64 ",\"seconds\":%.3f}",
             counts->rows_read, counts->rows_skipped, report->stage_seconds[STAGE_READ]);
    log_line("debug", "read", figures, "read %" PRIu64 " rows (%" PRIu64 " skipped) in %.2f s",
             counts->rows_read, counts->rows_skipped, report->stage_seconds[STAGE_READ]);
    if ((code = check_cancel(err)) != ERR_OK)
        goto done;

    rng_init(&rng, seed);
    rng_fork(&rng, 0x7265706f7274ULL /* "report" */, &report_rng);
    if ((code = categorize(config, state->images, &rng, state->categories, err)) != ERR_OK)
        goto done;
    counts->categories = state->categories->count;
    for (size_t i = 0; i < state->images->count; i++)
        if (state->categories->category_of[i] >= 0)
            counts->candidates++;
    mark = stage_done(report, STAGE_CATEGORIZE, mark);
    log_line("debug", "categorize", NULL, "%d categories in %.2f s", counts->categories,
             report->stage_seconds[STAGE_CATEGORIZE]);
    if ((code = check_cancel(err)) != ERR_OK)
        goto done;

    if ((code = pairs_select(state->categories->category_of, state->images->count,
                             state->categories->count, counts->pairs_requested, existing, &rng,
                             &chosen, err))
        != ERR_OK)
        goto done;
    counts->pairs_available = chosen.available;
    counts->pairs_chosen = chosen.pair_count;
    mark = stage_done(report, STAGE_PAIRS, mark);
    if ((code = check_cancel(err)) != ERR_OK)
        goto done;

    if (options->dry_run) {
        write_print_pairs(stderr, state->images, state->categories, chosen.pairs,
                          chosen.pair_count);
        report->status = "dry_run";
    } else {
        char stages[256];
        if ((code = write_pairs(db, plan.output_table, &info, state->images, state->categories,
                                chosen.pairs, chosen.pair_count, counts,
                                report_stage_json(report, stages, sizeof stages), err))
            != ERR_OK)
            goto done;
        report->status = "succeeded";
        registered = false;
    }
    stage_done(report, STAGE_WRITE, mark);
    report_measure(report, state->images, state->categories, chosen.pairs, chosen.pair_count,
                   &report_rng);
    state->pairs_per_category = chosen.pairs_per_category;
    chosen.pairs_per_category = NULL;

done:
    if (code != ERR_OK && cancel_requested() && code != ERR_USAGE) {
        /* Whatever the statement said, the reason is the signal. */
        char reason[ERROR_MESSAGE_MAX];
        snprintf(reason, sizeof reason, "%s", err->message);
        code = error_set(err, ERR_TEMPFAIL, "cancelled by signal %d: %s", cancel_signal(), reason);
    }
    if (code != ERR_OK) {
        snprintf(state->error, sizeof state->error, "%s", err->message);
        report->error = state->error;
        if (registered && db != NULL) {
            Error ignored;
            counts->pairs_inserted = 0;
            /* The connection may be gone (server restart); a fresh one
             * records the failure when it can. */
            if (runs_fail(db, &info, counts, err->message, &ignored) != ERR_OK) {
                Db *again = NULL;
                if (run_connect(config, &again, &ignored) == ERR_OK) {
                    runs_fail(again, &info, counts, err->message, &ignored);
                    db_close(again);
                }
            }
        }
    }
    if (rejects.file != NULL) {
        /* Written whole or not at all: a reader never sees half a file. */
        if (fclose(rejects.file) == 0)
            rename(rejects_temp, options->rejects_path);
        else
            unlink(rejects_temp);
    }
    free(rejects_temp);
    free(config_json);
    report->exit_code = code;
    report->seconds = now_seconds() - started;
    pairs_result_release(&chosen);
    pairset_free(existing);
    if (planned)
        plan_release(&plan);
    db_close(db);
    return code;
}

void run_release(RunState *state)
{
    if (state->images != NULL)
        images_release(state->images);
    if (state->categories != NULL)
        categorize_release(state->categories);
    free(state->images);
    free(state->categories);
    free(state->pairs_per_category);
    memset(state, 0, sizeof *state);
}

int run_sample(const JobConfig *config, const RunOptions *options,
               const SampleOptions *sample_options, SampleSummary *summary, Report *report,
               Error *err)
{
    Db *db = NULL;
    Plan plan;
    bool planned = false;
    Images images;
    Categories categories = {0};
    Rng rng, sample_rng;
    int code;

    memset(report, 0, sizeof *report);
    images_init(&images, false, false, false, false);
    report->job = config->job;
    report->run_id = "sample";
    report->strategy = config_strategy_name(config->strategy.by);
    report->seed = seed_for(config, options);
    if ((code = run_connect(config, &db, err)) != ERR_OK
        || (code = plan_build(config, db_quote_ident, db, NULL, &plan, err)) != ERR_OK)
        goto done;
    planned = true;
    StreamOptions stream_options = stream_options_for(config);
    images_init(&images, plan.has_score, plan.has_variance, plan.has_category, plan.has_embedding);
    if ((code = read_selection(config, db, &plan, &stream_options, &images, &report->stream,
                               &report->counts, NULL, err))
        != ERR_OK)
        goto done;
    rng_init(&rng, report->seed);
    rng_fork(&rng, 0x73616d706c65ULL /* "sample" */, &sample_rng);
    if ((code = categorize(config, &images, &rng, &categories, err)) != ERR_OK)
        goto done;
    report->counts.categories = categories.count;
    report->counts.candidates = images.count;
    report_measure(report, &images, &categories, NULL, 0, &sample_rng);
    code = sample_write(db, config, &plan, &images, &categories, sample_options, &sample_rng,
                        summary, err);
done:
    report->exit_code = code;
    report->status = code == ERR_OK ? "sampled" : "failed";
    categorize_release(&categories);
    images_release(&images);
    if (planned)
        plan_release(&plan);
    db_close(db);
    return code;
}
