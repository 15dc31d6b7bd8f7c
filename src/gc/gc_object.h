/* src/gc/gc_object.h - the collector as the object layer sees it: the
 * generation bits in an object's header, tracking and untracking, and the
 * count of tracked creations and deaths that triggers collections. The
 * only header of src/gc that src/object includes (CPython's
 * pycore_object.h plays this part for _PyObject_GC_TRACK); the rest of the
 * collector stays behind gc_internal.h.
 *
 * The fast paths are inline, so the young table's representation is here:
 * tracking a new object is an append to its creator's table.
 *
 * Preconditions, asserted in checked builds:
 *   rcgc__gc_track_new      a new object of a GC type with a traverse hook,
 *                           not tracked yet
 *   rcgc__gc_untrack_if_tracked  the object is dying or being untracked by
 *                           the thread that may change it (its killer, or
 *                           the collector with the world stopped)
 *   rcgc__gc_count_creation / _death  once per tracked object made / dead
 */
#ifndef RCGC_GC_OBJECT_H
#define RCGC_GC_OBJECT_H

#include "object/object_internal.h"

#include <rcgc/gc.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------------ Generations */

enum gc_gen {
    GEN_NONE = 0,      /* not tracked */
    GEN_YOUNG = 1,     /* generation 0: per-thread tables */
    GEN_MIDDLE = 2,    /* generation 1 */
    GEN_OLD = 3,       /* generation 2 */
    GEN_PERMANENT = 4, /* frozen: no collection looks here */
    GEN_HELD = 5,      /* found unreachable by the running collection (G3) */
};

#define OBJ_GEN_SHIFT 4
#define OBJ_GEN_MASK (7u << OBJ_GEN_SHIFT)

static inline unsigned gc_gen_of(uint16_t flags) { return (flags & OBJ_GEN_MASK) >> OBJ_GEN_SHIFT; }

static inline uint16_t gc_flags_load(const rcgc_object *obj) {
    return atomic_load_explicit(&obj->ob_flags, memory_order_relaxed);
}

static inline uint16_t gc_flags_with_gen(uint16_t flags, unsigned gen) {
    return (uint16_t)((flags & ~OBJ_GEN_MASK) | (gen << OBJ_GEN_SHIFT));
}

/* Only the thread that may change the object writes the generation bits.
 * A plain store where no other thread can write ob_flags meanwhile: the
 * object is new, dying, or the world is stopped. */
static inline void gc_set_gen(rcgc_object *obj, unsigned gen) {
    atomic_store_explicit(&obj->ob_flags, gc_flags_with_gen(gc_flags_load(obj), gen),
                          memory_order_relaxed);
}

/* For an object other threads can reach (rcgc_track, rcgc_untrack): a
 * compare-and-swap, so that another thread's atomic OR of a different bit
 * (OBJ_DEATH_WATCHED) is not lost. */
static inline void gc_set_gen_shared(rcgc_object *obj, unsigned gen) {
    uint16_t flags = gc_flags_load(obj);
    while (!atomic_compare_exchange_weak_explicit(&obj->ob_flags, &flags,
                                                  gc_flags_with_gen(flags, gen),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* ------------------------------------------------------------------ Tables */

/* A table is chunks of 1024 slots under a two-level directory that never
 * moves, so a slot's address is fixed while other threads append: an
 * untrack from any thread stores NULL into it without a lock. 2^29 slots
 * per table; ob_gc_slot is 32 bits. */
#define GC_CHUNK_BITS 10
#define GC_CHUNK_SLOTS (1u << GC_CHUNK_BITS)
#define GC_PAGE_BITS 9
#define GC_PAGE_CHUNKS (1u << GC_PAGE_BITS)
#define GC_TABLE_PAGES 1024u
#define GC_TABLE_MAX_SLOTS ((uint64_t)GC_TABLE_PAGES << (GC_PAGE_BITS + GC_CHUNK_BITS))

struct gc_table {
    rcgc_object **cursor, **limit; /* the next free slot and its chunk's end */
    uint32_t length;               /* slots used, NULLs (dead entries) included */
    uint32_t chunks;               /* chunks allocated (kept across resets) */
    unsigned gen;                  /* enum gc_gen of every entry */
    uint16_t young_id;             /* young tables: ob_reserved of their entries */
    /* Young tables: tracked creations minus deaths by the owning thread not
     * yet added to the global count[0]; the owner writes it, anyone reads. */
    _Atomic int64_t count_delta;
    /* Young tables: deaths, on the owning thread, of objects promoted to
     * generation 2 since the last full collection (the 25% rule counts the
     * pending objects still alive). */
    _Atomic int64_t pending_deaths;
    /* Young tables: the length at which the owner squeezes out the slots
     * of dead objects itself, when no collection has emptied the table. */
    uint32_t compact_at;
    /* Young tables: the owner has made a batch of tracked objects since
     * the last collection and is counted in rcgc__gc_young_limit. Set by
     * the owner, cleared by the collector while stopped. */
    bool making;
    rcgc_object ***pages[GC_TABLE_PAGES];
};

static inline rcgc_object **gc_table_slot(const struct gc_table *table, uint32_t index) {
    return &table->pages[index >> (GC_PAGE_BITS + GC_CHUNK_BITS)]
                        [(index >> GC_CHUNK_BITS) & (GC_PAGE_CHUNKS - 1)]
                        [index & (GC_CHUNK_SLOTS - 1)];
}

/* The slots from @index up to the end of its chunk or @end, whichever is
 * first: walks over a table look the directory up once per chunk. Returns
 * how many, and the first in *@slots. */
static inline uint32_t gc_table_run(const struct gc_table *table, uint32_t index, uint32_t end,
                                    rcgc_object ***slots) {
    *slots = (rcgc_object **)gc_table_slot(table, index);
    uint32_t in_chunk = GC_CHUNK_SLOTS - (index & (GC_CHUNK_SLOTS - 1));
    return end - index < in_chunk ? end - index : in_chunk;
}

/* Room for one more entry; false (errno = ENOMEM) when a chunk cannot be
 * had. Called by gc_table_append when the current chunk is full. */
bool rcgc__gc_table_grow(struct gc_table *table);

/* Make sure @count more entries fit without allocating. */
bool rcgc__gc_table_reserve(struct gc_table *table, uint64_t count);

/* Append @obj and record its slot and table in its header; the caller
 * sets the generation bits. */
static inline bool gc_table_append_entry(struct gc_table *table, rcgc_object *obj) {
    if (RCGC_UNLIKELY(table->cursor == table->limit) && !rcgc__gc_table_grow(table))
        return false;
    *table->cursor++ = obj;
    atomic_store_explicit(&obj->ob_gc_slot, table->length++, memory_order_relaxed);
    obj->ob_reserved = table->young_id;
    return true;
}

/* Append @obj, which no other thread writes meanwhile (see gc_set_gen). */
static inline bool gc_table_append(struct gc_table *table, rcgc_object *obj) {
    if (!gc_table_append_entry(table, obj))
        return false;
    gc_set_gen(obj, table->gen);
    return true;
}

/* ----------------------------------------------------------------- Tracking */

/* Young tables by id (record slot + 1; 0 for unattached threads), made on
 * a thread's first tracked object and kept with the record for good. */
#define GC_YOUNG_TABLES (THREAD_SLOTS)
extern struct gc_table *_Atomic rcgc__gc_young_tables[GC_YOUNG_TABLES];

/* The table @obj is in, from its generation bits; NULL for none or held. */
struct gc_table *rcgc__gc_table_of(const rcgc_object *obj, unsigned gen);

/* The calling thread's young table, cached with the record it belongs to
 * (a thread that detaches and attaches again may get another record);
 * read on every tracked creation and death, so inline. */
extern _Thread_local struct gc_table *rcgc__gc_my_young __attribute__((tls_model("initial-exec")));
extern _Thread_local struct thread_record *rcgc__gc_my_young_record
    __attribute__((tls_model("initial-exec")));
struct gc_table *rcgc__gc_my_young_table_slow(void);

/* The thread's young table, made on first use; NULL when unattached or
 * when it cannot be made. */
static inline struct gc_table *rcgc__gc_my_young_table(void) {
    struct gc_table *young = rcgc__gc_my_young;
    if (RCGC_LIKELY(young != NULL && rcgc__gc_my_young_record == rcgc__my_record))
        return young;
    return rcgc__gc_my_young_table_slow();
}

/* A young table this long is mostly dead slots when no collection runs
 * (objects dying by count): its owner squeezes it, stopping the world. */
#define GC_YOUNG_COMPACT_MIN ((uint32_t)1 << 16)

int rcgc__gc_track_new_slow(rcgc_object *obj);

/* Track a new object of a GC type in the calling thread's young table;
 * -1 with errno = ENOMEM when the table cannot grow. */
static inline int rcgc__gc_track_new(rcgc_object *obj) {
    rcgc_assert_internal((obj->ob_type->flags & RCGC_TYPE_GC) != 0 &&
                         obj->ob_type->traverse != NULL &&
                         gc_gen_of(gc_flags_load(obj)) == GEN_NONE);
    struct gc_table *young = rcgc__gc_my_young_table();
    if (RCGC_LIKELY(young != NULL && young->length < young->compact_at &&
                    gc_table_append(young, obj)))
        return 0;
    return rcgc__gc_track_new_slow(obj);
}

void rcgc__gc_untrack_tracked(rcgc_object *obj, unsigned gen);

/* Untrack @obj if it is tracked (deaths call it first thing). */
static inline void rcgc__gc_untrack_if_tracked(rcgc_object *obj) {
    unsigned gen = gc_gen_of(gc_flags_load(obj));
    if (gen != GEN_NONE)
        rcgc__gc_untrack_tracked(obj, gen);
}

/* ------------------------------------------------------------------ Counts */

/* A thread hands its count changes to the global count[0] in batches of
 * this size, or when the sum would reach the young limit. */
#define GC_COUNT_BATCH 64

/* count[0] for the threads' batches to land in; count[1], count[2]. */
extern _Atomic int64_t rcgc__gc_young_count;

/* The count[0] that starts a young collection: threshold[0] for each
 * thread that made a batch of tracked objects since the last collection
 * (at least one), 0 when threshold[0] is 0 (never). Each thread making
 * objects thus gets threshold[0] creations between stops, as it would
 * alone; on one thread it is threshold[0], CPython's rule. 0 also while
 * the collector is disabled, so that creations past threshold[0] stay on
 * the fast path instead of each adding to the shared count. */
extern _Atomic int64_t rcgc__gc_young_limit;

/* Settings read on every tracked creation: relaxed atomics. */
extern _Atomic unsigned rcgc__gc_threshold[RCGC_GENERATIONS];
extern _Atomic bool rcgc__gc_enabled;
extern _Atomic bool rcgc__gc_collecting; /* a collection holds gc_mutex */

/* A tracked object is about to be made / has died (count[0] +1 / -1); the
 * first may run an automatic collection. */
void rcgc__gc_count_creation_slow(void);
void rcgc__gc_count_death_slow(void);

static inline void rcgc__gc_count_creation(void) {
    struct gc_table *young = rcgc__gc_my_young_table();
    if (RCGC_LIKELY(young != NULL)) {
        int64_t delta = atomic_load_explicit(&young->count_delta, memory_order_relaxed) + 1;
        int64_t limit = atomic_load_explicit(&rcgc__gc_young_limit, memory_order_relaxed);
        int64_t global = atomic_load_explicit(&rcgc__gc_young_count, memory_order_relaxed);
        if (RCGC_LIKELY(delta < GC_COUNT_BATCH && (limit == 0 || global + delta < limit))) {
            atomic_store_explicit(&young->count_delta, delta, memory_order_relaxed);
            return;
        }
    }
    rcgc__gc_count_creation_slow();
}

static inline void rcgc__gc_count_death(void) {
    struct gc_table *young = rcgc__gc_my_young_table();
    if (RCGC_LIKELY(young != NULL)) {
        int64_t delta = atomic_load_explicit(&young->count_delta, memory_order_relaxed) - 1;
        int64_t global = atomic_load_explicit(&rcgc__gc_young_count, memory_order_relaxed);
        if (RCGC_LIKELY(delta > -GC_COUNT_BATCH && global + delta >= 0)) {
            atomic_store_explicit(&young->count_delta, delta, memory_order_relaxed);
            return;
        }
    }
    rcgc__gc_count_death_slow();
}

/* Whether the calling thread holds the collector's mutex (or works a
 * collection's sweep for it): the layers above postpone what must not run
 * under an rcgc lock (weak-reference callbacks) until it is released. */
bool rcgc__gc_lock_held(void);

#endif /* RCGC_GC_OBJECT_H */
