/* src/gc/check.c - the collector's invariants G1-G3 (gc_internal.h),
 * checked by walking the tables between a collection's steps when
 * expensive checks are on (RCGC_CHECKS >= 3: the debug and sanitizer
 * presets).
 *
 * World stopped for every walk: outside a stop other threads store NULL
 * into slots, and a young table's owner appends to it.
 *
 * A broken rule is reported through the fatal handler with the object,
 * the rule and the step after which it was found, e.g.
 * "rcgc: collector invariant G1 broken after gathering: <list 0x...> at
 * slot 7 of a generation 1 table records generation 1, slot 9".
 */
#include "gc/gc_internal.h"

#include <inttypes.h>

RCGC_NORETURN RCGC_COLD static void report(const char *rule, const char *step,
                                           const rcgc_object *obj, const char *what, uint32_t slot,
                                           unsigned table_gen) {
    const char *name =
        obj->ob_type != NULL && obj->ob_type->name != NULL ? obj->ob_type->name : "object";
    rcgc__fatal("rcgc: collector invariant %s broken after %s: <%s %p> at slot %" PRIu32
                " of a generation %u table %s (generation %u, slot %" PRIu32 ")",
                rule, step, name, (const void *)obj, slot, table_gen, what,
                gc_gen_of(gc_flags_load(obj)),
                atomic_load_explicit(&obj->ob_gc_slot, memory_order_relaxed));
}

struct table_check {
    const char *step;
};

/* G1 for one table: each entry is alive, records this table's generation
 * and its own slot, and (young tables) the table's id. Together these put
 * every entry in exactly one table, at one slot. */
static void check_table(struct gc_table *table, void *arg) {
    const struct table_check *check = arg;
    for (uint32_t i = 0; i < table->length;) {
        rcgc_object **slots;
        uint32_t n = gc_table_run(table, i, table->length, &slots);
        for (uint32_t j = 0; j < n; j++) {
            rcgc_object *obj = slots[j];
            if (obj == NULL)
                continue;
            uint32_t slot = i + j;
            if (rcgc__ref_is_dead(atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed)))
                report("G1", check->step, obj, "holds a dead object", slot, table->gen);
            if (gc_gen_of(gc_flags_load(obj)) != table->gen)
                report("G1", check->step, obj, "holds an object of another generation", slot,
                       table->gen);
            if (atomic_load_explicit(&obj->ob_gc_slot, memory_order_relaxed) != slot)
                report("G1", check->step, obj, "holds an object that records another slot", slot,
                       table->gen);
            if (table->gen == GEN_YOUNG && obj->ob_reserved != table->young_id)
                report("G1", check->step, obj, "holds an object of another young table", slot,
                       table->gen);
        }
        i += n;
    }
}

void rcgc__gc_check_tables_stopped(const char *step) {
    rcgc_assert_stopped();
    struct table_check check = {step};
    rcgc__gc_for_each_young(check_table, &check);
    check_table(gc_old_table(GEN_MIDDLE), &check);
    check_table(gc_old_table(GEN_OLD), &check);
    check_table(gc_old_table(GEN_PERMANENT), &check);
}

void rcgc__gc_check_held_stopped(rcgc_object *const *held, uint32_t count, const char *step) {
    rcgc_assert_stopped();
    for (uint32_t k = 0; k < count; k++) {
        rcgc_object *obj = held[k];
        if (obj == NULL)
            continue; /* given back to a table */
        if (gc_gen_of(gc_flags_load(obj)) != GEN_HELD)
            continue; /* resurrected or uncollectable: in a table, checked there */
        if (atomic_load_explicit(&obj->ob_gc_slot, memory_order_relaxed) != k)
            report("G3", step, obj, "(the held array) holds an object that records another slot", k,
                   GEN_HELD);
        if (rcgc_rc_mode(obj) != RCGC_RC_DEFERRED && rcgc_refcount(obj) == 0)
            report("G3", step, obj,
                   "(the held array) holds an object without the collector's "
                   "reference",
                   k, GEN_HELD);
    }
}
