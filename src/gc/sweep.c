/* src/gc/sweep.c - a collection's last step, shared with the threads that
 * own the garbage: each clears and drops its own objects at its next
 * safepoint, so their frees are local and the collecting thread does not
 * pull every other core's garbage through its cache twice more.
 *
 * The held objects are split into batches by owner while the world is
 * stopped (rcgc__gc_sweep_batch_of, from the threads found parked); the
 * collecting thread keeps its own objects, those of threads that were
 * blocked or gone (merged when held), and any past GC_SWEEP_BATCHES - 1
 * owners. Two phases run over the batches, with a barrier between them:
 *
 *   1  every clear hook runs; each thread then flushes its deferred table
 *   2  every held reference is dropped, except those of objects still
 *      referenced once all clears ran (by garbage with no clear hook):
 *      their batch keeps them for the collector, which re-tracks them
 *      (old tables are its alone: G2) before it drops them
 *
 * so CPython's rule (an object is known to survive only once every clear
 * ran) holds across threads, and the checked builds' test of the held
 * counts runs at the barrier, when no thread touches a held object.
 *
 * A batch is posted, then taken by exactly one thread (a compare-and-swap
 * from POSTED to TAKEN, by its owner at a safepoint or by the collector),
 * worked and marked DONE. The collector takes a batch itself when its
 * owner is not running or has not taken it within GC_SWEEP_WAIT_NS. Every
 * held object of another thread had its counts merged when it was held
 * (collect.c), so any thread's drops are atomic subtractions and the last
 * one kills it on the spot: rcgc_collect frees what it found before it
 * returns, whoever worked the batch. The collector's own objects keep
 * their biased counts; drops of them by other threads' clears are queued
 * to it, and it drains its queue at the barrier.
 *
 * Shared: `sweep` below. The collector (gc_mutex held) writes a batch's
 * range and the phase before the release store of POSTED; a thread reads
 * them after its acquiring compare-and-swap. Owner ids and the batch count
 * are relaxed atomics, read by threads looking for their batch; a thread
 * that takes a batch not its own (a stale id) still does it right, only
 * with the slower cross-thread paths.
 */
#include "gc/gc_internal.h"

#include <rcgc/raw.h>

#include <sched.h>

/* How long the collector lets a running owner take its batch. A thread
 * making objects polls a safepoint at each one, so this is reached only
 * by a thread that computes or waits without touching rcgc. */
#define GC_SWEEP_WAIT_NS 1000000u

enum batch_state { BATCH_IDLE = 0, BATCH_POSTED, BATCH_TAKEN, BATCH_DONE };

struct sweep_batch {
    _Atomic uint32_t tid;  /* the owner it is posted to; 0 for the collector's */
    _Atomic int state;     /* enum batch_state */
    uint32_t first, count; /* its range of sweep.order */
    uint32_t kept;         /* phase 2: order[first, first + kept) still referenced */
    size_t cleared;        /* phase 1: held objects whose clear ran */
};

static struct {
    _Atomic unsigned batches; /* posted this collection; 0 between sweeps */
    int phase;                /* 1 or 2: written before the batches are posted */
    rcgc_object **held;
    uint32_t *order; /* held indices, grouped by batch; NULL: one batch, in place */
    struct gc_table *target;
    struct sweep_batch batch[GC_SWEEP_BATCHES];
} sweep;

/* Still referenced once every clear hook ran (by an object with no clear
 * hook), or immortal: it lives on, tracked. */
static bool still_referenced(const rcgc_object *obj) {
    return gc_is_held(obj) && (rcgc__refcount_applied(obj) > 1 ||
                               (gc_flags_load(obj) & OBJ_MODE_MASK) == RCGC_RC_IMMORTAL);
}

/* ------------------------------------------------------ Owners, stopped */

static void note_parked(struct thread_record *record, void *arg) {
    struct gc_sweep_owners *owners = arg;
    uint32_t tid = atomic_load_explicit(&record->tid, memory_order_relaxed);
    if (tid == 0 || tid == rcgc_tls_thread_id || owners->count >= GC_SWEEP_BATCHES ||
        atomic_load_explicit(&record->state, memory_order_relaxed) != THREAD_PARKED)
        return;
    owners->tid[owners->count++] = tid;
}

void rcgc__gc_sweep_note_owners_stopped(struct gc_sweep_owners *owners) {
    rcgc_assert_stopped();
    owners->count = 1; /* batch 0: the collector's */
    owners->tid[0] = 0;
    rcgc__threads_lock_held_walk(note_parked, owners);
}

unsigned rcgc__gc_sweep_batch_of(const struct gc_sweep_owners *owners, uint32_t tid) {
    for (unsigned b = 1; b < owners->count; b++)
        if (owners->tid[b] == tid)
            return b;
    return 0;
}

/* --------------------------------------------------------------- Batches */

/* The held object at position @i of a batch: through the order array, or
 * held[i] itself when the collector sweeps alone (no order array). */
static inline rcgc_object *batch_object(uint32_t i) {
    return sweep.order != NULL ? sweep.held[sweep.order[i]] : sweep.held[i];
}

/* A survivor goes back into the collector's target table, then loses the
 * collector's reference. Only the collecting thread calls this (G2). */
static void keep_survivor(rcgc_object *obj) {
    if (!gc_table_append(sweep.target, obj))
        rcgc__fatal("rcgc: generation table could not grow during a collection");
    rcgc_decref(obj);
}

static void work(struct sweep_batch *b, int phase) {
    if (phase == 1) {
        size_t cleared = 0;
        for (uint32_t i = b->first; i < b->first + b->count; i++) {
            rcgc_object *obj = batch_object(i);
            if (!gc_is_held(obj))
                continue; /* resurrected by a finalizer, or uncollectable */
            cleared++;
            if (obj->ob_type->clear != NULL)
                obj->ob_type->clear(obj);
        }
        b->cleared = cleared;
        /* The clears' drops of deferred objects sit in this thread's table. */
        if (rcgc__thread_record() != NULL)
            rcgc__deferred_flush(rcgc__thread_record());
        return;
    }
    uint32_t kept = 0;
    for (uint32_t i = b->first; i < b->first + b->count; i++) {
        rcgc_object *obj = batch_object(i);
        if (!still_referenced(obj)) {
            rcgc_decref(obj);
        } else if (sweep.order == NULL) {
            keep_survivor(obj); /* the collector, sweeping alone */
        } else {
            /* Keeps the collector's reference until the collector has
             * tracked it (after the phase). */
            sweep.order[b->first + kept++] = sweep.order[i];
        }
    }
    b->kept = kept;
}

/* Take @b if it is still posted, work it, and mark it done. */
static void take(struct sweep_batch *b) {
    int expected = BATCH_POSTED;
    if (!atomic_compare_exchange_strong_explicit(&b->state, &expected, BATCH_TAKEN,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return;
    work(b, sweep.phase);
    atomic_store_explicit(&b->state, BATCH_DONE, memory_order_release);
}

/* rcgc__help_hook: a thread at a safepoint takes the batches posted to it.
 * While it works one it is part of the collection: its hooks' calls to
 * rcgc_collect return 0 and automatic collections wait, as on the
 * collecting thread, and it borrows gc_mutex, which the collector holds
 * while it waits for this batch. */
static void help(void) {
    if (rcgc__gc_in_collection)
        return; /* the collector works its own batch directly */
    uint32_t me = rcgc_tls_thread_id;
    unsigned batches = atomic_load_explicit(&sweep.batches, memory_order_relaxed);
    for (unsigned b = 1; b < batches && b < GC_SWEEP_BATCHES; b++) {
        if (atomic_load_explicit(&sweep.batch[b].tid, memory_order_relaxed) != me)
            continue;
        rcgc__gc_in_collection = true;
        rcgc__gc_lock_borrow(true);
        take(&sweep.batch[b]);
        rcgc__gc_lock_borrow(false);
        rcgc__gc_in_collection = false;
    }
}

/* The collector's side of a phase: post the owners' batches, work its
 * own, then wait for the others, taking any whose owner does not come. */
static void run_phase(int phase, unsigned batches) {
    bool away[GC_SWEEP_BATCHES] = {false};
    sweep.phase = phase;
    for (unsigned b = 1; b < batches; b++) {
        struct sweep_batch *batch = &sweep.batch[b];
        atomic_store_explicit(&batch->state, batch->count > 0 ? BATCH_POSTED : BATCH_DONE,
                              memory_order_release);
        if (batch->count > 0)
            away[b] =
                !rcgc__thread_request_help(atomic_load_explicit(&batch->tid, memory_order_relaxed));
    }
    work(&sweep.batch[0], phase);
    for (unsigned b = 1; b < batches; b++) {
        struct sweep_batch *batch = &sweep.batch[b];
        if (away[b])
            take(batch); /* blocked or gone when asked: it will not come */
        uint64_t start = rcgc__now_ns();
        for (unsigned spins = 1;
             atomic_load_explicit(&batch->state, memory_order_acquire) != BATCH_DONE; spins++) {
            /* A hook of the owner's may stop the world (rcgc_get_objects):
             * park for it. */
            rcgc__safepoint_poll();
            if (spins % 64 != 0) {
                rcgc__cpu_relax();
                continue;
            }
            /* Now and then: has the owner blocked since, or is it too
             * slow to come? Else give the core away: it may be the
             * owner's. */
            uint32_t tid = atomic_load_explicit(&batch->tid, memory_order_relaxed);
            if (rcgc__now_ns() - start > GC_SWEEP_WAIT_NS || !rcgc__thread_is_running(tid))
                take(batch);
            else
                sched_yield();
        }
    }
}

/* ------------------------------------------------------------- The sweep */

/* Set up @batches batches over the @count held objects: with one, the
 * collector's, over the held array in place; with more, grouped by
 * batch_of into @order (a counting sort). */
static void plan(rcgc_object **held, const uint8_t *batch_of, uint32_t count,
                 const struct gc_sweep_owners *owners, unsigned batches, uint32_t *order) {
    for (unsigned b = 0; b < batches; b++) {
        struct sweep_batch *batch = &sweep.batch[b];
        /* Field by field: a thread looking for its batch may read the
         * atomics meanwhile. */
        atomic_store_explicit(&batch->tid, owners->tid[b], memory_order_relaxed);
        atomic_store_explicit(&batch->state, BATCH_IDLE, memory_order_relaxed);
        batch->first = batch->count = batch->kept = 0;
        batch->cleared = 0;
    }
    sweep.held = held;
    sweep.order = order;
    if (order == NULL) {
        sweep.batch[0].count = count;
        return;
    }
    uint32_t at[GC_SWEEP_BATCHES];
    for (uint32_t k = 0; k < count; k++)
        sweep.batch[batch_of[k]].count++;
    for (unsigned b = 1; b < batches; b++)
        sweep.batch[b].first = sweep.batch[b - 1].first + sweep.batch[b - 1].count;
    for (unsigned b = 0; b < batches; b++)
        at[b] = sweep.batch[b].first;
    for (uint32_t k = 0; k < count; k++)
        order[at[batch_of[k]]++] = k;
}

size_t rcgc__gc_sweep(rcgc_object **held, const uint8_t *batch_of, uint32_t count,
                      const struct gc_sweep_owners *owners, struct gc_table *target,
                      void (*at_barrier)(void *arg), void *arg) {
    unsigned batches = owners->count > 0 ? owners->count : 1;
    uint32_t *order =
        batches > 1 ? rcgc_raw_malloc((size_t)(count > 0 ? count : 1) * sizeof(uint32_t)) : NULL;
    if (order == NULL)
        batches = 1; /* alone: no other thread, or no memory to group them */
    plan(held, batch_of, count, owners, batches, order);
    sweep.target = target;

    atomic_store_explicit(&rcgc__help_hook, help, memory_order_release);
    atomic_store_explicit(&sweep.batches, batches, memory_order_relaxed);
    run_phase(1, batches);
    /* Other threads' clears may have dropped references to the
     * collector's own objects, whose counts stay biased: those drops sit
     * in its queue, and a queued reference would make garbage look
     * referenced. Apply them (no held object reaches zero: the collector
     * holds one reference to each). */
    if (batches > 1 && rcgc__thread_record() != NULL)
        rcgc__thread_drain_queue(rcgc__thread_record(), NULL);
    if (at_barrier != NULL)
        at_barrier(arg);
    run_phase(2, batches);
    atomic_store_explicit(&sweep.batches, 0, memory_order_relaxed);

    /* Survivors the batches kept (alone, the collector kept them itself). */
    size_t cleared = 0;
    for (unsigned b = 0; b < batches; b++) {
        struct sweep_batch *batch = &sweep.batch[b];
        cleared += batch->cleared;
        for (uint32_t i = batch->first; order != NULL && i < batch->first + batch->kept; i++)
            keep_survivor(held[order[i]]);
    }
    rcgc_raw_free(order);
    return cleared;
}
