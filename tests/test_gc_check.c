/* tests/test_gc_check.c - the collector's invariant checker (src/gc/check.c):
 * with expensive checks on (the debug and sanitizer presets), a table broken
 * on purpose is reported with the object and the rule, and an intact heap
 * passes every step of collections of each generation.
 */
#include "gc/gc_internal.h"
#include "support/child.h"

#include <rcgc.h>

#include <stdio.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct pair {
    rcgc_object head;
    rcgc_object *left, *right;
};

static void pair_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct pair *p = (struct pair *)self;
    if (p->left != NULL)
        visit(p->left, arg);
    if (p->right != NULL)
        visit(p->right, arg);
}

static void pair_clear(rcgc_object *self) {
    struct pair *p = (struct pair *)self;
    rcgc_object *left = p->left, *right = p->right;
    p->left = p->right = NULL;
    rcgc_xdecref(left);
    rcgc_xdecref(right);
}

static const rcgc_type pair_type = {.name = "pair",
                                    .size = sizeof(struct pair),
                                    .flags = RCGC_TYPE_GC,
                                    .traverse = pair_traverse,
                                    .clear = pair_clear};

static rcgc_object *pair_new(void) {
    rcgc_object *obj = rcgc_new(&pair_type);
    assert_non_null(obj);
    return obj;
}

static int attach(void **state) {
    (void)state;
    return rcgc_thread_attach();
}

static int detach(void **state) {
    (void)state;
    rcgc_thread_detach();
    return 0;
}

static void skip_unless_checked(void) {
    if (RCGC_CHECKS < 3)
        skip(); /* the checker is compiled in with expensive checks only */
}

/* Rings of two, one in ten kept alive for a while through a survivor:
 * every step's check passes, through collections of each generation. */
static void intact_heap_passes_every_step(void **state) {
    (void)state;
    skip_unless_checked();
    struct pair *kept = (struct pair *)pair_new();
    for (int generation = 0; generation < RCGC_GENERATIONS; generation++) {
        for (int i = 0; i < 100; i++) {
            struct pair *a = (struct pair *)pair_new(), *b = (struct pair *)pair_new();
            a->left = &b->head; /* each creation's reference moves into the ring */
            b->left = &a->head;
            if (i % 10 == 0) {
                rcgc_incref(&a->head);
                rcgc_object *old = kept->left;
                kept->left = &a->head;
                rcgc_xdecref(old);
            }
        }
        assert_true(rcgc_collect(generation) >= 0);
    }
    rcgc_decref(&kept->head);
    assert_true(rcgc_collect(2) >= 2);
}

static void collect_after_moving_a_slot(void *arg) {
    rcgc_object *victim = arg;
    /* Another slot than the one its table holds it at: G1 broken. */
    atomic_store(&victim->ob_gc_slot, atomic_load(&victim->ob_gc_slot) + 1000);
    (void)rcgc_collect(0);
}

static void corrupted_table_is_reported_with_the_object_and_the_rule(void **state) {
    (void)state;
    skip_unless_checked();
    rcgc_object *victim = pair_new();
    char expected[64];
    snprintf(expected, sizeof expected, "<pair %p>", (void *)victim);
    struct child_result result;
    child_run(collect_after_moving_a_slot, victim, &result);
    assert_true(child_aborted(&result));
    assert_non_null(strstr(result.output, "collector invariant G1 broken after the stop"));
    assert_non_null(strstr(result.output, expected));
    assert_non_null(strstr(result.output, "records another slot"));
    rcgc_decref(victim);
}

static void collect_after_changing_a_generation(void *arg) {
    rcgc_object *victim = arg;
    gc_set_gen(victim, GEN_OLD); /* still in a young table */
    (void)rcgc_collect(0);
}

static void object_in_the_wrong_generation_is_reported(void **state) {
    (void)state;
    skip_unless_checked();
    rcgc_object *victim = pair_new();
    struct child_result result;
    child_run(collect_after_changing_a_generation, victim, &result);
    assert_true(child_aborted(&result));
    assert_non_null(strstr(result.output, "G1"));
    assert_non_null(strstr(result.output, "of another generation"));
    rcgc_decref(victim);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(intact_heap_passes_every_step, attach, detach),
        cmocka_unit_test_setup_teardown(corrupted_table_is_reported_with_the_object_and_the_rule,
                                        attach, detach),
        cmocka_unit_test_setup_teardown(object_in_the_wrong_generation_is_reported, attach, detach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
