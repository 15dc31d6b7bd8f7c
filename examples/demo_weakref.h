/* examples/demo_weakref.h - the demo's weak-reference sections
 * (demo_weakref.c). */
#ifndef RCGC_DEMO_WEAKREF_H
#define RCGC_DEMO_WEAKREF_H

/* Sections 13-14; the calling thread is attached. 0, or 1 on ENOMEM. */
int show_weak_references(void);

#endif /* RCGC_DEMO_WEAKREF_H */
