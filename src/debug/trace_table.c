/* src/debug/trace_table.c - the traced blocks that have no block tag, by
 * address (trace_internal.h): huge blocks, and blocks whose pool could not
 * get tags for want of memory. Few, so a free that finds the table empty
 * (`held`, an atomic count) takes no lock.
 *
 * Shared by every allocating and freeing thread: 64 stripes by address,
 * each an open-addressing table (linear probing, deletion by shifting the
 * following entries back, so no tombstones pile up) behind its own mutex.
 */
#include "debug/trace_internal.h"

#include <rcgc/raw.h>

#include <pthread.h>
#include <stdatomic.h>

#define STRIPES 64

struct stripe {
    pthread_mutex_t mutex;
    struct trace *slots;
    size_t mask; /* slots - 1; 0 while empty */
    size_t used;
} __attribute__((aligned(64)));

static struct stripe stripes[STRIPES] = {
    [0 ... STRIPES - 1] = {.mutex = PTHREAD_MUTEX_INITIALIZER}};
static _Atomic size_t held; /* traces in all stripes */

static uint64_t mix(uintptr_t block) {
    uint64_t h = (uint64_t)(block >> 4) * UINT64_C(0x9E3779B97F4A7C15);
    return h ^ (h >> 32);
}

static struct stripe *stripe_of(uintptr_t block) { return &stripes[mix(block) % STRIPES]; }

static size_t home_of(const struct stripe *stripe, uintptr_t block) {
    return (size_t)(mix(block) >> 6) & stripe->mask;
}

static void insert_locked(struct stripe *stripe, const struct trace *trace) {
    size_t at = home_of(stripe, trace->block);
    while (stripe->slots[at].block != 0)
        at = (at + 1) & stripe->mask;
    stripe->slots[at] = *trace;
    stripe->used++;
}

/* Double the slots (at least 16: the table holds few blocks), re-inserting;
 * false on ENOMEM. */
static bool grow_locked(struct stripe *stripe) {
    size_t capacity = stripe->mask == 0 ? 16 : (stripe->mask + 1) * 2;
    struct trace *slots = rcgc_raw_calloc(capacity, sizeof *slots);
    if (slots == NULL)
        return false;
    struct stripe grown = {.slots = slots, .mask = capacity - 1};
    for (size_t i = 0; stripe->mask != 0 && i <= stripe->mask; i++)
        if (stripe->slots[i].block != 0)
            insert_locked(&grown, &stripe->slots[i]);
    rcgc_raw_free(stripe->slots);
    stripe->slots = grown.slots;
    stripe->mask = grown.mask;
    return true;
}

bool rcgc__trace_table_add(const struct trace *trace) {
    struct stripe *stripe = stripe_of(trace->block);
    pthread_mutex_lock(&stripe->mutex);
    /* At most half full: the runs a removal shifts back stay short. */
    bool room = (stripe->used + 1) * 2 <= stripe->mask + 1 || grow_locked(stripe);
    if (room) {
        insert_locked(stripe, trace);
        atomic_fetch_add_explicit(&held, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&stripe->mutex);
    return room;
}

bool rcgc__trace_table_remove(uintptr_t block, struct trace *out) {
    /* A block added before this free was handed over to the freeing
     * thread, and its count with it. */
    if (atomic_load_explicit(&held, memory_order_relaxed) == 0)
        return false;
    struct stripe *stripe = stripe_of(block);
    pthread_mutex_lock(&stripe->mutex);
    bool found = false;
    if (stripe->mask != 0) {
        size_t at = home_of(stripe, block);
        while (stripe->slots[at].block != 0 && stripe->slots[at].block != block)
            at = (at + 1) & stripe->mask;
        found = stripe->slots[at].block == block;
        if (found) {
            *out = stripe->slots[at];
            /* Shift back each later entry of the run that may sit at the
             * hole: one whose home is not cyclically in (hole, entry]. */
            size_t hole = at;
            for (size_t next = (at + 1) & stripe->mask; stripe->slots[next].block != 0;
                 next = (next + 1) & stripe->mask) {
                size_t home = home_of(stripe, stripe->slots[next].block);
                bool stays =
                    hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
                if (!stays) {
                    stripe->slots[hole] = stripe->slots[next];
                    hole = next;
                }
            }
            stripe->slots[hole].block = 0;
            stripe->used--;
            atomic_fetch_sub_explicit(&held, 1, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&stripe->mutex);
    return found;
}

void rcgc__trace_table_foreach(void (*visit)(const struct trace *trace, void *arg), void *arg) {
    for (unsigned s = 0; s < STRIPES; s++) {
        struct stripe *stripe = &stripes[s];
        pthread_mutex_lock(&stripe->mutex);
        for (size_t i = 0; stripe->mask != 0 && i <= stripe->mask; i++)
            if (stripe->slots[i].block != 0)
                visit(&stripe->slots[i], arg);
        pthread_mutex_unlock(&stripe->mutex);
    }
}

void rcgc__trace_table_reset(void) {
    for (unsigned s = 0; s < STRIPES; s++) {
        struct stripe *stripe = &stripes[s];
        pthread_mutex_lock(&stripe->mutex);
        rcgc_raw_free(stripe->slots);
        stripe->slots = NULL;
        stripe->mask = stripe->used = 0;
        pthread_mutex_unlock(&stripe->mutex);
    }
    atomic_store_explicit(&held, 0, memory_order_relaxed);
}
