#include "numeric/bins.h"

#include <math.h>
#include <stdbool.h>
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

/*
 * Positions low..high of the sorted scores; the run starts among them are
 * the boundaries reachable after some number of bins.
 */
typedef struct {
    size_t low, high;
} Span;

/* The spans reachable after each number of bins: level j is spans[level_start[j] ..
 * level_start[j + 1]). */
typedef struct {
    Span *spans;
    size_t count, capacity;
    size_t *level_start; /* bins + 1 entries */
} Reach;

static bool reach_push(Reach *reach, size_t low, size_t high)
{
    if (reach->count == reach->capacity) {
        size_t capacity = reach->capacity > 0 ? reach->capacity * 2 : 64;
        Span *grown = realloc(reach->spans, capacity * sizeof *grown);
        if (grown == NULL)
            return false;
        reach->spans = grown;
        reach->capacity = capacity;
    }
    reach->spans[reach->count++] = (Span){low, high};
    return true;
}

/* First index in run_start[0..runs) whose value is >= position (runs when none). */
static size_t first_run_at(const uint64_t *run_start, size_t runs, size_t position)
{
    size_t first = 0, last = runs;
    while (first < last) {
        size_t middle = first + (last - first) / 2;
        if (run_start[middle] < position)
            first = middle + 1;
        else
            last = middle;
    }
    return first;
}

/*
 * Whether count sorted scores split into exactly `bins` bins of min_size to
 * max_size scores each, every boundary at a run start. run_start holds the
 * runs' starts and count after them (runs + 1 entries); long_after[i] is the
 * first k >= i with run_start[k + 1] - run_start[k] > max_size - min_size + 1
 * (runs when none). The reachable boundaries go to reach level by level.
 *
 * A run start r reachable after j - 1 bins reaches r + min_size .. r +
 * max_size after j. Runs no longer than max_size - min_size + 1 leave no gap
 * between the ranges of consecutive starts, so a level stays a few spans
 * (one per longer run) however many runs there are.
 */
static int quantile_reach(const uint64_t *run_start, size_t runs, const size_t *long_after,
                          size_t count, size_t bins, size_t min_size, size_t max_size,
                          Reach *reach, bool *feasible)
{
    reach->count = 0;
    reach->level_start[0] = 0;
    if (!reach_push(reach, 0, 0))
        return ERR_INTERNAL;
    for (size_t j = 1; j <= bins; j++) {
        size_t previous = reach->level_start[j - 1], end = reach->count;
        reach->level_start[j] = end;
        /* Room left for the bins after j. */
        size_t left = bins - j;
        size_t floor_position = count > left * max_size ? count - left * max_size : 0;
        size_t ceiling = count - left * min_size;
        for (size_t s = previous; s < end; s++) {
            Span span = reach->spans[s];
            size_t i = first_run_at(run_start, runs, span.low);
            size_t after = first_run_at(run_start, runs, span.high + 1);
            while (i < after) {
                size_t k = long_after[i], last = after - 1;
                if (k > last)
                    k = last;
                size_t low = (size_t)run_start[i] + min_size;
                size_t high = (size_t)run_start[k] + max_size;
                if (low < floor_position)
                    low = floor_position;
                if (high > ceiling)
                    high = ceiling;
                if (low <= high) {
                    size_t top = reach->count;
                    if (top > reach->level_start[j] && low <= reach->spans[top - 1].high + 1) {
                        if (high > reach->spans[top - 1].high)
                            reach->spans[top - 1].high = high;
                    } else if (!reach_push(reach, low, high)) {
                        return ERR_INTERNAL;
                    }
                }
                i = k + 1;
            }
        }
        if (reach->count == reach->level_start[j]) {
            *feasible = false;
            return ERR_OK;
        }
    }
    /* count itself is the last run start entry: reachable when a span holds it. */
    *feasible = false;
    for (size_t s = reach->level_start[bins]; s < reach->count; s++)
        if (reach->spans[s].low <= count && count <= reach->spans[s].high)
            *feasible = true;
    return ERR_OK;
}

/* long_after for the gap max_size - min_size + 1 (see quantile_reach). */
static void quantile_long_runs(const uint64_t *run_start, size_t runs, size_t gap,
                               size_t *long_after)
{
    size_t next = runs;
    for (size_t i = runs; i-- > 0;) {
        if (run_start[i + 1] - run_start[i] > gap)
            next = i;
        long_after[i] = next;
    }
}

/*
 * The bin sizes allowed when no bin may differ from count / bins by more
 * than deviation / bins: deviation bounds |size * bins - count|.
 */
static void quantile_sizes(size_t count, size_t bins, uint64_t deviation, size_t *min_size,
                           size_t *max_size)
{
    uint64_t low = count > deviation ? (count - deviation + bins - 1) / bins : 0;
    *min_size = low > 1 ? (size_t)low : 1;
    *max_size = (size_t)((count + deviation) / bins);
    if (*max_size > count)
        *max_size = count;
}

/*
 * Bin boundaries (bins + 1 entries into bound, bound[0] = 0, bound[bins] =
 * count), all at run starts, whose largest |size - count / bins| is the
 * smallest possible: a binary search over that deviation, each step asking
 * quantile_reach whether some split keeps within it. Among the splits of the
 * smallest deviation, each boundary from the last down is the reachable run
 * start nearest to its rank target round(j * count / bins) (the lower on a
 * tie). Without ties every target is a run start: counts within one.
 */
static int quantile_bounds(const uint64_t *run_start, size_t runs, size_t count, size_t bins,
                           size_t *bound)
{
    size_t *long_after = malloc((runs + 1) * sizeof *long_after);
    Reach reach = {0};
    reach.level_start = malloc((bins + 1) * sizeof *reach.level_start);
    int code = ERR_OK;
    bool feasible = false;
    size_t min_size = 1, max_size = count;
    if (long_after == NULL || reach.level_start == NULL) {
        code = ERR_INTERNAL;
        goto done;
    }
    /* Counts summing to count: some bin holds at least ceil(count / bins) and
     * some at most floor(count / bins), so no split deviates less than
     * least; without ties least is reached. Steps of bins (one image more
     * or less per bin) grow the bound until a split fits, then a binary
     * search finds the smallest. */
    uint64_t spare = count % bins;
    uint64_t least = spare == 0 ? 0 : spare > bins - spare ? spare
                                                            : bins - spare;
    uint64_t most = (uint64_t)count * bins; /* any size from 1 to count */
    uint64_t low = least, high = least, step = bins;
    for (;;) {
        quantile_sizes(count, bins, high, &min_size, &max_size);
        quantile_long_runs(run_start, runs, max_size - min_size + 1, long_after);
        if ((code = quantile_reach(run_start, runs, long_after, count, bins, min_size, max_size,
                                   &reach, &feasible))
            != ERR_OK)
            goto done;
        if (feasible || high >= most)
            break;
        low = high + 1;
        high = high + step < most ? high + step : most;
        step *= 2;
    }
    while (low < high) {
        uint64_t middle = low + (high - low) / 2;
        quantile_sizes(count, bins, middle, &min_size, &max_size);
        quantile_long_runs(run_start, runs, max_size - min_size + 1, long_after);
        if ((code = quantile_reach(run_start, runs, long_after, count, bins, min_size, max_size,
                                   &reach, &feasible))
            != ERR_OK)
            goto done;
        if (feasible)
            high = middle;
        else
            low = middle + 1;
    }
    quantile_sizes(count, bins, low, &min_size, &max_size);
    quantile_long_runs(run_start, runs, max_size - min_size + 1, long_after);
    if ((code = quantile_reach(run_start, runs, long_after, count, bins, min_size, max_size,
                               &reach, &feasible))
        != ERR_OK)
        goto done;
    if (!feasible) { /* runs >= bins: one run per bin always fits */
        code = ERR_INTERNAL;
        goto done;
    }
    size_t quotient = count / bins, remainder = count % bins;
    bound[0] = 0;
    bound[bins] = count;
    for (size_t j = bins - 1; j >= 1; j--) {
        size_t target = j * quotient + (j * remainder + bins / 2) / bins;
        size_t window_low = bound[j + 1] > max_size ? bound[j + 1] - max_size : 0;
        size_t window_high = bound[j + 1] - min_size;
        size_t best = SIZE_MAX;
        for (size_t s = reach.level_start[j]; s < reach.level_start[j + 1]; s++) {
            size_t from = reach.spans[s].low > window_low ? reach.spans[s].low : window_low;
            size_t to = reach.spans[s].high < window_high ? reach.spans[s].high : window_high;
            if (from > to)
                continue;
            /* The run starts in from..to nearest target: around target
             * brought into from..to, the last at or below it and the first
             * at or above it. */
            size_t near = target < from ? from : target > to ? to : target;
            size_t at = first_run_at(run_start, runs, near);
            size_t candidates[2] = {at < runs ? (size_t)run_start[at] : SIZE_MAX,
                                    SIZE_MAX};
            if (at < runs && run_start[at] == near)
                candidates[1] = near;
            else if (at > 0)
                candidates[1] = (size_t)run_start[at - 1];
            for (int c = 0; c < 2; c++) {
                size_t position = candidates[c];
                if (position == SIZE_MAX || position < from || position > to)
                    continue;
                size_t distance = position > target ? position - target : target - position;
                size_t best_distance = best == SIZE_MAX ? SIZE_MAX
                                       : best > target  ? best - target
                                                        : target - best;
                if (best == SIZE_MAX || distance < best_distance
                    || (distance == best_distance && position < best))
                    best = position;
            }
        }
        if (best == SIZE_MAX) {
            code = ERR_INTERNAL;
            goto done;
        }
        bound[j] = best;
    }
done:
    free(long_after);
    free(reach.spans);
    free(reach.level_start);
    return code;
}

static void swap_keys(uint64_t *keys, size_t a, size_t b)
{
    uint64_t held = keys[a];
    keys[a] = keys[b];
    keys[b] = held;
}

/*
 * Puts keys[position] in its sorted place for every position in
 * wanted[0..wanted_count) (ascending, inside [low, high)): a quickselect
 * for several ranks at once, splitting three ways (below, equal to, above
 * a median-of-three pivot) so ties end a branch. False when `depth` runs
 * out (unlucky pivots): the caller then sorts instead.
 */
static bool select_ranks(uint64_t *keys, size_t low, size_t high, const size_t *wanted,
                         size_t wanted_count, int depth)
{
    while (wanted_count > 0) {
        if (high - low <= 16) {
            for (size_t i = low + 1; i < high; i++) {
                uint64_t key = keys[i];
                size_t j = i;
                for (; j > low && keys[j - 1] > key; j--)
                    keys[j] = keys[j - 1];
                keys[j] = key;
            }
            return true;
        }
        if (depth-- == 0)
            return false;
        uint64_t a = keys[low], b = keys[low + (high - low) / 2], c = keys[high - 1];
        uint64_t pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
        size_t below = low, at = low, above = high; /* [low, below) < pivot <= [below, at) < [above, high) */
        while (at < above) {
            if (keys[at] < pivot)
                swap_keys(keys, below++, at++);
            else if (keys[at] > pivot)
                swap_keys(keys, at, --above);
            else
                at++;
        }
        size_t left = 0, right = wanted_count;
        while (left < wanted_count && wanted[left] < below)
            left++;
        while (right > left && wanted[right - 1] >= above)
            right--;
        if (!select_ranks(keys, low, below, wanted, left, depth))
            return false;
        wanted += right;
        wanted_count -= right;
        low = above;
    }
    return true;
}

/*
 * The quantile bins' lowest keys when no tie straddles a rank target (a
 * score at target - 1 below the one at target): then the targets are run
 * starts, the split at them deviates least from equal sizes, and
 * quantile_bounds would place every boundary on its target (see there).
 * So two ranks a boundary are selected in linear time rather than all
 * keys sorted. lowest[j] (1 <= j < bins) receives the key at target j.
 * False when a tie straddles a target or the selection gives up: keys then
 * holds the same keys in another order.
 */
static bool quantile_by_selection(uint64_t *keys, size_t count, size_t bins, uint64_t *lowest)
{
    if (bins < 2 || count < 2 * bins || bins > 64)
        return false;
    size_t quotient = count / bins, remainder = count % bins, wanted[128];
    for (size_t j = 1; j < bins; j++) {
        size_t target = j * quotient + (j * remainder + bins / 2) / bins;
        wanted[2 * (j - 1)] = target - 1;
        wanted[2 * (j - 1) + 1] = target;
    }
    int depth = 4;
    for (size_t size = count; size > 1; size /= 2)
        depth += 2;
    if (!select_ranks(keys, 0, count, wanted, 2 * (bins - 1), depth))
        return false;
    for (size_t j = 1; j < bins; j++) {
        size_t target = wanted[2 * (j - 1) + 1];
        if (keys[target - 1] == keys[target])
            return false;
        lowest[j] = keys[target];
    }
    return true;
}

/*
 * Quantile bins of scores (all finite) into at most `bins` bins, using
 * caller-provided scratch of count + 1 entries each: sorted (the sorted
 * score keys) and run_start (the radix sort's buffer, then where each run
 * of equal scores starts in sorted order, count after the last).
 *
 * A bin boundary can only sit at the start of a run. When there are no more
 * runs than bins, every run is a bin. Otherwise quantile_bounds places
 * exactly `bins` bins as evenly as the runs allow.
 */
static int quantile_core(const double *scores, size_t count, size_t bins, int32_t *bin_of,
                         int32_t *bin_count, uint64_t *sorted, uint64_t *run_start, Error *err)
{
    if (count == 0) {
        *bin_count = 0;
        return ERR_OK;
    }
    for (size_t i = 0; i < count; i++)
        sorted[i] = score_key(scores[i]);
    /* run_start[j] becomes bin j's lowest key (j >= 1) for the binning below. */
    size_t bin_total = bins;
    if (quantile_by_selection(sorted, count, bins, run_start))
        goto place;
    sort_keys(sorted, run_start, count);

    size_t runs = 0;
    run_start[runs++] = 0;
    for (size_t position = 1; position < count; position++)
        if (sorted[position - 1] != sorted[position])
            run_start[runs++] = position;
    run_start[runs] = count;

    bin_total = runs;
    if (runs > bins) {
        size_t *bound = malloc((bins + 1) * sizeof *bound);
        if (bound == NULL)
            return error_nomem(err, (bins + 1) * sizeof *bound);
        if (quantile_bounds(run_start, runs, count, bins, bound) != ERR_OK) {
            free(bound);
            return error_nomem(err, runs * sizeof(size_t));
        }
        /* run_start[j] becomes the start of bin j. */
        for (size_t j = 0; j < bins; j++)
            run_start[j] = bound[j];
        free(bound);
        bin_total = bins;
    }

    for (size_t j = 1; j < bin_total; j++)
        run_start[j] = sorted[run_start[j]];

place:
    /* An image's bin: the last bin whose lowest score is <= its score (the
     * lowest keys rise strictly). A few bins are counted without a branch. */
    for (size_t i = 0; i < count; i++) {
        uint64_t key = score_key(scores[i]);
        size_t first = 1, last = bin_total;
        if (bin_total <= 16) {
            for (size_t j = 1; j < bin_total; j++)
                first += run_start[j] <= key;
        } else {
            while (first < last) {
                size_t middle = first + (last - first) / 2;
                if (run_start[middle] <= key)
                    first = middle + 1;
                else
                    last = middle;
            }
        }
        bin_of[i] = (int32_t)(first - 1);
    }
    *bin_count = (int32_t)bin_total;
    return ERR_OK;
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
    run_start = malloc((count + 1) * sizeof *run_start);
    if (sorted == NULL || run_start == NULL) {
        code = error_nomem(err, count * (sizeof *sorted + sizeof *run_start));
        goto done;
    }
    code = quantile_core(scores, count, (size_t)bins, bin_of, bin_count, sorted, run_start, err);

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
    run_start = malloc((largest + 1) * sizeof *run_start);
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
        if ((code = quantile_core(gathered, size, (size_t)bins, gathered_bin, &group_bins, sorted,
                                  run_start, err))
            != ERR_OK)
            goto done;
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
