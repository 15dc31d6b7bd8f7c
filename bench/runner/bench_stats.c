/* bench/runner/bench_stats.c - median and quartiles of benchmark samples.
 *
 * Owns nothing beyond the caller's arrays and shares nothing between threads.
 * Samples are few (one per run, usually 5 to 20), so an insertion sort beats
 * qsort's per-comparison indirect call and needs no comparator function.
 */
#include "bench_stats.h"

#include <stdio.h>

void bench_stats_sort(double *values, size_t count) {
    for (size_t i = 1; i < count; i++) {
        double v = values[i];
        size_t j = i;
        while (j > 0 && values[j - 1] > v) {
            values[j] = values[j - 1];
            j--;
        }
        values[j] = v;
    }
}

double bench_stats_quantile(const double *sorted, size_t count, double q) {
    if (count == 1 || q <= 0.0)
        return sorted[0];
    if (q >= 1.0)
        return sorted[count - 1];
    double rank = q * (double)(count - 1);
    size_t lo = (size_t)rank;
    double frac = rank - (double)lo;
    if (lo + 1 >= count)
        return sorted[count - 1];
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

void bench_stats_summarize(double *values, size_t count, struct bench_summary *out) {
    bench_stats_sort(values, count);
    out->median = bench_stats_quantile(values, count, 0.50);
    out->p25 = bench_stats_quantile(values, count, 0.25);
    out->p75 = bench_stats_quantile(values, count, 0.75);
}

void bench_format_number(char *buf, size_t size, double v) {
    double a = v < 0 ? -v : v;
    if (a >= 100)
        snprintf(buf, size, "%.0f", v);
    else if (a >= 10)
        snprintf(buf, size, "%.1f", v);
    else if (a >= 1)
        snprintf(buf, size, "%.2f", v);
    else
        snprintf(buf, size, "%.3g", v);
}
