/* src/object/object_internal.h - layer 3 inside rcgc: thread records and the
 * stop-the-world protocol.
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
#ifndef RCGC_OBJECT_INTERNAL_H
#define RCGC_OBJECT_INTERNAL_H

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

/* ------------------------------------------------------ Reference counts */

/* ob_ref_shared holds count << 2 | state bits (PEP 703's layout).
 *
 *   state     meaning
 *   00        owned: the owner counts in ob_ref_local, others here
 *   01 QUEUED queued for its owner to merge (set only on a zero count)
 *   10 MERGED no owner any more: every count is here
 *   11 DEAD   the object is dead or dying: freed, on a free list, or on a
 *             list of deaths; the rest of the word is that list's link
 *
 * A live object never has both bits: QUEUED is set only on a zero count
 * and a merge replaces it with MERGED. So a stray decrement on a dead
 * object is told apart from a last reference by one load (R1 below). */
#define REF_SHARED_SHIFT 2
#define REF_QUEUED ((int64_t)1)
#define REF_MERGED ((int64_t)2)
#define REF_DEAD (REF_QUEUED | REF_MERGED)
#define REF_STATE_MASK ((int64_t)3)
#define REF_ONE ((int64_t)1 << REF_SHARED_SHIFT)
/* Checked builds fill freed blocks with 0xFE bytes (layer 2): a freed
 * object's shared count then reads so, which no live object's can (a
 * merged count of about -2^62). */
#define REF_FREED_FILL ((int64_t)UINT64_C(0xFEFEFEFEFEFEFEFE))

/* R1: the slow paths of incref and decref read ob_ref_shared before they
 * trust anything else in the header, and report a dead object instead of
 * writing to it: a freed block's first 16 bytes hold the allocator's
 * free-list link and marker, which a decrement would corrupt. */
static inline bool rcgc__ref_is_dead(int64_t shared) {
    return (shared & REF_STATE_MASK) == REF_DEAD || shared == REF_FREED_FILL;
}

/* The one list threaded through dead and dying objects' ob_ref_shared
 * (free lists, pending deaths, deaths waiting for a restart): the link,
 * marked DEAD. Objects are 16-byte aligned, so the state bits are free. */
static inline void rcgc__dead_link_set(struct rcgc_object *obj, struct rcgc_object *next) {
    atomic_store_explicit(&obj->ob_ref_shared, (int64_t)(intptr_t)next | REF_DEAD,
                          memory_order_relaxed);
}

static inline struct rcgc_object *rcgc__dead_link_next(const struct rcgc_object *obj) {
    int64_t link = atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed);
    return (struct rcgc_object *)(intptr_t)(link & ~REF_STATE_MASK);
}

/* ob_flags (meaningless once the object is dead: check R1 first) */
#define OBJ_MODE_MASK 3u
#define OBJ_FINALIZED (1u << 2)
#define OBJ_FIXED_SIZE (1u << 3) /* made by rcgc_new: may go on a free list */

/* Fold the owner's count into the shared one and drop the owner; returns
 * the total count, plus @extra. Caller: the owner, or anyone once the
 * owner is gone. */
int64_t rcgc__merge_refcount(struct rcgc_object *obj, int64_t extra);

/* The object's count reached zero: finalize, clear, release, free -
 * iteratively (trashcan). */
void rcgc__object_die(struct rcgc_object *obj);

/* Free every object on the calling thread's free lists (at detach). */
void rcgc__freelists_drain(void);

/* Deferred counts (deferred.c): buffer a change for the calling thread;
 * apply a thread's table to the objects' shared counts; list an object
 * that became deferred, so a sync can find it at zero. */
void rcgc__deferred_add(struct rcgc_object *obj, int64_t delta);
void rcgc__deferred_flush(struct thread_record *record);
/* The calling thread's net change to @obj not yet applied (0 when none). */
int64_t rcgc__deferred_pending(const struct rcgc_object *obj);
int rcgc__deferred_register(struct rcgc_object *obj);

/* Put back on the deferred list an object a sync took off it to die, when
 * its finalizer has run (and may have resurrected it): takes the slot the
 * sync reserved for it, so it cannot fail. */
void rcgc__deferred_register_reserved(struct rcgc_object *obj);

/* Whether @obj's death will run its finalizer (it has one that never ran). */
static inline bool rcgc__object_finalizer_pending(const struct rcgc_object *obj) {
    return obj->ob_type->finalize != NULL &&
           (atomic_load_explicit(&obj->ob_flags, memory_order_relaxed) & OBJ_FINALIZED) == 0;
}

/* Objects found dead while the world is stopped wait for the restart on a
 * list linked through their (now unused) ob_ref_shared; running the list
 * restores the field and runs each death. */
static inline void rcgc__death_list_push(struct rcgc_object **list, struct rcgc_object *obj) {
    rcgc__dead_link_set(obj, *list);
    *list = obj;
}
void rcgc__death_list_run(struct rcgc_object *list);

/* World stopped: apply every thread's deferred table; list the deferred
 * objects found at zero on @dead (untracked). Returns how many. */
size_t rcgc__deferred_apply_all_stopped(struct rcgc_object **dead);

/* One line through the fatal handler: "<type 0x...>" with what went wrong.
 * A dead object's type pointer survives its free (it lies past the
 * allocator's 16 bytes of free-block data) until the block is reused. */
RCGC_NORETURN RCGC_COLD void rcgc__report_object(const struct rcgc_object *obj, const char *what,
                                                 const char *where);

/* R1's report: a count changed on an object that is dead. */
RCGC_NORETURN RCGC_COLD void rcgc__report_dead_object(const struct rcgc_object *obj,
                                                      const char *where);

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

/* fork(): hold the deferred list's mutex across the fork. */
void rcgc__deferred_fork_lock(void);
void rcgc__deferred_fork_unlock(void);

/* Stop every attached thread other than the caller: returns when each is
 * parked at a safepoint, suspended in a blocking region, or detached.
 * Serializes with other stoppers; attaching and detaching wait until
 * rcgc__start_the_world. The caller may be attached or not. */
void rcgc__stop_the_world(void);

/* Restart what rcgc__stop_the_world stopped. Same thread as the stop. */
void rcgc__start_the_world(void);

/* T1; fatal when broken. Only meaningful between stop and start. */
void rcgc__world_check_stopped(void);

/* How many stops have completed since start (for tests and stats). */
unsigned long rcgc__world_stops(void);

#endif /* RCGC_OBJECT_INTERNAL_H */
