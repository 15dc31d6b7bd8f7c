/* src/raw/raw_internal.h - layer 1 inside rcgc: mappings, counters, faults.
 *
 * Owned by nobody: layer 1 keeps no per-thread state.
 * Shared: the counters (relaxed atomics; layer 1 runs only on slow paths,
 *   at most once per mapping or raw block, so a shared counter costs less
 *   than the syscall beside it), the failure-injection setting, and the
 *   page size (written once, same value by every writer).
 * Invariants:
 *   R1  bytes_committed <= bytes_mapped
 *       (rcgc__raw_check_counters(), called where no thread maps: the end of
 *       tests and stress runs)
 *   R2  every range passed to unmap, decommit, recommit and protect starts
 *       and ends on a page boundary (rcgc_assert at each entry)
 *
 * Layer 0: rcgc_raw_* call the C library through RAW_LIBC_*. When rcgc
 * itself replaces malloc (librcgc-malloc.so, built with
 * RCGC_RAW_VIA_LIBC_ENTRY), those must reach glibc's allocator directly, or
 * the raw layer would call back into rcgc.
 */
#ifndef RCGC_RAW_INTERNAL_H
#define RCGC_RAW_INTERNAL_H

#include "base/base_internal.h"

#include <rcgc/raw.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ Layer 0 */

#if defined(RCGC_RAW_VIA_LIBC_ENTRY) && defined(__GLIBC__)
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void __libc_free(void *ptr);
#define RAW_LIBC_MALLOC __libc_malloc
#define RAW_LIBC_CALLOC __libc_calloc
#define RAW_LIBC_REALLOC __libc_realloc
#define RAW_LIBC_FREE __libc_free
#else
#define RAW_LIBC_MALLOC malloc
#define RAW_LIBC_CALLOC calloc
#define RAW_LIBC_REALLOC realloc
#define RAW_LIBC_FREE free
#endif

/* ----------------------------------------------------------------- Mappings */

enum rcgc_raw_map_flags {
    /* Ask for transparent huge pages (madvise MADV_HUGEPAGE); a hint only. */
    RCGC_RAW_MAP_HUGE = 1u << 0,
    /* Map the range inaccessible and uncharged; the caller opens the parts
     * it uses with rcgc__raw_protect(..., true), which charges them to the
     * kernel's commit accounting (so the overcommit policy may refuse). */
    RCGC_RAW_MAP_INACCESSIBLE = 1u << 1,
};

/* Map @size bytes (rounded up to pages) of zeroed, readable and writable
 * memory whose address is a multiple of @alignment (a power of two; values
 * below the page size mean the page size). Returns NULL with errno = ENOMEM
 * when the size overflows, the kernel refuses, or failure injection
 * (RCGC_FAULT_MAP) says so; errno = EINVAL when @size is 0 or @alignment is
 * not a power of two. Nothing is mapped or counted after a failure.
 * Without RCGC_RAW_MAP_INACCESSIBLE the mapping is MAP_NORESERVE: pages are
 * charged as they are written, which suits arenas, committed lazily. */
void *rcgc__raw_map(size_t size, size_t alignment, unsigned flags);

/* Release a mapping, or a page-aligned part of one. @decommitted says how
 * many bytes of the range are decommitted now, so the committed gauge stays
 * exact. A failing munmap means rcgc's bookkeeping is broken: fatal. */
void rcgc__raw_unmap(void *addr, size_t size, size_t decommitted);

/* Give a committed, page-aligned range back to the OS, keeping the address
 * range reserved. With RCGC_DECOMMIT_LAZY=0 (default) resident memory drops
 * at once and the pages read as zero afterwards; with 1 the kernel reclaims
 * them only under pressure and their content is unspecified until written. */
void rcgc__raw_decommit(void *addr, size_t size);

/* Make a decommitted range usable again. Its content is unspecified (zero
 * after an eager decommit). Never fails on Linux: pages fault back in. */
void rcgc__raw_recommit(void *addr, size_t size);

/* Make a page-aligned range inaccessible (a guard) or accessible again.
 * Returns false with errno set when the kernel refuses (e.g. ENOMEM from too
 * many distinct mappings); the range then keeps its old protection. */
bool rcgc__raw_protect(void *addr, size_t size, bool accessible);

/* Round @size up to a multiple of @alignment (a power of two); returns 0
 * when that overflows. */
static inline size_t rcgc__raw_align_up(size_t size, size_t alignment) {
    size_t mask = alignment - 1;
    if (size > SIZE_MAX - mask)
        return 0;
    return (size + mask) & ~mask;
}

/* ---------------------------------------------------------------- Counters */

enum rcgc_raw_counter {
#define RCGC_RAW_ENUM(name, doc) RAW_COUNTER_##name,
    RCGC_RAW_COUNTERS(RCGC_RAW_ENUM)
#undef RCGC_RAW_ENUM
        RAW_COUNTER_COUNT
};

/* Add @delta (may be negative for the gauges) to a counter; relaxed. */
void rcgc__raw_count(enum rcgc_raw_counter counter, int64_t delta);

/* Check R1; fatal on failure. Exact only while no other thread maps or
 * unmaps (the two gauges are read one after the other). */
void rcgc__raw_check_counters(void);

/* --------------------------------------------------------- Fault injection */

/* True when the eligible call at @site must fail now. Counts the call, and
 * the injected failure when it answers true. One relaxed load when off. */
bool rcgc__fault_should_fail(unsigned site);

#endif /* RCGC_RAW_INTERNAL_H */
