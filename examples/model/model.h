/* examples/model/model.h - a small object model written against rcgc's
 * public API only: the objects a dynamic-language runtime is made of, as
 * rcgc types. The demo, the collector's tests and its benchmarks build
 * their object graphs from it; a host can read it as a worked example of
 * writing rcgc types (traverse, clear, finalizers, variable-sized objects).
 *
 * The types, in Python's terms:
 *   list      [a, b, ...]: a growable array of references
 *   dict      {'key': value}: string keys, object values
 *   str, int  leaves: hold no references, never tracked by the collector
 *   instance  an object of a class, its attributes in a dict of its own
 *             (obj.__dict__), as CPython lays out a plain class instance
 *   class     what an instance is of; a class may have __del__, either as
 *             a modern finalizer (PEP 442: a cycle through it is collected)
 *             or as a legacy one (a cycle through it is uncollectable and
 *             lands in rcgc's garbage list, like seed 001's Graph before
 *             Python 3.4)
 *
 * Every class counts the objects made and released (its type's release
 * hook), so a program can check that each object died exactly once.
 *
 * References follow CPython's conventions: _new functions return a new
 * reference; getters return a borrowed one (NULL when absent); functions
 * that store an object take a new reference to it, and functions that
 * remove one drop it.
 *
 * Thread safety: reference counts are rcgc's, safe from any attached
 * thread. A container is changed by one thread at a time, and is not read
 * while another thread changes it: the host's ownership or lock sees to
 * that, as a runtime's own locks would. Errors: -1 or NULL with
 * errno = ENOMEM when memory runs out; nothing is lost (the container is
 * as it was).
 */
#ifndef RCGC_MODEL_H
#define RCGC_MODEL_H

#include <rcgc.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- Classes */

/* A type with the counters and the __del__ of the model. Its rcgc_type
 * comes first, so an object's rcgc_type_of() is its class. Classes are
 * static and live as long as the program; their counters are atomic. */
typedef struct model_class {
    rcgc_type type;
    /* __del__: run once when an instance dies, as its type's finalize hook
     * (RCGC_TYPE_LEGACY_FINALIZER in type.flags makes it a legacy one). */
    void (*del)(rcgc_object *self);
    _Atomic long made, released;
} model_class;

/* The class @obj is an object of (any model object). Classes are never
 * const, though rcgc hands their types back as such: the round trip
 * through an integer says so to the compiler. */
static inline model_class *model_class_of(const rcgc_object *obj) {
    return (model_class *)(uintptr_t)rcgc_type_of(obj);
}

/* How many objects of @cls are alive: made minus released. */
long model_live(const model_class *cls);

/* Zero @cls's counters (a test's fixture). */
void model_reset_counts(model_class *cls);

/* The built-in classes. */
extern model_class model_list_class, model_dict_class, model_str_class, model_int_class;

/* Plain instances (class C: pass). */
extern model_class model_object_class;

/* Seed 001's Graph: attributes `name` (a str) and `other`, and a legacy
 * __del__ that prints "Deleting <name>" on stdout, as the seed's does. */
extern model_class model_graph_class;

/* A resource holder with a PEP 442 finalizer: __del__ counts in
 * model_closer_closed; a cycle through a closer is collected. */
extern model_class model_closer_class;
extern _Atomic long model_closer_closed;

/* Instance classes of a host's own: MODEL_CLASS("Node", del, 0) or
 * MODEL_CLASS("Old", del, RCGC_TYPE_LEGACY_FINALIZER); @del may be NULL. */
#define MODEL_CLASS(NAME, DEL, EXTRA_FLAGS)                                                        \
    {                                                                                              \
        .type = {.name = (NAME),                                                                   \
                 .size = sizeof(struct model_instance),                                            \
                 .flags = RCGC_TYPE_GC | (EXTRA_FLAGS),                                            \
                 .traverse = model_instance_traverse,                                              \
                 .clear = model_instance_clear,                                                    \
                 .finalize = (DEL) != NULL ? model_instance_finalize : NULL,                       \
                 .release = model_count_release},                                                  \
        .del = (DEL)                                                                               \
    }

/* ----------------------------------------------------------------- Leaves */

/* str: immutable text, stored in the object (a variable-sized object). */
rcgc_object *model_str_new(const char *text);
const char *model_str_text(const rcgc_object *str);

/* int: an immutable integer. */
rcgc_object *model_int_new(long value);
long model_int_value(const rcgc_object *integer);

/* ------------------------------------------------------------------- list */

rcgc_object *model_list_new(void);
size_t model_list_len(const rcgc_object *list);
/* list[index] (borrowed), NULL when out of range. */
rcgc_object *model_list_get(const rcgc_object *list, size_t index);
/* list.append(item): -1 (ENOMEM) when the list cannot grow. */
int model_list_append(rcgc_object *list, rcgc_object *item);
/* list[index] = item (NULL empties the slot); -1 (EINVAL) when out of range. */
int model_list_set(rcgc_object *list, size_t index, rcgc_object *item);
/* del list[:]: drops every item. */
void model_list_clear(rcgc_object *list);

/* ------------------------------------------------------------------- dict */

rcgc_object *model_dict_new(void);
size_t model_dict_len(const rcgc_object *dict);
/* dict[key] (borrowed), NULL when absent. */
rcgc_object *model_dict_get(const rcgc_object *dict, const char *key);
/* dict[key] = value: -1 (ENOMEM) when the table or the key's copy cannot
 * be had. */
int model_dict_set(rcgc_object *dict, const char *key, rcgc_object *value);
/* del dict[key]: -1 (ENOENT) when absent. */
int model_dict_del(rcgc_object *dict, const char *key);
/* Call @visit on each (key, value) until it returns non-zero, which is
 * returned; 0 after the last entry. */
int model_dict_foreach(const rcgc_object *dict,
                       int (*visit)(const char *key, rcgc_object *value, void *arg), void *arg);

/* -------------------------------------------------------------- Instances */

struct model_instance {
    rcgc_object head;
    rcgc_object *dict; /* __dict__, made on the first attribute */
};

/* An instance of @cls (a class made with MODEL_CLASS or one above). */
rcgc_object *model_instance_new(model_class *cls);
/* obj.name (borrowed), NULL when unset. */
rcgc_object *model_getattr(const rcgc_object *obj, const char *name);
/* obj.name = value; value NULL deletes the attribute. -1 (ENOMEM). */
int model_setattr(rcgc_object *obj, const char *name, rcgc_object *value);
/* The instance's __dict__ (borrowed), NULL before its first attribute. */
rcgc_object *model_instance_dict(const rcgc_object *obj);

/* A Graph named @name (seed 001: Graph('one')). */
rcgc_object *model_graph_new(const char *name);
/* one.set_next(two): one.other = two. */
int model_graph_set_next(rcgc_object *graph, rcgc_object *next);

/* The hooks MODEL_CLASS fills in. */
void model_instance_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg);
void model_instance_clear(rcgc_object *self);
void model_instance_finalize(rcgc_object *self);
void model_count_release(rcgc_object *self);

#endif /* RCGC_MODEL_H */
