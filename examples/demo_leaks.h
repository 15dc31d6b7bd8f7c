/* examples/demo_leaks.h - the demo's leak-hunting sections (demo_leaks.c). */
#ifndef RCGC_DEMO_LEAKS_H
#define RCGC_DEMO_LEAKS_H

/* Sections 15-17; the calling thread is attached. 0, or 1 on failure. */
int show_leak_tools(void);

#endif /* RCGC_DEMO_LEAKS_H */
