/* tests/support/debug_nodes.h - the objects the debug layer's tests draw
 * and count: "node", a tracked container with a variable number of
 * reference slots; "leaf", an untracked object with no references; and
 * "holder", an untracked container (a traverse hook, no RCGC_TYPE_GC), the
 * kind of referrer the collector's tables never list.
 */
#ifndef RCGC_TEST_DEBUG_NODES_H
#define RCGC_TEST_DEBUG_NODES_H

#include <rcgc.h>

#include <stddef.h>

struct node {
    rcgc_object head;
    size_t slots;
    rcgc_object *refs[];
};

extern const rcgc_type node_type, leaf_type, holder_type;

/* A node (or holder) with @slots empty slots; fails the test on NULL. */
rcgc_object *node_new(size_t slots);
rcgc_object *holder_new(size_t slots);
rcgc_object *leaf_new(void);

/* node->refs[@slot] = @target, taking a new reference to it. */
void node_set(rcgc_object *node, size_t slot, rcgc_object *target);

/* The number of lines of @text equal to @line. */
int count_lines(const char *text, const char *line);

/* What @write wrote to a temporary stream, NUL-terminated, in memory the
 * caller frees; the function's result through @result. */
char *capture_stream(ptrdiff_t (*write)(FILE *stream, void *arg), void *arg, ptrdiff_t *result);

#endif /* RCGC_TEST_DEBUG_NODES_H */
