/* bench/gc/gc_bench.h - what the collector benchmarks (bench/gc/gc_*.c) share:
 * the node class they build graphs from, growable sample arrays, the
 * table and CSV every benchmark prints (bench/README.md), and the runner of
 * the CPython peers (bench/gc/gc_*.py).
 *
 * Thread model: the types may be used from any attached thread; samples,
 * tables and the Python runner belong to the main thread.
 *
 * Usage:
 *     struct gc_bench_row rows[2] = {{.name = "CPython"}, {.name = "rcgc"}};
 *     static const char *const keys[] = {"ns_per_object"};
 *     gc_bench_python("gc_full.py", "--objects 1000", keys, &rows[0].samples, 1,
 *                     &rows[0].skipped);
 *     gc_bench_push(&rows[1].samples, ns_per_object);
 *     struct gc_bench_table table = {"bench/gc_full: 1k", "ns/object", true};
 *     gc_bench_table(&table, rows, 2, 0);   // ratios against CPython's row
 */
#ifndef RCGC_BENCH_GC_BENCH_H
#define RCGC_BENCH_GC_BENCH_H

#include "bench_stats.h"
#include "model.h"

#include <rcgc.h>

/* Boehm GC, the tracing peer: 1 when bench/CMakeLists.txt found bdw-gc.
 * GC_THREADS declares thread registration; GC_NO_THREAD_REDIRECTS leaves
 * pthread_create alone, so Boehm's signals stop only the workers that
 * register themselves, never rcgc's threads. */
#ifndef RCGC_BENCH_HAVE_BOEHM
#define RCGC_BENCH_HAVE_BOEHM 0
#endif
#if RCGC_BENCH_HAVE_BOEHM
#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc/gc.h>
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------ Object types */

/* The benchmarks' graphs are made of the example object model's objects
 * (examples/model/model.h): nodes of a two-slot class and one tuple that
 * holds the live ones (the Python list of the peers' scripts). */

/* A tracked object holding two references in slots 0 and 1: a tree node
 * (left, right), a ring member (next, previous) or a graph vertex. 48
 * bytes, the size of a CPython 3.11 instance with two __slots__ and its GC
 * head, so both sides move the same bytes. Uncounted: the class's
 * counters would be a cache line that gc_scaling's threads all write. */
extern model_class gc_bench_node_class;

/* A new node with one reference and both slots empty; exits on ENOMEM. */
static inline rcgc_object *gc_bench_node_new(void) {
    rcgc_object *node = model_slots_new(&gc_bench_node_class);
    if (node == NULL) {
        perror("gc_bench: rcgc_new");
        exit(1);
    }
    return node;
}

/* Make two nodes that refer to each other and drop them: one 2-node
 * cycle of garbage, as the churn loops make them. */
static inline void gc_bench_make_dropped_cycle(void) {
    rcgc_object *x = gc_bench_node_new(), *y = gc_bench_node_new();
    rcgc_incref(y);
    model_slot_fill(x, 0, y);
    rcgc_incref(x);
    model_slot_fill(y, 0, x);
    rcgc_decref(x);
    rcgc_decref(y);
}

/* A complete tree of @depth built bottom up (children first, then the
 * parent that takes over their references), as GCBench's MakeTree. */
rcgc_object *gc_bench_make_tree(int depth);

/* A new tuple of @len empty items with one reference; exits on ENOMEM. */
rcgc_object *gc_bench_tuple_new(size_t len);

/* Counts tracked objects (rcgc_get_objects over all generations). */
size_t gc_bench_tracked(void);

/* ---------------------------------------------------------------- Samples */

/* A growable array of measurements (one per run, or one per collection). */
struct gc_bench_samples {
    double *v;
    size_t count, cap;
};

/* Append @value; exits on ENOMEM. Never called while the world is stopped. */
void gc_bench_push(struct gc_bench_samples *s, double value);

/* Reserve room for @count more values, so a collector callback never grows
 * the array (and a push never disturbs a timed region). */
void gc_bench_reserve(struct gc_bench_samples *s, size_t count);

/* Median and quartiles of @s (sorted in place); zeros when empty. */
struct bench_summary gc_bench_summary(struct gc_bench_samples *s);

/* The @q quantile of @s (sorted in place; qsort, for thousands of pauses). */
double gc_bench_quantile(struct gc_bench_samples *s, double q);

double gc_bench_max(const struct gc_bench_samples *s);

/* Write @s's distribution to @path for a chart: a "# @what" line, then
 * "value fraction" lines (value = sample / @divisor; fraction = share of
 * samples at or below it), at most 1000 points spread evenly over the
 * ranks, the largest included. Sorts @s; a failure to open is printed. */
void gc_bench_write_distribution(const char *path, const char *what, struct gc_bench_samples *s,
                                 double divisor);
double gc_bench_sum(const struct gc_bench_samples *s);

/* ----------------------------------------------------------------- Tables */

/* One implementation's row: its samples, or why it did not run. */
struct gc_bench_row {
    const char *name;
    struct gc_bench_samples samples;
    const char *skipped; /* non-NULL: printed instead of numbers */
};

/* What a table compares: the header line, the unit and the direction. */
struct gc_bench_table {
    const char *title; /* "bench/gc_full: 1M live objects, ...": CSV key too */
    const char *unit;  /* "ns/object" */
    bool lower_is_better;
};

/**
 * gc_bench_table - Print one table: a header line with the title, the
 * number of runs and the commit, one row per implementation (median,
 * p25-p75, runs, ratio of medians to @baseline's), then append the rows to
 * the CSV file named by --csv, if any.
 */
void gc_bench_table(const struct gc_bench_table *t, struct gc_bench_row *rows, int count,
                    int baseline);

/* Append one CSV line (compare's columns: benchmark,impl,median,p25,p75,
 * ratio,rss_mib; rss_mib left empty) to the --csv file; no-op without one. */
void gc_bench_csv(const char *bench, const char *impl, struct bench_summary s, double ratio);

/* A count as a title shows it: 1M, 4M, 500k, 1234. */
void gc_bench_format_count(char *buf, size_t size, long long n);

/* A summary as a table cell: "median@unit (p25-p75)", e.g. "1.33x (1.24-1.38)". */
void gc_bench_format_cell(char *buf, size_t size, struct bench_summary s, const char *unit);

/* The short hash of the source tree's HEAD, or "unknown". */
const char *gc_bench_commit(void);

/* "reproduce: <argv as given>" on stdout. */
void gc_bench_reproduce(int argc, char **argv);

/* ------------------------------------------------------------- Options */

/* The options every gc benchmark takes: --csv FILE, --python CMD (none: no
 * CPython rows), --boehm-markers N (0: Boehm's default, one per core).
 * Returns true when argv[*i] was one (and steps past it). */
bool gc_bench_common_opt(int argc, char **argv, int *i);

/* ---------------------------------------------------------------- Boehm */

/* Start Boehm GC (once, from the main thread, before any GC_MALLOC) with
 * the --boehm-markers count, and let other threads register. Returns the
 * row label ("Boehm 8.2.2 (2 markers)"), or NULL when the benchmark was
 * built without Boehm. */
const char *gc_bench_boehm_init(void);

/* -------------------------------------------------------- CPython peers */

/* The interpreter's version as the last script reported it ("3.11.7"). */
extern char gc_bench_python_version[32];

/**
 * gc_bench_python - Run `python3 bench/<script> <args>` and collect its
 * samples: every stdout line `bench-sample KEY VALUE` whose KEY is
 * @keys[k] appends VALUE to @out[k]; `bench-python VERSION` sets
 * gc_bench_python_version; other lines are passed to stderr.
 * Returns 0, or -1 (and a reason in @why) when Python is disabled, missing,
 * or exits non-zero. Runs to completion before returning: never concurrent
 * with a measurement of this process.
 */
int gc_bench_python(const char *script, const char *args, const char *const *keys,
                    struct gc_bench_samples *out, int nkeys, const char **why);

#endif /* RCGC_BENCH_GC_BENCH_H */
