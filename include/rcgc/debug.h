/* rcgc/debug.h - tools for hunting leaks in a host: the process's memory
 * as the kernel counts it (psutil), live objects counted by type and their
 * growth (objgraph's most_common_types and show_growth), pictures of the
 * references from and to given objects and the chain that keeps one alive
 * (objgraph's show_refs, show_backrefs, find_backref_chain).
 *
 * Purpose: "my host's memory grows" starts with two numbers taken before
 * and after the suspect work: resident memory, and the memory only this
 * process holds (USS), which is what freeing objects can give back. Then:
 * which types grow, and what holds their instances.
 *
 * Thread model: process memory and tracing from any thread, attached or
 * not; the object tools from attached threads: they stop the world to list
 * every live object, as rcgc_get_all_objects, and to read references
 * through traverse hooks, so other threads may go on changing objects.
 *
 * Usage:
 *     rcgc_process_memory before, after;
 *     rcgc_process_memory_get(&before, RCGC_MEMORY_USS);
 *     ...work...
 *     rcgc_process_memory_get(&after, RCGC_MEMORY_USS);
 *     printf("USS %.1f -> %.1f MB\n", before.uss / 1e6, after.uss / 1e6);
 */
#ifndef RCGC_DEBUG_H
#define RCGC_DEBUG_H

#include <rcgc/common.h>

#include <rcgc/alloc.h>
#include <rcgc/gc.h>
#include <rcgc/object.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct rcgc_process_memory - the process's memory, in bytes.
 * @rss: resident set size (VmRSS).
 * @rss_anon: its anonymous part (RssAnon): heap, mappings, stacks.
 * @swap: swapped out (VmSwap).
 * @peak_rss: the highest @rss so far (VmHWM).
 * @uss: unique set size: resident pages no other process shares
 *   (Private_Clean + Private_Dirty); only with RCGC_MEMORY_USS, else 0.
 * @pss: proportional set size (Pss); only with RCGC_MEMORY_USS, else 0.
 */
typedef struct rcgc_process_memory {
    size_t rss, rss_anon, swap, peak_rss;
    size_t uss, pss;
} rcgc_process_memory;

/* rcgc_process_memory_get flags: also read USS and PSS (smaps_rollup). */
#define RCGC_MEMORY_USS 1u

/**
 * rcgc_process_memory_get - Read the process's memory from /proc.
 * @out: filled in.
 * @flags: 0, or RCGC_MEMORY_USS.
 *
 * Returns 0, or -1 with errno set by the failed open or read (for
 * example ENOENT when /proc is not mounted), @out zeroed.
 * Cost: /proc/self/status is cheap (a few µs); smaps_rollup walks every
 * mapping (tens of µs to milliseconds for a large heap).
 */
RCGC_API int rcgc_process_memory_get(rcgc_process_memory *out, unsigned flags);

/**
 * struct rcgc_memory_accounting - where rcgc's own memory is, in parts
 *   that add up.
 * @total: @arenas + @huge + @raw.
 * @arenas: the arenas' committed bytes: @blocks_in_use + @blocks_free +
 *   @large + @overhead + @retained.
 * @blocks_in_use: pool blocks handed out (objects, rcgc_malloc blocks).
 * @blocks_free: pool blocks free, or not handed out yet, in pools in use.
 * @large: slices of large blocks (128 KiB to 32 MiB).
 * @overhead: arena headers (pool descriptors, slice maps) and pool tails
 *   too short for a block.
 * @retained: free slices kept committed to be reused soon.
 * @huge: huge blocks' own mappings.
 * @raw: rcgc's own bookkeeping from the C library (heaps, collector
 *   lists, tracer tables): the bytes it asked for.
 * @objects: with RCGC_ACCOUNT_OBJECTS, every live object (tracked or not,
 *   garbage not yet collected included); else 0.
 * @object_bytes: the blocks those objects occupy (part of
 *   @blocks_in_use, @large and @huge); by type: rcgc_most_common_types.
 */
typedef struct rcgc_memory_accounting {
    size_t total;
    size_t arenas, blocks_in_use, blocks_free, large, overhead, retained;
    size_t huge;
    size_t raw;
    size_t objects, object_bytes;
} rcgc_memory_accounting;

/* rcgc_memory_accounting_get flags: also count the live objects. */
#define RCGC_ACCOUNT_OBJECTS 1u

/**
 * rcgc_memory_accounting_get - Where rcgc's memory is: what to compare
 * with rcgc_process_memory_get's figures when resident memory grows (the
 * rest of the process is the host's own and its C library's).
 * @out: filled in.
 * @flags: 0, or RCGC_ACCOUNT_OBJECTS.
 *
 * Returns 0, or -1 with errno = ENOMEM (RCGC_ACCOUNT_OBJECTS only), @out
 * zeroed. The arenas' parts are read under one lock and add up exactly;
 * the three totals are read one after the other, so threads allocating
 * meanwhile may move @total by what they did between the reads.
 * Cost: walks every pool descriptor under the arenas' lock (tens of µs
 * per GiB of arenas); RCGC_ACCOUNT_OBJECTS adds a census of every live
 * object with the world stopped (about 12 ms per million objects).
 */
RCGC_API int rcgc_memory_accounting_get(rcgc_memory_accounting *out, unsigned flags);

/**
 * rcgc_print_memory_accounting - Print @accounting, one part per line,
 * each with its share of @total.
 * @stream: where to print.
 * @accounting: from rcgc_memory_accounting_get.
 *
 * Returns 0, or -1 when writing failed.
 */
RCGC_API int rcgc_print_memory_accounting(FILE *stream, const rcgc_memory_accounting *accounting);

/* ----------------------------------------------------------- Type counts */

/**
 * struct rcgc_type_count - live objects of one type.
 * @type: the type (types are told apart by address, shown by name).
 * @count: live objects of @type, tracked or not.
 * @bytes: the allocator's blocks they occupy.
 * @growth: rcgc_get_growth only: @count minus the count at the last call
 *   (the first call counts from zero).
 */
typedef struct rcgc_type_count {
    const rcgc_type *type;
    size_t count;
    size_t bytes;
    ptrdiff_t growth;
} rcgc_type_count;

/**
 * rcgc_most_common_types - The types with the most live objects.
 * @out: filled with up to @limit entries, most numerous first (ties by name).
 * @limit: room in @out.
 *
 * Counts every live object (rcgc_get_all_objects): untracked ones too,
 * and without a collection, so a leak of unreachable cycles shows up as
 * the growing count it is instead of being collected away.
 * Returns how many types have live objects (may exceed @limit), or -1
 * with errno = ENOMEM.
 * Thread safety: an attached thread. Cost: as rcgc_get_all_objects, plus
 *   a hash table of the types seen.
 */
RCGC_API ptrdiff_t rcgc_most_common_types(rcgc_type_count *out, size_t limit);

/**
 * rcgc_get_growth - The types whose live count grew since the last call
 * (of this function or rcgc_show_growth), most growth first.
 * @out: filled with up to @limit entries; @growth set.
 * @limit: room in @out.
 *
 * Returns how many types grew (may exceed @limit), or -1 with errno =
 * ENOMEM (the last counts are then kept for the next call).
 * Thread safety: an attached thread; calls are serialized.
 */
RCGC_API ptrdiff_t rcgc_get_growth(rcgc_type_count *out, size_t limit);

/**
 * rcgc_print_most_common_types, rcgc_show_growth - The two lists above as
 * objgraph prints them, one type per line ("pair    1204    +204"), at most
 * @limit lines. Return 0, or -1 with errno set.
 */
RCGC_API int rcgc_print_most_common_types(FILE *stream, size_t limit);
RCGC_API int rcgc_show_growth(FILE *stream, size_t limit);

/* ---------------------------------------------------------------- Graphs */

/**
 * struct rcgc_graph_options - what rcgc_show_refs and rcgc_show_backrefs
 * draw; a zeroed struct (or NULL) asks for the defaults.
 * @max_depth: how many references away from the given objects to go
 *   (0: 3, objgraph's default).
 * @too_many: at most this many references drawn from (or to) one object,
 *   the rest summed up in one "N more references" node (0: 10).
 * @filter: when not NULL, an object it returns false for is left out with
 *   everything reached only through it.
 * @label: when not NULL, writes an extra line for @obj's box into @buf
 *   (@size bytes, NUL-terminated); the type's name and address are always
 *   shown.
 * @arg: passed to @filter and @label.
 * @refcounts: also show each object's reference count.
 */
typedef struct rcgc_graph_options {
    unsigned max_depth;
    size_t too_many;
    bool (*filter)(rcgc_object *obj, void *arg);
    void (*label)(rcgc_object *obj, char *buf, size_t size, void *arg);
    void *arg;
    bool refcounts;
} rcgc_graph_options;

/**
 * rcgc_show_refs - Write, as a Graphviz DOT graph, the objects reachable
 * from @roots through traverse hooks, up to @options->max_depth away.
 * @roots: @count objects the caller holds references to; drawn highlighted.
 * @options: NULL for the defaults.
 * @dot: where the graph goes. To see it: dot -Tsvg refs.dot -o refs.svg
 *
 * Each object is one box (node "o<address in hex>", labelled with its
 * type's name and address), each reference one edge; objects are drawn
 * once however many paths reach them.
 * Returns the number of objects drawn, or -1 with errno = ENOMEM or as
 * set by a failed write.
 * Thread safety: an attached thread. Cost: one traverse per object drawn.
 */
RCGC_API ptrdiff_t rcgc_show_refs(rcgc_object *const *roots, size_t count,
                                  const rcgc_graph_options *options, FILE *dot);

/**
 * rcgc_show_backrefs - The same for the objects that refer to @roots,
 * to them in turn, and so on up to @options->max_depth: "who holds these?"
 * Every live object is a candidate referrer, tracked or not.
 * Cost: one rcgc_get_all_objects and one traverse of every live object per
 *   level of depth.
 */
RCGC_API ptrdiff_t rcgc_show_backrefs(rcgc_object *const *roots, size_t count,
                                      const rcgc_graph_options *options, FILE *dot);

/**
 * rcgc_find_backref_chain - The shortest chain of references from a root
 * to @obj: why is @obj alive?
 * @obj: an object the caller holds a reference to.
 * @is_root: whether an object is where the chain should start; NULL: an
 *   object held from outside the object graph (its count is higher than
 *   the references found in other objects, so the host's C code, a
 *   global or a stack holds it), which is what keeps a leak alive.
 * @arg: passed to @is_root.
 * @max_depth: how far to search (0: 20, objgraph's default).
 * @chain: filled with the chain, the root first and @obj last, each with a
 *   reference the caller drops with rcgc_decref.
 * @capacity: room in @chain; a longer chain is not searched for.
 *
 * Returns the chain's length (1 when @obj is itself a root), 0 when no root
 * is within reach, or -1 with errno = ENOMEM.
 * The caller's own reference to @obj is discounted (one) when @obj itself
 * is judged by the default @is_root. Counts of deferred objects include only
 * the caller's pending changes (rcgc_refcount), so other threads' pending
 * ones may make such an object look held from outside or not.
 * Thread safety and cost: as rcgc_show_backrefs, one level at a time.
 */
RCGC_API ptrdiff_t rcgc_find_backref_chain(rcgc_object *obj,
                                           bool (*is_root)(rcgc_object *obj, void *arg), void *arg,
                                           unsigned max_depth, rcgc_object **chain,
                                           size_t capacity);

/* ---------------------------------------------------- Allocation tracing
 *
 * tracemalloc for C hosts: while tracing, every block rcgc hands out (or a
 * sample of them) is recorded with where it was allocated until it is
 * freed; a snapshot groups what is live by site, and two snapshots compare.
 * Sites are file:line when the host is compiled with RCGC_TRACE_SITES
 * defined (the allocation calls below then pass __FILE__ and __LINE__),
 * and the innermost frames of the call stack outside rcgc (when rcgc is a
 * shared library; statically linked, the frames begin inside rcgc).
 *
 * Seen: rcgc_malloc, rcgc_calloc, rcgc_realloc (as a new block and the
 * old one freed; one resized in place is not seen), rcgc_aligned_alloc,
 * rcgc_free, rcgc_new and rcgc_new_var, librcgc-malloc.so's malloc
 * family. Not seen: objects reused from a type's free list (freelist_max).
 *
 * Cost while tracing every allocation: each allocation and free takes the
 * allocator's slow path and stores its record in a word the allocator
 * keeps beside the block (no lock, no shared table); one frame is free
 * when the host called rcgc_malloc (or malloc through librcgc-malloc.so)
 * itself, a deeper stack costs about two microseconds. Sampling: the fast
 * paths stay, and only samples pay (about 1 % at 512 KiB).
 * Not tracing: nothing.
 */

#define RCGC_TRACE_FRAMES_MAX 16
#define RCGC_TRACE_SAMPLE_DEFAULT ((size_t)512 << 10)

/**
 * struct rcgc_trace_options - how rcgc_trace_start traces; NULL or zeroed
 * fields mean: one frame, every allocation.
 * @frames: frames of each allocation's call stack to keep (0 to
 *   RCGC_TRACE_FRAMES_MAX; 0 keeps none, for hosts built with
 *   RCGC_TRACE_SITES, and costs least). rcgc_trace_start with NULL: 1.
 * @sample_bytes: 0 to trace every allocation; N to sample one allocation
 *   per N bytes handed out on average (the blocks' usable sizes; a
 *   Poisson process over bytes, as jemalloc's and tcmalloc's heap
 *   profilers; RCGC_TRACE_SAMPLE_DEFAULT is theirs), each sample standing
 *   for the bytes and allocations it represents, so sizes and counts are
 *   unbiased estimates. The allocator's fast paths stay: sampling costs
 *   about a sample's hook call and stack (docs/benchmarks.md).
 */
typedef struct rcgc_trace_options {
    unsigned frames;
    size_t sample_bytes;
} rcgc_trace_options;

/**
 * rcgc_trace_start - Start tracing allocations (tracemalloc.start).
 * @options: NULL for one frame, every allocation.
 * Returns 0, or -1 with errno = EBUSY when already tracing, EINVAL for
 * more than RCGC_TRACE_FRAMES_MAX frames. Blocks allocated before are not
 * traced. Thread safety: any thread.
 */
RCGC_API int rcgc_trace_start(const rcgc_trace_options *options);

/**
 * rcgc_trace_stop - Stop tracing and forget every trace (snapshots taken
 * stay valid). Any thread; not from inside an allocation hook.
 */
RCGC_API void rcgc_trace_stop(void);

/** rcgc_trace_is_tracing - Whether rcgc_trace_start is in effect. */
RCGC_API bool rcgc_trace_is_tracing(void);

/**
 * rcgc_trace_get_memory - The bytes of traced blocks alive now, and the
 * most there were since tracing started or rcgc_trace_reset_peak
 * (tracemalloc.get_traced_memory); estimates when sampling. Either pointer
 * may be NULL. Exact while one thread allocates; with several, each thread
 * adds its changes in once they pass 64 KiB (or at its exit, or when it
 * calls this), so both figures may be off by that much per thread running.
 */
RCGC_API void rcgc_trace_get_memory(size_t *current, size_t *peak);

/** rcgc_trace_reset_peak - Make the peak the current size (tracemalloc.reset_peak). */
RCGC_API void rcgc_trace_reset_peak(void);

/* Snapshots: the traced blocks alive at one moment, grouped by site. */
typedef struct rcgc_snapshot rcgc_snapshot;

/**
 * rcgc_trace_snapshot - What is traced now (tracemalloc.take_snapshot).
 * Returns the snapshot, to be freed with rcgc_snapshot_free, or NULL with
 * errno = ENOMEM, or EINVAL when not tracing. Thread safety: any thread;
 * allocations on other threads go on (blocks allocated or freed while it
 * is taken may be in it or not).
 */
RCGC_API rcgc_snapshot *rcgc_trace_snapshot(void);
RCGC_API void rcgc_snapshot_free(rcgc_snapshot *snapshot);

/* What statistics are grouped by (tracemalloc's key_type). */
enum rcgc_trace_key {
    RCGC_TRACE_BY_FILE,      /* the file (or without one, the first frame) */
    RCGC_TRACE_BY_LINE,      /* file:line (or without one, the first frame) */
    RCGC_TRACE_BY_TRACEBACK, /* file:line and every frame kept */
};

/**
 * struct rcgc_trace_stat - the traced blocks alive from one site (a
 * tracemalloc Statistic; a StatisticDiff after rcgc_snapshot_compare).
 * @file: the site's file, or NULL when the allocation gave none.
 * @line: its line (0 when grouped by file or when @file is NULL).
 * @frame_count: frames in @frames: all kept by traceback, else at most
 *   the first (and none when @file is set).
 * @frames: return addresses, innermost first (rcgc_trace_print_frame
 *   names one).
 * @size: bytes alive.
 * @count: blocks alive.
 * @size_diff, @count_diff: the change since the older snapshot
 *   (rcgc_snapshot_compare only, else 0).
 */
typedef struct rcgc_trace_stat {
    const char *file;
    int line;
    unsigned frame_count;
    void *frames[RCGC_TRACE_FRAMES_MAX];
    size_t size, count;
    ptrdiff_t size_diff, count_diff;
} rcgc_trace_stat;

/**
 * rcgc_snapshot_statistics - @snapshot grouped by @key, biggest first
 * (Snapshot.statistics).
 * @out: up to @limit entries.
 * Returns the number of groups (may exceed @limit), or -1 with errno =
 * ENOMEM.
 */
RCGC_API ptrdiff_t rcgc_snapshot_statistics(const rcgc_snapshot *snapshot, enum rcgc_trace_key key,
                                            rcgc_trace_stat *out, size_t limit);

/**
 * rcgc_snapshot_compare - @now against the older @before, grouped by
 * @key, the biggest change first (Snapshot.compare_to): groups in either,
 * with @size_diff and @count_diff set.
 * Returns the number of groups (may exceed @limit), or -1 with errno =
 * ENOMEM.
 */
RCGC_API ptrdiff_t rcgc_snapshot_compare(const rcgc_snapshot *now, const rcgc_snapshot *before,
                                         enum rcgc_trace_key key, rcgc_trace_stat *out,
                                         size_t limit);

/**
 * rcgc_snapshot_print - The top @limit groups of @now as tracemalloc
 * prints them ("demo.c:42: size=1.2 MiB, count=1000, average=1.2 KiB"),
 * or, when @before is not NULL, the top changes ("... (+1.2 MiB), count=
 * 1000 (+1000), ..."); by traceback, each group's frames follow on lines
 * of their own. Returns 0, or -1 with errno set.
 */
RCGC_API int rcgc_snapshot_print(FILE *stream, const rcgc_snapshot *now,
                                 const rcgc_snapshot *before, enum rcgc_trace_key key,
                                 size_t limit);

/**
 * rcgc_trace_print_frame - Name a return address: "function+0x1f
 * (libfoo.so)" when the symbol is known, else "program+0x41a2", the
 * offset addr2line -e program reads.
 */
RCGC_API int rcgc_trace_print_frame(FILE *stream, const void *frame);

/* The allocation calls with their caller's site, which RCGC_TRACE_SITES
 * makes of the plain ones. Outside tracing they cost two thread-local
 * stores over the plain call. */
RCGC_API RCGC_NODISCARD rcgc_object *rcgc_new_at(const rcgc_type *type, const char *file, int line);
RCGC_API RCGC_NODISCARD rcgc_object *rcgc_new_var_at(const rcgc_type *type, size_t size,
                                                     const char *file, int line);
RCGC_API RCGC_NODISCARD void *rcgc_malloc_at(size_t size, const char *file, int line);
RCGC_API RCGC_NODISCARD void *rcgc_calloc_at(size_t count, size_t size, const char *file, int line);
RCGC_API RCGC_NODISCARD void *rcgc_realloc_at(void *ptr, size_t size, const char *file, int line);

#ifdef RCGC_TRACE_SITES
#define rcgc_new(type) rcgc_new_at((type), __FILE__, __LINE__)
#define rcgc_new_var(type, size) rcgc_new_var_at((type), (size), __FILE__, __LINE__)
#define rcgc_malloc(size) rcgc_malloc_at((size), __FILE__, __LINE__)
#define rcgc_calloc(count, size) rcgc_calloc_at((count), (size), __FILE__, __LINE__)
#define rcgc_realloc(ptr, size) rcgc_realloc_at((ptr), (size), __FILE__, __LINE__)
#endif

/* ----------------------------------------------------------------- Report */

/**
 * rcgc_report_open - Write a report of this process to @path as it runs
 * (RCGC_REPORT=path does it from start to exit): JSON lines, flushed one
 * by one so a process killed at any moment leaves a usable file.
 * @path: the file, created or truncated.
 * @sample_interval_ms: between memory samples (0: 100); it doubles after
 *   every 1024 samples, which bounds the file (a day: about 1.5 MB).
 *
 * Lines: {"kind":"start",...}; {"kind":"sample","t":seconds,"rss":...,
 * "rss_anon":...,"swap":...,"traced":...,"collections":[g0,g1,g2]}; and at
 * rcgc_report_close {"kind":"exit",...} with process memory (USS
 * included), the allocator's bytes, each generation's statistics, pause
 * percentiles (p50, p90, p99 within 12.5 %, max), the garbage list's
 * length, the 50 types with most live objects and, when tracing, the 50
 * biggest allocation sites. tools/report-plot draws the samples as SVG.
 * Returns 0, or -1 with errno (EBUSY: a report is open; or from fopen).
 * Thread safety: any thread. Cost: a sampler thread waking each interval
 *   to read /proc/self/status; a collector callback per collection.
 */
RCGC_API int rcgc_report_open(const char *path, unsigned sample_interval_ms);

/**
 * rcgc_report_close - Write the exit record and close the report (at exit
 * when RCGC_REPORT opened it). Counting objects by type stops the world
 * (from an unattached thread too: it attaches for the count). Returns 0,
 * or -1 with errno = EINVAL when no report is open, or a write error.
 */
RCGC_API int rcgc_report_close(void);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_DEBUG_H */
