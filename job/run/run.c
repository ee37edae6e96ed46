#include "run/run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cancel.h"
#include "core/csv.h"
#include "core/images.h"
#include "core/log.h"
#include "core/sidefile.h"
#include "db/conninfo.h"
#include "db/migrate.h"
#include "db/model_store.h"
#include "db/pending.h"
#include "db/runs.h"
#include "numeric/informative.h"
#include "numeric/model.h"
#include "read/assign.h"
#include "read/plan.h"
#include "read/stream.h"
#include "run/choose.h"
#include "run/labels.h"
#include "run/selection.h"

/*
 * Choices of pairs a run makes before it writes what it has. A choice is
 * made again only when another job committed some of its pairs since this
 * run last read the table, and each other job commits once, so this many
 * covers up to WRITE_CHOICES - 1 jobs writing over the same images at once
 * (16 jobs with the informative default, whose choices meet more than
 * random ones, needed up to 8 here).
 */
#define WRITE_CHOICES 32

/*
 * The --rejects CSV of skipped rows (id,reason), a side file: finished
 * (flushed, synced) when the read ends, so a full disk fails the run before
 * anything is committed, and published only when the run succeeds.
 */
typedef struct Rejects {
    SideFile *file;
} Rejects;

/* Everything one run holds between its stages. */
typedef struct Run {
    const JobConfig *config;
    const RunOptions *options;
    Report *report;
    RunState *state;
    RunInfo info;
    char *config_json;
    Db *db;
    Plan plan;
    bool planned;
    bool registered;      /* the run record says running: a failure must be recorded */
    bool finished;        /* nothing left to do (the run id already succeeded) */
    double mark;          /* when the stage being timed started */
    Rng rng, report_rng;
    ModelUse model;       /* strategy.clusters_from */
    ReadResult read;
    ClusterLabels clusters; /* labels from the read (bounded) or the stored model */
    int32_t *model_labels;  /* owns clusters.cluster_of for a stored model */
    Rejects rejects;
    uint64_t budget;
    InformOptions inform;
    CategoryLink *links;
    char policy[256];
    Choice choice;
    char **category_names;
    char stage_text[256]; /* the run record's stage_seconds (record_stage_seconds) */
} Run;

static bool using_model(const Run *run)
{
    return run->config->strategy.clusters_from != NULL;
}

/* Ends a timed stage: its time on the report; the next stage starts now. */
static void stage_done(Run *run, Stage stage)
{
    double now = run_clock();
    run->report->stage_seconds[stage] = now - run->mark;
    run->mark = now;
}

/* A stage boundary: stop here when a signal asked for it. */
static int check_cancel(Error *err)
{
    if (!cancel_requested())
        return ERR_OK;
    return error_set(err, ERR_TEMPFAIL, "cancelled by signal %d", cancel_signal());
}

/* The run's identity, seed and requested budget on the report and run record. */
static int run_start(Run *run, Error *err)
{
    const JobConfig *config = run->config;
    const RunOptions *options = run->options;
    RunState *state = run->state;
    Report *report = run->report;

    state->images = calloc(1, sizeof *state->images);
    state->categories = calloc(1, sizeof *state->categories);
    if (state->images == NULL || state->categories == NULL)
        return error_nomem(err, sizeof *state->images);
    if (options->run_id != NULL)
        snprintf(state->run_id, sizeof state->run_id, "%s", options->run_id);
    else
        run_new_uuid(state->run_id, sizeof state->run_id);
    log_set_run(state->run_id);
    report->job = config->job;
    report->run_id = state->run_id;
    report->strategy = config_strategy_name(config->strategy.by);
    report->seed = run_seed(config, options->seed_set, options->seed);
    report->status = "failed";
    report->as_of = options->as_of;
    report->counts.pairs_requested = options->max_pairs_set ? options->max_pairs
                                                            : (uint64_t)config->strategy.max_pairs;
    if ((run->config_json = config_to_json(config, db_mask_conninfo)) == NULL)
        return error_nomem(err, 0);
    run->info = (RunInfo){
        .job = config->job,
        .run_id = state->run_id,
        .strategy = report->strategy,
        .output_table = config->output.table,
        .seed = report->seed,
        .config_text = config->text,
        .config_json = run->config_json,
        .as_of = options->as_of,
    };
    return ERR_OK;
}

/* --as-of must be a timestamp the server reads the same way on every retry. */
static int check_as_of(Db *db, const char *as_of, Error *err)
{
    char checked[64];
    const char *params[1] = {as_of};
    if (db_query_text(db, "check --as-of", "SELECT $1::timestamptz", 1, params, checked,
                      sizeof checked, NULL, err)
        != ERR_OK)
        return error_set(err, ERR_USAGE, "invalid value \"%s\" for option --as-of"
                                         "\nHINT: give a timestamp such as 2026-11-28T00:00:00Z",
                         as_of);
    return ERR_OK;
}

/* Connects, checks the schema, builds the plan and prepares a stored model. */
static int stage_connect(Run *run, Error *err)
{
    const JobConfig *config = run->config;
    const char *as_of = run->options->as_of;
    int code;
    if ((code = run_connect(config, &run->db, err)) != ERR_OK
        || (as_of != NULL && (code = check_as_of(run->db, as_of, err)) != ERR_OK)
        || (code = migrate_verify(run->db, config->output.table, err)) != ERR_OK
        || (code = plan_build(config, db_quote_ident, run->db, as_of, &run->plan, err)) != ERR_OK)
        return code;
    run->planned = true;
    if ((code = stream_describe_id(run->db, &run->plan, err)) != ERR_OK) /* uuid ids: 16 bytes */
        return code;
    if (using_model(run))
        return model_read_prepare(config, run->db, &run->plan, as_of, true, &run->model, err);
    return ERR_OK;
}

/*
 * Takes the job's lock and registers the run. A dry run writes nothing and
 * needs neither. A run id that already succeeded finishes the run (exit 0).
 */
static int stage_register(Run *run, Error *err)
{
    const JobConfig *config = run->config;
    RunState *state = run->state;
    Report *report = run->report;
    uint64_t abandoned = 0, previous_seed = 0;
    RunStart outcome;
    int code;

    if (!run->options->dry_run) {
        if ((code = runs_lock(run->db, config->job, run->options->wait_lock_ms,
                              &state->lock_held_by_other, err))
                != ERR_OK
            || (code = runs_mark_abandoned(run->db, config->job, state->run_id, &abandoned, err))
                   != ERR_OK)
            return code;
        if (abandoned > 0)
            log_line("warning", "lock", NULL,
                     "marked %" PRIu64 " run(s) of this job failed: their process died while "
                     "running",
                     abandoned);
        if ((code = runs_begin(run->db, &run->info, &outcome, &report->counts, &previous_seed,
                               err))
            != ERR_OK)
            return code;
        if (outcome == RUN_ALREADY_SUCCEEDED) {
            report->status = "already_succeeded";
            report->seed = previous_seed;
            log_line("info", "run", NULL, "run %s already succeeded; nothing to do",
                     state->run_id);
            run->finished = true;
            return ERR_OK;
        }
        if (outcome == RUN_ALREADY_RUNNING) /* cannot happen with the lock held */
            return error_set(err, ERR_TEMPFAIL, "run \"%s\" of job \"%s\" is already running",
                             state->run_id, config->job);
        run->registered = true;
    }
    stage_done(run, STAGE_CONNECT);
    return ERR_OK;
}

static void write_reject(void *context, const char *id, size_t id_length, RejectReason reason)
{
    Rejects *rejects = context;
    if (rejects->file == NULL)
        return;
    FILE *out = sidefile_stream(rejects->file);
    csv_quoted(out, id, id_length);
    fprintf(out, ",%s\n", stream_reject_name(reason));
}

static int rejects_open(Rejects *rejects, const char *path, Error *err)
{
    if ((rejects->file = sidefile_open(path, "rejects file", err)) == NULL)
        return err->code;
    fputs("id,reason\n", sidefile_stream(rejects->file));
    return ERR_OK;
}

/* After the read: every skipped row is in; a failed write fails the run now. */
static int rejects_finish(Rejects *rejects, Error *err)
{
    return rejects->file != NULL ? sidefile_finish(rejects->file, err) : ERR_OK;
}

/* After the run succeeded: the file replaces the previous one. */
static int rejects_publish(Rejects *rejects, Error *err)
{
    if (rejects->file == NULL)
        return ERR_OK;
    int code = sidefile_commit(rejects->file, err);
    rejects->file = NULL;
    return code;
}

/* A run that failed leaves the previous file as it was. */
static void rejects_abandon(Rejects *rejects)
{
    sidefile_abandon(rejects->file);
    rejects->file = NULL;
}

/*
 * After the read of a run with a stored model: record the version on the
 * run (a refitted one is stored and recorded with the pairs), and hand the labels,
 * the model and its drift to the run (and so to categorize and the report).
 */
static int model_finish(Run *run, Error *err)
{
    ModelUse *use = &run->model;
    RunState *state = run->state;
    int code;
    /* A refitted model is stored with the pairs (store_refitted_model), in
     * their transaction; a model used as stored is recorded now. */
    if (run->registered && !use->refit
        && (code = model_store_record_run(run->db, run->info.job, run->info.run_id, use->name,
                                          use->model->version, false, err))
               != ERR_OK)
        return code;
    if ((state->drift = malloc(sizeof *state->drift)) == NULL)
        return error_nomem(err, sizeof *state->drift);
    *state->drift = use->drift;
    memset(&use->drift, 0, sizeof use->drift);
    state->model = use->model;
    use->model = NULL;
    run->model_labels = use->cluster_of;
    use->cluster_of = NULL;
    run->clusters = (ClusterLabels){
        .cluster_of = run->model_labels,
        .cluster_count = state->model->cluster_count,
        .inertia = use->inertia,
        .iterations = use->refit ? state->model->iterations : 0,
    };
    run->report->model.stored = state->model;
    run->report->model.drift = state->drift;
    run->report->model.refitted = use->refit;
    return ERR_OK;
}

/* Reads the selection (and what the output table holds among it). */
static int stage_read(Run *run, Error *err)
{
    Report *report = run->report;
    RunCounts *counts = &report->counts;
    Images *images = run->state->images;
    StreamOptions stream_options = run_stream_options(run->config);
    char figures[512];
    int code;

    if (run->options->rejects_path != NULL) {
        if ((code = rejects_open(&run->rejects, run->options->rejects_path, err)) != ERR_OK)
            return code;
        stream_options.on_reject = write_reject;
        stream_options.reject_context = &run->rejects;
    }
    images_init(images, run->plan.has_score, run->plan.has_variance, run->plan.has_category,
                run->plan.has_embedding);
    rng_init(&run->rng, report->seed);
    run->model.seed = report->seed;
    ReadRequest request = {
        .config = run->config,
        .plan = &run->plan,
        .stream_options = &stream_options,
        .model = using_model(run) ? &run->model : NULL,
        .output_table = true,
    };
    code = read_selection(run->db, &request, images, &run->rng, &run->read, &report->memory, err);
    report->stream = run->read.stats;
    if (run->read.streamed)
        read_result_counts(&run->read, counts);
    if (code != ERR_OK)
        return code;
    if ((code = rejects_finish(&run->rejects, err)) != ERR_OK)
        return code;
    if (run->read.mode == READ_BOUNDED)
        run->clusters = run->read.clusters;
    if (using_model(run) && (code = model_finish(run, err)) != ERR_OK)
        return code;
    stage_done(run, STAGE_READ);
    snprintf(figures, sizeof figures,
             "{\"rows_read\":%" PRIu64 ",\"rows_skipped\":%" PRIu64 ",\"seconds\":%.3f,"
             "\"images_bytes\":%zu,\"id_bytes\":%zu,\"images\":%zu}",
             counts->rows_read, counts->rows_skipped, report->stage_seconds[STAGE_READ],
             images_memory(images), images_id_memory(images), images->count);
    log_line("debug", "read", figures, "read %" PRIu64 " rows (%" PRIu64 " skipped) in %.2f s",
             counts->rows_read, counts->rows_skipped, report->stage_seconds[STAGE_READ]);
    return ERR_OK;
}

/* Gives every image its category; writes --labels-file. */
static int stage_categorize(Run *run, Error *err)
{
    RunState *state = run->state;
    RunCounts *counts = &run->report->counts;
    int code;

    rng_fork(&run->rng, 0x7265706f7274ULL /* "report" */, &run->report_rng);
    if ((code = categorize(run->config, state->images,
                           run->clusters.cluster_of != NULL ? &run->clusters : NULL, &run->rng,
                           state->categories, err))
        != ERR_OK)
        return code;
    counts->categories = state->categories->count;
    if (run->options->labels_path != NULL
        && (code = labels_write(run->options->labels_path, state->images, state->categories,
                                err))
               != ERR_OK)
        return code;
    for (size_t i = 0; i < state->images->count; i++)
        if (state->categories->category_of[i] >= 0)
            counts->candidates++;
    stage_done(run, STAGE_CATEGORIZE);
    log_line("debug", "categorize", NULL, "%d categories in %.2f s", counts->categories,
             run->report->stage_seconds[STAGE_CATEGORIZE]);
    return ERR_OK;
}

/* The budget: the pairs asked for, as far as output.max_pending leaves room. */
static uint64_t queue_budget(Run *run)
{
    const JobConfig *config = run->config;
    ReportQueue *queue = &run->report->queue;
    uint64_t budget = run->report->counts.pairs_requested;
    if (config->output.max_pending <= 0)
        return budget;
    uint64_t cap = (uint64_t)config->output.max_pending;
    uint64_t pending = run->read.pending_before;
    uint64_t room = pending < cap ? cap - pending : 0;
    queue->enabled = true;
    queue->pending_before = pending;
    queue->max_pending = config->output.max_pending;
    if (room < budget)
        budget = room;
    if (budget == 0) {
        queue->full = true;
        log_line("info", "pairs", NULL,
                 "the queue is full: %" PRIu64 " pairs of job %s pending, output.max_pending "
                 "%" PRId64 "; no pairs added",
                 pending, config->job, config->output.max_pending);
    }
    return budget;
}

/* strategy.explore_fraction: the neighbouring categories bridges may join. */
static int explore_links(Run *run, Error *err)
{
    const Categories *categories = run->state->categories;
    const ClusterModel *model = run->state->model;
    int code = categorize_links(categories, run->state->images,
                                model != NULL ? model->centers : NULL,
                                model != NULL ? model->space_dim : 0, &run->links,
                                &run->inform.link_count, err);
    if (code != ERR_OK)
        return code;
    if (run->inform.link_count == 0 && categories->count > 1)
        log_line("warning", "pairs", NULL,
                 "strategy.explore_fraction: no bridges, the %s have no neighbours known "
                 "to this run%s",
                 categories->by == STRATEGY_CATEGORY ? "categories" : "clusters",
                 categories->by == STRATEGY_CATEGORY
                     ? ""
                     : " (the embeddings are not in memory in bounded mode)");
    run->inform.links = run->links;
    return ERR_OK;
}

/* The input of a choice: the same for every choice of the run. */
static ChooseInput choose_input(const Run *run)
{
    return (ChooseInput){
        .category_of = run->state->categories->category_of,
        .image_count = run->state->images->count,
        .category_count = run->state->categories->count,
        .selector = choose_uses_selector(run->config),
        .inform = &run->inform,
        .rng = &run->rng,
        .report_rng = &run->report_rng,
        .policy = run->policy,
    };
}

/* Chooses the pairs within the budget. */
static int stage_choose(Run *run, Error *err)
{
    const JobConfig *config = run->config;
    Report *report = run->report;
    int code;

    run->budget = queue_budget(run);
    run->inform = choose_inform_options(config, run->state->images, run->read.existing,
                                        run->read.exposure, run->read.comparisons);
    choose_policy(config, report->strategy, run->policy, sizeof run->policy);
    report->selection.prefer = choose_prefer_name(config->strategy.prefer);
    if (config->strategy.max_similarity.set && run->state->images->embedding == NULL)
        log_line("warning", "pairs", NULL,
                 "strategy.max_similarity is not applied: the embeddings are not in memory "
                 "(bounded mode of resources.memory_limit)");
    /* prefer informative pairs neighbours across linked categories (score bins) */
    if (choose_uses_selector(config)
        && (config->strategy.explore_fraction > 0
            || (config->strategy.prefer == INFORM_INFORMATIVE
                && (config->strategy.by == STRATEGY_SCORE
                    || config->strategy.by == STRATEGY_EMBEDDING_SCORE)))
        && (code = explore_links(run, err)) != ERR_OK)
        return code;
    ChooseInput input = choose_input(run);
    if ((code = choose_pairs(&input, run->budget, run->read.existing, &run->choice,
                             &report->counts, &report->selection, err))
        != ERR_OK)
        return code;
    if (report->selection.capped_images > 0 && run->choice.pair_count < run->budget)
        log_line("warning", "pairs", NULL,
                 "%zu of %" PRIu64 " pairs chosen: %" PRIu64 " images are at "
                 "strategy.max_exposure (pending pairs) or strategy.max_comparisons (annotated "
                 "pairs) and left out",
                 run->choice.pair_count, run->budget, report->selection.capped_images);
    stage_done(run, STAGE_PAIRS);
    return ERR_OK;
}

/*
 * The write hook of a run that refitted its model: the new version and
 * the run's record of it go in the pairs' transaction, so a failed write
 * leaves no version behind.
 */
static int store_refitted_model(void *context, Db *db, Error *err)
{
    Run *run = context;
    ClusterModel *model = run->state->model;
    int code = model_store_insert(db, model, run->config->job, run->config->text, err);
    if (code == ERR_OK)
        code = model_store_record_run(db, run->info.job, run->info.run_id, model->name,
                                      model->version, true, err);
    return code;
}

/*
 * The write hook's stage_seconds for the run record, asked for inside the
 * write transaction just before the run is marked succeeded: the write
 * stage so far (the insert included) is on it.
 */
static const char *record_stage_seconds(void *context)
{
    Run *run = context;
    run->report->stage_seconds[STAGE_WRITE] = run_clock() - run->mark;
    return report_stage_json(run->report, run->stage_text, sizeof run->stage_text);
}

/*
 * Stores the chosen pairs. Another job may store some of the same pairs
 * between this run's read and its write: the write then rolls back and the
 * run chooses again without them, up to WRITE_CHOICES times; the last
 * choice commits what the table takes.
 */
static int write_choices(Run *run, const PairCategories *pair_categories, Error *err)
{
    Report *report = run->report;
    RunCounts *counts = &report->counts;
    ChooseInput input = choose_input(run);
    int attempt, code;
    const WriteHook write_hook = {run->report->model.refitted ? store_refitted_model : NULL,
                                  record_stage_seconds, run};
    const WriteHook *hook = &write_hook;

    for (attempt = 1;; attempt++) {
        size_t taken = 0;
        if ((code = write_pairs(run->db, run->plan.output_table, &run->info, run->state->images,
                                pair_categories, run->choice.pairs, run->choice.pair_count,
                                &run->choice.provenance, counts,
                                attempt < WRITE_CHOICES ? &run->read.existing : NULL, &taken,
                                hook, err))
            != ERR_OK) {
            if (run->report->model.refitted)
                run->state->model->version = 0; /* rolled back: not stored */
            return code;
        }
        if (taken == 0)
            break;
        log_line("info", "write", NULL,
                 "%zu of the %zu pairs chosen were stored by another job since the read; "
                 "choosing again (choice %d of %d)",
                 taken, run->choice.pair_count, attempt + 1, WRITE_CHOICES);
        if ((code = check_cancel(err)) != ERR_OK
            || (code = choose_pairs(&input, run->budget, run->read.existing, &run->choice, counts,
                                    &report->selection, err))
                   != ERR_OK)
            return code;
    }
    if (counts->pairs_inserted < run->choice.pair_count)
        log_line("warning", "write", NULL,
                 "the output table took %" PRIu64 " of the %zu pairs chosen (choice %d "
                 "of %d): other jobs stored the others meanwhile, or a trigger or rule "
                 "of the table skipped them",
                 counts->pairs_inserted, run->choice.pair_count, attempt, WRITE_CHOICES);
    return ERR_OK;
}

/*
 * A dry run's pairs: to --pairs-file as CSV (a side file), else on stderr,
 * as JSON log lines with --log-format json and tab-separated text otherwise.
 */
static int print_dry_run(Run *run, const PairCategories *pair_categories, Error *err)
{
    const Choice *choice = &run->choice;
    if (run->options->pairs_path == NULL) {
        write_print_pairs(stderr, run->state->images, pair_categories, choice->pairs,
                          choice->pair_count, &choice->provenance,
                          log_is_json() ? PAIRS_PRINT_JSON : PAIRS_PRINT_TEXT);
        return ERR_OK;
    }
    SideFile *file = sidefile_open(run->options->pairs_path, "pairs file", err);
    if (file == NULL)
        return err->code;
    write_print_pairs(sidefile_stream(file), run->state->images, pair_categories, choice->pairs,
                      choice->pair_count, &choice->provenance, PAIRS_PRINT_CSV);
    return sidefile_commit(file, err);
}

/* Stores the pairs and marks the run succeeded, or prints them for --dry-run. */
static int stage_write(Run *run, Error *err)
{
    const Categories *categories = run->state->categories;
    int code;
    if ((code = categorize_names(categories, run->state->images, &run->category_names, err))
        != ERR_OK)
        return code;
    const PairCategories pair_categories = {categories->category_of, run->category_names};
    if (run->options->dry_run) {
        if ((code = print_dry_run(run, &pair_categories, err)) != ERR_OK)
            return code;
        run->report->status = "dry_run";
    } else {
        if ((code = write_choices(run, &pair_categories, err)) != ERR_OK)
            return code;
        run->report->status = "succeeded";
        run->registered = false;
    }
    stage_done(run, STAGE_WRITE);
    return ERR_OK;
}

/* The report's figures on the chosen pairs; pairs per category to the caller. */
static int stage_measure(Run *run, Error *err)
{
    (void)err;
    Report *report = run->report;
    RunState *state = run->state;
    const Choice *choice = &run->choice;
    const int32_t *category_of = state->categories->category_of;
    report_measure(report, state->images, state->categories, choice->pairs, choice->pair_count,
                   &run->report_rng);
    report_measure_information(report, &run->inform, category_of, state->images->count,
                               choice->pairs, choice->pair_count, &run->report_rng);
    if (choose_uses_selector(run->config)) {
        report_measure_exposure(report, run->read.exposure, category_of, state->images->count,
                                choice->pairs, choice->pair_count);
        state->pairs_per_category = run->choice.informed.pairs_per_category;
        run->choice.informed.pairs_per_category = NULL;
    } else {
        state->pairs_per_category = run->choice.chosen.pairs_per_category;
        run->choice.chosen.pairs_per_category = NULL;
    }
    return ERR_OK;
}

/*
 * A failed run: the signal is the reason when there was one, and the run
 * record says failed with the error (over a fresh connection when the
 * first is gone, e.g. after a server restart). When no connection can
 * mark it (the server is not back within database.connect_retries), a
 * warning says the record is left running: the next run of the job
 * takes the lock and marks it failed (runs_mark_abandoned).
 */
static int record_failure(Run *run, int code, Error *err)
{
    /* A computation that saw the signal already says so (cancel_check). */
    bool says_cancelled = code == ERR_TEMPFAIL
                          && strncmp(err->message, "cancelled by signal", 19) == 0;
    if (code != ERR_USAGE && cancel_requested() && !says_cancelled) {
        char reason[ERROR_MESSAGE_MAX];
        snprintf(reason, sizeof reason, "%s", err->message);
        code = error_set(err, ERR_TEMPFAIL, "cancelled by signal %d: %s", cancel_signal(), reason);
    }
    snprintf(run->state->error, sizeof run->state->error, "%s", err->message);
    run->report->error = run->state->error;
    if (run->registered && run->db != NULL) {
        Error ignored;
        RunCounts *counts = &run->report->counts;
        counts->pairs_inserted = 0;
        if (runs_fail(run->db, &run->info, counts, err->message, &ignored) != ERR_OK) {
            Db *again = NULL;
            bool marked = false;
            if (run_connect(run->config, &again, &ignored) == ERR_OK) {
                marked = runs_fail(again, &run->info, counts, err->message, &ignored) == ERR_OK;
                db_close(again);
            }
            if (!marked)
                log_line("warning", "run", NULL,
                         "run %s is left marked running, the next run of the job marks it "
                         "failed: %s",
                         run->state->run_id, ignored.message);
        }
    }
    return code;
}

static void run_free(Run *run)
{
    rejects_abandon(&run->rejects);
    free(run->config_json);
    model_use_release(&run->model);
    choice_release(&run->choice);
    free(run->links);
    categorize_names_free(run->category_names,
                          run->category_names != NULL ? run->state->categories->count : 0);
    read_result_release(&run->read);
    free(run->model_labels);
    if (run->planned)
        plan_release(&run->plan);
    db_close(run->db);
}

/* A stage of a run, and whether a signal may stop the run after it. */
typedef struct RunStage {
    int (*run)(Run *run, Error *err);
    bool cancel_point;
} RunStage;

static const RunStage stages[] = {
    {stage_connect, false},    {stage_register, false}, {stage_read, true},
    {stage_categorize, true},  {stage_choose, true},    {stage_write, false},
    {stage_measure, false},
};

int run_job(const JobConfig *config, const RunOptions *options, Report *report, RunState *state,
            Error *err)
{
    double started = run_clock();
    Run run = {.config = config, .options = options, .report = report, .state = state};
    int code;

    memset(state, 0, sizeof *state);
    memset(report, 0, sizeof *report);
    run.mark = started;
    code = run_start(&run, err);
    for (size_t i = 0; code == ERR_OK && !run.finished && i < sizeof stages / sizeof stages[0];
         i++) {
        code = stages[i].run(&run, err);
        if (code == ERR_OK && stages[i].cancel_point)
            code = check_cancel(err);
    }
    if (code == ERR_OK)
        code = rejects_publish(&run.rejects, err);
    if (code != ERR_OK)
        code = record_failure(&run, code, err);
    run_free(&run);
    report->exit_code = code;
    report->seconds = run_clock() - started;
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
    model_free(state->model);
    if (state->drift != NULL)
        model_drift_release(state->drift);
    free(state->drift);
    memset(state, 0, sizeof *state);
}
