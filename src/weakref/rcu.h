/* src/weakref/rcu.h - liburcu as rcgc uses it: the bulletproof flavour
 * (threads register on their first read-side section and unregister when
 * they exit, so rcgc needs no hook in thread attach), its lock-free hash
 * table, and retiring nodes after a grace period.
 *
 * ThreadSanitizer cannot see liburcu's ordering (a prebuilt library with
 * assembly atomics), so the edges rcgc relies on are marked here, once:
 *   - a writer publishes a node (rcgc__rcu_publish) before cds_lfht_add*;
 *     a reader that finds it marks rcgc__rcu_enter before reading it and
 *     rcgc__rcu_leave when done, before its read-side section ends;
 *   - retiring a node releases it, and its grace period ends with an
 *     acquire of the same address, so its reclaim is ordered after the
 *     retiring thread's writes and every reader's leave.
 * Outside TSan builds every mark compiles to nothing.
 */
#ifndef RCGC_WEAKREF_RCU_H
#define RCGC_WEAKREF_RCU_H

#include "base/base_internal.h"

#include <urcu-bp.h>
#include <urcu/rculfhash.h>

#if RCGC_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* A node to be reclaimed once no reader can still see it. */
struct rcgc_rcu_retired {
    struct rcu_head rcu;
    struct rcgc_rcu_retired *next_ready;
};

static inline void rcgc__rcu_publish(struct rcgc_rcu_retired *node) {
#if RCGC_TSAN
    __tsan_release(node);
#else
    (void)node;
#endif
}

static inline void rcgc__rcu_enter(struct rcgc_rcu_retired *node) {
#if RCGC_TSAN
    __tsan_acquire(node);
#else
    (void)node;
#endif
}

static inline void rcgc__rcu_leave(struct rcgc_rcu_retired *node) {
#if RCGC_TSAN
    __tsan_release(node);
#else
    (void)node;
#endif
}

/* A hash table that grows and shrinks with its contents. NULL when out of
 * memory. */
struct cds_lfht *rcgc__rcu_table_new(void);

/* After a grace period @node is handed back by rcgc__rcu_take_ready. */
void rcgc__rcu_retire(struct rcgc_rcu_retired *node);

/* Every node whose grace period has ended, linked by next_ready. */
struct rcgc_rcu_retired *rcgc__rcu_take_ready(void);

/* Wait until every node retired so far is ready (rcu_barrier). Not from a
 * read-side section. */
void rcgc__rcu_wait_retired(void);

#endif /* RCGC_WEAKREF_RCU_H */
