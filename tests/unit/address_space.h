/*
 * address_space: the process's address space in bytes, for the unit tests
 * that bound a selector's memory under RLIMIT_AS (not built under
 * AddressSanitizer, which reserves terabytes of it; core/sanitizer.h).
 */
#ifndef PAIRPICK_TEST_ADDRESS_SPACE_H
#define PAIRPICK_TEST_ADDRESS_SPACE_H

#include <stddef.h>
#include <stdio.h>

#include "core/sanitizer.h"

#ifndef PAIRPICK_ASAN
/* From /proc/self/statm; 0 when unknown. */
static size_t address_space(void)
{
    FILE *statm = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (statm == NULL)
        return 0;
    if (fscanf(statm, "%lu", &pages) != 1)
        pages = 0;
    fclose(statm);
    return (size_t)pages * 4096;
}
#endif

#endif
