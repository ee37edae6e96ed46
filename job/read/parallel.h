/*
 * parallel: splits one read over several connections. The main connection
 * (in the caller's REPEATABLE READ transaction) exports its snapshot and
 * counts the rows of each partition (a hash of the id); each worker thread
 * joins that snapshot on its own connection and streams its partition
 * (read/stream.h's COPY set-up, read/copy.h's parser) into its own slice of
 * the one embedding matrix; the partitions are then merged in order.
 *
 * It does not parse bytes or build SQL (read/plan.h does). The caller owns
 * the main Db, its transaction and the Images; worker connections come
 * from the caller's StreamConnectFn and are closed here.
 */
#ifndef PAIRPICK_PARALLEL_H
#define PAIRPICK_PARALLEL_H

#include "core/error.h"
#include "core/images.h"
#include "db/db.h"
#include "read/copy.h"
#include "read/plan.h"
#include "read/stream.h"

/* Opens one more connection for a worker (same settings as the main one). */
typedef int (*StreamConnectFn)(void *context, Db **out, Error *err);

/*
 * Like stream_read, split over `workers` connections: the main connection
 * (in a REPEATABLE READ transaction, which the caller opened) exports its
 * snapshot, the rows of each partition (a hash of the id) are counted
 * (unless options->part_rows holds the counts for `workers` partitions), the
 * embedding matrix is allocated once at its final size, and each worker
 * streams its partition in the same snapshot into its own slice of the
 * matrix. The rows read are exactly what stream_read would read. Images
 * that keep no embeddings (bounded mode) get them through on_row, one
 * context per worker (on_partitions); with lookup_only, images is only
 * read (images_find from every worker at once) and nothing is added.
 */
int stream_read_parallel(Db *db, const Plan *plan, const StreamOptions *options, int workers,
                         StreamConnectFn connect, void *connect_context, Images *images,
                         StreamStats *stats, Error *err);

/*
 * One scan of the source, inside the caller's transaction: kept[p] receives
 * the rows the filters keep in partition p of `parts` (the partitions of
 * stream_read_parallel over `parts` workers; parts 1: all of them), and
 * *source_rows the rows of the source before filters. A parallel read over
 * `parts` workers in the same snapshot that is given kept
 * (StreamOptions.part_rows) does not count again.
 */
int stream_count_partitions(Db *db, const Plan *plan, int parts, uint64_t *kept,
                            uint64_t *source_rows, Error *err);

/*
 * stream_read_parallel over `streams` workers when streams > 1, else
 * stream_read on db with one context: on_partitions is then called with
 * rows NULL (not counted) and streams 1 before the read. For callers whose
 * on_row needs a context per stream either way.
 */
int stream_read_split(Db *db, const Plan *plan, StreamOptions *options, int streams,
                      StreamConnectFn connect, void *connect_context, Images *images,
                      StreamStats *stats, Error *err);

#endif
