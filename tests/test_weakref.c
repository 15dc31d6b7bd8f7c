/* tests/test_weakref.c - weak references and finalizers (rcgc/weakref.h),
 * with the behaviours of CPython's test_weakref and test_finalization:
 * get before and after death in every counting mode, callbacks once each,
 * newest first and after the clearing, no callback for a weak reference
 * that died first or is garbage itself, cycles, resurrection by a
 * finalizer (by count: the weak reference survives; in a collection: it
 * was cleared first), weak references a finalizer makes to garbage
 * (gh-91636), callbacks outside the collector's lock, weakref.finalize.
 *
 * Conventions as in test_gc_collect.c (tests/support/gc_types.h): every
 * test starts from a full collection, and objects are counted dead by
 * their types' release hooks.
 */
#include "support/capture.h"
#include "support/gc_types.h"

#include <rcgc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ------------------------------------------------------------- Callbacks */

/* What callbacks saw, in the order they ran. */
enum { CALLS_MAX = 16 };

static struct {
    rcgc_object *ref[CALLS_MAX];
    void *arg[CALLS_MAX];
    bool target_gone[CALLS_MAX]; /* rcgc_weakref_get returned NULL inside */
    int count;
    uint64_t collections_inside; /* collections run by a callback's rcgc_collect */
} calls;

static void record_call(rcgc_object *ref, void *arg) {
    int i = calls.count++;
    assert_true(i < CALLS_MAX);
    calls.ref[i] = ref;
    calls.arg[i] = arg;
    rcgc_object *target = rcgc_weakref_get(ref);
    calls.target_gone[i] = target == NULL;
    rcgc_xdecref(target);
}

static uint64_t collections_so_far(void) {
    rcgc_gc_stats stats[RCGC_GENERATIONS];
    rcgc_get_stats(stats);
    return stats[0].collections + stats[1].collections + stats[2].collections;
}

/* A callback that collects: it must not run under the collector's lock,
 * where rcgc_collect would return 0 at once without collecting. */
static void collect_inside(rcgc_object *ref, void *arg) {
    record_call(ref, arg);
    uint64_t before = collections_so_far();
    assert_true(rcgc_collect(0) >= 0);
    calls.collections_inside += collections_so_far() - before;
}

static int setup(void **state) {
    calls.count = 0;
    calls.collections_inside = 0;
    return start_from_a_full_collection(state);
}

/* ------------------------------------------------------------ Basic rules */

static void get_returns_the_target_until_it_dies(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&instance_type);
    rcgc_object *ref = rcgc_weakref_new(obj, NULL, NULL);
    assert_non_null(ref);
    assert_true(rcgc_is_weakref(ref));
    assert_false(rcgc_is_weakref(obj));
    rcgc_object *got = rcgc_weakref_get(ref);
    assert_ptr_equal(got, obj);
    assert_int_equal(rcgc_refcount(obj), 2); /* the get's reference is a real one */
    rcgc_decref(got);
    assert_int_equal(rcgc_refcount(obj), 1); /* the weak reference adds none */
    rcgc_decref(obj);
    assert_int_equal(atomic_load(&instances_released), 1);
    assert_null(rcgc_weakref_get(ref));
    assert_null(rcgc_weakref_get(ref)); /* and for ever */
    rcgc_decref(ref);
}

static void callback_less_weak_references_are_shared(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&instance_type);
    rcgc_object *a = rcgc_weakref_new(obj, NULL, NULL);
    rcgc_object *b = rcgc_weakref_new(obj, NULL, NULL);
    rcgc_object *c = rcgc_weakref_new(obj, record_call, NULL);
    assert_ptr_equal(a, b); /* weakref.ref(o) is weakref.ref(o) */
    assert_ptr_not_equal(a, c);
    assert_int_equal(rcgc_weakref_count(obj), 2);
    rcgc_decref(a);
    rcgc_decref(b);
    assert_int_equal(rcgc_weakref_count(obj), 1); /* a dead weak reference leaves the list */
    rcgc_decref(c);
    assert_int_equal(rcgc_weakref_count(obj), 0);
    rcgc_decref(obj);
    assert_int_equal(calls.count, 0); /* c died first: no callback */
}

static void callbacks_run_once_newest_first_after_the_clearing(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&instance_type);
    rcgc_object *refs[3];
    for (int i = 0; i < 3; i++)
        refs[i] = rcgc_weakref_new(obj, record_call, (void *)(intptr_t)(i + 1));
    rcgc_decref(obj);
    assert_int_equal(calls.count, 3); /* before rcgc_decref returned */
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(calls.ref[i], refs[2 - i]);
        assert_ptr_equal(calls.arg[i], (void *)(intptr_t)(3 - i));
        assert_true(calls.target_gone[i]);
    }
    for (int i = 0; i < 3; i++)
        rcgc_decref(refs[i]);
    assert_int_equal(calls.count, 3);
}

static void counts_follow_creation_and_death(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&instance_type);
    assert_int_equal(rcgc_weakref_count(obj), 0);
    rcgc_object *refs[5];
    for (int i = 0; i < 5; i++)
        refs[i] = rcgc_weakref_new(obj, record_call, NULL);
    assert_int_equal(rcgc_weakref_count(obj), 5);
    rcgc_decref(refs[2]);
    rcgc_decref(refs[0]);
    assert_int_equal(rcgc_weakref_count(obj), 3);
    rcgc_decref(obj);
    assert_int_equal(calls.count, 3);
    for (int i = 1; i < 5; i += i == 1 ? 2 : 1)
        rcgc_decref(refs[i]);
}

/* ------------------------------------------------------- Counting modes */

static void get_follows_every_counting_mode(void **state) {
    (void)state;
    const int modes[] = {RCGC_RC_BIASED, RCGC_RC_ATOMIC, RCGC_RC_DEFERRED};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        calls.count = 0;
        rcgc_object *obj = new_object(&instance_type);
        assert_int_equal(rcgc_set_rc_mode(obj, modes[m]), 0);
        rcgc_object *ref = rcgc_weakref_new(obj, record_call, NULL);
        rcgc_object *got = rcgc_weakref_get(ref);
        assert_ptr_equal(got, obj);
        rcgc_decref(got);
        rcgc_decref(obj);
        if (modes[m] == RCGC_RC_DEFERRED) {
            /* Released only by a sync, which clears the weak reference
             * with the world stopped and runs the callback after. */
            assert_int_equal(atomic_load(&instances_released), (long)m);
            (void)rcgc_sync_deferred();
        }
        assert_int_equal(atomic_load(&instances_released), (long)m + 1);
        assert_null(rcgc_weakref_get(ref));
        assert_int_equal(calls.count, 1);
        assert_true(calls.target_gone[0]);
        rcgc_decref(ref);
    }
}

static void immortal_targets_never_die(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&instance_type);
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_IMMORTAL), 0);
    rcgc_object *ref = rcgc_weakref_new(obj, record_call, NULL);
    rcgc_decref(obj);
    rcgc_object *got = rcgc_weakref_get(ref);
    assert_ptr_equal(got, obj);
    rcgc_decref(got);
    assert_int_equal(calls.count, 0);
    rcgc_decref(ref);
}

/* The target's owner is another thread, which drops the last reference. */
static rcgc_object *_Atomic handed_over;

static void *make_and_hand_over(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    atomic_store(&handed_over, rcgc_new(&instance_type));
    while (atomic_load(&handed_over) != NULL)
        rcgc_safepoint();
    rcgc_thread_detach();
    return NULL;
}

static void get_on_another_thread_than_the_owner(void **state) {
    (void)state;
    atomic_store(&handed_over, NULL);
    pthread_t owner;
    pthread_create(&owner, NULL, make_and_hand_over, NULL);
    rcgc_object *obj;
    while ((obj = atomic_load(&handed_over)) == NULL)
        rcgc_safepoint();
    rcgc_object *ref = rcgc_weakref_new(obj, record_call, NULL);
    rcgc_object *got = rcgc_weakref_get(ref);
    assert_ptr_equal(got, obj);
    assert_int_equal(rcgc_refcount(obj), 2);
    rcgc_decref(got);
    rcgc_decref(obj); /* the owner's reference, dropped here */
    atomic_store(&handed_over, NULL);
    pthread_join(owner, NULL);
    assert_int_equal(atomic_load(&instances_released), 1);
    assert_null(rcgc_weakref_get(ref));
    assert_int_equal(calls.count, 1);
    rcgc_decref(ref);
}

/* The owner's get reads through its own weak reference without the lock
 * bit (W4) only while it still owns the object: once its count is merged
 * away, another thread may free the object, and the owner's get must see
 * that. */
static rcgc_object *_Atomic shared_with_helper;
static _Atomic int helper_step; /* 1: the helper holds a reference; 2: drop it */

static void *hold_then_drop(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    rcgc_object *obj = atomic_load(&shared_with_helper);
    rcgc_incref(obj); /* counted in the shared count: not the owner's */
    atomic_store(&helper_step, 1);
    while (atomic_load(&helper_step) != 2)
        rcgc_safepoint();
    rcgc_decref(obj); /* the last reference */
    rcgc_thread_detach();
    return NULL;
}

static void the_owners_get_stops_when_the_object_leaves_its_owner(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&instance_type);
    rcgc_object *ref = rcgc_weakref_new(obj, record_call, NULL);
    rcgc_object *got = rcgc_weakref_get(ref); /* the owner's own path */
    assert_ptr_equal(got, obj);
    assert_int_equal(rcgc_refcount(obj), 2);
    rcgc_decref(got);
    atomic_store(&shared_with_helper, obj);
    atomic_store(&helper_step, 0);
    pthread_t helper;
    pthread_create(&helper, NULL, hold_then_drop, NULL);
    while (atomic_load(&helper_step) != 1)
        rcgc_safepoint();
    rcgc_decref(obj); /* the owner lets go: its count merges, the object lives on */
    got = rcgc_weakref_get(ref);
    assert_ptr_equal(got, obj);
    rcgc_decref(got);
    atomic_store(&helper_step, 2);
    rcgc_blocking_begin();
    pthread_join(helper, NULL);
    rcgc_blocking_end();
    assert_int_equal(atomic_load(&instances_released), 1); /* freed by the helper */
    assert_null(rcgc_weakref_get(ref));                    /* and never read again */
    assert_int_equal(calls.count, 1);
    rcgc_decref(ref);
}

/* ------------------------------------------------------------ Collections */

static void a_collected_cycle_clears_its_weak_references(void **state) {
    (void)state;
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    set_other(a, b);
    set_other(b, a);
    rcgc_object *ref = rcgc_weakref_new(a, collect_inside, NULL);
    rcgc_object *plain = rcgc_weakref_new(b, NULL, NULL);
    rcgc_decref(a);
    rcgc_decref(b);
    assert_ptr_equal(rcgc_weakref_get(plain), b); /* a cycle lives until collected */
    rcgc_decref(b);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&instances_released), 2);
    assert_int_equal(calls.count, 1); /* before rcgc_collect returned */
    assert_true(calls.target_gone[0]);
    assert_true(calls.collections_inside >= 1); /* not under the collector's lock */
    assert_null(rcgc_weakref_get(ref));
    assert_null(rcgc_weakref_get(plain));
    rcgc_decref(ref);
    rcgc_decref(plain);
}

/* CPython's test_callback_in_cycle: a weak reference that is garbage
 * itself gets no callback (its callback could see the other garbage). */
static void a_weak_reference_in_the_garbage_gets_no_callback(void **state) {
    (void)state;
    rcgc_object *list = list_new(), *b = new_object(&instance_type);
    set_other(b, list); /* list -> b -> list */
    list_append(list, b);
    rcgc_object *ref = rcgc_weakref_new(b, record_call, NULL);
    list_append(list, ref); /* the weak reference is reachable only from the cycle */
    rcgc_decref(ref);
    rcgc_decref(list);
    rcgc_object *outside = rcgc_weakref_new(b, record_call, (void *)1);
    rcgc_decref(b);
    assert_int_equal(rcgc_collect(2), 3); /* the list, b, and the weak reference */
    assert_int_equal(atomic_load(&instances_released), 1);
    assert_int_equal(calls.count, 1); /* only the one outside the garbage */
    assert_ptr_equal(calls.arg[0], (void *)1);
    rcgc_decref(outside);
}

/* test_finalization's resurrection by count: the object lives on, and so
 * do its weak references. */
static void a_finalizer_resurrecting_by_count_keeps_weak_references(void **state) {
    (void)state;
    phoenix_resurrects = true;
    rcgc_object *obj = new_object(&phoenix_type);
    rcgc_object *ref = rcgc_weakref_new(obj, record_call, NULL);
    rcgc_decref(obj);
    assert_int_equal(atomic_load(&phoenixes_finalized), 1);
    assert_ptr_equal(resurrected, obj);
    rcgc_object *got = rcgc_weakref_get(ref);
    assert_ptr_equal(got, obj);
    rcgc_decref(got);
    assert_int_equal(calls.count, 0);
    rcgc_object *again = resurrected;
    resurrected = NULL;
    rcgc_decref(again); /* finalized already: now it dies */
    assert_int_equal(atomic_load(&phoenixes_finalized), 1);
    assert_int_equal(atomic_load(&phoenixes_released), 1);
    assert_null(rcgc_weakref_get(ref));
    assert_int_equal(calls.count, 1);
    rcgc_decref(ref);
}

/* test_finalization's resurrection in a cycle: weak references were
 * cleared before the finalizer ran ("wr() is None"). */
static void a_finalizer_resurrecting_a_cycle_finds_weak_references_cleared(void **state) {
    (void)state;
    phoenix_resurrects = true;
    rcgc_object *obj = new_object(&phoenix_type);
    set_other(obj, obj);
    rcgc_object *ref = rcgc_weakref_new(obj, record_call, NULL);
    rcgc_decref(obj);
    rcgc_collect(2);
    assert_int_equal(atomic_load(&phoenixes_finalized), 1);
    assert_ptr_equal(resurrected, obj);
    assert_int_equal(atomic_load(&phoenixes_released), 0);
    assert_null(rcgc_weakref_get(ref));
    assert_int_equal(calls.count, 1);
    rcgc_object *again = resurrected;
    resurrected = NULL;
    rcgc_decref(again);
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(atomic_load(&phoenixes_released), 1);
    assert_int_equal(calls.count, 1);
    rcgc_decref(ref);
}

/* gh-91636: a finalizer that makes a weak reference to an object of its
 * own garbage must not hand that object out once its clear hook ran. */
static rcgc_object *made_by_finalizer;

static void make_weakref_to_other(rcgc_object *self) {
    rcgc_object *other = ((struct instance *)self)->other;
    if (other != NULL && made_by_finalizer == NULL)
        made_by_finalizer = rcgc_weakref_new(other, record_call, NULL);
}

static void visit_other(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    rcgc_object *other = ((struct instance *)self)->other;
    if (other != NULL)
        visit(other, arg);
}

static void clear_other(rcgc_object *self) {
    rcgc_object *other = ((struct instance *)self)->other;
    ((struct instance *)self)->other = NULL;
    rcgc_xdecref(other);
}

static const rcgc_type weakref_maker_type = {.name = "weakref maker",
                                             .size = sizeof(struct instance),
                                             .flags = RCGC_TYPE_GC,
                                             .traverse = visit_other,
                                             .clear = clear_other,
                                             .finalize = make_weakref_to_other};

static void weak_references_a_finalizer_makes_to_garbage_are_cleared(void **state) {
    (void)state;
    made_by_finalizer = NULL;
    rcgc_object *a = new_object(&weakref_maker_type), *b = new_object(&instance_type);
    set_other(b, a);
    ((struct instance *)a)->other = b; /* a's reference to b */
    rcgc_decref(a);
    assert_int_equal(rcgc_collect(2), 2);
    assert_non_null(made_by_finalizer);
    assert_null(rcgc_weakref_get(made_by_finalizer));
    assert_int_equal(atomic_load(&instances_released), 1);
    assert_int_equal(calls.count, 1);
    rcgc_decref(made_by_finalizer);
}

/* --------------------------------------------------------------- finalize */

static _Atomic int finalizer_runs;

static void count_run(void *arg) {
    assert_ptr_equal(arg, &finalizer_runs);
    atomic_fetch_add(&finalizer_runs, 1);
}

static void a_finalizer_runs_once_when_its_target_dies(void **state) {
    (void)state;
    atomic_store(&finalizer_runs, 0);
    rcgc_object *obj = new_object(&instance_type);
    rcgc_object *fin = rcgc_finalizer_new(obj, count_run, &finalizer_runs);
    assert_non_null(fin);
    assert_true(rcgc_finalizer_alive(fin));
    rcgc_decref(fin); /* kept alive by itself until it runs */
    rcgc_decref(obj);
    assert_int_equal(atomic_load(&finalizer_runs), 1);
}

static void a_finalizer_called_early_runs_once(void **state) {
    (void)state;
    atomic_store(&finalizer_runs, 0);
    rcgc_object *obj = new_object(&instance_type);
    rcgc_object *fin = rcgc_finalizer_new(obj, count_run, &finalizer_runs);
    assert_true(rcgc_finalizer_call(fin));
    assert_false(rcgc_finalizer_call(fin));
    assert_false(rcgc_finalizer_alive(fin));
    assert_int_equal(rcgc_weakref_count(obj), 0);
    rcgc_decref(obj);
    assert_int_equal(atomic_load(&finalizer_runs), 1);
    rcgc_decref(fin);
}

static void a_detached_finalizer_never_runs(void **state) {
    (void)state;
    atomic_store(&finalizer_runs, 0);
    rcgc_object *obj = new_object(&instance_type);
    set_other(obj, obj); /* dies in a collection */
    rcgc_object *fin = rcgc_finalizer_new(obj, count_run, &finalizer_runs);
    assert_true(rcgc_finalizer_detach(fin));
    assert_false(rcgc_finalizer_detach(fin));
    rcgc_decref(obj);
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(atomic_load(&finalizer_runs), 0);
    rcgc_decref(fin);
}

static void a_finalizer_runs_when_a_collection_frees_its_target(void **state) {
    (void)state;
    atomic_store(&finalizer_runs, 0);
    rcgc_object *obj = new_object(&instance_type);
    set_other(obj, obj);
    rcgc_object *fin = rcgc_finalizer_new(obj, count_run, &finalizer_runs);
    rcgc_decref(fin);
    rcgc_decref(obj);
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(atomic_load(&finalizer_runs), 1);
}

/* ----------------------------------------------------------------- Misuse */

static void get_through_an_object_that_is_not_a_weak_reference_is_reported(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&instance_type);
    struct fatal_capture capture;
    rcgc_object *volatile got = NULL;
    RUN_CAPTURING_FATAL(&capture, got = rcgc_weakref_get(obj));
    assert_null(got); /* reported before anything was taken */
    char expected[64];
    snprintf(expected, sizeof expected, "<instance %p>", (void *)obj);
    assert_true(capture.fired);
    assert_non_null(strstr(capture.message, "not a weak reference"));
    assert_non_null(strstr(capture.message, expected));
    assert_non_null(strstr(capture.message, "rcgc_weakref_get"));
    rcgc_decref(obj);
}

int main(void) {
#define WEAK_TEST(name) cmocka_unit_test_setup_teardown(name, setup, restore_defaults)
    const struct CMUnitTest tests[] = {
        WEAK_TEST(get_returns_the_target_until_it_dies),
        WEAK_TEST(callback_less_weak_references_are_shared),
        WEAK_TEST(callbacks_run_once_newest_first_after_the_clearing),
        WEAK_TEST(counts_follow_creation_and_death),
        WEAK_TEST(get_follows_every_counting_mode),
        WEAK_TEST(immortal_targets_never_die),
        WEAK_TEST(get_on_another_thread_than_the_owner),
        WEAK_TEST(the_owners_get_stops_when_the_object_leaves_its_owner),
        WEAK_TEST(a_collected_cycle_clears_its_weak_references),
        WEAK_TEST(a_weak_reference_in_the_garbage_gets_no_callback),
        WEAK_TEST(a_finalizer_resurrecting_by_count_keeps_weak_references),
        WEAK_TEST(a_finalizer_resurrecting_a_cycle_finds_weak_references_cleared),
        WEAK_TEST(weak_references_a_finalizer_makes_to_garbage_are_cleared),
        WEAK_TEST(a_finalizer_runs_once_when_its_target_dies),
        WEAK_TEST(a_finalizer_called_early_runs_once),
        WEAK_TEST(a_detached_finalizer_never_runs),
        WEAK_TEST(a_finalizer_runs_when_a_collection_frees_its_target),
        WEAK_TEST(get_through_an_object_that_is_not_a_weak_reference_is_reported),
    };
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("weakref", tests, NULL, NULL);
}
