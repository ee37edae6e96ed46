/*
 * gen: synthetic images for the benchmark, written to stdout in PostgreSQL's
 * binary COPY format for
 *
 *   bench.images(job_uuid uuid, score float8, score_variance float8,
 *                created_at timestamptz, topic text, clip_embedding real[])
 *
 * Embeddings are K Gaussian blobs: K random unit centers, each row its
 * center plus N(0, sigma^2) noise per element. Every row draws from its own
 * generator, seeded from (seed, row number), so the output does not depend on
 * how the rows are split: `--part i --parts P` writes rows
 * [N*i/P, N*(i+1)/P) and the P parts together are exactly the whole set.
 *
 * Scores: about 0.5% NULL, about 5% in [-1, 0) (removed by a filter
 * `score >= 0`), the rest around a per-blob mean, clamped to [0, 5].
 *
 *   gen --rows N --dim D --centers K [--seed S] [--sigma X] [--part i --parts P]
 *
 * Build: cc -O2 -o gen gen.c -lm
 */
#define _DEFAULT_SOURCE
#include <endian.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: seeds the per-row generators. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* xoshiro256** */
typedef struct {
    uint64_t s[4];
} Rng;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(Rng *r)
{
    uint64_t *s = r->s;
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

static void rng_seed(Rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t state = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&state);
}

/* Uniform in [0, 1). */
static double rng_uniform(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/*
 * Standard normal by table: 65536 inverse-CDF values at (i + 0.5) / 65536,
 * indexed by 16 random bits (four draws per 64-bit number). Tails stop near
 * 4.3 sigma; plenty for blobs, and about 20x faster than Box-Muller.
 */
static float normal_table[65536];

static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static void normal_table_init(void)
{
    for (int i = 0; i < 65536; i++) {
        double p = (i + 0.5) / 65536.0, lo = -10.0, hi = 10.0;
        for (int it = 0; it < 80; it++) {
            double mid = 0.5 * (lo + hi);
            if (normal_cdf(mid) < p)
                lo = mid;
            else
                hi = mid;
        }
        normal_table[i] = (float)(0.5 * (lo + hi));
    }
}

/* Exact (Box-Muller) normal, for the few per-row and per-center draws. */
static double rng_normal(Rng *r)
{
    double u = rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

static unsigned char *out_buf;
static size_t out_len, out_cap;

static void put(const void *data, size_t n)
{
    if (out_len + n > out_cap) {
        if (fwrite(out_buf, 1, out_len, stdout) != out_len) {
            perror("gen: write");
            exit(1);
        }
        out_len = 0;
    }
    memcpy(out_buf + out_len, data, n);
    out_len += n;
}

static void put16(int16_t v)
{
    uint16_t be = htobe16((uint16_t)v);
    put(&be, 2);
}

static void put32(int32_t v)
{
    uint32_t be = htobe32((uint32_t)v);
    put(&be, 4);
}

static void put64(int64_t v)
{
    uint64_t be = htobe64((uint64_t)v);
    put(&be, 8);
}

static void put_double(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    put64((int64_t)bits);
}

static long long arg_ll(const char *name, const char *value)
{
    char *end;
    long long v = strtoll(value, &end, 10);
    if (*end != '\0' || v < 0) {
        fprintf(stderr, "gen: bad value for %s: %s\n", name, value);
        exit(64);
    }
    return v;
}

int main(int argc, char **argv)
{
    long long rows = 1000, dim = 768, centers = 50, part = 0, parts = 1;
    uint64_t seed = 42;
    double sigma = 0.03;

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "gen: %s needs a value\n", argv[i]);
            return 64;
        }
        const char *name = argv[i], *value = argv[++i];
        if (strcmp(name, "--rows") == 0)
            rows = arg_ll(name, value);
        else if (strcmp(name, "--dim") == 0)
            dim = arg_ll(name, value);
        else if (strcmp(name, "--centers") == 0)
            centers = arg_ll(name, value);
        else if (strcmp(name, "--seed") == 0)
            seed = (uint64_t)arg_ll(name, value);
        else if (strcmp(name, "--part") == 0)
            part = arg_ll(name, value);
        else if (strcmp(name, "--parts") == 0)
            parts = arg_ll(name, value);
        else if (strcmp(name, "--sigma") == 0)
            sigma = atof(value);
        else {
            fprintf(stderr, "usage: gen --rows N --dim D --centers K [--seed S] [--sigma X] "
                            "[--part i --parts P]\n");
            return 64;
        }
    }
    if (dim < 1 || centers < 1 || parts < 1 || part >= parts) {
        fprintf(stderr, "gen: need dim >= 1, centers >= 1, 0 <= part < parts\n");
        return 64;
    }

    normal_table_init();
    out_cap = 1 << 20;
    if ((size_t)dim * 8 + 256 > out_cap)
        out_cap = (size_t)dim * 8 + 256;
    out_buf = malloc(out_cap);

    /* Centers (unit vectors) and per-blob score means, from the seed alone. */
    float *center = malloc(sizeof(float) * (size_t)centers * (size_t)dim);
    double *score_mean = malloc(sizeof(double) * (size_t)centers);
    if (out_buf == NULL || center == NULL || score_mean == NULL) {
        fprintf(stderr, "gen: out of memory\n");
        return 1;
    }
    Rng crng;
    rng_seed(&crng, seed, UINT64_MAX);
    for (long long c = 0; c < centers; c++) {
        double norm = 0;
        float *v = center + c * dim;
        for (long long j = 0; j < dim; j++) {
            v[j] = (float)rng_normal(&crng);
            norm += (double)v[j] * v[j];
        }
        norm = sqrt(norm);
        for (long long j = 0; j < dim; j++)
            v[j] = (float)(v[j] / norm);
        score_mean[c] = 1.5 + 2.0 * rng_uniform(&crng);
    }

    static const char header[11] = "PGCOPY\n\377\r\n";
    put(header, 11);
    put32(0); /* flags */
    put32(0); /* header extension */

    /* 2026-01-01 00:00:00 UTC in microseconds since 2000-01-01. */
    const int64_t base_us = INT64_C(820454400) * 1000000;
    const int64_t span_us = INT64_C(90) * 86400 * 1000000;
    const int32_t float4_oid = 700;
    const float fsigma = (float)sigma;

    long long first = rows * part / parts, last = rows * (part + 1) / parts;
    for (long long row = first; row < last; row++) {
        Rng r;
        rng_seed(&r, seed, (uint64_t)row);
        long long c = (long long)(rng_next(&r) % (uint64_t)centers);

        put16(6);

        /* job_uuid: version 4 */
        unsigned char uuid[16];
        uint64_t a = rng_next(&r), b = rng_next(&r);
        memcpy(uuid, &a, 8);
        memcpy(uuid + 8, &b, 8);
        uuid[6] = (unsigned char)((uuid[6] & 0x0f) | 0x40);
        uuid[8] = (unsigned char)((uuid[8] & 0x3f) | 0x80);
        put32(16);
        put(uuid, 16);

        /* score */
        double u = rng_uniform(&r), s;
        if (u < 0.005) {
            put32(-1);
        } else {
            if (u < 0.055)
                s = -1.0 + rng_uniform(&r); /* filtered out by score >= 0 */
            else {
                s = score_mean[c] + 0.6 * rng_normal(&r);
                s = s < 0.0 ? 0.0 : s > 5.0 ? 5.0 : s;
            }
            put32(8);
            put_double(s);
        }

        /* score_variance */
        put32(8);
        put_double(0.001 + 0.099 * rng_uniform(&r));

        /* created_at */
        put32(8);
        put64(base_us - (int64_t)(rng_uniform(&r) * (double)span_us));

        /* topic: the blob it came from */
        char topic[32];
        int tlen = snprintf(topic, sizeof topic, "topic-%03lld", c);
        put32(tlen);
        put(topic, (size_t)tlen);

        /* clip_embedding real[]: ndim, has-null, element type, dim, lower bound, elements */
        put32((int32_t)(20 + 8 * dim));
        put32(1);
        put32(0);
        put32(float4_oid);
        put32((int32_t)dim);
        put32(1);
        const float *v = center + c * dim;
        uint64_t bits = 0;
        for (long long j = 0; j < dim; j++) {
            if ((j & 3) == 0)
                bits = rng_next(&r);
            float x = v[j] + fsigma * normal_table[bits & 0xffff];
            bits >>= 16;
            uint32_t xb;
            memcpy(&xb, &x, 4);
            put32(4);
            put32((int32_t)xb);
        }
    }
    put16(-1);
    if (fwrite(out_buf, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
        perror("gen: write");
        return 1;
    }
    free(center);
    free(score_mean);
    free(out_buf);
    return 0;
}
