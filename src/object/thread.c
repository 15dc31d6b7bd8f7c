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

static _Thread_local struct thread_record *my_record;

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

void rcgc__threads_lock(void) { pthread_mutex_lock(&registry_mutex); }
void rcgc__threads_unlock(void) { pthread_mutex_unlock(&registry_mutex); }
struct thread_record *rcgc__threads_first(void) {
    return records;
}

struct thread_record *rcgc__thread_record(void) {
    return my_record;
}

bool rcgc_thread_is_attached(void) { return my_record != NULL; }

static void detach_record(struct thread_record *record) {
    /* Blocked first: a stopper then does not wait for this thread while it
     * waits for the registry mutex, which the stopper holds (T3). */
    rcgc_blocking_begin();
    rcgc__threads_lock();
    atomic_store_explicit(&record->state, THREAD_DETACHED, memory_order_seq_cst);
    record->in_use = false;
    rcgc__threads_unlock();
    my_record = NULL;
}

/* Runs when an attached thread exits without detaching. */
static void detach_at_exit(void *record) {
    if (my_record == record)
        detach_record(record);
}

static void create_exit_key(void) {
    if (pthread_key_create(&exit_key, detach_at_exit) != 0)
        rcgc__fatal("rcgc: pthread_key_create failed: no thread-exit hook for attached threads");
}

int rcgc_thread_attach(void) {
    if (my_record != NULL)
        return 0;
    pthread_once(&exit_key_once, create_exit_key);
    /* Waits while a stop is in progress: the stopper holds the mutex (T3). */
    rcgc__threads_lock();
    struct thread_record *record = records;
    while (record != NULL && record->in_use)
        record = record->next;
    if (record == NULL) {
        record = rcgc_raw_calloc(1, sizeof *record);
        if (record == NULL) {
            rcgc__threads_unlock();
            errno = ENOMEM;
            return -1;
        }
        record->next = records;
        records = record;
    }
    record->in_use = true;
    atomic_store_explicit(&record->state, THREAD_ATTACHED, memory_order_seq_cst);
    rcgc__threads_unlock();
    my_record = record;
    pthread_setspecific(exit_key, record);
    return 0;
}

void rcgc_thread_detach(void) {
    if (my_record == NULL)
        return;
    pthread_setspecific(exit_key, NULL);
    detach_record(my_record);
}

void rcgc__threads_forget_others_locked(void) {
    for (struct thread_record *record = records; record != NULL; record = record->next)
        if (record != my_record && record->in_use) {
            record->in_use = false;
            atomic_store_explicit(&record->state, THREAD_DETACHED, memory_order_relaxed);
        }
}
