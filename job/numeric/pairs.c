#include "numeric/pairs.h"

#include <stdlib.h>
#include <string.h>

#include "core/cancel.h"

/* ---- PairSet ---------------------------------------------------------- */

/*
 * A pair is one 64-bit key, (smaller << 32) | larger, so the order given
 * does not matter. Most keys sit in one ascending array, the merged keys,
 * held in blocks of BLOCK_KEYS keys so that it grows without copying what it
 * holds; an index by the smaller image's high bits narrows a look-up to a
 * handful of keys. Keys added since the last merge sit in the recent table,
 * open addressing with linear probing, at most half full. When it is full
 * its keys are sorted in place and merged into the array from the end, and
 * the table starts again empty, with an eighth to a quarter as many slots
 * as there are merged keys.
 *
 * So the set holds 8 bytes a pair in the array (plus a partly filled last
 * block), at most 2 in the table and at most 1 in the index (BUCKET_KEYS
 * keys or more a bucket). During a merge the table's keys are also in the
 * blocks they move to, and the old index is copied when realloc copies:
 * a dozen bytes a pair at the peak. No step holds two copies of the array.
 *
 * UINT64_MAX marks an empty slot of the table; the one pair with that key,
 * the self-pair {UINT32_MAX, UINT32_MAX}, is kept in a flag.
 */
#define EMPTY_KEY UINT64_MAX
#define BLOCK_SHIFT 15
#define BLOCK_KEYS ((size_t)1 << BLOCK_SHIFT)
#define FIRST_BLOCK_KEYS 1024
#define MIN_RECENT_SLOTS 16
/* A recent table smaller than this doubles when full instead of merging:
 * a small set is a plain hash table, and merges come at most once every
 * MERGE_SLOTS / 2 adds. */
#define MERGE_SLOTS 8192
#define BUCKET_KEYS 8

struct PairSet {
    uint64_t **blocks;      /* merged key p: blocks[p >> BLOCK_SHIFT][p % BLOCK_KEYS] */
    size_t block_count;     /* blocks allocated */
    size_t block_room;      /* entries of blocks */
    size_t first_keys;      /* keys blocks[0] holds: BLOCK_KEYS once there is a second */
    size_t merged;          /* merged keys, ascending */
    size_t *bucket_start;   /* merged keys whose smaller image >> shift is j lie in
                               [bucket_start[j], bucket_start[j + 1]) */
    size_t bucket_count;
    size_t bucket_room;     /* entries of bucket_start */
    unsigned shift;
    uint64_t *recent;       /* the keys added since the last merge */
    size_t recent_slots;    /* a power of two, or 0 when a merge could not get a table */
    size_t recent_count;
    size_t count;           /* merged and recent keys, plus the flag */
    bool has_empty_key;
};

static uint64_t pair_key(uint32_t a, uint32_t b)
{
    return a < b ? ((uint64_t)a << 32) | b : ((uint64_t)b << 32) | a;
}

/* MurmurHash3's finalizer: spreads the keys' structured bits over the mask. */
static size_t key_hash(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ULL;
    key ^= key >> 33;
    return (size_t)key;
}

static uint64_t *new_slots(size_t slot_count)
{
    uint64_t *slots = malloc(slot_count * sizeof *slots);
    if (slots != NULL)
        memset(slots, 0xff, slot_count * sizeof *slots); /* all EMPTY_KEY */
    return slots;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const uint64_t *slots, size_t slot_count, uint64_t key)
{
    size_t mask = slot_count - 1;
    size_t slot = key_hash(key) & mask;
    while (slots[slot] != EMPTY_KEY && slots[slot] != key)
        slot = (slot + 1) & mask;
    return slot;
}

static uint64_t *merged_at(const PairSet *set, size_t position)
{
    return &set->blocks[position >> BLOCK_SHIFT][position & (BLOCK_KEYS - 1)];
}

static bool merged_contains(const PairSet *set, uint64_t key)
{
    size_t bucket = (size_t)((key >> 32) >> set->shift);
    if (set->merged == 0 || bucket >= set->bucket_count)
        return false;
    size_t low = set->bucket_start[bucket], high = set->bucket_start[bucket + 1];
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        uint64_t found = *merged_at(set, middle);
        if (found == key)
            return true;
        if (found < key)
            low = middle + 1;
        else
            high = middle;
    }
    return false;
}

PairSet *pairset_new(size_t expected)
{
    size_t slot_count = MIN_RECENT_SLOTS;
    PairSet *set;

    while (slot_count < MERGE_SLOTS && slot_count / 2 < expected)
        slot_count *= 2;
    set = calloc(1, sizeof *set);
    if (set == NULL)
        return NULL;
    set->recent = new_slots(slot_count);
    if (set->recent == NULL) {
        free(set);
        return NULL;
    }
    set->recent_slots = slot_count;
    return set;
}

/* Room for total merged keys (blocks added or the first one grown); on
 * failure the blocks added here are freed again. */
static int reserve_merged(PairSet *set, size_t total)
{
    size_t capacity = set->block_count <= 1 ? set->block_count * set->first_keys
                                            : set->block_count * BLOCK_KEYS;
    if (total <= capacity)
        return 0;
    if (total > SIZE_MAX / sizeof(uint64_t) - BLOCK_KEYS)
        return -1;
    size_t needed = (total + BLOCK_KEYS - 1) >> BLOCK_SHIFT;
    if (needed > set->block_room) {
        size_t room = set->block_room < 4 ? 4 : set->block_room;
        while (room < needed)
            room *= 2;
        uint64_t **blocks = realloc(set->blocks, room * sizeof *blocks);
        if (blocks == NULL)
            return -1;
        set->blocks = blocks;
        set->block_room = room;
    }
    /* The first block grows by doubling up to BLOCK_KEYS, so a small set
     * holds a small array. */
    if (set->block_count <= 1 && set->first_keys < BLOCK_KEYS) {
        size_t keys = set->first_keys < FIRST_BLOCK_KEYS ? FIRST_BLOCK_KEYS : set->first_keys;
        while (keys < total && keys < BLOCK_KEYS)
            keys *= 2;
        uint64_t *first = realloc(set->block_count == 1 ? set->blocks[0] : NULL,
                                  keys * sizeof *first);
        if (first == NULL)
            return -1;
        set->blocks[0] = first;
        set->block_count = 1;
        set->first_keys = keys;
    }
    size_t had = set->block_count;
    while (set->block_count < needed) {
        uint64_t *block = malloc(BLOCK_KEYS * sizeof *block);
        if (block == NULL) {
            while (set->block_count > had)
                free(set->blocks[--set->block_count]);
            return -1;
        }
        set->blocks[set->block_count++] = block;
    }
    return 0;
}

/* An index entry for every bucket of up to max_a, and one past them. */
static int reserve_index(PairSet *set, size_t entries)
{
    if (entries <= set->bucket_room)
        return 0;
    if (entries > SIZE_MAX / sizeof(size_t))
        return -1;
    size_t *start = realloc(set->bucket_start, entries * sizeof *start);
    if (start == NULL)
        return -1;
    set->bucket_start = start;
    set->bucket_room = entries;
    return 0;
}

/* The fewest low bits of the smaller image to drop so that keys merged keys
 * over images up to max_a give at least BUCKET_KEYS keys a bucket. */
static unsigned index_shift(uint32_t max_a, size_t keys)
{
    size_t buckets = keys / BUCKET_KEYS > 0 ? keys / BUCKET_KEYS : 1;
    unsigned shift = 0;
    while (shift < 32 && ((uint64_t)max_a >> shift) + 1 > buckets)
        shift++;
    return shift;
}

static void swap_keys(uint64_t *x, uint64_t *y)
{
    uint64_t kept = *x;
    *x = *y;
    *y = kept;
}

static void sift_down(uint64_t *keys, size_t root, size_t count)
{
    for (size_t child = 2 * root + 1; child < count; root = child, child = 2 * root + 1) {
        if (child + 1 < count && keys[child + 1] > keys[child])
            child++;
        if (keys[root] >= keys[child])
            return;
        swap_keys(&keys[root], &keys[child]);
    }
}

/*
 * Introsort, in place: qsort may allocate a buffer as large as the keys,
 * which would add to the peak a merge is there to keep low. Quicksort on a
 * median of three, the smaller side first; heapsort below a depth of
 * 2 log2(count) bounds the worst case; insertion sort for short runs.
 */
static void sort_keys(uint64_t *keys, size_t count, unsigned depth)
{
    while (count > 16) {
        if (depth-- == 0) {
            for (size_t root = count / 2; root-- > 0;)
                sift_down(keys, root, count);
            for (size_t end = count - 1; end > 0; end--) {
                swap_keys(&keys[0], &keys[end]);
                sift_down(keys, 0, end);
            }
            return;
        }
        size_t middle = count / 2;
        if (keys[middle] < keys[0])
            swap_keys(&keys[middle], &keys[0]);
        if (keys[count - 1] < keys[0])
            swap_keys(&keys[count - 1], &keys[0]);
        if (keys[count - 1] < keys[middle])
            swap_keys(&keys[count - 1], &keys[middle]);
        uint64_t pivot = keys[middle];
        /* Hoare's partition: keys[0..j] <= pivot <= keys[j+1..count). */
        size_t i = 0, j = count - 1;
        for (;;) {
            while (keys[i] < pivot)
                i++;
            while (keys[j] > pivot)
                j--;
            if (i >= j)
                break;
            swap_keys(&keys[i++], &keys[j--]);
        }
        size_t left = j + 1;
        if (left < count - left) {
            sort_keys(keys, left, depth);
            keys += left;
            count -= left;
        } else {
            sort_keys(keys + left, count - left, depth);
            count = left;
        }
    }
    for (size_t i = 1; i < count; i++) {
        uint64_t key = keys[i];
        size_t j = i;
        for (; j > 0 && keys[j - 1] > key; j--)
            keys[j] = keys[j - 1];
        keys[j] = key;
    }
}

/*
 * Moves the recent keys into the merged array and gives the set an empty
 * recent table sized for the merged keys. Every allocation the merge needs
 * comes first, so that a failure leaves the set as it was; the table is
 * replaced last (the old one freed first, to keep the peak low), and when
 * no new table can be had the set keeps its pairs with no table
 * (recent_slots 0) and the next add merges again.
 */
static int merge_recent(PairSet *set)
{
    size_t recent = set->recent_count, total = set->merged + recent;
    uint64_t largest = set->merged > 0 ? *merged_at(set, set->merged - 1) : 0;
    for (size_t slot = 0; slot < set->recent_slots; slot++)
        if (set->recent[slot] != EMPTY_KEY && set->recent[slot] > largest)
            largest = set->recent[slot];
    uint32_t max_a = (uint32_t)(largest >> 32);
    unsigned shift = index_shift(max_a, total);
    size_t bucket_count = ((size_t)max_a >> shift) + 1;
    if (reserve_merged(set, total) < 0 || reserve_index(set, bucket_count + 1) < 0)
        return -1;

    /* Nothing below allocates: the table's keys sorted at its front, then
     * merged from the end, where the array has room for them. */
    uint64_t *keys = set->recent;
    size_t kept = 0;
    for (size_t slot = 0; slot < set->recent_slots; slot++)
        if (keys[slot] != EMPTY_KEY)
            keys[kept++] = keys[slot];
    unsigned depth = 0;
    for (size_t left = kept; left > 1; left /= 2)
        depth += 2;
    sort_keys(keys, kept, depth);
    size_t write = total, read = set->merged;
    while (kept > 0) {
        if (read > 0 && *merged_at(set, read - 1) > keys[kept - 1])
            *merged_at(set, --write) = *merged_at(set, --read);
        else
            *merged_at(set, --write) = keys[--kept];
    }
    set->merged = total;
    set->recent_count = 0;

    set->shift = shift;
    set->bucket_count = bucket_count;
    size_t bucket = 0;
    for (size_t position = 0; position < total; position++) {
        size_t of = (size_t)((*merged_at(set, position) >> 32) >> shift);
        while (bucket <= of)
            set->bucket_start[bucket++] = position;
    }
    while (bucket <= bucket_count)
        set->bucket_start[bucket++] = total;

    /* A power of two, an eighth to a quarter of the merged keys (at least
     * MERGE_SLOTS): a merge moves the array once for every eighth added. */
    size_t slots = MERGE_SLOTS;
    while (slots <= total / 8)
        slots *= 2;
    if (slots == set->recent_slots) {
        memset(set->recent, 0xff, slots * sizeof *set->recent);
        return 0;
    }
    free(set->recent);
    set->recent = slots <= SIZE_MAX / sizeof *set->recent ? new_slots(slots) : NULL;
    set->recent_slots = set->recent != NULL ? slots : 0;
    return set->recent != NULL ? 0 : -1;
}

/* A recent table twice as large with the same keys; the set is unchanged
 * when memory runs out. */
static int grow_recent(PairSet *set)
{
    size_t slot_count = set->recent_slots * 2;
    uint64_t *slots = new_slots(slot_count);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < set->recent_slots; i++)
        if (set->recent[i] != EMPTY_KEY)
            slots[find_slot(slots, slot_count, set->recent[i])] = set->recent[i];
    free(set->recent);
    set->recent = slots;
    set->recent_slots = slot_count;
    return 0;
}

int pairset_add(PairSet *set, uint32_t a, uint32_t b)
{
    uint64_t key = pair_key(a, b);

    if (key == EMPTY_KEY) {
        if (set->has_empty_key)
            return 0;
        set->has_empty_key = true;
        set->count++;
        return 1;
    }
    if (set->recent_count > 0
        && set->recent[find_slot(set->recent, set->recent_slots, key)] == key)
        return 0;
    if (merged_contains(set, key))
        return 0;
    if (2 * (set->recent_count + 1) > set->recent_slots) {
        int made = set->recent_slots > 0 && set->recent_slots < MERGE_SLOTS ? grow_recent(set)
                                                                            : merge_recent(set);
        if (made < 0)
            return -1;
    }
    set->recent[find_slot(set->recent, set->recent_slots, key)] = key;
    set->recent_count++;
    set->count++;
    return 1;
}

bool pairset_contains(const PairSet *set, uint32_t a, uint32_t b)
{
    uint64_t key = pair_key(a, b);

    if (set == NULL)
        return false;
    if (key == EMPTY_KEY)
        return set->has_empty_key;
    if (set->recent_count > 0
        && set->recent[find_slot(set->recent, set->recent_slots, key)] == key)
        return true;
    return merged_contains(set, key);
}

size_t pairset_memory(const PairSet *set)
{
    if (set == NULL)
        return 0;
    size_t merged_capacity = set->block_count <= 1 ? set->block_count * set->first_keys
                                                   : set->block_count * BLOCK_KEYS;
    return sizeof *set + set->block_room * sizeof *set->blocks
           + merged_capacity * sizeof **set->blocks + set->bucket_room * sizeof *set->bucket_start
           + set->recent_slots * sizeof *set->recent;
}

size_t pairset_count(const PairSet *set)
{
    return set == NULL ? 0 : set->count;
}

void pairset_free(PairSet *set)
{
    if (set == NULL)
        return;
    for (size_t block = 0; block < set->block_count; block++)
        free(set->blocks[block]);
    free(set->blocks);
    free(set->bucket_start);
    free(set->recent);
    free(set);
}

/* ---- Pair selection --------------------------------------------------- */

/* The label of the stream that hands out the budget's last units; category
 * streams use the category index, always below 2^31. */
#define REMAINDER_LABEL (UINT64_C(1) << 63)

static size_t gcd(size_t x, size_t y)
{
    while (y != 0) {
        size_t rest = x % y;
        x = y;
        y = rest;
    }
    return x;
}

/* Pairs of one category being written out. */
typedef struct Walk {
    const uint32_t *order; /* the category's images in random order */
    const PairSet *exclude; /* NULL when no excluded pair lies in the category */
    Pair *out;
    uint64_t quota;
    uint64_t taken;
    uint64_t steps;        /* pairs looked at: a cancel is polled every CANCEL_POLL_STEPS */
    int code;              /* ERR_TEMPFAIL once a cancel stopped the walk */
    Error *err;
} Walk;

/* Takes the pair of the images at positions i and j of the order unless it
 * is excluded; true once the quota is full or a signal cancelled the walk
 * (walk->code). */
static bool take(Walk *walk, size_t i, size_t j)
{
    uint32_t x = walk->order[i], y = walk->order[j];
    if (++walk->steps % CANCEL_POLL_STEPS == 0
        && (walk->code = cancel_check(walk->err)) != ERR_OK)
        return true;
    if (walk->exclude != NULL && pairset_contains(walk->exclude, x, y))
        return false;
    walk->out[walk->taken].a = x < y ? x : y;
    walk->out[walk->taken].b = x < y ? y : x;
    walk->taken++;
    return walk->taken == walk->quota;
}

/*
 * Offset d joins position i to i + d (mod n). Those n pairs form
 * g = gcd(n, d) cycles of length L = n / g: v, v + d, v + 2d, ... Taking the
 * even edges of every cycle first is a matching (each image gains at most
 * one pair), then the closing edge of odd cycles (reaching the image the
 * matching left out), then the odd edges: a partly taken offset leaves the
 * degrees within one of each other for as long as possible. For d = n/2 the
 * cycles have length 2 and one edge each. True once the quota is full.
 */
static bool walk_offset(Walk *walk, size_t n, size_t d)
{
    size_t cycles = gcd(n, d), length = n / cycles;

    if (2 * d == n) {
        for (size_t v = 0; v < cycles; v++)
            if (take(walk, v, v + d))
                return true;
        return false;
    }
    size_t paired = length - (length & 1); /* edges k < paired alternate */
    for (size_t v = 0; v < cycles; v++) {
        size_t position = v;
        for (size_t k = 0; k < paired; k += 2) {
            size_t next = position + d < n ? position + d : position + d - n;
            if (take(walk, position, next))
                return true;
            position = next + d < n ? next + d : next + d - n;
        }
    }
    if (length & 1)
        for (size_t v = 0; v < cycles; v++)
            if (take(walk, v >= d ? v - d : v + n - d, v))
                return true;
    for (size_t v = 0; v < cycles; v++) {
        size_t position = v + d < n ? v + d : v + d - n;
        for (size_t k = 1; k < paired; k += 2) {
            size_t next = position + d < n ? position + d : position + d - n;
            if (take(walk, position, next))
                return true;
            position = next + d < n ? next + d : next + d - n;
        }
    }
    return false;
}

/*
 * An offset whose first matching phase covers every image (n even: d odd,
 * so the cycles are even; n odd: d coprime to n, one cycle), so that
 * ceil(n/2) pairs already reach every image.
 */
static bool covers_all(size_t n, size_t d)
{
    return n % 2 == 0 ? d % 2 == 1 : gcd(n, d) == 1;
}

/*
 * quota pairs (<= the category's capacity) among the n images in members,
 * written to out. order and offsets are scratch for n and n/2 entries.
 * ERR_TEMPFAIL when a signal cancels the run.
 */
static int pick_category(const uint32_t *members, size_t n, uint64_t quota,
                         const PairSet *exclude, Rng *rng, uint32_t *order, uint32_t *offsets,
                         Pair *out, Error *err)
{
    size_t offset_count = n / 2;
    Walk walk = {.order = order, .exclude = exclude, .out = out, .quota = quota, .err = err};

    memcpy(order, members, n * sizeof *order);
    rng_shuffle(rng, order, n, sizeof *order);
    for (size_t d = 1; d <= offset_count; d++)
        offsets[d - 1] = (uint32_t)d;
    rng_shuffle(rng, offsets, offset_count, sizeof *offsets);
    /* The first covering offset of a random order is a random covering one. */
    for (size_t k = 0; k < offset_count; k++)
        if (covers_all(n, offsets[k])) {
            uint32_t first = offsets[k];
            offsets[k] = offsets[0];
            offsets[0] = first;
            break;
        }
    /* Every pair of the category lies on exactly one offset, so walking them
     * all meets every non-excluded pair: the quota is always reached. */
    for (size_t k = 0; k < offset_count; k++)
        if (walk_offset(&walk, n, offsets[k]))
            return walk.code;
    return error_set(err, ERR_INTERNAL, "only %llu of %llu pairs found in a category of %zu images",
                     (unsigned long long)walk.taken, (unsigned long long)quota, n);
}

/*
 * Water-filling: the largest level such that giving every category
 * min(capacity, level) stays within budget; the units left over (fewer than
 * the categories with capacity above the level) go one each to randomly
 * chosen such categories.
 */
int pairs_share_budget(const size_t *capacity, int32_t category_count, uint64_t budget,
                       Rng *rng, size_t *quota, Error *err)
{
    uint64_t low = 0, high = 0;
    int32_t *open = NULL;
    int32_t open_count = 0;
    int code = ERR_OK;

    for (int32_t c = 0; c < category_count; c++)
        if (capacity[c] > high)
            high = capacity[c];
    while (low < high) {
        uint64_t level = low + (high - low + 1) / 2, total = 0;
        for (int32_t c = 0; c < category_count && total <= budget; c++)
            total += capacity[c] < level ? capacity[c] : level;
        if (total <= budget)
            low = level;
        else
            high = level - 1;
    }
    uint64_t given = 0;
    for (int32_t c = 0; c < category_count; c++) {
        quota[c] = capacity[c] < low ? capacity[c] : (size_t)low;
        given += quota[c];
    }
    uint64_t remainder = budget - given;
    if (remainder == 0)
        goto done;
    open = malloc((size_t)category_count * sizeof *open);
    if (open == NULL) {
        code = error_nomem(err, (size_t)category_count * sizeof *open);
        goto done;
    }
    for (int32_t c = 0; c < category_count; c++)
        if (capacity[c] > low)
            open[open_count++] = c;
    if (remainder >= (uint64_t)open_count) { /* cannot happen: the level was the largest */
        code = error_set(err, ERR_INTERNAL, "budget sharing left %llu pairs for %d categories",
                         (unsigned long long)remainder, (int)open_count);
        goto done;
    }
    /* A partial Fisher-Yates shuffle: distinct categories, uniformly. */
    for (uint64_t k = 0; k < remainder; k++) {
        uint64_t pick = k + rng_below(rng, (uint64_t)open_count - k);
        int32_t chosen = open[pick];
        open[pick] = open[k];
        open[k] = chosen;
        quota[chosen]++;
    }

done:
    free(open);
    return code;
}

int pairs_check_input(const int32_t *category_of, size_t image_count, int32_t category_count,
                      Error *err)
{
    if (category_count < 0)
        return error_set(err, ERR_INTERNAL, "negative category count %d", (int)category_count);
    if (image_count > UINT32_MAX)
        return error_set(err, ERR_DATA, "cannot pair %zu images: at most %u are supported",
                         image_count, (unsigned)UINT32_MAX);
    for (size_t i = 0; i < image_count; i++)
        if (category_of[i] >= category_count)
            return error_set(err, ERR_INTERNAL, "category %d of image %zu is not below %d",
                             (int)category_of[i], i, (int)category_count);
    return ERR_OK;
}

/*
 * Counting sort of the images by category, ascending inside each: category
 * c's images are (*members)[start[c] .. start[c + 1]]. start (categories + 2
 * entries, zeroed) is the caller's; *members is allocated here. *largest
 * receives the size of the largest category.
 */
static int group_by_category(const int32_t *category_of, size_t image_count, size_t categories,
                             size_t *start, uint32_t **members, size_t *largest, Error *err)
{
    for (size_t i = 0; i < image_count; i++)
        if (category_of[i] >= 0)
            start[category_of[i] + 2]++;
    for (size_t c = 0; c < categories; c++) {
        if (start[c + 2] > *largest)
            *largest = start[c + 2];
        start[c + 2] += start[c + 1];
    }
    *members = malloc((start[categories + 1] + 1) * sizeof **members);
    if (*members == NULL)
        return error_nomem(err, start[categories + 1] * sizeof **members);
    /* start[c + 1] walks category c's slice, ending where c + 1 begins. */
    for (size_t i = 0; i < image_count; i++)
        if (category_of[i] >= 0)
            (*members)[start[category_of[i] + 1]++] = (uint32_t)i;
    return ERR_OK;
}

/* Counts key's pair against its category when both images are in the same one. */
static void count_excluded_key(uint64_t key, const int32_t *category_of, size_t image_count,
                               uint64_t *excluded)
{
    size_t a = (size_t)(key >> 32), b = (size_t)(key & UINT32_MAX);
    if (a == b || a >= image_count || b >= image_count)
        return;
    if (category_of[a] >= 0 && category_of[a] == category_of[b])
        excluded[category_of[a]]++;
}

/* Excluded pairs inside each category (they lower its capacity) into excluded. */
static void count_excluded(const PairSet *exclude, const int32_t *category_of,
                           size_t image_count, uint64_t *excluded)
{
    if (exclude == NULL)
        return;
    for (size_t position = 0; position < exclude->merged; position++)
        count_excluded_key(*merged_at(exclude, position), category_of, image_count, excluded);
    for (size_t slot = 0; slot < exclude->recent_slots; slot++)
        if (exclude->recent[slot] != EMPTY_KEY)
            count_excluded_key(exclude->recent[slot], category_of, image_count, excluded);
}

int pairs_select(const int32_t *category_of, size_t image_count, int32_t category_count,
                 uint64_t max_pairs, const PairSet *exclude, Rng *rng, PairsResult *result,
                 Error *err)
{
    Rng base = *rng, stream;
    size_t *start = NULL;    /* category_count + 1 offsets into members */
    uint32_t *members = NULL; /* image indices grouped by category */
    uint64_t *excluded = NULL;
    uint32_t *order = NULL, *offsets = NULL;
    size_t largest = 0;
    int code = ERR_OK;

    memset(result, 0, sizeof *result);
    if ((code = pairs_check_input(category_of, image_count, category_count, err)) != ERR_OK)
        goto done;
    size_t categories = (size_t)category_count;

    result->category_count = category_count;
    result->pairs_per_category = calloc(categories + 1, sizeof *result->pairs_per_category);
    result->capacity_per_category = calloc(categories + 1, sizeof *result->capacity_per_category);
    start = calloc(categories + 2, sizeof *start);
    excluded = calloc(categories + 1, sizeof *excluded);
    if (result->pairs_per_category == NULL || result->capacity_per_category == NULL
        || start == NULL || excluded == NULL) {
        code = error_nomem(err, (categories + 2) * 4 * sizeof(size_t));
        goto done;
    }

    if ((code = group_by_category(category_of, image_count, categories, start, &members, &largest,
                                  err))
        != ERR_OK)
        goto done;
    count_excluded(exclude, category_of, image_count, excluded);
    for (size_t c = 0; c < categories; c++) {
        uint64_t n = start[c + 1] - start[c];
        result->capacity_per_category[c] = (size_t)(n * (n - (n > 0)) / 2 - excluded[c]);
        result->available += result->capacity_per_category[c];
    }

    uint64_t budget = max_pairs < result->available ? max_pairs : result->available;
    if (budget > SIZE_MAX / sizeof(Pair) - 1) {
        code = error_set(err, ERR_INTERNAL, "cannot hold %llu pairs in memory",
                         (unsigned long long)budget);
        goto done;
    }
    rng_fork(&base, REMAINDER_LABEL, &stream);
    if ((code = pairs_share_budget(result->capacity_per_category, category_count, budget, &stream,
                             result->pairs_per_category, err))
        != ERR_OK)
        goto done;

    result->pairs = malloc(((size_t)budget + 1) * sizeof *result->pairs);
    order = malloc((largest + 1) * sizeof *order);
    offsets = malloc((largest / 2 + 1) * sizeof *offsets);
    if (result->pairs == NULL || order == NULL || offsets == NULL) {
        code = error_nomem(err, (size_t)budget * sizeof *result->pairs);
        goto done;
    }
    for (size_t c = 0; c < categories; c++) {
        size_t quota = result->pairs_per_category[c];
        if (quota == 0)
            continue;
        if ((code = cancel_check(err)) != ERR_OK)
            goto done;
        rng_fork(&base, (uint64_t)c, &stream);
        if ((code = pick_category(members + start[c], start[c + 1] - start[c], quota,
                                  excluded[c] > 0 ? exclude : NULL, &stream, order, offsets,
                                  result->pairs + result->pair_count, err))
            != ERR_OK)
            goto done;
        result->pair_count += quota;
    }
    rng_next(rng);

done:
    free(start);
    free(members);
    free(excluded);
    free(order);
    free(offsets);
    if (code != ERR_OK)
        pairs_result_release(result);
    return code;
}

void pairs_result_release(PairsResult *result)
{
    free(result->pairs);
    free(result->pairs_per_category);
    free(result->capacity_per_category);
    memset(result, 0, sizeof *result);
}
