/* Unit tests of the binary COPY parser (read/copy.h): columns land where
 * they belong, any chunking gives the same result, bad rows are skipped and
 * counted, usable rows reach the row sink, and malformed bytes are errors
 * that say where, never over-reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/images.h"
#include "core/rng.h"
#include "read/copy.h"

typedef struct {
    unsigned char data[1 << 16];
    size_t length;
} Bytes;

static void put_u32(Bytes *b, uint32_t v)
{
    b->data[b->length++] = (unsigned char)(v >> 24);
    b->data[b->length++] = (unsigned char)(v >> 16);
    b->data[b->length++] = (unsigned char)(v >> 8);
    b->data[b->length++] = (unsigned char)v;
}

static void put_u16(Bytes *b, uint16_t v)
{
    b->data[b->length++] = (unsigned char)(v >> 8);
    b->data[b->length++] = (unsigned char)v;
}

static void put_header(Bytes *b)
{
    memcpy(b->data, "PGCOPY\n\377\r\n\0", 11);
    b->length = 11;
    put_u32(b, 0);
    put_u32(b, 0);
}

static void put_text(Bytes *b, const char *text)
{
    if (text == NULL) {
        put_u32(b, 0xffffffffu);
        return;
    }
    put_u32(b, (uint32_t)strlen(text));
    memcpy(b->data + b->length, text, strlen(text));
    b->length += strlen(text);
}

static void put_f8(Bytes *b, double value, int null)
{
    if (null) {
        put_u32(b, 0xffffffffu);
        return;
    }
    uint64_t bits;
    memcpy(&bits, &value, 8);
    put_u32(b, 8);
    put_u32(b, (uint32_t)(bits >> 32));
    put_u32(b, (uint32_t)bits);
}

/* real[] in binary array format; a NaN value stands for a NULL element when null_at >= 0. */
static void put_f4_array(Bytes *b, const float *values, int count, int null_at)
{
    put_u32(b, (uint32_t)(20 + count * 8 - (null_at >= 0 ? 4 : 0)));
    put_u32(b, 1);
    put_u32(b, null_at >= 0 ? 1 : 0);
    put_u32(b, 700);
    put_u32(b, (uint32_t)count);
    put_u32(b, 1);
    for (int i = 0; i < count; i++) {
        if (i == null_at) {
            put_u32(b, 0xffffffffu);
            continue;
        }
        uint32_t bits;
        memcpy(&bits, &values[i], 4);
        put_u32(b, 4);
        put_u32(b, bits);
    }
}

/* float8[] in binary array format. */
static void put_f8_array(Bytes *b, const double *values, int count)
{
    put_u32(b, (uint32_t)(20 + count * 12));
    put_u32(b, 1);
    put_u32(b, 0);
    put_u32(b, 701);
    put_u32(b, (uint32_t)count);
    put_u32(b, 1);
    for (int i = 0; i < count; i++)
        put_f8(b, values[i], 0);
}

/* A float's half-precision bits, for values a half holds exactly (tests only). */
static uint16_t half_bits(float value)
{
    if (isnan(value))
        return 0x7E00;
    if (isinf(value))
        return value > 0 ? 0x7C00 : 0xFC00;
    uint16_t sign = signbit(value) ? 0x8000 : 0;
    float magnitude = fabsf(value);
    if (magnitude == 0)
        return sign;
    int exponent;
    float fraction = frexpf(magnitude, &exponent); /* magnitude = fraction * 2^exponent */
    if (exponent < -13) /* subnormal: magnitude = m * 2^-24 */
        return (uint16_t)(sign | (uint16_t)ldexpf(magnitude, 24));
    return (uint16_t)(sign | (uint16_t)(exponent + 14) << 10
                      | ((uint16_t)ldexpf(fraction, 11) & 0x3FF));
}

/* pgvector's vector in its send format: dim, 0, big-endian float4s. */
static void put_vector(Bytes *b, const float *values, int count)
{
    put_u32(b, (uint32_t)(4 + 4 * count));
    put_u16(b, (uint16_t)count);
    put_u16(b, 0);
    for (int i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], 4);
        put_u32(b, bits);
    }
}

/* pgvector's halfvec in its send format: dim, 0, big-endian halves. */
static void put_halfvec(Bytes *b, const float *values, int count)
{
    put_u32(b, (uint32_t)(4 + 2 * count));
    put_u16(b, (uint16_t)count);
    put_u16(b, 0);
    for (int i = 0; i < count; i++)
        put_u16(b, half_bits(values[i]));
}

/* A bytea of little-endian halves. */
static void put_half_bytea(Bytes *b, const float *values, int count)
{
    put_u32(b, (uint32_t)(2 * count));
    for (int i = 0; i < count; i++) {
        uint16_t bits = half_bits(values[i]);
        b->data[b->length++] = (unsigned char)(bits & 0xFF);
        b->data[b->length++] = (unsigned char)(bits >> 8);
    }
}

static Plan score_plan(void)
{
    Plan plan = {0};
    plan.column_count = 2;
    plan.has_score = true;
    return plan;
}

/* Parses b in chunks of `chunk` bytes; err holds the message of a failure. */
static int parse_all_error(const Plan *plan, const StreamOptions *options, const Bytes *b,
                           size_t chunk, Images *images, StreamStats *stats, Error *err)
{
    CopyParser *parser = NULL;
    error_clear(err);
    int code = copy_parser_new(plan, options, images, &parser, err);
    if (code != ERR_OK)
        return code;
    for (size_t at = 0; at < b->length && code == ERR_OK; at += chunk) {
        size_t part = b->length - at < chunk ? b->length - at : chunk;
        code = copy_parser_feed(parser, (const char *)b->data + at, part, err);
    }
    if (code == ERR_OK)
        code = copy_parser_finish(parser, err);
    if (stats != NULL)
        *stats = *copy_parser_stats(parser);
    copy_parser_free(parser);
    return code;
}

static int parse_all(const Plan *plan, const StreamOptions *options, const Bytes *b,
                     size_t chunk, Images *images, StreamStats *stats)
{
    Error err;
    return parse_all_error(plan, options, b, chunk, images, stats, &err);
}

static void score_rows(Bytes *b)
{
    put_header(b);
    for (int i = 0; i < 50; i++) {
        char id[16];
        snprintf(id, sizeof id, "img-%d", i);
        put_u16(b, 2);
        put_text(b, id);
        put_f8(b, i * 0.5, 0);
    }
    put_u16(b, 2); put_text(b, NULL); put_f8(b, 1.0, 0);       /* NULL id */
    put_u16(b, 2); put_text(b, "nul-score"); put_f8(b, 0, 1); /* NULL score */
    put_u16(b, 2); put_text(b, "inf"); put_f8(b, INFINITY, 0);
    put_u16(b, 2); put_text(b, "img-3"); put_f8(b, 9.0, 0);   /* duplicate id */
    put_u16(b, 0xffff);
}

static void test_scores_any_chunking(void **state)
{
    (void)state;
    static Bytes b;
    b.length = 0;
    score_rows(&b);
    Plan plan = score_plan();
    StreamOptions options = {.score_required = true};
    size_t chunks[] = {1, 2, 3, 7, 19, 64, 1000, b.length};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        Images images;
        StreamStats stats;
        images_init(&images, true, false, false, false);
        assert_int_equal(parse_all(&plan, &options, &b, chunks[c], &images, &stats), ERR_OK);
        assert_int_equal(images.count, 50);
        assert_int_equal(stats.rows_read, 54);
        assert_int_equal(stats.rejected[REJECT_NULL_ID], 1);
        assert_int_equal(stats.rejected[REJECT_NULL_SCORE], 1);
        assert_int_equal(stats.rejected[REJECT_NONFINITE_SCORE], 1);
        assert_int_equal(stats.rejected[REJECT_DUPLICATE_ID], 1);
        for (int i = 0; i < 50; i++) {
            char id[16];
            snprintf(id, sizeof id, "img-%d", i);
            assert_string_equal(images_id(&images, (size_t)i), id);
            assert_true(images.score[i] == i * 0.5);
            assert_int_equal(images_find(&images, id, strlen(id)), i);
        }
        assert_int_equal(images_find(&images, "img-50", 6), -1);
        images_release(&images);
    }
}

static void test_embeddings_and_bad_rows(void **state)
{
    (void)state;
    static Bytes b;
    b.length = 0;
    float row[4] = {1, 2, 3, 4};
    float wide[5] = {1, 2, 3, 4, 5};
    float nan_row[4] = {1, NAN, 3, 4};
    put_header(&b);
    put_u16(&b, 2); put_text(&b, "a"); put_f4_array(&b, row, 4, -1);
    put_u16(&b, 2); put_text(&b, "b"); put_f4_array(&b, wide, 5, -1);   /* dim mismatch */
    put_u16(&b, 2); put_text(&b, "c"); put_f4_array(&b, row, 4, 2);     /* NULL element */
    put_u16(&b, 2); put_text(&b, "d"); put_f4_array(&b, nan_row, 4, -1); /* NaN */
    put_u16(&b, 2); put_text(&b, "e"); put_u32(&b, 0xffffffffu);        /* NULL embedding */
    put_u16(&b, 2); put_text(&b, "f"); put_f4_array(&b, wide, 4, -1);
    put_u16(&b, 0xffff);

    Plan plan = {.column_count = 2, .has_embedding = true};
    StreamOptions options = {.embedding_format = EMBEDDING_ARRAY};
    Images images;
    StreamStats stats;
    images_init(&images, false, false, false, true);
    assert_int_equal(parse_all(&plan, &options, &b, 5, &images, &stats), ERR_OK);
    assert_int_equal(images.count, 2);
    assert_int_equal(images.dim, 4);
    assert_true(images.embedding[0] == 1 && images.embedding[3] == 4);
    assert_true(images.embedding[4] == 1 && images.embedding[7] == 4);
    assert_int_equal(stats.rejected[REJECT_DIM_MISMATCH], 1);
    assert_int_equal(stats.rejected[REJECT_BAD_EMBEDDING], 2);
    assert_int_equal(stats.rejected[REJECT_NULL_EMBEDDING], 1);
    images_release(&images);

    /* A pinned dimension with on_bad_row: error makes a mismatch fatal. */
    options.embedding_dim = 4;
    options.dim_mismatch_is_error = true;
    images_init(&images, false, false, false, true);
    assert_int_equal(parse_all(&plan, &options, &b, b.length, &images, NULL), ERR_DATA);
    images_release(&images);
}

static void test_bytea_embeddings(void **state)
{
    (void)state;
    static Bytes b;
    b.length = 0;
    put_header(&b);
    float values[3] = {0.5f, -2.0f, 3.25f};
    put_u16(&b, 2);
    put_text(&b, "x");
    put_u32(&b, 12);
    for (int i = 0; i < 3; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], 4);
        for (int k = 0; k < 4; k++)
            b.data[b.length++] = (unsigned char)(bits >> (8 * k)); /* little-endian */
    }
    put_u16(&b, 2); put_text(&b, "odd"); put_u32(&b, 5); b.length += 5; /* not a multiple of 4 */
    put_u16(&b, 0xffff);
    Plan plan = {.column_count = 2, .has_embedding = true};
    StreamOptions options = {.embedding_format = EMBEDDING_BYTEA};
    Images images;
    StreamStats stats;
    images_init(&images, false, false, false, true);
    assert_int_equal(parse_all(&plan, &options, &b, 3, &images, &stats), ERR_OK);
    assert_int_equal(images.count, 1);
    assert_true(images.embedding[0] == 0.5f && images.embedding[1] == -2.0f
                && images.embedding[2] == 3.25f);
    assert_int_equal(stats.rejected[REJECT_BAD_EMBEDDING], 1);
    images_release(&images);
}

static void test_categories_interned(void **state)
{
    (void)state;
    static Bytes b;
    b.length = 0;
    put_header(&b);
    const char *labels[] = {"cat", "dog", "cat", NULL, "bird", "dog"};
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "i%d", i);
        put_u16(&b, 2);
        put_text(&b, id);
        put_text(&b, labels[i]);
    }
    put_u16(&b, 0xffff);
    Plan plan = {.column_count = 2, .has_category = true};
    StreamOptions options = {0};
    Images images;
    StreamStats stats;
    images_init(&images, false, false, true, false);
    assert_int_equal(parse_all(&plan, &options, &b, 4, &images, &stats), ERR_OK);
    assert_int_equal(images.count, 5);
    assert_int_equal(images.label_count, 3);
    assert_int_equal(images.label_of[0], images.label_of[2]);
    assert_int_equal(images.label_of[1], images.label_of[4]);
    assert_string_equal(images_label(&images, images.label_of[3]), "bird");
    assert_int_equal(stats.rejected[REJECT_NULL_CATEGORY], 1);
    images_release(&images);
}

static void test_malformed_streams_are_errors(void **state)
{
    (void)state;
    static Bytes good, bad;
    good.length = 0;
    score_rows(&good);
    Plan plan = score_plan();
    StreamOptions options = {.score_required = true};

    /* Every truncation of a valid stream is an error, never a crash. */
    for (size_t cut = 0; cut < good.length; cut++) {
        bad.length = cut;
        memcpy(bad.data, good.data, cut);
        Images images;
        images_init(&images, true, false, false, false);
        assert_int_equal(parse_all(&plan, &options, &bad, 13, &images, NULL), ERR_DATA);
        images_release(&images);
    }
    /* Bad signature; wrong field count; data after the trailer. */
    memcpy(bad.data, good.data, good.length);
    bad.length = good.length;
    bad.data[0] = 'X';
    Images images;
    images_init(&images, true, false, false, false);
    assert_int_equal(parse_all(&plan, &options, &bad, 64, &images, NULL), ERR_DATA);
    images_release(&images);

    bad.length = 0;
    put_header(&bad);
    put_u16(&bad, 3);
    put_text(&bad, "a");
    put_f8(&bad, 1, 0);
    put_f8(&bad, 1, 0);
    put_u16(&bad, 0xffff);
    images_init(&images, true, false, false, false);
    assert_int_equal(parse_all(&plan, &options, &bad, 64, &images, NULL), ERR_DATA);
    images_release(&images);

    memcpy(bad.data, good.data, good.length);
    bad.length = good.length;
    put_u16(&bad, 2);
    images_init(&images, true, false, false, false);
    assert_int_equal(parse_all(&plan, &options, &bad, 64, &images, NULL), ERR_DATA);
    images_release(&images);

    /* Random bit flips: any outcome but a crash (ASan checks over-reads). */
    Rng rng;
    rng_init(&rng, 11);
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(bad.data, good.data, good.length);
        bad.length = good.length;
        int flips = 1 + (int)rng_below(&rng, 4);
        for (int f = 0; f < flips; f++)
            bad.data[rng_below(&rng, bad.length)] ^= (unsigned char)(1u << rng_below(&rng, 8));
        images_init(&images, true, false, false, false);
        int code = parse_all(&plan, &options, &bad, 1 + rng_below(&rng, 40), &images, NULL);
        assert_true(code == ERR_OK || code == ERR_DATA);
        images_release(&images);
    }
}

/* Rejected rows reach the callback with their id as text. */
typedef struct {
    char ids[8][64];
    int count;
} SeenRejects;

static void remember_reject(void *context, const char *id, size_t id_length, RejectReason reason)
{
    SeenRejects *seen = context;
    (void)reason;
    if (seen->count < 8 && id != NULL)
        snprintf(seen->ids[seen->count++], sizeof seen->ids[0], "%.*s", (int)id_length, id);
}

static void put_uuid(Bytes *b, unsigned char first)
{
    put_u32(b, 16);
    for (int i = 0; i < 16; i++)
        b->data[b->length++] = (unsigned char)(first + i);
}

/* A uuid id column streams as 16 raw bytes; images keeps 16 bytes per id. */
static void test_uuid_ids_stream_as_16_bytes(void **state)
{
    (void)state;
    static Bytes b;
    b.length = 0;
    put_header(&b);
    for (int i = 0; i < 40; i++) {
        put_u16(&b, 2);
        put_uuid(&b, (unsigned char)(i * 3));
        put_f8(&b, i, 0);
    }
    put_u16(&b, 2); put_uuid(&b, 3); put_f8(&b, 1.0, 0);   /* duplicate of row 1 */
    put_u16(&b, 2); put_uuid(&b, 200); put_f8(&b, 0, 1);   /* NULL score */
    put_u16(&b, 0xffff);
    Plan plan = score_plan();
    plan.id_uuid = true;
    SeenRejects seen = {0};
    StreamOptions options = {.score_required = true, .on_reject = remember_reject,
                             .reject_context = &seen};
    size_t chunks[] = {1, 5, 17, b.length};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        Images images;
        StreamStats stats;
        seen.count = 0;
        images_init(&images, true, false, false, false);
        assert_int_equal(parse_all(&plan, &options, &b, chunks[c], &images, &stats), ERR_OK);
        assert_true(images.id_uuid);
        assert_int_equal(images.count, 40);
        assert_int_equal(stats.rejected[REJECT_DUPLICATE_ID], 1);
        assert_int_equal(stats.rejected[REJECT_NULL_SCORE], 1);
        assert_string_equal(images_id(&images, 1), "03040506-0708-090a-0b0c-0d0e0f101112");
        assert_int_equal(images_find(&images, "03040506-0708-090a-0b0c-0d0e0f101112", 36), 1);
        assert_true(images.score[39] == 39.0);
        assert_int_equal(seen.count, 2);
        assert_string_equal(seen.ids[0], "03040506-0708-090a-0b0c-0d0e0f101112");
        assert_string_equal(seen.ids[1], "c8c9cacb-cccd-cecf-d0d1-d2d3d4d5d6d7");
        images_release(&images);
    }
    /* A uuid field of another size is malformed data, not a short id. */
    b.length = 0;
    put_header(&b);
    put_u16(&b, 2); put_text(&b, "img-1"); put_f8(&b, 1.0, 0);
    put_u16(&b, 0xffff);
    Images images;
    images_init(&images, true, false, false, false);
    assert_int_equal(parse_all(&plan, &options, &b, 64, &images, NULL), ERR_DATA);
    images_release(&images);
}

static void test_float8_arrays(void **state)
{
    (void)state;
    static Bytes b;
    b.length = 0;
    double row[3] = {0.5, -1.25, 3};
    double huge[3] = {1e300, 0, 0}; /* no float holds it */
    put_header(&b);
    put_u16(&b, 2); put_text(&b, "a"); put_f8_array(&b, row, 3);
    put_u16(&b, 2); put_text(&b, "b"); put_f8_array(&b, huge, 3);
    put_u16(&b, 0xffff);
    Plan plan = {.column_count = 2, .has_embedding = true};
    StreamOptions options = {.embedding_format = EMBEDDING_ARRAY};
    Images images;
    StreamStats stats;
    images_init(&images, false, false, false, true);
    assert_int_equal(parse_all(&plan, &options, &b, 7, &images, &stats), ERR_OK);
    assert_int_equal(images.count, 1);
    assert_int_equal(images.dim, 3);
    assert_true(images.embedding[0] == 0.5f && images.embedding[1] == -1.25f
                && images.embedding[2] == 3.0f);
    assert_int_equal(stats.rejected[REJECT_BAD_EMBEDDING], 1);
    images_release(&images);
}

/* What a row sink saw: each call's row index and first embedding value. */
typedef struct {
    int64_t rows[8];
    float first[8];
    int count;
} SeenRows;

static int remember_row(void *context, const char *id, size_t id_length, int64_t row,
                        const float *embedding, Error *err)
{
    SeenRows *seen = context;
    (void)id;
    (void)id_length;
    (void)err;
    if (seen->count < 8) {
        seen->rows[seen->count] = row;
        seen->first[seen->count] = embedding[0];
    }
    seen->count++;
    return ERR_OK;
}

/* Bounded memory: images keeps no embeddings, the row sink gets each usable row's. */
static void test_row_sink_gets_embeddings(void **state)
{
    (void)state;
    static Bytes b;
    b.length = 0;
    float row[4] = {1, 2, 3, 4};
    float other[4] = {4, 3, 2, 1};
    float wide[5] = {1, 2, 3, 4, 5};
    put_header(&b);
    put_u16(&b, 2); put_text(&b, "a"); put_f4_array(&b, row, 4, -1);
    put_u16(&b, 2); put_text(&b, "b"); put_f4_array(&b, wide, 5, -1); /* dim mismatch */
    put_u16(&b, 2); put_text(&b, "c"); put_f4_array(&b, other, 4, -1);
    put_u16(&b, 2); put_text(&b, "a"); put_f4_array(&b, other, 4, -1); /* duplicate id */
    put_u16(&b, 0xffff);
    Plan plan = {.column_count = 2, .has_embedding = true};
    SeenRows seen = {0};
    StreamOptions options = {.embedding_format = EMBEDDING_ARRAY, .embedding_dim = 4,
                             .on_row = remember_row, .row_context = &seen};
    Images images;
    StreamStats stats;
    images_init(&images, false, false, false, false);
    assert_int_equal(parse_all(&plan, &options, &b, 6, &images, &stats), ERR_OK);
    assert_int_equal(images.count, 2);
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.rows[0], 0);
    assert_true(seen.first[0] == 1.0f);
    assert_int_equal(seen.rows[1], 1);
    assert_true(seen.first[1] == 4.0f);
    assert_int_equal(stats.rejected[REJECT_DIM_MISMATCH], 1);
    assert_int_equal(stats.rejected[REJECT_DUPLICATE_ID], 1);
    images_release(&images);

    /* A lookup stores nothing and hands over every usable row, duplicates too. */
    seen.count = 0;
    options.lookup_only = true;
    images_init(&images, false, false, false, false);
    assert_int_equal(parse_all(&plan, &options, &b, b.length, &images, &stats), ERR_OK);
    assert_int_equal(images.count, 0);
    assert_int_equal(seen.count, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(seen.rows[i], -1);
    images_release(&images);

    /* Without a pinned dimension or a sink the embeddings would go nowhere. */
    options.on_row = NULL;
    images_init(&images, false, false, false, false);
    assert_int_equal(parse_all(&plan, &options, &b, b.length, &images, NULL), ERR_INTERNAL);
    images_release(&images);
}

/* Malformed input names the byte where the damage starts and what it is. */
static void test_malformed_messages_say_where(void **state)
{
    (void)state;
    static Bytes b;
    Plan plan = score_plan();
    StreamOptions options = {.score_required = true};
    Images images;
    Error err;

    /* The score field starts 11 bytes into the tuple at byte 19. */
    b.length = 0;
    put_header(&b);
    put_u16(&b, 2); put_text(&b, "a"); put_u32(&b, 4); put_u32(&b, 0);
    put_u16(&b, 0xffff);
    images_init(&images, true, false, false, false);
    assert_int_equal(parse_all_error(&plan, &options, &b, 3, &images, NULL, &err), ERR_DATA);
    assert_string_equal(err.message, "malformed COPY data at byte 30: float8 field of a wrong size");
    images_release(&images);

    b.length = 0;
    put_header(&b);
    put_u16(&b, 2); put_u32(&b, 0xfffffffeu);
    images_init(&images, true, false, false, false);
    assert_int_equal(parse_all_error(&plan, &options, &b, 64, &images, NULL, &err), ERR_DATA);
    assert_string_equal(err.message, "malformed COPY data at byte 21: negative field length");
    images_release(&images);

    b.length = 0;
    put_header(&b);
    put_u16(&b, 2); put_text(&b, "a");
    images_init(&images, true, false, false, false);
    assert_int_equal(parse_all_error(&plan, &options, &b, 64, &images, NULL, &err), ERR_DATA);
    assert_string_equal(err.message, "malformed COPY data at byte 19: stream ended inside a tuple");
    images_release(&images);

    /* A pinned dimension with on_bad_row: error names the image and the fix. */
    float row[4] = {1, 2, 3, 4};
    b.length = 0;
    put_header(&b);
    put_u16(&b, 2); put_text(&b, "a"); put_f4_array(&b, row, 4, -1);
    put_u16(&b, 2); put_text(&b, "wide"); put_f4_array(&b, row, 3, -1);
    put_u16(&b, 0xffff);
    Plan embedding_plan = {.column_count = 2, .has_embedding = true};
    StreamOptions pinned = {.embedding_dim = 4, .dim_mismatch_is_error = true};
    images_init(&images, false, false, false, true);
    assert_int_equal(parse_all_error(&embedding_plan, &pinned, &b, 64, &images, NULL, &err),
                     ERR_DATA);
    assert_string_equal(err.message, "image \"wide\" has an embedding of a dimension other than 4"
                                     "\nHINT: set source.on_bad_row: skip to skip such rows");
    images_release(&images);
}

/* A plain read of uuid ids indexes them after the stream; duplicates are rejected then. */
static void test_deferred_ids_reject_duplicates_when_indexed(void **state)
{
    (void)state;
    static Bytes b;
    b.length = 0;
    put_header(&b);
    for (int i = 0; i < 40; i++) {
        put_u16(&b, 2);
        put_uuid(&b, (unsigned char)(i * 3));
        put_f8(&b, i, 0);
    }
    put_u16(&b, 2); put_uuid(&b, 3); put_f8(&b, 1.0, 0);   /* duplicate of row 1 */
    put_u16(&b, 0xffff);
    Plan plan = score_plan();
    plan.id_uuid = true;
    SeenRejects seen = {0};
    StreamOptions options = {.score_required = true, .on_reject = remember_reject,
                             .reject_context = &seen};
    Images images;
    CopyParser *parser = NULL;
    Error err;
    images_init(&images, true, false, false, false);
    assert_int_equal(copy_parser_new(&plan, &options, &images, &parser, &err), ERR_OK);
    images_defer_ids(&images);
    assert_int_equal(copy_parser_feed(parser, (const char *)b.data, b.length, &err), ERR_OK);
    assert_int_equal(copy_parser_finish(parser, &err), ERR_OK);
    assert_int_equal(images.count, 41);
    assert_int_equal(copy_parser_index_ids(parser, &err), ERR_OK);
    assert_int_equal(images.count, 40);
    assert_int_equal(copy_parser_stats(parser)->rejected[REJECT_DUPLICATE_ID], 1);
    assert_int_equal(seen.count, 1);
    assert_string_equal(seen.ids[0], "03040506-0708-090a-0b0c-0d0e0f101112");
    assert_int_equal(images_find(&images, "03040506-0708-090a-0b0c-0d0e0f101112", 36), 1);
    copy_parser_free(parser);
    images_release(&images);
}

static void test_reject_names_are_distinct(void **state)
{
    (void)state;
    for (int r = 0; r < REJECT_REASON_COUNT; r++) {
        assert_true(strlen(stream_reject_name((RejectReason)r)) > 0);
        assert_string_not_equal(stream_reject_name((RejectReason)r), "unknown");
        for (int other = 0; other < r; other++)
            assert_string_not_equal(stream_reject_name((RejectReason)r),
                                    stream_reject_name((RejectReason)other));
    }
    assert_string_equal(stream_reject_name(REJECT_NULL_SCORE), "null_score");
    assert_string_equal(stream_reject_name(REJECT_REASON_COUNT), "unknown");
}

static void test_many_ids_hash_index(void **state)
{
    (void)state;
    Images images;
    Error err;
    images_init(&images, false, false, false, false);
    for (int i = 0; i < 100000; i++) {
        char id[24];
        int length = snprintf(id, sizeof id, "%08x-%d", i * 2654435761u, i);
        assert_int_equal(images_begin_row(&images, NULL, &err), ERR_OK);
        assert_int_equal(images_commit_row(&images, id, (size_t)length, 0, 0, NULL, 0, &err), 1);
    }
    for (int i = 0; i < 100000; i += 997) {
        char id[24];
        int length = snprintf(id, sizeof id, "%08x-%d", i * 2654435761u, i);
        assert_int_equal(images_find(&images, id, (size_t)length), i);
        assert_int_equal(images_commit_row(&images, id, (size_t)length, 0, 0, NULL, 0, &err), 0);
    }
    images_release(&images);
}

/* The same rows as vector, halfvec and a float16 bytea give the same matrix. */
static void check_pgvector_rows(EmbeddingFormat format)
{
    static Bytes b;
    b.length = 0;
    /* values a half holds exactly, a subnormal half among them */
    float rows[3][4] = {{1, -2, 0.5f, 0x1p-20f}, {0.25f, 3, -0.125f, 65504}, {0, -0.0f, 7, 1}};
    put_header(&b);
    for (int r = 0; r < 3; r++) {
        char id[16];
        snprintf(id, sizeof id, "v%d", r);
        put_u16(&b, 2);
        put_text(&b, id);
        if (format == EMBEDDING_VECTOR)
            put_vector(&b, rows[r], 4);
        else if (format == EMBEDDING_HALFVEC)
            put_halfvec(&b, rows[r], 4);
        else
            put_half_bytea(&b, rows[r], 4);
    }
    put_u16(&b, 0xffff);
    Plan plan = {.column_count = 2, .has_embedding = true};
    StreamOptions options = {.embedding_format = format};
    for (size_t chunk = 1; chunk <= b.length; chunk += chunk < 16 ? 1 : 37) {
        Images images;
        StreamStats stats;
        images_init(&images, false, false, false, true);
        assert_int_equal(parse_all(&plan, &options, &b, chunk, &images, &stats), ERR_OK);
        assert_int_equal(images.count, 3);
        assert_int_equal(images.dim, 4);
        assert_memory_equal(images.embedding, rows, sizeof rows);
        images_release(&images);
    }
}

static void test_vector_halfvec_and_float16_bytea(void **state)
{
    (void)state;
    check_pgvector_rows(EMBEDDING_VECTOR);
    check_pgvector_rows(EMBEDDING_HALFVEC);
    check_pgvector_rows(EMBEDDING_BYTEA_FLOAT16);
}

/* NaN and Inf in a vector or halfvec are bad rows, as in an array; so is an empty one. */
static void test_pgvector_bad_values_rejected(void **state)
{
    (void)state;
    EmbeddingFormat formats[3] = {EMBEDDING_VECTOR, EMBEDDING_HALFVEC, EMBEDDING_BYTEA_FLOAT16};
    for (int k = 0; k < 3; k++) {
        static Bytes b;
        b.length = 0;
        float good[3] = {1, 2, 3}, nan_row[3] = {1, NAN, 3}, inf_row[3] = {-INFINITY, 2, 3};
        float wide[4] = {1, 2, 3, 4};
        const float *rows[4] = {good, nan_row, inf_row, wide};
        int counts[4] = {3, 3, 3, 4};
        put_header(&b);
        for (int r = 0; r < 5; r++) {
            put_u16(&b, 2);
            char id[16];
            snprintf(id, sizeof id, "r%d", r);
            put_text(&b, id);
            if (r == 4) /* dimension 0 */
                formats[k] == EMBEDDING_BYTEA_FLOAT16 ? put_half_bytea(&b, good, 0)
                : formats[k] == EMBEDDING_VECTOR      ? put_vector(&b, good, 0)
                                                      : put_halfvec(&b, good, 0);
            else if (formats[k] == EMBEDDING_VECTOR)
                put_vector(&b, rows[r], counts[r]);
            else if (formats[k] == EMBEDDING_HALFVEC)
                put_halfvec(&b, rows[r], counts[r]);
            else
                put_half_bytea(&b, rows[r], counts[r]);
        }
        put_u16(&b, 0xffff);
        Plan plan = {.column_count = 2, .has_embedding = true};
        StreamOptions options = {.embedding_format = formats[k]};
        Images images;
        StreamStats stats;
        images_init(&images, false, false, false, true);
        assert_int_equal(parse_all(&plan, &options, &b, 7, &images, &stats), ERR_OK);
        assert_int_equal(images.count, 1);
        assert_int_equal(stats.rejected[REJECT_BAD_EMBEDDING], 3);
        assert_int_equal(stats.rejected[REJECT_DIM_MISMATCH], 1);
        images_release(&images);
    }
}

/* A vector whose bytes do not match its header is damage, said where. */
static void test_pgvector_malformed(void **state)
{
    (void)state;
    struct {
        EmbeddingFormat format;
        uint32_t length;
        uint16_t dim, unused;
        size_t value_bytes;
        const char *message;
    } cases[] = {
        {EMBEDDING_VECTOR, 3, 0, 0, 0, "vector header too short"},
        {EMBEDDING_VECTOR, 4 + 8, 3, 0, 8, "vector length unlike its dimension"},   /* truncated */
        {EMBEDDING_VECTOR, 4 + 16, 3, 0, 16, "vector length unlike its dimension"}, /* oversized */
        {EMBEDDING_HALFVEC, 4 + 12, 3, 0, 12, "vector length unlike its dimension"},
        {EMBEDDING_HALFVEC, 4 + 6, 3, 1, 6, "vector with a nonzero unused field"},
        {EMBEDDING_VECTOR, 4 + 4 * 3, 0xFFFF, 0, 12, "vector length unlike its dimension"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        static Bytes b;
        b.length = 0;
        put_header(&b);
        put_u16(&b, 2);
        put_text(&b, "x");
        put_u32(&b, cases[c].length);
        if (cases[c].length >= 4) {
            put_u16(&b, cases[c].dim);
            put_u16(&b, cases[c].unused);
        } else {
            b.length += cases[c].length;
        }
        memset(b.data + b.length, 0x3F, cases[c].value_bytes);
        b.length += cases[c].value_bytes;
        put_u16(&b, 0xffff);
        Plan plan = {.column_count = 2, .has_embedding = true};
        StreamOptions options = {.embedding_format = cases[c].format};
        Images images;
        Error err;
        images_init(&images, false, false, false, true);
        assert_int_equal(parse_all_error(&plan, &options, &b, b.length, &images, NULL, &err),
                         ERR_DATA);
        assert_non_null(strstr(err.message, cases[c].message));
        assert_non_null(strstr(err.message, "at byte 30")); /* the field's first byte */
        images_release(&images);
    }
}

/* vector_send(...) written as a bytea embedding is a clear configuration error. */
static void test_vector_send_as_bytea_is_named(void **state)
{
    (void)state;
    float values[6] = {0.5f, -1, 2, 0.25f, 8, 1};
    EmbeddingFormat formats[2] = {EMBEDDING_BYTEA, EMBEDDING_BYTEA_FLOAT16};
    for (int k = 0; k < 2; k++) {
        for (int half = 0; half < 2; half++) {
            static Bytes b;
            b.length = 0;
            put_header(&b);
            put_u16(&b, 2);
            put_text(&b, "x");
            half ? put_halfvec(&b, values, 6) : put_vector(&b, values, 6);
            put_u16(&b, 0xffff);
            Plan plan = {.column_count = 2, .has_embedding = true};
            StreamOptions options = {.embedding_format = formats[k]};
            Images images;
            Error err;
            images_init(&images, false, false, false, true);
            assert_int_equal(parse_all_error(&plan, &options, &b, 5, &images, NULL, &err),
                             ERR_CONFIG);
            assert_non_null(strstr(err.message, "pgvector's binary send format"));
            assert_non_null(strstr(err.message, "6-dimensional"));
            assert_non_null(strstr(err.message, "HINT: name the vector or halfvec column"));
            images_release(&images);
        }
    }
    /* Packed float32s that begin like a header but do not fit it are values. */
    size_t dim;
    unsigned char plain[16] = {0, 3, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    assert_true(copy_bytea_is_pgvector_send(plain, 16, &dim));  /* 4 + 4 * 3 */
    assert_false(copy_bytea_is_pgvector_send(plain, 12, &dim)); /* 4 + 4 * 2: dim says 3 */
    plain[2] = 1;
    assert_false(copy_bytea_is_pgvector_send(plain, 16, &dim)); /* unused is not 0 */
    unsigned char zero[8] = {0};
    assert_false(copy_bytea_is_pgvector_send(zero, 4, &dim));
    assert_false(copy_bytea_is_pgvector_send(zero, 8, &dim));   /* dimension 0 */
}

/* A bounded read streams vector rows through the scratch row to on_row. */
typedef struct {
    float sum;
    int rows;
} SumSink;

static int sum_row(void *context, const char *id, size_t id_length, int64_t row,
                   const float *embedding, Error *err)
{
    (void)id; (void)id_length; (void)row; (void)err;
    SumSink *sink = context;
    for (int i = 0; i < 3; i++)
        sink->sum += embedding[i];
    sink->rows++;
    return ERR_OK;
}

static void test_halfvec_bounded_row_sink(void **state)
{
    (void)state;
    static Bytes b;
    b.length = 0;
    float row[3] = {1.5f, -0.5f, 2};
    float wide[4] = {1, 1, 1, 1};
    put_header(&b);
    for (int r = 0; r < 10; r++) {
        char id[16];
        snprintf(id, sizeof id, "h%d", r);
        put_u16(&b, 2);
        put_text(&b, id);
        put_halfvec(&b, r == 4 ? wide : row, r == 4 ? 4 : 3);
    }
    put_u16(&b, 0xffff);
    Plan plan = {.column_count = 2, .has_embedding = true};
    SumSink sink = {0, 0};
    StreamOptions options = {.embedding_format = EMBEDDING_HALFVEC, .embedding_dim = 3,
                             .on_row = sum_row, .row_context = &sink};
    Images images;
    StreamStats stats;
    images_init(&images, false, false, false, false);
    assert_int_equal(parse_all(&plan, &options, &b, 11, &images, &stats), ERR_OK);
    assert_int_equal(sink.rows, 9);
    assert_true(sink.sum == 9 * 3.0f);
    assert_int_equal(stats.rejected[REJECT_DIM_MISMATCH], 1);
    images_release(&images);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores_any_chunking),
        cmocka_unit_test(test_embeddings_and_bad_rows),
        cmocka_unit_test(test_bytea_embeddings),
        cmocka_unit_test(test_categories_interned),
        cmocka_unit_test(test_malformed_streams_are_errors),
        cmocka_unit_test(test_many_ids_hash_index),
        cmocka_unit_test(test_uuid_ids_stream_as_16_bytes),
        cmocka_unit_test(test_float8_arrays),
        cmocka_unit_test(test_row_sink_gets_embeddings),
        cmocka_unit_test(test_malformed_messages_say_where),
        cmocka_unit_test(test_deferred_ids_reject_duplicates_when_indexed),
        cmocka_unit_test(test_reject_names_are_distinct),
        cmocka_unit_test(test_vector_halfvec_and_float16_bytea),
        cmocka_unit_test(test_pgvector_bad_values_rejected),
        cmocka_unit_test(test_pgvector_malformed),
        cmocka_unit_test(test_vector_send_as_bytea_is_named),
        cmocka_unit_test(test_halfvec_bounded_row_sink),
    };
    return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
