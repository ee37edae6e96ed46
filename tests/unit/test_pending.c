/* Unit tests of how a pair is stored in the pending-annotation table
 * (pending_stored_pair): image_a before image_b in byte order of the ids,
 * whichever way round the pair came, for text and uuid ids; a bridge's
 * category names both categories, image_a's first; the cross flag and the
 * side shown first follow the pair's index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/images.h"
#include "core/rng.h"
#include "db/pending.h"

/* Byte order written out: the first differing byte as unsigned, a proper
 * prefix first. The oracle the stored order must agree with. */
static int byte_compare(const char *x, const char *y)
{
    const unsigned char *p = (const unsigned char *)x, *q = (const unsigned char *)y;
    while (*p != '\0' && *p == *q) {
        p++;
        q++;
    }
    return (int)*p - (int)*q;
}

/* Text ids: case, a common prefix, digits that a "natural" order would
 * sort otherwise, and bytes >= 0x80 (UTF-8) that a signed char comparison
 * would put before ASCII. */
static const char *const text_ids[] = {
    "a",    "B",     "b",   "img1", "img10", "img2",          "img1 ",          "ab",
    "abc",  "abd",   "z",   "\x7f", "~",     "\xc3\xa9" /* é */, "\xc3\xa9t\xc3\xa9", "Z",
    "0042", "00042", "A-1", "a-1",
};
enum { TEXT_COUNT = sizeof text_ids / sizeof text_ids[0] };

static void add_text_ids(Images *images)
{
    Error err;
    error_clear(&err);
    images_init(images, true, false, false, false);
    for (size_t i = 0; i < TEXT_COUNT; i++) {
        assert_int_equal(images_begin_row(images, NULL, &err), ERR_OK);
        assert_int_equal(images_commit_row(images, text_ids[i], strlen(text_ids[i]), (double)i,
                                           NAN, NULL, 0, &err),
                         1);
    }
}

static const char *const names[] = {"score:0", "score:1", "topic/cats"};

/* Images spread over the three categories, not in id order. */
static int32_t *spread_categories(size_t count)
{
    int32_t *category_of = malloc(count * sizeof *category_of);
    assert_non_null(category_of);
    for (size_t i = 0; i < count; i++)
        category_of[i] = (int32_t)((i * 7 + 1) % 3);
    return category_of;
}

typedef struct {
    StoredPair stored;
    char category[512];
} Stored;

/* The stored form of the one pair (a, b), as pair `index` of a run whose
 * first within_count pairs stay in their category. */
static Stored store(const Images *images, const PairCategories *categories, uint32_t a,
                    uint32_t b, size_t index, size_t within_count, const char *show_first)
{
    Pair pairs[8];
    Stored out;
    assert_true(index < 8);
    memset(pairs, 0, sizeof pairs);
    pairs[index].a = a;
    pairs[index].b = b;
    PairProvenance provenance = {.policy = "t:score/any", .within_count = within_count,
                                 .show_first = show_first};
    memset(&out, 0x55, sizeof out);
    pending_stored_pair(images, categories, &provenance, pairs, index, &out.stored, out.category,
                        sizeof out.category);
    return out;
}

static void test_stored_ids_in_byte_order(void **state)
{
    (void)state;
    Images images;
    add_text_ids(&images);
    int32_t *category_of = spread_categories(images.count);
    PairCategories categories = {category_of, (char *const *)names};
    for (uint32_t i = 0; i < images.count; i++)
        for (uint32_t j = 0; j < images.count; j++) {
            if (i == j)
                continue;
            Stored s = store(&images, &categories, i, j, 0, 1, NULL);
            /* The same two images, the lesser id first. */
            assert_true((s.stored.image_a == i && s.stored.image_b == j)
                        || (s.stored.image_a == j && s.stored.image_b == i));
            assert_true(byte_compare(images_id(&images, s.stored.image_a),
                                     images_id(&images, s.stored.image_b))
                        < 0);
        }
    free(category_of);
    images_release(&images);
}

/* Row of id in text_ids. */
static uint32_t row_of(const char *id)
{
    for (uint32_t i = 0; i < TEXT_COUNT; i++)
        if (strcmp(text_ids[i], id) == 0)
            return i;
    fail_msg("no id %s", id);
    return 0;
}

/* Which id the table gets as image_a, given either order. */
static const char *first_of(const Images *images, const PairCategories *categories,
                            const char *x, const char *y)
{
    Stored xy = store(images, categories, row_of(x), row_of(y), 0, 1, NULL);
    Stored yx = store(images, categories, row_of(y), row_of(x), 0, 1, NULL);
    assert_int_equal(xy.stored.image_a, yx.stored.image_a);
    return text_ids[xy.stored.image_a];
}

/* Cases where a locale's collation, a case-insensitive or natural order, or
 * a signed char comparison would each store another order. */
static void test_byte_order_is_not_case_locale_nor_natural(void **state)
{
    (void)state;
    Images images;
    add_text_ids(&images);
    int32_t *category_of = spread_categories(images.count);
    PairCategories categories = {category_of, (char *const *)names};
    assert_string_equal(first_of(&images, &categories, "a", "B"), "B");
    assert_string_equal(first_of(&images, &categories, "b", "Z"), "Z");
    assert_string_equal(first_of(&images, &categories, "A-1", "a-1"), "A-1");
    assert_string_equal(first_of(&images, &categories, "img2", "img10"), "img10");
    assert_string_equal(first_of(&images, &categories, "img1", "img10"), "img1");
    assert_string_equal(first_of(&images, &categories, "img1", "img1 "), "img1");
    assert_string_equal(first_of(&images, &categories, "ab", "abc"), "ab");
    assert_string_equal(first_of(&images, &categories, "abd", "abc"), "abc");
    assert_string_equal(first_of(&images, &categories, "0042", "00042"), "00042");
    assert_string_equal(first_of(&images, &categories, "\xc3\xa9", "z"), "z");
    assert_string_equal(first_of(&images, &categories, "\xc3\xa9", "\x7f"), "\x7f");
    assert_string_equal(first_of(&images, &categories, "\xc3\xa9", "~"), "~");
    assert_string_equal(first_of(&images, &categories, "\xc3\xa9t\xc3\xa9", "\xc3\xa9"),
                        "\xc3\xa9");
    free(category_of);
    images_release(&images);
}

/* (x, y) and (y, x) are one row of the table: the same stored pair,
 * category, cross flag and side, within a category and across two. */
static void test_swapped_pair_is_stored_the_same(void **state)
{
    (void)state;
    Images images;
    add_text_ids(&images);
    int32_t *category_of = spread_categories(images.count);
    PairCategories categories = {category_of, (char *const *)names};
    for (uint32_t i = 0; i < images.count; i++)
        for (uint32_t j = i + 1; j < images.count; j++)
            for (size_t within = 0; within <= 1; within++) {
                Stored ij = store(&images, &categories, i, j, 0, within, "b");
                Stored ji = store(&images, &categories, j, i, 0, within, "b");
                assert_int_equal(ij.stored.image_a, ji.stored.image_a);
                assert_int_equal(ij.stored.image_b, ji.stored.image_b);
                assert_int_equal(ij.stored.cross, ji.stored.cross);
                assert_int_equal(ij.stored.show_first, ji.stored.show_first);
                assert_string_equal(ij.category, ji.category);
            }
    free(category_of);
    images_release(&images);
}

/* uuid ids are held as 16 bytes and stored as their canonical text: the
 * order is that text's byte order. The ids come in as raw bytes and as
 * upper-case text; the oracle formats the bytes itself. */
static void test_uuid_ids_ordered_as_their_text(void **state)
{
    (void)state;
    enum { ROWS = 300 };
    Images images;
    Error err;
    Rng rng;
    static unsigned char bytes[ROWS][16];
    static char text[ROWS][37];
    error_clear(&err);
    rng_init(&rng, 13);
    images_init(&images, true, false, false, false);
    assert_int_equal(images_use_uuid_ids(&images, &err), ERR_OK);
    for (size_t i = 0; i < ROWS; i++) {
        for (int k = 0; k < 16; k++)
            bytes[i][k] = (unsigned char)rng_below(&rng, 256);
        /* Neighbours differing in one nibble: a digit against a letter
         * (9 < a in the text), and only in the last byte. */
        if (i % 3 == 1) {
            memcpy(bytes[i], bytes[i - 1], 16);
            bytes[i][0] = (unsigned char)((bytes[i][0] & 0x0f) | 0xa0);
            bytes[i - 1][0] = (unsigned char)((bytes[i - 1][0] & 0x0f) | 0x90);
        } else if (i % 3 == 2) {
            memcpy(bytes[i], bytes[i - 1], 16);
            bytes[i][15] ^= 0x01;
        }
    }
    for (size_t i = 0; i < ROWS; i++) {
        images_format_uuid(bytes[i], text[i]);
        assert_int_equal(images_begin_row(&images, NULL, &err), ERR_OK);
        if (i % 2 == 0) {
            assert_int_equal(images_commit_row(&images, (const char *)bytes[i], 16, 0.0, NAN,
                                               NULL, 0, &err),
                             1);
        } else {
            char upper[37];
            for (int k = 0; k < 37; k++)
                upper[k] = (char)(text[i][k] >= 'a' && text[i][k] <= 'f' ? text[i][k] - 32
                                                                         : text[i][k]);
            assert_int_equal(images_commit_row(&images, upper, 36, 0.0, NAN, NULL, 0, &err), 1);
        }
    }
    assert_int_equal(images.count, ROWS);
    int32_t *category_of = spread_categories(ROWS);
    PairCategories categories = {category_of, (char *const *)names};
    for (uint32_t i = 0; i < ROWS; i++)
        for (uint32_t j = 0; j < ROWS; j++) {
            if (i == j)
                continue;
            Stored s = store(&images, &categories, i, j, 0, 1, NULL);
            assert_true(byte_compare(text[s.stored.image_a], text[s.stored.image_b]) < 0);
            assert_true(s.stored.image_a == i || s.stored.image_a == j);
            assert_true(s.stored.image_b == i || s.stored.image_b == j);
        }
    free(category_of);
    images_release(&images);
}

/* A bridge is stored under "A|B": image_a's category, '|', image_b's,
 * whichever category sorts first and whichever way the pair came. A pair
 * within a category is stored under that one name. */
static void test_bridge_category_names_both_in_stored_order(void **state)
{
    (void)state;
    Images images;
    add_text_ids(&images);
    int32_t *category_of = spread_categories(images.count);
    PairCategories categories = {category_of, (char *const *)names};
    bool descending_seen = false;
    for (uint32_t i = 0; i < images.count; i++)
        for (uint32_t j = 0; j < images.count; j++) {
            if (i == j)
                continue;
            Stored s = store(&images, &categories, i, j, 1, 1, NULL);
            assert_true(s.stored.cross);
            const char *name_a = names[category_of[s.stored.image_a]];
            const char *name_b = names[category_of[s.stored.image_b]];
            char expected[512];
            snprintf(expected, sizeof expected, "%s|%s", name_a, name_b);
            assert_string_equal(s.category, expected);
            if (category_of[s.stored.image_a] > category_of[s.stored.image_b])
                descending_seen = true;
        }
    /* The names follow the ids, not the category numbers. */
    assert_true(descending_seen);
    uint32_t x = row_of("a"), y = row_of("B"); /* "B" is image_a */
    category_of[x] = 0;
    category_of[y] = 2;
    assert_string_equal(store(&images, &categories, x, y, 1, 0, NULL).category,
                        "topic/cats|score:0");
    assert_string_equal(store(&images, &categories, y, x, 1, 0, NULL).category,
                        "topic/cats|score:0");
    category_of[x] = 1;
    category_of[y] = 1;
    assert_string_equal(store(&images, &categories, x, y, 0, 1, NULL).category, "score:1");
    free(category_of);
    images_release(&images);
}

/* Pairs before within_count stay in a category, the rest cross; the side
 * shown first is the run's coin for that index ('a' without coins), the
 * same whichever way the pair came. */
static void test_cross_and_show_first_follow_the_index(void **state)
{
    (void)state;
    Images images;
    add_text_ids(&images);
    int32_t *category_of = spread_categories(images.count);
    PairCategories categories = {category_of, (char *const *)names};
    const char *coins = "abbaba";
    for (size_t within = 0; within <= 6; within++)
        for (size_t index = 0; index < 6; index++) {
            Stored s = store(&images, &categories, 3, 4, index, within, coins);
            Stored t = store(&images, &categories, 4, 3, index, within, coins);
            assert_int_equal(s.stored.cross, index >= within);
            assert_int_equal(s.stored.show_first, coins[index]);
            assert_int_equal(t.stored.show_first, coins[index]);
            Stored uncoined = store(&images, &categories, 3, 4, index, within, NULL);
            assert_int_equal(uncoined.stored.show_first, 'a');
            /* Only a crossing pair names two categories. */
            assert_int_equal(strchr(s.category, '|') != NULL, index >= within);
        }
    free(category_of);
    images_release(&images);
}

/* A category longer than the buffer is cut to fit, terminated, and
 * nothing past the buffer is written. */
static void test_category_cut_to_the_buffer(void **state)
{
    (void)state;
    Images images;
    add_text_ids(&images);
    int32_t category_of[TEXT_COUNT] = {0};
    const char *const long_names[] = {"abcdefghij"};
    PairCategories categories = {category_of, (char *const *)long_names};
    Pair pair = {0, 1};
    PairProvenance provenance = {.policy = "p", .within_count = 0, .show_first = NULL};
    char buffer[16];
    StoredPair stored;
    memset(buffer, '#', sizeof buffer);
    pending_stored_pair(&images, &categories, &provenance, &pair, 0, &stored, buffer, 8);
    assert_string_equal(buffer, "abcdefg");
    for (size_t k = 8; k < sizeof buffer; k++)
        assert_int_equal(buffer[k], '#');
    images_release(&images);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stored_ids_in_byte_order),
        cmocka_unit_test(test_byte_order_is_not_case_locale_nor_natural),
        cmocka_unit_test(test_swapped_pair_is_stored_the_same),
        cmocka_unit_test(test_uuid_ids_ordered_as_their_text),
        cmocka_unit_test(test_bridge_category_names_both_in_stored_order),
        cmocka_unit_test(test_cross_and_show_first_follow_the_index),
        cmocka_unit_test(test_category_cut_to_the_buffer),
    };
    return cmocka_run_group_tests_name("pending", tests, NULL, NULL);
}
