/* src/debug/exit_report.c - what the environment asks for at start and at
 * exit (docs/tuning.md): RCGC_SHOW_STATS=1 prints rcgc's statistics at
 * exit; RCGC_TRACE=1 traces allocations from the start (RCGC_TRACE_FRAMES,
 * RCGC_TRACE_SAMPLE_KIB) and prints the sites still live at exit;
 * RCGC_REPORT=path writes the report file (report.c) from start to exit,
 * "%p" in the path standing for the process id.
 * So librcgc-malloc.so under LD_PRELOAD does all of it for any program.
 *
 * Shares nothing: called once by the options' load-time constructor (before
 * main, or at dlopen), it registers atexit handlers.
 */
#include "base/base_internal.h"

#include <rcgc.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Standard error as it was at start: programs close theirs at exit (GNU
 * coreutils' close_stdout does, from an atexit handler that runs before
 * ours), so the reports write to a copy of it taken at start. */
static int saved_stderr = -1;

static FILE *open_saved_stderr(void) {
    if (saved_stderr < 0)
        return NULL;
    int fd = saved_stderr;
    saved_stderr = -1; /* the stream owns it now: one report per fd */
    FILE *stream = fdopen(fd, "w");
    if (stream == NULL)
        close(fd);
    return stream;
}

static void keep_stderr(void) {
    if (saved_stderr < 0)
        saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

static void print_statistics(FILE *stream) {
    rcgc_print_gc_stats(stream);
    rcgc_print_alloc_stats(stream);
    rcgc_print_raw_stats(stream);
    rcgc_memory_accounting accounting;
    if (rcgc_memory_accounting_get(&accounting, 0) == 0)
        (void)rcgc_print_memory_accounting(stream, &accounting);
}

static void print_live_sites(FILE *stream) {
    rcgc_snapshot *snapshot = rcgc_trace_snapshot();
    if (snapshot == NULL)
        return;
    size_t current, peak;
    rcgc_trace_get_memory(&current, &peak);
    fprintf(stream, "rcgc: traced memory at exit %zu B (peak %zu B); top sites still live:\n",
            current, peak);
    (void)rcgc_snapshot_print(stream, snapshot, NULL, RCGC_TRACE_BY_LINE,
                              (size_t)rcgc__options()->trace_top);
    rcgc_snapshot_free(snapshot);
}

static void print_at_exit(void) {
    FILE *stream = open_saved_stderr();
    if (stream == NULL)
        return;
    if (rcgc__options()->trace)
        print_live_sites(stream);
    if (rcgc__options()->show_stats)
        print_statistics(stream);
    fclose(stream);
}

static void close_report(void) { (void)rcgc_report_close(); }

/* @pattern with each "%p" replaced by the process id, so the processes a
 * program starts (which inherit the environment) write reports of their
 * own; false when it does not fit. */
static bool expand_path(const char *pattern, char *path, size_t size) {
    size_t length = 0;
    for (const char *c = pattern; *c != '\0'; c++) {
        int wrote = c[0] == '%' && c[1] == 'p'
                        ? snprintf(path + length, size - length, "%ld", (long)getpid())
                        : snprintf(path + length, size - length, "%c", *c);
        if (wrote < 0 || (size_t)wrote >= size - length)
            return false;
        length += (size_t)wrote;
        c += c[0] == '%' && c[1] == 'p';
    }
    return true;
}

void rcgc__environment_start(void) {
    const struct rcgc_options *options = rcgc__options();
    if (options->trace) {
        rcgc_trace_options trace = {.frames = (unsigned)options->trace_frames,
                                    .sample_bytes = (size_t)options->trace_sample_kib << 10};
        if (rcgc_trace_start(&trace) != 0)
            fprintf(stderr, "rcgc: cannot trace allocations (RCGC_TRACE=1)\n");
    }
    if (options->show_stats || options->trace) {
        keep_stderr();
        atexit(print_at_exit);
    }
    const char *report = getenv("RCGC_REPORT");
    char path[4096];
    if (report != NULL && *report != '\0') {
        if (expand_path(report, path, sizeof path) &&
            rcgc_report_open(path, (unsigned)options->report_interval_ms) == 0)
            atexit(close_report); /* registered last, run first: while still tracing */
        else
            fprintf(stderr, "rcgc: cannot write the report RCGC_REPORT=%s\n", report);
    }
}
