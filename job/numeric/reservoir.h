/*
 * reservoir: a uniform random sample of the embedding rows a stream passes
 * by (Vitter's algorithm R, seeded), for fitting k-means on a sample that
 * fits in memory: bounded mode's first pass, and `pairpick fit` with
 * kmeans.fit_sample.
 *
 * It does not read the stream (the caller offers each row), normalize or
 * fit, and knows nothing of SQL, YAML or printing. The caller owns the
 * Reservoir and ReservoirSet (x_init / x_release); the sample is one
 * capacity x dim float32 block, owned by the reservoir unless the caller
 * gave its own memory (reservoir_init_into).
 */
#ifndef PAIRPICK_RESERVOIR_H
#define PAIRPICK_RESERVOIR_H

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
 * A sample split over the streams of one read: one block of capacity rows,
 * a reservoir per stream over its slice (reservoir_split of the rows each
 * stream counted; a single uncounted stream takes the whole block), the
 * reservoirs forked from rng with label + stream.
 */
typedef struct ReservoirSet {
    float *sample;          /* capacity x dim; reservoir_set_gather packs it */
    size_t capacity, dim;
    int streams;
    Reservoir *reservoirs;  /* streams */
    const Rng *rng;
    uint64_t label;
} ReservoirSet;

int reservoir_set_init(ReservoirSet *set, size_t capacity, size_t dim, int streams,
                       const Rng *rng, uint64_t label, Error *err);

/* StreamOptions.on_partitions with the set as context: the streams' reservoirs. */
int reservoir_set_partitions(void *context, const uint64_t *rows, int streams,
                             void **row_contexts, Error *err);

/* After the read: the streams' samples packed at the start of set->sample
 * in stream order; returns their rows. */
size_t reservoir_set_gather(ReservoirSet *set);

/* Frees the block (early, once fitted, or at the end). */
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
