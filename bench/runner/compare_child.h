/* bench/runner/compare_child.h - run one benchmark process under one allocator.
 *
 * Purpose: compare's process layer. It starts the benchmark with LD_PRELOAD
 * naming the allocator, reads its stdout and stderr, finds the one
 * `bench-result <value> <unit> <lower|higher>` line, and reports the exit
 * status, the peak RSS and the last output lines for a failure message.
 * Thread model: one caller thread; uses no global state besides `environ`.
 *
 * Usage:
 *     char *argv[] = {"./malloc_mix", "--live", "10000", NULL};
 *     struct child_report rep;
 *     compare_child_run(argv, "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", &rep);
 *     if (rep.ok) printf("%g %s, %.1f MiB\n", rep.value, rep.unit, rep.peak_rss_mib);
 *     else printf("failed (%s)\n", rep.failure);
 */
#ifndef RCGC_BENCH_COMPARE_CHILD_H
#define RCGC_BENCH_COMPARE_CHILD_H

#include <stdbool.h>

#define CHILD_TAIL_LINES 8 /* output lines kept to explain a failure */
#define CHILD_LINE_MAX 200 /* longer lines are cut; a result line is ~40 */

/* What one child run produced. `ok` holds when the child exited 0, did not
 * have its LD_PRELOAD refused, and printed exactly one well-formed result
 * line; then value, unit and lower_is_better are that line's fields. */
struct child_report {
    bool ok;
    double value;
    char unit[32];
    bool lower_is_better;
    int exit_status;     /* 0-255; -1 when killed or never started */
    double peak_rss_mib; /* wait4's ru_maxrss; 0 when never started */
    char failure[160];   /* why not ok: "exit 1", "signal 11, Segmentation fault", ... */
    char first_line[CHILD_LINE_MAX]; /* first stdout line, for one-line commands */
    int tail_count;                  /* lines in tail, oldest first */
    char tail[CHILD_TAIL_LINES][CHILD_LINE_MAX];
};

/**
 * compare_child_run - Run @argv to completion and fill @out.
 * @argv: the command, NULL-terminated; argv[0] is searched in PATH when it
 *        has no slash.
 * @preload: the library for LD_PRELOAD, or NULL to run with no LD_PRELOAD
 *           at all (any LD_PRELOAD in compare's own environment is dropped).
 * @out: receives the report; fully overwritten.
 *
 * stdin is /dev/null; stdout and stderr are captured, never shown directly.
 * A command that cannot be started gives ok = false and a failure message.
 * Cost: blocks until the child exits.
 */
void compare_child_run(char *const argv[], const char *preload, struct child_report *out);

#endif /* RCGC_BENCH_COMPARE_CHILD_H */
