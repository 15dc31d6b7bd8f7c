/* tests/test_gc_settings.c - the collector's counters, thresholds and
 * controls, tested through rcgc/gc.h only: count[0..2] and thresholds
 * ((700, 9, 0) + 1 runs collect(1)), enable and disable, the 25 % rule
 * for full collections, debug output flags, callbacks, statistics,
 * settings from the environment (RCGC_THRESHOLDS, RCGC_DEBUG, read by a
 * re-executed copy of this program), and freeze.
 *
 * Conventions (tests/support/gc_types.h): every test starts from a full
 * collection with an empty garbage list, so the counters read (0, 0, 0).
 */
#include "support/child.h"
#include "support/gc_types.h"

#include <rcgc.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ---------------------------------------------------------------- Counters */

static void gc_creations_raise_count0_and_leaf_ones_do_not(void **state) {
    (void)state;
    assert_count(0, 0, 0);
    keep_new_instances(5);
    assert_count(5, 0, 0);
    rcgc_object *leaf = str_new("leaf");
    assert_count(5, 0, 0);
    rcgc_decref(leaf);
    assert_count(5, 0, 0);
    drop_kept();
}

static void deaths_lower_count0_but_never_below_zero(void **state) {
    (void)state;
    keep_new_instances(10);
    for (int i = 0; i < 4; i++)
        rcgc_decref(kept[--kept_len]);
    assert_count(6, 0, 0);
    assert_int_equal(rcgc_collect(0), 0);
    assert_count(0, 1, 0);
    drop_kept(); /* six deaths after the reset */
    assert_count(0, 1, 0);
    assert_int_equal(atomic_load(&instances_released), 10);
}

static void collect_resets_younger_counts_and_bumps_the_next(void **state) {
    (void)state;
    keep_new_instances(5);
    assert_int_equal(rcgc_collect(0), 0);
    assert_count(0, 1, 0);
    keep_new_instances(3);
    assert_int_equal(rcgc_collect(1), 0);
    assert_count(0, 0, 1);
    keep_new_instances(2);
    assert_int_equal(rcgc_collect(0), 0);
    assert_count(0, 1, 1);
    assert_int_equal(rcgc_collect(2), 0);
    assert_count(0, 0, 0);
    drop_kept();
}

static void seed_000_count_699_3_0_plus_one_runs_collect0(void **state) {
    (void)state;
    repeat_collect(0, 3);
    assert_count(0, 3, 0);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    keep_new_instances(699);
    assert_count(699, 3, 0);
    keep_new_instances(1);
    assert_count(0, 4, 0);
    rcgc_get_stats(after);
    assert_int_equal(after[0].collections, before[0].collections + 1);
    assert_int_equal(after[1].collections, before[1].collections);
    assert_int_equal(after[2].collections, before[2].collections);
    drop_kept();
    assert_count(0, 4, 0);
}

static void seed_000_count_699_9_0_plus_one_runs_collect1(void **state) {
    (void)state;
    repeat_collect(0, 9);
    keep_new_instances(699);
    assert_count(699, 9, 0);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    keep_new_instances(1);
    assert_count(0, 0, 1);
    rcgc_get_stats(after);
    assert_int_equal(after[1].collections, before[1].collections + 1);
    assert_int_equal(after[0].collections, before[0].collections);
    drop_kept();
}

static void seed_000_count_699_9_9_plus_one_runs_a_full_collection(void **state) {
    (void)state;
    /* The 25% rule: objects promoted into generation 2 since the last full
     * collection must reach a quarter of those it left. Promote enough. */
    size_t old = objects_in_generation(2);
    keep_new_instances(old / 4 + 1);
    repeat_collect(1, 9);
    repeat_collect(0, 9);
    keep_new_instances(699);
    assert_count(699, 9, 9);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    keep_new_instances(1);
    assert_count(0, 0, 0);
    if (rcgc_get_old_collection() == RCGC_OLD_INCREMENTAL) {
        /* A generation-1 collection, then a full one started in increments
         * (the counts reset as a full one resets them); it is counted once
         * it ends. */
        rcgc_get_stats(after);
        assert_int_equal(after[1].collections, before[1].collections + 1);
        while (rcgc_old_collection_running())
            assert_int_not_equal(rcgc_collect_step(), -1);
        rcgc_get_stats(after);
        assert_int_equal(after[2].collections, before[2].collections + 1);
        drop_kept();
        return;
    }
    rcgc_get_stats(after);
    assert_int_equal(after[2].collections, before[2].collections + 1);
    assert_int_equal(after[1].collections, before[1].collections);
    drop_kept();
}

static void full_collection_waits_for_a_quarter_of_old_objects_promoted(void **state) {
    (void)state;
    rcgc_disable();
    keep_new_instances(1000);
    rcgc_enable();
    assert_int_equal(rcgc_collect(2), 0); /* 1000+ old objects, nothing promoted since */
    repeat_collect(1, 9);                 /* promotes nothing: gens 0 and 1 are empty */
    repeat_collect(0, 9);
    keep_new_instances(699);
    assert_count(699, 9, 9);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    keep_new_instances(1);
    rcgc_get_stats(after);
    assert_int_equal(after[2].collections, before[2].collections); /* skipped */
    assert_int_equal(after[1].collections, before[1].collections + 1);
    assert_count(0, 0, 10);
    drop_kept();
}

static void disable_stops_automatic_collection_and_enable_resumes_it(void **state) {
    (void)state;
    assert_true(rcgc_is_enabled());
    rcgc_disable();
    assert_false(rcgc_is_enabled());
    keep_new_instances(800);
    assert_count(800, 0, 0);
    assert_int_equal(rcgc_collect(0), 0); /* explicit collections still run */
    assert_count(0, 1, 0);
    keep_new_instances(750);
    assert_count(750, 1, 0);
    rcgc_enable();
    assert_true(rcgc_is_enabled());
    keep_new_instances(1);
    assert_count(0, 2, 0);
    drop_kept();
}

static void threshold0_of_zero_disables_automatic_collection(void **state) {
    (void)state;
    rcgc_set_threshold(0, 10, 10);
    unsigned threshold[RCGC_GENERATIONS];
    rcgc_get_threshold(threshold);
    assert_int_equal(threshold[0], 0);
    assert_int_equal(threshold[1], 10);
    assert_int_equal(threshold[2], 10);
    keep_new_instances(800);
    assert_count(800, 0, 0);
    rcgc_set_threshold(700, 10, 10);
    drop_kept();
}

/* Objects that die by count leave their young-table slots empty, and with
 * no cycles count[0] never reaches the threshold: the table must still not
 * grow with every object ever made (its chunks come from the raw layer). */
static void objects_dying_by_count_do_not_grow_the_young_table(void **state) {
    (void)state;
    rcgc_set_threshold(0, 10, 10); /* no automatic collection at all */
    struct rcgc_raw_stats before, after;
    rcgc_raw_stats(&before);
    for (int i = 0; i < 1000000; i++)
        rcgc_decref(list_new());
    rcgc_raw_stats(&after);
    /* A million slots are about a thousand 8 KiB chunks. */
    assert_true((after.mallocs - after.frees) - (before.mallocs - before.frees) < 64);
    assert_int_equal(atomic_load(&model_list_class.released), 1000000);
}

static void lower_threshold0_collects_sooner(void **state) {
    (void)state;
    rcgc_set_threshold(5, 10, 10);
    keep_new_instances(4);
    assert_count(4, 0, 0);
    keep_new_instances(1);
    assert_count(0, 1, 0);
    drop_kept();
}

static void collect_of_a_bad_generation_fails_with_einval(void **state) {
    (void)state;
    errno = 0;
    assert_int_equal(rcgc_collect(3), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(rcgc_collect(-1), -1);
    assert_int_equal(errno, EINVAL);
    assert_count(0, 0, 0); /* nothing was collected or counted */
}

static void automatic_collection_frees_garbage_cycles(void **state) {
    (void)state;
    rcgc_set_threshold(100, 10, 10);
    make_garbage_self_cycles(1000); /* never an explicit collect */
    assert_true(atomic_load(&model_list_class.released) >= 800);
    rcgc_set_threshold(700, 10, 10);
    rcgc_collect(2);
    assert_int_equal(atomic_load(&model_list_class.released), 1000);
}

/* ----------------------------------------------------------- Debug output */

static void get_debug_returns_what_was_set(void **state) {
    (void)state;
    assert_int_equal(rcgc_get_debug(), 0);
    rcgc_set_debug(RCGC_DEBUG_STATS | RCGC_DEBUG_UNCOLLECTABLE);
    assert_int_equal(rcgc_get_debug(), RCGC_DEBUG_STATS | RCGC_DEBUG_UNCOLLECTABLE);
    rcgc_set_debug(0);
    assert_int_equal(rcgc_get_debug(), 0);
}

static void no_debug_flags_print_nothing(void **state) {
    (void)state;
    make_garbage_self_cycles(2);
    struct output out;
    output_begin(&out);
    assert_int_equal(rcgc_collect(2), 2);
    output_end(&out);
    assert_int_equal(out.length, 0);
    free(out.text);
}

static void debug_stats_prints_the_start_and_the_result(void **state) {
    (void)state;
    size_t old = objects_in_generation(2);
    make_garbage_self_cycles(3);
    keep_new_instances(2);
    rcgc_set_debug(RCGC_DEBUG_STATS);
    struct output out;
    output_begin(&out);
    assert_int_equal(rcgc_collect(2), 3);
    output_end(&out);
    rcgc_set_debug(0);

    assert_non_null(strstr(out.text, "gc: collecting generation 2...\n"));
    const char *line = strstr(out.text, "gc: objects in each generation: ");
    assert_non_null(line);
    size_t g0 = 99, g1 = 99, g2 = 99;
    assert_int_equal(sscanf(line, "gc: objects in each generation: %zu %zu %zu", &g0, &g1, &g2), 3);
    assert_int_equal(g0, 5); /* before the collection: 3 cycles and 2 kept */
    assert_int_equal(g1, 0);
    assert_int_equal(g2, old);
    line = strstr(out.text, "gc: objects in permanent generation: ");
    assert_non_null(line);
    size_t permanent = 99;
    assert_int_equal(sscanf(line, "gc: objects in permanent generation: %zu", &permanent), 1);
    assert_int_equal(permanent, 0);
    line = strstr(out.text, "gc: done, ");
    assert_non_null(line);
    size_t unreachable = 99, uncollectable = 99;
    char seconds[32] = "";
    assert_int_equal(sscanf(line,
                            "gc: done, %zu unreachable, %zu uncollectable, %31[0-9.]s elapsed",
                            &unreachable, &uncollectable, seconds),
                     3);
    assert_int_equal(unreachable, 3);
    assert_int_equal(uncollectable, 0);
    const char *dot = strchr(seconds, '.');
    assert_non_null(dot);
    assert_int_equal(strlen(dot + 1), 4); /* %.4f */
    assert_non_null(strstr(line, "s elapsed\n"));
    free(out.text);
    drop_kept();
}

static void debug_collectable_names_each_collected_object(void **state) {
    (void)state;
    rcgc_object *x = new_self_cycle();
    rcgc_object *y = new_object(&instance_type);
    set_other(y, y);
    rcgc_decref(x);
    rcgc_decref(y);
    rcgc_set_debug(RCGC_DEBUG_COLLECTABLE);
    struct output out;
    output_begin(&out);
    assert_int_equal(rcgc_collect(2), 2);
    output_end(&out);
    rcgc_set_debug(0);
    void *found[4];
    assert_int_equal(lines_naming(out.text, "collectable", "list", found, 4), 1);
    assert_ptr_equal(found[0], x);
    assert_int_equal(lines_naming(out.text, "collectable", "instance", found, 4), 1);
    assert_ptr_equal(found[0], y);
    assert_null(strstr(out.text, "uncollectable"));
    free(out.text);
    assert_int_equal(atomic_load(&model_list_class.released), 1);
    assert_int_equal(atomic_load(&instances_released), 1);
}

static void debug_uncollectable_names_graphs_and_what_they_reach(void **state) {
    (void)state;
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    make_garbage_self_cycles(1); /* collectable: not named */
    rcgc_set_debug(RCGC_DEBUG_UNCOLLECTABLE);
    struct output out;
    output_begin(&out);
    assert_int_equal(rcgc_collect(2), 7);
    output_end(&out);
    rcgc_set_debug(0);
    void *found[8];
    size_t n = lines_naming(out.text, "uncollectable", "Graph", found, 8);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_true(pointer_listed(found, n, graphs[i]));
    n = lines_naming(out.text, "uncollectable", "dict", found, 8);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_true(pointer_listed(found, n, dicts[i]));
    assert_int_equal(lines_naming(out.text, "uncollectable", "list", found, 8), 0);
    assert_null(strstr(out.text, "gc: collectable"));
    assert_int_equal(rcgc_garbage_count(), 3); /* UNCOLLECTABLE alone does not save all */
    free(out.text);
    assert_int_equal(atomic_load(&model_list_class.released), 1);
    break_graph_ring_from_the_garbage_list();
    rcgc_garbage_clear();
    rcgc_collect(2);
    assert_int_equal(atomic_load(&model_graph_class.released), 3);
}

/* -------------------------------------------------------------- Callbacks */

static void callbacks_see_start_then_stop_with_the_results(void **state) {
    (void)state;
    assert_int_equal(rcgc_callback_add(record_callback, &recorded), 0);
    make_garbage_self_cycles(2);
    assert_int_equal(rcgc_collect(1), 2);
    assert_int_equal(recorded.count, 2);
    assert_ptr_equal(recorded.arg_seen, &recorded);
    assert_int_equal(recorded.events[0].phase, RCGC_GC_START);
    assert_int_equal(recorded.events[0].info.generation, 1);
    assert_int_equal(recorded.events[0].info.collected, 0);
    assert_int_equal(recorded.events[0].info.uncollectable, 0);
    assert_int_equal(recorded.events[1].phase, RCGC_GC_STOP);
    assert_int_equal(recorded.events[1].info.generation, 1);
    assert_int_equal(recorded.events[1].info.collected, 2);
    assert_int_equal(recorded.events[1].info.uncollectable, 0);
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), 0);
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(recorded.count, 2); /* removed: not called again */
}

static void automatic_collection_calls_callbacks_with_its_generation(void **state) {
    (void)state;
    repeat_collect(0, 9);
    keep_new_instances(699);
    assert_int_equal(rcgc_callback_add(record_callback, &recorded), 0);
    keep_new_instances(1); /* (700, 9, 0): a generation-1 collection */
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), 0);
    assert_int_equal(recorded.count, 2);
    assert_int_equal(recorded.events[0].phase, RCGC_GC_START);
    assert_int_equal(recorded.events[0].info.generation, 1);
    assert_int_equal(recorded.events[1].phase, RCGC_GC_STOP);
    assert_int_equal(recorded.events[1].info.generation, 1);
    drop_kept();
}

static void callback_remove_of_an_unknown_one_fails_with_enoent(void **state) {
    (void)state;
    errno = 0;
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(rcgc_callback_add(record_callback, &recorded), 0);
    errno = 0;
    assert_int_equal(rcgc_callback_remove(record_callback, NULL), -1); /* other arg */
    assert_int_equal(errno, ENOENT);
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), 0);
    errno = 0;
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), -1);
    assert_int_equal(errno, ENOENT);
}

static void collect_from_a_callback_returns_0(void **state) {
    (void)state;
    recorded.collect_inside = true;
    assert_int_equal(rcgc_callback_add(record_callback, &recorded), 0);
    make_garbage_self_cycles(1);
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), 0);
    assert_int_equal(recorded.count, 2); /* the nested call started no collection */
    assert_int_equal(recorded.collect_result, 0);
    assert_int_equal(atomic_load(&model_list_class.released), 1);
}

/* ------------------------------------------------------------- Statistics */

static void stats_count_collections_and_collected_per_generation(void **state) {
    (void)state;
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    make_garbage_self_cycles(1);
    assert_int_equal(rcgc_collect(0), 1);
    rcgc_get_stats(after);
    assert_int_equal(after[0].collections, before[0].collections + 1);
    assert_int_equal(after[0].collected, before[0].collected + 1);
    assert_int_equal(after[1].collections, before[1].collections);
    assert_int_equal(after[2].collections, before[2].collections);
    make_garbage_self_cycles(2);
    assert_int_equal(rcgc_collect(2), 2);
    rcgc_get_stats(after);
    assert_int_equal(after[2].collections, before[2].collections + 1);
    assert_int_equal(after[2].collected, before[2].collected + 2);
    assert_int_equal(after[0].collections, before[0].collections + 1);
    for (int g = 0; g < RCGC_GENERATIONS; g++)
        assert_true(after[g].max_pause_ns <= after[g].total_pause_ns);
}

static void print_gc_stats_shows_the_thresholds(void **state) {
    (void)state;
    rcgc_set_threshold(123, 45, 67);
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    assert_non_null(stream);
    rcgc_print_gc_stats(stream);
    fclose(stream);
    assert_non_null(strstr(text, "123"));
    assert_non_null(strstr(text, "45"));
    assert_non_null(strstr(text, "67"));
    free(text);
}

/* -------------------------------------------------------------- Environment */

/* The child's half: print the settings read from the environment at start. */
static int print_gc_settings(void) {
    rcgc_thread_attach();
    unsigned threshold[RCGC_GENERATIONS];
    rcgc_get_threshold(threshold);
    printf("thresholds %u %u %u debug %u\n", threshold[0], threshold[1], threshold[2],
           rcgc_get_debug());
    return 0;
}

static void thresholds_are_read_from_rcgc_thresholds(void **state) {
    (void)state;
    struct child_result result;
    child_exec_self("--print-gc-settings", "RCGC_THRESHOLDS=100,5,3", &result);
    assert_true(result.exited);
    assert_int_equal(result.code, 0);
    assert_non_null(strstr(result.output, "thresholds 100 5 3 "));
}

static void debug_flags_are_read_from_rcgc_debug(void **state) {
    (void)state;
    struct child_result result;
    child_exec_self("--print-gc-settings", "RCGC_DEBUG=stats,saveall", &result);
    assert_true(result.exited);
    assert_non_null(strstr(result.output, " debug 33\n"));
    child_exec_self("--print-gc-settings", "RCGC_DEBUG=leak", &result);
    assert_true(result.exited);
    assert_non_null(strstr(result.output, " debug 38\n"));
}

/* ----------------------------------------------------------------- Freeze */

static void frozen_objects_are_left_out_until_unfrozen(void **state) {
    (void)state;
    rcgc_object *live = list_new();
    rcgc_object *cycle = new_self_cycle();
    rcgc_decref(cycle); /* garbage, but frozen below */
    size_t tracked = objects_in_generation(-1);
    assert_true(tracked >= 2);
    assert_count(2, 0, 0);
    rcgc_freeze();
    assert_true(rcgc_get_freeze_count() >= tracked);
    assert_count(0, 0, 0);
    assert_false(in_generation(-1, live)); /* the permanent generation is not listed */
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&model_list_class.released), 0);
    rcgc_unfreeze();
    assert_int_equal(rcgc_get_freeze_count(), 0);
    assert_true(in_generation(2, live));
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(atomic_load(&model_list_class.released), 1);
    rcgc_decref(live);
}

int main(int argc, char **argv) {
#define GC_TEST(name)                                                                              \
    cmocka_unit_test_setup_teardown(name, start_from_a_full_collection, restore_defaults)
    const struct CMUnitTest tests[] = {
        GC_TEST(gc_creations_raise_count0_and_leaf_ones_do_not),
        GC_TEST(deaths_lower_count0_but_never_below_zero),
        GC_TEST(collect_resets_younger_counts_and_bumps_the_next),
        GC_TEST(seed_000_count_699_3_0_plus_one_runs_collect0),
        GC_TEST(seed_000_count_699_9_0_plus_one_runs_collect1),
        GC_TEST(seed_000_count_699_9_9_plus_one_runs_a_full_collection),
        GC_TEST(full_collection_waits_for_a_quarter_of_old_objects_promoted),
        GC_TEST(disable_stops_automatic_collection_and_enable_resumes_it),
        GC_TEST(threshold0_of_zero_disables_automatic_collection),
        GC_TEST(objects_dying_by_count_do_not_grow_the_young_table),
        GC_TEST(lower_threshold0_collects_sooner),
        GC_TEST(collect_of_a_bad_generation_fails_with_einval),
        GC_TEST(automatic_collection_frees_garbage_cycles),
        GC_TEST(get_debug_returns_what_was_set),
        GC_TEST(no_debug_flags_print_nothing),
        GC_TEST(debug_stats_prints_the_start_and_the_result),
        GC_TEST(debug_collectable_names_each_collected_object),
        GC_TEST(debug_uncollectable_names_graphs_and_what_they_reach),
        GC_TEST(callbacks_see_start_then_stop_with_the_results),
        GC_TEST(automatic_collection_calls_callbacks_with_its_generation),
        GC_TEST(callback_remove_of_an_unknown_one_fails_with_enoent),
        GC_TEST(collect_from_a_callback_returns_0),
        GC_TEST(stats_count_collections_and_collected_per_generation),
        GC_TEST(print_gc_stats_shows_the_thresholds),
        GC_TEST(thresholds_are_read_from_rcgc_thresholds),
        GC_TEST(debug_flags_are_read_from_rcgc_debug),
        GC_TEST(frozen_objects_are_left_out_until_unfrozen),
    };
#undef GC_TEST
    if (argc == 2 && strcmp(argv[1], "--print-gc-settings") == 0)
        return print_gc_settings();
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("gc_settings", tests, NULL, NULL);
}
