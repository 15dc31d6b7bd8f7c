/* tests/test_debug_trace.c - allocation tracing (rcgc/debug.h): statistics
 * that match a known allocation pattern line by line, frees leaving the
 * traces, current and peak memory, compare_to, call stacks that start at
 * the host's frame, sampled estimates within their error of the truth,
 * several threads, misuse, and tracemalloc's printed form.
 *
 * Built with RCGC_TRACE_SITES, so every allocation call below records its
 * file and line, and linked with the shared library, so rcgc's own frames
 * are told apart from the test's.
 */
#define RCGC_TRACE_SITES 1
#include <rcgc.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define LIMIT 32

static const rcgc_type leaf_type = {.name = "leaf", .size = 48};

static int stop_tracing(void **state) {
    (void)state;
    rcgc_trace_stop();
    return 0;
}

/* The group of @stats at @line of this file; fails the test when absent. */
static const rcgc_trace_stat *at_line(const rcgc_trace_stat *stats, ptrdiff_t length, int line) {
    for (ptrdiff_t i = 0; i < length; i++)
        if (stats[i].file != NULL && strcmp(stats[i].file, __FILE__) == 0 && stats[i].line == line)
            return &stats[i];
    fail_msg("no statistic for line %d", line);
    return NULL;
}

/* ----------------------------------------------------------- Statistics */

static void statistics_match_the_allocations_line_by_line(void **state) {
    (void)state;
    rcgc_trace_options exact = {.frames = 0};
    assert_int_equal(rcgc_trace_start(&exact), 0);
    void *small[100], *big[10];
    rcgc_object *objects[20];
    int small_line = __LINE__ + 2;
    for (int i = 0; i < 100; i++)
        small[i] = rcgc_malloc(64);
    int big_line = __LINE__ + 2;
    for (int i = 0; i < 10; i++)
        big[i] = rcgc_calloc(10, 100);
    int object_line = __LINE__ + 2;
    for (int i = 0; i < 20; i++)
        objects[i] = rcgc_new(&leaf_type);
    rcgc_snapshot *snapshot = rcgc_trace_snapshot();
    assert_non_null(snapshot);
    rcgc_trace_stat stats[LIMIT];
    ptrdiff_t groups = rcgc_snapshot_statistics(snapshot, RCGC_TRACE_BY_LINE, stats, LIMIT);
    assert_int_equal(groups, 3);
    assert_int_equal(at_line(stats, groups, big_line)->size, 10000);
    assert_int_equal(at_line(stats, groups, big_line)->count, 10);
    assert_int_equal(at_line(stats, groups, small_line)->size, 6400);
    assert_int_equal(at_line(stats, groups, small_line)->count, 100);
    assert_int_equal(at_line(stats, groups, object_line)->size, 20 * 48);
    assert_int_equal(at_line(stats, groups, object_line)->count, 20);
    /* biggest first */
    assert_int_equal(stats[0].line, big_line);
    assert_int_equal(stats[1].line, small_line);
    /* by file: one group, the sum */
    assert_int_equal(rcgc_snapshot_statistics(snapshot, RCGC_TRACE_BY_FILE, stats, LIMIT), 1);
    assert_int_equal(stats[0].size, 10000 + 6400 + 20 * 48);
    assert_int_equal(stats[0].line, 0);
    size_t current, peak;
    rcgc_trace_get_memory(&current, &peak);
    assert_int_equal(current, 10000 + 6400 + 20 * 48);
    rcgc_snapshot_free(snapshot);
    for (int i = 0; i < 100; i++)
        rcgc_free(small[i]);
    for (int i = 0; i < 10; i++)
        rcgc_free(big[i]);
    for (int i = 0; i < 20; i++)
        rcgc_decref(objects[i]);
}

static void frees_and_peak(void **state) {
    (void)state;
    assert_int_equal(rcgc_trace_start(NULL), 0);
    void *blocks[50];
    for (int i = 0; i < 50; i++)
        blocks[i] = rcgc_malloc(1000);
    for (int i = 0; i < 30; i++)
        rcgc_free(blocks[i]);
    size_t current, peak;
    rcgc_trace_get_memory(&current, &peak);
    assert_int_equal(current, 20 * 1000);
    assert_int_equal(peak, 50 * 1000);
    rcgc_trace_reset_peak();
    rcgc_trace_get_memory(&current, &peak);
    assert_int_equal(peak, 20 * 1000);
    void *grown = rcgc_realloc(blocks[30], 100000); /* a new block, the old one freed */
    rcgc_trace_get_memory(&current, &peak);
    assert_int_equal(current, 19 * 1000 + 100000);
    rcgc_free(grown);
    for (int i = 31; i < 50; i++)
        rcgc_free(blocks[i]);
    rcgc_trace_get_memory(&current, &peak);
    assert_int_equal(current, 0);
    assert_int_equal(peak, 20 * 1000 + 100000); /* the new block came before the old went */
    /* A block allocated before tracing started is freed quietly. */
    rcgc_trace_stop();
    void *before = rcgc_malloc(32);
    assert_int_equal(rcgc_trace_start(NULL), 0);
    rcgc_free(before);
    rcgc_trace_get_memory(&current, NULL);
    assert_int_equal(current, 0);
}

static void compare_shows_what_changed(void **state) {
    (void)state;
    assert_int_equal(rcgc_trace_start(NULL), 0);
    void *kept[10], *dropped[5], *added[40];
    int kept_line = __LINE__ + 2;
    for (int i = 0; i < 10; i++)
        kept[i] = rcgc_malloc(100);
    int dropped_line = __LINE__ + 2;
    for (int i = 0; i < 5; i++)
        dropped[i] = rcgc_malloc(2000);
    rcgc_snapshot *before = rcgc_trace_snapshot();
    assert_non_null(before);
    for (int i = 0; i < 5; i++)
        rcgc_free(dropped[i]);
    int added_line = __LINE__ + 2;
    for (int i = 0; i < 40; i++)
        added[i] = rcgc_malloc(500);
    rcgc_snapshot *now = rcgc_trace_snapshot();
    assert_non_null(now);
    rcgc_trace_stat stats[LIMIT];
    ptrdiff_t groups = rcgc_snapshot_compare(now, before, RCGC_TRACE_BY_LINE, stats, LIMIT);
    assert_int_equal(groups, 3);
    assert_int_equal(stats[0].line, added_line); /* +20000 B */
    assert_int_equal(stats[0].size_diff, 20000);
    assert_int_equal(stats[0].count_diff, 40);
    assert_int_equal(stats[1].line, dropped_line); /* -10000 B */
    assert_int_equal(stats[1].size, 0);
    assert_int_equal(stats[1].size_diff, -10000);
    assert_int_equal(stats[1].count_diff, -5);
    assert_int_equal(stats[2].line, kept_line);
    assert_int_equal(stats[2].size_diff, 0);
    assert_int_equal(stats[2].size, 1000);
    /* the snapshots outlive the tracer */
    rcgc_trace_stop();
    assert_int_equal(rcgc_snapshot_statistics(now, RCGC_TRACE_BY_LINE, stats, LIMIT), 2);
    rcgc_snapshot_free(before);
    rcgc_snapshot_free(now);
    for (int i = 0; i < 10; i++)
        rcgc_free(kept[i]);
    for (int i = 0; i < 40; i++)
        rcgc_free(added[i]);
}

/* ----------------------------------------------------------- Call stacks */

#undef rcgc_malloc /* these two show what a host without RCGC_TRACE_SITES gets */

__attribute__((noinline)) static void *allocate_here(size_t size) {
    void *block = rcgc_malloc(size);
    __asm__ volatile("" ::: "memory"); /* keep the call from becoming a tail call */
    return block;
}

__attribute__((noinline)) static void *allocate_there(size_t size) {
    void *block = rcgc_malloc(size);
    __asm__ volatile("" ::: "memory");
    return block;
}

static bool inside(const void *frame, void *(*function)(size_t)) {
    uintptr_t at = (uintptr_t)frame, start = (uintptr_t)function;
    return at > start && at < start + 256;
}

static void frames_start_at_the_hosts_call(void **state) {
    (void)state;
    rcgc_trace_options three = {.frames = 3};
    assert_int_equal(rcgc_trace_start(&three), 0);
    void *a = allocate_here(100), *b = allocate_there(100), *c = allocate_there(100);
    rcgc_snapshot *snapshot = rcgc_trace_snapshot();
    assert_non_null(snapshot);
    rcgc_trace_stat stats[LIMIT];
    ptrdiff_t groups = rcgc_snapshot_statistics(snapshot, RCGC_TRACE_BY_LINE, stats, LIMIT);
    assert_int_equal(groups, 2);
    assert_null(stats[0].file);
    assert_int_equal(stats[0].frame_count, 1);
    assert_true(inside(stats[0].frames[0], allocate_there)); /* two blocks: first */
    assert_int_equal(stats[0].count, 2);
    assert_true(inside(stats[1].frames[0], allocate_here));
    /* By traceback, the callers' frames tell the two calls of
     * allocate_there apart. */
    assert_int_equal(rcgc_snapshot_statistics(snapshot, RCGC_TRACE_BY_TRACEBACK, stats, LIMIT), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(stats[i].frame_count, 3);
        assert_int_equal(stats[i].count, 1);
        assert_true(inside(stats[i].frames[0], allocate_here) ||
                    inside(stats[i].frames[0], allocate_there));
    }
    assert_true(stats[0].frames[1] != stats[1].frames[1] &&
                stats[1].frames[1] != stats[2].frames[1]);
    rcgc_snapshot_free(snapshot);
    rcgc_free(a);
    rcgc_free(b);
    rcgc_free(c);
}
#define rcgc_malloc(size) rcgc_malloc_at((size), __FILE__, __LINE__)

/* -------------------------------------------------------------- Sampling */

static void sampled_estimates_are_near_the_truth(void **state) {
    (void)state;
    /* 30 000 blocks of 1 KiB and 3 000 of 10 KiB: 60 MB in 33 000 blocks,
     * about 900 samples of one per 64 KiB. The standard error of an
     * estimate from n samples is about 1/sqrt(n): 3.3 % here (4.7 % per
     * line), so 20 % is beyond four of them. */
    enum { SMALL = 30000, LARGE = 3000 };
    static void *small[SMALL], *large[LARGE];
    rcgc_trace_options sampled = {.frames = 0, .sample_bytes = 64 << 10};
    assert_int_equal(rcgc_trace_start(&sampled), 0);
    int small_line = __LINE__ + 2;
    for (int i = 0; i < SMALL; i++)
        small[i] = rcgc_malloc(1024);
    int large_line = __LINE__ + 2;
    for (int i = 0; i < LARGE; i++)
        large[i] = rcgc_malloc(10240);
    rcgc_snapshot *snapshot = rcgc_trace_snapshot();
    assert_non_null(snapshot);
    rcgc_trace_stat stats[LIMIT];
    ptrdiff_t groups = rcgc_snapshot_statistics(snapshot, RCGC_TRACE_BY_LINE, stats, LIMIT);
    assert_int_equal(groups, 2);
    double truth = (double)SMALL * 1024;
    const rcgc_trace_stat *s = at_line(stats, groups, small_line);
    const rcgc_trace_stat *l = at_line(stats, groups, large_line);
    assert_true((double)s->size > truth * 0.8 && (double)s->size < truth * 1.2);
    assert_true((double)l->size > truth * 0.8 && (double)l->size < truth * 1.2);
    assert_true((double)s->count > SMALL * 0.8 && (double)s->count < SMALL * 1.2);
    assert_true((double)l->count > LARGE * 0.8 && (double)l->count < LARGE * 1.2);
    size_t current;
    rcgc_trace_get_memory(&current, NULL);
    assert_true((double)current > 2 * truth * 0.85 && (double)current < 2 * truth * 1.15);
    rcgc_snapshot_free(snapshot);
    for (int i = 0; i < SMALL; i++)
        rcgc_free(small[i]);
    for (int i = 0; i < LARGE; i++)
        rcgc_free(large[i]);
    rcgc_trace_get_memory(&current, NULL);
    assert_int_equal(current, 0);
}

/* A block traced in one trace and freed after it stopped leaves nothing
 * behind: a later trace neither counts its slot's next block nor sees it
 * in a snapshot. */
static void a_new_trace_forgets_the_last_ones_blocks(void **state) {
    (void)state;
    enum { COUNT = 64 };
    void *blocks[COUNT];
    assert_int_equal(rcgc_trace_start(NULL), 0);
    for (int i = 0; i < COUNT; i++)
        blocks[i] = rcgc_malloc(80);
    rcgc_trace_stop();
    for (int i = 0; i < COUNT; i++) /* untraced frees of traced blocks */
        rcgc_free(blocks[i]);
    for (int i = 0; i < COUNT; i++) /* the same slots again, untraced */
        blocks[i] = rcgc_malloc(80);
    assert_int_equal(rcgc_trace_start(NULL), 0);
    rcgc_snapshot *snapshot = rcgc_trace_snapshot();
    assert_non_null(snapshot);
    rcgc_trace_stat stats[LIMIT];
    assert_int_equal(rcgc_snapshot_statistics(snapshot, RCGC_TRACE_BY_LINE, stats, LIMIT), 0);
    rcgc_snapshot_free(snapshot);
    for (int i = 0; i < COUNT; i++)
        rcgc_free(blocks[i]);
    size_t current, peak;
    rcgc_trace_get_memory(&current, &peak);
    assert_int_equal(current, 0);
    assert_int_equal(peak, 0);
}

/* Blocks of every kind are traced: pool, large (whole slices) and huge
 * (a mapping of their own, above 32 MiB). */
static void blocks_of_every_size_are_traced(void **state) {
    (void)state;
    static const size_t sizes[] = {24, 3000, 100000, 1 << 20, (size_t)40 << 20};
    enum { KINDS = sizeof sizes / sizeof sizes[0] };
    void *blocks[KINDS];
    int lines[KINDS];
    assert_int_equal(rcgc_trace_start(NULL), 0);
    size_t total = 0;
    for (int i = 0; i < KINDS; i++) {
        lines[i] = __LINE__ + 1;
        blocks[i] = rcgc_malloc(sizes[i]);
        assert_non_null(blocks[i]);
        total += sizes[i];
    }
    size_t current;
    rcgc_trace_get_memory(&current, NULL);
    assert_int_equal(current, total);
    rcgc_snapshot *snapshot = rcgc_trace_snapshot();
    assert_non_null(snapshot);
    rcgc_trace_stat stats[LIMIT];
    ptrdiff_t groups = rcgc_snapshot_statistics(snapshot, RCGC_TRACE_BY_LINE, stats, LIMIT);
    assert_int_equal(groups, 1); /* one line in the loop */
    assert_int_equal(at_line(stats, groups, lines[0])->size, total);
    assert_int_equal(at_line(stats, groups, lines[0])->count, KINDS);
    rcgc_snapshot_free(snapshot);
    for (int i = 0; i < KINDS; i++)
        rcgc_free(blocks[i]);
    rcgc_trace_get_memory(&current, NULL);
    assert_int_equal(current, 0);
}

/* --------------------------------------------------------------- Threads */

enum { PER_THREAD = 20000 };

static void *allocate_and_free(void *arg) {
    void **blocks = arg;
    for (int i = 0; i < PER_THREAD; i++)
        blocks[i] = rcgc_malloc(48);
    for (int i = 0; i < PER_THREAD; i += 2)
        rcgc_free(blocks[i]);
    return NULL;
}

static void threads_trace_together(void **state) {
    (void)state;
    static void *blocks[4][PER_THREAD];
    assert_int_equal(rcgc_trace_start(NULL), 0);
    pthread_t threads[4];
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, allocate_and_free, blocks[t]), 0);
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    size_t current;
    rcgc_trace_get_memory(&current, NULL);
    assert_int_equal(current, 4 * (PER_THREAD / 2) * 48);
    for (int t = 0; t < 4; t++)
        for (int i = 1; i < PER_THREAD; i += 2)
            rcgc_free(blocks[t][i]);
    rcgc_trace_get_memory(&current, NULL);
    assert_int_equal(current, 0);
}

/* ---------------------------------------------------------------- Misuse */

static void misuse_is_refused(void **state) {
    (void)state;
    assert_false(rcgc_trace_is_tracing());
    errno = 0;
    assert_null(rcgc_trace_snapshot());
    assert_int_equal(errno, EINVAL);
    rcgc_trace_options too_deep = {.frames = RCGC_TRACE_FRAMES_MAX + 1};
    assert_int_equal(rcgc_trace_start(&too_deep), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(rcgc_trace_start(NULL), 0);
    assert_true(rcgc_trace_is_tracing());
    assert_int_equal(rcgc_trace_start(NULL), -1);
    assert_int_equal(errno, EBUSY);
    void *block = rcgc_malloc(100);
    rcgc_trace_stop();
    assert_false(rcgc_trace_is_tracing());
    size_t current, peak;
    rcgc_trace_get_memory(&current, &peak);
    assert_int_equal(current, 0); /* stopping forgets */
    assert_int_equal(peak, 0);
    rcgc_free(block);
}

/* --------------------------------------------------------------- Printing */

static void prints_as_tracemalloc_does(void **state) {
    (void)state;
    assert_int_equal(rcgc_trace_start(NULL), 0);
    void *blocks[100];
    int line = __LINE__ + 2;
    for (int i = 0; i < 100; i++)
        blocks[i] = rcgc_malloc(300);
    rcgc_snapshot *before = rcgc_trace_snapshot();
    for (int i = 0; i < 50; i++)
        rcgc_free(blocks[i]);
    rcgc_snapshot *now = rcgc_trace_snapshot();
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    assert_int_equal(rcgc_snapshot_print(stream, before, NULL, RCGC_TRACE_BY_LINE, 10), 0);
    assert_int_equal(rcgc_snapshot_print(stream, now, before, RCGC_TRACE_BY_LINE, 10), 0);
    assert_int_equal(fclose(stream), 0);
    char expected[512];
    snprintf(expected, sizeof expected,
             "%s:%d: size=29.3 KiB, count=100, average=300 B\n"
             "%s:%d: size=14.6 KiB (-14.6 KiB), count=50 (-50), average=300 B\n",
             __FILE__, line, __FILE__, line);
    assert_string_equal(text, expected);
    free(text);
    rcgc_snapshot_free(before);
    rcgc_snapshot_free(now);
    for (int i = 50; i < 100; i++)
        rcgc_free(blocks[i]);
}

int main(void) {
#define TRACE_TEST(name) cmocka_unit_test_teardown(name, stop_tracing)
    const struct CMUnitTest tests[] = {
        TRACE_TEST(statistics_match_the_allocations_line_by_line),
        TRACE_TEST(frees_and_peak),
        TRACE_TEST(compare_shows_what_changed),
        TRACE_TEST(frames_start_at_the_hosts_call),
        TRACE_TEST(sampled_estimates_are_near_the_truth),
        TRACE_TEST(a_new_trace_forgets_the_last_ones_blocks),
        TRACE_TEST(blocks_of_every_size_are_traced),
        TRACE_TEST(threads_trace_together),
        TRACE_TEST(misuse_is_refused),
        TRACE_TEST(prints_as_tracemalloc_does),
    };
#undef TRACE_TEST
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("debug_trace", tests, NULL, NULL);
}
