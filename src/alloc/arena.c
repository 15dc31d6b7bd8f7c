/* src/alloc/arena.c - arenas: 64 MiB mappings carved into 64 KiB slices for
 * pools, the registry that says which addresses are rcgc's, and the purge
 * policy that gives free slices back to the OS.
 *
 * Shared by every thread, behind arena_mutex: the arena list, each arena's
 * slice maps, the descriptors of free and large slices, the registry writes.
 * Taken about once per 64 KiB a thread allocates, so one mutex costs little;
 * the fast paths never take it.
 *
 * Purge policy (why memory comes back without a call into rcgc): the free
 * slices of all arenas stay committed while they add up to no more than
 * the larger of RCGC_ARENA_RETAIN_KIB (64 KiB) and RCGC_ARENA_RETAIN_PCT
 * (200 %) of the slices in use. When a released pool pushes them past that,
 * free committed slices are decommitted, the highest of its arena first
 * (then of the others), until they are down to half that budget, with the
 * descriptor pages of free slices (A3). Half, not all: a bursty workload
 * that frees a structure and builds the next one refaults only part of it
 * (bench/binary_trees with 2 threads: 270 decommits instead of 650 and a
 * quarter fewer page faults).
 * So a workload that rebuilds structures as big as what it keeps reuses
 * pools without page faults (binary trees: 18 ns per node with a 1/8
 * budget, 12.5 with 200 %), the heap never holds more than three times its
 * live data, and a mass free, which shrinks the slices in use and with them
 * the budget, gives back nearly everything as it goes (10 million 32-byte
 * blocks freed: the heap back within 10 % of where it started, without a
 * call into the allocator; bench/rss_after_free). An empty arena is
 * unmapped unless it is the last.
 */
#include "alloc/alloc_internal.h"

#include <errno.h>
#include <string.h>

_Atomic uint8_t rcgc__registry[(size_t)1 << (RCGC_REGISTRY_BITS - RCGC_ARENA_SHIFT)];

static pthread_mutex_t arena_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool arena_mutex_taken; /* for _locked asserts only */
static struct arena *arenas;           /* arena_mutex */
static uint64_t arenas_current, arenas_total, free_committed_slices, pool_slices_in_use;

void rcgc__arena_lock(void) {
    pthread_mutex_lock(&arena_mutex);
    atomic_store_explicit(&arena_mutex_taken, true, memory_order_relaxed);
}

void rcgc__arena_unlock(void) {
    atomic_store_explicit(&arena_mutex_taken, false, memory_order_relaxed);
    pthread_mutex_unlock(&arena_mutex);
}

bool rcgc__arena_mutex_held(void) {
    return atomic_load_explicit(&arena_mutex_taken, memory_order_relaxed);
}

void rcgc__registry_set_locked(const void *base, enum registry_entry entry) {
    rcgc_assert_internal(rcgc__arena_mutex_held());
    uintptr_t unit = (uintptr_t)base >> RCGC_ARENA_SHIFT;
    if (unit >> (RCGC_REGISTRY_BITS - RCGC_ARENA_SHIFT) != 0)
        rcgc__fatal("rcgc: the kernel mapped %p above the 47-bit address space", base);
    atomic_store_explicit(&rcgc__registry[unit], (uint8_t)entry, memory_order_relaxed);
}

/* ------------------------------------------------------------ Slice maps */

static bool bit_get(const uint64_t *map, uint32_t i) { return (map[i / 64] >> (i % 64)) & 1u; }

static void bits_set(uint64_t *map, uint32_t first, uint32_t count, bool value) {
    for (uint32_t i = first; i < first + count; i++) {
        uint64_t mask = (uint64_t)1 << (i % 64);
        map[i / 64] = value ? map[i / 64] | mask : map[i / 64] & ~mask;
    }
}

/* The first used slice in [first, first + count), or UINT32_MAX. */
static uint32_t first_used(const struct arena *arena, uint32_t first, uint32_t count) {
    for (uint32_t i = first; i < first + count;) {
        uint64_t word = arena->used_map[i / 64] >> (i % 64);
        if (word != 0) {
            uint32_t at = i + (uint32_t)__builtin_ctzll(word);
            return at < first + count ? at : UINT32_MAX;
        }
        i = (i / 64 + 1) * 64;
    }
    return UINT32_MAX;
}

/* The first free slice at or after @first, or RCGC_SLICES_PER_ARENA: a
 * word of used slices at a time, so that the long run of used slices a
 * large live heap makes at the bottom of an arena costs a load per 64. */
static uint32_t first_free(const struct arena *arena, uint32_t first) {
    for (uint32_t i = first; i < RCGC_SLICES_PER_ARENA;) {
        uint64_t word = ~arena->used_map[i / 64] >> (i % 64);
        if (word != 0)
            return i + (uint32_t)__builtin_ctzll(word);
        i = (i / 64 + 1) * 64;
    }
    return RCGC_SLICES_PER_ARENA;
}

/* First fit: pools are short-lived or long-lived in bulk, and first fit
 * keeps the low slices busy so the high ones stay decommitted. */
static uint32_t find_free_run_locked(const struct arena *arena, uint32_t span, uint32_t align) {
    if (RCGC_SLICES_PER_ARENA - arena->slices_used < span)
        return UINT32_MAX;
    uint32_t i = arena->header_slices;
    for (;;) {
        i = (uint32_t)rcgc__raw_align_up(first_free(arena, i), align);
        if (i + span > RCGC_SLICES_PER_ARENA)
            break;
        uint32_t used = first_used(arena, i, span);
        if (used == UINT32_MAX)
            return i;
        i = (uint32_t)rcgc__raw_align_up(used + 1, align);
    }
    return UINT32_MAX;
}

/* ---------------------------------------------------- Arena map and unmap */

static struct arena *arena_create_locked(void) {
    struct arena *arena = rcgc__raw_map(RCGC_ARENA_SIZE, RCGC_ARENA_SIZE, 0);
    if (arena == NULL)
        return NULL;
    uint32_t header = (uint32_t)((sizeof(struct arena) + RCGC_SLICE_SIZE - 1) / RCGC_SLICE_SIZE);
    /* The pages are untouched, so this costs the kernel nothing; it keeps
     * bytes_committed an honest upper bound of what can be resident. */
    size_t header_bytes = (size_t)header * RCGC_SLICE_SIZE;
    rcgc__raw_decommit((char *)arena + header_bytes, RCGC_ARENA_SIZE - header_bytes);
    arena->header_slices = header;
    arena->slices_used = header;
    bits_set(arena->used_map, 0, header, true);
    bits_set(arena->committed_map, 0, header, true);
    for (uint32_t i = 0; i < header; i++)
        atomic_store_explicit(&arena->pools[i].kind, POOL_HEADER, memory_order_relaxed);
    /* Append: first fit then prefers older arenas, so younger ones drain. */
    struct arena **tail = &arenas;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = arena;
    arenas_current++;
    arenas_total++;
    rcgc__registry_set_locked(arena, REGISTRY_ARENA);
    return arena;
}

static uint32_t committed_free_slices(const struct arena *arena) {
    uint32_t count = 0;
    for (uint32_t w = 0; w < RCGC_SLICE_WORDS; w++)
        count += (uint32_t)__builtin_popcountll(arena->committed_map[w] & ~arena->used_map[w]);
    return count;
}

static void arena_destroy_locked(struct arena *arena) {
    rcgc_assert_internal(arena->slices_used == arena->header_slices);
    for (struct arena **link = &arenas; *link != NULL; link = &(*link)->next)
        if (*link == arena) {
            *link = arena->next;
            break;
        }
    rcgc__registry_set_locked(arena, REGISTRY_NONE);
    /* Whatever the kernel maps here next must not inherit poisoned shadow. */
    RCGC_ASAN_UNPOISON(arena, RCGC_ARENA_SIZE);
    uint32_t free_committed = committed_free_slices(arena);
    free_committed_slices -= free_committed;
    arenas_current--;
    size_t committed =
        (size_t)(free_committed + arena->header_slices) * RCGC_SLICE_SIZE -
        (size_t)__builtin_popcountll(arena->descriptor_pages_decommitted) * rcgc_page_size();
    rcgc__raw_unmap(arena, RCGC_ARENA_SIZE, RCGC_ARENA_SIZE - committed);
}

/* Descriptor pages: pools[] spans 32 pages of 4 KiB; page k describes
 * slices [k * per_page, (k + 1) * per_page). */
static uint32_t descriptors_per_page(void) {
    return (uint32_t)(rcgc_page_size() / sizeof(struct pool));
}

/* A3: give back the descriptor pages whose slices are all free. */
static void decommit_free_descriptors_locked(struct arena *arena) {
    uint32_t per_page = descriptors_per_page();
    for (uint32_t page = 0; page < RCGC_SLICES_PER_ARENA / per_page; page++) {
        uint64_t bit = (uint64_t)1 << page;
        if ((arena->descriptor_pages_decommitted & bit) != 0 ||
            first_used(arena, page * per_page, per_page) != UINT32_MAX)
            continue;
        rcgc__raw_decommit(&arena->pools[(size_t)page * per_page], rcgc_page_size());
        arena->descriptor_pages_decommitted |= bit;
    }
}

/* Before slices [at, at + span) get descriptors again. */
static void recommit_descriptors_locked(struct arena *arena, uint32_t at, uint32_t span) {
    uint32_t per_page = descriptors_per_page();
    for (uint32_t page = at / per_page; page <= (at + span - 1) / per_page; page++) {
        uint64_t bit = (uint64_t)1 << page;
        if ((arena->descriptor_pages_decommitted & bit) == 0)
            continue;
        rcgc__raw_recommit(&arena->pools[(size_t)page * per_page], rcgc_page_size());
        arena->descriptor_pages_decommitted &= ~bit;
    }
}

/* Decommit runs of free committed slices of @arena, the highest first,
 * until the free committed slices of all arenas are no more than @keep
 * (0: every run); then the descriptor pages that describe only free
 * slices. Why the highest first: pools are taken first fit from the
 * bottom, so the top is what the next pools reach last. */
static void arena_decommit_free_locked(struct arena *arena, uint64_t keep) {
    uint32_t end = RCGC_SLICES_PER_ARENA;
    while (end > arena->header_slices && free_committed_slices > keep) {
        uint32_t last = end - 1;
        if (bit_get(arena->used_map, last) || !bit_get(arena->committed_map, last)) {
            end = last;
            continue;
        }
        uint64_t excess = free_committed_slices - keep;
        uint32_t start = last;
        while (end - start < excess && start > arena->header_slices &&
               !bit_get(arena->used_map, start - 1) && bit_get(arena->committed_map, start - 1))
            start--;
        rcgc__raw_decommit((char *)arena + (size_t)start * RCGC_SLICE_SIZE,
                           (size_t)(end - start) * RCGC_SLICE_SIZE);
        bits_set(arena->committed_map, start, end - start, false);
        free_committed_slices -= end - start;
        end = start;
    }
    decommit_free_descriptors_locked(arena);
}

/* ---------------------------------------------------------- Take and give */

static uint64_t retain_budget_locked(void) {
    uint64_t floor = (uint64_t)rcgc__options()->arena_retain_kib * 1024 / RCGC_SLICE_SIZE;
    uint64_t proportional = pool_slices_in_use * (uint64_t)rcgc__options()->arena_retain_pct / 100;
    return proportional > floor ? proportional : floor;
}

/* The slice index of @hint when its arena still exists and the @span
 * slices from there are free and aligned; else UINT32_MAX. The registry is
 * written under arena_mutex, which the caller holds, so an arena that was
 * unmapped since the hint was taken is seen as gone. */
static uint32_t hint_slice_locked(const struct pool *hint, uint32_t span, uint32_t align,
                                  struct arena **arena_out) {
    if (hint == NULL || registry_lookup(hint) != REGISTRY_ARENA)
        return UINT32_MAX;
    struct arena *arena = arena_of(hint);
    uint32_t at = (uint32_t)(hint - arena->pools);
    if (at < arena->header_slices || at % align != 0 || at + span > RCGC_SLICES_PER_ARENA ||
        first_used(arena, at, span) != UINT32_MAX)
        return UINT32_MAX;
    *arena_out = arena;
    return at;
}

/* A pool taken back with its lists (P6): every block goes on local_free,
 * so that the first allocation takes the slow path, which hands the list
 * to the fast path and counts it for the sampler (heap.c). */
static void keep_lists_as_local_free(struct pool *pool) {
    struct block *free = pool->free;
    pool->free = NULL;
    if (free != NULL)
        rcgc__pool_local_free_prepend_owner(pool, free);
}

static struct pool *take_locked(uint32_t span, uint32_t align_slices,
                                const struct pool_shape *shape, const struct pool *hint) {
    struct arena *arena = NULL;
    uint32_t at = hint_slice_locked(hint, span, align_slices, &arena);
    if (at == UINT32_MAX)
        for (arena = arenas; arena != NULL; arena = arena->next)
            if ((at = find_free_run_locked(arena, span, align_slices)) != UINT32_MAX)
                break;
    if (arena == NULL) {
        if ((arena = arena_create_locked()) == NULL)
            return NULL;
        at = find_free_run_locked(arena, span, align_slices);
        if (at == UINT32_MAX)
            return NULL; /* span larger than an arena: callers prevent it */
    }
    bool all_decommitted = true, all_committed = true;
    for (uint32_t i = at; i < at + span;) {
        if (bit_get(arena->committed_map, i)) {
            all_decommitted = false;
            free_committed_slices--;
            i++;
            continue;
        }
        all_committed = false;
        uint32_t end = i;
        while (end < at + span && !bit_get(arena->committed_map, end))
            end++;
        rcgc__raw_recommit((char *)arena + (size_t)i * RCGC_SLICE_SIZE,
                           (size_t)(end - i) * RCGC_SLICE_SIZE);
        i = end;
    }
    recommit_descriptors_locked(arena, at, span);
    bits_set(arena->used_map, at, span, true);
    bits_set(arena->committed_map, at, span, true);
    arena->slices_used += span;
    pool_slices_in_use += span;

    struct pool *pool = &arena->pools[at];
    assert(atomic_load_explicit(&pool->hook_tags, memory_order_relaxed) == NULL); /* P4 */
    bool large = shape->kind == POOL_LARGE;
    /* P6: the same pool as before, memory untouched since it went back. */
    bool keep_lists = !large && span == 1 && all_committed && pool->lists_intact &&
                      pool->span == span && pool->block_size == shape->block_size;
    pool->lists_intact = false;
    pool->span = span;
    pool->back = 0;
    /* Eagerly decommitted or never-touched pages read as zero; lazily
     * decommitted ones (MADV_FREE) may still hold old data. */
    pool->fresh = all_decommitted && !rcgc__options()->decommit_lazy;
    pool->start = (char *)arena + (size_t)at * RCGC_SLICE_SIZE;
    for (uint32_t i = 1; i < span; i++) {
        pool[i].back = i;
        pool[i].lists_intact = false;
        atomic_store_explicit(&pool[i].kind, POOL_INTERIOR, memory_order_relaxed);
    }
    if (keep_lists) {
        keep_lists_as_local_free(pool);
    } else {
        pool->free = NULL;
        pool->local_free = NULL;
        pool->carved_bytes = large ? shape->block_size : 0;
        atomic_store_explicit(&pool->bumped, large ? 1 : 0, memory_order_relaxed);
    }
    pool->capacity = shape->capacity;
    pool->block_size = shape->block_size;
    pool->magic = pool_magic(shape->block_size);
    pool->size_class = shape->size_class;
    pool->list = LIST_NONE;
    pool->next = pool->prev = NULL;
    atomic_store_explicit(&pool->used, large ? 1 : 0, memory_order_relaxed);
    atomic_store_explicit(&pool->remote_free, NULL, memory_order_relaxed);
    atomic_store_explicit(&pool->owner, shape->owner, memory_order_relaxed);
    atomic_store_explicit(&pool->kind, (uint8_t)shape->kind, memory_order_relaxed);
    /* The slices may come clean from a new arena or poisoned from an
     * earlier pool. A small pool's blocks are not the program's until
     * handed out one by one; a large pool's one block is handed out now. */
    RCGC_ASAN_POISON(pool->start, (size_t)span * RCGC_SLICE_SIZE);
    if (large)
        RCGC_ASAN_UNPOISON(pool->start, pool->block_size);
    return pool;
}

struct pool *rcgc__arena_take(uint32_t span, uint32_t align_slices, const struct pool_shape *shape,
                              const struct pool *hint) {
    rcgc__arena_lock();
    struct pool *pool = take_locked(span, align_slices, shape, hint);
    rcgc__arena_unlock();
    if (pool == NULL)
        errno = ENOMEM;
    return pool;
}

void rcgc__arena_give_back(struct pool *pool) {
    struct arena *arena = arena_of(pool);
    uint32_t at = (uint32_t)(pool - arena->pools);
    uint32_t span = pool->span;
    /* Before the slices are free: once they are, another thread may take
     * them and unpoison them for its own pool. A large block's use after
     * free is caught here. */
    RCGC_ASAN_POISON(pool->start, (size_t)span * RCGC_SLICE_SIZE);
    rcgc__arena_lock();
    /* P6, for one-slice pools only: a take that covers the slice is a take
     * at it, which clears the flag. A longer pool's later slices could be
     * taken and written by another pool while its first stays free. */
    bool keeps_lists = span == 1 &&
                       atomic_load_explicit(&pool->kind, memory_order_relaxed) == POOL_SMALL &&
                       atomic_load_explicit(&pool->used, memory_order_relaxed) == 0 &&
                       atomic_load_explicit(&pool->remote_free, memory_order_relaxed) == NULL;
    rcgc__pool_drop_hook_tags_locked(pool);
    for (uint32_t i = 0; i < span; i++) {
        pool[i].back = 0;
        atomic_store_explicit(&pool[i].kind, POOL_FREE, memory_order_relaxed);
    }
    bits_set(arena->used_map, at, span, false);
    arena->slices_used -= span;
    free_committed_slices += span;
    pool->lists_intact = keeps_lists;

    pool_slices_in_use -= span;
    uint64_t budget = retain_budget_locked();
    if (free_committed_slices > budget) {
        /* Down to half the budget, not to it, so that the next release
         * does not decommit again (hysteresis). */
        uint64_t keep = budget / 2;
        arena_decommit_free_locked(arena, keep);
        for (struct arena *other = arenas; other != NULL && free_committed_slices > keep;
             other = other->next)
            arena_decommit_free_locked(other, keep);
    }
    if (arena->slices_used == arena->header_slices && arenas_current > 1)
        arena_destroy_locked(arena);
    rcgc__arena_unlock();
}

void rcgc__arena_purge_all(void) {
    rcgc__arena_lock();
    struct arena *arena = arenas;
    while (arena != NULL) {
        struct arena *next = arena->next;
        if (arena->slices_used == arena->header_slices)
            arena_destroy_locked(arena);
        else
            arena_decommit_free_locked(arena, 0);
        arena = next;
    }
    rcgc__arena_unlock();
}

/* ----------------------------------------------------------- Inspection */

void rcgc__arena_counts(uint64_t *current, uint64_t *total) {
    rcgc__arena_lock();
    *current = arenas_current;
    *total = arenas_total;
    rcgc__arena_unlock();
}

void rcgc__arena_foreach_pool(void (*visit)(const struct pool *pool, void *arg), void *arg,
                              struct arena_bytes *bytes) {
    rcgc__arena_lock();
    if (bytes != NULL)
        *bytes = (struct arena_bytes){0};
    for (struct arena *arena = arenas; arena != NULL; arena = arena->next) {
        for (uint32_t i = arena->header_slices; i < RCGC_SLICES_PER_ARENA; i++) {
            uint8_t kind = atomic_load_explicit(&arena->pools[i].kind, memory_order_relaxed);
            if (kind == POOL_SMALL || kind == POOL_LARGE)
                visit(&arena->pools[i], arg);
        }
        if (bytes != NULL)
            bytes->headers += (uint64_t)arena->header_slices * RCGC_SLICE_SIZE -
                              (uint64_t)__builtin_popcountll(arena->descriptor_pages_decommitted) *
                                  rcgc_page_size();
    }
    if (bytes != NULL) {
        bytes->pools = pool_slices_in_use * RCGC_SLICE_SIZE;
        bytes->retained = free_committed_slices * RCGC_SLICE_SIZE;
    }
    rcgc__arena_unlock();
}
