/*
 * pairs: chooses which pairs of images to propose, inside categories, with
 * the budget shared evenly across categories and, inside a category, every
 * image in about the same number of pairs. Also the PairSet, a compact set
 * of unordered image-index pairs (the pairs already proposed).
 *
 * It knows nothing of image ids, SQL, YAML or printing: images are indices
 * 0..image_count-1 into the caller's arrays. Randomness comes from the Rng
 * passed in, so the same inputs and seed give the same pairs.
 *
 * pairset_new allocates a PairSet, pairset_free frees it. pairs_select fills
 * a caller-owned PairsResult whose arrays it allocates; pairs_result_release
 * frees them.
 */
#ifndef PAIRPICK_PAIRS_H
#define PAIRPICK_PAIRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"

/* Two image indices, a < b. */
typedef struct Pair {
    uint32_t a, b;
} Pair;

/*
 * A set of unordered pairs of image indices, built by adds and then read
 * by many look-ups: a sorted array of 8-byte keys plus a small hash table of
 * the latest adds, merged into the array whenever it fills. It holds about
 * 10 bytes a pair (at most 16 from 100,000 pairs on), and never two copies
 * of its keys, so its peak is close to what pairset_memory reports. A
 * look-up costs a hash probe and a search among about a dozen keys.
 * Not safe for concurrent adds; concurrent look-ups are.
 */
typedef struct PairSet PairSet;

/* An empty set; `expected` (the pairs foreseen) sizes its first hash table,
 * up to a few thousand pairs, and it grows past that. NULL when memory runs
 * out. */
PairSet *pairset_new(size_t expected);

/* Adds the pair {a, b}; {a, b} and {b, a} are the same pair.
 * Returns 1 when added, 0 when already there, -1 when memory ran out (the
 * set is unchanged then). */
int pairset_add(PairSet *set, uint32_t a, uint32_t b);

/* Whether {a, b} (in either order) is in the set; false for a NULL set. */
bool pairset_contains(const PairSet *set, uint32_t a, uint32_t b);

/* Number of distinct pairs in the set; 0 for a NULL set. */
size_t pairset_count(const PairSet *set);

/* Bytes the set holds: its sorted keys (8 bytes each, in blocks), the index
 * over them and the hash table; 0 for NULL. While an add merges, the set
 * may hold up to 1 byte a pair more than this reports once it returned (a
 * copy of the index, when realloc copies). */
size_t pairset_memory(const PairSet *set);

/* Frees the set; NULL is allowed. */
void pairset_free(PairSet *set);

typedef struct PairsResult {
    Pair *pairs; /* pair_count pairs, grouped by category in category order */
    size_t pair_count;
    size_t *pairs_per_category;    /* category_count entries */
    size_t *capacity_per_category; /* new pairs each category could hold: n(n-1)/2
                                      minus the excluded pairs inside it */
    uint64_t available;            /* sum of the capacities */
    int32_t category_count;
} PairsResult;

/*
 * Chooses min(max_pairs, available) pairs, each inside one category.
 *
 * category_of[i] is image i's category in [0, category_count), or < 0 for an
 * image not to pair. exclude holds pairs already proposed (may be NULL); they
 * are never returned and do not count towards a category's capacity. Pairs
 * in exclude with an index >= image_count, or with a == b, are ignored.
 *
 * The budget is water-filled: every category gets the same quota unless its
 * capacity is lower, what small categories cannot use goes to the others,
 * and the last units of the budget go to distinct randomly chosen categories.
 * Quotas therefore differ by at most one among categories not limited by
 * their capacity, and max_pairs below the number of categories still gives
 * max_pairs pairs, in distinct categories.
 *
 * Inside a category of n images with quota q, pairs are (p[i], p[i+d mod n])
 * for a random order p of its images and offsets d taken in random order:
 * each whole offset adds 2 to every image's degree (1 for d = n/2), so with
 * no exclusions the degrees differ by at most 2, the largest is at most
 * ceil(2q/n) + 1, and q >= ceil(n/2) covers every image. Time and memory are
 * O(n + q) per category (plus one look-up per excluded pair met).
 *
 * Reproducible: the same inputs and rng state give the same result, and each
 * category draws from rng_fork(rng, category), so its pairs do not depend on
 * the other categories. Advances rng by one draw.
 *
 * Errors: ERR_DATA when image_count does not fit 32-bit indices; ERR_INTERNAL
 * for a category index >= category_count, a negative category_count, or
 * memory running out; ERR_TEMPFAIL when a signal cancels the run (polled
 * every CANCEL_POLL_STEPS pairs looked at, core/cancel). On error the result
 * is released (all zero).
 */
int pairs_select(const int32_t *category_of, size_t image_count, int32_t category_count,
                 uint64_t max_pairs, const PairSet *exclude, Rng *rng, PairsResult *result,
                 Error *err);

/*
 * The water-filling pairs_select uses: quota[c] = min(capacity[c], level)
 * for the largest level within budget (budget <= the capacities' sum), the
 * units left over one each to distinct categories drawn with rng.
 */
int pairs_share_budget(const size_t *capacity, int32_t category_count, uint64_t budget,
                       Rng *rng, size_t *quota, Error *err);

/*
 * The checks every selector makes of its input: category_count >= 0,
 * image_count fits 32-bit indices (else ERR_DATA), and every category_of[i]
 * below category_count (else ERR_INTERNAL).
 */
int pairs_check_input(const int32_t *category_of, size_t image_count, int32_t category_count,
                      Error *err);

/* Frees the result's arrays and zeroes it; a zeroed result is allowed. */
void pairs_result_release(PairsResult *result);

#endif
