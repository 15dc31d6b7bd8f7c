/* src/gc/gc_internal.h - the cycle collector inside rcgc: generation tables,
 * tracking, the collector's state.
 *
 * Where a tracked object is recorded: ob_flags bits 4-6 name its
 * generation (enum gc_gen), ob_gc_slot is its index in that generation's
 * table, and for the young generation ob_reserved names whose table: the
 * creating thread's record slot + 1 (0: the table of unattached threads).
 *
 * Owned by one thread: its young table (appends, and its count delta) -
 *   except during a stop of the world, when the collector empties it.
 * Shared: every table's slots, into which any thread killing or untracking
 *   an object stores NULL (its slot never moves outside a stop: tables are
 *   chunked, and only the collector compacts them, with the world
 *   stopped); the old tables (appended to only by the collector, under
 *   gc_mutex); the counters and settings (C11 atomics); the garbage list,
 *   callbacks and statistics (gc_mutex).
 *
 * Invariants:
 *   G1  a tracked object is in exactly one table, at slot ob_gc_slot, and
 *       that slot holds it; an untracked one has generation GEN_NONE
 *   G2  outside a stop, only the table's owner appends to a young table,
 *       and only the collector (gc_mutex held) to an old one
 *   G3  objects in GEN_HELD are held by the running collection (one
 *       reference each), in its private array, not in any table
 */
#ifndef RCGC_GC_INTERNAL_H
#define RCGC_GC_INTERNAL_H

#include "gc/gc_object.h"
#include "object/object_internal.h"

#include <rcgc/gc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Set the length to @length (<= the current one), keeping the chunks. */
void rcgc__gc_table_truncate(struct gc_table *table, uint32_t length);

/* Free the chunks past what @table's length needs, keeping @spare extra. */
void rcgc__gc_table_trim(struct gc_table *table, uint32_t spare);

/* Squeeze the NULLs out of slots [@from, length), updating ob_gc_slot of
 * the entries that move, and call @kept on each entry at its new slot
 * (NULL: none). World stopped. Always inline, so that a constant @kept
 * is inlined into the walk: a full collection counts each entry there, and
 * an indirect call per object costs it a few percent. */
static inline __attribute__((always_inline)) void
gc_table_squeeze(struct gc_table *table, uint32_t from,
                 void (*kept)(rcgc_object *obj, uint32_t slot, void *arg), void *arg) {
    rcgc_assert_stopped();
    uint32_t write = from;
    for (uint32_t read = from; read < table->length;) {
        /* A chunk at a time: one directory lookup per 1024 slots. */
        rcgc_object **slots;
        uint32_t n = gc_table_run(table, read, table->length, &slots);
        for (uint32_t i = 0; i < n; i++) {
            rcgc_object *obj = slots[i];
            if (obj == NULL)
                continue;
            if (write != read + i) {
                *gc_table_slot(table, write) = obj;
                atomic_store_explicit(&obj->ob_gc_slot, write, memory_order_relaxed);
            }
            if (kept != NULL)
                kept(obj, write, arg);
            write++;
        }
        read += n;
    }
    rcgc__gc_table_truncate(table, write);
}

/* gc_table_squeeze with nothing to do per entry. */
void rcgc__gc_table_compact(struct gc_table *table, uint32_t from);

/* Move every entry of @from to the end of @to (room reserved), then empty
 * @from. World stopped. */
void rcgc__gc_table_move_all(struct gc_table *to, struct gc_table *from);

/* Live entries (a walk over the slots). */
size_t rcgc__gc_table_live(const struct gc_table *table);

/* ----------------------------------------------------------------- Tracking */

/* The old tables, by generation: GEN_MIDDLE, GEN_OLD, GEN_PERMANENT. */
extern struct gc_table rcgc__gc_old_tables[3];

static inline struct gc_table *gc_old_table(unsigned gen) {
    return &rcgc__gc_old_tables[gen - GEN_MIDDLE];
}

/* Where the objects promoted to generation 2 since the last full
 * collection start in its table. */
extern _Atomic uint32_t rcgc__gc_pending_from;

/* The pending objects still alive (gc_mutex held). */
size_t rcgc__gc_pending_alive(void);

/* Recompute rcgc__gc_young_limit from threshold[0] and the threads making
 * objects: rcgc_set_threshold (any thread) and a collection's reset. */
void rcgc__gc_young_limit_update(void);

/* A collection's reset: no thread is making objects yet (world stopped). */
void rcgc__gc_young_makers_reset_stopped(void);

/* ------------------------------------------------------------ Object lists */

/* Objects listed with the world stopped (introspect.c, census.c), each held
 * by a reference from rcgc__gc_list_add until rcgc__gc_list_deliver,
 * which runs after the restart: it visits them until the visitor says
 * stop, drops the references and frees the list. Out of memory while
 * listing sets `failed`; deliver then visits nothing and returns -1 with
 * errno = ENOMEM. */
struct gc_object_list {
    rcgc_object **items;
    size_t length, capacity;
    bool failed;
};

void rcgc__gc_list_add(struct gc_object_list *list, rcgc_object *obj);
ptrdiff_t rcgc__gc_list_deliver(struct gc_object_list *list, rcgc_walk_fn visit, void *arg);

/* ----------------------------------------------------- Collector's state */

/* The collector's mutex, reentrant on one thread (hooks that run during a
 * collection may call the API), taken as a blocked thread so a collector
 * stopping the world does not wait for a thread waiting for this lock. */
void rcgc__gc_lock(void);
void rcgc__gc_unlock(void);

/* A thread working part of a collection for the collector, which holds
 * gc_mutex and waits for it (sweep.c): while it borrows the mutex, the
 * API's locking calls from its hooks act as on the collecting thread
 * (reentrant) instead of waiting for the mutex the collector will not
 * release until this thread is done. */
void rcgc__gc_lock_borrow(bool borrow);

/* state.c: counters, statistics, debug flags and stream, garbage list.
 * What the host only reads or lists (statistics, garbage list, callbacks,
 * stream) sits behind a leaf lock of its own, never held while a hook runs
 * or a stop is awaited: a host thread asking for statistics must not wait
 * for a collection whose finalizer waits for a lock that thread holds. */
struct gc_state {
    _Atomic int64_t count[RCGC_GENERATIONS]; /* [1], [2], written under gc_mutex */
    size_t long_lived_total;                 /* gc_mutex: generation 2 after the last full one */
    size_t long_lived_pending;               /* gc_mutex: promoted into generation 2 since */
    _Atomic unsigned debug;
    rcgc_gc_stats stats[RCGC_GENERATIONS]; /* state lock */
    FILE *debug_stream;                    /* state lock; NULL: stderr */
    rcgc_object **garbage;                 /* state lock */
    size_t garbage_length, garbage_capacity;
};

extern struct gc_state rcgc__gc;

void rcgc__gc_state_lock(void);
void rcgc__gc_state_unlock(void);

/* fork(): the state lock without registering the handlers (they are what
 * calls it); unlocked with rcgc__gc_state_unlock. */
void rcgc__gc_state_fork_lock(void);

/* Register the collector's fork handlers once (track.c); every lock of
 * the collector's calls it before its first use, so that no fork can
 * leave the child a collector mutex held by a thread it lacks. */
void rcgc__gc_fork_handlers_register(void);

/* Append @obj to the garbage list, taking over one reference the caller
 * holds; false when the list cannot grow (the caller keeps the reference). */
bool rcgc__gc_garbage_append(rcgc_object *obj);

FILE *rcgc__gc_debug_stream(void);

/* Every registered callback, outside the world's stops; gc_mutex held. */
void rcgc__gc_run_callbacks(enum rcgc_gc_phase phase, const rcgc_gc_info *info);

/* The generation an automatic collection should take: the oldest whose
 * counter reaches its threshold when this collection is counted, (699, 9,
 * 0) + 1 -> collect(1), and CPython's 25% rule for full collections.
 * gc_mutex held. */
int rcgc__gc_generation_due(void);

/* collect.c: one collection; gc_mutex held, not from inside a collection. */
ptrdiff_t rcgc__gc_collect_locked(int generation);

/* increments.c: full collections in increments (rcgc_set_old_collection).
 * All with gc_mutex held. */
bool rcgc__gc_old_incremental(void); /* the mode is RCGC_OLD_INCREMENTAL */
bool rcgc__gc_old_running(void);     /* one has started and not ended */
/* An automatic collection: the generation due, and in incremental mode a
 * generation-1 collection instead of a full one, which starts an
 * incremental one; while one runs, an increment after each collection. */
void rcgc__gc_collect_automatic(void);
/* rcgc_collect(2) in incremental mode: a whole one, increments back to
 * back (a running one is abandoned first). */
ptrdiff_t rcgc__gc_old_collect_whole(void);
/* Drop the running one, if any: barrier lowered, nothing freed. World
 * stopped (freeze, unfreeze, a change of mode). */
void rcgc__gc_old_abandon_stopped(void);
/* After the restart that followed an abandon: its stop callbacks and
 * statistics, as a collection that found nothing. */
void rcgc__gc_old_end_abandoned(void);

/* At load: RCGC_GC_OLD (@mode, NULL when unset) and RCGC_GC_INCREMENT_US. */
void rcgc__gc_old_settings_from_environment(const char *mode);

/* @fn(@arg) with gc_mutex held, the calling thread attached for the call
 * if it was not (-1 when it cannot be): the public calls that collect. */
ptrdiff_t rcgc__gc_call_locked(ptrdiff_t (*fn)(void *arg), void *arg);

/* True on the thread running a collection (its hooks included). */
extern _Thread_local bool rcgc__gc_in_collection;

/* Call @visit on every young table. Any thread may read a table's counts
 * (atomics); its slots and length only with the world stopped. */
void rcgc__gc_for_each_young(void (*visit)(struct gc_table *table, void *arg), void *arg);

/* Found unreachable by the running collection and held by it (G3). */
static inline bool gc_is_held(const rcgc_object *obj) {
    return gc_gen_of(gc_flags_load(obj)) == GEN_HELD;
}

/* sweep.c: the garbage cleared and dropped by the threads that own it.
 * Batch 0 is the collecting thread's; batches 1.. go to the threads found
 * parked when the world was stopped, one each (tid[b]). */
#define GC_SWEEP_BATCHES 16

struct gc_sweep_owners {
    uint32_t tid[GC_SWEEP_BATCHES];
    unsigned count; /* batches in use, the collector's included */
};

/* Note the threads parked in this stop (world stopped). */
void rcgc__gc_sweep_note_owners_stopped(struct gc_sweep_owners *owners);

/* The batch of an object whose owner is @tid: 0 (the collector's) unless
 * @tid was noted parked. */
unsigned rcgc__gc_sweep_batch_of(const struct gc_sweep_owners *owners, uint32_t tid);

/* Step 8 over the @count held objects (G3), held[k] in batch batch_of[k]:
 * every clear hook, then @at_barrier (NULL: none) while no thread touches
 * a held object, then every held reference dropped; objects still
 * referenced after all clears are appended to @target first. World
 * running, gc_mutex held. Returns how many held objects were cleared. */
size_t rcgc__gc_sweep(rcgc_object **held, const uint8_t *batch_of, uint32_t count,
                      const struct gc_sweep_owners *owners, struct gc_table *target,
                      void (*at_barrier)(void *arg), void *arg);

/* check.c: G1 over every table, G3 over a collection's held array; fatal
 * with the object and the rule when one is broken. World stopped. Run
 * between a collection's steps when RCGC_CHECKS >= 3 (GC_CHECK_STEP). */
void rcgc__gc_check_tables_stopped(const char *step);
void rcgc__gc_check_held_stopped(rcgc_object *const *held, uint32_t count, const char *step);

#if RCGC_CHECKS >= 3
#define GC_CHECK_STEP(held, held_count, step)                                                      \
    do {                                                                                           \
        rcgc__gc_check_tables_stopped(step);                                                       \
        rcgc__gc_check_held_stopped(held, held_count, step);                                       \
    } while (0)
#else
#define GC_CHECK_STEP(held, held_count, step) ((void)0)
#endif

#endif /* RCGC_GC_INTERNAL_H */
