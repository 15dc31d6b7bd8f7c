/* tests/test_alloc_hook.c - the allocator's hook point (alloc/alloc_hook.h):
 * while a hook is installed it sees every block handed out and freed, on
 * every path (pool, large and huge blocks; calloc, realloc, aligned) and on
 * every thread, including threads that start while it is installed; it
 * does not see its own allocations; removing it stops the reports, waits
 * for calls still running, and puts the fast paths back.
 *
 * A sampling hook sees about one allocation per sample_bytes asked for, on
 * every thread, and the frees of exactly those.
 *
 * Block tags: a word per block for the hook, made on demand and freed with
 * the pool or all at once.
 *
 * The hook under test keeps the live pointers it was told about in a small
 * table under a mutex, so each test can check that what was reported
 * allocated was reported freed, exactly once.
 */
#include "alloc/alloc_hook.h"
#include "alloc/alloc_internal.h"

#include <rcgc.h>

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define MiB ((size_t)1 << 20)

enum { TRACKED_MAX = 1 << 16 };

/* What the hook was told: live pointers with their sizes, and totals. */
static struct {
    pthread_mutex_t mutex;
    void *ptr[TRACKED_MAX];
    size_t size[TRACKED_MAX];
    size_t live;
    long allocs, frees, unknown_frees;
    bool allocate_inside; /* the hook allocates and frees a block itself */
    _Atomic bool slow;    /* on_alloc sleeps, to be caught running */
    _Atomic bool in_call, call_finished;
} seen = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static void sleep_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void note_alloc(void *ptr, size_t size, const void *caller, void *arg) {
    (void)caller;
    (void)arg;
    if (atomic_load(&seen.slow)) {
        atomic_store(&seen.in_call, true);
        sleep_ms(100);
        atomic_store(&seen.call_finished, true);
    }
    if (seen.allocate_inside)
        rcgc_free(rcgc_malloc(64)); /* not reported: the hook is running */
    pthread_mutex_lock(&seen.mutex);
    seen.allocs++;
    if (seen.live < TRACKED_MAX) {
        seen.ptr[seen.live] = ptr;
        seen.size[seen.live] = size;
        seen.live++;
    }
    pthread_mutex_unlock(&seen.mutex);
}

static void note_free(void *ptr, void *arg) {
    (void)arg;
    pthread_mutex_lock(&seen.mutex);
    seen.frees++;
    size_t i = 0;
    while (i < seen.live && seen.ptr[i] != ptr)
        i++;
    if (i == seen.live) {
        seen.unknown_frees++;
    } else {
        seen.live--;
        seen.ptr[i] = seen.ptr[seen.live];
        seen.size[i] = seen.size[seen.live];
    }
    pthread_mutex_unlock(&seen.mutex);
}

static const struct rcgc__alloc_hook counting_hook = {.on_alloc = note_alloc, .on_free = note_free};

static int reset(void **state) {
    (void)state;
    pthread_mutex_lock(&seen.mutex);
    seen.live = 0;
    seen.allocs = seen.frees = seen.unknown_frees = 0;
    seen.allocate_inside = false;
    pthread_mutex_unlock(&seen.mutex);
    atomic_store(&seen.slow, false);
    atomic_store(&seen.in_call, false);
    atomic_store(&seen.call_finished, false);
    return 0;
}

static int unhook(void **state) {
    rcgc__alloc_hook_set(NULL);
    return reset(state);
}

/* The size the hook recorded for @ptr, or 0 when it is not live. */
static size_t reported_size(const void *ptr) {
    pthread_mutex_lock(&seen.mutex);
    size_t size = 0;
    for (size_t i = 0; i < seen.live; i++)
        if (seen.ptr[i] == ptr)
            size = seen.size[i];
    pthread_mutex_unlock(&seen.mutex);
    return size;
}

static void every_path_is_reported_with_its_size(void **state) {
    (void)state;
    rcgc__alloc_hook_set(&counting_hook);
    void *small = rcgc_malloc(24);
    void *zeroed = rcgc_calloc(10, 30);
    void *large = rcgc_calloc(1, 100 * 1024);
    void *huge = rcgc_malloc(70 * MiB);
    void *aligned = rcgc_aligned_alloc(4096, 5000);
    assert_true(small && zeroed && large && huge && aligned);
    assert_int_equal(reported_size(small), 24);
    assert_int_equal(reported_size(zeroed), 300);
    assert_int_equal(reported_size(large), 100 * 1024);
    assert_int_equal(reported_size(huge), 70 * MiB);
    assert_int_equal(reported_size(aligned), 5000);

    void *moved = rcgc_realloc(small, 2000); /* a new block, the old one freed */
    assert_non_null(moved);
    assert_int_equal(reported_size(moved), 2000);
    assert_int_equal(reported_size(small), 0);

    void *blocks[] = {moved, zeroed, large, huge, aligned};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        rcgc_free(blocks[i]);
    assert_int_equal(seen.live, 0);
    assert_int_equal(seen.allocs, 6);
    assert_int_equal(seen.frees, 6);
    assert_int_equal(seen.unknown_frees, 0);

    rcgc__alloc_hook_set(NULL);
    rcgc_free(rcgc_malloc(24));
    assert_int_equal(seen.allocs, 6); /* removed: nothing more */
}

/* Blocks made before the hook was installed are freed through it too; the
 * hook can tell them from its own by their absence from its table. */
static void blocks_from_before_the_hook_are_freed_as_unknown(void **state) {
    (void)state;
    void *before = rcgc_malloc(48);
    rcgc__alloc_hook_set(&counting_hook);
    rcgc_free(before);
    assert_int_equal(seen.frees, 1);
    assert_int_equal(seen.unknown_frees, 1);
}

static void the_hooks_own_allocations_are_not_reported(void **state) {
    (void)state;
    seen.allocate_inside = true;
    rcgc__alloc_hook_set(&counting_hook);
    for (int i = 0; i < 100; i++)
        rcgc_free(rcgc_malloc(64));
    assert_int_equal(seen.allocs, 100);
    assert_int_equal(seen.frees, 100);
    assert_int_equal(seen.live, 0);
}

enum { WORKERS = 2, PAIRS = 20000 };

static _Atomic bool workers_go;

static void *alloc_pairs(void *arg) {
    (void)arg;
    while (!atomic_load(&workers_go))
        sched_yield();
    for (int i = 0; i < PAIRS; i++)
        rcgc_free(rcgc_malloc(16 + (size_t)i % 512));
    return NULL;
}

/* A thread that allocated before the install (its heap pointer already
 * set) and one that starts after it are both diverted. */
static void threads_old_and_new_are_reported(void **state) {
    (void)state;
    atomic_store(&workers_go, false);
    pthread_t old_thread, new_thread;
    pthread_create(&old_thread, NULL, alloc_pairs, NULL);
    void *warm = rcgc_malloc(32); /* this thread's heap exists already */
    rcgc__alloc_hook_set(&counting_hook);
    pthread_create(&new_thread, NULL, alloc_pairs, NULL);
    atomic_store(&workers_go, true);
    pthread_join(old_thread, NULL);
    pthread_join(new_thread, NULL);
    rcgc_free(warm);
    rcgc__alloc_hook_set(NULL);
    assert_int_equal(seen.allocs, WORKERS * PAIRS);
    assert_int_equal(seen.frees, WORKERS * PAIRS + 1);
    assert_int_equal(seen.unknown_frees, 1); /* warm */
    assert_int_equal(seen.live, 0);
}

static void *allocate_once(void *arg) {
    (void)arg;
    rcgc_free(rcgc_malloc(40));
    return NULL;
}

/* Install the slow-reporting hook and start a thread whose allocation is
 * inside it when this returns. */
static pthread_t start_a_call_inside_the_hook(void) {
    atomic_store(&seen.slow, true);
    rcgc__alloc_hook_set(&counting_hook);
    pthread_t thread;
    pthread_create(&thread, NULL, allocate_once, NULL);
    while (!atomic_load(&seen.in_call))
        sched_yield();
    return thread;
}

/* Removal returns only after a call into the hook already running ends,
 * so the remover may then free what the hook uses. */
static void removal_waits_for_a_running_call(void **state) {
    (void)state;
    pthread_t thread = start_a_call_inside_the_hook();
    rcgc__alloc_hook_set(NULL);
    assert_true(atomic_load(&seen.call_finished));
    pthread_join(thread, NULL);
}

/* Removal puts every thread back on its own heap: the fast path serves
 * the next allocation without the slow path. */
static void removal_restores_the_fast_path(void **state) {
    (void)state;
    rcgc_free(rcgc_malloc(32)); /* a heap and a current pool for the class */
    rcgc__alloc_hook_set(&counting_hook);
    assert_ptr_not_equal(rcgc__fast_heap(), rcgc__my_own_heap);
    rcgc__alloc_hook_set(NULL);
    assert_ptr_equal(rcgc__fast_heap(), rcgc__my_own_heap);
    uint64_t slow_before = rcgc__my_own_heap->mallocs_slow;
    rcgc_free(rcgc_malloc(32));
    assert_int_equal(rcgc__my_own_heap->mallocs_slow, slow_before);
}

/* A fork while another thread is inside the hook leaves the child a hook
 * it can remove (nothing waits for a call on a thread the child lacks)
 * and install again. */
static void fork_child_can_remove_and_install_the_hook(void **state) {
    (void)state;
    pthread_t thread = start_a_call_inside_the_hook();
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10); /* a hang fails the test by SIGALRM */
        atomic_store(&seen.slow, false);
        rcgc__alloc_hook_set(NULL);
        rcgc__alloc_hook_set(&counting_hook);
        long before = seen.allocs;
        rcgc_free(rcgc_malloc(100));
        rcgc__alloc_hook_set(NULL);
        _exit(seen.allocs == before + 1 ? 0 : 3);
    }
    assert_true(pid > 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    pthread_join(thread, NULL);
}

/* ---------------------------------------------------------------- Sampling */

static const struct rcgc__alloc_hook sampling_hook = {
    .on_alloc = note_alloc, .on_free = note_free, .sample_bytes = 4096};

enum { SAMPLED_BLOCKS = 20000, SAMPLED_SIZE = 64 };

static void *allocate_sampled(void *arg) {
    void **blocks = arg;
    for (int i = 0; i < SAMPLED_BLOCKS; i++)
        blocks[i] = rcgc_malloc(SAMPLED_SIZE);
    return NULL;
}

static void sampling_sees_a_share_and_the_frees_of_that_share(void **state) {
    (void)state;
    static void *blocks[2][SAMPLED_BLOCKS];
    rcgc_free(rcgc_malloc(SAMPLED_SIZE)); /* a heap and a current pool */
    rcgc__alloc_hook_set(&sampling_hook);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, allocate_sampled, blocks[1]), 0);
    allocate_sampled(blocks[0]);
    assert_int_equal(pthread_join(thread, NULL), 0);
    /* 2 x 20000 x 64 B = 2.5 MiB at one sample per 4 KiB: 625 expected;
     * a Poisson count's standard deviation is 25, so 500-750 is 5 of them. */
    pthread_mutex_lock(&seen.mutex);
    long sampled = seen.allocs;
    pthread_mutex_unlock(&seen.mutex);
    assert_true(sampled >= 500 && sampled <= 750);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < SAMPLED_BLOCKS; i++) {
            if (reported_size(blocks[t][i]) != 0)
                assert_int_equal(reported_size(blocks[t][i]), SAMPLED_SIZE);
            rcgc_free(blocks[t][i]);
        }
    /* Exactly the sampled blocks were reported freed, nothing else. */
    pthread_mutex_lock(&seen.mutex);
    assert_int_equal(seen.live, 0);
    assert_int_equal(seen.frees, sampled);
    assert_int_equal(seen.unknown_frees, 0);
    pthread_mutex_unlock(&seen.mutex);
    rcgc__alloc_hook_set(NULL);
    assert_ptr_equal(rcgc__fast_heap(), rcgc__my_own_heap); /* fast paths back */
    long after = seen.allocs;
    rcgc_free(rcgc_malloc(1 << 20));
    assert_int_equal(seen.allocs, after); /* removed: nothing reported */
}

/* The fast paths stay while sampling: a thread that frees and reallocates
 * the same few blocks over and over (every allocation served from the
 * blocks it freed) is still sampled once per sample_bytes handed out. */
static void sampling_counts_blocks_reused_through_the_fast_path(void **state) {
    (void)state;
    enum { RING = 256, OPS = 200000, SIZE = 48 };
    static void *ring[RING];
    rcgc__alloc_hook_set(&sampling_hook);
    for (int i = 0; i < RING; i++)
        ring[i] = rcgc_malloc(SIZE);
    assert_ptr_equal(rcgc__fast_heap(), rcgc__my_own_heap); /* not diverted */
    pthread_mutex_lock(&seen.mutex);
    long before = seen.allocs;
    pthread_mutex_unlock(&seen.mutex);
    for (int op = 0; op < OPS; op++) {
        rcgc_free(ring[op % RING]);
        ring[op % RING] = rcgc_malloc(SIZE);
    }
    pthread_mutex_lock(&seen.mutex);
    long sampled = seen.allocs - before;
    pthread_mutex_unlock(&seen.mutex);
    /* 200000 x 48 B = 9.6 MB at one sample per 4 KiB: 2344 expected, a
     * standard deviation of 48; 2100-2590 is five of them. */
    assert_true(sampled >= 2100 && sampled <= 2590);
    for (int i = 0; i < RING; i++)
        rcgc_free(ring[i]);
    pthread_mutex_lock(&seen.mutex);
    assert_int_equal(seen.live, 0);
    assert_int_equal(seen.unknown_frees, 0);
    pthread_mutex_unlock(&seen.mutex);
}

/* ----------------------------------------------------------- Block tags */

struct tag_seen {
    void *blocks[3];
    uint64_t tags[3];
    int visits, others;
};

static void note_tag(const void *block, size_t block_size, uint64_t tag, void *arg) {
    struct tag_seen *tag_seen = arg;
    assert_int_equal(block_size, rcgc_usable_size(block));
    for (int i = 0; i < 3; i++)
        if (block == tag_seen->blocks[i]) {
            tag_seen->tags[i] = tag;
            tag_seen->visits++;
            return;
        }
    tag_seen->others++;
}

static uint64_t raw_bytes(void) {
    struct rcgc_raw_stats stats;
    rcgc_raw_stats(&stats);
    return stats.bytes_allocated;
}

/* One word per pool or large block, zero until stored into, made only on
 * demand, listed by the walk, none for huge blocks; freed with the pool
 * and by the drop. */
static void block_tags_are_a_word_per_block(void **state) {
    (void)state;
    uint64_t raw_before = raw_bytes();
    struct tag_seen tag_seen = {.blocks = {rcgc_malloc(48), rcgc_malloc(48), rcgc_malloc(300000)}};
    void *huge = rcgc_malloc((size_t)40 << 20);
    size_t size = 0;
    assert_null(rcgc__alloc_hook_tag(tag_seen.blocks[2], false, &size)); /* not made yet */
    for (int i = 0; i < 3; i++) {
        _Atomic uint64_t *tag = rcgc__alloc_hook_tag(tag_seen.blocks[i], true, &size);
        assert_non_null(tag);
        assert_int_equal(atomic_load(tag), 0);
        assert_ptr_equal(rcgc__alloc_hook_tag(tag_seen.blocks[i], false, &size), tag);
        atomic_store(tag, (uint64_t)0x100 + (uint64_t)i);
    }
    assert_ptr_not_equal(rcgc__alloc_hook_tag(tag_seen.blocks[0], false, &size),
                         rcgc__alloc_hook_tag(tag_seen.blocks[1], false, &size));
    assert_null(rcgc__alloc_hook_tag(huge, true, &size));
    assert_int_equal(size, rcgc_usable_size(huge));
    assert_true(raw_bytes() > raw_before);
    rcgc__alloc_hook_tags_foreach(note_tag, &tag_seen);
    assert_int_equal(tag_seen.visits, 3);
    assert_int_equal(tag_seen.others, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tag_seen.tags[i], 0x100 + i);
    /* The large block's pool goes back to its arena with its tags. */
    uint64_t raw_with_tags = raw_bytes();
    rcgc_free(tag_seen.blocks[2]);
    assert_true(raw_bytes() < raw_with_tags);
    rcgc__alloc_hook_tags_drop();
    assert_null(rcgc__alloc_hook_tag(tag_seen.blocks[0], false, &size));
    assert_int_equal(raw_bytes(), raw_before);
    rcgc_free(tag_seen.blocks[0]);
    rcgc_free(tag_seen.blocks[1]);
    rcgc_free(huge);
}

int main(void) {
#define HOOK_TEST(name) cmocka_unit_test_setup_teardown(name, reset, unhook)
    const struct CMUnitTest tests[] = {
        HOOK_TEST(every_path_is_reported_with_its_size),
        HOOK_TEST(blocks_from_before_the_hook_are_freed_as_unknown),
        HOOK_TEST(the_hooks_own_allocations_are_not_reported),
        HOOK_TEST(threads_old_and_new_are_reported),
        HOOK_TEST(removal_waits_for_a_running_call),
        HOOK_TEST(removal_restores_the_fast_path),
        HOOK_TEST(fork_child_can_remove_and_install_the_hook),
        HOOK_TEST(sampling_sees_a_share_and_the_frees_of_that_share),
        HOOK_TEST(sampling_counts_blocks_reused_through_the_fast_path),
        HOOK_TEST(block_tags_are_a_word_per_block),
    };
#undef HOOK_TEST
    return cmocka_run_group_tests_name("alloc_hook", tests, NULL, NULL);
}
