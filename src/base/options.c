/* src/base/options.c - the environment options, read once at start.
 *
 * Shared with every thread: the parsed table, written once under
 * pthread_once and read-only afterwards, so readers need no lock. getenv and
 * strtol do not allocate, so the allocator may read options while it starts.
 */
#include "base/base_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static struct rcgc_options current;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* A malformed value keeps the default and says so once: a silently ignored
 * typo in RCGC_* is the kind of surprise a tuning guide cannot explain. */
static long parse_option(const char *env, long def, long lo, long hi) {
    const char *text = getenv(env);
    if (text == NULL || *text == '\0')
        return def;
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < lo || value > hi) {
        fprintf(stderr, "rcgc: ignoring %s=%s: expected an integer in [%ld, %ld]; using %ld\n", env,
                text, lo, hi, def);
        return def;
    }
    return value;
}

static void load_options(void) {
#define RCGC_OPTION_LOAD(field, env, def, lo, hi, doc)                                             \
    current.field = parse_option(env, def, lo, hi);
    RCGC_OPTIONS(RCGC_OPTION_LOAD)
#undef RCGC_OPTION_LOAD
}

/* "Read once at start": a load-time constructor, so the exit reports work
 * even in a program that never calls into rcgc before it exits. */
__attribute__((constructor)) static void load_options_at_start(void) {
    pthread_once(&load_once, load_options);
    rcgc__environment_start();
}

const struct rcgc_options *rcgc__options(void) {
    pthread_once(&load_once, load_options);
    return &current;
}

void rcgc__options_reload_for_tests(void) {
    pthread_once(&load_once, load_options);
    load_options();
}
