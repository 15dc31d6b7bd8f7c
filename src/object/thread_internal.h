/* src/object/thread_internal.h - layer 3 inside rcgc: thread records, thread
 * ids and the stop-the-world protocol.
 *
 * Owned by one thread: its record's `state` transitions ATTACHED <-> BLOCKED
 *   and ATTACHED <-> PARKED (the thread itself) - except BLOCKED ->
 *   SUSPENDED -> BLOCKED, which only a stopper makes.
 * Shared: the record list (registry_mutex; records are reused, never
 *   freed), the stop flag (C11 atomic), and park_mutex with its two
 *   condition variables, under which threads park and the stopper waits.
 *
 *  A thread's state:
 *
 *       attach            blocking_begin            stopper, during a stop
 *  DETACHED --> ATTACHED ----------------> BLOCKED ----------------> SUSPENDED
 *                 |  ^   <---------------           <----------------
 *    safepoint    |  |    blocking_end (CAS;          start of the world
 *    during a stop|  |    waits while SUSPENDED)
 *                 v  |
 *                PARKED   (until the world restarts)
 *
 * Invariants:
 *   T1  while the world is stopped, every record other than the stopper's
 *       is DETACHED, PARKED or SUSPENDED (checked by rcgc__world_check_stopped)
 *   T2  a SUSPENDED record becomes BLOCKED only in rcgc__start_the_world
 *   T3  one stopper at a time (stw_mutex), and it holds registry_mutex for
 *       the whole stop, so no thread attaches or detaches meanwhile
 */
#ifndef RCGC_THREAD_INTERNAL_H
#define RCGC_THREAD_INTERNAL_H

#include "base/base_internal.h"

#include <rcgc/object.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum thread_state {
    THREAD_DETACHED = 0,
    THREAD_ATTACHED,
    THREAD_BLOCKED,
    THREAD_SUSPENDED, /* blocked, and counted as stopped by a stopper */
    THREAD_PARKED,    /* stopped at a safepoint */
};

struct rcgc_object;

/* A thread's id, as objects store it in ob_tid: (slot + 1) << 16 | the
 * record's generation << 2 | THREAD_ID_MARK, so a record reused by a new
 * thread gets an id no object of the old thread carries (a dead owner's
 * objects are then foreign to everyone and get merged, never counted by a
 * stranger). 0 is "no owner"; unattached threads read UINT32_MAX,
 * which matches no object, so they always take the atomic slow paths.
 *
 * T0: every thread id has THREAD_ID_MARK set, and the first 32-bit word of
 * a free pool block never has it (the allocator's free-list link is
 * 16-byte aligned, or encoded with a secret whose bit 1 is clear: layer 2
 * promises it). So a stray count change on a freed object never takes the
 * owner's fast path, which would write into the block's cookie: it reaches
 * a slow path, which finds the object dead (R1). */
#define THREAD_SLOTS ((uint32_t)1 << 16)
#define THREAD_ID_MARK ((uint32_t)2)

/* A thread's table of pending deferred counts: open addressing, flushed
 * when it would be more than 3/4 full. A few hot objects per thread is the
 * use (types, modules, constants), so 64 slots are plenty. */
#define DEFERRED_ENTRIES 64

struct thread_record {
    _Atomic int state;          /* enum thread_state */
    struct thread_record *next; /* registry_mutex */
    bool in_use;                /* registry_mutex */
    uint32_t slot;              /* index in the slot table, fixed for the record */
    _Atomic uint32_t tid;       /* current id; 0 while detached */
    /* Objects other threads want merged (biased refcounting): queued under
     * queue_mutex, each holding the reference its queuer did not drop. */
    pthread_mutex_t queue_mutex;
    struct rcgc_object **queue; /* queue_mutex; from the raw layer */
    size_t queue_length, queue_capacity;
    _Atomic bool queue_pending;
    /* Work another layer asked this thread to do at its next safepoint
     * (rcgc__thread_request_help); raised together with queue_pending, so
     * the inline poll tests one flag. */
    _Atomic bool help_pending;
    /* Net count changes to deferred objects, not yet applied (deferred.c):
     * written by the thread itself, read by a stopper while it is parked. */
    struct deferred_entry {
        struct rcgc_object *obj;
        int64_t delta;
    } deferred[DEFERRED_ENTRIES];
    unsigned deferred_used;
};

/* The record whose current id is @tid, with its queue_mutex held, or NULL
 * when no live thread has that id (its owner exited). */
struct thread_record *rcgc__thread_lock_by_tid(uint32_t tid);

/* Merge every object queued for @record's thread (its owner): called by
 * that thread at safepoints, when it makes objects, and when it detaches.
 * Objects whose count is then zero die here - or, when @dead is not NULL
 * (a stopper draining a parked owner's queue), are untracked and listed on
 * *@dead to die after the restart. */
void rcgc__thread_drain_queue(struct thread_record *record, struct rcgc_object **dead);

/* Add @obj to @record's queue; queue_mutex held (rcgc__thread_lock_by_tid),
 * released here. */
void rcgc__thread_enqueue_unlock(struct thread_record *record, struct rcgc_object *obj);

/* Ask the live thread whose id is @tid to run rcgc__help_hook at its
 * next safepoint. False, with nothing asked, when no live thread has that
 * id or it is not running (blocked, suspended or detached): it would not
 * come soon. */
bool rcgc__thread_request_help(uint32_t tid);

/* Whether the live thread whose id is @tid is attached and not in a
 * blocking region (running, or parked in a stop that will end). */
bool rcgc__thread_is_running(uint32_t tid);

/* Run by a thread at a safepoint when help was requested of it; set by
 * the layer that requests help, before its first request. */
extern void (*_Atomic rcgc__help_hook)(void);

/* Set while a stopper wants the world stopped; polled by rcgc_safepoint. */
extern _Atomic unsigned rcgc__stop_requested;

/* The calling thread's record, or NULL when it is not attached. Initial-
 * exec TLS read inline: the deferred-count and safepoint paths use it on
 * every call. */
extern _Thread_local struct thread_record *rcgc__my_record
    __attribute__((tls_model("initial-exec")));

static inline struct thread_record *rcgc__thread_record(void) { return rcgc__my_record; }

/* rcgc_safepoint's test, inline: a call only when there is something to
 * do (a stop requested, or objects queued for this thread to merge). */
static inline void rcgc__safepoint_poll(void) {
    struct thread_record *record = rcgc__my_record;
    if (RCGC_UNLIKELY(
            atomic_load_explicit(&rcgc__stop_requested, memory_order_relaxed) != 0 ||
            (record != NULL && atomic_load_explicit(&record->queue_pending, memory_order_relaxed))))
        rcgc_safepoint();
}

/* The record list (thread.c): walk it from rcgc__threads_first() while
 * holding the registry lock. */
void rcgc__threads_lock(void);
void rcgc__threads_unlock(void);
struct thread_record *rcgc__threads_first(void);

/* Call @visit on every record in use; the registry lock must already be
 * held (by a stopper: rcgc__stop_the_world takes it for the whole stop). */
void rcgc__threads_lock_held_walk(void (*visit)(struct thread_record *record, void *arg),
                                  void *arg);

/* In a fork child, registry lock held: only the forking thread lives on,
 * so every other record becomes detached. */
void rcgc__threads_forget_others_locked(void);

/* fork(): lock (@lock) or unlock every record's queue_mutex, in list
 * order; the registry lock is held, so the list holds still. */
void rcgc__threads_queues_lock_held(bool lock);

/* A blocking region for the library's own waits (a mutex a stopper may
 * hold, fork): enters one only when the caller is attached and not
 * already in one, and returns whether it did, for rcgc__blocking_leave.
 * A host's region around the call (fork from a blocking region) stays
 * as it was: neither overwritten nor ended early. */
bool rcgc__blocking_enter(void);
void rcgc__blocking_leave(bool entered);

/* Stop every attached thread other than the caller: returns when each is
 * parked at a safepoint, suspended in a blocking region, or detached.
 * Serializes with other stoppers; attaching and detaching wait until
 * rcgc__start_the_world. The caller may be attached or not. */
void rcgc__stop_the_world(void);

/* Restart what rcgc__stop_the_world stopped. Same thread as the stop. */
void rcgc__start_the_world(void);

/* T1; fatal when broken. Only meaningful between stop and start. */
void rcgc__world_check_stopped(void);

/* True on the thread that has the world stopped, between its stop and its
 * start. What a comment says needs the world stopped asserts it:
 * rcgc_assert_stopped(). */
extern _Thread_local bool rcgc__world_stopped_here __attribute__((tls_model("initial-exec")));
#define rcgc_assert_stopped() rcgc_assert(rcgc__world_stopped_here)

/* How many stops have completed since start (for tests and stats). */
unsigned long rcgc__world_stops(void);

#endif /* RCGC_THREAD_INTERNAL_H */
