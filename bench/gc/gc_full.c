/* bench/gc/gc_full.c - what a full collection costs per live tracked object.
 *
 * The graph: one list holds N nodes, each referring to two others chosen by
 * --shape: tree (default), nodes 2i+1 and 2i+2 (mod N), a binary tree in
 * breadth-first order whose bottom half links back to the top; ring, nodes
 * i-1 and i+1 (mod N), a doubly linked ring; random, two random nodes.
 * Every node's count is then made of references from the list and from
 * other nodes only, so trial deletion takes every node to zero and the
 * collector must prove them all reachable from the list: CPython's worst
 * case for move_unreachable. Nothing is garbage; a collection that finds
 * anything exits 1. The shapes differ in locality: rcgc and CPython walk
 * their object tables in allocation order, Boehm marks depth first, which
 * the ring makes sequential and the tree and random shapes scatter.
 * Rows, each one full collection's time over the tracked objects: rcgc's
 * rcgc_collect(2); CPython's gc.collect() on the same graph of instances
 * with a dict and with __slots__ (bench/gc_full.py); Boehm GC's
 * GC_gcollect() on the same graph of GC_MALLOC'd nodes. One thread.
 */
#include "gc_bench.h"

#include "bench_util.h"

#include <limits.h>
#include <string.h>

enum shape { SHAPE_TREE, SHAPE_RING, SHAPE_RANDOM };
static const char *const shape_names[] = {"tree", "ring", "random"};

/* Node i's @which-th (0 or 1) reference. */
static size_t link_target(size_t i, int which, size_t n, enum shape shape, struct bench_rng *rng) {
    switch (shape) {
    case SHAPE_RING:
        return which == 0 ? (i + n - 1) % n : (i + 1) % n;
    case SHAPE_RANDOM:
        return bench_rng_below(rng, (uint32_t)n);
    case SHAPE_TREE:
        break;
    }
    return (2 * i + 1 + (size_t)which) % n;
}

/* ------------------------------------------------------------------- rcgc */

static rcgc_object *rcgc_build(size_t n, enum shape shape, uint64_t seed) {
    struct bench_rng rng;
    bench_rng_seed(&rng, seed);
    rcgc_object *list = gc_bench_tuple_new(n);
    for (size_t i = 0; i < n; i++)
        model_tuple_fill(list, i, gc_bench_node_new()); /* the list keeps our reference */
    for (size_t i = 0; i < n; i++) {
        rcgc_object *node = model_tuple_get(list, i);
        rcgc_object *a = model_tuple_get(list, link_target(i, 0, n, shape, &rng));
        rcgc_object *b = model_tuple_get(list, link_target(i, 1, n, shape, &rng));
        rcgc_incref(a);
        rcgc_incref(b);
        model_slot_fill(node, 0, a);
        model_slot_fill(node, 1, b);
    }
    return list;
}

/* One full collection in ns per tracked object; exits if it found garbage. */
static double rcgc_full(size_t tracked) {
    uint64_t t0 = bench_now_ns();
    ptrdiff_t found = rcgc_collect(RCGC_GENERATIONS - 1);
    uint64_t t1 = bench_now_ns();
    if (found != 0) {
        fprintf(stderr,
                "gc_full: rcgc_collect(2) found %td unreachable objects in a graph that "
                "is all reachable (expected 0)\n",
                found);
        exit(1);
    }
    return (double)(t1 - t0) / (double)tracked;
}

/* ------------------------------------------------------------------ Boehm */

#if RCGC_BENCH_HAVE_BOEHM
/* A type word and two references: 24 bytes, 32 in Boehm's 16-byte granules. */
struct boehm_node {
    struct boehm_node *a, *b;
    long type;
};

/* In .bss, which Boehm scans as a root: the list of the graph. */
static struct boehm_node **volatile boehm_list;

static void boehm_build(size_t n, enum shape shape, uint64_t seed) {
    struct bench_rng rng;
    bench_rng_seed(&rng, seed);
    struct boehm_node **list = GC_MALLOC(n * sizeof *list);
    if (list == NULL)
        exit(1);
    boehm_list = list;
    for (size_t i = 0; i < n; i++) {
        list[i] = GC_MALLOC(sizeof(struct boehm_node));
        if (list[i] == NULL)
            exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        list[i]->a = list[link_target(i, 0, n, shape, &rng)];
        list[i]->b = list[link_target(i, 1, n, shape, &rng)];
    }
}

static double boehm_full(size_t objects) {
    uint64_t t0 = bench_now_ns();
    GC_gcollect();
    uint64_t t1 = bench_now_ns();
    return (double)(t1 - t0) / (double)objects;
}
#endif

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    long long objects = 1000000, runs = 5, seed = 1;
    enum shape shape = SHAPE_TREE;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
            i++;
            for (shape = SHAPE_TREE; shape <= SHAPE_RANDOM; shape++)
                if (strcmp(argv[i], shape_names[shape]) == 0)
                    break;
            if (shape > SHAPE_RANDOM)
                bench_usage_error(argv[0], argv[i]);
            continue;
        }
        if (!bench_opt_int(argc, argv, &i, "--objects", 2, UINT32_MAX, &objects) &&
            !bench_opt_int(argc, argv, &i, "--runs", 1, 1000, &runs) &&
            !bench_opt_int(argc, argv, &i, "--seed", 0, LLONG_MAX, &seed) &&
            !gc_bench_common_opt(argc, argv, &i))
            bench_usage_error(argv[0], argv[i]);
    }
    size_t n = (size_t)objects;

    enum { PY_DICT, PY_SLOTS, BOEHM, RCGC, ROWS };
    struct gc_bench_row rows[ROWS] = {[PY_DICT] = {.name = "CPython"},
                                      [PY_SLOTS] = {.name = "CPython __slots__"},
                                      [BOEHM] = {.name = "Boehm"},
                                      [RCGC] = {.name = "rcgc"}};
    char py_name[2][64];

    /* CPython first, while this process is still small: each variant is one
     * interpreter that builds the graph once and collects --runs times. */
    static const char *const keys[] = {"ns_per_object", "tracked"};
    for (int slots = 0; slots <= 1; slots++) {
        char args[256];
        snprintf(args, sizeof args, "--objects %lld --runs %lld --slots %d --shape %s --seed %lld",
                 objects, runs, slots, shape_names[shape], seed);
        struct gc_bench_samples out[2] = {{0}};
        if (gc_bench_python("gc_full.py", args, keys, out, 2, &rows[PY_DICT + slots].skipped) ==
            0) {
            rows[PY_DICT + slots].samples = out[0];
            fprintf(stderr, "gc_full: CPython%s tracks %.0f objects\n", slots ? " __slots__" : "",
                    out[1].count ? out[1].v[0] : 0.0);
        }
        snprintf(py_name[slots], sizeof py_name[slots], "CPython %s%s", gc_bench_python_version,
                 slots ? " __slots__" : "");
        rows[PY_DICT + slots].name = py_name[slots];
    }

    if (rcgc_thread_attach() != 0)
        return 1;
    rcgc_disable(); /* building is not measured; CPython's side does the same */
    rcgc_object *list = rcgc_build(n, shape, (uint64_t)seed);
    rcgc_collect(RCGC_GENERATIONS - 1); /* untimed: everything reaches the oldest generation */
    size_t tracked = gc_bench_tracked();
    if (tracked != n + 1) {
        fprintf(stderr, "gc_full: rcgc tracks %zu objects, built %zu\n", tracked, n + 1);
        return 1;
    }
#if RCGC_BENCH_HAVE_BOEHM
    rows[BOEHM].name = gc_bench_boehm_init();
    boehm_build(n, shape, (uint64_t)seed + 1);
    GC_gcollect();
#else
    rows[BOEHM].skipped = "skipped: built without bdw-gc";
#endif

    /* Interleaved: run r of rcgc, then run r of Boehm. */
    for (long long r = 0; r < runs; r++) {
        gc_bench_push(&rows[RCGC].samples, rcgc_full(tracked));
#if RCGC_BENCH_HAVE_BOEHM
        gc_bench_push(&rows[BOEHM].samples, boehm_full(n + 1));
#endif
    }

    char count[32], title[256];
    gc_bench_format_count(count, sizeof count, objects);
    snprintf(title, sizeof title,
             "bench/gc_full: %s live objects, 2 references each (%s), full collection", count,
             shape == SHAPE_TREE   ? "tree: 2i+1, 2i+2"
             : shape == SHAPE_RING ? "ring: i-1, i+1"
                                   : "random");
    struct gc_bench_table table = {title, "ns/object", true};
    gc_bench_table(&table, rows, ROWS, PY_DICT);
    gc_bench_reproduce(argc, argv);
    struct bench_summary mine = gc_bench_summary(&rows[RCGC].samples);
    bench_result(mine.median, "ns/object", true);

    /* The list dies by its count; the nodes, every one of which has two
     * referrers among them (2i+1 and 2i+2 cover each residue twice, and so
     * do i-1 and i+1), are left to the collector, which must find exactly
     * N. Random links may leave some nodes without a referrer: those die by
     * count first. */
    rcgc_decref(list);
    ptrdiff_t freed = rcgc_collect(RCGC_GENERATIONS - 1);
    bool random = shape == SHAPE_RANDOM;
    if (random ? freed <= 0 || freed > (ptrdiff_t)n : freed != (ptrdiff_t)n) {
        fprintf(stderr,
                "gc_full: rcgc_collect(2) freed %td objects after the list died, expected %s%zu\n",
                freed, random ? "at most " : "", n);
        return 1;
    }
    rcgc_thread_detach();
    return 0;
}
