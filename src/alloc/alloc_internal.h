/* src/alloc/alloc_internal.h - layer 2: size classes, pools, arenas, heaps.
 *
 * Owned by one thread: a heap, the pools it owns (their free lists, `used`,
 *   `bumped`, list links) and its counters.
 * Shared:
 *   - each pool's remote_free stack: any thread pushes with a CAS; the owner
 *     takes it whole with one exchange (pool.c);
 *   - each pool's owner field: written by the owner (abandon) or an adopter
 *     holding abandoned_mutex; read by any freeing thread;
 *   - arenas' slice maps and commit state, the arena list, large and huge
 *     blocks: arena_mutex (arena.c, large.c);
 *   - the abandoned-pool list and the heap list: their own mutexes (heap.c);
 *   - the arena registry (one byte per 64 MiB of address space): set and
 *     cleared under arena_mutex, read lock-free by every free.
 * Fields only the owner writes are still _Atomic, accessed relaxed, so TSan
 * sees the statistics reader (stats.c) and abandon/adopt hand-overs.
 *
 * Invariants, checked by rcgc__alloc_pool_check() at every change of a
 * pool's state (heap.c) when RCGC_CHECKS >= 3:
 *   P1  used + len(free) + len(local_free) == bumped <= capacity, where
 *       used still counts the blocks on remote_free (the owner subtracts
 *       them when it collects the stack)
 *   P2  a pool with used == 0 is the current pool of its class or has been
 *       returned to its arena (owner path) or is abandoned (then adopted and
 *       released by the next adopter)
 *   P3  a pool's size class does not change while it is in use
 *   P4  a pool's hook tags, when it has them, are `capacity` words made by
 *       a hook call on one of its live blocks and freed, under arena_mutex,
 *       only with its slices or once no hook call runs; so a tag is never
 *       read or written after its array is gone
 *   P5  carved_bytes == bumped * block_size, for a small pool
 *   P6  lists_intact is set only on the descriptor of a free slice left by
 *       a one-slice small pool with used == 0, and cleared by any take of
 *       that slice; a take that finds it set and the slice committed finds
 *       the pool's lists holding every block it carved
 *   A1  a slice is marked used in its arena's slice map exactly when it
 *       belongs to a pool in use (small, large) or to the arena header
 *   A2  a free slice is committed or decommitted as its commit bit says
 *   A3  a decommitted page of descriptors describes only free slices
 */
#ifndef RCGC_ALLOC_INTERNAL_H
#define RCGC_ALLOC_INTERNAL_H

#include "raw/raw_internal.h"

#include <rcgc/alloc.h>

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --------------------------------------------------------------- Geometry
 *
 *  An arena: 64 MiB, 64 MiB-aligned, 1024 slices of 64 KiB.
 *
 *  +----------+----------+--------+--------+--------+-----+---------+
 *  | header:  struct     | pool A | pool B (3 slices)   | ... free  |
 *  | arena + pools[1024] | 1 slc  |                     |           |
 *  +----------+----------+--------+--------+--------+-----+---------+
 *  ^ arena = ptr & ~(64 MiB - 1)   ^ slice i = arena + i * 64 KiB
 *
 *  pools[i] describes slice i. A pool spanning several slices is described
 *  by its first slice's entry; the later entries hold `back`, the distance
 *  to it. Why descriptors apart from the blocks: the blocks of a pool are
 *  contiguous and 64 KiB-aligned, so every power-of-two class up to 64 KiB
 *  is naturally aligned (aligned_alloc needs no padding), and a stray write
 *  past a block cannot reach allocator metadata.
 */
#define RCGC_ARENA_SHIFT 26
#define RCGC_ARENA_SIZE ((size_t)1 << RCGC_ARENA_SHIFT)
#define RCGC_SLICE_SHIFT 16
#define RCGC_SLICE_SIZE ((size_t)1 << RCGC_SLICE_SHIFT)
#define RCGC_SLICES_PER_ARENA (RCGC_ARENA_SIZE / RCGC_SLICE_SIZE)
#define RCGC_SLICE_WORDS (RCGC_SLICES_PER_ARENA / 64)

/* Size classes: 16-byte steps to 128 B, then four classes per doubling
 * (160, 192, 224, 256, 320, ...) up to 128 KiB, as jemalloc spaces them:
 * at most 25 % internal waste above 128 B, at most 12.5 % for most sizes. */
#define RCGC_SMALL_MAX 1024 /* sizes served by the lookup table */
#define RCGC_POOL_BLOCK_MAX ((size_t)128 << 10)
#define RCGC_CLASS_COUNT 48
/* Above RCGC_POOL_BLOCK_MAX: one block per pool of whole slices, up to
 * RCGC_LARGE_MAX; beyond that, a mapping of its own (huge). */
#define RCGC_LARGE_MAX ((size_t)32 << 20)
/* Pools hold at least this many blocks, so a pool's header cost and its
 * trip through the arena mutex are shared by enough allocations. */
#define RCGC_POOL_MIN_BLOCKS 8

static_assert((RCGC_ARENA_SIZE & (RCGC_ARENA_SIZE - 1)) == 0, "arena_of() masks the address");
static_assert(RCGC_SLICES_PER_ARENA * 128 / 4096 <= 64,
              "descriptor_pages_decommitted has a bit per page of pools[] (4 KiB pages)");
static_assert(RCGC_SLICES_PER_ARENA % 64 == 0, "slice maps are whole 64-bit words");
static_assert((size_t)RCGC_LARGE_MAX * 2 <= UINT32_MAX,
              "a pool's offsets fit in 32 bits, where its divisibility magic is exact");

struct class_info {
    uint32_t block_size;
    uint32_t span;     /* slices per pool */
    uint32_t capacity; /* blocks per pool */
};

extern struct class_info rcgc__classes[RCGC_CLASS_COUNT];
extern const uint8_t rcgc__class_of_small[RCGC_SMALL_MAX / 16 + 1];

/* Fill the tables; idempotent, called once before the first heap exists. */
void rcgc__size_class_init(void);

/* The class serving @size (<= RCGC_POOL_BLOCK_MAX): the table up to 1 KiB,
 * then the leading bit: size in (2^k, 2^(k+1)] is class 8 + 4 (k - 7) +
 * ceil((size - 2^k) / 2^(k-2)) - 1. */
static inline unsigned size_class_of(size_t size) {
    if (RCGC_LIKELY(size <= RCGC_SMALL_MAX))
        return rcgc__class_of_small[(size + 15) >> 4];
    unsigned log2_floor = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
    size_t step = ((size_t)1 << log2_floor) >> 2;
    unsigned quarter =
        (unsigned)((size - ((size_t)1 << log2_floor) + step - 1) >> (log2_floor - 2));
    return 8 + (log2_floor - 7) * 4 + (quarter - 1);
}

/* The same by arithmetic alone, for filling the table. */
unsigned rcgc__size_class_of(size_t size);

/* -------------------------------------------------------------- Sanitizers
 *
 * ASan builds poison every byte rcgc does not hand out: free blocks, pools'
 * uncarved blocks, free slices. A use after free then stops at the first
 * access instead of reading whatever the next owner wrote. The allocator
 * still keeps its free-list link and cookie inside free blocks, so it reads
 * and writes them only through the accessors below, which ASan does not
 * instrument; every other access it makes is to memory it unpoisoned first.
 *
 * TSan builds make handing out and taking back a pool block a write of the
 * whole block, as TSan's own malloc and free do: an access another thread
 * makes to a freed block, not ordered before the free or after the next
 * malloc, is reported as a race with rcgc_free or rcgc_malloc. The
 * allocator's own synchronization (remote-free CAS, mutexes) orders a
 * legitimate reuse after the free, so a correct program gets no report.
 *
 * Elsewhere all of it compiles to nothing. */
#if defined(__SANITIZE_ADDRESS__)
#define RCGC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RCGC_ASAN 1
#endif
#endif
#ifndef RCGC_ASAN
#define RCGC_ASAN 0
#endif

#if RCGC_ASAN
#include <sanitizer/asan_interface.h>
#define RCGC_ASAN_POISON(addr, size) ASAN_POISON_MEMORY_REGION((addr), (size))
#define RCGC_ASAN_UNPOISON(addr, size) ASAN_UNPOISON_MEMORY_REGION((addr), (size))
#define RCGC_NO_ASAN __attribute__((no_sanitize("address")))
#else
#define RCGC_ASAN_POISON(addr, size) ((void)0)
#define RCGC_ASAN_UNPOISON(addr, size) ((void)0)
#define RCGC_NO_ASAN
#endif

#if RCGC_TSAN
/* Exported by every TSan runtime (the race-detector interface Go uses too),
 * though sanitizer/tsan_interface.h does not declare it. */
void __tsan_write_range(void *addr, unsigned long size);
#define RCGC_TSAN_BLOCK_HANDOVER(addr, size) __tsan_write_range((addr), (size))
#else
#define RCGC_TSAN_BLOCK_HANDOVER(addr, size) ((void)0)
#endif

/* ------------------------------------------------------------------ Blocks */

/* A free block. `cookie` is block ^ rcgc__free_secret while the block is
 * free and 0 once handed out, so freeing a block that is already free is
 * caught by one load and compare (misuse.c) without walking any list.
 * Bit 1 of `next` (plain or encoded) is always clear: the layer above
 * relies on it to tell a freed object's first word from a thread id.
 * Both fields are touched only through the RCGC_NO_ASAN accessors: the
 * block may be poisoned (see Sanitizers). */
struct block {
    struct block *next;
    uintptr_t cookie;
};

extern uintptr_t rcgc__free_secret;

static inline uintptr_t block_cookie(const struct block *b) {
    return (uintptr_t)b ^ rcgc__free_secret;
}

/* Whether @b is free: also asked of pointers a caller hands back, which may
 * be free (and poisoned) by mistake. */
static inline RCGC_NO_ASAN bool block_is_free(const struct block *b) {
    return b->cookie == block_cookie(b);
}

static inline RCGC_NO_ASAN void block_mark_free(struct block *b) { b->cookie = block_cookie(b); }

static inline RCGC_NO_ASAN void block_mark_handed_out(struct block *b) { b->cookie = 0; }

/* The plain links of remote-free stacks. */
static inline RCGC_NO_ASAN struct block *block_stack_next(const struct block *b) { return b->next; }

static inline RCGC_NO_ASAN void block_stack_link(struct block *b, struct block *next) {
    b->next = next;
}

/* Secure builds (cmake -DRCGC_SECURE=ON, and librcgc-malloc-secure.so)
 * store each owner free-list link as next ^ secret ^ &link and check every
 * link they follow: a write into a freed block (use after free, overflow
 * from a neighbour) is reported instead of handing out a forged pointer.
 * Remote-free stacks stay plain; they are re-linked when collected. */
#ifndef RCGC_SECURE
#define RCGC_SECURE 0
#endif

struct pool;
RCGC_NORETURN RCGC_COLD void rcgc__report_corrupt_free_list(const struct pool *pool,
                                                            const struct block *at);

static inline RCGC_NO_ASAN void free_link(struct block *b, struct block *next) {
#if RCGC_SECURE
    b->next = (struct block *)((uintptr_t)next ^ rcgc__free_secret ^ (uintptr_t)b);
#else
    b->next = next;
#endif
}

/* ------------------------------------------------------------------- Pools */

enum pool_kind {
    POOL_FREE = 0, /* slice not in use */
    POOL_HEADER,   /* the arena's own header slices */
    POOL_SMALL,    /* blocks of one class, owned by a heap */
    POOL_LARGE,    /* one block of whole slices, owned by nobody */
    POOL_INTERIOR, /* a later slice of a multi-slice pool: see `back` */
};

enum pool_list {
    LIST_NONE = 0,
    LIST_AVAIL, /* the heap's class list: may have free blocks */
    LIST_FULL,  /* the heap's full list: none free when it was moved there */
    LIST_ABANDONED,
};

struct heap;

/* A pool descriptor is two cache lines, 64-byte aligned:
 *   line 1: what the owner's fast paths read and write;
 *   line 2: the remote-free stack other threads CAS on, and the cold links.
 * Why: descriptors of pools owned by different threads sit side by side in
 * the arena header; sharing a line would make two owners' fast paths
 * ping-pong it (bench/false_sharing and bench/larson show that cost). */
struct pool {
    /* Line 1. Owner-only unless noted. Two free lists, as mimalloc splits
     * them: the fast malloc path pops `free` and the owner's frees push
     * `local_free`, which the slow path moves over whole once `free` runs
     * dry. Why split: between two visits of the slow path, the fast path
     * hands out exactly the blocks `free` held, so the slow path knows how
     * many bytes went by (the sampler ends `free` at its next sample,
     * heap.c) and frees never touch the list being handed out. */
    struct block *free;
    struct block *local_free;
    _Atomic uint32_t used;   /* handed out, not back with the owner (P1) */
    _Atomic uint32_t bumped; /* blocks carved from the pool so far */
    uint32_t block_size;
    uint32_t back;                /* POOL_INTERIOR: entries back to the pool's first slice */
    uint64_t magic;               /* pool_magic(block_size): see pool_block_index */
    char *start;                  /* first block */
    _Atomic(struct heap *) owner; /* any thread reads; NULL: abandoned or large */
    _Atomic uint8_t kind;         /* enum pool_kind; stats and checks read it */
    uint8_t size_class;
    uint8_t list;  /* enum pool_list */
    uint8_t fresh; /* every slice was zero when taken: calloc may skip memset */
    /* bumped * block_size (P5), so the owner's free tests a block by its
     * offset alone. */
    uint32_t carved_bytes;
    /* Line 2. */
    _Alignas(64) _Atomic(struct block *) remote_free; /* any thread pushes */
    struct pool *next, *prev;                         /* owner's lists, or arena_mutex */
    uint32_t capacity;                                /* blocks; slow paths only */
    uint32_t span;                                    /* slices */
    /* arena_mutex. Set when the pool went back to its arena with every
     * block carved so far free and linked (P6); such a pool taken again for
     * the same block size, its slices committed all along, keeps its
     * lists instead of carving its blocks again. */
    bool lists_intact;
    /* The hook's block tags (alloc_hook.h, P4), NULL until it stores one. */
    _Atomic(_Atomic uint64_t *) hook_tags;
};

#define POOL_SIZE_SHIFT 7
static_assert(sizeof(struct pool) == (size_t)1 << POOL_SIZE_SHIFT,
              "a pool descriptor is two cache lines");
static_assert(offsetof(struct pool, remote_free) == 64, "remote frees touch only line 2");

struct arena {
    struct pool pools[RCGC_SLICES_PER_ARENA];
    /* arena_mutex */
    uint64_t used_map[RCGC_SLICE_WORDS];      /* A1 */
    uint64_t committed_map[RCGC_SLICE_WORDS]; /* A2 */
    uint32_t slices_used;
    uint32_t header_slices;
    /* Pages of pools[] given back to the OS: a page holding only descriptors
     * of free slices reads as zero afterwards, which is POOL_FREE (A3). */
    uint64_t descriptor_pages_decommitted;
    size_t huge_size; /* 0 for an arena; the mapping's size for a huge block */
    struct arena *next;
};

static_assert(offsetof(struct arena, pools) == 0,
              "pool_of finds descriptors from the arena's start");

static inline struct arena *arena_of(const void *ptr) {
    return (struct arena *)((uintptr_t)ptr & ~(uintptr_t)(RCGC_ARENA_SIZE - 1));
}

static inline struct pool *pool_of(struct arena *arena, const void *ptr) {
    /* The slice's descriptor is at byte (slice index) * 128 of the arena:
     * the address shifted right by SLICE_SHIFT - 7 and masked, with no
     * multiply after the shift. */
    uintptr_t descriptor = ((uintptr_t)ptr >> (RCGC_SLICE_SHIFT - POOL_SIZE_SHIFT)) &
                           ((RCGC_SLICES_PER_ARENA - 1) << POOL_SIZE_SHIFT);
    struct pool *pool = (struct pool *)((char *)arena + descriptor);
    return pool - pool->back;
}

/* ceil(2^64 / @block_size), for pool_block_index: with it, for any offset
 * below 2^32, offset * magic (mod 2^64) < magic exactly when block_size
 * divides offset, and the high 64 bits of the full product are the
 * quotient (Lemire, Kaser and Kurz, "Faster remainder by direct
 * computation", 2019). One multiply tells a block's start from an interior
 * pointer, where a reciprocal needs two and a shift. */
static inline uint64_t pool_magic(uint32_t block_size) { return UINT64_MAX / block_size + 1; }

/* The offset of @ptr from @pool's first block. @ptr lies in one of the
 * pool's slices (pool_of found it), so 0 <= offset < 64 MiB. */
static inline uint64_t pool_offset(const struct pool *pool, const void *ptr) {
    return (uintptr_t)ptr - (uintptr_t)pool->start;
}

static inline bool pool_offset_is_block_start(const struct pool *pool, uint64_t offset) {
    return offset * pool->magic < pool->magic;
}

/* The block index of @ptr in @pool, or UINT32_MAX when @ptr is not at the
 * start of a block. An index past the carved blocks is the caller's check
 * (index < bumped). */
static inline uint32_t pool_block_index(const struct pool *pool, const void *ptr) {
    uint64_t offset = pool_offset(pool, ptr);
    if (RCGC_UNLIKELY(!pool_offset_is_block_start(pool, offset)))
        return UINT32_MAX;
    return (uint32_t)(((unsigned __int128)offset * pool->magic) >> 64);
}

/* Whether @ptr is the start of a block @pool has carved, as its owner sees
 * it (carved_bytes is the owner's): the free fast path's test. */
static inline bool pool_is_carved_block_owner(const struct pool *pool, const void *ptr) {
    uint64_t offset = pool_offset(pool, ptr);
    return offset < pool->carved_bytes && pool_offset_is_block_start(pool, offset);
}

/* The link after @b on @pool's owner free list (see free_link). */
static inline RCGC_NO_ASAN struct block *free_next(const struct pool *pool, const struct block *b) {
#if RCGC_SECURE
    struct block *next = (struct block *)((uintptr_t)b->next ^ rcgc__free_secret ^ (uintptr_t)b);
    uint64_t offset = (uintptr_t)next - (uintptr_t)pool->start;
    if (next != NULL &&
        (offset >= (uint64_t)pool->capacity * pool->block_size ||
         pool_block_index(pool, next) >= atomic_load_explicit(&pool->bumped, memory_order_relaxed)))
        rcgc__report_corrupt_free_list(pool, b);
    return next;
#else
    (void)pool;
    return b->next;
#endif
}

/* ------------------------------------------------------------ The registry */

/* One byte per 64 MiB of the 47-bit user address space (2 MiB of BSS, of
 * which only the pages covering rcgc's own mappings are ever touched):
 * what lives in that unit. Written under arena_mutex before the first block
 * there is handed out and after the last is gone; read lock-free by frees,
 * which are ordered after the allocation by whatever handed the block over. */
enum registry_entry {
    REGISTRY_NONE = 0,
    REGISTRY_ARENA,      /* an arena starts here */
    REGISTRY_HUGE,       /* a huge mapping's header starts here */
    REGISTRY_HUGE_AFTER, /* a huge block aligned to >= 64 MiB starts here;
                            its header is in the unit before */
    REGISTRY_HUGE_BODY,  /* a later unit of a huge block: its first unit is
                            the nearest one before marked HUGE or HUGE_AFTER */
};

#define RCGC_REGISTRY_BITS 47

extern _Atomic uint8_t rcgc__registry[(size_t)1 << (RCGC_REGISTRY_BITS - RCGC_ARENA_SHIFT)];

static inline enum registry_entry registry_lookup(const void *ptr) {
    uintptr_t unit = (uintptr_t)ptr >> RCGC_ARENA_SHIFT;
    if (RCGC_UNLIKELY(unit >= sizeof rcgc__registry))
        return REGISTRY_NONE;
    return (enum registry_entry)atomic_load_explicit(&rcgc__registry[unit], memory_order_relaxed);
}

/* Mark the 64 MiB unit at @base (64 MiB-aligned); arena_mutex held. */
void rcgc__registry_set_locked(const void *base, enum registry_entry entry);

/* ------------------------------------------------------------------ Arenas */

/* What a pool will be, set by the arena under arena_mutex so that a
 * statistics reader (also under it) never sees half a pool. */
struct pool_shape {
    enum pool_kind kind; /* POOL_SMALL or POOL_LARGE */
    uint8_t size_class;
    uint32_t block_size;
    uint32_t capacity;
    struct heap *owner; /* NULL for large */
};

/* Take @span free slices (aligned to @align_slices, a power of two) and make
 * them a pool of @shape: empty and uncarved for a small pool, its one block
 * handed out for a large one. @hint, when not NULL, is a descriptor where
 * the caller would like the pool (the last one it released): taken there
 * if those slices are still free, else first fit. Recommits decommitted
 * slices; `fresh` says whether every slice read as zero. NULL with
 * errno = ENOMEM when no arena can be mapped. */
struct pool *rcgc__arena_take(uint32_t span, uint32_t align_slices, const struct pool_shape *shape,
                              const struct pool *hint);

/* Give a pool's slices back to its arena; decommits beyond the retained
 * budget and unmaps an empty arena beyond the first (purge policy). */
void rcgc__arena_give_back(struct pool *pool);

/* Decommit every free committed slice and unmap every empty arena. */
void rcgc__arena_purge_all(void);

/* How many arenas are mapped now and ever were (arena_mutex taken). */
void rcgc__arena_counts(uint64_t *current, uint64_t *total);

/* True when arena_mutex is held by someone (for _locked asserts). */
bool rcgc__arena_mutex_held(void);

/* The committed bytes of all arenas, in parts that add up: the headers
 * (descriptors and maps, less their decommitted pages), the slices of
 * pools in use, and the free slices kept committed (the retention budget). */
struct arena_bytes {
    uint64_t headers, pools, retained;
};

/* Walk every pool in use (small and large) under arena_mutex; and, when
 * @bytes is not NULL, fill it in under the same hold, so that the pools
 * visited add up to bytes->pools. */
void rcgc__arena_foreach_pool(void (*visit)(const struct pool *pool, void *arg), void *arg,
                              struct arena_bytes *bytes);

void rcgc__arena_lock(void);
void rcgc__arena_unlock(void);

/* ------------------------------------------------------------------- Pools */

/* Carve up to RCGC_CARVE_BYTES worth of never-used blocks onto the free
 * list. Returns false when the pool is fully carved. */
#define RCGC_CARVE_BYTES 4096
bool rcgc__pool_carve_owner(struct pool *pool);

/* Take the remote-free stack and move it onto local_free; returns the
 * number of blocks taken. */
uint32_t rcgc__pool_collect_remote_owner(struct pool *pool);

/* Put the list @rest (whose tail is unknown) in front of @pool's
 * local_free. */
void rcgc__pool_local_free_prepend_owner(struct pool *pool, struct block *rest);

/* Push @block onto @pool's remote-free stack; any thread. */
void rcgc__pool_push_remote(struct pool *pool, struct block *block);

/* P1, P3 and P5 for one pool; fatal on failure. Owner only, remote collected. */
void rcgc__alloc_pool_check(const struct pool *pool);

/* ------------------------------------------------------------------- Heaps */

#define RCGC_ALLOC_COUNTERS(X)                                                                     \
    X(mallocs_slow, "allocations that took the slow path")                                         \
    X(frees_remote, "blocks freed by a thread that does not own their pool")                       \
    X(pools_taken, "pools taken from arenas")                                                      \
    X(pools_released, "empty pools returned to arenas")                                            \
    X(pools_adopted, "abandoned pools adopted by a live thread")

struct heap { /* 64-byte aligned (heap.c) so no two heaps share a line */
    /* avail[c]: head is the current pool of class c (a never-NULL sentinel
     * with no free blocks when there is none, so the fast path has one
     * branch). */
    struct pool *avail[RCGC_CLASS_COUNT];
    struct pool *avail_tail[RCGC_CLASS_COUNT]; /* NULL when avail[c] is the sentinel */
    /* The last pool of each class this heap gave back: its next pool of
     * the class is taken there if still free, so a thread's pools (their
     * descriptors, their blocks) stay in its core's cache instead of
     * passing to whichever thread takes the lowest free slice next. */
    const struct pool *last_released[RCGC_CLASS_COUNT];
    struct pool *full[RCGC_CLASS_COUNT];
    struct pool *full_tail[RCGC_CLASS_COUNT];
#define RCGC_HEAP_COUNTER(name, doc) _Atomic uint64_t name;
    RCGC_ALLOC_COUNTERS(RCGC_HEAP_COUNTER)
#undef RCGC_HEAP_COUNTER
    struct heap *next_heap; /* every heap ever made: heap_list_mutex */
    bool in_use;
    /* Its thread's rcgc__alloc_tls.heap while in use, NULL otherwise; written
     * and, by hook installs, used under heap_list_mutex. Retiring the heap
     * at thread exit clears it before the thread's TLS goes away, and a
     * heap attached after that (a later TLS destructor allocating) gets
     * none: its thread is not diverted while it finishes exiting. Known
     * limit: a thread that allocates for the first time in its last round
     * of TLS destructors (glibc runs four) exits with this pointer set. */
    struct heap *_Atomic *my_heap_slot;
    /* Sampling (alloc_hook.h): per class, the bytes the thread may still
     * be handed before its next sample, and the sampling generation they
     * were drawn under. Owner-only, slow path only. */
    int64_t sample_left[RCGC_CLASS_COUNT];
    uint64_t sample_generation;
};

extern struct pool rcgc__empty_pool; /* the sentinel: free == NULL, used never read */

/* The heap the calling thread's fast paths use (rcgc__alloc_tls.heap): its
 * own; or, before its first allocation, after its heap is retired, and
 * while a hook that wants every allocation is installed, the shared empty
 * heap, whose every class holds the
 * empty pool, so the fast path needs no NULL test and no hook test. An
 * atomic only because installing a hook rewrites it from another thread
 * (under heap_list_mutex, through heap->my_heap_slot); its relaxed loads
 * are plain loads. Initial-exec TLS: one %fs-relative load, also in the
 * LD_PRELOAD library. */
struct rcgc__alloc_tls {
    struct heap *_Atomic heap;
};

extern _Thread_local struct rcgc__alloc_tls rcgc__alloc_tls
    __attribute__((tls_model("initial-exec")));

static inline struct heap *rcgc__fast_heap(void) {
    return atomic_load_explicit(&rcgc__alloc_tls.heap, memory_order_relaxed);
}

/* The calling thread's own heap, NULL before its first allocation and
 * after it is retired; what the slow paths allocate from and compare pool
 * owners with. */
extern _Thread_local struct heap *rcgc__my_own_heap __attribute__((tls_model("initial-exec")));

/* Point every attached heap's thread at the empty heap (@divert), or back
 * at its own heap. Takes heap_list_mutex; the hook is installed (or
 * removed) before the call, and heaps attached later follow it. */
void rcgc__heap_divert_all(bool divert);

/* ------------------------------------------------------------------- Hook */

/* The installed allocation hook (hook.c), NULL when there is none, and
 * how it wants to be told: of every allocation (`every`; the heaps are
 * diverted, and the slow paths test it and report through the two
 * functions below) or of a sample (`mean` bytes apart on average; the
 * slow paths count the bytes, below). */
struct rcgc__alloc_hook;
extern const struct rcgc__alloc_hook *_Atomic rcgc__alloc_hook_installed;
extern _Atomic bool rcgc__alloc_hook_every;
extern _Atomic size_t rcgc__alloc_sample_mean;
void rcgc__alloc_hook_note_alloc(void *ptr, size_t size, const void *caller);
void rcgc__alloc_hook_note_free(void *ptr);
/* A fresh countdown for this thread: an exponential draw of mean @mean. */
int64_t rcgc__alloc_sample_draw(size_t mean);

/* fork(): the install mutex is held across it, so the child can install
 * and remove hooks; the child forgets calls running on threads it lacks. */
void rcgc__alloc_hook_fork_prepare(void);
void rcgc__alloc_hook_fork_parent(void);
void rcgc__alloc_hook_fork_child(void);

/* Free @pool's block tags, as its slices go back to the arena (P4).
 * arena_mutex held. */
void rcgc__pool_drop_hook_tags_locked(struct pool *pool);

/* Whether every allocation and free is reported. */
static inline bool rcgc__alloc_is_hooked(void) {
    return RCGC_UNLIKELY(atomic_load_explicit(&rcgc__alloc_hook_every, memory_order_relaxed));
}

/* Whether any hook is installed: large and huge frees are reported then,
 * sampled or not. */
static inline bool rcgc__alloc_hook_any(void) {
    return RCGC_UNLIKELY(atomic_load_explicit(&rcgc__alloc_hook_installed, memory_order_relaxed) !=
                         NULL);
}

/* ---------------------------------------------------------------- Sampling
 *
 * rcgc__alloc_sample_generation changes each time a sampling hook is
 * installed; a thread whose countdowns were drawn under another generation
 * draws them afresh, so arming needs no write into other threads' state.
 * A countdown counts the usable sizes of the blocks handed out (so the
 * sampler can count the fast path's allocations by the blocks it was
 * given) and the allocation that takes it below zero is the sample. */
extern _Atomic uint64_t rcgc__alloc_sample_generation;

/* A block of @size_class from the pools no thread owns, which hold the
 * sampled blocks; NULL with errno = ENOMEM. */
void *rcgc__heap_malloc_sampled(unsigned size_class);

/* Whether @pool holds sampled blocks (its owner is the sampling heap). */
bool rcgc__heap_is_sampled_pool(const struct pool *pool);

/* The slow half of rcgc_malloc for pool sizes: attaches a heap if needed,
 * refills the class from remote frees, carving, full pools, abandoned pools
 * or a new pool. While a sampling hook is installed it also counts the
 * class's countdown, and when this allocation is the sample, serves it
 * from the sampling pools and sets *@sampled. NULL with errno = ENOMEM on
 * failure. */
void *rcgc__heap_malloc_slow(unsigned size_class, bool *sampled);

/* The owner freed into @pool and it became empty or was on the full list:
 * an empty pool goes back to its arena unless it is the class's current
 * pool (hysteresis against take/release ping-pong, P2); a full one returns
 * to avail. */
void rcgc__heap_pool_freed_owner(struct heap *heap, struct pool *pool);

/* Collect remote frees everywhere, release empty pools (all of them when
 * @force), adopt abandoned pools. Calling thread's heap only. */
void rcgc__heap_collect_owner(bool force);

/* Count a free into another thread's pool, on @heap's counters (or a
 * shared one when the thread has no heap). */
void rcgc__heap_note_remote_free(struct heap *heap);

enum alloc_counter {
#define RCGC_ALLOC_ENUM(name, doc) ALLOC_COUNTER_##name,
    RCGC_ALLOC_COUNTERS(RCGC_ALLOC_ENUM)
#undef RCGC_ALLOC_ENUM
        ALLOC_COUNTER_COUNT
};

/* Sum of every heap's counters (live and retired). */
void rcgc__heap_counters(uint64_t out[ALLOC_COUNTER_COUNT]);

/* fork(): lock everything before, unlock after; the child adopts nothing
 * but makes every other thread's heap abandoned. */
void rcgc__heap_fork_prepare(void);
void rcgc__heap_fork_parent(void);
void rcgc__heap_fork_child(void);

/* ------------------------------------------------------------ Large, huge */

void *rcgc__large_malloc(size_t size, size_t alignment, bool zero);
void rcgc__large_free(struct arena *arena, struct pool *pool, void *ptr);
/* NULL with errno = ENOMEM when the mapping fails or the kernel's overcommit
 * policy refuses to charge the block's bytes. */
void *rcgc__huge_malloc(size_t size, size_t alignment);
/* @entry: the registry's word for @ptr (one of the REGISTRY_HUGE kinds).
 * Misuse is reported as done by @where. */
void rcgc__huge_free(void *ptr, enum registry_entry entry);
size_t rcgc__huge_usable(const void *ptr, enum registry_entry entry, const char *where);
/* Whether @ptr lies in [start, start + usable size) of a live huge block;
 * @ptr's unit is marked with one of the REGISTRY_HUGE kinds. Takes
 * arena_mutex, so the header it reads cannot be unmapped meanwhile. */
bool rcgc__huge_owns(const void *ptr);
void rcgc__huge_counts(uint64_t *blocks, uint64_t *bytes);

/* ------------------------------------------------------------------ Misuse */

/* Every report names the address, what is wrong and where; all are fatal. */
RCGC_NORETURN RCGC_COLD void rcgc__report_not_owned(const void *ptr, const char *where);
RCGC_NORETURN RCGC_COLD void rcgc__report_bad_block(const struct pool *pool, const void *ptr,
                                                    const char *what, const char *where);

/* The free path for everything but an owner freeing a sound block: checks
 * and reports misuse, large and huge blocks, remote frees. Kept out of
 * line so the fast path needs no callee-saved registers. */
RCGC_NOINLINE void rcgc__free_slow(void *ptr); /* not cold: remote frees are common */

#endif /* RCGC_ALLOC_INTERNAL_H */
