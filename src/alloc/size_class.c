/* src/alloc/size_class.c - the size classes and the size -> class tables.
 *
 * Shared: rcgc__class_of_small is a compile-time constant (the fast path
 * reads it with no ordering at all); rcgc__classes and the free secret are
 * filled once under pthread_once before any heap exists, and read only by
 * threads ordered after that (they attached a heap, or were handed a block
 * by one that did).
 *
 *  class:  0   1   2  ...  7  |  8   9  10  11 | 12  13  14  15 | ... | 47
 *  size:  16  32  48  ... 128 | 160 192 224 256 | 320 384 448 512 | ... | 128 KiB
 *         16-byte steps       | four per doubling: 2^k + j * 2^(k-2), j = 1..4
 */
#include "alloc/alloc_internal.h"

#include <sys/random.h>
#include <time.h>

struct class_info rcgc__classes[RCGC_CLASS_COUNT];
uintptr_t rcgc__free_secret;
/* Entry i is the class of size 16 * i, for sizes up to 1 KiB. A constant,
 * not filled at start: the malloc fast path reads it on a thread's very
 * first call, before any pthread_once could order a fill before the read.
 * tests/test_alloc.c checks every entry against rcgc__size_class_of(). */
const uint8_t rcgc__class_of_small[RCGC_SMALL_MAX / 16 + 1] = {
    0,  0,  1,  2,  3,  4,  5,  6,  7,  8,  8,  9,  9,  10, 10, 11, 11, 12, 12, 12, 12, 13,
    13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17,
    17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19,
};

static size_t block_size_of_class(unsigned size_class) {
    if (size_class < 8)
        return 16 * ((size_t)size_class + 1);
    unsigned group = (size_class - 8) / 4; /* the doubling 2^(7+group) .. 2^(8+group) */
    unsigned step = (size_class - 8) % 4 + 1;
    size_t base = (size_t)128 << group;
    return base + step * (base / 4);
}

unsigned rcgc__size_class_of(size_t size) {
    if (size <= 128)
        return size == 0 ? 0 : (unsigned)((size + 15) / 16 - 1);
    unsigned log2_floor = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
    size_t base = (size_t)1 << log2_floor; /* base < size <= 2 * base */
    size_t step = base / 4;
    unsigned j = (unsigned)((size - base + step - 1) / step); /* 1..4 */
    return 8 + (log2_floor - 7) * 4 + (j - 1);
}

/* Random per process, so a block's free cookie cannot be forged by data a
 * program stores in it; fixed before the first block is carved. */
static void choose_free_secret(void) {
    uintptr_t secret = 0;
    if (getrandom(&secret, sizeof secret, GRND_NONBLOCK) != (ssize_t)sizeof secret) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        secret = (uintptr_t)now.tv_nsec * 0x9e3779b97f4a7c15u ^ (uintptr_t)&now;
    }
    /* Bit 0 set: never 0, so a zeroed block is not "free". Bit 1 clear:
     * an encoded free-list link keeps bit 1 of its aligned pointers clear
     * (struct block's promise). */
    rcgc__free_secret = (secret | 1u) & ~(uintptr_t)2u;
}

static void fill_tables(void) {
    choose_free_secret();
    for (unsigned c = 0; c < RCGC_CLASS_COUNT; c++) {
        size_t block = block_size_of_class(c);
        size_t want = block * RCGC_POOL_MIN_BLOCKS;
        uint32_t span = (uint32_t)((want + RCGC_SLICE_SIZE - 1) / RCGC_SLICE_SIZE);
        rcgc__classes[c] = (struct class_info){
            .block_size = (uint32_t)block,
            .span = span,
            .capacity = (uint32_t)(span * RCGC_SLICE_SIZE / block),
        };
    }
}

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

void rcgc__size_class_init(void) { pthread_once(&tables_once, fill_tables); }

static_assert(RCGC_CLASS_COUNT == RCGC_ALLOC_CLASSES, "the public stats array has every class");
