/* tests/test_raw.c - layer 1: portable raw allocation, mappings, decommit,
 * guard pages, failure injection and counters.
 *
 * Resident memory is measured per range with mincore(2), which is exact for
 * the pages of one mapping and unaffected by the rest of the process.
 */
#include "raw/raw_internal.h"
#include "support/resident.h"

#include <rcgc/raw.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#define MiB ((size_t)1 << 20)

static struct rcgc_raw_stats stats_now(void) {
    struct rcgc_raw_stats stats;
    rcgc_raw_stats(&stats);
    return stats;
}

static void touch_every_page(char *addr, size_t size, char value) {
    for (size_t at = 0; at < size; at += rcgc_page_size())
        addr[at] = value;
}

static int teardown_faults(void **state) {
    (void)state;
    rcgc_fault_clear();
    rcgc__raw_check_counters();
    return 0;
}

/* ------------------------------------------------------------ Allocation */

static void raw_malloc_zero_returns_unique_pointer(void **state) {
    (void)state;
    void *first = rcgc_raw_malloc(0);
    void *second = rcgc_raw_malloc(0);
    assert_non_null(first);
    assert_non_null(second);
    assert_ptr_not_equal(first, second);
    rcgc_raw_free(first);
    rcgc_raw_free(second);
}

static void raw_malloc_is_aligned_for_any_object(void **state) {
    (void)state;
    for (size_t size = 1; size <= 4096; size = size * 3 + 1) {
        void *block = rcgc_raw_malloc(size);
        assert_non_null(block);
        assert_int_equal((uintptr_t)block % _Alignof(max_align_t), 0);
        memset(block, 0x5a, size);
        rcgc_raw_free(block);
    }
}

static void raw_malloc_above_ptrdiff_max_fails_with_enomem(void **state) {
    (void)state;
    const size_t too_large[] = {(size_t)PTRDIFF_MAX + 1, SIZE_MAX - 4096, SIZE_MAX};
    for (size_t i = 0; i < sizeof too_large / sizeof too_large[0]; i++) {
        errno = 0;
        assert_null(rcgc_raw_malloc(too_large[i]));
        assert_int_equal(errno, ENOMEM);
    }
}

static void raw_calloc_overflow_fails_with_enomem(void **state) {
    (void)state;
    struct rcgc_raw_stats before = stats_now();
    errno = 0;
    assert_null(rcgc_raw_calloc(SIZE_MAX / 2 + 1, 2));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(rcgc_raw_calloc(2, SIZE_MAX / 2 + 1));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(rcgc_raw_calloc((size_t)PTRDIFF_MAX / 2 + 1, 2)); /* no overflow, too large */
    assert_int_equal(errno, ENOMEM);
    assert_int_equal(stats_now().mallocs, before.mallocs);
}

static void raw_calloc_zero_returns_unique_pointer(void **state) {
    (void)state;
    void *a = rcgc_raw_calloc(0, 16);
    void *b = rcgc_raw_calloc(16, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    rcgc_raw_free(a);
    rcgc_raw_free(b);
}

static void raw_calloc_returns_zeroed_memory_after_reuse(void **state) {
    (void)state;
    /* Dirty blocks of the same size first so calloc is likely to reuse one. */
    for (int round = 0; round < 8; round++) {
        unsigned char *dirty = rcgc_raw_malloc(1000);
        assert_non_null(dirty);
        memset(dirty, 0xff, 1000);
        rcgc_raw_free(dirty);
        unsigned char *zeroed = rcgc_raw_calloc(250, 4);
        assert_non_null(zeroed);
        for (size_t i = 0; i < 1000; i++)
            assert_int_equal(zeroed[i], 0);
        rcgc_raw_free(zeroed);
    }
}

static void raw_realloc_null_behaves_as_malloc(void **state) {
    (void)state;
    struct rcgc_raw_stats before = stats_now();
    char *block = rcgc_raw_realloc(NULL, 32);
    assert_non_null(block);
    memset(block, 1, 32);
    assert_int_equal(stats_now().mallocs - stats_now().frees, before.mallocs - before.frees + 1);
    rcgc_raw_free(block);
}

static void raw_realloc_keeps_content_when_growing_and_shrinking(void **state) {
    (void)state;
    unsigned char *block = rcgc_raw_malloc(64);
    assert_non_null(block);
    for (int i = 0; i < 64; i++)
        block[i] = (unsigned char)i;
    block = rcgc_raw_realloc(block, 1 << 20);
    assert_non_null(block);
    for (int i = 0; i < 64; i++)
        assert_int_equal(block[i], i);
    block = rcgc_raw_realloc(block, 16);
    assert_non_null(block);
    for (int i = 0; i < 16; i++)
        assert_int_equal(block[i], i);
    rcgc_raw_free(block);
}

static void raw_realloc_zero_returns_unique_block_and_releases_old(void **state) {
    (void)state;
    struct rcgc_raw_stats before = stats_now();
    void *block = rcgc_raw_malloc(100);
    assert_non_null(block);
    void *other_empty = rcgc_raw_malloc(0);
    void *empty = rcgc_raw_realloc(block, 0);
    assert_non_null(empty);
    assert_ptr_not_equal(empty, other_empty);
    struct rcgc_raw_stats after = stats_now();
    /* Two blocks live: the zero-size one from realloc and other_empty. */
    assert_int_equal(after.mallocs - after.frees, before.mallocs - before.frees + 2);
    rcgc_raw_free(empty);
    rcgc_raw_free(other_empty);
}

static void raw_realloc_failure_leaves_block_intact(void **state) {
    (void)state;
    char *block = rcgc_raw_malloc(48);
    assert_non_null(block);
    memcpy(block, "layer one keeps the caller's block on failure", 46);
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 0, 1);
    errno = 0;
    assert_null(rcgc_raw_realloc(block, 4096));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(rcgc_raw_realloc(block, SIZE_MAX)); /* too large: no injection needed */
    assert_int_equal(errno, ENOMEM);
    assert_string_equal(block, "layer one keeps the caller's block on failure");
    rcgc_raw_free(block);
}

static void raw_free_null_does_nothing(void **state) {
    (void)state;
    struct rcgc_raw_stats before = stats_now();
    rcgc_raw_free(NULL);
    assert_int_equal(stats_now().frees, before.frees);
}

/* ------------------------------------------------------- Failure injection */

/* rcgc's own bookkeeping is accounted to the byte (rcgc_memory_accounting
 * sums it): what is asked, as long as the block lives. */
static void raw_bytes_allocated_follow_each_block(void **state) {
    (void)state;
    struct rcgc_raw_stats s0, s1, s2, s3;
    rcgc_raw_stats(&s0);
    char *block = rcgc_raw_malloc(1000);
    assert_non_null(block);
    rcgc_raw_stats(&s1);
    assert_int_equal(s1.bytes_allocated - s0.bytes_allocated, 1000);
    char *grown = rcgc_raw_realloc(block, 5000);
    assert_non_null(grown);
    char *zeroed = rcgc_raw_calloc(3, 7);
    assert_non_null(zeroed);
    rcgc_raw_stats(&s2);
    assert_int_equal(s2.bytes_allocated - s0.bytes_allocated, 5021);
    rcgc_raw_free(grown);
    rcgc_raw_free(zeroed);
    rcgc_raw_stats(&s3);
    assert_int_equal(s3.bytes_allocated, s0.bytes_allocated);
    assert_int_equal(s3.mallocs - s3.frees, s0.mallocs - s0.frees);
}

static void fault_inject_fails_only_the_nth_call(void **state) {
    (void)state;
    struct rcgc_raw_stats before = stats_now();
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 2, 1);
    void *first = rcgc_raw_malloc(8);
    void *second = rcgc_raw_calloc(1, 8);
    errno = 0;
    void *third = rcgc_raw_malloc(8);
    int third_errno = errno;
    void *fourth = rcgc_raw_malloc(8);
    assert_non_null(first);
    assert_non_null(second);
    assert_null(third);
    assert_int_equal(third_errno, ENOMEM);
    assert_non_null(fourth);
    assert_int_equal(stats_now().faults_injected, before.faults_injected + 1);
    rcgc_raw_free(first);
    rcgc_raw_free(second);
    rcgc_raw_free(fourth);
}

static void fault_inject_forever_fails_every_call_until_cleared(void **state) {
    (void)state;
    rcgc_fault_inject(RCGC_FAULT_ALL, 0, RCGC_FAULT_FOREVER);
    for (int i = 0; i < 100; i++) {
        assert_null(rcgc_raw_malloc(16));
        assert_null(rcgc__raw_map(MiB, MiB, 0));
    }
    rcgc_fault_clear();
    void *block = rcgc_raw_malloc(16);
    assert_non_null(block);
    rcgc_raw_free(block);
}

static void fault_inject_only_affects_the_named_sites(void **state) {
    (void)state;
    rcgc_fault_inject(RCGC_FAULT_MAP, 0, RCGC_FAULT_FOREVER);
    void *block = rcgc_raw_malloc(16);
    assert_non_null(block);
    rcgc_raw_free(block);
    errno = 0;
    assert_null(rcgc__raw_map(MiB, 0, 0));
    assert_int_equal(errno, ENOMEM);
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 0, RCGC_FAULT_FOREVER);
    void *region = rcgc__raw_map(MiB, 0, 0);
    assert_non_null(region);
    rcgc__raw_unmap(region, MiB, 0);
}

static void fault_inject_replaces_the_earlier_setting(void **state) {
    (void)state;
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 0, RCGC_FAULT_FOREVER);
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 1, 1); /* restarts the count */
    void *first = rcgc_raw_malloc(8);
    assert_non_null(first);
    assert_null(rcgc_raw_malloc(8));
    void *third = rcgc_raw_malloc(8);
    assert_non_null(third);
    rcgc_raw_free(first);
    rcgc_raw_free(third);
}

/* ---------------------------------------------------------------- Mappings */

static void map_returns_zeroed_memory_at_the_requested_alignment(void **state) {
    (void)state;
    const size_t alignments[] = {0, 4096, 64 * 1024, 2 * MiB, 4 * MiB, 64 * MiB};
    for (size_t i = 0; i < sizeof alignments / sizeof alignments[0]; i++) {
        size_t size = 3 * MiB + 4096;
        unsigned char *region = rcgc__raw_map(size, alignments[i], 0);
        assert_non_null(region);
        size_t expect = alignments[i] < rcgc_page_size() ? rcgc_page_size() : alignments[i];
        assert_int_equal((uintptr_t)region % expect, 0);
        assert_int_equal(region[0], 0);
        assert_int_equal(region[size - 1], 0);
        region[0] = 1;
        region[size - 1] = 1;
        rcgc__raw_unmap(region, size, 0);
    }
}

static void map_rounds_size_up_to_whole_pages(void **state) {
    (void)state;
    struct rcgc_raw_stats before = stats_now();
    char *region = rcgc__raw_map(1, 0, 0);
    assert_non_null(region);
    assert_int_equal(stats_now().bytes_mapped - before.bytes_mapped, rcgc_page_size());
    region[rcgc_page_size() - 1] = 1; /* the whole page is usable */
    rcgc__raw_unmap(region, rcgc_page_size(), 0);
}

static void map_rejects_zero_size_and_bad_alignment_with_einval(void **state) {
    (void)state;
    errno = 0;
    assert_null(rcgc__raw_map(0, 0, 0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(rcgc__raw_map(MiB, 3 * 4096, 0));
    assert_int_equal(errno, EINVAL);
}

static void map_near_size_max_fails_with_enomem_and_counts_nothing(void **state) {
    (void)state;
    struct rcgc_raw_stats before = stats_now();
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1,
                            (size_t)1 << 62 /* fits the checks; the kernel refuses */};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        assert_null(rcgc__raw_map(sizes[i], (size_t)1 << 40, 0));
        assert_int_equal(errno, ENOMEM);
    }
    struct rcgc_raw_stats after = stats_now();
    assert_int_equal(after.maps, before.maps);
    assert_int_equal(after.bytes_mapped, before.bytes_mapped);
}

static void map_and_unmap_move_the_counters(void **state) {
    (void)state;
    struct rcgc_raw_stats before = stats_now();
    void *region = rcgc__raw_map(8 * MiB, 4 * MiB, 0);
    assert_non_null(region);
    struct rcgc_raw_stats mapped = stats_now();
    assert_int_equal(mapped.maps, before.maps + 1);
    assert_int_equal(mapped.bytes_mapped, before.bytes_mapped + 8 * MiB);
    assert_int_equal(mapped.bytes_committed, before.bytes_committed + 8 * MiB);
    rcgc__raw_decommit((char *)region + 2 * MiB, 2 * MiB);
    rcgc__raw_unmap(region, 8 * MiB, 2 * MiB);
    struct rcgc_raw_stats after = stats_now();
    assert_int_equal(after.unmaps, before.unmaps + 1);
    assert_int_equal(after.bytes_mapped, before.bytes_mapped);
    assert_int_equal(after.bytes_committed, before.bytes_committed);
}

static void unmap_of_part_keeps_the_rest_usable(void **state) {
    (void)state;
    char *region = rcgc__raw_map(4 * MiB, 0, 0);
    assert_non_null(region);
    rcgc__raw_unmap(region, 2 * MiB, 0);
    region[2 * MiB] = 7;
    region[4 * MiB - 1] = 7;
    rcgc__raw_unmap(region + 2 * MiB, 2 * MiB, 0);
}

static void decommit_drops_resident_memory_and_reads_zero(void **state) {
    (void)state;
    size_t size = 32 * MiB;
    char *region = rcgc__raw_map(size, 2 * MiB, 0);
    assert_non_null(region);
    touch_every_page(region, size, 0x33);
    assert_int_equal(resident_pages(region, size), size / rcgc_page_size());
    struct rcgc_raw_stats before = stats_now();
    rcgc__raw_decommit(region, size);
    assert_int_equal(resident_pages(region, size), 0);
    assert_int_equal(region[0], 0);
    assert_int_equal(region[size - 1], 0);
    struct rcgc_raw_stats after = stats_now();
    assert_int_equal(after.decommits, before.decommits + 1);
    assert_int_equal(after.bytes_committed, before.bytes_committed - size);
    rcgc__raw_recommit(region, size);
    assert_int_equal(stats_now().bytes_committed, before.bytes_committed);
    touch_every_page(region, size, 0x44); /* usable again after recommit */
    assert_int_equal(region[size - rcgc_page_size()], 0x44);
    rcgc__raw_unmap(region, size, 0);
}

/* Large ranges are released in pieces (map.c says why): a range that
 * starts and ends inside pieces must lose every page it covers and none
 * beside it. */
static void decommit_and_unmap_across_pieces_release_exactly_the_range(void **state) {
    (void)state;
    size_t page = rcgc_page_size();
    size_t size = 16 * MiB;
    char *region = rcgc__raw_map(size, 2 * MiB, 0);
    assert_non_null(region);
    touch_every_page(region, size, 0x21);
    char *start = region + MiB + page;   /* inside the first piece */
    size_t length = 13 * MiB - 3 * page; /* ends inside the seventh */
    rcgc__raw_decommit(start, length);
    assert_int_equal(resident_pages(start, length), 0);
    assert_int_equal(start[length - page], 0);
    assert_int_equal(start[-(ptrdiff_t)page], 0x21);
    assert_int_equal(start[length], 0x21);
    assert_int_equal(resident_pages(region, MiB + page), (MiB + page) / page);
    rcgc__raw_recommit(start, length);

    rcgc__raw_unmap(start, length, 0);
    unsigned char vec;
    for (size_t off = 0; off < length; off += page) {
        errno = 0;
        assert_int_equal(mincore(start + off, page, &vec), -1);
        assert_int_equal(errno, ENOMEM);
    }
    assert_int_equal(start[-(ptrdiff_t)page], 0x21);
    assert_int_equal(start[length], 0x21);
    rcgc__raw_unmap(region, MiB + page, 0);
    rcgc__raw_unmap(start + length, size - (size_t)(start + length - region), 0);
}

static void decommit_lazy_option_keeps_range_usable(void **state) {
    (void)state;
    setenv("RCGC_DECOMMIT_LAZY", "1", 1);
    rcgc__options_reload_for_tests();
    assert_int_equal(rcgc__options()->decommit_lazy, 1);
    size_t size = 4 * MiB;
    char *region = rcgc__raw_map(size, 0, 0);
    assert_non_null(region);
    touch_every_page(region, size, 0x55);
    struct rcgc_raw_stats before = stats_now();
    rcgc__raw_decommit(region, size);
    assert_int_equal(stats_now().bytes_committed, before.bytes_committed - size);
    rcgc__raw_recommit(region, size);
    touch_every_page(region, size, 0x66);
    assert_int_equal(region[size - rcgc_page_size()], 0x66);
    rcgc__raw_unmap(region, size, 0);
    unsetenv("RCGC_DECOMMIT_LAZY");
    rcgc__options_reload_for_tests();
    assert_int_equal(rcgc__options()->decommit_lazy, 0);
}

/* True when the kernel lists MADV_HUGEPAGE ("hg") among the VmFlags of the
 * mapping that contains @addr. */
static bool smaps_has_hugepage_flag(void *addr) {
    FILE *smaps = fopen("/proc/self/smaps", "r");
    assert_non_null(smaps);
    char line[512];
    bool inside = false;
    bool flagged = false;
    while (fgets(line, sizeof line, smaps) != NULL) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
            inside = (uintptr_t)addr >= start && (uintptr_t)addr < end;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0)
            flagged = strstr(line, " hg") != NULL;
    }
    fclose(smaps);
    return flagged;
}

static void map_huge_flag_marks_the_mapping_for_huge_pages(void **state) {
    (void)state;
    char *plain = rcgc__raw_map(4 * MiB, 2 * MiB, 0);
    char *huge = rcgc__raw_map(4 * MiB, 2 * MiB, RCGC_RAW_MAP_HUGE);
    assert_non_null(plain);
    assert_non_null(huge);
    assert_false(smaps_has_hugepage_flag(plain));
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0)
        assert_true(smaps_has_hugepage_flag(huge));
    rcgc__raw_unmap(plain, 4 * MiB, 0);
    rcgc__raw_unmap(huge, 4 * MiB, 0);
}

/* write(2) from an unreadable buffer into a pipe fails with EFAULT instead
 * of raising SIGSEGV, so a guard page can be checked without a signal
 * handler. (/dev/null would not do: it never reads the buffer.) */
static bool page_is_readable(const void *addr) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    ssize_t wrote = write(fds[1], addr, 1);
    int error = errno;
    close(fds[0]);
    close(fds[1]);
    if (wrote < 0)
        assert_int_equal(error, EFAULT);
    return wrote == 1;
}

static void protect_makes_a_guard_page_and_back(void **state) {
    (void)state;
    size_t page = rcgc_page_size();
    char *region = rcgc__raw_map(4 * page, 0, 0);
    assert_non_null(region);
    assert_true(rcgc__raw_protect(region + page, page, false));
    assert_true(page_is_readable(region));
    assert_false(page_is_readable(region + page));
    assert_true(page_is_readable(region + 2 * page));
    assert_true(rcgc__raw_protect(region + page, page, true));
    region[page] = 1;
    assert_true(page_is_readable(region + page));
    rcgc__raw_unmap(region, 4 * page, 0);
}

static void page_size_matches_the_kernel(void **state) {
    (void)state;
    assert_int_equal(rcgc_page_size(), (size_t)sysconf(_SC_PAGESIZE));
}

/* ---------------------------------------------------------------- Reports */

static void print_raw_stats_lists_every_counter(void **state) {
    (void)state;
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    assert_non_null(stream);
    rcgc_print_raw_stats(stream);
    fclose(stream);
#define EXPECT_LISTED(name, doc)                                                                   \
    assert_non_null(strstr(text, #name));                                                          \
    assert_non_null(strstr(text, doc));
    RCGC_RAW_COUNTERS(EXPECT_LISTED)
#undef EXPECT_LISTED
    free(text);
}

int main(void) {
#define T(name) cmocka_unit_test_teardown(name, teardown_faults)
    const struct CMUnitTest tests[] = {
        T(raw_malloc_zero_returns_unique_pointer),
        T(raw_malloc_is_aligned_for_any_object),
        T(raw_malloc_above_ptrdiff_max_fails_with_enomem),
        T(raw_calloc_overflow_fails_with_enomem),
        T(raw_calloc_zero_returns_unique_pointer),
        T(raw_calloc_returns_zeroed_memory_after_reuse),
        T(raw_realloc_null_behaves_as_malloc),
        T(raw_realloc_keeps_content_when_growing_and_shrinking),
        T(raw_realloc_zero_returns_unique_block_and_releases_old),
        T(raw_realloc_failure_leaves_block_intact),
        T(raw_free_null_does_nothing),
        T(raw_bytes_allocated_follow_each_block),
        T(fault_inject_fails_only_the_nth_call),
        T(fault_inject_forever_fails_every_call_until_cleared),
        T(fault_inject_only_affects_the_named_sites),
        T(fault_inject_replaces_the_earlier_setting),
        T(map_returns_zeroed_memory_at_the_requested_alignment),
        T(map_rounds_size_up_to_whole_pages),
        T(map_rejects_zero_size_and_bad_alignment_with_einval),
        T(map_near_size_max_fails_with_enomem_and_counts_nothing),
        T(map_and_unmap_move_the_counters),
        T(unmap_of_part_keeps_the_rest_usable),
        T(decommit_drops_resident_memory_and_reads_zero),
        T(decommit_and_unmap_across_pieces_release_exactly_the_range),
        T(decommit_lazy_option_keeps_range_usable),
        T(map_huge_flag_marks_the_mapping_for_huge_pages),
        T(protect_makes_a_guard_page_and_back),
        T(page_size_matches_the_kernel),
        T(print_raw_stats_lists_every_counter),
    };
#undef T
    return cmocka_run_group_tests_name("raw", tests, NULL, NULL);
}
