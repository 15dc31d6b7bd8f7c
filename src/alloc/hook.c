/* src/alloc/hook.c - the allocation hook (alloc_hook.h): installing and
 * removing it, and the calls into it from the slow paths.
 *
 * Shared: the installed hook (an atomic pointer) and the number of calls
 * into it running now, counted in stripes of a cache line each so that
 * threads calling the hook at once do not write one line (a thread keeps
 * to one stripe). A call counts itself in its stripe before it loads the
 * hook; removal clears the hook before it reads the stripes; both sides
 * seq_cst, so either the call sees no hook, or removal sees the call and
 * waits for it (Dekker).
 * Owned by one thread: its guard against reporting the hook's own
 * allocations, its stripe, and its sampling draws' random state.
 */
#include "alloc/alloc_hook.h"
#include "alloc/alloc_internal.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

const struct rcgc__alloc_hook *_Atomic rcgc__alloc_hook_installed;
_Atomic bool rcgc__alloc_hook_every;
_Atomic size_t rcgc__alloc_sample_mean;
_Atomic uint64_t rcgc__alloc_sample_generation;
static pthread_mutex_t set_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local bool inside_hook __attribute__((tls_model("initial-exec")));

#define CALL_STRIPES 16

static struct { _Alignas(64) _Atomic unsigned long running; } calls[CALL_STRIPES];
static _Atomic unsigned stripes_handed_out;
static _Thread_local unsigned my_stripe __attribute__((tls_model("initial-exec"))); /* + 1 */

static _Atomic unsigned long *my_calls(void) {
    if (RCGC_UNLIKELY(my_stripe == 0)) {
        unsigned taken = atomic_fetch_add_explicit(&stripes_handed_out, 1, memory_order_relaxed);
        my_stripe = taken % CALL_STRIPES + 1;
    }
    return &calls[my_stripe - 1].running;
}

static bool calls_running(void) {
    for (unsigned i = 0; i < CALL_STRIPES; i++)
        if (atomic_load_explicit(&calls[i].running, memory_order_seq_cst) != 0)
            return true;
    return false;
}

void rcgc__alloc_hook_set(const struct rcgc__alloc_hook *hook) {
    pthread_mutex_lock(&set_mutex);
    size_t mean = hook != NULL ? hook->sample_bytes : 0;
    bool every = hook != NULL && mean == 0;
    bool was_every = atomic_load_explicit(&rcgc__alloc_hook_every, memory_order_relaxed);
    if (mean != 0) /* before the mean: a thread that sees it draws anew */
        atomic_fetch_add_explicit(&rcgc__alloc_sample_generation, 1, memory_order_relaxed);
    atomic_store_explicit(&rcgc__alloc_hook_installed, hook, memory_order_seq_cst);
    atomic_store_explicit(&rcgc__alloc_hook_every, every, memory_order_relaxed);
    atomic_store_explicit(&rcgc__alloc_sample_mean, mean, memory_order_relaxed);
    if (every != was_every)
        rcgc__heap_divert_all(every);
    while (hook == NULL && calls_running())
        sched_yield();
    pthread_mutex_unlock(&set_mutex);
}

/* ---------------------------------------------------------------- Sampling */

static _Thread_local uint64_t sample_random __attribute__((tls_model("initial-exec")));

/* Bytes until this thread's next sample: an exponential draw of mean
 * @mean (inverse transform of a uniform in (0, 1]), at least 1. */
int64_t rcgc__alloc_sample_draw(size_t mean) {
    uint64_t x = sample_random;
    if (x == 0) { /* first draw on this thread: any distinct nonzero seed */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        x = ((uint64_t)(uintptr_t)&sample_random * UINT64_C(0x9E3779B97F4A7C15)) ^
            (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32);
        x |= 1;
    }
    x ^= x >> 12; /* xorshift64* */
    x ^= x << 25;
    x ^= x >> 27;
    sample_random = x;
    double uniform =
        ((double)((x * UINT64_C(0x2545F4914F6CDD1D)) >> 11) + 1.0) / 9007199254740992.0;
    double draw = -log(uniform) * (double)mean;
    return draw >= 4e18 ? INT64_C(4000000000000000000) : (int64_t)draw + 1;
}

/* The installed hook, counted as running until hook_leave; NULL (and not
 * counted) when there is none or the caller is the hook itself. */
static const struct rcgc__alloc_hook *hook_enter(void) {
    if (inside_hook)
        return NULL;
    _Atomic unsigned long *running = my_calls();
    atomic_fetch_add_explicit(running, 1, memory_order_seq_cst);
    const struct rcgc__alloc_hook *hook =
        atomic_load_explicit(&rcgc__alloc_hook_installed, memory_order_seq_cst);
    if (hook == NULL) {
        atomic_fetch_sub_explicit(running, 1, memory_order_release);
        return NULL;
    }
    inside_hook = true;
    return hook;
}

static void hook_leave(void) {
    inside_hook = false;
    atomic_fetch_sub_explicit(my_calls(), 1, memory_order_release);
}

void rcgc__alloc_hook_note_alloc(void *ptr, size_t size, const void *caller) {
    const struct rcgc__alloc_hook *hook = hook_enter();
    if (hook == NULL)
        return;
    if (hook->on_alloc != NULL)
        hook->on_alloc(ptr, size, caller, hook->arg);
    hook_leave();
}

void rcgc__alloc_hook_note_free(void *ptr) {
    const struct rcgc__alloc_hook *hook = hook_enter();
    if (hook == NULL)
        return;
    if (hook->on_free != NULL)
        hook->on_free(ptr, hook->arg);
    hook_leave();
}

void rcgc__alloc_hook_fork_prepare(void) { pthread_mutex_lock(&set_mutex); }

void rcgc__alloc_hook_fork_parent(void) { pthread_mutex_unlock(&set_mutex); }

void rcgc__alloc_hook_fork_child(void) {
    for (unsigned i = 0; i < CALL_STRIPES; i++)
        atomic_store_explicit(&calls[i].running, 0, memory_order_relaxed);
    if (inside_hook)
        atomic_store_explicit(my_calls(), 1, memory_order_relaxed);
    pthread_mutex_unlock(&set_mutex);
}
