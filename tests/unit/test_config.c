/*
 * Unit tests of the config module: a full file lands in the right fields,
 * absent keys take their documented defaults, and every class of mistake is
 * an ERR_CONFIG error that points at the right line and column and says
 * what was expected. The example and demo configs in config/ must load
 * (the test runs from the repository root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"

/* A valid minimal file of 7 lines, ending inside the strategy mapping, so a
 * test can append "  key: value" on line 8 (strategy level) or a top-level
 * section from line 8. */
#define BASE                                                                                       \
    "job: t\n"                                                                                     \
    "source:\n"                                                                                    \
    "  table: images\n"                                                                            \
    "  id: id\n"                                                                                   \
    "  score: score\n"                                                                             \
    "strategy:\n"                                                                                  \
    "  by: score\n"

static int parse_length(const char *text, size_t length, JobConfig **config, Error *err)
{
    error_clear(err);
    *config = (JobConfig *)(uintptr_t)1; /* must be reset on failure */
    return config_parse("t.yaml", text, length, config, err);
}

static JobConfig *parse_ok(const char *text)
{
    JobConfig *config = NULL;
    Error err;
    int code = parse_length(text, strlen(text), &config, &err);
    if (code != ERR_OK)
        fail_msg("expected a valid config, got %d: %s\n--- input:\n%s", code, err.message, text);
    assert_non_null(config);
    return config;
}

/*
 * The parse fails with ERR_CONFIG, *out NULL, the message starts with
 * "t.yaml:POSITION: " and holds every fragment given.
 */
static void expect_error_length(const char *text, size_t length, const char *position,
                                const char *fragment, const char *fragment2)
{
    JobConfig *config = NULL;
    Error err;
    int code = parse_length(text, length, &config, &err);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.yaml:%s: ", position);
    if (code != ERR_CONFIG)
        fail_msg("expected ERR_CONFIG, got %d (%s)\n--- input:\n%s", code, err.message, text);
    assert_null(config);
    if (strncmp(err.message, prefix, strlen(prefix)) != 0)
        fail_msg("expected the message to start with \"%s\", got:\n%s", prefix, err.message);
    if (strstr(err.message, fragment) == NULL)
        fail_msg("expected the message to hold \"%s\", got:\n%s", fragment, err.message);
    if (fragment2 != NULL && strstr(err.message, fragment2) == NULL)
        fail_msg("expected the message to hold \"%s\", got:\n%s", fragment2, err.message);
    /* The house style: lowercase first word, no final full stop. */
    const char *body = err.message + strlen(prefix);
    assert_false(body[0] >= 'A' && body[0] <= 'Z');
    assert_int_not_equal(err.message[strlen(err.message) - 1], '.');
}

static void expect_error(const char *text, const char *position, const char *fragment)
{
    expect_error_length(text, strlen(text), position, fragment, NULL);
}

static void expect_error_hint(const char *text, const char *position, const char *fragment,
                              const char *hint)
{
    expect_error_length(text, strlen(text), position, fragment, hint);
}

/* ---- valid files ------------------------------------------------------- */

static void test_full_config_sets_every_field(void **state)
{
    (void)state;
    setenv("PP_TEST_URL", "postgresql://u@db/images", 1);
    const char *text = "job: full.job-1\n"
                       "database:\n"
                       "  conninfo: ${PP_TEST_URL}\n"
                       "  statement_timeout: 90s\n"
                       "  lock_timeout: 500ms\n"
                       "  connect_retries: 7\n"
                       "  connect_timeout: 2min\n"
                       "source:\n"
                       "  query: \"SELECT * FROM images WHERE ok\"\n"
                       "  id: job_uuid\n"
                       "  score: score\n"
                       "  variance: score_variance\n"
                       "  date: created_at\n"
                       "  embedding: \"vec::real[]\"\n"
                       "  category: topic\n"
                       "  image_path: images/{id}.jpg\n"
                       "  image_root: /srv/img\n"
                       "  embedding_dim: 768\n"
                       "  on_bad_row: error\n"
                       "filters:\n"
                       "  score: {min: -0.5, max: 3.25}\n"
                       "  variance:\n"
                       "    min: 0\n"
                       "    max: 0.05\n"
                       "  date: {from: 2024-02-29, to: \"2024-03-01T12:30:15.5+02:00\"}\n"
                       "strategy:\n"
                       "  by: [embedding, score]\n"
                       "  bins: 7\n"
                       "  binning: fixed\n"
                       "  clusters: 12\n"
                       "  kmeans:\n"
                       "    algorithm: lloyd\n"
                       "    max_iter: 55\n"
                       "    n_init: 4\n"
                       "    batch_size: 256\n"
                       "    metric: euclidean\n"
                       "    tolerance: 0.5e-3\n"
                       "  max_pairs: 5000000000\n"
                       "  seed: 9007199254740991\n"
                       "output:\n"
                       "  table: public.pairs\n"
                       "resources:\n"
                       "  memory_limit: 1GiB\n"
                       "  workers: 8\n";
    JobConfig *c = parse_ok(text);
    assert_string_equal(c->path, "t.yaml");
    assert_int_equal(c->text_length, strlen(text));
    assert_memory_equal(c->text, text, strlen(text));
    assert_string_equal(c->job, "full.job-1");
    assert_string_equal(c->database.conninfo, "postgresql://u@db/images");
    assert_int_equal(c->database.statement_timeout_ms, 90000);
    assert_int_equal(c->database.lock_timeout_ms, 500);
    assert_int_equal(c->database.connect_retries, 7);
    assert_int_equal(c->database.connect_timeout_ms, 120000);
    assert_null(c->source.table);
    assert_string_equal(c->source.query, "SELECT * FROM images WHERE ok");
    assert_string_equal(c->source.id, "job_uuid");
    assert_string_equal(c->source.score, "score");
    assert_string_equal(c->source.variance, "score_variance");
    assert_string_equal(c->source.date, "created_at");
    assert_string_equal(c->source.embedding, "vec::real[]");
    assert_string_equal(c->source.category, "topic");
    assert_string_equal(c->source.image_path, "images/{id}.jpg");
    assert_string_equal(c->source.image_root, "/srv/img");
    assert_int_equal(c->source.embedding_dim, 768);
    assert_int_equal(c->source.on_bad_row, BAD_ROW_ERROR);
    assert_true(c->filters.score_min.set && c->filters.score_max.set);
    assert_true(c->filters.score_min.value == -0.5);
    assert_true(c->filters.score_max.value == 3.25);
    assert_true(c->filters.variance_min.set && c->filters.variance_min.value == 0.0);
    assert_true(c->filters.variance_max.set && c->filters.variance_max.value == 0.05);
    assert_true(c->filters.date_from.set && c->filters.date_from.date_only);
    assert_string_equal(c->filters.date_from.text, "2024-02-29");
    assert_true(c->filters.date_to.set && !c->filters.date_to.date_only);
    assert_string_equal(c->filters.date_to.text, "2024-03-01T12:30:15.5+02:00");
    assert_int_equal(c->filters.date_last_ms, 0);
    assert_int_equal(c->strategy.by, STRATEGY_EMBEDDING_SCORE);
    assert_int_equal(c->strategy.bins, 7);
    assert_int_equal(c->strategy.binning, BINNING_FIXED);
    assert_int_equal(c->strategy.clusters, 12);
    assert_int_equal(c->strategy.kmeans.algorithm, KMEANS_LLOYD);
    assert_int_equal(c->strategy.kmeans.max_iter, 55);
    assert_int_equal(c->strategy.kmeans.n_init, 4);
    assert_int_equal(c->strategy.kmeans.batch_size, 256);
    assert_int_equal(c->strategy.kmeans.metric, KMEANS_EUCLIDEAN);
    assert_true(c->strategy.kmeans.tolerance == 0.5e-3);
    assert_true(c->strategy.max_pairs == INT64_C(5000000000));
    assert_true(c->strategy.seed_set);
    assert_true(c->strategy.seed == RNG_SEED_MAX);
    assert_string_equal(c->output.table, "public.pairs");
    assert_true(c->resources.memory_limit_bytes == INT64_C(1073741824));
    assert_int_equal(c->resources.workers, 8);
    config_free(c);
}

static void test_defaults(void **state)
{
    (void)state;
    JobConfig *c = parse_ok(BASE);
    assert_string_equal(c->job, "t");
    assert_string_equal(c->source.table, "images");
    assert_null(c->source.query);
    assert_null(c->database.conninfo);
    assert_int_equal(c->database.statement_timeout_ms, 0);
    assert_int_equal(c->database.lock_timeout_ms, 0);
    assert_int_equal(c->database.connect_retries, 3);
    assert_int_equal(c->database.connect_timeout_ms, 10000);
    assert_null(c->source.variance);
    assert_null(c->source.embedding);
    assert_int_equal(c->source.embedding_dim, 0);
    assert_int_equal(c->source.on_bad_row, BAD_ROW_SKIP);
    assert_false(c->filters.score_min.set || c->filters.score_max.set);
    assert_false(c->filters.variance_min.set || c->filters.variance_max.set);
    assert_false(c->filters.date_from.set || c->filters.date_to.set);
    assert_int_equal(c->filters.date_last_ms, 0);
    assert_int_equal(c->strategy.by, STRATEGY_SCORE);
    assert_int_equal(c->strategy.bins, 10);
    assert_int_equal(c->strategy.binning, BINNING_QUANTILE);
    assert_int_equal(c->strategy.clusters, 50);
    assert_int_equal(c->strategy.kmeans.algorithm, KMEANS_MINIBATCH);
    assert_int_equal(c->strategy.kmeans.max_iter, 100);
    assert_int_equal(c->strategy.kmeans.n_init, 3);
    assert_int_equal(c->strategy.kmeans.batch_size, 1024);
    assert_int_equal(c->strategy.kmeans.metric, KMEANS_COSINE);
    assert_true(c->strategy.kmeans.tolerance == 1e-4);
    assert_int_equal(c->strategy.max_pairs, 1000);
    assert_false(c->strategy.seed_set);
    assert_string_equal(c->output.table, "pending_annotation_pairs");
    assert_int_equal(c->resources.memory_limit_bytes, 0);
    assert_int_equal(c->resources.workers, 0);
    config_free(c);

    /* A section left empty (every key under it commented out) is fine. */
    c = parse_ok(BASE "filters:\n  # score: {min: 1}\nresources:\n");
    assert_false(c->filters.score_min.set);
    config_free(c);
}

static void test_informative_keys(void **state)
{
    (void)state;
    JobConfig *c = parse_ok(BASE);
    /* prefer's default: informative with by: score, random with the others */
    assert_int_equal(c->strategy.prefer, INFORM_INFORMATIVE);
    config_free(c);
    c = parse_ok(BASE "  prefer: random\n");
    assert_int_equal(c->strategy.prefer, INFORM_RANDOM);
    config_free(c);
    static const char *const others[] = {
        "job: t\nsource: {table: a, id: i, category: c, score: s}\nstrategy:\n  by: category\n",
        "job: t\nsource: {table: a, id: i, embedding: e, score: s}\nstrategy:\n  by: embedding\n",
        "job: t\nsource: {table: a, id: i, embedding: e, score: s}\nstrategy:\n"
        "  by: [embedding, score]\n"};
    for (size_t k = 0; k < sizeof others / sizeof others[0]; k++) {
        c = parse_ok(others[k]);
        assert_int_equal(c->strategy.prefer, INFORM_RANDOM);
        config_free(c);
    }
    c = parse_ok(BASE);
    assert_true(c->strategy.score_sigma == 0.1);
    assert_true(c->strategy.beta == 0.1);
    assert_int_equal(c->strategy.window, 8);
    assert_true(c->strategy.explore_fraction == 0);
    assert_int_equal(c->strategy.max_exposure, 0);
    assert_false(c->strategy.max_similarity.set);
    assert_int_equal(c->output.max_pending, 0);
    config_free(c);

    c = parse_ok("job: t\nsource: {table: a, id: i, score: s, embedding: e}\n"
                 "strategy:\n  by: embedding\n  prefer: uncertain\n  score_sigma: 0.3\n"
                 "  beta: 0.05\n  window: 4\n  explore_fraction: 0.1\n  max_exposure: 3\n"
                 "  max_similarity: 0.98\noutput:\n  max_pending: 500\n");
    assert_int_equal(c->strategy.prefer, INFORM_UNCERTAIN);
    assert_true(c->strategy.score_sigma == 0.3 && c->strategy.beta == 0.05);
    assert_int_equal(c->strategy.window, 4);
    assert_true(c->strategy.explore_fraction == 0.1);
    assert_int_equal(c->strategy.max_exposure, 3);
    assert_true(c->strategy.max_similarity.set && c->strategy.max_similarity.value == 0.98);
    assert_int_equal(c->output.max_pending, 500);
    config_free(c);

    expect_error(BASE "  prefer: uncertian\n", "8:11", "expected one of random, uncertain");
    expect_error(BASE "  explore_fraction: 1.5\n", "8:21", "expected a number <= 1");
    expect_error(BASE "  beta: 0\n", "8:9", "strategy.beta: expected a number >=");
    expect_error(BASE "  window: 0\n", "8:11", "expected an integer >= 1");
    expect_error(BASE "  max_exposure: -1\n", "8:17", "expected an integer >= 1");
    expect_error(BASE "output:\n  max_pending: 0\n", "9:16", "expected an integer >= 1");
    expect_error_hint(BASE "  max_similarity: 0.98\n", "8:19", "needs source.embedding",
                      "add embedding: COLUMN under source");
    expect_error_hint("job: t\nsource: {table: a, id: i, category: c}\nstrategy:\n"
                      "  by: category\n  prefer: uncertain\n",
                      "5:11", "uncertain needs source.score", "prefer: random");
    expect_error("job: t\nsource: {table: a, id: i, category: c}\nstrategy:\n"
                 "  by: category\n  explore_fraction: 0.2\n",
                 "5:21", "expected 0 with by: category");
}

static void test_strategy_forms(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        StrategyBy by;
        const char *name;
    } cases[] = {
        {"  by: score\n", STRATEGY_SCORE, "score"},
        {"  by: category\n", STRATEGY_CATEGORY, "category"},
        {"  by: embedding\n", STRATEGY_EMBEDDING, "embedding"},
        {"  by: \"embedding\"\n", STRATEGY_EMBEDDING, "embedding"},
        {"  by: [embedding, score]\n", STRATEGY_EMBEDDING_SCORE, "[embedding, score]"},
        {"  by:\n    - embedding\n    - score\n", STRATEGY_EMBEDDING_SCORE, "[embedding, score]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "job: t\nsource: {table: a, id: i, score: s, category: c, embedding: e}\n"
                 "strategy:\n%s",
                 cases[i].text);
        JobConfig *c = parse_ok(text);
        assert_int_equal(c->strategy.by, cases[i].by);
        assert_string_equal(config_strategy_name(c->strategy.by), cases[i].name);
        config_free(c);
    }
}

static void test_duration_parsing(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool ok;
        int64_t ms;
    } cases[] = {
        {"500ms", true, 500},
        {"0ms", true, 0},
        {"30s", true, 30000},
        {"10min", true, 600000},
        {"12h", true, 43200000},
        {"7d", true, 604800000},
        {"007s", true, 7000},
        {"106751991167d", true, INT64_C(106751991167) * 86400000},
        {"106751991168d", false, 0}, /* overflows int64 milliseconds */
        {"99999999999999999999ms", false, 0},
        {"10m", false, 0}, /* minutes or months: refused */
        {"10", false, 0},
        {"s", false, 0},
        {"", false, 0},
        {"-5s", false, 0},
        {"+5s", false, 0},
        {"1.5h", false, 0},
        {"10 s", false, 0},
        {" 10s", false, 0},
        {"10S", false, 0},
        {"10sec", false, 0},
        {"10mins", false, 0},
        {"5h30min", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        bool ok = config_parse_duration(cases[i].text, &ms);
        if (ok != cases[i].ok)
            fail_msg("config_parse_duration(\"%s\") returned %d", cases[i].text, ok);
        if (ok)
            assert_true(ms == cases[i].ms);
    }
    assert_false(config_parse_duration(NULL, NULL));
}

static void test_byte_sizes_and_dates(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t bytes;
    } sizes[] = {
        {"0", 0},
        {"1000", 1000},
        {"1000B", 1000},
        {"2kB", 2000},
        {"512MB", 512000000},
        {"2GB", 2000000000},
        {"1TB", INT64_C(1000000000000)},
        {"3KiB", 3072},
        {"1GiB", INT64_C(1) << 30},
        {"\"64MiB\"", INT64_C(64) << 20},
        {"2TiB", INT64_C(2) << 40},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, BASE "resources: {memory_limit: %s}\n", sizes[i].text);
        JobConfig *c = parse_ok(text);
        assert_true(c->resources.memory_limit_bytes == sizes[i].bytes);
        config_free(c);
    }

    static const struct {
        const char *text;
        bool date_only;
    } dates[] = {
        {"2024-02-29", true}, /* leap year */
        {"2000-02-29", true}, /* divisible by 400 */
        {"2026-12-31", true},
        {"2026-11-01T12:00", false},
        {"\"2026-11-01 12:00:59\"", false},
        {"2026-11-01T00:00:00Z", false},
        {"2026-11-01T23:59:59.123456-05:30", false},
        {"2026-11-01T08:15+02", false},
    };
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "job: t\nsource: {table: a, id: i, score: s, date: d}\nstrategy: {by: score}\n"
                 "filters:\n  date:\n    from: %s\n",
                 dates[i].text);
        JobConfig *c = parse_ok(text);
        assert_true(c->filters.date_from.set);
        assert_int_equal(c->filters.date_from.date_only, dates[i].date_only);
        const char *expected = dates[i].text + (dates[i].text[0] == '"');
        assert_memory_equal(c->filters.date_from.text, expected,
                            strlen(expected) - (dates[i].text[0] == '"'));
        config_free(c);
    }

    JobConfig *c = parse_ok("job: t\nsource: {table: a, id: i, score: s, date: d}\n"
                            "strategy: {by: score}\nfilters: {date: {last: 7d}}\n");
    assert_int_equal(c->filters.date_last_ms, 7 * 86400000);
    assert_false(c->filters.date_from.set);
    config_free(c);

    /* Same day as from and to is a valid one-day window. */
    c = parse_ok("job: t\nsource: {table: a, id: i, score: s, date: d}\n"
                 "strategy: {by: score}\nfilters: {date: {from: 2026-11-01, to: 2026-11-01}}\n");
    assert_true(c->filters.date_to.date_only);
    config_free(c);
}

static void test_quoted_text_forms_accepted(void **state)
{
    (void)state;
    /* Enum names, durations and dates may be quoted; only numbers may not. */
    JobConfig *c = parse_ok(BASE "  binning: \"fixed\"\n"
                                 "database: {statement_timeout: '45s'}\n");
    assert_int_equal(c->strategy.binning, BINNING_FIXED);
    assert_int_equal(c->database.statement_timeout_ms, 45000);
    config_free(c);

    /* A UTF-8 byte order mark is skipped; positions stay those of the text. */
    c = parse_ok("\xEF\xBB\xBF" BASE);
    assert_string_equal(c->job, "t");
    assert_int_equal(c->text_length, strlen(BASE) + 3);
    config_free(c);
    expect_error("\xEF\xBB\xBF" BASE "  bins: 0\n", "8:9",
                 "strategy.bins: expected an integer >= 1");
}

static void test_environment_expansion(void **state)
{
    (void)state;
    setenv("PP_TEST_A", "alpha", 1);
    setenv("PP_TEST_EMPTY", "", 1);
    unsetenv("PP_TEST_UNSET");
    JobConfig *c = parse_ok("job: ${PP_TEST_A}-job\n"
                            "database: {conninfo: \"${PP_TEST_UNSET:-}\"}\n"
                            "source:\n"
                            "  table: pre_${PP_TEST_A}_post\n"
                            "  id: ${PP_TEST_UNSET:-fallback id}\n"
                            "  score: ${PP_TEST_EMPTY:-empty means default}\n"
                            "  category: $$x and a$b and $\n"
                            "  variance: ${PP_TEST_A:-unused}\n"
                            "strategy: {by: score}\n");
    assert_string_equal(c->job, "alpha-job");
    assert_null(c->database.conninfo); /* empty: libpq's PG* variables */
    assert_string_equal(c->source.table, "pre_alpha_post");
    assert_string_equal(c->source.id, "fallback id");
    assert_string_equal(c->source.score, "empty means default");
    assert_string_equal(c->source.category, "$x and a$b and $");
    assert_string_equal(c->source.variance, "alpha");
    config_free(c);

    /* A set but empty variable without a default expands to empty. */
    expect_error("job: t\nsource:\n  table: \"${PP_TEST_EMPTY}\"\n  id: i\n", "3:10",
                 "source.table: expected a non-empty string, got an empty string");
    expect_error_hint(
        "job: t\nsource:\n  table: a\n  id: i\ndatabase:\n  conninfo: x${PP_TEST_UNSET}\n", "6:13",
        "database.conninfo: environment variable \"PP_TEST_UNSET\" is not set",
        "HINT: set PP_TEST_UNSET in the environment, or write ${PP_TEST_UNSET:-default}");
    expect_error("job: ${PP_TEST_UNSET}\n", "1:6", "job: environment variable \"PP_TEST_UNSET\"");
    expect_error_hint("job: t\nsource: {table: \"${PP_TEST_A\", id: i}\n", "2:17",
                      "source.table: unterminated \"${\"", "HINT: write $$ for a literal $");
    expect_error("job: t\nsource: {table: \"${PP TEST}\", id: i}\n", "2:17",
                 "source.table: invalid variable reference \"${PP TEST}\"");
    expect_error("job: t\nsource: {table: \"${}\", id: i}\n", "2:17",
                 "invalid variable reference \"${}\"");
    /* Expansion happens before the job name check. */
    setenv("PP_TEST_BAD", "two words", 1);
    expect_error("job: ${PP_TEST_BAD}\n", "1:6", "job: expected a name of 1 to 63 characters");
}

/* ---- errors: the file as a whole --------------------------------------- */

static void test_file_level_errors(void **state)
{
    (void)state;
    expect_error("", "1:1", "the file has no keys, expected a mapping of keys");
    expect_error("# only a comment\n\n", "1:1", "the file has no keys");
    expect_error("---\n", "1:1", "the file has no keys");
    expect_error("- job\n- t\n", "1:1",
                 "expected a mapping of keys at the top level, got a sequence");
    expect_error("just text\n", "1:1",
                 "expected a mapping of keys at the top level, got \"just text\"");
    expect_error_hint(BASE "---\njob: u\n", "8:1", "a second YAML document, expected one document",
                      "HINT: keep one job per file");
    expect_error_hint(BASE "  seed: !!int 3\n", "8:9", "tags are not supported",
                      "HINT: remove the tag");

    /* Too large: refused before parsing, whatever it holds. */
    size_t big = ((size_t)1 << 20) + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, '#', big);
    expect_error_length(text, big, "1:1", "the file is too large, expected at most 1048576 bytes",
                        NULL);
    text[0] = '\n';
    expect_error_length(text, big - 1, "1:1", "the file has no keys", NULL); /* 1 MiB is fine */
    free(text);
}

static void test_yaml_syntax_errors(void **state)
{
    (void)state;
    expect_error("job: [unclosed\n", "2:1",
                 "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence "
                 "at 1:6)");
    expect_error("job: t\n  id: x\n", "2:5", "invalid YAML: mapping values are not allowed");
    /* A tab in the indentation: libyaml's words, and ours on what to do. */
    expect_error_hint("job: t\nstrategy:\n\tby: score\n", "3:1",
                      "invalid YAML: found character that cannot start any token",
                      "HINT: indent with spaces: YAML does not allow tabs in indentation");
    expect_error_hint(BASE "\tbins: 3\n", "8:1", "invalid YAML: found a tab character",
                      "HINT: indent with spaces");
    /* Not UTF-8: where, and that it is about the encoding. */
    expect_error_hint("job: t\nsource:\n  table: caf\xE9\n", "3:13", "the file is not valid UTF-8",
                      "HINT: save the file as UTF-8 text");
    expect_error_length("\xFF\xFEj\0o\0b\0", 8, "1:1", "the file is not valid UTF-8",
                        "HINT: the file looks like UTF-16");
    expect_error_length("job: t\0x\n", 9, "1:7", "the file contains a control character (0x00)",
                        NULL);
    /* Aliases are refused outright (no billion laughs); the anchor alone is harmless. */
    expect_error_hint("job: &name t\nsource:\n  table: *name\n", "3:10",
                      "aliases are not supported (*name)", "HINT: write the value out again");
    expect_error("a: &a [x, x]\nb: &b [*a, *a]\n", "2:8", "aliases are not supported (*a)");
    JobConfig *c = parse_ok("job: &name t\n"
                            "source: {table: a, id: i, score: s}\n"
                            "strategy: {by: score}\n");
    config_free(c);

    /* Deep nesting stops at 32 levels, before the key table is consulted. */
    char deep[256] = "job: t\nx: ";
    size_t used = strlen(deep);
    for (int i = 0; i < 40; i++)
        deep[used++] = '[';
    for (int i = 0; i < 40; i++)
        deep[used++] = ']';
    deep[used] = '\0';
    expect_error(deep, "2:35", "nesting is too deep, expected at most 32 levels");
}

/* ---- errors: keys ------------------------------------------------------- */

static void test_unknown_keys_and_suggestions(void **state)
{
    (void)state;
    expect_error(BASE "  binz: 3\n", "8:3",
                 "unknown key \"strategy.binz\" (did you mean \"bins\"?)");
    expect_error(BASE "  clustres: 3\n", "8:3",
                 "(did you mean \"clusters\"?)"); /* swapped letters */
    expect_error(BASE "  kmeans: {max_iters: 3}\n", "8:12",
                 "unknown key \"strategy.kmeans.max_iters\" (did you mean \"max_iter\"?)");
    expect_error("jbo: t\n", "1:1", "unknown key \"jbo\" (did you mean \"job\"?)");
    expect_error(BASE "  Seed: 3\n", "8:3", "(did you mean \"seed\"?)");
    /* At the wrong level: the full path of the one key of that name. */
    expect_error(BASE "bins: 3\n", "8:1", "unknown key \"bins\" (did you mean \"strategy.bins\"?)");
    expect_error(BASE "  statement_timeout: 3s\n", "8:3",
                 "(did you mean \"database.statement_timeout\"?)");
    /* Nothing close: the keys allowed there. */
    expect_error_hint(BASE "  colour: red\n", "8:3", "unknown key \"strategy.colour\"",
                      "HINT: the keys allowed in strategy are by, bins, binning, clusters, "
                      "clusters_from, kmeans, max_pairs, seed");
    expect_error_hint("version: 1\n", "1:1", "unknown key \"version\"",
                      "HINT: the keys allowed at the top level are job, database, source, filters, "
                      "strategy, output, resources");
    /* A dotted key is not a path. */
    expect_error(BASE "strategy.bins: 3\n", "8:1", "unknown key \"strategy.bins\"");
    /* A key that is not a scalar. */
    expect_error(BASE "  ? [a, b]\n  : c\n", "8:5",
                 "strategy: expected a key name, got a sequence");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    expect_error_hint(BASE "  bins: 3\n  bins: 4\n", "9:3",
                      "strategy.bins: duplicate key, first defined at 8:3",
                      "HINT: keep one of them");
    expect_error(BASE "job: u\n", "8:1", "job: duplicate key, first defined at 1:1");
    expect_error(BASE "  kmeans: {n_init: 1, \"n_init\": 2}\n", "8:23",
                 "strategy.kmeans.n_init: duplicate key, first defined at 8:12");
    expect_error(BASE "source:\n  id: x\n", "8:1", "source: duplicate key, first defined at 2:1");
}

static void test_required_keys(void **state)
{
    (void)state;
    expect_error_hint("source: {table: a, id: i, score: s}\nstrategy: {by: score}\n", "1:1",
                      "job: required key is missing", "HINT: add job: NAME");
    expect_error_hint("job: t\nsource:\n  table: a\n  score: s\nstrategy: {by: score}\n", "3:3",
                      "source.id: required key is missing", "HINT: add id: COLUMN under source");
    expect_error("job: t\nstrategy: {by: score}\n", "1:1", "source.id: required key is missing");
    expect_error("job: t\nsource: {table: a, id: i, score: s}\nstrategy:\n  bins: 3\n", "4:3",
                 "strategy.by: required key is missing");
    expect_error_hint("job: t\nsource:\n  id: i\n  score: s\nstrategy: {by: score}\n", "3:3",
                      "source: expected source.table or source.query, got neither",
                      "HINT: add table: SCHEMA.TABLE");
    expect_error("job: t\nsource:\n  table: a\n  id: i\n  query: SELECT 1\nstrategy: {by: score}\n",
                 "5:10",
                 "source.query: cannot be combined with source.table (at 3:10), expected "
                 "exactly one of them");
}

/* ---- errors: values ----------------------------------------------------- */

static void test_integer_errors(void **state)
{
    (void)state;
    expect_error(BASE "  bins: 0\n", "8:9", "strategy.bins: expected an integer >= 1, got \"0\"");
    expect_error(BASE "  bins: -3\n", "8:9", "strategy.bins: expected an integer >= 1, got \"-3\"");
    expect_error(BASE "  bins: 100001\n", "8:9",
                 "strategy.bins: expected an integer <= 100000, got \"100001\"");
    expect_error(BASE "  bins: ten\n", "8:9",
                 "strategy.bins: expected an integer from 1 to 100000, got \"ten\"");
    expect_error(BASE "  bins: 10x\n", "8:9", "expected an integer from 1 to 100000, got \"10x\"");
    expect_error(BASE "  bins: 1.5\n", "8:9", "expected an integer from 1 to 100000, got \"1.5\"");
    expect_error(BASE "  bins: 0x10\n", "8:9", "got \"0x10\"");
    expect_error_hint(BASE "  bins: 010\n", "8:9", "got \"010\"",
                      "HINT: write the number without leading zeros");
    expect_error(BASE "  bins: 99999999999999999999\n", "8:9",
                 "got \"99999999999999999999\" (out of range)");
    expect_error_hint(BASE "  bins: \"10\"\n", "8:9",
                      "strategy.bins: expected an integer from 1 to 100000, got the quoted string "
                      "\"10\"",
                      "HINT: write numbers without quotes");
    expect_error(BASE "  bins: {a: 1}\n", "8:9",
                 "strategy.bins: expected an integer from 1 to 100000, got a mapping");
    expect_error(BASE "  bins: [1]\n", "8:9", "got a sequence");
    expect_error_hint(BASE "  bins:\n", "8:8",
                      "strategy.bins: expected an integer from 1 to 100000, got an empty value",
                      "HINT: give a value, or remove the key");
    expect_error(BASE "  bins: ~\n", "8:9", "got an empty value");
    expect_error(BASE "  clusters: 100001\n", "8:13",
                 "strategy.clusters: expected an integer <= 100000");
    expect_error(BASE "  max_pairs: 0\n", "8:14",
                 "strategy.max_pairs: expected an integer >= 1, got \"0\"");
    expect_error(BASE "  max_pairs: 9223372036854775808\n", "8:14",
                 "strategy.max_pairs: expected an integer >= 1, got \"9223372036854775808\" "
                 "(out of range)");
    /* Spans the server subtracts from a timestamp: at most 1000 years. */
    expect_error(BASE "  kmeans: {refit_after: 365251d}\n", "8:25",
                 "strategy.kmeans.refit_after");
    expect_error(BASE "filters: {date: {last: 9223372036854775807ms}}\n", "8:24",
                 "filters.date.last");
    expect_error(BASE "  kmeans: {n_init: 1001}\n", "8:20",
                 "strategy.kmeans.n_init: expected an integer <= 1000");
    expect_error(BASE "  kmeans:\n    max_iter: 0\n", "9:15",
                 "strategy.kmeans.max_iter: expected an integer >= 1");
    expect_error(BASE "  kmeans:\n    batch_size: 10000001\n", "9:17",
                 "strategy.kmeans.batch_size: expected an integer <= 10000000");
    expect_error(BASE "database: {connect_retries: 101}\n", "8:29",
                 "database.connect_retries: expected an integer <= 100");
    expect_error(BASE "resources: {workers: 257}\n", "8:22",
                 "resources.workers: expected an integer <= 256");
    expect_error(BASE "resources: {workers: -1}\n", "8:22",
                 "resources.workers: expected an integer >= 0");
    expect_error("job: t\nsource:\n  table: a\n  id: i\n  embedding_dim: 0\n", "5:18",
                 "source.embedding_dim: expected an integer >= 1, got \"0\"");
    expect_error(BASE "  seed: -1\n", "8:9",
                 "strategy.seed: expected an integer from 0 to 9007199254740991, got \"-1\"");
    expect_error(BASE "  seed: 18446744073709551616\n", "8:9", "(out of range)");
    /* Seeds at or above 2^53 would not survive JSON readers that hold doubles. */
    expect_error(BASE "  seed: 9007199254740992\n", "8:9",
                 "strategy.seed: expected an integer from 0 to 9007199254740991, got \"9007199254740992\"");
    expect_error(BASE "  seed: forty-two\n", "8:9", "strategy.seed: expected an integer");

    JobConfig *c = parse_ok(BASE "  seed: 0\n");
    assert_true(c->strategy.seed_set && c->strategy.seed == 0);
    config_free(c);
}

static void test_number_errors(void **state)
{
    (void)state;
    expect_error(BASE "  kmeans: {tolerance: -1}\n", "8:23",
                 "strategy.kmeans.tolerance: expected a number >= 0, got \"-1\"");
    expect_error(
        BASE "  kmeans: {tolerance: .inf}\n", "8:23",
        "strategy.kmeans.tolerance: expected a number >= 0, got \".inf\" (not a finite number)");
    expect_error(BASE "  kmeans: {tolerance: .NaN}\n", "8:23", "(not a finite number)");
    expect_error(BASE "  kmeans: {tolerance: 1e999}\n", "8:23",
                 "got \"1e999\" (not a finite number)");
    expect_error(BASE "  kmeans: {tolerance: 0x1p3}\n", "8:23",
                 "expected a number >= 0, got \"0x1p3\"");
    expect_error(BASE "  kmeans: {tolerance: small}\n", "8:23", "got \"small\"");
    expect_error_hint(BASE "filters: {score: {min: '0.5'}}\n", "8:24",
                      "filters.score.min: expected a number, got the quoted string \"0.5\"",
                      "HINT: write numbers without quotes");
    expect_error(BASE "filters: {score: {min: 1.5.2}}\n", "8:24",
                 "filters.score.min: expected a number, got \"1.5.2\"");
    expect_error(BASE "filters: {score: [1, 2]}\n", "8:18",
                 "filters.score: expected a mapping of keys, got a sequence");
    expect_error(BASE "filters: {score: 1}\n", "8:18",
                 "filters.score: expected a mapping of keys, got \"1\"");
    expect_error("job: t\nsource: [a, b]\n", "2:9",
                 "source: expected a mapping of keys, got a sequence");
}

static void test_text_value_errors(void **state)
{
    (void)state;
    expect_error("job: \"bad name!\"\n", "1:6",
                 "job: expected a name of 1 to 63 characters from A-Z, a-z, 0-9, '_', '.' and '-', "
                 "got \"bad name!\"");
    expect_error("job: ''\n", "1:6", "job: expected a name of 1 to 63 characters");
    expect_error("job:\n", "1:5", "job: expected a name");
    expect_error("job: a234567890123456789012345678901234567890123456789012345678901234\n", "1:6",
                 "job: expected a name of 1 to 63 characters");
    JobConfig *c = parse_ok("job: a23456789012345678901234567890123456789012345678901234567890123\n"
                            "source: {table: a, id: i, score: s}\nstrategy: {by: score}\n");
    assert_int_equal(strlen(c->job), 63);
    config_free(c);
    expect_error("job: t\nsource:\n  table: \"\"\n", "3:10",
                 "source.table: expected a non-empty string, got an empty string");
    expect_error("job: t\nsource:\n  table: {a: b}\n", "3:10",
                 "source.table: expected a non-empty string, got a mapping");
    /* "\0" is a YAML escape: the value holds a NUL that C strings cannot carry. */
    expect_error("job: t\nsource:\n  table: \"a\\0b\"\n", "3:10",
                 "source.table: expected a non-empty string, got a value holding a NUL character");
    expect_error(BASE "  binning: quantil\n", "8:12",
                 "strategy.binning: expected one of quantile, fixed, got \"quantil\"");
    expect_error(BASE "  kmeans: {algorithm: elkan}\n", "8:23",
                 "strategy.kmeans.algorithm: expected one of minibatch, lloyd, got \"elkan\"");
    expect_error(BASE "  kmeans: {metric: manhattan}\n", "8:20",
                 "strategy.kmeans.metric: expected one of cosine, euclidean");
    expect_error("job: t\nsource:\n  on_bad_row: maybe\n", "3:15",
                 "source.on_bad_row: expected one of error, skip, got \"maybe\"");
    /* Values are shown escaped and shortened. */
    expect_error(BASE "  binning: \"a\\\"b\\tc\"\n", "8:12", "got \"a\\\"b\\x09c\"");
    expect_error(
        BASE
        "  binning: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
        "8:12", "got \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"");
}

static void test_duration_and_size_errors(void **state)
{
    (void)state;
    expect_error_hint(BASE "database: {statement_timeout: 10}\n", "8:31",
                      "database.statement_timeout: expected a duration such as 500ms, 30s, 10min, "
                      "12h or 7d, got \"10\"",
                      "HINT: add a unit: ms, s, min, h or d");
    expect_error_hint(BASE "database:\n  lock_timeout: 10m\n", "9:17",
                      "database.lock_timeout: expected a duration", "HINT: \"m\" is ambiguous");
    expect_error(BASE "database:\n  lock_timeout: 0s\n", "9:17",
                 "database.lock_timeout: expected a duration > 0, got \"0s\"");
    expect_error(
        BASE "database:\n  statement_timeout: 30d\n", "9:22",
        "database.statement_timeout: expected a duration of at most 2147483647ms, got \"30d\"");
    expect_error(BASE "database:\n  connect_timeout: soon\n", "9:20",
                 "database.connect_timeout: expected a duration");
    expect_error(BASE "database:\n  connect_timeout: [1s]\n", "9:20", "got a sequence");
    expect_error(BASE "resources:\n  memory_limit: 12XB\n", "9:17",
                 "resources.memory_limit: expected a byte size such as 1048576, 512MB or 2GiB, got "
                 "\"12XB\"");
    expect_error(BASE "resources:\n  memory_limit: -5MB\n", "9:17", "got \"-5MB\"");
    expect_error(BASE "resources:\n  memory_limit: 9999999999TiB\n", "9:17",
                 "got \"9999999999TiB\"");
    expect_error(BASE "resources:\n  memory_limit: 1.5GB\n", "9:17", "expected a byte size");
}

static void test_date_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "2025-02-29", /* not a leap year */
        "1900-02-29", /* divisible by 100, not by 400 */
        "2026-04-31", /* April has 30 days */
        "2026-13-01",
        "2026-00-10",
        "2026-01-00",
        "0000-01-01",
        "2026-1-01",
        "26-11-01",
        "2026/11/01",
        "2026-11-01T24:00",
        "2026-11-01T12:60",
        "2026-11-01T12:00:61",
        "2026-11-01t12:00",
        "2026-11-01T12",
        "2026-11-01T12:00:00.",
        "2026-11-01T12:00+2",
        "2026-11-01T12:00Z junk",
        "yesterday",
        "2026-11-01T12:00:00.1234567890",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "job: t\nsource: {table: a, id: i, score: s, date: d}\nstrategy: {by: score}\n"
                 "filters:\n  date:\n    to: \"%s\"\n",
                 bad[i]);
        expect_error(text, "6:9", "filters.date.to: expected a date YYYY-MM-DD or a timestamp");
    }
    const char *head =
        "job: t\nsource: {table: a, id: i, score: s, date: d}\nstrategy: {by: score}\n";
    char text[512];
    snprintf(text, sizeof text, "%sfilters:\n  date:\n    from: 2026-11-28\n    to: 2026-11-01\n",
             head);
    expect_error(text, "7:9",
                 "filters.date.to: expected a date on or after filters.date.from "
                 "(2026-11-28), got \"2026-11-01\"");
    snprintf(text, sizeof text, "%sfilters:\n  date:\n    to: 2026-11-01\n    last: 7d\n", head);
    expect_error_hint(text, "7:11", "filters.date.last: cannot be combined with filters.date.to",
                      "HINT: keep either last, or from and to");
    snprintf(text, sizeof text, "%sfilters:\n  date: {last: 0ms}\n", head);
    expect_error(text, "5:16", "filters.date.last: expected a duration > 0");
    /* Mixed forms are not compared: the database decides. */
    snprintf(text, sizeof text, "%sfilters: {date: {from: 2026-11-28, to: '2026-11-01T00:00Z'}}\n",
             head);
    JobConfig *c = parse_ok(text);
    assert_true(c->filters.date_from.date_only && !c->filters.date_to.date_only);
    config_free(c);
}

static void test_rules_between_keys(void **state)
{
    (void)state;
    expect_error(BASE "filters:\n  score: {min: 5, max: 3}\n", "9:24",
                 "filters.score.max: expected a number >= filters.score.min (5), got 3");
    expect_error(
        "job: t\nsource: {table: a, id: i, score: s, variance: v}\nstrategy: {by: score}\n"
        "filters:\n  variance:\n    max: 0.01\n    min: 0.02\n",
        "6:10", "filters.variance.max: expected a number >= filters.variance.min (0.02), got 0.01");
    JobConfig *c = parse_ok(BASE "filters: {score: {min: 2, max: 2}}\n");
    assert_true(c->filters.score_min.value == 2.0 && c->filters.score_max.value == 2.0);
    config_free(c);

    /* A strategy needs its columns: the error points at `by`. */
    expect_error_hint("job: t\nsource: {table: a, id: i}\nstrategy:\n  by: score\n", "4:7",
                      "strategy.by: score needs source.score, which is not set",
                      "HINT: add score: COLUMN under source");
    expect_error("job: t\nsource: {table: a, id: i, score: s}\nstrategy:\n  by: category\n", "4:7",
                 "strategy.by: category needs source.category, which is not set");
    expect_error(
        "job: t\nsource: {table: a, id: i, score: s}\nstrategy:\n  bins: 3\n  by: embedding\n",
        "5:7", "strategy.by: embedding needs source.embedding, which is not set");
    expect_error_hint("job: t\nsource: {table: a, id: i}\nstrategy:\n  by: [embedding, score]\n",
                      "4:7",
                      "strategy.by: [embedding, score] needs source.embedding and source.score, "
                      "which are not set",
                      "HINT: add embedding: COLUMN and score: COLUMN under source");
    expect_error(
        "job: t\nsource: {table: a, id: i, score: s}\nstrategy:\n  by: [embedding, score]\n", "4:7",
        "[embedding, score] needs source.embedding, which is not set");
    /* A filter needs its column too. */
    expect_error_hint(BASE "filters:\n  variance: {max: 0.1}\n", "9:14",
                      "filters.variance.max: needs source.variance, which is not set",
                      "HINT: add variance: COLUMN under source");
    expect_error(BASE "filters:\n  date:\n    last: 7d\n", "10:5",
                 "filters.date.last: needs source.date, which is not set");

    /* strategy.by's own forms. */
    expect_error(
        "job: t\nsource: {table: a, id: i, score: s}\nstrategy:\n  by: scores\n", "4:7",
        "strategy.by: expected score, category, embedding or [embedding, score], got \"scores\"");
    expect_error_hint("job: t\nsource: {table: a, id: i, score: s, embedding: e}\nstrategy:\n"
                      "  by: [score, embedding]\n",
                      "4:7", "got [score, embedding]", "HINT: the one list is [embedding, score]");
    expect_error_hint("job: t\nsource: {table: a, id: i, score: s}\nstrategy:\n  by: [score]\n",
                      "4:7", "got [score]", "HINT: write a single strategy without brackets");
    expect_error("job: t\nsource: {table: a, id: i, score: s}\nstrategy:\n  by: []\n", "4:7",
                 "got []");
    expect_error("job: t\nsource: {table: a, id: i, score: s}\nstrategy:\n  by: {score: 1}\n",
                 "4:7", "got a mapping");
    expect_error("job: t\nsource: {table: a, id: i, score: s}\nstrategy:\n  by:\n", "4:6",
                 "strategy.by: expected score, category, embedding or [embedding, score], got an "
                 "empty value");
    expect_error("job: t\nsource: {table: a, id: i, score: s, embedding: e}\nstrategy:\n"
                 "  by: [embedding, [score]]\n",
                 "4:7", "got [embedding, ...]");
}

/* ---- files ------------------------------------------------------------- */

static void test_load_errors(void **state)
{
    (void)state;
    JobConfig *config = (JobConfig *)(uintptr_t)1;
    Error err;
    error_clear(&err);
    assert_int_equal(config_load("config/does-not-exist.yaml", &config, &err), ERR_CONFIG);
    assert_null(config);
    assert_string_equal(err.message,
                        "cannot read 'config/does-not-exist.yaml': No such file or directory");

    assert_int_equal(config_load("config", &config, &err), ERR_CONFIG);
    assert_string_equal(err.message, "cannot read 'config': Is a directory");

    /* A file over 1 MiB is refused at 1:1 with its path. */
    char path[] = "/tmp/pairpick-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *file = fdopen(fd, "w");
    assert_non_null(file);
    fputs(BASE, file);
    for (int i = 0; i < 20000; i++)
        fputs("# a comment line that makes the file larger than one mebibyte ...\n", file);
    fclose(file);
    assert_int_equal(config_load(path, &config, &err), ERR_CONFIG);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s:1:1: the file is too large", path);
    assert_memory_equal(err.message, prefix, strlen(prefix));

    /* A file of the right size loads, with its path and bytes kept. */
    file = fopen(path, "w");
    assert_non_null(file);
    fputs(BASE "  bins: 0\n", file);
    fclose(file);
    assert_int_equal(config_load(path, &config, &err), ERR_CONFIG);
    snprintf(prefix, sizeof prefix, "%s:8:9: strategy.bins: expected an integer >= 1", path);
    assert_memory_equal(err.message, prefix, strlen(prefix));
    file = fopen(path, "w");
    assert_non_null(file);
    fputs(BASE, file);
    fclose(file);
    assert_int_equal(config_load(path, &config, &err), ERR_OK);
    assert_string_equal(config->path, path);
    assert_int_equal(config->text_length, strlen(BASE));
    assert_string_equal(config->text, BASE);
    config_free(config);
    remove(path);
}

static void test_repository_configs_load(void **state)
{
    (void)state;
    setenv("PAIRPICK_DATABASE_URL", "postgresql://pairpick@localhost/images", 1);
    glob_t found;
    assert_int_equal(glob("config/*.yaml", 0, NULL, &found), 0);
    assert_true(found.gl_pathc >= 5);
    int named = 0;
    for (size_t i = 0; i < found.gl_pathc; i++) {
        const char *path = found.gl_pathv[i];
        JobConfig *config = NULL;
        Error err;
        error_clear(&err);
        if (config_load(path, &config, &err) != ERR_OK)
            fail_msg("%s does not load: %s", path, err.message);
        struct stat info;
        assert_int_equal(stat(path, &info), 0);
        assert_int_equal(config->text_length, (size_t)info.st_size);

        static const struct {
            const char *path;
            StrategyBy by;
        } expected[] = {
            {"config/demo-score.yaml", STRATEGY_SCORE},
            {"config/demo-category.yaml", STRATEGY_CATEGORY},
            {"config/demo-embedding.yaml", STRATEGY_EMBEDDING},
            {"config/demo-embedding-score.yaml", STRATEGY_EMBEDDING_SCORE},
            {"config/example.yaml", STRATEGY_SCORE},
        };
        for (size_t e = 0; e < sizeof expected / sizeof expected[0]; e++) {
            if (strcmp(path, expected[e].path) != 0)
                continue;
            named++;
            assert_int_equal(config->strategy.by, expected[e].by);
            assert_string_equal(config->source.id, "job_uuid");
        }
        if (strcmp(path, "config/demo-score.yaml") == 0) {
            assert_null(config->database.conninfo); /* the PG* variables */
            assert_string_equal(config->source.table, "demo.images");
            assert_true(config->filters.score_min.set && config->filters.score_max.set);
            assert_true(config->filters.variance_max.set);
            assert_int_equal(config->strategy.bins, 10);
            assert_true(config->strategy.seed_set && config->strategy.seed == 42);
        }
        if (strcmp(path, "config/demo-embedding.yaml") == 0)
            assert_int_equal(config->strategy.clusters, 30);
        if (strcmp(path, "config/demo-embedding-score.yaml") == 0) {
            assert_int_equal(config->strategy.clusters, 20);
            assert_int_equal(config->strategy.bins, 3);
        }
        if (strcmp(path, "config/example.yaml") == 0)
            assert_string_equal(config->database.conninfo,
                                "postgresql://pairpick@localhost/images");
        config_free(config);
    }
    assert_int_equal(named, 5);
    globfree(&found);
}

static void test_strategy_names(void **state)
{
    (void)state;
    assert_string_equal(config_strategy_name(STRATEGY_SCORE), "score");
    assert_string_equal(config_strategy_name(STRATEGY_CATEGORY), "category");
    assert_string_equal(config_strategy_name(STRATEGY_EMBEDDING), "embedding");
    assert_string_equal(config_strategy_name(STRATEGY_EMBEDDING_SCORE), "[embedding, score]");
    config_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config_sets_every_field),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_informative_keys),
        cmocka_unit_test(test_strategy_forms),
        cmocka_unit_test(test_duration_parsing),
        cmocka_unit_test(test_byte_sizes_and_dates),
        cmocka_unit_test(test_quoted_text_forms_accepted),
        cmocka_unit_test(test_environment_expansion),
        cmocka_unit_test(test_file_level_errors),
        cmocka_unit_test(test_yaml_syntax_errors),
        cmocka_unit_test(test_unknown_keys_and_suggestions),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_required_keys),
        cmocka_unit_test(test_integer_errors),
        cmocka_unit_test(test_number_errors),
        cmocka_unit_test(test_text_value_errors),
        cmocka_unit_test(test_duration_and_size_errors),
        cmocka_unit_test(test_date_errors),
        cmocka_unit_test(test_rules_between_keys),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_repository_configs_load),
        cmocka_unit_test(test_strategy_names),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
