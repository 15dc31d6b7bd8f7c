/* src/gc/census.c - rcgc_get_all_objects: every live object, tracked or
 * not, found by walking the allocator's handed-out blocks with the world
 * stopped (the collector's tables know only containers; the allocator
 * knows every block).
 *
 * A block is taken for an object when its header reads as a live one
 * (state bits not DEAD, no unknown flag bits, a count above zero unless
 * deferred or immortal) and its type pointer leads to something shaped
 * like an rcgc_type: the struct in readable memory, a printable name, no
 * unknown flags, every hook in executable memory. Only memory listed as
 * readable in /proc/self/maps is read, so a plain block holding any bits
 * at all cannot make the walk fault.
 *
 * Owned by the calling thread: the map of readable memory and the cache
 * of judged types, both per call. Shared: the blocks, read with the world
 * stopped and the collector's mutex held, so no death, collection or
 * deferred sync runs meanwhile. Lock order: gc_mutex, the stop's
 * stw_mutex, then the arena mutex (the fork handlers take them so too).
 */
#include "alloc/alloc_walk.h"
#include "gc/gc_census.h"
#include "gc/gc_internal.h"

#include <rcgc/raw.h>

#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdlib.h>
#include <unistd.h>

/* ---------------------------------------------------------- Memory map */

struct memory_range {
    uintptr_t start, end;
    bool executable;
};

struct memory_map {
    struct memory_range *ranges; /* readable ones, by address */
    size_t count;
};

/* The whole of /proc/self/maps in raw memory, NUL-terminated; NULL with
 * errno set on failure. */
static char *read_maps_text(void) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t length = 0, capacity = 16384;
    char *text = rcgc_raw_malloc(capacity);
    for (;;) {
        if (text == NULL)
            break;
        if (capacity - length < 4096) {
            char *grown = rcgc_raw_realloc(text, capacity * 2);
            if (grown == NULL) {
                rcgc_raw_free(text);
                text = NULL;
                break;
            }
            text = grown;
            capacity *= 2;
        }
        ssize_t got = read(fd, text + length, capacity - length - 1);
        if (got < 0) {
            rcgc_raw_free(text);
            text = NULL;
            break;
        }
        if (got == 0) {
            text[length] = '\0';
            break;
        }
        length += (size_t)got;
    }
    int saved = errno;
    close(fd);
    errno = text == NULL && saved == 0 ? ENOMEM : saved;
    return text;
}

/* Each line: "start-end perms offset dev inode [path]". */
static int memory_map_read(struct memory_map *map) {
    char *text = read_maps_text();
    if (text == NULL)
        return -1;
    size_t lines = 1;
    for (const char *c = text; *c != '\0'; c++)
        lines += *c == '\n';
    map->ranges = rcgc_raw_malloc(lines * sizeof(struct memory_range));
    map->count = 0;
    if (map->ranges == NULL) {
        rcgc_raw_free(text);
        errno = ENOMEM;
        return -1;
    }
    for (char *line = text; *line != '\0';) {
        char *end;
        uintptr_t start = (uintptr_t)strtoull(line, &end, 16);
        uintptr_t stop = *end == '-' ? (uintptr_t)strtoull(end + 1, &end, 16) : 0;
        if (*end == ' ' && end[1] == 'r' && stop > start)
            map->ranges[map->count++] = (struct memory_range){start, stop, end[3] == 'x'};
        char *next = line;
        while (*next != '\0' && *next != '\n')
            next++;
        line = *next == '\n' ? next + 1 : next;
    }
    rcgc_raw_free(text);
    return 0;
}

/* The readable range holding [@addr, @addr + @size), or NULL. */
static const struct memory_range *memory_map_find(const struct memory_map *map, uintptr_t addr,
                                                  size_t size) {
    size_t low = 0, high = map->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (map->ranges[mid].end <= addr)
            low = mid + 1;
        else
            high = mid;
    }
    if (low == map->count || map->ranges[low].start > addr || map->ranges[low].end - addr < size)
        return NULL;
    return &map->ranges[low];
}

/* ----------------------------------------------------------- Type check */

#define TYPE_NAME_MAX 256
#define TYPE_CACHE_SLOTS 1024 /* a power of two */

enum verdict { UNJUDGED = 0, IS_TYPE, NOT_TYPE };

struct census {
    struct memory_map map;
    struct {
        const void *type;
        enum verdict verdict;
    } cache[TYPE_CACHE_SLOTS];
    void (*visit)(rcgc_object *obj, void *arg);
    void *arg;
};

static bool is_code(const struct memory_map *map, void (*hook)(void)) {
    if (hook == NULL)
        return true;
    const struct memory_range *range = memory_map_find(map, (uintptr_t)hook, 1);
    return range != NULL && range->executable;
}

/* Whether the name is a NUL-terminated printable string in readable
 * memory, read a byte at a time so it never reads past its range. */
static bool is_name(const struct memory_map *map, const char *name) {
    const struct memory_range *range = memory_map_find(map, (uintptr_t)name, 1);
    for (size_t i = 0; i < TYPE_NAME_MAX; i++) {
        if (range == NULL || (uintptr_t)(name + i) >= range->end)
            range = memory_map_find(map, (uintptr_t)(name + i), 1);
        if (range == NULL)
            return false;
        unsigned char c = (unsigned char)name[i];
        if (c == '\0')
            return i > 0;
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return false;
}

static bool looks_like_type(const struct memory_map *map, const rcgc_type *type) {
    if ((uintptr_t)type % alignof(rcgc_type) != 0 ||
        memory_map_find(map, (uintptr_t)type, sizeof *type) == NULL)
        return false;
    return (type->flags & ~(unsigned)(RCGC_TYPE_GC | RCGC_TYPE_LEGACY_FINALIZER)) == 0 &&
           type->name != NULL && is_name(map, type->name) &&
           is_code(map, (void (*)(void))type->traverse) &&
           is_code(map, (void (*)(void))type->clear) &&
           is_code(map, (void (*)(void))type->finalize) &&
           is_code(map, (void (*)(void))type->release);
}

static bool judged_type(struct census *census, const rcgc_type *type) {
    size_t slot = ((uintptr_t)type >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> 54;
    for (size_t probe = 0; probe < TYPE_CACHE_SLOTS; probe++) {
        size_t at = (slot + probe) & (TYPE_CACHE_SLOTS - 1);
        if (census->cache[at].verdict == UNJUDGED) {
            bool verdict = looks_like_type(&census->map, type);
            census->cache[at].type = type;
            census->cache[at].verdict = verdict ? IS_TYPE : NOT_TYPE;
            return verdict;
        }
        if (census->cache[at].type == type)
            return census->cache[at].verdict == IS_TYPE;
    }
    return looks_like_type(&census->map, type); /* cache full: judge again */
}

/* ---------------------------------------------------------------- Walk */

#define FLAGS_KNOWN 0xffu /* mode, finalized, fixed size, generation, watched */

static bool header_is_live(const rcgc_object *obj) {
    uint16_t flags = atomic_load_explicit(&obj->ob_flags, memory_order_relaxed);
    int64_t shared = atomic_load_explicit(&obj->ob_ref_shared, memory_order_relaxed);
    if ((flags & ~FLAGS_KNOWN) != 0 || (shared & REF_STATE_MASK) == REF_DEAD)
        return false;
    unsigned mode = flags & OBJ_MODE_MASK;
    return mode == RCGC_RC_DEFERRED || mode == RCGC_RC_IMMORTAL || rcgc__refcount_applied(obj) > 0;
}

static void census_block(void *block, size_t block_size, void *arg) {
    struct census *census = arg;
    rcgc_object *obj = block;
    if (block_size < sizeof *obj || !header_is_live(obj) || !judged_type(census, obj->ob_type))
        return;
    census->visit(obj, census->arg);
}

int rcgc__gc_census_stopped(void (*visit)(rcgc_object *obj, void *arg), void *arg) {
    struct census *census = rcgc_raw_calloc(1, sizeof *census);
    if (census == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if (memory_map_read(&census->map) != 0) {
        int saved = errno;
        rcgc_raw_free(census);
        errno = saved;
        return -1;
    }
    census->visit = visit;
    census->arg = arg;
    rcgc__gc_lock();
    rcgc__stop_the_world();
    rcgc__alloc_walk_blocks(census_block, census);
    rcgc__start_the_world();
    rcgc__gc_unlock();
    rcgc_raw_free(census->map.ranges);
    rcgc_raw_free(census);
    return 0;
}

void rcgc__gc_run_stopped(void (*fn)(void *arg), void *arg) {
    rcgc__gc_lock();
    rcgc__stop_the_world();
    fn(arg);
    rcgc__start_the_world();
    rcgc__gc_unlock();
}

static void add_to_list(rcgc_object *obj, void *arg) { rcgc__gc_list_add(arg, obj); }

ptrdiff_t rcgc_get_all_objects(rcgc_walk_fn visit, void *arg) {
    struct gc_object_list list = {0};
    if (rcgc__gc_census_stopped(add_to_list, &list) != 0)
        return -1; /* before the stop: nothing listed */
    return rcgc__gc_list_deliver(&list, visit, arg);
}
