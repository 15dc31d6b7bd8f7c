/* src/weakref/weakref.c - weak references and finalizers: making them,
 * getting through them, and what happens when a referent dies.
 *
 * A get and a death meet on the weak reference's target word (W1): the
 * get sets its lock bit, takes a reference through
 * rcgc__object_try_incref (which fails once the count reached zero) and
 * puts the word back; the death clears the word, waiting out the bit,
 * before the referent's memory can go. So a get either wins (its
 * reference keeps the object alive, and the death that looked certain
 * never happens: the count is decided by one compare-and-swap) or returns
 * NULL, and never touches freed memory. The thread that owns the target
 * and made the weak reference needs no bit (W4): nobody else can take
 * its count to zero.
 *
 * Callbacks run after the clearing, newest weak reference first, once
 * each: at once on the thread whose decrement killed the referent, or -
 * when that thread holds the collector's mutex, or the world was stopped
 * - from a list run when the mutex is released or the world restarts.
 *
 * Shared: weak references (target word, atomics), the side table
 * (referents.c, stripe locks), the postponed list (its mutex, a leaf
 * never held while anything runs).
 */
#include "gc/gc_object.h"
#include "weakref/weakref_internal.h"

#include <errno.h>
#include <pthread.h>

/* ----------------------------------------------------------------- Types */

/* Weak references hold no references, but one with a callback is tracked,
 * so a collection can tell whether it is garbage itself (then its
 * callback does not run, as in CPython). */
static void traverse_nothing(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    (void)self;
    (void)visit;
    (void)arg;
}

static const rcgc_type weakref_type = {
    .name = "weakref", .size = sizeof(struct weakref), .release = rcgc__weakref_release};

static const rcgc_type weakref_callback_type = {.name = "weakref",
                                                .size = sizeof(struct weakref),
                                                .flags = RCGC_TYPE_GC,
                                                .traverse = traverse_nothing,
                                                .release = rcgc__weakref_release};

/* A finalizer holds a reference to itself while it is pending (Python's
 * registry of finalize objects does the same). */
struct finalizer {
    struct weakref ref;
    rcgc_finalizer_fn fn;
    void *arg;
    _Atomic bool pending;
};

static const rcgc_type finalizer_type = {
    .name = "finalizer", .size = sizeof(struct finalizer), .release = rcgc__weakref_release};

bool rcgc__weakref_type_is(const rcgc_type *type) {
    return type == &weakref_type || type == &weakref_callback_type || type == &finalizer_type ||
           type == &rcgc__weakmap_entry_type;
}

bool rcgc_is_weakref(const rcgc_object *obj) { return rcgc__weakref_type_is(obj->ob_type); }

/* ------------------------------------------------------- Death and hooks */

static pthread_mutex_t postponed_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct weakref *postponed_first, **postponed_last = &postponed_first;
static _Atomic bool postponed_any;

static void postpone(struct weakref *list) {
    if (list == NULL)
        return;
    pthread_mutex_lock(&postponed_mutex);
    *postponed_last = list;
    while (list->postponed != NULL)
        list = list->postponed;
    postponed_last = &list->postponed;
    atomic_store_explicit(&postponed_any, true, memory_order_relaxed);
    pthread_mutex_unlock(&postponed_mutex);
}

/* Run @list's callbacks (newest first) and drop the references taken. */
static void run_callbacks(struct weakref *list) {
    while (list != NULL) {
        struct weakref *ref = list;
        list = ref->postponed;
        ref->postponed = NULL;
        ref->callback(&ref->head, ref->arg);
        rcgc_decref(&ref->head);
    }
}

static void run_postponed(void) {
    if (!atomic_load_explicit(&postponed_any, memory_order_relaxed) || rcgc__gc_lock_held() ||
        !rcgc_thread_is_attached())
        return;
    pthread_mutex_lock(&postponed_mutex);
    struct weakref *list = postponed_first;
    postponed_first = NULL;
    postponed_last = &postponed_first;
    atomic_store_explicit(&postponed_any, false, memory_order_relaxed);
    pthread_mutex_unlock(&postponed_mutex);
    run_callbacks(list);
}

/* A referent died with the world running (its last reference, on this
 * thread). */
static void referent_died(rcgc_object *obj) {
    struct weakref *run = rcgc__referents_clear(obj, NULL);
    if (run == NULL)
        return;
    /* Under the collector's mutex (a death in a collection's sweep), the
     * callbacks wait for its release. */
    if (rcgc__gc_lock_held())
        postpone(run);
    else
        run_callbacks(run);
}

static void referent_found_dead_stopped(rcgc_object *obj,
                                        bool (*is_garbage)(const rcgc_object *obj)) {
    postpone(rcgc__referents_clear(obj, is_garbage));
}

static const struct rcgc__death_hooks weak_hooks = {.died = referent_died,
                                                    .found_dead_stopped =
                                                        referent_found_dead_stopped,
                                                    .run_postponed = run_postponed,
                                                    .owner_lost = rcgc__referents_owner_lost};

static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void install_hooks(void) { rcgc__object_set_death_hooks(&weak_hooks); }

/* ------------------------------------------------------ Weak references */

int rcgc__weakref_init(struct weakref *ref, rcgc_object *target, rcgc_weakref_callback callback,
                       void *arg) {
    pthread_once(&hooks_once, install_hooks);
    /* W3; the new object is ours, so the change cannot fail. */
    (void)rcgc_set_rc_mode(&ref->head, RCGC_RC_ATOMIC);
    ref->callback = callback;
    ref->arg = arg;
    return rcgc__referents_add(target, ref) != NULL ? 0 : -1;
}

bool rcgc__weakref_detach(struct weakref *ref) {
    /* Acquire: a target already cleared was cleared by a death that
     * touches the reference no more after (W2), so it may be freed now. */
    uintptr_t target = atomic_load_explicit(&ref->target, memory_order_acquire) & ~WEAKREF_LOCKED;
    return target != 0 && rcgc__referents_remove(target, ref);
}

void rcgc__weakref_release(rcgc_object *self) { (void)rcgc__weakref_detach(weakref_of(self)); }

static void check_target(const rcgc_object *target, const char *where) {
    if (target == NULL)
        rcgc__fatal("rcgc: NULL target in %s", where);
}

rcgc_object *rcgc_weakref_new(rcgc_object *target, rcgc_weakref_callback callback, void *arg) {
    check_target(target, "rcgc_weakref_new");
    if (callback == NULL) {
        struct weakref *shared = rcgc__referents_shared(target);
        if (shared != NULL)
            return &shared->head;
    }
    rcgc_object *obj = rcgc_new(callback != NULL ? &weakref_callback_type : &weakref_type);
    if (obj == NULL)
        return NULL;
    if (rcgc__weakref_init(weakref_of(obj), target, callback, arg) != 0) {
        rcgc_decref(obj);
        errno = ENOMEM;
        return NULL;
    }
    return obj;
}

static inline void check_weakref(const rcgc_object *ref, const char *where) {
    if (RCGC_UNLIKELY(ref == NULL))
        rcgc__fatal("rcgc: NULL weak reference in %s", where);
    if (RCGC_UNLIKELY(!rcgc__weakref_type_is(ref->ob_type)))
        rcgc__report_object(ref, "not a weak reference:", where);
}

rcgc_object *rcgc_weakref_get(rcgc_object *ref) {
    check_weakref(ref, "rcgc_weakref_get");
    struct weakref *w = weakref_of(ref);
    if (atomic_load_explicit(&w->fast_owner, memory_order_relaxed) == rcgc_tls_thread_id) {
        /* W4: the caller owns the target, alive with a count of at least
         * one, which only its own thread can change. */
        rcgc_object *obj = (rcgc_object *)(atomic_load_explicit(&w->target, memory_order_relaxed) &
                                           ~WEAKREF_LOCKED);
        if (obj == NULL)
            return NULL;
        uint32_t local = atomic_load_explicit(&obj->ob_ref_local, memory_order_relaxed);
        rcgc_assert(local > 0 &&
                    atomic_load_explicit(&obj->ob_tid, memory_order_relaxed) == rcgc_tls_thread_id);
        atomic_store_explicit(&obj->ob_ref_local, local + 1, memory_order_relaxed);
        rcgc_gc_barrier_check(obj);
        return obj;
    }
    uintptr_t target = weakref_lock(w);
    if (target == 0)
        return NULL;
    rcgc_object *obj = (rcgc_object *)target;
    bool taken = rcgc__object_try_incref(obj);
    weakref_unlock(w, target);
    return taken ? obj : NULL;
}

size_t rcgc_weakref_count(const rcgc_object *target) {
    check_target(target, "rcgc_weakref_count");
    return rcgc__referents_count(target);
}

/* ------------------------------------------------------------ Finalizers */

static void check_finalizer(const rcgc_object *obj) {
    if (obj == NULL)
        rcgc__fatal("rcgc: NULL finalizer");
    if (obj->ob_type != &finalizer_type)
        rcgc__report_object(obj, "not a finalizer:", "rcgc_finalizer_*");
}

static struct finalizer *finalizer_of(rcgc_object *obj) {
    check_finalizer(obj);
    return (struct finalizer *)obj;
}

/* Whoever clears `pending` runs the function (or detaches) and drops the
 * finalizer's reference to itself. */
static bool finalizer_claim(struct finalizer *fin) {
    return atomic_exchange_explicit(&fin->pending, false, memory_order_acq_rel);
}

static void finalizer_fire(rcgc_object *ref, void *arg) {
    (void)arg;
    struct finalizer *fin = (struct finalizer *)ref;
    if (!finalizer_claim(fin))
        return;
    fin->fn(fin->arg);
    rcgc_decref(ref); /* the caller still holds one: not the last */
}

rcgc_object *rcgc_finalizer_new(rcgc_object *target, rcgc_finalizer_fn fn, void *arg) {
    check_target(target, "rcgc_finalizer_new");
    if (fn == NULL)
        rcgc__fatal("rcgc: NULL function in rcgc_finalizer_new");
    rcgc_object *obj = rcgc_new(&finalizer_type);
    if (obj == NULL)
        return NULL;
    struct finalizer *fin = (struct finalizer *)obj;
    fin->fn = fn;
    fin->arg = arg;
    atomic_store_explicit(&fin->pending, true, memory_order_relaxed);
    if (rcgc__weakref_init(&fin->ref, target, finalizer_fire, NULL) != 0) {
        rcgc_decref(obj);
        errno = ENOMEM;
        return NULL;
    }
    rcgc_incref(obj); /* its own, until it runs or is detached */
    return obj;
}

bool rcgc_finalizer_call(rcgc_object *finalizer) {
    struct finalizer *fin = finalizer_of(finalizer);
    if (!finalizer_claim(fin))
        return false;
    (void)rcgc__weakref_detach(&fin->ref);
    fin->fn(fin->arg);
    rcgc_decref(finalizer);
    return true;
}

bool rcgc_finalizer_detach(rcgc_object *finalizer) {
    struct finalizer *fin = finalizer_of(finalizer);
    if (!finalizer_claim(fin))
        return false;
    (void)rcgc__weakref_detach(&fin->ref);
    rcgc_decref(finalizer);
    return true;
}

bool rcgc_finalizer_alive(const rcgc_object *finalizer) {
    check_finalizer(finalizer);
    return atomic_load_explicit(&((const struct finalizer *)finalizer)->pending,
                                memory_order_acquire);
}
