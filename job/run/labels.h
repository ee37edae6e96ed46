/*
 * labels: the file of `pairpick run --labels-file PATH`: one CSV line per
 * selected image with its id and the category it was given (score:3,
 * cluster:17, cluster:17/score:2, or the category column's value; empty when
 * the image is not paired, e.g. alone in its category). For operators who
 * want to look at or compare clusterings (the bench compares a bounded run's
 * clusters with an unbounded run's this way).
 *
 * It writes PATH whole or not at all (a temporary file renamed into place).
 * It does not read the database. Nothing it returns needs freeing.
 */
#ifndef PAIRPICK_LABELS_H
#define PAIRPICK_LABELS_H

#include "run/categorize.h"
#include "core/error.h"
#include "core/images.h"

/*
 * Writes "id,label" and one line per image in row order, as a side file
 * (core/sidefile: whole or not at all). ERR_USAGE when PATH cannot be a
 * side file, ERR_IOERR when a write fails.
 */
int labels_write(const char *path, const Images *images, const Categories *categories, Error *err);

#endif
