#include "core/mapping.h"

#include <stdint.h>
#include <sys/mman.h>

static void advise_huge_pages(void *memory, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    (void)madvise(memory, bytes, MADV_HUGEPAGE); /* advice: without it, 4 kB pages */
#else
    (void)memory, (void)bytes;
#endif
}

static void *mapping_with(size_t bytes, int flags)
{
    if (bytes > SIZE_MAX - MAPPING_HUGE_PAGE)
        return NULL;
    size_t span = bytes + MAPPING_HUGE_PAGE;
    char *start = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (start == MAP_FAILED)
        return NULL;
    char *aligned =
        start + (MAPPING_HUGE_PAGE - (uintptr_t)start % MAPPING_HUGE_PAGE) % MAPPING_HUGE_PAGE;
    if (aligned > start)
        munmap(start, (size_t)(aligned - start));
    if (start + span > aligned + bytes)
        munmap(aligned + bytes, (size_t)(start + span - (aligned + bytes)));
    advise_huge_pages(aligned, bytes);
    return aligned;
}

void *mapping_new(size_t bytes)
{
    return mapping_with(bytes, 0);
}

void *mapping_reserve(size_t bytes)
{
    return mapping_with(bytes, MAP_NORESERVE);
}

void *mapping_grow(void *memory, size_t mapped, size_t bytes)
{
    void *region = mremap(memory, mapped, bytes, 0);
    if (region == MAP_FAILED) {
        void *target = mapping_new(bytes);
        if (target == NULL)
            return NULL;
        region = mremap(memory, mapped, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, target);
        if (region == MAP_FAILED) {
            munmap(target, bytes);
            return NULL;
        }
    }
    advise_huge_pages(region, bytes);
    return region;
}

size_t mapping_round(size_t bytes)
{
    if (bytes > SIZE_MAX - MAPPING_HUGE_PAGE)
        return 0;
    bytes = (bytes + MAPPING_HUGE_PAGE - 1) / MAPPING_HUGE_PAGE * MAPPING_HUGE_PAGE;
    return bytes < MAPPING_HUGE_PAGE ? MAPPING_HUGE_PAGE : bytes;
}
