/* tests/test_gc_threads.c - the collector with several threads:
 * collections started from two threads while a third makes garbage, a
 * collection from an unattached thread freeing another thread's cycle,
 * a blocked thread that does not hold up a collection, threshold[0]
 * counted per thread making objects, and garbage handed to the thread
 * that owns it (freed before rcgc_collect returns; a hook that collects
 * on that thread returns 0). They only give
 * races a chance to show; no assertion depends on how long anything takes.
 *
 * Conventions (tests/support/gc_types.h): every test starts from a full
 * collection with an empty garbage list.
 */
#include "support/child.h"
#include "support/gc_types.h"

#include <rcgc.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ---------------------------------------------------------------- Threads */

enum { THREAD_CYCLES = 20000 };

static _Atomic bool maker_done;
static _Atomic long thread_failures;

static void *make_garbage_cycles(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    for (int i = 0; i < THREAD_CYCLES; i++) {
        rcgc_object *obj = rcgc_new(&instance_type);
        if (obj == NULL) {
            atomic_fetch_add(&thread_failures, 1);
            break;
        }
        set_other(obj, obj);
        rcgc_decref(obj);
    }
    atomic_store(&maker_done, true);
    rcgc_thread_detach();
    return NULL;
}

static void *collect_until_maker_done(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    while (!atomic_load(&maker_done))
        if (rcgc_collect(2) < 0)
            atomic_fetch_add(&thread_failures, 1);
    rcgc_thread_detach();
    return NULL;
}

static void collections_from_two_threads_while_a_third_makes_garbage(void **state) {
    (void)state;
    atomic_store(&maker_done, false);
    atomic_store(&collected_by_callbacks, 0);
    atomic_store(&thread_failures, 0);
    assert_int_equal(rcgc_callback_add(sum_collected, NULL), 0);
    pthread_t collectors[2], maker;
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&collectors[i], NULL, collect_until_maker_done, NULL), 0);
    assert_int_equal(pthread_create(&maker, NULL, make_garbage_cycles, NULL), 0);
    rcgc_blocking_begin(); /* collections must not wait for this thread */
    pthread_join(maker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(collectors[i], NULL);
    rcgc_blocking_end();
    rcgc_collect(2);
    assert_int_equal(rcgc_callback_remove(sum_collected, NULL), 0);
    assert_int_equal(atomic_load(&thread_failures), 0);
    assert_int_equal(atomic_load(&instances_released), THREAD_CYCLES);
    assert_int_equal(atomic_load(&collected_by_callbacks), THREAD_CYCLES); /* each found once */
}

static void *collect_once_unattached(void *arg) {
    *(ptrdiff_t *)arg = rcgc_collect(2);
    return NULL;
}

static void collect_from_an_unattached_thread_frees_another_threads_cycle(void **state) {
    (void)state;
    make_garbage_self_cycles(1);
    ptrdiff_t found = -2;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, collect_once_unattached, &found), 0);
    rcgc_blocking_begin();
    pthread_join(thread, NULL);
    rcgc_blocking_end();
    assert_int_equal(found, 1);
    rcgc_safepoint(); /* the list is ours: the collector's decrement was queued to us */
    assert_int_equal(atomic_load(&model_list_class.released), 1);
}

struct blocked_reader {
    int fds[2];
    _Atomic bool attached;
};

static void *read_in_blocking_region(void *arg) {
    struct blocked_reader *r = arg;
    rcgc_thread_attach();
    atomic_store(&r->attached, true);
    rcgc_blocking_begin();
    char byte;
    ssize_t got = read(r->fds[0], &byte, 1); /* blocks until the test writes */
    rcgc_blocking_end();
    rcgc_thread_detach();
    return (void *)(intptr_t)got;
}

static void blocked_thread_does_not_hold_up_a_collection(void **state) {
    (void)state;
    struct blocked_reader reader = {.attached = false};
    assert_int_equal(pipe(reader.fds), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, read_in_blocking_region, &reader), 0);
    while (!atomic_load(&reader.attached))
        sched_yield();
    make_garbage_self_cycles(1);
    assert_int_equal(rcgc_collect(2), 1); /* would hang if it waited for the reader */
    assert_int_equal(atomic_load(&model_list_class.released), 1);
    assert_int_equal(write(reader.fds[1], "x", 1), 1);
    void *got = NULL;
    rcgc_blocking_begin();
    pthread_join(thread, &got);
    rcgc_blocking_end();
    assert_int_equal((intptr_t)got, 1);
    close(reader.fds[0]);
    close(reader.fds[1]);
}

/* ------------------------------------------------ The young generation */

static uint64_t collections_so_far(void) {
    rcgc_gc_stats stats[RCGC_GENERATIONS];
    rcgc_get_stats(stats);
    uint64_t total = 0;
    for (int g = 0; g < RCGC_GENERATIONS; g++)
        total += stats[g].collections;
    return total;
}

struct kept_lists {
    rcgc_object *objects[300];
    int count;
};

static void make_kept(struct kept_lists *lists, int count) {
    for (int i = 0; i < count; i++)
        lists->objects[lists->count++] = model_list_new();
}

static void *make_kept_attached(void *arg) {
    rcgc_thread_attach();
    make_kept(arg, 150);
    rcgc_thread_detach();
    return NULL;
}

/* Another attached thread makes 150 kept lists into @lists; this thread
 * waits as a blocked one, so a collection the other starts runs. */
static void make_kept_on_another_thread(struct kept_lists *lists) {
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, make_kept_attached, lists), 0);
    rcgc_blocking_begin();
    pthread_join(thread, NULL);
    rcgc_blocking_end();
}

/* threshold[0] is per thread making objects: each gets as many creations
 * between young collections as it would alone. With (200, 10, 10), two
 * threads making 150 live containers each (300 in all) start no
 * collection, where one thread would have started one at 200; the limit
 * for two is 400, and 150 more from this thread reach it. */
static void young_threshold_is_per_thread_making_objects(void **state) {
    (void)state;
    rcgc_set_threshold(200, 10, 10);
    struct kept_lists mine = {.count = 0}, theirs = {.count = 0};
    uint64_t before = collections_so_far();
    make_kept(&mine, 150);
    make_kept_on_another_thread(&theirs);
    unsigned count[RCGC_GENERATIONS];
    rcgc_get_count(count);
    assert_int_equal(count[0], 300);
    assert_int_equal(collections_so_far(), before);

    make_kept(&mine, 150);
    assert_int_equal(collections_so_far(), before + 1);
    rcgc_get_count(count);
    assert_true(count[0] < 100); /* reset by the collection, in the second batch */

    for (int i = 0; i < mine.count; i++)
        rcgc_decref(mine.objects[i]);
    for (int i = 0; i < theirs.count; i++)
        rcgc_decref(theirs.objects[i]);
}

/* After a collection only the threads that make objects again count: one
 * thread alone is back to threshold[0], CPython's rule. */
static void young_threshold_returns_to_one_thread_after_a_collection(void **state) {
    (void)state;
    rcgc_set_threshold(200, 10, 10);
    struct kept_lists theirs = {.count = 0}, mine = {.count = 0};
    make_kept(&mine, 100);
    make_kept_on_another_thread(&theirs);
    assert_int_equal(rcgc_collect(0), 0); /* two threads were making objects */
    uint64_t before = collections_so_far();
    make_kept(&mine, 199);
    assert_int_equal(collections_so_far(), before);
    make_kept(&mine, 1);
    assert_int_equal(collections_so_far(), before + 1);
    for (int i = 0; i < mine.count; i++)
        rcgc_decref(mine.objects[i]);
    for (int i = 0; i < theirs.count; i++)
        rcgc_decref(theirs.objects[i]);
}

/* ------------------------------------------ Garbage handed to its owner */

/* A self-referencing node whose release notes the thread it ran on: a
 * collection hands garbage to the thread that owns it when that thread is
 * running, and takes it back after a while when it does not come. */
struct owned_node {
    rcgc_object head;
    rcgc_object *other;
};

static pthread_t owner_thread;
static _Atomic long released_by_owner, released_elsewhere;
static _Atomic bool owner_ready, owner_may_stop;
static _Atomic ptrdiff_t collected_in_owners_hook;

static void owned_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct owned_node *n = (struct owned_node *)self;
    if (n->other != NULL)
        visit(n->other, arg);
}

static void owned_clear(rcgc_object *self) {
    struct owned_node *n = (struct owned_node *)self;
    rcgc_object *other = n->other;
    n->other = NULL;
    /* A hook that collects: on whichever thread clears, it is part of the
     * running collection, so it returns 0 instead of waiting for it. */
    if (pthread_equal(pthread_self(), owner_thread))
        atomic_store(&collected_in_owners_hook, rcgc_collect(0));
    rcgc_xdecref(other);
}

static void owned_release(rcgc_object *self) {
    (void)self;
    if (pthread_equal(pthread_self(), owner_thread))
        atomic_fetch_add(&released_by_owner, 1);
    else
        atomic_fetch_add(&released_elsewhere, 1);
}

static const rcgc_type owned_type = {.name = "owned_node",
                                     .size = sizeof(struct owned_node),
                                     .flags = RCGC_TYPE_GC,
                                     .traverse = owned_traverse,
                                     .clear = owned_clear,
                                     .release = owned_release};

enum { OWNED_CYCLES = 500 };

/* Makes OWNED_CYCLES self-cycles and drops them, then stays at safepoints
 * until told to stop. */
static void *own_garbage_and_wait(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    for (int i = 0; i < OWNED_CYCLES; i++) {
        struct owned_node *n = (struct owned_node *)rcgc_new(&owned_type);
        if (n == NULL) {
            atomic_fetch_add(&thread_failures, 1);
            break;
        }
        rcgc_incref(&n->head);
        n->other = &n->head;
        rcgc_decref(&n->head);
    }
    atomic_store(&owner_ready, true);
    while (!atomic_load(&owner_may_stop))
        rcgc_safepoint();
    rcgc_thread_detach();
    return NULL;
}

static void garbage_of_a_thread_at_safepoints_is_freed_before_collect_returns(void **state) {
    (void)state;
    atomic_store(&released_by_owner, 0);
    atomic_store(&released_elsewhere, 0);
    atomic_store(&collected_in_owners_hook, -2);
    atomic_store(&owner_ready, false);
    atomic_store(&owner_may_stop, false);
    rcgc_disable(); /* the only collection is the one below */
    assert_int_equal(pthread_create(&owner_thread, NULL, own_garbage_and_wait, NULL), 0);
    while (!atomic_load(&owner_ready))
        sched_yield();
    assert_int_equal(rcgc_collect(2), OWNED_CYCLES);
    /* All of it freed before rcgc_collect returned, by whichever thread. */
    assert_int_equal(atomic_load(&released_by_owner) + atomic_load(&released_elsewhere),
                     OWNED_CYCLES);
    atomic_store(&owner_may_stop, true);
    rcgc_blocking_begin();
    pthread_join(owner_thread, NULL);
    rcgc_blocking_end();
    rcgc_enable();
    assert_int_equal(atomic_load(&thread_failures), 0);
    print_message("released by the owner: %ld of %d\n", atomic_load(&released_by_owner),
                  OWNED_CYCLES);
    /* If the owner cleared its garbage (it usually does: it polls all the
     * time), its hook's collection returned 0. */
    ptrdiff_t in_hook = atomic_load(&collected_in_owners_hook);
    assert_true(in_hook == -2 || in_hook == 0);
}

/* An optional argument runs only the tests matching it (cmocka's pattern). */

int main(int argc, char **argv) {
#define GC_TEST(name)                                                                              \
    cmocka_unit_test_setup_teardown(name, start_from_a_full_collection, restore_defaults)
    const struct CMUnitTest tests[] = {
        GC_TEST(collections_from_two_threads_while_a_third_makes_garbage),
        GC_TEST(collect_from_an_unattached_thread_frees_another_threads_cycle),
        GC_TEST(blocked_thread_does_not_hold_up_a_collection),
        GC_TEST(young_threshold_is_per_thread_making_objects),
        GC_TEST(young_threshold_returns_to_one_thread_after_a_collection),
        GC_TEST(garbage_of_a_thread_at_safepoints_is_freed_before_collect_returns),
    };
#undef GC_TEST
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("gc_threads", tests, NULL, NULL);
}
