/* bench/gc/gc_cycles.c - how fast garbage is freed: cycles by the
 * collector, acyclic structures by reference counting alone.
 *
 * --shape rings (the default): each run makes N nodes in rings of 2 to 10
 * (sizes in turn: 2, 3, ..., 10, 2, ...), each node referring to the next
 * and the previous one, drops every outside reference, and times one full
 * collection, which must find exactly N objects (else exits 1). The time
 * covers finding them, running their clear hooks and freeing them: ns per
 * freed object. Rows: rcgc's rcgc_collect(2) and CPython's gc.collect() on
 * the same rings of instances, with a dict and with __slots__
 * (bench/gc_cycles.py).
 *
 * --shape chains: the same nodes in chains of the same sizes (each node
 * referring to the next), their heads held by one tuple (a list in
 * CPython); the time is that of dropping the tuple, after which every node
 * has died by its count (checked: nothing stays tracked). Rows add glibc
 * malloc/free walking and freeing the same chains of 48-byte blocks.
 *
 * Automatic collection is off while the graphs are built, on both sides.
 * One thread.
 */
#include "gc_bench.h"

#include "bench_util.h"

#include <string.h>

/* Ring @k's size: min, min + 1, ..., max, min, ... */
static size_t ring_size(size_t k, size_t min, size_t max) { return min + k % (max - min + 1); }

/* Make @n nodes in rings, all unreachable once this returns. */
static void rcgc_make_rings(size_t n, size_t min, size_t max, rcgc_object **ring) {
    size_t made = 0;
    for (size_t k = 0; made < n; k++) {
        size_t size = ring_size(k, min, max);
        if (size > n - made)
            size = n - made;
        for (size_t j = 0; j < size; j++)
            ring[j] = gc_bench_node_new();
        for (size_t j = 0; j < size; j++) {
            rcgc_object *next = ring[(j + 1) % size], *previous = ring[(j + size - 1) % size];
            rcgc_incref(next);
            rcgc_incref(previous);
            model_slot_fill(ring[j], 0, next);
            model_slot_fill(ring[j], 1, previous);
        }
        for (size_t j = 0; j < size; j++)
            rcgc_decref(ring[j]); /* alive only through the ring now */
        made += size;
    }
}

/* --shape chains: @n nodes in chains held by one tuple; returns the
 * tuple. */
static rcgc_object *rcgc_make_chains(size_t n, size_t min, size_t max) {
    size_t chains = 0;
    for (size_t made = 0; made < n; chains++)
        made += ring_size(chains, min, max);
    rcgc_object *heads = gc_bench_tuple_new(chains);
    size_t made = 0;
    for (size_t k = 0; k < chains; k++) {
        size_t size = ring_size(k, min, max);
        if (size > n - made)
            size = n - made;
        /* Built tail first, each node taking over the reference to the
         * next one: a chain holds exactly one reference per link. */
        rcgc_object *next = NULL;
        for (size_t j = 0; j < size; j++) {
            rcgc_object *node = gc_bench_node_new();
            if (next != NULL)
                model_slot_fill(node, 0, next);
            next = node;
        }
        model_tuple_fill(heads, k, next);
        made += size;
    }
    return heads;
}

static double rcgc_chains_run(size_t n, size_t min, size_t max) {
    rcgc_object *heads = rcgc_make_chains(n, min, max);
    uint64_t t0 = bench_now_ns();
    rcgc_decref(heads);
    uint64_t t1 = bench_now_ns();
    size_t left = gc_bench_tracked();
    if (left != 0) {
        fprintf(stderr, "gc_cycles: %zu tracked objects left after the chains were dropped\n",
                left);
        exit(1);
    }
    return (double)(t1 - t0) / (double)n;
}

/* The malloc/free peer of --shape chains: 48-byte blocks, like rcgc's
 * nodes, freed by walking each chain. */
struct cnode {
    struct cnode *next;
    char payload[40];
};

static double malloc_chains_run(size_t n, size_t min, size_t max) {
    size_t chains = 0;
    for (size_t made = 0; made < n; chains++)
        made += ring_size(chains, min, max);
    struct cnode **heads = malloc(chains * sizeof *heads);
    if (heads == NULL)
        exit(1);
    size_t made = 0;
    for (size_t k = 0; k < chains; k++) {
        size_t size = ring_size(k, min, max);
        if (size > n - made)
            size = n - made;
        struct cnode *next = NULL;
        for (size_t j = 0; j < size; j++) {
            struct cnode *node = malloc(sizeof *node);
            if (node == NULL)
                exit(1);
            memset(node, 0, sizeof *node);
            node->next = next;
            next = node;
        }
        heads[k] = next;
        made += size;
    }
    uint64_t t0 = bench_now_ns();
    for (size_t k = 0; k < chains; k++)
        for (struct cnode *node = heads[k], *next; node != NULL; node = next) {
            next = node->next;
            free(node);
        }
    uint64_t t1 = bench_now_ns();
    free(heads);
    return (double)(t1 - t0) / (double)n;
}

static double rcgc_run(size_t n, size_t min, size_t max, rcgc_object **ring) {
    rcgc_make_rings(n, min, max, ring);
    uint64_t t0 = bench_now_ns();
    ptrdiff_t found = rcgc_collect(RCGC_GENERATIONS - 1);
    uint64_t t1 = bench_now_ns();
    if (found != (ptrdiff_t)n) {
        fprintf(stderr, "gc_cycles: rcgc_collect(2) found %td unreachable objects, expected %zu\n",
                found, n);
        exit(1);
    }
    return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv) {
    long long objects = 1000000, runs = 5, min = 2, max = 10;
    bool chains = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc &&
            (strcmp(argv[i + 1], "rings") == 0 || strcmp(argv[i + 1], "chains") == 0)) {
            chains = strcmp(argv[++i], "chains") == 0;
            continue;
        }
        if (!bench_opt_int(argc, argv, &i, "--objects", 1, 1LL << 32, &objects) &&
            !bench_opt_int(argc, argv, &i, "--runs", 1, 1000, &runs) &&
            !bench_opt_int(argc, argv, &i, "--min-ring", 1, 100000, &min) &&
            !bench_opt_int(argc, argv, &i, "--max-ring", 1, 100000, &max) &&
            !gc_bench_common_opt(argc, argv, &i))
            bench_usage_error(argv[0], argv[i]);
    }
    if (max < min) {
        fprintf(stderr, "%s: --max-ring %lld is below --min-ring %lld\n", argv[0], max, min);
        return 2;
    }

    enum { PY_DICT, PY_SLOTS, MALLOC, RCGC, ROWS };
    struct gc_bench_row rows[ROWS] = {[PY_DICT] = {.name = "CPython"},
                                      [PY_SLOTS] = {.name = "CPython __slots__"},
                                      [MALLOC] = {.name = "glibc malloc/free"},
                                      [RCGC] = {.name = "rcgc"}};
    if (!chains)
        rows[MALLOC].skipped = "skipped: rings need a collector";
    char py_name[2][64];
    static const char *const keys[] = {"ns_per_object"};
    for (int slots = 0; slots <= 1; slots++) {
        char args[256];
        snprintf(args, sizeof args,
                 "--objects %lld --runs %lld --slots %d --min-ring %lld --max-ring %lld --shape %s",
                 objects, runs, slots, min, max, chains ? "chains" : "rings");
        gc_bench_python("gc_cycles.py", args, keys, &rows[PY_DICT + slots].samples, 1,
                        &rows[PY_DICT + slots].skipped);
        snprintf(py_name[slots], sizeof py_name[slots], "CPython %s%s", gc_bench_python_version,
                 slots ? " __slots__" : "");
        rows[PY_DICT + slots].name = py_name[slots];
    }

    if (rcgc_thread_attach() != 0)
        return 1;
    rcgc_disable();
    rcgc_object **ring = malloc((size_t)max * sizeof *ring);
    if (ring == NULL)
        return 1;
    size_t n = (size_t)objects, lo = (size_t)min, hi = (size_t)max;
    /* Run 0 warms up: the pools exist. */
    for (long long r = 0; r <= runs; r++) {
        if (chains) {
            double freed = malloc_chains_run(n, lo, hi);
            double dropped = rcgc_chains_run(n, lo, hi);
            if (r > 0) {
                gc_bench_push(&rows[MALLOC].samples, freed);
                gc_bench_push(&rows[RCGC].samples, dropped);
            }
            continue;
        }
        double collected = rcgc_run(n, lo, hi, ring);
        if (r > 0)
            gc_bench_push(&rows[RCGC].samples, collected);
    }

    char count[32], title[256];
    gc_bench_format_count(count, sizeof count, objects);
    if (chains)
        snprintf(title, sizeof title,
                 "bench/gc_cycles: %s objects in chains of %lld-%lld, dropped, freed by their "
                 "counts",
                 count, min, max);
    else
        snprintf(title, sizeof title,
                 "bench/gc_cycles: %s objects in rings of %lld-%lld, all garbage, one full "
                 "collection",
                 count, min, max);
    struct gc_bench_table table = {title, "ns/freed", true};
    gc_bench_table(&table, rows, ROWS, PY_DICT);
    gc_bench_reproduce(argc, argv);
    bench_result(gc_bench_summary(&rows[RCGC].samples).median, "ns/freed", true);
    free(ring);
    rcgc_thread_detach();
    return 0;
}
