/* tests/test_object_misuse.c - layer 3 under misuse and failure: counts
 * changed on dead objects, objects touched from unattached threads, bad
 * arguments to rcgc_new, out of memory where a call cannot fail, and fork()
 * while other threads hold rcgc's locks.
 *
 * A misuse must end in one clear report and must not write to memory that
 * is no longer the object's: the allocator's free-block data and whatever
 * reuses the block stay intact. Reports are caught in-process with the
 * recording fatal handler where the object's memory is still the object's
 * (a free list), and in a child process where the block was freed: there
 * an AddressSanitizer build may catch the access first, which is as good.
 */
#include "object/object_internal.h"
#include "support/capture.h"
#include "support/child.h"

#include <rcgc.h>

#include <errno.h>
#include <string.h>

#include <pthread.h>
#include <sched.h>
#include <setjmp.h> /* cmocka.h needs these four first */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static _Atomic long released;

static void count_release(rcgc_object *self) {
    (void)self;
    atomic_fetch_add(&released, 1);
}

/* No free list: a dead instance goes back to the allocator. */
static const rcgc_type plain_type = {.name = "Plain", .size = 48, .release = count_release};
/* A free list: a dead instance stays the object's memory. */
static const rcgc_type listed_type = {
    .name = "Listed", .size = 48, .release = count_release, .freelist_max = 16};

static int attach(void **state) {
    (void)state;
    atomic_store(&released, 0);
    return rcgc_thread_attach();
}

static int detach(void **state) {
    (void)state;
    rcgc_fault_clear();
    rcgc_thread_detach();
    return 0;
}

/* ------------------------------------------------- Counts on dead objects */

static void expect_dead_object_report(const struct fatal_capture *capture, const char *type_name,
                                      const char *where) {
    assert_true(capture->fired);
    assert_non_null(strstr(capture->message, "changed on a dead object"));
    assert_non_null(strstr(capture->message, type_name));
    assert_non_null(strstr(capture->message, where));
}

static void decref_of_a_dead_free_listed_object_is_reported(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&listed_type);
    rcgc_decref(obj); /* dies; its memory waits on this thread's free list */
    assert_int_equal(atomic_load(&released), 1);
    struct fatal_capture capture;
    RUN_CAPTURING_FATAL(&capture, rcgc_decref(obj));
    expect_dead_object_report(&capture, "<Listed 0x", "in rcgc_decref");
    RUN_CAPTURING_FATAL(&capture, rcgc_incref(obj));
    expect_dead_object_report(&capture, "<Listed 0x", "in rcgc_incref");
    /* The free list is intact: the next object is that memory, sound. */
    rcgc_object *again = rcgc_new(&listed_type);
    assert_ptr_equal(again, obj);
    assert_int_equal(rcgc_refcount(again), 1);
    rcgc_decref(again);
    assert_int_equal(atomic_load(&released), 2);
}

static void decref_of_a_dead_deferred_object_is_reported(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&listed_type);
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_DEFERRED), 0);
    rcgc_decref(obj);
    assert_int_equal(rcgc_sync_deferred(), 1);
    /* Without the check the drop would sit in this thread's table and be
     * applied to whatever the memory holds at the next sync. */
    struct fatal_capture capture;
    RUN_CAPTURING_FATAL(&capture, rcgc_decref(obj));
    expect_dead_object_report(&capture, "<Listed 0x", "in rcgc_decref");
    assert_int_equal(rcgc_sync_deferred(), 0);
}

static rcgc_object *_Atomic foreign_target;
static struct fatal_capture foreign_capture;

static void *decref_dead_from_another_thread(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    RUN_CAPTURING_FATAL(&foreign_capture, rcgc_decref(atomic_load(&foreign_target)));
    rcgc_thread_detach();
    return NULL;
}

static void decref_of_a_dead_object_from_another_thread_is_reported(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&listed_type);
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_ATOMIC), 0);
    rcgc_decref(obj);
    atomic_store(&foreign_target, obj);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, decref_dead_from_another_thread, NULL), 0);
    pthread_join(thread, NULL);
    expect_dead_object_report(&foreign_capture, "<Listed 0x", "in rcgc_decref");
}

/* The reproducer of a heap corruption: a stray drop of a freed object,
 * then blocks of its size allocated, written and the deferred tables
 * applied. The drop must be reported, and nothing it did may show in the
 * new blocks or turn the allocator's free-block link into a user pointer. */
static void stray_drop_then_allocate_body(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    enum { BLOCKS = 256 };
    for (int round = 0; round < 64; round++) {
        rcgc_object *obj = rcgc_new(&plain_type);
        rcgc_decref(obj);
        /* T0: the freed block's first word can never pass for our id, so
         * the stray drop cannot take the owner's path into the cookie. */
        if (!UNDER_ASAN && (atomic_load(&obj->ob_tid) & THREAD_ID_MARK) != 0) {
            printf("round %d: a freed object's first word looks like a thread id\n", round);
            exit(6);
        }
        struct fatal_capture capture;
        RUN_CAPTURING_FATAL(&capture, rcgc_decref(obj));
        char named[64], freed[64]; /* checked builds fill freed memory: no type */
        snprintf(named, sizeof named, "<Plain %p>", (void *)obj);
        snprintf(freed, sizeof freed, "<freed object %p>", (void *)obj);
        if (!capture.fired || strstr(capture.message, "changed on a dead object") == NULL ||
            (strstr(capture.message, named) == NULL && strstr(capture.message, freed) == NULL)) {
            printf("round %d: no report for the stray drop (%s)\n", round,
                   capture.fired ? capture.message : "nothing");
            exit(3);
        }
        unsigned char *blocks[BLOCKS];
        for (int i = 0; i < BLOCKS; i++) {
            blocks[i] = rcgc_malloc(48);
            memset(blocks[i], 0x5a, 48);
            for (int j = 0; j < i; j++)
                if (blocks[j] == blocks[i]) {
                    printf("round %d: block %p handed out twice\n", round, (void *)blocks[i]);
                    exit(4);
                }
        }
        rcgc_sync_deferred();
        for (int i = 0; i < BLOCKS; i++) {
            for (int k = 0; k < 48; k++)
                if (blocks[i][k] != 0x5a) {
                    printf("round %d: byte %d of block %p changed\n", round, k, (void *)blocks[i]);
                    exit(5);
                }
            rcgc_free(blocks[i]);
        }
    }
    printf("stray drops reported, blocks intact\n");
}

static void decref_of_a_freed_object_is_reported_and_writes_nothing(void **state) {
    (void)state;
    struct child_result result;
    child_run(stray_drop_then_allocate_body, NULL, &result);
    if (UNDER_ASAN) {
        /* The freed block is poisoned: AddressSanitizer reports the first
         * read of the dead object's header, before rcgc's own check. */
        if (strstr(result.output, "use-after-poison") == NULL)
            fprintf(stderr, "child said: %s\n", result.output);
        assert_false(result.exited);
        assert_non_null(strstr(result.output, "use-after-poison"));
        return;
    }
    if (!result.exited || result.code != 0)
        fprintf(stderr, "child said: %s\n", result.output);
    assert_true(result.exited);
    assert_int_equal(result.code, 0);
    assert_non_null(strstr(result.output, "stray drops reported, blocks intact"));
}

/* ------------------------------------------------------ Unattached threads */

static void touch_from_unattached_body(void *arg) {
    rcgc_object *obj = arg;
    rcgc_thread_detach();
    rcgc_incref(obj);
}

static void unattached_thread_touching_an_object_is_reported(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&plain_type);
    struct child_result result;
    child_run(touch_from_unattached_body, obj, &result);
    assert_true(child_aborted(&result));
    assert_non_null(strstr(result.output, "touched from a thread that is not attached <Plain 0x"));
    assert_non_null(strstr(result.output, "in rcgc_incref"));
    rcgc_decref(obj);
}

static void *touch_immortal_unattached(void *arg) {
    rcgc_incref(arg);
    rcgc_decref(arg);
    return NULL;
}

static void unattached_thread_may_touch_an_immortal_object(void **state) {
    (void)state;
    rcgc_object *obj = rcgc_new(&plain_type);
    assert_int_equal(rcgc_set_rc_mode(obj, RCGC_RC_IMMORTAL), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, touch_immortal_unattached, obj), 0);
    pthread_join(thread, NULL);
    assert_int_equal(rcgc_refcount(obj), UINT32_MAX);
}

static void new_from_unattached_body(void *arg) {
    (void)arg;
    rcgc_thread_detach();
    rcgc_object *obj = rcgc_new(&plain_type);
    (void)obj;
}

static void new_from_an_unattached_thread_is_reported(void **state) {
    (void)state;
    struct child_result result;
    child_run(new_from_unattached_body, NULL, &result);
    assert_true(child_aborted(&result));
    assert_non_null(strstr(result.output, "<Plain> made from a thread that is not attached in "
                                          "rcgc_new"));
}

static void new_of_type(const rcgc_type *type, bool var) {
    rcgc_object *obj = var ? rcgc_new_var(type, 64) : rcgc_new(type);
    (void)obj;
}

static void new_with_a_null_type_is_reported(void **state) {
    (void)state;
    struct fatal_capture capture;
    RUN_CAPTURING_FATAL(&capture, new_of_type(NULL, false));
    assert_true(capture.fired);
    assert_non_null(strstr(capture.message, "object made with a NULL type in rcgc_new"));
    RUN_CAPTURING_FATAL(&capture, new_of_type(NULL, true));
    assert_true(capture.fired);
}

/* ------------------------------------------------------------ Out of memory */

enum { HANDED = 1000 }; /* far more than an owner's queue holds at first */

static rcgc_object *handed[HANDED];

static void *drop_handed_while_out_of_memory(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 0, RCGC_FAULT_FOREVER);
    for (int i = 0; i < HANDED; i++)
        rcgc_decref(handed[i]); /* shared count 0: each goes to the owner */
    rcgc_fault_clear();
    rcgc_thread_detach();
    return NULL;
}

static void foreign_drops_while_out_of_memory_merge_instead_of_aborting(void **state) {
    (void)state;
    for (int i = 0; i < HANDED; i++)
        handed[i] = rcgc_new(&plain_type);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, drop_handed_while_out_of_memory, NULL), 0);
    /* Parked in a blocking region, so the dropping thread can stop the
     * world when the queue cannot grow. */
    rcgc_blocking_begin();
    pthread_join(thread, NULL);
    rcgc_blocking_end();
    rcgc_safepoint(); /* merges what was queued before memory ran out */
    assert_int_equal(atomic_load(&released), HANDED);
}

static rcgc_object *relays[64];

static _Atomic long relays_finalized;
static rcgc_object *_Atomic relay_slots[64];
static rcgc_object *fillers[512];
static int fillers_made;

static void relay_finalize(rcgc_object *self);
static const rcgc_type relay_type = {
    .name = "Relay", .size = 48, .finalize = relay_finalize, .release = count_release};
static const rcgc_type filler_type = {.name = "Filler", .size = 48};

/* The first finalizer takes every free slot of the deferred list with
 * fresh deferred objects (as another thread could, between a sync and the
 * finalizer), with memory exhausted; every finalizer then resurrects its
 * object, which must go back on the list without memory. */
static void relay_finalize(rcgc_object *self) {
    long index = atomic_fetch_add(&relays_finalized, 1);
    if (index == 0) {
        for (fillers_made = 0; fillers_made < 512; fillers_made++) {
            rcgc_object *filler = rcgc_new(&filler_type);
            if (filler == NULL)
                break;
            fillers[fillers_made] = filler;
            if (rcgc_set_rc_mode(filler, RCGC_RC_DEFERRED) != 0) {
                assert_int_equal(errno, ENOMEM);
                rcgc_decref(filler);
                break;
            }
        }
    }
    rcgc_incref(self);
    atomic_store(&relay_slots[index], self);
}

static void resurrected_deferred_objects_go_back_on_their_list_without_memory(void **state) {
    (void)state;
    for (int i = 0; i < 64; i++) {
        relays[i] = rcgc_new(&relay_type);
        assert_int_equal(rcgc_set_rc_mode(relays[i], RCGC_RC_DEFERRED), 0);
    }
    for (int i = 0; i < 64; i++)
        rcgc_decref(relays[i]);
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 0, RCGC_FAULT_FOREVER);
    assert_int_equal(rcgc_sync_deferred(), 64); /* all found dead; all resurrect */
    rcgc_fault_clear();
    assert_int_equal(atomic_load(&relays_finalized), 64);
    assert_int_equal(atomic_load(&released), 0);
    assert_int_equal(rcgc_sync_deferred(), 0); /* their new references hold them */
    for (int i = 0; i < 64; i++) {
        rcgc_object *obj = atomic_exchange(&relay_slots[i], NULL);
        assert_non_null(obj);
        assert_int_equal(rcgc_refcount(obj), 1);
        rcgc_decref(obj);
    }
    for (int i = 0; i < fillers_made; i++)
        rcgc_decref(fillers[i]);
    assert_int_equal(rcgc_sync_deferred(), 64 + fillers_made);
    assert_int_equal(atomic_load(&relays_finalized), 64); /* no second finalize */
    assert_int_equal(atomic_load(&released), 64);
}

/* ------------------------------------------------------------------- fork */

static atomic_bool churning;

/* Objects the forking thread makes and hands over, one reference each:
 * the other thread's drop finds the shared count at 0 and queues them for
 * their owner, taking the forking thread's queue mutex. */
enum { RING = 1024 };
static rcgc_object *_Atomic ring[RING];
static _Atomic unsigned ring_head, ring_tail;

static bool ring_push(rcgc_object *obj) {
    unsigned head = atomic_load(&ring_head);
    if (head - atomic_load(&ring_tail) == RING)
        return false;
    atomic_store(&ring[head % RING], obj);
    atomic_store(&ring_head, head + 1);
    return true;
}

static rcgc_object *ring_pop(void) {
    unsigned tail = atomic_load(&ring_tail);
    if (tail == atomic_load(&ring_head))
        return NULL;
    rcgc_object *obj = atomic_load(&ring[tail % RING]);
    atomic_store(&ring_tail, tail + 1);
    return obj;
}

/* Holds each of rcgc's leaf locks again and again: the collector's state
 * (garbage_count), the deferred list (new deferred objects) and the
 * forking thread's queue (drops of objects it owns). */
static void *churn_locks(void *arg) {
    (void)arg;
    rcgc_thread_attach();
    for (unsigned turn = 0; atomic_load(&churning); turn++) {
        (void)rcgc_garbage_count();
        if (turn % 64 == 0)
            (void)rcgc_sync_deferred(); /* deferred garbage waits for a sync */
        rcgc_object *obj = rcgc_new(&plain_type);
        if (rcgc_set_rc_mode(obj, RCGC_RC_DEFERRED) == 0)
            rcgc_decref(obj);
        for (rcgc_object *theirs; (theirs = ring_pop()) != NULL;)
            rcgc_decref(theirs);
        rcgc_safepoint();
    }
    for (rcgc_object *theirs; (theirs = ring_pop()) != NULL;)
        rcgc_decref(theirs);
    rcgc_thread_detach();
    return NULL;
}

static void fork_while_other_threads_hold_leaf_locks_leaves_a_working_child(void **state) {
    (void)state;
    atomic_store(&churning, true);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, churn_locks, NULL), 0);
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 256; i++) {
            rcgc_object *obj = rcgc_new(&plain_type);
            if (!ring_push(obj))
                rcgc_decref(obj);
        }
        rcgc_blocking_begin();
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20); /* a hung child dies of SIGALRM: the test fails */
            rcgc_blocking_end();
            if (rcgc_collect(0) < 0)
                _exit(2);
            (void)rcgc_sync_deferred();
            (void)rcgc_garbage_count();
            rcgc_decref(rcgc_new(&plain_type));
            rcgc_safepoint(); /* drains this thread's queue */
            _exit(0);
        }
        rcgc_blocking_end();
        assert_true(pid > 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        rcgc_safepoint();
    }
    atomic_store(&churning, false);
    rcgc_blocking_begin();
    pthread_join(thread, NULL);
    rcgc_blocking_end();
    rcgc_safepoint();
    rcgc_sync_deferred();
}

int main(void) {
#define MISUSE_TEST(name) cmocka_unit_test_setup_teardown(name, attach, detach)
    const struct CMUnitTest tests[] = {
        MISUSE_TEST(decref_of_a_dead_free_listed_object_is_reported),
        MISUSE_TEST(decref_of_a_dead_deferred_object_is_reported),
        MISUSE_TEST(decref_of_a_dead_object_from_another_thread_is_reported),
        MISUSE_TEST(decref_of_a_freed_object_is_reported_and_writes_nothing),
        MISUSE_TEST(unattached_thread_touching_an_object_is_reported),
        MISUSE_TEST(unattached_thread_may_touch_an_immortal_object),
        MISUSE_TEST(new_from_an_unattached_thread_is_reported),
        MISUSE_TEST(new_with_a_null_type_is_reported),
        MISUSE_TEST(foreign_drops_while_out_of_memory_merge_instead_of_aborting),
        MISUSE_TEST(resurrected_deferred_objects_go_back_on_their_list_without_memory),
        MISUSE_TEST(fork_while_other_threads_hold_leaf_locks_leaves_a_working_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
