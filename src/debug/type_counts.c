/* src/debug/type_counts.c - live objects counted by type, and the growth
 * of those counts between calls (objgraph's most_common_types and
 * show_growth), over every live object (rcgc_get_all_objects): nothing is
 * collected first, so a leak of unreachable cycles counts as what it is,
 * and untracked objects count too.
 *
 * Shared: the counts of the last rcgc_get_growth, behind growth_mutex.
 * Everything else is the calling thread's, for one call.
 */
#include "alloc/alloc_walk.h"
#include "debug/pointer_index.h"

#include <rcgc/alloc.h>
#include <rcgc/debug.h>
#include <rcgc/raw.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct type_table {
    rcgc_type_count *entries;
    size_t length, capacity;
    struct pointer_index by_type;
    bool failed;
};

static int count_object(rcgc_object *obj, void *arg) {
    struct type_table *table = arg;
    uint32_t at = pointer_index_get(&table->by_type, obj->ob_type);
    if (at == UINT32_MAX) {
        if (table->length == table->capacity) {
            size_t capacity = table->capacity ? table->capacity * 2 : 64;
            rcgc_type_count *grown =
                rcgc_raw_realloc(table->entries, capacity * sizeof(rcgc_type_count));
            if (grown == NULL) {
                table->failed = true;
                return 1;
            }
            table->entries = grown;
            table->capacity = capacity;
        }
        at = (uint32_t)table->length;
        if (pointer_index_put(&table->by_type, obj->ob_type, at) != 0) {
            table->failed = true;
            return 1;
        }
        table->entries[table->length++] = (rcgc_type_count){.type = obj->ob_type};
    }
    table->entries[at].count++;
    table->entries[at].bytes += rcgc__alloc_block_size(obj);
    return 0;
}

static void type_table_free(struct type_table *table) {
    rcgc_raw_free(table->entries);
    pointer_index_free(&table->by_type);
}

/* Count every live object into @table; 0, or -1 with errno set (the
 * table is then freed). */
static int type_table_fill(struct type_table *table) {
    *table = (struct type_table){0};
    ptrdiff_t visited = rcgc_get_all_objects(count_object, table);
    if (visited < 0 || table->failed) {
        type_table_free(table);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

static int by_count(const void *a, const void *b) {
    const rcgc_type_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->type->name, y->type->name);
}

static int by_growth(const void *a, const void *b) {
    const rcgc_type_count *x = a, *y = b;
    if (x->growth != y->growth)
        return x->growth > y->growth ? -1 : 1;
    return by_count(a, b);
}

static size_t copy_out(rcgc_type_count *out, size_t limit, const rcgc_type_count *from,
                       size_t length) {
    size_t copied = length < limit ? length : limit;
    if (copied > 0)
        memcpy(out, from, copied * sizeof *out);
    return copied;
}

ptrdiff_t rcgc_most_common_types(rcgc_type_count *out, size_t limit) {
    struct type_table table;
    if (type_table_fill(&table) != 0)
        return -1;
    if (table.length > 0)
        qsort(table.entries, table.length, sizeof *table.entries, by_count);
    copy_out(out, limit, table.entries, table.length);
    size_t types = table.length;
    type_table_free(&table);
    return (ptrdiff_t)types;
}

/* --------------------------------------------------------------- Growth */

static pthread_mutex_t growth_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct type_table last_counts; /* growth_mutex */

ptrdiff_t rcgc_get_growth(rcgc_type_count *out, size_t limit) {
    struct type_table now;
    if (type_table_fill(&now) != 0)
        return -1;
    rcgc_type_count *grown = rcgc_raw_malloc((now.length + 1) * sizeof *grown);
    if (grown == NULL) {
        type_table_free(&now);
        errno = ENOMEM;
        return -1;
    }
    pthread_mutex_lock(&growth_mutex);
    size_t grew = 0;
    for (size_t i = 0; i < now.length; i++) {
        rcgc_type_count entry = now.entries[i];
        uint32_t before = pointer_index_get(&last_counts.by_type, entry.type);
        size_t last = before == UINT32_MAX ? 0 : last_counts.entries[before].count;
        entry.growth = (ptrdiff_t)entry.count - (ptrdiff_t)last;
        if (entry.growth > 0)
            grown[grew++] = entry;
    }
    type_table_free(&last_counts);
    last_counts = now;
    pthread_mutex_unlock(&growth_mutex);
    if (grew > 0)
        qsort(grown, grew, sizeof *grown, by_growth);
    copy_out(out, limit, grown, grew);
    rcgc_raw_free(grown);
    return (ptrdiff_t)grew;
}

/* -------------------------------------------------------------- Printing */

static int print_counts(FILE *stream, const rcgc_type_count *counts, size_t length, bool growth) {
    size_t width = 8;
    for (size_t i = 0; i < length; i++) {
        size_t name = strlen(counts[i].type->name);
        width = name > width ? name : width;
    }
    for (size_t i = 0; i < length; i++) {
        int written = growth ? fprintf(stream, "%-*s %10zu %+10td\n", (int)width,
                                       counts[i].type->name, counts[i].count, counts[i].growth)
                             : fprintf(stream, "%-*s %10zu\n", (int)width, counts[i].type->name,
                                       counts[i].count);
        if (written < 0)
            return -1;
    }
    return 0;
}

/* Fetch up to @limit entries with @get and print them. */
static int print_list(FILE *stream, size_t limit, ptrdiff_t (*get)(rcgc_type_count *, size_t),
                      bool growth) {
    rcgc_type_count *counts = rcgc_raw_malloc((limit + 1) * sizeof *counts);
    if (counts == NULL) {
        errno = ENOMEM;
        return -1;
    }
    ptrdiff_t found = get(counts, limit);
    int status = found < 0 ? -1
                           : print_counts(stream, counts,
                                          (size_t)found < limit ? (size_t)found : limit, growth);
    rcgc_raw_free(counts);
    return status;
}

int rcgc_print_most_common_types(FILE *stream, size_t limit) {
    return print_list(stream, limit, rcgc_most_common_types, false);
}

int rcgc_show_growth(FILE *stream, size_t limit) {
    return print_list(stream, limit, rcgc_get_growth, true);
}
