#include "numeric/informative.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cancel.h"

/* Labels of the rng streams, so each part draws independently. */
#define TIE_LABEL UINT64_C(0x746965)       /* "tie" */
#define SHARE_LABEL UINT64_C(0x7368617265) /* "share" */
#define COIN_LABEL UINT64_C(0x636f696e)    /* "coin" */

/* One candidate pair, with what orders it: best first. */
typedef struct Candidate {
    uint32_t a, b;
    double priority;
    uint64_t tie;
} Candidate;

static int compare_candidate(const void *x, const void *y)
{
    const Candidate *p = x, *q = y;
    if (p->priority != q->priority)
        return p->priority > q->priority ? -1 : 1;
    return (p->tie > q->tie) - (p->tie < q->tie);
}

static double variance_of(const InformOptions *options, uint32_t image)
{
    double variance = options->variance != NULL ? options->variance[image] : NAN;
    return isfinite(variance) && variance >= 0 ? variance
                                               : options->score_sigma * options->score_sigma;
}

/*
 * A pair's information and variance sum scaled by 2^-scale (scale even,
 * >= 2): scores and variances are scaled before they are added, so
 * neither var_a + var_b nor score_a - score_b overflows for finite inputs
 * (scores of +-1e308, variances of 1e308). Powers of two scale exactly, so
 * p is the same as unscaled arithmetic would give wherever that is finite.
 */
static double pair_information_scaled(const InformOptions *options, uint32_t a, uint32_t b,
                                      int scale, double *p, double *variance_sum)
{
    if (options->score == NULL || !isfinite(options->score[a]) || !isfinite(options->score[b])) {
        if (p != NULL)
            *p = 0.5;
        if (variance_sum != NULL)
            *variance_sum = 0;
        return 0;
    }
    double sum = ldexp(variance_of(options, a), -scale) + ldexp(variance_of(options, b), -scale);
    double beta = ldexp(options->beta, -scale / 2);
    double spread = sqrt(sum + 2 * beta * beta);
    double difference = ldexp(options->score[a], -scale / 2) - ldexp(options->score[b], -scale / 2);
    double z = spread > 0 ? difference / spread : 0;
    double win = 0.5 * erfc(-z / sqrt(2.0));
    double entropy = 0;
    if (win > 0 && win < 1)
        entropy = -win * log2(win) - (1 - win) * log2(1 - win);
    if (p != NULL)
        *p = win;
    if (variance_sum != NULL)
        *variance_sum = sum;
    return entropy * sum;
}

double informative_pair_information(const InformOptions *options, uint32_t a, uint32_t b,
                                    double *p, double *variance_sum)
{
    double information = pair_information_scaled(options, a, b, 2, p, variance_sum);
    if (variance_sum != NULL)
        *variance_sum = ldexp(*variance_sum, 2);
    return ldexp(information, 2);
}

/*
 * informative_pair_value with the two variances given: the ADF expected
 * shrink of each image's variance, weighted. *shrink_a and *shrink_b (may be
 * NULL) receive the unweighted expected shrinks var^2 / s^2 * phi^2 /
 * (Phi Phi-).
 */
static double pair_value(const InformOptions *options, uint32_t a, uint32_t b, double va,
                         double vb, double wa, double wb, double *shrink_a, double *shrink_b)
{
    if (shrink_a != NULL)
        *shrink_a = 0;
    if (shrink_b != NULL)
        *shrink_b = 0;
    if (options->score == NULL || !isfinite(options->score[a]) || !isfinite(options->score[b]))
        return 0;
    double s2 = va + vb + 2 * options->beta * options->beta;
    if (!(s2 > 0))
        return 0;
    double z = (options->score[a] - options->score[b]) / sqrt(s2);
    /* Phi(-|z|), the smaller side, in full precision; the other is 1 minus it. */
    double tail = 0.5 * erfc(fabs(z) / sqrt(2.0));
    if (!(tail > 0))
        return 0;
    /* phi(z)^2 / (Phi(z) Phi(-z)): 2/pi at z = 0, falling like 2|z| phi(z) */
    double density = exp(-0.5 * z * z) / sqrt(2 * M_PI);
    double learned = density * density / (tail * (1 - tail));
    double da = va / s2 * va * learned, db = vb / s2 * vb * learned;
    double value = wa * da + wb * db;
    /* Variances near DBL_MAX overflow: such a pair is valued 0 and shrinks nothing. */
    if (!isfinite(value) || !isfinite(da) || !isfinite(db))
        return 0;
    if (shrink_a != NULL)
        *shrink_a = da;
    if (shrink_b != NULL)
        *shrink_b = db;
    return value;
}

double informative_pair_value(const InformOptions *options, const double *weight, uint32_t a,
                              uint32_t b)
{
    return pair_value(options, a, b, variance_of(options, a), variance_of(options, b),
                      weight != NULL ? weight[a] : 1, weight != NULL ? weight[b] : 1, NULL, NULL);
}

void informative_measure(const InformOptions *options, const Pair *pairs, size_t pair_count,
                         InformStats *stats)
{
    memset(stats, 0, sizeof *stats);
    /* Sums of scaled terms (2^-scale, scale even and at least 2 + log2 of
     * the pairs): no partial sum overflows; a figure is infinite only when
     * its true value is beyond DBL_MAX. */
    int scale = 2;
    while (scale < 64 && ((uint64_t)1 << (scale - 2)) < (uint64_t)pair_count)
        scale += 2;
    double distance = 0, variance = 0, information = 0;
    for (size_t i = 0; i < pair_count; i++) {
        double p, sum;
        if (options->score == NULL || !isfinite(options->score[pairs[i].a])
            || !isfinite(options->score[pairs[i].b]))
            continue;
        information += pair_information_scaled(options, pairs[i].a, pairs[i].b, scale, &p, &sum);
        distance += fabs(p - 0.5);
        variance += sum;
        stats->pair_count++;
    }
    stats->information_sum = ldexp(information, scale);
    if (stats->pair_count > 0) {
        stats->mean_p_distance = distance / (double)stats->pair_count;
        stats->mean_variance_sum = ldexp(variance / (double)stats->pair_count, scale);
    }
}

int informative_random_pairs(const int32_t *category_of, size_t image_count, size_t count,
                             Rng *rng, Pair *out, size_t *written, Error *err)
{
    int32_t categories = 0;
    size_t paired = 0;
    int code = ERR_OK;

    *written = 0;
    for (size_t i = 0; i < image_count; i++)
        if (category_of[i] >= categories)
            categories = category_of[i] + 1;
    size_t *start = calloc((size_t)categories + 2, sizeof *start);
    uint32_t *members = malloc((image_count + 1) * sizeof *members);
    uint32_t *pairable = malloc((image_count + 1) * sizeof *pairable);
    if (start == NULL || members == NULL || pairable == NULL) {
        code = error_nomem(err, (image_count + 1) * sizeof *members);
        goto done;
    }
    for (size_t i = 0; i < image_count; i++)
        if (category_of[i] >= 0)
            start[category_of[i] + 2]++;
    for (int32_t c = 0; c < categories; c++)
        start[c + 2] += start[c + 1];
    for (size_t i = 0; i < image_count; i++)
        if (category_of[i] >= 0)
            members[start[category_of[i] + 1]++] = (uint32_t)i;
    /* Images whose category has another image to pair with. */
    for (size_t i = 0; i < image_count; i++)
        if (category_of[i] >= 0 && start[category_of[i] + 1] - start[category_of[i]] >= 2)
            pairable[paired++] = (uint32_t)i;
    if (paired == 0)
        goto done;
    for (size_t k = 0; k < count; k++) {
        uint32_t a = pairable[rng_below(rng, paired)];
        int32_t c = category_of[a];
        size_t n = start[c + 1] - start[c];
        uint32_t b = members[start[c] + rng_below(rng, n - 1)];
        if (b == a)
            b = members[start[c] + n - 1];
        out[k].a = a < b ? a : b;
        out[k].b = a < b ? b : a;
    }
    *written = count;
done:
    free(start);
    free(members);
    free(pairable);
    return code;
}

/* ---- selection --------------------------------------------------------- */

typedef struct Selector {
    const InformOptions *options;
    const PairSet *exclude;
    size_t image_count;
    uint64_t *tie_of;      /* per image: a random key, the order among equal scores */
    double *inverse_norm;  /* per image, for max_similarity; NULL otherwise */
    uint32_t *room;        /* per image: pairs it may still join (max_exposure) */
    uint32_t *degree;      /* per image: pairs chosen in this run, in the current phase */
    Rng tie_rng;
    InformResult *result;
    uint64_t held; /* bytes of the arrays it holds, against options->memory_cap */
    uint64_t held_most;
} Selector;

/*
 * Counts `bytes` more that the selector is about to hold against
 * options->memory_cap (0: no cap): ERR_DATA, naming resources.memory_limit
 * and what needed the room, when they do not fit.
 */
static int selector_hold(Selector *s, uint64_t bytes, const char *what, Error *err)
{
    const InformOptions *o = s->options;
    uint64_t held = bytes > UINT64_MAX - s->held ? UINT64_MAX : s->held + bytes;
    if (o->memory_cap > 0 && held > o->memory_cap) {
        size_t left = o->memory_cap > 1 ? o->memory_cap : 0; /* 1: nothing was left */
        bool uncertain = o->prefer == INFORM_UNCERTAIN;
        return error_set(err, ERR_DATA,
                         "resources.memory_limit leaves %zu bytes for choosing pairs among %zu "
                         "images besides the images and the pairs already stored, and prefer "
                         "%s needs %llu at least (%s)"
                         "\nHINT: raise resources.memory_limit by at least %.0f MB, or lower "
                         "strategy.%s",
                         left, s->image_count, uncertain ? "uncertain" : "random",
                         (unsigned long long)held, what, ceil((double)(held - left) / 1e6),
                         uncertain ? "window" : "max_pairs");
    }
    s->held = held;
    if (held > s->held_most)
        s->held_most = held;
    return ERR_OK;
}

/* The selector no longer holds `bytes` (freed). */
static void selector_unhold(Selector *s, uint64_t bytes)
{
    s->held = bytes < s->held ? s->held - bytes : 0;
}

/* Whether a and b are over max_similarity; inverse_norm from inverse_norms_of. */
static bool near_duplicate(const InformOptions *o, const double *inverse_norm, uint32_t a,
                           uint32_t b)
{
    if (!o->has_max_similarity || o->embedding == NULL || o->dim == 0)
        return false;
    const float *x = o->embedding + (size_t)a * o->dim, *y = o->embedding + (size_t)b * o->dim;
    double dot = 0;
    for (size_t d = 0; d < o->dim; d++)
        dot += (double)x[d] * y[d];
    return dot * inverse_norm[a] * inverse_norm[b] > o->max_similarity;
}

static uint32_t exposure_of(const Selector *s, uint32_t image)
{
    return s->options->exposure != NULL ? s->options->exposure[image] : 0;
}

static uint32_t comparisons_of(const Selector *s, uint32_t image)
{
    return s->options->comparisons != NULL ? s->options->comparisons[image] : 0;
}

/* Pairs image may still join under a cap (0: no cap), having used `used`. */
static uint32_t room_under(uint32_t cap, uint32_t used)
{
    return cap == 0 ? UINT32_MAX : used >= cap ? 0 : cap - used;
}

/*
 * Counts the candidate and, unless a filter drops it, appends it. False
 * when the pair is already stored (exclude), so a caller walking
 * neighbours can take the next one instead.
 */
static bool consider(Selector *s, uint32_t x, uint32_t y, Candidate *out, size_t *count)
{
    InformResult *r = s->result;
    r->candidates_examined++;
    if (x == y || pairset_contains(s->exclude, x, y))
        return false;
    if (s->room[x] == 0 || s->room[y] == 0) {
        r->exposure_skipped++;
        return true;
    }
    if (near_duplicate(s->options, s->inverse_norm, x, y)) {
        r->near_duplicates_skipped++;
        return true;
    }
    Candidate *c = &out[(*count)++];
    c->a = x < y ? x : y;
    c->b = x < y ? y : x;
    uint32_t shown = exposure_of(s, x) + exposure_of(s, y);
    if (s->options->prefer == INFORM_UNCERTAIN)
        c->priority = informative_pair_information(s->options, x, y, NULL, NULL) / (1.0 + shown);
    else
        c->priority = -(double)shown;
    c->tie = rng_next(&s->tie_rng);
    return true;
}

/* The order along which neighbours are taken: score (uncertain), then a
 * random key per image; random order alone with prefer random. */
typedef struct OrderKey {
    double score;
    uint64_t tie;
    uint32_t image;
} OrderKey;

static int compare_key(const void *x, const void *y)
{
    const OrderKey *p = x, *q = y;
    if (p->score != q->score)
        return p->score < q->score ? -1 : 1;
    return (p->tie > q->tie) - (p->tie < q->tie);
}

static OrderKey key_of(const Selector *s, uint32_t image)
{
    OrderKey key = {.score = 0, .tie = s->tie_of[image], .image = image};
    if (s->options->prefer != INFORM_RANDOM)
        key.score = s->options->score[image];
    return key;
}

static bool before(const Selector *s, uint32_t x, uint32_t y)
{
    OrderKey p = key_of(s, x), q = key_of(s, y);
    return compare_key(&p, &q) < 0;
}

static void sort_images(const Selector *s, uint32_t *images, size_t count, OrderKey *scratch)
{
    for (size_t i = 0; i < count; i++)
        scratch[i] = key_of(s, images[i]);
    qsort(scratch, count, sizeof *scratch, compare_key);
    for (size_t i = 0; i < count; i++)
        images[i] = scratch[i].image;
}

/*
 * Where the window of image a[i] starts in b (both sorted): centred on a[i]'s
 * place among b. Where a[i] lies beyond all of b (disjoint score bins), the
 * boundary mirrors: the k-th image of a from the boundary faces the k-th of
 * b, so the pairs spread over both sides instead of all meeting b's edge.
 */
static size_t window_start(size_t place, size_t i, size_t below_b, size_t above_b, size_t n_b,
                           size_t width)
{
    size_t centre = place;
    if (place == 0 && i < below_b)
        centre = below_b - 1 - i;                   /* a[i] below all of b */
    else if (place == n_b && i >= above_b)
        centre = n_b - 1 - (i - above_b) % n_b;     /* a[i] above all of b */
    size_t first = centre > width / 2 ? centre - width / 2 : 0;
    return first + width > n_b ? n_b - width : first;
}

/*
 * Greedy: the best candidates first, each taken while both images are below
 * the degree bound and have room; at most quota. Marks taken candidates.
 */
static size_t take_best(Selector *s, const Candidate *candidates, size_t count, uint64_t quota,
                        uint32_t bound, uint8_t *taken)
{
    size_t got = 0;
    for (size_t k = 0; k < count && got < quota; k++) {
        uint32_t a = candidates[k].a, b = candidates[k].b;
        if (s->degree[a] >= bound || s->degree[b] >= bound || s->room[a] == 0 || s->room[b] == 0)
            continue;
        s->degree[a]++, s->degree[b]++;
        s->room[a]--, s->room[b]--;
        taken[k] = 1;
        got++;
    }
    return got;
}

static void untake(Selector *s, const Candidate *candidates, size_t count, uint8_t *taken)
{
    for (size_t k = 0; k < count; k++)
        if (taken[k]) {
            s->degree[candidates[k].a]--, s->degree[candidates[k].b]--;
            s->room[candidates[k].a]++, s->room[candidates[k].b]++;
            taken[k] = 0;
        }
}

static uint32_t degree_bound(uint64_t quota, size_t images)
{
    return images == 0 ? 0 : (uint32_t)((2 * quota + images - 1) / images + 1);
}

/* Images of each category, in the order their neighbours are taken. */
typedef struct Members {
    size_t *start;   /* category c: image[start[c] .. start[c + 1]] (categories + 2 entries) */
    uint32_t *image;
} Members;

/* The within-category candidates and how far each category got. */
typedef struct Within {
    size_t categories;
    const size_t *start;  /* Members.start: the images of each category */
    size_t *cand_start;   /* category c's candidates: cand_start[c] .. cand_start[c + 1] */
    Candidate *candidates; /* by category, best first in each */
    size_t count;
    uint8_t *taken;
    size_t *quota;        /* per category, this round's */
    size_t *capacity;     /* candidates; what it got once locked */
    uint8_t *locked;      /* could not fill its quota: keeps what it got */
    size_t *scratch;      /* per category, borrowed from the result */
} Within;

/* The cross-category candidates, by link. */
typedef struct Cross {
    size_t links;
    size_t *start;         /* link l's candidates: start[l] .. start[l + 1] */
    size_t *next;          /* per link: the next candidate to try, round-robin */
    Candidate *candidates; /* by link, best first in each */
    size_t count;
    uint8_t *taken;
} Cross;

/*
 * Rounds of water-filling of budget over the open categories: a category
 * that cannot fill its quota under the degree bound is locked with what it
 * got, and the budget is shared again among the others, until every open
 * category fills its quota. Called again with a larger budget, the open
 * categories choose again from scratch; s->degree must hold the within
 * degrees of the pairs taken so far.
 */
static int fill_within(Selector *s, Within *w, uint64_t budget, Rng *stream, Error *err)
{
    uint64_t locked_total = 0;
    for (size_t c = 0; c < w->categories; c++)
        if (w->locked[c])
            locked_total += w->capacity[c];
    for (;;) {
        uint64_t open_sum = 0;
        for (size_t c = 0; c < w->categories; c++) {
            w->scratch[c] = w->locked[c] ? 0 : w->capacity[c];
            open_sum += w->scratch[c];
        }
        uint64_t left = budget > locked_total ? budget - locked_total : 0;
        if (left > open_sum)
            left = open_sum;
        int code = pairs_share_budget(w->scratch, (int32_t)w->categories, left, stream, w->quota,
                                      err);
        if (code != ERR_OK)
            return code;
        bool short_any = false;
        for (size_t c = 0; c < w->categories; c++) {
            if (w->locked[c])
                continue;
            if ((code = cancel_check(err)) != ERR_OK)
                return code;
            size_t first = w->cand_start[c], here = w->cand_start[c + 1] - first;
            untake(s, w->candidates + first, here, w->taken + first);
            if (w->quota[c] == 0)
                continue;
            size_t got = take_best(s, w->candidates + first, here, w->quota[c],
                                   degree_bound(w->quota[c], w->start[c + 1] - w->start[c]),
                                   w->taken + first);
            if (got < w->quota[c]) {
                w->locked[c] = 1;
                w->capacity[c] = got;
                locked_total += got;
                short_any = true;
            }
        }
        if (!short_any)
            return ERR_OK;
    }
}

/* Within pairs taken so far; with degree non-NULL, their degrees into it. */
static uint64_t within_taken(const Within *w, uint32_t *degree, size_t image_count)
{
    uint64_t got = 0;
    if (degree != NULL)
        memset(degree, 0, image_count * sizeof *degree);
    for (size_t k = 0; k < w->cand_start[w->categories]; k++)
        if (w->taken[k]) {
            got++;
            if (degree != NULL)
                degree[w->candidates[k].a]++, degree[w->candidates[k].b]++;
        }
    return got;
}

static int check_select_input(const int32_t *category_of, size_t image_count,
                              int32_t category_count, const InformOptions *options, Error *err)
{
    int code = pairs_check_input(category_of, image_count, category_count, err);
    if (code != ERR_OK)
        return code;
    /* No images (an empty selection) need no scores: nothing to do. */
    if (options->prefer != INFORM_RANDOM && options->score == NULL && image_count > 0)
        return error_set(err, ERR_DATA, "prefer %s needs scores",
                         options->prefer == INFORM_UNCERTAIN ? "uncertain" : "informative");
    for (size_t l = 0; l < options->link_count; l++) {
        const CategoryLink *link = &options->links[l];
        if (link->from < 0 || link->from >= category_count || link->to < 0
            || link->to >= category_count || link->from == link->to)
            return error_set(err, ERR_INTERNAL, "link %zu joins categories %d and %d", l,
                             (int)link->from, (int)link->to);
    }
    return ERR_OK;
}

static int result_init(InformResult *result, int32_t category_count, Error *err)
{
    size_t categories = (size_t)category_count;
    result->category_count = category_count;
    result->pairs_per_category = calloc(categories + 1, sizeof *result->pairs_per_category);
    result->capacity_per_category = calloc(categories + 1, sizeof *result->capacity_per_category);
    if (result->pairs_per_category == NULL || result->capacity_per_category == NULL)
        return error_nomem(err, (categories + 1) * sizeof *result->pairs_per_category);
    return ERR_OK;
}

/* 1 / |embedding| of each image, for max_similarity (image_count + 1
 * entries, the caller frees); NULL when memory runs out. */
static double *inverse_norms_of(const InformOptions *options, size_t image_count)
{
    double *inverse_norm = malloc((image_count + 1) * sizeof *inverse_norm);
    if (inverse_norm == NULL)
        return NULL;
    for (size_t i = 0; i < image_count; i++) {
        double norm = 0;
        const float *row = options->embedding + i * options->dim;
        for (size_t d = 0; d < options->dim; d++)
            norm += (double)row[d] * row[d];
        inverse_norm[i] = norm > 0 ? 1 / sqrt(norm) : 0;
    }
    return inverse_norm;
}

/*
 * Per image: its random tie key (the first draws of the "tie" stream, which
 * then orders equal candidates), the pairs it may still join under
 * max_exposure, and its inverse norm when max_similarity applies.
 */
static int selector_init(Selector *s, const Rng *base, Error *err)
{
    const InformOptions *options = s->options;
    size_t image_count = s->image_count;
    bool similarity = options->has_max_similarity && options->embedding != NULL
                      && options->dim > 0;
    size_t per_image = sizeof *s->tie_of + sizeof *s->room + sizeof *s->degree
                       + (similarity ? sizeof *s->inverse_norm : 0);
    int code = selector_hold(s, (uint64_t)(image_count + 1) * per_image,
                             "a tie key, room and degree an image", err);
    if (code != ERR_OK)
        return code;

    s->tie_of = malloc((image_count + 1) * sizeof *s->tie_of);
    s->room = malloc((image_count + 1) * sizeof *s->room);
    s->degree = calloc(image_count + 1, sizeof *s->degree);
    if (s->tie_of == NULL || s->room == NULL || s->degree == NULL)
        return error_nomem(err, (image_count + 1) * sizeof *s->tie_of);
    rng_fork(base, TIE_LABEL, &s->tie_rng);
    for (size_t i = 0; i < image_count; i++) {
        s->tie_of[i] = rng_next(&s->tie_rng);
        uint32_t exposure_room = room_under(options->max_exposure, exposure_of(s, (uint32_t)i));
        /* pending pairs become comparisons: they count against the lifetime cap too */
        uint64_t lifetime = (uint64_t)comparisons_of(s, (uint32_t)i) + exposure_of(s, (uint32_t)i);
        uint32_t lifetime_room = room_under(options->max_comparisons,
                                            lifetime > UINT32_MAX ? UINT32_MAX
                                                                  : (uint32_t)lifetime);
        s->room[i] = exposure_room < lifetime_room ? exposure_room : lifetime_room;
    }
    if (similarity && (s->inverse_norm = inverse_norms_of(options, image_count)) == NULL)
        return error_nomem(err, image_count * sizeof *s->inverse_norm);
    return ERR_OK;
}

static void selector_release(Selector *s)
{
    free(s->tie_of);
    free(s->inverse_norm);
    free(s->room);
    free(s->degree);
}

/* Whether image i takes part: without a finite score it cannot be compared by uncertainty. */
static bool member(const Selector *s, const int32_t *category_of, size_t i)
{
    return category_of[i] >= 0
           && (s->options->prefer == INFORM_RANDOM || isfinite(s->options->score[i]));
}

/* Images by category (a counting sort), each category in score order or a random order. */
static int members_group(Selector *s, const int32_t *category_of, size_t categories,
                         Members *m, Error *err)
{
    int code = selector_hold(s, (uint64_t)(s->image_count + 1) * (sizeof *m->image
                                                                    + sizeof(OrderKey)),
                             "the images by category, and their sort", err);
    if (code != ERR_OK)
        return code;
    m->start = calloc(categories + 2, sizeof *m->start);
    m->image = malloc((s->image_count + 1) * sizeof *m->image);
    if (m->start == NULL || m->image == NULL)
        return error_nomem(err, (s->image_count + 1) * sizeof *m->image);
    for (size_t i = 0; i < s->image_count; i++)
        if (member(s, category_of, i))
            m->start[category_of[i] + 2]++;
    for (size_t c = 0; c < categories; c++)
        m->start[c + 2] += m->start[c + 1];
    for (size_t i = 0; i < s->image_count; i++)
        if (member(s, category_of, i))
            m->image[m->start[category_of[i] + 1]++] = (uint32_t)i;
    OrderKey *scratch = malloc((m->start[categories] + 1) * sizeof *scratch);
    if (scratch == NULL)
        return error_nomem(err, m->start[categories] * sizeof *scratch);
    for (size_t c = 0; c < categories; c++)
        sort_images(s, m->image + m->start[c], m->start[c + 1] - m->start[c], scratch);
    free(scratch);
    selector_unhold(s, (uint64_t)(s->image_count + 1) * sizeof(OrderKey));
    return ERR_OK;
}

static void members_release(Members *m)
{
    free(m->start);
    free(m->image);
}

/*
 * Within candidates: each image and the next `window` in its category's
 * order that are not already stored with it, filtered, then sorted best
 * first per category. Sets each
 * category's capacity and adds them to result->available.
 */
static int within_collect(Selector *s, const Members *m, size_t categories, size_t window,
                          Within *w, Error *err)
{
    size_t member_count = m->start[categories];

    w->categories = categories;
    w->start = m->start;
    w->scratch = s->result->pairs_per_category;
    w->cand_start = calloc(categories + 1, sizeof *w->cand_start);
    w->quota = calloc(categories + 1, sizeof *w->quota);
    w->capacity = calloc(categories + 1, sizeof *w->capacity);
    w->locked = calloc(categories + 1, 1);
    if (w->cand_start == NULL || w->quota == NULL || w->capacity == NULL || w->locked == NULL)
        return error_nomem(err, (categories + 1) * sizeof *w->quota);
    if (member_count > SIZE_MAX / sizeof *w->candidates / (window + 1))
        return error_set(err, ERR_DATA, "too many candidate pairs");
    int code = selector_hold(s, (uint64_t)(member_count * window + 1)
                                    * (sizeof *w->candidates + 1),
                             "strategy.window candidate pairs an image", err);
    if (code != ERR_OK)
        return code;
    w->candidates = malloc((member_count * window + 1) * sizeof *w->candidates);
    w->taken = calloc(member_count * window + 1, 1);
    if (w->candidates == NULL || w->taken == NULL)
        return error_nomem(err, member_count * window * sizeof *w->candidates);
    for (size_t c = 0; c < categories; c++) {
        w->cand_start[c] = w->count;
        size_t n = m->start[c + 1] - m->start[c];
        const uint32_t *image = m->image + m->start[c];
        for (size_t i = 0; i < n; i++) {
            if (i % CANCEL_POLL_STEPS == 0 && cancel_check(err) != ERR_OK)
                return ERR_TEMPFAIL;
            /* The next `window` neighbours not already paired with it: a
             * stored pair is passed over for the one after, so a job whose
             * scores do not move between runs goes on finding pairs. Each
             * stored pair is passed over once, so the walk stays linear in
             * images x window plus the stored pairs. */
            size_t slots = 0;
            for (size_t j = i + 1; slots < window && j < n; j++)
                slots += consider(s, image[i], image[j], w->candidates, &w->count);
        }
        qsort(w->candidates + w->cand_start[c], w->count - w->cand_start[c],
              sizeof *w->candidates, compare_candidate);
        w->capacity[c] = w->count - w->cand_start[c];
        s->result->capacity_per_category[c] = w->capacity[c];
        s->result->available += w->capacity[c];
    }
    w->cand_start[categories] = w->count;
    return ERR_OK;
}

/* ---- prefer random: every pair of a category is a candidate ------------- */

/*
 * With prefer random there is no score order to take neighbours along:
 * every pair inside a category is a candidate, and max_exposure and
 * max_similarity only remove some. Pairs are walked lazily along the
 * category's random order, offset by offset ((p[i], p[i + d mod n]) for d
 * = 1 .. n/2, each pair once), until a category holds twice what the
 * budget can ask of it plus n (a whole offset), and at least window
 * offsets (the candidates window neighbours would give), or runs out: memory
 * stays O(max_pairs + window x images) however large the categories.
 */
typedef struct PairWalk {
    size_t offset, i;
} PairWalk;

/* The next pair (positions x < n, y < n) of the walk; false when every pair was given. */
static bool walk_next(PairWalk *walk, size_t n, size_t *x, size_t *y)
{
    if (walk->offset == 0)
        walk->offset = 1;
    while (2 * walk->offset <= n) {
        size_t limit = 2 * walk->offset == n ? n / 2 : n; /* offset n/2 meets each pair twice */
        if (walk->i < limit) {
            *x = walk->i;
            *y = (walk->i + walk->offset) % n;
            walk->i++;
            return true;
        }
        walk->offset++;
        walk->i = 0;
    }
    return false;
}

/* The smallest level with sum min(upper[c], level) >= budget (budget when none is). */
static uint64_t water_level(const uint64_t *upper, size_t categories, uint64_t budget)
{
    uint64_t low = 0, high = budget;
    while (low < high) {
        uint64_t level = low + (high - low) / 2, sum = 0;
        for (size_t c = 0; c < categories && sum < budget; c++)
            sum += upper[c] < level ? upper[c] : level;
        if (sum >= budget)
            high = level;
        else
            low = level + 1;
    }
    return low;
}

/* One category's walk and the candidates it kept so far. */
typedef struct EveryPair {
    PairWalk walk;
    Candidate *kept;
    size_t count, room;
    uint64_t examined, total; /* pairs walked; n(n-1)/2 */
    bool done;
} EveryPair;

/* Walks category c until it keeps `want` candidates or has none left. */
static int every_pair_walk(Selector *s, const uint32_t *image, size_t n, EveryPair *e,
                           uint64_t want, Error *err)
{
    size_t x, y;
    while (!e->done && e->count < want) {
        if (!walk_next(&e->walk, n, &x, &y)) {
            e->done = true;
            break;
        }
        if (e->count == e->room) {
            size_t room = e->room < 256 ? 256 : e->room * 2;
            int code = selector_hold(s, (uint64_t)(room - e->room) * sizeof *e->kept,
                                     "the candidate pairs walked", err);
            if (code != ERR_OK)
                return code;
            Candidate *grown = realloc(e->kept, room * sizeof *grown);
            if (grown == NULL)
                return error_nomem(err, room * sizeof *grown);
            e->kept = grown;
            e->room = room;
        }
        if (++e->examined % CANCEL_POLL_STEPS == 0 && cancel_check(err) != ERR_OK)
            return ERR_TEMPFAIL;
        consider(s, image[x], image[y], e->kept, &e->count);
    }
    return ERR_OK;
}

/* What category c may hold at most: its kept candidates plus the pairs not walked yet. */
static uint64_t every_pair_upper(const EveryPair *e)
{
    return e->done ? e->count : e->count + (e->total - e->examined);
}

/*
 * Within candidates for prefer random. The water level of max_pairs over
 * the categories' upper bounds says how much each may be asked; each walks
 * to twice that (plus n); a category that runs out or meets filtered pairs
 * lowers its bound, which may raise the level for the others, until every
 * category holds what the level asks of it plus n. A category's
 * capacity is its upper bound: exact once walked to the end (always when
 * its pairs number at most about twice the budget), else larger than any
 * quota the budget can give it.
 */
static int within_collect_every_pair(Selector *s, const Members *m, size_t categories,
                                     size_t window, uint64_t max_pairs, Within *w, Error *err)
{
    EveryPair *every = calloc(categories + 1, sizeof *every);
    uint64_t *upper = calloc(categories + 1, sizeof *upper);
    /* The members with room (max_exposure, max_comparisons), by category:
     * only they are walked. Walking every member would meet the pairs of
     * the capped ones first, and when most are capped (a queue full of
     * pending pairs) a category of n walks most of its n^2 / 2 pairs to
     * find a few candidates. */
    size_t member_count = m->start[categories];
    size_t *open_start = calloc(categories + 1, sizeof *open_start);
    uint32_t *open = NULL;
    int code = selector_hold(s, (uint64_t)(member_count + 1) * sizeof *open,
                             "the images with room, by category", err);
    if (code != ERR_OK)
        goto done;
    open = malloc((member_count + 1) * sizeof *open);

    w->categories = categories;
    w->start = m->start;
    w->scratch = s->result->pairs_per_category;
    w->cand_start = calloc(categories + 1, sizeof *w->cand_start);
    w->quota = calloc(categories + 1, sizeof *w->quota);
    w->capacity = calloc(categories + 1, sizeof *w->capacity);
    w->locked = calloc(categories + 1, 1);
    if (every == NULL || upper == NULL || open_start == NULL || open == NULL
        || w->cand_start == NULL || w->quota == NULL || w->capacity == NULL
        || w->locked == NULL) {
        code = error_nomem(err, (categories + 1) * sizeof *every);
        goto done;
    }
    for (size_t c = 0, at = 0; c < categories; c++) {
        open_start[c] = at;
        for (size_t k = m->start[c]; k < m->start[c + 1]; k++)
            if (s->room[m->image[k]] > 0)
                open[at++] = m->image[k];
        open_start[c + 1] = at;
        uint64_t n = open_start[c + 1] - open_start[c];
        every[c].total = n * (n > 0 ? n - 1 : 0) / 2;
        upper[c] = every[c].total;
    }
    /* A category walks again only once the level asks more than it holds
     * less one offset: its count at least doubles each time, or it ends. */
    for (bool walked = true; walked;) {
        walked = false;
        uint64_t level = water_level(upper, categories, max_pairs);
        for (size_t c = 0; c < categories; c++) {
            size_t n = open_start[c + 1] - open_start[c];
            uint64_t asked = upper[c] < level + 1 ? upper[c] : level + 1;
            if (every[c].done || every[c].count >= asked + n)
                continue;
            walked = true;
            uint64_t want = asked > (SIZE_MAX - n) / 4 ? SIZE_MAX : 2 * asked + n;
            if (want < (uint64_t)n * window) /* at least what window neighbours gave */
                want = (uint64_t)n * window;
            if ((code = every_pair_walk(s, open + open_start[c], n, &every[c], want, err))
                != ERR_OK)
                goto done;
            upper[c] = every_pair_upper(&every[c]);
        }
    }
    for (size_t c = 0; c < categories; c++)
        w->count += every[c].count;
    if ((code = selector_hold(s, (uint64_t)(w->count + 1) * (sizeof *w->candidates + 1),
                              "the candidate pairs, sorted", err))
        != ERR_OK)
        goto done;
    w->candidates = malloc((w->count + 1) * sizeof *w->candidates);
    w->taken = calloc(w->count + 1, 1);
    if (w->candidates == NULL || w->taken == NULL) {
        code = error_nomem(err, w->count * sizeof *w->candidates);
        goto done;
    }
    for (size_t c = 0, at = 0; c < categories; c++) {
        w->cand_start[c] = at;
        if (every[c].count > 0)
            memcpy(w->candidates + at, every[c].kept, every[c].count * sizeof *w->candidates);
        qsort(w->candidates + at, every[c].count, sizeof *w->candidates, compare_candidate);
        at += every[c].count;
        w->capacity[c] = upper[c];
        s->result->capacity_per_category[c] = upper[c];
        s->result->available += upper[c];
    }
    w->cand_start[categories] = w->count;
done:
    for (size_t c = 0; every != NULL && c < categories; c++) {
        selector_unhold(s, (uint64_t)every[c].room * sizeof *every[c].kept);
        free(every[c].kept);
    }
    free(every);
    free(upper);
    if (open != NULL)
        selector_unhold(s, (uint64_t)(member_count + 1) * sizeof *open);
    free(open_start);
    free(open);
    return code;
}

static void within_release(Within *w)
{
    free(w->cand_start);
    free(w->candidates);
    free(w->taken);
    free(w->quota);
    free(w->capacity);
    free(w->locked);
}

/*
 * Cross candidates of one link: each image of `from` (a, n_a images) and
 * the `window` images of `to` (b, n_b) nearest to it in order, by two
 * pointers over both sorted lists.
 */
static void cross_link(Selector *s, const uint32_t *a, size_t n_a, const uint32_t *b, size_t n_b,
                       size_t window, Cross *x)
{
    size_t width = window < n_b ? window : n_b, place = 0, below_b = 0, above_b = n_a;
    if (width == 0)
        return;
    while (below_b < n_a && before(s, a[below_b], b[0]))
        below_b++;
    while (above_b > 0 && before(s, b[n_b - 1], a[above_b - 1]))
        above_b--;
    for (size_t i = 0; i < n_a; i++) {
        while (place < n_b && before(s, b[place], a[i]))
            place++;
        size_t first = window_start(place, i, below_b, above_b, n_b, width);
        for (size_t j = first; j < first + width; j++)
            consider(s, a[i], b[j], x->candidates, &x->count);
    }
}

/*
 * Cross candidates of every link, filtered, then sorted best first per
 * link. Sets result->cross_available and adds it to result->available.
 */
static int cross_collect(Selector *s, const Members *m, size_t window, Cross *x, Error *err)
{
    const InformOptions *options = s->options;
    size_t links = options->link_count, room = 0;

    x->links = links;
    x->start = calloc(links + 1, sizeof *x->start);
    x->next = calloc(links + 1, sizeof *x->next);
    for (size_t l = 0; l < links; l++) {
        size_t from = (size_t)options->links[l].from, to = (size_t)options->links[l].to;
        size_t n_to = m->start[to + 1] - m->start[to];
        room += (m->start[from + 1] - m->start[from]) * (window < n_to ? window : n_to);
    }
    int code = selector_hold(s, (uint64_t)(room + 1) * (sizeof *x->candidates + 1),
                             "the candidate pairs across categories", err);
    if (code != ERR_OK)
        return code;
    x->candidates = malloc((room + 1) * sizeof *x->candidates);
    x->taken = calloc(room + 1, 1);
    if (x->start == NULL || x->next == NULL || x->candidates == NULL || x->taken == NULL)
        return error_nomem(err, room * sizeof *x->candidates);
    for (size_t l = 0; l < links; l++) {
        size_t from = (size_t)options->links[l].from, to = (size_t)options->links[l].to;
        if (cancel_check(err) != ERR_OK)
            return ERR_TEMPFAIL;
        x->start[l] = x->count;
        cross_link(s, m->image + m->start[from], m->start[from + 1] - m->start[from],
                   m->image + m->start[to], m->start[to + 1] - m->start[to], window, x);
    }
    x->start[links] = x->count;
    for (size_t l = 0; l < links; l++)
        qsort(x->candidates + x->start[l], x->start[l + 1] - x->start[l], sizeof *x->candidates,
              compare_candidate);
    s->result->cross_available = x->count;
    s->result->available += x->count;
    return ERR_OK;
}

static void cross_release(Cross *x)
{
    free(x->start);
    free(x->next);
    free(x->candidates);
    free(x->taken);
}

/* Images of linked categories, each counted once (s->degree marks them, then is cleared). */
static size_t linked_images(Selector *s, const Members *m)
{
    const InformOptions *options = s->options;
    size_t count = 0;

    memset(s->degree, 0, s->image_count * sizeof *s->degree);
    for (size_t l = 0; l < options->link_count; l++) {
        int32_t ends[2] = {options->links[l].from, options->links[l].to};
        for (int e = 0; e < 2; e++)
            for (size_t k = m->start[ends[e]]; k < m->start[ends[e] + 1]; k++)
                if (s->degree[m->image[k]] == 0) {
                    s->degree[m->image[k]] = 1;
                    count++;
                }
    }
    memset(s->degree, 0, s->image_count * sizeof *s->degree);
    return count;
}

/*
 * Cross pairs: round-robin over the links, best first in each, each image
 * under one degree bound over all the linked images. Returns how many.
 */
static uint64_t take_cross(Selector *s, const Members *m, Cross *x, uint64_t quota)
{
    uint32_t bound = degree_bound(quota, linked_images(s, m));
    uint64_t got = 0;

    for (size_t l = 0; l < x->links; l++)
        x->next[l] = x->start[l];
    for (bool progress = true; progress && got < quota;) {
        progress = false;
        for (size_t l = 0; l < x->links && got < quota; l++) {
            for (; x->next[l] < x->start[l + 1]; x->next[l]++) {
                size_t k = x->next[l];
                if (take_best(s, x->candidates + k, 1, 1, bound, x->taken + k) == 1) {
                    x->next[l]++;
                    got++;
                    progress = true;
                    break;
                }
            }
        }
    }
    return got;
}

/*
 * The budget, min(max_pairs, available): round(explore_fraction * budget)
 * for bridges, the rest within categories. What one side cannot use goes
 * to the other: the bridges take what the categories left, and the
 * categories choose again for what the bridges left.
 */
static int choose_pairs(Selector *s, const Members *m, Within *w, Cross *x, uint64_t max_pairs,
                        const Rng *base, Error *err)
{
    uint64_t available = s->result->available;
    uint64_t budget = max_pairs < available ? max_pairs : available;
    uint64_t cross_quota = (uint64_t)floor(s->options->explore_fraction * (double)budget + 0.5);
    Rng stream;
    int code;

    if (x->links == 0 || cross_quota > x->count)
        cross_quota = x->links == 0 ? 0 : x->count;
    uint64_t within_budget = budget - cross_quota;
    rng_fork(base, SHARE_LABEL, &stream);
    if ((code = fill_within(s, w, within_budget, &stream, err)) != ERR_OK)
        return code;
    uint64_t within_got = within_taken(w, NULL, s->image_count);
    if (x->links > 0 && budget - within_got > cross_quota)
        cross_quota = budget - within_got < x->count ? budget - within_got : x->count;
    uint64_t cross_got = take_cross(s, m, x, cross_quota);
    if (within_got + cross_got < budget && budget - cross_got > within_budget) {
        within_taken(w, s->degree, s->image_count);
        return fill_within(s, w, budget - cross_got, &stream, err);
    }
    return ERR_OK;
}

/* The result: within pairs by category, then cross pairs by link, each with a fair coin. */
static int result_write(InformResult *result, const Within *w, const Cross *x, const Rng *base,
                        Error *err)
{
    size_t within = 0, cross = 0;
    Rng coin;

    for (size_t c = 0; c < w->categories; c++) {
        size_t got = 0;
        for (size_t k = w->cand_start[c]; k < w->cand_start[c + 1]; k++)
            got += w->taken[k];
        result->pairs_per_category[c] = got;
        within += got;
    }
    for (size_t k = 0; k < x->count; k++)
        cross += x->taken[k];
    result->pairs = malloc((within + cross + 1) * sizeof *result->pairs);
    result->show_first = malloc(within + cross + 1);
    if (result->pairs == NULL || result->show_first == NULL)
        return error_nomem(err, within * sizeof *result->pairs);
    for (size_t k = 0; k < w->count; k++)
        if (w->taken[k])
            result->pairs[result->pair_count++] = (Pair){w->candidates[k].a, w->candidates[k].b};
    result->within_count = result->pair_count;
    for (size_t k = 0; k < x->count; k++)
        if (x->taken[k])
            result->pairs[result->pair_count++] = (Pair){x->candidates[k].a, x->candidates[k].b};
    rng_fork(base, COIN_LABEL, &coin);
    for (size_t k = 0; k < result->pair_count; k++)
        result->show_first[k] = (rng_next(&coin) >> 63) ? 'b' : 'a';
    return ERR_OK;
}

/* ---- prefer informative ------------------------------------------------ */

/*
 * prefer informative never holds its N x window candidates at once. It
 * holds, per image, its place in the score order, its degree, its working
 * variance and its weight (20 bytes; 28 with max_similarity), and a heap of
 * at most `offer_limit` candidates: the best of one walk over all of them
 * (16 bytes each). The greedy matching takes from the heap while its best
 * is worth at least the worst candidate the walk kept (the `floor`): every
 * candidate the walk left out was worth no more than that, and values only
 * fall as variances shrink. When the best falls below the floor, the walk
 * is made again with the variances as they are, keeping twice as many
 * (up to what the memory cap allows). Each walk takes at least one pair,
 * and once the heap holds every candidate no walk is needed, so the walks
 * number a few: O(N x window x log(offer_limit)) each.
 */

/* One candidate: 16 bytes, no padding. Equal values are ordered by a hash
 * of the pair, so the order does not depend on when a walk met it. */
typedef struct Offer {
    uint32_t a, b;
    double value;
} Offer;

/* The heap holds at least this many candidates, and this many per pair of
 * the budget, unless the memory cap allows fewer. */
#define OFFERS_LEAST 65536
#define OFFERS_PER_PAIR 4
/* Fewer than this under the memory cap: the cap is an error. */
#define OFFERS_FLOOR 1024
/* Bytes per image and per pair of the budget (see informed_fixed_bytes). */
#define INFORMED_IMAGE_BYTES 20
#define INFORMED_SIMILARITY_BYTES 8
#define INFORMED_PAIR_BYTES 41

typedef struct Informed {
    const InformOptions *options;
    const PairSet *exclude;
    const int32_t *category_of;
    size_t image_count, categories, members, window;
    uint64_t tie_key;
    size_t *start;        /* category c: member[start[c] .. start[c + 1]] (categories + 2) */
    uint32_t *member;     /* images by category, each in score order */
    uint32_t *degree;     /* per image: pairs taken in this run */
    double *variance;     /* per image: its variance less the expected shrinks of its pairs */
    float *weight;        /* per image: sqrt of the density of scores, the largest 1 */
    double *inverse_norm; /* per image, for max_similarity; NULL otherwise */
    uint32_t bound;       /* degree bound of the current pass */
    Offer *offers;        /* the walk's best: worst first while walking, then best first */
    size_t offer_count, offer_limit, offer_most;
    bool left_out;        /* the last walk met more candidates than offer_limit */
    double floor;         /* then: the worst value it kept */
    Pair *chosen;         /* pairs taken, in the order taken */
    size_t chosen_count;
    PairSet *chosen_set;  /* the same, from the second walk on */
    bool counting;        /* the first walk: counts candidates into the result */
    InformResult *result;
} Informed;

static uint64_t mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* Whether image x comes before image y: by score, then a seeded hash, then index. */
static bool image_before(const Informed *sel, uint32_t x, uint32_t y)
{
    double sx = sel->options->score[x], sy = sel->options->score[y];
    if (sx != sy)
        return sx < sy;
    uint64_t tx = mix64(~sel->tie_key ^ x), ty = mix64(~sel->tie_key ^ y);
    return tx != ty ? tx < ty : x < y;
}

/* Whether offer x ranks above y: by value, then a seeded hash of the pair. */
static bool offer_above(const Informed *sel, const Offer *x, const Offer *y)
{
    if (x->value != y->value)
        return x->value > y->value;
    uint64_t tx = mix64(sel->tie_key ^ ((uint64_t)x->a << 32 | x->b));
    uint64_t ty = mix64(sel->tie_key ^ ((uint64_t)y->a << 32 | y->b));
    if (tx != ty)
        return tx < ty;
    return x->a != y->a ? x->a < y->a : x->b < y->b;
}

/* Sifts heap[at] down: the best at the root (best_first) or the worst. */
static void offers_down(const Informed *sel, Offer *heap, size_t count, size_t at, bool best_first)
{
    Offer moving = heap[at];
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= count)
            break;
        if (child + 1 < count
            && offer_above(sel, &heap[child + 1], &heap[child]) == best_first)
            child++;
        if (offer_above(sel, &heap[child], &moving) != best_first)
            break;
        heap[at] = heap[child];
        at = child;
    }
    heap[at] = moving;
}

/* Keeps the offer if the heap (worst at the root) has room or holds a worse one. */
static void offers_keep(Informed *sel, const Offer *offer)
{
    Offer *heap = sel->offers;
    if (sel->offer_count < sel->offer_limit) {
        size_t at = sel->offer_count++;
        while (at > 0 && offer_above(sel, &heap[(at - 1) / 2], offer)) {
            heap[at] = heap[(at - 1) / 2];
            at = (at - 1) / 2;
        }
        heap[at] = *offer;
        return;
    }
    sel->left_out = true;
    if (sel->offer_count > 0 && offer_above(sel, offer, &heap[0])) {
        heap[0] = *offer;
        offers_down(sel, heap, sel->offer_count, 0, false);
    }
}

/* Pairs image may still join under max_exposure and max_comparisons. */
static uint32_t informed_room(const Informed *sel, uint32_t image)
{
    const InformOptions *o = sel->options;
    if (o->max_exposure == 0 && o->max_comparisons == 0)
        return UINT32_MAX;
    uint64_t exposure = o->exposure != NULL ? o->exposure[image] : 0;
    uint64_t comparisons = o->comparisons != NULL ? o->comparisons[image] : 0;
    uint64_t shown = exposure + sel->degree[image];
    /* pending pairs become comparisons: they count against the lifetime cap too */
    uint64_t lifetime = comparisons + shown;
    uint32_t exposure_room = room_under(o->max_exposure,
                                        shown > UINT32_MAX ? UINT32_MAX : (uint32_t)shown);
    uint32_t lifetime_room = room_under(o->max_comparisons, lifetime > UINT32_MAX
                                                                ? UINT32_MAX
                                                                : (uint32_t)lifetime);
    return exposure_room < lifetime_room ? exposure_room : lifetime_room;
}

/* The pair's value with the working variances, discounted by its images'
 * pending pairs; *shrink_a and *shrink_b as pair_value gives them. */
static double informed_value(const Informed *sel, uint32_t a, uint32_t b, double *shrink_a,
                             double *shrink_b)
{
    const InformOptions *o = sel->options;
    uint32_t shown = (o->exposure != NULL ? o->exposure[a] + o->exposure[b] : 0);
    return pair_value(o, a, b, sel->variance[a], sel->variance[b], sel->weight[a], sel->weight[b],
                      shrink_a, shrink_b)
           / (1.0 + shown);
}

/*
 * At least informed_value of the pair, with no erfc or exp: phi(z)^2 /
 * (Phi(z) Phi(-z)) is at most 2/pi (its value at z = 0), and a margin
 * covers rounding. A walk whose heap is full drops a candidate whose
 * ceiling is below the worst it keeps without valuing it.
 */
static double informed_ceiling(const Informed *sel, uint32_t a, uint32_t b)
{
    const InformOptions *o = sel->options;
    double va = sel->variance[a], vb = sel->variance[b];
    double s2 = va + vb + 2 * o->beta * o->beta;
    uint32_t shown = (o->exposure != NULL ? o->exposure[a] + o->exposure[b] : 0);
    return (sel->weight[a] * va * va + sel->weight[b] * vb * vb) / s2 * (2 / M_PI) * (1 + 1e-9)
           / (1.0 + shown);
}

/*
 * One candidate of the walk (category: its category, -1 across a link).
 * Counts it on the first walk, and offers it to the heap unless an image is
 * at the degree bound or the pair is taken. False when the pair is already
 * stored (exclude), so a walk along neighbours can take the next one.
 */
static bool informed_offer(Informed *sel, uint32_t x, uint32_t y, int64_t category)
{
    InformResult *r = sel->result;
    if (sel->counting)
        r->candidates_examined++;
    if (x == y || pairset_contains(sel->exclude, x, y))
        return false;
    if (informed_room(sel, x) == 0 || informed_room(sel, y) == 0) {
        r->exposure_skipped += sel->counting;
        return true;
    }
    if (near_duplicate(sel->options, sel->inverse_norm, x, y)) {
        r->near_duplicates_skipped += sel->counting;
        return true;
    }
    if (sel->counting) {
        if (category >= 0)
            r->capacity_per_category[category]++;
        else
            r->cross_available++;
    }
    uint32_t a = x < y ? x : y, b = x < y ? y : x;
    if (sel->degree[a] >= sel->bound || sel->degree[b] >= sel->bound
        || (sel->degree[a] > 0 && sel->degree[b] > 0 && pairset_contains(sel->chosen_set, a, b)))
        return true;
    if (sel->offer_count == sel->offer_limit && sel->offer_count > 0
        && informed_ceiling(sel, a, b) < sel->offers[0].value) {
        sel->left_out = true;
        return true;
    }
    Offer offer = {a, b, informed_value(sel, a, b, NULL, NULL)};
    offers_keep(sel, &offer);
    return true;
}

/*
 * The candidates of one link: each image of `from` (a, n_a images, in
 * order) with the `window` images of `to` (b, n_b) nearest to it in order,
 * by two pointers over both lists (window_start).
 */
static void informed_link(Informed *sel, const uint32_t *a, size_t n_a, const uint32_t *b,
                          size_t n_b)
{
    size_t width = sel->window < n_b ? sel->window : n_b, place = 0, below_b = 0, above_b = n_a;
    if (width == 0)
        return;
    while (below_b < n_a && image_before(sel, a[below_b], b[0]))
        below_b++;
    while (above_b > 0 && image_before(sel, b[n_b - 1], a[above_b - 1]))
        above_b--;
    for (size_t i = 0; i < n_a; i++) {
        while (place < n_b && image_before(sel, b[place], a[i]))
            place++;
        size_t first = window_start(place, i, below_b, above_b, n_b, width);
        for (size_t j = first; j < first + width; j++)
            informed_offer(sel, a[i], b[j], -1);
    }
}

/*
 * One walk over every candidate: each member with the next `window` of its
 * category not already stored with it (a stored pair is passed over for the
 * one after), then each link's. Leaves the best offer_limit in the heap,
 * best first, and the floor when it left some out.
 */
static int informed_walk(Informed *sel, Error *err)
{
    const InformOptions *o = sel->options;
    size_t steps = 0;

    sel->offer_count = 0;
    sel->left_out = false;
    for (size_t c = 0; c < sel->categories; c++) {
        const uint32_t *image = sel->member + sel->start[c];
        size_t n = sel->start[c + 1] - sel->start[c];
        for (size_t i = 0; i < n; i++) {
            if (++steps % CANCEL_POLL_STEPS == 0 && cancel_check(err) != ERR_OK)
                return ERR_TEMPFAIL;
            size_t slots = 0;
            for (size_t j = i + 1; slots < sel->window && j < n; j++)
                slots += informed_offer(sel, image[i], image[j], (int64_t)c);
        }
    }
    for (size_t l = 0; l < o->link_count; l++) {
        size_t from = (size_t)o->links[l].from, to = (size_t)o->links[l].to;
        if (cancel_check(err) != ERR_OK)
            return ERR_TEMPFAIL;
        informed_link(sel, sel->member + sel->start[from], sel->start[from + 1] - sel->start[from],
                      sel->member + sel->start[to], sel->start[to + 1] - sel->start[to]);
    }
    sel->floor = sel->left_out && sel->offer_count > 0 ? sel->offers[0].value : -INFINITY;
    for (size_t at = sel->offer_count / 2; at-- > 0;)
        offers_down(sel, sel->offers, sel->offer_count, at, true);
    return ERR_OK;
}

/* Sifts v[at] down a heap of count images, the last in order at the root. */
static void images_down(const Informed *sel, uint32_t *v, size_t count, size_t at)
{
    uint32_t moving = v[at];
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= count)
            break;
        if (child + 1 < count && image_before(sel, v[child], v[child + 1]))
            child++;
        if (!image_before(sel, moving, v[child]))
            break;
        v[at] = v[child];
        at = child;
    }
    v[at] = moving;
}

/* Heapsort in place, by image_before. */
static void images_heapsort(const Informed *sel, uint32_t *v, size_t count)
{
    for (size_t at = count / 2; at-- > 0;)
        images_down(sel, v, count, at);
    for (size_t end = count; end > 1; end--) {
        uint32_t last = v[end - 1];
        v[end - 1] = v[0];
        v[0] = last;
        images_down(sel, v, end - 1, 0);
    }
}

/* The bits of a finite score, as an unsigned key in the scores' order (-0 before +0). */
static uint64_t score_key(double score)
{
    uint64_t bits;
    memcpy(&bits, &score, sizeof bits);
    return bits >> 63 ? ~bits : bits | UINT64_C(1) << 63;
}

/*
 * The images v (finite scores) in image_before's order, with scratch
 * (count entries) as the second buffer: a radix sort of the score keys,
 * 11 bits a pass, then each run of equal scores by heapsort. No copy of
 * the keys is held (a qsort of keys would hold one, and its own buffer).
 */
static void images_sort(const Informed *sel, uint32_t *v, uint32_t *scratch, size_t count)
{
    enum { BITS = 11, BUCKETS = 1 << BITS };
    const double *score = sel->options->score;
    size_t counts[BUCKETS];
    uint32_t *from = v, *to = scratch;

    if (count < 2)
        return;
    for (int shift = 0; shift < 64; shift += BITS) {
        memset(counts, 0, sizeof counts);
        for (size_t k = 0; k < count; k++)
            counts[(score_key(score[from[k]]) >> shift) & (BUCKETS - 1)]++;
        if (counts[(score_key(score[from[0]]) >> shift) & (BUCKETS - 1)] == count)
            continue; /* every key has this digit: the order stands */
        for (size_t b = 0, at = 0; b < BUCKETS; b++) {
            size_t here = counts[b];
            counts[b] = at;
            at += here;
        }
        for (size_t k = 0; k < count; k++)
            to[counts[(score_key(score[from[k]]) >> shift) & (BUCKETS - 1)]++] = from[k];
        uint32_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != v)
        memcpy(v, from, count * sizeof *v);
    for (size_t k = 0; k < count;) {
        size_t end = k + 1;
        while (end < count && score[v[end]] == score[v[k]])
            end++;
        if (end - k > 1)
            images_heapsort(sel, v + k, end - k);
        k = end;
    }
}

/*
 * Per member image (members in score order): the square root of the
 * density of the members' scores at its place, sqrt(1 / g) with g the mean
 * gap between scores over the k = max(window, n / 50) places either side
 * (clipped at the ends); a gap of zero counts as the smallest positive one.
 * Only ratios matter: stored as sqrt(smallest / g), at most 1. The square
 * root, not the density itself (a rank moves by the density times the
 * score) nor its square: an uncertain image's rank error spreads over a
 * range of scores as wide as its deviation, where the density is flatter
 * than at its estimate; measured in the closed loop (docs/algorithms.md),
 * density^0.5 reached the targets with the fewest comparisons of the powers
 * 0, 0.25, 0.5, 0.75 and 1.
 */
static void informed_weights(Informed *sel, const uint32_t *order, size_t n)
{
    const double *score = sel->options->score;
    size_t half = n / 50 > sel->window ? n / 50 : sel->window;
    double smallest = INFINITY;

    /* Twice over the members: the smallest positive gap, then the weights. */
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < n; i++) {
            size_t lo = i > half ? i - half : 0, hi = i + half < n ? i + half : n - 1;
            double gap = hi > lo ? (score[order[hi]] - score[order[lo]]) / (double)(hi - lo) : 0;
            if (round == 0) {
                if (gap > 0 && gap < smallest)
                    smallest = gap;
                continue;
            }
            sel->weight[order[i]] = gap > 0 && isfinite(smallest) ? (float)sqrt(smallest / gap) : 1;
        }
}

/* Bytes prefer informative holds besides its heap: per image, per pair of
 * the budget (chosen, chosen_set, the result) and per category. */
static size_t informed_fixed_bytes(size_t image_count, size_t categories, uint64_t budget,
                                   bool similarity)
{
    double bytes = (double)image_count
                       * (INFORMED_IMAGE_BYTES + (similarity ? INFORMED_SIMILARITY_BYTES : 0))
                   + (double)budget * INFORMED_PAIR_BYTES + (double)(categories + 2) * 24;
    return bytes < (double)SIZE_MAX ? (size_t)bytes : SIZE_MAX;
}

/*
 * Members by category, each in score order (one sort of all members, whose
 * order also gives the weights, then a stable spread by category), the
 * working variances, and the heap's limits under options->memory_cap.
 */
static int informed_init(Informed *sel, uint64_t max_pairs, Error *err)
{
    const InformOptions *o = sel->options;
    size_t n = sel->image_count, categories = sel->categories;
    bool similarity = o->has_max_similarity && o->embedding != NULL && o->dim > 0;

    for (size_t i = 0; i < n; i++)
        sel->members += sel->category_of[i] >= 0 && isfinite(o->score[i]);
    /* The candidates a walk can meet: window per member, window per image across each link. */
    uint64_t candidates = (uint64_t)sel->members * sel->window;
    sel->start = calloc(categories + 2, sizeof *sel->start);
    if (sel->start == NULL)
        return error_nomem(err, (categories + 2) * sizeof *sel->start);
    for (size_t i = 0; i < n; i++)
        if (sel->category_of[i] >= 0 && isfinite(o->score[i]))
            sel->start[sel->category_of[i] + 2]++;
    for (size_t l = 0; l < o->link_count; l++) {
        uint64_t n_to = sel->start[o->links[l].to + 2];
        candidates += sel->start[o->links[l].from + 2] * (sel->window < n_to ? sel->window : n_to);
    }
    uint64_t budget = max_pairs < candidates ? max_pairs : candidates;
    size_t fixed = informed_fixed_bytes(n, categories, budget, similarity);
    uint64_t wanted = budget * OFFERS_PER_PAIR > OFFERS_LEAST ? budget * OFFERS_PER_PAIR
                                                                 : OFFERS_LEAST;
    sel->offer_most = candidates;
    if (o->memory_cap > 0) {
        uint64_t fit = o->memory_cap > fixed ? (o->memory_cap - fixed) / sizeof(Offer) : 0;
        uint64_t least = candidates < OFFERS_FLOOR ? candidates : OFFERS_FLOOR;
        if (fit < least) {
            size_t needed = fixed + (size_t)least * sizeof(Offer);
            return error_set(err, ERR_DATA,
                             "resources.memory_limit leaves %zu bytes for choosing pairs among "
                             "%zu images besides the images and the pairs already stored, and "
                             "prefer informative needs %zu (%d bytes an image, %d a pair of the "
                             "budget, %zu for the best candidates)"
                             "\nHINT: raise resources.memory_limit by at least %.0f MB, or set "
                             "strategy.prefer: random",
                             o->memory_cap > 1 ? o->memory_cap : 0, n, needed,
                             INFORMED_IMAGE_BYTES + (similarity ? INFORMED_SIMILARITY_BYTES : 0),
                             INFORMED_PAIR_BYTES, (size_t)least * sizeof(Offer),
                             ceil((double)(needed - (o->memory_cap > 1 ? o->memory_cap : 0))
                                  / 1e6));
        }
        if (fit < sel->offer_most)
            sel->offer_most = fit;
    }
    sel->offer_limit = wanted < sel->offer_most ? wanted : sel->offer_most;

    sel->member = malloc((n + 1) * sizeof *sel->member);
    sel->degree = malloc((n + 1) * sizeof *sel->degree);
    sel->variance = malloc((n + 1) * sizeof *sel->variance);
    sel->weight = malloc((n + 1) * sizeof *sel->weight);
    sel->offers = malloc((sel->offer_limit + 1) * sizeof *sel->offers);
    if (sel->member == NULL || sel->degree == NULL || sel->variance == NULL || sel->weight == NULL
        || sel->offers == NULL)
        return error_nomem(err, fixed);
    if (similarity && (sel->inverse_norm = inverse_norms_of(o, n)) == NULL)
        return error_nomem(err, n * sizeof *sel->inverse_norm);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        sel->variance[i] = variance_of(o, (uint32_t)i);
        sel->weight[i] = 1;
        if (sel->category_of[i] >= 0 && isfinite(o->score[i]))
            sel->member[count++] = (uint32_t)i;
    }
    images_sort(sel, sel->member, sel->degree, count);
    informed_weights(sel, sel->member, count);
    /* Spread by category into degree's array (as start's counts say), which becomes member. */
    for (size_t c = 0; c < categories; c++)
        sel->start[c + 2] += sel->start[c + 1];
    for (size_t k = 0; k < count; k++)
        sel->degree[sel->start[sel->category_of[sel->member[k]] + 1]++] = sel->member[k];
    uint32_t *spread = sel->degree;
    sel->degree = sel->member;
    sel->member = spread;
    memset(sel->degree, 0, (n + 1) * sizeof *sel->degree);
    return ERR_OK;
}

/* Walks again for the pairs left: the chosen pairs in a set, and a heap
 * twice as large when the cap allows. */
static int informed_walk_again(Informed *sel, Error *err)
{
    if (sel->chosen_set == NULL) {
        if ((sel->chosen_set = pairset_new(sel->chosen_count + 16)) == NULL)
            return error_nomem(err, sel->chosen_count);
        for (size_t k = 0; k < sel->chosen_count; k++)
            if (pairset_add(sel->chosen_set, sel->chosen[k].a, sel->chosen[k].b) < 0)
                return error_nomem(err, sel->chosen_count);
    }
    if (sel->left_out && sel->offer_limit < sel->offer_most) {
        size_t grown = sel->offer_limit > sel->offer_most / 2 ? sel->offer_most
                                                               : 2 * sel->offer_limit;
        Offer *offers = realloc(sel->offers, (grown + 1) * sizeof *offers);
        if (offers == NULL)
            return error_nomem(err, grown * sizeof *offers);
        sel->offers = offers;
        sel->offer_limit = grown;
    }
    return informed_walk(sel, err);
}

/*
 * One greedy matching over the within and cross candidates together, best
 * first: min(max_pairs, candidates) pairs, each image under the degree
 * bound ceil(2 * budget / n) + 1 over the n member images; when the budget
 * is not filled, again with the bound one higher, then without a bound.
 * max_exposure and max_comparisons hold throughout.
 *
 * Sequential: a pair taken shrinks its two images' variances by their
 * expected ADF shrink, as if it were answered, and candidates are valued
 * with the shrunk variances, so the next picks go to images not yet
 * covered. Lazily: the best is valued again and taken only if it is still
 * the best (values only fall as variances shrink, up to the small rise of
 * a partner's term) and worth at least the floor of its walk.
 */
static int informed_match(Informed *sel, uint64_t max_pairs, Error *err)
{
    InformResult *r = sel->result;
    int code;

    sel->counting = true;
    sel->bound = UINT32_MAX;
    if ((code = informed_walk(sel, err)) != ERR_OK)
        return code;
    sel->counting = false;
    for (size_t c = 0; c < sel->categories; c++)
        r->available += r->capacity_per_category[c];
    r->available += r->cross_available;
    uint64_t budget = max_pairs < r->available ? max_pairs : r->available;
    sel->chosen = malloc(((size_t)budget + 1) * sizeof *sel->chosen);
    if (sel->chosen == NULL)
        return error_nomem(err, (size_t)budget * sizeof *sel->chosen);
    uint32_t first = degree_bound(budget, sel->members);
    uint32_t bounds[3] = {first, first + 1, UINT32_MAX};
    for (int pass = 0; pass < 3 && sel->chosen_count < budget; pass++) {
        sel->bound = bounds[pass];
        if (pass > 0 && (code = informed_walk_again(sel, err)) != ERR_OK)
            return code;
        for (size_t step = 1; sel->chosen_count < budget; step++) {
            if (step % CANCEL_POLL_STEPS == 0 && (code = cancel_check(err)) != ERR_OK)
                return code;
            if (sel->offer_count == 0) {
                if (!sel->left_out)
                    break;
                if ((code = informed_walk_again(sel, err)) != ERR_OK)
                    return code;
                continue;
            }
            Offer *best = sel->offers;
            uint32_t a = best->a, b = best->b;
            if (sel->degree[a] >= sel->bound || sel->degree[b] >= sel->bound
                || informed_room(sel, a) == 0 || informed_room(sel, b) == 0) {
                sel->offers[0] = sel->offers[--sel->offer_count];
                offers_down(sel, sel->offers, sel->offer_count, 0, true);
                continue;
            }
            double shrink_a, shrink_b;
            double value = informed_value(sel, a, b, &shrink_a, &shrink_b);
            if (value != best->value) {
                best->value = value;
                if (sel->offer_count > 1
                    && (offer_above(sel, &sel->offers[1], best)
                        || (sel->offer_count > 2 && offer_above(sel, &sel->offers[2], best)))) {
                    offers_down(sel, sel->offers, sel->offer_count, 0, true);
                    continue;
                }
            }
            if (sel->left_out && value < sel->floor) {
                if ((code = informed_walk_again(sel, err)) != ERR_OK)
                    return code;
                continue;
            }
            sel->degree[a]++, sel->degree[b]++;
            sel->variance[a] -= shrink_a, sel->variance[b] -= shrink_b;
            sel->chosen[sel->chosen_count++] = (Pair){a, b};
            if (sel->chosen_set != NULL && pairset_add(sel->chosen_set, a, b) < 0)
                return error_nomem(err, sel->chosen_count);
            sel->offers[0] = sel->offers[--sel->offer_count];
            offers_down(sel, sel->offers, sel->offer_count, 0, true);
        }
    }
    return ERR_OK;
}

/* The result: within pairs by category, each in the order taken, then cross
 * pairs in the order taken, each with a fair coin. */
static int informed_result(Informed *sel, const Rng *base, Error *err)
{
    InformResult *r = sel->result;
    size_t within = 0, cross_at;
    Rng coin;

    for (size_t k = 0; k < sel->chosen_count; k++) {
        int32_t c = sel->category_of[sel->chosen[k].a];
        if (c == sel->category_of[sel->chosen[k].b]) {
            r->pairs_per_category[c]++;
            within++;
        }
    }
    r->pairs = malloc((sel->chosen_count + 1) * sizeof *r->pairs);
    r->show_first = malloc(sel->chosen_count + 1);
    if (r->pairs == NULL || r->show_first == NULL)
        return error_nomem(err, sel->chosen_count * sizeof *r->pairs);
    /* start[c + 1] .. : where category c's pairs go (start is not needed past the walks) */
    sel->start[0] = 0;
    for (size_t c = 0; c < sel->categories; c++)
        sel->start[c + 1] = sel->start[c] + r->pairs_per_category[c];
    cross_at = within;
    for (size_t k = 0; k < sel->chosen_count; k++) {
        int32_t c = sel->category_of[sel->chosen[k].a];
        if (c == sel->category_of[sel->chosen[k].b])
            r->pairs[sel->start[c]++] = sel->chosen[k];
        else
            r->pairs[cross_at++] = sel->chosen[k];
    }
    r->pair_count = sel->chosen_count;
    r->within_count = within;
    rng_fork(base, COIN_LABEL, &coin);
    for (size_t k = 0; k < r->pair_count; k++)
        r->show_first[k] = (rng_next(&coin) >> 63) ? 'b' : 'a';
    return ERR_OK;
}

static void informed_release(Informed *sel)
{
    free(sel->start);
    free(sel->member);
    free(sel->degree);
    free(sel->variance);
    free(sel->weight);
    free(sel->inverse_norm);
    free(sel->offers);
    free(sel->chosen);
    pairset_free(sel->chosen_set);
}

/* prefer informative: informed_init, informed_match, informed_result. */
static int informative_choose(const int32_t *category_of, size_t image_count,
                              int32_t category_count, uint64_t max_pairs, const PairSet *exclude,
                              const InformOptions *options, const Rng *base,
                              InformResult *result, Error *err)
{
    Informed sel = {.options = options, .exclude = exclude, .category_of = category_of,
                  .image_count = image_count, .categories = (size_t)category_count,
                  .window = options->window > 0 ? options->window : 1, .result = result};
    Rng tie;
    int code;

    rng_fork(base, TIE_LABEL, &tie);
    sel.tie_key = rng_next(&tie);
    if ((code = informed_init(&sel, max_pairs, err)) == ERR_OK) {
        for (size_t k = 0; k < sel.members; k++)
            result->capped_images += informed_room(&sel, sel.member[k]) == 0;
        if ((code = informed_match(&sel, max_pairs, err)) == ERR_OK)
            code = informed_result(&sel, base, err);
    }
    informed_release(&sel);
    return code;
}

/* Member images that a cap (max_exposure, max_comparisons) leaves out. */
static uint64_t capped_members(const Selector *s, const Members *m, size_t categories)
{
    uint64_t capped = 0;
    for (size_t k = 0; k < m->start[categories]; k++)
        capped += s->room[m->image[k]] == 0;
    return capped;
}

int informative_select(const int32_t *category_of, size_t image_count, int32_t category_count,
                       uint64_t max_pairs, const PairSet *exclude, const InformOptions *options,
                       Rng *rng, InformResult *result, Error *err)
{
    Selector s = {.options = options, .exclude = exclude, .image_count = image_count,
                  .result = result};
    Members members = {0};
    Within within = {0};
    Cross cross = {0};
    Rng base = *rng;
    size_t window = options->window > 0 ? options->window : 1;
    int code;

    memset(result, 0, sizeof *result);
    if ((code = check_select_input(category_of, image_count, category_count, options, err))
            != ERR_OK
        || (code = result_init(result, category_count, err)) != ERR_OK)
        goto done;
    if (options->prefer == INFORM_INFORMATIVE) {
        if ((code = informative_choose(category_of, image_count, category_count, max_pairs,
                                       exclude, options, &base, result, err))
            == ERR_OK)
            rng_next(rng);
        goto done;
    }
    if ((code = selector_init(&s, &base, err)) != ERR_OK
        || (code = members_group(&s, category_of, (size_t)category_count, &members, err))
               != ERR_OK)
        goto done;
    /* Before any pair of this run takes room. */
    result->capped_images = capped_members(&s, &members, (size_t)category_count);
    if ((code = options->prefer == INFORM_RANDOM
                    ? within_collect_every_pair(&s, &members, (size_t)category_count, window,
                                                max_pairs, &within, err)
                    : within_collect(&s, &members, (size_t)category_count, window, &within, err))
            != ERR_OK
        || (code = cross_collect(&s, &members, window, &cross, err)) != ERR_OK
        || (code = choose_pairs(&s, &members, &within, &cross, max_pairs, &base, err)) != ERR_OK
        || (code = result_write(result, &within, &cross, &base, err)) != ERR_OK)
        goto done;
    result->held_most = s.held_most;
    rng_next(rng);

done:
    members_release(&members);
    within_release(&within);
    cross_release(&cross);
    selector_release(&s);
    if (code != ERR_OK)
        informative_result_release(result);
    return code;
}

void informative_result_release(InformResult *result)
{
    free(result->pairs);
    free(result->show_first);
    free(result->pairs_per_category);
    free(result->capacity_per_category);
    memset(result, 0, sizeof *result);
}
