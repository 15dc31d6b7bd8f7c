/* src/weakref/weakref_internal.h - inside rcgc's weak references: the
 * weak reference's layout, shared by plain weak references, finalizers and
 * weak-map entries, and the side table that lists them by referent.
 *
 * Invariants:
 *   W1  a weak reference's target word is its referent's address, or 0
 *       once cleared, or the address | WEAKREF_LOCKED while one thread
 *       reads through it. A reader holds the bit only while it takes a
 *       reference (rcgc__object_try_incref); clearing waits for the bit. So the
 *       referent's memory stays an object while any reader holds the bit:
 *       its death clears every weak reference before it is freed.
 *   W2  a weak reference with a non-zero target is on its referent's list
 *       in the side table (referents.c), under that referent's stripe
 *       lock; the target goes to 0 only under that lock, when the list
 *       is taken whole (the referent died) or the reference leaves it,
 *       and a death clearing the list touches each reference last by
 *       clearing it: a reference found cleared (acquire) is no longer
 *       touched by anyone, so its own death frees it without the lock.
 *   W4  fast_owner is the id of the thread that made the reference while
 *       owning the target (biased, unmerged), and is set to 0 under the
 *       stripe lock before the target loses that owner (the owner_lost
 *       hook, object_internal.h). While it names the calling thread, the
 *       target is alive and owned by it with a count of at least one (only
 *       the owner's own decrement can take that count to zero, and it
 *       merges, so clears fast_owner, first): the owner's get reads through
 *       it without the lock bit.
 *   W3  every weak reference counts atomically (RCGC_RC_ATOMIC): a death
 *       may take a reference to one it finds on a list (to run its
 *       callback) racing with its last decrement elsewhere, which only a
 *       count with no owner decides in one word.
 */
#ifndef RCGC_WEAKREF_INTERNAL_H
#define RCGC_WEAKREF_INTERNAL_H

#include "object/object_internal.h"

#include <rcgc/weakref.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define WEAKREF_LOCKED ((uintptr_t)1)

struct weakref {
    rcgc_object head;
    _Atomic uintptr_t target; /* W1 */
    /* W4: the thread that owned the target when it made this reference,
     * while the target keeps that owner; else 0. */
    _Atomic uint32_t fast_owner;
    rcgc_weakref_callback callback;
    void *arg;
    struct weakref *newer, *older; /* the referent's list (W2) */
    struct weakref *postponed;     /* the list of callbacks to run later */
};

static inline struct weakref *weakref_of(rcgc_object *obj) { return (struct weakref *)obj; }

/* A weak map's entry is a weak reference too (weakmap.c). */
extern const rcgc_type rcgc__weakmap_entry_type;

/* Whether @type is one of the weak-reference types. */
bool rcgc__weakref_type_is(const rcgc_type *type);

/* Clear @ref and take it off its referent's list (W2); nothing runs.
 * Returns whether it still had a referent. */
bool rcgc__weakref_detach(struct weakref *ref);

/* W1: take @ref's lock bit and return its target, or 0 once cleared (then
 * nothing is held). A holder never blocks, parks or drops a reference. */
static inline uintptr_t weakref_lock(struct weakref *ref) {
    uintptr_t target = atomic_load_explicit(&ref->target, memory_order_relaxed);
    for (;;) {
        if (target == 0)
            return 0;
        if ((target & WEAKREF_LOCKED) != 0) {
            rcgc__cpu_relax();
            target = atomic_load_explicit(&ref->target, memory_order_relaxed);
            continue;
        }
        /* Acquire: pairs with the previous holder's unlock. */
        if (atomic_compare_exchange_weak_explicit(&ref->target, &target, target | WEAKREF_LOCKED,
                                                  memory_order_acquire, memory_order_relaxed))
            return target;
    }
}

static inline void weakref_unlock(struct weakref *ref, uintptr_t target) {
    atomic_store_explicit(&ref->target, target, memory_order_release);
}

/* Make @ref, new and counting atomically (W3), refer to @target: on its
 * list, with @callback and @arg. Returns 0 or -1 with errno = ENOMEM. */
int rcgc__weakref_init(struct weakref *ref, rcgc_object *target, rcgc_weakref_callback callback,
                       void *arg);

/* The release hook's share for every weak-reference type. */
void rcgc__weakref_release(rcgc_object *self);

/* ----------------------------------------------- Side table (referents.c) */

/* Hang @ref on @target's list (newest first) and watch @target's death.
 * Returns @ref, or NULL with errno = ENOMEM. */
struct weakref *rcgc__referents_add(rcgc_object *target, struct weakref *ref);

/* A callback-less weak reference to @target, with a new reference, or
 * NULL if it has none (weakref.ref shares them). */
struct weakref *rcgc__referents_shared(rcgc_object *target);

/* W4: the owner of @target is about to be merged away. */
void rcgc__referents_owner_lost(rcgc_object *target);

/* Take @ref off @target's list, and clear it, if it is still there. */
bool rcgc__referents_remove(uintptr_t target, struct weakref *ref);

/* Clear every weak reference to @target and take its list away. Returns
 * those whose callback must run, newest first, linked through
 * `postponed`, each with a reference taken; @is_garbage (may be NULL)
 * rules out those a stopped collection found dead too. */
struct weakref *rcgc__referents_clear(rcgc_object *target,
                                      bool (*is_garbage)(const rcgc_object *obj));

size_t rcgc__referents_count(const rcgc_object *target);

#endif /* RCGC_WEAKREF_INTERNAL_H */
