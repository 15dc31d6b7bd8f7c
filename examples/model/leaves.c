/* examples/model/leaves.c - str and int: objects that hold no references,
 * so their types have no traverse hook and the collector never tracks
 * them. A str keeps its text in the object (rcgc_new_var); ints come from
 * a per-thread free list, as CPython's small objects do. */
#include "model.h"

#include <string.h>

struct model_str {
    rcgc_object head;
    size_t length;
    char text[];
};

model_class model_str_class = {
    .type = {.name = "str", .size = sizeof(struct model_str), .release = model_count_release}};

rcgc_object *model_str_new(const char *text) {
    size_t length = strlen(text);
    struct model_str *str =
        (struct model_str *)rcgc_new_var(&model_str_class.type, sizeof *str + length + 1);
    if (str == NULL)
        return NULL;
    str->length = length;
    memcpy(str->text, text, length + 1);
    atomic_fetch_add_explicit(&model_str_class.made, 1, memory_order_relaxed);
    return &str->head;
}

const char *model_str_text(const rcgc_object *str) { return ((const struct model_str *)str)->text; }

struct model_int {
    rcgc_object head;
    long value;
};

model_class model_int_class = {.type = {.name = "int",
                                        .size = sizeof(struct model_int),
                                        .release = model_count_release,
                                        .freelist_max = 256}};

rcgc_object *model_int_new(long value) {
    struct model_int *integer = (struct model_int *)rcgc_new(&model_int_class.type);
    if (integer == NULL)
        return NULL;
    integer->value = value;
    atomic_fetch_add_explicit(&model_int_class.made, 1, memory_order_relaxed);
    return &integer->head;
}

long model_int_value(const rcgc_object *integer) {
    return ((const struct model_int *)integer)->value;
}
