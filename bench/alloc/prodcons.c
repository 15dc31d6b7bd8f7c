/* bench/alloc/prodcons.c - cost of a block that is always freed by another thread:
 * the message-passing pattern of a pipeline or an actor runtime.
 *
 * --producers threads malloc blocks of 16-256 B, stamp each with a checksum
 * and push it into a bounded single-producer single-consumer ring; the
 * --consumers threads pop, verify and free. Every free is remote, so the
 * allocator's cross-thread path is the whole benchmark. Threads share the
 * rings (one per producer/consumer pair), one futex word per thread and a
 * barrier. Prints ns per block: wall time over all blocks.
 */
#include "bench_util.h"

#include <limits.h>
#include <pthread.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CACHE_LINE 64
#define MIN_BLOCK 16 /* room for struct msg */
#define MAX_BLOCK 256
#define MAX_SIDE 64 /* producers or consumers: bounds struct worker's left[] */

/*  One ring, one producer, one consumer; each index on its own line so
 *  that the two sides never write the same cache line:
 *
 *  +-------------------+-------------------+------------------------------+
 *  | head, cached_tail | tail, cached_head | mask, slot[0 .. capacity-1]  |
 *  | (producer writes) | (consumer writes) | (mask: set once, read-only)  |
 *  +-------------------+-------------------+------------------------------+
 *
 *  head and tail count pushes and pops forever; slot index = count & mask.
 *  Empty: head == tail. Full: head - tail == capacity. Each side keeps a
 *  stale copy of the other's index and reloads it only when that copy says
 *  full (or empty), so a push or pop usually reads no shared line. */
struct ring {
    alignas(CACHE_LINE) _Atomic size_t head;
    size_t cached_tail;
    alignas(CACHE_LINE) _Atomic size_t tail;
    size_t cached_head;
    alignas(CACHE_LINE) size_t mask;
    void *slot[];
};

/* The first 16 bytes of every block; the checksum binds the sequence
 * number to the size, so a block handed out twice or torn shows up. */
struct msg {
    uint64_t seq;
    uint32_t size;
    uint32_t check;
};

struct worker {
    alignas(CACHE_LINE) _Atomic uint32_t asleep; /* the futex word; on a line of its own */
    alignas(CACHE_LINE) pthread_t thread;
    struct shared *sh;
    int index;
    uint64_t seed;
    uint64_t t0, t1;
    long long popped, left[MAX_SIDE]; /* consumer: blocks still due from each producer */
};

struct shared {
    struct ring **rings;    /* rings[p * consumers + c] */
    struct worker *workers; /* producers 0..P-1, then consumers */
    int producers, consumers;
    long long blocks; /* per producer */
    pthread_barrier_t start;
};

static uint32_t msg_check(uint64_t seq, uint32_t size, int producer) {
    uint64_t z = seq * 0x9e3779b97f4a7c15u ^ ((uint64_t)size << 32 | (uint32_t)producer);
    z = (z ^ (z >> 29)) * 0xbf58476d1ce4e5b9u;
    return (uint32_t)(z >> 32);
}

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause() /* spin politely beside a hyperthread */
#else
#define cpu_relax() ((void)0)
#endif

/* Waiting: spin SPIN_LIMIT polls, then sleep on a futex. With sched_yield
 * instead, 50 ns/block became 500 whenever another process took a core: a
 * yield hands it the core for a whole time slice.
 * No lost wake-up (Dekker): the sleeper stores asleep = 1, fences
 * (seq_cst), looks at the rings once more; the waker publishes an index,
 * fences, reads asleep. Either the sleeper sees the index or the waker sees
 * asleep. The waker fences only every WAKE_BATCH blocks, before it sleeps
 * and when done, which keeps the fence off the per-block path and bounds a
 * sleeper's extra wait to WAKE_BATCH blocks (about 2 us). */
#define SPIN_LIMIT 256
#define WAKE_BATCH 64

static void wake_all(struct worker *s, int n) {
    atomic_thread_fence(memory_order_seq_cst);
    for (int i = 0; i < n; i++)
        if (atomic_load_explicit(&s[i].asleep, memory_order_relaxed) != 0 &&
            atomic_exchange_explicit(&s[i].asleep, 0, memory_order_relaxed) != 0)
            syscall(SYS_futex, &s[i].asleep, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void sleep_unless(struct worker *me, bool (*ready)(void *), void *ctx) {
    atomic_store_explicit(&me->asleep, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (!ready(ctx)) /* returns at once if a waker already reset asleep */
        syscall(SYS_futex, &me->asleep, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
    atomic_store_explicit(&me->asleep, 0, memory_order_relaxed);
}

/* False when the ring is full. */
static bool ring_try_push(struct ring *r, void *item) {
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (head - r->cached_tail > r->mask) {
        /* Acquire: pairs with the release store of tail in ring_pop, so the
         * consumer's read of this slot is done before we overwrite it. */
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head - r->cached_tail > r->mask)
            return false;
    }
    r->slot[head & r->mask] = item;
    /* Release: pairs with the acquire load of head in ring_pop, so the
     * consumer sees the slot and the block's contents written before. */
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return true;
}

/* NULL when the ring is empty. */
static void *ring_pop(struct ring *r) {
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (tail == r->cached_head) {
        /* Acquire: pairs with the release store of head in ring_try_push. */
        r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail == r->cached_head)
            return NULL;
    }
    void *item = r->slot[tail & r->mask];
    /* Release: pairs with the acquire load of tail in ring_try_push. */
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    return item;
}

static bool ring_has_room(void *ring) {
    struct ring *r = ring;
    return atomic_load_explicit(&r->head, memory_order_relaxed) -
               atomic_load_explicit(&r->tail, memory_order_relaxed) <=
           r->mask;
}

/* Producer p sends block i to consumer i mod C, so ring (p, c) carries an
 * increasing run of sequence numbers, and its length is known up front. */
static void *producer_run(void *arg) {
    struct worker *w = arg;
    struct shared *sh = w->sh;
    struct worker *consumers = sh->workers + sh->producers;
    struct ring **mine = sh->rings + (size_t)w->index * (size_t)sh->consumers;
    struct bench_rng rng;
    bench_rng_seed(&rng, w->seed);
    pthread_barrier_wait(&sh->start);
    w->t0 = bench_now_ns();
    for (long long i = 0; i < sh->blocks; i++) {
        uint32_t size = MIN_BLOCK + bench_rng_below(&rng, MAX_BLOCK - MIN_BLOCK + 1);
        struct msg *m = malloc(size);
        if (m == NULL) {
            fprintf(stderr, "prodcons: malloc(%u) failed\n", size);
            exit(1);
        }
        *m = (struct msg){.seq = (uint64_t)i, .size = size};
        m->check = msg_check(m->seq, size, w->index);
        /* The last byte too, so the block's far end is written and read
         * across cores (for 16 B it is the checksum's own top byte). */
        if (size > MIN_BLOCK)
            ((unsigned char *)m)[size - 1] = (unsigned char)m->check;
        struct ring *r = mine[i % sh->consumers];
        for (unsigned spins = 0; !ring_try_push(r, m);) {
            if (++spins < SPIN_LIMIT) {
                cpu_relax();
                continue;
            }
            wake_all(consumers, sh->consumers);
            sleep_unless(w, ring_has_room, r);
            spins = 0;
        }
        if ((i + 1) % WAKE_BATCH == 0)
            wake_all(consumers, sh->consumers);
    }
    wake_all(consumers, sh->consumers);
    w->t1 = bench_now_ns();
    return NULL;
}

static void msg_verify(const struct msg *m, int producer) {
    uint32_t size = m->size;
    if (size < MIN_BLOCK || size > MAX_BLOCK || m->check != msg_check(m->seq, size, producer) ||
        (size > MIN_BLOCK && ((const unsigned char *)m)[size - 1] != (unsigned char)m->check)) {
        fprintf(stderr, "prodcons: corrupt block from producer %d: seq %llu size %u\n", producer,
                (unsigned long long)m->seq, size);
        exit(1);
    }
}

static bool consumer_has_item(void *worker) {
    const struct worker *w = worker;
    for (int p = 0; p < w->sh->producers; p++) {
        struct ring *r = w->sh->rings[(size_t)p * (size_t)w->sh->consumers + (size_t)w->index];
        if (w->left[p] > 0 && atomic_load_explicit(&r->head, memory_order_acquire) !=
                                  atomic_load_explicit(&r->tail, memory_order_relaxed))
            return true;
    }
    return false;
}

/* Drain this consumer's ring from every producer in turn until each has
 * delivered its known count. */
static void *consumer_run(void *arg) {
    struct worker *w = arg;
    struct shared *sh = w->sh;
    int c = w->index;
    long long expect = 0;
    for (int p = 0; p < sh->producers; p++) {
        w->left[p] = sh->blocks / sh->consumers + (c < sh->blocks % sh->consumers);
        expect += w->left[p];
    }
    pthread_barrier_wait(&sh->start);
    w->t0 = bench_now_ns();
    unsigned spins = 0;
    while (w->popped < expect) {
        bool any = false;
        for (int p = 0; p < sh->producers; p++) {
            struct ring *r = sh->rings[(size_t)p * (size_t)sh->consumers + (size_t)c];
            struct msg *m;
            while (w->left[p] > 0 && (m = ring_pop(r)) != NULL) {
                msg_verify(m, p);
                free(m);
                w->left[p]--;
                any = true;
                if (++w->popped % WAKE_BATCH == 0)
                    wake_all(sh->workers, sh->producers);
            }
        }
        if (any) {
            spins = 0;
            continue;
        }
        if (++spins < SPIN_LIMIT) {
            cpu_relax();
            continue;
        }
        wake_all(sh->workers, sh->producers);
        sleep_unless(w, consumer_has_item, w);
        spins = 0;
    }
    wake_all(sh->workers, sh->producers);
    w->t1 = bench_now_ns();
    return NULL;
}

/* Zeroed and line-aligned, for the structs whose fields must not share
 * a line with another thread's. */
static void *zalloc_lines(size_t bytes) {
    bytes = (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE; /* aligned_alloc wants a multiple */
    void *p = aligned_alloc(CACHE_LINE, bytes);
    if (p == NULL) {
        fprintf(stderr, "prodcons: out of memory\n");
        exit(1);
    }
    return memset(p, 0, bytes);
}

/* Producers on the first half of the allowed CPUs, consumers on the rest;
 * false when there is one CPU. Unpinned, 2 + 2 threads on 2 cores land in
 * the pairing the scheduler picks, and that set the result: 34 to 60
 * ns/block for mimalloc, 65 to 160 for glibc. Pinned, every block crosses
 * cores: dearer but steadier (52-58, 158-192 on the same loaded machine). */
static bool side_cpus(bool producer, cpu_set_t *out) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2)
        return false;
    int half = CPU_COUNT(&allowed) / 2, seen = 0;
    CPU_ZERO(out);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        if ((seen++ < half) == producer)
            CPU_SET(cpu, out);
    }
    return true;
}

int main(int argc, char **argv) {
    /* Default --blocks 2 M per producer: about 0.65 s with glibc for 2 + 2
     * threads on the 2-core CI machine (160 ns/block). --ring 1024: two
     * threads share each core, so a peer is often descheduled for a while;
     * 1024 slots keep the other side busy meanwhile, and the at most
     * 4 x 1024 blocks in flight (about 0.5 MiB) still fit in L2/L3. */
    long long producers = 2, consumers = 2, blocks = 2000000, ring = 1024, seed = 1, pin = 1;
    for (int i = 1; i < argc; i++)
        if (!bench_opt_int(argc, argv, &i, "--producers", 1, MAX_SIDE, &producers) &&
            !bench_opt_int(argc, argv, &i, "--consumers", 1, MAX_SIDE, &consumers) &&
            !bench_opt_int(argc, argv, &i, "--blocks", 1, LLONG_MAX, &blocks) &&
            !bench_opt_int(argc, argv, &i, "--ring", 2, 1 << 24, &ring) &&
            !bench_opt_int(argc, argv, &i, "--pin", 0, 1, &pin) &&
            !bench_opt_int(argc, argv, &i, "--seed", 0, LLONG_MAX, &seed))
            bench_usage_error(argv[0], argv[i]);
    if ((ring & (ring - 1)) != 0) {
        fprintf(stderr, "prodcons: --ring %lld is not a power of two\n", ring);
        return 2;
    }

    int threads = (int)(producers + consumers);
    struct shared sh = {.producers = (int)producers, .consumers = (int)consumers, .blocks = blocks};
    pthread_barrier_init(&sh.start, NULL, (unsigned)threads);
    sh.rings = zalloc_lines((size_t)(producers * consumers) * sizeof *sh.rings);
    struct worker *workers = sh.workers = zalloc_lines((size_t)threads * sizeof *workers);
    for (long long k = 0; k < producers * consumers; k++) {
        sh.rings[k] = zalloc_lines(sizeof(struct ring) + (size_t)ring * sizeof(void *));
        sh.rings[k]->mask = (size_t)ring - 1;
    }

    pthread_attr_t attrs[2]; /* [1]: producers, [0]: consumers */
    for (int side = 0; side < 2; side++) {
        cpu_set_t cpus;
        pthread_attr_init(&attrs[side]);
        if (pin && side_cpus(side == 1, &cpus))
            pthread_attr_setaffinity_np(&attrs[side], sizeof cpus, &cpus);
    }
    for (int t = 0; t < threads; t++) {
        bool is_producer = t < producers;
        workers[t].sh = &sh; /* the rest is zero from zalloc_lines */
        workers[t].index = is_producer ? t : t - (int)producers;
        workers[t].seed = (uint64_t)seed + (uint64_t)(t + 1) * 0x9e3779b97f4a7c15u;
        if (pthread_create(&workers[t].thread, &attrs[is_producer],
                           is_producer ? producer_run : consumer_run, &workers[t]) != 0) {
            fprintf(stderr, "prodcons: pthread_create failed\n");
            return 1;
        }
    }
    for (int side = 0; side < 2; side++)
        pthread_attr_destroy(&attrs[side]);
    long long popped = 0;
    uint64_t t0 = UINT64_MAX, t1 = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(workers[t].thread, NULL);
        popped += workers[t].popped;
        t0 = workers[t].t0 < t0 ? workers[t].t0 : t0;
        t1 = workers[t].t1 > t1 ? workers[t].t1 : t1;
    }
    long long total = producers * blocks;
    if (popped != total) {
        fprintf(stderr, "prodcons: %lld blocks freed, %lld made\n", popped, total);
        return 1;
    }

    /* From the first thread past the start barrier to the last consumer's
     * last free: every block's malloc, trip through a ring and free. */
    double wall_ns = (double)(t1 - t0);
    printf("prodcons: producers %lld, consumers %lld, blocks %lld, ring %lld, pin %lld, "
           "seed %lld, wall %.3f s\n",
           producers, consumers, total, ring, pin, seed, wall_ns / 1e9);
    bench_result(wall_ns / (double)total, "ns/block", true);
    for (long long k = 0; k < producers * consumers; k++)
        free(sh.rings[k]);
    free(sh.rings);
    free(workers);
    pthread_barrier_destroy(&sh.start);
    return 0;
}
