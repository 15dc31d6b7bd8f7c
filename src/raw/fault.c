/* src/raw/fault.c - failure injection for raw allocations and mappings.
 *
 * Shared with every thread: the setting (sites, skip, count) and the count
 * of eligible calls seen, all C11 atomics. Which thread's call gets the Nth
 * slot is decided by one fetch_add, so "the Nth eligible call fails" holds
 * exactly even when several threads allocate at once.
 */
#include "raw/raw_internal.h"

#include <stdatomic.h>

static _Atomic unsigned armed_sites; /* 0: injection off */
static _Atomic uint64_t skip_calls;
static _Atomic uint64_t fail_calls;
static _Atomic uint64_t eligible_seen;

void rcgc_fault_inject(unsigned sites, uint64_t skip, uint64_t count) {
    /* Disarm first so no caller pairs the old sites with the new counts. */
    atomic_store_explicit(&armed_sites, 0, memory_order_relaxed);
    atomic_store_explicit(&skip_calls, skip, memory_order_relaxed);
    atomic_store_explicit(&fail_calls, count, memory_order_relaxed);
    atomic_store_explicit(&eligible_seen, 0, memory_order_relaxed);
    /* Release: pairs with the acquire load in rcgc__fault_should_fail(), so a
     * caller that sees the new sites also sees the new skip and count. */
    atomic_store_explicit(&armed_sites, sites & RCGC_FAULT_ALL, memory_order_release);
}

void rcgc_fault_clear(void) { atomic_store_explicit(&armed_sites, 0, memory_order_relaxed); }

bool rcgc__fault_should_fail(unsigned site) {
    unsigned sites = atomic_load_explicit(&armed_sites, memory_order_acquire);
    if (RCGC_LIKELY((sites & site) == 0))
        return false;
    uint64_t nth = atomic_fetch_add_explicit(&eligible_seen, 1, memory_order_relaxed);
    uint64_t skip = atomic_load_explicit(&skip_calls, memory_order_relaxed);
    uint64_t count = atomic_load_explicit(&fail_calls, memory_order_relaxed);
    if (nth < skip || nth - skip >= count)
        return false;
    rcgc__raw_count(RAW_COUNTER_faults_injected, 1);
    return true;
}
