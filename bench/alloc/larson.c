/* bench/alloc/larson.c - server-style churn with cross-thread frees, after Larson
 * and Krishnan (ISMM 1998), as mimalloc-bench runs it. T threads each churn
 * a slot array of --slots blocks (free a random slot, malloc a replacement
 * of --min-size to --max-size bytes). At the end of a round every thread
 * passes its array to the next, so the next round frees blocks another
 * thread allocated: the remote-free path of a server whose requests move
 * between workers. Threads share the arrays, handed over at a barrier, and
 * nothing else. Prints ns per malloc+free pair of the whole process.
 */
#include "bench_util.h"

#include <limits.h>
#include <pthread.h>

struct shared {
    unsigned char ***arrays; /* arrays[a]: one slot array, owned by one thread per round */
    size_t slots;
    long long rounds, ops_per_round;
    size_t min_size, size_span;
    int threads;
    pthread_barrier_t round_end;
};

struct worker {
    pthread_t thread;
    struct shared *sh;
    int index;
    uint64_t seed;
    uint64_t t0, t1;
    unsigned checksum;
};

static unsigned char *block_new(const struct shared *sh, uint64_t r) {
    size_t size = sh->min_size + (size_t)(((r & 0xffffffffu) * sh->size_span) >> 32);
    unsigned char *p = malloc(size);
    if (p == NULL) {
        fprintf(stderr, "larson: malloc(%zu) failed\n", size);
        exit(1);
    }
    /* Touch both ends, as a server filling a request buffer would; the
     * free in the next round then reads a line the other core wrote. */
    p[0] = (unsigned char)(r >> 40);
    p[size - 1] = (unsigned char)r;
    return p;
}

/* Round k: thread t works on array (t + k) mod T. The barrier at the end of
 * each round is the hand-over: it orders every write to an array before the
 * next owner's first read, and the array moves on to thread t + 1. */
static void *worker_run(void *arg) {
    struct worker *w = arg;
    struct shared *sh = w->sh;
    struct bench_rng rng;
    bench_rng_seed(&rng, w->seed);
    unsigned sum = 0;
    pthread_barrier_wait(&sh->round_end);
    w->t0 = bench_now_ns();
    for (long long k = 0; k < sh->rounds; k++) {
        unsigned char **slots = sh->arrays[(w->index + k) % sh->threads];
        for (long long n = 0; n < sh->ops_per_round; n++) {
            uint64_t r = bench_rng_next(&rng);
            size_t i = (size_t)(((r >> 32) * (uint64_t)sh->slots) >> 32);
            /* Read before free, so block_new's writes are not dead stores. */
            sum += slots[i][0];
            free(slots[i]);
            slots[i] = block_new(sh, r);
        }
        pthread_barrier_wait(&sh->round_end);
    }
    w->t1 = bench_now_ns();
    w->checksum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    /* Defaults after mimalloc-bench's `larson 5 8 1000 5000 100 4141 T`:
     * 5000 blocks per thread up to 1000 B (16 B floor: a runtime object).
     * --ops-per-round 10000 replaces 86 % of an array's slots per round, so
     * about 43 % of all frees are remote. --rounds 1200: about 0.9 s with
     * glibc for 2 threads on the 2-core CI machine (36 ns/op). */
    long long threads = 2, slots = 5000, rounds = 1200, ops_per_round = 10000;
    long long min_size = 16, max_size = 1000, seed = 1;
    for (int i = 1; i < argc; i++)
        if (!bench_opt_int(argc, argv, &i, "--threads", 1, 256, &threads) &&
            !bench_opt_int(argc, argv, &i, "--slots", 1, UINT32_MAX, &slots) &&
            !bench_opt_int(argc, argv, &i, "--rounds", 1, LLONG_MAX, &rounds) &&
            !bench_opt_int(argc, argv, &i, "--ops-per-round", 1, LLONG_MAX, &ops_per_round) &&
            !bench_opt_int(argc, argv, &i, "--min-size", 1, 1 << 24, &min_size) &&
            !bench_opt_int(argc, argv, &i, "--max-size", 1, 1 << 24, &max_size) &&
            !bench_opt_int(argc, argv, &i, "--seed", 0, LLONG_MAX, &seed))
            bench_usage_error(argv[0], argv[i]);
    if (min_size > max_size) {
        fprintf(stderr, "larson: --min-size %lld exceeds --max-size %lld\n", min_size, max_size);
        return 2;
    }

    struct shared sh = {
        .slots = (size_t)slots,
        .rounds = rounds,
        .ops_per_round = ops_per_round,
        .min_size = (size_t)min_size,
        .size_span = (size_t)(max_size - min_size + 1),
        .threads = (int)threads,
    };
    pthread_barrier_init(&sh.round_end, NULL, (unsigned)threads);
    sh.arrays = calloc((size_t)threads, sizeof *sh.arrays);
    struct worker *workers = calloc((size_t)threads, sizeof *workers);
    if (sh.arrays == NULL || workers == NULL)
        return 1;
    /* Fill every array from the main thread, untimed: the first round then
     * starts with all frees remote, like a server's warm pool of buffers. */
    struct bench_rng fill;
    bench_rng_seed(&fill, (uint64_t)seed ^ 0x5bd1e995u);
    for (long long a = 0; a < threads; a++) {
        sh.arrays[a] = calloc((size_t)slots, sizeof **sh.arrays);
        if (sh.arrays[a] == NULL)
            return 1;
        for (long long i = 0; i < slots; i++)
            sh.arrays[a][i] = block_new(&sh, bench_rng_next(&fill));
    }

    for (long long t = 0; t < threads; t++) {
        workers[t] = (struct worker){
            .sh = &sh,
            .index = (int)t,
            .seed = (uint64_t)seed + (uint64_t)(t + 1) * 0x9e3779b97f4a7c15u,
        };
        if (pthread_create(&workers[t].thread, NULL, worker_run, &workers[t]) != 0) {
            fprintf(stderr, "larson: pthread_create failed\n");
            return 1;
        }
    }
    unsigned checksum = 0;
    uint64_t t0 = UINT64_MAX, t1 = 0;
    for (long long t = 0; t < threads; t++) {
        pthread_join(workers[t].thread, NULL);
        checksum += workers[t].checksum;
        t0 = workers[t].t0 < t0 ? workers[t].t0 : t0;
        t1 = workers[t].t1 > t1 ? workers[t].t1 : t1;
    }
    for (long long a = 0; a < threads; a++) {
        for (long long i = 0; i < slots; i++)
            free(sh.arrays[a][i]);
        free(sh.arrays[a]);
    }

    /* Throughput of the whole process, not of one thread: the pairs of all
     * threads over the wall time, so 2 threads that scale perfectly show
     * half the 1-thread figure. The round barriers are inside the timed
     * region; their cost is the same for every allocator. */
    double pairs = (double)threads * (double)rounds * (double)ops_per_round;
    double wall_ns = (double)(t1 - t0);
    printf("larson: threads %lld, slots %lld, rounds %lld x %lld ops, %lld-%lld B, seed %lld, "
           "checksum %u, wall %.3f s\n",
           threads, slots, rounds, ops_per_round, min_size, max_size, seed, checksum,
           wall_ns / 1e9);
    bench_result(wall_ns / pairs, "ns/op", true);
    pthread_barrier_destroy(&sh.round_end);
    free(sh.arrays);
    free(workers);
    return 0;
}
