/* bench/runner/bench_stats.h - order statistics for benchmark samples.
 *
 * Purpose: the median and quartiles that every rcgc benchmark table reports
 * (bench/README.md), in one place so that the out-of-process runner
 * (compare) and in-process benchmarks compute the spread the same way.
 * Thread model: pure functions on caller-owned arrays; any thread.
 *
 * Usage:
 *     double ns[5] = {11.9, 11.5, 12.0, 11.7, 11.6};
 *     struct bench_summary s;
 *     bench_stats_summarize(ns, 5, &s);     // sorts ns in place
 *     printf("%.1f (%.1f-%.1f)\n", s.median, s.p25, s.p75);
 */
#ifndef RCGC_BENCH_STATS_H
#define RCGC_BENCH_STATS_H

#include <stddef.h>

/* The three numbers a table row shows. */
struct bench_summary {
    double median;
    double p25;
    double p75;
};

/**
 * bench_stats_sort - Sort @count doubles ascending, in place.
 * @values: the samples; NaN is not allowed.
 * @count: number of samples; 0 is allowed.
 */
void bench_stats_sort(double *values, size_t count);

/**
 * bench_stats_quantile - Return the @q quantile of sorted samples.
 * @sorted: samples sorted ascending, as bench_stats_sort() leaves them.
 * @count: number of samples; at least 1.
 * @q: the quantile, 0.0 to 1.0 (0.5 is the median).
 *
 * Interpolates linearly between the two nearest ranks (Hyndman and Fan's
 * type 7, the default of R and numpy), so five samples give p25 = the 2nd,
 * the median = the 3rd and p75 = the 4th smallest.
 */
double bench_stats_quantile(const double *sorted, size_t count, double q);

/**
 * bench_stats_summarize - Sort @values and fill @out with median, p25, p75.
 * @values: the samples; sorted in place.
 * @count: number of samples; at least 1.
 * @out: receives the summary.
 */
void bench_stats_summarize(double *values, size_t count, struct bench_summary *out);

/* A figure with three significant digits, as every table shows them:
 * 11.7, 2.78, 325. Every benchmark's table uses it. */
void bench_format_number(char *buf, size_t size, double v);

#endif /* RCGC_BENCH_STATS_H */
