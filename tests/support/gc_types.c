/* tests/support/gc_types.c - the collector tests' shared types, helpers
 * and fixture (gc_types.h). */
#include "support/gc_types.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ------------------------------------------------------------- Test types */

/* How many objects of each type died; reset before every test. */
_Atomic long instances_released, phoenixes_released;

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

const rcgc_type instance_type = {.name = "instance",
                                 .size = sizeof(struct instance),
                                 .flags = RCGC_TYPE_GC,
                                 .traverse = instance_traverse,
                                 .clear = instance_clear,
                                 .release = instance_release};

_Atomic long graphs_finalized;

/* Graph's __del__ for the tests: counted, not printed. */
static void count_graph_del(rcgc_object *self) {
    (void)self;
    atomic_fetch_add(&graphs_finalized, 1);
}

/* "phoenix": an instance with a PEP 442 finalizer that records what it saw
 * and, when asked, resurrects its object into `resurrected`. */
_Atomic long phoenixes_finalized, finalized_flag_seen_inside, other_seen_inside;
bool phoenix_resurrects, phoenix_collects, phoenix_makes_garbage;
rcgc_object *resurrected;
ptrdiff_t collect_from_finalizer;

static void phoenix_finalize(rcgc_object *self) {
    atomic_fetch_add(&phoenixes_finalized, 1);
    if (rcgc_is_finalized(self))
        atomic_fetch_add(&finalized_flag_seen_inside, 1);
    if (((struct instance *)self)->other != NULL)
        atomic_fetch_add(&other_seen_inside, 1);
    if (phoenix_collects)
        collect_from_finalizer = rcgc_collect(RCGC_GENERATIONS - 1);
    if (phoenix_makes_garbage) { /* a list holding itself, dropped */
        rcgc_object *list = model_list_new();
        if (list != NULL && model_list_append(list, list) == 0)
            rcgc_decref(list);
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

const rcgc_type phoenix_type = {.name = "phoenix",
                                .size = sizeof(struct instance),
                                .flags = RCGC_TYPE_GC,
                                .traverse = instance_traverse,
                                .clear = instance_clear,
                                .finalize = phoenix_finalize,
                                .release = phoenix_release};

/* ---------------------------------------------------------------- Helpers */

rcgc_object *new_object(const rcgc_type *type) {
    rcgc_object *obj = rcgc_new(type);
    assert_non_null(obj);
    return obj;
}

/* list.append(item): the list takes a new reference. */
rcgc_object *list_new(void) {
    rcgc_object *list = model_list_new();
    assert_non_null(list);
    return list;
}

void list_append(rcgc_object *list, rcgc_object *item) {
    assert_int_equal(model_list_append(list, item), 0);
}

/* obj.other = other, for instances and phoenixes. */
void set_other(rcgc_object *obj, rcgc_object *other) {
    struct instance *in = (struct instance *)obj;
    rcgc_object *old = in->other;
    if (other != NULL)
        rcgc_incref(other);
    in->other = other;
    rcgc_xdecref(old);
}

rcgc_object *other_of(rcgc_object *obj) { return ((struct instance *)obj)->other; }

rcgc_object *str_new(const char *text) {
    rcgc_object *str = model_str_new(text);
    assert_non_null(str);
    return str;
}

/* Seed 001's demo: one->two->three->one, each link through a dict; the
 * host's references are dropped, so six containers are garbage. */
void make_graph_ring(rcgc_object *graphs[3], rcgc_object *dicts[3]) {
    static const char *const names[3] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        graphs[i] = model_graph_new(names[i]);
        assert_non_null(graphs[i]);
        dicts[i] = model_instance_dict(graphs[i]);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(model_graph_set_next(graphs[i], graphs[(i + 1) % 3]), 0);
    for (int i = 0; i < 3; i++)
        rcgc_decref(graphs[i]);
}

/* What the seed does afterwards: gc.garbage[i].set_next(None) on a Graph,
 * then `del gc.garbage[:]`. */
void break_graph_ring_from_the_garbage_list(void) {
    for (size_t i = 0; i < rcgc_garbage_count(); i++) {
        rcgc_object *entry = rcgc_garbage_get(i);
        assert_non_null(entry);
        bool is_graph = model_class_of(entry) == &model_graph_class;
        if (is_graph)
            assert_int_equal(model_graph_set_next(entry, NULL), 0);
        rcgc_decref(entry);
        if (is_graph)
            return;
    }
    fail_msg("no Graph in the garbage list");
}

/* A list holding itself, still with the host's reference. */
rcgc_object *new_self_cycle(void) {
    rcgc_object *list = list_new();
    list_append(list, list);
    return list;
}

void make_garbage_self_cycles(int how_many) {
    for (int i = 0; i < how_many; i++)
        rcgc_decref(new_self_cycle());
}

rcgc_object *kept[KEPT_MAX];
size_t kept_len;

void keep_new_instances(size_t how_many) {
    for (size_t i = 0; i < how_many; i++) {
        assert_true(kept_len < KEPT_MAX);
        kept[kept_len++] = new_object(&instance_type);
    }
}

void drop_kept(void) {
    while (kept_len > 0)
        rcgc_decref(kept[--kept_len]);
}

void repeat_collect(int generation, int times) {
    for (int i = 0; i < times; i++)
        assert_int_equal(rcgc_collect(generation), 0);
}

int record_visit(rcgc_object *obj, void *arg) {
    struct visits *v = arg;
    if (v->count < VISITS_LOGGED)
        v->logged[v->count] = obj;
    v->count++;
    return 0;
}

bool visited(const struct visits *v, const rcgc_object *obj) {
    for (size_t i = 0; i < v->count && i < VISITS_LOGGED; i++)
        if (v->logged[i] == obj)
            return true;
    return false;
}

int search_visit(rcgc_object *obj, void *arg) {
    struct search *s = arg;
    s->visits++;
    if (obj == s->wanted)
        s->found++;
    return 0;
}

bool in_generation(int generation, const rcgc_object *obj) {
    struct search s = {.wanted = obj};
    ptrdiff_t visited_count = rcgc_get_objects(generation, search_visit, &s);
    assert_int_equal(visited_count, (ptrdiff_t)s.visits);
    assert_true(s.found <= 1);
    return s.found == 1;
}

size_t objects_in_generation(int generation) {
    struct search s = {.wanted = NULL};
    assert_true(rcgc_get_objects(generation, search_visit, &s) >= 0);
    return s.visits;
}

void output_begin(struct output *out) {
    out->text = NULL;
    out->length = 0;
    out->stream = open_memstream(&out->text, &out->length);
    assert_non_null(out->stream);
    rcgc_set_debug_stream(out->stream);
}

void output_end(struct output *out) {
    rcgc_set_debug_stream(NULL);
    fclose(out->stream); /* out->text now holds everything written */
}

/* The objects named by lines "gc: <what> <type_name 0x...>" in @text. */
size_t lines_naming(const char *text, const char *what, const char *type_name, void *found[],
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

bool pointer_listed(void *const found[], size_t n, const void *ptr) {
    for (size_t i = 0; i < n; i++)
        if (found[i] == ptr)
            return true;
    return false;
}

struct gc_recorded recorded;

void record_callback(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg) {
    recorded.arg_seen = arg;
    if (recorded.count < EVENTS_MAX)
        recorded.events[recorded.count] = (struct gc_event){phase, *info};
    recorded.count++;
    if (recorded.collect_inside)
        recorded.collect_result = rcgc_collect(RCGC_GENERATIONS - 1);
}

/* ---------------------------------------------------------------- Fixture */

int start_from_a_full_collection(void **state) {
    (void)state;
    rcgc_set_debug(0);
    rcgc_set_debug_stream(NULL);
    rcgc_set_threshold(700, 10, 10);
    rcgc_enable();
    rcgc_collect(2);
    rcgc_garbage_clear();
    rcgc_collect(2);
    model_class *const model_classes[] = {&model_list_class, &model_dict_class, &model_str_class,
                                          &model_graph_class};
    for (size_t i = 0; i < sizeof model_classes / sizeof model_classes[0]; i++)
        model_reset_counts(model_classes[i]);
    model_graph_class.del = count_graph_del;
    atomic_store(&instances_released, 0);
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

_Atomic long collected_by_callbacks;

void sum_collected(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg) {
    (void)arg;
    if (phase == RCGC_GC_STOP)
        atomic_fetch_add(&collected_by_callbacks, (long)info->collected);
}

/* Undo what a failed test may have left behind. */
int restore_defaults(void **state) {
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
