/* src/gc/gc_collection.h - one collection's working state, shared by the
 * stop-the-world collection (collect.c) and the old collection run in
 * increments (increments.c): both find an unreachable set, and from there
 * the same code holds it, finalizes, resurrects, clears and frees it.
 *
 * Shared: nothing; a collection's state belongs to the thread holding
 * gc_mutex (and, for its held objects' sweep, to the owners it lends them
 * to: sweep.c).
 */
#ifndef RCGC_GC_COLLECTION_H
#define RCGC_GC_COLLECTION_H

#include "gc/gc_internal.h"

/* refs[] value of a candidate known to be reachable. */
#define REACHABLE INT32_MIN
/* Counts above this are clamped: no subtraction can bring them to zero. */
#define REFS_CLAMP (INT32_MAX / 2)

struct collection {
    int generation;
    unsigned debug;
    unsigned target_gen;
    struct gc_table *target;
    uint32_t base, count; /* candidates: target slots [base, base + count) */
    int32_t *refs;        /* per candidate, then per held object */
    uint32_t *stack;      /* work list of candidate (or held) indices */
    uint32_t top;
    rcgc_object **held; /* unreachable and collectable, one reference each */
    uint8_t *batch_of;  /* per held object: who clears and drops it (sweep.c) */
    uint32_t held_count;
    struct gc_sweep_owners owners;               /* the threads parked in the first stop */
    uint32_t uncollectable_first, uncollectable; /* in the target, after step 4 */
    bool legacy_found, finalizer_found, deferred_found, watched_found;
    size_t collected;
    rcgc_object *dead;
    size_t generation_sizes[4]; /* for RCGC_DEBUG_STATS: 0, 1, 2, permanent */
    uint64_t pause_ns;          /* every stop's, summed */
    uint64_t longest_stop_ns;   /* the longest of them */
};

/* An object's count as the collector sees it: exact, once every queue and
 * deferred table was applied in this stop (rcgc__gc_make_counts_exact). */
static inline int32_t gc_count_for_collection(const rcgc_object *obj) {
    uint16_t flags = gc_flags_load(obj);
    if ((flags & OBJ_MODE_MASK) == RCGC_RC_IMMORTAL)
        return REFS_CLAMP;
    int64_t total =
        (atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed) >> REF_SHARED_SHIFT) +
        atomic_load_explicit(&obj->ob_ref_local, memory_order_relaxed);
    return total > REFS_CLAMP ? REFS_CLAMP : (int32_t)total;
}

static inline void gc_traverse(rcgc_object *obj, rcgc_visit_fn visit, void *arg) {
    if (obj->ob_type->traverse != NULL)
        obj->ob_type->traverse(obj, visit, arg);
}

/* World stopped: merge the queued counts and apply every deferred table;
 * objects found at zero are listed on c->dead, to die after the restart. */
void rcgc__gc_make_counts_exact(struct collection *c);

/* World stopped: count[0] to count[@generation] to zero, count[@generation
 * + 1] one more; the young tables' creation counts reset. */
void rcgc__gc_reset_counters(int generation);

/* World stopped: take @obj into the held set (G3), one reference. c->held
 * has room. */
void rcgc__gc_hold(struct collection *c, rcgc_object *obj);

/* After the holds, gc_mutex held (the world may run: appends to an old
 * table are the collector's, and nothing else reaches held objects): when
 * c->legacy_found, legacy finalizers' objects and what they reach go back
 * to c->target as uncollectable. */
void rcgc__gc_separate_uncollectable(struct collection *c);

/* World stopped, after the holds: legacy finalizers' objects and what they
 * reach go back to c->target as uncollectable (when c->legacy_found), and
 * the weak references to the held objects are cleared (when
 * c->watched_found). */
void rcgc__gc_settle_held_stopped(struct collection *c);

/* World running, gc_mutex held, right after the stop that held the
 * unreachable set: the rest of a collection (steps 4's end to 9), then its
 * statistics (when @found) and the stop callbacks, with c->pause_ns and
 * c->longest_stop_ns as the stops' figures. Clears the collecting flags.
 * Returns what rcgc_collect returns. */
ptrdiff_t rcgc__gc_collection_finish(struct collection *c, bool found, uint64_t start,
                                     uint64_t returned_before);

/* Count @c in its generation's statistics (state lock taken here). */
void rcgc__gc_record_statistics(const struct collection *c);

/* RCGC_DEBUG_STATS: the generations' sizes (world stopped). */
void rcgc__gc_measure_generations(struct collection *c);

#endif /* RCGC_GC_COLLECTION_H */
