/* bench/gc/weakrefs.c - what weak references and weak maps cost, against
 * CPython (bench/gc/weakrefs.py) and a mutex-protected hash map, in one run.
 *
 * Tables, each the median of --runs runs (p25-p75):
 *   get       ns per rcgc_weakref_get + drop of the result: on the owner's
 *             object, on another thread's object, and 2 threads each on
 *             their own; CPython calling a weakref.ref;
 *   get, 2 threads: throughput of two threads over one (each its own weak
 *             reference, 10 x --ops gets each);
 *   death     ns per object for --referents objects dying (their list
 *             dropped): plain, with one weak reference, with one weak
 *             reference and a callback; the callback's cost is the
 *             difference (target: <= 50 ns); CPython the same;
 *   map       ns per get and per set on a weak-value map of --keys integer
 *             keys (random keys), against a hash map under a mutex that
 *             holds strong references and CPython's WeakValueDictionary;
 *   map reads, 2 threads: throughput of two readers over one, rcgc's
 *             lock-free map against the mutex map (target: >= 1.8x).
 * One thread unless said; automatic collection off (nothing here is
 * cyclic).
 */
#include "gc_bench.h"

#include "bench_util.h"

#include <pthread.h>
#include <string.h>

static long long ops = 2000000, referents = 1000000, keys = 100000, runs = 5;

/* Objects for the benchmark: the model's two-slot node, no hooks. */
static rcgc_object *node(void) { return gc_bench_node_new(); }

static double ns_per(uint64_t t0, long long n) { return (double)(bench_now_ns() - t0) / (double)n; }

/* ------------------------------------------------------------------- get */

/* Thread-local: two threads storing to one global would share its line. */
static _Thread_local rcgc_object *volatile sink;

static double get_loop(rcgc_object *ref, long long n) {
    uint64_t t0 = bench_now_ns();
    for (long long i = 0; i < n; i++) {
        rcgc_object *obj = rcgc_weakref_get(ref);
        sink = obj;
        rcgc_decref(obj);
    }
    return ns_per(t0, n);
}

/* ------------------------------------------------------- Timed threads */

/* A job for threads that start together: each runs setup on itself (so
 * what it makes is its own), waits for the others, runs work timed, then
 * teardown. */
struct timed_job {
    void *(*setup)(int index, void *arg);
    void (*work)(void *state);
    void (*teardown)(void *state);
    void *arg;
};

struct timed_thread {
    const struct timed_job *job;
    pthread_barrier_t *start;
    pthread_t thread;
    int index;
    uint64_t t0, t1;
};

static void *timed_main(void *p) {
    struct timed_thread *t = p;
    rcgc_thread_attach();
    void *state = t->job->setup(t->index, t->job->arg);
    rcgc_blocking_begin();
    pthread_barrier_wait(t->start);
    rcgc_blocking_end();
    t->t0 = bench_now_ns();
    t->job->work(state);
    t->t1 = bench_now_ns();
    t->job->teardown(state);
    rcgc_thread_detach();
    return NULL;
}

/* Wall ns from the first thread's start to the last one's finish. */
static double timed_span_ns(const struct timed_job *job, int threads) {
    enum { MAX_THREADS = 2 };
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    struct timed_thread t[MAX_THREADS];
    for (int i = 0; i < threads && i < MAX_THREADS; i++) {
        t[i] = (struct timed_thread){.job = job, .start = &start, .index = i};
        pthread_create(&t[i].thread, NULL, timed_main, &t[i]);
    }
    uint64_t t0 = UINT64_MAX, t1 = 0;
    rcgc_blocking_begin();
    for (int i = 0; i < threads && i < MAX_THREADS; i++) {
        pthread_join(t[i].thread, NULL);
        t0 = t[i].t0 < t0 ? t[i].t0 : t0;
        t1 = t[i].t1 > t1 ? t[i].t1 : t1;
    }
    rcgc_blocking_end();
    pthread_barrier_destroy(&start);
    return (double)(t1 - t0);
}

/* Each thread's gets take a few ns: enough of them that starting two
 * threads is noise next to the work. */
#define GET_THREAD_SCALE 10

/* Per thread: an object of its own and a weak reference to it. */
struct own_target {
    rcgc_object *obj, *ref;
};

static void *own_target_new(int index, void *arg) {
    (void)index;
    struct own_target *own = (struct own_target *)arg + index;
    own->obj = node();
    own->ref = rcgc_weakref_new(own->obj, NULL, NULL);
    return own;
}

static void own_target_gets(void *state) {
    (void)get_loop(((struct own_target *)state)->ref, ops * GET_THREAD_SCALE);
}

static void own_target_free(void *state) {
    struct own_target *own = state;
    rcgc_decref(own->ref);
    rcgc_decref(own->obj);
}

/* Wall ns per get with @threads threads, each on its own object. */
static double get_threads(int threads) {
    struct own_target own[2];
    struct timed_job job = {own_target_new, own_target_gets, own_target_free, own};
    return timed_span_ns(&job, threads) / (double)(ops * GET_THREAD_SCALE * threads);
}

/* An object owned by another thread (which has exited): every get takes
 * the shared count's compare-and-swap. */
static void *make_foreign(void *arg) {
    rcgc_thread_attach();
    *(rcgc_object **)arg = node();
    rcgc_thread_detach();
    return NULL;
}

/* ----------------------------------------------------------------- death */

static long callbacks_run;

static void count_callback(rcgc_object *ref, void *arg) {
    (void)ref;
    (void)arg;
    callbacks_run++;
}

/* ns per object for dropping --referents objects, each with @how:
 * 0 nothing, 1 a weak reference, 2 a weak reference with a callback. */
static double death_run(int how) {
    rcgc_object **objs = malloc((size_t)referents * sizeof *objs);
    rcgc_object **refs = how > 0 ? malloc((size_t)referents * sizeof *refs) : NULL;
    if (objs == NULL || (how > 0 && refs == NULL))
        exit(1);
    for (long long i = 0; i < referents; i++) {
        objs[i] = node();
        if (how > 0)
            refs[i] = rcgc_weakref_new(objs[i], how == 2 ? count_callback : NULL, NULL);
    }
    callbacks_run = 0;
    uint64_t t0 = bench_now_ns();
    for (long long i = 0; i < referents; i++)
        rcgc_decref(objs[i]);
    double ns = ns_per(t0, referents);
    if (how == 2 && callbacks_run != referents) {
        fprintf(stderr, "weakrefs: %ld callbacks for %lld deaths\n", callbacks_run, referents);
        exit(1);
    }
    for (long long i = 0; how > 0 && i < referents; i++)
        rcgc_decref(refs[i]);
    free(objs);
    free(refs);
    return ns;
}

/* ------------------------------------------------------ Mutex hash map */

/* The peer a C host would write: integer keys, strong references, one
 * mutex, linear probing. */
struct locked_map {
    pthread_mutex_t mutex;
    int64_t *keys;
    rcgc_object **values;
    size_t mask;
};

static void locked_map_init(struct locked_map *m, size_t capacity) {
    pthread_mutex_init(&m->mutex, NULL);
    m->keys = calloc(capacity, sizeof *m->keys);
    m->values = calloc(capacity, sizeof *m->values);
    m->mask = capacity - 1;
    if (m->keys == NULL || m->values == NULL)
        exit(1);
}

static size_t locked_map_slot(const struct locked_map *m, int64_t key) {
    size_t i = (size_t)((uint64_t)key * UINT64_C(0x9E3779B97F4A7C15) >> 20) & m->mask;
    while (m->values[i] != NULL && m->keys[i] != key)
        i = (i + 1) & m->mask;
    return i;
}

static rcgc_object *locked_map_get(struct locked_map *m, int64_t key) {
    pthread_mutex_lock(&m->mutex);
    rcgc_object *value = m->values[locked_map_slot(m, key)];
    if (value != NULL)
        rcgc_incref(value);
    pthread_mutex_unlock(&m->mutex);
    return value;
}

static void locked_map_set(struct locked_map *m, int64_t key, rcgc_object *value) {
    rcgc_incref(value);
    pthread_mutex_lock(&m->mutex);
    size_t i = locked_map_slot(m, key);
    rcgc_object *old = m->values[i];
    m->keys[i] = key;
    m->values[i] = value;
    pthread_mutex_unlock(&m->mutex);
    if (old != NULL)
        rcgc_decref(old);
}

static void locked_map_free(struct locked_map *m) {
    for (size_t i = 0; i <= m->mask; i++)
        if (m->values[i] != NULL)
            rcgc_decref(m->values[i]);
    free(m->keys);
    free(m->values);
    pthread_mutex_destroy(&m->mutex);
}

/* -------------------------------------------------------------- Map runs */

static rcgc_weakmap *weak_map;
static struct locked_map locked;
static rcgc_object **map_values; /* kept alive for the weak map */

static double map_gets(bool use_weak, uint64_t seed, long long n) {
    struct bench_rng rng;
    bench_rng_seed(&rng, seed);
    uint64_t t0 = bench_now_ns();
    for (long long i = 0; i < n; i++) {
        int64_t key = bench_rng_below(&rng, (uint32_t)keys);
        rcgc_object *v =
            use_weak ? rcgc_weakmap_get(weak_map, RCGC_KEY_INT(key)) : locked_map_get(&locked, key);
        sink = v;
        rcgc_xdecref(v);
    }
    return ns_per(t0, n);
}

static double map_sets(bool use_weak, uint64_t seed, long long n) {
    struct bench_rng rng;
    bench_rng_seed(&rng, seed);
    uint64_t t0 = bench_now_ns();
    for (long long i = 0; i < n; i++) {
        int64_t key = bench_rng_below(&rng, (uint32_t)keys);
        rcgc_object *v = map_values[bench_rng_below(&rng, (uint32_t)keys)];
        if (use_weak)
            (void)rcgc_weakmap_set(weak_map, RCGC_KEY_INT(key), v);
        else
            locked_map_set(&locked, key, v);
    }
    return ns_per(t0, n);
}

struct reader {
    bool use_weak;
    uint64_t seed;
};

static void *reader_new(int index, void *arg) {
    struct reader *r = (struct reader *)arg + index;
    r->seed += (uint64_t)index;
    return r;
}

static void reader_gets(void *state) {
    struct reader *r = state;
    (void)map_gets(r->use_weak, r->seed, ops);
}

static void reader_free(void *state) { (void)state; }

/* Throughput of @threads readers: gets per microsecond. */
static double map_read_rate(bool use_weak, int threads, uint64_t seed) {
    struct reader r[2] = {{use_weak, seed}, {use_weak, seed}};
    struct timed_job job = {reader_new, reader_gets, reader_free, r};
    return (double)(ops * threads) * 1000.0 / timed_span_ns(&job, threads);
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!bench_opt_int(argc, argv, &i, "--ops", 1000, 1LL << 32, &ops) &&
            !bench_opt_int(argc, argv, &i, "--referents", 1000, 1LL << 28, &referents) &&
            !bench_opt_int(argc, argv, &i, "--keys", 16, 1LL << 24, &keys) &&
            !bench_opt_int(argc, argv, &i, "--runs", 1, 1000, &runs) &&
            !gc_bench_common_opt(argc, argv, &i))
            bench_usage_error(argv[0], argv[i]);
    gc_bench_reproduce(argc, argv);

    enum { PY_GET, PY_DEATH_PLAIN, PY_DEATH_REF, PY_DEATH_CB, PY_MAP_GET, PY_MAP_SET, PY_KEYS };
    static const char *const py_keys[PY_KEYS] = {"get_ns",       "death_plain_ns",
                                                 "death_ref_ns", "death_callback_ns",
                                                 "map_get_ns",   "map_set_ns"};
    struct gc_bench_samples py[PY_KEYS] = {0};
    const char *py_skipped = NULL;
    char args[256];
    snprintf(args, sizeof args, "--ops %lld --referents %lld --keys %lld --runs %lld", ops,
             referents, keys, runs);
    gc_bench_python("weakrefs.py", args, py_keys, py, PY_KEYS, &py_skipped);
    char py_name[64];
    snprintf(py_name, sizeof py_name, "CPython %s", gc_bench_python_version);

    if (rcgc_thread_attach() != 0)
        return 1;
    rcgc_disable();

    /* get */
    enum { GET_OWNER, GET_FOREIGN, GET_TWO, GET_PY, GET_ROWS };
    struct gc_bench_row get_rows[GET_ROWS] = {
        [GET_OWNER] = {.name = "rcgc, owner's object"},
        [GET_FOREIGN] = {.name = "rcgc, another thread's object"},
        [GET_TWO] = {.name = "rcgc, 2 threads, each its own"},
        [GET_PY] = {.name = py_name, .samples = py[PY_GET], .skipped = py_skipped}};
    struct gc_bench_row scale_rows[1] = {{.name = "rcgc weakref_get"}};
    rcgc_object *mine = node(), *foreign = NULL;
    pthread_t maker;
    pthread_create(&maker, NULL, make_foreign, &foreign);
    rcgc_blocking_begin();
    pthread_join(maker, NULL);
    rcgc_blocking_end();
    rcgc_object *mine_ref = rcgc_weakref_new(mine, NULL, NULL);
    rcgc_object *foreign_ref = rcgc_weakref_new(foreign, NULL, NULL);
    for (long long r = 0; r < runs; r++) {
        gc_bench_push(&get_rows[GET_OWNER].samples, get_loop(mine_ref, ops));
        gc_bench_push(&get_rows[GET_FOREIGN].samples, get_loop(foreign_ref, ops));
        double one = get_threads(1), two = get_threads(2);
        gc_bench_push(&get_rows[GET_TWO].samples, two * 2); /* per thread */
        gc_bench_push(&scale_rows[0].samples, one / two);
    }
    struct gc_bench_table get_table = {"bench/weakrefs: rcgc_weakref_get + drop, uncontended",
                                       "ns/get", true};
    gc_bench_table(&get_table, get_rows, GET_ROWS, GET_PY);
    struct gc_bench_table scale_table = {
        "bench/weakrefs: get throughput, 2 threads over 1 (own objects)", "x", false};
    gc_bench_table(&scale_table, scale_rows, 1, 0);
    rcgc_decref(mine_ref);
    rcgc_decref(foreign_ref);
    rcgc_decref(mine);
    rcgc_decref(foreign);

    /* death */
    enum { D_PLAIN, D_REF, D_CB, D_EXTRA, D_PY_PLAIN, D_PY_CB, D_PY_EXTRA, D_ROWS };
    struct gc_bench_row death_rows[D_ROWS] = {
        [D_PLAIN] = {.name = "rcgc, no weak reference"},
        [D_REF] = {.name = "rcgc, a weak reference"},
        [D_CB] = {.name = "rcgc, a weak reference with a callback"},
        [D_EXTRA] = {.name = "rcgc, callback's cost over a plain death"},
        [D_PY_PLAIN] = {.name = "CPython, no weak reference", .skipped = py_skipped},
        [D_PY_CB] = {.name = "CPython, a weakref with a callback", .skipped = py_skipped},
        [D_PY_EXTRA] = {.name = "CPython, callback's cost over a plain death",
                        .skipped = py_skipped}};
    for (long long r = 0; r < runs; r++) {
        double plain = death_run(0), ref = death_run(1), cb = death_run(2);
        gc_bench_push(&death_rows[D_PLAIN].samples, plain);
        gc_bench_push(&death_rows[D_REF].samples, ref);
        gc_bench_push(&death_rows[D_CB].samples, cb);
        gc_bench_push(&death_rows[D_EXTRA].samples, cb - plain);
    }
    for (size_t r = 0; r < py[PY_DEATH_CB].count && r < py[PY_DEATH_PLAIN].count; r++) {
        gc_bench_push(&death_rows[D_PY_PLAIN].samples, py[PY_DEATH_PLAIN].v[r]);
        gc_bench_push(&death_rows[D_PY_CB].samples, py[PY_DEATH_CB].v[r]);
        gc_bench_push(&death_rows[D_PY_EXTRA].samples,
                      py[PY_DEATH_CB].v[r] - py[PY_DEATH_PLAIN].v[r]);
    }
    char death_title[128], count[16];
    gc_bench_format_count(count, sizeof count, referents);
    snprintf(death_title, sizeof death_title, "bench/weakrefs: %s referents dying", count);
    struct gc_bench_table death_table = {death_title, "ns/object", true};
    gc_bench_table(&death_table, death_rows, D_ROWS, D_PY_PLAIN);

    /* map */
    weak_map = rcgc_weakmap_new(RCGC_WEAK_VALUES);
    size_t capacity = 1;
    while (capacity < (size_t)keys * 2)
        capacity *= 2;
    locked_map_init(&locked, capacity);
    map_values = malloc((size_t)keys * sizeof *map_values);
    if (weak_map == NULL || map_values == NULL)
        return 1;
    for (long long k = 0; k < keys; k++) {
        map_values[k] = node();
        rcgc_weakmap_set(weak_map, RCGC_KEY_INT(k), map_values[k]);
        locked_map_set(&locked, k, map_values[k]);
    }
    enum { M_GET, M_LOCKED_GET, M_PY_GET, M_SET, M_LOCKED_SET, M_PY_SET, M_ROWS };
    struct gc_bench_row map_rows[M_ROWS] = {[M_GET] = {.name = "rcgc weak map get"},
                                            [M_LOCKED_GET] = {.name = "mutex hash map get"},
                                            [M_PY_GET] = {.name = "CPython WeakValueDictionary get",
                                                          .samples = py[PY_MAP_GET],
                                                          .skipped = py_skipped},
                                            [M_SET] = {.name = "rcgc weak map set"},
                                            [M_LOCKED_SET] = {.name = "mutex hash map set"},
                                            [M_PY_SET] = {.name = "CPython WeakValueDictionary set",
                                                          .samples = py[PY_MAP_SET],
                                                          .skipped = py_skipped}};
    enum { S_WEAK, S_LOCKED, S_ROWS };
    struct gc_bench_row read_rows[S_ROWS] = {
        [S_WEAK] = {.name = "rcgc weak map (lock-free)"}, [S_LOCKED] = {.name = "mutex hash map"}};
    for (long long r = 0; r < runs; r++) {
        uint64_t seed = (uint64_t)r + 1;
        gc_bench_push(&map_rows[M_GET].samples, map_gets(true, seed, ops));
        gc_bench_push(&map_rows[M_LOCKED_GET].samples, map_gets(false, seed, ops));
        gc_bench_push(&map_rows[M_SET].samples, map_sets(true, seed, ops / 4));
        gc_bench_push(&map_rows[M_LOCKED_SET].samples, map_sets(false, seed, ops / 4));
        for (int w = 0; w < S_ROWS; w++) {
            bool use_weak = w == S_WEAK;
            double one = map_read_rate(use_weak, 1, seed), two = map_read_rate(use_weak, 2, seed);
            gc_bench_push(&read_rows[w].samples, two / one);
        }
    }
    char map_title[128];
    gc_bench_format_count(count, sizeof count, keys);
    snprintf(map_title, sizeof map_title, "bench/weakrefs: maps of %s integer keys, random keys",
             count);
    struct gc_bench_table map_table = {map_title, "ns/op", true};
    gc_bench_table(&map_table, map_rows, M_ROWS, M_LOCKED_GET);
    struct gc_bench_table read_table = {"bench/weakrefs: map reads, 2 threads over 1", "x", false};
    gc_bench_table(&read_table, read_rows, S_ROWS, S_LOCKED);

    rcgc_weakmap_free(weak_map);
    locked_map_free(&locked);
    for (long long k = 0; k < keys; k++)
        rcgc_decref(map_values[k]);
    free(map_values);
    rcgc_thread_detach();
    return 0;
}
