/* examples/demo_gc.h - the demo's collector sections (demo_gc.c). */
#ifndef RCGC_DEMO_GC_H
#define RCGC_DEMO_GC_H

/* Sections 10-12; the calling thread is attached. 0, or 1 on ENOMEM. */
int show_collector(void);

#endif /* RCGC_DEMO_GC_H */
