/*
 * permute: the rows of a float matrix put in a new order in place, by the
 * cycles of the order, over several threads.
 *
 * A parallel read leaves the embedding rows where they arrived; the
 * canonical order (rows by id) moves every one of them once: 830 MB at
 * 300,000 x 768, about 0.13 s on one core of this project's VM, where two
 * cores copy the same random rows in about 0.09 s (memory bandwidth is
 * the limit, not the cores). The cycles are laid end to end and cut into
 * equal ranges; a range that begins inside a cycle gets copies, made
 * before any range runs, of the two rows a neighbour overwrites (its own
 * first row, which the range before it reads last, and its cycle's first
 * row). Each range then touches only its own rows, so the ranges may run
 * at once or one after the other, with the same result.
 */
#ifndef PAIRPICK_PERMUTE_H
#define PAIRPICK_PERMUTE_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Row k of matrix (count rows of dim floats) becomes the old row from[k]:
 * from is a permutation of 0 .. count - 1. Up to `threads` threads
 * (counting the caller's); a thread that cannot start has its range run by
 * the caller. ERR_NOMEM (nothing moved) when the bookkeeping cannot be had.
 */
int permute_rows(float *matrix, size_t dim, const uint32_t *from, size_t count, int threads,
                 Error *err);

#endif
