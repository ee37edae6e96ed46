/*
 * rng: a small, seedable pseudo-random generator (xoshiro256** seeded through
 * splitmix64) passed explicitly to every module that needs randomness, so a
 * run is reproducible from its seed. Not for cryptography.
 *
 * The caller owns the Rng (a plain struct, no allocation).
 */
#ifndef PAIRPICK_RNG_H
#define PAIRPICK_RNG_H

#include <stddef.h>
#include <stdint.h>

/*
 * The largest seed a run uses or accepts: 2^53 - 1, so a seed printed in
 * JSON reads back exactly where numbers are doubles (JavaScript, jq).
 */
#define RNG_SEED_MAX ((UINT64_C(1) << 53) - 1)

typedef struct Rng {
    uint64_t state[4];
} Rng;

/* Seeds rng; the same seed always gives the same sequence. */
void rng_init(Rng *rng, uint64_t seed);

/* Next 64 uniformly distributed bits. */
uint64_t rng_next(Rng *rng);

/* Uniform integer in [0, bound), without modulo bias; bound > 0. */
uint64_t rng_below(Rng *rng, uint64_t bound);

/* Uniform double in [0, 1) with 53 random bits. */
double rng_uniform(Rng *rng);

/* Standard normal deviate (Box-Muller; one value per call). */
double rng_normal(Rng *rng);

/* Shuffles count elements of `size` bytes in place (Fisher-Yates). */
void rng_shuffle(Rng *rng, void *base, size_t count, size_t size);

/*
 * An independent stream derived from rng and a label (e.g. a category
 * index), so that work split into parts stays reproducible whatever the
 * order in which the parts run.
 */
void rng_fork(const Rng *rng, uint64_t label, Rng *child);

#endif
