/* src/weakref/referents.c - the side table: for each object that has weak
 * references, the list of them, found by the object's address. An object
 * without weak references has no entry and pays nothing but a flag bit.
 *
 * Shared: the table is split into stripes by address (free-threaded
 * CPython stripes its per-object locks the same way); each stripe's
 * mutex guards its hash set (Concurrency Kit's ck_hs, used single-writer
 * under the mutex, so ThreadSanitizer sees every access ordered by the
 * mutex) and the lists hanging from it (W2). No stripe mutex is held
 * across a safepoint, an object's death or a callback, so one may be
 * taken with the world stopped.
 */
#include "weakref/weakref_internal.h"

#include <rcgc/raw.h>

#include <ck_hs.h>
#include <errno.h>
#include <pthread.h>

#define STRIPES 64

/* One object's weak references. */
struct referent {
    uintptr_t target;
    struct weakref *newest;
    size_t count;
};

struct stripe {
    pthread_mutex_t mutex;
    ck_hs_t set; /* of struct referent, by target */
    bool ready;
} __attribute__((aligned(64)));

static struct stripe stripes[STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static inline unsigned long address_hash(uintptr_t address) {
    /* Objects are 16-byte aligned: mix the bits above those. */
    uint64_t h = (uint64_t)address >> 4;
    h *= UINT64_C(0x9E3779B97F4A7C15);
    return (unsigned long)(h ^ (h >> 29));
}

static unsigned long referent_hash(const void *object, unsigned long seed) {
    (void)seed;
    return address_hash(((const struct referent *)object)->target);
}

static bool referent_same(const void *a, const void *b) {
    return ((const struct referent *)a)->target == ((const struct referent *)b)->target;
}

static void *hs_malloc(size_t size) { return rcgc_raw_malloc(size); }

static void hs_free(void *p, size_t size, bool defer) {
    (void)size;
    (void)defer; /* single writer under the mutex: nothing reads concurrently */
    rcgc_raw_free(p);
}

static void *hs_realloc(void *p, size_t old_size, size_t new_size, bool defer) {
    (void)old_size;
    (void)defer;
    return rcgc_raw_realloc(p, new_size);
}

static struct ck_malloc hs_allocator = {
    .malloc = hs_malloc, .free = hs_free, .realloc = hs_realloc};

static void stripes_init(void) {
    for (unsigned i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&stripes[i].mutex, NULL);
        stripes[i].ready = ck_hs_init(&stripes[i].set, CK_HS_MODE_OBJECT | CK_HS_MODE_SPMC,
                                      referent_hash, referent_same, &hs_allocator, 8, 0);
    }
}

static struct stripe *stripe_lock(uintptr_t target, unsigned long *hash) {
    pthread_once(&stripes_once, stripes_init);
    *hash = address_hash(target);
    struct stripe *stripe = &stripes[(*hash >> 24) % STRIPES];
    pthread_mutex_lock(&stripe->mutex);
    return stripe;
}

static struct referent *find(struct stripe *stripe, uintptr_t target, unsigned long hash) {
    if (!stripe->ready)
        return NULL;
    struct referent probe = {.target = target};
    return ck_hs_get(&stripe->set, hash, &probe);
}

static void forget(struct stripe *stripe, struct referent *entry, unsigned long hash) {
    (void)ck_hs_remove(&stripe->set, hash, entry);
    rcgc_raw_free(entry);
}

struct weakref *rcgc__referents_shared(rcgc_object *target) {
    unsigned long hash;
    uintptr_t address = (uintptr_t)target;
    struct stripe *stripe = stripe_lock(address, &hash);
    struct referent *entry = find(stripe, address, hash);
    struct weakref *found = NULL;
    for (struct weakref *r = entry != NULL ? entry->newest : NULL; r != NULL; r = r->older) {
        /* One dying meanwhile (count at zero) is passed over. */
        if (r->callback == NULL && rcgc__object_try_incref(&r->head)) {
            found = r;
            break;
        }
    }
    pthread_mutex_unlock(&stripe->mutex);
    return found;
}

struct weakref *rcgc__referents_add(rcgc_object *target, struct weakref *ref) {
    unsigned long hash;
    uintptr_t address = (uintptr_t)target;
    struct stripe *stripe = stripe_lock(address, &hash);
    struct referent *entry = find(stripe, address, hash);
    if (entry == NULL) {
        entry = rcgc_raw_malloc(sizeof *entry);
        if (entry != NULL) {
            *entry = (struct referent){.target = address};
            if (!stripe->ready || !ck_hs_put(&stripe->set, hash, entry)) {
                rcgc_raw_free(entry);
                entry = NULL;
            }
        }
        if (entry == NULL) {
            pthread_mutex_unlock(&stripe->mutex);
            return rcgc__fail(ENOMEM);
        }
    }
    ref->newer = NULL;
    ref->older = entry->newest;
    if (entry->newest != NULL)
        entry->newest->newer = ref;
    entry->newest = ref;
    entry->count++;
    atomic_store_explicit(&ref->target, address, memory_order_relaxed);
    /* Watched before the mutex is released: a death that finds the list
     * must find the flag too. */
    rcgc__object_watch_death(target);
    pthread_mutex_unlock(&stripe->mutex);
    return ref;
}

/* Set @ref's target to 0, waiting for a reader holding its lock bit (W1:
 * a reader holds it for a few instructions and never parks). */
static void clear_target(struct weakref *ref) {
    uintptr_t target = atomic_load_explicit(&ref->target, memory_order_relaxed);
    for (;;) {
        if ((target & WEAKREF_LOCKED) != 0) {
            rcgc__cpu_relax();
            target = atomic_load_explicit(&ref->target, memory_order_relaxed);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&ref->target, &target, 0, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return;
    }
}

bool rcgc__referents_remove(uintptr_t target, struct weakref *ref) {
    unsigned long hash;
    struct stripe *stripe = stripe_lock(target, &hash);
    bool removed = false;
    /* The target may have died and been cleared meanwhile (its whole list
     * went with it): only a reference still pointing there is listed. */
    if ((atomic_load_explicit(&ref->target, memory_order_acquire) & ~WEAKREF_LOCKED) == target) {
        struct referent *entry = find(stripe, target, hash);
        clear_target(ref);
        if (ref->newer != NULL)
            ref->newer->older = ref->older;
        else if (entry != NULL)
            entry->newest = ref->older;
        if (ref->older != NULL)
            ref->older->newer = ref->newer;
        ref->newer = ref->older = NULL;
        if (entry != NULL && --entry->count == 0)
            forget(stripe, entry, hash);
        removed = true;
    }
    pthread_mutex_unlock(&stripe->mutex);
    return removed;
}

struct weakref *rcgc__referents_clear(rcgc_object *target,
                                      bool (*is_garbage)(const rcgc_object *obj)) {
    unsigned long hash;
    uintptr_t address = (uintptr_t)target;
    struct stripe *stripe = stripe_lock(address, &hash);
    struct referent *entry = find(stripe, address, hash);
    struct weakref *run = NULL, **tail = &run;
    if (entry != NULL) {
        for (struct weakref *ref = entry->newest, *next; ref != NULL; ref = next) {
            next = ref->older;
            ref->newer = ref->older = NULL;
            /* A weak reference dying itself (count at zero: its release
             * waits for this mutex) or found garbage by the same stop gets
             * no callback (CPython's rule for collections). */
            if (ref->callback != NULL && (is_garbage == NULL || !is_garbage(&ref->head)) &&
                rcgc__object_try_incref(&ref->head)) {
                ref->postponed = NULL;
                *tail = ref;
                tail = &ref->postponed;
            }
            /* The last touch (W2): a dying weak reference that finds its
             * target cleared frees itself without this mutex. */
            clear_target(ref);
        }
        forget(stripe, entry, hash);
    }
    pthread_mutex_unlock(&stripe->mutex);
    return run;
}

size_t rcgc__referents_count(const rcgc_object *target) {
    unsigned long hash;
    uintptr_t address = (uintptr_t)target;
    struct stripe *stripe = stripe_lock(address, &hash);
    struct referent *entry = find(stripe, address, hash);
    size_t count = entry != NULL ? entry->count : 0;
    pthread_mutex_unlock(&stripe->mutex);
    return count;
}
