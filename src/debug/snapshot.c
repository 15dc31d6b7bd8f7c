/* src/debug/snapshot.c - snapshots of the traced blocks, their statistics
 * by file, line or traceback, the comparison of two, and printing them as
 * tracemalloc does.
 *
 * A snapshot copies, per site, the bytes and blocks alive, with the site
 * itself (so it outlives rcgc_trace_stop). Grouping is by sorting: each
 * site reduced to its key, sorted, equal neighbours summed.
 *
 * Owned by the caller: snapshots and everything made from them. Shared:
 * the traces, read through rcgc__trace_foreach, and the sites (T1).
 */
#include "debug/pointer_index.h"
#include "debug/trace_internal.h"

#include <rcgc/raw.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct snapshot_entry {
    struct trace_site site;
    size_t size, count;
};

struct rcgc_snapshot {
    struct snapshot_entry *entries;
    size_t length;
};

/* --------------------------------------------------------------- Taking */

struct taking {
    struct rcgc_snapshot *snapshot;
    size_t capacity;
    struct pointer_index by_site; /* site index + 1 -> entry */
    bool failed;
};

static void take_trace(const struct trace *trace, void *arg) {
    struct taking *taking = arg;
    if (taking->failed)
        return;
    const void *key = (const void *)((uintptr_t)trace->site + 1);
    uint32_t at = pointer_index_get(&taking->by_site, key);
    struct rcgc_snapshot *snapshot = taking->snapshot;
    if (at == UINT32_MAX) {
        if (snapshot->length == taking->capacity) {
            size_t capacity = taking->capacity ? taking->capacity * 2 : 64;
            struct snapshot_entry *grown =
                rcgc_raw_realloc(snapshot->entries, capacity * sizeof *grown);
            if (grown == NULL) {
                taking->failed = true;
                return;
            }
            snapshot->entries = grown;
            taking->capacity = capacity;
        }
        at = (uint32_t)snapshot->length;
        if (pointer_index_put(&taking->by_site, key, at) != 0) {
            taking->failed = true;
            return;
        }
        snapshot->entries[snapshot->length++] =
            (struct snapshot_entry){.site = *rcgc__trace_site_at(trace->site)};
    }
    snapshot->entries[at].size += trace->estimated_size;
    snapshot->entries[at].count += trace->estimated_count;
}

rcgc_snapshot *rcgc_trace_snapshot(void) {
    if (!rcgc_trace_is_tracing()) {
        errno = EINVAL;
        return NULL;
    }
    struct taking taking = {.snapshot = rcgc_raw_calloc(1, sizeof(struct rcgc_snapshot))};
    if (taking.snapshot == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    rcgc__trace_foreach(take_trace, &taking);
    pointer_index_free(&taking.by_site);
    if (taking.failed) {
        rcgc_snapshot_free(taking.snapshot);
        errno = ENOMEM;
        return NULL;
    }
    return taking.snapshot;
}

void rcgc_snapshot_free(rcgc_snapshot *snapshot) {
    if (snapshot == NULL)
        return;
    rcgc_raw_free(snapshot->entries);
    rcgc_raw_free(snapshot);
}

/* ------------------------------------------------------------- Grouping */

static rcgc_trace_stat stat_of(const struct snapshot_entry *entry, enum rcgc_trace_key key) {
    const struct trace_site *site = &entry->site;
    rcgc_trace_stat stat = {.file = site->file, .size = entry->size, .count = entry->count};
    if (key == RCGC_TRACE_BY_TRACEBACK) {
        stat.line = site->line;
        stat.frame_count = site->frame_count;
        memcpy(stat.frames, site->frames, site->frame_count * sizeof site->frames[0]);
    } else if (site->file != NULL) {
        stat.line = key == RCGC_TRACE_BY_LINE ? site->line : 0;
    } else if (site->frame_count > 0) {
        stat.frame_count = 1;
        stat.frames[0] = site->frames[0];
    }
    return stat;
}

static int compare_keys(const rcgc_trace_stat *a, const rcgc_trace_stat *b) {
    if (a->file != b->file) {
        if (a->file == NULL || b->file == NULL)
            return a->file == NULL ? 1 : -1;
        int by_name = strcmp(a->file, b->file);
        if (by_name != 0)
            return by_name;
    }
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->frame_count != b->frame_count)
        return a->frame_count < b->frame_count ? -1 : 1;
    for (unsigned i = 0; i < a->frame_count; i++)
        if (a->frames[i] != b->frames[i])
            return (uintptr_t)a->frames[i] < (uintptr_t)b->frames[i] ? -1 : 1;
    return 0;
}

static int by_key(const void *a, const void *b) { return compare_keys(a, b); }

/* @snapshot's groups by @key, sorted by key, in raw memory (*@length of
 * them); NULL with errno = ENOMEM. */
static rcgc_trace_stat *group(const rcgc_snapshot *snapshot, enum rcgc_trace_key key,
                              size_t *length) {
    rcgc_trace_stat *stats = rcgc_raw_malloc((snapshot->length + 1) * sizeof *stats);
    if (stats == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < snapshot->length; i++)
        stats[i] = stat_of(&snapshot->entries[i], key);
    if (snapshot->length > 0)
        qsort(stats, snapshot->length, sizeof *stats, by_key);
    size_t groups = 0;
    for (size_t i = 0; i < snapshot->length; i++) {
        if (groups > 0 && compare_keys(&stats[groups - 1], &stats[i]) == 0) {
            stats[groups - 1].size += stats[i].size;
            stats[groups - 1].count += stats[i].count;
        } else {
            stats[groups++] = stats[i];
        }
    }
    *length = groups;
    return stats;
}

static size_t magnitude(ptrdiff_t value) { return value < 0 ? (size_t)-value : (size_t)value; }

/* Biggest first, as tracemalloc sorts: by the size of the change, then
 * the size, then the change in count and the count; then by key. */
static int biggest_first(const void *pa, const void *pb) {
    const rcgc_trace_stat *a = pa, *b = pb;
    if (magnitude(a->size_diff) != magnitude(b->size_diff))
        return magnitude(a->size_diff) > magnitude(b->size_diff) ? -1 : 1;
    if (a->size != b->size)
        return a->size > b->size ? -1 : 1;
    if (magnitude(a->count_diff) != magnitude(b->count_diff))
        return magnitude(a->count_diff) > magnitude(b->count_diff) ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return compare_keys(a, b);
}

static ptrdiff_t deliver(rcgc_trace_stat *stats, size_t length, rcgc_trace_stat *out,
                         size_t limit) {
    if (length > 0)
        qsort(stats, length, sizeof *stats, biggest_first);
    size_t copied = length < limit ? length : limit;
    if (copied > 0)
        memcpy(out, stats, copied * sizeof *out);
    rcgc_raw_free(stats);
    return (ptrdiff_t)length;
}

ptrdiff_t rcgc_snapshot_statistics(const rcgc_snapshot *snapshot, enum rcgc_trace_key key,
                                   rcgc_trace_stat *out, size_t limit) {
    size_t length;
    rcgc_trace_stat *stats = group(snapshot, key, &length);
    return stats == NULL ? -1 : deliver(stats, length, out, limit);
}

ptrdiff_t rcgc_snapshot_compare(const rcgc_snapshot *now, const rcgc_snapshot *before,
                                enum rcgc_trace_key key, rcgc_trace_stat *out, size_t limit) {
    size_t now_length, before_length;
    rcgc_trace_stat *now_stats = group(now, key, &now_length);
    rcgc_trace_stat *before_stats = now_stats ? group(before, key, &before_length) : NULL;
    rcgc_trace_stat *joined =
        before_stats ? rcgc_raw_malloc((now_length + before_length + 1) * sizeof *joined) : NULL;
    if (joined == NULL) {
        rcgc_raw_free(now_stats);
        rcgc_raw_free(before_stats);
        errno = ENOMEM;
        return -1;
    }
    /* Both sorted by key: walk them side by side. */
    size_t i = 0, j = 0, length = 0;
    while (i < now_length || j < before_length) {
        int order = i == now_length      ? 1
                    : j == before_length ? -1
                                         : compare_keys(&now_stats[i], &before_stats[j]);
        rcgc_trace_stat stat = order <= 0 ? now_stats[i] : before_stats[j];
        size_t size = order <= 0 ? now_stats[i].size : 0,
               count = order <= 0 ? now_stats[i].count : 0;
        size_t old_size = order >= 0 ? before_stats[j].size : 0;
        size_t old_count = order >= 0 ? before_stats[j].count : 0;
        stat.size = size;
        stat.count = count;
        stat.size_diff = (ptrdiff_t)size - (ptrdiff_t)old_size;
        stat.count_diff = (ptrdiff_t)count - (ptrdiff_t)old_count;
        joined[length++] = stat;
        i += order <= 0;
        j += order >= 0;
    }
    rcgc_raw_free(now_stats);
    rcgc_raw_free(before_stats);
    return deliver(joined, length, out, limit);
}

/* -------------------------------------------------------------- Printing */

/* tracemalloc's sizes: "512 B", "1.5 KiB", "120 KiB", "2.0 MiB". */
static int print_size(FILE *stream, double size, bool sign) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned unit = 0;
    while (unit < 4 && (size >= 10 * 1024 || size <= -10 * 1024)) {
        size /= 1024;
        unit++;
    }
    bool small = unit > 0 && size < 100 && size > -100;
    return fprintf(stream,
                   sign ? (small ? "%+.1f %s" : "%+.0f %s") : (small ? "%.1f %s" : "%.0f %s"), size,
                   units[unit]);
}

int rcgc_trace_print_frame(FILE *stream, const void *frame) {
    Dl_info info;
    if (dladdr(frame, &info) == 0 || info.dli_fname == NULL)
        return fprintf(stream, "%p", frame) < 0 ? -1 : 0;
    const char *object = strrchr(info.dli_fname, '/');
    object = object != NULL ? object + 1 : info.dli_fname;
    int written = info.dli_sname != NULL
                      ? fprintf(stream, "%s+0x%tx (%s)", info.dli_sname,
                                (const char *)frame - (const char *)info.dli_saddr, object)
                      : fprintf(stream, "%s+0x%tx", object,
                                (const char *)frame - (const char *)info.dli_fbase);
    return written < 0 ? -1 : 0;
}

static void print_where(FILE *stream, const rcgc_trace_stat *stat) {
    if (stat->file != NULL)
        stat->line > 0 ? fprintf(stream, "%s:%d", stat->file, stat->line)
                       : fprintf(stream, "%s", stat->file);
    else if (stat->frame_count > 0)
        rcgc_trace_print_frame(stream, stat->frames[0]);
    else
        fputs("<unknown>", stream);
}

static void print_stat(FILE *stream, const rcgc_trace_stat *stat, bool diff,
                       enum rcgc_trace_key key) {
    print_where(stream, stat);
    fputs(": size=", stream);
    print_size(stream, (double)stat->size, false);
    if (diff) {
        fputs(" (", stream);
        print_size(stream, (double)stat->size_diff, true);
        fputs(")", stream);
    }
    fprintf(stream, ", count=%zu", stat->count);
    if (diff)
        fprintf(stream, " (%+td)", stat->count_diff);
    if (stat->count > 0) {
        fputs(", average=", stream);
        print_size(stream, (double)stat->size / (double)stat->count, false);
    }
    fputc('\n', stream);
    if (key != RCGC_TRACE_BY_TRACEBACK)
        return;
    for (unsigned i = stat->file != NULL ? 0 : 1; i < stat->frame_count; i++) {
        fputs("    ", stream);
        rcgc_trace_print_frame(stream, stat->frames[i]);
        fputc('\n', stream);
    }
}

int rcgc_snapshot_print(FILE *stream, const rcgc_snapshot *now, const rcgc_snapshot *before,
                        enum rcgc_trace_key key, size_t limit) {
    rcgc_trace_stat *top = rcgc_raw_malloc((limit + 1) * sizeof *top);
    if (top == NULL) {
        errno = ENOMEM;
        return -1;
    }
    ptrdiff_t groups = before != NULL ? rcgc_snapshot_compare(now, before, key, top, limit)
                                      : rcgc_snapshot_statistics(now, key, top, limit);
    for (ptrdiff_t i = 0; i < groups && (size_t)i < limit; i++)
        print_stat(stream, &top[i], before != NULL, key);
    rcgc_raw_free(top);
    if (groups < 0)
        return -1;
    return fflush(stream) == 0 && !ferror(stream) ? 0 : -1;
}
