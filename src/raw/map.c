/* src/raw/map.c - layer 1 mappings: aligned reservations for arenas and huge
 * blocks, decommit and recommit, guard pages, and the page size.
 *
 * Shares with other threads only the counters (stats.c), the fault setting
 * (fault.c) and the page size, which every thread computes to the same value.
 *
 *  An aligned mapping, made by over-mapping and trimming both ends:
 *
 *     raw = mmap(size + alignment - page)
 *     +-----------+--------------------------------+-----------+
 *     | head trim |   the aligned range: size B    | tail trim |
 *     +-----------+--------------------------------+-----------+
 *     ^ raw       ^ aligned = align_up(raw)        ^ aligned + size
 *
 *  Why trim instead of hinting addresses: it costs three syscalls once per
 *  arena (an arena lives for seconds to the whole run) and always succeeds
 *  when the address space has room; a hint can be refused again and again.
 */
#include "raw/raw_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static _Atomic size_t cached_page_size;

size_t rcgc_page_size(void) {
    size_t page = atomic_load_explicit(&cached_page_size, memory_order_relaxed);
    if (RCGC_UNLIKELY(page == 0)) {
        long queried = sysconf(_SC_PAGESIZE);
        page = queried > 0 ? (size_t)queried : 4096;
        /* Racing first callers all store the same value. */
        atomic_store_explicit(&cached_page_size, page, memory_order_relaxed);
    }
    return page;
}

/* Used only by assertions: unused in release builds. */
static bool __attribute__((unused)) is_page_aligned(const void *addr, size_t size) {
    size_t mask = rcgc_page_size() - 1;
    return ((uintptr_t)addr & mask) == 0 && (size & mask) == 0;
}

/* Trim failures are bookkeeping bugs, not out-of-memory: the range was ours. */
static void unmap_or_die(void *addr, size_t size, const char *why) {
    if (size != 0 && munmap(addr, size) != 0)
        rcgc__fatal("rcgc: munmap of %p (%zu B) failed while %s: %s", addr, size, why,
                    strerror(errno));
}

void *rcgc__raw_map(size_t size, size_t alignment, unsigned flags) {
    size_t page = rcgc_page_size();
    if (size == 0 || (alignment & (alignment - 1)) != 0)
        return rcgc__fail(EINVAL);
    if (alignment < page)
        alignment = page;
    size = rcgc__raw_align_up(size, page);
    if (size == 0 || size > (size_t)PTRDIFF_MAX || size > SIZE_MAX - alignment)
        return rcgc__fail(ENOMEM);
    if (rcgc__fault_should_fail(RCGC_FAULT_MAP))
        return rcgc__fail(ENOMEM);

    size_t over = size + alignment - page;
    /* MAP_NORESERVE: an arena reserves far more than it touches; commit
     * accounting happens page by page as they are written. An inaccessible
     * private mapping is not charged at all, and without MAP_NORESERVE
     * mprotect charges what it opens. */
    bool inaccessible = (flags & RCGC_RAW_MAP_INACCESSIBLE) != 0;
    char *raw = mmap(NULL, over, inaccessible ? PROT_NONE : PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | (inaccessible ? 0 : MAP_NORESERVE), -1, 0);
    if (raw == MAP_FAILED)
        return rcgc__fail(ENOMEM);
    /* Offset arithmetic rather than an integer-to-pointer cast keeps the
     * pointer's provenance for the optimizer. */
    size_t head = rcgc__raw_align_up((uintptr_t)raw, alignment) - (uintptr_t)raw;
    char *aligned = raw + head;
    unmap_or_die(raw, head, "trimming the head of an aligned mapping");
    unmap_or_die(aligned + size, (size_t)(raw + over - (aligned + size)),
                 "trimming the tail of an aligned mapping");

    if ((flags & RCGC_RAW_MAP_HUGE) != 0 || rcgc__options()->huge_pages)
        (void)madvise(aligned, size, MADV_HUGEPAGE); /* a hint: refusal is fine */

    rcgc__raw_count(RAW_COUNTER_maps, 1);
    rcgc__raw_count(RAW_COUNTER_bytes_mapped, (int64_t)size);
    rcgc__raw_count(RAW_COUNTER_bytes_committed, (int64_t)size);
    return aligned;
}

/* The most one munmap or madvise call releases. Why: past a threshold
 * (between 4 and 8 MiB on the CI machine's kernel) Linux flushes the whole
 * address space's TLB instead of the released pages one by one, and under
 * shadow or paravirtual paging, as on the 2-core CI VM, every page the
 * program touches after such a flush costs 2-5 us to map again. Unmapping
 * one empty 64 MiB arena made the next 250 MiB of frees 15x slower
 * (bench/alloc_burst: 3 ns per free before it, 50 ns after). In 2 MiB
 * pieces, aligned so that each frees whole page tables, the calls cost no
 * more per page (6.5 ms for 64 MiB, against 18 ms in one call there) and
 * leave the rest of the address space alone. Past RELEASE_PIECED_MAX, one
 * call: 512 calls of a few microseconds each are as much as a release
 * should add, and the largest ranges (a huge block's reservation that could
 * not be opened) hold no pages at all. */
#define RELEASE_PIECE ((size_t)2 << 20)
#define RELEASE_PIECED_MAX ((size_t)1 << 30)

/* Call @release on [addr, addr + size) in pieces that do not cross a
 * RELEASE_PIECE boundary; stops at the first failure and returns it. */
static int release_in_pieces(char *addr, size_t size, int (*release)(char *, size_t, int),
                             int advice) {
    if (size > RELEASE_PIECED_MAX)
        return release(addr, size, advice);
    char *end = addr + size;
    while (addr < end) {
        char *next = addr + (RELEASE_PIECE - ((uintptr_t)addr & (RELEASE_PIECE - 1)));
        if (next > end)
            next = end;
        int failed = release(addr, (size_t)(next - addr), advice);
        if (failed != 0)
            return failed;
        addr = next;
    }
    return 0;
}

static int unmap_piece(char *addr, size_t size, int advice) {
    (void)advice;
    return munmap(addr, size);
}

static int advise_piece(char *addr, size_t size, int advice) { return madvise(addr, size, advice); }

void rcgc__raw_unmap(void *addr, size_t size, size_t decommitted) {
    rcgc_assert(is_page_aligned(addr, size) && decommitted <= size);
    if (release_in_pieces(addr, size, unmap_piece, 0) != 0)
        rcgc__fatal("rcgc: munmap of %p (%zu B) failed while releasing a mapping: %s", addr, size,
                    strerror(errno));
    rcgc__raw_count(RAW_COUNTER_unmaps, 1);
    rcgc__raw_count(RAW_COUNTER_bytes_committed, -(int64_t)(size - decommitted));
    rcgc__raw_count(RAW_COUNTER_bytes_mapped, -(int64_t)size);
}

void rcgc__raw_decommit(void *addr, size_t size) {
    rcgc_assert(is_page_aligned(addr, size));
    int advice = rcgc__options()->decommit_lazy ? MADV_FREE : MADV_DONTNEED;
    /* MADV_FREE needs Linux 4.5; older kernels answer EINVAL. */
    if (release_in_pieces(addr, size, advise_piece, advice) != 0 &&
        (advice == MADV_DONTNEED ||
         release_in_pieces(addr, size, advise_piece, MADV_DONTNEED) != 0))
        rcgc__fatal("rcgc: decommit of %p (%zu B) failed: %s", addr, size, strerror(errno));
    rcgc__raw_count(RAW_COUNTER_decommits, 1);
    rcgc__raw_count(RAW_COUNTER_bytes_committed, -(int64_t)size);
}

void rcgc__raw_recommit(void *addr, size_t size) {
    rcgc_assert(is_page_aligned(addr, size));
    /* Anonymous private pages fault back in on first touch: nothing to ask
     * the kernel, only the gauge to restore. */
    rcgc__raw_count(RAW_COUNTER_recommits, 1);
    rcgc__raw_count(RAW_COUNTER_bytes_committed, (int64_t)size);
}

bool rcgc__raw_protect(void *addr, size_t size, bool accessible) {
    rcgc_assert(is_page_aligned(addr, size));
    return mprotect(addr, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
}
