/* tests/test_debug_report.c - the report file (rcgc_report_open/close):
 * complete JSON lines from start to exit, samples as time passes, the exit
 * record's figures (live objects by type, garbage, pause percentiles), a
 * file that stays usable when the process is killed, and a size bounded by
 * the doubling interval.
 */
#include "support/debug_nodes.h"

#include <rcgc.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* The report's lines, each checked to be one complete JSON object of a
 * known kind; counts of each kind through the pointers. */
static char *read_report(const char *path, int *samples, int *lines) {
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    static char text[1 << 20];
    size_t length = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[length] = '\0';
    *samples = *lines = 0;
    for (char *line = text; *line != '\0';) {
        char *end = strchr(line, '\n');
        assert_non_null(end); /* every line ends */
        assert_true(strncmp(line, "{\"kind\":\"", 9) == 0 && end[-1] == '}');
        *samples += strncmp(line, "{\"kind\":\"sample\",", 17) == 0;
        (*lines)++;
        line = end + 1;
    }
    return text;
}

/* Create the file named by the template @path (its XXXXXX filled in). */
static void make_temp_file(char *path) {
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

static unsigned long long number_after(const char *text, const char *key) {
    const char *at = strstr(text, key);
    assert_non_null(at);
    return strtoull(at + strlen(key), NULL, 10);
}

static void report_has_start_samples_and_exit(void **state) {
    (void)state;
    char path[] = "/tmp/rcgc_report_XXXXXX";
    make_temp_file(path);
    assert_int_equal(rcgc_report_open(path, 5), 0);
    assert_int_equal(rcgc_report_open(path, 5), -1);
    assert_int_equal(errno, EBUSY);
    rcgc_object *kept[123];
    for (int i = 0; i < 123; i++)
        kept[i] = holder_new(0);
    for (int i = 0; i < 3; i++)
        rcgc_collect(i);
    sleep_ms(60);
    assert_int_equal(rcgc_report_close(), 0);
    assert_int_equal(rcgc_report_close(), -1);
    int samples, lines;
    char *text = read_report(path, &samples, &lines);
    assert_int_equal(strncmp(text, "{\"kind\":\"start\",\"pid\":", 22), 0);
    assert_true(samples >= 3);
    const char *exit_line = strstr(text, "{\"kind\":\"exit\"");
    assert_non_null(exit_line);
    assert_non_null(strstr(exit_line, "{\"type\":\"holder\",\"count\":123,"));
    assert_true(number_after(exit_line, "\"pauses\":{\"count\":") >= 3);
    unsigned long long p50 = number_after(exit_line, "\"p50_ns\":");
    unsigned long long p99 = number_after(exit_line, "\"p99_ns\":");
    unsigned long long max = number_after(exit_line, "\"max_ns\":");
    assert_true(p50 > 0 && p50 <= p99 && p99 <= max);
    assert_true(number_after(exit_line, "\"uss\":") > 0);
    assert_int_equal(number_after(exit_line, "\"garbage\":"), 0);
    for (int i = 0; i < 123; i++)
        rcgc_decref(kept[i]);
    unlink(path);
}

static void killed_process_leaves_a_usable_report(void **state) {
    (void)state;
    char path[] = "/tmp/rcgc_report_XXXXXX";
    make_temp_file(path);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (rcgc_report_open(path, 2) != 0)
            _exit(1);
        for (;;)
            pause(); /* the sampler writes until the kill */
    }
    sleep_ms(100);
    assert_int_equal(kill(child, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    int samples, lines;
    (void)read_report(path, &samples, &lines);
    assert_true(samples >= 5);
    unlink(path);
}

static void interval_doubles_so_the_file_stays_bounded(void **state) {
    (void)state;
    char path[] = "/tmp/rcgc_report_XXXXXX";
    make_temp_file(path);
    /* 1 ms for 1024 samples, then 2 ms: 1.6 s make at most 1024 + 300. */
    assert_int_equal(rcgc_report_open(path, 1), 0);
    sleep_ms(1600);
    assert_int_equal(rcgc_report_close(), 0);
    int samples, lines;
    (void)read_report(path, &samples, &lines);
    assert_true(samples >= 100);
    assert_true(samples <= 1024 + 300);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_has_start_samples_and_exit),
        cmocka_unit_test(killed_process_leaves_a_usable_report),
        cmocka_unit_test(interval_doubles_so_the_file_stays_bounded),
    };
    if (rcgc_thread_attach() != 0)
        return 1;
    return cmocka_run_group_tests_name("debug_report", tests, NULL, NULL);
}
