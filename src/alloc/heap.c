/* src/alloc/heap.c - per-thread heaps: the allocation slow path, the class
 * lists, and what happens when a thread exits or forks.
 *
 * Owned by one thread: its heap and the pools on its lists.
 * Shared: the heap list (heap_list_mutex; heaps are never freed, a retired
 *   heap is reused by the next new thread), and the abandoned-pool list
 *   (abandoned_mutex, with an atomic count so that the slow path looks at
 *   it only when it is not empty).
 *
 * The lists of one class c in one heap:
 *
 *   avail[c] -> current <-> p2 <-> p3      may have free blocks; the head is
 *                                          the pool the fast path uses
 *   full[c]  -> f1 <-> f2                  had no free block when moved;
 *                                          remote frees may refill them
 *
 * A pool moves avail -> full when it is exhausted (slow path), full ->
 * avail when its owner frees into it (rcgc__heap_pool_freed_owner) or the
 * slow path finds remote frees on it, and back to its arena when empty,
 * unless it is the current pool (P2).
 */
#include "alloc/alloc_internal.h"

#include <errno.h>
#include <string.h>

struct pool rcgc__empty_pool;

#define EMPTY_POOL_1 &rcgc__empty_pool
#define EMPTY_POOL_8                                                                               \
    EMPTY_POOL_1, EMPTY_POOL_1, EMPTY_POOL_1, EMPTY_POOL_1, EMPTY_POOL_1, EMPTY_POOL_1,            \
        EMPTY_POOL_1, EMPTY_POOL_1
static_assert(RCGC_CLASS_COUNT == 48, "no_heap's initializer lists every class");

/* The heap of a thread that has none yet: every class is empty, so the
 * fast path falls through to the slow path without a NULL test, and no
 * pool's owner ever equals it. */
static struct heap no_heap = {
    .avail = {EMPTY_POOL_8, EMPTY_POOL_8, EMPTY_POOL_8, EMPTY_POOL_8, EMPTY_POOL_8, EMPTY_POOL_8},
};

_Thread_local struct rcgc__alloc_tls rcgc__alloc_tls
    __attribute__((tls_model("initial-exec"))) = {.heap = &no_heap};
_Thread_local struct heap *rcgc__my_own_heap __attribute__((tls_model("initial-exec")));

/* The pools of sampled blocks (alloc_hook.h, "Sampling"): owned by no
 * thread, so a free of one of their blocks never matches the freeing
 * thread's heap and reaches the slow path, where it is reported; taken
 * from under sample_mutex, about once per sample_bytes allocated. Its
 * blocks come back as remote frees, collected when it runs dry; it adopts
 * nothing, so only sampled blocks are ever in its pools. */
static struct heap sample_heap = {
    .avail = {EMPTY_POOL_8, EMPTY_POOL_8, EMPTY_POOL_8, EMPTY_POOL_8, EMPTY_POOL_8, EMPTY_POOL_8},
};
static pthread_mutex_t sample_mutex = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t heap_list_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct heap *all_heaps; /* heap_list_mutex */

static pthread_mutex_t abandoned_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct pool *abandoned;           /* abandoned_mutex; linked by next */
static _Atomic uint64_t abandoned_count; /* a hint read without the mutex */

static pthread_key_t heap_key;
static pthread_once_t heap_key_once = PTHREAD_ONCE_INIT;

static void heap_retire_at_exit(void *heap);

/* Set once the calling thread's heap was retired at its exit: a heap it
 * attaches afterwards (a later TLS destructor allocating) is not offered
 * to hook installs, whose write into its TLS could come after the TLS is
 * gone. */
static _Thread_local bool thread_exiting;

static void create_heap_key(void) {
    if (pthread_key_create(&heap_key, heap_retire_at_exit) != 0)
        rcgc__fatal("rcgc: pthread_key_create failed: no thread-exit hook for heaps");
}

static inline void counter_add(_Atomic uint64_t *counter, uint64_t delta) {
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

/* ------------------------------------------------------------ Class lists */

/* Head and tail of one of @heap's lists for class @c. An empty avail list's
 * head is the sentinel (the fast path reads it with no NULL test); an
 * empty full list's head is NULL; tails are NULL when the list is empty. */
static struct pool **list_head(struct heap *heap, unsigned c, enum pool_list list) {
    return list == LIST_FULL ? &heap->full[c] : &heap->avail[c];
}

static struct pool **list_tail(struct heap *heap, unsigned c, enum pool_list list) {
    return list == LIST_FULL ? &heap->full_tail[c] : &heap->avail_tail[c];
}

static struct pool *list_first(struct heap *heap, unsigned c, enum pool_list list) {
    struct pool *first = *list_head(heap, c, list);
    return first == &rcgc__empty_pool ? NULL : first;
}

static void list_unlink(struct heap *heap, struct pool *pool) {
    unsigned c = pool->size_class;
    enum pool_list list = (enum pool_list)pool->list;
    if (pool->prev != NULL)
        pool->prev->next = pool->next;
    else
        *list_head(heap, c, list) =
            pool->next != NULL ? pool->next : (list == LIST_AVAIL ? &rcgc__empty_pool : NULL);
    if (pool->next != NULL)
        pool->next->prev = pool->prev;
    else
        *list_tail(heap, c, list) = pool->prev;
    pool->next = pool->prev = NULL;
    pool->list = LIST_NONE;
}

/* Into avail: a new pool, or one taken when the class has nothing else,
 * becomes the current pool. */
static void list_push_front(struct heap *heap, struct pool *pool, enum pool_list list) {
    unsigned c = pool->size_class;
    struct pool *old = list_first(heap, c, list);
    pool->prev = NULL;
    pool->next = old;
    if (old != NULL)
        old->prev = pool;
    else
        *list_tail(heap, c, list) = pool;
    *list_head(heap, c, list) = pool;
    pool->list = (uint8_t)list;
}

/* Into avail: a pool coming back from the full list, or adopted, joins at
 * the tail. Why the tail: by the time the allocator reaches it, it has
 * gathered many freed blocks, so consecutive allocations come from one
 * pool and land near each other; placed right behind the current pool it
 * would be used with one or two free blocks, and every allocation would
 * touch a different pool (bench/malloc_mix --live 1000000: 200 ns/op behind
 * the current pool, 140 at the tail; mimalloc 130). Never in front:
 * displacing the current pool would strand it, and once empty it would be
 * neither current nor looked at again (P2).
 * Into full: first in, first looked at (refill_from_full). */
static void list_push_back(struct heap *heap, struct pool *pool, enum pool_list list) {
    unsigned c = pool->size_class;
    struct pool *tail = list_first(heap, c, list) != NULL ? *list_tail(heap, c, list) : NULL;
    if (tail == NULL) {
        list_push_front(heap, pool, list);
        return;
    }
    pool->prev = tail;
    pool->next = NULL;
    tail->next = pool;
    *list_tail(heap, c, list) = pool;
    pool->list = (uint8_t)list;
}

/* P1-P3 at every change of a pool's state (filed, released, abandoned),
 * when expensive checks are on; on the owner, remote frees collected. */
static inline void pool_check_state_change(const struct pool *pool) {
#if RCGC_CHECKS >= 3
    rcgc__alloc_pool_check(pool);
#else
    (void)pool;
#endif
}

static void pool_release_owner(struct heap *heap, struct pool *pool) {
    pool_check_state_change(pool);
    list_unlink(heap, pool);
    atomic_store_explicit(&pool->owner, NULL, memory_order_relaxed);
    counter_add(&heap->pools_released, 1);
    heap->last_released[pool->size_class] = pool;
    rcgc__arena_give_back(pool);
}

/* A pool the owner may allocate from again goes to avail; one with nothing
 * free and nothing left to carve goes to full. */
static void pool_file_owner(struct heap *heap, struct pool *pool) {
    pool_check_state_change(pool);
    bool exhausted = pool->free == NULL && pool->local_free == NULL &&
                     atomic_load_explicit(&pool->bumped, memory_order_relaxed) == pool->capacity;
    list_push_back(heap, pool, exhausted ? LIST_FULL : LIST_AVAIL);
}

/* -------------------------------------------------------------- Attaching */

static struct heap *heap_attach(void) {
    rcgc__size_class_init();
    pthread_once(&heap_key_once, create_heap_key);
    pthread_mutex_lock(&heap_list_mutex);
    struct heap *heap = all_heaps;
    while (heap != NULL && heap->in_use)
        heap = heap->next_heap;
    if (heap != NULL)
        heap->in_use = true;
    pthread_mutex_unlock(&heap_list_mutex);
    if (heap == NULL) {
        /* Heaps live for the whole process (reused, never freed), from the
         * raw layer, 64-byte aligned so no two share a cache line. */
        char *raw = rcgc_raw_calloc(1, sizeof(struct heap) + 63);
        if (raw == NULL)
            return NULL;
        heap = (struct heap *)(void *)(raw + (64 - (uintptr_t)raw % 64) % 64);
        for (unsigned c = 0; c < RCGC_CLASS_COUNT; c++)
            heap->avail[c] = &rcgc__empty_pool;
        heap->in_use = true;
        pthread_mutex_lock(&heap_list_mutex);
        heap->next_heap = all_heaps;
        all_heaps = heap;
        pthread_mutex_unlock(&heap_list_mutex);
    }
    pthread_setspecific(heap_key, heap);
    rcgc__my_own_heap = heap;
    /* Under the mutex, so that a hook installed or removed meanwhile either
     * reaches this thread through its slot or is seen here, and its write
     * is not lost to ours. */
    pthread_mutex_lock(&heap_list_mutex);
    heap->my_heap_slot = thread_exiting ? NULL : &rcgc__alloc_tls.heap;
    bool divert = rcgc__alloc_is_hooked() && !thread_exiting;
    atomic_store_explicit(&rcgc__alloc_tls.heap, divert ? &no_heap : heap, memory_order_relaxed);
    pthread_mutex_unlock(&heap_list_mutex);
    return heap;
}

void rcgc__heap_divert_all(bool divert) {
    pthread_mutex_lock(&heap_list_mutex);
    for (struct heap *heap = all_heaps; heap != NULL; heap = heap->next_heap)
        if (heap->in_use && heap->my_heap_slot != NULL)
            atomic_store_explicit(heap->my_heap_slot, divert ? &no_heap : heap,
                                  memory_order_relaxed);
    pthread_mutex_unlock(&heap_list_mutex);
}

/* ------------------------------------------------------ Abandon and adopt */

static void abandon_pool(struct pool *pool) {
    pool_check_state_change(pool);
    pool->list = LIST_ABANDONED;
    pool->prev = NULL;
    atomic_store_explicit(&pool->owner, NULL, memory_order_relaxed);
    pthread_mutex_lock(&abandoned_mutex);
    pool->next = abandoned;
    abandoned = pool;
    atomic_fetch_add_explicit(&abandoned_count, 1, memory_order_relaxed);
    pthread_mutex_unlock(&abandoned_mutex);
}

/* Visit every pool on @heap's lists, its remote frees collected first.
 * @visit may unlink, move or release the pool it is given (the walk has
 * already read the next one). */
static void heap_foreach_pool_owner(struct heap *heap,
                                    void (*visit)(struct heap *, struct pool *, void *),
                                    void *arg) {
    for (unsigned c = 0; c < RCGC_CLASS_COUNT; c++) {
        struct pool *lists[2] = {heap->avail[c], heap->full[c]};
        for (unsigned l = 0; l < 2; l++) {
            struct pool *pool = lists[l] == &rcgc__empty_pool ? NULL : lists[l];
            while (pool != NULL) {
                struct pool *next = pool->next;
                rcgc__pool_collect_remote_owner(pool);
                visit(heap, pool, arg);
                pool = next;
            }
        }
    }
}

static void give_up_pool(struct heap *heap, struct pool *pool, void *arg) {
    (void)arg;
    pool->next = pool->prev = NULL;
    pool->list = LIST_NONE;
    if (atomic_load_explicit(&pool->used, memory_order_relaxed) == 0) {
        pool_check_state_change(pool);
        atomic_store_explicit(&pool->owner, NULL, memory_order_relaxed);
        counter_add(&heap->pools_released, 1);
        rcgc__arena_give_back(pool);
    } else {
        abandon_pool(pool);
    }
}

/* Hand every pool on: empty ones go back to their arena, the rest to the
 * abandoned list, where a live thread adopts them. Blocks in them stay
 * valid; frees from any thread reach them through their remote stacks. */
static void heap_give_up_pools(struct heap *heap) {
    heap_foreach_pool_owner(heap, give_up_pool, NULL);
    for (unsigned c = 0; c < RCGC_CLASS_COUNT; c++) {
        heap->avail[c] = &rcgc__empty_pool;
        heap->avail_tail[c] = NULL;
        heap->full[c] = NULL;
        heap->full_tail[c] = NULL;
    }
}

static void heap_retire(void *raw_heap);

static void heap_retire_at_exit(void *heap) {
    thread_exiting = true;
    heap_retire(heap);
}

static void heap_retire(void *raw_heap) {
    struct heap *heap = raw_heap;
    heap_give_up_pools(heap);
    bool mine = rcgc__my_own_heap == heap;
    if (mine)
        rcgc__my_own_heap = NULL;
    pthread_mutex_lock(&heap_list_mutex);
    if (mine)
        atomic_store_explicit(&rcgc__alloc_tls.heap, &no_heap, memory_order_relaxed);
    heap->my_heap_slot = NULL;
    heap->in_use = false;
    pthread_mutex_unlock(&heap_list_mutex);
}

/* Adopt every abandoned pool; true when one with free blocks of
 * @want_class (or any class, when RCGC_CLASS_COUNT) joined avail. */
static bool adopt_abandoned(struct heap *heap, unsigned want_class) {
    if (atomic_load_explicit(&abandoned_count, memory_order_relaxed) == 0)
        return false;
    pthread_mutex_lock(&abandoned_mutex);
    struct pool *taken = abandoned;
    abandoned = NULL;
    atomic_store_explicit(&abandoned_count, 0, memory_order_relaxed);
    pthread_mutex_unlock(&abandoned_mutex);
    bool found = false;
    while (taken != NULL) {
        struct pool *pool = taken;
        taken = pool->next;
        pool->next = NULL;
        pool->list = LIST_NONE;
        /* The mutex hand-over orders this after the abandoning thread's
         * last writes to the pool; remote pushes stay ordered by the CAS. */
        atomic_store_explicit(&pool->owner, heap, memory_order_relaxed);
        counter_add(&heap->pools_adopted, 1);
        rcgc__pool_collect_remote_owner(pool);
        if (atomic_load_explicit(&pool->used, memory_order_relaxed) == 0) {
            atomic_store_explicit(&pool->owner, NULL, memory_order_relaxed);
            counter_add(&heap->pools_released, 1);
            rcgc__arena_give_back(pool);
            continue;
        }
        pool_file_owner(heap, pool);
        if (pool->list == LIST_AVAIL &&
            (want_class == pool->size_class || want_class == RCGC_CLASS_COUNT))
            found = true;
    }
    return found;
}

/* --------------------------------------------------------------- Refilling */

/* How many full pools one refill looks at. A bound, not the whole list:
 * a thread building a large structure accumulates thousands of full pools,
 * and looking at all of them each time a pool runs dry made building n
 * blocks cost O(n^2 / pool size) loads. */
#define REFILL_LOOKS 8

/* Full pools of @size_class that other threads have freed into go back to
 * avail. The full list is first in, first out, and a pool looked at in
 * vain goes to its back, so successive refills visit every pool in turn
 * while each costs at most REFILL_LOOKS relaxed loads. */
static bool refill_from_full(struct heap *heap, unsigned size_class) {
    bool found = false;
    for (unsigned look = 0; look < REFILL_LOOKS; look++) {
        struct pool *pool = heap->full[size_class];
        if (pool == NULL)
            break;
        list_unlink(heap, pool);
        if (atomic_load_explicit(&pool->remote_free, memory_order_relaxed) != NULL) {
            rcgc__pool_collect_remote_owner(pool);
            list_push_back(heap, pool, LIST_AVAIL);
            found = true;
        } else {
            list_push_back(heap, pool, LIST_FULL);
        }
    }
    return found;
}

/* @pool's `free` ran dry: its owner's frees, and other threads' frees
 * (collected first), become the list the fast path pops; with none, the
 * next page of never-used blocks. Carving more when the list comes back
 * short was tried: a few percent fewer visits here (bench/malloc_mix,
 * 10 k live: 90 k instead of 97 k per 4 M operations), no fewer
 * instructions or cache misses (cachegrind), and more pages committed. */
static bool pool_refill_owner(struct pool *pool) {
    rcgc__pool_collect_remote_owner(pool);
    pool->free = pool->local_free;
    pool->local_free = NULL;
    return pool->free != NULL || rcgc__pool_carve_owner(pool);
}

static inline void *pool_pop_owner(struct pool *pool) {
    struct block *block = pool->free;
    pool->free = free_next(pool, block);
    block_mark_handed_out(block);
    atomic_store_explicit(&pool->used, atomic_load_explicit(&pool->used, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    RCGC_ASAN_UNPOISON(block, pool->block_size);
    RCGC_TSAN_BLOCK_HANDOVER(block, pool->block_size);
    return block;
}

/* A block of @size_class from @heap's pools, refilling them as needed
 * (adopting abandoned pools when @adopt). */
static void *malloc_from(struct heap *heap, unsigned size_class, bool adopt) {
    counter_add(&heap->mallocs_slow, 1);
    for (;;) {
        struct pool *pool = heap->avail[size_class];
        if (pool != &rcgc__empty_pool) {
            if (pool->free != NULL || pool_refill_owner(pool))
                return pool_pop_owner(pool);
            list_unlink(heap, pool);
            list_push_back(heap, pool, LIST_FULL);
            continue;
        }
        if (refill_from_full(heap, size_class) || (adopt && adopt_abandoned(heap, size_class)))
            continue;
        const struct class_info *info = &rcgc__classes[size_class];
        const struct pool_shape shape = {
            .kind = POOL_SMALL,
            .size_class = (uint8_t)size_class,
            .block_size = info->block_size,
            .capacity = info->capacity,
            .owner = heap,
        };
        pool = rcgc__arena_take(info->span, 1, &shape, heap->last_released[size_class]);
        if (pool == NULL)
            return NULL;
        heap->last_released[size_class] = NULL;
        counter_add(&heap->pools_taken, 1);
        list_push_front(heap, pool, LIST_AVAIL);
    }
}

/* ---------------------------------------------------------------- Sampling
 *
 * Each heap counts down, per class, the bytes it may be handed before its
 * next sample (alloc_hook.h, "Sampling"). The fast path cannot count, but
 * it needs not: it hands out exactly the blocks on its pool's `free` list
 * (frees go to local_free), so the slow path counts a whole list when it
 * hands one over, and ends the list where the next sample falls. The
 * allocation after the list's end comes back here and is the sample.
 * Inexact only where a pool's list is handed over uncounted: the lists the
 * fast path holds when sampling starts, and a list that becomes current
 * because rcgc_heap_collect(true) released the current pool. */

/* Let the fast path hand out at most @bytes of @pool's blocks; returns
 * how many blocks it will. The rest of `free` moves to the front of
 * local_free. */
static uint64_t pool_limit_free_owner(struct pool *pool, uint64_t bytes) {
    if (pool->local_free == NULL) {
        /* Then `free` holds every block not handed out (P1); a multiply
         * decides the common case, where the sample falls beyond it. */
        uint64_t on_free = atomic_load_explicit(&pool->bumped, memory_order_relaxed) -
                           atomic_load_explicit(&pool->used, memory_order_relaxed);
        if (on_free * pool->block_size <= bytes)
            return on_free;
    }
    uint64_t most = bytes / pool->block_size, kept = 0;
    struct block *last = NULL, *rest = pool->free;
    for (; kept < most && rest != NULL; kept++) {
        last = rest;
        rest = free_next(pool, rest);
    }
    if (rest == NULL) /* the whole list comes before the sample */
        return kept;
    if (last != NULL)
        free_link(last, NULL);
    else
        pool->free = NULL;
    rcgc__pool_local_free_prepend_owner(pool, rest);
    return kept;
}

/* rcgc__heap_malloc_slow while a sampling hook of mean @mean is installed. */
static void *malloc_counted(struct heap *heap, unsigned size_class, size_t mean, bool *sampled) {
    uint64_t generation =
        atomic_load_explicit(&rcgc__alloc_sample_generation, memory_order_relaxed);
    if (heap->sample_generation != generation) {
        heap->sample_generation = generation;
        for (unsigned c = 0; c < RCGC_CLASS_COUNT; c++)
            heap->sample_left[c] = rcgc__alloc_sample_draw(mean);
    }
    int64_t block_size = rcgc__classes[size_class].block_size;
    int64_t left = heap->sample_left[size_class] - block_size;
    if (left < 0) {
        heap->sample_left[size_class] = rcgc__alloc_sample_draw(mean);
        *sampled = true;
        return rcgc__heap_malloc_sampled(size_class);
    }
    void *block = malloc_from(heap, size_class, true);
    if (block != NULL) {
        uint64_t handed_out = pool_limit_free_owner(heap->avail[size_class], (uint64_t)left);
        left -= (int64_t)handed_out * block_size;
    }
    heap->sample_left[size_class] = left;
    return block;
}

void *rcgc__heap_malloc_slow(unsigned size_class, bool *sampled) {
    struct heap *heap = rcgc__my_own_heap;
    if (heap == NULL && (heap = heap_attach()) == NULL)
        return NULL;
    size_t mean = atomic_load_explicit(&rcgc__alloc_sample_mean, memory_order_relaxed);
    if (RCGC_UNLIKELY(mean != 0))
        return malloc_counted(heap, size_class, mean, sampled);
    return malloc_from(heap, size_class, true);
}

void *rcgc__heap_malloc_sampled(unsigned size_class) {
    rcgc__size_class_init();
    pthread_mutex_lock(&sample_mutex);
    void *block = malloc_from(&sample_heap, size_class, false);
    pthread_mutex_unlock(&sample_mutex);
    return block;
}

bool rcgc__heap_is_sampled_pool(const struct pool *pool) {
    return atomic_load_explicit(&pool->owner, memory_order_relaxed) == &sample_heap;
}

void rcgc__heap_pool_freed_owner(struct heap *heap, struct pool *pool) {
    if (atomic_load_explicit(&pool->used, memory_order_relaxed) == 0 &&
        heap->avail[pool->size_class] != pool) {
        pool_release_owner(heap, pool);
        return;
    }
    if (pool->list == LIST_FULL) {
        list_unlink(heap, pool);
        list_push_back(heap, pool, LIST_AVAIL);
    }
}

/* Release an empty pool (unless it is the current one and @arg's force is
 * false); bring a full pool that has free blocks back to avail. */
static void collect_pool(struct heap *heap, struct pool *pool, void *arg) {
    bool force = *(const bool *)arg;
    bool empty = atomic_load_explicit(&pool->used, memory_order_relaxed) == 0;
    if (empty && (force || heap->avail[pool->size_class] != pool)) {
        pool_release_owner(heap, pool);
    } else if (pool->list == LIST_FULL && (pool->free != NULL || pool->local_free != NULL)) {
        list_unlink(heap, pool);
        list_push_back(heap, pool, LIST_AVAIL);
    }
}

void rcgc__heap_collect_owner(bool force) {
    struct heap *heap = rcgc__my_own_heap;
    /* A thread with no heap still sweeps the pools of exited threads when
     * asked to be thorough: it needs a heap to adopt them into. */
    if (heap == NULL && force && atomic_load_explicit(&abandoned_count, memory_order_relaxed))
        heap = heap_attach();
    if (heap != NULL) {
        adopt_abandoned(heap, RCGC_CLASS_COUNT);
        heap_foreach_pool_owner(heap, collect_pool, &force);
    }
    if (force) {
        /* The sampled blocks' pools too: their frees all come back as
         * remote frees, which only a collection takes in. */
        pthread_mutex_lock(&sample_mutex);
        heap_foreach_pool_owner(&sample_heap, collect_pool, &force);
        pthread_mutex_unlock(&sample_mutex);
        rcgc__arena_purge_all();
    }
}

/* ------------------------------------------------------------ Statistics */

/* Remote frees by threads that never allocated (and so have no heap). */
static _Atomic uint64_t remote_frees_without_heap;

void rcgc__heap_note_remote_free(struct heap *heap) {
    if (heap != &no_heap)
        counter_add(&heap->frees_remote, 1);
    else
        atomic_fetch_add_explicit(&remote_frees_without_heap, 1, memory_order_relaxed);
}

void rcgc__heap_counters(uint64_t out[ALLOC_COUNTER_COUNT]) {
    memset(out, 0, ALLOC_COUNTER_COUNT * sizeof out[0]);
    pthread_mutex_lock(&heap_list_mutex);
    for (struct heap *heap = all_heaps; heap != NULL; heap = heap->next_heap) {
#define RCGC_HEAP_SUM(name, doc)                                                                   \
    out[ALLOC_COUNTER_##name] += atomic_load_explicit(&heap->name, memory_order_relaxed);
        RCGC_ALLOC_COUNTERS(RCGC_HEAP_SUM)
#undef RCGC_HEAP_SUM
    }
    pthread_mutex_unlock(&heap_list_mutex);
    out[ALLOC_COUNTER_frees_remote] +=
        atomic_load_explicit(&remote_frees_without_heap, memory_order_relaxed);
}

/* ------------------------------------------------------------------ fork() */

/* Lock order: the sampling heap, heap list, abandoned list, arenas. Nothing
 * else nests them. */
void rcgc__heap_fork_prepare(void) {
    pthread_mutex_lock(&sample_mutex);
    pthread_mutex_lock(&heap_list_mutex);
    pthread_mutex_lock(&abandoned_mutex);
    rcgc__arena_lock();
}

void rcgc__heap_fork_parent(void) {
    rcgc__arena_unlock();
    pthread_mutex_unlock(&abandoned_mutex);
    pthread_mutex_unlock(&heap_list_mutex);
    pthread_mutex_unlock(&sample_mutex);
}

/* A thread that vanished in the fork may have been between taking a block
 * off its pool's free list and counting it used: the child counts every
 * block not on a free list as used (P1 again), so such a block is lost
 * with its thread, as everything that thread held is. */
static void recount_orphaned_pool(struct heap *heap, struct pool *pool, void *arg) {
    (void)heap;
    (void)arg;
    uint32_t free_count = 0;
    const struct block *lists[2] = {pool->free, pool->local_free};
    for (unsigned l = 0; l < 2; l++)
        for (const struct block *b = lists[l]; b != NULL && free_count <= pool->capacity;
             b = free_next(pool, b))
            free_count++;
    uint32_t bumped = atomic_load_explicit(&pool->bumped, memory_order_relaxed);
    atomic_store_explicit(&pool->used, bumped - free_count, memory_order_relaxed);
}

void rcgc__heap_fork_child(void) {
    rcgc__heap_fork_parent();
    /* Only the forking thread lives on: every other heap's pools are
     * abandoned now, so this process can adopt and release them. */
    pthread_mutex_lock(&heap_list_mutex);
    struct heap *heaps = all_heaps;
    pthread_mutex_unlock(&heap_list_mutex);
    for (struct heap *heap = heaps; heap != NULL; heap = heap->next_heap)
        if (heap->in_use && heap != rcgc__my_own_heap) {
            heap_foreach_pool_owner(heap, recount_orphaned_pool, NULL);
            heap_retire(heap);
        }
}
