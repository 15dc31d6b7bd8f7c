/* stress/stress_objects.c - reference counts under threads: objects in
 * biased, atomic, deferred and immortal modes are made, shared (each reference handed
 * to another thread through an exchange array), counted up and down and
 * dropped at random by every thread, while threads also attach, detach and
 * exit (owners die while others hold their objects).
 *
 * Checks: an object's payload is intact whenever a thread holds it; at the
 * end every mortal object made was released exactly once (a release hook
 * counts, and marks the object so a second release is caught), and no
 * immortal one was.
 */
#include "object/object_internal.h"
#include "stress_common.h"

#include <pthread.h>
#include <stdio.h>

#define HELD 32
#define EXCHANGE 64

struct item {
    rcgc_object head;
    uint64_t payload; /* tag ^ address, checked by every holder */
    _Atomic int releases;
};

static _Atomic long made, released, immortals;
static rcgc_object *_Atomic exchange[EXCHANGE];

static void item_release(rcgc_object *self) {
    struct item *it = (struct item *)self;
    if (atomic_fetch_add(&it->releases, 1) != 0)
        stress_fail("item %p released twice", (void *)it);
    atomic_fetch_add_explicit(&released, 1, memory_order_relaxed);
}

static const rcgc_type item_type = {
    .name = "item", .size = sizeof(struct item), .release = item_release};

static void check_item(rcgc_object *obj, const char *where) {
    struct item *it = (struct item *)obj;
    if (it->payload != ((uint64_t)(uintptr_t)it ^ 0x5eed5eed5eed5eedu))
        stress_fail("%s: item %p has a bad payload", where, (void *)it);
    if (atomic_load_explicit(&it->releases, memory_order_relaxed) != 0)
        stress_fail("%s: item %p used after its release", where, (void *)it);
}

static rcgc_object *make_item(uint64_t *rng) {
    struct item *it = (struct item *)rcgc_new(&item_type);
    if (it == NULL) {
        stress_fail("rcgc_new failed");
        return NULL;
    }
    it->payload = (uint64_t)(uintptr_t)it ^ 0x5eed5eed5eed5eedu;
    atomic_fetch_add_explicit(&made, 1, memory_order_relaxed);
    switch (stress_below(rng, 8)) {
    case 0:
        rcgc_set_rc_mode(&it->head, RCGC_RC_ATOMIC);
        break;
    case 2:
        rcgc_set_rc_mode(&it->head, RCGC_RC_DEFERRED); /* released by a sync */
        break;
    case 1:
        if (stress_below(rng, 16) == 0) { /* rare: immortals are never freed */
            rcgc_set_rc_mode(&it->head, RCGC_RC_IMMORTAL);
            atomic_fetch_add_explicit(&immortals, 1, memory_order_relaxed);
        }
        break;
    default:
        break; /* biased */
    }
    return &it->head;
}

/* One attached stint: hold up to HELD references, trade them, drop them. */
static void stint(uint64_t *rng, unsigned steps) {
    rcgc_object *held[HELD] = {0};
    for (unsigned step = 0; step < steps && stress_running(); step++) {
        unsigned i = (unsigned)stress_below(rng, HELD);
        switch (stress_below(rng, 6)) {
        case 0: /* make, or drop what is there */
            if (held[i] == NULL) {
                held[i] = make_item(rng);
            } else {
                check_item(held[i], "drop");
                rcgc_decref(held[i]);
                held[i] = NULL;
            }
            break;
        case 1: /* another reference to something held */
            if (held[i] != NULL) {
                unsigned j = (unsigned)stress_below(rng, HELD);
                if (held[j] == NULL) {
                    rcgc_incref(held[i]);
                    held[j] = held[i];
                }
            }
            break;
        case 2: { /* trade a reference through the exchange */
            unsigned slot = (unsigned)stress_below(rng, EXCHANGE);
            /* acq_rel: the object's payload, written by its maker, is
             * visible to whoever takes the reference out. */
            rcgc_object *got =
                atomic_exchange_explicit(&exchange[slot], held[i], memory_order_acq_rel);
            held[i] = got;
            if (got != NULL)
                check_item(got, "received");
            break;
        }
        default:
            if (held[i] != NULL)
                check_item(held[i], "held");
            if (stress_below(rng, 512) == 0)
                rcgc_sync_deferred(); /* stops the world: others park or are suspended */
            rcgc_safepoint();
            break;
        }
    }
    for (unsigned i = 0; i < HELD; i++)
        if (held[i] != NULL) {
            check_item(held[i], "final drop");
            rcgc_decref(held[i]);
        }
}

static void *short_lived(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    rcgc_thread_attach();
    stint(&rng, 200 + (unsigned)stress_below(&rng, 2000));
    if (stress_below(&rng, 2) == 0)
        rcgc_thread_detach(); /* else it exits attached, still owning objects */
    return NULL;
}

static void worker(unsigned index, uint64_t seed, void *arg) {
    (void)arg;
    uint64_t rng = seed;
    if (index % 2 == 1) { /* odd workers run short-lived threads, one at a time */
        while (stress_running()) {
            pthread_t thread;
            pthread_create(&thread, NULL, short_lived, (void *)(uintptr_t)stress_next(&rng));
            pthread_join(thread, NULL);
        }
        return;
    }
    rcgc_thread_attach();
    while (stress_running())
        stint(&rng, 5000);
    rcgc_thread_detach();
}

int main(int argc, char **argv) {
    struct stress_options options = stress_parse(argc, argv, "stress_objects", NULL);
    stress_run(&options, worker, NULL);
    /* Drop what is left in the exchange, from an attached thread. */
    rcgc_thread_attach();
    for (unsigned i = 0; i < EXCHANGE; i++) {
        rcgc_object *left = atomic_exchange(&exchange[i], NULL);
        if (left != NULL)
            rcgc_decref(left);
    }
    rcgc_safepoint();
    rcgc_thread_detach();
    rcgc_sync_deferred(); /* every table applied (threads are gone): the rest die */
    long mortal = atomic_load(&made) - atomic_load(&immortals);
    printf("stress_objects: %ld objects made (%ld immortal), %ld released\n", atomic_load(&made),
           atomic_load(&immortals), atomic_load(&released));
    if (atomic_load(&released) != mortal)
        stress_fail("%ld mortal objects made but %ld released", mortal, atomic_load(&released));
    return stress_finish("stress_objects");
}
