/* src/debug/pointer_index.c - the debug layer's scratch address map
 * (pointer_index.h). Owned by one thread; shares nothing. */
#include "debug/pointer_index.h"

#include <rcgc/raw.h>

#include <errno.h>

static size_t slot_of(const struct pointer_index *index, const void *key) {
    /* Objects and types are at least 8-byte aligned: mix the bits above. */
    uint64_t h = ((uint64_t)(uintptr_t)key >> 3) * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h ^ (h >> 31)) & index->mask;
}

uint32_t pointer_index_get(const struct pointer_index *index, const void *key) {
    if (index->mask == 0)
        return UINT32_MAX;
    for (size_t slot = slot_of(index, key);; slot = (slot + 1) & index->mask) {
        if (index->keys[slot] == key)
            return index->values[slot];
        if (index->keys[slot] == NULL)
            return UINT32_MAX;
    }
}

static void put_new(struct pointer_index *index, const void *key, uint32_t value) {
    size_t slot = slot_of(index, key);
    while (index->keys[slot] != NULL && index->keys[slot] != key)
        slot = (slot + 1) & index->mask;
    index->used += index->keys[slot] == NULL;
    index->keys[slot] = key;
    index->values[slot] = value;
}

/* Double the slots (at least 64) and re-insert; -1 on ENOMEM. */
static int grow(struct pointer_index *index) {
    size_t slots = index->mask == 0 ? 64 : (index->mask + 1) * 2;
    struct pointer_index grown = {
        .keys = rcgc_raw_calloc(slots, sizeof(const void *)),
        .values = rcgc_raw_malloc(slots * sizeof(uint32_t)),
        .mask = slots - 1,
    };
    if (grown.keys == NULL || grown.values == NULL) {
        pointer_index_free(&grown);
        errno = ENOMEM;
        return -1;
    }
    for (size_t slot = 0; index->mask != 0 && slot <= index->mask; slot++)
        if (index->keys[slot] != NULL)
            put_new(&grown, index->keys[slot], index->values[slot]);
    pointer_index_free(index);
    *index = grown;
    return 0;
}

int pointer_index_put(struct pointer_index *index, const void *key, uint32_t value) {
    /* Kept at most half full, so probes stay short. */
    if ((index->used + 1) * 2 > index->mask + 1 && grow(index) != 0)
        return -1;
    put_new(index, key, value);
    return 0;
}

void pointer_index_free(struct pointer_index *index) {
    rcgc_raw_free((void *)index->keys);
    rcgc_raw_free(index->values);
    *index = (struct pointer_index){0};
}
