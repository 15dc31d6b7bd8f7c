/* tests/support/gc_types.h - what the collector's tests share: the test
 * types (the object model's list, dict, str and Graph; the tests' own
 * instance and phoenix) with counters of their deaths, helpers that build
 * rings of Graphs, visitors for the walks, debug output captured in
 * memory, recorded callbacks, and the fixture every collector test starts
 * from.
 *
 * Every test starts from a full collection with an empty garbage list, so
 * the counters read (0, 0, 0) and generations 0 and 1 are empty. Objects
 * are counted dead by their types' release hooks: a count that matches
 * exactly shows each object was freed once.
 */
#ifndef RCGC_TEST_GC_TYPES_H
#define RCGC_TEST_GC_TYPES_H

#include "model.h"

#include <rcgc.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ------------------------------------------------------------- Test types */

/* Lists, dicts, strs and Graph come from the example object
 * model (examples/model/model.h), whose classes count their deaths
 * (model_list_class.released, ...); the fixture zeroes those counts and
 * gives Graph a __del__ that counts in graphs_finalized instead of
 * printing. Two types are the tests' own: "instance", a container with
 * one reference slot, `other` (a class with __slots__ = ('other',), so an
 * object and its one edge without an attribute dict), and "phoenix", the
 * same layout with a PEP 442 finalizer that records what it saw and, when
 * asked, resurrects its object into `resurrected`, collects, or makes new
 * garbage. */
struct instance {
    rcgc_object head;
    rcgc_object *other;
};

extern const rcgc_type instance_type, phoenix_type;

/* How many instances and phoenixes died; reset before every test. */
extern _Atomic long instances_released, phoenixes_released;

extern _Atomic long graphs_finalized;
extern _Atomic long phoenixes_finalized, finalized_flag_seen_inside, other_seen_inside;
extern bool phoenix_resurrects, phoenix_collects, phoenix_makes_garbage;
extern rcgc_object *resurrected;
extern ptrdiff_t collect_from_finalizer;

/* ---------------------------------------------------------------- Helpers */

/* rcgc_new, failing the test on NULL. */
rcgc_object *new_object(const rcgc_type *type);
/* [], failing the test on NULL. */
rcgc_object *list_new(void);
/* list.append(item), failing the test on ENOMEM. */
void list_append(rcgc_object *list, rcgc_object *item);
/* obj.other = other, for instances and phoenixes. */
void set_other(rcgc_object *obj, rcgc_object *other);
rcgc_object *other_of(rcgc_object *obj);
/* A str, failing the test on NULL. */
rcgc_object *str_new(const char *text);
/* Seed 001's demo: one->two->three->one, each link through a Graph's
 * attribute dict; the host's references are dropped, so six containers
 * are garbage. */
void make_graph_ring(rcgc_object *graphs[3], rcgc_object *dicts[3]);
/* What the seed does afterwards: gc.garbage[i].set_next(None) on a Graph,
 * then `del gc.garbage[:]`. */
void break_graph_ring_from_the_garbage_list(void);
/* A list holding itself, still with the host's reference. */
rcgc_object *new_self_cycle(void);
void make_garbage_self_cycles(int how_many);

/* Objects a test keeps alive; the teardown drops whatever is left. */
enum { KEPT_MAX = 2048 };

extern rcgc_object *kept[KEPT_MAX];
extern size_t kept_len;
void keep_new_instances(size_t how_many);
void drop_kept(void);

#define assert_count(c0, c1, c2)                                                                   \
    do {                                                                                           \
        unsigned count_[RCGC_GENERATIONS];                                                         \
        rcgc_get_count(count_);                                                                    \
        assert_int_equal(count_[0], (c0));                                                         \
        assert_int_equal(count_[1], (c1));                                                         \
        assert_int_equal(count_[2], (c2));                                                         \
    } while (0)

/* rcgc_collect(@generation) @times times, each finding nothing. */
void repeat_collect(int generation, int times);

/* A visitor that counts what it is shown and remembers the first few. */
enum { VISITS_LOGGED = 16 };

struct visits {
    size_t count;
    rcgc_object *logged[VISITS_LOGGED];
};

int record_visit(rcgc_object *obj, void *arg);
bool visited(const struct visits *v, const rcgc_object *obj);

/* Looks for one object among those a generation lists. */
struct search {
    const rcgc_object *wanted;
    size_t found;
    size_t visits;
};

int search_visit(rcgc_object *obj, void *arg);
/* Whether @obj is among the objects generation @generation lists. */
bool in_generation(int generation, const rcgc_object *obj);
size_t objects_in_generation(int generation);

/* Debug output captured in memory. */
struct output {
    FILE *stream;
    char *text;
    size_t length;
};

void output_begin(struct output *out);
void output_end(struct output *out);
/* The objects named by lines "gc: <what> <type_name 0x...>" in @text. */
size_t lines_naming(const char *text, const char *what, const char *type_name, void *found[],
                    size_t capacity);
bool pointer_listed(void *const found[], size_t n, const void *ptr);

/* Callbacks recorded in order. */
enum { EVENTS_MAX = 32 };

struct gc_event {
    enum rcgc_gc_phase phase;
    rcgc_gc_info info;
};

struct gc_recorded {
    struct gc_event events[EVENTS_MAX];
    int count;
    bool collect_inside;
    ptrdiff_t collect_result;
    void *arg_seen;
};

extern struct gc_recorded recorded;
void record_callback(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg);

/* A callback that adds up what collections freed. */
extern _Atomic long collected_by_callbacks;
void sum_collected(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg);

/* ---------------------------------------------------------------- Fixture */

/* Setup: a full collection, an empty garbage list, default settings, every
 * counter zeroed. */
int start_from_a_full_collection(void **state);
/* Teardown: undo what a failed test may have left behind. */
int restore_defaults(void **state);

#endif /* RCGC_TEST_GC_TYPES_H */
