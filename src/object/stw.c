/* src/object/stw.c - stopping the world: safepoints, blocking regions, and
 * the stopper's side of the protocol.
 *
 * Shared: rcgc__stop_requested (seq_cst writes and reads on the paths that
 * race; a relaxed poll on the safepoint fast path), each record's state,
 * stw_mutex (one stopper at a time), and park_mutex with stopped_cond (a
 * thread parked or blocked, for the stopper) and restart_cond (the world
 * restarted, for parked and suspended threads).
 *
 * Why the orderings: a thread entering a blocking region writes its state,
 * then reads the flag; a stopper writes the flag, then reads states. With
 * both sides seq_cst, at least one sees the other (Dekker): either the
 * stopper sees BLOCKED and suspends the thread, or the thread sees the stop
 * and wakes the stopper. The same pairing covers blocking_end's CAS back
 * to ATTACHED: either the stopper sees ATTACHED and waits for a park, or
 * the thread sees the flag and parks at once.
 */
#include "object/object_internal.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

_Atomic unsigned rcgc__stop_requested;

static pthread_mutex_t stw_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t park_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stopped_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t restart_cond = PTHREAD_COND_INITIALIZER;
static _Atomic unsigned long stops_done;
_Thread_local bool rcgc__world_stopped_here __attribute__((tls_model("initial-exec")));

static bool stop_requested(void) {
    return atomic_load_explicit(&rcgc__stop_requested, memory_order_seq_cst) != 0;
}

/* ---------------------------------------------------------------- Polling */

/* How long a parked thread polls for the restart, and a stopper for the
 * parks, before sleeping on a condition variable. A young collection
 * stops the world for tens of microseconds, about what one futex wake-up
 * and reschedule costs (several times more in a virtual machine):
 * sleeping at once would make every stop that much longer for every
 * thread that waits, and the waker pays a system call per sleeper. */
#define STW_POLL_NS 100000

/* Set by the stopper for the stop it raises: polling pays only while
 * every attached thread has a core of its own; otherwise a poller takes
 * the core the collector needs. */
static _Atomic bool stop_polls;

static long cores_available(void) {
    static _Atomic long cores;
    long n = atomic_load_explicit(&cores, memory_order_relaxed);
    if (n == 0) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                        : sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
            n = 1;
        atomic_store_explicit(&cores, n, memory_order_relaxed);
    }
    return n;
}

/* Poll @done(@arg) for up to STW_POLL_NS; true when it came true. */
static bool poll_until(bool (*done)(const void *arg), const void *arg) {
    uint64_t start = rcgc__now_ns();
    for (unsigned i = 1; !done(arg); i++) {
        rcgc__cpu_relax();
        if (i % 64 == 0 && rcgc__now_ns() - start > STW_POLL_NS)
            return false;
    }
    return true;
}

static bool world_restarted(const void *arg) {
    (void)arg;
    return !stop_requested();
}

/* ---------------------------------------------------------- Mutator side */

/* Park the calling (attached) thread until the world restarts. */
RCGC_NOINLINE static void park_slow(struct thread_record *record) {
    pthread_mutex_lock(&park_mutex);
    int expected = THREAD_ATTACHED;
    /* Release: the stopper, which reads the state under park_mutex, sees
     * everything this thread wrote before parking. */
    if (atomic_compare_exchange_strong_explicit(&record->state, &expected, THREAD_PARKED,
                                                memory_order_seq_cst, memory_order_relaxed)) {
        pthread_cond_broadcast(&stopped_cond);
        /* Still PARKED while it polls: if the world restarts and stops
         * again meanwhile, this thread is already stopped for the next. */
        if (atomic_load_explicit(&stop_polls, memory_order_relaxed)) {
            pthread_mutex_unlock(&park_mutex);
            (void)poll_until(world_restarted, NULL);
            pthread_mutex_lock(&park_mutex);
        }
        while (stop_requested())
            pthread_cond_wait(&restart_cond, &park_mutex);
        atomic_store_explicit(&record->state, THREAD_ATTACHED, memory_order_seq_cst);
    }
    pthread_mutex_unlock(&park_mutex);
}

void (*_Atomic rcgc__help_hook)(void);

void rcgc_safepoint(void) {
    struct thread_record *record = rcgc__thread_record();
    if (RCGC_LIKELY(atomic_load_explicit(&rcgc__stop_requested, memory_order_relaxed) == 0)) {
        /* Objects other threads queued for this one to merge. */
        if (record != NULL &&
            RCGC_UNLIKELY(atomic_load_explicit(&record->queue_pending, memory_order_relaxed))) {
            rcgc__thread_drain_queue(record, NULL);
            /* After the drain: a request raised while it ran is seen here. */
            if (atomic_load_explicit(&record->help_pending, memory_order_relaxed) &&
                atomic_exchange_explicit(&record->help_pending, false, memory_order_acquire)) {
                void (*hook)(void) = atomic_load_explicit(&rcgc__help_hook, memory_order_acquire);
                if (hook != NULL)
                    hook();
            }
        }
        return;
    }
    if (record != NULL &&
        atomic_load_explicit(&record->state, memory_order_relaxed) == THREAD_ATTACHED)
        park_slow(record);
}

bool rcgc__blocking_enter(void) {
    struct thread_record *record = rcgc__thread_record();
    if (record == NULL)
        return false;
    /* Only from ATTACHED: a region already open may have been suspended by
     * a stopper, and writing BLOCKED over SUSPENDED would let this thread
     * leave it while the world is stopped (T2). */
    int expected = THREAD_ATTACHED;
    if (!atomic_compare_exchange_strong_explicit(&record->state, &expected, THREAD_BLOCKED,
                                                 memory_order_seq_cst, memory_order_relaxed))
        return false;
    if (stop_requested()) {
        /* A stopper may be waiting for this thread to park: it counts a
         * blocked thread as stopped, so wake it to look again. */
        pthread_mutex_lock(&park_mutex);
        pthread_cond_broadcast(&stopped_cond);
        pthread_mutex_unlock(&park_mutex);
    }
    return true;
}

void rcgc__blocking_leave(bool entered) {
    if (entered)
        rcgc_blocking_end();
}

void rcgc_blocking_begin(void) { (void)rcgc__blocking_enter(); }

void rcgc_blocking_end(void) {
    struct thread_record *record = rcgc__thread_record();
    if (record == NULL)
        return;
    for (;;) {
        int expected = THREAD_BLOCKED;
        if (atomic_compare_exchange_strong_explicit(&record->state, &expected, THREAD_ATTACHED,
                                                    memory_order_seq_cst, memory_order_seq_cst)) {
            if (stop_requested())
                park_slow(record); /* a stop began meanwhile: join it */
            return;
        }
        if (expected != THREAD_SUSPENDED)
            return; /* not in a blocking region: nothing to end */
        /* Suspended by a stopper: T2, only the restart makes it BLOCKED. */
        pthread_mutex_lock(&park_mutex);
        while (atomic_load_explicit(&record->state, memory_order_seq_cst) == THREAD_SUSPENDED)
            pthread_cond_wait(&restart_cond, &park_mutex);
        pthread_mutex_unlock(&park_mutex);
    }
}

/* ---------------------------------------------------------- Stopper side */

/* True when every record but @self is stopped; suspends blocked ones.
 * park_mutex held, so a thread parking cannot slip between the check and
 * the wait on stopped_cond. */
static bool all_stopped_locked(struct thread_record *self) {
    bool all = true;
    for (struct thread_record *r = rcgc__threads_first(); r != NULL; r = r->next) {
        if (r == self || !r->in_use)
            continue;
        int state = atomic_load_explicit(&r->state, memory_order_seq_cst);
        if (state == THREAD_BLOCKED) {
            /* The CAS fails when the thread just left its region; it is
             * then ATTACHED and will park at its next safepoint. */
            if (atomic_compare_exchange_strong_explicit(&r->state, &state, THREAD_SUSPENDED,
                                                        memory_order_seq_cst, memory_order_seq_cst))
                continue;
        }
        if (state == THREAD_ATTACHED)
            all = false;
    }
    return all;
}

/* No record but @self is ATTACHED (still running): a read-only look,
 * without park_mutex, for polling; all_stopped_locked decides. The
 * registry lock is held, so the list does not change. */
static bool none_running(const void *self) {
    for (struct thread_record *r = rcgc__threads_first(); r != NULL; r = r->next)
        if (r != self && r->in_use &&
            atomic_load_explicit(&r->state, memory_order_seq_cst) == THREAD_ATTACHED)
            return false;
    return true;
}

static long threads_attached(void) {
    long n = 0;
    for (struct thread_record *r = rcgc__threads_first(); r != NULL; r = r->next)
        n += r->in_use;
    return n;
}

void rcgc__stop_the_world(void) {
    struct thread_record *self = rcgc__thread_record();
    /* Counted as blocked while waiting for another stopper to finish,
     * which would otherwise wait for this thread to park (T3). */
    bool entered = rcgc__blocking_enter();
    pthread_mutex_lock(&stw_mutex);
    rcgc__blocking_leave(entered);
    rcgc__threads_lock();
    bool polls = threads_attached() <= cores_available();
    atomic_store_explicit(&stop_polls, polls, memory_order_relaxed);
    atomic_store_explicit(&rcgc__stop_requested, 1, memory_order_seq_cst);
    if (polls)
        (void)poll_until(none_running, self);
    pthread_mutex_lock(&park_mutex);
    while (!all_stopped_locked(self))
        pthread_cond_wait(&stopped_cond, &park_mutex);
    pthread_mutex_unlock(&park_mutex);
    rcgc__world_stopped_here = true;
#if RCGC_CHECKS >= 2
    rcgc__world_check_stopped();
#endif
}

void rcgc__start_the_world(void) {
    rcgc_assert_stopped();
    rcgc__world_stopped_here = false;
    struct thread_record *self = rcgc__thread_record();
    pthread_mutex_lock(&park_mutex);
    for (struct thread_record *r = rcgc__threads_first(); r != NULL; r = r->next) {
        int suspended = THREAD_SUSPENDED;
        if (r != self)
            atomic_compare_exchange_strong_explicit(&r->state, &suspended, THREAD_BLOCKED,
                                                    memory_order_seq_cst, memory_order_relaxed);
    }
    atomic_store_explicit(&rcgc__stop_requested, 0, memory_order_seq_cst);
    atomic_fetch_add_explicit(&stops_done, 1, memory_order_relaxed);
    pthread_cond_broadcast(&restart_cond);
    pthread_mutex_unlock(&park_mutex);
    /* stw_mutex before the registry: a fork that waits for the registry
     * must not find stw_mutex still held by a thread the child lacks. */
    pthread_mutex_unlock(&stw_mutex);
    rcgc__threads_unlock();
}

void rcgc__world_check_stopped(void) {
    struct thread_record *self = rcgc__thread_record();
    for (struct thread_record *r = rcgc__threads_first(); r != NULL; r = r->next) {
        int state = atomic_load_explicit(&r->state, memory_order_seq_cst);
        if (r != self && r->in_use && state != THREAD_PARKED && state != THREAD_SUSPENDED)
            rcgc__fatal("rcgc: world not stopped (T1): thread record %p is in state %d", (void *)r,
                        state);
    }
}

unsigned long rcgc__world_stops(void) {
    return atomic_load_explicit(&stops_done, memory_order_relaxed);
}

/* ------------------------------------------------------------------ fork() */

/* Every mutex of the object layer is held across fork(), in the order a
 * stopper takes them (stw, registry, park, then the leaves: the deferred
 * list and every thread's queue), so the child gets them all unlocked,
 * with no stop, queue or list half changed. A thread that forks while
 * another holds a queue or the deferred list otherwise leaves its child
 * a mutex nobody will ever release. The forking thread counts as blocked
 * meanwhile, so a stop in progress finishes instead of waiting for it. */
static _Thread_local bool fork_entered_blocking;

static void fork_prepare(void) {
    fork_entered_blocking = rcgc__blocking_enter();
    pthread_mutex_lock(&stw_mutex);
    rcgc__threads_lock();
    pthread_mutex_lock(&park_mutex);
    rcgc__deferred_fork_lock();
    rcgc__threads_queues_lock_held(true);
}

static void fork_parent(void) {
    rcgc__threads_queues_lock_held(false);
    rcgc__deferred_fork_unlock();
    pthread_mutex_unlock(&park_mutex);
    rcgc__threads_unlock();
    pthread_mutex_unlock(&stw_mutex);
    rcgc__blocking_leave(fork_entered_blocking);
}

static void fork_child(void) {
    rcgc__threads_forget_others_locked();
    fork_parent();
}

/* After the allocator's (see its register_fork_handlers). */
__attribute__((constructor(102))) static void register_stw_fork_handlers(void) {
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}
