/*
 * sheet: the HTML contact sheet of a sample, DIR/index.html. One table row
 * per category (its name, its size, the sampled thumbnails, the first few
 * ids), then the list of image files that could not be placed, and a
 * script that tells the viewer (and the tests) how many thumbnails loaded.
 * Every text is HTML-escaped and every URL percent-encoded.
 *
 * It does not choose images or touch image files (sample does); it only
 * writes the page. The Sheet belongs to the caller from sheet_open until
 * sheet_close.
 */
#ifndef PAIRPICK_SHEET_H
#define PAIRPICK_SHEET_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* How many of a category's sampled ids its row lists. */
#define SHEET_IDS_SHOWN 3

typedef struct Sheet Sheet;

/*
 * Creates out_dir/index.html (out_dir must exist) and writes its head: the
 * job's name and how many categories and images it shows.
 */
int sheet_open(const char *out_dir, const char *job, int32_t category_count, size_t image_count,
               Sheet **sheet, Error *err);

/* Starts a category's row: its name and how many images it holds. */
void sheet_category_begin(Sheet *sheet, const char *name, size_t image_count);

/* A thumbnail of the image at folder/file (relative to out_dir). */
void sheet_image(Sheet *sheet, const char *folder, const char *file, const char *id);

/*
 * An image that could not be placed, listed after the table; source is
 * the file looked for, NULL when the image has no path at all.
 */
void sheet_missing(Sheet *sheet, const char *id, const char *source);

/* Ends the row with the first SHEET_IDS_SHOWN of ids (count of them). */
void sheet_category_end(Sheet *sheet, const char *const *ids, size_t count);

/* Writes the missing list and the page's end, closes and frees the sheet. */
int sheet_close(Sheet *sheet, Error *err);

#endif
