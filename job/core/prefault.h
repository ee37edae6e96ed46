/*
 * prefault: scratch memory written for the first time by a helper thread,
 * ahead of the moment it is needed.
 *
 * The first write of each fresh page costs a fault and a zeroed page: on
 * this project's VM 270 MB/s with 4 kB pages and 418 MB/s with huge pages
 * (tests/bench/touch.c), so the 25 MB of keys and order that indexing
 * 900,000 uuid ids needs after a stream cost 50-70 ms on their own. A
 * read's client waits on the server for about half of the stream; a
 * Prefault grows with the rows and has a thread of its own write its pages
 * while they come in, so that the work after the stream finds them ready.
 *
 * One owner thread calls every function; the helper only writes pages.
 * Without a helper (pthread_create failed) the region is still there, just
 * cold. The region is one anonymous mapping on a huge page boundary with
 * huge pages advised; growing it is mremap (written pages stay written).
 */
#ifndef PAIRPICK_PREFAULT_H
#define PAIRPICK_PREFAULT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct Prefault Prefault;

/* A Prefault of no bytes yet, its helper started; NULL when out of memory. */
Prefault *prefault_new(void);

/* Room for at least bytes (never shrinks); false when the mapping cannot grow. */
bool prefault_reserve(Prefault *prefault, size_t bytes);

/* Asks for [0, bytes) to be written (up to the reserved size); returns at once. */
void prefault_want(Prefault *prefault, size_t bytes);

/*
 * Stops the helper and hands the mapping over: NULL when it holds fewer
 * than bytes (then it is unmapped), else the region, whose mapping of
 * *mapped bytes the caller unmaps (munmap). The Prefault is freed either way.
 */
void *prefault_take(Prefault *prefault, size_t bytes, size_t *mapped);

/* Stops the helper and unmaps everything; NULL is a no-op. */
void prefault_free(Prefault *prefault);

/* Bytes written so far (for tests). */
size_t prefault_written(Prefault *prefault);

#endif
