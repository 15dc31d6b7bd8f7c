/* bench/alloc/binary_trees.c - cost of many short-lived 24-byte nodes, the
 * allocation pattern of a tree-building runtime (the Benchmarks Game's
 * binary-trees, with free() in place of a garbage collector).
 *
 * Each thread builds and frees thousands of complete trees of depth 4 to
 * --depth while one tree of --depth stays alive throughout, so the allocator
 * serves a burst of same-size blocks and then takes them all back, beside a
 * long-lived heap. Threads are independent and share only the two barriers
 * around the timed region. Prints ns per node allocated and freed.
 */
#include "bench_util.h"

#include <limits.h>
#include <pthread.h>

/* Two pointers and a payload: 24 bytes on LP64, the size of a small
 * runtime object (a cons cell, a tuple of two with a header word). */
struct node {
    struct node *left, *right;
    long payload;
};

#define MIN_DEPTH 4

struct worker {
    pthread_t thread;
    int depth;
    pthread_barrier_t *start, *done;
    uint64_t t0, t1;  /* just after the start and the done barrier */
    long long nodes;  /* nodes allocated (and freed) in the timed region */
    long long checks; /* sum of all check values, printed so it stays live */
};

static struct node *node_new(struct node *left, struct node *right, long payload) {
    struct node *n = malloc(sizeof *n);
    if (n == NULL) {
        fprintf(stderr, "binary_trees: malloc(%zu) failed\n", sizeof *n);
        exit(1);
    }
    n->left = left;
    n->right = right;
    n->payload = payload;
    return n;
}

/* Children before parent, as a runtime allocates while evaluating the
 * constructor's arguments: neighbours in memory are then siblings. */
static struct node *tree_build(int depth, long payload) {
    if (depth == 0)
        return node_new(NULL, NULL, payload);
    struct node *left = tree_build(depth - 1, 2 * payload);
    struct node *right = tree_build(depth - 1, 2 * payload + 1);
    return node_new(left, right, payload);
}

/* The walk reads every node the allocator handed out, so a block that
 * came back cold (or, with a broken allocator, overlapping) costs here. */
static long tree_check(const struct node *n) {
    if (n->left == NULL)
        return 1;
    return 1 + tree_check(n->left) + tree_check(n->right);
}

static void tree_free(struct node *n) {
    if (n->left != NULL) {
        tree_free(n->left);
        tree_free(n->right);
    }
    free(n);
}

static long long tree_nodes(int depth) { return (2LL << depth) - 1; }

/* The classic schedule: a stretch tree one deeper than --depth, then the
 * long-lived tree, then for d = 4, 6, ..., depth 2^(depth - d + 4) trees of
 * depth d, so every depth allocates about the same number of nodes. */
static void *worker_run(void *arg) {
    struct worker *w = arg;
    long long nodes = 0, checks = 0;
    pthread_barrier_wait(w->start);
    w->t0 = bench_now_ns();

    struct node *stretch = tree_build(w->depth + 1, 0);
    checks += tree_check(stretch);
    tree_free(stretch);
    nodes += tree_nodes(w->depth + 1);

    struct node *long_lived = tree_build(w->depth, 0);
    nodes += tree_nodes(w->depth);

    for (int d = MIN_DEPTH; d <= w->depth; d += 2) {
        long long iterations = 1LL << (w->depth - d + MIN_DEPTH);
        for (long long i = 0; i < iterations; i++) {
            struct node *t = tree_build(d, (long)i);
            checks += tree_check(t);
            tree_free(t);
        }
        nodes += iterations * tree_nodes(d);
    }

    checks += tree_check(long_lived);
    tree_free(long_lived);
    pthread_barrier_wait(w->done);
    w->t1 = bench_now_ns();
    w->nodes = nodes;
    w->checks = checks;
    return NULL;
}

int main(int argc, char **argv) {
    /* Default --depth 18: 67 M nodes per thread, about 1 s with glibc on
     * the 2-core CI machine (14.5 ns/node). Each step of 2 in depth
     * multiplies the work by about 4.5. */
    long long depth = 18, seed = 1, threads = 1;
    for (int i = 1; i < argc; i++)
        if (!bench_opt_int(argc, argv, &i, "--depth", MIN_DEPTH, 28, &depth) &&
            !bench_opt_int(argc, argv, &i, "--seed", 0, LLONG_MAX, &seed) &&
            !bench_opt_int(argc, argv, &i, "--threads", 1, 256, &threads))
            bench_usage_error(argv[0], argv[i]);
    /* The schedule has no randomness: --seed is accepted, and printed, so
     * that every benchmark in the suite takes the same flags. */

    pthread_barrier_t start, done;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    pthread_barrier_init(&done, NULL, (unsigned)threads);
    struct worker *workers = calloc((size_t)threads, sizeof *workers);
    if (workers == NULL)
        return 1;
    for (long long t = 0; t < threads; t++)
        workers[t] = (struct worker){.depth = (int)depth, .start = &start, .done = &done};
    /* Worker 0 runs on the main thread, as in malloc_mix: a 1-thread run
     * then uses glibc's main arena, as a single-threaded runtime would. */
    for (long long t = 1; t < threads; t++) {
        if (pthread_create(&workers[t].thread, NULL, worker_run, &workers[t]) != 0) {
            fprintf(stderr, "binary_trees: pthread_create failed\n");
            return 1;
        }
    }
    worker_run(&workers[0]);
    long long nodes = workers[0].nodes, checks = workers[0].checks;
    uint64_t t0 = workers[0].t0, t1 = workers[0].t1;
    for (long long t = 1; t < threads; t++) {
        pthread_join(workers[t].thread, NULL);
        nodes += workers[t].nodes;
        checks += workers[t].checks;
        t0 = workers[t].t0 < t0 ? workers[t].t0 : t0;
        t1 = workers[t].t1 > t1 ? workers[t].t1 : t1;
    }
    if (checks != nodes) {
        fprintf(stderr, "binary_trees: walked %lld nodes, built %lld\n", checks, nodes);
        return 1;
    }

    /* As in malloc_mix: wall_ns * threads / nodes is the time one thread
     * spends per node while all run at once, so perfect scaling keeps the
     * 1-thread figure and contention in the allocator raises it. */
    double wall_ns = (double)(t1 - t0);
    printf("binary_trees: depth %lld, threads %lld, seed %lld, nodes %lld, wall %.3f s\n", depth,
           threads, seed, nodes, wall_ns / 1e9);
    bench_result(wall_ns * (double)threads / (double)nodes, "ns/node", true);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    free(workers);
    return 0;
}
