/* src/alloc/alloc.c - the public allocation API and its fast paths.
 *
 * Shares nothing of its own: the fast paths touch only the calling thread's
 * heap and the pools it owns; everything else is a call into heap.c (pool
 * refills), large.c (whole slices and huge mappings) or misuse.c (checks
 * and reports on the slow free path).
 *
 * Budgets, measured by bench/malloc_mix and bench/binary_trees:
 *   malloc fast path: the TLS heap and the class table, then three loads
 *     and three stores on the owned pool and the block (free, next, used;
 *     free, cookie, used); no atomic RMW, no fence.
 *   free fast path: the registry byte, the descriptor, a compare and one
 *     multiply for the block check, the block's cookie, then four stores (next, cookie,
 *     local_free, used); no atomic RMW, no fence. It never touches the
 *     list malloc pops (struct pool says why).
 */
#include "alloc/alloc_internal.h"

#include <errno.h>
#include <string.h>

/* Checked builds fill fresh blocks with 0xAB and freed blocks with 0xFE, so
 * a read of uninitialized or freed memory shows a recognizable pattern. */
#if RCGC_CHECKS >= 2
#define FILL_FRESH(block, size) memset((block), 0xAB, (size))
#define FILL_FREED(block, size) memset((block), 0xFE, (size))
#else
#define FILL_FRESH(block, size) ((void)0)
#define FILL_FREED(block, size) ((void)0)
#endif

/* ------------------------------------------------------------------ malloc */

/* @block, just handed out for @size bytes, reported to the hook if it
 * wants every allocation; every allocation that does not take the fast
 * path ends here. @caller: the return address of the public entry point's
 * caller when known (alloc_hook.h), else NULL. */
static inline void *reported(void *block, size_t size, const void *caller) {
    if (rcgc__alloc_is_hooked() && block != NULL)
        rcgc__alloc_hook_note_alloc(block, size, caller);
    return block;
}

/* The countdown of large and huge allocations on this thread (pool sizes
 * count per class in their heap, heap.c), and the sampling generation it
 * was drawn under. */
static _Thread_local struct {
    int64_t left;
    uint64_t generation;
} large_sample __attribute__((tls_model("initial-exec")));

/* @block, a large or huge block just handed out for @requested bytes:
 * reported when every allocation is, or when it is a sample. */
static void *large_reported(void *block, size_t requested, const void *caller) {
    size_t mean = atomic_load_explicit(&rcgc__alloc_sample_mean, memory_order_relaxed);
    if (RCGC_LIKELY(mean == 0) || block == NULL)
        return reported(block, requested, caller);
    uint64_t generation =
        atomic_load_explicit(&rcgc__alloc_sample_generation, memory_order_relaxed);
    if (large_sample.generation != generation) {
        large_sample.generation = generation;
        large_sample.left = rcgc__alloc_sample_draw(mean);
    }
    size_t usable = rcgc_usable_size(block);
    large_sample.left -= usable > (size_t)INT64_MAX ? INT64_MAX : (int64_t)usable;
    if (large_sample.left < 0) {
        large_sample.left = rcgc__alloc_sample_draw(mean);
        rcgc__alloc_hook_note_alloc(block, requested, caller);
    }
    return block;
}

/* A block of pool size @size_class from the thread's heap (or, when it is
 * a sample, the sampling pools), reported as it should be. */
static void *pool_malloc_slow(unsigned size_class, size_t requested, const void *caller) {
    bool sampled = false;
    void *block = rcgc__heap_malloc_slow(size_class, &sampled);
    if (block == NULL)
        return NULL;
    FILL_FRESH(block, rcgc__classes[size_class].block_size);
    if (sampled) {
        rcgc__alloc_hook_note_alloc(block, requested, caller);
        return block;
    }
    return reported(block, requested, caller);
}

/* The slow half of rcgc_malloc(@size); a hook is told @requested, which
 * differs from @size only for rcgc_aligned_alloc's power-of-two blocks.
 * rcgc_malloc reaches it by a tail call, and librcgc-malloc.so's malloc
 * reaches rcgc_malloc by one, so its return address is usually the host's
 * call site: a tracer keeping one frame needs no unwinding (a call from
 * inside rcgc gives an address inside rcgc, which the tracer rejects). */
RCGC_NOINLINE static void *malloc_slow(size_t size, unsigned size_class, size_t requested) {
    const void *caller = __builtin_return_address(0);
    if (size <= RCGC_POOL_BLOCK_MAX)
        return pool_malloc_slow(size_class, requested, caller);
    if (RCGC_UNLIKELY(size > (size_t)PTRDIFF_MAX))
        return rcgc__fail(ENOMEM);
    if (size <= RCGC_LARGE_MAX)
        return large_reported(rcgc__large_malloc(size, 0, false), requested, caller);
    return large_reported(rcgc__huge_malloc(size, 0), requested, caller);
}

void *rcgc_malloc(size_t size) {
    /* Sizes up to RCGC_SMALL_MAX first: they are most requests, and testing
     * them first spares those a compare with RCGC_POOL_BLOCK_MAX. */
    size_t size_class;
    if (RCGC_LIKELY(size <= RCGC_SMALL_MAX))
        size_class = rcgc__class_of_small[(size + 15) >> 4];
    else if (size <= RCGC_POOL_BLOCK_MAX)
        size_class = size_class_of(size);
    else
        return malloc_slow(size, 0, size);
    struct pool *pool = rcgc__fast_heap()->avail[size_class];
    struct block *block = pool->free;
    if (RCGC_LIKELY(block != NULL)) {
        pool->free = free_next(pool, block);
        block_mark_handed_out(block);
        atomic_store_explicit(&pool->used,
                              atomic_load_explicit(&pool->used, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        RCGC_ASAN_UNPOISON(block, pool->block_size);
        RCGC_TSAN_BLOCK_HANDOVER(block, pool->block_size);
        FILL_FRESH(block, pool->block_size);
        return block;
    }
    return malloc_slow(size, (unsigned)size_class, size);
}

/* -------------------------------------------------------------------- free */

static inline void free_to_owned_pool(struct heap *heap, struct pool *pool, struct block *block) {
    RCGC_TSAN_BLOCK_HANDOVER(block, pool->block_size);
    FILL_FREED(block, pool->block_size);
    RCGC_ASAN_POISON(block, pool->block_size);
    free_link(block, pool->local_free);
    block_mark_free(block);
    pool->local_free = block;
    uint32_t used = atomic_load_explicit(&pool->used, memory_order_relaxed) - 1;
    atomic_store_explicit(&pool->used, used, memory_order_relaxed);
    if (RCGC_UNLIKELY(used == 0 || pool->list == LIST_FULL))
        rcgc__heap_pool_freed_owner(heap, pool);
}

void rcgc__free_slow(void *ptr) {
    enum registry_entry entry = registry_lookup(ptr);
    if (entry == REGISTRY_NONE)
        rcgc__report_not_owned(ptr, "rcgc_free");
    if (entry != REGISTRY_ARENA) {
        if (rcgc__alloc_hook_any())
            rcgc__alloc_hook_note_free(ptr);
        rcgc__huge_free(ptr, entry);
        return;
    }
    struct arena *arena = arena_of(ptr);
    struct pool *pool = pool_of(arena, ptr);
    uint8_t kind = atomic_load_explicit(&pool->kind, memory_order_relaxed);
    if (kind == POOL_LARGE) {
        if (rcgc__alloc_hook_any())
            rcgc__alloc_hook_note_free(ptr);
        rcgc__large_free(arena, pool, ptr);
        return;
    }
    if (kind != POOL_SMALL)
        rcgc__report_bad_block(NULL, ptr, "free of a pointer into unused arena memory",
                               "rcgc_free");
    uint32_t index = pool_block_index(pool, ptr);
    if (index == UINT32_MAX)
        rcgc__report_bad_block(pool, ptr, "free of an interior pointer", "rcgc_free");
    if (index >= atomic_load_explicit(&pool->bumped, memory_order_relaxed))
        rcgc__report_bad_block(pool, ptr, "free of a block never allocated", "rcgc_free");
    struct block *block = ptr;
    if (block_is_free(block))
        rcgc__report_bad_block(pool, ptr, "double free of", "rcgc_free");
    if (rcgc__alloc_is_hooked() || (rcgc__alloc_hook_any() && rcgc__heap_is_sampled_pool(pool)))
        rcgc__alloc_hook_note_free(ptr);
    /* The thread's own heap, not the fast paths' one: while a hook is
     * installed, every free of an owned block comes here. */
    struct heap *heap = rcgc__my_own_heap;
    if (heap != NULL && atomic_load_explicit(&pool->owner, memory_order_relaxed) == heap) {
        free_to_owned_pool(heap, pool, block);
        return;
    }
    rcgc__heap_note_remote_free(heap != NULL ? heap : rcgc__fast_heap());
    RCGC_TSAN_BLOCK_HANDOVER(block, pool->block_size);
    FILL_FREED(block, pool->block_size);
    RCGC_ASAN_POISON(block, pool->block_size);
    rcgc__pool_push_remote(pool, block);
}

void rcgc_free(void *ptr) {
    if (RCGC_LIKELY(registry_lookup(ptr) == REGISTRY_ARENA)) {
        struct pool *pool = pool_of(arena_of(ptr), ptr);
        struct heap *heap = rcgc__fast_heap();
        struct block *block = ptr;
        if (RCGC_LIKELY(atomic_load_explicit(&pool->owner, memory_order_relaxed) == heap &&
                        pool_is_carved_block_owner(pool, ptr) && !block_is_free(block))) {
            free_to_owned_pool(heap, pool, block);
            return;
        }
    } else if (ptr == NULL) {
        return;
    }
    rcgc__free_slow(ptr);
}

/* ------------------------------------------------------- calloc, realloc */

/* Out of line, so that keeping @total for the hook across the call does
 * not make rcgc_calloc save registers on its every path. */
RCGC_NOINLINE static void *calloc_large(size_t total) {
    return large_reported(rcgc__large_malloc(total, 0, true), total, NULL);
}

void *rcgc_calloc(size_t count, size_t size) {
    size_t total;
    if (RCGC_UNLIKELY(__builtin_mul_overflow(count, size, &total)))
        return rcgc__fail(ENOMEM);
    if (total > RCGC_POOL_BLOCK_MAX && total <= RCGC_LARGE_MAX)
        return calloc_large(total);
    void *block = rcgc_malloc(total);
    /* Huge mappings are fresh from the kernel: already zero. */
    if (block != NULL && total <= RCGC_POOL_BLOCK_MAX)
        memset(block, 0, total);
    return block;
}

/* The usable size of the live block at @ptr (not NULL). Anything else is
 * reported as rcgc_free would report it, named by @where (@what_not_a_block
 * and @what_freed say what was attempted): a freed pool block must be
 * caught here, because rcgc_realloc's in-place path would otherwise hand it
 * back to the caller while it sits on a free list. */
static size_t live_block_size(const void *ptr, const char *what_not_a_block, const char *what_freed,
                              const char *where) {
    enum registry_entry entry = registry_lookup(ptr);
    if (entry == REGISTRY_NONE)
        rcgc__report_not_owned(ptr, where);
    if (entry != REGISTRY_ARENA)
        return rcgc__huge_usable(ptr, entry, where);
    struct arena *arena = arena_of(ptr);
    const struct pool *pool = pool_of(arena, ptr);
    uint8_t kind = atomic_load_explicit(&pool->kind, memory_order_relaxed);
    if (kind == POOL_LARGE && ptr == pool->start)
        return pool->block_size;
    if (kind != POOL_SMALL ||
        pool_block_index(pool, ptr) >= atomic_load_explicit(&pool->bumped, memory_order_relaxed))
        rcgc__report_bad_block(kind == POOL_SMALL ? pool : NULL, ptr, what_not_a_block, where);
    if (block_is_free(ptr))
        rcgc__report_bad_block(pool, ptr, what_freed, where);
    return pool->block_size;
}

void *rcgc_realloc(void *ptr, size_t size) {
    if (ptr == NULL)
        return rcgc_malloc(size);
    size_t usable = live_block_size(ptr, "realloc of a pointer that is not a block",
                                    "realloc of a freed block", "rcgc_realloc");
    if (size <= usable && size >= usable / 2 && size > 0)
        return ptr;
    void *moved = rcgc_malloc(size);
    if (moved == NULL)
        return NULL;
    memcpy(moved, ptr, size < usable ? size : usable);
    rcgc_free(ptr);
    return moved;
}

/* ---------------------------------------------------- aligned, usable size */

void *rcgc_aligned_alloc(size_t alignment, size_t size) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        return rcgc__fail(EINVAL);
    if (alignment <= 16)
        return rcgc_malloc(size);
    if (RCGC_UNLIKELY(size > (size_t)PTRDIFF_MAX))
        return rcgc__fail(ENOMEM);
    /* Pools start on 64 KiB boundaries and power-of-two classes fill them
     * back to back, so a power-of-two class at least as large as the
     * alignment is aligned with no padding. */
    size_t need = size > alignment ? size : alignment;
    if (alignment <= RCGC_SLICE_SIZE && need <= RCGC_POOL_BLOCK_MAX) {
        size_t pow2 = (size_t)1 << (64 - __builtin_clzll((unsigned long long)need - 1));
        if (rcgc__alloc_hook_any()) /* report the request, not the block */
            return malloc_slow(pow2, size_class_of(pow2), size);
        return rcgc_malloc(pow2);
    }
    if (size <= RCGC_LARGE_MAX && alignment <= RCGC_LARGE_MAX)
        return large_reported(rcgc__large_malloc(size == 0 ? 1 : size, alignment, false), size,
                              NULL);
    return large_reported(rcgc__huge_malloc(size, alignment), size, NULL);
}

size_t rcgc_usable_size(const void *ptr) {
    if (ptr == NULL)
        return 0;
    return live_block_size(ptr, "size asked of a pointer that is not a block",
                           "size asked of a freed block", "rcgc_usable_size");
}

bool rcgc_owns(const void *ptr) {
    enum registry_entry entry = registry_lookup(ptr);
    if (RCGC_LIKELY(entry == REGISTRY_ARENA))
        return true;
    /* The rest of a huge block's unit, past its end, is not rcgc's: the
     * kernel may map anything there. */
    return entry != REGISTRY_NONE && rcgc__huge_owns(ptr);
}

void rcgc_heap_collect(bool force) { rcgc__heap_collect_owner(force); }

/* fork(): the child can allocate at once, and pools of threads that did not
 * survive the fork become adoptable. */
static void fork_prepare(void) {
    rcgc__alloc_hook_fork_prepare(); /* before the heap list, as installs take them */
    rcgc__heap_fork_prepare();
}
static void fork_parent(void) {
    rcgc__heap_fork_parent();
    rcgc__alloc_hook_fork_parent();
}
static void fork_child(void) {
    rcgc__heap_fork_child();
    rcgc__alloc_hook_fork_child();
}

/* Registered before the stop-the-world handlers (a lower constructor
 * priority), so its prepare runs after theirs (pthread_atfork runs prepare
 * handlers last registered first): stw_mutex before the allocator's locks,
 * the order a census of the heap takes them in (src/gc/census.c). */
__attribute__((constructor(101))) static void register_fork_handlers(void) {
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}
