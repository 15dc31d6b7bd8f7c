/* src/alloc/pool.c - one pool: carving never-used blocks, the remote-free
 * stack, and the P1/P3 checker.
 *
 * Owner-only: everything but remote_free, which any thread pushes onto with
 * a CAS and the owner takes whole with one exchange. Blocks are carved
 * lazily, a page at a time:
 *
 *  +-------+-------+-------+-----+-------+---------------------------+
 *  | blk 0 | blk 1 | blk 2 | ... | blk b |  never touched            |
 *  +-------+-------+-------+-----+-------+---------------------------+
 *  ^ start                               ^ start + bumped * block_size
 *
 *  Why carve lazily instead of threading every block when the pool is made:
 *  pages past `bumped` are never written, so a new pool costs no page
 *  faults and a thread that needs three blocks of a class commits one page.
 */
#include "alloc/alloc_internal.h"

#include <inttypes.h>

bool rcgc__pool_carve_owner(struct pool *pool) {
    uint32_t bumped = atomic_load_explicit(&pool->bumped, memory_order_relaxed);
    if (bumped == pool->capacity)
        return false;
    /* A page's worth at a time: enough to amortize the slow path, little
     * enough that a barely used class commits one page. */
    uint32_t batch = (uint32_t)(RCGC_CARVE_BYTES / pool->block_size);
    if (batch == 0)
        batch = 1;
    if (batch > pool->capacity - bumped)
        batch = pool->capacity - bumped;
    char *first = pool->start + (size_t)bumped * pool->block_size;
    struct block *tail = pool->free;
    /* Built back to front so the list hands out ascending addresses. */
    for (uint32_t i = batch; i-- > 0;) {
        struct block *block = (struct block *)(first + (size_t)i * pool->block_size);
        free_link(block, tail);
        block_mark_free(block);
        tail = block;
    }
    pool->free = tail;
    atomic_store_explicit(&pool->bumped, bumped + batch, memory_order_relaxed);
    pool->carved_bytes = (bumped + batch) * pool->block_size;
    return true;
}

void rcgc__pool_local_free_prepend_owner(struct pool *pool, struct block *rest) {
    if (pool->local_free != NULL) {
        struct block *tail = rest;
        for (struct block *next; (next = free_next(pool, tail)) != NULL;)
            tail = next;
        free_link(tail, pool->local_free);
    }
    pool->local_free = rest;
}

void rcgc__pool_push_remote(struct pool *pool, struct block *block) {
    block_mark_free(block);
    struct block *head = atomic_load_explicit(&pool->remote_free, memory_order_relaxed);
    do {
        block_stack_link(block, head);
        /* Release on success: pairs with the acquire exchange in
         * rcgc__pool_collect_remote_owner(), so the owner sees block->next
         * (and the freeing thread's last writes) before it reuses block. */
    } while (!atomic_compare_exchange_weak_explicit(&pool->remote_free, &head, block,
                                                    memory_order_release, memory_order_relaxed));
}

uint32_t rcgc__pool_collect_remote_owner(struct pool *pool) {
    if (atomic_load_explicit(&pool->remote_free, memory_order_relaxed) == NULL)
        return 0;
    /* Acquire: pairs with the release CAS in rcgc__pool_push_remote(). */
    struct block *taken = atomic_exchange_explicit(&pool->remote_free, NULL, memory_order_acquire);
    /* Push each block onto the owner's local list, as the owner's own
     * frees are (only the slow path refills `free`): the stack's links are
     * plain, the owner's may be encoded (free_link). */
    uint32_t count = 0;
    struct block *free = pool->local_free;
    while (taken != NULL) {
        struct block *next = block_stack_next(taken);
        free_link(taken, free);
        free = taken;
        taken = next;
        count++;
    }
    if (count > 0) {
        pool->local_free = free;
        uint32_t used = atomic_load_explicit(&pool->used, memory_order_relaxed);
        if (count > used)
            rcgc__fatal("rcgc: pool %p (size class %u, %u B) got %" PRIu32
                        " blocks back from other threads with %" PRIu32
                        " in use: a block was freed twice from different threads",
                        (void *)pool, pool->size_class, pool->block_size, count, used);
        atomic_store_explicit(&pool->used, used - count, memory_order_relaxed);
    }
    return count;
}

void rcgc__alloc_pool_check(const struct pool *pool) {
    uint32_t used = atomic_load_explicit(&pool->used, memory_order_relaxed);
    uint32_t bumped = atomic_load_explicit(&pool->bumped, memory_order_relaxed);
    uint32_t free_count = 0;
    const struct block *lists[2] = {pool->free, pool->local_free};
    for (unsigned l = 0; l < 2; l++)
        for (const struct block *b = lists[l]; b != NULL; b = free_next(pool, b)) {
            if (pool_block_index(pool, b) >= bumped)
                rcgc__fatal("rcgc: pool %p free list holds %p, not a carved block of it",
                            (const void *)pool, (const void *)b);
            if (++free_count > pool->capacity)
                rcgc__fatal("rcgc: pool %p free lists loop", (const void *)pool);
        }
    if (used + free_count != bumped)
        rcgc__fatal("rcgc: pool %p broken (P1): %" PRIu32 " used + %" PRIu32 " free != %" PRIu32
                    " carved",
                    (const void *)pool, used, free_count, bumped);
    if (pool->carved_bytes != bumped * pool->block_size)
        rcgc__fatal("rcgc: pool %p broken (P5): %" PRIu32 " bytes carved, not %" PRIu32
                    " blocks of %" PRIu32 " B",
                    (const void *)pool, pool->carved_bytes, bumped, pool->block_size);
    if (pool->block_size != rcgc__classes[pool->size_class].block_size)
        rcgc__fatal("rcgc: pool %p broken (P3): block size %u is not class %u's",
                    (const void *)pool, pool->block_size, pool->size_class);
}
