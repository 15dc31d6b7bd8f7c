/* tests/test_gc_collect.c - the cycle collector, tested through rcgc/gc.h
 * only: what gets collected and what survives, and finalizers. Tracking;
 * self-cycles; two lists holding each other with and without outside
 * references (a = []; b = []; a.append(b); b.append(a)); every counting
 * mode; generations; a ring of Graphs with a legacy finalizer in the
 * garbage list; PEP 442 finalizers (once each, before any clear, with
 * resurrection); SAVEALL; graphs of a million objects.
 *
 * Conventions (tests/support/gc_types.h): every test starts from a full
 * collection with an empty garbage list, and objects are counted dead by
 * their types' release hooks.
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

/* ---------------------------------------------------------------- Tracking */

static void gc_objects_are_tracked_from_creation(void **state) {
    (void)state;
    rcgc_object *list = list_new();
    rcgc_object *var = rcgc_new_var(&model_list_class.type, 256); /* a list with room to spare */
    assert_non_null(var);
    assert_true(rcgc_is_tracked(list));
    assert_true(rcgc_is_tracked(var));
    assert_true(in_generation(0, list));
    rcgc_decref(list);
    rcgc_decref(var);
    assert_int_equal(atomic_load(&model_list_class.released), 2);
}

static void leaf_objects_are_never_tracked(void **state) {
    (void)state;
    rcgc_object *leaf = str_new("x");
    assert_false(rcgc_is_tracked(leaf));
    assert_false(in_generation(-1, leaf));
    rcgc_decref(leaf);
}

static void untrack_and_track_are_idempotent(void **state) {
    (void)state;
    rcgc_object *list = list_new();
    rcgc_untrack(list);
    rcgc_untrack(list);
    assert_false(rcgc_is_tracked(list));
    assert_false(in_generation(-1, list));
    rcgc_track(list);
    rcgc_track(list);
    assert_true(rcgc_is_tracked(list));
    assert_true(in_generation(-1, list));
    rcgc_decref(list);
    assert_int_equal(atomic_load(&model_list_class.released), 1);
}

static void track_leaf_body(void *arg) { rcgc_track(arg); }

static void track_of_a_leaf_object_is_reported(void **state) {
    (void)state;
    rcgc_object *leaf = str_new("x");
    char expected[64];
    snprintf(expected, sizeof expected, "<str %p>", (void *)leaf);
    struct child_result result;
    child_run(track_leaf_body, leaf, &result);
    assert_true(child_aborted(&result));
    assert_non_null(strstr(result.output, "rcgc: "));
    assert_non_null(strstr(result.output, expected));
    assert_non_null(strstr(result.output, "rcgc_track"));
    assert_false(rcgc_is_tracked(leaf)); /* the parent's object is untouched */
    rcgc_decref(leaf);
}

/* A traverse hook that reports its second reference twice: trial deletion
 * then subtracts an outside reference away, and the collector would clear
 * an object in use. Checked builds stop with a report. */
struct liar {
    rcgc_object head;
    rcgc_object *self;
    rcgc_object *held;
};

static void liar_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct liar *liar = (struct liar *)self;
    if (liar->self != NULL)
        visit(liar->self, arg);
    if (liar->held != NULL) {
        visit(liar->held, arg);
        visit(liar->held, arg);
    }
}

static void liar_clear(rcgc_object *self) {
    struct liar *liar = (struct liar *)self;
    rcgc_object *cycle = liar->self, *held = liar->held;
    liar->self = NULL;
    liar->held = NULL;
    rcgc_xdecref(cycle);
    rcgc_xdecref(held);
}

static const rcgc_type liar_type = {.name = "liar",
                                    .size = sizeof(struct liar),
                                    .flags = RCGC_TYPE_GC,
                                    .traverse = liar_traverse,
                                    .clear = liar_clear};

static void collect_garbage_holding_an_object_in_use(void *arg) {
    rcgc_object *in_use = arg;
    struct liar *liar = (struct liar *)new_object(&liar_type);
    rcgc_incref(&liar->head);
    liar->self = &liar->head;
    rcgc_incref(in_use);
    liar->held = in_use;
    rcgc_decref(&liar->head); /* garbage now: only its self-cycle holds it */
    (void)rcgc_collect(2);
}

static void traverse_reporting_a_reference_twice_is_reported(void **state) {
    (void)state;
    if (RCGC_CHECKS < 2)
        skip(); /* release builds trust traverse hooks, as CPython's does */
    rcgc_object *in_use = new_object(&instance_type);
    char expected[64];
    snprintf(expected, sizeof expected, "<instance %p>", (void *)in_use);
    struct child_result result;
    child_run(collect_garbage_holding_an_object_in_use, in_use, &result);
    assert_true(child_aborted(&result));
    assert_non_null(strstr(result.output, "refcount is too small"));
    assert_non_null(strstr(result.output, expected));
    rcgc_decref(in_use);
}

/* ------------------------------------------------------------ Self-cycles */

/* Deferred objects die at syncs; a collection that finds them applies the
 * tables itself, so they are freed when rcgc_collect returns. */
static void deferred_cycle_is_freed_by_the_collection_that_finds_it(void **state) {
    (void)state;
    rcgc_object *list = new_self_cycle();
    rcgc_object *inner = list_new();
    assert_int_equal(rcgc_set_rc_mode(list, RCGC_RC_DEFERRED), 0);
    assert_int_equal(rcgc_set_rc_mode(inner, RCGC_RC_DEFERRED), 0);
    list_append(list, inner); /* a deferred object hanging off the cycle */
    rcgc_decref(inner);
    rcgc_decref(list);
    assert_int_equal(rcgc_collect(2), 2); /* both unreachable */
    assert_int_equal(atomic_load(&model_list_class.released), 2);
}

static void self_cycle_of_a_list_is_collected(void **state) {
    (void)state;
    rcgc_object *list = new_self_cycle();
    rcgc_decref(list);
    assert_int_equal(atomic_load(&model_list_class.released), 0); /* refcounting alone cannot */
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(atomic_load(&model_list_class.released), 1);
}

static void self_cycle_of_an_instance_is_collected(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&instance_type);
    set_other(obj, obj);
    rcgc_decref(obj);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(atomic_load(&instances_released), 1);
}

static void self_cycle_of_a_dict_is_collected(void **state) {
    (void)state;
    rcgc_object *d = model_dict_new(), *name = str_new("self");
    assert_non_null(d);
    assert_int_equal(model_dict_set(d, "name", name), 0);
    rcgc_decref(name);
    assert_int_equal(model_dict_set(d, "other", d), 0);
    rcgc_decref(d);
    assert_int_equal(rcgc_collect(2), 1); /* the str is not a container: not counted */
    assert_int_equal(atomic_load(&model_dict_class.released), 1);
    assert_int_equal(atomic_load(&model_str_class.released), 1);
}

static void collect_with_no_garbage_returns_0_and_frees_nothing(void **state) {
    (void)state;
    rcgc_object *list = new_self_cycle(); /* held by the host */
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&model_list_class.released), 0);
    assert_int_equal(rcgc_refcount(list), 2); /* the collector's work leaves counts as they were */
    assert_ptr_equal(model_list_get(list, 0), list);
    rcgc_decref(list);
    assert_int_equal(rcgc_collect(2), 1);
}

/* ------------------------------------------------------ Seed 001, A and B */

/* a = [1, 3]; b = [2, 4]; a.append(b); b.append(a) */
static void make_seed_001_lists(rcgc_object **a, rcgc_object **b) {
    *a = list_new();
    *b = list_new();
    const char *const values[4] = {"1", "3", "2", "4"};
    for (int i = 0; i < 4; i++) {
        rcgc_object *value = str_new(values[i]);
        list_append(i < 2 ? *a : *b, value);
        rcgc_decref(value);
    }
    list_append(*a, *b);
    list_append(*b, *a);
}

static void two_list_cycle_with_both_dropped_is_collected(void **state) {
    (void)state;
    rcgc_object *a, *b;
    make_seed_001_lists(&a, &b);
    rcgc_decref(a); /* del a */
    rcgc_decref(b); /* del b */
    assert_int_equal(atomic_load(&model_list_class.released), 0);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&model_list_class.released), 2);
    assert_int_equal(atomic_load(&model_str_class.released), 4);
}

static void dropping_only_a_keeps_both_alive(void **state) {
    (void)state;
    rcgc_object *a, *b;
    make_seed_001_lists(&a, &b);
    rcgc_decref(a); /* del a: b still holds a */
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&model_list_class.released), 0);
    assert_int_equal(atomic_load(&model_str_class.released), 0);
    assert_ptr_equal(model_list_get(b, 2), a);
    assert_ptr_equal(model_list_get(a, 2), b);
    assert_int_equal(rcgc_refcount(a), 1);
    assert_int_equal(rcgc_refcount(b), 2);
    rcgc_decref(b);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&model_list_class.released), 2);
    assert_int_equal(atomic_load(&model_str_class.released), 4);
}

static void cycle_reachable_from_a_live_object_survives(void **state) {
    (void)state;
    rcgc_object *holder = list_new();
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    set_other(a, b);
    set_other(b, a);
    list_append(holder, a);
    rcgc_decref(a);
    rcgc_decref(b);
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_ptr_equal(other_of(a), b);
    assert_ptr_equal(other_of(b), a);
    rcgc_decref(holder); /* dies by refcount; the cycle is garbage now */
    assert_int_equal(atomic_load(&model_list_class.released), 1);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&instances_released), 2);
}

static void cycle_through_an_untracked_object_is_not_collected(void **state) {
    (void)state;
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    set_other(a, b);
    set_other(b, a);
    rcgc_untrack(a); /* its reference to b now counts as from outside */
    rcgc_decref(a);
    rcgc_decref(b);
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_ptr_equal(other_of(b), a);
    rcgc_track(a); /* seen again, the cycle is garbage */
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&instances_released), 2);
}

/* ---------------------------------------------------------- Counting modes */

static void garbage_cycle_of_atomic_objects_is_collected(void **state) {
    (void)state;
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    assert_int_equal(rcgc_set_rc_mode(a, RCGC_RC_ATOMIC), 0);
    assert_int_equal(rcgc_set_rc_mode(b, RCGC_RC_ATOMIC), 0);
    set_other(a, b);
    set_other(b, a);
    rcgc_decref(a);
    rcgc_decref(b);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&instances_released), 2);
}

static void garbage_cycle_through_a_deferred_object_is_collected(void **state) {
    (void)state;
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    assert_int_equal(rcgc_set_rc_mode(a, RCGC_RC_DEFERRED), 0);
    set_other(a, b);
    set_other(b, a); /* a's increment waits in this thread's table */
    rcgc_decref(a);  /* and so does this decrement */
    rcgc_decref(b);
    /* A collection applies the tables first, so a's count is exact. */
    assert_int_equal(rcgc_collect(2), 2);
    rcgc_sync_deferred(); /* a deferred object dies at a sync */
    assert_int_equal(atomic_load(&instances_released), 2);
}

static void immortal_object_keeps_its_cycle_alive(void **state) {
    (void)state;
    rcgc_object *anchor = list_new();
    assert_int_equal(rcgc_set_rc_mode(anchor, RCGC_RC_IMMORTAL), 0);
    rcgc_object *a = new_object(&instance_type);
    list_append(anchor, a);
    set_other(a, anchor);
    rcgc_decref(a);
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_ptr_equal(other_of(a), anchor);
    rcgc_untrack(anchor); /* immortal: never freed; empty it so a dies */
    model_list_clear(anchor);
    assert_int_equal(atomic_load(&instances_released), 1);
    assert_int_equal(atomic_load(&model_list_class.released), 0);
}

/* ------------------------------------------------------------ Generations */

static void young_collection_keeps_objects_held_by_older_ones(void **state) {
    (void)state;
    rcgc_object *old = list_new();
    assert_int_equal(rcgc_collect(2), 0); /* old is in generation 2 now */
    rcgc_object *young = new_object(&instance_type);
    list_append(old, young);
    rcgc_decref(young);
    assert_int_equal(rcgc_collect(0), 0);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_ptr_equal(model_list_get(old, 0), young);
    rcgc_decref(old);
    assert_int_equal(atomic_load(&instances_released), 1);
}

static void young_collection_leaves_older_garbage_alone(void **state) {
    (void)state;
    rcgc_object *cycle = new_self_cycle();
    assert_int_equal(rcgc_collect(0), 0); /* survives into generation 1 */
    rcgc_decref(cycle);
    assert_int_equal(rcgc_collect(0), 0);
    assert_int_equal(atomic_load(&model_list_class.released), 0);
    assert_int_equal(rcgc_collect(1), 1);
    assert_int_equal(atomic_load(&model_list_class.released), 1);
}

static void cycle_spanning_two_generations_needs_the_older_one_collected(void **state) {
    (void)state;
    rcgc_object *older = new_object(&instance_type);
    assert_int_equal(rcgc_collect(0), 0); /* older: generation 1 */
    rcgc_object *younger = new_object(&instance_type);
    set_other(older, younger);
    set_other(younger, older);
    rcgc_decref(older);
    rcgc_decref(younger);
    assert_int_equal(rcgc_collect(0), 0); /* older's reference is from outside gen 0 */
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_int_equal(rcgc_collect(1), 2);
    assert_int_equal(atomic_load(&instances_released), 2);
}

/* ------------------------------------------------------ Legacy finalizers */

static void graph_ring_with_legacy_finalizers_goes_to_garbage(void **state) {
    (void)state;
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    /* Six unreachable containers; only the Graphs are listed (CPython 3). */
    assert_int_equal(rcgc_collect(2), 6);
    assert_int_equal(rcgc_garbage_count(), 3);
    for (size_t i = 0; i < 3; i++) {
        rcgc_object *entry = rcgc_garbage_get(i);
        assert_non_null(entry);
        assert_ptr_equal(rcgc_type_of(entry), &model_graph_class.type);
        rcgc_decref(entry);
    }
    assert_int_equal(atomic_load(&model_graph_class.released), 0);
    assert_int_equal(atomic_load(&model_dict_class.released), 0);
    assert_int_equal(atomic_load(&model_str_class.released), 0);
    assert_int_equal(atomic_load(&graphs_finalized), 0);
    for (int i = 0; i < 3; i++) { /* not cleared: the ring is whole */
        assert_ptr_equal(model_instance_dict(graphs[i]), dicts[i]);
        assert_ptr_equal(model_dict_get(dicts[i], "other"), graphs[(i + 1) % 3]);
    }
    break_graph_ring_from_the_garbage_list();
    assert_int_equal(rcgc_garbage_clear(), 3);
    assert_int_equal(rcgc_garbage_count(), 0);
    rcgc_collect(2);
    assert_int_equal(atomic_load(&model_graph_class.released), 3);
    assert_int_equal(atomic_load(&model_dict_class.released), 3);
    assert_int_equal(atomic_load(&model_str_class.released), 3);
}

static void uncollectable_ring_is_listed_once(void **state) {
    (void)state;
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    assert_int_equal(rcgc_collect(2), 6);
    assert_int_equal(rcgc_collect(2), 0); /* the garbage list's references hold it */
    assert_int_equal(rcgc_garbage_count(), 3);
    break_graph_ring_from_the_garbage_list();
    rcgc_garbage_clear();
    rcgc_collect(2);
    assert_int_equal(atomic_load(&model_graph_class.released), 3);
}

static void garbage_get_returns_a_new_reference_and_erange_past_the_end(void **state) {
    (void)state;
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    assert_int_equal(rcgc_collect(2), 6);
    rcgc_object *entry = rcgc_garbage_get(0);
    assert_non_null(entry);
    size_t with_ours = rcgc_refcount(entry);
    rcgc_decref(entry);
    assert_int_equal(rcgc_refcount(entry), with_ours - 1);
    errno = 0;
    assert_null(rcgc_garbage_get(3));
    assert_int_equal(errno, ERANGE);
    break_graph_ring_from_the_garbage_list();
    rcgc_garbage_clear();
    rcgc_collect(2);
    assert_int_equal(atomic_load(&model_graph_class.released), 3);
}

static void uncollectable_objects_are_counted_in_stats_and_callbacks(void **state) {
    (void)state;
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    assert_int_equal(rcgc_callback_add(record_callback, &recorded), 0);
    assert_int_equal(rcgc_collect(2), 6);
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), 0);
    rcgc_get_stats(after);
    /* Uncollectable: the Graphs and everything reachable from them. */
    assert_int_equal(after[2].uncollectable, before[2].uncollectable + 6);
    assert_int_equal(after[2].collected, before[2].collected);
    assert_int_equal(recorded.count, 2);
    assert_int_equal(recorded.events[1].phase, RCGC_GC_STOP);
    assert_int_equal(recorded.events[1].info.uncollectable, 6);
    assert_int_equal(recorded.events[1].info.collected, 0);
    break_graph_ring_from_the_garbage_list();
    rcgc_garbage_clear();
    rcgc_collect(2);
    assert_int_equal(atomic_load(&model_graph_class.released), 3);
}

/* ---------------------------------------------------------------- PEP 442 */

static rcgc_object *make_phoenix_pair(void) {
    rcgc_object *a = new_object(&phoenix_type), *b = new_object(&phoenix_type);
    set_other(a, b);
    set_other(b, a);
    rcgc_decref(b);
    return a; /* the host's reference to a */
}

static void finalizers_run_once_each_before_any_clear(void **state) {
    (void)state;
    rcgc_object *a = make_phoenix_pair();
    assert_false(rcgc_is_finalized(a));
    rcgc_decref(a);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&phoenixes_finalized), 2);
    assert_int_equal(atomic_load(&other_seen_inside), 2); /* nothing cleared yet */
    assert_int_equal(atomic_load(&finalized_flag_seen_inside), 2);
    assert_int_equal(atomic_load(&phoenixes_released), 2);
}

static void resurrected_cycle_survives_intact(void **state) {
    (void)state;
    rcgc_object *a = make_phoenix_pair();
    rcgc_object *b = other_of(a);
    rcgc_decref(a);
    phoenix_resurrects = true;
    rcgc_collect(2);
    phoenix_resurrects = false;
    assert_int_equal(atomic_load(&phoenixes_finalized), 2);
    assert_int_equal(atomic_load(&phoenixes_released), 0);
    assert_true(resurrected == a || resurrected == b);
    assert_ptr_equal(other_of(a), b); /* not cleared */
    assert_ptr_equal(other_of(b), a);
    assert_true(rcgc_is_finalized(a));
    assert_true(rcgc_is_finalized(b));
    assert_true(rcgc_is_tracked(a));
    assert_int_equal(rcgc_collect(2), 0); /* alive now: held by `resurrected` */
    assert_int_equal(atomic_load(&phoenixes_released), 0);
}

static void resurrected_object_is_collected_later_without_a_second_finalize(void **state) {
    (void)state;
    rcgc_object *a = make_phoenix_pair();
    rcgc_decref(a);
    phoenix_resurrects = true;
    rcgc_collect(2);
    phoenix_resurrects = false;
    assert_non_null(resurrected);
    rcgc_object *saved = resurrected;
    resurrected = NULL;
    rcgc_decref(saved); /* garbage again */
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&phoenixes_finalized), 2);
    assert_int_equal(atomic_load(&phoenixes_released), 2);
}

static void refcount_death_of_a_tracked_finalizable_object_finalizes_once(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&phoenix_type);
    rcgc_decref(obj);
    assert_int_equal(atomic_load(&phoenixes_finalized), 1);
    assert_int_equal(atomic_load(&phoenixes_released), 1);
}

static void collect_from_a_finalizer_returns_0(void **state) {
    (void)state;
    rcgc_object *a = make_phoenix_pair();
    rcgc_decref(a);
    phoenix_collects = true;
    assert_int_equal(rcgc_collect(2), 2);
    phoenix_collects = false;
    assert_int_equal(collect_from_finalizer, 0);
    assert_int_equal(atomic_load(&phoenixes_released), 2);
}

static void finalizer_may_make_new_garbage_for_a_later_collection(void **state) {
    (void)state;
    rcgc_object *a = make_phoenix_pair();
    rcgc_decref(a);
    phoenix_makes_garbage = true;
    assert_int_equal(rcgc_collect(2), 2);
    phoenix_makes_garbage = false;
    assert_int_equal(atomic_load(&phoenixes_released), 2);
    assert_int_equal(atomic_load(&model_list_class.released), 0);
    assert_int_equal(rcgc_collect(2), 2); /* one list per finalizer */
    assert_int_equal(atomic_load(&model_list_class.released), 2);
}

/* ---------------------------------------------------------------- SAVEALL */

static void saveall_keeps_every_garbage_object_in_the_garbage_list(void **state) {
    (void)state;
    rcgc_set_debug(RCGC_DEBUG_SAVEALL);
    rcgc_object *x = new_self_cycle(), *y = new_self_cycle();
    rcgc_decref(x);
    rcgc_decref(y);
    ptrdiff_t found = rcgc_collect(2);
    assert_int_equal(found, 2);
    assert_int_equal(rcgc_garbage_count(), (size_t)found);
    assert_int_equal(atomic_load(&model_list_class.released), 0);
    bool seen_x = false, seen_y = false;
    for (size_t i = 0; i < 2; i++) {
        rcgc_object *entry = rcgc_garbage_get(i);
        seen_x |= entry == x;
        seen_y |= entry == y;
        rcgc_decref(entry);
    }
    assert_true(seen_x && seen_y);
    assert_ptr_equal(model_list_get(x, 0), x); /* not cleared */
    rcgc_set_debug(0);
    assert_int_equal(rcgc_garbage_clear(), 2);
    assert_int_equal(atomic_load(&model_list_class.released), 0); /* still cycles */
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&model_list_class.released), 2);
}

static void debug_leak_lists_graphs_and_their_dicts_as_in_seed_001(void **state) {
    (void)state;
    assert_int_equal(RCGC_DEBUG_LEAK, 38);
    assert_int_equal(RCGC_DEBUG_LEAK,
                     RCGC_DEBUG_COLLECTABLE | RCGC_DEBUG_UNCOLLECTABLE | RCGC_DEBUG_SAVEALL);
    rcgc_set_debug(RCGC_DEBUG_LEAK);
    assert_int_equal(rcgc_get_debug(), RCGC_DEBUG_LEAK);
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    struct output out;
    output_begin(&out);
    assert_int_equal(rcgc_collect(2), 6);
    output_end(&out);
    rcgc_set_debug(0);
    assert_int_equal(rcgc_garbage_count(), 6);
    void *found[8];
    size_t n_graphs = lines_naming(out.text, "uncollectable", "Graph", found, 8);
    assert_int_equal(n_graphs, 3);
    for (int i = 0; i < 3; i++)
        assert_true(pointer_listed(found, n_graphs, graphs[i]));
    size_t n_dicts = lines_naming(out.text, "uncollectable", "dict", found, 8);
    assert_int_equal(n_dicts, 3);
    for (int i = 0; i < 3; i++)
        assert_true(pointer_listed(found, n_dicts, dicts[i]));
    free(out.text);
    break_graph_ring_from_the_garbage_list();
    assert_int_equal(rcgc_garbage_clear(), 6);
    rcgc_collect(2);
    assert_int_equal(atomic_load(&model_graph_class.released), 3);
    assert_int_equal(atomic_load(&model_dict_class.released), 3);
}

/* ---------------------------------------------------------- Large graphs */

enum { MILLION = 1000000 };

/* A chain of @length instances, each holding the next; returns the head
 * with the host's one reference. */
static rcgc_object *make_chain(long length) {
    rcgc_object *head = new_object(&instance_type), *tail = head;
    for (long i = 1; i < length; i++) {
        rcgc_object *next = new_object(&instance_type);
        ((struct instance *)tail)->other = next; /* the new reference moves in */
        tail = next;
    }
    return head;
}

static rcgc_object *chain_tail(rcgc_object *head) {
    while (other_of(head) != NULL)
        head = other_of(head);
    return head;
}

static void ring_of_a_million_is_collected(void **state) {
    (void)state;
    rcgc_disable(); /* build it without collections along the way */
    rcgc_object *head = make_chain(MILLION);
    set_other(chain_tail(head), head);
    rcgc_enable();
    rcgc_decref(head);
    assert_int_equal(rcgc_collect(2), MILLION);
    assert_int_equal(atomic_load(&instances_released), MILLION);
}

static void chain_of_a_million_off_a_cycle_is_collected(void **state) {
    (void)state;
    rcgc_disable();
    rcgc_object *cycle = new_self_cycle();
    rcgc_object *chain = make_chain(MILLION);
    list_append(cycle, chain);
    rcgc_decref(chain);
    rcgc_enable();
    rcgc_decref(cycle);
    assert_int_equal(rcgc_collect(2), MILLION + 1);
    assert_int_equal(atomic_load(&model_list_class.released), 1);
    assert_int_equal(atomic_load(&instances_released), MILLION);
}

static void live_chain_of_a_million_survives_a_full_collection(void **state) {
    (void)state;
    rcgc_disable();
    rcgc_object *head = make_chain(MILLION);
    rcgc_enable();
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_int_equal(rcgc_collect(2), 0); /* and again, all of it in generation 2 */
    rcgc_decref(head);
    assert_int_equal(atomic_load(&instances_released), MILLION);
}

int main(int argc, char **argv) {
#define GC_TEST(name)                                                                              \
    cmocka_unit_test_setup_teardown(name, start_from_a_full_collection, restore_defaults)
    const struct CMUnitTest tests[] = {
        GC_TEST(gc_objects_are_tracked_from_creation),
        GC_TEST(leaf_objects_are_never_tracked),
        GC_TEST(traverse_reporting_a_reference_twice_is_reported),
        GC_TEST(untrack_and_track_are_idempotent),
        GC_TEST(track_of_a_leaf_object_is_reported),
        GC_TEST(self_cycle_of_a_list_is_collected),
        GC_TEST(deferred_cycle_is_freed_by_the_collection_that_finds_it),
        GC_TEST(self_cycle_of_an_instance_is_collected),
        GC_TEST(self_cycle_of_a_dict_is_collected),
        GC_TEST(collect_with_no_garbage_returns_0_and_frees_nothing),
        GC_TEST(two_list_cycle_with_both_dropped_is_collected),
        GC_TEST(dropping_only_a_keeps_both_alive),
        GC_TEST(cycle_reachable_from_a_live_object_survives),
        GC_TEST(cycle_through_an_untracked_object_is_not_collected),
        GC_TEST(garbage_cycle_of_atomic_objects_is_collected),
        GC_TEST(garbage_cycle_through_a_deferred_object_is_collected),
        GC_TEST(immortal_object_keeps_its_cycle_alive),
        GC_TEST(young_collection_keeps_objects_held_by_older_ones),
        GC_TEST(young_collection_leaves_older_garbage_alone),
        GC_TEST(cycle_spanning_two_generations_needs_the_older_one_collected),
        GC_TEST(graph_ring_with_legacy_finalizers_goes_to_garbage),
        GC_TEST(uncollectable_ring_is_listed_once),
        GC_TEST(garbage_get_returns_a_new_reference_and_erange_past_the_end),
        GC_TEST(uncollectable_objects_are_counted_in_stats_and_callbacks),
        GC_TEST(finalizers_run_once_each_before_any_clear),
        GC_TEST(resurrected_cycle_survives_intact),
        GC_TEST(resurrected_object_is_collected_later_without_a_second_finalize),
        GC_TEST(refcount_death_of_a_tracked_finalizable_object_finalizes_once),
        GC_TEST(collect_from_a_finalizer_returns_0),
        GC_TEST(finalizer_may_make_new_garbage_for_a_later_collection),
        GC_TEST(saveall_keeps_every_garbage_object_in_the_garbage_list),
        GC_TEST(debug_leak_lists_graphs_and_their_dicts_as_in_seed_001),
        GC_TEST(ring_of_a_million_is_collected),
        GC_TEST(chain_of_a_million_off_a_cycle_is_collected),
        GC_TEST(live_chain_of_a_million_survives_a_full_collection),
    };
#undef GC_TEST
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("gc_collect", tests, NULL, NULL);
}
