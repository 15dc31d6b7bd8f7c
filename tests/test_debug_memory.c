/* tests/test_debug_memory.c - the process's memory (rcgc/debug.h): the
 * kernel's figures are read, USS follows memory touched and given back,
 * and the peak agrees with getrusage's.
 */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_the_kernels_figures),
        cmocka_unit_test(uss_follows_memory_touched_and_given_back),
        cmocka_unit_test(peak_agrees_with_getrusage),
    };
    return cmocka_run_group_tests_name("debug_memory", tests, NULL, NULL);
}
