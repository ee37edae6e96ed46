#include "run/fit.h"

#include <string.h>

#include "core/images.h"
#include "core/rng.h"
#include "db/migrate.h"
#include "db/model_store.h"
#include "numeric/model.h"
#include "read/assign.h"
#include "read/stream.h"
#include "run/selection.h"

int run_fit(const JobConfig *config, const RunOptions *options, FitSummary *summary, Error *err)
{
    double started = run_clock();
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
    uint64_t seed = run_seed(config, options->seed_set, options->seed);
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
        StreamOptions stream_options = run_stream_options(config);
        rng_init(&rng, seed);
        code = model_read_fit(config, db, &plan, &stream_options, use.dim, total, use.name, seed,
                              read_streams(config, &plan, total), run_connect_worker, (void *)config,
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
    summary->seconds = run_clock() - started;
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
