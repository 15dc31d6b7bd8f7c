/* tests/test_gc_increments.c - full collections in increments
 * (rcgc_set_old_collection(RCGC_OLD_INCREMENTAL)), tested through the
 * public API with the host changing the graph between increments.
 *
 * Every test here runs with the smallest increments (budget 0), so a
 * collection of a few thousand objects takes dozens of them; the races
 * that matter (a reference moved behind the marking, an untrack, a death,
 * a weak reference's get) are tried after every possible number of
 * increments, so each phase sees them. In the checked presets every
 * increment also checks the barrier's invariant B1 (src/gc/barrier.c).
 * The collector's other tests run in this mode too (ctest's *_incremental
 * entries).
 */
#include "support/child.h"
#include "support/gc_types.h"

#include <rcgc.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Live filler: enough candidates that each phase spans several
 * increments of the least size. */
enum { FILLER = 3000 };

static rcgc_object *filler;

/* Automatic collections are off but in the test that is about them: the
 * tests step the collections themselves. */
static int setup(void **state) {
    start_from_a_full_collection(state);
    rcgc_disable();
    assert_int_equal(rcgc_set_old_collection(RCGC_OLD_INCREMENTAL), 0);
    rcgc_set_increment_budget(0);
    filler = list_new();
    for (int i = 0; i < FILLER; i++) {
        rcgc_object *item = list_new();
        list_append(filler, item);
        rcgc_decref(item);
    }
    return 0;
}

static int teardown(void **state) {
    rcgc_decref(filler);
    filler = NULL;
    assert_int_equal(rcgc_set_old_collection(RCGC_OLD_STOP_THE_WORLD), 0);
    rcgc_set_increment_budget(1000000);
    rcgc_collect(2);
    return restore_defaults(state);
}

/* Steps until the running collection ends; returns how many. */
static int finish(void) {
    int steps = 0;
    while (rcgc_old_collection_running()) {
        assert_int_not_equal(rcgc_collect_step(), -1);
        steps++;
    }
    return steps;
}

/* Start a collection and run @k more increments, unless it ends first;
 * returns whether it still runs. */
static bool start_and_step(int k) {
    int running = rcgc_collect_step();
    assert_int_not_equal(running, -1);
    for (int i = 0; i < k && running == 1; i++)
        running = rcgc_collect_step();
    return running == 1;
}

/* How many increments a whole collection of the current heap takes. */
static int increments_of_a_collection(void) {
    assert_false(rcgc_old_collection_running());
    return 1 + (start_and_step(0) ? finish() : 0);
}

static rcgc_object *instance_new(void) { return new_object(&instance_type); }

/* @how_many lists holding themselves, promoted to generation 2 and then
 * dropped: garbage only a full collection finds. */
static void make_old_garbage_self_cycles(int how_many) {
    enum { MOST = 1024 };
    rcgc_object *cycles[MOST];
    assert_true(how_many <= MOST);
    for (int i = 0; i < how_many; i++)
        cycles[i] = new_self_cycle();
    assert_int_equal(rcgc_collect(1), 0);
    for (int i = 0; i < how_many; i++)
        rcgc_decref(cycles[i]);
}

/* ------------------------------------------------------------------ Basics */

static void collect_step_needs_incremental_mode(void **state) {
    (void)state;
    assert_int_equal(rcgc_get_old_collection(), RCGC_OLD_INCREMENTAL);
    assert_int_equal(rcgc_set_old_collection(7), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(rcgc_set_old_collection(RCGC_OLD_STOP_THE_WORLD), 0);
    errno = 0;
    assert_int_equal(rcgc_collect_step(), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(rcgc_old_collection_running());
    assert_int_equal(rcgc_set_old_collection(RCGC_OLD_INCREMENTAL), 0);
    rcgc_set_increment_budget(12345);
    assert_int_equal(rcgc_get_increment_budget(), 12345);
    rcgc_set_increment_budget(0);
}

static void garbage_present_at_the_start_is_freed_by_the_end(void **state) {
    (void)state;
    make_old_garbage_self_cycles(500);
    assert_true(start_and_step(0)); /* a few thousand candidates: many increments */
    assert_int_equal(atomic_load(&model_list_class.released), 0);
    int steps = finish();
    assert_true(steps >= 10);
    assert_int_equal(atomic_load(&model_list_class.released), 500);
    /* Nothing else was garbage. */
    assert_int_equal(rcgc_collect(2), 0);
}

static void collect_2_runs_a_whole_collection_in_increments(void **state) {
    (void)state;
    make_garbage_self_cycles(7);
    assert_int_equal(rcgc_collect(2), 7);
    assert_false(rcgc_old_collection_running());
    /* A running one is abandoned and a whole one run: it finds garbage
     * made after the abandoned one began. */
    assert_true(start_and_step(2));
    make_garbage_self_cycles(3);
    assert_int_equal(rcgc_collect(2), 3);
    assert_false(rcgc_old_collection_running());
}

static void garbage_made_during_a_collection_is_found_by_the_next(void **state) {
    (void)state;
    assert_true(start_and_step(3));
    make_garbage_self_cycles(4); /* young: not a candidate of this one */
    finish();
    assert_int_equal(atomic_load(&model_list_class.released), 0);
    assert_true(start_and_step(0));
    finish();
    assert_int_equal(atomic_load(&model_list_class.released), 4);
}

/* ----------------------------------------- The host changes the graph */

/* The marking's classic race: B is referenced only by C; after some
 * increments the host adds A -> B and drops C -> B. A may already be
 * scanned and C not yet: only the barrier (A -> B's increment of B) keeps
 * B alive. Tried after every number of increments. */
static void reference_moved_behind_the_marking_keeps_its_object(void **state) {
    (void)state;
    int total = increments_of_a_collection();
    assert_true(total >= 6);
    for (int k = 0; k <= total; k++) {
        rcgc_object *a = instance_new(), *b = instance_new(), *c = instance_new();
        set_other(c, b);
        rcgc_decref(b);
        set_other(b, b); /* a cycle, so that only the collector could free it */
        bool running = start_and_step(k);
        set_other(a, b);
        set_other(c, NULL);
        if (running)
            finish();
        assert_int_equal(atomic_load(&instances_released), 0);
        assert_ptr_equal(other_of(a), b);
        assert_ptr_equal(other_of(b), b);
        /* And once unreachable, the next collection frees it. */
        set_other(a, NULL);
        assert_int_equal(rcgc_collect(2), 1);
        assert_int_equal(atomic_load(&instances_released), 1);
        rcgc_decref(a);
        rcgc_decref(c);
        atomic_store(&instances_released, 0);
    }
}

/* X is referenced by the host and holds the only reference to Y. After
 * some increments X is untracked: its reference to Y may already have
 * been subtracted, and X will not be scanned, so untracking must keep Y. */
static void untracking_a_candidate_keeps_what_it_references(void **state) {
    (void)state;
    int total = increments_of_a_collection();
    for (int k = 0; k <= total; k++) {
        rcgc_object *x = instance_new(), *y = instance_new();
        set_other(x, y);
        set_other(y, y);
        rcgc_decref(y);
        bool running = start_and_step(k);
        rcgc_untrack(x);
        if (running)
            finish();
        assert_int_equal(atomic_load(&instances_released), 0);
        assert_ptr_equal(other_of(other_of(x)), y);
        rcgc_decref(x); /* y is garbage now: a cycle of its own */
        assert_int_equal(rcgc_collect(2), 1);
        assert_int_equal(atomic_load(&instances_released), 2);
        atomic_store(&instances_released, 0);
    }
}

/* A candidate that dies by count between increments leaves its slot
 * empty: no increment reads it, and what it referenced is judged by what
 * is left (checked for use after free by the sanitizer presets). */
static void candidate_dying_between_increments_is_not_read(void **state) {
    (void)state;
    int total = increments_of_a_collection();
    for (int k = 0; k <= total; k++) {
        rcgc_object *holder = instance_new(), *kept_alive = instance_new();
        rcgc_object *loop = instance_new();
        set_other(holder, kept_alive);
        set_other(kept_alive, kept_alive);
        set_other(loop, loop);
        rcgc_decref(kept_alive);
        rcgc_object *dying = instance_new();
        set_other(dying, loop);
        rcgc_decref(loop); /* loop: only dying and itself */
        bool running = start_and_step(k);
        rcgc_decref(dying); /* dies now; loop becomes garbage */
        assert_int_equal(atomic_load(&instances_released), 1);
        if (running)
            finish();
        assert_ptr_equal(other_of(holder), kept_alive);
        rcgc_collect(2);
        assert_int_equal(atomic_load(&instances_released), 2); /* dying, loop */
        rcgc_decref(holder);
        rcgc_collect(2);
        assert_int_equal(atomic_load(&instances_released), 4);
        atomic_store(&instances_released, 0);
    }
}

/* A garbage cycle watched by a weak reference: a get during the
 * collection makes it live again (the get's increment is a barrier), and
 * without one the collection clears the reference and frees the cycle. */
static void weakref_get_during_a_collection_keeps_its_object(void **state) {
    (void)state;
    int total = increments_of_a_collection();
    for (int k = 0; k <= total; k++) {
        rcgc_object *obj = instance_new();
        set_other(obj, obj);
        rcgc_object *ref = rcgc_weakref_new(obj, NULL, NULL);
        assert_non_null(ref);
        rcgc_decref(obj); /* garbage, but for the weak reference */
        bool running = start_and_step(k);
        rcgc_object *got = NULL;
        if (running) {
            got = rcgc_weakref_get(ref);
            assert_ptr_equal(got, obj);
        }
        if (running)
            finish();
        if (got != NULL) {
            assert_int_equal(atomic_load(&instances_released), 0);
            assert_ptr_equal(other_of(got), got);
            assert_int_equal(rcgc_weakref_count(got), 1);
            rcgc_decref(got);
            rcgc_collect(2);
        }
        assert_int_equal(atomic_load(&instances_released), 1);
        assert_null(rcgc_weakref_get(ref));
        rcgc_decref(ref);
        atomic_store(&instances_released, 0);
    }
}

/* A finalizer that resurrects its object during the last increment's
 * aftermath: it survives, finalized once, and is freed later without a
 * second finalize (PEP 442, as in stop-the-world mode). */
static void resurrection_works_in_increments(void **state) {
    (void)state;
    phoenix_resurrects = true;
    rcgc_object *p = new_object(&phoenix_type);
    set_other(p, p);
    rcgc_decref(p);
    assert_true(start_and_step(0));
    finish();
    assert_int_equal(atomic_load(&phoenixes_finalized), 1);
    assert_int_equal(atomic_load(&phoenixes_released), 0);
    assert_ptr_equal(resurrected, p);
    phoenix_resurrects = false;
    rcgc_decref(resurrected);
    resurrected = NULL;
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(atomic_load(&phoenixes_finalized), 1);
    assert_int_equal(atomic_load(&phoenixes_released), 1);
}

/* ------------------------------------------ Abandoning, and callbacks */

static void mode_change_and_freeze_abandon_without_losing_garbage(void **state) {
    (void)state;
    make_garbage_self_cycles(5);
    assert_true(start_and_step(4));
    assert_int_equal(rcgc_set_old_collection(RCGC_OLD_STOP_THE_WORLD), 0);
    assert_false(rcgc_old_collection_running());
    assert_int_equal(atomic_load(&model_list_class.released), 0);
    assert_int_equal(rcgc_collect(2), 5);
    assert_int_equal(rcgc_set_old_collection(RCGC_OLD_INCREMENTAL), 0);

    make_garbage_self_cycles(2);
    assert_true(start_and_step(4));
    rcgc_freeze();
    assert_false(rcgc_old_collection_running());
    rcgc_unfreeze();
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&model_list_class.released), 7);
}

struct pauses {
    long starts, stops, increments;
    uint64_t increment_sum, stop_pause, longest;
};

static void record_pauses(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg) {
    struct pauses *p = arg;
    if (info->generation != 2)
        return;
    if (phase == RCGC_GC_START)
        p->starts++;
    if (phase == RCGC_GC_STOP) {
        p->stops++;
        p->stop_pause = info->pause_ns;
    }
    if (phase == RCGC_GC_INCREMENT) {
        p->increments++;
        p->increment_sum += info->pause_ns;
        p->longest = info->pause_ns > p->longest ? info->pause_ns : p->longest;
    }
}

static void each_stop_is_reported_and_stats_take_the_longest(void **state) {
    (void)state;
    struct pauses seen = {0}, plain = {0};
    assert_int_equal(rcgc_callback_add_increments(record_pauses, &seen), 0);
    assert_int_equal(rcgc_callback_add(record_pauses, &plain), 0);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    make_garbage_self_cycles(3);
    assert_int_equal(rcgc_collect(2), 3);
    rcgc_get_stats(after);
    assert_int_equal(rcgc_callback_remove(record_pauses, &seen), 0);
    assert_int_equal(rcgc_callback_remove(record_pauses, &plain), 0);
    assert_int_equal(seen.starts, 1);
    assert_int_equal(seen.stops, 1);
    assert_true(seen.increments >= 10);
    assert_true(seen.increment_sum > 0);
    assert_int_equal(seen.stop_pause, seen.increment_sum);
    /* Registered without increments: start and stop only. */
    assert_int_equal(plain.starts, 1);
    assert_int_equal(plain.increments, 0);
    assert_int_equal(after[2].collections, before[2].collections + 1);
    assert_int_equal(after[2].collected, before[2].collected + 3);
    assert_int_equal(after[2].total_pause_ns - before[2].total_pause_ns, seen.increment_sum);
    assert_true(after[2].max_pause_ns >= seen.longest);
}

/* Automatic collections: when a full one is due, a generation-1 one runs
 * and a full one starts; each later young collection runs an increment,
 * and old garbage present at its start is freed by its end. */
static void automatic_collections_run_increments_after_young_ones(void **state) {
    (void)state;
    rcgc_set_increment_budget(1000000);
    rcgc_set_threshold(100, 2, 2);
    rcgc_object *old_garbage[50];
    for (int i = 0; i < 50; i++) {
        old_garbage[i] = instance_new();
        set_other(old_garbage[i], old_garbage[i]);
    }
    keep_new_instances(2000); /* past a quarter of what the last full one left */
    rcgc_collect(1);          /* all of it into generation 2 */
    for (int i = 0; i < 50; i++)
        rcgc_decref(old_garbage[i]);
    rcgc_enable();
    struct pauses seen = {0};
    assert_int_equal(rcgc_callback_add_increments(record_pauses, &seen), 0);
    /* Young cyclic garbage: it drives the young collections. */
    for (int i = 0; i < 100000 && seen.stops == 0; i++)
        rcgc_decref(new_self_cycle());
    assert_int_equal(rcgc_callback_remove(record_pauses, &seen), 0);
    assert_int_equal(seen.starts, 1);
    assert_int_equal(seen.stops, 1);
    assert_true(seen.increments >= 1);
    assert_int_equal(atomic_load(&instances_released), 50);
}

/* ------------------------------------------------------------ Environment */

static int print_old_settings(void) {
    rcgc_thread_attach();
    printf("mode %d budget %llu\n", rcgc_get_old_collection(),
           (unsigned long long)rcgc_get_increment_budget());
    return 0;
}

static void environment_chooses_the_mode_and_budget(void **state) {
    (void)state;
    struct child_result result;
    child_exec_self("--print-old-settings", "RCGC_GC_OLD=incremental", &result);
    assert_true(result.exited);
    assert_non_null(strstr(result.output, "mode 1 budget 1000000\n"));
    child_exec_self("--print-old-settings", "RCGC_GC_INCREMENT_US=250", &result);
    assert_non_null(strstr(result.output, "mode 0 budget 250000\n"));
    child_exec_self("--print-old-settings", "RCGC_GC_OLD=sometimes", &result);
    assert_non_null(strstr(result.output, "ignoring RCGC_GC_OLD=sometimes"));
    assert_non_null(strstr(result.output, "mode 0 "));
}

int main(int argc, char **argv) {
#define GC_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        GC_TEST(collect_step_needs_incremental_mode),
        GC_TEST(garbage_present_at_the_start_is_freed_by_the_end),
        GC_TEST(collect_2_runs_a_whole_collection_in_increments),
        GC_TEST(garbage_made_during_a_collection_is_found_by_the_next),
        GC_TEST(reference_moved_behind_the_marking_keeps_its_object),
        GC_TEST(untracking_a_candidate_keeps_what_it_references),
        GC_TEST(candidate_dying_between_increments_is_not_read),
        GC_TEST(weakref_get_during_a_collection_keeps_its_object),
        GC_TEST(resurrection_works_in_increments),
        GC_TEST(mode_change_and_freeze_abandon_without_losing_garbage),
        GC_TEST(each_stop_is_reported_and_stats_take_the_longest),
        GC_TEST(automatic_collections_run_increments_after_young_ones),
        GC_TEST(environment_chooses_the_mode_and_budget),
    };
#undef GC_TEST
    if (argc == 2 && strcmp(argv[1], "--print-old-settings") == 0)
        return print_old_settings();
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("gc_increments", tests, NULL, NULL);
}
