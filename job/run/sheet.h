/*
 * sheet: the HTML contact sheet of a sample, DIR/index.html. A header
 * with the run (job, when, seed, strategy, the rows read, the stored model
 * and its drift), an index of the categories (size, share, score range;
 * sortable, each a link to its section), then one section per category:
 * its size, score range, a score histogram (inline SVG) and the sampled
 * thumbnails, each a link to the full image with its id and score below.
 * Images that could not be placed (missing, or refused because they lie
 * outside source.image_root) show as gaps in their category and are listed
 * at the end. A script tells the viewer (and the tests) how many
 * thumbnails loaded and whether every index link finds its section.
 * Every text is HTML-escaped and every URL relative and percent-encoded,
 * so the folder can be moved or published as it is.
 *
 * It does not choose images or touch image files (sample does); it only
 * writes the page, whole or not at all (core/sidefile). The Sheet belongs
 * to the caller from sheet_open until sheet_close.
 */
#ifndef PAIRPICK_SHEET_H
#define PAIRPICK_SHEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "run/report.h"

/* Bars of a category's score histogram. */
#define SHEET_HISTOGRAM_BINS 20

/* The score axis every histogram shares, so categories compare at a glance. */
typedef struct SheetScale {
    bool has_scores; /* some categorized image has a score */
    double min, max;
} SheetScale;

/* A category as the index and its section show it. */
typedef struct SheetCategory {
    const char *name;   /* categorize_name */
    const char *folder; /* its folder under DIR, unique; also its anchor */
    size_t size;        /* images in it */
    size_t sampled;     /* of those, drawn for the sheet */
    bool has_scores;    /* some member has a score: the figures below */
    double score_min, score_max, score_mean;
    uint32_t histogram[SHEET_HISTOGRAM_BINS]; /* members by score over the SheetScale */
    int cluster;        /* the stored model's cluster it stands for, else -1 */
} SheetCategory;

/* Why an image is not on the sheet. */
typedef enum {
    SHEET_MISSING, /* no path, or no readable file there */
    SHEET_REFUSED  /* outside source.image_root, or not a regular file */
} SheetAbsence;

typedef struct Sheet Sheet;

/*
 * Starts out_dir/index.html (out_dir must exist; written through a
 * temporary file, in place at sheet_close): the header from report (job,
 * seed, strategy, counts, seconds, memory mode, model and drift), the
 * time now, and the index of categories[0 .. count). categories must
 * outlive the Sheet.
 */
int sheet_open(const char *out_dir, const Report *report, const SheetScale *scale,
               const SheetCategory *categories, int32_t count, size_t per_category,
               Sheet **sheet, Error *err);

/* Starts the section of categories[category] (as given to sheet_open). */
void sheet_category_begin(Sheet *sheet, int32_t category);

/*
 * A thumbnail of the image at folder/file (relative to out_dir), a link to
 * it, captioned with id and score (NaN: none).
 */
void sheet_image(Sheet *sheet, const char *folder, const char *file, const char *id,
                 double score);

/*
 * An image that could not be placed: a gap in the section, and a line in
 * the list at the end. source is the file looked for (NULL when the image
 * has no path at all), reason says why when there is more to say (NULL).
 */
void sheet_absent(Sheet *sheet, SheetAbsence why, const char *id, const char *source,
                  const char *reason);

/* Ends the section begun last. */
void sheet_category_end(Sheet *sheet);

/*
 * Writes the list of absent images and the page's end and puts
 * index.html in place (commit true), or throws the page away (commit
 * false: a failed sample leaves a previous sheet as it was). Frees the
 * sheet either way; an error only when committing.
 */
int sheet_close(Sheet *sheet, bool commit, Error *err);

#endif
