/* tests/test_alloc.c - layer 2: size classes, alignment, calloc/realloc
 * rules, cross-thread frees, thread exit, memory returned to the OS, out of
 * memory through failure injection and the kernel's overcommit policy,
 * rcgc_owns around huge blocks, the misuse reports, and what ASan and TSan
 * builds are told about free blocks (those tests exist only there).
 *
 * Resident memory is measured with mincore(2) over the blocks' own pages,
 * which is exact for rcgc's memory and unaffected by sanitizer shadows.
 * Misuse tests run in a child process (tests/support/child.h) and check that
 * the report names the address, the size class and the failed check.
 */
#include "alloc/alloc_internal.h"
#include "support/child.h"
#include "support/resident.h"

#include <rcgc.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static int teardown(void **state) {
    (void)state;
    rcgc_fault_clear();
    return 0;
}

static uint64_t blocks_in_use(void) {
    struct rcgc_alloc_stats stats;
    rcgc_alloc_stats(&stats);
    uint64_t total = stats.large_blocks + stats.huge_blocks;
    for (unsigned c = 0; c < RCGC_ALLOC_CLASSES; c++)
        total += stats.classes[c].blocks_in_use;
    return total;
}

static int compare_pointers(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return (x > y) - (x < y);
}

static void fill(unsigned char *block, size_t size, unsigned seed) {
    for (size_t i = 0; i < size; i++)
        block[i] = (unsigned char)(seed + i * 7);
}

static void expect_filled(const unsigned char *block, size_t size, unsigned seed) {
    for (size_t i = 0; i < size; i++)
        if (block[i] != (unsigned char)(seed + i * 7))
            fail_msg("byte %zu of %p is %u, expected %u", i, (const void *)block, block[i],
                     (unsigned char)(seed + i * 7));
}

/* ------------------------------------------------------------ Size classes */

static void size_class_of_every_size_is_the_smallest_that_fits(void **state) {
    (void)state;
    rcgc__size_class_init();
    for (size_t size = 0; size <= RCGC_POOL_BLOCK_MAX; size++) {
        unsigned c = rcgc__size_class_of(size);
        assert_true(c < RCGC_CLASS_COUNT);
        assert_true(rcgc__classes[c].block_size >= size);
        if (c > 0)
            assert_true(rcgc__classes[c - 1].block_size < size);
        assert_int_equal(size_class_of(size), c); /* the inline fast-path version agrees */
    }
}

static void size_classes_are_multiples_of_16_with_at_least_8_blocks_per_pool(void **state) {
    (void)state;
    rcgc__size_class_init();
    for (unsigned c = 0; c < RCGC_CLASS_COUNT; c++) {
        assert_int_equal(rcgc__classes[c].block_size % 16, 0);
        assert_true(rcgc__classes[c].capacity >= RCGC_POOL_MIN_BLOCKS);
        assert_true((size_t)rcgc__classes[c].capacity * rcgc__classes[c].block_size <=
                    (size_t)rcgc__classes[c].span * RCGC_SLICE_SIZE);
    }
    assert_int_equal(rcgc__classes[RCGC_CLASS_COUNT - 1].block_size, RCGC_POOL_BLOCK_MAX);
}

/* ---------------------------------------------------------------- malloc */

static void malloc_zero_returns_unique_pointer(void **state) {
    (void)state;
    void *a = rcgc_malloc(0);
    void *b = rcgc_malloc(0);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    rcgc_free(a);
    rcgc_free(b);
}

static void malloc_every_class_boundary_gives_aligned_usable_blocks(void **state) {
    (void)state;
    rcgc__size_class_init();
    for (unsigned c = 0; c < RCGC_CLASS_COUNT; c++) {
        size_t block = rcgc__classes[c].block_size;
        const size_t sizes[] = {block - 1, block, block + 1};
        for (size_t i = 0; i < 3; i++) {
            unsigned char *p = rcgc_malloc(sizes[i]);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % 16, 0);
            size_t usable = rcgc_usable_size(p);
            assert_true(usable >= sizes[i]);
            fill(p, usable, (unsigned)c);
            expect_filled(p, usable, (unsigned)c);
            rcgc_free(p);
        }
    }
}

static void usable_size_is_the_size_class_block(void **state) {
    (void)state;
    const size_t asked[] = {1, 16, 17, 100, 129, 257, 1000, 1025, 100000};
    const size_t block[] = {16, 16, 32, 112, 160, 320, 1024, 1280, 114688};
    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
        void *p = rcgc_malloc(asked[i]);
        assert_int_equal(rcgc_usable_size(p), block[i]);
        rcgc_free(p);
    }
    assert_int_equal(rcgc_usable_size(NULL), 0);
}

static void large_and_huge_blocks_are_usable_and_owned(void **state) {
    (void)state;
    const size_t sizes[] = {RCGC_POOL_BLOCK_MAX + 1, 5 * MiB + 3, RCGC_LARGE_MAX,
                            RCGC_LARGE_MAX + 1, 70 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = rcgc_malloc(sizes[i]);
        assert_non_null(p);
        assert_true(rcgc_owns(p));
        assert_true(rcgc_usable_size(p) >= sizes[i]);
        p[0] = 1;
        p[sizes[i] - 1] = 2;
        rcgc_free(p);
    }
    int on_stack = 0;
    assert_false(rcgc_owns(&on_stack));
    assert_false(rcgc_owns(NULL));
}

/* rcgc_owns must answer false just past a huge block: the rest of its
 * 64 MiB unit is not mapped by rcgc, and the kernel may hand it to anyone.
 * A mapping placed there (MAP_FIXED_NOREPLACE) is such foreign memory. */
static void owns_is_exact_for_huge_blocks(void **state) {
    (void)state;
    size_t page = rcgc_page_size();
    char *p = rcgc_malloc(40 * MiB);
    size_t usable = rcgc_usable_size(p);
    char *unit_end = (char *)arena_of(p) + RCGC_ARENA_SIZE;
    assert_true(p + usable < unit_end);
    char *foreign = mmap(p + usable + 4 * page, page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    assert_ptr_equal(foreign, p + usable + 4 * page);
    assert_true(rcgc_owns(p));
    assert_true(rcgc_owns(p + usable - 1));
    assert_false(rcgc_owns(p + usable));
    assert_false(rcgc_owns(foreign));
    assert_false(rcgc_owns(unit_end - 1));
    assert_false(rcgc_owns(p - 1)); /* the block's header page */
    munmap(foreign, page);

    /* A block over several units: every byte of it is owned. */
    char *big = rcgc_malloc(150 * MiB + 5);
    usable = rcgc_usable_size(big);
    for (size_t offset = 0; offset < usable; offset += 16 * MiB)
        assert_true(rcgc_owns(big + offset));
    assert_true(rcgc_owns(big + usable - 1));
    assert_false(rcgc_owns(big + usable));

    /* Aligned to a unit or more: the header sits a unit before. */
    char *aligned = rcgc_aligned_alloc(128 * MiB, 40 * MiB);
    usable = rcgc_usable_size(aligned);
    assert_true(rcgc_owns(aligned));
    assert_true(rcgc_owns(aligned + usable - 1));
    assert_false(rcgc_owns(aligned + usable));
    assert_false(rcgc_owns(aligned - 1));

    rcgc_free(aligned);
    rcgc_free(big);
    rcgc_free(p);
    assert_false(rcgc_owns(p));
}

static void malloc_above_ptrdiff_max_fails_with_enomem(void **state) {
    (void)state;
    const size_t sizes[] = {(size_t)PTRDIFF_MAX + 1, SIZE_MAX - 4096, SIZE_MAX};
    for (size_t i = 0; i < 3; i++) {
        errno = 0;
        assert_null(rcgc_malloc(sizes[i]));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(rcgc_aligned_alloc(4096, sizes[i]));
        assert_int_equal(errno, ENOMEM);
    }
}

/* The kernel's vm.overcommit_memory: 0 heuristic, 1 always, 2 strict. */
static int overcommit_policy(void) {
    FILE *file = fopen("/proc/sys/vm/overcommit_memory", "r");
    int policy = 0;
    if (file == NULL || fscanf(file, "%d", &policy) != 1)
        policy = 0;
    if (file != NULL)
        fclose(file);
    return policy;
}

static void expect_enomem(void *block, const char *call) {
    if (block != NULL)
        fail_msg("%s gave %p: the kernel's overcommit policy must refuse it", call, block);
    assert_int_equal(errno, ENOMEM);
}

static void huge_requests_the_overcommit_policy_refuses_fail_with_enomem(void **state) {
    (void)state;
    if (overcommit_policy() == 1)
        skip(); /* overcommit always: the kernel grants any size */
    struct sysinfo info;
    assert_int_equal(sysinfo(&info), 0);
    /* The heuristic refuses one request larger than RAM and swap together. */
    size_t beyond_ram = (size_t)(info.totalram + info.totalswap) * info.mem_unit * 2;
    const size_t sizes[] = {(size_t)1 << 46, beyond_ram};
    uint64_t before = blocks_in_use();
    struct rcgc_raw_stats raw_before;
    rcgc_raw_stats(&raw_before);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        expect_enomem(rcgc_malloc(sizes[i]), "rcgc_malloc");
        errno = 0;
        expect_enomem(rcgc_calloc(sizes[i] / 64, 64), "rcgc_calloc");
        errno = 0;
        expect_enomem(rcgc_aligned_alloc(128 * MiB, sizes[i]), "rcgc_aligned_alloc");
        unsigned char *p = rcgc_malloc(100);
        fill(p, 100, 5);
        errno = 0;
        expect_enomem(rcgc_realloc(p, sizes[i]), "rcgc_realloc");
        expect_filled(p, 100, 5);
        rcgc_free(p);
    }
    assert_int_equal(blocks_in_use(), before);
    struct rcgc_raw_stats raw_after;
    rcgc_raw_stats(&raw_after);
    assert_int_equal(raw_after.bytes_mapped, raw_before.bytes_mapped);
}

/* ------------------------------------------------------------ aligned_alloc */

static void aligned_alloc_honors_every_power_of_two_alignment(void **state) {
    (void)state;
    for (size_t alignment = 1; alignment <= 128 * MiB; alignment *= 2) {
        const size_t sizes[] = {1, alignment - 1 + (alignment == 1), alignment, 3 * alignment + 5};
        for (size_t i = 0; i < 4; i++) {
            if (sizes[i] > 200 * MiB)
                continue;
            unsigned char *p = rcgc_aligned_alloc(alignment, sizes[i]);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % alignment, 0);
            assert_true(rcgc_usable_size(p) >= sizes[i]);
            p[0] = 1;
            p[sizes[i] - 1] = 1;
            rcgc_free(p);
        }
    }
}

static void aligned_alloc_up_to_64k_wastes_at_most_the_power_of_two(void **state) {
    (void)state;
    for (size_t alignment = 32; alignment <= 64 * KiB; alignment *= 2) {
        void *p = rcgc_aligned_alloc(alignment, alignment);
        assert_int_equal(rcgc_usable_size(p), alignment);
        rcgc_free(p);
    }
}

static void aligned_alloc_rejects_non_power_of_two_with_einval(void **state) {
    (void)state;
    const size_t bad[] = {0, 3, 24, 4095};
    for (size_t i = 0; i < 4; i++) {
        errno = 0;
        assert_null(rcgc_aligned_alloc(bad[i], 64));
        assert_int_equal(errno, EINVAL);
    }
}

/* ------------------------------------------------------- calloc, realloc */

static void calloc_zeroes_reused_memory(void **state) {
    (void)state;
    const size_t sizes[] = {8, 48, 500, 4000, 100 * KiB, 3 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *dirty = rcgc_malloc(sizes[i]);
        memset(dirty, 0xff, sizes[i]);
        rcgc_free(dirty);
        unsigned char *zeroed = rcgc_calloc(1, sizes[i]);
        assert_non_null(zeroed);
        for (size_t b = 0; b < sizes[i]; b++)
            if (zeroed[b] != 0)
                fail_msg("calloc(%zu) byte %zu is %u", sizes[i], b, zeroed[b]);
        rcgc_free(zeroed);
    }
}

static void calloc_overflow_fails_with_enomem(void **state) {
    (void)state;
    errno = 0;
    assert_null(rcgc_calloc(SIZE_MAX / 2 + 1, 2));
    assert_int_equal(errno, ENOMEM);
    void *zero = rcgc_calloc(0, 100);
    assert_non_null(zero);
    rcgc_free(zero);
}

static void realloc_across_classes_keeps_content(void **state) {
    (void)state;
    const size_t steps[] = {16, 100, 5000, 200 * KiB, 40 * MiB, 300, 17};
    unsigned char *p = rcgc_realloc(NULL, steps[0]);
    fill(p, steps[0], 9);
    size_t kept = steps[0];
    for (size_t i = 1; i < sizeof steps / sizeof steps[0]; i++) {
        p = rcgc_realloc(p, steps[i]);
        assert_non_null(p);
        size_t check = kept < steps[i] ? kept : steps[i];
        expect_filled(p, check, 9);
        fill(p, steps[i], 9);
        kept = steps[i];
    }
    rcgc_free(p);
}

static void realloc_within_the_block_keeps_the_address(void **state) {
    (void)state;
    char *p = rcgc_malloc(100); /* a 112-byte block */
    assert_ptr_equal(rcgc_realloc(p, 112), p);
    assert_ptr_equal(rcgc_realloc(p, 60), p);
    char *moved = rcgc_realloc(p, 20); /* under half: moves to a smaller class */
    assert_non_null(moved);
    assert_int_equal(rcgc_usable_size(moved), 32);
    rcgc_free(moved);
}

static void realloc_zero_returns_a_unique_block_and_frees(void **state) {
    (void)state;
    uint64_t before = blocks_in_use();
    void *p = rcgc_malloc(300);
    void *q = rcgc_realloc(p, 0);
    assert_non_null(q);
    assert_int_equal(blocks_in_use(), before + 1);
    rcgc_free(q);
}

/* -------------------------------------------------------- Out of memory */

static void realloc_failure_leaves_the_block_intact(void **state) {
    (void)state;
    unsigned char *p = rcgc_malloc(1000);
    fill(p, 1000, 3);
    rcgc_fault_inject(RCGC_FAULT_MAP, 0, RCGC_FAULT_FOREVER);
    errno = 0;
    assert_null(rcgc_realloc(p, 100 * MiB));
    assert_int_equal(errno, ENOMEM);
    rcgc_fault_clear();
    expect_filled(p, 1000, 3);
    rcgc_free(p);
}

static void out_of_memory_returns_null_and_loses_nothing(void **state) {
    (void)state;
    uint64_t before = blocks_in_use();
    enum { MAX_BLOCKS = 4096 };
    void **blocks = calloc(MAX_BLOCKS, sizeof *blocks);
    rcgc_fault_inject(RCGC_FAULT_MAP, 0, RCGC_FAULT_FOREVER);
    size_t got = 0;
    errno = 0;
    while (got < MAX_BLOCKS && (blocks[got] = rcgc_malloc(100 * KiB)) != NULL)
        got++;
    assert_true(got < MAX_BLOCKS); /* ran out once no arena could be mapped */
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(rcgc_malloc(RCGC_LARGE_MAX + 1)); /* huge: needs a mapping */
    assert_int_equal(errno, ENOMEM);
    assert_int_equal(blocks_in_use(), before + got);
    rcgc_fault_clear();
    for (size_t i = 0; i < got; i++)
        rcgc_free(blocks[i]);
    void *again = rcgc_malloc(100 * KiB);
    assert_non_null(again);
    rcgc_free(again);
    assert_int_equal(blocks_in_use(), before);
    free(blocks);
}

static void *first_malloc_with_raw_failing(void *arg) {
    (void)arg;
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 0, RCGC_FAULT_FOREVER);
    errno = 0;
    void *p = rcgc_malloc(24); /* needs a heap, which needs a raw allocation */
    int error = errno;
    rcgc_fault_clear();
    void *q = rcgc_malloc(24);
    rcgc_free(q);
    return (void *)(uintptr_t)(p == NULL && error == ENOMEM && q != NULL);
}

static void new_thread_whose_heap_cannot_be_made_gets_enomem(void **state) {
    (void)state;
    pthread_t thread;
    void *ok = NULL;
    pthread_create(&thread, NULL, first_malloc_with_raw_failing, NULL);
    pthread_join(thread, &ok);
    assert_true(ok != NULL);
}

/* ----------------------------------------------------------- Threads */

enum { HANDED = 20000 };

static void *free_all(void *arg) {
    void **blocks = arg;
    for (size_t i = 0; i < HANDED; i++)
        rcgc_free(blocks[i]);
    return NULL;
}

/* Pools emptied and taken again keep their free lists instead of being
 * carved again (P6): whichever way a pool comes back, every block is
 * handed out once and keeps what the program writes in it. */
static void pools_taken_again_hand_out_each_block_once(void **state) {
    (void)state;
    enum { BLOCKS = 8192, ROUNDS = 4 }; /* 8 pools of 64-byte blocks */
    unsigned char **blocks = calloc(BLOCKS, sizeof *blocks);
    assert_non_null(blocks);
    /* Live data beside the rounds, so that the retention budget keeps the
     * emptied pools committed and they can be taken again. */
    enum { KEPT = 4096 };
    void **kept = calloc(KEPT, sizeof *kept);
    assert_non_null(kept);
    for (size_t i = 0; i < KEPT; i++)
        kept[i] = rcgc_malloc(256);
    struct rcgc_alloc_stats before;
    rcgc_alloc_stats(&before);
    for (unsigned round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < BLOCKS; i++) {
            blocks[i] = rcgc_malloc(64);
            assert_non_null(blocks[i]);
            fill(blocks[i], 64, (unsigned)i + round);
        }
        for (size_t i = 0; i < BLOCKS; i++)
            expect_filled(blocks[i], 64, (unsigned)i + round);
        /* Each block once: sorted addresses are all distinct. */
        unsigned char **sorted = malloc(BLOCKS * sizeof *sorted);
        assert_non_null(sorted);
        memcpy(sorted, blocks, BLOCKS * sizeof *sorted);
        qsort(sorted, BLOCKS, sizeof *sorted, compare_pointers);
        for (size_t i = 1; i < BLOCKS; i++)
            assert_true(sorted[i - 1] + 64 <= sorted[i]);
        free(sorted);
        /* Freed in an order unlike the one they were handed out in, so a
         * kept list is not the carving order. */
        for (size_t i = 0; i < BLOCKS; i += 2)
            rcgc_free(blocks[i]);
        for (size_t i = 1; i < BLOCKS; i += 2)
            rcgc_free(blocks[i]);
    }
    struct rcgc_alloc_stats after;
    rcgc_alloc_stats(&after);
    assert_true(after.pools_released - before.pools_released >= ROUNDS);
    for (size_t i = 0; i < KEPT; i++)
        rcgc_free(kept[i]);
    free(kept);
    free(blocks);
}

static void cross_thread_frees_come_back_to_the_owner(void **state) {
    (void)state;
    struct rcgc_alloc_stats before;
    rcgc_alloc_stats(&before);
    uint64_t in_use = blocks_in_use();
    void **blocks = calloc(HANDED, sizeof *blocks);
    for (size_t i = 0; i < HANDED; i++) {
        blocks[i] = rcgc_malloc(16 + i % 200);
        fill(blocks[i], 16, (unsigned)i);
    }
    pthread_t thread;
    pthread_create(&thread, NULL, free_all, blocks);
    pthread_join(thread, NULL);
    struct rcgc_alloc_stats after;
    rcgc_alloc_stats(&after);
    assert_int_equal(after.frees_remote - before.frees_remote, HANDED);
    rcgc_heap_collect(false); /* the owner takes its blocks back */
    assert_int_equal(blocks_in_use(), in_use);
    /* Taken back, they are handed out again by this thread. */
    void *reused = rcgc_malloc(16);
    assert_non_null(reused);
    rcgc_free(reused);
    free(blocks);
}

static void *allocate_and_exit(void *arg) {
    void **blocks = arg;
    for (size_t i = 0; i < HANDED; i++) {
        blocks[i] = rcgc_malloc(8 + i % 1000);
        fill(blocks[i], 8, (unsigned)i);
    }
    return NULL;
}

static void thread_exit_leaves_live_blocks_valid_for_others(void **state) {
    (void)state;
    uint64_t in_use = blocks_in_use();
    struct rcgc_alloc_stats before;
    rcgc_alloc_stats(&before);
    void **blocks = calloc(HANDED, sizeof *blocks);
    pthread_t thread;
    pthread_create(&thread, NULL, allocate_and_exit, blocks);
    pthread_join(thread, NULL);
    assert_int_equal(blocks_in_use(), in_use + HANDED);
    for (size_t i = 0; i < HANDED; i++) {
        expect_filled(blocks[i], 8, (unsigned)i);
        rcgc_free(blocks[i]);
    }
    rcgc_heap_collect(true); /* adopts the exited thread's pools, releases them */
    assert_int_equal(blocks_in_use(), in_use);
    struct rcgc_alloc_stats after;
    rcgc_alloc_stats(&after);
    assert_true(after.pools_adopted > before.pools_adopted);
    free(blocks);
}

/* ----------------------------------------------------- Memory to the OS */

static void freed_blocks_go_back_to_the_os_without_a_call(void **state) {
    (void)state;
    rcgc_heap_collect(true);
    enum { COUNT = 1000000 };
    void **blocks = mmap(NULL, COUNT * sizeof(void *), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(blocks != MAP_FAILED);
    uintptr_t low = UINTPTR_MAX, high = 0;
    for (size_t i = 0; i < COUNT; i++) {
        blocks[i] = rcgc_malloc(32);
        memset(blocks[i], 1, 32);
        low = (uintptr_t)blocks[i] < low ? (uintptr_t)blocks[i] : low;
        high = (uintptr_t)blocks[i] > high ? (uintptr_t)blocks[i] : high;
    }
    size_t peak = resident_pages((void *)low, high + 1 - low);
    assert_true(peak * rcgc_page_size() >= COUNT * 32); /* 32 MB really resident */
    for (size_t i = 0; i < COUNT; i++)
        rcgc_free(blocks[i]);
    size_t after = resident_pages((void *)low, high + 1 - low);
    /* What may stay: the current pool (64 KiB) and the retained budget. */
    size_t allowed =
        (RCGC_SLICE_SIZE + (size_t)rcgc__options()->arena_retain_kib * KiB) / rcgc_page_size();
    assert_true(after <= allowed);
    munmap(blocks, COUNT * sizeof(void *));
}

/* A program that frees a large structure beside the data it keeps and
 * builds the next one (a burst) finds part of the burst's memory still
 * committed: the retention budget is RCGC_ARENA_RETAIN_PCT of the pools in
 * use, and crossing it decommits only down to half of it. */
static void freed_burst_leaves_half_the_retention_budget_committed(void **state) {
    (void)state;
    rcgc_heap_collect(true);
    enum { KEPT = 131072, BURST = 524288 }; /* 4 MiB kept, 16 MiB burst */
    void **blocks = mmap(NULL, (KEPT + BURST) * sizeof(void *), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(blocks != MAP_FAILED);
    for (size_t i = 0; i < KEPT + BURST; i++) {
        blocks[i] = rcgc_malloc(32);
        memset(blocks[i], 1, 32);
    }
    for (size_t i = KEPT; i < KEPT + BURST; i++)
        rcgc_free(blocks[i]);
    struct rcgc_alloc_stats stats;
    rcgc_alloc_stats(&stats);
    uint64_t budget = stats.bytes_small_pools * (uint64_t)rcgc__options()->arena_retain_pct / 100;
    assert_true(stats.bytes_retained <= budget);
    assert_true(stats.bytes_retained + RCGC_SLICE_SIZE >= budget / 2);
    for (size_t i = 0; i < KEPT; i++)
        rcgc_free(blocks[i]);
    munmap(blocks, (KEPT + BURST) * sizeof(void *));
}

static void heap_collect_force_unmaps_every_empty_arena(void **state) {
    (void)state;
    void *p = rcgc_malloc(1000);
    rcgc_free(p);
    rcgc_heap_collect(true);
    struct rcgc_alloc_stats stats;
    rcgc_alloc_stats(&stats);
    assert_int_equal(stats.arenas, 0);
    assert_int_equal(stats.bytes_mapped, 0);
    void *again = rcgc_malloc(1000); /* maps a new arena */
    assert_non_null(again);
    rcgc_free(again);
}

/* ------------------------------------------------------------- Reports */

static void print_alloc_stats_uses_cpython_layout(void **state) {
    (void)state;
    void *p = rcgc_malloc(40);
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    rcgc_print_alloc_stats(stream);
    fclose(stream);
    assert_non_null(strstr(text, "class   size   num pools   blocks in use  avail blocks"));
    assert_non_null(strstr(text, "\n    2     48           1               1"));
    assert_non_null(strstr(text, "# arenas allocated total"));
    assert_non_null(strstr(text, "# bytes committed"));
    free(text);
    rcgc_free(p);
}

static void pool_invariants_hold_after_mixed_operations(void **state) {
    (void)state;
    void *keep[500];
    for (size_t i = 0; i < 500; i++)
        keep[i] = rcgc_malloc(i * 3);
    for (size_t i = 0; i < 500; i += 2)
        rcgc_free(keep[i]);
    struct heap *heap = rcgc__fast_heap();
    for (unsigned c = 0; c < RCGC_CLASS_COUNT; c++) {
        for (struct pool *pool = heap->avail[c]; pool != &rcgc__empty_pool && pool != NULL;
             pool = pool->next) {
            rcgc__pool_collect_remote_owner(pool);
            rcgc__alloc_pool_check(pool);
        }
        for (struct pool *pool = heap->full[c]; pool != NULL; pool = pool->next)
            rcgc__alloc_pool_check(pool);
    }
    for (size_t i = 1; i < 500; i += 2)
        rcgc_free(keep[i]);
}

/* ------------------------------------------------------- Misuse, death */

static void expect_report(void (*body)(void *), void *arg, const char *what, const char *detail) {
    struct child_result result;
    child_run(body, arg, &result);
    if (!child_aborted(&result) || strstr(result.output, what) == NULL ||
        (detail != NULL && strstr(result.output, detail) == NULL))
        fail_msg("expected an abort reporting '%s' / '%s'; got %s %d:\n%s", what,
                 detail ? detail : "", result.exited ? "exit" : "signal", result.code,
                 result.output);
}

static void double_free_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(40);
    rcgc_free(p);
    printf("block %p\n", (void *)p);
    fflush(stdout);
    rcgc_free(p);
}

static void double_free_reports_address_and_size_class(void **state) {
    (void)state;
    expect_report(double_free_body, NULL, "rcgc: double free of 0x", "(size class 2, 48 B, pool");
}

static void *free_once(void *arg) {
    rcgc_free(arg);
    return NULL;
}

static void remote_double_free_body(void *arg) {
    (void)arg;
    void *p = rcgc_malloc(64);
    pthread_t thread;
    pthread_create(&thread, NULL, free_once, p);
    pthread_join(thread, NULL);
    pthread_create(&thread, NULL, free_once, p);
    pthread_join(thread, NULL);
}

static void remote_double_free_is_caught_too(void **state) {
    (void)state;
    expect_report(remote_double_free_body, NULL, "rcgc: double free of 0x", "size class 3, 64 B");
}

static void interior_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(100);
    rcgc_free(p + 16);
}

static void interior_pointer_free_reports_the_block(void **state) {
    (void)state;
    expect_report(interior_body, NULL, "rcgc: free of an interior pointer 0x",
                  "(size class 6, 112 B, inside the block at 0x");
}

static void foreign_body(void *arg) {
    (void)arg;
    int on_stack = 0;
    rcgc_free(&on_stack);
}

static void foreign_pointer_free_reports_not_owned(void **state) {
    (void)state;
    expect_report(foreign_body, NULL, "rcgc: invalid pointer 0x", "rcgc does not own it");
}

static void never_allocated_body(void *arg) {
    (void)arg;
    char *p = rcgc_aligned_alloc(64 * KiB, 16); /* a fresh pool of 64 KiB blocks */
    char *q = rcgc_malloc(16);
    rcgc_free(q + 16 * 2000); /* inside q's pool, past what was ever carved */
    rcgc_free(p);
}

static void free_of_a_never_allocated_block_is_reported(void **state) {
    (void)state;
    expect_report(never_allocated_body, NULL, "rcgc: free of a block never allocated", "16 B");
}

static void large_interior_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(1 * MiB);
    rcgc_free(p + 4096);
}

static void large_interior_pointer_free_is_reported(void **state) {
    (void)state;
    expect_report(large_interior_body, NULL, "interior pointer of a large block", NULL);
}

static void realloc_freed_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(48);
    rcgc_free(p);
    char *q = rcgc_realloc(p, 40);
    char *r = rcgc_malloc(48);
    printf("realloc gave %p, then malloc gave %p\n", (void *)q, (void *)r);
}

static void usable_size_freed_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(48);
    rcgc_free(p);
    printf("usable size %zu\n", rcgc_usable_size(p));
}

static void realloc_remotely_freed_body(void *arg) {
    (void)arg;
    void *p = rcgc_malloc(64);
    pthread_t thread;
    pthread_create(&thread, NULL, free_once, p);
    pthread_join(thread, NULL);
    printf("realloc gave %p\n", rcgc_realloc(p, 60));
}

static void realloc_or_usable_size_of_a_freed_block_is_reported(void **state) {
    (void)state;
    expect_report(realloc_freed_body, NULL, "rcgc: realloc of a freed block 0x",
                  "(size class 2, 48 B, pool 0x");
    expect_report(usable_size_freed_body, NULL, "rcgc: size asked of a freed block 0x",
                  "(size class 2, 48 B, pool 0x");
    expect_report(realloc_remotely_freed_body, NULL, "rcgc: realloc of a freed block 0x",
                  "(size class 3, 64 B, pool 0x");
}

/* A freed large block's slices are free arena memory; a freed huge block's
 * range is no longer rcgc's. Both are caught until the memory is reused. */
static void realloc_freed_large_body(void *arg) {
    (void)arg;
    void *keep = rcgc_malloc(16); /* keeps the arena mapped */
    char *p = rcgc_malloc(1 * MiB);
    rcgc_free(p);
    printf("realloc gave %p (keeping %p)\n", rcgc_realloc(p, 1 * MiB - 5), keep);
}

static void usable_size_freed_huge_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(50 * MiB);
    rcgc_free(p);
    printf("usable size %zu\n", rcgc_usable_size(p));
}

static void realloc_or_usable_size_of_a_freed_large_or_huge_block_is_reported(void **state) {
    (void)state;
    expect_report(realloc_freed_large_body, NULL, "rcgc: realloc of a pointer that is not a block",
                  "in rcgc_realloc");
    expect_report(usable_size_freed_huge_body, NULL, "rcgc: invalid pointer 0x",
                  "in rcgc_usable_size");
}

static void huge_interior_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(150 * MiB);
    rcgc_free(p + 100 * MiB);
}

static void huge_interior_pointer_free_is_reported(void **state) {
    (void)state;
    expect_report(huge_interior_body, NULL, "pointer is not the start of a huge block",
                  "in rcgc_free");
}

static void huge_double_free_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(50 * MiB);
    rcgc_free(p);
    rcgc_free(p);
}

static void huge_double_free_is_reported(void **state) {
    (void)state;
    expect_report(huge_double_free_body, NULL, "rcgc: invalid pointer 0x", NULL);
}

/* ------------------------------------------------------------- Sanitizers */

#if RCGC_ASAN
static void expect_poisoned(const char *block, size_t size, bool poisoned) {
    const size_t probes[] = {0, 8, 16, size / 2, size - 1};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        if (probes[i] < size && (__asan_address_is_poisoned(block + probes[i]) != 0) != poisoned)
            fail_msg("byte %zu of the %zu-byte block %p is %s", probes[i], size,
                     (const void *)block, poisoned ? "usable" : "poisoned");
}

static void asan_poisons_free_blocks_until_handed_out_again(void **state) {
    (void)state;
    const size_t sizes[] = {16, 48, 1000, 100 * KiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = rcgc_malloc(sizes[i]);
        size_t usable = rcgc_usable_size(p);
        assert_null(__asan_region_is_poisoned(p, usable));
        void *neighbour = rcgc_malloc(sizes[i]); /* keeps the pool from being released */
        rcgc_free(p);
        expect_poisoned(p, usable, true);
        /* The freed block comes back once the blocks ahead of it on the
         * pool's lists are handed out; each is usable as it comes. */
        enum { MOST = 10000 };
        static char *taken[MOST];
        size_t count = 0;
        do {
            taken[count] = rcgc_malloc(sizes[i]);
            assert_null(__asan_region_is_poisoned(taken[count], usable));
        } while (taken[count++] != p && count < MOST);
        assert_ptr_equal(taken[count - 1], p);
        while (count > 0)
            rcgc_free(taken[--count]);
        rcgc_free(neighbour);
    }
}

static void asan_poisons_blocks_freed_by_another_thread(void **state) {
    (void)state;
    char *p = rcgc_malloc(64);
    void *neighbour = rcgc_malloc(64); /* keeps the pool from being released */
    pthread_t thread;
    pthread_create(&thread, NULL, free_once, p);
    pthread_join(thread, NULL);
    expect_poisoned(p, 64, true);
    rcgc_heap_collect(false); /* the owner takes it back: still free */
    expect_poisoned(p, 64, true);
    rcgc_free(neighbour);
}

static void asan_poisons_a_freed_large_block(void **state) {
    (void)state;
    char *keep = rcgc_malloc(16);
    char *large = rcgc_malloc(1 * MiB);
    assert_ptr_equal(arena_of(large), arena_of(keep)); /* the arena stays mapped */
    size_t usable = rcgc_usable_size(large);
    assert_null(__asan_region_is_poisoned(large, usable));
    rcgc_free(large);
    expect_poisoned(large, usable, true);
    rcgc_free(keep);
}

static const rcgc_type cell_type = {.name = "cell", .size = 48};

static void asan_poisons_a_dead_object(void **state) {
    (void)state;
    rcgc_thread_attach();
    void *neighbour = rcgc_malloc(cell_type.size); /* keeps the pool from being released */
    rcgc_object *cell = rcgc_new(&cell_type);
    assert_non_null(cell);
    assert_null(__asan_region_is_poisoned(cell, cell_type.size));
    rcgc_decref(cell);
    expect_poisoned((const char *)cell, cell_type.size, true);
    rcgc_free(neighbour);
    rcgc_thread_detach();
}

static void read_after_free_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(100);
    rcgc_free(p);
    printf("read %d\n", ((volatile char *)p)[50]);
}

static void asan_reports_a_read_after_free(void **state) {
    (void)state;
    struct child_result result;
    child_run(read_after_free_body, NULL, &result);
    if (strstr(result.output, "AddressSanitizer: use-after-poison") == NULL ||
        (result.exited && result.code == 0))
        fail_msg("expected ASan to stop the read; got %s %d:\n%s",
                 result.exited ? "exit" : "signal", result.code, result.output);
}
#endif

#if RCGC_TSAN
static _Atomic bool racer_done;

/* Touches the block with no synchronization with the main thread after it
 * starts: relaxed atomics give TSan no happens-before edge. */
static void *read_block_racily(void *arg) {
    volatile char *p = arg;
    (void)p[40];
    atomic_store_explicit(&racer_done, true, memory_order_relaxed);
    return NULL;
}

static void wait_for_racer(void) {
    while (!atomic_load_explicit(&racer_done, memory_order_relaxed))
        sched_yield();
}

static void read_racing_free_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(64);
    pthread_t thread;
    pthread_create(&thread, NULL, read_block_racily, p);
    wait_for_racer();
    rcgc_free(p);
    pthread_join(thread, NULL);
}

static void read_racing_malloc_body(void *arg) {
    (void)arg;
    char *p = rcgc_malloc(64);
    void *neighbour = rcgc_malloc(64);
    rcgc_free(p);
    pthread_t thread;
    pthread_create(&thread, NULL, read_block_racily, p); /* a use after free */
    wait_for_racer();
    /* The freed block comes back once the blocks ahead of it on the
     * pool's lists are handed out. */
    char *again = NULL;
    for (int i = 0; i < 10000 && again != p; i++)
        again = rcgc_malloc(64);
    printf("again %p, neighbour %p\n", (void *)again, neighbour);
    pthread_join(thread, NULL);
}

static void expect_race_with(void (*body)(void *), const char *function) {
    struct child_result result;
    child_run(body, NULL, &result);
    if (strstr(result.output, "ThreadSanitizer: data race") == NULL ||
        strstr(result.output, function) == NULL)
        fail_msg("expected TSan to report a race with %s; got %s %d:\n%s", function,
                 result.exited ? "exit" : "signal", result.code, result.output);
}

static void tsan_sees_free_and_malloc_of_a_block_as_writes(void **state) {
    (void)state;
    expect_race_with(read_racing_free_body, "rcgc_free");
    expect_race_with(read_racing_malloc_body, "rcgc_malloc");
}
#endif

/* ------------------------------------------------------------------ fork */

static _Atomic bool churn_stop;

static void *churn(void *arg) {
    (void)arg;
    while (!atomic_load(&churn_stop)) {
        void *p = rcgc_malloc(200);
        rcgc_free(p);
    }
    return NULL;
}

static void fork_from_a_threaded_process_lets_the_child_allocate(void **state) {
    (void)state;
    pthread_t thread;
    pthread_create(&thread, NULL, churn, NULL);
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *blocks[1000];
            for (int i = 0; i < 1000; i++)
                blocks[i] = rcgc_malloc((size_t)i * 5);
            for (int i = 0; i < 1000; i++)
                rcgc_free(blocks[i]);
            rcgc_heap_collect(true);
            _exit(blocks[999] != NULL ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    atomic_store(&churn_stop, true);
    pthread_join(thread, NULL);
}

int main(void) {
#define T(name) cmocka_unit_test_teardown(name, teardown)
    const struct CMUnitTest tests[] = {
        T(size_class_of_every_size_is_the_smallest_that_fits),
        T(size_classes_are_multiples_of_16_with_at_least_8_blocks_per_pool),
        T(malloc_zero_returns_unique_pointer),
        T(malloc_every_class_boundary_gives_aligned_usable_blocks),
        T(usable_size_is_the_size_class_block),
        T(large_and_huge_blocks_are_usable_and_owned),
        T(owns_is_exact_for_huge_blocks),
        T(malloc_above_ptrdiff_max_fails_with_enomem),
        T(huge_requests_the_overcommit_policy_refuses_fail_with_enomem),
        T(aligned_alloc_honors_every_power_of_two_alignment),
        T(aligned_alloc_up_to_64k_wastes_at_most_the_power_of_two),
        T(aligned_alloc_rejects_non_power_of_two_with_einval),
        T(calloc_zeroes_reused_memory),
        T(calloc_overflow_fails_with_enomem),
        T(realloc_across_classes_keeps_content),
        T(realloc_within_the_block_keeps_the_address),
        T(realloc_zero_returns_a_unique_block_and_frees),
        T(realloc_failure_leaves_the_block_intact),
        T(out_of_memory_returns_null_and_loses_nothing),
        T(new_thread_whose_heap_cannot_be_made_gets_enomem),
        T(pools_taken_again_hand_out_each_block_once),
        T(cross_thread_frees_come_back_to_the_owner),
        T(thread_exit_leaves_live_blocks_valid_for_others),
        T(freed_blocks_go_back_to_the_os_without_a_call),
        T(freed_burst_leaves_half_the_retention_budget_committed),
        T(heap_collect_force_unmaps_every_empty_arena),
        T(print_alloc_stats_uses_cpython_layout),
        T(pool_invariants_hold_after_mixed_operations),
        T(double_free_reports_address_and_size_class),
        T(remote_double_free_is_caught_too),
        T(interior_pointer_free_reports_the_block),
        T(foreign_pointer_free_reports_not_owned),
        T(free_of_a_never_allocated_block_is_reported),
        T(large_interior_pointer_free_is_reported),
        T(huge_double_free_is_reported),
        T(realloc_or_usable_size_of_a_freed_block_is_reported),
        T(realloc_or_usable_size_of_a_freed_large_or_huge_block_is_reported),
        T(huge_interior_pointer_free_is_reported),
#if RCGC_ASAN
        T(asan_poisons_free_blocks_until_handed_out_again),
        T(asan_poisons_blocks_freed_by_another_thread),
        T(asan_poisons_a_freed_large_block),
        T(asan_poisons_a_dead_object),
        T(asan_reports_a_read_after_free),
#endif
#if RCGC_TSAN
        T(tsan_sees_free_and_malloc_of_a_block_as_writes),
#endif
        T(fork_from_a_threaded_process_lets_the_child_allocate),
    };
#undef T
    return cmocka_run_group_tests_name("alloc", tests, NULL, NULL);
}
