/* tests/test_debug_memory.c - the process's memory (rcgc/debug.h): the
 * kernel's figures are read, USS follows memory touched and given back,
 * and the peak agrees with getrusage's; rcgc's own accounting adds up and
 * follows what is allocated, part by part.
 */
#include "support/gc_types.h"

#include <rcgc.h>

#include <string.h>
#include <sys/resource.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define MiB ((size_t)1 << 20)

static void reads_the_kernels_figures(void **state) {
    (void)state;
    rcgc_process_memory m;
    assert_int_equal(rcgc_process_memory_get(&m, 0), 0);
    assert_true(m.rss > 0);
    assert_true(m.rss_anon > 0 && m.rss_anon <= m.rss);
    assert_true(m.peak_rss >= m.rss);
    assert_int_equal(m.uss, 0); /* only when asked */
    assert_int_equal(m.pss, 0);
    assert_int_equal(rcgc_process_memory_get(&m, RCGC_MEMORY_USS), 0);
    assert_true(m.uss > 0 && m.uss <= m.rss);
    assert_true(m.pss >= m.uss && m.pss <= m.rss);
}

static void uss_follows_memory_touched_and_given_back(void **state) {
    (void)state;
    rcgc_process_memory before, during, after;
    assert_int_equal(rcgc_process_memory_get(&before, RCGC_MEMORY_USS), 0);
    char *block = rcgc_malloc(64 * MiB);
    assert_non_null(block);
    memset(block, 0x5a, 64 * MiB);
    assert_int_equal(rcgc_process_memory_get(&during, RCGC_MEMORY_USS), 0);
    rcgc_free(block);
    assert_int_equal(rcgc_process_memory_get(&after, RCGC_MEMORY_USS), 0);
    assert_true(during.uss >= before.uss + 60 * MiB);
    assert_true(during.rss_anon >= before.rss_anon + 60 * MiB);
    assert_true(after.uss + 50 * MiB <= during.uss); /* a huge block goes back at once */
    /* The kernel updates the peak lazily (per-thread counters are folded
     * in batches of 64 pages): it saw the block, give or take those. */
    assert_true(after.peak_rss + 4 * MiB >= during.rss);
}

static void peak_agrees_with_getrusage(void **state) {
    (void)state;
    rcgc_process_memory m;
    assert_int_equal(rcgc_process_memory_get(&m, 0), 0);
    struct rusage usage;
    assert_int_equal(getrusage(RUSAGE_SELF, &usage), 0);
    size_t maxrss = (size_t)usage.ru_maxrss * 1024; /* KiB on Linux */
    size_t gap = m.peak_rss > maxrss ? m.peak_rss - maxrss : maxrss - m.peak_rss;
    assert_true(gap <= 4 * MiB); /* the same counter, read a moment apart */
}

static void assert_adds_up(const rcgc_memory_accounting *a) {
    assert_int_equal(a->arenas,
                     a->blocks_in_use + a->blocks_free + a->large + a->overhead + a->retained);
    assert_int_equal(a->total, a->arenas + a->huge + a->raw);
}

/* Each kind of memory lands in its part, and the parts add up. */
static void accounting_adds_up_and_follows_each_part(void **state) {
    (void)state;
    rcgc_memory_accounting before, after, freed;
    assert_int_equal(rcgc_memory_accounting_get(&before, 0), 0);
    assert_adds_up(&before);
    enum { SMALL = 1000 };
    static void *small[SMALL];
    for (int i = 0; i < SMALL; i++)
        small[i] = rcgc_malloc(100); /* 112-byte blocks */
    void *large = rcgc_malloc(1 * MiB);
    void *huge = rcgc_malloc(40 * MiB);
    rcgc_memory_accounting unraw;
    assert_int_equal(rcgc_memory_accounting_get(&unraw, 0), 0);
    void *raw = rcgc_raw_malloc(12345);
    assert_int_equal(rcgc_memory_accounting_get(&after, 0), 0);
    assert_adds_up(&after);
    assert_true(after.blocks_in_use - before.blocks_in_use >= SMALL * 112);
    assert_true(after.large - before.large >= 1 * MiB);
    assert_true(after.huge - before.huge >= 40 * MiB);
    assert_int_equal(after.raw - unraw.raw, 12345);
    struct rcgc_alloc_stats stats;
    rcgc_alloc_stats(&stats);
    assert_true(after.arenas <= stats.bytes_committed);
    for (int i = 0; i < SMALL; i++)
        rcgc_free(small[i]);
    rcgc_free(large);
    rcgc_free(huge);
    rcgc_raw_free(raw);
    assert_int_equal(rcgc_memory_accounting_get(&freed, 0), 0);
    assert_adds_up(&freed);
    assert_int_equal(freed.blocks_in_use, before.blocks_in_use);
    assert_int_equal(freed.huge, before.huge);
    assert_int_equal(freed.raw, unraw.raw);
}

/* Objects are counted on demand, garbage not yet collected included. */
static void accounting_counts_live_objects_on_demand(void **state) {
    (void)state;
    rcgc_memory_accounting without, before, after;
    assert_int_equal(rcgc_memory_accounting_get(&without, 0), 0);
    assert_int_equal(without.objects, 0);
    assert_int_equal(rcgc_memory_accounting_get(&before, RCGC_ACCOUNT_OBJECTS), 0);
    make_garbage_self_cycles(500);
    assert_int_equal(rcgc_memory_accounting_get(&after, RCGC_ACCOUNT_OBJECTS), 0);
    assert_int_equal(after.objects - before.objects, 500);
    assert_true(after.object_bytes - before.object_bytes >= 500 * sizeof(rcgc_object));
    assert_true(after.object_bytes <= after.blocks_in_use + after.large + after.huge);
    rcgc_collect(RCGC_GENERATIONS - 1);
    char text[1024];
    FILE *stream = fmemopen(text, sizeof text, "w");
    assert_int_equal(rcgc_print_memory_accounting(stream, &after), 0);
    fclose(stream);
    assert_non_null(strstr(text, "pool blocks in use"));
    assert_non_null(strstr(text, "live objects: "));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_the_kernels_figures),
        cmocka_unit_test(uss_follows_memory_touched_and_given_back),
        cmocka_unit_test(peak_agrees_with_getrusage),
        cmocka_unit_test(accounting_adds_up_and_follows_each_part),
        cmocka_unit_test(accounting_counts_live_objects_on_demand),
    };
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("debug_memory", tests, NULL, NULL);
}
