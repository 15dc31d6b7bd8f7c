/* src/raw/malloc.c - layer 1 allocation: the C library's malloc family with
 * one portable behaviour (CPython's PyMem_Raw* rules).
 *
 * Shares nothing of its own with other threads: the C library does its own
 * locking; the counters and fault setting live in stats.c and fault.c.
 */
#include "raw/raw_internal.h"

#include <errno.h>
#include <stdlib.h>

/* PTRDIFF_MAX, not SIZE_MAX: pointer differences inside a larger object
 * would overflow, and no real allocator can serve more anyway. */
static inline bool size_is_too_large(size_t size) { return size > (size_t)PTRDIFF_MAX; }

/* A zero-size request gets one byte, so every call returns a distinct,
 * freeable pointer whatever the C library would do with 0. */
static inline size_t nonzero(size_t size) { return size == 0 ? 1 : size; }

void *rcgc_raw_malloc(size_t size) {
    if (RCGC_UNLIKELY(size_is_too_large(size) || rcgc__fault_should_fail(RCGC_FAULT_MALLOC)))
        return rcgc__fail(ENOMEM);
    void *block = RAW_LIBC_MALLOC(nonzero(size));
    if (RCGC_UNLIKELY(block == NULL))
        return rcgc__fail(ENOMEM);
    rcgc__raw_count(RAW_COUNTER_mallocs, 1);
    return block;
}

void *rcgc_raw_calloc(size_t count, size_t size) {
    size_t total;
    if (RCGC_UNLIKELY(__builtin_mul_overflow(count, size, &total)))
        return rcgc__fail(ENOMEM);
    if (RCGC_UNLIKELY(size_is_too_large(total) || rcgc__fault_should_fail(RCGC_FAULT_MALLOC)))
        return rcgc__fail(ENOMEM);
    void *block = total == 0 ? RAW_LIBC_CALLOC(1, 1) : RAW_LIBC_CALLOC(count, size);
    if (RCGC_UNLIKELY(block == NULL))
        return rcgc__fail(ENOMEM);
    rcgc__raw_count(RAW_COUNTER_mallocs, 1);
    return block;
}

void *rcgc_raw_realloc(void *ptr, size_t size) {
    if (ptr == NULL)
        return rcgc_raw_malloc(size);
    if (RCGC_UNLIKELY(size_is_too_large(size) || rcgc__fault_should_fail(RCGC_FAULT_MALLOC)))
        return rcgc__fail(ENOMEM);
    /* realloc(p, 0) may free p and return NULL in C17 (DR 400) and is
     * undefined in C23; asking for one byte keeps the malloc(0) rule. */
    void *block = RAW_LIBC_REALLOC(ptr, nonzero(size));
    if (RCGC_UNLIKELY(block == NULL))
        return rcgc__fail(ENOMEM);
    rcgc__raw_count(RAW_COUNTER_mallocs, 1);
    rcgc__raw_count(RAW_COUNTER_frees, 1);
    return block;
}

void rcgc_raw_free(void *ptr) {
    if (ptr == NULL)
        return;
    RAW_LIBC_FREE(ptr);
    rcgc__raw_count(RAW_COUNTER_frees, 1);
}
