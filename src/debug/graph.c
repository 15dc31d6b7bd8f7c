/* src/debug/graph.c - pictures of object graphs as Graphviz DOT (objgraph's
 * show_refs and show_backrefs) and the chain of referrers that keeps an
 * object alive (find_backref_chain).
 *
 * Both directions are breadth-first, so each object is drawn at its
 * shortest distance from the given ones and a chain is a shortest one.
 * Forward, an object's references come from its traverse hook. Backward
 * there is no index of referrers to consult, so each level of depth is one
 * pass over every live object (rcgc_get_all_objects), noting the
 * references that land on the level's objects; that pass also counts the
 * references each of them receives from other objects, which is how an
 * object held from outside the object graph (by the host's C code) is
 * told apart: its count is higher than those references.
 *
 * Owned by the calling thread: the whole graph, for one call. Every object
 * in it is held by one reference from the moment it is found until the
 * call returns, so nothing it draws can be freed under it.
 */
#include "debug/pointer_index.h"
#include "gc/gc_census.h"

#include <rcgc/debug.h>
#include <rcgc/raw.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DEPTH 3
#define DEFAULT_CHAIN_DEPTH 20
#define DEFAULT_TOO_MANY 10
#define NO_NODE UINT32_MAX

struct node {
    rcgc_object *obj; /* held */
    unsigned depth;
    uint32_t toward; /* backward: the node this one refers to, one step nearer the start */
    size_t in_edges; /* backward: references to it found in live objects */
    size_t hidden;   /* references past too_many, summed up in one box */
};

struct edge {
    uint32_t from, to;
};

/* A reference between a node of the level being expanded and an object
 * one step further (see "Landings" below). */
struct landing {
    rcgc_object *far; /* held: the referent (forward) or the referrer (backward) */
    uint32_t node;    /* the level's node */
    uint32_t order;   /* found order, so the drawing does not depend on qsort */
};

struct graph {
    struct node *nodes;
    size_t node_count, node_capacity;
    struct edge *edges;
    size_t edge_count, edge_capacity;
    struct pointer_index index; /* object -> node */
    struct landing *landings;
    size_t landing_count, landing_capacity;
    uint32_t level_start, level_end; /* the nodes of the level being expanded */
    rcgc_graph_options options;
    bool failed;
};

/* Grow @array (of @size-byte items) to hold one more; false on ENOMEM. */
static bool reserve_one(void **array, size_t *capacity, size_t length, size_t size) {
    if (length < *capacity)
        return true;
    size_t grown_capacity = *capacity ? *capacity * 2 : 64;
    void *grown = rcgc_raw_realloc(*array, grown_capacity * size);
    if (grown == NULL)
        return false;
    *array = grown;
    *capacity = grown_capacity;
    return true;
}

static void graph_init(struct graph *graph, const rcgc_graph_options *options,
                       unsigned default_depth) {
    *graph = (struct graph){0};
    if (options != NULL)
        graph->options = *options;
    if (graph->options.max_depth == 0)
        graph->options.max_depth = default_depth;
    if (graph->options.too_many == 0)
        graph->options.too_many = DEFAULT_TOO_MANY;
}

static void graph_free(struct graph *graph) {
    for (size_t i = 0; i < graph->node_count; i++)
        rcgc_decref(graph->nodes[i].obj);
    rcgc_raw_free(graph->nodes);
    rcgc_raw_free(graph->edges);
    rcgc_raw_free(graph->landings);
    pointer_index_free(&graph->index);
}

/* The node of @obj, added at @depth (and held) when new; NO_NODE on ENOMEM. */
static uint32_t node_of(struct graph *graph, rcgc_object *obj, unsigned depth, uint32_t toward) {
    uint32_t at = pointer_index_get(&graph->index, obj);
    if (at != NO_NODE)
        return at;
    if (!reserve_one((void **)&graph->nodes, &graph->node_capacity, graph->node_count,
                     sizeof(struct node)) ||
        pointer_index_put(&graph->index, obj, (uint32_t)graph->node_count) != 0) {
        graph->failed = true;
        return NO_NODE;
    }
    rcgc_incref(obj);
    graph->nodes[graph->node_count] = (struct node){.obj = obj, .depth = depth, .toward = toward};
    return (uint32_t)graph->node_count++;
}

/* A node's edges are added together (forward: all from it; backward: all
 * to it), so a repeat is found among the last ones. */
static void add_edge(struct graph *graph, uint32_t from, uint32_t to) {
    for (size_t i = graph->edge_count;
         i-- > 0 && (graph->edges[i].from == from || graph->edges[i].to == to);)
        if (graph->edges[i].from == from && graph->edges[i].to == to)
            return; /* drawn once however many fields hold it */
    if (!reserve_one((void **)&graph->edges, &graph->edge_capacity, graph->edge_count,
                     sizeof(struct edge))) {
        graph->failed = true;
        return;
    }
    graph->edges[graph->edge_count++] = (struct edge){from, to};
}

static bool filtered_out(const struct graph *graph, rcgc_object *obj) {
    return graph->options.filter != NULL && !graph->options.filter(obj, graph->options.arg);
}

/* Link node @at with @neighbour (the edge's direction given by @forward),
 * or count it as hidden once too_many are drawn; the neighbour is added a
 * level deeper. */
static void link_neighbour(struct graph *graph, uint32_t at, rcgc_object *neighbour, bool forward,
                           size_t *drawn) {
    if (filtered_out(graph, neighbour))
        return;
    uint32_t known = pointer_index_get(&graph->index, neighbour);
    if (*drawn == graph->options.too_many && known == NO_NODE) {
        graph->nodes[at].hidden++;
        return;
    }
    uint32_t other = node_of(graph, neighbour, graph->nodes[at].depth + 1, at);
    if (other == NO_NODE)
        return;
    size_t before = graph->edge_count;
    if (forward)
        add_edge(graph, at, other);
    else
        add_edge(graph, other, at);
    *drawn += graph->edge_count > before;
}

/* ------------------------------------------------------------- Landings
 *
 * A level is found in two halves. With the world stopped, the traverse
 * hooks are read and each reference between the level and the objects
 * beyond it is noted as a landing, its far object held by a reference;
 * then, with the world running, the filter and the label (host code) see
 * them and the next level is drawn from them. */

static void note_landing(struct graph *graph, rcgc_object *far, uint32_t node) {
    if (!reserve_one((void **)&graph->landings, &graph->landing_capacity, graph->landing_count,
                     sizeof(struct landing))) {
        graph->failed = true;
        return;
    }
    rcgc_incref(far);
    graph->landings[graph->landing_count] =
        (struct landing){far, node, (uint32_t)graph->landing_count};
    graph->landing_count++;
}

struct reading {
    struct graph *graph;
    rcgc_object *obj;
    uint32_t node;
};

static void note_referent(rcgc_object *referent, void *arg) {
    struct reading *reading = arg;
    if (referent != NULL && !reading->graph->failed)
        note_landing(reading->graph, referent, reading->node);
}

/* World stopped: every reference held by the level's nodes. */
static void read_level_forward(void *arg) {
    struct graph *graph = arg;
    for (uint32_t at = graph->level_start; at < graph->level_end; at++) {
        rcgc_object *obj = graph->nodes[at].obj;
        struct reading reading = {graph, obj, at};
        if (obj->ob_type->traverse != NULL)
            obj->ob_type->traverse(obj, note_referent, &reading);
    }
}

static void note_referrer(rcgc_object *referent, void *arg) {
    struct reading *reading = arg;
    struct graph *graph = reading->graph;
    uint32_t at = referent != NULL ? pointer_index_get(&graph->index, referent) : NO_NODE;
    if (at == NO_NODE || at < graph->level_start || at >= graph->level_end || graph->failed)
        return;
    graph->nodes[at].in_edges++;
    note_landing(graph, reading->obj, at);
}

/* World stopped, for every live object: its references to the level. */
static void read_referrer(rcgc_object *obj, void *arg) {
    struct reading reading = {arg, obj, NO_NODE};
    if (obj->ob_type->traverse != NULL)
        obj->ob_type->traverse(obj, note_referrer, &reading);
}

static int by_node(const void *a, const void *b) {
    const struct landing *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* The level [level_start, level_end) and the next: read it with the world
 * stopped (@forward: what it refers to; else what refers to it, counting
 * the references each node receives), then draw the next level. */
static void expand_level(struct graph *graph, bool forward) {
    for (uint32_t at = graph->level_start; at < graph->level_end; at++)
        graph->nodes[at].in_edges = 0;
    if (forward)
        rcgc__gc_run_stopped(read_level_forward, graph);
    else if (rcgc__gc_census_stopped(read_referrer, graph) != 0)
        graph->failed = true;
    if (graph->landing_count > 0)
        qsort(graph->landings, graph->landing_count, sizeof *graph->landings, by_node);
    size_t drawn = 0;
    for (size_t i = 0; i < graph->landing_count && !graph->failed; i++) {
        if (i == 0 || graph->landings[i].node != graph->landings[i - 1].node)
            drawn = 0;
        link_neighbour(graph, graph->landings[i].node, graph->landings[i].far, forward, &drawn);
    }
    for (size_t i = 0; i < graph->landing_count; i++)
        rcgc_decref(graph->landings[i].far);
    graph->landing_count = 0;
}

/* ---------------------------------------------------------------- Drawing */

static void put_escaped(FILE *dot, const char *text) {
    for (; *text != '\0'; text++) {
        if (*text == '"' || *text == '\\')
            fputc('\\', dot);
        fputc(*text, dot);
    }
}

static void draw_node(FILE *dot, const struct graph *graph, const struct node *node) {
    rcgc_object *obj = node->obj;
    fprintf(dot, "  o%" PRIxPTR " [label=\"", (uintptr_t)obj);
    put_escaped(dot, obj->ob_type->name);
    fprintf(dot, "\\n%p", (void *)obj);
    if (graph->options.refcounts) /* less the reference this call holds */
        fprintf(dot, "\\nrefcount %zu", rcgc_refcount(obj) - 1);
    if (graph->options.label != NULL) {
        char extra[256] = "";
        graph->options.label(obj, extra, sizeof extra, graph->options.arg);
        extra[sizeof extra - 1] = '\0';
        if (extra[0] != '\0') {
            fputs("\\n", dot);
            put_escaped(dot, extra);
        }
    }
    /* The given objects stand out; the rest fade with distance. */
    double fade = (double)node->depth / (graph->options.max_depth + 1);
    if (node->depth == 0)
        fputs("\", fillcolor=\"0.1,0.45,1\"];\n", dot);
    else
        fprintf(dot, "\", fillcolor=\"0.6,%.2f,1\"];\n", 0.45 * (1 - fade));
}

/* The whole graph; @forward says which way "more references" point. */
static int draw(FILE *dot, const struct graph *graph, bool forward) {
    fputs("digraph ObjectGraph {\n  node [shape=box, style=filled, fillcolor=white];\n", dot);
    for (size_t i = 0; i < graph->node_count; i++)
        draw_node(dot, graph, &graph->nodes[i]);
    for (size_t i = 0; i < graph->node_count; i++) {
        const struct node *node = &graph->nodes[i];
        if (node->hidden == 0)
            continue;
        uintptr_t id = (uintptr_t)node->obj;
        fprintf(dot, "  o%" PRIxPTR "_more [label=\"%zu more references\", shape=plaintext];\n", id,
                node->hidden);
        if (forward)
            fprintf(dot, "  o%" PRIxPTR " -> o%" PRIxPTR "_more;\n", id, id);
        else
            fprintf(dot, "  o%" PRIxPTR "_more -> o%" PRIxPTR ";\n", id, id);
    }
    for (size_t i = 0; i < graph->edge_count; i++)
        fprintf(dot, "  o%" PRIxPTR " -> o%" PRIxPTR ";\n",
                (uintptr_t)graph->nodes[graph->edges[i].from].obj,
                (uintptr_t)graph->nodes[graph->edges[i].to].obj);
    fputs("}\n", dot);
    return fflush(dot) == 0 && !ferror(dot) ? 0 : -1;
}

/* ------------------------------------------------------------- Public API */

static void add_roots(struct graph *graph, rcgc_object *const *roots, size_t count) {
    for (size_t i = 0; i < count && !graph->failed; i++)
        if (roots[i] != NULL)
            (void)node_of(graph, roots[i], 0, NO_NODE);
}

/* Draw @graph, free it and return rcgc_show_refs' result. */
static ptrdiff_t finish(struct graph *graph, FILE *dot, bool forward) {
    ptrdiff_t result = graph->failed ? -1 : (ptrdiff_t)graph->node_count;
    if (graph->failed)
        errno = ENOMEM;
    else if (draw(dot, graph, forward) != 0)
        result = -1;
    graph_free(graph);
    return result;
}

/* Make the nodes added since the last call the level to expand; false
 * when there are none. */
static bool next_level(struct graph *graph) {
    graph->level_start = graph->level_end;
    graph->level_end = (uint32_t)graph->node_count;
    return graph->level_start != graph->level_end;
}

/* rcgc_show_refs (@forward) and rcgc_show_backrefs. */
static ptrdiff_t show(rcgc_object *const *roots, size_t count, const rcgc_graph_options *options,
                      FILE *dot, bool forward) {
    struct graph graph;
    graph_init(&graph, options, DEFAULT_DEPTH);
    add_roots(&graph, roots, count);
    for (unsigned depth = 0; depth < graph.options.max_depth && !graph.failed && next_level(&graph);
         depth++)
        expand_level(&graph, forward);
    return finish(&graph, dot, forward);
}

ptrdiff_t rcgc_show_refs(rcgc_object *const *roots, size_t count, const rcgc_graph_options *options,
                         FILE *dot) {
    return show(roots, count, options, dot, true);
}

ptrdiff_t rcgc_show_backrefs(rcgc_object *const *roots, size_t count,
                             const rcgc_graph_options *options, FILE *dot) {
    return show(roots, count, options, dot, false);
}

/* Whether the host holds @node's object from outside the object graph:
 * its count exceeds the references found in live objects, this call's
 * hold and (for the start) the caller's. */
static bool held_from_outside(const struct node *node, bool is_start) {
    size_t ours = 1 + (is_start ? 1 : 0);
    size_t count = rcgc_refcount(node->obj);
    return count > ours && count - ours > node->in_edges;
}

ptrdiff_t rcgc_find_backref_chain(rcgc_object *obj, bool (*is_root)(rcgc_object *obj, void *arg),
                                  void *arg, unsigned max_depth, rcgc_object **chain,
                                  size_t capacity) {
    struct graph graph;
    rcgc_graph_options unbounded = {.max_depth = max_depth, .too_many = SIZE_MAX};
    graph_init(&graph, &unbounded, DEFAULT_CHAIN_DEPTH);
    add_roots(&graph, &obj, 1);
    uint32_t root = NO_NODE;
    for (unsigned depth = 0;
         root == NO_NODE && !graph.failed && depth <= graph.options.max_depth && depth < capacity;
         depth++) {
        if (!next_level(&graph))
            break;
        expand_level(&graph, false); /* counts references to this level, finds the next */
        for (uint32_t at = graph.level_start; at < graph.level_end && root == NO_NODE; at++)
            if (is_root != NULL ? is_root(graph.nodes[at].obj, arg)
                                : held_from_outside(&graph.nodes[at], at == 0))
                root = at;
    }
    ptrdiff_t length = 0;
    if (graph.failed) {
        errno = ENOMEM;
        length = -1;
    } else if (root != NO_NODE) {
        for (uint32_t at = root; at != NO_NODE; at = graph.nodes[at].toward) {
            rcgc_incref(graph.nodes[at].obj);
            chain[length++] = graph.nodes[at].obj;
        }
    }
    graph_free(&graph);
    return length;
}
