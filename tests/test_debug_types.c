/* tests/test_debug_types.c - live objects counted by type and their growth
 * (rcgc_most_common_types, rcgc_get_growth and their printers): untracked
 * objects and unreachable cycles count, nothing is collected to count,
 * dead objects do not, other threads' objects do, and the lists come in
 * the order objgraph prints them.
 */
#include "support/debug_nodes.h"

#include <rcgc.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define LIMIT 64

/* The live count of @type (and its bytes through @bytes when not NULL). */
static size_t live(const rcgc_type *type, size_t *bytes) {
    rcgc_type_count counts[LIMIT];
    ptrdiff_t types = rcgc_most_common_types(counts, LIMIT);
    assert_true(types >= 0 && types <= LIMIT);
    for (ptrdiff_t i = 0; i < types; i++)
        if (counts[i].type == type) {
            if (bytes != NULL)
                *bytes = counts[i].bytes;
            return counts[i].count;
        }
    if (bytes != NULL)
        *bytes = 0;
    return 0;
}

/* The growth rcgc_get_growth reports for @type, 0 when not listed. */
static ptrdiff_t growth(const rcgc_type *type) {
    rcgc_type_count counts[LIMIT];
    ptrdiff_t grew = rcgc_get_growth(counts, LIMIT);
    assert_true(grew >= 0 && grew <= LIMIT);
    for (ptrdiff_t i = 0; i < grew; i++) {
        assert_true(counts[i].growth > 0);
        if (i > 0)
            assert_true(counts[i - 1].growth >= counts[i].growth);
        if (counts[i].type == type)
            return counts[i].growth;
    }
    return 0;
}

static void counts_untracked_objects_and_uncollected_cycles(void **state) {
    (void)state;
    size_t leaves = live(&leaf_type, NULL), nodes = live(&node_type, NULL);
    rcgc_object *kept[100];
    for (int i = 0; i < 100; i++)
        kept[i] = leaf_new();
    for (int i = 0; i < 20; i++) { /* 20 unreachable pairs: a leak of cycles */
        rcgc_object *a = node_new(1), *b = node_new(1);
        node_set(a, 0, b);
        node_set(b, 0, a);
        rcgc_decref(a);
        rcgc_decref(b);
    }
    size_t leaf_bytes;
    assert_int_equal(live(&leaf_type, &leaf_bytes), leaves + 100);
    assert_true(leaf_bytes >= (leaves + 100) * sizeof(rcgc_object));
    assert_int_equal(live(&node_type, NULL), nodes + 40);
    /* Counting collected nothing: the cycles are still there to collect. */
    assert_int_equal(rcgc_collect(2), 40);
    assert_int_equal(live(&node_type, NULL), nodes);
    for (int i = 0; i < 100; i++)
        rcgc_decref(kept[i]);
    assert_int_equal(live(&leaf_type, NULL), leaves);
}

static void growth_lists_what_grew_since_the_last_call(void **state) {
    (void)state;
    (void)growth(&node_type); /* the baseline */
    rcgc_object *kept[25];
    for (int i = 0; i < 25; i++)
        kept[i] = node_new(0);
    rcgc_object *dropped = leaf_new();
    rcgc_decref(dropped);
    rcgc_type_count counts[LIMIT];
    ptrdiff_t grew = rcgc_get_growth(counts, LIMIT);
    assert_true(grew >= 1);
    bool found = false;
    for (ptrdiff_t i = 0; i < grew; i++) {
        assert_true(counts[i].type != &leaf_type);
        if (counts[i].type == &node_type) {
            assert_int_equal(counts[i].growth, 25);
            found = true;
        }
    }
    assert_true(found);
    assert_int_equal(growth(&node_type), 0); /* nothing new since */
    for (int i = 0; i < 25; i++)
        rcgc_decref(kept[i]);
    assert_int_equal(growth(&node_type), 0); /* shrinking is not growth */
}

static rcgc_object *made_elsewhere[30];

static void *make_leaves(void *arg) {
    (void)arg;
    if (rcgc_thread_attach() != 0)
        return NULL;
    for (int i = 0; i < 30; i++)
        made_elsewhere[i] = leaf_new();
    rcgc_thread_detach();
    return NULL;
}

static void counts_objects_of_other_threads(void **state) {
    (void)state;
    size_t leaves = live(&leaf_type, NULL);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, make_leaves, NULL), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(live(&leaf_type, NULL), leaves + 30);
    for (int i = 0; i < 30; i++)
        rcgc_decref(made_elsewhere[i]);
    assert_int_equal(live(&leaf_type, NULL), leaves);
}

static void most_common_first(void **state) {
    (void)state;
    rcgc_object *kept[300];
    for (int i = 0; i < 300; i++)
        kept[i] = holder_new(0);
    rcgc_type_count counts[LIMIT];
    ptrdiff_t types = rcgc_most_common_types(counts, LIMIT);
    assert_true(types >= 1);
    for (ptrdiff_t i = 1; i < types && i < LIMIT; i++)
        assert_true(counts[i - 1].count >= counts[i].count);
    /* A limit of one: the first, and the number of types still told. */
    rcgc_type_count first;
    assert_int_equal(rcgc_most_common_types(&first, 1), types);
    assert_ptr_equal(first.type, counts[0].type);
    for (int i = 0; i < 300; i++)
        rcgc_decref(kept[i]);
}

static ptrdiff_t print_top(FILE *stream, void *arg) {
    (void)arg;
    return rcgc_print_most_common_types(stream, 2);
}

static ptrdiff_t print_growth(FILE *stream, void *arg) {
    (void)arg;
    return rcgc_show_growth(stream, 5);
}

static void prints_as_objgraph_does(void **state) {
    (void)state;
    rcgc_object *kept[500], *other_kind[3];
    for (int i = 0; i < 500; i++)
        kept[i] = holder_new(0);
    for (int i = 0; i < 3; i++)
        other_kind[i] = node_new(0);
    ptrdiff_t status;
    char *text = capture_stream(print_top, NULL, &status);
    assert_int_equal(status, 0);
    assert_int_equal(strncmp(text, "holder ", 7), 0); /* the most numerous, first */
    int lines = 0;
    for (const char *c = text; *c != '\0'; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 2);
    free(text);
    (void)growth(&holder_type);
    for (int i = 0; i < 7; i++)
        (void)leaf_new(); /* leaked on purpose: what show_growth is for */
    text = capture_stream(print_growth, NULL, &status);
    assert_int_equal(status, 0);
    char name[32];
    size_t count;
    long grew;
    assert_int_equal(sscanf(text, "%31s %zu %ld", name, &count, &grew), 3);
    assert_string_equal(name, "leaf");
    assert_int_equal(grew, 7);
    free(text);
    for (int i = 0; i < 500; i++)
        rcgc_decref(kept[i]);
    for (int i = 0; i < 3; i++)
        rcgc_decref(other_kind[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_untracked_objects_and_uncollected_cycles),
        cmocka_unit_test(growth_lists_what_grew_since_the_last_call),
        cmocka_unit_test(counts_objects_of_other_threads),
        cmocka_unit_test(most_common_first),
        cmocka_unit_test(prints_as_objgraph_does),
    };
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("debug_types", tests, NULL, NULL);
}
