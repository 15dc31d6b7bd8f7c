/* tests/test_gc_introspect.c - what a host can ask the collector about
 * its objects, through rcgc/gc.h only: which generation holds an object
 * and how survivors move up, rcgc_get_objects, rcgc_get_referrers and
 * rcgc_get_referents (what they visit, bad arguments, visitors that drop
 * references or stop the walk early), and rcgc_get_all_objects (untracked
 * and frozen objects listed, plain blocks and dead objects not).
 *
 * Conventions (tests/support/gc_types.h): every test starts from a full
 * collection with an empty garbage list.
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

/* ----------------------------------------------------------- Introspection */

static void survivors_move_to_older_generations(void **state) {
    (void)state;
    rcgc_object *obj = list_new();
    assert_true(in_generation(0, obj));
    assert_false(in_generation(1, obj));
    assert_false(in_generation(2, obj));
    assert_true(in_generation(-1, obj));
    assert_int_equal(rcgc_collect(0), 0);
    assert_false(in_generation(0, obj));
    assert_true(in_generation(1, obj));
    assert_int_equal(rcgc_collect(1), 0);
    assert_false(in_generation(1, obj));
    assert_true(in_generation(2, obj));
    assert_true(in_generation(-1, obj));
    rcgc_decref(obj);
}

struct dropper {
    rcgc_object *objects[2];
    int dropped;
    long released_while_visiting;
};

/* Drops the host's reference to each of its objects it is shown. */
static int drop_when_visited(rcgc_object *obj, void *arg) {
    struct dropper *d = arg;
    for (int i = 0; i < 2; i++) {
        if (obj == d->objects[i]) {
            d->objects[i] = NULL;
            rcgc_decref(obj);
            d->dropped++;
            d->released_while_visiting += atomic_load(&model_list_class.released);
        }
    }
    return 0;
}

static void get_objects_visitor_may_drop_the_last_host_reference(void **state) {
    (void)state;
    struct dropper d = {.objects = {list_new(), list_new()}};
    assert_true(rcgc_get_objects(0, drop_when_visited, &d) >= 2);
    assert_int_equal(d.dropped, 2);
    assert_int_equal(d.released_while_visiting, 0); /* held by get_objects meanwhile */
    assert_int_equal(atomic_load(&model_list_class.released), 2);
}

static void get_objects_of_a_bad_generation_fails_with_einval(void **state) {
    (void)state;
    struct visits v = {0};
    errno = 0;
    assert_int_equal(rcgc_get_objects(3, record_visit, &v), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(rcgc_get_objects(-2, record_visit, &v), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(v.count, 0);
}

static void get_referrers_visits_exactly_the_tracked_holders(void **state) {
    (void)state;
    rcgc_object *target = new_object(&instance_type);
    rcgc_object *holder_list = list_new();
    rcgc_object *holder_instance = new_object(&instance_type);
    rcgc_object *untracked_holder = list_new();
    rcgc_object *bystander = list_new();
    list_append(holder_list, target);
    set_other(holder_instance, target);
    list_append(untracked_holder, target);
    rcgc_untrack(untracked_holder);
    rcgc_object *leaf = str_new("x");
    list_append(bystander, leaf);
    rcgc_decref(leaf);

    struct visits v = {0};
    assert_int_equal(rcgc_get_referrers(target, record_visit, &v), 2);
    assert_int_equal(v.count, 2);
    assert_true(visited(&v, holder_list));
    assert_true(visited(&v, holder_instance));

    rcgc_decref(holder_list);
    rcgc_decref(holder_instance);
    rcgc_decref(untracked_holder);
    rcgc_decref(bystander);
    rcgc_decref(target);
    assert_int_equal(atomic_load(&instances_released), 2);
    assert_int_equal(atomic_load(&model_list_class.released), 3);
}

static void get_referents_visits_what_traverse_reports(void **state) {
    (void)state;
    rcgc_object *list = list_new();
    rcgc_object *a = new_object(&instance_type), *leaf = str_new("x");
    list_append(list, a);
    list_append(list, leaf);
    list_append(list, leaf);
    assert_int_equal(model_list_set(list, 2, NULL), 0); /* a slot left NULL in between */
    list_append(list, list);
    struct visits v = {0};
    assert_int_equal(rcgc_get_referents(list, record_visit, &v), 3);
    assert_int_equal(v.count, 3);
    assert_true(visited(&v, a));
    assert_true(visited(&v, leaf));
    assert_true(visited(&v, list));
    struct visits none = {0};
    assert_int_equal(rcgc_get_referents(leaf, record_visit, &none), 0);
    assert_int_equal(none.count, 0);
    rcgc_decref(a);
    rcgc_decref(leaf);
    rcgc_decref(list);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&model_str_class.released), 1);
}

/* A search stops the walk once it finds what it looks for. */
struct stop_at {
    const rcgc_object *wanted;
    size_t visits;
};

static int stop_when_found(rcgc_object *obj, void *arg) {
    struct stop_at *stop = arg;
    stop->visits++;
    return obj == stop->wanted;
}

static void walks_stop_when_the_visitor_says_so(void **state) {
    (void)state;
    keep_new_instances(100);
    struct stop_at stop = {.wanted = kept[0]};
    ptrdiff_t visited_count = rcgc_get_objects(-1, stop_when_found, &stop);
    assert_true(visited_count >= 1);
    assert_int_equal((size_t)visited_count, stop.visits);
    assert_true(stop.visits < 100); /* not every object: it stopped */

    rcgc_object *list = list_new();
    for (int i = 0; i < 3; i++)
        list_append(list, kept[i]);
    stop = (struct stop_at){.wanted = kept[1]};
    assert_int_equal(rcgc_get_referents(list, stop_when_found, &stop), 2);
    assert_int_equal(stop.visits, 2);

    stop = (struct stop_at){.wanted = list};
    assert_int_equal(rcgc_get_referrers(kept[2], stop_when_found, &stop), 1);
    rcgc_decref(list);
    drop_kept();
}

/* ----------------------------------------------------------- All objects */

struct sighting {
    const rcgc_object *wanted[4];
    int seen[4];
    long ints; /* objects of type int seen */
};

static int note_sighting(rcgc_object *obj, void *arg) {
    struct sighting *s = arg;
    for (int i = 0; i < 4; i++)
        s->seen[i] += obj == s->wanted[i];
    s->ints += obj->ob_type == &model_int_class.type;
    return 0;
}

static void get_all_objects_lists_untracked_and_frozen_objects_only(void **state) {
    (void)state;
    rcgc_object *frozen = list_new(), *text = str_new("untracked");
    rcgc_freeze();
    rcgc_object *young = list_new();
    /* A plain block of arbitrary bytes is not taken for an object. */
    unsigned char *noise = rcgc_malloc(64);
    assert_non_null(noise);
    for (int i = 0; i < 64; i++)
        noise[i] = (unsigned char)(0xA5 ^ (i * 37));
    struct sighting s = {.wanted = {frozen, text, young, (rcgc_object *)noise}};
    long ints_before;
    assert_true(rcgc_get_all_objects(note_sighting, &s) >= 3);
    ints_before = s.ints;
    assert_int_equal(s.seen[0], 1);
    assert_int_equal(s.seen[1], 1);
    assert_int_equal(s.seen[2], 1);
    assert_int_equal(s.seen[3], 0);
    assert_false(rcgc_is_tracked(text));
    /* Ints kept dead on the thread's free list are not live. */
    rcgc_object *ints[10];
    for (int i = 0; i < 10; i++)
        ints[i] = model_int_new(i);
    memset(&s, 0, sizeof s);
    assert_true(rcgc_get_all_objects(note_sighting, &s) >= 13);
    assert_int_equal(s.ints, ints_before + 10);
    for (int i = 0; i < 10; i++)
        rcgc_decref(ints[i]);
    memset(&s, 0, sizeof s);
    assert_true(rcgc_get_all_objects(note_sighting, &s) >= 3);
    assert_int_equal(s.ints, ints_before);
    rcgc_free(noise);
    rcgc_unfreeze();
    rcgc_decref(frozen);
    rcgc_decref(text);
    rcgc_decref(young);
}

static int stop_after_two(rcgc_object *obj, void *arg) {
    (void)obj;
    return ++*(int *)arg == 2;
}

static void get_all_objects_stops_when_the_visitor_says_so(void **state) {
    (void)state;
    rcgc_object *a = list_new(), *b = list_new(), *c = list_new();
    int visits = 0;
    assert_int_equal(rcgc_get_all_objects(stop_after_two, &visits), 2);
    assert_int_equal(visits, 2);
    rcgc_decref(a);
    rcgc_decref(b);
    rcgc_decref(c);
}

int main(int argc, char **argv) {
#define GC_TEST(name)                                                                              \
    cmocka_unit_test_setup_teardown(name, start_from_a_full_collection, restore_defaults)
    const struct CMUnitTest tests[] = {
        GC_TEST(survivors_move_to_older_generations),
        GC_TEST(get_objects_visitor_may_drop_the_last_host_reference),
        GC_TEST(get_objects_of_a_bad_generation_fails_with_einval),
        GC_TEST(get_referrers_visits_exactly_the_tracked_holders),
        GC_TEST(get_referents_visits_what_traverse_reports),
        GC_TEST(walks_stop_when_the_visitor_says_so),
        GC_TEST(get_all_objects_lists_untracked_and_frozen_objects_only),
        GC_TEST(get_all_objects_stops_when_the_visitor_says_so),
    };
#undef GC_TEST
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("gc_introspect", tests, NULL, NULL);
}
