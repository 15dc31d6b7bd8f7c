/* rcgc/gc.h - the generational cycle collector, with CPython's semantics.
 *
 * Purpose: reference counting frees everything except cycles; the
 * collector finds them. Objects of types with RCGC_TYPE_GC are tracked
 * from creation in three generations. Each tracked creation adds one to
 * count[0] and each tracked death takes one away; when count[0] reaches
 * threshold[0] the collector runs generation 0, or older ones when their
 * counters say so (CPython's rules: counters (700, 3, 0) run collect(0)
 * and leave (0, 4, 0)). A collection copies each
 * candidate's count, subtracts the references candidates hold to each
 * other (trial deletion), keeps everything reachable from an object with a
 * reference from outside, and frees the rest: finalizers first (once per
 * object, PEP 442), then `clear` breaks the cycles. Cycles holding an
 * object whose type has RCGC_TYPE_LEGACY_FINALIZER are uncollectable and
 * go to the garbage list instead.
 *
 * Thread model: any attached thread may collect, explicitly or by making
 * tracked objects. A collection stops the world (every attached thread
 * parks at its next safepoint; threads in blocking regions are not waited
 * for), finds the garbage, restarts the world, and only then runs
 * finalizers, debug output and callbacks, on the collecting thread. Clear
 * hooks, and the deaths that follow, run on the thread that owns each
 * object when that thread was parked at the stop (it does them at its
 * next safepoint, while the collecting thread waits, so the memory goes
 * back to the heap it came from); the collecting thread does the rest,
 * and any owner's share that does not come within a millisecond. So a
 * clear or release hook must not wait for a lock the host may hold around
 * rcgc_new, rcgc_safepoint or rcgc_collect on another thread. Two
 * collections never overlap: the collector's state sits behind one mutex.
 * Hooks that run during a collection may call every function here, on
 * whichever thread they run; rcgc_collect from inside one returns 0
 * (CPython's rule).
 *
 * Usage:
 *     static const rcgc_type node_type = {"node", sizeof(struct node),
 *         RCGC_TYPE_GC, node_traverse, node_clear, NULL, NULL, 0};
 *     struct node *a = (struct node *)rcgc_new(&node_type);  // tracked
 *     a->next = &a->head; rcgc_incref(&a->head);             // a self-cycle
 *     rcgc_decref(&a->head);                                 // still alive
 *     rcgc_collect(RCGC_GENERATIONS - 1);                    // returns 1
 */
#ifndef RCGC_GC_H
#define RCGC_GC_H

#include <rcgc/common.h>
#include <rcgc/object.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How many generations there are (0 youngest, 2 oldest), as in CPython. */
#define RCGC_GENERATIONS 3

/* --------------------------------------------------------------- Collecting */

/**
 * rcgc_collect - Collect generations 0 to @generation now.
 * @generation: 0, 1 or 2 (RCGC_GENERATIONS - 1: a full collection).
 *
 * Returns the number of unreachable objects found (collectable plus
 * uncollectable, as gc.collect), 0 when called from a hook that runs during
 * a collection, or -1 with errno = EINVAL for a bad generation or ENOMEM
 * when the collector's work lists cannot be allocated (nothing is lost; the
 * collection is simply not done). Resets the counters: count[0] to
 * count[@generation] become 0 and count[@generation + 1] grows by one.
 * What it found is freed before it returns, deferred objects included
 * (their tables are applied again at the end: up to 16 syncs, each a stop,
 * when the garbage held deferred objects or deferred objects' finalizers
 * ran).
 * Thread safety: any thread; an unattached caller is attached for the
 *   duration. Waits, as a blocked thread, while another collection runs.
 * Cost: a stop of the world and two traversals of every candidate; the
 *   finalizers and clear hooks of the garbage, with the world running
 *   (clears and frees shared with the threads that own the garbage). A full
 *   collection in incremental mode (rcgc_set_old_collection) abandons the
 *   one that is running and runs a whole one in short stops instead.
 */
RCGC_API ptrdiff_t rcgc_collect(int generation);

/**
 * rcgc_enable - Turn automatic collection on (the default).
 * Thread safety: any thread. Cost: one atomic store.
 */
RCGC_API void rcgc_enable(void);

/**
 * rcgc_disable - Turn automatic collection off; rcgc_collect still works.
 * An incremental full collection that is running waits (its increments
 * ride on automatic collections; rcgc_collect_step moves it on).
 * Thread safety: any thread; a collection already running finishes.
 * Cost: one atomic store.
 */
RCGC_API void rcgc_disable(void);

/**
 * rcgc_is_enabled - Whether automatic collection is on.
 * Thread safety: any thread. Cost: one atomic load.
 */
RCGC_API bool rcgc_is_enabled(void);

/**
 * rcgc_set_threshold - Set the collection thresholds.
 * @threshold0: tracked creations minus deaths that start a generation-0
 *   collection; 0 turns automatic collection off (CPython's rule). It is
 *   per thread making objects: with N threads that each made a batch of
 *   64 or more tracked objects since the last collection, count[0] must
 *   reach N x @threshold0, so each thread gets as many creations between
 *   stops as it would alone. On one thread it is exactly CPython's rule;
 *   with several, rcgc_get_count()[0] may exceed @threshold0.
 * @threshold1: generation-0 collections that make the next one collect
 *   generation 1 as well.
 * @threshold2: likewise, generation-1 collections before a full one (which
 *   also waits until the objects promoted to generation 2 since the last
 *   full collection reach 25% of those it left, so that building a large
 *   structure stays linear).
 *
 * Defaults (700, 10, 10), or RCGC_THRESHOLDS=t0,t1,t2 from the environment.
 * Thread safety: any thread; threads see the new values at their next
 *   tracked creation. Cost: three atomic stores.
 */
RCGC_API void rcgc_set_threshold(unsigned threshold0, unsigned threshold1, unsigned threshold2);

/**
 * rcgc_get_threshold - Store the three thresholds in @out.
 * Thread safety: any thread. Cost: three atomic loads.
 */
RCGC_API void rcgc_get_threshold(unsigned out[RCGC_GENERATIONS]);

/**
 * rcgc_get_count - Store the three counters in @out: out[0] tracked
 * creations minus deaths since the last generation-0 collection, out[1]
 * generation-0 collections since the last generation-1 one, out[2]
 * generation-1 collections since the last full one.
 *
 * Exact while no other thread makes or kills tracked objects; otherwise
 * out[0] may lag by up to 64 per running thread (each thread batches its
 * changes to keep the counter off the allocation path's cache lines).
 * Thread safety: any thread. Cost: a load per thread that ever tracked an
 *   object; no stop, no lock.
 */
RCGC_API void rcgc_get_count(unsigned out[RCGC_GENERATIONS]);

/* ---------------------------------------------------------------- Debugging */

#define RCGC_DEBUG_STATS 1u         /* a line at the start and end of each collection */
#define RCGC_DEBUG_COLLECTABLE 2u   /* "gc: collectable <type 0x...>" per object freed */
#define RCGC_DEBUG_UNCOLLECTABLE 4u /* "gc: uncollectable <type 0x...>" per object kept */
#define RCGC_DEBUG_SAVEALL 32u      /* keep all garbage in the garbage list, free nothing */
#define RCGC_DEBUG_LEAK 38u         /* COLLECTABLE | UNCOLLECTABLE | SAVEALL */

/**
 * rcgc_set_debug - Set the debug flags (CPython's names and values).
 * @flags: a union of RCGC_DEBUG_*; 0 for none (the default, or RCGC_DEBUG
 *   from the environment: a comma-separated list of stats, collectable,
 *   uncollectable, saveall, leak).
 * Thread safety: any thread; a collection reads the flags once, at its
 *   start. Cost: one atomic store.
 */
RCGC_API void rcgc_set_debug(unsigned flags);

/**
 * rcgc_get_debug - The debug flags in force.
 * Thread safety: any thread. Cost: one atomic load.
 */
RCGC_API unsigned rcgc_get_debug(void);

/**
 * rcgc_set_debug_stream - Where debug output goes (stderr by default).
 * @stream: an open stream, or NULL for stderr. Written only by the
 *   collecting thread, after the world has restarted.
 * Thread safety: any thread; keep @stream open while collections may run.
 * Cost: takes the collector's state lock.
 */
RCGC_API void rcgc_set_debug_stream(FILE *stream);

/* ------------------------------------------------------------ Garbage list */

/**
 * rcgc_garbage_count - How many objects the garbage list holds: the
 * uncollectable objects with a legacy finalizer (all uncollectable and
 * collectable garbage under RCGC_DEBUG_SAVEALL), in the order found.
 * Thread safety: any thread. Cost: takes the collector's state lock (a
 *   leaf lock, never held while a hook runs or a stop is awaited).
 */
RCGC_API size_t rcgc_garbage_count(void);

/**
 * rcgc_garbage_get - Entry @index of the garbage list, with a new
 * reference for the caller (drop it with rcgc_decref), or NULL with errno =
 * ERANGE past the end.
 * Thread safety: any attached thread. Cost: takes the state lock.
 */
RCGC_API RCGC_NODISCARD rcgc_object *rcgc_garbage_get(size_t index);

/**
 * rcgc_garbage_clear - Empty the garbage list, dropping its references
 * (`del gc.garbage[:]`). A host that broke the cycles by hand then sees
 * them freed by the drops or by the next collection.
 * Returns how many entries were dropped.
 * Thread safety: any attached thread. Cost: the deaths the drops cause,
 *   run after the state lock is released.
 */
RCGC_API size_t rcgc_garbage_clear(void);

/* ------------------------------------------- How full collections run */

/** How a full collection (generation 2) runs: rcgc_set_old_collection. */
enum rcgc_old_collection {
    RCGC_OLD_STOP_THE_WORLD = 0, /* one stop for the whole of generation 2 (CPython's) */
    RCGC_OLD_INCREMENTAL = 1,    /* short stops, with the host running between them */
};

/**
 * rcgc_set_old_collection - Choose how full collections run.
 * @mode: RCGC_OLD_STOP_THE_WORLD (the default) or RCGC_OLD_INCREMENTAL.
 *   The environment sets it at start: RCGC_GC_OLD=stw or incremental.
 *
 * Incremental: a full collection is cut into increments, each a stop of
 * the world whose work is bounded by the increment budget
 * (rcgc_set_increment_budget). An automatic one starts when a
 * stop-the-world one would (after a generation-1 collection) and runs one
 * increment after each young collection; while it runs, rcgc_incref
 * records increments of old objects' counts (a bit per object), which is
 * how it stays right while the host changes the graph. Cyclic garbage
 * present when it starts is freed by its end. Each increment does at
 * least the work that ends it before generation 2 grows by
 * RCGC_GC_OLD_GROWTH_PCT (default 25) percent of what it started with, at
 * the rate the host has been promoting objects, so an increment may run
 * past the budget; past that growth the rest is done in one stop.
 * rcgc_collect(2) runs a whole one, its increments back to back. Every rule of a stop-the-world
 * collection holds: counters, finalizers once, resurrection, legacy
 * finalizers, weak references cleared before finalizers and callbacks
 * after, debug flags, statistics (the pauses are the stops'), freeze.
 *
 * Switching abandons an incremental collection that is running, as do
 * rcgc_freeze and rcgc_unfreeze (nothing is lost: the next one finds
 * what it would have). Returns 0, or -1 with errno = EINVAL for another
 * @mode.
 * Thread safety: any thread; waits for a running collection as
 *   rcgc_collect. Cost: takes the collector's mutex.
 */
RCGC_API int rcgc_set_old_collection(int mode);

/** rcgc_get_old_collection - The mode full collections run in. */
RCGC_API int rcgc_get_old_collection(void);

/**
 * rcgc_set_increment_budget - Bound the work of each increment of an
 * incremental full collection, in nanoseconds of its stop (default 1 ms;
 * RCGC_GC_INCREMENT_US at start). 0 makes each increment as small as it
 * can be (a few hundred objects): tests use it to run the host between
 * many increments. The last increment (which finishes marking what was
 * changed since the one before, and holds the garbage) may run over.
 * Thread safety: any thread. Cost: one atomic store.
 */
RCGC_API void rcgc_set_increment_budget(uint64_t ns);

/** rcgc_get_increment_budget - The increment budget, in nanoseconds. */
RCGC_API uint64_t rcgc_get_increment_budget(void);

/**
 * rcgc_collect_step - Run one increment of an incremental full collection,
 * starting one when none runs (hosts with idle time, and tests).
 *
 * Returns 1 when the collection still runs after this increment, 0 when
 * this increment finished it (its garbage is freed when it returns), or
 * -1 with errno = EINVAL in stop-the-world mode or from a hook running
 * during a collection, ENOMEM when a collection cannot start for want of
 * memory (nothing is lost).
 * Thread safety: any thread, as rcgc_collect. Cost: one stop of the world
 *   within the budget; the last one also frees the garbage, as
 *   rcgc_collect does.
 */
RCGC_API int rcgc_collect_step(void);

/**
 * rcgc_old_collection_running - Whether an incremental full collection has
 * started and not ended (the barrier in rcgc_incref is up meanwhile).
 * Thread safety: any thread. Cost: takes the collector's mutex.
 */
RCGC_API bool rcgc_old_collection_running(void);

/* -------------------------------------------------------------- Callbacks */

/* RCGC_GC_INCREMENT: after each stop of a full collection that runs in
 * increments (rcgc_set_old_collection), between its start and stop, to the
 * callbacks registered with rcgc_callback_add_increments; the info's
 * pause_ns is that stop's, the other counts 0. */
enum rcgc_gc_phase { RCGC_GC_START = 0, RCGC_GC_STOP = 1, RCGC_GC_INCREMENT = 2 };

/**
 * struct rcgc_gc_info - what a callback learns about a collection.
 * @generation: the oldest generation collected.
 * @collected: objects freed (0 in the start phase).
 * @uncollectable: objects kept because of legacy finalizers (0 at start).
 * @pause_ns: how long the other threads were stopped, from the stop request
 *     (time for every thread to reach a safepoint included) to the restart
 *     (0 at start); for an old collection run in increments, the sum of its
 *     stops at the end, and one stop's in the increment phase.
 * @elapsed_ns: the whole collection, finalizers and clears included.
 */
typedef struct rcgc_gc_info {
    int generation;
    size_t collected;
    size_t uncollectable;
    uint64_t pause_ns;
    uint64_t elapsed_ns;
} rcgc_gc_info;

/** A callback: @phase RCGC_GC_START before a collection, RCGC_GC_STOP after. */
typedef void (*rcgc_gc_callback_fn)(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg);

/**
 * rcgc_callback_add - Call @callback(phase, info, @arg) around every
 * collection (gc.callbacks), on the collecting thread, with the world
 * running. Returns 0, or -1 with errno = ENOMEM.
 * Thread safety: any thread; each phase of a collection calls the
 *   callbacks registered when that phase begins. Cost: takes the state
 *   lock.
 */
RCGC_API int rcgc_callback_add(rcgc_gc_callback_fn callback, void *arg);

/**
 * rcgc_callback_add_increments - As rcgc_callback_add, and the callback is
 * also called after each stop of an incremental full collection
 * (RCGC_GC_INCREMENT, the stop's pause in info->pause_ns): how a host
 * draws the distribution of its pauses. rcgc_callback_remove removes it.
 */
RCGC_API int rcgc_callback_add_increments(rcgc_gc_callback_fn callback, void *arg);

/**
 * rcgc_callback_remove - Remove the first registration of (@callback, @arg).
 * Returns 0, or -1 with errno = ENOENT when there is none.
 * Thread safety: any thread, as rcgc_callback_add. Cost: takes the state
 *   lock.
 */
RCGC_API int rcgc_callback_remove(rcgc_gc_callback_fn callback, void *arg);

/* ----------------------------------------------------------- Statistics */

/**
 * struct rcgc_gc_stats - one generation's history (gc.get_stats, plus
 * pauses).
 * @collections: collections whose oldest generation was this one.
 * @collected: objects they freed.
 * @uncollectable: objects they found but kept (legacy finalizers).
 * @total_pause_ns: time the world was stopped for them, summed.
 * @max_pause_ns: the longest such stop.
 */
typedef struct rcgc_gc_stats {
    uint64_t collections;
    uint64_t collected;
    uint64_t uncollectable;
    uint64_t total_pause_ns;
    uint64_t max_pause_ns;
} rcgc_gc_stats;

/**
 * rcgc_get_stats - Store each generation's statistics in @out.
 * Thread safety: any thread; a consistent snapshot. Cost: takes the state
 *   lock.
 */
RCGC_API void rcgc_get_stats(rcgc_gc_stats out[RCGC_GENERATIONS]);

/**
 * rcgc_print_gc_stats - Print the counters, thresholds and statistics of
 * each generation on @stream (RCGC_SHOW_STATS=1 prints it at exit).
 * Thread safety: any thread. Cost: takes the state lock; writes @stream.
 */
RCGC_API void rcgc_print_gc_stats(FILE *stream);

/* ------------------------------------------------------------------ Freeze */

/**
 * rcgc_freeze - Move every tracked object into the permanent generation,
 * which no collection looks at (gc.freeze: done before fork() so that the
 * children's collections do not write to the parent's pages). Resets
 * count[0]. Does nothing from a hook running during a collection.
 * Thread safety: any thread. Cost: takes the collector's mutex and stops
 *   the world while every table is moved; may allocate (nothing moves when
 *   it cannot).
 */
RCGC_API void rcgc_freeze(void);

/**
 * rcgc_unfreeze - Move the permanent generation back into the oldest one.
 * Thread safety: as rcgc_freeze. Cost: as rcgc_freeze.
 */
RCGC_API void rcgc_unfreeze(void);

/**
 * rcgc_get_freeze_count - How many objects the permanent generation holds.
 * Thread safety: any thread. Cost: a stop of the world and a walk of the
 *   permanent generation's table.
 */
RCGC_API size_t rcgc_get_freeze_count(void);

/* ---------------------------------------------------------------- Tracking */

/**
 * rcgc_track - Make the collector look at @obj again (objects of
 * RCGC_TYPE_GC types are tracked from creation; a host untracks one while
 * it builds it, or for good when it holds no references). Tracking a
 * tracked object does nothing; an object whose type lacks RCGC_TYPE_GC or
 * a traverse hook is reported through the fatal handler.
 *
 * Returns 0, or -1 with errno = ENOMEM when the calling thread's young
 * table cannot grow; the object then stays untracked (the collector cannot
 * free a cycle through it) and the call may be repeated.
 * Thread safety: an attached thread, not concurrently with other calls on
 *   the same object.
 * Cost: an append to the calling thread's young table; may allocate.
 */
RCGC_API int rcgc_track(rcgc_object *obj);

/**
 * rcgc_untrack - Hide @obj from the collector; does nothing if untracked.
 * A cycle through an untracked object is never collected.
 * Thread safety: an attached thread, not concurrently with other calls on
 *   the same object. Cost: a store into @obj's table slot.
 */
RCGC_API void rcgc_untrack(rcgc_object *obj);

/**
 * rcgc_is_tracked - Whether the collector looks at @obj (gc.is_tracked).
 * Thread safety: any thread. Cost: one load.
 */
RCGC_API bool rcgc_is_tracked(const rcgc_object *obj);

/**
 * rcgc_is_finalized - Whether @obj's finalize hook has run (gc.is_finalized).
 * Thread safety: any thread. Cost: one load.
 */
RCGC_API bool rcgc_is_finalized(const rcgc_object *obj);

/* ----------------------------------------------------------- Introspection */

/**
 * typedef rcgc_walk_fn - A visitor of the object walks below: return 0 to
 * go on, anything else to stop the walk there (a search that found what
 * it looked for). Traverse hooks keep rcgc_visit_fn, which cannot stop.
 */
typedef int (*rcgc_walk_fn)(rcgc_object *obj, void *arg);

/**
 * rcgc_get_objects - Call @visit(obj, @arg) for every object tracked in
 * @generation (0-2), or in all three for -1 (gc.get_objects; the permanent
 * generation is not included), until @visit returns non-zero.
 *
 * Returns how many objects were visited (the one that stopped the walk
 * included), or -1 with errno = EINVAL or ENOMEM. The objects are listed
 * with the world stopped and each is held by a reference while @visit
 * runs, with the world running again, so @visit may do anything.
 * Thread safety: any attached thread; not from a collection's hooks.
 * Cost: a stop of the world while every table is read; a reference taken
 *   and dropped per object; memory for one pointer per object.
 */
RCGC_API ptrdiff_t rcgc_get_objects(int generation, rcgc_walk_fn visit, void *arg);

/**
 * rcgc_get_referrers - Call @visit(referrer, @arg) for every tracked object
 * whose traverse hook reports a reference to @target (gc.get_referrers),
 * until @visit returns non-zero.
 * Returns the number visited, or -1 with errno = ENOMEM.
 * Thread safety: as rcgc_get_objects.
 * Cost: a stop of the world during which every tracked object's traverse
 *   hook runs.
 */
RCGC_API ptrdiff_t rcgc_get_referrers(rcgc_object *target, rcgc_walk_fn visit, void *arg);

/**
 * rcgc_get_referents - Call @visit(referent, @arg) for each reference
 * @obj's traverse hook reports (gc.get_referents), until @visit returns
 * non-zero; the referents are borrowed for the duration of the call.
 * Returns how many were visited.
 * Thread safety: any attached thread holding a reference to @obj, while
 *   no other thread changes @obj's references.
 * Cost: one call of @obj's traverse hook.
 */
RCGC_API size_t rcgc_get_referents(rcgc_object *obj, rcgc_walk_fn visit, void *arg);

/**
 * rcgc_get_all_objects - Call @visit(obj, @arg) for every live object,
 * tracked or not, frozen or not, until @visit returns non-zero: what
 * rcgc_get_objects lists plus strings, numbers and every other object the
 * collector does not track, found by walking the allocator's blocks.
 *
 * Returns how many objects were visited, or -1 with errno = ENOMEM (or as
 * set by reading /proc/self/maps). Listed: objects from rcgc_new's return
 * until their death begins; not listed: dying objects, dead ones kept on
 * free lists, objects above 32 MiB. A block is recognized by its header
 * and by a type pointer that leads to an rcgc_type in mapped memory (a
 * printable name, known flags, hooks in code): a plain rcgc_malloc block
 * shaped exactly like that would be listed too. Each object is held by a
 * reference while @visit runs, with the world running, as in
 * rcgc_get_objects.
 * Thread safety: as rcgc_get_objects.
 * Cost: a read of /proc/self/maps, then a stop of the world while every
 *   block of every arena is looked at, a reference taken and dropped per
 *   object, one pointer of memory per object: 11 to 14 ms in all for a
 *   million live objects on the project's 2-core VM (bench/debug/census_cost).
 */
RCGC_API ptrdiff_t rcgc_get_all_objects(rcgc_walk_fn visit, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_GC_H */
