/* rcgc/object.h - layer 3: objects, their reference counts, and threads.
 *
 * Purpose: user structs embed rcgc_object as their first member and are
 * described by an rcgc_type; rcgc_new gives one with one reference, and it
 * dies the moment its count reaches zero (finalize, clear, release, then
 * the memory goes back to the pool allocator). Counts are biased by
 * default: the thread that owns an object counts without atomics, others
 * use an atomic shared count, and whichever drops the last reference
 * releases the object exactly once (PEP 703's scheme). A thread registers
 * with rcgc_thread_attach before it touches objects, so that the cycle
 * collector can stop the world: attached threads park at safepoints;
 * threads inside a blocking region are not waited for.
 *
 * Thread model: objects may be shared by any attached threads; the thread
 * functions act on the calling thread.
 *
 * Usage:
 *     struct pair { rcgc_object head; rcgc_object *left, *right; };
 *     static const rcgc_type pair_type = {"pair", sizeof(struct pair), ...};
 *     rcgc_thread_attach();
 *     struct pair *p = (struct pair *)rcgc_new(&pair_type);   // count 1
 *     rcgc_incref(&p->head);  rcgc_decref(&p->head);          // owner: no atomics
 *     rcgc_decref(&p->head);                                  // dies here
 *     rcgc_thread_detach();                                   // or let it exit
 */
#ifndef RCGC_OBJECT_H
#define RCGC_OBJECT_H

#include <rcgc/common.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ Types */

typedef struct rcgc_object rcgc_object;

/** rcgc_visit_fn - called by a type's traverse hook for each reference held. */
typedef void (*rcgc_visit_fn)(rcgc_object *referent, void *arg);

/**
 * struct rcgc_type - what rcgc needs to know about a kind of object.
 * @name: shown in reports ("<pair 0x...>"); not NULL.
 * @size: bytes of an instance, the rcgc_object header included.
 * @flags: RCGC_TYPE_GC for containers the cycle collector tracks (see
 *   rcgc/gc.h), RCGC_TYPE_LEGACY_FINALIZER for finalizers that make a cycle
 *   uncollectable (CPython's __del__ before PEP 442).
 * @traverse: calls visit(referent, arg) for every object reference held;
 *   NULL for objects that hold none. The collector calls it with the world
 *   stopped: it must only read the object and call visit (no locks, no
 *   allocation, no reference counting).
 * @clear: drops every object reference held (set the field to NULL, then
 *   rcgc_decref); runs when the object dies, after @finalize, and when the
 *   collector breaks a garbage cycle, so it must be safe to run twice.
 *   NULL: nothing to drop (a GC type without one cannot free its cycles).
 * @finalize: runs once per object, ever: when its count first reaches zero,
 *   or when the collector finds it in garbage (PEP 442), whichever is first;
 *   it may store new references to the object (resurrect it), in which
 *   case the object lives on and the next death skips @finalize. NULL: none.
 * @release: frees resources that are not objects, just before the memory
 *   goes back; must not touch other objects. NULL: none.
 * @freelist_max: how many dead instances each thread keeps for reuse by
 *   rcgc_new (CPython's free lists for ints, tuples, frames); 0 for none.
 *   Only objects made by rcgc_new (not rcgc_new_var) go on the list; a
 *   thread's lists are emptied when it detaches.
 *
 * Types are usually static const; rcgc never writes to one.
 */
typedef struct rcgc_type {
    const char *name;
    size_t size;
    unsigned flags;
    void (*traverse)(rcgc_object *self, rcgc_visit_fn visit, void *arg);
    void (*clear)(rcgc_object *self);
    void (*finalize)(rcgc_object *self);
    void (*release)(rcgc_object *self);
    unsigned freelist_max;
} rcgc_type;

#define RCGC_TYPE_GC (1u << 0)
#define RCGC_TYPE_LEGACY_FINALIZER (1u << 1)

/**
 * enum rcgc_rc_mode - how an object's references are counted.
 * @RCGC_RC_BIASED: the default; the owning thread counts without atomics,
 *   others atomically; the owner's count is merged when it reaches zero or
 *   when another thread's decrement would take the shared count below zero.
 * @RCGC_RC_ATOMIC: every operation atomic, from any thread; for objects
 *   born shared.
 * @RCGC_RC_DEFERRED: increments and decrements from any thread are kept in
 *   a per-thread table and applied later (when the table fills, when the
 *   thread detaches, at rcgc_sync_deferred and at collections), so an
 *   object every thread touches (a type, a module, a constant) takes no
 *   shared cache-line write; it is released only at such a sync, once all
 *   tables are applied and its count is zero.
 * @RCGC_RC_IMMORTAL: never released; increments and decrements write no
 *   memory (PEP 683).
 */
enum rcgc_rc_mode {
    RCGC_RC_BIASED = 0,
    RCGC_RC_ATOMIC = 1,
    RCGC_RC_DEFERRED = 2,
    RCGC_RC_IMMORTAL = 3,
};

/*
 * The object header: 32 bytes, the collector's data included (CPython's
 * default build also spends 32 on a container: a 16-byte GC head before a
 * 16-byte object). ABI: hosts read it through the inline functions below.
 *
 *   offset  field           meaning
 *   0       ob_tid          owning thread's id; 0: no owner (all counts in
 *                           ob_ref_shared)
 *   4       ob_flags        rc mode (bits 0-1), finalized (bit 2), made by
 *                           rcgc_new (bit 3), generation (bits 4-6)
 *   6       ob_reserved     for a young tracked object, whose young table
 *                           holds it (the creating thread's)
 *   8       ob_ref_local    the owner's count; only the owner writes it
 *   12      ob_gc_slot      the collector's index for tracked objects
 *   16      ob_ref_shared   other threads' count << 2 | QUEUED | MERGED
 *   24      ob_type         the object's rcgc_type
 *
 * The reference count is ob_ref_local + (ob_ref_shared >> 2); the shared
 * part may be negative while the owner holds the matching references.
 */
struct rcgc_object {
    _Atomic uint32_t ob_tid;
    _Atomic uint16_t ob_flags;
    uint16_t ob_reserved;
    _Atomic uint32_t ob_ref_local;
    _Atomic uint32_t ob_gc_slot;
    _Atomic int64_t ob_ref_shared;
    const rcgc_type *ob_type;
};

/* ---------------------------------------------------------------- Objects */

/**
 * rcgc_new - Make an object of @type with one reference.
 * @type: the object's type; @type->size >= sizeof(rcgc_object).
 *
 * Returns the object, its fields after the header zeroed, owned by the
 * calling thread (biased counting), or NULL with errno = ENOMEM. Polls a
 * safepoint first. A NULL @type, or a call from a
 * thread that is not attached is reported through the fatal handler.
 * Thread safety: an attached thread. Cost: one small allocation.
 */
RCGC_API RCGC_NODISCARD rcgc_object *rcgc_new(const rcgc_type *type);

/**
 * rcgc_new_var - Make an object of @type with @size bytes instead of
 * @type->size (a variable-length object: a tuple, a string).
 * @type: the object's type.
 * @size: bytes of this instance, header included; >= sizeof(rcgc_object).
 *
 * As rcgc_new otherwise; NULL with errno = ENOMEM (also when @size is too
 * small for the header or above PTRDIFF_MAX).
 */
RCGC_API RCGC_NODISCARD rcgc_object *rcgc_new_var(const rcgc_type *type, size_t size);

/**
 * rcgc_type_of - The type @obj was made with.
 * @obj: a live object.
 */
static inline const rcgc_type *rcgc_type_of(const rcgc_object *obj) { return obj->ob_type; }

/**
 * rcgc_refcount - @obj's current reference count (sys.getrefcount without
 * its +1 for the argument).
 * @obj: a live object.
 *
 * Exact when no other thread is changing the count, and for a deferred
 * object when no other thread holds changes it has not applied yet (they
 * are applied when its table fills, when it detaches and at every
 * rcgc_sync_deferred): the calling thread's own pending changes are
 * counted. An immortal object answers UINT32_MAX.
 * Thread safety: any thread. Cost: two relaxed loads; for a deferred
 *   object also a probe of the caller's table.
 */
RCGC_API size_t rcgc_refcount(const rcgc_object *obj);

/**
 * rcgc_set_rc_mode - Change how @obj's references are counted.
 * @obj: a live object.
 * @mode: an enum rcgc_rc_mode.
 *
 * Returns 0, or -1 with errno = EINVAL for an unknown mode or for leaving
 * RCGC_RC_IMMORTAL or RCGC_RC_DEFERRED (both are for good), or ENOMEM when
 * a deferred object cannot be listed. From biased counting, the
 * owner's count is merged into the shared one first, so the call must come
 * from the owning thread while the object has one (a misuse otherwise,
 * reported through the fatal-error handler).
 * Thread safety: the owning thread, or any attached thread for an object
 *   without owner. Cost: one compare-and-swap.
 */
RCGC_API int rcgc_set_rc_mode(rcgc_object *obj, int mode);

/** The mode @obj is counted in (an enum rcgc_rc_mode). */
RCGC_API int rcgc_rc_mode(const rcgc_object *obj);

/**
 * rcgc_sync_deferred - Apply every thread's deferred counts and release
 * the deferred objects whose count is then zero.
 *
 * Stops the world (every attached thread parks at its next safepoint),
 * applies each thread's table, restarts the world, then runs the deaths of
 * the objects found at zero on the calling thread. Returns how many died.
 * The cycle collector does the same at each collection.
 * Thread safety: any thread; an unattached one is attached for the call
 *   (0 is returned when that fails for want of memory); not from inside a
 *   type's hook. Cost: a stop of the world and a walk of the deferred
 *   objects.
 */
RCGC_API size_t rcgc_sync_deferred(void);

/* The calling thread's id as objects store it (internal to the inline
 * functions below; never 0, and a value no object carries when the thread
 * is not attached). Initial-exec TLS: two instructions to read. */
RCGC_API extern _Thread_local uint32_t rcgc_tls_thread_id
    __attribute__((tls_model("initial-exec")));

/* The out-of-line halves of rcgc_incref and rcgc_decref (src/object/
 * refcount.c): other threads' counts, immortal and atomic objects, and the
 * owner's last reference. Called only by the inline functions below. */
RCGC_API void rcgc_incref_slow(rcgc_object *obj);

/* The old-generation barrier (internal to the inline functions below; see
 * rcgc_set_old_collection in rcgc/gc.h). While an old collection runs in
 * increments, an increment of an object in generation 2 must tell the
 * collector (a new reference to it may come from an object it has already
 * scanned), so rcgc_gc_barrier is nonzero then and such an increment calls
 * rcgc_gc_barrier_slow. RCGC_GC_OLD_BITS is generation 2's value of
 * ob_flags bits 4-6; src/gc asserts that it agrees. */
RCGC_API extern _Atomic uint8_t rcgc_gc_barrier;
RCGC_API void rcgc_gc_barrier_slow(rcgc_object *obj);
#define RCGC_GC_GEN_BITS 0x70u
#define RCGC_GC_OLD_BITS 0x30u

static inline void rcgc_gc_barrier_check(rcgc_object *obj) {
    if (RCGC_UNLIKELY(atomic_load_explicit(&rcgc_gc_barrier, memory_order_relaxed) != 0) &&
        (atomic_load_explicit(&obj->ob_flags, memory_order_relaxed) & RCGC_GC_GEN_BITS) ==
            RCGC_GC_OLD_BITS)
        rcgc_gc_barrier_slow(obj);
}
RCGC_API void rcgc_decref_slow(rcgc_object *obj);
RCGC_API void rcgc_merge_zero_local(rcgc_object *obj);

/**
 * rcgc_incref - Add a reference to @obj.
 * @obj: a live object; not NULL.
 *
 * Misuse is reported through the fatal handler on the paths other than the
 * owner's: an increment of a dead object (freed, or on a free list), and an
 * increment from a thread that is not attached (immortal objects excepted,
 * since nothing is written to them).
 * Thread safety: any attached thread. Cost: on the owning thread one load,
 *   one compare and one relaxed store, no atomic read-modify-write; from
 *   other threads one atomic add (a call); immortal objects: no write.
 *   Plus one load and branch (the old-generation barrier); while an old
 *   collection runs in increments, an increment of an object of
 *   generation 2 also tests a bit (a call; once per object and collection
 *   an atomic OR).
 */
static inline void rcgc_incref(rcgc_object *obj) {
    if (RCGC_LIKELY(atomic_load_explicit(&obj->ob_tid, memory_order_relaxed) ==
                    rcgc_tls_thread_id)) {
        atomic_store_explicit(&obj->ob_ref_local,
                              atomic_load_explicit(&obj->ob_ref_local, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        rcgc_gc_barrier_check(obj);
        return;
    }
    rcgc_incref_slow(obj);
}

/**
 * rcgc_decref - Drop a reference to @obj; it dies when the count reaches
 * zero (finalize once, then clear, release, free), on whichever thread
 * drops the last reference, exactly once.
 * @obj: a live object; not NULL.
 *
 * Dropping a reference that does not exist is reported through the fatal
 * handler: "rcgc: refcount below zero on <pair 0x...> in rcgc_decref" while
 * the object lives, "reference count changed on a dead object" once it has
 * died and until its memory is reused (nothing is written to it then: the
 * allocator's data in a freed block stays intact). A drop after the memory
 * was reused for another object cannot be told apart from a real one.
 * A drop from a thread that is not attached is reported too (immortal
 * objects excepted).
 * Deaths nest without using stack: a chain of ten million objects dies in
 * a loop (CPython's trashcan).
 * Thread safety: any attached thread. Memory ordering: the thread that
 *   releases the object sees every write other threads made before their
 *   decrements (acquire/release on the shared count).
 * Cost: owner path as rcgc_incref; a death runs the type's hooks. Never
 *   needs memory: when another thread's drop must be handed to the owner
 *   and the owner's queue cannot grow, it is merged with the world stopped
 *   instead (rare: a stop as short as a young collection's).
 */
static inline void rcgc_decref(rcgc_object *obj) {
    if (RCGC_LIKELY(atomic_load_explicit(&obj->ob_tid, memory_order_relaxed) ==
                    rcgc_tls_thread_id)) {
        uint32_t local = atomic_load_explicit(&obj->ob_ref_local, memory_order_relaxed);
        if (RCGC_LIKELY(local > 1)) {
            atomic_store_explicit(&obj->ob_ref_local, local - 1, memory_order_relaxed);
            return;
        }
        rcgc_merge_zero_local(obj); /* the owner's last reference: merge or die */
        return;
    }
    rcgc_decref_slow(obj);
}

/** rcgc_xdecref - rcgc_decref, doing nothing for NULL. */
static inline void rcgc_xdecref(rcgc_object *obj) {
    if (obj != NULL)
        rcgc_decref(obj);
}

/* ----------------------------------------------------------------- Threads */

/**
 * rcgc_thread_attach - Register the calling thread with rcgc.
 *
 * Returns 0, or -1 with errno = ENOMEM when the thread's record cannot be
 * allocated. Attaching an attached thread does nothing and returns 0. If a
 * collection is stopping the world, waits until it has restarted.
 * Thread safety: any thread. Cost: takes the thread-registry mutex once.
 */
RCGC_API int rcgc_thread_attach(void);

/**
 * rcgc_thread_detach - Unregister the calling thread.
 *
 * After it, the thread must not touch rcgc objects until it attaches again.
 * Runs by itself when an attached thread exits. Detaching a thread that is
 * not attached does nothing. Never waits for a collection to finish: the
 * thread counts as blocked while it detaches.
 * Thread safety: any thread. Cost: takes the thread-registry mutex once.
 */
RCGC_API void rcgc_thread_detach(void);

/**
 * rcgc_thread_is_attached - Whether the calling thread is attached.
 *
 * Thread safety: any thread. Cost: one thread-local load.
 */
RCGC_API bool rcgc_thread_is_attached(void);

/**
 * rcgc_safepoint - Let a collection that is stopping the world stop here.
 *
 * Hosts call it in long loops that touch rcgc objects; object creation
 * calls it too. When no stop is requested it returns at once; otherwise the
 * thread parks until the world restarts. An unattached or blocked thread
 * returns at once.
 * Thread safety: the calling thread. Memory ordering: parking publishes the
 *   thread's writes to the collector and returning observes the collector's
 *   (acquire/release through the thread's state).
 * Cost: one relaxed load of a global flag when no stop is requested.
 */
RCGC_API void rcgc_safepoint(void);

/**
 * rcgc_blocking_begin - Enter a region that does not touch rcgc objects.
 *
 * Wrap calls that may block (I/O, locks, sleeps, fork) so that a
 * collection does not wait for this thread. Regions do not nest: inside a
 * region this does nothing, and the first rcgc_blocking_end leaves it.
 * Calling it from a thread that is not attached does nothing.
 * Thread safety: the calling thread. Cost: one compare-and-swap.
 */
RCGC_API void rcgc_blocking_begin(void);

/**
 * rcgc_blocking_end - Leave a blocking region.
 *
 * If a collection has stopped the world, waits until it restarts: a thread
 * cannot return to touching objects while the collector works on them.
 * Thread safety: the calling thread. Cost: one compare-and-swap when no
 * collection runs.
 */
RCGC_API void rcgc_blocking_end(void);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_OBJECT_H */
