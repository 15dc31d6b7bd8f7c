/* examples/demo.c - what rcgc does, shown with real figures.
 *
 * The quick start's first command runs this. It grows with every layer;
 * today it shows layer 1, the portable base under everything else:
 * malloc(0) and overflow rules, an arena-sized aligned mapping whose memory
 * goes back to the OS when decommitted (seed 003's "RSS back down" in
 * miniature), failure injection, and the raw counters.
 */
#include "raw/raw_internal.h"

#include <rcgc.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

/* Resident set size of this process in MiB, from /proc/self/statm. */
static double rss_mib(void) {
    FILE *statm = fopen("/proc/self/statm", "r");
    unsigned long size_pages = 0, resident_pages = 0;
    if (statm != NULL) {
        if (fscanf(statm, "%lu %lu", &size_pages, &resident_pages) != 2)
            resident_pages = 0;
        fclose(statm);
    }
    return (double)resident_pages * (double)rcgc_page_size() / (double)MiB;
}

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void show_portable_rules(void) {
    printf("1. Portable allocation rules (layer 1, CPython's PyMem_Raw* behaviour)\n");
    void *first = rcgc_raw_malloc(0);
    void *second = rcgc_raw_malloc(0);
    printf("   rcgc_raw_malloc(0) twice       -> %p, %p (unique, non-NULL)\n", first, second);
    errno = 0;
    void *overflow = rcgc_raw_calloc(SIZE_MAX / 2 + 1, 2);
    printf("   rcgc_raw_calloc(2^63, 2)       -> %p, errno %s\n", overflow,
           errno == ENOMEM ? "ENOMEM" : strerror(errno));
    void *shrunk = rcgc_raw_realloc(first, 0);
    printf("   rcgc_raw_realloc(p, 0)         -> %p (a unique zero-size block; p released)\n",
           shrunk);
    rcgc_raw_free(shrunk);
    rcgc_raw_free(second);
}

static int show_return_to_os(void) {
    const size_t size = 256 * MiB, alignment = 64 * MiB;
    printf("\n2. Memory goes back to the OS (an arena-sized mapping, %zu MiB aligned)\n",
           alignment / MiB);
    double before = rss_mib();
    unsigned char *region = rcgc__raw_map(size, alignment, 0);
    if (region == NULL) {
        perror("   rcgc__raw_map");
        return 1;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t at = 0; at < size; at += rcgc_page_size())
        region[at] = 1;
    double touch_s = seconds_since(&start);
    double touched = rss_mib();
    clock_gettime(CLOCK_MONOTONIC, &start);
    rcgc__raw_decommit(region, size);
    double decommit_s = seconds_since(&start);
    double after = rss_mib();
    printf("   mapped at %p (address %% %zu MiB == %zu)\n", (void *)region, alignment / MiB,
           (size_t)((uintptr_t)region % alignment));
    printf("   RSS before %.1f MiB -> after touching %zu MiB %.1f MiB (%.3f s)\n", before,
           size / MiB, touched, touch_s);
    printf("   -> after decommit %.1f MiB (%.4f s): %.1f%% of the touched memory returned\n", after,
           decommit_s, 100.0 * (touched - after) / (touched - before));
    rcgc__raw_unmap(region, size, size);
    return 0;
}

static void show_failure_injection(void) {
    printf("\n3. Failure injection: rcgc_fault_inject(RCGC_FAULT_MALLOC, 2, 1)\n");
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 2, 1);
    void *blocks[4];
    for (int i = 0; i < 4; i++) {
        errno = 0;
        blocks[i] = rcgc_raw_malloc(64);
        printf("   malloc #%d -> %s\n", i + 1,
               blocks[i] != NULL ? "ok" : (errno == ENOMEM ? "NULL, ENOMEM (injected)" : "NULL"));
    }
    rcgc_fault_clear();
    for (int i = 0; i < 4; i++)
        rcgc_raw_free(blocks[i]);
}

int main(void) {
    printf("rcgc %s demo (layer 1: the raw layer), page size %zu B\n\n", rcgc_version_string(),
           rcgc_page_size());
    show_portable_rules();
    if (show_return_to_os() != 0)
        return 1;
    show_failure_injection();
    printf("\n4. The raw layer's counters (rcgc_print_raw_stats)\n");
    rcgc_print_raw_stats(stdout);
    return 0;
}
