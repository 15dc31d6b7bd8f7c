/* src/object/deferred.c - deferred reference counts: per-thread tables of
 * pending changes, and the sync that applies them all and releases what
 * reached zero.
 *
 * Owned by one thread: its table (in its record), written only by it -
 * except while it is parked or suspended, when a stopper applies it (the
 * park and restart go through park_mutex, which orders the accesses).
 * Shared: the list of deferred objects (deferred_mutex), and each deferred
 * object's shared count, which tables are applied to atomically.
 *
 * Why a release waits for a sync: a count read while other threads still
 * hold pending changes means nothing; only with the world stopped and every
 * table applied is zero really zero.
 */
#include "gc/gc_object.h"
#include "object/object_internal.h"

#include <rcgc/raw.h>

#include <errno.h>

/* The deferred objects, under deferred_mutex (raw layer memory).
 *
 *   D1  deferred_count + deferred_reserved <= deferred_capacity
 *   D2  deferred_reserved == the number of deferred objects a sync took off
 *       the list to die whose finalizer has not run yet
 *
 * Why reserve: such a finalizer may resurrect its object, which must then
 * go back on the list (only a later sync, with every table applied, can
 * tell whether it died) - and that cannot fail for want of memory, since
 * the death that runs the finalizer has no way to report it. The slot the
 * sync freed is kept for it instead. */
static pthread_mutex_t deferred_mutex = PTHREAD_MUTEX_INITIALIZER;
static rcgc_object **deferred_objects;
static size_t deferred_count, deferred_capacity, deferred_reserved;

void rcgc__deferred_fork_lock(void) { pthread_mutex_lock(&deferred_mutex); }
void rcgc__deferred_fork_unlock(void) { pthread_mutex_unlock(&deferred_mutex); }

static void deferred_check_locked(void) {
    rcgc_assert_internal(deferred_count + deferred_reserved <= deferred_capacity); /* D1 */
}

int rcgc__deferred_register(rcgc_object *obj) {
    pthread_mutex_lock(&deferred_mutex);
    if (deferred_count + deferred_reserved == deferred_capacity) {
        size_t capacity = deferred_capacity ? deferred_capacity * 2 : 64;
        /* The elements are pointers, so sizeof of a pointer is meant. */
        // NOLINTNEXTLINE(bugprone-sizeof-expression)
        rcgc_object **grown = rcgc_raw_realloc(deferred_objects, capacity * sizeof(rcgc_object *));
        if (grown == NULL) {
            pthread_mutex_unlock(&deferred_mutex);
            errno = ENOMEM;
            return -1;
        }
        deferred_objects = grown;
        deferred_capacity = capacity;
    }
    deferred_objects[deferred_count++] = obj;
    deferred_check_locked();
    pthread_mutex_unlock(&deferred_mutex);
    return 0;
}

static _Atomic uint64_t deferred_returned;

uint64_t rcgc__deferred_returned(void) {
    return atomic_load_explicit(&deferred_returned, memory_order_relaxed);
}

void rcgc__deferred_register_reserved(rcgc_object *obj) {
    atomic_fetch_add_explicit(&deferred_returned, 1, memory_order_relaxed);
    pthread_mutex_lock(&deferred_mutex);
    if (deferred_reserved == 0)
        rcgc__report_object(
            obj, "went back on the deferred list without a reserved slot:", "rcgc_decref");
    deferred_reserved--;
    deferred_objects[deferred_count++] = obj;
    deferred_check_locked();
    pthread_mutex_unlock(&deferred_mutex);
}

static void apply(rcgc_object *obj, int64_t delta) {
    /* Relaxed: releases happen only in a sync, after a stop of the world
     * whose mutexes order every application before the check. */
    if (delta != 0)
        atomic_fetch_add_explicit(&obj->ob_ref_shared, delta * REF_ONE, memory_order_relaxed);
}

void rcgc__deferred_flush(struct thread_record *record) {
    for (unsigned i = 0; i < DEFERRED_ENTRIES && record->deferred_used > 0; i++) {
        struct deferred_entry *entry = &record->deferred[i];
        if (entry->obj == NULL)
            continue;
        apply(entry->obj, entry->delta);
        entry->obj = NULL;
        entry->delta = 0;
        record->deferred_used--;
    }
}

static inline unsigned deferred_home_slot(const rcgc_object *obj) {
    /* Fibonacci hashing of the address; linear probing from here. */
    return (unsigned)(((uintptr_t)obj * 0x9e3779b97f4a7c15u) >> 58);
}

int64_t rcgc__deferred_pending(const rcgc_object *obj) {
    struct thread_record *record = rcgc__thread_record();
    if (record == NULL)
        return 0;
    for (unsigned slot = deferred_home_slot(obj);; slot = (slot + 1) % DEFERRED_ENTRIES) {
        const struct deferred_entry *entry = &record->deferred[slot];
        if (entry->obj == obj)
            return entry->delta;
        if (entry->obj == NULL)
            return 0; /* the table is never full: probing ends at a hole */
    }
}

void rcgc__deferred_add(rcgc_object *obj, int64_t delta) {
    struct thread_record *record = rcgc__thread_record();
    if (record == NULL) {
        apply(obj, delta); /* an unattached thread has no table */
        return;
    }
    unsigned slot = deferred_home_slot(obj);
    for (;;) {
        struct deferred_entry *entry = &record->deferred[slot];
        if (entry->obj == obj) {
            entry->delta += delta;
            return;
        }
        if (entry->obj == NULL) {
            if (record->deferred_used >= DEFERRED_ENTRIES * 3 / 4) {
                rcgc__deferred_flush(record);
                continue; /* the table is empty now: this slot is free */
            }
            entry->obj = obj;
            entry->delta = delta;
            record->deferred_used++;
            return;
        }
        slot = (slot + 1) % DEFERRED_ENTRIES;
    }
}

static void flush_record(struct thread_record *record, void *arg) {
    (void)arg;
    rcgc__deferred_flush(record);
}

size_t rcgc__deferred_apply_all_stopped(rcgc_object **dead) {
    rcgc_assert_stopped();
    /* Every table, the caller's included: the other threads are parked,
     * suspended or detached (detach applies its own table first). */
    rcgc__threads_lock_held_walk(flush_record, NULL);
    rcgc_object *listed_before = *dead;
    pthread_mutex_lock(&deferred_mutex);
    size_t died = 0;
    for (size_t i = 0; i < deferred_count;) {
        rcgc_object *obj = deferred_objects[i];
        int64_t shared = atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed);
        if ((shared >> REF_SHARED_SHIFT) > 0) {
            i++;
            continue;
        }
        if (shared >> REF_SHARED_SHIFT < 0)
            rcgc__report_object(obj, "refcount below zero on", "rcgc_sync_deferred");
        deferred_objects[i] = deferred_objects[--deferred_count];
        if (rcgc__object_finalizer_pending(obj))
            deferred_reserved++; /* D2: its slot waits for the finalizer */
        /* Found at zero by a stopped world: no collection may see it as a
         * candidate while its death waits for the restart. */
        rcgc__gc_untrack_if_tracked(obj);
        rcgc__death_list_push(dead, obj);
        died++;
    }
    pthread_mutex_unlock(&deferred_mutex);
    /* What watches them is cleared now, while nothing runs: after the
     * restart a weak reference's get would only add to a table, which
     * cannot tell it is too late (outside the mutex: the hook takes
     * locks of its own). */
    for (rcgc_object *obj = *dead; obj != listed_before; obj = rcgc__dead_link_next(obj))
        rcgc__object_death_found_stopped(obj, NULL);
    return died;
}

size_t rcgc_sync_deferred(void) {
    /* The deaths run hooks that drop references: an unattached caller is
     * attached for the call, as by rcgc_collect. */
    bool attached_here = false;
    if (!rcgc_thread_is_attached()) {
        if (rcgc_thread_attach() != 0)
            return 0;
        attached_here = true;
    }
    rcgc__stop_the_world();
    rcgc_object *dead = NULL;
    size_t died = rcgc__deferred_apply_all_stopped(&dead);
    rcgc__start_the_world();
    /* Deaths run after the restart: hooks may touch other objects and take
     * locks that parked threads hold (DESIGN principle 3). */
    rcgc__death_list_run(dead);
    rcgc__object_run_postponed();
    if (attached_here)
        rcgc_thread_detach();
    return died;
}
