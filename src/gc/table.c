/* src/gc/table.c - generation tables: chunked arrays of object pointers
 * whose slots never move between stops of the world.
 *
 * Owned by one thread at a time: a table's length, cursor and directory
 * (a young table's owner, or the collector under gc_mutex, or the stopper).
 * Shared: the slots themselves, into which untracking threads store NULL;
 * they find the slot through the directory entries written when the slot's
 * chunk was added, before the object could reach them.
 *
 * Memory comes from the raw layer (libc): the tables must not be made of
 * the objects' own pools, whose purges they would keep alive.
 */
#include "gc/gc_internal.h"

#include <rcgc/raw.h>

#include <errno.h>
#include <string.h>

/* The chunk holding slot @index, allocating it (and its directory page) if
 * needed. */
static rcgc_object **chunk_for(struct gc_table *table, uint32_t index, bool allocate) {
    uint32_t chunk = index >> GC_CHUNK_BITS;
    uint32_t page = chunk >> GC_PAGE_BITS;
    if (page >= GC_TABLE_PAGES) {
        errno = ENOMEM;
        return NULL;
    }
    if (table->pages[page] == NULL) {
        if (!allocate)
            return NULL;
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of chunk pointers
        table->pages[page] = rcgc_raw_calloc(GC_PAGE_CHUNKS, sizeof(rcgc_object **));
        if (table->pages[page] == NULL)
            return NULL;
    }
    rcgc_object ***entry = &table->pages[page][chunk & (GC_PAGE_CHUNKS - 1)];
    if (*entry == NULL) {
        if (!allocate)
            return NULL;
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of object pointers
        *entry = rcgc_raw_malloc(GC_CHUNK_SLOTS * sizeof(rcgc_object *));
        if (*entry == NULL)
            return NULL;
        table->chunks++;
    }
    return *entry;
}

bool rcgc__gc_table_grow(struct gc_table *table) {
    if ((uint64_t)table->length + 1 > GC_TABLE_MAX_SLOTS) {
        errno = ENOMEM;
        return false;
    }
    rcgc_object **chunk = chunk_for(table, table->length, true);
    if (chunk == NULL)
        return false;
    table->cursor = chunk + (table->length & (GC_CHUNK_SLOTS - 1));
    table->limit = chunk + GC_CHUNK_SLOTS;
    return true;
}

bool rcgc__gc_table_reserve(struct gc_table *table, uint64_t count) {
    uint64_t end = (uint64_t)table->length + count;
    if (end > GC_TABLE_MAX_SLOTS) {
        errno = ENOMEM;
        return false;
    }
    for (uint64_t chunk = table->length >> GC_CHUNK_BITS; chunk << GC_CHUNK_BITS < end; chunk++)
        if (chunk_for(table, (uint32_t)(chunk << GC_CHUNK_BITS), true) == NULL)
            return false;
    return true;
}

void rcgc__gc_table_truncate(struct gc_table *table, uint32_t length) {
    table->length = length;
    /* The next append finds its chunk again (it is kept). */
    table->cursor = table->limit = NULL;
    if (length % GC_CHUNK_SLOTS != 0) {
        rcgc_object **chunk = chunk_for(table, length, false);
        table->cursor = chunk + (length & (GC_CHUNK_SLOTS - 1));
        table->limit = chunk + GC_CHUNK_SLOTS;
    }
}

/* Chunks are only ever added at the end (appends and reservations go in
 * slot order) and taken from the end, so chunks [0, table->chunks) exist. */
void rcgc__gc_table_trim(struct gc_table *table, uint32_t spare) {
    uint64_t keep = ((uint64_t)table->length + GC_CHUNK_SLOTS - 1) / GC_CHUNK_SLOTS + spare;
    while (table->chunks > keep) {
        uint32_t chunk = --table->chunks;
        rcgc_object ***page = table->pages[chunk >> GC_PAGE_BITS];
        rcgc_raw_free(page[chunk & (GC_PAGE_CHUNKS - 1)]);
        page[chunk & (GC_PAGE_CHUNKS - 1)] = NULL;
        if ((chunk & (GC_PAGE_CHUNKS - 1)) == 0) { /* the page's last chunk */
            rcgc_raw_free(page);
            table->pages[chunk >> GC_PAGE_BITS] = NULL;
        }
    }
    rcgc__gc_table_truncate(table, table->length);
}

void rcgc__gc_table_compact(struct gc_table *table, uint32_t from) {
    gc_table_squeeze(table, from, NULL, NULL);
}

void rcgc__gc_table_move_all(struct gc_table *to, struct gc_table *from) {
    rcgc_assert_stopped();
    for (uint32_t read = 0; read < from->length;) {
        rcgc_object **slots;
        uint32_t n = gc_table_run(from, read, from->length, &slots);
        for (uint32_t i = 0; i < n; i++)
            if (slots[i] != NULL && !gc_table_append(to, slots[i]))
                rcgc__fatal("rcgc: generation table could not grow during a collection "
                            "(its room was reserved)");
        read += n;
    }
    rcgc__gc_table_truncate(from, 0);
}

size_t rcgc__gc_table_live(const struct gc_table *table) {
    size_t live = 0;
    for (uint32_t read = 0; read < table->length;) {
        rcgc_object **slots;
        uint32_t n = gc_table_run(table, read, table->length, &slots);
        for (uint32_t i = 0; i < n; i++)
            live += slots[i] != NULL;
        read += n;
    }
    return live;
}
