/*
 * sample: the contact sheet of a categorization (the prototype's "select
 * images" step). For each category it puts N random images into
 * DIR/<category>/ (relative symlinks, or copies) and writes DIR/index.html
 * (sheet). Image paths come from source.image_path: a template containing
 * {id}, or a column read for the sampled ids only. Relative paths start at
 * source.image_root (itself relative to the config file's folder).
 *
 * Every image file must lie inside image_root once resolved (symlinks and
 * ../ followed): others, and anything but a regular file, are refused.
 * Refused and missing image files are listed on the sheet and counted, not
 * fatal. Copies never get wider permissions than their source (its mode
 * masked with 0644); links are relative, so DIR moves with image_root.
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
    size_t images_missing; /* no path, or no readable file there */
    size_t images_refused; /* outside image_root, or not a regular file */
} SampleSummary;

/*
 * Samples up to options->per_category rows of each category with rng,
 * finds their image files, puts them into options->out_dir/<category>/
 * and writes options->out_dir/index.html, its header from report (job,
 * seed, strategy, counts, seconds, memory mode, the stored model and its
 * drift). summary counts the categories and the images placed, missing
 * and refused. An image_root that does not resolve is ERR_CONFIG; a folder
 * or file under out_dir that cannot be written, ERR_USAGE.
 */
int sample_write(Db *db, const JobConfig *config, const Plan *plan, const Images *images,
                 const Categories *categories, const Report *report,
                 const SampleOptions *options, Rng *rng, SampleSummary *summary, Error *err);

/*
 * Whether resolved (an absolute path without symlinks, . or ..) lies
 * strictly inside the folder root (likewise resolved): below it on a
 * path-component boundary, so "/data/img" does not hold "/data/img2/x".
 */
bool sample_path_inside(const char *root, const char *resolved);

/*
 * The path that leads from the folder from to to (both absolute and
 * resolved), as a relative symlink in from would hold it:
 * ("/a/sheet/c", "/a/img/x.jpg") -> "../../img/x.jpg". malloc'd; NULL when
 * out of memory.
 */
char *sample_relative_path(const char *from, const char *to);

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
