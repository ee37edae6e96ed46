#include "numeric/kmeans.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/cancel.h"
#include "numeric/blas.h"
#include "numeric/distance.h"

/* scikit-learn's MiniBatchKMeans defaults. */
#define MAX_NO_IMPROVEMENT 10
#define REASSIGNMENT_RATIO 0.01

/* Bounded number of extra assignment passes spent re-seeding empty clusters. */
#define EMPTY_FIX_ROUNDS 16

struct Kmeans {
    KmeansOptions options;
    size_t dim;
    float *centers;       /* k x dim: current centers; after kmeans_fit, the kept ones */
    float *spare_centers; /* k x dim: where kmeans_fit holds the best restart so far */
    int seeded;
    double inertia;
    int iterations;
    double seed_inertia; /* of the kept seeding, on the rows it was seeded from */
    KmeansTrace *trace;
};

/* A row far from its center: a candidate to re-seed an empty cluster. */
typedef struct Far {
    size_t row;
    float distance;
    int32_t cluster;
} Far;

/* Buffers of one assignment pass, allocated once per refine: O(tile * k + k * dim). */
typedef struct Workspace {
    size_t tile_rows;
    float *dots;          /* k x tile_rows */
    int32_t *tile_label;  /* tile_rows */
    float *tile_distance; /* tile_rows */
    DistanceCenters centers; /* norms and repeats of the centers of the pass */
    size_t *counts;       /* k: rows per cluster in the last pass */
    float *tile_sums;     /* k x dim, float sums of one tile (at most tile_rows rows) */
    unsigned char *touched; /* k: cluster has rows in the current tile */
    double *sums;         /* k x dim, or NULL when the pass does not accumulate */
    double *mean;         /* dim */
    Far *far;             /* min-heap, then sorted farthest first */
    size_t far_capacity;
    size_t far_count;
} Workspace;

static void *alloc_array(size_t count, size_t size, Error *err)
{
    void *memory;
    if (size != 0 && count > SIZE_MAX / size) {
        error_nomem(err, SIZE_MAX);
        return NULL;
    }
    memory = malloc(count * size > 0 ? count * size : 1);
    if (memory == NULL)
        error_nomem(err, count * size);
    return memory;
}

/* Orders Far records: a before b when a is nearer (or as near and a later row). */
static int far_nearer(const Far *a, const Far *b)
{
    if (a->distance != b->distance)
        return a->distance < b->distance;
    return a->row > b->row;
}

static void far_push(Workspace *ws, size_t row, float distance, int32_t cluster)
{
    Far item = {row, distance, cluster};
    Far *heap = ws->far;
    size_t at;

    if (ws->far_count < ws->far_capacity) {
        at = ws->far_count++;
        while (at > 0) {
            size_t parent = (at - 1) / 2;
            if (!far_nearer(&item, &heap[parent]))
                break;
            heap[at] = heap[parent];
            at = parent;
        }
        heap[at] = item;
        return;
    }
    if (!far_nearer(&heap[0], &item))
        return;
    at = 0;
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= ws->far_count)
            break;
        if (child + 1 < ws->far_count && far_nearer(&heap[child + 1], &heap[child]))
            child++;
        if (!far_nearer(&heap[child], &item))
            break;
        heap[at] = heap[child];
        at = child;
    }
    heap[at] = item;
}

static int far_compare(const void *left, const void *right)
{
    const Far *a = left, *b = right;
    if (far_nearer(a, b))
        return 1;
    if (far_nearer(b, a))
        return -1;
    return 0;
}

static void workspace_release(Workspace *ws)
{
    free(ws->dots);
    free(ws->tile_label);
    free(ws->tile_distance);
    distance_centers_release(&ws->centers);
    free(ws->counts);
    free(ws->tile_sums);
    free(ws->touched);
    free(ws->sums);
    free(ws->mean);
    free(ws->far);
    memset(ws, 0, sizeof *ws);
}

static int workspace_init(Workspace *ws, int k, size_t dim, size_t rows, int with_sums, Error *err)
{
    size_t clusters = (size_t)k;

    memset(ws, 0, sizeof *ws);
    ws->tile_rows = distance_tile_rows(dim, clusters);
    ws->far_capacity = 2 * clusters < rows ? 2 * clusters : rows;
    if ((ws->dots = alloc_array(ws->tile_rows * clusters, sizeof(float), err)) == NULL
        || (ws->tile_label = alloc_array(ws->tile_rows, sizeof(int32_t), err)) == NULL
        || (ws->tile_distance = alloc_array(ws->tile_rows, sizeof(float), err)) == NULL
        || distance_centers_init(&ws->centers, k, dim, err) != ERR_OK
        || (ws->counts = alloc_array(clusters, sizeof(size_t), err)) == NULL
        || (ws->mean = alloc_array(dim, sizeof(double), err)) == NULL
        || (ws->far = alloc_array(ws->far_capacity, sizeof(Far), err)) == NULL)
        goto fail;
    if (with_sums
        && ((ws->tile_sums = alloc_array(clusters * dim, sizeof(float), err)) == NULL
            || (ws->touched = alloc_array(clusters, 1, err)) == NULL
            || (ws->sums = alloc_array(clusters * dim, sizeof(double), err)) == NULL))
        goto fail;
    if (ws->touched != NULL)
        memset(ws->touched, 0, clusters);
    return ERR_OK;
fail:
    workspace_release(ws);
    return ERR_INTERNAL;
}

/* Counts the rows of one tile per cluster and keeps the farthest in ws->far. */
static void count_tile(Workspace *ws, size_t start, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int32_t c = ws->tile_label[i];
        float d = ws->tile_distance[i];
        ws->counts[c]++;
        if (d > 0.0f && (ws->far_count < ws->far_capacity || d >= ws->far[0].distance))
            far_push(ws, start + i, d, c);
    }
}

/* Adds the rows of one tile to their clusters' sums: in float within the tile, double across. */
static void add_tile_sums(Workspace *ws, const float *tile, size_t count)
{
    int k = ws->centers.count;
    size_t dim = ws->centers.dim;

    for (size_t i = 0; i < count; i++) {
        int32_t c = ws->tile_label[i];
        float *sum = ws->tile_sums + (size_t)c * dim;
        if (!ws->touched[c]) {
            ws->touched[c] = 1;
            memset(sum, 0, dim * sizeof *sum);
        }
        blas_saxpy((int)dim, 1.0f, tile + i * dim, 1, sum, 1);
    }
    for (int c = 0; c < k; c++) {
        if (!ws->touched[c])
            continue;
        ws->touched[c] = 0;
        const float *sum = ws->tile_sums + (size_t)c * dim;
        double *total = ws->sums + (size_t)c * dim;
        for (size_t d = 0; d < dim; d++)
            total[d] += sum[d];
    }
}

/*
 * One assignment pass over all rows against the centers, tile by tile.
 * Fills ws->counts and the farthest rows; with ws->sums also the per-cluster
 * sums of the rows; cluster_of may be NULL. *inertia receives the inertia.
 * Polls for a cancel once a tile: ERR_TEMPFAIL leaves the pass half done.
 */
static int assign_pass(Workspace *ws, const float *data, size_t rows, const float *norms,
                       const float *centers, int32_t *cluster_of, double *inertia, Error *err)
{
    size_t dim = ws->centers.dim;
    int code;

    *inertia = 0.0;
    distance_centers_set(&ws->centers, centers);
    memset(ws->counts, 0, (size_t)ws->centers.count * sizeof *ws->counts);
    if (ws->sums != NULL)
        memset(ws->sums, 0, (size_t)ws->centers.count * dim * sizeof *ws->sums);
    ws->far_count = 0;

    for (size_t start = 0; start < rows; start += ws->tile_rows) {
        size_t count = rows - start < ws->tile_rows ? rows - start : ws->tile_rows;
        const float *tile = data + start * dim;
        if ((code = cancel_check(err)) != ERR_OK)
            return code;
        *inertia += distance_nearest_tile(&ws->centers, tile, count, norms + start, ws->dots,
                                         ws->tile_label, ws->tile_distance);
        count_tile(ws, start, count);
        if (cluster_of != NULL)
            memcpy(cluster_of + start, ws->tile_label, count * sizeof *cluster_of);
        if (ws->sums != NULL)
            add_tile_sums(ws, tile, count);
    }
    qsort(ws->far, ws->far_count, sizeof *ws->far, far_compare);
    return ERR_OK;
}

static int has_empty(const Workspace *ws, int k)
{
    for (int c = 0; c < k; c++)
        if (ws->counts[c] == 0)
            return 1;
    return 0;
}

/* True when some empty cluster could take a row from a cluster of two or more. */
static int can_relocate(const Workspace *ws, int k)
{
    if (!has_empty(ws, k))
        return 0;
    for (size_t i = 0; i < ws->far_count; i++)
        if (ws->counts[ws->far[i].cluster] > 1)
            return 1;
    return 0;
}

/*
 * Gives each empty cluster a distinct row among the farthest from their
 * centers, taken from a cluster that keeps at least one row. With ws->sums
 * the row moves between the sums (the means are computed next); without,
 * the empty cluster's center becomes the row. Returns how many moved.
 */
static int relocate_empty(Kmeans *kmeans, const float *data, Workspace *ws)
{
    int k = kmeans->options.cluster_count;
    size_t dim = kmeans->dim;
    size_t next = 0;
    int moved = 0;

    for (int empty = 0; empty < k; empty++) {
        if (ws->counts[empty] != 0)
            continue;
        while (next < ws->far_count && ws->counts[ws->far[next].cluster] <= 1)
            next++;
        if (next == ws->far_count)
            break;
        const Far *far = &ws->far[next++];
        const float *row = data + far->row * dim;
        ws->counts[far->cluster]--;
        ws->counts[empty] = 1;
        if (ws->sums != NULL) {
            double *from = ws->sums + (size_t)far->cluster * dim;
            double *to = ws->sums + (size_t)empty * dim;
            for (size_t d = 0; d < dim; d++) {
                from[d] -= row[d];
                to[d] = row[d];
            }
        } else {
            memcpy(kmeans->centers + (size_t)empty * dim, row, dim * sizeof *row);
        }
        moved++;
    }
    return moved;
}

/* Scales v (dim doubles) to unit norm; a zero vector stays zero. */
static void normalize_double(double *v, size_t dim)
{
    double norm = 0.0;
    for (size_t d = 0; d < dim; d++)
        norm += v[d] * v[d];
    if (norm > 0.0) {
        double scale = 1.0 / sqrt(norm);
        for (size_t d = 0; d < dim; d++)
            v[d] *= scale;
    }
}

/*
 * Writes the new center (dim doubles) in place of the old one and returns
 * the squared distance it moved.
 */
static double move_center(float *center, const double *value, size_t dim)
{
    double moved = 0.0;
    for (size_t d = 0; d < dim; d++) {
        float v = (float)value[d];
        double step = (double)v - (double)center[d];
        moved += step * step;
        center[d] = v;
    }
    return moved;
}

/* Lloyd update: each non-empty cluster's center becomes its mean. Returns the total move. */
static double update_means(Kmeans *kmeans, Workspace *ws)
{
    int k = kmeans->options.cluster_count;
    size_t dim = kmeans->dim;
    double moved = 0.0;

    for (int c = 0; c < k; c++) {
        if (ws->counts[c] == 0)
            continue;
        const double *sum = ws->sums + (size_t)c * dim;
        double scale = 1.0 / (double)ws->counts[c];
        for (size_t d = 0; d < dim; d++)
            ws->mean[d] = sum[d] * scale;
        if (kmeans->options.metric == KMEANS_COSINE)
            normalize_double(ws->mean, dim);
        moved += move_center(kmeans->centers + (size_t)c * dim, ws->mean, dim);
    }
    return moved;
}

static void trace_start(Kmeans *kmeans)
{
    if (kmeans->trace != NULL)
        kmeans->trace->length = 0;
}

static void trace_record(Kmeans *kmeans, double inertia)
{
    KmeansTrace *trace = kmeans->trace;
    if (trace == NULL || kmeans->options.algorithm != KMEANS_LLOYD)
        return;
    if (trace->inertia != NULL && trace->length < trace->capacity)
        trace->inertia[trace->length] = inertia;
    if (trace->length < INT_MAX)
        trace->length++;
}

/*
 * After the last pass: while clusters are empty and rows can be moved to
 * them, move them and assign again. Each round strictly lowers the inertia
 * (the moved row's distance drops to 0, no other row gets farther).
 * *inertia holds the last pass's inertia, and receives the final one.
 */
static int fill_empty_clusters(Kmeans *kmeans, const float *data, size_t rows,
                               const float *norms, Workspace *ws, double *inertia,
                               int32_t *cluster_of, Error *err)
{
    int k = kmeans->options.cluster_count;
    double *sums = ws->sums;
    int code = ERR_OK;

    ws->sums = NULL; /* relocate_empty moves centers, assign_pass skips the sums */
    for (int round = 0; round < EMPTY_FIX_ROUNDS && can_relocate(ws, k); round++) {
        if (relocate_empty(kmeans, data, ws) == 0)
            break;
        if ((code = assign_pass(ws, data, rows, norms, kmeans->centers, cluster_of, inertia,
                                err)) != ERR_OK)
            break;
        trace_record(kmeans, *inertia);
    }
    ws->sums = sums;
    return code;
}

/*
 * Lloyd iterations from the current centers; cluster_of (may be NULL)
 * receives the labels of the final assignment, the one the centers and
 * inertia describe.
 */
static int refine_lloyd(Kmeans *kmeans, const float *data, size_t rows, const float *norms,
                        int32_t *cluster_of, Error *err)
{
    const KmeansOptions *options = &kmeans->options;
    int k = options->cluster_count;
    Workspace ws;
    double inertia, previous = 0.0;
    int updates = 0;
    int code;

    if ((code = workspace_init(&ws, k, kmeans->dim, rows, 1, err)) != ERR_OK)
        return code;
    trace_start(kmeans);
    for (;;) {
        if ((code = assign_pass(&ws, data, rows, norms, kmeans->centers, cluster_of, &inertia,
                                err)) != ERR_OK)
            goto done;
        trace_record(kmeans, inertia);
        /* Converged on a small relative change, but never with a fixable empty cluster. */
        if (updates > 0 && previous - inertia <= options->tolerance * previous
            && !can_relocate(&ws, k))
            break;
        if (updates >= options->max_iterations)
            break;
        relocate_empty(kmeans, data, &ws);
        double moved = update_means(kmeans, &ws);
        updates++;
        /* Same centers: the pass just made is the pass they would get. */
        if (moved == 0.0)
            break;
        previous = inertia;
    }
    if ((code = fill_empty_clusters(kmeans, data, rows, norms, &ws, &inertia, cluster_of, err))
        != ERR_OK)
        goto done;
    kmeans->inertia = inertia;
    kmeans->iterations = updates;
done:
    workspace_release(&ws);
    return code;
}

/* Mean over the columns of each column's variance: scales the mini-batch tolerance. */
static int mean_column_variance(const float *data, size_t rows, size_t dim, const float *norms,
                                double *out, Error *err)
{
    size_t tile = distance_tile_rows(dim, 0);
    float *partial = alloc_array(dim, sizeof(float), err);
    double *column = alloc_array(dim, sizeof(double), err);
    double squares = 0.0, mean_squares = 0.0;

    if (partial == NULL || column == NULL) {
        free(partial);
        free(column);
        return ERR_INTERNAL;
    }
    memset(column, 0, dim * sizeof *column);
    for (size_t start = 0; start < rows; start += tile) {
        size_t count = rows - start < tile ? rows - start : tile;
        if (cancel_check(err) != ERR_OK) {
            free(partial);
            free(column);
            return ERR_TEMPFAIL;
        }
        memset(partial, 0, dim * sizeof *partial);
        for (size_t i = 0; i < count; i++)
            blas_saxpy((int)dim, 1.0f, data + (start + i) * dim, 1, partial, 1);
        for (size_t d = 0; d < dim; d++)
            column[d] += partial[d];
    }
    for (size_t i = 0; i < rows; i++)
        squares += norms[i];
    for (size_t d = 0; d < dim; d++) {
        double mean = column[d] / (double)rows;
        mean_squares += mean * mean;
    }
    *out = (squares / (double)rows - mean_squares) / (double)dim;
    if (!(*out > 0.0))
        *out = 0.0;
    free(partial);
    free(column);
    return ERR_OK;
}

/* Cluster a before b: lighter, or as light and a lower index. */
static int lighter(int a, int b, const double *weight)
{
    if (weight[a] != weight[b])
        return weight[a] < weight[b];
    return a < b;
}

/* Insertion sort by (weight, index): only runs when more than half a batch is light. */
static void sort_by_weight(int *clusters, int count, const double *weight)
{
    for (int i = 1; i < count; i++) {
        int value = clusters[i];
        int j = i;
        while (j > 0 && lighter(value, clusters[j - 1], weight)) {
            clusters[j] = clusters[j - 1];
            j--;
        }
        clusters[j] = value;
    }
}

typedef struct Batch {
    size_t size;
    size_t *index;        /* size: the rows drawn */
    float *rows;          /* size x dim, gathered */
    float *norms;         /* size */
    float *dots;          /* k x size */
    int32_t *label;       /* size */
    float *distance;      /* size */
    float *sums;          /* k x dim */
    float *means;         /* k x dim: running means of the rows each center has seen */
    size_t *count;        /* k */
    double *weight;       /* k: rows seen per center, the inverse learning rate */
    int *chosen;          /* k */
    unsigned char *is_chosen; /* k */
    size_t *picked;       /* k */
} Batch;

/*
 * scikit-learn's reassignment of centers that get few rows: those whose
 * weight is below REASSIGNMENT_RATIO of the largest (at most half a batch of
 * them, the lightest first) move to distinct rows drawn uniformly, and their
 * weight becomes the smallest of the others so they are not moved at once
 * again. Returns the squared distance the centers moved.
 */
static double reassign_light_centers(Kmeans *kmeans, const float *data, size_t rows,
                                     Batch *batch, Rng *rng)
{
    int k = kmeans->options.cluster_count;
    size_t dim = kmeans->dim;
    double *weight = batch->weight;
    int *chosen = batch->chosen;
    size_t *picked = batch->picked;
    double heaviest = 0.0, lightest_kept = 0.0;
    double moved = 0.0;
    int count = 0;

    for (int c = 0; c < k; c++)
        if (weight[c] > heaviest)
            heaviest = weight[c];
    for (int c = 0; c < k; c++)
        if (weight[c] < REASSIGNMENT_RATIO * heaviest)
            chosen[count++] = c;
    if (count == 0)
        return 0.0;
    if ((size_t)count > batch->size / 2) {
        sort_by_weight(chosen, count, weight);
        count = (int)(batch->size / 2);
        if (count == 0)
            return 0.0;
    }
    memset(batch->is_chosen, 0, (size_t)k);
    for (int i = 0; i < count; i++)
        batch->is_chosen[chosen[i]] = 1;
    int first = 1;
    for (int c = 0; c < k; c++) {
        if (!batch->is_chosen[c] && (first || weight[c] < lightest_kept)) {
            lightest_kept = weight[c];
            first = 0;
        }
    }
    for (int i = 0; i < count; i++) {
        size_t row;
        int again;
        do {
            row = (size_t)rng_below(rng, rows);
            again = 0;
            for (int j = 0; j < i && !again; j++)
                again = picked[j] == row;
        } while (again);
        picked[i] = row;
        float *center = kmeans->centers + (size_t)chosen[i] * dim;
        const float *source = data + row * dim;
        for (size_t d = 0; d < dim; d++) {
            double step = (double)source[d] - (double)center[d];
            moved += step * step;
        }
        memcpy(center, source, dim * sizeof *center);
        memcpy(batch->means + (size_t)chosen[i] * dim, source, dim * sizeof *center);
        weight[chosen[i]] = lightest_kept;
    }
    return moved;
}

static void batch_release(Batch *batch)
{
    free(batch->index);
    free(batch->rows);
    free(batch->norms);
    free(batch->dots);
    free(batch->label);
    free(batch->distance);
    free(batch->sums);
    free(batch->means);
    free(batch->count);
    free(batch->weight);
    free(batch->chosen);
    free(batch->is_chosen);
    free(batch->picked);
    memset(batch, 0, sizeof *batch);
}

static int batch_init(Batch *batch, size_t size, int k, size_t dim, Error *err)
{
    size_t clusters = (size_t)k;
    memset(batch, 0, sizeof *batch);
    batch->size = size;
    if ((batch->index = alloc_array(size, sizeof(size_t), err)) == NULL
        || (batch->rows = alloc_array(size * dim, sizeof(float), err)) == NULL
        || (batch->norms = alloc_array(size, sizeof(float), err)) == NULL
        || (batch->dots = alloc_array(size * clusters, sizeof(float), err)) == NULL
        || (batch->label = alloc_array(size, sizeof(int32_t), err)) == NULL
        || (batch->distance = alloc_array(size, sizeof(float), err)) == NULL
        || (batch->sums = alloc_array(clusters * dim, sizeof(float), err)) == NULL
        || (batch->means = alloc_array(clusters * dim, sizeof(float), err)) == NULL
        || (batch->count = alloc_array(clusters, sizeof(size_t), err)) == NULL
        || (batch->weight = alloc_array(clusters, sizeof(double), err)) == NULL
        || (batch->chosen = alloc_array(clusters, sizeof(int), err)) == NULL
        || (batch->is_chosen = alloc_array(clusters, 1, err)) == NULL
        || (batch->picked = alloc_array(clusters, sizeof(size_t), err)) == NULL) {
        batch_release(batch);
        return ERR_INTERNAL;
    }
    return ERR_OK;
}

/*
 * Copies the rows at `index` (and their norms) into a contiguous block for
 * sgemm. The rows are scattered over the whole matrix, so each costs a TLB
 * and DRAM miss; prefetching a few rows ahead overlaps those waits (measured
 * about 20% faster on 300,000 x 768, batches of 1,024).
 */
#define PREFETCH_ROWS_AHEAD 4
#define CACHE_LINE_FLOATS 16

static void gather_rows(const float *data, size_t dim, const float *norms, const size_t *index,
                        size_t count, float *out, float *out_norms)
{
    for (size_t i = 0; i < count; i++) {
        if (i + PREFETCH_ROWS_AHEAD < count) {
            const float *ahead = data + index[i + PREFETCH_ROWS_AHEAD] * dim;
            for (size_t d = 0; d < dim; d += CACHE_LINE_FLOATS)
                __builtin_prefetch(ahead + d, 0, 0);
        }
        memcpy(out + i * dim, data + index[i] * dim, dim * sizeof *out);
        out_norms[i] = norms[index[i]];
    }
}

/*
 * The mini-batch steps and the restarts on the init subsample run their
 * BLAS calls on one thread. Their products are small (1,024 x 50 x 768 is
 * about 1 ms) and separated by serial work (the gather of the next batch,
 * the center updates), during which OpenBLAS's idle threads busy-wait in
 * sched_yield: measured on 300,000 x 768, k = 50 with 2 threads, the steps
 * took 2.0 s of CPU for 1.2-1.9 s of wall, on one thread 1.2 s of CPU for
 * 1.3-1.5 s of wall (a loaded 2-core machine). The passes over all the rows
 * (final assignment, Lloyd) keep the configured count. Returns the count to
 * give blas_threads_restore.
 */
static int blas_threads_single(void)
{
    int before = blas_get_num_threads();
    if (before > 1)
        blas_set_num_threads(1);
    return before;
}

static void blas_threads_restore(int before)
{
    if (before > 1)
        blas_set_num_threads(before);
}

/*
 * One mini-batch step (Sculley 2010, as scikit-learn's _mini_batch_step):
 * assigns the batch against the current centers and moves each center's
 * running mean toward the mean of its batch rows with learning rate
 * count / total weight. For KMEANS_COSINE the center is the running mean
 * normalized, and the running mean itself is kept as it is: normalizing it
 * in place would give the old rows a mean of norm 1 against batch means of
 * norm below 1 (the mean of unit rows that spread), so the learning rate
 * would shrink by that ratio (about 3x on overlapping blobs) and the centers
 * would crawl until the early stop. Returns the batch inertia (against the
 * centers before the move) and adds the squared distance the centers moved
 * to *moved.
 */
static double minibatch_step(Kmeans *kmeans, Batch *batch, const Workspace *ws, double *moved)
{
    int k = kmeans->options.cluster_count;
    size_t dim = kmeans->dim;
    double inertia;

    inertia = distance_nearest_tile(&ws->centers, batch->rows, batch->size, batch->norms,
                                    batch->dots, batch->label, batch->distance);
    memset(batch->count, 0, (size_t)k * sizeof *batch->count);
    for (size_t i = 0; i < batch->size; i++) {
        int32_t c = batch->label[i];
        float *sum = batch->sums + (size_t)c * dim;
        if (batch->count[c]++ == 0)
            memset(sum, 0, dim * sizeof *sum);
        blas_saxpy((int)dim, 1.0f, batch->rows + i * dim, 1, sum, 1);
    }
    for (int c = 0; c < k; c++) {
        if (batch->count[c] == 0)
            continue;
        float *center = kmeans->centers + (size_t)c * dim;
        float *mean = batch->means + (size_t)c * dim;
        const float *sum = batch->sums + (size_t)c * dim;
        double total = batch->weight[c] + (double)batch->count[c];
        /* new mean = (mean * weight + sum) / total, as keep * mean + rate * sum */
        double rate = 1.0 / total;
        double keep = batch->weight[c] * rate;
        double norm = 0.0;
        for (size_t d = 0; d < dim; d++) {
            mean[d] = (float)(keep * mean[d] + rate * sum[d]);
            norm += (double)mean[d] * mean[d];
        }
        double scale = 1.0;
        if (kmeans->options.metric == KMEANS_COSINE && norm > 0.0)
            scale = 1.0 / sqrt(norm);
        double moved_here = 0.0;
        for (size_t d = 0; d < dim; d++) {
            float v = scale == 1.0 ? mean[d] : (float)(mean[d] * scale);
            double step = (double)v - (double)center[d];
            moved_here += step * step;
            center[d] = v;
        }
        batch->weight[c] = total;
        *moved += moved_here;
    }
    return inertia;
}

/* Every 10 k rows seen, or while a center has seen none (scikit-learn). */
static int reassign_due(const Batch *batch, int k, size_t *since_reassign)
{
    int reassign = 0;
    *since_reassign += batch->size;
    for (int c = 0; c < k && !reassign; c++)
        reassign = batch->weight[c] == 0.0;
    if (*since_reassign >= 10 * (size_t)k)
        reassign = 1;
    if (reassign)
        *since_reassign = 0;
    return reassign;
}

/*
 * Mini-batch steps until max_iterations epochs, a move below tolerance
 * (scaled by the data's mean column variance), or MAX_NO_IMPROVEMENT steps
 * without a better smoothed batch inertia. *taken receives the steps taken.
 * Polls for a cancel once a step (a batch).
 */
static int minibatch_steps(Kmeans *kmeans, const float *data, size_t rows, const float *norms,
                           double mean_variance, Batch *batch, Workspace *ws, Rng *rng,
                           uint64_t *taken, Error *err)
{
    const KmeansOptions *options = &kmeans->options;
    size_t batch_size = batch->size;
    uint64_t steps = (uint64_t)options->max_iterations * rows / batch_size;
    double tolerance = options->tolerance * mean_variance;
    double alpha = 2.0 * (double)batch_size / ((double)rows + 1.0);
    double smoothed = 0.0, smoothed_best = 0.0;
    int no_improvement = 0;
    size_t since_reassign = 0;
    uint64_t step;
    int code;

    if (steps < 1)
        steps = 1;
    if (alpha > 1.0)
        alpha = 1.0;
    for (step = 0; step < steps; step++) {
        double moved = 0.0;
        if ((code = cancel_check(err)) != ERR_OK)
            return code;
        for (size_t i = 0; i < batch_size; i++)
            batch->index[i] = (size_t)rng_below(rng, rows);
        gather_rows(data, kmeans->dim, norms, batch->index, batch_size, batch->rows,
                    batch->norms);
        int reassign = reassign_due(batch, options->cluster_count, &since_reassign);
        double batch_inertia = minibatch_step(kmeans, batch, ws, &moved);
        if (reassign)
            moved += reassign_light_centers(kmeans, data, rows, batch, rng);
        distance_centers_set(&ws->centers, kmeans->centers);

        /* The first batch measures the seeding, not the updates. */
        if (step == 0)
            continue;
        batch_inertia /= (double)batch_size;
        smoothed = step == 1 ? batch_inertia : smoothed * (1.0 - alpha) + batch_inertia * alpha;
        if (tolerance > 0.0 && moved <= tolerance) {
            step++;
            break;
        }
        if (step == 1 || smoothed < smoothed_best) {
            smoothed_best = smoothed;
            no_improvement = 0;
        } else if (++no_improvement >= MAX_NO_IMPROVEMENT) {
            step++;
            break;
        }
    }
    *taken = step;
    return ERR_OK;
}

/*
 * Mini-batch refinement from the current centers, then one assignment pass
 * over all the rows; cluster_of (may be NULL) receives its labels.
 */
static int refine_minibatch(Kmeans *kmeans, const float *data, size_t rows, const float *norms,
                            double mean_variance, Rng *rng, int32_t *cluster_of, Error *err)
{
    int k = kmeans->options.cluster_count;
    size_t dim = kmeans->dim;
    size_t batch_size = (size_t)kmeans->options.batch_size < rows
                            ? (size_t)kmeans->options.batch_size
                            : rows;
    Batch batch;
    Workspace ws;
    int code;

    if ((code = batch_init(&batch, batch_size, k, dim, err)) != ERR_OK)
        return code;
    if ((code = workspace_init(&ws, k, dim, rows, 0, err)) != ERR_OK) {
        batch_release(&batch);
        return code;
    }
    memset(batch.weight, 0, (size_t)k * sizeof *batch.weight);
    memcpy(batch.means, kmeans->centers, (size_t)k * dim * sizeof *batch.means);
    trace_start(kmeans);
    distance_centers_set(&ws.centers, kmeans->centers);
    uint64_t steps = 0;
    double inertia = 0.0;
    int threads = blas_threads_single();
    code = minibatch_steps(kmeans, data, rows, norms, mean_variance, &batch, &ws, rng, &steps,
                           err);
    blas_threads_restore(threads);
    if (code != ERR_OK
        || (code = assign_pass(&ws, data, rows, norms, kmeans->centers, cluster_of, &inertia,
                               err)) != ERR_OK
        || (code = fill_empty_clusters(kmeans, data, rows, norms, &ws, &inertia, cluster_of,
                                       err)) != ERR_OK)
        goto done;
    kmeans->inertia = inertia;
    uint64_t epochs = (steps * batch_size + rows - 1) / rows;
    kmeans->iterations = epochs > INT_MAX ? INT_MAX : (int)epochs;
done:
    workspace_release(&ws);
    batch_release(&batch);
    return code;
}

/*
 * Distances of every row to `count` candidate rows, each capped by the row's
 * current closest distance: out[i * count + j] = min(closest[i], d(i, j)),
 * and potential[j] = sum over i of that (double).
 *
 * With so few columns (2 + ln k) the product is memory-bound and OpenBLAS's
 * sgemm packs badly: one sgemv per candidate over a cached tile measured
 * about 3x faster than sgemm (0.05 s against 0.16 s a pass on 300,000 x 768).
 * Polls for a cancel once a tile.
 */
static int candidate_distances(const float *data, size_t rows, size_t dim, const float *norms,
                               const float *candidates, const float *candidate_norms, int count,
                               const float *closest, float *dots, size_t tile_rows, float *out,
                               double *potential, Error *err)
{
    int code;

    for (int j = 0; j < count; j++)
        potential[j] = 0.0;
    for (size_t start = 0; start < rows; start += tile_rows) {
        size_t n = rows - start < tile_rows ? rows - start : tile_rows;
        if ((code = cancel_check(err)) != ERR_OK)
            return code;
        for (int j = 0; j < count; j++)
            blas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)dim, -2.0f, data + start * dim,
                       (int)dim, candidates + (size_t)j * dim, 1, 0.0f, dots + (size_t)j * n, 1);
        for (size_t i = 0; i < n; i++) {
            size_t row = start + i;
            for (int j = 0; j < count; j++) {
                float d = norms[row] + dots[(size_t)j * n + i] + candidate_norms[j];
                if (!(d > 0.0f))
                    d = 0.0f;
                if (closest != NULL && closest[row] < d)
                    d = closest[row];
                out[row * (size_t)count + j] = d;
                potential[j] += d;
            }
        }
    }
    return ERR_OK;
}

static int compare_double(const void *left, const void *right)
{
    double a = *(const double *)left, b = *(const double *)right;
    return (a > b) - (a < b);
}

/*
 * Draws `trials` candidate rows with probability proportional to closest[]
 * (total is their sum) into candidate_row; targets is scratch of trials
 * doubles.
 */
static void draw_candidates(const float *closest, size_t rows, double total, int trials,
                            Rng *rng, double *targets, size_t *candidate_row)
{
    if (!(total > 0.0)) {
        /* Fewer distinct rows than clusters: any row, the duplicates are empty later. */
        for (int j = 0; j < trials; j++)
            candidate_row[j] = (size_t)rng_below(rng, rows);
        return;
    }
    /* Sorted targets, then one scan of the running sum finds them all. */
    for (int j = 0; j < trials; j++)
        targets[j] = rng_uniform(rng) * total;
    qsort(targets, (size_t)trials, sizeof *targets, compare_double);
    double running = 0.0;
    size_t last_positive = 0;
    int found = 0;
    for (size_t i = 0; i < rows && found < trials; i++) {
        if (closest[i] <= 0.0f)
            continue;
        last_positive = i;
        running += closest[i];
        while (found < trials && running > targets[found])
            candidate_row[found++] = i;
    }
    /* Rounding can leave a target at the very end of the sum: the last row that counts. */
    while (found < trials)
        candidate_row[found++] = last_positive;
}

/*
 * Greedy k-means++ (as scikit-learn's _kmeans_plusplus): the first center
 * uniformly, then for each next one 2 + ln(k) candidates drawn with
 * probability proportional to the squared distance to the nearest chosen
 * center, keeping the candidate that lowers the total most. One pass of
 * BLAS over the rows per center: O(N k D) in all. Beyond the rows it keeps
 * N closest distances and the N x (2 + ln k) candidate distances of the
 * current round (6 MB for N = 300,000, k = 50), so that the winner's column
 * need not be computed again.
 */
static int seed_plus_plus(Kmeans *kmeans, const float *data, size_t rows, const float *norms,
                          Rng *rng, Error *err)
{
    int k = kmeans->options.cluster_count;
    size_t dim = kmeans->dim;
    int trials = 2 + (int)log((double)k);
    size_t tile_rows = distance_tile_rows(dim, (size_t)trials);
    float *closest = NULL, *distances = NULL, *dots = NULL, *candidates = NULL;
    float *candidate_norms = NULL;
    size_t *candidate_row = NULL;
    double *targets = NULL, *potential = NULL;
    double total;
    int code = ERR_OK;

    if ((closest = alloc_array(rows, sizeof(float), err)) == NULL
        || (distances = alloc_array(rows * (size_t)trials, sizeof(float), err)) == NULL
        || (dots = alloc_array(tile_rows * (size_t)trials, sizeof(float), err)) == NULL
        || (candidates = alloc_array((size_t)trials * dim, sizeof(float), err)) == NULL
        || (candidate_norms = alloc_array((size_t)trials, sizeof(float), err)) == NULL
        || (candidate_row = alloc_array((size_t)trials, sizeof(size_t), err)) == NULL
        || (targets = alloc_array((size_t)trials, sizeof(double), err)) == NULL
        || (potential = alloc_array((size_t)trials, sizeof(double), err)) == NULL) {
        code = ERR_INTERNAL;
        goto done;
    }

    size_t first = (size_t)rng_below(rng, rows);
    memcpy(kmeans->centers, data + first * dim, dim * sizeof(float));
    candidate_norms[0] = norms[first];
    if ((code = candidate_distances(data, rows, dim, norms, kmeans->centers, candidate_norms, 1,
                                    NULL, dots, tile_rows, closest, &total, err)) != ERR_OK)
        goto done;

    for (int c = 1; c < k; c++) {
        draw_candidates(closest, rows, total, trials, rng, targets, candidate_row);
        for (int j = 0; j < trials; j++) {
            memcpy(candidates + (size_t)j * dim, data + candidate_row[j] * dim,
                   dim * sizeof(float));
            candidate_norms[j] = norms[candidate_row[j]];
        }
        if ((code = candidate_distances(data, rows, dim, norms, candidates, candidate_norms,
                                        trials, closest, dots, tile_rows, distances, potential,
                                        err)) != ERR_OK)
            goto done;
        int best = 0;
        for (int j = 1; j < trials; j++)
            if (potential[j] < potential[best])
                best = j;
        for (size_t i = 0; i < rows; i++)
            closest[i] = distances[i * (size_t)trials + best];
        total = potential[best];
        memcpy(kmeans->centers + (size_t)c * dim, candidates + (size_t)best * dim,
               dim * sizeof(float));
    }
    /* closest[] now holds each row's distance to its nearest chosen center. */
    kmeans->seed_inertia = total;
    kmeans->seeded = 1;

done:
    free(closest);
    free(distances);
    free(dots);
    free(candidates);
    free(candidate_norms);
    free(candidate_row);
    free(targets);
    free(potential);
    return code;
}

static int check_rows(const Kmeans *kmeans, const float *data, size_t rows, Error *err)
{
    if (rows < (size_t)kmeans->options.cluster_count)
        return error_set(err, ERR_DATA, "cannot make %d clusters from %zu rows",
                         kmeans->options.cluster_count, rows);
    if (data == NULL)
        return error_set(err, ERR_INTERNAL, "k-means was given no data");
    return ERR_OK;
}

static int check_options(const KmeansOptions *options, size_t dim, Error *err)
{
    if (options->algorithm != KMEANS_MINIBATCH && options->algorithm != KMEANS_LLOYD)
        return error_set(err, ERR_CONFIG, "unknown k-means algorithm %d", (int)options->algorithm);
    if (options->metric != KMEANS_COSINE && options->metric != KMEANS_EUCLIDEAN)
        return error_set(err, ERR_CONFIG, "unknown k-means metric %d", (int)options->metric);
    if (options->cluster_count < 1)
        return error_set(err, ERR_CONFIG, "k-means needs at least 1 cluster, not %d",
                         options->cluster_count);
    if (options->max_iterations < 1)
        return error_set(err, ERR_CONFIG, "k-means needs at least 1 iteration, not %d",
                         options->max_iterations);
    if (options->restarts < 1)
        return error_set(err, ERR_CONFIG, "k-means needs at least 1 restart, not %d",
                         options->restarts);
    if (options->algorithm == KMEANS_MINIBATCH && options->batch_size < 1)
        return error_set(err, ERR_CONFIG, "k-means batch size must be at least 1, not %d",
                         options->batch_size);
    if (!(options->tolerance >= 0.0) || !isfinite(options->tolerance))
        return error_set(err, ERR_CONFIG, "k-means tolerance must be a finite number >= 0, not %g",
                         options->tolerance);
    if (dim < 1 || dim > INT_MAX)
        return error_set(err, ERR_CONFIG, "k-means cannot cluster rows of %zu dimensions", dim);
    if ((size_t)options->cluster_count > SIZE_MAX / sizeof(double) / dim)
        return error_set(err, ERR_CONFIG, "k-means centers of %d x %zu floats are too large",
                         options->cluster_count, dim);
    return ERR_OK;
}

/*
 * OpenBLAS (0.3.21) maps a work buffer of 128 MiB of address space for a
 * thread at its first sgemm and, when that mmap fails, retries forever
 * (blas_memory_alloc): out of memory (ulimit -v, RLIMIT_AS) a run would spin
 * instead of failing. So before the first sgemm of the process, check that
 * the room is there (with some margin) and have OpenBLAS take its buffer at
 * once, with a small product; it keeps the buffer for every later call.
 */
#define BLAS_BUFFER_ROOM ((size_t)160 << 20)
#define BLAS_WARMUP_SIZE 256 /* above OpenBLAS's small-matrix path, which needs no buffer */

/* kmeans_set_threads' count, applied by blas_ready: 0 while none was asked. */
static int blas_threads_wanted = 0;
static bool blas_started = false;

/*
 * Under an address-space limit (ulimit -v) a pool thread that cannot
 * allocate leaves OpenBLAS waiting for it forever, and the data read since
 * the count was asked for may have taken the room: the pool grows only when
 * there is room now (a mapping released at once) for every thread's work
 * buffer (blas_ready's warm-up has each take one), else k-means stays on
 * one thread, slower but unable to hang.
 */
static void blas_apply_threads(void)
{
    if (blas_threads_wanted == 0)
        return;
    int threads = blas_threads_wanted >= 1 ? blas_threads_wanted : blas_get_num_procs();
    if (threads > 1) {
        size_t bytes = (size_t)threads * BLAS_BUFFER_ROOM;
        void *room = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (room == MAP_FAILED)
            return;
        munmap(room, bytes);
    }
    blas_set_num_threads(threads);
}

static int blas_ready(Error *err)
{
    static bool ready = false;
    if (ready)
        return ERR_OK;
    int code = blas_load(err);
    if (code != ERR_OK)
        return code;
    /* The pool starts here, at the first k-means of the process, not when the
     * count is set: an idle pool thread busy-waits in sched_yield for its
     * first ~0.1 s, CPU the read beside the server's backend needs. */
    blas_started = true;
    blas_apply_threads();
    void *room = mmap(NULL, BLAS_BUFFER_ROOM, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
    if (room == MAP_FAILED)
        return error_set(err, ERR_INTERNAL,
                         "out of memory: no room for OpenBLAS's work buffer (%zu MiB of address "
                         "space)\nHINT: raise the memory limit, or set resources.memory_limit so "
                         "that k-means fits a sample",
                         BLAS_BUFFER_ROOM >> 20);
    munmap(room, BLAS_BUFFER_ROOM);
    size_t cells = (size_t)BLAS_WARMUP_SIZE * BLAS_WARMUP_SIZE;
    float *matrices = calloc(2 * cells, sizeof *matrices);
    if (matrices == NULL)
        return error_nomem(err, 2 * cells * sizeof *matrices);
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, BLAS_WARMUP_SIZE, BLAS_WARMUP_SIZE,
               BLAS_WARMUP_SIZE, 1.0f, matrices, BLAS_WARMUP_SIZE, matrices, BLAS_WARMUP_SIZE, 0.0f,
               matrices + cells, BLAS_WARMUP_SIZE);
    free(matrices);
    ready = true;
    return ERR_OK;
}

int kmeans_new(const KmeansOptions *options, size_t dim, Kmeans **out, Error *err)
{
    Kmeans *kmeans = NULL;
    int code;

    *out = NULL;
    if ((code = check_options(options, dim, err)) != ERR_OK)
        return code;
    if ((code = blas_ready(err)) != ERR_OK)
        return code;
    if ((kmeans = calloc(1, sizeof *kmeans)) == NULL)
        return error_nomem(err, sizeof *kmeans);
    kmeans->options = *options;
    kmeans->dim = dim;
    size_t size = (size_t)options->cluster_count * dim;
    if ((kmeans->centers = calloc(size, sizeof(float))) == NULL
        || (kmeans->spare_centers = calloc(size, sizeof(float))) == NULL) {
        kmeans_free(kmeans);
        return error_nomem(err, size * sizeof(float));
    }
    *out = kmeans;
    return ERR_OK;
}

int kmeans_new_from_centers(const KmeansOptions *options, size_t dim, const float *centers,
                            Kmeans **out, Error *err)
{
    int code = kmeans_new(options, dim, out, err);
    if (code != ERR_OK)
        return code;
    memcpy((*out)->centers, centers, (size_t)options->cluster_count * dim * sizeof(float));
    (*out)->seeded = 1;
    return ERR_OK;
}

void kmeans_free(Kmeans *kmeans)
{
    if (kmeans == NULL)
        return;
    free(kmeans->centers);
    free(kmeans->spare_centers);
    free(kmeans);
}

/*
 * The norm is summed in double, in four partial sums, and each row is scaled
 * by one reciprocal: a division per element made this pass 10% of a
 * 300,000 x 768 categorize stage (perf). The results differ from a
 * sequential sum and per-element division only in the last bits of the
 * double, below float rounding.
 */
void kmeans_normalize_rows(float *data, size_t rows, size_t dim)
{
    for (size_t i = 0; i < rows; i++) {
        float *row = data + i * dim;
        double partial[4] = {0.0, 0.0, 0.0, 0.0};
        size_t d = 0;
        for (; d + 4 <= dim; d += 4)
            for (int lane = 0; lane < 4; lane++)
                partial[lane] += (double)row[d + lane] * row[d + lane];
        for (; d < dim; d++)
            partial[0] += (double)row[d] * row[d];
        double norm = (partial[0] + partial[1]) + (partial[2] + partial[3]);
        if (!(norm > 0.0) || !isfinite(norm))
            continue;
        double scale = 1.0 / sqrt(norm);
        for (d = 0; d < dim; d++)
            row[d] = (float)(row[d] * scale);
    }
}

int kmeans_seed_plus_plus(Kmeans *kmeans, const float *data, size_t rows, Rng *rng, Error *err)
{
    float *norms = NULL;
    int code;

    if ((code = check_rows(kmeans, data, rows, err)) != ERR_OK)
        return code;
    if ((norms = alloc_array(rows, sizeof *norms, err)) == NULL)
        return ERR_INTERNAL;
    if ((code = distance_row_norms(data, rows, kmeans->dim, norms, err)) != ERR_OK)
        goto done;
    code = seed_plus_plus(kmeans, data, rows, norms, rng, err);
done:
    free(norms);
    return code;
}

static int refine(Kmeans *kmeans, const float *data, size_t rows, const float *norms,
                  double mean_variance, Rng *rng, Error *err)
{
    if (kmeans->options.algorithm == KMEANS_LLOYD)
        return refine_lloyd(kmeans, data, rows, norms, NULL, err);
    return refine_minibatch(kmeans, data, rows, norms, mean_variance, rng, NULL, err);
}

int kmeans_refine(Kmeans *kmeans, const float *data, size_t rows, Rng *rng, Error *err)
{
    float *norms = NULL;
    double mean_variance = 0.0;
    int code;

    if ((code = check_rows(kmeans, data, rows, err)) != ERR_OK)
        return code;
    if (!kmeans->seeded)
        return error_set(err, ERR_INTERNAL, "k-means centers refined before they were seeded");
    if ((norms = alloc_array(rows, sizeof *norms, err)) == NULL)
        return ERR_INTERNAL;
    if ((code = distance_row_norms(data, rows, kmeans->dim, norms, err)) != ERR_OK)
        goto done;
    if (kmeans->options.algorithm == KMEANS_MINIBATCH
        && (code = mean_column_variance(data, rows, kmeans->dim, norms, &mean_variance, err))
               != ERR_OK)
        goto done;
    code = refine(kmeans, data, rows, norms, mean_variance, rng, err);
done:
    free(norms);
    return code;
}

/*
 * Indices of `count` distinct rows among `rows`, in increasing order, each
 * subset equally likely (Knuth's selection sampling: one pass, no extra memory).
 */
static void sample_rows(Rng *rng, size_t rows, size_t count, size_t *out)
{
    size_t taken = 0;
    for (size_t i = 0; i < rows && taken < count; i++)
        if ((double)(rows - i) * rng_uniform(rng) < (double)(count - taken))
            out[taken++] = i;
}

/* Makes the spare buffer hold the current centers (and the current buffer the old spare). */
static void keep_centers(Kmeans *kmeans)
{
    float *swap = kmeans->spare_centers;
    kmeans->spare_centers = kmeans->centers;
    kmeans->centers = swap;
}

/*
 * Split-and-merge moves (after Lloyd has converged on a set of rows).
 *
 * k-means++ can put two seeds in one group and none in another; Lloyd then
 * converges with one group split between two centers and two groups merged
 * under one, a local optimum no Lloyd step leaves. A move takes the cluster
 * whose split into two would lower the inertia most and the pair of clusters
 * whose merge would raise it least; when the split gains more than the
 * merge costs, the pair becomes one center, the split cluster two, Lloyd
 * converges again, and the move is kept only when the inertia fell. Moves
 * repeat until one is not worth it or not kept (at most SPLIT_MERGE_MOVES).
 *
 * The costs are those of the metric: Euclidean, a cluster of n rows with sum
 * S costs sum |x|^2 - |S|^2 / n, so a merge of a and b costs
 * n_a n_b / (n_a + n_b) |S_a / n_a - S_b / n_b|^2; cosine (unit rows, unit
 * centers), a cluster costs 2n - 2|S|, so a merge costs
 * 2 (|S_a| + |S_b| - |S_a + S_b|). A split's gain is measured by 2-means on
 * up to SPLIT_SAMPLE of the cluster's rows, scaled to its size.
 */
#define SPLIT_MERGE_MOVES 16
#define SPLIT_SAMPLE 256
#define SPLIT_ITERATIONS 8
#define MERGE_BLOCK_CELLS ((size_t)1 << 20) /* doubles of one block of center products */

typedef struct SplitMerge {
    int k;
    size_t dim;
    int32_t *labels;      /* rows: labels of the current centers */
    int32_t *saved_labels; /* rows: labels before a move */
    float *saved_centers; /* k x dim: centers before a move */
    size_t *order;        /* rows: row indices grouped by cluster */
    size_t *start;        /* k + 1: where each cluster's rows begin in order */
    size_t *sample;       /* SPLIT_SAMPLE: rows of one cluster taken for its split */
    double *sums;         /* k x dim: per-cluster sums (cosine) or means (Euclidean) */
    double *lengths;      /* k: |sums row|^2 */
    double *block;        /* products of a block of rows of sums with all of them */
    size_t block_rows;
    float *halves;        /* 2 x 2 x dim: the best split's two halves, then scratch */
    double *half_sums;    /* 2 x dim */
    float *split_rows;    /* SPLIT_SAMPLE x dim: the rows of one split, gathered for BLAS */
    float *split_norms;   /* SPLIT_SAMPLE: their squared norms */
    float *split_dots;    /* 2 x SPLIT_SAMPLE: their products with one or two centers */
    float *split_sides;   /* 2 x SPLIT_SAMPLE: 1 where a row is on that side, else 0 */
    float *split_sums;    /* 2 x dim: the sums of the rows of each side */
} SplitMerge;

static void split_merge_release(SplitMerge *sm)
{
    free(sm->labels);
    free(sm->saved_labels);
    free(sm->saved_centers);
    free(sm->order);
    free(sm->start);
    free(sm->sample);
    free(sm->sums);
    free(sm->lengths);
    free(sm->block);
    free(sm->halves);
    free(sm->half_sums);
    free(sm->split_rows);
    free(sm->split_norms);
    free(sm->split_dots);
    free(sm->split_sides);
    free(sm->split_sums);
    memset(sm, 0, sizeof *sm);
}

static int split_merge_init(SplitMerge *sm, int k, size_t dim, size_t rows, Error *err)
{
    size_t clusters = (size_t)k;
    memset(sm, 0, sizeof *sm);
    sm->k = k;
    sm->dim = dim;
    sm->block_rows = MERGE_BLOCK_CELLS / clusters;
    if (sm->block_rows < 1)
        sm->block_rows = 1;
    if (sm->block_rows > clusters)
        sm->block_rows = clusters;
    if ((sm->labels = alloc_array(rows, sizeof(int32_t), err)) == NULL
        || (sm->saved_labels = alloc_array(rows, sizeof(int32_t), err)) == NULL
        || (sm->saved_centers = alloc_array(clusters * dim, sizeof(float), err)) == NULL
        || (sm->order = alloc_array(rows, sizeof(size_t), err)) == NULL
        || (sm->start = alloc_array(clusters + 1, sizeof(size_t), err)) == NULL
        || (sm->sample = alloc_array(SPLIT_SAMPLE, sizeof(size_t), err)) == NULL
        || (sm->sums = alloc_array(clusters * dim, sizeof(double), err)) == NULL
        || (sm->lengths = alloc_array(clusters, sizeof(double), err)) == NULL
        || (sm->block = alloc_array(sm->block_rows * clusters, sizeof(double), err)) == NULL
        || (sm->halves = alloc_array(4 * dim, sizeof(float), err)) == NULL
        || (sm->half_sums = alloc_array(2 * dim, sizeof(double), err)) == NULL
        || (sm->split_rows = alloc_array((size_t)SPLIT_SAMPLE * dim, sizeof(float), err)) == NULL
        || (sm->split_norms = alloc_array(SPLIT_SAMPLE, sizeof(float), err)) == NULL
        || (sm->split_dots = alloc_array(2 * SPLIT_SAMPLE, sizeof(float), err)) == NULL
        || (sm->split_sides = alloc_array(2 * SPLIT_SAMPLE, sizeof(float), err)) == NULL
        || (sm->split_sums = alloc_array(2 * dim, sizeof(float), err)) == NULL) {
        split_merge_release(sm);
        return ERR_INTERNAL;
    }
    return ERR_OK;
}

/*
 * Groups the row indices by cluster (counting sort) and sums each cluster's
 * rows. Polls for a cancel every CANCEL_POLL_STEPS rows.
 */
static int group_rows(SplitMerge *sm, const float *data, size_t rows, Error *err)
{
    int k = sm->k;
    size_t dim = sm->dim;
    int code;

    memset(sm->start, 0, ((size_t)k + 1) * sizeof *sm->start);
    for (size_t i = 0; i < rows; i++)
        sm->start[sm->labels[i] + 1]++;
    for (int c = 0; c < k; c++)
        sm->start[c + 1] += sm->start[c];
    memset(sm->sums, 0, (size_t)k * dim * sizeof *sm->sums);
    for (size_t i = 0; i < rows; i++) {
        int32_t c = sm->labels[i];
        if (i % CANCEL_POLL_STEPS == 0 && (code = cancel_check(err)) != ERR_OK)
            return code;
        sm->order[sm->start[c]++] = i;
        const float *row = data + i * dim;
        double *sum = sm->sums + (size_t)c * dim;
        for (size_t d = 0; d < dim; d++)
            sum[d] += row[d];
    }
    for (int c = k; c > 0; c--)
        sm->start[c] = sm->start[c - 1];
    sm->start[0] = 0;
    return ERR_OK;
}

/* The center of rows summing to `sum` (count of them) under the metric, into out. */
static void center_of_sum(const double *sum, size_t count, KmeansMetric metric, size_t dim,
                          float *out)
{
    double scale = count > 0 ? 1.0 / (double)count : 0.0;
    if (metric == KMEANS_COSINE) {
        double norm = 0.0;
        for (size_t d = 0; d < dim; d++)
            norm += sum[d] * sum[d];
        scale = norm > 0.0 ? 1.0 / sqrt(norm) : 0.0;
    }
    for (size_t d = 0; d < dim; d++)
        out[d] = (float)(sum[d] * scale);
}

/* |x|^2 + |c|^2 - 2 x.c from its parts, clamped at 0 where rounding makes it negative. */
static float squared_distance(float row_norm, float center_norm, float dot)
{
    float d = row_norm + center_norm - 2.0f * dot;
    return d > 0.0f ? d : 0.0f;
}

/*
 * Row (of the `count` in sm->split_rows) farthest from `point`; *total
 * (may be NULL) receives the sum of the squared distances. The products
 * come from one sgemv.
 */
static size_t farthest_row(SplitMerge *sm, size_t count, const float *point, double *total)
{
    size_t dim = sm->dim, far = 0;
    float point_norm = distance_squared_norm(point, dim), farthest = -1.0f;
    double sum = 0.0;

    blas_sgemv(CblasRowMajor, CblasNoTrans, (int)count, (int)dim, 1.0f, sm->split_rows,
               (int)dim, point, 1, 0.0f, sm->split_dots, 1);
    for (size_t i = 0; i < count; i++) {
        float d = squared_distance(sm->split_norms[i], point_norm, sm->split_dots[i]);
        sum += d;
        if (d > farthest) {
            farthest = d;
            far = i;
        }
    }
    if (total != NULL)
        *total = sum;
    return far;
}

/*
 * Assigns the `count` rows of sm->split_rows to the nearer of the two
 * halves (the first on ties), marking sm->split_sides and counting each
 * side in counts; returns the inertia. The products come from one sgemm.
 */
static double split_assign(SplitMerge *sm, size_t count, const float *halves, size_t counts[2])
{
    size_t dim = sm->dim;
    float norm[2] = {distance_squared_norm(halves, dim), distance_squared_norm(halves + dim, dim)};
    float *side = sm->split_sides;
    double inertia = 0.0;

    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)count, 2, (int)dim, 1.0f,
               sm->split_rows, (int)dim, halves, (int)dim, 0.0f, sm->split_dots, 2);
    counts[0] = counts[1] = 0;
    for (size_t i = 0; i < count; i++) {
        float to_first = squared_distance(sm->split_norms[i], norm[0], sm->split_dots[2 * i]);
        float to_second = squared_distance(sm->split_norms[i], norm[1], sm->split_dots[2 * i + 1]);
        int second = to_second < to_first;
        inertia += second ? to_second : to_first;
        counts[second]++;
        side[i] = second ? 0.0f : 1.0f;
        side[SPLIT_SAMPLE + i] = second ? 1.0f : 0.0f;
    }
    return inertia;
}

/*
 * 2-means on `count` rows (indices in rows_at) from two far-apart rows: the
 * row farthest from the cluster's center, then the row farthest from that.
 * Writes the two centers to halves and returns the inertia the split saves
 * on these rows against `center`.
 *
 * The rows are gathered once into sm->split_rows, so that every distance
 * pass is one BLAS call in float: a scalar double loop over the rows made
 * the moves 80% of a mini-batch fit's seeding stage (perf, 300,000 x 768,
 * k = 50). The gain only ranks the clusters and is weighed against a
 * merge's cost; a move is kept only when Lloyd's inertia falls after it.
 */
static double split_gain(SplitMerge *sm, const float *data, KmeansMetric metric,
                         const size_t *rows_at, size_t count, const float *center, float *halves)
{
    size_t dim = sm->dim;
    float *first = halves, *second = halves + dim;
    double before = 0.0, after = 0.0;
    size_t counts[2];

    for (size_t i = 0; i < count; i++) {
        float *row = sm->split_rows + i * dim;
        memcpy(row, data + rows_at[i] * dim, dim * sizeof *row);
        sm->split_norms[i] = distance_squared_norm(row, dim);
    }
    size_t first_row = farthest_row(sm, count, center, &before);
    memcpy(first, sm->split_rows + first_row * dim, dim * sizeof *first);
    size_t second_row = farthest_row(sm, count, first, NULL);
    memcpy(second, sm->split_rows + second_row * dim, dim * sizeof *second);
    for (int iteration = 0; iteration < SPLIT_ITERATIONS; iteration++) {
        split_assign(sm, count, halves, counts);
        if (counts[0] == 0 || counts[1] == 0)
            return 0.0;
        /* Both sides' sums at once: (2 x count) 0/1 weights times the rows. */
        blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, (int)dim, (int)count, 1.0f,
                   sm->split_sides, SPLIT_SAMPLE, sm->split_rows, (int)dim, 0.0f, sm->split_sums,
                   (int)dim);
        for (size_t d = 0; d < 2 * dim; d++)
            sm->half_sums[d] = sm->split_sums[d];
        center_of_sum(sm->half_sums, counts[0], metric, dim, first);
        center_of_sum(sm->half_sums + dim, counts[1], metric, dim, second);
    }
    /* The inertia against the final halves (the loop's is against the previous ones). */
    after = split_assign(sm, count, halves, counts);
    return before > after ? before - after : 0.0;
}

/*
 * The cluster whose split gains most into *best (its estimated gain in
 * *gain; -1 when no cluster has 2 rows), with its two halves in
 * sm->halves. Polls for a cancel once a cluster.
 */
static int best_split(SplitMerge *sm, const Kmeans *kmeans, const float *data, Rng *rng,
                      int *best, double *gain, Error *err)
{
    size_t dim = sm->dim;
    float *scratch = sm->halves + 2 * dim;
    int code;

    *best = -1;
    *gain = 0.0;
    for (int c = 0; c < sm->k; c++) {
        size_t first = sm->start[c], count = sm->start[c + 1] - first;
        const size_t *rows_at = sm->order + first;
        if (count < 2)
            continue;
        if ((code = cancel_check(err)) != ERR_OK)
            return code;
        size_t taken = count;
        if (count > SPLIT_SAMPLE) {
            /* Knuth's selection sampling: SPLIT_SAMPLE rows, in order. */
            taken = 0;
            for (size_t i = 0; i < count && taken < SPLIT_SAMPLE; i++)
                if ((double)(count - i) * rng_uniform(rng) < (double)(SPLIT_SAMPLE - taken))
                    sm->sample[taken++] = rows_at[i];
            rows_at = sm->sample;
        }
        double here = split_gain(sm, data, kmeans->options.metric, rows_at, taken,
                                 kmeans->centers + (size_t)c * dim, scratch)
                      * (double)count / (double)taken;
        if (*best < 0 || here > *gain) {
            *best = c;
            *gain = here;
            memcpy(sm->halves, scratch, 2 * dim * sizeof *scratch);
        }
    }
    return ERR_OK;
}

/*
 * The pair (a, b), neither of them `skip`, whose merge raises the inertia
 * least, and that cost (*cost). sm->sums holds per-cluster sums; they are
 * turned into means for Euclidean. The products come from dgemm a block of
 * clusters at a time, so memory stays bounded for any k; a cancel is
 * polled once a block.
 */
static int cheapest_merge(SplitMerge *sm, KmeansMetric metric, int skip, int *out_a, int *out_b,
                          double *cost_out, Error *err)
{
    int k = sm->k;
    size_t dim = sm->dim;
    double best = INFINITY;
    int code;

    if (metric == KMEANS_EUCLIDEAN)
        for (int c = 0; c < k; c++) {
            size_t count = sm->start[c + 1] - sm->start[c];
            double scale = count > 0 ? 1.0 / (double)count : 0.0;
            double *sum = sm->sums + (size_t)c * dim;
            for (size_t d = 0; d < dim; d++)
                sum[d] *= scale;
        }
    for (int c = 0; c < k; c++) {
        const double *v = sm->sums + (size_t)c * dim;
        double length = 0.0;
        for (size_t d = 0; d < dim; d++)
            length += v[d] * v[d];
        sm->lengths[c] = length;
    }
    *out_a = *out_b = -1;
    for (int from = 0; from < k; from += (int)sm->block_rows) {
        int block = k - from < (int)sm->block_rows ? k - from : (int)sm->block_rows;
        if ((code = cancel_check(err)) != ERR_OK)
            return code;
        blas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, block, k, (int)dim, 1.0,
                   sm->sums + (size_t)from * dim, (int)dim, sm->sums, (int)dim, 0.0, sm->block,
                   k);
        for (int i = 0; i < block; i++) {
            int a = from + i;
            double n_a = (double)(sm->start[a + 1] - sm->start[a]);
            if (a == skip || n_a == 0.0)
                continue;
            for (int b = a + 1; b < k; b++) {
                double n_b = (double)(sm->start[b + 1] - sm->start[b]);
                if (b == skip || n_b == 0.0)
                    continue;
                double product = sm->block[(size_t)i * (size_t)k + (size_t)b];
                double cost;
                if (metric == KMEANS_EUCLIDEAN) {
                    double apart = sm->lengths[a] + sm->lengths[b] - 2.0 * product;
                    cost = n_a * n_b / (n_a + n_b) * (apart > 0.0 ? apart : 0.0);
                } else {
                    double joint = sm->lengths[a] + sm->lengths[b] + 2.0 * product;
                    cost = 2.0 * (sqrt(sm->lengths[a]) + sqrt(sm->lengths[b])
                                  - sqrt(joint > 0.0 ? joint : 0.0));
                }
                if (cost < best) {
                    best = cost;
                    *out_a = a;
                    *out_b = b;
                }
            }
        }
    }
    *cost_out = best;
    return ERR_OK;
}

/*
 * Split-and-merge moves from converged Lloyd centers on these rows, whose
 * labels are in sm->labels and inertia in kmeans->inertia. Each kept move's
 * Lloyd updates are added to *updates. On return the centers, inertia and
 * sm->labels describe the kept state.
 */
static int split_merge(Kmeans *kmeans, SplitMerge *sm, const float *data, size_t rows,
                       const float *norms, Rng *rng, int *updates, Error *err)
{
    int k = kmeans->options.cluster_count;
    size_t dim = kmeans->dim;
    KmeansMetric metric = kmeans->options.metric;
    KmeansTrace *trace = kmeans->trace;
    int code = ERR_OK;

    if (k < 3)
        return ERR_OK;
    kmeans->trace = NULL; /* the trace describes the first refinement of a fit */
    for (int move = 0; move < SPLIT_MERGE_MOVES; move++) {
        double gain, cost;
        int split, a, b;
        if ((code = group_rows(sm, data, rows, err)) != ERR_OK
            || (code = best_split(sm, kmeans, data, rng, &split, &gain, err)) != ERR_OK)
            break;
        if (split < 0)
            break;
        if ((code = cheapest_merge(sm, metric, split, &a, &b, &cost, err)) != ERR_OK)
            break;
        if (a < 0 || !(gain > cost))
            break;

        double inertia = kmeans->inertia;
        int iterations = kmeans->iterations;
        memcpy(sm->saved_centers, kmeans->centers, (size_t)k * dim * sizeof *sm->saved_centers);
        memcpy(sm->saved_labels, sm->labels, rows * sizeof *sm->labels);
        /* sums were turned into means for Euclidean: weight them back by the counts. */
        double n_a = (double)(sm->start[a + 1] - sm->start[a]);
        double n_b = (double)(sm->start[b + 1] - sm->start[b]);
        double *merged = sm->half_sums;
        for (size_t d = 0; d < dim; d++) {
            double x = sm->sums[(size_t)a * dim + d], y = sm->sums[(size_t)b * dim + d];
            merged[d] = metric == KMEANS_EUCLIDEAN ? x * n_a + y * n_b : x + y;
        }
        center_of_sum(merged, (size_t)(n_a + n_b), metric, dim,
                      kmeans->centers + (size_t)a * dim);
        memcpy(kmeans->centers + (size_t)b * dim, sm->halves, dim * sizeof(float));
        memcpy(kmeans->centers + (size_t)split * dim, sm->halves + dim, dim * sizeof(float));
        if ((code = refine_lloyd(kmeans, data, rows, norms, sm->labels, err)) != ERR_OK)
            break;
        if (kmeans->inertia < inertia) {
            *updates += kmeans->iterations;
            continue;
        }
        memcpy(kmeans->centers, sm->saved_centers, (size_t)k * dim * sizeof *kmeans->centers);
        memcpy(sm->labels, sm->saved_labels, rows * sizeof *sm->labels);
        kmeans->inertia = inertia;
        kmeans->iterations = iterations;
        break;
    }
    kmeans->trace = trace;
    return code;
}

/*
 * A Lloyd fit of the current (seeded) centers on these rows followed by
 * split-and-merge moves. kmeans->iterations counts every kept Lloyd update.
 */
static int lloyd_and_moves(Kmeans *kmeans, SplitMerge *sm, const float *data, size_t rows,
                           const float *norms, Rng *rng, Error *err)
{
    int code = refine_lloyd(kmeans, data, rows, norms, sm->labels, err);
    int updates = kmeans->iterations;
    if (code == ERR_OK)
        code = split_merge(kmeans, sm, data, rows, norms, rng, &updates, err);
    kmeans->iterations = updates;
    return code;
}

/*
 * Lloyd's restarts, as scikit-learn's KMeans: each restart seeds on all the
 * rows, refines, and makes split-and-merge moves; the fit with the lowest
 * inertia is kept. cluster_of (may be NULL) receives the labels of the kept
 * fit's last assignment.
 */
static int fit_lloyd(Kmeans *kmeans, const float *data, size_t rows, const float *norms, Rng *rng,
                     int32_t *cluster_of, Error *err)
{
    double best_inertia = 0.0, best_seed_inertia = 0.0;
    int best_iterations = 0;
    SplitMerge sm;
    int code;

    if ((code = split_merge_init(&sm, kmeans->options.cluster_count, kmeans->dim, rows, err))
        != ERR_OK)
        return code;
    for (int restart = 0; restart < kmeans->options.restarts; restart++) {
        if ((code = seed_plus_plus(kmeans, data, rows, norms, rng, err)) != ERR_OK
            || (code = lloyd_and_moves(kmeans, &sm, data, rows, norms, rng, err)) != ERR_OK)
            goto done;
        if (restart == 0 || kmeans->inertia < best_inertia) {
            keep_centers(kmeans);
            best_inertia = kmeans->inertia;
            best_iterations = kmeans->iterations;
            best_seed_inertia = kmeans->seed_inertia;
            if (cluster_of != NULL)
                memcpy(cluster_of, sm.labels, rows * sizeof *cluster_of);
        }
    }
    keep_centers(kmeans);
    kmeans->inertia = best_inertia;
    kmeans->iterations = best_iterations;
    kmeans->seed_inertia = best_seed_inertia;
done:
    split_merge_release(&sm);
    return code;
}

/*
 * Mini-batch restarts: `restarts` k-means++ seedings of one random
 * subsample of init_size rows (scikit-learn's init_size), each refined on
 * that subsample by Lloyd and split-and-merge moves and scored by its
 * inertia there; the best is refined once by mini-batch steps on all the
 * rows. On the subsample the moves cost little, and they settle which
 * groups get a center before the mini-batch steps, which move centers
 * within their groups but rarely from one group to another.
 */
static int fit_minibatch(Kmeans *kmeans, const float *data, size_t rows, const float *norms,
                         Rng *rng, int32_t *cluster_of, Error *err)
{
    const KmeansOptions *options = &kmeans->options;
    size_t dim = kmeans->dim;
    const float *seed_rows = data, *seed_norms = norms;
    float *subset = NULL, *subset_norms = NULL;
    size_t *subset_rows = NULL;
    double mean_variance = 0.0, best_seed_inertia = 0.0;
    SplitMerge sm;
    int code;

    memset(&sm, 0, sizeof sm);
    /* scikit-learn's init_size: seeding on all rows would cost k passes over them. */
    size_t subset_count = 3 * (size_t)options->batch_size;
    if (subset_count < 3 * (size_t)options->cluster_count)
        subset_count = 3 * (size_t)options->cluster_count;
    if (subset_count > rows)
        subset_count = rows;
    if ((code = mean_column_variance(data, rows, dim, norms, &mean_variance, err)) != ERR_OK
        || (code = split_merge_init(&sm, options->cluster_count, dim, subset_count, err))
               != ERR_OK)
        goto done;
    if (subset_count < rows) {
        if ((subset = alloc_array(subset_count * dim, sizeof *subset, err)) == NULL
            || (subset_norms = alloc_array(subset_count, sizeof *subset_norms, err)) == NULL
            || (subset_rows = alloc_array(subset_count, sizeof *subset_rows, err)) == NULL) {
            code = ERR_INTERNAL;
            goto done;
        }
        sample_rows(rng, rows, subset_count, subset_rows);
        for (size_t i = 0; i < subset_count; i++) {
            memcpy(subset + i * dim, data + subset_rows[i] * dim, dim * sizeof *subset);
            subset_norms[i] = norms[subset_rows[i]];
        }
        seed_rows = subset;
        seed_norms = subset_norms;
    }

    int threads = blas_threads_single();
    for (int restart = 0; restart < options->restarts; restart++) {
        if ((code = seed_plus_plus(kmeans, seed_rows, subset_count, seed_norms, rng, err))
                != ERR_OK
            || (code = lloyd_and_moves(kmeans, &sm, seed_rows, subset_count, seed_norms, rng,
                                       err)) != ERR_OK) {
            blas_threads_restore(threads);
            goto done;
        }
        if (restart == 0 || kmeans->inertia < best_seed_inertia) {
            keep_centers(kmeans);
            best_seed_inertia = kmeans->inertia;
        }
    }
    blas_threads_restore(threads);
    keep_centers(kmeans);
    kmeans->seed_inertia = best_seed_inertia;
    code = refine_minibatch(kmeans, data, rows, norms, mean_variance, rng, cluster_of, err);

done:
    split_merge_release(&sm);
    free(subset);
    free(subset_norms);
    free(subset_rows);
    return code;
}

int kmeans_fit(Kmeans *kmeans, const float *data, size_t rows, Rng *rng, int32_t *cluster_of,
               Error *err)
{
    float *norms = NULL;
    int code;

    if ((code = check_rows(kmeans, data, rows, err)) != ERR_OK)
        return code;
    if ((norms = alloc_array(rows, sizeof *norms, err)) == NULL)
        return ERR_INTERNAL;
    if ((code = distance_row_norms(data, rows, kmeans->dim, norms, err)) != ERR_OK)
        goto done;
    if (kmeans->options.algorithm == KMEANS_LLOYD)
        code = fit_lloyd(kmeans, data, rows, norms, rng, cluster_of, err);
    else
        code = fit_minibatch(kmeans, data, rows, norms, rng, cluster_of, err);
done:
    free(norms);
    return code;
}

int kmeans_lloyd_step(Kmeans *kmeans, const float *data, size_t rows, const float *norms,
                      int32_t *cluster_of, double *inertia, Error *err)
{
    int k = kmeans->options.cluster_count;
    Workspace ws;
    int code;

    if ((code = check_rows(kmeans, data, rows, err)) != ERR_OK)
        return code;
    if (!kmeans->seeded)
        return error_set(err, ERR_INTERNAL, "k-means step taken before the centers were seeded");
    if (norms == NULL)
        return error_set(err, ERR_INTERNAL, "k-means step was given no row norms");
    if ((code = workspace_init(&ws, k, kmeans->dim, rows, 1, err)) != ERR_OK)
        return code;
    double pass_inertia = 0.0;
    code = assign_pass(&ws, data, rows, norms, kmeans->centers, cluster_of, &pass_inertia, err);
    if (code == ERR_OK)
        update_means(kmeans, &ws);
    workspace_release(&ws);
    if (code == ERR_OK && inertia != NULL)
        *inertia = pass_inertia;
    return code;
}

int kmeans_assign(const Kmeans *kmeans, const float *data, size_t rows, int32_t *cluster_of,
                  float *distance, double *inertia, Error *err)
{
    DistanceCenters centers;
    int code;

    if ((code = distance_centers_init(&centers, kmeans->options.cluster_count, kmeans->dim, err))
        != ERR_OK)
        return code;
    distance_centers_set(&centers, kmeans->centers);
    code = distance_nearest(&centers, data, rows, cluster_of, distance, inertia, err);
    distance_centers_release(&centers);
    return code;
}

const float *kmeans_centers(const Kmeans *kmeans)
{
    return kmeans->centers;
}

int kmeans_cluster_count(const Kmeans *kmeans)
{
    return kmeans->options.cluster_count;
}

size_t kmeans_dim(const Kmeans *kmeans)
{
    return kmeans->dim;
}

double kmeans_inertia(const Kmeans *kmeans)
{
    return kmeans->inertia;
}

int kmeans_iterations(const Kmeans *kmeans)
{
    return kmeans->iterations;
}

double kmeans_seed_inertia(const Kmeans *kmeans)
{
    return kmeans->seed_inertia;
}

void kmeans_set_threads(int threads)
{
    blas_threads_wanted = threads >= 1 ? threads : -1;
    if (blas_started)
        blas_apply_threads();
}

void kmeans_set_trace(Kmeans *kmeans, KmeansTrace *trace)
{
    kmeans->trace = trace;
    if (trace != NULL)
        trace->length = 0;
}
