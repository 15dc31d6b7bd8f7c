/* src/base/base_internal.h - what every rcgc source file shares internally.
 *
 * Owned by nobody: macros, the check tiers, fatal reporting and the options
 * table. Shared: the options (written once under pthread_once, read-only
 * after) and the fatal handler (behind a mutex in fatal.c).
 *
 * Check tiers, chosen at build time by RCGC_CHECKS (CMake cache variable):
 *   0  release: only the always-on misuse checks (rcgc__fatal call sites)
 *   1  rcgc_assert: cheap preconditions of public calls
 *   2  rcgc_assert_internal: internal invariants and their checkers
 *   3  rcgc_assert_expensive: whole-heap walks
 */
#ifndef RCGC_BASE_INTERNAL_H
#define RCGC_BASE_INTERNAL_H

#include <rcgc/common.h>

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifndef RCGC_CHECKS
#define RCGC_CHECKS 0
#endif

#define RCGC_NOINLINE __attribute__((noinline))
#define RCGC_COLD __attribute__((cold))
#define RCGC_NORETURN _Noreturn

/* ------------------------------------------------------------ Fatal reports */

/* Format one line and hand it to the fatal handler; abort if the handler
 * returns. Formats into a stack buffer: never allocates, so the allocator
 * itself may report through it. */
RCGC_NORETURN RCGC_COLD RCGC_PRINTF_LIKE(1, 2) void rcgc__fatal(const char *format, ...);

/* Shared by the three assert tiers: reports file, line and the expression. */
RCGC_NORETURN RCGC_COLD void rcgc__assert_failed(const char *expr, const char *file, int line,
                                                 const char *func);

#define RCGC_ASSERT_ALWAYS(cond)                                                                   \
    ((void)(RCGC_LIKELY(cond) ? 0 : (rcgc__assert_failed(#cond, __FILE__, __LINE__, __func__), 0)))

/* A disabled check still names its expression inside sizeof, which does
 * not evaluate it: no cost, but no unused-variable warnings in release. */
#define RCGC_ASSERT_NEVER(cond) ((void)sizeof(!(cond)))

#if RCGC_CHECKS >= 1
#define rcgc_assert(cond) RCGC_ASSERT_ALWAYS(cond)
#else
#define rcgc_assert(cond) RCGC_ASSERT_NEVER(cond)
#endif

#if RCGC_CHECKS >= 2
#define rcgc_assert_internal(cond) RCGC_ASSERT_ALWAYS(cond)
#else
#define rcgc_assert_internal(cond) RCGC_ASSERT_NEVER(cond)
#endif

#if RCGC_CHECKS >= 3
#define rcgc_assert_expensive(cond) RCGC_ASSERT_ALWAYS(cond)
#else
#define rcgc_assert_expensive(cond) RCGC_ASSERT_NEVER(cond)
#endif

/* ------------------------------------------------------------- Failures */

/* Set errno and return NULL: how every allocating call in rcgc fails. */
static inline void *rcgc__fail(int error) {
    errno = error;
    return NULL;
}

/* -------------------------------------------------------------------- Clock */

/* Monotonic nanoseconds: pauses, polling budgets, statistics. */
static inline uint64_t rcgc__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A spin-wait's pause: lets the other hyperthread run and saves power. */
static inline void rcgc__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

/* ------------------------------------------------------------------ Options */

/* The options table: field, environment variable, default, minimum, maximum,
 * meaning. Read once, at the first rcgc__options() call; docs/tuning.md quotes
 * the same strings. Integer options only; a value outside [min, max] or not a
 * number is reported on stderr and the default is kept. */
#define RCGC_OPTIONS(X)                                                                            \
    X(show_stats, "RCGC_SHOW_STATS", 0, 0, 1, "print rcgc's statistics to stderr at exit")         \
    X(decommit_lazy, "RCGC_DECOMMIT_LAZY", 0, 0, 1,                                                \
      "decommit with MADV_FREE (lazy) instead of MADV_DONTNEED (RSS drops at once)")               \
    X(huge_pages, "RCGC_HUGE_PAGES", 0, 0, 1,                                                      \
      "ask for transparent huge pages on arena-sized mappings")                                    \
    X(arena_retain_kib, "RCGC_ARENA_RETAIN_KIB", 64, 0, 1048576,                                   \
      "free slices kept committed across all arenas before decommitting, KiB")                     \
    X(arena_retain_pct, "RCGC_ARENA_RETAIN_PCT", 200, 0, 10000,                                    \
      "free slices kept committed, as a percentage of the slices in use (when above the KiB "      \
      "floor)")                                                                                    \
    X(trace, "RCGC_TRACE", 0, 0, 1,                                                                \
      "trace allocations from the start and print the top sites still live at exit")               \
    X(trace_frames, "RCGC_TRACE_FRAMES", 1, 0, 16, "call-stack frames kept per traced allocation") \
    X(trace_sample_kib, "RCGC_TRACE_SAMPLE_KIB", 0, 0, 1048576,                                    \
      "trace one allocation per this many KiB on average (0: every allocation)")                   \
    X(trace_top, "RCGC_TRACE_TOP", 10, 1, 1000, "allocation sites printed at exit")                \
    X(gc_increment_us, "RCGC_GC_INCREMENT_US", 1000, 0, 1000000,                                   \
      "incremental full collections: microseconds of work per stop (0: the least)")                \
    X(gc_old_growth_pct, "RCGC_GC_OLD_GROWTH_PCT", 25, 10, 100,                                    \
      "incremental full collections: growth of generation 2, in percent of what a collection "     \
      "started with, by which it must end")                                                        \
    X(report_interval_ms, "RCGC_REPORT_INTERVAL_MS", 100, 1, 3600000,                              \
      "RCGC_REPORT: milliseconds between memory samples (doubling every 1024 samples)")

struct rcgc_options {
#define RCGC_OPTION_FIELD(field, env, def, lo, hi, doc) long field;
    RCGC_OPTIONS(RCGC_OPTION_FIELD)
#undef RCGC_OPTION_FIELD
};

/* The options, read from the environment on the first call. */
const struct rcgc_options *rcgc__options(void);

/* Start what the environment asks for at start and exit (RCGC_SHOW_STATS,
 * RCGC_TRACE, RCGC_REPORT; src/debug/exit_report.c), from the options'
 * load-time constructor, which also keeps that file in a static link. */
void rcgc__environment_start(void);

/* Re-read the environment; for tests that set a variable after start. Not
 * safe while other threads run rcgc code. */
void rcgc__options_reload_for_tests(void);

/* Built with ThreadSanitizer: the modules that wrap uninstrumented
 * libraries mark their happens-before edges by hand (DESIGN principle 4). */
#if defined(__SANITIZE_THREAD__)
#define RCGC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RCGC_TSAN 1
#endif
#endif
#ifndef RCGC_TSAN
#define RCGC_TSAN 0
#endif

#endif /* RCGC_BASE_INTERNAL_H */
