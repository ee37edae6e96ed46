#include "core/half.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HALF_HAVE_F16C 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* The float's exponent bias minus the half's: 127 - 15. */
#define EXPONENT_REBIAS 112
#define FLOAT_QUIET_BIT 0x00400000u

float half_to_float(uint16_t half)
{
    uint32_t sign = (uint32_t)(half & 0x8000u) << 16;
    uint32_t exponent = (half >> 10) & 0x1Fu;
    uint32_t mantissa = half & 0x3FFu;
    uint32_t bits;
    float value;

    if (exponent == 0x1F) { /* Inf, or NaN made quiet with its payload */
        bits = sign | 0x7F800000u | mantissa << 13;
        if (mantissa != 0)
            bits |= FLOAT_QUIET_BIT;
    } else if (exponent != 0) {
        bits = sign | (exponent + EXPONENT_REBIAS) << 23 | mantissa << 13;
    } else {
        /* Zero or subnormal: mantissa * 2^-24, exact in float (a normal
         * float for every nonzero mantissa). */
        value = (float)mantissa * 0x1p-24f;
        memcpy(&bits, &value, sizeof bits);
        bits |= sign;
    }
    memcpy(&value, &bits, sizeof value);
    return value;
}

static uint16_t half_at(const unsigned char *p, HalfOrder order)
{
    return order == HALF_BIG_ENDIAN ? (uint16_t)((unsigned)p[0] << 8 | p[1])
                                    : (uint16_t)((unsigned)p[1] << 8 | p[0]);
}

static void decode_portable(const unsigned char *bytes, size_t count, HalfOrder order,
                            float *out)
{
    for (size_t i = 0; i < count; i++)
        out[i] = half_to_float(half_at(bytes + 2 * i, order));
}

#ifdef HALF_HAVE_F16C
/* Eight halves at a time with VCVTPH2PS; the tail by the portable path. */
__attribute__((target("avx,f16c"))) static void decode_f16c(const unsigned char *bytes,
                                                             size_t count, HalfOrder order,
                                                             float *out)
{
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i words = _mm_loadu_si128((const __m128i *)(const void *)(bytes + 2 * i));
        if (order == HALF_BIG_ENDIAN) /* swap the bytes of each 16-bit word */
            words = _mm_or_si128(_mm_slli_epi16(words, 8), _mm_srli_epi16(words, 8));
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(words));
    }
    /* Clean upper halves before SSE code runs again (the caller's is not
     * VEX-encoded): a dirty state makes each SSE instruction after it slow. */
    _mm256_zeroupper();
    decode_portable(bytes + 2 * i, count - i, order, out + i);
}
#endif

#ifdef HALF_HAVE_F16C
/*
 * F16C, and AVX with its registers enabled by the OS (which
 * __builtin_cpu_supports("avx") checks). clang has no "f16c" for
 * __builtin_cpu_supports, so that bit comes from CPUID leaf 1.
 */
static bool cpu_has_f16c(void)
{
    unsigned eax, ebx, ecx, edx;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx") || !__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return false;
    return (ecx & bit_F16C) != 0;
}
#endif

bool half_path_available(HalfPath path)
{
    if (path == HALF_PATH_PORTABLE)
        return true;
#ifdef HALF_HAVE_F16C
    /* Asked once: CPUID costs a trip to the hypervisor on a virtual machine. */
    static atomic_int known = -1;
    int has = atomic_load_explicit(&known, memory_order_relaxed);
    if (has < 0) {
        has = cpu_has_f16c();
        atomic_store_explicit(&known, has, memory_order_relaxed);
    }
    return has == 1;
#else
    return false;
#endif
}

void half_decode_path(HalfPath path, const unsigned char *bytes, size_t count, HalfOrder order,
                      float *out)
{
#ifdef HALF_HAVE_F16C
    if (path == HALF_PATH_F16C) {
        decode_f16c(bytes, count, order, out);
        return;
    }
#endif
    (void)path;
    decode_portable(bytes, count, order, out);
}

void half_decode(const unsigned char *bytes, size_t count, HalfOrder order, float *out)
{
    half_decode_path(half_path_available(HALF_PATH_F16C) ? HALF_PATH_F16C : HALF_PATH_PORTABLE,
                     bytes, count, order, out);
}
