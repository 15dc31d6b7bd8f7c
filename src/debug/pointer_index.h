/* src/debug/pointer_index.h - a scratch map from addresses (objects,
 * types) to small integers, for the debug layer's one-thread passes over
 * the heap: which entry of a table an object or type already has.
 *
 * Open addressing with linear probing in raw memory, never shrinking,
 * freed whole. Why not ck_hs: it stores pointers to stable elements and
 * is built for concurrent readers; these maps have one thread, integer
 * values and a lifetime of one call.
 */
#ifndef RCGC_DEBUG_POINTER_INDEX_H
#define RCGC_DEBUG_POINTER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pointer_index {
    const void **keys; /* NULL: empty slot */
    uint32_t *values;
    size_t mask; /* slots - 1; 0 before the first put */
    size_t used;
};

/* The value of @key, or UINT32_MAX when absent. */
uint32_t pointer_index_get(const struct pointer_index *index, const void *key);

/* Map @key (not NULL) to @value, replacing any value it had; 0, or -1 with
 * errno = ENOMEM (the index is unchanged). */
int pointer_index_put(struct pointer_index *index, const void *key, uint32_t value);

void pointer_index_free(struct pointer_index *index);

#endif /* RCGC_DEBUG_POINTER_INDEX_H */
