/* tests/test_gc_threads.c - the collector with several threads:
 * collections started from two threads while a third makes garbage, a
 * collection from an unattached thread freeing another thread's cycle,
 * and a blocked thread that does not hold up a collection. They only give
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

/* An optional argument runs only the tests matching it (cmocka's pattern). */

int main(int argc, char **argv) {
#define GC_TEST(name)                                                                              \
    cmocka_unit_test_setup_teardown(name, start_from_a_full_collection, restore_defaults)
    const struct CMUnitTest tests[] = {
        GC_TEST(collections_from_two_threads_while_a_third_makes_garbage),
        GC_TEST(collect_from_an_unattached_thread_frees_another_threads_cycle),
        GC_TEST(blocked_thread_does_not_hold_up_a_collection),
    };
#undef GC_TEST
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("gc_threads", tests, NULL, NULL);
}
