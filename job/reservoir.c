#include "reservoir.h"

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
    free(reservoir->sample);
    reservoir->sample = NULL;
}
