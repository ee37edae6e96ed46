#include "run/run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/cancel.h"
#include "core/csv.h"
#include "run/categorize.h"
#include "run/labels.h"
#include "core/images.h"
#include "numeric/informative.h"
#include "numeric/kmeans.h"
#include "core/log.h"
#include "db/migrate.h"
#include "numeric/model.h"
#include "read/assign.h"
#include "db/model_store.h"
#include "numeric/pairs.h"
#include "read/plan.h"
#include "numeric/reservoir.h"
#include "db/runs.h"
#include "run/sample.h"
#include "read/parallel.h"
#include "read/stream.h"
#include "db/pending.h"

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

/*
 * Whether the informative selector chooses the pairs: prefer uncertain or
 * any of its companions. Otherwise pairs_select does, exactly as before.
 */
static bool uses_selector(const JobConfig *config)
{
    return config->strategy.prefer != INFORM_RANDOM || config->strategy.explore_fraction > 0
           || config->strategy.max_exposure > 0 || config->strategy.max_similarity.set;
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

/*
 * Connections an embedding read streams over: resources.workers, or by
 * default one per core from PARALLEL_MIN_ROWS rows on; 1 without embeddings.
 */
static int read_streams(const JobConfig *config, const Plan *plan, uint64_t total)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = config->resources.workers > 0 ? config->resources.workers
                                                : (int)(cores > 0 ? cores : 1);
    bool parallel = plan->has_embedding && workers > 1
                    && (config->resources.workers > 0 || total >= PARALLEL_MIN_ROWS);
    return parallel ? workers : 1;
}

#define RESERVOIR_LABEL 0x726573657276ULL /* "reserv" */

/*
 * Bounded memory (resources.memory_limit): when the embedding matrix would
 * not fit, pass 1 keeps ids and scores of every row and a uniform sample of
 * embeddings, k-means is fitted on the sample, and pass 2 (same snapshot)
 * assigns every row to its nearest center, keeping only its label. With
 * several streams each partition keeps its share of the sample
 * (reservoir_split) and assigns its own rows.
 */
static int read_bounded(const JobConfig *config, Db *db, const Plan *plan,
                        const StreamOptions *stream_options, size_t dim, size_t sample_rows,
                        int streams, Images *images, StreamStats *stats, RunState *state, Rng *rng,
                        Error *err)
{
    ReservoirSet sample;
    Kmeans *kmeans = NULL;
    ClusterModel *model = NULL;
    StreamStats again;
    int code;

    if ((code = reservoir_set_init(&sample, sample_rows, dim, streams, rng, RESERVOIR_LABEL, err))
        != ERR_OK)
        goto done;

    /* Pass 1: a uniform sample of the rows. */
    StreamOptions pass = *stream_options;
    pass.embedding_dim = dim;
    pass.on_row = reservoir_row;
    pass.on_partitions = reservoir_set_partitions;
    pass.partitions_context = &sample;
    Images kept;
    images_init(&kept, images->has_score, images->has_variance, images->has_label, false);
    *images = kept; /* ids, scores and labels only */
    if ((code = stream_read_split(db, plan, &pass, streams, connect_worker, (void *)config, images,
                                  stats, err))
        != ERR_OK)
        goto done;
    size_t fitted_rows = reservoir_set_gather(&sample);

    KmeansOptions options = config_kmeans_options(config);
    if ((size_t)options.cluster_count > fitted_rows) {
        code = error_set(err, ERR_DATA, "cannot make %d clusters from %zu images",
                         options.cluster_count, fitted_rows);
        goto done;
    }
    if (options.metric == KMEANS_COSINE)
        kmeans_normalize_rows(sample.sample, fitted_rows, dim);
    if ((code = kmeans_new(&options, dim, &kmeans, err)) != ERR_OK
        || (code = kmeans_fit(kmeans, sample.sample, fitted_rows, rng, err)) != ERR_OK)
        goto done;
    reservoir_set_release(&sample);

    /* Pass 2: every row to its nearest center, as through a stored model
     * (normalized for cosine, no PCA), over the same streams. */
    if ((code = model_new("bounded", 0, options.metric, dim, options.cluster_count, 0, NULL, NULL,
                          0.0, kmeans_centers(kmeans), NULL, NULL, &model, err))
        != ERR_OK)
        goto done;
    size_t rows = images->count > 0 ? images->count : 1;
    if ((state->cluster_labels = malloc(rows * sizeof(int32_t))) == NULL) {
        code = error_nomem(err, rows * sizeof(int32_t));
        goto done;
    }
    double inertia = 0.0;
    pass = *stream_options;
    pass.on_reject = NULL; /* reported by pass 1 */
    if ((code = model_read_assign_rows(model, db, plan, &pass, true, streams, connect_worker,
                                       (void *)config, images, state->cluster_labels, rows, NULL,
                                       &inertia, &again, err))
        != ERR_OK)
        goto done;
    state->clusters.cluster_of = state->cluster_labels;
    state->clusters.cluster_count = options.cluster_count;
    state->clusters.inertia = inertia;
    state->clusters.iterations = kmeans_iterations(kmeans);

done:
    reservoir_set_release(&sample);
    model_free(model);
    kmeans_free(kmeans);
    return code;
}

/* Bytes per row besides the embedding: id arena and index, offsets, scores. */
#define ROW_OVERHEAD 96
/* What the process needs besides the data (libraries, BLAS buffers). */
#define BASELINE_BYTES (96u << 20)

static int read_selection(const JobConfig *config, Db *db, const Plan *plan,
                          const StreamOptions *stream_options, Images *images, StreamStats *stats,
                          RunCounts *counts, PairSet **existing, RunState *state, Report *report,
                          Rng *rng, ModelUse *use, Error *err)
{
    uint64_t total = 0;
    int code = db_begin(db, "begin read", "ISOLATION LEVEL REPEATABLE READ", err);
    if (code != ERR_OK)
        return code;
    if ((code = db_query_uint64(db, "count source", plan->count_sql, 0, NULL, &total, err))
        != ERR_OK)
        goto fail;
    int64_t limit = config->resources.memory_limit_bytes;
    bool bounded = false;
    int streams = read_streams(config, plan, total);
    if (use != NULL && plan->has_embedding) {
        bounded = true; /* one streaming pass, labels only */
        if (report != NULL) {
            report->memory_mode = "assign";
            snprintf(report->memory_note, sizeof report->memory_note,
                     "%s%s: ids, scores and labels only, no embedding matrix",
                     use->refit ? "fitted a new model version on a sample, then " : "",
                     "assigned to stored centres while streaming");
        }
        code = model_read_assign(config, db, plan, stream_options, total, use, streams,
                                 connect_worker, (void *)config, images, stats, rng, err);
    } else if (plan->has_embedding && report != NULL) {
        EmbeddingFormat format;
        size_t dim = (size_t)config->source.embedding_dim;
        if ((code = stream_describe_embedding(db, plan, &format, err)) != ERR_OK
            || (dim == 0 && (code = stream_probe_dim(db, plan, format, &dim, err)) != ERR_OK))
            goto fail;
        double matrix = (double)total * (double)dim * sizeof(float);
        double needed = matrix + (double)total * ROW_OVERHEAD + BASELINE_BYTES;
        report->memory_mode = "in_memory";
        snprintf(report->memory_note, sizeof report->memory_note,
                 "%" PRIu64 " x %zu float32 matrix of %.0f MB%s", total, dim, matrix / 1e6,
                 limit > 0 ? " fits resources.memory_limit" : "");
        if (limit > 0 && dim > 0 && needed > (double)limit) {
            double room = (double)limit - (double)total * ROW_OVERHEAD - BASELINE_BYTES;
            size_t sample_rows = room > 0 ? (size_t)(room * 0.8 / ((double)dim * sizeof(float))) : 0;
            if (sample_rows > total)
                sample_rows = (size_t)total;
            if (sample_rows < (size_t)config->strategy.clusters * 4) {
                code = error_set(err, ERR_DATA,
                                 "resources.memory_limit of %" PRId64 " bytes cannot hold even a "
                                 "sample of %" PRIu64 " images of %zu dimensions"
                                 "\nHINT: raise resources.memory_limit",
                                 limit, total, dim);
                goto fail;
            }
            bounded = true;
            report->memory_mode = "bounded";
            snprintf(report->memory_note, sizeof report->memory_note,
                     "the %.0f MB matrix (%" PRIu64 " x %zu) exceeds memory_limit %.0f MB: "
                     "fitted on a uniform sample of %zu rows, then assigned all in a second pass",
                     matrix / 1e6, total, dim, (double)limit / 1e6, sample_rows);
            code = read_bounded(config, db, plan, stream_options, dim, sample_rows, streams,
                                images, stats, state, rng, err);
        }
    }
    if (bounded) {
        /* read above */
    } else if (streams > 1) {
        code = stream_read_parallel(db, plan, stream_options, streams, connect_worker,
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
    if (state != NULL && existing != NULL && uses_selector(config)) {
        state->exposure = malloc((images->count + 1) * sizeof *state->exposure);
        if (state->exposure == NULL) {
            code = error_nomem(err, images->count * sizeof *state->exposure);
            goto fail;
        }
        if ((code = write_load_exposure(db, plan->output_table, images, state->exposure, err))
            != ERR_OK)
            goto fail;
    }
    if (state != NULL && existing != NULL && config->output.max_pending > 0
        && (code = write_count_pending(db, plan->output_table, config->job,
                                       &state->pending_before, err))
               != ERR_OK)
        goto fail;
    return db_commit(db, "commit read", err);
fail:
    db_rollback(db, "rollback read");
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
    csv_quoted(rejects->file, id, id_length);
    fprintf(rejects->file, ",%s\n", stream_reject_name(reason));
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

/*
 * After the read of a run with a stored model: store a refitted version
 * (not on a dry run), record the version on the run, and hand the labels,
 * the model and its drift to the state (and so to categorize and the report).
 */
static int model_finish(const JobConfig *config, Db *db, const RunOptions *options, ModelUse *use,
                        RunState *state, const RunInfo *info, Report *report, bool registered,
                        Error *err)
{
    int code;
    if (use->refit && !options->dry_run
        && (code = model_store_save(db, use->model, config->job, config->text, err)) != ERR_OK)
        return code;
    if (registered && (code = model_store_record_run(db, info->job, info->run_id, use->name,
                                                     use->model->version, use->refit, err))
                          != ERR_OK)
        return code;
    state->drift = malloc(sizeof *state->drift);
    if (state->drift == NULL)
        return error_nomem(err, sizeof *state->drift);
    *state->drift = use->drift;
    memset(&use->drift, 0, sizeof use->drift);
    state->model = use->model;
    use->model = NULL;
    state->model_refitted = use->refit;
    state->cluster_labels = use->cluster_of;
    use->cluster_of = NULL;
    state->clusters.cluster_of = state->cluster_labels;
    state->clusters.cluster_count = state->model->cluster_count;
    state->clusters.inertia = use->inertia;
    state->clusters.iterations = use->refit ? state->model->iterations : 0;
    report->model = state->model;
    report->drift = state->drift;
    report->model_refitted = state->model_refitted;
    return ERR_OK;
}

/* Choices of pairs a run makes before it writes what it has. */
#define WRITE_CHOICES 8

/* One choice of pairs and what the writer needs with it. */
typedef struct {
    PairsResult chosen;   /* the balanced sampler's (strategy.prefer: random) */
    InformResult informed; /* or the informative selector's */
    char *show_first;      /* the sampler's coin per pair */
    const Pair *pairs;     /* into chosen or informed */
    size_t pair_count;
    PairProvenance provenance;
} Choice;

static void choice_release(Choice *choice)
{
    pairs_result_release(&choice->chosen);
    informative_result_release(&choice->informed);
    free(choice->show_first);
    memset(choice, 0, sizeof *choice);
}

/*
 * Chooses up to budget pairs among the categorized images, none in
 * existing, from a copy of *rng (the same choice for the same exclusions),
 * into *choice (released first). Fills the counts and report figures of
 * the choice.
 */
static int choose_pairs(const JobConfig *config, RunState *state, uint64_t budget,
                        const PairSet *existing, const InformOptions *inform, const Rng *rng,
                        const Rng *report_rng, const char *policy, Choice *choice,
                        Report *report, Error *err)
{
    RunCounts *counts = &report->counts;
    Rng stream = *rng;
    int code;
    choice_release(choice);
    choice->provenance.policy = policy;
    if (uses_selector(config)) {
        InformResult *informed = &choice->informed;
        if ((code = informative_select(state->categories->category_of, state->images->count,
                                       state->categories->count, budget, existing, inform,
                                       &stream, informed, err))
            != ERR_OK)
            return code;
        choice->pairs = informed->pairs;
        choice->pair_count = informed->pair_count;
        choice->provenance.within_count = informed->within_count;
        choice->provenance.show_first = informed->show_first;
        counts->pairs_available = informed->available;
        report->has_selection = true;
        report->cross_pairs = informed->pair_count - informed->within_count;
        report->candidates_examined = informed->candidates_examined;
        report->near_duplicates_skipped = informed->near_duplicates_skipped;
        report->exposure_skipped = informed->exposure_skipped;
    } else {
        PairsResult *chosen = &choice->chosen;
        if ((code = pairs_select(state->categories->category_of, state->images->count,
                                 state->categories->count, budget, existing, &stream, chosen,
                                 err))
            != ERR_OK)
            return code;
        choice->pairs = chosen->pairs;
        choice->pair_count = chosen->pair_count;
        choice->provenance.within_count = chosen->pair_count;
        /* A stream of its own: the pairs stay exactly pairs_select's. */
        choice->show_first = malloc(chosen->pair_count + 1);
        if (choice->show_first == NULL)
            return error_nomem(err, chosen->pair_count);
        Rng coin;
        rng_fork(report_rng, 0x636f696eULL /* "coin" */, &coin);
        for (size_t k = 0; k < chosen->pair_count; k++)
            choice->show_first[k] = (rng_next(&coin) >> 63) ? 'b' : 'a';
        choice->provenance.show_first = choice->show_first;
        counts->pairs_available = chosen->available;
    }
    counts->pairs_chosen = choice->pair_count;
    return ERR_OK;
}

int run_job(const JobConfig *config, const RunOptions *options, Report *report, RunState *state,
            Error *err)
{
    double started = now_seconds(), mark = started;
    Db *db = NULL;
    Plan plan;
    bool planned = false, registered = false;
    PairSet *existing = NULL;
    Choice choice = {0};
    CategoryLink *links = NULL;
    char **category_names = NULL;
    char policy[256];
    Rng rng, report_rng;
    Rejects rejects = {NULL};
    char *rejects_temp = NULL;
    char *config_json = NULL;
    char figures[512];
    ModelUse model_use = {0};
    bool using_model = config->strategy.clusters_from != NULL;
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
        char checked[64];
        const char *params[1] = {options->as_of};
        if (db_query_text(db, "check --as-of", "SELECT $1::timestamptz", 1, params, checked,
                          sizeof checked, NULL, err)
            != ERR_OK) {
            code = error_set(err, ERR_USAGE, "invalid value \"%s\" for option --as-of"
                                             "\nHINT: give a timestamp such as 2026-11-28T00:00:00Z",
                             options->as_of);
            goto done;
        }
    }
    if ((code = migrate_verify(db, config->output.table, err)) != ERR_OK)
        goto done;
    if ((code = plan_build(config, db_quote_ident, db, options->as_of, &plan, err)) != ERR_OK)
        goto done;
    planned = true;
    if ((code = stream_describe_id(db, &plan, err)) != ERR_OK) /* uuid ids: 16 bytes each */
        goto done;
    if (using_model
        && (code = model_read_prepare(config, db, &plan, options->as_of, true, &model_use, err))
               != ERR_OK)
        goto done;

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
    rng_init(&rng, seed);
    model_use.seed = seed;
    if ((code = read_selection(config, db, &plan, &stream_options, state->images,
                               &report->stream, counts, &existing, state, report, &rng,
                               using_model ? &model_use : NULL, err))
        != ERR_OK)
        goto done;
    if (using_model && (code = model_finish(config, db, options, &model_use, state, &info, report,
                                            registered, err))
                           != ERR_OK)
        goto done;
    mark = stage_done(report, STAGE_READ, mark);
    snprintf(figures, sizeof figures,
             "{\"rows_read\":%" PRIu64 ",\"rows_skipped\":%" PRIu64 ",\"seconds\":%.3f,"
             "\"images_bytes\":%zu,\"id_bytes\":%zu,\"images\":%zu}",
             counts->rows_read, counts->rows_skipped, report->stage_seconds[STAGE_READ],
             images_memory(state->images), images_id_memory(state->images),
             state->images->count);
    log_line("debug", "read", figures, "read %" PRIu64 " rows (%" PRIu64 " skipped) in %.2f s",
             counts->rows_read, counts->rows_skipped, report->stage_seconds[STAGE_READ]);
    if ((code = check_cancel(err)) != ERR_OK)
        goto done;

    rng_fork(&rng, 0x7265706f7274ULL /* "report" */, &report_rng);
    if ((code = categorize(config, state->images, state->clusters.cluster_of != NULL ? &state->clusters : NULL, &rng,
                          state->categories, err)) != ERR_OK)
        goto done;
    counts->categories = state->categories->count;
    if (options->labels_path != NULL
        && (code = labels_write(options->labels_path, state->images, state->categories, err))
               != ERR_OK)
        goto done;
    for (size_t i = 0; i < state->images->count; i++)
        if (state->categories->category_of[i] >= 0)
            counts->candidates++;
    mark = stage_done(report, STAGE_CATEGORIZE, mark);
    log_line("debug", "categorize", NULL, "%d categories in %.2f s", counts->categories,
             report->stage_seconds[STAGE_CATEGORIZE]);
    if ((code = check_cancel(err)) != ERR_OK)
        goto done;

    /* output.max_pending: the queue takes what it has room for. */
    uint64_t budget = counts->pairs_requested;
    if (config->output.max_pending > 0) {
        uint64_t cap = (uint64_t)config->output.max_pending;
        uint64_t room = state->pending_before < cap ? cap - state->pending_before : 0;
        report->has_queue = true;
        report->pending_before = state->pending_before;
        report->max_pending = config->output.max_pending;
        if (room < budget)
            budget = room;
        if (budget == 0) {
            report->queue_full = true;
            log_line("info", "pairs", NULL,
                     "the queue is full: %" PRIu64 " pairs of job %s pending, output.max_pending "
                     "%" PRId64 "; no pairs added",
                     state->pending_before, config->job, config->output.max_pending);
        }
    }
    InformOptions inform = {
        .prefer = config->strategy.prefer,
        .score = state->images->score,
        .variance = state->images->variance,
        .score_sigma = config->strategy.score_sigma,
        .beta = config->strategy.beta,
        .window = (size_t)config->strategy.window,
        .explore_fraction = config->strategy.explore_fraction,
        .exposure = state->exposure,
        .max_exposure = (uint32_t)config->strategy.max_exposure,
        .embedding = state->images->embedding,
        .dim = state->images->dim,
        .has_max_similarity = config->strategy.max_similarity.set,
        .max_similarity = config->strategy.max_similarity.value,
    };
    snprintf(policy, sizeof policy, "%s:%s/%s", config->job, report->strategy,
             config->strategy.prefer == INFORM_UNCERTAIN ? "uncertain" : "random");
    report->prefer = config->strategy.prefer == INFORM_UNCERTAIN ? "uncertain" : "random";
    if (config->strategy.max_similarity.set && state->images->embedding == NULL)
        log_line("warning", "pairs", NULL,
                 "strategy.max_similarity is not applied: the embeddings are not in memory "
                 "(bounded mode of resources.memory_limit)");
    if (uses_selector(config) && config->strategy.explore_fraction > 0) {
        if ((code = categorize_links(state->categories, state->images,
                                     state->model != NULL ? state->model->centers : NULL,
                                     state->model != NULL ? state->model->space_dim : 0,
                                     &links, &inform.link_count, err))
            != ERR_OK)
            goto done;
        if (inform.link_count == 0 && state->categories->count > 1)
            log_line("warning", "pairs", NULL,
                     "strategy.explore_fraction: no bridges, the %s have no neighbours known "
                     "to this run%s",
                     state->categories->by == STRATEGY_CATEGORY ? "categories" : "clusters",
                     state->categories->by == STRATEGY_CATEGORY
                         ? ""
                         : " (the embeddings are not in memory in bounded mode)");
        inform.links = links;
    }
    /* Each choice starts from the same generator state: a second choice
     * differs from the first only by the pairs it must now avoid. */
    const Rng pairs_rng = rng;
    if ((code = choose_pairs(config, state, budget, existing, &inform, &pairs_rng, &report_rng,
                             policy, &choice, report, err))
        != ERR_OK)
        goto done;
    mark = stage_done(report, STAGE_PAIRS, mark);
    if ((code = check_cancel(err)) != ERR_OK)
        goto done;

    if ((code = categorize_names(state->categories, state->images, &category_names, err))
        != ERR_OK)
        goto done;
    const PairCategories pair_categories = {state->categories->category_of, category_names};
    if (options->dry_run) {
        write_print_pairs(stderr, state->images, &pair_categories, choice.pairs,
                          choice.pair_count, &choice.provenance);
        report->status = "dry_run";
    } else {
        char stages[256];
        int attempt;
        for (attempt = 1;; attempt++) {
            size_t taken = 0;
            if ((code = write_pairs(db, plan.output_table, &info, state->images,
                                    &pair_categories, choice.pairs, choice.pair_count,
                                    &choice.provenance, counts,
                                    report_stage_json(report, stages, sizeof stages),
                                    attempt < WRITE_CHOICES ? &existing : NULL, &taken, err))
                != ERR_OK)
                goto done;
            if (taken == 0)
                break;
            log_line("info", "write", NULL,
                     "%zu of the %zu pairs chosen were stored by another job since the read; "
                     "choosing again (choice %d of %d)",
                     taken, choice.pair_count, attempt + 1, WRITE_CHOICES);
            if ((code = check_cancel(err)) != ERR_OK
                || (code = choose_pairs(config, state, budget, existing, &inform, &pairs_rng,
                                        &report_rng, policy, &choice, report, err))
                       != ERR_OK)
                goto done;
        }
        if (counts->pairs_inserted < choice.pair_count)
            log_line("warning", "write", NULL,
                     "the output table took %" PRIu64 " of the %zu pairs chosen (choice %d "
                     "of %d): other jobs stored the others meanwhile, or a trigger or rule "
                     "of the table skipped them",
                     counts->pairs_inserted, choice.pair_count, attempt, WRITE_CHOICES);
        report->status = "succeeded";
        registered = false;
    }
    stage_done(report, STAGE_WRITE, mark);
    report_measure(report, state->images, state->categories, choice.pairs, choice.pair_count,
                   &report_rng);
    report_measure_information(report, &inform, state->categories->category_of,
                               state->images->count, choice.pairs, choice.pair_count,
                               &report_rng);
    if (uses_selector(config))
        report_measure_exposure(report, state->exposure, state->categories->category_of,
                                state->images->count, choice.pairs, choice.pair_count);
    if (uses_selector(config)) {
        state->pairs_per_category = choice.informed.pairs_per_category;
        choice.informed.pairs_per_category = NULL;
    } else {
        state->pairs_per_category = choice.chosen.pairs_per_category;
        choice.chosen.pairs_per_category = NULL;
    }

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
    model_use_release(&model_use);
    report->exit_code = code;
    report->seconds = now_seconds() - started;
    choice_release(&choice);
    free(links);
    categorize_names_free(category_names, category_names != NULL ? state->categories->count : 0);
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
    free(state->cluster_labels);
    model_free(state->model);
    if (state->drift != NULL)
        model_drift_release(state->drift);
    free(state->drift);
    free(state->exposure);
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
    ModelUse model_use = {0};
    RunState bounded; /* resources.memory_limit: the labels assigned while streaming */
    int code;

    memset(&bounded, 0, sizeof bounded);
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
    if ((code = stream_describe_id(db, &plan, err)) != ERR_OK)
        goto done;
    StreamOptions stream_options = stream_options_for(config);
    images_init(&images, plan.has_score, plan.has_variance, plan.has_category, plan.has_embedding);
    if (config->strategy.clusters_from != NULL
        && (code = model_read_prepare(config, db, &plan, NULL, false, &model_use, err)) != ERR_OK)
        goto done;
    rng_init(&rng, report->seed);
    if ((code = read_selection(config, db, &plan, &stream_options, &images, &report->stream,
                               &report->counts, NULL, &bounded, report, &rng,
                               model_use.model != NULL ? &model_use : NULL, err))
        != ERR_OK)
        goto done;
    rng_fork(&rng, 0x73616d706c65ULL /* "sample" */, &sample_rng);
    ClusterLabels stored = {model_use.cluster_of,
                            model_use.model != NULL ? model_use.model->cluster_count : 0,
                            model_use.inertia, 0};
    const ClusterLabels *labels = model_use.model != NULL ? &stored
                                  : bounded.clusters.cluster_of != NULL ? &bounded.clusters
                                                                        : NULL;
    if ((code = categorize(config, &images, labels, &rng, &categories, err)) != ERR_OK)
        goto done;
    report->counts.categories = categories.count;
    report->counts.candidates = images.count;
    report_measure(report, &images, &categories, NULL, 0, &sample_rng);
    code = sample_write(db, config, &plan, &images, &categories, sample_options, &sample_rng,
                        summary, err);
done:
    report->exit_code = code;
    report->status = code == ERR_OK ? "sampled" : "failed";
    free(bounded.cluster_labels);
    categorize_release(&categories);
    images_release(&images);
    model_use_release(&model_use);
    if (planned)
        plan_release(&plan);
    db_close(db);
    return code;
}

int run_fit(const JobConfig *config, const RunOptions *options, FitSummary *summary, Error *err)
{
    double started = now_seconds();
    Db *db = NULL;
    Plan plan;
    bool planned = false;
    Images images;
    StreamStats stats = {0};
    ModelUse use = {0};
    Rng rng;
    uint64_t total = 0;
    int code;

    memset(summary, 0, sizeof *summary);
    images_init(&images, false, false, false, false);
    if (config->strategy.clusters_from == NULL)
        return error_set(err, ERR_CONFIG,
                         "%s: pairpick fit needs strategy.clusters_from, the model's name"
                         "\nHINT: add clusters_from: NAME under strategy",
                         config->path);
    if (!model_parse_ref(config->strategy.clusters_from, use.name, &use.version))
        return error_set(err, ERR_CONFIG, "strategy.clusters_from: \"%s\" is not MODEL[@VERSION]",
                         config->strategy.clusters_from);
    uint64_t seed = seed_for(config, options);
    if ((code = run_connect(config, &db, err)) != ERR_OK
        || (code = migrate_verify(db, config->output.table, err)) != ERR_OK
        || (code = plan_build(config, db_quote_ident, db, options->as_of, &plan, err)) != ERR_OK)
        goto done;
    planned = true;
    images_init(&images, plan.has_score, plan.has_variance, plan.has_category, false);
    if ((code = model_read_dim(config, db, &plan, &use.dim, err)) != ERR_OK)
        goto done;
    if (use.dim == 0) {
        code = error_set(err, ERR_DATA, "cannot fit a cluster model: no selected row has a "
                                        "usable embedding");
        goto done;
    }
    if ((code = db_begin(db, "begin read", "ISOLATION LEVEL REPEATABLE READ", err)) != ERR_OK)
        goto done;
    if ((code = db_query_uint64(db, "count source", plan.count_sql, 0, NULL, &total, err))
        == ERR_OK) {
        StreamOptions stream_options = stream_options_for(config);
        rng_init(&rng, seed);
        code = model_read_fit(config, db, &plan, &stream_options, use.dim, total, use.name, seed,
                              read_streams(config, &plan, total), connect_worker, (void *)config,
                              &images, &stats, &rng, &summary->model, err);
    }
    if (code != ERR_OK) {
        db_rollback(db, "rollback read");
        goto done;
    }
    if ((code = db_commit(db, "commit read", err)) != ERR_OK
        || (code = model_store_save(db, summary->model, config->job, config->text, err))
               != ERR_OK)
        goto done;
    summary->rows_read = stats.rows_read;
    for (int r = 0; r < REJECT_REASON_COUNT; r++)
        summary->rows_skipped += stats.rejected[r];
done:
    summary->seconds = now_seconds() - started;
    images_release(&images);
    if (planned)
        plan_release(&plan);
    db_close(db);
    return code;
}

void run_fit_release(FitSummary *summary)
{
    model_free(summary->model);
    memset(summary, 0, sizeof *summary);
}

int run_check_model(const JobConfig *config, Db *db, const Plan *plan, Error *err)
{
    ModelUse use;
    int code = model_store_check_privileges(db, config->strategy.kmeans.refit_after_ms > 0, err);
    if (code != ERR_OK)
        return code;
    code = model_read_prepare(config, db, plan, NULL, true, &use, err);
    model_use_release(&use);
    return code;
}
