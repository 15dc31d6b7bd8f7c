/* examples/model/list.c - list: a growable array of references. The items
 * live in a separate block (rcgc_realloc), as CPython's ob_item does, so
 * the list object itself keeps its address and size while it grows. */
#include "model.h"

#include <errno.h>

struct model_list {
    rcgc_object head;
    rcgc_object **items;
    size_t length, capacity;
};

static void list_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    const struct model_list *list = (const struct model_list *)self;
    for (size_t i = 0; i < list->length; i++)
        if (list->items[i] != NULL)
            visit(list->items[i], arg);
}

/* Drops every item; the last drop may run code that reaches this list
 * again (a finalizer, a death hook), so each slot is emptied before its
 * item is dropped and the length is read again each time. */
static void list_clear(rcgc_object *self) {
    struct model_list *list = (struct model_list *)self;
    while (list->length > 0) {
        rcgc_object *item = list->items[--list->length];
        list->items[list->length] = NULL;
        rcgc_xdecref(item);
    }
}

static void list_release(rcgc_object *self) {
    struct model_list *list = (struct model_list *)self;
    rcgc_free(list->items);
    list->items = NULL;
    list->capacity = 0;
    model_count_release(self);
}

model_class model_list_class = {.type = {.name = "list",
                                         .size = sizeof(struct model_list),
                                         .flags = RCGC_TYPE_GC,
                                         .traverse = list_traverse,
                                         .clear = list_clear,
                                         .release = list_release,
                                         .freelist_max = 64}};

rcgc_object *model_list_new(void) {
    rcgc_object *list = rcgc_new(&model_list_class.type);
    if (list != NULL)
        atomic_fetch_add_explicit(&model_list_class.made, 1, memory_order_relaxed);
    return list;
}

size_t model_list_len(const rcgc_object *list) { return ((const struct model_list *)list)->length; }

rcgc_object *model_list_get(const rcgc_object *list, size_t index) {
    const struct model_list *l = (const struct model_list *)list;
    return index < l->length ? l->items[index] : NULL;
}

int model_list_append(rcgc_object *list, rcgc_object *item) {
    struct model_list *l = (struct model_list *)list;
    if (l->length == l->capacity) {
        size_t capacity = l->capacity < 4 ? 4 : l->capacity + l->capacity / 2;
        rcgc_object **items = rcgc_realloc(l->items, capacity * sizeof *items);
        if (items == NULL)
            return -1; /* errno = ENOMEM; the list is unchanged */
        l->items = items;
        l->capacity = capacity;
    }
    rcgc_incref(item);
    l->items[l->length++] = item;
    return 0;
}

int model_list_set(rcgc_object *list, size_t index, rcgc_object *item) {
    struct model_list *l = (struct model_list *)list;
    if (index >= l->length) {
        errno = EINVAL;
        return -1;
    }
    if (item != NULL)
        rcgc_incref(item);
    rcgc_object *old = l->items[index];
    l->items[index] = item;
    rcgc_xdecref(old);
    return 0;
}

void model_list_clear(rcgc_object *list) { list_clear(list); }
