/* src/gc/gc_barrier.h - the old-generation barrier (barrier.c) as the
 * collector and the tracking code see it: dirty bits by generation-2 slot,
 * raised and read with the world stopped, set by any thread's increment
 * (rcgc_gc_barrier_check in rcgc/object.h).
 */
#ifndef RCGC_GC_BARRIER_H
#define RCGC_GC_BARRIER_H

#include "gc/gc_object.h"

#include <stdbool.h>
#include <stdint.h>

/* Candidates are the slots [0, @end) of generation 2; every bit starts
 * clear. False (nothing raised) when the maps cannot be allocated. World
 * stopped. */
bool rcgc__gc_barrier_raise_stopped(uint32_t end);

/* Increments stop being recorded; the maps are freed. World stopped. */
void rcgc__gc_barrier_lower_stopped(void);

/* The candidates are now [0, @end) (<= the raised end); @untracks_dirty:
 * untracking a candidate dirties what it references (once the
 * collection has subtracted references, see increments.c). World stopped. */
void rcgc__gc_barrier_limit_stopped(uint32_t end, bool untracks_dirty);

/* Clear @slot's bit (its count was just read). World stopped. */
void rcgc__gc_barrier_clear_stopped(uint32_t slot);

bool rcgc__gc_barrier_is_dirty(uint32_t slot);

/* Call @visit on each dirty slot below the end in every word that gained
 * a bit since the last drain (slots drained before may be visited again).
 * World stopped. */
void rcgc__gc_barrier_drain_stopped(void (*visit)(uint32_t slot, void *arg), void *arg);

void rcgc__gc_barrier_untracking_slow(rcgc_object *obj);

/* A candidate is being untracked (or dies) while a collection runs: the
 * references it holds stop being subtracted by its traverse, but may have
 * been already, so each target is dirtied. The untracking thread is the
 * one allowed to read the object. */
static inline void rcgc__gc_barrier_untracking(rcgc_object *obj) {
    if (RCGC_UNLIKELY(atomic_load_explicit(&rcgc_gc_barrier, memory_order_relaxed) != 0))
        rcgc__gc_barrier_untracking_slow(obj);
}

#endif /* RCGC_GC_BARRIER_H */
