/*
 * Properties of the informative module over random inputs and seeds: with
 * prefer uncertain the chosen pairs are closer to a coin flip and carry
 * more expected information than pairs_select's random pairs on the same
 * input; every pairing guarantee still holds (budget shares, degree bound,
 * no repeats, none excluded, reproducible); larger variance wins at equal
 * scores; explore_fraction gives that share (+-1) of cross pairs, only
 * between linked categories; max_exposure is never exceeded; near-
 * duplicates are never chosen; candidates grow linearly with N; show_first
 * is a fair coin (binomial test); budget one side of the split (bridges or
 * within) cannot use goes to the other; prefer informative's memory is
 * linear in the images (an address-space limit) and its memory_cap is an
 * error or a smaller heap, never more memory; uncertain's and the random
 * selector's memory_cap counts what they allocate (an address-space limit
 * of the cap) and is an error a byte below it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/sanitizer.h"
#include "address_space.h"
#include "core/cancel.h"
#include "numeric/informative.h"
#include "numeric/pairs.h"
#include "core/rng.h"

#define CASES 60

/* Images in score bins (category = bin of the sorted score), so that
 * neighbouring categories are adjacent bins. */
typedef struct Input {
    size_t image_count;
    int32_t category_count;
    int32_t *category_of;
    double *score, *variance;
    uint32_t *exposure;
    CategoryLink *links;
    size_t link_count;
    size_t *size;
    InformOptions options;
} Input;

static int compare_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void input_random(Rng *rng, Input *in, size_t image_count, int32_t category_count)
{
    memset(in, 0, sizeof *in);
    in->image_count = image_count;
    in->category_count = category_count;
    in->category_of = malloc(image_count * sizeof *in->category_of);
    in->score = malloc(image_count * sizeof *in->score);
    in->variance = malloc(image_count * sizeof *in->variance);
    in->exposure = calloc(image_count, sizeof *in->exposure);
    in->links = malloc(((size_t)category_count + 1) * sizeof *in->links);
    in->size = calloc((size_t)category_count, sizeof *in->size);
    double *sorted = malloc(image_count * sizeof *sorted);
    assert_true(in->category_of && in->score && in->variance && in->exposure && in->links
                && in->size && sorted);
    for (size_t i = 0; i < image_count; i++) {
        in->score[i] = 2.0 + 0.5 * rng_normal(rng);
        in->variance[i] = rng_below(rng, 10) == 0 ? NAN : 0.001 + 0.08 * rng_uniform(rng);
        sorted[i] = in->score[i];
    }
    qsort(sorted, image_count, sizeof *sorted, compare_double);
    for (size_t i = 0; i < image_count; i++) {
        /* the bin of its rank: equal-count bins */
        size_t rank = 0, low = 0, high = image_count;
        while (low < high) {
            size_t mid = (low + high) / 2;
            if (sorted[mid] < in->score[i])
                low = mid + 1;
            else
                high = mid;
        }
        rank = low;
        in->category_of[i] = (int32_t)(rank * (size_t)category_count / image_count);
        in->size[in->category_of[i]]++;
    }
    for (int32_t c = 0; c + 1 < category_count; c++)
        in->links[in->link_count++] = (CategoryLink){c, c + 1};
    free(sorted);
    in->options = (InformOptions){
        .prefer = INFORM_UNCERTAIN,
        .score = in->score,
        .variance = in->variance,
        .score_sigma = INFORM_DEFAULT_SCORE_SIGMA,
        .beta = INFORM_DEFAULT_BETA,
        .window = INFORM_DEFAULT_WINDOW,
    };
}

static void input_free(Input *in)
{
    free(in->category_of);
    free(in->score);
    free(in->variance);
    free(in->exposure);
    free(in->links);
    free(in->size);
}

static int32_t bin(const Input *in, uint32_t image)
{
    return in->category_of[image];
}

/* The guarantees every result must hold; returns the pairs per category
 * recomputed from the pairs. */
static void check_guarantees(const Input *in, const InformResult *r, uint64_t max_pairs,
                             const PairSet *exclude)
{
    size_t n = in->image_count;
    uint32_t *degree = calloc(n, sizeof *degree);
    size_t *per = calloc((size_t)in->category_count, sizeof *per);
    PairSet *seen = pairset_new(r->pair_count);
    assert_true(degree && per && seen);
    assert_true(r->pair_count <= max_pairs);
    for (size_t k = 0; k < r->pair_count; k++) {
        Pair p = r->pairs[k];
        assert_true(p.a < p.b);
        assert_true(p.b < n);
        assert_int_equal(pairset_add(seen, p.a, p.b), 1); /* never twice */
        assert_false(pairset_contains(exclude, p.a, p.b));
        assert_true(r->show_first[k] == 'a' || r->show_first[k] == 'b');
        if (k < r->within_count) {
            assert_int_equal(bin(in, p.a), bin(in, p.b));
            per[bin(in, p.a)]++;
            degree[p.a]++, degree[p.b]++;
        } else {
            int32_t x = bin(in, p.a), y = bin(in, p.b);
            bool linked = false;
            for (size_t l = 0; l < in->options.link_count; l++)
                linked |= (in->options.links[l].from == x && in->options.links[l].to == y)
                          || (in->options.links[l].from == y && in->options.links[l].to == x);
            assert_true(linked);
        }
    }
    /* degree bound inside each category: ceil(2q/n) + 1 */
    for (size_t i = 0; i < n; i++) {
        int32_t c = bin(in, (uint32_t)i);
        size_t q = per[c], size = in->size[c];
        assert_true(degree[i] <= (2 * q + size - 1) / size + 1);
    }
    for (int32_t c = 0; c < in->category_count; c++) {
        assert_int_equal(per[c], r->pairs_per_category[c]);
        assert_true(per[c] <= r->capacity_per_category[c]);
    }
    free(degree);
    free(per);
    pairset_free(seen);
}

static void test_uncertain_beats_random_on_the_same_input(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 1);
    for (int t = 0; t < CASES; t++) {
        Input in;
        input_random(&rng, &in, 100 + (size_t)rng_below(&rng, 900), 1 + (int32_t)rng_below(&rng, 8));
        uint64_t max_pairs = 20 + rng_below(&rng, in.image_count);
        Rng a, b;
        rng_init(&a, (uint64_t)t);
        rng_init(&b, (uint64_t)t);
        Error err;
        InformResult chosen;
        PairsResult random;
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, NULL, &in.options, &a, &chosen, &err),
                         ERR_OK);
        assert_int_equal(pairs_select(in.category_of, in.image_count, in.category_count,
                                      max_pairs, NULL, &b, &random, &err),
                         ERR_OK);
        assert_int_equal(chosen.pair_count, random.pair_count);
        InformStats smart, blind;
        informative_measure(&in.options, chosen.pairs, chosen.pair_count, &smart);
        informative_measure(&in.options, random.pairs, random.pair_count, &blind);
        assert_true(smart.mean_p_distance < blind.mean_p_distance);
        assert_true(smart.information_sum > blind.information_sum);
        informative_result_release(&chosen);
        pairs_result_release(&random);
        input_free(&in);
    }
}

static void test_guarantees_hold_and_the_budget_is_shared(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 2);
    for (int t = 0; t < CASES; t++) {
        Input in;
        input_random(&rng, &in, 2 + (size_t)rng_below(&rng, 600), 1 + (int32_t)rng_below(&rng, 10));
        in.options.prefer = rng_below(&rng, 2) ? INFORM_UNCERTAIN : INFORM_RANDOM;
        in.options.window = 1 + (size_t)rng_below(&rng, 12);
        /* some pairs already proposed, most of them score neighbours */
        PairSet *exclude = pairset_new(16);
        for (size_t e = 0; e < in.image_count; e++) {
            uint32_t a = (uint32_t)rng_below(&rng, in.image_count);
            uint32_t b = (uint32_t)rng_below(&rng, in.image_count);
            if (a != b)
                assert_true(pairset_add(exclude, a, b) >= 0);
        }
        uint64_t max_pairs = 1 + rng_below(&rng, in.image_count);
        Rng a;
        rng_init(&a, (uint64_t)t);
        Error err;
        InformResult r, again;
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, exclude, &in.options, &a, &r, &err),
                         ERR_OK);
        check_guarantees(&in, &r, max_pairs, exclude);
        /* the whole budget, shared evenly among categories it does not exhaust */
        uint64_t expected = max_pairs < r.available ? max_pairs : r.available;
        assert_int_equal(r.pair_count, expected);
        size_t low = SIZE_MAX, high = 0;
        for (int32_t c = 0; c < in.category_count; c++) {
            if (r.pairs_per_category[c] > high)
                high = r.pairs_per_category[c];
            if (r.pairs_per_category[c] < r.capacity_per_category[c] && r.pairs_per_category[c] < low)
                low = r.pairs_per_category[c];
        }
        if (low != SIZE_MAX)
            assert_true(high <= low + 1);
        /* reproducible */
        rng_init(&a, (uint64_t)t);
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, exclude, &in.options, &a, &again, &err),
                         ERR_OK);
        assert_int_equal(again.pair_count, r.pair_count);
        assert_memory_equal(again.pairs, r.pairs, r.pair_count * sizeof *r.pairs);
        assert_memory_equal(again.show_first, r.show_first, r.pair_count);
        informative_result_release(&again);
        informative_result_release(&r);
        pairset_free(exclude);
        input_free(&in);
    }
}

static void test_equal_scores_prefer_large_variance(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 3);
    for (int t = 0; t < CASES; t++) {
        Input in;
        input_random(&rng, &in, 40 + (size_t)rng_below(&rng, 200), 1);
        size_t uncertain = 0;
        for (size_t i = 0; i < in.image_count; i++) {
            in.score[i] = 1.5;
            bool wide = rng_below(&rng, 2) == 0;
            in.variance[i] = wide ? 0.05 : 0.0;
            uncertain += wide;
        }
        uint64_t max_pairs = 1 + rng_below(&rng, uncertain / 2 + 1);
        Rng a;
        rng_init(&a, (uint64_t)t);
        Error err;
        InformResult r;
        assert_int_equal(informative_select(in.category_of, in.image_count, 1, max_pairs, NULL,
                                            &in.options, &a, &r, &err),
                         ERR_OK);
        size_t wide = 0, narrow = 0;
        for (size_t k = 0; k < r.pair_count; k++) {
            wide += (in.variance[r.pairs[k].a] > 0) + (in.variance[r.pairs[k].b] > 0);
            narrow += (in.variance[r.pairs[k].a] == 0) + (in.variance[r.pairs[k].b] == 0);
            /* no pair of two certain images while uncertain ones have room */
            assert_true(in.variance[r.pairs[k].a] > 0 || in.variance[r.pairs[k].b] > 0);
        }
        assert_true(wide > narrow);
        informative_result_release(&r);
        input_free(&in);
    }
}

static void test_explore_fraction_gives_its_share_of_bridges(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 4);
    const double fractions[] = {0.0, 0.1, 0.25, 0.5, 1.0};
    for (int t = 0; t < CASES; t++) {
        Input in;
        input_random(&rng, &in, 200 + (size_t)rng_below(&rng, 800), 2 + (int32_t)rng_below(&rng, 8));
        in.options.prefer = rng_below(&rng, 2) ? INFORM_UNCERTAIN : INFORM_RANDOM;
        in.options.explore_fraction = fractions[rng_below(&rng, 5)];
        in.options.links = in.links;
        in.options.link_count = in.link_count;
        uint64_t max_pairs = 10 + rng_below(&rng, in.image_count / 2);
        Rng a;
        rng_init(&a, (uint64_t)t);
        Error err;
        InformResult r;
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, NULL, &in.options, &a, &r, &err),
                         ERR_OK);
        check_guarantees(&in, &r, max_pairs, NULL); /* cross pairs only between linked bins */
        double wanted = in.options.explore_fraction * (double)r.pair_count;
        double cross = (double)(r.pair_count - r.within_count);
        assert_true(fabs(cross - wanted) <= 1.0);
        for (size_t k = r.within_count; k < r.pair_count; k++)
            assert_int_equal(abs(bin(&in, r.pairs[k].a) - bin(&in, r.pairs[k].b)), 1);
        informative_result_release(&r);
        input_free(&in);
    }
}

static void test_max_exposure_is_never_exceeded(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 5);
    for (int t = 0; t < CASES; t++) {
        Input in;
        input_random(&rng, &in, 50 + (size_t)rng_below(&rng, 400), 1 + (int32_t)rng_below(&rng, 5));
        in.options.prefer = rng_below(&rng, 2) ? INFORM_UNCERTAIN : INFORM_RANDOM;
        in.options.max_exposure = 1 + (uint32_t)rng_below(&rng, 4);
        in.options.links = in.links;
        in.options.link_count = in.link_count;
        in.options.explore_fraction = 0.2;
        for (size_t i = 0; i < in.image_count; i++)
            in.exposure[i] = (uint32_t)rng_below(&rng, 6);
        in.options.exposure = in.exposure;
        uint64_t max_pairs = 1 + rng_below(&rng, 2 * in.image_count);
        Rng a;
        rng_init(&a, (uint64_t)t);
        Error err;
        InformResult r;
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, NULL, &in.options, &a, &r, &err),
                         ERR_OK);
        uint32_t *now = calloc(in.image_count, sizeof *now);
        assert_non_null(now);
        for (size_t k = 0; k < r.pair_count; k++)
            now[r.pairs[k].a]++, now[r.pairs[k].b]++;
        for (size_t i = 0; i < in.image_count; i++)
            if (now[i] > 0)
                assert_true(in.exposure[i] + now[i] <= in.options.max_exposure);
        /* uncertain meets capped images among its window neighbours and
         * skips them; random leaves them out of its walk inside categories
         * (its bridges still meet and skip them) */
        assert_true((in.options.prefer == INFORM_RANDOM ? r.capped_images : r.exposure_skipped)
                        > 0
                    || in.image_count < 2);
        free(now);
        informative_result_release(&r);
        input_free(&in);
    }
}

/*
 * prefer random walks the pairs of the images with room only: a category of
 * 20,000 images all but 30 of which are at max_exposure (a queue full of
 * pending pairs) examines the 30's pairs, not the 200 million of the
 * category (which took minutes), and pairs exactly them.
 */
static void test_random_walks_only_images_with_room(void **state)
{
    (void)state;
    enum { IMAGES = 20000, OPEN = 30 };
    int32_t *category_of = calloc(IMAGES, sizeof *category_of);
    uint32_t *exposure = malloc(IMAGES * sizeof *exposure);
    assert_true(category_of != NULL && exposure != NULL);
    Rng rng;
    rng_init(&rng, 71);
    bool *open = calloc(IMAGES, sizeof *open);
    assert_non_null(open);
    for (size_t i = 0; i < IMAGES; i++)
        exposure[i] = 5;
    for (int k = 0; k < OPEN;) {
        size_t i = (size_t)rng_below(&rng, IMAGES);
        if (!open[i]) {
            open[i] = true, exposure[i] = 0;
            k++;
        }
    }
    InformOptions options = {.prefer = INFORM_RANDOM, .score_sigma = 0.1, .beta = 0.1,
                             .window = INFORM_DEFAULT_WINDOW, .exposure = exposure,
                             .max_exposure = 5};
    Rng a;
    rng_init(&a, 2);
    Error err;
    InformResult r;
    assert_int_equal(informative_select(category_of, IMAGES, 1, 100000, NULL, &options, &a, &r,
                                        &err),
                     ERR_OK);
    assert_int_equal(r.capped_images, IMAGES - OPEN);
    assert_true(r.candidates_examined <= (uint64_t)OPEN * (OPEN - 1) / 2);
    assert_int_equal(r.available, (uint64_t)OPEN * (OPEN - 1) / 2);
    assert_true(r.pair_count > 0);
    for (size_t k = 0; k < r.pair_count; k++)
        assert_true(open[r.pairs[k].a] && open[r.pairs[k].b]);
    informative_result_release(&r);
    free(open);
    free(category_of);
    free(exposure);
}

/* Among images of one exposure level or another, the least shown go first. */
static void test_least_shown_images_go_first(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 9);
    for (int t = 0; t < CASES; t++) {
        Input in;
        input_random(&rng, &in, 100 + (size_t)rng_below(&rng, 300), 1);
        in.options.prefer = rng_below(&rng, 2) ? INFORM_UNCERTAIN : INFORM_RANDOM;
        for (size_t i = 0; i < in.image_count; i++) {
            in.exposure[i] = rng_below(&rng, 2) ? 5 : 0;
            in.score[i] = 1.0; /* equal information: exposure decides */
            in.variance[i] = 0.04;
        }
        in.options.exposure = in.exposure;
        Rng a;
        rng_init(&a, (uint64_t)t);
        Error err;
        InformResult r;
        assert_int_equal(informative_select(in.category_of, in.image_count, 1,
                                            in.image_count / 8, NULL, &in.options, &a, &r, &err),
                         ERR_OK);
        size_t fresh = 0, shown = 0;
        for (size_t k = 0; k < r.pair_count; k++) {
            fresh += (in.exposure[r.pairs[k].a] == 0) + (in.exposure[r.pairs[k].b] == 0);
            shown += (in.exposure[r.pairs[k].a] > 0) + (in.exposure[r.pairs[k].b] > 0);
        }
        assert_true(fresh > 3 * shown);
        informative_result_release(&r);
        input_free(&in);
    }
}

static double cosine(const float *x, const float *y, size_t dim)
{
    double dot = 0, xx = 0, yy = 0;
    for (size_t d = 0; d < dim; d++)
        dot += (double)x[d] * y[d], xx += (double)x[d] * x[d], yy += (double)y[d] * y[d];
    return dot / sqrt(xx * yy);
}

static void test_near_duplicates_are_never_chosen(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 6);
    const size_t dim = 16;
    for (int t = 0; t < CASES; t++) {
        Input in;
        input_random(&rng, &in, 50 + (size_t)rng_below(&rng, 300), 1 + (int32_t)rng_below(&rng, 4));
        in.options.prefer = rng_below(&rng, 2) ? INFORM_UNCERTAIN : INFORM_RANDOM;
        float *embedding = malloc(in.image_count * dim * sizeof *embedding);
        assert_non_null(embedding);
        for (size_t i = 0; i < in.image_count * dim; i++)
            embedding[i] = (float)rng_normal(&rng);
        /* many images are a slight variation of another with a close score */
        for (size_t i = 1; i < in.image_count; i++)
            if (rng_below(&rng, 3) == 0) {
                for (size_t d = 0; d < dim; d++)
                    embedding[i * dim + d] = embedding[(i - 1) * dim + d]
                                             + 0.01f * (float)rng_normal(&rng);
                in.score[i] = in.score[i - 1];
            }
        in.options.embedding = embedding;
        in.options.dim = dim;
        in.options.has_max_similarity = true;
        in.options.max_similarity = 0.98;
        Rng a;
        rng_init(&a, (uint64_t)t);
        Error err;
        InformResult r;
        /* recompute categories: copies moved scores */
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            in.image_count, NULL, &in.options, &a, &r, &err),
                         ERR_OK);
        for (size_t k = 0; k < r.pair_count; k++)
            assert_true(cosine(embedding + r.pairs[k].a * dim, embedding + r.pairs[k].b * dim,
                               dim)
                        <= 0.98);
        assert_true(r.near_duplicates_skipped > 0);
        informative_result_release(&r);
        free(embedding);
        input_free(&in);
    }
}

static void test_candidates_examined_grow_linearly(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 7);
    uint64_t examined[2];
    size_t sizes[2] = {5000, 20000};
    for (int s = 0; s < 2; s++) {
        Input in;
        input_random(&rng, &in, sizes[s], 10);
        in.options.links = in.links;
        in.options.link_count = in.link_count;
        in.options.explore_fraction = 0.1;
        Rng a;
        rng_init(&a, 1);
        Error err;
        InformResult r;
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            1000, NULL, &in.options, &a, &r, &err),
                         ERR_OK);
        examined[s] = r.candidates_examined;
        /* at most window within and window cross candidates per image */
        assert_true(examined[s] <= 2 * sizes[s] * in.options.window);
        informative_result_release(&r);
        input_free(&in);
    }
    double ratio = (double)examined[1] / (double)examined[0];
    assert_true(ratio > 3.9 && ratio < 4.1);
}

static void test_show_first_is_a_fair_coin(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 8);
    Input in;
    input_random(&rng, &in, 20000, 20);
    Rng a;
    rng_init(&a, 8);
    Error err;
    InformResult r;
    assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                        20000, NULL, &in.options, &a, &r, &err),
                     ERR_OK);
    size_t first_a = 0;
    for (size_t k = 0; k < r.pair_count; k++)
        first_a += r.show_first[k] == 'a';
    /* Binomial(n, 1/2): |X - n/2| <= 3.29 sd has probability 0.999. */
    double n = (double)r.pair_count, sd = sqrt(n) / 2;
    assert_true(r.pair_count == 20000);
    assert_true(fabs((double)first_a - n / 2) <= 3.29 * sd);
    informative_result_release(&r);
    input_free(&in);
}

static void test_random_in_category_pairs_stay_in_their_category(void **state)
{
    (void)state;
    int32_t category_of[] = {0, 1, 0, -1, 1, 2, 0};
    Pair out[500];
    Rng rng;
    rng_init(&rng, 10);
    size_t got = 0;
    Error err;
    assert_int_equal(informative_random_pairs(category_of, 7, 500, &rng, out, &got, &err), ERR_OK);
    assert_int_equal(got, 500);
    for (size_t k = 0; k < got; k++) {
        assert_true(out[k].a < out[k].b);
        assert_int_equal(category_of[out[k].a], category_of[out[k].b]);
        assert_true(category_of[out[k].a] >= 0);
    }
    int32_t lonely[] = {0, 1, -1};
    assert_int_equal(informative_random_pairs(lonely, 3, 10, &rng, out, &got, &err), ERR_OK);
    assert_int_equal(got, 0);
}

/*
 * Two score bins, linked, window 1. What one side of the budget cannot use
 * goes to the other: with 10 + 10 images the bins hold 18 within
 * candidates, so the bridges take the rest of 26 pairs (3 would be their
 * 10%); with 10 + 1 images and every pair meant as a bridge, the lone
 * image's degree bound lets the bridges take 3, and the bigger bin the 7
 * left. (Score order: bin 0's images face distinct images of bin 1.)
 */
static void test_what_one_side_cannot_use_goes_to_the_other(void **state)
{
    (void)state;
    const struct {
        size_t low, high;          /* images in bin 0 and bin 1 */
        double fraction;
        uint64_t max_pairs, cross; /* cross: bridges expected */
    } cases[] = {{10, 10, 0.1, 26, 8}, {10, 1, 1.0, 10, 3}};
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        size_t n = cases[t].low + cases[t].high;
        int32_t category_of[32];
        double score[32];
        for (size_t i = 0; i < n; i++) {
            category_of[i] = i < cases[t].low ? 0 : 1;
            score[i] = (double)i / 10;
        }
        CategoryLink link = {0, 1};
        InformOptions options = {.prefer = INFORM_UNCERTAIN, .score = score,
                                 .score_sigma = 0.1, .beta = 0.1, .window = 1,
                                 .explore_fraction = cases[t].fraction, .links = &link,
                                 .link_count = 1};
        Rng rng;
        rng_init(&rng, 5 + t);
        Error err;
        InformResult r;
        assert_int_equal(informative_select(category_of, n, 2, cases[t].max_pairs, NULL,
                                            &options, &rng, &r, &err),
                         ERR_OK);
        assert_true(r.available >= cases[t].max_pairs);
        assert_int_equal(r.pair_count, cases[t].max_pairs);
        assert_int_equal(r.pair_count - r.within_count, cases[t].cross);
        PairSet *seen = pairset_new(64);
        for (size_t k = 0; k < r.pair_count; k++) {
            uint32_t a = r.pairs[k].a, b = r.pairs[k].b;
            assert_true(a != b && !pairset_contains(seen, a, b));
            assert_true(pairset_add(seen, a, b) >= 0);
            assert_int_equal(category_of[a] != category_of[b], k >= r.within_count);
        }
        pairset_free(seen);
        informative_result_release(&r);
    }
}

/*
 * 15.3: with prefer random, max_exposure and max_similarity only remove
 * candidates: 300 images in 3 categories of 100 and a budget above every
 * pair give all 3 x 4,950 = 14,850 pairs with either key set when it
 * excludes nothing, and with a key that does exclude, every pair it lets
 * through.
 */
static void test_random_keys_only_remove_candidates(void **state)
{
    (void)state;
    enum { IMAGES = 300, DIM = 4 };
    int32_t category_of[IMAGES];
    uint32_t exposure[IMAGES] = {0};
    float embedding[IMAGES * DIM];
    Rng rng;
    rng_init(&rng, 15);
    for (size_t i = 0; i < IMAGES; i++) {
        category_of[i] = (int32_t)(i % 3);
        for (size_t d = 0; d < DIM; d++)
            embedding[i * DIM + d] = (float)rng_normal(&rng);
    }
    for (int key = 0; key < 3; key++) {
        InformOptions options = {.prefer = INFORM_RANDOM, .score_sigma = 0.1, .beta = 0.1,
                                 .window = INFORM_DEFAULT_WINDOW, .exposure = exposure};
        if (key == 1)
            options.max_exposure = 1000;
        if (key == 2) {
            options.embedding = embedding;
            options.dim = DIM;
            options.has_max_similarity = true;
            options.max_similarity = 1.0;
        }
        Rng a;
        rng_init(&a, 3);
        Error err;
        InformResult r;
        assert_int_equal(informative_select(category_of, IMAGES, 3, 100000, NULL, &options, &a,
                                            &r, &err),
                         ERR_OK);
        assert_int_equal(r.available, 14850);
        assert_int_equal(r.pair_count, 14850);
        for (int c = 0; c < 3; c++)
            assert_int_equal(r.pairs_per_category[c], 4950);
        informative_result_release(&r);
    }
    /* images 0..29 already in 99 open pairs, max_exposure 100: each has
     * room for one more; every pair of two others stays available */
    for (size_t i = 0; i < 30; i++)
        exposure[i] = 99;
    InformOptions capped = {.prefer = INFORM_RANDOM, .score_sigma = 0.1, .beta = 0.1,
                            .window = INFORM_DEFAULT_WINDOW, .exposure = exposure,
                            .max_exposure = 100};
    Rng a;
    rng_init(&a, 3);
    Error err;
    InformResult r;
    assert_int_equal(informative_select(category_of, IMAGES, 3, 100000, NULL, &capped, &a, &r,
                                        &err),
                     ERR_OK);
    assert_int_equal(r.exposure_skipped, 0);
    uint32_t degree[IMAGES] = {0};
    size_t among_others = 0;
    for (size_t k = 0; k < r.pair_count; k++) {
        degree[r.pairs[k].a]++, degree[r.pairs[k].b]++;
        among_others += r.pairs[k].a >= 30 && r.pairs[k].b >= 30;
    }
    for (size_t i = 0; i < 30; i++)
        assert_true(degree[i] <= 1);
    assert_int_equal(among_others, 3 * 90 * 89 / 2); /* 90 other images per category */
    informative_result_release(&r);
}

static void test_uncertain_without_scores_is_a_data_error(void **state)
{
    (void)state;
    int32_t category_of[] = {0, 0};
    InformOptions options = {.prefer = INFORM_UNCERTAIN, .window = 4, .beta = 0.1,
                             .score_sigma = 0.1};
    Rng rng;
    rng_init(&rng, 1);
    Error err;
    InformResult r;
    assert_int_equal(informative_select(category_of, 2, 1, 1, NULL, &options, &rng, &r, &err),
                     ERR_DATA);
    assert_null(r.pairs);
}

/* The value is the expected ADF reduction of var_a + var_b over both outcomes
 * (weight NULL), symmetric, largest at equal means, larger with variance. */
static void test_informative_value_is_the_expected_variance_reduction(void **state)
{
    (void)state;
    double score[3] = {0.3, 0.3, 1.1}, variance[3] = {0.25, 0.64, 0.25};
    InformOptions o = {.prefer = INFORM_INFORMATIVE, .score = score, .variance = variance,
                       .score_sigma = 0.1, .beta = 0.3, .window = 8};
    for (uint32_t a = 0; a < 3; a++)
        for (uint32_t b = 0; b < 3; b++) {
            if (a == b)
                continue;
            double s2 = variance[a] + variance[b] + 2 * 0.3 * 0.3, s = sqrt(s2);
            double z = (score[a] - score[b]) / s, expected = 0;
            for (int y = -1; y <= 1; y += 2) {
                double zy = y * z, p = 0.5 * erfc(-zy / sqrt(2.0));
                double v = exp(-0.5 * zy * zy) / sqrt(2 * M_PI) / p, w = v * (v + zy);
                /* a beats b with probability Phi(z): the ADF shrink of each variance */
                expected += p * (variance[a] * variance[a] + variance[b] * variance[b]) / s2 * w;
            }
            assert_true(fabs(informative_pair_value(&o, NULL, a, b) - expected) < 1e-12);
            assert_true(fabs(informative_pair_value(&o, NULL, a, b)
                             - informative_pair_value(&o, NULL, b, a))
                        < 1e-15);
        }
    /* 0 and 1 share a mean: better than 0 and 2, which do not (same variances) */
    score[1] = 0.3, variance[1] = 0.25;
    assert_true(informative_pair_value(&o, NULL, 0, 1) > informative_pair_value(&o, NULL, 0, 2));
    variance[1] = 0.64;
    double wide = informative_pair_value(&o, NULL, 0, 1);
    variance[1] = 0.25;
    assert_true(wide > informative_pair_value(&o, NULL, 0, 1));
    double weight[3] = {1, 1, 4};
    assert_true(informative_pair_value(&o, weight, 0, 2) > informative_pair_value(&o, NULL, 0, 2));
}

/* prefer informative chooses sequentially: a pair taken shrinks its images'
 * variances as if answered, so the next pair goes to the other uncertain
 * image, not to a second comparison of the first. Image 0 (score 0) and
 * image 4 (score 3) are uncertain, the rest are anchors; as first picks,
 * 0's pairs with the anchors at 0 and -0.05 are both worth more than 4's
 * with the anchor at 3.1, and the degree bound (2) allows both. */
static void test_informative_spreads_over_the_uncertain_images(void **state)
{
    (void)state;
    double score[6] = {0, 0, -0.05, 0.1, 3, 3.1};
    double variance[6] = {1, 0.01, 0.01, 0.01, 1, 0.01};
    int32_t category_of[6] = {0, 0, 0, 0, 0, 0};
    InformOptions o = {.prefer = INFORM_INFORMATIVE, .score = score, .variance = variance,
                       .score_sigma = 0.1, .beta = 0.1, .window = 8};
    assert_true(informative_pair_value(&o, NULL, 0, 2) > informative_pair_value(&o, NULL, 4, 5));
    Rng rng;
    rng_init(&rng, 3);
    Error err;
    InformResult r;
    assert_int_equal(informative_select(category_of, 6, 1, 2, NULL, &o, &rng, &r, &err), ERR_OK);
    assert_int_equal(r.pair_count, 2);
    bool first = false, second = false;
    for (size_t k = 0; k < r.pair_count; k++) {
        first |= r.pairs[k].a == 0 && r.pairs[k].b == 1;
        second |= r.pairs[k].a == 4 && r.pairs[k].b == 5;
    }
    assert_true(first);
    assert_true(second);
    informative_result_release(&r);
}

/* prefer informative: min(max_pairs, candidates) pairs, never twice, none
 * excluded, each inside a category or across a link, reproducible, and
 * candidates linear in N. */
static void test_informative_guarantees_hold(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 18);
    for (int t = 0; t < CASES; t++) {
        Input in;
        input_random(&rng, &in, 20 + (size_t)rng_below(&rng, 600), 1 + (int32_t)rng_below(&rng, 10));
        in.options.prefer = INFORM_INFORMATIVE;
        in.options.links = in.links;
        in.options.link_count = in.link_count;
        PairSet *exclude = pairset_new(16);
        assert_non_null(exclude);
        for (int k = 0; k < 20; k++) {
            uint32_t a = (uint32_t)rng_below(&rng, in.image_count);
            uint32_t b = (uint32_t)rng_below(&rng, in.image_count);
            if (a != b)
                assert_true(pairset_add(exclude, a < b ? a : b, a < b ? b : a) >= 0);
        }
        uint64_t max_pairs = 1 + rng_below(&rng, 3 * in.image_count);
        Rng a, b;
        rng_init(&a, (uint64_t)t);
        b = a;
        Error err;
        InformResult r, again;
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, exclude, &in.options, &a, &r, &err),
                         ERR_OK);
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, exclude, &in.options, &b, &again, &err),
                         ERR_OK);
        assert_int_equal(r.pair_count, max_pairs < r.available ? max_pairs : r.available);
        assert_int_equal(r.pair_count, again.pair_count);
        assert_memory_equal(r.pairs, again.pairs, r.pair_count * sizeof *r.pairs);
        assert_true(r.candidates_examined <= in.image_count * in.options.window * 3);
        PairSet *seen = pairset_new(r.pair_count + 1);
        assert_non_null(seen);
        for (size_t k = 0; k < r.pair_count; k++) {
            Pair p = r.pairs[k];
            assert_true(p.a < p.b && p.b < in.image_count);
            assert_int_equal(pairset_add(seen, p.a, p.b), 1);
            assert_false(pairset_contains(exclude, p.a, p.b));
            int32_t x = bin(&in, p.a), y = bin(&in, p.b);
            assert_true(k < r.within_count ? x == y : (x - y == 1 || y - x == 1));
        }
        pairset_free(seen);
        pairset_free(exclude);
        informative_result_release(&r);
        informative_result_release(&again);
        input_free(&in);
    }
}

/* max_comparisons: annotated + pending + this run's pairs never pass the
 * cap, and capped_images counts the images already at a cap. */
static void test_max_comparisons_counts_annotated_and_pending(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 19);
    for (int t = 0; t < CASES; t++) {
        Input in;
        input_random(&rng, &in, 50 + (size_t)rng_below(&rng, 400), 1 + (int32_t)rng_below(&rng, 5));
        int which = (int)rng_below(&rng, 3);
        in.options.prefer = which == 0 ? INFORM_RANDOM : which == 1 ? INFORM_UNCERTAIN
                                                                    : INFORM_INFORMATIVE;
        uint32_t *comparisons = malloc(in.image_count * sizeof *comparisons);
        assert_non_null(comparisons);
        in.options.max_comparisons = 1 + (uint32_t)rng_below(&rng, 5);
        uint64_t capped = 0;
        for (size_t i = 0; i < in.image_count; i++) {
            comparisons[i] = (uint32_t)rng_below(&rng, 6);
            in.exposure[i] = (uint32_t)rng_below(&rng, 2);
            capped += comparisons[i] + in.exposure[i] >= in.options.max_comparisons;
        }
        in.options.comparisons = comparisons;
        in.options.exposure = in.exposure;
        Rng a;
        rng_init(&a, (uint64_t)t);
        Error err;
        InformResult r;
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            2 * in.image_count, NULL, &in.options, &a, &r, &err),
                         ERR_OK);
        assert_int_equal(r.capped_images, capped);
        uint32_t *now = calloc(in.image_count, sizeof *now);
        assert_non_null(now);
        for (size_t k = 0; k < r.pair_count; k++)
            now[r.pairs[k].a]++, now[r.pairs[k].b]++;
        for (size_t i = 0; i < in.image_count; i++)
            if (now[i] > 0)
                assert_true(comparisons[i] + in.exposure[i] + now[i] <= in.options.max_comparisons);
        free(now);
        free(comparisons);
        informative_result_release(&r);
        input_free(&in);
    }
}



/*
 * prefer informative holds memory linear in the images with a small
 * constant, not its N x window candidates: 200,000 images in 10 score bins
 * (about 3 million candidates within and across the bins) choose their
 * 2,000 pairs under an address-space limit (RLIMIT_AS) of 48 bytes an
 * image plus 8 MB above what the process holds.
 */
static void test_informative_memory_is_bounded(void **state)
{
    (void)state;
#ifdef PAIRPICK_ASAN
    skip(); /* AddressSanitizer reserves address space and aborts on failure */
#else
    enum { IMAGES = 200000, PAIRS = 2000 };
    Input in;
    Rng rng;
    rng_init(&rng, 61);
    input_random(&rng, &in, IMAGES, 10);
    in.options.prefer = INFORM_INFORMATIVE;
    in.options.links = in.links;
    in.options.link_count = in.link_count;
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_AS, &saved), 0);
    size_t held = address_space();
    if (held == 0)
        skip();
    struct rlimit limited = saved;
    limited.rlim_cur = held + (size_t)IMAGES * 48 + (8u << 20);
    if (saved.rlim_cur != RLIM_INFINITY && saved.rlim_cur < limited.rlim_cur)
        limited.rlim_cur = saved.rlim_cur;
    InformResult r;
    Error err;
    assert_int_equal(setrlimit(RLIMIT_AS, &limited), 0);
    int code = informative_select(in.category_of, in.image_count, in.category_count, PAIRS,
                                  NULL, &in.options, &rng, &r, &err);
    assert_int_equal(setrlimit(RLIMIT_AS, &saved), 0);
    if (code != ERR_OK)
        print_message("informative_select: %s\n", err.message);
    assert_int_equal(code, ERR_OK);
    assert_int_equal(r.pair_count, PAIRS);
    assert_true(r.candidates_examined > (uint64_t)IMAGES * 8);
    informative_result_release(&r);
    input_free(&in);
#endif
}

/*
 * options.memory_cap: a cap that cannot hold the per-image arrays is
 * ERR_DATA naming resources.memory_limit; a cap that holds them and a heap
 * of a few thousand candidates (far fewer than the candidates) gives the
 * same number of pairs, under every guarantee, as no cap.
 */
static void test_informative_memory_cap_fails_or_walks_again(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 62);
    for (int t = 0; t < 8; t++) {
        Input in;
        input_random(&rng, &in, 5000 + (size_t)rng_below(&rng, 5000), 1 + (int32_t)rng_below(&rng, 10));
        in.options.prefer = INFORM_INFORMATIVE;
        in.options.links = in.links;
        in.options.link_count = in.link_count;
        uint64_t max_pairs = 1 + rng_below(&rng, in.image_count);
        InformResult free_run, capped;
        Error err;
        Rng a, b;
        rng_init(&a, (uint64_t)t);
        b = a;
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, NULL, &in.options, &a, &free_run, &err),
                         ERR_OK);

        in.options.memory_cap = in.image_count * 10;
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, NULL, &in.options, &b, &capped, &err),
                         ERR_DATA);
        assert_non_null(strstr(err.message, "resources.memory_limit"));
        assert_null(capped.pairs);

        /* 20 bytes an image, 41 a pair, the categories, and 2,048 candidates */
        in.options.memory_cap = in.image_count * 20 + max_pairs * 41
                                + ((size_t)in.category_count + 2) * 24 + 2048 * 16;
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, NULL, &in.options, &b, &capped, &err),
                         ERR_OK);
        assert_int_equal(capped.pair_count, free_run.pair_count);
        assert_int_equal(capped.available, free_run.available);
        PairSet *seen = pairset_new(capped.pair_count + 1);
        assert_non_null(seen);
        for (size_t k = 0; k < capped.pair_count; k++) {
            Pair p = capped.pairs[k];
            assert_true(p.a < p.b && p.b < in.image_count);
            assert_int_equal(pairset_add(seen, p.a, p.b), 1);
            int32_t x = bin(&in, p.a), y = bin(&in, p.b);
            assert_true(k < capped.within_count ? x == y : (x - y == 1 || y - x == 1));
        }
        pairset_free(seen);
        informative_result_release(&free_run);
        informative_result_release(&capped);
        input_free(&in);
    }
}

/* Whether two results hold the same pairs in the same order. */
static bool same_pairs(const InformResult *x, const InformResult *y)
{
    if (x->pair_count != y->pair_count || x->within_count != y->within_count)
        return false;
    for (size_t k = 0; k < x->pair_count; k++)
        if (x->pairs[k].a != y->pairs[k].a || x->pairs[k].b != y->pairs[k].b)
            return false;
    return true;
}

/*
 * options.memory_cap bounds prefer uncertain and the random selector too
 * (max_exposure makes prefer random use it). held_most, the most a run
 * without a cap counted, is at least the window candidates (uncertain) or
 * the per-image arrays (random); a cap of exactly that gives the same pairs
 * and fits an address-space limit of that cap plus 1 MB above what the
 * process holds, so the count covers what is allocated; a byte less is
 * ERR_DATA naming resources.memory_limit and the policy, and no pairs.
 */
static void test_selector_memory_cap_bounds_uncertain_and_random(void **state)
{
    (void)state;
    Rng rng;
    rng_init(&rng, 63);
    for (int t = 0; t < 6; t++) {
        Input in;
        bool uncertain = t % 2 == 0;
        /* random keeps about twice the budget: enough images that what it
         * keeps is several times the address-space slack below */
        input_random(&rng, &in,
                     uncertain ? 5000 + (size_t)rng_below(&rng, 20000)
                               : 30000 + (size_t)rng_below(&rng, 20000),
                     1 + (int32_t)rng_below(&rng, 10));
        in.options.prefer = uncertain ? INFORM_UNCERTAIN : INFORM_RANDOM;
        in.options.max_exposure = uncertain ? 0 : 3;
        in.options.exposure = in.exposure;
        in.options.window = 1 + (size_t)rng_below(&rng, 24);
        in.options.links = in.links;
        in.options.link_count = in.link_count;
        in.options.explore_fraction = 0.1;
        uint64_t max_pairs = uncertain ? 1 + rng_below(&rng, 2 * in.image_count)
                                       : in.image_count + rng_below(&rng, in.image_count);
        InformResult free_run, capped;
        Error err;
        Rng a, b;
        rng_init(&a, (uint64_t)t);
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, NULL, &in.options, &a, &free_run, &err),
                         ERR_OK);
        size_t need = (size_t)free_run.held_most, members = 0;
        for (size_t i = 0; i < in.image_count; i++)
            members += uncertain ? isfinite(in.score[i]) : 1;
        if (uncertain)
            assert_true(need >= members * in.options.window * (sizeof(uint64_t) * 3 + 1));
        else
            assert_true(need >= in.image_count * 16);

        in.options.memory_cap = need - 1;
        rng_init(&b, (uint64_t)t);
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            max_pairs, NULL, &in.options, &b, &capped, &err),
                         ERR_DATA);
        assert_non_null(strstr(err.message, "resources.memory_limit"));
        assert_non_null(strstr(err.message, uncertain ? "prefer uncertain" : "prefer random"));
        assert_null(capped.pairs);

        in.options.memory_cap = need;
        rng_init(&b, (uint64_t)t);
        struct rlimit saved, limited;
        assert_int_equal(getrlimit(RLIMIT_AS, &saved), 0);
        limited = saved;
#ifndef PAIRPICK_ASAN
        /* the cap counts what is allocated: a run with it fits the cap plus 1 MB */
        size_t held = address_space();
        if (held > 0) {
            limited.rlim_cur = held + need + (1u << 20);
            if (saved.rlim_cur != RLIM_INFINITY && saved.rlim_cur < limited.rlim_cur)
                limited.rlim_cur = saved.rlim_cur;
        }
#endif
        assert_int_equal(setrlimit(RLIMIT_AS, &limited), 0);
        int code = informative_select(in.category_of, in.image_count, in.category_count,
                                      max_pairs, NULL, &in.options, &b, &capped, &err);
        assert_int_equal(setrlimit(RLIMIT_AS, &saved), 0);
        if (code != ERR_OK)
            print_message("informative_select under %zu bytes: %s\n", need, err.message);
        assert_int_equal(code, ERR_OK);
        assert_true(same_pairs(&capped, &free_run));
        informative_result_release(&capped);
        informative_result_release(&free_run);
        input_free(&in);
    }
}

/* Once SIGTERM arrived, every kind of selection stops with the cancel error and no result. */
static void test_cancelled_selection_returns_tempfail(void **state)
{
    (void)state;
    InformPrefer prefers[] = {INFORM_RANDOM, INFORM_UNCERTAIN, INFORM_INFORMATIVE};
    Input in;
    Rng rng;
    rng_init(&rng, 53);
    input_random(&rng, &in, 20000, 4);
    in.options.links = in.links;
    in.options.link_count = in.link_count;
    in.options.explore_fraction = 0.2;
    cancel_install();
    for (int p = 0; p < 3; p++) {
        InformResult result;
        Error err;
        in.options.prefer = prefers[p];
        raise(SIGTERM);
        int code = informative_select(in.category_of, in.image_count, in.category_count, 50000,
                                      NULL, &in.options, &rng, &result, &err);
        cancel_reset();
        assert_int_equal(code, ERR_TEMPFAIL);
        assert_string_equal(err.message, "cancelled by signal 15");
        assert_null(result.pairs);
        assert_int_equal(result.pair_count, 0);
        /* The signal forgotten, the same selection runs to the end. */
        assert_int_equal(informative_select(in.category_of, in.image_count, in.category_count,
                                            50000, NULL, &in.options, &rng, &result, &err),
                         ERR_OK);
        assert_true(result.pair_count > 0);
        informative_result_release(&result);
    }
    input_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uncertain_beats_random_on_the_same_input),
        cmocka_unit_test(test_guarantees_hold_and_the_budget_is_shared),
        cmocka_unit_test(test_equal_scores_prefer_large_variance),
        cmocka_unit_test(test_explore_fraction_gives_its_share_of_bridges),
        cmocka_unit_test(test_max_exposure_is_never_exceeded),
        cmocka_unit_test(test_least_shown_images_go_first),
        cmocka_unit_test(test_random_walks_only_images_with_room),
        cmocka_unit_test(test_near_duplicates_are_never_chosen),
        cmocka_unit_test(test_candidates_examined_grow_linearly),
        cmocka_unit_test(test_show_first_is_a_fair_coin),
        cmocka_unit_test(test_random_in_category_pairs_stay_in_their_category),
        cmocka_unit_test(test_what_one_side_cannot_use_goes_to_the_other),
        cmocka_unit_test(test_random_keys_only_remove_candidates),
        cmocka_unit_test(test_uncertain_without_scores_is_a_data_error),
        cmocka_unit_test(test_informative_value_is_the_expected_variance_reduction),
        cmocka_unit_test(test_informative_spreads_over_the_uncertain_images),
        cmocka_unit_test(test_informative_guarantees_hold),
        cmocka_unit_test(test_max_comparisons_counts_annotated_and_pending),
        cmocka_unit_test(test_cancelled_selection_returns_tempfail),
        cmocka_unit_test(test_informative_memory_is_bounded),
        cmocka_unit_test(test_informative_memory_cap_fails_or_walks_again),
        cmocka_unit_test(test_selector_memory_cap_bounds_uncertain_and_random),
    };
    return cmocka_run_group_tests_name("informative", tests, NULL, NULL);
}
