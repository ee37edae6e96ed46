/*
 * choose: the pairs stage of a run: which chooser the config asks for (the
 * balanced sampler, pairs_select, or the informative selector,
 * informative_select), the options it gets, and one choice of up to a
 * budget of pairs among the categorized images, none already proposed.
 *
 * A run may choose more than once (another job stored some of its pairs
 * meanwhile): each choice starts from the same generator state, so a
 * second choice differs from the first only by the pairs it must avoid.
 * The caller owns the Choice (choice_release).
 */
#ifndef PAIRPICK_CHOOSE_H
#define PAIRPICK_CHOOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"
#include "core/images.h"
#include "core/rng.h"
#include "db/pending.h"
#include "db/runs.h"
#include "numeric/informative.h"
#include "numeric/pairs.h"
#include "run/report.h"

/* One choice of pairs and what the writer needs with it. */
typedef struct Choice {
    PairsResult chosen;    /* the balanced sampler's (strategy.prefer: random) */
    InformResult informed; /* or the informative selector's */
    char *show_first;      /* the sampler's coin per pair */
    const Pair *pairs;     /* into chosen or informed */
    size_t pair_count;
    PairProvenance provenance;
} Choice;

/* What a choice is made among and with. */
typedef struct ChooseInput {
    const int32_t *category_of; /* per image, -1: not to be paired */
    size_t image_count;
    int32_t category_count;
    bool selector;                /* choose_uses_selector */
    const InformOptions *inform;  /* the selector's options */
    const Rng *rng;               /* copied: the same choice for the same exclusions */
    const Rng *report_rng;        /* the sampler's show-first coins are forked from it */
    const char *policy;           /* stored with each pair */
} ChooseInput;

/*
 * Whether the informative selector chooses the pairs: prefer uncertain or
 * informative, or any of their companions (explore_fraction, max_exposure,
 * max_comparisons, max_similarity).
 * Otherwise the balanced sampler does.
 */
bool choose_uses_selector(const JobConfig *config);

/*
 * The selector's options from the config and the run's arrays (images'
 * scores, variances and embeddings; exposure, the pending pairs per image,
 * and comparisons, the annotated ones, may be NULL). Its memory_cap is
 * resources.memory_limit less what the run holds when it chooses: the
 * images, the pairs already stored (existing, may be NULL), a category per
 * image and the exposure and comparison counts; 0 without a limit.
 */
InformOptions choose_inform_options(const JobConfig *config, const Images *images,
                                    const PairSet *existing, const uint32_t *exposure,
                                    const uint32_t *comparisons);

/* strategy.prefer as written in YAML. */
const char *choose_prefer_name(InformPrefer prefer);

/* The policy stored with each pair: "job:strategy/prefer" into buffer. */
const char *choose_policy(const JobConfig *config, const char *strategy, char *buffer,
                          size_t size);

/*
 * Chooses up to budget pairs, none in existing, into *choice (released
 * first). counts->pairs_available and pairs_chosen, and the selector's
 * figures in selection, receive what the choice found.
 */
int choose_pairs(const ChooseInput *input, uint64_t budget, const PairSet *existing,
                 Choice *choice, RunCounts *counts, ReportSelection *selection, Error *err);

void choice_release(Choice *choice);

#endif
