/* src/debug/trace_internal.h - the allocation tracer's parts (rcgc/debug.h,
 * "Allocation tracing"): the sites allocations are grouped by, the table
 * of traced blocks, and what a snapshot copies out of them.
 *
 *   trace.c        start/stop, the allocation hook, sampling, the counters,
 *                  traces kept in the allocator's block tags
 *   trace_sites.c  sites: file:line from RCGC_TRACE_SITES, call stacks
 *   trace_table.c  traced blocks that have no tag (huge ones), by address
 *   snapshot.c     snapshots, statistics, compare_to, printing
 *
 * Invariants:
 *   T1  a site, once interned, never moves or changes until the tracer is
 *       stopped and no hook call runs (rcgc__alloc_hook_set(NULL) returned):
 *       traces and snapshots refer to sites by index.
 *   T2  the traced size (rcgc_trace_get_memory) is the sum of the estimated
 *       bytes of the traced blocks (tagged or in the table), give or take
 *       the updates of hook calls running now and the bytes each thread
 *       holds back (trace.c, "Counting": at most 64 KiB a thread).
 *   T3  a block is traced exactly when its tag is nonzero or it is in the
 *       table, never both; its tag or entry goes when the block is freed
 *       or the tracer stops.
 */
#ifndef RCGC_DEBUG_TRACE_INTERNAL_H
#define RCGC_DEBUG_TRACE_INTERNAL_H

#include <rcgc/debug.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ Sites */

/* Where allocations come from: file:line when the host was built with
 * RCGC_TRACE_SITES (else file is NULL), and the innermost frames of the
 * call stack outside rcgc (none when the tracer keeps no frames). */
struct trace_site {
    const char *file;
    int line;
    unsigned frame_count;
    void *frames[RCGC_TRACE_FRAMES_MAX];
};

/* The site of the allocation the calling thread is making, given by an
 * rcgc_*_at call, or NULL. */
const struct trace_site *rcgc__trace_site_hint(void);

/* Fill @site for an allocation made now on this thread: its hint (if any)
 * and @frames frames of its call stack, rcgc's own left out; @caller, the
 * allocator's caller when it knows it (alloc_hook.h), or NULL, saves the
 * unwinding when one frame is wanted. */
void rcgc__trace_site_capture(struct trace_site *site, unsigned frames, const void *caller);

/* The index of a site equal to @site, interned if new (T1); UINT32_MAX
 * when out of memory. Any thread. */
uint32_t rcgc__trace_site_intern(const struct trace_site *site);

/* The site at @index (T1). */
const struct trace_site *rcgc__trace_site_at(uint32_t index);

/* Forget every site; only once no hook call runs. */
void rcgc__trace_sites_reset(void);

/* ----------------------------------------------------------------- Traces */

/* One traced block. Sampled blocks stand for more than themselves: the
 * estimate is their size over the chance they had of being sampled. */
struct trace {
    uintptr_t block; /* 0: empty slot */
    uint32_t site;
    uint32_t estimated_count; /* allocations this one stands for, rounded */
    size_t size;              /* bytes asked for */
    size_t estimated_size;    /* bytes this one stands for */
};

/* Call @visit for every trace: the tagged blocks under the arena mutex,
 * then the table a stripe at a time under its lock. @visit must not
 * allocate or free rcgc memory (raw memory is fine). */
void rcgc__trace_foreach(void (*visit)(const struct trace *trace, void *arg), void *arg);

/* The table, for blocks without a tag. */

/* Add @trace (its block not in the table). False when out of memory. */
bool rcgc__trace_table_add(const struct trace *trace);

/* Take the trace of @block out into @out; false when it was not traced. */
bool rcgc__trace_table_remove(uintptr_t block, struct trace *out);

/* Call @visit for every trace, a stripe at a time under its lock. */
void rcgc__trace_table_foreach(void (*visit)(const struct trace *trace, void *arg), void *arg);

/* Empty the table and free its memory; only once no hook call runs. */
void rcgc__trace_table_reset(void);

#endif /* RCGC_DEBUG_TRACE_INTERNAL_H */
