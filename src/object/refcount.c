/* src/object/refcount.c - the slow paths of biased reference counting, the
 * merge protocol, and the per-owner queue.
 *
 * Shared: each object's ob_ref_shared (C11 atomics, CAS), its ob_tid and
 * ob_flags (relaxed; written by the owner or by whoever merges once the
 * owner is gone), and each thread's queue (its queue_mutex).
 *
 * How a decrement from a non-owner reaches zero safely (PEP 703's scheme,
 * after Choi, Shull and Torrellas):
 *   - the owner counts in ob_ref_local; others add and subtract on
 *     ob_ref_shared, which may go negative: the owner holds those refs;
 *   - a non-owner whose decrement finds the shared count at exactly 0 (and
 *     no state bits) cannot tell whether it dropped the last reference, so
 *     it marks the object QUEUED instead of subtracting and hands it to the
 *     owner's queue, the reference still counted; the owner merges
 *     (local + shared - 1) at its next safepoint and releases at zero;
 *   - when the owner's own count reaches zero it merges: drops ownership
 *     (ob_tid = 0) and marks the shared count MERGED; from then on every
 *     count is in ob_ref_shared and the decrement that takes a MERGED count
 *     to zero releases the object, exactly once (the CAS decides);
 *   - if the owner has exited (its id is dead: detach cleared it under the
 *     queue mutex), the queuer merges by itself: nobody can write the local
 *     count any more, and the mutex made the owner's last writes visible;
 *   - if the owner's queue cannot grow (out of memory), the queuer stops
 *     the world and merges by itself: the owner is then parked or blocked,
 *     so its local count holds still, and the stop's mutexes order its
 *     last writes before the merge. A decrement cannot fail, so it must
 *     not depend on memory; the stop is rare and costs what a young
 *     collection's does (free-threaded CPython falls back the same way).
 */
#include "gc/gc_object.h"
#include "object/object_internal.h"

#include <rcgc/raw.h>

#include <errno.h>

static inline unsigned obj_mode(const rcgc_object *obj) {
    return atomic_load_explicit(&obj->ob_flags, memory_order_relaxed) & OBJ_MODE_MASK;
}

/* Touching objects needs an attached thread. The inline fast path never
 * sees an unattached one (its id matches no object), so every touch from
 * such a thread arrives here, where the check is one thread-local load:
 * cheap enough for every build. Immortal objects are exempt: their counts
 * are never written, so any thread may touch them. */
static inline void check_attached(const rcgc_object *obj, const char *where) {
    if (RCGC_UNLIKELY(rcgc_tls_thread_id == UINT32_MAX))
        rcgc__report_object(obj, "touched from a thread that is not attached", where);
}

/* R1 (object_internal.h): nothing in a dead object's header but its shared
 * count can be trusted, so the slow paths look there first. */
static inline void check_alive(const rcgc_object *obj, const char *where) {
    if (RCGC_UNLIKELY(
            rcgc__ref_is_dead(atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed))))
        rcgc__report_dead_object(obj, where);
}

void rcgc_incref_slow(rcgc_object *obj) {
    check_alive(obj, "rcgc_incref");
    unsigned mode = obj_mode(obj);
    if (mode == RCGC_RC_IMMORTAL)
        return;
    check_attached(obj, "rcgc_incref");
    rcgc_gc_barrier_check(obj);
    if (mode == RCGC_RC_DEFERRED) {
        rcgc__deferred_add(obj, 1);
        return;
    }
    /* Relaxed: an increment needs no ordering, only atomicity (the caller
     * already holds a reference, so the object cannot die meanwhile). */
    atomic_fetch_add_explicit(&obj->ob_ref_shared, REF_ONE, memory_order_relaxed);
}

bool rcgc__object_try_incref_slow(rcgc_object *obj) {
    int64_t shared = atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed);
    if ((shared & REF_STATE_MASK) == REF_DEAD)
        return false; /* on a list of deaths: decided while the world was stopped */
    unsigned mode = obj_mode(obj);
    if (mode == RCGC_RC_IMMORTAL)
        return true;
    check_attached(obj, "rcgc_weakref_get");
    if (mode == RCGC_RC_DEFERRED) {
        rcgc_gc_barrier_check(obj);
        rcgc__deferred_add(obj, 1);
        return true;
    }
    /* Owned (or queued): the owner has not merged yet, so the object lives,
     * and its merge, a compare-and-swap, will count this reference. Merged:
     * alive while the count is above zero; the decrement that reaches zero
     * and this increment are ordered by the same word. */
    for (;;) {
        if ((shared & REF_STATE_MASK) == REF_DEAD ||
            ((shared & REF_MERGED) != 0 && (shared >> REF_SHARED_SHIFT) <= 0))
            return false;
        if (atomic_compare_exchange_weak_explicit(&obj->ob_ref_shared, &shared, shared + REF_ONE,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            rcgc_gc_barrier_check(obj);
            return true;
        }
    }
}

int64_t rcgc__merge_refcount(rcgc_object *obj, int64_t extra) {
    /* Owner and local count go first: the CAS below publishes MERGED, and
     * from that instant another thread may take the count to zero and free
     * the object, so nothing may be written to it after the CAS (a write
     * after it was a use after free, found by stress_objects under TSan). */
    uint32_t local = atomic_load_explicit(&obj->ob_ref_local, memory_order_relaxed);
    rcgc__object_owner_lost(obj);
    atomic_store_explicit(&obj->ob_tid, 0, memory_order_relaxed);
    atomic_store_explicit(&obj->ob_ref_local, 0, memory_order_relaxed);
    int64_t shared = atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed);
    int64_t total, merged;
    do {
        total = (shared >> REF_SHARED_SHIFT) + local + extra;
        merged = total * REF_ONE | REF_MERGED;
        /* acq_rel: the merge orders with every other thread's decrement, so
         * whoever sees the count reach zero sees all writes to the object,
         * the two stores above included. */
    } while (!atomic_compare_exchange_weak_explicit(&obj->ob_ref_shared, &shared, merged,
                                                    memory_order_acq_rel, memory_order_relaxed));
    return total;
}

/* After a merge that dropped a queued reference: the object dies at zero
 * (now, or listed on *@dead for after a restart when @dead is not NULL);
 * below zero, someone dropped a reference they did not hold. */
static void after_merge(rcgc_object *obj, int64_t total, unsigned mode_before, rcgc_object **dead) {
    /* An object queued before it became deferred is merged here; its death
     * waits for a sync, since another thread's table may still hold a
     * pending increment for it. The mode is read before the merge: after
     * its CAS, another thread may already have freed the object. */
    if (mode_before == RCGC_RC_DEFERRED)
        return;
    if (total < 0)
        rcgc__report_object(obj, "refcount below zero on", "rcgc_decref");
    if (total != 0)
        return;
    if (dead == NULL) {
        rcgc__object_die(obj);
        return;
    }
    /* Found dead by a stopped world: no collection may see it as a
     * candidate while its death waits for the restart. */
    rcgc__gc_untrack_if_tracked(obj);
    rcgc__death_list_push(dead, obj);
}

/* The owner's queue is full and cannot grow: merge with the owner
 * stopped, dropping the queued reference (see the file comment). */
RCGC_NOINLINE RCGC_COLD static void merge_with_world_stopped(rcgc_object *obj) {
    unsigned mode = obj_mode(obj);
    rcgc__stop_the_world();
    int64_t total = rcgc__merge_refcount(obj, -1);
    rcgc__start_the_world();
    after_merge(obj, total, mode, NULL); /* a death runs after the restart */
}

/* A non-owner found the shared count at 0: the owner must merge. */
static void queue_for_owner(rcgc_object *obj) {
    uint32_t tid = atomic_load_explicit(&obj->ob_tid, memory_order_relaxed);
    struct thread_record *owner = rcgc__thread_lock_by_tid(tid);
    if (owner != NULL) {
        rcgc__thread_enqueue_unlock(owner, obj);
        return;
    }
    /* The owner is gone: merge here, dropping the queued reference. */
    unsigned mode = obj_mode(obj);
    after_merge(obj, rcgc__merge_refcount(obj, -1), mode, NULL);
}

void rcgc_decref_slow(rcgc_object *obj) {
    check_alive(obj, "rcgc_decref");
    unsigned mode = obj_mode(obj);
    if (mode == RCGC_RC_IMMORTAL)
        return;
    check_attached(obj, "rcgc_decref");
    if (mode == RCGC_RC_DEFERRED) {
        rcgc__deferred_add(obj, -1); /* released only by a sync */
        return;
    }
    /* Not the owner here: an object never gains an owner after it is
     * made (ob_tid only ever goes to 0), so the inline check still holds. */
    int64_t shared = atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed);
    if (shared & REF_MERGED) {
        /* MERGED never goes away, so no CAS loop is needed: one subtraction,
         * whose result says whether this was the last reference. acq_rel as
         * below. (bench/refcount: a hot atomic object, 2 threads.) */
        int64_t left =
            atomic_fetch_sub_explicit(&obj->ob_ref_shared, REF_ONE, memory_order_acq_rel) - REF_ONE;
        if (left == REF_MERGED)
            rcgc__object_die(obj);
        else if (left < 0)
            rcgc__report_object(obj, "refcount below zero on", "rcgc_decref");
        return;
    }
    int64_t next;
    bool queue;
    do {
        queue = shared == 0;
        next = queue ? REF_QUEUED : shared - REF_ONE;
        /* Release: this thread's writes to the object happen before its
         * release by whichever thread takes the count to zero (acquire). */
    } while (!atomic_compare_exchange_weak_explicit(&obj->ob_ref_shared, &shared, next,
                                                    memory_order_acq_rel, memory_order_relaxed));
    if (queue)
        queue_for_owner(obj);
    else if (next == REF_MERGED)
        rcgc__object_die(obj);
    else if ((next & REF_MERGED) != 0 && next < 0)
        rcgc__report_object(obj, "refcount below zero on", "rcgc_decref");
}

size_t rcgc_refcount(const rcgc_object *obj) {
    if (obj_mode(obj) == RCGC_RC_IMMORTAL)
        return UINT32_MAX;
    int64_t shared = atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed);
    int64_t total = (shared >> REF_SHARED_SHIFT) +
                    atomic_load_explicit(&obj->ob_ref_local, memory_order_relaxed);
    if (obj_mode(obj) == RCGC_RC_DEFERRED)
        total += rcgc__deferred_pending(obj);
    return total > 0 ? (size_t)total : 0;
}

int rcgc_rc_mode(const rcgc_object *obj) { return (int)obj_mode(obj); }

int rcgc_set_rc_mode(rcgc_object *obj, int mode) {
    unsigned current = obj_mode(obj);
    if (mode < RCGC_RC_BIASED || mode > RCGC_RC_IMMORTAL ||
        (current == RCGC_RC_IMMORTAL && mode != RCGC_RC_IMMORTAL) ||
        (current == RCGC_RC_DEFERRED && mode != RCGC_RC_DEFERRED)) {
        errno = EINVAL;
        return -1;
    }
    if (current == (unsigned)mode)
        return 0;
    uint32_t tid = atomic_load_explicit(&obj->ob_tid, memory_order_relaxed);
    if (mode != RCGC_RC_BIASED && tid != 0) {
        if (tid != rcgc_tls_thread_id)
            rcgc__report_object(obj, "rc mode changed by a thread that does not own",
                                "rcgc_set_rc_mode");
        rcgc__merge_refcount(obj, 0);
    }
    if (mode == RCGC_RC_DEFERRED && rcgc__deferred_register(obj) != 0)
        return -1;
    /* A CAS: another thread may be setting OBJ_DEATH_WATCHED meanwhile. */
    uint16_t flags = atomic_load_explicit(&obj->ob_flags, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        &obj->ob_flags, &flags, (uint16_t)((flags & ~OBJ_MODE_MASK) | (unsigned)mode),
        memory_order_relaxed, memory_order_relaxed)) {
    }
    return 0;
}

/* ------------------------------------------------------------- The queue */

void rcgc__thread_enqueue_unlock(struct thread_record *record, rcgc_object *obj) {
    /* A growable array from the raw layer; when it cannot grow, the
     * reference is merged with the world stopped instead of queued. */
    if (record->queue_length == record->queue_capacity) {
        size_t capacity = record->queue_capacity ? record->queue_capacity * 2 : 64;
        /* The elements are pointers, so sizeof of a pointer is meant. */
        // NOLINTNEXTLINE(bugprone-sizeof-expression)
        rcgc_object **grown = rcgc_raw_realloc(record->queue, capacity * sizeof(rcgc_object *));
        if (grown == NULL) {
            pthread_mutex_unlock(&record->queue_mutex);
            merge_with_world_stopped(obj);
            return;
        }
        record->queue = grown;
        record->queue_capacity = capacity;
    }
    record->queue[record->queue_length++] = obj;
    atomic_store_explicit(&record->queue_pending, true, memory_order_relaxed);
    pthread_mutex_unlock(&record->queue_mutex);
}

void rcgc__thread_drain_queue(struct thread_record *record, rcgc_object **dead) {
    if (!atomic_load_explicit(&record->queue_pending, memory_order_relaxed))
        return;
    for (;;) {
        pthread_mutex_lock(&record->queue_mutex);
        if (record->queue_length == 0) {
            atomic_store_explicit(&record->queue_pending, false, memory_order_relaxed);
            pthread_mutex_unlock(&record->queue_mutex);
            return;
        }
        rcgc_object *obj = record->queue[--record->queue_length];
        pthread_mutex_unlock(&record->queue_mutex);
        /* Outside the mutex: a death runs the type's hooks, which may
         * decrement other objects and queue more. */
        unsigned mode = obj_mode(obj);
        after_merge(obj, rcgc__merge_refcount(obj, -1), mode, dead);
    }
}
