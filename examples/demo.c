/* examples/demo.c - what rcgc does, shown with real figures.
 *
 * The quick start's first command runs this. It grows with every layer:
 *   layer 1: malloc(0) and overflow rules, a huge block whose memory
 *            goes back to the OS when freed, failure injection, the raw
 *            counters;
 *   layer 2: 10 million 32-byte blocks allocated and freed (RSS up
 *            and back down with no call into rcgc), blocks freed by another
 *            thread, and the allocator's statistics;
 *   layer 3: objects shared between threads in each counting mode, each
 *            released exactly once, and a ten-million-long chain that dies
 *            in bounded stack.
 */
#include "demo_gc.h"
#include "demo_leaks.h"
#include "demo_weakref.h"

#include <rcgc.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

/* The process's resident set size, or with @unique its USS (the pages
 * no other process shares: psutil's memory_full_info().uss), in MiB. */
static double memory_mib(bool unique) {
    rcgc_process_memory m;
    if (rcgc_process_memory_get(&m, unique ? RCGC_MEMORY_USS : 0) != 0)
        return 0;
    return (double)(unique ? m.uss : m.rss) / (double)MiB;
}

static double rss_mib(void) { return memory_mib(false); }

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void show_portable_rules(void) {
    printf("1. Portable allocation rules (layer 1, CPython's PyMem_Raw* behaviour)\n");
    void *first = rcgc_raw_malloc(0);
    void *second = rcgc_raw_malloc(0);
    printf("   rcgc_raw_malloc(0) twice       -> %p, %p (unique, non-NULL)\n", first, second);
    errno = 0;
    void *overflow = rcgc_raw_calloc(SIZE_MAX / 2 + 1, 2);
    printf("   rcgc_raw_calloc(2^63, 2)       -> %p, errno %s\n", overflow,
           errno == ENOMEM ? "ENOMEM" : strerror(errno));
    void *shrunk = rcgc_raw_realloc(first, 0);
    printf("   rcgc_raw_realloc(p, 0)         -> %p (a unique zero-size block; p released)\n",
           shrunk);
    rcgc_raw_free(shrunk);
    rcgc_raw_free(second);
}

/* A block this large is mapped for itself (a huge block): rcgc_free
 * unmaps it, so its memory is the OS's again at once. */
static int show_return_to_os(void) {
    const size_t size = 256 * MiB;
    printf("\n2. Memory goes back to the OS (a %zu MiB block from rcgc_malloc)\n", size / MiB);
    double before = rss_mib();
    unsigned char *block = rcgc_malloc(size);
    if (block == NULL) {
        perror("   rcgc_malloc");
        return 1;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t at = 0; at < size; at += rcgc_page_size())
        block[at] = 1;
    double touch_s = seconds_since(&start);
    double touched = rss_mib();
    clock_gettime(CLOCK_MONOTONIC, &start);
    rcgc_free(block);
    double free_s = seconds_since(&start);
    double after = rss_mib();
    printf("   RSS before %.1f MiB -> after touching every page %.1f MiB (%.3f s)\n", before,
           touched, touch_s);
    printf("   -> after rcgc_free %.1f MiB (%.4f s): %.1f%% of the touched memory returned\n",
           after, free_s, 100.0 * (touched - after) / (touched - before));
    return 0;
}

static void show_failure_injection(void) {
    printf("\n3. Failure injection: rcgc_fault_inject(RCGC_FAULT_MALLOC, 2, 1)\n");
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 2, 1);
    void *blocks[4];
    for (int i = 0; i < 4; i++) {
        errno = 0;
        blocks[i] = rcgc_raw_malloc(64);
        printf("   malloc #%d -> %s\n", i + 1,
               blocks[i] != NULL ? "ok" : (errno == ENOMEM ? "NULL, ENOMEM (injected)" : "NULL"));
    }
    rcgc_fault_clear();
    for (int i = 0; i < 4; i++)
        rcgc_raw_free(blocks[i]);
}

/* Seed 003: a big list takes RSS from 6 MB to 393 MB and back to 6.6 MB
 * once freed. Here: 10 million 32-byte blocks, freed with plain
 * rcgc_free() calls and no rcgc_heap_collect(). The pointer array is mapped
 * directly so that only the blocks go through rcgc. */
static int show_seed_003(void) {
    enum { COUNT = 10 * 1000 * 1000 };
    printf("\n4. Seed 003 in C: %d blocks of 32 B, then free them all\n", COUNT);
    void **blocks = mmap(NULL, COUNT * sizeof(void *), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED)
        return 1;
    double start_rss = rss_mib(), start_uss = memory_mib(true);
    memset(blocks, 0, COUNT * sizeof(void *)); /* its pages count before, not after */
    double before = rss_mib();
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t i = 0; i < COUNT; i++) {
        blocks[i] = rcgc_malloc(32);
        if (blocks[i] == NULL)
            return 1;
        memset(blocks[i], (int)i, 32);
    }
    double build_s = seconds_since(&start);
    double peak = rss_mib(), peak_uss = memory_mib(true);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t i = 0; i < COUNT; i++)
        rcgc_free(blocks[i]);
    double free_s = seconds_since(&start);
    munmap(blocks, COUNT * sizeof(void *));
    double after = rss_mib(), after_uss = memory_mib(true);
    printf("   RSS %.1f MiB at start, %.1f MiB with the pointer array -> with the blocks %.1f MiB "
           "(%.1f B per 32-byte block, "
           "%.1f ns per malloc)\n",
           start_rss, before, peak, (peak - before) * 1048576.0 / COUNT, build_s * 1e9 / COUNT);
    printf("   -> after rcgc_free of each %.1f MiB (%.1f ns per free): back within %.0f%% "
           "of the start (%.1f MiB)\n",
           after, free_s * 1e9 / COUNT, 100.0 * (after - start_rss) / start_rss, start_rss);
    printf("   USS (rcgc_process_memory_get, as psutil's uss): %.1f -> %.1f -> %.1f MiB\n",
           start_uss, peak_uss, after_uss);
    return 0;
}

struct handover {
    void **blocks;
    size_t count;
};

static void *free_them(void *arg) {
    struct handover *work = arg;
    for (size_t i = 0; i < work->count; i++)
        rcgc_free(work->blocks[i]);
    return NULL;
}

static void show_remote_frees(void) {
    enum { COUNT = 100000 };
    printf("\n5. Blocks freed by another thread go back to their owner's pools\n");
    static void *blocks[COUNT];
    for (size_t i = 0; i < COUNT; i++)
        blocks[i] = rcgc_malloc(16 + i % 240);
    struct handover work = {blocks, COUNT};
    pthread_t thread;
    pthread_create(&thread, NULL, free_them, &work);
    pthread_join(thread, NULL);
    struct rcgc_alloc_stats stats;
    rcgc_alloc_stats(&stats);
    printf("   %d blocks allocated here, freed by a second thread: %llu remote frees,\n"
           "   each one CAS onto its pool's stack; the owner takes them back in batches\n",
           COUNT, (unsigned long long)stats.frees_remote);
    rcgc_heap_collect(false);
}

/* ------------------------------------------------------------ Layer 3 */

struct item {
    rcgc_object head;
    rcgc_object *next; /* a chain, for the trashcan demonstration */
};

static _Atomic long items_released;

static void item_clear(rcgc_object *self) {
    struct item *it = (struct item *)self;
    rcgc_object *next = it->next;
    it->next = NULL;
    rcgc_xdecref(next);
}

static void item_release(rcgc_object *self) {
    (void)self;
    atomic_fetch_add_explicit(&items_released, 1, memory_order_relaxed);
}

static const rcgc_type item_type = {
    .name = "item", .size = sizeof(struct item), .clear = item_clear, .release = item_release};

enum { SHARED_THREADS = 1, SHARED_PAIRS = 2000000 }; /* two threads in all: one per core */

static void *hammer(void *arg) {
    rcgc_object *obj = arg;
    rcgc_thread_attach();
    for (int i = 0; i < SHARED_PAIRS; i++) {
        rcgc_incref(obj);
        rcgc_decref(obj);
    }
    rcgc_decref(obj); /* the reference it was given */
    rcgc_thread_detach();
    return NULL;
}

static void show_shared_objects(void) {
    printf("\n8. One object shared by %d threads, %d increments and decrements each, per mode\n",
           SHARED_THREADS + 1, SHARED_PAIRS);
    printf("   (biased: this thread owns it and counts without atomics, the other's counts are\n"
           "   atomic; deferred: both threads write only their own tables)\n");
    const struct {
        int mode;
        const char *name;
    } modes[] = {{RCGC_RC_BIASED, "biased (default)"},
                 {RCGC_RC_ATOMIC, "atomic"},
                 {RCGC_RC_DEFERRED, "deferred"},
                 {RCGC_RC_IMMORTAL, "immortal"}};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        atomic_store(&items_released, 0);
        rcgc_object *obj = rcgc_new(&item_type);
        rcgc_set_rc_mode(obj, modes[m].mode);
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        pthread_t threads[SHARED_THREADS];
        for (int t = 0; t < SHARED_THREADS; t++) {
            rcgc_incref(obj); /* one reference for each thread */
            pthread_create(&threads[t], NULL, hammer, obj);
        }
        for (int i = 0; i < SHARED_PAIRS; i++) {
            rcgc_incref(obj);
            rcgc_decref(obj);
        }
        for (int t = 0; t < SHARED_THREADS; t++)
            pthread_join(threads[t], NULL);
        double seconds = seconds_since(&start);
        /* Counts are exact once pending work is applied: decrements queued
         * for this (owning) thread merge at a safepoint, deferred tables
         * at a sync. */
        rcgc_safepoint();
        rcgc_sync_deferred();
        size_t count = rcgc_refcount(obj);
        rcgc_decref(obj);     /* the last reference */
        rcgc_sync_deferred(); /* a deferred object dies here, at zero */
        printf("   %-17s %6.1f ns per pair per thread; count before the last decref %zu%s; "
               "released %ld time(s)\n",
               modes[m].name, seconds * 1e9 / SHARED_PAIRS,
               modes[m].mode == RCGC_RC_IMMORTAL ? (size_t)1 : count,
               modes[m].mode == RCGC_RC_IMMORTAL ? " (immortal: never counted)" : "",
               atomic_load(&items_released));
        if (modes[m].mode == RCGC_RC_IMMORTAL)
            rcgc_free(obj); /* the demo's own clean-up: rcgc never frees an immortal */
    }
}

static void show_long_chain(void) {
    enum { LENGTH = 10 * 1000 * 1000 };
    atomic_store(&items_released, 0);
    rcgc_object *head = NULL;
    for (int i = 0; i < LENGTH; i++) {
        struct item *it = (struct item *)rcgc_new(&item_type);
        it->next = head;
        head = &it->head;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    rcgc_decref(head);
    printf("\n9. A chain of %d objects dies from its head in %.2f s: %ld released, no stack "
           "overflow (CPython's trashcan: deaths past depth 64 wait in a list)\n",
           LENGTH, seconds_since(&start), atomic_load(&items_released));
}

int main(void) {
    printf("rcgc %s demo (layers 1 to 3, the collector, weak references, leak tools), page size "
           "%zu B\n\n",
           rcgc_version_string(), rcgc_page_size());
    show_portable_rules();
    if (show_return_to_os() != 0)
        return 1;
    show_failure_injection();
    if (show_seed_003() != 0)
        return 1;
    show_remote_frees();
    printf("\n6. The allocator's statistics (rcgc_print_alloc_stats, as sys._debugmallocstats)\n");
    void *live[3] = {rcgc_malloc(24), rcgc_malloc(200), rcgc_malloc(3000)};
    rcgc_print_alloc_stats(stdout);
    for (int i = 0; i < 3; i++)
        rcgc_free(live[i]);
    printf("\n7. The raw layer's counters (rcgc_print_raw_stats)\n");
    rcgc_print_raw_stats(stdout);
    rcgc_thread_attach();
    show_shared_objects();
    show_long_chain();
    if (show_collector() != 0 || show_weak_references() != 0 || show_leak_tools() != 0)
        return 1;
    rcgc_thread_detach();
    return 0;
}
