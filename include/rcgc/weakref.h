/* rcgc/weakref.h - weak references, finalizers and weak maps.
 *
 * Purpose: refer to an object without keeping it alive (caches,
 * observers, back-pointers that would otherwise make cycles), with
 * CPython's rules (weakref.ref, weakref.finalize, WeakValueDictionary,
 * WeakKeyDictionary), safe from any number of attached threads.
 *
 * A weak reference is itself an rcgc object. rcgc_weakref_get returns a
 * new strong reference while the target lives and NULL for ever once it
 * died: a get racing with the last decrement on another thread either
 * wins (the object lives on) or returns NULL, in every counting mode. A
 * referent without weak references pays nothing: they live in a side
 * table found by its address, and one flag bit in its header says to look
 * there when it dies.
 *
 * When the target dies, every weak reference to it is cleared first, then
 * the callbacks run (newest weak reference first), once each, on a thread
 * of rcgc's choosing, never under an rcgc lock and never while other
 * threads are parked:
 *   - death by reference count: after the target's finalize hook (which
 *     may resurrect it: then nothing is cleared), before its clear and
 *     release hooks; the callbacks run on the thread that dropped the last
 *     reference, before its rcgc_decref returns;
 *   - death in a collection: cleared while the world is stopped, before
 *     any finalize or clear hook of that collection runs (so a finalizer
 *     that resurrects its object finds its weak references cleared, as in
 *     CPython); callbacks run after the collection releases its lock, and
 *     only for weak references that are not garbage themselves;
 *   - a deferred object (RCGC_RC_DEFERRED) dies at a sync, which clears its
 *     weak references with the world stopped, before its finalizer.
 *
 * Thread model: every function needs an attached thread; weak references,
 * finalizers and maps may be shared by all of them.
 *
 * Usage:
 *     rcgc_object *ref = rcgc_weakref_new(obj, NULL, NULL);
 *     rcgc_object *strong = rcgc_weakref_get(ref);   // obj, or NULL
 *     if (strong != NULL) { use(strong); rcgc_decref(strong); }
 *     rcgc_decref(ref);
 *
 *     rcgc_weakmap *cache = rcgc_weakmap_new(RCGC_WEAK_VALUES);
 *     rcgc_weakmap_set(cache, RCGC_KEY_STR("adam"), man);
 *     rcgc_object *m = rcgc_weakmap_get(cache, RCGC_KEY_STR("adam"));
 */
#ifndef RCGC_WEAKREF_H
#define RCGC_WEAKREF_H

#include <rcgc/object.h>

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------ Weak references */

/**
 * rcgc_weakref_callback - called once after a weak reference is cleared.
 * @ref: the weak reference (a borrowed reference, valid during the call;
 *   rcgc_weakref_get on it returns NULL).
 * @arg: what rcgc_weakref_new was given.
 */
typedef void (*rcgc_weakref_callback)(rcgc_object *ref, void *arg);

/**
 * rcgc_weakref_new - A weak reference to @target.
 * @target: a live object (any type, any counting mode).
 * @callback: called once when @target dies, if the weak reference is
 *   still alive then; NULL for none.
 * @arg: passed to @callback.
 *
 * Returns a new reference to a weak reference, or NULL with errno =
 * ENOMEM. Without a callback, an existing callback-less weak reference to
 * @target is returned again (CPython shares them the same way).
 * Thread safety: any attached thread holding a reference to @target.
 * Cost: one small object, a lock of the target's stripe of the side
 *   table; the first weak reference to @target also adds its entry.
 */
RCGC_API RCGC_NODISCARD rcgc_object *rcgc_weakref_new(rcgc_object *target,
                                                      rcgc_weakref_callback callback, void *arg);

/**
 * rcgc_weakref_get - A new strong reference to @ref's target, or NULL once
 * the target is dead.
 * @ref: a weak reference.
 *
 * Thread safety: any attached thread. Cost: one compare-and-swap on @ref
 *   and, unless the caller owns the target, one on the target's count.
 */
RCGC_API RCGC_NODISCARD rcgc_object *rcgc_weakref_get(rcgc_object *ref);

/**
 * rcgc_weakref_count - How many weak references (finalizers and weak-map
 * entries included) refer to @target (weakref.getweakrefcount).
 * @target: a live object.
 */
RCGC_API size_t rcgc_weakref_count(const rcgc_object *target);

/**
 * rcgc_is_weakref - Whether @obj is a weak reference (or a finalizer).
 * @obj: a live object.
 */
RCGC_API bool rcgc_is_weakref(const rcgc_object *obj);

/* ------------------------------------------------------------ Finalizers */

/** rcgc_finalizer_fn - what a finalizer runs; it is given its @arg only. */
typedef void (*rcgc_finalizer_fn)(void *arg);

/**
 * rcgc_finalizer_new - Run @fn(@arg) once, when @target dies (Python's
 * weakref.finalize).
 * @target: a live object.
 * @fn: the function; it does not get the target (which is gone), so it
 *   cannot resurrect it.
 * @arg: passed to @fn.
 *
 * Returns a new reference to the finalizer, or NULL with errno = ENOMEM.
 * Unlike a weak reference's callback, the finalizer runs even when the
 * caller drops the returned reference: it keeps itself alive until it has
 * run or is detached. Runs as a weak-reference callback (see the file
 * comment for when); at process exit, finalizers still pending do not run.
 * Thread safety: any attached thread holding a reference to @target.
 */
RCGC_API RCGC_NODISCARD rcgc_object *rcgc_finalizer_new(rcgc_object *target, rcgc_finalizer_fn fn,
                                                        void *arg);

/**
 * rcgc_finalizer_call - Run the finalizer now, if it has not run and is
 * not detached (Python's finalize()); it will not run again.
 * @finalizer: from rcgc_finalizer_new.
 *
 * Returns true if this call ran it.
 */
RCGC_API bool rcgc_finalizer_call(rcgc_object *finalizer);

/**
 * rcgc_finalizer_detach - Cancel the finalizer (Python's detach()).
 * @finalizer: from rcgc_finalizer_new.
 *
 * Returns true if it was still pending (it will now never run).
 */
RCGC_API bool rcgc_finalizer_detach(rcgc_object *finalizer);

/**
 * rcgc_finalizer_alive - Whether the finalizer is still pending.
 * @finalizer: from rcgc_finalizer_new.
 */
RCGC_API bool rcgc_finalizer_alive(const rcgc_object *finalizer);

/* -------------------------------------------------------------- Weak maps */

/**
 * enum rcgc_weakmap_kind - what a weak map holds weakly.
 * @RCGC_WEAK_VALUES: string or integer keys (copied), object values held
 *   weakly (WeakValueDictionary): an entry vanishes when its value dies.
 * @RCGC_WEAK_KEYS: object keys compared by identity and held weakly,
 *   values held strongly (WeakKeyDictionary): an entry vanishes, and
 *   drops its value, when its key dies.
 */
enum rcgc_weakmap_kind {
    RCGC_WEAK_VALUES = 1,
    RCGC_WEAK_KEYS = 2,
};

/** enum rcgc_key_kind - what an rcgc_key holds. */
enum rcgc_key_kind {
    RCGC_KEY_INTEGER = 1,
    RCGC_KEY_STRING = 2,
    RCGC_KEY_OBJECT = 3,
};

/**
 * struct rcgc_key - a weak map's key, passed by value.
 * @kind: an enum rcgc_key_kind: integers and strings for RCGC_WEAK_VALUES
 *   maps, objects for RCGC_WEAK_KEYS maps.
 * @integer: the integer.
 * @bytes, @length: the string (any bytes; not necessarily terminated).
 * @object: the object (compared by address).
 *
 * Made with RCGC_KEY_INT, RCGC_KEY_STR, RCGC_KEY_BYTES or RCGC_KEY_OBJ.
 */
typedef struct rcgc_key {
    int kind;
    int64_t integer;
    const void *bytes;
    size_t length;
    rcgc_object *object;
} rcgc_key;

#define RCGC_KEY_INT(n) ((rcgc_key){.kind = RCGC_KEY_INTEGER, .integer = (int64_t)(n)})
#define RCGC_KEY_BYTES(p, n) ((rcgc_key){.kind = RCGC_KEY_STRING, .bytes = (p), .length = (n)})
#define RCGC_KEY_STR(s) RCGC_KEY_BYTES((s), strlen(s))
#define RCGC_KEY_OBJ(o) ((rcgc_key){.kind = RCGC_KEY_OBJECT, .object = (o)})

typedef struct rcgc_weakmap rcgc_weakmap;

/**
 * rcgc_weakmap_new - An empty weak map.
 * @kind: RCGC_WEAK_VALUES or RCGC_WEAK_KEYS.
 *
 * Returns the map, or NULL with errno = EINVAL (unknown kind) or ENOMEM.
 * Reads (get, len, foreach) take no lock: the map is a lock-free hash
 * table (liburcu's cds_lfht) read under RCU; writers serialize on the
 * map's own mutex, which no callback or hook is ever called under.
 */
RCGC_API RCGC_NODISCARD rcgc_weakmap *rcgc_weakmap_new(int kind);

/**
 * rcgc_weakmap_set - Map @key to @value, replacing any entry for @key.
 * @map: the map.
 * @key: a key of the map's kind (a string's bytes are copied).
 * @value: a live object.
 *
 * Returns 0, or -1 with errno = EINVAL (wrong key kind, NULL value) or
 * ENOMEM (nothing changed).
 */
RCGC_API int rcgc_weakmap_set(rcgc_weakmap *map, rcgc_key key, rcgc_object *value);

/**
 * rcgc_weakmap_get - A new reference to the value for @key, or NULL (no
 * entry, or its weak side is dead).
 * @map: the map.
 * @key: the key.
 *
 * Lock-free. Never returns a dead object.
 */
RCGC_API RCGC_NODISCARD rcgc_object *rcgc_weakmap_get(rcgc_weakmap *map, rcgc_key key);

/**
 * rcgc_weakmap_setdefault - Atomically get the live value for @key, or
 * insert @value and return it (Python's dict.setdefault, atomic as its
 * users ask of it): two threads racing on one key get the same object.
 * @map: the map.
 * @key: the key.
 * @value: the value to insert if @key has no live entry.
 *
 * Returns a new reference to the value now in the map, or NULL with errno
 * = EINVAL or ENOMEM.
 */
RCGC_API RCGC_NODISCARD rcgc_object *rcgc_weakmap_setdefault(rcgc_weakmap *map, rcgc_key key,
                                                             rcgc_object *value);

/**
 * rcgc_weakmap_del - Remove @key's entry.
 * @map: the map.
 * @key: the key.
 *
 * Returns 0, or -1 with errno = ENOENT when there is no live entry.
 */
RCGC_API int rcgc_weakmap_del(rcgc_weakmap *map, rcgc_key key);

/**
 * rcgc_weakmap_len - How many entries the map holds.
 * @map: the map.
 *
 * An entry leaves the count when its weak side's death is handled: before
 * the rcgc_decref that killed it returns, or before rcgc_collect returns.
 */
RCGC_API size_t rcgc_weakmap_len(const rcgc_weakmap *map);

/**
 * rcgc_weakmap_visit_fn - called by rcgc_weakmap_foreach for each entry.
 * @key: the entry's key (a string's bytes stay valid during the call).
 * @value: the entry's value (a reference held for the call).
 * @arg: the caller's.
 *
 * Returns 0 to go on, anything else to stop. May use the map freely.
 */
typedef int (*rcgc_weakmap_visit_fn)(rcgc_key key, rcgc_object *value, void *arg);

/**
 * rcgc_weakmap_foreach - Call @visit for each live entry.
 * @map: the map.
 * @visit: the function.
 * @arg: passed to @visit.
 *
 * Visits a snapshot taken without a lock: entries whose weak side is dead
 * are skipped, each visited entry's key and value are held alive for the
 * call, and changes made meanwhile (by @visit too) never make it fail.
 * Returns how many entries were visited, or -1 with errno = ENOMEM when
 * the snapshot could not be taken (nothing visited).
 */
RCGC_API ptrdiff_t rcgc_weakmap_foreach(rcgc_weakmap *map, rcgc_weakmap_visit_fn visit, void *arg);

/**
 * rcgc_weakmap_free - Drop every entry and free the map.
 * @map: the map, or NULL.
 *
 * No other thread may use @map during or after the call.
 */
RCGC_API void rcgc_weakmap_free(rcgc_weakmap *map);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_WEAKREF_H */
