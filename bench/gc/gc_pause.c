/* bench/gc/gc_pause.c - the pauses a program sees from young collections.
 *
 * 1M long-lived tracked objects (gc_full's graph, built with the collector
 * on, then collected once so they sit in the oldest generation); then one
 * thread makes 2-node cycles and drops them as fast as it can for
 * --seconds, under the default thresholds (700, 10, 10), so the collector
 * runs on its own. A callback records every collection: for rcgc,
 * info.pause_ns (the world stopped) and info.elapsed_ns (the whole
 * collection, clears and frees included); for CPython (bench/gc_pause.py,
 * the same loop over instances) the time between gc.callbacks' start and
 * stop, during which it holds the GIL, so its pause is its elapsed time.
 * Reports the percentiles of generation-0 pauses pooled over --runs loops,
 * the largest pause of any generation, and the collector's share of the
 * loop's wall time (sum of elapsed / wall, median over runs).
 */
#include "gc_bench.h"

#include "bench_util.h"

#include <string.h>
#include <sys/stat.h>

/* What the callback records; only the main thread runs collections here. */
struct pause_log {
    bool on;
    struct gc_bench_samples pause[RCGC_GENERATIONS];   /* ns */
    struct gc_bench_samples elapsed[RCGC_GENERATIONS]; /* ns */
    double elapsed_sum;                                /* ns, this loop */
};

/* With RCGC_GC_OLD=incremental a full collection's pauses are its stops
 * (RCGC_GC_INCREMENT), not the sum its stop callback reports. */
static void on_collection(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg) {
    struct pause_log *log = arg;
    if (phase == RCGC_GC_START || !log->on)
        return;
    int g = info->generation < 0                   ? 0
            : info->generation >= RCGC_GENERATIONS ? RCGC_GENERATIONS - 1
                                                   : info->generation;
    if (phase == RCGC_GC_STOP && g == RCGC_GENERATIONS - 1 &&
        rcgc_get_old_collection() == RCGC_OLD_INCREMENTAL)
        return;
    if (phase == RCGC_GC_INCREMENT) {
        gc_bench_push(&log->pause[g], (double)info->pause_ns);
        log->elapsed_sum += (double)info->pause_ns;
        return;
    }
    gc_bench_push(&log->pause[g], (double)info->pause_ns);
    gc_bench_push(&log->elapsed[g], (double)info->elapsed_ns);
    log->elapsed_sum += (double)info->elapsed_ns;
}

/* The long-lived graph: a list of @n nodes, node i -> 2i+1, 2i+2 (mod n). */
static rcgc_object *build_long_lived(size_t n) {
    rcgc_object *list = gc_bench_tuple_new(n);
    for (size_t i = 0; i < n; i++)
        model_tuple_fill(list, i, gc_bench_node_new());
    for (size_t i = 0; i < n; i++) {
        rcgc_object *node = model_tuple_get(list, i);
        rcgc_object *a = model_tuple_get(list, (2 * i + 1) % n);
        rcgc_object *b = model_tuple_get(list, (2 * i + 2) % n);
        rcgc_incref(a);
        rcgc_incref(b);
        model_slot_fill(node, 0, a);
        model_slot_fill(node, 1, b);
    }
    return list;
}

/* Make and drop 2-node cycles for @seconds; returns the wall time in ns
 * and the number of cycles in *@cycles. The clock is read every 256. */
static uint64_t churn(double seconds, long long *cycles) {
    uint64_t t0 = bench_now_ns(), now;
    uint64_t deadline = t0 + (uint64_t)(seconds * 1e9);
    long long made = 0;
    do {
        for (int k = 0; k < 256; k++)
            gc_bench_make_dropped_cycle();
        made += 256;
        now = bench_now_ns();
    } while (now < deadline);
    *cycles = made;
    return now - t0;
}

/* The distribution of generation-0 pauses for the suite's chart: "us
 * fraction" lines, fraction = share of collections at or below us, at most
 * 1000 points spread evenly over the ranks, the largest pause included. */
static void dump_pauses(const char *dir, const char *impl, struct gc_bench_samples *s) {
    char path[4096], what[128];
    snprintf(path, sizeof path, "%s/gc_pause_%s.dat", dir, impl);
    snprintf(what, sizeof what,
             "%s: generation-0 pause (us), fraction of collections at or below it", impl);
    gc_bench_write_distribution(path, what, s, 1000.0);
}

/* One implementation's results. */
struct side {
    struct gc_bench_samples pause[RCGC_GENERATIONS], elapsed[RCGC_GENERATIONS];
    struct gc_bench_samples share, ns_per_cycle; /* one per run */
    double seconds;                              /* loop time, all runs */
    bool ok;
};

enum { METRICS = 11 };

/* Row @m of the table for side @s: the value, with *@spread set for
 * per-run metrics (p25-p75), NaN when the metric does not apply. */
static double metric(struct side *s, int m, struct bench_summary *spread) {
    *spread = (struct bench_summary){0, 0, 0};
    double max_any = 0;
    switch (m) {
    case 0:
        return gc_bench_quantile(&s->pause[0], 0.50) / 1000.0;
    case 1:
        return gc_bench_quantile(&s->pause[0], 0.99) / 1000.0;
    case 2:
        return gc_bench_max(&s->pause[0]) / 1000.0;
    case 3:
        return gc_bench_quantile(&s->elapsed[0], 0.50) / 1000.0;
    case 4:
        return gc_bench_quantile(&s->elapsed[0], 0.99) / 1000.0;
    case 5:
        for (int g = 0; g < RCGC_GENERATIONS; g++)
            max_any = gc_bench_max(&s->pause[g]) > max_any ? gc_bench_max(&s->pause[g]) : max_any;
        return max_any / 1000.0;
    case 6:
        *spread = gc_bench_summary(&s->share);
        return spread->median;
    case 7:
        *spread = gc_bench_summary(&s->ns_per_cycle);
        return spread->median;
    default:
        return (double)s->pause[m - 8].count / s->seconds;
    }
}

static const char *const metric_names[METRICS] = {
    "gen-0 pause p50 (us)",   "gen-0 pause p99 (us)",     "gen-0 pause max (us)",
    "gen-0 elapsed p50 (us)", "gen-0 elapsed p99 (us)",   "max pause, any gen (us)",
    "collector share (%)",    "ns per cycle (2 objects)", "gen-0 collections/s",
    "gen-1 collections/s",    "gen-2 collections/s"};

static void print_table(const char *title, const char *names[2], struct side sides[2]) {
    printf("%s, commit %s\n", title, gc_bench_commit());
    printf("%-26s  %-24s  %-24s  %s vs %s (lower = better)\n", "metric", names[0], names[1],
           names[1], names[0]);
    for (int m = 0; m < METRICS; m++) {
        char cell[2][128], ratio[32] = "";
        double v[2] = {0, 0};
        struct bench_summary spread[2];
        bool per_run = m == 6 || m == 7; /* the others pool every collection */
        for (int k = 0; k < 2; k++) {
            snprintf(cell[k], sizeof cell[k], "-");
            if (!sides[k].ok)
                continue;
            v[k] = metric(&sides[k], m, &spread[k]);
            if (!per_run)
                spread[k] = (struct bench_summary){v[k], v[k], v[k]};
            char a[32], lo[32], hi[32];
            bench_format_number(a, sizeof a, v[k]);
            bench_format_number(lo, sizeof lo, spread[k].p25);
            bench_format_number(hi, sizeof hi, spread[k].p75);
            if (per_run)
                snprintf(cell[k], sizeof cell[k], "%s (%s-%s)", a, lo, hi);
            else
                snprintf(cell[k], sizeof cell[k], "%s", a);
        }
        bool both = sides[0].ok && sides[1].ok && v[0] > 0;
        if (both && m < 8)
            snprintf(ratio, sizeof ratio, "%.2fx", v[1] / v[0]);
        printf("%-26s  %-24s  %-24s  %s\n", metric_names[m], cell[0], cell[1], ratio);
        char bench[256];
        snprintf(bench, sizeof bench, "bench/gc_pause: %s", metric_names[m]);
        for (int k = 0; k < 2; k++)
            if (sides[k].ok)
                gc_bench_csv(bench, names[k], spread[k], both ? v[k] / v[0] : 0.0);
    }
    fflush(stdout);
}

int main(int argc, char **argv) {
    long long objects = 1000000, runs = 3, seconds = 2;
    const char *dump = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
            dump = argv[++i];
            continue;
        }
        if (!bench_opt_int(argc, argv, &i, "--objects", 0, 1LL << 32, &objects) &&
            !bench_opt_int(argc, argv, &i, "--runs", 1, 1000, &runs) &&
            !bench_opt_int(argc, argv, &i, "--seconds", 1, 3600, &seconds) &&
            !gc_bench_common_opt(argc, argv, &i))
            bench_usage_error(argv[0], argv[i]);
    }
    if (dump != NULL)
        mkdir(dump, 0777);
    enum { PY, RCGC };
    struct side sides[2];
    memset(sides, 0, sizeof sides);

    /* CPython: one interpreter builds the long-lived graph and runs every
     * loop; it prints one sample per collection and two per loop. */
    static const char *const keys[] = {"pause0", "pause1",       "pause2",
                                       "share",  "ns_per_cycle", "seconds"};
    struct gc_bench_samples out[6];
    memset(out, 0, sizeof out);
    char args[256];
    const char *why = NULL;
    snprintf(args, sizeof args, "--objects %lld --runs %lld --seconds %lld", objects, runs,
             seconds);
    if (gc_bench_python("gc_pause.py", args, keys, out, 6, &why) == 0 && out[3].count > 0) {
        for (int g = 0; g < RCGC_GENERATIONS; g++) /* the GIL: a pause is the elapsed time */
            sides[PY].pause[g] = sides[PY].elapsed[g] = out[g];
        sides[PY].share = out[3];
        sides[PY].ns_per_cycle = out[4];
        sides[PY].seconds = gc_bench_sum(&out[5]);
        sides[PY].ok = true;
    } else {
        fprintf(stderr, "gc_pause: CPython %s\n", why ? why : "printed no loop");
    }

    if (rcgc_thread_attach() != 0)
        return 1;
    rcgc_set_threshold(700, 10, 10);
    rcgc_enable();
    rcgc_object *list = build_long_lived((size_t)objects);
    rcgc_collect(RCGC_GENERATIONS - 1);
    struct pause_log log;
    memset(&log, 0, sizeof log);
    for (int g = 0; g < RCGC_GENERATIONS; g++) {
        gc_bench_reserve(&log.pause[g], 1 << 16);
        gc_bench_reserve(&log.elapsed[g], 1 << 16);
    }
    if (rcgc_callback_add_increments(on_collection, &log) != 0)
        return 1;
    for (long long r = 0; r < runs; r++) {
        long long cycles;
        log.elapsed_sum = 0;
        log.on = true;
        uint64_t wall = churn((double)seconds, &cycles);
        log.on = false;
        gc_bench_push(&sides[RCGC].share, 100.0 * log.elapsed_sum / (double)wall);
        gc_bench_push(&sides[RCGC].ns_per_cycle, (double)wall / (double)cycles);
        sides[RCGC].seconds += (double)wall / 1e9;
    }
    rcgc_callback_remove(on_collection, &log);
    for (int g = 0; g < RCGC_GENERATIONS; g++) {
        sides[RCGC].pause[g] = log.pause[g];
        sides[RCGC].elapsed[g] = log.elapsed[g];
    }
    sides[RCGC].ok = true;

    char count[32], title[256], py_name[64];
    gc_bench_format_count(count, sizeof count, objects);
    unsigned thresholds[RCGC_GENERATIONS];
    rcgc_get_threshold(thresholds);
    snprintf(title, sizeof title,
             "bench/gc_pause: %s long-lived objects, 1 thread making 2-node cycles, thresholds "
             "(%u,%u,%u), %lld x %lld s",
             count, thresholds[0], thresholds[1], thresholds[2], runs, seconds);
    snprintf(py_name, sizeof py_name, "CPython %s", gc_bench_python_version);
    const char *names[2] = {py_name, "rcgc"};
    print_table(title, names, sides);
    gc_bench_reproduce(argc, argv);
    if (dump != NULL) {
        if (sides[PY].ok)
            dump_pauses(dump, "cpython", &sides[PY].pause[0]);
        dump_pauses(dump, "rcgc", &sides[RCGC].pause[0]);
    }
    bench_result(gc_bench_quantile(&sides[RCGC].pause[0], 0.99) / 1000.0, "us-p99", true);
    rcgc_decref(list);
    rcgc_thread_detach();
    return 0;
}
