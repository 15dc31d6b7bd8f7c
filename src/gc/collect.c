/* src/gc/collect.c - one collection: CPython's trial deletion over the
 * candidate generations, with the world stopped only while counts and
 * tables are read.
 *
 * The order of the steps (CPython 3.11's gc_collect_main, split around the
 * stops the way free-threaded CPython 3.13 does it):
 *
 *   world stopped
 *     1  make every count exact: merge the objects queued for their owners
 *        (biased counting) and apply every deferred table; objects found at
 *        zero are untracked and die after the restart
 *     2  move the younger generations' entries into the target table
 *        (survivors' next generation); the candidates are its slots
 *        [base, end)
 *     3  trial deletion: copy each candidate's count, subtract the
 *        references candidates hold to each other, then mark everything
 *        reachable from a candidate with a count left (an outside
 *        reference); the rest is unreachable
 *     4  unreachable objects with a legacy finalizer, and everything they
 *        reach, are uncollectable: they go back to the target (and to the
 *        garbage list); the others are held, one reference each (G3)
 *     5  weak references to held objects are cleared, before any
 *        finalizer can see them; callbacks of the weak references that
 *        are not garbage themselves wait for the end (below)
 *   world running
 *     6  debug lines; finalize hooks, once per object ever (PEP 442)
 *     7  if any finalizer ran: stop again, redo trial deletion over the
 *        held objects alone, and return the resurrected ones (and what
 *        they reach) to the target, uncleared
 *     8  clear hooks break the cycles; the held references are dropped,
 *        and the objects die by reference counting (SAVEALL: they go to
 *        the garbage list instead); threads that were parked do this for
 *        their own objects (sweep.c)
 *   after gc_mutex is released
 *     9  weak-reference callbacks (never under an rcgc lock)
 *
 * No step recurses: every traversal runs from an explicit work list.
 * Shared: everything here runs under gc_mutex, on the collecting thread,
 * but step 8's share of other threads.
 */
#include "gc/gc_collection.h"

#include <rcgc/raw.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>

/* How many syncs a collection runs at its end to free the deferred
 * objects it found (see rcgc__gc_collect_locked). */
#define GC_DEFERRED_SYNCS 16

/* The scratch arrays (refs and stack) are kept from one collection to the
 * next: young collections are frequent and small. */
static void *scratch;
static size_t scratch_bytes;

static bool scratch_reserve(struct collection *c, uint32_t count) {
    size_t need = (size_t)count * (sizeof(int32_t) + sizeof(uint32_t));
    if (scratch == NULL || need > scratch_bytes ||
        (scratch_bytes > ((size_t)4 << 20) && need < scratch_bytes / 8)) {
        rcgc_raw_free(scratch);
        scratch_bytes = 0;
        scratch = rcgc_raw_malloc(need > 4096 ? need : 4096);
        if (scratch == NULL)
            return false;
        scratch_bytes = need > 4096 ? need : 4096;
    }
    c->refs = scratch;
    c->stack = (uint32_t *)(void *)((char *)scratch + (size_t)count * sizeof(int32_t));
    return true;
}

static inline rcgc_object *candidate(const struct collection *c, uint32_t index) {
    return *gc_table_slot(c->target, c->base + index);
}

/* The index of @obj among the candidates, or UINT32_MAX if it is not one. */
static inline uint32_t candidate_index(const struct collection *c, const rcgc_object *obj) {
    if (obj == NULL || gc_gen_of(gc_flags_load(obj)) != c->target_gen)
        return UINT32_MAX;
    uint32_t index = atomic_load_explicit(&obj->ob_gc_slot, memory_order_relaxed) - c->base;
    return index < c->count ? index : UINT32_MAX;
}

/* ------------------------------------------------- Step 1: exact counts */

static void drain_queue_stopped(struct thread_record *record, void *dead) {
    rcgc_assert_stopped();
    rcgc__thread_drain_queue(record, dead);
}

void rcgc__gc_make_counts_exact(struct collection *c) {
    rcgc__threads_lock_held_walk(drain_queue_stopped, &c->dead);
    (void)rcgc__deferred_apply_all_stopped(&c->dead);
}

/* --------------------------------------- Step 2: gather the candidates */

static void add_young_length(struct gc_table *table, void *arg) {
    *(uint64_t *)arg += table->length;
}

static void count_young_live(struct gc_table *table, void *arg) {
    *(size_t *)arg += rcgc__gc_table_live(table);
}

static void reset_young(struct gc_table *table, void *arg) {
    atomic_store_explicit(&table->count_delta, 0, memory_order_relaxed);
    table->making = false;
    if (*(const int *)arg == 2)
        atomic_store_explicit(&table->pending_deaths, 0, memory_order_relaxed);
}

/* Append @from's entries to the target with their counts: step 3 starts
 * here, so each header is visited once for both (with millions of
 * candidates, every pass over the headers is a cache miss per object). */
static void move_in(struct collection *c, struct gc_table *from) {
    struct gc_table *target = c->target;
    for (uint32_t read = 0; read < from->length;) {
        rcgc_object **slots;
        uint32_t n = gc_table_run(from, read, from->length, &slots);
        for (uint32_t i = 0; i < n; i++) {
            rcgc_object *obj = slots[i];
            if (obj == NULL)
                continue;
            c->refs[target->length - c->base] = gc_count_for_collection(obj);
            if (!gc_table_append(target, obj))
                rcgc__fatal("rcgc: generation table could not grow during a collection "
                            "(its room was reserved)");
        }
        read += n;
    }
    rcgc__gc_table_truncate(from, 0);
}

static void move_young(struct gc_table *table, void *arg) {
    move_in(arg, table);
    rcgc__gc_table_trim(table, 1);
    table->compact_at = GC_YOUNG_COMPACT_MIN;
}

static inline __attribute__((always_inline)) void record_count(rcgc_object *obj, uint32_t slot,
                                                               void *arg) {
    struct collection *c = arg;
    c->refs[slot] = gc_count_for_collection(obj);
}

/* A full collection's own generation: squeezed in place, counted. */
static void compact_old(struct collection *c) { gc_table_squeeze(c->target, 0, record_count, c); }

/* Returns false, with nothing moved, when memory runs out. */
static bool gather_candidates(struct collection *c) {
    struct gc_table *middle = gc_old_table(GEN_MIDDLE), *old = gc_old_table(GEN_OLD);
    rcgc__gc_table_trim(middle, 8);
    rcgc__gc_table_trim(old, 8);
    uint64_t incoming = 0;
    rcgc__gc_for_each_young(add_young_length, &incoming);
    c->target_gen = c->generation == 0 ? GEN_MIDDLE : GEN_OLD;
    c->target = gc_old_table(c->target_gen);
    if (c->generation >= 1)
        incoming += middle->length;
    uint64_t most = incoming + (c->generation == 2 ? old->length : 0);
    if (most > UINT32_MAX || !rcgc__gc_table_reserve(c->target, incoming) ||
        !scratch_reserve(c, (uint32_t)most))
        return false;
    c->base = c->generation == 2 ? 0 : c->target->length;
    if (c->generation == 2)
        compact_old(c);
    if (c->generation >= 1) {
        move_in(c, middle);
        rcgc__gc_table_trim(middle, 8);
    }
    rcgc__gc_for_each_young(move_young, c);
    c->count = c->target->length - c->base;
    return true;
}

void rcgc__gc_reset_counters(int generation) {
    atomic_store_explicit(&rcgc__gc_young_count, 0, memory_order_relaxed);
    rcgc__gc_for_each_young(reset_young, &generation);
    rcgc__gc_young_makers_reset_stopped();
    for (int i = 1; i <= generation; i++)
        atomic_store_explicit(&rcgc__gc.count[i], 0, memory_order_relaxed);
    if (generation + 1 < RCGC_GENERATIONS)
        atomic_fetch_add_explicit(&rcgc__gc.count[generation + 1], 1, memory_order_relaxed);
}

/* ------------------------------------------------ Step 3: trial deletion */

static void subtract_visit(rcgc_object *referent, void *arg) {
    struct collection *c = arg;
    uint32_t index = candidate_index(c, referent);
    if (index != UINT32_MAX)
        c->refs[index]--;
}

static void mark_visit(rcgc_object *referent, void *arg) {
    struct collection *c = arg;
    uint32_t index = candidate_index(c, referent);
    if (index != UINT32_MAX && c->refs[index] != REACHABLE) {
        c->refs[index] = REACHABLE;
        c->stack[c->top++] = index;
    }
}

/* Returns how many candidates are unreachable. */
static uint32_t trial_deletion(struct collection *c) {
    /* refs[] holds each candidate's count already (gather_candidates). */
    for (uint32_t i = 0; i < c->count;) {
        /* A chunk at a time: one directory lookup per 1024 candidates. */
        rcgc_object **slots;
        uint32_t n = gc_table_run(c->target, c->base + i, c->base + c->count, &slots);
        for (uint32_t j = 0; j < n; j++)
            gc_traverse(slots[j], subtract_visit, c);
        i += n;
    }
    /* From each candidate with an outside reference, in table order, the
     * objects it reaches: depth first, so a structure is walked while its
     * memory is warm. */
    c->top = 0;
    uint32_t reachable = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        if (c->refs[i] == 0 || c->refs[i] == REACHABLE)
            continue;
        if (c->refs[i] < 0) {
            /* More references inside than the count says: a traverse hook
             * reports one its object does not hold. Keep it (safe). */
#if RCGC_CHECKS >= 1
            rcgc__report_object(candidate(c, i),
                                "has fewer references than its referrers' traverse hooks "
                                "report:",
                                "rcgc_collect");
#endif
        }
        c->refs[i] = REACHABLE;
        c->stack[c->top++] = i;
        reachable++;
        while (c->top > 0) {
            uint32_t before = --c->top;
            gc_traverse(candidate(c, c->stack[before]), mark_visit, c);
            reachable += c->top - before;
        }
    }
    return c->count - reachable;
}

/* ------------------------------------- Step 4: split off the unreachable */

/* One pass over each unreachable object's header does all that step 4
 * needs of it: with millions of them, every extra pass is a cache miss
 * per object. */
void rcgc__gc_hold(struct collection *c, rcgc_object *obj) {
    /* Another thread's object has its counts merged now, while its owner
     * is stopped: every drop in step 8 is then a plain atomic subtraction
     * instead of one queueing (and one lock of the owner's queue) each,
     * and a queued reference never makes garbage look referenced. If its
     * owner was parked, the owner clears and drops it (sweep.c), so the
     * last drop, and the free, happen on the thread whose heap it is in.
     * (The collector's own objects keep their biased counts: what other
     * threads' clears queue for it is drained at the sweep's barrier.) */
    uint32_t owner = atomic_load_explicit(&obj->ob_tid, memory_order_relaxed);
    unsigned batch = 0;
    if (owner != 0 && owner != rcgc_tls_thread_id) {
        batch = rcgc__gc_sweep_batch_of(&c->owners, owner);
        (void)rcgc__merge_refcount(obj, 0);
    }
    c->batch_of[c->held_count] = (uint8_t)batch;
    atomic_store_explicit(&obj->ob_gc_slot, c->held_count, memory_order_relaxed);
    gc_set_gen(obj, GEN_HELD);
    c->held[c->held_count++] = obj;
    rcgc_incref(obj);
    const rcgc_type *type = obj->ob_type;
    c->legacy_found |= (type->flags & RCGC_TYPE_LEGACY_FINALIZER) != 0;
    uint16_t flags = gc_flags_load(obj);
    c->deferred_found |= (flags & OBJ_MODE_MASK) == RCGC_RC_DEFERRED;
    c->watched_found |= (flags & OBJ_DEATH_WATCHED) != 0;
    c->finalizer_found |= type->finalize != NULL && (flags & OBJ_FINALIZED) == 0;
}

/* Survivors stay in the target (compacted); the unreachable are held. */
static void split_unreachable(struct collection *c) {
    uint32_t write = c->base;
    for (uint32_t i = 0; i < c->count; i++) {
        rcgc_object *obj = candidate(c, i);
        if (c->refs[i] != REACHABLE) {
            rcgc__gc_hold(c, obj);
            continue;
        }
        if (write != c->base + i) {
            *gc_table_slot(c->target, write) = obj;
            atomic_store_explicit(&obj->ob_gc_slot, write, memory_order_relaxed);
        }
        write++;
    }
    rcgc__gc_table_truncate(c->target, write);
}

/* Back from the held set into the target: uncollectable, or resurrected.
 * The target has room (step 2 reserved it for every candidate). */
static void unhold(struct collection *c, rcgc_object *obj) {
    uint32_t k = atomic_load_explicit(&obj->ob_gc_slot, memory_order_relaxed);
    c->held[k] = NULL;
    if (!gc_table_append(c->target, obj))
        rcgc__fatal("rcgc: generation table could not grow during a collection");
}

static void legacy_visit(rcgc_object *referent, void *arg) {
    struct collection *c = arg;
    if (referent == NULL || gc_gen_of(gc_flags_load(referent)) != GEN_HELD)
        return;
    unhold(c, referent);
    c->stack[c->top++] = c->target->length - 1;
}

static void compact_held(struct collection *c) {
    uint32_t write = 0;
    for (uint32_t k = 0; k < c->held_count; k++) {
        rcgc_object *obj = c->held[k];
        if (obj == NULL)
            continue;
        atomic_store_explicit(&obj->ob_gc_slot, write, memory_order_relaxed);
        c->batch_of[write] = c->batch_of[k];
        c->held[write++] = obj;
    }
    c->held_count = write;
}

/* Legacy finalizers (CPython's tp_del): such an object, and everything it
 * reaches, cannot be freed safely, since the finalizer might use what the
 * others' clear hooks dropped. */
static void separate_uncollectable(struct collection *c) {
    if (!c->legacy_found)
        return;
    c->uncollectable_first = c->target->length;
    c->top = 0;
    for (uint32_t k = 0; k < c->held_count; k++) {
        rcgc_object *obj = c->held[k];
        if (obj != NULL && (obj->ob_type->flags & RCGC_TYPE_LEGACY_FINALIZER) != 0) {
            unhold(c, obj);
            c->stack[c->top++] = c->target->length - 1;
        }
    }
    while (c->top > 0)
        gc_traverse(*gc_table_slot(c->target, c->stack[--c->top]), legacy_visit, c);
    c->uncollectable = c->target->length - c->uncollectable_first;
    compact_held(c);
}

/* Step 4's end, right after the restart and before any hook runs: the
 * garbage list takes the reference hold() took on each legacy-finalizer
 * object (every uncollectable one under SAVEALL); the others drop it,
 * which cannot kill them: their cycle holds them. After the restart
 * because the garbage list's lock is a leaf that a fork takes before the
 * stop-the-world locks, so no stopped world may wait for it. */
static void save_uncollectable(struct collection *c) {
    bool save_all = (c->debug & RCGC_DEBUG_SAVEALL) != 0;
    for (uint32_t i = c->uncollectable_first; i < c->uncollectable_first + c->uncollectable; i++) {
        rcgc_object *obj = *gc_table_slot(c->target, i);
        if ((!save_all && (obj->ob_type->flags & RCGC_TYPE_LEGACY_FINALIZER) == 0) ||
            !rcgc__gc_garbage_append(obj))
            rcgc_decref(obj);
    }
}

static bool find_unreachable(struct collection *c) {
    uint32_t unreachable = trial_deletion(c);
    c->held = NULL;
    c->held_count = 0;
    c->uncollectable_first = c->target->length;
    if (unreachable == 0)
        return true; /* every candidate stays where it is */
    /* One block: the held pointers, then their batches. */
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of object pointers
    c->held = rcgc_raw_malloc((size_t)unreachable * (sizeof(rcgc_object *) + 1));
    if (c->held == NULL)
        return false; /* everything survives this time */
    c->batch_of = (uint8_t *)(c->held + unreachable);
    split_unreachable(c);
    return true;
}

/* ------------------------------------------ Steps 6-8: with the world on */

static void print_object(FILE *out, const char *what, const rcgc_object *obj) {
    const char *name = obj->ob_type->name != NULL ? obj->ob_type->name : "object";
    fprintf(out, "gc: %s <%s %p>\n", what, name, (const void *)obj);
}

static bool is_held(const rcgc_object *obj) { return gc_is_held(obj); }

/* Step 5, world stopped: what watches the held objects (weak references)
 * is cleared before any finalizer or clear hook of this collection runs,
 * and before any thread can get at them again. Step 7 runs it again for
 * weak references a finalizer made to objects that stay garbage (CPython
 * gh-91636). */
static void clear_watchers_stopped(struct collection *c) {
    for (uint32_t k = 0; k < c->held_count; k++) {
        rcgc_object *obj = c->held[k];
        if (obj != NULL && gc_is_held(obj) && (gc_flags_load(obj) & OBJ_DEATH_WATCHED) != 0)
            rcgc__object_death_found_stopped(obj, is_held);
    }
}

static bool run_finalizers(struct collection *c) {
    bool ran = false;
    for (uint32_t k = 0; k < c->held_count; k++) {
        rcgc_object *obj = c->held[k];
        uint16_t flags = gc_flags_load(obj);
        if (gc_gen_of(flags) != GEN_HELD || obj->ob_type->finalize == NULL ||
            (flags & OBJ_FINALIZED) != 0)
            continue;
        atomic_store_explicit(&obj->ob_flags, (uint16_t)(flags | OBJ_FINALIZED),
                              memory_order_relaxed);
        obj->ob_type->finalize(obj);
        ran = true;
    }
    return ran;
}

static void held_subtract_visit(rcgc_object *referent, void *arg) {
    struct collection *c = arg;
    if (referent != NULL && gc_is_held(referent))
        c->refs[atomic_load_explicit(&referent->ob_gc_slot, memory_order_relaxed)]--;
}

static void held_mark_visit(rcgc_object *referent, void *arg) {
    struct collection *c = arg;
    if (referent == NULL || !gc_is_held(referent))
        return;
    uint32_t k = atomic_load_explicit(&referent->ob_gc_slot, memory_order_relaxed);
    if (c->refs[k] != REACHABLE) {
        c->refs[k] = REACHABLE;
        c->stack[c->top++] = k;
    }
}

/* Step 7: trial deletion again, over the held objects, minus the
 * collector's own reference. A finalizer that stored a reference to its
 * object (or to anything held) resurrected it, and what it reaches. */
static void return_resurrected(struct collection *c) {
    uint64_t stop_start = rcgc__now_ns();
    rcgc__stop_the_world();
    rcgc__gc_make_counts_exact(c);
    c->top = 0;
    for (uint32_t k = 0; k < c->held_count; k++)
        c->refs[k] = gc_is_held(c->held[k]) ? gc_count_for_collection(c->held[k]) - 1 : REACHABLE;
    for (uint32_t k = 0; k < c->held_count; k++)
        if (gc_is_held(c->held[k]))
            gc_traverse(c->held[k], held_subtract_visit, c);
    for (uint32_t k = 0; k < c->held_count; k++)
        if (c->refs[k] != 0 && c->refs[k] != REACHABLE) {
            c->refs[k] = REACHABLE;
            c->stack[c->top++] = k;
        }
    while (c->top > 0)
        gc_traverse(c->held[c->stack[--c->top]], held_mark_visit, c);
    /* The held array keeps every pointer: the reference is still ours. */
    for (uint32_t k = 0; k < c->held_count; k++) {
        rcgc_object *obj = c->held[k];
        if (gc_is_held(obj) && c->refs[k] == REACHABLE && !gc_table_append(c->target, obj))
            rcgc__fatal("rcgc: generation table could not grow during a collection");
    }
    clear_watchers_stopped(c);
    GC_CHECK_STEP(c->held, c->held_count, "returning the resurrected");
    rcgc__start_the_world();
    uint64_t stopped = rcgc__now_ns() - stop_start;
    c->pause_ns += stopped;
    if (stopped > c->longest_stop_ns)
        c->longest_stop_ns = stopped;
}

#if RCGC_CHECKS >= 2
static void held_count_visit(rcgc_object *referent, void *arg) {
    struct collection *c = arg;
    if (referent != NULL && gc_is_held(referent))
        c->refs[atomic_load_explicit(&referent->ob_gc_slot, memory_order_relaxed)]++;
}

/* Once every clear hook ran, a held object's count is the collector's
 * reference plus those its fellow garbage still holds (traverse hooks
 * must report what clear hooks left). Anything more is a reference from
 * outside that trial deletion subtracted away: a traverse hook reported
 * one reference twice, or one its object does not hold - and a clear hook
 * has just run on an object in use. CPython's debug build stops there
 * too. Deferred objects are left out: their counts wait for a sync. */
static void check_no_outside_references(void *arg) {
    struct collection *c = arg;
    for (uint32_t k = 0; k < c->held_count; k++)
        c->refs[k] = 0;
    for (uint32_t k = 0; k < c->held_count; k++)
        if (gc_is_held(c->held[k]))
            gc_traverse(c->held[k], held_count_visit, c);
    for (uint32_t k = 0; k < c->held_count; k++) {
        rcgc_object *obj = c->held[k];
        if (!gc_is_held(obj) || rcgc_rc_mode(obj) == RCGC_RC_DEFERRED)
            continue;
        if (rcgc_refcount(obj) - 1 > (size_t)c->refs[k])
            rcgc__report_object(obj,
                                "refcount is too small: collected while referenced from "
                                "outside its garbage (a traverse hook reported a reference "
                                "twice, or one its object does not hold):",
                                "rcgc_collect");
    }
}
#endif

/* Step 8, by the threads that own the garbage (sweep.c). Nothing else
 * reaches a held object (finalizers are done), so moving one into the
 * target needs no stop: appends to an old table are the collector's,
 * under gc_mutex (G2). */
static void delete_garbage(struct collection *c) {
    bool save_all = (c->debug & RCGC_DEBUG_SAVEALL) != 0;
    if (save_all) {
        for (uint32_t k = 0; k < c->held_count; k++) {
            rcgc_object *obj = c->held[k];
            if (gc_is_held(obj)) {
                c->collected++;
                if (!gc_table_append(c->target, obj))
                    rcgc__fatal("rcgc: generation table could not grow during a collection");
                if (rcgc__gc_garbage_append(obj))
                    continue; /* the list takes over the reference */
            }
            rcgc_decref(obj);
        }
        return;
    }
#if RCGC_CHECKS >= 2
    void (*at_barrier)(void *arg) = check_no_outside_references;
#else
    void (*at_barrier)(void *arg) = NULL;
#endif
    c->collected +=
        rcgc__gc_sweep(c->held, c->batch_of, c->held_count, &c->owners, c->target, at_barrier, c);
}

static void print_start(const struct collection *c, FILE *out) {
    fprintf(out, "gc: collecting generation %d...\n", c->generation);
    fprintf(out, "gc: objects in each generation: %zu %zu %zu\n", c->generation_sizes[0],
            c->generation_sizes[1], c->generation_sizes[2]);
    fprintf(out, "gc: objects in permanent generation: %zu\n", c->generation_sizes[3]);
}

void rcgc__gc_measure_generations(struct collection *c) {
    c->generation_sizes[0] = 0;
    rcgc__gc_for_each_young(count_young_live, &c->generation_sizes[0]);
    c->generation_sizes[1] = rcgc__gc_table_live(gc_old_table(GEN_MIDDLE));
    c->generation_sizes[2] = rcgc__gc_table_live(gc_old_table(GEN_OLD));
    c->generation_sizes[3] = rcgc__gc_table_live(gc_old_table(GEN_PERMANENT));
}

void rcgc__gc_record_statistics(const struct collection *c) {
    rcgc__gc_state_lock();
    rcgc_gc_stats *stats = &rcgc__gc.stats[c->generation];
    stats->collections++;
    stats->collected += c->collected;
    stats->uncollectable += c->uncollectable;
    stats->total_pause_ns += c->pause_ns;
    if (c->longest_stop_ns > stats->max_pause_ns)
        stats->max_pause_ns = c->longest_stop_ns;
    rcgc__gc_state_unlock();
}

ptrdiff_t rcgc__gc_collection_finish(struct collection *c, bool found, uint64_t start,
                                     uint64_t returned_before) {
    save_uncollectable(c);
    rcgc__death_list_run(c->dead);
    c->dead = NULL;

    /* Looked up once per collection, not once per line. */
    FILE *out = c->debug != 0 ? rcgc__gc_debug_stream() : NULL;
    if (c->debug & RCGC_DEBUG_STATS)
        print_start(c, out);
    if (c->debug & RCGC_DEBUG_COLLECTABLE)
        for (uint32_t k = 0; k < c->held_count; k++)
            print_object(out, "collectable", c->held[k]);
    if (c->finalizer_found && run_finalizers(c)) {
        return_resurrected(c);
        rcgc__death_list_run(c->dead);
        c->dead = NULL;
    }
    delete_garbage(c);
    /* Deferred garbage had its last references dropped into tables, and
     * deferred objects found dead at the stop went back on their list once
     * their finalizers ran: apply the tables again, so that what this
     * collection found is freed when it returns. Each sync frees one more
     * link of a deferred chain; bounded, since other threads may keep
     * making deferred garbage meanwhile (the next collection takes the
     * rest). */
    if (c->deferred_found || rcgc__deferred_returned() != returned_before)
        for (int sync = 0; sync < GC_DEFERRED_SYNCS && rcgc_sync_deferred() > 0; sync++) {
        }
    if (c->debug & RCGC_DEBUG_UNCOLLECTABLE)
        for (uint32_t i = c->uncollectable_first;
             i < c->uncollectable_first + c->uncollectable && i < c->target->length; i++) {
            rcgc_object *obj = *gc_table_slot(c->target, i);
            if (obj != NULL)
                print_object(out, "uncollectable", obj);
        }
    rcgc_raw_free(c->held);
    c->held = NULL;

    uint64_t elapsed = rcgc__now_ns() - start;
    if (c->debug & RCGC_DEBUG_STATS)
        fprintf(out, "gc: done, %zu unreachable, %u uncollectable, %.4fs elapsed\n",
                c->collected + c->uncollectable, c->uncollectable, (double)elapsed / 1e9);
    if (found)
        rcgc__gc_record_statistics(c);
    rcgc_gc_info info = {c->generation, c->collected, c->uncollectable, c->pause_ns, elapsed};
    rcgc__gc_run_callbacks(RCGC_GC_STOP, &info);
    atomic_store_explicit(&rcgc__gc_collecting, false, memory_order_relaxed);
    rcgc__gc_in_collection = false;
    if (!found) {
        errno = ENOMEM;
        return -1;
    }
    return (ptrdiff_t)(c->collected + c->uncollectable);
}

void rcgc__gc_separate_uncollectable(struct collection *c) { separate_uncollectable(c); }

void rcgc__gc_settle_held_stopped(struct collection *c) {
    separate_uncollectable(c);
    if (c->watched_found)
        clear_watchers_stopped(c);
}

ptrdiff_t rcgc__gc_collect_locked(int generation) {
    rcgc_assert(rcgc__gc_lock_held());
    /* A full collection squeezes generation 2, whose slots an incremental
     * one relies on: the two never overlap (a change of mode abandons). */
    rcgc_assert(generation < 2 || !rcgc__gc_old_running());
    rcgc__gc_in_collection = true;
    atomic_store_explicit(&rcgc__gc_collecting, true, memory_order_relaxed);
    struct collection c = {.generation = generation, .debug = rcgc_get_debug()};
    uint64_t start = rcgc__now_ns();
    rcgc_gc_info info = {.generation = generation};
    rcgc__gc_run_callbacks(RCGC_GC_START, &info);

    uint64_t returned_before = rcgc__deferred_returned();
    /* The pause counts from the stop request: waiting for every thread to
     * reach a safepoint is part of what the others lose. */
    uint64_t stop_start = rcgc__now_ns();
    rcgc__stop_the_world();
    rcgc__gc_make_counts_exact(&c);
    GC_CHECK_STEP(NULL, 0, "the stop");
    if (c.debug & RCGC_DEBUG_STATS)
        rcgc__gc_measure_generations(&c);
    bool gathered = gather_candidates(&c);
    GC_CHECK_STEP(NULL, 0, "gathering the candidates");
    bool found = false;
    if (gathered) {
        rcgc__gc_reset_counters(generation);
        rcgc__gc_sweep_note_owners_stopped(&c.owners);
        found = find_unreachable(&c);
        rcgc__gc_settle_held_stopped(&c);
        GC_CHECK_STEP(c.held, c.held_count, "finding the unreachable");
        if (generation == 2)
            atomic_store_explicit(&rcgc__gc_pending_from, c.target->length, memory_order_relaxed);
    }
    rcgc__start_the_world();
    c.pause_ns = c.longest_stop_ns = rcgc__now_ns() - stop_start;
    ptrdiff_t result = rcgc__gc_collection_finish(&c, found, start, returned_before);
    if (found && generation == 1)
        rcgc__gc.long_lived_pending += c.count - c.collected;
    if (found && generation == 2) {
        rcgc__gc.long_lived_pending = 0;
        rcgc__gc.long_lived_total = c.target->length;
    }
    return result;
}

static ptrdiff_t collect_locked(void *arg) {
    int generation = *(const int *)arg;
    return generation == 2 && rcgc__gc_old_incremental() ? rcgc__gc_old_collect_whole()
                                                         : rcgc__gc_collect_locked(generation);
}

ptrdiff_t rcgc_collect(int generation) {
    if (generation < 0 || generation >= RCGC_GENERATIONS) {
        errno = EINVAL;
        return -1;
    }
    if (rcgc__gc_in_collection)
        return 0;
    return rcgc__gc_call_locked(collect_locked, &generation);
}

ptrdiff_t rcgc__gc_call_locked(ptrdiff_t (*fn)(void *arg), void *arg) {
    bool attached_here = false;
    if (!rcgc_thread_is_attached()) {
        if (rcgc_thread_attach() != 0)
            return -1;
        attached_here = true;
    }
    rcgc__gc_lock();
    ptrdiff_t result = fn(arg);
    rcgc__gc_unlock();
    if (attached_here)
        rcgc_thread_detach();
    return result;
}
