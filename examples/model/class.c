/* examples/model/class.c - classes and their counters, instances with an
 * attribute dict, and the classes the model ships: plain objects, Graph
 * (legacy __del__) and a closer (PEP 442 __del__). */
#include "model.h"

#include <errno.h>
#include <stdio.h>

long model_live(const model_class *cls) {
    return atomic_load_explicit(&cls->made, memory_order_relaxed) -
           atomic_load_explicit(&cls->released, memory_order_relaxed);
}

void model_reset_counts(model_class *cls) {
    atomic_store_explicit(&cls->made, 0, memory_order_relaxed);
    atomic_store_explicit(&cls->released, 0, memory_order_relaxed);
}

void model_count_release(rcgc_object *self) {
    atomic_fetch_add_explicit(&model_class_of(self)->released, 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------- Instances */

void model_instance_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct model_instance *instance = (struct model_instance *)self;
    if (instance->dict != NULL)
        visit(instance->dict, arg);
}

void model_instance_clear(rcgc_object *self) {
    struct model_instance *instance = (struct model_instance *)self;
    rcgc_object *dict = instance->dict;
    instance->dict = NULL; /* before the drop: the dict may lead back here */
    rcgc_xdecref(dict);
}

void model_instance_finalize(rcgc_object *self) {
    model_class *cls = model_class_of(self);
    if (cls->del != NULL)
        cls->del(self);
}

rcgc_object *model_instance_new(model_class *cls) {
    rcgc_object *obj = rcgc_new(&cls->type);
    if (obj != NULL)
        atomic_fetch_add_explicit(&cls->made, 1, memory_order_relaxed);
    return obj;
}

rcgc_object *model_instance_dict(const rcgc_object *obj) {
    return ((const struct model_instance *)obj)->dict;
}

rcgc_object *model_getattr(const rcgc_object *obj, const char *name) {
    rcgc_object *dict = model_instance_dict(obj);
    return dict != NULL ? model_dict_get(dict, name) : NULL;
}

int model_setattr(rcgc_object *obj, const char *name, rcgc_object *value) {
    struct model_instance *instance = (struct model_instance *)obj;
    if (value == NULL) {
        if (instance->dict != NULL)
            (void)model_dict_del(instance->dict, name);
        return 0;
    }
    if (instance->dict == NULL && (instance->dict = model_dict_new()) == NULL)
        return -1;
    return model_dict_set(instance->dict, name, value);
}

model_class model_object_class = MODEL_CLASS("object", NULL, 0);

/* -------------------------------------------------------------------- Graph */

static void graph_del(rcgc_object *self) {
    rcgc_object *name = model_getattr(self, "name");
    printf("Deleting %s\n", name != NULL ? model_str_text(name) : "?");
}

model_class model_graph_class = MODEL_CLASS("Graph", graph_del, RCGC_TYPE_LEGACY_FINALIZER);

rcgc_object *model_graph_new(const char *name) {
    rcgc_object *graph = model_instance_new(&model_graph_class);
    rcgc_object *text = model_str_new(name);
    int stored = graph != NULL && text != NULL ? model_setattr(graph, "name", text) : -1;
    rcgc_xdecref(text);
    if (stored != 0) {
        rcgc_xdecref(graph);
        errno = ENOMEM;
        return NULL;
    }
    return graph;
}

int model_graph_set_next(rcgc_object *graph, rcgc_object *next) {
    return model_setattr(graph, "other", next);
}

/* ------------------------------------------------------------------- Closer */

_Atomic long model_closer_closed;

static void closer_del(rcgc_object *self) {
    (void)self;
    atomic_fetch_add_explicit(&model_closer_closed, 1, memory_order_relaxed);
}

model_class model_closer_class = MODEL_CLASS("Closer", closer_del, 0);
