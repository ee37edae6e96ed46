#include "core/images.h"

#include "core/cpus.h"
#include "core/mapping.h"
#include "core/permute.h"
#include "core/prefault.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define UUID_BYTES 16
#define UUID_TEXT 36

/* FNV-1a, then a final mix: ids are often uuids that share prefixes. */
static uint64_t hash_bytes(const char *data, size_t length)
{
    uint64_t hash = 1469598103934665603ULL;
    for (size_t i = 0; i < length; i++) {
        hash ^= (unsigned char)data[i];
        hash *= 1099511628211ULL;
    }
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= hash >> 33;
    return hash;
}

/*
 * A uuid's 16 bytes as two 64-bit words, mixed (murmur3's finalizer): a
 * few cycles where hash_bytes spends one multiply per byte. Time-ordered
 * uuids (v1, v7) differ mostly in some bytes; every bit of both words
 * reaches every bit of the hash.
 */
static uint64_t hash_uuid(const unsigned char *key)
{
    uint64_t high, low;
    memcpy(&high, key, sizeof high);
    memcpy(&low, key + sizeof high, sizeof low);
    uint64_t hash = high ^ (low * 0x9e3779b97f4a7c15ULL);
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= hash >> 33;
    hash *= 0xc4ceb9fe1a85ec53ULL;
    hash ^= hash >> 33;
    return hash;
}

/*
 * The embedding matrix and the id, score, variance and label columns. From
 * IMAGES_MAPPED_BYTES (one huge page) up each is its own anonymous mapping
 * on a 2 MB boundary, advised to use transparent huge pages: its first
 * write is then one fault per 2 MB rather than one per 4 kB. On this
 * project's VM the first write of 880 MB of fresh memory took 3.2-4.2 s
 * with 4 kB pages and 1.2-2.6 s with huge pages (a rewrite: 0.07 s), and
 * the client's CPU competes with the server's for the same cores while
 * rows stream in. 897,144 uuid ids and scores committed and indexed: 6,200
 * to 6,700 page faults instead of 11,200 to 11,700, and half the time.
 * Growing a mapping is mremap (no copy). Smaller arrays stay on the heap,
 * where sanitizers see them.
 */
static int grow_array(void **array, size_t count, size_t size, Error *err);
static void index_scratch_grow(Images *images, size_t rows);
static int shared_slot(Images *images, float **embedding_slot, Error *err);
static int settle_slots(Images *images, const uint32_t *order, Error *err);
static size_t index_scratch_bytes(size_t rows);

/*
 * Resizes *memory to count elements of size bytes; *mapped is the size of
 * its mapping, 0 while on the heap. kept: the bytes in use, copied when the
 * array moves from the heap to a mapping. A mapping grows in place when the
 * addresses after it are free, else moves (page tables, not bytes) to a new
 * aligned range (core/mapping.h).
 */
static int region_resize(void **memory, size_t *mapped, size_t count, size_t size, size_t kept,
                         Error *err)
{
    if (count != 0 && size > SIZE_MAX / count)
        return error_nomem(err, SIZE_MAX);
    size_t bytes = count * size;
    if (*mapped == 0 && bytes < IMAGES_MAPPED_BYTES)
        return grow_array(memory, count, size, err);
    size_t rounded = mapping_round(bytes);
    if (rounded == 0)
        return error_nomem(err, bytes);
    void *region = *mapped > 0 ? mapping_grow(*memory, *mapped, rounded) : mapping_new(rounded);
    if (region == NULL)
        return error_nomem(err, rounded);
    if (*mapped == 0 && *memory != NULL) {
        /* From the heap to a mapping: the one copy, of what was there. */
        memcpy(region, *memory, kept);
        free(*memory);
    }
    *memory = region;
    *mapped = rounded;
    return ERR_OK;
}

static void region_free(void *memory, size_t mapped)
{
    if (mapped > 0)
        munmap(memory, mapped);
    else
        free(memory);
}

static int embedding_resize(Images *images, size_t floats, Error *err)
{
    return region_resize((void **)&images->embedding, &images->embedding_mapped_bytes, floats,
                         sizeof(float), images->count * images->dim * sizeof(float), err);
}

/*
 * Scratch memory of a sort or an index build: from IMAGES_MAPPED_BYTES up
 * its own mapping with huge pages advised, as the matrix: on this VM a
 * first write to fresh 4 kB pages cost more than the radix sort itself.
 * *mapped is the mapping's size, 0 for the heap (scratch_free takes it).
 */
static void *scratch_alloc(size_t bytes, size_t *mapped)
{
    *mapped = 0;
    if (bytes < IMAGES_MAPPED_BYTES)
        return malloc(bytes);
    size_t rounded = mapping_round(bytes);
    void *memory = rounded > 0 ? mapping_new(rounded) : NULL;
    if (memory != NULL)
        *mapped = rounded;
    return memory;
}

static void scratch_free(void *memory, size_t mapped)
{
    if (mapped > 0)
        munmap(memory, mapped);
    else
        free(memory);
}

static void embedding_free(Images *images)
{
    if (!images->embedding_external)
        region_free(images->embedding, images->embedding_mapped_bytes);
}

void images_init(Images *images, bool has_score, bool has_variance, bool has_label,
                 bool has_embedding)
{
    memset(images, 0, sizeof *images);
    images->has_score = has_score;
    images->has_variance = has_variance;
    images->has_label = has_label;
    images->has_embedding = has_embedding;
}

void images_release(Images *images)
{
    free(images->id_bytes);
    region_free(images->id_uuid_bytes, images->id_uuid_mapped_bytes);
    free(images->id_offset);
    free(images->id_index);
    free(images->id_bucket_start);
    region_free(images->score, images->score_mapped_bytes);
    region_free(images->variance, images->variance_mapped_bytes);
    region_free(images->label_of, images->label_mapped_bytes);
    free(images->label_bytes);
    free(images->label_offset);
    free(images->label_index);
    embedding_free(images);
    prefault_free(images->index_scratch);
    free(images->slot_of);
    memset(images, 0, sizeof *images);
}

static int grow_array(void **array, size_t count, size_t size, Error *err)
{
    if (count != 0 && size > SIZE_MAX / count)
        return error_nomem(err, SIZE_MAX);
    void *grown = realloc(*array, count * size);
    if (grown == NULL)
        return error_nomem(err, count * size);
    *array = grown;
    return ERR_OK;
}

static int rehash(uint32_t **index, size_t *capacity, size_t count, size_t planned,
                  const char *bytes, const size_t *offset, Error *err);
static int uuid_rehash(Images *images, size_t planned, Error *err);
static int64_t uuid_bucket_lookup(const Images *images, const unsigned char *key);
static int uuid_buckets_drop(Images *images, Error *err);

int images_reserve(Images *images, size_t rows, Error *err)
{
    if (rows <= images->capacity)
        return ERR_OK;
    int code;
    size_t count = images->count;
    if (images->id_uuid)
        code = region_resize((void **)&images->id_uuid_bytes, &images->id_uuid_mapped_bytes, rows,
                             UUID_BYTES, count * UUID_BYTES, err);
    else
        code = grow_array((void **)&images->id_offset, rows, sizeof(size_t), err);
    if (code != ERR_OK)
        return code;
    if (images->has_score
        && (code = region_resize((void **)&images->score, &images->score_mapped_bytes, rows,
                                 sizeof(double), count * sizeof(double), err))
               != ERR_OK)
        return code;
    if (images->has_variance
        && (code = region_resize((void **)&images->variance, &images->variance_mapped_bytes, rows,
                                 sizeof(double), count * sizeof(double), err))
               != ERR_OK)
        return code;
    if (images->has_label
        && (code = region_resize((void **)&images->label_of, &images->label_mapped_bytes, rows,
                                 sizeof(int32_t), count * sizeof(int32_t), err))
               != ERR_OK)
        return code;
    if (images->has_embedding && !images->embedding_external && images->dim > 0) {
        if (rows > SIZE_MAX / images->dim)
            return error_nomem(err, SIZE_MAX);
        code = embedding_resize(images, rows * images->dim, err);
        if (code != ERR_OK)
            return code;
    }
    if (images->slot_of != NULL
        && (code = grow_array((void **)&images->slot_of, rows, sizeof(uint32_t), err)) != ERR_OK)
        return code;
    images->capacity = rows;
    index_scratch_grow(images, rows);
    /* The id index too, once, rather than rebuilt at every doubling while
     * rows stream in (a cache miss per id each time). Not while ids are
     * deferred (images_index_ids indexes them) nor while the bucket table
     * finds them (the next committed row builds the hash). */
    if (images->ids_deferred || images->id_bucket_start != NULL)
        return ERR_OK;
    if (rows * 2 + 2 > images->id_index_capacity && rows < UINT32_MAX)
        return images->id_uuid ? uuid_rehash(images, rows, err)
                               : rehash(&images->id_index, &images->id_index_capacity,
                                        images->count, rows, images->id_bytes, images->id_offset,
                                        err);
    return ERR_OK;
}

int images_set_dim(Images *images, size_t dim, Error *err)
{
    if (images->dim == dim)
        return ERR_OK;
    if (images->count > 0 || dim == 0 || images->embedding_external)
        return error_set(err, ERR_INTERNAL, "embedding dimension changed after rows were read");
    images->dim = dim;
    if (images->capacity > 0) {
        if (images->capacity > SIZE_MAX / dim)
            return error_nomem(err, SIZE_MAX);
        return embedding_resize(images, images->capacity * dim, err);
    }
    return ERR_OK;
}

int images_begin_row(Images *images, float **embedding_slot, Error *err)
{
    if (images->count == images->capacity) {
        size_t rows = images->capacity < 1024 ? 1024 : images->capacity + images->capacity / 2;
        int code = images_reserve(images, rows, err);
        if (code != ERR_OK)
            return code;
    }
    if (images->shared != NULL)
        return shared_slot(images, embedding_slot, err);
    if (images->embedding_external && images->count >= images->embedding_capacity)
        return error_set(err, ERR_INTERNAL, "more rows arrived than were counted (%zu)",
                         images->embedding_capacity);
    if (embedding_slot != NULL)
        *embedding_slot = images->has_embedding && images->dim > 0
                              ? images->embedding + images->count * images->dim
                              : NULL;
    return ERR_OK;
}

/*
 * An empty open-addressing table for `planned` keys: a power of two, at
 * least 1024 slots and more than twice the keys (*size set).
 */
static uint32_t *index_table(size_t planned, size_t *size, Error *err)
{
    *size = 1024;
    while (*size < planned * 2 + 2)
        *size *= 2;
    uint32_t *table = calloc(*size, sizeof *table);
    if (table == NULL)
        error_nomem(err, *size * sizeof *table);
    return table;
}

/* Adds keys [first, count) of a text arena to table (size slots, room for them). */
static void text_index_fill(uint32_t *table, size_t size, const char *bytes, const size_t *offset,
                            size_t first, size_t count)
{
    for (size_t row = first; row < count; row++) {
        const char *key = bytes + offset[row];
        size_t slot = hash_bytes(key, strlen(key)) & (size - 1);
        while (table[slot] != 0)
            slot = (slot + 1) & (size - 1);
        table[slot] = (uint32_t)(row + 1);
    }
}

/* Rebuilds an index of `count` keys into a table sized for `planned` (>= count) keys. */
static int rehash(uint32_t **index, size_t *capacity, size_t count, size_t planned,
                  const char *bytes, const size_t *offset, Error *err)
{
    size_t size;
    uint32_t *table = index_table(planned, &size, err);
    if (table == NULL)
        return err->code;
    text_index_fill(table, size, bytes, offset, 0, count);
    free(*index);
    *index = table;
    *capacity = size;
    return ERR_OK;
}

/* Finds key; returns its row or -1, and in *slot_out where it would go. */
static int64_t lookup(const uint32_t *index, size_t capacity, const char *bytes,
                      const size_t *offset, const char *key, size_t length, size_t *slot_out)
{
    if (capacity == 0) {
        *slot_out = 0;
        return -1;
    }
    size_t slot = hash_bytes(key, length) & (capacity - 1);
    while (index[slot] != 0) {
        size_t row = index[slot] - 1;
        const char *candidate = bytes + offset[row];
        /* strnlen first: a key holding a NUL (only malformed input has one)
         * must not match a shorter stored key, nor read past its end. */
        if (strnlen(candidate, length + 1) == length && memcmp(candidate, key, length) == 0)
            return (int64_t)row;
        slot = (slot + 1) & (capacity - 1);
    }
    *slot_out = slot;
    return -1;
}

/* Appends key and its terminating NUL to an arena; returns its offset. */
static int arena_append(char **bytes, size_t *length, size_t *capacity, const char *key,
                        size_t key_length, size_t *offset, Error *err)
{
    if (*length + key_length + 1 > *capacity) {
        size_t grown = *capacity < 4096 ? 4096 : *capacity;
        while (*length + key_length + 1 > grown)
            grown += grown / 2;
        char *moved = realloc(*bytes, grown);
        if (moved == NULL)
            return error_nomem(err, grown);
        *bytes = moved;
        *capacity = grown;
    }
    memcpy(*bytes + *length, key, key_length);
    (*bytes)[*length + key_length] = '\0';
    *offset = *length;
    *length += key_length + 1;
    return ERR_OK;
}

static int32_t intern_label(Images *images, const char *label, size_t length, Error *err)
{
    size_t slot;
    int64_t found = lookup(images->label_index, images->label_index_capacity, images->label_bytes,
                           images->label_offset, label, length, &slot);
    if (found >= 0)
        return (int32_t)found;
    if (images->label_count == INT32_MAX - 1)
        return error_set(err, ERR_DATA, "too many distinct categories"), -1;
    if (images->label_count == images->label_capacity) {
        int32_t grown = images->label_capacity < 64 ? 64 : images->label_capacity * 2;
        if (grow_array((void **)&images->label_offset, (size_t)grown, sizeof(size_t), err) != ERR_OK)
            return -1;
        images->label_capacity = grown;
    }
    size_t offset;
    if (arena_append(&images->label_bytes, &images->label_bytes_length,
                     &images->label_bytes_capacity, label, length, &offset, err)
        != ERR_OK)
        return -1;
    int32_t id = images->label_count++;
    images->label_offset[id] = offset;
    if ((size_t)images->label_count * 2 + 2 > images->label_index_capacity) {
        if (rehash(&images->label_index, &images->label_index_capacity, (size_t)images->label_count,
                   (size_t)images->label_count, images->label_bytes, images->label_offset, err)
            != ERR_OK)
            return -1;
    } else {
        images->label_index[slot] = (uint32_t)id + 1;
    }
    return id;
}

int images_use_uuid_ids(Images *images, Error *err)
{
    if (images->id_uuid)
        return ERR_OK;
    if (images->count > 0)
        return error_set(err, ERR_INTERNAL, "ids switched to uuid after %zu rows were read",
                         images->count);
    free(images->id_offset);
    images->id_offset = NULL;
    images->id_uuid = true;
    if (images->capacity > 0)
        return region_resize((void **)&images->id_uuid_bytes, &images->id_uuid_mapped_bytes,
                             images->capacity, UUID_BYTES, 0, err);
    return ERR_OK;
}

void images_format_uuid(const unsigned char *uuid, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *w = out;
    for (int i = 0; i < UUID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *w++ = '-';
        *w++ = hex[uuid[i] >> 4];
        *w++ = hex[uuid[i] & 15];
    }
    *w = '\0';
}

/* A hex digit's value plus one; 0 for any other byte. */
static const unsigned char HEX_VALUE[256] = {
    ['0'] = 1,   ['1'] = 2,   ['2'] = 3,   ['3'] = 4,   ['4'] = 5,   ['5'] = 6,
    ['6'] = 7,   ['7'] = 8,   ['8'] = 9,   ['9'] = 10,  ['a'] = 11,  ['b'] = 12,
    ['c'] = 13,  ['d'] = 14,  ['e'] = 15,  ['f'] = 16,  ['A'] = 11,  ['B'] = 12,
    ['C'] = 13,  ['D'] = 14,  ['E'] = 15,  ['F'] = 16,
};

/* The same for the digits of canonical text: lowercase only. */
static const unsigned char LOWER_HEX_VALUE[256] = {
    ['0'] = 1,   ['1'] = 2,   ['2'] = 3,   ['3'] = 4,   ['4'] = 5,   ['5'] = 6,
    ['6'] = 7,   ['7'] = 8,   ['8'] = 9,   ['9'] = 10,  ['a'] = 11,  ['b'] = 12,
    ['c'] = 13,  ['d'] = 14,  ['e'] = 15,  ['f'] = 16,
};

/* Which forms of uuid text uuid_key takes. */
typedef enum { UUID_ANY_FORM, UUID_CANONICAL_TEXT } UuidForm;

/*
 * The 16 bytes of a uuid id given raw (16 bytes) or as text (36 characters
 * with hyphens after the 8th, 12th, 16th and 20th digit, or 32 digits; any
 * case). With UUID_CANONICAL_TEXT only the text images_id gives (36
 * characters, lowercase). False when it is neither: no stored id can equal
 * it. Decoded by table, without a branch a digit: the stored pairs' ids
 * (two a pair, millions of pairs) come through here as text.
 */
static bool uuid_key(const char *id, size_t length, UuidForm form, unsigned char *out)
{
    const unsigned char *value = form == UUID_CANONICAL_TEXT ? LOWER_HEX_VALUE : HEX_VALUE;
    if (form == UUID_CANONICAL_TEXT && length != UUID_TEXT)
        return false;
    /* Where the 2i-th digit of each form starts. */
    static const unsigned char dashed[UUID_BYTES] = {0,  2,  4,  6,  9,  11, 14, 16,
                                                     19, 21, 24, 26, 28, 30, 32, 34};
    static const unsigned char plain[UUID_BYTES] = {0,  2,  4,  6,  8,  10, 12, 14,
                                                    16, 18, 20, 22, 24, 26, 28, 30};
    const unsigned char *at;
    if (length == UUID_BYTES) {
        memcpy(out, id, UUID_BYTES);
        return true;
    }
    if (length == UUID_TEXT) {
        if (id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-')
            return false;
        at = dashed;
    } else if (length == 2 * UUID_BYTES) {
        at = plain;
    } else {
        return false;
    }
    const unsigned char *text = (const unsigned char *)id;
    unsigned invalid = 0;
    for (int i = 0; i < UUID_BYTES; i++) {
        unsigned high = value[text[at[i]]], low = value[text[at[i] + 1]];
        invalid |= (high == 0) | (low == 0);
        out[i] = (unsigned char)((high - 1) << 4 | ((low - 1) & 15));
    }
    return invalid == 0;
}

static const unsigned char *uuid_of(const Images *images, size_t row)
{
    return images->id_uuid_bytes + row * UUID_BYTES;
}

/*
 * Adds rows [first, count) to table (size slots, room for them): the slot
 * of row r + AHEAD is computed and fetched while row r is placed, so the
 * cache misses of a large table overlap. The ids must be distinct.
 */
static void uuid_index_fill(const Images *images, size_t first, size_t count, uint32_t *table,
                            size_t size)
{
    enum { AHEAD = 16 };
    size_t ahead[AHEAD];
    size_t mask = size - 1;
    for (size_t r = first; r < first + AHEAD && r < count; r++)
        ahead[r % AHEAD] = hash_uuid(uuid_of(images, r)) & mask;
    for (size_t r = first; r < count; r++) {
        size_t slot = ahead[r % AHEAD];
        if (r + AHEAD < count) {
            size_t next = hash_uuid(uuid_of(images, r + AHEAD)) & mask;
            ahead[r % AHEAD] = next;
            __builtin_prefetch(&table[next]);
        }
        while (table[slot] != 0)
            slot = (slot + 1) & mask;
        table[slot] = (uint32_t)(r + 1);
    }
}

/* Rebuilds the uuid index of `count` rows into a table sized for `planned` rows. */
static int uuid_rehash(Images *images, size_t planned, Error *err)
{
    size_t size;
    uint32_t *table = index_table(planned, &size, err);
    if (table == NULL)
        return err->code;
    uuid_index_fill(images, 0, images->count, table, size);
    free(images->id_index);
    images->id_index = table;
    images->id_index_capacity = size;
    return ERR_OK;
}

static int64_t uuid_lookup(const Images *images, const unsigned char *key, size_t *slot_out)
{
    size_t capacity = images->id_index_capacity;
    if (capacity == 0) {
        *slot_out = 0;
        return -1;
    }
    size_t slot = hash_uuid(key) & (capacity - 1);
    while (images->id_index[slot] != 0) {
        size_t row = images->id_index[slot] - 1;
        if (memcmp(uuid_of(images, row), key, UUID_BYTES) == 0)
            return (int64_t)row;
        slot = (slot + 1) & (capacity - 1);
    }
    *slot_out = slot;
    return -1;
}

/*
 * Stores the id of row `images->count` (room reserved); *slot receives where
 * the index takes it once the row is committed. 0 when a duplicate.
 */
static int store_id(Images *images, const char *id, size_t id_length, size_t *slot, Error *err)
{
    size_t row = images->count;
    if (images->id_uuid) {
        unsigned char key[UUID_BYTES];
        if (!uuid_key(id, id_length, UUID_ANY_FORM, key))
            return error_set(err, ERR_INTERNAL, "an id of %zu bytes is not a uuid", id_length),
                   -1;
        if (images->ids_deferred) {
            /* looked up once the stream is in: images_index_ids */
        } else if (uuid_buckets_drop(images, err) != ERR_OK) {
            return -1;
        } else if (uuid_lookup(images, key, slot) >= 0) {
            return 0;
        }
        memcpy(images->id_uuid_bytes + row * UUID_BYTES, key, UUID_BYTES);
        return 1;
    }
    if (lookup(images->id_index, images->id_index_capacity, images->id_bytes, images->id_offset,
               id, id_length, slot)
        >= 0)
        return 0;
    if (memchr(id, '\0', id_length) != NULL)
        return 0; /* text never holds NUL; treat as unusable rather than truncate */
    size_t offset;
    if (arena_append(&images->id_bytes, &images->id_bytes_length, &images->id_bytes_capacity, id,
                     id_length, &offset, err)
        != ERR_OK)
        return -1;
    images->id_offset[row] = offset;
    return 1;
}

int images_commit_row(Images *images, const char *id, size_t id_length, double score,
                      double variance, const char *label, size_t label_length, Error *err)
{
    size_t row = images->count;
    if (row >= UINT32_MAX - 1)
        return error_set(err, ERR_DATA, "more than %u rows are not supported", UINT32_MAX - 2),
               -1;
    size_t slot;
    int stored = store_id(images, id, id_length, &slot, err);
    if (stored <= 0)
        return stored;
    int32_t label_id = 0;
    if (images->has_label) {
        label_id = intern_label(images, label, label_length, err);
        if (label_id < 0)
            return -1;
    }
    if (images->has_score)
        images->score[row] = score;
    if (images->has_variance)
        images->variance[row] = variance;
    if (images->has_label)
        images->label_of[row] = label_id;
    if (images->slot_of != NULL) {
        images->slot_of[row] = (uint32_t)images->slot_current;
        if (images->slot_next < images->slot_end && images->slot_current == images->slot_next)
            images->slot_next++;
    }
    images->count++;
    images->ids_sorted = false;
    if (images->ids_deferred) {
        /* Indexed once, after the stream; its scratch written ahead meanwhile. */
        if (images->index_scratch != NULL && images->count >= images->index_scratch_asked) {
            images->index_scratch_asked = images->count + images->count / 8 + 4096;
            prefault_want(images->index_scratch, index_scratch_bytes(images->index_scratch_asked));
        }
    } else if (images->count * 2 + 2 > images->id_index_capacity) {
        int code = images->id_uuid
                       ? uuid_rehash(images, images->count, err)
                       : rehash(&images->id_index, &images->id_index_capacity, images->count,
                                images->count,
                                images->id_bytes, images->id_offset, err);
        if (code != ERR_OK)
            return -1;
    } else {
        images->id_index[slot] = (uint32_t)row + 1;
    }
    return 1;
}

void images_defer_ids(Images *images)
{
    images->ids_deferred = images->id_uuid && !images->has_embedding && images->count == 0;
}

const char *images_id(const Images *images, size_t row)
{
    static _Thread_local char text[IMAGES_ID_BUFFERS][UUID_TEXT + 1];
    static _Thread_local unsigned next;
    if (!images->id_uuid)
        return images->id_bytes + images->id_offset[row];
    char *out = text[next++ % IMAGES_ID_BUFFERS];
    images_format_uuid(uuid_of(images, row), out);
    return out;
}

static int64_t find_in(const Images *images, const char *id, size_t id_length, UuidForm form)
{
    size_t slot;
    if (images->id_uuid) {
        unsigned char key[UUID_BYTES];
        if (!uuid_key(id, id_length, form, key))
            return -1;
        if (images->id_bucket_start != NULL)
            return uuid_bucket_lookup(images, key);
        return uuid_lookup(images, key, &slot);
    }
    return lookup(images->id_index, images->id_index_capacity, images->id_bytes,
                  images->id_offset, id, id_length, &slot);
}

int64_t images_find(const Images *images, const char *id, size_t id_length)
{
    return find_in(images, id, id_length, UUID_ANY_FORM);
}

int64_t images_find_text(const Images *images, const char *id, size_t id_length)
{
    return find_in(images, id, id_length, UUID_CANONICAL_TEXT);
}

const char *images_label(const Images *images, int32_t label)
{
    return images->label_bytes + images->label_offset[label];
}

/* Bytes of the bucket table of sorted uuid ids, 0 when there is none. */
static size_t bucket_table_bytes(const Images *images)
{
    if (images->id_bucket_start == NULL)
        return 0;
    return (((size_t)1 << images->id_bucket_bits) + 1) * sizeof(uint32_t);
}

size_t images_memory(const Images *images)
{
    size_t per_row = (images->id_uuid ? UUID_BYTES : sizeof(size_t))
                     + (images->has_score ? sizeof(double) : 0)
                     + (images->has_variance ? sizeof(double) : 0)
                     + (images->has_label ? sizeof(int32_t) : 0)
                     + images->dim * sizeof(float);
    return images->capacity * per_row + images->id_bytes_capacity
           + images->id_index_capacity * sizeof(uint32_t) + bucket_table_bytes(images)
           + images->label_bytes_capacity;
}

size_t images_id_memory(const Images *images)
{
    return images->capacity * (images->id_uuid ? UUID_BYTES : sizeof(size_t))
           + images->id_bytes_capacity + images->id_index_capacity * sizeof(uint32_t)
           + bucket_table_bytes(images);
}

/* ---- one matrix, several streams ---------------------------------------- */

/* Slots a stream claims at once: one counter touched every 64 rows, and at
 * most 63 unused slots a stream at the end. */
#define SHARED_BLOCK_ROWS 64

struct SharedRows {
    float *base;
    size_t dim;
    size_t capacity; /* slots the reservation holds */
    size_t mapped;   /* its bytes */
    bool adopted;    /* an Images owns base now */
    atomic_size_t next;
};

SharedRows *shared_rows_new(size_t dim, size_t rows, Error *err)
{
    SharedRows *shared = calloc(1, sizeof *shared);
    if (shared == NULL) {
        error_nomem(err, sizeof *shared);
        return NULL;
    }
    if (dim == 0 || rows > UINT32_MAX || rows > SIZE_MAX / sizeof(float) / dim
        || (shared->mapped = mapping_round(rows * dim * sizeof(float))) == 0
        || (shared->base = mapping_reserve(shared->mapped)) == NULL) {
        free(shared);
        error_nomem(err, rows * dim * sizeof(float));
        return NULL;
    }
    shared->dim = dim;
    shared->capacity = rows;
    atomic_init(&shared->next, 0);
    return shared;
}

void shared_rows_free(SharedRows *shared)
{
    if (shared == NULL)
        return;
    if (!shared->adopted)
        munmap(shared->base, shared->mapped);
    free(shared);
}

void images_attach_shared(Images *images, SharedRows *shared)
{
    images->shared = shared;
    images->embedding = shared->base;
    images->embedding_external = true;
    images->embedding_capacity = SIZE_MAX;
    images->dim = shared->dim;
    images->slot_next = images->slot_end = 0;
    /* slot_of grows with the columns (images_reserve); one to start. */
    free(images->slot_of);
    images->slot_of = calloc(images->capacity + 1, sizeof *images->slot_of);
}

/* images_begin_row's slot in a SharedRows: the next claimed one, claiming a block when none is left. */
static int shared_slot(Images *images, float **embedding_slot, Error *err)
{
    SharedRows *shared = images->shared;
    if (images->slot_of == NULL)
        return error_nomem(err, images->capacity * sizeof(uint32_t));
    if (embedding_slot == NULL)
        return ERR_OK; /* no slot asked for: nothing claimed */
    if (images->slot_next == images->slot_end) {
        size_t first = atomic_fetch_add(&shared->next, SHARED_BLOCK_ROWS);
        if (first >= shared->capacity)
            return error_set(err, ERR_DATA,
                             "more rows than the %zu the read made room for from the "
                             "source's statistics"
                             "\nHINT: run ANALYZE on the source table, or set "
                             "resources.memory_limit (the read then counts the rows first)",
                             shared->capacity);
        images->slot_next = first;
        images->slot_end = first + SHARED_BLOCK_ROWS < shared->capacity ? first + SHARED_BLOCK_ROWS
                                                                         : shared->capacity;
    }
    images->slot_current = images->slot_next;
    *embedding_slot = shared->base + images->slot_current * shared->dim;
    return ERR_OK;
}

void images_adopt_shared(Images *images, SharedRows *shared)
{
    size_t claimed = atomic_load(&shared->next);
    images->embedding = shared->base;
    images->embedding_mapped_bytes = shared->mapped;
    images->embedding_external = false;
    images->embedding_capacity = 0;
    images->shared = NULL;
    images->slot_span = claimed < shared->capacity ? claimed : shared->capacity;
    shared->adopted = true;
}

void images_attach_embedding(Images *images, float *rows, size_t capacity, size_t dim)
{
    images->embedding = rows;
    images->embedding_external = true;
    images->embedding_capacity = capacity;
    images->dim = dim;
}

/* One part's rows after into's: its columns copied whole, labels re-interned. */
static int append_part(Images *into, const Images *part, Error *err)
{
    size_t at = into->count, rows = part->count;
    if (rows == 0)
        return ERR_OK;
    if (into->id_uuid) {
        memcpy(into->id_uuid_bytes + at * UUID_BYTES, part->id_uuid_bytes, rows * UUID_BYTES);
    } else {
        for (size_t r = 0; r < rows; r++) {
            const char *id = images_id(part, r);
            int code = arena_append(&into->id_bytes, &into->id_bytes_length,
                                    &into->id_bytes_capacity, id, strlen(id),
                                    &into->id_offset[at + r], err);
            if (code != ERR_OK)
                return code;
        }
    }
    if (into->has_score)
        memcpy(into->score + at, part->score, rows * sizeof(double));
    if (into->has_variance)
        memcpy(into->variance + at, part->variance, rows * sizeof(double));
    if (into->has_label) {
        int32_t *as = malloc(((size_t)part->label_count + 1) * sizeof *as);
        if (as == NULL)
            return error_nomem(err, (size_t)part->label_count * sizeof *as);
        for (int32_t l = 0; l < part->label_count; l++) {
            const char *label = images_label(part, l);
            if ((as[l] = intern_label(into, label, strlen(label), err)) < 0) {
                free(as);
                return err->code;
            }
        }
        for (size_t r = 0; r < rows; r++)
            into->label_of[at + r] = as[part->label_of[r]];
        free(as);
    }
    if (part->slot_of != NULL) {
        /* Rows in a SharedRows stay in their slots: only the slots are noted. */
        if (into->slot_of == NULL)
            return error_set(err, ERR_INTERNAL, "shared rows merged into unshared images");
        memcpy(into->slot_of + at, part->slot_of, rows * sizeof(uint32_t));
    } else if (into->has_embedding && into->dim > 0 && part->embedding != NULL) {
        if (into->embedding_external && at + rows > into->embedding_capacity)
            return error_set(err, ERR_INTERNAL, "more rows arrived than were counted (%zu)",
                             into->embedding_capacity);
        float *to = into->embedding + at * into->dim;
        if (to != part->embedding) /* in place: nothing to move */
            memmove(to, part->embedding, rows * into->dim * sizeof(float));
    }
    into->count = at + rows;
    return ERR_OK;
}

int images_merge_parts(Images *into, const Images *parts, size_t part_count, Error *err)
{
    size_t first = into->count, total = first;
    for (size_t p = 0; p < part_count; p++)
        total += parts[p].count;
    if (total >= UINT32_MAX - 1)
        return error_set(err, ERR_DATA, "more than %u rows are not supported", UINT32_MAX - 2);
    if (into->ids_deferred)
        return error_set(err, ERR_INTERNAL, "parts merged into images with deferred ids");
    int code = ERR_OK;
    if (into->id_uuid)
        code = uuid_buckets_drop(into, err);
    /* Room for every row, the id index sized for them (images_reserve). */
    if (code == ERR_OK)
        code = images_reserve(into, total > 0 ? total : 1, err);
    if (code == ERR_OK && total * 2 + 2 > into->id_index_capacity)
        code = into->id_uuid ? uuid_rehash(into, total, err)
                             : rehash(&into->id_index, &into->id_index_capacity, first, total,
                                      into->id_bytes, into->id_offset, err);
    for (size_t p = 0; code == ERR_OK && p < part_count; p++)
        code = append_part(into, &parts[p], err);
    if (into->count > first) {
        /* The rows that came in, indexed once: none was in into, nor in two parts. */
        if (into->id_uuid)
            uuid_index_fill(into, first, into->count, into->id_index, into->id_index_capacity);
        else
            text_index_fill(into->id_index, into->id_index_capacity, into->id_bytes,
                            into->id_offset, first, into->count);
        into->ids_sorted = false;
    }
    return code;
}

/* ---- canonical order ----------------------------------------------------- */

/*
 * A uuid as two big-endian words (numeric order is byte order) and its
 * row. Sorting these rather than rows keeps the comparisons in the keys:
 * a row's 16 bytes are read once, in row order, not at random.
 */
typedef struct UuidKey {
    uint64_t high, low;
    uint32_t row;
} UuidKey;

/* images_index_ids' scratch for rows ids: their keys, then their order. */
static size_t index_scratch_bytes(size_t rows)
{
    return (rows + 1) * (sizeof(UuidKey) + sizeof(uint32_t));
}

/* Below this many rows the scratch is a few MB: no helper thread for it. */
#define INDEX_SCRATCH_MIN_ROWS 65536

/*
 * Deferred ids, room for rows: the scratch that indexes them, written
 * ahead (images_commit_row asks) by a helper from INDEX_SCRATCH_MIN_ROWS
 * rows up. Without one (no thread, no mapping) they are indexed from cold
 * memory, as below that size.
 */
static void index_scratch_grow(Images *images, size_t rows)
{
    if (!images->ids_deferred || rows < INDEX_SCRATCH_MIN_ROWS)
        return;
    if (images->index_scratch == NULL) {
        images->index_scratch_asked = 0;
        if ((images->index_scratch = prefault_new()) == NULL)
            return;
    }
    if (!prefault_reserve(images->index_scratch, index_scratch_bytes(rows))) {
        prefault_free(images->index_scratch);
        images->index_scratch = NULL;
    }
}

/* One load and a byte swap: lookups and sorts read many of these. */
static uint64_t load_big_endian64(const unsigned char *p)
{
    uint64_t value;
    memcpy(&value, p, sizeof value);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    value = __builtin_bswap64(value);
#elif !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__
    value = 0;
    for (int i = 0; i < 8; i++)
        value = value << 8 | p[i];
#endif
    return value;
}

static void store_big_endian64(unsigned char *p, uint64_t value)
{
    for (int i = 7; i >= 0; i--, value >>= 8)
        p[i] = (unsigned char)value;
}

static UuidKey uuid_key_of(const Images *images, size_t row)
{
    const unsigned char *id = uuid_of(images, row);
    return (UuidKey){load_big_endian64(id), load_big_endian64(id + 8), (uint32_t)row};
}

static bool uuid_key_less(const UuidKey *a, const UuidKey *b)
{
    return a->high < b->high || (a->high == b->high && a->low < b->low);
}

/* Leading bits that a and b (a < b) share: 0 to 127. */
static unsigned uuid_common_bits(const UuidKey *a, const UuidKey *b)
{
    if (a->high != b->high)
        return (unsigned)__builtin_clzll(a->high ^ b->high);
    return 64 + (unsigned)__builtin_clzll(a->low ^ b->low);
}

/* The `bits` bits (1 to 32) of a uuid that follow its first `skip` bits (zeros past the end). */
static uint32_t uuid_bits_at(uint64_t high, uint64_t low, unsigned skip, unsigned bits)
{
    uint64_t window;
    if (skip == 0)
        window = high;
    else if (skip < 64)
        window = high << skip | low >> (64 - skip);
    else if (skip < 128)
        window = low << (skip - 64);
    else
        window = 0;
    return (uint32_t)(window >> (64 - bits));
}

/* Stable: equal keys keep their order (the order their rows arrived in). */
static void uuid_insertion_sort(UuidKey *keys, size_t count)
{
    for (size_t i = 1; i < count; i++) {
        UuidKey key = keys[i];
        size_t j = i;
        for (; j > 0 && uuid_key_less(&key, &keys[j - 1]); j--)
            keys[j] = keys[j - 1];
        keys[j] = key;
    }
}

enum { UUID_SMALL_RUN = 32, UUID_SUB_BITS = 8 };

/*
 * Sorts keys[0, count) stably, most significant digit first: the bits all
 * of them share are skipped (time-ordered uuids share long prefixes, equal
 * ids all of theirs), the next UUID_SUB_BITS bits place each key in a
 * bucket (a counting pass, a scatter through spare and back), and each
 * bucket is sorted the same way; small ones by insertion. spare holds
 * count keys or more.
 */
static void uuid_sort_run(UuidKey *keys, UuidKey *spare, size_t count)
{
    if (count <= UUID_SMALL_RUN) {
        uuid_insertion_sort(keys, count);
        return;
    }
    UuidKey low = keys[0], high = keys[0];
    for (size_t k = 1; k < count; k++) {
        if (uuid_key_less(&keys[k], &low))
            low = keys[k];
        if (uuid_key_less(&high, &keys[k]))
            high = keys[k];
    }
    if (!uuid_key_less(&low, &high))
        return; /* one id: the keys are in arrival order already */
    unsigned skip = uuid_common_bits(&low, &high);
    size_t start[(1u << UUID_SUB_BITS) + 1] = {0};
    for (size_t k = 0; k < count; k++)
        start[uuid_bits_at(keys[k].high, keys[k].low, skip, UUID_SUB_BITS) + 1]++;
    for (size_t b = 1; b <= 1u << UUID_SUB_BITS; b++)
        start[b] += start[b - 1];
    size_t place[1u << UUID_SUB_BITS];
    memcpy(place, start, sizeof place);
    for (size_t k = 0; k < count; k++)
        spare[place[uuid_bits_at(keys[k].high, keys[k].low, skip, UUID_SUB_BITS)]++] = keys[k];
    memcpy(keys, spare, count * sizeof *keys);
    for (size_t b = 0; b < 1u << UUID_SUB_BITS; b++)
        if (start[b + 1] - start[b] > 1)
            uuid_sort_run(keys + start[b], spare, start[b + 1] - start[b]);
}

/*
 * The rows' keys in byte order of their uuids, rows of equal uuids in row
 * order (stable), into *keys_out (count + 1 keys of scratch, *mapped for
 * scratch_free). One pass finds the smallest and largest id, whose common
 * prefix every id shares; the next 16 bits after it (8 below 65,536 rows)
 * place each row in a bucket: a counting pass and one scatter straight
 * from the id column. Buckets are then sorted by uuid_sort_run: random
 * (version 4) ids leave a dozen keys in each, time-ordered ones (v1, v7)
 * more, a column of one repeated id a single bucket that needs no sort.
 * Eight least-significant-digit passes over the first half and a
 * comparison sort of the rest cost twice as much here.
 */
static int uuid_sorted_keys(const Images *images, UuidKey *given, UuidKey **keys_out,
                            size_t *mapped, Error *err)
{
    size_t count = images->count, spare_mapped = 0;
    unsigned bits = count >= 65536 ? 16 : 8;
    *mapped = 0;
    UuidKey *keys = given != NULL ? given : scratch_alloc((count + 1) * sizeof *keys, mapped);
    UuidKey *spare = NULL;
    size_t *start = calloc(((size_t)1 << bits) + 1, sizeof *start);
    size_t *place = malloc(((size_t)1 << bits) * sizeof *place);
    int code = ERR_OK;
    if (keys == NULL || start == NULL || place == NULL) {
        code = error_nomem(err, count * sizeof *keys);
        goto done;
    }
    if (count == 0)
        goto done;
    UuidKey low = uuid_key_of(images, 0), high = low;
    for (size_t row = 1; row < count; row++) {
        UuidKey key = uuid_key_of(images, row);
        if (uuid_key_less(&key, &low))
            low = key;
        if (uuid_key_less(&high, &key))
            high = key;
    }
    unsigned skip = uuid_key_less(&low, &high) ? uuid_common_bits(&low, &high) : 128;
    for (size_t row = 0; row < count; row++) {
        UuidKey key = uuid_key_of(images, row);
        start[uuid_bits_at(key.high, key.low, skip, bits) + 1]++;
    }
    size_t largest = 0;
    for (size_t b = 1; b <= (size_t)1 << bits; b++) {
        if (start[b] > largest)
            largest = start[b];
        start[b] += start[b - 1];
    }
    memcpy(place, start, ((size_t)1 << bits) * sizeof *place);
    for (size_t row = 0; row < count; row++) {
        UuidKey key = uuid_key_of(images, row);
        keys[place[uuid_bits_at(key.high, key.low, skip, bits)]++] = key;
    }
    if (largest > UUID_SMALL_RUN) {
        spare = scratch_alloc(largest * sizeof *spare, &spare_mapped);
        if (spare == NULL) {
            code = error_nomem(err, largest * sizeof *spare);
            goto done;
        }
    }
    for (size_t b = 0; b < (size_t)1 << bits; b++)
        if (start[b + 1] - start[b] > 1)
            uuid_sort_run(keys + start[b], spare, start[b + 1] - start[b]);
done:
    if (spare != NULL)
        scratch_free(spare, spare_mapped);
    free(start);
    free(place);
    if (code != ERR_OK && keys != NULL) {
        if (keys != given)
            scratch_free(keys, *mapped);
        keys = NULL;
    }
    *keys_out = keys;
    return code;
}

/* order[k]: the row that goes to place k, in byte order of the uuids (stable). */
static int uuid_order(const Images *images, uint32_t *order, Error *err)
{
    UuidKey *keys;
    size_t mapped;
    int code = uuid_sorted_keys(images, NULL, &keys, &mapped, err);
    if (code != ERR_OK)
        return code;
    for (size_t k = 0; k < images->count; k++)
        order[k] = keys[k].row;
    scratch_free(keys, mapped);
    return ERR_OK;
}


/* ---- sorted uuid ids: buckets and duplicates ----------------------------- */

static void gather_column(void *values, const uint32_t *order, size_t count, size_t size,
                          void *scratch);
static void gather_row_columns(Images *images, const uint32_t *order, size_t count,
                               void *scratch);

static int compare_row(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/*
 * Rows of ids seen before, for images_index_ids: appended as found (in id
 * order), reported in row order.
 */
typedef struct RowList {
    uint32_t *rows;
    size_t count, capacity;
} RowList;

static bool row_list_add(RowList *list, uint32_t row)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity < 64 ? 64 : list->capacity * 2;
        uint32_t *grown = realloc(list->rows, capacity * sizeof *grown);
        if (grown == NULL)
            return false;
        list->rows = grown;
        list->capacity = capacity;
    }
    list->rows[list->count++] = row;
    return true;
}

static uint32_t uuid_bucket_of(const Images *images, uint64_t high, uint64_t low)
{
    return uuid_bits_at(high, low, images->id_prefix_bits, images->id_bucket_bits);
}

/*
 * The bucket table for `count` ids: a bucket an id or more, up to 2^20
 * buckets (4 MB; a hash index of 900,000 ids takes 8 MB), so a lookup
 * reads the table and a few ids next to each other. *bits receives the
 * bucket bits.
 */
static uint32_t *uuid_buckets_new(size_t count, unsigned *bits, Error *err)
{
    *bits = 1;
    while (*bits < 20 && ((size_t)1 << *bits) < count)
        (*bits)++;
    size_t buckets = (size_t)1 << *bits;
    uint32_t *start = malloc((buckets + 1) * sizeof *start);
    if (start == NULL)
        error_nomem(err, (buckets + 1) * sizeof *start);
    return start;
}

/* Fills start (from uuid_buckets_new) from the ids, in byte order and distinct, and installs it. */
static void uuid_buckets_fill(Images *images, uint32_t *start, unsigned bits)
{
    size_t count = images->count, buckets = (size_t)1 << bits;
    images->id_prefix_bits = 128;
    if (count > 1) {
        UuidKey first = uuid_key_of(images, 0), last = uuid_key_of(images, count - 1);
        images->id_prefix_bits = uuid_common_bits(&first, &last);
    }
    images->id_bucket_bits = bits;
    size_t row = 0;
    for (size_t b = 0; b < buckets; b++) {
        start[b] = (uint32_t)row;
        while (row < count) {
            UuidKey key = uuid_key_of(images, row);
            if (uuid_bucket_of(images, key.high, key.low) != b)
                break;
            row++;
        }
    }
    start[buckets] = (uint32_t)count;
    free(images->id_bucket_start);
    images->id_bucket_start = start;
}

enum { UUID_SCAN = 2 };

/* The row of key through the bucket table, or -1. */
static int64_t uuid_bucket_lookup(const Images *images, const unsigned char *key)
{
    if (images->count == 0)
        return -1;
    uint64_t high = load_big_endian64(key), low = load_big_endian64(key + 8);
    UuidKey first = uuid_key_of(images, 0), wanted = {high, low, 0};
    if (first.high == high && first.low == low)
        return 0;
    if (uuid_key_less(&wanted, &first) || uuid_common_bits(&first, &wanted) < images->id_prefix_bits)
        return -1; /* outside the prefix every stored id shares */
    uint32_t bucket = uuid_bucket_of(images, high, low);
    size_t from = images->id_bucket_start[bucket], to = images->id_bucket_start[bucket + 1];
    while (to - from > UUID_SCAN) { /* a crowded bucket: ids alike past the bucket bits */
        size_t middle = from + (to - from) / 2;
        UuidKey stored = uuid_key_of(images, middle);
        if (uuid_key_less(&wanted, &stored))
            to = middle;
        else
            from = middle;
    }
    /* The place of key among at most UUID_SCAN neighbours (one or two
     * cache lines): counted without a branch, so lookups one after the
     * other overlap their cache misses rather than wait on a mispredicted
     * bisection. */
    size_t below = 0;
    for (size_t j = 0; j < UUID_SCAN; j++) {
        size_t row = from + j < to ? from + j : from;
        UuidKey stored = uuid_key_of(images, row);
        below += (size_t)(from + j < to)
                 & (size_t)((stored.high < high) | ((stored.high == high) & (stored.low < low)));
    }
    if (from + below < to) {
        UuidKey stored = uuid_key_of(images, from + below);
        if (stored.high == high && stored.low == low)
            return (int64_t)(from + below);
    }
    return -1;
}

/* Replaces the bucket table by a hash index, before the ids change. */
static int uuid_buckets_drop(Images *images, Error *err)
{
    if (images->id_bucket_start == NULL)
        return ERR_OK;
    int code = uuid_rehash(images, images->capacity > images->count ? images->capacity
                                                                    : images->count,
                           err);
    if (code != ERR_OK)
        return code;
    free(images->id_bucket_start);
    images->id_bucket_start = NULL;
    return ERR_OK;
}

int images_index_ids(Images *images, void (*on_duplicate)(void *context, const char *id,
                                                          size_t id_length),
                     void *context, Error *err)
{
    if (!images->ids_deferred)
        return ERR_OK;
    size_t count = images->count, keys_mapped = 0, order_mapped = 0, written_mapped = 0;
    RowList duplicates = {0};
    UuidKey *keys = NULL;
    unsigned bucket_bits;
    uint32_t *buckets = NULL;
    /* The keys, then the order, in the memory written during the stream. */
    char *written = prefault_take(images->index_scratch, index_scratch_bytes(count),
                                  &written_mapped);
    images->index_scratch = NULL;
    uint32_t *order = written != NULL
                          ? (uint32_t *)(written + (count + 1) * sizeof(UuidKey))
                          : scratch_alloc((count + 1) * sizeof *order, &order_mapped);
    int code;
    if (order == NULL) {
        code = error_nomem(err, count * sizeof *order);
        goto done;
    }
    if ((buckets = uuid_buckets_new(count, &bucket_bits, err)) == NULL) {
        code = err->code;
        goto done;
    }
    if ((code = uuid_sorted_keys(images, (UuidKey *)written, &keys, &keys_mapped, err))
        != ERR_OK)
        goto done;
    /* In id order, equal ids are neighbours and the sort is stable: the
     * first of each run is the row that arrived first, the one kept. */
    size_t kept = 0;
    for (size_t k = 0; k < count; k++) {
        if (kept > 0 && keys[k].high == keys[kept - 1].high && keys[k].low == keys[kept - 1].low) {
            if (!row_list_add(&duplicates, keys[k].row)) {
                code = error_nomem(err, duplicates.capacity * 2 * sizeof(uint32_t));
                goto done;
            }
            continue;
        }
        keys[kept++] = keys[k];
    }
    /* Reported in the order the rows arrived, as the stream would have. */
    if (duplicates.count > 1) /* rows is NULL while nothing was added */
        qsort(duplicates.rows, duplicates.count, sizeof *duplicates.rows, compare_row);
    for (size_t d = 0; d < duplicates.count && on_duplicate != NULL; d++)
        on_duplicate(context, (const char *)uuid_of(images, duplicates.rows[d]), UUID_BYTES);

    /* From here on the rows change: nothing may fail. The keys hold the
     * ids, so the id column is rewritten from them, and their memory then
     * serves as the gather's scratch. */
    for (size_t k = 0; k < kept; k++) {
        store_big_endian64(images->id_uuid_bytes + k * UUID_BYTES, keys[k].high);
        store_big_endian64(images->id_uuid_bytes + k * UUID_BYTES + 8, keys[k].low);
        order[k] = keys[k].row;
    }
    gather_row_columns(images, order, kept, keys);
    images->count = kept;
    images->ids_deferred = false;
    images->ids_sorted = true;
    free(images->id_index);
    images->id_index = NULL;
    images->id_index_capacity = 0;
    uuid_buckets_fill(images, buckets, bucket_bits);
    buckets = NULL;
done:
    free(buckets);
    if (written != NULL) {
        munmap(written, written_mapped);
    } else {
        if (keys != NULL)
            scratch_free(keys, keys_mapped);
        if (order != NULL)
            scratch_free(order, order_mapped);
    }
    free(duplicates.rows);
    return code;
}

/* Text ids (and labels): byte order of NUL-terminated strings in one arena. */
typedef struct ArenaOrder {
    const char *bytes;
    const size_t *offset;
} ArenaOrder;

static int compare_arena_row(const void *x, const void *y, void *context)
{
    const ArenaOrder *arena = context;
    const unsigned char *p = (const unsigned char *)arena->bytes + arena->offset[*(const uint32_t *)x];
    const unsigned char *q = (const unsigned char *)arena->bytes + arena->offset[*(const uint32_t *)y];
    return strcmp((const char *)p, (const char *)q);
}

/* order[k]: the row that goes to place k, in byte order of the ids. */
static int id_order(const Images *images, uint32_t *order, Error *err)
{
    size_t count = images->count;
    if (!images->id_uuid) {
        ArenaOrder arena = {images->id_bytes, images->id_offset};
        for (size_t row = 0; row < count; row++)
            order[row] = (uint32_t)row;
        qsort_r(order, count, sizeof *order, compare_arena_row, &arena);
        return ERR_OK;
    }
    return uuid_order(images, order, err);
}

/* values[k] = old values[order[k]] for elements of size bytes, through scratch. */
static void gather_column(void *values, const uint32_t *order, size_t count, size_t size,
                          void *scratch)
{
    char *from = values, *to = scratch;
    if (count == 0)
        return; /* an empty selection: no arrays to move (they may be NULL) */
    for (size_t k = 0; k < count; k++)
        memcpy(to + k * size, from + (size_t)order[k] * size, size);
    memcpy(values, scratch, count * size);
}

/* The score, variance and label columns that images has, in the rows' new order. */
static void gather_row_columns(Images *images, const uint32_t *order, size_t count, void *scratch)
{
    if (images->has_score)
        gather_column(images->score, order, count, sizeof(double), scratch);
    if (images->has_variance)
        gather_column(images->variance, order, count, sizeof(double), scratch);
    if (images->has_label)
        gather_column(images->label_of, order, count, sizeof(int32_t), scratch);
}

/* Below this many bytes of rows the matrix is put in order by one thread. */
#define PERMUTE_PARALLEL_BYTES ((size_t)64 << 20)
#define PERMUTE_THREADS_MAX 4

/*
 * The embedding rows in place by the cycles of order (core/permute.h): no
 * second matrix; a large one over as many threads as the process may keep
 * busy (up to PERMUTE_THREADS_MAX: the copies are bound by memory bandwidth).
 */
static int permute_matrix(float *matrix, size_t dim, const uint32_t *order, size_t count,
                          Error *err)
{
    int threads = 1;
    if (count * dim * sizeof(float) >= PERMUTE_PARALLEL_BYTES) {
        threads = cpus_usable();
        if (threads > PERMUTE_THREADS_MAX)
            threads = PERMUTE_THREADS_MAX;
    }
    return permute_rows(matrix, dim, order, count, threads, err);
}

/*
 * The adopted SharedRows' matrix (images_adopt_shared) in the rows' new
 * order: the row placed at k comes from slot slot_of[order[k]]; the slots
 * no row kept (the unused rest of each stream's last block) go after the
 * rows, in slot order, and are then cut off with the mapping's tail.
 */
static int settle_slots(Images *images, const uint32_t *order, Error *err)
{
    size_t count = images->count, span = images->slot_span;
    uint32_t *from = malloc((span + 1) * sizeof *from);
    unsigned char *used = calloc(span / 8 + 1, 1);
    int code = ERR_OK;
    if (from == NULL || used == NULL) {
        code = error_nomem(err, span * sizeof *from);
        goto done;
    }
    for (size_t k = 0; k < count; k++) {
        uint32_t slot = images->slot_of[order[k]];
        from[k] = slot;
        used[slot / 8] |= (unsigned char)(1u << (slot % 8));
    }
    size_t place = count;
    for (size_t slot = 0; slot < span; slot++)
        if (!(used[slot / 8] & (1u << (slot % 8))))
            from[place++] = (uint32_t)slot;
    if (place != span) {
        code = error_set(err, ERR_INTERNAL, "%zu rows share %zu slots", count, span);
        goto done;
    }
    if ((code = permute_matrix(images->embedding, images->dim, from, span, err)) != ERR_OK)
        goto done;
    /* The matrix as the columns size it: the reservation's tail goes. */
    size_t keep = mapping_round(images->capacity * images->dim * sizeof(float));
    if (keep != 0 && keep < images->embedding_mapped_bytes) {
        munmap((char *)images->embedding + keep, images->embedding_mapped_bytes - keep);
        images->embedding_mapped_bytes = keep;
    } else if (keep > images->embedding_mapped_bytes) {
        void *grown = mapping_grow(images->embedding, images->embedding_mapped_bytes, keep);
        if (grown == NULL) {
            code = error_nomem(err, keep);
            goto done;
        }
        images->embedding = grown;
        images->embedding_mapped_bytes = keep;
    }
    free(images->slot_of);
    images->slot_of = NULL;
    images->slot_span = 0;
done:
    free(from);
    free(used);
    return code;
}

/* Text ids: a new arena written in the new order, then the index rebuilt. */
static int permute_text_ids(Images *images, const uint32_t *order, size_t *new_offset, Error *err)
{
    char *bytes = malloc(images->id_bytes_capacity + 1);
    if (bytes == NULL)
        return error_nomem(err, images->id_bytes_capacity);
    size_t length = 0;
    for (size_t k = 0; k < images->count; k++) {
        const char *id = images->id_bytes + images->id_offset[order[k]];
        size_t size = strlen(id) + 1;
        memcpy(bytes + length, id, size);
        new_offset[k] = length;
        length += size;
    }
    free(images->id_bytes);
    images->id_bytes = bytes;
    images->id_bytes_length = length;
    memcpy(images->id_offset, new_offset, images->count * sizeof *new_offset);
    return rehash(&images->id_index, &images->id_index_capacity, images->count,
                  images->capacity > images->count ? images->capacity : images->count,
                  images->id_bytes, images->id_offset, err);
}

/* Labels renumbered in byte order of their text (label_of follows). */
static int sort_labels(Images *images, Error *err)
{
    size_t labels = (size_t)images->label_count;
    uint32_t *order = malloc((labels + 1) * sizeof *order);
    int32_t *rank = malloc((labels + 1) * sizeof *rank);
    size_t *offset = malloc((labels + 1) * sizeof *offset);
    char *bytes = malloc(images->label_bytes_capacity + 1);
    int code = ERR_OK;
    if (order == NULL || rank == NULL || offset == NULL || bytes == NULL) {
        code = error_nomem(err, images->label_bytes_capacity);
        goto done;
    }
    ArenaOrder arena = {images->label_bytes, images->label_offset};
    for (size_t l = 0; l < labels; l++)
        order[l] = (uint32_t)l;
    qsort_r(order, labels, sizeof *order, compare_arena_row, &arena);
    size_t length = 0;
    for (size_t k = 0; k < labels; k++) {
        const char *label = images->label_bytes + images->label_offset[order[k]];
        size_t size = strlen(label) + 1;
        memcpy(bytes + length, label, size);
        offset[k] = length;
        length += size;
        rank[order[k]] = (int32_t)k;
    }
    free(images->label_bytes);
    images->label_bytes = bytes;
    bytes = NULL;
    images->label_bytes_length = length;
    memcpy(images->label_offset, offset, labels * sizeof *offset);
    for (size_t row = 0; row < images->count; row++)
        images->label_of[row] = rank[images->label_of[row]];
    code = rehash(&images->label_index, &images->label_index_capacity, labels, labels,
                  images->label_bytes, images->label_offset, err);
done:
    free(order);
    free(rank);
    free(offset);
    free(bytes);
    return code;
}

int images_sort_by_id(Images *images, uint32_t **order_out, Error *err)
{
    size_t count = images->count;
    uint32_t *order = NULL;
    void *scratch = NULL;
    int code = ERR_OK;

    if (order_out != NULL)
        *order_out = NULL;
    if (images->ids_deferred)
        return error_set(err, ERR_INTERNAL, "rows sorted before their ids were indexed");
    if (images->ids_sorted && images->slot_span == 0) {
        /* images_index_ids left them in id order: no row moves (no order,
         * no scratch: 17 bytes a row of fresh memory), only the labels. */
        goto labels;
    }
    order = malloc((count + 1) * sizeof *order);
    /* One scratch column, as wide as the widest of ids, scores and offsets. */
    scratch = malloc((count + 1) * (UUID_BYTES > sizeof(double) ? UUID_BYTES : sizeof(double)));
    if (order == NULL || scratch == NULL) {
        code = error_nomem(err, count * UUID_BYTES);
        goto done;
    }
    if ((code = id_order(images, order, err)) != ERR_OK)
        goto done;
    gather_row_columns(images, order, count, scratch);
    if (images->slot_span > 0) {
        if ((code = settle_slots(images, order, err)) != ERR_OK)
            goto done;
    } else if (images->has_embedding && images->embedding != NULL && images->dim > 0
               && (code = permute_matrix(images->embedding, images->dim, order, count, err))
                      != ERR_OK) {
        goto done;
    }
    if (images->id_uuid) {
        gather_column(images->id_uuid_bytes, order, count, UUID_BYTES, scratch);
        free(images->id_bucket_start); /* of the old order; the hash replaces it */
        images->id_bucket_start = NULL;
        code = uuid_rehash(images, images->capacity > count ? images->capacity : count, err);
    } else {
        code = permute_text_ids(images, order, scratch, err);
    }
    images->ids_sorted = images->id_uuid && code == ERR_OK;
labels:
    if (code == ERR_OK && images->has_label && images->label_count > 0)
        code = sort_labels(images, err);
done:
    free(scratch);
    if (code == ERR_OK && order_out != NULL)
        *order_out = order;
    else
        free(order);
    return code;
}

int images_order_apply(int32_t *values, const uint32_t *order, size_t count, Error *err)
{
    int32_t *scratch = malloc((count + 1) * sizeof *scratch);
    if (scratch == NULL)
        return error_nomem(err, count * sizeof *scratch);
    gather_column(values, order, count, sizeof *values, scratch);
    free(scratch);
    return ERR_OK;
}
