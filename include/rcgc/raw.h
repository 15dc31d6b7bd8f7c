/* rcgc/raw.h - layer 1: portable raw memory, its counters, and failure injection.
 *
 * Purpose: the base every other rcgc layer calls instead of libc or the
 * kernel. The rcgc_raw_* allocation functions wrap the C library's malloc
 * family with one behaviour on every platform (CPython's PyMem_Raw* rules):
 * a zero-size request returns a unique non-NULL pointer, overflow and sizes
 * above PTRDIFF_MAX fail with NULL and errno = ENOMEM, realloc(p, 0) keeps a
 * unique zero-size block. Hosts may use them for memory that must not come
 * from the pool allocator (for example, before any thread is attached).
 *
 * Failure injection makes chosen raw allocations or mappings fail, so a host
 * or a test can prove that its out-of-memory paths return NULL and lose
 * nothing. The counters say how much memory rcgc holds from the OS.
 *
 * Thread model: every function may be called from any thread, attached or not.
 *
 * Usage:
 *     char *p = rcgc_raw_malloc(0);               // unique, non-NULL
 *     rcgc_fault_inject(RCGC_FAULT_MALLOC, 0, 1); // the next malloc fails
 *     assert(rcgc_raw_malloc(64) == NULL && errno == ENOMEM);
 *     rcgc_fault_clear();
 *     rcgc_raw_free(p);
 */
#ifndef RCGC_RAW_H
#define RCGC_RAW_H

#include <rcgc/common.h>

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ Allocation */

/**
 * rcgc_raw_malloc - Allocate @size bytes from the C library, portably.
 * @size: bytes wanted; 0 is allowed.
 *
 * Returns memory aligned for any object type, or NULL with errno = ENOMEM
 * when @size > PTRDIFF_MAX, when the C library fails, or when failure
 * injection (RCGC_FAULT_MALLOC) says so. A zero-size request returns a unique
 * non-NULL pointer that must be freed like any other.
 * Thread safety: any thread. Cost: one C library malloc.
 */
RCGC_API RCGC_NODISCARD RCGC_MALLOC_LIKE void *rcgc_raw_malloc(size_t size);

/**
 * rcgc_raw_calloc - Allocate a zeroed array of @count elements of @size bytes.
 * @count: number of elements; 0 is allowed.
 * @size: bytes per element; 0 is allowed.
 *
 * Returns zeroed memory, a unique non-NULL pointer when the product is 0, or
 * NULL with errno = ENOMEM when @count * @size overflows or exceeds
 * PTRDIFF_MAX, when the C library fails, or when failure injection says so.
 * Thread safety: any thread. Cost: one C library calloc.
 */
RCGC_API RCGC_NODISCARD RCGC_MALLOC_LIKE void *rcgc_raw_calloc(size_t count, size_t size);

/**
 * rcgc_raw_realloc - Resize a block from rcgc_raw_malloc/calloc/realloc.
 * @ptr: the block, or NULL (then this is rcgc_raw_malloc(@size)).
 * @size: the new size; 0 is allowed.
 *
 * Returns the resized block, keeping the first min(old, new) bytes. A size of
 * 0 does not free: it returns a unique zero-size block, exactly as
 * rcgc_raw_malloc(0) would, and @ptr is released. On failure (NULL with
 * errno = ENOMEM, for the same reasons as rcgc_raw_malloc) @ptr is untouched
 * and still owned by the caller.
 * Thread safety: any thread, on a block no other thread is using.
 * Cost: one C library realloc.
 */
RCGC_API RCGC_NODISCARD void *rcgc_raw_realloc(void *ptr, size_t size);

/**
 * rcgc_raw_free - Release a block from rcgc_raw_malloc/calloc/realloc.
 * @ptr: the block, or NULL (nothing happens).
 *
 * Thread safety: any thread. Cost: one C library free.
 */
RCGC_API void rcgc_raw_free(void *ptr);

/* ------------------------------------------------------- Failure injection */

/**
 * enum rcgc_fault_site - Which raw operations failure injection may fail.
 * @RCGC_FAULT_MALLOC: rcgc_raw_malloc, rcgc_raw_calloc and rcgc_raw_realloc
 *   calls (every realloc may fail, shrinking or not, as the C standard allows).
 * @RCGC_FAULT_MAP: mappings of address space made for arenas and huge blocks.
 * @RCGC_FAULT_ALL: both.
 */
enum rcgc_fault_site {
    RCGC_FAULT_MALLOC = 1u << 0,
    RCGC_FAULT_MAP = 1u << 1,
    RCGC_FAULT_ALL = RCGC_FAULT_MALLOC | RCGC_FAULT_MAP,
};

/** RCGC_FAULT_FOREVER - a @count for rcgc_fault_inject(): fail every call. */
#define RCGC_FAULT_FOREVER UINT64_MAX

/**
 * rcgc_fault_inject - Make chosen raw allocations or mappings fail.
 * @sites: a mask of enum rcgc_fault_site values; the calls it names are the
 *         eligible ones.
 * @skip: how many eligible calls succeed first (0: the very next one fails).
 * @count: how many eligible calls then fail; RCGC_FAULT_FOREVER for all.
 *
 * Replaces any earlier setting and restarts the count of eligible calls. A
 * failed call returns NULL with errno = ENOMEM and changes nothing else, as
 * a real failure would. The setting is process-wide: eligible calls from
 * every thread are counted in the order they happen (CPython's
 * _testcapi.set_nomemory(start, stop) is the model).
 * Thread safety: any thread. Memory ordering: calls that start after this
 *   returns see the new setting. Cost: a few atomic stores.
 */
RCGC_API void rcgc_fault_inject(unsigned sites, uint64_t skip, uint64_t count);

/**
 * rcgc_fault_clear - Stop injecting failures.
 *
 * Thread safety: any thread. Cost: one atomic store.
 */
RCGC_API void rcgc_fault_clear(void);

/* ---------------------------------------------------------------- Counters */

/* One table generates the struct fields, the printer and the names; a new
 * counter is one line here. All are totals since the process started, except
 * the three bytes_* gauges, which are current values. */
#define RCGC_RAW_COUNTERS(X)                                                                       \
    X(bytes_mapped, "bytes of address space currently mapped")                                     \
    X(bytes_committed, "bytes of that currently committed (not decommitted)")                      \
    X(maps, "mappings made")                                                                       \
    X(unmaps, "unmap calls (whole mappings or parts of them)")                                     \
    X(decommits, "ranges decommitted (given back, address kept)")                                  \
    X(recommits, "ranges recommitted")                                                             \
    X(bytes_allocated, "bytes asked of the raw blocks live now")                                   \
    X(mallocs, "successful raw allocations (malloc, calloc, realloc)")                             \
    X(frees, "raw blocks freed (a realloc counts one malloc and one free)")                        \
    X(faults_injected, "calls failed on purpose by rcgc_fault_inject")

/**
 * struct rcgc_raw_stats - A snapshot of the raw layer's counters.
 *
 * Fields are named after RCGC_RAW_COUNTERS. Under concurrent mapping each
 * field is exact on its own, but two fields may come from slightly
 * different instants.
 */
struct rcgc_raw_stats {
#define RCGC_RAW_FIELD(name, doc) uint64_t name;
    RCGC_RAW_COUNTERS(RCGC_RAW_FIELD)
#undef RCGC_RAW_FIELD
};

/**
 * rcgc_raw_stats - Take a snapshot of the raw layer's counters.
 * @out: filled with the current values; not NULL.
 *
 * Thread safety: any thread. Cost: one relaxed load per counter.
 */
RCGC_API void rcgc_raw_stats(struct rcgc_raw_stats *out);

/**
 * rcgc_print_raw_stats - Print the raw layer's counters, one per line.
 * @stream: where to print; not NULL.
 *
 * The format is "name value  # meaning", one counter per line, stable for
 * scripts. RCGC_SHOW_STATS=1 in the environment prints the same at exit.
 * Thread safety: any thread. Cost: stdio only; does not allocate from rcgc.
 */
RCGC_API void rcgc_print_raw_stats(FILE *stream);

/**
 * rcgc_page_size - The size of an OS page, read once at start.
 *
 * Thread safety: any thread. Cost: one relaxed load after the first call.
 */
RCGC_API size_t rcgc_page_size(void);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_RAW_H */
