/* src/gc/state.c - the collector's settings and bookkeeping: thresholds,
 * counters, enable/disable, debug flags and stream, the garbage list,
 * callbacks, statistics, and the environment (RCGC_THRESHOLDS, RCGC_DEBUG,
 * RCGC_GC_OLD).
 *
 * Shared: the statistics, the garbage list, the callbacks and the debug
 * stream behind the state lock (a leaf: never held while a hook runs or a
 * stop is awaited); the counters, thresholds and flags, which the
 * allocation path reads, are C11 atomics; long_lived_* behind gc_mutex.
 */
#include "gc/gc_internal.h"

#include <rcgc/raw.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gc_state rcgc__gc;

static pthread_mutex_t state_mutex = PTHREAD_MUTEX_INITIALIZER;
void rcgc__gc_state_lock(void) {
    rcgc__gc_fork_handlers_register();
    pthread_mutex_lock(&state_mutex);
}
void rcgc__gc_state_unlock(void) { pthread_mutex_unlock(&state_mutex); }
void rcgc__gc_state_fork_lock(void) { pthread_mutex_lock(&state_mutex); }

/* ------------------------------------------------------------ Environment */

static void parse_thresholds(const char *text) {
    unsigned long value[RCGC_GENERATIONS];
    const char *p = text;
    for (int i = 0; i < RCGC_GENERATIONS; i++) {
        char *end = NULL;
        errno = 0;
        value[i] = strtoul(p, &end, 10);
        if (errno != 0 || end == p || value[i] > UINT32_MAX ||
            *end != (i + 1 < RCGC_GENERATIONS ? ',' : '\0')) {
            fprintf(stderr,
                    "rcgc: ignoring RCGC_THRESHOLDS=%s: expected three integers "
                    "t0,t1,t2; using 700,10,10\n",
                    text);
            return;
        }
        p = end + 1;
    }
    rcgc_set_threshold((unsigned)value[0], (unsigned)value[1], (unsigned)value[2]);
}

static const struct {
    const char *name;
    unsigned flags;
} debug_names[] = {
    {"stats", RCGC_DEBUG_STATS},
    {"collectable", RCGC_DEBUG_COLLECTABLE},
    {"uncollectable", RCGC_DEBUG_UNCOLLECTABLE},
    {"saveall", RCGC_DEBUG_SAVEALL},
    {"leak", RCGC_DEBUG_LEAK},
};

static void parse_debug(const char *text) {
    unsigned flags = 0;
    const char *p = text;
    while (*p != '\0') {
        size_t length = strcspn(p, ",");
        bool known = false;
        for (size_t i = 0; i < sizeof debug_names / sizeof debug_names[0]; i++)
            if (strlen(debug_names[i].name) == length &&
                strncmp(debug_names[i].name, p, length) == 0) {
                flags |= debug_names[i].flags;
                known = true;
            }
        if (!known) {
            fprintf(stderr,
                    "rcgc: ignoring RCGC_DEBUG=%s: expected a comma-separated list of "
                    "stats, collectable, uncollectable, saveall, leak\n",
                    text);
            return;
        }
        p += length + (p[length] == ',');
    }
    rcgc_set_debug(flags);
}

__attribute__((constructor)) static void read_gc_environment(void) {
    const char *thresholds = getenv("RCGC_THRESHOLDS");
    if (thresholds != NULL && *thresholds != '\0')
        parse_thresholds(thresholds);
    const char *debug = getenv("RCGC_DEBUG");
    if (debug != NULL && *debug != '\0')
        parse_debug(debug);
    rcgc__gc_old_settings_from_environment(getenv("RCGC_GC_OLD"));
}

/* --------------------------------------------------------------- Settings */

/* The young limit follows: 0 while disabled (gc_object.h). */
void rcgc_enable(void) {
    atomic_store_explicit(&rcgc__gc_enabled, true, memory_order_seq_cst);
    rcgc__gc_young_limit_update();
}

void rcgc_disable(void) {
    atomic_store_explicit(&rcgc__gc_enabled, false, memory_order_seq_cst);
    rcgc__gc_young_limit_update();
}

bool rcgc_is_enabled(void) { return atomic_load_explicit(&rcgc__gc_enabled, memory_order_relaxed); }

void rcgc_set_threshold(unsigned threshold0, unsigned threshold1, unsigned threshold2) {
    atomic_store_explicit(&rcgc__gc_threshold[0], threshold0, memory_order_relaxed);
    atomic_store_explicit(&rcgc__gc_threshold[1], threshold1, memory_order_relaxed);
    atomic_store_explicit(&rcgc__gc_threshold[2], threshold2, memory_order_relaxed);
    rcgc__gc_young_limit_update();
}

void rcgc_get_threshold(unsigned out[RCGC_GENERATIONS]) {
    for (int i = 0; i < RCGC_GENERATIONS; i++)
        out[i] = atomic_load_explicit(&rcgc__gc_threshold[i], memory_order_relaxed);
}

static void add_young_delta(struct gc_table *table, void *arg) {
    *(int64_t *)arg += atomic_load_explicit(&table->count_delta, memory_order_relaxed);
}

void rcgc_get_count(unsigned out[RCGC_GENERATIONS]) {
    int64_t young = atomic_load_explicit(&rcgc__gc_young_count, memory_order_relaxed);
    rcgc__gc_for_each_young(add_young_delta, &young);
    out[0] = young < 0 ? 0 : young > UINT32_MAX ? UINT32_MAX : (unsigned)young;
    for (int i = 1; i < RCGC_GENERATIONS; i++)
        out[i] = (unsigned)atomic_load_explicit(&rcgc__gc.count[i], memory_order_relaxed);
}

int rcgc__gc_generation_due(void) {
    rcgc_assert(rcgc__gc_lock_held());
    unsigned threshold1 = atomic_load_explicit(&rcgc__gc_threshold[1], memory_order_relaxed);
    unsigned threshold2 = atomic_load_explicit(&rcgc__gc_threshold[2], memory_order_relaxed);
    /* Seed 000: the collection whose counter *reaches* its threshold when
     * this one is counted, (699, 9, 0) + 1 -> collect(1). */
    if (atomic_load_explicit(&rcgc__gc.count[1], memory_order_relaxed) + 1 < threshold1)
        return 0;
    if (atomic_load_explicit(&rcgc__gc.count[2], memory_order_relaxed) + 1 < threshold2)
        return 1;
    /* CPython: a full collection waits until what was promoted since the
     * last one is a quarter of what that one left, so building a large
     * structure is not quadratic. Only the promoted objects still alive
     * count: temporary structures that were promoted and then died by
     * count (GCBench's trees) hold no garbage a full collection could
     * find. */
    if (rcgc__gc_pending_alive() < rcgc__gc.long_lived_total / 4)
        return 1;
    return 2;
}

/* ------------------------------------------------------------------ Debug */

void rcgc_set_debug(unsigned flags) {
    atomic_store_explicit(&rcgc__gc.debug, flags, memory_order_relaxed);
}

unsigned rcgc_get_debug(void) {
    return atomic_load_explicit(&rcgc__gc.debug, memory_order_relaxed);
}

void rcgc_set_debug_stream(FILE *stream) {
    rcgc__gc_state_lock();
    rcgc__gc.debug_stream = stream;
    rcgc__gc_state_unlock();
}

FILE *rcgc__gc_debug_stream(void) {
    rcgc__gc_state_lock();
    FILE *stream = rcgc__gc.debug_stream != NULL ? rcgc__gc.debug_stream : stderr;
    rcgc__gc_state_unlock();
    return stream;
}

/* ----------------------------------------------------------- Garbage list */

bool rcgc__gc_garbage_append(rcgc_object *obj) {
    struct gc_state *gc = &rcgc__gc;
    bool appended = true;
    rcgc__gc_state_lock();
    if (gc->garbage_length == gc->garbage_capacity) {
        size_t capacity = gc->garbage_capacity ? gc->garbage_capacity * 2 : 16;
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of object pointers
        rcgc_object **grown = rcgc_raw_realloc(gc->garbage, capacity * sizeof(rcgc_object *));
        if (grown != NULL) {
            gc->garbage = grown;
            gc->garbage_capacity = capacity;
        }
        appended = grown != NULL;
    }
    if (appended)
        gc->garbage[gc->garbage_length++] = obj;
    rcgc__gc_state_unlock();
    return appended;
}

size_t rcgc_garbage_count(void) {
    rcgc__gc_state_lock();
    size_t count = rcgc__gc.garbage_length;
    rcgc__gc_state_unlock();
    return count;
}

rcgc_object *rcgc_garbage_get(size_t index) {
    rcgc__gc_state_lock();
    rcgc_object *obj = index < rcgc__gc.garbage_length ? rcgc__gc.garbage[index] : NULL;
    if (obj != NULL)
        rcgc_incref(obj);
    rcgc__gc_state_unlock();
    if (obj == NULL)
        errno = ERANGE;
    return obj;
}

size_t rcgc_garbage_clear(void) {
    rcgc__gc_state_lock();
    rcgc_object **list = rcgc__gc.garbage;
    size_t length = rcgc__gc.garbage_length;
    rcgc__gc.garbage = NULL;
    rcgc__gc.garbage_length = rcgc__gc.garbage_capacity = 0;
    rcgc__gc_state_unlock();
    /* The drops run hooks, which may use the collector's API. */
    for (size_t i = 0; i < length; i++)
        rcgc_decref(list[i]);
    rcgc_raw_free(list);
    return length;
}

/* -------------------------------------------------------------- Callbacks */

struct gc_callback {
    rcgc_gc_callback_fn fn;
    void *arg;
    bool increments; /* also called in the RCGC_GC_INCREMENT phase */
};

static struct gc_callback *callbacks; /* state lock */
static size_t callback_count, callback_capacity;

static int add_callback(rcgc_gc_callback_fn callback, void *arg, bool increments) {
    rcgc__gc_state_lock();
    if (callback_count == callback_capacity) {
        size_t capacity = callback_capacity ? callback_capacity * 2 : 4;
        struct gc_callback *grown = rcgc_raw_realloc(callbacks, capacity * sizeof *grown);
        if (grown == NULL) {
            rcgc__gc_state_unlock();
            errno = ENOMEM;
            return -1;
        }
        callbacks = grown;
        callback_capacity = capacity;
    }
    callbacks[callback_count++] = (struct gc_callback){callback, arg, increments};
    rcgc__gc_state_unlock();
    return 0;
}

int rcgc_callback_add(rcgc_gc_callback_fn callback, void *arg) {
    return add_callback(callback, arg, false);
}

int rcgc_callback_add_increments(rcgc_gc_callback_fn callback, void *arg) {
    return add_callback(callback, arg, true);
}

int rcgc_callback_remove(rcgc_gc_callback_fn callback, void *arg) {
    rcgc__gc_state_lock();
    for (size_t i = 0; i < callback_count; i++)
        if (callbacks[i].fn == callback && callbacks[i].arg == arg) {
            memmove(&callbacks[i], &callbacks[i + 1], (callback_count - i - 1) * sizeof *callbacks);
            callback_count--;
            rcgc__gc_state_unlock();
            return 0;
        }
    rcgc__gc_state_unlock();
    errno = ENOENT;
    return -1;
}

void rcgc__gc_run_callbacks(enum rcgc_gc_phase phase, const rcgc_gc_info *info) {
    rcgc_assert(rcgc__gc_lock_held());
    /* A copy, made under the lock and run outside it: a callback may add
     * or remove callbacks, or ask for statistics. */
    struct gc_callback stack_copy[8];
    rcgc__gc_state_lock();
    size_t count = callback_count;
    struct gc_callback *copy =
        count <= 8 ? stack_copy : rcgc_raw_malloc(count * sizeof(struct gc_callback));
    if (copy != NULL && count > 0)
        memcpy(copy, callbacks, count * sizeof *copy);
    rcgc__gc_state_unlock();
    if (copy == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        if (phase != RCGC_GC_INCREMENT || copy[i].increments)
            copy[i].fn(phase, info, copy[i].arg);
    if (copy != stack_copy)
        rcgc_raw_free(copy);
}

/* ------------------------------------------------------------- Statistics */

void rcgc_get_stats(rcgc_gc_stats out[RCGC_GENERATIONS]) {
    rcgc__gc_state_lock();
    memcpy(out, rcgc__gc.stats, sizeof rcgc__gc.stats);
    rcgc__gc_state_unlock();
}

void rcgc_print_gc_stats(FILE *stream) {
    unsigned count[RCGC_GENERATIONS], threshold[RCGC_GENERATIONS];
    rcgc_gc_stats stats[RCGC_GENERATIONS];
    rcgc_get_count(count);
    rcgc_get_threshold(threshold);
    rcgc_get_stats(stats);
    fprintf(stream, "rcgc collector: %s, debug flags %u\n",
            rcgc_is_enabled() ? "enabled" : "disabled", rcgc_get_debug());
    fprintf(stream, "generation  count  threshold  collections   collected  uncollectable"
                    "  total pause ms  max pause us\n");
    for (int i = 0; i < RCGC_GENERATIONS; i++)
        fprintf(stream, "%10d %6u %10u %12llu %11llu %14llu %15.3f %13.1f\n", i, count[i],
                threshold[i], (unsigned long long)stats[i].collections,
                (unsigned long long)stats[i].collected, (unsigned long long)stats[i].uncollectable,
                (double)stats[i].total_pause_ns / 1e6, (double)stats[i].max_pause_ns / 1e3);
    fprintf(stream, "garbage list: %zu objects\n", rcgc_garbage_count());
}
