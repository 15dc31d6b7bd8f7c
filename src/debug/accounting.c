/* src/debug/accounting.c - rcgc's own memory in parts that add up
 * (rcgc/debug.h, rcgc_memory_accounting_get): the arenas' parts from the
 * allocator's statistics, huge mappings, the raw layer's bytes, and on
 * demand the live objects.
 *
 * Shares nothing: every figure is read through the layers' own snapshot
 * calls, which take their locks.
 */
#include "alloc/alloc_walk.h"

#include <rcgc/alloc.h>
#include <rcgc/debug.h>
#include <rcgc/raw.h>

#include <inttypes.h>
#include <string.h>

static int count_object(rcgc_object *obj, void *arg) {
    rcgc_memory_accounting *out = arg;
    out->objects++;
    out->object_bytes += rcgc__alloc_block_size(obj);
    return 0;
}

int rcgc_memory_accounting_get(rcgc_memory_accounting *out, unsigned flags) {
    memset(out, 0, sizeof *out);
    if ((flags & RCGC_ACCOUNT_OBJECTS) != 0 && rcgc_get_all_objects(count_object, out) < 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    struct rcgc_alloc_stats stats;
    rcgc_alloc_stats(&stats);
    for (unsigned c = 0; c < RCGC_ALLOC_CLASSES; c++) {
        out->blocks_in_use += stats.classes[c].blocks_in_use * stats.classes[c].block_size;
        out->blocks_free += stats.classes[c].blocks_free * stats.classes[c].block_size;
    }
    out->large = stats.bytes_large_pools;
    out->overhead = stats.bytes_arena_headers + stats.bytes_small_slack;
    out->retained = stats.bytes_retained;
    out->arenas = stats.bytes_arenas;
    out->huge = stats.huge_bytes;
    struct rcgc_raw_stats raw;
    rcgc_raw_stats(&raw);
    out->raw = raw.bytes_allocated;
    out->total = out->arenas + out->huge + out->raw;
    return 0;
}

int rcgc_print_memory_accounting(FILE *stream, const rcgc_memory_accounting *accounting) {
    const struct {
        const char *name;
        size_t bytes;
    } parts[] = {
        {"arenas (committed)", accounting->arenas},
        {"  pool blocks in use", accounting->blocks_in_use},
        {"  pool blocks free", accounting->blocks_free},
        {"  large blocks", accounting->large},
        {"  headers and pool tails", accounting->overhead},
        {"  free slices retained", accounting->retained},
        {"huge blocks", accounting->huge},
        {"rcgc's own bookkeeping", accounting->raw},
    };
    int failed = fprintf(stream, "rcgc memory: %zu B\n", accounting->total) < 0;
    double total = accounting->total > 0 ? (double)accounting->total : 1.0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        failed |= fprintf(stream, "  %-26s %14zu B %5.1f %%\n", parts[i].name, parts[i].bytes,
                          100.0 * (double)parts[i].bytes / total) < 0;
    if (accounting->objects > 0)
        failed |= fprintf(stream, "  live objects: %zu in %zu B of pool, large and huge blocks\n",
                          accounting->objects, accounting->object_bytes) < 0;
    return failed ? -1 : 0;
}
