/* Unit tests of the run records' state machine (runs_decide): a run id
 * starts when the registration took it (new, or failed before), an id that
 * succeeded is left alone with nothing to do, any other record is running
 * elsewhere, and a run never starts without the database's registration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "db/runs.h"

/* The statuses a record can hold (sql/001_pairpick_runs.sql), and ones it
 * cannot, which must not be read as success. */
static const char *const statuses[] = {"running", "succeeded", "failed", "Succeeded",
                                       "succeeded ", "succeed", "", "pending"};
enum { STATUS_COUNT = sizeof statuses / sizeof statuses[0] };

/* runs_decide's outcome, which must be ERR_OK. */
static RunStart decided(bool taken, const char *status)
{
    Error err;
    RunStart outcome = (RunStart)-1;
    error_clear(&err);
    assert_int_equal(runs_decide(taken, status, "r1", &outcome, &err), ERR_OK);
    assert_int_equal(err.code, ERR_OK);
    return outcome;
}

/* New run id: no record, the INSERT inserts it. */
static void test_new_run_starts(void **state)
{
    (void)state;
    assert_int_equal(decided(true, NULL), RUN_STARTED);
}

/* A failed run: the INSERT's ON CONFLICT takes its record back to running. */
static void test_failed_run_starts_again(void **state)
{
    (void)state;
    assert_int_equal(decided(true, "failed"), RUN_STARTED);
}

/* A succeeded run is kept: nothing to do, and the caller reads its counts. */
static void test_succeeded_run_is_not_run_again(void **state)
{
    (void)state;
    assert_int_equal(decided(false, "succeeded"), RUN_ALREADY_SUCCEEDED);
}

static void test_running_record_is_running_elsewhere(void **state)
{
    (void)state;
    assert_int_equal(decided(false, "running"), RUN_ALREADY_RUNNING);
}

/* The record said running when the INSERT looked and failed before the
 * status was read: the run was not registered, so it must not start. */
static void test_failed_after_the_registration_is_not_taken_over(void **state)
{
    (void)state;
    assert_int_equal(decided(false, "failed"), RUN_ALREADY_RUNNING);
}

/* The one safety property: RUN_STARTED exactly when the registration took
 * the id, whatever the status says. */
static void test_started_if_and_only_if_taken(void **state)
{
    (void)state;
    for (int taken = 0; taken <= 1; taken++)
        for (int i = 0; i < STATUS_COUNT; i++)
            assert_int_equal(decided(taken, statuses[i]) == RUN_STARTED, taken == 1);
    assert_int_equal(decided(true, NULL), RUN_STARTED);
}

/* Only the exact status 'succeeded' means nothing to do: a status the
 * table cannot hold is treated as a run in progress (exit 75, try later),
 * never as a success that would skip the work. */
static void test_only_succeeded_means_nothing_to_do(void **state)
{
    (void)state;
    for (int i = 0; i < STATUS_COUNT; i++) {
        RunStart outcome = decided(false, statuses[i]);
        if (strcmp(statuses[i], "succeeded") == 0)
            assert_int_equal(outcome, RUN_ALREADY_SUCCEEDED);
        else
            assert_int_equal(outcome, RUN_ALREADY_RUNNING);
    }
}

/* Not taken and no record: the INSERT saw one, so this is a fault, named
 * with the run id; the outcome is left as it was. */
static void test_vanished_record_is_an_internal_error(void **state)
{
    (void)state;
    Error err;
    RunStart outcome = RUN_ALREADY_SUCCEEDED;
    error_clear(&err);
    assert_int_equal(runs_decide(false, NULL, "nightly-7", &outcome, &err), ERR_INTERNAL);
    assert_int_equal(err.code, ERR_INTERNAL);
    assert_non_null(strstr(err.message, "\"nightly-7\""));
    assert_int_equal(outcome, RUN_ALREADY_SUCCEEDED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_run_starts),
        cmocka_unit_test(test_failed_run_starts_again),
        cmocka_unit_test(test_succeeded_run_is_not_run_again),
        cmocka_unit_test(test_running_record_is_running_elsewhere),
        cmocka_unit_test(test_failed_after_the_registration_is_not_taken_over),
        cmocka_unit_test(test_started_if_and_only_if_taken),
        cmocka_unit_test(test_only_succeeded_means_nothing_to_do),
        cmocka_unit_test(test_vanished_record_is_an_internal_error),
    };
    return cmocka_run_group_tests_name("runs", tests, NULL, NULL);
}
