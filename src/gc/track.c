/* src/gc/track.c - tracking: the young tables, untracking from any thread,
 * count[0] and the automatic trigger, and the collector's lock.
 *
 * Owned by one thread: its young table and that table's count delta (the
 * thread that made the table's record; the collector while stopped).
 * Shared: every table's slots (NULL stores from untracking threads), the
 * global count[0] and the settings (C11 atomics), gc_mutex.
 *
 * Why young tables are per thread: tracking a new container then writes
 * only memory the thread owns - no lock and no shared cache line on the
 * allocation path, which is what lets two threads making objects scale.
 */
#include "gc/gc_barrier.h"
#include "gc/gc_internal.h"

#include <rcgc/raw.h>

#include <errno.h>

struct gc_table rcgc__gc_old_tables[3] = {
    {.gen = GEN_MIDDLE},
    {.gen = GEN_OLD},
    {.gen = GEN_PERMANENT},
};

struct gc_table *_Atomic rcgc__gc_young_tables[GC_YOUNG_TABLES];

_Atomic int64_t rcgc__gc_young_count;
_Atomic unsigned rcgc__gc_threshold[RCGC_GENERATIONS] = {700, 10, 10};
_Atomic int64_t rcgc__gc_young_limit = 700;

/* Threads counted in rcgc__gc_young_limit since the last collection. */
static _Atomic uint32_t young_makers;
_Atomic bool rcgc__gc_enabled = true;
_Atomic bool rcgc__gc_collecting;

_Thread_local bool rcgc__gc_in_collection;

/* One past the highest young table id in use: collections walk no further. */
static _Atomic uint32_t young_tables_end;

_Thread_local struct gc_table *rcgc__gc_my_young __attribute__((tls_model("initial-exec")));
_Thread_local struct thread_record *rcgc__gc_my_young_record
    __attribute__((tls_model("initial-exec")));

_Atomic uint32_t rcgc__gc_pending_from;

/* ------------------------------------------------------------------ Lock */

static pthread_mutex_t gc_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local unsigned gc_lock_depth;

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_fork_handlers(void);

void rcgc__gc_fork_handlers_register(void) { pthread_once(&fork_once, register_fork_handlers); }

void rcgc__gc_lock(void) {
    if (gc_lock_depth++ > 0)
        return;
    rcgc__gc_fork_handlers_register();
    /* As a blocked thread: a collector holding the mutex may be stopping
     * the world, and must not wait for this thread to park. */
    bool entered = rcgc__blocking_enter();
    pthread_mutex_lock(&gc_mutex);
    rcgc__blocking_leave(entered);
}

void rcgc__gc_unlock(void) {
    if (--gc_lock_depth > 0)
        return;
    pthread_mutex_unlock(&gc_mutex);
    /* Weak-reference callbacks a collection postponed run here: never
     * under an rcgc lock. */
    rcgc__object_run_postponed();
}

bool rcgc__gc_lock_held(void) { return gc_lock_depth > 0; }

void rcgc__gc_lock_borrow(bool borrow) {
    if (borrow)
        gc_lock_depth++;
    else
        gc_lock_depth--;
}

static bool gc_trylock(void) {
    if (gc_lock_depth > 0 || pthread_mutex_trylock(&gc_mutex) != 0)
        return false;
    gc_lock_depth = 1;
    return true;
}

/* fork(): the child must not inherit a mutex held by a thread it lacks.
 * Registered on first use, so after the stop-the-world handlers, whose
 * prepare therefore runs after this one (pthread_atfork runs prepare
 * handlers in reverse order): gc_mutex before stw_mutex, as collections
 * take them. The state lock is a leaf, taken here too: with gc_mutex held
 * no collection can be waiting for it inside a stop. */
static void fork_prepare(void) {
    if (gc_lock_depth == 0) {
        bool entered = rcgc__blocking_enter();
        pthread_mutex_lock(&gc_mutex);
        rcgc__blocking_leave(entered);
    }
    rcgc__gc_state_fork_lock();
}

static void fork_parent(void) {
    rcgc__gc_state_unlock();
    if (gc_lock_depth == 0)
        pthread_mutex_unlock(&gc_mutex);
}

static void register_fork_handlers(void) { pthread_atfork(fork_prepare, fork_parent, fork_parent); }

/* ----------------------------------------------------------- Young tables */

static struct gc_table *young_table_new(uint16_t id) {
    rcgc__gc_fork_handlers_register();
    struct gc_table *table = rcgc_raw_calloc(1, sizeof *table);
    if (table == NULL)
        return NULL;
    table->gen = GEN_YOUNG;
    table->young_id = id;
    table->compact_at = GC_YOUNG_COMPACT_MIN;
    atomic_store_explicit(&rcgc__gc_young_tables[id], table, memory_order_release);
    uint32_t end = atomic_load_explicit(&young_tables_end, memory_order_relaxed);
    while (end < (uint32_t)id + 1 &&
           !atomic_compare_exchange_weak_explicit(&young_tables_end, &end, (uint32_t)id + 1,
                                                  memory_order_release, memory_order_relaxed)) {
    }
    return table;
}

struct gc_table *rcgc__gc_my_young_table_slow(void) {
    struct thread_record *record = rcgc__thread_record();
    if (record == NULL)
        return NULL;
    uint16_t id = (uint16_t)(record->slot + 1);
    struct gc_table *table = atomic_load_explicit(&rcgc__gc_young_tables[id], memory_order_acquire);
    if (table == NULL && (table = young_table_new(id)) == NULL)
        return NULL;
    rcgc__gc_my_young = table;
    rcgc__gc_my_young_record = record;
    return table;
}

/* Objects that die by count leave dead slots behind, which only a
 * collection squeezes out; with few cycles count[0] stays low and no
 * collection comes. The owner then squeezes its own table: with the world
 * stopped, since other threads store into its slots. The next squeeze
 * waits until the table has doubled, so the cost per creation stays
 * constant. */
RCGC_NOINLINE static void compact_own_young(struct gc_table *young) {
    rcgc__stop_the_world();
    rcgc__gc_table_compact(young, 0);
    rcgc__gc_table_trim(young, 1);
    rcgc__start_the_world();
    uint64_t next = (uint64_t)young->length * 2;
    young->compact_at = next < GC_YOUNG_COMPACT_MIN ? GC_YOUNG_COMPACT_MIN
                        : next > UINT32_MAX         ? UINT32_MAX
                                                    : (uint32_t)next;
}

/* Append @obj to @table and set its generation bits; @reachable when
 * other threads may hold references to it (see gc_set_gen_shared). */
static bool track_in(struct gc_table *table, rcgc_object *obj, bool reachable) {
    if (!gc_table_append_entry(table, obj))
        return false;
    if (reachable)
        gc_set_gen_shared(obj, table->gen);
    else
        gc_set_gen(obj, table->gen);
    return true;
}

static int track_slow(rcgc_object *obj, bool reachable) {
    struct gc_table *young = rcgc__gc_my_young_table();
    if (young != NULL) {
        if (young->length >= young->compact_at)
            compact_own_young(young);
        return track_in(young, obj, reachable) ? 0 : -1;
    }
    if (rcgc__thread_record() != NULL)
        return -1; /* attached, but no memory for the table */
    /* An unattached thread: the shared young table, under gc_mutex (the
     * collector holds it while it empties the table). */
    rcgc__gc_lock();
    struct gc_table *shared = atomic_load_explicit(&rcgc__gc_young_tables[0], memory_order_acquire);
    if (shared == NULL)
        shared = young_table_new(0);
    bool ok = shared != NULL && track_in(shared, obj, reachable);
    rcgc__gc_unlock();
    return ok ? 0 : -1;
}

int rcgc__gc_track_new_slow(rcgc_object *obj) { return track_slow(obj, false); }

struct gc_table *rcgc__gc_table_of(const rcgc_object *obj, unsigned gen) {
    switch (gen) {
    case GEN_YOUNG:
        return atomic_load_explicit(&rcgc__gc_young_tables[obj->ob_reserved], memory_order_acquire);
    case GEN_MIDDLE:
    case GEN_OLD:
    case GEN_PERMANENT:
        return gc_old_table(gen);
    default:
        return NULL;
    }
}

/* Empty @obj's slot in the table of generation @gen; the caller clears
 * the generation bits. */
static inline __attribute__((always_inline)) void untrack_slot(rcgc_object *obj, unsigned gen) {
    struct gc_table *table = rcgc__gc_table_of(obj, gen);
    if (table != NULL) {
        if (gen == GEN_OLD)
            rcgc__gc_barrier_untracking(obj);
        uint32_t slot = atomic_load_explicit(&obj->ob_gc_slot, memory_order_relaxed);
        /* Not the length: the owner may be appending meanwhile. */
        rcgc_assert_internal(*gc_table_slot(table, slot) == obj);
        *gc_table_slot(table, slot) = NULL;
        if (gen == GEN_OLD &&
            slot >= atomic_load_explicit(&rcgc__gc_pending_from, memory_order_relaxed)) {
            struct gc_table *young = rcgc__gc_my_young_table();
            if (young != NULL)
                atomic_store_explicit(
                    &young->pending_deaths,
                    atomic_load_explicit(&young->pending_deaths, memory_order_relaxed) + 1,
                    memory_order_relaxed);
        }
    }
}

void rcgc__gc_untrack_tracked(rcgc_object *obj, unsigned gen) {
    untrack_slot(obj, gen);
    gc_set_gen(obj, GEN_NONE);
}

static void add_pending_deaths(struct gc_table *table, void *arg) {
    *(int64_t *)arg += atomic_load_explicit(&table->pending_deaths, memory_order_relaxed);
}

size_t rcgc__gc_pending_alive(void) {
    rcgc_assert(rcgc__gc_lock_held());
    int64_t deaths = 0;
    rcgc__gc_for_each_young(add_pending_deaths, &deaths);
    return deaths >= (int64_t)rcgc__gc.long_lived_pending
               ? 0
               : rcgc__gc.long_lived_pending - (size_t)deaths;
}

/* ------------------------------------------------------------------ count[0] */

static void flush_delta(struct gc_table *young, int64_t delta) {
    atomic_store_explicit(&young->count_delta, 0, memory_order_relaxed);
    int64_t count = atomic_load_explicit(&rcgc__gc_young_count, memory_order_relaxed);
    /* Never below zero: a death of an object counted before the last reset
     * does not make room for more creations (CPython's rule). */
    while (!atomic_compare_exchange_weak_explicit(&rcgc__gc_young_count, &count,
                                                  count + delta < 0 ? 0 : count + delta,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

static int64_t young_limit_for(uint32_t makers) {
    if (!atomic_load_explicit(&rcgc__gc_enabled, memory_order_seq_cst))
        return 0;
    int64_t threshold = atomic_load_explicit(&rcgc__gc_threshold[0], memory_order_seq_cst);
    return threshold * (makers > 1 ? makers : 1);
}

void rcgc__gc_young_limit_update(void) {
    /* Two updates at once (rcgc_enable racing rcgc_disable) must not
     * leave the older inputs' limit behind: whoever stores last checks
     * that the inputs still give what it stored. */
    for (;;) {
        int64_t limit = young_limit_for(atomic_load_explicit(&young_makers, memory_order_seq_cst));
        atomic_store_explicit(&rcgc__gc_young_limit, limit, memory_order_seq_cst);
        if (young_limit_for(atomic_load_explicit(&young_makers, memory_order_seq_cst)) == limit)
            return;
    }
}

void rcgc__gc_young_makers_reset_stopped(void) {
    rcgc_assert_stopped();
    atomic_store_explicit(&young_makers, 0, memory_order_relaxed);
    rcgc__gc_young_limit_update();
}

/* The owner of @young has made a batch: one more thread shares the young
 * generation until the next collection. */
static void join_young_makers(struct gc_table *young) {
    young->making = true;
    uint32_t makers = atomic_fetch_add_explicit(&young_makers, 1, memory_order_relaxed) + 1;
    /* Only ever raised between collections, so two threads joining at
     * once cannot leave the smaller of their two limits behind. */
    int64_t limit = young_limit_for(makers);
    int64_t now = atomic_load_explicit(&rcgc__gc_young_limit, memory_order_relaxed);
    while (now != 0 && now < limit &&
           !atomic_compare_exchange_weak_explicit(&rcgc__gc_young_limit, &now, limit,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

RCGC_NOINLINE static void maybe_collect(void) {
    if (!atomic_load_explicit(&rcgc__gc_enabled, memory_order_relaxed) ||
        atomic_load_explicit(&rcgc__gc_collecting, memory_order_relaxed) ||
        rcgc__gc_in_collection || rcgc__thread_record() == NULL)
        return;
    int64_t limit = atomic_load_explicit(&rcgc__gc_young_limit, memory_order_relaxed);
    if (limit == 0 || atomic_load_explicit(&rcgc__gc_young_count, memory_order_relaxed) < limit)
        return;
    /* Another thread collecting: it resets the count; no need to wait. */
    if (!gc_trylock())
        return;
    limit = atomic_load_explicit(&rcgc__gc_young_limit, memory_order_relaxed);
    if (limit != 0 && atomic_load_explicit(&rcgc__gc_young_count, memory_order_relaxed) >= limit &&
        atomic_load_explicit(&rcgc__gc_enabled, memory_order_relaxed))
        rcgc__gc_collect_automatic();
    rcgc__gc_unlock();
}

void rcgc__gc_count_creation_slow(void) {
    struct gc_table *young = rcgc__gc_my_young_table();
    if (young == NULL) {
        atomic_fetch_add_explicit(&rcgc__gc_young_count, 1, memory_order_relaxed);
        return;
    }
    int64_t delta = atomic_load_explicit(&young->count_delta, memory_order_relaxed) + 1;
    if (delta >= GC_COUNT_BATCH && !young->making)
        join_young_makers(young);
    flush_delta(young, delta);
    maybe_collect();
}

void rcgc__gc_count_death_slow(void) {
    struct gc_table *young = rcgc__gc_my_young_table();
    if (young == NULL) {
        int64_t count = atomic_load_explicit(&rcgc__gc_young_count, memory_order_relaxed);
        while (count > 0 &&
               !atomic_compare_exchange_weak_explicit(&rcgc__gc_young_count, &count, count - 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
        }
        return;
    }
    int64_t delta = atomic_load_explicit(&young->count_delta, memory_order_relaxed);
    if (atomic_load_explicit(&rcgc__gc_young_count, memory_order_relaxed) + delta <= 0)
        return; /* already zero, as far as this thread can tell */
    flush_delta(young, delta - 1);
}

/* -------------------------------------------------------------- Public API */

int rcgc_track(rcgc_object *obj) {
    const rcgc_type *type = obj->ob_type;
    if ((type->flags & RCGC_TYPE_GC) == 0 || type->traverse == NULL)
        rcgc__report_object(
            obj, "tracked, but its type has no RCGC_TYPE_GC flag or traverse hook:", "rcgc_track");
    if (gc_gen_of(gc_flags_load(obj)) != GEN_NONE)
        return 0;
    if (track_slow(obj, true) != 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void rcgc_untrack(rcgc_object *obj) {
    unsigned gen = gc_gen_of(gc_flags_load(obj));
    if (gen == GEN_NONE)
        return;
    untrack_slot(obj, gen);
    gc_set_gen_shared(obj, GEN_NONE);
}

bool rcgc_is_tracked(const rcgc_object *obj) {
    unsigned gen = gc_gen_of(gc_flags_load(obj));
    return gen != GEN_NONE;
}

bool rcgc_is_finalized(const rcgc_object *obj) { return (gc_flags_load(obj) & OBJ_FINALIZED) != 0; }

void rcgc__gc_for_each_young(void (*visit)(struct gc_table *table, void *arg), void *arg) {
    uint32_t end = atomic_load_explicit(&young_tables_end, memory_order_acquire);
    for (uint32_t id = 0; id < end; id++) {
        struct gc_table *table =
            atomic_load_explicit(&rcgc__gc_young_tables[id], memory_order_acquire);
        if (table != NULL)
            visit(table, arg);
    }
}
