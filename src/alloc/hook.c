/* src/alloc/hook.c - the allocation hook (alloc_hook.h): installing and
 * removing it, and the calls into it from the slow paths.
 *
 * Shared: the installed hook (an atomic pointer) and the number of calls
 * into it running now (an atomic count). A call counts itself before it
 * loads the hook; removal clears the hook before it reads the count; both
 * sides seq_cst, so either the call sees no hook, or removal sees the call
 * and waits for it (Dekker).
 * Owned by one thread: its guard against reporting the hook's own
 * allocations.
 */
#include "alloc/alloc_hook.h"
#include "alloc/alloc_internal.h"

#include <pthread.h>
#include <sched.h>

const struct rcgc__alloc_hook *_Atomic rcgc__alloc_hook_installed;
static _Atomic unsigned long calls_running;
static pthread_mutex_t set_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local bool inside_hook;

void rcgc__alloc_hook_set(const struct rcgc__alloc_hook *hook) {
    pthread_mutex_lock(&set_mutex);
    atomic_store_explicit(&rcgc__alloc_hook_installed, hook, memory_order_seq_cst);
    rcgc__heap_divert_all(hook != NULL);
    while (hook == NULL && atomic_load_explicit(&calls_running, memory_order_seq_cst) != 0)
        sched_yield();
    pthread_mutex_unlock(&set_mutex);
}

/* The installed hook, counted as running until hook_leave; NULL (and not
 * counted) when there is none or the caller is the hook itself. */
static const struct rcgc__alloc_hook *hook_enter(void) {
    if (inside_hook)
        return NULL;
    atomic_fetch_add_explicit(&calls_running, 1, memory_order_seq_cst);
    const struct rcgc__alloc_hook *hook =
        atomic_load_explicit(&rcgc__alloc_hook_installed, memory_order_seq_cst);
    if (hook == NULL) {
        atomic_fetch_sub_explicit(&calls_running, 1, memory_order_release);
        return NULL;
    }
    inside_hook = true;
    return hook;
}

static void hook_leave(void) {
    inside_hook = false;
    atomic_fetch_sub_explicit(&calls_running, 1, memory_order_release);
}

void rcgc__alloc_hook_note_alloc(void *ptr, size_t size) {
    const struct rcgc__alloc_hook *hook = hook_enter();
    if (hook == NULL)
        return;
    if (hook->on_alloc != NULL)
        hook->on_alloc(ptr, size, hook->arg);
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
    atomic_store_explicit(&calls_running, inside_hook ? 1 : 0, memory_order_relaxed);
    pthread_mutex_unlock(&set_mutex);
}
