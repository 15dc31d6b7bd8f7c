/* src/weakref/referents.c - the side table: for each object that has weak
 * references, the list of them, found by the object's address. An object
 * without weak references has no entry and pays nothing but a flag bit.
 *
 * The table holds the newest weak reference of each referent, keyed by
 * that reference's target; older ones hang from it (newer/older links).
 * So a referent costs no allocation of its own, and its death finds its
 * list with one probe.
 *
 * Shared: the table is split into stripes by address (free-threaded
 * CPython stripes its per-object locks the same way); each stripe's lock
 * guards its hash set (Concurrency Kit's ck_hs, of the newest references,
 * compared by target; used single-writer under the lock, so
 * ThreadSanitizer sees every access ordered by the lock's atomics) and
 * the lists hanging from it (W2). A stripe lock is held for
 * a few hundred instructions and never across a safepoint, an object's
 * death, an allocation of an object or a callback: a spin lock, which may
 * be taken with the world stopped.
 */
#include "weakref/weakref_internal.h"

#include <rcgc/raw.h>

#include <ck_hs.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#define STRIPES 64

struct stripe {
    atomic_bool locked;
    bool ready;
    ck_hs_t set; /* the newest struct weakref of each referent, by target */
} __attribute__((aligned(64)));

static struct stripe stripes[STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static inline uintptr_t target_of(const struct weakref *ref) {
    return atomic_load_explicit(&ref->target, memory_order_relaxed) & ~WEAKREF_LOCKED;
}

static inline unsigned long address_hash(uintptr_t address) {
    /* Objects are 16-byte aligned: mix the bits above those. */
    uint64_t h = (uint64_t)address >> 4;
    h *= UINT64_C(0x9E3779B97F4A7C15);
    return (unsigned long)(h ^ (h >> 29));
}

/* A set element's target never changes while it is in the set (W2): it is
 * taken out or replaced before the target is cleared. */
static unsigned long newest_hash(const void *object, unsigned long seed) {
    (void)seed;
    return address_hash(target_of(object));
}

static bool same_target(const void *a, const void *b) { return target_of(a) == target_of(b); }

static void *table_malloc(size_t size) { return rcgc_raw_malloc(size); }

static void table_free(void *p, size_t size, bool defer) {
    (void)size;
    (void)defer; /* single writer under the lock: nothing reads concurrently */
    rcgc_raw_free(p);
}

static void *table_realloc(void *p, size_t old_size, size_t new_size, bool defer) {
    (void)old_size;
    (void)defer;
    return rcgc_raw_realloc(p, new_size);
}

static struct ck_malloc table_allocator = {
    .malloc = table_malloc, .free = table_free, .realloc = table_realloc};

static void stripes_init(void) {
    for (unsigned i = 0; i < STRIPES; i++)
        stripes[i].ready = ck_hs_init(&stripes[i].set, CK_HS_MODE_OBJECT | CK_HS_MODE_SPMC,
                                      newest_hash, same_target, &table_allocator, 8, 0);
}

static struct stripe *stripe_lock(uintptr_t target, unsigned long *hash) {
    pthread_once(&stripes_once, stripes_init);
    *hash = address_hash(target);
    struct stripe *stripe = &stripes[(*hash >> 24) % STRIPES];
    for (unsigned spins = 0;; spins++) {
        if (!atomic_load_explicit(&stripe->locked, memory_order_relaxed) &&
            !atomic_exchange_explicit(&stripe->locked, true, memory_order_acquire))
            return stripe;
        /* More threads than cores: a holder may be preempted. */
        if (spins % 128 == 127)
            sched_yield();
        else
            rcgc__cpu_relax();
    }
}

static void stripe_unlock(struct stripe *stripe) {
    atomic_store_explicit(&stripe->locked, false, memory_order_release);
}

/* The newest weak reference to @target, or NULL. */
static struct weakref *newest(struct stripe *stripe, uintptr_t target, unsigned long hash) {
    if (!stripe->ready)
        return NULL;
    struct weakref probe;
    atomic_init(&probe.target, target);
    return ck_hs_get(&stripe->set, hash, &probe);
}

/* Make @ref, whose target is set, the newest weak reference to it (added,
 * or replacing the one there: that needs no new slot, so cannot fail). */
static bool set_newest(struct stripe *stripe, unsigned long hash, struct weakref *ref) {
    void *replaced = NULL;
    return stripe->ready && ck_hs_set(&stripe->set, hash, ref, &replaced);
}

/* Take @target's list out of the set; returns its newest reference. */
static struct weakref *forget(struct stripe *stripe, uintptr_t target, unsigned long hash) {
    if (!stripe->ready)
        return NULL;
    struct weakref probe;
    atomic_init(&probe.target, target);
    return ck_hs_remove(&stripe->set, hash, &probe);
}

struct weakref *rcgc__referents_shared(rcgc_object *target) {
    unsigned long hash;
    uintptr_t address = (uintptr_t)target;
    struct stripe *stripe = stripe_lock(address, &hash);
    struct weakref *found = NULL;
    for (struct weakref *r = newest(stripe, address, hash); r != NULL; r = r->older) {
        /* One dying meanwhile (count at zero) is passed over. */
        if (r->callback == NULL && rcgc__object_try_incref(&r->head)) {
            found = r;
            break;
        }
    }
    stripe_unlock(stripe);
    return found;
}

struct weakref *rcgc__referents_add(rcgc_object *target, struct weakref *ref) {
    unsigned long hash;
    uintptr_t address = (uintptr_t)target;
    struct stripe *stripe = stripe_lock(address, &hash);
    struct weakref *older = newest(stripe, address, hash);
    atomic_store_explicit(&ref->target, address, memory_order_relaxed);
    if (!set_newest(stripe, hash, ref)) {
        atomic_store_explicit(&ref->target, 0, memory_order_relaxed);
        stripe_unlock(stripe);
        return rcgc__fail(ENOMEM);
    }
    /* W4: made by the target's owner, on its own object. */
    uint32_t owner = atomic_load_explicit(&target->ob_tid, memory_order_relaxed);
    atomic_store_explicit(&ref->fast_owner, owner == rcgc_tls_thread_id ? owner : 0,
                          memory_order_relaxed);
    ref->newer = NULL;
    ref->older = older;
    if (older != NULL)
        older->newer = ref;
    /* Watched before the lock is released: a death that finds the list
     * must find the flag too. */
    rcgc__object_watch_death(target);
    stripe_unlock(stripe);
    return ref;
}

/* Set @ref's target to 0: taken like a reader's lock bit (W1: a reader
 * holds it for a few instructions and never parks), released as 0. */
static void clear_target(struct weakref *ref) {
    if (weakref_lock(ref) != 0)
        atomic_store_explicit(&ref->target, 0, memory_order_release);
}

bool rcgc__referents_remove(uintptr_t target, struct weakref *ref) {
    unsigned long hash;
    struct stripe *stripe = stripe_lock(target, &hash);
    /* The target may have died and been cleared meanwhile (its whole list
     * went with it): only a reference still pointing there is listed. */
    bool listed =
        (atomic_load_explicit(&ref->target, memory_order_acquire) & ~WEAKREF_LOCKED) == target;
    if (listed) {
        if (ref->newer != NULL) {
            ref->newer->older = ref->older;
        } else if (ref->older != NULL) {
            /* The next one heads the list now: a replacement, which
             * needs no new slot, so it cannot fail. */
            (void)set_newest(stripe, hash, ref->older);
        } else {
            (void)forget(stripe, target, hash);
        }
        if (ref->older != NULL)
            ref->older->newer = ref->newer;
        ref->newer = ref->older = NULL;
        clear_target(ref);
    }
    stripe_unlock(stripe);
    return listed;
}

struct weakref *rcgc__referents_clear(rcgc_object *target,
                                      bool (*is_garbage)(const rcgc_object *obj)) {
    unsigned long hash;
    uintptr_t address = (uintptr_t)target;
    struct stripe *stripe = stripe_lock(address, &hash);
    struct weakref *list = forget(stripe, address, hash); /* one probe finds and takes it */
    struct weakref *run = NULL, **tail = &run;
    for (struct weakref *ref = list, *next; ref != NULL; ref = next) {
        next = ref->older;
        ref->newer = ref->older = NULL;
        /* A weak reference dying itself (count at zero: its release waits
         * for this lock) or found garbage by the same stop gets no
         * callback (CPython's rule for collections). */
        if (ref->callback != NULL && (is_garbage == NULL || !is_garbage(&ref->head)) &&
            rcgc__object_try_incref(&ref->head)) {
            ref->postponed = NULL;
            *tail = ref;
            tail = &ref->postponed;
        }
        /* The last touch (W2): a dying weak reference that finds its
         * target cleared frees itself without this lock. */
        clear_target(ref);
    }
    stripe_unlock(stripe);
    return run;
}

void rcgc__referents_owner_lost(rcgc_object *target) {
    unsigned long hash;
    uintptr_t address = (uintptr_t)target;
    struct stripe *stripe = stripe_lock(address, &hash);
    for (struct weakref *r = newest(stripe, address, hash); r != NULL; r = r->older)
        atomic_store_explicit(&r->fast_owner, 0, memory_order_relaxed);
    stripe_unlock(stripe);
}

size_t rcgc__referents_count(const rcgc_object *target) {
    unsigned long hash;
    uintptr_t address = (uintptr_t)target;
    struct stripe *stripe = stripe_lock(address, &hash);
    size_t count = 0;
    for (struct weakref *r = newest(stripe, address, hash); r != NULL; r = r->older)
        count++;
    stripe_unlock(stripe);
    return count;
}
