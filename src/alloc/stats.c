/* src/alloc/stats.c - the allocator's statistics and their report, laid out
 * as CPython's sys._debugmallocstats().
 *
 * Reads shared state only: every pool descriptor in use, once, under
 * arena_mutex (arena.c), and the heaps' counters with relaxed loads. Pools
 * other threads are using may be a few blocks off; the totals are exact
 * when the process is quiet.
 */
#include "alloc/alloc_internal.h"

#include <inttypes.h>
#include <string.h>

static void add_pool(const struct pool *pool, void *arg) {
    struct rcgc_alloc_stats *out = arg;
    uint32_t used = atomic_load_explicit(&pool->used, memory_order_relaxed);
    uint64_t slices = (uint64_t)pool->span * RCGC_SLICE_SIZE;
    if (atomic_load_explicit(&pool->kind, memory_order_relaxed) == POOL_LARGE) {
        out->large_blocks++;
        out->large_bytes += pool->block_size;
        out->bytes_large_pools += slices;
        return;
    }
    struct rcgc_alloc_class_stats *c = &out->classes[pool->size_class];
    c->pools++;
    c->blocks_in_use += used;
    c->blocks_free += pool->capacity - used;
    out->bytes_small_pools += slices;
    out->bytes_small_slack += slices - (uint64_t)pool->capacity * pool->block_size;
}

void rcgc_alloc_stats(struct rcgc_alloc_stats *out) {
    memset(out, 0, sizeof *out);
    rcgc__size_class_init();
    for (unsigned c = 0; c < RCGC_CLASS_COUNT; c++)
        out->classes[c].block_size = rcgc__classes[c].block_size;
    struct arena_bytes arena;
    rcgc__arena_foreach_pool(add_pool, out, &arena);
    out->bytes_arena_headers = arena.headers;
    out->bytes_retained = arena.retained;
    out->bytes_arenas = arena.headers + arena.pools + arena.retained;
    rcgc__arena_counts(&out->arenas, &out->arenas_total);
    rcgc__huge_counts(&out->huge_blocks, &out->huge_bytes);
    struct rcgc_raw_stats raw;
    rcgc_raw_stats(&raw);
    out->bytes_mapped = raw.bytes_mapped;
    out->bytes_committed = raw.bytes_committed;
    uint64_t counters[ALLOC_COUNTER_COUNT];
    rcgc__heap_counters(counters);
    out->pools_taken = counters[ALLOC_COUNTER_pools_taken];
    out->pools_released = counters[ALLOC_COUNTER_pools_released];
    out->pools_adopted = counters[ALLOC_COUNTER_pools_adopted];
    out->frees_remote = counters[ALLOC_COUNTER_frees_remote];
}

static void print_total(FILE *stream, const char *name, uint64_t value) {
    fprintf(stream, "# %-34s = %15" PRIu64 "\n", name, value);
}

void rcgc_print_alloc_stats(FILE *stream) {
    struct rcgc_alloc_stats stats;
    rcgc_alloc_stats(&stats);
    fprintf(stream, "Small block threshold = %zu, in %d size classes.\n\n",
            (size_t)RCGC_POOL_BLOCK_MAX, RCGC_ALLOC_CLASSES);
    fprintf(stream, "class   size   num pools   blocks in use  avail blocks\n");
    fprintf(stream, "-----   ----   ---------   -------------  ------------\n");
    uint64_t bytes_used = 0, bytes_free = 0;
    for (unsigned c = 0; c < RCGC_ALLOC_CLASSES; c++) {
        const struct rcgc_alloc_class_stats *k = &stats.classes[c];
        if (k->pools == 0)
            continue;
        fprintf(stream, "%5u %6" PRIu64 " %11" PRIu64 " %15" PRIu64 " %13" PRIu64 "\n", c,
                k->block_size, k->pools, k->blocks_in_use, k->blocks_free);
        bytes_used += k->blocks_in_use * k->block_size;
        bytes_free += k->blocks_free * k->block_size;
    }
    fputc('\n', stream);
    print_total(stream, "arenas allocated total", stats.arenas_total);
    print_total(stream, "arenas currently allocated", stats.arenas);
    print_total(stream, "bytes in allocated blocks", bytes_used);
    print_total(stream, "bytes in available blocks", bytes_free);
    print_total(stream, "large blocks (128 KiB - 32 MiB)", stats.large_blocks);
    print_total(stream, "bytes in large blocks", stats.large_bytes);
    print_total(stream, "huge blocks (own mapping)", stats.huge_blocks);
    print_total(stream, "bytes in huge blocks", stats.huge_bytes);
    print_total(stream, "bytes mapped", stats.bytes_mapped);
    print_total(stream, "bytes committed", stats.bytes_committed);
    print_total(stream, "bytes committed in arenas", stats.bytes_arenas);
    print_total(stream, "  in arena headers", stats.bytes_arena_headers);
    print_total(stream, "  in pools of blocks", stats.bytes_small_pools);
    print_total(stream, "    in pool tails", stats.bytes_small_slack);
    print_total(stream, "  in large blocks' slices", stats.bytes_large_pools);
    print_total(stream, "  in free slices retained", stats.bytes_retained);
    print_total(stream, "pools taken from arenas", stats.pools_taken);
    print_total(stream, "pools released to arenas", stats.pools_released);
    print_total(stream, "pools adopted from exited threads", stats.pools_adopted);
    print_total(stream, "blocks freed by other threads", stats.frees_remote);
}
