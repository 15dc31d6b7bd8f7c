/* stress/stress_weakref.c - weak references and weak maps under threads.
 *
 * Workloads (--mode):
 *   race   threads in pairs: one makes an object (biased, atomic or
 *          deferred, in turn) and a weak reference to it, then drops its
 *          last reference (a deferred one at a sync) while the other calls
 *          rcgc_weakref_get at the same moment. Each round: the object is
 *          released exactly once, its callback runs exactly once, a get
 *          that won sees a live object, and afterwards every get is NULL.
 *   map    two kinds of thread share a weak-value map and a weak-key map:
 *          writers set, setdefault and delete entries and drop their
 *          objects (some in cycles, freed by the collections they run);
 *          readers get, iterate and count. Every object a map hands out
 *          must be alive (its magic intact) while held.
 *   mixed  (default) the first two threads race, the others share maps.
 */
#include "stress_common.h"

#include <rcgc.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC_ALIVE UINT64_C(0x5EEDFACE0B1EC7ED)
#define MAGIC_DEAD UINT64_C(0xDEADDEADDEADDEAD)

struct probe {
    rcgc_object head;
    rcgc_object *other; /* a self-cycle when set */
    _Atomic uint64_t magic;
    _Atomic long *released;
};

static void probe_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct probe *p = (struct probe *)self;
    if (p->other != NULL)
        visit(p->other, arg);
}

static void probe_clear(rcgc_object *self) {
    struct probe *p = (struct probe *)self;
    rcgc_object *other = p->other;
    p->other = NULL;
    rcgc_xdecref(other);
}

static void probe_release(rcgc_object *self) {
    struct probe *p = (struct probe *)self;
    if (atomic_exchange(&p->magic, MAGIC_DEAD) != MAGIC_ALIVE)
        stress_fail("probe %p released twice or never made", (void *)self);
    if (p->released != NULL)
        atomic_fetch_add(p->released, 1);
}

static const rcgc_type probe_type = {.name = "probe",
                                     .size = sizeof(struct probe),
                                     .flags = RCGC_TYPE_GC,
                                     .traverse = probe_traverse,
                                     .clear = probe_clear,
                                     .release = probe_release};

static rcgc_object *probe_new(_Atomic long *released) {
    rcgc_object *obj = rcgc_new(&probe_type);
    if (obj == NULL) {
        stress_fail("out of memory");
        return NULL;
    }
    struct probe *p = (struct probe *)obj;
    atomic_store(&p->magic, MAGIC_ALIVE);
    p->released = released;
    return obj;
}

static void check_alive(rcgc_object *obj, const char *where) {
    uint64_t magic = atomic_load(&((struct probe *)obj)->magic);
    if (magic != MAGIC_ALIVE)
        stress_fail("%s handed out a dead object %p (magic %llx)", where, (void *)obj,
                    (unsigned long long)magic);
}

/* ------------------------------------------------------------------ race */

struct pair {
    _Atomic unsigned long round;   /* the maker's: a new round is ready */
    _Atomic unsigned long got_set; /* the getter's: ready for this round */
    _Atomic unsigned long go;      /* the maker's: both race now */
    _Atomic unsigned long done;    /* the getter's: this round's get is over */
    rcgc_object *_Atomic ref;
    _Atomic long released, callbacks, wins;
};

static struct pair pairs[64];

static void count_callback(rcgc_object *ref, void *arg) {
    struct pair *pair = arg;
    rcgc_object *target = rcgc_weakref_get(ref);
    if (target != NULL)
        stress_fail("a callback's weak reference still gives %p", (void *)target);
    atomic_fetch_add(&pair->callbacks, 1);
}

/* Spin until @word reaches @value, parking for any stop, and yielding
 * the core now and then: there are more threads than cores. */
static bool wait_for(_Atomic unsigned long *word, unsigned long value) {
    for (unsigned spins = 0; atomic_load(word) < value; spins++) {
        if (!stress_running())
            return false;
        rcgc_safepoint();
        if (spins % 64 == 63)
            sched_yield();
    }
    return true;
}

/* A few hundred instructions or none: where in the other side's window
 * each side lands. */
static void jitter(uint64_t *rng) {
    for (uint64_t i = stress_below(rng, 256); i > 0; i--)
        atomic_signal_fence(memory_order_seq_cst);
}

static void race_maker(struct pair *pair, uint64_t *rng) {
    const int modes[] = {RCGC_RC_BIASED, RCGC_RC_ATOMIC, RCGC_RC_DEFERRED};
    for (unsigned long round = 1; stress_running(); round++) {
        int mode = modes[stress_below(rng, 3)];
        rcgc_object *obj = probe_new(&pair->released);
        if (obj == NULL)
            return;
        if (mode != RCGC_RC_BIASED)
            (void)rcgc_set_rc_mode(obj, mode);
        rcgc_object *ref = rcgc_weakref_new(obj, count_callback, pair);
        if (ref == NULL) {
            stress_fail("out of memory");
            return;
        }
        atomic_store(&pair->ref, ref);
        atomic_store(&pair->round, round);
        if (!wait_for(&pair->got_set, round))
            return;
        atomic_store(&pair->go, round);
        jitter(rng);
        rcgc_decref(obj); /* races with the getter's rcgc_weakref_get */
        if (mode == RCGC_RC_DEFERRED)
            (void)rcgc_sync_deferred();
        if (!wait_for(&pair->done, round))
            return;
        if (mode == RCGC_RC_DEFERRED) /* the getter's drop, if it won */
            (void)rcgc_sync_deferred();
        rcgc_object *late = rcgc_weakref_get(ref);
        if (late != NULL)
            stress_fail("round %lu: get after the death returned %p", round, (void *)late);
        long released = atomic_load(&pair->released), callbacks = atomic_load(&pair->callbacks);
        if (released != (long)round || callbacks != (long)round)
            stress_fail("round %lu (mode %d): %ld releases, %ld callbacks", round, mode, released,
                        callbacks);
        atomic_store(&pair->ref, NULL);
        rcgc_decref(ref);
    }
}

static void race_getter(struct pair *pair, uint64_t *rng) {
    for (unsigned long round = 1; stress_running(); round++) {
        if (!wait_for(&pair->round, round))
            return;
        rcgc_object *ref = atomic_load(&pair->ref);
        atomic_store(&pair->got_set, round);
        if (!wait_for(&pair->go, round))
            return;
        jitter(rng);
        rcgc_object *obj = rcgc_weakref_get(ref);
        if (obj != NULL) {
            check_alive(obj, "rcgc_weakref_get");
            atomic_fetch_add(&pair->wins, 1);
            rcgc_decref(obj);
        }
        atomic_store(&pair->done, round);
    }
}

/* ------------------------------------------------------------------- map */

enum { KEYS = 64, OWNED = 32 };

static rcgc_weakmap *values_map, *keys_map;
static _Atomic long map_released, map_reads, map_hits;

static int check_visit(rcgc_key key, rcgc_object *value, void *arg) {
    (void)arg;
    check_alive(value, "rcgc_weakmap_foreach (value)");
    if (key.kind == RCGC_KEY_OBJECT)
        check_alive(key.object, "rcgc_weakmap_foreach (key)");
    return 0;
}

static void map_writer(uint64_t *rng) {
    rcgc_object *owned[OWNED] = {0};
    for (unsigned long step = 0; stress_running(); step++) {
        unsigned slot = (unsigned)stress_below(rng, OWNED);
        rcgc_object *obj = probe_new(&map_released);
        if (obj == NULL)
            break;
        if (stress_below(rng, 8) == 0) { /* a cycle: only a collection frees it */
            rcgc_incref(obj);
            ((struct probe *)obj)->other = obj;
        }
        int64_t key = (int64_t)stress_below(rng, KEYS);
        switch (stress_below(rng, 4)) {
        case 0:
            (void)rcgc_weakmap_set(values_map, RCGC_KEY_INT(key), obj);
            break;
        case 1: {
            rcgc_object *got = rcgc_weakmap_setdefault(values_map, RCGC_KEY_INT(key), obj);
            if (got != NULL) {
                check_alive(got, "rcgc_weakmap_setdefault");
                rcgc_decref(got);
            }
            break;
        }
        case 2:
            (void)rcgc_weakmap_del(values_map, RCGC_KEY_INT(key));
            break;
        default: {
            rcgc_object *value = probe_new(&map_released);
            if (value != NULL) {
                (void)rcgc_weakmap_set(keys_map, RCGC_KEY_OBJ(obj), value);
                rcgc_decref(value);
            }
            break;
        }
        }
        rcgc_xdecref(owned[slot]); /* an older object dies: its entries go */
        owned[slot] = obj;
        if (step % 512 == 511)
            (void)rcgc_collect(step % 4096 == 4095 ? 2 : 0);
    }
    for (unsigned i = 0; i < OWNED; i++)
        rcgc_xdecref(owned[i]);
}

static void map_reader(uint64_t *rng) {
    for (unsigned long step = 0; stress_running(); step++) {
        rcgc_safepoint(); /* an attached thread that never polls would stall every stop */
        rcgc_object *got = rcgc_weakmap_get(values_map, RCGC_KEY_INT(stress_below(rng, KEYS)));
        atomic_fetch_add_explicit(&map_reads, 1, memory_order_relaxed);
        if (got != NULL) {
            check_alive(got, "rcgc_weakmap_get");
            atomic_fetch_add_explicit(&map_hits, 1, memory_order_relaxed);
            rcgc_decref(got);
        }
        if (step % 256 == 0) {
            if (rcgc_weakmap_foreach(values_map, check_visit, NULL) < 0 ||
                rcgc_weakmap_foreach(keys_map, check_visit, NULL) < 0)
                stress_fail("rcgc_weakmap_foreach failed");
            if (rcgc_weakmap_len(values_map) > KEYS)
                stress_fail("%zu entries for %d keys", rcgc_weakmap_len(values_map), KEYS);
        }
    }
}

/* ---------------------------------------------------------------- driver */

static const char *mode_name;

static void worker(unsigned index, uint64_t seed, void *arg) {
    (void)arg;
    uint64_t rng = seed;
    rcgc_thread_attach();
    bool race = strcmp(mode_name, "race") == 0 || (strcmp(mode_name, "mixed") == 0 && index < 2);
    if (race) {
        struct pair *pair = &pairs[(index / 2) % 64];
        if (index % 2 == 0)
            race_maker(pair, &rng);
        else
            race_getter(pair, &rng);
    } else {
        unsigned role = strcmp(mode_name, "map") == 0 ? index : index - 2;
        if (role % 3 == 1)
            map_reader(&rng);
        else
            map_writer(&rng);
    }
    rcgc_thread_detach();
}

int main(int argc, char **argv) {
    static const char *const modes[] = {"race", "map", NULL};
    struct stress_options options = stress_parse(argc, argv, "stress_weakref", modes);
    mode_name = options.mode;
    if (strcmp(mode_name, "race") == 0 && options.threads % 2 != 0)
        options.threads++; /* pairs */
    rcgc_thread_attach();
    values_map = rcgc_weakmap_new(RCGC_WEAK_VALUES);
    keys_map = rcgc_weakmap_new(RCGC_WEAK_KEYS);
    rcgc_blocking_begin(); /* the workers stop the world; this thread waits */
    stress_run(&options, worker, NULL);
    rcgc_blocking_end();
    long rounds = 0, wins = 0;
    for (unsigned i = 0; i < 64; i++) {
        rounds += atomic_load(&pairs[i].released);
        wins += atomic_load(&pairs[i].wins);
    }
    rcgc_weakmap_free(values_map);
    rcgc_weakmap_free(keys_map);
    rcgc_collect(2);
    printf("stress_weakref: %ld get/death rounds (%ld won by the get), %ld map reads (%ld hits), "
           "%ld map objects released\n",
           rounds, wins, atomic_load(&map_reads), atomic_load(&map_hits),
           atomic_load(&map_released));
    rcgc_thread_detach();
    return stress_finish("stress_weakref");
}
