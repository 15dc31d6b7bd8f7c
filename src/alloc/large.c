/* src/alloc/large.c - blocks too big for pools: large ones take whole
 * slices of an arena (128 KiB to 32 MiB), huge ones a mapping of their own.
 *
 * Owned by nobody: a large block's slices and a huge mapping are given back
 * by whichever thread frees them, under arena_mutex (large) or with the
 * registry write under it (huge). At 128 KiB and up the memory traffic
 * dwarfs one mutex, which keeps these paths simple.
 *
 *  A huge block:
 *   +--------+----------------------------------------------------+
 *   | header |  the block (aligned as asked; page-aligned at least) |
 *   +--------+----------------------------------------------------+
 *   ^ base, 64 MiB-aligned: arena_of(block) finds the header
 *
 *  Every 64 MiB unit the block touches is marked in the registry (the
 *  first HUGE, the rest HUGE_BODY), so rcgc_owns knows the block's whole
 *  extent. The rest of its last unit is unmapped: the kernel may put
 *  anything there, which is why rcgc_owns compares with the block's end
 *  instead of trusting the registry byte.
 */
#include "alloc/alloc_internal.h"

#include <errno.h>
#include <string.h>

#define HUGE_MAGIC 0x7263676368756765u /* "rcgchuge" */

struct huge_header {
    uint64_t magic;
    void *mapping;
    size_t mapping_size;
    char *block;
    size_t usable;
};

static _Atomic uint64_t huge_blocks, huge_bytes;

/* ------------------------------------------------------------------ Large */

void *rcgc__large_malloc(size_t size, size_t alignment, bool zero) {
    uint32_t span = (uint32_t)((size + RCGC_SLICE_SIZE - 1) / RCGC_SLICE_SIZE);
    uint32_t align_slices =
        alignment > RCGC_SLICE_SIZE ? (uint32_t)(alignment / RCGC_SLICE_SIZE) : 1;
    const struct pool_shape shape = {
        .kind = POOL_LARGE,
        .block_size = (uint32_t)(span * RCGC_SLICE_SIZE),
        .capacity = 1,
    };
    struct pool *pool = rcgc__arena_take(span, align_slices, &shape, NULL);
    if (pool == NULL)
        return NULL;
    if (zero && !pool->fresh)
        memset(pool->start, 0, size);
    return pool->start;
}

void rcgc__large_free(struct arena *arena, struct pool *pool, void *ptr) {
    (void)arena;
    if (ptr != pool->start)
        rcgc__report_bad_block(pool, ptr, "free of an interior pointer of a large block",
                               "rcgc_free");
    rcgc__arena_give_back(pool);
}

/* ------------------------------------------------------------------- Huge */

/* Make the header's page and the block usable in a mapping reserved
 * inaccessible. This charges exactly those bytes to the kernel's commit
 * accounting, as glibc's own mapping of a big block is charged: a request
 * the overcommit policy refuses fails here, with ENOMEM, rather than
 * killing the process later when its pages are touched. The alignment
 * padding between them stays inaccessible and costs nothing. */
static bool open_huge(struct huge_header *header, char *block, size_t body) {
    size_t page = rcgc_page_size();
    char *header_page = (char *)header;
    if (header_page + page == block)
        return rcgc__raw_protect(header_page, page + body, true);
    return rcgc__raw_protect(header_page, page, true) && rcgc__raw_protect(block, body, true);
}

/* Mark the units [block, block + usable) touches: the first as @first, the
 * others as @rest. arena_mutex held. */
static void registry_mark_huge_locked(const char *block, size_t usable, enum registry_entry first,
                                      enum registry_entry rest) {
    uintptr_t unit = (uintptr_t)block >> RCGC_ARENA_SHIFT;
    uintptr_t last = ((uintptr_t)block + usable - 1) >> RCGC_ARENA_SHIFT;
    rcgc__registry_set_locked((const void *)(unit << RCGC_ARENA_SHIFT), first);
    while (unit++ < last)
        rcgc__registry_set_locked((const void *)(unit << RCGC_ARENA_SHIFT), rest);
}

void *rcgc__huge_malloc(size_t size, size_t alignment) {
    size_t page = rcgc_page_size();
    size_t offset = alignment > page ? alignment : page;
    size_t body = rcgc__raw_align_up(size, page);
    if (body == 0 || size > (size_t)PTRDIFF_MAX || body > SIZE_MAX - offset)
        return rcgc__fail(ENOMEM);
    /* Blocks aligned to 64 MiB or more start a unit of their own; their
     * header then sits in the unit before (REGISTRY_HUGE_AFTER). */
    bool after = offset >= RCGC_ARENA_SIZE;
    size_t map_alignment = after ? offset : RCGC_ARENA_SIZE;
    size_t total = offset + body;
    char *base = rcgc__raw_map(total, map_alignment, RCGC_RAW_MAP_INACCESSIBLE);
    if (base == NULL)
        return NULL;
    char *block = base + offset;
    struct huge_header *header = (struct huge_header *)(after ? block - RCGC_ARENA_SIZE : base);
    if (!open_huge(header, block, body)) {
        rcgc__raw_unmap(base, total, 0);
        return rcgc__fail(ENOMEM);
    }
    *header = (struct huge_header){HUGE_MAGIC, base, total, block, body};
    rcgc__arena_lock();
    registry_mark_huge_locked(block, body, after ? REGISTRY_HUGE_AFTER : REGISTRY_HUGE,
                              REGISTRY_HUGE_BODY);
    rcgc__arena_unlock();
    atomic_fetch_add_explicit(&huge_blocks, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&huge_bytes, total, memory_order_relaxed);
    return block;
}

/* The header of the huge block whose units include @ptr's, marked @entry;
 * NULL when the marks lead to no first unit, which only a free racing with
 * the caller (its misuse) can cause. */
static struct huge_header *huge_header_find(const void *ptr, enum registry_entry entry) {
    uintptr_t unit = (uintptr_t)ptr >> RCGC_ARENA_SHIFT;
    while (entry == REGISTRY_HUGE_BODY && unit > 0)
        entry = (enum registry_entry)atomic_load_explicit(&rcgc__registry[--unit],
                                                          memory_order_relaxed);
    if (entry == REGISTRY_HUGE_AFTER)
        unit--;
    else if (entry != REGISTRY_HUGE)
        return NULL;
    return (struct huge_header *)(unit << RCGC_ARENA_SHIFT);
}

/* @entry: the registry's word for @ptr's unit, which the caller looked up. */
static struct huge_header *huge_header_of(const void *ptr, enum registry_entry entry,
                                          const char *where) {
    struct huge_header *header = huge_header_find(ptr, entry);
    if (header == NULL || header->magic != HUGE_MAGIC || header->block != ptr)
        rcgc__report_bad_block(NULL, ptr, "pointer is not the start of a huge block", where);
    return header;
}

void rcgc__huge_free(void *ptr, enum registry_entry entry) {
    struct huge_header *header = huge_header_of(ptr, entry, "rcgc_free");
    void *mapping = header->mapping;
    size_t size = header->mapping_size;
    rcgc__arena_lock();
    registry_mark_huge_locked(ptr, header->usable, REGISTRY_NONE, REGISTRY_NONE);
    rcgc__arena_unlock();
    atomic_fetch_sub_explicit(&huge_blocks, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&huge_bytes, size, memory_order_relaxed);
    rcgc__raw_unmap(mapping, size, 0);
}

size_t rcgc__huge_usable(const void *ptr, enum registry_entry entry, const char *where) {
    return huge_header_of(ptr, entry, where)->usable;
}

bool rcgc__huge_owns(const void *ptr) {
    rcgc__arena_lock();
    bool owns = false;
    enum registry_entry entry = registry_lookup(ptr);
    if (entry == REGISTRY_ARENA) {
        owns = true; /* the huge block was freed and an arena mapped there since */
    } else if (entry != REGISTRY_NONE) {
        const struct huge_header *header = huge_header_find(ptr, entry);
        owns = header != NULL && (uintptr_t)ptr >= (uintptr_t)header->block &&
               (uintptr_t)ptr - (uintptr_t)header->block < header->usable;
    }
    rcgc__arena_unlock();
    return owns;
}

void rcgc__huge_counts(uint64_t *blocks, uint64_t *bytes) {
    *blocks = atomic_load_explicit(&huge_blocks, memory_order_relaxed);
    *bytes = atomic_load_explicit(&huge_bytes, memory_order_relaxed);
}
