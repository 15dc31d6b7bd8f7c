/* src/object/thread.c - the thread registry: attach, detach, detach at
 * thread exit, and fork.
 *
 * Owned by one thread: its record's pointer in thread-local storage.
 * Shared: the record list, behind registry_mutex. Records are reused by the
 * next attaching thread and never freed, so a stopper walking the list
 * under the mutex never meets freed memory.
 */
#include "object/object_internal.h"

#include <rcgc/raw.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct thread_record *records; /* registry_mutex */

_Thread_local struct thread_record *rcgc__my_record __attribute__((tls_model("initial-exec")));

_Thread_local uint32_t rcgc_tls_thread_id __attribute__((tls_model("initial-exec"))) = UINT32_MAX;

/* Records by slot, for finding an object's owner from its ob_tid without
 * the registry mutex (a stopper holds that one for a whole stop, and a
 * decrement must not wait for it). Written once per new record under the
 * registry mutex, before the record's id can appear in any object. */
static _Atomic(struct thread_record *) slot_table[THREAD_SLOTS];
static uint32_t slots_used;                    /* registry_mutex */
static uint16_t next_generation[THREAD_SLOTS]; /* registry_mutex */

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

void rcgc__threads_lock(void) { pthread_mutex_lock(&registry_mutex); }
void rcgc__threads_unlock(void) { pthread_mutex_unlock(&registry_mutex); }
struct thread_record *rcgc__threads_first(void) {
    return records;
}

void rcgc__threads_lock_held_walk(void (*visit)(struct thread_record *record, void *arg),
                                  void *arg) {
    for (struct thread_record *record = records; record != NULL; record = record->next)
        if (record->in_use)
            visit(record, arg);
}

bool rcgc_thread_is_attached(void) { return rcgc__my_record != NULL; }

static void detach_record(struct thread_record *record) {
    /* A thread that detaches, or exits, inside a blocking region leaves it
     * first: what follows touches objects, which a stopped world forbids. */
    rcgc_blocking_end();
    /* Objects others queued for this thread: merged now, while it can. */
    rcgc__thread_drain_queue(record, NULL);
    /* After this, queuers find the id dead and merge on their own; the
     * mutex orders this thread's last writes to its objects' local counts
     * before their reads (rcgc__thread_lock_by_tid). */
    pthread_mutex_lock(&record->queue_mutex);
    atomic_store_explicit(&record->tid, 0, memory_order_relaxed);
    pthread_mutex_unlock(&record->queue_mutex);
    rcgc__thread_drain_queue(record, NULL); /* anything queued just before */
    rcgc__freelists_drain();
    rcgc__deferred_flush(record);
    rcgc_tls_thread_id = UINT32_MAX;
    /* Blocked first: a stopper then does not wait for this thread while it
     * waits for the registry mutex, which the stopper holds (T3). */
    rcgc_blocking_begin();
    rcgc__threads_lock();
    atomic_store_explicit(&record->state, THREAD_DETACHED, memory_order_seq_cst);
    record->in_use = false;
    rcgc__threads_unlock();
    rcgc__my_record = NULL;
}

/* Runs when an attached thread exits without detaching. */
static void detach_at_exit(void *record) {
    if (rcgc__my_record == record)
        detach_record(record);
}

static void create_exit_key(void) {
    if (pthread_key_create(&exit_key, detach_at_exit) != 0)
        rcgc__fatal("rcgc: pthread_key_create failed: no thread-exit hook for attached threads");
}

int rcgc_thread_attach(void) {
    if (rcgc__my_record != NULL)
        return 0;
    pthread_once(&exit_key_once, create_exit_key);
    /* Waits while a stop is in progress: the stopper holds the mutex (T3). */
    rcgc__threads_lock();
    struct thread_record *record = records;
    while (record != NULL && record->in_use)
        record = record->next;
    if (record == NULL) {
        record = slots_used < THREAD_SLOTS - 1 ? rcgc_raw_calloc(1, sizeof *record) : NULL;
        if (record == NULL) {
            rcgc__threads_unlock();
            errno = ENOMEM;
            return -1;
        }
        pthread_mutex_init(&record->queue_mutex, NULL);
        record->slot = slots_used++;
        atomic_store_explicit(&slot_table[record->slot], record, memory_order_release);
        record->next = records;
        records = record;
    }
    record->in_use = true;
    uint16_t generation = (uint16_t)(next_generation[record->slot]++ << 2);
    uint32_t tid = (record->slot + 1) << 16 | generation | THREAD_ID_MARK; /* T0 */
    pthread_mutex_lock(&record->queue_mutex);
    atomic_store_explicit(&record->tid, tid, memory_order_relaxed);
    pthread_mutex_unlock(&record->queue_mutex);
    atomic_store_explicit(&record->state, THREAD_ATTACHED, memory_order_seq_cst);
    rcgc__threads_unlock();
    rcgc__my_record = record;
    rcgc_tls_thread_id = tid;
    pthread_setspecific(exit_key, record);
    return 0;
}

void rcgc_thread_detach(void) {
    if (rcgc__my_record == NULL)
        return;
    pthread_setspecific(exit_key, NULL);
    detach_record(rcgc__my_record);
}

static bool state_is_running(const struct thread_record *record) {
    int state = atomic_load_explicit(&record->state, memory_order_relaxed);
    return state == THREAD_ATTACHED || state == THREAD_PARKED;
}

bool rcgc__thread_request_help(uint32_t tid) {
    struct thread_record *record = rcgc__thread_lock_by_tid(tid);
    if (record == NULL)
        return false;
    bool running = state_is_running(record);
    if (running) {
        /* Under queue_mutex: a drain that finds the queue empty clears
         * queue_pending under it too, and then looks at help_pending, so
         * the request is seen either way. */
        atomic_store_explicit(&record->help_pending, true, memory_order_relaxed);
        atomic_store_explicit(&record->queue_pending, true, memory_order_relaxed);
    }
    pthread_mutex_unlock(&record->queue_mutex);
    return running;
}

bool rcgc__thread_is_running(uint32_t tid) {
    struct thread_record *record = rcgc__thread_lock_by_tid(tid);
    if (record == NULL)
        return false;
    bool running = state_is_running(record);
    pthread_mutex_unlock(&record->queue_mutex);
    return running;
}

struct thread_record *rcgc__thread_lock_by_tid(uint32_t tid) {
    uint32_t slot = (tid >> 16) - 1;
    if (tid == 0 || slot >= THREAD_SLOTS)
        return NULL;
    struct thread_record *record = atomic_load_explicit(&slot_table[slot], memory_order_acquire);
    if (record == NULL)
        return NULL;
    pthread_mutex_lock(&record->queue_mutex);
    if (atomic_load_explicit(&record->tid, memory_order_relaxed) == tid)
        return record;
    pthread_mutex_unlock(&record->queue_mutex);
    return NULL;
}

void rcgc__threads_queues_lock_held(bool lock) {
    for (struct thread_record *record = records; record != NULL; record = record->next) {
        if (lock)
            pthread_mutex_lock(&record->queue_mutex);
        else
            pthread_mutex_unlock(&record->queue_mutex);
    }
}

void rcgc__threads_forget_others_locked(void) {
    for (struct thread_record *record = records; record != NULL; record = record->next)
        if (record != rcgc__my_record && record->in_use) {
            record->in_use = false;
            atomic_store_explicit(&record->tid, 0, memory_order_relaxed);
            atomic_store_explicit(&record->state, THREAD_DETACHED, memory_order_relaxed);
        }
}
