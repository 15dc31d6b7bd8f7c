/* tests/support/child.h - run a piece of a test in a child process.
 *
 * Death tests (a misuse that must abort with a clear report) and tests that
 * need a fresh process (options read at start, reports printed at exit) run
 * their body in a forked child and look at how it ended and what it wrote.
 */
#ifndef RCGC_TEST_CHILD_H
#define RCGC_TEST_CHILD_H

#include <stdbool.h>
#include <stddef.h>

struct child_result {
    bool exited;       /* true: ended by exit(); false: by a signal */
    int code;          /* the exit status, or the signal number */
    char output[8192]; /* what it wrote to stdout and stderr, NUL-terminated */
};

/* Fork; in the child run body(arg) with stdout and stderr sent to a pipe,
 * then exit(0) if it returns. The parent collects the output and waits. */
void child_run(void (*body)(void *arg), void *arg, struct child_result *result);

/* Run this test program again (from /proc/self/exe) with @argv1 as its only
 * argument and @env_assignment ("NAME=value", or NULL) added to its
 * environment; collects the result as child_run() does. A test program's
 * main() hands such an argument to child_mode_dispatch(). */
void child_exec_self(const char *argv1, const char *env_assignment, struct child_result *result);

/* True when the child ended by abort(): SIGABRT directly, or a sanitizer's
 * abort_on_error which also raises SIGABRT. */
bool child_aborted(const struct child_result *result);

#endif /* RCGC_TEST_CHILD_H */
