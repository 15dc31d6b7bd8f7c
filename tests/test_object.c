/* tests/test_object.c - layer 3: attaching threads, safepoints, blocking
 * regions and stopping the world.
 *
 * "Nothing moves while the world is stopped" is checked by counters that
 * worker threads bump between safepoints: a stopper snapshots them, waits,
 * and finds them unchanged. The waits only give a broken protocol time to
 * show itself; no assertion depends on how long anything takes.
 */
#include "object/object_internal.h"

#include <rcgc.h>

#include <pthread.h>
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
    };
    return cmocka_run_group_tests_name("object", tests, NULL, NULL);
}
