/* src/alloc/walk.c - listing the handed-out blocks (alloc_walk.h).
 *
 * Shared: the arenas' pool descriptors, read under the arena mutex (which
 * keeps pools from being made or given back); the blocks' cookies, read
 * through the unsanitized accessor because free blocks are poisoned.
 */
#include "alloc/alloc_walk.h"
#include "alloc/alloc_internal.h"

struct walk {
    void (*visit)(void *block, size_t block_size, void *arg);
    void *arg;
};

static void walk_pool(const struct pool *pool, void *arg) {
    const struct walk *walk = arg;
    if (atomic_load_explicit(&pool->kind, memory_order_relaxed) == POOL_LARGE) {
        walk->visit(pool->start, pool->block_size, walk->arg);
        return;
    }
    uint32_t carved = atomic_load_explicit(&pool->bumped, memory_order_relaxed);
    for (uint32_t i = 0; i < carved; i++) {
        char *block = pool->start + (size_t)i * pool->block_size;
        if (!block_is_free((const struct block *)block))
            walk->visit(block, pool->block_size, walk->arg);
    }
}

void rcgc__alloc_walk_blocks(void (*visit)(void *block, size_t block_size, void *arg), void *arg) {
    struct walk walk = {visit, arg};
    rcgc__arena_foreach_pool(walk_pool, &walk, NULL);
}

size_t rcgc__alloc_block_size(const void *block) {
    enum registry_entry entry = registry_lookup(block);
    if (entry != REGISTRY_ARENA)
        return rcgc__huge_usable(block, entry, "rcgc__alloc_block_size");
    return pool_of(arena_of(block), block)->block_size;
}
