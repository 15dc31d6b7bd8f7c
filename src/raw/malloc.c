/* src/raw/malloc.c - layer 1 allocation: the C library's malloc family with
 * one portable behaviour (CPython's PyMem_Raw* rules).
 *
 * Shares nothing of its own with other threads: the C library does its own
 * locking; the counters and fault setting live in stats.c and fault.c.
 */
#include "raw/raw_internal.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

/* Each block starts with its size, so rcgc_raw_stats can say how many
 * bytes rcgc's own bookkeeping holds without asking the C library (whose
 * malloc_usable_size librcgc-malloc.so replaces). 16 bytes keep the
 * pointer handed out aligned for any type, as the C library's is. */
typedef struct raw_header {
    _Alignas(max_align_t) size_t size;
} raw_header;

static_assert(sizeof(raw_header) == _Alignof(max_align_t), "the header keeps blocks aligned");

/* PTRDIFF_MAX, not SIZE_MAX: pointer differences inside a larger object
 * would overflow, and no real allocator can serve more anyway. A zero-size
 * request needs no special case: the header makes every block distinct
 * and non-empty, whatever the C library does with 0. */
static inline bool size_is_too_large(size_t size) {
    return size > (size_t)PTRDIFF_MAX - sizeof(raw_header);
}

/* @base, fresh from the C library for @size bytes: counted, and the
 * caller's part of it returned. */
static inline void *raw_block_counted(raw_header *base, size_t size) {
    base->size = size;
    rcgc__raw_count(RAW_COUNTER_mallocs, 1);
    rcgc__raw_count(RAW_COUNTER_bytes_allocated, (int64_t)size);
    return base + 1;
}

static inline raw_header *raw_header_of(void *ptr) { return (raw_header *)ptr - 1; }

void *rcgc_raw_malloc(size_t size) {
    if (RCGC_UNLIKELY(size_is_too_large(size) || rcgc__fault_should_fail(RCGC_FAULT_MALLOC)))
        return rcgc__fail(ENOMEM);
    raw_header *base = RAW_LIBC_MALLOC(sizeof(raw_header) + size);
    if (RCGC_UNLIKELY(base == NULL))
        return rcgc__fail(ENOMEM);
    return raw_block_counted(base, size);
}

void *rcgc_raw_calloc(size_t count, size_t size) {
    size_t total;
    if (RCGC_UNLIKELY(__builtin_mul_overflow(count, size, &total)))
        return rcgc__fail(ENOMEM);
    if (RCGC_UNLIKELY(size_is_too_large(total) || rcgc__fault_should_fail(RCGC_FAULT_MALLOC)))
        return rcgc__fail(ENOMEM);
    raw_header *base = RAW_LIBC_CALLOC(1, sizeof(raw_header) + total);
    if (RCGC_UNLIKELY(base == NULL))
        return rcgc__fail(ENOMEM);
    return raw_block_counted(base, total);
}

void *rcgc_raw_realloc(void *ptr, size_t size) {
    if (ptr == NULL)
        return rcgc_raw_malloc(size);
    if (RCGC_UNLIKELY(size_is_too_large(size) || rcgc__fault_should_fail(RCGC_FAULT_MALLOC)))
        return rcgc__fail(ENOMEM);
    size_t old_size = raw_header_of(ptr)->size;
    raw_header *base = RAW_LIBC_REALLOC(raw_header_of(ptr), sizeof(raw_header) + size);
    if (RCGC_UNLIKELY(base == NULL))
        return rcgc__fail(ENOMEM);
    rcgc__raw_count(RAW_COUNTER_frees, 1);
    rcgc__raw_count(RAW_COUNTER_bytes_allocated, -(int64_t)old_size);
    return raw_block_counted(base, size);
}

void rcgc_raw_free(void *ptr) {
    if (ptr == NULL)
        return;
    raw_header *base = raw_header_of(ptr);
    rcgc__raw_count(RAW_COUNTER_bytes_allocated, -(int64_t)base->size);
    RAW_LIBC_FREE(base);
    rcgc__raw_count(RAW_COUNTER_frees, 1);
}
