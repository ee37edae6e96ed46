/*
 * What fresh memory costs on this machine (make bench prints it next to the
 * load average): writing one byte per 4 KiB page of a new anonymous mapping
 * (the kernel faults each page in and zeroes it), with 4 KiB pages and with
 * transparent huge pages, then the same with huge pages again right after
 * the first mapping was released (the pages the kernel hands out again).
 * On a virtual machine whose hypervisor backs guest memory lazily, or where
 * a page fault is expensive, the first two are far below memory bandwidth,
 * and a read that writes its matrix for the first time pays that rate.
 *
 *   touch [MiB]    prints: 4k <MB/s> huge <MB/s> huge-again <MB/s>
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define HUGE_PAGE ((size_t)2 << 20)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* MB/s of the first write to every page of a new mapping of `bytes`. */
static double first_touch(size_t bytes, int advice)
{
    char *mapped = mmap(NULL, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) {
        perror("touch: mmap");
        exit(1);
    }
    char *start = (char *)(((uintptr_t)mapped + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    (void)madvise(start, bytes, advice);
    double t0 = now();
    for (size_t at = 0; at < bytes; at += 4096)
        start[at] = 1;
    double seconds = now() - t0;
    munmap(mapped, bytes + HUGE_PAGE);
    return (double)bytes / 1e6 / seconds;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    if (mib < 2 || mib > 65536) {
        fprintf(stderr, "usage: touch [MiB, 2 to 65536]\n");
        return 64;
    }
    size_t bytes = mib << 20;
    double small = first_touch(bytes, MADV_NOHUGEPAGE);
    double huge = first_touch(bytes, MADV_HUGEPAGE);
    double again = first_touch(bytes, MADV_HUGEPAGE);
    printf("4k %.0f huge %.0f huge-again %.0f\n", small, huge, again);
    return 0;
}
