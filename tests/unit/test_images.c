/* Unit tests of the in-memory image columns: ids held as text (arena) or as
 * 16-byte uuids, found by any of their spellings, duplicates dropped, merged
 * across partitions, and the memory they take. */
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

/* A random version-4 uuid: its 16 bytes and canonical text. */
static void random_uuid(Rng *rng, unsigned char *bytes, char *text)
{
    for (int i = 0; i < 16; i++)
        bytes[i] = (unsigned char)rng_below(rng, 256);
    bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40);
    bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80);
    images_format_uuid(bytes, text);
}

static void commit(Images *images, const char *id, size_t length, double score, int expected)
{
    Error err;
    error_clear(&err);
    assert_int_equal(images_begin_row(images, NULL, &err), ERR_OK);
    assert_int_equal(images_commit_row(images, id, length, score, NAN, NULL, 0, &err), expected);
}

static void test_uuid_format_is_canonical(void **state)
{
    (void)state;
    const unsigned char bytes[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                     0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    char text[37];
    images_format_uuid(bytes, text);
    assert_string_equal(text, "00112233-4455-6677-8899-aabbccddeeff");
}

static void test_uuid_ids_round_trip_and_are_found_by_any_spelling(void **state)
{
    Images images;
    Error err;
    Rng rng;
    enum { ROWS = 5000 };
    unsigned char (*bytes)[16] = malloc(ROWS * sizeof *bytes);
    char (*text)[37] = malloc(ROWS * sizeof *text);
    (void)state;
    assert_non_null(bytes);
    assert_non_null(text);
    error_clear(&err);
    rng_init(&rng, 99);
    images_init(&images, true, false, false, false);
    assert_int_equal(images_use_uuid_ids(&images, &err), ERR_OK);
    for (size_t i = 0; i < ROWS; i++) {
        random_uuid(&rng, bytes[i], text[i]);
        /* Rows arrive raw (a binary COPY) or as text: both store the same 16 bytes. */
        if (i % 3 == 0)
            commit(&images, text[i], 36, (double)i, 1);
        else
            commit(&images, (const char *)bytes[i], 16, (double)i, 1);
    }
    assert_int_equal(images.count, ROWS);
    for (size_t i = 0; i < ROWS; i++) {
        char upper[37], bare[33];
        assert_string_equal(images_id(&images, i), text[i]);
        assert_int_equal(images_find(&images, text[i], 36), (int64_t)i);
        assert_int_equal(images_find(&images, (const char *)bytes[i], 16), (int64_t)i);
        for (int c = 0; c < 37; c++)
            upper[c] = (text[i][c] >= 'a' && text[i][c] <= 'f') ? (char)(text[i][c] - 32) : text[i][c];
        assert_int_equal(images_find(&images, upper, 36), (int64_t)i);
        size_t w = 0;
        for (int c = 0; c < 36; c++)
            if (text[i][c] != '-')
                bare[w++] = text[i][c];
        assert_int_equal(images_find(&images, bare, 32), (int64_t)i);
        /* Text read back from the output table matches as the database
         * compares it: only the canonical spelling, never raw bytes. */
        assert_int_equal(images_find_text(&images, text[i], 36), (int64_t)i);
        assert_int_equal(images_find_text(&images, (const char *)bytes[i], 16), -1);
        assert_int_equal(images_find_text(&images, bare, 32), -1);
        for (int c = 0; c < 36; c++) {
            if (text[i][c] < 'a' || text[i][c] > 'f')
                continue;
            char one_upper[36];
            memcpy(one_upper, text[i], 36);
            one_upper[c] = (char)(text[i][c] - 32);
            assert_int_equal(images_find_text(&images, one_upper, 36), -1);
        }
        assert_true(images.score[i] == (double)i);
    }
    /* Not uuids, or uuids not held: not found. */
    assert_int_equal(images_find(&images, "img-1", 5), -1);
    assert_int_equal(images_find(&images, "00112233-4455-6677-8899-aabbccddeeff", 36), -1);
    assert_int_equal(images_find(&images, "0011223344-55-6677-8899-aabbccddeeff", 36), -1);
    assert_int_equal(images_find(&images, "00112233-4455-6677-8899-aabbccddeegg", 36), -1);
    /* One byte of a held id's text made a non-digit (or a digit where its
     * hyphen was, or a hyphen moved): not found, at every position. */
    static const char bad[] = {'g', 'G', '/', ':', '@', '`', ' ', '\0', (char)0xb0, (char)0xe1};
    for (int c = 0; c < 36; c++) {
        bool hyphen = c == 8 || c == 13 || c == 18 || c == 23;
        char spoilt[36];
        for (size_t b = 0; b < sizeof bad; b++) {
            memcpy(spoilt, text[3], 36);
            spoilt[c] = bad[b];
            assert_int_equal(images_find(&images, spoilt, 36), -1);
        }
        memcpy(spoilt, text[3], 36);
        spoilt[c] = hyphen ? '0' : '-';
        assert_int_equal(images_find(&images, spoilt, 36), -1);
    }
    /* A duplicate, by either spelling, is dropped. */
    commit(&images, text[7], 36, 1.0, 0);
    commit(&images, (const char *)bytes[8], 16, 1.0, 0);
    assert_int_equal(images.count, ROWS);
    /* Two ids of a pair in one expression, and more, stay distinct. */
    assert_string_not_equal(images_id(&images, 0), images_id(&images, 1));
    /* Nothing is held per id but its 16 bytes (no arena, no offsets). */
    assert_null(images.id_bytes);
    assert_null(images.id_offset);
    assert_int_equal(images_id_memory(&images),
                     images.capacity * 16 + images.id_index_capacity * sizeof(uint32_t));
    images_release(&images);
    free(bytes);
    free(text);
}

static void test_uuid_ids_take_less_memory_than_text(void **state)
{
    Images as_text, as_uuid;
    Error err;
    Rng rng;
    (void)state;
    error_clear(&err);
    rng_init(&rng, 5);
    images_init(&as_text, true, false, false, false);
    images_init(&as_uuid, true, false, false, false);
    assert_int_equal(images_use_uuid_ids(&as_uuid, &err), ERR_OK);
    for (int i = 0; i < 20000; i++) {
        unsigned char bytes[16];
        char text[37];
        random_uuid(&rng, bytes, text);
        commit(&as_text, text, 36, 0.0, 1);
        commit(&as_uuid, (const char *)bytes, 16, 0.0, 1);
    }
    assert_int_equal(as_text.capacity, as_uuid.capacity);
    /* text: 37 bytes of arena and an 8-byte offset per id; uuid: 16 bytes */
    size_t index = as_uuid.id_index_capacity * sizeof(uint32_t);
    assert_int_equal(as_text.id_index_capacity, as_uuid.id_index_capacity);
    assert_int_equal(images_id_memory(&as_uuid) - index, as_uuid.capacity * 16);
    assert_true(images_id_memory(&as_text) - index >= as_text.count * (37 + 8));
    assert_true(images_memory(&as_uuid) < images_memory(&as_text));
    images_release(&as_text);
    images_release(&as_uuid);
}

/* Parts appended in order after what into holds; every id found again. */
static void test_merge_parts_appends_in_order_and_indexes(void **state)
{
    Error err;
    Rng rng;
    unsigned char bytes[700][16];
    char text[700][37];
    (void)state;
    error_clear(&err);
    rng_init(&rng, 8);
    for (int as_text = 0; as_text < 2; as_text++) {
        Images into, parts[3];
        images_init(&into, true, true, true, false);
        for (int p = 0; p < 3; p++)
            images_init(&parts[p], true, true, true, false);
        if (!as_text) {
            assert_int_equal(images_use_uuid_ids(&into, &err), ERR_OK);
            for (int p = 0; p < 3; p++)
                assert_int_equal(images_use_uuid_ids(&parts[p], &err), ERR_OK);
        }
        /* 100 rows in into, then parts of 0, 250 and 350 rows (an empty part
         * too); labels interned in each part's own order. */
        static const char *labels[] = {"cat", "dog", "owl"};
        for (int i = 0; i < 700; i++) {
            random_uuid(&rng, bytes[i], text[i]);
            Images *to = i < 100 ? &into : i < 350 ? &parts[1] : &parts[2];
            const char *label = labels[(i * 7 + (i >= 350)) % 3];
            assert_int_equal(images_begin_row(to, NULL, &err), ERR_OK);
            assert_int_equal(images_commit_row(to, as_text ? text[i] : (const char *)bytes[i],
                                               as_text ? 36 : 16, (double)i, (double)i / 2,
                                               label, strlen(label), &err),
                             1);
        }
        assert_int_equal(images_merge_parts(&into, parts, 3, &err), ERR_OK);
        assert_int_equal(into.count, 700);
        for (int i = 0; i < 700; i++) {
            assert_string_equal(images_id(&into, (size_t)i), text[i]); /* in part order */
            assert_true(images_find(&into, text[i], 36) == i);
            assert_true(into.score[i] == (double)i && into.variance[i] == (double)i / 2);
            assert_string_equal(images_label(&into, into.label_of[i]),
                                labels[(i * 7 + (i >= 350)) % 3]);
        }
        assert_int_equal(into.label_count, 3);
        /* Still a working index: a new row, and a second copy refused. */
        assert_int_equal(images_begin_row(&into, NULL, &err), ERR_OK);
        assert_int_equal(images_commit_row(&into, text[5], 36, 1.0, 1.0, "cat", 3, &err), 0);
        for (int p = 0; p < 3; p++)
            images_release(&parts[p]);
        images_release(&into);
    }
}

static void test_text_ids_unchanged_and_no_switch_after_rows(void **state)
{
    Images images;
    Error err;
    (void)state;
    error_clear(&err);
    images_init(&images, true, false, false, false);
    commit(&images, "img-1", 5, 1.0, 1);
    commit(&images, "00112233-4455-6677-8899-aabbccddeeff", 36, 2.0, 1);
    commit(&images, "img-1", 5, 3.0, 0);
    assert_string_equal(images_id(&images, 0), "img-1");
    assert_string_equal(images_id(&images, 1), "00112233-4455-6677-8899-aabbccddeeff");
    /* text ids match exactly: another spelling of the uuid is another id */
    assert_int_equal(images_find(&images, "00112233-4455-6677-8899-AABBCCDDEEFF", 36), -1);
    assert_int_equal(images_find_text(&images, "img-1", 5), 0);
    assert_int_equal(images_find_text(&images, "00112233-4455-6677-8899-aabbccddeeff", 36), 1);
    assert_int_equal(images_find_text(&images, "img-", 4), -1);
    assert_int_equal(images_use_uuid_ids(&images, &err), ERR_INTERNAL);
    assert_false(images.id_uuid);
    images_release(&images);
}

/* A reserved row count sizes the id index once: no rebuild while they stream in. */
static void test_reserve_sizes_the_id_index_once(void **state)
{
    (void)state;
    for (int uuid = 0; uuid <= 1; uuid++) {
        Images images;
        Error err;
        Rng rng;
        rng_init(&rng, 5);
        images_init(&images, true, false, false, false);
        if (uuid)
            assert_int_equal(images_use_uuid_ids(&images, &err), ERR_OK);
        enum { ROWS = 50000 };
        assert_int_equal(images_reserve(&images, ROWS, &err), ERR_OK);
        const uint32_t *index = images.id_index;
        size_t capacity = images.id_index_capacity;
        assert_true(capacity >= 2 * ROWS + 2);
        char text[64];
        unsigned char bytes[16];
        for (int i = 0; i < ROWS; i++) {
            random_uuid(&rng, bytes, text);
            commit(&images, text, strlen(text), i, 1);
        }
        assert_ptr_equal(images.id_index, index);
        assert_int_equal(images.id_index_capacity, capacity);
        assert_int_equal(images.count, ROWS);
        rng_init(&rng, 5);
        random_uuid(&rng, bytes, text); /* the first id again: a duplicate */
        commit(&images, text, strlen(text), 0, 0);
        assert_int_equal(images_find(&images, text, strlen(text)), 0);
        images_release(&images);
    }
}

typedef struct {
    char ids[8][40];
    int count;
} Duplicates;

static void note_duplicate(void *context, const char *id, size_t id_length)
{
    Duplicates *found = context;
    assert_int_equal(id_length, 16);
    assert_true(found->count < 8);
    images_format_uuid((const unsigned char *)id, found->ids[found->count++]);
}

/*
 * A deferred read: the first row of each id kept (its score and variance
 * with it), the others reported in the order they arrived, the rows in id
 * order.
 */
static void test_deferred_ids_indexed_after_the_stream(void **state)
{
    (void)state;
    Images images;
    Error err;
    Rng rng;
    rng_init(&rng, 9);
    images_init(&images, true, true, false, false);
    assert_int_equal(images_use_uuid_ids(&images, &err), ERR_OK);
    images_defer_ids(&images);
    assert_true(images.ids_deferred);
    enum { ROWS = 3000 };
    static char text[ROWS][40];
    unsigned char bytes[16];
    for (int i = 0; i < ROWS; i++)
        random_uuid(&rng, bytes, text[i]);
    /* rows: every id once, then ids 5, 7 and 5 again: 3 duplicates */
    int order[ROWS + 3];
    for (int i = 0; i < ROWS; i++)
        order[i] = i;
    order[ROWS] = 5, order[ROWS + 1] = 7, order[ROWS + 2] = 5;
    for (int k = 0; k < ROWS + 3; k++) {
        assert_int_equal(images_begin_row(&images, NULL, &err), ERR_OK);
        assert_int_equal(images_commit_row(&images, text[order[k]], strlen(text[order[k]]),
                                           (double)k, (double)-k, NULL, 0, &err),
                         1); /* no lookup while deferred */
    }
    Duplicates found = {0};
    assert_int_equal(images_index_ids(&images, note_duplicate, &found, &err), ERR_OK);
    assert_false(images.ids_deferred);
    assert_int_equal(images.count, ROWS);
    assert_int_equal(found.count, 3);
    assert_string_equal(found.ids[0], text[5]);
    assert_string_equal(found.ids[1], text[7]);
    assert_string_equal(found.ids[2], text[5]);
    for (int i = 0; i < ROWS; i++) {
        int64_t row = images_find(&images, text[i], strlen(text[i]));
        assert_true(row >= 0);
        assert_string_equal(images_id(&images, (size_t)row), text[i]);
        assert_true(images.score[row] == (double)i && images.variance[row] == (double)-i);
    }
    for (size_t row = 1; row < images.count; row++) {
        char before[40];
        strcpy(before, images_id(&images, row - 1));
        assert_true(strcmp(before, images_id(&images, row)) < 0);
    }
    /* once indexed, rows are looked up again as they come */
    assert_int_equal(images_begin_row(&images, NULL, &err), ERR_OK);
    assert_int_equal(images_commit_row(&images, text[3], strlen(text[3]), 0, 0, NULL, 0, &err), 0);
    images_release(&images);
}

/* A duplicate right after its first row moves every later row up by one. */
static void test_deferred_duplicates_compact_in_order(void **state)
{
    (void)state;
    Images images;
    Error err;
    images_init(&images, true, false, false, false);
    assert_int_equal(images_use_uuid_ids(&images, &err), ERR_OK);
    images_defer_ids(&images);
    const char *ids[] = {"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
                         "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003",
                         "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000004"};
    for (int k = 0; k < 6; k++) {
        assert_int_equal(images_begin_row(&images, NULL, &err), ERR_OK);
        assert_int_equal(images_commit_row(&images, ids[k], strlen(ids[k]), k, NAN, NULL, 0, &err), 1);
    }
    Duplicates found = {0};
    assert_int_equal(images_index_ids(&images, note_duplicate, &found, &err), ERR_OK);
    assert_int_equal(images.count, 4);
    assert_int_equal(found.count, 2);
    const double scores[] = {0, 1, 3, 5};
    const int first[] = {0, 1, 3, 5};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(images_id(&images, (size_t)i), ids[first[i]]);
        assert_true(images.score[i] == scores[i]);
    }
    images_release(&images);
}

/* Rows keep their values while the matrix grows from the heap into its own
 * mapping (IMAGES_MAPPED_BYTES) and on inside it; a small one stays put. */
static void test_embedding_matrix_grows_into_a_mapping_intact(void **state)
{
    (void)state;
    enum { DIM = 256 };
    size_t rows = 2 * IMAGES_MAPPED_BYTES / (DIM * sizeof(float)) + 123;
    Images images;
    Error err;
    error_clear(&err);
    images_init(&images, true, false, false, true);
    assert_int_equal(images_set_dim(&images, DIM, &err), ERR_OK);
    bool was_heap = false;
    for (size_t row = 0; row < rows; row++) {
        float *slot = NULL;
        assert_int_equal(images_begin_row(&images, &slot, &err), ERR_OK);
        assert_non_null(slot);
        for (size_t d = 0; d < DIM; d++)
            slot[d] = (float)row + (float)d / 1024.0f;
        char id[32];
        int length = snprintf(id, sizeof id, "row-%zu", row);
        assert_int_equal(images_commit_row(&images, id, (size_t)length, (double)row, NAN, NULL, 0,
                                           &err),
                         1);
        if (row == 0)
            was_heap = images.embedding_mapped_bytes == 0;
    }
    assert_true(was_heap);
    assert_true(images.embedding_mapped_bytes >= rows * DIM * sizeof(float));
    for (size_t row = 0; row < rows; row++)
        for (size_t d = 0; d < DIM; d++)
            if (images.embedding[row * DIM + d] != (float)row + (float)d / 1024.0f)
                fail_msg("row %zu column %zu changed while the matrix grew", row, d);
    images_release(&images);

    /* Reserved at its final size up front: mapped at once when large. */
    images_init(&images, false, false, false, true);
    assert_int_equal(images_reserve(&images, rows, &err), ERR_OK);
    assert_int_equal(images_set_dim(&images, DIM, &err), ERR_OK);
    assert_true(images.embedding_mapped_bytes >= rows * DIM * sizeof(float));
    images.embedding[rows * DIM - 1] = 1.0f; /* the last float is writable */
    images_release(&images);
    images_init(&images, false, false, false, true);
    assert_int_equal(images_reserve(&images, 100, &err), ERR_OK);
    assert_int_equal(images_set_dim(&images, DIM, &err), ERR_OK);
    assert_int_equal(images.embedding_mapped_bytes, 0);
    images_release(&images);
}

/*
 * Rows given in two different orders come out of images_sort_by_id the
 * same: ids in byte order, every score, variance, label and embedding row
 * with its id, labels numbered in byte order, every id still found, and
 * order[] telling where each row came from.
 */
static void fill_shuffled(Images *images, bool uuid, uint64_t shuffle_seed, int rows, int dim)
{
    Error err;
    Rng rng, shuffle;
    int *order = malloc((size_t)rows * sizeof *order);
    rng_init(&rng, 77);
    rng_init(&shuffle, shuffle_seed);
    for (int i = 0; i < rows; i++)
        order[i] = i;
    for (int i = rows - 1; i > 0; i--) {
        int j = (int)rng_below(&shuffle, (uint64_t)i + 1), held = order[i];
        order[i] = order[j];
        order[j] = held;
    }
    static const char *const labels[] = {"zeta", "alpha", "", "mu", "\xc3\xa9t\xc3\xa9"};
    images_init(images, true, true, true, true);
    if (uuid)
        assert_int_equal(images_use_uuid_ids(images, &err), ERR_OK);
    assert_int_equal(images_set_dim(images, (size_t)dim, &err), ERR_OK);
    for (int k = 0; k < rows; k++) {
        int i = order[k];
        char id[40];
        unsigned char bytes[16];
        Rng id_rng;
        rng_init(&id_rng, 1000 + (uint64_t)i);
        random_uuid(&id_rng, bytes, id);
        if (!uuid)
            snprintf(id, sizeof id, "img-%d", (i * 7919) % 1000);
        float *slot = NULL;
        assert_int_equal(images_begin_row(images, &slot, &err), ERR_OK);
        for (int d = 0; d < dim; d++)
            slot[d] = (float)(i * 100 + d);
        const char *label = labels[i % 5];
        assert_int_equal(images_commit_row(images, uuid ? (const char *)bytes : id,
                                           uuid ? 16 : strlen(id), i, -i, label, strlen(label),
                                           &err),
                         1);
    }
    (void)rng;
    free(order);
}

static void test_sort_by_id_gives_one_order(void **state)
{
    (void)state;
    enum { ROWS = 500, DIM = 3 };
    for (int uuid = 0; uuid < 2; uuid++) {
        Images first, second;
        Error err;
        uint32_t *order = NULL;
        fill_shuffled(&first, uuid, 1, ROWS, DIM);
        fill_shuffled(&second, uuid, 2, ROWS, DIM);
        /* what each row of second held before the sort */
        double score_before[ROWS];
        memcpy(score_before, second.score, sizeof score_before);
        assert_int_equal(images_sort_by_id(&first, NULL, &err), ERR_OK);
        assert_int_equal(images_sort_by_id(&second, &order, &err), ERR_OK);
        for (size_t k = 0; k < ROWS; k++) {
            assert_string_equal(images_id(&first, k), images_id(&second, k));
            if (k > 0 && uuid)
                assert_true(memcmp(first.id_uuid_bytes + (k - 1) * 16,
                                   first.id_uuid_bytes + k * 16, 16) < 0);
            if (k > 0 && !uuid)
                assert_true(strcmp(images_id(&first, k - 1), images_id(&first, k)) < 0);
            int i = (int)first.score[k];
            assert_true(second.score[k] == i && first.variance[k] == -i);
            assert_true(second.score[k] == score_before[order[k]]);
            for (int d = 0; d < DIM; d++)
                assert_true(first.embedding[k * DIM + d] == (float)(i * 100 + d));
            assert_int_equal(first.label_of[k], second.label_of[k]);
            static const char *const labels[] = {"zeta", "alpha", "", "mu", "\xc3\xa9t\xc3\xa9"};
            assert_string_equal(images_label(&first, first.label_of[k]), labels[i % 5]);
            const char *id = images_id(&first, k);
            assert_int_equal(images_find(&first, id, strlen(id)), (int64_t)k);
        }
        /* labels in byte order: "", alpha, mu, zeta, été */
        assert_string_equal(images_label(&first, 0), "");
        assert_string_equal(images_label(&first, 4), "\xc3\xa9t\xc3\xa9");
        int32_t values[ROWS];
        for (int k = 0; k < ROWS; k++)
            values[k] = k;
        assert_int_equal(images_order_apply(values, order, ROWS, &err), ERR_OK);
        for (int k = 0; k < ROWS; k++)
            assert_int_equal(values[k], (int32_t)order[k]);
        free(order);
        images_release(&first);
        images_release(&second);
    }
}

/* ---- deferred uuid ids of hard shapes, against a plain reference -------- */

/* The ids a deferred index reports as repeats, in report order. */
typedef struct {
    unsigned char (*ids)[16];
    size_t count, capacity;
} ReportedIds;

static void note_repeat(void *context, const char *id, size_t id_length)
{
    ReportedIds *reported = context;
    assert_int_equal(id_length, 16);
    assert_true(reported->count < reported->capacity);
    memcpy(reported->ids[reported->count++], id, 16);
}

static int compare_uuid(const void *x, const void *y)
{
    return memcmp(x, y, 16);
}

static void put_big_endian(unsigned char *p, uint64_t value)
{
    for (int i = 7; i >= 0; i--, value >>= 8)
        p[i] = (unsigned char)value;
}

enum {
    SHAPE_RANDOM,       /* version 4: every bit random */
    SHAPE_TIME_ORDERED, /* version 7: 48-bit milliseconds a few apart, a long shared prefix */
    SHAPE_CROWDED,      /* all but one id share 14 bytes: one bucket holds nearly everything */
    SHAPE_ONE_ID,       /* one id repeated: every row in one bucket */
    SHAPES
};

/* Distinct id number i of a shape. */
static void shape_id(int shape, size_t i, Rng *rng, unsigned char *bytes)
{
    char text[40];
    switch (shape) {
    case SHAPE_RANDOM:
        random_uuid(rng, bytes, text);
        break;
    case SHAPE_TIME_ORDERED:
        /* 2026's milliseconds, then version 7, 12 random bits, variant, 62 random bits */
        put_big_endian(bytes, (UINT64_C(0x019a3b5c0000) + i / 3) << 16 | 0x7000
                                  | rng_below(rng, 4096));
        put_big_endian(bytes + 8, UINT64_C(0x8000000000000000) | rng_below(rng, UINT64_C(1) << 62));
        break;
    case SHAPE_CROWDED:
        memset(bytes, 0, 16);
        bytes[6] = 0x40, bytes[8] = 0x80;
        if (i == 0)
            bytes[0] = 0xff; /* the one id outside the crowd */
        else
            bytes[14] = (unsigned char)(i >> 8), bytes[15] = (unsigned char)i;
        break;
    default:
        memcpy(bytes, "\x01\x8f\x00\x00\x00\x00\x70\x00\x80\x00\x00\x00\x00\x00\x00\x2a", 16);
        break;
    }
}

/*
 * Each shape, read deferred with repeats mixed in: ids in strict byte
 * order, each with the first arrival's score, the repeats reported in the
 * order they arrived, every id found by its bytes and its text, ids next to
 * stored ones (one bit off, one below the smallest, one above the largest,
 * another prefix) not found; and rows committed afterwards are looked up.
 */
static void test_deferred_uuid_shapes_sorted_and_found(void **state)
{
    (void)state;
    static const size_t distinct_of[SHAPES] = {70000, 20000, 4000, 1};
    for (int shape = 0; shape < SHAPES; shape++) {
        size_t distinct = distinct_of[shape];
        size_t arrivals = distinct + distinct / 7 + 3;
        unsigned char (*ids)[16] = malloc(distinct * sizeof *ids);
        unsigned char (*arrived)[16] = malloc(arrivals * sizeof *arrived);
        size_t *first_arrival = malloc(distinct * sizeof *first_arrival);
        ReportedIds reported = {malloc(arrivals * 16), 0, arrivals};
        assert_non_null(ids), assert_non_null(arrived);
        assert_non_null(first_arrival), assert_non_null(reported.ids);
        Rng rng;
        rng_init(&rng, 1234 + (uint64_t)shape);
        for (size_t i = 0; i < distinct; i++)
            shape_id(shape, i, &rng, ids[i]);
        /* Arrivals: the distinct ids shuffled, then a repeat after every 7th
         * and three at the end, each of an id that has already arrived. */
        size_t *order = malloc(distinct * sizeof *order);
        assert_non_null(order);
        for (size_t i = 0; i < distinct; i++)
            order[i] = i;
        for (size_t i = distinct - 1; i > 0; i--) {
            size_t j = (size_t)rng_below(&rng, i + 1), held = order[i];
            order[i] = order[j];
            order[j] = held;
        }
        size_t at = 0;
        for (size_t k = 0; k < distinct; k++) {
            memcpy(arrived[at++], ids[order[k]], 16);
            if (k % 7 == 6)
                memcpy(arrived[at++], ids[order[rng_below(&rng, k + 1)]], 16);
        }
        for (int r = 0; r < 3; r++)
            memcpy(arrived[at++], ids[order[rng_below(&rng, distinct)]], 16);
        arrivals = at;

        Images images;
        Error err;
        error_clear(&err);
        images_init(&images, true, false, false, false);
        assert_int_equal(images_use_uuid_ids(&images, &err), ERR_OK);
        images_defer_ids(&images);
        for (size_t k = 0; k < arrivals; k++)
            commit(&images, (const char *)arrived[k], 16, (double)k, 1);
        assert_int_equal(images_index_ids(&images, note_repeat, &reported, &err), ERR_OK);

        /* The reference: distinct ids sorted, each with its first arrival. */
        qsort(ids, distinct, 16, compare_uuid);
        for (size_t i = 0; i < distinct; i++)
            first_arrival[i] = SIZE_MAX;
        size_t repeats = 0;
        for (size_t k = 0; k < arrivals; k++) {
            unsigned char (*found)[16] = bsearch(arrived[k], ids, distinct, 16, compare_uuid);
            assert_non_null(found);
            size_t i = (size_t)(found - ids);
            if (first_arrival[i] == SIZE_MAX) {
                first_arrival[i] = k;
            } else {
                assert_true(repeats < reported.count);
                assert_memory_equal(reported.ids[repeats++], arrived[k], 16); /* arrival order */
            }
        }
        assert_int_equal(reported.count, repeats);
        assert_true(repeats >= distinct / 7);
        assert_int_equal(images.count, distinct);
        for (size_t row = 0; row < distinct; row++) {
            assert_memory_equal(images.id_uuid_bytes + row * 16, ids[row], 16);
            assert_true(images.score[row] == (double)first_arrival[row]);
            assert_int_equal(images_find(&images, (const char *)ids[row], 16), (int64_t)row);
            const char *text = images_id(&images, row);
            assert_int_equal(images_find(&images, text, strlen(text)), (int64_t)row);
        }
        /* Absent ids: each stored id with one bit flipped (high and low
         * half), and ids below the smallest and above the largest. */
        for (size_t row = 0; row < distinct; row += distinct > 5000 ? 7 : 1) {
            for (int bit = 0; bit < 128; bit += 9) {
                unsigned char near[16];
                memcpy(near, ids[row], 16);
                near[bit / 8] ^= (unsigned char)(0x80 >> (bit % 8));
                int64_t expected = -1;
                unsigned char (*found)[16] = bsearch(near, ids, distinct, 16, compare_uuid);
                if (found != NULL)
                    expected = (int64_t)(found - ids);
                assert_int_equal(images_find(&images, (const char *)near, 16), expected);
            }
        }
        unsigned char edge[16];
        memset(edge, 0, 16);
        if (memcmp(edge, ids[0], 16) != 0)
            assert_int_equal(images_find(&images, (const char *)edge, 16), -1);
        memset(edge, 0xff, 16);
        if (memcmp(edge, ids[distinct - 1], 16) != 0)
            assert_int_equal(images_find(&images, (const char *)edge, 16), -1);

        /* Rows after the index are looked up as they come: a repeat is
         * dropped, a new id added, and every id still found. */
        commit(&images, (const char *)ids[distinct / 2], 16, -1.0, 0);
        unsigned char fresh[16];
        memset(fresh, 0xee, 16);
        commit(&images, (const char *)fresh, 16, -2.0, 1);
        commit(&images, (const char *)fresh, 16, -3.0, 0);
        assert_int_equal(images_find(&images, (const char *)fresh, 16), (int64_t)distinct);
        for (size_t row = 0; row < distinct; row++)
            assert_int_equal(images_find(&images, (const char *)ids[row], 16), (int64_t)row);
        images_release(&images);
        free(ids), free(arrived), free(first_arrival), free(reported.ids), free(order);
    }
}

/*
 * Two streams fill one SharedRows at once (rows interleaved, some begun
 * and dropped as a rejected row is, a third stream claims and uses
 * nothing), their parts merged, the matrix adopted and the rows sorted:
 * every id ends with its own embedding, in id order, the slots no row kept
 * are gone, and the rows' order is the one a counted read gives.
 */
static void test_shared_rows_settle_in_id_order(void **state)
{
    (void)state;
    enum { DIM = 5, ROWS = 700 };
    Error err;
    error_clear(&err);
    SharedRows *shared = shared_rows_new(DIM, 4 * ROWS, &err);
    assert_non_null(shared);
    Images parts[3], all;
    for (int p = 0; p < 3; p++) {
        images_init(&parts[p], true, false, false, true);
        assert_int_equal(images_use_uuid_ids(&parts[p], &err), ERR_OK);
        images_attach_shared(&parts[p], shared);
    }
    images_init(&all, true, false, false, true);
    assert_int_equal(images_use_uuid_ids(&all, &err), ERR_OK);
    assert_int_equal(images_set_dim(&all, DIM, &err), ERR_OK);
    images_attach_shared(&all, shared);
    /* Row i: id with (i * 7919) % ROWS in its last bytes, embedding i + d / 10. */
    Rng rng;
    rng_init(&rng, 77);
    size_t dropped = 0;
    for (size_t i = 0; i < ROWS; i++) {
        Images *part = &parts[rng_below(&rng, 2)];
        float *slot = NULL;
        if (rng_below(&rng, 9) == 0) { /* begun, then rejected: never committed */
            assert_int_equal(images_begin_row(part, &slot, &err), ERR_OK);
            slot[0] = -1.0f;
            dropped++;
        }
        assert_int_equal(images_begin_row(part, &slot, &err), ERR_OK);
        for (int d = 0; d < DIM; d++)
            slot[d] = (float)i + (float)d / 10.0f;
        unsigned char id[16] = {0};
        size_t key = (i * 7919) % ROWS;
        id[14] = (unsigned char)(key >> 8), id[15] = (unsigned char)key;
        assert_int_equal(images_commit_row(part, (const char *)id, 16, (double)i, NAN, NULL, 0,
                                           &err),
                         1);
    }
    float *unused = NULL;
    assert_int_equal(images_begin_row(&parts[2], &unused, &err), ERR_OK); /* claims, keeps none */
    assert_true(dropped > 0);
    assert_int_equal(images_merge_parts(&all, parts, 3, &err), ERR_OK);
    images_adopt_shared(&all, shared);
    for (int p = 0; p < 3; p++)
        images_release(&parts[p]);
    shared_rows_free(shared);
    assert_int_equal(all.count, ROWS);
    uint32_t *order = NULL;
    assert_int_equal(images_sort_by_id(&all, &order, &err), ERR_OK);
    for (size_t k = 0; k < ROWS; k++) {
        size_t i = (size_t)all.score[k]; /* the row's arrival, carried by its score */
        const unsigned char *id = all.id_uuid_bytes + k * 16;
        assert_int_equal((size_t)id[14] << 8 | id[15], k); /* keys 0 .. ROWS - 1, in order */
        assert_int_equal((i * 7919) % ROWS, k);
        for (int d = 0; d < DIM; d++)
            assert_true(all.embedding[k * DIM + d] == (float)i + (float)d / 10.0f);
    }
    free(order);
    images_release(&all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid_format_is_canonical),
        cmocka_unit_test(test_uuid_ids_round_trip_and_are_found_by_any_spelling),
        cmocka_unit_test(test_uuid_ids_take_less_memory_than_text),
        cmocka_unit_test(test_merge_parts_appends_in_order_and_indexes),
        cmocka_unit_test(test_text_ids_unchanged_and_no_switch_after_rows),
        cmocka_unit_test(test_reserve_sizes_the_id_index_once),
        cmocka_unit_test(test_deferred_ids_indexed_after_the_stream),
        cmocka_unit_test(test_deferred_duplicates_compact_in_order),
        cmocka_unit_test(test_embedding_matrix_grows_into_a_mapping_intact),
        cmocka_unit_test(test_sort_by_id_gives_one_order),
        cmocka_unit_test(test_deferred_uuid_shapes_sorted_and_found),
        cmocka_unit_test(test_shared_rows_settle_in_id_order),
    };
    return cmocka_run_group_tests_name("images", tests, NULL, NULL);
}
