/* bench/gc/gc_cycles.c - how fast the collector frees garbage cycles.
 *
 * Each run makes N nodes in rings of 2 to 10 (sizes in turn: 2, 3, ..., 10,
 * 2, ...), each node referring to the next and the previous one, drops
 * every outside reference, and times one full collection, which must find
 * exactly N objects (else exits 1). The time covers finding them, running
 * their clear hooks and freeing them: ns per freed object. Rows: rcgc's
 * rcgc_collect(2) and CPython's gc.collect() on the same rings of
 * instances, with a dict and with __slots__ (bench/gc_cycles.py). Automatic
 * collection is off while the rings are built, on both sides. One thread.
 */
#include "gc_bench.h"

#include "bench_util.h"

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
    for (int i = 1; i < argc; i++)
        if (!bench_opt_int(argc, argv, &i, "--objects", 1, 1LL << 32, &objects) &&
            !bench_opt_int(argc, argv, &i, "--runs", 1, 1000, &runs) &&
            !bench_opt_int(argc, argv, &i, "--min-ring", 1, 100000, &min) &&
            !bench_opt_int(argc, argv, &i, "--max-ring", 1, 100000, &max) &&
            !gc_bench_common_opt(argc, argv, &i))
            bench_usage_error(argv[0], argv[i]);
    if (max < min) {
        fprintf(stderr, "%s: --max-ring %lld is below --min-ring %lld\n", argv[0], max, min);
        return 2;
    }

    enum { PY_DICT, PY_SLOTS, RCGC, ROWS };
    struct gc_bench_row rows[ROWS] = {[PY_DICT] = {.name = "CPython"},
                                      [PY_SLOTS] = {.name = "CPython __slots__"},
                                      [RCGC] = {.name = "rcgc"}};
    char py_name[2][64];
    static const char *const keys[] = {"ns_per_object"};
    for (int slots = 0; slots <= 1; slots++) {
        char args[256];
        snprintf(args, sizeof args,
                 "--objects %lld --runs %lld --slots %d --min-ring %lld --max-ring %lld", objects,
                 runs, slots, min, max);
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
    rcgc_run((size_t)objects, (size_t)min, (size_t)max, ring); /* warm-up: pools exist */
    for (long long r = 0; r < runs; r++)
        gc_bench_push(&rows[RCGC].samples,
                      rcgc_run((size_t)objects, (size_t)min, (size_t)max, ring));

    char count[32], title[256];
    gc_bench_format_count(count, sizeof count, objects);
    snprintf(title, sizeof title,
             "bench/gc_cycles: %s objects in rings of %lld-%lld, all garbage, one full collection",
             count, min, max);
    struct gc_bench_table table = {title, "ns/freed", true};
    gc_bench_table(&table, rows, ROWS, PY_DICT);
    gc_bench_reproduce(argc, argv);
    bench_result(gc_bench_summary(&rows[RCGC].samples).median, "ns/freed", true);
    free(ring);
    rcgc_thread_detach();
    return 0;
}
