/*
 * summary: what a run tells its operator and its scheduler: a human summary
 * on stderr (counts, categories, pairs per category, how close the chosen
 * pairs are against random pairs, the stored model and its drift), and
 * exactly one JSON line on stdout with the run id, status and counts (also
 * written to --xcom-file).
 *
 * It prints a Report; it computes nothing and owns nothing.
 */
#ifndef PAIRPICK_SUMMARY_H
#define PAIRPICK_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>

#include "core/error.h"
#include "core/images.h"
#include "core/sidefile.h"
#include "run/categorize.h"
#include "run/report.h"

/* The human summary, with the pairs chosen per category (may be NULL). */
void summary_print_human(FILE *out, const Report *report, const Images *images,
                        const Categories *categories, const size_t *pairs_per_category);

/*
 * The one JSON line. Does not flush: returns false when out's error flag
 * is set (a write failed), so the caller's flush and check see every
 * failure.
 */
bool summary_print_json(FILE *out, const Report *report);

/*
 * Writes the JSON line for --xcom-file into a side file and finishes it
 * (written and synced, not yet renamed): *prepared is the caller's to
 * sidefile_commit or sidefile_abandon. ERR_USAGE for a path that cannot be
 * a side file, ERR_IOERR when the write failed (*prepared NULL then).
 */
int summary_write_json_file(const char *path, const Report *report, SideFile **prepared,
                            Error *err);

#endif
