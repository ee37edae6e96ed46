#include "numeric/reservoir.h"

#include <stdlib.h>
#include <string.h>

int reservoir_init(Reservoir *reservoir, size_t capacity, size_t dim, const Rng *rng,
                   uint64_t label, Error *err)
{
    memset(reservoir, 0, sizeof *reservoir);
    if (dim > 0 && capacity > SIZE_MAX / sizeof(float) / dim)
        return error_nomem(err, SIZE_MAX);
    size_t bytes = (capacity > 0 ? capacity : 1) * (dim > 0 ? dim : 1) * sizeof(float);
    reservoir->sample = malloc(bytes);
    if (reservoir->sample == NULL)
        return error_nomem(err, bytes);
    reservoir->capacity = capacity;
    reservoir->dim = dim;
    rng_fork(rng, label, &reservoir->rng);
    return ERR_OK;
}

void reservoir_init_into(Reservoir *reservoir, float *rows, size_t capacity, size_t dim,
                         const Rng *rng, uint64_t label)
{
    memset(reservoir, 0, sizeof *reservoir);
    reservoir->sample = rows;
    reservoir->capacity = capacity;
    reservoir->dim = dim;
    reservoir->external = true;
    rng_fork(rng, label, &reservoir->rng);
}

void reservoir_split(size_t capacity, const uint64_t *rows, int parts, size_t *out)
{
    uint64_t total = 0;
    for (int p = 0; p < parts; p++)
        total += rows[p];
    if (total <= capacity) {
        for (int p = 0; p < parts; p++)
            out[p] = (size_t)rows[p];
        return;
    }
    /* Exact shares in 128 bits: capacity * rows[p] overflows 64 bits long
     * before either does alone. */
    size_t given = 0;
    for (int p = 0; p < parts; p++) {
        out[p] = (size_t)((unsigned __int128)capacity * rows[p] / total);
        given += out[p];
    }
    /* The remainder (fewer than parts rows), one each to the largest
     * fractions capacity * rows[p] mod total; a part with a fraction has
     * out[p] < rows[p], so it has room. */
    while (given < capacity) {
        int best = -1;
        uint64_t best_fraction = 0;
        for (int p = 0; p < parts; p++) {
            uint64_t fraction = (uint64_t)((unsigned __int128)capacity * rows[p] % total);
            if (out[p] < rows[p] && (best < 0 || fraction > best_fraction)
                && (out[p] == (size_t)((unsigned __int128)capacity * rows[p] / total))) {
                best = p;
                best_fraction = fraction;
            }
        }
        if (best < 0)
            break;
        out[best]++;
        given++;
    }
}

int reservoir_row(void *context, const char *id, size_t id_length, int64_t row,
                  const float *embedding, Error *err)
{
    Reservoir *reservoir = context;
    size_t slot = reservoir->seen;
    (void)id, (void)id_length, (void)row, (void)err;
    if (reservoir->seen >= reservoir->capacity) {
        slot = (size_t)rng_below(&reservoir->rng, (uint64_t)reservoir->seen + 1);
        if (slot >= reservoir->capacity) {
            reservoir->seen++;
            return ERR_OK;
        }
    }
    memcpy(reservoir->sample + slot * reservoir->dim, embedding, reservoir->dim * sizeof(float));
    reservoir->seen++;
    return ERR_OK;
}

size_t reservoir_rows(const Reservoir *reservoir)
{
    return reservoir->seen < reservoir->capacity ? reservoir->seen : reservoir->capacity;
}

void reservoir_release(Reservoir *reservoir)
{
    if (!reservoir->external)
        free(reservoir->sample);
    reservoir->sample = NULL;
}

int reservoir_set_init(ReservoirSet *set, size_t capacity, size_t dim, int streams,
                       const Rng *rng, uint64_t label, Error *err)
{
    memset(set, 0, sizeof *set);
    if (dim > 0 && capacity > SIZE_MAX / sizeof(float) / dim)
        return error_nomem(err, SIZE_MAX);
    size_t bytes = (capacity > 0 ? capacity : 1) * (dim > 0 ? dim : 1) * sizeof(float);
    set->sample = malloc(bytes);
    set->reservoirs = calloc((size_t)(streams > 0 ? streams : 1), sizeof *set->reservoirs);
    if (set->sample == NULL || set->reservoirs == NULL) {
        reservoir_set_release(set);
        return error_nomem(err, bytes);
    }
    set->capacity = capacity;
    set->dim = dim;
    set->streams = streams > 0 ? streams : 1;
    set->rng = rng;
    set->label = label;
    return ERR_OK;
}

int reservoir_set_partitions(void *context, const uint64_t *rows, int streams,
                             void **row_contexts, Error *err)
{
    ReservoirSet *set = context;
    if (streams != set->streams)
        return error_set(err, ERR_INTERNAL, "a sample split %d ways read by %d streams",
                         set->streams, streams);
    size_t *share = calloc((size_t)streams, sizeof *share);
    if (share == NULL)
        return error_nomem(err, (size_t)streams * sizeof *share);
    if (rows != NULL)
        reservoir_split(set->capacity, rows, streams, share);
    else
        share[0] = set->capacity; /* one stream, not counted */
    size_t offset = 0;
    for (int w = 0; w < streams; w++) {
        reservoir_init_into(&set->reservoirs[w], set->sample + offset * set->dim, share[w],
                            set->dim, set->rng, set->label + (uint64_t)w);
        row_contexts[w] = &set->reservoirs[w];
        offset += share[w];
    }
    free(share);
    return ERR_OK;
}

size_t reservoir_set_gather(ReservoirSet *set)
{
    size_t rows = 0;
    for (int w = 0; w < set->streams; w++) {
        Reservoir *reservoir = &set->reservoirs[w];
        size_t kept = reservoir_rows(reservoir);
        float *to = set->sample + rows * set->dim;
        /* a stream short of its share leaves a gap: rows only move down */
        if (kept > 0 && reservoir->sample != NULL && to != reservoir->sample)
            memmove(to, reservoir->sample, kept * set->dim * sizeof(float));
        rows += kept;
    }
    return rows;
}

void reservoir_set_release(ReservoirSet *set)
{
    free(set->sample);
    free(set->reservoirs);
    set->sample = NULL;
    set->reservoirs = NULL;
}
