/*
 * sample: the contact sheet of a categorization (the prototype's "select
 * images" step). For each category it puts N random images into
 * DIR/<category>/ (symlinks, or copies) and writes DIR/index.html with one
 * row per category: its size, the sampled thumbnails and a few ids. Image
 * paths come from source.image_path: a template containing {id}, or a
 * column read for the sampled ids only. Relative paths start at
 * source.image_root (itself relative to the config file's folder).
 * Missing image files are listed in the sheet and counted, not fatal.
 *
 * It does not choose pairs or write to the database, and leaves the HTML
 * of the page to sheet. What it returns belongs to the caller.
 */
#ifndef PAIRPICK_SAMPLE_H
#define PAIRPICK_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>

#include "run/categorize.h"
#include "config/config.h"
#include "db/db.h"
#include "core/error.h"
#include "core/images.h"
#include "read/plan.h"
#include "core/rng.h"
#include "run/report.h"
#include "run/session.h"

typedef struct SampleOptions {
    const char *out_dir;
    int per_category; /* default 5 */
    bool copy;        /* copy the files instead of symlinking them */
} SampleOptions;

typedef struct SampleSummary {
    size_t categories;
    size_t images_placed;
    size_t images_missing;
} SampleSummary;

/*
 * Samples up to options->per_category rows of each category with rng,
 * finds their image files, puts them into options->out_dir/<category>/
 * and writes options->out_dir/index.html. summary counts the categories
 * and the images placed and missing.
 */
int sample_write(Db *db, const JobConfig *config, const Plan *plan, const Images *images,
                 const Categories *categories, const SampleOptions *options, Rng *rng,
                 SampleSummary *summary, Error *err);

/* Makes a category name safe as one folder name ("cluster:3" -> "cluster-3"). */
void sample_folder_name(const char *name, char *buffer, size_t size);

/*
 * `pairpick sample`: reads and categorizes the selection like a run, writes
 * no pairs, and puts a contact sheet in sample_options->out_dir.
 */
int sample_run(const JobConfig *config, const RunOptions *options,
               const SampleOptions *sample_options, SampleSummary *summary, Report *report,
               Error *err);

#endif
