/* tests/test_gc.c - the cycle collector, tested through rcgc/gc.h only:
 * what gets collected and what survives (in every counting mode), the
 * counters and thresholds ((700, 9, 0) + 1 runs collect(1)), two lists
 * holding each other with and without outside references, a Graph with a
 * legacy finalizer, PEP 442 finalizers, debug output, callbacks, statistics, settings
 * from the environment, freeze, introspection, very large cycles, and
 * collections from several threads.
 *
 * Every test starts from a full collection with an empty garbage list, so the
 * counters read (0, 0, 0) and generations 0 and 1 are empty. Objects are
 * counted dead by their types' release hooks: a count that matches exactly
 * shows each object was freed once. The thread tests only give races a chance
 * to show; no assertion depends on how long anything takes.
 */
#include "support/child.h"

#include <rcgc.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ------------------------------------------------------------- Test types */

/* How many objects of each type died; reset before every test. */
static _Atomic long lists_released, instances_released, dicts_released, strs_released,
    graphs_released, phoenixes_released;

/* "list": a container of up to LIST_CAPACITY references. */
enum { LIST_CAPACITY = 4 };

struct list {
    rcgc_object head;
    rcgc_object *items[LIST_CAPACITY];
};

static void list_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct list *l = (struct list *)self;
    for (int i = 0; i < LIST_CAPACITY; i++)
        if (l->items[i] != NULL)
            visit(l->items[i], arg);
}

static void list_clear(rcgc_object *self) {
    struct list *l = (struct list *)self;
    for (int i = 0; i < LIST_CAPACITY; i++) {
        rcgc_object *item = l->items[i];
        l->items[i] = NULL;
        rcgc_xdecref(item);
    }
}

static void list_release(rcgc_object *self) {
    (void)self;
    atomic_fetch_add(&lists_released, 1);
}

static const rcgc_type list_type = {.name = "list",
                                    .size = sizeof(struct list),
                                    .flags = RCGC_TYPE_GC,
                                    .traverse = list_traverse,
                                    .clear = list_clear,
                                    .release = list_release};

/* "instance": an object with one attribute, `other`. "phoenix" shares the
 * layout and adds a PEP 442 finalizer. */
struct instance {
    rcgc_object head;
    rcgc_object *other;
};

static void instance_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct instance *in = (struct instance *)self;
    if (in->other != NULL)
        visit(in->other, arg);
}

static void instance_clear(rcgc_object *self) {
    struct instance *in = (struct instance *)self;
    rcgc_object *other = in->other;
    in->other = NULL;
    rcgc_xdecref(other);
}

static void instance_release(rcgc_object *self) {
    (void)self;
    atomic_fetch_add(&instances_released, 1);
}

static const rcgc_type instance_type = {.name = "instance",
                                        .size = sizeof(struct instance),
                                        .flags = RCGC_TYPE_GC,
                                        .traverse = instance_traverse,
                                        .clear = instance_clear,
                                        .release = instance_release};

/* "dict": an instance's attribute dictionary, {'name': str, 'other': obj}. */
struct dict {
    rcgc_object head;
    rcgc_object *name;
    rcgc_object *other;
};

static void dict_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct dict *d = (struct dict *)self;
    if (d->name != NULL)
        visit(d->name, arg);
    if (d->other != NULL)
        visit(d->other, arg);
}

static void dict_clear(rcgc_object *self) {
    struct dict *d = (struct dict *)self;
    rcgc_object *name = d->name, *other = d->other;
    d->name = NULL;
    d->other = NULL;
    rcgc_xdecref(name);
    rcgc_xdecref(other);
}

static void dict_release(rcgc_object *self) {
    (void)self;
    atomic_fetch_add(&dicts_released, 1);
}

static const rcgc_type dict_type = {.name = "dict",
                                    .size = sizeof(struct dict),
                                    .flags = RCGC_TYPE_GC,
                                    .traverse = dict_traverse,
                                    .clear = dict_clear,
                                    .release = dict_release};

/* "str": a leaf that holds no references; not a container, never tracked. */
struct str {
    rcgc_object head;
    char text[16];
};

static void str_release(rcgc_object *self) {
    (void)self;
    atomic_fetch_add(&strs_released, 1);
}

static const rcgc_type str_type = {
    .name = "str", .size = sizeof(struct str), .release = str_release};

/* "Graph": a Python class with __del__: a legacy finalizer, its
 * attributes in a dict of its own. */
struct graph {
    rcgc_object head;
    rcgc_object *dict;
};

static _Atomic long graphs_finalized;

static void graph_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct graph *g = (struct graph *)self;
    if (g->dict != NULL)
        visit(g->dict, arg);
}

static void graph_clear(rcgc_object *self) {
    struct graph *g = (struct graph *)self;
    rcgc_object *dict = g->dict;
    g->dict = NULL;
    rcgc_xdecref(dict);
}

static void graph_finalize(rcgc_object *self) {
    (void)self;
    atomic_fetch_add(&graphs_finalized, 1);
}

static void graph_release(rcgc_object *self) {
    (void)self;
    atomic_fetch_add(&graphs_released, 1);
}

static const rcgc_type graph_type = {.name = "Graph",
                                     .size = sizeof(struct graph),
                                     .flags = RCGC_TYPE_GC | RCGC_TYPE_LEGACY_FINALIZER,
                                     .traverse = graph_traverse,
                                     .clear = graph_clear,
                                     .finalize = graph_finalize,
                                     .release = graph_release};

/* "phoenix": an instance with a PEP 442 finalizer that records what it saw
 * and, when asked, resurrects its object into `resurrected`. */
static _Atomic long phoenixes_finalized, finalized_flag_seen_inside, other_seen_inside;
static bool phoenix_resurrects, phoenix_collects, phoenix_makes_garbage;
static rcgc_object *resurrected;
static ptrdiff_t collect_from_finalizer;

static void phoenix_finalize(rcgc_object *self) {
    atomic_fetch_add(&phoenixes_finalized, 1);
    if (rcgc_is_finalized(self))
        atomic_fetch_add(&finalized_flag_seen_inside, 1);
    if (((struct instance *)self)->other != NULL)
        atomic_fetch_add(&other_seen_inside, 1);
    if (phoenix_collects)
        collect_from_finalizer = rcgc_collect(RCGC_GENERATIONS - 1);
    if (phoenix_makes_garbage) { /* a list holding itself, dropped */
        struct list *l = (struct list *)rcgc_new(&list_type);
        if (l != NULL) {
            rcgc_incref(&l->head);
            l->items[0] = &l->head;
            rcgc_decref(&l->head);
        }
    }
    if (phoenix_resurrects && resurrected == NULL) {
        rcgc_incref(self);
        resurrected = self;
    }
}

static void phoenix_release(rcgc_object *self) {
    (void)self;
    atomic_fetch_add(&phoenixes_released, 1);
}

static const rcgc_type phoenix_type = {.name = "phoenix",
                                       .size = sizeof(struct instance),
                                       .flags = RCGC_TYPE_GC,
                                       .traverse = instance_traverse,
                                       .clear = instance_clear,
                                       .finalize = phoenix_finalize,
                                       .release = phoenix_release};

/* ---------------------------------------------------------------- Helpers */

static rcgc_object *new_object(const rcgc_type *type) {
    rcgc_object *obj = rcgc_new(type);
    assert_non_null(obj);
    return obj;
}

/* list.append(item): the list takes a new reference. */
static void list_append(rcgc_object *list, rcgc_object *item) {
    struct list *l = (struct list *)list;
    for (int i = 0; i < LIST_CAPACITY; i++) {
        if (l->items[i] == NULL) {
            rcgc_incref(item);
            l->items[i] = item;
            return;
        }
    }
    fail_msg("list %p is full", (void *)list);
}

static rcgc_object *list_item(rcgc_object *list, int index) {
    return ((struct list *)list)->items[index];
}

/* obj.other = other, for instances and phoenixes. */
static void set_other(rcgc_object *obj, rcgc_object *other) {
    struct instance *in = (struct instance *)obj;
    rcgc_object *old = in->other;
    if (other != NULL)
        rcgc_incref(other);
    in->other = other;
    rcgc_xdecref(old);
}

static rcgc_object *other_of(rcgc_object *obj) { return ((struct instance *)obj)->other; }

static rcgc_object *str_new(const char *text) {
    struct str *s = (struct str *)new_object(&str_type);
    snprintf(s->text, sizeof s->text, "%s", text);
    return &s->head;
}

/* Graph(name): a Graph whose dict holds the name and, later, the next one. */
static rcgc_object *graph_new(const char *name) {
    struct graph *g = (struct graph *)new_object(&graph_type);
    struct dict *d = (struct dict *)new_object(&dict_type);
    d->name = str_new(name); /* the new references move into the fields */
    g->dict = &d->head;
    return &g->head;
}

/* graph.set_next(next): graph.__dict__['other'] = next (NULL for None). */
static void graph_set_next(rcgc_object *graph, rcgc_object *next) {
    struct dict *d = (struct dict *)((struct graph *)graph)->dict;
    rcgc_object *old = d->other;
    if (next != NULL)
        rcgc_incref(next);
    d->other = next;
    rcgc_xdecref(old);
}

/* Seed 001's demo: one->two->three->one, each link through a dict; the
 * host's references are dropped, so six containers are garbage. */
static void make_graph_ring(rcgc_object *graphs[3], rcgc_object *dicts[3]) {
    static const char *const names[3] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        graphs[i] = graph_new(names[i]);
        dicts[i] = ((struct graph *)graphs[i])->dict;
    }
    for (int i = 0; i < 3; i++)
        graph_set_next(graphs[i], graphs[(i + 1) % 3]);
    for (int i = 0; i < 3; i++)
        rcgc_decref(graphs[i]);
}

/* What the seed does afterwards: gc.garbage[i].set_next(None) on a Graph,
 * then `del gc.garbage[:]`. */
static void break_graph_ring_from_the_garbage_list(void) {
    for (size_t i = 0; i < rcgc_garbage_count(); i++) {
        rcgc_object *entry = rcgc_garbage_get(i);
        assert_non_null(entry);
        bool is_graph = rcgc_type_of(entry) == &graph_type;
        if (is_graph)
            graph_set_next(entry, NULL);
        rcgc_decref(entry);
        if (is_graph)
            return;
    }
    fail_msg("no Graph in the garbage list");
}

/* A list holding itself, still with the host's reference. */
static rcgc_object *new_self_cycle(void) {
    rcgc_object *list = new_object(&list_type);
    list_append(list, list);
    return list;
}

static void make_garbage_self_cycles(int how_many) {
    for (int i = 0; i < how_many; i++)
        rcgc_decref(new_self_cycle());
}

/* Objects a test keeps alive; the teardown drops whatever is left. */
enum { KEPT_MAX = 2048 };
static rcgc_object *kept[KEPT_MAX];
static size_t kept_len;

static void keep_new_instances(size_t how_many) {
    for (size_t i = 0; i < how_many; i++) {
        assert_true(kept_len < KEPT_MAX);
        kept[kept_len++] = new_object(&instance_type);
    }
}

static void drop_kept(void) {
    while (kept_len > 0)
        rcgc_decref(kept[--kept_len]);
}

#define assert_count(c0, c1, c2)                                                                   \
    do {                                                                                           \
        unsigned count_[RCGC_GENERATIONS];                                                         \
        rcgc_get_count(count_);                                                                    \
        assert_int_equal(count_[0], (c0));                                                         \
        assert_int_equal(count_[1], (c1));                                                         \
        assert_int_equal(count_[2], (c2));                                                         \
    } while (0)

static void repeat_collect(int generation, int times) {
    for (int i = 0; i < times; i++)
        assert_int_equal(rcgc_collect(generation), 0);
}

/* A visitor that counts what it is shown and remembers the first few. */
enum { VISITS_LOGGED = 16 };

struct visits {
    size_t count;
    rcgc_object *logged[VISITS_LOGGED];
};

static int record_visit(rcgc_object *obj, void *arg) {
    struct visits *v = arg;
    if (v->count < VISITS_LOGGED)
        v->logged[v->count] = obj;
    v->count++;
    return 0;
}

static bool visited(const struct visits *v, const rcgc_object *obj) {
    for (size_t i = 0; i < v->count && i < VISITS_LOGGED; i++)
        if (v->logged[i] == obj)
            return true;
    return false;
}

/* Looks for one object among those a generation lists. */
struct search {
    const rcgc_object *wanted;
    size_t found;
    size_t visits;
};

static int search_visit(rcgc_object *obj, void *arg) {
    struct search *s = arg;
    s->visits++;
    if (obj == s->wanted)
        s->found++;
    return 0;
}

static bool in_generation(int generation, const rcgc_object *obj) {
    struct search s = {.wanted = obj};
    ptrdiff_t visited_count = rcgc_get_objects(generation, search_visit, &s);
    assert_int_equal(visited_count, (ptrdiff_t)s.visits);
    assert_true(s.found <= 1);
    return s.found == 1;
}

static size_t objects_in_generation(int generation) {
    struct search s = {.wanted = NULL};
    assert_true(rcgc_get_objects(generation, search_visit, &s) >= 0);
    return s.visits;
}

/* Debug output captured in memory. */
struct output {
    FILE *stream;
    char *text;
    size_t length;
};

static void output_begin(struct output *out) {
    out->text = NULL;
    out->length = 0;
    out->stream = open_memstream(&out->text, &out->length);
    assert_non_null(out->stream);
    rcgc_set_debug_stream(out->stream);
}

static void output_end(struct output *out) {
    rcgc_set_debug_stream(NULL);
    fclose(out->stream); /* out->text now holds everything written */
}

/* The objects named by lines "gc: <what> <type_name 0x...>" in @text. */
static size_t lines_naming(const char *text, const char *what, const char *type_name, void *found[],
                           size_t capacity) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "gc: %s <", what);
    size_t n = 0;
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            char name[64] = "";
            void *address = NULL;
            if (sscanf(line + strlen(prefix), "%63[^ ] %p>", name, &address) == 2 &&
                strcmp(name, type_name) == 0) {
                if (n < capacity)
                    found[n] = address;
                n++;
            }
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return n;
}

static bool pointer_listed(void *const found[], size_t n, const void *ptr) {
    for (size_t i = 0; i < n; i++)
        if (found[i] == ptr)
            return true;
    return false;
}

/* Callbacks recorded in order. */
enum { EVENTS_MAX = 32 };

struct gc_event {
    enum rcgc_gc_phase phase;
    rcgc_gc_info info;
};

static struct {
    struct gc_event events[EVENTS_MAX];
    int count;
    bool collect_inside;
    ptrdiff_t collect_result;
    void *arg_seen;
} recorded;

static void record_callback(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg) {
    recorded.arg_seen = arg;
    if (recorded.count < EVENTS_MAX)
        recorded.events[recorded.count] = (struct gc_event){phase, *info};
    recorded.count++;
    if (recorded.collect_inside)
        recorded.collect_result = rcgc_collect(RCGC_GENERATIONS - 1);
}

/* ---------------------------------------------------------------- Fixture */

static int start_from_a_full_collection(void **state) {
    (void)state;
    rcgc_set_debug(0);
    rcgc_set_debug_stream(NULL);
    rcgc_set_threshold(700, 10, 10);
    rcgc_enable();
    rcgc_collect(2);
    rcgc_garbage_clear();
    rcgc_collect(2);
    atomic_store(&lists_released, 0);
    atomic_store(&instances_released, 0);
    atomic_store(&dicts_released, 0);
    atomic_store(&strs_released, 0);
    atomic_store(&graphs_released, 0);
    atomic_store(&phoenixes_released, 0);
    atomic_store(&graphs_finalized, 0);
    atomic_store(&phoenixes_finalized, 0);
    atomic_store(&finalized_flag_seen_inside, 0);
    atomic_store(&other_seen_inside, 0);
    phoenix_resurrects = false;
    phoenix_collects = false;
    phoenix_makes_garbage = false;
    resurrected = NULL;
    collect_from_finalizer = -2;
    memset(&recorded, 0, sizeof recorded);
    recorded.collect_result = -2;
    return 0;
}

static void sum_collected(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg);

/* Undo what a failed test may have left behind. */
static int restore_defaults(void **state) {
    (void)state;
    rcgc_set_debug(0);
    rcgc_set_debug_stream(NULL);
    rcgc_set_threshold(700, 10, 10);
    rcgc_enable();
    while (rcgc_callback_remove(record_callback, &recorded) == 0) {
    }
    while (rcgc_callback_remove(sum_collected, NULL) == 0) {
    }
    phoenix_resurrects = false;
    phoenix_collects = false;
    phoenix_makes_garbage = false;
    rcgc_xdecref(resurrected);
    resurrected = NULL;
    drop_kept();
    if (rcgc_get_freeze_count() > 0)
        rcgc_unfreeze();
    return 0;
}

/* ---------------------------------------------------------------- Tracking */

static void gc_objects_are_tracked_from_creation(void **state) {
    (void)state;
    rcgc_object *list = new_object(&list_type);
    rcgc_object *var = rcgc_new_var(&list_type, sizeof(struct list) + 64);
    assert_non_null(var);
    assert_true(rcgc_is_tracked(list));
    assert_true(rcgc_is_tracked(var));
    assert_true(in_generation(0, list));
    rcgc_decref(list);
    rcgc_decref(var);
    assert_int_equal(atomic_load(&lists_released), 2);
}

static void leaf_objects_are_never_tracked(void **state) {
    (void)state;
    rcgc_object *leaf = str_new("x");
    assert_false(rcgc_is_tracked(leaf));
    assert_false(in_generation(-1, leaf));
    rcgc_decref(leaf);
}

static void untrack_and_track_are_idempotent(void **state) {
    (void)state;
    rcgc_object *list = new_object(&list_type);
    rcgc_untrack(list);
    rcgc_untrack(list);
    assert_false(rcgc_is_tracked(list));
    assert_false(in_generation(-1, list));
    rcgc_track(list);
    rcgc_track(list);
    assert_true(rcgc_is_tracked(list));
    assert_true(in_generation(-1, list));
    rcgc_decref(list);
    assert_int_equal(atomic_load(&lists_released), 1);
}

static void track_leaf_body(void *arg) { rcgc_track(arg); }

static void track_of_a_leaf_object_is_reported(void **state) {
    (void)state;
    rcgc_object *leaf = str_new("x");
    char expected[64];
    snprintf(expected, sizeof expected, "<str %p>", (void *)leaf);
    struct child_result result;
    child_run(track_leaf_body, leaf, &result);
    assert_true(child_aborted(&result));
    assert_non_null(strstr(result.output, "rcgc: "));
    assert_non_null(strstr(result.output, expected));
    assert_non_null(strstr(result.output, "rcgc_track"));
    assert_false(rcgc_is_tracked(leaf)); /* the parent's object is untouched */
    rcgc_decref(leaf);
}

/* A traverse hook that reports its second reference twice: trial deletion
 * then subtracts an outside reference away, and the collector would clear
 * an object in use. Checked builds stop with a report. */
struct liar {
    rcgc_object head;
    rcgc_object *self;
    rcgc_object *held;
};

static void liar_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct liar *liar = (struct liar *)self;
    if (liar->self != NULL)
        visit(liar->self, arg);
    if (liar->held != NULL) {
        visit(liar->held, arg);
        visit(liar->held, arg);
    }
}

static void liar_clear(rcgc_object *self) {
    struct liar *liar = (struct liar *)self;
    rcgc_object *cycle = liar->self, *held = liar->held;
    liar->self = NULL;
    liar->held = NULL;
    rcgc_xdecref(cycle);
    rcgc_xdecref(held);
}

static const rcgc_type liar_type = {.name = "liar",
                                    .size = sizeof(struct liar),
                                    .flags = RCGC_TYPE_GC,
                                    .traverse = liar_traverse,
                                    .clear = liar_clear};

static void collect_garbage_holding_an_object_in_use(void *arg) {
    rcgc_object *in_use = arg;
    struct liar *liar = (struct liar *)new_object(&liar_type);
    rcgc_incref(&liar->head);
    liar->self = &liar->head;
    rcgc_incref(in_use);
    liar->held = in_use;
    rcgc_decref(&liar->head); /* garbage now: only its self-cycle holds it */
    (void)rcgc_collect(2);
}

static void traverse_reporting_a_reference_twice_is_reported(void **state) {
    (void)state;
    if (RCGC_CHECKS < 2)
        skip(); /* release builds trust traverse hooks, as CPython's does */
    rcgc_object *in_use = new_object(&instance_type);
    char expected[64];
    snprintf(expected, sizeof expected, "<instance %p>", (void *)in_use);
    struct child_result result;
    child_run(collect_garbage_holding_an_object_in_use, in_use, &result);
    assert_true(child_aborted(&result));
    assert_non_null(strstr(result.output, "refcount is too small"));
    assert_non_null(strstr(result.output, expected));
    rcgc_decref(in_use);
}

/* ------------------------------------------------------------ Self-cycles */

/* Deferred objects die at syncs; a collection that finds them applies the
 * tables itself, so they are freed when rcgc_collect returns. */
static void deferred_cycle_is_freed_by_the_collection_that_finds_it(void **state) {
    (void)state;
    rcgc_object *list = new_self_cycle();
    rcgc_object *inner = new_object(&list_type);
    assert_int_equal(rcgc_set_rc_mode(list, RCGC_RC_DEFERRED), 0);
    assert_int_equal(rcgc_set_rc_mode(inner, RCGC_RC_DEFERRED), 0);
    list_append(list, inner); /* a deferred object hanging off the cycle */
    rcgc_decref(inner);
    rcgc_decref(list);
    assert_int_equal(rcgc_collect(2), 2); /* both unreachable */
    assert_int_equal(atomic_load(&lists_released), 2);
}

static void self_cycle_of_a_list_is_collected(void **state) {
    (void)state;
    rcgc_object *list = new_self_cycle();
    rcgc_decref(list);
    assert_int_equal(atomic_load(&lists_released), 0); /* refcounting alone cannot */
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(atomic_load(&lists_released), 1);
}

static void self_cycle_of_an_instance_is_collected(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&instance_type);
    set_other(obj, obj);
    rcgc_decref(obj);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(atomic_load(&instances_released), 1);
}

static void self_cycle_of_a_dict_is_collected(void **state) {
    (void)state;
    struct dict *d = (struct dict *)new_object(&dict_type);
    d->name = str_new("self");
    rcgc_incref(&d->head);
    d->other = &d->head;
    rcgc_decref(&d->head);
    assert_int_equal(rcgc_collect(2), 1); /* the str is not a container: not counted */
    assert_int_equal(atomic_load(&dicts_released), 1);
    assert_int_equal(atomic_load(&strs_released), 1);
}

static void collect_with_no_garbage_returns_0_and_frees_nothing(void **state) {
    (void)state;
    rcgc_object *list = new_self_cycle(); /* held by the host */
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&lists_released), 0);
    assert_int_equal(rcgc_refcount(list), 2); /* the collector's work leaves counts as they were */
    assert_ptr_equal(list_item(list, 0), list);
    rcgc_decref(list);
    assert_int_equal(rcgc_collect(2), 1);
}

/* ------------------------------------------------------ Seed 001, A and B */

/* a = [1, 3]; b = [2, 4]; a.append(b); b.append(a) */
static void make_seed_001_lists(rcgc_object **a, rcgc_object **b) {
    *a = new_object(&list_type);
    *b = new_object(&list_type);
    const char *const values[4] = {"1", "3", "2", "4"};
    for (int i = 0; i < 4; i++) {
        rcgc_object *value = str_new(values[i]);
        list_append(i < 2 ? *a : *b, value);
        rcgc_decref(value);
    }
    list_append(*a, *b);
    list_append(*b, *a);
}

static void two_list_cycle_with_both_dropped_is_collected(void **state) {
    (void)state;
    rcgc_object *a, *b;
    make_seed_001_lists(&a, &b);
    rcgc_decref(a); /* del a */
    rcgc_decref(b); /* del b */
    assert_int_equal(atomic_load(&lists_released), 0);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&lists_released), 2);
    assert_int_equal(atomic_load(&strs_released), 4);
}

static void dropping_only_a_keeps_both_alive(void **state) {
    (void)state;
    rcgc_object *a, *b;
    make_seed_001_lists(&a, &b);
    rcgc_decref(a); /* del a: b still holds a */
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&lists_released), 0);
    assert_int_equal(atomic_load(&strs_released), 0);
    assert_ptr_equal(list_item(b, 2), a);
    assert_ptr_equal(list_item(a, 2), b);
    assert_int_equal(rcgc_refcount(a), 1);
    assert_int_equal(rcgc_refcount(b), 2);
    rcgc_decref(b);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&lists_released), 2);
    assert_int_equal(atomic_load(&strs_released), 4);
}

static void cycle_reachable_from_a_live_object_survives(void **state) {
    (void)state;
    rcgc_object *holder = new_object(&list_type);
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    set_other(a, b);
    set_other(b, a);
    list_append(holder, a);
    rcgc_decref(a);
    rcgc_decref(b);
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_ptr_equal(other_of(a), b);
    assert_ptr_equal(other_of(b), a);
    rcgc_decref(holder); /* dies by refcount; the cycle is garbage now */
    assert_int_equal(atomic_load(&lists_released), 1);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&instances_released), 2);
}

static void cycle_through_an_untracked_object_is_not_collected(void **state) {
    (void)state;
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    set_other(a, b);
    set_other(b, a);
    rcgc_untrack(a); /* its reference to b now counts as from outside */
    rcgc_decref(a);
    rcgc_decref(b);
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_ptr_equal(other_of(b), a);
    rcgc_track(a); /* seen again, the cycle is garbage */
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&instances_released), 2);
}

/* ---------------------------------------------------------- Counting modes */

static void garbage_cycle_of_atomic_objects_is_collected(void **state) {
    (void)state;
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    assert_int_equal(rcgc_set_rc_mode(a, RCGC_RC_ATOMIC), 0);
    assert_int_equal(rcgc_set_rc_mode(b, RCGC_RC_ATOMIC), 0);
    set_other(a, b);
    set_other(b, a);
    rcgc_decref(a);
    rcgc_decref(b);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&instances_released), 2);
}

static void garbage_cycle_through_a_deferred_object_is_collected(void **state) {
    (void)state;
    rcgc_object *a = new_object(&instance_type), *b = new_object(&instance_type);
    assert_int_equal(rcgc_set_rc_mode(a, RCGC_RC_DEFERRED), 0);
    set_other(a, b);
    set_other(b, a); /* a's increment waits in this thread's table */
    rcgc_decref(a);  /* and so does this decrement */
    rcgc_decref(b);
    /* A collection applies the tables first, so a's count is exact. */
    assert_int_equal(rcgc_collect(2), 2);
    rcgc_sync_deferred(); /* a deferred object dies at a sync */
    assert_int_equal(atomic_load(&instances_released), 2);
}

static void immortal_object_keeps_its_cycle_alive(void **state) {
    (void)state;
    rcgc_object *anchor = new_object(&list_type);
    assert_int_equal(rcgc_set_rc_mode(anchor, RCGC_RC_IMMORTAL), 0);
    rcgc_object *a = new_object(&instance_type);
    list_append(anchor, a);
    set_other(a, anchor);
    rcgc_decref(a);
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_ptr_equal(other_of(a), anchor);
    rcgc_untrack(anchor); /* immortal: never freed; empty it so a dies */
    list_clear(anchor);
    assert_int_equal(atomic_load(&instances_released), 1);
    assert_int_equal(atomic_load(&lists_released), 0);
}

/* ------------------------------------------------------------ Generations */

static void young_collection_keeps_objects_held_by_older_ones(void **state) {
    (void)state;
    rcgc_object *old = new_object(&list_type);
    assert_int_equal(rcgc_collect(2), 0); /* old is in generation 2 now */
    rcgc_object *young = new_object(&instance_type);
    list_append(old, young);
    rcgc_decref(young);
    assert_int_equal(rcgc_collect(0), 0);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_ptr_equal(list_item(old, 0), young);
    rcgc_decref(old);
    assert_int_equal(atomic_load(&instances_released), 1);
}

static void young_collection_leaves_older_garbage_alone(void **state) {
    (void)state;
    rcgc_object *cycle = new_self_cycle();
    assert_int_equal(rcgc_collect(0), 0); /* survives into generation 1 */
    rcgc_decref(cycle);
    assert_int_equal(rcgc_collect(0), 0);
    assert_int_equal(atomic_load(&lists_released), 0);
    assert_int_equal(rcgc_collect(1), 1);
    assert_int_equal(atomic_load(&lists_released), 1);
}

static void cycle_spanning_two_generations_needs_the_older_one_collected(void **state) {
    (void)state;
    rcgc_object *older = new_object(&instance_type);
    assert_int_equal(rcgc_collect(0), 0); /* older: generation 1 */
    rcgc_object *younger = new_object(&instance_type);
    set_other(older, younger);
    set_other(younger, older);
    rcgc_decref(older);
    rcgc_decref(younger);
    assert_int_equal(rcgc_collect(0), 0); /* older's reference is from outside gen 0 */
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_int_equal(rcgc_collect(1), 2);
    assert_int_equal(atomic_load(&instances_released), 2);
}

/* ---------------------------------------------------------------- Counters */

static void gc_creations_raise_count0_and_leaf_ones_do_not(void **state) {
    (void)state;
    assert_count(0, 0, 0);
    keep_new_instances(5);
    assert_count(5, 0, 0);
    rcgc_object *leaf = str_new("leaf");
    assert_count(5, 0, 0);
    rcgc_decref(leaf);
    assert_count(5, 0, 0);
    drop_kept();
}

static void deaths_lower_count0_but_never_below_zero(void **state) {
    (void)state;
    keep_new_instances(10);
    for (int i = 0; i < 4; i++)
        rcgc_decref(kept[--kept_len]);
    assert_count(6, 0, 0);
    assert_int_equal(rcgc_collect(0), 0);
    assert_count(0, 1, 0);
    drop_kept(); /* six deaths after the reset */
    assert_count(0, 1, 0);
    assert_int_equal(atomic_load(&instances_released), 10);
}

static void collect_resets_younger_counts_and_bumps_the_next(void **state) {
    (void)state;
    keep_new_instances(5);
    assert_int_equal(rcgc_collect(0), 0);
    assert_count(0, 1, 0);
    keep_new_instances(3);
    assert_int_equal(rcgc_collect(1), 0);
    assert_count(0, 0, 1);
    keep_new_instances(2);
    assert_int_equal(rcgc_collect(0), 0);
    assert_count(0, 1, 1);
    assert_int_equal(rcgc_collect(2), 0);
    assert_count(0, 0, 0);
    drop_kept();
}

static void seed_000_count_699_3_0_plus_one_runs_collect0(void **state) {
    (void)state;
    repeat_collect(0, 3);
    assert_count(0, 3, 0);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    keep_new_instances(699);
    assert_count(699, 3, 0);
    keep_new_instances(1);
    assert_count(0, 4, 0);
    rcgc_get_stats(after);
    assert_int_equal(after[0].collections, before[0].collections + 1);
    assert_int_equal(after[1].collections, before[1].collections);
    assert_int_equal(after[2].collections, before[2].collections);
    drop_kept();
    assert_count(0, 4, 0);
}

static void seed_000_count_699_9_0_plus_one_runs_collect1(void **state) {
    (void)state;
    repeat_collect(0, 9);
    keep_new_instances(699);
    assert_count(699, 9, 0);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    keep_new_instances(1);
    assert_count(0, 0, 1);
    rcgc_get_stats(after);
    assert_int_equal(after[1].collections, before[1].collections + 1);
    assert_int_equal(after[0].collections, before[0].collections);
    drop_kept();
}

static void seed_000_count_699_9_9_plus_one_runs_a_full_collection(void **state) {
    (void)state;
    /* The 25% rule: objects promoted into generation 2 since the last full
     * collection must reach a quarter of those it left. Promote enough. */
    size_t old = objects_in_generation(2);
    keep_new_instances(old / 4 + 1);
    repeat_collect(1, 9);
    repeat_collect(0, 9);
    keep_new_instances(699);
    assert_count(699, 9, 9);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    keep_new_instances(1);
    assert_count(0, 0, 0);
    rcgc_get_stats(after);
    assert_int_equal(after[2].collections, before[2].collections + 1);
    assert_int_equal(after[1].collections, before[1].collections);
    drop_kept();
}

static void full_collection_waits_for_a_quarter_of_old_objects_promoted(void **state) {
    (void)state;
    rcgc_disable();
    keep_new_instances(1000);
    rcgc_enable();
    assert_int_equal(rcgc_collect(2), 0); /* 1000+ old objects, nothing promoted since */
    repeat_collect(1, 9);                 /* promotes nothing: gens 0 and 1 are empty */
    repeat_collect(0, 9);
    keep_new_instances(699);
    assert_count(699, 9, 9);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    keep_new_instances(1);
    rcgc_get_stats(after);
    assert_int_equal(after[2].collections, before[2].collections); /* skipped */
    assert_int_equal(after[1].collections, before[1].collections + 1);
    assert_count(0, 0, 10);
    drop_kept();
}

static void disable_stops_automatic_collection_and_enable_resumes_it(void **state) {
    (void)state;
    assert_true(rcgc_is_enabled());
    rcgc_disable();
    assert_false(rcgc_is_enabled());
    keep_new_instances(800);
    assert_count(800, 0, 0);
    assert_int_equal(rcgc_collect(0), 0); /* explicit collections still run */
    assert_count(0, 1, 0);
    keep_new_instances(750);
    assert_count(750, 1, 0);
    rcgc_enable();
    assert_true(rcgc_is_enabled());
    keep_new_instances(1);
    assert_count(0, 2, 0);
    drop_kept();
}

static void threshold0_of_zero_disables_automatic_collection(void **state) {
    (void)state;
    rcgc_set_threshold(0, 10, 10);
    unsigned threshold[RCGC_GENERATIONS];
    rcgc_get_threshold(threshold);
    assert_int_equal(threshold[0], 0);
    assert_int_equal(threshold[1], 10);
    assert_int_equal(threshold[2], 10);
    keep_new_instances(800);
    assert_count(800, 0, 0);
    rcgc_set_threshold(700, 10, 10);
    drop_kept();
}

/* Objects that die by count leave their young-table slots empty, and with
 * no cycles count[0] never reaches the threshold: the table must still not
 * grow with every object ever made (its chunks come from the raw layer). */
static void objects_dying_by_count_do_not_grow_the_young_table(void **state) {
    (void)state;
    rcgc_set_threshold(0, 10, 10); /* no automatic collection at all */
    struct rcgc_raw_stats before, after;
    rcgc_raw_stats(&before);
    for (int i = 0; i < 1000000; i++)
        rcgc_decref(new_object(&list_type));
    rcgc_raw_stats(&after);
    /* A million slots are about a thousand 8 KiB chunks. */
    assert_true((after.mallocs - after.frees) - (before.mallocs - before.frees) < 64);
    assert_int_equal(atomic_load(&lists_released), 1000000);
}

static void lower_threshold0_collects_sooner(void **state) {
    (void)state;
    rcgc_set_threshold(5, 10, 10);
    keep_new_instances(4);
    assert_count(4, 0, 0);
    keep_new_instances(1);
    assert_count(0, 1, 0);
    drop_kept();
}

static void collect_of_a_bad_generation_fails_with_einval(void **state) {
    (void)state;
    errno = 0;
    assert_int_equal(rcgc_collect(3), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(rcgc_collect(-1), -1);
    assert_int_equal(errno, EINVAL);
    assert_count(0, 0, 0); /* nothing was collected or counted */
}

static void automatic_collection_frees_garbage_cycles(void **state) {
    (void)state;
    rcgc_set_threshold(100, 10, 10);
    make_garbage_self_cycles(1000); /* never an explicit collect */
    assert_true(atomic_load(&lists_released) >= 800);
    rcgc_set_threshold(700, 10, 10);
    rcgc_collect(2);
    assert_int_equal(atomic_load(&lists_released), 1000);
}

/* ------------------------------------------------------ Legacy finalizers */

static void graph_ring_with_legacy_finalizers_goes_to_garbage(void **state) {
    (void)state;
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    /* Six unreachable containers; only the Graphs are listed (CPython 3). */
    assert_int_equal(rcgc_collect(2), 6);
    assert_int_equal(rcgc_garbage_count(), 3);
    for (size_t i = 0; i < 3; i++) {
        rcgc_object *entry = rcgc_garbage_get(i);
        assert_non_null(entry);
        assert_ptr_equal(rcgc_type_of(entry), &graph_type);
        rcgc_decref(entry);
    }
    assert_int_equal(atomic_load(&graphs_released), 0);
    assert_int_equal(atomic_load(&dicts_released), 0);
    assert_int_equal(atomic_load(&strs_released), 0);
    assert_int_equal(atomic_load(&graphs_finalized), 0);
    for (int i = 0; i < 3; i++) { /* not cleared: the ring is whole */
        assert_ptr_equal(((struct graph *)graphs[i])->dict, dicts[i]);
        assert_ptr_equal(((struct dict *)dicts[i])->other, graphs[(i + 1) % 3]);
    }
    break_graph_ring_from_the_garbage_list();
    assert_int_equal(rcgc_garbage_clear(), 3);
    assert_int_equal(rcgc_garbage_count(), 0);
    rcgc_collect(2);
    assert_int_equal(atomic_load(&graphs_released), 3);
    assert_int_equal(atomic_load(&dicts_released), 3);
    assert_int_equal(atomic_load(&strs_released), 3);
}

static void uncollectable_ring_is_listed_once(void **state) {
    (void)state;
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    assert_int_equal(rcgc_collect(2), 6);
    assert_int_equal(rcgc_collect(2), 0); /* the garbage list's references hold it */
    assert_int_equal(rcgc_garbage_count(), 3);
    break_graph_ring_from_the_garbage_list();
    rcgc_garbage_clear();
    rcgc_collect(2);
    assert_int_equal(atomic_load(&graphs_released), 3);
}

static void garbage_get_returns_a_new_reference_and_erange_past_the_end(void **state) {
    (void)state;
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    assert_int_equal(rcgc_collect(2), 6);
    rcgc_object *entry = rcgc_garbage_get(0);
    assert_non_null(entry);
    size_t with_ours = rcgc_refcount(entry);
    rcgc_decref(entry);
    assert_int_equal(rcgc_refcount(entry), with_ours - 1);
    errno = 0;
    assert_null(rcgc_garbage_get(3));
    assert_int_equal(errno, ERANGE);
    break_graph_ring_from_the_garbage_list();
    rcgc_garbage_clear();
    rcgc_collect(2);
    assert_int_equal(atomic_load(&graphs_released), 3);
}

static void uncollectable_objects_are_counted_in_stats_and_callbacks(void **state) {
    (void)state;
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    assert_int_equal(rcgc_callback_add(record_callback, &recorded), 0);
    assert_int_equal(rcgc_collect(2), 6);
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), 0);
    rcgc_get_stats(after);
    /* Uncollectable: the Graphs and everything reachable from them. */
    assert_int_equal(after[2].uncollectable, before[2].uncollectable + 6);
    assert_int_equal(after[2].collected, before[2].collected);
    assert_int_equal(recorded.count, 2);
    assert_int_equal(recorded.events[1].phase, RCGC_GC_STOP);
    assert_int_equal(recorded.events[1].info.uncollectable, 6);
    assert_int_equal(recorded.events[1].info.collected, 0);
    break_graph_ring_from_the_garbage_list();
    rcgc_garbage_clear();
    rcgc_collect(2);
    assert_int_equal(atomic_load(&graphs_released), 3);
}

/* ---------------------------------------------------------------- PEP 442 */

static rcgc_object *make_phoenix_pair(void) {
    rcgc_object *a = new_object(&phoenix_type), *b = new_object(&phoenix_type);
    set_other(a, b);
    set_other(b, a);
    rcgc_decref(b);
    return a; /* the host's reference to a */
}

static void finalizers_run_once_each_before_any_clear(void **state) {
    (void)state;
    rcgc_object *a = make_phoenix_pair();
    assert_false(rcgc_is_finalized(a));
    rcgc_decref(a);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&phoenixes_finalized), 2);
    assert_int_equal(atomic_load(&other_seen_inside), 2); /* nothing cleared yet */
    assert_int_equal(atomic_load(&finalized_flag_seen_inside), 2);
    assert_int_equal(atomic_load(&phoenixes_released), 2);
}

static void resurrected_cycle_survives_intact(void **state) {
    (void)state;
    rcgc_object *a = make_phoenix_pair();
    rcgc_object *b = other_of(a);
    rcgc_decref(a);
    phoenix_resurrects = true;
    rcgc_collect(2);
    phoenix_resurrects = false;
    assert_int_equal(atomic_load(&phoenixes_finalized), 2);
    assert_int_equal(atomic_load(&phoenixes_released), 0);
    assert_true(resurrected == a || resurrected == b);
    assert_ptr_equal(other_of(a), b); /* not cleared */
    assert_ptr_equal(other_of(b), a);
    assert_true(rcgc_is_finalized(a));
    assert_true(rcgc_is_finalized(b));
    assert_true(rcgc_is_tracked(a));
    assert_int_equal(rcgc_collect(2), 0); /* alive now: held by `resurrected` */
    assert_int_equal(atomic_load(&phoenixes_released), 0);
}

static void resurrected_object_is_collected_later_without_a_second_finalize(void **state) {
    (void)state;
    rcgc_object *a = make_phoenix_pair();
    rcgc_decref(a);
    phoenix_resurrects = true;
    rcgc_collect(2);
    phoenix_resurrects = false;
    assert_non_null(resurrected);
    rcgc_object *saved = resurrected;
    resurrected = NULL;
    rcgc_decref(saved); /* garbage again */
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&phoenixes_finalized), 2);
    assert_int_equal(atomic_load(&phoenixes_released), 2);
}

static void refcount_death_of_a_tracked_finalizable_object_finalizes_once(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&phoenix_type);
    rcgc_decref(obj);
    assert_int_equal(atomic_load(&phoenixes_finalized), 1);
    assert_int_equal(atomic_load(&phoenixes_released), 1);
}

static void collect_from_a_finalizer_returns_0(void **state) {
    (void)state;
    rcgc_object *a = make_phoenix_pair();
    rcgc_decref(a);
    phoenix_collects = true;
    assert_int_equal(rcgc_collect(2), 2);
    phoenix_collects = false;
    assert_int_equal(collect_from_finalizer, 0);
    assert_int_equal(atomic_load(&phoenixes_released), 2);
}

static void finalizer_may_make_new_garbage_for_a_later_collection(void **state) {
    (void)state;
    rcgc_object *a = make_phoenix_pair();
    rcgc_decref(a);
    phoenix_makes_garbage = true;
    assert_int_equal(rcgc_collect(2), 2);
    phoenix_makes_garbage = false;
    assert_int_equal(atomic_load(&phoenixes_released), 2);
    assert_int_equal(atomic_load(&lists_released), 0);
    assert_int_equal(rcgc_collect(2), 2); /* one list per finalizer */
    assert_int_equal(atomic_load(&lists_released), 2);
}

/* ---------------------------------------------------------------- SAVEALL */

static void saveall_keeps_every_garbage_object_in_the_garbage_list(void **state) {
    (void)state;
    rcgc_set_debug(RCGC_DEBUG_SAVEALL);
    rcgc_object *x = new_self_cycle(), *y = new_self_cycle();
    rcgc_decref(x);
    rcgc_decref(y);
    ptrdiff_t found = rcgc_collect(2);
    assert_int_equal(found, 2);
    assert_int_equal(rcgc_garbage_count(), (size_t)found);
    assert_int_equal(atomic_load(&lists_released), 0);
    bool seen_x = false, seen_y = false;
    for (size_t i = 0; i < 2; i++) {
        rcgc_object *entry = rcgc_garbage_get(i);
        seen_x |= entry == x;
        seen_y |= entry == y;
        rcgc_decref(entry);
    }
    assert_true(seen_x && seen_y);
    assert_ptr_equal(list_item(x, 0), x); /* not cleared */
    rcgc_set_debug(0);
    assert_int_equal(rcgc_garbage_clear(), 2);
    assert_int_equal(atomic_load(&lists_released), 0); /* still cycles */
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&lists_released), 2);
}

static void debug_leak_lists_graphs_and_their_dicts_as_in_seed_001(void **state) {
    (void)state;
    assert_int_equal(RCGC_DEBUG_LEAK, 38);
    assert_int_equal(RCGC_DEBUG_LEAK,
                     RCGC_DEBUG_COLLECTABLE | RCGC_DEBUG_UNCOLLECTABLE | RCGC_DEBUG_SAVEALL);
    rcgc_set_debug(RCGC_DEBUG_LEAK);
    assert_int_equal(rcgc_get_debug(), RCGC_DEBUG_LEAK);
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    struct output out;
    output_begin(&out);
    assert_int_equal(rcgc_collect(2), 6);
    output_end(&out);
    rcgc_set_debug(0);
    assert_int_equal(rcgc_garbage_count(), 6);
    void *found[8];
    size_t n_graphs = lines_naming(out.text, "uncollectable", "Graph", found, 8);
    assert_int_equal(n_graphs, 3);
    for (int i = 0; i < 3; i++)
        assert_true(pointer_listed(found, n_graphs, graphs[i]));
    size_t n_dicts = lines_naming(out.text, "uncollectable", "dict", found, 8);
    assert_int_equal(n_dicts, 3);
    for (int i = 0; i < 3; i++)
        assert_true(pointer_listed(found, n_dicts, dicts[i]));
    free(out.text);
    break_graph_ring_from_the_garbage_list();
    assert_int_equal(rcgc_garbage_clear(), 6);
    rcgc_collect(2);
    assert_int_equal(atomic_load(&graphs_released), 3);
    assert_int_equal(atomic_load(&dicts_released), 3);
}

/* ----------------------------------------------------------- Debug output */

static void get_debug_returns_what_was_set(void **state) {
    (void)state;
    assert_int_equal(rcgc_get_debug(), 0);
    rcgc_set_debug(RCGC_DEBUG_STATS | RCGC_DEBUG_UNCOLLECTABLE);
    assert_int_equal(rcgc_get_debug(), RCGC_DEBUG_STATS | RCGC_DEBUG_UNCOLLECTABLE);
    rcgc_set_debug(0);
    assert_int_equal(rcgc_get_debug(), 0);
}

static void no_debug_flags_print_nothing(void **state) {
    (void)state;
    make_garbage_self_cycles(2);
    struct output out;
    output_begin(&out);
    assert_int_equal(rcgc_collect(2), 2);
    output_end(&out);
    assert_int_equal(out.length, 0);
    free(out.text);
}

static void debug_stats_prints_the_start_and_the_result(void **state) {
    (void)state;
    size_t old = objects_in_generation(2);
    make_garbage_self_cycles(3);
    keep_new_instances(2);
    rcgc_set_debug(RCGC_DEBUG_STATS);
    struct output out;
    output_begin(&out);
    assert_int_equal(rcgc_collect(2), 3);
    output_end(&out);
    rcgc_set_debug(0);

    assert_non_null(strstr(out.text, "gc: collecting generation 2...\n"));
    const char *line = strstr(out.text, "gc: objects in each generation: ");
    assert_non_null(line);
    size_t g0 = 99, g1 = 99, g2 = 99;
    assert_int_equal(sscanf(line, "gc: objects in each generation: %zu %zu %zu", &g0, &g1, &g2), 3);
    assert_int_equal(g0, 5); /* before the collection: 3 cycles and 2 kept */
    assert_int_equal(g1, 0);
    assert_int_equal(g2, old);
    line = strstr(out.text, "gc: objects in permanent generation: ");
    assert_non_null(line);
    size_t permanent = 99;
    assert_int_equal(sscanf(line, "gc: objects in permanent generation: %zu", &permanent), 1);
    assert_int_equal(permanent, 0);
    line = strstr(out.text, "gc: done, ");
    assert_non_null(line);
    size_t unreachable = 99, uncollectable = 99;
    char seconds[32] = "";
    assert_int_equal(sscanf(line,
                            "gc: done, %zu unreachable, %zu uncollectable, %31[0-9.]s elapsed",
                            &unreachable, &uncollectable, seconds),
                     3);
    assert_int_equal(unreachable, 3);
    assert_int_equal(uncollectable, 0);
    const char *dot = strchr(seconds, '.');
    assert_non_null(dot);
    assert_int_equal(strlen(dot + 1), 4); /* %.4f */
    assert_non_null(strstr(line, "s elapsed\n"));
    free(out.text);
    drop_kept();
}

static void debug_collectable_names_each_collected_object(void **state) {
    (void)state;
    rcgc_object *x = new_self_cycle();
    rcgc_object *y = new_object(&instance_type);
    set_other(y, y);
    rcgc_decref(x);
    rcgc_decref(y);
    rcgc_set_debug(RCGC_DEBUG_COLLECTABLE);
    struct output out;
    output_begin(&out);
    assert_int_equal(rcgc_collect(2), 2);
    output_end(&out);
    rcgc_set_debug(0);
    void *found[4];
    assert_int_equal(lines_naming(out.text, "collectable", "list", found, 4), 1);
    assert_ptr_equal(found[0], x);
    assert_int_equal(lines_naming(out.text, "collectable", "instance", found, 4), 1);
    assert_ptr_equal(found[0], y);
    assert_null(strstr(out.text, "uncollectable"));
    free(out.text);
    assert_int_equal(atomic_load(&lists_released), 1);
    assert_int_equal(atomic_load(&instances_released), 1);
}

static void debug_uncollectable_names_graphs_and_what_they_reach(void **state) {
    (void)state;
    rcgc_object *graphs[3], *dicts[3];
    make_graph_ring(graphs, dicts);
    make_garbage_self_cycles(1); /* collectable: not named */
    rcgc_set_debug(RCGC_DEBUG_UNCOLLECTABLE);
    struct output out;
    output_begin(&out);
    assert_int_equal(rcgc_collect(2), 7);
    output_end(&out);
    rcgc_set_debug(0);
    void *found[8];
    size_t n = lines_naming(out.text, "uncollectable", "Graph", found, 8);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_true(pointer_listed(found, n, graphs[i]));
    n = lines_naming(out.text, "uncollectable", "dict", found, 8);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_true(pointer_listed(found, n, dicts[i]));
    assert_int_equal(lines_naming(out.text, "uncollectable", "list", found, 8), 0);
    assert_null(strstr(out.text, "gc: collectable"));
    assert_int_equal(rcgc_garbage_count(), 3); /* UNCOLLECTABLE alone does not save all */
    free(out.text);
    assert_int_equal(atomic_load(&lists_released), 1);
    break_graph_ring_from_the_garbage_list();
    rcgc_garbage_clear();
    rcgc_collect(2);
    assert_int_equal(atomic_load(&graphs_released), 3);
}

/* -------------------------------------------------------------- Callbacks */

static void callbacks_see_start_then_stop_with_the_results(void **state) {
    (void)state;
    assert_int_equal(rcgc_callback_add(record_callback, &recorded), 0);
    make_garbage_self_cycles(2);
    assert_int_equal(rcgc_collect(1), 2);
    assert_int_equal(recorded.count, 2);
    assert_ptr_equal(recorded.arg_seen, &recorded);
    assert_int_equal(recorded.events[0].phase, RCGC_GC_START);
    assert_int_equal(recorded.events[0].info.generation, 1);
    assert_int_equal(recorded.events[0].info.collected, 0);
    assert_int_equal(recorded.events[0].info.uncollectable, 0);
    assert_int_equal(recorded.events[1].phase, RCGC_GC_STOP);
    assert_int_equal(recorded.events[1].info.generation, 1);
    assert_int_equal(recorded.events[1].info.collected, 2);
    assert_int_equal(recorded.events[1].info.uncollectable, 0);
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), 0);
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(recorded.count, 2); /* removed: not called again */
}

static void automatic_collection_calls_callbacks_with_its_generation(void **state) {
    (void)state;
    repeat_collect(0, 9);
    keep_new_instances(699);
    assert_int_equal(rcgc_callback_add(record_callback, &recorded), 0);
    keep_new_instances(1); /* (700, 9, 0): a generation-1 collection */
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), 0);
    assert_int_equal(recorded.count, 2);
    assert_int_equal(recorded.events[0].phase, RCGC_GC_START);
    assert_int_equal(recorded.events[0].info.generation, 1);
    assert_int_equal(recorded.events[1].phase, RCGC_GC_STOP);
    assert_int_equal(recorded.events[1].info.generation, 1);
    drop_kept();
}

static void callback_remove_of_an_unknown_one_fails_with_enoent(void **state) {
    (void)state;
    errno = 0;
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(rcgc_callback_add(record_callback, &recorded), 0);
    errno = 0;
    assert_int_equal(rcgc_callback_remove(record_callback, NULL), -1); /* other arg */
    assert_int_equal(errno, ENOENT);
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), 0);
    errno = 0;
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), -1);
    assert_int_equal(errno, ENOENT);
}

static void collect_from_a_callback_returns_0(void **state) {
    (void)state;
    recorded.collect_inside = true;
    assert_int_equal(rcgc_callback_add(record_callback, &recorded), 0);
    make_garbage_self_cycles(1);
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(rcgc_callback_remove(record_callback, &recorded), 0);
    assert_int_equal(recorded.count, 2); /* the nested call started no collection */
    assert_int_equal(recorded.collect_result, 0);
    assert_int_equal(atomic_load(&lists_released), 1);
}

/* ------------------------------------------------------------- Statistics */

static void stats_count_collections_and_collected_per_generation(void **state) {
    (void)state;
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    make_garbage_self_cycles(1);
    assert_int_equal(rcgc_collect(0), 1);
    rcgc_get_stats(after);
    assert_int_equal(after[0].collections, before[0].collections + 1);
    assert_int_equal(after[0].collected, before[0].collected + 1);
    assert_int_equal(after[1].collections, before[1].collections);
    assert_int_equal(after[2].collections, before[2].collections);
    make_garbage_self_cycles(2);
    assert_int_equal(rcgc_collect(2), 2);
    rcgc_get_stats(after);
    assert_int_equal(after[2].collections, before[2].collections + 1);
    assert_int_equal(after[2].collected, before[2].collected + 2);
    assert_int_equal(after[0].collections, before[0].collections + 1);
    for (int g = 0; g < RCGC_GENERATIONS; g++)
        assert_true(after[g].max_pause_ns <= after[g].total_pause_ns);
}

static void print_gc_stats_shows_the_thresholds(void **state) {
    (void)state;
    rcgc_set_threshold(123, 45, 67);
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    assert_non_null(stream);
    rcgc_print_gc_stats(stream);
    fclose(stream);
    assert_non_null(strstr(text, "123"));
    assert_non_null(strstr(text, "45"));
    assert_non_null(strstr(text, "67"));
    free(text);
}

/* -------------------------------------------------------------- Environment */

/* The child's half: print the settings read from the environment at start. */
static int print_gc_settings(void) {
    rcgc_thread_attach();
    unsigned threshold[RCGC_GENERATIONS];
    rcgc_get_threshold(threshold);
    printf("thresholds %u %u %u debug %u\n", threshold[0], threshold[1], threshold[2],
           rcgc_get_debug());
    return 0;
}

static void thresholds_are_read_from_rcgc_thresholds(void **state) {
    (void)state;
    struct child_result result;
    child_exec_self("--print-gc-settings", "RCGC_THRESHOLDS=100,5,3", &result);
    assert_true(result.exited);
    assert_int_equal(result.code, 0);
    assert_non_null(strstr(result.output, "thresholds 100 5 3 "));
}

static void debug_flags_are_read_from_rcgc_debug(void **state) {
    (void)state;
    struct child_result result;
    child_exec_self("--print-gc-settings", "RCGC_DEBUG=stats,saveall", &result);
    assert_true(result.exited);
    assert_non_null(strstr(result.output, " debug 33\n"));
    child_exec_self("--print-gc-settings", "RCGC_DEBUG=leak", &result);
    assert_true(result.exited);
    assert_non_null(strstr(result.output, " debug 38\n"));
}

/* ----------------------------------------------------------------- Freeze */

static void frozen_objects_are_left_out_until_unfrozen(void **state) {
    (void)state;
    rcgc_object *live = new_object(&list_type);
    rcgc_object *cycle = new_self_cycle();
    rcgc_decref(cycle); /* garbage, but frozen below */
    size_t tracked = objects_in_generation(-1);
    assert_true(tracked >= 2);
    assert_count(2, 0, 0);
    rcgc_freeze();
    assert_true(rcgc_get_freeze_count() >= tracked);
    assert_count(0, 0, 0);
    assert_false(in_generation(-1, live)); /* the permanent generation is not listed */
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&lists_released), 0);
    rcgc_unfreeze();
    assert_int_equal(rcgc_get_freeze_count(), 0);
    assert_true(in_generation(2, live));
    assert_int_equal(rcgc_collect(2), 1);
    assert_int_equal(atomic_load(&lists_released), 1);
    rcgc_decref(live);
}

/* ----------------------------------------------------------- Introspection */

static void survivors_move_to_older_generations(void **state) {
    (void)state;
    rcgc_object *obj = new_object(&list_type);
    assert_true(in_generation(0, obj));
    assert_false(in_generation(1, obj));
    assert_false(in_generation(2, obj));
    assert_true(in_generation(-1, obj));
    assert_int_equal(rcgc_collect(0), 0);
    assert_false(in_generation(0, obj));
    assert_true(in_generation(1, obj));
    assert_int_equal(rcgc_collect(1), 0);
    assert_false(in_generation(1, obj));
    assert_true(in_generation(2, obj));
    assert_true(in_generation(-1, obj));
    rcgc_decref(obj);
}

struct dropper {
    rcgc_object *objects[2];
    int dropped;
    long released_while_visiting;
};

/* Drops the host's reference to each of its objects it is shown. */
static int drop_when_visited(rcgc_object *obj, void *arg) {
    struct dropper *d = arg;
    for (int i = 0; i < 2; i++) {
        if (obj == d->objects[i]) {
            d->objects[i] = NULL;
            rcgc_decref(obj);
            d->dropped++;
            d->released_while_visiting += atomic_load(&lists_released);
        }
    }
    return 0;
}

static void get_objects_visitor_may_drop_the_last_host_reference(void **state) {
    (void)state;
    struct dropper d = {.objects = {new_object(&list_type), new_object(&list_type)}};
    assert_true(rcgc_get_objects(0, drop_when_visited, &d) >= 2);
    assert_int_equal(d.dropped, 2);
    assert_int_equal(d.released_while_visiting, 0); /* held by get_objects meanwhile */
    assert_int_equal(atomic_load(&lists_released), 2);
}

static void get_objects_of_a_bad_generation_fails_with_einval(void **state) {
    (void)state;
    struct visits v = {0};
    errno = 0;
    assert_int_equal(rcgc_get_objects(3, record_visit, &v), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(rcgc_get_objects(-2, record_visit, &v), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(v.count, 0);
}

static void get_referrers_visits_exactly_the_tracked_holders(void **state) {
    (void)state;
    rcgc_object *target = new_object(&instance_type);
    rcgc_object *holder_list = new_object(&list_type);
    rcgc_object *holder_instance = new_object(&instance_type);
    rcgc_object *untracked_holder = new_object(&list_type);
    rcgc_object *bystander = new_object(&list_type);
    list_append(holder_list, target);
    set_other(holder_instance, target);
    list_append(untracked_holder, target);
    rcgc_untrack(untracked_holder);
    rcgc_object *leaf = str_new("x");
    list_append(bystander, leaf);
    rcgc_decref(leaf);

    struct visits v = {0};
    assert_int_equal(rcgc_get_referrers(target, record_visit, &v), 2);
    assert_int_equal(v.count, 2);
    assert_true(visited(&v, holder_list));
    assert_true(visited(&v, holder_instance));

    rcgc_decref(holder_list);
    rcgc_decref(holder_instance);
    rcgc_decref(untracked_holder);
    rcgc_decref(bystander);
    rcgc_decref(target);
    assert_int_equal(atomic_load(&instances_released), 2);
    assert_int_equal(atomic_load(&lists_released), 3);
}

static void get_referents_visits_what_traverse_reports(void **state) {
    (void)state;
    rcgc_object *list = new_object(&list_type);
    rcgc_object *a = new_object(&instance_type), *leaf = str_new("x");
    list_append(list, a);
    list_append(list, leaf);
    ((struct list *)list)->items[3] = list; /* a slot left NULL in between */
    rcgc_incref(list);
    struct visits v = {0};
    assert_int_equal(rcgc_get_referents(list, record_visit, &v), 3);
    assert_int_equal(v.count, 3);
    assert_true(visited(&v, a));
    assert_true(visited(&v, leaf));
    assert_true(visited(&v, list));
    struct visits none = {0};
    assert_int_equal(rcgc_get_referents(leaf, record_visit, &none), 0);
    assert_int_equal(none.count, 0);
    rcgc_decref(a);
    rcgc_decref(leaf);
    rcgc_decref(list);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&strs_released), 1);
}

/* A search stops the walk once it finds what it looks for. */
struct stop_at {
    const rcgc_object *wanted;
    size_t visits;
};

static int stop_when_found(rcgc_object *obj, void *arg) {
    struct stop_at *stop = arg;
    stop->visits++;
    return obj == stop->wanted;
}

static void walks_stop_when_the_visitor_says_so(void **state) {
    (void)state;
    keep_new_instances(100);
    struct stop_at stop = {.wanted = kept[0]};
    ptrdiff_t visited_count = rcgc_get_objects(-1, stop_when_found, &stop);
    assert_true(visited_count >= 1);
    assert_int_equal((size_t)visited_count, stop.visits);
    assert_true(stop.visits < 100); /* not every object: it stopped */

    rcgc_object *list = new_object(&list_type);
    for (int i = 0; i < 3; i++)
        list_append(list, kept[i]);
    stop = (struct stop_at){.wanted = kept[1]};
    assert_int_equal(rcgc_get_referents(list, stop_when_found, &stop), 2);
    assert_int_equal(stop.visits, 2);

    stop = (struct stop_at){.wanted = list};
    assert_int_equal(rcgc_get_referrers(kept[2], stop_when_found, &stop), 1);
    rcgc_decref(list);
    drop_kept();
}

/* ---------------------------------------------------------- Large graphs */

enum { MILLION = 1000000 };

/* A chain of @length instances, each holding the next; returns the head
 * with the host's one reference. */
static rcgc_object *make_chain(long length) {
    rcgc_object *head = new_object(&instance_type), *tail = head;
    for (long i = 1; i < length; i++) {
        rcgc_object *next = new_object(&instance_type);
        ((struct instance *)tail)->other = next; /* the new reference moves in */
        tail = next;
    }
    return head;
}

static rcgc_object *chain_tail(rcgc_object *head) {
    while (other_of(head) != NULL)
        head = other_of(head);
    return head;
}

static void ring_of_a_million_is_collected(void **state) {
    (void)state;
    rcgc_disable(); /* build it without collections along the way */
    rcgc_object *head = make_chain(MILLION);
    set_other(chain_tail(head), head);
    rcgc_enable();
    rcgc_decref(head);
    assert_int_equal(rcgc_collect(2), MILLION);
    assert_int_equal(atomic_load(&instances_released), MILLION);
}

static void chain_of_a_million_off_a_cycle_is_collected(void **state) {
    (void)state;
    rcgc_disable();
    rcgc_object *cycle = new_self_cycle();
    ((struct list *)cycle)->items[1] = make_chain(MILLION);
    rcgc_enable();
    rcgc_decref(cycle);
    assert_int_equal(rcgc_collect(2), MILLION + 1);
    assert_int_equal(atomic_load(&lists_released), 1);
    assert_int_equal(atomic_load(&instances_released), MILLION);
}

static void live_chain_of_a_million_survives_a_full_collection(void **state) {
    (void)state;
    rcgc_disable();
    rcgc_object *head = make_chain(MILLION);
    rcgc_enable();
    assert_int_equal(rcgc_collect(2), 0);
    assert_int_equal(atomic_load(&instances_released), 0);
    assert_int_equal(rcgc_collect(2), 0); /* and again, all of it in generation 2 */
    rcgc_decref(head);
    assert_int_equal(atomic_load(&instances_released), MILLION);
}

/* ---------------------------------------------------------------- Threads */

enum { THREAD_CYCLES = 20000 };

static _Atomic bool maker_done;
static _Atomic long collected_by_callbacks;
static _Atomic long thread_failures;

static void sum_collected(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg) {
    (void)arg;
    if (phase == RCGC_GC_STOP)
        atomic_fetch_add(&collected_by_callbacks, (long)info->collected);
}

static void *make_garbage_cycles(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    for (int i = 0; i < THREAD_CYCLES; i++) {
        rcgc_object *obj = rcgc_new(&instance_type);
        if (obj == NULL) {
            atomic_fetch_add(&thread_failures, 1);
            break;
        }
        set_other(obj, obj);
        rcgc_decref(obj);
    }
    atomic_store(&maker_done, true);
    rcgc_thread_detach();
    return NULL;
}

static void *collect_until_maker_done(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    while (!atomic_load(&maker_done))
        if (rcgc_collect(2) < 0)
            atomic_fetch_add(&thread_failures, 1);
    rcgc_thread_detach();
    return NULL;
}

static void collections_from_two_threads_while_a_third_makes_garbage(void **state) {
    (void)state;
    atomic_store(&maker_done, false);
    atomic_store(&collected_by_callbacks, 0);
    atomic_store(&thread_failures, 0);
    assert_int_equal(rcgc_callback_add(sum_collected, NULL), 0);
    pthread_t collectors[2], maker;
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&collectors[i], NULL, collect_until_maker_done, NULL), 0);
    assert_int_equal(pthread_create(&maker, NULL, make_garbage_cycles, NULL), 0);
    rcgc_blocking_begin(); /* collections must not wait for this thread */
    pthread_join(maker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(collectors[i], NULL);
    rcgc_blocking_end();
    rcgc_collect(2);
    assert_int_equal(rcgc_callback_remove(sum_collected, NULL), 0);
    assert_int_equal(atomic_load(&thread_failures), 0);
    assert_int_equal(atomic_load(&instances_released), THREAD_CYCLES);
    assert_int_equal(atomic_load(&collected_by_callbacks), THREAD_CYCLES); /* each found once */
}

static void *collect_once_unattached(void *arg) {
    *(ptrdiff_t *)arg = rcgc_collect(2);
    return NULL;
}

static void collect_from_an_unattached_thread_frees_another_threads_cycle(void **state) {
    (void)state;
    make_garbage_self_cycles(1);
    ptrdiff_t found = -2;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, collect_once_unattached, &found), 0);
    rcgc_blocking_begin();
    pthread_join(thread, NULL);
    rcgc_blocking_end();
    assert_int_equal(found, 1);
    rcgc_safepoint(); /* the list is ours: the collector's decrement was queued to us */
    assert_int_equal(atomic_load(&lists_released), 1);
}

struct blocked_reader {
    int fds[2];
    _Atomic bool attached;
};

static void *read_in_blocking_region(void *arg) {
    struct blocked_reader *r = arg;
    rcgc_thread_attach();
    atomic_store(&r->attached, true);
    rcgc_blocking_begin();
    char byte;
    ssize_t got = read(r->fds[0], &byte, 1); /* blocks until the test writes */
    rcgc_blocking_end();
    rcgc_thread_detach();
    return (void *)(intptr_t)got;
}

static void blocked_thread_does_not_hold_up_a_collection(void **state) {
    (void)state;
    struct blocked_reader reader = {.attached = false};
    assert_int_equal(pipe(reader.fds), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, read_in_blocking_region, &reader), 0);
    while (!atomic_load(&reader.attached))
        sched_yield();
    make_garbage_self_cycles(1);
    assert_int_equal(rcgc_collect(2), 1); /* would hang if it waited for the reader */
    assert_int_equal(atomic_load(&lists_released), 1);
    assert_int_equal(write(reader.fds[1], "x", 1), 1);
    void *got = NULL;
    rcgc_blocking_begin();
    pthread_join(thread, &got);
    rcgc_blocking_end();
    assert_int_equal((intptr_t)got, 1);
    close(reader.fds[0]);
    close(reader.fds[1]);
}

/* An optional argument runs only the tests matching it (cmocka's pattern). */
int main(int argc, char **argv) {
#define GC_TEST(name)                                                                              \
    cmocka_unit_test_setup_teardown(name, start_from_a_full_collection, restore_defaults)
    const struct CMUnitTest tests[] = {
        GC_TEST(gc_objects_are_tracked_from_creation),
        GC_TEST(leaf_objects_are_never_tracked),
        GC_TEST(traverse_reporting_a_reference_twice_is_reported),
        GC_TEST(untrack_and_track_are_idempotent),
        GC_TEST(track_of_a_leaf_object_is_reported),
        GC_TEST(self_cycle_of_a_list_is_collected),
        GC_TEST(deferred_cycle_is_freed_by_the_collection_that_finds_it),
        GC_TEST(self_cycle_of_an_instance_is_collected),
        GC_TEST(self_cycle_of_a_dict_is_collected),
        GC_TEST(collect_with_no_garbage_returns_0_and_frees_nothing),
        GC_TEST(two_list_cycle_with_both_dropped_is_collected),
        GC_TEST(dropping_only_a_keeps_both_alive),
        GC_TEST(cycle_reachable_from_a_live_object_survives),
        GC_TEST(cycle_through_an_untracked_object_is_not_collected),
        GC_TEST(garbage_cycle_of_atomic_objects_is_collected),
        GC_TEST(garbage_cycle_through_a_deferred_object_is_collected),
        GC_TEST(immortal_object_keeps_its_cycle_alive),
        GC_TEST(young_collection_keeps_objects_held_by_older_ones),
        GC_TEST(young_collection_leaves_older_garbage_alone),
        GC_TEST(cycle_spanning_two_generations_needs_the_older_one_collected),
        GC_TEST(gc_creations_raise_count0_and_leaf_ones_do_not),
        GC_TEST(deaths_lower_count0_but_never_below_zero),
        GC_TEST(collect_resets_younger_counts_and_bumps_the_next),
        GC_TEST(seed_000_count_699_3_0_plus_one_runs_collect0),
        GC_TEST(seed_000_count_699_9_0_plus_one_runs_collect1),
        GC_TEST(seed_000_count_699_9_9_plus_one_runs_a_full_collection),
        GC_TEST(full_collection_waits_for_a_quarter_of_old_objects_promoted),
        GC_TEST(disable_stops_automatic_collection_and_enable_resumes_it),
        GC_TEST(threshold0_of_zero_disables_automatic_collection),
        GC_TEST(objects_dying_by_count_do_not_grow_the_young_table),
        GC_TEST(lower_threshold0_collects_sooner),
        GC_TEST(collect_of_a_bad_generation_fails_with_einval),
        GC_TEST(automatic_collection_frees_garbage_cycles),
        GC_TEST(graph_ring_with_legacy_finalizers_goes_to_garbage),
        GC_TEST(uncollectable_ring_is_listed_once),
        GC_TEST(garbage_get_returns_a_new_reference_and_erange_past_the_end),
        GC_TEST(uncollectable_objects_are_counted_in_stats_and_callbacks),
        GC_TEST(finalizers_run_once_each_before_any_clear),
        GC_TEST(resurrected_cycle_survives_intact),
        GC_TEST(resurrected_object_is_collected_later_without_a_second_finalize),
        GC_TEST(refcount_death_of_a_tracked_finalizable_object_finalizes_once),
        GC_TEST(collect_from_a_finalizer_returns_0),
        GC_TEST(finalizer_may_make_new_garbage_for_a_later_collection),
        GC_TEST(saveall_keeps_every_garbage_object_in_the_garbage_list),
        GC_TEST(debug_leak_lists_graphs_and_their_dicts_as_in_seed_001),
        GC_TEST(get_debug_returns_what_was_set),
        GC_TEST(no_debug_flags_print_nothing),
        GC_TEST(debug_stats_prints_the_start_and_the_result),
        GC_TEST(debug_collectable_names_each_collected_object),
        GC_TEST(debug_uncollectable_names_graphs_and_what_they_reach),
        GC_TEST(callbacks_see_start_then_stop_with_the_results),
        GC_TEST(automatic_collection_calls_callbacks_with_its_generation),
        GC_TEST(callback_remove_of_an_unknown_one_fails_with_enoent),
        GC_TEST(collect_from_a_callback_returns_0),
        GC_TEST(stats_count_collections_and_collected_per_generation),
        GC_TEST(print_gc_stats_shows_the_thresholds),
        GC_TEST(thresholds_are_read_from_rcgc_thresholds),
        GC_TEST(debug_flags_are_read_from_rcgc_debug),
        GC_TEST(frozen_objects_are_left_out_until_unfrozen),
        GC_TEST(survivors_move_to_older_generations),
        GC_TEST(get_objects_visitor_may_drop_the_last_host_reference),
        GC_TEST(get_objects_of_a_bad_generation_fails_with_einval),
        GC_TEST(get_referrers_visits_exactly_the_tracked_holders),
        GC_TEST(get_referents_visits_what_traverse_reports),
        GC_TEST(walks_stop_when_the_visitor_says_so),
        GC_TEST(ring_of_a_million_is_collected),
        GC_TEST(chain_of_a_million_off_a_cycle_is_collected),
        GC_TEST(live_chain_of_a_million_survives_a_full_collection),
        GC_TEST(collections_from_two_threads_while_a_third_makes_garbage),
        GC_TEST(collect_from_an_unattached_thread_frees_another_threads_cycle),
        GC_TEST(blocked_thread_does_not_hold_up_a_collection),
    };
#undef GC_TEST
    if (argc == 2 && strcmp(argv[1], "--print-gc-settings") == 0)
        return print_gc_settings();
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("gc", tests, NULL, NULL);
}
