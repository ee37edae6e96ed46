/*
 * libFuzzer target: the binary COPY parser (read/copy.h) on arbitrary bytes, in
 * arbitrary chunks. Any return code is fine; a crash, an over-read,
 * undefined behaviour or a leak is not, nor an Images whose id index does
 * not find its own rows.
 *
 * Input layout (so that the seed corpus can hold real COPY streams):
 *   byte 0  columns and options: bit 0 score, 1 variance, 2 category,
 *           3 embedding, 4 score required, 5 embedding as bytea,
 *           6 pinned dimension (byte 1), 7 dimension mismatch is an error
 *   byte 1  the pinned embedding dimension (when bit 6; 0 means none);
 *           without bit 6, bit 7 makes the id column a uuid (16 raw bytes)
 *   byte 2  chunking: 0 feeds the stream whole; else bits 0-6 seed the
 *           sizes of the chunks (1 to 2 * seed bytes each) and bit 7
 *           reserves rows first, as a run does from its count query
 *   byte 3  the embedding's encoding, bits 0-1: 0 as byte 0's bit 5 says
 *           (real[]/float8[] or a float32 bytea), 1 pgvector's vector,
 *           2 pgvector's halfvec, 3 a bytea of float16
 *   rest    the bytes of `COPY ... TO STDOUT (FORMAT binary)`
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/images.h"
#include "read/plan.h"
#include "read/copy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint8_t flags = data[0], pinned_dim = data[1], chunking = data[2], encoding = data[3] & 3;
    data += 4;
    size -= 4;

    /* A Plan as plan_build makes it: id, then the optional columns in order. */
    Plan plan = {0};
    plan.has_score = flags & 0x01;
    plan.has_variance = flags & 0x02;
    plan.has_category = flags & 0x04;
    plan.has_embedding = flags & 0x08;
    plan.id_uuid = !(flags & 0x40) && (pinned_dim & 0x80);
    plan.column_count = 1 + plan.has_score + plan.has_variance + plan.has_category
                        + plan.has_embedding;
    static const EmbeddingFormat encodings[4] = {EMBEDDING_ARRAY, EMBEDDING_VECTOR,
                                                 EMBEDDING_HALFVEC, EMBEDDING_BYTEA_FLOAT16};
    StreamOptions options = {
        .score_required = flags & 0x10,
        .embedding_format = encoding == 0 && (flags & 0x20) ? EMBEDDING_BYTEA : encodings[encoding],
        .embedding_dim = (plan.has_embedding && (flags & 0x40)) ? pinned_dim : 0,
        .dim_mismatch_is_error = flags & 0x80,
    };

    Images images;
    images_init(&images, plan.has_score, plan.has_variance, plan.has_category,
                plan.has_embedding);
    CopyParser *parser = NULL;
    Error err;
    error_clear(&err);
    int code = ERR_OK;
    if ((chunking & 0x80) && (code = images_reserve(&images, 3, &err)) != ERR_OK)
        goto done;
    if ((code = copy_parser_new(&plan, &options, &images, &parser, &err)) != ERR_OK)
        goto done;

    uint32_t state = (uint32_t)(chunking & 0x7F) * 2654435761u + 1;
    size_t most = (size_t)(chunking & 0x7F) * 2;
    for (size_t at = 0; at < size && code == ERR_OK;) {
        size_t part = size - at;
        if (chunking != 0 && most > 0) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            size_t want = 1 + state % most;
            if (want < part)
                part = want;
        }
        /* A copy of exactly `part` bytes, so an over-read past the chunk is seen. */
        char *chunk = malloc(part);
        if (chunk == NULL)
            abort();
        memcpy(chunk, data + at, part);
        code = copy_parser_feed(parser, chunk, part, &err);
        free(chunk);
        at += part;
    }
    if (code == ERR_OK)
        code = copy_parser_finish(parser, &err);
    if (code != ERR_OK && (err.code != code || err.message[0] == '\0'))
        abort();

    /* Whatever was kept is consistent: every id finds its own row. */
    const StreamStats *stats = copy_parser_stats(parser);
    if (images.count > stats->rows_read)
        abort();
    for (size_t row = 0; row < images.count; row++) {
        const char *id = images_id(&images, row);
        if (images_find(&images, id, strlen(id)) != (int64_t)row)
            abort();
        if (images.has_label)
            (void)images_label(&images, images.label_of[row]);
    }
    if (images.has_embedding && images.count > 0 && images.dim == 0)
        abort();
    /* Every embedding kept is finite, whatever its encoding. */
    for (size_t i = 0; images.has_embedding && i < images.count * images.dim; i++)
        if (!isfinite(images.embedding[i]))
            abort();

done:
    copy_parser_free(parser);
    images_release(&images);
    return 0;
}
