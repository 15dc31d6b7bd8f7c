/* src/debug/memory.c - the process's memory as the kernel counts it, read
 * from /proc/self/status and, on request, /proc/self/smaps_rollup.
 *
 * Shares nothing: each call reads the files afresh with the C library's
 * stdio, so it works from any thread, attached or not.
 */
#include <rcgc/debug.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A "Name:   1234 kB" field of @line into *@bytes when @name matches. */
static void take_field(const char *line, const char *name, size_t *bytes) {
    size_t length = strlen(name);
    if (strncmp(line, name, length) != 0 || line[length] != ':')
        return;
    char *end;
    errno = 0;
    unsigned long long kib = strtoull(line + length + 1, &end, 10);
    if (errno == 0 && end != line + length + 1)
        *bytes += (size_t)kib * 1024;
}

/* Add every field of @path named in @names to the matching slot. */
static int read_fields(const char *path, const char *const *names, size_t *const *slots,
                       size_t count) {
    FILE *file = fopen(path, "re");
    if (file == NULL)
        return -1;
    char line[256];
    while (fgets(line, sizeof line, file) != NULL)
        for (size_t i = 0; i < count; i++)
            take_field(line, names[i], slots[i]);
    int failed = ferror(file);
    fclose(file);
    if (failed) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int rcgc_process_memory_get(rcgc_process_memory *out, unsigned flags) {
    *out = (rcgc_process_memory){0};
    const char *const status_names[] = {"VmRSS", "RssAnon", "VmSwap", "VmHWM"};
    size_t *const status_slots[] = {&out->rss, &out->rss_anon, &out->swap, &out->peak_rss};
    if (read_fields("/proc/self/status", status_names, status_slots, 4) != 0) {
        *out = (rcgc_process_memory){0};
        return -1;
    }
    if ((flags & RCGC_MEMORY_USS) == 0)
        return 0;
    const char *const rollup_names[] = {"Private_Clean", "Private_Dirty", "Pss"};
    size_t *const rollup_slots[] = {&out->uss, &out->uss, &out->pss};
    if (read_fields("/proc/self/smaps_rollup", rollup_names, rollup_slots, 3) != 0) {
        *out = (rcgc_process_memory){0};
        return -1;
    }
    return 0;
}
