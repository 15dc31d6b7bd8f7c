/* tests/test_debug_graph.c - object graphs as DOT (rcgc_show_refs,
 * rcgc_show_backrefs) and the chain that keeps an object alive
 * (rcgc_find_backref_chain), on graphs of known shapes: exactly the
 * expected boxes and arrows, depth and fan-out limits, filters and labels,
 * untracked referrers, and chains to the host's own references.
 */
#include "support/debug_nodes.h"

#include <rcgc.h>

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ------------------------------------------------------------- Helpers */

struct drawing {
    rcgc_object **roots;
    size_t count;
    rcgc_graph_options options;
    bool backward;
};

static ptrdiff_t draw(FILE *stream, void *arg) {
    struct drawing *d = arg;
    return d->backward ? rcgc_show_backrefs(d->roots, d->count, &d->options, stream)
                       : rcgc_show_refs(d->roots, d->count, &d->options, stream);
}

static char *dot_of(struct drawing *d, ptrdiff_t expected_nodes) {
    ptrdiff_t drawn;
    char *text = capture_stream(draw, d, &drawn);
    assert_int_equal(drawn, expected_nodes);
    return text;
}

static void assert_edge(const char *dot, const rcgc_object *from, const rcgc_object *to) {
    char line[96];
    snprintf(line, sizeof line, "  o%" PRIxPTR " -> o%" PRIxPTR ";", (uintptr_t)from,
             (uintptr_t)to);
    assert_int_equal(count_lines(dot, line), 1);
}

static int count_prefixed(const char *dot, const char *prefix) {
    int found = 0;
    size_t length = strlen(prefix);
    for (const char *at = dot; at != NULL && *at != '\0';) {
        found += strncmp(at, prefix, length) == 0;
        at = strchr(at, '\n');
        at = at != NULL ? at + 1 : NULL;
    }
    return found;
}

/* One box for @obj, labelled with its type's name and address. */
static void assert_box(const char *dot, const rcgc_object *obj) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "  o%" PRIxPTR " [label=\"%s\\n%p", (uintptr_t)obj,
             obj->ob_type->name, (const void *)obj);
    assert_int_equal(count_prefixed(dot, prefix), 1);
}

static int count_edges(const char *dot) {
    int edges = 0;
    for (const char *at = strstr(dot, " -> "); at != NULL; at = strstr(at + 1, " -> "))
        edges++;
    return edges;
}

static void drop_all(rcgc_object **objects, size_t count) {
    for (size_t i = 0; i < count; i++)
        rcgc_xdecref(objects[i]);
}

/* ------------------------------------------------------------ show_refs */

static void refs_draw_each_object_and_reference_once(void **state) {
    (void)state;
    /* a -> b (twice), a -> c, b -> a, c -> leaf */
    rcgc_object *a = node_new(3), *b = node_new(1), *c = node_new(1), *leaf = leaf_new();
    node_set(a, 0, b);
    node_set(a, 1, c);
    node_set(a, 2, b);
    node_set(b, 0, a);
    node_set(c, 0, leaf);
    struct drawing d = {.roots = &a, .count = 1};
    char *dot = dot_of(&d, 4);
    assert_int_equal(strncmp(dot, "digraph ObjectGraph {\n", 22), 0);
    assert_box(dot, a);
    assert_box(dot, b);
    assert_box(dot, c);
    assert_box(dot, leaf);
    assert_int_equal(count_prefixed(dot, "  o"), 4 + 4);
    assert_int_equal(count_edges(dot), 4);
    assert_edge(dot, a, b);
    assert_edge(dot, a, c);
    assert_edge(dot, b, a);
    assert_edge(dot, c, leaf);
    assert_int_equal(count_lines(dot, "}"), 1);
    free(dot);
    rcgc_object *all[] = {a, b, c, leaf};
    node_set(b, 0, leaf); /* break the cycle: everything dies by count */
    drop_all(all, 4);
}

static void refs_stop_at_the_depth_asked(void **state) {
    (void)state;
    rcgc_object *chain[5];
    for (int i = 0; i < 5; i++)
        chain[i] = node_new(1);
    for (int i = 0; i < 4; i++)
        node_set(chain[i], 0, chain[i + 1]);
    struct drawing d = {.roots = chain, .count = 1, .options = {.max_depth = 2}};
    char *dot = dot_of(&d, 3);
    assert_box(dot, chain[2]);
    assert_int_equal(count_edges(dot), 2);
    assert_edge(dot, chain[1], chain[2]);
    free(dot);
    d.options.max_depth = 0; /* objgraph's default, 3 */
    dot = dot_of(&d, 4);
    free(dot);
    drop_all(chain, 5);
}

static void refs_sum_up_past_too_many(void **state) {
    (void)state;
    rcgc_object *hub = node_new(15);
    for (size_t i = 0; i < 15; i++) {
        rcgc_object *leaf = leaf_new();
        node_set(hub, i, leaf);
        rcgc_decref(leaf);
    }
    struct drawing d = {.roots = &hub, .count = 1, .options = {.too_many = 10}};
    char *dot = dot_of(&d, 11);
    char line[128];
    snprintf(line, sizeof line,
             "  o%" PRIxPTR "_more [label=\"5 more references\", shape=plaintext];",
             (uintptr_t)hub);
    assert_int_equal(count_lines(dot, line), 1);
    snprintf(line, sizeof line, "  o%" PRIxPTR " -> o%" PRIxPTR "_more;", (uintptr_t)hub,
             (uintptr_t)hub);
    assert_int_equal(count_lines(dot, line), 1);
    assert_int_equal(count_edges(dot), 11);
    free(dot);
    rcgc_decref(hub);
}

static bool not_rejected(rcgc_object *obj, void *arg) { return obj != arg; }

static void labeller(rcgc_object *obj, char *buf, size_t size, void *arg) {
    (void)arg;
    if (obj->ob_type == &node_type)
        snprintf(buf, size, "slots=%zu \"quoted\"", ((struct node *)obj)->slots);
}

static void refs_obey_filter_and_label(void **state) {
    (void)state;
    /* a -> b -> c, a -> d; the filter rejects b, so c is not reached */
    rcgc_object *a = node_new(2), *b = node_new(1), *c = leaf_new(), *d = leaf_new();
    node_set(a, 0, b);
    node_set(a, 1, d);
    node_set(b, 0, c);
    struct drawing drawing = {
        .roots = &a,
        .count = 1,
        .options = {.filter = not_rejected, .label = labeller, .arg = b, .refcounts = true}};
    char *dot = dot_of(&drawing, 2);
    assert_box(dot, a);
    assert_box(dot, d);
    assert_null(strstr(dot, "node\\n0x0"));
    assert_int_equal(count_edges(dot), 1);
    assert_edge(dot, a, d);
    /* the label line is escaped; the count is the host's (one for a, and
     * a's reference to d plus the test's for d) */
    assert_non_null(strstr(dot, "\\nrefcount 1\\nslots=2 \\\"quoted\\\"\""));
    assert_non_null(strstr(dot, "\\nrefcount 2\""));
    free(dot);
    rcgc_object *all[] = {a, b, c, d};
    drop_all(all, 4);
}

/* --------------------------------------------------------- show_backrefs */

static void backrefs_find_tracked_and_untracked_referrers(void **state) {
    (void)state;
    /* x -> target, holder -> target, y -> holder; the holder is untracked */
    rcgc_object *target = leaf_new(), *x = node_new(1), *holder = holder_new(1), *y = node_new(1);
    node_set(x, 0, target);
    node_set(holder, 0, target);
    node_set(y, 0, holder);
    assert_false(rcgc_is_tracked(holder));
    struct drawing d = {.roots = &target, .count = 1, .backward = true};
    char *dot = dot_of(&d, 4);
    assert_box(dot, target);
    assert_box(dot, x);
    assert_box(dot, holder);
    assert_box(dot, y);
    assert_int_equal(count_edges(dot), 3);
    assert_edge(dot, x, target);
    assert_edge(dot, holder, target);
    assert_edge(dot, y, holder);
    free(dot);
    d.options.max_depth = 1;
    dot = dot_of(&d, 3);
    assert_int_equal(count_edges(dot), 2);
    free(dot);
    rcgc_object *all[] = {target, x, holder, y};
    drop_all(all, 4);
}

/* --------------------------------------------------------- Backref chain */

static void chain_leads_to_what_the_host_holds(void **state) {
    (void)state;
    /* The host holds root; root -> middle -> target; middle is held only
     * by root. A bystander refers to target too but is itself garbage. */
    rcgc_object *root = node_new(1), *middle = node_new(1), *target = leaf_new();
    rcgc_object *bystander = node_new(2);
    node_set(root, 0, middle);
    node_set(middle, 0, target);
    node_set(bystander, 0, target);
    node_set(bystander, 1, bystander);
    rcgc_decref(middle);
    rcgc_decref(bystander);
    rcgc_object *chain[8];
    ptrdiff_t length = rcgc_find_backref_chain(target, NULL, NULL, 0, chain, 8);
    assert_int_equal(length, 3);
    assert_ptr_equal(chain[0], root);
    assert_ptr_equal(chain[1], middle);
    assert_ptr_equal(chain[2], target);
    drop_all(chain, 3);
    /* Too little room: not searched for. */
    assert_int_equal(rcgc_find_backref_chain(target, NULL, NULL, 0, chain, 2), 0);
    /* An object the host holds twice is its own root. */
    rcgc_incref(target);
    assert_int_equal(rcgc_find_backref_chain(target, NULL, NULL, 0, chain, 8), 1);
    assert_ptr_equal(chain[0], target);
    drop_all(chain, 1);
    rcgc_decref(target);
    rcgc_decref(target);
    rcgc_decref(root);
    assert_true(rcgc_collect(2) >= 1); /* the bystander */
}

static bool is_holder(rcgc_object *obj, void *arg) {
    (void)arg;
    return obj->ob_type == &holder_type;
}

static void chain_stops_at_what_the_predicate_accepts(void **state) {
    (void)state;
    rcgc_object *holder = holder_new(1), *a = node_new(1), *b = node_new(1);
    node_set(holder, 0, a);
    node_set(a, 0, b);
    rcgc_decref(a);
    rcgc_object *chain[4];
    ptrdiff_t length = rcgc_find_backref_chain(b, is_holder, NULL, 0, chain, 4);
    assert_int_equal(length, 3);
    assert_ptr_equal(chain[0], holder);
    assert_ptr_equal(chain[2], b);
    drop_all(chain, 3);
    /* Beyond the depth asked: not found. */
    assert_int_equal(rcgc_find_backref_chain(b, is_holder, NULL, 1, chain, 4), 0);
    rcgc_decref(b);
    rcgc_decref(holder);
}

static void garbage_has_no_chain(void **state) {
    (void)state;
    /* p <-> q hold target; nothing outside holds p or q */
    rcgc_object *p = node_new(2), *q = node_new(1), *target = leaf_new();
    node_set(p, 0, q);
    node_set(q, 0, p);
    node_set(p, 1, target);
    rcgc_decref(p);
    rcgc_decref(q);
    rcgc_object *chain[8];
    assert_int_equal(rcgc_find_backref_chain(target, NULL, NULL, 0, chain, 8), 0);
    rcgc_decref(target);
    assert_int_equal(rcgc_collect(2), 2);
}

/* ------------------------------------------------------------- Graphviz */

static void graphviz_renders_the_dot(void **state) {
    (void)state;
    if (system("command -v dot >/dev/null 2>&1") != 0)
        skip(); /* Graphviz is not installed (tools/install-deps installs it) */
    rcgc_object *a = node_new(2), *b = node_new(1);
    node_set(a, 0, b);
    node_set(b, 0, a);
    char path[] = "/tmp/rcgc_graph_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *file = fdopen(fd, "w");
    assert_int_equal(rcgc_show_refs(&a, 1, NULL, file), 2);
    assert_int_equal(fclose(file), 0);
    char command[256];
    snprintf(command, sizeof command, "dot -Tsvg %s -o %s.svg && grep -q '<svg' %s.svg", path, path,
             path);
    assert_int_equal(system(command), 0);
    snprintf(command, sizeof command, "%s.svg", path);
    unlink(command);
    unlink(path);
    node_set(b, 0, b);
    rcgc_decref(a);
    rcgc_decref(b);
    rcgc_collect(2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refs_draw_each_object_and_reference_once),
        cmocka_unit_test(refs_stop_at_the_depth_asked),
        cmocka_unit_test(refs_sum_up_past_too_many),
        cmocka_unit_test(refs_obey_filter_and_label),
        cmocka_unit_test(backrefs_find_tracked_and_untracked_referrers),
        cmocka_unit_test(chain_leads_to_what_the_host_holds),
        cmocka_unit_test(chain_stops_at_what_the_predicate_accepts),
        cmocka_unit_test(garbage_has_no_chain),
        cmocka_unit_test(graphviz_renders_the_dot),
    };
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("debug_graph", tests, NULL, NULL);
}
