/* src/debug/trace.c - the allocation tracer (rcgc/debug.h, "Allocation
 * tracing"): started, it installs the allocator's hook (alloc_hook.h) and
 * records each traced block with its site until the block is freed.
 *
 * Sampling: with sample_bytes = N the allocator samples (alloc_hook.h,
 * "Sampling": a Poisson process over the bytes handed out, as jemalloc
 * and tcmalloc sample) and reports only the sampled allocations. A sampled
 * block of usable size u had chance p = 1 - exp(-u / N) of being sampled:
 * its request of s bytes stands for s / p bytes and 1 / p allocations,
 * which makes the estimates unbiased whatever the mix of sizes.
 *
 * Shared: the state below (atomics; start and stop serialized by
 * control_mutex), the trace table and the sites (trace_internal.h).
 */
#include "alloc/alloc_hook.h"
#include "debug/trace_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

static pthread_mutex_t control_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool tracing;
static rcgc_trace_options active; /* written under control_mutex before the hook */
static _Atomic size_t traced_now, traced_peak;

/* ---------------------------------------------------------------- Hooks */

static void count_traced(ptrdiff_t change) {
    size_t now = atomic_fetch_add_explicit(&traced_now, (size_t)change, memory_order_relaxed) +
                 (size_t)change;
    size_t peak = atomic_load_explicit(&traced_peak, memory_order_relaxed);
    while (now > peak &&
           !atomic_compare_exchange_weak_explicit(&traced_peak, &peak, now, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static void on_alloc(void *ptr, size_t size, const void *caller, void *arg) {
    (void)arg;
    size_t mean = active.sample_bytes;
    struct trace trace = {.block = (uintptr_t)ptr, .size = size};
    if (mean == 0) {
        trace.estimated_size = size;
        trace.estimated_count = 1;
    } else { /* the allocator sampled this one */
        double chance = -expm1(-(double)rcgc_usable_size(ptr) / (double)mean);
        trace.estimated_size = (size_t)((double)size / chance + 0.5);
        trace.estimated_count = (uint32_t)(1.0 / chance + 0.5);
    }
    struct trace_site site;
    rcgc__trace_site_capture(&site, active.frames, caller);
    trace.site = rcgc__trace_site_intern(&site);
    if (trace.site == UINT32_MAX || !rcgc__trace_table_add(&trace))
        return; /* out of memory: the block goes untraced */
    count_traced((ptrdiff_t)trace.estimated_size);
}

static void on_free(void *ptr, void *arg) {
    (void)arg;
    struct trace trace;
    if (rcgc__trace_table_remove((uintptr_t)ptr, &trace))
        count_traced(-(ptrdiff_t)trace.estimated_size);
}

static struct rcgc__alloc_hook tracer_hook = {.on_alloc = on_alloc, .on_free = on_free};

/* ----------------------------------------------------------- Public API */

int rcgc_trace_start(const rcgc_trace_options *options) {
    rcgc_trace_options wanted = {.frames = 1};
    if (options != NULL)
        wanted = *options;
    if (wanted.frames > RCGC_TRACE_FRAMES_MAX) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&control_mutex);
    int status = 0;
    if (atomic_load_explicit(&tracing, memory_order_relaxed)) {
        status = -1;
        errno = EBUSY;
    } else {
        active = wanted;
        tracer_hook.sample_bytes = wanted.sample_bytes;
        atomic_store_explicit(&tracing, true, memory_order_relaxed);
        rcgc__alloc_hook_set(&tracer_hook);
    }
    pthread_mutex_unlock(&control_mutex);
    return status;
}

void rcgc_trace_stop(void) {
    pthread_mutex_lock(&control_mutex);
    if (atomic_load_explicit(&tracing, memory_order_relaxed)) {
        rcgc__alloc_hook_set(NULL); /* returns once no hook call runs */
        atomic_store_explicit(&tracing, false, memory_order_relaxed);
        rcgc__trace_table_reset();
        rcgc__trace_sites_reset();
        atomic_store_explicit(&traced_now, 0, memory_order_relaxed);
        atomic_store_explicit(&traced_peak, 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&control_mutex);
}

bool rcgc_trace_is_tracing(void) { return atomic_load_explicit(&tracing, memory_order_relaxed); }

void rcgc_trace_get_memory(size_t *current, size_t *peak) {
    size_t now = atomic_load_explicit(&traced_now, memory_order_relaxed);
    size_t highest = atomic_load_explicit(&traced_peak, memory_order_relaxed);
    if (current != NULL)
        *current = now;
    if (peak != NULL)
        *peak = highest > now ? highest : now;
}

void rcgc_trace_reset_peak(void) {
    atomic_store_explicit(&traced_peak, atomic_load_explicit(&traced_now, memory_order_relaxed),
                          memory_order_relaxed);
}
