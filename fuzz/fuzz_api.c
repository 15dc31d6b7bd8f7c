/* fuzz/fuzz_api.c - libFuzzer target: the input is a program of API calls
 * on a small table of handles, run against rcgc's objects, collector and
 * allocator.
 *
 * Every byte string is a valid program: each operation takes an opcode
 * byte and operand bytes (missing bytes read as 0). The harness itself
 * never misuses the API - it owns exactly one reference per occupied
 * handle and per edge it stores - so any report, crash, sanitizer finding
 * or broken check below is rcgc's. Checked after every input:
 *
 *   - every object made was released exactly once (its release hook marks
 *     its id; a second release aborts), once all handles are dropped and
 *     collections have run until they find nothing;
 *   - no object of the harness's types is still tracked;
 *   - every block from rcgc_malloc/realloc kept its contents until freed.
 *
 * Global settings an input changes (thresholds, enabled, frozen objects,
 * failure injection) are restored before the next input.
 */
#include <rcgc.h>

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { HANDLES = 16, CHILDREN = 3, BLOCKS = 8, MAX_OBJECTS = 1 << 16, MAX_BLOCK = 1 << 20 };

/* ------------------------------------------------------------- Object ids */

enum { ID_FREE = 0, ID_LIVE, ID_RELEASED };
static unsigned char id_state[MAX_OBJECTS];
static uint32_t ids_made;
static uint32_t ids_released;

static void fail(const char *what, uint32_t id) {
    fprintf(stderr, "fuzz_api: %s (object id %u)\n", what, id);
    abort();
}

struct node {
    rcgc_object head;
    uint32_t id;
    bool resurrects; /* its finalizer stores it in `phoenix` */
    rcgc_object *child[CHILDREN];
};

static void node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct node *n = (struct node *)self;
    for (int k = 0; k < CHILDREN; k++)
        if (n->child[k] != NULL)
            visit(n->child[k], arg);
}

static void node_clear(rcgc_object *self) {
    struct node *n = (struct node *)self;
    for (int k = 0; k < CHILDREN; k++) {
        rcgc_object *child = n->child[k];
        n->child[k] = NULL;
        rcgc_xdecref(child);
    }
}

static void node_release(rcgc_object *self) {
    struct node *n = (struct node *)self;
    if (n->id >= MAX_OBJECTS || id_state[n->id] != ID_LIVE)
        fail("released twice, or an object the harness never made", n->id);
    for (int k = 0; k < CHILDREN; k++)
        if (n->child[k] != NULL)
            fail("released with an edge its clear hook should have dropped", n->id);
    id_state[n->id] = ID_RELEASED;
    ids_released++;
}

/* One reference the finalizers may store (a resurrection), held until the
 * next finalizer replaces it or the input ends. */
static rcgc_object *phoenix;

static void node_finalize(rcgc_object *self) {
    struct node *n = (struct node *)self;
    if (!n->resurrects)
        return;
    rcgc_incref(self);
    rcgc_object *old = phoenix;
    phoenix = self;
    rcgc_xdecref(old);
}

static const rcgc_type box_type = {.name = "fuzz_box",
                                   .size = sizeof(struct node),
                                   .flags = RCGC_TYPE_GC,
                                   .traverse = node_traverse,
                                   .clear = node_clear,
                                   .release = node_release};
static const rcgc_type phoenix_type = {.name = "fuzz_phoenix",
                                       .size = sizeof(struct node),
                                       .flags = RCGC_TYPE_GC,
                                       .traverse = node_traverse,
                                       .clear = node_clear,
                                       .finalize = node_finalize,
                                       .release = node_release};
static const rcgc_type leaf_type = {
    .name = "fuzz_leaf", .size = sizeof(struct node), .release = node_release};
static const rcgc_type pooled_type = {
    .name = "fuzz_pooled", .size = sizeof(struct node), .release = node_release, .freelist_max = 4};

static bool is_container(const rcgc_object *obj) {
    return obj->ob_type == &box_type || obj->ob_type == &phoenix_type;
}

/* ----------------------------------------------------------- The program */

struct program {
    const uint8_t *at, *end;
};

static uint8_t next_byte(struct program *p) { return p->at < p->end ? *p->at++ : 0; }

static rcgc_object *handle[HANDLES];

struct block {
    unsigned char *ptr;
    size_t size;
    unsigned char fill;
};
static struct block blocks[BLOCKS];

static void set_handle(unsigned h, rcgc_object *obj) {
    rcgc_object *old = handle[h];
    handle[h] = obj;
    rcgc_xdecref(old);
}

static void make_object(unsigned h, uint8_t kind) {
    static const rcgc_type *const types[] = {&box_type, &phoenix_type, &leaf_type, &pooled_type};
    if (ids_made >= MAX_OBJECTS)
        return;
    const rcgc_type *type = types[kind % 4];
    struct node *n = (struct node *)rcgc_new(type);
    if (n == NULL) {
        if (errno != ENOMEM)
            fail("rcgc_new failed without ENOMEM", ids_made);
        return;
    }
    for (int k = 0; k < CHILDREN; k++)
        if (n->child[k] != NULL)
            fail("rcgc_new handed out an object with fields set", ids_made);
    n->id = ids_made++;
    n->resurrects = (kind & 4) != 0;
    id_state[n->id] = ID_LIVE;
    set_handle(h, &n->head);
}

static void check_block(const struct block *b) {
    for (size_t i = 0; i < b->size; i++)
        if (b->ptr[i] != b->fill) {
            fprintf(stderr, "fuzz_api: block %p of %zu bytes changed at byte %zu\n", (void *)b->ptr,
                    b->size, i);
            abort();
        }
}

static size_t block_size(struct program *p) {
    uint8_t shape = next_byte(p), low = next_byte(p);
    switch (shape % 4) {
    case 0:
        return low; /* tiny, zero included */
    case 1:
        return (size_t)low * 16 + (shape >> 2); /* small classes */
    case 2:
        return (size_t)low * 1024 + shape; /* up to the large blocks */
    default:
        return ((size_t)low << 12) % MAX_BLOCK + 1; /* up to 1 MiB */
    }
}

static void block_malloc(unsigned b, size_t size, unsigned char fill) {
    struct block *blk = &blocks[b];
    if (blk->ptr != NULL) {
        check_block(blk);
        rcgc_free(blk->ptr);
        blk->ptr = NULL;
    }
    unsigned char *ptr = rcgc_malloc(size);
    if (ptr == NULL) {
        if (errno != ENOMEM)
            fail("rcgc_malloc failed without ENOMEM", 0);
        return;
    }
    if (rcgc_usable_size(ptr) < size)
        fail("rcgc_usable_size below the size asked for", 0);
    memset(ptr, fill, size);
    *blk = (struct block){ptr, size, fill};
}

static void block_realloc(unsigned b, size_t size) {
    struct block *blk = &blocks[b];
    check_block(blk);
    unsigned char *ptr = rcgc_realloc(blk->ptr, size);
    if (ptr == NULL) {
        if (errno != ENOMEM)
            fail("rcgc_realloc failed without ENOMEM", 0);
        return; /* the old block is intact: checked at its free */
    }
    blk->ptr = ptr;
    blk->size = blk->size < size ? blk->size : size; /* the prefix survives */
    check_block(blk);
    memset(ptr, blk->fill, size);
    blk->size = size;
}

enum op {
    OP_NEW,
    OP_LINK,
    OP_UNLINK,
    OP_COPY,
    OP_DROP,
    OP_MODE,
    OP_COLLECT,
    OP_FREEZE,
    OP_THRESHOLD,
    OP_ENABLE,
    OP_SYNC,
    OP_MALLOC,
    OP_REALLOC,
    OP_FREE,
    OP_FAIL_NEXT,
    OP_UNTRACK,
    OP_COUNT
};

/* FUZZ_API_TRACE=1 prints each operation as it runs (replaying a finding). */
static bool trace;
static const char *const op_names[] = {"new",     "link",   "unlink",    "copy",   "drop", "mode",
                                       "collect", "freeze", "threshold", "enable", "sync", "malloc",
                                       "realloc", "free",   "fail_next", "untrack"};

static void run_one(struct program *p) {
    uint8_t op = next_byte(p) % OP_COUNT;
    uint8_t a = next_byte(p), b = next_byte(p);
    unsigned ha = a % HANDLES, hb = b % HANDLES;
    if (trace)
        fprintf(stderr, "fuzz_api: %s %u %u\n", op_names[op], a, b);
    switch ((enum op)op) {
    case OP_NEW:
        make_object(ha, b);
        break;
    case OP_LINK: {
        unsigned k = next_byte(p) % CHILDREN;
        if (handle[ha] == NULL || handle[hb] == NULL || !is_container(handle[ha]))
            break;
        struct node *n = (struct node *)handle[ha];
        /* A container that may join a cycle is tracked (as CPython's dicts
         * are again when a container is put in one). */
        if (!rcgc_is_tracked(handle[ha]) && rcgc_track(handle[ha]) != 0)
            break;
        rcgc_incref(handle[hb]);
        rcgc_object *old = n->child[k];
        n->child[k] = handle[hb];
        rcgc_xdecref(old);
        break;
    }
    case OP_UNLINK: {
        if (handle[ha] == NULL || !is_container(handle[ha]))
            break;
        struct node *n = (struct node *)handle[ha];
        rcgc_object *old = n->child[b % CHILDREN];
        n->child[b % CHILDREN] = NULL;
        rcgc_xdecref(old);
        break;
    }
    case OP_COPY:
        if (handle[ha] != NULL && ha != hb) {
            rcgc_incref(handle[ha]);
            set_handle(hb, handle[ha]);
        }
        break;
    case OP_DROP:
        set_handle(ha, NULL);
        break;
    case OP_MODE:
        /* Immortal objects are never released by design: not used here. */
        if (handle[ha] != NULL) {
            int mode = b % 2 == 0 ? RCGC_RC_ATOMIC : RCGC_RC_DEFERRED;
            if (rcgc_set_rc_mode(handle[ha], mode) != 0 && errno != ENOMEM && errno != EINVAL)
                fail("rcgc_set_rc_mode failed with an unexpected errno", 0);
        }
        break;
    case OP_COLLECT:
        if (rcgc_collect(a % RCGC_GENERATIONS) < 0 && errno != ENOMEM)
            fail("rcgc_collect failed without ENOMEM", 0);
        break;
    case OP_FREEZE:
        if (a % 2 == 0)
            rcgc_freeze();
        else
            rcgc_unfreeze();
        break;
    case OP_THRESHOLD:
        rcgc_set_threshold(a % 8, b % 4, next_byte(p) % 4);
        break;
    case OP_ENABLE:
        if (a % 2 == 0)
            rcgc_enable();
        else
            rcgc_disable();
        break;
    case OP_SYNC:
        (void)rcgc_sync_deferred();
        break;
    case OP_MALLOC:
        block_malloc(ha % BLOCKS, block_size(p), b);
        break;
    case OP_REALLOC:
        if (blocks[ha % BLOCKS].ptr != NULL)
            block_realloc(ha % BLOCKS, block_size(p));
        break;
    case OP_FREE: {
        struct block *blk = &blocks[ha % BLOCKS];
        if (blk->ptr != NULL) {
            check_block(blk);
            rcgc_free(blk->ptr);
            blk->ptr = NULL;
        }
        break;
    }
    case OP_FAIL_NEXT: {
        /* Failure injection around one allocating call only: deaths that
         * run finalizers are kept out of it, since a resurrected object
         * that cannot be tracked again may keep a cycle alive (a leak by
         * design, not a bug). */
        rcgc_fault_inject(RCGC_FAULT_ALL, a % 4, 1 + b % 3);
        uint8_t what = next_byte(p);
        if (what % 3 == 0)
            make_object(hb, what >> 2);
        else if (what % 3 == 1)
            block_malloc(hb % BLOCKS, block_size(p), what);
        else if (handle[hb] != NULL && rcgc_set_rc_mode(handle[hb], RCGC_RC_DEFERRED) != 0 &&
                 errno != ENOMEM && errno != EINVAL)
            fail("rcgc_set_rc_mode failed with an unexpected errno under injection", 0);
        rcgc_fault_clear();
        break;
    }
    case OP_UNTRACK:
        /* Only an empty container is untracked (no cycle can go through
         * it until OP_LINK tracks it again). */
        if (handle[ha] != NULL && is_container(handle[ha])) {
            struct node *n = (struct node *)handle[ha];
            bool empty = true;
            for (int k = 0; k < CHILDREN; k++)
                empty &= n->child[k] == NULL;
            if (empty && b % 2 == 0)
                rcgc_untrack(handle[ha]);
            else if (rcgc_track(handle[ha]) != 0 && errno != ENOMEM)
                fail("rcgc_track failed without ENOMEM", n->id);
        }
        break;
    case OP_COUNT:
        break;
    }
}

/* ------------------------------------------------------- After the input */

static int count_ours(rcgc_object *obj, void *arg) {
    if (obj->ob_type == &box_type || obj->ob_type == &phoenix_type) {
        fprintf(stderr, "fuzz_api: still tracked after everything was dropped: object id %u\n",
                ((struct node *)obj)->id);
        ++*(size_t *)arg;
    }
    return 0;
}

static unsigned default_threshold[RCGC_GENERATIONS];

static void drop_everything_and_check(void) {
    rcgc_fault_clear();
    for (unsigned h = 0; h < HANDLES; h++)
        set_handle(h, NULL);
    for (unsigned b = 0; b < BLOCKS; b++)
        if (blocks[b].ptr != NULL) {
            check_block(&blocks[b]);
            rcgc_free(blocks[b].ptr);
            blocks[b].ptr = NULL;
        }
    rcgc_unfreeze();
    rcgc_set_threshold(default_threshold[0], default_threshold[1], default_threshold[2]);
    rcgc_enable();
    /* Deferred objects die at syncs, one link of a deferred chain per
     * collection; finalizers may resurrect into `phoenix`, dropped each
     * round. Bounded: every round that frees nothing ends it. */
    for (int round = 0; round < 1000; round++) {
        uint32_t before = ids_released;
        rcgc_object *held = phoenix;
        phoenix = NULL;
        rcgc_xdecref(held);
        if (rcgc_collect(RCGC_GENERATIONS - 1) < 0)
            fail("the final rcgc_collect failed", 0);
        if (round > 0 && ids_released == before && phoenix == NULL)
            break;
    }
    if (ids_released != ids_made) {
        for (uint32_t id = 0; id < ids_made; id++)
            if (id_state[id] == ID_LIVE)
                fprintf(stderr, "fuzz_api: object id %u never released\n", id);
        fail("objects were not all released", ids_made - ids_released);
    }
    size_t tracked = 0;
    if (rcgc_get_objects(-1, count_ours, &tracked) < 0)
        fail("rcgc_get_objects failed", 0);
    if (tracked != 0)
        fail("objects of the harness are still tracked", (uint32_t)tracked);
    if (rcgc_garbage_count() != 0)
        fail("the garbage list is not empty (no type has a legacy finalizer)", 0);
    memset(id_state, 0, ids_made);
    ids_made = ids_released = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (rcgc_thread_attach() != 0)
        abort();
    rcgc_get_threshold(default_threshold);
    trace = getenv("FUZZ_API_TRACE") != NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct program p = {data, data + size};
    /* A bound on work per input, whatever its length. */
    for (int steps = 0; p.at < p.end && steps < 4096; steps++)
        run_one(&p);
    drop_everything_and_check();
    return 0;
}
