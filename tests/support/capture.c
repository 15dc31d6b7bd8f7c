/* tests/support/capture.c - the recording fatal-error handler. One capture
 * is active at a time; tests that use it run on one thread. */
#include "support/capture.h"

#include <stdio.h>

static void record_and_jump(const char *message, void *arg) {
    struct fatal_capture *capture = arg;
    capture->fired = true;
    snprintf(capture->message, sizeof capture->message, "%s", message);
    longjmp(capture->back, 1);
}

void fatal_capture_begin(struct fatal_capture *capture) {
    capture->fired = false;
    capture->message[0] = '\0';
    rcgc_set_fatal_handler(record_and_jump, capture);
}

void fatal_capture_end(void) { rcgc_set_fatal_handler(NULL, NULL); }
