/* src/alloc/alloc_hook.h - the allocator's one hook point, for layers above
 * it (allocation tracing in src/debug): see every block handed out and
 * every block freed, the way tracemalloc sits on PyMem_SetAllocator.
 *
 * Zero cost while nothing is hooked: the fast paths are what they are
 * without a hook, not a test away from it. Installing a hook that wants
 * every allocation points every thread's heap pointer at the empty heap,
 * so each malloc and free takes the slow path, which serves it from the
 * thread's own heap as before and calls the hook; removing it points them
 * back.
 *
 * What the hook sees: rcgc_malloc, rcgc_calloc, rcgc_realloc (as the
 * allocation of the new block and the free of the old one; a realloc
 * that keeps its block is not seen), rcgc_aligned_alloc, rcgc_free, and
 * so everything built on them (objects from rcgc_new, librcgc-malloc.so's
 * malloc family). Not seen: objects reused from a type's free list, which
 * never pass through the allocator.
 *
 * Sampling (sample_bytes = N > 0): the fast paths stay. Each thread
 * counts down, per size class (and once for large and huge blocks), the
 * usable bytes of the blocks it is handed, from a draw of an exponential
 * distribution of mean N; the allocation that crosses zero is the sample.
 * The count costs the fast path nothing: its malloc pops the current
 * pool's `free` list and its frees push another list (struct pool), so
 * the slow path, which hands `free` over, counts it whole and ends it
 * where the next sample falls (heap.c, "Sampling"). A sampled pool block
 * is served from pools no thread owns, so its free, and among pool blocks
 * only such frees, are reported, with those of large and huge blocks.
 * Each byte handed out has the same chance of being in a reported
 * allocation (a Poisson process over bytes), and the hook weighs each
 * report by 1 / (1 - exp(-usable / N)), usable = rcgc_usable_size(ptr).
 * The hook is called and takes its locks once per sample. The pools of
 * sampled blocks stay after sampling stops (they hold at most the most
 * sampled blocks ever live at once, and serve the next samples) until
 * rcgc_heap_collect(true) releases the empty ones.
 *
 * The hook runs on the allocating or freeing thread, after the block is
 * handed out and before it is freed, with no rcgc lock held. What the
 * hook itself allocates or frees is not reported to it (a per-thread
 * guard), so a tracer may keep its tables in rcgc memory.
 */
#ifndef RCGC_ALLOC_HOOK_H
#define RCGC_ALLOC_HOOK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rcgc__alloc_hook {
    /* @ptr was handed out for a request of @size bytes (sampling: a
     * sampled one). @caller: the return address into the code that called
     * the allocator, when the allocator knows it (its public entry reached
     * the slow path by a tail call, as rcgc_malloc and librcgc-malloc.so's
     * malloc do), else NULL; the hook must check it is not inside rcgc
     * (then it is an rcgc function's caller, not the host's). */
    void (*on_alloc)(void *ptr, size_t size, const void *caller, void *arg);
    /* @ptr, a live block, is about to be freed (sampling: a sampled,
     * large or huge one; the hook ignores blocks it does not know). */
    void (*on_free)(void *ptr, void *arg);
    void *arg;
    /* 0: report every allocation and free; N: sample one allocation per N
     * bytes handed out (usable sizes), on average. */
    size_t sample_bytes;
};

/* ------------------------------------------------------------ Block tags
 *
 * One 64-bit word per block in an arena (pool and large blocks), kept
 * beside its pool, for the hook to remember what it learnt of the block:
 * 0 until the hook stores into it. A tracer keeps its record of a block
 * there instead of in a table of its own, which would be shared by every
 * thread and touched at a random place by every call. The allocator
 * neither reads nor clears tags: the hook clears a tag when the block is
 * freed, and rcgc__alloc_hook_tags_drop forgets all of them. A pool's
 * tags are made by the first call that asks for one of its blocks' (a
 * pool's capacity in words, rcgc_raw memory) and freed with the pool.
 * Huge blocks (one mapping each) have none. The word is atomic: a thread
 * stores into it while allocating or freeing the block, and a walk reads
 * it from another thread. */

/* The tag of @block, a live block handed out by rcgc; when its pool has
 * no tags yet, made (@create; NULL on ENOMEM) or NULL. NULL for huge
 * blocks. *@block_size is set to the block's size (rcgc_usable_size) in
 * every case, from the same lookup. Only from inside the hook, where the
 * block cannot be freed. */
_Atomic uint64_t *rcgc__alloc_hook_tag(const void *block, bool create, size_t *block_size);

/* Call @visit(@block, @block_size, @tag, @arg) for every nonzero tag. Runs
 * under the arena mutex: @visit must not allocate or free rcgc memory (raw
 * memory is fine). Tags that change meanwhile may be seen before or after. */
void rcgc__alloc_hook_tags_foreach(void (*visit)(const void *block, size_t block_size, uint64_t tag,
                                                 void *arg),
                                   void *arg);

/* Free every pool's tags; only once no hook call runs (after
 * rcgc__alloc_hook_set(NULL) returned). */
void rcgc__alloc_hook_tags_drop(void);

/* ---------------------------------------------------------------- Install */

/* Install @hook, or remove the installed one with NULL; one hook at a
 * time. @hook must stay valid until it is removed. Returns once every
 * thread's later allocations and frees are reported (an allocation that
 * overlaps the call may or may not be), and, when removing, once no call
 * into the old hook is still running, so the caller may free what the
 * hook used. Not from inside the hook. Any thread; serialized. */
void rcgc__alloc_hook_set(const struct rcgc__alloc_hook *hook);

#endif /* RCGC_ALLOC_HOOK_H */
