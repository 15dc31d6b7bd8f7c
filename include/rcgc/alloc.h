/* rcgc/alloc.h - layer 2: the small-object allocator, malloc-compatible.
 *
 * Purpose: blocks, pools and arenas as CPython's obmalloc has them, rebuilt
 * for many threads: each thread allocates from pools it owns (no atomic
 * read-modify-write, no lock on the fast path), blocks freed by another
 * thread go back through a lock-free per-pool stack, pools come from 64 MiB
 * arenas shared by all threads, and free memory goes back to the OS.
 * Requests up to 128 KiB come from pools in 48 size classes (16-byte steps
 * to 128 B, then four classes per doubling); up to 32 MiB from whole slices
 * of an arena; larger ones are mapped on their own.
 *
 * Thread model: every function may be called from any thread; a thread
 * gets its heap on its first allocation and hands its pools on when it
 * exits (live blocks stay valid and may be freed by anyone later).
 *
 * Usage:
 *     char *name = rcgc_malloc(32);
 *     name = rcgc_realloc(name, 200);   // keeps the first 32 bytes
 *     rcgc_free(name);
 *     rcgc_heap_collect(true);          // give free memory back now
 *     rcgc_print_alloc_stats(stderr);
 *
 * A block must be freed with rcgc_free (or rcgc_realloc), never libc's
 * free, unless librcgc-malloc.so replaces the whole malloc family.
 */
#ifndef RCGC_ALLOC_H
#define RCGC_ALLOC_H

#include <rcgc/common.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ Allocation */

/**
 * rcgc_malloc - Allocate @size bytes.
 * @size: bytes wanted; 0 gives a unique minimum-size block.
 *
 * Returns a block aligned to 16 bytes, or NULL with errno = ENOMEM when
 * @size exceeds PTRDIFF_MAX or memory cannot be mapped. Blocks above 32 MiB
 * are charged to the kernel's commit accounting when made, as glibc's are:
 * one the overcommit policy refuses (under the default heuristic, one
 * larger than RAM and swap) gives NULL with ENOMEM. The content is
 * unspecified (0xAB bytes in builds with RCGC_CHECKS >= 2).
 * Thread safety: any thread. Cost: on the fast path a few loads and two
 * stores to memory only this thread writes; at most a pool refill (taking
 * arena_mutex about once per 64 KiB allocated) on the slow path.
 */
RCGC_API RCGC_NODISCARD RCGC_MALLOC_LIKE void *rcgc_malloc(size_t size);

/**
 * rcgc_calloc - Allocate a zeroed array of @count elements of @size bytes.
 * @count: number of elements.
 * @size: bytes per element.
 *
 * Returns zeroed memory (even when it reuses a freed block), or NULL with
 * errno = ENOMEM when @count * @size overflows, exceeds PTRDIFF_MAX or
 * cannot be mapped. Memory fresh from the OS is not written again.
 * Thread safety: any thread. Cost: rcgc_malloc plus the zeroing.
 */
RCGC_API RCGC_NODISCARD RCGC_MALLOC_LIKE void *rcgc_calloc(size_t count, size_t size);

/**
 * rcgc_realloc - Resize a block, keeping its content.
 * @ptr: a block from this allocator, or NULL (then this is rcgc_malloc).
 * @size: the new size; 0 returns a unique minimum-size block and frees
 *        @ptr (the malloc(0) rule; never NULL on success).
 *
 * Returns the block, moved or not, holding the first min(old, new) bytes.
 * The block stays where it is when the new size fits its size class and
 * uses at least half of it. On failure returns NULL with errno = ENOMEM and
 * @ptr is untouched. Misuse (@ptr not from rcgc, already freed, interior)
 * is reported as by rcgc_free.
 * Thread safety: any thread, on a block no other thread uses meanwhile.
 */
RCGC_API RCGC_NODISCARD void *rcgc_realloc(void *ptr, size_t size);

/**
 * rcgc_free - Give a block back.
 * @ptr: a block from rcgc_malloc and friends, or NULL (nothing happens).
 *
 * A block of another thread's pool goes onto that pool's lock-free
 * remote-free stack; the owner takes such blocks back in batches.
 * Misuse is fatal, reported through the fatal-error handler with the
 * address, the size class and which check failed: a pointer rcgc does not
 * own, a pointer into the middle of a block, or a block already free
 * ("rcgc: double free of 0x... (size class 2, 48 B, pool 0x...) in
 * rcgc_free"). A double free is caught whenever the block was not handed
 * out again in between.
 * Thread safety: any thread, attached or not. Memory ordering: a remote
 *   free publishes the block's memory to its owner (release/acquire).
 * Cost: fast path a few loads and stores to memory this thread owns; a
 *   remote free is one CAS; releasing an empty pool takes arena_mutex.
 */
RCGC_API void rcgc_free(void *ptr);

/**
 * rcgc_aligned_alloc - Allocate @size bytes aligned to @alignment.
 * @alignment: a power of two (any, including above the page size).
 * @size: bytes wanted; need not be a multiple of @alignment.
 *
 * Returns the block (free it with rcgc_free), or NULL with errno = EINVAL
 * when @alignment is not a power of two, or ENOMEM. Alignments up to 64 KiB
 * come from pools with no padding: power-of-two classes are naturally
 * aligned there.
 * Thread safety: any thread.
 */
RCGC_API RCGC_NODISCARD RCGC_MALLOC_LIKE void *rcgc_aligned_alloc(size_t alignment, size_t size);

/**
 * rcgc_usable_size - How many bytes of the block at @ptr may be used.
 * @ptr: a live block from this allocator, or NULL (returns 0).
 *
 * Returns at least the size requested: the size class's block size, or the
 * whole slices or pages of a large or huge block. Misuse is reported as by
 * rcgc_free, a block already freed included ("rcgc: size asked of a freed
 * block 0x... (size class 2, 48 B, pool 0x...) in rcgc_usable_size").
 * Thread safety: any thread. Cost: O(1), no lock.
 */
RCGC_API size_t rcgc_usable_size(const void *ptr);

/**
 * rcgc_owns - Whether @ptr lies in memory this allocator manages.
 * @ptr: any pointer.
 *
 * Returns true when @ptr lies in one of rcgc's 64 MiB arenas, or within
 * [start, start + usable size) of a live huge block; false for anything
 * else, such as memory the kernel mapped for someone else next to a huge
 * block. In an arena the pointer may still be a free block or point into
 * the middle of one.
 * Thread safety: any thread. Cost: one load, no lock, for arena memory and
 *   memory rcgc does not own; a pointer in a 64 MiB unit that a huge block
 *   touches takes arena_mutex and reads the block's header.
 */
RCGC_API bool rcgc_owns(const void *ptr);

/* ------------------------------------------------------ Returning memory */

/**
 * rcgc_heap_collect - Give free memory back to the OS now.
 * @force: false collects blocks freed by other threads and releases empty
 *   pools beyond one per class; true also releases the calling thread's
 *   current pools when empty, adopts pools of exited threads, releases
 *   the empty pools that held sampled blocks (allocation tracing),
 *   decommits every free slice and unmaps every empty arena.
 *
 * Without this call memory still goes back: empty pools return to their
 * arena at once, free slices beyond a small retained budget are
 * decommitted, and empty arenas are unmapped. This call only makes it
 * immediate and complete.
 * Thread safety: any thread; affects the calling thread's heap and the
 *   shared arenas. Cost: walks the thread's pools; takes arena_mutex; one
 *   madvise or munmap per free range.
 */
RCGC_API void rcgc_heap_collect(bool force);

/* ------------------------------------------------------------- Statistics */

/** RCGC_ALLOC_CLASSES - the number of size classes (struct rcgc_alloc_stats). */
#define RCGC_ALLOC_CLASSES 48

/**
 * struct rcgc_alloc_class_stats - one size class.
 * @block_size: bytes per block.
 * @pools: pools of this class in use.
 * @blocks_in_use: blocks handed out (including those freed by other threads
 *   and not yet taken back by the owner).
 * @blocks_free: blocks in those pools ready to hand out, carved or not.
 */
struct rcgc_alloc_class_stats {
    uint64_t block_size;
    uint64_t pools;
    uint64_t blocks_in_use;
    uint64_t blocks_free;
};

/**
 * struct rcgc_alloc_stats - the allocator at one moment.
 * @classes: per size class, index = class.
 * @large_blocks: blocks of 128 KiB to 32 MiB, served by whole slices.
 * @large_bytes: bytes in those blocks.
 * @huge_blocks: blocks mapped on their own (above 32 MiB).
 * @huge_bytes: bytes mapped for those.
 * @arenas: arenas mapped now.
 * @arenas_total: arenas mapped since start.
 * @bytes_mapped: address space rcgc holds from the OS (arenas and huge).
 * @bytes_committed: the part of it not decommitted (an upper bound of
 *   resident memory).
 * @bytes_arenas: the arenas' committed bytes, which add up (read under one
 *   lock) as @bytes_arena_headers + @bytes_small_pools + @bytes_large_pools
 *   + @bytes_retained.
 * @bytes_arena_headers: pool descriptors and slice maps (their committed
 *   pages).
 * @bytes_small_pools: slices of pools of blocks; of which blocks in use and
 *   free are the classes' figures times their block sizes, and the rest
 *   is @bytes_small_slack, the pools' tails too short for a block.
 * @bytes_small_slack: see @bytes_small_pools.
 * @bytes_large_pools: slices of large blocks (@large_bytes, and the rest
 *   of each block's last slice).
 * @bytes_retained: free slices kept committed to be reused soon
 *   (docs/tuning.md, the retention budget).
 * @pools_taken, @pools_released, @pools_adopted: pool traffic since start.
 * @frees_remote: blocks freed by a thread other than their pool's owner.
 */
struct rcgc_alloc_stats {
    struct rcgc_alloc_class_stats classes[RCGC_ALLOC_CLASSES];
    uint64_t large_blocks, large_bytes;
    uint64_t huge_blocks, huge_bytes;
    uint64_t arenas, arenas_total;
    uint64_t bytes_mapped, bytes_committed;
    uint64_t bytes_arenas, bytes_arena_headers, bytes_small_pools, bytes_small_slack;
    uint64_t bytes_large_pools, bytes_retained;
    uint64_t pools_taken, pools_released, pools_adopted;
    uint64_t frees_remote;
};

/**
 * rcgc_alloc_stats - Take a snapshot of the allocator.
 * @out: filled in; not NULL.
 *
 * Thread safety: any thread. Each pool is read once under arena_mutex;
 *   pools other threads are using may be a few blocks off.
 * Cost: walks every pool in use; takes arena_mutex.
 */
RCGC_API void rcgc_alloc_stats(struct rcgc_alloc_stats *out);

/**
 * rcgc_print_alloc_stats - Print the snapshot as CPython's
 * sys._debugmallocstats() does: one line per size class in use (class,
 * block size, pools, blocks in use, free blocks), then the totals.
 * @stream: where to print; not NULL.
 *
 * RCGC_SHOW_STATS=1 prints the same at exit.
 * Thread safety: any thread. Cost: as rcgc_alloc_stats, plus stdio.
 */
RCGC_API void rcgc_print_alloc_stats(FILE *stream);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_ALLOC_H */
