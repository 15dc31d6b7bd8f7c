/* tests/test_object.c - layer 3: attaching threads, safepoints, blocking
 * regions and stopping the world.
 *
 * "Nothing moves while the world is stopped" is checked by counters that
 * worker threads bump between safepoints: a stopper snapshots them, waits,
 * and finds them unchanged. The waits only give a broken protocol time to
 * show itself; no assertion depends on how long anything takes.
 */
#include "object/object_internal.h"
#include "support/child.h"

#include <rcgc.h>

#include <errno.h>
#include <string.h>

#include <pthread.h>
#include <sched.h>
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ------------------------------------------------------------- Attaching */

static void attach_then_detach_changes_attached_state(void **state) {
    (void)state;
    assert_false(rcgc_thread_is_attached());
    assert_int_equal(rcgc_thread_attach(), 0);
    assert_true(rcgc_thread_is_attached());
    assert_int_equal(rcgc_thread_attach(), 0); /* twice: harmless */
    rcgc_thread_detach();
    assert_false(rcgc_thread_is_attached());
    rcgc_thread_detach(); /* twice: harmless */
}

static void safepoint_and_blocking_are_harmless_when_unattached(void **state) {
    (void)state;
    rcgc_safepoint();
    rcgc_blocking_begin();
    rcgc_blocking_end();
    assert_false(rcgc_thread_is_attached());
}

static void stop_with_no_other_thread_returns_and_counts(void **state) {
    (void)state;
    rcgc_thread_attach();
    unsigned long before = rcgc__world_stops();
    rcgc__stop_the_world();
    rcgc__world_check_stopped();
    rcgc__start_the_world();
    assert_int_equal(rcgc__world_stops(), before + 1);
    rcgc_safepoint(); /* no stop requested any more */
    rcgc_thread_detach();
}

/* -------------------------------------------------------- Stopping workers */

enum { WORKERS = 3 };

struct worker {
    pthread_t thread;
    _Atomic unsigned long steps;
    _Atomic bool stop;
    _Atomic bool attached;
};

static void *safepoint_loop(void *arg) {
    struct worker *w = arg;
    rcgc_thread_attach();
    atomic_store(&w->attached, true);
    while (!atomic_load(&w->stop)) {
        atomic_fetch_add_explicit(&w->steps, 1, memory_order_relaxed);
        rcgc_safepoint();
    }
    rcgc_thread_detach();
    return NULL;
}

static void start_workers(struct worker *workers, void *(*body)(void *)) {
    for (int i = 0; i < WORKERS; i++) {
        atomic_store(&workers[i].steps, 0);
        atomic_store(&workers[i].stop, false);
        atomic_store(&workers[i].attached, false);
        pthread_create(&workers[i].thread, NULL, body, &workers[i]);
    }
    for (int i = 0; i < WORKERS; i++)
        while (!atomic_load(&workers[i].attached))
            sleep_ms(1);
}

static void stop_workers(struct worker *workers) {
    for (int i = 0; i < WORKERS; i++)
        atomic_store(&workers[i].stop, true);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i].thread, NULL);
}

static void stop_the_world_parks_every_attached_thread(void **state) {
    (void)state;
    struct worker workers[WORKERS];
    start_workers(workers, safepoint_loop);
    for (int round = 0; round < 20; round++) {
        rcgc__stop_the_world();
        rcgc__world_check_stopped();
        unsigned long seen[WORKERS];
        for (int i = 0; i < WORKERS; i++)
            seen[i] = atomic_load(&workers[i].steps);
        sleep_ms(5);
        for (int i = 0; i < WORKERS; i++)
            assert_int_equal(atomic_load(&workers[i].steps), seen[i]);
        rcgc__start_the_world();
        /* and they run again */
        for (int i = 0; i < WORKERS; i++)
            while (atomic_load(&workers[i].steps) == seen[i])
                sleep_ms(1);
    }
    stop_workers(workers);
}

static void *blocked_in_read(void *arg) {
    int *fds = arg;
    rcgc_thread_attach();
    rcgc_blocking_begin();
    char byte;
    ssize_t got = read(fds[0], &byte, 1); /* blocks until the test writes */
    rcgc_blocking_end();
    rcgc_thread_detach();
    return (void *)(intptr_t)got;
}

static void stop_does_not_wait_for_a_blocked_thread(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pthread_t thread;
    pthread_create(&thread, NULL, blocked_in_read, fds);
    sleep_ms(10);           /* let it block; if not yet, the stop waits for its safepoint */
    rcgc__stop_the_world(); /* would hang if it waited for the reader */
    rcgc__world_check_stopped();
    rcgc__start_the_world();
    assert_int_equal(write(fds[1], "x", 1), 1);
    void *got = NULL;
    pthread_join(thread, &got);
    assert_int_equal((intptr_t)got, 1);
    close(fds[0]);
    close(fds[1]);
}

struct leaver {
    int fds[2];
    _Atomic bool left_region;
};

static void *leave_region_on_signal(void *arg) {
    struct leaver *l = arg;
    rcgc_thread_attach();
    rcgc_blocking_begin();
    char byte;
    if (read(l->fds[0], &byte, 1) != 1)
        abort();
    rcgc_blocking_end(); /* must wait while the world is stopped */
    atomic_store(&l->left_region, true);
    rcgc_thread_detach();
    return NULL;
}

static void blocking_end_waits_until_the_world_restarts(void **state) {
    (void)state;
    struct leaver l = {.left_region = false};
    assert_int_equal(pipe(l.fds), 0);
    pthread_t thread;
    pthread_create(&thread, NULL, leave_region_on_signal, &l);
    sleep_ms(10);
    rcgc__stop_the_world();
    assert_int_equal(write(l.fds[1], "x", 1), 1);
    sleep_ms(20);
    assert_false(atomic_load(&l.left_region));
    rcgc__start_the_world();
    pthread_join(thread, NULL);
    assert_true(atomic_load(&l.left_region));
    close(l.fds[0]);
    close(l.fds[1]);
}

static _Atomic int in_stop;
static _Atomic bool overlap_seen;

static void *stop_repeatedly(void *arg) {
    int rounds = (int)(intptr_t)arg;
    rcgc_thread_attach();
    for (int i = 0; i < rounds; i++) {
        rcgc__stop_the_world();
        if (atomic_fetch_add(&in_stop, 1) != 0)
            atomic_store(&overlap_seen, true);
        atomic_fetch_sub(&in_stop, 1);
        rcgc__start_the_world();
        rcgc_safepoint();
    }
    rcgc_thread_detach();
    return NULL;
}

static void two_stoppers_take_turns_without_deadlock(void **state) {
    (void)state;
    struct worker workers[WORKERS];
    start_workers(workers, safepoint_loop);
    pthread_t a, b;
    pthread_create(&a, NULL, stop_repeatedly, (void *)(intptr_t)300);
    pthread_create(&b, NULL, stop_repeatedly, (void *)(intptr_t)300);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_false(atomic_load(&overlap_seen));
    stop_workers(workers);
}

static _Atomic bool attached_flag;

static void *attach_and_flag(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    atomic_store(&attached_flag, true);
    rcgc_thread_detach();
    return NULL;
}

static void attach_during_a_stop_waits_for_the_restart(void **state) {
    (void)state;
    atomic_store(&attached_flag, false);
    rcgc__stop_the_world();
    pthread_t thread;
    pthread_create(&thread, NULL, attach_and_flag, NULL);
    sleep_ms(20);
    assert_false(atomic_load(&attached_flag));
    rcgc__start_the_world();
    pthread_join(thread, NULL);
    assert_true(atomic_load(&attached_flag));
}

static void *attach_and_exit(void *arg) {
    (void)arg;
    rcgc_thread_attach(); /* exits without detaching */
    return NULL;
}

static void thread_exit_detaches_so_stops_do_not_wait(void **state) {
    (void)state;
    pthread_t thread;
    pthread_create(&thread, NULL, attach_and_exit, NULL);
    pthread_join(thread, NULL);
    rcgc__stop_the_world(); /* would hang on a record left ATTACHED */
    rcgc__world_check_stopped();
    rcgc__start_the_world();
}

static void fork_child_can_stop_the_world(void **state) {
    (void)state;
    struct worker workers[WORKERS];
    start_workers(workers, safepoint_loop);
    pid_t pid = fork();
    if (pid == 0) {
        rcgc_thread_attach();
        rcgc__stop_the_world(); /* the parent's workers are not in the child */
        rcgc__start_the_world();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    stop_workers(workers);
}

/* A host may fork from inside a blocking region while another thread has
 * the world stopped: the fork waits for the restart, and the region is
 * neither overwritten (the forking thread stays suspended, T2) nor ended
 * by the library's fork handlers. */
struct forker {
    int go[2];
    _Atomic(struct thread_record *) record;
    _Atomic int state_after_fork;
    _Atomic bool forked;
};

static void *fork_inside_region(void *arg) {
    struct forker *f = arg;
    rcgc_thread_attach();
    rcgc_blocking_begin();
    atomic_store(&f->record, rcgc__thread_record());
    char byte;
    if (read(f->go[0], &byte, 1) != 1)
        abort();
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status = 0;
    waitpid(pid, &status, 0);
    atomic_store(&f->state_after_fork, atomic_load(&rcgc__thread_record()->state));
    atomic_store(&f->forked, true);
    if (read(f->go[0], &byte, 1) != 1) /* still in the region */
        abort();
    rcgc_blocking_end();
    rcgc_thread_detach();
    return NULL;
}

static void fork_from_a_blocking_region_keeps_the_region(void **state) {
    (void)state;
    struct forker f = {.record = NULL, .forked = false};
    assert_int_equal(pipe(f.go), 0);
    pthread_t thread;
    pthread_create(&thread, NULL, fork_inside_region, &f);
    while (atomic_load(&f.record) == NULL)
        sleep_ms(1);
    rcgc__stop_the_world();
    assert_int_equal(write(f.go[1], "x", 1), 1);
    sleep_ms(30); /* the fork's handlers wait for the restart meanwhile */
    assert_int_equal(atomic_load(&atomic_load(&f.record)->state), THREAD_SUSPENDED);
    rcgc__world_check_stopped();
    rcgc__start_the_world();
    while (!atomic_load(&f.forked))
        sleep_ms(1);
    assert_int_equal(atomic_load(&f.state_after_fork), THREAD_BLOCKED);
    rcgc__stop_the_world(); /* would wait forever for a thread left ATTACHED */
    rcgc__start_the_world();
    assert_int_equal(write(f.go[1], "x", 1), 1);
    pthread_join(thread, NULL);
    close(f.go[0]);
    close(f.go[1]);
}

/* ----------------------------------------------------------------- Objects */

/* A test type: a node with one reference, counting its hooks' calls. */
struct node {
    rcgc_object head;
    rcgc_object *next;
    long payload;
};

static _Atomic long released, finalized, cleared;
static rcgc_object *_Atomic resurrect_into; /* where a finalizer stores a new reference */

static void node_clear(rcgc_object *self) {
    struct node *n = (struct node *)self;
    rcgc_object *next = n->next;
    n->next = NULL;
    atomic_fetch_add(&cleared, 1);
    rcgc_xdecref(next);
}

static void node_release(rcgc_object *self) {
    (void)self;
    atomic_fetch_add(&released, 1);
}

static void node_finalize(rcgc_object *self) {
    atomic_fetch_add(&finalized, 1);
    rcgc_object *expected = NULL;
    rcgc_incref(self);
    if (!atomic_compare_exchange_strong(&resurrect_into, &expected, self))
        rcgc_decref(self); /* resurrection not asked for */
}

static const rcgc_type node_type = {
    .name = "node", .size = sizeof(struct node), .clear = node_clear, .release = node_release};
static const rcgc_type finalized_type = {.name = "phoenix",
                                         .size = sizeof(struct node),
                                         .clear = node_clear,
                                         .finalize = node_finalize,
                                         .release = node_release};

static int reset_counters(void **state) {
    (void)state;
    atomic_store(&released, 0);
    atomic_store(&finalized, 0);
    atomic_store(&cleared, 0);
    atomic_store(&resurrect_into, NULL);
    return rcgc_thread_attach();
}

static int detach_after(void **state) {
    (void)state;
    rcgc_thread_detach();
    return 0;
}

static void new_object_has_one_reference_and_zeroed_fields(void **state) {
    (void)state;
    struct node *n = (struct node *)rcgc_new(&node_type);
    assert_non_null(n);
    assert_int_equal(rcgc_refcount(&n->head), 1);
    assert_ptr_equal(rcgc_type_of(&n->head), &node_type);
    assert_null(n->next);
    assert_int_equal(n->payload, 0);
    assert_int_equal(rcgc_rc_mode(&n->head), RCGC_RC_BIASED);
    rcgc_decref(&n->head);
    assert_int_equal(atomic_load(&released), 1);
}

static void owner_counts_without_releasing_early(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&node_type);
    for (int i = 0; i < 1000; i++)
        rcgc_incref(obj);
    assert_int_equal(rcgc_refcount(obj), 1001);
    for (int i = 0; i < 1000; i++)
        rcgc_decref(obj);
    assert_int_equal(atomic_load(&released), 0);
    assert_int_equal(rcgc_refcount(obj), 1);
    rcgc_decref(obj);
    assert_int_equal(atomic_load(&released), 1);
}

static void new_var_takes_its_size_and_rejects_sizes_below_the_header(void **state) {
    (void)state;
    struct node *n = (struct node *)rcgc_new_var(&node_type, 4096);
    assert_non_null(n);
    assert_true(rcgc_usable_size(n) >= 4096);
    assert_int_equal(((unsigned char *)n)[4095], 0);
    rcgc_decref(&n->head);
    errno = 0;
    assert_null(rcgc_new_var(&node_type, sizeof(rcgc_object) - 1));
    assert_int_equal(errno, ENOMEM);
}

static void new_out_of_memory_returns_null_with_enomem(void **state) {
    (void)state;
    rcgc_fault_inject(RCGC_FAULT_MAP, 0, RCGC_FAULT_FOREVER);
    errno = 0;
    rcgc_object *obj = rcgc_new_var(&node_type, 100 << 20);
    int error = errno;
    rcgc_fault_clear();
    assert_null(obj);
    assert_int_equal(error, ENOMEM);
}

static void immortal_object_is_never_released_and_never_written(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&node_type);
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_IMMORTAL), 0);
    int64_t shared = atomic_load(&obj->ob_ref_shared);
    uint32_t local = atomic_load(&obj->ob_ref_local);
    for (int i = 0; i < 100; i++)
        rcgc_decref(obj);
    rcgc_incref(obj);
    assert_int_equal(atomic_load(&obj->ob_ref_shared), shared);
    assert_int_equal(atomic_load(&obj->ob_ref_local), local);
    assert_int_equal(rcgc_refcount(obj), UINT32_MAX);
    assert_int_equal(atomic_load(&released), 0);
    errno = 0;
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_BIASED), -1); /* immortal for good */
    assert_int_equal(errno, EINVAL);
    rcgc_free(obj); /* the test's own clean-up of an object rcgc never frees */
}

enum { ROUNDS = 5000 };

struct race {
    rcgc_object *_Atomic slot;
    _Atomic int round;
};

/* Takes each round's object and drops the reference it was given, while
 * the owner drops its own: one of the two is the last. */
static void *drop_foreign(void *arg) {
    struct race *race = arg;
    rcgc_thread_attach();
    for (int round = 0; round < ROUNDS; round++) {
        rcgc_object *obj;
        while ((obj = atomic_exchange(&race->slot, NULL)) == NULL)
            rcgc_safepoint();
        rcgc_decref(obj);
        atomic_store(&race->round, round + 1);
    }
    rcgc_thread_detach();
    return NULL;
}

static void last_reference_race_releases_exactly_once(void **state) {
    (void)state;
    struct race race = {.slot = NULL, .round = 0};
    pthread_t thread;
    pthread_create(&thread, NULL, drop_foreign, &race);
    for (int round = 0; round < ROUNDS; round++) {
        rcgc_object *obj = rcgc_new(&node_type);
        rcgc_incref(obj); /* the other thread's reference */
        atomic_store(&race.slot, obj);
        if (round % 2 == 0)
            rcgc_decref(obj); /* sometimes before, sometimes during its decrement */
        while (atomic_load(&race.round) <= round)
            rcgc_safepoint(); /* merges what it queued for us */
        if (round % 2 == 1)
            rcgc_decref(obj);
        rcgc_safepoint();
    }
    pthread_join(thread, NULL);
    rcgc_safepoint();
    assert_int_equal(atomic_load(&released), ROUNDS);
}

static void atomic_mode_counts_from_any_thread(void **state) {
    (void)state;
    struct race race = {.slot = NULL, .round = 0};
    pthread_t thread;
    pthread_create(&thread, NULL, drop_foreign, &race);
    for (int round = 0; round < ROUNDS; round++) {
        rcgc_object *obj = rcgc_new(&node_type);
        assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_ATOMIC), 0);
        assert_int_equal(atomic_load(&obj->ob_tid), 0); /* no owner any more */
        rcgc_incref(obj);
        atomic_store(&race.slot, obj);
        rcgc_decref(obj);
        while (atomic_load(&race.round) <= round)
            sched_yield();
    }
    pthread_join(thread, NULL);
    assert_int_equal(atomic_load(&released), ROUNDS);
}

enum { HANDED_OBJECTS = 2000 };

static void *make_and_exit(void *arg) {
    rcgc_object **objects = arg;
    rcgc_thread_attach();
    for (int i = 0; i < HANDED_OBJECTS; i++) {
        objects[i] = rcgc_new(&node_type);
        for (int extra = 0; extra < i % 3; extra++) /* some counted locally, more than once */
            rcgc_incref(objects[i]);
    }
    return NULL; /* exits attached, owning them all */
}

static void owner_exit_leaves_objects_to_the_threads_holding_them(void **state) {
    (void)state;
    static rcgc_object *objects[HANDED_OBJECTS];
    pthread_t thread;
    pthread_create(&thread, NULL, make_and_exit, objects);
    pthread_join(thread, NULL);
    for (int i = 0; i < HANDED_OBJECTS; i++) {
        assert_int_equal(rcgc_refcount(objects[i]), 1 + (size_t)(i % 3));
        for (int ref = 0; ref < 1 + i % 3; ref++)
            rcgc_decref(objects[i]);
    }
    assert_int_equal(atomic_load(&released), HANDED_OBJECTS);
}

/* A deferred object's finalizer counts its new reference in the thread's
 * table, not in the object: only the next sync can see it resurrected. */
static void deferred_object_resurrected_by_its_finalizer_lives_until_dropped(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&finalized_type);
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_DEFERRED), 0);
    rcgc_decref(obj);
    assert_int_equal(rcgc_sync_deferred(), 1); /* found at zero: finalize resurrects */
    assert_int_equal(atomic_load(&finalized), 1);
    assert_ptr_equal(atomic_load(&resurrect_into), obj);
    rcgc_sync_deferred(); /* applies the finalizer's reference: still alive */
    assert_int_equal(atomic_load(&released), 0);
    assert_int_equal(rcgc_refcount(obj), 1);
    rcgc_decref(atomic_exchange(&resurrect_into, NULL));
    rcgc_sync_deferred(); /* now dead, without a second finalize */
    assert_int_equal(atomic_load(&released), 1);
    assert_int_equal(atomic_load(&finalized), 1);
}

/* The interleaving behind a deferred object's resurrection: its finalizer
 * hands a new reference to another thread, which drops it and detaches
 * (flushing its table into the object) before the finalizer returns. The
 * object's shared count then dips below the finalizer's own reference for a
 * moment; that is no misuse, and the object dies once, at a later sync. */
static rcgc_object *_Atomic handed_over;
static atomic_bool taker_done;

static void hand_over_finalize(rcgc_object *self) {
    atomic_fetch_add(&finalized, 1);
    rcgc_incref(self);
    atomic_store(&handed_over, self);
    rcgc_blocking_begin(); /* the taker's detach may stop the world */
    while (!atomic_load(&taker_done))
        sleep_ms(1);
    rcgc_blocking_end();
}

static const rcgc_type hand_over_type = {.name = "handed",
                                         .size = sizeof(struct node),
                                         .finalize = hand_over_finalize,
                                         .release = node_release};

static void *take_drop_and_detach(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    rcgc_object *obj;
    while ((obj = atomic_exchange(&handed_over, NULL)) == NULL) {
        rcgc_safepoint(); /* the sync that finds the object stops the world */
        sleep_ms(1);
    }
    rcgc_decref(obj);
    rcgc_thread_detach();
    atomic_store(&taker_done, true);
    return NULL;
}

static void deferred_resurrection_handed_to_a_thread_that_drops_it_dies_once(void **state) {
    (void)state;
    atomic_store(&handed_over, NULL);
    atomic_store(&taker_done, false);
    pthread_t taker;
    assert_int_equal(pthread_create(&taker, NULL, take_drop_and_detach, NULL), 0);
    rcgc_object *obj = rcgc_new(&hand_over_type);
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_DEFERRED), 0);
    rcgc_decref(obj);
    rcgc_sync_deferred(); /* finalizes: the hand-over runs inside */
    assert_int_equal(atomic_load(&finalized), 1);
    assert_int_equal(atomic_load(&released), 0);
    rcgc_blocking_begin();
    assert_int_equal(pthread_join(taker, NULL), 0);
    rcgc_blocking_end();
    for (int sync = 0; sync < 3 && atomic_load(&released) == 0; sync++)
        rcgc_sync_deferred();
    assert_int_equal(atomic_load(&released), 1);
    assert_int_equal(atomic_load(&finalized), 1);
}

/* ------------------------------------------------------------ Death hook */

static _Atomic long hook_calls, hook_saw_cleared;

static void count_death(rcgc_object *obj) {
    atomic_fetch_add(&hook_calls, 1);
    if (atomic_load(&cleared) != 0 || ((struct node *)obj)->payload != 7)
        atomic_fetch_add(&hook_saw_cleared, 1); /* too late: its clear ran */
}

static void node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct node *n = (struct node *)self;
    if (n->next != NULL)
        visit(n->next, arg);
}

static const rcgc_type gc_node_type = {.name = "gc node",
                                       .size = sizeof(struct node),
                                       .flags = RCGC_TYPE_GC,
                                       .traverse = node_traverse,
                                       .clear = node_clear,
                                       .release = node_release};

static _Atomic int stopped_hook_calls;

static void count_death_stopped(rcgc_object *obj, bool (*is_garbage)(const rcgc_object *obj)) {
    atomic_fetch_add(&stopped_hook_calls, 1);
    if (is_garbage == NULL || !is_garbage(obj))
        atomic_fetch_add(&hook_saw_cleared, 1); /* the stop must know it as garbage */
    count_death(obj);
}

static const struct rcgc__death_hooks counting_hooks = {.died = count_death,
                                                        .found_dead_stopped = count_death_stopped};

static int install_death_hook(void **state) {
    atomic_store(&hook_calls, 0);
    atomic_store(&stopped_hook_calls, 0);
    atomic_store(&hook_saw_cleared, 0);
    rcgc__object_set_death_hooks(&counting_hooks);
    return reset_counters(state);
}

static int remove_death_hook(void **state) {
    rcgc__object_set_death_hooks(NULL);
    return detach_after(state);
}

static void death_hook_runs_once_for_a_watched_object_before_its_clear(void **state) {
    (void)state;
    struct node *watched = (struct node *)rcgc_new(&node_type);
    struct node *plain = (struct node *)rcgc_new(&node_type);
    watched->payload = 7;
    rcgc__object_watch_death(&watched->head);
    rcgc_decref(&plain->head); /* not watched: no call */
    assert_int_equal(atomic_load(&hook_calls), 0);
    atomic_store(&cleared, 0);
    rcgc_decref(&watched->head);
    assert_int_equal(atomic_load(&hook_calls), 1);
    assert_int_equal(atomic_load(&hook_saw_cleared), 0);
    assert_int_equal(atomic_load(&released), 2);
}

static void death_hook_runs_before_a_collection_clears_a_watched_cycle(void **state) {
    (void)state;
    struct node *a = (struct node *)rcgc_new(&gc_node_type);
    struct node *b = (struct node *)rcgc_new(&gc_node_type);
    a->next = &b->head; /* the creations' references move into the ring */
    b->next = &a->head;
    a->payload = b->payload = 7;
    rcgc__object_watch_death(&a->head);
    rcgc__object_watch_death(&b->head);
    assert_int_equal(rcgc_collect(2), 2);
    assert_int_equal(atomic_load(&hook_calls), 2);         /* once each, not again at the free */
    assert_int_equal(atomic_load(&stopped_hook_calls), 2); /* with the world stopped */
    assert_int_equal(atomic_load(&hook_saw_cleared), 0);
    assert_int_equal(atomic_load(&released), 2);
}

/* rcgc_track and rcgc_untrack rewrite the generation bits of an object
 * other threads can reach; a watch another thread sets meanwhile (an
 * atomic OR on the same flags word) must survive them. */
static rcgc_object *_Atomic watch_target;
static _Atomic int watch_turn; /* 1: the watcher's move; 2: the tracker's */
static _Atomic bool watch_done;

static void *watch_on_cue(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    while (!atomic_load(&watch_done)) {
        if (atomic_load(&watch_turn) == 1) {
            rcgc__object_watch_death(atomic_load(&watch_target));
            atomic_store(&watch_turn, 2);
        }
        rcgc_safepoint(); /* the tracker's table squeeze stops the world */
    }
    rcgc_thread_detach();
    return NULL;
}

static void watch_survives_concurrent_track_and_untrack(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&gc_node_type);
    atomic_store(&watch_target, obj);
    atomic_store(&watch_done, false);
    atomic_store(&watch_turn, 0);
    pthread_t watcher;
    pthread_create(&watcher, NULL, watch_on_cue, NULL);
    long lost = 0;
    for (int round = 0; round < 20000; round++) {
        atomic_store(&watch_turn, 1);
        while (atomic_load(&watch_turn) != 2) {
            rcgc_untrack(obj);
            assert_int_equal(rcgc_track(obj), 0);
        }
        uint16_t flags = atomic_fetch_and(&obj->ob_flags, (uint16_t)~OBJ_DEATH_WATCHED);
        if ((flags & OBJ_DEATH_WATCHED) == 0)
            lost++;
    }
    atomic_store(&watch_done, true);
    rcgc_blocking_begin();
    pthread_join(watcher, NULL);
    rcgc_blocking_end();
    assert_int_equal(lost, 0);
    assert_true(rcgc_is_tracked(obj));
    rcgc_decref(obj);
    assert_int_equal(atomic_load(&released), 1);
}

static void finalize_runs_once_even_after_resurrection(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&finalized_type);
    rcgc_decref(obj); /* finalize runs and stores a new reference */
    assert_int_equal(atomic_load(&finalized), 1);
    assert_int_equal(atomic_load(&released), 0);
    assert_ptr_equal(atomic_load(&resurrect_into), obj);
    assert_int_equal(rcgc_refcount(obj), 1);
    rcgc_object *again = atomic_exchange(&resurrect_into, NULL);
    rcgc_decref(again); /* dies for good: no second finalize */
    assert_int_equal(atomic_load(&finalized), 1);
    assert_int_equal(atomic_load(&released), 1);
    assert_int_equal(atomic_load(&cleared), 1);
}

static void chain_of_a_million_dies_in_bounded_stack(void **state) {
    (void)state;
    enum { LENGTH = 1000000 };
    rcgc_object *head = NULL;
    for (int i = 0; i < LENGTH; i++) {
        struct node *n = (struct node *)rcgc_new(&node_type);
        n->next = head;
        head = &n->head;
    }
    rcgc_decref(head); /* recursion would need ~100 MB of stack */
    assert_int_equal(atomic_load(&released), LENGTH);
    assert_int_equal(atomic_load(&cleared), LENGTH);
}

static const rcgc_type pooled_type = {.name = "pooled",
                                      .size = sizeof(struct node),
                                      .clear = node_clear,
                                      .release = node_release,
                                      .freelist_max = 4};

static void free_list_hands_a_dead_instance_back_zeroed(void **state) {
    (void)state;
    struct node *first = (struct node *)rcgc_new(&pooled_type);
    first->payload = 42;
    rcgc_decref(&first->head);
    assert_int_equal(atomic_load(&released), 1); /* hooks ran: it did die */
    struct node *again = (struct node *)rcgc_new(&pooled_type);
    assert_ptr_equal(again, first);
    assert_int_equal(again->payload, 0);
    assert_int_equal(rcgc_refcount(&again->head), 1);
    rcgc_decref(&again->head);
}

static uint64_t node_blocks_in_use(void) {
    struct rcgc_alloc_stats stats;
    rcgc_alloc_stats(&stats);
    for (unsigned c = 0; c < RCGC_ALLOC_CLASSES; c++)
        if (stats.classes[c].block_size == 48)
            return stats.classes[c].blocks_in_use;
    return 0;
}

static void free_list_keeps_at_most_its_bound(void **state) {
    (void)state;
    uint64_t before = node_blocks_in_use();
    rcgc_object *made[10];
    for (int i = 0; i < 10; i++)
        made[i] = rcgc_new(&pooled_type);
    for (int i = 0; i < 10; i++)
        rcgc_decref(made[i]);
    /* Four dead nodes stay on the thread's list; six went back. */
    assert_int_equal(node_blocks_in_use(), before + 4);
    assert_int_equal(atomic_load(&released), 10);
    rcgc_thread_detach(); /* detaching empties the lists */
    assert_int_equal(node_blocks_in_use(), before);
    rcgc_thread_attach();
}

static void var_sized_objects_never_go_on_a_free_list(void **state) {
    (void)state;
    rcgc_object *big = rcgc_new_var(&pooled_type, 4096);
    rcgc_decref(big);
    rcgc_object *next = rcgc_new(&pooled_type);
    assert_ptr_not_equal(next, big); /* a 4 KiB block is not a node */
    rcgc_decref(next);
}

static void deferred_counts_write_nothing_shared_until_a_sync(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&node_type);
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_DEFERRED), 0);
    int64_t shared = atomic_load(&obj->ob_ref_shared);
    for (int i = 0; i < 1000; i++) {
        rcgc_incref(obj);
        rcgc_decref(obj);
    }
    rcgc_incref(obj);
    assert_int_equal(atomic_load(&obj->ob_ref_shared), shared); /* all in the thread's table */
    rcgc_decref(obj);
    rcgc_decref(obj); /* the last reference, pending */
    assert_int_equal(atomic_load(&released), 0);
    assert_int_equal(rcgc_sync_deferred(), 1);
    assert_int_equal(atomic_load(&released), 1);
}

static void refcount_of_a_deferred_object_counts_the_callers_pending_changes(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&node_type);
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_DEFERRED), 0);
    rcgc_incref(obj);
    rcgc_incref(obj);
    assert_int_equal(rcgc_refcount(obj), 3);
    rcgc_decref(obj);
    assert_int_equal(rcgc_refcount(obj), 2);
    rcgc_sync_deferred(); /* applied: the same count, now from the object */
    assert_int_equal(rcgc_refcount(obj), 2);
    rcgc_decref(obj);
    rcgc_decref(obj);
    assert_int_equal(rcgc_refcount(obj), 0);
    assert_int_equal(rcgc_sync_deferred(), 1);
}

static rcgc_object *_Atomic deferred_target;

static void *hold_deferred_then_detach(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    for (int i = 0; i < 5; i++)
        rcgc_incref(atomic_load(&deferred_target));
    rcgc_thread_detach(); /* applies its table: the 5 references are counted */
    return NULL;
}

static void *drop_five(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    for (int i = 0; i < 5; i++)
        rcgc_decref(atomic_load(&deferred_target));
    return NULL; /* exits attached: the exit hook applies its table */
}

static void deferred_counts_from_other_threads_add_up(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&node_type);
    rcgc_set_rc_mode(obj, RCGC_RC_DEFERRED);
    atomic_store(&deferred_target, obj);
    pthread_t thread;
    pthread_create(&thread, NULL, hold_deferred_then_detach, NULL);
    pthread_join(thread, NULL);
    assert_int_equal(rcgc_refcount(obj), 6);
    pthread_create(&thread, NULL, drop_five, NULL);
    pthread_join(thread, NULL);
    assert_int_equal(rcgc_sync_deferred(), 0); /* this thread still holds one */
    assert_int_equal(rcgc_refcount(obj), 1);
    rcgc_decref(obj);
    assert_int_equal(rcgc_sync_deferred(), 1);
    assert_int_equal(atomic_load(&released), 1);
}

static void deferred_mode_is_for_good(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&node_type);
    rcgc_set_rc_mode(obj, RCGC_RC_DEFERRED);
    errno = 0;
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_ATOMIC), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(rcgc_rc_mode(obj), RCGC_RC_DEFERRED);
    rcgc_decref(obj);
    assert_int_equal(rcgc_sync_deferred(), 1);
}

static void table_overflow_applies_the_counts(void **state) {
    (void)state;
    enum { MANY = 200 }; /* far more objects than a table holds */
    rcgc_object *objs[MANY];
    for (int i = 0; i < MANY; i++) {
        objs[i] = rcgc_new(&node_type);
        rcgc_set_rc_mode(objs[i], RCGC_RC_DEFERRED);
        rcgc_incref(objs[i]);
    }
    for (int i = 0; i < MANY; i++)
        for (int ref = 0; ref < 2; ref++)
            rcgc_decref(objs[i]);
    assert_int_equal(rcgc_sync_deferred(), MANY);
    assert_int_equal(atomic_load(&released), MANY);
}

static void owner_local_underflow_body(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    static const rcgc_type graph = {.name = "Graph", .size = sizeof(struct node)};
    rcgc_object *obj = rcgc_new(&graph);
    rcgc_incref(obj); /* a foreign-looking reference held in shared */
    atomic_store(&obj->ob_ref_local, 0);
    rcgc_merge_zero_local(obj);
}

static void decref_below_zero_reports_type_and_address(void **state) {
    (void)state;
    struct child_result result;
    child_run(owner_local_underflow_body, NULL, &result);
    assert_true(child_aborted(&result));
    assert_non_null(strstr(result.output, "rcgc: refcount below zero on <Graph 0x"));
    assert_non_null(strstr(result.output, "in rcgc_decref"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attach_then_detach_changes_attached_state),
        cmocka_unit_test(safepoint_and_blocking_are_harmless_when_unattached),
        cmocka_unit_test(stop_with_no_other_thread_returns_and_counts),
        cmocka_unit_test(stop_the_world_parks_every_attached_thread),
        cmocka_unit_test(stop_does_not_wait_for_a_blocked_thread),
        cmocka_unit_test(blocking_end_waits_until_the_world_restarts),
        cmocka_unit_test(two_stoppers_take_turns_without_deadlock),
        cmocka_unit_test(attach_during_a_stop_waits_for_the_restart),
        cmocka_unit_test(thread_exit_detaches_so_stops_do_not_wait),
        cmocka_unit_test(fork_child_can_stop_the_world),
        cmocka_unit_test(fork_from_a_blocking_region_keeps_the_region),
#define OBJ_TEST(name) cmocka_unit_test_setup_teardown(name, reset_counters, detach_after)
        OBJ_TEST(new_object_has_one_reference_and_zeroed_fields),
        OBJ_TEST(owner_counts_without_releasing_early),
        OBJ_TEST(new_var_takes_its_size_and_rejects_sizes_below_the_header),
        OBJ_TEST(new_out_of_memory_returns_null_with_enomem),
        OBJ_TEST(immortal_object_is_never_released_and_never_written),
        OBJ_TEST(last_reference_race_releases_exactly_once),
        OBJ_TEST(atomic_mode_counts_from_any_thread),
        OBJ_TEST(owner_exit_leaves_objects_to_the_threads_holding_them),
        OBJ_TEST(finalize_runs_once_even_after_resurrection),
        OBJ_TEST(deferred_object_resurrected_by_its_finalizer_lives_until_dropped),
        OBJ_TEST(deferred_resurrection_handed_to_a_thread_that_drops_it_dies_once),
        OBJ_TEST(chain_of_a_million_dies_in_bounded_stack),
        OBJ_TEST(free_list_hands_a_dead_instance_back_zeroed),
        OBJ_TEST(free_list_keeps_at_most_its_bound),
        OBJ_TEST(var_sized_objects_never_go_on_a_free_list),
        OBJ_TEST(deferred_counts_write_nothing_shared_until_a_sync),
        cmocka_unit_test_setup_teardown(death_hook_runs_once_for_a_watched_object_before_its_clear,
                                        install_death_hook, remove_death_hook),
        cmocka_unit_test_setup_teardown(death_hook_runs_before_a_collection_clears_a_watched_cycle,
                                        install_death_hook, remove_death_hook),
        OBJ_TEST(watch_survives_concurrent_track_and_untrack),
        OBJ_TEST(refcount_of_a_deferred_object_counts_the_callers_pending_changes),
        OBJ_TEST(deferred_counts_from_other_threads_add_up),
        OBJ_TEST(deferred_mode_is_for_good),
        OBJ_TEST(table_overflow_applies_the_counts),
        OBJ_TEST(decref_below_zero_reports_type_and_address),
#undef OBJ_TEST
    };
    return cmocka_run_group_tests_name("object", tests, NULL, NULL);
}
