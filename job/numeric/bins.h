/*
 * bins: splits images into score bins, either fixed-width over the score
 * range or by rank (quantile), and quantile bins inside groups (score bins
 * inside each k-means cluster).
 *
 * It knows nothing of SQL, YAML or printing, and uses no randomness: the same
 * scores always give the same bins. The caller owns every array, inputs and
 * outputs alike; the functions allocate only scratch space, freed before they
 * return.
 */
#ifndef PAIRPICK_BINS_H
#define PAIRPICK_BINS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/*
 * Fixed-width bins: `bins` equal-width intervals over [min, max] of the
 * scores, bin j being [min + j*w, min + (j+1)*w) with w = (max - min) / bins,
 * and the maximum included in the last bin. Writes bin_of[i] in [0, bins).
 * All scores equal: all in bin 0. count may be 0.
 *
 * Errors: ERR_CONFIG when bins < 1; ERR_DATA when a score is not finite (the
 * message names its index).
 */
int bins_fixed(const double *scores, size_t count, int bins, int32_t *bin_of, Error *err);

/*
 * Quantile bins by rank: bins of equal counts (within one) where ties allow;
 * equal scores never split across bins, so every bin's score range lies
 * wholly below the next bin's. Bins are numbered 0..*bin_count-1 in score
 * order and none is empty. *bin_count is min(bins, number of distinct
 * scores): it is below bins only when there are fewer distinct scores than
 * bins (never more than bins). count may be 0 (*bin_count = 0 then).
 *
 * Balance: of all the ways to cut the sorted scores into that many bins
 * at boundaries between distinct scores, one whose largest deviation of a
 * bin's count from count/bins is the smallest (so a run of equal scores
 * straddling a rank target goes to whichever side keeps the counts closest
 * to equal); among those, each boundary (from the last down) nearest its
 * rank target round(j*count/bins), the lower on a tie. Without ties the
 * boundaries are exactly the targets. -0 and +0 are equal scores. No
 * randomness. A radix sort of the scores, then a binary search over the
 * deviation whose steps cost one span per run longer than the allowed
 * spread of counts; 16 bytes per score of scratch memory.
 *
 * Errors: ERR_CONFIG when bins < 1; ERR_DATA when a score is not finite (the
 * message names its index).
 */
int bins_quantile(const double *scores, size_t count, int bins, int32_t *bin_of,
                  int32_t *bin_count, Error *err);

/*
 * Quantile bins inside each group: the images of group g (group_of[i] == g,
 * 0 <= g < group_count) are binned by bins_quantile on their own; bin_of[i]
 * is the bin inside the group. The non-empty (group, bin) combinations are
 * then numbered densely 0..*category_count-1 in (group, bin) order into
 * category_of[i]. group_of[i] < 0 means "in no group": bin_of[i] and
 * category_of[i] are -1 and the image's score is not looked at.
 *
 * Errors: ERR_CONFIG when bins < 1; ERR_DATA when the score of a grouped
 * image is not finite (naming the index); ERR_INTERNAL when a group index
 * is >= group_count or there would be more than INT32_MAX categories.
 */
int bins_quantile_within(const double *scores, const int32_t *group_of, size_t count,
                         int32_t group_count, int bins, int32_t *bin_of, int32_t *category_of,
                         int32_t *category_count, Error *err);

#endif
