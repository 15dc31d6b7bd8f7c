/* stress/stress_raw.c - layer 1 under many threads: raw blocks allocated,
 * resized, handed to other threads and freed; aligned mappings made,
 * decommitted, recommitted and released; failure injection switched on and
 * off while all of that runs.
 *
 * Checks: every block keeps its pattern wherever it travels; decommitted
 * ranges read as zero; every NULL seen is an injected failure (the count of
 * NULLs equals the faults_injected counter); at the end the counters are back
 * where they started, so nothing was lost or counted twice.
 */
#include "raw/raw_internal.h"
#include "stress_common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BLOCKS_PER_THREAD 64
#define MAPS_PER_THREAD 4
#define EXCHANGE_SLOTS 16

/* A raw block starts with its own description, so whoever holds it can
 * check it: bytes [16, size) hold (tag + i) truncated to a byte. */
struct block_header {
    uint64_t size;
    uint64_t tag;
};

struct mapping {
    unsigned char *addr;
    size_t size;
    uint64_t tag;
};

static _Atomic(struct block_header *) exchange[EXCHANGE_SLOTS];
static _Atomic uint64_t nulls_seen;

static void fill_block(struct block_header *block, size_t size, uint64_t tag) {
    block->size = size;
    block->tag = tag;
    unsigned char *bytes = (unsigned char *)block;
    for (size_t i = sizeof *block; i < size; i++)
        bytes[i] = (unsigned char)(tag + i);
}

static void check_block(const struct block_header *block, size_t keep, const char *where) {
    const unsigned char *bytes = (const unsigned char *)block;
    for (size_t i = sizeof *block; i < keep; i++)
        if (bytes[i] != (unsigned char)(block->tag + i)) {
            stress_fail("%s: block %p byte %zu is %u, expected %u", where, (const void *)block, i,
                        bytes[i], (unsigned char)(block->tag + i));
            return;
        }
}

static void note_null(const char *what) {
    if (errno != ENOMEM)
        stress_fail("%s returned NULL with errno %d, not ENOMEM", what, errno);
    atomic_fetch_add_explicit(&nulls_seen, 1, memory_order_relaxed);
}

static void block_step(struct block_header **blocks, uint64_t *rng) {
    unsigned slot = (unsigned)stress_below(rng, BLOCKS_PER_THREAD);
    struct block_header *block = blocks[slot];
    size_t size = sizeof(struct block_header) + (size_t)stress_below(rng, 2048);
    uint64_t tag = stress_next(rng);
    switch (stress_below(rng, 4)) {
    case 0: /* free, or allocate into an empty slot */
        if (block != NULL) {
            check_block(block, block->size, "free");
            rcgc_raw_free(block);
            blocks[slot] = NULL;
        } else if ((block = rcgc_raw_malloc(size)) == NULL) {
            note_null("rcgc_raw_malloc");
        } else {
            fill_block(block, size, tag);
            blocks[slot] = block;
        }
        break;
    case 1: /* calloc must hand out zeros even when it reuses memory */
        if (block == NULL) {
            unsigned char *zeroed = rcgc_raw_calloc(1, size);
            if (zeroed == NULL) {
                note_null("rcgc_raw_calloc");
                break;
            }
            for (size_t i = 0; i < size; i++)
                if (zeroed[i] != 0) {
                    stress_fail("calloc byte %zu of %zu is %u", i, size, zeroed[i]);
                    break;
                }
            fill_block((struct block_header *)zeroed, size, tag);
            blocks[slot] = (struct block_header *)zeroed;
        }
        break;
    case 2: /* realloc keeps the common prefix, or keeps the block on failure */
        if (block != NULL) {
            size_t old_size = block->size;
            struct block_header *moved = rcgc_raw_realloc(block, size);
            if (moved == NULL) {
                note_null("rcgc_raw_realloc");
                check_block(block, old_size, "failed realloc");
                break;
            }
            check_block(moved, old_size < size ? old_size : size, "realloc");
            fill_block(moved, size, tag);
            blocks[slot] = moved;
        }
        break;
    default: /* hand the block to whichever thread takes this slot next */
        if (block != NULL) {
            unsigned shared = (unsigned)stress_below(rng, EXCHANGE_SLOTS);
            /* acq_rel: release publishes our fill to the next taker; acquire
             * makes the previous depositor's fill visible to our check. */
            struct block_header *taken =
                atomic_exchange_explicit(&exchange[shared], block, memory_order_acq_rel);
            if (taken != NULL)
                check_block(taken, taken->size, "handed over");
            blocks[slot] = taken;
        }
        break;
    }
}

static void map_step(struct mapping *maps, uint64_t *rng) {
    struct mapping *map = &maps[stress_below(rng, MAPS_PER_THREAD)];
    size_t page = rcgc_page_size();
    if (map->addr == NULL) {
        size_t size = page * (1 + (size_t)stress_below(rng, 64));
        size_t alignment = page << stress_below(rng, 11); /* up to 4 MiB with 4 KiB pages */
        map->addr =
            rcgc__raw_map(size, alignment, stress_below(rng, 4) == 0 ? RCGC_RAW_MAP_HUGE : 0);
        if (map->addr == NULL) {
            note_null("rcgc__raw_map");
            return;
        }
        if ((uintptr_t)map->addr % alignment != 0)
            stress_fail("mapping %p not aligned to %zu", (void *)map->addr, alignment);
        map->size = size;
        map->tag = stress_next(rng);
        for (size_t at = 0; at < size; at += page)
            map->addr[at] = (unsigned char)(map->tag + at / page);
        return;
    }
    size_t pages = map->size / page;
    for (size_t p = 0; p < pages; p++)
        if (map->addr[p * page] != (unsigned char)(map->tag + p)) {
            stress_fail("mapping %p page %zu lost its byte", (void *)map->addr, p);
            return;
        }
    if (stress_below(rng, 2) == 0) {
        rcgc__raw_unmap(map->addr, map->size, 0);
        map->addr = NULL;
        return;
    }
    size_t first = (size_t)stress_below(rng, pages);
    size_t count = 1 + (size_t)stress_below(rng, pages - first);
    unsigned char *range = map->addr + first * page;
    rcgc__raw_decommit(range, count * page);
    for (size_t p = 0; p < count; p++)
        if (range[p * page] != 0)
            stress_fail("decommitted page %p does not read zero", (void *)(range + p * page));
    rcgc__raw_recommit(range, count * page);
    for (size_t p = first; p < first + count; p++)
        map->addr[p * page] = (unsigned char)(map->tag + p);
}

static void worker(unsigned index, uint64_t seed, void *arg) {
    (void)arg;
    uint64_t rng = seed;
    struct block_header *blocks[BLOCKS_PER_THREAD] = {0};
    struct mapping maps[MAPS_PER_THREAD] = {{0}};
    for (uint64_t step = 0; stress_running(); step++) {
        if (index == 0 && step % 997 == 0) {
            if (stress_below(&rng, 2) == 0)
                rcgc_fault_inject((unsigned)(1 + stress_below(&rng, 3)), stress_below(&rng, 50),
                                  1 + stress_below(&rng, 20));
            else
                rcgc_fault_clear();
        }
        if (stress_below(&rng, 16) == 0)
            map_step(maps, &rng);
        else
            block_step(blocks, &rng);
    }
    for (unsigned i = 0; i < BLOCKS_PER_THREAD; i++)
        if (blocks[i] != NULL) {
            check_block(blocks[i], blocks[i]->size, "final free");
            rcgc_raw_free(blocks[i]);
        }
    for (unsigned i = 0; i < MAPS_PER_THREAD; i++)
        if (maps[i].addr != NULL)
            rcgc__raw_unmap(maps[i].addr, maps[i].size, 0);
}

int main(int argc, char **argv) {
    struct stress_options options = stress_parse(argc, argv, "stress_raw", NULL);
    struct rcgc_raw_stats before;
    rcgc_raw_stats(&before);

    stress_run(&options, worker, NULL);
    rcgc_fault_clear();
    for (unsigned i = 0; i < EXCHANGE_SLOTS; i++) {
        struct block_header *left = atomic_exchange(&exchange[i], NULL);
        if (left != NULL) {
            check_block(left, left->size, "left in exchange");
            rcgc_raw_free(left);
        }
    }

    struct rcgc_raw_stats after;
    rcgc_raw_stats(&after);
    rcgc__raw_check_counters();
    uint64_t nulls = atomic_load(&nulls_seen);
    if (after.bytes_mapped != before.bytes_mapped ||
        after.bytes_committed != before.bytes_committed)
        stress_fail(
            "mapped/committed went from %llu/%llu to %llu/%llu B",
            (unsigned long long)before.bytes_mapped, (unsigned long long)before.bytes_committed,
            (unsigned long long)after.bytes_mapped, (unsigned long long)after.bytes_committed);
    if (after.mallocs - after.frees != before.mallocs - before.frees)
        stress_fail("%lld raw blocks unaccounted for",
                    (long long)((after.mallocs - after.frees) - (before.mallocs - before.frees)));
    if (nulls != after.faults_injected - before.faults_injected)
        stress_fail("%llu NULLs seen but %llu failures injected", (unsigned long long)nulls,
                    (unsigned long long)(after.faults_injected - before.faults_injected));
    printf("stress_raw: %llu raw allocations, %llu mappings, %llu injected failures handled\n",
           (unsigned long long)(after.mallocs - before.mallocs),
           (unsigned long long)(after.maps - before.maps), (unsigned long long)nulls);
    return stress_finish("stress_raw");
}
