/* src/object/object_internal.h - layer 3 inside rcgc: the object header's
 * count and flag bits, merging, death (and its hook), free lists and
 * deferred counts. Thread records and stopping the world are in
 * thread_internal.h.
 *
 * Invariants: R1 (a dead object's count word, below), T0 (thread ids
 * never match a freed block's first word, thread_internal.h), D1-D2 (the
 * deferred list, deferred.c).
 */
#ifndef RCGC_OBJECT_INTERNAL_H
#define RCGC_OBJECT_INTERNAL_H

#include "object/thread_internal.h"

#include <rcgc/object.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------ Reference counts */

/* ob_ref_shared holds count << 2 | state bits (PEP 703's layout).
 *
 *   state     meaning
 *   00        owned: the owner counts in ob_ref_local, others here
 *   01 QUEUED queued for its owner to merge (set only on a zero count)
 *   10 MERGED no owner any more: every count is here
 *   11 DEAD   the object is dead or dying: freed, on a free list, or on a
 *             list of deaths; the rest of the word is that list's link
 *
 * A live object never has both bits: QUEUED is set only on a zero count
 * and a merge replaces it with MERGED. So a stray decrement on a dead
 * object is told apart from a last reference by one load (R1 below). */
#define REF_SHARED_SHIFT 2
#define REF_QUEUED ((int64_t)1)
#define REF_MERGED ((int64_t)2)
#define REF_DEAD (REF_QUEUED | REF_MERGED)
#define REF_STATE_MASK ((int64_t)3)
#define REF_ONE ((int64_t)1 << REF_SHARED_SHIFT)
/* Checked builds (RCGC_CHECKS >= 2) fill freed blocks with 0xFE bytes
 * (layer 2): a freed
 * object's shared count then reads so, which no live object's can (a
 * merged count of about -2^62). */
#define REF_FREED_FILL ((int64_t)UINT64_C(0xFEFEFEFEFEFEFEFE))

/* R1: the slow paths of incref and decref read ob_ref_shared before they
 * trust anything else in the header, and report a dead object instead of
 * writing to it: a freed block's first 16 bytes hold the allocator's
 * free-list link and marker, which a decrement would corrupt. */
static inline bool rcgc__ref_is_dead(int64_t shared) {
#if RCGC_CHECKS >= 2
    return (shared & REF_STATE_MASK) == REF_DEAD || shared == REF_FREED_FILL;
#else
    return (shared & REF_STATE_MASK) == REF_DEAD; /* freed blocks are not filled */
#endif
}

/* The count as the object holds it: owner's plus shared, without any
 * thread's pending deferred changes (rcgc_refcount adds the caller's).
 * Inline for the collector's per-object passes. */
static inline int64_t rcgc__refcount_applied(const struct rcgc_object *obj) {
    return (atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed) >> REF_SHARED_SHIFT) +
           atomic_load_explicit(&obj->ob_ref_local, memory_order_relaxed);
}

/* The one list threaded through dead and dying objects' ob_ref_shared
 * (free lists, pending deaths, deaths waiting for a restart): the link,
 * marked DEAD. Objects are 16-byte aligned, so the state bits are free. */
static inline void rcgc__dead_link_set(struct rcgc_object *obj, struct rcgc_object *next) {
    atomic_store_explicit(&obj->ob_ref_shared, (int64_t)(intptr_t)next | REF_DEAD,
                          memory_order_relaxed);
}

static inline struct rcgc_object *rcgc__dead_link_next(const struct rcgc_object *obj) {
    int64_t link = atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed);
    return (struct rcgc_object *)(intptr_t)(link & ~REF_STATE_MASK);
}

/* ob_flags (meaningless once the object is dead: check R1 first) */
#define OBJ_MODE_MASK 3u
#define OBJ_FINALIZED (1u << 2)
#define OBJ_FIXED_SIZE (1u << 3) /* made by rcgc_new: may go on a free list */
/* Bits 4-6: the collector's generation (gc/gc_object.h). */
#define OBJ_DEATH_WATCHED (1u << 7) /* the death hook runs when it dies */

/* ----------------------------------------------------------- Death hooks
 *
 * The one place the layers above learn that an object died (weak
 * references clear themselves there). An object pays for it only once
 * something watches it: the flag is tested on the flags its death loads
 * anyway, and a watched object's death merges its counts first (so a
 * concurrent rcgc__object_try_incref is decided by one compare-and-swap,
 * and a get that wins keeps the object alive).
 *
 * Each watched object's death reaches the hooks once:
 *   - found_dead_stopped, with the world stopped, when a collection finds
 *     it unreachable (step 5; step 7 again for watchers its finalizers
 *     added) or a deferred sync finds it at zero:
 *     nothing may run there but clearing, and whatever must run later is
 *     kept for run_postponed;
 *   - died, with the world running, when its count reaches zero (after its
 *     finalizer, if it did not resurrect, and before its clear hook), or
 *     when garbage that gained watchers after step 5 dies in step 8.
 * run_postponed runs with the world running and no rcgc lock held: after
 * a collection releases gc_mutex, after a deferred sync's restart.
 * owner_lost runs just before a watched object's owner count is merged
 * away (it loses its owner, on any thread, maybe with the world stopped),
 * while the object is still whole: a weak reference made by the owner may
 * let the owner read through it without a lock only until then.
 *
 * OBJ_DEATH_WATCHED is set by any thread holding a reference, with an
 * atomic OR; every other writer of ob_flags either has the world stopped,
 * holds an object no other thread can reach (new, dying or held by a
 * collection), or writes with an atomic read-modify-write (rc mode
 * changes, rcgc_track and rcgc_untrack), so no set bit is ever lost. */
struct rcgc__death_hooks {
    void (*died)(struct rcgc_object *obj);
    /* @is_garbage, when not NULL, says which objects the same stop found
     * dead too (a watcher among them gets no callback). */
    void (*found_dead_stopped)(struct rcgc_object *obj,
                               bool (*is_garbage)(const struct rcgc_object *obj));
    void (*run_postponed)(void);
    void (*owner_lost)(struct rcgc_object *obj);
};

/* Install the hooks (once, by the layer that uses them; NULL removes). */
void rcgc__object_set_death_hooks(const struct rcgc__death_hooks *hooks);

/* From now on @obj's death runs the hooks. Any thread holding a reference. */
void rcgc__object_watch_death(struct rcgc_object *obj);

/* Run the died hook for @obj if it is watched, and stop watching it: it
 * runs once per object even when a collection finds it and its last
 * reference goes later. */
void rcgc__object_death_notify(struct rcgc_object *obj);

/* World stopped: the found_dead_stopped hook for @obj if it is watched,
 * and stop watching it. */
void rcgc__object_death_found_stopped(struct rcgc_object *obj,
                                      bool (*is_garbage)(const struct rcgc_object *obj));

/* No rcgc lock held, world running: the run_postponed hook. */
void rcgc__object_run_postponed(void);

/* @obj is about to lose its owner: the owner_lost hook if it is watched.
 * Called before the merge that publishes the loss. */
void rcgc__object_owner_lost_slow(struct rcgc_object *obj);

static inline void rcgc__object_owner_lost(struct rcgc_object *obj) {
    if (RCGC_UNLIKELY(
            (atomic_load_explicit(&obj->ob_flags, memory_order_relaxed) & OBJ_DEATH_WATCHED) != 0))
        rcgc__object_owner_lost_slow(obj);
}

/* A new reference to @obj unless its count already reached zero (then
 * false, and nothing written). The caller must know the memory is still
 * an object's - a weak reference's lock does that - and @obj must be
 * watched: only then does its death merge by a compare-and-swap this one
 * can race with. A deferred object is never found dead here: a sync
 * clears what watches it while the world is stopped. */
bool rcgc__object_try_incref_slow(struct rcgc_object *obj);

/* The owner's own count, above zero, cannot reach zero meanwhile: the
 * common case costs two loads and a store, inline. */
static inline bool rcgc__object_try_incref(struct rcgc_object *obj) {
    if (atomic_load_explicit(&obj->ob_tid, memory_order_relaxed) == rcgc_tls_thread_id) {
        uint32_t local = atomic_load_explicit(&obj->ob_ref_local, memory_order_relaxed);
        if (local > 0) {
            atomic_store_explicit(&obj->ob_ref_local, local + 1, memory_order_relaxed);
            rcgc_gc_barrier_check(obj);
            return true;
        }
    }
    return rcgc__object_try_incref_slow(obj);
}

/* Fold the owner's count into the shared one and drop the owner; returns
 * the total count, plus @extra. Caller: the owner, or anyone once the
 * owner is gone. */
int64_t rcgc__merge_refcount(struct rcgc_object *obj, int64_t extra);

/* The object's count reached zero: finalize, clear, release, free -
 * iteratively (trashcan). */
void rcgc__object_die(struct rcgc_object *obj);

/* Free every object on the calling thread's free lists (at detach). */
void rcgc__freelists_drain(void);

/* Deferred counts (deferred.c): buffer a change for the calling thread;
 * apply a thread's table to the objects' shared counts; list an object
 * that became deferred, so a sync can find it at zero. */
void rcgc__deferred_add(struct rcgc_object *obj, int64_t delta);
void rcgc__deferred_flush(struct thread_record *record);
/* The calling thread's net change to @obj not yet applied (0 when none). */
int64_t rcgc__deferred_pending(const struct rcgc_object *obj);
int rcgc__deferred_register(struct rcgc_object *obj);

/* Put back on the deferred list an object a sync took off it to die, when
 * its finalizer has run (and may have resurrected it): takes the slot the
 * sync reserved for it, so it cannot fail. */
void rcgc__deferred_register_reserved(struct rcgc_object *obj);

/* How many deferred objects went back on the list after their finalizer
 * ran (ever): a collection that saw this change syncs again, so that the
 * ones their finalizer did not resurrect are freed before it returns. */
uint64_t rcgc__deferred_returned(void);

/* Whether @obj's death will run its finalizer (it has one that never ran). */
static inline bool rcgc__object_finalizer_pending(const struct rcgc_object *obj) {
    return obj->ob_type->finalize != NULL &&
           (atomic_load_explicit(&obj->ob_flags, memory_order_relaxed) & OBJ_FINALIZED) == 0;
}

/* Objects found dead while the world is stopped wait for the restart on a
 * list linked through their (now unused) ob_ref_shared; running the list
 * restores the field and runs each death. */
static inline void rcgc__death_list_push(struct rcgc_object **list, struct rcgc_object *obj) {
    rcgc__dead_link_set(obj, *list);
    *list = obj;
}
void rcgc__death_list_run(struct rcgc_object *list);

/* World stopped: apply every thread's deferred table; list the deferred
 * objects found at zero on @dead (untracked). Returns how many. */
size_t rcgc__deferred_apply_all_stopped(struct rcgc_object **dead);

/* One line through the fatal handler: "<type 0x...>" with what went wrong.
 * A dead object's type pointer survives its free (it lies past the
 * allocator's 16 bytes of free-block data) until the block is reused. */
RCGC_NORETURN RCGC_COLD void rcgc__report_object(const struct rcgc_object *obj, const char *what,
                                                 const char *where);

/* R1's report: a count changed on an object that is dead. */
RCGC_NORETURN RCGC_COLD void rcgc__report_dead_object(const struct rcgc_object *obj,
                                                      const char *where);

/* fork(): hold the deferred list's mutex across the fork. */
void rcgc__deferred_fork_lock(void);
void rcgc__deferred_fork_unlock(void);

#endif /* RCGC_OBJECT_INTERNAL_H */
