/* src/alloc/hook_tags.c - the hook's block tags (alloc_hook.h, "Block
 * tags"): a word per block, in an array per pool made on demand.
 *
 * Shared: a pool's tag array pointer, published with a CAS (two threads may
 * sample blocks of one sampling pool at once) and freed under arena_mutex
 * (P4); the tags themselves, relaxed atomics (a thread writes its block's
 * tag, a walk reads every tag).
 */
#include "alloc/alloc_hook.h"
#include "alloc/alloc_internal.h"

#include <rcgc/raw.h>

_Atomic uint64_t *rcgc__alloc_hook_tag(const void *block, bool create, size_t *block_size) {
    enum registry_entry entry = registry_lookup(block);
    if (entry != REGISTRY_ARENA) { /* huge */
        *block_size = rcgc__huge_usable(block, entry, "rcgc__alloc_hook_tag");
        return NULL;
    }
    struct pool *pool = pool_of(arena_of(block), block);
    *block_size = pool->block_size;
    _Atomic uint64_t *tags = atomic_load_explicit(&pool->hook_tags, memory_order_acquire);
    if (tags == NULL) {
        if (!create)
            return NULL;
        _Atomic uint64_t *made = rcgc_raw_calloc(pool->capacity, sizeof *made);
        if (made == NULL)
            return NULL;
        if (atomic_compare_exchange_strong_explicit(&pool->hook_tags, &tags, made,
                                                    memory_order_acq_rel, memory_order_acquire))
            tags = made;
        else
            rcgc_raw_free(made); /* another thread's array won */
    }
    uint32_t index = pool_block_index(pool, block);
    assert(index < pool->capacity);
    return &tags[index];
}

void rcgc__pool_drop_hook_tags_locked(struct pool *pool) {
    _Atomic uint64_t *tags = atomic_load_explicit(&pool->hook_tags, memory_order_acquire);
    if (tags != NULL) {
        atomic_store_explicit(&pool->hook_tags, NULL, memory_order_relaxed);
        rcgc_raw_free(tags);
    }
}

struct tags_walk {
    void (*visit)(const void *block, size_t block_size, uint64_t tag, void *arg);
    void *arg;
};

static void visit_pool_tags(const struct pool *pool, void *arg) {
    const struct tags_walk *walk = arg;
    _Atomic uint64_t *tags = atomic_load_explicit(&pool->hook_tags, memory_order_acquire);
    for (uint32_t i = 0; tags != NULL && i < pool->capacity; i++) {
        uint64_t tag = atomic_load_explicit(&tags[i], memory_order_relaxed);
        if (tag != 0)
            walk->visit(pool->start + (size_t)i * pool->block_size, pool->block_size, tag,
                        walk->arg);
    }
}

void rcgc__alloc_hook_tags_foreach(void (*visit)(const void *block, size_t block_size, uint64_t tag,
                                                 void *arg),
                                   void *arg) {
    struct tags_walk walk = {visit, arg};
    rcgc__arena_foreach_pool(visit_pool_tags, &walk, NULL);
}

static void drop_pool_tags(const struct pool *pool, void *arg) {
    (void)arg;
    /* Under arena_mutex, which the walk holds (P4). */
    rcgc__pool_drop_hook_tags_locked((struct pool *)(uintptr_t)pool);
}

void rcgc__alloc_hook_tags_drop(void) { rcgc__arena_foreach_pool(drop_pool_tags, NULL, NULL); }
