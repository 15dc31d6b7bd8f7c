/* stress/stress_debug.c - the leak tools while threads work: workers make,
 * share, link into cycles and drop objects and plain blocks, while one
 * inspector thread counts objects by type and their growth, draws graphs
 * forwards and backwards, searches back-reference chains, starts and stops
 * the allocation tracer (exact and sampled) and takes snapshots, and opens
 * and closes the report file.
 *
 * Checked: every object the tools hand back is live (its magic intact)
 * while they hold it; counts are plausible (no more cells counted than
 * made and not yet released); the tracer's figures never go negative; and
 * at the end every cell made was released exactly once, so no tool leaked
 * or double-dropped a reference.
 */
#include "stress_common.h"

#include <rcgc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC 0x5eedce11u
#define HELD 48
#define EXCHANGE 64

struct cell {
    rcgc_object head;
    unsigned magic;
    rcgc_object *slot[2];
};

static _Atomic long made, released;

static void cell_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct cell *cell = (struct cell *)self;
    for (int i = 0; i < 2; i++)
        if (cell->slot[i] != NULL)
            visit(cell->slot[i], arg);
}

static void cell_clear(rcgc_object *self) {
    struct cell *cell = (struct cell *)self;
    for (int i = 0; i < 2; i++) {
        rcgc_object *ref = cell->slot[i];
        cell->slot[i] = NULL;
        rcgc_xdecref(ref);
    }
}

static void cell_release(rcgc_object *self) {
    struct cell *cell = (struct cell *)self;
    if (cell->magic != MAGIC)
        stress_fail("cell %p released twice or corrupt (magic %x)", (void *)cell, cell->magic);
    cell->magic = 0;
    atomic_fetch_add(&released, 1);
}

static const rcgc_type cell_type = {.name = "stress_cell",
                                    .size = sizeof(struct cell),
                                    .flags = RCGC_TYPE_GC,
                                    .traverse = cell_traverse,
                                    .clear = cell_clear,
                                    .release = cell_release};

static _Atomic(rcgc_object *) exchange[EXCHANGE];

static void check_cell(rcgc_object *obj, const char *what) {
    if (obj->ob_type == &cell_type && ((struct cell *)obj)->magic != MAGIC)
        stress_fail("%s handed back a dead cell %p", what, (void *)obj);
}

static rcgc_object *cell_new(void) {
    struct cell *cell = (struct cell *)rcgc_new(&cell_type);
    if (cell == NULL) {
        stress_fail("rcgc_new failed");
        return NULL;
    }
    cell->magic = MAGIC;
    atomic_fetch_add(&made, 1);
    return &cell->head;
}

/* Only the thread that made a cell links it, before sharing it: a cell's
 * slots never change once others can see it. */
static void link_cells(rcgc_object *from, int slot, rcgc_object *to) {
    rcgc_incref(to);
    ((struct cell *)from)->slot[slot] = to;
}

static void work(uint64_t *rng, rcgc_object **held) {
    unsigned i = (unsigned)stress_below(rng, HELD);
    switch (stress_below(rng, 6)) {
    case 0: { /* a new cell, sometimes in a cycle with another new one */
        rcgc_object *a = cell_new();
        if (a == NULL)
            return;
        if (stress_below(rng, 3) == 0) {
            rcgc_object *b = cell_new();
            if (b == NULL)
                return;
            link_cells(a, 0, b);
            link_cells(b, 0, a);
            rcgc_decref(b);
        }
        if (held[i] != NULL && stress_below(rng, 2) == 0)
            link_cells(a, 1, held[i]);
        rcgc_xdecref(held[i]);
        held[i] = a;
        break;
    }
    case 1: { /* trade with another thread */
        rcgc_object *got = atomic_exchange(&exchange[stress_below(rng, EXCHANGE)], held[i]);
        held[i] = got;
        if (got != NULL)
            check_cell(got, "the exchange");
        break;
    }
    case 2: /* drop */
        rcgc_xdecref(held[i]);
        held[i] = NULL;
        break;
    case 3: { /* plain blocks, for the tracer */
        void *block = rcgc_malloc(16 + stress_below(rng, 2000));
        if (block == NULL)
            stress_fail("rcgc_malloc failed");
        rcgc_free(block);
        break;
    }
    case 4:
        if (stress_below(rng, 64) == 0)
            rcgc_collect((int)stress_below(rng, 2));
        break;
    default:
        rcgc_safepoint();
        break;
    }
}

static int check_visited(rcgc_object *obj, void *arg) {
    (void)arg;
    check_cell(obj, "rcgc_get_all_objects");
    return 0;
}

static void inspect(uint64_t *rng, rcgc_object **held, FILE *sink) {
    rcgc_object *mine = held[stress_below(rng, HELD)];
    switch (stress_below(rng, 8)) {
    case 0: {
        rcgc_type_count counts[16];
        ptrdiff_t types = rcgc_most_common_types(counts, 16);
        if (types < 0)
            stress_fail("rcgc_most_common_types failed");
        for (ptrdiff_t t = 0; t < types && t < 16; t++)
            if (counts[t].type == &cell_type &&
                (long)counts[t].count > atomic_load(&made) - atomic_load(&released) + 1000)
                stress_fail("%zu cells counted, at most %ld alive", counts[t].count,
                            atomic_load(&made) - atomic_load(&released));
        break;
    }
    case 1:
        if (rcgc_get_growth(NULL, 0) < 0 || rcgc_get_all_objects(check_visited, NULL) < 0)
            stress_fail("growth or the census failed");
        break;
    case 2:
        if (mine != NULL && rcgc_show_refs(&mine, 1, NULL, sink) < 1)
            stress_fail("rcgc_show_refs drew nothing");
        break;
    case 3:
        if (mine != NULL && rcgc_show_backrefs(&mine, 1, NULL, sink) < 1)
            stress_fail("rcgc_show_backrefs drew nothing");
        break;
    case 4: {
        rcgc_object *chain[8];
        ptrdiff_t length =
            mine != NULL ? rcgc_find_backref_chain(mine, NULL, NULL, 4, chain, 8) : 0;
        if (length < 0)
            stress_fail("rcgc_find_backref_chain failed");
        for (ptrdiff_t c = 0; c < length; c++) {
            check_cell(chain[c], "rcgc_find_backref_chain");
            rcgc_decref(chain[c]);
        }
        break;
    }
    case 5: {
        rcgc_trace_options options = {.frames = (unsigned)stress_below(rng, 3),
                                      .sample_bytes = stress_below(rng, 2) ? 4096 : 0};
        if (rcgc_trace_start(&options) != 0)
            stress_fail("rcgc_trace_start failed");
        usleep(2000);
        rcgc_snapshot *snapshot = rcgc_trace_snapshot();
        if (snapshot == NULL)
            stress_fail("rcgc_trace_snapshot failed");
        rcgc_trace_stat stats[4];
        if (rcgc_snapshot_statistics(snapshot, RCGC_TRACE_BY_TRACEBACK, stats, 4) < 0)
            stress_fail("rcgc_snapshot_statistics failed");
        rcgc_snapshot_free(snapshot);
        size_t current, peak;
        rcgc_trace_get_memory(&current, &peak);
        if (current > ((size_t)1 << 40) || peak < current)
            stress_fail("traced memory %zu, peak %zu", current, peak);
        rcgc_trace_stop();
        break;
    }
    case 6: {
        char path[64];
        snprintf(path, sizeof path, "/tmp/stress_debug.%ld.jsonl", (long)getpid());
        if (rcgc_report_open(path, 1) != 0)
            stress_fail("rcgc_report_open failed");
        usleep(3000);
        if (rcgc_report_close() != 0)
            stress_fail("rcgc_report_close failed");
        unlink(path);
        break;
    }
    default:
        work(rng, held);
        break;
    }
}

static void worker(unsigned index, uint64_t seed, void *arg) {
    (void)arg;
    uint64_t rng = seed;
    rcgc_object *held[HELD] = {0};
    FILE *sink = index == 0 ? fopen("/dev/null", "w") : NULL;
    rcgc_thread_attach();
    while (stress_running()) {
        if (index == 0 && sink != NULL)
            inspect(&rng, held, sink);
        else
            work(&rng, held);
    }
    for (unsigned i = 0; i < HELD; i++)
        rcgc_xdecref(held[i]);
    rcgc_thread_detach();
    if (sink != NULL)
        fclose(sink);
}

int main(int argc, char **argv) {
    struct stress_options options = stress_parse(argc, argv, "stress_debug", NULL);
    stress_run(&options, worker, NULL);
    rcgc_thread_attach();
    for (unsigned i = 0; i < EXCHANGE; i++)
        rcgc_xdecref(atomic_exchange(&exchange[i], NULL));
    rcgc_collect(2);
    rcgc_thread_detach();
    rcgc_sync_deferred();
    printf("stress_debug: %ld cells made, %ld released\n", atomic_load(&made),
           atomic_load(&released));
    if (atomic_load(&released) != atomic_load(&made))
        stress_fail("%ld cells made but %ld released", atomic_load(&made), atomic_load(&released));
    return stress_finish("stress_debug");
}
