/* bench/runner/compare.h - what compare's files share: one allocator's record
 * (struct impl), the result unit fixed by the first good run, and the
 * report functions of compare_report.c.
 *
 * Thread model: compare is single-threaded; these records live in main().
 *
 * Usage (from compare.c, after every run):
 *     bench_stats_summarize(m->values, m->runs_done, &m->value);
 *     compare_report_table(impls, count, base, &unit);
 *     compare_report_csv("bench.csv", "bench/malloc_mix", impls, count, base);
 */
#ifndef RCGC_BENCH_COMPARE_H
#define RCGC_BENCH_COMPARE_H

#include "bench_stats.h"
#include "compare_child.h"

#include <stdbool.h>
#include <stddef.h>

#define MAX_IMPLS 6

enum impl_state {
    IMPL_RUNNING, /* library found and every run so far gave a result */
    IMPL_SKIPPED, /* library not found: never run, left out of the table */
    IMPL_FAILED,  /* a run failed: not run again; its row says why */
};

struct impl {
    const char *name;
    const char *soname;       /* NULL: glibc, no LD_PRELOAD */
    double *values, *rss_mib; /* --runs slots each, one malloc; runs_done filled */
    enum impl_state state;
    int runs_done;
    struct bench_summary value, rss; /* of values and rss_mib, once all ran */
    char path[4096];                 /* the library for LD_PRELOAD */
    struct child_report failure;     /* the run that failed, when FAILED */
};

/* What the first good run fixed and every later run must match. */
struct unit {
    bool known;
    bool lower_is_better;
    char name[32];
};

/**
 * compare_report_table - Print the table rows to stdout, header line aside.
 * @impls: the allocators in --allocators order; skipped ones are left out.
 * @count: entries in @impls.
 * @base: the row every ratio divides by, or NULL when none ran to the end.
 * @unit: the result unit and direction (unit->known is false when no run
 *        succeeded).
 *
 * The baseline row comes first; a failed row shows its reason and the
 * child's last output lines instead of numbers.
 */
void compare_report_table(const struct impl *impls, int count, const struct impl *base,
                          const struct unit *unit);

/**
 * compare_report_csv - Append one line per allocator with results to @path.
 * @path: the CSV file; created with a header line when new or empty.
 * @bench: the benchmark's name (--title or the command), quoted as needed.
 * @impls, @count: as for compare_report_table().
 * @base: the baseline; not NULL.
 *
 * Columns: benchmark,impl,median,p25,p75,ratio,rss_mib.
 * Returns 0, or -1 after printing why the file could not be written.
 */
int compare_report_csv(const char *path, const char *bench, const struct impl *impls, int count,
                       const struct impl *base);

#endif /* RCGC_BENCH_COMPARE_H */
