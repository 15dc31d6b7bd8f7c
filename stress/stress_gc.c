/* stress/stress_gc.c - the cycle collector under threads: every worker
 * builds and drops random graphs of tracked nodes (rings, self-loops, random
 * links, cycles whose members are owned by different threads, handed over
 * through an exchange array) in biased, atomic and deferred counting, while
 * collector threads call rcgc_collect(0/1/2), freeze and list the heap,
 * switch automatic collection off and on around a few nodes made, and
 * automatic collections run often (thresholds 200, 5, 5). Threads also poll
 * safepoints, sleep in blocking regions, detach and re-attach, and spawn
 * short-lived threads that feed the exchange and exit, so attaching and
 * exiting happen during stops. Some nodes have a finalizer that drops an
 * edge, or resurrects the node into a global slot others take it from.
 *
 * Checks: a node's payload (a checksum of its id and address) and state
 * whenever a thread, the collector (traverse, clear, finalize) or a heap
 * listing touches it; a held node still has the id it had when taken;
 * fresh nodes are tracked with empty fields; resurrected nodes read as
 * finalized; rcgc_collect from a finalizer during a collection returns 0;
 * the release hook sees each node once (a per-id bitmap), after its clear.
 * At the end, with everything dropped and full collections run until one
 * frees nothing, every node made was released exactly once, the garbage
 * list is empty and every collection ran its callbacks once.
 *
 * --mode resurrect aims at the hand-offs around finalizers: every node has
 * a finalizer, half are deferred, half the finalizers resurrect their node
 * and yield right after publishing it, and threads take resurrected nodes
 * ten times as often - so a node is taken, dropped and its thread's
 * deferred table flushed while its finalizer is still returning.
 *
 * --mode incremental (and resurrect-incremental) runs full collections in
 * increments of 20 us: the workers rewire, share, resurrect and drop
 * while increments run between their steps; collector threads add
 * increments of their own (rcgc_collect_step) and now and then switch to
 * stop-the-world mode for a collection and back, which abandons the
 * running one. Each increment's callback must fall inside an open
 * incremental collection, whose start and stop may run on different
 * threads.
 */
/* nanosleep is POSIX: the build defines _GNU_SOURCE; a bare -std=c17
 * compile gets it from here. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "stress_common.h"

#include <rcgc/gc.h>
#include <rcgc/object.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define REFS 3                  /* edges per node */
#define HELD 24                 /* a thread's roots */
#define EXCHANGE 64             /* references in transit between threads */
#define RESURRECT_SLOTS 4       /* where finalizers store their node */
#define RING_MAX 6              /* longest ring made in one step */
#define RELEASE_BITS (1u << 24) /* ids whose release is tracked bit by bit */
#define LIVE_CAP 100000         /* above this, makers wait for a collection */

/* A node's state: 0 between rcgc_new and the end of node_make (the
 * collector may traverse it then), LIVE while usable, RELEASED after its
 * release hook. */
#define NODE_LIVE 0x11feu
#define NODE_RELEASED 0xdeadu

/* A graph node. Edges are strong references; a writer takes the node's
 * lock to swap one and a reader takes it to load one and count it, so a
 * reader never counts a referent that a writer has already dropped. The
 * traverse hook reads edges without the lock: it runs with the world
 * stopped, and no thread parks while holding a node's lock (nothing that
 * can reach a safepoint or run hooks is called under it). */
struct node {
    rcgc_object head;
    uint64_t id;      /* unique, from 1; written once before the node is shared */
    uint64_t payload; /* mix(id) ^ address */
    _Atomic uint32_t state;
    atomic_bool locked;
    rcgc_object *_Atomic ref[REFS];
};

/* A thread's root: the reference, and the id it had when taken. */
struct held {
    struct node *node;
    uint64_t id;
};

struct thread_ctx {
    uint64_t rng;
    struct held held[HELD];
    bool collector;        /* calls rcgc_collect and the introspection functions */
    bool spawner;          /* starts short-lived threads */
    unsigned frozen_steps; /* > 0: rcgc_freeze was called, unfreeze when it runs out */
};

static uint64_t base_seed;    /* written by main before any thread starts */
static atomic_bool finishing; /* set before the final drain: no more resurrection */
static _Atomic uint64_t next_id;
static _Atomic long made, released, finalized, resurrected_count, explicit_collections;
static _Atomic long spawned, reattached, gc_starts, gc_stops, hook_collects, listings;
static _Atomic long old_open, increments, explicit_steps, mode_switches;
static _Atomic long peak_live, backpressure;
/* Odd while a thread has automatic collection switched off: a check that
 * reads it even and unchanged around rcgc_is_enabled() must read true. */
static _Atomic unsigned long disable_seq;
static _Atomic long disabled_spells;
static _Atomic uint64_t release_bits[RELEASE_BITS / 64];
static rcgc_object *_Atomic exchange[EXCHANGE];
static rcgc_object *_Atomic resurrected[RESURRECT_SLOTS];

/* Collections this thread is running callbacks for (set by on_gc): a hook
 * that runs while it is non-zero runs during a collection. */
static _Thread_local unsigned in_collection;

static const unsigned thresholds[RCGC_GENERATIONS] = {200, 5, 5};

/* The workload's odds, set once by main from --mode. */
struct workload {
    unsigned fin_in_3;          /* of 3 new nodes, how many have a finalizer */
    unsigned deferred_in_32;    /* of 32 new nodes, how many are deferred */
    unsigned resurrect_in_8;    /* of 8 finalizers, how many resurrect */
    unsigned idle_take_in_8;    /* idle steps that take a resurrected node */
    bool yield_after_resurrect; /* widen the window after publishing */
    bool incremental;           /* full collections in increments */
};

static const struct workload mixed_workload = {1, 1, 1, 0, false, false};
static const struct workload resurrect_workload = {3, 16, 4, 4, true, false};
static struct workload work; /* written by main before any thread starts */

/* --------------------------------------------------------------- Nodes */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    return x ^ (x >> 33);
}

static uint64_t node_payload(const struct node *n) { return mix64(n->id) ^ (uint64_t)(uintptr_t)n; }

static void node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg);
static void node_clear(rcgc_object *self);
static void node_finalize(rcgc_object *self);
static void node_release(rcgc_object *self);

/* Two types: one with a free list and no finalizer, one with a finalizer. */
static const rcgc_type plain_type = {.name = "stress_node",
                                     .size = sizeof(struct node),
                                     .flags = RCGC_TYPE_GC,
                                     .traverse = node_traverse,
                                     .clear = node_clear,
                                     .release = node_release,
                                     .freelist_max = 8};
static const rcgc_type fin_type = {.name = "stress_fin_node",
                                   .size = sizeof(struct node),
                                   .flags = RCGC_TYPE_GC,
                                   .traverse = node_traverse,
                                   .clear = node_clear,
                                   .finalize = node_finalize,
                                   .release = node_release};

static bool is_node(const rcgc_object *obj) {
    return obj->ob_type == &plain_type || obj->ob_type == &fin_type;
}

/* A node someone holds a reference to: live, with its checksum. */
static bool check_node(const struct node *n, const char *where) {
    if (!is_node(&n->head)) {
        stress_fail("%s: node %p has a foreign type %p", where, (const void *)n,
                    (const void *)n->head.ob_type);
        return false;
    }
    /* Acquire: pairs with the release store in node_make, so the id and
     * payload written before it are visible here. */
    uint32_t state = atomic_load_explicit(&n->state, memory_order_acquire);
    if (state != NODE_LIVE) {
        stress_fail("%s: node %p (id %llu, %s, rc mode %d%s) used after its release (state "
                    "%#x)",
                    where, (const void *)n, (unsigned long long)n->id, n->head.ob_type->name,
                    rcgc_rc_mode(&n->head), rcgc_is_finalized(&n->head) ? ", finalized" : "",
                    state);
        return false;
    }
    if (n->payload != node_payload(n)) {
        stress_fail("%s: node %p (id %llu) has a bad payload", where, (const void *)n,
                    (unsigned long long)n->id);
        return false;
    }
    return true;
}

static bool check_held(const struct held *h, const char *where) {
    if (!check_node(h->node, where))
        return false;
    if (h->node->id != h->id) {
        stress_fail("%s: node %p was id %llu, is now id %llu (freed and reused)", where,
                    (const void *)h->node, (unsigned long long)h->id,
                    (unsigned long long)h->node->id);
        return false;
    }
    if (!rcgc_is_tracked(&h->node->head)) {
        stress_fail("%s: live node %p (id %llu) is not tracked", where, (const void *)h->node,
                    (unsigned long long)h->id);
        return false;
    }
    return true;
}

static void node_lock(struct node *n) {
    /* Acquire: pairs with node_unlock's release, so an edge stored by the
     * last holder is what this one loads. */
    while (atomic_exchange_explicit(&n->locked, true, memory_order_acquire))
        while (atomic_load_explicit(&n->locked, memory_order_relaxed))
            sched_yield();
}

static void node_unlock(struct node *n) {
    atomic_store_explicit(&n->locked, false, memory_order_release);
}

/* Point edge @k of @n at @target (NULL to cut it). The new referent is
 * counted before it is published and the old one dropped after, outside
 * the lock: a drop may run hooks, which take other nodes' locks. */
static void node_set_ref(struct node *n, unsigned k, struct node *target) {
    rcgc_object *obj = target != NULL ? &target->head : NULL;
    if (obj != NULL)
        rcgc_incref(obj);
    node_lock(n);
    rcgc_object *old = atomic_exchange_explicit(&n->ref[k], obj, memory_order_relaxed);
    node_unlock(n);
    if (old != NULL)
        rcgc_decref(old);
}

/* A new reference to what edge @k of @n points at, or NULL. */
static struct node *node_get_ref(struct node *n, unsigned k) {
    node_lock(n);
    rcgc_object *obj = atomic_load_explicit(&n->ref[k], memory_order_relaxed);
    if (obj != NULL)
        rcgc_incref(obj);
    node_unlock(n);
    return (struct node *)obj;
}

static struct node *node_make(uint64_t *rng) {
    const rcgc_type *type = stress_below(rng, 3) < work.fin_in_3 ? &fin_type : &plain_type;
    struct node *n = (struct node *)rcgc_new(type);
    if (n == NULL) {
        stress_fail("rcgc_new failed (errno %d)", errno);
        return NULL;
    }
    for (unsigned k = 0; k < REFS; k++)
        if (atomic_load_explicit(&n->ref[k], memory_order_relaxed) != NULL)
            stress_fail("rcgc_new gave node %p with a non-zero edge", (void *)n);
    if (!rcgc_is_tracked(&n->head))
        stress_fail("rcgc_new gave node %p untracked", (void *)n);
    n->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) + 1;
    n->payload = node_payload(n);
    /* Release: pairs with the acquire in check_node and in the listing's
     * visitor, which read id and payload only after seeing LIVE. */
    atomic_store_explicit(&n->state, NODE_LIVE, memory_order_release);
    long live = atomic_fetch_add_explicit(&made, 1, memory_order_relaxed) + 1 -
                atomic_load_explicit(&released, memory_order_relaxed);
    long peak = atomic_load_explicit(&peak_live, memory_order_relaxed);
    while (live > peak && !atomic_compare_exchange_weak_explicit(
                              &peak_live, &peak, live, memory_order_relaxed, memory_order_relaxed))
        ;
    uint64_t pick = stress_below(rng, 32);
    int mode = pick < work.deferred_in_32       ? RCGC_RC_DEFERRED
               : pick < work.deferred_in_32 + 8 ? RCGC_RC_ATOMIC
                                                : RCGC_RC_BIASED;
    if (mode != RCGC_RC_BIASED && rcgc_set_rc_mode(&n->head, mode) != 0)
        stress_fail("rcgc_set_rc_mode(%d) failed on a fresh node (errno %d)", mode, errno);
    return n;
}

/* ------------------------------------------------------- The type's hooks */

static void node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct node *n = (struct node *)self;
    uint32_t state = atomic_load_explicit(&n->state, memory_order_acquire);
    if (state == NODE_RELEASED)
        stress_fail("traverse: node %p visited after its release", (void *)n);
    else if (state == NODE_LIVE && n->payload != node_payload(n))
        stress_fail("traverse: node %p has a bad payload", (void *)n);
    for (unsigned k = 0; k < REFS; k++) {
        rcgc_object *obj = atomic_load_explicit(&n->ref[k], memory_order_relaxed);
        if (obj != NULL)
            visit(obj, arg);
    }
}

static void node_clear(rcgc_object *self) {
    struct node *n = (struct node *)self;
    check_node(n, "clear");
    rcgc_object *old[REFS];
    node_lock(n);
    for (unsigned k = 0; k < REFS; k++)
        old[k] = atomic_exchange_explicit(&n->ref[k], NULL, memory_order_relaxed);
    node_unlock(n);
    for (unsigned k = 0; k < REFS; k++)
        if (old[k] != NULL)
            rcgc_decref(old[k]);
}

/* Deterministic per node and seed: hooks have no rng of their own. */
static void node_finalize(rcgc_object *self) {
    struct node *n = (struct node *)self;
    if (!check_node(n, "finalize"))
        return;
    atomic_fetch_add_explicit(&finalized, 1, memory_order_relaxed);
    uint64_t h = mix64(n->id ^ base_seed);
    if (in_collection > 0 && (h >> 8) % 16 == 0) {
        atomic_fetch_add_explicit(&hook_collects, 1, memory_order_relaxed);
        ptrdiff_t found = rcgc_collect((int)((h >> 12) % RCGC_GENERATIONS));
        if (found != 0)
            stress_fail("rcgc_collect from a finalizer during a collection returned %td", found);
    }
    if (h % 4 == 0) /* a finalizer that breaks one of its own edges */
        node_set_ref(n, (unsigned)((h >> 4) % REFS), NULL);
    if ((h >> 20) % 8 < work.resurrect_in_8 &&
        !atomic_load_explicit(&finishing, memory_order_relaxed)) {
        rcgc_incref(self);
        /* acq_rel: the node's fields are visible to whoever takes it out,
         * and the previous occupant's to this thread, which drops it. */
        rcgc_object *old = atomic_exchange_explicit(&resurrected[(h >> 16) % RESURRECT_SLOTS], self,
                                                    memory_order_acq_rel);
        atomic_fetch_add_explicit(&resurrected_count, 1, memory_order_relaxed);
        if (work.yield_after_resurrect)
            sched_yield();
        if (old != NULL && check_node((struct node *)old, "finalize, slot"))
            rcgc_decref(old);
    }
}

/* Must not touch other objects: checks and counts this node only. */
static void node_release(rcgc_object *self) {
    struct node *n = (struct node *)self;
    uint32_t state = atomic_exchange_explicit(&n->state, NODE_RELEASED, memory_order_acq_rel);
    if (state != NODE_LIVE) {
        stress_fail("release: node %p released in state %#x (twice?)", (void *)n, state);
        return;
    }
    if (n->payload != node_payload(n))
        stress_fail("release: node %p has a bad payload", (void *)n);
    for (unsigned k = 0; k < REFS; k++)
        if (atomic_load_explicit(&n->ref[k], memory_order_relaxed) != NULL)
            stress_fail("release: node %p (id %llu) still holds an edge: clear did not run",
                        (void *)n, (unsigned long long)n->id);
    if (n->id < RELEASE_BITS) {
        uint64_t bit = (uint64_t)1 << (n->id % 64);
        if (atomic_fetch_or_explicit(&release_bits[n->id / 64], bit, memory_order_relaxed) & bit)
            stress_fail("release: node id %llu released twice", (unsigned long long)n->id);
    }
    atomic_fetch_add_explicit(&released, 1, memory_order_relaxed);
}

/* ------------------------------------------------ Callbacks and listings */

static void on_gc(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg) {
    (void)arg;
    if (info->generation < 0 || info->generation >= RCGC_GENERATIONS)
        stress_fail("callback: collection of generation %d", info->generation);
    if (phase == RCGC_GC_INCREMENT) {
        if (!work.incremental || info->generation != 2 || atomic_load(&old_open) != 1)
            stress_fail("callback: an increment outside an incremental full collection");
        atomic_fetch_add_explicit(&increments, 1, memory_order_relaxed);
        return;
    }
    /* An incremental full collection starts on one thread and ends on
     * whichever runs its last increment; one runs at a time. */
    if (work.incremental && info->generation == 2) {
        long open = atomic_fetch_add(&old_open, phase == RCGC_GC_START ? 1 : -1);
        if (open != (phase == RCGC_GC_START ? 0 : 1))
            stress_fail("callback: full collections' starts and stops interleave (%ld open)", open);
        atomic_fetch_add_explicit(phase == RCGC_GC_START ? &gc_starts : &gc_stops, 1,
                                  memory_order_relaxed);
        return;
    }
    if (phase == RCGC_GC_START) {
        in_collection++;
        atomic_fetch_add_explicit(&gc_starts, 1, memory_order_relaxed);
        return;
    }
    if (in_collection == 0)
        stress_fail("callback: a stop without a start on this thread");
    else
        in_collection--;
    atomic_fetch_add_explicit(&gc_stops, 1, memory_order_relaxed);
}

/* Objects listed by rcgc_get_objects or rcgc_get_referrers: held by a
 * reference while visited; a fresh one may still be initializing. */
static int visit_listed(rcgc_object *obj, void *arg) {
    long *count = arg;
    (*count)++;
    if (!is_node(obj)) {
        stress_fail("listing: object %p has a foreign type", (void *)obj);
        return 0;
    }
    struct node *n = (struct node *)obj;
    uint32_t state = atomic_load_explicit(&n->state, memory_order_acquire);
    if (state == NODE_RELEASED)
        stress_fail("listing: node %p listed after its release", (void *)n);
    else if (state == NODE_LIVE && n->payload != node_payload(n))
        stress_fail("listing: node %p has a bad payload", (void *)n);
    return 0;
}

/* Referents are borrowed and another thread may drop them meanwhile: only
 * counted, never touched. */
static int visit_count(rcgc_object *obj, void *arg) {
    long *count = arg;
    if (obj == NULL)
        stress_fail("get_referents: a NULL referent");
    (*count)++;
    return 0;
}

/* ------------------------------------------------------------ The steps */

static void pause_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static void drop_held(struct held *h) {
    if (h->node == NULL)
        return;
    check_held(h, "drop");
    rcgc_decref(&h->node->head);
    h->node = NULL;
}

/* Put a reference the caller owns in @h, dropping what was there. */
static void put_held(struct held *h, struct node *n) {
    drop_held(h);
    h->node = n;
    h->id = n != NULL ? n->id : 0;
}

static struct held *pick(struct thread_ctx *ctx) {
    return &ctx->held[stress_below(&ctx->rng, HELD)];
}

/* A ring of 2..RING_MAX new nodes, tied to one held node both ways (a
 * cycle across threads when that node came from another thread). */
static void make_ring(struct thread_ctx *ctx) {
    struct node *ring[RING_MAX];
    unsigned length = 2 + (unsigned)stress_below(&ctx->rng, RING_MAX - 1);
    for (unsigned i = 0; i < length; i++) {
        ring[i] = node_make(&ctx->rng);
        if (ring[i] == NULL) {
            for (unsigned j = 0; j < i; j++)
                rcgc_decref(&ring[j]->head);
            return;
        }
    }
    for (unsigned i = 0; i < length; i++)
        node_set_ref(ring[i], 0, ring[(i + 1) % length]);
    struct held *other = pick(ctx);
    if (other->node != NULL && check_held(other, "ring")) {
        node_set_ref(ring[0], 1, other->node);
        node_set_ref(other->node, (unsigned)stress_below(&ctx->rng, REFS), ring[length - 1]);
    }
    if (stress_below(&ctx->rng, 2) == 0) {
        put_held(pick(ctx), ring[0]);
    } else {
        rcgc_decref(&ring[0]->head); /* the whole ring is garbage now, or held via other */
    }
    for (unsigned i = 1; i < length; i++)
        rcgc_decref(&ring[i]->head);
}

/* Swap a held reference with an exchange slot. */
static void trade(struct thread_ctx *ctx) {
    struct held *h = pick(ctx);
    if (h->node != NULL && !check_held(h, "trade"))
        return;
    unsigned slot = (unsigned)stress_below(&ctx->rng, EXCHANGE);
    /* acq_rel: the node's id and payload, written by its maker, are
     * visible to whoever takes the reference out, and the previous one's
     * to this thread. */
    rcgc_object *got = atomic_exchange_explicit(&exchange[slot], h->node ? &h->node->head : NULL,
                                                memory_order_acq_rel);
    h->node = (struct node *)got;
    h->id = 0;
    if (got != NULL && check_node(h->node, "received"))
        h->id = h->node->id;
}

/* Take a foreign node out of the exchange, tie a new node of this thread
 * to it both ways, and put one of the two back: a cycle whose members have
 * different owners, left for whoever takes it next. */
static void handoff(struct thread_ctx *ctx) {
    unsigned slot = (unsigned)stress_below(&ctx->rng, EXCHANGE);
    rcgc_object *got = atomic_exchange_explicit(&exchange[slot], NULL, memory_order_acq_rel);
    if (got == NULL || !check_node((struct node *)got, "handoff"))
        return;
    struct node *theirs = (struct node *)got;
    struct node *mine = node_make(&ctx->rng);
    if (mine == NULL) {
        rcgc_decref(got);
        return;
    }
    node_set_ref(mine, (unsigned)stress_below(&ctx->rng, REFS), theirs);
    node_set_ref(theirs, (unsigned)stress_below(&ctx->rng, REFS), mine);
    struct node *back = stress_below(&ctx->rng, 2) == 0 ? mine : theirs;
    struct node *keep = back == mine ? theirs : mine;
    rcgc_object *out = atomic_exchange_explicit(&exchange[slot], &back->head, memory_order_acq_rel);
    if (out != NULL && check_node((struct node *)out, "handoff, slot"))
        rcgc_decref(out);
    if (stress_below(&ctx->rng, 2) == 0)
        put_held(pick(ctx), keep);
    else
        rcgc_decref(&keep->head);
}

/* Follow up to 16 edges from a held node, one reference at a time. */
static void walk(struct thread_ctx *ctx) {
    struct held *h = pick(ctx);
    if (h->node == NULL || !check_held(h, "walk"))
        return;
    struct node *at = h->node;
    rcgc_incref(&at->head);
    for (unsigned step = 0; step < 16; step++) {
        struct node *next = node_get_ref(at, (unsigned)stress_below(&ctx->rng, REFS));
        rcgc_decref(&at->head);
        at = next;
        if (at == NULL || !check_node(at, "walk"))
            break;
    }
    if (at != NULL)
        rcgc_decref(&at->head);
}

static void take_resurrected(struct thread_ctx *ctx) {
    unsigned slot = (unsigned)stress_below(&ctx->rng, RESURRECT_SLOTS);
    rcgc_object *got = atomic_exchange_explicit(&resurrected[slot], NULL, memory_order_acq_rel);
    if (got == NULL || !check_node((struct node *)got, "resurrected"))
        return;
    if (!rcgc_is_finalized(got))
        stress_fail("resurrected node %p does not read as finalized", (void *)got);
    put_held(pick(ctx), (struct node *)got);
}

/* Increments between the automatic ones, and now and then a spell in
 * stop-the-world mode, which abandons the running collection. */
static void step_incremental(struct thread_ctx *ctx) {
    for (uint64_t n = stress_below(&ctx->rng, 4); n > 0; n--) {
        if (rcgc_collect_step() < 0 && errno != ENOMEM &&
            rcgc_get_old_collection() == RCGC_OLD_INCREMENTAL)
            stress_fail("rcgc_collect_step failed (errno %d)", errno);
        atomic_fetch_add_explicit(&explicit_steps, 1, memory_order_relaxed);
    }
    if (stress_below(&ctx->rng, 16) == 0) {
        if (rcgc_set_old_collection(RCGC_OLD_STOP_THE_WORLD) != 0)
            stress_fail("rcgc_set_old_collection failed (errno %d)", errno);
        ptrdiff_t found = rcgc_collect(2);
        if (found < 0 && errno != ENOMEM)
            stress_fail("rcgc_collect(2) returned %td (errno %d)", found, errno);
        if (rcgc_set_old_collection(RCGC_OLD_INCREMENTAL) != 0)
            stress_fail("rcgc_set_old_collection failed (errno %d)", errno);
        atomic_fetch_add_explicit(&mode_switches, 1, memory_order_relaxed);
    }
}

static void collect(struct thread_ctx *ctx) {
    int generation = (int)stress_below(&ctx->rng, RCGC_GENERATIONS);
    ptrdiff_t found = rcgc_collect(generation);
    if (found < 0 && errno != ENOMEM)
        stress_fail("rcgc_collect(%d) returned %td (errno %d)", generation, found, errno);
    atomic_fetch_add_explicit(&explicit_collections, 1, memory_order_relaxed);
    /* Now and then a spell with automatic collection off, racing other
     * threads' spells and collections (one spell at a time, so the
     * sequence stays odd exactly while it lasts). */
    unsigned long even = atomic_load(&disable_seq) & ~1ul;
    if (stress_below(&ctx->rng, 8) == 0 &&
        atomic_compare_exchange_strong(&disable_seq, &even, even + 1)) {
        rcgc_disable();
        for (int i = 0; i < 8; i++)
            put_held(pick(ctx), node_make(&ctx->rng));
        rcgc_enable();
        atomic_fetch_add(&disable_seq, 1);
        atomic_fetch_add_explicit(&disabled_spells, 1, memory_order_relaxed);
    }
    if (stress_below(&ctx->rng, 32) == 0) {
        errno = 0;
        if (rcgc_collect(RCGC_GENERATIONS) != -1 || errno != EINVAL)
            stress_fail("rcgc_collect(%d) did not fail with EINVAL", RCGC_GENERATIONS);
    }
    if (work.incremental)
        step_incremental(ctx);
}

/* List the heap, the referrers and referents of a held node, and the
 * settings; freeze now and then (undone a few hundred steps later). */
static void introspect(struct thread_ctx *ctx) {
    long count = 0;
    ptrdiff_t listed = rcgc_get_objects(-1, visit_listed, &count);
    if (listed < 0 || listed != count)
        stress_fail("rcgc_get_objects returned %td for %ld visits", listed, count);
    atomic_fetch_add_explicit(&listings, 1, memory_order_relaxed);
    struct held *h = pick(ctx);
    if (h->node != NULL && check_held(h, "introspect")) {
        count = 0;
        ptrdiff_t referrers = rcgc_get_referrers(&h->node->head, visit_listed, &count);
        if (referrers < 0 || referrers != count)
            stress_fail("rcgc_get_referrers returned %td for %ld visits", referrers, count);
        count = 0;
        size_t referents = rcgc_get_referents(&h->node->head, visit_count, &count);
        if (referents != (size_t)count || referents > REFS)
            stress_fail("rcgc_get_referents returned %zu for %ld visits", referents, count);
    }
    unsigned threshold[RCGC_GENERATIONS], counts[RCGC_GENERATIONS];
    rcgc_get_threshold(threshold);
    rcgc_get_count(counts);
    for (unsigned g = 0; g < RCGC_GENERATIONS; g++)
        if (threshold[g] != thresholds[g])
            stress_fail("threshold %u reads %u, was set to %u", g, threshold[g], thresholds[g]);
    unsigned long seq = atomic_load(&disable_seq);
    bool enabled = rcgc_is_enabled();
    if (!enabled && seq % 2 == 0 && atomic_load(&disable_seq) == seq)
        stress_fail("automatic collection reads as disabled");
    if (ctx->frozen_steps == 0 && stress_below(&ctx->rng, 4) == 0) {
        rcgc_freeze();
        ctx->frozen_steps = 100 + (unsigned)stress_below(&ctx->rng, 400);
    }
}

static void *short_lived(void *arg);

/* A short-lived thread, joined from a blocking region: a stop must not
 * wait for this thread while it waits for one that is attaching. */
static void spawn(struct thread_ctx *ctx) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, short_lived, (void *)(uintptr_t)stress_next(&ctx->rng)) !=
        0) {
        stress_fail("pthread_create failed");
        return;
    }
    atomic_fetch_add_explicit(&spawned, 1, memory_order_relaxed);
    rcgc_blocking_begin();
    pthread_join(thread, NULL);
    rcgc_blocking_end();
}

static void step(struct thread_ctx *ctx) {
    /* Backpressure: with more threads than CPUs (and under TSan) the
     * makers can outrun the collector's finalize and clear phase, which
     * runs on one thread; waiting for a collection keeps memory bounded. */
    if (atomic_load_explicit(&made, memory_order_relaxed) -
            atomic_load_explicit(&released, memory_order_relaxed) >
        LIVE_CAP) {
        if (rcgc_collect(0) < 0 && errno != ENOMEM)
            stress_fail("rcgc_collect(0) failed (errno %d)", errno);
        atomic_fetch_add_explicit(&backpressure, 1, memory_order_relaxed);
        return;
    }
    uint64_t roll = stress_below(&ctx->rng, 1000);
    struct held *a = pick(ctx);
    if (roll < 200) { /* a new node, or drop what is there */
        if (a->node == NULL || stress_below(&ctx->rng, 2) == 0)
            put_held(a, node_make(&ctx->rng));
        else
            drop_held(a);
    } else if (roll < 400) { /* link two held nodes (the same one: a self-loop) */
        struct held *b = pick(ctx);
        if (a->node != NULL && b->node != NULL && check_held(a, "link") && check_held(b, "link"))
            node_set_ref(a->node, (unsigned)stress_below(&ctx->rng, REFS), b->node);
    } else if (roll < 450) { /* cut an edge */
        if (a->node != NULL && check_held(a, "unlink"))
            node_set_ref(a->node, (unsigned)stress_below(&ctx->rng, REFS), NULL);
    } else if (roll < 570) { /* follow an edge into another root */
        if (a->node != NULL && check_held(a, "follow")) {
            struct node *to = node_get_ref(a->node, (unsigned)stress_below(&ctx->rng, REFS));
            if (to != NULL && check_node(to, "follow"))
                put_held(pick(ctx), to);
        }
    } else if (roll < 620) {
        make_ring(ctx);
    } else if (roll < 700) {
        trade(ctx);
    } else if (roll < 740) {
        handoff(ctx);
    } else if (roll < 790) {
        walk(ctx);
    } else if (roll < 800) {
        take_resurrected(ctx);
    } else if (roll < 810) { /* a blocking call: holds references, touches none */
        rcgc_blocking_begin();
        pause_us((long)stress_below(&ctx->rng, 200));
        rcgc_blocking_end();
    } else if (roll < 830) { /* a loop with safepoints, checking roots */
        for (unsigned i = 0; i < 32; i++) {
            rcgc_safepoint();
            struct held *h = pick(ctx);
            if (h->node != NULL && !check_held(h, "safepoint loop"))
                break;
        }
    } else if (roll < 832 && ctx->collector) {
        collect(ctx);
    } else if (roll == 832 && ctx->collector && stress_below(&ctx->rng, 8) == 0) {
        introspect(ctx);
    } else if (roll == 833 && stress_below(&ctx->rng, 4) == 0) {
        /* detach and come back, keeping the roots (their owner id dies) */
        rcgc_thread_detach();
        pause_us((long)stress_below(&ctx->rng, 100));
        if (rcgc_thread_attach() != 0)
            stress_fail("rcgc_thread_attach failed");
        atomic_fetch_add_explicit(&reattached, 1, memory_order_relaxed);
    } else if (roll == 834 && ctx->spawner && stress_below(&ctx->rng, 2) == 0) {
        spawn(ctx);
    } else if (stress_below(&ctx->rng, 8) < work.idle_take_in_8) {
        take_resurrected(ctx);
    } else {
        rcgc_safepoint();
        if (a->node != NULL)
            check_held(a, "held");
    }
    if (ctx->frozen_steps > 0 && --ctx->frozen_steps == 0)
        rcgc_unfreeze();
}

static void drop_all(struct thread_ctx *ctx) {
    for (unsigned i = 0; i < HELD; i++)
        drop_held(&ctx->held[i]);
    if (ctx->frozen_steps > 0) {
        rcgc_unfreeze();
        ctx->frozen_steps = 0;
    }
}

/* Attach, make a few rings and handoffs through the exchange, then exit,
 * attached or not. */
static void *short_lived(void *arg) {
    struct thread_ctx ctx = {.rng = (uint64_t)(uintptr_t)arg};
    if (rcgc_thread_attach() != 0) {
        stress_fail("rcgc_thread_attach failed in a short-lived thread");
        return NULL;
    }
    unsigned steps = 20 + (unsigned)stress_below(&ctx.rng, 200);
    for (unsigned i = 0; i < steps && stress_running(); i++) {
        switch (stress_below(&ctx.rng, 4)) {
        case 0:
            make_ring(&ctx);
            break;
        case 1:
            handoff(&ctx);
            break;
        case 2:
            trade(&ctx);
            break;
        default:
            step(&ctx);
            break;
        }
    }
    drop_all(&ctx);
    if (stress_below(&ctx.rng, 2) == 0)
        rcgc_thread_detach(); /* else the thread-exit hook detaches it */
    return NULL;
}

static void worker(unsigned index, uint64_t seed, void *arg) {
    (void)arg;
    struct thread_ctx ctx = {.rng = seed, .collector = index % 4 == 0, .spawner = index % 4 == 1};
    if (rcgc_thread_attach() != 0) {
        stress_fail("rcgc_thread_attach failed");
        return;
    }
    while (stress_running())
        step(&ctx);
    drop_all(&ctx);
    if (index % 2 == 0)
        rcgc_thread_detach(); /* odd workers exit attached */
}

/* ------------------------------------------------------------------ End */

/* After a leak: what is still tracked, for the report. */
static int visit_leaked(rcgc_object *obj, void *arg) {
    long *count = arg;
    if (++*count > 8 || !is_node(obj))
        return 0;
    struct node *n = (struct node *)obj;
    unsigned edges = 0;
    for (unsigned k = 0; k < REFS; k++)
        edges += atomic_load_explicit(&n->ref[k], memory_order_relaxed) != NULL;
    /* The listing's own reference is not counted. */
    fprintf(stderr, "  leaked: <%s %p> id %llu, count %zu, rc mode %d, %u edges%s\n",
            obj->ob_type->name, (void *)obj, (unsigned long long)n->id, rcgc_refcount(obj) - 1,
            rcgc_rc_mode(obj), edges, rcgc_is_finalized(obj) ? ", finalized" : "");
    fprintf(stderr, "    header: ob_ref_shared %#llx ob_flags %#x ob_tid %#x ob_gc_slot %u\n",
            (unsigned long long)atomic_load(&obj->ob_ref_shared),
            (unsigned)atomic_load(&obj->ob_flags), (unsigned)atomic_load(&obj->ob_tid),
            (unsigned)atomic_load(&obj->ob_gc_slot));
    return 0;
}

/* Drop every reference in the exchange and the resurrection slots; returns
 * how many there were. */
static long drop_globals(void) {
    long dropped = 0;
    for (unsigned i = 0; i < EXCHANGE; i++) {
        rcgc_object *left = atomic_exchange(&exchange[i], NULL);
        if (left != NULL && check_node((struct node *)left, "final drop")) {
            rcgc_decref(left);
            dropped++;
        }
    }
    for (unsigned i = 0; i < RESURRECT_SLOTS; i++) {
        rcgc_object *left = atomic_exchange(&resurrected[i], NULL);
        if (left != NULL && check_node((struct node *)left, "final drop")) {
            rcgc_decref(left);
            dropped++;
        }
    }
    return dropped;
}

/* After every spell with automatic collection off, it still runs: making
 * more live nodes than any young limit the threads could have raised
 * (threshold[0] per thread that made objects) starts a collection. */
static void check_automatic_collection_runs(void) {
    enum { KEEP = 200 * 256 };
    static struct node *kept[KEEP];
    uint64_t rng = base_seed;
    rcgc_gc_stats before[RCGC_GENERATIONS], after[RCGC_GENERATIONS];
    rcgc_get_stats(before);
    for (int i = 0; i < KEEP; i++)
        kept[i] = node_make(&rng);
    rcgc_get_stats(after);
    if (after[0].collections + after[1].collections + after[2].collections ==
        before[0].collections + before[1].collections + before[2].collections)
        stress_fail("no automatic collection in %d new live nodes after %ld spells with it off",
                    (int)KEEP, atomic_load(&disabled_spells));
    for (int i = 0; i < KEEP; i++)
        rcgc_decref(&kept[i]->head);
}

static void on_fatal(const char *message, void *arg) {
    (void)arg;
    stress_fail("%s", message); /* then rcgc aborts */
}

int main(int argc, char **argv) {
    static const char *const modes[] = {"resurrect", "incremental", "resurrect-incremental", NULL};
    struct stress_options options = stress_parse(argc, argv, "stress_gc", modes);
    work = strncmp(options.mode, "resurrect", 9) == 0 ? resurrect_workload : mixed_workload;
    work.incremental = strstr(options.mode, "incremental") != NULL;
    if (work.incremental) {
        /* Small increments: the host runs between many of them. */
        rcgc_set_increment_budget(20000);
        if (rcgc_set_old_collection(RCGC_OLD_INCREMENTAL) != 0)
            stress_fail("rcgc_set_old_collection failed");
    }
    base_seed = options.seed;
    rcgc_set_fatal_handler(on_fatal, NULL);
    rcgc_set_threshold(thresholds[0], thresholds[1], thresholds[2]);
    if (rcgc_callback_add_increments(on_gc, NULL) != 0)
        stress_fail("rcgc_callback_add failed");
    stress_run(&options, worker, NULL);

    /* Every worker and short-lived thread is gone. No more resurrection:
     * drop what is left, then collect until nothing is found. */
    atomic_store(&finishing, true);
    rcgc_thread_attach();
    check_automatic_collection_runs();
    rcgc_unfreeze();
    long dropped = drop_globals();
    /* Two full collections, then more while they still free something: a
     * deferred node dies only at a sync (each collection does one), and its
     * clear hook's drops are deferred again, so a chain of deferred nodes
     * loses one link per collection. */
    ptrdiff_t found = 0, last = 0;
    int rounds = 0;
    for (long before = -1, finalized_before = -1;
         rounds < 2 || (rounds < 64 && (atomic_load(&released) != before ||
                                        atomic_load(&finalized) != finalized_before));
         rounds++) {
        before = atomic_load(&released);
        finalized_before = atomic_load(&finalized);
        last = rcgc_collect(RCGC_GENERATIONS - 1);
        if (last < 0)
            stress_fail("final rcgc_collect failed (errno %d)", errno);
        if (rounds == 0)
            found = last;
    }
    rcgc_thread_detach();

    rcgc_gc_stats stats[RCGC_GENERATIONS];
    rcgc_get_stats(stats);
    uint64_t collections = 0, max_pause_ns = 0;
    for (unsigned g = 0; g < RCGC_GENERATIONS; g++) {
        collections += stats[g].collections;
        if (stats[g].max_pause_ns > max_pause_ns)
            max_pause_ns = stats[g].max_pause_ns;
    }
    long n_made = atomic_load(&made), n_released = atomic_load(&released);
    printf("stress_gc: %ld nodes made, %ld released (peak %ld live), %ld finalized, %ld "
           "resurrected; %ld dropped at the end, %d final collections found %td first, %td last\n",
           n_made, n_released, atomic_load(&peak_live), atomic_load(&finalized),
           atomic_load(&resurrected_count), dropped, rounds, found, last);
    printf("stress_gc: collections %llu/%llu/%llu by generation (%ld explicit, %ld from "
           "finalizers, %ld to catch up, %ld heap listings), collected %llu/%llu/%llu, longest "
           "pause %.1f ms; "
           "%ld short-lived threads, %ld re-attaches, %ld spells with automatic collection off\n",
           (unsigned long long)stats[0].collections, (unsigned long long)stats[1].collections,
           (unsigned long long)stats[2].collections, atomic_load(&explicit_collections),
           atomic_load(&hook_collects), atomic_load(&backpressure), atomic_load(&listings),
           (unsigned long long)stats[0].collected, (unsigned long long)stats[1].collected,
           (unsigned long long)stats[2].collected, (double)max_pause_ns / 1e6,
           atomic_load(&spawned), atomic_load(&reattached), atomic_load(&disabled_spells));
    if (work.incremental)
        printf("stress_gc: incremental full collections: %ld increments, %ld explicit steps, %ld "
               "spells in stop-the-world mode\n",
               atomic_load(&increments), atomic_load(&explicit_steps), atomic_load(&mode_switches));
    if (n_released != n_made) {
        stress_fail("%ld nodes made but %ld released (%ld leaked)", n_made, n_released,
                    n_made - n_released);
        long count = 0;
        rcgc_thread_attach();
        ptrdiff_t tracked = rcgc_get_objects(-1, visit_leaked, &count);
        rcgc_thread_detach();
        fprintf(stderr, "  %td objects still tracked, %zu frozen\n", tracked,
                rcgc_get_freeze_count());
    }
    if (rcgc_garbage_count() != 0)
        stress_fail("the garbage list holds %zu objects; no type has a legacy finalizer",
                    rcgc_garbage_count());
    if (atomic_load(&gc_starts) != atomic_load(&gc_stops) ||
        (uint64_t)atomic_load(&gc_stops) != collections)
        stress_fail("%ld start and %ld stop callbacks for %llu collections",
                    atomic_load(&gc_starts), atomic_load(&gc_stops),
                    (unsigned long long)collections);
    return stress_finish("stress_gc");
}
