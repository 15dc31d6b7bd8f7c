/* stress/stress_common.h - the template every stress program follows.
 *
 * A stress program runs N threads for a bounded number of seconds from a
 * printed seed, checks what it built (checksums, counters) as it goes and at
 * the end, and exits non-zero on the first corruption it detects. Options:
 *   --seconds S   run time (default 2)
 *   --threads N   worker threads (default 4)
 *   --seed X      base seed (default: from the clock); thread i uses X + i
 *   --mode NAME   a workload the program offers besides its default mix
 *                 (one that aims at one interleaving; see each program)
 * A failure prints the seed and the command line that replays it. The same seed replays the same per-thread choices; thread interleaving, and
 * so the exact outcome, still depends on the scheduler.
 */
#ifndef RCGC_STRESS_COMMON_H
#define RCGC_STRESS_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct stress_options {
    double seconds;
    unsigned threads;
    uint64_t seed;
    const char *mode; /* "mixed" unless --mode named another */
};

/* Parse argv (exits with usage on error) and print the settings line.
 * @modes: the names --mode accepts besides "mixed", NULL-terminated; NULL
 * when the program has no other workload. */
struct stress_options stress_parse(int argc, char **argv, const char *program,
                                   const char *const *modes);

/* True until the deadline passes or a failure has been reported. */
bool stress_running(void);

/* Report a corruption: prints one line (with the seed) and makes
 * stress_running() false everywhere; the program then exits non-zero. */
void stress_fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Run worker(thread_index, seed + thread_index, arg) on every thread until
 * the deadline, then join them. */
void stress_run(const struct stress_options *options,
                void (*worker)(unsigned index, uint64_t seed, void *arg), void *arg);

/* 0 when nothing failed, 1 otherwise; prints the verdict line. */
int stress_finish(const char *program);

/* splitmix64: small, fast, and good enough to choose sizes and actions. */
static inline uint64_t stress_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static inline uint64_t stress_below(uint64_t *state, uint64_t bound) {
    return stress_next(state) % bound;
}

#endif /* RCGC_STRESS_COMMON_H */
