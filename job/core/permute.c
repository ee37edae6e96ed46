#include "core/permute.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* At most this many ranges: two copies of a row each, made up front. */
#define PERMUTE_MAX_THREADS 8

/* One range [lo, hi) of the cycles laid end to end. */
typedef struct {
    float *matrix;
    size_t dim;
    const uint32_t *seq;          /* the rows of every cycle, in walk order */
    const unsigned char *head;    /* bit i: seq[i] begins a cycle */
    size_t total, lo, hi;         /* total: positions in seq */
    const float *next_first;      /* hi inside a cycle: the old row seq[hi] */
    const float *cycle_first;     /* lo inside a cycle: the old first row of that cycle */
    float *held;                  /* a row of scratch: a cycle begun here */
} Range;

static bool is_head(const unsigned char *head, size_t i)
{
    return head[i / 8] & (1u << (i % 8));
}

/*
 * Walks the range: position i receives the row of position i + 1 in its
 * cycle (the cycle's first row at its end), as one thread walking every
 * cycle would, with the copies where a neighbour range got there first.
 */
static void *range_run(void *argument)
{
    Range *range = argument;
    size_t row_bytes = range->dim * sizeof(float);
    const float *first = range->cycle_first;
    for (size_t i = range->lo; i < range->hi; i++) {
        float *target = range->matrix + (size_t)range->seq[i] * range->dim;
        if (is_head(range->head, i)) {
            memcpy(range->held, target, row_bytes);
            first = range->held;
        }
        const float *source;
        if (i + 1 == range->total || is_head(range->head, i + 1))
            source = first;
        else if (i + 1 == range->hi)
            source = range->next_first;
        else
            source = range->matrix + (size_t)range->seq[i + 1] * range->dim;
        memcpy(target, source, row_bytes);
    }
    return NULL;
}

/* The cycles of from laid end to end (fixed points left out); returns their length. */
static size_t lay_cycles(const uint32_t *from, size_t count, uint32_t *seq, unsigned char *head,
                         unsigned char *seen)
{
    size_t total = 0;
    for (size_t start = 0; start < count; start++) {
        if (seen[start / 8] & (1u << (start % 8)) || from[start] == start)
            continue;
        head[total / 8] |= (unsigned char)(1u << (total % 8));
        size_t place = start;
        do {
            seen[place / 8] |= (unsigned char)(1u << (place % 8));
            seq[total++] = (uint32_t)place;
            place = from[place];
        } while (place != start);
    }
    return total;
}

int permute_rows(float *matrix, size_t dim, const uint32_t *from, size_t count, int threads,
                 Error *err)
{
    if (count < 2 || dim == 0)
        return ERR_OK;
    if (threads < 1)
        threads = 1;
    if (threads > PERMUTE_MAX_THREADS)
        threads = PERMUTE_MAX_THREADS;
    if ((size_t)threads > count / 2)
        threads = (int)(count / 2);
    size_t row_bytes = dim * sizeof(float);
    uint32_t *seq = malloc(count * sizeof *seq);
    unsigned char *head = calloc(count / 8 + 2, 1);
    unsigned char *seen = calloc(count / 8 + 1, 1);
    /* Per range: held, and the copies of next_first and cycle_first. */
    float *rows = malloc((size_t)threads * 3 * row_bytes);
    int code = ERR_OK;
    if (seq == NULL || head == NULL || seen == NULL || rows == NULL) {
        code = error_nomem(err, count * sizeof *seq + (size_t)threads * 3 * row_bytes);
        goto done;
    }
    size_t total = lay_cycles(from, count, seq, head, seen);
    if (total == 0)
        goto done;

    Range ranges[PERMUTE_MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        float *own = rows + (size_t)t * 3 * dim;
        ranges[t] = (Range){
            .matrix = matrix,
            .dim = dim,
            .seq = seq,
            .head = head,
            .total = total,
            .lo = total * (size_t)t / (size_t)threads,
            .hi = total * (size_t)(t + 1) / (size_t)threads,
            .held = own,
        };
        size_t lo = ranges[t].lo;
        if (lo < total && !is_head(head, lo)) { /* inside a cycle: copies before anything moves */
            size_t begin = lo;
            while (!is_head(head, begin))
                begin--;
            memcpy(own + dim, matrix + (size_t)seq[lo] * dim, row_bytes);
            memcpy(own + 2 * dim, matrix + (size_t)seq[begin] * dim, row_bytes);
            ranges[t].cycle_first = own + 2 * dim;
            if (t > 0)
                ranges[t - 1].next_first = own + dim;
        }
    }

    pthread_t helpers[PERMUTE_MAX_THREADS];
    bool started[PERMUTE_MAX_THREADS] = {false};
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous); /* signals stay with the caller's thread */
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&helpers[t], NULL, range_run, &ranges[t]) == 0;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    range_run(&ranges[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(helpers[t], NULL);
        else
            range_run(&ranges[t]);
    }
done:
    free(seq);
    free(head);
    free(seen);
    free(rows);
    return code;
}
