/* src/alloc/preload.c - librcgc-malloc.so: the whole malloc family for a
 * process, through LD_PRELOAD.
 *
 * Shares nothing of its own: each function forwards to the rcgc_* API with
 * the C library's contract for that name. Compiled only into
 * librcgc-malloc.so, whose raw layer is built with RCGC_RAW_VIA_LIBC_ENTRY
 * so that rcgc's own bookkeeping allocations reach glibc's allocator
 * directly instead of coming back here.
 */
#include "alloc/alloc_internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#define RCGC_EXPORT __attribute__((visibility("default")))

RCGC_EXPORT void *malloc(size_t size) { return rcgc_malloc(size); }

RCGC_EXPORT void free(void *ptr) { rcgc_free(ptr); }

RCGC_EXPORT void *calloc(size_t count, size_t size) { return rcgc_calloc(count, size); }

RCGC_EXPORT void *realloc(void *ptr, size_t size) { return rcgc_realloc(ptr, size); }

RCGC_EXPORT void *reallocarray(void *ptr, size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total))
        return rcgc__fail(ENOMEM);
    return rcgc_realloc(ptr, total);
}

/* POSIX: EINVAL unless the alignment is a power of two multiple of
 * sizeof(void *); the error is returned, errno is left alone. */
RCGC_EXPORT int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0)
        return EINVAL;
    int saved = errno;
    void *block = rcgc_aligned_alloc(alignment, size);
    if (block == NULL) {
        int error = errno;
        errno = saved;
        return error;
    }
    *out = block;
    return 0;
}

RCGC_EXPORT void *aligned_alloc(size_t alignment, size_t size) {
    return rcgc_aligned_alloc(alignment, size);
}

/* glibc's memalign rounds a non-power-of-two alignment up instead of
 * failing; programs written against it rely on that. */
RCGC_EXPORT void *memalign(size_t alignment, size_t size) {
    if (alignment != 0 && (alignment & (alignment - 1)) != 0)
        alignment = (size_t)1 << (64 - __builtin_clzll((unsigned long long)alignment));
    return rcgc_aligned_alloc(alignment == 0 ? 1 : alignment, size);
}

RCGC_EXPORT void *valloc(size_t size) { return rcgc_aligned_alloc(rcgc_page_size(), size); }

RCGC_EXPORT void *pvalloc(size_t size) {
    size_t page = rcgc_page_size();
    size_t rounded = rcgc__raw_align_up(size == 0 ? 1 : size, page);
    if (rounded == 0)
        return rcgc__fail(ENOMEM);
    return rcgc_aligned_alloc(page, rounded);
}

RCGC_EXPORT size_t malloc_usable_size(void *ptr) { return rcgc_usable_size(ptr); }
