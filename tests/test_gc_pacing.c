/* tests/test_gc_pacing.c - how much garbage the collector lets float, and
 * how much work its full collections do, on the workloads that broke
 * CPython's incremental collector (3.13 alphas, 3.14.0): a long linked
 * list built in the old generation while promoted cycles are dropped;
 * millions of containers built in a loop; one cyclic "client" per request
 * for many requests. Through rcgc/gc.h only, with the automatic collector
 * at its default thresholds (700, 10, 10).
 *
 * One thread allocates, so ThreadSanitizer has nothing to check here, and
 * its cost on these million-object heaps is minutes: under it the tests
 * are skipped (they run in the release and ASan builds).
 *
 * Garbage is counted, not measured from resident memory: every object
 * here is an "instance" (tests/support/gc_types.h), whose deaths are
 * counted, so what is alive and what of it is garbage is known exactly.
 */
#include "base/base_internal.h"
#include "support/gc_types.h"

#include <rcgc.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>

#include <cmocka.h>

static long created;

static rcgc_object *instance(void) {
    created++;
    return new_object(&instance_type);
}

static long alive(void) { return created - atomic_load(&instances_released); }

/* x <-> y, one reference to x held by the caller. */
static rcgc_object *pair(void) {
    rcgc_object *x = instance(), *y = instance();
    set_other(x, y);
    set_other(y, x);
    rcgc_decref(y);
    return x;
}

/* Under ThreadSanitizer, see the top. */
static void skip_under_tsan(void) {
    if (RCGC_TSAN)
        skip();
}

/* Drop the references in @slots[0, @count) and empty them. */
static void drop_all(rcgc_object **slots, int count) {
    for (int k = 0; k < count; k++) {
        rcgc_xdecref(slots[k]);
        slots[k] = NULL;
    }
}

static uint64_t full_collections(void) {
    rcgc_gc_stats stats[RCGC_GENERATIONS];
    rcgc_get_stats(stats);
    return stats[RCGC_GENERATIONS - 1].collections;
}

/* ------------------------------------------------ A list that keeps growing */

/* A linked list grows by one node per step while, each step, a 2-object
 * cycle is made, kept for WINDOW steps (long enough to be promoted to the
 * old generation) and dropped. The list is live; the dropped cycles are
 * garbage that only full collections can free. A full collection runs
 * once the objects promoted since the last one reach a quarter of what it
 * left, so the garbage alive stays under about a quarter of the old
 * generation (the list) plus the young generations' worth. A collector
 * that let old garbage float would keep about two objects per node. */
static void garbage_stays_bounded_while_a_long_list_grows(void **state) {
    (void)state;
    skip_under_tsan();
    enum { NODES = 300000, WINDOW = 4096, YOUNG_SLACK = 20000 };
    static rcgc_object *window[WINDOW];
    created = 0;
    rcgc_object *head = NULL;
    long peak_garbage = 0;
    uint64_t fulls_before = full_collections();
    for (long i = 0; i < NODES; i++) {
        rcgc_object *node = instance();
        set_other(node, head);
        rcgc_xdecref(head);
        head = node;
        rcgc_object **slot = &window[i % WINDOW];
        rcgc_xdecref(*slot);
        *slot = pair();
        if (i % 1000 == 999) {
            long held = 2 * (i + 1 < WINDOW ? i + 1 : WINDOW);
            long garbage = alive() - (i + 1) - held;
            peak_garbage = garbage > peak_garbage ? garbage : peak_garbage;
        }
    }
    assert_true(full_collections() > fulls_before + 2);
    /* 300 k nodes: at most 150 k + 20 k garbage, against 600 k unbounded. */
    assert_true(peak_garbage <= NODES / 2 + YOUNG_SLACK);
    drop_all(window, WINDOW);
    rcgc_decref(head); /* the list dies node by node, without recursion */
    rcgc_collect(RCGC_GENERATIONS - 1);
    assert_int_equal(alive(), 0);
}

/* ----------------------------------------- Many containers built in a loop */

/* Building N containers kept alive (CPython: 15 M tuples took 143 s with
 * its incremental collector on, 1 s off) must cost the full collections
 * work linear in N: each runs when the old generation has grown by a
 * quarter, so the objects they visit sum to at most about 5 N (N + N/1.25
 * + ...; 3.8 N measured). Full collections every fixed number of
 * creations (700 x 10 x 10) would visit N^2 / 140000 objects: 7.1 N for a
 * million, 107 N for CPython's 15 M. */
static long built;
static long visited_by_full_collections;

static void count_full_collection_work(enum rcgc_gc_phase phase, const rcgc_gc_info *info,
                                       void *arg) {
    (void)arg;
    if (phase == RCGC_GC_START && info->generation == RCGC_GENERATIONS - 1)
        visited_by_full_collections += built;
}

static void building_many_containers_costs_linear_collector_work(void **state) {
    (void)state;
    skip_under_tsan();
    enum { CONTAINERS = 1000000 };
    created = 0;
    built = 0;
    visited_by_full_collections = 0;
    assert_int_equal(rcgc_callback_add(count_full_collection_work, NULL), 0);
    rcgc_object *list = list_new();
    for (long i = 0; i < CONTAINERS; i++) {
        rcgc_object *item = instance();
        list_append(list, item);
        rcgc_decref(item);
        built++;
    }
    assert_int_equal(rcgc_callback_remove(count_full_collection_work, NULL), 0);
    assert_true(visited_by_full_collections > 0);
    assert_true(visited_by_full_collections <= 6L * CONTAINERS);
    rcgc_decref(list);
    assert_int_equal(alive(), 0);
}

/* ----------------------------------------------- One cyclic client a request */

/* A server makes one cyclic client object per request and keeps the last
 * WINDOW clients (some live through a young collection and a middle one,
 * and die old). After warm-up the objects alive, garbage included, stay
 * flat: no more than a half above the warm-up's peak. */
static void one_cycle_per_request_keeps_memory_flat(void **state) {
    (void)state;
    skip_under_tsan();
    enum { REQUESTS = 500000, WARM_UP = 50000, WINDOW = 1000 };
    static rcgc_object *clients[WINDOW];
    created = 0;
    long warm_peak = 0, later_peak = 0;
    uint64_t fulls_before = full_collections();
    for (long r = 0; r < REQUESTS; r++) {
        rcgc_object **slot = &clients[r % WINDOW];
        rcgc_xdecref(*slot);
        *slot = pair();
        if (r % 1000 == 999) {
            long now = alive();
            if (r < WARM_UP)
                warm_peak = now > warm_peak ? now : warm_peak;
            else
                later_peak = now > later_peak ? now : later_peak;
        }
    }
    assert_true(full_collections() > fulls_before); /* the old generation was used */
    assert_true(later_peak <= warm_peak + warm_peak / 2);
    drop_all(clients, WINDOW);
    rcgc_collect(RCGC_GENERATIONS - 1);
    assert_int_equal(alive(), 0);
}

int main(void) {
#define GC_TEST(name)                                                                              \
    cmocka_unit_test_setup_teardown(name, start_from_a_full_collection, restore_defaults)
    const struct CMUnitTest tests[] = {
        GC_TEST(garbage_stays_bounded_while_a_long_list_grows),
        GC_TEST(building_many_containers_costs_linear_collector_work),
        GC_TEST(one_cycle_per_request_keeps_memory_flat),
    };
#undef GC_TEST
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("gc_pacing", tests, NULL, NULL);
}
