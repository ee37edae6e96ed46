/*
 * informative: chooses the pairs that carry the most information for the
 * annotators' time (strategy.prefer: uncertain), bridges between
 * neighbouring categories (strategy.explore_fraction), and keeps exposure
 * (strategy.max_exposure) and near-duplicates (strategy.max_similarity) in
 * check. With prefer random it applies the same constraints to random pairs.
 *
 * Each image's score is a Gaussian: mean = score, variance = its variance
 * (or score_sigma^2 when it has none). a beats b with probability
 *   p = Phi((mu_a - mu_b) / sqrt(var_a + var_b + 2 beta^2))
 * and a pair's expected information is the binary entropy of p (bits)
 * weighted by var_a + var_b. With prefer uncertain, candidates are the
 * `window` score neighbours of every image inside its category (O(N *
 * window) candidates, then a sort); with prefer random every pair inside a
 * category is one (walked lazily: O(max_pairs + N * window) kept), so
 * max_exposure and max_similarity only remove candidates.
 *
 * prefer informative: every image with its `window` neighbours in score order
 * over all images whose categories are the same or linked (adjacent score
 * bins: neighbours across bin edges), valued by the expected reduction of the
 * pair's squared rank error (informative_pair_value), then one greedy
 * matching over all of them, best first, each image in at most
 * ceil(2 * budget / n) + 1 pairs, the bound relaxed only when the budget
 * cannot be filled under it. The matching is sequential: each pair taken
 * shrinks its two images' variances by the expected ADF shrink, as if it
 * were answered, and the candidates left are valued with those variances
 * (lazily, through a heap), so later pairs go to uncertain images not yet
 * in one. O(N * window) candidates walked, never held: memory is 20 bytes
 * an image (28 with max_similarity), 41 a pair of the budget, and 16 a
 * candidate of a heap of the best max(65536, 4 x budget), walked again
 * (with a heap twice as large) when its best falls below the worst it kept;
 * O(N * window * log) time a walk, and a few walks.
 *
 * Like pairs, it knows nothing of ids, SQL, YAML or printing: images are
 * indices into the caller's arrays, randomness comes from the Rng passed in.
 * informative_select fills a caller-owned InformResult whose arrays it
 * allocates; informative_result_release frees them.
 */
#ifndef PAIRPICK_INFORMATIVE_H
#define PAIRPICK_INFORMATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "numeric/pairs.h"
#include "core/rng.h"

typedef enum { INFORM_RANDOM, INFORM_UNCERTAIN, INFORM_INFORMATIVE } InformPrefer;

/* Two neighbouring categories (adjacent score bins, nearest centroids). */
typedef struct CategoryLink {
    int32_t from, to;
} CategoryLink;

#define INFORM_DEFAULT_WINDOW 8
#define INFORM_DEFAULT_BETA 0.1
#define INFORM_DEFAULT_SCORE_SIGMA 0.1

typedef struct InformOptions {
    InformPrefer prefer;
    const double *score;    /* per image; required for uncertain, else may be NULL */
    const double *variance; /* per image, may be NULL; NaN or < 0: score_sigma^2 */
    double score_sigma;     /* > 0 */
    double beta;            /* per-comparison noise, > 0 */
    size_t window;          /* neighbours per image, >= 1 */
    double explore_fraction; /* share of the budget for cross-category pairs, [0, 1] */
    const CategoryLink *links; /* pairs of neighbouring categories, each once */
    size_t link_count;
    const uint32_t *exposure; /* per image: pending pairs it is already in; may be NULL */
    uint32_t max_exposure;    /* 0: no cap */
    const uint32_t *comparisons; /* per image: annotated pairs it was in; may be NULL */
    uint32_t max_comparisons;    /* 0: no cap on comparisons + exposure */
    const float *embedding;   /* image_count x dim, for max_similarity; may be NULL */
    size_t dim;
    bool has_max_similarity;
    double max_similarity;    /* cosine above which a pair is a near-duplicate */
    size_t memory_cap;        /* bytes the selector may hold (0: no cap); see below */
} InformOptions;

typedef struct InformResult {
    Pair *pairs;          /* within-category pairs grouped by category, then cross pairs */
    size_t pair_count;
    size_t within_count;  /* pairs[i] is cross-category iff i >= within_count */
    char *show_first;     /* per pair: 'a' or 'b', a fair coin */
    size_t *pairs_per_category;    /* category_count entries (within pairs) */
    size_t *capacity_per_category; /* window candidates left after the filters */
    int32_t category_count;
    uint64_t available;       /* sum of capacities, plus the cross candidates */
    uint64_t cross_available; /* cross candidates left after the filters */
    uint64_t candidates_examined;     /* candidate pairs generated, within and cross */
    uint64_t near_duplicates_skipped; /* candidates over max_similarity */
    uint64_t exposure_skipped;        /* candidates with an image already at max_exposure */
    uint64_t capped_images;   /* images at max_exposure or max_comparisons, left out */
    uint64_t held_most;       /* prefer uncertain or random: the most bytes it held, as
                                 counted against memory_cap (0 for informative) */
} InformResult;

/*
 * Chooses up to max_pairs pairs: round(explore_fraction * budget) across
 * linked categories, the rest inside categories, budget = min(max_pairs,
 * available). What one side cannot use goes to the other: bridges take
 * what the categories could not, then the categories choose again for what
 * the bridges could not. Inside categories the budget is water-filled as in
 * pairs_select over the categories' candidate counts; a category whose
 * candidates cannot fill its quota under the degree bound keeps what it got
 * and the rest goes to the others. Every image of a category with quota q
 * among n images is in at most ceil(2q/n) + 1 of its pairs; cross pairs
 * are shared round-robin across links with their own such bound. Never a
 * self-pair, a pair twice, a pair of exclude, a near-duplicate, or an image
 * past max_exposure (counting exposure) or max_comparisons (counting
 * comparisons). Best pairs first: by expected information discounted by
 * 1 + exposure_a + exposure_b (uncertain), or least-shown first then at
 * random (random); ties at random, seeded. prefer informative chooses as the
 * header says, not by category quotas: its links join categories whose
 * images may be paired (score bins: always give the adjacent-bin links) and
 * explore_fraction does not apply. options->memory_cap bounds what prefer
 * informative holds: a smaller heap (more walks) when the cap is below
 * what it would take, ERR_DATA naming resources.memory_limit when the cap
 * cannot hold its per-image and per-pair arrays and a heap of 1,024.
 * prefer uncertain and random hold their candidates whole: ERR_DATA, naming
 * resources.memory_limit and the policy, when their arrays would pass the
 * cap (counted before each is allocated; result->held_most is the most).
 *
 * Reproducible: same inputs and rng state, same result. Advances rng by one.
 * Errors: ERR_DATA when image_count does not fit 32-bit indices, prefer
 * uncertain or informative without scores, or memory_cap too small; ERR_INTERNAL for bad categories or memory;
 * ERR_TEMPFAIL when a signal cancels the run (core/cancel, polled every
 * CANCEL_POLL_STEPS images or candidates).
 */
int informative_select(const int32_t *category_of, size_t image_count, int32_t category_count,
                       uint64_t max_pairs, const PairSet *exclude, const InformOptions *options,
                       Rng *rng, InformResult *result, Error *err);

void informative_result_release(InformResult *result);

/* Expected information of the pair {a, b} (0 without scores); *p receives
 * the probability that a beats b and *variance_sum var_a + var_b (either
 * may be NULL). */
double informative_pair_information(const InformOptions *options, uint32_t a, uint32_t b,
                                    double *p, double *variance_sum);

/*
 * The value prefer informative ranks a candidate by: the expected reduction
 * of the pair's squared rank error after one comparison,
 *   (w_a var_a^2 + w_b var_b^2) / s^2 * phi(z)^2 / (Phi(z) Phi(-z)),
 * s^2 = var_a + var_b + 2 beta^2, z = (mu_a - mu_b) / s, where w is the
 * image's weight (per image; NULL: 1); informative_select passes the square
 * root of the density of scores at the image (see docs/algorithms.md).
 * Under a Gaussian (ADF) update of a probit outcome var_a shrinks by
 * var_a^2 / s^2 * v(v + z) with v = phi/Phi; its expectation over both
 * outcomes is var_a^2 / s^2 * phi^2 / (Phi (1 - Phi)); a rank moves by the
 * density times the score, hence w. 0 without scores, and 0 when the terms
 * overflow (variances near DBL_MAX).
 */
double informative_pair_value(const InformOptions *options, const double *weight, uint32_t a,
                              uint32_t b);

/* Figures of a set of pairs, for the report. */
typedef struct InformStats {
    size_t pair_count;
    double mean_p_distance;   /* mean |p - 1/2| */
    double mean_variance_sum; /* mean var_a + var_b */
    double information_sum;   /* summed expected information (bits x score units^2) */
} InformStats;

void informative_measure(const InformOptions *options, const Pair *pairs, size_t pair_count,
                         InformStats *stats);

/*
 * count random pairs, each of two distinct images of one category (drawn
 * uniformly: an image, then another of its category), into out (count
 * entries, caller-owned). *written receives the number written: count, or 0
 * when no category has two images. ERR_INTERNAL when memory runs out.
 */
int informative_random_pairs(const int32_t *category_of, size_t image_count, size_t count,
                             Rng *rng, Pair *out, size_t *written, Error *err);

#endif
