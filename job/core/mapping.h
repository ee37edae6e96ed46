/*
 * mapping: anonymous memory mappings on huge page boundaries, for the large
 * arrays (core/images.c) and scratch (core/prefault.c) whose first writes
 * should take one fault per 2 MB rather than one per 4 kB. Growing one is
 * mremap: page tables move, written pages stay.
 */
#ifndef PAIRPICK_MAPPING_H
#define PAIRPICK_MAPPING_H

#include <stddef.h>

#define MAPPING_HUGE_PAGE ((size_t)2 << 20)

/*
 * A fresh mapping of bytes (a multiple of MAPPING_HUGE_PAGE) that starts on
 * a huge page boundary, so that huge pages can back all of it (one that
 * starts anywhere has a partial 2 MB at each end); NULL when none can be
 * had. Huge pages are advised.
 */
void *mapping_new(size_t bytes);

/*
 * As mapping_new, with no swap or commit charge reserved for it
 * (MAP_NORESERVE): address space for rows that may never come, whose pages
 * exist only once written.
 */
void *mapping_reserve(size_t bytes);

/*
 * memory (a mapping of mapped bytes) grown to bytes (a multiple of
 * MAPPING_HUGE_PAGE): in place when the addresses after it are free, else
 * moved to an aligned range of its own. NULL when it cannot grow (memory
 * is then as it was).
 */
void *mapping_grow(void *memory, size_t mapped, size_t bytes);

/* bytes rounded up to whole huge pages (at least one); 0 when that overflows. */
size_t mapping_round(size_t bytes);

#endif
