/*
 * db/conninfo: every spelling of a secret libpq accepts comes out masked,
 * and a string libpq cannot read is refused with a message that does not
 * repeat it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "db/conninfo.h"

/* Each spelling hides the secret "s3cr'et" or "s3cret" (or its encoding). */
static void test_every_spelling_is_masked(void **state)
{
    (void)state;
    static const char *const spellings[] = {
        "host=h password=s3cret user=u",
        "host=h password = s3cret user=u",
        "host=h password   =   's3cret' user=u",
        "host=h\npassword\n=\ns3cret\nuser=u",
        "host=h\tpassword=\t's3cret'\tuser=u",
        "host=h password='s3cr\\'et' user=u",
        "host=h password=s3cr\\'et user=u",
        "host=h password='s3\\cret'",
        "host=h sslpassword=s3cret password=s3cret",
        "postgresql://u:s3cret@h/d",
        "postgres://u:s3cret@h:5432/d?sslmode=disable",
        "postgresql://u@h/d?password=s3cret",
        "postgresql://u@h/d?sslmode=disable&password=s3cret&application_name=x",
        "postgresql://u:s%33cret@h/d",
        "postgresql://u@h/d?pass%77ord=s3cret",
        "postgresql://u@h/d?password=s%33cr%27et",
        "postgresql://u:s3cret@%2Ftmp%2Fsock/d",
        "postgresql://u:s3cret@h1:5432,h2:5433/d",
        "postgresql:///d?host=/tmp&user=u&password=s3cret",
        "postgresql://u@h/d?sslpassword=s3cret",
    };
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        char *masked = db_mask_conninfo(spellings[i]);
        assert_non_null(masked);
        if (strstr(masked, "s3cr") != NULL || strstr(masked, "s%33") != NULL
            || strstr(masked, "3cret") != NULL)
            fail_msg("secret shown for \"%s\": %s", spellings[i], masked);
        assert_non_null(strstr(masked, "password='***'"));
        free(masked);
    }
}

/* Everything that is not a secret stays, so the record still says where. */
static void test_other_options_are_kept(void **state)
{
    (void)state;
    char *masked = db_mask_conninfo("postgresql://u:s3cret@db.example:6432/images?sslmode=require");
    assert_string_equal(masked,
                        "user='u' password='***' dbname='images' host='db.example' port='6432' "
                        "sslmode='require'");
    free(masked);
    masked = db_mask_conninfo("images"); /* a database name, not a connection string */
    assert_string_equal(masked, "images");
    free(masked);
    masked = db_mask_conninfo("host=h application_name='it''s'");
    assert_null(strstr(masked, "password"));
    free(masked);
}

/* Text libpq cannot parse may hold a secret anywhere: none of it is shown. */
static void test_unparsable_text_is_not_shown(void **state)
{
    (void)state;
    static const char *const broken[] = {
        "host=h password='s3cret",
        "host=h s3cret",
        "postgresql://u:s3cret@[::1/d",
        "postgresql://u:s3cret@h/d?nonsense=1",
        "postgresql://u:s3cret@h/d?password=%zz",
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        char *masked = db_mask_conninfo(broken[i]);
        assert_non_null(masked);
        assert_null(strstr(masked, "s3cret"));
        free(masked);
    }
}

/* A malformed string is a configuration error whose message hides the text. */
static void test_check_refuses_malformed_strings(void **state)
{
    (void)state;
    static const char *const broken[] = {
        "host=h password='s3cret",
        "host=h s3cret",
        "postgresql://u:s3cret@[::1/d",
        "postgresql://u:s3cret@h/d?nonsense=1",
        "postgresql://u:s3cret@h/d?password=%zz",
        "postgresql://u:s3cret@h:notaport/d",
        "host=h port=70000 password=s3cret",
        "host=h bogus=s3cret",
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        Error err;
        error_clear(&err);
        assert_int_equal(db_check_conninfo(broken[i], &err), ERR_CONFIG);
        assert_int_equal(err.code, ERR_CONFIG);
        assert_non_null(strstr(err.message, "database.conninfo"));
        if (strstr(err.message, "s3cret") != NULL)
            fail_msg("secret in the message for \"%s\": %s", broken[i], err.message);
    }
    static const char *const fine[] = {
        "host=h port=5432 password=s3cret", "postgresql://u:s3cret@h1:5432,h2/d", "images",
        "postgresql:///d?host=/tmp", "host=a,b port=5432,",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        Error err;
        error_clear(&err);
        if (db_check_conninfo(fine[i], &err) != ERR_OK)
            fail_msg("refused \"%s\": %s", fine[i], err.message);
    }
    assert_int_equal(db_check_conninfo(NULL, NULL), ERR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_spelling_is_masked),
        cmocka_unit_test(test_other_options_are_kept),
        cmocka_unit_test(test_unparsable_text_is_not_shown),
        cmocka_unit_test(test_check_refuses_malformed_strings),
    };
    return cmocka_run_group_tests_name("conninfo", tests, NULL, NULL);
}
