/* examples/demo_weakref.c - the demo's weak-reference part: seed 001's
 * WeakGraph (the edge that closes the ring is a weak reference, so the
 * Graphs die by their counts even with __del__) and its cache of Man
 * objects, a dict against a WeakValueDictionary. */
#include "demo_weakref.h"
#include "model.h"

#include <rcgc.h>

#include <stdatomic.h>
#include <stdio.h>

/* WeakGraph.set_next: an edge that would close a cycle is a weak
 * reference (the seed's weakref.proxy). */
static int weak_graph_set_next(rcgc_object *graph, rcgc_object *next, bool closes_ring) {
    if (!closes_ring)
        return model_graph_set_next(graph, next);
    rcgc_object *proxy = rcgc_weakref_new(next, NULL, NULL);
    if (proxy == NULL)
        return -1;
    int result = model_graph_set_next(graph, proxy);
    rcgc_decref(proxy);
    return result;
}

static int show_weak_graph(void) {
    printf("\n13. Seed 001's WeakGraph: one->two->three->(weak) one, Graph has __del__, "
           "gc.set_debug(gc.DEBUG_LEAK)\n");
    rcgc_set_debug_stream(stdout);
    rcgc_set_debug(RCGC_DEBUG_LEAK);
    rcgc_object *one = model_graph_new("one"), *two = model_graph_new("two"),
                *three = model_graph_new("three");
    if (one == NULL || two == NULL || three == NULL || weak_graph_set_next(one, two, false) != 0 ||
        weak_graph_set_next(two, three, false) != 0 || weak_graph_set_next(three, one, true) != 0)
        return 1;
    long before = atomic_load(&model_graph_class.released);
    rcgc_object *back = model_getattr(three, "other");
    printf("  three.other is a weak reference to one: %s; weak references to one: %zu\n",
           rcgc_is_weakref(back) ? "yes" : "no", rcgc_weakref_count(one));
    rcgc_decref(three);
    rcgc_decref(two);
    printf("  After 2 references removed: Graphs alive %ld\n",
           3 - (atomic_load(&model_graph_class.released) - before));
    printf("  removing last reference:\n");
    rcgc_decref(one); /* one dies by its count, and two and three after it */
    printf("  Collecting... unreachable objects: %td; garbage: %zu; %ld Graphs released by "
           "their counts\n",
           rcgc_collect(2), rcgc_garbage_count(),
           atomic_load(&model_graph_class.released) - before);
    rcgc_set_debug(0);
    rcgc_set_debug_stream(NULL);
    return 0;
}

/* Man: name, and a __del__ that says so (PEP 442 style). */
static void man_del(rcgc_object *self) {
    rcgc_object *name = model_getattr(self, "name");
    printf("    deleting <Man name=%s>\n", name != NULL ? model_str_text(name) : "?");
}

static model_class man_class = MODEL_CLASS("Man", man_del, 0);

static int print_man(rcgc_key key, rcgc_object *value, void *arg) {
    (void)arg;
    printf("    %.*s = <Man name=%s>\n", (int)key.length, (const char *)key.bytes,
           model_str_text(model_getattr(value, "name")));
    return 0;
}

static int print_dict_man(const char *key, rcgc_object *value, void *arg) {
    (void)arg;
    printf("    %s = <Man name=%s>\n", key, model_str_text(model_getattr(value, "name")));
    return 0;
}

/* The seed's demo(cache_factory) for a dict (@weak false) and for a
 * WeakValueDictionary. Each Man sits in a cycle with its attribute dict
 * (man.me = man), so only gc.collect() frees him. */
static int cache_demo(bool weak) {
    static const char *const names[] = {"Jim", "Tom", "Green"};
    printf("  cache type: %s\n", weak ? "rcgc_weakmap (RCGC_WEAK_VALUES)" : "dict");
    rcgc_object *all_refs = model_dict_new(), *dict_cache = weak ? NULL : model_dict_new();
    rcgc_weakmap *weak_cache = weak ? rcgc_weakmap_new(RCGC_WEAK_VALUES) : NULL;
    if (all_refs == NULL || (weak ? weak_cache == NULL : dict_cache == NULL))
        return 1;
    for (int i = 0; i < 3; i++) {
        rcgc_object *man = model_instance_new(&man_class), *name = model_str_new(names[i]);
        if (man == NULL || name == NULL || model_setattr(man, "name", name) != 0 ||
            model_setattr(man, "me", man) != 0 || model_dict_set(all_refs, names[i], man) != 0 ||
            (weak ? rcgc_weakmap_set(weak_cache, RCGC_KEY_STR(names[i]), man)
                  : model_dict_set(dict_cache, names[i], man)) != 0)
            return 1;
        rcgc_decref(name);
        rcgc_decref(man); /* del man */
    }
    printf("  before, cache contains %zu:\n",
           weak ? rcgc_weakmap_len(weak_cache) : model_dict_len(dict_cache));
    if (weak)
        (void)rcgc_weakmap_foreach(weak_cache, print_man, NULL);
    else
        (void)model_dict_foreach(dict_cache, print_dict_man, NULL);
    printf("  cleanup: del all_refs; gc.collect()\n");
    rcgc_decref(all_refs);
    ptrdiff_t found = rcgc_collect(2);
    printf("  gc.collect() -> %td; after, cache contains %zu:\n", found,
           weak ? rcgc_weakmap_len(weak_cache) : model_dict_len(dict_cache));
    if (weak)
        (void)rcgc_weakmap_foreach(weak_cache, print_man, NULL);
    else
        (void)model_dict_foreach(dict_cache, print_dict_man, NULL);
    printf("  demo returning\n");
    rcgc_weakmap_free(weak_cache);
    if (dict_cache != NULL) {
        rcgc_decref(dict_cache);
        (void)rcgc_collect(2);
    }
    return 0;
}

int show_weak_references(void) {
    if (show_weak_graph() != 0)
        return 1;
    printf("\n14. Seed 001's cache of Man objects: a dict keeps them alive, a "
           "WeakValueDictionary lets them go\n");
    return cache_demo(false) != 0 || cache_demo(true) != 0;
}
