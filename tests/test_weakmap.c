/* tests/test_weakmap.c - weak maps (rcgc/weakref.h): WeakValueDictionary
 * and WeakKeyDictionary behaviours - set, get, replace, del, len; entries
 * vanishing when their weak side dies by count and in a collection (seed
 * 001's cache of Man objects); values dropped with their key; setdefault,
 * atomic between two threads; foreach over a snapshot that skips the dead
 * and survives changes; wrong keys refused; free.
 *
 * Conventions as in test_gc_collect.c (tests/support/gc_types.h).
 */
#include "support/gc_types.h"

#include <rcgc.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static rcgc_object *get_int(rcgc_weakmap *map, int64_t key) {
    return rcgc_weakmap_get(map, RCGC_KEY_INT(key));
}

/* rcgc_weakmap_get, checked against @expected, its reference dropped. */
static void assert_maps_to(rcgc_weakmap *map, rcgc_key key, const rcgc_object *expected) {
    rcgc_object *got = rcgc_weakmap_get(map, key);
    assert_ptr_equal(got, expected);
    rcgc_xdecref(got);
}

/* -------------------------------------------------------- Weak values */

static void weak_values_map_sets_gets_replaces_and_deletes(void **state) {
    (void)state;
    rcgc_weakmap *map = rcgc_weakmap_new(RCGC_WEAK_VALUES);
    assert_non_null(map);
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    assert_int_equal(rcgc_weakmap_set(map, RCGC_KEY_INT(1), a), 0);
    char name[8];
    snprintf(name, sizeof name, "%s", "adam");
    assert_int_equal(rcgc_weakmap_set(map, RCGC_KEY_STR(name), b), 0);
    assert_int_equal(rcgc_weakmap_len(map), 2);
    assert_maps_to(map, RCGC_KEY_INT(1), a);
    assert_maps_to(map, RCGC_KEY_STR("adam"), b); /* same bytes, another pointer */
    assert_null(get_int(map, 2));
    assert_null(rcgc_weakmap_get(map, RCGC_KEY_STR("ada")));
    assert_int_equal(rcgc_refcount(a), 1); /* the map holds its values weakly */
    assert_int_equal(rcgc_weakmap_set(map, RCGC_KEY_INT(1), b), 0); /* replaced */
    assert_int_equal(rcgc_weakmap_len(map), 2);
    assert_maps_to(map, RCGC_KEY_INT(1), b);
    assert_int_equal(rcgc_weakref_count(a), 0); /* the old entry let go of it */
    assert_int_equal(rcgc_weakmap_del(map, RCGC_KEY_INT(1)), 0);
    assert_int_equal(rcgc_weakmap_del(map, RCGC_KEY_INT(1)), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(rcgc_weakmap_len(map), 1);
    rcgc_weakmap_free(map);
    assert_int_equal(rcgc_weakref_count(b), 0);
    rcgc_decref(a);
    rcgc_decref(b);
    assert_int_equal(atomic_load(&instances_released), 2);
}

static void an_entry_vanishes_when_its_value_dies(void **state) {
    (void)state;
    rcgc_weakmap *map = rcgc_weakmap_new(RCGC_WEAK_VALUES);
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    rcgc_weakmap_set(map, RCGC_KEY_INT(1), a);
    rcgc_weakmap_set(map, RCGC_KEY_INT(2), b);
    rcgc_decref(a);
    assert_int_equal(rcgc_weakmap_len(map), 1); /* before rcgc_decref returned */
    assert_null(get_int(map, 1));
    assert_maps_to(map, RCGC_KEY_INT(2), b);
    rcgc_decref(b);
    assert_int_equal(rcgc_weakmap_len(map), 0);
    rcgc_weakmap_free(map);
    assert_int_equal(atomic_load(&instances_released), 2);
}

/* Seed 001: a WeakValueDictionary caching Man objects by name, which
 * empties once all_refs is dropped and gc.collect() runs (each Man sits in
 * a cycle with its own record). */
static void seed_001_cache_empties_after_a_collection(void **state) {
    (void)state;
    static const char *const names[] = {"Jack", "Mary", "Tom", "Lucy"};
    enum { N = sizeof names / sizeof names[0] };
    rcgc_weakmap *cache = rcgc_weakmap_new(RCGC_WEAK_VALUES);
    rcgc_object *all_refs = list_new();
    for (int i = 0; i < N; i++) {
        rcgc_object *man = new_object(&instance_type);
        set_other(man, man); /* a cycle: only a collection frees it */
        rcgc_weakmap_set(cache, RCGC_KEY_STR(names[i]), man);
        list_append(all_refs, man);
        rcgc_decref(man);
    }
    assert_int_equal(rcgc_weakmap_len(cache), N);
    rcgc_decref(all_refs); /* del all_refs */
    assert_int_equal(rcgc_weakmap_len(cache), N);
    rcgc_object *jack = rcgc_weakmap_get(cache, RCGC_KEY_STR("Jack"));
    assert_non_null(jack); /* cycles wait for the collector */
    rcgc_decref(jack);
    assert_int_equal(rcgc_collect(2), N);
    assert_int_equal(rcgc_weakmap_len(cache), 0); /* before rcgc_collect returned */
    for (int i = 0; i < N; i++)
        assert_null(rcgc_weakmap_get(cache, RCGC_KEY_STR(names[i])));
    rcgc_weakmap_free(cache);
}

/* ---------------------------------------------------------- Weak keys */

static void weak_keys_map_drops_the_value_with_its_key(void **state) {
    (void)state;
    rcgc_weakmap *map = rcgc_weakmap_new(RCGC_WEAK_KEYS);
    rcgc_object *key = new_object(&instance_type), *other = new_object(&instance_type);
    rcgc_object *value = str_new("metadata");
    assert_int_equal(rcgc_weakmap_set(map, RCGC_KEY_OBJ(key), value), 0);
    assert_int_equal(rcgc_refcount(value), 2); /* held strongly */
    rcgc_decref(value);
    assert_maps_to(map, RCGC_KEY_OBJ(key), value);
    assert_null(rcgc_weakmap_get(map, RCGC_KEY_OBJ(other))); /* identity, not equality */
    assert_int_equal(rcgc_refcount(key), 1);
    rcgc_decref(key);
    assert_int_equal(rcgc_weakmap_len(map), 0);
    rcgc_weakmap_free(map); /* waits for readers, then lets go */
    assert_int_equal(atomic_load(&model_str_class.released), 1);
    rcgc_decref(other);
}

static void free_drops_the_values_of_a_weak_keys_map(void **state) {
    (void)state;
    rcgc_weakmap *map = rcgc_weakmap_new(RCGC_WEAK_KEYS);
    rcgc_object *keys[8];
    for (int i = 0; i < 8; i++) {
        keys[i] = new_object(&instance_type);
        rcgc_object *value = str_new("v");
        rcgc_weakmap_set(map, RCGC_KEY_OBJ(keys[i]), value);
        rcgc_decref(value);
    }
    assert_int_equal(atomic_load(&model_str_class.released), 0);
    rcgc_weakmap_free(map);
    assert_int_equal(atomic_load(&model_str_class.released), 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(rcgc_weakref_count(keys[i]), 0);
        rcgc_decref(keys[i]);
    }
}

static void wrong_keys_are_refused(void **state) {
    (void)state;
    rcgc_weakmap *values = rcgc_weakmap_new(RCGC_WEAK_VALUES);
    rcgc_weakmap *keys = rcgc_weakmap_new(RCGC_WEAK_KEYS);
    rcgc_object *obj = new_object(&instance_type);
    errno = 0;
    assert_int_equal(rcgc_weakmap_set(values, RCGC_KEY_OBJ(obj), obj), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(rcgc_weakmap_set(keys, RCGC_KEY_INT(3), obj), -1);
    assert_int_equal(rcgc_weakmap_set(values, RCGC_KEY_INT(3), NULL), -1);
    assert_null(rcgc_weakmap_new(7));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(rcgc_weakmap_len(values) + rcgc_weakmap_len(keys), 0);
    rcgc_weakmap_free(values);
    rcgc_weakmap_free(keys);
    rcgc_decref(obj);
}

/* ------------------------------------------------------------ setdefault */

static void setdefault_returns_the_live_value_or_inserts(void **state) {
    (void)state;
    rcgc_weakmap *map = rcgc_weakmap_new(RCGC_WEAK_VALUES);
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    rcgc_object *got = rcgc_weakmap_setdefault(map, RCGC_KEY_STR("k"), a);
    assert_ptr_equal(got, a);
    rcgc_decref(got);
    got = rcgc_weakmap_setdefault(map, RCGC_KEY_STR("k"), b);
    assert_ptr_equal(got, a); /* present and alive: kept */
    rcgc_decref(got);
    assert_int_equal(rcgc_weakref_count(b), 0);
    rcgc_decref(a);
    got = rcgc_weakmap_setdefault(map, RCGC_KEY_STR("k"), b);
    assert_ptr_equal(got, b); /* its value died: replaced */
    rcgc_decref(got);
    assert_int_equal(rcgc_weakmap_len(map), 1);
    rcgc_weakmap_free(map);
    rcgc_decref(b);
}

enum { RACE_KEYS = 500 };

struct racer {
    rcgc_weakmap *map;
    rcgc_object *mine[RACE_KEYS];
    rcgc_object *got[RACE_KEYS];
    pthread_barrier_t *start;
};

static void *race_setdefault(void *arg) {
    struct racer *r = arg;
    rcgc_thread_attach();
    for (int i = 0; i < RACE_KEYS; i++)
        r->mine[i] = rcgc_new(&instance_type);
    rcgc_blocking_begin();
    pthread_barrier_wait(r->start);
    rcgc_blocking_end();
    for (int i = 0; i < RACE_KEYS; i++)
        r->got[i] = rcgc_weakmap_setdefault(r->map, RCGC_KEY_INT(i), r->mine[i]);
    rcgc_thread_detach(); /* keeps its references; the test drops them */
    return NULL;
}

static void setdefault_is_atomic_between_threads(void **state) {
    (void)state;
    rcgc_weakmap *map = rcgc_weakmap_new(RCGC_WEAK_VALUES);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    static struct racer racers[2];
    pthread_t threads[2];
    for (int t = 0; t < 2; t++) {
        racers[t] = (struct racer){.map = map, .start = &start};
        pthread_create(&threads[t], NULL, race_setdefault, &racers[t]);
    }
    rcgc_blocking_begin();
    for (int t = 0; t < 2; t++)
        pthread_join(threads[t], NULL);
    rcgc_blocking_end();
    for (int i = 0; i < RACE_KEYS; i++) {
        assert_non_null(racers[0].got[i]);
        assert_ptr_equal(racers[0].got[i], racers[1].got[i]); /* one winner per key */
        assert_true(racers[0].got[i] == racers[0].mine[i] || racers[0].got[i] == racers[1].mine[i]);
    }
    assert_int_equal(rcgc_weakmap_len(map), RACE_KEYS);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < RACE_KEYS; i++) {
            rcgc_decref(racers[t].got[i]);
            rcgc_decref(racers[t].mine[i]);
        }
    assert_int_equal(rcgc_weakmap_len(map), 0);
    rcgc_weakmap_free(map);
    pthread_barrier_destroy(&start);
}

/* --------------------------------------------------------------- foreach */

struct tally {
    rcgc_weakmap *map;
    int seen[16];
    int visits;
    int stop_after;
};

static int tally_visit(rcgc_key key, rcgc_object *value, void *arg) {
    struct tally *t = arg;
    assert_int_equal(key.kind, RCGC_KEY_INTEGER);
    assert_true(rcgc_refcount(value) >= 2); /* held for the visit */
    if (key.integer < 16)
        t->seen[key.integer]++;
    t->visits++;
    /* Changes meanwhile never make the iteration fail. */
    (void)rcgc_weakmap_del(t->map, RCGC_KEY_INT((key.integer + 1) % 16));
    (void)rcgc_weakmap_set(t->map, RCGC_KEY_INT(100 + key.integer), value);
    return t->stop_after != 0 && t->visits == t->stop_after;
}

static void foreach_visits_live_entries_and_survives_changes(void **state) {
    (void)state;
    rcgc_weakmap *map = rcgc_weakmap_new(RCGC_WEAK_VALUES);
    rcgc_object *objs[16];
    for (int i = 0; i < 16; i++) {
        objs[i] = new_object(&instance_type);
        rcgc_weakmap_set(map, RCGC_KEY_INT(i), objs[i]);
    }
    for (int i = 0; i < 16; i += 4) { /* four die before the walk */
        rcgc_decref(objs[i]);
        objs[i] = NULL;
    }
    struct tally t = {.map = map};
    assert_int_equal(rcgc_weakmap_foreach(map, tally_visit, &t), 12);
    for (int i = 0; i < 16; i++)
        assert_int_equal(t.seen[i], objs[i] != NULL ? 1 : 0); /* the snapshot, once each */
    struct tally stop = {.map = map, .stop_after = 3};
    assert_int_equal(rcgc_weakmap_foreach(map, tally_visit, &stop), 3);
    rcgc_weakmap_free(map);
    for (int i = 0; i < 16; i++)
        rcgc_xdecref(objs[i]);
    assert_int_equal(atomic_load(&instances_released), 16);
}

int main(void) {
#define MAP_TEST(name)                                                                             \
    cmocka_unit_test_setup_teardown(name, start_from_a_full_collection, restore_defaults)
    const struct CMUnitTest tests[] = {
        MAP_TEST(weak_values_map_sets_gets_replaces_and_deletes),
        MAP_TEST(an_entry_vanishes_when_its_value_dies),
        MAP_TEST(seed_001_cache_empties_after_a_collection),
        MAP_TEST(weak_keys_map_drops_the_value_with_its_key),
        MAP_TEST(free_drops_the_values_of_a_weak_keys_map),
        MAP_TEST(wrong_keys_are_refused),
        MAP_TEST(setdefault_returns_the_live_value_or_inserts),
        MAP_TEST(setdefault_is_atomic_between_threads),
        MAP_TEST(foreach_visits_live_entries_and_survives_changes),
    };
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("weakmap", tests, NULL, NULL);
}
