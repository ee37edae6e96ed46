/*
 * images: the selected images held in memory as columns: ids (one compact
 * byte arena, NUL-terminated, with a hash index for lookups and duplicate
 * detection; or, when the id column is a uuid, 16 raw bytes per id in one
 * fixed-width array, formatted as text only where an id is written), scores,
 * variances, labels of a category column (interned), and the embeddings as
 * one contiguous N x D float32 matrix.
 *
 * It does not read the database: the stream module fills it row by row
 * (images_begin_row ... images_commit_row). The caller owns the Images
 * struct (images_init / images_release); every array in it is owned by it.
 */
#ifndef PAIRPICK_IMAGES_H
#define PAIRPICK_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/sanitizer.h"

typedef struct Images {
    size_t count;
    size_t capacity;         /* rows the column arrays can hold */

    char *id_bytes;          /* text ids: id i starts at id_bytes + id_offset[i] */
    size_t id_bytes_length, id_bytes_capacity;
    size_t *id_offset;
    bool id_uuid;            /* uuid ids: 16 raw bytes each, no arena, no offsets */
    bool ids_deferred;       /* images_defer_ids: no index (nor duplicates) until indexed */
    bool ids_sorted;         /* uuid ids in byte order (images_index_ids, images_sort_by_id) */
    unsigned char *id_uuid_bytes; /* capacity x 16 */
    uint32_t *id_index;      /* open addressing: row + 1, 0 = empty */
    size_t id_index_capacity;
    /* Sorted uuid ids (images_index_ids) are found through buckets instead:
     * the ids share their first id_prefix_bits bits (those of the first
     * id); the next id_bucket_bits bits pick bucket b, whose rows are
     * [id_bucket_start[b], id_bucket_start[b + 1]). NULL when not built;
     * a committed row replaces it by the hash index. */
    uint32_t *id_bucket_start;
    unsigned id_prefix_bits, id_bucket_bits;

    double *score;           /* NULL unless has_score; NaN for NULL where allowed */
    double *variance;        /* NULL unless has_variance; NaN for NULL */
    int32_t *label_of;       /* NULL unless has_label: index into labels */

    char *label_bytes;       /* interned labels of the category column */
    size_t label_bytes_length, label_bytes_capacity;
    size_t *label_offset;
    int32_t label_count, label_capacity;
    uint32_t *label_index;   /* open addressing: label + 1, 0 = empty */
    size_t label_index_capacity;

    float *embedding;        /* count x dim, row-major; NULL unless has_embedding */
    size_t dim;              /* 0 until the first embedding fixes it */

    /* > 0: the column is an mmap of this size (IMAGES_MAPPED_BYTES), else on the heap */
    size_t id_uuid_mapped_bytes, score_mapped_bytes, variance_mapped_bytes, label_mapped_bytes;

    bool has_score, has_variance, has_label, has_embedding;
    bool embedding_external;   /* embedding belongs to someone else (a slice) */
    size_t embedding_mapped_bytes; /* > 0: embedding is an mmap of this size */
    size_t embedding_capacity; /* rows the external slice holds */

    /* While ids are deferred: the keys and order images_index_ids needs,
     * grown with the columns and written ahead by a helper thread as rows
     * come in (core/prefault.h); NULL otherwise. */
    struct Prefault *index_scratch;
    size_t index_scratch_asked; /* rows the helper was asked to write ahead */

    /* Embeddings in a SharedRows (images_attach_shared): row r's is at slot
     * slot_of[r] of it; [slot_next, slot_end) claimed and not yet used;
     * slot_current the slot of the row being added. After
     * images_adopt_shared the Images owns the matrix, whose slot_span slots
     * images_sort_by_id puts in row order. */
    struct SharedRows *shared;
    uint32_t *slot_of;
    size_t slot_next, slot_end, slot_current, slot_span;
} Images;

void images_init(Images *images, bool has_score, bool has_variance, bool has_label,
                 bool has_embedding);
void images_release(Images *images);

/*
 * Holds ids as uuids from now on (before the first row): 16 bytes each.
 * images_commit_row and images_find then take an id as its 16 raw bytes (a
 * binary COPY's uuid field) or as uuid text (36 characters with hyphens, or
 * 32 hex digits; any case), and images_id gives the canonical lowercase text.
 * ERR_INTERNAL when rows were already added as text.
 */
int images_use_uuid_ids(Images *images, Error *err);

/* Canonical lowercase text of 16 uuid bytes into out (37 bytes or more). */
void images_format_uuid(const unsigned char *uuid, char *out);

/*
 * Makes room for `rows` rows in total (e.g. from a count query), so the
 * embedding matrix is allocated once at its final size.
 */
int images_reserve(Images *images, size_t rows, Error *err);

/* Fixes the embedding dimension (before the first row). */
int images_set_dim(Images *images, size_t dim, Error *err);

/*
 * Starts row `count`: makes room and returns where its embedding goes (dim
 * floats; NULL when there is no embedding column or dim is not yet known).
 */
int images_begin_row(Images *images, float **embedding_slot, Error *err);

/*
 * Commits the row begun last. Returns 1 when added, 0 when the id was
 * already there (the row is dropped: a duplicate id counts once), or a
 * negative value on allocation failure (err set).
 */
int images_commit_row(Images *images, const char *id, size_t id_length, double score,
                      double variance, const char *label, size_t label_length, Error *err);

/*
 * Matrices and columns from this size up are mapped with huge pages (see
 * images.c). Under AddressSanitizer the bar is higher, so the arrays of
 * test-sized selections stay on the heap, where their bounds are checked.
 */
#ifdef PAIRPICK_ASAN
#define IMAGES_MAPPED_BYTES ((size_t)32 << 20)
#else
#define IMAGES_MAPPED_BYTES ((size_t)2 << 20)
#endif

/*
 * Makes images write its embeddings into rows (capacity rows of dim floats)
 * owned by the caller: a worker's slice of the shared matrix. More rows
 * than capacity is an error, never a reallocation.
 */
void images_attach_embedding(Images *images, float *rows, size_t capacity, size_t dim);

/*
 * Appends every row of parts[0 .. part_count) to into, in that order: ids,
 * scores, variances, labels (re-interned), columns copied whole and the id
 * index extended once. The ids must be distinct across into and every part
 * (partitions by id hash): nothing checks them again. Embedding rows of a
 * part in a SharedRows stay in their slots (their slots are noted); others
 * move from the part's slice to into's next rows with memmove (the slice
 * may lie inside into's own matrix, at or after the rows it moves to).
 */
int images_merge_parts(Images *into, const Images *parts, size_t part_count, Error *err);

/*
 * One embedding matrix that several Images fill at once, without knowing
 * beforehand how many rows each brings: each claims slots (blocks of rows)
 * from one counter, in address space reserved for up to `rows` rows, and
 * remembers each of its rows' slots; the pages exist once written.
 */
typedef struct SharedRows SharedRows;

/* Room for up to rows rows of dim floats; NULL (err set) when the address space cannot be had. */
SharedRows *shared_rows_new(size_t dim, size_t rows, Error *err);

/* Frees the rows (unless an Images adopted them) and the SharedRows; NULL is a no-op. */
void shared_rows_free(SharedRows *shared);

/*
 * images (no rows yet) takes its embeddings' slots from shared, which must
 * outlive it: ERR_DATA when the reservation runs out. images_merge_parts of such
 * Images into one attached to the same shared records their slots; the
 * rows themselves never move.
 */
void images_attach_shared(Images *images, SharedRows *shared);

/*
 * images (attached to shared, every part merged) takes the matrix over: it
 * is in slot order until images_sort_by_id puts the rows in id order (and
 * so in row order: the only use that may come between).
 */
void images_adopt_shared(Images *images, SharedRows *shared);

/*
 * The id of row as text. Text ids: a pointer into the arena, valid while
 * images lives. Uuid ids: formatted into one of IMAGES_ID_BUFFERS buffers of
 * the calling thread, used in turn, so it stays valid for the next
 * IMAGES_ID_BUFFERS - 1 calls on that thread (enough for the two ids of a
 * pair in one expression); copy it to keep it longer.
 */
#define IMAGES_ID_BUFFERS 8
/*
 * For a plain read of uuid ids (no embeddings): rows are committed without
 * looking their ids up, so the stream is consumed at the server's pace; the
 * duplicates are found afterwards by images_index_ids. Until then
 * images_find finds nothing and every row counts. No-op unless the ids are
 * uuids, there are no embedding rows and no row is in yet.
 */
void images_defer_ids(Images *images);

/*
 * Indexes the ids of a deferred read: sorts the rows by id (a radix sort),
 * keeps the first row of each id (the one that arrived first) and reports
 * later duplicates to on_duplicate in the order they arrived (their 16
 * bytes; on_duplicate may be NULL), then builds the bucket table that
 * images_find searches (no hash index: the next committed row builds one).
 * The rows come out in images_sort_by_id's order, which then has only the
 * labels left to renumber. A no-op when not deferred.
 * ERR_INTERNAL when memory runs out (the rows are unchanged).
 */
int images_index_ids(Images *images, void (*on_duplicate)(void *context, const char *id,
                                                          size_t id_length),
                     void *context, Error *err);

/*
 * Puts the rows in a canonical order that does not depend on the order the
 * database sent them in (nor on how a parallel read split them): by id
 * bytes (uuid ids: their 16 bytes; text ids: the text's byte order, ids
 * being distinct). Scores, variances, labels and embedding rows move with
 * their ids; the embedding matrix is permuted in place along the cycles of
 * the order (one row of scratch, no second matrix). Labels are renumbered
 * in byte order of their text, so label numbers do not depend on which row
 * came first either. The id index is rebuilt.
 *
 * *order_out (may be NULL) receives order[k] = the row that went to place
 * k, malloc'd, for the caller's own per-row arrays (images_order_apply);
 * NULL when no row moved (images_index_ids had put them in id order).
 * ERR_INTERNAL when memory runs out or the ids are not indexed yet; the
 * rows may then be partly reordered (release them).
 */
int images_sort_by_id(Images *images, uint32_t **order_out, Error *err);

/* values[k] = old values[order[k]] for k < count: a per-row array follows images_sort_by_id. */
int images_order_apply(int32_t *values, const uint32_t *order, size_t count, Error *err);

const char *images_id(const Images *images, size_t row);

/* The row holding id, or -1. */
int64_t images_find(const Images *images, const char *id, size_t id_length);

/*
 * The row whose images_id is exactly this text, or -1: for ids read back as
 * text (the output table's text columns), which match as the database
 * compares them. With uuid ids only the canonical lowercase form matches:
 * an uppercase or hyphenless spelling is another key to the output table's
 * unique constraint, and to the queries that join with the selected ids.
 */
int64_t images_find_text(const Images *images, const char *id, size_t id_length);

const char *images_label(const Images *images, int32_t label);

/* Bytes held by the columns (for the report and memory checks). */
size_t images_memory(const Images *images);

/* Of those, the bytes that hold the ids (storage, offsets, hash index or buckets). */
size_t images_id_memory(const Images *images);

#endif
