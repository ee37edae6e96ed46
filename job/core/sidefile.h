/*
 * sidefile: the files a run writes beside its database work (the xcom JSON,
 * the metrics file, the labels, rejects and pairs CSVs, sample's
 * index.html), written whole or not at all.
 *
 * A side file is written into a temporary sibling created exclusively
 * (O_CREAT | O_EXCL | O_NOFOLLOW, a random name "PATH.tmp-XXXXXX", so a
 * symlink planted there is never followed), every write is checked, and
 * the file is flushed, synced and closed before it is renamed over the
 * destination; a reader never sees half a file and a failed run never
 * replaces a complete earlier file. A destination that exists and is not a
 * regular file (a device node such as /dev/full, /dev/stdout, a symlink, a
 * folder) is refused, as is a destination whose folder is missing.
 *
 * Codes: ERR_USAGE for a path that cannot be a side file (missing folder,
 * not a regular file, no permission), ERR_IOERR for a write that failed
 * (disk full, I/O error). Messages start "cannot write <what> 'PATH'".
 *
 * The SideFile is the module's: sidefile_commit and sidefile_abandon free
 * it. Not thread-safe: one thread writes one side file.
 */
#ifndef PAIRPICK_SIDEFILE_H
#define PAIRPICK_SIDEFILE_H

#include <stdbool.h>
#include <stdio.h>

#include "core/error.h"

typedef struct SideFile SideFile;

/*
 * Checks, without creating anything, that path can be a side file: its
 * folder exists and is writable, and path is absent or a regular file.
 * what names the file in the message ("labels file"; NULL: none). For the
 * start of a run, so a bad path is reported before anything is committed.
 */
int sidefile_check(const char *path, const char *what, Error *err);

/*
 * Checks path as sidefile_check does and creates its temporary sibling.
 * NULL with err set on failure. what is copied.
 */
SideFile *sidefile_open(const char *path, const char *what, Error *err);

/* The stream to write the content to (owned by the SideFile). */
FILE *sidefile_stream(const SideFile *file);

/*
 * Flushes, syncs and closes the temporary file, checking each step and the
 * stream's error flag; the destination is not touched yet. On failure the
 * temporary file is removed (the SideFile stays the caller's, to abandon).
 * Calling it twice is harmless.
 */
int sidefile_finish(SideFile *file, Error *err);

/*
 * Finishes file when not yet finished, then renames it over its
 * destination (checked again to be absent or a regular file) and syncs the
 * folder. On failure nothing is published and the temporary file removed.
 * Frees file either way.
 */
int sidefile_commit(SideFile *file, Error *err);

/* Closes and removes the temporary file; the destination is untouched. NULL: no-op. */
void sidefile_abandon(SideFile *file);

#endif
