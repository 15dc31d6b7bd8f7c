/* src/raw/stats.c - the raw layer's counters and their report.
 *
 * Shared with every thread: one relaxed atomic per counter. Layer 1 runs
 * once per mapping or raw block, beside a syscall or a libc call, so a
 * shared cache line here is noise; the per-thread counters STYLE asks for
 * belong to the hot layers above.
 */
#include "raw/raw_internal.h"

#include <inttypes.h>
#include <stdatomic.h>

static _Atomic uint64_t counters[RAW_COUNTER_COUNT];

void rcgc__raw_count(enum rcgc_raw_counter counter, int64_t delta) {
    /* Unsigned wrap-around makes a negative delta a subtraction. */
    atomic_fetch_add_explicit(&counters[counter], (uint64_t)delta, memory_order_relaxed);
}

void rcgc_raw_stats(struct rcgc_raw_stats *out) {
#define RCGC_RAW_SNAPSHOT(name, doc)                                                               \
    out->name = atomic_load_explicit(&counters[RAW_COUNTER_##name], memory_order_relaxed);
    RCGC_RAW_COUNTERS(RCGC_RAW_SNAPSHOT)
#undef RCGC_RAW_SNAPSHOT
}

void rcgc_print_raw_stats(FILE *stream) {
    struct rcgc_raw_stats stats;
    rcgc_raw_stats(&stats);
    fprintf(stream, "rcgc raw layer (page size %zu B)\n", rcgc_page_size());
#define RCGC_RAW_PRINT(name, doc)                                                                  \
    fprintf(stream, "  %-16s %16" PRIu64 "  # %s\n", #name, stats.name, doc);
    RCGC_RAW_COUNTERS(RCGC_RAW_PRINT)
#undef RCGC_RAW_PRINT
}

void rcgc__raw_check_counters(void) {
    struct rcgc_raw_stats stats;
    rcgc_raw_stats(&stats);
    if (stats.bytes_committed > stats.bytes_mapped)
        rcgc__fatal("rcgc: raw counters broken (R1): %" PRIu64 " B committed > %" PRIu64
                    " B mapped",
                    stats.bytes_committed, stats.bytes_mapped);
}
