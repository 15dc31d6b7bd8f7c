/* tests/support/debug_nodes.c - the debug tests' objects (debug_nodes.h). */
#include "support/debug_nodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct node *node = (struct node *)self;
    for (size_t i = 0; i < node->slots; i++)
        if (node->refs[i] != NULL)
            visit(node->refs[i], arg);
}

static void node_clear(rcgc_object *self) {
    struct node *node = (struct node *)self;
    for (size_t i = 0; i < node->slots; i++) {
        rcgc_object *ref = node->refs[i];
        node->refs[i] = NULL;
        rcgc_xdecref(ref);
    }
}

const rcgc_type node_type = {.name = "node",
                             .size = sizeof(struct node),
                             .flags = RCGC_TYPE_GC,
                             .traverse = node_traverse,
                             .clear = node_clear};
const rcgc_type holder_type = {
    .name = "holder", .size = sizeof(struct node), .traverse = node_traverse, .clear = node_clear};
const rcgc_type leaf_type = {.name = "leaf", .size = sizeof(rcgc_object)};

static rcgc_object *container_new(const rcgc_type *type, size_t slots) {
    rcgc_object *obj = rcgc_new_var(type, sizeof(struct node) + slots * sizeof(rcgc_object *));
    assert_non_null(obj);
    ((struct node *)obj)->slots = slots;
    return obj;
}

rcgc_object *node_new(size_t slots) { return container_new(&node_type, slots); }

rcgc_object *holder_new(size_t slots) { return container_new(&holder_type, slots); }

rcgc_object *leaf_new(void) {
    rcgc_object *obj = rcgc_new(&leaf_type);
    assert_non_null(obj);
    return obj;
}

void node_set(rcgc_object *obj, size_t slot, rcgc_object *target) {
    struct node *node = (struct node *)obj;
    assert_true(slot < node->slots);
    rcgc_incref(target);
    rcgc_object *old = node->refs[slot];
    node->refs[slot] = target;
    rcgc_xdecref(old);
}

int count_lines(const char *text, const char *line) {
    int found = 0;
    size_t length = strlen(line);
    for (const char *at = text; *at != '\0';) {
        const char *end = strchr(at, '\n');
        size_t this_length = end != NULL ? (size_t)(end - at) : strlen(at);
        found += this_length == length && memcmp(at, line, length) == 0;
        if (end == NULL)
            break;
        at = end + 1;
    }
    return found;
}

char *capture_stream(ptrdiff_t (*write)(FILE *stream, void *arg), void *arg, ptrdiff_t *result) {
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    assert_non_null(stream);
    *result = write(stream, arg);
    assert_int_equal(fclose(stream), 0);
    return text;
}
