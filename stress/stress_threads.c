/* stress/stress_threads.c - the stop-the-world protocol under churn: worker
 * threads attach, detach, enter and leave blocking regions, poll
 * safepoints, and exit (often without detaching) to be replaced by new
 * threads, while two stoppers keep stopping and restarting the world.
 *
 * Checks: while the world is stopped, no worker makes progress outside a
 * blocking region (a global counter that workers bump only when attached
 * and not blocked stays still), every record is parked, suspended or
 * detached (T1), and two stops never overlap (T3).
 */
#include "object/object_internal.h"
#include "stress_common.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

static _Atomic unsigned long mutator_steps; /* bumped only while attached, not blocked */
static _Atomic unsigned long stops_checked, threads_started;
static _Atomic int stoppers_inside;

static void pause_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* One short-lived mutator: attached for a while, with safepoints and
 * blocking regions, then detaches or simply exits. */
static void *mutator(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    if (rcgc_thread_attach() != 0) {
        stress_fail("rcgc_thread_attach failed");
        return NULL;
    }
    unsigned steps = 100 + (unsigned)stress_below(&rng, 2000);
    for (unsigned i = 0; i < steps && stress_running(); i++) {
        switch (stress_below(&rng, 8)) {
        case 0: /* a blocking call */
            rcgc_blocking_begin();
            pause_us((long)stress_below(&rng, 200));
            rcgc_blocking_end();
            break;
        case 1: /* detach and come back */
            rcgc_thread_detach();
            pause_us((long)stress_below(&rng, 50));
            rcgc_thread_attach();
            break;
        default: /* work, then a safepoint */
            atomic_fetch_add_explicit(&mutator_steps, 1, memory_order_relaxed);
            rcgc_safepoint();
        }
    }
    if (stress_below(&rng, 2) == 0)
        rcgc_thread_detach(); /* else the thread-exit hook detaches it */
    return NULL;
}

/* Keeps one mutator alive at a time, replacing it when it exits. */
static void run_mutators(uint64_t seed) {
    uint64_t rng = seed;
    while (stress_running()) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, mutator, (void *)(uintptr_t)stress_next(&rng)) != 0) {
            stress_fail("pthread_create failed");
            return;
        }
        atomic_fetch_add_explicit(&threads_started, 1, memory_order_relaxed);
        pthread_join(thread, NULL);
    }
}

static void run_stopper(uint64_t seed) {
    uint64_t rng = seed;
    while (stress_running()) {
        rcgc__stop_the_world();
        if (atomic_fetch_add(&stoppers_inside, 1) != 0)
            stress_fail("two stops overlap (T3)");
        rcgc__world_check_stopped();
        unsigned long before = atomic_load_explicit(&mutator_steps, memory_order_relaxed);
        pause_us((long)stress_below(&rng, 300));
        unsigned long after = atomic_load_explicit(&mutator_steps, memory_order_relaxed);
        if (after != before)
            stress_fail("a mutator moved %lu steps while the world was stopped", after - before);
        atomic_fetch_sub(&stoppers_inside, 1);
        atomic_fetch_add_explicit(&stops_checked, 1, memory_order_relaxed);
        rcgc__start_the_world();
        pause_us((long)stress_below(&rng, 500));
    }
}

/* Threads 0 and 1 stop the world; the rest keep mutators running. */
static void worker(unsigned index, uint64_t seed, void *arg) {
    (void)arg;
    if (index < 2)
        run_stopper(seed);
    else
        run_mutators(seed);
}

int main(int argc, char **argv) {
    struct stress_options options = stress_parse(argc, argv, "stress_threads", NULL);
    if (options.threads < 3)
        options.threads = 3;
    stress_run(&options, worker, NULL);
    printf("stress_threads: %lu stops checked, %lu mutator threads, %lu mutator steps\n",
           atomic_load(&stops_checked), atomic_load(&threads_started), atomic_load(&mutator_steps));
    if (atomic_load(&stops_checked) == 0)
        stress_fail("no stop completed");
    return stress_finish("stress_threads");
}
