/* Unit tests of the plan: filter values only as parameters, identifiers
 * quoted part by part, columns in the documented order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include <cmocka.h>

#include "read/plan.h"

static JobConfig base_config(void)
{
    JobConfig config;
    memset(&config, 0, sizeof config);
    config.job = "t";
    config.source.table = "public.images";
    config.source.id = "job_uuid";
    config.source.score = "score";
    config.output.table = "pending_annotation_pairs";
    config.strategy.by = STRATEGY_SCORE;
    return config;
}

static void test_filters_are_parameters(void **state)
{
    (void)state;
    JobConfig config = base_config();
    config.source.variance = "score_variance";
    config.source.date = "created_at";
    config.filters.score_min = (OptionalDouble){true, 0.123456789};
    config.filters.score_max = (OptionalDouble){true, 3.5};
    config.filters.variance_max = (OptionalDouble){true, 0.05};
    config.filters.date_from = (DateBound){.set = true, .date_only = true, .text = "2026-11-01"};
    config.filters.date_to = (DateBound){.set = true, .date_only = true, .text = "2026-11-28"};
    Plan plan;
    Error err;
    assert_int_equal(plan_build(&config, ident_quote_offline, NULL, NULL, &plan, &err), ERR_OK);
    assert_int_equal(plan.param_count, 5);
    assert_string_equal(plan.params[0], "0.123456789");
    assert_string_equal(plan.param_names[4], "filters.date.to");
    /* No value reaches the SQL text. */
    assert_null(strstr(plan.select_sql, "0.123456789"));
    assert_null(strstr(plan.select_sql, "2026-11"));
    assert_non_null(strstr(plan.select_sql, "$5::date + 1"));
    assert_non_null(strstr(plan.select_sql, "FROM \"public\".\"images\" AS source"));
    assert_non_null(strstr(plan.copy_sql, "(FORMAT binary)"));
    assert_int_equal(plan.column_count, 3);
    assert_true(plan.has_score && plan.has_variance && !plan.has_category);
    plan_release(&plan);
}

static void test_hostile_identifiers_quoted(void **state)
{
    (void)state;
    JobConfig config = base_config();
    config.source.table = "\"we.ird\".\"x\"\"; DROP TABLE y; --\"";
    config.source.id = "id\"; DROP TABLE z; --";
    config.output.table = "out";
    Plan plan;
    Error err;
    assert_int_equal(plan_build(&config, ident_quote_offline, NULL, NULL, &plan, &err), ERR_OK);
    assert_non_null(strstr(plan.select_sql, "FROM \"we.ird\".\"x\"\"; DROP TABLE y; --\" AS source"));
    assert_non_null(strstr(plan.select_sql, "source.\"id\"\"; DROP TABLE z; --\"::text"));
    plan_release(&plan);

    const char *invalid[] = {"", "a.", ".a", "a.b.c.d", "\"open", "a..b"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        char *quoted = ident_quote_name(invalid[i], ident_quote_offline, NULL, &err);
        assert_null(quoted);
        assert_int_equal(err.code, ERR_CONFIG);
    }
    char *quoted = ident_quote_name("s.t", ident_quote_offline, NULL, &err);
    assert_string_equal(quoted, "\"s\".\"t\"");
    free(quoted);
}

/* A NULL score reaches the stream (to be counted) only when the strategy
 * reads scores; otherwise a score filter drops it, and NaN with it. */
static void test_score_filters_and_unscored_images(void **state)
{
    (void)state;
    JobConfig config = base_config();
    config.filters.score_min = (OptionalDouble){true, 0.5};
    config.filters.score_max = (OptionalDouble){true, 3.0};
    StrategyBy reading[] = {STRATEGY_SCORE, STRATEGY_EMBEDDING_SCORE};
    StrategyBy other[] = {STRATEGY_CATEGORY, STRATEGY_EMBEDDING};
    Plan plan;
    Error err;
    for (size_t i = 0; i < 2; i++) {
        config.strategy.by = reading[i];
        assert_int_equal(plan_build(&config, ident_quote_offline, NULL, NULL, &plan, &err),
                         ERR_OK);
        assert_non_null(strstr(plan.select_sql, "source.\"score\" IS NULL OR"));
        plan_release(&plan);
        config.strategy.by = other[i];
        assert_int_equal(plan_build(&config, ident_quote_offline, NULL, NULL, &plan, &err),
                         ERR_OK);
        assert_null(strstr(plan.select_sql, "IS NULL"));
        assert_non_null(strstr(plan.select_sql, "source.\"score\" <> 'NaN'::float8"));
        assert_int_equal(plan.param_count, 2);
        plan_release(&plan);
    }
}

static void test_relative_dates_and_as_of(void **state)
{
    (void)state;
    JobConfig config = base_config();
    config.source.date = "created_at";
    config.filters.date_last_ms = 7LL * 86400000;
    Plan plan;
    Error err;
    assert_int_equal(plan_build(&config, ident_quote_offline, NULL, NULL, &plan, &err), ERR_OK);
    assert_string_equal(plan.params[0], "604800000 milliseconds");
    assert_non_null(strstr(plan.select_sql, "now() - $1::interval"));
    plan_release(&plan);
    assert_int_equal(plan_build(&config, ident_quote_offline, NULL, "2026-11-28T00:00:00Z",
                                &plan, &err),
                     ERR_OK);
    assert_int_equal(plan.param_count, 2);
    assert_null(strstr(plan.select_sql, "now()"));
    plan_release(&plan);
}

static void test_query_source_and_columns(void **state)
{
    (void)state;
    JobConfig config = base_config();
    config.source.table = NULL;
    config.source.query = "SELECT * FROM a JOIN b USING (k)";
    config.source.category = "topic";
    config.source.embedding = "vec::real[]";
    config.strategy.by = STRATEGY_CATEGORY;
    Plan plan;
    Error err;
    assert_int_equal(plan_build(&config, ident_quote_offline, NULL, NULL, &plan, &err), ERR_OK);
    assert_true(plan.has_category && !plan.has_embedding);
    assert_int_equal(plan.column_count, 3);
    assert_non_null(strstr(plan.select_sql, "FROM (SELECT * FROM a JOIN b USING (k)) AS source"));
    plan_release(&plan);
    config.strategy.by = STRATEGY_EMBEDDING;
    assert_int_equal(plan_build(&config, ident_quote_offline, NULL, NULL, &plan, &err), ERR_OK);
    assert_true(plan.has_embedding && !plan.has_category);
    assert_non_null(strstr(plan.select_sql, ", (vec::real[]) FROM"));
    plan_release(&plan);
}

/* A uuid id column is selected as it is (16 bytes in binary COPY); the rest of the plan is unchanged. */
static void test_uuid_ids_selected_without_cast(void **state)
{
    (void)state;
    JobConfig config = base_config();
    config.source.id = "job::text";   /* an odd name, quoted: its "::text" is not the cast */
    config.filters.score_min = (OptionalDouble){true, 0.5};
    Plan plan;
    Error err;
    assert_int_equal(plan_build(&config, ident_quote_offline, NULL, NULL, &plan, &err), ERR_OK);
    assert_false(plan.id_uuid);
    assert_non_null(strstr(plan.select_sql, "SELECT source.\"job::text\"::text, "));
    char *partition_before = plan_partition_copy(&plan, 2, 1);
    char *count_before = plan_partition_count(&plan, 2);
    assert_int_equal(plan_use_uuid_ids(&plan, &err), ERR_OK);
    assert_true(plan.id_uuid);
    assert_true(strncmp(plan.select_sql, "SELECT source.\"job::text\", source.\"score\"::float8", 49) == 0);
    assert_true(strncmp(plan.copy_select_sql, "SELECT source.\"job::text\", ", 27) == 0);
    assert_true(strncmp(plan.copy_sql, "COPY (SELECT source.\"job::text\", ", 33) == 0);
    assert_non_null(strstr(plan.copy_sql, ") TO STDOUT (FORMAT binary)"));
    /* Partitions of uuid ids hash the 16 bytes, in the count and the COPY alike. */
    assert_non_null(strstr(partition_before, "(coalesce(hashtext(source.\"job::text\"::text), 0) & 2147483647) % 2 = 1"));
    assert_non_null(strstr(count_before, "SELECT (coalesce(hashtext(source.\"job::text\"::text), 0) & 2147483647) % 2, count(*) FILTER (WHERE "));
    char *partition = plan_partition_copy(&plan, 2, 1);
    char *count = plan_partition_count(&plan, 2);
    assert_non_null(strstr(partition, "(coalesce(uuid_hash(source.\"job::text\"), 0) & 2147483647) % 2 = 1"));
    assert_non_null(strstr(count, "SELECT (coalesce(uuid_hash(source.\"job::text\"), 0) & 2147483647) % 2, count(*) FILTER (WHERE "));
    assert_null(strstr(partition, "hashtext"));
    assert_null(strstr(count, "hashtext"));
    char *id_query = plan_id_query(&plan);
    const char *expected_start = "SELECT source.\"job::text\" FROM \"public\".\"images\" AS source WHERE ";
    assert_true(strncmp(id_query, expected_start, strlen(expected_start)) == 0);
    assert_non_null(strstr(id_query, "$1"));
    /* Twice is once. */
    assert_int_equal(plan_use_uuid_ids(&plan, &err), ERR_OK);
    assert_true(strncmp(plan.copy_sql, "COPY (SELECT source.\"job::text\", ", 33) == 0);
    free(partition_before);
    free(count_before);
    free(partition);
    free(count);
    free(id_query);
    plan_release(&plan);
}

/*
 * The partition count is one scan of the source: per partition, the rows
 * the filters keep (FILTER, with the plan's $n) and all rows; one partition
 * is every row, and without filters both counts are count(*).
 */
static void test_partition_count_keeps_and_counts_in_one_scan(void **state)
{
    (void)state;
    JobConfig config = base_config();
    config.filters.score_min = (OptionalDouble){true, 0.5};
    Plan plan;
    Error err;
    assert_int_equal(plan_build(&config, ident_quote_offline, NULL, NULL, &plan, &err), ERR_OK);
    char *two = plan_partition_count(&plan, 2);
    char *one = plan_partition_count(&plan, 1);
    assert_non_null(strstr(two, "% 2, count(*) FILTER (WHERE (source.\"score\" IS NULL OR source.\"score\" >= $1::float8)), "));
    assert_non_null(strstr(two, "), count(*) FROM \"public\".\"images\" AS source GROUP BY 1"));
    assert_null(strstr(strstr(two, " FROM "), "WHERE"));
    assert_true(strncmp(one, "SELECT 0, count(*) FILTER (WHERE ", 33) == 0);
    free(two);
    free(one);
    plan_release(&plan);

    config.filters.score_min = (OptionalDouble){false, 0.0};
    assert_int_equal(plan_build(&config, ident_quote_offline, NULL, NULL, &plan, &err), ERR_OK);
    assert_null(plan.filter_sql);
    one = plan_partition_count(&plan, 1);
    assert_string_equal(one, "SELECT 0, count(*), count(*) FROM \"public\".\"images\" AS source GROUP BY 1");
    free(one);
    plan_release(&plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters_are_parameters),
        cmocka_unit_test(test_hostile_identifiers_quoted),
        cmocka_unit_test(test_score_filters_and_unscored_images),
        cmocka_unit_test(test_relative_dates_and_as_of),
        cmocka_unit_test(test_query_source_and_columns),
        cmocka_unit_test(test_uuid_ids_selected_without_cast),
        cmocka_unit_test(test_partition_count_keeps_and_counts_in_one_scan),
    };
    return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
