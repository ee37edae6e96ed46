/*
 * Regression tests for what fuzzing (make fuzz) and the fail-safe review
 * found. Each test names the input that broke and the property it broke;
 * the memory errors among them show only under the sanitizers
 * (make test-sanitize), where these tests would abort before the fixes.
 * The crashing inputs themselves are replayed by `make fuzz-regress` from
 * tests/fuzz/corpus/TARGET/regress-*.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/images.h"
#include "db/conninfo.h"

/*
 * config_mask_conninfo wrote "***" over passwords shorter than three bytes
 * in a copy of the text's own size: a heap overflow for "password=x" or
 * "postgresql://u:p@host" (fuzz_config, regress-mask-short-password.yaml).
 * The masking is now db_mask_conninfo, which rebuilds the string from
 * libpq's parse as key='value' pairs; the same inputs must still come back
 * masked, whole, and without the secret.
 */
static void test_mask_short_passwords(void **state)
{
    (void)state;
    static const struct {
        const char *conninfo, *masked;
    } cases[] = {
        {"password=x", "password='***'"},
        {"password=", "password='***'"},
        /* libpq skips the spaces after '=': the password is "user=u" */
        {"host=h password= user=u", "password='***' host='h'"},
        {"password=a password=b password=c", "password='***'"},
        {"postgresql://u:p@h/d", "user='u' password='***' dbname='d' host='h'"},
        {"postgresql://u:@h/d?password=&password=x", "user='u' password='***' dbname='d' host='h'"},
        {"postgres://u:longsecret@h/d", "user='u' password='***' dbname='d' host='h'"},
        {"host=h password='a b\\' c' x=y", "(a connection string libpq cannot parse)"},
        {"host=h password='a b\\' c' port=5", "password='***' host='h' port='5'"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *masked = db_mask_conninfo(cases[i].conninfo);
        assert_non_null(masked);
        assert_string_equal(masked, cases[i].masked);
        free(masked);
    }
}

/* The same through config_parse and config_to_json, as a run record makes it. */
static void test_run_record_json_of_short_password(void **state)
{
    (void)state;
    static const char text[] = "job: j\n"
                               "database:\n"
                               "  conninfo: \"postgresql://u:p@h/d?password=x\"\n"
                               "source: {table: t, id: i, score: s}\n"
                               "strategy: {by: score}\n";
    JobConfig *config = NULL;
    Error err;
    error_clear(&err);
    assert_int_equal(config_parse("t.yaml", text, sizeof text - 1, &config, &err), ERR_OK);
    char *json = config_to_json(config, db_mask_conninfo);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"user='u' password='***' dbname='d' host='h'\""));
    assert_null(strstr(json, "u:p@"));
    assert_null(strstr(json, "=x"));
    free(json);
    /* Without a mask function the whole value is hidden. */
    json = config_to_json(config, NULL);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"database.conninfo\":\"***\""));
    free(json);
    config_free(config);
}

/*
 * images' id lookup compared with strncmp and then looked at
 * candidate[length]: for a key holding a NUL ("a\0xxxxxx", which only a
 * malformed COPY stream can carry) that matched a shorter stored id ("a")
 * up to the NUL, it read past the stored id, and past the arena when that
 * id was the last one in a full arena. The key must simply not be found,
 * and nothing read out of bounds.
 */
static void test_lookup_of_id_holding_nul_stays_in_bounds(void **state)
{
    (void)state;
    Images images;
    Error err;
    error_clear(&err);
    images_init(&images, false, false, false, false);
    /* Fill the id arena (4096 bytes at first) exactly: 127 ids of 31
     * characters (4064 bytes with their NULs), one of 29 (30), then "a" (2). */
    char id[64];
    for (int i = 0; i < 127; i++) {
        snprintf(id, sizeof id, "id-%028d", i);
        assert_int_equal(images_begin_row(&images, NULL, &err), ERR_OK);
        assert_int_equal(images_commit_row(&images, id, strlen(id), 0, 0, NULL, 0, &err), 1);
    }
    snprintf(id, sizeof id, "id-%026d", 127);
    assert_int_equal(images_begin_row(&images, NULL, &err), ERR_OK);
    assert_int_equal(images_commit_row(&images, id, strlen(id), 0, 0, NULL, 0, &err), 1);
    assert_int_equal(images_begin_row(&images, NULL, &err), ERR_OK);
    assert_int_equal(images_commit_row(&images, "a", 1, 0, 0, NULL, 0, &err), 1);
    assert_int_equal(images.id_bytes_length, images.id_bytes_capacity);

    /* Many keys "a\0" + 6 bytes, so that some probe the slot of "a". */
    for (int i = 0; i < 200000; i++) {
        char key[8] = {'a', '\0'};
        for (int digit = 0, rest = i; digit < 6; digit++, rest /= 10)
            key[7 - digit] = (char)('0' + rest % 10);
        assert_int_equal(images_find(&images, key, sizeof key), -1);
    }
    /* And as a row: dropped, never confused with "a". */
    char key[8] = {'a', '\0', 'x', 'y', 'z', 'z', 'y', '!'};
    assert_int_equal(images_begin_row(&images, NULL, &err), ERR_OK);
    assert_int_equal(images_commit_row(&images, key, sizeof key, 0, 0, NULL, 0, &err), 0);
    assert_int_equal(images.count, 129);
    assert_int_equal(images_find(&images, "a", 1), 128);
    images_release(&images);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_short_passwords),
        cmocka_unit_test(test_run_record_json_of_short_password),
        cmocka_unit_test(test_lookup_of_id_holding_nul_stays_in_bounds),
    };
    return cmocka_run_group_tests_name("fuzz regressions", tests, NULL, NULL);
}
