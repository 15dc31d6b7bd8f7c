/* src/base/fatal.c - the fatal-error handler and the assert reports.
 *
 * Shared with every thread: the installed handler and its argument, kept
 * together behind one mutex so a report never pairs one handler with
 * another's argument. Reports format into a stack buffer and never allocate,
 * because the allocator reports its own misuse through here.
 */
#include "base/base_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t handler_mutex = PTHREAD_MUTEX_INITIALIZER;
static rcgc_fatal_handler installed_handler;
static void *installed_arg;

/* One line plus a newline, written with write(2): stdio may be what broke. */
static void default_handler(const char *message, void *arg) {
    (void)arg;
    char line[1100];
    int len = snprintf(line, sizeof line, "%s\n", message);
    if (len > (int)sizeof line - 1)
        len = (int)sizeof line - 1;
    if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0)
        return; /* nothing left to report to; abort() follows */
}

rcgc_fatal_handler rcgc_set_fatal_handler(rcgc_fatal_handler handler, void *arg) {
    pthread_mutex_lock(&handler_mutex);
    rcgc_fatal_handler previous = installed_handler;
    installed_handler = handler;
    installed_arg = arg;
    pthread_mutex_unlock(&handler_mutex);
    return previous;
}

RCGC_NORETURN static void report_and_abort(const char *message) {
    pthread_mutex_lock(&handler_mutex);
    rcgc_fatal_handler handler = installed_handler ? installed_handler : default_handler;
    void *arg = installed_arg;
    pthread_mutex_unlock(&handler_mutex);
    /* Called outside the mutex: a handler that longjmps must not leave it held. */
    handler(message, arg);
    abort();
}

void rcgc__fatal(const char *format, ...) {
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    report_and_abort(message);
}

void rcgc__assert_failed(const char *expr, const char *file, int line, const char *func) {
    rcgc__fatal("rcgc: internal check failed: %s at %s:%d in %s", expr, file, line, func);
}

const char *rcgc_version_string(void) { return RCGC_VERSION_STRING; }
