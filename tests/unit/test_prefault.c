/*
 * prefault: the helper writes what was asked for and no further than the
 * reservation, written pages stay written (resident, zero) when the
 * reservation grows and moves, and take hands over the region only when it
 * is large enough.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/prefault.h"

#define MB ((size_t)1 << 20)

/* Waits up to 10 s for the helper to have written at least bytes. */
static size_t wait_written(Prefault *prefault, size_t bytes)
{
    for (int i = 0; i < 10000 && prefault_written(prefault) < bytes; i++) {
        struct timespec pause = {0, 1000000L};
        nanosleep(&pause, NULL);
    }
    return prefault_written(prefault);
}

/* Whether every page of [region, region + bytes) is resident. */
static bool resident(const char *region, size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (bytes + page - 1) / page;
    unsigned char *vector = malloc(pages);
    assert_non_null(vector);
    assert_int_equal(mincore((void *)region, bytes, vector), 0);
    bool all = true;
    for (size_t i = 0; i < pages; i++)
        all = all && (vector[i] & 1);
    free(vector);
    return all;
}

static void test_helper_writes_what_was_asked(void **state)
{
    (void)state;
    Prefault *prefault = prefault_new();
    assert_non_null(prefault);
    assert_int_equal(prefault_written(prefault), 0);
    assert_true(prefault_reserve(prefault, 8 * MB));
    prefault_want(prefault, 6 * MB + 100);
    size_t written = wait_written(prefault, 6 * MB + 100);
    assert_true(written >= 6 * MB + 100);
    assert_true(written <= 8 * MB);
    size_t mapped = 0;
    char *region = prefault_take(prefault, 7 * MB, &mapped);
    assert_non_null(region);
    assert_true(mapped >= 8 * MB);
    assert_true(resident(region, 6 * MB));
    for (size_t at = 0; at < 6 * MB; at += 4096)
        assert_int_equal(region[at], 0);
    region[mapped - 1] = 1; /* the whole mapping is the caller's */
    munmap(region, mapped);
}

static void test_never_beyond_the_reservation(void **state)
{
    (void)state;
    Prefault *prefault = prefault_new();
    assert_true(prefault_reserve(prefault, 3 * MB)); /* rounds up to 4 MB */
    prefault_want(prefault, 64 * MB);
    assert_true(wait_written(prefault, 4 * MB) == 4 * MB);
    struct timespec pause = {0, 20000000L};
    nanosleep(&pause, NULL);
    assert_int_equal(prefault_written(prefault), 4 * MB);
    /* Growing lets it go on. */
    assert_true(prefault_reserve(prefault, 16 * MB));
    assert_true(wait_written(prefault, 16 * MB) == 16 * MB);
    prefault_free(prefault);
}

static void test_written_pages_survive_growth(void **state)
{
    (void)state;
    Prefault *prefault = prefault_new();
    assert_true(prefault_reserve(prefault, 2 * MB));
    prefault_want(prefault, 2 * MB);
    assert_true(wait_written(prefault, 2 * MB) == 2 * MB);
    /* Growing 256-fold, in place or moved (page tables move, not pages). */
    for (int round = 0; round < 4; round++)
        assert_true(prefault_reserve(prefault, (size_t)(64 << round) * MB));
    assert_int_equal(prefault_written(prefault), 2 * MB);
    size_t mapped = 0;
    char *region = prefault_take(prefault, 512 * MB, &mapped);
    assert_non_null(region);
    assert_int_equal(mapped, 512 * MB);
    assert_true(resident(region, 2 * MB));
    munmap(region, mapped);
}

static void test_take_too_small_gives_nothing(void **state)
{
    (void)state;
    size_t mapped = 123;
    assert_null(prefault_take(NULL, 1, &mapped));
    assert_int_equal(mapped, 0);
    Prefault *prefault = prefault_new();
    assert_true(prefault_reserve(prefault, 2 * MB));
    assert_null(prefault_take(prefault, 2 * MB + 1, &mapped));
    assert_int_equal(mapped, 0);
    /* Nothing reserved: no region, even for 0 bytes. */
    prefault = prefault_new();
    assert_null(prefault_take(prefault, 0, &mapped));
    prefault_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_helper_writes_what_was_asked),
        cmocka_unit_test(test_never_beyond_the_reservation),
        cmocka_unit_test(test_written_pages_survive_growth),
        cmocka_unit_test(test_take_too_small_gives_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
