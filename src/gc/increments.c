/* src/gc/increments.c - a full collection cut into increments: bounded
 * stops of the world, with the host running between them
 * (rcgc_set_old_collection; docs/design.md, "Old-generation collection in
 * increments", holds the correctness argument this code follows).
 *
 * The candidates are generation 2's table slots [0, end), fixed when the
 * collection starts (objects promoted later are appended past them). The
 * phases run in order, each cut into increments of at most the budget:
 *
 *   counting     refs[i] = candidate i's count, while the table's holes
 *                are squeezed out (slots only move in this phase, and
 *                each candidate's dirty bit is cleared as it is counted)
 *   subtracting  each candidate's traverse subtracts one from refs[] of
 *                every candidate it references
 *   marking      roots: candidates with refs > 0, and those the barrier
 *                found dirty (increments since their count was read);
 *                everything reachable from a root is marked, from a work
 *                list kept across increments
 *   last         in the stop where marking ends: the unmarked candidates
 *                are garbage; they are held and their weak references
 *                cleared, the barrier drops, and the rest is a
 *                stop-the-world collection's (collect.c)
 *
 * Every increment first makes counts exact (queues merged, deferred tables
 * applied), as every stop of a collection does.
 *
 * Shared: nothing outside gc_mutex but the barrier (barrier.c). The state
 * below is the collecting thread's, under gc_mutex; objects and tables are
 * read and written only with the world stopped.
 */
#include "gc/gc_barrier.h"
#include "gc/gc_collection.h"

#include <rcgc/raw.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Work units between two looks at the clock (a unit: one slot counted, one
 * candidate traversed or one root looked at). */
#define UNITS_PER_CLOCK 128
/* The least work an increment does, whatever the budget. */
#define MIN_UNITS 256

enum old_phase { OLD_IDLE, OLD_COUNTING, OLD_SUBTRACTING, OLD_MARKING };

static struct old_collection {
    enum old_phase phase;
    struct gc_table *table; /* generation 2's */
    /* counting: slots [0, end) are being squeezed into [0, write), slot
     * read next; afterwards the candidates are [0, end) */
    uint32_t end, read, write;
    uint32_t cursor; /* subtracting: next to traverse; marking: next root to look at */
    uint32_t marked;
    uint32_t increments; /* of this collection so far */
    int32_t *refs;       /* per candidate */
    uint32_t *stack;     /* candidates marked, not yet scanned */
    uint32_t top;
    int32_t *counted;  /* RCGC_CHECKS >= 2: the count phase 1 read (B1) */
    uint64_t *watched; /* per candidate: watched by a weak reference when counted */
    uint64_t start_ns, pause_ns, longest_ns, returned_before;
    size_t generation_sizes[4]; /* RCGC_DEBUG_STATS: at the start */
    uint64_t units_left;        /* this increment's */
    uint64_t deadline;
    unsigned debug;
    bool abandoned; /* its stop callbacks are owed (rcgc__gc_old_end_abandoned) */
} old;

static _Atomic int old_mode = RCGC_OLD_STOP_THE_WORLD;
static _Atomic uint64_t increment_budget = 1000000;

/* ------------------------------------------------------------------ Budget */

static void budget_start(uint64_t budget_ns, uint64_t min_units) {
    old.deadline = budget_ns == UINT64_MAX ? UINT64_MAX : rcgc__now_ns() + budget_ns;
    old.units_left = min_units;
}

/* One unit of work done; false once the increment is out of budget. */
static inline bool budget_take(uint64_t units) {
    if (old.units_left > units) {
        old.units_left -= units;
        return true;
    }
    if (old.deadline == UINT64_MAX || rcgc__now_ns() < old.deadline) {
        old.units_left = UNITS_PER_CLOCK;
        return true;
    }
    return false;
}

/* --------------------------------------------------------------- Candidates */

static inline rcgc_object *candidate(uint32_t index) { return *gc_table_slot(old.table, index); }

static inline uint32_t candidate_index(const rcgc_object *obj) {
    if (obj == NULL || gc_gen_of(gc_flags_load(obj)) != GEN_OLD)
        return UINT32_MAX;
    uint32_t index = atomic_load_explicit(&obj->ob_gc_slot, memory_order_relaxed);
    return index < old.end ? index : UINT32_MAX;
}

static inline void mark(uint32_t index) {
    old.refs[index] = REACHABLE;
    old.stack[old.top++] = index;
    old.marked++;
}

/* ----------------------------------------------------------------- Phases */

/* The end of phase 1: the objects promoted since the collection began sit
 * past the slots it squeezed; move them down after the candidates, so the
 * table ends where its entries do (they are not candidates: their slots
 * are at or past the new end). The objects promoted while counting, in one
 * stop: few, since a collection must end before a quarter as many are. */
static void move_promoted_down(void) {
    struct gc_table *table = old.table;
    uint32_t write = old.end;
    for (uint32_t read = old.read; read < table->length; read++) {
        rcgc_object **from = gc_table_slot(table, read);
        rcgc_object *obj = *from;
        if (obj == NULL)
            continue;
        if (write != read) {
            *gc_table_slot(table, write) = obj;
            atomic_store_explicit(&obj->ob_gc_slot, write, memory_order_relaxed);
            *from = NULL;
        }
        write++;
    }
    rcgc__gc_table_truncate(table, write);
    rcgc__gc_table_trim(table, 8);
    atomic_store_explicit(&rcgc__gc_pending_from, old.end, memory_order_relaxed);
}

/* Phase 1: squeeze and count. Returns false when out of budget. */
static bool count_candidates(void) {
    struct gc_table *table = old.table;
    while (old.read < old.end) {
        if (!budget_take(1))
            return false;
        rcgc_object **from = gc_table_slot(table, old.read);
        rcgc_object *obj = *from;
        if (obj != NULL) {
            if (old.write != old.read) {
                *gc_table_slot(table, old.write) = obj;
                atomic_store_explicit(&obj->ob_gc_slot, old.write, memory_order_relaxed);
                *from = NULL;
            }
            old.refs[old.write] = gc_count_for_collection(obj);
            /* Watched later means dirty (rcgc__object_watch_death), so not
             * garbage: the last stop clears only the weak references of
             * those watched now. */
            if ((gc_flags_load(obj) & OBJ_DEATH_WATCHED) != 0)
                old.watched[old.write / 64] |= (uint64_t)1 << (old.write % 64);
            if (old.counted != NULL)
                old.counted[old.write] = old.refs[old.write];
            rcgc__gc_barrier_clear_stopped(old.write);
            old.write++;
        }
        old.read++;
    }
    old.end = old.write;
    move_promoted_down();
    /* From here on a candidate's references may have been subtracted, so
     * untracking one must dirty what it references. */
    rcgc__gc_barrier_limit_stopped(old.end, true);
    old.phase = OLD_SUBTRACTING;
    old.cursor = 0;
    return true;
}

static void subtract_visit(rcgc_object *referent, void *arg) {
    (void)arg;
    uint32_t index = candidate_index(referent);
    if (index != UINT32_MAX)
        old.refs[index]--;
}

/* Phase 2. */
static bool subtract_internal(void) {
    while (old.cursor < old.end) {
        if (!budget_take(1))
            return false;
        rcgc_object *obj = candidate(old.cursor++);
        if (obj != NULL)
            gc_traverse(obj, subtract_visit, NULL);
    }
    old.phase = OLD_MARKING;
    old.cursor = 0;
    old.top = 0;
    return true;
}

static void mark_visit(rcgc_object *referent, void *arg) {
    (void)arg;
    uint32_t index = candidate_index(referent);
    if (index != UINT32_MAX && old.refs[index] != REACHABLE)
        mark(index);
}

static void mark_dirty(uint32_t slot, void *arg) {
    (void)arg;
    if (old.refs[slot] != REACHABLE && candidate(slot) != NULL)
        mark(slot);
}

/* Phase 3. Returns true when marking is complete. */
static bool mark_reachable(void) {
    rcgc__gc_barrier_drain_stopped(mark_dirty, NULL);
    for (;;) {
        while (old.top > 0) {
            if (!budget_take(1))
                return false;
            /* A marked candidate may have died since it was marked (it
             * was pushed in an earlier increment): nothing to scan. */
            rcgc_object *obj = candidate(old.stack[--old.top]);
            if (obj != NULL)
                gc_traverse(obj, mark_visit, NULL);
        }
        if (old.cursor == old.end)
            return true;
        if (!budget_take(1))
            return false;
        uint32_t i = old.cursor++;
        int32_t refs = old.refs[i];
        if (refs == 0 || refs == REACHABLE || candidate(i) == NULL)
            continue;
#if RCGC_CHECKS >= 1
        if (refs < 0)
            rcgc__report_object(candidate(i),
                                "has fewer references than its referrers' traverse hooks "
                                "report:",
                                "rcgc_collect_step");
#endif
        mark(i);
    }
}

#if RCGC_CHECKS >= 2
/* B1 (barrier.c), with counts exact: a candidate counted in phase 1 whose
 * count rose since is dirty or already marked. */
static void check_barrier_stopped(void) {
    if (old.counted == NULL)
        return;
    uint32_t counted_end = old.phase == OLD_COUNTING ? old.write : old.end;
    for (uint32_t i = 0; i < counted_end; i++) {
        rcgc_object *obj = candidate(i);
        if (obj == NULL || old.refs[i] == REACHABLE || rcgc__gc_barrier_is_dirty(i))
            continue;
        if (gc_count_for_collection(obj) > old.counted[i])
            rcgc__report_object(obj,
                                "broke barrier invariant B1: its count rose during an "
                                "incremental collection without a dirty mark:",
                                "rcgc_collect_step");
    }
}
#else
static void check_barrier_stopped(void) {}
#endif

/* ----------------------------------------------------- Start, end, abandon */

/* refs[] and the work list, kept from one collection to the next, as a
 * stop-the-world collection keeps its own: their pages are faulted in
 * once, not in the stops of every collection (a first touch can cost tens
 * of microseconds a page in a virtual machine, and marking pushes onto
 * fresh pages in bursts), and a collection is about as large as the last. */
static void *arrays;
static size_t arrays_bytes;

static bool arrays_reserve(size_t need) {
    if (arrays != NULL && need <= arrays_bytes &&
        !(arrays_bytes > ((size_t)4 << 20) && need < arrays_bytes / 8))
        return true;
    rcgc_raw_free(arrays);
    size_t bytes = need + need / 4 > 4096 ? need + need / 4 : 4096; /* room to grow */
    arrays = rcgc_raw_malloc(bytes);
    arrays_bytes = arrays != NULL ? bytes : 0;
    return arrays != NULL;
}

static void free_state(void) {
    rcgc_raw_free(old.counted);
    rcgc_raw_free(old.watched);
    old.watched = NULL;
    old.refs = NULL;
    old.stack = NULL;
    old.counted = NULL;
    old.phase = OLD_IDLE;
}

void rcgc__gc_old_abandon_stopped(void) {
    rcgc_assert_stopped();
    if (old.phase == OLD_IDLE)
        return;
    rcgc__gc_barrier_lower_stopped();
    /* Slots [write, read) were emptied while counting; the rest of the
     * table is as any collection left it. A later collection squeezes the
     * hole out. */
    free_state();
    old.abandoned = true;
}

void rcgc__gc_old_end_abandoned(void) {
    rcgc_assert(rcgc__gc_lock_held());
    if (!old.abandoned)
        return;
    old.abandoned = false;
    /* It ends as a collection that found nothing: every start has its
     * stop, and the statistics count it. */
    struct collection c = {
        .generation = 2, .pause_ns = old.pause_ns, .longest_stop_ns = old.longest_ns};
    rcgc__gc_record_statistics(&c);
    bool nested = rcgc__gc_in_collection;
    rcgc__gc_in_collection = true;
    rcgc_gc_info info = {
        .generation = 2, .pause_ns = old.pause_ns, .elapsed_ns = rcgc__now_ns() - old.start_ns};
    rcgc__gc_run_callbacks(RCGC_GC_STOP, &info);
    rcgc__gc_in_collection = nested;
}

static void move_young_in(struct gc_table *table, void *arg) {
    rcgc__gc_table_move_all(arg, table);
    rcgc__gc_table_trim(table, 1);
    table->compact_at = GC_YOUNG_COMPACT_MIN;
}

static void add_length(struct gc_table *table, void *arg) { *(uint64_t *)arg += table->length; }

/* World stopped: every tracked object joins generation 2, whose slots are
 * the candidates, and the barrier goes up. False (nothing changed) when
 * memory runs out. */
static bool start_stopped(void) {
    struct gc_table *middle = gc_old_table(GEN_MIDDLE);
    old.table = gc_old_table(GEN_OLD);
    if (old.debug & RCGC_DEBUG_STATS) {
        struct collection sizes = {0};
        rcgc__gc_measure_generations(&sizes);
        memcpy(old.generation_sizes, sizes.generation_sizes, sizeof old.generation_sizes);
    }
    uint64_t incoming = middle->length;
    rcgc__gc_for_each_young(add_length, &incoming);
    uint64_t end = old.table->length + incoming;
    if (end > UINT32_MAX || !rcgc__gc_table_reserve(old.table, incoming))
        return false;
    /* Reserved before the stop (see start()); more only if the young
     * generation outgrew the guess. */
    if (arrays_reserve((size_t)end * (sizeof(int32_t) + sizeof(uint32_t))))
        old.refs = arrays;
#if RCGC_CHECKS >= 2
    old.counted = rcgc_raw_malloc(end > 0 ? (size_t)end * sizeof(int32_t) : 1);
#endif
    old.watched = rcgc_raw_calloc(end / 64 + 1, sizeof(uint64_t));
    if (old.refs == NULL || old.watched == NULL || (RCGC_CHECKS >= 2 && old.counted == NULL) ||
        !rcgc__gc_barrier_raise_stopped((uint32_t)end)) {
        free_state();
        return false;
    }
    old.stack = (uint32_t *)(void *)((char *)old.refs + (size_t)end * sizeof(int32_t));
    rcgc__gc_table_move_all(old.table, middle);
    rcgc__gc_table_trim(middle, 8);
    rcgc__gc_for_each_young(move_young_in, old.table);
    rcgc__gc_reset_counters(2);
    old.end = old.table->length;
    old.read = old.write = old.cursor = old.top = old.marked = old.increments = 0;
    old.phase = OLD_COUNTING;
    /* What is promoted from now on is what the next collection waits for
     * (CPython's 25 % rule counts from here). */
    atomic_store_explicit(&rcgc__gc_pending_from, old.end, memory_order_relaxed);
    rcgc__gc.long_lived_pending = 0;
    return true;
}

/* Whether @obj is in the garbage the last increment found (its stop):
 * weak references that are garbage themselves get no callback. */
static bool in_garbage(const rcgc_object *obj) {
    uint32_t index = candidate_index(obj);
    return index != UINT32_MAX && old.refs[index] != REACHABLE && candidate(index) == obj;
}

/* The last increment's stop, marking complete: the unmarked live
 * candidates are the garbage G. Clear the weak references to those that
 * have any (listed when counted: see count_candidates) - only those are
 * read here; the rest of G is held after the restart. */
static void clear_garbage_watchers_stopped(struct collection *c) {
    rcgc__gc_sweep_note_owners_stopped(&c->owners);
    for (uint32_t w = 0; w < old.end / 64 + 1; w++)
        for (uint64_t bits = old.watched[w]; bits != 0; bits &= bits - 1) {
            uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
            if (i < old.end && old.refs[i] != REACHABLE && candidate(i) != NULL)
                rcgc__object_death_found_stopped(candidate(i), in_garbage);
        }
}

/* After the restart: hold G. Nothing but the collector can reach it now -
 * no counted reference leads to it, its weak references are cleared - and
 * its slots hold still: no other thread empties them (they neither untrack
 * nor kill unreachable objects) and gc_mutex keeps every other collection
 * off the tables. So the part of the last increment that grows with the
 * garbage runs with the world running. Returns false (nothing collected,
 * G left in place for the next collection) when the held array cannot be
 * had. */
static bool hold_garbage(struct collection *c) {
    uint32_t unmarked = 0; /* dead slots included: an upper bound */
    for (uint32_t i = 0; i < old.end; i++)
        unmarked += old.refs[i] != REACHABLE;
    c->held = NULL;
    c->held_count = 0;
    if (unmarked == 0)
        return true;
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of object pointers
    c->held = rcgc_raw_malloc((size_t)unmarked * (sizeof(rcgc_object *) + 1));
    if (c->held == NULL)
        return false;
    c->batch_of = (uint8_t *)(c->held + unmarked);
    for (uint32_t i = 0; i < old.end; i++) {
        if (old.refs[i] == REACHABLE)
            continue;
        rcgc_object **slot = gc_table_slot(old.table, i);
        rcgc_object *obj = *slot;
        if (obj == NULL)
            continue;
        *slot = NULL;
        rcgc__gc_hold(c, obj);
    }
    rcgc__gc_separate_uncollectable(c);
#if RCGC_CHECKS >= 3
    rcgc__stop_the_world();
    GC_CHECK_STEP(c->held, c->held_count, "the last increment");
    rcgc__start_the_world();
#endif
    return true;
}

/* ------------------------------------------------------------- Increments */

static void note_stop(uint64_t stop_start) {
    uint64_t stopped = rcgc__now_ns() - stop_start;
    old.pause_ns += stopped;
    if (stopped > old.longest_ns)
        old.longest_ns = stopped;
    rcgc_gc_info info = {.generation = 2, .pause_ns = stopped};
    rcgc__gc_run_callbacks(RCGC_GC_INCREMENT, &info);
}

/* The work of one stop; returns true when marking is complete, with the
 * world still stopped for the last steps. */
static bool work_stopped(uint64_t budget_ns, uint64_t min_units) {
    budget_start(budget_ns, min_units);
    if (old.phase == OLD_COUNTING && !count_candidates())
        return false;
    if (old.phase == OLD_SUBTRACTING && !subtract_internal())
        return false;
    return mark_reachable();
}

/* One increment of the running collection (gc_mutex held); @budget_ns:
 * UINT64_MAX for no bound. Returns true while the collection runs; once
 * it ended, *@result is what rcgc_collect returns for it. */
static bool increment(uint64_t budget_ns, uint64_t min_units, ptrdiff_t *result) {
    old.increments++;
    rcgc__gc_in_collection = true;
    atomic_store_explicit(&rcgc__gc_collecting, true, memory_order_relaxed);
    struct collection c = {.generation = 2, .debug = old.debug};
    uint64_t stop_start = rcgc__now_ns();
    rcgc__stop_the_world();
    rcgc__gc_make_counts_exact(&c);
    /* The checks walk every candidate: at most one increment in
     * (candidates / 16 k) runs them, so that a checked build's collection
     * of millions in small increments stays linear. */
    if (old.increments % (1 + old.end / 16384) == 0) {
        check_barrier_stopped();
        GC_CHECK_STEP(NULL, 0, "an increment's stop");
    }
    if (!work_stopped(budget_ns, min_units)) {
        rcgc__start_the_world();
        note_stop(stop_start);
        rcgc__death_list_run(c.dead);
        atomic_store_explicit(&rcgc__gc_collecting, false, memory_order_relaxed);
        rcgc__gc_in_collection = false;
        return true;
    }
    c.target_gen = GEN_OLD;
    c.target = old.table;
    c.count = old.end;
    c.refs = old.refs;
    c.stack = old.stack;
    memcpy(c.generation_sizes, old.generation_sizes, sizeof c.generation_sizes);
    clear_garbage_watchers_stopped(&c);
    rcgc__gc_barrier_lower_stopped();
    old.phase = OLD_IDLE;
    rcgc__start_the_world();
    note_stop(stop_start);
    bool found = hold_garbage(&c);
    /* Marked candidates that died since were counted: close enough for
     * the 25 % rule's base. */
    uint32_t live = old.marked + c.held_count;
    c.pause_ns = old.pause_ns;
    c.longest_stop_ns = old.longest_ns;
    /* refs and stack serve the resurrection check, by held index. */
    *result = rcgc__gc_collection_finish(&c, found, old.start_ns, old.returned_before);
    free_state();
    if (found)
        rcgc__gc.long_lived_total = live - c.collected;
    return false;
}

/* Start a collection (gc_mutex held) and run its first increment; as
 * increment(), and false with *@result = -1 (errno = ENOMEM) when it
 * cannot start. */
static bool start(uint64_t budget_ns, ptrdiff_t *result) {
    old.debug = rcgc_get_debug();
    old.start_ns = rcgc__now_ns();
    old.pause_ns = old.longest_ns = 0;
    rcgc__gc_in_collection = true;
    atomic_store_explicit(&rcgc__gc_collecting, true, memory_order_relaxed);
    rcgc_gc_info info = {.generation = 2};
    rcgc__gc_run_callbacks(RCGC_GC_START, &info);
    old.returned_before = rcgc__deferred_returned();
    /* The arrays for what generations 1 and 2 hold (their lengths are the
     * collector's to read: only it appends to them) and a young
     * generation's worth, before the stop: freeing and faulting in tens of
     * megabytes is not work for a stop. */
    uint64_t guess = (uint64_t)gc_old_table(GEN_OLD)->length + gc_old_table(GEN_MIDDLE)->length +
                     (uint64_t)atomic_load_explicit(&rcgc__gc_young_limit, memory_order_relaxed) +
                     GC_CHUNK_SLOTS;
    if (guess <= UINT32_MAX)
        (void)arrays_reserve((size_t)guess * (sizeof(int32_t) + sizeof(uint32_t)));
    uint64_t stop_start = rcgc__now_ns();
    rcgc__stop_the_world();
    bool started = start_stopped();
    rcgc__start_the_world();
    if (!started) {
        atomic_store_explicit(&rcgc__gc_collecting, false, memory_order_relaxed);
        rcgc__gc_in_collection = false;
        info.elapsed_ns = rcgc__now_ns() - old.start_ns;
        rcgc__gc_run_callbacks(RCGC_GC_STOP, &info);
        errno = ENOMEM;
        *result = -1;
        return false;
    }
    note_stop(stop_start);
    return increment(budget_ns, MIN_UNITS, result);
}

static uint64_t budget(void) {
    return atomic_load_explicit(&increment_budget, memory_order_relaxed);
}

/* ---------------------------------------------------------------- Pacing */

bool rcgc__gc_old_running(void) { return old.phase != OLD_IDLE; }

bool rcgc_old_collection_running(void) {
    rcgc__gc_lock();
    bool running = old.phase != OLD_IDLE;
    rcgc__gc_unlock();
    return running;
}

bool rcgc__gc_old_incremental(void) {
    return atomic_load_explicit(&old_mode, memory_order_relaxed) == RCGC_OLD_INCREMENTAL;
}

/* Work units left, at most: counting and subtraction visit each slot
 * once, marking looks at each candidate as a root once and scans each
 * marked one once. */
static uint64_t units_left(void) {
    uint64_t n = old.end;
    switch (old.phase) {
    case OLD_COUNTING:
        return (n - old.read) + 3 * n;
    case OLD_SUBTRACTING:
        return (n - old.cursor) + 2 * n;
    case OLD_MARKING:
        return (n - old.cursor) + (n - (old.marked - old.top));
    default:
        return 0;
    }
}

/* Pacing: the collection must end before generation 2 grows by
 * RCGC_GC_OLD_GROWTH_PCT percent of its candidates. Each increment does
 * at least the work left over the increments left at the growth seen per
 * increment so far; past the limit, the rest is done at once, so the
 * garbage the collection was started for cannot wait for ever. */
static uint64_t paced_units(void) {
    uint64_t limit = (uint64_t)old.end * (uint64_t)rcgc__options()->gc_old_growth_pct / 100;
    uint64_t grown = rcgc__gc_pending_alive();
    if (grown >= limit)
        return UINT64_MAX;
    uint64_t per_increment = grown / (old.increments > 0 ? old.increments : 1);
    uint64_t increments_left = (limit - grown) / (per_increment > 0 ? per_increment : 1);
    uint64_t units = units_left() / (increments_left > 0 ? increments_left : 1);
    return units > MIN_UNITS ? units : MIN_UNITS;
}

void rcgc__gc_collect_automatic(void) {
    rcgc_assert(rcgc__gc_lock_held());
    int generation = rcgc__gc_generation_due();
    if (!rcgc__gc_old_incremental()) {
        (void)rcgc__gc_collect_locked(generation);
        return;
    }
    (void)rcgc__gc_collect_locked(generation < 2 ? generation : 1);
    ptrdiff_t result;
    if (old.phase == OLD_IDLE) {
        if (generation == 2)
            (void)start(budget(), &result);
        return;
    }
    uint64_t units = paced_units();
    (void)increment(units == UINT64_MAX ? UINT64_MAX : budget(), units, &result);
}

ptrdiff_t rcgc__gc_old_collect_whole(void) {
    rcgc_assert(rcgc__gc_lock_held());
    if (old.phase != OLD_IDLE) {
        rcgc__stop_the_world();
        rcgc__gc_old_abandon_stopped();
        rcgc__start_the_world();
        rcgc__gc_old_end_abandoned();
    }
    ptrdiff_t result = 0;
    if (start(budget(), &result))
        while (increment(budget(), MIN_UNITS, &result)) {
        }
    return result;
}

/* -------------------------------------------------------------- Public API */

void rcgc__gc_old_settings_from_environment(const char *mode) {
    atomic_store_explicit(&increment_budget, (uint64_t)rcgc__options()->gc_increment_us * 1000u,
                          memory_order_relaxed);
    if (mode == NULL || *mode == '\0')
        return;
    if (strcmp(mode, "incremental") == 0)
        atomic_store_explicit(&old_mode, RCGC_OLD_INCREMENTAL, memory_order_relaxed);
    else if (strcmp(mode, "stw") == 0)
        atomic_store_explicit(&old_mode, RCGC_OLD_STOP_THE_WORLD, memory_order_relaxed);
    else
        fprintf(stderr, "rcgc: ignoring RCGC_GC_OLD=%s: expected incremental or stw; using stw\n",
                mode);
}

int rcgc_set_old_collection(int mode) {
    if (mode != RCGC_OLD_STOP_THE_WORLD && mode != RCGC_OLD_INCREMENTAL) {
        errno = EINVAL;
        return -1;
    }
    if (rcgc__gc_in_collection) {
        errno = EBUSY;
        return -1;
    }
    rcgc__gc_lock();
    if (mode != atomic_load_explicit(&old_mode, memory_order_relaxed) && old.phase != OLD_IDLE) {
        rcgc__stop_the_world();
        rcgc__gc_old_abandon_stopped();
        rcgc__start_the_world();
        rcgc__gc_old_end_abandoned();
    }
    atomic_store_explicit(&old_mode, mode, memory_order_relaxed);
    rcgc__gc_unlock();
    return 0;
}

int rcgc_get_old_collection(void) { return atomic_load_explicit(&old_mode, memory_order_relaxed); }

void rcgc_set_increment_budget(uint64_t ns) {
    atomic_store_explicit(&increment_budget, ns, memory_order_relaxed);
}

uint64_t rcgc_get_increment_budget(void) { return budget(); }

/* rcgc_collect_step's work, gc_mutex held: 1 while the collection runs,
 * else 0, or -1 when it could not start. */
static ptrdiff_t step_locked(void *arg) {
    (void)arg;
    ptrdiff_t result = 0;
    bool running =
        old.phase == OLD_IDLE ? start(budget(), &result) : increment(budget(), MIN_UNITS, &result);
    return running ? 1 : result < 0 ? -1 : 0;
}

int rcgc_collect_step(void) {
    if (!rcgc__gc_old_incremental() || rcgc__gc_in_collection) {
        errno = EINVAL;
        return -1;
    }
    return (int)rcgc__gc_call_locked(step_locked, NULL);
}
