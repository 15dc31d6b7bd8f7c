/* src/object/object.c - making objects and their deaths: finalize once,
 * clear, release, free - iteratively, so a long chain or a deep nest of
 * containers dies in bounded stack (CPython's trashcan).
 *
 * Owned by one thread: its death depth, its list of pending deaths and its
 * free lists (thread-local). Shared: nothing here; an object dies on
 * exactly one thread, the one that took its count to zero (refcount.c).
 */
#include "gc/gc_object.h"
#include "object/object_internal.h"

#include <rcgc/alloc.h>

#include <errno.h>
#include <string.h>

/* Deaths nest (clear drops references, which kill children) up to this
 * depth; deeper ones wait on the thread's pending list and the outermost
 * death runs them one after another. */
#define TRASHCAN_DEPTH 64

static _Thread_local unsigned death_depth;
static _Thread_local rcgc_object *pending_deaths; /* rcgc__dead_link_set */

/* Free lists: dead instances of types with freelist_max > 0, kept by the
 * thread they died on and handed out again by its rcgc_new, with no trip
 * through the allocator. A few types per thread, found by a short linear
 * search (types are static, so their address is their identity); a type
 * that finds no free entry simply goes without. Linked through the dead
 * objects' ob_ref_shared, like the pending deaths. */
#define FREELIST_TYPES 8

struct freelist {
    const rcgc_type *type;
    rcgc_object *head;
    unsigned count;
};

static _Thread_local struct freelist freelists[FREELIST_TYPES];

/* A type found further down moves to the front, so a thread's busiest
 * type is found with one compare. */
static inline __attribute__((always_inline)) struct freelist *freelist_of(const rcgc_type *type,
                                                                          bool create) {
    for (unsigned i = 0; i < FREELIST_TYPES; i++) {
        if (freelists[i].type == type) {
            if (i > 0) {
                struct freelist found = freelists[i];
                freelists[i] = freelists[0];
                freelists[0] = found;
            }
            return &freelists[0];
        }
        if (freelists[i].type == NULL && create) {
            freelists[i].type = type;
            return &freelists[i];
        }
    }
    return NULL;
}

/* Zero an object's fields after the header. Small objects get plain
 * stores: a loop here is turned into `rep stos` by the compiler, whose
 * start-up cost is most of a 48-byte object's reuse (bench/refcount). */
static inline void zero_fields(rcgc_object *obj, size_t size) {
    size_t bytes = size - sizeof *obj;
    uint64_t *field = (uint64_t *)(void *)(obj + 1);
    if (bytes % sizeof(uint64_t) != 0 || bytes > 4 * sizeof(uint64_t)) {
        memset(field, 0, bytes);
        return;
    }
    switch (bytes / sizeof(uint64_t)) {
    case 4:
        field[3] = 0;
        __attribute__((fallthrough));
    case 3:
        field[2] = 0;
        __attribute__((fallthrough));
    case 2:
        field[1] = 0;
        __attribute__((fallthrough));
    case 1:
        field[0] = 0;
        break;
    default:
        break;
    }
}

void rcgc__freelists_drain(void) {
    for (unsigned i = 0; i < FREELIST_TYPES; i++) {
        while (freelists[i].head != NULL) {
            rcgc_object *obj = freelists[i].head;
            freelists[i].head = rcgc__dead_link_next(obj);
            rcgc_free(obj);
        }
        freelists[i] = (struct freelist){0};
    }
}

void rcgc__report_object(const rcgc_object *obj, const char *what, const char *where) {
    const char *name =
        obj->ob_type != NULL && obj->ob_type->name != NULL ? obj->ob_type->name : "object";
    rcgc__fatal("rcgc: %s <%s %p> in %s", what, name, (const void *)obj, where);
}

void rcgc__report_dead_object(const rcgc_object *obj, const char *where) {
    static const char what[] = "reference count changed on a dead object (a reference dropped "
                               "once too often, or used after its last drop):";
    /* Checked builds fill a freed block, its type pointer included. */
    if (atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed) == REF_FREED_FILL)
        rcgc__fatal("rcgc: %s <freed object %p> in %s", what, (const void *)obj, where);
    rcgc__report_object(obj, what, where);
}

static rcgc_object *init_header(rcgc_object *obj, const rcgc_type *type, uint16_t flags) {
    atomic_store_explicit(&obj->ob_tid, rcgc_tls_thread_id, memory_order_relaxed);
    atomic_store_explicit(&obj->ob_ref_local, 1, memory_order_relaxed);
    atomic_store_explicit(&obj->ob_ref_shared, 0, memory_order_relaxed);
    atomic_store_explicit(&obj->ob_flags, (uint16_t)(flags | RCGC_RC_BIASED), memory_order_relaxed);
    atomic_store_explicit(&obj->ob_gc_slot, 0, memory_order_relaxed);
    obj->ob_reserved = 0;
    obj->ob_type = type;
    return obj;
}

/* A new object of a GC type joins the young generation; its count may
 * start a collection first (before the object exists, as in CPython, so
 * the collection never sees it half made). */
RCGC_NOINLINE static rcgc_object *track_new(rcgc_object *obj) {
    if (rcgc__gc_track_new(obj) == 0)
        return obj;
    rcgc__gc_count_death();
    rcgc_free(obj);
    return rcgc__fail(ENOMEM);
}

/* A dead instance of @type from the calling thread's free list, its
 * fields zeroed, or NULL. */
static inline rcgc_object *freelist_take(const rcgc_type *type) {
    if (type->freelist_max == 0)
        return NULL;
    struct freelist *list = freelist_of(type, false);
    if (list == NULL || list->head == NULL)
        return NULL;
    rcgc_object *obj = list->head;
    list->head = rcgc__dead_link_next(obj);
    list->count--;
    zero_fields(obj, type->size);
    return obj;
}

/* Misuse of rcgc_new: one line, out of the way of the fast path. */
RCGC_NORETURN RCGC_NOINLINE RCGC_COLD static void report_bad_new(const rcgc_type *type) {
    if (type == NULL)
        rcgc__fatal("rcgc: object made with a NULL type in rcgc_new");
    rcgc__fatal("rcgc: <%s> made from a thread that is not attached in rcgc_new",
                type->name != NULL ? type->name : "object");
}

/* rcgc_new and rcgc_new_var: @flags has OBJ_FIXED_SIZE for the first. */
static inline __attribute__((always_inline)) rcgc_object *new_object(const rcgc_type *type,
                                                                     size_t size, uint16_t flags) {
    /* One well-predicted branch covers every misuse; the thread id is the
     * one init_header reads anyway. */
    if (RCGC_UNLIKELY(type == NULL || rcgc_tls_thread_id == UINT32_MAX))
        report_bad_new(type);
    if (size < sizeof(rcgc_object))
        return rcgc__fail(ENOMEM);
    /* The poll and the count may run deaths (queued merges, a collection),
     * which refill and reorder the free lists: take from them afterwards. */
    rcgc__safepoint_poll();
    bool tracked = (type->flags & RCGC_TYPE_GC) != 0;
    if (tracked)
        rcgc__gc_count_creation();
    rcgc_object *obj = (flags & OBJ_FIXED_SIZE) != 0 ? freelist_take(type) : NULL;
    if (obj == NULL && (obj = rcgc_calloc(1, size)) == NULL) {
        if (tracked)
            rcgc__gc_count_death();
        return NULL;
    }
    init_header(obj, type, flags);
    return tracked ? track_new(obj) : obj;
}

rcgc_object *rcgc_new_var(const rcgc_type *type, size_t size) { return new_object(type, size, 0); }

rcgc_object *rcgc_new(const rcgc_type *type) {
    return new_object(type, type != NULL ? type->size : 0, OBJ_FIXED_SIZE);
}

/* Keep @obj for reuse when its type asks and there is room; true if kept. */
static bool freelist_keep(rcgc_object *obj, const rcgc_type *type, uint16_t flags) {
    if (type->freelist_max == 0 || (flags & OBJ_FIXED_SIZE) == 0 ||
        rcgc_tls_thread_id == UINT32_MAX)
        return false; /* dying during detach: the lists are being emptied */
    struct freelist *list = freelist_of(type, true);
    if (list == NULL || list->count >= type->freelist_max)
        return false;
    rcgc__dead_link_set(obj, list->head);
    list->head = obj;
    list->count++;
    return true;
}

/* Run @obj's finalizer with one reference held for it, unowned, so any
 * thread may resurrect it through the ordinary counting paths. True when
 * the object lives on; after the finalizer, nothing is written to an
 * object that lives on (another thread may already be killing it).
 *
 * A container is tracked again for the finalizer's duration, before
 * anything can see it (CPython's subtype_dealloc does the same): if the
 * finalizer stores it somewhere, the collector must know it, and tracking
 * it afterwards would race with its next death on another thread. */
static bool finalize_resurrects(rcgc_object *obj) {
    uint16_t flags = atomic_load_explicit(&obj->ob_flags, memory_order_relaxed);
    atomic_store_explicit(&obj->ob_flags, (uint16_t)(flags | OBJ_FINALIZED), memory_order_relaxed);
    rcgc__object_owner_lost(obj); /* it may live on, unowned */
    atomic_store_explicit(&obj->ob_tid, 0, memory_order_relaxed);
    atomic_store_explicit(&obj->ob_ref_local, 0, memory_order_relaxed);
    atomic_store_explicit(&obj->ob_ref_shared, REF_ONE | REF_MERGED, memory_order_relaxed);
    const rcgc_type *type = obj->ob_type;
    if ((type->flags & RCGC_TYPE_GC) != 0 && type->traverse != NULL)
        (void)rcgc__gc_track_new(obj); /* out of memory: it stays untracked */
    type->finalize(obj);
    if ((flags & OBJ_MODE_MASK) == RCGC_RC_DEFERRED) {
        /* Only a sync, with every table applied, can tell whether a
         * deferred object died: the finalizer's new references may sit in
         * any thread's table, and so may the drops that balance them - a
         * thread that took the object and dropped it may already have
         * flushed its table, taking the shared count below our one. So no
         * check here, and the object goes back on the list (in the slot
         * its sync reserved) before our reference goes: after the
         * subtraction it may belong to other threads. Relaxed: the sync
         * that may release it stops the world first, and this thread's
         * parking orders the subtraction before the sync's check. */
        rcgc__deferred_register_reserved(obj);
        atomic_fetch_sub_explicit(&obj->ob_ref_shared, REF_ONE, memory_order_relaxed);
        return true;
    }
    int64_t left =
        atomic_fetch_sub_explicit(&obj->ob_ref_shared, REF_ONE, memory_order_acq_rel) - REF_ONE;
    if (left < REF_MERGED)
        rcgc__report_object(obj,
                            "refcount below zero (its finalizer dropped a reference it "
                            "did not hold) on",
                            "rcgc_decref");
    if (left != REF_MERGED)
        return true;
    rcgc__gc_untrack_if_tracked(obj);
    return false;
}

/* ------------------------------------------------------------ Death hook */

static const struct rcgc__death_hooks *_Atomic death_hooks;

void rcgc__object_set_death_hooks(const struct rcgc__death_hooks *hooks) {
    atomic_store_explicit(&death_hooks, hooks, memory_order_release);
}

void rcgc__object_watch_death(rcgc_object *obj) {
    atomic_fetch_or_explicit(&obj->ob_flags, (uint16_t)OBJ_DEATH_WATCHED, memory_order_relaxed);
    /* An incremental collection lists the weak references to clear when
     * it counts its candidates; one watched since is taken as reachable
     * (the caller holds a reference to it), as an increment would be. */
    rcgc_gc_barrier_check(obj);
}

/* Stop watching @obj; true if it was watched (so this caller runs its
 * hook, and nobody else will). */
static bool unwatch(rcgc_object *obj) {
    uint16_t flags = atomic_fetch_and_explicit(&obj->ob_flags, (uint16_t)~OBJ_DEATH_WATCHED,
                                               memory_order_relaxed);
    return (flags & OBJ_DEATH_WATCHED) != 0;
}

void rcgc__object_death_notify(rcgc_object *obj) {
    const struct rcgc__death_hooks *hooks =
        atomic_load_explicit(&death_hooks, memory_order_acquire);
    if (unwatch(obj) && hooks != NULL && hooks->died != NULL)
        hooks->died(obj);
}

void rcgc__object_death_found_stopped(rcgc_object *obj,
                                      bool (*is_garbage)(const rcgc_object *obj)) {
    rcgc_assert_stopped();
    const struct rcgc__death_hooks *hooks =
        atomic_load_explicit(&death_hooks, memory_order_acquire);
    if (unwatch(obj) && hooks != NULL && hooks->found_dead_stopped != NULL)
        hooks->found_dead_stopped(obj, is_garbage);
}

void rcgc__object_owner_lost_slow(rcgc_object *obj) {
    const struct rcgc__death_hooks *hooks =
        atomic_load_explicit(&death_hooks, memory_order_acquire);
    if (hooks != NULL && hooks->owner_lost != NULL)
        hooks->owner_lost(obj);
}

void rcgc__object_run_postponed(void) {
    const struct rcgc__death_hooks *hooks =
        atomic_load_explicit(&death_hooks, memory_order_acquire);
    if (hooks != NULL && hooks->run_postponed != NULL)
        hooks->run_postponed();
}

/* A watched object's death settles its counts first. Most deaths arrive
 * merged (a merged count, which a weak reference's get refuses at zero).
 * The owner's last decrement does not merge when nobody else holds a
 * reference, and meanwhile a get may add one to the unmerged shared count
 * (rcgc__object_try_incref): one compare-and-swap from 0 to merged-zero
 * decides which came first. If the get won, the object lives on: tracked
 * again while its count is still unmerged - until the merge, no other
 * thread can free it - and nothing is written to it after the merge.
 * Only watched objects pay, out of line. */
RCGC_NOINLINE static bool watched_death_proceeds(rcgc_object *obj) {
    int64_t shared = atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed);
    if ((shared & REF_MERGED) != 0)
        return true;
    rcgc__object_owner_lost(obj);
    atomic_store_explicit(&obj->ob_tid, 0, memory_order_relaxed);
    int64_t zero = 0;
    if (atomic_compare_exchange_strong_explicit(&obj->ob_ref_shared, &zero, REF_MERGED,
                                                memory_order_acq_rel, memory_order_relaxed))
        return true;
    const rcgc_type *type = obj->ob_type;
    bool tracked = (type->flags & RCGC_TYPE_GC) != 0 && type->traverse != NULL &&
                   rcgc__gc_track_new(obj) == 0; /* out of memory: it stays untracked */
    if (rcgc__merge_refcount(obj, 0) != 0)
        return false;
    /* The get's reference went before the merge: the death goes on. */
    if (tracked)
        rcgc__gc_untrack_if_tracked(obj);
    return true;
}

static inline __attribute__((always_inline)) void die_now(rcgc_object *obj) {
    const rcgc_type *type = obj->ob_type;
    uint16_t flags = atomic_load_explicit(&obj->ob_flags, memory_order_relaxed);
    if (RCGC_UNLIKELY((flags & OBJ_DEATH_WATCHED) != 0) && !watched_death_proceeds(obj))
        return;
    if (type->finalize != NULL && (flags & OBJ_FINALIZED) == 0) {
        if (finalize_resurrects(obj))
            return;
        flags = atomic_load_explicit(&obj->ob_flags, memory_order_relaxed);
    }
    if (RCGC_UNLIKELY((flags & OBJ_DEATH_WATCHED) != 0))
        rcgc__object_death_notify(obj);
    if (type->clear != NULL)
        type->clear(obj);
    if (type->release != NULL)
        type->release(obj);
    if ((type->flags & RCGC_TYPE_GC) != 0)
        rcgc__gc_count_death();
    /* No owner: a stray count change by the old owner takes the slow path,
     * which finds the object dead (R1). */
    atomic_store_explicit(&obj->ob_tid, 0, memory_order_relaxed);
    if (freelist_keep(obj, type, flags))
        return;
    rcgc__dead_link_set(obj, NULL);
    rcgc_free(obj);
}

static inline __attribute__((always_inline)) void object_die(rcgc_object *obj);

void rcgc__object_die(rcgc_object *obj) { object_die(obj); }

void rcgc__death_list_run(rcgc_object *list) {
    while (list != NULL) {
        rcgc_object *next = rcgc__dead_link_next(list);
        atomic_store_explicit(&list->ob_ref_shared, REF_MERGED, memory_order_relaxed);
        object_die(list);
        list = next;
    }
}

/* Inline here so the owner's last decrement (rcgc_merge_zero_local, below)
 * reaches the death of a hook-less object with no further call. */
static inline __attribute__((always_inline)) void object_die(rcgc_object *obj) {
    /* Untracked first: from here the object's count is zero, and a
     * collection that runs while a hook of this death parks the thread must
     * not find it among its candidates. */
    rcgc__gc_untrack_if_tracked(obj);
    /* No clear hook, no references dropped: no death can nest in this one,
     * so the trashcan's bookkeeping is skipped. */
    if (obj->ob_type->clear == NULL && obj->ob_type->finalize == NULL) {
        die_now(obj);
        return;
    }
    if (death_depth >= TRASHCAN_DEPTH) {
        /* The count fields of a dead object are free for the link. */
        rcgc__dead_link_set(obj, pending_deaths);
        pending_deaths = obj;
        return;
    }
    death_depth++;
    die_now(obj);
    if (death_depth == 1) {
        while (pending_deaths != NULL) {
            rcgc_object *next = pending_deaths;
            pending_deaths = rcgc__dead_link_next(next);
            die_now(next);
        }
    }
    death_depth--;
}

/* The owner's last reference (refcount.c explains the protocol). Here,
 * beside the death it usually leads to, so the compiler can fold the whole
 * chain into one call from the inline rcgc_decref (bench/refcount: a
 * free-listed object's make and drop). */
void rcgc_merge_zero_local(rcgc_object *obj) {
    /* Acquire: pairs with the release half of other threads' decrements,
     * so a death here sees their writes to the object. */
    int64_t shared = atomic_load_explicit(&obj->ob_ref_shared, memory_order_acquire);
    uint32_t local = atomic_load_explicit(&obj->ob_ref_local, memory_order_relaxed);
    /* A dead object's shared word is never 0 (R1), so the common case -
     * nobody else ever held a reference - is told apart first. */
    if (RCGC_UNLIKELY(shared != 0 && rcgc__ref_is_dead(shared)))
        rcgc__report_dead_object(obj, "rcgc_decref");
    if (local == 0)
        rcgc__report_object(obj, "refcount below zero on", "rcgc_decref");
    atomic_store_explicit(&obj->ob_ref_local, 0, memory_order_relaxed);
    if (shared == 0) {
        /* Nobody else holds a reference: no merge needed (a watched object
         * merges in its death, watched_death_proceeds). */
        object_die(obj);
        return;
    }
    rcgc__object_owner_lost(obj);
    atomic_store_explicit(&obj->ob_tid, 0, memory_order_relaxed);
    int64_t merged;
    do {
        merged = (shared & ~REF_STATE_MASK) | REF_MERGED;
    } while (!atomic_compare_exchange_weak_explicit(&obj->ob_ref_shared, &shared, merged,
                                                    memory_order_acq_rel, memory_order_relaxed));
    if (merged == REF_MERGED)
        object_die(obj);
    else if (merged < 0)
        rcgc__report_object(obj, "refcount below zero on", "rcgc_decref");
}
