#include "numeric/reservoir.h"

#include <pthread.h>
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

/* A 64-bit hash of the id bytes keyed by key: 8 bytes at a time through
 * multiply-rotate rounds, then a splitmix64 finish, so ids sharing long
 * prefixes (uuids, sequential text) still spread over all 64 bits. */
uint64_t reservoir_id_hash(uint64_t key, const char *id, size_t id_length)
{
    const uint64_t mix = 0x9e3779b97f4a7c15ULL;
    uint64_t hash = key ^ (id_length * mix);
    size_t at = 0;
    for (; at + 8 <= id_length; at += 8) {
        uint64_t word;
        memcpy(&word, id + at, 8);
        hash ^= word * 0xbf58476d1ce4e5b9ULL;
        hash = (hash << 27 | hash >> 37) * mix;
    }
    uint64_t tail = 0;
    for (size_t i = 0; at + i < id_length; i++)
        tail |= (uint64_t)(unsigned char)id[at + i] << (8 * i);
    hash ^= tail * 0x94d049bb133111ebULL;
    hash = (hash << 31 | hash >> 33) * mix;
    hash ^= hash >> 30;
    hash *= 0xbf58476d1ce4e5b9ULL;
    hash ^= hash >> 27;
    hash *= 0x94d049bb133111ebULL;
    return hash ^ (hash >> 31);
}

int reservoir_set_init(ReservoirSet *set, size_t capacity, size_t dim, int streams,
                       const Rng *rng, uint64_t label, Error *err)
{
    memset(set, 0, sizeof *set);
    pthread_mutex_init(&set->lock, NULL);
    set->locked = true;
    atomic_init(&set->bound, UINT64_MAX);
    atomic_init(&set->seen, 0);
    if (capacity >= UINT32_MAX || (dim > 0 && capacity > SIZE_MAX / sizeof(float) / dim))
        return error_nomem(err, SIZE_MAX);
    size_t bytes = (capacity > 0 ? capacity : 1) * (dim > 0 ? dim : 1) * sizeof(float);
    set->sample = malloc(bytes);
    set->hash = malloc((capacity + 1) * sizeof *set->hash);
    set->heap = malloc((capacity + 1) * sizeof *set->heap);
    set->spare = malloc((dim > 0 ? dim : 1) * sizeof *set->spare);
    if (set->sample == NULL || set->hash == NULL || set->heap == NULL || set->spare == NULL) {
        reservoir_set_release(set);
        return error_nomem(err, bytes);
    }
    set->capacity = capacity;
    set->dim = dim;
    set->streams = streams > 0 ? streams : 1;
    Rng keyed;
    rng_fork(rng, label, &keyed);
    set->key = rng_next(&keyed);
    return ERR_OK;
}

int reservoir_set_partitions(void *context, const uint64_t *rows, int streams,
                             void **row_contexts, Error *err)
{
    ReservoirSet *set = context;
    (void)rows;
    if (streams != set->streams)
        return error_set(err, ERR_INTERNAL, "a sample set up for %d streams read by %d",
                         set->streams, streams);
    for (int w = 0; w < streams; w++)
        row_contexts[w] = set;
    return ERR_OK;
}

static void heap_sift_down(ReservoirSet *set, size_t at)
{
    uint32_t *heap = set->heap;
    const uint64_t *hash = set->hash;
    for (;;) {
        size_t largest = at, left = 2 * at + 1, right = left + 1;
        if (left < set->kept && hash[heap[left]] > hash[heap[largest]])
            largest = left;
        if (right < set->kept && hash[heap[right]] > hash[heap[largest]])
            largest = right;
        if (largest == at)
            return;
        uint32_t held = heap[at];
        heap[at] = heap[largest];
        heap[largest] = held;
        at = largest;
    }
}

static void heap_sift_up(ReservoirSet *set, size_t at)
{
    uint32_t *heap = set->heap;
    while (at > 0) {
        size_t parent = (at - 1) / 2;
        if (set->hash[heap[parent]] >= set->hash[heap[at]])
            return;
        uint32_t held = heap[at];
        heap[at] = heap[parent];
        heap[parent] = held;
        at = parent;
    }
}

int reservoir_set_row(void *context, const char *id, size_t id_length, int64_t row,
                      const float *embedding, Error *err)
{
    ReservoirSet *set = context;
    (void)row, (void)err;
    uint64_t hash = reservoir_id_hash(set->key, id, id_length);
    /* The common case once the sample is full: no lock. The bound only
     * falls, so a row above a stale bound is above the current one too. */
    atomic_fetch_add_explicit(&set->seen, 1, memory_order_relaxed);
    if (hash >= atomic_load_explicit(&set->bound, memory_order_relaxed))
        return ERR_OK;
    pthread_mutex_lock(&set->lock);
    if (set->capacity == 0) {
        pthread_mutex_unlock(&set->lock);
        return ERR_OK;
    }
    size_t slot;
    if (set->kept < set->capacity) {
        slot = set->kept;
        set->hash[slot] = hash;
        set->heap[set->kept++] = (uint32_t)slot;
        heap_sift_up(set, set->kept - 1);
    } else if (hash < set->hash[set->heap[0]]) {
        slot = set->heap[0];
        set->hash[slot] = hash;
        heap_sift_down(set, 0);
    } else {
        pthread_mutex_unlock(&set->lock);
        return ERR_OK;
    }
    memcpy(set->sample + slot * set->dim, embedding, set->dim * sizeof(float));
    if (set->kept == set->capacity)
        atomic_store_explicit(&set->bound, set->hash[set->heap[0]], memory_order_relaxed);
    pthread_mutex_unlock(&set->lock);
    return ERR_OK;
}

static int compare_slot_hash(const void *x, const void *y, void *context)
{
    const uint64_t *hash = context;
    uint64_t p = hash[*(const uint32_t *)x], q = hash[*(const uint32_t *)y];
    return (p > q) - (p < q);
}

size_t reservoir_set_gather(ReservoirSet *set)
{
    size_t kept = set->kept, dim = set->dim;
    if (kept == 0 || set->sample == NULL)
        return kept;
    /* order[k]: the slot that goes to place k; the heap array serves. */
    uint32_t *order = set->heap;
    for (size_t k = 0; k < kept; k++)
        order[k] = (uint32_t)k;
    qsort_r(order, kept, sizeof *order, compare_slot_hash, set->hash);
    /* Rows (and hashes) moved in place along the cycles of order; a moved
     * place is marked by order[place] = place. */
    float *held = set->spare;
    for (size_t start = 0; start < kept; start++) {
        if (order[start] == start)
            continue;
        memcpy(held, set->sample + start * dim, dim * sizeof *held);
        uint64_t held_hash = set->hash[start];
        size_t place = start;
        for (;;) {
            size_t from = order[place];
            order[place] = (uint32_t)place;
            if (from == start) {
                memcpy(set->sample + place * dim, held, dim * sizeof *held);
                set->hash[place] = held_hash;
                break;
            }
            memcpy(set->sample + place * dim, set->sample + from * dim, dim * sizeof *held);
            set->hash[place] = set->hash[from];
            place = from;
        }
    }
    return kept;
}

void reservoir_set_release(ReservoirSet *set)
{
    free(set->sample);
    free(set->hash);
    free(set->heap);
    free(set->spare);
    set->sample = NULL;
    set->hash = NULL;
    set->heap = NULL;
    set->spare = NULL;
    if (set->locked)
        pthread_mutex_destroy(&set->lock);
    set->locked = false;
}
