/* src/gc/barrier.c - the old-generation barrier: while a full collection
 * runs in increments (increments.c), every increment of a candidate's
 * count marks the candidate dirty, so that the collector learns of the
 * references made after it read a count or scanned a referrer.
 *
 * The candidates are generation 2's table slots [0, end). Dirty bits are
 * kept by slot, one bit a candidate, with a summary bit per 64-bit word so
 * that an increment finds the words that changed without reading the whole
 * map (512 KiB at 4 M candidates; its summary, 8 KiB).
 *
 * Shared: the bitmaps' words (C11 atomics: any thread sets bits with a
 * fetch-or, and only when the bit is clear, so a hot object pays one
 * atomic per collection). The collector reads and clears them, allocates
 * and frees the maps, and moves `end`, only with the world stopped; the
 * stop's handshake orders those writes before any thread's next barrier.
 *
 * Invariant, checked at every increment when RCGC_CHECKS >= 2
 * (increments.c):
 *   B1  a candidate whose count is above the one the collection read for
 *       it is dirty (only increments raise a count, and each one of a
 *       candidate passes through rcgc_gc_barrier_slow)
 */
#include "gc/gc_barrier.h"

#include <rcgc/raw.h>

_Static_assert(RCGC_GC_OLD_BITS == (GEN_OLD << OBJ_GEN_SHIFT) && RCGC_GC_GEN_BITS == OBJ_GEN_MASK,
               "rcgc/object.h's barrier test must name generation 2's bits");

_Atomic uint8_t rcgc_gc_barrier;

static struct {
    void *maps;                /* one block: dirty, then summary */
    _Atomic uint64_t *dirty;   /* one bit per candidate slot */
    _Atomic uint64_t *summary; /* one bit per word of dirty that gained a bit */
    _Atomic uint32_t end;      /* slots at or past it are not candidates */
    uint32_t words;            /* of dirty */
    _Atomic bool untracks_dirty;
} barrier;

static inline uint32_t words_for(uint32_t bits) { return (bits + 63) / 64; }

bool rcgc__gc_barrier_raise_stopped(uint32_t end) {
    rcgc_assert_stopped();
    rcgc_assert(barrier.maps == NULL);
    uint32_t words = words_for(end > 0 ? end : 1);
    barrier.maps = rcgc_raw_calloc((size_t)words + words_for(words), sizeof(uint64_t));
    if (barrier.maps == NULL)
        return false;
    barrier.dirty = barrier.maps;
    barrier.summary = barrier.dirty + words;
    barrier.words = words;
    atomic_store_explicit(&barrier.end, end, memory_order_relaxed);
    atomic_store_explicit(&barrier.untracks_dirty, false, memory_order_relaxed);
    atomic_store_explicit(&rcgc_gc_barrier, 1, memory_order_relaxed);
    return true;
}

void rcgc__gc_barrier_lower_stopped(void) {
    rcgc_assert_stopped();
    atomic_store_explicit(&rcgc_gc_barrier, 0, memory_order_relaxed);
    atomic_store_explicit(&barrier.end, 0, memory_order_relaxed);
    rcgc_raw_free(barrier.maps);
    barrier.maps = NULL;
    barrier.dirty = barrier.summary = NULL;
    barrier.words = 0;
}

void rcgc__gc_barrier_limit_stopped(uint32_t end, bool untracks_dirty) {
    rcgc_assert_stopped();
    rcgc_assert(end <= barrier.words * 64);
    atomic_store_explicit(&barrier.end, end, memory_order_relaxed);
    atomic_store_explicit(&barrier.untracks_dirty, untracks_dirty, memory_order_relaxed);
}

static inline void set_dirty(uint32_t slot) {
    _Atomic uint64_t *word = &barrier.dirty[slot / 64];
    uint64_t bit = (uint64_t)1 << (slot % 64);
    if ((atomic_load_explicit(word, memory_order_relaxed) & bit) != 0)
        return;
    if ((atomic_fetch_or_explicit(word, bit, memory_order_relaxed) & bit) == 0)
        atomic_fetch_or_explicit(&barrier.summary[slot / 4096], (uint64_t)1 << (slot / 64 % 64),
                                 memory_order_relaxed);
}

void rcgc_gc_barrier_slow(rcgc_object *obj) {
    if (gc_gen_of(gc_flags_load(obj)) != GEN_OLD)
        return;
    uint32_t slot = atomic_load_explicit(&obj->ob_gc_slot, memory_order_relaxed);
    if (slot < atomic_load_explicit(&barrier.end, memory_order_relaxed))
        set_dirty(slot);
}

static void dirty_visit(rcgc_object *referent, void *arg) {
    (void)arg;
    if (referent != NULL)
        rcgc_gc_barrier_check(referent);
}

void rcgc__gc_barrier_untracking_slow(rcgc_object *obj) {
    if (atomic_load_explicit(&barrier.untracks_dirty, memory_order_relaxed) &&
        atomic_load_explicit(&obj->ob_gc_slot, memory_order_relaxed) <
            atomic_load_explicit(&barrier.end, memory_order_relaxed) &&
        obj->ob_type->traverse != NULL)
        obj->ob_type->traverse(obj, dirty_visit, NULL);
}

void rcgc__gc_barrier_clear_stopped(uint32_t slot) {
    _Atomic uint64_t *word = &barrier.dirty[slot / 64];
    atomic_store_explicit(
        word, atomic_load_explicit(word, memory_order_relaxed) & ~((uint64_t)1 << (slot % 64)),
        memory_order_relaxed);
}

bool rcgc__gc_barrier_is_dirty(uint32_t slot) {
    return (atomic_load_explicit(&barrier.dirty[slot / 64], memory_order_relaxed) &
            ((uint64_t)1 << (slot % 64))) != 0;
}

void rcgc__gc_barrier_drain_stopped(void (*visit)(uint32_t slot, void *arg), void *arg) {
    rcgc_assert_stopped();
    uint32_t end = atomic_load_explicit(&barrier.end, memory_order_relaxed);
    for (uint32_t s = 0; s < words_for(barrier.words); s++) {
        uint64_t changed = atomic_load_explicit(&barrier.summary[s], memory_order_relaxed);
        if (changed == 0)
            continue;
        atomic_store_explicit(&barrier.summary[s], 0, memory_order_relaxed);
        for (; changed != 0; changed &= changed - 1) {
            uint32_t w = s * 64 + (uint32_t)__builtin_ctzll(changed);
            for (uint64_t bits = atomic_load_explicit(&barrier.dirty[w], memory_order_relaxed);
                 bits != 0; bits &= bits - 1) {
                uint32_t slot = w * 64 + (uint32_t)__builtin_ctzll(bits);
                if (slot < end)
                    visit(slot, arg);
            }
        }
    }
}
