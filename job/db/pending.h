/*
 * write: everything the run writes or reads back from the pending-annotation
 * table. Loads the pairs already proposed among the selected images (so the
 * budget is filled with new pairs), and stores the chosen pairs in one
 * transaction: COPY into a temporary table, INSERT ... ON CONFLICT DO
 * NOTHING into the output table, and the run marked succeeded with its
 * counts. Any failure rolls all of it back, and so does finding that
 * another job stored some of the chosen pairs since the read.
 *
 * It does not choose pairs. The PairSet it returns belongs to the caller.
 */
#ifndef PAIRPICK_WRITE_H
#define PAIRPICK_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "db/db.h"
#include "core/error.h"
#include "core/images.h"
#include "numeric/pairs.h"
#include "db/runs.h"

/*
 * Reads the pairs of output_table (quoted) whose two images are both among
 * images, as row-index pairs, streamed into a PairSet (about 16-32 bytes a
 * pair, never the rows themselves). Runs on the caller's transaction (the
 * read snapshot). *existing receives a new PairSet. memory_cap (0: none)
 * bounds the set's bytes: ERR_DATA, naming resources.memory_limit, when the
 * stored pairs need more. The table is read whole unless it holds over 32
 * pairs per selected image; then the selected ids are uploaded into the
 * temporary table pairpick_selected (dropped at commit) and joined, and
 * *uploaded says so.
 */
int write_load_existing(Db *db, const char *output_table, const Images *images,
                        size_t memory_cap, PairSet **existing, bool *uploaded, Error *err);

/*
 * Exposure: for every selected image, the pairs of output_table it is in
 * whose status is 'pending' (queued, not yet shown; any job), into exposure
 * (one entry per image, zeroed first). Runs on the caller's transaction,
 * after write_load_existing; uploaded is what it said (then the uploaded ids
 * are looked up in the table's indexes, else its pending pairs streamed).
 */
int write_load_exposure(Db *db, const char *output_table, const Images *images,
                        bool uploaded, uint32_t *exposure, Error *err);

/*
 * Comparisons: for every selected image, the pairs of output_table it is in
 * whose status is 'annotated' (any job), into comparisons (one entry per
 * image, zeroed first). As write_load_exposure otherwise.
 */
int write_load_comparisons(Db *db, const char *output_table, const Images *images,
                           bool uploaded, uint32_t *comparisons, Error *err);

/* The pairs of output_table still pending for job, into *pending. */
int write_count_pending(Db *db, const char *output_table, const char *job, uint64_t *pending,
                        Error *err);

/*
 * The category each pair is stored under: the name of its images'
 * category, or both names joined by '|' for a pair across two categories.
 */
typedef struct PairCategories {
    const int32_t *category_of; /* per image */
    char *const *names;         /* per category */
} PairCategories;

/* What is stored with each pair besides the pair (sql/004_pair_policy.sql). */
typedef struct PairProvenance {
    const char *policy;     /* "job:strategy/prefer" */
    size_t within_count;    /* pairs[i] joins two categories iff i >= within_count */
    const char *show_first; /* per pair: 'a' or 'b' (image_a or image_b as stored) */
} PairProvenance;

/*
 * One pair as the output table stores it: image_a's id sorts before
 * image_b's in byte order (strcmp, not the locale: the table's unique key
 * and the INSERT's ORDER BY compare with COLLATE "C"), whichever way round
 * the pair came, so (x, y) and (y, x) are one row.
 */
typedef struct StoredPair {
    uint32_t image_a, image_b; /* rows of images */
    bool cross;                /* across two categories: its index >= within_count */
    char show_first;           /* 'a' or 'b': provenance->show_first[index], 'a' without it */
} StoredPair;

/*
 * The stored form of pairs[index], and its category into category (size
 * bytes, truncated to fit): the name of image_a's category, or for a pair
 * across two categories both names joined by '|', image_a's first
 * ("score:3|score:4"). Pure: reads its arguments, writes *stored and
 * category only.
 */
void pending_stored_pair(const Images *images, const PairCategories *categories,
                         const PairProvenance *provenance, const Pair *pairs, size_t index,
                         StoredPair *stored, char *category, size_t size);

/*
 * What else a run stores in its write transaction (a refitted cluster
 * model): run after the pairs' INSERT, before the run is marked succeeded.
 * Its failure rolls the write back; a write that rolls back for another
 * reason rolls back what it stored too, and it runs again with the next
 * attempt.
 */
typedef struct WriteHook {
    int (*store)(void *context, Db *db, Error *err); /* NULL: nothing more to store */
    /* The run record's stage_seconds (a JSON object text, or NULL), asked
     * for just before the run is marked succeeded, so the write stage's
     * time on the record includes the insert. NULL: none. */
    const char *(*stage_seconds)(void *context);
    void *context;
} WriteHook;

/*
 * Inserts the pairs and marks the run succeeded, in one transaction.
 * counts->pairs_inserted receives the rows inserted.
 *
 * Another job may store some of the same pairs between this run's read and
 * its write. With existing non-NULL (the run's PairSet of pairs already
 * proposed), that rolls the write back: nothing stored, the run not marked
 * succeeded; *existing is replaced by the pairs stored now among the
 * images and *taken_count counts the chosen pairs among them, for the
 * caller to choose again. With existing NULL the write commits what the
 * others left (pairs_inserted < pair_count), and so it does when the rows
 * the INSERT skipped are not stored by another run (a trigger or rule of
 * the table dropped them). *taken_count is 0 after a write that committed.
 * hook (may be NULL) stores more in the same transaction and gives the
 * run record's stage_seconds.
 */
int write_pairs(Db *db, const char *output_table, const RunInfo *info, const Images *images,
                const PairCategories *categories, const Pair *pairs, size_t pair_count,
                const PairProvenance *provenance, RunCounts *counts, PairSet **existing,
                size_t *taken_count, const WriteHook *hook, Error *err);

/* How write_print_pairs prints the pairs of a dry run. */
typedef enum {
    PAIRS_PRINT_TEXT, /* tab-separated lines on out, for people (--log-format text) */
    PAIRS_PRINT_CSV,  /* "id_a,id_b,category,score_a,score_b" then one line a pair (--pairs-file) */
    PAIRS_PRINT_JSON, /* one log line a pair (core/log, stage "pair"); out unused */
} PairsPrintFormat;

/*
 * For --dry-run: prints the pairs (image_a, image_b, category, score_a,
 * score_b; no scores without a score column) ordered as they would be
 * stored. A pair across two categories names both: "score:3|score:4".
 * The JSON form puts the pair in the log line's figures: {"id_a", "id_b",
 * "category", "score_a", "score_b"}. The caller checks out for errors.
 */
void write_print_pairs(FILE *out, const Images *images, const PairCategories *categories,
                       const Pair *pairs, size_t pair_count, const PairProvenance *provenance,
                       PairsPrintFormat format);

#endif
