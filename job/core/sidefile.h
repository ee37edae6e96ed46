/*
 * sidefile: the files a run writes beside its database work (the xcom JSON,
 * the metrics file, the labels and rejects CSVs), written whole or not at
 * all: into a temporary sibling, flushed and synced, then renamed over the
 * destination, so a reader never sees half a file.
 *
 * sidefile_open hands back the open stream and the temporary name (both
 * the caller's until sidefile_commit or sidefile_abandon, which close the
 * stream and free the name).
 */
#ifndef PAIRPICK_SIDEFILE_H
#define PAIRPICK_SIDEFILE_H

#include <stdio.h>

#include "core/error.h"

/* Opens path's temporary sibling; NULL with err set (ERR_USAGE) on failure. */
FILE *sidefile_open(const char *path, char **temp, Error *err);

/*
 * Flushes, syncs and closes file, then renames temp over path. On any
 * failure the temporary file is removed and ERR_USAGE returned. Frees temp.
 */
int sidefile_commit(FILE *file, char *temp, const char *path, Error *err);

/* Closes file and removes the temporary file (a run that failed). Frees temp. */
void sidefile_abandon(FILE *file, char *temp);

#endif
