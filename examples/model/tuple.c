/* examples/model/tuple.c - tuples: references stored in the object itself,
 * visited and dropped in order. The accessors, and the hooks of slots
 * classes, are inline in model.h. */
#include "model.h"

#include <errno.h>
#include <stdint.h>

static void tuple_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct model_tuple *t = (struct model_tuple *)self;
    for (size_t i = 0; i < t->length; i++)
        if (t->items[i] != NULL)
            visit(t->items[i], arg);
}

static void tuple_clear(rcgc_object *self) {
    struct model_tuple *t = (struct model_tuple *)self;
    for (size_t i = 0; i < t->length; i++) {
        rcgc_object *item = t->items[i];
        t->items[i] = NULL;
        rcgc_xdecref(item);
    }
}

model_class model_tuple_class = {.type = {.name = "tuple",
                                          .size = sizeof(struct model_tuple),
                                          .flags = RCGC_TYPE_GC,
                                          .traverse = tuple_traverse,
                                          .clear = tuple_clear,
                                          .release = model_count_release}};

rcgc_object *model_tuple_new(size_t length) {
    if (length > (SIZE_MAX - sizeof(struct model_tuple)) / sizeof(rcgc_object *)) {
        errno = ENOMEM;
        return NULL;
    }
    struct model_tuple *t = (struct model_tuple *)rcgc_new_var(
        &model_tuple_class.type, sizeof *t + length * sizeof(rcgc_object *));
    if (t == NULL)
        return NULL;
    t->length = length;
    atomic_fetch_add_explicit(&model_tuple_class.made, 1, memory_order_relaxed);
    return &t->head;
}
