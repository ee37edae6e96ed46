#include "run/session.h"

#include "core/rng.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

double run_clock(void)
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
    /* Below 2^53: the seed is printed in the JSON summary, and readers that
     * hold numbers as doubles (JavaScript, jq) must read it back exactly.
     * It also stays within bigint for tools reading the stored numeric(20). */
    return seed & RNG_SEED_MAX;
}

uint64_t run_seed(const JobConfig *config, bool seed_set, uint64_t seed)
{
    return seed_set                    ? seed
           : config->strategy.seed_set ? config->strategy.seed
                                       : random_seed();
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

/* Sets one session setting (statement_timeout, lock_timeout) in milliseconds. */
static int set_timeout(Db *db, const char *name, const char *setting, int64_t ms, Error *err)
{
    char value[32];
    const char *params[2] = {setting, value};
    snprintf(value, sizeof value, "%" PRId64, ms);
    return db_command(db, name, "SELECT set_config($1, $2, false)", 2, params, NULL, err);
}

/* A connection with the job's settings; unwatched: a worker's (db_connect). */
static int connect_job(const JobConfig *config, bool unwatched, Db **db, Error *err)
{
    char application[128];
    snprintf(application, sizeof application, "pairpick/%s", config->job);
    DbConnectOptions options = {
        .conninfo = config->database.conninfo,
        .application_name = application,
        .retries = config->database.connect_retries,
        .timeout_ms = config->database.connect_timeout_ms,
        .unwatched = unwatched,
    };
    int code = db_connect(&options, db, err);
    if (code != ERR_OK)
        return code;
    /* Timeouts apply to this session only. */
    if (config->database.statement_timeout_ms > 0)
        code = set_timeout(*db, "set statement_timeout", "statement_timeout",
                           config->database.statement_timeout_ms, err);
    if (code == ERR_OK && config->database.lock_timeout_ms > 0)
        code = set_timeout(*db, "set lock_timeout", "lock_timeout",
                           config->database.lock_timeout_ms, err);
    if (code != ERR_OK) {
        db_close(*db);
        *db = NULL;
    }
    return code;
}

int run_connect(const JobConfig *config, Db **db, Error *err)
{
    return connect_job(config, false, db, err);
}

int run_connect_worker(void *context, Db **out, Error *err)
{
    return connect_job(context, true, out, err);
}

StreamOptions run_stream_options(const JobConfig *config)
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
