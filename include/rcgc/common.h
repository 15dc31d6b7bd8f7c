/* rcgc/common.h - definitions every rcgc module shares.
 *
 * Purpose: the export macro, branch hints, the library version, and the
 * fatal-error handler through which rcgc reports misuse (invalid frees,
 * negative refcounts, unattached threads) and broken invariants.
 * Thread model: every function here may be called from any thread, attached
 * or not, before or after any other rcgc call.
 *
 * Usage:
 *     static void on_fatal(const char *message, void *arg) {
 *         log_to_host(arg, message);      // then longjmp, or return to abort
 *     }
 *     rcgc_set_fatal_handler(on_fatal, host_log);
 *     printf("rcgc %s\n", rcgc_version_string());
 */
#ifndef RCGC_COMMON_H
#define RCGC_COMMON_H

#include <rcgc/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- Macros */

/* RCGC_API marks the public symbols. The library is built with hidden
 * visibility, so everything without this mark stays out of the shared
 * library's dynamic symbol table (checked by tests/check_exports.sh). */
#if defined(__GNUC__) || defined(__clang__)
#define RCGC_API __attribute__((visibility("default")))
#define RCGC_LIKELY(cond) __builtin_expect(!!(cond), 1)
#define RCGC_UNLIKELY(cond) __builtin_expect(!!(cond), 0)
#define RCGC_NODISCARD __attribute__((warn_unused_result))
#define RCGC_MALLOC_LIKE __attribute__((malloc))
#define RCGC_PRINTF_LIKE(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define RCGC_API
#define RCGC_LIKELY(cond) (cond)
#define RCGC_UNLIKELY(cond) (cond)
#define RCGC_NODISCARD
#define RCGC_MALLOC_LIKE
#define RCGC_PRINTF_LIKE(fmt, first)
#endif

/* ------------------------------------------------------------- Version */

/**
 * rcgc_version_string - Return the version of the library actually loaded.
 *
 * Returns a static string such as "0.1.0". Compare it with RCGC_VERSION_STRING
 * (the headers compiled against) to detect a mismatched shared library.
 * Thread safety: any thread. Cost: none.
 */
RCGC_API const char *rcgc_version_string(void);

/* ------------------------------------------------------------ Fatal errors */

/**
 * rcgc_fatal_handler - A host's receiver for fatal reports.
 * @message: one line, without a trailing newline, naming what happened and
 *           where, e.g. "rcgc: double free of 0x7f3a1c0400a0 (size class 5,
 *           48 B) in rcgc_free". Valid only during the call.
 * @arg: the pointer given to rcgc_set_fatal_handler().
 *
 * The handler may log, then either longjmp() out (tests do this) or return;
 * when it returns, rcgc calls abort(). It must not call back into rcgc's
 * allocator: the report may come from inside it.
 *
 * What is reported this way: misuse (freeing a pointer rcgc does not own,
 * a double free, an interior pointer; a count taken below zero or changed
 * on a dead object; objects touched from a thread that is not attached)
 * and broken internal invariants (checked builds check more of them).
 * Running out of memory never is: calls that allocate fail with NULL or -1
 * and errno = ENOMEM, and the calls that cannot fail (rcgc_free,
 * rcgc_decref) never need memory.
 */
typedef void (*rcgc_fatal_handler)(const char *message, void *arg);

/**
 * rcgc_set_fatal_handler - Install the handler for fatal reports.
 * @handler: the new handler, or NULL to restore the default (print the line
 *           to stderr, then abort()).
 * @arg: passed unchanged to @handler.
 *
 * Returns the handler that was installed before, so a caller can restore it.
 * Thread safety: any thread; a report that races with the change sees either
 *   the old or the new handler with its own argument, never a mix.
 * Cost: takes a mutex; never allocates.
 */
RCGC_API rcgc_fatal_handler rcgc_set_fatal_handler(rcgc_fatal_handler handler, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_COMMON_H */
