/* src/gc/object_list.c - objects listed with the world stopped, each held
 * by a reference, and handed to the host's visitor after the restart
 * (gc_internal.h: struct gc_object_list).
 *
 * Owned by the listing thread; shares nothing.
 */
#include "gc/gc_internal.h"

#include <rcgc/raw.h>

#include <errno.h>

void rcgc__gc_list_add(struct gc_object_list *list, rcgc_object *obj) {
    if (list->failed)
        return;
    if (list->length == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 256;
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of object pointers
        rcgc_object **grown = rcgc_raw_realloc(list->items, capacity * sizeof(rcgc_object *));
        if (grown == NULL) {
            list->failed = true;
            return;
        }
        list->items = grown;
        list->capacity = capacity;
    }
    rcgc_incref(obj);
    list->items[list->length++] = obj;
}

/* After the restart: visit until the visitor says stop, drop the
 * references, free the list. */
ptrdiff_t rcgc__gc_list_deliver(struct gc_object_list *list, rcgc_walk_fn visit, void *arg) {
    size_t visited = 0;
    if (!list->failed)
        while (visited < list->length && visit(list->items[visited++], arg) == 0) {
        }
    for (size_t i = 0; i < list->length; i++)
        rcgc_decref(list->items[i]);
    rcgc_raw_free(list->items);
    if (list->failed) {
        errno = ENOMEM;
        return -1;
    }
    return (ptrdiff_t)visited;
}
