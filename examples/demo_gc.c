/* examples/demo_gc.c - the demo's collector part: two lists that hold
 * each other (a = []; b = []; a.append(b); b.append(a)), a Graph with a
 * legacy finalizer under DEBUG_LEAK, and cycles collected while several
 * threads work. */
#include "demo_gc.h"

#include <rcgc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

/* A Python-like list of up to four references. */
struct list {
    rcgc_object head;
    rcgc_object *item[4];
    const char *name;
};

static _Atomic long lists_released;

static void list_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct list *l = (struct list *)self;
    for (int i = 0; i < 4; i++)
        if (l->item[i] != NULL)
            visit(l->item[i], arg);
}

static void list_clear(rcgc_object *self) {
    struct list *l = (struct list *)self;
    for (int i = 0; i < 4; i++) {
        rcgc_object *item = l->item[i];
        l->item[i] = NULL;
        rcgc_xdecref(item);
    }
}

static void list_release(rcgc_object *self) {
    (void)self;
    atomic_fetch_add_explicit(&lists_released, 1, memory_order_relaxed);
}

static const rcgc_type list_type = {.name = "list",
                                    .size = sizeof(struct list),
                                    .flags = RCGC_TYPE_GC,
                                    .traverse = list_traverse,
                                    .clear = list_clear,
                                    .release = list_release};

/* Seed 001's Graph: a class with __del__, which before PEP 442 made any
 * cycle through it uncollectable. */
static void graph_del(rcgc_object *self) {
    printf("  (Deleting %s)\n", ((struct list *)self)->name);
}

static const rcgc_type graph_type = {.name = "Graph",
                                     .size = sizeof(struct list),
                                     .flags = RCGC_TYPE_GC | RCGC_TYPE_LEGACY_FINALIZER,
                                     .traverse = list_traverse,
                                     .clear = list_clear,
                                     .finalize = graph_del,
                                     .release = list_release};

static struct list *new_list(const rcgc_type *type, const char *name) {
    struct list *l = (struct list *)rcgc_new(type);
    if (l != NULL)
        l->name = name;
    return l;
}

/* l.append(item): the list takes a new reference. */
static void append(struct list *l, struct list *item) {
    for (int i = 0; i < 4; i++)
        if (l->item[i] == NULL) {
            rcgc_incref(&item->head);
            l->item[i] = &item->head;
            return;
        }
}

static int show_seed_001_cycles(void) {
    printf("  on this thread: a = []; b = []; a.append(b); b.append(a)\n");
    struct list *a = new_list(&list_type, "a"), *b = new_list(&list_type, "b");
    if (a == NULL || b == NULL)
        return 1;
    append(a, b);
    append(b, a);
    rcgc_decref(&a->head); /* del a: b still holds it */
    rcgc_collect(2);
    printf("    del a: gc.collect(); a is alive, held by b: refcount %zu, b[0] is a: %s\n",
           rcgc_refcount(&a->head), b->item[0] == &a->head ? "yes" : "no");
    rcgc_decref(&b->head); /* del b: only the cycle is left */
    long before = atomic_load(&lists_released);
    ptrdiff_t found = rcgc_collect(2);
    printf("    del b: gc.collect() -> %td unreachable (the cycle and the workers' latest "
           "garbage), %ld lists released\n",
           found, atomic_load(&lists_released) - before);
    return 0;
}

static int show_graph_demo(void) {
    printf("\n11. Seed 001's Graph demo: one->two->three->one, Graph has __del__, "
           "gc.set_debug(gc.DEBUG_LEAK)\n");
    rcgc_set_debug_stream(stdout);
    rcgc_set_debug(RCGC_DEBUG_LEAK);
    struct list *one = new_list(&graph_type, "one"), *two = new_list(&graph_type, "two"),
                *three = new_list(&graph_type, "three");
    if (one == NULL || two == NULL || three == NULL)
        return 1;
    append(one, two);
    append(two, three);
    append(three, one);
    rcgc_decref(&one->head);
    rcgc_decref(&two->head);
    rcgc_decref(&three->head);
    printf("  Collecting...\n");
    ptrdiff_t found = rcgc_collect(2);
    printf("  unreachable objects: %td; garbage: %zu objects\n", found, rcgc_garbage_count());
    rcgc_set_debug(0);
    rcgc_set_debug_stream(NULL);

    printf("  breaking the cycle and cleaning up garbage: gc.garbage[0].set_next(None)\n");
    struct list *first = (struct list *)rcgc_garbage_get(0);
    if (first == NULL)
        return 1;
    list_clear(&first->head);
    rcgc_decref(&first->head);
    long before = atomic_load(&lists_released);
    rcgc_garbage_clear(); /* del gc.garbage[:] */
    printf("  Collecting... unreachable objects: %td; garbage: %zu; %ld Graphs released\n",
           rcgc_collect(2), rcgc_garbage_count(), atomic_load(&lists_released) - before);
    return 0;
}

enum { WORKERS = 3, ROUNDS = 20000 };

static void *make_cycles(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    for (int i = 0; i < ROUNDS; i++) {
        struct list *x = new_list(&list_type, "x"), *y = new_list(&list_type, "y");
        if (x == NULL || y == NULL)
            break;
        append(x, y);
        append(y, x);
        rcgc_decref(&x->head);
        rcgc_decref(&y->head);
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
    long released_before = atomic_load(&lists_released);
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
        atomic_load(&lists_released) - released_before, 2 * WORKERS * ROUNDS + 2,
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
