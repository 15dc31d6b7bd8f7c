/* stress/stress_alloc.c - layer 2 under threads that keep being born and dying:
 * blocks of 1 B to 40 MiB, aligned up to 2 MiB, are allocated, resized, handed
 * between threads and freed, mostly by a thread that did not allocate them,
 * often after that thread exited and its pools were abandoned.
 *
 * Checks: every block keeps its contents wherever it travels; calloc gives
 * zeros; realloc keeps the prefix; usable size and alignment are as asked; at
 * the end, everything freed and collected, rcgc_alloc_stats shows no block,
 * pool, large or huge block or arena left: nothing was lost.
 *
 * --mode hook adds a thread that installs and removes an allocation hook
 * (alloc/alloc_hook.h) every millisecond or two, one that wants every
 * allocation and one that samples, in turn, so that threads are diverted
 * to the slow paths and back, and have their pools' lists cut at samples,
 * while they allocate, free, start and exit. The hook checks that each
 * block it hears of is live and as large as asked.
 */
#include "alloc/alloc_hook.h"
#include "stress_common.h"

#include <rcgc.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HELD_PER_SLOT 64
#define EXCHANGE_SLOTS 64
#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define MAX_BLOCK (40 * MIB)
#define GROW_LIMIT (8 * MIB)   /* realloc grows past this only by a fresh size */
#define SAMPLE_ABOVE (8 * KIB) /* bigger blocks: pattern on a sample of bytes */
#define PAGE ((size_t)4096)

/* A block describes itself, so whoever holds it can check it:
 *   size >= 16: bytes [0, 8) hold size << 16 | log2(alignment) << 8 (so byte
 *               0 is 0), bytes [8, 16) the tag, byte i >= 16 pattern(tag, i);
 *   size 1..15: byte 0 holds the size, byte i pattern(block address, i).
 * Blocks above SAMPLE_ABOVE are written and checked only at the bytes
 * next_index() visits: the first and last page, and 16 bytes of each page. */
struct desc {
    size_t size;
    uint64_t tag;
    unsigned align_shift;
    unsigned char head[16]; /* what bytes [0, 16) hold */
};

static _Atomic(unsigned char *) exchange[EXCHANGE_SLOTS];
/* Totals, added once per thread; only read after every thread is joined. */
static _Atomic uint64_t total_allocs, total_reallocs, total_handovers, total_collects,
    threads_started;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline unsigned char pattern(uint64_t tag, size_t i) {
    uint64_t x = tag + i * 0x9e3779b97f4a7c15u;
    return (unsigned char)((x ^ (x >> 32)) >> 24);
}

static inline size_t next_index(size_t i, size_t size) {
    i++;
    if (size > SAMPLE_ABOVE && i >= PAGE && i < size - PAGE && i % PAGE >= 16) {
        size_t next_page = (i / PAGE + 1) * PAGE;
        i = next_page < size - PAGE ? next_page : size - PAGE;
    }
    return i;
}

static struct desc make_desc(size_t size, uint64_t tag, unsigned align_shift) {
    struct desc d = {size, tag, align_shift, {0}};
    if (size < 16) {
        d.head[0] = (unsigned char)size;
        for (size_t i = 1; i < 16; i++)
            d.head[i] = pattern(tag, i);
    } else {
        uint64_t word = (uint64_t)size << 16 | (uint64_t)align_shift << 8;
        memcpy(d.head, &word, 8);
        memcpy(d.head + 8, &tag, 8);
    }
    return d;
}

static inline unsigned char expected(const struct desc *d, size_t i) {
    return i < 16 ? d->head[i] : pattern(d->tag, i);
}

/* Tiny blocks take their tag from their address: call after placing them. */
static struct desc describe_new(unsigned char *p, size_t size, uint64_t tag, unsigned shift) {
    return make_desc(size, size < 16 ? (uint64_t)(uintptr_t)p : tag, shift);
}

static void fill(unsigned char *p, const struct desc *d) {
    for (size_t i = 0; i < d->size; i = next_index(i, d->size))
        p[i] = expected(d, i);
}

/* Bytes [0, keep) of @p hold what @d describes. */
static bool check_bytes(const unsigned char *p, const struct desc *d, size_t keep,
                        const char *where) {
    for (size_t i = 0; i < keep; i = next_index(i, d->size))
        if (p[i] != expected(d, i)) {
            stress_fail("%s: block %p (%zu B, tag %#llx) byte %zu is %#x, expected %#x", where,
                        (const void *)p, d->size, (unsigned long long)d->tag, i, p[i],
                        expected(d, i));
            return false;
        }
    return true;
}

/* What the allocator promises about any live block of @size. */
static bool check_promises(const unsigned char *p, size_t size, unsigned shift, const char *where) {
    size_t usable = rcgc_usable_size(p);
    if (!rcgc_owns(p) || usable < size || (uintptr_t)p % ((uintptr_t)1 << shift) != 0) {
        stress_fail("%s: block %p of %zu B: owned %d, usable %zu, alignment %zu asked", where,
                    (const void *)p, size, rcgc_owns(p), usable, (size_t)1 << shift);
        return false;
    }
    return true;
}

/* Read a block's description from itself and check all of it. False (and
 * the block is dropped, never touched again) when it is corrupt. */
static bool read_desc(const unsigned char *p, struct desc *out, const char *where) {
    if (p[0] != 0) {
        *out = make_desc(p[0], (uint64_t)(uintptr_t)p, 4);
        if (p[0] >= 16) {
            stress_fail("%s: block %p has a bad header byte %#x", where, (const void *)p, p[0]);
            return false;
        }
    } else {
        uint64_t word, tag;
        memcpy(&word, p, 8);
        memcpy(&tag, p + 8, 8);
        size_t size = (size_t)(word >> 16);
        unsigned shift = (unsigned)(word >> 8) & 0xff;
        if (size < 16 || size > MAX_BLOCK || shift < 4 || shift > 21) {
            stress_fail("%s: block %p has a bad header %#llx", where, (const void *)p,
                        (unsigned long long)word);
            return false;
        }
        *out = make_desc(size, tag, shift);
    }
    return check_promises(p, out->size, out->align_shift, where) &&
           check_bytes(p, out, out->size, where);
}

/* Mostly 1-512 B, a tail of 513 B - 256 KiB, rarely large (to 32 MiB) or
 * huge (32-40 MiB, a mapping of its own). */
static size_t pick_size(uint64_t *rng) {
    uint64_t r = stress_below(rng, 100000);
    if (r >= 10000) /* 90 % */
        return 1 + (size_t)stress_below(rng, 512);
    if (r < 5) /* 0.005 %: huge */
        return 32 * MIB + 1 + (size_t)stress_below(rng, MAX_BLOCK - 32 * MIB);
    /* Log-uniform over (2^k, 2^(k+1)]: 513 B - 256 KiB, or 0.045 % large. */
    unsigned k = r < 50 ? 18 + (unsigned)stress_below(rng, 7) : 9 + (unsigned)stress_below(rng, 9);
    size_t base = (size_t)1 << k;
    return base + 1 + (size_t)stress_below(rng, base);
}

static unsigned char *alloc_block(uint64_t *rng, uint64_t *allocs) {
    size_t size = pick_size(rng);
    unsigned shift = 4, how = (unsigned)stress_below(rng, 20);
    unsigned char *p;
    const char *what;
    if (how < 14) {
        what = "rcgc_malloc";
        p = rcgc_malloc(size);
    } else if (how < 17) {
        what = "rcgc_calloc";
        size_t count = 1 + (size_t)stress_below(rng, 4), each = (size + count - 1) / count;
        size = count * each;
        p = rcgc_calloc(count, each);
        for (size_t i = 0; p != NULL && i < size; i = next_index(i, size))
            if (p[i] != 0) {
                stress_fail("calloc(%zu, %zu) %p byte %zu is %#x", count, each, (void *)p, i, p[i]);
                return NULL;
            }
    } else {
        what = "rcgc_aligned_alloc";
        shift = 4 + (unsigned)stress_below(rng, 18); /* 16 B .. 2 MiB */
        size = size < 16 ? 16 : size;
        p = rcgc_aligned_alloc((size_t)1 << shift, size);
    }
    if (p == NULL) {
        stress_fail("%s of %zu B (alignment %zu) returned NULL, errno %d", what, size,
                    (size_t)1 << shift, errno);
        return NULL;
    }
    if (!check_promises(p, size, shift, what))
        return NULL;
    struct desc d = describe_new(p, size, stress_next(rng), shift);
    fill(p, &d);
    (*allocs)++;
    return p;
}

static unsigned char *realloc_block(unsigned char *p, uint64_t *rng) {
    struct desc old;
    if (!read_desc(p, &old, "before realloc"))
        return NULL;
    size_t size;
    switch (stress_below(rng, 8)) {
    case 0:
    case 1:
    case 2: /* grow, often across several classes */
        size = old.size * (2 + (size_t)stress_below(rng, 7));
        if (size > GROW_LIMIT)
            size = pick_size(rng);
        break;
    case 3:
    case 4:
    case 5: /* shrink */
        size = 1 + old.size / (2 + (size_t)stress_below(rng, 15));
        break;
    case 6: /* nearby: often the same class, where the block stays put */
        size = old.size + (size_t)stress_below(rng, 32);
        size = size > 16 ? size - 16 : 1;
        break;
    default:
        size = pick_size(rng);
    }
    size_t keep = old.size < size ? old.size : size;
    if (stress_below(rng, 16) == 0) { /* via the malloc(0) block: nothing kept */
        p = rcgc_realloc(p, 0);
        if (p == NULL) {
            stress_fail("realloc of %zu B to 0 returned NULL, errno %d", old.size, errno);
            return NULL;
        }
        keep = 0;
    }
    unsigned char *moved = rcgc_realloc(p, size);
    if (moved == NULL) {
        stress_fail("realloc to %zu B returned NULL, errno %d", size, errno);
        return NULL;
    }
    if (!check_promises(moved, size, 4, "realloc") || !check_bytes(moved, &old, keep, "realloc"))
        return NULL;
    struct desc d = describe_new(moved, size, stress_next(rng), 4);
    fill(moved, &d);
    return moved;
}

/* Leave @p (may be NULL) in a random exchange slot and take what was there. */
static unsigned char *hand_over(unsigned char *p, uint64_t *rng) {
    unsigned slot = (unsigned)stress_below(rng, EXCHANGE_SLOTS);
    /* acq_rel: the release publishes our writes to the block (its contents,
     * and the allocator's own, e.g. the block's cookie) to whoever takes it
     * next; the acquire makes the previous depositor's writes visible to our
     * check and to our eventual free. Without it the taker could read the
     * block before its contents, and TSan would flag every remote free. */
    unsigned char *taken = atomic_exchange_explicit(&exchange[slot], p, memory_order_acq_rel);
    struct desc d;
    return taken != NULL && read_desc(taken, &d, "handed over") ? taken : NULL;
}

static void free_block(unsigned char *p, const char *where) {
    struct desc d;
    if (read_desc(p, &d, where))
        rcgc_free(p);
}

/* A worker slot: its blocks outlive the threads that run it in turn. */
struct slot {
    unsigned char *held[HELD_PER_SLOT];
    uint64_t rng;
    uint64_t lifetime_ns;
};

struct counts {
    uint64_t allocs, reallocs, handovers, collects;
};

static void rare_step(uint64_t *rng, struct counts *counts) {
    uint64_t r = stress_below(rng, 20);
    if (r < 17) {
        rcgc_heap_collect(false);
    } else if (r < 18) {
        rcgc_heap_collect(true);
    } else if (r < 19) {
        struct rcgc_alloc_stats stats; /* any thread, any time: must not race */
        rcgc_alloc_stats(&stats);
        return;
    } else { /* malloc(0): unique and freeable */
        void *a = rcgc_malloc(0), *b = rcgc_malloc(0);
        if (a == NULL || b == NULL || a == b)
            stress_fail("malloc(0) gave %p and %p", a, b);
        rcgc_free(a);
        rcgc_free(b);
        return;
    }
    counts->collects++;
}

static void step(struct slot *slot, struct counts *counts) {
    uint64_t *rng = &slot->rng;
    unsigned char **held = &slot->held[stress_below(rng, HELD_PER_SLOT)];
    uint64_t r = stress_below(rng, 1000);
    struct desc d;
    if (r == 0) {
        rare_step(rng, counts);
    } else if (*held == NULL) {
        if (r < 800) {
            *held = alloc_block(rng, &counts->allocs);
        } else { /* take a block some other thread left */
            *held = hand_over(NULL, rng);
            counts->handovers += *held != NULL;
        }
    } else if (r < 400) {
        free_block(*held, "free");
        *held = NULL;
    } else if (r < 600) {
        *held = realloc_block(*held, rng);
        counts->reallocs++;
    } else if (r < 900) {
        *held = hand_over(*held, rng);
        counts->handovers++;
    } else if (!read_desc(*held, &d, "held")) {
        *held = NULL;
    }
}

/* One short-lived thread: runs its slot for slot->lifetime_ns, then exits
 * with blocks left in the exchange and in the slot, in pools it abandons. */
static void *child_main(void *arg) {
    struct slot *slot = arg;
    struct counts counts = {0};
    uint64_t deadline = now_ns() + slot->lifetime_ns;
    while (stress_running() && now_ns() < deadline)
        step(slot, &counts);
    for (unsigned i = 0; i < HELD_PER_SLOT; i++)
        if (slot->held[i] != NULL && stress_below(&slot->rng, 4) == 0) {
            slot->held[i] = hand_over(slot->held[i], &slot->rng);
            counts.handovers++;
        }
    atomic_fetch_add_explicit(&total_allocs, counts.allocs, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_reallocs, counts.reallocs, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_handovers, counts.handovers, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_collects, counts.collects, memory_order_relaxed);
    return NULL;
}

/* A worker slot restarts a child thread (1-50 ms each) until the deadline;
 * pthread_create and pthread_join order each child's use of the slot. The
 * worker itself never allocates: its final frees are by a thread that has
 * no heap. */
static void worker(unsigned index, uint64_t seed, void *arg) {
    (void)index;
    (void)arg;
    struct slot slot = {.rng = seed};
    while (stress_running()) {
        slot.lifetime_ns = (1 + stress_below(&slot.rng, 50)) * 1000000u;
        pthread_t child;
        if (pthread_create(&child, NULL, child_main, &slot) != 0) {
            stress_fail("pthread_create failed");
            break;
        }
        pthread_join(child, NULL);
        atomic_fetch_add_explicit(&threads_started, 1, memory_order_relaxed);
    }
    for (unsigned i = 0; i < HELD_PER_SLOT; i++)
        if (slot.held[i] != NULL)
            free_block(slot.held[i], "final free");
}

/* ------------------------------------------------------------ --mode hook */

static _Atomic uint64_t hooked_allocs, hooked_frees, hook_installs;
static _Atomic bool toggler_stop; /* set by main once the workers are done */

static void hook_saw_alloc(void *ptr, size_t size, const void *caller, void *arg) {
    (void)caller;
    (void)arg;
    if (ptr == NULL || rcgc_usable_size(ptr) < size)
        stress_fail("hook: block %p of %zu B reported with usable size %zu", ptr, size,
                    ptr != NULL ? rcgc_usable_size(ptr) : 0);
    atomic_fetch_add_explicit(&hooked_allocs, 1, memory_order_relaxed);
}

static void hook_saw_free(void *ptr, void *arg) {
    (void)arg;
    if (!rcgc_owns(ptr))
        stress_fail("hook: free of %p, which is not rcgc's", ptr);
    atomic_fetch_add_explicit(&hooked_frees, 1, memory_order_relaxed);
}

static const struct rcgc__alloc_hook checking_hook = {.on_alloc = hook_saw_alloc,
                                                      .on_free = hook_saw_free};
/* Every other install samples (a block per KiB on average), so pools'
 * lists are cut at samples and sampled blocks freed across threads while
 * workers allocate, free remotely and exit. */
static const struct rcgc__alloc_hook sampling_hook = {
    .on_alloc = hook_saw_alloc, .on_free = hook_saw_free, .sample_bytes = 1024};

static void *toggle_hook(void *arg) {
    uint64_t rng = *(uint64_t *)arg;
    while (!atomic_load_explicit(&toggler_stop, memory_order_relaxed)) {
        uint64_t installs = atomic_fetch_add_explicit(&hook_installs, 1, memory_order_relaxed);
        rcgc__alloc_hook_set(installs % 2 == 0 ? &checking_hook : &sampling_hook);
        struct timespec on = {0, (long)(500000 + stress_below(&rng, 1500000))};
        nanosleep(&on, NULL);
        rcgc__alloc_hook_set(NULL);
        struct timespec off = {0, (long)stress_below(&rng, 1000000)};
        nanosleep(&off, NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    static const char *const modes[] = {"hook", NULL};
    struct stress_options options = stress_parse(argc, argv, "stress_alloc", modes);
    bool hook_mode = strcmp(options.mode, "hook") == 0;
    pthread_t toggler;
    uint64_t toggler_seed = options.seed ^ 0x9e3779b97f4a7c15u;
    if (hook_mode && pthread_create(&toggler, NULL, toggle_hook, &toggler_seed) != 0)
        stress_fail("pthread_create failed");
    stress_run(&options, worker, NULL);
    if (hook_mode) {
        atomic_store(&toggler_stop, true);
        pthread_join(toggler, NULL);
        if (atomic_load(&hook_installs) == 0 || atomic_load(&hooked_allocs) == 0 ||
            atomic_load(&hooked_frees) == 0)
            stress_fail("hook mode: %llu installs saw %llu allocations and %llu frees",
                        (unsigned long long)atomic_load(&hook_installs),
                        (unsigned long long)atomic_load(&hooked_allocs),
                        (unsigned long long)atomic_load(&hooked_frees));
        printf("stress_alloc: hook installed %llu times, saw %llu allocations and %llu frees\n",
               (unsigned long long)atomic_load(&hook_installs),
               (unsigned long long)atomic_load(&hooked_allocs),
               (unsigned long long)atomic_load(&hooked_frees));
    }
    for (unsigned i = 0; i < EXCHANGE_SLOTS; i++) {
        unsigned char *left = atomic_exchange(&exchange[i], NULL);
        if (left != NULL)
            free_block(left, "left in exchange");
    }
    rcgc_heap_collect(true);

    struct rcgc_alloc_stats stats;
    rcgc_alloc_stats(&stats);
    for (unsigned c = 0; c < RCGC_ALLOC_CLASSES; c++)
        if (stats.classes[c].blocks_in_use != 0 || stats.classes[c].pools != 0)
            stress_fail("after collect(true): class %u (%llu B) has %llu blocks in use in %llu "
                        "pools",
                        c, (unsigned long long)stats.classes[c].block_size,
                        (unsigned long long)stats.classes[c].blocks_in_use,
                        (unsigned long long)stats.classes[c].pools);
    if (stats.large_blocks != 0 || stats.huge_blocks != 0 || stats.arenas != 0)
        stress_fail("after collect(true): %llu large blocks, %llu huge blocks, %llu arenas left",
                    (unsigned long long)stats.large_blocks, (unsigned long long)stats.huge_blocks,
                    (unsigned long long)stats.arenas);
    printf(
        "stress_alloc: %llu allocations, %llu reallocs, %llu hand-overs, %llu remote frees, "
        "%llu threads started, %llu pools adopted, %llu collects\n",
        (unsigned long long)atomic_load(&total_allocs),
        (unsigned long long)atomic_load(&total_reallocs),
        (unsigned long long)atomic_load(&total_handovers), (unsigned long long)stats.frees_remote,
        (unsigned long long)atomic_load(&threads_started), (unsigned long long)stats.pools_adopted,
        (unsigned long long)atomic_load(&total_collects));
    return stress_finish("stress_alloc");
}
