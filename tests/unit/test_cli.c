/*
 * cli: the one integer-option parser takes exactly the decimal integers
 * of its range, and cli_parse stores each command's options, starts from
 * the defaults, refuses another command's options, and can be called
 * again (getopt's state is reset each time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/error.h"

static void test_integer_range_is_inclusive(void **state)
{
    (void)state;
    uint64_t value = 0;
    assert_true(cli_parse_integer("1", 1, 10, &value));
    assert_int_equal(value, 1);
    assert_true(cli_parse_integer("10", 1, 10, &value));
    assert_int_equal(value, 10);
    assert_false(cli_parse_integer("0", 1, 10, &value));
    assert_false(cli_parse_integer("11", 1, 10, &value));
    assert_true(cli_parse_integer("18446744073709551615", 0, UINT64_MAX, &value));
    assert_true(value == UINT64_MAX);
}

static void test_integer_refuses_what_is_not_one(void **state)
{
    (void)state;
    const char *bad[] = {"", " ", "abc", "5x", "x5", "1.5", "-1", "-0", "18446744073709551616",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t value = 42;
        assert_false(cli_parse_integer(bad[i], 0, UINT64_MAX, &value));
        assert_int_equal(value, 42); /* untouched on failure */
    }
}

static int parse(CliArgs *args, int count, ...)
{
    char *argv[16] = {"pairpick"};
    va_list words;
    va_start(words, count);
    for (int i = 0; i < count; i++)
        argv[i + 1] = va_arg(words, char *);
    va_end(words);
    return cli_parse(count + 1, argv, args);
}

static void test_run_options_are_stored(void **state)
{
    (void)state;
    CliArgs args;
    assert_int_equal(parse(&args, 8, "run", "job.yaml", "--max-pairs", "7", "--seed", "0",
                           "--skip-exit-code", "99"),
                     ERR_OK);
    assert_non_null(args.command);
    assert_string_equal(args.config_path, "job.yaml");
    assert_true(args.run.max_pairs_set && args.run.max_pairs == 7);
    assert_true(args.run.seed_set && args.run.seed == 0);
    assert_int_equal(args.outputs.skip_exit_code, 99);
}

static void test_defaults_without_options(void **state)
{
    (void)state;
    CliArgs args;
    assert_int_equal(parse(&args, 2, "status", "job.yaml"), ERR_OK);
    assert_int_equal(args.status.limit, 20);
    assert_int_equal(args.sample.per_category, 5);
    assert_int_equal(args.outputs.skip_exit_code, -1);
    assert_false(args.run.seed_set);
    assert_int_equal(args.log_format, LOG_TEXT);
    assert_int_equal(args.log_level, LOG_NORMAL);
}

static void test_usage_errors(void **state)
{
    (void)state;
    CliArgs args;
    /* another command's option, an unknown one, a missing value, out of range */
    assert_int_equal(parse(&args, 3, "check", "job.yaml", "--dry-run"), ERR_USAGE);
    assert_int_equal(parse(&args, 3, "run", "job.yaml", "--frobnicate"), ERR_USAGE);
    assert_int_equal(parse(&args, 3, "run", "job.yaml", "--max-pairs"), ERR_USAGE);
    assert_int_equal(parse(&args, 4, "status", "job.yaml", "--limit", "0"), ERR_USAGE);
    assert_int_equal(parse(&args, 4, "sample", "job.yaml", "--per-category", "3"), ERR_USAGE);
    /* and a good line parses after them */
    assert_int_equal(parse(&args, 5, "sample", "job.yaml", "--out", "dir", "--copy"), ERR_OK);
    assert_string_equal(args.sample.out_dir, "dir");
    assert_true(args.sample.copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integer_range_is_inclusive),
        cmocka_unit_test(test_integer_refuses_what_is_not_one),
        cmocka_unit_test(test_run_options_are_stored),
        cmocka_unit_test(test_defaults_without_options),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
