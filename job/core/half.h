/*
 * half: IEEE 754 half precision (binary16) to float32, exactly: normals,
 * subnormals, signed zeros, infinities and NaNs (a NaN keeps its payload
 * and comes back quiet, as the F16C instructions make it). Halves arrive
 * as packed 2-byte words in either byte order (pgvector's halfvec sends
 * them big-endian; a bytea of halves holds them little-endian).
 *
 * Two paths give the same bits for every one of the 65,536 halves: the
 * F16C instructions (x86-64 CPUs that have them, chosen at run time) and a
 * portable one. It does not check values: callers reject NaN and Inf
 * themselves. Nothing is allocated; the caller owns both buffers.
 */
#ifndef PAIRPICK_HALF_H
#define PAIRPICK_HALF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { HALF_LITTLE_ENDIAN, HALF_BIG_ENDIAN } HalfOrder;

typedef enum { HALF_PATH_PORTABLE, HALF_PATH_F16C } HalfPath;

/* One half's bits to a float, by the portable path. */
float half_to_float(uint16_t half);

/* Whether this machine can take the path (the portable one always). */
bool half_path_available(HalfPath path);

/*
 * Converts count halves at bytes (2 * count bytes, any alignment) into
 * out[0..count), by the given path, which must be available.
 */
void half_decode_path(HalfPath path, const unsigned char *bytes, size_t count, HalfOrder order,
                      float *out);

/* The same by the fastest available path. */
void half_decode(const unsigned char *bytes, size_t count, HalfOrder order, float *out);

#endif
