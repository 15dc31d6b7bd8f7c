/* rcgc/object.h - layer 3: threads (and, as they land, objects and their
 * reference counts).
 *
 * Purpose: a thread registers with rcgc before it touches rcgc objects, so
 * that the cycle collector can stop the world: every attached thread parks
 * at its next safepoint, and threads inside a blocking region are not
 * waited for. The allocator (rcgc/alloc.h) needs none of this; any thread
 * may allocate.
 *
 * Thread model: each function acts on the calling thread.
 *
 * Usage:
 *     rcgc_thread_attach();
 *     while (work_left()) {
 *         step();                 // touches rcgc objects
 *         rcgc_safepoint();       // lets a collection stop this thread
 *     }
 *     rcgc_blocking_begin();      // a collection need not wait for us now
 *     read(fd, buffer, size);     // must not touch rcgc objects
 *     rcgc_blocking_end();        // waits if a collection is running
 *     rcgc_thread_detach();       // or just let the thread exit
 */
#ifndef RCGC_OBJECT_H
#define RCGC_OBJECT_H

#include <rcgc/common.h>

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------- Threads */

/**
 * rcgc_thread_attach - Register the calling thread with rcgc.
 *
 * Returns 0, or -1 with errno = ENOMEM when the thread's record cannot be
 * allocated. Attaching an attached thread does nothing and returns 0. If a
 * collection is stopping the world, waits until it has restarted.
 * Thread safety: any thread. Cost: takes the thread-registry mutex once.
 */
RCGC_API int rcgc_thread_attach(void);

/**
 * rcgc_thread_detach - Unregister the calling thread.
 *
 * After it, the thread must not touch rcgc objects until it attaches again.
 * Runs by itself when an attached thread exits. Detaching a thread that is
 * not attached does nothing. Never waits for a collection to finish: the
 * thread counts as blocked while it detaches.
 * Thread safety: any thread. Cost: takes the thread-registry mutex once.
 */
RCGC_API void rcgc_thread_detach(void);

/**
 * rcgc_thread_is_attached - Whether the calling thread is attached.
 *
 * Thread safety: any thread. Cost: one thread-local load.
 */
RCGC_API bool rcgc_thread_is_attached(void);

/**
 * rcgc_safepoint - Let a collection that is stopping the world stop here.
 *
 * Hosts call it in long loops that touch rcgc objects; object creation
 * calls it too. When no stop is requested it returns at once; otherwise the
 * thread parks until the world restarts. An unattached or blocked thread
 * returns at once.
 * Thread safety: the calling thread. Memory ordering: parking publishes the
 *   thread's writes to the collector and returning observes the collector's
 *   (acquire/release through the thread's state).
 * Cost: one relaxed load of a global flag when no stop is requested.
 */
RCGC_API void rcgc_safepoint(void);

/**
 * rcgc_blocking_begin - Enter a region that does not touch rcgc objects.
 *
 * Wrap calls that may block (I/O, locks, sleeps) so that a collection does
 * not wait for this thread. Regions do not nest. Calling it from a thread
 * that is not attached does nothing.
 * Thread safety: the calling thread. Cost: one atomic exchange.
 */
RCGC_API void rcgc_blocking_begin(void);

/**
 * rcgc_blocking_end - Leave a blocking region.
 *
 * If a collection has stopped the world, waits until it restarts: a thread
 * cannot return to touching objects while the collector works on them.
 * Thread safety: the calling thread. Cost: one compare-and-swap when no
 * collection runs.
 */
RCGC_API void rcgc_blocking_end(void);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_OBJECT_H */
