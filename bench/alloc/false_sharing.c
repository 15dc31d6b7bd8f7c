/* bench/alloc/false_sharing.c - how many 64-byte cache lines hold live objects of
 * two threads: each such line bounces between cores once both write. A
 * count of addresses, not a timing. Passive: A allocates, B frees every
 * other block of A's and allocates as many of the same size; an allocator
 * that lets B reuse them puts B's objects between A's. Active: A and B
 * allocate 8-48 B objects one per step in lockstep; a shared heap
 * interleaves them. A and B share the hand-over array and a barrier;
 * bookkeeping is mmap'ed so only the objects under test come from malloc.
 */
#include "bench_util.h"

#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>

#define LINE_SHIFT 6 /* 64-byte lines: x86-64 and most arm64 cores */
#define PASSIVE_SIZES 6
static const size_t passive_sizes[PASSIVE_SIZES] = {8, 16, 24, 32, 40, 48};

/* The bytes the program owns: the requested size, since those are the
 * bytes it writes; --usable 1 takes malloc_usable_size instead. */
struct obj {
    void *p;
    size_t size;
};

struct objs {
    struct obj *v;
    size_t n;
};

struct test {
    pthread_barrier_t step;
    long long count; /* passive: objects A allocates per size; active: steps */
    bool usable;
    uint64_t seed;
    void **handoff;     /* passive: A's blocks, B frees the odd ones */
    struct objs rec[2]; /* objects of A and of B to compare, both live at once */
    long long shared[PASSIVE_SIZES];
    long long lines_a[PASSIVE_SIZES]; /* lines holding A's objects, for scale */
};

struct side {
    pthread_t thread;
    struct test *t;
    int who; /* 0: A, 1: B */
};

static void *map_or_die(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("false_sharing: mmap");
        exit(1);
    }
    return p;
}

static void *obj_alloc(int who, size_t size) {
    unsigned char *p = malloc(size);
    if (p == NULL) {
        fprintf(stderr, "false_sharing: malloc(%zu) failed\n", size);
        exit(1);
    }
    memset(p, 0x40 + who, size); /* the owner writes it, as a program would */
    return p;
}

static void obj_record(struct test *t, int who, void *p, size_t size) {
    struct objs *rec = &t->rec[who];
    rec->v[rec->n++] = (struct obj){p, t->usable ? malloc_usable_size(p) : size};
}

static void keys_sift(uint64_t *v, size_t root, size_t n) {
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && v[child + 1] > v[child])
            child++;
        if (v[root] >= v[child])
            return;
        uint64_t tmp = v[root];
        v[root] = v[child];
        v[child] = tmp;
    }
}

/* Heapsort, not qsort: glibc's qsort mallocs a buffer, and this program
 * wants no malloc besides the objects it measures. */
static void keys_sort(uint64_t *v, size_t n) {
    for (size_t i = n / 2; i-- > 0;)
        keys_sift(v, i, n);
    for (size_t end = n; end-- > 1;) {
        uint64_t tmp = v[0];
        v[0] = v[end];
        v[end] = tmp;
        keys_sift(v, 0, end);
    }
}

/* Lines that hold a byte of one of A's objects and a byte of one of B's.
 * Each (line, owner) pair becomes a key line << 1 | owner; after sorting,
 * a line is shared when its run of keys has both owners. */
static long long shared_lines(const struct objs rec[2], long long *lines_a) {
    size_t cap = 0;
    for (int who = 0; who < 2; who++)
        for (size_t i = 0; i < rec[who].n; i++)
            cap += (rec[who].v[i].size >> LINE_SHIFT) + 2;
    uint64_t *keys = map_or_die(cap * sizeof *keys);
    size_t n = 0;
    for (int who = 0; who < 2; who++) {
        for (size_t i = 0; i < rec[who].n; i++) {
            uintptr_t lo = (uintptr_t)rec[who].v[i].p, hi = lo + rec[who].v[i].size - 1;
            for (uintptr_t line = lo >> LINE_SHIFT; line <= hi >> LINE_SHIFT; line++)
                keys[n++] = (uint64_t)line << 1 | (uint64_t)who;
        }
    }
    keys_sort(keys, n);
    long long shared = 0, owned_a = 0;
    for (size_t i = 0; i < n;) {
        uint64_t line = keys[i] >> 1;
        unsigned owners = 0;
        for (; i < n && keys[i] >> 1 == line; i++)
            owners |= 1u << (keys[i] & 1);
        shared += owners == 3;
        owned_a += owners & 1;
    }
    munmap(keys, cap * sizeof *keys);
    *lines_a = owned_a;
    return shared;
}

/* Per size, three barriers: A allocates | B frees the odd half and
 * allocates as many | A counts, both free the rest. */
static void *passive_run(void *arg) {
    struct side *s = arg;
    struct test *t = s->t;
    size_t half = (size_t)t->count / 2;
    for (int k = 0; k < PASSIVE_SIZES; k++) {
        size_t size = passive_sizes[k];
        if (s->who == 0) {
            t->rec[0].n = 0;
            for (long long i = 0; i < t->count; i++) {
                t->handoff[i] = obj_alloc(0, size);
                if (i % 2 == 0) /* A keeps the even ones, live until counted */
                    obj_record(t, 0, t->handoff[i], size);
            }
        }
        pthread_barrier_wait(&t->step);
        if (s->who == 1) {
            t->rec[1].n = 0;
            for (long long i = 1; i < t->count; i += 2)
                free(t->handoff[i]);
            for (size_t i = 0; i < half; i++) {
                void *p = obj_alloc(1, size);
                obj_record(t, 1, p, size);
            }
        }
        pthread_barrier_wait(&t->step);
        if (s->who == 0) {
            t->shared[k] = shared_lines(t->rec, &t->lines_a[k]);
            for (long long i = 0; i < t->count; i += 2)
                free(t->handoff[i]);
        } else {
            for (size_t i = 0; i < t->rec[1].n; i++)
                free(t->rec[1].v[i].p);
        }
        pthread_barrier_wait(&t->step);
    }
    return NULL;
}

/* One object per thread per step, both right after the same barrier, so
 * the two threads' requests reach the allocator interleaved in time. */
static void *active_run(void *arg) {
    struct side *s = arg;
    struct test *t = s->t;
    struct bench_rng rng;
    bench_rng_seed(&rng, t->seed + (uint64_t)s->who * 0x9e3779b97f4a7c15u);
    t->rec[s->who].n = 0;
    for (long long i = 0; i < t->count; i++) {
        pthread_barrier_wait(&t->step);
        size_t size = 8 + bench_rng_below(&rng, 41);
        obj_record(t, s->who, obj_alloc(s->who, size), size);
    }
    pthread_barrier_wait(&t->step);
    if (s->who == 0)
        t->shared[0] = shared_lines(t->rec, &t->lines_a[0]);
    pthread_barrier_wait(&t->step);
    for (size_t i = 0; i < t->rec[s->who].n; i++)
        free(t->rec[s->who].v[i].p);
    return NULL;
}

/* Fresh threads for each test, neither of them main, so that both start
 * alike (glibc gives the main thread its brk arena, others mmap arenas). */
static void test_run(struct test *t, void *(*fn)(void *)) {
    struct side sides[2] = {{.t = t, .who = 0}, {.t = t, .who = 1}};
    pthread_barrier_init(&t->step, NULL, 2);
    for (int who = 0; who < 2; who++) {
        if (pthread_create(&sides[who].thread, NULL, fn, &sides[who]) != 0) {
            fprintf(stderr, "false_sharing: pthread_create failed\n");
            exit(1);
        }
    }
    for (int who = 0; who < 2; who++)
        pthread_join(sides[who].thread, NULL);
    pthread_barrier_destroy(&t->step);
}

int main(int argc, char **argv) {
    /* Defaults: 1000 objects per size in the passive test, 10000 steps in
     * the active one; both run in well under a second. */
    long long objects = 1000, steps = 10000, seed = 1, usable = 0;
    for (int i = 1; i < argc; i++)
        if (!bench_opt_int(argc, argv, &i, "--objects", 2, 1 << 24, &objects) &&
            !bench_opt_int(argc, argv, &i, "--steps", 1, 1 << 24, &steps) &&
            !bench_opt_int(argc, argv, &i, "--usable", 0, 1, &usable) &&
            !bench_opt_int(argc, argv, &i, "--seed", 0, LLONG_MAX, &seed))
            bench_usage_error(argv[0], argv[i]);
    long long most = objects > steps ? objects : steps;

    struct test t = {.usable = usable != 0, .seed = (uint64_t)seed};
    t.handoff = map_or_die((size_t)objects * sizeof *t.handoff);
    for (int who = 0; who < 2; who++)
        t.rec[who].v = map_or_die((size_t)most * sizeof *t.rec[who].v);

    t.count = objects;
    test_run(&t, passive_run);
    long long passive = 0;
    char detail[PASSIVE_SIZES][48];
    for (int k = 0; k < PASSIVE_SIZES; k++) {
        passive += t.shared[k];
        snprintf(detail[k], sizeof detail[k], " %zu B: %lld/%lld", passive_sizes[k], t.shared[k],
                 t.lines_a[k]);
    }

    memset(t.shared, 0, sizeof t.shared);
    t.count = steps;
    test_run(&t, active_run);
    long long active = t.shared[0];

    printf("false_sharing: objects %lld, steps %lld, usable %lld, seed %lld\n", objects, steps,
           usable, seed);
    printf("false_sharing: passive: %lld shared lines (per size, shared/lines with A's live "
           "objects:",
           passive);
    for (int k = 0; k < PASSIVE_SIZES; k++)
        printf("%s", detail[k]);
    printf(")\n");
    printf("false_sharing: active: %lld shared lines of %lld with A's objects\n", active,
           t.lines_a[0]);
    bench_result((double)(passive + active), "lines", true);
    return 0;
}
