/* bench/gc/gc_trees.c - GCBench (Ellis, Kovac, Boehm): binary trees built top
 * down and bottom up beside a long-lived tree, in ns per node.
 *
 * One run: a stretch tree of depth --depth + 2, made and dropped; a
 * long-lived tree of --depth built top down, kept to the end; then for
 * d = 4, 6, ..., --depth, NumIters(d) = 2 * nodes(stretch) / nodes(d) trees
 * built top down (parent first, then its children) and as many bottom up
 * (children first), each dropped at once. GCBench's 500,000-double array is
 * left out: it measures large objects, not the collector. Rows: glibc
 * malloc/free (each tree freed by a walk), Boehm GC (GC_MALLOC, never
 * freed: its collector runs as the heap fills), rcgc (tracked objects with
 * reference counts and the collector on, default thresholds; a tree dies by
 * its count, the collector pays for scanning young objects), rcgc with the
 * collector off, and CPython running the same program (bench/gc_trees.py).
 * Every row builds the same number of nodes. With --threads N (N > 1) the
 * short-lived trees of each depth are split across N threads (the stretch
 * and long-lived trees stay on the first), every C row also runs on one
 * thread in the same round, and a second table gives the speed-up; CPython
 * is left out there (its GIL runs one thread at a time).
 */
#include "gc_bench.h"

#include "bench_util.h"

#include <pthread.h>
#include <string.h>

#define MIN_DEPTH 4

static long long tree_size(int depth) { return (2LL << depth) - 1; }

/* The GCBench schedule's node count for --depth @depth. */
static long long total_nodes(int depth) {
    long long stretch = tree_size(depth + 2), n = stretch + tree_size(depth);
    for (int d = MIN_DEPTH; d <= depth; d += 2)
        n += 2 * (2 * stretch / tree_size(d)) * tree_size(d);
    return n;
}

#define MAX_THREADS 8

/* Every implementation provides these four steps, and what a thread it
 * did not start needs before and after them (NULL: nothing). */
struct impl_ops {
    void *(*make)(int depth);            /* bottom up */
    void *(*populate_new)(int depth);    /* top down from a new node */
    void (*drop)(void *tree);            /* forget it (free, decref, nothing) */
    void (*drop_long_lived)(void *tree); /* after the clock stops */
    void (*thread_begin)(void);
    void (*thread_end)(void);
};

/* The short-lived trees of every depth whose index is @index modulo
 * @threads: thread @index's share of the schedule. */
static void short_lived_share(const struct impl_ops *ops, int depth, int threads, int index) {
    long long stretch = tree_size(depth + 2);
    for (int d = MIN_DEPTH; d <= depth; d += 2) {
        long long iters = 2 * stretch / tree_size(d);
        for (long long i = index; i < iters; i += threads)
            ops->drop(ops->populate_new(d));
        for (long long i = index; i < iters; i += threads)
            ops->drop(ops->make(d));
    }
}

struct helper {
    pthread_t thread;
    const struct impl_ops *ops;
    int depth, threads, index;
};

static void *helper_main(void *arg) {
    const struct helper *h = arg;
    if (h->ops->thread_begin != NULL)
        h->ops->thread_begin();
    short_lived_share(h->ops, h->depth, h->threads, h->index);
    if (h->ops->thread_end != NULL)
        h->ops->thread_end();
    return NULL;
}

/* One GCBench run on @threads threads, in wall-clock ns per node. */
static double gcbench(const struct impl_ops *ops, int depth, int threads) {
    struct helper helpers[MAX_THREADS];
    uint64_t t0 = bench_now_ns();
    ops->drop(ops->make(depth + 2));
    void *long_lived = ops->populate_new(depth);
    for (int t = 1; t < threads; t++) {
        helpers[t] = (struct helper){.ops = ops, .depth = depth, .threads = threads, .index = t};
        if (pthread_create(&helpers[t].thread, NULL, helper_main, &helpers[t]) != 0) {
            fprintf(stderr, "gc_trees: pthread_create failed\n");
            exit(1);
        }
    }
    short_lived_share(ops, depth, threads, 0);
    /* Blocked while joining: a helper's collection must not wait for us. */
    rcgc_blocking_begin();
    for (int t = 1; t < threads; t++)
        pthread_join(helpers[t].thread, NULL);
    rcgc_blocking_end();
    uint64_t t1 = bench_now_ns();
    ops->drop_long_lived(long_lived);
    return (double)(t1 - t0) / (double)total_nodes(depth);
}

/* ----------------------------------------------------------- malloc/free */

/* GCBench's Node: two references and two ints, 24 bytes. */
struct cnode {
    struct cnode *left, *right;
    int i, j;
};

static struct cnode *cnode_new(struct cnode *left, struct cnode *right) {
    struct cnode *n = malloc(sizeof *n);
    if (n == NULL)
        exit(1);
    *n = (struct cnode){left, right, 0, 0};
    return n;
}

static void malloc_populate(int depth, struct cnode *node) {
    if (depth-- <= 0)
        return;
    node->left = cnode_new(NULL, NULL);
    node->right = cnode_new(NULL, NULL);
    malloc_populate(depth, node->left);
    malloc_populate(depth, node->right);
}

static void *malloc_populate_new(int depth) {
    struct cnode *root = cnode_new(NULL, NULL);
    malloc_populate(depth, root);
    return root;
}

static struct cnode *malloc_make_tree(int depth) {
    if (depth <= 0)
        return cnode_new(NULL, NULL);
    struct cnode *left = malloc_make_tree(depth - 1);
    return cnode_new(left, malloc_make_tree(depth - 1));
}

static void *malloc_make(int depth) { return malloc_make_tree(depth); }

static void malloc_free(void *tree) {
    struct cnode *n = tree;
    if (n->left != NULL)
        malloc_free(n->left);
    if (n->right != NULL)
        malloc_free(n->right);
    free(n);
}

static const struct impl_ops malloc_ops = {
    malloc_make, malloc_populate_new, malloc_free, malloc_free, NULL, NULL};

/* ------------------------------------------------------------------ Boehm */

#if RCGC_BENCH_HAVE_BOEHM
static struct cnode *bnode_new(struct cnode *left, struct cnode *right) {
    struct cnode *n = GC_MALLOC(sizeof *n);
    if (n == NULL)
        exit(1);
    n->left = left;
    n->right = right;
    return n;
}

static void boehm_populate(int depth, struct cnode *node) {
    if (depth-- <= 0)
        return;
    node->left = bnode_new(NULL, NULL);
    node->right = bnode_new(NULL, NULL);
    boehm_populate(depth, node->left);
    boehm_populate(depth, node->right);
}

static void *boehm_populate_new(int depth) {
    struct cnode *root = bnode_new(NULL, NULL);
    boehm_populate(depth, root);
    return root;
}

static struct cnode *boehm_make_tree(int depth) {
    if (depth <= 0)
        return bnode_new(NULL, NULL);
    struct cnode *left = boehm_make_tree(depth - 1);
    return bnode_new(left, boehm_make_tree(depth - 1));
}

static void *boehm_make(int depth) { return boehm_make_tree(depth); }

static void boehm_forget(void *tree) { (void)tree; }

static void boehm_thread_begin(void) {
    struct GC_stack_base base;
    GC_get_stack_base(&base);
    GC_register_my_thread(&base);
}

static void boehm_thread_end(void) { GC_unregister_my_thread(); }

static const struct impl_ops boehm_ops = {boehm_make,   boehm_populate_new, boehm_forget,
                                          boehm_forget, boehm_thread_begin, boehm_thread_end};
#endif

/* ------------------------------------------------------------------- rcgc */

/* Each new node's reference moves into its parent's field: no increfs. */
static void rcgc_populate(int depth, rcgc_object *node) {
    if (depth-- <= 0)
        return;
    rcgc_object *left = gc_bench_node_new(), *right = gc_bench_node_new();
    model_slot_fill(node, 0, left);
    model_slot_fill(node, 1, right);
    rcgc_populate(depth, left);
    rcgc_populate(depth, right);
}

static void *rcgc_populate_new(int depth) {
    rcgc_object *root = gc_bench_node_new();
    rcgc_populate(depth, root);
    return root;
}

static void *rcgc_make(int depth) { return gc_bench_make_tree(depth); }

static void rcgc_drop(void *tree) { rcgc_decref(tree); }

static void rcgc_thread_begin(void) {
    if (rcgc_thread_attach() != 0)
        exit(1);
}

static const struct impl_ops rcgc_ops = {rcgc_make, rcgc_populate_new, rcgc_drop,
                                         rcgc_drop, rcgc_thread_begin, rcgc_thread_detach};

/* What rcgc's collector did over the counted runs, by generation. */
struct rcgc_account {
    uint64_t collections[RCGC_GENERATIONS], stopped_ns[RCGC_GENERATIONS];
};

/* An rcgc run, with the collections it caused added to @account (if any). */
static double rcgc_run(int depth, int threads, bool collector, struct rcgc_account *account) {
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    if (collector)
        rcgc_enable();
    else
        rcgc_disable();
    rcgc_get_stats(before);
    double ns = gcbench(&rcgc_ops, depth, threads);
    rcgc_get_stats(after);
    rcgc_enable();
    /* With the collector off, every node made leaves a slot in the young
     * table (NULL once it dies) until a collection compacts it: about 15M
     * here. Compact now, untimed, or the next row's first collection pays
     * for it (38 ms). */
    if (!collector)
        rcgc_collect(0);
    for (int g = 0; g < RCGC_GENERATIONS && account != NULL; g++) {
        account->collections[g] += after[g].collections - before[g].collections;
        account->stopped_ns[g] += after[g].total_pause_ns - before[g].total_pause_ns;
    }
    /* Trees hold no cycles: every node must have died by its count. */
    size_t left = gc_bench_tracked();
    if (left != 0) {
        fprintf(stderr, "gc_trees: %zu tracked objects left after every tree died\n", left);
        exit(1);
    }
    return ns;
}

/* ------------------------------------------------------------------- main */

enum { MALLOC, BOEHM, RCGC, RCGC_OFF, PY, ROWS };

/* With --threads > 1: each C row's time on 1 thread, on all, and its
 * speed-up (1-thread time over the split run's, per round). */
static void print_speedups(struct gc_bench_row rows[ROWS], struct gc_bench_samples one[ROWS],
                           struct gc_bench_samples speedup[ROWS], long long threads) {
    printf("%-26s  %-24s  %-24s  speed-up %lld vs 1 (higher = better)\n", "impl",
           "1 thread ns/node", "split ns/node", threads);
    for (int r = MALLOC; r <= RCGC_OFF; r++) {
        if (one[r].count == 0)
            continue;
        struct bench_summary s[3] = {gc_bench_summary(&one[r]), gc_bench_summary(&rows[r].samples),
                                     gc_bench_summary(&speedup[r])};
        char cells[3][128];
        for (int c = 0; c < 3; c++)
            gc_bench_format_cell(cells[c], sizeof cells[c], s[c], c == 2 ? "x" : "");
        printf("%-26s  %-24s  %-24s  %s\n", rows[r].name, cells[0], cells[1], cells[2]);
        gc_bench_csv("bench/gc_trees: speed-up, split vs 1 thread", rows[r].name, s[2],
                     s[2].median);
    }
}

int main(int argc, char **argv) {
    long long depth = 16, runs = 5, py_runs = 3, threads = 1;
    for (int i = 1; i < argc; i++)
        if (!bench_opt_int(argc, argv, &i, "--depth", MIN_DEPTH, 24, &depth) &&
            !bench_opt_int(argc, argv, &i, "--runs", 1, 1000, &runs) &&
            !bench_opt_int(argc, argv, &i, "--py-runs", 0, 1000, &py_runs) &&
            !bench_opt_int(argc, argv, &i, "--threads", 1, MAX_THREADS, &threads) &&
            !gc_bench_common_opt(argc, argv, &i))
            bench_usage_error(argv[0], argv[i]);
    if (threads > 1)
        py_runs = 0;

    struct gc_bench_row rows[ROWS] = {[MALLOC] = {.name = "glibc malloc/free"},
                                      [BOEHM] = {.name = "Boehm"},
                                      [RCGC] = {.name = "rcgc"},
                                      [RCGC_OFF] = {.name = "rcgc, collector off"},
                                      [PY] = {.name = "CPython"}};
    char py_name[64];
    struct gc_bench_samples py_out[4], one_thread[ROWS], speedup[ROWS];
    memset(py_out, 0, sizeof py_out);
    memset(one_thread, 0, sizeof one_thread);
    memset(speedup, 0, sizeof speedup);
    if (py_runs > 0) {
        char args[128];
        static const char *const keys[] = {"ns_per_node", "collections0", "collections1",
                                           "collections2"};
        snprintf(args, sizeof args, "--depth %lld --runs %lld", depth, py_runs);
        gc_bench_python("gc_trees.py", args, keys, py_out, 4, &rows[PY].skipped);
        rows[PY].samples = py_out[0];
        snprintf(py_name, sizeof py_name, "CPython %s", gc_bench_python_version);
        rows[PY].name = py_name;
    } else {
        rows[PY].skipped =
            threads > 1 ? "skipped: one thread at a time (GIL)" : "skipped: --py-runs 0";
    }

    if (rcgc_thread_attach() != 0)
        return 1;
#if RCGC_BENCH_HAVE_BOEHM
    rows[BOEHM].name = gc_bench_boehm_init();
#else
    rows[BOEHM].skipped = "skipped: built without bdw-gc";
#endif
    struct rcgc_account account = {{0}, {0}}, ignored = {{0}, {0}};
    /* Run 0 warms every heap up and is not counted. */
    for (long long r = 0; r <= runs; r++) {
        /* With several threads, each row's 1-thread run first, then its
         * split run: the two figures of a speed-up come from one moment. */
        double ns[ROWS], one[ROWS];
        int n = (int)threads;
        if (n > 1)
            one[MALLOC] = gcbench(&malloc_ops, (int)depth, 1);
        ns[MALLOC] = gcbench(&malloc_ops, (int)depth, n);
#if RCGC_BENCH_HAVE_BOEHM
        if (n > 1)
            one[BOEHM] = gcbench(&boehm_ops, (int)depth, 1);
        ns[BOEHM] = gcbench(&boehm_ops, (int)depth, n);
#endif
        if (n > 1)
            one[RCGC] = rcgc_run((int)depth, 1, true, &ignored);
        ns[RCGC] = rcgc_run((int)depth, n, true, &account);
        if (n > 1)
            one[RCGC_OFF] = rcgc_run((int)depth, 1, false, &ignored);
        ns[RCGC_OFF] = rcgc_run((int)depth, n, false, NULL);
        if (r == 0) {
            account = (struct rcgc_account){{0}, {0}};
            continue;
        }
        for (int row = MALLOC; row <= RCGC_OFF; row++) {
            if (row == BOEHM && !RCGC_BENCH_HAVE_BOEHM)
                continue;
            gc_bench_push(&rows[row].samples, ns[row]);
            if (n > 1) {
                gc_bench_push(&one_thread[row], one[row]);
                gc_bench_push(&speedup[row], one[row] / ns[row]);
            }
        }
    }

    char title[256], split[64] = "";
    if (threads > 1)
        snprintf(split, sizeof split, ", short-lived trees split across %lld threads", threads);
    snprintf(title, sizeof title,
             "bench/gc_trees: GCBench, long-lived depth %lld, stretch %lld, %.1fM nodes per run%s",
             depth, depth + 2, (double)total_nodes((int)depth) / 1e6, split);
    struct gc_bench_table table = {title, "ns/node", true};
    gc_bench_table(&table, rows, ROWS, rows[BOEHM].samples.count > 0 ? BOEHM : MALLOC);
    printf("collections per run, generations 0/1/2: rcgc %.0f/%.0f/%.0f",
           (double)account.collections[0] / (double)runs,
           (double)account.collections[1] / (double)runs,
           (double)account.collections[2] / (double)runs);
    if (py_out[3].count > 0)
        printf(", CPython %.0f/%.0f/%.0f", gc_bench_summary(&py_out[1]).median,
               gc_bench_summary(&py_out[2]).median, gc_bench_summary(&py_out[3]).median);
    printf("\n");
    printf("rcgc's world stopped per run, generations 0/1/2: %.1f/%.1f/%.1f ms\n",
           (double)account.stopped_ns[0] / 1e6 / (double)runs,
           (double)account.stopped_ns[1] / 1e6 / (double)runs,
           (double)account.stopped_ns[2] / 1e6 / (double)runs);
    if (threads > 1)
        print_speedups(rows, one_thread, speedup, threads);
    gc_bench_reproduce(argc, argv);
    bench_result(gc_bench_summary(&rows[RCGC].samples).median, "ns/node", true);
    rcgc_thread_detach();
    return 0;
}
