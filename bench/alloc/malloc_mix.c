/* bench/alloc/malloc_mix.c - malloc/free cost under a language runtime's size mix.
 *
 * Each thread owns a slot array of --live blocks and, per operation, frees
 * one random block and mallocs a replacement of a random size. Threads share
 * only the two barriers that bracket the timed loop, so any cross-thread cost
 * measured is the allocator's own. --mix chooses the size mix (mixes[]). It calls plain malloc and free: compare
 * chooses the allocator with LD_PRELOAD. Prints one bench-result in ns/op.
 */
#include "bench_util.h"

#include <limits.h>
#include <pthread.h>

struct worker {
    pthread_t thread;
    uint64_t seed;
    size_t live;
    long long ops;
    const struct size_mix *mix;
    pthread_barrier_t *start;
    pthread_barrier_t *done;
    uint64_t t0, t1; /* just after the start and the done barrier */
    unsigned checksum;
};

/* A size mix: three bands of request sizes, each uniform inside, taken
 * with the given percentages (the third band gets the rest). */
struct size_mix {
    const char *name;
    uint32_t percent[2];
    uint32_t low[3], high[3];
};

/* runtime: 80 % of requests in 16-128 B, 15 % in 129-512 B, 5 % in
 *   513-4096 B. Object headers, small dicts, short strings and tuples
 *   dominate CPython- and Ruby-style heaps; the tail stands for buffers and
 *   large containers.
 * wide: 70 % in 16-64 B, 25 % in 65-512 B, 5 % in 513 B-8 KiB. Smaller
 *   objects but a longer tail: at 1 M live blocks the heap spans about
 *   250 MiB, so a free's pointer-to-metadata walk is usually a cache and
 *   TLB miss, the shape where allocators differ most. */
static const struct size_mix mixes[] = {
    {"runtime", {80, 95}, {16, 129, 513}, {128, 512, 4096}},
    {"wide", {70, 95}, {16, 65, 513}, {64, 512, 8192}},
};

/* One 64-bit draw per operation picks the band, the size and (from the
 * top 32 bits, in worker_run) the slot: each extra draw would add about
 * 1 ns to every allocator's number alike, shrinking the ratios between
 * them. */
static size_t mix_size(const struct size_mix *mix, uint64_t r) {
    uint32_t roll = (uint32_t)(((r & 0xffffu) * 100u) >> 16);
    uint32_t bits = (uint32_t)((r >> 16) & 0xffffu);
    unsigned band = roll < mix->percent[0] ? 0 : roll < mix->percent[1] ? 1 : 2;
    uint32_t width = mix->high[band] - mix->low[band] + 1;
    return mix->low[band] + ((bits * width) >> 16);
}

static unsigned char *mix_alloc(const struct size_mix *mix, uint64_t r, size_t slot) {
    size_t size = mix_size(mix, r);
    unsigned char *p = malloc(size);
    if (p == NULL) {
        fprintf(stderr, "malloc_mix: malloc(%zu) failed\n", size);
        exit(1);
    }
    /* Touch both ends, as a runtime initialising a header and a payload
     * would: an allocator that hands out cold or unmapped memory pays here. */
    p[0] = (unsigned char)r;
    p[size - 1] = (unsigned char)slot;
    return p;
}

static void *worker_run(void *arg) {
    struct worker *w = arg;
    struct bench_rng rng;
    bench_rng_seed(&rng, w->seed);
    unsigned char **slots = calloc(w->live, sizeof *slots);
    if (slots == NULL) {
        fprintf(stderr, "malloc_mix: no memory for %zu slots\n", w->live);
        exit(1);
    }
    /* Fill first, untimed, so every timed operation is one free plus one
     * malloc at a steady live size, not a ramp from an empty heap. */
    for (size_t i = 0; i < w->live; i++)
        slots[i] = mix_alloc(w->mix, bench_rng_next(&rng), i);

    unsigned sum = 0;
    pthread_barrier_wait(w->start);
    w->t0 = bench_now_ns();
    for (long long n = 0; n < w->ops; n++) {
        uint64_t r = bench_rng_next(&rng);
        size_t i = (size_t)(((r >> 32) * (uint64_t)w->live) >> 32);
        /* Read the block before freeing it, as a runtime's dealloc reads
         * the object's type: this keeps mix_alloc's writes live, so the
         * compiler cannot drop them as dead stores before free. */
        sum += slots[i][0];
        free(slots[i]);
        slots[i] = mix_alloc(w->mix, r, i);
    }
    pthread_barrier_wait(w->done);
    w->t1 = bench_now_ns();

    for (size_t i = 0; i < w->live; i++)
        free(slots[i]);
    free(slots);
    w->checksum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    long long live = 10000, ops = 0, seed = 1, threads = 1;
    const struct size_mix *mix = &mixes[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mix") == 0 && i + 1 < argc) {
            mix = NULL;
            for (size_t m = 0; m < sizeof mixes / sizeof mixes[0]; m++)
                if (strcmp(argv[i + 1], mixes[m].name) == 0)
                    mix = &mixes[m];
            if (mix == NULL)
                bench_usage_error(argv[0], argv[i + 1]);
            i++;
            continue;
        }
        if (!bench_opt_int(argc, argv, &i, "--live", 1, UINT32_MAX, &live) &&
            !bench_opt_int(argc, argv, &i, "--ops", 1, LLONG_MAX, &ops) &&
            !bench_opt_int(argc, argv, &i, "--seed", 0, LLONG_MAX, &seed) &&
            !bench_opt_int(argc, argv, &i, "--threads", 1, 256, &threads))
            bench_usage_error(argv[0], argv[i]);
    }
    /* Default --ops: 20 M up to 100 k live blocks, then 2e12 / live but
     * never under 4 M. Past 100 k the working set leaves the caches and an
     * op costs roughly in proportion (glibc: 32 ns at 10 k, 220 ns at 1 M
     * on the 2-core CI machine), so a glibc run stays near 1-2 s, while
     * 4 M ops still replace each of 1 M blocks four times over. */
    if (ops == 0) {
        ops = 2000000000000LL / live;
        ops = ops > 20000000 ? 20000000 : ops < 4000000 ? 4000000 : ops;
    }

    pthread_barrier_t start, done;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    pthread_barrier_init(&done, NULL, (unsigned)threads);
    struct worker *workers = calloc((size_t)threads, sizeof *workers);
    if (workers == NULL)
        return 1;
    for (long long t = 0; t < threads; t++) {
        workers[t] = (struct worker){
            .seed = (uint64_t)seed + (uint64_t)t * 0x9e3779b97f4a7c15u,
            .live = (size_t)live,
            .ops = ops,
            .mix = mix,
            .start = &start,
            .done = &done,
        };
    }
    /* Worker 0 runs on the main thread: with one thread, glibc then serves
     * it from its main (brk) arena, as it would a single-threaded runtime. */
    for (long long t = 1; t < threads; t++) {
        if (pthread_create(&workers[t].thread, NULL, worker_run, &workers[t]) != 0) {
            fprintf(stderr, "malloc_mix: pthread_create failed\n");
            return 1;
        }
    }
    worker_run(&workers[0]);
    unsigned checksum = workers[0].checksum;
    uint64_t t0 = workers[0].t0, t1 = workers[0].t1;
    for (long long t = 1; t < threads; t++) {
        pthread_join(workers[t].thread, NULL);
        checksum += workers[t].checksum;
        t0 = workers[t].t0 < t0 ? workers[t].t0 : t0;
        t1 = workers[t].t1 > t1 ? workers[t].t1 : t1;
    }

    /* Every thread does --ops operations, so total_ops = threads * ops, and
     * the result is  wall_ns * threads / total_ops  (= wall_ns / ops): the
     * time one thread spends per free+malloc pair while all run at once.
     * With perfect scaling it equals the 1-thread figure; contention in the
     * allocator raises it. wall_ns runs from the first thread leaving the
     * start barrier to the last leaving the done barrier, so filling and
     * emptying the slots is not timed. */
    double wall_ns = (double)(t1 - t0);
    double total_ops = (double)threads * (double)ops;
    printf("malloc_mix: mix %s, live %lld, ops %lld, threads %lld, seed %lld, checksum %u\n",
           mix->name, live, ops, threads, seed, checksum);
    bench_result(wall_ns * (double)threads / total_ops, "ns/op", true);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    free(workers);
    return 0;
}
