/* examples/model/model.h - a small object model written against rcgc's
 * public API only: the objects a dynamic-language runtime is made of, as
 * rcgc types. The demo, the collector's tests and its benchmarks build
 * their object graphs from it; a host can read it as a worked example of
 * writing rcgc types (traverse, clear, finalizers, variable-sized objects).
 *
 * The types, in Python's terms:
 *   list      [a, b, ...]: a growable array of references
 *   dict      {'key': value}: string keys, object values
 *   tuple     (a, b, ...): a fixed number of references stored in the
 *             object itself
 *   str, int  leaves: hold no references, never tracked by the collector
 *   instance  an object of a class, its attributes in a dict of its own
 *             (obj.__dict__), as CPython lays out a plain class instance
 *   class     what an instance is of; a class may have __del__, either as
 *             a modern finalizer (PEP 442: a cycle through it is collected)
 *             or as a legacy one (a cycle through it is uncollectable and
 *             lands in rcgc's garbage list, like Python 2's classes with
 *             __del__ did)
 *   slots     an instance of a class with __slots__: a fixed set of
 *             attributes stored in the object, no dict (the 48-byte
 *             two-slot node of the collector's benchmarks)
 *
 * Every class counts the objects made and released (its type's release
 * hook), so a program can check that each object died exactly once; a
 * slots class made by the million on several threads may opt out, since
 * its counters are cache lines every thread would write.
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

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
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
    size_t nslots;  /* slots classes: how many slots an instance has */
    bool uncounted; /* made and released stay 0 (MODEL_UNCOUNTED) */
} model_class;

/* The class @obj is an object of (any model object). Classes are never
 * const, though rcgc hands their types back as such: the round trip
 * through an integer says so to the compiler. */
static inline model_class *model_class_of(const rcgc_object *obj) {
    return (model_class *)(uintptr_t)rcgc_type_of(obj);
}

/* How many objects of @cls are alive: made minus released (0 for an
 * uncounted class). */
long model_live(const model_class *cls);

/* Zero @cls's counters (a test's fixture). */
void model_reset_counts(model_class *cls);

/* The built-in classes. */
extern model_class model_list_class, model_dict_class, model_str_class, model_int_class;

/* Plain instances (class C: pass). */
extern model_class model_object_class;

/* Graph: attributes `name` (a str) and `other`, and a legacy __del__ that
 * prints "Deleting <name>" on stdout. Two Graphs pointing at each other
 * make the classic uncollectable cycle of a class with __del__. */
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

/* ------------------------------------------------------------------ tuple */

struct model_tuple {
    rcgc_object head;
    size_t length;
    rcgc_object *items[];
};

extern model_class model_tuple_class;

/* A tuple of @length empty items, to be filled with model_tuple_fill
 * before anyone else sees it (CPython's PyTuple_New). */
rcgc_object *model_tuple_new(size_t length);

static inline size_t model_tuple_len(const rcgc_object *tuple) {
    return ((const struct model_tuple *)tuple)->length;
}

/* tuple[index] (borrowed); @index must be in range. */
static inline rcgc_object *model_tuple_get(const rcgc_object *tuple, size_t index) {
    const struct model_tuple *t = (const struct model_tuple *)tuple;
    assert(index < t->length);
    return t->items[index];
}

/* Store @item at the empty @index of a tuple being built, taking over the
 * caller's reference to it (CPython's PyTuple_SET_ITEM): a fresh object
 * goes in without an incref and decref. */
static inline void model_tuple_fill(rcgc_object *tuple, size_t index, rcgc_object *item) {
    struct model_tuple *t = (struct model_tuple *)tuple;
    assert(index < t->length && t->items[index] == NULL);
    t->items[index] = item;
}

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

/* A Graph named @name (Graph('one')). */
rcgc_object *model_graph_new(const char *name);
/* one.set_next(two): one.other = two. */
int model_graph_set_next(rcgc_object *graph, rcgc_object *next);

/* The hooks MODEL_CLASS fills in. */
void model_instance_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg);
void model_instance_clear(rcgc_object *self);
void model_instance_finalize(rcgc_object *self);
void model_count_release(rcgc_object *self);

/* ----------------------------------------------------------- Slots classes */

struct model_slots {
    rcgc_object head;
    rcgc_object *slot[];
};

/* How a slots class counts its objects. */
enum { MODEL_COUNTED = 0, MODEL_UNCOUNTED = 1 };

/* Defines @IDENT, a class whose instances hold @NSLOTS references in the
 * object itself: MODEL_SLOTS_CLASS(node_class, "Node", 2, MODEL_COUNTED);
 * at file scope is class Node: __slots__ = ('left', 'right'). One block of
 * the header and the slots, no dict, no __del__. The class's traverse and
 * clear hooks are compiled with its slot count (IDENT_traverse,
 * IDENT_clear), so their loops unroll and a two-slot class costs the
 * collector what a hand-written two-field type does. */
#define MODEL_SLOTS_CLASS(IDENT, NAME, NSLOTS, COUNTING)                                           \
    static void IDENT##_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {              \
        model_slots_traverse_n(self, visit, arg, (NSLOTS));                                        \
    }                                                                                              \
    static void IDENT##_clear(rcgc_object *self) { model_slots_clear_n(self, (NSLOTS)); }          \
    model_class IDENT = {                                                                          \
        .type = {.name = (NAME),                                                                   \
                 .size = sizeof(struct model_slots) + (NSLOTS) * sizeof(rcgc_object *),            \
                 .flags = RCGC_TYPE_GC,                                                            \
                 .traverse = IDENT##_traverse,                                                     \
                 .clear = IDENT##_clear,                                                           \
                 .release = (COUNTING) == MODEL_UNCOUNTED ? NULL : model_count_release},           \
        .nslots = (NSLOTS),                                                                        \
        .uncounted = (COUNTING) == MODEL_UNCOUNTED}

static inline void model_slots_traverse_n(rcgc_object *self, rcgc_visit_fn visit, void *arg,
                                          size_t nslots) {
    struct model_slots *s = (struct model_slots *)self;
#pragma GCC unroll 8
    for (size_t i = 0; i < nslots; i++)
        if (s->slot[i] != NULL)
            visit(s->slot[i], arg);
}

/* Each slot is emptied before its value is dropped: the drop can run
 * other deaths, and the collector may look at this object again before it
 * is freed. */
static inline void model_slots_clear_n(rcgc_object *self, size_t nslots) {
    struct model_slots *s = (struct model_slots *)self;
#pragma GCC unroll 8
    for (size_t i = 0; i < nslots; i++) {
        rcgc_object *value = s->slot[i];
        s->slot[i] = NULL;
        rcgc_xdecref(value);
    }
}

/* An instance of the slots class @cls, every slot empty (NULL). Inline:
 * the collector's benchmarks make millions, and a call into the model
 * would be part of what they time. */
static inline rcgc_object *model_slots_new(model_class *cls) {
    rcgc_object *obj = rcgc_new(&cls->type);
    if (obj != NULL && !cls->uncounted)
        atomic_fetch_add_explicit(&cls->made, 1, memory_order_relaxed);
    return obj;
}

/* obj.<slot @index> (borrowed), NULL when empty. */
static inline rcgc_object *model_slot(const rcgc_object *obj, size_t index) {
    assert(index < model_class_of(obj)->nslots);
    return ((const struct model_slots *)obj)->slot[index];
}

/* Store @item into the empty slot @index of an object being built, taking
 * over the caller's reference (as model_tuple_fill). */
static inline void model_slot_fill(rcgc_object *obj, size_t index, rcgc_object *item) {
    struct model_slots *s = (struct model_slots *)obj;
    assert(index < model_class_of(obj)->nslots && s->slot[index] == NULL);
    s->slot[index] = item;
}

/* obj.<slot @index> = item: a new reference to @item (NULL empties the
 * slot); the old value is dropped after the store, since its death may
 * run code that reads this object. */
static inline void model_slot_set(rcgc_object *obj, size_t index, rcgc_object *item) {
    struct model_slots *s = (struct model_slots *)obj;
    assert(index < model_class_of(obj)->nslots);
    if (item != NULL)
        rcgc_incref(item);
    rcgc_object *old = s->slot[index];
    s->slot[index] = item;
    rcgc_xdecref(old);
}

#endif /* RCGC_MODEL_H */
