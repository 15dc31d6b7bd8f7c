/* src/weakref/rcu.c - retiring nodes through liburcu's call_rcu.
 *
 * call_rcu runs its function on liburcu's own thread, which is not
 * attached to rcgc and so must not touch objects: it only moves the node
 * to the ready list (a lock-free stack, C11 atomics), and attached threads
 * reclaim what is ready when they next write to a weak map.
 */
#include "weakref/rcu.h"

#include "object/thread_internal.h"

#include <stdatomic.h>

static struct rcgc_rcu_retired *_Atomic ready;

struct cds_lfht *rcgc__rcu_table_new(void) {
    return cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
}

static void grace_period_over(struct rcu_head *head) {
    struct rcgc_rcu_retired *node = (struct rcgc_rcu_retired *)head;
#if RCGC_TSAN
    __tsan_acquire(node); /* the retirer's release and every reader's leave */
#endif
    struct rcgc_rcu_retired *top = atomic_load_explicit(&ready, memory_order_relaxed);
    do {
        node->next_ready = top;
    } while (!atomic_compare_exchange_weak_explicit(&ready, &top, node, memory_order_release,
                                                    memory_order_relaxed));
}

void rcgc__rcu_retire(struct rcgc_rcu_retired *node) {
#if RCGC_TSAN
    __tsan_release(node); /* the retiring thread's writes, for the reclaim */
#endif
    call_rcu(&node->rcu, grace_period_over);
}

struct rcgc_rcu_retired *rcgc__rcu_take_ready(void) {
    if (atomic_load_explicit(&ready, memory_order_relaxed) == NULL)
        return NULL;
    return atomic_exchange_explicit(&ready, NULL, memory_order_acquire);
}

void rcgc__rcu_wait_retired(void) {
    /* As a blocked thread: the wait may be long, and a collector stopping
     * the world meanwhile must not wait for it (nothing here touches an
     * object). */
    bool entered = rcgc__blocking_enter();
    rcu_barrier();
    rcgc__blocking_leave(entered);
}
