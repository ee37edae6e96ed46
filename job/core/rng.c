#include "core/rng.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_init(Rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->state[i] = splitmix64(&x);
}

uint64_t rng_next(Rng *rng)
{
    uint64_t *s = rng->state;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rng_below(Rng *rng, uint64_t bound)
{
    /* Lemire's nearly divisionless method, with rejection for exactness. */
    uint64_t x = rng_next(rng);
    __uint128_t m = (__uint128_t)x * bound;
    uint64_t low = (uint64_t)m;
    if (low < bound) {
        uint64_t threshold = -bound % bound;
        while (low < threshold) {
            x = rng_next(rng);
            m = (__uint128_t)x * bound;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double rng_uniform(Rng *rng)
{
    return (double)(rng_next(rng) >> 11) * 0x1.0p-53;
}

double rng_normal(Rng *rng)
{
    double u1 = rng_uniform(rng);
    double u2 = rng_uniform(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

void rng_shuffle(Rng *rng, void *base, size_t count, size_t size)
{
    unsigned char *bytes = base;
    unsigned char swap[64];
    if (count < 2)
        return;
    for (size_t i = count - 1; i > 0; i--) {
        size_t j = (size_t)rng_below(rng, (uint64_t)i + 1);
        if (i == j)
            continue;
        for (size_t done = 0; done < size; done += sizeof swap) {
            size_t part = size - done < sizeof swap ? size - done : sizeof swap;
            memcpy(swap, bytes + i * size + done, part);
            memcpy(bytes + i * size + done, bytes + j * size + done, part);
            memcpy(bytes + j * size + done, swap, part);
        }
    }
}

void rng_fork(const Rng *rng, uint64_t label, Rng *child)
{
    uint64_t x = rng->state[0] ^ rotl(rng->state[1], 13) ^ rotl(rng->state[2], 29)
                 ^ rotl(rng->state[3], 41);
    x ^= splitmix64(&label);
    rng_init(child, x);
}
