/* src/gc/introspect.c - looking at the tracked objects: freeze and
 * unfreeze, get_objects, get_referrers, get_referents.
 *
 * Shared: the tables, read and rearranged only with the world stopped
 * (other threads store NULL into slots at any other time), under
 * gc_mutex. The host's visitors run after the restart, on objects this
 * thread holds a reference to, so they may do anything.
 */
#include "gc/gc_internal.h"

#include <errno.h>

/* ------------------------------------------------------------------ Freeze */

static void add_length(struct gc_table *table, void *arg) { *(uint64_t *)arg += table->length; }

static void move_into_permanent(struct gc_table *table, void *arg) {
    (void)arg;
    rcgc__gc_table_move_all(gc_old_table(GEN_PERMANENT), table);
    if (table->gen == GEN_YOUNG)
        atomic_store_explicit(&table->count_delta, 0, memory_order_relaxed);
}

void rcgc_freeze(void) {
    /* From a hook during a collection: the collection is using the tables'
     * layout; freezing then would pull it from under it. */
    if (rcgc__gc_in_collection)
        return;
    rcgc__gc_lock();
    rcgc__stop_the_world();
    rcgc__gc_old_abandon_stopped();
    struct gc_table *permanent = gc_old_table(GEN_PERMANENT);
    uint64_t incoming = gc_old_table(GEN_MIDDLE)->length + gc_old_table(GEN_OLD)->length;
    rcgc__gc_for_each_young(add_length, &incoming);
    /* Without room nothing moves: a freeze is an optimization. */
    if (rcgc__gc_table_reserve(permanent, incoming)) {
        rcgc__gc_for_each_young(move_into_permanent, NULL);
        move_into_permanent(gc_old_table(GEN_MIDDLE), NULL);
        move_into_permanent(gc_old_table(GEN_OLD), NULL);
        rcgc__gc.long_lived_total = rcgc__gc.long_lived_pending = 0;
        atomic_store_explicit(&rcgc__gc_pending_from, 0, memory_order_relaxed);
        atomic_store_explicit(&rcgc__gc_young_count, 0, memory_order_relaxed);
    }
    rcgc__start_the_world();
    rcgc__gc_old_end_abandoned();
    rcgc__gc_unlock();
}

void rcgc_unfreeze(void) {
    if (rcgc__gc_in_collection)
        return;
    rcgc__gc_lock();
    rcgc__stop_the_world();
    rcgc__gc_old_abandon_stopped();
    struct gc_table *old = gc_old_table(GEN_OLD), *permanent = gc_old_table(GEN_PERMANENT);
    if (rcgc__gc_table_reserve(old, permanent->length)) {
        rcgc__gc_table_move_all(old, permanent);
        rcgc__gc_table_trim(permanent, 0);
    }
    rcgc__start_the_world();
    rcgc__gc_old_end_abandoned();
    rcgc__gc_unlock();
}

size_t rcgc_get_freeze_count(void) {
    rcgc__gc_lock();
    rcgc__stop_the_world();
    size_t count = rcgc__gc_table_live(gc_old_table(GEN_PERMANENT));
    rcgc__start_the_world();
    rcgc__gc_unlock();
    return count;
}

/* ------------------------------------------------------------ Object lists */

static void for_each_entry(struct gc_table *table, void (*visit)(rcgc_object *, void *),
                           void *arg) {
    for (uint32_t i = 0; i < table->length; i++) {
        rcgc_object *obj = *gc_table_slot(table, i);
        if (obj != NULL)
            visit(obj, arg);
    }
}

struct walk {
    void (*visit)(rcgc_object *, void *);
    void *arg;
};

static void walk_young(struct gc_table *table, void *arg) {
    struct walk *walk = arg;
    for_each_entry(table, walk->visit, walk->arg);
}

/* Every object in generation @generation (-1: all three), world stopped. */
static void for_each_tracked(int generation, void (*visit)(rcgc_object *, void *), void *arg) {
    if (generation == -1 || generation == 0) {
        struct walk walk = {visit, arg};
        rcgc__gc_for_each_young(walk_young, &walk);
    }
    if (generation == -1 || generation == 1)
        for_each_entry(gc_old_table(GEN_MIDDLE), visit, arg);
    if (generation == -1 || generation == 2)
        for_each_entry(gc_old_table(GEN_OLD), visit, arg);
}

static void add_to_list(rcgc_object *obj, void *arg) { rcgc__gc_list_add(arg, obj); }

ptrdiff_t rcgc_get_objects(int generation, rcgc_walk_fn visit, void *arg) {
    if (generation < -1 || generation >= RCGC_GENERATIONS) {
        errno = EINVAL;
        return -1;
    }
    struct gc_object_list list = {0};
    rcgc__gc_lock();
    rcgc__stop_the_world();
    for_each_tracked(generation, add_to_list, &list);
    rcgc__start_the_world();
    rcgc__gc_unlock();
    return rcgc__gc_list_deliver(&list, visit, arg);
}

struct referrer_search {
    rcgc_object *target;
    bool found;
    struct gc_object_list list;
};

static void find_target(rcgc_object *referent, void *arg) {
    struct referrer_search *search = arg;
    if (referent == search->target)
        search->found = true;
}

static void check_referrer(rcgc_object *obj, void *arg) {
    struct referrer_search *search = arg;
    if (obj->ob_type->traverse == NULL)
        return;
    search->found = false;
    obj->ob_type->traverse(obj, find_target, search);
    if (search->found)
        rcgc__gc_list_add(&search->list, obj);
}

ptrdiff_t rcgc_get_referrers(rcgc_object *target, rcgc_walk_fn visit, void *arg) {
    struct referrer_search search = {.target = target};
    rcgc__gc_lock();
    rcgc__stop_the_world();
    for_each_tracked(-1, check_referrer, &search);
    rcgc__start_the_world();
    rcgc__gc_unlock();
    return rcgc__gc_list_deliver(&search.list, visit, arg);
}

struct referents {
    rcgc_walk_fn visit;
    void *arg;
    size_t count;
    bool stopped;
};

/* A traverse hook cannot be stopped: after the visitor says stop, the
 * rest of its references are passed over. */
static void pass_referent(rcgc_object *referent, void *arg) {
    struct referents *referents = arg;
    if (referent == NULL || referents->stopped)
        return;
    referents->count++;
    referents->stopped = referents->visit(referent, referents->arg) != 0;
}

size_t rcgc_get_referents(rcgc_object *obj, rcgc_walk_fn visit, void *arg) {
    struct referents referents = {visit, arg, 0, false};
    if (obj->ob_type->traverse != NULL)
        obj->ob_type->traverse(obj, pass_referent, &referents);
    return referents.count;
}
