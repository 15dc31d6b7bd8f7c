/* src/alloc/misuse.c - the allocator's misuse reports.
 *
 * Shares nothing. Each report is one line through the fatal-error handler
 * that names the address, what is wrong and, when the pointer is inside a
 * pool, the size class, block size, the block it falls in and the pool:
 *   rcgc: double free of 0x7f3a1c0400a0 (size class 2, 48 B, pool 0x7f3a1c000180) in rcgc_free
 */
#include "alloc/alloc_internal.h"

void rcgc__report_not_owned(const void *ptr, const char *where) {
    rcgc__fatal("rcgc: invalid pointer %p: rcgc does not own it (no arena or huge block there) "
                "in %s",
                ptr, where);
}

void rcgc__report_bad_block(const struct pool *pool, const void *ptr, const char *what,
                            const char *where) {
    if (pool == NULL || atomic_load_explicit(&pool->kind, memory_order_relaxed) != POOL_SMALL)
        rcgc__fatal("rcgc: %s %p (arena %p) in %s", what, ptr, (void *)arena_of(ptr), where);
    uintptr_t offset = (uintptr_t)ptr - (uintptr_t)pool->start;
    const char *block = pool->start + offset / pool->block_size * pool->block_size;
    if (block == ptr)
        rcgc__fatal("rcgc: %s %p (size class %u, %u B, pool %p) in %s", what, ptr, pool->size_class,
                    pool->block_size, (const void *)pool, where);
    rcgc__fatal("rcgc: %s %p (size class %u, %u B, inside the block at %p, pool %p) in %s", what,
                ptr, pool->size_class, pool->block_size, (const void *)block, (const void *)pool,
                where);
}

void rcgc__report_corrupt_free_list(const struct pool *pool, const struct block *at) {
    rcgc__fatal("rcgc: free list of pool %p (size class %u, %u B) corrupted at the freed block %p: "
                "it was written after being freed (use after free or overflow) in rcgc_malloc",
                (const void *)pool, pool->size_class, pool->block_size, (const void *)at);
}
