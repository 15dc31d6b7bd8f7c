/* src/debug/trace_sites.c - where traced allocations come from: the
 * file:line an rcgc_*_at call (RCGC_TRACE_SITES) hands down, the call
 * stack outside rcgc, and the interned sites traces refer to by index.
 *
 * Shared: the interned sites, added under sites_mutex and read without it
 * (T1: a site is written before its index is published by the mutex's
 * release and never changes until the reset); they live in chunks that
 * never move, so a reader's pointer stays good while others intern.
 * Owned by one thread: its site hint.
 *
 * rcgc's own frames: when rcgc is a shared object (librcgc.so, or
 * librcgc-malloc.so under LD_PRELOAD), every frame inside it is left out,
 * so the first frame kept is the host's call. Linked statically, rcgc's
 * code cannot be told from the host's; only the tracer's own two frames
 * are left out, and file:line comes from RCGC_TRACE_SITES.
 */
#include "debug/trace_internal.h"

#include <rcgc/raw.h>

#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* ------------------------------------------------------------- The hint */

static _Thread_local const struct trace_site *site_hint __attribute__((tls_model("initial-exec")));

const struct trace_site *rcgc__trace_site_hint(void) { return site_hint; }

/* Set around the call an rcgc_*_at entry makes: the allocation hook, if
 * installed, reads it on this thread while the call runs. */
#define WITH_SITE(file_, line_, call)                                                              \
    do {                                                                                           \
        struct trace_site hint_ = {.file = (file_), .line = (line_)};                              \
        const struct trace_site *outer_ = site_hint;                                               \
        site_hint = &hint_;                                                                        \
        call;                                                                                      \
        site_hint = outer_;                                                                        \
    } while (0)

rcgc_object *rcgc_new_at(const rcgc_type *type, const char *file, int line) {
    rcgc_object *obj;
    WITH_SITE(file, line, obj = rcgc_new(type));
    return obj;
}

rcgc_object *rcgc_new_var_at(const rcgc_type *type, size_t size, const char *file, int line) {
    rcgc_object *obj;
    WITH_SITE(file, line, obj = rcgc_new_var(type, size));
    return obj;
}

void *rcgc_malloc_at(size_t size, const char *file, int line) {
    void *block;
    WITH_SITE(file, line, block = rcgc_malloc(size));
    return block;
}

void *rcgc_calloc_at(size_t count, size_t size, const char *file, int line) {
    void *block;
    WITH_SITE(file, line, block = rcgc_calloc(count, size));
    return block;
}

void *rcgc_realloc_at(void *ptr, size_t size, const char *file, int line) {
    void *block;
    WITH_SITE(file, line, block = rcgc_realloc(ptr, size));
    return block;
}

/* ---------------------------------------------------------- Call stacks */

static pthread_once_t own_code_once = PTHREAD_ONCE_INIT;
static uintptr_t own_code_start, own_code_end; /* 0, 0: rcgc is linked statically */

static int find_own_code(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    uintptr_t probe = (uintptr_t)arg, start = UINTPTR_MAX, end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD || (segment->p_flags & PF_X) == 0)
            continue;
        uintptr_t first = info->dlpi_addr + segment->p_vaddr;
        start = first < start ? first : start;
        end = first + segment->p_memsz > end ? first + segment->p_memsz : end;
    }
    if (probe < start || probe >= end)
        return 0;
    /* The main program (no name) holds the host's code as well. */
    if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0') {
        own_code_start = start;
        own_code_end = end;
    }
    return 1;
}

static void locate_own_code(void) {
    dl_iterate_phdr(find_own_code, (void *)(uintptr_t)rcgc__trace_site_capture);
    /* The first backtrace loads the unwinder (and allocates): not from
     * inside the first traced allocation. */
    void *frame;
    (void)backtrace(&frame, 1);
}

#define STACK_DEPTH_MAX 64
#define TRACER_FRAMES 2 /* this function and the hook that called it */

#define OWN_FRAMES_USUAL 8

/* The first frame of @stack (@depth long) past the tracer's and rcgc's. */
static int first_host_frame(void *const *stack, int depth) {
    int first = TRACER_FRAMES;
    while (own_code_end != 0 && first < depth && (uintptr_t)stack[first] >= own_code_start &&
           (uintptr_t)stack[first] < own_code_end)
        first++;
    return first;
}

void rcgc__trace_site_capture(struct trace_site *site, unsigned frames, const void *caller) {
    const struct trace_site *hint = site_hint;
    /* Frames past frame_count are never read: not cleared. */
    site->file = hint != NULL ? hint->file : NULL;
    site->line = hint != NULL ? hint->line : 0;
    site->frame_count = 0;
    if (frames == 0)
        return;
    pthread_once(&own_code_once, locate_own_code);
    /* One frame, and the allocator knows its caller: no unwinding. Only
     * when rcgc's own code can be told apart (a shared object). */
    if (frames == 1 && caller != NULL && own_code_end != 0 &&
        ((uintptr_t)caller < own_code_start || (uintptr_t)caller >= own_code_end)) {
        site->frames[site->frame_count++] = (void *)(uintptr_t)caller;
        return;
    }
    /* Unwinding costs per frame walked: first only as deep as rcgc's own
     * frames usually go (an rcgc_new reaches the hook through about six),
     * the whole stack only when that was not enough. */
    void *stack[STACK_DEPTH_MAX];
    int wanted = TRACER_FRAMES + OWN_FRAMES_USUAL + (int)frames;
    int depth = backtrace(stack, wanted);
    int first = first_host_frame(stack, depth);
    if (depth == wanted && depth - first < (int)frames) {
        depth = backtrace(stack, STACK_DEPTH_MAX);
        first = first_host_frame(stack, depth);
    }
    for (int i = first; i < depth && site->frame_count < frames; i++)
        site->frames[site->frame_count++] = stack[i];
}

/* ---------------------------------------------------------------- Sites */

#define CHUNK_SITES 1024u
#define CHUNKS_MAX 4096u /* 4 M sites */

static pthread_mutex_t sites_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct trace_site *chunks[CHUNKS_MAX]; /* T1: written once, freed at reset */
static uint32_t site_count;                   /* sites_mutex */
static uint32_t *site_index;                  /* sites_mutex: hash -> index + 1; 0 empty */
static size_t site_index_mask;

static uint64_t site_hash(const struct trace_site *site) {
    uint64_t h = (uint64_t)(uintptr_t)site->file * UINT64_C(0x9E3779B97F4A7C15) ^
                 (uint64_t)(unsigned)site->line;
    for (unsigned i = 0; i < site->frame_count; i++)
        h = (h ^ (uint64_t)(uintptr_t)site->frames[i]) * UINT64_C(0x100000001B3);
    return h ^ (h >> 29);
}

static bool same_site(const struct trace_site *a, const struct trace_site *b) {
    return a->line == b->line && a->frame_count == b->frame_count &&
           (a->file == b->file ||
            (a->file != NULL && b->file != NULL && !strcmp(a->file, b->file))) &&
           (a->frame_count == 0 ||
            memcmp(a->frames, b->frames, a->frame_count * sizeof a->frames[0]) == 0);
}

static uint32_t intern_locked_path(const struct trace_site *site);

const struct trace_site *rcgc__trace_site_at(uint32_t index) {
    return &chunks[index / CHUNK_SITES][index % CHUNK_SITES];
}

/* Double the index (at least 1024 slots); false on ENOMEM. */
static bool grow_index_locked(void) {
    size_t slots = site_index_mask == 0 ? 1024 : (site_index_mask + 1) * 2;
    uint32_t *grown = rcgc_raw_calloc(slots, sizeof *grown);
    if (grown == NULL)
        return false;
    for (uint32_t i = 0; i < site_count; i++) {
        size_t at = site_hash(rcgc__trace_site_at(i)) & (slots - 1);
        while (grown[at] != 0)
            at = (at + 1) & (slots - 1);
        grown[at] = i + 1;
    }
    rcgc_raw_free(site_index);
    site_index = grown;
    site_index_mask = slots - 1;
    return true;
}

/* The site this thread interned last and its index: a loop allocating at
 * one place finds it here without the mutex. Checked against the reset
 * count, so a cache from before rcgc__trace_sites_reset is never used. */
static _Thread_local struct {
    struct trace_site site;
    uint32_t index;
    uint64_t resets;
} last_interned __attribute__((tls_model("initial-exec"))) = {.index = UINT32_MAX};
static _Atomic uint64_t resets;

uint32_t rcgc__trace_site_intern(const struct trace_site *site) {
    uint64_t now = atomic_load_explicit(&resets, memory_order_acquire);
    if (last_interned.index != UINT32_MAX && last_interned.resets == now &&
        same_site(&last_interned.site, site))
        return last_interned.index;
    uint32_t index = intern_locked_path(site);
    if (index != UINT32_MAX) {
        last_interned.site = *site;
        last_interned.index = index;
        last_interned.resets = now;
    }
    return index;
}

static uint32_t intern_locked_path(const struct trace_site *site) {
    uint64_t hash = site_hash(site);
    uint32_t found = UINT32_MAX;
    pthread_mutex_lock(&sites_mutex);
    if (((size_t)site_count + 1) * 2 > site_index_mask + 1 && !grow_index_locked())
        goto out;
    size_t at = hash & site_index_mask;
    for (; site_index[at] != 0; at = (at + 1) & site_index_mask)
        if (same_site(rcgc__trace_site_at(site_index[at] - 1), site)) {
            found = site_index[at] - 1;
            goto out;
        }
    uint32_t chunk = site_count / CHUNK_SITES;
    if (chunk == CHUNKS_MAX)
        goto out;
    if (chunks[chunk] == NULL &&
        (chunks[chunk] = rcgc_raw_malloc(CHUNK_SITES * sizeof *site)) == NULL)
        goto out;
    found = site_count++;
    chunks[chunk][found % CHUNK_SITES] = *site;
    site_index[at] = found + 1;
out:
    pthread_mutex_unlock(&sites_mutex);
    return found;
}

void rcgc__trace_sites_reset(void) {
    pthread_mutex_lock(&sites_mutex);
    atomic_fetch_add_explicit(&resets, 1, memory_order_release);
    for (uint32_t i = 0; i < CHUNKS_MAX && chunks[i] != NULL; i++) {
        rcgc_raw_free(chunks[i]);
        chunks[i] = NULL;
    }
    rcgc_raw_free(site_index);
    site_index = NULL;
    site_index_mask = 0;
    site_count = 0;
    pthread_mutex_unlock(&sites_mutex);
}
