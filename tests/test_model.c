/* tests/test_model.c - the example object model (examples/model): lists,
 * tuples, dicts, strings, integers, instances and slots instances keep the
 * references they are given and drop them exactly once; cycles through them are collected,
 * except through Graph, whose legacy __del__ makes its cycles
 * uncollectable; and running out of memory leaves a container unchanged.
 *
 * Every test starts attached, from a full collection with an empty
 * garbage list and zeroed class counters, so "released" counts deaths in
 * this test alone.
 */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* class Pair: __slots__ = ('first', 'second'), counted; and the same shape
 * uncounted, as the collector's benchmarks make their nodes. */
MODEL_SLOTS_CLASS(pair_class, "Pair", 2, MODEL_COUNTED);
MODEL_SLOTS_CLASS(node_class, "Node", 2, MODEL_UNCOUNTED);

static model_class *const classes[] = {&model_list_class,   &model_dict_class,   &model_str_class,
                                       &model_int_class,    &model_object_class, &model_graph_class,
                                       &model_closer_class, &model_tuple_class,  &pair_class};

static long released(const model_class *cls) { return atomic_load(&cls->released); }

static int start_clean(void **state) {
    (void)state;
    rcgc_thread_attach();
    rcgc_collect(2);
    rcgc_garbage_clear();
    rcgc_collect(2);
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        model_reset_counts(classes[i]);
    atomic_store(&model_closer_closed, 0);
    return 0;
}

static int finish(void **state) {
    (void)state;
    rcgc_fault_clear();
    rcgc_garbage_clear();
    rcgc_collect(2);
    rcgc_thread_detach();
    return 0;
}

static rcgc_object *checked(rcgc_object *obj) {
    assert_non_null(obj);
    return obj;
}

/* ------------------------------------------------------------------ list */

static void list_holds_a_reference_to_each_item_and_drops_it_once(void **state) {
    (void)state;
    rcgc_object *list = checked(model_list_new());
    rcgc_object *one = checked(model_int_new(1));
    for (int i = 0; i < 10; i++)
        assert_int_equal(model_list_append(list, one), 0);
    assert_int_equal(model_list_len(list), 10);
    assert_int_equal(rcgc_refcount(one), 11);
    assert_ptr_equal(model_list_get(list, 9), one);
    assert_null(model_list_get(list, 10));

    rcgc_object *two = checked(model_int_new(2));
    assert_int_equal(model_list_set(list, 3, two), 0);
    assert_int_equal(model_int_value(model_list_get(list, 3)), 2);
    assert_int_equal(rcgc_refcount(one), 10);
    errno = 0;
    assert_int_equal(model_list_set(list, 10, two), -1);
    assert_int_equal(errno, EINVAL);

    rcgc_decref(two);
    rcgc_decref(one);
    assert_int_equal(released(&model_int_class), 0);
    rcgc_decref(list);
    assert_int_equal(released(&model_list_class), 1);
    assert_int_equal(released(&model_int_class), 2);
    assert_int_equal(model_live(&model_int_class), 0);
}

static void list_clear_drops_every_item(void **state) {
    (void)state;
    rcgc_object *list = checked(model_list_new());
    for (int i = 0; i < 100; i++) {
        rcgc_object *item = checked(model_int_new(i));
        assert_int_equal(model_list_append(list, item), 0);
        rcgc_decref(item);
    }
    model_list_clear(list);
    assert_int_equal(model_list_len(list), 0);
    assert_int_equal(released(&model_int_class), 100);
    rcgc_decref(list);
}

/* The list grows its item array until a huge block cannot be mapped. */
static void list_that_cannot_grow_is_left_unchanged(void **state) {
    (void)state;
    rcgc_object *list = checked(model_list_new());
    rcgc_object *item = checked(model_int_new(7));
    rcgc_fault_inject(RCGC_FAULT_MAP, 0, RCGC_FAULT_FOREVER);
    size_t appended = 0;
    int result = 0;
    errno = 0;
    while (appended < ((size_t)1 << 26) && (result = model_list_append(list, item)) == 0)
        appended++;
    int error = errno;
    rcgc_fault_clear();
    assert_int_equal(result, -1);
    assert_int_equal(error, ENOMEM);
    assert_int_equal(model_list_len(list), appended);
    assert_int_equal(rcgc_refcount(item), appended + 1);
    assert_ptr_equal(model_list_get(list, appended - 1), item);
    assert_int_equal(model_list_append(list, item), 0); /* memory back: it grows */
    rcgc_decref(list);
    assert_int_equal(rcgc_refcount(item), 1);
    rcgc_decref(item);
}

/* ----------------------------------------------------------------- tuple */

struct referents {
    rcgc_object *seen[8];
    size_t count;
};

static int record_referent(rcgc_object *obj, void *arg) {
    struct referents *r = arg;
    if (r->count < 8)
        r->seen[r->count] = obj;
    r->count++;
    return 0;
}

/* t = (1, 2, 3): filling hands the tuple the caller's references, the
 * collector sees the items in order, and the tuple drops each once. */
static void tuple_holds_what_it_is_filled_with_and_drops_each_once(void **state) {
    (void)state;
    rcgc_object *tuple = checked(model_tuple_new(3));
    assert_int_equal(model_tuple_len(tuple), 3);
    assert_null(model_tuple_get(tuple, 2));
    for (size_t i = 0; i < 3; i++)
        model_tuple_fill(tuple, i, checked(model_int_new((long)i + 1)));
    assert_int_equal(model_int_value(model_tuple_get(tuple, 2)), 3);
    assert_int_equal(rcgc_refcount(model_tuple_get(tuple, 0)), 1);

    struct referents r = {.count = 0};
    assert_int_equal(rcgc_get_referents(tuple, record_referent, &r), 3);
    assert_int_equal(r.count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_ptr_equal(r.seen[i], model_tuple_get(tuple, i));

    rcgc_decref(tuple);
    assert_int_equal(released(&model_tuple_class), 1);
    assert_int_equal(released(&model_int_class), 3);
    assert_int_equal(model_live(&model_tuple_class), 0);

    errno = 0;
    assert_null(model_tuple_new(SIZE_MAX / 2));
    assert_int_equal(errno, ENOMEM);
}

/* ----------------------------------------------------------------- slots */

/* p = Pair(); p.first = a; p.first = b; p.second = None */
static void slots_instance_holds_its_slots_in_the_object(void **state) {
    (void)state;
    assert_int_equal(pair_class.type.size, sizeof(rcgc_object) + 2 * sizeof(rcgc_object *));
    rcgc_object *pair = checked(model_slots_new(&pair_class));
    assert_null(model_slot(pair, 0));
    assert_null(model_slot(pair, 1));
    rcgc_object *a = checked(model_int_new(1)), *b = checked(model_int_new(2));

    model_slot_set(pair, 0, a);
    assert_int_equal(rcgc_refcount(a), 2);
    model_slot_set(pair, 0, b);
    assert_int_equal(rcgc_refcount(a), 1);
    assert_ptr_equal(model_slot(pair, 0), b);
    model_slot_set(pair, 1, a);
    model_slot_set(pair, 1, NULL);
    assert_null(model_slot(pair, 1));
    assert_int_equal(rcgc_refcount(a), 1);

    rcgc_decref(a);
    rcgc_decref(b);
    assert_int_equal(released(&model_int_class), 1); /* a; the pair holds b */
    assert_int_equal(model_live(&pair_class), 1);
    rcgc_decref(pair);
    assert_int_equal(released(&model_int_class), 2);
    assert_int_equal(model_live(&pair_class), 0);
    assert_int_equal(released(&pair_class), 1);
}

/* A ring of uncounted nodes, and a tuple and a counted pair holding each
 * other: both are collected, and the uncounted class counts nothing. */
static void cycles_through_slots_and_tuples_are_collected(void **state) {
    (void)state;
    rcgc_object *ring[3];
    for (size_t i = 0; i < 3; i++)
        ring[i] = checked(model_slots_new(&node_class));
    for (size_t i = 0; i < 3; i++)
        model_slot_set(ring[i], 0, ring[(i + 1) % 3]);
    for (size_t i = 0; i < 3; i++)
        rcgc_decref(ring[i]);

    rcgc_object *tuple = checked(model_tuple_new(1));
    rcgc_object *pair = checked(model_slots_new(&pair_class));
    model_tuple_fill(tuple, 0, pair); /* the tuple takes our reference */
    model_slot_set(pair, 1, tuple);
    rcgc_decref(tuple);

    assert_int_equal(rcgc_collect(2), 5);
    assert_int_equal(released(&model_tuple_class), 1);
    assert_int_equal(released(&pair_class), 1);
    assert_int_equal(atomic_load(&node_class.made), 0);
    assert_int_equal(atomic_load(&node_class.released), 0);
}

/* ------------------------------------------------------------------ dict */

static void dict_sets_replaces_and_deletes_by_string_key(void **state) {
    (void)state;
    rcgc_object *dict = checked(model_dict_new());
    rcgc_object *a = checked(model_str_new("a")), *b = checked(model_str_new("b"));
    assert_int_equal(model_dict_set(dict, "name", a), 0);
    assert_int_equal(model_dict_set(dict, "other", b), 0);
    assert_int_equal(model_dict_len(dict), 2);
    assert_ptr_equal(model_dict_get(dict, "name"), a);
    assert_null(model_dict_get(dict, "missing"));

    assert_int_equal(model_dict_set(dict, "name", b), 0); /* replaces: a dropped */
    assert_int_equal(model_dict_len(dict), 2);
    assert_int_equal(rcgc_refcount(a), 1);
    assert_int_equal(rcgc_refcount(b), 3);

    assert_int_equal(model_dict_del(dict, "other"), 0);
    errno = 0;
    assert_int_equal(model_dict_del(dict, "other"), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(model_dict_len(dict), 1);
    rcgc_decref(a);
    rcgc_decref(b);
    rcgc_decref(dict);
    assert_int_equal(released(&model_str_class), 2);
    assert_int_equal(released(&model_dict_class), 1);
}

static int count_entries(const char *key, rcgc_object *value, void *arg) {
    (void)key;
    long *sum = arg;
    *sum += model_int_value(value);
    return 0;
}

static int stop_at_key(const char *key, rcgc_object *value, void *arg) {
    (void)value;
    return strcmp(key, arg) == 0 ? 42 : 0;
}

/* Growth and removed entries: every key stays findable through rehashes
 * and through the probing chains that deletions leave behind. */
static void dict_finds_every_key_through_growth_and_deletions(void **state) {
    (void)state;
    enum { KEYS = 5000 };
    rcgc_object *dict = checked(model_dict_new());
    char key[32];
    for (long i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "key%ld", i);
        rcgc_object *value = checked(model_int_new(i));
        assert_int_equal(model_dict_set(dict, key, value), 0);
        rcgc_decref(value);
    }
    for (long i = 0; i < KEYS; i += 2) {
        snprintf(key, sizeof key, "key%ld", i);
        assert_int_equal(model_dict_del(dict, key), 0);
    }
    assert_int_equal(model_dict_len(dict), KEYS / 2);
    for (long i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "key%ld", i);
        rcgc_object *value = model_dict_get(dict, key);
        if (i % 2 == 0)
            assert_null(value);
        else
            assert_int_equal(model_int_value(value), i);
    }
    long sum = 0;
    assert_int_equal(model_dict_foreach(dict, count_entries, &sum), 0);
    assert_int_equal(sum, (long)KEYS / 2 * (KEYS / 2)); /* 1 + 3 + ... + (KEYS - 1) */
    char wanted[] = "key7";
    assert_int_equal(model_dict_foreach(dict, stop_at_key, wanted), 42);
    rcgc_decref(dict);
    assert_int_equal(released(&model_int_class), KEYS);
}

/* ------------------------------------------------------------- instances */

static void instance_attributes_live_in_its_dict(void **state) {
    (void)state;
    rcgc_object *obj = checked(model_instance_new(&model_object_class));
    assert_null(model_instance_dict(obj));
    assert_null(model_getattr(obj, "x"));
    rcgc_object *x = checked(model_int_new(5));
    assert_int_equal(model_setattr(obj, "x", x), 0);
    rcgc_decref(x);
    assert_int_equal(model_int_value(model_getattr(obj, "x")), 5);
    assert_int_equal(model_dict_len(model_instance_dict(obj)), 1);
    assert_int_equal(model_setattr(obj, "x", NULL), 0); /* del obj.x */
    assert_null(model_getattr(obj, "x"));
    assert_int_equal(released(&model_int_class), 1);
    assert_string_equal(rcgc_type_of(obj)->name, "object");
    rcgc_decref(obj);
    assert_int_equal(released(&model_object_class), 1);
    assert_int_equal(released(&model_dict_class), 1);
}

/* ---------------------------------------------------------------- cycles */

/* a = []; b = []; a.append(b); b.append(a); del a; del b */
static void two_lists_holding_each_other_are_collected(void **state) {
    (void)state;
    rcgc_object *a = checked(model_list_new()), *b = checked(model_list_new());
    assert_int_equal(model_list_append(a, b), 0);
    assert_int_equal(model_list_append(b, a), 0);
    rcgc_decref(a);
    assert_int_equal(rcgc_collect(2), 0); /* b still holds a */
    rcgc_decref(b);
    assert_int_equal(released(&model_list_class), 0);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(released(&model_list_class), 2);
}

/* A cycle through objects with a PEP 442 finalizer is collected, each
 * finalizer running once. */
static void closers_in_a_cycle_are_finalized_once_and_collected(void **state) {
    (void)state;
    rcgc_object *first = checked(model_instance_new(&model_closer_class));
    rcgc_object *second = checked(model_instance_new(&model_closer_class));
    assert_int_equal(model_setattr(first, "other", second), 0);
    assert_int_equal(model_setattr(second, "other", first), 0);
    rcgc_decref(first);
    rcgc_decref(second);
    assert_int_equal(rcgc_collect(2), 4); /* two closers and their dicts */
    assert_int_equal(atomic_load(&model_closer_closed), 2);
    assert_int_equal(released(&model_closer_class), 2);
    assert_int_equal(rcgc_garbage_count(), 0);
}

/* one -> two -> three -> one, Graph has __del__: the cycle is
 * uncollectable, lands in the garbage list, and no __del__ runs. */
static void graph_cycle_is_uncollectable_garbage(void **state) {
    (void)state;
    rcgc_object *one = checked(model_graph_new("one"));
    rcgc_object *two = checked(model_graph_new("two"));
    rcgc_object *three = checked(model_graph_new("three"));
    assert_int_equal(model_graph_set_next(one, two), 0);
    assert_int_equal(model_graph_set_next(two, three), 0);
    assert_int_equal(model_graph_set_next(three, one), 0);
    rcgc_decref(one);
    rcgc_decref(two);
    rcgc_decref(three);
    assert_int_equal(rcgc_collect(2), 6); /* three Graphs and their dicts */
    assert_int_equal(rcgc_garbage_count(), 3);
    assert_int_equal(released(&model_graph_class), 0);
    rcgc_object *found = rcgc_garbage_get(0);
    assert_non_null(found);
    assert_ptr_equal(model_class_of(found), &model_graph_class);
    assert_string_equal(model_str_text(model_getattr(found, "name")), "one");
    rcgc_decref(found);

    /* The host breaks the cycle by hand (one.other = None) and empties the
     * garbage list: the Graphs then die by count, each __del__ once. */
    found = rcgc_garbage_get(0);
    assert_int_equal(model_graph_set_next(found, NULL), 0);
    rcgc_decref(found);
    assert_int_equal(rcgc_garbage_clear(), 3);
    assert_int_equal(released(&model_graph_class), 3);
    assert_int_equal(model_live(&model_graph_class), 0);
}

int main(void) {
#define MODEL_TEST(name) cmocka_unit_test_setup_teardown(name, start_clean, finish)
    const struct CMUnitTest tests[] = {
        MODEL_TEST(list_holds_a_reference_to_each_item_and_drops_it_once),
        MODEL_TEST(list_clear_drops_every_item),
        MODEL_TEST(list_that_cannot_grow_is_left_unchanged),
        MODEL_TEST(tuple_holds_what_it_is_filled_with_and_drops_each_once),
        MODEL_TEST(slots_instance_holds_its_slots_in_the_object),
        MODEL_TEST(cycles_through_slots_and_tuples_are_collected),
        MODEL_TEST(dict_sets_replaces_and_deletes_by_string_key),
        MODEL_TEST(dict_finds_every_key_through_growth_and_deletions),
        MODEL_TEST(instance_attributes_live_in_its_dict),
        MODEL_TEST(two_lists_holding_each_other_are_collected),
        MODEL_TEST(closers_in_a_cycle_are_finalized_once_and_collected),
        MODEL_TEST(graph_cycle_is_uncollectable_garbage),
    };
#undef MODEL_TEST
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
