/* bench/objects/refcount.c - what a reference costs: rcgc's counting modes against
 * the counters a runtime would write by hand, and making and dropping an
 * object against malloc/free and CPython, all measured in one run.
 *
 * Three tables, each the median of --runs interleaved runs:
 *   owner:   incref+decref pairs on an object the thread owns, against a
 *            plain counter and an atomic one;
 *   shared:  2 threads doing pairs on one hot object, per mode, against a
 *            plain atomic counter;
 *   objects: rcgc_new + last rcgc_decref of a 48-byte object, with and
 *            without a free list, against malloc + free of 48 bytes from
 *            glibc and from mimalloc (dlopen'ed, called directly) and
 *            CPython making and dropping a small instance.
 */
#include "bench_stats.h"
#include "bench_util.h"

#include <rcgc.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_RUNS 31

struct small {
    rcgc_object head;
    long fields[2]; /* 48 bytes in all, a small instance */
};

static const rcgc_type small_type = {.name = "small", .size = sizeof(struct small)};
static const rcgc_type pooled_type = {
    .name = "pooled", .size = sizeof(struct small), .freelist_max = 64};

/* ----------------------------------------------------------- Owner path */

/* Each variant does @pairs increments and decrements and returns ns/pair.
 * The counters sit behind a pointer the compiler cannot see through, so the
 * loops are not folded away. */
static long *volatile plain_target;
static _Atomic long *volatile atomic_target;

static double plain_pairs(long pairs) {
    long *counter = plain_target;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < pairs; i++) {
        ++*(volatile long *)counter;
        --*(volatile long *)counter;
    }
    return (double)(bench_now_ns() - t0) / (double)pairs;
}

static double atomic_pairs(long pairs) {
    _Atomic long *counter = atomic_target;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < pairs; i++) {
        atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(counter, 1, memory_order_release);
    }
    return (double)(bench_now_ns() - t0) / (double)pairs;
}

static rcgc_object *volatile rcgc_target;

static double rcgc_pairs(long pairs) {
    rcgc_object *obj = rcgc_target;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < pairs; i++) {
        rcgc_incref(obj);
        rcgc_decref(obj);
    }
    return (double)(bench_now_ns() - t0) / (double)pairs;
}

/* ------------------------------------------------------- Shared hot object */

struct shared_run {
    int kind; /* 0: atomic counter; else an rcgc mode + 1 */
    long pairs;
    pthread_barrier_t *start;
    double ns;
};

static void *shared_worker(void *arg) {
    struct shared_run *run = arg;
    rcgc_thread_attach();
    pthread_barrier_wait(run->start);
    run->ns = run->kind == 0 ? atomic_pairs(run->pairs) : rcgc_pairs(run->pairs);
    rcgc_thread_detach();
    return NULL;
}

/* Two threads on one object; ns per pair per thread (wall time of the
 * slower thread over its pairs). The object belongs to the main thread, so
 * in biased mode both workers are foreign: the shared-count path. */
static double shared_pairs(int kind, long pairs) {
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    struct shared_run runs[2] = {{kind, pairs, &start, 0}, {kind, pairs, &start, 0}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, shared_worker, &runs[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    return runs[0].ns > runs[1].ns ? runs[0].ns : runs[1].ns;
}

/* --------------------------------------------------------- Make and drop */

static double rcgc_objects(const rcgc_type *type, long count) {
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < count; i++) {
        struct small *obj = (struct small *)rcgc_new(type);
        obj->fields[0] = i;
        rcgc_decref(&obj->head);
    }
    return (double)(bench_now_ns() - t0) / (double)count;
}

static double malloc_objects(long count) {
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < count; i++) {
        long *block = malloc(sizeof(struct small));
        if (block == NULL)
            abort();
        ((long *volatile)block)[2] = i;
        free(block);
    }
    return (double)(bench_now_ns() - t0) / (double)count;
}

/* mimalloc in the same process, through its own entry points, so glibc and
 * mimalloc are measured in the same run. NaN when it is not installed. */
static void *(*mi_malloc_fn)(size_t);
static void (*mi_free_fn)(void *);

static void load_mimalloc(void) {
    void *lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return;
    *(void **)&mi_malloc_fn = dlsym(lib, "mi_malloc");
    *(void **)&mi_free_fn = dlsym(lib, "mi_free");
}

static double mimalloc_objects(long count) {
    if (mi_malloc_fn == NULL || mi_free_fn == NULL)
        return 0.0 / 0.0;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < count; i++) {
        long *block = mi_malloc_fn(sizeof(struct small));
        if (block == NULL)
            abort();
        ((long *volatile)block)[2] = i;
        mi_free_fn(block);
    }
    return (double)(bench_now_ns() - t0) / (double)count;
}

/* CPython making and dropping one small instance per iteration; its own
 * clock, so interpreter start-up is not counted. NaN when python3 is not
 * there. */
static double python_objects(long count) {
    char command[256];
    snprintf(command, sizeof command,
             "python3 -c 'import time\nclass S:\n __slots__=(\"a\",\"b\")\n"
             "def f(n):\n for i in range(n): s=S()\nt=time.perf_counter();f(%ld);"
             "print((time.perf_counter()-t)*1e9/%ld)' 2>/dev/null",
             count, count);
    FILE *pipe = popen(command, "r");
    double ns = 0.0 / 0.0;
    if (pipe != NULL) {
        if (fscanf(pipe, "%lf", &ns) != 1)
            ns = 0.0 / 0.0;
        pclose(pipe);
    }
    return ns;
}

/* ----------------------------------------------------------------- Tables */

struct row {
    const char *name;
    double samples[MAX_RUNS];
};

static void print_table(const char *title, const char *unit, struct row *rows, int count,
                        int baseline, int runs) {
    struct bench_summary summary[8];
    for (int r = 0; r < count; r++)
        bench_stats_summarize(rows[r].samples, (size_t)runs, &summary[r]);
    printf("%s, median of %d\n", title, runs);
    printf("%-22s %-8s %-15s time vs %s (lower = faster)\n", "impl", unit, "(p25-p75)",
           rows[baseline].name);
    for (int r = 0; r < count; r++)
        printf("%-22s %-8.2f (%.2f-%.2f)%*s %.2fx\n", rows[r].name, summary[r].median,
               summary[r].p25, summary[r].p75, 4, "", summary[r].median / summary[baseline].median);
    printf("\n");
}

int main(int argc, char **argv) {
    long long runs = 5, pairs = 20000000, objects = 5000000;
    for (int i = 1; i < argc; i++)
        if (!bench_opt_int(argc, argv, &i, "--runs", 1, MAX_RUNS, &runs) &&
            !bench_opt_int(argc, argv, &i, "--pairs", 1000, 1000000000, &pairs) &&
            !bench_opt_int(argc, argv, &i, "--objects", 1000, 1000000000, &objects))
            bench_usage_error(argv[0], argv[i]);
    load_mimalloc();
    rcgc_thread_attach();
    long plain = 0;
    _Atomic long atomic = 0;
    plain_target = &plain;
    atomic_target = &atomic;
    rcgc_object *hot = rcgc_new(&small_type);
    rcgc_target = hot;

    struct row owner[3] = {
        {"plain counter", {0}}, {"atomic counter", {0}}, {"rcgc biased owner", {0}}};
    struct row shared[5] = {{"atomic counter", {0}},
                            {"rcgc atomic", {0}},
                            {"rcgc biased (foreign)", {0}},
                            {"rcgc deferred", {0}},
                            {"rcgc immortal", {0}}};
    struct row made[5] = {{"glibc malloc+free 48 B", {0}},
                          {"mimalloc malloc+free", {0}},
                          {"rcgc_new+decref 48 B", {0}},
                          {"rcgc, free list", {0}},
                          {"CPython", {0}}};
    for (int run = 0; run < runs; run++) {
        owner[0].samples[run] = plain_pairs(pairs);
        owner[1].samples[run] = atomic_pairs(pairs);
        owner[2].samples[run] = rcgc_pairs(pairs);
        shared[0].samples[run] = shared_pairs(0, pairs / 4);
        rcgc_object *atomic_obj = rcgc_new(&small_type);
        rcgc_set_rc_mode(atomic_obj, RCGC_RC_ATOMIC);
        rcgc_target = atomic_obj;
        shared[1].samples[run] = shared_pairs(1, pairs / 4);
        rcgc_decref(atomic_obj);
        rcgc_target = hot;
        shared[2].samples[run] = shared_pairs(1, pairs / 4);
        rcgc_object *deferred = rcgc_new(&small_type);
        rcgc_set_rc_mode(deferred, RCGC_RC_DEFERRED);
        rcgc_target = deferred;
        shared[3].samples[run] = shared_pairs(1, pairs / 4);
        rcgc_decref(deferred);
        rcgc_sync_deferred();
        rcgc_object *immortal = rcgc_new(&small_type);
        rcgc_set_rc_mode(immortal, RCGC_RC_IMMORTAL);
        rcgc_target = immortal;
        shared[4].samples[run] = shared_pairs(1, pairs / 4);
        rcgc_target = hot;
        made[0].samples[run] = malloc_objects(objects);
        made[1].samples[run] = mimalloc_objects(objects);
        made[2].samples[run] = rcgc_objects(&small_type, objects);
        made[3].samples[run] = rcgc_objects(&pooled_type, objects);
        made[4].samples[run] = python_objects(objects / 5);
    }
    print_table("bench/refcount owner: incref+decref on the owning thread", "ns/pair", owner, 3, 0,
                (int)runs);
    print_table("bench/refcount shared: one hot object, 2 threads", "ns/pair", shared, 5, 0,
                (int)runs);
    print_table("bench/refcount objects: make and drop a small object", "ns/obj", made, 5, 1,
                (int)runs);
    printf("reproduce: build/release/bench/refcount --runs %lld --pairs %lld --objects %lld\n",
           runs, pairs, objects);
    rcgc_decref(hot);
    rcgc_thread_detach();
    return 0;
}
