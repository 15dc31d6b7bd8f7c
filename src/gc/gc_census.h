/* src/gc/gc_census.h - what the debug layer needs from the collector to
 * read references the way the collector does: with the world stopped, so
 * that no thread changes an object while its traverse hook reads it (the
 * hooks' contract, rcgc/object.h).
 */
#ifndef RCGC_GC_CENSUS_H
#define RCGC_GC_CENSUS_H

#include <rcgc/object.h>

/* Call @visit(obj, @arg) for every live object (as rcgc_get_all_objects
 * finds them) with the collector's mutex held and the world stopped.
 * @visit may read objects, run traverse hooks, take references
 * (rcgc_incref) and use raw memory; nothing else (no rcgc allocation, no
 * decrement, no lock another thread may hold while parked).
 * Returns 0, or -1 with errno set when /proc/self/maps cannot be read.
 * Any attached thread; not from a collection's hooks. */
int rcgc__gc_census_stopped(void (*visit)(rcgc_object *obj, void *arg), void *arg);

/* Run @fn(@arg) with the collector's mutex held and the world stopped;
 * @fn is bound as @visit above. */
void rcgc__gc_run_stopped(void (*fn)(void *arg), void *arg);

#endif /* RCGC_GC_CENSUS_H */
