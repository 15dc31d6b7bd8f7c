/* tests/test_base.c - what every module relies on: the fatal-error handler,
 * the assert tiers, the options read from the environment, the version, and
 * the statistics printed at exit. */
#include "base/base_internal.h"
#include "support/capture.h"
#include "support/child.h"

#include <rcgc.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ------------------------------------------------------------ Fatal errors */

static void fatal_handler_receives_the_formatted_line(void **state) {
    (void)state;
    struct fatal_capture capture;
    void *where = (void *)(uintptr_t)0x7f3a1c0400a0u;
    RUN_CAPTURING_FATAL(&capture, rcgc__fatal("rcgc: double free of %p (size class %d) in %s",
                                              where, 5, "rcgc_free"));
    assert_true(capture.fired);
    assert_string_equal(capture.message,
                        "rcgc: double free of 0x7f3a1c0400a0 (size class 5) in rcgc_free");
}

static void noop_handler(const char *message, void *arg) {
    (void)message;
    (void)arg;
}

static void set_fatal_handler_returns_the_previous_one(void **state) {
    (void)state;
    assert_null(rcgc_set_fatal_handler(noop_handler, NULL));
    assert_ptr_equal(rcgc_set_fatal_handler(NULL, NULL), noop_handler);
}

static void report_with_default_handler(void *arg) {
    (void)arg;
    rcgc__fatal("rcgc: refcount below zero on <%s %p> in rcgc_decref", "Graph",
                (void *)(uintptr_t)0x1000);
}

static void fatal_default_handler_prints_one_line_and_aborts(void **state) {
    (void)state;
    struct child_result result;
    child_run(report_with_default_handler, NULL, &result);
    assert_true(child_aborted(&result));
    assert_non_null(
        strstr(result.output, "rcgc: refcount below zero on <Graph 0x1000> in rcgc_decref\n"));
}

static void report_with_returning_handler(void *arg) {
    (void)arg;
    rcgc_set_fatal_handler(noop_handler, NULL);
    rcgc__fatal("rcgc: handler returned");
}

static void fatal_handler_that_returns_still_aborts(void **state) {
    (void)state;
    struct child_result result;
    child_run(report_with_returning_handler, NULL, &result);
    assert_true(child_aborted(&result));
}

static void fatal_message_longer_than_the_buffer_is_truncated_not_overflowed(void **state) {
    (void)state;
    char long_name[4000];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    struct fatal_capture capture;
    RUN_CAPTURING_FATAL(&capture, rcgc__fatal("rcgc: bad type %s", long_name));
    assert_true(capture.fired);
    assert_int_equal(strncmp(capture.message, "rcgc: bad type xxxx", 19), 0);
    assert_true(strlen(capture.message) < sizeof capture.message);
}

/* --------------------------------------------------------------- Asserts */

static void assert_tiers_follow_rcgc_checks(void **state) {
    (void)state;
    struct fatal_capture capture;
    volatile int evaluated = 0;
    RUN_CAPTURING_FATAL(&capture, rcgc_assert(++evaluated == 0));
    assert_int_equal(capture.fired, RCGC_CHECKS >= 1);
    assert_int_equal(evaluated, RCGC_CHECKS >= 1 ? 1 : 0); /* off: not even evaluated */
    if (capture.fired)
        assert_non_null(strstr(capture.message, "rcgc: internal check failed: ++evaluated == 0"));
    RUN_CAPTURING_FATAL(&capture, rcgc_assert_internal(evaluated < 0));
    assert_int_equal(capture.fired, RCGC_CHECKS >= 2);
    RUN_CAPTURING_FATAL(&capture, rcgc_assert_expensive(evaluated < 0));
    assert_int_equal(capture.fired, RCGC_CHECKS >= 3);
}

/* ---------------------------------------------------------------- Options */

static void options_default_when_unset(void **state) {
    (void)state;
    unsetenv("RCGC_SHOW_STATS");
    unsetenv("RCGC_HUGE_PAGES");
    rcgc__options_reload_for_tests();
    assert_int_equal(rcgc__options()->show_stats, 0);
    assert_int_equal(rcgc__options()->huge_pages, 0);
}

static void options_read_valid_values_from_the_environment(void **state) {
    (void)state;
    setenv("RCGC_HUGE_PAGES", "1", 1);
    rcgc__options_reload_for_tests();
    assert_int_equal(rcgc__options()->huge_pages, 1);
    unsetenv("RCGC_HUGE_PAGES");
    rcgc__options_reload_for_tests();
}

static void reload_with_bad_value(void *arg) {
    setenv("RCGC_HUGE_PAGES", arg, 1);
    rcgc__options_reload_for_tests();
    printf("huge_pages=%ld\n", rcgc__options()->huge_pages);
}

static void options_reject_malformed_values_with_a_message(void **state) {
    (void)state;
    const char *bad[] = {"2", "-1", "yes", "1x", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct child_result result;
        child_run(reload_with_bad_value, (void *)(uintptr_t)bad[i], &result);
        assert_true(result.exited && result.code == 0);
        assert_non_null(strstr(result.output, "rcgc: ignoring RCGC_HUGE_PAGES="));
        assert_non_null(strstr(result.output, "huge_pages=0"));
    }
}

/* ---------------------------------------------------------------- Version */

static void version_of_library_matches_headers(void **state) {
    (void)state;
    assert_string_equal(rcgc_version_string(), RCGC_VERSION_STRING);
    assert_int_equal(RCGC_VERSION,
                     RCGC_VERSION_MAJOR * 10000 + RCGC_VERSION_MINOR * 100 + RCGC_VERSION_PATCH);
}

/* ----------------------------------------------------------- Exit report */

static void show_stats_prints_allocator_and_raw_reports_at_exit(void **state) {
    (void)state;
    struct child_result result;
    child_exec_self("--exit-quietly", "RCGC_SHOW_STATS=1", &result);
    assert_true(result.exited && result.code == 0);
    assert_non_null(strstr(result.output, "rcgc raw layer"));
    assert_non_null(strstr(result.output, "bytes_mapped"));
    assert_non_null(
        strstr(result.output, "class   size   num pools   blocks in use  avail blocks"));

    child_exec_self("--exit-quietly", "RCGC_SHOW_STATS=0", &result);
    assert_true(result.exited && result.code == 0);
    assert_null(strstr(result.output, "rcgc raw layer"));
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--exit-quietly") == 0)
        return 0; /* the child of show_stats_prints_allocator_and_raw_reports_at_exit */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fatal_handler_receives_the_formatted_line),
        cmocka_unit_test(set_fatal_handler_returns_the_previous_one),
        cmocka_unit_test(fatal_default_handler_prints_one_line_and_aborts),
        cmocka_unit_test(fatal_handler_that_returns_still_aborts),
        cmocka_unit_test(fatal_message_longer_than_the_buffer_is_truncated_not_overflowed),
        cmocka_unit_test(assert_tiers_follow_rcgc_checks),
        cmocka_unit_test(options_default_when_unset),
        cmocka_unit_test(options_read_valid_values_from_the_environment),
        cmocka_unit_test(options_reject_malformed_values_with_a_message),
        cmocka_unit_test(version_of_library_matches_headers),
        cmocka_unit_test(show_stats_prints_allocator_and_raw_reports_at_exit),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
