/* rcgc/debug.h - tools for hunting leaks in a host: the process's memory
 * as the kernel counts it (psutil's memory_info and memory_full_info).
 *
 * Purpose: "my host's memory grows" starts with two numbers taken before
 * and after the suspect work: resident memory, and the memory only this
 * process holds (USS), which is what freeing objects can give back.
 *
 * Thread model: any thread, attached or not; nothing is shared.
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

#include <stddef.h>

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

#ifdef __cplusplus
}
#endif

#endif /* RCGC_DEBUG_H */
