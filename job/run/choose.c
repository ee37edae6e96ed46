#include "run/choose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool choose_uses_selector(const JobConfig *config)
{
    return config->strategy.prefer != INFORM_RANDOM || config->strategy.explore_fraction > 0
           || config->strategy.max_exposure > 0 || config->strategy.max_comparisons > 0
           || config->strategy.max_similarity.set;
}

const char *choose_prefer_name(InformPrefer prefer)
{
    return prefer == INFORM_UNCERTAIN     ? "uncertain"
           : prefer == INFORM_INFORMATIVE ? "informative"
                                          : "random";
}

InformOptions choose_inform_options(const JobConfig *config, const Images *images,
                                    const PairSet *existing, const uint32_t *exposure,
                                    const uint32_t *comparisons)
{
    int64_t limit = config->resources.memory_limit_bytes;
    size_t held = images_memory(images) + pairset_memory(existing)
                  + images->count * (sizeof(int32_t) + (exposure != NULL ? sizeof *exposure : 0)
                                     + (comparisons != NULL ? sizeof *comparisons : 0));
    InformOptions inform = {
        .prefer = config->strategy.prefer,
        .score = images->score,
        .variance = images->variance,
        .score_sigma = config->strategy.score_sigma,
        .beta = config->strategy.beta,
        .window = (size_t)config->strategy.window,
        .explore_fraction = config->strategy.explore_fraction,
        .exposure = exposure,
        .max_exposure = (uint32_t)config->strategy.max_exposure,
        .comparisons = comparisons,
        .max_comparisons = (uint32_t)config->strategy.max_comparisons,
        .embedding = images->embedding,
        .dim = images->dim,
        .has_max_similarity = config->strategy.max_similarity.set,
        .max_similarity = config->strategy.max_similarity.value,
        /* What is left; 1 byte when nothing is (0 would mean no cap). */
        .memory_cap = limit <= 0 ? 0 : (uint64_t)limit > held ? (size_t)limit - held : 1,
    };
    return inform;
}

const char *choose_policy(const JobConfig *config, const char *strategy, char *buffer,
                          size_t size)
{
    snprintf(buffer, size, "%s:%s/%s", config->job, strategy,
             choose_prefer_name(config->strategy.prefer));
    return buffer;
}

void choice_release(Choice *choice)
{
    pairs_result_release(&choice->chosen);
    informative_result_release(&choice->informed);
    free(choice->show_first);
    memset(choice, 0, sizeof *choice);
}

/* The informative selector's choice. */
static int choose_informed(const ChooseInput *input, uint64_t budget, const PairSet *existing,
                           Rng *stream, Choice *choice, RunCounts *counts,
                           ReportSelection *selection, Error *err)
{
    InformResult *informed = &choice->informed;
    int code = informative_select(input->category_of, input->image_count, input->category_count,
                                  budget, existing, input->inform, stream, informed, err);
    if (code != ERR_OK)
        return code;
    choice->pairs = informed->pairs;
    choice->pair_count = informed->pair_count;
    choice->provenance.within_count = informed->within_count;
    choice->provenance.show_first = informed->show_first;
    counts->pairs_available = informed->available;
    selection->selector_ran = true;
    selection->cross_pairs = informed->pair_count - informed->within_count;
    selection->candidates_examined = informed->candidates_examined;
    selection->near_duplicates_skipped = informed->near_duplicates_skipped;
    selection->exposure_skipped = informed->exposure_skipped;
    selection->capped_images = informed->capped_images;
    return ERR_OK;
}

/* The balanced sampler's choice, with a fair coin per pair for the side shown first. */
static int choose_balanced(const ChooseInput *input, uint64_t budget, const PairSet *existing,
                           Rng *stream, Choice *choice, RunCounts *counts, Error *err)
{
    PairsResult *chosen = &choice->chosen;
    int code = pairs_select(input->category_of, input->image_count, input->category_count,
                            budget, existing, stream, chosen, err);
    if (code != ERR_OK)
        return code;
    choice->pairs = chosen->pairs;
    choice->pair_count = chosen->pair_count;
    choice->provenance.within_count = chosen->pair_count;
    /* The coins come from a stream of their own: the pairs stay pairs_select's. */
    choice->show_first = malloc(chosen->pair_count + 1);
    if (choice->show_first == NULL)
        return error_nomem(err, chosen->pair_count);
    Rng coin;
    rng_fork(input->report_rng, 0x636f696eULL /* "coin" */, &coin);
    for (size_t k = 0; k < chosen->pair_count; k++)
        choice->show_first[k] = (rng_next(&coin) >> 63) ? 'b' : 'a';
    choice->provenance.show_first = choice->show_first;
    counts->pairs_available = chosen->available;
    return ERR_OK;
}

int choose_pairs(const ChooseInput *input, uint64_t budget, const PairSet *existing,
                 Choice *choice, RunCounts *counts, ReportSelection *selection, Error *err)
{
    Rng stream = *input->rng;
    choice_release(choice);
    choice->provenance.policy = input->policy;
    int code = input->selector ? choose_informed(input, budget, existing, &stream, choice, counts,
                                                 selection, err)
                               : choose_balanced(input, budget, existing, &stream, choice,
                                                 counts, err);
    if (code == ERR_OK)
        counts->pairs_chosen = choice->pair_count;
    return code;
}
