/* src/alloc/alloc_walk.h - every block the allocator has handed out, for
 * the layers above that must see all live memory without having recorded
 * it (the debug layer's census of objects by type).
 *
 * Blocks in arenas are found from the pool descriptors: a pool's carved
 * blocks are either free (their cookie says so, alloc_internal.h) or
 * handed out; a large pool is one handed-out block. Huge blocks (above
 * 32 MiB, one mapping each) are not listed.
 */
#ifndef RCGC_ALLOC_WALK_H
#define RCGC_ALLOC_WALK_H

#include <stddef.h>

/* Call @visit(@block, @block_size, @arg) for every handed-out block of
 * every arena. Runs under the arena mutex: @visit must not allocate or
 * free rcgc memory (raw memory is fine). Blocks owned by threads that run
 * meanwhile may change under the walk; the caller stops them first when it
 * needs a consistent picture (a block freed concurrently may be listed or
 * not, and its contents are whatever the thread wrote last). */
void rcgc__alloc_walk_blocks(void (*visit)(void *block, size_t block_size, void *arg), void *arg);

/* The size of the block at @block, which the caller knows to be live (one
 * the walk listed and that is held since): what rcgc_usable_size returns,
 * without its checks, which read the block's second word and so race with
 * an owner updating an object header there. Any thread. */
size_t rcgc__alloc_block_size(const void *block);

#endif /* RCGC_ALLOC_WALK_H */
