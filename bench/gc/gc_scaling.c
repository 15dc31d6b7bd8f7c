/* bench/gc/gc_scaling.c - does object churn with the collector on scale from
 * one thread to two?
 *
 * Each thread, on its own objects, repeats --iterations times: build a tree
 * of --depth bottom up and drop it, then make --cycles 2-node cycles and
 * drop them. Nothing is shared but what the implementation shares: rcgc's
 * collector stops every thread for each collection (default thresholds), so
 * its generation-0 runs are serial work; Boehm's collector stops the world
 * too (and marks in parallel); malloc/free frees each tree by a walk and
 * each cycle by hand, the scaling ceiling of the machine. Each
 * configuration runs with 1 thread, then with 2, each thread doing the same
 * work; throughput is objects made by all threads over the wall time
 * between the start barrier and the last thread's finish. Reports both
 * throughputs and their ratio per run (the speed-up). CPython is left out:
 * its GIL lets one thread run at a time.
 */
#include "gc_bench.h"

#include "bench_util.h"

#include <pthread.h>
#include <string.h>

enum impl { IMPL_MALLOC, IMPL_BOEHM, IMPL_RCGC, IMPLS };

struct work {
    enum impl impl;
    long long iterations;
    int depth, cycles;
    pthread_barrier_t *start;
};

struct worker {
    pthread_t thread;
    const struct work *work;
    uint64_t t0, t1;
};

/* ----------------------------------------------------------- malloc/free */

struct cnode {
    struct cnode *left, *right;
    long type;
};

static struct cnode *cnode_new(struct cnode *left, struct cnode *right) {
    struct cnode *n = malloc(sizeof *n);
    if (n == NULL)
        exit(1);
    *n = (struct cnode){left, right, 0};
    return n;
}

static struct cnode *malloc_tree(int depth) {
    if (depth <= 0)
        return cnode_new(NULL, NULL);
    struct cnode *left = malloc_tree(depth - 1);
    return cnode_new(left, malloc_tree(depth - 1));
}

static void malloc_free_tree(struct cnode *n) {
    if (n->left != NULL) {
        malloc_free_tree(n->left);
        malloc_free_tree(n->right);
    }
    free(n);
}

/* Stores through a volatile pointer publish each block, so the compiler
 * cannot pair a malloc with its free and drop both. */
static _Thread_local struct cnode *volatile malloc_sink;

static void malloc_loop(const struct work *w) {
    for (long long i = 0; i < w->iterations; i++) {
        struct cnode *tree = malloc_tree(w->depth);
        malloc_sink = tree;
        malloc_free_tree(tree);
        for (int c = 0; c < w->cycles; c++) {
            struct cnode *x = cnode_new(NULL, NULL), *y = cnode_new(x, NULL);
            x->left = y;
            malloc_sink = x;
            free(y); /* a cycle under malloc/free: broken by hand */
            free(x);
        }
    }
    malloc_sink = NULL;
}

/* ------------------------------------------------------------------ Boehm */

#if RCGC_BENCH_HAVE_BOEHM
static struct cnode *boehm_new(struct cnode *left, struct cnode *right) {
    struct cnode *n = GC_MALLOC(sizeof *n);
    if (n == NULL)
        exit(1);
    n->left = left;
    n->right = right;
    return n;
}

static struct cnode *boehm_tree(int depth) {
    if (depth <= 0)
        return boehm_new(NULL, NULL);
    struct cnode *left = boehm_tree(depth - 1);
    return boehm_new(left, boehm_tree(depth - 1));
}

static _Thread_local struct cnode *volatile boehm_sink;

static void boehm_loop(const struct work *w) {
    for (long long i = 0; i < w->iterations; i++) {
        boehm_sink = boehm_tree(w->depth);
        for (int c = 0; c < w->cycles; c++) {
            struct cnode *x = boehm_new(NULL, NULL);
            x->left = boehm_new(x, NULL);
            boehm_sink = x;
        }
    }
    boehm_sink = NULL;
}
#endif

/* ------------------------------------------------------------------- rcgc */

static void rcgc_loop(const struct work *w) {
    for (long long i = 0; i < w->iterations; i++) {
        rcgc_decref(gc_bench_make_tree(w->depth));
        for (int c = 0; c < w->cycles; c++)
            gc_bench_make_dropped_cycle();
    }
}

/* ------------------------------------------------------------------- runs */

static void *worker_main(void *arg) {
    struct worker *me = arg;
    const struct work *w = me->work;
#if RCGC_BENCH_HAVE_BOEHM
    struct GC_stack_base base;
    if (w->impl == IMPL_BOEHM) {
        GC_get_stack_base(&base);
        GC_register_my_thread(&base);
    }
#endif
    if (w->impl == IMPL_RCGC && rcgc_thread_attach() != 0)
        exit(1);
    /* Blocked while waiting: a collection started by a thread that is
     * already past the barrier must not wait for this one. */
    rcgc_blocking_begin();
    pthread_barrier_wait(w->start);
    rcgc_blocking_end();
    me->t0 = bench_now_ns();
    switch (w->impl) {
    case IMPL_MALLOC:
        malloc_loop(w);
        break;
    case IMPL_BOEHM:
#if RCGC_BENCH_HAVE_BOEHM
        boehm_loop(w);
#endif
        break;
    case IMPL_RCGC:
        rcgc_loop(w);
        break;
    case IMPLS:
        break;
    }
    me->t1 = bench_now_ns();
    if (w->impl == IMPL_RCGC)
        rcgc_thread_detach();
#if RCGC_BENCH_HAVE_BOEHM
    if (w->impl == IMPL_BOEHM)
        GC_unregister_my_thread();
#endif
    return NULL;
}

/* rcgc's collector during the counted runs of one thread count: how many
 * collections, how long the world stood stopped, and the runs' wall time. */
struct rcgc_account {
    uint64_t collections, stopped_ns, wall_ns;
};

/* One run of @threads threads; returns millions of objects per second and,
 * for rcgc with @account, adds its collector's figures. */
static double run(enum impl impl, int threads, long long iterations, int depth, int cycles,
                  struct rcgc_account *account) {
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    struct work w = {impl, iterations, depth, cycles, &start};
    struct worker workers[2];
    for (int t = 0; t < threads; t++) {
        workers[t].work = &w;
        if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0) {
            fprintf(stderr, "gc_scaling: pthread_create failed\n");
            exit(1);
        }
    }
    uint64_t t0 = UINT64_MAX, t1 = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(workers[t].thread, NULL);
        t0 = workers[t].t0 < t0 ? workers[t].t0 : t0;
        t1 = workers[t].t1 > t1 ? workers[t].t1 : t1;
    }
    pthread_barrier_destroy(&start);
    rcgc_get_stats(after);
    if (impl == IMPL_RCGC && account != NULL) {
        for (int g = 0; g < RCGC_GENERATIONS; g++) {
            account->collections += after[g].collections - before[g].collections;
            account->stopped_ns += after[g].total_pause_ns - before[g].total_pause_ns;
        }
        account->wall_ns += t1 - t0;
    }
    double objects =
        (double)threads * (double)iterations * (double)((2LL << depth) - 1 + 2LL * cycles);
    return objects / (double)(t1 - t0) * 1e3;
}

int main(int argc, char **argv) {
    long long iterations = 100000, depth = 6, cycles = 8, runs = 5;
    /* --only malloc|boehm|rcgc: one implementation, for a profiler. */
    static const char *const keys[IMPLS] = {"malloc", "boehm", "rcgc"};
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
            continue;
        }
        if (!bench_opt_int(argc, argv, &i, "--iterations", 1, 1LL << 40, &iterations) &&
            !bench_opt_int(argc, argv, &i, "--depth", 0, 20, &depth) &&
            !bench_opt_int(argc, argv, &i, "--cycles", 0, 1000000, &cycles) &&
            !bench_opt_int(argc, argv, &i, "--runs", 1, 1000, &runs) &&
            !gc_bench_common_opt(argc, argv, &i))
            bench_usage_error(argv[0], argv[i]);
    }

    const char *names[IMPLS] = {"glibc malloc/free", "Boehm", "rcgc"};
    bool ran[IMPLS] = {true, RCGC_BENCH_HAVE_BOEHM != 0, true};
    for (int m = 0; m < IMPLS && only != NULL; m++)
        ran[m] = ran[m] && strcmp(only, keys[m]) == 0;
#if RCGC_BENCH_HAVE_BOEHM
    names[IMPL_BOEHM] = gc_bench_boehm_init();
#endif
    struct gc_bench_samples tp[IMPLS][2], speedup[IMPLS];
    struct rcgc_account account[2] = {{0, 0, 0}, {0, 0, 0}};
    memset(tp, 0, sizeof tp);
    memset(speedup, 0, sizeof speedup);
    for (long long r = 0; r <= runs; r++) { /* run 0 warms the heaps up */
        for (int m = 0; m < IMPLS; m++) {
            if (!ran[m])
                continue;
            double one = run((enum impl)m, 1, iterations, (int)depth, (int)cycles,
                             r > 0 ? &account[0] : NULL);
            double two = run((enum impl)m, 2, iterations, (int)depth, (int)cycles,
                             r > 0 ? &account[1] : NULL);
            if (r == 0)
                continue;
            gc_bench_push(&tp[m][0], one);
            gc_bench_push(&tp[m][1], two);
            gc_bench_push(&speedup[m], two / one);
        }
    }

    /* The garbage cycles the last runs left below the threshold; after a
     * full collection nothing may remain. */
    rcgc_thread_attach();
    rcgc_collect(RCGC_GENERATIONS - 1);
    size_t left = gc_bench_tracked();
    rcgc_thread_detach();
    if (left != 0) {
        fprintf(stderr, "gc_scaling: %zu tracked objects survive a full collection\n", left);
        return 1;
    }

    char title[256], count[32];
    gc_bench_format_count(count, sizeof count, iterations);
    snprintf(title, sizeof title,
             "bench/gc_scaling: per thread %s x (a tree of %lld nodes + %lld 2-node cycles), "
             "1 vs 2 threads",
             count, (2LL << depth) - 1, cycles);
    printf("%s, median of %lld, commit %s\n", title, runs, gc_bench_commit());
    printf("%-26s  %-24s  %-24s  %s\n", "impl", "1 thread Mobj/s", "2 threads Mobj/s",
           "speed-up 2 vs 1 (higher = better)");
    for (int m = 0; m < IMPLS; m++) {
        if (!ran[m]) {
            printf("%-26s  skipped: %s\n", names[m], only ? "--only" : "built without bdw-gc");
            continue;
        }
        char cells[3][128];
        struct bench_summary s[3] = {gc_bench_summary(&tp[m][0]), gc_bench_summary(&tp[m][1]),
                                     gc_bench_summary(&speedup[m])};
        for (int c = 0; c < 3; c++)
            gc_bench_format_cell(cells[c], sizeof cells[c], s[c], c == 2 ? "x" : "");
        printf("%-26s  %-24s  %-24s  %s\n", names[m], cells[0], cells[1], cells[2]);
        /* CSV ratios: against malloc/free's figure for the same column. */
        struct bench_summary base[3] = {gc_bench_summary(&tp[0][0]), gc_bench_summary(&tp[0][1]),
                                        gc_bench_summary(&speedup[0])};
        static const char *const what[3] = {"bench/gc_scaling: Mobj/s, 1 thread",
                                            "bench/gc_scaling: Mobj/s, 2 threads",
                                            "bench/gc_scaling: speed-up 2 vs 1 thread"};
        for (int c = 0; c < 3; c++)
            gc_bench_csv(what[c], names[m], s[c],
                         base[c].median > 0 ? s[c].median / base[c].median : 0.0);
    }
    for (int t = 0; t < 2 && ran[IMPL_RCGC]; t++)
        printf(
            "rcgc, %d thread%s: %.0f collections per run, world stopped %.1f%% of the wall time\n",
            t + 1, t ? "s" : "", (double)account[t].collections / (double)runs,
            account[t].wall_ns ? 100.0 * (double)account[t].stopped_ns / (double)account[t].wall_ns
                               : 0.0);
    gc_bench_reproduce(argc, argv);
    bench_result(gc_bench_summary(&speedup[IMPL_RCGC]).median, "x", false);
    return 0;
}
