/*
 * reservoir: a uniform random sample of the embedding rows a stream passes
 * by, for fitting k-means on a sample that fits in memory: one stream's
 * (Vitter's algorithm R, seeded: Reservoir), and one read's over any number
 * of streams by the smallest seeded hashes of the ids (ReservoirSet:
 * bounded mode's first pass, and `pairpick fit` with kmeans.fit_sample).
 *
 * It does not read the stream (the caller offers each row), normalize or
 * fit, and knows nothing of SQL, YAML or printing. The caller owns the
 * Reservoir and ReservoirSet (x_init / x_release); the sample is one
 * capacity x dim float32 block, owned by the reservoir (or set) unless the
 * caller gave its own memory (reservoir_init_into).
 */
#ifndef PAIRPICK_RESERVOIR_H
#define PAIRPICK_RESERVOIR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"

typedef struct Reservoir {
    float *sample;   /* capacity x dim; the first reservoir_rows(r) rows are the sample */
    size_t capacity; /* rows the sample holds at most */
    size_t seen;     /* rows offered so far */
    size_t dim;
    Rng rng;
    bool external;   /* sample is the caller's memory (reservoir_init_into) */
} Reservoir;

/*
 * An empty reservoir of capacity rows of dim floats, drawing from
 * rng_fork(rng, label): the same rng and label give the same sample.
 */
int reservoir_init(Reservoir *reservoir, size_t capacity, size_t dim, const Rng *rng,
                   uint64_t label, Error *err);

/*
 * The same over capacity x dim floats of the caller's memory at rows (a
 * slice of one block shared by several reservoirs); nothing is allocated.
 */
void reservoir_init_into(Reservoir *reservoir, float *rows, size_t capacity, size_t dim,
                         const Rng *rng, uint64_t label);

/*
 * How a sample of capacity rows is shared by parts streamed apart (a
 * parallel read's partitions of rows[p] rows each): in proportion to their
 * rows, the remainder to the largest fractions (ties to the lower part).
 * out[p] <= rows[p]; the out[p] add up to min(capacity, the rows). Each
 * part's reservoir then samples its own rows uniformly: every row is kept
 * with (nearly) the same probability, capacity / rows, and the sample is
 * the same whatever the timing of the parts.
 */
void reservoir_split(size_t capacity, const uint64_t *rows, int parts, size_t *out);

/*
 * A sample shared by the streams of one read (bounded mode's first pass, a
 * fit's sample): the capacity rows whose ids have the smallest seeded hash
 * (a 64-bit hash of the id bytes keyed by rng_fork(rng, label)), a bottom-k
 * sample. Which rows it keeps depends only on the ids, the seed and the
 * capacity: not on how many streams read the rows, how they were split, or
 * their timing; reservoir_set_gather then puts the rows in hash order, so
 * the fitted sample is the same row for row. Every id is kept with the same
 * probability, capacity / distinct ids; two ids of equal hash (about 1 in
 * 2^64 per pair) are told apart by timing.
 *
 * Rows are offered by reservoir_set_row from any number of threads at once
 * (a lock guards the sample; rows above the current bound are turned away
 * without it).
 */
typedef struct ReservoirSet {
    float *sample;          /* capacity x dim; reservoir_set_gather orders it by hash */
    uint64_t *hash;         /* per slot of sample: its row's hash */
    uint32_t *heap;         /* the kept slots, a max-heap by hash */
    size_t capacity, dim;
    size_t kept;            /* slots filled */
    float *spare;           /* one row, for reordering */
    _Atomic uint64_t seen;  /* rows offered */
    uint64_t key;           /* the hash's seed */
    _Atomic uint64_t bound; /* once full: the largest kept hash; rows at or above it are not kept */
    int streams;
    pthread_mutex_t lock;
    bool locked;            /* lock initialized (until released) */
} ReservoirSet;

/* An empty sample of capacity rows of dim floats for a read over streams streams. */
int reservoir_set_init(ReservoirSet *set, size_t capacity, size_t dim, int streams,
                       const Rng *rng, uint64_t label, Error *err);

/* StreamOptions.on_partitions with the set as context: every stream's
 * context is the set itself (the split and row counts do not matter). */
int reservoir_set_partitions(void *context, const uint64_t *rows, int streams,
                             void **row_contexts, Error *err);

/* StreamOptions.on_row with the set as context: offers the row of id (its
 * bytes as streamed: 16 raw bytes for a uuid) and embedding. Thread-safe. */
int reservoir_set_row(void *context, const char *id, size_t id_length, int64_t row,
                      const float *embedding, Error *err);

/* The seeded hash a set orders ids by (the same for every set of that key). */
uint64_t reservoir_id_hash(uint64_t key, const char *id, size_t id_length);

/* After the read: the kept rows packed at the start of set->sample in
 * ascending hash order (set->hash in the same order); returns their rows,
 * min(capacity, rows offered). */
size_t reservoir_set_gather(ReservoirSet *set);

/* Frees the block and the lock (early, once fitted, or at the end); again,
 * or on a zeroed set, it does nothing. */
void reservoir_set_release(ReservoirSet *set);

/*
 * Offers one row; the signature of StreamOptions.on_row, with the
 * Reservoir as context (id and row are not used). Every row offered ends up
 * in the sample with the same probability, capacity / seen.
 */
int reservoir_row(void *context, const char *id, size_t id_length, int64_t row,
                  const float *embedding, Error *err);

/* Rows in the sample: min(seen, capacity). */
size_t reservoir_rows(const Reservoir *reservoir);

/* Frees the sample (early, once fitted, or at the end); NULL sample allowed;
 * the caller's memory (reservoir_init_into) is left alone. */
void reservoir_release(Reservoir *reservoir);

#endif
