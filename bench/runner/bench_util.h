/* bench/runner/bench_util.h - what every rcgc benchmark binary needs: a clock, a
 * seeded PRNG, integer flags, and the one result line that compare reads.
 *
 * Header-only (static inline) so a benchmark is one .c file with no library
 * to link. Needs _POSIX_C_SOURCE >= 199309L for clock_gettime; the targets
 * in bench/CMakeLists.txt define _GNU_SOURCE.
 * Thread model: the clock and the option parser may be used from any thread;
 * a struct bench_rng belongs to one thread (give each thread its own seed).
 *
 * Usage:
 *     long long ops = 1000000, seed = 1;
 *     for (int i = 1; i < argc; i++)
 *         if (!bench_opt_int(argc, argv, &i, "--ops", 1, LLONG_MAX, &ops) &&
 *             !bench_opt_int(argc, argv, &i, "--seed", 0, LLONG_MAX, &seed))
 *             bench_usage_error(argv[0], argv[i]);
 *     uint64_t t0 = bench_now_ns();  ...work...
 *     bench_result((double)(bench_now_ns() - t0) / (double)ops, "ns/op", true);
 */
#ifndef RCGC_BENCH_UTIL_H
#define RCGC_BENCH_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CLOCK_MONOTONIC, not CLOCK_MONOTONIC_RAW: both are vDSO calls of about
 * 20 ns, but only MONOTONIC is slewed by NTP to real seconds, and a
 * benchmark reports real nanoseconds. */
static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64 (Steele, Lea, Flood 2014): one add, two multiplies, three
 * shifts per number, passes BigCrush, and any seed, 0 included, is fine,
 * unlike xorshift whose all-zero state is stuck. Cheap matters: its cost is
 * inside every measured operation, the same for every allocator. */
struct bench_rng {
    uint64_t state;
};

static inline void bench_rng_seed(struct bench_rng *rng, uint64_t seed) { rng->state = seed; }

static inline uint64_t bench_rng_next(struct bench_rng *rng) {
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* A number in [0, bound) for bound <= 2^32, by Lemire's multiply-shift:
 * no division, and a bias below bound / 2^32, invisible in a benchmark. */
static inline uint32_t bench_rng_below(struct bench_rng *rng, uint32_t bound) {
    return (uint32_t)(((bench_rng_next(rng) >> 32) * (uint64_t)bound) >> 32);
}

/* The protocol line (bench/README.md): exactly one per run, on stdout.
 * Flushed at once so that a crash during teardown cannot lose it. */
static inline void bench_result(double value, const char *unit, bool lower_is_better) {
    printf("bench-result %.9g %s %s\n", value, unit, lower_is_better ? "lower" : "higher");
    fflush(stdout);
}

/* Exit status 2, like getopt-based tools, so compare reports a usage error
 * as "failed (exit 2)" rather than as a slow allocator. */
static inline void bench_usage_error(const char *prog, const char *arg) {
    fprintf(stderr, "%s: unknown or incomplete option '%s'\n", prog, arg ? arg : "");
    exit(2);
}

/* If argv[*i] is @name, parse argv[*i + 1] into @value, step *i past it and
 * return true; otherwise return false. A missing, malformed or out-of-range
 * value exits with status 2, naming the flag and the range. */
static inline bool bench_opt_int(int argc, char **argv, int *i, const char *name, long long min,
                                 long long max, long long *value) {
    if (strcmp(argv[*i], name) != 0)
        return false;
    const char *text = *i + 1 < argc ? argv[*i + 1] : "";
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: %s wants an integer in [%lld, %lld], got '%s'\n", argv[0], name, min,
                max, text);
        exit(2);
    }
    *value = v;
    *i += 1;
    return true;
}

#endif /* RCGC_BENCH_UTIL_H */
