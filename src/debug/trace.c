/* src/debug/trace.c - the allocation tracer (rcgc/debug.h, "Allocation
 * tracing"): started, it installs the allocator's hook (alloc_hook.h) and
 * records each traced block with its site until the block is freed.
 *
 * Where a block's record lives: in the block's tag, a word the allocator
 * keeps beside each pool block (alloc_hook.h, "Block tags"), so a hook call
 * takes no lock and touches a word next to its neighbours' (blocks made one
 * after another have their tags in one cache line). Huge blocks, and
 * blocks whose pool could not get tags (ENOMEM), go to the trace table.
 *
 * Sampling: with sample_bytes = N the allocator samples (alloc_hook.h,
 * "Sampling": a Poisson process over the bytes handed out, as jemalloc
 * and tcmalloc sample) and reports only the sampled allocations. A sampled
 * block of usable size u had chance p = 1 - exp(-u / N) of being sampled:
 * its request of s bytes stands for s / p bytes and 1 / p allocations,
 * which makes the estimates unbiased whatever the mix of sizes.
 *
 * Shared: the state below (start and stop serialized by control_mutex,
 * counters atomic), the block tags and the trace table, the sites
 * (trace_internal.h). Owned by one thread: the bytes it holds back from
 * traced_now ("Counting").
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

/* ------------------------------------------------------------ Estimates */

static struct trace estimate(uintptr_t block, uint32_t site, size_t size, size_t usable) {
    struct trace trace = {.block = block, .site = site, .size = size};
    size_t mean = active.sample_bytes;
    if (mean == 0) {
        trace.estimated_size = size;
        trace.estimated_count = 1;
    } else { /* the allocator sampled this one */
        double chance = -expm1(-(double)usable / (double)mean);
        trace.estimated_size = (size_t)((double)size / chance + 0.5);
        trace.estimated_count = (uint32_t)(1.0 / chance + 0.5);
    }
    return trace;
}

/* T3: a tag holds the site + 1 (so never 0) and the usable size's slack
 * over the request, which a pool or large block's 32 MiB bound keeps in
 * 32 bits; the estimates follow from them and the block's usable size. */
static uint64_t tag_encode(uint32_t site, size_t slack) {
    return (uint64_t)slack << 32 | ((uint64_t)site + 1);
}

static struct trace tag_decode(uintptr_t block, uint64_t tag, size_t usable) {
    return estimate(block, (uint32_t)tag - 1, usable - (size_t)(tag >> 32), usable);
}

/* ------------------------------------------------------------- Counting
 *
 * traced_now is the traced bytes but for what threads hold back: each
 * thread sums its own changes and adds them in once they pass
 * HELD_BACK_MAX either way (or it asks for the figures, or exits), so
 * threads allocating and freeing in a steady state do not all write one
 * cache line. traced_peak is the highest traced_now + own held bytes a
 * thread has seen: exact while one thread allocates, otherwise low by at
 * most the others' held-back bytes. A session number, changed at each
 * stop, tells a thread its held-back bytes are from an earlier trace. */

#define HELD_BACK_MAX ((int64_t)64 << 10)

static _Atomic int64_t traced_now, traced_peak;
static _Atomic uint64_t session = 1;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static _Thread_local struct {
    int64_t held;
    uint64_t session;
    bool exit_registered;
} mine __attribute__((tls_model("initial-exec")));

static void raise_peak(int64_t seen) {
    int64_t peak = atomic_load_explicit(&traced_peak, memory_order_relaxed);
    while (seen > peak &&
           !atomic_compare_exchange_weak_explicit(&traced_peak, &peak, seen, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

/* Add what this thread holds back to traced_now, if it belongs to the
 * trace running now. From a hook call, or under control_mutex: either way
 * no stop can reset the counters meanwhile. */
static void hand_over(void) {
    if (mine.held != 0 && mine.session == atomic_load_explicit(&session, memory_order_relaxed)) {
        int64_t total =
            atomic_fetch_add_explicit(&traced_now, mine.held, memory_order_relaxed) + mine.held;
        raise_peak(total);
    }
    mine.held = 0;
}

static void hand_over_at_exit(void *unused) {
    (void)unused;
    pthread_mutex_lock(&control_mutex);
    hand_over();
    pthread_mutex_unlock(&control_mutex);
}

static void make_exit_key(void) { (void)pthread_key_create(&exit_key, hand_over_at_exit); }

static void count_traced(int64_t change) {
    uint64_t now = atomic_load_explicit(&session, memory_order_relaxed);
    if (RCGC_UNLIKELY(mine.session != now)) {
        mine.session = now;
        mine.held = 0;
        if (!mine.exit_registered) {
            pthread_once(&exit_key_once, make_exit_key);
            mine.exit_registered = pthread_setspecific(exit_key, &mine) == 0;
        }
    }
    mine.held += change;
    if (mine.held > HELD_BACK_MAX || mine.held < -HELD_BACK_MAX)
        hand_over();
    else if (change > 0)
        raise_peak(atomic_load_explicit(&traced_now, memory_order_relaxed) + mine.held);
}

/* ---------------------------------------------------------------- Hooks */

static void on_alloc(void *ptr, size_t size, const void *caller, void *arg) {
    (void)arg;
    struct trace_site site;
    rcgc__trace_site_capture(&site, active.frames, caller);
    uint32_t index = rcgc__trace_site_intern(&site);
    if (index == UINT32_MAX)
        return; /* out of memory: the block goes untraced */
    size_t usable;
    _Atomic uint64_t *tag = rcgc__alloc_hook_tag(ptr, true, &usable);
    struct trace trace = estimate((uintptr_t)ptr, index, size, usable);
    if (tag != NULL)
        atomic_store_explicit(tag, tag_encode(index, usable - size), memory_order_relaxed);
    else if (!rcgc__trace_table_add(&trace))
        return;
    count_traced((int64_t)trace.estimated_size);
}

static void on_free(void *ptr, void *arg) {
    (void)arg;
    size_t usable;
    _Atomic uint64_t *tag = rcgc__alloc_hook_tag(ptr, false, &usable);
    uint64_t word = tag != NULL ? atomic_load_explicit(tag, memory_order_relaxed) : 0;
    struct trace trace;
    if (word != 0) {
        atomic_store_explicit(tag, 0, memory_order_relaxed);
        trace = tag_decode((uintptr_t)ptr, word, usable);
    } else if (!rcgc__trace_table_remove((uintptr_t)ptr, &trace)) {
        return; /* not traced: from before the start, or not sampled */
    }
    count_traced(-(int64_t)trace.estimated_size);
}

static struct rcgc__alloc_hook tracer_hook = {.on_alloc = on_alloc, .on_free = on_free};

/* ------------------------------------------------------- Walking traces */

struct tag_walk {
    void (*visit)(const struct trace *trace, void *arg);
    void *arg;
};

static void visit_tag(const void *block, size_t block_size, uint64_t tag, void *arg) {
    const struct tag_walk *walk = arg;
    struct trace trace = tag_decode((uintptr_t)block, tag, block_size);
    walk->visit(&trace, walk->arg);
}

void rcgc__trace_foreach(void (*visit)(const struct trace *trace, void *arg), void *arg) {
    struct tag_walk walk = {visit, arg};
    rcgc__alloc_hook_tags_foreach(visit_tag, &walk);
    rcgc__trace_table_foreach(visit, arg);
}

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
        rcgc__alloc_hook_tags_drop();
        rcgc__trace_table_reset();
        rcgc__trace_sites_reset();
        atomic_fetch_add_explicit(&session, 1, memory_order_relaxed);
        atomic_store_explicit(&traced_now, 0, memory_order_relaxed);
        atomic_store_explicit(&traced_peak, 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&control_mutex);
}

bool rcgc_trace_is_tracing(void) { return atomic_load_explicit(&tracing, memory_order_relaxed); }

void rcgc_trace_get_memory(size_t *current, size_t *peak) {
    pthread_mutex_lock(&control_mutex);
    hand_over();
    int64_t now = atomic_load_explicit(&traced_now, memory_order_relaxed);
    int64_t highest = atomic_load_explicit(&traced_peak, memory_order_relaxed);
    pthread_mutex_unlock(&control_mutex);
    /* Others' held-back frees may put the sum below zero for a while. */
    now = now < 0 ? 0 : now;
    if (current != NULL)
        *current = (size_t)now;
    if (peak != NULL)
        *peak = (size_t)(highest > now ? highest : now);
}

void rcgc_trace_reset_peak(void) {
    pthread_mutex_lock(&control_mutex);
    hand_over();
    atomic_store_explicit(&traced_peak, atomic_load_explicit(&traced_now, memory_order_relaxed),
                          memory_order_relaxed);
    pthread_mutex_unlock(&control_mutex);
}
