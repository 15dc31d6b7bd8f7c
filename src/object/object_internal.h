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

#include <stdatomic.h>
#include <stdbool.h>

enum thread_state {
    THREAD_DETACHED = 0,
    THREAD_ATTACHED,
    THREAD_BLOCKED,
    THREAD_SUSPENDED, /* blocked, and counted as stopped by a stopper */
    THREAD_PARKED,    /* stopped at a safepoint */
};

struct thread_record {
    _Atomic int state;          /* enum thread_state */
    struct thread_record *next; /* registry_mutex */
    bool in_use;                /* registry_mutex */
};

/* Set while a stopper wants the world stopped; polled by rcgc_safepoint. */
extern _Atomic unsigned rcgc__stop_requested;

/* The calling thread's record, or NULL when it is not attached. */
struct thread_record *rcgc__thread_record(void);

/* The record list (thread.c): walk it from rcgc__threads_first() while
 * holding the registry lock. */
void rcgc__threads_lock(void);
void rcgc__threads_unlock(void);
struct thread_record *rcgc__threads_first(void);

/* In a fork child, registry lock held: only the forking thread lives on,
 * so every other record becomes detached. */
void rcgc__threads_forget_others_locked(void);

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
