/* examples/demo_gc.c - the demo's collector part: two lists that hold
 * each other (a = []; b = []; a.append(b); b.append(a)), a Graph with a
 * legacy finalizer under DEBUG_LEAK, and cycles collected while several
 * threads work. */
#include "demo_gc.h"
#include "model.h"

#include <rcgc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static int show_seed_001_cycles(void) {
    printf("  on this thread: a = []; b = []; a.append(b); b.append(a)\n");
    rcgc_object *a = model_list_new(), *b = model_list_new();
    if (a == NULL || b == NULL || model_list_append(a, b) != 0 || model_list_append(b, a) != 0)
        return 1;
    rcgc_decref(a); /* del a: b still holds it */
    rcgc_collect(2);
    printf("    del a: gc.collect(); a is alive, held by b: refcount %zu, b[0] is a: %s\n",
           rcgc_refcount(a), model_list_get(b, 0) == a ? "yes" : "no");
    rcgc_decref(b); /* del b: only the cycle is left */
    long before = atomic_load(&model_list_class.released);
    ptrdiff_t found = rcgc_collect(2);
    printf("    del b: gc.collect() -> %td unreachable (the cycle and the workers' latest "
           "garbage), %ld lists released\n",
           found, atomic_load(&model_list_class.released) - before);
    return 0;
}

static int show_graph_demo(void) {
    printf("\n11. Seed 001's Graph demo: one->two->three->one, Graph has __del__, "
           "gc.set_debug(gc.DEBUG_LEAK)\n");
    rcgc_set_debug_stream(stdout);
    rcgc_set_debug(RCGC_DEBUG_LEAK);
    rcgc_object *one = model_graph_new("one"), *two = model_graph_new("two"),
                *three = model_graph_new("three");
    if (one == NULL || two == NULL || three == NULL || model_graph_set_next(one, two) != 0 ||
        model_graph_set_next(two, three) != 0 || model_graph_set_next(three, one) != 0)
        return 1;
    rcgc_decref(one);
    rcgc_decref(two);
    rcgc_decref(three);
    printf("  Collecting...\n");
    ptrdiff_t found = rcgc_collect(2);
    printf("  unreachable objects: %td (three Graphs and their attribute dicts); garbage: %zu "
           "objects\n",
           found, rcgc_garbage_count());
    rcgc_set_debug(0);
    rcgc_set_debug_stream(NULL);

    printf("  breaking the cycle and cleaning up garbage: gc.garbage[0].set_next(None)\n");
    rcgc_object *first = rcgc_garbage_get(0);
    if (first == NULL || model_graph_set_next(first, NULL) != 0)
        return 1;
    rcgc_decref(first);
    long before = atomic_load(&model_graph_class.released);
    rcgc_garbage_clear(); /* del gc.garbage[:]: each __del__ runs now */
    printf("  Collecting... unreachable objects: %td; garbage: %zu; %ld Graphs released\n",
           rcgc_collect(2), rcgc_garbage_count(),
           atomic_load(&model_graph_class.released) - before);
    return 0;
}

enum { WORKERS = 3, ROUNDS = 20000 };

static void *make_cycles(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    for (int i = 0; i < ROUNDS; i++) {
        rcgc_object *x = model_list_new(), *y = model_list_new();
        if (x == NULL || y == NULL || model_list_append(x, y) != 0 || model_list_append(y, x) != 0)
            break;
        rcgc_decref(x);
        rcgc_decref(y);
    }
    rcgc_thread_detach();
    return NULL;
}

/* Seed 001's cycles are collected on this thread while the workers run. */
static int show_threads(void) {
    printf("\n10. %d threads each make %d two-list cycles; collections run on their own\n", WORKERS,
           ROUNDS);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_collect(2);
    rcgc_get_stats(before);
    long released_before = atomic_load(&model_list_class.released);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pthread_t threads[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&threads[i], NULL, make_cycles, NULL);
    int failed = show_seed_001_cycles();
    /* Joining blocks: outside a blocking region, this thread would never
     * reach a safepoint, and the workers' collections would wait for it. */
    rcgc_blocking_begin();
    for (int i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    rcgc_blocking_end();
    rcgc_collect(2); /* whatever the last automatic collection did not see */
    clock_gettime(CLOCK_MONOTONIC, &end);
    rcgc_get_stats(after);
    uint64_t collections = 0, max_pause = 0;
    for (int g = 0; g < RCGC_GENERATIONS; g++) {
        collections += after[g].collections - before[g].collections;
        if (after[g].max_pause_ns > max_pause)
            max_pause = after[g].max_pause_ns;
    }
    printf(
        "  %ld of %d lists released (the workers' and this thread's) in %.2f s; %llu collections "
        "(%llu young), longest stop of the world %.0f us\n",
        atomic_load(&model_list_class.released) - released_before, 2 * WORKERS * ROUNDS + 2,
        (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9,
        (unsigned long long)collections,
        (unsigned long long)(after[0].collections - before[0].collections),
        (double)max_pause / 1e3);
    return failed;
}

int show_collector(void) {
    if (show_threads() != 0 || show_graph_demo() != 0)
        return 1;
    printf("\n12. The collector's statistics (rcgc_print_gc_stats)\n");
    rcgc_print_gc_stats(stdout);
    return 0;
}
