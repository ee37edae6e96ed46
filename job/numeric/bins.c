#include "numeric/bins.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int check_bins(int bins, Error *err)
{
    if (bins < 1)
        return error_set(err, ERR_CONFIG, "cannot make %d score bins: at least 1 is needed", bins);
    return ERR_OK;
}

static int check_finite(const double *scores, size_t count, Error *err)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(scores[i]))
            return error_set(err, ERR_DATA,
                             "score of image %zu is not finite (%g)"
                             "\nHINT: filter out images without a score",
                             i, scores[i]);
    return ERR_OK;
}

int bins_fixed(const double *scores, size_t count, int bins, int32_t *bin_of, Error *err)
{
    int code;

    if ((code = check_bins(bins, err)) != ERR_OK)
        return code;
    if ((code = check_finite(scores, count, err)) != ERR_OK)
        return code;
    if (count == 0)
        return ERR_OK;

    double min = scores[0], max = scores[0];
    for (size_t i = 1; i < count; i++) {
        if (scores[i] < min)
            min = scores[i];
        if (scores[i] > max)
            max = scores[i];
    }
    if (!(min < max)) {
        for (size_t i = 0; i < count; i++)
            bin_of[i] = 0;
        return ERR_OK;
    }

    /* Scores spanning more than DBL_MAX (max - min overflows) are compared
     * at half scale, which is exact for all but subnormal scores. */
    double scale = isfinite(max - min) ? 1.0 : 0.5;
    double low = min * scale;
    double width = (max * scale - low) / bins;
    for (size_t i = 0; i < count; i++) {
        double score = scores[i] * scale;
        if (scores[i] == max) {
            bin_of[i] = bins - 1;
            continue;
        }
        double position = floor((score - low) / width);
        int bin = position < 0 ? 0 : position > bins - 1 ? bins - 1 : (int)position;
        /* The division can round across an edge; settle on the bin whose
         * edges low + j*width, as the header defines them, hold the score. */
        while (bin > 0 && score < low + bin * width)
            bin--;
        while (bin < bins - 1 && score >= low + (bin + 1) * width)
            bin++;
        bin_of[i] = bin;
    }
    return ERR_OK;
}

/*
 * Scores as unsigned keys in the same order: flip every bit of negatives,
 * the sign bit of the rest. -0 becomes +0 first, so keys are equal exactly
 * when the scores are (scores are finite: no NaN).
 */
static uint64_t score_key(double score)
{
    uint64_t bits;
    if (score == 0)
        score = 0.0;
    memcpy(&bits, &score, sizeof bits);
    return bits >> 63 ? ~bits : bits | (UINT64_C(1) << 63);
}

/*
 * Sorts keys with an LSD radix sort, a byte per pass, using buffer (count
 * entries) as the other side; passes where every key has the same byte are
 * skipped. Linear time: sorting ten million scores takes a fraction of a
 * second where qsort takes seconds.
 */
static void sort_keys(uint64_t *keys, uint64_t *buffer, size_t count)
{
    enum { PASSES = 8, RADIX = 256 };
    size_t counts[PASSES][RADIX] = {{0}};
    uint64_t *from = keys, *to = buffer;

    if (count < 64) {
        for (size_t i = 1; i < count; i++) {
            uint64_t key = keys[i];
            size_t j = i;
            for (; j > 0 && keys[j - 1] > key; j--)
                keys[j] = keys[j - 1];
            keys[j] = key;
        }
        return;
    }
    for (size_t i = 0; i < count; i++)
        for (int pass = 0; pass < PASSES; pass++)
            counts[pass][(keys[i] >> (8 * pass)) & (RADIX - 1)]++;
    for (int pass = 0; pass < PASSES; pass++) {
        size_t *offset = counts[pass];
        int shift = 8 * pass;
        if (offset[(from[0] >> shift) & (RADIX - 1)] == count)
            continue;
        size_t total = 0;
        for (int digit = 0; digit < RADIX; digit++) {
            size_t here = offset[digit];
            offset[digit] = total;
            total += here;
        }
        for (size_t i = 0; i < count; i++)
            to[offset[(from[i] >> shift) & (RADIX - 1)]++] = from[i];
        uint64_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != keys)
        memcpy(keys, from, count * sizeof *keys);
}

/* The nearest of run_start[low..high] to target; on a tie the lower. */
static size_t nearest_run(const uint64_t *run_start, size_t low, size_t high, size_t target)
{
    /* First run in [low, high + 1) starting at or after target. */
    size_t first = low, last = high + 1;
    while (first < last) {
        size_t middle = first + (last - first) / 2;
        if (run_start[middle] < target)
            first = middle + 1;
        else
            last = middle;
    }
    if (first > high)
        return high;
    if (first == low)
        return low;
    uint64_t above = run_start[first] - target;
    uint64_t below = target - run_start[first - 1];
    return below <= above ? first - 1 : first;
}

/*
 * Quantile bins of scores (all finite) into at most `bins` bins, using
 * caller-provided scratch of count entries each: sorted (the sorted score
 * keys) and run_start (the radix sort's buffer, then where each run of
 * equal scores starts in sorted order).
 *
 * A bin boundary can only sit at the start of a run. When there are no more
 * runs than bins, every run is a bin. Otherwise boundary j aims at rank
 * round(j*count/bins) and takes the run start nearest to it, restricted so
 * that every later boundary still has a run start of its own: this keeps
 * exactly `bins` bins, and without ties every target is itself a run
 * start, giving counts within one of each other.
 */
static void quantile_core(const double *scores, size_t count, size_t bins, int32_t *bin_of,
                          int32_t *bin_count, uint64_t *sorted, uint64_t *run_start)
{
    if (count == 0) {
        *bin_count = 0;
        return;
    }
    for (size_t i = 0; i < count; i++)
        sorted[i] = score_key(scores[i]);
    sort_keys(sorted, run_start, count);

    size_t runs = 0;
    run_start[runs++] = 0;
    for (size_t position = 1; position < count; position++)
        if (sorted[position - 1] != sorted[position])
            run_start[runs++] = position;

    size_t bin_total = runs;
    if (runs > bins) {
        /* run_start[j] is overwritten with the start of bin j once chosen:
         * the choice for bin j + 1 reads only run indices > chosen >= j. */
        size_t quotient = count / bins, remainder = count % bins;
        size_t chosen = 0;
        for (size_t j = 1; j < bins; j++) {
            size_t target = j * quotient + (j * remainder + bins / 2) / bins;
            size_t low = chosen + 1;
            size_t high = runs - bins + j; /* leaves bins - 1 - j runs after it */
            chosen = nearest_run(run_start, low, high, target);
            run_start[j] = run_start[chosen];
        }
        bin_total = bins;
    }

    /* An image's bin: the last bin whose lowest score is <= its score. */
    for (size_t i = 0; i < count; i++) {
        uint64_t key = score_key(scores[i]);
        size_t first = 1, last = bin_total;
        while (first < last) {
            size_t middle = first + (last - first) / 2;
            if (sorted[run_start[middle]] <= key)
                first = middle + 1;
            else
                last = middle;
        }
        bin_of[i] = (int32_t)(first - 1);
    }
    *bin_count = (int32_t)bin_total;
}

int bins_quantile(const double *scores, size_t count, int bins, int32_t *bin_of,
                  int32_t *bin_count, Error *err)
{
    uint64_t *sorted = NULL, *run_start = NULL;
    int code;

    *bin_count = 0;
    if ((code = check_bins(bins, err)) != ERR_OK)
        goto done;
    if ((code = check_finite(scores, count, err)) != ERR_OK)
        goto done;
    if (count == 0)
        goto done;
    sorted = malloc(count * sizeof *sorted);
    run_start = malloc(count * sizeof *run_start);
    if (sorted == NULL || run_start == NULL) {
        code = error_nomem(err, count * (sizeof *sorted + sizeof *run_start));
        goto done;
    }
    quantile_core(scores, count, (size_t)bins, bin_of, bin_count, sorted, run_start);

done:
    free(sorted);
    free(run_start);
    return code;
}

/*
 * Checks the groups and scores, and marks every image outside all bins (-1)
 * until a group's binning places it.
 */
static int check_groups(const double *scores, const int32_t *group_of, size_t count,
                        int32_t group_count, int32_t *bin_of, int32_t *category_of, Error *err)
{
    if (group_count < 0)
        return error_set(err, ERR_INTERNAL, "negative group count %d", (int)group_count);
    for (size_t i = 0; i < count; i++) {
        if (group_of[i] >= group_count)
            return error_set(err, ERR_INTERNAL, "group %d of image %zu is not below %d",
                             (int)group_of[i], i, (int)group_count);
        if (group_of[i] >= 0 && !isfinite(scores[i]))
            return error_set(err, ERR_DATA,
                             "score of image %zu is not finite (%g)"
                             "\nHINT: filter out images without a score",
                             i, scores[i]);
        bin_of[i] = -1;
        category_of[i] = -1;
    }
    return ERR_OK;
}

/*
 * Counting sort of the images by group: group g's images, ascending, are
 * members[group_start[g] .. group_start[g + 1]]. group_start (group_count + 1
 * entries, zeroed) is the caller's; *members is allocated here (NULL when no
 * image has a group). *largest receives the size of the largest group.
 */
static int group_members(const int32_t *group_of, size_t count, int32_t group_count,
                         size_t *group_start, size_t **members, size_t *largest, Error *err)
{
    *members = NULL;
    *largest = 0;
    for (size_t i = 0; i < count; i++)
        if (group_of[i] >= 0)
            group_start[group_of[i] + 1]++;
    for (int32_t g = 0; g < group_count; g++) {
        if (group_start[g + 1] > *largest)
            *largest = group_start[g + 1];
        group_start[g + 1] += group_start[g];
    }
    size_t grouped = group_start[group_count];
    if (grouped == 0)
        return ERR_OK;
    if ((*members = malloc(grouped * sizeof **members)) == NULL)
        return error_nomem(err, grouped * sizeof **members);
    /* Fill each group's slice in image order; next[g] walks group g. */
    size_t *next = group_start; /* reused: shifted back below */
    for (size_t i = 0; i < count; i++)
        if (group_of[i] >= 0)
            (*members)[next[group_of[i]]++] = i;
    for (int32_t g = group_count; g > 0; g--)
        group_start[g] = group_start[g - 1];
    group_start[0] = 0;
    return ERR_OK;
}

int bins_quantile_within(const double *scores, const int32_t *group_of, size_t count,
                         int32_t group_count, int bins, int32_t *bin_of, int32_t *category_of,
                         int32_t *category_count, Error *err)
{
    size_t *group_start = NULL; /* group_count + 1 offsets into members */
    size_t *members = NULL;     /* image indices, grouped, ascending inside each group */
    double *gathered = NULL;
    uint64_t *sorted = NULL, *run_start = NULL;
    int32_t *gathered_bin = NULL;
    size_t largest = 0;
    int code;

    *category_count = 0;
    if ((code = check_bins(bins, err)) != ERR_OK
        || (code = check_groups(scores, group_of, count, group_count, bin_of, category_of, err))
               != ERR_OK)
        goto done;
    group_start = calloc((size_t)group_count + 1, sizeof *group_start);
    if (group_start == NULL) {
        code = error_nomem(err, ((size_t)group_count + 1) * sizeof *group_start);
        goto done;
    }
    if ((code = group_members(group_of, count, group_count, group_start, &members, &largest, err))
            != ERR_OK
        || members == NULL)
        goto done;
    gathered = malloc(largest * sizeof *gathered);
    gathered_bin = malloc(largest * sizeof *gathered_bin);
    sorted = malloc(largest * sizeof *sorted);
    run_start = malloc(largest * sizeof *run_start);
    if (gathered == NULL || gathered_bin == NULL || sorted == NULL || run_start == NULL) {
        code = error_nomem(err, largest * (sizeof *gathered + sizeof *gathered_bin
                                           + sizeof *sorted + sizeof *run_start));
        goto done;
    }

    int64_t categories = 0;
    for (int32_t g = 0; g < group_count; g++) {
        size_t size = group_start[g + 1] - group_start[g];
        const size_t *member = members + group_start[g];
        int32_t group_bins = 0;
        if (size == 0)
            continue;
        for (size_t k = 0; k < size; k++)
            gathered[k] = scores[member[k]];
        quantile_core(gathered, size, (size_t)bins, gathered_bin, &group_bins, sorted, run_start);
        if (categories + group_bins > INT32_MAX) {
            code = error_set(err, ERR_INTERNAL, "more than %d score categories", INT32_MAX);
            goto done;
        }
        /* Bins inside a group are non-empty and numbered from 0, so offsetting
         * by the categories so far numbers (group, bin) densely. */
        for (size_t k = 0; k < size; k++) {
            bin_of[member[k]] = gathered_bin[k];
            category_of[member[k]] = (int32_t)categories + gathered_bin[k];
        }
        categories += group_bins;
    }
    *category_count = (int32_t)categories;

done:
    if (code != ERR_OK)
        *category_count = 0;
    free(group_start);
    free(members);
    free(gathered);
    free(gathered_bin);
    free(sorted);
    free(run_start);
    return code;
}
